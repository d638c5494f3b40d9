/* bench_load_crypt.c - in-process cost of loading one secrets file:
 * store open + first acquire (parse, and decryption when the file is
 * encrypted) + one lookup + close, N times. Prints microseconds per load
 * (median of rounds). Usage: bench_load_crypt FILE [N] */
#include "coffer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int n = argc > 2 ? atoi(argv[2]) : 200;
    const char *paths[1] = { argv[1] };
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = 1;
    o.flags = COFFER_STORE_NO_ENV_SOURCES;
    enum { ROUNDS = 9 };
    double per[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (int i = 0; i < n; i++) {
            coffer_store *s;
            coffer_snapshot *snap;
            coffer_error err;
            const char *v;
            if (coffer_store_open(&o, &s, &err) || coffer_store_acquire(s, &snap, &err) ||
                coffer_snapshot_get_string(snap, "SECRET_01", &v, NULL, &err)) {
                fprintf(stderr, "bench_load_crypt: %s\n", err.message);
                return 1;
            }
            coffer_snapshot_release(snap);
            coffer_store_close(s);
        }
        per[r] = (now() - t0) / n * 1e6;
    }
    qsort(per, ROUNDS, sizeof per[0], cmp);
    printf("%.1f\n", per[ROUNDS / 2]);
    return 0;
}
