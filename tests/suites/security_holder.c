/*
 * security_holder.c - a program that holds loaded secrets, for the
 * core-dump test in tests/suites/security-core.sh.
 *
 * Usage: security_holder FILE < commands > status
 *
 * Loads FILE through a store in secure memory and reads its values through
 * every read path (typed getters, store getters, seek, foreach, sections,
 * env formatting into a secure buffer, value formatting into a secure
 * buffer). It never learns the marker values from anywhere but the store,
 * and prints only a BLAKE2b-256 digest of "api_key" (so the suite can check
 * what was read without the marker being in this process outside the
 * store). Commands, one a line on stdin:
 *   reload  reload the store (the suite has rewritten FILE), read again
 *   wait    print "waiting" and wait for the next command (gcore runs now)
 *   abort   abort() (the kernel writes a core if RLIMIT_CORE allows)
 * EOF exits. Each step prints one status line, flushed.
 * HOLDER_EXPORT=1 also exports the secrets into the environment with
 * coffer_store_export() after each load (the environment then points into
 * coffer's secure record).
 * HOLDER_LEAK=1 keeps an unprotected malloc'ed copy of api_key alive (the
 * control case: the marker must then be found in the core).
 */
#include "coffer.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *leak; /* the deliberate unprotected copy (control case) */
static int leak_on;
static int export_on; /* HOLDER_EXPORT=1: also coffer_store_export() */

static void die(const char *what, const coffer_error *err)
{
    char buf[512];
    printf("error %s: %s\n", what, err ? coffer_error_format(err, buf, sizeof buf) : "");
    fflush(stdout);
    exit(1);
}

static int visit(void *ctx, const char *key, const coffer_value *v)
{
    coffer_secbuf *sb = ctx;
    (void)key;
    /* Format every member (tables as JSON) into secure memory. */
    long need = coffer_value_format(v, COFFER_FORMAT_JSON, NULL, 0);
    if (need < 0)
        return (int)need;
    if (coffer_secbuf_reserve(sb, (size_t)need + 1))
        return COFFER_ENOMEM;
    coffer_value_format(v, COFFER_FORMAT_JSON, sb->data, (size_t)need + 1);
    coffer_secbuf env = {0};
    int rc = coffer_env_value(v, &env);
    coffer_secbuf_release(&env);
    return rc < 0 ? rc : 0;
}

/* Reads every value through every path; prints "<tag> gen=N <digest>". */
static void read_all(coffer_store *s, const char *tag)
{
    coffer_error err;
    coffer_snapshot *snap;
    if (coffer_store_acquire(s, &snap, &err))
        die("acquire", &err);

    const char *str;
    size_t len;
    if (coffer_snapshot_get_string(snap, "api_key", &str, &len, &err))
        die("get api_key", &err);
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)str, len, NULL, 0);
    if (leak_on) {
        free(leak);
        leak = strdup(str); /* deliberately unprotected and never wiped */
    }

    const char *pw;
    if (coffer_snapshot_get_string(snap, "db.password", &pw, NULL, &err))
        die("get db.password", &err);
    if (coffer_store_get_string(s, "db.password", &pw, &err))
        die("store get db.password", &err);
    int64_t port;
    if (coffer_snapshot_get_int(snap, "db.port", &port, &err))
        die("get db.port", &err);
    const coffer_value *v;
    if (coffer_value_seek(coffer_snapshot_root(snap), "tokens[1]", &v, &err))
        die("seek tokens[1]", &err);
    if (coffer_snapshot_get(snap, "nested.deep.secret", &v, &err))
        die("get nested.deep.secret", &err);

    coffer_section sec;
    if (coffer_snapshot_section(snap, "db", &sec, &err))
        die("section db", &err);
    size_t seclen = 0;
    for (size_t i = 0; i < sec.count; i++)
        seclen += strlen(sec.values[i]);
    coffer_section_release(&sec);

    coffer_secbuf env = {0};
    const coffer_value *root = coffer_snapshot_root(snap);
    for (size_t i = 0; i < coffer_table_count(root); i++) {
        const coffer_value *m = coffer_table_at(root, i, NULL, NULL);
        if (coffer_env_value(m, &env) < 0)
            die("env value", NULL);
    }
    coffer_secbuf_release(&env);

    coffer_secbuf fmt = {0};
    if (coffer_snapshot_foreach(snap, NULL, visit, &fmt, &err))
        die("foreach", &err);
    coffer_secbuf_release(&fmt);

    coffer_secbuf all = {0};
    long need = coffer_value_format(root, COFFER_FORMAT_TOML, NULL, 0);
    if (need < 0 || coffer_secbuf_reserve(&all, (size_t)need + 1))
        die("format root", NULL);
    coffer_value_format(root, COFFER_FORMAT_TOML, all.data, (size_t)need + 1);
    coffer_secbuf_release(&all);

    printf("%s gen=%llu port=%lld seclen=%zu ", tag,
           (unsigned long long)coffer_snapshot_generation(snap),
           (long long)port, seclen);
    for (size_t i = 0; i < sizeof h; i++)
        printf("%02x", h[i]);
    printf("\n");
    fflush(stdout);
    coffer_snapshot_release(snap);
    if (export_on) {
        if (coffer_store_export(s, 0, &err))
            die("export", &err);
        const char *e = getenv("api_key");
        if (!e || strlen(e) != len)
            die("exported api_key", NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: security_holder FILE\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    leak_on = getenv("HOLDER_LEAK") && strcmp(getenv("HOLDER_LEAK"), "1") == 0;
    export_on = getenv("HOLDER_EXPORT") && strcmp(getenv("HOLDER_EXPORT"), "1") == 0;

    const char *paths[] = { argv[1] };
    coffer_store_options opt;
    memset(&opt, 0, sizeof opt);
    opt.paths = paths;
    opt.path_count = 1;
    opt.flags = COFFER_STORE_NO_ENV_SOURCES;
    coffer_store *s;
    coffer_error err;
    if (coffer_store_open(&opt, &s, &err))
        die("open", &err);
    read_all(s, "loaded");

    char line[64];
    while (fgets(line, sizeof line, stdin)) {
        if (strncmp(line, "reload", 6) == 0) {
            if (coffer_store_reload(s, &err))
                die("reload", &err);
            read_all(s, "reloaded");
        } else if (strncmp(line, "wait", 4) == 0) {
            printf("waiting\n");
            fflush(stdout);
        } else if (strncmp(line, "abort", 5) == 0) {
            fflush(stdout);
            abort();
        }
    }
    coffer_store_close(s);
    free(leak);
    return 0;
}
