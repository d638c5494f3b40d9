/* env.c - coffer env: the root-level secrets as sh, dotenv or JSON. */
#include "cli.h"

#include <string.h>

static const char usage_env[] =
    "usage: coffer env [--format sh|dotenv|json]\n"
    "\n"
    "Print the exportable root-level secrets (strings, integers, floats).\n"
    "sh (default): export NAME='value' lines, exact under eval \"$(coffer env)\".\n"
    "dotenv: NAME='value' lines (python-dotenv quoting: \\\\ and \\'); values\n"
    "with ${ are expanded by parsers that interpolate (a warning says so).\n"
    "json: one object {\"NAME\": \"value\", ...}.\n"
    "Keys that are not portable shell names ([A-Za-z_][A-Za-z0-9_]*) are\n"
    "skipped with a warning for sh and dotenv; json keeps every key that\n"
    "can be an environment variable.\n";

enum env_fmt { ENV_SH, ENV_DOTENV, ENV_JSON };

/* Appends value in single quotes. sh: ' becomes '\'' (everything else is
 * literal). dotenv: \ and ' are backslash-escaped. */
static void quote_single(struct cli_out *o, const char *v, size_t n,
                         enum env_fmt f)
{
    size_t start = 0;
    cli_out_add(o, "'", 1);
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        if (v[i] == '\'')
            esc = f == ENV_SH ? "'\\''" : "\\'";
        else if (v[i] == '\\' && f == ENV_DOTENV)
            esc = "\\\\";
        if (esc) {
            cli_out_add(o, v + start, i - start);
            cli_out_str(o, esc);
            start = i + 1;
        }
    }
    cli_out_add(o, v + start, n - start);
    cli_out_add(o, "'", 1);
}

int cmd_env(int argc, char **argv)
{
    enum env_fmt f = ENV_SH;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_env, false);
        int m = cli_opt_value(argc, argv, &i, "--format", NULL, &val);
        if (m < 0)
            return cli_usage(usage_env, true);
        if (m > 0) {
            if (strcmp(val, "sh") == 0)
                f = ENV_SH;
            else if (strcmp(val, "dotenv") == 0)
                f = ENV_DOTENV;
            else if (strcmp(val, "json") == 0)
                f = ENV_JSON;
            else {
                cli_error("unknown format '%s' (sh, dotenv or json)", val);
                return cli_usage(usage_env, true);
            }
            continue;
        }
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_env);
        cli_error("too many arguments");
        return cli_usage(usage_env, true);
    }

    coffer_store *s;
    coffer_snapshot *snap;
    int rc = cli_load(&s, &snap);
    if (rc)
        return rc;
    const coffer_value *root = coffer_snapshot_root(snap);
    struct cli_out o, val;
    memset(&o, 0, sizeof o);
    memset(&val, 0, sizeof val);
    size_t n = coffer_table_count(root), count = 0;
    if (f == ENV_JSON)
        cli_out_add(&o, "{", 1);
    for (size_t i = 0; i < n && !o.failed; i++) {
        const char *k;
        size_t kl;
        const coffer_value *v = coffer_table_at(root, i, &k, &kl);
        if (val.b.data) {
            coffer_memzero(val.b.data, val.b.len);
            val.b.data[0] = '\0';
        }
        val.b.len = 0;
        int ok = coffer_env_value(v, &val.b);
        if (ok == COFFER_ECRYPTO) { /* locked: the lookup names the file */
            coffer_error err;
            memset(&err, 0, sizeof err);
            const coffer_value *dummy;
            cli_out_release(&val);
            cli_out_key(&val, k, kl);
            if (coffer_snapshot_get(snap, val.b.data ? val.b.data : "", &dummy,
                                    &err) != 0 && err.code == COFFER_ECRYPTO) {
                rc = cli_fail(&err);
                cli_out_release(&o);
                cli_out_release(&val);
                coffer_snapshot_release(snap);
                coffer_store_close(s);
                return rc;
            }
        }
        if (ok < 0) {
            o.failed = ok;
            break;
        }
        if (ok == 0)
            continue; /* bool, date/time, array, table: not exported */
        if (!coffer_env_name_ok(k, kl)) {
            cli_warning("skipping key '%.*s': not a valid environment variable "
                        "name", (int)kl, k);
            continue;
        }
        if (f != ENV_JSON && !coffer_env_name_portable(k, kl)) {
            cli_warning("skipping key '%.*s': not a portable shell name",
                        (int)kl, k);
            continue;
        }
        if (f != ENV_JSON && memchr(val.b.data, '\0', val.b.len)) {
            cli_warning("skipping key '%.*s': value contains a NUL byte",
                        (int)kl, k);
            continue;
        }
        if (f == ENV_DOTENV && memmem(val.b.data, val.b.len, "${", 2))
            cli_warning("value of '%.*s' contains '${', which dotenv parsers "
                        "that interpolate will expand", (int)kl, k);
        if (f == ENV_JSON) {
            cli_out_str(&o, count ? ",\n  " : "\n  ");
            cli_out_json(&o, k, kl);
            cli_out_str(&o, ": ");
            cli_out_json(&o, val.b.data, val.b.len);
        } else {
            if (f == ENV_SH)
                cli_out_str(&o, "export ");
            cli_out_add(&o, k, kl);
            cli_out_add(&o, "=", 1);
            quote_single(&o, val.b.data, val.b.len, f);
            cli_out_add(&o, "\n", 1);
        }
        count++;
    }
    if (f == ENV_JSON)
        cli_out_str(&o, count ? "\n}\n" : "}\n");
    rc = cli_out_flush(&o, 1);
    cli_out_release(&o);
    cli_out_release(&val);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}
