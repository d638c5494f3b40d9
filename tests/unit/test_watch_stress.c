/* test_watch_stress.c - 8 reader threads look values up continuously while
 * 1,000 reloads swap snapshots underneath them (and a watch helper thread
 * reloads on the same file's events). Every snapshot a reader holds must be
 * internally consistent: all its keys carry the same generation number N,
 * and each value is exactly one that was written. Run under ASan and TSan. */
#include "testutil.h"
#include "store/store_internal.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NREADERS 8
#define NKEYS 12

static char root[256];
static char file[300];
static atomic_int written;      /* highest N whose file is complete */
static atomic_bool stop;
static atomic_long lookups;
static atomic_int failures;

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static size_t gen_text(int n, char *buf, size_t size);

/* In place: O_TRUNC, one write, close (as `cat new > secrets.toml`). */
static void write_gen_inplace(int n)
{
    char buf[4096];
    size_t pos = gen_text(n, buf, sizeof buf);
    int fd = open(file, O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, pos), (ssize_t)pos);
    assert_int_equal(close(fd), 0);
}

static void write_gen(int n)
{
    char tmp[320], buf[4096];
    size_t pos = gen_text(n, buf, sizeof buf);
    snprintf(tmp, sizeof tmp, "%s.tmp", file);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, pos, f), pos);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rename(tmp, file), 0);
}

static size_t gen_text(int n, char *buf, size_t size)
{
    size_t pos = 0;
    pos += (size_t)snprintf(buf + pos, size - pos, "gen = %d\n", n);
    for (int k = 0; k < NKEYS; k++)
        pos += (size_t)snprintf(buf + pos, size - pos,
                                "k%d = \"value-%d-of-key-%d-padding-padding\"\n",
                                k, n, k);
    pos += (size_t)snprintf(buf + pos, size - pos,
                            "[db]\nuser = \"user-%d\"\npassword = \"pw-%d\"\n",
                            n, n);
    return pos;
}

static void bad(const char *what)
{
    if (atomic_fetch_add(&failures, 1) < 5)
        fprintf(stderr, "stress: %s\n", what);
}

static void *reader(void *arg)
{
    coffer_store *s = arg;
    uint64_t last_gen = 0;
    int64_t last_n = -1;
    unsigned iter = 0;
    while (!atomic_load(&stop)) {
        coffer_snapshot *snap = NULL;
        if (coffer_store_acquire(s, &snap, NULL) != 0) {
            bad("acquire failed");
            break;
        }
        uint64_t g = coffer_snapshot_generation(snap);
        int64_t n = -1;
        if (coffer_snapshot_get_int(snap, "gen", &n, NULL) != 0)
            bad("gen missing");
        /* Snapshots only move forward, and only to content written. */
        if (g < last_gen || n < last_n || n > atomic_load(&written))
            bad("snapshot went backwards or ahead of the writer");
        last_gen = g;
        last_n = n;
        char want[128];
        for (int k = 0; k < NKEYS; k += 3) {
            char key[16];
            snprintf(key, sizeof key, "k%d", k);
            const char *v = NULL;
            size_t len = 0;
            snprintf(want, sizeof want, "value-%lld-of-key-%d-padding-padding",
                     (long long)n, k);
            if (coffer_snapshot_get_string(snap, key, &v, &len, NULL) != 0 ||
                len != strlen(want) || memcmp(v, want, len) != 0)
                bad("torn or foreign value");
        }
        const char *pw = NULL;
        snprintf(want, sizeof want, "pw-%lld", (long long)n);
        if (coffer_snapshot_get_string(snap, "db.password", &pw, NULL, NULL) != 0 ||
            strcmp(pw, want) != 0)
            bad("torn nested value");
        coffer_snapshot_release(snap);
        atomic_fetch_add(&lookups, 1);
        /* 8 readers on few cores: leave the writer its share. */
        if ((++iter & 7) == 0)
            sched_yield();
    }
    return NULL;
}

static void no_diag(void *ctx, const char *f, const char *m)
{
    (void)ctx;
    (void)f;
    (void)m;
}

/* A sandbox with generation 0 written, the counters reset, and a store on
 * it watched by a helper thread (debounce 1 ms). */
static coffer_store *open_watched(const char *tag, unsigned store_flags)
{
    snprintf(root, sizeof root, "/tmp/coffer-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(root));
    snprintf(file, sizeof file, "%s/secrets.toml", root);
    atomic_store(&written, 0);
    atomic_store(&stop, false);
    atomic_store(&lookups, 0);
    atomic_store(&failures, 0);
    write_gen(0);
    const char *paths[] = { file };
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = 1;
    o.flags = store_flags | COFFER_STORE_NO_ENV_SOURCES;
    o.diag = no_diag;
    coffer_store *s = NULL;
    assert_int_equal(coffer_store_open(&o, &s, NULL), 0);
    coffer_snapshot *snap = NULL;
    assert_int_equal(coffer_store_acquire(s, &snap, NULL), 0);
    coffer_snapshot_release(snap);
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.flags = COFFER_WATCH_THREAD;
    wo.debounce_ms = 1;
    assert_int_equal(coffer_store_watch(s, &wo, NULL), 0);
    return s;
}

static void stress(unsigned store_flags, int reloads)
{
    /* The watcher reloads on the same events, concurrently. */
    coffer_store *s = open_watched("stress", store_flags);
    coffer_snapshot *snap = NULL;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[NREADERS];
    for (int i = 0; i < NREADERS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, s), 0);
    int swapped = 0;
    for (int n = 1; n <= reloads; n++) {
        atomic_store(&written, n);
        write_gen(n);
        coffer_diff d;
        coffer_error err;
        int rc = coffer_store_reload_diff(s, &d, &err);
        assert_true(rc >= 0);
        if (rc == 1) {
            swapped++;
            coffer_diff_release(&d);
        }
    }
    /* Keep readers on the final snapshot a moment. */
    usleep(20000);
    atomic_store(&stop, true);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(th[i], NULL);
    coffer_store_unwatch(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "# stress: %d reloads (%d swapped here), %ld snapshot "
            "lookups, %ld ms\n", reloads, swapped, atomic_load(&lookups),
            (long)((t1.tv_sec - t0.tv_sec) * 1000 +
                   (t1.tv_nsec - t0.tv_nsec) / 1000000));

    assert_int_equal(atomic_load(&failures), 0);
    /* Each reload swapped unless the watcher had already loaded that N. */
    assert_true(swapped > 0);
    assert_true(atomic_load(&lookups) > reloads);
    int64_t n = -1;
    assert_int_equal(coffer_store_acquire(s, &snap, NULL), 0);
    assert_int_equal(coffer_snapshot_get_int(snap, "gen", &n, NULL), 0);
    assert_int_equal(n, reloads);
    assert_true(coffer_snapshot_generation(snap) >= (uint64_t)swapped + 1);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* d13: back-to-back in-place rewrites (O_TRUNC + write + close), the
 * watch thread alone reloading: no reader ever holds a snapshot that is
 * empty or partial (the reader's checks: gen, keys, nested values all of
 * one complete version), and the last version is reached. */
static void d13_inplace_rewrites_never_empty(void **state)
{
    (void)state;
    const char *mode = getenv("SUITES");
    int rewrites = mode && strcmp(mode, "valgrind") == 0 ? 40 : 200;
    coffer_store *s = open_watched("d13", COFFER_STORE_PLAIN_MEMORY);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, reader, s), 0);
    for (int n = 1; n <= rewrites; n++) {
        atomic_store(&written, n);
        write_gen_inplace(n);
    }
    /* The last version arrives (the watch thread alone reloads). */
    int64_t last = -1;
    for (int i = 0; i < 300 && last != rewrites; i++) {
        usleep(10000);
        coffer_snapshot *snap = NULL;
        assert_int_equal(coffer_store_acquire(s, &snap, NULL), 0);
        (void)coffer_snapshot_get_int(snap, "gen", &last, NULL);
        coffer_snapshot_release(snap);
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    fprintf(stderr, "# d13: %d in-place rewrites, %ld snapshot lookups\n",
            rewrites, atomic_load(&lookups));
    assert_int_equal(atomic_load(&failures), 0);
    assert_int_equal(last, rewrites);
    coffer_store_close(s);
    nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static int reload_count(void)
{
    const char *s = getenv("SUITES");
    if (s && strcmp(s, "valgrind") == 0)
        return 30;
    return 1000;
}

static void test_stress_plain_memory(void **state)
{
    (void)state;
    stress(COFFER_STORE_PLAIN_MEMORY, reload_count());
}

/* The default secure allocator (guarded, locked pages) as well. */
static void test_stress_secure_memory(void **state)
{
    (void)state;
    stress(0, reload_count() / 10);
}

/* watch / unwatch on one thread while others call fd, timeout and process
 * on the same store: no use after free, no race (ASan, TSan). */
typedef struct racer {
    coffer_store *s;
    atomic_bool stop;
    atomic_long calls;
} racer;

static void *race_loop(void *arg)
{
    racer *r = arg;
    while (!atomic_load(&r->stop)) {
        (void)coffer_store_watch_fd(r->s);
        (void)coffer_store_watch_timeout(r->s);
        coffer_error err;
        int rc = coffer_store_watch_process(r->s, &err);
        if (rc < 0 && rc != COFFER_EINVAL)
            bad("process failed");
        atomic_fetch_add(&r->calls, 1);
    }
    return NULL;
}

static void test_watch_unwatch_race(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/coffer-stress-XXXXXX");
    assert_non_null(mkdtemp(root));
    snprintf(file, sizeof file, "%s/secrets.toml", root);
    atomic_store(&failures, 0);
    write_gen(0);
    const char *paths[] = { file };
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = 1;
    o.flags = COFFER_STORE_PLAIN_MEMORY | COFFER_STORE_NO_ENV_SOURCES;
    o.diag = no_diag;
    coffer_store *s = NULL;
    assert_int_equal(coffer_store_open(&o, &s, NULL), 0);
    racer r;
    r.s = s;
    atomic_init(&r.stop, false);
    atomic_init(&r.calls, 0);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_loop, &r), 0);
    static const unsigned modes[] = { 0, COFFER_WATCH_THREAD, COFFER_WATCH_POLL };
    int rounds = reload_count() / 5;
    for (int i = 0; i < rounds; i++) {
        coffer_watch_options wo;
        memset(&wo, 0, sizeof wo);
        wo.flags = modes[i % 3];
        wo.debounce_ms = 1;
        wo.poll_ms = 1;
        assert_int_equal(coffer_store_watch(s, &wo, NULL), 0);
        write_gen(i + 1);
        usleep(500);
        coffer_store_unwatch(s);
    }
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&failures), 0);
    assert_true(atomic_load(&r.calls) > 0);
    coffer_store_close(s);
    nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_plain_memory),
        cmocka_unit_test(test_stress_secure_memory),
        cmocka_unit_test(test_watch_unwatch_race),
        cmocka_unit_test(d13_inplace_rewrites_never_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
