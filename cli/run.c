/* run.c - coffer run: exec a command with the secrets in its environment,
 * or supervise it and restart it when the secrets change (--restart). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char usage_run[] =
    "usage: coffer run [--keep-existing] [--keep-coffer-secrets]\n"
    "                  [--prefix PREFIX] [--upper] [--booleans]\n"
    "                  [--allow-env NAME]... [--restart [--grace SECONDS]]\n"
    "                  [--] CMD [ARG...]\n"
    "\n"
    "Export the root-level secrets (strings, integers, floats) and run CMD,\n"
    "looked up in coffer's own PATH (never in a PATH from the secrets).\n"
    "Without --restart coffer replaces itself with CMD, so signals and the\n"
    "exit status are CMD's own. COFFER_SECRETS is removed from CMD's\n"
    "environment. Keys that are not exported get a warning; a key whose\n"
    "value holds a NUL byte unsets that variable.\n"
    "\n"
    "  --keep-existing        do not overwrite variables that are already set\n"
    "  --keep-coffer-secrets  leave COFFER_SECRETS in CMD's environment\n"
    "  --restart              run CMD as a child; when the secrets change, stop\n"
    "                         it (SIGTERM, then SIGKILL) and start it again\n"
    "  --grace SECONDS        time between SIGTERM and SIGKILL, on a restart\n"
    "                         and when coffer gets SIGTERM or SIGHUP (default 10)\n"
    CLI_ENV_OPTIONS_HELP;

static const int fwd_sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2,
                                SIGCHLD, 0 };

static int exec_status(int e)
{
    return e == ENOENT ? CLI_EXIT_NOTFOUND : CLI_EXIT_NOEXEC;
}

static void exec_error(const char *cmd, int e)
{
    if (e == ENOENT)
        cli_error("'%s': command not found", cmd);
    else
        cli_error("cannot run '%s': %s", cmd, strerror(e));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CMD looked up as execvp would, in the caller's PATH, before the secrets
 * are exported (a PATH key must not choose the program). Returns 0 with
 * the path in buf, or an errno value. */
static int resolve_cmd(const char *cmd, char *buf, size_t n)
{
    if (strchr(cmd, '/')) {
        if (strlen(cmd) >= n)
            return ENAMETOOLONG;
        memcpy(buf, cmd, strlen(cmd) + 1);
        return 0;
    }
    if (!*cmd)
        return ENOENT;
    char def[256];
    const char *path = getenv("PATH");
    if (!path) {
        size_t k = confstr(_CS_PATH, def, sizeof def);
        path = k > 0 && k <= sizeof def ? def : "/bin:/usr/bin";
    }
    int e = ENOENT;
    for (const char *p = path;; p++) {
        const char *c = strchr(p, ':');
        size_t dl = c ? (size_t)(c - p) : strlen(p);
        int w = dl ? snprintf(buf, n, "%.*s/%s", (int)dl, p, cmd)
                   : snprintf(buf, n, "%s", cmd); /* empty: current dir */
        if (w > 0 && (size_t)w < n) {
            struct stat st;
            errno = 0;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
                if (access(buf, X_OK) == 0)
                    return 0;
                e = EACCES;
            } else if (errno == EACCES) {
                e = EACCES;
            }
        }
        if (!c)
            break;
        p = c;
    }
    return e;
}

/* execv of the resolved path; a file without a #! line goes to /bin/sh,
 * as execvp does. Returns errno. */
static int exec_resolved(const char *path, char **cmd)
{
    execv(path, cmd);
    int e = errno;
    if (e == ENOEXEC) {
        size_t n = 0;
        while (cmd[n])
            n++;
        char **av = calloc(n + 2, sizeof *av);
        if (av) {
            av[0] = (char *)"sh";
            av[1] = (char *)path;
            for (size_t i = 1; i < n; i++)
                av[i + 1] = cmd[i];
            execv("/bin/sh", av);
            free(av);
        }
    }
    return e;
}

static int warn_skipped(void *ctx, const coffer_env_item *it)
{
    (void)ctx;
    if (it->status != COFFER_ENV_OK)
        cli_env_warn(it);
    return 0;
}

struct restart {
    coffer_store *store;
    char **cmd;
    const char *path; /* cmd[0] resolved */
    const coffer_env_options *export_opt;
    bool keep_cs;
    double grace;
    size_t changes;    /* key paths reported by the last watch round */
    bool reload_error; /* on_error was called in this round */
};

static void on_change(void *ctx, const coffer_snapshot *snap,
                      const char *const *added, size_t nadded,
                      const char *const *changed, size_t nchanged,
                      const char *const *removed, size_t nremoved)
{
    struct restart *R = ctx;
    (void)snap; (void)added; (void)changed; (void)removed;
    R->changes += nadded + nchanged + nremoved;
}

static void on_reload_error(void *ctx, const coffer_error *err)
{
    struct restart *R = ctx;
    char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
    R->reload_error = true;
    cli_error("reload failed, keeping the last good secrets: %s",
              coffer_error_format(err, buf, sizeof buf));
}

static pid_t start_child(struct restart *R)
{
    pid_t parent = getpid();
    pid_t pid = cli_signal_fork(fwd_sigs);
    if (pid != 0)
        return pid;
#ifdef __linux__
    /* If coffer itself is killed (SIGKILL gives it no time to stop the
     * child), the child gets SIGTERM instead of running on unsupervised.
     * The fork and the main thread of coffer are the same thread, so this
     * fires only when coffer is gone. */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(128 + SIGTERM); /* coffer died before the line above */
#else
    (void)parent;
#endif
    if (!R->keep_cs)
        unsetenv("COFFER_SECRETS");
    cli_strip_identity_env();
    int e = exec_resolved(R->path, R->cmd);
    exec_error(R->cmd[0], e);
    _exit(exec_status(e));
}

static int status_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return CLI_EXIT_PROBLEMS;
}

static int supervise(struct restart *R)
{
    coffer_error err;
    memset(&err, 0, sizeof err);
    int sigfd = cli_signal_pipe(fwd_sigs, true);
    if (sigfd < 0) {
        cli_error("cannot set up signal handling: %s", strerror(errno));
        return CLI_EXIT_PROBLEMS;
    }
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.on_change = on_change;
    wo.on_error = on_reload_error;
    wo.ctx = R;
    if (coffer_store_watch(R->store, &wo, &err) != 0) {
        cli_signal_restore(fwd_sigs);
        close(sigfd);
        return cli_fail(&err);
    }
    int wfd = coffer_store_watch_fd(R->store);

    pid_t child = start_child(R);
    if (child < 0) {
        cli_error("cannot start '%s': %s", R->cmd[0], strerror(errno));
        coffer_store_unwatch(R->store);
        cli_signal_restore(fwd_sigs);
        return CLI_EXIT_NOEXEC;
    }
    bool stopping = false, killed = false, quit = false;
    double deadline = 0;
    int rc = -1;

    while (rc < 0) {
        int timeout = coffer_store_watch_timeout(R->store);
        if (stopping && !killed) {
            double left = deadline - now_s();
            int ms = left <= 0 ? 0 : (int)ceil(left * 1000.0);
            if (timeout < 0 || ms < timeout)
                timeout = ms;
        }
        struct pollfd pf[2] = { { sigfd, POLLIN, 0 }, { wfd, POLLIN, 0 } };
        int np = poll(pf, wfd >= 0 ? 2 : 1, timeout);
        if (np < 0 && errno != EINTR) {
            cli_error("poll: %s", strerror(errno));
            break;
        }
        if (np > 0 && (pf[0].revents & POLLIN)) {
            unsigned char buf[64];
            ssize_t r;
            while ((r = read(sigfd, buf, sizeof buf)) > 0) {
                for (ssize_t k = 0; k < r; k++) {
                    int sig = buf[k] & 0x7f;
                    bool from_tty = (buf[k] & 0x80) != 0;
                    if (sig == SIGCHLD)
                        continue;
                    if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
                        /* The user wants out: never restart after this. */
                        quit = true;
                    }
                    if ((sig == SIGTERM || sig == SIGHUP) && !stopping) {
                        /* Stopped by a supervisor: the child gets the same
                         * grace time as for a restart, then SIGKILL. (A ^C
                         * is left to the child: shells ignore SIGINT.) */
                        stopping = true;
                        killed = false;
                        deadline = now_s() + R->grace;
                    }
                    /* ^C on the terminal already reached a child in our
                     * process group; do not send it twice. */
                    if (from_tty && getpgid(child) == getpgrp())
                        continue;
                    kill(child, sig);
                }
            }
        }
        int st;
        pid_t w = waitpid(child, &st, WNOHANG);
        if (w == child) {
            if (stopping && !quit) {
                stopping = killed = false;
                if (coffer_store_export_with(R->store, R->export_opt, &err) != 0) {
                    (void)cli_fail(&err);
                    rc = CLI_EXIT_PROBLEMS;
                    break;
                }
                cli_note("secrets changed; restarting '%s'", R->cmd[0]);
                child = start_child(R);
                if (child < 0) {
                    cli_error("cannot start '%s': %s", R->cmd[0],
                              strerror(errno));
                    rc = CLI_EXIT_NOEXEC;
                }
                continue;
            }
            rc = status_code(st);
            break;
        }
        if (wfd >= 0 && (np == 0 || (np > 0 && pf[1].revents))) {
            R->changes = 0;
            R->reload_error = false;
            int pr = coffer_store_watch_process(R->store, &err);
            if (pr < 0 && !R->reload_error)
                (void)cli_fail(&err);
            if (pr > 0 && R->changes > 0 && !stopping && !quit) {
                stopping = true;
                killed = false;
                deadline = now_s() + R->grace;
                kill(child, SIGTERM);
            }
        }
        if (stopping && !killed && now_s() >= deadline) {
            kill(child, SIGKILL);
            killed = true;
        }
    }
    coffer_store_unwatch(R->store);
    cli_signal_restore(fwd_sigs);
    close(sigfd);
    return rc < 0 ? CLI_EXIT_PROBLEMS : rc;
}

int cmd_run(int argc, char **argv)
{
    bool keep_existing = false, keep_cs = false, restart = false;
    double grace = 10.0;
    struct cli_env ev;
    memset(&ev, 0, sizeof ev);
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i], *val;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-')
            break;
        if (cli_is_help(a))
            return cli_usage(usage_run, false);
        int em = cli_env_option(argc, argv, &i, &ev);
        if (em < 0)
            return cli_usage(usage_run, true);
        if (em > 0)
            continue;
        if (strcmp(a, "--keep-existing") == 0) {
            keep_existing = true;
            continue;
        }
        if (strcmp(a, "--keep-coffer-secrets") == 0) {
            keep_cs = true;
            continue;
        }
        if (strcmp(a, "--restart") == 0) {
            restart = true;
            continue;
        }
        int m = cli_opt_value(argc, argv, &i, "--grace", NULL, &val);
        if (m < 0)
            return cli_usage(usage_run, true);
        if (m > 0) {
            char *end;
            errno = 0;
            grace = strtod(val, &end);
            if (errno || end == val || *end || !(grace >= 0) || grace > 86400) {
                cli_error("invalid --grace '%s' (seconds, 0 to 86400)", val);
                return cli_usage(usage_run, true);
            }
            continue;
        }
        return cli_bad_option(a, usage_run);
    }
    if (i >= argc) {
        cli_error("missing CMD");
        return cli_usage(usage_run, true);
    }
    char **cmd = argv + i;
    if (keep_existing)
        ev.opt.flags |= COFFER_EXPORT_KEEP_EXISTING;

    /* The store takes COFFER_SECRETS out of the environment (and wipes
     * it); --keep-coffer-secrets puts a locked copy back for CMD. */
    coffer_secbuf cs = { NULL, 0, 0 };
    const char *csv = keep_cs ? getenv("COFFER_SECRETS") : NULL;
    if (csv && (coffer_secbuf_append(&cs, "COFFER_SECRETS=", 15) != 0 ||
                coffer_secbuf_append(&cs, csv, strlen(csv)) != 0)) {
        cli_error("out of memory");
        coffer_secbuf_release(&cs);
        return CLI_EXIT_PROBLEMS;
    }
    coffer_store *s;
    coffer_snapshot *snap;
    int rc = cli_load(&s, &snap);
    if (rc) {
        coffer_secbuf_release(&cs);
        return rc; /* no secrets, no command */
    }
    char path[COFFER_ERROR_PATH_MAX];
    int re = resolve_cmd(cmd[0], path, sizeof path);
    if (re == 0)
        (void)coffer_env_plan(coffer_snapshot_root(snap), &ev.opt,
                              warn_skipped, NULL);
    coffer_snapshot_release(snap);
    if (re != 0) {
        exec_error(cmd[0], re);
        coffer_store_close(s);
        coffer_secbuf_release(&cs);
        return exec_status(re);
    }
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_store_export_with(s, &ev.opt, &err) != 0) {
        rc = cli_fail(&err);
        coffer_store_close(s);
        coffer_secbuf_release(&cs);
        return rc;
    }
    if (cs.data)
        (void)putenv(cs.data);
    if (restart) {
        struct restart R;
        memset(&R, 0, sizeof R);
        R.store = s;
        R.cmd = cmd;
        R.path = path;
        R.export_opt = &ev.opt;
        R.keep_cs = keep_cs;
        R.grace = grace;
        rc = supervise(&R);
        coffer_store_unexport(s); /* wipes the exported strings */
        coffer_store_close(s);
        if (cs.data)
            unsetenv("COFFER_SECRETS");
        coffer_secbuf_release(&cs);
        return rc;
    }
    if (!keep_cs)
        unsetenv("COFFER_SECRETS");
    cli_strip_identity_env();
    int e = exec_resolved(path, cmd);
    exec_error(cmd[0], e);
    coffer_store_unexport(s);
    coffer_store_close(s);
    if (cs.data)
        unsetenv("COFFER_SECRETS");
    coffer_secbuf_release(&cs);
    return exec_status(e);
}
