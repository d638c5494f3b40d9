/* age.c - age v1 (https://age-encryption.org/v1): X25519 and scrypt
 * stanzas, header MAC, STREAM payload, ASCII armor, key strings.
 *
 * Parsing is strict where the specification is: canonical base64, stanza
 * bodies in 64-column lines ending with a short one, exactly one space
 * between arguments, nothing after the last payload chunk. Every secret
 * this file derives (file key, shared secret, wrap key, MAC and payload
 * keys, scrypt output, ephemeral scalar) is a local wiped before return. */
#include "crypto/age.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AGE_INTRO "age-encryption.org/v1\n"
#define AGE_INTRO_LEN (sizeof AGE_INTRO - 1)
#define ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define ARMOR_END "-----END AGE ENCRYPTED FILE-----"
#define X25519_INFO "age-encryption.org/v1/X25519"
#define SCRYPT_LABEL "age-encryption.org/v1/scrypt"

enum {
    FILE_KEY = 16,
    TAG = crypto_aead_chacha20poly1305_ietf_ABYTES,
    WRAPPED = FILE_KEY + TAG,      /* stanza body bytes */
    WRAPPED_B64 = 43,              /* its unpadded base64 */
    KEY_B64 = 43,                  /* 32 bytes unpadded */
    SALT = 16,
    SALT_B64 = 22,
    NONCE = 16,
    CHUNK = 64 * 1024,
    ENC_CHUNK = CHUNK + TAG,
    COLUMNS = 64,
    LINE_BYTES = 48,               /* bytes per full 64-column line */
    MAX_ARGS = 8,
    SCRYPT_DEFAULT_LOG_N = 18,
    SCRYPT_DEFAULT_MAX_LOG_N = 22,
    SCRYPT_HARD_MAX_LOG_N = 30
};

#define CRYPTO_ERR(err, ...) \
    coffer_error_set((err), COFFER_ECRYPTO, NULL, 0, 0, __VA_ARGS__)

/* ---------------------------------------------------------------- base64 */

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Strict decode of exactly n characters (canonical, nothing ignored).
 * libsodium 1.0.18 checks padding and trailing bits, but its decoder maps
 * bytes of 0x80 and above to digits (it reads them as negative chars):
 * the alphabet is checked here first. */
static int b64_decode(uint8_t *out, size_t cap, const char *s, size_t n,
                      size_t *len, int variant)
{
    const char *end = NULL;
    size_t got = 0;
    for (size_t i = 0; i < n; i++)
        if (!b64_char((unsigned char)s[i]) &&
            !(s[i] == '=' && variant == sodium_base64_VARIANT_ORIGINAL))
            return -1;
    if (sodium_base642bin(out, cap, s, n, NULL, &got, &end, variant) != 0 ||
        end != s + n)
        return -1;
    *len = got;
    return 0;
}

static int b64_decode_exact(uint8_t *out, size_t want, const char *s,
                            size_t n)
{
    size_t got = 0;
    if (b64_decode(out, want, s, n, &got,
                   sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        got != want) {
        sodium_memzero(out, want);
        return -1;
    }
    return 0;
}

/* Unpadded base64 of n bytes at p; returns the characters written. */
static size_t b64_put(char *p, const uint8_t *in, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n,
        sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    char tmp[sodium_base64_ENCODED_LEN(48,
        sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
    if (n > 48)
        abort(); /* only keys, salts and MACs go through here */
    sodium_bin2base64(tmp, cap, in, n,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    size_t l = strlen(tmp);
    memcpy(p, tmp, l);
    sodium_memzero(tmp, sizeof tmp);
    return l;
}

/* ------------------------------------------------------------------ keys */

/* libsodium picks its implementations (scrypt, ChaCha20) and seeds its
 * generator in sodium_init, which is cheap once done. */
static int age_init(coffer_error *err)
{
    if (sodium_init() < 0)
        return coffer_error_set(err, COFFER_ESYS, NULL, 0, 0,
                                "cannot initialise libsodium");
    return 0;
}

int coffer_age_x25519(unsigned char out[32], const unsigned char scalar[32],
                      const unsigned char point[32])
{
    /* libsodium returns -1 when the result is all zero (a low-order
     * point), which the age specification says to reject. */
    if (crypto_scalarmult(out, scalar, point) != 0) {
        sodium_memzero(out, 32);
        return COFFER_ECRYPTO;
    }
    return 0;
}

int coffer_age_public(const unsigned char sk[32], unsigned char pk[32])
{
    return crypto_scalarmult_base(pk, sk) == 0 ? 0 : COFFER_ECRYPTO;
}

int coffer_age_keygen(unsigned char sk[32], unsigned char pk[32])
{
    if (age_init(NULL))
        return COFFER_ESYS;
    randombytes_buf(sk, 32);
    int rc = coffer_age_public(sk, pk);
    if (rc)
        sodium_memzero(sk, 32);
    return rc;
}

int coffer_age_recipient_string(const unsigned char pk[32], char *out,
                                size_t outsize)
{
    return coffer_bech32_encode("age", pk, 32, out, outsize);
}

int coffer_age_identity_string(const unsigned char sk[32], char *out,
                               size_t outsize)
{
    int rc = coffer_bech32_encode("age-secret-key-", sk, 32, out, outsize);
    if (rc)
        return rc;
    for (char *p = out; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 32);
    return 0;
}

/* A bech32 key string of one case (age writes recipients lower-case and
 * identities upper-case), with the given hrp and 32 bytes of key. */
static int parse_key(const char *s, size_t n, size_t max, const char *hrp,
                     int upper, uint8_t key[32])
{
    char got[16];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        if (upper ? (s[i] >= 'a' && s[i] <= 'z') : (s[i] >= 'A' && s[i] <= 'Z'))
            return -1;
    if (n >= max ||
        coffer_bech32_decode(s, n, got, sizeof got, key, 32, &len) != 0 ||
        strcmp(got, hrp) != 0 || len != 32) {
        sodium_memzero(key, 32);
        return -1;
    }
    return 0;
}

int coffer_age_recipient_parse(const char *s, size_t n,
                               coffer_age_recipient *r, coffer_error *err)
{
    if (!s || !r)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no age recipient given");
    memset(r, 0, sizeof *r);
    if (parse_key(s, n, COFFER_AGE_RECIPIENT_MAX, "age", 0, r->pk) == 0) {
        r->kind = COFFER_AGE_X25519;
        return 0;
    }
    /* Quoted only when it cannot be a secret key given by mistake. */
    if (n >= 15 && strncasecmp(s, "AGE-SECRET-KEY-", 15) == 0)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid age recipient: a secret key was "
                                "given (AGE-SECRET-KEY-1...), not its age1... "
                                "recipient");
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
            return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                    "invalid age recipient (not printable)");
    return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                            "invalid age recipient '%.*s'",
                            n > 80 ? 80 : (int)n, s);
}

int coffer_age_identity_parse(const char *s, size_t n,
                              coffer_age_identity *id, coffer_error *err)
{
    if (!s || !id)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no age identity given");
    memset(id, 0, sizeof *id);
    /* The message never quotes the text: it may be a real key. */
    if (parse_key(s, n, COFFER_AGE_IDENTITY_MAX, "age-secret-key-", 1,
                  id->sk) != 0) {
        sodium_memzero(id, sizeof *id);
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid age identity (expected "
                                "AGE-SECRET-KEY-1...)");
    }
    id->kind = COFFER_AGE_X25519;
    return 0;
}

/* Lines of an identity file: returns the next line (without "\n" and a
 * final "\r") or NULL at the end. */
static const char *next_line(const char **p, const char *end, size_t *n)
{
    if (*p >= end)
        return NULL;
    const char *s = *p;
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *e = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (e > s && e[-1] == '\r')
        e--;
    *n = (size_t)(e - s);
    return s;
}

static int identity_line(const char *s, size_t n)
{
    return n > 0 && s[0] != '#';
}

int coffer_age_identities_parse(const char *text, size_t len,
                                coffer_age_identity **ids, size_t *n,
                                coffer_error *err)
{
    if (!ids || !n || (!text && len))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no age identities given");
    *ids = NULL;
    *n = 0;
    const char *p = text, *end = text + len, *s;
    size_t l, count = 0;
    while ((s = next_line(&p, end, &l)))
        count += identity_line(s, l);
    if (count == 0)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no age identity found");
    if (count > SIZE_MAX / sizeof **ids)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    const coffer_allocator *a = coffer_allocator_secure();
    coffer_age_identity *out = a->alloc(a->ctx, count * sizeof *out);
    if (!out)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    size_t i = 0;
    unsigned line = 0;
    p = text;
    while ((s = next_line(&p, end, &l))) {
        line++;
        if (!identity_line(s, l))
            continue;
        int rc;
        if (l > 11 && memcmp(s, "AGE-PLUGIN-", 11) == 0)
            rc = coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                  "age plugin identities are not "
                                  "supported");
        else
            rc = coffer_age_identity_parse(s, l, &out[i], err);
        if (rc) {
            if (err)
                err->line = line;
            coffer_age_identities_free(out, count);
            return rc;
        }
        i++;
    }
    *ids = out;
    *n = count;
    return 0;
}

void coffer_age_identities_free(coffer_age_identity *ids, size_t n)
{
    if (!ids)
        return;
    sodium_memzero(ids, n * sizeof *ids);
    const coffer_allocator *a = coffer_allocator_secure();
    a->release(a->ctx, ids, n * sizeof *ids);
}

/* ---------------------------------------------------------- wrap/unwrap */

static int x25519_wrap_key(uint8_t key[32], const uint8_t shared[32],
                           const uint8_t share[32], const uint8_t pk[32])
{
    uint8_t salt[64];
    memcpy(salt, share, 32);
    memcpy(salt + 32, pk, 32);
    return coffer_hkdf_sha256(key, 32, salt, sizeof salt, shared, 32,
                              (const uint8_t *)X25519_INFO,
                              sizeof X25519_INFO - 1);
}

static int scrypt_wrap_key(uint8_t key[32], const char *pass, size_t passlen,
                           const uint8_t salt[SALT], int log_n)
{
    uint8_t s[sizeof SCRYPT_LABEL - 1 + SALT];
    if (!pass)
        pass = ""; /* an empty passphrase; libsodium takes no NULL */
    memcpy(s, SCRYPT_LABEL, sizeof SCRYPT_LABEL - 1);
    memcpy(s + sizeof SCRYPT_LABEL - 1, salt, SALT);
    if (crypto_pwhash_scryptsalsa208sha256_ll(
            (const uint8_t *)pass, passlen, s, sizeof s, (uint64_t)1 << log_n,
            8, 1, key, 32) != 0) {
        sodium_memzero(key, 32);
        return -1;
    }
    return 0;
}

static const uint8_t zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

static void seal_file_key(uint8_t body[WRAPPED], const uint8_t key[32],
                          const uint8_t fk[FILE_KEY])
{
    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, fk, FILE_KEY, NULL,
                                              0, NULL, zero_nonce, key);
}

static int open_file_key(uint8_t fk[FILE_KEY], const uint8_t key[32],
                         const uint8_t body[WRAPPED])
{
    return crypto_aead_chacha20poly1305_ietf_decrypt(
        fk, NULL, NULL, body, WRAPPED, NULL, 0, zero_nonce, key);
}

/* ---------------------------------------------------------------- header */

typedef struct stanza {
    const char *arg[MAX_ARGS];
    size_t arglen[MAX_ARGS];
    size_t nargs;            /* all of them, even past MAX_ARGS */
    const char *body;        /* its lines, each with "\n" */
    size_t bodylen;
} stanza;

typedef struct header {
    const char *first;       /* first stanza */
    size_t nstanzas;
    int has_scrypt;
    size_t maclen;           /* bytes the MAC covers (through "---") */
    uint8_t mac[32];
    const uint8_t *payload;
    size_t payloadlen;
} header;

static int is_arg(const stanza *st, size_t i, const char *s)
{
    size_t n = strlen(s);
    return st->nargs > i && st->arglen[i] == n && memcmp(st->arg[i], s, n) == 0;
}

/* Parses the stanza at p (which starts with "-> "); returns the byte after
 * it, or NULL with *why set. */
static const char *parse_stanza(const char *p, const char *end, stanza *st,
                                const char **why)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
        *why = "age header is truncated";
        return NULL;
    }
    memset(st, 0, sizeof *st);
    const char *a = p + 3;
    for (;;) {
        const char *sp = memchr(a, ' ', (size_t)(nl - a));
        const char *e = sp ? sp : nl;
        if (e == a) {
            *why = "empty argument in an age header stanza";
            return NULL;
        }
        for (const char *c = a; c < e; c++)
            if ((unsigned char)*c < 33 || (unsigned char)*c > 126) {
                *why = "invalid character in an age header stanza";
                return NULL;
            }
        if (st->nargs < MAX_ARGS) {
            st->arg[st->nargs] = a;
            st->arglen[st->nargs] = (size_t)(e - a);
        }
        st->nargs++;
        if (!sp)
            break;
        a = sp + 1;
    }
    const char *b = nl + 1;
    st->body = b;
    for (;;) {
        const char *lnl = memchr(b, '\n', (size_t)(end - b));
        if (!lnl) {
            *why = "age header is truncated";
            return NULL;
        }
        size_t ll = (size_t)(lnl - b), got;
        uint8_t tmp[LINE_BYTES];
        if (ll > COLUMNS) {
            *why = "age stanza body line is longer than 64 columns";
            return NULL;
        }
        if (b64_decode(tmp, sizeof tmp, b, ll, &got,
                       sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
            *why = "age stanza body is not canonical base64 in 64-column "
                   "lines ending with a short line";
            return NULL;
        }
        b = lnl + 1;
        if (ll < COLUMNS)
            break;
    }
    st->bodylen = (size_t)(b - st->body);
    return b;
}

static int parse_header(const uint8_t *in, size_t inlen, header *h,
                        coffer_error *err)
{
    const char *start = (const char *)in, *end = start + inlen;
    const char *why = NULL;
    memset(h, 0, sizeof *h);
    if (inlen < AGE_INTRO_LEN || memcmp(in, AGE_INTRO, AGE_INTRO_LEN) != 0) {
        if (inlen >= 12 && memcmp(in, "age-encrypti", 12) == 0)
            return CRYPTO_ERR(err, "unsupported age version line");
        return CRYPTO_ERR(err, "not an age file");
    }
    const char *p = start + AGE_INTRO_LEN;
    h->first = p;
    for (;;) {
        size_t left = (size_t)(end - p);
        if (left >= 4 && memcmp(p, "--- ", 4) == 0) {
            if (left < 4 + KEY_B64 + 1 || p[4 + KEY_B64] != '\n' ||
                b64_decode_exact(h->mac, 32, p + 4, KEY_B64) != 0)
                return CRYPTO_ERR(err, "malformed age header mac line");
            h->maclen = (size_t)(p + 3 - start);
            p += 4 + KEY_B64 + 1;
            break;
        }
        if (left >= 3 && memcmp(p, "-> ", 3) == 0) {
            stanza st;
            p = parse_stanza(p, end, &st, &why);
            if (!p)
                return CRYPTO_ERR(err, "%s", why);
            h->nstanzas++;
            h->has_scrypt |= is_arg(&st, 0, "scrypt");
            continue;
        }
        if (left >= 3 && memcmp(p, "---", 3) == 0)
            return CRYPTO_ERR(err, "malformed age header mac line");
        if (!memchr(p, '\n', left))
            return CRYPTO_ERR(err, "age header is truncated");
        return CRYPTO_ERR(err, "malformed age header line");
    }
    if (h->nstanzas == 0)
        return CRYPTO_ERR(err, "age header has no recipient stanza");
    if (h->has_scrypt && h->nstanzas != 1)
        return CRYPTO_ERR(err, "an age scrypt stanza must be the only one");
    h->payload = (const uint8_t *)p;
    h->payloadlen = (size_t)(end - p);
    return 0;
}

/* The wrapped file key of an X25519 or scrypt stanza: exactly one body
 * line of 43 characters. */
static int stanza_body(const stanza *st, uint8_t body[WRAPPED])
{
    if (st->bodylen != WRAPPED_B64 + 1)
        return -1;
    return b64_decode_exact(body, WRAPPED, st->body, WRAPPED_B64);
}

enum { UNWRAP_OK = 0, UNWRAP_NO = 1 };

static int unwrap_x25519(const coffer_age_identity *id, const uint8_t pk[32],
                         const stanza *st, uint8_t fk[FILE_KEY],
                         coffer_error *err)
{
    uint8_t share[32], body[WRAPPED], shared[32], key[32];
    int rc = UNWRAP_NO;
    if (st->nargs != 2 || st->arglen[1] != KEY_B64 ||
        b64_decode_exact(share, 32, st->arg[1], KEY_B64) != 0)
        return CRYPTO_ERR(err, "malformed age X25519 stanza");
    if (stanza_body(st, body) != 0)
        return CRYPTO_ERR(err, "malformed age X25519 stanza body");
    if (coffer_age_x25519(shared, id->sk, share) != 0)
        return CRYPTO_ERR(err, "age X25519 stanza has a low-order share");
    if (x25519_wrap_key(key, shared, share, pk) != 0)
        rc = CRYPTO_ERR(err, "age key derivation failed");
    else if (open_file_key(fk, key, body) == 0)
        rc = UNWRAP_OK;
    sodium_memzero(shared, sizeof shared);
    sodium_memzero(key, sizeof key);
    return rc;
}

/* A decimal work factor without sign or leading zeros: 1..99. */
static int parse_log_n(const char *s, size_t n)
{
    if (n < 1 || n > 2 || s[0] < '1' || s[0] > '9')
        return -1;
    if (n == 2 && (s[1] < '0' || s[1] > '9'))
        return -1;
    return n == 1 ? s[0] - '0' : (s[0] - '0') * 10 + (s[1] - '0');
}

static int unwrap_scrypt(const coffer_age_identity *id, const stanza *st,
                         uint8_t fk[FILE_KEY], coffer_error *err)
{
    uint8_t salt[SALT], body[WRAPPED], key[32];
    int log_n;
    if (st->nargs != 3 || st->arglen[1] != SALT_B64 ||
        b64_decode_exact(salt, SALT, st->arg[1], SALT_B64) != 0 ||
        (log_n = parse_log_n(st->arg[2], st->arglen[2])) < 0)
        return CRYPTO_ERR(err, "malformed age scrypt stanza");
    if (stanza_body(st, body) != 0)
        return CRYPTO_ERR(err, "malformed age scrypt stanza body");
    int max = id->max_log_n > 0 ? id->max_log_n : SCRYPT_DEFAULT_MAX_LOG_N;
    if (max > SCRYPT_HARD_MAX_LOG_N)
        max = SCRYPT_HARD_MAX_LOG_N;
    if (log_n > max)
        return CRYPTO_ERR(err, "age scrypt work factor %d exceeds the "
                          "limit of %d", log_n, max);
    if (scrypt_wrap_key(key, id->passphrase, id->passlen, salt, log_n) != 0)
        return CRYPTO_ERR(err, "scrypt failed (work factor %d: out of "
                          "memory?)", log_n);
    int rc = open_file_key(fk, key, body) == 0 ? UNWRAP_OK : UNWRAP_NO;
    sodium_memzero(key, sizeof key);
    return rc;
}

/* Finds the file key: the first identity that opens a stanza. */
static int unwrap(const coffer_age_identity *ids, size_t nids,
                  const header *h, const char *end, uint8_t fk[FILE_KEY],
                  coffer_error *err)
{
    int scrypt_tried = 0, other_tried = 0;
    for (size_t i = 0; i < nids; i++) {
        const coffer_age_identity *id = &ids[i];
        uint8_t pk[32];
        if (id->kind == COFFER_AGE_X25519) {
            if (coffer_age_public(id->sk, pk) != 0)
                return CRYPTO_ERR(err, "invalid age identity");
            other_tried = 1;
        } else if (id->kind == COFFER_AGE_SCRYPT) {
            if (!id->passphrase && id->passlen)
                return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                        "age passphrase missing");
        } else {
            return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                    "unknown age identity kind %d",
                                    (int)id->kind);
        }
        const char *p = h->first, *why = NULL;
        for (size_t k = 0; k < h->nstanzas; k++) {
            stanza st;
            p = parse_stanza(p, end, &st, &why); /* checked already */
            int rc = UNWRAP_NO;
            if (id->kind == COFFER_AGE_X25519 && is_arg(&st, 0, "X25519"))
                rc = unwrap_x25519(id, pk, &st, fk, err);
            else if (id->kind == COFFER_AGE_SCRYPT &&
                     is_arg(&st, 0, "scrypt")) {
                scrypt_tried = 1;
                rc = unwrap_scrypt(id, &st, fk, err);
            }
            if (rc != UNWRAP_NO)
                return rc;
        }
    }
    if (scrypt_tried && !other_tried)
        return CRYPTO_ERR(err, "wrong passphrase for the age file");
    return CRYPTO_ERR(err, "no identity matches a recipient of the age "
                      "file");
}

/* --------------------------------------------------------------- payload */

static void chunk_nonce(uint8_t nonce[12], uint64_t counter, int last)
{
    memset(nonce, 0, 12);
    for (int i = 10; i >= 3 && counter; i--) {
        nonce[i] = (uint8_t)counter;
        counter >>= 8;
    }
    nonce[11] = last ? 1 : 0;
}

static int derive(uint8_t out[32], const uint8_t fk[FILE_KEY],
                  const uint8_t *salt, size_t saltlen, const char *info)
{
    return coffer_hkdf_sha256(out, 32, salt, saltlen, fk, FILE_KEY,
                              (const uint8_t *)info, strlen(info));
}

static void header_mac(uint8_t mac[32], const uint8_t key[32],
                       const void *text, size_t n)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    crypto_auth_hmacsha256_update(&st, text, n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

static int decrypt_payload(const uint8_t fk[FILE_KEY], const uint8_t *p,
                           size_t n, uint8_t *out, size_t outcap,
                           size_t *outlen, coffer_error *err)
{
    if (n < NONCE)
        return CRYPTO_ERR(err, "age payload is truncated (no nonce)");
    if (n == NONCE)
        return CRYPTO_ERR(err, "age payload is truncated (no chunk)");
    const uint8_t *ct = p + NONCE;
    size_t ctlen = n - NONCE;
    size_t nchunks = (ctlen + ENC_CHUNK - 1) / ENC_CHUNK;
    size_t lastlen = ctlen - (nchunks - 1) * ENC_CHUNK;
    if (lastlen < TAG)
        return CRYPTO_ERR(err, "age payload is truncated (short chunk)");
    if (lastlen == TAG && nchunks > 1)
        return CRYPTO_ERR(err, "age payload ends with an empty chunk");
    size_t total = ctlen - nchunks * TAG;
    if (total > outcap)
        return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                "age plaintext of %zu bytes exceeds the "
                                "buffer of %zu", total, outcap);
    uint8_t key[32], nonce[12];
    if (derive(key, fk, p, NONCE, "payload") != 0)
        return CRYPTO_ERR(err, "age key derivation failed");
    size_t w = 0;
    int rc = 0;
    for (size_t i = 0; i < nchunks; i++) {
        int last = i + 1 == nchunks;
        size_t clen = last ? lastlen : ENC_CHUNK;
        chunk_nonce(nonce, i, last);
        if (crypto_aead_chacha20poly1305_ietf_decrypt(
                out + w, NULL, NULL, ct + i * ENC_CHUNK, clen, NULL, 0, nonce,
                key) != 0) {
            rc = CRYPTO_ERR(err, "age payload chunk %zu fails "
                            "authentication (tampered, truncated or "
                            "trailing data)", i + 1);
            break;
        }
        w += clen - TAG;
    }
    sodium_memzero(key, sizeof key);
    if (rc) {
        sodium_memzero(out, w);
        return rc;
    }
    *outlen = w;
    return 0;
}

/* ----------------------------------------------------------------- armor */

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' &&
            s[i] != '\v' && s[i] != '\f')
            return 0;
    return 1;
}

static int line_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* Leading whitespace, then "-----": armor (or a bad begin line). */
static int is_armored(const char *in, size_t n)
{
    size_t i = 0;
    while (i < n && blank(in + i, 1))
        i++;
    return n - i >= 5 && memcmp(in + i, "-----", 5) == 0;
}

static int dearmor(const char *in, size_t n, uint8_t **out, size_t *outlen,
                   coffer_error *err)
{
    const char *p = in, *end = in + n, *s;
    size_t l;
    for (;;) {
        if (!(s = next_line(&p, end, &l)))
            return CRYPTO_ERR(err, "not an age file");
        if (blank(s, l))
            continue;
        if (!line_is(s, l, ARMOR_BEGIN))
            return CRYPTO_ERR(err, "invalid age armor begin line");
        break;
    }
    uint8_t *buf = malloc(n / 4 * 3 + 3);
    if (!buf)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    size_t w = 0;
    int rc = 0, ended = 0;
    while (!ended) {
        size_t got;
        if (!(s = next_line(&p, end, &l))) {
            rc = CRYPTO_ERR(err, "age armor has no end line");
            break;
        }
        if (line_is(s, l, ARMOR_END))
            break;
        if (l > COLUMNS) {
            rc = CRYPTO_ERR(err, "age armor line is longer than 64 columns");
            break;
        }
        if (b64_decode(buf + w, LINE_BYTES, s, l, &got,
                       sodium_base64_VARIANT_ORIGINAL) != 0) {
            rc = CRYPTO_ERR(err, "age armor is not canonical padded base64");
            break;
        }
        w += got;
        if (got < LINE_BYTES) {
            if (!(s = next_line(&p, end, &l))) {
                rc = CRYPTO_ERR(err, "age armor has no end line");
                break;
            }
            if (!line_is(s, l, ARMOR_END)) {
                rc = CRYPTO_ERR(err, "age armor line is shorter than 64 "
                                "columns before the end line");
                break;
            }
            ended = 1;
        }
    }
    if (rc == 0 && !blank(p, (size_t)(end - p)))
        rc = CRYPTO_ERR(err, "trailing data after the age armor");
    if (rc) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = w;
    return 0;
}

static char *armor(const uint8_t *bin, size_t n, size_t *outlen)
{
    size_t b64 = (n + 2) / 3 * 4;
    size_t lines = (b64 + COLUMNS - 1) / COLUMNS;
    size_t total = sizeof ARMOR_BEGIN + b64 + lines + sizeof ARMOR_END;
    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    char *p = out;
    memcpy(p, ARMOR_BEGIN "\n", sizeof ARMOR_BEGIN);
    p += sizeof ARMOR_BEGIN;
    for (size_t i = 0; i < n; i += LINE_BYTES) {
        size_t k = n - i < LINE_BYTES ? n - i : LINE_BYTES;
        /* sodium_bin2base64 fills all of the size it is given */
        sodium_bin2base64(p, sodium_base64_ENCODED_LEN(k,
                              sodium_base64_VARIANT_ORIGINAL),
                          bin + i, k, sodium_base64_VARIANT_ORIGINAL);
        p += strlen(p);
        *p++ = '\n';
    }
    memcpy(p, ARMOR_END "\n", sizeof ARMOR_END);
    p += sizeof ARMOR_END;
    *p = '\0';
    *outlen = (size_t)(p - out);
    return out;
}

/* ---------------------------------------------------------- encrypt API */

static int stanza_line(char **p, const coffer_age_recipient *r,
                       const uint8_t fk[FILE_KEY], coffer_error *err)
{
    uint8_t body[WRAPPED], key[32];
    char *q = *p;
    int rc = 0;
    if (r->kind == COFFER_AGE_X25519) {
        uint8_t eph[32], share[32], shared[32];
        randombytes_buf(eph, sizeof eph);
        if (coffer_age_public(eph, share) != 0 ||
            coffer_age_x25519(shared, eph, r->pk) != 0)
            rc = CRYPTO_ERR(err, "age recipient is a low-order point");
        else if (x25519_wrap_key(key, shared, share, r->pk) != 0)
            rc = CRYPTO_ERR(err, "age key derivation failed");
        sodium_memzero(eph, sizeof eph);
        sodium_memzero(shared, sizeof shared);
        if (rc)
            return rc;
        memcpy(q, "-> X25519 ", 10);
        q += 10;
        q += b64_put(q, share, 32);
    } else if (r->kind == COFFER_AGE_SCRYPT) {
        uint8_t salt[SALT];
        int log_n = r->log_n ? r->log_n : SCRYPT_DEFAULT_LOG_N;
        if (log_n < 1 || log_n > SCRYPT_HARD_MAX_LOG_N)
            return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                    "age scrypt work factor %d out of range "
                                    "1-%d", log_n, SCRYPT_HARD_MAX_LOG_N);
        if (!r->passphrase && r->passlen)
            return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                    "age passphrase missing");
        randombytes_buf(salt, sizeof salt);
        if (scrypt_wrap_key(key, r->passphrase, r->passlen, salt, log_n) != 0)
            return CRYPTO_ERR(err, "scrypt failed (work factor %d: out of "
                              "memory?)", log_n);
        memcpy(q, "-> scrypt ", 10);
        q += 10;
        q += b64_put(q, salt, SALT);
        q += sprintf(q, " %d", log_n);
    } else {
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "unknown age recipient kind %d",
                                (int)r->kind);
    }
    seal_file_key(body, key, fk);
    sodium_memzero(key, sizeof key);
    *q++ = '\n';
    q += b64_put(q, body, WRAPPED);
    *q++ = '\n';
    *p = q;
    return 0;
}

/* Longest stanza: "-> X25519 " + 43 + "\n" + 43 + "\n". */
#define STANZA_MAX 100

int coffer_age_encrypt_binary(const coffer_age_recipient *r, size_t nr,
                              const uint8_t *msg, size_t len, uint8_t **out,
                              size_t *outlen, coffer_error *err)
{
    if (!out || !outlen || (!msg && len) || (!r && nr))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid arguments to age encryption");
    *out = NULL;
    *outlen = 0;
    if (age_init(err))
        return COFFER_ESYS;
    if (nr == 0)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no age recipient given");
    for (size_t i = 0; i < nr; i++)
        if (r[i].kind == COFFER_AGE_SCRYPT && nr != 1)
            return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                    "an age passphrase recipient must be "
                                    "the only one");
    size_t nchunks = len == 0 ? 1 : (len + CHUNK - 1) / CHUNK;
    if (nr > (SIZE_MAX / 4) / STANZA_MAX || len > SIZE_MAX / 4)
        return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                "age input too large");
    size_t hcap = AGE_INTRO_LEN + nr * STANZA_MAX + 4 + KEY_B64 + 1;
    size_t cap = hcap + NONCE + len + nchunks * TAG;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");

    uint8_t fk[FILE_KEY], key[32], mac[32], nonce[12];
    int rc = 0;
    randombytes_buf(fk, sizeof fk);
    char *p = (char *)buf;
    memcpy(p, AGE_INTRO, AGE_INTRO_LEN);
    p += AGE_INTRO_LEN;
    for (size_t i = 0; i < nr && rc == 0; i++)
        rc = stanza_line(&p, &r[i], fk, err);
    if (rc == 0 && derive(key, fk, NULL, 0, "header") != 0)
        rc = CRYPTO_ERR(err, "age key derivation failed");
    if (rc == 0) {
        memcpy(p, "---", 3);
        p += 3;
        header_mac(mac, key, buf, (size_t)(p - (char *)buf));
        *p++ = ' ';
        p += b64_put(p, mac, sizeof mac);
        *p++ = '\n';
        uint8_t *q = (uint8_t *)p;
        randombytes_buf(q, NONCE);
        if (derive(key, fk, q, NONCE, "payload") != 0)
            rc = CRYPTO_ERR(err, "age key derivation failed");
        q += NONCE;
        for (size_t i = 0; rc == 0 && i < nchunks; i++) {
            int last = i + 1 == nchunks;
            size_t k = last ? len - i * CHUNK : CHUNK;
            unsigned long long clen = 0;
            chunk_nonce(nonce, i, last);
            crypto_aead_chacha20poly1305_ietf_encrypt(
                q, &clen, msg + i * CHUNK, k, NULL, 0, NULL, nonce, key);
            q += clen;
        }
        *outlen = (size_t)(q - buf);
    }
    sodium_memzero(fk, sizeof fk);
    sodium_memzero(key, sizeof key);
    if (rc) {
        free(buf);
        *outlen = 0;
        return rc;
    }
    *out = buf;
    return 0;
}

int coffer_age_encrypt(const coffer_age_recipient *r, size_t nr,
                       const uint8_t *msg, size_t len, char **out,
                       size_t *outlen, coffer_error *err)
{
    uint8_t *bin = NULL;
    size_t n = 0;
    if (!out || !outlen)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid arguments to age encryption");
    *out = NULL;
    *outlen = 0;
    int rc = coffer_age_encrypt_binary(r, nr, msg, len, &bin, &n, err);
    if (rc)
        return rc;
    *out = armor(bin, n, outlen);
    free(bin);
    if (!*out)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    return 0;
}

/* ---------------------------------------------------------- decrypt API */

/* Header of a binary age file: unwraps the file key and checks the MAC. */
static int open_header(const coffer_age_identity *ids, size_t nids,
                       const uint8_t *data, size_t n, uint8_t fk[FILE_KEY],
                       header *h, coffer_error *err)
{
    uint8_t key[32], mac[32];
    int rc = parse_header(data, n, h, err);
    if (rc == 0)
        rc = unwrap(ids, nids, h, (const char *)data + n, fk, err);
    if (rc == 0) {
        if (derive(key, fk, NULL, 0, "header") != 0)
            rc = CRYPTO_ERR(err, "age key derivation failed");
        else {
            header_mac(mac, key, data, h->maclen);
            if (crypto_verify_32(mac, h->mac) != 0)
                rc = CRYPTO_ERR(err, "age header mac does not match "
                                "(tampered header)");
        }
        sodium_memzero(key, sizeof key);
    }
    if (rc)
        sodium_memzero(fk, FILE_KEY);
    return rc;
}

static int check_decrypt_args(const coffer_age_identity *ids, size_t nids,
                              const void *in, size_t inlen, coffer_error *err)
{
    if ((!ids && nids) || (!in && inlen))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid arguments to age decryption");
    if (age_init(err))
        return COFFER_ESYS;
    if (nids == 0)
        return CRYPTO_ERR(err, "no identity to decrypt the age file");
    return 0;
}

int coffer_age_decrypt_header(const coffer_age_identity *ids, size_t nids,
                              const uint8_t *in, size_t inlen,
                              uint8_t filekey[16], size_t *payload_off,
                              coffer_error *err)
{
    header h;
    int rc = check_decrypt_args(ids, nids, in, inlen, err);
    if (rc == 0 && (!filekey || !payload_off))
        rc = coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                              "invalid arguments to age decryption");
    if (rc == 0)
        rc = open_header(ids, nids, in, inlen, filekey, &h, err);
    if (rc == 0)
        *payload_off = (size_t)(h.payload - in);
    return rc;
}

int coffer_age_decrypt(const coffer_age_identity *ids, size_t nids,
                       const char *in, size_t inlen, uint8_t *out,
                       size_t outcap, size_t *outlen, coffer_error *err)
{
    if ((!out && outcap) || !outlen)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid arguments to age decryption");
    *outlen = 0;
    int rc = check_decrypt_args(ids, nids, in, inlen, err);
    if (rc)
        return rc;
    uint8_t *bin = NULL;
    const uint8_t *data = (const uint8_t *)in;
    size_t n = inlen;
    if (is_armored(in, inlen)) {
        if ((rc = dearmor(in, inlen, &bin, &n, err)) != 0)
            return rc;
        data = bin;
    }
    header h;
    uint8_t fk[FILE_KEY];
    rc = open_header(ids, nids, data, n, fk, &h, err);
    if (rc == 0)
        rc = decrypt_payload(fk, h.payload, h.payloadlen, out, outcap, outlen,
                             err);
    sodium_memzero(fk, sizeof fk);
    free(bin);
    return rc;
}
