/* store.c - opening and closing stores, snapshots and their reference
 * counts, loading, reloading and swapping, the default store. */
#include "store/crypt.h"
#include "store/store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void coffer_store_diag(const coffer_store *s, const char *file,
                       const char *message)
{
    if (s && s->diag) {
        s->diag(s->diag_ctx, file, message);
        return;
    }
    if (file && *file && !strstr(message, file))
        fprintf(stderr, "coffer: warning: %s: %s\n", file, message);
    else
        fprintf(stderr, "coffer: warning: %s\n", message);
}

int coffer_env_strict(bool *strict, coffer_error *err)
{
    static const char *const on[] = { "1", "true", "yes", "on" };
    static const char *const off[] = { "", "0", "false", "no", "off" };
    *strict = false;
    const char *v = getenv("COFFER_STRICT");
    if (!v)
        return 0;
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        if (strcasecmp(v, on[i]) == 0) {
            *strict = true;
            return 0;
        }
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (strcasecmp(v, off[i]) == 0)
            return 0;
    /* Fail closed: a value meant to turn strict mode on must not leave it
     * off silently. The value is configuration, not a secret. */
    return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                            "invalid COFFER_STRICT value '%.40s' (use 1, true, "
                            "yes, on, or 0, false, no, off)", v);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* A copy of environment variable name in the store's secure memory;
 * returns 1 when out of memory. */
static int copy_secret_env(const char *name, coffer_store *s, char **out,
                           size_t *len, size_t *cap)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    size_t n = strlen(v);
    *out = s->alloc->alloc(s->alloc->ctx, n + 1);
    if (!*out)
        return 1;
    memcpy(*out, v, n + 1);
    *len = n;
    *cap = n + 1;
    return 0;
}

static void free_secret(coffer_store *s, char *p, size_t cap)
{
    if (p) {
        coffer_memzero(p, cap);
        s->alloc->release(s->alloc->ctx, p, cap);
    }
}

/* True if [p, p+n) lies in one writable mapping of this process (the
 * initial environment on the stack, or libc's heap copy from setenv; not
 * a string literal handed to putenv). */
static bool writable(const void *p, size_t n)
{
#ifdef __linux__
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return false;
    uintptr_t a = (uintptr_t)p, b = a + n;
    char line[512];
    bool ok = false;
    while (!ok && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 &&
            lo <= a && b <= hi)
            ok = perms[0] == 'r' && perms[1] == 'w';
    }
    fclose(f);
    return ok;
#else
    (void)p;
    (void)n;
    return false;
#endif
}

/* $COFFER_SECRETS, once copied: its bytes in the environment (for the
 * program's initial environment, the block on the stack that
 * /proc/PID/environ and core dumps show) are overwritten in place, then
 * the variable is unset, so the first store opened takes it and no copy
 * stays behind. See docs/SECURITY.md for what this cannot reach. */
static void scrub_env_text(char *txt, size_t n)
{
    if (writable(txt, n))
        coffer_memzero(txt, n);
    unsetenv("COFFER_SECRETS");
}

int coffer_store_open(const coffer_store_options *opt, coffer_store **out,
                      coffer_error *err)
{
    coffer_error_clear(err);
    if (!out)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to coffer_store_open");
    *out = NULL;
    coffer_store_options def;
    if (!opt) {
        memset(&def, 0, sizeof def);
        opt = &def;
    }
    coffer_store *s = calloc(1, sizeof *s);
    if (!s)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    pthread_mutex_init(&s->res_lock, NULL);
    pthread_mutex_init(&s->snap_lock, NULL);
    pthread_mutex_init(&s->reload_lock, NULL);
    pthread_mutex_init(&s->env_lock, NULL);
    pthread_mutex_init(&s->id_lock, NULL);
    atomic_init(&s->resolved, false);
    atomic_init(&s->loaded_once, false);
    s->flags = opt->flags;
    bool strict;
    int src = coffer_env_strict(&strict, err);
    if (src) {
        coffer_store_close(s);
        return src;
    }
    if (strict)
        s->flags |= COFFER_STORE_STRICT_PERMS;
    s->diag = opt->diag;
    s->diag_ctx = opt->diag_ctx;
    s->alloc = (s->flags & COFFER_STORE_PLAIN_MEMORY) ? coffer_allocator_plain()
                                                       : coffer_allocator_secure();
    s->parse = opt->parse;
    s->parse.allocator = s->alloc;
    /* The diff and other walkers recurse once per level. */
    if (!s->parse.max_depth || s->parse.max_depth > COFFER_MAX_DEPTH)
        s->parse.max_depth = COFFER_MAX_DEPTH;

    /* The working directory: opt->cwd (made absolute) or getcwd(). */
    char cwdbuf[COFFER_ERROR_PATH_MAX];
    if (!getcwd(cwdbuf, sizeof cwdbuf))
        snprintf(cwdbuf, sizeof cwdbuf, "/");
    if (opt->cwd && opt->cwd[0] == '/') {
        s->cwd = strdup(opt->cwd);
    } else if (opt->cwd && opt->cwd[0]) {
        size_t n = strlen(cwdbuf) + strlen(opt->cwd) + 2;
        s->cwd = malloc(n);
        if (s->cwd)
            snprintf(s->cwd, n, "%s/%s", strcmp(cwdbuf, "/") ? cwdbuf : "",
                     opt->cwd);
    } else {
        s->cwd = strdup(cwdbuf);
    }
    /* Trailing slashes make joined paths look odd. */
    if (s->cwd) {
        size_t n = strlen(s->cwd);
        while (n > 1 && s->cwd[n - 1] == '/')
            s->cwd[--n] = '\0';
    }
    const char *home = getenv("HOME");
    s->home = home && *home ? strdup(home) : NULL;
    if (s->home) {
        size_t n = strlen(s->home);
        while (n > 1 && s->home[n - 1] == '/')
            s->home[--n] = '\0';
    }
    int bad = !s->cwd || (home && *home && !s->home);
    /* The directory rule's stops, resolved once (file.c). */
    s->real_cwd = s->cwd ? realpath(s->cwd, NULL) : NULL;
    s->real_home = s->home ? realpath(s->home, NULL) : NULL;
    if (!(s->flags & COFFER_STORE_NO_ENV_SOURCES)) {
        const char *cd = getenv("CREDENTIALS_DIRECTORY");
        s->env_credentials = dup_or_null(cd && *cd ? cd : NULL);
        bad |= cd && *cd && !s->env_credentials;
        char *txt = getenv("COFFER_SECRETS");
        if (txt && *txt) { /* empty counts as unset: no silent empty source */
            size_t n = strlen(txt);
            s->env_text = s->alloc->alloc(s->alloc->ctx, n + 1);
            if (s->env_text) {
                memcpy(s->env_text, txt, n + 1);
                s->env_text_len = n;
                s->env_text_cap = n + 1;
                scrub_env_text(txt, n);
            } else {
                bad = 1;
            }
        }
    }
    /* identities for encrypted sources: copied now (secure memory for the
     * key and the passphrase), read from files on first need */
    bad |= copy_secret_env("COFFER_AGE_KEY", s, &s->env_age_key,
                           &s->env_age_key_len, &s->env_age_key_cap);
    bad |= copy_secret_env("COFFER_AGE_PASSPHRASE", s, &s->env_age_pass,
                           &s->env_age_pass_len, &s->env_age_pass_cap);
    const char *kf = getenv("COFFER_AGE_KEY_FILE");
    s->env_age_key_file = dup_or_null(kf && *kf ? kf : NULL);
    bad |= kf && *kf && !s->env_age_key_file;
    if (opt->path_count && opt->paths) {
        s->opt_paths = calloc(opt->path_count, sizeof *s->opt_paths);
        bad |= !s->opt_paths;
        for (size_t i = 0; !bad && i < opt->path_count; i++) {
            if (!opt->paths[i]) {
                coffer_store_close(s);
                return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                        "source path %zu is NULL", i);
            }
            s->opt_paths[i] = strdup(opt->paths[i]);
            bad |= !s->opt_paths[i];
            s->opt_path_count = i + 1;
        }
    } else {
        /* STREAMLIT_SECRETS_FILES (the convention's own variable) is an
         * alias; COFFER_SECRETS_FILES wins when both are set. */
        const char *ef = getenv("COFFER_SECRETS_FILES");
        s->env_files_name = "COFFER_SECRETS_FILES";
        if (!ef || !*ef) {
            ef = getenv("STREAMLIT_SECRETS_FILES");
            s->env_files_name = "STREAMLIT_SECRETS_FILES";
        }
        s->env_files = dup_or_null(ef && *ef ? ef : NULL);
        bad |= ef && *ef && !s->env_files;
    }
    if (bad) {
        coffer_store_close(s);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    *out = s;
    return 0;
}

void coffer_store_close(coffer_store *s)
{
    if (!s)
        return;
    if (s->watch && s->watch_stop)
        s->watch_stop(s->watch);
    s->watch = NULL;
    coffer_snapshot_release(s->cur);
    s->cur = NULL;
    coffer_env_forget(s);
    for (size_t i = 0; i < s->nsources; i++)
        coffer_source_free(s, &s->sources[i]);
    for (size_t i = 0; i < s->ntexts; i++)
        coffer_source_free(s, &s->texts[i]);
    free(s->sources);
    free(s->texts);
    free(s->wt_paths);
    free(s->wt_kinds);
    for (size_t i = 0; i < s->opt_path_count; i++)
        free(s->opt_paths[i]);
    free(s->opt_paths);
    free_secret(s, s->env_text, s->env_text_cap);
    free_secret(s, s->env_age_key, s->env_age_key_cap);
    free_secret(s, s->env_age_pass, s->env_age_pass_cap);
    coffer_crypt_store_release(s);
    free(s->env_age_key_file);
    free(s->cwd);
    free(s->home);
    free(s->real_cwd);
    free(s->real_home);
    free(s->env_files);
    free(s->env_credentials);
    pthread_mutex_destroy(&s->res_lock);
    pthread_mutex_destroy(&s->snap_lock);
    pthread_mutex_destroy(&s->reload_lock);
    pthread_mutex_destroy(&s->env_lock);
    pthread_mutex_destroy(&s->id_lock);
    free(s);
}

/* ---------------------------------------------------------- snapshots */

coffer_snapshot *coffer_snapshot_retain(coffer_snapshot *snap)
{
    if (snap)
        atomic_fetch_add_explicit(&snap->refs, 1, memory_order_relaxed);
    return snap;
}

void coffer_snapshot_release(coffer_snapshot *snap)
{
    if (!snap)
        return;
    if (atomic_fetch_sub_explicit(&snap->refs, 1, memory_order_acq_rel) == 1)
        coffer_snapshot_destroy(snap);
}

const coffer_value *coffer_snapshot_root(const coffer_snapshot *snap)
{
    return snap ? &snap->root : NULL;
}

uint64_t coffer_snapshot_generation(const coffer_snapshot *snap)
{
    return snap ? snap->generation : 0;
}

static atomic_bool lock_warned;

/* After a load: the memory-lock policy. */
static int lock_policy(coffer_store *s, coffer_error *err)
{
    if ((s->flags & COFFER_STORE_PLAIN_MEMORY) || !coffer_memory_lock_failed())
        return 0;
    if (s->flags & COFFER_STORE_REQUIRE_LOCK)
        return coffer_error_set(err, COFFER_ELOCK, NULL, 0, 0,
                                "cannot lock secret memory (RLIMIT_MEMLOCK) and "
                                "locking is required");
    if (!atomic_exchange(&lock_warned, true))
        coffer_store_diag(s, NULL,
                          "cannot lock secret memory (RLIMIT_MEMLOCK); secrets "
                          "may be swapped");
    return 0;
}

static coffer_snapshot *current(coffer_store *s)
{
    pthread_mutex_lock(&s->snap_lock);
    coffer_snapshot *snap = coffer_snapshot_retain(s->cur);
    pthread_mutex_unlock(&s->snap_lock);
    return snap;
}

/* Publishes snap (which holds one reference, now the store's) and drops
 * the store's reference to the previous one outside the lock. */
static void publish(coffer_store *s, coffer_snapshot *snap)
{
    pthread_mutex_lock(&s->snap_lock);
    coffer_snapshot *old = s->cur;
    snap->generation = ++s->generation;
    s->cur = snap;
    pthread_mutex_unlock(&s->snap_lock);
    atomic_store(&s->loaded_once, true);
    coffer_snapshot_release(old);
}

/* Called with reload_lock held. */
static int build(coffer_store *s, coffer_snapshot **out, coffer_error *err)
{
    int rc = coffer_snapshot_build(s, out, err);
    if (rc)
        return rc;
    rc = lock_policy(s, err);
    if (rc) {
        coffer_snapshot_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int coffer_store_acquire(coffer_store *s, coffer_snapshot **out,
                         coffer_error *err)
{
    if (!s || !out)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to coffer_store_acquire");
    *out = current(s);
    if (*out)
        return 0;
    pthread_mutex_lock(&s->reload_lock);
    *out = current(s); /* another thread may have loaded meanwhile */
    if (!*out) {
        coffer_snapshot *snap;
        int rc = build(s, &snap, err);
        if (rc) {
            pthread_mutex_unlock(&s->reload_lock);
            return rc;
        }
        publish(s, snap);
        *out = current(s);
    }
    pthread_mutex_unlock(&s->reload_lock);
    return 0;
}

int coffer_store_reload_diff(coffer_store *s, coffer_diff *diff,
                             coffer_error *err)
{
    return coffer_store_reload_checked(s, diff, NULL, NULL, err);
}

int coffer_store_reload_checked(coffer_store *s, coffer_diff *diff,
                                bool (*is_current)(void *ctx), void *ctx,
                                coffer_error *err)
{
    if (diff)
        memset(diff, 0, sizeof *diff);
    if (!s)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to coffer_store_reload");
    pthread_mutex_lock(&s->reload_lock);
    coffer_snapshot *snap;
    int rc = build(s, &snap, err);
    if (rc) {
        pthread_mutex_unlock(&s->reload_lock);
        return rc;
    }
    if (is_current && !is_current(ctx)) {
        coffer_snapshot_destroy(snap);
        pthread_mutex_unlock(&s->reload_lock);
        return COFFER_RELOAD_STALE;
    }
    coffer_snapshot *old = current(s);
    coffer_diff d;
    rc = coffer_diff_compute(old ? &old->root : NULL, &snap->root, &d);
    if (rc) {
        coffer_snapshot_release(old);
        coffer_snapshot_destroy(snap);
        pthread_mutex_unlock(&s->reload_lock);
        if (rc == COFFER_ELIMIT)
            return coffer_error_set(err, rc, NULL, 0, 0,
                                    "nesting deeper than %u levels",
                                    (unsigned)COFFER_MAX_DEPTH);
        return coffer_error_set(err, rc, NULL, 0, 0, "out of memory");
    }
    if (old && d.nadded == 0 && d.nchanged == 0 && d.nremoved == 0) {
        coffer_snapshot_release(old);
        coffer_snapshot_destroy(snap);
        coffer_diff_release(&d);
        pthread_mutex_unlock(&s->reload_lock);
        return 0;
    }
    coffer_snapshot_release(old);
    publish(s, snap);
    pthread_mutex_unlock(&s->reload_lock);
    if (diff)
        *diff = d;
    else
        coffer_diff_release(&d);
    return 1;
}

int coffer_store_reload(coffer_store *s, coffer_error *err)
{
    int rc = coffer_store_reload_diff(s, NULL, err);
    return rc < 0 ? rc : 0;
}

struct coffer_watch *coffer_store_watch_state(coffer_store *s)
{
    return s ? s->watch : NULL;
}

void coffer_store_set_watch_state(coffer_store *s, struct coffer_watch *w,
                                  void (*stop)(struct coffer_watch *))
{
    if (!s)
        return;
    s->watch = w;
    s->watch_stop = stop;
}

/* ------------------------------------------------------ default store */

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static coffer_store *default_store;

static void default_open(void)
{
    if (coffer_store_open(NULL, &default_store, NULL) != 0)
        default_store = NULL;
}

coffer_store *coffer_default_store(void)
{
    pthread_once(&default_once, default_open);
    return default_store;
}
