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

static void sodium_setup(void)
{
    sodium_ok = sodium_init() >= 0;
    long pg = sysconf(_SC_PAGESIZE);
    if (pg > 0 && ((size_t)pg & ((size_t)pg - 1)) == 0)
        page_size = (size_t)pg;
    if (sodium_ok)
        randombytes_buf(canary, sizeof canary);
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
    if (sodium_mlock(l.data, l.data_len) != 0)
        atomic_store(&lock_failed, true);
    if (l.slack)
        memcpy(l.data + l.slack - sizeof canary, canary, sizeof canary);
    return l.data + l.slack;
}

static void secure_release(void *ctx, void *p, size_t size)
{
    (void)ctx;
    secure_layout l;
    if (!p || !secure_geometry(size ? size : 1, &l))
        return;
    l.data = (char *)p - l.slack;
    l.base = l.data - page_size;
    if (l.slack && sodium_memcmp(l.data + l.slack - sizeof canary, canary,
                                 sizeof canary) != 0)
        sodium_misuse(); /* the bytes in front were overwritten: abort */
    sodium_memzero(l.data, l.data_len);
    munmap(l.base, l.data_len + 2 * page_size); /* unlocks too */
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
