/* check.c - coffer check (sources, permissions, git hygiene) and
 * coffer init (a fresh, private .streamlit/secrets.toml). */
#include "cli.h"

#include <errno.h>
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
    cli_out_printf(&C->out, "%s %s: %s\n", sev_name[sev],
                   file && *file ? file : "-", msg);
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
    char *av[] = { "git", "-C", (char *)dir, "rev-parse", "--show-toplevel",
                   NULL };
    top[0] = '\0';
    int st = cli_spawn(av, top, n);
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

    char *ls[] = { "git", "-C", realtop, "ls-files", "--error-unmatch", "--",
                   rel, NULL };
    if (cli_spawn(ls, NULL, 0) == 0) {
        finding(C, 2, path,
                "tracked by git; remove it from the repository with "
                "'git rm --cached %s' and add the line '%s' to %s/.gitignore",
                rel, rel, realtop);
        return;
    }
    char *ci[] = { "git", "-C", realtop, "check-ignore", "-q", "--", rel,
                   NULL };
    int ig = cli_spawn(ci, NULL, 0);
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

static int add_to_gitignore(const char *cwd)
{
    char top[PATH_MAX + 8];
    if (git_toplevel(cwd, top, sizeof top) < 0 || !top[0])
        return 0; /* no git, or not in a work tree: nothing to do */
    char *ci[] = { "git", "-C", (char *)cwd, "check-ignore", "-q", "--",
                   (char *)ignore_line, NULL };
    if (cli_spawn(ci, NULL, 0) == 0)
        return 0; /* already ignored */

    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/.gitignore", cwd);
    char *old = NULL;
    size_t oldlen = 0;
    mode_t mode = 0644; /* .gitignore is not secret */
    FILE *f = fopen(path, "rb");
    if (f) {
        struct stat st;
        if (fstat(fileno(f), &st) == 0) {
            mode = st.st_mode & 07777;
            old = malloc((size_t)st.st_size + 1);
            if (old)
                oldlen = fread(old, 1, (size_t)st.st_size, f);
        }
        fclose(f);
        if (!old) {
            cli_error("cannot read '%s'", path);
            return CLI_EXIT_PROBLEMS;
        }
    } else if (errno != ENOENT) {
        cli_error("cannot open '%s': %s", path, strerror(errno));
        return CLI_EXIT_PROBLEMS;
    }
    /* Already listed (check-ignore may disagree when a later rule
     * re-includes it): leave the file alone, never add a second copy. */
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
             memcmp(old + i + 1, ignore_line, l - 1) == 0)) {
            free(old);
            return 0;
        }
        i = e + 1;
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
    int rc = coffer_file_write_atomic(path, buf, k, mode, &err);
    free(buf);
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
    if (coffer_file_write_atomic(file, template_toml, sizeof template_toml - 1,
                                 0600, &err) != 0)
        return cli_fail(&err);
    printf("created '%s'\n", file);
    int rc = add_to_gitignore(cwd);
    if (fflush(stdout) != 0 && !rc)
        rc = CLI_EXIT_PROBLEMS;
    return rc;
}
