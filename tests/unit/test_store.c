/* test_store.c - the secrets store: sources, merging, lookups, errors,
 * provenance, sections, reload, permissions, check, canary. */
#include "testutil.h"
#include "store/store_internal.h"

#include <dirent.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "store_testutil.h"

/* ------------------------------------------------------------- tests */

static void global_only(void **state)
{
    (void)state;
    write_at(global_file(), "db_username = \"Jane\"\ndb_password = \"pw\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *v;
    size_t len;
    assert_int_equal(coffer_snapshot_get_string(snap, "db_username", &v, &len, &err), 0);
    assert_string_equal(v, "Jane");
    assert_int_equal(len, 4);
    const char *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_where(snap, "db_password", &file, &line, &err), 0);
    assert_string_equal(file, global_file());
    assert_int_equal(line, 2);
    assert_int_equal(coffer_snapshot_generation(snap), 1);
    assert_int_equal(coffer_snapshot_shadow_count(snap), 0);
    coffer_snapshot_release(snap);
    assert_int_equal(diag_count, 0);
    coffer_store_close(s);
}

static void project_only(void **state)
{
    (void)state;
    write_at(project_file(), "token = \"abc\"\n", 0600);
    coffer_store *s = open_default();
    const char *v;
    coffer_error err;
    assert_int_equal(coffer_store_get_string(s, "token", &v, &err), 0);
    assert_string_equal(v, "abc");
    coffer_store_close(s);
}

static void project_overrides_global(void **state)
{
    (void)state;
    write_at(global_file(),
             "a = \"global-a\"\nb = \"global-b\"\n"
             "[db]\nuser = \"guser\"\npass = \"gpass\"\n", 0600);
    write_at(project_file(), "a = \"project-a\"\n[db]\nuser = \"puser\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *v;
    assert_int_equal(coffer_snapshot_get_string(snap, "a", &v, NULL, &err), 0);
    assert_string_equal(v, "project-a");
    assert_int_equal(coffer_snapshot_get_string(snap, "b", &v, NULL, &err), 0);
    assert_string_equal(v, "global-b");
    assert_int_equal(coffer_snapshot_get_string(snap, "db.user", &v, NULL, &err), 0);
    assert_string_equal(v, "puser");
    /* The section is replaced whole, not merged key by key. */
    assert_int_equal(coffer_snapshot_get_string(snap, "db.pass", &v, NULL, &err),
                     COFFER_ENOKEY);
    const char *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_where(snap, "b", &file, &line, &err), 0);
    assert_string_equal(file, global_file());
    assert_int_equal(coffer_snapshot_where(snap, "db.user", &file, &line, &err), 0);
    assert_string_equal(file, project_file());
    assert_int_equal(line, 3);
    /* Root order: first definition order of the merge. */
    const coffer_value *root = coffer_snapshot_root(snap);
    assert_int_equal(coffer_table_count(root), 3);
    const char *k;
    coffer_table_at(root, 0, &k, NULL);
    assert_string_equal(k, "a");
    /* Shadowing, for coffer check. */
    assert_int_equal(coffer_snapshot_shadow_count(snap), 2);
    const char *key, *win, *lost;
    assert_int_equal(coffer_snapshot_shadow(snap, 0, &key, &win, &lost), 0);
    assert_string_equal(key, "a");
    assert_string_equal(win, project_file());
    assert_string_equal(lost, global_file());
    assert_int_equal(coffer_snapshot_shadow(snap, 1, &key, &win, &lost), 0);
    assert_string_equal(key, "db");
    assert_int_equal(coffer_snapshot_shadow(snap, 2, &key, &win, &lost),
                     COFFER_EINVAL);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void no_file_lists_paths(void **state)
{
    (void)state;
    coffer_store *s = open_default();
    coffer_snapshot *snap = NULL;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ENOSECRETS);
    assert_null(snap);
    assert_int_equal(err.code, COFFER_ENOSECRETS);
    char want[2048];
    snprintf(want, sizeof want, "no secrets found; searched '%s', '%s'; "
             "create one with 'coffer init'", global_file(), project_file());
    assert_string_equal(err.message, want);
    /* A second access tries again (and still fails the same way). */
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ENOSECRETS);
    /* A file that appears later is found by the next access. */
    write_at(project_file(), "x = 1\n", 0600);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void missing_key_messages(void **state)
{
    (void)state;
    write_at(project_file(),
             "db_username = \"u\"\n[db]\npassword = \"p\"\nhost = \"h\"\n"
             "[[servers]]\nhost = \"a\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const coffer_value *v;
    assert_int_equal(coffer_snapshot_get(snap, "db_usernme", &v, &err), COFFER_ENOKEY);
    /* The message names the sources searched. */
    char want[1200];
    snprintf(want, sizeof want, "key 'db_usernme' not found in '%s'; did you "
             "mean 'db_username'?", project_file());
    assert_string_equal(err.message, want);
    assert_int_equal(coffer_snapshot_get(snap, "nonexistent_key", &v, &err),
                     COFFER_ENOKEY);
    snprintf(want, sizeof want, "key 'nonexistent_key' not found in '%s'",
             project_file());
    assert_string_equal(err.message, want);
    assert_int_equal(coffer_snapshot_get(snap, "db.pasword", &v, &err), COFFER_ENOKEY);
    assert_non_null(strstr(err.message, "key 'db.pasword' not found"));
    assert_non_null(strstr(err.message, "did you mean 'db.password'?"));
    /* A dotted path that is close to a root key. */
    assert_int_equal(coffer_snapshot_get(snap, "db.username", &v, &err), COFFER_ENOKEY);
    assert_non_null(strstr(err.message, "did you mean 'db_username'?"));
    /* Index out of range and indexing a table. */
    assert_int_equal(coffer_snapshot_get(snap, "servers[3].host", &v, &err),
                     COFFER_ENOKEY);
    assert_non_null(strstr(err.message, "servers"));
    assert_int_equal(coffer_snapshot_get(snap, "servers[0].host", &v, &err), 0);
    assert_int_equal(coffer_snapshot_get(snap, "db.password.x", &v, &err), COFFER_ETYPE);
    assert_non_null(strstr(err.message, "'db.password' is a string"));
    /* Errors without an error struct still give the code. */
    assert_int_equal(coffer_snapshot_get(snap, "nope", &v, NULL), COFFER_ENOKEY);
    assert_int_equal(coffer_snapshot_get(snap, "db.password.x", &v, NULL), COFFER_ETYPE);
    /* Malformed path. */
    assert_int_equal(coffer_snapshot_get(snap, "db..password", &v, &err), COFFER_EINVAL);
    /* ... also where the walk stops early (a missing key, a scalar), and
     * without an error struct. */
    assert_int_equal(coffer_snapshot_get(snap, "nope]", &v, &err), COFFER_EINVAL);
    assert_non_null(strstr(err.message, "invalid character in path 'nope]'"));
    assert_int_equal(coffer_snapshot_get(snap, "nope..x", &v, &err), COFFER_EINVAL);
    assert_int_equal(coffer_snapshot_get(snap, "db.password.x[", &v, &err),
                     COFFER_EINVAL);
    assert_int_equal(coffer_snapshot_get(snap, "nope.", &v, NULL), COFFER_EINVAL);
    /* Store-level conveniences. */
    assert_int_equal(coffer_store_get(s, "db.host", &v, &err), 0);
    assert_int_equal(coffer_value_type(v), COFFER_TYPE_STRING);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void type_mismatch(void **state)
{
    (void)state;
    write_at(project_file(),
             "[db]\nport = 5432\nratio = 0.5\non = true\nwhen = 1979-05-27\n"
             "name = \"n\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *str;
    assert_int_equal(coffer_snapshot_get_string(snap, "db.port", &str, NULL, &err),
                     COFFER_ETYPE);
    assert_string_equal(err.message, "key 'db.port' is an integer, not a string");
    int64_t i;
    assert_int_equal(coffer_snapshot_get_int(snap, "db.port", &i, &err), 0);
    assert_int_equal(i, 5432);
    assert_int_equal(coffer_snapshot_get_int(snap, "db.name", &i, &err), COFFER_ETYPE);
    assert_string_equal(err.message, "key 'db.name' is a string, not an integer");
    double d;
    assert_int_equal(coffer_snapshot_get_double(snap, "db.ratio", &d, &err), 0);
    assert_true(d == 0.5);
    bool b;
    assert_int_equal(coffer_snapshot_get_bool(snap, "db.on", &b, &err), 0);
    assert_true(b);
    assert_int_equal(coffer_snapshot_get_bool(snap, "db.ratio", &b, &err), COFFER_ETYPE);
    assert_string_equal(err.message, "key 'db.ratio' is a float, not a bool");
    coffer_datetime dt;
    assert_int_equal(coffer_snapshot_get_datetime(snap, "db.when", &dt, &err), 0);
    assert_int_equal(dt.year, 1979);
    assert_int_equal(coffer_snapshot_get_datetime(snap, "db.on", &dt, &err), COFFER_ETYPE);
    assert_int_equal(coffer_snapshot_get_string(snap, "db", &str, NULL, &err),
                     COFFER_ETYPE);
    assert_string_equal(err.message, "key 'db' is a table, not a string");
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void bad_toml_names_file_line_column(void **state)
{
    (void)state;
    write_at(global_file(), "ok = \"fine\"\n", 0600);
    write_at(project_file(), "a = \"x\"\nb = = 2\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap = NULL;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
    assert_string_equal(err.file, project_file());
    assert_int_equal(err.line, 2);
    assert_true(err.column >= 4 && err.column <= 6);
    char buf[4200];
    coffer_error_format(&err, buf, sizeof buf);
    char want[1100];
    snprintf(want, sizeof want, "%s:2:", project_file());
    assert_memory_equal(buf, want, strlen(want));
    coffer_store_close(s);
}

static void not_regular_files_and_size_limit(void **state)
{
    (void)state;
    /* Tests run as root, which bypasses chmod 000: unreadable files are
     * simulated with a directory, a FIFO and the size limit. */
    mkdirs(project_file()); /* .streamlit/secrets.toml is a directory */
    coffer_store *s = open_default();
    coffer_snapshot *snap = NULL;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    char want[1200];
    snprintf(want, sizeof want, "'%s' is not a regular file", project_file());
    assert_string_equal(err.message, want);
    assert_string_equal(err.file, project_file());
    coffer_store_close(s);
    rmdir(project_file());

    assert_int_equal(mkfifo(project_file(), 0600), 0);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    assert_string_equal(err.message, want);
    coffer_store_close(s);
    unlink(project_file());

    write_at(project_file(), "key = \"0123456789012345678901234567890123456789\"\n",
             0600);
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.cwd = sb_proj;
    o.parse.max_input = 16;
    assert_int_equal(coffer_store_open(&o, &s, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ELIMIT);
    assert_string_equal(err.file, project_file());
    assert_non_null(strstr(err.message, "size limit"));
    coffer_store_close(s);
}

static void permissions(void **state)
{
    (void)state;
    coffer_snapshot *snap = NULL;
    coffer_error err;
    /* Group-writable: refused. */
    write_at(project_file(), "k = \"v\"\n", 0620);
    coffer_store *s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    assert_non_null(strstr(err.message, "writable by group or others"));
    assert_non_null(strstr(err.message, "chmod 600"));
    assert_string_equal(err.file, project_file());
    coffer_store_close(s);
    /* World-writable: refused. */
    chmod(project_file(), 0602);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    coffer_store_close(s);
    /* World-readable: a warning, once per source per process. */
    chmod(project_file(), 0644);
    diag_log[0] = '\0';
    diag_count = 0;
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    coffer_store_close(s);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    assert_int_equal(diag_count, 1);
    assert_non_null(strstr(diag_log, "readable by group or others"));
    assert_non_null(strstr(diag_log, "chmod 600"));
    /* Strict: refused, by flag and by COFFER_STRICT=1. */
    assert_int_equal(open_opts(&s, COFFER_STORE_STRICT_PERMS, NULL, 0, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    assert_non_null(strstr(err.message, "strict"));
    coffer_store_close(s);
    setenv("COFFER_STRICT", "1", 1);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    coffer_store_close(s);
    unsetenv("COFFER_STRICT");
    /* Owned by another (non-root) user: refused. */
    chmod(project_file(), 0600);
    if (geteuid() == 0) {
        assert_int_equal(chown(project_file(), 65534, 65534), 0);
        s = open_default();
        assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
        assert_non_null(strstr(err.message, "owned by another user"));
        coffer_store_close(s);
        assert_int_equal(chown(project_file(), 0, 0), 0);
    }
    /* 0600 and our own (or root's): accepted quietly. */
    diag_count = 0;
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    assert_int_equal(diag_count, 0);
}

#define NTHREADS 16
static pthread_barrier_t barrier;
typedef struct racer {
    coffer_store *s;
    coffer_snapshot *snap;
    int rc;
    char value[32];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(&barrier);
    coffer_error err;
    r->rc = coffer_store_acquire(r->s, &r->snap, &err);
    if (r->rc == 0) {
        const char *v;
        if (coffer_snapshot_get_string(r->snap, "db.password", &v, NULL, &err) == 0)
            snprintf(r->value, sizeof r->value, "%s", v);
    }
    return NULL;
}

static void concurrent_first_access(void **state)
{
    (void)state;
    write_at(project_file(), "[db]\npassword = \"s3cret\"\n", 0600);
    coffer_store *s = open_default();
    racer r[NTHREADS];
    pthread_t t[NTHREADS];
    pthread_barrier_init(&barrier, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].s = s;
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(r[i].rc, 0);
        assert_ptr_equal(r[i].snap, r[0].snap); /* loaded exactly once */
        assert_string_equal(r[i].value, "s3cret");
        assert_int_equal(coffer_snapshot_generation(r[i].snap), 1);
        coffer_snapshot_release(r[i].snap);
    }
    coffer_store_close(s);
}

static void provenance_lines(void **state)
{
    (void)state;
    write_at(project_file(),
             "# comment\n\ntop = 1\n\n[db]\nuser = \"u\"\n\n  password = \"p\"\n"
             "[[servers]]\nhost = \"a\"\n[[servers]]\nhost = \"b\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_where(snap, "top", &file, &line, &err), 0);
    assert_int_equal(line, 3);
    assert_string_equal(file, project_file());
    assert_int_equal(coffer_snapshot_where(snap, "db.password", &file, &line, &err), 0);
    assert_int_equal(line, 8);
    assert_int_equal(coffer_snapshot_where(snap, "servers[1].host", &file, &line, &err), 0);
    assert_int_equal(line, 12);
    assert_int_equal(coffer_snapshot_where(snap, "nope", &file, &line, &err),
                     COFFER_ENOKEY);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void sections(void **state)
{
    (void)state;
    write_at(project_file(),
             "[db_credentials]\nhost = \"localhost\"\nport = 5432\n"
             "user = \"app\"\npassword = \"pw\"\nconnect_timeout = 2.5\n"
             "ssl = false\nsince = 2026-11-27T10:20:30Z\n"
             "[bad]\nhost = \"h\"\nopts = { a = 1 }\n"
             "[empty]\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "db_credentials", &sec, &err), 0);
    assert_int_equal(sec.count, 7);
    static const char *keys[] = { "host", "port", "user", "password",
                                  "connect_timeout", "ssl", "since" };
    static const char *vals[] = { "localhost", "5432", "app", "pw", "2.5",
                                  "false", "2026-11-27T10:20:30Z" };
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(sec.keys[i], keys[i]);
        assert_string_equal(sec.values[i], vals[i]);
    }
    assert_null(sec.keys[7]);
    assert_null(sec.values[7]);
    coffer_section_release(&sec);
    assert_null(sec.keys);
    assert_int_equal(coffer_snapshot_section(snap, "bad", &sec, &err), COFFER_ETYPE);
    assert_string_equal(err.message,
                        "key 'bad.opts' is a table; a section holds only scalars");
    assert_null(sec.keys);
    assert_int_equal(coffer_snapshot_section(snap, "empty", &sec, &err), 0);
    assert_int_equal(sec.count, 0);
    assert_null(sec.keys[0]);
    coffer_section_release(&sec);
    assert_int_equal(coffer_snapshot_section(snap, "db_credentials.port", &sec, &err),
                     COFFER_ETYPE);
    assert_int_equal(coffer_snapshot_section(snap, "nope", &sec, &err), COFFER_ENOKEY);
    coffer_section_release(&sec); /* releasing an empty section is fine */
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

typedef struct collected {
    char keys[512];
    int n, stop_at;
} collected;

static int collect(void *ctx, const char *key, const coffer_value *v)
{
    collected *c = ctx;
    (void)v;
    size_t n = strlen(c->keys);
    snprintf(c->keys + n, sizeof c->keys - n, "%s,", key);
    return ++c->n == c->stop_at ? 42 : 0;
}

static void foreach_order(void **state)
{
    (void)state;
    write_at(global_file(), "zeta = 1\nalpha = 2\n[t]\nb = 1\na = 2\n", 0600);
    write_at(project_file(), "mid = 3\nzeta = 9\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    collected c;
    memset(&c, 0, sizeof c);
    assert_int_equal(coffer_snapshot_foreach(snap, NULL, collect, &c, &err), 0);
    assert_string_equal(c.keys, "zeta,alpha,t,mid,");
    memset(&c, 0, sizeof c);
    assert_int_equal(coffer_snapshot_foreach(snap, "t", collect, &c, &err), 0);
    assert_string_equal(c.keys, "b,a,");
    memset(&c, 0, sizeof c);
    c.stop_at = 2;
    assert_int_equal(coffer_snapshot_foreach(snap, "", collect, &c, &err), 42);
    assert_int_equal(c.n, 2);
    assert_int_equal(coffer_snapshot_foreach(snap, "zeta", collect, &c, &err),
                     COFFER_ETYPE);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static bool has(char **v, size_t n, const char *want)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], want) == 0)
            return true;
    return false;
}

static void reload_swap_and_diff(void **state)
{
    (void)state;
    write_at(global_file(), "g = \"global\"\n", 0600);
    write_at(project_file(),
             "a = 1\nlist = [1, 2]\n[db]\nuser = \"u\"\npassword = \"old\"\n"
             "[[srv]]\nhost = \"x\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *old;
    coffer_error err;
    coffer_diff d;
    /* Reload before any access loads (returns 1, all added). */
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_true(has(d.added, d.nadded, "db.password"));
    assert_true(has(d.added, d.nadded, "srv[0].host"));
    assert_true(has(d.added, d.nadded, "list"));
    coffer_diff_release(&d);
    assert_int_equal(coffer_store_acquire(s, &old, &err), 0);
    assert_int_equal(coffer_snapshot_generation(old), 1);
    /* Same content: nothing swapped. */
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 0);
    assert_int_equal(d.nadded + d.nchanged + d.nremoved, 0);
    write_at(project_file(),
             "list = [1, 2, 3]\nb = 2\n[db]\nuser = \"u\"\npassword = \"new\"\n"
             "[[srv]]\nhost = \"x\"\n[[srv]]\nhost = \"y\"\n", 0600);
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_int_equal(d.nchanged, 2);
    assert_true(has(d.changed, d.nchanged, "db.password"));
    assert_true(has(d.changed, d.nchanged, "list"));
    assert_int_equal(d.nadded, 2);
    assert_true(has(d.added, d.nadded, "b"));
    assert_true(has(d.added, d.nadded, "srv[1].host"));
    assert_int_equal(d.nremoved, 1);
    assert_string_equal(d.removed[0], "a");
    coffer_diff_release(&d);
    /* The old snapshot is still whole while held. */
    const char *v;
    assert_int_equal(coffer_snapshot_get_string(old, "db.password", &v, NULL, &err), 0);
    assert_string_equal(v, "old");
    coffer_snapshot_release(old);
    coffer_snapshot *cur;
    assert_int_equal(coffer_store_acquire(s, &cur, &err), 0);
    assert_int_equal(coffer_snapshot_generation(cur), 2);
    assert_int_equal(coffer_snapshot_get_string(cur, "db.password", &v, NULL, &err), 0);
    assert_string_equal(v, "new");
    coffer_snapshot_release(cur);
    /* A broken file: the reload fails, the last good snapshot stays. */
    write_at(project_file(), "broken = \n", 0600);
    assert_int_equal(coffer_store_reload(s, &err), COFFER_ESYNTAX);
    assert_int_equal(coffer_store_get_string(s, "db.password", &v, &err), 0);
    assert_string_equal(v, "new");
    /* Deleting one layer falls back to the rest. */
    unlink(project_file());
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_true(has(d.removed, d.nremoved, "db.user"));
    coffer_diff_release(&d);
    assert_int_equal(coffer_store_get_string(s, "g", &v, &err), 0);
    /* Deleting all: no secrets, the last good snapshot stays current. */
    unlink(global_file());
    assert_int_equal(coffer_store_reload(s, &err), COFFER_ENOSECRETS);
    assert_int_equal(coffer_store_acquire(s, &cur, &err), 0);
    assert_int_equal(coffer_snapshot_generation(cur), 3);
    assert_int_equal(coffer_snapshot_get_string(cur, "g", &v, NULL, &err), 0);
    coffer_snapshot_release(cur);
    coffer_store_close(s);
}

static void text_sources(void **state)
{
    (void)state;
    write_at(project_file(), "a = \"file\"\nb = \"file-b\"\n", 0600);
    setenv("COFFER_SECRETS", "a = \"from-env\"\nc = \"env-c\"\n", 1);
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_add_text(s, "app-text", "c = \"app\"\n", 10, &err), 0);
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *v, *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_get_string(snap, "a", &v, NULL, &err), 0);
    assert_string_equal(v, "from-env");
    assert_int_equal(coffer_snapshot_where(snap, "a", &file, &line, &err), 0);
    assert_string_equal(file, "$COFFER_SECRETS");
    assert_int_equal(coffer_snapshot_get_string(snap, "c", &v, NULL, &err), 0);
    assert_string_equal(v, "app");
    assert_int_equal(coffer_snapshot_where(snap, "c", &file, &line, &err), 0);
    assert_string_equal(file, "app-text");
    assert_int_equal(coffer_snapshot_get_string(snap, "b", &v, NULL, &err), 0);
    assert_string_equal(v, "file-b");
    coffer_snapshot_release(snap);
    /* After the first access, no more text sources. */
    assert_int_equal(coffer_store_add_text(s, "late", "x = 1", 5, &err), COFFER_EINVAL);
    /* Source listing: files, then $COFFER_SECRETS, then the text. */
    size_t n = coffer_store_source_count(s);
    assert_int_equal(n, 4);
    coffer_source_info info;
    assert_int_equal(coffer_store_source(s, 2, &info), 0);
    assert_int_equal(info.kind, COFFER_SOURCE_TEXT);
    assert_string_equal(info.name, "$COFFER_SECRETS");
    assert_string_equal(info.path, "");
    assert_true(info.found);
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    assert_false(info.found);
    assert_int_equal(coffer_store_source(s, 1, &info), 0);
    assert_true(info.found);
    assert_int_equal(info.kind, COFFER_SOURCE_FILE);
    coffer_store_close(s);
    /* Invalid TOML in $COFFER_SECRETS names the variable. */
    setenv("COFFER_SECRETS", "x = = 1", 1);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
    assert_string_equal(err.file, "$COFFER_SECRETS");
    assert_int_equal(err.line, 1);
    coffer_store_close(s);
    /* NO_ENV_SOURCES ignores it. */
    assert_int_equal(open_opts(&s, COFFER_STORE_NO_ENV_SOURCES, NULL, 0, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    assert_int_equal(coffer_snapshot_get_string(snap, "a", &v, NULL, &err), 0);
    assert_string_equal(v, "file");
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    unsetenv("COFFER_SECRETS");
    /* Only text: found even with no file at all. */
    unlink(project_file());
    s = open_default();
    assert_int_equal(coffer_store_add_text(s, NULL, "k = 1", 5, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void snapshot_outlives_store(void **state)
{
    (void)state;
    write_at(project_file(), "k = \"v\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot *again = coffer_snapshot_retain(snap);
    assert_ptr_equal(again, snap);
    coffer_snapshot_release(again);
    coffer_store_close(s);
    const char *v, *file;
    assert_int_equal(coffer_snapshot_get_string(snap, "k", &v, NULL, &err), 0);
    assert_string_equal(v, "v");
    assert_int_equal(coffer_snapshot_where(snap, "k", &file, NULL, &err), 0);
    assert_string_equal(file, project_file());
    coffer_snapshot_release(snap);
    coffer_snapshot_release(NULL);
}

static void plain_memory_and_opening_does_no_io(void **state)
{
    (void)state;
    coffer_store *s;
    coffer_error err;
    /* Opening with a source that does not exist yet succeeds: no I/O. */
    assert_int_equal(open_opts(&s, COFFER_STORE_PLAIN_MEMORY, NULL, 0, &err), 0);
    write_at(project_file(), "k = \"v\"\n", 0600);
    const char *v;
    assert_int_equal(coffer_store_get_string(s, "k", &v, &err), 0);
    assert_string_equal(v, "v");
    coffer_store_close(s);
    coffer_store_close(NULL);
}

static void default_store(void **state)
{
    (void)state;
    write_at(project_file(), "k = \"v\"\n", 0600);
    char old[1024];
    assert_non_null(getcwd(old, sizeof old));
    assert_int_equal(chdir(sb_proj), 0);
    coffer_store *s = coffer_default_store();
    assert_non_null(s);
    assert_ptr_equal(coffer_default_store(), s);
    const char *v;
    coffer_error err;
    assert_int_equal(coffer_store_get_string(s, "k", &v, &err), 0);
    assert_string_equal(v, "v");
    assert_int_equal(chdir(old), 0);
}

static void check_reports_everything(void **state)
{
    (void)state;
    write_at(global_file(), "a = \"x\"\nb = = 1\n", 0644);   /* toml error, readable */
    write_at(project_file(), "a = \"y\"\n\"bad-name\" = \"v\"\n\"x=y\" = 1\n"
                             "[t]\nk = 1\n", 0620);         /* group-writable */
    char third[1024];
    snprintf(third, sizeof third, "%s", sbp("third.toml"));
    write_at(third, "t = 1\na = \"z\"\n", 0600);
    const char *paths[] = { global_file(), project_file(), third,
                            sbp("missing.toml") };
    coffer_store *s;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, paths, 4, &err), 0);
    findings f;
    memset(&f, 0, sizeof f);
    int rc = coffer_store_check(s, on_finding, &f);
    assert_int_equal(rc, 2);
    assert_int_equal(f.n[2], 2);
    char want[1400];
    /* A TOML error as a load prints it: FILE:LINE:COL: message. */
    snprintf(want, sizeof want, "2|%s|%s:2:", global_file(), global_file());
    assert_non_null(strstr(f.log, want));
    snprintf(want, sizeof want, "1|%s|readable by group or others (fix with "
             "chmod 600)", global_file());
    assert_non_null(strstr(f.log, want));
    snprintf(want, sizeof want, "2|%s|writable by group or others; refusing "
             "it (fix with chmod 600)", project_file());
    assert_non_null(strstr(f.log, want));
    assert_non_null(strstr(f.log, "key 'bad-name' is not a portable shell"));
    assert_non_null(strstr(f.log, "key 'x=y' cannot be exported"));
    snprintf(want, sizeof want, "0|%s|root key 'a' is shadowed by '%s'",
             project_file(), third);
    assert_non_null(strstr(f.log, want));
    snprintf(want, sizeof want, "0|%s|root key 't' is shadowed by '%s'",
             project_file(), third);
    assert_non_null(strstr(f.log, want));
    assert_non_null(strstr(f.log, "missing.toml|not found"));
    /* The store itself is untouched by check (and its load still fails). */
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
    coffer_store_close(s);
    /* Nothing at all. */
    const char *none[] = { sbp("nope1.toml"), sbp("nope2.toml") };
    assert_int_equal(open_opts(&s, 0, none, 2, &err), 0);
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), COFFER_ENOSECRETS);
    assert_non_null(strstr(f.log, "no secrets found; searched"));
    coffer_store_close(s);
    /* All good: 0. */
    chmod(project_file(), 0600);
    write_at(global_file(), "a = 1\n", 0600);
    assert_int_equal(open_opts(&s, 0, NULL, 0, &err), 0);
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 0);
    assert_int_equal(f.n[2], 0);
    coffer_store_close(s);
}

static void atomic_write(void **state)
{
    (void)state;
    const char *p = sbp("out/secrets.toml");
    mkdirs(sbp("out"));
    coffer_error err;
    assert_int_equal(coffer_file_write_atomic(p, "a = 1\n", 6, 0600, &err), 0);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 6);
    /* Replaces whole; no temporary file left behind. */
    assert_int_equal(coffer_file_write_atomic(p, "b = 22\n", 7, 0640, &err), 0);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 7);
    assert_int_equal(st.st_mode & 07777, 0640);
    DIR *d = opendir(sbp("out"));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' || strlen(e->d_name) > 2)
            n++;
    closedir(d);
    assert_int_equal(n, 1);
    /* A directory that does not exist: a clear error. */
    assert_int_equal(coffer_file_write_atomic(sbp("nodir/x.toml"), "a", 1, 0600, &err),
                     COFFER_ESYS);
    assert_non_null(strstr(err.message, "nodir/x.toml"));
    assert_int_equal(err.sys_errno, ENOENT);
    assert_int_equal(coffer_file_write_atomic(NULL, "a", 1, 0600, &err), COFFER_EINVAL);
}

/* ------------------------------------------------------------- canary */

#define CANARY "CANARY-c0ffee"

static void assert_clean(const coffer_error *err)
{
    assert_null(memmem(err, sizeof *err, CANARY, strlen(CANARY)));
    assert_null(memmem(err, sizeof *err, "c0ffee", 6));
}

static void canary_never_leaks(void **state)
{
    (void)state;
    coffer_error err;
    coffer_store *s;
    coffer_snapshot *snap;
    diag_log[0] = '\0';
    write_at(project_file(),
             "tok = \"" CANARY "\"\nport = \"" CANARY "\"\n"
             "[sec]\na = \"" CANARY "\"\nnested = { x = \"" CANARY "\" }\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    int64_t i;
    memset(&err, 0, sizeof err);
    assert_int_equal(coffer_snapshot_get_int(snap, "tok", &i, &err), COFFER_ETYPE);
    assert_clean(&err);
    assert_int_equal(coffer_snapshot_get(snap, "tokk", &(const coffer_value *){0}, &err),
                     COFFER_ENOKEY);
    assert_clean(&err);
    assert_int_equal(coffer_snapshot_get(snap, "tok.x", &(const coffer_value *){0}, &err),
                     COFFER_ETYPE);
    assert_clean(&err);
    /* A key that looks like the value: no suggestion may carry it. */
    assert_int_equal(coffer_snapshot_get(snap, "CANARY-c0ffeX", &(const coffer_value *){0}, &err),
                     COFFER_ENOKEY);
    assert_null(strstr(err.message, "did you mean 'CANARY-c0ffee'"));
    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "sec", &sec, &err), COFFER_ETYPE);
    assert_clean(&err);
    assert_int_equal(coffer_snapshot_section(snap, "tok", &sec, &err), COFFER_ETYPE);
    assert_clean(&err);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    /* Permission error. */
    chmod(project_file(), 0660);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    assert_clean(&err);
    coffer_store_close(s);
    chmod(project_file(), 0600);
    /* Bad TOML after the marker line, and inside a marker string. */
    write_at(project_file(), "tok = \"" CANARY "\"\nx = \"" CANARY "\n", 0600);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
    assert_clean(&err);
    coffer_store_close(s);
    write_at(project_file(), "tok = \"" CANARY "\" junk " CANARY "\n", 0600);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
    assert_clean(&err);
    coffer_store_close(s);
    /* Layout error in a secrets directory. */
    write_rel("kdir/db/password", CANARY "\n", 0600);
    write_rel("kdir/stray", CANARY "\n", 0600);
    const char *paths[] = { sbp("kdir") };
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ELAYOUT);
    assert_clean(&err);
    /* check: none of its findings carries the marker either. */
    findings f;
    memset(&f, 0, sizeof f);
    (void)coffer_store_check(s, on_finding, &f);
    assert_null(strstr(f.log, "c0ffee"));
    coffer_store_close(s);
    /* Invalid UTF-8 in a flat credential. */
    write_rel("flat/k", CANARY "\xff\n", 0600);
    const char *fpaths[] = { "flat:flat" };
    char cwd_save[600];
    snprintf(cwd_save, sizeof cwd_save, "%s", sb_proj);
    snprintf(sb_proj, sizeof sb_proj, "%s", sb);
    assert_int_equal(open_opts(&s, 0, fpaths, 1, &err), 0);
    snprintf(sb_proj, sizeof sb_proj, "%s", cwd_save);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    assert_non_null(strstr(err.message, "utf-8"));
    assert_clean(&err);
    coffer_store_close(s);
    assert_null(strstr(diag_log, "c0ffee"));
}

/* Readers keep reading consistent snapshots while another thread reloads:
 * every value seen belongs to one generation (a and b always agree). */
typedef struct reader {
    coffer_store *s;
    atomic_int *stop;
    atomic_int *readers_started; /* readers that finished a first read */
    long reads, bad;
} reader;

static void *read_loop(void *arg)
{
    reader *r = arg;
    while (!atomic_load(r->stop)) {
        coffer_snapshot *snap;
        if (coffer_store_acquire(r->s, &snap, NULL) != 0) {
            r->bad++;
            continue;
        }
        int64_t a = -1, b = -2;
        if (coffer_snapshot_get_int(snap, "a", &a, NULL) != 0 ||
            coffer_snapshot_get_int(snap, "t.b", &b, NULL) != 0 || a != b ||
            (uint64_t)a + 1 != coffer_snapshot_generation(snap))
            r->bad++;
        coffer_snapshot_release(snap);
        if (r->reads++ == 0)
            atomic_fetch_add(r->readers_started, 1);
        sched_yield(); /* let the reloading thread run (valgrind) */
    }
    return NULL;
}

static void readers_during_reloads(void **state)
{
    (void)state;
    write_at(project_file(), "a = 0\n[t]\nb = 0\n", 0600);
    coffer_store *s = open_default();
    coffer_error err;
    coffer_snapshot *first;
    assert_int_equal(coffer_store_acquire(s, &first, &err), 0);
    atomic_int stop, started;
    atomic_init(&stop, 0);
    atomic_init(&started, 0);
    reader r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i].s = s;
        r[i].stop = &stop;
        r[i].readers_started = &started;
        r[i].reads = r[i].bad = 0;
        assert_int_equal(pthread_create(&t[i], NULL, read_loop, &r[i]), 0);
    }
    for (int g = 1; g <= 40; g++) {
        char text[64];
        snprintf(text, sizeof text, "a = %d\n[t]\nb = %d\n", g, g);
        write_at(project_file(), text, 0600);
        assert_int_equal(coffer_store_reload(s, &err), 0);
    }
    /* On a loaded machine the reloads can all finish before a reader ran:
     * let every reader read at least once (bounded: 10 s). */
    for (int k = 0; k < 10000 && atomic_load(&started) < 4; k++)
        usleep(1000);
    atomic_store(&stop, 1);
    long reads = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].bad, 0);
        reads += r[i].reads;
    }
    assert_true(reads > 0);
    /* The first snapshot, held all along, is intact. */
    int64_t a;
    assert_int_equal(coffer_snapshot_get_int(first, "a", &a, &err), 0);
    assert_int_equal(a, 0);
    coffer_snapshot_release(first);
    coffer_snapshot *cur;
    assert_int_equal(coffer_store_acquire(s, &cur, &err), 0);
    assert_int_equal(coffer_snapshot_generation(cur), 41);
    coffer_snapshot_release(cur);
    coffer_store_close(s);
}

/* A small file's snapshot is one locked block (16 KiB and room for the
 * parser's stages), which are given back after the
 * parse (the region's use drops below its peak); the reload's snapshot is
 * sized from the peak, and a later one of the same size gets the block
 * of an earlier one back from the pool (released, wiped, reused: the same
 * address, no new mapping). */
static void region_one_block_for_a_small_file(void **state)
{
    (void)state;
    char text[2048] = "";
    for (int i = 0; i < 20; i++) {
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n,
                 "[svc_%d]\nurl = \"https://example.com/%d\"\nport = %d\n", i,
                 i, 1000 + i);
    }
    write_at(sbp("s.toml"), text, 0600);
    const char *paths[] = { sbp("s.toml") };
    coffer_store *s;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    const void *first = NULL;
    const size_t want0 = (16384 + COFFER_PARSE_STAGE_BYTES + 4095) & ~(size_t)4095;
    for (int round = 0; round < 4; round++) {
        coffer_snapshot *snap;
        if (round) { /* a reload, sized from the last snapshot's peak */
            write_at(sbp("s.toml"), text, 0600);
            assert_int_equal(coffer_store_reload(s, &err), 0);
        }
        assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
        assert_int_equal(coffer_snapshot_generation(snap), (uint64_t)round + 1);
        const coffer_region *r = &snap->region;
        /* one block: 16 KiB and the stages, then sized from the peak */
        assert_int_equal(r->total, round == 0 ? want0 : 20480);
        assert_true(r->peak >= r->used + COFFER_PARSE_STAGE_BYTES);
        if (round == 1)
            first = r->head;
        else if (round == 3) /* round 2 got a block while 1 was current */
            assert_ptr_equal(r->head, first);
        int64_t port;
        assert_int_equal(coffer_snapshot_get_int(snap, "svc_19.port", &port,
                                                 &err), 0);
        assert_int_equal(port, 1019);
        coffer_snapshot_release(snap);
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "[more%d]\nk = 1\n", round);
    }
    coffer_store_close(s);
}

/* Large pieces (a file buffer, a big arena chunk) get a block of their
 * own, released with the piece; small ones share the first block; the
 * whole region wipes what it held (plain base: checked by the allocator). */
static size_t region_released, region_live;
static void *region_count_alloc(void *ctx, size_t n)
{
    (void)ctx;
    region_live += n;
    return calloc(1, n);
}
static void region_count_release(void *ctx, void *p, size_t n)
{
    (void)ctx;
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        assert_int_equal(b[i], 0);
    region_live -= n;
    region_released += n;
    free(p);
}

static void region_large_pieces_have_their_own_block(void **state)
{
    (void)state;
    static const coffer_allocator counting = { region_count_alloc,
                                               region_count_release, NULL };
    coffer_region r;
    region_released = region_live = 0;
    coffer_region_init(&r, &counting, 16384);
    char *small = r.alloc.alloc(r.alloc.ctx, 1000);
    assert_non_null(small);
    memset(small, 0x5a, 1000);
    assert_int_equal(r.total, 16384);
    char *big = r.alloc.alloc(r.alloc.ctx, 200000);
    assert_non_null(big);
    memset(big, 0xa5, 200000);
    assert_true(r.total >= 16384 + 200000);
    assert_true(r.total <= 16384 + 200000 + 200000 / 8 + 8192);
    /* the small pieces still come from the first block */
    char *small2 = r.alloc.alloc(r.alloc.ctx, 1000);
    assert_ptr_equal(small2, small + 1008); /* 1000 rounded to 16 */
    size_t before = r.total;
    r.alloc.release(r.alloc.ctx, big, 200000);
    assert_true(r.total < before);
    assert_int_equal(r.total, 16384);
    assert_true(region_released >= 200000);
    /* a piece in a shared block is not released alone */
    r.alloc.release(r.alloc.ctx, small, 1000);
    assert_int_equal(r.total, 16384);
    coffer_region_release(&r);
    assert_int_equal(region_live, 0);
}

/* One layer: the snapshot's root is the document's, not a copy, and
 * provenance (which needs the layer of each root member) still works; two
 * layers merge into a root of their own. */
static void one_layer_root_is_not_copied(void **state)
{
    (void)state;
    char text[4096] = "";
    for (int i = 0; i < 100; i++) { /* past the index threshold */
        size_t n = strlen(text);
        snprintf(text + n, sizeof text - n, "k%d = %d\n", i, i);
    }
    write_at(sbp("one.toml"), text, 0600);
    write_at(sbp("two.toml"), "k5 = \"five\"\nextra = true\n", 0600);
    const char *paths[] = { sbp("one.toml"), sbp("two.toml") };
    for (size_t np = 1; np <= 2; np++) {
        coffer_store *s;
        coffer_error err;
        assert_int_equal(open_opts(&s, 0, paths, np, &err), 0);
        coffer_snapshot *snap;
        assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
        const coffer_value *doc_root = coffer_doc_root(snap->layers[0].doc);
        if (np == 1) {
            assert_ptr_equal(snap->root.u.c, doc_root->u.c);
            assert_int_equal(coffer_table_count(&snap->root), 100);
        } else {
            assert_ptr_not_equal(snap->root.u.c, doc_root->u.c);
            assert_int_equal(coffer_table_count(&snap->root), 101);
        }
        const char *file;
        unsigned line;
        assert_int_equal(coffer_snapshot_where(snap, "k99", &file, &line, &err), 0);
        assert_string_equal(file, sbp("one.toml"));
        assert_int_equal(line, 100);
        assert_int_equal(coffer_snapshot_where(snap, "k5", &file, &line, &err), 0);
        assert_string_equal(file, sbp(np == 1 ? "one.toml" : "two.toml"));
        assert_int_equal(line, np == 1 ? 6 : 1);
        int64_t v;
        assert_int_equal(coffer_snapshot_get_int(snap, "k42", &v, &err), 0);
        assert_int_equal(v, 42);
        coffer_snapshot_release(snap);
        coffer_store_close(s);
    }
}

/* The reload diff takes members in the same order without a lookup, but
 * must still be right when the order changes, when as many keys are added
 * as removed (same count, different keys), and inside sub-tables. */
static void reload_diff_order_and_same_count(void **state)
{
    (void)state;
    const char *paths[] = { sbp("d.toml") };
    write_at(sbp("d.toml"), "a = 1\nb = \"x\"\nc = 3\n[t]\nu = 1\nv = 2\n", 0600);
    coffer_store *s;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    coffer_diff d;
    /* the same members in another order: no change, no swap */
    write_at(sbp("d.toml"), "c = 3\na = 1\nb = \"x\"\n[t]\nv = 2\nu = 1\n", 0600);
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 0);
    assert_int_equal(d.nadded + d.nchanged + d.nremoved, 0);
    /* b renamed to e (same count), t.v renamed to t.w, c changed */
    write_at(sbp("d.toml"), "c = 4\na = 1\ne = \"x\"\n[t]\nw = 2\nu = 1\n", 0600);
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_int_equal(d.nchanged, 1);
    assert_string_equal(d.changed[0], "c");
    assert_int_equal(d.nadded, 2);
    assert_true(has(d.added, d.nadded, "e"));
    assert_true(has(d.added, d.nadded, "t.w"));
    assert_int_equal(d.nremoved, 2);
    assert_true(has(d.removed, d.nremoved, "b"));
    assert_true(has(d.removed, d.nremoved, "t.v"));
    coffer_diff_release(&d);
    /* a string of the same length, one byte different past 64 bytes */
    write_at(sbp("d.toml"), "c = 4\na = 1\ne = \"x\"\n[t]\nw = 2\nu = 1\n"
             "long = \"0123456789012345678901234567890123456789012345678901234567890123456789A\"\n", 0600);
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    coffer_diff_release(&d);
    write_at(sbp("d.toml"), "c = 4\na = 1\ne = \"x\"\n[t]\nw = 2\nu = 1\n"
             "long = \"0123456789012345678901234567890123456789012345678901234567890123456789B\"\n", 0600);
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_int_equal(d.nchanged, 1);
    assert_string_equal(d.changed[0], "t.long");
    assert_int_equal(d.nadded + d.nremoved, 0);
    coffer_diff_release(&d);
    coffer_store_close(s);
}

/* Memory locking fails in a child that has dropped root (and with it
 * CAP_IPC_LOCK) under RLIMIT_MEMLOCK 0: a warning once, or COFFER_ELOCK
 * with COFFER_STORE_REQUIRE_LOCK. */
static void memory_lock_failure(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        skip();
        return;
    }
    char file[1024];
    snprintf(file, sizeof file, "%s", sbp("lock/secrets.toml"));
    write_at(file, "k = \"v\"\n", 0600);
    assert_int_equal(chown(file, 65534, 65534), 0);
    chmod(sb, 0755);
    chmod(sbp("lock"), 0755);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit rl = { 0, 0 };
        if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || setgid(65534) != 0 ||
            setuid(65534) != 0)
            _exit(10);
        /* Sanitizer runtimes turn mlock into a no-op that succeeds: then
         * a failed lock cannot be observed here. */
        static char probe[8192] __attribute__((aligned(4096)));
        if (mlock(probe, sizeof probe) == 0)
            _exit(20);
        const char *paths[] = { file };
        coffer_store *s;
        coffer_snapshot *snap;
        coffer_error err;
        if (open_opts(&s, 0, paths, 1, &err) != 0)
            _exit(11);
        if (coffer_store_acquire(s, &snap, &err) != 0)
            _exit(12);
        coffer_snapshot_release(snap);
        if (!coffer_memory_lock_failed())
            _exit(13);
        if (diag_count != 1 || !strstr(diag_log, "cannot lock secret memory"))
            _exit(14);
        (void)coffer_store_reload(s, &err);
        if (diag_count != 1) /* once */
            _exit(15);
        coffer_store_close(s);
        if (open_opts(&s, COFFER_STORE_REQUIRE_LOCK, paths, 1, &err) != 0)
            _exit(16);
        if (coffer_store_acquire(s, &snap, &err) != COFFER_ELOCK)
            _exit(17);
        coffer_store_close(s);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 20) {
        skip(); /* mlock cannot fail in this runtime (sanitizer) */
        return;
    }
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void started_from_home(void **state)
{
    (void)state;
    write_at(global_file(), "k = \"v\"\n", 0600);
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.cwd = sb_home;
    coffer_store *s;
    coffer_error err;
    assert_int_equal(coffer_store_open(&o, &s, &err), 0);
    /* Global and project file are the same file: one source. */
    assert_int_equal(coffer_store_source_count(s), 1);
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    assert_int_equal(coffer_snapshot_shadow_count(snap), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

/* One resolver: coffer_value_seek from the snapshot's root and the
 * snapshot lookup agree on every path - the same value when found; when
 * not, seek's ENOKEY is the snapshot's ENOKEY or ETYPE, and a malformed
 * path is EINVAL for both. */
static void seek_and_snapshot_get_agree(void **state)
{
    (void)state;
    write_at(project_file(),
             "a = 1\n\"dot.ted\" = \"q\"\narr = [1, [2, 3], {k = \"v\"}]\n"
             "[db]\nuser = \"u\"\n\"the key\" = 2\n[db.deep]\nx = true\n"
             "[[servers]]\nhost = \"h0\"\n[[servers]]\nhost = \"h1\"\n", 0600);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    static const struct { const char *path; int snap_rc; } cases[] = {
        { "a", 0 }, { "\"dot.ted\"", 0 }, { "arr", 0 }, { "arr[0]", 0 },
        { "arr[1][1]", 0 }, { "arr[2].k", 0 }, { "db.user", 0 },
        { "db.\"the key\"", 0 }, { "db.deep.x", 0 }, { "servers[1].host", 0 },
        { "'db'.user", 0 }, { "nope", COFFER_ENOKEY }, { "db.nope", COFFER_ENOKEY },
        { "arr[9]", COFFER_ENOKEY }, { "servers[2].host", COFFER_ENOKEY },
        { "a.b", COFFER_ETYPE }, { "db[0]", COFFER_ETYPE }, { "arr[0].x", COFFER_ETYPE },
        { "db.", COFFER_EINVAL }, { "arr[", COFFER_EINVAL }, { "a..b", COFFER_EINVAL },
        { "nope]", COFFER_EINVAL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const coffer_value *v1 = NULL, *v2 = NULL;
        int r1 = coffer_value_seek(coffer_snapshot_root(snap), cases[i].path, &v1, &err);
        int r2 = coffer_snapshot_get(snap, cases[i].path, &v2, &err);
        if (r2 != cases[i].snap_rc)
            fail_msg("'%s': snapshot %d, expected %d", cases[i].path, r2,
                     cases[i].snap_rc);
        if (r2 == 0) {
            assert_int_equal(r1, 0);
            assert_ptr_equal(v1, v2);
        } else if (r2 == COFFER_EINVAL) {
            assert_int_equal(r1, COFFER_EINVAL);
        } else {
            assert_int_equal(r1, COFFER_ENOKEY);
        }
    }
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(global_only, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(project_only, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(project_overrides_global, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(no_file_lists_paths, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(missing_key_messages, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(type_mismatch, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(bad_toml_names_file_line_column, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(not_regular_files_and_size_limit, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(permissions, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(concurrent_first_access, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(provenance_lines, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(sections, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(foreach_order, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(reload_swap_and_diff, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(text_sources, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(snapshot_outlives_store, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(plain_memory_and_opening_does_no_io, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(default_store, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(check_reports_everything, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(atomic_write, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(canary_never_leaks, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(readers_during_reloads, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(region_one_block_for_a_small_file, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(region_large_pieces_have_their_own_block, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(one_layer_root_is_not_copied, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(reload_diff_order_and_same_count, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(memory_lock_failure, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(started_from_home, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(seek_and_snapshot_get_agree, sb_setup, sb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
