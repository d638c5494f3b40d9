/* test_oom.c - out-of-memory sweep: a failing allocator (the Nth malloc,
 * calloc, realloc, aligned allocation or mmap fails) for every N along a
 * store's life - open, load, lookups, a section, a reload after a change,
 * an environment export and un-export, a watch and its reload, a check, and
 * close - proves that every out-of-memory branch returns an error (no crash,
 * no abort) and leaks nothing: every block and mapping taken while the
 * failure point was armed is given back by the end of the scenario.
 *
 * The allocator functions are interposed in this test program (glibc calls
 * them through the PLT, libcoffer.a is linked in statically), forwarding to
 * glibc's __libc_* entry points and to the mmap system call. Not built for
 * the sanitizers, which interpose the allocator themselves. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <coffer.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store_testutil.h"

/* Internal (libcoffer.a is linked statically): export records stay mapped
 * for the life of the process by design (D6), two blocks each. */
size_t coffer_env_records(void);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define OOM_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define OOM_SANITIZED 1
#endif
#endif

#ifndef OOM_SANITIZED
/* ------------------------------------------------------------ allocator */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

/* Exported, so that glibc's own calls (strdup, scandir, fopen ...) come here
 * too: the project builds with -fvisibility=hidden. */
#define OOM_EXPORT __attribute__((visibility("default")))

static bool armed;
static long fail_at;   /* the allocation number that fails; 0: none */
static long counted;   /* allocations seen while armed */

/* Live blocks and mappings taken while armed: an open-addressing set. */
#define LIVE_SLOTS 65536
static uintptr_t live[LIVE_SLOTS];
static size_t live_len[LIVE_SLOTS];
static void *live_from[LIVE_SLOTS]; /* caller, for the leak report */
static long nlive;

static size_t slot_of(uintptr_t p)
{
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull) & (LIVE_SLOTS - 1);
}

#define live_add(p, len) live_add_from(p, len, __builtin_return_address(0))
static void live_add_from(void *p, size_t len, void *from)
{
    uintptr_t v = (uintptr_t)p;
    size_t i = slot_of(v);
    while (live[i] && live[i] != 1)
        i = (i + 1) & (LIVE_SLOTS - 1);
    live[i] = v;
    live_len[i] = len;
    live_from[i] = from;
    nlive++;
}

/* Removes p; returns true if it was in the set. */
static bool live_del(void *p)
{
    uintptr_t v = (uintptr_t)p;
    for (size_t i = slot_of(v), k = 0; k < LIVE_SLOTS && live[i];
         i = (i + 1) & (LIVE_SLOTS - 1), k++) {
        if (live[i] == v) {
            live[i] = 1; /* tombstone */
            nlive--;
            return true;
        }
    }
    return false;
}

static void live_reset(void)
{
    memset(live, 0, sizeof live);
    nlive = 0;
}

static bool should_fail(void)
{
    if (!armed)
        return false;
    counted++;
    return counted == fail_at;
}

OOM_EXPORT void *malloc(size_t n)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_malloc(n);
    if (armed && p)
        live_add(p, 0);
    return p;
}

OOM_EXPORT void *calloc(size_t n, size_t m)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __libc_calloc(n, m);
    if (armed && p)
        live_add(p, 0);
    return p;
}

OOM_EXPORT void *realloc(void *old, size_t n)
{
    if (!old)
        return malloc(n);
    if (n == 0) {
        free(old);
        return NULL;
    }
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    bool tracked = armed && live_del(old);
    void *p = __libc_realloc(old, n);
    if (!p && tracked)
        live_add(old, 0);
    else if (p && tracked)
        live_add(p, 0);
    return p;
}

static void *aligned(size_t align, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = __libc_memalign(align, n);
    if (armed && p)
        live_add(p, 0);
    return p;
}

OOM_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
    void *p = aligned(align, n);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}

OOM_EXPORT void *aligned_alloc(size_t align, size_t n) { return aligned(align, n); }
OOM_EXPORT void *memalign(size_t align, size_t n) { return aligned(align, n); }

OOM_EXPORT void free(void *p)
{
    if (!p)
        return;
    if (armed)
        live_del(p);
    __libc_free(p);
}

OOM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (should_fail()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    if (r == -1)
        return MAP_FAILED;
    if (armed)
        live_add((void *)r, len);
    return (void *)r;
}

OOM_EXPORT int munmap(void *addr, size_t len)
{
    if (armed)
        live_del(addr);
    return (int)syscall(SYS_munmap, addr, len);
}

/* ------------------------------------------------------------- scenario */

static const char *FIRST =
    "api_key = \"k-1234\"\nport = 5432\nratio = 0.5\nflag = true\n"
    "list = [1, 2, 3]\n[db]\nuser = \"app\"\npassword = \"pw-1\"\nport = 5432\n"
    "[[servers]]\nhost = \"a\"\n[[servers]]\nhost = \"b\"\n";
static const char *SECOND =
    "api_key = \"k-5678\"\nnew_key = \"n\"\n[db]\nuser = \"app\"\n"
    "password = \"pw-2\"\n";

/* The first file's text: FIRST, or FIRST encrypted by the CLI. */
static const char *first_text;

static int ok_or_oom(int rc)
{
    /* An injected failure surfaces as out of memory, or as a system error
     * for calls whose failure coffer reports with errno (ENOMEM). */
    return rc >= 0 || rc == COFFER_ENOMEM || rc == COFFER_ESYS ||
           rc == COFFER_ELOCK;
}

static void count_finding(void *ctx, int severity, const char *file,
                          const char *message)
{
    (void)severity; (void)file; (void)message;
    (*(int *)ctx)++;
}

/* One store's life. Returns false on a return code that is neither
 * success nor an out-of-memory report. Files are written unarmed. */
static bool scenario(unsigned flags, int *bad_rc, const char **where)
{
    const char *path = project_file();
    const char *paths[] = { path };
    write_at(path, first_text ? first_text : FIRST, 0600);
    coffer_error err;
    coffer_store *s = NULL;
    armed = true;
    int rc = open_opts(&s, flags, paths, 1, &err);
    bool good = true;
#define STEP(name, call)                                                     \
    do {                                                                     \
        rc = (call);                                                         \
        if (!ok_or_oom(rc)) {                                                \
            *bad_rc = rc;                                                    \
            *where = name;                                                   \
            good = false;                                                    \
        }                                                                    \
    } while (0)
    if (rc != 0) {
        armed = false;
        if (!ok_or_oom(rc)) {
            *bad_rc = rc;
            *where = "open";
            return false;
        }
        return true;
    }
    coffer_snapshot *snap = NULL;
    STEP("acquire", coffer_store_acquire(s, &snap, &err));
    if (snap) {
        const char *str;
        int64_t i;
        coffer_section sec;
        STEP("get_string", coffer_snapshot_get_string(snap, "db.password", &str,
                                                      NULL, &err));
        STEP("get_int", coffer_snapshot_get_int(snap, "port", &i, &err));
        STEP("get missing", coffer_snapshot_get_string(snap, "db.pasword", &str,
                                                       NULL, &err) == COFFER_ENOKEY
                                ? 0 : COFFER_EINVAL);
        rc = coffer_snapshot_section(snap, "db", &sec, &err);
        if (rc == 0)
            coffer_section_release(&sec);
        else if (!ok_or_oom(rc))
            good = false, *bad_rc = rc, *where = "section";
        coffer_snapshot_release(snap);
        snap = NULL;
    }
    STEP("export", coffer_store_export(s, 0, &err));
    armed = false;
    write_at(path, SECOND, 0600);
    armed = true;
    STEP("reload", coffer_store_reload(s, &err));
    STEP("re-export", coffer_store_export(s, 0, &err));
    STEP("unexport", coffer_store_unexport(s));
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.flags = COFFER_WATCH_POLL;
    wo.poll_ms = 1;
    wo.debounce_ms = 1;
    rc = coffer_store_watch(s, &wo, &err);
    if (rc == 0) {
        armed = false;
        write_at(path, FIRST, 0600);
        usleep(3000);
        armed = true;
        for (int k = 0; k < 3; k++) {
            usleep(2000);
            STEP("watch_process", coffer_store_watch_process(s, &err));
        }
        coffer_store_unwatch(s);
    } else if (!ok_or_oom(rc)) {
        good = false, *bad_rc = rc, *where = "watch";
    }
    int nf = 0;
    STEP("check", coffer_store_check(s, count_finding, &nf));
    (void)coffer_store_unexport(s);
    coffer_store_close(s);
    armed = false;
#undef STEP
    return good;
}

static void sweep(unsigned flags, const char *label)
{
    int bad_rc = 0;
    const char *where = "";
    /* Warm-up: one-time allocations of libc and libsodium happen here. */
    fail_at = 0;
    counted = 0;
    assert_true(scenario(flags, &bad_rc, &where));
    live_reset();
    counted = 0;
    assert_true(scenario(flags, &bad_rc, &where));
    long total = counted;
    assert_true(total > 20);
    long leaks_at = 0, leaked = 0, bad_at = 0;
    for (long n = 1; n <= total; n++) {
        live_reset();
        fail_at = n;
        counted = 0;
        size_t records = coffer_env_records();
        if (!scenario(flags, &bad_rc, &where) && !bad_at)
            bad_at = n;
        long kept = 2 * (long)(coffer_env_records() - records);
        if (nlive != kept && !leaks_at) {
            leaks_at = n;
            leaked = nlive;
            for (size_t i = 0; i < LIVE_SLOTS; i++)
                if (live[i] > 1)
                    print_message("# leaked block from %p (fail at %ld)\n", live_from[i], n);
        }
    }
    fail_at = 0;
    print_message("# %s: %ld allocation points swept\n", label, total);
    if (bad_at)
        print_message("# %s: failure %ld gave rc %d at '%s'\n", label, bad_at,
                      bad_rc, where);
    if (leaks_at)
        print_message("# %s: failure %ld leaked %ld blocks\n", label, leaks_at,
                      leaked);
    assert_int_equal(bad_at, 0);
    assert_int_equal(leaks_at, 0);
}

static void oom_sweep_plain_memory(void **state)
{
    (void)state;
    sweep(COFFER_STORE_PLAIN_MEMORY | COFFER_STORE_NO_ENV_SOURCES, "plain");
}

static void oom_sweep_secure_memory(void **state)
{
    (void)state;
    sweep(COFFER_STORE_NO_ENV_SOURCES, "secure");
}

/* The same life with every value of the first file encrypted (coffer
 * keygen + coffer encrypt, run before anything is armed): identity
 * loading, unwrapping, the MAC and every value's decryption fail too. */
static void oom_sweep_encrypted(void **state)
{
    (void)state;
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char cmd[4096];
    write_at(project_file(), FIRST, 0600);
    snprintf(cmd, sizeof cmd,
             "%s/coffer keygen -o '%s' >'%s' 2>/dev/null && "
             "%s/coffer encrypt -r \"$(cat '%s')\" '%s' 2>/dev/null",
             build, sbp("key.txt"), sbp("recipient"), build, sbp("recipient"),
             project_file());
    assert_int_equal(system(cmd), 0);
    static char text[16384];
    FILE *f = fopen(project_file(), "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    assert_non_null(strstr(text, "ENC[coffer:v1,"));
    setenv("COFFER_AGE_KEY_FILE", sbp("key.txt"), 1);
    first_text = text;
    sweep(COFFER_STORE_NO_ENV_SOURCES, "encrypted");
    first_text = NULL;
    unsetenv("COFFER_AGE_KEY_FILE");
}

static void oom_sweep_parser(void **state)
{
    (void)state;
    const char *text = FIRST;
    coffer_doc *doc = NULL;
    coffer_error err;
    long total = 0;
    for (long n = 1;; n++) {
        live_reset();
        fail_at = n;
        counted = 0;
        armed = true;
        int rc = coffer_toml_parse(text, strlen(text), NULL, &doc, &err);
        if (rc == 0) {
            char buf[64];
            (void)coffer_value_format(coffer_doc_root(doc), COFFER_FORMAT_JSON,
                                      buf, sizeof buf);
            coffer_doc_free(doc);
        }
        armed = false;
        total = counted;
        assert_true(rc == 0 || rc == COFFER_ENOMEM);
        assert_int_equal(nlive, 0);
        if (rc == 0 && counted < n)
            break;
    }
    fail_at = 0;
    print_message("# parser: %ld allocation points swept\n", total);
}
#endif

int main(void)
{
#ifdef OOM_SANITIZED
    printf("1..1\nok 1 - oom sweep # SKIP the sanitizers interpose the allocator\n");
    return 0;
#else
    const char *mode = getenv("SUITES");
    if (mode && strcmp(mode, "all") != 0) {
        /* valgrind replaces the allocator itself */
        printf("1..1\nok 1 - oom sweep # SKIP not in %s mode\n", mode);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(oom_sweep_parser),
        cmocka_unit_test_setup_teardown(oom_sweep_plain_memory, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(oom_sweep_secure_memory, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(oom_sweep_encrypted, sb_setup, sb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#endif
}
