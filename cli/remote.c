/* remote.c - coffer push and coffer history: the deployment console for
 * etcd sources. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_push[] =
    "usage: coffer push [--force | --revision N] URL FILE\n"
    "\n"
    "Validate FILE as TOML (nothing is written if it does not parse), then\n"
    "write it as the value of the etcd key in URL\n"
    "(etcd://HOST:PORT[,HOST:PORT...]/KEY, etcds:// for TLS) with a\n"
    "compare-and-swap on the key's mod_revision read just before: if\n"
    "another push got in between, nothing is written and the exit status\n"
    "is 8. FILE '-' reads standard input. Prints the new revision.\n"
    "\n"
    "  --revision N  compare with revision N (the one you reviewed) instead\n"
    "                of the one read now; 0: the key must not exist yet\n"
    "  --force       write unconditionally (no compare-and-swap): may\n"
    "                overwrite a concurrent push\n";

static const char usage_history[] =
    "usage: coffer history URL\n"
    "\n"
    "List the revisions of the etcd key in URL, newest first: revision,\n"
    "version and size in bytes (never the values), back to the key's\n"
    "creation or to the cluster's compaction point.\n";

/* Reads a whole file (or stdin for "-") into secure memory. */
static int read_doc(const char *path, coffer_secbuf *b)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open '%s': %s", path, strerror(errno));
        return CLI_EXIT_INVALID;
    }
    int rc = 0;
    for (;;) {
        if (coffer_secbuf_reserve(b, 65536) != 0) {
            cli_error("out of memory");
            rc = CLI_EXIT_PROBLEMS;
            break;
        }
        ssize_t n = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_error("cannot read '%s': %s", path, strerror(errno));
            rc = CLI_EXIT_INVALID;
            break;
        }
        if (n == 0)
            break;
        b->len += (size_t)n;
        b->data[b->len] = '\0';
    }
    if (fd != 0)
        close(fd);
    return rc;
}

int cmd_push(int argc, char **argv)
{
    const char *url = NULL, *file = NULL;
    unsigned flags = 0;
    int64_t expect = -1;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_push, false);
        if (strcmp(argv[i], "--force") == 0) {
            flags |= COFFER_PUSH_FORCE;
            continue;
        }
        int m = cli_opt_value(argc, argv, &i, "--revision", NULL, &val);
        if (m < 0)
            return cli_usage(usage_push, true);
        if (m > 0) {
            char *end;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            if (errno || end == val || *end || v < 0) {
                cli_error("invalid --revision '%s'", val);
                return cli_usage(usage_push, true);
            }
            expect = v;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return cli_bad_option(argv[i], usage_push);
        if (!url) {
            url = argv[i];
        } else if (!file) {
            file = argv[i];
        } else {
            cli_error("too many arguments");
            return cli_usage(usage_push, true);
        }
    }
    if (!url || !file) {
        cli_error("push needs URL and FILE");
        return cli_usage(usage_push, true);
    }
    if ((flags & COFFER_PUSH_FORCE) && expect >= 0) {
        cli_error("--force and --revision exclude each other");
        return cli_usage(usage_push, true);
    }
    cli_harden();
    coffer_secbuf doc;
    memset(&doc, 0, sizeof doc);
    int rc = read_doc(file, &doc);
    if (rc) {
        coffer_secbuf_release(&doc);
        return rc;
    }
    coffer_error err;
    memset(&err, 0, sizeof err);
    int64_t rev = 0;
    int r = coffer_remote_push(url, doc.data ? doc.data : "", doc.len, flags,
                               expect, &rev, &err);
    coffer_secbuf_release(&doc);
    if (r != 0) {
        if (r == COFFER_ESYNTAX || r == COFFER_ELIMIT)
            snprintf(err.file, sizeof err.file, "%s",
                     strcmp(file, "-") == 0 ? "<stdin>" : file);
        return cli_fail(&err);
    }
    printf("%" PRId64 "\n", rev);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_PROBLEMS;
}

struct hist {
    struct cli_out o;
    size_t n;
};

static int on_rev(void *ctx, const coffer_remote_rev *r)
{
    struct hist *h = ctx;
    if (r->compacted) {
        cli_out_str(&h->o, "# older revisions were compacted\n");
        return 0;
    }
    if (h->n++ == 0)
        cli_out_str(&h->o, "REVISION\tVERSION\tSIZE\n");
    cli_out_printf(&h->o, "%" PRId64 "\t%" PRId64 "\t%zu\n", r->revision,
                   r->version, r->size);
    return 0;
}

int cmd_history(int argc, char **argv)
{
    const char *url = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_history, false);
        int bad = cli_take_key(argc, argv, &i, &url, usage_history);
        if (bad)
            return bad;
    }
    if (!url) {
        cli_error("history needs URL");
        return cli_usage(usage_history, true);
    }
    struct hist h;
    memset(&h, 0, sizeof h);
    coffer_error err;
    memset(&err, 0, sizeof err);
    int rc;
    if (coffer_remote_history(url, on_rev, &h, &err) != 0)
        rc = cli_fail(&err);
    else
        rc = cli_out_flush(&h.o, 1);
    cli_out_release(&h.o);
    return rc;
}
