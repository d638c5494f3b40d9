/* read.c - coffer get, list, where, paths. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_get[] =
    "usage: coffer get [--format text|toml|json] KEY\n"
    "\n"
    "Print the value at KEY, a dotted path in TOML key syntax\n"
    "(db_credentials.user, \"key.with.dots\".x, servers[0].host).\n"
    "text (default): strings raw, other scalars as TOML, tables and arrays\n"
    "as JSON. toml: TOML syntax (strings quoted). json: plain JSON.\n";

static const char usage_list[] =
    "usage: coffer list [--json]\n"
    "\n"
    "Print every leaf key path with the FILE:LINE it comes from, never the\n"
    "values. Arrays are one leaf; arrays of tables give name[0].key paths.\n";

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

int cmd_get(int argc, char **argv)
{
    coffer_format fmt = COFFER_FORMAT_TEXT;
    const char *key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_get, false);
        int m = cli_opt_value(argc, argv, &i, "--format", NULL, &val);
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
    int rc = cli_load(&s, &snap);
    if (rc)
        return rc;
    coffer_error err;
    memset(&err, 0, sizeof err);
    const coffer_value *v;
    if (coffer_snapshot_get(snap, key, &v, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        struct cli_out o;
        memset(&o, 0, sizeof o);
        cli_out_value(&o, v, fmt);
        /* A raw string always gets its newline (it may end in one of its
         * own); other output gets one unless it already ends with one. */
        if (!o.failed) {
            if ((fmt == COFFER_FORMAT_TEXT &&
                 coffer_value_type(v) == COFFER_TYPE_STRING) ||
                o.b.len == 0 || o.b.data[o.b.len - 1] != '\n')
                cli_out_add(&o, "\n", 1);
        }
        rc = cli_out_flush(&o, 1);
        cli_out_release(&o);
    }
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}

/* ---- list ---- */

struct path {
    char *p;
    size_t len, cap;
};

static int path_push(struct path *pa, const char *s, size_t n)
{
    if (pa->len + n + 1 > pa->cap) {
        size_t cap = pa->cap ? pa->cap : 128;
        while (cap < pa->len + n + 1)
            cap *= 2;
        char *np = realloc(pa->p, cap); /* key names only, never values */
        if (!np)
            return -1;
        pa->p = np;
        pa->cap = cap;
    }
    memcpy(pa->p + pa->len, s, n);
    pa->len += n;
    pa->p[pa->len] = '\0';
    return 0;
}

struct lister {
    const coffer_snapshot *snap;
    struct cli_out out;
    struct path path;
    struct cli_out kb; /* scratch for one quoted key */
    bool json;
    size_t count;
    int failed;
};

static void emit_leaf(struct lister *L)
{
    const char *file = "";
    unsigned line = 0;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_snapshot_where(L->snap, L->path.p, &file, &line, &err) != 0) {
        file = "?";
        line = 0;
    }
    if (L->json) {
        cli_out_str(&L->out, L->count ? ",\n  {\"key\": " : "[\n  {\"key\": ");
        cli_out_json(&L->out, L->path.p, L->path.len);
        cli_out_str(&L->out, ", \"file\": ");
        cli_out_json(&L->out, file, strlen(file));
        cli_out_printf(&L->out, ", \"line\": %u}", line);
    } else {
        cli_out_add(&L->out, L->path.p, L->path.len);
        cli_out_printf(&L->out, "\t%s:%u\n", file, line);
    }
    L->count++;
}

static bool array_of_tables(const coffer_value *a)
{
    size_t n = coffer_array_count(a);
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (coffer_value_type(coffer_array_at(a, i)) != COFFER_TYPE_TABLE)
            return false;
    return true;
}

static void walk(struct lister *L, const coffer_value *v)
{
    if (L->failed)
        return;
    coffer_type t = coffer_value_type(v);
    size_t mark = L->path.len;
    if (t == COFFER_TYPE_TABLE) {
        size_t n = coffer_table_count(v);
        if (n == 0 && mark > 0) {
            emit_leaf(L); /* an empty table is a leaf of its own */
            return;
        }
        for (size_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            const coffer_value *m = coffer_table_at(v, i, &k, &kl);
            L->kb.b.len = 0;
            cli_out_key(&L->kb, k, kl);
            if (L->kb.failed || (mark && path_push(&L->path, ".", 1) != 0) ||
                path_push(&L->path, L->kb.b.data, L->kb.b.len) != 0) {
                L->failed = COFFER_ENOMEM;
                return;
            }
            walk(L, m);
            L->path.len = mark;
            L->path.p[mark] = '\0';
        }
    } else if (t == COFFER_TYPE_ARRAY && array_of_tables(v)) {
        size_t n = coffer_array_count(v);
        for (size_t i = 0; i < n; i++) {
            char idx[32];
            int il = snprintf(idx, sizeof idx, "[%zu]", i);
            if (path_push(&L->path, idx, (size_t)il) != 0) {
                L->failed = COFFER_ENOMEM;
                return;
            }
            walk(L, coffer_array_at(v, i));
            L->path.len = mark;
            L->path.p[mark] = '\0';
        }
    } else {
        emit_leaf(L);
    }
}

int cmd_list(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_list, false);
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_list);
        cli_error("too many arguments");
        return cli_usage(usage_list, true);
    }
    coffer_store *s;
    coffer_snapshot *snap;
    int rc = cli_load(&s, &snap);
    if (rc)
        return rc;
    struct lister L;
    memset(&L, 0, sizeof L);
    L.snap = snap;
    L.json = json;
    walk(&L, coffer_snapshot_root(snap));
    if (json)
        cli_out_str(&L.out, L.count ? "\n]\n" : "[]\n");
    if (L.failed) {
        cli_error("out of memory");
        rc = CLI_EXIT_PROBLEMS;
    } else {
        rc = cli_out_flush(&L.out, 1);
    }
    cli_out_release(&L.out);
    cli_out_release(&L.kb);
    free(L.path.p);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}

int cmd_where(int argc, char **argv)
{
    const char *key = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_where, false);
        int bad = cli_take_key(argc, argv, &i, &key, usage_where);
        if (bad)
            return bad;
    }
    int bad = cli_need_key(key, usage_where);
    if (bad)
        return bad;
    coffer_store *s;
    coffer_snapshot *snap;
    int rc = cli_load(&s, &snap);
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
    if (coffer_store_acquire(s, &snap, &err) == 0)
        coffer_snapshot_release(snap);
    else if (err.code != COFFER_ENOSECRETS) {
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
