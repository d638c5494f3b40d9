/* bech32.c - BIP 173 bech32 for age keys (8-bit data in 5-bit groups).
 * The 5-bit scratch may hold a secret key: it is wiped on every path. */
#include "crypto/age.h"

#include <sodium.h>
#include <string.h>

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, unsigned v)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa,
                                    0x3d4233dd, 0x2a1462b3};
    uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1)
            chk ^= gen[i];
    return chk;
}

static uint32_t hrp_polymod(const char *hrp, size_t n)
{
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (unsigned char)hrp[i] >> 5);
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (unsigned char)hrp[i] & 31);
    return chk;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int coffer_bech32_encode(const char *hrp, const uint8_t *data, size_t len,
                         char *out, size_t outsize)
{
    if (!hrp || !out || (!data && len))
        return COFFER_EINVAL;
    size_t hl = strlen(hrp);
    if (hl == 0)
        return COFFER_EINVAL;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)hrp[i];
        if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z'))
            return COFFER_EINVAL;
    }
    size_t groups = (len * 8 + 4) / 5;
    if (len > SIZE_MAX / 16 || outsize < hl + 1 + groups + 6 + 1)
        return COFFER_EINVAL;

    memcpy(out, hrp, hl);
    out[hl] = '1';
    char *p = out + hl + 1;
    uint32_t chk = hrp_polymod(hrp, hl);
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = ((acc << 8) | data[i]) & 0xfff;
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            unsigned v = (acc >> bits) & 31;
            chk = polymod_step(chk, v);
            *p++ = charset[v];
        }
    }
    if (bits) {
        unsigned v = (acc << (5 - bits)) & 31;
        chk = polymod_step(chk, v);
        *p++ = charset[v];
    }
    sodium_memzero(&acc, sizeof acc);
    for (int i = 0; i < 6; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < 6; i++)
        *p++ = charset[(chk >> (5 * (5 - i))) & 31];
    *p = '\0';
    sodium_memzero(&chk, sizeof chk);
    return 0;
}

int coffer_bech32_decode(const char *s, size_t n, char *hrp, size_t hrpsize,
                         uint8_t *data, size_t cap, size_t *len)
{
    if (!s || !hrp || !len || (!data && cap))
        return COFFER_EINVAL;
    *len = 0;
    int has_lower = 0, has_upper = 0;
    size_t sep = 0;
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return COFFER_EINVAL;
        has_lower |= c >= 'a' && c <= 'z';
        has_upper |= c >= 'A' && c <= 'Z';
        if (c == '1') {
            sep = i;
            found = 1;
        }
    }
    if (has_lower && has_upper)
        return COFFER_EINVAL;
    if (!found || sep == 0 || n - sep - 1 < 6 || sep + 1 > hrpsize)
        return COFFER_EINVAL;

    for (size_t i = 0; i < sep; i++)
        hrp[i] = (char)lower((unsigned char)s[i]);
    hrp[sep] = '\0';

    uint32_t chk = hrp_polymod(hrp, sep);
    size_t ndata = n - sep - 1 - 6;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t w = 0;
    int rc = 0;
    for (size_t i = sep + 1; i < n; i++) {
        const char *q = memchr(charset, lower((unsigned char)s[i]), 32);
        if (!q) {
            rc = COFFER_EINVAL;
            break;
        }
        unsigned v = (unsigned)(q - charset);
        chk = polymod_step(chk, v);
        if (i - sep - 1 >= ndata)
            continue; /* checksum characters */
        acc = ((acc << 5) | v) & 0x1fff;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (w >= cap) {
                rc = COFFER_EINVAL;
                break;
            }
            data[w++] = (uint8_t)(acc >> bits);
        }
    }
    /* Padding: fewer than 5 bits left over, all zero. */
    if (rc == 0 && (chk != 1 || bits >= 5 || (acc & ((1u << bits) - 1))))
        rc = COFFER_EINVAL;
    /* both follow the data, which may be a secret key */
    sodium_memzero(&acc, sizeof acc);
    sodium_memzero(&chk, sizeof chk);
    if (rc) {
        if (data)
            sodium_memzero(data, w);
        hrp[0] = '\0';
        return rc;
    }
    *len = w;
    return 0;
}
