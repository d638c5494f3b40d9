/* arena.c - bump allocator over chunks from a pluggable allocator. */
#include "internal.h"

#include <string.h>

struct coffer_chunk {
    coffer_chunk *next;
    char *base;      /* start of the block from the allocator */
    size_t size;     /* its size */
    int adopted;     /* record lives in another chunk */
};

#define CHUNK_HDR ((sizeof(coffer_chunk) + 15) & ~(size_t)15)
#define CHUNK_MIN 1024
#define CHUNK_MAX ((size_t)1 << 24)

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
        if (c->adopted) {
            coffer_memzero(c->base, c->size);
            a->allocator->release(a->allocator->ctx, c->base, c->size);
        }
        c = next;
    }
    c = a->chunks;
    while (c) {
        next = c->next;
        if (!c->adopted) {
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
    c->adopted = 0;
    c->next = a->chunks;
    a->chunks = c;
    a->total += size;
    return c;
}

void *coffer_arena_alloc(coffer_arena *a, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if (COFFER_LIKELY((size_t)(a->end - a->cur) >= size)) {
        void *p = a->cur;
        a->cur += size;
        return p;
    }
    if (size > a->next_chunk / 4) /* large: its own chunk, keep the current */
        return coffer_arena_alloc_big(a, size);
    coffer_chunk *c = new_chunk(a, a->next_chunk);
    if (!c)
        return NULL;
    a->cur = c->base + CHUNK_HDR;
    a->end = c->base + c->size;
    if (a->next_chunk < CHUNK_MAX)
        a->next_chunk *= 2;
    void *p = a->cur;
    a->cur += size;
    return p;
}

void *coffer_arena_alloc_big(coffer_arena *a, size_t size)
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
    c->adopted = 1;
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

char *coffer_arena_strndup(coffer_arena *a, const char *s, size_t n)
{
    char *p = coffer_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
