/* store_testutil.h - sandbox helpers shared by the store, sources and env
 * tests: a mktemp -d sandbox with a fake $HOME and a project directory. */
#ifndef COFFER_STORE_TESTUTIL_H
#define COFFER_STORE_TESTUTIL_H

#define SB_UNUSED __attribute__((unused))
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static char sb[512];      /* sandbox root */
static char sb_home[600]; /* fake $HOME */
static char sb_proj[600]; /* project dir (cwd of the stores) */
static char diag_log[8192];
static int diag_count;

SB_UNUSED static void diag_capture(void *ctx, const char *file, const char *message)
{
    (void)ctx;
    size_t n = strlen(diag_log);
    snprintf(diag_log + n, sizeof diag_log - n, "%s|%s\n", file ? file : "",
             message);
    diag_count++;
}

SB_UNUSED static int rm_entry(const char *p, const struct stat *st, int flag,
                    struct FTW *f)
{
    (void)st; (void)flag; (void)f;
    return remove(p);
}

SB_UNUSED static void mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0700);
            *p = '/';
        }
    }
    mkdir(tmp, 0700);
}

/* Path under the sandbox: "home/x" -> "<sb>/home/x". */
SB_UNUSED static const char *sbp(const char *rel)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", sb, rel);
    return buf[k];
}

SB_UNUSED static void write_at(const char *path, const char *content, mode_t mode)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        mkdirs(dir);
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

SB_UNUSED static void write_rel(const char *rel, const char *content, mode_t mode)
{
    write_at(sbp(rel), content, mode);
}

SB_UNUSED static int sb_setup(void **state)
{
    (void)state;
    snprintf(sb, sizeof sb, "/tmp/coffer-store-test-XXXXXX");
    if (!mkdtemp(sb))
        return -1;
    snprintf(sb_home, sizeof sb_home, "%s/home", sb);
    snprintf(sb_proj, sizeof sb_proj, "%s/proj", sb);
    mkdirs(sb_home);
    mkdirs(sb_proj);
    setenv("HOME", sb_home, 1);
    unsetenv("COFFER_SECRETS_FILES");
    unsetenv("COFFER_SECRETS");
    unsetenv("CREDENTIALS_DIRECTORY");
    unsetenv("COFFER_STRICT");
    diag_log[0] = '\0';
    diag_count = 0;
    return 0;
}

SB_UNUSED static int sb_teardown(void **state)
{
    (void)state;
    nftw(sb, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* coffer_store_check findings, as "severity|file|message" lines. */
typedef struct findings {
    char log[8192];
    int n[3];
} findings;

SB_UNUSED static void on_finding(void *ctx, int severity, const char *file,
                                 const char *msg)
{
    findings *f = ctx;
    size_t n = strlen(f->log);
    snprintf(f->log + n, sizeof f->log - n, "%d|%s|%s\n", severity,
             file ? file : "", msg);
    f->n[severity]++;
}

SB_UNUSED static int open_opts(coffer_store **s, unsigned flags, const char *const *paths,
                     size_t n, coffer_error *err)
{
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = n;
    o.cwd = sb_proj;
    o.flags = flags;
    o.diag = diag_capture;
    return coffer_store_open(&o, s, err);
}

SB_UNUSED static coffer_store *open_default(void)
{
    coffer_store *s = NULL;
    coffer_error err;
    assert_int_equal(open_opts(&s, 0, NULL, 0, &err), 0);
    return s;
}

SB_UNUSED static const char *global_file(void)
{
    return sbp("home/.streamlit/secrets.toml");
}

SB_UNUSED static const char *project_file(void)
{
    return sbp("proj/.streamlit/secrets.toml");
}

#endif
