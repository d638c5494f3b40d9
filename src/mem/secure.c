/* secure.c - allocators, wiping, constant-time compare, secure buffers. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_bool lock_failed;
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;

void coffer_memzero(void *p, size_t n)
{
    if (p && n)
        sodium_memzero(p, n);
}

bool coffer_equal_ct(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Compare over the shorter length in constant time, and fold the
     * length difference in without branching on content: 64- and 16-byte
     * blocks with libsodium's crypto_verify_64/16 (vectorised), the tail
     * with sodium_memcmp (a byte at a time). */
    size_t n = alen < blen ? alen : blen, i = 0;
    const unsigned char *x = a, *y = b;
    int diff = 0;
    for (; i + 64 <= n; i += 64)
        diff |= crypto_verify_64(x + i, y + i);
    for (; i + 16 <= n; i += 16)
        diff |= crypto_verify_16(x + i, y + i);
    if (i < n)
        diff |= sodium_memcmp(x + i, y + i, n - i);
    return (diff == 0) & (alen == blen);
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

/* Secure blocks. Each is its own mapping of whole pages:
 *
 *     [guard page][data pages: locked, never dumped][guard page]
 *
 * The caller's bytes end 16-byte aligned at the back guard, so an overrun
 * faults at once; when the size leaves room in front, a random canary sits
 * just before the bytes and is checked on release, so an underrun aborts
 * (as sodium_free does). sodium_malloc gives the same protection but costs
 * three times as much per block (an extra header page to fault in, three
 * more system calls), which was most of a store's first access; the locking
 * and wiping are still libsodium's (sodium_mlock, sodium_memzero). */
static size_t page_size = 4096;
static unsigned char canary[16];
static void pool_atfork(void);

static void sodium_setup(void)
{
    sodium_ok = sodium_init() >= 0;
    long pg = sysconf(_SC_PAGESIZE);
    if (pg > 0 && ((size_t)pg & ((size_t)pg - 1)) == 0)
        page_size = (size_t)pg;
    if (sodium_ok)
        randombytes_buf(canary, sizeof canary);
    pool_atfork();
}

typedef struct {
    char *base;     /* the mapping, front guard included */
    char *data;     /* first data page */
    size_t data_len; /* whole data pages */
    size_t slack;   /* bytes between data and the caller's pointer */
} secure_layout;

static bool secure_geometry(size_t size, secure_layout *l)
{
    size_t pg = page_size;
    size_t rounded = (size + 15) & ~(size_t)15;
    if (size == 0 || rounded < size || rounded > SIZE_MAX - 3 * pg)
        return false;
    l->data_len = (rounded + pg - 1) & ~(pg - 1);
    l->slack = l->data_len - rounded;
    return true;
}

static bool pool_drain(void);

static void *secure_alloc(void *ctx, size_t size)
{
    (void)ctx;
    pthread_once(&sodium_once, sodium_setup);
    secure_layout l;
    if (!sodium_ok || !secure_geometry(size ? size : 1, &l))
        return NULL;
    size_t pg = page_size;
    l.base = mmap(NULL, l.data_len + 2 * pg, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (l.base == MAP_FAILED)
        return NULL;
    l.data = l.base + pg;
    if (mprotect(l.data, l.data_len, PROT_READ | PROT_WRITE) != 0) {
        munmap(l.base, l.data_len + 2 * pg);
        return NULL;
    }
    /* MADV_DONTDUMP, then mlock (which also faults the pages in). A lock
     * failure (RLIMIT_MEMLOCK) leaves the memory usable and is reported. */
    if (sodium_mlock(l.data, l.data_len) != 0 &&
        (!pool_drain() || sodium_mlock(l.data, l.data_len) != 0))
        atomic_store(&lock_failed, true);
    if (l.slack)
        memcpy(l.data + l.slack - sizeof canary, canary, sizeof canary);
    return l.data + l.slack;
}

/* The layout of the block at p (of size bytes) and its canary check. */
static bool secure_block(void *p, size_t size, secure_layout *l)
{
    if (!p || !secure_geometry(size ? size : 1, l))
        return false;
    l->data = (char *)p - l->slack;
    l->base = l->data - page_size;
    if (l->slack && sodium_memcmp(l->data + l->slack - sizeof canary, canary,
                                  sizeof canary) != 0)
        sodium_misuse(); /* the bytes in front were overwritten: abort */
    return true;
}

static void secure_release(void *ctx, void *p, size_t size)
{
    (void)ctx;
    secure_layout l;
    if (!secure_block(p, size, &l))
        return;
    sodium_memzero(l.data, l.data_len);
    munmap(l.base, l.data_len + 2 * page_size); /* unlocks too */
}

/* The pool: released blocks kept for the next load, wiped, still locked,
 * excluded from dumps and between their guard pages. They stay readable
 * (zeros) while they wait: making them inaccessible and accessible again
 * (two mprotect calls and their TLB flushes) cost as much as all the rest
 * of loading a small file. Blocks are matched by their exact number of data pages (region.c
 * asks for a few size classes only). At most POOL_BYTES and POOL_SLOTS;
 * the oldest go first. A failing mlock empties it (its locked pages count
 * against RLIMIT_MEMLOCK) before giving up. */
#define POOL_SLOTS 32
#define POOL_BYTES ((size_t)96 << 20)

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *base;
    size_t data_len;
} pool[POOL_SLOTS];
static size_t pool_n, pool_bytes;

static void pool_unmap(size_t i)
{
    munmap(pool[i].base, pool[i].data_len + 2 * page_size);
    pool_bytes -= pool[i].data_len;
    memmove(&pool[i], &pool[i + 1], (pool_n - i - 1) * sizeof pool[0]);
    pool_n--;
}

/* Unmaps every pooled block; true if there was one. */
static bool pool_drain(void)
{
    pthread_mutex_lock(&pool_lock);
    bool any = pool_n > 0;
    while (pool_n)
        pool_unmap(pool_n - 1);
    pthread_mutex_unlock(&pool_lock);
    return any;
}

/* A child of fork does not inherit memory locks: the blocks waiting in
 * the pool are unlocked there, so the child forgets them (unmapped)
 * rather than handing out unlocked memory as locked. */
static void pool_prepare(void) { pthread_mutex_lock(&pool_lock); }
static void pool_parent(void) { pthread_mutex_unlock(&pool_lock); }
static void pool_child(void)
{
    while (pool_n)
        pool_unmap(pool_n - 1);
    pthread_mutex_unlock(&pool_lock);
}

static void pool_atfork(void)
{
    pthread_atfork(pool_prepare, pool_parent, pool_child);
}

void *coffer_secure_take(size_t size)
{
    pthread_once(&sodium_once, sodium_setup);
    secure_layout l;
    if (!sodium_ok || !secure_geometry(size ? size : 1, &l))
        return NULL;
    char *base = NULL;
    pthread_mutex_lock(&pool_lock);
    for (size_t i = pool_n; i-- > 0;) {
        if (pool[i].data_len == l.data_len) {
            base = pool[i].base;
            pool[i].base = NULL;
            pool_bytes -= l.data_len;
            memmove(&pool[i], &pool[i + 1], (pool_n - i - 1) * sizeof pool[0]);
            pool_n--;
            break;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    if (!base)
        return secure_alloc(NULL, size);
    return base + page_size + l.slack; /* the canary is still in place */
}

void coffer_secure_give(void *p, size_t size, size_t dirty)
{
    secure_layout l;
    if (!secure_block(p, size, &l))
        return;
    /* The rest was never written since the block was zero (fresh, or
     * wiped when it last came back). */
    size_t room = l.data_len - l.slack;
    sodium_memzero(p, dirty < room ? dirty : room);
    size_t span = l.data_len + 2 * page_size;
    if (l.data_len > POOL_BYTES / 2) {
        munmap(l.base, span);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    while (pool_n && (pool_n == POOL_SLOTS ||
                      pool_bytes + l.data_len > POOL_BYTES))
        pool_unmap(0);
    pool[pool_n].base = l.base;
    pool[pool_n].data_len = l.data_len;
    pool_n++;
    pool_bytes += l.data_len;
    pthread_mutex_unlock(&pool_lock);
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
        secure_release(NULL, b->data, b->cap);
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
        secure_release(NULL, b->data, b->cap);
    b->data = NULL;
    b->len = b->cap = 0;
}
