/* bench_store.c - loading through the store against the bare parser.
 *
 * Usage: bench_store [-m MODE] [-r ROUNDS] [-t SECONDS] LABEL FILE...
 *
 * For every FILE, in ROUNDS interleaved rounds (round 1: every file, every
 * mode; round 2: the same again ...), times these operations one by one:
 *   parse         coffer_toml_parse of the file's bytes (already in memory)
 *                 + coffer_doc_free: the bare parser
 *   store         coffer_store_open (the file as its one source) +
 *                 coffer_store_acquire + coffer_snapshot_release +
 *                 coffer_store_close, default (locked, secure) memory: what
 *                 an application that loads its secrets once pays
 *   store-plain   the same with COFFER_STORE_PLAIN_MEMORY
 *   reload        on an open store whose file was just replaced (renamed
 *                 into place, not timed) by one with a changed value:
 *                 coffer_store_reload + coffer_store_acquire + release
 *   reload-plain  the same with COFFER_STORE_PLAIN_MEMORY
 * (-m: that mode only.) Each mode runs for about SECONDS per file and round (default 0.1; at least
 * 3 operations). Prints one line per file and mode:
 *   LABEL MODE FILE MEDIAN_US BEST_US N MINFLT CPU_US
 * MINFLT: minor page faults per operation, CPU_US: process CPU time (user +
 * system) per operation (getrusage, means; for the reload modes CPU_US
 * includes writing the changed file, which is not timed). LABEL names the
 * malloc settings of the run (bench/run.sh runs the program once with
 * glibc's defaults and once with GLIBC_TUNABLES set for warm memory). The
 * sandbox copy for the reload modes goes in a mktemp directory, removed at
 * exit. Files must start with a "version = 3" line (bench/gen_inputs.py):
 * the changed file has "version = 4" instead.
 */
#include "coffer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

enum { M_PARSE, M_STORE, M_STORE_PLAIN, M_RELOAD, M_RELOAD_PLAIN, NMODES };
static const char *const mode_name[NMODES] = { "parse", "store", "store-plain",
                                               "reload", "reload-plain" };

typedef struct input {
    const char *path;
    char *text, *changed; /* the bytes, and the version with a change */
    size_t len;
    char copy[2][512];    /* sandbox copies for the reload modes */
    coffer_store *rs[2];  /* reload stores: secure, plain */
    int gen[2];           /* which text a copy holds: 0 original */
    long swaps[2];        /* generation of each reload store */
    double *t[NMODES];
    long n[NMODES], cap[NMODES];
    long flt[NMODES];
    double cpu[NMODES];   /* process CPU seconds (user + system) */
} input;

static char sandbox[256];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static double cpu_secs(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void quiet(void *ctx, const char *file, const char *message)
{
    (void)ctx;
    (void)file;
    (void)message;
}

static void die(const char *what, const coffer_error *err)
{
    char msg[600];
    fprintf(stderr, "bench_store: %s: %s\n", what,
            err ? coffer_error_format(err, msg, sizeof msg) : "failed");
    if (sandbox[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", sandbox);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_store: cannot remove %s\n", sandbox);
    }
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path, NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || n < 0 || fread(b, 1, (size_t)n, f) != (size_t)n)
        die(path, NULL);
    fclose(f);
    b[n] = '\0';
    *len = (size_t)n;
    return b;
}

static void put(const char *path, const char *text, size_t len)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0 ||
        rename(tmp, path) != 0)
        die(tmp, NULL);
}

static coffer_store *open_store(const char *path, bool plain)
{
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    const char *paths[1] = { path };
    o.paths = paths;
    o.path_count = 1;
    o.flags = COFFER_STORE_NO_ENV_SOURCES | (plain ? COFFER_STORE_PLAIN_MEMORY : 0);
    o.diag = quiet;
    coffer_store *s;
    coffer_error err;
    if (coffer_store_open(&o, &s, &err) != 0)
        die(path, &err);
    return s;
}

/* One timed operation of mode m on in. */
static double once(input *in, int m)
{
    coffer_error err;
    coffer_snapshot *snap;
    double t0;
    switch (m) {
    case M_PARSE: {
        coffer_doc *doc;
        t0 = now();
        if (coffer_toml_parse(in->text, in->len, NULL, &doc, &err) != 0)
            die(in->path, &err);
        coffer_doc_free(doc);
        return now() - t0;
    }
    case M_STORE:
    case M_STORE_PLAIN: {
        t0 = now();
        coffer_store *s = open_store(in->path, m == M_STORE_PLAIN);
        if (coffer_store_acquire(s, &snap, &err) != 0)
            die(in->path, &err);
        coffer_snapshot_release(snap);
        coffer_store_close(s);
        return now() - t0;
    }
    default: {
        int k = m == M_RELOAD_PLAIN;
        coffer_store *s = in->rs[k];
        in->gen[k] ^= 1;
        put(in->copy[k], in->gen[k] ? in->changed : in->text, in->len);
        t0 = now();
        if (coffer_store_reload(s, &err) != 0 ||
            coffer_store_acquire(s, &snap, &err) != 0)
            die(in->copy[k], &err);
        uint64_t g = coffer_snapshot_generation(snap);
        coffer_snapshot_release(snap);
        double t = now() - t0;
        if (g != (uint64_t)++in->swaps[k])
            die("the reload did not swap in the changed file", NULL);
        return t;
    }
    }
}

static void prepare(input *in, const char *path, int idx)
{
    memset(in, 0, sizeof *in);
    in->path = path;
    in->text = slurp(path, &in->len);
    in->changed = malloc(in->len + 1);
    if (!in->changed)
        die("out of memory", NULL);
    memcpy(in->changed, in->text, in->len + 1);
    char *v = strstr(in->changed, "\nversion = 3\n");
    if (!v)
        die("no 'version = 3' line to change", NULL);
    v[11] = '4';
    for (int k = 0; k < 2; k++) {
        coffer_error err;
        coffer_snapshot *snap;
        snprintf(in->copy[k], sizeof in->copy[k], "%s/in%d-%d.toml", sandbox,
                 idx, k);
        put(in->copy[k], in->text, in->len);
        in->rs[k] = open_store(in->copy[k], k == 1);
        if (coffer_store_acquire(in->rs[k], &snap, &err) != 0)
            die(in->copy[k], &err);
        coffer_snapshot_release(snap);
        in->swaps[k] = 1;
    }
}

static void sample(input *in, int m, double seconds)
{
    double spent = 0;
    long k = 0, f0 = minflt();
    double c0 = cpu_secs();
    while (k < 3 || spent < seconds) {
        double t = once(in, m);
        spent += t;
        if (in->n[m] == in->cap[m]) {
            in->cap[m] = in->cap[m] ? 2 * in->cap[m] : 256;
            in->t[m] = realloc(in->t[m], (size_t)in->cap[m] * sizeof(double));
            if (!in->t[m])
                die("out of memory", NULL);
        }
        in->t[m][in->n[m]++] = t;
        k++;
    }
    in->flt[m] += minflt() - f0;
    in->cpu[m] += cpu_secs() - c0; /* the reload's untimed writes too */
}

int main(int argc, char **argv)
{
    int rounds = 5;
    double seconds = 0.1;
    int opt;
    const char *only = NULL;
    while ((opt = getopt(argc, argv, "m:r:t:")) != -1) {
        if (opt == 'm')
            only = optarg;
        else if (opt == 'r')
            rounds = atoi(optarg);
        else if (opt == 't')
            seconds = atof(optarg);
        else
            return 2;
    }
    if (argc - optind < 2 || rounds < 1) {
        fprintf(stderr, "usage: bench_store [-m MODE] [-r ROUNDS] [-t SECONDS] LABEL FILE...\n");
        return 2;
    }
    const char *label = argv[optind++];
    snprintf(sandbox, sizeof sandbox, "%s/coffer-bench-store.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(sandbox))
        die("mkdtemp", NULL);
    int n = argc - optind;
    input *in = calloc((size_t)n, sizeof *in);
    if (!in)
        die("out of memory", NULL);
    for (int i = 0; i < n; i++)
        prepare(&in[i], argv[optind + i], i);
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++)
            for (int m = 0; m < NMODES; m++)
                if (!only || strcmp(only, mode_name[m]) == 0)
                    sample(&in[i], m, seconds);
    for (int i = 0; i < n; i++) {
        for (int m = 0; m < NMODES; m++) {
            if (!in[i].n[m])
                continue;
            qsort(in[i].t[m], (size_t)in[i].n[m], sizeof(double), cmp_double);
            printf("%s %s %s %.2f %.2f %ld %.1f %.2f\n", label, mode_name[m],
                   in[i].path, in[i].t[m][in[i].n[m] / 2] * 1e6,
                   in[i].t[m][0] * 1e6, in[i].n[m],
                   (double)in[i].flt[m] / (double)in[i].n[m],
                   in[i].cpu[m] * 1e6 / (double)in[i].n[m]);
            free(in[i].t[m]);
        }
        coffer_store_close(in[i].rs[0]);
        coffer_store_close(in[i].rs[1]);
        unlink(in[i].copy[0]);
        unlink(in[i].copy[1]);
        free(in[i].text);
        free(in[i].changed);
    }
    free(in);
    rmdir(sandbox);
    return 0;
}
