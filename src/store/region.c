/* region.c - big secure blocks per snapshot, carved up for the file
 * buffers, the parsed documents' arenas and the snapshot's own arena.
 *
 * Why: each fresh secure block costs an mmap, an mprotect and an mlock that
 * faults every page in (and its release a wipe and an munmap); a snapshot
 * made of many of them spent most of its load time in the kernel. So
 * small pieces are bump-allocated from shared blocks, a large piece (a
 * file buffer, a big arena chunk or table) gets a block of its own that
 * goes as soon as it is released, and block sizes come in a few classes so
 * that the secure allocator's pool (secure.c) can hand the blocks of the
 * last snapshot to the next one. Each block remembers how far it was ever
 * used: only that much is wiped when it goes. */
#include "store/store_internal.h"

#include <string.h>

#define HDR ((sizeof(coffer_region_block) + 15) & ~(size_t)15)
#define PAGE ((size_t)4096)
#define MAX_STEP ((size_t)4 << 20)
#define OWN_FROM ((size_t)64 << 10) /* pieces this large get their block */

struct coffer_region_block {
    coffer_region_block *next;
    size_t size; /* whole block, from the base allocator */
    size_t used; /* including the header */
    size_t hw;   /* the most ever used: what a release wipes */
    bool own;    /* one piece (from HDR to the end) */
};

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) & ~(to - 1);
}

/* Block sizes: whole pages, rounded up to an eighth of the power of two
 * below (at most 12.5% unused), so that loads of the same or a slightly
 * changed file ask for the same sizes and find them in the pool. */
static size_t size_class(size_t n)
{
    if (n > SIZE_MAX / 4)
        return 0;
    n = round_up(n ? n : 1, PAGE);
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)n);
    size_t step = ((size_t)1 << k) / 8;
    return round_up(n, step > PAGE ? step : PAGE);
}

static void note_use(coffer_region *r, coffer_region_block *b, size_t need)
{
    b->used += need;
    if (b->used > b->hw)
        b->hw = b->used;
    if (b->own)
        return;
    r->used += need;
    if (r->used > r->peak)
        r->peak = r->used;
}

static coffer_region_block *new_block(coffer_region *r, size_t bsize, bool own)
{
    coffer_region_block *nb =
        r->secure ? coffer_secure_take(bsize)
                  : r->base->alloc(r->base->ctx, bsize);
    if (!nb)
        return NULL;
    nb->size = bsize;
    nb->used = nb->hw = HDR;
    nb->own = own;
    r->total += bsize;
    return nb;
}

static void drop_block(coffer_region *r, coffer_region_block *b)
{
    size_t size = b->size, hw = b->hw;
    r->total -= size;
    if (r->secure) {
        coffer_secure_give(b, size, hw);
    } else {
        coffer_memzero(b, hw);
        r->base->release(r->base->ctx, b, size);
    }
}

static void *region_alloc(void *ctx, size_t size)
{
    coffer_region *r = ctx;
    size_t need = round_up(size ? size : 1, 16);
    if (need < size || need > SIZE_MAX / 4)
        return NULL;
    coffer_region_block *b = r->head;
    if (b && b->size - b->used >= need) {
        char *p = (char *)b + b->used;
        note_use(r, b, need);
        return p;
    }
    if (need >= OWN_FROM) {
        /* its own block, behind the one being carved up */
        size_t bsize = size_class(need + HDR);
        coffer_region_block *nb = bsize ? new_block(r, bsize, true) : NULL;
        if (!nb)
            return NULL;
        note_use(r, nb, need);
        nb->used = nb->size; /* nothing else goes in */
        if (b) {
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = NULL;
            r->head = nb;
        }
        return (char *)nb + HDR;
    }
    size_t bsize = r->next_size;
    if (bsize < need + HDR)
        bsize = need + HDR;
    bsize = size_class(bsize);
    if (!bsize)
        return NULL;
    coffer_region_block *nb = new_block(r, bsize, false);
    if (!nb)
        return NULL;
    if (r->next_size < MAX_STEP)
        r->next_size *= 2;
    nb->next = b;
    r->head = nb;
    char *p = (char *)nb + HDR;
    note_use(r, nb, need);
    return p;
}

static void region_release(void *ctx, void *p, size_t size)
{
    /* A piece with its own block goes with it. Other pieces live until the
     * whole region goes, except the latest one of the current block (the
     * parser's stages, given back wiped at the end of a parse), which is
     * used again. */
    coffer_region *r = ctx;
    size_t need = round_up(size ? size : 1, 16);
    if (need >= OWN_FROM) {
        for (coffer_region_block **pp = &r->head; *pp; pp = &(*pp)->next) {
            coffer_region_block *b = *pp;
            if (b->own && (char *)b + HDR == (char *)p) {
                *pp = b->next;
                drop_block(r, b);
                return;
            }
        }
    }
    coffer_region_block *b = r->head;
    if (b && !b->own && (char *)p + need == (char *)b + b->used) {
        b->used -= need;
        r->used -= need;
    }
}

void coffer_region_init(coffer_region *r, const coffer_allocator *base,
                        size_t first)
{
    memset(r, 0, sizeof *r);
    r->base = base ? base : coffer_allocator_plain();
    r->secure = r->base == coffer_allocator_secure();
    r->next_size = first < 16384 ? 16384 : first;
    r->alloc.alloc = region_alloc;
    r->alloc.release = region_release;
    r->alloc.ctx = r;
}

void coffer_region_release(coffer_region *r)
{
    coffer_region_block *b = r->head;
    while (b) {
        coffer_region_block *next = b->next;
        drop_block(r, b);
        b = next;
    }
    r->head = NULL;
    r->used = r->peak = r->total = 0;
}
