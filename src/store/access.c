/* access.c - lookups on snapshots: paths, typed getters, provenance,
 * missing-key suggestions, sections, foreach, shadowing. No lookup
 * allocates. */
#include "store/crypt.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

/* The sources a key was looked for in, for a message: "'A', 'B'" (the
 * snapshot's layers in order), cut with "..." to fit n bytes. */
static void searched(const coffer_snapshot *snap, char *buf, size_t n)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < snap->nlayers; i++) {
        const char *name = snap->layers[i].name;
        size_t need = strlen(name) + (i ? 4 : 2);
        if (pos + need + 4 >= n) {
            snprintf(buf + pos, n - pos, "%s...", i ? ", " : "");
            return;
        }
        pos += (size_t)snprintf(buf + pos, n - pos, "%s'%s'", i ? ", " : "",
                                name);
    }
}

/* --------------------------------------------------------- path walk */

typedef struct walk {
    const coffer_value *cur;
    const coffer_value *parent; /* table/array at the failing step */
    const coffer_value *top;    /* root member reached by the first step */
    int status;                 /* 0, COFFER_ENOKEY or COFFER_ETYPE */
    const char *fail_key;
    size_t fail_n;
    long fail_index;
    size_t depth;
    /* prefix rendering (slow path only) */
    char *buf;
    size_t bufn, pos, prefix_end;
} walk;

static int step(void *ctx, const char *key, size_t n, long index)
{
    walk *w = ctx;
    if (w->status)
        return 1;
    const coffer_value *cur = w->cur;
    const coffer_value *next;
    if (coffer_value_step(cur, key, n, index, &next) == COFFER_ETYPE) {
        w->status = COFFER_ETYPE;
        w->fail_key = key;
        return 1;
    }
    if (w->buf) {
        w->prefix_end = w->pos;
        if (key) {
            if (w->depth && w->pos < w->bufn)
                w->buf[w->pos++] = '.';
            w->pos = coffer_path_append_key(w->buf, w->bufn, w->pos, key, n);
        } else if (w->pos < w->bufn) {
            int k = snprintf(w->buf + w->pos, w->bufn - w->pos, "[%ld]", index);
            if (k > 0)
                w->pos += (size_t)k;
        }
        if (w->pos >= w->bufn)
            w->pos = w->bufn - 1;
        w->buf[w->pos] = '\0';
    }
    if (!next) {
        w->status = COFFER_ENOKEY;
        w->parent = cur;
        w->fail_key = key;
        w->fail_n = n;
        w->fail_index = index;
        return 1;
    }
    if (w->depth == 0)
        w->top = next;
    w->cur = next;
    w->depth++;
    return 0;
}

/* ------------------------------------------------------- suggestions */

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Optimal string alignment distance (case-insensitive); big if too long. */
static size_t distance(const char *a, size_t an, const char *b, size_t bn)
{
    enum { MAXL = 64 };
    if (an > MAXL || bn > MAXL)
        return (size_t)-1;
    size_t r0[MAXL + 1], r1[MAXL + 1], r2[MAXL + 1];
    size_t *pp = r0, *p = r1, *c = r2;
    for (size_t j = 0; j <= bn; j++)
        p[j] = j;
    for (size_t i = 1; i <= an; i++) {
        c[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t cost = lower((unsigned char)a[i - 1]) ==
                          lower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (p[j - 1] + cost < v)
                v = p[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        size_t *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[bn];
}

static bool close_enough(size_t d, size_t an, size_t bn)
{
    size_t m = an > bn ? an : bn;
    return d != (size_t)-1 && d * 3 <= m;
}

/* Writes the best suggestion into out (empty if none). */
static void suggest(const coffer_snapshot *snap, const char *path,
                    const walk *w, const char *prefix, size_t prefix_len,
                    char *out, size_t outn)
{
    out[0] = '\0';
    /* `get db.key` where the root has the key "db.key" itself: the user
     * forgot the quotes. */
    size_t whole = strlen(path);
    if (memchr(path, '.', whole) &&
        coffer_table_get(&snap->root, path, whole)) {
        size_t pos = coffer_path_append_key(out, outn, 0, path, whole);
        out[pos < outn ? pos : outn - 1] = '\0';
        return;
    }
    size_t best = (size_t)-1;
    /* Siblings at the failing level. */
    if (w->fail_key && coffer_value_type(w->parent) == COFFER_TYPE_TABLE) {
        const coffer_value *t = w->parent;
        size_t n = coffer_table_count(t);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            coffer_table_at(t, i, &k, &kl);
            size_t d = distance(w->fail_key, w->fail_n, k, kl);
            if (close_enough(d, w->fail_n, kl) && d < best) {
                best = d;
                size_t pos = 0;
                if (prefix_len && prefix_len + 1 < outn) {
                    memcpy(out, prefix, prefix_len);
                    pos = prefix_len;
                    out[pos++] = '.';
                }
                pos = coffer_path_append_key(out, outn, pos, k, kl);
                out[pos < outn ? pos : outn - 1] = '\0';
            }
        }
    }
    /* Root keys against the whole path (db.username -> db_username). */
    if (w->depth > 0 || !w->fail_key) {
        const coffer_value *r = &snap->root;
        size_t n = coffer_table_count(r);
        size_t pl = strlen(path);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            coffer_table_at(r, i, &k, &kl);
            size_t d = distance(path, pl, k, kl);
            if (close_enough(d, pl, kl) && d < best) {
                best = d;
                size_t pos = coffer_path_append_key(out, outn, 0, k, kl);
                out[pos < outn ? pos : outn - 1] = '\0';
            }
        }
    }
}

static const char *article(coffer_type t)
{
    return (t == COFFER_TYPE_INTEGER || t == COFFER_TYPE_ARRAY) ? "an" : "a";
}

/* Fills err for a failed walk (slow path: walks again to render names). */
static int walk_error(const coffer_snapshot *snap, const char *path,
                      coffer_error *err)
{
    if (!err)
        return COFFER_ENOKEY; /* refined below when err is wanted */
    char shown[COFFER_ERROR_MESSAGE_MAX];
    walk w;
    memset(&w, 0, sizeof w);
    w.cur = &snap->root;
    w.buf = shown;
    w.bufn = 160;
    shown[0] = '\0';
    coffer_error tmp;
    int rc = coffer_path_walk(path, step, &w, &tmp);
    if (!w.status && rc < 0) {
        *err = tmp;
        return rc;
    }
    if (w.status == COFFER_ETYPE) {
        /* shown holds the path to the value that is no container */
        return coffer_error_set(err, COFFER_ETYPE, NULL, 0, 0,
                                "key '%s' is %s %s, not %s, so '%.60s' cannot "
                                "be looked up",
                                shown, article(coffer_value_type(w.cur)),
                                coffer_type_name(coffer_value_type(w.cur)),
                                w.fail_key ? "a table" : "an array",
                                path);
    }
    if (!w.fail_key) {
        return coffer_error_set(err, COFFER_ENOKEY, NULL, 0, 0,
                                "index %ld is out of range for '%.*s' (%zu "
                                "elements)",
                                w.fail_index, (int)w.prefix_end, shown,
                                coffer_array_count(w.parent));
    }
    char sug[160];
    suggest(snap, path, &w, shown, w.prefix_end, sug, sizeof sug);
    /* The message names the sources searched, in the room left. */
    size_t used = strlen(shown) + strlen(sug) + 48;
    char where[COFFER_ERROR_MESSAGE_MAX];
    searched(snap, where, used < sizeof where - 8 ? sizeof where - used : 8);
    if (sug[0])
        return coffer_error_set(err, COFFER_ENOKEY, NULL, 0, 0,
                                "key '%s' not found in %s; did you mean '%s'?",
                                shown, where, sug);
    return coffer_error_set(err, COFFER_ENOKEY, NULL, 0, 0,
                            "key '%s' not found in %s", shown, where);
}


/* Fast path for the common case: bare keys joined by dots. Returns false
 * (nothing set) for anything else or any miss; the full walk then runs and
 * produces the error. */
static bool lookup_bare(const coffer_snapshot *snap, const char *path,
                        const coffer_value **out, const coffer_value **top)
{
    const coffer_value *cur = &snap->root, *first = NULL;
    const char *p = path;
    for (;;) {
        const char *k = p;
        while (coffer_bare_char((unsigned char)*p))
            p++;
        if (p == k || (*p && *p != '.'))
            return false;
        if (cur->type != COFFER_TYPE_TABLE)
            return false;
        cur = coffer_table_get(cur, k, (size_t)(p - k));
        if (!cur)
            return false;
        if (!first)
            first = cur;
        if (!*p)
            break;
        p++;
    }
    *out = cur;
    if (top)
        *top = first;
    return true;
}

/* A lookup that reaches locked (encrypted, not decrypted) values too:
 * provenance works without an identity. */
static int lookup_any(const coffer_snapshot *snap, const char *path,
                      const coffer_value **out, const coffer_value **top,
                      coffer_error *err)
{
    if (!snap || !path || !out)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to a lookup");
    if (lookup_bare(snap, path, out, top))
        return 0;
    walk w;
    w.cur = &snap->root;
    w.top = NULL;
    w.status = 0;
    w.depth = 0;
    w.buf = NULL;
    int rc = coffer_path_walk(path, step, &w, err);
    if (w.status) {
        /* The walk stopped at a missing key or a scalar: a malformed rest
         * of the path is still the error to report (EINVAL, not ENOKEY). */
        int bad = coffer_path_check(path, err);
        if (bad < 0)
            return bad;
        int code = w.status;
        int r = walk_error(snap, path, err);
        return err ? r : code;
    }
    if (rc < 0)
        return rc;
    if (w.depth == 0)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0, "empty key path");
    *out = w.cur;
    if (top)
        *top = w.top;
    return 0;
}

/* The lookup of every value read: a locked value (or a table or array
 * holding one) is COFFER_ECRYPTO. */
static int lookup(const coffer_snapshot *snap, const char *path,
                  const coffer_value **out, const coffer_value **top,
                  coffer_error *err)
{
    const coffer_value *t = NULL;
    int rc = lookup_any(snap, path, out, &t, err);
    if (rc == 0 && snap->nlocked && coffer_crypt_has_locked(*out))
        return coffer_crypt_locked_error(snap, t, err);
    if (top)
        *top = t;
    return rc;
}

int coffer_snapshot_get(const coffer_snapshot *snap, const char *path,
                        const coffer_value **out, coffer_error *err)
{
    return lookup(snap, path, out, NULL, err);
}

static int type_error(const char *path, const coffer_value *v, coffer_type want,
                      coffer_error *err)
{
    coffer_type t = coffer_value_type(v);
    return coffer_error_set(err, COFFER_ETYPE, NULL, 0, 0,
                            "key '%.150s' is %s %s, not %s %s", path, article(t),
                            coffer_type_name(t), article(want),
                            coffer_type_name(want));
}

int coffer_snapshot_get_string(const coffer_snapshot *snap, const char *path,
                               const char **s, size_t *len, coffer_error *err)
{
    const coffer_value *v;
    int rc = lookup(snap, path, &v, NULL, err);
    if (rc)
        return rc;
    if (coffer_value_string(v, s, len) != 0)
        return type_error(path, v, COFFER_TYPE_STRING, err);
    return 0;
}

int coffer_snapshot_get_int(const coffer_snapshot *snap, const char *path,
                            int64_t *out, coffer_error *err)
{
    const coffer_value *v;
    int rc = lookup(snap, path, &v, NULL, err);
    if (rc)
        return rc;
    if (coffer_value_int(v, out) != 0)
        return type_error(path, v, COFFER_TYPE_INTEGER, err);
    return 0;
}

int coffer_snapshot_get_double(const coffer_snapshot *snap, const char *path,
                               double *out, coffer_error *err)
{
    const coffer_value *v;
    int rc = lookup(snap, path, &v, NULL, err);
    if (rc)
        return rc;
    if (coffer_value_double(v, out) != 0)
        return type_error(path, v, COFFER_TYPE_FLOAT, err);
    return 0;
}

int coffer_snapshot_get_bool(const coffer_snapshot *snap, const char *path,
                             bool *out, coffer_error *err)
{
    const coffer_value *v;
    int rc = lookup(snap, path, &v, NULL, err);
    if (rc)
        return rc;
    if (coffer_value_bool(v, out) != 0)
        return type_error(path, v, COFFER_TYPE_BOOL, err);
    return 0;
}

int coffer_snapshot_get_datetime(const coffer_snapshot *snap, const char *path,
                                 coffer_datetime *out, coffer_error *err)
{
    const coffer_value *v;
    int rc = lookup(snap, path, &v, NULL, err);
    if (rc)
        return rc;
    if (coffer_value_datetime(v, out) != 0)
        return type_error(path, v, COFFER_TYPE_DATETIME, err);
    return 0;
}

/* -------------------------------------------------------- provenance */

int coffer_snapshot_where(const coffer_snapshot *snap, const char *path,
                          const char **file, unsigned *line, coffer_error *err)
{
    const coffer_value *v, *top;
    int rc = lookup_any(snap, path, &v, &top, err);
    if (rc)
        return rc;
    size_t idx = (size_t)(top - snap->root.u.c->items);
    const coffer_layer *layer = &snap->layers[snap->origin[idx]];
    const char *f = layer->name;
    unsigned l = coffer_value_line(v);
    if (layer->kind == COFFER_SOURCE_DIR || layer->kind == COFFER_SOURCE_FLAT) {
        const void *id = v->type == COFFER_TYPE_STRING ? (const void *)v->u.s
                                                        : (const void *)v->u.c;
        for (size_t i = 0; i < layer->nprov; i++) {
            if (layer->prov[i].id == id) {
                f = layer->prov[i].file;
                break;
            }
        }
        l = 1;
    }
    if (file)
        *file = f;
    if (line)
        *line = l ? l : 1;
    return 0;
}

/* ------------------------------------------------------ store helpers */

int coffer_store_get(coffer_store *s, const char *path,
                     const coffer_value **out, coffer_error *err)
{
    coffer_snapshot *snap;
    int rc = coffer_store_acquire(s, &snap, err);
    if (rc)
        return rc;
    rc = coffer_snapshot_get(snap, path, out, err);
    /* The store keeps its own reference: the view stays valid until the
     * next swap (see the warning in coffer.h). */
    coffer_snapshot_release(snap);
    return rc;
}

int coffer_store_get_string(coffer_store *s, const char *path,
                            const char **str, coffer_error *err)
{
    coffer_snapshot *snap;
    int rc = coffer_store_acquire(s, &snap, err);
    if (rc)
        return rc;
    rc = coffer_snapshot_get_string(snap, path, str, NULL, err);
    coffer_snapshot_release(snap);
    return rc;
}

/* ---------------------------------------------------------- sections */

/* Formats a scalar for a section into tmp; sets *p and *len (may point into
 * the value itself). Returns 0 or -1 for a container. */
static int scalar_text(const coffer_value *v, char *tmp, size_t tmpn,
                       const char **p, size_t *len)
{
    coffer_type t = coffer_value_type(v);
    switch (t) {
    case COFFER_TYPE_STRING:
        return coffer_value_string(v, p, len) == 0 ? 0 : -1;
    case COFFER_TYPE_INTEGER:
    case COFFER_TYPE_FLOAT:
    case COFFER_TYPE_BOOL:
    case COFFER_TYPE_DATETIME:
    case COFFER_TYPE_DATETIME_LOCAL:
    case COFFER_TYPE_DATE_LOCAL:
    case COFFER_TYPE_TIME_LOCAL: {
        /* Exactly what coffer_value_format(TEXT) prints (TOML scalars). */
        long k = coffer_value_format(v, COFFER_FORMAT_TEXT, tmp, tmpn);
        if (k < 0 || (size_t)k >= tmpn)
            return -1;
        *p = tmp;
        *len = (size_t)k;
        return 0;
    }
    default:
        return -1;
    }
}

static int table_at(const coffer_snapshot *snap, const char *path,
                    const coffer_value **out, coffer_error *err)
{
    if (!snap)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument");
    if (!path || !*path) {
        *out = &snap->root;
        return 0; /* members are checked one by one (sections, getters) */
    }
    int rc = lookup(snap, path, out, NULL, err);
    if (rc)
        return rc;
    if (coffer_value_type(*out) != COFFER_TYPE_TABLE)
        return type_error(path, *out, COFFER_TYPE_TABLE, err);
    return 0;
}

typedef struct section_hdr {
    size_t size;
    size_t pad;
} section_hdr;

int coffer_snapshot_section(const coffer_snapshot *snap, const char *path,
                            coffer_section *out, coffer_error *err)
{
    if (!out)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument");
    memset(out, 0, sizeof *out);
    const coffer_value *t;
    int rc = table_at(snap, path, &t, err);
    if (rc)
        return rc;
    size_t n = coffer_table_count(t);
    char tmp[64];
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k, *p;
        size_t kl, vl;
        const coffer_value *v = coffer_table_at(t, i, &k, &kl);
        if (v->flags & COFFER_NF_LOCKED) {
            coffer_memzero(tmp, sizeof tmp);
            return coffer_crypt_locked_error(snap, t == &snap->root ? v : NULL,
                                             err);
        }
        if (scalar_text(v, tmp, sizeof tmp, &p, &vl) != 0) {
            coffer_memzero(tmp, sizeof tmp);
            char shown[160];
            size_t pos = 0;
            if (path && *path) {
                pos = (size_t)snprintf(shown, sizeof shown, "%.100s.", path);
            }
            pos = coffer_path_append_key(shown, sizeof shown, pos, k, kl);
            shown[pos < sizeof shown ? pos : sizeof shown - 1] = '\0';
            coffer_type ty = coffer_value_type(v);
            return coffer_error_set(err, COFFER_ETYPE, NULL, 0, 0,
                                    "key '%s' is %s %s; a section holds only "
                                    "scalars", shown, article(ty),
                                    coffer_type_name(ty));
        }
        bytes += kl + 1 + vl + 1;
    }
    coffer_memzero(tmp, sizeof tmp);
    size_t ptrs = (2 * (n + 1)) * sizeof(char *);
    /* The secure allocator aligns the end of the block to a page: round
     * the size so that the start is aligned too. */
    size_t size = (sizeof(section_hdr) + ptrs + bytes + 15) & ~(size_t)15;
    const coffer_allocator *a = coffer_allocator_secure();
    char *block = a->alloc(a->ctx, size);
    if (!block)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    section_hdr *h = (section_hdr *)(void *)block;
    h->size = size;
    const char **keys = (const char **)(void *)(block + sizeof *h);
    const char **vals = keys + n + 1;
    char *w = (char *)(vals + n + 1);
    for (size_t i = 0; i < n; i++) {
        const char *k, *p;
        size_t kl, vl;
        const coffer_value *v = coffer_table_at(t, i, &k, &kl);
        (void)scalar_text(v, tmp, sizeof tmp, &p, &vl);
        memcpy(w, k, kl);
        w[kl] = '\0';
        keys[i] = w;
        w += kl + 1;
        memcpy(w, p, vl);
        w[vl] = '\0';
        vals[i] = w;
        w += vl + 1;
    }
    coffer_memzero(tmp, sizeof tmp);
    keys[n] = NULL;
    vals[n] = NULL;
    out->keys = keys;
    out->values = vals;
    out->count = n;
    out->priv_ = block;
    return 0;
}

void coffer_section_release(coffer_section *sec)
{
    if (!sec)
        return;
    if (sec->priv_) {
        section_hdr *h = sec->priv_;
        size_t size = h->size;
        coffer_memzero(sec->priv_, size);
        const coffer_allocator *a = coffer_allocator_secure();
        a->release(a->ctx, sec->priv_, size);
    }
    memset(sec, 0, sizeof *sec);
}

int coffer_snapshot_foreach(const coffer_snapshot *snap, const char *path,
                            coffer_foreach_fn fn, void *ctx, coffer_error *err)
{
    if (!fn)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument");
    const coffer_value *t;
    int rc = table_at(snap, path, &t, err);
    if (rc)
        return rc;
    size_t n = coffer_table_count(t);
    for (size_t i = 0; i < n; i++) {
        const char *k;
        size_t kl;
        const coffer_value *v = coffer_table_at(t, i, &k, &kl);
        rc = fn(ctx, k, v);
        if (rc)
            return rc;
    }
    return 0;
}

/* --------------------------------------------------------- shadowing */

size_t coffer_snapshot_shadow_count(const coffer_snapshot *snap)
{
    return snap ? snap->nshadows : 0;
}

int coffer_snapshot_shadow(const coffer_snapshot *snap, size_t i,
                           const char **key, const char **winner_file,
                           const char **shadowed_file)
{
    if (!snap || i >= snap->nshadows)
        return COFFER_EINVAL;
    if (key)
        *key = snap->shadows[i].key;
    if (winner_file)
        *winner_file = snap->shadows[i].winner;
    if (shadowed_file)
        *shadowed_file = snap->shadows[i].shadowed;
    return 0;
}

/* ------------------------------------------------------- path keys */


size_t coffer_path_append_key(char *buf, size_t n, size_t pos, const char *key,
                              size_t keylen)
{
#define PUT(ch) do { if (pos + 1 < n) buf[pos] = (ch); pos++; } while (0)
    if (coffer_bare_key(key, keylen)) {
        for (size_t i = 0; i < keylen; i++)
            PUT(key[i]);
    } else {
        PUT('"');
        for (size_t i = 0; i < keylen; i++) {
            unsigned char c = (unsigned char)key[i];
            size_t hl = 1;
            unsigned cp = coffer_key_hazard(key, keylen, i, &hl);
            if (c == '"' || c == '\\') {
                PUT('\\');
                PUT((char)c);
            } else if (c < 0x20 || c == 0x7f || cp) {
                /* Terminal controls (C0, DEL, C1, bidi): as \uXXXX. */
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", cp ? cp : c);
                for (int j = 0; esc[j]; j++)
                    PUT(esc[j]);
                i += hl - 1;
            } else {
                PUT((char)c);
            }
        }
        PUT('"');
    }
    if (n)
        buf[pos < n ? pos : n - 1] = '\0';
    return pos < n ? pos : n - 1;
#undef PUT
}
