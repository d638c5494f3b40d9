/* check.c - coffer_store_check: every source validated on its own, every
 * problem reported, nothing stops at the first error. */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counting {
    coffer_check_fn fn;
    void *ctx;
    int errors;
} counting;

static void report(void *ctx, int severity, const char *file, const char *msg)
{
    counting *c = ctx;
    if (severity >= 2)
        c->errors++;
    if (c->fn)
        c->fn(c->ctx, severity, file, msg);
}

/* A load error, formatted as a load reports it (coffer_error_format:
 * FILE:LINE:COL: message), against the file it names. */
static void report_error(counting *c, const coffer_source *src,
                         const coffer_error *err)
{
    char msg[COFFER_ERROR_PATH_MAX + COFFER_ERROR_MESSAGE_MAX + 64];
    const char *file = err->file[0] ? err->file : src->name;
    if (err->line)
        coffer_error_format(err, msg, sizeof msg);
    else
        snprintf(msg, sizeof msg, "%s", err->message);
    report(c, 2, file, msg);
}

/* A key for a one-line message (coffer_key_display). */
static void show_key(char *buf, size_t n, const char *key, size_t kl)
{
    coffer_key_display(buf, n, key, kl);
}

/* Root keys that coffer run / coffer_store_export would not export (the
 * one definition: coffer_env_plan with default options). A dangerous name
 * is an error in strict mode. */
typedef struct env_findings {
    counting *c;
    const char *layer;
    bool strict;
} env_findings;

static int env_finding(void *ctx, const coffer_env_item *it)
{
    env_findings *F = ctx;
    if (it->status == COFFER_ENV_OK)
        return 0;
    char shown[128], msg[COFFER_ERROR_MESSAGE_MAX];
    show_key(shown, sizeof shown, it->key, it->keylen);
    int sev = 1;
    switch (it->status) {
    case COFFER_ENV_BAD_NAME:
        snprintf(msg, sizeof msg, "key '%s' cannot be exported as an "
                 "environment variable (empty or contains '=')", shown);
        break;
    case COFFER_ENV_NOT_PORTABLE:
        snprintf(msg, sizeof msg, "key '%s' is not a portable shell variable "
                 "name ([A-Za-z_][A-Za-z0-9_]*): not exported, and run unsets "
                 "it", shown);
        break;
    case COFFER_ENV_NUL_VALUE:
        snprintf(msg, sizeof msg, "the value of key '%s' contains a NUL byte: "
                 "not exported, and run unsets the variable", shown);
        break;
    case COFFER_ENV_DANGEROUS:
        sev = F->strict ? 2 : 1;
        snprintf(msg, sizeof msg, "key '%s' names a loader, shell or "
                 "interpreter variable: not exported unless allowed "
                 "(--allow-env or COFFER_ALLOW_ENV)", shown);
        break;
    default:
        snprintf(msg, sizeof msg, "key '%s': %s", shown,
                 coffer_env_status_text(it->status));
        break;
    }
    report(F->c, sev, F->layer, msg);
    return 0;
}

int coffer_store_check(coffer_store *s, coffer_check_fn fn, void *ctx)
{
    counting c = { fn, ctx, 0 };
    if (!s)
        return COFFER_EINVAL;
    coffer_error err;
    coffer_error_clear(&err);
    int rc = coffer_store_resolve(s, &err);
    if (rc) {
        report(&c, 2, err.file[0] ? err.file : NULL,
               err.message[0] ? err.message : coffer_strerror(rc));
        return rc;
    }
    coffer_region region;
    coffer_region_init(&region, s->alloc, 65536);
    coffer_arena arena;
    coffer_arena_init(&arena, &region.alloc, 4000);
    coffer_layer *layers = calloc(s->nsources ? s->nsources : 1, sizeof *layers);
    if (!layers) {
        coffer_arena_release(&arena);
        coffer_region_release(&region);
        return COFFER_ENOMEM;
    }
    size_t nl = 0, nexist = 0;
    coffer_loadctx lc;
    memset(&lc, 0, sizeof lc);
    lc.store = s;
    lc.arena = &arena;
    lc.alloc = &region.alloc;
    lc.max_input = s->parse.max_input;
    lc.strict = (s->flags & COFFER_STORE_STRICT_PERMS) != 0;
    lc.finding = report;
    lc.fctx = &c;
    for (size_t i = 0; i < s->nsources; i++) {
        coffer_source *src = &s->sources[i];
        coffer_error_clear(&err);
        rc = coffer_layer_load(&lc, src, &layers[nl], &err);
        if (rc == 1) {
            report(&c, 0, src->name, "not found");
            continue;
        }
        nexist++;
        if (rc < 0) {
            coffer_layer_release(&layers[nl]);
            report_error(&c, src, &err);
            if (rc == COFFER_ENOMEM)
                break;
            continue;
        }
        nl++;
    }
    /* Root keys that cannot become environment variables. */
    char msg[COFFER_ERROR_MESSAGE_MAX];
    for (size_t li = 0; li < nl; li++) {
        env_findings F = { &c, layers[li].name, lc.strict };
        if (coffer_env_plan(&layers[li].root, NULL, env_finding, &F) ==
            COFFER_ENOMEM)
            report(&c, 2, layers[li].name, "out of memory");
    }
    /* Shadowing: each root key of an earlier layer that a later one
     * replaces, reported against the final winner. */
    for (size_t li = 0; li < nl; li++) {
        const coffer_value *r = &layers[li].root;
        size_t n = coffer_table_count(r);
        for (size_t k = 0; k < n; k++) {
            const char *key;
            size_t kl;
            coffer_table_at(r, k, &key, &kl);
            size_t winner = li;
            for (size_t lj = li + 1; lj < nl; lj++)
                if (coffer_table_get(&layers[lj].root, key, kl))
                    winner = lj;
            if (winner == li)
                continue;
            char shown[128];
            show_key(shown, sizeof shown, key, kl);
            snprintf(msg, sizeof msg, "root key '%s' is shadowed by '%.80s'",
                     shown, layers[winner].name);
            report(&c, 0, layers[li].name, msg);
        }
    }
    for (size_t li = 0; li < nl; li++)
        coffer_layer_release(&layers[li]);
    coffer_arena_release(&arena);
    coffer_region_release(&region);
    free(layers);
    if (nexist == 0) {
        /* Same message as a load: every searched path in order. */
        coffer_error e2;
        int code = coffer_no_secrets_error(s, &e2);
        report(&c, 2, NULL, e2.message);
        return code;
    }
    return c.errors;
}
