/* env.c - exporting root-level secrets as environment variables, and
 * un-exporting exactly what coffer set. */
#include "store/crypt.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool coffer_env_name_ok(const char *key, size_t len)
{
    if (!key || len == 0)
        return false;
    return memchr(key, '=', len) == NULL && memchr(key, '\0', len) == NULL;
}

bool coffer_env_name_portable(const char *key, size_t len)
{
    if (!key || len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     c == '_';
        if (!alpha && (i == 0 || !(c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

int coffer_env_value(const coffer_value *v, coffer_secbuf *out)
{
    if (!v || !out)
        return COFFER_EINVAL;
    if (v->flags & COFFER_NF_LOCKED)
        return COFFER_ECRYPTO;
    char tmp[64];
    const char *p;
    size_t n;
    switch (coffer_value_type(v)) {
    case COFFER_TYPE_STRING:
        if (coffer_value_string(v, &p, &n) != 0)
            return 0;
        break;
    case COFFER_TYPE_INTEGER: {
        int64_t i = 0;
        (void)coffer_value_int(v, &i);
        int k = snprintf(tmp, sizeof tmp, "%lld", (long long)i);
        p = tmp;
        n = (size_t)k;
        break;
    }
    case COFFER_TYPE_FLOAT: {
        double d = 0;
        (void)coffer_value_double(v, &d);
        int k = coffer_format_double(d, tmp, sizeof tmp);
        if (k < 0)
            return k;
        p = tmp;
        n = (size_t)k;
        break;
    }
    default:
        return 0;
    }
    out->len = 0;
    int rc = coffer_secbuf_reserve(out, n);
    if (rc == 0) {
        memcpy(out->data, p, n);
        out->len = n;
        out->data[n] = '\0';
    }
    coffer_memzero(tmp, sizeof tmp);
    return rc ? rc : 1;
}

/* ------------------------------------------------------------ export
 *
 * The record of what coffer exported lives in one locked, never-dumped
 * buffer: for each variable "NAME\0NAME=VALUE\0". The "NAME=VALUE" strings
 * are handed to putenv, so the environment points into that buffer and
 * libc never makes a plain heap copy of a secret (setenv would). Hence the
 * rule: before the buffer is freed, no environment entry may still point
 * into it (unset, re-pointed to a newer record, or copied with setenv).
 */

static const char *ent_name(const coffer_secbuf *b, const coffer_export_ent *e)
{
    return b->data + e->name_off;
}

static char *ent_kv(const coffer_secbuf *b, const coffer_export_ent *e)
{
    return b->data + e->name_off + e->name_len + 1;
}

static const char *ent_val(const coffer_secbuf *b, const coffer_export_ent *e)
{
    return b->data + e->val_off;
}

/* True if the variable still holds exactly what coffer set. */
static bool still_ours(const coffer_secbuf *b, const coffer_export_ent *e)
{
    const char *cur = getenv(ent_name(b, e));
    return cur && coffer_equal_ct(cur, strlen(cur), ent_val(b, e), e->val_len);
}

/* True if the environment entry of e points into b itself. */
static bool points_into(const coffer_secbuf *b, const coffer_export_ent *e)
{
    const char *cur = getenv(ent_name(b, e));
    return cur && b->data && cur >= b->data && cur < b->data + b->len;
}

static const coffer_export_ent *find_ent(const coffer_secbuf *b,
                                         const coffer_export_ent *ents,
                                         size_t n, const char *name,
                                         size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (ents[i].name_len == len &&
            memcmp(ent_name(b, &ents[i]), name, len) == 0)
            return &ents[i];
    return NULL;
}

static int remember(coffer_secbuf *b, coffer_export_ent **ents, size_t *n,
                    size_t *cap, const char *name, size_t nl, const char *val,
                    size_t vl)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        coffer_export_ent *p = realloc(*ents, c * sizeof *p);
        if (!p)
            return COFFER_ENOMEM;
        *ents = p;
        *cap = c;
    }
    coffer_export_ent e;
    e.name_off = b->len;
    e.name_len = nl;
    e.val_off = b->len + 2 * nl + 2;
    e.val_len = vl;
    int rc = coffer_secbuf_reserve(b, 2 * nl + vl + 3);
    if (rc)
        return rc;
    char *w = b->data + b->len;
    memcpy(w, name, nl);
    w[nl] = '\0';
    memcpy(w + nl + 1, name, nl);
    w[2 * nl + 1] = '=';
    memcpy(w + 2 * nl + 2, val, vl);
    w[2 * nl + 2 + vl] = '\0';
    b->len += 2 * nl + vl + 3;
    b->data[b->len] = '\0';
    (*ents)[(*n)++] = e;
    return 0;
}

/* Before a record is freed: entries still pointing into it get a plain
 * copy (only happens when coffer stops managing them: close, errors). */
static void detach(const coffer_secbuf *b, const coffer_export_ent *ents,
                   size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (points_into(b, &ents[i]))
            (void)setenv(ent_name(b, &ents[i]), ent_val(b, &ents[i]), 1);
}

/* The text to export for v: strings point into the snapshot (already
 * NUL-terminated), numbers are formatted into tmp. 0 if not exportable. */
static int export_text(const coffer_value *v, char *tmp, size_t tmpn,
                       const char **p, size_t *n)
{
    switch (coffer_value_type(v)) {
    case COFFER_TYPE_STRING:
        return coffer_value_string(v, p, n) == 0 && !memchr(*p, '\0', *n);
    case COFFER_TYPE_INTEGER: {
        int64_t i = 0;
        (void)coffer_value_int(v, &i);
        int k = snprintf(tmp, tmpn, "%lld", (long long)i);
        *p = tmp;
        *n = (size_t)k;
        return 1;
    }
    case COFFER_TYPE_FLOAT: {
        double d = 0;
        (void)coffer_value_double(v, &d);
        int k = coffer_format_double(d, tmp, tmpn);
        if (k < 0)
            return 0;
        *p = tmp;
        *n = (size_t)k;
        return 1;
    }
    default:
        return 0;
    }
}

int coffer_store_export(coffer_store *s, unsigned flags, coffer_error *err)
{
    coffer_snapshot *snap;
    int rc = coffer_store_acquire(s, &snap, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->env_lock);
    coffer_secbuf nb = { NULL, 0, 0 };
    coffer_export_ent *nents = NULL;
    size_t nn = 0, ncap = 0;
    const coffer_value *root = &snap->root;
    size_t count = coffer_table_count(root);
    char tmp[64];
    /* Size the record first, so that it is never regrown: it must not
     * move once the environment points into it. */
    size_t need = 0, nexp = 0;
    for (size_t i = 0; i < count; i++) {
        const char *k, *p;
        size_t kl, n;
        const coffer_value *v = coffer_table_at(root, i, &k, &kl);
        if (v->flags & COFFER_NF_LOCKED) { /* nothing half-exported */
            rc = coffer_crypt_locked_error(snap, v, err);
            pthread_mutex_unlock(&s->env_lock);
            coffer_snapshot_release(snap);
            return rc;
        }
        if (coffer_env_name_ok(k, kl) && export_text(v, tmp, sizeof tmp, &p, &n)) {
            need += 2 * kl + n + 3;
            nexp++;
        }
    }
    if (nexp) {
        rc = coffer_secbuf_reserve(&nb, need);
        nents = malloc(nexp * sizeof *nents);
        ncap = nexp;
        if (rc || !nents)
            rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    for (size_t i = 0; i < count && rc == 0; i++) {
        const char *k, *p;
        size_t kl, n;
        const coffer_value *v = coffer_table_at(root, i, &k, &kl);
        if (!coffer_env_name_ok(k, kl) || !export_text(v, tmp, sizeof tmp, &p, &n))
            continue;
        const coffer_export_ent *prev =
            find_ent(&s->env_buf, s->env_ents, s->nenv, k, kl);
        if ((flags & COFFER_EXPORT_KEEP_EXISTING) && getenv(k) &&
            !(prev && still_ours(&s->env_buf, prev)))
            continue; /* the user's own value stays */
        rc = remember(&nb, &nents, &nn, &ncap, k, kl, p, n);
        if (rc) {
            coffer_error_set(err, rc, NULL, 0, 0, "out of memory");
            break;
        }
        if (putenv(ent_kv(&nb, &nents[nn - 1])) != 0) {
            nn--;
            rc = coffer_error_set(err, COFFER_ESYS, NULL, 0, 0,
                                  "cannot set environment variable '%.100s'", k);
            break;
        }
    }
    coffer_memzero(tmp, sizeof tmp);
    if (rc == 0) {
        /* Keys no longer exported: unset where the value is still ours. */
        for (size_t i = 0; i < s->nenv; i++) {
            const coffer_export_ent *e = &s->env_ents[i];
            if (find_ent(&nb, nents, nn, ent_name(&s->env_buf, e), e->name_len))
                continue;
            if (still_ours(&s->env_buf, e))
                unsetenv(ent_name(&s->env_buf, e));
        }
        detach(&s->env_buf, s->env_ents, s->nenv); /* nothing left, normally */
        coffer_secbuf_release(&s->env_buf);
        free(s->env_ents);
        s->env_buf = nb;
        s->env_ents = nents;
        s->nenv = nn;
    } else {
        /* Keep the old record; what was set from the new one becomes a
         * plain copy and is remembered in the old record when possible. */
        for (size_t i = 0; i < nn; i++) {
            const coffer_export_ent *e = &nents[i];
            (void)setenv(ent_name(&nb, e), ent_val(&nb, e), 1);
        }
        coffer_secbuf_release(&nb);
        free(nents);
    }
    pthread_mutex_unlock(&s->env_lock);
    coffer_snapshot_release(snap);
    return rc;
}

int coffer_store_unexport(coffer_store *s)
{
    if (!s)
        return 0;
    int count = 0;
    pthread_mutex_lock(&s->env_lock);
    for (size_t i = 0; i < s->nenv; i++) {
        const coffer_export_ent *e = &s->env_ents[i];
        if (still_ours(&s->env_buf, e)) {
            unsetenv(ent_name(&s->env_buf, e));
            count++;
        }
    }
    coffer_secbuf_release(&s->env_buf);
    free(s->env_ents);
    s->env_ents = NULL;
    s->nenv = 0;
    pthread_mutex_unlock(&s->env_lock);
    return count;
}

void coffer_env_forget(coffer_store *s)
{
    /* The variables stay set after the store is closed: as plain copies. */
    detach(&s->env_buf, s->env_ents, s->nenv);
    coffer_secbuf_release(&s->env_buf);
    free(s->env_ents);
    s->env_ents = NULL;
    s->nenv = 0;
}
