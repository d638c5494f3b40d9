/* arena.c - bump allocator over chunks from a pluggable allocator. */
#include "internal.h"

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
            a->allocator->release(a->allocator->ctx, c->base, c->size);
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
            a->allocator->release(a->allocator->ctx, base, size);
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
    char *base = a->allocator->alloc(a->allocator->ctx, size);
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

void coffer_arena_give_back(coffer_arena *a, void *p, size_t size)
{
    char *q = p;
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
