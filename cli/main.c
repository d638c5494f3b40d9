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
    "  has KEY        exit 0 if KEY exists, 4 if not (prints nothing)\n"
    "  list           list every key with the FILE:LINE it comes from\n"
    "  dump           every key with its type (values with --values)\n"
    "  where KEY      print the FILE:LINE that defines KEY\n"
    "  paths          list the sources in precedence order\n"
    "  env            print the root-level secrets as shell exports\n"
    "  run -- CMD     run CMD with the root-level secrets in its environment\n"
    "  watch          print a line for each change of the secrets\n"
    "  check          validate sources, permissions and git hygiene\n"
    "  init           create .streamlit/secrets.toml (0600), never overwrite\n"
    "  push URL FILE  validate FILE and write it to an etcd key (compare-and-swap)\n"
    "  history URL    list the revisions of an etcd key (never values)\n"
    "  version        print the version\n"
    "\n"
    "encryption (values encrypted to age recipients, safe to commit):\n"
    "  keygen         create an age identity (~/.config/coffer/keys.txt)\n"
    "  encrypt        encrypt every value of a file in place (-r RECIPIENT)\n"
    "  decrypt        print a file decrypted (--in-place to rewrite it)\n"
    "  set KEY        set a value (from stdin or a prompt, never argv)\n"
    "  unset KEY      remove a key\n"
    "  edit           edit a file decrypted in $EDITOR, re-encrypt changes\n"
    "  recipients     list, add or remove recipients\n"
    "  rotate         new data key, every value re-encrypted\n"
    "\n"
    "global options:\n"
    "  -C DIR             run as if started in DIR\n"
    "  -f, --file PATH    read PATH instead of the default files (repeatable;\n"
    "                     a .toml file, a directory, flat:DIR,\n"
    "                     dotenv:FILE for a .env file, or\n"
    "                     etcd://HOST:PORT[,HOST:PORT...]/KEY)\n"
    "  --strict           refuse secrets files readable by group or others\n"
    "  --version          print the version\n"
    "\n"
    "Run 'coffer VERB --help' for the options of a verb. See coffer(1).\n";

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
};

static int cmd_version(int argc, char **argv);

static const struct verb verbs[] = {
    { "get", cmd_get },
    { "has", cmd_has },
    { "list", cmd_list },
    { "dump", cmd_dump },
    { "where", cmd_where },
    { "paths", cmd_paths },
    { "env", cmd_env },
    { "run", cmd_run },
    { "watch", cmd_watch },
    { "check", cmd_check },
    { "init", cmd_init },
    { "push", cmd_push },
    { "history", cmd_history },
    { "version", cmd_version },
    { "keygen", cmd_keygen },
    { "encrypt", cmd_encrypt },
    { "decrypt", cmd_decrypt },
    { "set", cmd_set },
    { "unset", cmd_unset },
    { "edit", cmd_edit },
    { "recipients", cmd_recipients },
    { "rotate", cmd_rotate },
};

static int cmd_version(int argc, char **argv)
{
    if (argc > 1 && cli_is_help(argv[1]))
        return cli_usage("usage: coffer version\n\nPrint the version.\n", false);
    printf("coffer %s\n", coffer_version());
    return fflush(stdout) == 0 ? 0 : CLI_EXIT_PROBLEMS;
}

/* Optimal string alignment distance (a swap of neighbours counts 1). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 30 || lb > 30)
        return 99;
    size_t d[32][32];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t m = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < m)
                m = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < m)
                m = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < m)
                m = d[i - 2][j - 2] + 1;
            d[i][j] = m;
        }
    }
    return d[la][lb];
}

/* An unknown verb: the nearest one as a suggestion and a one-line hint,
 * not the whole usage. Returns 2. */
static int unknown_verb(const char *name)
{
    const char *best = NULL;
    size_t bd = 3; /* at most 2 edits, and fewer than half the word */
    for (size_t i = 0; i <= sizeof verbs / sizeof verbs[0]; i++) {
        const char *v = i < sizeof verbs / sizeof verbs[0] ? verbs[i].name
                                                           : "help";
        size_t d = edit_distance(name, v);
        if (d < bd && d * 2 < strlen(v)) {
            bd = d;
            best = v;
        }
    }
    if (best)
        cli_error("unknown verb '%s'; did you mean '%s'?", name, best);
    else
        cli_error("unknown verb '%s'", name);
    cli_note("run 'coffer help' for the list of verbs");
    return CLI_EXIT_USAGE;
}

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
    /* Hidden: the verb table, one a line, for shell completion. */
    if (strcmp(argv[1], "--verbs") == 0) {
        for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
            printf("%s\n", verbs[i].name);
        return fflush(stdout) == 0 ? 0 : CLI_EXIT_PROBLEMS;
    }
    const struct verb *v = find_verb(argv[1]);
    if (!v)
        return unknown_verb(argv[1]);
    char help[] = "--help";
    char *av[] = { argv[1], help, NULL };
    return v->fn(2, av);
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
    coffer_error serr;
    memset(&serr, 0, sizeof serr);
    if (coffer_env_strict(&cli_g.strict, &serr) != 0) {
        free(files);
        return cli_fail(&serr); /* COFFER_EINVAL: exit 2 */
    }

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
        /* The library resolves relative paths against cli_g.cwd (the
         * directory after every -C) and applies the path rule. */
        size_t made = 0; /* copies, up to the first failure */
        while (cli_g.paths && made < nfiles &&
               (cli_g.paths[made] = strdup(files[made])) != NULL)
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
            rc = unknown_verb(name);
        } else {
            rc = v->fn(argc - i, argv + i);
        }
    }
    free_globals();
    return rc;
}
