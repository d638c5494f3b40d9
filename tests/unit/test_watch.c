/* test_watch.c - live reload: inotify and polling watches, debounce,
 * partial writes, Kubernetes ..data swaps, callbacks, env re-export,
 * clean start/stop. Every test runs in its own mktemp sandbox. */
#include "testutil.h"
#include "watch/watch_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- sandbox */


/* Each scenario runs twice: with inotify (0) and with polling. */
#define BOTH_MODES(fn)                                                      \
    static void test_##fn(void **state)                                     \
    {                                                                       \
        (void)state;                                                        \
        fn(0);                                                              \
    }                                                                       \
    static void test_poll_##fn(void **state)                                \
    {                                                                       \
        (void)state;                                                        \
        fn(COFFER_WATCH_POLL);                                              \
    }

static char root[256];

static int sandbox_setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/coffer-watch-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_rf(const char *p)
{
    nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int sandbox_teardown(void **state)
{
    (void)state;
    rm_rf(root);
    return 0;
}

/* Path under the sandbox, in one of a few rotating static buffers. */
static const char *P(const char *rel)
{
    static char bufs[8][512];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 512, "%s/%s", root, rel);
    return b;
}

static void mkdirs(const char *path)
{
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    mkdir(tmp, 0755);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* The way editors, install(1) and coffer's own writers save a file. */
static void write_atomic(const char *path, const char *text)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", path, (int)getpid());
    write_file(tmp, text);
    assert_int_equal(rename(tmp, path), 0);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool under_valgrind(void)
{
    const char *s = getenv("SUITES");
    return s && strcmp(s, "valgrind") == 0;
}

/* ----------------------------------------------------------- recording */

typedef struct rec {
    atomic_int changes;
    atomic_int errors;
    int last_code;
    char last_msg[COFFER_ERROR_MESSAGE_MAX];
    char last_file[COFFER_ERROR_PATH_MAX];
    char diff[2048]; /* "+added ~changed -removed " of the last change */
    size_t nadded, nchanged, nremoved;
    uint64_t generation;
} rec;

static void on_change(void *ctx, const coffer_snapshot *snap,
                      const char *const *added, size_t nadded,
                      const char *const *changed, size_t nchanged,
                      const char *const *removed, size_t nremoved)
{
    rec *r = ctx;
    size_t pos = 0;
    r->diff[0] = '\0';
    for (size_t i = 0; i < nadded; i++)
        pos += (size_t)snprintf(r->diff + pos, sizeof r->diff - pos, "+%s ",
                                added[i]);
    for (size_t i = 0; i < nchanged; i++)
        pos += (size_t)snprintf(r->diff + pos, sizeof r->diff - pos, "~%s ",
                                changed[i]);
    for (size_t i = 0; i < nremoved; i++)
        pos += (size_t)snprintf(r->diff + pos, sizeof r->diff - pos, "-%s ",
                                removed[i]);
    r->nadded = nadded;
    r->nchanged = nchanged;
    r->nremoved = nremoved;
    r->generation = coffer_snapshot_generation(snap);
    atomic_fetch_add(&r->changes, 1);
}

static void on_error(void *ctx, const coffer_error *err)
{
    rec *r = ctx;
    r->last_code = err->code;
    snprintf(r->last_msg, sizeof r->last_msg, "%s", err->message);
    snprintf(r->last_file, sizeof r->last_file, "%s", err->file);
    atomic_fetch_add(&r->errors, 1);
}

static void quiet_diag(void *ctx, const char *file, const char *message)
{
    (void)ctx;
    (void)file;
    (void)message;
}

static coffer_store *open_store(const char *const *paths, size_t n)
{
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = n;
    o.cwd = root;
    o.flags = COFFER_STORE_PLAIN_MEMORY | COFFER_STORE_NO_ENV_SOURCES;
    o.diag = quiet_diag;
    coffer_store *s = NULL;
    coffer_error err;
    assert_int_equal(coffer_store_open(&o, &s, &err), 0);
    return s;
}

/* A store on the single file p/s.toml, written with text first. */
static coffer_store *open_one(const char *text)
{
    mkdirs(P("p"));
    write_file(P("p/s.toml"), text);
    const char *paths[] = { P("p/s.toml") };
    return open_store(paths, 1);
}

static void watch(coffer_store *s, rec *r, unsigned flags)
{
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    memset(r, 0, sizeof *r);
    wo.flags = flags;
    wo.debounce_ms = 10;
    wo.poll_ms = 25;
    wo.on_change = on_change;
    wo.on_error = on_error;
    wo.ctx = r;
    coffer_error err;
    int rc = coffer_store_watch(s, &wo, &err);
    if (rc)
        fail_msg("watch: %s", err.message);
    assert_int_equal(coffer_store_watch_fd(s) < 0,
                     (flags & COFFER_WATCH_POLL) != 0);
}

/* Runs the caller's event loop: poll() on the watch fd with the watch's
 * timeout, then process. Stops after ms, or as soon as a change or an
 * error was reported when stop_early is set. Returns the swaps done. */
static int pump(coffer_store *s, rec *r, int ms, bool stop_early)
{
    int swaps = 0;
    int c0 = atomic_load(&r->changes), e0 = atomic_load(&r->errors);
    int64_t end = mono_ms() + ms;
    for (;;) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = { coffer_store_watch_fd(s), POLLIN, 0 };
        int t = coffer_store_watch_timeout(s);
        if (t < 0 || t > left)
            t = (int)left;
        poll(&pfd, 1, t);
        coffer_error err;
        int rc = coffer_store_watch_process(s, &err);
        if (rc > 0)
            swaps += rc;
        if (stop_early && (atomic_load(&r->changes) != c0 ||
                           atomic_load(&r->errors) != e0))
            break;
    }
    return swaps;
}

/* Waits for the next change or error (generously: valgrind is slow). */
static int settle(coffer_store *s, rec *r)
{
    return pump(s, r, 3000, true);
}

/* Enough time for any event plus the debounce to have been handled. */
static int quiet(coffer_store *s, rec *r)
{
    return pump(s, r, under_valgrind() ? 300 : 120, false);
}

/* Value of a string key in the current snapshot (copied), or "" if absent. */
static const char *get(coffer_store *s, const char *key)
{
    static char buf[4][256];
    static int i;
    char *b = buf[i++ % 4];
    coffer_snapshot *snap = NULL;
    b[0] = '\0';
    if (coffer_store_acquire(s, &snap, NULL) != 0)
        return "<no snapshot>";
    const char *v = NULL;
    if (coffer_snapshot_get_string(snap, key, &v, NULL, NULL) == 0)
        snprintf(b, 256, "%s", v);
    coffer_snapshot_release(snap);
    return b;
}

static uint64_t generation(coffer_store *s)
{
    coffer_snapshot *snap = NULL;
    if (coffer_store_acquire(s, &snap, NULL) != 0)
        return 0;
    uint64_t g = coffer_snapshot_generation(snap);
    coffer_snapshot_release(snap);
    return g;
}

/* -------------------------------------------------------------- tests */

static void modify_in_place(unsigned flags)
{
    coffer_store *s = open_one("token = \"one\"\n");
    rec r;
    watch(s, &r, flags);
    assert_string_equal(get(s, "token"), "one");
    assert_int_equal(quiet(s, &r), 0);
    write_file(P("p/s.toml"), "token = \"two\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "token"), "two");
    assert_int_equal(r.changes, 1);
    assert_string_equal(r.diff, "~token ");
    assert_int_equal(generation(s), 2);
    /* Nothing left pending: the reload's own reads cause no events. */
    assert_int_equal(quiet(s, &r), 0);
    if (!(flags & COFFER_WATCH_POLL))
        assert_int_equal(coffer_store_watch_timeout(s), -1);
    coffer_store_close(s);
}

BOTH_MODES(modify_in_place)

static void test_rename_replace(void **state)
{
    (void)state;
    coffer_store *s = open_one("a = \"1\"\nb = \"1\"\n");
    rec r;
    watch(s, &r, 0);
    for (int i = 2; i <= 4; i++) {
        char text[64];
        snprintf(text, sizeof text, "a = \"%d\"\nb = \"1\"\n", i);
        write_atomic(P("p/s.toml"), text);
        assert_int_equal(settle(s, &r), 1);
        char want[8];
        snprintf(want, sizeof want, "%d", i);
        assert_string_equal(get(s, "a"), want);
        assert_string_equal(r.diff, "~a ");
    }
    assert_int_equal(r.changes, 3);
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

/* A burst of writes (several rename-replaces and in-place writes within
 * the debounce window) becomes one reload. */
static void test_burst_is_one_reload(void **state)
{
    (void)state;
    coffer_store *s = open_one("a = \"0\"\n");
    rec r;
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    memset(&r, 0, sizeof r);
    wo.debounce_ms = 1000; /* settle after a complete write: 100 ms */
    wo.on_change = on_change;
    wo.on_error = on_error;
    wo.ctx = &r;
    assert_int_equal(coffer_store_watch(s, &wo, NULL), 0);
    for (int i = 1; i <= 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "a = \"%d\"\n", i);
        if (i % 2)
            write_atomic(P("p/s.toml"), text);
        else
            write_file(P("p/s.toml"), text);
    }
    assert_int_equal(settle(s, &r), 1);
    assert_int_equal(quiet(s, &r), 0);
    assert_int_equal(r.changes, 1);
    assert_string_equal(get(s, "a"), "5");
    assert_int_equal(generation(s), 2);
    coffer_store_close(s);
}

/* A completed write (rename into place) is reloaded after the short
 * settle time (debounce / 10), not the whole debounce; an unlink followed
 * at once by a new file is one change, never "no secrets found". */
static void test_complete_write_settles_fast(void **state)
{
    (void)state;
    coffer_store *s = open_one("a = \"1\"\n");
    rec r;
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    memset(&r, 0, sizeof r);
    wo.debounce_ms = 400;
    wo.on_change = on_change;
    wo.on_error = on_error;
    wo.ctx = &r;
    assert_int_equal(coffer_store_watch(s, &wo, NULL), 0);
    int64_t t0 = mono_ms();
    write_atomic(P("p/s.toml"), "a = \"2\"\n");
    assert_int_equal(settle(s, &r), 1);
    if (!under_valgrind())
        assert_true(mono_ms() - t0 < 300);
    assert_string_equal(get(s, "a"), "2");
    /* Not atomic: delete, then create and write. */
    assert_int_equal(unlink(P("p/s.toml")), 0);
    write_file(P("p/s.toml"), "a = \"3\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "a"), "3");
    assert_int_equal(r.errors, 0);
    assert_int_equal(r.changes, 2);
    coffer_store_close(s);
}

/* The default sources, with the project's .streamlit/ missing at start:
 * the project file is picked up when it is created later. */
static void project_file_created_later(unsigned flags)
{
    mkdirs(P("home/.streamlit"));
    mkdirs(P("proj"));
    write_file(P("home/.streamlit/secrets.toml"),
               "user = \"global\"\nshared = \"global\"\n");
    const char *paths[] = { P("home/.streamlit/secrets.toml"),
                            P("proj/.streamlit/secrets.toml") };
    coffer_store *s = open_store(paths, 2);
    rec r;
    watch(s, &r, flags);
    assert_string_equal(get(s, "shared"), "global");
    /* Unrelated entries in a watched ancestor change nothing. */
    write_file(P("proj/README"), "hello\n");
    mkdirs(P("proj/src"));
    assert_int_equal(quiet(s, &r), 0);
    mkdirs(P("proj/.streamlit"));
    assert_int_equal(quiet(s, &r), 0); /* same content: no swap */
    write_file(P("proj/.streamlit/secrets.toml"),
               "shared = \"project\"\nonly = \"p\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "shared"), "project");
    assert_string_equal(get(s, "only"), "p");
    assert_string_equal(get(s, "user"), "global");
    assert_string_equal(r.diff, "+only ~shared ");
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

BOTH_MODES(project_file_created_later)

/* A file source that is a symlink: in-place writes to its target, and the
 * link itself replaced (rename of a new link over it). */
static void test_symlink_file_source(void **state)
{
    (void)state;
    mkdirs(P("p"));
    mkdirs(P("real"));
    write_file(P("real/a.toml"), "v = \"a1\"\n");
    write_file(P("real/b.toml"), "v = \"b1\"\n");
    assert_int_equal(symlink("../real/a.toml", P("p/s.toml")), 0);
    const char *paths[] = { P("p/s.toml") };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, 0);
    assert_string_equal(get(s, "v"), "a1");
    write_file(P("real/a.toml"), "v = \"a2\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "v"), "a2");
    assert_int_equal(symlink("../real/b.toml", P("p/s.toml.new")), 0);
    assert_int_equal(rename(P("p/s.toml.new"), P("p/s.toml")), 0);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "v"), "b1");
    write_file(P("real/b.toml"), "v = \"b2\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "v"), "b2");
    /* The old target is no longer of interest. */
    write_file(P("real/a.toml"), "v = \"a3\"\n");
    assert_int_equal(quiet(s, &r), 0);
    assert_string_equal(get(s, "v"), "b2");
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

/* The default sources: $HOME is the sandbox's home/ and the project is
 * proj/; HOME and COFFER_SECRETS_FILES are restored after the test. */
typedef struct {
    char *home, *files;
} saved_env;

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static saved_env default_sources_env(void)
{
    saved_env e = { dup_env("HOME"), dup_env("COFFER_SECRETS_FILES") };
    unsetenv("COFFER_SECRETS_FILES");
    setenv("HOME", P("home"), 1);
    return e;
}

static void restore_env(saved_env *e)
{
    if (e->home)
        setenv("HOME", e->home, 1);
    else
        unsetenv("HOME");
    if (e->files)
        setenv("COFFER_SECRETS_FILES", e->files, 1);
    free(e->home);
    free(e->files);
}

static coffer_store_options default_options(void)
{
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.cwd = P("proj");
    o.flags = COFFER_STORE_PLAIN_MEMORY | COFFER_STORE_NO_ENV_SOURCES;
    o.diag = quiet_diag;
    return o;
}

/* The real default sources ($HOME/.streamlit/secrets.toml and the
 * project's .streamlit/secrets.toml), the project one created later. */
static void test_default_sources_project_created(void **state)
{
    (void)state;
    saved_env env = default_sources_env();
    mkdirs(P("home/.streamlit"));
    mkdirs(P("proj"));
    write_file(P("home/.streamlit/secrets.toml"), "who = \"global\"\n");
    coffer_store_options o = default_options();
    coffer_store *s = NULL;
    assert_int_equal(coffer_store_open(&o, &s, NULL), 0);
    rec r;
    watch(s, &r, 0);
    assert_string_equal(get(s, "who"), "global");
    mkdirs(P("proj/.streamlit"));
    write_atomic(P("proj/.streamlit/secrets.toml"), "who = \"project\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "who"), "project");
    assert_string_equal(r.diff, "~who ");
    coffer_store_close(s);
    restore_env(&env);
}

/* Sources chosen by [secrets] files in .streamlit/config.toml are the
 * ones watched; an invalid configuration fails the watch itself. */
static void test_config_files_watched(void **state)
{
    (void)state;
    saved_env env = default_sources_env();
    mkdirs(P("home"));
    mkdirs(P("proj/.streamlit"));
    mkdirs(P("proj/conf"));
    write_file(P("proj/.streamlit/config.toml"),
               "[secrets]\nfiles = [\"conf/app.toml\"]\n");
    write_file(P("proj/conf/app.toml"), "k = \"1\"\n");
    coffer_store_options o = default_options();
    coffer_store *s = NULL;
    assert_int_equal(coffer_store_open(&o, &s, NULL), 0);
    rec r;
    watch(s, &r, 0);
    assert_string_equal(get(s, "k"), "1");
    write_atomic(P("proj/conf/app.toml"), "k = \"2\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "k"), "2");
    coffer_store_close(s);

    write_file(P("proj/.streamlit/config.toml"), "[secrets]\nfiles = 3\n");
    assert_int_equal(coffer_store_open(&o, &s, NULL), 0);
    coffer_error err;
    assert_int_equal(coffer_store_watch(s, NULL, &err), COFFER_ECONFIG);
    assert_int_equal(coffer_store_watch_fd(s), -1);
    coffer_store_close(s);
    restore_env(&env);
}

/* The directory and the file appear at once (mkdir -p && mv): the file
 * exists before the new directory could be watched; it is still seen. */
static void test_dir_and_file_appear_together(void **state)
{
    (void)state;
    mkdirs(P("home/.streamlit"));
    write_file(P("home/.streamlit/secrets.toml"), "a = \"g\"\n");
    const char *paths[] = { P("home/.streamlit/secrets.toml"),
                            P("proj/deep/.streamlit/secrets.toml") };
    coffer_store *s = open_store(paths, 2);
    rec r;
    watch(s, &r, 0);
    mkdirs(P("staging/deep/.streamlit"));
    write_file(P("staging/deep/.streamlit/secrets.toml"), "a = \"p\"\n");
    assert_int_equal(rename(P("staging"), P("proj")), 0);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "a"), "p");
    coffer_store_close(s);
}

static void delete_layers(unsigned flags)
{
    mkdirs(P("home/.streamlit"));
    mkdirs(P("proj/.streamlit"));
    write_file(P("home/.streamlit/secrets.toml"), "k = \"global\"\ng = \"1\"\n");
    write_file(P("proj/.streamlit/secrets.toml"), "k = \"project\"\n");
    const char *paths[] = { P("home/.streamlit/secrets.toml"),
                            P("proj/.streamlit/secrets.toml") };
    coffer_store *s = open_store(paths, 2);
    rec r;
    watch(s, &r, flags);
    assert_string_equal(get(s, "k"), "project");
    /* One layer gone: the other's values show through. */
    assert_int_equal(unlink(P("proj/.streamlit/secrets.toml")), 0);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "k"), "global");
    assert_string_equal(r.diff, "~k ");
    uint64_t g = generation(s);
    /* All layers gone (with their directories): the last good snapshot
     * stays, and "no secrets found" is reported. */
    rm_rf(P("home"));
    assert_int_equal(settle(s, &r), 0);
    assert_int_equal(r.errors, 1);
    assert_int_equal(r.last_code, COFFER_ENOSECRETS);
    assert_string_equal(get(s, "k"), "global");
    assert_string_equal(get(s, "g"), "1");
    assert_int_equal(generation(s), g);
    /* And secrets coming back are picked up. */
    mkdirs(P("home/.streamlit"));
    write_file(P("home/.streamlit/secrets.toml"), "k = \"back\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "k"), "back");
    assert_string_equal(r.diff, "~k -g ");
    coffer_store_close(s);
}

BOTH_MODES(delete_layers)

static void test_invalid_then_fix(void **state)
{
    (void)state;
    coffer_store *s = open_one("password = \"good-old\"\n");
    rec r;
    watch(s, &r, 0);
    write_atomic(P("p/s.toml"), "password = \"hunter2-new\n");
    coffer_error err;
    int rc = 0;
    /* The failed reload is reported through on_error and process(). */
    int64_t end = mono_ms() + 3000;
    while (atomic_load(&r.errors) == 0 && mono_ms() < end) {
        struct pollfd pfd = { coffer_store_watch_fd(s), POLLIN, 0 };
        poll(&pfd, 1, 20);
        rc = coffer_store_watch_process(s, &err);
    }
    assert_int_equal(r.errors, 1);
    assert_int_equal(rc, COFFER_ESYNTAX);
    assert_int_equal(r.last_code, COFFER_ESYNTAX);
    assert_int_equal(err.code, COFFER_ESYNTAX);
    assert_non_null(strstr(r.last_file, "s.toml"));
    /* Never a value in a message. */
    assert_null(strstr(r.last_msg, "hunter2"));
    assert_null(strstr(r.last_msg, "good-old"));
    assert_string_equal(get(s, "password"), "good-old");
    assert_int_equal(generation(s), 1);
    /* No retry loop without a new event. */
    assert_int_equal(quiet(s, &r), 0);
    assert_int_equal(r.errors, 1);
    write_atomic(P("p/s.toml"), "password = \"fixed\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "password"), "fixed");
    assert_int_equal(r.changes, 1);
    coffer_store_close(s);
}

/* Invalid content from the start: no snapshot yet; the fix is loaded. */
static void test_invalid_at_start(void **state)
{
    (void)state;
    coffer_store *s = open_one("a = = 1\n");
    rec r;
    watch(s, &r, 0);
    coffer_snapshot *snap = NULL;
    assert_int_equal(coffer_store_acquire(s, &snap, NULL), COFFER_ESYNTAX);
    write_atomic(P("p/s.toml"), "a = \"ok\"\n[t]\nb = 1\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "a"), "ok");
    assert_int_equal(r.nadded, 2);
    assert_string_equal(r.diff, "+a +t.b ");
    coffer_store_close(s);
}

/* A file written in place in pieces by a slow writer is never exposed
 * partially, even when the piece written so far is valid TOML. */
static void test_slow_piecewise_write(void **state)
{
    (void)state;
    coffer_store *s = open_one("user = \"old\"\npass = \"old\"\n");
    rec r;
    watch(s, &r, 0);
    int fd = open(P("p/s.toml"), O_WRONLY | O_TRUNC | O_CLOEXEC);
    assert_true(fd >= 0);
    /* First piece: a complete, valid line. */
    const char *a = "user = \"new\"\n";
    assert_int_equal(write(fd, a, strlen(a)), (ssize_t)strlen(a));
    assert_int_equal(quiet(s, &r), 0);
    assert_string_equal(get(s, "user"), "old");
    assert_string_equal(get(s, "pass"), "old");
    /* Second piece: cut inside a value (invalid so far). */
    const char *b = "pass = \"ne";
    assert_int_equal(write(fd, b, strlen(b)), (ssize_t)strlen(b));
    assert_int_equal(quiet(s, &r), 0);
    assert_string_equal(get(s, "user"), "old");
    assert_int_equal(r.errors, 0);
    assert_int_equal(generation(s), 1);
    const char *c = "w\"\n";
    assert_int_equal(write(fd, c, strlen(c)), (ssize_t)strlen(c));
    assert_int_equal(close(fd), 0);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "user"), "new");
    assert_string_equal(get(s, "pass"), "new");
    assert_int_equal(r.changes, 1);
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

static void touch_is_no_change(unsigned flags)
{
    coffer_store *s = open_one("a = \"1\"\n");
    rec r;
    watch(s, &r, flags);
    assert_int_equal(generation(s), 1);
    struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
    usleep(2000);
    assert_int_equal(utimensat(AT_FDCWD, P("p/s.toml"), ts, 0), 0);
    assert_int_equal(quiet(s, &r), 0);
    write_file(P("p/s.toml"), "a = \"1\"\n");
    assert_int_equal(quiet(s, &r), 0);
    write_atomic(P("p/s.toml"), "# same values, other text\na = '1'\n");
    assert_int_equal(quiet(s, &r), 0);
    assert_int_equal(chmod(P("p/s.toml"), 0600), 0);
    assert_int_equal(quiet(s, &r), 0);
    assert_int_equal(r.changes, 0);
    assert_int_equal(r.errors, 0);
    assert_int_equal(generation(s), 1);
    coffer_store_close(s);
}

BOTH_MODES(touch_is_no_change)

/* ------------------------------------------- Kubernetes secret volumes */

/* Lays out (or updates) a secret volume at vol exactly as kubelet's
 * AtomicWriter does: a new timestamped directory with the files, a
 * ..data_tmp symlink to it renamed over ..data, user-visible symlinks
 * key -> ..data/key, and the old timestamped directory removed. */
static void kube_write(const char *vol, const char *const *keys,
                       const char *const *values, size_t n)
{
    static int serial;
    char tsdir[600], path[700], old[600] = "";
    mkdirs(vol);
    snprintf(path, sizeof path, "%s/..data", vol);
    ssize_t ln = readlink(path, old, sizeof old - 1);
    old[ln > 0 ? ln : 0] = '\0';
    char name[64];
    snprintf(name, sizeof name, "..2026_11_27_22_00_%02d.%09d", serial % 60,
             100000000 + serial);
    serial++;
    snprintf(tsdir, sizeof tsdir, "%s/%s", vol, name);
    assert_int_equal(mkdir(tsdir, 0755), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", tsdir, keys[i]);
        write_file(path, values[i]);
        chmod(path, 0644);
    }
    snprintf(path, sizeof path, "%s/..data_tmp", vol);
    assert_int_equal(symlink(name, path), 0);
    char data[700];
    snprintf(data, sizeof data, "%s/..data", vol);
    assert_int_equal(rename(path, data), 0);
    for (size_t i = 0; i < n; i++) {
        char link[700], target[300];
        snprintf(link, sizeof link, "%s/%s", vol, keys[i]);
        snprintf(target, sizeof target, "..data/%s", keys[i]);
        struct stat st;
        if (lstat(link, &st) != 0)
            assert_int_equal(symlink(target, link), 0);
    }
    if (old[0]) {
        snprintf(path, sizeof path, "%s/%s", vol, old);
        rm_rf(path);
    }
}

static void kube_dir_source(unsigned flags)
{
    /* A directory source holding one secret volume per root key. */
    const char *k1[] = { "username", "password" };
    const char *v1[] = { "admin\n", "pw-1\n" };
    kube_write(P("secrets/db"), k1, v1, 2);
    const char *k2[] = { "api_key" };
    const char *v2[] = { "  key-1  \n" };
    kube_write(P("secrets/api_key"), k2, v2, 1);
    const char *paths[] = { P("secrets") };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, flags);
    assert_string_equal(get(s, "db.password"), "pw-1");
    assert_string_equal(get(s, "api_key"), "key-1");
    const char *v3[] = { "admin\n", "pw-2\n" };
    kube_write(P("secrets/db"), k1, v3, 2);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "db.password"), "pw-2");
    assert_string_equal(get(s, "db.username"), "admin");
    assert_string_equal(r.diff, "~db.password ");
    const char *v4[] = { "key-2\n" };
    kube_write(P("secrets/api_key"), k2, v4, 1);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "api_key"), "key-2");
    /* A new secret volume mounted as a new key directory. */
    const char *k5[] = { "token" };
    const char *v5[] = { "t-1\n" };
    kube_write(P("secrets/token"), k5, v5, 1);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "token"), "t-1");
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

BOTH_MODES(kube_dir_source)

/* A TOML file source that is a symlink into a secret volume. */
static void test_kube_file_source(void **state)
{
    (void)state;
    const char *k[] = { "secrets.toml" };
    const char *v1[] = { "[db]\npassword = \"pw-1\"\n" };
    kube_write(P("vol"), k, v1, 1);
    const char *paths[] = { P("vol/secrets.toml") };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, 0);
    assert_string_equal(get(s, "db.password"), "pw-1");
    for (int i = 2; i <= 4; i++) {
        char text[64], want[16];
        snprintf(text, sizeof text, "[db]\npassword = \"pw-%d\"\n", i);
        snprintf(want, sizeof want, "pw-%d", i);
        const char *vi[] = { text };
        kube_write(P("vol"), k, vi, 1);
        assert_int_equal(settle(s, &r), 1);
        assert_string_equal(get(s, "db.password"), want);
        assert_string_equal(r.diff, "~db.password ");
    }
    /* Provenance names the configured symlink path, not the target. */
    coffer_snapshot *snap = NULL;
    assert_int_equal(coffer_store_acquire(s, &snap, NULL), 0);
    const char *file = NULL;
    unsigned line = 0;
    assert_int_equal(coffer_snapshot_where(snap, "db.password", &file, &line,
                                           NULL), 0);
    assert_string_equal(file, P("vol/secrets.toml"));
    coffer_snapshot_release(snap);
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

/* A flat credentials directory (systemd LoadCredential=, Docker secrets):
 * a file added, changed, removed; and one that is a secret volume. */
static void flat_dir(unsigned flags)
{
    mkdirs(P("creds"));
    write_file(P("creds/db_password"), "pw-1\n");
    char spec[600];
    snprintf(spec, sizeof spec, "flat:%s", P("creds"));
    const char *paths[] = { spec };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, flags);
    assert_string_equal(get(s, "db_password"), "pw-1");
    write_atomic(P("creds/api_token"), "tok-1\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "api_token"), "tok-1");
    assert_string_equal(r.diff, "+api_token ");
    write_file(P("creds/db_password"), "pw-2\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "db_password"), "pw-2");
    assert_string_equal(r.diff, "~db_password ");
    assert_int_equal(unlink(P("creds/api_token")), 0);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "api_token"), "");
    assert_string_equal(r.diff, "-api_token ");
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

BOTH_MODES(flat_dir)

static void test_flat_kube_volume(void **state)
{
    (void)state;
    const char *k[] = { "user", "pass" };
    const char *v1[] = { "u1\n", "p1\n" };
    kube_write(P("vol"), k, v1, 2);
    char spec[600];
    snprintf(spec, sizeof spec, "flat:%s", P("vol"));
    const char *paths[] = { spec };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, 0);
    assert_string_equal(get(s, "pass"), "p1");
    const char *v2[] = { "u1\n", "p2\n" };
    kube_write(P("vol"), k, v2, 2);
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "pass"), "p2");
    assert_string_equal(r.diff, "~pass ");
    assert_int_equal(r.errors, 0);
    coffer_store_close(s);
}

/* A file written continuously (held open, appended every few ms) in a
 * watched directory cannot starve the reload of another change. */
typedef struct noise {
    int fd;
    atomic_bool stop;
} noise;

static void *noise_writer(void *arg)
{
    noise *n = arg;
    for (int i = 0; i < 2000 && !atomic_load(&n->stop); i++) {
        if (write(n->fd, "x", 1) != 1)
            break;
        usleep(5000);
    }
    return NULL;
}

static void test_continuous_writer_does_not_starve(void **state)
{
    (void)state;
    mkdirs(P("creds"));
    write_file(P("creds/db_password"), "pw-1\n");
    write_file(P("creds/noise"), "x");
    char spec[600];
    snprintf(spec, sizeof spec, "flat:%s", P("creds"));
    const char *paths[] = { spec };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, 0);
    noise n;
    n.fd = open(P("creds/noise"), O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(n.fd >= 0);
    atomic_init(&n.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, noise_writer, &n), 0);
    usleep(50000);
    int64_t t0 = mono_ms();
    write_atomic(P("creds/db_password"), "pw-2\n");
    int64_t end = t0 + 4000;
    while (strcmp(get(s, "db_password"), "pw-2") != 0 && mono_ms() < end)
        pump(s, &r, 100, true);
    int64_t waited = mono_ms() - t0;
    atomic_store(&n.stop, true);
    pthread_join(th, NULL);
    close(n.fd);
    assert_string_equal(get(s, "db_password"), "pw-2");
    assert_true(waited < 3500);
    coffer_store_close(s);
}

/* --------------------------------------------------- callback and env */

static void test_callback_paths(void **state)
{
    (void)state;
    mkdirs(P("p"));
    write_file(P("p/s.toml"),
               "keep = \"1\"\nchange = \"1\"\ngone = \"1\"\n"
               "[db]\nuser = \"u\"\npass = \"p1\"\nport = 5432\n");
    const char *paths[] = { P("p/s.toml") };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, 0);
    write_atomic(P("p/s.toml"),
                 "keep = \"1\"\nchange = \"2\"\nnew = \"1\"\n"
                 "[db]\nuser = \"u\"\npass = \"p2\"\nhost = \"h\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_int_equal(r.nadded, 2);
    assert_int_equal(r.nchanged, 2);
    assert_int_equal(r.nremoved, 2);
    assert_non_null(strstr(r.diff, "+new "));
    assert_non_null(strstr(r.diff, "+db.host "));
    assert_non_null(strstr(r.diff, "~change "));
    assert_non_null(strstr(r.diff, "~db.pass "));
    assert_non_null(strstr(r.diff, "-gone "));
    assert_non_null(strstr(r.diff, "-db.port "));
    assert_null(strstr(r.diff, "keep"));
    assert_null(strstr(r.diff, "db.user"));
    /* Key paths only, never values. */
    assert_null(strstr(r.diff, "p2"));
    assert_int_equal(r.generation, 2);
    coffer_store_close(s);
}

static void test_env_reexport(void **state)
{
    (void)state;
    mkdirs(P("p"));
    write_file(P("p/s.toml"),
               "WT_ENV_A = \"a1\"\nWT_ENV_B = \"b1\"\n"
               "WT_ENV_C = \"c1\"\n");
    const char *paths[] = { P("p/s.toml") };
    coffer_store *s = open_store(paths, 1);
    unsetenv("WT_ENV_A");
    unsetenv("WT_ENV_B");
    unsetenv("WT_ENV_C");
    unsetenv("WT_ENV_D");
    assert_int_equal(coffer_store_export(s, 0, NULL), 0);
    assert_string_equal(getenv("WT_ENV_A"), "a1");
    rec r;
    watch(s, &r, COFFER_WATCH_EXPORT);
    /* The program changed C itself: coffer must not unset it. */
    setenv("WT_ENV_C", "mine", 1);
    write_atomic(P("p/s.toml"), "WT_ENV_A = \"a2\"\nWT_ENV_D = 4\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(getenv("WT_ENV_A"), "a2");
    assert_null(getenv("WT_ENV_B"));
    assert_string_equal(getenv("WT_ENV_C"), "mine");
    assert_string_equal(getenv("WT_ENV_D"), "4");
    assert_int_equal(r.errors, 0);
    coffer_store_unwatch(s);
    coffer_store_unexport(s);
    assert_null(getenv("WT_ENV_A"));
    assert_null(getenv("WT_ENV_D"));
    unsetenv("WT_ENV_C");
    coffer_store_close(s);
}

/* ------------------------------------------------- thread and lifecycle */

static void helper_thread(unsigned flags)
{
    mkdirs(P("p"));
    write_file(P("p/s.toml"), "v = \"1\"\n");
    const char *paths[] = { P("p/s.toml"), P("q/.streamlit/secrets.toml") };
    coffer_store *s = open_store(paths, 2);
    rec r;
    watch(s, &r, COFFER_WATCH_THREAD | flags);
    for (int i = 2; i <= 5; i++) {
        char text[32], want[8];
        snprintf(text, sizeof text, "v = \"%d\"\n", i);
        snprintf(want, sizeof want, "%d", i);
        write_atomic(P("p/s.toml"), text);
        int64_t end = mono_ms() + 5000;
        while (strcmp(get(s, "v"), want) != 0 && mono_ms() < end)
            usleep(2000);
        assert_string_equal(get(s, "v"), want);
    }
    mkdirs(P("q/.streamlit"));
    write_file(P("q/.streamlit/secrets.toml"), "v = \"q\"\n");
    int64_t end = mono_ms() + 5000;
    while (strcmp(get(s, "v"), "q") != 0 && mono_ms() < end)
        usleep(2000);
    assert_string_equal(get(s, "v"), "q");
    /* Let the thread finish the callback of the last swap. */
    end = mono_ms() + 2000;
    while (atomic_load(&r.changes) < 5 && mono_ms() < end)
        usleep(2000);
    assert_int_equal(atomic_load(&r.changes), 5);
    /* close stops the thread itself. */
    coffer_store_close(s);
}

BOTH_MODES(helper_thread)

static void test_misuse(void **state)
{
    (void)state;
    coffer_store *s = open_one("v = \"1\"\n");
    coffer_error err;
    assert_int_equal(coffer_store_watch_fd(s), -1);
    assert_int_equal(coffer_store_watch_timeout(s), -1);
    assert_int_equal(coffer_store_watch_process(s, &err), COFFER_EINVAL);
    assert_int_equal(coffer_store_watch(NULL, NULL, &err), COFFER_EINVAL);
    coffer_store_unwatch(s); /* not watched: no-op */
    assert_int_equal(coffer_store_watch(s, NULL, &err), 0);
    int fd = coffer_store_watch_fd(s);
    assert_true(fd >= 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_int_equal(coffer_store_watch(s, NULL, &err), COFFER_EINVAL);
    assert_non_null(strstr(err.message, "already watched"));
    assert_int_equal(coffer_store_watch_process(s, &err), 0);
    coffer_store_unwatch(s);
    coffer_store_unwatch(s);
    assert_int_equal(coffer_store_watch_fd(s), -1);
    /* Watching again after unwatch works. */
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.flags = COFFER_WATCH_POLL;
    assert_int_equal(coffer_store_watch(s, &wo, &err), 0);
    assert_int_equal(coffer_store_watch_fd(s), -1);
    assert_true(coffer_watch_is_polling(s));
    int t = coffer_store_watch_timeout(s);
    assert_true(t >= 0 && t <= 1000);
    coffer_store_close(s);
    coffer_store_unwatch(NULL);
    assert_int_equal(coffer_store_watch_fd(NULL), -1);
}

/* A store whose every source is missing can still be watched. */
static void test_watch_with_nothing_there(void **state)
{
    (void)state;
    const char *paths[] = { P("none/.streamlit/secrets.toml") };
    coffer_store *s = open_store(paths, 1);
    rec r;
    watch(s, &r, 0);
    assert_int_equal(quiet(s, &r), 0);
    mkdirs(P("none/.streamlit"));
    write_atomic(P("none/.streamlit/secrets.toml"), "x = \"1\"\n");
    assert_int_equal(settle(s, &r), 1);
    assert_string_equal(get(s, "x"), "1");
    assert_string_equal(r.diff, "+x ");
    coffer_store_close(s);
}

static void test_start_stop_no_leaks(void **state)
{
    (void)state;
    mkdirs(P("p/.streamlit"));
    write_file(P("p/.streamlit/secrets.toml"), "v = \"0\"\n");
    const char *paths[] = { P("p/.streamlit/secrets.toml"),
                            P("missing/.streamlit/secrets.toml") };
    coffer_store *s = open_store(paths, 2);
    assert_string_equal(get(s, "v"), "0");
    int before = count_fds();
    assert_true(before > 0);
    static const unsigned modes[] = { 0, COFFER_WATCH_THREAD, COFFER_WATCH_POLL,
                                      COFFER_WATCH_POLL | COFFER_WATCH_THREAD };
    int rounds = under_valgrind() ? 12 : 50;
    for (int i = 0; i < rounds; i++) {
        rec r;
        watch(s, &r, modes[i % 4]);
        if (i % 10 == 0 && !(modes[i % 4] & COFFER_WATCH_THREAD)) {
            char text[32];
            snprintf(text, sizeof text, "v = \"%d\"\n", i + 1);
            write_atomic(P("p/.streamlit/secrets.toml"), text);
            assert_int_equal(settle(s, &r), 1);
        }
        coffer_store_unwatch(s);
        assert_int_equal(count_fds(), before);
    }
    assert_int_equal(count_fds(), before);
    coffer_store_close(s);
    /* And stores closed while watched. */
    for (int i = 0; i < (under_valgrind() ? 4 : 20); i++) {
        s = open_store(paths, 2);
        rec r;
        watch(s, &r, modes[i % 4]);
        coffer_store_close(s);
    }
    assert_int_equal(count_fds(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, sandbox_setup, sandbox_teardown)
        T(test_modify_in_place),
        T(test_rename_replace),
        T(test_burst_is_one_reload),
        T(test_complete_write_settles_fast),
        T(test_project_file_created_later),
        T(test_dir_and_file_appear_together),
        T(test_symlink_file_source),
        T(test_default_sources_project_created),
        T(test_config_files_watched),
        T(test_delete_layers),
        T(test_invalid_then_fix),
        T(test_invalid_at_start),
        T(test_slow_piecewise_write),
        T(test_touch_is_no_change),
        T(test_kube_dir_source),
        T(test_kube_file_source),
        T(test_flat_dir),
        T(test_flat_kube_volume),
        T(test_continuous_writer_does_not_starve),
        T(test_callback_paths),
        T(test_env_reexport),
        T(test_helper_thread),
        T(test_misuse),
        T(test_watch_with_nothing_there),
        T(test_start_stop_no_leaks),
        T(test_poll_modify_in_place),
        T(test_poll_project_file_created_later),
        T(test_poll_delete_layers),
        T(test_poll_touch_is_no_change),
        T(test_poll_kube_dir_source),
        T(test_poll_flat_dir),
        T(test_poll_helper_thread),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
