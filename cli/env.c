/* env.c - coffer env: the root-level secrets as sh, dotenv or JSON, and
 * the naming options shared with coffer run. */
#include "cli.h"

#include <stdio.h>

#include <string.h>

static const char usage_env[] =
    "usage: coffer env [--format sh|dotenv|json] [--prefix PREFIX] [--upper]\n"
    "                  [--booleans] [--allow-env NAME]...\n"
    "\n"
    "Print the variables `coffer run` would set: root-level strings,\n"
    "integers and floats (booleans with --booleans) whose names are portable\n"
    "shell names ([A-Za-z_][A-Za-z0-9_]*). Skipped keys get a warning.\n"
    "sh (default): export NAME='value' lines, exact under eval \"$(coffer env)\";\n"
    "  a value with a NUL byte gives `unset NAME` (as run does).\n"
    "dotenv: NAME=\"value\" lines that python-dotenv (with or without\n"
    "  interpolation) and coffer's dotenv: reader read back exactly; values\n"
    "  they cannot are skipped with a warning (see coffer(1)).\n"
    "json: one object {\"NAME\": \"value\", ...}.\n"
    "\n"
    CLI_ENV_OPTIONS_HELP;

enum env_fmt { ENV_SH, ENV_DOTENV, ENV_JSON };

int cli_env_option(int argc, char **argv, int *i, struct cli_env *e)
{
    const char *a = argv[*i], *val;
    if (strcmp(a, "--upper") == 0) {
        e->opt.flags |= COFFER_EXPORT_UPPER;
        return 1;
    }
    if (strcmp(a, "--booleans") == 0) {
        e->opt.flags |= COFFER_EXPORT_BOOLEANS;
        return 1;
    }
    int m = cli_opt_value(argc, argv, i, "--prefix", NULL, &val);
    if (m < 0)
        return -1;
    if (m > 0) {
        if (*val && !coffer_env_name_portable(val, strlen(val))) {
            cli_error("invalid --prefix '%s' (a portable name: "
                      "[A-Za-z_][A-Za-z0-9_]*)", val);
            return -1;
        }
        e->opt.prefix = val;
        return 1;
    }
    m = cli_opt_value(argc, argv, i, "--allow-env", NULL, &val);
    if (m < 0)
        return -1;
    if (m > 0) {
        if (!coffer_env_name_portable(val, strlen(val))) {
            cli_error("invalid --allow-env '%s' (a variable name)", val);
            return -1;
        }
        if (e->nallow + 1 >= sizeof e->allow / sizeof e->allow[0]) {
            cli_error("too many --allow-env options");
            return -1;
        }
        e->allow[e->nallow++] = val;
        e->allow[e->nallow] = NULL;
        e->opt.allow = e->allow;
        return 1;
    }
    return 0;
}

void cli_env_warn(const coffer_env_item *it)
{
    char key[160], name[160];
    coffer_key_display(key, sizeof key, it->key, it->keylen);
    coffer_key_display(name, sizeof name, it->name, it->namelen);
    bool renamed = it->namelen != it->keylen ||
                   memcmp(it->name, it->key, it->keylen) != 0;
    if (it->status == COFFER_ENV_BAD_NAME && !renamed)
        cli_warning("skipping key '%s': %s", key,
                    coffer_env_status_text(it->status));
    else if (it->status == COFFER_ENV_DANGEROUS)
        cli_warning("skipping key '%s': '%s' is %s (--allow-env %s or "
                    "COFFER_ALLOW_ENV=%s)", key, name,
                    coffer_env_status_text(it->status), name, name);
    else if (renamed)
        cli_warning("skipping key '%s' (variable '%s'): %s%s", key, name,
                    coffer_env_status_text(it->status),
                    it->unset ? "; the variable is unset" : "");
    else
        cli_warning("skipping key '%s': %s%s", key,
                    coffer_env_status_text(it->status),
                    it->unset ? "; the variable is unset" : "");
}

struct env_out {
    enum env_fmt f;
    struct cli_out o;
    coffer_secbuf q;
    size_t count;
};

static int emit(void *ctx, const coffer_env_item *it)
{
    struct env_out *E = ctx;
    struct cli_out *o = &E->o;
    if (it->status != COFFER_ENV_OK) {
        cli_env_warn(it);
        if (E->f == ENV_SH && it->unset && it->status == COFFER_ENV_NUL_VALUE) {
            cli_out_str(o, "unset ");
            cli_out_add(o, it->name, it->namelen);
            cli_out_add(o, "\n", 1);
        }
        return o->failed;
    }
    if (E->f == ENV_JSON) {
        cli_out_str(o, E->count ? ",\n  " : "\n  ");
        cli_out_json(o, it->name, it->namelen);
        cli_out_str(o, ": ");
        cli_out_json(o, it->text, it->textlen);
        E->count++;
        return o->failed;
    }
    const char *why;
    if (E->q.data)
        coffer_memzero(E->q.data, E->q.len);
    E->q.len = 0;
    int rc = coffer_env_quote(&E->q, E->f == ENV_SH ? COFFER_ENV_SYNTAX_SH
                                                    : COFFER_ENV_SYNTAX_DOTENV,
                              it->text, it->textlen, &why);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        char key[160];
        cli_warning("skipping key '%s': cannot be written for dotenv: %s",
                    coffer_key_display(key, sizeof key, it->key, it->keylen),
                    why);
        return 0;
    }
    if (E->f == ENV_SH)
        cli_out_str(o, "export ");
    cli_out_add(o, it->name, it->namelen);
    cli_out_add(o, "=", 1);
    cli_out_add(o, E->q.data, E->q.len);
    cli_out_add(o, "\n", 1);
    E->count++;
    return o->failed;
}

/* The error of the first locked root value (its lookup names the file);
 * releases what cmd_env holds. */
static int env_locked(coffer_snapshot *snap, coffer_store *s, struct env_out *E)
{
    const coffer_value *root = coffer_snapshot_root(snap);
    coffer_error err;
    memset(&err, 0, sizeof err);
    err.code = COFFER_ECRYPTO;
    snprintf(err.message, sizeof err.message, "an encrypted value cannot be "
             "decrypted");
    struct cli_out key;
    memset(&key, 0, sizeof key);
    coffer_secbuf tmp = { NULL, 0, 0 };
    for (size_t i = 0; i < coffer_table_count(root); i++) {
        const char *k;
        size_t kl;
        const coffer_value *v = coffer_table_at(root, i, &k, &kl), *dummy;
        if (coffer_env_value(v, &tmp) != COFFER_ECRYPTO)
            continue;
        cli_out_key(&key, k, kl);
        if (!key.failed)
            (void)coffer_snapshot_get(snap, key.b.data, &dummy, &err);
        break;
    }
    coffer_secbuf_release(&tmp);
    cli_out_release(&key);
    int rc = cli_fail(&err);
    cli_out_release(&E->o);
    coffer_secbuf_release(&E->q);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}

int cmd_env(int argc, char **argv)
{
    struct cli_env e;
    memset(&e, 0, sizeof e);
    enum env_fmt f = ENV_SH;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_env, false);
        int m = cli_env_option(argc, argv, &i, &e);
        if (m < 0)
            return cli_usage(usage_env, true);
        if (m > 0)
            continue;
        m = cli_opt_value(argc, argv, &i, "--format", NULL, &val);
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
    struct env_out E;
    memset(&E, 0, sizeof E);
    E.f = f;
    if (f == ENV_JSON)
        cli_out_add(&E.o, "{", 1);
    int pr = coffer_env_plan(coffer_snapshot_root(snap), &e.opt, emit, &E);
    if (pr == COFFER_ECRYPTO) /* an encrypted value nobody could open */
        return env_locked(snap, s, &E);
    if (pr < 0 && !E.o.failed)
        E.o.failed = pr;
    if (f == ENV_JSON)
        cli_out_str(&E.o, E.count ? "\n}\n" : "}\n");
    rc = cli_out_flush(&E.o, 1);
    cli_out_release(&E.o);
    coffer_secbuf_release(&E.q);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    return rc;
}
