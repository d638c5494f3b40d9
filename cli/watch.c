/* watch.c - coffer watch: one line per change of the secrets. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_watch[] =
    "usage: coffer watch [--poll MS]\n"
    "\n"
    "Watch every source and print one line per change, as it happens:\n"
    "  TIME SOURCE changed: KEY...; added: KEY...; removed: KEY...\n"
    "(ISO-8601 UTC time; key paths only, never values). Reload errors are\n"
    "printed on stderr and the last good secrets stay in effect.\n"
    "Stops on SIGINT or SIGTERM (exit status 0).\n"
    "\n"
    "  --poll MS   poll every MS milliseconds instead of using inotify\n";

static const int watch_sigs[] = { SIGINT, SIGTERM, 0 };

struct watcher {
    coffer_snapshot *prev; /* for the sources of removed keys */
    bool reported;         /* on_error ran in this round */
};

struct item {
    const char *file;
    const char *key;
    int kind; /* 0 changed, 1 added, 2 removed */
};

static const char *source_of(const coffer_snapshot *snap, const char *key)
{
    const char *file;
    unsigned line;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (snap && coffer_snapshot_where(snap, key, &file, &line, &err) == 0)
        return file;
    return "-";
}

static void on_change(void *ctx, const coffer_snapshot *snap,
                      const char *const *added, size_t nadded,
                      const char *const *changed, size_t nchanged,
                      const char *const *removed, size_t nremoved)
{
    struct watcher *W = ctx;
    size_t n = nadded + nchanged + nremoved, k = 0;
    if (n == 0)
        return;
    struct item *it = calloc(n, sizeof *it);
    if (!it) {
        cli_error("out of memory");
        return;
    }
    for (size_t i = 0; i < nchanged; i++, k++)
        it[k] = (struct item){ source_of(snap, changed[i]), changed[i], 0 };
    for (size_t i = 0; i < nadded; i++, k++)
        it[k] = (struct item){ source_of(snap, added[i]), added[i], 1 };
    for (size_t i = 0; i < nremoved; i++, k++)
        it[k] = (struct item){ source_of(W->prev, removed[i]), removed[i], 2 };

    char now[40];
    cli_now_iso(now, sizeof now);
    static const char *const label[] = { "changed", "added", "removed" };
    bool *done = calloc(n, sizeof *done);
    if (!done) {
        free(it);
        cli_error("out of memory");
        return;
    }
    /* One line per source, in order of first appearance. */
    for (size_t a = 0; a < n; a++) {
        if (done[a])
            continue;
        struct cli_out o;
        memset(&o, 0, sizeof o);
        cli_out_printf(&o, "%s %s", now, it[a].file);
        bool first_part = true;
        for (int kind = 0; kind < 3; kind++) {
            bool first_key = true;
            for (size_t b = a; b < n; b++) {
                if (done[b] || it[b].kind != kind ||
                    strcmp(it[b].file, it[a].file) != 0)
                    continue;
                if (first_key) {
                    cli_out_printf(&o, "%s %s: ", first_part ? "" : ";",
                                   label[kind]);
                    first_part = false;
                    first_key = false;
                } else {
                    cli_out_str(&o, ", ");
                }
                cli_out_str(&o, it[b].key);
            }
        }
        for (size_t b = a; b < n; b++)
            if (strcmp(it[b].file, it[a].file) == 0)
                done[b] = true;
        cli_out_add(&o, "\n", 1);
        (void)cli_out_flush(&o, 1);
        cli_out_release(&o);
    }
    free(done);
    free(it);
}

static void on_reload_error(void *ctx, const coffer_error *err)
{
    struct watcher *W = ctx;
    W->reported = true;
    char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
    char now[40];
    cli_now_iso(now, sizeof now);
    cli_error("%s reload failed, keeping the last good secrets: %s", now,
              coffer_error_format(err, buf, sizeof buf));
}

int cmd_watch(int argc, char **argv)
{
    unsigned poll_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_watch, false);
        int m = cli_opt_value(argc, argv, &i, "--poll", NULL, &val);
        if (m < 0)
            return cli_usage(usage_watch, true);
        if (m > 0) {
            char *end;
            errno = 0;
            unsigned long v = strtoul(val, &end, 10);
            if (errno || end == val || *end || v == 0 || v > 3600000) {
                cli_error("invalid --poll '%s' (milliseconds)", val);
                return cli_usage(usage_watch, true);
            }
            poll_ms = (unsigned)v;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_watch);
        cli_error("too many arguments");
        return cli_usage(usage_watch, true);
    }

    coffer_store *s;
    struct watcher W;
    memset(&W, 0, sizeof W);
    int rc = cli_load(&s, &W.prev);
    if (rc)
        return rc;
    /* Stops on SIGINT as documented, even started as `coffer watch &`
     * from a script (where SIGINT is ignored on entry). */
    int sigfd = cli_signal_pipe(watch_sigs, false);
    if (sigfd < 0) {
        cli_error("cannot set up signal handling: %s", strerror(errno));
        coffer_snapshot_release(W.prev);
        coffer_store_close(s);
        return CLI_EXIT_PROBLEMS;
    }
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    if (poll_ms) {
        wo.flags = COFFER_WATCH_POLL;
        wo.poll_ms = poll_ms;
    }
    wo.on_change = on_change;
    wo.on_error = on_reload_error;
    wo.ctx = &W;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_store_watch(s, &wo, &err) != 0) {
        rc = cli_fail(&err);
        goto out;
    }
    cli_note("watching %zu sources (stop with ctrl-c)",
             coffer_store_source_count(s));
    int wfd = coffer_store_watch_fd(s);
    for (;;) {
        struct pollfd pf[2] = { { sigfd, POLLIN, 0 }, { wfd, POLLIN, 0 } };
        int np = poll(pf, wfd >= 0 ? 2 : 1, coffer_store_watch_timeout(s));
        if (np < 0) {
            if (errno == EINTR)
                continue;
            cli_error("poll: %s", strerror(errno));
            rc = CLI_EXIT_PROBLEMS;
            break;
        }
        if (np > 0 && (pf[0].revents & POLLIN))
            break; /* SIGINT or SIGTERM: a clean stop */
        W.reported = false;
        int pr = coffer_store_watch_process(s, &err);
        if (pr < 0 && !W.reported)
            on_reload_error(&W, &err);
        if (pr > 0) {
            coffer_snapshot *cur;
            if (coffer_store_acquire(s, &cur, &err) == 0) {
                coffer_snapshot_release(W.prev);
                W.prev = cur;
            }
        }
    }
    coffer_store_unwatch(s);
out:
    cli_signal_restore(watch_sigs);
    close(sigfd);
    coffer_snapshot_release(W.prev);
    coffer_store_close(s);
    return rc;
}
