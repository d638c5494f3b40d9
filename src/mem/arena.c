/* arena.c - bump allocator over chunks from a pluggable allocator. */
#include "internal.h"

#include <pthread.h>
#include <string.h>

/* The record of a chunk is at the start of its block; an adopted block's
 * record lives in another chunk (base is then not the record itself). */
struct coffer_chunk {
    coffer_chunk *next;
    char *base;      /* start of the block from the allocator */
    size_t size;     /* its size */
};

#define CHUNK_HDR ((sizeof(coffer_chunk) + 7) & ~(size_t)7)
#define CHUNK_MIN 1024
#define CHUNK_MAX ((size_t)1 << 24)
#define CHUNK_KEEP 1024 /* room worth keeping in the current chunk */
#define OWN_BACK ((size_t)64 << 10) /* a whole chunk this large given back
                                       goes back to the allocator at once */

/* Large chunks of the plain allocator are kept for the next document
 * (wiped, as every released chunk) instead of going back to malloc: glibc
 * returns large blocks to the kernel at free (and trims its heap), so each
 * parse of a large file faulted all its memory in again, several times
 * slower than parsing on warm memory. At most CACHE_BYTES in CACHE_SLOTS
 * blocks, the oldest go first; a chunk takes the smallest cached block of
 * at least its size and at most twice it. */
#define CACHE_FROM ((size_t)1 << 20)
#define CACHE_SLOTS 16
#define CACHE_BYTES ((size_t)96 << 20)

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *base;
    size_t size;
} cache[CACHE_SLOTS];
static size_t cache_n, cache_bytes;

static void cache_remove(size_t i)
{
    cache_bytes -= cache[i].size;
    memmove(&cache[i], &cache[i + 1], (cache_n - i - 1) * sizeof cache[0]);
    cache_n--;
}

static char *cache_take(size_t size, size_t *got)
{
    size_t best = CACHE_SLOTS;
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < cache_n; i++)
        if (cache[i].size >= size && cache[i].size / 2 <= size &&
            (best == CACHE_SLOTS || cache[i].size < cache[best].size))
            best = i;
    char *p = NULL;
    if (best < CACHE_SLOTS) {
        p = cache[best].base;
        *got = cache[best].size;
        cache_remove(best);
    }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

/* Keeps a wiped block of the plain allocator, or frees it. */
static void cache_put(char *p, size_t size)
{
    const coffer_allocator *plain = coffer_allocator_plain();
    if (size > CACHE_BYTES / 2) {
        plain->release(plain->ctx, p, size);
        return;
    }
    pthread_mutex_lock(&cache_lock);
    while (cache_n && (cache_n == CACHE_SLOTS ||
                       cache_bytes + size > CACHE_BYTES)) {
        char *old = cache[0].base;
        size_t osize = cache[0].size;
        cache_remove(0);
        plain->release(plain->ctx, old, osize);
    }
    cache[cache_n].base = p;
    cache[cache_n].size = size;
    cache_n++;
    cache_bytes += size;
    pthread_mutex_unlock(&cache_lock);
}

/* Releases a chunk's block (already wiped). */
static void chunk_release(coffer_arena *a, char *base, size_t size, bool own)
{
    if (own && size >= CACHE_FROM && a->allocator == coffer_allocator_plain())
        cache_put(base, size);
    else
        a->allocator->release(a->allocator->ctx, base, size);
}

void coffer_arena_init(coffer_arena *a, const coffer_allocator *alloc,
                       size_t first_chunk)
{
    memset(a, 0, sizeof *a);
    a->allocator = alloc ? alloc : coffer_allocator_plain();
    a->next_chunk = first_chunk < CHUNK_MIN ? CHUNK_MIN : first_chunk;
}

void coffer_arena_release(coffer_arena *a)
{
    coffer_chunk *c = a->chunks, *next;
    /* Adopted records live inside other chunks: collect them first. */
    while (c) {
        next = c->next;
        if ((char *)c != c->base) {
            coffer_memzero(c->base, c->size);
            chunk_release(a, c->base, c->size, false);
        }
        c = next;
    }
    c = a->chunks;
    while (c) {
        next = c->next;
        if ((char *)c == c->base) {
            char *base = c->base;
            size_t size = c->size;
            coffer_memzero(base, size);
            chunk_release(a, base, size, true);
        }
        c = next;
    }
    const coffer_allocator *alloc = a->allocator;
    memset(a, 0, sizeof *a);
    a->allocator = alloc;
    a->next_chunk = CHUNK_MIN;
}

static coffer_chunk *new_chunk(coffer_arena *a, size_t payload)
{
    size_t size = payload + CHUNK_HDR;
    if (size < payload)
        return NULL;
    char *base = NULL;
    if (size >= CACHE_FROM && a->allocator == coffer_allocator_plain())
        base = cache_take(size, &size);
    if (!base)
        base = a->allocator->alloc(a->allocator->ctx, size);
    if (!base)
        return NULL;
    coffer_chunk *c = (coffer_chunk *)(void *)base;
    c->base = base;
    c->size = size;
    c->next = a->chunks;
    a->chunks = c;
    a->total += size;
    return c;
}

static void blocks_back(coffer_arena *a, char *q, size_t size);

static void *alloc_big(coffer_arena *a, size_t size);

void *coffer_arena_alloc(coffer_arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if (COFFER_LIKELY((size_t)(a->end - a->cur) >= size)) {
        void *p = a->cur;
        a->cur += size;
        return p;
    }
    /* a large free block (an outgrown member block) becomes the bump
     * region; the old tail goes to the free lists */
    for (unsigned k = 31; k >= 10 && ((size_t)1 << k) >= size; k--) {
        char *p = a->free_lists[k];
        if (!p)
            continue;
        memcpy(&a->free_lists[k], p, sizeof(void *));
        blocks_back(a, a->cur, (size_t)(a->end - a->cur));
        a->cur = p + size;
        a->end = p + ((size_t)1 << k);
        return p;
    }
    /* large, or large enough while the current chunk still has room for
     * smaller requests: its own chunk, keep the current */
    if (size > a->next_chunk / 4 ||
        (size >= 4 * CHUNK_KEEP && (size_t)(a->end - a->cur) >= CHUNK_KEEP))
        return alloc_big(a, size);
    coffer_chunk *c = new_chunk(a, a->next_chunk);
    if (!c)
        return NULL;
    blocks_back(a, a->cur, (size_t)(a->end - a->cur)); /* the old tail */
    a->cur = c->base + CHUNK_HDR;
    a->end = c->base + c->size;
    if (a->next_chunk < CHUNK_MAX)
        a->next_chunk *= 2;
    void *p = a->cur;
    a->cur += size;
    return p;
}

void *coffer_arena_alloc_fresh(coffer_arena *a, size_t size, size_t chunk)
{
    size = (size + 7) & ~(size_t)7;
    if (chunk < size)
        chunk = size;
    coffer_chunk *c = new_chunk(a, (chunk + 7) & ~(size_t)7);
    if (!c)
        return NULL;
    a->cur = c->base + CHUNK_HDR;
    a->end = c->base + c->size;
    void *p = a->cur;
    a->cur += size;
    return p;
}

/* Takes a block of exactly size bytes as its own chunk (for large input
 * buffers); the pointer is released with the arena. NULL on failure. */
static void *alloc_big(coffer_arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    /* The bump region (cur/end) stays in the regular chunk it is in; chunk
     * order in the list does not matter. */
    coffer_chunk *c = new_chunk(a, size);
    return c ? c->base + CHUNK_HDR : NULL;
}

int coffer_arena_adopt(coffer_arena *a, void *block, size_t size)
{
    coffer_chunk *c = coffer_arena_alloc(a, sizeof *c);
    if (!c)
        return COFFER_ENOMEM;
    c->base = block;
    c->size = size;
    c->next = a->chunks;
    a->chunks = c;
    a->total += size;
    return 0;
}

void *coffer_arena_block(coffer_arena *a, unsigned cls)
{
    if (cls < 4 || cls >= 32)
        return NULL;
    void *p = a->free_lists[cls];
    if (p) {
        memcpy(&a->free_lists[cls], p, sizeof(void *));
        return p;
    }
    return coffer_arena_alloc(a, (size_t)1 << cls);
}

void coffer_arena_unblock(coffer_arena *a, void *p, unsigned cls)
{
    if (!p || cls < 4 || cls >= 32)
        return;
    memcpy(p, &a->free_lists[cls], sizeof(void *));
    a->free_lists[cls] = p;
}

/* The region as power-of-two blocks into the free lists. */
static void blocks_back(coffer_arena *a, char *q, size_t size)
{
    while (size >= 16) {
        unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)size);
        if (k > 31)
            k = 31;
        coffer_arena_unblock(a, q, k);
        q += (size_t)1 << k;
        size -= (size_t)1 << k;
    }
}

/* If [p, p + size) is the whole payload of a chunk of its own (an
 * outgrown large block), wipes it and gives it back to the allocator. */
static bool chunk_back(coffer_arena *a, char *p, size_t size)
{
    for (coffer_chunk **pp = &a->chunks; *pp; pp = &(*pp)->next) {
        coffer_chunk *c = *pp;
        if ((char *)c != c->base || c->base + CHUNK_HDR != p)
            continue;
        if (c->size - CHUNK_HDR != size ||
            (a->cur >= c->base && a->cur <= c->base + c->size))
            return false;
        *pp = c->next;
        a->total -= c->size;
        char *base = c->base;
        size_t csize = c->size;
        coffer_memzero(base, csize);
        chunk_release(a, base, csize, true);
        return true;
    }
    return false;
}

void coffer_arena_give_back(coffer_arena *a, void *p, size_t size)
{
    char *q = p;
    if (size >= OWN_BACK && chunk_back(a, q, size))
        return;
    /* A large region (an outgrown member block) serves better as the bump
     * region than in a free list nobody asks from: it takes the place of
     * a smaller current tail, which goes to the free lists instead. */
    if (size >= CHUNK_KEEP && size > (size_t)(a->end - a->cur)) {
        char *tail = a->cur;
        size_t room = (size_t)(a->end - a->cur);
        a->cur = q;
        a->end = q + size;
        q = tail;
        size = room;
    }
    blocks_back(a, q, size);
}

void *coffer_arena_alloc_reuse(coffer_arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    unsigned k = size <= 16 ? 4
                            : 64u - (unsigned)__builtin_clzll(
                                        (unsigned long long)size - 1);
    for (unsigned j = k; j < k + 2 && j < 32; j++) {
        char *p = a->free_lists[j];
        if (!p)
            continue;
        memcpy(&a->free_lists[j], p, sizeof(void *));
        blocks_back(a, p + size, ((size_t)1 << j) - size);
        return p;
    }
    return coffer_arena_alloc(a, size);
}

char *coffer_arena_strndup(coffer_arena *a, const char *s, size_t n)
{
    char *p = coffer_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
