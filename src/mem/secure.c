/* secure.c - allocators, wiping, constant-time compare, secure buffers. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static atomic_bool lock_failed;
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

static void sodium_setup(void)
{
    sodium_ok = sodium_init() >= 0;
}

void coffer_memzero(void *p, size_t n)
{
    if (p && n)
        sodium_memzero(p, n);
}

bool coffer_equal_ct(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Compare over the shorter length with sodium_memcmp (constant time),
     * and fold the length difference in without branching on content. */
    size_t n = alen < blen ? alen : blen;
    int same = n == 0 ? 1 : sodium_memcmp(a, b, n) == 0;
    return same & (alen == blen);
}

bool coffer_memory_lock_failed(void)
{
    return atomic_load(&lock_failed);
}

static void *plain_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void plain_release(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    free(p);
}

static void *secure_alloc(void *ctx, size_t size)
{
    (void)ctx;
    pthread_once(&sodium_once, sodium_setup);
    if (!sodium_ok)
        return NULL;
    void *p = sodium_malloc(size);
    if (!p)
        return NULL;
    /* sodium_malloc has already asked for MADV_DONTDUMP and mlock but does
     * not report a failed lock; locking again is idempotent and tells us. */
    if (mlock(p, size) != 0)
        atomic_store(&lock_failed, true);
    return p;
}

static void secure_release(void *ctx, void *p, size_t size)
{
    (void)ctx;
    (void)size;
    sodium_free(p); /* wipes, unlocks, unmaps */
}

static const coffer_allocator plain = { plain_alloc, plain_release, NULL };
static const coffer_allocator secure = { secure_alloc, secure_release, NULL };

const coffer_allocator *coffer_allocator_plain(void) { return &plain; }
const coffer_allocator *coffer_allocator_secure(void) { return &secure; }

int coffer_secbuf_reserve(coffer_secbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t need = b->len + extra + 1;
    if (need < b->len)
        return COFFER_ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return COFFER_ENOMEM;
        cap *= 2;
    }
    char *p = secure_alloc(NULL, cap);
    if (!p)
        return COFFER_ENOMEM;
    if (b->data) {
        memcpy(p, b->data, b->len + 1);
        sodium_free(b->data);
    } else {
        p[0] = '\0';
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int coffer_secbuf_append(coffer_secbuf *b, const void *p, size_t n)
{
    int rc = coffer_secbuf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void coffer_secbuf_release(coffer_secbuf *b)
{
    if (b->data)
        sodium_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
