/* common.c - diagnostics, exit codes, store opening and output for the CLI. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

struct cli_global cli_g;

static void vdiag(const char *kind, const char *fmt, va_list ap)
{
    char msg[COFFER_ERROR_PATH_MAX + 512];
    int n = snprintf(msg, sizeof msg, "coffer: %s", kind);
    if (n < 0)
        return;
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    size_t len = strlen(msg);
    if (len + 1 < sizeof msg) {
        msg[len++] = '\n';
    } else {
        msg[sizeof msg - 2] = '\n';
        len = sizeof msg - 1;
    }
    (void)cli_write_all(2, msg, len);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag("error: ", fmt, ap);
    va_end(ap);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag("warning: ", fmt, ap);
    va_end(ap);
}

void cli_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag("", fmt, ap);
    va_end(ap);
}

int cli_exit_code(int code)
{
    switch (code) {
    case COFFER_OK: return CLI_EXIT_OK;
    case COFFER_EINVAL: return CLI_EXIT_USAGE;
    case COFFER_ENOSECRETS: return CLI_EXIT_NOSECRETS;
    case COFFER_ENOKEY:
    case COFFER_ETYPE: return CLI_EXIT_NOKEY;
    case COFFER_ESYNTAX:
    case COFFER_ELIMIT:
    case COFFER_EIO:
    case COFFER_EPERM:
    case COFFER_ELAYOUT:
    case COFFER_ELOCK:
    case COFFER_ECONFIG: return CLI_EXIT_INVALID;
    case COFFER_ECRYPTO: return CLI_EXIT_CRYPTO;
    case COFFER_EREMOTE: return CLI_EXIT_REMOTE;
    case COFFER_ECONFLICT: return CLI_EXIT_CONFLICT;
    default: return CLI_EXIT_PROBLEMS; /* ENOMEM, ESYS, unknown */
    }
}

int cli_fail(const coffer_error *err)
{
    char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
    coffer_error_format(err, buf, sizeof buf);
    cli_error("%s", buf);
    return cli_exit_code(err->code);
}

int cli_usage(const char *text, bool error)
{
    (void)cli_write_all(error ? 2 : 1, text, strlen(text));
    return error ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_opt_value(int argc, char **argv, int *i, const char *name,
                  const char *shortname, const char **val)
{
    const char *a = argv[*i];
    size_t nl = strlen(name);
    if (strncmp(a, name, nl) == 0 && a[nl] == '=') {
        *val = a + nl + 1;
        return 1;
    }
    if (strcmp(a, name) != 0 && !(shortname && strcmp(a, shortname) == 0))
        return 0;
    if (*i + 1 >= argc) {
        cli_error("option '%s' needs a value", a);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

int cli_bad_option(const char *arg, const char *usage)
{
    cli_error("unknown option '%s'", arg);
    return cli_usage(usage, true);
}

int cli_take_key(int argc, char **argv, int *i, const char **key,
                 const char *usage)
{
    if (strcmp(argv[*i], "--") == 0 && *i + 1 < argc && !*key) {
        *key = argv[++*i];
        return 0;
    }
    if (argv[*i][0] == '-' && argv[*i][1])
        return cli_bad_option(argv[*i], usage);
    if (*key) {
        cli_error("too many arguments");
        return cli_usage(usage, true);
    }
    *key = argv[*i];
    return 0;
}

int cli_need_key(const char *key, const char *usage)
{
    if (key)
        return 0;
    cli_error("missing KEY");
    return cli_usage(usage, true);
}

void cli_strip_identity_env(void)
{
    /* Overwrite the value in place first: unsetenv only drops the pointer
     * and the bytes would stay in this process's memory. */
    static const char *const names[] = { "COFFER_AGE_KEY",
                                         "COFFER_AGE_KEY_FILE",
                                         "COFFER_AGE_PASSPHRASE" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *v = getenv(names[i]);
        if (v)
            coffer_memzero(v, strlen(v));
        unsetenv(names[i]);
    }
}

void cli_harden(void)
{
#ifdef __linux__
    /* While we hold secrets: no core dump and no ptrace by other processes
     * of the same user. execve() restores dumpability for the program
     * that `run` starts. */
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

static void diag_cb(void *ctx, const char *file, const char *message)
{
    (void)ctx;
    if (file && *file && !strstr(message, file))
        cli_warning("%s: %s", file, message);
    else
        cli_warning("%s", message);
}

int cli_store_open(coffer_store **out)
{
    coffer_store_options opt;
    memset(&opt, 0, sizeof opt);
    opt.paths = (const char *const *)cli_g.paths;
    opt.path_count = cli_g.npaths;
    opt.cwd = cli_g.cwd;
    opt.flags = cli_g.strict ? COFFER_STORE_STRICT_PERMS : 0;
    opt.diag = diag_cb;
    coffer_error err;
    memset(&err, 0, sizeof err);
    int rc = coffer_store_open(&opt, out, &err);
    if (rc != 0) {
        *out = NULL;
        return cli_fail(&err);
    }
    return 0;
}

int cli_load(coffer_store **store, coffer_snapshot **snap)
{
    cli_harden();
    *snap = NULL;
    int rc = cli_store_open(store);
    if (rc)
        return rc;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_store_acquire(*store, snap, &err) != 0) {
        *snap = NULL;
        rc = cli_fail(&err);
        coffer_store_close(*store);
        *store = NULL;
        return rc;
    }
    return 0;
}

/* ---- output ---- */

void cli_out_add(struct cli_out *o, const void *p, size_t n)
{
    if (o->failed)
        return;
    if (coffer_secbuf_append(&o->b, p, n) != 0)
        o->failed = COFFER_ENOMEM;
}

void cli_out_str(struct cli_out *o, const char *s)
{
    cli_out_add(o, s, strlen(s));
}

void cli_out_printf(struct cli_out *o, const char *fmt, ...)
{
    /* Only for non-secret text (paths, key names, numbers). */
    char tmp[COFFER_ERROR_PATH_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        o->failed = COFFER_EINVAL;
        return;
    }
    if ((size_t)n >= sizeof tmp)
        n = (int)sizeof tmp - 1;
    cli_out_add(o, tmp, (size_t)n);
}

void cli_out_json(struct cli_out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    cli_out_add(o, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = '\0';
                esc = u;
            }
        }
        if (esc) {
            cli_out_add(o, s + start, i - start);
            cli_out_str(o, esc);
            start = i + 1;
        }
    }
    cli_out_add(o, s + start, n - start);
    cli_out_add(o, "\"", 1);
}

static bool bare_key(const char *k, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

void cli_out_key(struct cli_out *o, const char *k, size_t n)
{
    if (bare_key(k, n)) {
        cli_out_add(o, k, n);
        return;
    }
    /* A TOML basic string: the JSON escapes are valid TOML escapes, except
     * that DEL may stay raw; \u00XX is fine for both. */
    cli_out_json(o, k, n);
}

void cli_out_value(struct cli_out *o, const coffer_value *v, coffer_format f)
{
    if (o->failed)
        return;
    if (coffer_secbuf_reserve(&o->b, 255) != 0) {
        o->failed = COFFER_ENOMEM;
        return;
    }
    size_t room = o->b.cap - o->b.len;
    long need = coffer_value_format(v, f, o->b.data + o->b.len, room);
    if (need < 0) {
        o->failed = (int)need;
        o->b.data[o->b.len] = '\0';
        return;
    }
    if ((size_t)need >= room) {
        if (coffer_secbuf_reserve(&o->b, (size_t)need) != 0) {
            o->failed = COFFER_ENOMEM;
            return;
        }
        room = o->b.cap - o->b.len;
        need = coffer_value_format(v, f, o->b.data + o->b.len, room);
        if (need < 0 || (size_t)need >= room) {
            o->failed = need < 0 ? (int)need : COFFER_ENOMEM;
            o->b.data[o->b.len] = '\0';
            return;
        }
    }
    o->b.len += (size_t)need;
}

int cli_out_flush(struct cli_out *o, int fd)
{
    int rc = 0;
    if (o->failed) {
        cli_error("cannot format output: %s", coffer_strerror(o->failed));
        rc = cli_exit_code(o->failed);
        if (rc == CLI_EXIT_USAGE)
            rc = CLI_EXIT_PROBLEMS;
    } else if (o->b.len && cli_write_all(fd, o->b.data, o->b.len) != 0) {
        if (errno != EPIPE)
            cli_error("cannot write output: %s", strerror(errno));
        rc = CLI_EXIT_PROBLEMS;
    }
    if (o->b.data) {
        coffer_memzero(o->b.data, o->b.len);
        o->b.data[0] = '\0';
    }
    o->b.len = 0;
    o->failed = 0;
    return rc;
}

void cli_out_release(struct cli_out *o)
{
    coffer_secbuf_release(&o->b);
    o->failed = 0;
}

int cli_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- processes ---- */

/* The environment git gets: the caller's, minus every GIT_* variable that
 * could redirect it (GIT_DIR, GIT_CONFIG_*, GIT_EXEC_PATH, GIT_PAGER ...;
 * GIT_CEILING_DIRECTORIES only limits the search and stays), minus the
 * pager and COFFER_SECRETS, plus settings that keep git from reading the
 * system config, prompting or paging. */
static char **git_environ(void)
{
    extern char **environ;
    static char *const add[] = { "GIT_CONFIG_NOSYSTEM=1", "GIT_PAGER=cat",
                                 "PAGER=cat", "GIT_TERMINAL_PROMPT=0",
                                 "GIT_OPTIONAL_LOCKS=0", NULL };
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + sizeof add / sizeof add[0], sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if ((strncmp(e, "GIT_", 4) == 0 &&
             strncmp(e, "GIT_CEILING_DIRECTORIES=", 24) != 0) ||
            strncmp(e, "PAGER=", 6) == 0 ||
            strncmp(e, "COFFER_SECRETS=", 15) == 0 ||
            strncmp(e, "COFFER_AGE_", 11) == 0) /* identities */
            continue;
        env[k++] = environ[i];
    }
    for (size_t i = 0; add[i]; i++)
        env[k++] = add[i];
    env[k] = NULL;
    return env;
}

#define CLI_GIT_TIMEOUT_MS 10000

/* Milliseconds left of git's time budget since t0 (0 when spent). */
static long git_left_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (long)(now.tv_sec - t0->tv_sec) * 1000 +
              (now.tv_nsec - t0->tv_nsec) / 1000000;
    return ms >= CLI_GIT_TIMEOUT_MS ? 0 : CLI_GIT_TIMEOUT_MS - ms;
}

int cli_git(const char *dir, char *const args[], char *out, size_t outsz)
{
    /* The repository's own configuration must not run anything: no
     * fsmonitor hook, no hooks, no pager. */
    static char *const pre[] = { "git", "--no-pager", "-c", "core.fsmonitor=",
                                 "-c", "core.hooksPath=/dev/null", "-c",
                                 "core.pager=cat", "-c", "pager.ls-files=false",
                                 "-C" };
    size_t npre = sizeof pre / sizeof pre[0], nargs = 0;
    while (args[nargs])
        nargs++;
    char **argv = calloc(npre + nargs + 2, sizeof *argv);
    char **env = git_environ();
    if (!argv || !env) {
        free(argv);
        free(env);
        return 127;
    }
    memcpy(argv, pre, sizeof pre);
    argv[npre] = (char *)dir;
    memcpy(argv + npre + 1, args, nargs * sizeof *argv);
    argv[npre + 1 + nargs] = NULL;

    int pfd[2] = { -1, -1 };
    if (out && pipe(pfd) != 0) {
        free(argv);
        free(env);
        return 127;
    }
    pid_t pid = fork();
    if (pid < 0) {
        if (out) {
            close(pfd[0]);
            close(pfd[1]);
        }
        free(argv);
        free(env);
        return 127;
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(out ? pfd[1] : nul, 1);
            dup2(nul, 2);
            if (nul > 2)
                close(nul);
        }
        if (out) {
            close(pfd[0]);
            if (pfd[1] > 2)
                close(pfd[1]);
        }
        execvpe(argv[0], argv, env);
        _exit(127);
    }
    free(argv);
    free(env);
    /* git must never hang coffer (a FIFO .gitignore blocks its read):
     * CLI_GIT_TIMEOUT_MS, then SIGKILL. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t got = 0;
    if (out) {
        close(pfd[1]);
        for (;;) {
            struct pollfd pf = { pfd[0], POLLIN, 0 };
            int pr = poll(&pf, 1, (int)git_left_ms(&t0));
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr <= 0)
                break; /* timed out: killed below */
            char tmp[512];
            ssize_t r = read(pfd[0], tmp, sizeof tmp);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            size_t take = (size_t)r;
            if (got + take > outsz - 1)
                take = outsz - 1 - got;
            memcpy(out + got, tmp, take);
            got += take;
        }
        close(pfd[0]);
        out[got] = '\0';
    }
    int st;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            return 127;
        if (git_left_ms(&t0) == 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            return -1;
        }
        struct timespec nap = { 0, 2 * 1000 * 1000 };
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return -1;
}

void cli_now_iso(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "%lld", (long long)t);
}

/* ---- signals ---- */

/* The pipe and the process that owns it: a handler that runs anywhere else
 * (a child between fork() and its reset) must not write into it. */
static int sig_r = -1, sig_w = -1;
static pid_t sig_owner;
/* Signals ignored when coffer started (nohup, `cmd &`): never caught, and
 * ignored again in children, as exec would have kept them. */
static sigset_t sig_ignored;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    int saved = errno;
    if (getpid() != sig_owner) {
        /* Not coffer: act as if no handler had been installed. */
        signal(sig, SIG_DFL);
        raise(sig);
        errno = saved;
        return;
    }
    unsigned char c = (unsigned char)sig;
    if (si && si->si_code == SI_KERNEL && sig != SIGCHLD)
        c |= 0x80;
    ssize_t w = write(sig_w, &c, 1);
    (void)w;
    errno = saved;
}

int cli_signal_pipe(const int *sigs, bool keep_ignored)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(p[i], F_SETFD, FD_CLOEXEC);
        fcntl(p[i], F_SETFL, fcntl(p[i], F_GETFL) | O_NONBLOCK);
    }
    sig_r = p[0];
    sig_w = p[1];
    sig_owner = getpid();
    sigemptyset(&sig_ignored);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (const int *s = sigs; *s; s++) {
        if (keep_ignored && sigaction(*s, NULL, &old) == 0 &&
            old.sa_handler == SIG_IGN) {
            sigaddset(&sig_ignored, *s);
            /* Ignored SIGCHLD would reap children for us: it is caught,
             * and ignored again for the children. */
            if (*s != SIGCHLD)
                continue;
        }
        sigaction(*s, &sa, NULL);
    }
    return p[0];
}

void cli_signal_restore(const int *sigs)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    for (const int *s = sigs; *s; s++) {
        sa.sa_handler = sigismember(&sig_ignored, *s) ? SIG_IGN : SIG_DFL;
        sigaction(*s, &sa, NULL);
    }
}

pid_t cli_signal_fork(const int *sigs)
{
    sigset_t block, saved;
    sigemptyset(&block);
    for (const int *s = sigs; *s; s++)
        sigaddset(&block, *s);
    if (sigprocmask(SIG_BLOCK, &block, &saved) != 0)
        return -1;
    pid_t pid = fork();
    int e = errno;
    if (pid == 0) {
        /* Signals for the child wait (blocked) until it has its own
         * dispositions back; the pipe is not its to write. */
        cli_signal_restore(sigs);
        if (sig_w >= 0)
            close(sig_w);
        if (sig_r >= 0)
            close(sig_r);
        sig_w = sig_r = -1;
    }
    sigprocmask(SIG_SETMASK, &saved, NULL);
    errno = e;
    return pid;
}
