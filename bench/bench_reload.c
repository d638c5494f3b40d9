/* bench_reload.c - live reload numbers:
 *
 *  1. latency from the rename of a new secrets file into place to the new
 *     value being visible to a reader (helper-thread watch, one reader
 *     spinning on acquire + lookup), median and p99 over N changes, for
 *     inotify with debounce 20 (default) / 5 / 1 ms and for polling at a
 *     100 ms interval;
 *  2. the cost of one reload of a ~200 KB file (median us), with a swap
 *     (content changed) and without (same content);
 *  3. reader lookup latency (acquire + get_string + release, median and
 *     p99 ns) with no reload running, and while reloads of the 200 KB file
 *     run back to back in another thread.
 *
 * Usage: bench_reload [changes]   (default 200; env BENCH_QUICK=1: 40)
 * Prints a Markdown table. Sandbox in a mktemp directory, removed at exit. */
#include "coffer.h"
#include "store/store_internal.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[256];
static char small_file[300], big_file[300];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t pct(int64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_i64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static void write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[400];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
        perror(tmp);
        exit(1);
    }
    if (rename(tmp, path) != 0) {
        perror("rename");
        exit(1);
    }
}

static void small_text(char *buf, size_t n, int gen)
{
    snprintf(buf, n,
             "gen = %d\napi_key = \"key-%d\"\n[db]\nhost = \"db.internal\"\n"
             "user = \"app\"\npassword = \"pw-%d-xxxxxxxxxxxxxxxx\"\n",
             gen, gen, gen);
}

/* ~200 KB of secrets-shaped TOML; gen changes a few values. */
static char *big_text(int gen, size_t *len)
{
    size_t cap = 260 * 1024, pos = 0;
    char *b = malloc(cap);
    if (!b)
        exit(1);
    pos += (size_t)snprintf(b + pos, cap - pos, "gen = %d\n", gen);
    for (int t = 0; pos < 200 * 1024 - 400; t++) {
        pos += (size_t)snprintf(b + pos, cap - pos, "\n[service_%d]\n", t);
        for (int k = 0; k < 8; k++)
            pos += (size_t)snprintf(b + pos, cap - pos,
                                    "key_%d = \"%08x-%04x-value-of-a-secret-%d\"\n",
                                    k, (unsigned)(t * 2654435761u + k),
                                    (unsigned)k, t % 5 == 0 ? gen : 0);
    }
    *len = pos;
    return b;
}

static void quiet(void *ctx, const char *f, const char *m)
{
    (void)ctx;
    (void)f;
    (void)m;
}

static coffer_store *open_one(const char *path, unsigned flags)
{
    const char *paths[] = { path };
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = 1;
    o.flags = flags | COFFER_STORE_NO_ENV_SOURCES;
    o.diag = quiet;
    coffer_store *s = NULL;
    coffer_error err;
    if (coffer_store_open(&o, &s, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.message);
        exit(1);
    }
    return s;
}

/* ---------------------------------------------------- 1. change latency */

typedef struct spin {
    coffer_store *s;
    atomic_int seen;       /* last gen seen */
    atomic_llong seen_at;  /* when it was first seen */
    atomic_bool stop;
} spin;

static void *spinner(void *arg)
{
    spin *sp = arg;
    int last = -1;
    while (!atomic_load_explicit(&sp->stop, memory_order_relaxed)) {
        coffer_snapshot *snap;
        if (coffer_store_acquire(sp->s, &snap, NULL) != 0)
            continue;
        int64_t g = -1;
        (void)coffer_snapshot_get_int(snap, "gen", &g, NULL);
        coffer_snapshot_release(snap);
        if (g != last) {
            last = (int)g;
            atomic_store(&sp->seen_at, now_ns());
            atomic_store(&sp->seen, (int)g);
        }
    }
    return NULL;
}

static void latency(const char *label, unsigned flags, unsigned debounce,
                    unsigned poll_ms, int changes)
{
    char text[512];
    static int gen_base = 1000;
    int gen = gen_base;
    gen_base += 100000;
    small_text(text, sizeof text, gen);
    write_atomic(small_file, text, strlen(text));
    coffer_store *s = open_one(small_file, COFFER_STORE_PLAIN_MEMORY);
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.flags = flags | COFFER_WATCH_THREAD;
    wo.debounce_ms = debounce;
    wo.poll_ms = poll_ms;
    coffer_error err;
    if (coffer_store_watch(s, &wo, &err) != 0) {
        fprintf(stderr, "watch: %s\n", err.message);
        exit(1);
    }
    spin sp;
    sp.s = s;
    atomic_init(&sp.seen, -1);
    atomic_init(&sp.seen_at, 0);
    atomic_init(&sp.stop, false);
    pthread_t th;
    pthread_create(&th, NULL, spinner, &sp);
    while (atomic_load(&sp.seen) != gen)
        usleep(1000);
    int64_t *lat = calloc((size_t)changes, sizeof *lat);
    int missed = 0;
    unsigned seed = 12345;
    for (int i = 0; i < changes; i++) {
        gen++;
        small_text(text, sizeof text, gen);
        char tmp[400];
        snprintf(tmp, sizeof tmp, "%s.tmp", small_file);
        FILE *f = fopen(tmp, "w");
        fputs(text, f);
        fclose(f);
        int64_t t0 = now_ns();
        if (rename(tmp, small_file) != 0)
            exit(1);
        int64_t deadline = t0 + 3000000000LL;
        while (atomic_load(&sp.seen) != gen && now_ns() < deadline)
            usleep(100);
        if (atomic_load(&sp.seen) != gen) {
            missed++;
            lat[i] = 3000000000LL;
        } else {
            lat[i] = atomic_load(&sp.seen_at) - t0;
        }
        /* Random phase against the poll interval; quiet time between
         * changes so each is its own reload. */
        seed = seed * 1103515245u + 12345u;
        usleep(1000 * (debounce + 5) + (seed >> 16) % 20000);
    }
    atomic_store(&sp.stop, true);
    pthread_join(th, NULL);
    coffer_store_close(s);
    double med = (double)pct(lat, (size_t)changes, 0.5) / 1e6;
    double p99 = (double)pct(lat, (size_t)changes, 0.99) / 1e6;
    printf("| %-36s | %7d | %9.2f | %9.2f |%s\n", label, changes, med, p99,
           missed ? " (some changes never seen)" : "");
    free(lat);
}

/* ------------------------------------------------------- 2. reload cost */

static void reload_cost(const char *label, unsigned flags, int rounds)
{
    size_t la, lb;
    char *a = big_text(1, &la), *b = big_text(2, &lb);
    write_atomic(big_file, a, la);
    coffer_store *s = open_one(big_file, flags);
    coffer_snapshot *snap;
    if (coffer_store_acquire(s, &snap, NULL) != 0)
        exit(1);
    coffer_snapshot_release(snap);
    int64_t *swap = calloc((size_t)rounds, sizeof *swap);
    int64_t *same = calloc((size_t)rounds, sizeof *same);
    for (int i = 0; i < rounds; i++) {
        if (i % 2)
            write_atomic(big_file, a, la);
        else
            write_atomic(big_file, b, lb);
        coffer_diff d;
        int64_t t0 = now_ns();
        int rc = coffer_store_reload_diff(s, &d, NULL);
        swap[i] = now_ns() - t0;
        if (rc != 1) {
            fprintf(stderr, "reload did not swap (%d)\n", rc);
            exit(1);
        }
        coffer_diff_release(&d);
        t0 = now_ns();
        rc = coffer_store_reload_diff(s, &d, NULL);
        same[i] = now_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "same-content reload swapped (%d)\n", rc);
            exit(1);
        }
    }
    printf("| %-36s | %7zu | %10.0f | %10.0f |\n", label, la,
           (double)pct(swap, (size_t)rounds, 0.5) / 1e3,
           (double)pct(same, (size_t)rounds, 0.5) / 1e3);
    coffer_store_close(s);
    free(swap);
    free(same);
    free(a);
    free(b);
}

/* --------------------------------------------------- 3. lookup latency */

typedef struct reloader {
    coffer_store *s;
    atomic_bool stop;
    atomic_long reloads;
} reloader;

static void *reload_loop(void *arg)
{
    reloader *r = arg;
    size_t la, lb;
    char *a = big_text(3, &la), *b = big_text(4, &lb);
    for (long i = 0; !atomic_load(&r->stop); i++) {
        write_atomic(big_file, i % 2 ? a : b, i % 2 ? la : lb);
        if (coffer_store_reload(r->s, NULL) == 0)
            atomic_fetch_add(&r->reloads, 1);
    }
    free(a);
    free(b);
    return NULL;
}

static void lookups(const char *label, coffer_store *s, size_t n,
                    long *reloads_out, reloader *rl)
{
    int64_t *v = calloc(n, sizeof *v);
    long r0 = rl ? atomic_load(&rl->reloads) : 0;
    int64_t t_start = now_ns();
    for (size_t i = 0; i < n; i++) {
        int64_t t0 = now_ns();
        coffer_snapshot *snap;
        const char *str;
        if (coffer_store_acquire(s, &snap, NULL) != 0)
            exit(1);
        if (coffer_snapshot_get_string(snap, "service_7.key_3", &str, NULL,
                                       NULL) != 0)
            exit(1);
        coffer_snapshot_release(snap);
        v[i] = now_ns() - t0;
    }
    double secs = (double)(now_ns() - t_start) / 1e9;
    long reloads = rl ? atomic_load(&rl->reloads) - r0 : 0;
    if (reloads_out)
        *reloads_out = reloads;
    printf("| %-36s | %8zu | %7lld | %7lld | %7lld | %9.0f |\n", label, n,
           (long long)pct(v, n, 0.5), (long long)pct(v, n, 0.99),
           (long long)pct(v, n, 0.999), (double)reloads / secs);
    free(v);
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void cleanup(void)
{
    if (root[0])
        nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
    int changes = argc > 1 ? atoi(argv[1]) : 200;
    if (getenv("BENCH_QUICK"))
        changes = 40;
    if (changes < 2)
        changes = 2;
    snprintf(root, sizeof root, "/tmp/coffer-bench-reload-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    snprintf(small_file, sizeof small_file, "%s/secrets.toml", root);
    snprintf(big_file, sizeof big_file, "%s/big.toml", root);

    printf("### Change latency: rename into place -> new value seen by a reader\n\n");
    printf("| %-36s | %7s | %9s | %9s |\n", "watch mode", "changes",
           "median ms", "p99 ms");
    printf("|%s|%s|%s|%s|\n", "--------------------------------------",
           "---------", "-----------", "-----------");
    latency("inotify, debounce 20 ms (default)", 0, 0, 0, changes);
    latency("inotify, debounce 5 ms", 0, 5, 0, changes);
    latency("inotify, debounce 1 ms (minimum)", 0, 1, 0, changes);
    latency("polling every 100 ms, debounce 20 ms", COFFER_WATCH_POLL, 0, 100,
            changes);

    printf("\n### Cost of one reload (coffer_store_reload_diff)\n\n");
    printf("| %-36s | %7s | %10s | %10s |\n", "memory", "bytes",
           "swap us", "same us");
    printf("|%s|%s|%s|%s|\n", "--------------------------------------",
           "---------", "------------", "------------");
    reload_cost("plain allocator", COFFER_STORE_PLAIN_MEMORY, 60);
    reload_cost("secure allocator (default)", 0, 30);

    printf("\n### Reader lookup latency (acquire + get_string + release)\n\n");
    printf("| %-36s | %8s | %7s | %7s | %7s | %9s |\n", "condition", "lookups",
           "p50 ns", "p99 ns", "p99.9 ns", "reloads/s");
    printf("|%s|%s|%s|%s|%s|%s|\n", "--------------------------------------",
           "----------", "---------", "---------", "---------", "-----------");
    size_t n = getenv("BENCH_QUICK") ? 200000 : 1000000;
    for (int m = 0; m < 2; m++) {
        unsigned flags = m ? 0 : COFFER_STORE_PLAIN_MEMORY;
        const char *mem = m ? "secure" : "plain";
        char label[64];
        size_t la;
        char *a = big_text(3, &la);
        write_atomic(big_file, a, la);
        free(a);
        coffer_store *s = open_one(big_file, flags);
        snprintf(label, sizeof label, "%s store, no reloads", mem);
        lookups(label, s, n, NULL, NULL);
        reloader rl;
        rl.s = s;
        atomic_init(&rl.stop, false);
        atomic_init(&rl.reloads, 0);
        pthread_t th;
        pthread_create(&th, NULL, reload_loop, &rl);
        usleep(50000);
        snprintf(label, sizeof label, "%s store, 200 KB reloads nonstop", mem);
        lookups(label, s, n, NULL, &rl);
        atomic_store(&rl.stop, true);
        pthread_join(th, NULL);
        coffer_store_close(s);
    }
    return 0;
}
