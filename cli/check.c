/* check.c - coffer check (sources, permissions, git hygiene) and
 * coffer init (a fresh, private .streamlit/secrets.toml). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_check[] =
    "usage: coffer check [--strict]\n"
    "\n"
    "Validate every source and print one finding per line on stdout:\n"
    "  error|warning|info FILE: message\n"
    "TOML errors (file:line:col), unsafe permissions, directory layout,\n"
    "keys that cannot be exported, shadowed root keys (info), a secrets\n"
    "file tracked by git (error) or not ignored by git (warning).\n"
    "Exit status: 0 clean, 1 errors (or warnings with --strict),\n"
    "3 no secrets found.\n"
    "\n"
    "  --strict   treat warnings (e.g. group-readable files) as errors\n";

static const char usage_init[] =
    "usage: coffer init\n"
    "\n"
    "Create .streamlit/secrets.toml (directory 0700, file 0600) with a\n"
    "commented example, and add it to .gitignore inside a git work tree.\n"
    "Never overwrites: an existing file is left as it is.\n";

static const char *const sev_name[] = { "info", "warning", "error" };

struct checker {
    struct cli_out out;
    size_t count[3];
};

static void finding(struct checker *C, int sev, const char *file,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void finding(struct checker *C, int sev, const char *file,
                    const char *fmt, ...)
{
    char msg[COFFER_ERROR_PATH_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sev < 0)
        sev = 0;
    if (sev > 2)
        sev = 2;
    C->count[sev]++;
    /* Each path once: no file, or a message that starts with its own
     * place (FILE:LINE:COL: ...), gets no prefix. */
    size_t fl = file ? strlen(file) : 0;
    if (!fl || (strncmp(msg, file, fl) == 0 && msg[fl] == ':'))
        cli_out_printf(&C->out, "%s %s\n", sev_name[sev], msg);
    else
        cli_out_printf(&C->out, "%s %s: %s\n", sev_name[sev], file, msg);
}

static void on_finding(void *ctx, int severity, const char *file,
                       const char *message)
{
    finding(ctx, severity, file, "%s", message);
}

/* ---- git ---- */

static char *dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d)
        return NULL;
    char *slash = strrchr(d, '/');
    if (slash == d)
        d[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(d, ".");
    return d;
}

/* The work tree top containing dir into top, or "" if dir is not in a work
 * tree. Returns -1 if git is not installed. */
static int git_toplevel(const char *dir, char *top, size_t n)
{
    char *av[] = { "rev-parse", "--show-toplevel", NULL };
    top[0] = '\0';
    int st = cli_git(dir, av, top, n);
    if (st == 127)
        return -1;
    if (st != 0) {
        top[0] = '\0';
        return 0;
    }
    top[strcspn(top, "\n")] = '\0';
    return 0;
}

static void git_checks(struct checker *C, const char *path, bool *git_missing)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    char *dir = S_ISDIR(st.st_mode) ? strdup(path) : dir_of(path);
    if (!dir)
        return;
    char top[PATH_MAX + 8];
    if (git_toplevel(dir, top, sizeof top) < 0) {
        if (!*git_missing)
            finding(C, 0, path, "git not found; git checks skipped");
        *git_missing = true;
        free(dir);
        return;
    }
    free(dir);
    if (!top[0])
        return; /* not inside a work tree */

    /* Relative path inside the work tree, through resolved directories. */
    char real[PATH_MAX], realtop[PATH_MAX];
    if (!realpath(top, realtop))
        return;
    char *d = dir_of(path);
    if (!d)
        return;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    bool ok = realpath(d, real) != NULL;
    free(d);
    if (!ok)
        return;
    size_t tl = strlen(realtop);
    if (strncmp(real, realtop, tl) != 0 || (real[tl] != '/' && real[tl]))
        return;
    char rel[PATH_MAX * 2];
    const char *sub = real[tl] ? real + tl + 1 : "";
    snprintf(rel, sizeof rel, "%s%s%s", sub, *sub ? "/" : "", base);

    /* A .gitignore that is not a regular file (a FIFO blocks git's read)
     * in a directory git reads for this path: reported, git not run. */
    char gi[PATH_MAX * 2 + 16];
    for (size_t at = tl;;) {
        struct stat gs;
        snprintf(gi, sizeof gi, "%.*s/.gitignore", (int)at, real);
        if (stat(gi, &gs) == 0 && !S_ISREG(gs.st_mode)) {
            finding(C, 2, gi, "not a regular file; git checks skipped");
            return;
        }
        if (!real[at])
            break;
        const char *next = strchr(real + at + 1, '/');
        at = next ? (size_t)(next - real) : strlen(real);
    }
    char *ls[] = { "ls-files", "--error-unmatch", "--", rel, NULL };
    if (cli_git(realtop, ls, NULL, 0) == 0) {
        /* --no-index: would the rules ignore it, were it not tracked? */
        char *ni[] = { "check-ignore", "-q", "--no-index", "--", rel, NULL };
        if (cli_git(realtop, ni, NULL, 0) == 0)
            finding(C, 2, path,
                    "tracked by git although .gitignore lists it; remove it "
                    "from the index with 'git rm --cached %s' and rotate every "
                    "secret in it (they stay in the git history)", rel);
        else
            finding(C, 2, path,
                    "tracked by git; remove it from the index with 'git rm "
                    "--cached %s', add the line '%s' to %s/.gitignore, and "
                    "rotate every secret in it (they stay in the git history)",
                    rel, rel, realtop);
        return;
    }
    char *ci[] = { "check-ignore", "-q", "--", rel, NULL };
    int ig = cli_git(realtop, ci, NULL, 0);
    if (ig == 1)
        finding(C, 1, path,
                "not ignored by git; add this line to %s/.gitignore: %s",
                realtop, rel);
}

int cmd_check(int argc, char **argv)
{
    bool strict = cli_g.strict;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_check, false);
        if (strcmp(argv[i], "--strict") == 0) {
            strict = true;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_check);
        cli_error("too many arguments");
        return cli_usage(usage_check, true);
    }
    cli_g.strict = strict;
    cli_harden();
    coffer_store *s;
    int rc = cli_store_open(&s);
    if (rc)
        return rc;
    struct checker C;
    memset(&C, 0, sizeof C);
    int cr = coffer_store_check(s, on_finding, &C);
    if (cr == COFFER_ENOMEM) {
        cli_error("out of memory");
        cli_out_release(&C.out);
        coffer_store_close(s);
        return CLI_EXIT_PROBLEMS;
    }
    if (cr >= 0) {
        bool git_missing = false;
        size_t n = coffer_store_source_count(s);
        for (size_t i = 0; i < n; i++) {
            coffer_source_info info;
            if (coffer_store_source(s, i, &info) != 0 || !info.found ||
                info.kind == COFFER_SOURCE_TEXT || !info.path || !*info.path)
                continue;
            const char *p = info.path;
            if (strncmp(p, "flat:", 5) == 0)
                p += 5;
            git_checks(&C, p, &git_missing);
        }
    }
    rc = cli_out_flush(&C.out, 1);
    cli_out_release(&C.out);
    coffer_store_close(s);
    if (rc)
        return rc;
    if (cr < 0)
        return cli_exit_code(cr);
    if (C.count[2] || (strict && C.count[1]))
        return CLI_EXIT_PROBLEMS;
    return CLI_EXIT_OK;
}

/* ---- init ---- */

static const char template_toml[] =
    "# Secrets for this project, read by coffer (and by Streamlit).\n"
    "# Never commit this file: keep it in .gitignore, mode 0600.\n"
    "#\n"
    "# Root-level strings and numbers become environment variables in\n"
    "# 'coffer run -- CMD' and 'eval \"$(coffer env)\"':\n"
    "#\n"
    "# db_username = \"jane\"\n"
    "# db_password = \"change-me\"\n"
    "# api_key = \"...\"\n"
    "#\n"
    "# Sections are read as a whole, e.g. as libpq connection keywords:\n"
    "#\n"
    "# [db_credentials]\n"
    "# host = \"localhost\"\n"
    "# port = 5432\n"
    "# dbname = \"app\"\n"
    "# user = \"jane\"\n"
    "# password = \"change-me\"\n";

static const char ignore_line[] = ".streamlit/secrets.toml";

/* Reads the regular file path (O_NOFOLLOW | O_NONBLOCK: never a FIFO
 * that blocks, never a link swapped in meanwhile). Returns 0 (*out
 * malloc'd), 1 if it does not exist, or -1 after a message. */
static int read_plain(const char *path, char **out, size_t *outlen,
                      mode_t *mode)
{
    *out = NULL;
    *outlen = 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                  O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        cli_error("cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        cli_error("'%s' is not a regular file; add the line '%s' to it "
                  "yourself", path, ignore_line);
        return -1;
    }
    *mode = st.st_mode & 07777;
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        cli_error("out of memory");
        return -1;
    }
    *out = buf;
    *outlen = got;
    return 0;
}

/* True if text holds the line ".streamlit/secrets.toml" (or "/...") */
static bool has_ignore_line(const char *old, size_t oldlen)
{
    for (size_t i = 0; old && i < oldlen;) {
        size_t e = i;
        while (e < oldlen && old[e] != '\n')
            e++;
        size_t l = e - i;
        if (l && old[i + l - 1] == '\r')
            l--;
        if ((l == sizeof ignore_line - 1 &&
             memcmp(old + i, ignore_line, l) == 0) ||
            (l == sizeof ignore_line && old[i] == '/' &&
             memcmp(old + i + 1, ignore_line, l - 1) == 0))
            return true;
        i = e + 1;
    }
    return false;
}

/* The file to edit for cwd/.gitignore into path: itself, or the target
 * of a symbolic link (a regular file the user owns; the link stays). A
 * FIFO, device or directory is refused. Returns 0 or an exit status. */
static int gitignore_target(const char *link, char *path, size_t n)
{
    struct stat st;
    snprintf(path, n, "%s", link);
    if (lstat(link, &st) != 0)
        return 0; /* missing (created), or the read reports the error */
    if (!S_ISLNK(st.st_mode)) {
        if (S_ISREG(st.st_mode))
            return 0;
        cli_error("'%s' is not a regular file; add the line '%s' to it "
                  "yourself", link, ignore_line);
        return CLI_EXIT_PROBLEMS;
    }
    char *real = realpath(link, NULL);
    if (!real || stat(real, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid()) {
        cli_error("'%s' is a symbolic link to %s; add the line '%s' to it "
                  "yourself", link,
                  !real ? "a missing file"
                        : !S_ISREG(st.st_mode) ? "something not a regular file"
                                               : "a file you do not own",
                  ignore_line);
        free(real);
        return CLI_EXIT_PROBLEMS;
    }
    snprintf(path, n, "%s", real);
    free(real);
    return 0;
}

static int add_to_gitignore(const char *cwd)
{
    char top[PATH_MAX + 8];
    if (git_toplevel(cwd, top, sizeof top) < 0 || !top[0])
        return 0; /* no git, or not in a work tree: nothing to do */
    /* Before git reads it: a FIFO would block, a link is followed. */
    char link[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(link, sizeof link, "%s/.gitignore", cwd);
    int rc = gitignore_target(link, path, sizeof path);
    if (rc)
        return rc;
    char *ci[] = { "check-ignore", "-q", "--", (char *)ignore_line, NULL };
    if (cli_git(cwd, ci, NULL, 0) == 0)
        return 0; /* already ignored */
    char *old = NULL;
    size_t oldlen = 0;
    mode_t mode = 0644; /* .gitignore is not secret */
    rc = read_plain(path, &old, &oldlen, &mode);
    if (rc < 0)
        return CLI_EXIT_PROBLEMS;
    bool fresh = rc == 1;
    /* Already listed (check-ignore may disagree when a later rule
     * re-includes it): leave the file alone, never add a second copy. */
    if (has_ignore_line(old, oldlen)) {
        free(old);
        return 0;
    }
    size_t nl = strlen(ignore_line);
    bool need_nl = oldlen && old[oldlen - 1] != '\n';
    size_t total = oldlen + need_nl + nl + 1;
    char *buf = malloc(total);
    if (!buf) {
        free(old);
        cli_error("out of memory");
        return CLI_EXIT_PROBLEMS;
    }
    if (oldlen)
        memcpy(buf, old, oldlen);
    size_t k = oldlen;
    if (need_nl)
        buf[k++] = '\n';
    memcpy(buf + k, ignore_line, nl);
    k += nl;
    buf[k++] = '\n';
    free(old);
    coffer_error err;
    memset(&err, 0, sizeof err);
    /* A new .gitignore never replaces one created meanwhile. */
    rc = fresh ? coffer_file_create(path, buf, k, mode, &err)
               : coffer_file_write_atomic(path, buf, k, mode, &err);
    free(buf);
    if (rc == 1) {
        cli_error("'%s' appeared meanwhile; add the line '%s' to it yourself",
                  path, ignore_line);
        return CLI_EXIT_PROBLEMS;
    }
    if (rc != 0)
        return cli_fail(&err);
    printf("added '%s' to '%s'\n", ignore_line, path);
    return 0;
}

int cmd_init(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_init, false);
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_init);
        cli_error("too many arguments");
        return cli_usage(usage_init, true);
    }
    const char *cwd = cli_g.cwd;
    char dir[PATH_MAX + 32], file[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s/.streamlit", strcmp(cwd, "/") ? cwd : "");
    snprintf(file, sizeof file, "%s/secrets.toml", dir);

    struct stat st;
    if (lstat(file, &st) == 0) {
        printf("'%s' already exists; nothing changed\n", file);
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_PROBLEMS;
    }
    if (mkdir(dir, 0700) != 0) {
        if (errno != EEXIST) {
            cli_error("cannot create '%s': %s", dir, strerror(errno));
            return CLI_EXIT_PROBLEMS;
        }
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            cli_error("'%s' exists and is not a directory", dir);
            return CLI_EXIT_PROBLEMS;
        }
    }
    coffer_error err;
    memset(&err, 0, sizeof err);
    /* Never into a directory other users can write to (they could swap
     * or delete the file). */
    const char *home = getenv("HOME");
    const char *stops[2] = { cwd, home && *home ? home : NULL };
    if (coffer_path_dirs_check(file, stops, 2, &err) != 0) {
        cli_error("%s; not creating '%s'", err.message, file);
        return CLI_EXIT_INVALID;
    }
    int cr = coffer_file_create(file, template_toml, sizeof template_toml - 1,
                                0600, &err);
    if (cr == 1) {
        /* Created by someone else since the check: theirs stays. */
        printf("'%s' already exists; nothing changed\n", file);
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_PROBLEMS;
    }
    if (cr != 0)
        return cli_fail(&err);
    printf("created '%s'\n", file);
    int rc = add_to_gitignore(cwd);
    if (fflush(stdout) != 0 && !rc)
        rc = CLI_EXIT_PROBLEMS;
    return rc;
}
