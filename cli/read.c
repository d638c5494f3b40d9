/* read.c - coffer get, list, where, paths. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_get[] =
    "usage: coffer get [--format text|toml|json] [--default VALUE] [-n] KEY\n"
    "\n"
    "Print the value at KEY, a dotted path in TOML key syntax\n"
    "(db_credentials.user, \"key.with.dots\".x, servers[0].host); the\n"
    "empty KEY '' is the whole store.\n"
    "text (default): strings raw, other scalars as TOML, tables and arrays\n"
    "as JSON. toml: TOML syntax (strings quoted). json: plain JSON.\n"
    "\n"
    "  --default VALUE  print VALUE when KEY (or any secret) is missing;\n"
    "                   invalid or refused files still fail\n"
    "  -n               no trailing newline\n";

static const char usage_has[] =
    "usage: coffer has KEY\n"
    "\n"
    "Exit 0 if KEY exists, 4 if it does not (or no secrets exist at all);\n"
    "prints nothing. Invalid or refused files: 5, a malformed KEY: 2.\n";

static const char usage_dump[] =
    "usage: coffer dump [--json] [--values [--force]]\n"
    "\n"
    "Print every leaf key with its type, in list order. --values adds the\n"
    "values (PATH = TOML value; with --json a \"value\" member) and is\n"
    "refused when stdout is a terminal unless --force is given. For the\n"
    "whole store as one JSON document: coffer get --format json ''.\n";

static const char usage_list[] =
    "usage: coffer list [--json]\n"
    "\n"
    "Print every leaf key path with the FILE:LINE it comes from, never the\n"
    "values. Arrays are one leaf; arrays of tables give name[0].key paths.\n"
    "Order: by source in precedence order (the effective definition's\n"
    "source), then by line.\n";

static const char usage_where[] =
    "usage: coffer where KEY\n"
    "\n"
    "Print FILE:LINE of the effective definition of KEY.\n";

static const char usage_paths[] =
    "usage: coffer paths\n"
    "\n"
    "Print the sources in precedence order (lowest first, later ones win):\n"
    "whether each was found, its kind (file, dir, flat, text, etcd) and its\n"
    "path; etcd sources show the revision read (etcd://.../KEY@REVISION).\n";

/* Loads for get/has: 0 with *snap set, 1 when no secrets exist at all
 * (nothing printed), else an exit status after the message. */
static int load_or_none(coffer_store **s, coffer_snapshot **snap,
                        bool none_ok)
{
    cli_harden();
    *snap = NULL;
    int rc = cli_store_open(s);
    if (rc)
        return rc;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_store_acquire(*s, snap, &err) == 0)
        return 0;
    *snap = NULL;
    rc = err.code == COFFER_ENOSECRETS && none_ok ? 1 : cli_fail(&err);
    coffer_store_close(*s);
    *s = NULL;
    return rc;
}

/* Looks KEY up ('' is the root). Returns 0, 1 if it is missing (a key
 * not found or a scalar in the way: err set), or a negative code. */
static int lookup(const coffer_snapshot *snap, const char *key,
                  const coffer_value **v, coffer_error *err)
{
    if (!*key) {
        *v = coffer_snapshot_root(snap);
        return 0;
    }
    int rc = coffer_snapshot_get(snap, key, v, err);
    if (rc == COFFER_ENOKEY || rc == COFFER_ETYPE)
        return 1;
    return rc;
}

int cmd_get(int argc, char **argv)
{
    coffer_format fmt = COFFER_FORMAT_TEXT;
    const char *key = NULL, *def = NULL;
    bool newline = true;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_get, false);
        if (strcmp(argv[i], "-n") == 0) {
            newline = false;
            continue;
        }
        int m = cli_opt_value(argc, argv, &i, "--default", NULL, &def);
        if (m < 0)
            return cli_usage(usage_get, true);
        if (m > 0)
            continue;
        m = cli_opt_value(argc, argv, &i, "--format", NULL, &val);
        if (m < 0)
            return cli_usage(usage_get, true);
        if (m > 0) {
            if (strcmp(val, "text") == 0)
                fmt = COFFER_FORMAT_TEXT;
            else if (strcmp(val, "toml") == 0)
                fmt = COFFER_FORMAT_TOML;
            else if (strcmp(val, "json") == 0)
                fmt = COFFER_FORMAT_JSON;
            else {
                cli_error("unknown format '%s' (text, toml or json)", val);
                return cli_usage(usage_get, true);
            }
            continue;
        }
        int bad = cli_take_key(argc, argv, &i, &key, usage_get);
        if (bad)
            return bad;
    }
    int bad = cli_need_key(key, usage_get);
    if (bad)
        return bad;

    coffer_store *s;
    coffer_snapshot *snap;
    int rc = load_or_none(&s, &snap, def != NULL);
    if (rc > 1)
        return rc;
    coffer_error err;
    memset(&err, 0, sizeof err);
    const coffer_value *v = NULL;
    int lr = rc == 1 ? 1 : lookup(snap, key, &v, &err);
    if ((lr == 1 && !def) || lr < 0) {
        rc = cli_fail(&err);
    } else {
        struct cli_out o;
        memset(&o, 0, sizeof o);
        if (lr == 1)
            cli_out_str(&o, def); /* the caller's own text, as given */
        else
            cli_out_value(&o, v, fmt);
        /* A raw string always gets its newline (it may end in one of its
         * own); other output gets one unless it already ends with one. */
        if (!o.failed && newline) {
            if (lr == 1 || (fmt == COFFER_FORMAT_TEXT &&
                            coffer_value_type(v) == COFFER_TYPE_STRING) ||
                o.b.len == 0 || o.b.data[o.b.len - 1] != '\n')
                cli_out_add(&o, "\n", 1);
        }
        rc = cli_out_flush(&o, 1);
        cli_out_release(&o);
    }
    if (snap) {
        coffer_snapshot_release(snap);
        coffer_store_close(s);
    }
    return rc;
}

/* The single KEY operand of has and where (no options but --help).
 * Returns 0 with *key set, -1 after --help (exit 0), or an exit status. */
static int key_operand(int argc, char **argv, const char *usage,
                       const char **key)
{
    *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            cli_usage(usage, false);
            return -1;
        }
        int bad = cli_take_key(argc, argv, &i, key, usage);
        if (bad)
            return bad;
    }
    return cli_need_key(*key, usage);
}

int cmd_has(int argc, char **argv)
{
    const char *key;
    int rc = key_operand(argc, argv, usage_has, &key);
    if (rc)
        return rc < 0 ? 0 : rc;
    coffer_store *s;
    coffer_snapshot *snap;
    rc = load_or_none(&s, &snap, true);
    if (rc == 1)
        return CLI_EXIT_NOKEY;
    if (rc)
        return rc;
    coffer_error err;
    memset(&err, 0, sizeof err);
    const coffer_value *v;
    int lr = lookup(snap, key, &v, &err);
    rc = lr == 0 ? CLI_EXIT_OK : lr == 1 ? CLI_EXIT_NOKEY : cli_fail(&err);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}

/* ---- list ---- */

/* One leaf of the store, for list and dump. */
struct leaf {
    char *path;
    size_t len;
    const coffer_value *v;
    const char *file;
    unsigned line;
    size_t rank, seq; /* source position; walk position (stable order) */
};

struct lister {
    const coffer_snapshot *snap;
    coffer_store *store;
    struct leaf *leaves;
    size_t count, cap;
    int failed;
};

/* The position of file's source in precedence order: the source named
 * file, or the directory source holding it. */
static size_t source_rank(coffer_store *s, const char *file)
{
    size_t n = coffer_store_source_count(s);
    for (size_t i = 0; i < n; i++) {
        coffer_source_info info;
        if (coffer_store_source(s, i, &info) != 0)
            continue;
        const char *name = info.name && *info.name ? info.name : info.path;
        size_t nl = name ? strlen(name) : 0;
        if (nl && strncmp(file, name, nl) == 0 &&
            (file[nl] == '\0' || file[nl] == '/'))
            return i;
    }
    return n;
}

static int add_leaf(void *ctx, const char *path, size_t len,
                    const coffer_value *v)
{
    struct lister *L = ctx;
    if (L->count == L->cap) {
        size_t cap = L->cap ? L->cap * 2 : 64;
        struct leaf *p = realloc(L->leaves, cap * sizeof *p);
        if (!p) {
            L->failed = COFFER_ENOMEM;
            return L->failed;
        }
        L->leaves = p;
        L->cap = cap;
    }
    struct leaf *f = &L->leaves[L->count];
    memset(f, 0, sizeof *f);
    f->path = strndup(path, len); /* a key path, never a value */
    if (!f->path) {
        L->failed = COFFER_ENOMEM;
        return L->failed;
    }
    f->len = len;
    f->v = v;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_snapshot_where(L->snap, path, &f->file, &f->line, &err)) {
        f->file = "?";
        f->line = 0;
    }
    f->rank = source_rank(L->store, f->file);
    f->seq = L->count;
    L->count++;
    return 0;
}

static int by_place(const void *a, const void *b)
{
    const struct leaf *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    int c = strcmp(x->file, y->file); /* files of one directory source */
    if (c)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void lister_release(struct lister *L)
{
    for (size_t i = 0; i < L->count; i++)
        free(L->leaves[i].path);
    free(L->leaves);
}

/* Opens, loads and collects every leaf in list order. Returns 0 or an
 * exit status (message printed). */
static int collect(struct lister *L, coffer_store **s, coffer_snapshot **snap)
{
    int rc = cli_load(s, snap);
    if (rc)
        return rc;
    memset(L, 0, sizeof *L);
    L->snap = *snap;
    L->store = *s;
    int wrc = coffer_value_leaves(coffer_snapshot_root(*snap), NULL, add_leaf, L);
    if (wrc && !L->failed)
        L->failed = wrc;
    if (L->failed) {
        cli_error("cannot list the secrets: %s", coffer_strerror(L->failed));
        rc = cli_exit_code(L->failed);
        lister_release(L);
        coffer_snapshot_release(*snap);
        coffer_store_close(*s);
        return rc;
    }
    if (L->count)
        qsort(L->leaves, L->count, sizeof *L->leaves, by_place);
    return 0;
}

/* Options of list and dump: flags set by name; returns 0, -1 for --help
 * (usage printed), or an exit status. */
struct flagopt {
    const char *name;
    bool *on;
};

static int take_flags(int argc, char **argv, const struct flagopt *opts,
                      const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            cli_usage(usage, false);
            return -1;
        }
        bool known = false;
        for (const struct flagopt *o = opts; o->name; o++)
            if (strcmp(argv[i], o->name) == 0)
                *o->on = known = true;
        if (known)
            continue;
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage);
        cli_error("too many arguments");
        return cli_usage(usage, true);
    }
    return 0;
}

enum show { SHOW_PLACE, SHOW_TYPE, SHOW_VALUE };

/* Loads, collects and prints every leaf (list: FILE:LINE; dump: the
 * type, and the value with SHOW_VALUE), as lines or a JSON array. */
static int show_leaves(enum show what, bool json)
{
    coffer_store *s;
    coffer_snapshot *snap;
    struct lister L;
    int rc = collect(&L, &s, &snap);
    if (rc)
        return rc;
    struct cli_out o;
    memset(&o, 0, sizeof o);
    for (size_t i = 0; i < L.count; i++) {
        const struct leaf *f = &L.leaves[i];
        const char *type = coffer_type_name(coffer_value_type(f->v));
        if (json) {
            cli_out_str(&o, i ? ",\n  {\"key\": " : "[\n  {\"key\": ");
            cli_out_json(&o, f->path, f->len);
            if (what == SHOW_PLACE) {
                cli_out_str(&o, ", \"file\": ");
                cli_out_json(&o, f->file, strlen(f->file));
                cli_out_printf(&o, ", \"line\": %u", f->line);
            } else {
                cli_out_str(&o, ", \"type\": ");
                cli_out_json(&o, type, strlen(type));
            }
            if (what == SHOW_VALUE) {
                cli_out_str(&o, ", \"value\": ");
                cli_out_value(&o, f->v, COFFER_FORMAT_JSON);
            }
            cli_out_str(&o, "}");
            continue;
        }
        cli_out_add(&o, f->path, f->len);
        if (what == SHOW_PLACE) {
            cli_out_printf(&o, "\t%s:%u\n", f->file, f->line);
        } else if (what == SHOW_TYPE) {
            cli_out_printf(&o, "\t%s\n", type);
        } else {
            /* A table leaf is an empty one: inline, not a document. */
            cli_out_str(&o, " = ");
            if (coffer_value_type(f->v) == COFFER_TYPE_TABLE)
                cli_out_str(&o, "{}");
            else
                cli_out_value(&o, f->v, COFFER_FORMAT_TOML);
            if (o.b.len && o.b.data[o.b.len - 1] != '\n')
                cli_out_add(&o, "\n", 1);
        }
    }
    if (json)
        cli_out_str(&o, L.count ? "\n]\n" : "[]\n");
    rc = cli_out_flush(&o, 1);
    cli_out_release(&o);
    lister_release(&L);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}

int cmd_list(int argc, char **argv)
{
    bool json = false;
    const struct flagopt opts[] = { { "--json", &json }, { NULL, NULL } };
    int rc = take_flags(argc, argv, opts, usage_list);
    if (rc)
        return rc < 0 ? 0 : rc;
    return show_leaves(SHOW_PLACE, json);
}

int cmd_dump(int argc, char **argv)
{
    bool json = false, values = false, force = false;
    const struct flagopt opts[] = { { "--json", &json },
                                    { "--values", &values },
                                    { "--force", &force },
                                    { NULL, NULL } };
    int rc = take_flags(argc, argv, opts, usage_dump);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (values && !force && isatty(1)) {
        cli_error("refusing to print secret values to a terminal; pipe the "
                  "output or add --force");
        return CLI_EXIT_USAGE;
    }
    return show_leaves(values ? SHOW_VALUE : SHOW_TYPE, json);
}

int cmd_where(int argc, char **argv)
{
    const char *key;
    int rc = key_operand(argc, argv, usage_where, &key);
    if (rc)
        return rc < 0 ? 0 : rc;
    coffer_store *s;
    coffer_snapshot *snap;
    rc = cli_load(&s, &snap);
    if (rc)
        return rc;
    coffer_error err;
    memset(&err, 0, sizeof err);
    const char *file;
    unsigned line;
    if (coffer_snapshot_where(snap, key, &file, &line, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        struct cli_out o;
        memset(&o, 0, sizeof o);
        cli_out_printf(&o, "%s:%u\n", file, line);
        rc = cli_out_flush(&o, 1);
        cli_out_release(&o);
    }
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}

int cmd_paths(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_paths, false);
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_paths);
        cli_error("too many arguments");
        return cli_usage(usage_paths, true);
    }
    cli_harden();
    coffer_store *s;
    int rc = cli_store_open(&s);
    if (rc)
        return rc;
    /* Load once so that kinds are resolved and "found" is current; a load
     * error does not stop the listing (it is what paths helps to debug). */
    coffer_snapshot *snap = NULL;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_store_acquire(s, &snap, &err) == 0) {
        coffer_snapshot_release(snap);
    } else if (err.code == COFFER_ECONFIG) {
        /* No source list to show: the same error and exit status (5) as
         * every other verb. */
        rc = cli_fail(&err);
        coffer_store_close(s);
        return rc;
    } else if (err.code != COFFER_ENOSECRETS) {
        char buf[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
        cli_warning("%s", coffer_error_format(&err, buf, sizeof buf));
    }
    struct cli_out o;
    memset(&o, 0, sizeof o);
    size_t n = coffer_store_source_count(s);
    for (size_t i = 0; i < n; i++) {
        coffer_source_info info;
        if (coffer_store_source(s, i, &info) != 0)
            continue;
        char name[COFFER_ERROR_PATH_MAX + 64];
        if (coffer_store_source_describe(s, i, name, sizeof name) != 0)
            name[0] = '\0';
        cli_out_printf(&o, "%-8s %-5s %s\n", info.found ? "found" : "missing",
                       coffer_source_kind_name(info.kind), name);
    }
    rc = cli_out_flush(&o, 1);
    cli_out_release(&o);
    coffer_store_close(s);
    return rc;
}
