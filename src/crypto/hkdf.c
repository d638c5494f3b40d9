/* hkdf.c - RFC 5869 HKDF-SHA256 on libsodium's HMAC-SHA256 (libsodium
 * 1.0.18 has no HKDF). PRK and every T(i) are wiped before return. */
#include "crypto/age.h"

#include <sodium.h>
#include <string.h>

int coffer_hkdf_sha256(uint8_t *out, size_t outlen, const uint8_t *salt,
                       size_t saltlen, const uint8_t *ikm, size_t ikmlen,
                       const uint8_t *info, size_t infolen)
{
    enum { HASH = crypto_auth_hmacsha256_BYTES };
    if ((!out && outlen) || outlen > 255 * HASH || (!salt && saltlen) ||
        (!ikm && ikmlen) || (!info && infolen))
        return COFFER_EINVAL;

    /* Extract: an empty salt is HashLen zeros (RFC 5869 2.2). libsodium's
     * functions take no NULL pointers, even for empty inputs. */
    static const uint8_t zeros[HASH];
    if (saltlen == 0) {
        salt = zeros;
        saltlen = sizeof zeros;
    }
    if (!ikm)
        ikm = zeros;
    if (!info)
        info = zeros;
    uint8_t prk[HASH], t[HASH];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, salt, saltlen);
    crypto_auth_hmacsha256_update(&st, ikm, ikmlen);
    crypto_auth_hmacsha256_final(&st, prk);

    size_t done = 0;
    for (unsigned i = 1; done < outlen; i++) {
        uint8_t ctr = (uint8_t)i;
        crypto_auth_hmacsha256_init(&st, prk, sizeof prk);
        if (i > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof t);
        crypto_auth_hmacsha256_update(&st, info, infolen);
        crypto_auth_hmacsha256_update(&st, &ctr, 1);
        crypto_auth_hmacsha256_final(&st, t);
        size_t n = outlen - done < HASH ? outlen - done : HASH;
        memcpy(out + done, t, n);
        done += n;
    }
    sodium_memzero(&st, sizeof st);
    sodium_memzero(prk, sizeof prk);
    sodium_memzero(t, sizeof t);
    return 0;
}
