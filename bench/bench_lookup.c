/*
 * bench_lookup.c - lookup and first-access cost of a coffer store (issue 3,
 * Performance).
 *
 *  1. Lookup: a generated ~200 KB secrets-shaped file (hundreds of sections,
 *     nested tables, an array of tables, quoted keys) is loaded once; then
 *     coffer_snapshot_get() of dotted paths of mixed depth (all hits) is
 *     timed in batches with clock_gettime. Reported: median/p10/p90 ns per
 *     lookup, per depth and mixed. Target: median < 100 ns.
 *     malloc/calloc/realloc/free are interposed by this program (forwarding
 *     to glibc's __libc_* entry points) and counted during the lookup loop:
 *     the count must be 0.
 *  2. First access: time from coffer_store_open() to the first value of a
 *     2 KB file (open + acquire + get), median over many fresh stores, with
 *     secure memory (default) and with COFFER_STORE_PLAIN_MEMORY.
 *     Target: < 50 us.
 *
 * Usage: bench_lookup [BATCHES [FRESH_STORES]]   (defaults 4000, 3000)
 * Exit status 1 if a lookup fails or allocates; the timing targets are
 * reported (met / MISSED), not enforced.
 */
#include "coffer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------- counting allocator */

extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t m);
extern void *__libc_realloc(void *p, size_t n);
extern void __libc_free(void *p);
extern void *__libc_memalign(size_t align, size_t n);

static volatile int counting;
static volatile unsigned long n_alloc, n_free;

void *malloc(size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t m)
{
    if (counting)
        n_alloc++;
    return __libc_calloc(n, m);
}

void *realloc(void *p, size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (counting && p)
        n_free++;
    __libc_free(p);
}

void *aligned_alloc(size_t align, size_t n)
{
    if (counting)
        n_alloc++;
    return __libc_memalign(align, n);
}

int posix_memalign(void **out, size_t align, size_t n)
{
    if (counting)
        n_alloc++;
    void *p = __libc_memalign(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

/* ------------------------------------------------------------ helpers */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;
static uint64_t rng(void)
{
    /* xorshift64*: fixed seed, so every run uses the same data and paths */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static void hex(char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++)
        out[i] = digits[rng() & 15];
    out[n] = '\0';
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v and returns the q-quantile (0..1). */
static double quantile(double *v, size_t n, double q)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i];
}

static void die(const char *what, const coffer_error *err)
{
    char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 32];
    fprintf(stderr, "bench_lookup: %s: %s\n", what,
            err ? coffer_error_format(err, buf, sizeof buf) : "failed");
    exit(1);
}

/* Writes text to a new 0600 file under $TMPDIR; returns its path. */
static char *write_temp(const char *text, size_t len)
{
    const char *dir = getenv("TMPDIR");
    static char paths[2][4096];
    static int next;
    char *path = paths[next++ & 1];
    snprintf(path, sizeof paths[0], "%s/coffer-bench-XXXXXX.toml",
             dir && *dir ? dir : "/tmp");
    int fd = mkstemps(path, 5);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0) {
        perror("bench_lookup: temp file");
        exit(1);
    }
    return path;
}

/* ------------------------------------------------------ data and paths */

#define NSERVICES_MAX 4096
#define NSERVERS 64

typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + 4096;
        t->p = realloc(t->p, t->cap);
        if (!t->p)
            exit(1);
    }
}

/* A secrets-shaped store of about target bytes. Returns the number of
 * [service_NNNN] sections written. */
static int gen_big(text *t, size_t target)
{
    char h1[41], h2[65];
    add(t, "# generated by bench_lookup: secrets-shaped, ~%zu bytes\n",
        target);
    add(t, "app_name = \"bench\"\nenvironment = \"production\"\n"
           "debug = false\nworkers = 8\n");
    hex(h1, 40);
    add(t, "\"key.with.dots\" = { x = \"%s\", y = 1 }\n", h1);
    int s = 0;
    while (t->len < target - 12000 && s < NSERVICES_MAX) {
        hex(h1, 32);
        hex(h2, 64);
        add(t, "\n[service_%04d]\nhost = \"svc-%d.internal.example.com\"\n"
               "port = %d\nuser = \"svc_user_%d\"\npassword = \"%s\"\n"
               "api_key = \"%s\"\ntimeout = %d.5\nenabled = true\n",
            s, s, 5000 + s, s, h1, h2, s % 30);
        hex(h1, 32);
        add(t, "\n[service_%04d.replica]\nhost = \"replica-%d.internal\"\n"
               "password = \"%s\"\n", s, s, h1);
        hex(h2, 64);
        add(t, "\n[service_%04d.replica.tls]\ncert = \"%s\"\n", s, h2);
        s++;
    }
    for (int i = 0; i < NSERVERS; i++) {
        hex(h1, 32);
        add(t, "\n[[servers]]\nhost = \"node-%d.example\"\nport = %d\n"
               "token = \"%s\"\n", i, 7000 + i, h1);
    }
    return s;
}

enum { D1, D2, D3, D4, DARR, DQUOTED, NCLASS };
static const char *class_name[NCLASS] = {
    "root key (depth 1)", "section.key (depth 2)", "depth 3", "depth 4",
    "servers[N].host", "\"quoted.key\".x",
};

#define NPATHS 4096 /* per class; a power of two */

static char *make_path(int cls, int nsvc)
{
    char buf[128];
    int s = (int)(rng() % (uint64_t)nsvc);
    static const char *root_keys[] = { "app_name", "environment", "debug",
                                       "workers" };
    static const char *svc_keys[] = { "host", "port", "user", "password",
                                      "api_key", "timeout", "enabled" };
    switch (cls) {
    case D1:
        snprintf(buf, sizeof buf, "%s", root_keys[rng() % 4]);
        break;
    case D2:
        snprintf(buf, sizeof buf, "service_%04d.%s", s, svc_keys[rng() % 7]);
        break;
    case D3:
        snprintf(buf, sizeof buf, "service_%04d.replica.%s", s,
                 rng() & 1 ? "host" : "password");
        break;
    case D4:
        snprintf(buf, sizeof buf, "service_%04d.replica.tls.cert", s);
        break;
    case DARR:
        snprintf(buf, sizeof buf, "servers[%d].%s", (int)(rng() % NSERVERS),
                 rng() & 1 ? "host" : "token");
        break;
    default:
        snprintf(buf, sizeof buf, "\"key.with.dots\".%s",
                 rng() & 1 ? "x" : "y");
        break;
    }
    return strdup(buf);
}

static volatile uintptr_t sink;

/* Median ns per lookup over batches of `per` lookups cycling through
 * paths[0..NPATHS). Fills p10/p90. */
static double time_lookups(const coffer_snapshot *snap, char **paths,
                           int batches, int per, int count, double *p10,
                           double *p90)
{
    double *ns = __libc_malloc(sizeof *ns * (size_t)batches);
    unsigned pos = 0;
    uintptr_t acc = 0;
    counting = count; /* only the lookups themselves, not qsort below */
    for (int b = 0; b < batches; b++) {
        uint64_t t0 = now_ns();
        for (int i = 0; i < per; i++) {
            const coffer_value *v = NULL;
            if (coffer_snapshot_get(snap, paths[pos], &v, NULL) != 0)
                die(paths[pos], NULL);
            acc += (uintptr_t)v;
            pos = (pos + 1) & (NPATHS - 1);
        }
        uint64_t t1 = now_ns();
        ns[b] = (double)(t1 - t0) / per;
    }
    counting = 0;
    sink = acc;
    double q10 = quantile(ns, (size_t)batches, 0.10);
    double q90 = quantile(ns, (size_t)batches, 0.90);
    double med = quantile(ns, (size_t)batches, 0.50);
    *p10 = q10;
    *p90 = q90;
    __libc_free(ns);
    return med;
}

/* --------------------------------------------------------- first access */

static const char *small_toml(void)
{
    static char buf[4096];
    text t = { 0 };
    char h[65];
    add(&t, "# a typical project .streamlit/secrets.toml (~2 KB)\n");
    for (int i = 0; i < 8; i++) {
        hex(h, 40);
        add(&t, "API_KEY_%d = \"%s\"\n", i, h);
    }
    add(&t, "DEBUG = false\nWORKERS = 4\nRATE = 0.25\n");
    hex(h, 32);
    add(&t, "\n[db_credentials]\nhost = \"db.internal.example.com\"\n"
            "port = 5432\ndbname = \"app\"\nuser = \"app\"\n"
            "password = \"%s\"\nsslmode = \"require\"\n", h);
    for (int s = 0; t.len < 1900; s++) {
        hex(h, 64);
        add(&t, "\n[service_%d]\nurl = \"https://api-%d.example.com/v1\"\n"
                "token = \"%s\"\ntimeout = 30\n", s, s, h);
    }
    snprintf(buf, sizeof buf, "%s", t.p);
    __libc_free(t.p);
    return buf;
}

static double first_access(const char *path, unsigned flags, int n,
                           double *p90, double *cold)
{
    double *us = __libc_malloc(sizeof *us * (size_t)n);
    const char *paths[] = { path };
    coffer_store_options opt = { 0 };
    opt.paths = paths;
    opt.path_count = 1;
    opt.flags = flags | COFFER_STORE_NO_ENV_SOURCES;
    coffer_error err;
    for (int i = 0; i < n; i++) {
        coffer_store *s = NULL;
        coffer_snapshot *snap = NULL;
        const char *pw = NULL;
        uint64_t t0 = now_ns();
        if (coffer_store_open(&opt, &s, &err) != 0)
            die("coffer_store_open", &err);
        if (coffer_store_acquire(s, &snap, &err) != 0)
            die("coffer_store_acquire", &err);
        if (coffer_snapshot_get_string(snap, "db_credentials.password", &pw,
                                       NULL, &err) != 0)
            die("coffer_snapshot_get_string", &err);
        sink += (uintptr_t)pw[0];
        uint64_t t1 = now_ns();
        us[i] = (double)(t1 - t0) / 1000.0;
        coffer_snapshot_release(snap);
        coffer_store_close(s);
    }
    *cold = us[0];
    *p90 = quantile(us, (size_t)n, 0.90);
    double med = quantile(us, (size_t)n, 0.50);
    __libc_free(us);
    return med;
}

/* The secure allocator alone (no coffer work): what one locked, guarded
 * block costs on this machine; released outside the timed window. */
static double secure_alloc_only(size_t size, int n)
{
    const coffer_allocator *a = coffer_allocator_secure();
    double *us = __libc_malloc(sizeof *us * (size_t)n);
    for (int i = 0; i < n; i++) {
        uint64_t t0 = now_ns();
        char *p = a->alloc(a->ctx, size);
        if (!p)
            die("secure alloc", NULL);
        p[0] = 1;
        uint64_t t1 = now_ns();
        us[i] = (double)(t1 - t0) / 1000.0;
        a->release(a->ctx, p, size);
    }
    double med = quantile(us, (size_t)n, 0.50);
    __libc_free(us);
    return med;
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) : 4000;
    int fresh = argc > 2 ? atoi(argv[2]) : 3000;
    const int per = 256;
    if (batches < 10 || fresh < 10) {
        fprintf(stderr, "usage: bench_lookup [BATCHES>=10 [FRESH>=10]]\n");
        return 2;
    }
    int status = 0;

    /* The counter must see allocations made inside libc itself. */
    counting = 1;
    FILE *probe = fopen("/proc/self/stat", "r");
    counting = 0;
    if (probe)
        fclose(probe);
    if (n_alloc == 0) {
        fprintf(stderr, "bench_lookup: malloc interposition does not work\n");
        return 1;
    }

    /* ---- 1. lookups in a ~200 KB store */
    text big = { 0 };
    int nsvc = gen_big(&big, 200 * 1024);
    char *bigpath = write_temp(big.p, big.len);
    const char *paths1[] = { bigpath };
    coffer_store_options opt = { 0 };
    opt.paths = paths1;
    opt.path_count = 1;
    opt.flags = COFFER_STORE_NO_ENV_SOURCES;
    coffer_error err;
    coffer_store *store = NULL;
    coffer_snapshot *snap = NULL;
    if (coffer_store_open(&opt, &store, &err) != 0)
        die("coffer_store_open", &err);
    if (coffer_store_acquire(store, &snap, &err) != 0)
        die("coffer_store_acquire", &err);

    static char *paths[NCLASS + 1][NPATHS];
    for (int c = 0; c < NCLASS; c++)
        for (int i = 0; i < NPATHS; i++)
            paths[c][i] = make_path(c, nsvc);
    /* mixed: D2 and D3 dominate, as in real programs */
    static const int mix[16] = { D1, D2, D2, D2, D2, D2, D3, D3,
                                 D3, D4, D4, DARR, DARR, DQUOTED, D2, D3 };
    for (int i = 0; i < NPATHS; i++)
        paths[NCLASS][i] = make_path(mix[rng() & 15], nsvc);
    for (int c = 0; c <= NCLASS; c++)
        for (int i = 0; i < NPATHS; i++) {
            const coffer_value *v = NULL;
            if (coffer_snapshot_get(snap, paths[c][i], &v, &err) != 0 || !v)
                die(paths[c][i], &err);
        }

    printf("lookup: coffer_snapshot_get, %zu-byte store (%d sections + "
           "nested + %d-element array of tables), %d paths per class, "
           "%d batches x %d lookups\n\n", big.len, nsvc * 3, NSERVERS,
           NPATHS, batches, per);
    printf("| paths | median ns | p10 ns | p90 ns | allocations |\n");
    printf("|---|---:|---:|---:|---:|\n");
    double mixed_median = 0;
    unsigned long total_alloc = 0;
    for (int c = 0; c <= NCLASS; c++) {
        double p10, p90;
        time_lookups(snap, paths[c], batches / 10, per, 0, &p10, &p90);
        n_alloc = n_free = 0;
        double med = time_lookups(snap, paths[c], batches, per, 1, &p10,
                                  &p90);
        unsigned long a = n_alloc + n_free;
        total_alloc += a;
        printf("| %s | %.1f | %.1f | %.1f | %lu |\n",
               c == NCLASS ? "**mixed**" : class_name[c], med, p10, p90, a);
        if (c == NCLASS)
            mixed_median = med;
    }
    printf("\nlookup median (mixed) %.1f ns: target < 100 ns %s\n",
           mixed_median, mixed_median < 100 ? "met" : "MISSED");
    printf("allocations during %d lookups: %lu (must be 0) %s\n",
           (NCLASS + 1) * batches * per, total_alloc,
           total_alloc == 0 ? "ok" : "FAILED");
    if (total_alloc)
        status = 1;

    coffer_snapshot_release(snap);
    coffer_store_close(store);
    unlink(bigpath);
    for (int c = 0; c <= NCLASS; c++)
        for (int i = 0; i < NPATHS; i++)
            free(paths[c][i]);
    free(big.p);

    /* ---- 2. first access: open + acquire + get of a 2 KB file */
    const char *small = small_toml();
    char *smallpath = write_temp(small, strlen(small));
    double p90s, colds, p90p, coldp;
    double meds = first_access(smallpath, 0, fresh, &p90s, &colds);
    double medp = first_access(smallpath, COFFER_STORE_PLAIN_MEMORY, fresh,
                               &p90p, &coldp);
    unlink(smallpath);
    printf("\nfirst access: coffer_store_open -> acquire -> "
           "get_string(\"db_credentials.password\"), %zu-byte file, "
           "%d fresh stores each\n\n", strlen(small), fresh);
    printf("| memory | median us | p90 us | first in process us |\n");
    printf("|---|---:|---:|---:|\n");
    printf("| secure (default: guard pages, mlock, MADV_DONTDUMP) | %.1f | "
           "%.1f | %.1f |\n", meds, p90s, colds);
    printf("| plain (COFFER_STORE_PLAIN_MEMORY) | %.1f | %.1f | %.1f |\n",
           medp, p90p, coldp);
    printf("| for scale: secure allocator alone, one 4 KB block | %.1f | | |\n",
           secure_alloc_only(4096, fresh));
    printf("| for scale: secure allocator alone, one 16 KB block | %.1f | | |\n",
           secure_alloc_only(16384, fresh));
    printf("\nfirst access median (secure) %.1f us: target < 50 us %s\n",
           meds, meds < 50 ? "met" : "MISSED");
    if (coffer_memory_lock_failed())
        printf("note: some secure memory could not be locked "
               "(RLIMIT_MEMLOCK)\n");
    return status;
}
