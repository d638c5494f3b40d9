/* test_sources.c - source kinds: Kubernetes-style directories, flat
 * credential directories, [secrets] files configuration, listing. */
#include "testutil.h"
#include "store/store_internal.h"

#include "store_testutil.h"


/* ------------------------------------------------------------- tests */

/* Lays out a Kubernetes Secret volume at dir the way kubelet does:
 * ..<timestamp>/<key files>, ..data -> ..<timestamp>, <key> -> ..data/<key>. */
static void kubelet_volume(const char *dir, const char *stamp,
                           const char *const *keys, const char *const *vals,
                           size_t n)
{
    char p[1024], q[1024];
    snprintf(p, sizeof p, "%s/%s", dir, stamp);
    mkdirs(p);
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", dir, stamp, keys[i]);
        write_at(p, vals[i], 0644); /* kubelet's defaultMode 0644 */
    }
    /* Atomic ..data swap: new link, then rename over the old one. */
    snprintf(p, sizeof p, "%s/..data_tmp", dir);
    unlink(p);
    assert_int_equal(symlink(stamp, p), 0);
    snprintf(q, sizeof q, "%s/..data", dir);
    assert_int_equal(rename(p, q), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, keys[i]);
        snprintf(q, sizeof q, "..data/%s", keys[i]);
        unlink(p);
        assert_int_equal(symlink(q, p), 0);
    }
}

static void kubernetes_directory(void **state)
{
    (void)state;
    char root[1024], dbdir[1100], apidir[1100];
    snprintf(root, sizeof root, "%s", sbp("k8s"));
    snprintf(dbdir, sizeof dbdir, "%s/db", root);
    snprintf(apidir, sizeof apidir, "%s/api_key", root);
    static const char *dbk[] = { "username", "password" };
    static const char *dbv[] = { "  admin\n", "hunter2\n\n" };
    kubelet_volume(dbdir, "..2026_11_27_10_00_00.000000001", dbk, dbv, 2);
    static const char *apk[] = { "api_key" };
    static const char *apv[] = { "k-123\n" };
    kubelet_volume(apidir, "..2026_11_27_10_00_00.000000002", apk, apv, 1);
    write_at(sbp("k8s/.hidden"), "ignored\n", 0600);
    const char *paths[] = { root };
    coffer_store *s;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *v, *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_get_string(snap, "db.username", &v, NULL, &err), 0);
    assert_string_equal(v, "admin");
    assert_int_equal(coffer_snapshot_get_string(snap, "db.password", &v, NULL, &err), 0);
    assert_string_equal(v, "hunter2");
    /* A key directory holding one file collapses to its value. */
    assert_int_equal(coffer_snapshot_get_string(snap, "api_key", &v, NULL, &err), 0);
    assert_string_equal(v, "k-123");
    assert_int_equal(coffer_table_count(coffer_snapshot_root(snap)), 2);
    /* Provenance: the path under the configured directory, not ..data. */
    assert_int_equal(coffer_snapshot_where(snap, "db.password", &file, &line, &err), 0);
    char want[1200];
    snprintf(want, sizeof want, "%s/db/password", root);
    assert_string_equal(file, want);
    assert_int_equal(line, 1);
    assert_int_equal(coffer_snapshot_where(snap, "api_key", &file, &line, &err), 0);
    snprintf(want, sizeof want, "%s/api_key/api_key", root);
    assert_string_equal(file, want);
    assert_int_equal(coffer_snapshot_where(snap, "db", &file, &line, &err), 0);
    assert_string_equal(file, dbdir);
    coffer_snapshot_release(snap);
    /* kubelet's 0644 files: one warning for the source, with the hint. */
    assert_int_equal(diag_count, 1);
    assert_non_null(strstr(diag_log, "defaultMode: 0400"));
    coffer_source_info info;
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    assert_int_equal(info.kind, COFFER_SOURCE_DIR);
    assert_true(info.found);
    assert_string_equal(info.path, root);
    /* A ..data swap with a new password is picked up by a reload. */
    static const char *dbv2[] = { "admin\n", "correct-horse\n" };
    kubelet_volume(dbdir, "..2026_11_27_11_00_00.000000003", dbk, dbv2, 2);
    coffer_diff d;
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_int_equal(d.nchanged, 1);
    assert_string_equal(d.changed[0], "db.password");
    assert_int_equal(d.nadded + d.nremoved, 0);
    coffer_diff_release(&d);
    assert_int_equal(coffer_store_get_string(s, "db.password", &v, &err), 0);
    assert_string_equal(v, "correct-horse");
    coffer_store_close(s);
    /* Strict mode refuses kubelet's readable files. */
    assert_int_equal(open_opts(&s, COFFER_STORE_STRICT_PERMS, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    assert_non_null(strstr(err.message, "defaultMode: 0400"));
    coffer_store_close(s);
}

static void directory_layout_errors(void **state)
{
    (void)state;
    coffer_store *s;
    coffer_snapshot *snap;
    coffer_error err;
    char root[1024];
    snprintf(root, sizeof root, "%s", sbp("sec"));
    write_at(sbp("sec/db/user"), "u", 0600);
    write_at(sbp("sec/stray.txt"), "x", 0600);
    const char *paths[] = { root };
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ELAYOUT);
    char want[1200];
    snprintf(want, sizeof want, "%s/stray.txt", root);
    assert_string_equal(err.file, want);
    assert_non_null(strstr(err.message, want));
    assert_non_null(strstr(err.message, "one sub-directory per key"));
    coffer_store_close(s);
    unlink(want);
    /* A directory inside a key directory. */
    mkdirs(sbp("sec/db/deeper"));
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ELAYOUT);
    assert_non_null(strstr(err.message, "deeper"));
    coffer_store_close(s);
    rmdir(sbp("sec/db/deeper"));
    /* Invalid UTF-8. */
    write_at(sbp("sec/db/bad"), "\xc3\x28", 0600);
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    assert_non_null(strstr(err.message, "utf-8"));
    assert_non_null(strstr(err.file, "sec/db/bad"));
    coffer_store_close(s);
    unlink(sbp("sec/db/bad"));
    /* A FIFO as a value file is not read (and does not hang). */
    assert_int_equal(mkfifo(sbp("sec/db/fifo"), 0600), 0);
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    assert_non_null(strstr(err.message, "is not a regular file"));
    coffer_store_close(s);
    unlink(sbp("sec/db/fifo"));
    /* Group-writable value file: refused. */
    write_at(sbp("sec/db/pw"), "p", 0660);
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    coffer_store_close(s);
    unlink(sbp("sec/db/pw"));
    /* Empty key directory: an empty table; two files: a table. */
    mkdirs(sbp("sec/empty"));
    write_at(sbp("sec/db/pass"), "p", 0600);
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const coffer_value *v;
    assert_int_equal(coffer_snapshot_get(snap, "empty", &v, &err), 0);
    assert_int_equal(coffer_value_type(v), COFFER_TYPE_TABLE);
    assert_int_equal(coffer_table_count(v), 0);
    assert_int_equal(coffer_snapshot_get(snap, "db", &v, &err), 0);
    assert_int_equal(coffer_table_count(v), 2);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void toml_path_that_is_a_directory(void **state)
{
    (void)state;
    mkdirs(sbp("dir.toml"));
    write_at(sbp("dir.toml/x/y"), "v", 0600);
    const char *paths[] = { "../dir.toml" };
    coffer_store *s;
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    assert_non_null(strstr(err.message, "is not a regular file"));
    coffer_store_close(s);
}

static void flat_credentials_directory(void **state)
{
    (void)state;
    char creds[1024];
    snprintf(creds, sizeof creds, "%s", sbp("creds"));
    write_rel("creds/db_password", "pw\n", 0600);
    write_rel("creds/token", "t0k\r\n", 0600);
    write_rel("creds/multi", "line1\nline2\n\n", 0600);
    write_rel("creds/raw", "  spaced  ", 0600);
    write_rel("creds/.hidden", "x", 0600);
    write_at(project_file(), "db_password = \"from-file\"\nother = \"o\"\n", 0600);
    setenv("CREDENTIALS_DIRECTORY", creds, 1);
    coffer_store *s = open_default();
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *v, *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_get_string(snap, "db_password", &v, NULL, &err), 0);
    assert_string_equal(v, "pw"); /* credentials win over the files */
    assert_int_equal(coffer_snapshot_get_string(snap, "token", &v, NULL, &err), 0);
    assert_string_equal(v, "t0k");
    assert_int_equal(coffer_snapshot_get_string(snap, "multi", &v, NULL, &err), 0);
    assert_string_equal(v, "line1\nline2\n");
    assert_int_equal(coffer_snapshot_get_string(snap, "raw", &v, NULL, &err), 0);
    assert_string_equal(v, "  spaced  ");
    assert_int_equal(coffer_snapshot_get_string(snap, "other", &v, NULL, &err), 0);
    assert_int_equal(coffer_snapshot_get(snap, ".hidden", &(const coffer_value *){0}, NULL),
                     COFFER_EINVAL);
    assert_int_equal(coffer_snapshot_where(snap, "token", &file, &line, &err), 0);
    char want[1200];
    snprintf(want, sizeof want, "%s/token", creds);
    assert_string_equal(file, want);
    assert_int_equal(line, 1);
    coffer_snapshot_release(snap);
    size_t n = coffer_store_source_count(s);
    assert_int_equal(n, 3);
    coffer_source_info info;
    assert_int_equal(coffer_store_source(s, 2, &info), 0);
    assert_int_equal(info.kind, COFFER_SOURCE_FLAT);
    assert_string_equal(info.path, creds);
    /* A file added to the directory is picked up by a reload. */
    write_rel("creds/new_key", "n\n", 0600);
    coffer_diff d;
    assert_int_equal(coffer_store_reload_diff(s, &d, &err), 1);
    assert_int_equal(d.nadded, 1);
    assert_string_equal(d.added[0], "new_key");
    coffer_diff_release(&d);
    coffer_store_close(s);
    /* COFFER_SECRETS wins over the credentials directory. */
    setenv("COFFER_SECRETS", "token = \"env\"\n", 1);
    s = open_default();
    assert_int_equal(coffer_store_get_string(s, "token", &v, &err), 0);
    assert_string_equal(v, "env");
    coffer_store_close(s);
    unsetenv("COFFER_SECRETS");
    /* NO_ENV_SOURCES: the directory is not used. */
    assert_int_equal(open_opts(&s, COFFER_STORE_NO_ENV_SOURCES, NULL, 0, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "db_password", &v, &err), 0);
    assert_string_equal(v, "from-file");
    coffer_store_close(s);
    /* A sub-directory, and a file over the size limit: clear errors. */
    mkdirs(sbp("creds/subdir"));
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    assert_non_null(strstr(err.message, "subdir' is not a regular file"));
    coffer_store_close(s);
    rmdir(sbp("creds/subdir"));
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.cwd = sb_proj;
    o.parse.max_input = 48; /* above every other file here */
    o.diag = diag_capture;
    write_rel("creds/big", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0600);
    assert_int_equal(coffer_store_open(&o, &s, &err), 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ELIMIT);
    assert_non_null(strstr(err.file, "creds/big"));
    coffer_store_close(s);
    unlink(sbp("creds/big"));
    /* Explicit flat: prefix, relative to the working directory. */
    unsetenv("CREDENTIALS_DIRECTORY");
    const char *paths[] = { "flat:../creds" };
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "token", &v, &err), 0);
    assert_string_equal(v, "t0k");
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    assert_int_equal(info.kind, COFFER_SOURCE_FLAT);
    assert_non_null(strstr(info.path, "/creds"));
    assert_null(strstr(info.path, "flat:"));
    coffer_store_close(s);
    /* A missing credentials directory is skipped like a missing file. */
    setenv("CREDENTIALS_DIRECTORY", sbp("nocreds"), 1);
    s = open_default();
    assert_int_equal(coffer_store_get_string(s, "other", &v, &err), 0);
    coffer_store_close(s);
    unsetenv("CREDENTIALS_DIRECTORY");
}

static void config_files_list(void **state)
{
    (void)state;
    coffer_store *s;
    coffer_error err;
    const char *v;
    write_rel("home/g.toml", "who = \"global-config\"\n", 0600);
    write_rel("proj/p.toml", "who = \"project-config\"\n", 0600);
    write_rel("proj/k8s/db/user", "dbuser\n", 0600);
    write_at(global_file(), "who = \"default-global\"\n", 0600);
    write_at(project_file(), "who = \"default-project\"\n", 0600);
    /* Global config only. */
    write_at(sbp("home/.streamlit/config.toml"),
             "[server]\nport = 1\n[secrets]\nfiles = [\"~/g.toml\"]\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_get_string(s, "who", &v, &err), 0);
    assert_string_equal(v, "global-config");
    assert_int_equal(coffer_store_source_count(s), 1);
    coffer_store_close(s);
    /* The project config wins; relative entries and directories. */
    write_at(sbp("proj/.streamlit/config.toml"),
             "[secrets]\nfiles = [\"k8s\", \"p.toml\", \"missing.toml\"]\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_get_string(s, "who", &v, &err), 0);
    assert_string_equal(v, "project-config");
    /* A key directory with one file keeps its shape (db.user). */
    assert_int_equal(coffer_store_get_string(s, "db.user", &v, &err), 0);
    assert_string_equal(v, "dbuser");
    assert_int_equal(coffer_store_source_count(s), 3);
    coffer_source_info info;
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    assert_int_equal(info.kind, COFFER_SOURCE_DIR);
    assert_int_equal(coffer_store_source(s, 2, &info), 0);
    assert_false(info.found);
    coffer_store_close(s);
    /* COFFER_SECRETS_FILES wins over the config. */
    char envv[2048];
    snprintf(envv, sizeof envv, "%s::%s", global_file(), project_file());
    setenv("COFFER_SECRETS_FILES", envv, 1);
    s = open_default();
    assert_int_equal(coffer_store_get_string(s, "who", &v, &err), 0);
    assert_string_equal(v, "default-project");
    assert_int_equal(coffer_store_source_count(s), 2);
    coffer_store_close(s);
    /* Explicit paths win over both. */
    const char *paths[] = { "p.toml", global_file() };
    assert_int_equal(open_opts(&s, 0, paths, 2, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "who", &v, &err), 0);
    assert_string_equal(v, "default-global");
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    char want[1200];
    snprintf(want, sizeof want, "%s/p.toml", sb_proj);
    assert_string_equal(info.path, want); /* absolute */
    coffer_store_close(s);
    unsetenv("COFFER_SECRETS_FILES");
    /* Invalid entries: a file that is not .toml, a missing directory. */
    write_rel("proj/notes.txt", "x", 0600);
    write_at(sbp("proj/.streamlit/config.toml"),
             "[secrets]\nfiles = [\"p.toml\", \"notes.txt\"]\n", 0644);
    s = open_default();
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ECONFIG);
    /* The error points at the config entry (FILE:LINE) and names it. */
    assert_string_equal(err.file, sbp("proj/.streamlit/config.toml"));
    assert_int_equal(err.line, 2);
    snprintf(want, sizeof want, "%s/notes.txt", sb_proj);
    assert_non_null(strstr(err.message, want));
    assert_non_null(strstr(err.message, "neither a .toml file nor a directory"));
    assert_int_equal(coffer_store_source_count(s), 0);
    findings f;
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), COFFER_ECONFIG);
    assert_non_null(strstr(f.log, "notes.txt"));
    coffer_store_close(s);
    write_at(sbp("proj/.streamlit/config.toml"),
             "[secrets]\nfiles = [\"no-such-dir\"]\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ECONFIG);
    assert_non_null(strstr(err.message, "no-such-dir"));
    coffer_store_close(s);
    write_at(sbp("proj/.streamlit/config.toml"), "[secrets]\nfiles = [1]\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ECONFIG);
    coffer_store_close(s);
    write_at(sbp("proj/.streamlit/config.toml"), "[secrets]\nfiles = \"x.toml\"\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ECONFIG);
    coffer_store_close(s);
    /* Broken config TOML: a syntax error naming the config file. */
    write_at(sbp("proj/.streamlit/config.toml"), "[secrets\n", 0644);
    s = open_default();
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
    assert_non_null(strstr(err.file, "proj/.streamlit/config.toml"));
    coffer_store_close(s);
    /* A config without [secrets] files: the default files. */
    write_at(sbp("proj/.streamlit/config.toml"), "[theme]\nbase = \"dark\"\n", 0644);
    unlink(sbp("home/.streamlit/config.toml"));
    s = open_default();
    assert_int_equal(coffer_store_get_string(s, "who", &v, &err), 0);
    assert_string_equal(v, "default-project");
    coffer_store_close(s);
}

static void listing_before_load_and_watch_targets(void **state)
{
    (void)state;
    write_at(project_file(), "a = 1\n", 0600);
    mkdirs(sbp("creds"));
    setenv("CREDENTIALS_DIRECTORY", sbp("creds"), 1);
    setenv("COFFER_SECRETS", "b = 2", 1);
    coffer_store *s = open_default();
    assert_int_equal(coffer_store_source_count(s), 4);
    coffer_source_info info;
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    assert_string_equal(info.path, global_file());
    assert_false(info.found);
    assert_int_equal(info.kind, COFFER_SOURCE_FILE);
    assert_int_equal(coffer_store_source(s, 1, &info), 0);
    assert_true(info.found);
    assert_int_equal(coffer_store_source(s, 4, &info), COFFER_EINVAL);
    const char **paths;
    coffer_source_kind *kinds;
    size_t n = coffer_store_watch_targets(s, &paths, &kinds);
    assert_int_equal(n, 3); /* the text source is not watched */
    assert_string_equal(paths[0], global_file());
    assert_string_equal(paths[1], project_file());
    assert_int_equal(kinds[2], COFFER_SOURCE_FLAT);
    assert_int_equal(kinds[1], COFFER_SOURCE_FILE);
    coffer_store_close(s);
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("COFFER_SECRETS");
    assert_string_equal(coffer_source_kind_name(COFFER_SOURCE_DIR), "dir");
    assert_string_equal(coffer_source_kind_name(COFFER_SOURCE_FLAT), "flat");
    assert_string_equal(coffer_source_kind_name(COFFER_SOURCE_TEXT), "text");
    assert_string_equal(coffer_source_kind_name(COFFER_SOURCE_FILE), "file");
    assert_string_equal(coffer_source_kind_name(COFFER_SOURCE_AUTO), "auto");
}

static void check_directory_sources(void **state)
{
    (void)state;
    char good[1024], bad[1024], file[1024];
    snprintf(good, sizeof good, "%s", sbp("good"));
    snprintf(bad, sizeof bad, "%s", sbp("bad"));
    snprintf(file, sizeof file, "%s", sbp("f.toml"));
    write_at(sbp("good/db/user"), "u\n", 0644);
    write_at(sbp("good/db/password"), "p\n", 0644);
    write_at(sbp("bad/db/user"), "u\n", 0600);
    write_at(sbp("bad/loose"), "x\n", 0600);
    write_at(file, "db = \"from-file\"\n", 0600);
    const char *paths[] = { good, bad, file };
    coffer_store *s;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, paths, 3, &err), 0);
    findings f;
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 1);
    assert_int_equal(f.n[2], 1);
    assert_non_null(strstr(f.log, "bad/loose' is a file at the top level"));
    /* Every readable file is reported, with the Kubernetes hint. */
    assert_int_equal(f.n[1], 2);
    assert_non_null(strstr(f.log, "good/db/password|readable by group or others "
                                  "(use defaultMode: 0400)"));
    assert_non_null(strstr(f.log, "root key 'db' is shadowed by"));
    coffer_store_close(s);
    /* Strict: the readable files become errors. */
    assert_int_equal(open_opts(&s, COFFER_STORE_STRICT_PERMS, paths, 3, &err), 0);
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 3);
    coffer_store_close(s);
}

/* Issue 13: one Secret mounted at the path (the usual mount) is a
 * directory source of its own: the kubelet layout is detected and its
 * keys are root keys, as flat: makes them. A sub-directory Secret with
 * one key keeps its shape (a table); only DIR/KEY/KEY collapses. */
static void kubelet_single_secret_mount(void **state)
{
    (void)state;
    char mount[1024];
    snprintf(mount, sizeof mount, "%s", sbp("k8s-single"));
    static const char *k[] = { "password", "username" };
    static const char *v[] = { "pw-1\n", "app\n" };
    kubelet_volume(mount, "..2026_12_04_10_00_00.000000001", k, v, 2);
    const char *paths[] = { mount };
    coffer_store *s;
    coffer_error err;
    const char *val;
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "password", &val, &err), 0);
    assert_string_equal(val, "pw-1");
    assert_int_equal(coffer_store_get_string(s, "username", &val, &err), 0);
    assert_string_equal(val, "app");
    /* A ..data swap is seen by a reload. */
    static const char *v2[] = { "pw-2\n", "app\n" };
    kubelet_volume(mount, "..2026_12_04_11_00_00.000000002", k, v2, 2);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "password", &val, &err), 0);
    assert_string_equal(val, "pw-2");
    coffer_store_close(s);

    /* One Secret per sub-directory, one with a single key. */
    char multi[1024], api[1100], token[1100];
    snprintf(multi, sizeof multi, "%s", sbp("k8s-multi"));
    snprintf(api, sizeof api, "%s/api", multi);
    snprintf(token, sizeof token, "%s/token", multi);
    static const char *ak[] = { "token" };
    static const char *av[] = { "tok1\n" };
    kubelet_volume(api, "..2026_12_04_10_00_00.000000003", ak, av, 1);
    kubelet_volume(token, "..2026_12_04_10_00_00.000000004", ak, av, 1);
    paths[0] = multi;
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const coffer_value *t;
    assert_int_equal(coffer_snapshot_get(snap, "api", &t, &err), 0);
    assert_int_equal(coffer_value_type(t), COFFER_TYPE_TABLE);
    assert_int_equal(coffer_table_count(t), 1);
    assert_int_equal(coffer_snapshot_get_string(snap, "api.token", &val, NULL, &err), 0);
    assert_string_equal(val, "tok1");
    /* DIR/KEY/KEY: the documented single-value form stays a string. */
    assert_int_equal(coffer_snapshot_get_string(snap, "token", &val, NULL, &err), 0);
    assert_string_equal(val, "tok1");
    coffer_snapshot_release(snap);
    coffer_store_close(s);

    /* A plain file at the top level: the error suggests flat:. */
    write_rel("plain/password", "pw\n", 0600);
    paths[0] = sbp("plain");
    assert_int_equal(open_opts(&s, 0, paths, 1, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "password", &val, &err),
                     COFFER_ELAYOUT);
    char want[1200];
    snprintf(want, sizeof want, "flat:%s", sbp("plain"));
    assert_non_null(strstr(err.message, want));
    coffer_store_close(s);
}

/* D15: the library's COFFER_STRICT accepts 1/true/yes/on and
 * 0/false/no/off/"", and fails closed on anything else. */
static void d15_strict_env_values(void **state)
{
    (void)state;
    write_at(project_file(), "a = \"x\"\n", 0640);
    static const char *const on[] = { "1", "true", "yes", "on", "TRUE" };
    static const char *const off[] = { "0", "false", "no", "off", "" };
    coffer_store *s;
    coffer_error err;
    const char *v;
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        setenv("COFFER_STRICT", on[i], 1);
        assert_int_equal(open_opts(&s, 0, NULL, 0, &err), 0);
        assert_int_equal(coffer_store_get_string(s, "a", &v, &err), COFFER_EPERM);
        coffer_store_close(s);
    }
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++) {
        setenv("COFFER_STRICT", off[i], 1);
        assert_int_equal(open_opts(&s, 0, NULL, 0, &err), 0);
        assert_int_equal(coffer_store_get_string(s, "a", &v, &err), 0);
        coffer_store_close(s);
    }
    setenv("COFFER_STRICT", "maybe", 1);
    s = (coffer_store *)&err; /* must be reset to NULL */
    assert_int_equal(open_opts(&s, 0, NULL, 0, &err), COFFER_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "invalid COFFER_STRICT value 'maybe'"));
    bool strict = true;
    assert_int_equal(coffer_env_strict(&strict, &err), COFFER_EINVAL);
    assert_false(strict);
    unsetenv("COFFER_STRICT");
    assert_int_equal(coffer_env_strict(&strict, &err), 0);
    assert_false(strict);
}

/* D12: a group/world-writable directory above a secrets file: a warning
 * at load (once per directory), refused in strict mode, an error for
 * check; coffer_path_dirs_check for callers (init). */
static void d12_directory_permissions(void **state)
{
    (void)state;
    write_at(project_file(), "a = \"x\"\n", 0600);
    assert_int_equal(chmod(sbp("proj/.streamlit"), 0777), 0);
    coffer_store *s = open_default();
    coffer_error err;
    const char *v;
    assert_int_equal(coffer_store_get_string(s, "a", &v, &err), 0);
    assert_int_equal(diag_count, 1);
    assert_non_null(strstr(diag_log, "which is writable by group or others"));
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(diag_count, 1); /* once per directory */
    findings f;
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 1);
    assert_int_equal(f.n[2], 1);
    coffer_store_close(s);
    assert_int_equal(open_opts(&s, COFFER_STORE_STRICT_PERMS, NULL, 0, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "a", &v, &err), COFFER_EPERM);
    assert_non_null(strstr(err.message, "strict mode"));
    coffer_store_close(s);
    const char *stops[] = { sb_proj, sb_home };
    assert_int_equal(coffer_path_dirs_check(project_file(), stops, 2, &err),
                     COFFER_EPERM);
    assert_string_equal(err.file, sbp("proj/.streamlit"));
    /* Sticky and owned by the user: safe. */
    assert_int_equal(chmod(sbp("proj/.streamlit"), 01777), 0);
    assert_int_equal(coffer_path_dirs_check(project_file(), stops, 2, &err), 0);
    assert_int_equal(chmod(sbp("proj/.streamlit"), 0700), 0);
    assert_int_equal(coffer_path_dirs_check(project_file(), stops, 2, &err), 0);
    /* The walk stops at the project directory (not included). */
    assert_int_equal(chmod(sb_proj, 0777), 0);
    assert_int_equal(coffer_path_dirs_check(project_file(), stops, 2, &err), 0);
    /* Without stops it goes on to '/', and finds it. */
    assert_int_equal(coffer_path_dirs_check(project_file(), NULL, 0, &err),
                     COFFER_EPERM);
    assert_string_equal(err.file, sb_proj);
    assert_int_equal(chmod(sb_proj, 0700), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kubernetes_directory, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(directory_layout_errors, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(toml_path_that_is_a_directory, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(flat_credentials_directory, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(config_files_list, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(listing_before_load_and_watch_targets, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(check_directory_sources, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(kubelet_single_secret_mount, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(d15_strict_env_values, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(d12_directory_permissions, sb_setup, sb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
