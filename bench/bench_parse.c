/* bench_parse.c - coffer TOML parse throughput and memory.
 *
 * Usage: bench_parse FILE...       throughput and arena memory per file
 *        bench_parse --rss FILE    peak RSS of parsing FILE in this process
 *
 * Throughput: the in-memory text is parsed with coffer_toml_parse (which
 * copies it) repeatedly, repetitions sized to about 0.5 s per input (at
 * least 20, so that the best-of of a 20 MiB input has a fair number of
 * tries too), in 5 rounds over all the inputs (a slow phase of a shared
 * machine, seconds long on this VM, then hits every input, not just the
 * one measured at the time);
 * each parse is timed on its own (freeing the document is not timed). glibc is
 * told to keep freed memory (mallopt), so the repetitions run on warm
 * memory, as the peers' drivers do; the --rss run shows a cold parse. Prints
 *   coffer FILE BEST_MBPS MEDIAN_MBPS MEM_RATIO DOC_BYTES CPU_BEST CPU_MEDIAN
 * with MB = 10^6 bytes and MEM_RATIO = document memory / input size, where
 * document memory is everything the document holds (coffer_doc_memory: the
 * arena, which includes the document's copy of the text). CPU_BEST and
 * CPU_MEDIAN are the same throughputs from the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID) instead of wall time, for inputs of 64 KiB and
 * more (0 for smaller ones, where the clock's own cost would show): on a
 * busy machine a 30 ms parse of a 20 MiB input is nearly always cut by the
 * scheduler while most 0.3 ms parses of 200 KiB are not, which the
 * wall-time best-of shows as a slowdown of the parser.
 *
 * --rss: reads FILE into a block from the plain allocator and hands it to
 * coffer_toml_parse_owned (no second copy, as the store does), then prints
 *   rss FILE PEAK_BYTES RATIO COLD_MBPS SYS_PERCENT PAGE_FAULTS
 * where PEAK_BYTES is getrusage's ru_maxrss after the parse minus the one
 * before reading the file, COLD_MBPS the throughput of this one parse in a
 * fresh process, SYS_PERCENT the share of its CPU time spent in the kernel
 * (page faults of fresh arena memory) and PAGE_FAULTS their number. Run it
 * in a fresh process per input.
 */
#include "coffer.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Reads path into a block from the plain allocator (size *cap). */
static char *read_file(const char *path, size_t *len, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "bench_parse: cannot open '%s'\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (size < 0) {
        fclose(f);
        return NULL;
    }
    const coffer_allocator *a = coffer_allocator_plain();
    *cap = (size_t)size + 1;
    char *buf = a->alloc(a->ctx, *cap);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "bench_parse: cannot read '%s'\n", path);
        fclose(f);
        if (buf)
            a->release(a->ctx, buf, *cap);
        return NULL;
    }
    fclose(f);
    buf[size] = '\0';
    *len = (size_t)size;
    return buf;
}

static long maxrss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss * 1024L;
}

static double tv_secs(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static int rss_mode(const char *path)
{
    long before = maxrss_bytes();
    size_t len, cap;
    char *buf = read_file(path, &len, &cap);
    if (!buf)
        return 1;
    coffer_doc *doc;
    coffer_error err;
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    double t0 = now();
    if (coffer_toml_parse_owned(buf, len, cap, NULL, &doc, &err) != 0) {
        char msg[512];
        fprintf(stderr, "bench_parse: %s: %s\n", path,
                coffer_error_format(&err, msg, sizeof msg));
        return 1;
    }
    double wall = now() - t0;
    getrusage(RUSAGE_SELF, &r1);
    long peak = maxrss_bytes() - before;
    double user = tv_secs(r1.ru_utime) - tv_secs(r0.ru_utime);
    double sys = tv_secs(r1.ru_stime) - tv_secs(r0.ru_stime);
    /* the cold parse: the arena's memory is faulted in for the first time */
    printf("rss %s %ld %.2f %.2f %.1f %ld\n", path, peak,
           (double)peak / (double)len, (double)len / 1e6 / wall,
           user + sys > 0 ? 100.0 * sys / (user + sys) : 0.0,
           r1.ru_minflt - r0.ru_minflt);
    coffer_doc_free(doc);
    return 0;
}

/* One input of the throughput runs: its text and every timed sample. */
typedef struct input {
    const char *path;
    char *text;
    size_t len, cap, mem;
    long reps;       /* per round */
    long n;          /* samples so far */
    double *t, *ct;  /* wall and CPU seconds per parse */
} input;

#define ROUNDS 5
#define SECONDS 0.5 /* per input, over all rounds */

static int prepare(input *in, const char *path)
{
    memset(in, 0, sizeof *in);
    in->path = path;
    in->text = read_file(path, &in->len, &in->cap);
    if (!in->text)
        return 1;
    coffer_doc *doc;
    coffer_error err;
    double t0 = now();
    if (coffer_toml_parse(in->text, in->len, NULL, &doc, &err) != 0) {
        char msg[512];
        fprintf(stderr, "bench_parse: %s: %s\n", path,
                coffer_error_format(&err, msg, sizeof msg));
        return 1;
    }
    double first = now() - t0;
    in->mem = coffer_doc_memory(doc);
    coffer_doc_free(doc);
    long reps = first > 0 ? (long)(SECONDS / ROUNDS / first) : 100000;
    if (reps < 4)
        reps = 4;
    if (reps > 200000)
        reps = 200000;
    in->reps = reps;
    in->t = malloc(2 * (size_t)(reps * ROUNDS) * sizeof *in->t);
    if (!in->t)
        return 1;
    in->ct = in->t + reps * ROUNDS;
    return 0;
}

/* One round of samples for in. */
static int sample(input *in)
{
    /* the CPU clock is a system call: only around the larger inputs, and
     * outside the wall-clock interval */
    const int cpu = in->len >= ((size_t)64 << 10);
    for (long r = 0; r < in->reps; r++) {
        coffer_doc *doc;
        double cs = cpu ? cpu_now() : 0, s = now();
        int rc = coffer_toml_parse(in->text, in->len, NULL, &doc, NULL);
        in->t[in->n] = now() - s;
        in->ct[in->n] = cpu ? cpu_now() - cs : 0;
        in->n++;
        if (rc != 0)
            return 1;
        coffer_doc_free(doc);
    }
    return 0;
}

static void report(input *in)
{
    long n = in->n;
    qsort(in->t, (size_t)n, sizeof *in->t, cmp_double);
    qsort(in->ct, (size_t)n, sizeof *in->ct, cmp_double);
    double mb = (double)in->len / 1e6;
    printf("coffer %s %.2f %.2f %.2f %zu %.2f %.2f\n", in->path,
           mb / in->t[0], mb / in->t[n / 2],
           (double)in->mem / (double)in->len, in->mem,
           in->ct[0] > 0 ? mb / in->ct[0] : 0.0,
           in->ct[n / 2] > 0 ? mb / in->ct[n / 2] : 0.0);
    fflush(stdout);
    free(in->t);
    const coffer_allocator *a = coffer_allocator_plain();
    a->release(a->ctx, in->text, in->cap);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--rss") == 0)
        return rss_mode(argv[2]);
    if (argc < 2) {
        fprintf(stderr, "usage: bench_parse FILE... | bench_parse --rss FILE\n");
        return 2;
    }
    /* Warm memory: keep freed arena chunks in the heap instead of giving
     * them back to the kernel after every document, so that repetitions
     * measure the parser rather than page faults (a fresh process pays
     * those once: see --rss). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    int n = argc - 1;
    input *in = calloc((size_t)n, sizeof *in);
    if (!in)
        return 1;
    for (int i = 0; i < n; i++)
        if (prepare(&in[i], argv[i + 1]) != 0)
            return 1;
    /* Rounds over all the inputs: a slow phase of the machine (other
     * work, the host of this VM) then hits every input alike instead of
     * the one being measured at that moment. */
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < n; i++)
            if (sample(&in[i]) != 0)
                return 1;
    for (int i = 0; i < n; i++)
        report(&in[i]);
    free(in);
    return 0;
}
