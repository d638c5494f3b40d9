/* value.c - read access to parsed values, containers with hash indexes,
 * and the dotted-path syntax of coffer_value_seek. */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ------------------------------------------------------------------ types */

const char *coffer_type_name(coffer_type t)
{
    switch (t) {
    case COFFER_TYPE_STRING: return "string";
    case COFFER_TYPE_INTEGER: return "integer";
    case COFFER_TYPE_FLOAT: return "float";
    case COFFER_TYPE_BOOL: return "bool";
    case COFFER_TYPE_DATETIME: return "datetime";
    case COFFER_TYPE_DATETIME_LOCAL: return "datetime-local";
    case COFFER_TYPE_DATE_LOCAL: return "date-local";
    case COFFER_TYPE_TIME_LOCAL: return "time-local";
    case COFFER_TYPE_ARRAY: return "array";
    case COFFER_TYPE_TABLE: return "table";
    case COFFER_TYPE_NONE: break;
    }
    return "none";
}

coffer_type coffer_value_type(const coffer_value *v)
{
    return v ? (coffer_type)v->type : COFFER_TYPE_NONE;
}

unsigned coffer_value_line(const coffer_value *v) { return v ? v->line : 0; }
unsigned coffer_value_column(const coffer_value *v) { return v ? v->col : 0; }

int coffer_value_string(const coffer_value *v, const char **s, size_t *len)
{
    if (!v)
        return COFFER_EINVAL;
    if (v->type != COFFER_TYPE_STRING)
        return COFFER_ETYPE;
    if (v->flags & COFFER_NF_LOCKED)
        return COFFER_ECRYPTO; /* an encrypted value nobody could open */
    if (s)
        *s = v->u.s;
    if (len)
        *len = v->len;
    return 0;
}

int coffer_value_int(const coffer_value *v, int64_t *out)
{
    if (!v)
        return COFFER_EINVAL;
    if (v->type != COFFER_TYPE_INTEGER)
        return COFFER_ETYPE;
    if (out)
        *out = v->u.i;
    return 0;
}

int coffer_value_double(const coffer_value *v, double *out)
{
    if (!v)
        return COFFER_EINVAL;
    if (v->type != COFFER_TYPE_FLOAT)
        return COFFER_ETYPE;
    if (out)
        *out = v->u.f;
    return 0;
}

int coffer_value_bool(const coffer_value *v, bool *out)
{
    if (!v)
        return COFFER_EINVAL;
    if (v->type != COFFER_TYPE_BOOL)
        return COFFER_ETYPE;
    if (out)
        *out = v->u.b != 0;
    return 0;
}

int coffer_value_datetime(const coffer_value *v, coffer_datetime *out)
{
    if (!v)
        return COFFER_EINVAL;
    if (v->type < COFFER_TYPE_DATETIME || v->type > COFFER_TYPE_TIME_LOCAL)
        return COFFER_ETYPE;
    if (out)
        *out = *v->u.dt;
    return 0;
}

/* ------------------------------------------------------------- containers */

size_t coffer_table_count(const coffer_value *t)
{
    return t && t->type == COFFER_TYPE_TABLE ? t->u.c->count : 0;
}

const coffer_value *coffer_table_at(const coffer_value *t, size_t i,
                                    const char **key, size_t *keylen)
{
    if (!t || t->type != COFFER_TYPE_TABLE || i >= t->u.c->count)
        return NULL;
    const coffer_value *v = &t->u.c->items[i];
    if (key)
        *key = v->key;
    if (keylen)
        *keylen = v->keylen;
    return v;
}

const coffer_value *coffer_table_get(const coffer_value *t, const char *key,
                                     size_t keylen)
{
    if (!t || t->type != COFFER_TYPE_TABLE || !key)
        return NULL;
    return coffer_table_find(t->u.c, key, keylen);
}

size_t coffer_array_count(const coffer_value *a)
{
    return a && a->type == COFFER_TYPE_ARRAY ? a->u.c->count : 0;
}

const coffer_value *coffer_array_at(const coffer_value *a, size_t i)
{
    if (!a || a->type != COFFER_TYPE_ARRAY || i >= a->u.c->count)
        return NULL;
    return &a->u.c->items[i];
}

/* Random per-process seed: colliding keys cannot be prepared in advance. */
static uint64_t hash_seed;
static pthread_once_t hash_once = PTHREAD_ONCE_INIT;

static void hash_seed_init(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
            (uint64_t)(uintptr_t)&s;
    }
    __atomic_store_n(&hash_seed, s | 1, __ATOMIC_RELEASE);
}

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ULL;
    h ^= h >> 32;
    return h;
}

uint32_t coffer_hash(const char *s, size_t n)
{
    if (COFFER_UNLIKELY(!__atomic_load_n(&hash_seed, __ATOMIC_ACQUIRE)))
        pthread_once(&hash_once, hash_seed_init);
    uint64_t h = hash_seed ^ (n * 0x9e3779b97f4a7c15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = mix(h ^ w) + 0x9e3779b97f4a7c15ULL;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    if (n)
        memcpy(&w, s, n);
    h = mix(h ^ w ^ ((uint64_t)n << 56));
    return (uint32_t)(h ^ (h >> 29));
}

static inline int key_eq(const coffer_value *v, const char *key, size_t n)
{
    return v->key && v->keylen == n && (n == 0 || (v->key[0] == key[0] &&
                                                    memcmp(v->key, key, n) == 0));
}

/* An indexed table (COFFER_CAP_INDEXED in cap) has a power-of-two
 * capacity, and its block holds, before the items, the hash slots (two
 * per item) and the hash of each item's key (one per item):
 *   [slots: 2 * cap uint32][hashes: cap uint32][items: cap values]
 * A slot holds the item index + 1 in its low bits (below the slot count)
 * and the hash's high bits as a tag, so most probes never touch the items;
 * 0 is an empty slot. The stored hashes let the index grow without
 * reading a single key again (the keys of a big table are spread over the
 * whole text). */
#define INDEXED_ITEM_BYTES (sizeof(coffer_value) + 3 * sizeof(uint32_t))

static inline uint32_t capacity(const coffer_container *c)
{
    return c->cap & ~COFFER_CAP_INDEXED;
}

static inline uint32_t *hashes_of(const coffer_container *c)
{
    return (uint32_t *)(void *)c->items - capacity(c);
}

static inline uint32_t *slots_of(const coffer_container *c)
{
    return (uint32_t *)(void *)c->items - 3 * (size_t)capacity(c);
}

coffer_value *coffer_table_find(const coffer_container *c, const char *key,
                                size_t n)
{
    if (!c || n > UINT16_MAX || (!key && n))
        return NULL;
    if (c->cap & COFFER_CAP_INDEXED) {
        const uint32_t *idx = slots_of(c);
        const uint32_t mask = 2 * capacity(c) - 1, h = coffer_hash(key, n);
        for (uint32_t i = h & mask, slot; (slot = idx[i]) != 0;
             i = (i + 1) & mask) {
            if ((slot & ~mask) != (h & ~mask))
                continue;
            coffer_value *v = &c->items[(slot & mask) - 1];
            if (key_eq(v, key, n))
                return v;
        }
        return NULL;
    }
    /* small table: the length first, it rules out most members */
    for (uint32_t i = 0; i < c->count; i++) {
        coffer_value *v = &c->items[i];
        if (v->keylen == n && key_eq(v, key, n))
            return v;
    }
    return NULL;
}

static inline unsigned log2_ceil(size_t n)
{
    return n <= 1 ? 0 : 64u - (unsigned)__builtin_clzll((unsigned long long)n - 1);
}

static void give_back(coffer_arena *a, char *p, size_t size)
{
    coffer_arena_give_back(a, p, size);
}

void coffer_container_trim(coffer_arena *a, coffer_container *c)
{
    if (!c || (c->cap & COFFER_CAP_INDEXED) || c->count >= c->cap)
        return;
    give_back(a, (char *)(c->items + c->count),
              (size_t)(c->cap - c->count) * sizeof(coffer_value));
    c->cap = c->count;
    if (!c->count)
        c->items = NULL;
}

static inline void index_put(uint32_t *idx, uint32_t mask, uint32_t h,
                             uint32_t pos)
{
    uint32_t i = h & mask;
    while (idx[i])
        i = (i + 1) & mask;
    idx[i] = (h & ~mask) | pos;
}

/* Moves the members of c to an indexed block of ncap items (a power of
 * two above the count) and indexes them: with their stored hashes when c
 * was indexed already, else (a table of INDEX_FROM members becoming
 * indexed) by hashing their keys. */
static int grow_indexed(coffer_arena *a, coffer_container *c, uint32_t ncap)
{
    char *blk = coffer_arena_alloc(a, (size_t)ncap * INDEXED_ITEM_BYTES);
    if (!blk)
        return -1;
    uint32_t *idx = (uint32_t *)(void *)blk;
    uint32_t *hashes = idx + 2 * (size_t)ncap;
    coffer_value *items = (coffer_value *)(void *)(hashes + ncap);
    memset(idx, 0, (size_t)ncap * 2 * sizeof *idx);
    if (c->count)
        memcpy(items, c->items, (size_t)c->count * sizeof *items);
    uint32_t cap = capacity(c);
    if (c->cap & COFFER_CAP_INDEXED) {
        memcpy(hashes, hashes_of(c), (size_t)c->count * sizeof *hashes);
        give_back(a, (char *)slots_of(c), (size_t)cap * INDEXED_ITEM_BYTES);
    } else {
        for (uint32_t j = 0; j < c->count; j++)
            hashes[j] = items[j].key ? coffer_hash(items[j].key, items[j].keylen)
                                     : 0;
        if (cap)
            give_back(a, (char *)c->items, (size_t)cap * sizeof *items);
    }
    c->items = items;
    c->cap = ncap | COFFER_CAP_INDEXED;
    const uint32_t mask = 2 * ncap - 1;
    for (uint32_t j = 0; j < c->count; j++)
        if (items[j].key)
            index_put(idx, mask, hashes[j], j + 1);
    return 0;
}

#define INDEX_FROM COFFER_INDEX_FROM

int coffer_container_unstage(coffer_arena *a, coffer_container *c)
{
    uint32_t n = c->count;
    c->cap = 0; /* the old block is not the arena's: never given back */
    if (n >= INDEX_FROM && c->items[0].key) {
        uint32_t ncap = 64;
        while (ncap <= n)
            ncap *= 2;
        return grow_indexed(a, c, ncap);
    }
    uint32_t ncap = (uint32_t)1 << log2_ceil((size_t)n + 1);
    coffer_value *items =
        coffer_arena_block(a, log2_ceil((size_t)ncap * sizeof(coffer_value)));
    if (!items)
        return -1;
    if (n)
        memcpy(items, c->items, (size_t)n * sizeof *items);
    c->items = items;
    c->cap = ncap;
    return 0;
}

coffer_value *coffer_container_push(coffer_arena *a, coffer_container *c,
                                    const char *key, size_t keylen)
{
    if (!c || keylen > UINT16_MAX)
        return NULL;
    uint32_t cap = capacity(c);
    if (c->cap & COFFER_CAP_INDEXED) {
        if (c->count == cap) {
            if (cap >= ((uint32_t)1 << 28) || grow_indexed(a, c, cap * 2))
                return NULL;
            cap *= 2;
        }
    } else if (key && c->count >= INDEX_FROM) {
        /* the first member past INDEX_FROM: from now on with an index */
        uint32_t ncap = 64;
        while (ncap <= c->count)
            ncap *= 2;
        if (ncap > ((uint32_t)1 << 28) || grow_indexed(a, c, ncap))
            return NULL;
        cap = ncap;
    } else if (c->count == cap) {
        if (cap >= ((uint32_t)1 << 30))
            return NULL;
        uint32_t ncap = cap ? (uint32_t)1 << log2_ceil((size_t)cap + 1) : 1;
        unsigned cls = log2_ceil((size_t)ncap * sizeof(coffer_value));
        coffer_value *items = coffer_arena_block(a, cls);
        if (!items)
            return NULL;
        if (c->count)
            memcpy(items, c->items, (size_t)c->count * sizeof *items);
        if (cap)
            give_back(a, (char *)c->items, (size_t)cap * sizeof *items);
        c->items = items;
        c->cap = ncap;
    }
    coffer_value *v = &c->items[c->count];
    memset(v, 0, sizeof *v);
    v->key = key;
    v->keylen = (uint16_t)keylen;
    c->count++;
    if (c->cap & COFFER_CAP_INDEXED) {
        uint32_t h = key ? coffer_hash(key, keylen) : 0;
        hashes_of(c)[c->count - 1] = h;
        if (key)
            index_put(slots_of(c), 2 * cap - 1, h, c->count);
    }
    return v;
}

/* ------------------------------------------------------------------ paths */

#define PATH_KEY_MAX 4096


#define PATH_FAIL(...) \
    coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0, __VA_ARGS__)

/* The walker behind coffer_path_walk; *pos is the offset just after the
 * step being reported (for messages naming a prefix). */
static int walk(const char *path, coffer_path_step_fn fn, void *ctx,
                coffer_error *err, size_t *pos)
{
    char buf[PATH_KEY_MAX + 4];
    const char *p = path;
    if (!path)
        return PATH_FAIL("no path");
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return PATH_FAIL("empty path");
    int first = 1;
    for (;;) {
        if (!(first && *p == '[')) {
            size_t n = 0;
            const char *key = buf;
            if (coffer_bare_char((unsigned char)*p)) {
                const char *s = p;
                while (coffer_bare_char((unsigned char)*p))
                    p++;
                key = s;
                n = (size_t)(p - s);
            } else if (*p == '"') {
                p++;
                while (*p != '"') {
                    unsigned char ch = (unsigned char)*p;
                    if (!ch)
                        return PATH_FAIL("unterminated quoted key in path '%s'", path);
                    if (n + 4 > PATH_KEY_MAX)
                        return PATH_FAIL("key in path longer than %d bytes",
                                         PATH_KEY_MAX);
                    if (ch != '\\') {
                        buf[n++] = (char)ch;
                        p++;
                        continue;
                    }
                    p++;
                    switch (*p) {
                    case 'b': buf[n++] = '\b'; break;
                    case 't': buf[n++] = '\t'; break;
                    case 'n': buf[n++] = '\n'; break;
                    case 'f': buf[n++] = '\f'; break;
                    case 'r': buf[n++] = '\r'; break;
                    case '"': buf[n++] = '"'; break;
                    case '\\': buf[n++] = '\\'; break;
                    case 'u':
                    case 'U': {
                        size_t len;
                        int used = coffer_unicode_escape(p, buf + n, &len);
                        if (used < 0)
                            return PATH_FAIL("invalid unicode escape in path '%s'", path);
                        p += used - 1;
                        n += len;
                        break;
                    }
                    default:
                        return PATH_FAIL("invalid escape in path '%s'", path);
                    }
                    p++;
                }
                p++;
                buf[n] = '\0';
            } else if (*p == '\'') {
                const char *s = ++p;
                while (*p && *p != '\'')
                    p++;
                if (!*p)
                    return PATH_FAIL("unterminated quoted key in path '%s'", path);
                key = s;
                n = (size_t)(p - s);
                p++;
            } else if (!*p) {
                return PATH_FAIL("path '%s' ends with '.'", path);
            } else {
                return PATH_FAIL("invalid character in path '%s'", path);
            }
            *pos = (size_t)(p - path);
            int rc = fn(ctx, key, n, -1);
            if (rc)
                return rc;
        }
        first = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        while (*p == '[') {
            p++;
            if (*p < '0' || *p > '9')
                return PATH_FAIL("expected an index after '[' in path '%s'", path);
            long idx = 0;
            while (*p >= '0' && *p <= '9') {
                if (idx > (0x7fffffffL - 9) / 10)
                    return PATH_FAIL("index too large in path '%s'", path);
                idx = idx * 10 + (*p++ - '0');
            }
            if (*p != ']')
                return PATH_FAIL("expected ']' in path '%s'", path);
            p++;
            *pos = (size_t)(p - path);
            int rc = fn(ctx, NULL, 0, idx);
            if (rc)
                return rc;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        if (!*p)
            return 0;
        if (*p != '.')
            return PATH_FAIL("invalid character in path '%s'", path);
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
    }
}

int coffer_path_walk(const char *path, coffer_path_step_fn fn, void *ctx,
                     coffer_error *err)
{
    size_t pos = 0;
    return walk(path, fn, ctx, err, &pos);
}

typedef struct seek_ctx {
    const coffer_value *cur;
    const size_t *pos;
    size_t found; /* path offset of the longest existing prefix */
} seek_ctx;

#define SEEK_MISSING 1

int coffer_value_step(const coffer_value *cur, const char *key, size_t n,
                      long index, const coffer_value **next)
{
    *next = NULL;
    if (key) {
        if (coffer_value_type(cur) != COFFER_TYPE_TABLE)
            return COFFER_ETYPE;
        *next = coffer_table_get(cur, key, n);
    } else {
        if (coffer_value_type(cur) != COFFER_TYPE_ARRAY)
            return COFFER_ETYPE;
        if (index >= 0 && (size_t)index < coffer_array_count(cur))
            *next = coffer_array_at(cur, (size_t)index);
    }
    return *next ? 0 : COFFER_ENOKEY;
}

static int seek_step(void *ctx, const char *key, size_t n, long index)
{
    seek_ctx *s = ctx;
    const coffer_value *next;
    /* seek reports a scalar in the way as "not found", as it always did */
    if (coffer_value_step(s->cur, key, n, index, &next) != 0)
        return SEEK_MISSING;
    s->cur = next;
    s->found = *s->pos;
    return 0;
}

static int noop_step(void *ctx, const char *key, size_t n, long index)
{
    (void)ctx, (void)key, (void)n, (void)index;
    return 0;
}

int coffer_path_check(const char *path, coffer_error *err)
{
    return coffer_path_walk(path, noop_step, NULL, err);
}

int coffer_value_seek(const coffer_value *v, const char *path,
                      const coffer_value **out, coffer_error *err)
{
    if (out)
        *out = NULL;
    if (!v || !out)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no value or output pointer");
    size_t pos = 0;
    seek_ctx s = {v, &pos, 0};
    int rc = walk(path, seek_step, &s, err, &pos);
    if (rc == SEEK_MISSING) {
        /* a malformed path is EINVAL even where a prefix is missing */
        int bad = coffer_path_check(path, err);
        if (bad)
            return bad;
        if (s.found)
            return coffer_error_set(err, COFFER_ENOKEY, NULL, 0, 0,
                                    "key '%s' not found (longest existing "
                                    "prefix '%.*s')",
                                    path, (int)s.found, path);
        return coffer_error_set(err, COFFER_ENOKEY, NULL, 0, 0,
                                "key '%s' not found", path);
    }
    if (rc)
        return rc;
    *out = s.cur;
    return 0;
}
