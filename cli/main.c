/* main.c - coffer: global options and the verb table. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_main[] =
    "usage: coffer [-C DIR] [-f PATH]... [--strict] VERB [ARGS]\n"
    "       coffer --version | --help | help [VERB]\n"
    "\n"
    "File-based secrets: $HOME/.streamlit/secrets.toml, then\n"
    "./.streamlit/secrets.toml (later sources override earlier ones).\n"
    "\n"
    "verbs:\n"
    "  get KEY        print one value (strings raw, tables as JSON)\n"
    "  list           list every key with the FILE:LINE it comes from\n"
    "  where KEY      print the FILE:LINE that defines KEY\n"
    "  paths          list the sources in precedence order\n"
    "  env            print the root-level secrets as shell exports\n"
    "  run -- CMD     run CMD with the root-level secrets in its environment\n"
    "  watch          print a line for each change of the secrets\n"
    "  check          validate sources, permissions and git hygiene\n"
    "  init           create .streamlit/secrets.toml (0600), never overwrite\n"
    "  push URL FILE  validate FILE and write it to an etcd key (compare-and-swap)\n"
    "  history URL    list the revisions of an etcd key (never values)\n"
    "\n"
    "global options:\n"
    "  -C DIR             run as if started in DIR\n"
    "  -f, --file PATH    read PATH instead of the default files (repeatable;\n"
    "                     a .toml file, a directory, flat:DIR, or\n"
    "                     etcd://HOST:PORT[,HOST:PORT...]/KEY)\n"
    "  --strict           refuse secrets files readable by group or others\n"
    "  --version          print the version\n"
    "\n"
    "Run 'coffer VERB --help' for the options of a verb. See coffer(1).\n";

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
};

static const struct verb verbs[] = {
    { "get", cmd_get },
    { "list", cmd_list },
    { "where", cmd_where },
    { "paths", cmd_paths },
    { "env", cmd_env },
    { "run", cmd_run },
    { "watch", cmd_watch },
    { "check", cmd_check },
    { "init", cmd_init },
    { "push", cmd_push },
    { "history", cmd_history },
};

static const struct verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verbs[i].name, name) == 0)
            return &verbs[i];
    return NULL;
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(usage_main, false);
    const struct verb *v = find_verb(argv[1]);
    if (!v) {
        cli_error("unknown verb '%s'", argv[1]);
        return cli_usage(usage_main, true);
    }
    char help[] = "--help";
    char *av[] = { argv[1], help, NULL };
    return v->fn(2, av);
}

/* An absolute form of a -f path ("flat:" prefix kept), resolved against
 * the working directory after every -C. */
static char *absolute(const char *p, const char *cwd)
{
    const char *prefix = "";
    if (strncmp(p, "etcd://", 7) == 0 || strncmp(p, "etcds://", 8) == 0)
        return strdup(p);
    if (strncmp(p, "flat:", 5) == 0) {
        prefix = "flat:";
        p += 5;
    }
    size_t n = strlen(prefix) + strlen(cwd) + strlen(p) + 3;
    char *r = malloc(n);
    if (!r)
        return NULL;
    if (p[0] == '/')
        snprintf(r, n, "%s%s", prefix, p);
    else
        snprintf(r, n, "%s%s/%s", prefix, strcmp(cwd, "/") == 0 ? "" : cwd, p);
    return r;
}

static void free_globals(void)
{
    for (size_t i = 0; i < cli_g.npaths; i++)
        free(cli_g.paths[i]);
    free(cli_g.paths);
    free(cli_g.cwd);
    memset(&cli_g, 0, sizeof cli_g);
}

int main(int argc, char **argv)
{
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    size_t nfiles = 0;
    int i = 1;
    int rc = 0;

    if (!files) {
        cli_error("out of memory");
        return CLI_EXIT_PROBLEMS;
    }
    const char *strict_env = getenv("COFFER_STRICT");
    if (strict_env && strcmp(strict_env, "1") == 0)
        cli_g.strict = true;

    for (; i < argc; i++) {
        const char *a = argv[i];
        const char *val;
        if (a[0] != '-')
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            printf("coffer %s\n", coffer_version());
            free(files);
            return fflush(stdout) == 0 ? 0 : CLI_EXIT_PROBLEMS;
        }
        if (cli_is_help(a)) {
            free(files);
            return cli_usage(usage_main, false);
        }
        if (strcmp(a, "--strict") == 0) {
            cli_g.strict = true;
            continue;
        }
        if (strncmp(a, "-C", 2) == 0) {
            const char *dir = a[2] ? a + 2 : NULL;
            if (!dir) {
                if (i + 1 >= argc) {
                    cli_error("option '-C' needs a directory");
                    free(files);
                    return cli_usage(usage_main, true);
                }
                dir = argv[++i];
            }
            if (*dir && chdir(dir) != 0) {
                cli_error("cannot change to '%s': %s", dir, strerror(errno));
                free(files);
                return CLI_EXIT_USAGE;
            }
            continue;
        }
        int m = cli_opt_value(argc, argv, &i, "--file", "-f", &val);
        if (m == 0 && strncmp(a, "-f", 2) == 0 && a[2]) {
            val = a + 2;
            m = 1;
        }
        if (m < 0) {
            free(files);
            return cli_usage(usage_main, true);
        }
        if (m > 0) {
            if (!*val) {
                cli_error("option '-f' needs a path");
                free(files);
                return CLI_EXIT_USAGE;
            }
            files[nfiles++] = val;
            continue;
        }
        cli_error("unknown option '%s'", a);
        free(files);
        return cli_usage(usage_main, true);
    }
    if (i >= argc) {
        free(files);
        return cli_usage(usage_main, true);
    }

    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) {
        cli_error("cannot get the working directory: %s", strerror(errno));
        free(files);
        return CLI_EXIT_PROBLEMS;
    }
    cli_g.cwd = strdup(cwd);
    if (nfiles) {
        cli_g.paths = calloc(nfiles, sizeof *cli_g.paths);
        size_t made = 0; /* paths made absolute, up to the first failure */
        while (cli_g.paths && made < nfiles &&
               (cli_g.paths[made] = absolute(files[made], cwd)) != NULL)
            made++;
        cli_g.npaths = made;
    }
    free(files);
    if (!cli_g.cwd || (nfiles && (!cli_g.paths || cli_g.npaths != nfiles))) {
        cli_error("out of memory");
        free_globals();
        return CLI_EXIT_PROBLEMS;
    }

    const char *name = argv[i];
    if (strcmp(name, "help") == 0) {
        rc = cmd_help(argc - i, argv + i);
    } else {
        const struct verb *v = find_verb(name);
        if (!v) {
            cli_error("unknown verb '%s'", name);
            rc = cli_usage(usage_main, true);
        } else {
            rc = v->fn(argc - i, argv + i);
        }
    }
    free_globals();
    return rc;
}
