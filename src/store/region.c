/* region.c - one big secure block per snapshot, carved up for the file
 * buffers, the parsed documents' arenas and the snapshot's own arena.
 *
 * Why: each secure block costs an mmap, an mprotect and an mlock (and its
 * release an munmap); a snapshot made of three or more of them spent
 * most of its load time in the kernel. Pieces are never released one by
 * one (the arenas wipe them before "releasing"); the blocks are wiped and
 * released when the snapshot goes. */
#include "store/store_internal.h"

#include <string.h>

#define HDR ((sizeof(coffer_region_block) + 15) & ~(size_t)15)
#define PAGE ((size_t)4096)
#define MAX_STEP ((size_t)16 << 20)

struct coffer_region_block {
    coffer_region_block *next;
    size_t size; /* whole block, from the base allocator */
    size_t used; /* including the header */
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) & ~(to - 1);
}

static void *region_alloc(void *ctx, size_t size)
{
    coffer_region *r = ctx;
    size_t need = round_up(size ? size : 1, 16);
    if (need < size)
        return NULL;
    coffer_region_block *b = r->head;
    if (b && b->size - b->used >= need) {
        char *p = (char *)b + b->used;
        b->used += need;
        r->used += need;
        if (r->used > r->peak)
            r->peak = r->used;
        return p;
    }
    size_t bsize = r->next_size;
    if (bsize < need + HDR)
        bsize = need + HDR + (need >> 1);
    if (bsize < need)
        return NULL;
    bsize = round_up(bsize, PAGE); /* page multiple: sodium aligns the start */
    coffer_region_block *nb = r->base->alloc(r->base->ctx, bsize);
    if (!nb)
        return NULL;
    nb->size = bsize;
    nb->used = HDR + need;
    r->used += need;
    if (r->used > r->peak)
        r->peak = r->used;
    r->total += bsize;
    if (r->next_size < MAX_STEP)
        r->next_size *= 2;
    /* Keep bump-allocating from whichever block has more room left. */
    if (b && b->size - b->used > nb->size - nb->used) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        r->head = nb;
    }
    return (char *)nb + HDR;
}

static void region_release(void *ctx, void *p, size_t size)
{
    /* Pieces live until the whole region goes, except the latest one of
     * the current block (the parser's stages, given back wiped at the end
     * of a parse), which is used again. */
    coffer_region *r = ctx;
    coffer_region_block *b = r->head;
    size_t need = round_up(size ? size : 1, 16);
    if (b && (char *)p + need == (char *)b + b->used) {
        b->used -= need;
        r->used -= need;
    }
}

void coffer_region_init(coffer_region *r, const coffer_allocator *base,
                        size_t first)
{
    memset(r, 0, sizeof *r);
    r->base = base ? base : coffer_allocator_plain();
    r->next_size = first < 16384 ? 16384 : round_up(first, PAGE);
    r->alloc.alloc = region_alloc;
    r->alloc.release = region_release;
    r->alloc.ctx = r;
}

void coffer_region_release(coffer_region *r)
{
    coffer_region_block *b = r->head;
    /* The secure allocator wipes the whole block itself; others may not. */
    bool wipe = r->base != coffer_allocator_secure();
    while (b) {
        coffer_region_block *next = b->next;
        size_t size = b->size;
        if (wipe)
            coffer_memzero(b, size);
        r->base->release(r->base->ctx, b, size);
        b = next;
    }
    r->head = NULL;
    r->used = r->peak = r->total = 0;
}
