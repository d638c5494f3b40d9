/* crypt.c - per-value encryption: ENC strings, the [coffer] metadata, the
 * file MAC, identities, and the decrypting load hook. See crypt.h and
 * docs/SECURITY.md ("Encrypted files") for the format. */
#include "store/crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VALUE_INFO "coffer:v1 value key"
#define MAC_INFO "coffer:v1 mac key"
#define MAC_DOMAIN "coffer:v1"

/* ------------------------------------------------------------- types */

static const struct {
    coffer_type t;
    const char *name;
} type_names[] = {
    { COFFER_TYPE_STRING, "string" },
    { COFFER_TYPE_INTEGER, "integer" },
    { COFFER_TYPE_FLOAT, "float" },
    { COFFER_TYPE_BOOL, "boolean" },
    { COFFER_TYPE_DATETIME, "datetime" },
    { COFFER_TYPE_DATETIME_LOCAL, "datetime-local" },
    { COFFER_TYPE_DATE_LOCAL, "date-local" },
    { COFFER_TYPE_TIME_LOCAL, "time-local" },
};

const char *coffer_crypt_type_name(coffer_type t)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].t == t)
            return type_names[i].name;
    return NULL;
}

coffer_type coffer_crypt_type_parse(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (strlen(type_names[i].name) == n &&
            memcmp(type_names[i].name, s, n) == 0)
            return type_names[i].t;
    return COFFER_TYPE_NONE;
}

bool coffer_crypt_is_enc(const char *s, size_t n)
{
    return n > COFFER_CRYPT_PREFIX_LEN + 1 &&
           memcmp(s, COFFER_CRYPT_PREFIX, COFFER_CRYPT_PREFIX_LEN) == 0 &&
           s[n - 1] == ']';
}

/* Splits an ENC string into its type and base64 payload. */
static bool enc_split(const char *s, size_t n, coffer_type *type,
                      const char **b64, size_t *b64len)
{
    if (!coffer_crypt_is_enc(s, n))
        return false;
    const char *t = s + COFFER_CRYPT_PREFIX_LEN, *end = s + n - 1;
    const char *comma = memchr(t, ',', (size_t)(end - t));
    if (!comma)
        return false;
    *type = coffer_crypt_type_parse(t, (size_t)(comma - t));
    *b64 = comma + 1;
    *b64len = (size_t)(end - *b64);
    return *type != COFFER_TYPE_NONE;
}

coffer_type coffer_crypt_enc_type(const char *s, size_t n)
{
    coffer_type t;
    const char *b;
    size_t bl;
    return enc_split(s, n, &t, &b, &bl) ? t : COFFER_TYPE_NONE;
}

/* ------------------------------------------------------------- keys */

static int derive(const uint8_t key[32], const char *info, uint8_t out[32])
{
    /* the empty salt of the spec: HashLen zero bytes (RFC 5869, 2.2) */
    static const uint8_t zero_salt[32];
    return coffer_hkdf_sha256(out, 32, zero_salt, sizeof zero_salt, key, 32,
                              (const uint8_t *)info, strlen(info));
}

/* AD = "coffer:v1,<type>,<path>" */
static unsigned char *make_ad(const char *tname, const char *path,
                              size_t pathlen, size_t *adlen)
{
    size_t tl = strlen(tname);
    size_t n = 10 + tl + 1 + pathlen;
    unsigned char *ad = malloc(n);
    if (!ad)
        return NULL;
    memcpy(ad, "coffer:v1,", 10);
    memcpy(ad + 10, tname, tl);
    ad[10 + tl] = ',';
    memcpy(ad + 11 + tl, path, pathlen);
    *adlen = n;
    return ad;
}

int coffer_crypt_seal(const uint8_t key[32], coffer_type type,
                      const char *path, size_t pathlen, const uint8_t *pt,
                      size_t ptlen, char **out, size_t *outlen)
{
    const char *tname = coffer_crypt_type_name(type);
    if (!tname)
        return COFFER_EINVAL;
    if (ptlen > (size_t)UINT32_MAX)
        return COFFER_ELIMIT;
    uint8_t vk[32];
    if (derive(key, VALUE_INFO, vk) != 0)
        return COFFER_ECRYPTO;
    size_t adlen;
    unsigned char *ad = make_ad(tname, path, pathlen, &adlen);
    size_t blen = COFFER_CRYPT_NONCE + ptlen + COFFER_CRYPT_TAG;
    unsigned char *bin = malloc(blen);
    size_t b64cap = sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = COFFER_CRYPT_PREFIX_LEN + strlen(tname) + 1 + b64cap + 2;
    char *s = malloc(cap);
    if (!ad || !bin || !s) {
        sodium_memzero(vk, sizeof vk);
        free(ad);
        free(bin);
        free(s);
        return COFFER_ENOMEM;
    }
    randombytes_buf(bin, COFFER_CRYPT_NONCE);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(bin + COFFER_CRYPT_NONCE, &clen,
                                               pt, ptlen, ad, adlen, NULL,
                                               bin, vk);
    sodium_memzero(vk, sizeof vk);
    int k = snprintf(s, cap, "%s%s,", COFFER_CRYPT_PREFIX, tname);
    sodium_bin2base64(s + k, cap - (size_t)k, bin, blen,
                      sodium_base64_VARIANT_ORIGINAL);
    size_t n = strlen(s);
    s[n++] = ']';
    s[n] = '\0';
    free(ad);
    free(bin);
    *out = s;
    *outlen = n;
    return 0;
}

size_t coffer_crypt_open_max(const char *enc, size_t n)
{
    coffer_type t;
    const char *b;
    size_t bl;
    if (!enc_split(enc, n, &t, &b, &bl))
        return 0;
    size_t bin = bl / 4 * 3;
    return bin > COFFER_CRYPT_NONCE + COFFER_CRYPT_TAG
               ? bin - COFFER_CRYPT_NONCE - COFFER_CRYPT_TAG
               : 0;
}

int coffer_crypt_open(const uint8_t key[32], const char *path, size_t pathlen,
                      const char *enc, size_t n, uint8_t *pt, size_t cap,
                      size_t *ptlen, coffer_type *type, const char *file,
                      coffer_error *err)
{
    coffer_type t;
    const char *b64;
    size_t bl;
    if (!enc_split(enc, n, &t, &b64, &bl))
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "encrypted value '%.120s' in '%s' is malformed",
                                path, file);
    size_t bincap = bl / 4 * 3 + 3;
    unsigned char stackbuf[512];
    unsigned char *bin = bincap <= sizeof stackbuf ? stackbuf : malloc(bincap);
    if (!bin)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    size_t blen = 0;
    int rc = 0;
    if (sodium_base642bin(bin, bincap, b64, bl, NULL, &blen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        blen < COFFER_CRYPT_NONCE + COFFER_CRYPT_TAG) {
        rc = coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                              "encrypted value '%.120s' in '%s' is malformed",
                              path, file);
        goto out;
    }
    size_t plen = blen - COFFER_CRYPT_NONCE - COFFER_CRYPT_TAG;
    if (plen > cap) {
        rc = coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                              "encrypted value '%.120s' in '%s' is too large",
                              path, file);
        goto out;
    }
    uint8_t vk[32];
    size_t adlen;
    unsigned char *ad = make_ad(coffer_crypt_type_name(t), path, pathlen, &adlen);
    if (!ad || derive(key, VALUE_INFO, vk) != 0) {
        free(ad);
        rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    unsigned long long got;
    int bad = crypto_aead_xchacha20poly1305_ietf_decrypt(
        pt, &got, NULL, bin + COFFER_CRYPT_NONCE, blen - COFFER_CRYPT_NONCE,
        ad, adlen, bin, vk);
    sodium_memzero(vk, sizeof vk);
    free(ad);
    if (bad) {
        sodium_memzero(pt, plen);
        rc = coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                              "encrypted value '%.120s' in '%s' fails "
                              "authentication (tampered, or moved from another "
                              "key or file)",
                              path, file);
        goto out;
    }
    *ptlen = (size_t)got;
    if (type)
        *type = t;
out:
    if (bin != stackbuf)
        free(bin);
    return rc;
}

/* -------------------------------------------------------------- walk */

struct pathbuf {
    char *p;
    size_t len, cap;
};

static int pb_reserve(struct pathbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *np = realloc(b->p, cap); /* key names only, never values */
    if (!np)
        return COFFER_ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

static int walk_node(coffer_value *v, struct pathbuf *pb,
                     coffer_crypt_walk_fn fn, void *ctx, bool root)
{
    coffer_type t = coffer_value_type(v);
    if (t != COFFER_TYPE_TABLE && t != COFFER_TYPE_ARRAY)
        return fn(ctx, v, pb->p, pb->len);
    coffer_container *c = v->u.c;
    if (c->count == 0 && !root)
        return fn(ctx, v, pb->p, pb->len);
    size_t mark = pb->len;
    for (uint32_t i = 0; i < c->count; i++) {
        coffer_value *m = &c->items[i];
        int rc;
        if (t == COFFER_TYPE_TABLE) {
            if (root && m->keylen == 6 && memcmp(m->key, COFFER_CRYPT_META, 6) == 0 &&
                m->type == COFFER_TYPE_TABLE)
                continue;
            rc = pb_reserve(pb, (size_t)m->keylen * 6 + 4);
            if (rc)
                return rc;
            if (mark)
                pb->p[pb->len++] = '.';
            pb->len = coffer_path_append_key(pb->p, pb->cap, pb->len, m->key,
                                             m->keylen);
        } else {
            rc = pb_reserve(pb, 24);
            if (rc)
                return rc;
            pb->len += (size_t)snprintf(pb->p + pb->len, pb->cap - pb->len,
                                        "[%u]", i);
        }
        rc = walk_node(m, pb, fn, ctx, false);
        pb->len = mark;
        pb->p[mark] = '\0';
        if (rc)
            return rc;
    }
    return 0;
}

int coffer_crypt_walk(coffer_value *root, coffer_crypt_walk_fn fn, void *ctx)
{
    struct pathbuf pb = { NULL, 0, 0 };
    int rc = pb_reserve(&pb, 0);
    if (rc)
        return rc;
    pb.p[0] = '\0';
    rc = walk_node(root, &pb, fn, ctx, true);
    free(pb.p);
    return rc;
}

/* ---------------------------------------------------------- metadata */

static const coffer_value *meta_member(const coffer_value *root)
{
    const coffer_value *t = coffer_table_get(root, COFFER_CRYPT_META, 6);
    return coffer_value_type(t) == COFFER_TYPE_TABLE ? t : NULL;
}

int coffer_crypt_meta_read(const coffer_value *root, coffer_crypt_meta *m,
                           const char *file, coffer_error *err)
{
    memset(m, 0, sizeof *m);
    const coffer_value *t = meta_member(root);
    if (!t)
        return 1;
    m->table = t;
    const coffer_value *v = coffer_table_get(t, "version", 7);
    if (!v)
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "the [coffer] table of '%s' has no version", file);
    if (coffer_value_int(v, &m->version) != 0 || m->version != 1)
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "'%s' has an unsupported coffer version "
                                "(this coffer reads version 1)", file);
    m->recipients = coffer_table_get(t, "recipients", 10);
    m->wrapped = coffer_table_get(t, "wrapped", 7);
    if (coffer_value_type(m->recipients) != COFFER_TYPE_ARRAY ||
        coffer_array_count(m->recipients) == 0)
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "the [coffer] table of '%s' has no recipients",
                                file);
    m->nrecip = coffer_array_count(m->recipients);
    if (coffer_value_type(m->wrapped) != COFFER_TYPE_ARRAY ||
        coffer_array_count(m->wrapped) != m->nrecip)
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "the [coffer] table of '%s' needs one wrapped "
                                "data key per recipient", file);
    for (size_t i = 0; i < m->nrecip; i++) {
        if (coffer_value_type(coffer_array_at(m->recipients, i)) != COFFER_TYPE_STRING ||
            coffer_value_type(coffer_array_at(m->wrapped, i)) != COFFER_TYPE_STRING)
            return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                    "recipients and wrapped keys of '%s' must "
                                    "be strings", file);
    }
    const coffer_value *mac = coffer_table_get(t, "mac", 3);
    if (!mac || coffer_value_string(mac, &m->mac, &m->maclen) != 0)
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "'%s' has no mac in its [coffer] table "
                                "(stripped?)", file);
    return 0;
}

const char *coffer_crypt_meta_recipient(const coffer_crypt_meta *m, size_t i,
                                        size_t *len)
{
    const char *s = NULL;
    (void)coffer_value_string(coffer_array_at(m->recipients, i), &s, len);
    return s;
}

const char *coffer_crypt_meta_wrapped(const coffer_crypt_meta *m, size_t i,
                                      size_t *len)
{
    const char *s = NULL;
    (void)coffer_value_string(coffer_array_at(m->wrapped, i), &s, len);
    return s;
}

/* --------------------------------------------------------------- mac */

static void lp(crypto_auth_hmacsha256_state *st, const void *p, size_t n)
{
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    crypto_auth_hmacsha256_update(st, be, 8);
    crypto_auth_hmacsha256_update(st, p, n);
}

static void count64(crypto_auth_hmacsha256_state *st, uint64_t n)
{
    unsigned char be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (unsigned char)(n >> (56 - 8 * i));
    crypto_auth_hmacsha256_update(st, be, 8);
}

struct mac_walk {
    crypto_auth_hmacsha256_state *st;
    uint64_t n;
    bool count_only;
};

static int mac_value(void *ctx, coffer_value *v, const char *path,
                     size_t pathlen)
{
    struct mac_walk *w = ctx;
    if (v->type != COFFER_TYPE_STRING || !coffer_crypt_is_enc(v->u.s, v->len))
        return 0;
    w->n++;
    if (!w->count_only) {
        lp(w->st, path, pathlen);
        lp(w->st, v->u.s, v->len);
    }
    return 0;
}

int coffer_crypt_mac(const uint8_t key[32], const char *const *recip,
                     const size_t *reciplen, size_t nrecip, coffer_value *root,
                     uint8_t mac[32])
{
    uint8_t mk[32];
    if (derive(key, MAC_INFO, mk) != 0)
        return COFFER_ECRYPTO;
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, mk, sizeof mk);
    sodium_memzero(mk, sizeof mk);
    lp(&st, MAC_DOMAIN, strlen(MAC_DOMAIN));
    count64(&st, nrecip);
    for (size_t i = 0; i < nrecip; i++)
        lp(&st, recip[i], reciplen[i]);
    struct mac_walk w = { &st, 0, true };
    int rc = coffer_crypt_walk(root, mac_value, &w);
    if (rc == 0) {
        count64(&st, w.n);
        w.count_only = false;
        rc = coffer_crypt_walk(root, mac_value, &w);
    }
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    return rc;
}

int coffer_crypt_mac_check(const uint8_t key[32], const coffer_crypt_meta *m,
                           coffer_value *root, const char *file,
                           coffer_error *err)
{
    const char *rs[64];
    size_t rl[64];
    const char **recip = m->nrecip <= 64 ? rs : malloc(m->nrecip * sizeof *recip);
    size_t *rlen = m->nrecip <= 64 ? rl : malloc(m->nrecip * sizeof *rlen);
    int rc = 0;
    if (!recip || !rlen) {
        rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->nrecip; i++)
        recip[i] = coffer_crypt_meta_recipient(m, i, &rlen[i]);
    uint8_t mac[32], want[32];
    size_t wl = 0;
    rc = coffer_crypt_mac(key, recip, rlen, m->nrecip, root, mac);
    if (rc) {
        coffer_error_set(err, rc, NULL, 0, 0, "out of memory");
        goto out;
    }
    if (sodium_base642bin(want, sizeof want, m->mac, m->maclen, NULL, &wl, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        wl != 32 || sodium_memcmp(mac, want, 32) != 0)
        rc = coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                              "mac mismatch in '%s': an encrypted value or a "
                              "recipient was added, removed, reordered or "
                              "replaced", file);
out:
    if (recip != rs)
        free(recip);
    if (rlen != rl)
        free(rlen);
    return rc;
}

/* -------------------------------------------------------- identities */

/* Reads an identity file into secure memory after the permission checks. */
static int read_key_file(const char *path, coffer_crypt_ids *out, bool missing_ok,
                         coffer_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT && missing_ok)
            return 1;
        coffer_error_set(err, COFFER_EIO, path, 0, 0,
                         "cannot open identity file '%s': %s", path, strerror(e));
        if (err)
            err->sys_errno = e;
        return COFFER_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return coffer_error_set(err, COFFER_EIO, path, 0, 0,
                                "identity file '%s' is not a regular file", path);
    }
    if (st.st_uid != geteuid()) {
        close(fd);
        return coffer_error_set(err, COFFER_EPERM, path, 0, 0,
                                "identity file '%s' is not owned by you", path);
    }
    if (st.st_mode & 077) {
        close(fd);
        return coffer_error_set(err, COFFER_EPERM, path, 0, 0,
                                "identity file '%s' is accessible by group or "
                                "others (mode %03o); run 'chmod 600 %s'",
                                path, (unsigned)(st.st_mode & 0777), path);
    }
    if (st.st_size > 1 << 20) {
        close(fd);
        return coffer_error_set(err, COFFER_ELIMIT, path, 0, 0,
                                "identity file '%s' is too large", path);
    }
    const coffer_allocator *a = coffer_allocator_secure();
    size_t cap = (size_t)st.st_size + 1;
    char *buf = a->alloc(a->ctx, cap);
    if (!buf) {
        close(fd);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t r = read(fd, buf + got, cap - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    int rc = coffer_age_identities_parse(buf, got, &out->ids, &out->nids, err);
    if (rc && err)
        snprintf(err->file, sizeof err->file, "%s", path);
    coffer_memzero(buf, cap);
    a->release(a->ctx, buf, cap);
    return rc;
}

int coffer_crypt_ids_load(coffer_crypt_ids *out, const char *key, size_t keylen,
                          const char *keyfile, const char *home,
                          const char *pass, size_t passlen, coffer_error *err)
{
    memset(out, 0, sizeof *out);
    int rc = 0;
    if (key && keylen) {
        snprintf(out->source, sizeof out->source, "$COFFER_AGE_KEY");
        rc = coffer_age_identities_parse(key, keylen, &out->ids, &out->nids, err);
        if (rc && err)
            snprintf(err->message, sizeof err->message,
                     "COFFER_AGE_KEY holds no valid age identity");
    } else if (keyfile && *keyfile) {
        snprintf(out->source, sizeof out->source, "%s", keyfile);
        rc = read_key_file(keyfile, out, false, err);
    } else if (home && *home) {
        snprintf(out->source, sizeof out->source, "%s/.config/coffer/keys.txt",
                 home);
        rc = read_key_file(out->source, out, true, err);
        if (rc == 1) {
            rc = 0;
            out->source[0] = '\0';
        }
    }
    if (rc) {
        coffer_crypt_ids_release(out);
        return rc;
    }
    if (out->nids) {
        out->pks = malloc(out->nids * sizeof *out->pks);
        if (!out->pks) {
            coffer_crypt_ids_release(out);
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        }
        for (size_t i = 0; i < out->nids; i++)
            coffer_age_public(out->ids[i].sk, out->pks[i]);
    }
    if (pass && passlen) {
        out->pass.kind = COFFER_AGE_SCRYPT;
        out->pass.passphrase = pass;
        out->pass.passlen = passlen;
    }
    return 0;
}

void coffer_crypt_ids_release(coffer_crypt_ids *ids)
{
    if (!ids)
        return;
    if (ids->ids)
        coffer_age_identities_free(ids->ids, ids->nids);
    free(ids->pks);
    memset(ids, 0, sizeof *ids);
}

int coffer_crypt_unwrap(const coffer_crypt_meta *m, const coffer_crypt_ids *ids,
                        uint8_t key[32], const char *file, coffer_error *err)
{
    for (size_t i = 0; i < m->nrecip; i++) {
        size_t rl, wl;
        const char *r = coffer_crypt_meta_recipient(m, i, &rl);
        const char *w = coffer_crypt_meta_wrapped(m, i, &wl);
        const coffer_age_identity *id = NULL;
        if (rl == strlen(COFFER_CRYPT_SCRYPT) &&
            memcmp(r, COFFER_CRYPT_SCRYPT, rl) == 0) {
            if (ids->pass.kind)
                id = &ids->pass;
        } else {
            coffer_age_recipient rec;
            if (coffer_age_recipient_parse(r, rl, &rec, NULL) != 0)
                continue;
            for (size_t k = 0; k < ids->nids && !id; k++)
                if (sodium_memcmp(ids->pks[k], rec.pk, 32) == 0)
                    id = &ids->ids[k];
        }
        if (!id)
            continue;
        size_t got = 0;
        coffer_error e;
        int rc = coffer_age_decrypt(id, 1, w, wl, key, 32, &got, &e);
        if (rc == 0 && got == 32)
            return 0;
        sodium_memzero(key, 32);
        if (rc && rc != COFFER_ECRYPTO) /* out of memory: not a verdict */
            return coffer_error_set(err, rc, NULL, 0, 0, "%s", e.message);
        if (id->kind == COFFER_AGE_SCRYPT)
            continue; /* a wrong passphrase: try the others */
        return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                "the data key of '%s' wrapped for '%.*s' "
                                "cannot be unwrapped by its identity: %s",
                                file, (int)(rl > 80 ? 80 : rl), r,
                                rc ? e.message : "not 32 bytes");
    }
    return 1;
}

/* ---------------------------------------------------------- the load */

bool coffer_crypt_text_hint(const char *text, size_t len)
{
    return memmem(text, len, "ENC[coffer:", 11) != NULL ||
           memmem(text, len, COFFER_CRYPT_META, 6) != NULL;
}

/* Locked value check over a subtree. */
bool coffer_crypt_has_locked(const coffer_value *v)
{
    if (v->flags & COFFER_NF_LOCKED)
        return true;
    if (v->type != COFFER_TYPE_TABLE && v->type != COFFER_TYPE_ARRAY)
        return false;
    for (uint32_t i = 0; i < v->u.c->count; i++)
        if (coffer_crypt_has_locked(&v->u.c->items[i]))
            return true;
    return false;
}

int coffer_crypt_locked_error(const coffer_snapshot *snap,
                              const coffer_value *top, coffer_error *err)
{
    const char *file = "?", *note = "";
    if (snap && top && snap->root.u.c && top >= snap->root.u.c->items &&
        top < snap->root.u.c->items + snap->root.u.c->count) {
        const coffer_layer *l =
            &snap->layers[snap->origin[top - snap->root.u.c->items]];
        file = l->name;
        note = l->lock_note ? l->lock_note : "";
    }
    return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                            "no identity can decrypt '%s'%s", file, note);
}

/* Identities of the store, loaded once (under id_lock). */
static int store_ids(coffer_store *s, const coffer_crypt_ids **out,
                     coffer_error *err)
{
    pthread_mutex_lock(&s->id_lock);
    int rc = 0;
    if (!s->ids) {
        coffer_crypt_ids *ids = calloc(1, sizeof *ids);
        if (!ids) {
            rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        } else {
            rc = coffer_crypt_ids_load(ids, s->env_age_key, s->env_age_key_len,
                                       s->env_age_key_file, s->home,
                                       s->env_age_pass, s->env_age_pass_len, err);
            if (rc)
                free(ids);
            else
                s->ids = ids;
        }
    }
    *out = s->ids;
    pthread_mutex_unlock(&s->id_lock);
    return rc;
}

void coffer_crypt_store_release(coffer_store *s)
{
    if (s->ids) {
        coffer_crypt_ids_release(s->ids);
        free(s->ids);
        s->ids = NULL;
    }
}

struct dec_walk {
    coffer_loadctx *lc;
    const char *file;
    const uint8_t *key;      /* NULL: count and lock only */
    coffer_error *err;
    size_t nenc, nplain, nlocked;
    char first_plain[128];
};

/* Replaces a node's value with the scalar in text (the TOML text of a
 * non-string value) of the declared type. */
static int set_scalar(struct dec_walk *w, coffer_value *v, coffer_type want,
                      const uint8_t *text, size_t n, const char *path)
{
    char buf[160];
    if (n > sizeof buf - 5)
        return coffer_error_set(w->err, COFFER_ECRYPTO, NULL, 0, 0,
                                "encrypted value '%.120s' in '%s' is not a "
                                "valid %s", path, w->file,
                                coffer_crypt_type_name(want));
    memcpy(buf, "v = ", 4);
    memcpy(buf + 4, text, n);
    coffer_parse_options po;
    memset(&po, 0, sizeof po);
    po.allocator = w->lc->alloc;
    coffer_doc *doc = NULL;
    int rc = coffer_toml_parse(buf, n + 4, &po, &doc, NULL);
    coffer_memzero(buf, sizeof buf);
    const coffer_value *pv = rc ? NULL : coffer_table_get(coffer_doc_root(doc), "v", 1);
    if (!pv || pv->type != want) {
        coffer_doc_free(doc);
        return coffer_error_set(w->err, COFFER_ECRYPTO, NULL, 0, 0,
                                "encrypted value '%.120s' in '%s' is not a "
                                "valid %s", path, w->file,
                                coffer_crypt_type_name(want));
    }
    coffer_value nv = *v;
    nv.type = pv->type;
    nv.len = 0;
    nv.flags = (uint8_t)(v->flags & ~COFFER_NF_LOCKED);
    if (want >= COFFER_TYPE_DATETIME && want <= COFFER_TYPE_TIME_LOCAL) {
        coffer_datetime *dt = coffer_arena_alloc(w->lc->arena, sizeof *dt);
        if (!dt) {
            coffer_doc_free(doc);
            return coffer_error_set(w->err, COFFER_ENOMEM, NULL, 0, 0,
                                    "out of memory");
        }
        *dt = *pv->u.dt;
        nv.u.dt = dt;
    } else {
        nv.u = pv->u;
    }
    coffer_doc_free(doc);
    *v = nv;
    return 0;
}

static int dec_value(void *ctx, coffer_value *v, const char *path,
                     size_t pathlen)
{
    struct dec_walk *w = ctx;
    if (v->type != COFFER_TYPE_STRING || !coffer_crypt_is_enc(v->u.s, v->len)) {
        if (v->type != COFFER_TYPE_TABLE && v->type != COFFER_TYPE_ARRAY) {
            if (w->nplain == 0)
                snprintf(w->first_plain, sizeof w->first_plain, "%s", path);
            w->nplain++;
        }
        return 0;
    }
    w->nenc++;
    if (coffer_crypt_enc_type(v->u.s, v->len) == COFFER_TYPE_NONE)
        return coffer_error_set(w->err, COFFER_ECRYPTO, NULL, 0, 0,
                                "encrypted value '%.120s' in '%s' is malformed",
                                path, w->file);
    if (!w->key) {
        v->flags |= COFFER_NF_LOCKED;
        w->nlocked++;
        return 0;
    }
    size_t cap = coffer_crypt_open_max(v->u.s, v->len);
    uint8_t *pt = coffer_arena_alloc(w->lc->arena, cap + 1);
    if (!pt)
        return coffer_error_set(w->err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    size_t n = 0;
    coffer_type t;
    int rc = coffer_crypt_open(w->key, path, pathlen, v->u.s, v->len, pt, cap,
                               &n, &t, w->file, w->err);
    if (rc)
        return rc;
    if (t == COFFER_TYPE_STRING) {
        pt[n] = '\0';
        v->u.s = (const char *)pt;
        v->len = (uint32_t)n;
        return 0;
    }
    rc = set_scalar(w, v, t, pt, n, path);
    coffer_memzero(pt, cap + 1);
    return rc;
}

/* The layer root without the metadata member (a new container). */
static int drop_meta(coffer_loadctx *lc, coffer_layer *layer, coffer_error *err)
{
    coffer_container *old = layer->root.u.c;
    coffer_container *c = coffer_arena_alloc(lc->arena, sizeof *c);
    if (!c)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    memset(c, 0, sizeof *c);
    for (uint32_t i = 0; i < old->count; i++) {
        const coffer_value *m = &old->items[i];
        if (m->keylen == 6 && memcmp(m->key, COFFER_CRYPT_META, 6) == 0)
            continue;
        coffer_value *d = coffer_container_push(lc->arena, c, m->key, m->keylen);
        if (!d)
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        *d = *m;
    }
    layer->root.u.c = c;
    return 0;
}

int coffer_crypt_layer(coffer_loadctx *lc, const char *name, bool maybe_enc,
                       coffer_layer *layer, coffer_error *err)
{
    if (!maybe_enc)
        return 0;
    coffer_value *root = (coffer_value *)coffer_doc_root(layer->doc);
    coffer_crypt_meta m;
    int rc = coffer_crypt_meta_read(root, &m, name, err);
    if (rc < 0)
        return rc;
    struct dec_walk w;
    memset(&w, 0, sizeof w);
    w.lc = lc;
    w.file = name;
    w.err = err;
    if (rc == 1) { /* no metadata: an ENC string here is an error */
        struct dec_walk probe = w;
        int r = coffer_crypt_walk(root, dec_value, &probe);
        if (r < 0)
            return r;
        if (probe.nenc)
            return coffer_error_set(err, COFFER_ECRYPTO, NULL, 0, 0,
                                    "'%s' has encrypted values but no [coffer] "
                                    "metadata (removed or truncated file?)",
                                    name);
        return 0;
    }
    const coffer_crypt_ids *ids = NULL;
    rc = store_ids(lc->store, &ids, err);
    if (rc)
        return rc;
    uint8_t key[32];
    rc = coffer_crypt_unwrap(&m, ids, key, name, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        w.key = key;
        /* values first (a moved or tampered value names its key), then
         * the MAC over what is left (dropped, added, reordered) */
        rc = coffer_crypt_mac_check(key, &m, root, name, err);
        if (rc == 0) {
            rc = coffer_crypt_walk(root, dec_value, &w);
        } else {
            coffer_error macerr = err ? *err : (coffer_error){ 0 };
            struct dec_walk probe = w;
            rc = coffer_crypt_walk(root, dec_value, &probe);
            if (rc == 0) {
                if (err)
                    *err = macerr;
                rc = macerr.code ? macerr.code : COFFER_ECRYPTO;
            }
        }
        sodium_memzero(key, sizeof key);
        if (rc)
            return rc;
    } else {
        rc = coffer_crypt_walk(root, dec_value, &w);
        if (rc)
            return rc;
        layer->lock_note = coffer_crypt_ids_count(ids) == 0
                               ? " (no identity: set COFFER_AGE_KEY_FILE or "
                                 "create ~/.config/coffer/keys.txt)"
                               : " (the identities given are not among its "
                                 "recipients)";
    }
    layer->nlocked = w.nlocked;
    if (lc->finding && w.nplain) {
        char msg[COFFER_ERROR_MESSAGE_MAX];
        snprintf(msg, sizeof msg,
                 "'%s' has recipients but %zu plaintext value%s (first: "
                 "'%.100s'); run 'coffer encrypt'",
                 name, w.nplain, w.nplain == 1 ? "" : "s", w.first_plain);
        lc->finding(lc->fctx, 1, name, msg);
    }
    return drop_meta(lc, layer, err);
}
