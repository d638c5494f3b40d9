/*
 * security_canary.c - the library's error paths never reveal a secret.
 * Used by tests/suites/security-canary.sh.
 *
 * Usage: CANARY_MARKER=MRK... security_canary DIR
 * Every case puts the marker into secrets (values, the text around a syntax
 * error, right before invalid UTF-8, ...) and drives the library into an
 * error; the error struct (message, file, formatted form) and every
 * diagnostic must be free of the marker. Prints "PASS name" or
 * "FAIL name: why" per case; diagnostics of the default channel go to
 * stderr, which the suite also searches for the marker.
 */
#include "coffer.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *M;
static const char *dir;
static int failures;
static unsigned ndiag;
static int diag_leak;

static void diag(void *ctx, const char *file, const char *message)
{
    (void)ctx;
    ndiag++;
    if ((file && strstr(file, M)) || (message && strstr(message, M)))
        diag_leak = 1;
}

static int clean_err(const coffer_error *err)
{
    char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
    coffer_error_format(err, buf, sizeof buf);
    return !strstr(err->message, M) && !strstr(err->file, M) && !strstr(buf, M);
}

static void result(const char *name, int ok, const char *why)
{
    if (ok)
        printf("PASS %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
    fflush(stdout);
}

/* Checks an expected error: code as wanted (0 = any failure), clean. */
static void expect(const char *name, int rc, int want, const coffer_error *err)
{
    char why[512];
    if (rc == 0) {
        result(name, 0, "unexpected success");
    } else if (want && rc != want) {
        snprintf(why, sizeof why, "code %d, wanted %d (%s)", rc, want, err->message);
        result(name, 0, why);
    } else if (err->code != rc || !err->message[0]) {
        result(name, 0, "error struct not filled");
    } else if (!clean_err(err)) {
        result(name, 0, "marker in the error struct");
    } else if (diag_leak) {
        result(name, 0, "marker in a diagnostic");
    } else {
        result(name, 1, NULL);
    }
    diag_leak = 0;
}

/* Expands "@" to the marker; "\xff"-style bytes pass through. */
static size_t expand(char *out, size_t n, const char *tmpl)
{
    size_t j = 0;
    for (const char *t = tmpl; *t && j + strlen(M) + 1 < n; t++) {
        if (*t == '@') {
            memcpy(out + j, M, strlen(M));
            j += strlen(M);
        } else {
            out[j++] = *t;
        }
    }
    out[j] = '\0';
    return j;
}

static void write_file(const char *path, const char *tmpl, mode_t mode)
{
    char buf[4096];
    size_t len = expand(buf, sizeof buf, tmpl);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
        perror(path);
        exit(2);
    }
    fchmod(fd, mode);
    close(fd);
}

static coffer_store *open_store(const char *path, unsigned flags,
                                size_t max_input, int use_diag)
{
    const char *paths[] = { path };
    coffer_store_options opt;
    memset(&opt, 0, sizeof opt);
    opt.paths = paths;
    opt.path_count = 1;
    opt.flags = flags | COFFER_STORE_NO_ENV_SOURCES;
    opt.parse.max_input = max_input;
    if (use_diag)
        opt.diag = diag;
    coffer_store *s;
    coffer_error err;
    if (coffer_store_open(&opt, &s, &err) != 0) {
        fprintf(stderr, "cannot open store: %s\n", err.message);
        exit(2);
    }
    return s;
}

static const struct { const char *name; const char *toml; } bad_toml[] = {
    { "junk after a value", "a = \"@\" junk\n" },
    { "unterminated string", "a = \"@\n" },
    { "unterminated string at eof", "a = \"@" },
    { "invalid escape", "a = \"@\\q\"\n" },
    { "invalid utf-8 after the marker", "a = \"@\xff\xfe\"\n" },
    { "truncated utf-8 after the marker", "a = \"@\xc3\"\n" },
    { "overlong utf-8 after the marker", "a = \"@\xc0\xaf\"\n" },
    { "control character after the marker", "a = \"@\x01\"\n" },
    { "newline in a literal string", "a = '@\n'\n" },
    { "unterminated multi-line string", "a = \"\"\"@\nmore\n" },
    { "unterminated multi-line literal", "a = '''@\nmore\n" },
    { "duplicate key", "a = \"@\"\na = \"@-2\"\n" },
    { "bare marker as a value", "a = @\n" },
    { "marker as a number", "a = 12@\n" },
    { "marker in a hex number", "a = 0x@\n" },
    { "marker after a date", "a = 1979-05-27T@\n" },
    { "marker as a boolean", "a = t@\n" },
    { "unterminated array", "a = [ \"@\", \n" },
    { "array missing comma", "a = [ \"@\" \"@\" ]\n" },
    { "inline table trailing comma", "a = { b = \"@\", }\n" },
    { "inline table newline", "a = { b = \"@\"\n}\n" },
    { "key redefined as table", "a = \"@\"\n[a]\nb = 1\n" },
    { "duplicate table", "[t]\nx = \"@\"\n[t]\n" },
    { "bad line below a marker line", "a = \"@\"\nb = \"\n" },
    { "missing key below a marker line", "a = \"@\"\n= 3\n" },
    { "surrogate escape", "a = \"\\ud800@\"\n" },
    { "escape out of range", "a = \"@\\U00110000\"\n" },
    { "marker then garbage", "@ garbage\n" },
    { "extend inline table", "a = { b = \"@\" }\na.c = 1\n" },
    { "append to static array", "a = [\"@\"]\n[[a]]\n" },
    { "invalid utf-8 in a comment after the marker", "a = \"@\" # \xff\n" },
    { "nul byte after the marker", "a = \"@\0\"\n" },
};

static void parse_cases(void)
{
    char buf[4096], name[160];
    for (size_t i = 0; i < sizeof bad_toml / sizeof *bad_toml; i++) {
        size_t len = expand(buf, sizeof buf, bad_toml[i].toml);
        if (strstr(bad_toml[i].name, "nul byte")) { /* "a = \"@" NUL "\"\n" */
            buf[len] = '\0';
            buf[len + 1] = '"';
            buf[len + 2] = '\n';
            len += 3;
        }
        coffer_doc *doc = NULL;
        coffer_error err;
        memset(&err, 0, sizeof err);
        int rc = coffer_toml_parse(buf, len, NULL, &doc, &err);
        snprintf(name, sizeof name, "parse: %s", bad_toml[i].name);
        expect(name, rc, COFFER_ESYNTAX, &err);
        coffer_doc_free(doc);

        /* The same through a store reading a file. */
        char path[512];
        snprintf(path, sizeof path, "%s/bad%zu.toml", dir, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
            exit(2);
        close(fd);
        coffer_store *s = open_store(path, 0, 0, 1);
        coffer_snapshot *snap = NULL;
        memset(&err, 0, sizeof err);
        rc = coffer_store_acquire(s, &snap, &err);
        snprintf(name, sizeof name, "store file: %s", bad_toml[i].name);
        expect(name, rc, COFFER_ESYNTAX, &err);
        coffer_store_close(s);

        /* And as a text source. */
        s = open_store("/nonexistent/none.toml", 0, 0, 1);
        memset(&err, 0, sizeof err);
        rc = coffer_store_add_text(s, "text", buf, len, &err);
        if (rc == 0)
            rc = coffer_store_acquire(s, &snap, &err);
        snprintf(name, sizeof name, "store text: %s", bad_toml[i].name);
        expect(name, rc, 0, &err);
        coffer_store_close(s);
    }
}

static int count_member(void *ctx, const char *key, const coffer_value *v)
{
    (void)key;
    (void)v;
    ++*(int *)ctx;
    return 0;
}

static const char good[] =
    "a = \"@\"\n"
    "n = 5\n"
    "f = 0.5\n"
    "flag = true\n"
    "\"x=y\" = \"@-eq\"\n"
    "\"not-portable\" = \"@-np\"\n"
    "list = [\"@-l0\", \"@-l1\"]\n"
    "[db]\n"
    "user = \"app\"\n"
    "password = \"@-pw\"\n"
    "[nested]\n"
    "inner = { secret = \"@-in\" }\n"
    "arr = [\"@-arr\"]\n";

static void lookup_cases(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/good.toml", dir);
    write_file(path, good, 0600);
    coffer_store *s = open_store(path, 0, 0, 1);
    coffer_snapshot *snap;
    coffer_error err;
    if (coffer_store_acquire(s, &snap, &err) != 0) {
        result("load good secrets", 0, err.message);
        coffer_store_close(s);
        return;
    }
    result("load good secrets", 1, NULL);
    const coffer_value *v;
    const char *str;
    int64_t i64;
    double d;
    bool b;
    coffer_datetime dt;
    coffer_section sec;
    int rc;
#define CASE(name, call, want) \
    do { memset(&err, 0, sizeof err); rc = (call); expect(name, rc, want, &err); } while (0)
    CASE("get_int of a string", coffer_snapshot_get_int(snap, "a", &i64, &err), COFFER_ETYPE);
    CASE("get_double of a string", coffer_snapshot_get_double(snap, "db.password", &d, &err), COFFER_ETYPE);
    CASE("get_bool of a string", coffer_snapshot_get_bool(snap, "a", &b, &err), COFFER_ETYPE);
    CASE("get_datetime of a string", coffer_snapshot_get_datetime(snap, "a", &dt, &err), COFFER_ETYPE);
    CASE("get_string of a table", coffer_snapshot_get_string(snap, "db", &str, NULL, &err), COFFER_ETYPE);
    CASE("get_string of an array", coffer_snapshot_get_string(snap, "list", &str, NULL, &err), COFFER_ETYPE);
    CASE("key below a string", coffer_snapshot_get(snap, "a.b", &v, &err), 0);
    CASE("index into a string", coffer_snapshot_get(snap, "a[0]", &v, &err), 0);
    CASE("index out of range", coffer_snapshot_get(snap, "list[7]", &v, &err), COFFER_ENOKEY);
    CASE("missing key with suggestion", coffer_snapshot_get(snap, "db.passwrd", &v, &err), COFFER_ENOKEY);
    CASE("missing root key", coffer_snapshot_get(snap, "b", &v, &err), COFFER_ENOKEY);
    CASE("malformed path", coffer_snapshot_get(snap, "a.", &v, &err), COFFER_EINVAL);
    CASE("malformed index", coffer_snapshot_get(snap, "list[", &v, &err), COFFER_EINVAL);
    CASE("seek malformed", coffer_value_seek(coffer_snapshot_root(snap), "\"a", &v, &err), COFFER_EINVAL);
    CASE("where missing", coffer_snapshot_where(snap, "db.nope", &str, &(unsigned){0}, &err), COFFER_ENOKEY);
    CASE("section of a string", coffer_snapshot_section(snap, "a", &sec, &err), COFFER_ETYPE);
    CASE("section with a nested table", coffer_snapshot_section(snap, "nested", &sec, &err), COFFER_ETYPE);
    CASE("section missing", coffer_snapshot_section(snap, "nope", &sec, &err), COFFER_ENOKEY);
    CASE("foreach of a string", coffer_snapshot_foreach(snap, "a", count_member, &(int){0}, &err), 0);
    CASE("store get_string of a table", coffer_store_get_string(s, "db", &str, &err), COFFER_ETYPE);
    CASE("store get missing", coffer_store_get(s, "db.pass", &v, &err), COFFER_ENOKEY);
    /* Control: key names are quoted in messages, so a missing key spelled
     * like the marker must be detected (the checks have teeth). */
    memset(&err, 0, sizeof err);
    rc = coffer_snapshot_get(snap, M, &v, &err);
    result("control: a missing key named like the marker is detected",
           rc == COFFER_ENOKEY && !clean_err(&err), "detection does not work");
    coffer_snapshot_release(snap);

    /* Export: a key with '=' is skipped; diagnostics stay clean. */
    memset(&err, 0, sizeof err);
    rc = coffer_store_export(s, 0, &err);
    result("export with unexportable keys", rc == 0 && !diag_leak && clean_err(&err),
           "export failed or leaked");
    coffer_store_unexport(s);

    /* A reload that fails on bad TOML holding the marker. */
    write_file(path, "a = \"@-new\"\nb = \"@\" junk\n", 0600);
    CASE("reload with bad toml", coffer_store_reload(s, &err), COFFER_ESYNTAX);
    write_file(path, "a = \"@\xff\"\n", 0600);
    CASE("reload with invalid utf-8", coffer_store_reload(s, &err), COFFER_ESYNTAX);
    coffer_store_close(s);
#undef CASE
}

static void file_cases(void)
{
    char path[512], name[128];
    coffer_error err;
    coffer_snapshot *snap;
    int rc;
    struct { const char *name; mode_t mode; unsigned flags; int want; } perms[] = {
        { "world-writable file", 0666, 0, COFFER_EPERM },
        { "group-writable file", 0620, 0, COFFER_EPERM },
        { "world-readable file, strict", 0644, COFFER_STORE_STRICT_PERMS, COFFER_EPERM },
    };
    for (size_t i = 0; i < sizeof perms / sizeof *perms; i++) {
        snprintf(path, sizeof path, "%s/perm%zu.toml", dir, i);
        write_file(path, good, perms[i].mode);
        coffer_store *s = open_store(path, perms[i].flags, 0, 1);
        memset(&err, 0, sizeof err);
        rc = coffer_store_acquire(s, &snap, &err);
        expect(perms[i].name, rc, perms[i].want, &err);
        coffer_store_close(s);
    }
    /* Readable by others: a warning (through diag), still loads. */
    snprintf(path, sizeof path, "%s/readable.toml", dir);
    write_file(path, good, 0644);
    coffer_store *s = open_store(path, 0, 0, 1);
    unsigned before = ndiag;
    rc = coffer_store_acquire(s, &snap, &err);
    if (rc == 0)
        coffer_snapshot_release(snap);
    result("readable file warns without the marker",
           rc == 0 && ndiag > before && !diag_leak, "no warning, or marker in it");
    diag_leak = 0;
    coffer_store_close(s);
    /* The same with the default channel (stderr, searched by the suite). */
    s = open_store(path, 0, 0, 0);
    if (coffer_store_acquire(s, &snap, &err) == 0)
        coffer_snapshot_release(snap);
    coffer_store_close(s);

    /* A directory named .toml, a FIFO, a size limit. */
    snprintf(path, sizeof path, "%s/dir.toml", dir);
    mkdir(path, 0700);
    s = open_store(path, 0, 0, 1);
    memset(&err, 0, sizeof err);
    rc = coffer_store_acquire(s, &snap, &err);
    expect("a directory named .toml", rc, 0, &err);
    coffer_store_close(s);

    snprintf(path, sizeof path, "%s/fifo.toml", dir);
    if (mkfifo(path, 0600) == 0) {
        s = open_store(path, 0, 0, 1);
        memset(&err, 0, sizeof err);
        rc = coffer_store_acquire(s, &snap, &err);
        expect("a fifo named .toml", rc, 0, &err);
        coffer_store_close(s);
    }

    snprintf(path, sizeof path, "%s/big.toml", dir);
    write_file(path, good, 0600);
    s = open_store(path, 0, 64, 1);
    memset(&err, 0, sizeof err);
    rc = coffer_store_acquire(s, &snap, &err);
    expect("file over the size limit", rc, COFFER_ELIMIT, &err);
    coffer_store_close(s);
    snprintf(name, sizeof name, "%s", "text over the size limit");
    s = open_store("/nonexistent/none.toml", 0, 64, 1);
    char buf[4096];
    size_t len = expand(buf, sizeof buf, good);
    memset(&err, 0, sizeof err);
    rc = coffer_store_add_text(s, "big", buf, len, &err);
    if (rc == 0)
        rc = coffer_store_acquire(s, &snap, &err);
    expect(name, rc, COFFER_ELIMIT, &err);
    coffer_store_close(s);
}

struct watch_ctx {
    int errors;
    int leak;
};

static void on_error(void *ctx, const coffer_error *err)
{
    struct watch_ctx *w = ctx;
    w->errors++;
    if (!clean_err(err))
        w->leak = 1;
}

static void watch_cases(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/watched.toml", dir);
    write_file(path, good, 0600);
    coffer_store *s = open_store(path, 0, 0, 1);
    coffer_snapshot *snap;
    coffer_error err;
    if (coffer_store_acquire(s, &snap, &err) != 0) {
        result("watch: load", 0, err.message);
        coffer_store_close(s);
        return;
    }
    coffer_snapshot_release(snap);
    struct watch_ctx w = {0, 0};
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.on_error = on_error;
    wo.ctx = &w;
    wo.debounce_ms = 10;
    if (coffer_store_watch(s, &wo, &err) != 0) {
        result("watch: start", 0, err.message);
        coffer_store_close(s);
        return;
    }
    static const char *const bad[] = {
        "a = \"@\" junk\n", "a = \"@\xff\"\n", "a = \"@\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int before = w.errors;
        char tmp[600];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        write_file(tmp, bad[i], 0600);
        rename(tmp, path);
        for (int k = 0; k < 300 && w.errors == before; k++) {
            struct pollfd pfd = { coffer_store_watch_fd(s), POLLIN, 0 };
            int t = coffer_store_watch_timeout(s);
            poll(&pfd, pfd.fd >= 0 ? 1 : 0, t < 0 || t > 20 ? 20 : t);
            memset(&err, 0, sizeof err);
            int rc = coffer_store_watch_process(s, &err);
            if (rc < 0 && !clean_err(&err))
                w.leak = 1;
        }
        char name[128];
        snprintf(name, sizeof name, "watch: reload error %zu reported cleanly", i);
        result(name, w.errors > before && !w.leak && !diag_leak,
               w.errors > before ? "marker in the error" : "no error reported");
    }
    coffer_store_unwatch(s);
    coffer_store_close(s);
}

int main(int argc, char **argv)
{
    M = getenv("CANARY_MARKER");
    if (argc != 2 || !M || strlen(M) < 8) {
        fprintf(stderr, "usage: CANARY_MARKER=MRK... security_canary DIR\n");
        return 2;
    }
    dir = argv[1];
    parse_cases();
    lookup_cases();
    file_cases();
    watch_cases();
    return failures ? 1 : 0;
}
