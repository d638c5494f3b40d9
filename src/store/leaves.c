/* leaves.c - the one leaf-path walker (coffer list, coffer watch, reload
 * diffs). Iterative: an explicit stack, bounded by COFFER_MAX_DEPTH. Key
 * paths only; no value ever reaches a path. */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEAVES_MAX_DEPTH (COFFER_MAX_DEPTH + 1)

typedef struct frame {
    const coffer_value *c; /* the table or array of tables being walked */
    size_t next;           /* its next member */
    size_t mark;           /* path length at this container */
    bool aot;
} frame;

typedef struct pbuf {
    char *p;
    size_t len, cap;
} pbuf;

static int reserve(pbuf *b, size_t more)
{
    if (b->len + more < b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap <= b->len + more)
        cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np)
        return COFFER_ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

bool coffer_is_aot(const coffer_value *a)
{
    size_t n = coffer_array_count(a);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (coffer_value_type(coffer_array_at(a, i)) != COFFER_TYPE_TABLE)
            return false;
    return true;
}

static bool is_container(const coffer_value *v)
{
    coffer_type t = coffer_value_type(v);
    return (t == COFFER_TYPE_TABLE && coffer_table_count(v) > 0) ||
           (t == COFFER_TYPE_ARRAY && coffer_is_aot(v));
}

int coffer_value_leaves(const coffer_value *v, const char *prefix,
                        coffer_leaf_fn fn, void *ctx)
{
    if (!v || !fn)
        return COFFER_EINVAL;
    pbuf b = { 0 };
    size_t pl = prefix ? strlen(prefix) : 0;
    int rc = reserve(&b, pl + 1);
    if (rc)
        return rc;
    memcpy(b.p, prefix ? prefix : "", pl);
    b.len = pl;
    b.p[pl] = '\0';
    if (!is_container(v)) {
        /* v itself is the leaf (the root is never one) */
        if (pl)
            rc = fn(ctx, b.p, b.len, v);
        free(b.p);
        return rc;
    }
    frame *st = malloc(sizeof *st * 16);
    size_t depth = 0, scap = 16;
    if (!st) {
        free(b.p);
        return COFFER_ENOMEM;
    }
    st[0] = (frame){ v, 0, pl, coffer_value_type(v) == COFFER_TYPE_ARRAY };
    depth = 1;
    while (depth && !rc) {
        frame *f = &st[depth - 1];
        size_t n = f->aot ? coffer_array_count(f->c) : coffer_table_count(f->c);
        if (f->next >= n) {
            depth--;
            continue;
        }
        size_t i = f->next++;
        b.len = f->mark;
        const coffer_value *m;
        if (f->aot) {
            m = coffer_array_at(f->c, i);
            if ((rc = reserve(&b, 24)) != 0)
                break;
            int k = snprintf(b.p + b.len, b.cap - b.len, "[%zu]", i);
            b.len += k > 0 ? (size_t)k : 0;
        } else {
            const char *k;
            size_t kl;
            m = coffer_table_at(f->c, i, &k, &kl);
            /* dot, quotes, 6 bytes of escape per key byte, NUL */
            if ((rc = reserve(&b, 4 + 6 * kl)) != 0)
                break;
            if (b.len)
                b.p[b.len++] = '.';
            b.len = coffer_path_append_key(b.p, b.cap, b.len, k, kl);
        }
        b.p[b.len] = '\0';
        if (!is_container(m)) {
            rc = fn(ctx, b.p, b.len, m);
            continue;
        }
        if (depth >= LEAVES_MAX_DEPTH) {
            rc = COFFER_ELIMIT;
            break;
        }
        if (depth == scap) {
            frame *ns = realloc(st, sizeof *st * scap * 2);
            if (!ns) {
                rc = COFFER_ENOMEM;
                break;
            }
            st = ns;
            scap *= 2;
        }
        st[depth++] = (frame){ m, 0, b.len,
                               coffer_value_type(m) == COFFER_TYPE_ARRAY };
    }
    free(st);
    free(b.p);
    return rc;
}
