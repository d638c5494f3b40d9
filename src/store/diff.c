/* diff.c - differences between two snapshot roots, as key paths. Values
 * are compared in constant time; no value ever reaches a path. */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct plist {
    char **v;
    size_t n, cap;
} plist;

typedef struct dctx {
    plist added, changed, removed;
    int failed; /* 0, COFFER_ENOMEM or COFFER_ELIMIT */
} dctx;

/* Each level of the walk is a C frame: a tree deeper than any a store
 * builds (COFFER_MAX_DEPTH containers) is refused, not followed. */
#define DIFF_MAX_DEPTH (COFFER_MAX_DEPTH + 1)

static bool too_deep(dctx *d, unsigned depth)
{
    if (depth <= DIFF_MAX_DEPTH)
        return false;
    if (!d->failed)
        d->failed = COFFER_ELIMIT;
    return true;
}

static void push_path(dctx *d, plist *l, const char *path)
{
    if (d->failed)
        return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p) {
            d->failed = COFFER_ENOMEM;
            return;
        }
        l->v = p;
        l->cap = cap;
    }
    char *c = strdup(path);
    if (!c) {
        d->failed = COFFER_ENOMEM;
        return;
    }
    l->v[l->n++] = c;
}

#define PATHMAX 1024

static bool is_aot(const coffer_value *a)
{
    size_t n = coffer_array_count(a);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (coffer_value_type(coffer_array_at(a, i)) != COFFER_TYPE_TABLE)
            return false;
    return true;
}

static size_t child_key(char *buf, size_t pos, const char *k, size_t kl)
{
    if (pos && pos + 1 < PATHMAX)
        buf[pos++] = '.';
    return coffer_path_append_key(buf, PATHMAX, pos, k, kl);
}

static size_t child_index(char *buf, size_t pos, size_t i)
{
    int k = snprintf(buf + pos, PATHMAX - pos, "[%zu]", i);
    pos += k > 0 ? (size_t)k : 0;
    return pos < PATHMAX ? pos : PATHMAX - 1;
}

/* Every leaf under v (v itself if it is a leaf) into l. */
static void leaves(dctx *d, plist *l, const coffer_value *v, char *buf,
                   size_t pos, unsigned depth)
{
    if (too_deep(d, depth))
        return;
    coffer_type t = coffer_value_type(v);
    if (t == COFFER_TYPE_TABLE && coffer_table_count(v) > 0) {
        size_t n = coffer_table_count(v);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            const coffer_value *m = coffer_table_at(v, i, &k, &kl);
            size_t p = child_key(buf, pos, k, kl);
            leaves(d, l, m, buf, p, depth + 1);
            buf[pos] = '\0';
        }
        return;
    }
    if (t == COFFER_TYPE_ARRAY && is_aot(v)) {
        size_t n = coffer_array_count(v);
        for (size_t i = 0; i < n; i++) {
            size_t p = child_index(buf, pos, i);
            leaves(d, l, coffer_array_at(v, i), buf, p, depth + 1);
            buf[pos] = '\0';
        }
        return;
    }
    if (pos == 0)
        return; /* an empty root has no leaves */
    buf[pos] = '\0';
    push_path(d, l, buf);
}

/* Deep equality, strings in constant time. */
static bool equal(dctx *d, const coffer_value *a, const coffer_value *b,
                  unsigned depth)
{
    if (too_deep(d, depth))
        return false;
    coffer_type t = coffer_value_type(a);
    if (t != coffer_value_type(b))
        return false;
    switch (t) {
    case COFFER_TYPE_STRING:
        return coffer_equal_ct(a->u.s, a->len, b->u.s, b->len);
    case COFFER_TYPE_INTEGER:
        return coffer_equal_ct(&a->u.i, sizeof a->u.i, &b->u.i, sizeof b->u.i);
    case COFFER_TYPE_FLOAT:
        return coffer_equal_ct(&a->u.f, sizeof a->u.f, &b->u.f, sizeof b->u.f);
    case COFFER_TYPE_BOOL:
        return (a->u.b != 0) == (b->u.b != 0);
    case COFFER_TYPE_DATETIME:
    case COFFER_TYPE_DATETIME_LOCAL:
    case COFFER_TYPE_DATE_LOCAL:
    case COFFER_TYPE_TIME_LOCAL: {
        coffer_datetime x, y;
        memset(&x, 0, sizeof x);
        memset(&y, 0, sizeof y);
        (void)coffer_value_datetime(a, &x);
        (void)coffer_value_datetime(b, &y);
        bool same = x.year == y.year && x.month == y.month && x.day == y.day &&
                    x.hour == y.hour && x.minute == y.minute &&
                    x.second == y.second && x.nanosecond == y.nanosecond &&
                    x.offset_minutes == y.offset_minutes &&
                    x.offset_is_z == y.offset_is_z &&
                    x.precision == y.precision;
        coffer_memzero(&x, sizeof x); /* date-times can be secrets too */
        coffer_memzero(&y, sizeof y);
        return same;
    }
    case COFFER_TYPE_ARRAY: {
        size_t n = coffer_array_count(a);
        if (n != coffer_array_count(b))
            return false;
        bool same = true;
        for (size_t i = 0; i < n; i++)
            same &= equal(d, coffer_array_at(a, i), coffer_array_at(b, i),
                          depth + 1);
        return same;
    }
    case COFFER_TYPE_TABLE: {
        size_t n = coffer_table_count(a);
        if (n != coffer_table_count(b))
            return false;
        bool same = true;
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            const coffer_value *m = coffer_table_at(a, i, &k, &kl);
            const coffer_value *o = coffer_table_get(b, k, kl);
            same &= o != NULL && equal(d, m, o, depth + 1);
        }
        return same;
    }
    default:
        return true;
    }
}

static void compare(dctx *d, const coffer_value *a, const coffer_value *b,
                    char *buf, size_t pos, unsigned depth)
{
    if (too_deep(d, depth))
        return;
    coffer_type ta = coffer_value_type(a), tb = coffer_value_type(b);
    if (ta == COFFER_TYPE_TABLE && tb == COFFER_TYPE_TABLE) {
        size_t n = coffer_table_count(a);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            const coffer_value *m = coffer_table_at(a, i, &k, &kl);
            const coffer_value *o = coffer_table_get(b, k, kl);
            size_t p = child_key(buf, pos, k, kl);
            if (!o)
                leaves(d, &d->removed, m, buf, p, depth + 1);
            else
                compare(d, m, o, buf, p, depth + 1);
            buf[pos] = '\0';
        }
        n = coffer_table_count(b);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            const coffer_value *m = coffer_table_at(b, i, &k, &kl);
            if (coffer_table_get(a, k, kl))
                continue;
            size_t p = child_key(buf, pos, k, kl);
            leaves(d, &d->added, m, buf, p, depth + 1);
            buf[pos] = '\0';
        }
        return;
    }
    if (ta == COFFER_TYPE_ARRAY && tb == COFFER_TYPE_ARRAY && is_aot(a) &&
        is_aot(b)) {
        size_t na = coffer_array_count(a), nb = coffer_array_count(b);
        size_t n = na > nb ? na : nb;
        for (size_t i = 0; i < n; i++) {
            size_t p = child_index(buf, pos, i);
            if (i >= nb)
                leaves(d, &d->removed, coffer_array_at(a, i), buf, p, depth + 1);
            else if (i >= na)
                leaves(d, &d->added, coffer_array_at(b, i), buf, p, depth + 1);
            else
                compare(d, coffer_array_at(a, i), coffer_array_at(b, i), buf,
                        p, depth + 1);
            buf[pos] = '\0';
        }
        return;
    }
    if (!equal(d, a, b, depth)) {
        buf[pos] = '\0';
        push_path(d, &d->changed, buf);
    }
}

int coffer_diff_compute(const coffer_value *old_root,
                        const coffer_value *new_root, coffer_diff *out)
{
    dctx d;
    memset(&d, 0, sizeof d);
    char buf[PATHMAX];
    buf[0] = '\0';
    if (old_root && new_root)
        compare(&d, old_root, new_root, buf, 0, 0);
    else if (new_root)
        leaves(&d, &d.added, new_root, buf, 0, 0);
    else if (old_root)
        leaves(&d, &d.removed, old_root, buf, 0, 0);
    out->added = d.added.v;
    out->nadded = d.added.n;
    out->changed = d.changed.v;
    out->nchanged = d.changed.n;
    out->removed = d.removed.v;
    out->nremoved = d.removed.n;
    if (d.failed) {
        coffer_diff_release(out);
        return d.failed;
    }
    return 0;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void coffer_diff_release(coffer_diff *d)
{
    if (!d)
        return;
    free_list(d->added, d->nadded);
    free_list(d->changed, d->nchanged);
    free_list(d->removed, d->nremoved);
    memset(d, 0, sizeof *d);
}
