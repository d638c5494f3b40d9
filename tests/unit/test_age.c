/* test_age.c - the age v1 implementation (src/crypto): HKDF against RFC
 * 5869, bech32 against BIP 173, X25519 against RFC 7748, the age testkit
 * vectors in tests/unit/age_vectors/ (see its README), round trips, every
 * malformed-input class, and secret hygiene. */
#include "testutil.h"

#include "crypto/age.h"

#include <dirent.h>
#include <sodium.h>

/* gcc 12 takes the strstr results over the file bytes below for pointers
 * into the stack buffers of inlined helpers */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif

/* ---------------------------------------------------------------- utils */

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(coffer_hex_digit(hex[2 * i]) << 4 |
                           coffer_hex_digit(hex[2 * i + 1]));
    return n;
}

static void assert_hex(const uint8_t *p, size_t n, const char *hex)
{
    uint8_t want[512];
    assert_int_equal(unhex(want, sizeof want, hex), n);
    assert_memory_equal(p, want, n);
}

static char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *n = fread(buf, 1, (1 << 20) - 1, f);
    buf[*n] = '\0';
    fclose(f);
    return buf;
}

static const char *vector_dir(char *buf, size_t n)
{
    const char *root = getenv("COFFER_TEST_ROOT");
    snprintf(buf, n, "%s/tests/unit/age_vectors", root ? root : ".");
    return buf;
}

/* A fresh key pair as identity + recipient. */
static void keypair(coffer_age_identity *id, coffer_age_recipient *r)
{
    memset(id, 0, sizeof *id);
    memset(r, 0, sizeof *r);
    assert_int_equal(coffer_age_keygen(id->sk, r->pk), 0);
    id->kind = COFFER_AGE_X25519;
    r->kind = COFFER_AGE_X25519;
}

static uint8_t *encrypt_bin(const coffer_age_recipient *r, size_t nr,
                            const void *msg, size_t len, size_t *n)
{
    uint8_t *out = NULL;
    coffer_error err;
    assert_int_equal(coffer_age_encrypt_binary(r, nr, msg, len, &out, n,
                                               &err), 0);
    return out;
}

/* len zero bytes (*msg, calloc'd) sealed to a fresh key pair. */
static uint8_t *sealed_zeros(coffer_age_identity *id, coffer_age_recipient *r,
                             size_t len, uint8_t **msg, size_t *n)
{
    keypair(id, r);
    *msg = calloc(1, len);
    assert_non_null(*msg);
    return encrypt_bin(r, 1, *msg, len, n);
}

/* Decrypts and returns the status; err message kept for checks. */
static __attribute__((noinline)) int
try_decrypt(const coffer_age_identity *ids, size_t nids,
                       const void *in, size_t n, uint8_t *out, size_t cap,
                       size_t *outlen, coffer_error *err)
{
    coffer_error_clear(err);
    int rc = coffer_age_decrypt(ids, nids, in, n, out, cap, outlen, err);
    if (rc)
        assert_int_not_equal(err->message[0], '\0');
    return rc;
}

static __attribute__((noinline)) void
assert_fails(const coffer_age_identity *ids, size_t nids,
                         const void *in, size_t n, const char *msg_part)
{
    static uint8_t out[1 << 18];
    size_t outlen = 12345;
    coffer_error err;
    int rc = try_decrypt(ids, nids, in, n, out, sizeof out, &outlen, &err);
    if (rc == 0 || (msg_part && !strstr(err.message, msg_part)))
        fail_msg("expected failure '%s', got rc %d '%s'",
                 msg_part ? msg_part : "", rc, err.message);
    assert_int_equal(rc, COFFER_ECRYPTO);
    assert_int_equal(outlen, 0);
}

/* ------------------------------------------------------------------ HKDF */

static void hkdf_rfc5869(void **state)
{
    (void)state;
    uint8_t ikm[80], salt[80], info[80], okm[82];
    /* A.1 */
    memset(ikm, 0x0b, 22);
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    assert_int_equal(coffer_hkdf_sha256(okm, 42, salt, 13, ikm, 22, info, 10),
                     0);
    assert_hex(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db0"
                        "2d56ecc4c5bf34007208d5b887185865");
    /* A.2 */
    for (int i = 0; i < 80; i++) {
        ikm[i] = (uint8_t)i;
        salt[i] = (uint8_t)(0x60 + i);
        info[i] = (uint8_t)(0xb0 + i);
    }
    assert_int_equal(coffer_hkdf_sha256(okm, 82, salt, 80, ikm, 80, info, 80),
                     0);
    assert_hex(okm, 82, "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050"
                        "cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c"
                        "2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f"
                        "1d87");
    /* A.3: empty salt and info */
    memset(ikm, 0x0b, 22);
    assert_int_equal(coffer_hkdf_sha256(okm, 42, NULL, 0, ikm, 22, NULL, 0), 0);
    assert_hex(okm, 42, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec345"
                        "4e5f3c738d2d9d201395faa4b61a96c8");
    /* bad lengths */
    uint8_t big[255 * 32 + 1];
    assert_int_equal(coffer_hkdf_sha256(big, sizeof big, NULL, 0, ikm, 22,
                                        NULL, 0), COFFER_EINVAL);
    assert_int_equal(coffer_hkdf_sha256(big, 255 * 32, NULL, 0, ikm, 22, NULL,
                                        0), 0);
    assert_int_equal(coffer_hkdf_sha256(NULL, 1, NULL, 0, ikm, 22, NULL, 0),
                     COFFER_EINVAL);
}

/* ---------------------------------------------------------------- bech32 */

static void bech32_bip173_valid(void **state)
{
    (void)state;
    static const char *valid[] = {
        "A12UEL5L",
        "a12uel5l",
        "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcl"
        "udedcharactersbio1tt5tgs",
        "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
        "11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"
        "qqqqqqqqqqqqqqqqqc8247j",
        "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
        "?1ezyfcl",
    };
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        char hrp[100], again[200], lower[200];
        uint8_t data[100];
        size_t len = 99;
        const char *s = valid[i];
        if (coffer_bech32_decode(s, strlen(s), hrp, sizeof hrp, data,
                                 sizeof data, &len) != 0)
            fail_msg("valid bech32 '%s' rejected", s);
        /* encoding the decoded data gives back the (lower-case) string */
        assert_int_equal(coffer_bech32_encode(hrp, data, len, again,
                                              sizeof again), 0);
        size_t k = 0;
        for (; s[k]; k++)
            lower[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
        lower[k] = '\0';
        assert_string_equal(again, lower);
    }
    /* the data of "abcdef1..." is the 32 symbols in order: 20 bytes */
    char hrp[16];
    uint8_t data[32];
    size_t len;
    assert_int_equal(coffer_bech32_decode(valid[3], strlen(valid[3]), hrp,
                                          sizeof hrp, data, sizeof data, &len),
                     0);
    assert_string_equal(hrp, "abcdef");
    assert_int_equal(len, 20);
    assert_hex(data, 20, "00443214c74254b635cf84653a56d7c675be77df");
    /* upper-case input gives a lower-cased hrp */
    assert_int_equal(coffer_bech32_decode("A12UEL5L", 8, hrp, sizeof hrp, data,
                                          sizeof data, &len), 0);
    assert_string_equal(hrp, "a");
    assert_int_equal(len, 0);
}

static void bech32_bip173_invalid(void **state)
{
    (void)state;
    static const char *invalid[] = {
        "\x20" "1nwldj5",        /* hrp character out of range */
        "\x7f" "1axkwrx",
        "\x80" "1eym55h",
        "pzry9x0s0muk",          /* no separator */
        "1pzry9x0s0muk",         /* empty hrp */
        "x1b4n0q5v",             /* invalid data character */
        "li1dgmt3",              /* too short checksum */
        "de1lg7wt\xff",          /* invalid character in checksum */
        "A1G7SGD8",              /* checksum made with upper-case hrp */
        "10a06t8",               /* empty hrp */
        "1qzzfhee",              /* empty hrp */
        "a12UEL5L",              /* mixed case */
        "A12uEL5L",
        "a12uel5m",              /* checksum off by one symbol */
        "a1q3g6mn3",             /* 5 bits left over: not 8-bit data */
        "a1qpamnt9j",            /* non-zero padding bits */
        "",
    };
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        char hrp[100];
        uint8_t data[100];
        size_t len = 77;
        const char *s = invalid[i];
        if (coffer_bech32_decode(s, strlen(s), hrp, sizeof hrp, data,
                                 sizeof data, &len) == 0)
            fail_msg("invalid bech32 #%zu accepted", i);
        assert_int_equal(len, 0);
    }
    /* the zero-padding control case of the two above is valid */
    char hrp[8];
    uint8_t data[4];
    size_t len;
    assert_int_equal(coffer_bech32_decode("a1qqqd87cq", 10, hrp, sizeof hrp,
                                          data, sizeof data, &len), 0);
    assert_int_equal(len, 1);
    assert_int_equal(data[0], 0);
    /* buffers too small are errors, not overflows */
    assert_int_not_equal(coffer_bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54k"
                                              "hce6mua7lmqqqxw", 45, hrp, 4,
                                              data, sizeof data, &len), 0);
    assert_int_not_equal(coffer_bech32_decode("abcdef1qpzry9x8gf2tvdw0s3jn54k"
                                              "hce6mua7lmqqqxw", 45, hrp,
                                              sizeof hrp, data, 4, &len), 0);
    char small[13]; /* "age" "1", 2 data and 6 checksum symbols, NUL */
    assert_int_not_equal(coffer_bech32_encode("age", data, 1, small, 12), 0);
    assert_int_equal(coffer_bech32_encode("age", data, 1, small, 13), 0);
    assert_int_equal(strlen(small), 12);
    assert_int_not_equal(coffer_bech32_encode("Age", data, 1, small, 13), 0);
}

/* ---------------------------------------------------------------- X25519 */

static void x25519_rfc7748(void **state)
{
    (void)state;
    uint8_t k[32], u[32], out[32];
    /* section 5.2 */
    unhex(k, 32, "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
    unhex(u, 32, "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
    assert_int_equal(coffer_age_x25519(out, k, u), 0);
    assert_hex(out, 32, "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
    unhex(k, 32, "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d");
    unhex(u, 32, "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493");
    assert_int_equal(coffer_age_x25519(out, k, u), 0);
    assert_hex(out, 32, "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
    /* section 6.1 through the key path */
    uint8_t a[32], b[32], apk[32], bpk[32], s1[32], s2[32];
    unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    assert_int_equal(coffer_age_public(a, apk), 0);
    assert_int_equal(coffer_age_public(b, bpk), 0);
    assert_hex(apk, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    assert_hex(bpk, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    assert_int_equal(coffer_age_x25519(s1, a, bpk), 0);
    assert_int_equal(coffer_age_x25519(s2, b, apk), 0);
    assert_hex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    assert_memory_equal(s1, s2, 32);
    /* low-order points give the all-zero secret: rejected, output zeroed */
    static const char *low[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    };
    for (size_t i = 0; i < 4; i++) {
        unhex(u, 32, low[i]);
        memset(out, 0xaa, 32);
        assert_int_equal(coffer_age_x25519(out, a, u), COFFER_ECRYPTO);
        assert_true(sodium_is_zero(out, 32));
    }
    /* keygen: a fresh pair whose public key is the secret's */
    uint8_t sk[32], pk[32], pk2[32], sk2[32];
    assert_int_equal(coffer_age_keygen(sk, pk), 0);
    assert_int_equal(coffer_age_public(sk, pk2), 0);
    assert_memory_equal(pk, pk2, 32);
    assert_int_equal(coffer_age_keygen(sk2, pk2), 0);
    assert_memory_not_equal(sk, sk2, 32);
}

/* ------------------------------------------------------------- key text */

#define TK_IDENTITY "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6"
/* age-keygen -y of TK_IDENTITY (age 1.1.1) */
#define TK_RECIPIENT "age1w3tyke4gev25vaxxsvcgqu4484rf6ejpmavs57p6yz6lhy2sfs5swrvwyn"

static void key_strings(void **state)
{
    (void)state;
    coffer_age_identity id;
    coffer_age_recipient r;
    coffer_error err;
    char buf[COFFER_AGE_IDENTITY_MAX];
    uint8_t pk[32];
    assert_int_equal(coffer_age_identity_parse(TK_IDENTITY,
                                               strlen(TK_IDENTITY), &id, &err),
                     0);
    assert_int_equal(id.kind, COFFER_AGE_X25519);
    assert_int_equal(coffer_age_identity_string(id.sk, buf, sizeof buf), 0);
    assert_string_equal(buf, TK_IDENTITY);
    assert_int_equal(coffer_age_public(id.sk, pk), 0);
    assert_int_equal(coffer_age_recipient_string(pk, buf, sizeof buf), 0);
    assert_string_equal(buf, TK_RECIPIENT);
    assert_int_equal(coffer_age_recipient_parse(TK_RECIPIENT,
                                                strlen(TK_RECIPIENT), &r, &err),
                     0);
    assert_int_equal(r.kind, COFFER_AGE_X25519);
    assert_memory_equal(r.pk, pk, 32);
    assert_int_equal(strlen(TK_RECIPIENT), 62);
    assert_true(strlen(TK_IDENTITY) < COFFER_AGE_IDENTITY_MAX);

    /* recipients: lower-case "age" only, 32 bytes, valid checksum */
    char bad[128];
    static const char *bad_r[] = {
        "AGE1W3TYKE4GEV25VAXXSVCGQU4484RF6EJPMAVS57P6YZ6LHY2SFS5SWRVWYN",
        "age1w3tyke4gev25vaxxsvcgqu4484rf6ejpmavs57p6yz6lhy2sfs5swrvwym",
        "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0w2ssn",
        "ag1w3tyke4gev25vaxxsvcgqu4484rf6ejpmavs57p6yz6lhy2sfs5swrvwyn",
        "age1", "", "a12uel5l",
        TK_IDENTITY, "age-secret-key-1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrw",
        "age1\x01",
    };
    for (size_t i = 0; i < sizeof bad_r / sizeof *bad_r; i++) {
        coffer_error_clear(&err);
        int rc = coffer_age_recipient_parse(bad_r[i], strlen(bad_r[i]), &r,
                                            &err);
        if (rc != COFFER_EINVAL)
            fail_msg("bad recipient #%zu: rc %d", i, rc);
        assert_non_null(strstr(err.message, "invalid age recipient"));
        assert_null(strstr(err.message, "XMWWC06"));
        assert_int_equal(r.kind, 0);
    }
    /* identities: upper-case only, and never quoted in the message */
    snprintf(bad, sizeof bad, "%s", TK_IDENTITY);
    for (char *p = bad; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    const char *bad_i[] = {
        bad, TK_RECIPIENT, "AGE-SECRET-KEY-1",
        "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F7",
        "AGE-PLUGIN-YUBIKEY-1QQQQQQQQQQQQQQQQ",
    };
    for (size_t i = 0; i < sizeof bad_i / sizeof *bad_i; i++) {
        coffer_error_clear(&err);
        memset(&id, 0x55, sizeof id);
        int rc = coffer_age_identity_parse(bad_i[i], strlen(bad_i[i]), &id,
                                           &err);
        if (rc != COFFER_EINVAL)
            fail_msg("bad identity #%zu: rc %d", i, rc);
        assert_null(strstr(err.message, "XMWWC06"));
        assert_null(strstr(err.message, "xmwwc06"));
        assert_true(sodium_is_zero((const unsigned char *)&id, sizeof id));
    }
    /* n bounds the string: a longer buffer with the key as prefix */
    assert_int_equal(coffer_age_identity_parse(TK_IDENTITY "\n",
                                               strlen(TK_IDENTITY), &id, &err),
                     0);
    assert_int_equal(coffer_age_identity_parse(TK_IDENTITY "\n",
                                               strlen(TK_IDENTITY) + 1, &id,
                                               &err), COFFER_EINVAL);
}

static void identity_files(void **state)
{
    (void)state;
    coffer_age_identity *ids = NULL;
    size_t n = 0;
    coffer_error err;
    uint8_t sk1[32], pk[32];
    char id2[COFFER_AGE_IDENTITY_MAX], text[1024];
    assert_int_equal(coffer_age_keygen(sk1, pk), 0);
    assert_int_equal(coffer_age_identity_string(sk1, id2, sizeof id2), 0);
    /* age-keygen's layout, a blank line, CRLF, a second key, no final EOL */
    int len = snprintf(text, sizeof text,
                       "# created: 2026-12-04T20:00:00Z\n"
                       "# public key: %s\n%s\n\r\n"
                       "#AGE-SECRET-KEY-1 commented out\r\n%s",
                       TK_RECIPIENT, TK_IDENTITY, id2);
    assert_int_equal(coffer_age_identities_parse(text, (size_t)len, &ids, &n,
                                                 &err), 0);
    assert_int_equal(n, 2);
    char back[COFFER_AGE_IDENTITY_MAX];
    coffer_age_identity_string(ids[0].sk, back, sizeof back);
    assert_string_equal(back, TK_IDENTITY);
    assert_memory_equal(ids[1].sk, sk1, 32);
    assert_int_equal(ids[1].kind, COFFER_AGE_X25519);
    coffer_age_identities_free(ids, n);

    /* a bad line: its number, no key text */
    len = snprintf(text, sizeof text, "# c\n%s\n\n%sx\n", TK_IDENTITY, id2);
    ids = (void *)1;
    assert_int_equal(coffer_age_identities_parse(text, (size_t)len, &ids, &n,
                                                 &err), COFFER_EINVAL);
    assert_int_equal(err.line, 4);
    assert_null(ids);
    assert_int_equal(n, 0);
    assert_null(strstr(err.message, id2 + 16));
    /* leading whitespace is not age's format either */
    len = snprintf(text, sizeof text, " %s\n", TK_IDENTITY);
    assert_int_equal(coffer_age_identities_parse(text, (size_t)len, &ids, &n,
                                                 &err), COFFER_EINVAL);
    assert_int_equal(err.line, 1);
    /* plugin identities are named as such */
    len = snprintf(text, sizeof text, "AGE-PLUGIN-YUBIKEY-1QQQQQQ\n");
    assert_int_equal(coffer_age_identities_parse(text, (size_t)len, &ids, &n,
                                                 &err), COFFER_EINVAL);
    assert_non_null(strstr(err.message, "plugin"));
    /* nothing but comments */
    assert_int_equal(coffer_age_identities_parse("# x\n\n", 5, &ids, &n, &err),
                     COFFER_EINVAL);
    assert_non_null(strstr(err.message, "no age identity"));
    assert_int_equal(coffer_age_identities_parse("", 0, &ids, &n, &err),
                     COFFER_EINVAL);
}

/* ------------------------------------------------------- testkit vectors */

typedef struct vector {
    char expect[32];
    char payload[65];
    char filekey[33];
    char identity[4][100];
    size_t nidentity;
    char passphrase[4][64];
    size_t npass;
    int armored, header_only;
    const char *body;
    size_t bodylen;
} vector;

static void parse_vector(char *text, size_t n, vector *v)
{
    memset(v, 0, sizeof *v);
    char *p = text, *end = text + n;
    for (;;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        *nl = '\0';
        if (p == nl) {
            p = nl + 1;
            break;
        }
        char *colon = strstr(p, ": ");
        assert_non_null(colon);
        *colon = '\0';
        const char *val = colon + 2;
        if (!strcmp(p, "expect"))
            snprintf(v->expect, sizeof v->expect, "%s", val);
        else if (!strcmp(p, "payload"))
            snprintf(v->payload, sizeof v->payload, "%s", val);
        else if (!strcmp(p, "file key"))
            snprintf(v->filekey, sizeof v->filekey, "%s", val);
        else if (!strcmp(p, "identity") && v->nidentity < 4)
            snprintf(v->identity[v->nidentity++], 100, "%s", val);
        else if (!strcmp(p, "passphrase") && v->npass < 4)
            snprintf(v->passphrase[v->npass++], 64, "%s", val);
        else if (!strcmp(p, "armored"))
            v->armored = !strcmp(val, "yes");
        else if (!strcmp(p, "coffer-note") && strstr(val, "header only"))
            v->header_only = 1;
        p = nl + 1;
    }
    v->body = p;
    v->bodylen = (size_t)(end - p);
}

static size_t vector_identities(const vector *v, coffer_age_identity *ids)
{
    size_t n = 0;
    coffer_error err;
    for (size_t i = 0; i < v->nidentity; i++)
        assert_int_equal(coffer_age_identity_parse(v->identity[i],
                                                   strlen(v->identity[i]),
                                                   &ids[n++], &err), 0);
    for (size_t i = 0; i < v->npass; i++) {
        memset(&ids[n], 0, sizeof ids[n]);
        ids[n].kind = COFFER_AGE_SCRYPT;
        ids[n].passphrase = v->passphrase[i];
        ids[n].passlen = strlen(v->passphrase[i]);
        n++;
    }
    return n;
}

static void run_vector(const char *name, vector *v)
{
    coffer_age_identity ids[8];
    size_t nids = vector_identities(v, ids);
    int success = !strcmp(v->expect, "success");
    coffer_error err;
    int rc;
    if (v->header_only) {
        uint8_t fk[16], want[16];
        size_t off = 0;
        coffer_error_clear(&err);
        rc = coffer_age_decrypt_header(ids, nids, (const uint8_t *)v->body,
                                       v->bodylen, fk, &off, &err);
        if (success) {
            if (rc != 0)
                fail_msg("%s: %s", name, err.message);
            unhex(want, 16, v->filekey);
            assert_memory_equal(fk, want, 16);
            assert_int_equal(off, v->bodylen); /* the payload is not here */
        } else if (rc == 0) {
            fail_msg("%s: accepted, expected %s", name, v->expect);
        }
    } else {
        uint8_t out[4096];
        size_t outlen = 0;
        rc = try_decrypt(ids, nids, v->body, v->bodylen, out, sizeof out,
                         &outlen, &err);
        if (success) {
            if (rc != 0)
                fail_msg("%s: %s", name, err.message);
            uint8_t h[32];
            crypto_hash_sha256(h, out, outlen);
            assert_hex(h, 32, v->payload);
        } else if (rc == 0) {
            fail_msg("%s: accepted, expected %s", name, v->expect);
        }
    }
    if (!success) {
        assert_int_equal(rc, COFFER_ECRYPTO);
        if (!strcmp(v->expect, "no match"))
            assert_non_null(strstr(err.message, "no identity matches"));
        if (!strcmp(v->expect, "armor failure"))
            assert_true(strstr(err.message, "armor") ||
                        strstr(err.message, "not an age file"));
    }
    sodium_memzero(ids, sizeof ids);
}

static void testkit_vectors(void **state)
{
    (void)state;
    char dir[4096], path[4400];
    DIR *d = opendir(vector_dir(dir, sizeof dir));
    assert_non_null(d);
    struct dirent *e;
    size_t count = 0, successes = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "README.md"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t n = 0;
        char *text = read_all(path, &n);
        assert_non_null(text);
        vector v;
        parse_vector(text, n, &v);
        run_vector(e->d_name, &v);
        successes += !strcmp(v.expect, "success");
        free(text);
        count++;
    }
    closedir(d);
    assert_true(count >= 30);
    assert_true(successes >= 8);
}

#define TK_FILE_KEY "59454c4c4f57205355424d4152494e45"

/* A binary age file (header only) with one scrypt stanza: the arguments
 * given, the body of the testkit's scrypt_double ("password", log_n 10),
 * and a MAC made here with the testkit's file key. Returns its length. */
static size_t scrypt_file(const char *args, char *file, size_t cap)
{
    uint8_t fk[16], key[32], mac[32];
    char head[256], b64[64];
    unhex(fk, 16, TK_FILE_KEY);
    assert_int_equal(coffer_hkdf_sha256(key, 32, NULL, 0, fk, 16,
                                        (const uint8_t *)"header", 6), 0);
    snprintf(head, sizeof head, "age-encryption.org/v1\n-> scrypt %s\n"
             "gUjEymFKMVXQEKdMMHL24oYexjE3TIC0O0zGSqJ2aUY\n---", args);
    crypto_auth_hmacsha256(mac, (uint8_t *)head, strlen(head), key);
    sodium_bin2base64(b64, sizeof b64, mac, 32,
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    int n = snprintf(file, cap, "%s %s\n", head, b64);
    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

/* That stanza alone: the unwrap is a known answer for scrypt with age's
 * salt label. */
static void scrypt_testkit_stanza(void **state)
{
    (void)state;
    uint8_t fk[16], got[16];
    char file[320];
    size_t n = scrypt_file("rF0/NwblUHHTpgQgRpe5CQ 10", file, sizeof file);
    coffer_age_identity id = {.kind = COFFER_AGE_SCRYPT,
                              .passphrase = "password", .passlen = 8};
    size_t off;
    coffer_error err;
    unhex(fk, 16, TK_FILE_KEY);
    assert_int_equal(coffer_age_decrypt_header(&id, 1, (uint8_t *)file, n,
                                               got, &off, &err), 0);
    assert_memory_equal(got, fk, 16);
    id.passphrase = "hunter2";
    id.passlen = 7;
    assert_int_equal(coffer_age_decrypt_header(&id, 1, (uint8_t *)file, n,
                                               got, &off, &err),
                     COFFER_ECRYPTO);
    assert_non_null(strstr(err.message, "wrong passphrase"));
}

/* ----------------------------------------------------------- round trips */

static void roundtrip_x25519(void **state)
{
    (void)state;
    coffer_age_identity id[3];
    coffer_age_recipient r[3];
    for (int i = 0; i < 3; i++)
        keypair(&id[i], &r[i]);
    static const size_t sizes[] = {0, 1, 32, 65535, 65536, 65537, 131072,
                                   200000};
    uint8_t *msg = malloc(200000), *out = malloc(200001);
    assert_non_null(msg);
    assert_non_null(out);
    randombytes_buf(msg, 200000);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t len = sizes[s], outlen, n;
        coffer_error err;
        char *arm = NULL;
        /* armored to two of three recipients */
        assert_int_equal(coffer_age_encrypt(r, 2, msg, len, &arm, &n, &err), 0);
        assert_int_equal(strlen(arm), n);
        assert_memory_equal(arm, "-----BEGIN AGE ENCRYPTED FILE-----\n", 35);
        assert_string_equal(arm + n - 33, "-----END AGE ENCRYPTED FILE-----\n");
        for (int i = 0; i < 2; i++) {
            assert_int_equal(try_decrypt(&id[i], 1, arm, n, out, len, &outlen,
                                         &err), 0);
            assert_int_equal(outlen, len);
            assert_memory_equal(out, msg, len);
        }
        /* the third identity alone does not match; with others it does */
        assert_fails(&id[2], 1, arm, n, "no identity matches");
        coffer_age_identity two[2] = {id[2], id[1]};
        assert_int_equal(try_decrypt(two, 2, arm, n, out, len, &outlen, &err),
                         0);
        free(arm);
        /* binary */
        uint8_t *bin = encrypt_bin(&r[2], 1, msg, len, &n);
        size_t chunks = len ? (len + 65535) / 65536 : 1;
        assert_int_equal(n, 22 + 98 + 48 + 16 + len + 16 * chunks);
        assert_int_equal(try_decrypt(&id[2], 1, bin, n, out, len + 1, &outlen,
                                     &err), 0);
        assert_int_equal(outlen, len);
        assert_memory_equal(out, msg, len);
        free(bin);
    }
    free(msg);
    free(out);
}

static void roundtrip_scrypt(void **state)
{
    (void)state;
    coffer_age_recipient r = {.kind = COFFER_AGE_SCRYPT,
                              .passphrase = "correct horse", .passlen = 13,
                              .log_n = 10};
    coffer_age_identity id = {.kind = COFFER_AGE_SCRYPT,
                              .passphrase = "correct horse", .passlen = 13};
    char *arm;
    size_t n, outlen;
    uint8_t out[64];
    coffer_error err;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"data key", 8,
                                        &arm, &n, &err), 0);
    assert_int_equal(try_decrypt(&id, 1, arm, n, out, sizeof out, &outlen,
                                 &err), 0);
    assert_int_equal(outlen, 8);
    assert_memory_equal(out, "data key", 8);
    /* wrong passphrase; an X25519 identity does not match at all */
    id.passphrase = "correct horsf";
    assert_fails(&id, 1, arm, n, "wrong passphrase");
    coffer_age_identity x;
    coffer_age_recipient xr;
    keypair(&x, &xr);
    assert_fails(&x, 1, arm, n, "no identity matches");
    free(arm);

    /* the work factor limit: default 22, or the identity's */
    r.log_n = 12;
    id.passphrase = "correct horse";
    id.max_log_n = 11;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), 0);
    assert_fails(&id, 1, arm, n, "work factor 12 exceeds the limit of 11");
    id.max_log_n = 12;
    assert_int_equal(try_decrypt(&id, 1, arm, n, out, sizeof out, &outlen,
                                 &err), 0);
    free(arm);

    /* a passphrase recipient must be alone; work factors in range */
    coffer_age_recipient two[2] = {r, xr};
    assert_int_equal(coffer_age_encrypt(two, 2, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_EINVAL);
    assert_null(arm);
    two[0] = xr;
    two[1] = r;
    assert_int_equal(coffer_age_encrypt(two, 2, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_EINVAL);
    r.log_n = 31;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_EINVAL);
    r.log_n = -1;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_EINVAL);
}

/* scrypt stanza arguments: only the accepted form opens. */
static void scrypt_stanza_text(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        const char *msg;
    } cases[] = {
        {"rF0/NwblUHHTpgQgRpe5CQ 10", NULL},
        {"rF0/NwblUHHTpgQgRpe5CQ 010", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ +10", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ 0xa", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ 0", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ -10", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ 10 10", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CR 10", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5 10", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQAA 10", "malformed age scrypt stanza"},
        {"rF0/NwblUHHTpgQgRpe5CQ 99", "work factor 99 exceeds"},
        {"rF0/NwblUHHTpgQgRpe5CQ 23", "work factor 23 exceeds the limit of 22"},
    };
    uint8_t got[16];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char file[320];
        size_t n = scrypt_file(cases[i].arg, file, sizeof file);
        coffer_age_identity id = {.kind = COFFER_AGE_SCRYPT,
                                  .passphrase = "password", .passlen = 8};
        size_t off;
        coffer_error err;
        coffer_error_clear(&err);
        int rc = coffer_age_decrypt_header(&id, 1, (uint8_t *)file, n, got,
                                           &off, &err);
        if (!cases[i].msg) {
            assert_int_equal(rc, 0);
            continue;
        }
        if (rc != COFFER_ECRYPTO || !strstr(err.message, cases[i].msg))
            fail_msg("scrypt '%s': rc %d '%s'", cases[i].arg, rc, err.message);
    }
}

/* ------------------------------------------------------ malformed input */

static void every_bit_flip_fails(void **state)
{
    (void)state;
    coffer_age_identity id;
    coffer_age_recipient r[2];
    keypair(&id, &r[0]);
    coffer_age_identity other;
    keypair(&other, &r[1]);
    size_t n;
    uint8_t *bin = encrypt_bin(r, 2, "attack at dawn", 14, &n);
    uint8_t *copy = malloc(n);
    assert_non_null(copy);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++) {
            memcpy(copy, bin, n);
            copy[i] ^= (uint8_t)(1u << b);
            uint8_t out[64];
            size_t outlen = 99;
            coffer_error err;
            int rc = try_decrypt(&id, 1, copy, n, out, sizeof out, &outlen,
                                 &err);
            if (rc == 0)
                fail_msg("bit %d of byte %zu flipped: accepted", b, i);
            assert_int_equal(outlen, 0);
        }
    /* each part of the file names its failure */
    const char *hdr = (const char *)bin;
    size_t mac_at = (size_t)(strstr(hdr, "\n--- ") - hdr) + 5;
    size_t payload_at = mac_at + 44;
    struct {
        size_t at;
        const char *msg;
    } where[] = {
        {1, "not an age file"},
        {34, "no identity matches"},         /* our stanza's share */
        {60, "no identity matches"},         /* its body */
        {mac_at + 3, "header mac does not match"},
        {payload_at + 3, "chunk 1 fails authentication"}, /* nonce */
        {n - 1, "chunk 1 fails authentication"},           /* tag */
    };
    for (size_t k = 0; k < sizeof where / sizeof *where; k++) {
        memcpy(copy, bin, n);
        /* text: another base64 digit (never the last of a key); bytes: a bit */
        if (where[k].at < payload_at)
            copy[where[k].at] = copy[where[k].at] == 'A' ? 'B' : 'A';
        else
            copy[where[k].at] ^= 0x01;
        assert_fails(&id, 1, copy, n, where[k].msg);
    }
    /* a flipped byte of the other recipient's stanza breaks the MAC */
    memcpy(copy, bin, n);
    copy[22 + 98 + 20] ^= 0x01;
    assert_fails(&id, 1, copy, n, "header mac does not match");
    free(copy);
    free(bin);
}

static void truncated_and_trailing(void **state)
{
    (void)state;
    coffer_age_identity id;
    coffer_age_recipient r;
    uint8_t *msg;
    size_t n;
    uint8_t *bin = sealed_zeros(&id, &r, 70000, &msg, &n);
    /* every prefix fails */
    for (size_t len = 0; len < n; len += (len < 300 ? 1 : 997))
        assert_fails(&id, 1, bin, len, NULL);
    size_t hlen = 22 + 98 + 48;
    assert_fails(&id, 1, bin, hlen - 1, "mac line");
    assert_fails(&id, 1, bin, hlen, "no nonce");
    assert_fails(&id, 1, bin, hlen + 16, "no chunk");
    assert_fails(&id, 1, bin, hlen + 16 + 15, "short chunk");
    /* cut right after the first (full, non-final) chunk */
    assert_fails(&id, 1, bin, hlen + 16 + 65536 + 16, "chunk 1 fails");
    assert_fails(&id, 1, bin, n - 1, "chunk 2 fails");
    /* trailing garbage after the last chunk */
    uint8_t *more = malloc(n + 20);
    assert_non_null(more);
    memcpy(more, bin, n);
    memset(more + n, 'x', 20);
    assert_fails(&id, 1, more, n + 1, NULL);
    assert_fails(&id, 1, more, n + 17, NULL);
    free(more);
    free(bin);

    /* armored: trailing garbage, missing end, a line cut */
    char *arm;
    coffer_error err;
    assert_int_equal(coffer_age_encrypt(&r, 1, msg, 100, &arm, &n, &err), 0);
    char *buf = malloc(n + 32);
    assert_non_null(buf);
    memcpy(buf, arm, n);
    memcpy(buf + n, "garbage\n", 8);
    assert_fails(&id, 1, buf, n + 8, "trailing data after the age armor");
    memcpy(buf + n, " \t\r\n\n", 5);
    uint8_t out[128];
    size_t outlen;
    assert_int_equal(try_decrypt(&id, 1, buf, n + 5, out, sizeof out, &outlen,
                                 &err), 0);
    assert_fails(&id, 1, arm, n - 33, "no end line");
    assert_fails(&id, 1, arm, n - 40, NULL);
    free(buf);
    free(arm);
    free(msg);
}

/* Payloads made here from the file key: an empty final chunk after a
 * full one is refused, a full final chunk is fine. */
static void empty_last_chunk(void **state)
{
    (void)state;
    coffer_age_identity id;
    coffer_age_recipient r;
    uint8_t *msg;
    size_t n, off;
    uint8_t *bin = sealed_zeros(&id, &r, 65536, &msg, &n);
    uint8_t fk[16], key[32], nonce[12] = {0};
    coffer_error err;
    assert_int_equal(coffer_age_decrypt_header(&id, 1, bin, n, fk, &off, &err),
                     0);
    assert_int_equal(n, off + 16 + 65536 + 16);
    assert_int_equal(coffer_hkdf_sha256(key, 32, bin + off, 16, fk, 16,
                                        (const uint8_t *)"payload", 7), 0);
    uint8_t *f = malloc(off + 16 + 2 * (65536 + 16));
    assert_non_null(f);
    memcpy(f, bin, off + 16);
    /* chunk 0 not final, chunk 1 empty and final */
    crypto_aead_chacha20poly1305_ietf_encrypt(f + off + 16, NULL, msg, 65536,
                                              NULL, 0, NULL, nonce, key);
    nonce[10] = 1;
    nonce[11] = 1;
    crypto_aead_chacha20poly1305_ietf_encrypt(f + off + 16 + 65552, NULL, msg,
                                              0, NULL, 0, NULL, nonce, key);
    assert_fails(&id, 1, f, off + 16 + 65552 + 16, "empty chunk");
    /* the same chunk 0 alone, final flag missing */
    assert_fails(&id, 1, f, off + 16 + 65552, "chunk 1 fails");
    /* one chunk, empty and final: the empty payload */
    memset(nonce, 0, sizeof nonce);
    nonce[11] = 1;
    crypto_aead_chacha20poly1305_ietf_encrypt(f + off + 16, NULL, msg, 0, NULL,
                                              0, NULL, nonce, key);
    uint8_t out[1];
    size_t outlen = 5;
    assert_int_equal(try_decrypt(&id, 1, f, off + 32, out, 0, &outlen, &err),
                     0);
    assert_int_equal(outlen, 0);
    sodium_memzero(fk, sizeof fk);
    sodium_memzero(key, sizeof key);
    free(f);
    free(bin);
    free(msg);
}

/* Header text edits: every one is rejected with a header error. */
static void header_syntax(void **state)
{
    (void)state;
    coffer_age_identity id;
    coffer_age_recipient r;
    keypair(&id, &r);
    size_t n;
    uint8_t *bin = encrypt_bin(&r, 1, "k", 1, &n);
    const char *h = (const char *)bin;
    /* "age-encryption.org/v1\n-> X25519 <43>\n<43>\n--- <43>\n" */
    const char *share = h + 22 + 10, *body = share + 44, *mac = body + 48;
    assert_memory_equal(body - 1, "\n", 1);
    assert_memory_equal(mac - 4, "--- ", 4);
    struct {
        const char *find;   /* replaced at its first occurrence */
        size_t at;          /* or at this offset (find NULL) */
        const char *with;
        size_t del;
        const char *msg;
    } edits[] = {
        {"age-encryption.org/v1", 0, "age-encryption.org/v2", 21,
         "unsupported age version"},
        {"-> X25519", 0, "->  X25519", 9, "empty argument"},
        {"-> X25519", 0, "-> X25519\t", 9, "invalid character"},
        {"-> X25519", 0, "->X25519", 9, "malformed age header line"},
        {"-> X25519", 0, "-> X25519 extra", 9, "malformed age X25519 stanza"},
        /* share at 32..74, body at 76..118, "--- " at 120 */
        {NULL, 31, "", 44, "malformed age X25519 stanza"},   /* no share */
        {NULL, 74, "A", 0, "malformed age X25519 stanza"},
        {NULL, 74, "=", 0, "malformed age X25519 stanza"},
        {NULL, 74, "\x7f", 0, "invalid character"},
        {NULL, 75, "", 44, "not canonical base64"},             /* no body */
        {NULL, 76, "AAAAAAAAAAAAAAAAAAAAAA", 0, "longer than 64 columns"},
        {NULL, 119, "\n", 0, "malformed age header line"},     /* extra line */
        {NULL, 76, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
         0, "malformed age X25519 stanza body"},
        {NULL, 119, "=", 0, "not canonical base64"},
        {NULL, 118, "\xc1", 0, "not canonical base64"},        /* non-ASCII */
        {NULL, 130, "\xd1", 0, "mac line"},
        {"--- ", 0, "---  ", 4, "mac line"},
        {"--- ", 0, "---", 4, "mac line"},
        {"--- ", 0, "-- ", 4, "malformed age header line"},
        {"--- ", 0, "x\n--- ", 4, "malformed age header line"},
    };
    for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
        size_t at = edits[k].at;
        if (edits[k].find) {
            const char *f = strstr(h, edits[k].find);
            assert_non_null(f);
            at = (size_t)(f - h);
        }
        size_t wl = strlen(edits[k].with);
        uint8_t *e = malloc(n + wl);
        assert_non_null(e);
        memcpy(e, bin, at);
        memcpy(e + at, edits[k].with, wl);
        memcpy(e + at + wl, bin + at + edits[k].del, n - at - edits[k].del);
        assert_fails(&id, 1, e, n + wl - edits[k].del, edits[k].msg);
        free(e);
    }
    /* no stanza at all */
    static const char nostanza[] = "age-encryption.org/v1\n--- "
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n";
    assert_fails(&id, 1, nostanza, sizeof nostanza - 1, "no recipient stanza");
    /* not age at all, an empty input, no identities */
    assert_fails(&id, 1, "hello\n", 6, "not an age file");
    assert_fails(&id, 1, "", 0, "not an age file");
    assert_fails(NULL, 0, bin, n, "no identity");
    free(bin);
}

static void low_order_recipient(void **state)
{
    (void)state;
    coffer_age_recipient r = {.kind = COFFER_AGE_X25519};
    char *arm = (char *)1;
    size_t n;
    coffer_error err;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_ECRYPTO);
    assert_null(arm);
    assert_non_null(strstr(err.message, "low-order"));
    assert_int_equal(coffer_age_encrypt(&r, 0, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_EINVAL);
    r.kind = 7;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"k", 1, &arm,
                                        &n, &err), COFFER_EINVAL);
}

static void output_buffer_limit(void **state)
{
    (void)state;
    coffer_age_identity id;
    coffer_age_recipient r;
    keypair(&id, &r);
    char *arm;
    size_t n, outlen = 7;
    coffer_error err;
    assert_int_equal(coffer_age_encrypt(&r, 1, (const uint8_t *)"0123456789",
                                        10, &arm, &n, &err), 0);
    uint8_t out[16];
    memset(out, 0xee, sizeof out);
    assert_int_equal(coffer_age_decrypt(&id, 1, arm, n, out, 9, &outlen, &err),
                     COFFER_ELIMIT);
    assert_int_equal(outlen, 0);
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xee);
    assert_int_equal(coffer_age_decrypt(&id, 1, arm, n, out, 10, &outlen,
                                        &err), 0);
    assert_int_equal(outlen, 10);
    free(arm);
}

/* ------------------------------------------------------------- hygiene */

static void secure_buffers(void **state)
{
    (void)state;
    const coffer_allocator *a = coffer_allocator_secure();
    coffer_age_identity *id = a->alloc(a->ctx, sizeof *id);
    uint8_t *msg = a->alloc(a->ctx, 32), *out = a->alloc(a->ctx, 32);
    assert_non_null(id);
    assert_non_null(msg);
    assert_non_null(out);
    coffer_age_recipient r;
    memset(id, 0, sizeof *id);
    id->kind = COFFER_AGE_X25519;
    assert_int_equal(coffer_age_keygen(id->sk, r.pk), 0);
    r.kind = COFFER_AGE_X25519;
    randombytes_buf(msg, 32);
    char *arm;
    size_t n, outlen;
    coffer_error err;
    assert_int_equal(coffer_age_encrypt(&r, 1, msg, 32, &arm, &n, &err), 0);
    assert_null(memmem(arm, n, msg, 32));
    assert_int_equal(coffer_age_decrypt(id, 1, arm, n, out, 32, &outlen, &err),
                     0);
    assert_memory_equal(out, msg, 32);
    /* a wrong identity leaves the output untouched */
    memset(out, 0, 32);
    randombytes_buf(id->sk, 32);
    assert_int_equal(coffer_age_decrypt(id, 1, arm, n, out, 32, &outlen, &err),
                     COFFER_ECRYPTO);
    assert_true(sodium_is_zero(out, 32));
    free(arm);
    a->release(a->ctx, id, sizeof *id);
    a->release(a->ctx, msg, 32);
    a->release(a->ctx, out, 32);
}

/* Looks for needle in the stack below the caller's frame, where the frames
 * of the age calls just made were. */
static __attribute__((noinline)) int stack_holds(const uint8_t *needle,
                                                 size_t n)
{
    volatile unsigned char probe[48 * 1024];
    /* the probe is left as the earlier frames left it: tell the compiler
     * its bytes may have been set */
    __asm__ volatile("" : : "r"(probe) : "memory");
    for (size_t i = 0; i + n <= sizeof probe; i++) {
        size_t k = 0;
        while (k < n && probe[i + k] == needle[k])
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}

static __attribute__((noinline)) void age_calls(const coffer_age_identity *id,
                                                const coffer_age_recipient *r,
                                                const uint8_t *msg, size_t len,
                                                uint8_t *out)
{
    char *arm;
    size_t n, outlen;
    coffer_error err;
    assert_int_equal(coffer_age_encrypt(r, 1, msg, len, &arm, &n, &err), 0);
    assert_int_equal(coffer_age_decrypt(id, 1, arm, n, out, len, &outlen,
                                        &err), 0);
    free(arm);
}

static void no_secret_left_on_stack(void **state)
{
    (void)state;
    const char *mode = getenv("SUITES");
    if (mode && strcmp(mode, "all") != 0)
        skip(); /* reads dead stack: meaningless under valgrind/tsan */
    coffer_age_identity id;
    coffer_age_recipient r;
    keypair(&id, &r);
    /* the message: a canary of odd length (a partial ChaCha20 block) */
    static const uint8_t canary[] = "coffer-canary-0123456789-abcdefghijk";
    uint8_t out[sizeof canary];
    /* file key and derived keys of one file, found with the header API */
    char *arm;
    size_t n, outlen, off;
    coffer_error err;
    uint8_t *bin = encrypt_bin(&r, 1, canary, sizeof canary, &n);
    uint8_t fk[16], mac_key[32], payload_key[32];
    assert_int_equal(coffer_age_decrypt_header(&id, 1, bin, n, fk, &off, &err),
                     0);
    coffer_hkdf_sha256(mac_key, 32, NULL, 0, fk, 16, (const uint8_t *)"header",
                       6);
    coffer_hkdf_sha256(payload_key, 32, bin + off, 16, fk, 16,
                       (const uint8_t *)"payload", 7);
    /* scrub what the set-up left, then decrypt this file and others */
    (void)stack_holds(canary, 1);
    {
        volatile unsigned char scrub[48 * 1024];
        for (size_t i = 0; i < sizeof scrub; i++)
            scrub[i] = 0;
    }
    assert_int_equal(coffer_age_decrypt(&id, 1, (char *)bin, n, out,
                                        sizeof out, &outlen, &err), 0);
    age_calls(&id, &r, canary, sizeof canary, out);
    assert_false(stack_holds(fk, sizeof fk));
    assert_false(stack_holds(mac_key, 16));
    assert_false(stack_holds(payload_key, 16));
    assert_false(stack_holds(id.sk, 16));
    assert_false(stack_holds(canary, 16));
    (void)arm;
    sodium_memzero(fk, sizeof fk);
    sodium_memzero(mac_key, sizeof mac_key);
    sodium_memzero(payload_key, sizeof payload_key);
    free(bin);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hkdf_rfc5869),
        cmocka_unit_test(bech32_bip173_valid),
        cmocka_unit_test(bech32_bip173_invalid),
        cmocka_unit_test(x25519_rfc7748),
        cmocka_unit_test(key_strings),
        cmocka_unit_test(identity_files),
        cmocka_unit_test(testkit_vectors),
        cmocka_unit_test(scrypt_testkit_stanza),
        cmocka_unit_test(roundtrip_x25519),
        cmocka_unit_test(roundtrip_scrypt),
        cmocka_unit_test(scrypt_stanza_text),
        cmocka_unit_test(every_bit_flip_fails),
        cmocka_unit_test(truncated_and_trailing),
        cmocka_unit_test(empty_last_chunk),
        cmocka_unit_test(header_syntax),
        cmocka_unit_test(low_order_recipient),
        cmocka_unit_test(output_buffer_limit),
        cmocka_unit_test(secure_buffers),
        cmocka_unit_test(no_secret_left_on_stack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
