/* sources.c - the source list: explicit paths, COFFER_SECRETS_FILES,
 * [secrets] files from config.toml, the default files, then
 * $CREDENTIALS_DIRECTORY, $COFFER_SECRETS and texts added in memory. */
#include "store/store_internal.h"
#include "remote/remote.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *coffer_source_kind_name(coffer_source_kind k)
{
    switch (k) {
    case COFFER_SOURCE_FILE: return "file";
    case COFFER_SOURCE_DIR: return "dir";
    case COFFER_SOURCE_FLAT: return "flat";
    case COFFER_SOURCE_TEXT: return "text";
    case COFFER_SOURCE_AUTO: return "auto";
    case COFFER_SOURCE_ETCD: return "etcd";
    case COFFER_SOURCE_DOTENV: return "dotenv";
    }
    return "unknown";
}

static bool ends_with_toml(const char *p)
{
    size_t n = strlen(p);
    return n >= 5 && strcmp(p + n - 5, ".toml") == 0;
}

/* Joins a relative path to base; "~/" expands to home. Returns malloc'd. */
static char *absolute(const coffer_store *s, const char *p, size_t n)
{
    char *out;
    if (n >= 2 && p[0] == '~' && p[1] == '/' && s->home) {
        size_t hl = strlen(s->home);
        out = malloc(hl + n);
        if (!out)
            return NULL;
        memcpy(out, s->home, hl);
        memcpy(out + hl, p + 1, n - 1);
        out[hl + n - 1] = '\0';
        return out;
    }
    if (n > 0 && p[0] == '/') {
        out = malloc(n + 1);
        if (!out)
            return NULL;
        memcpy(out, p, n);
        out[n] = '\0';
        return out;
    }
    while (n >= 2 && p[0] == '.' && p[1] == '/') {
        p += 2;
        n -= 2;
        while (n && *p == '/') {
            p++;
            n--;
        }
    }
    size_t cl = strlen(s->cwd);
    bool slash = cl > 0 && s->cwd[cl - 1] == '/';
    out = malloc(cl + n + 2);
    if (!out)
        return NULL;
    memcpy(out, s->cwd, cl);
    size_t k = cl;
    if (!slash)
        out[k++] = '/';
    memcpy(out + k, p, n);
    out[k + n] = '\0';
    return out;
}

static int grow_sources(coffer_source **arr, size_t *n, size_t *cap)
{
    if (*n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    coffer_source *p = realloc(*arr, nc * sizeof *p);
    if (!p)
        return COFFER_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

/* Adds an etcd source: the URL is its path and name. */
static int add_etcd(coffer_store *s, const char *p, size_t n,
                    coffer_error *err)
{
    if (grow_sources(&s->sources, &s->nsources, &s->capsources))
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    coffer_etcd *e;
    int rc = coffer_etcd_new(p, n, &e, err);
    if (rc)
        return rc;
    char *name = strdup(coffer_etcd_name(e));
    if (!name) {
        coffer_etcd_free(e);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    coffer_source *src = &s->sources[s->nsources++];
    memset(src, 0, sizeof *src);
    src->path = name;
    src->name = name;
    src->kind = COFFER_SOURCE_ETCD;
    src->remote = e;
    atomic_init(&src->resolved, (int)COFFER_SOURCE_ETCD);
    atomic_init(&src->found, 0);
    return 0;
}

/* Adds a path source (AUTO, FLAT with a "flat:" prefix, DOTENV with a
 * "dotenv:" prefix). */
static int add_path(coffer_store *s, const char *p, size_t n, bool force_flat,
                    coffer_error *err)
{
    coffer_source_kind kind = COFFER_SOURCE_AUTO;
    if (!force_flat && coffer_etcd_is_url(p, n))
        return add_etcd(s, p, n, err);
    if (force_flat) {
        kind = COFFER_SOURCE_FLAT;
    } else if (n >= 5 && memcmp(p, "flat:", 5) == 0) {
        kind = COFFER_SOURCE_FLAT;
        p += 5;
        n -= 5;
    } else if (n >= 7 && memcmp(p, "dotenv:", 7) == 0) {
        kind = COFFER_SOURCE_DOTENV;
        p += 7;
        n -= 7;
    }
    if (n == 0)
        return 0;
    if (grow_sources(&s->sources, &s->nsources, &s->capsources))
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    char *abs = absolute(s, p, n);
    if (!abs)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    coffer_source *src = &s->sources[s->nsources++];
    memset(src, 0, sizeof *src);
    src->path = abs;
    src->name = abs;
    src->kind = kind;
    coffer_source_kind r = kind;
    if (kind == COFFER_SOURCE_AUTO && ends_with_toml(abs))
        r = COFFER_SOURCE_FILE;
    atomic_init(&src->resolved, (int)r);
    atomic_init(&src->found, 0);
    return 0;
}

/* The one path rule for every configured entry (-f / opt->paths,
 * COFFER_SECRETS_FILES and STREAMLIT_SECRETS_FILES, [secrets] files): a
 * .toml file (present or not), an existing directory, "flat:DIR",
 * "dotenv:FILE" or an "etcd://" URL; anything else is COFFER_ECONFIG
 * naming the entry and where it was given (origin). line: the config
 * line, or 0. */
static int add_entry(coffer_store *s, const char *p, size_t n,
                     const char *origin, unsigned line, coffer_error *err)
{
    if (n == 0 || memchr(p, 0, n))
        return coffer_error_set(err, COFFER_ECONFIG, NULL, line, 0,
                                "empty source path in %s", origin);
    if (coffer_etcd_is_url(p, n))
        return add_etcd(s, p, n, err);
    if ((n >= 5 && memcmp(p, "flat:", 5) == 0) ||
        (n >= 7 && memcmp(p, "dotenv:", 7) == 0))
        return add_path(s, p, n, false, err);
    int rc = add_path(s, p, n, false, err);
    if (rc)
        return rc;
    coffer_source *src = &s->sources[s->nsources - 1];
    if (ends_with_toml(src->path))
        return 0;
    struct stat st;
    if (stat(src->path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    rc = coffer_error_set(err, COFFER_ECONFIG, NULL, line, 0,
                          "source '%s' in %s is neither a .toml file nor a "
                          "directory (use flat:DIR for one file per key)",
                          src->path, origin);
    coffer_source_free(s, src);
    s->nsources--;
    return rc;
}

static int add_text_source(coffer_store *s, const char *name, const char *text,
                           size_t len, coffer_source **arr, size_t *n,
                           size_t *cap, coffer_error *err)
{
    if (grow_sources(arr, n, cap))
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    char *nm = strdup(name);
    char *copy = s->alloc->alloc(s->alloc->ctx, len + 1);
    if (!nm || !copy) {
        free(nm);
        if (copy)
            s->alloc->release(s->alloc->ctx, copy, len + 1);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    coffer_source *src = &(*arr)[(*n)++];
    memset(src, 0, sizeof *src);
    src->path = (char *)"";
    src->name = nm;
    src->kind = COFFER_SOURCE_TEXT;
    atomic_init(&src->resolved, (int)COFFER_SOURCE_TEXT);
    atomic_init(&src->found, 1);
    src->text = copy;
    src->text_len = len;
    src->text_cap = len + 1;
    return 0;
}

void coffer_source_free(coffer_store *s, coffer_source *src)
{
    if (src->kind == COFFER_SOURCE_TEXT) {
        if (src->text) {
            coffer_memzero(src->text, src->text_cap);
            s->alloc->release(s->alloc->ctx, src->text, src->text_cap);
        }
        free(src->name);
    } else {
        if (src->remote)
            coffer_etcd_free(src->remote);
        free(src->path);
    }
    memset(src, 0, sizeof *src);
}

static void ignore_finding(void *ctx, int severity, const char *file,
                           const char *message)
{
    (void)ctx;
    (void)severity;
    (void)file;
    (void)message;
}

/* [secrets] files from one config.toml. Returns 1 if the file sets the
 * list (entries appended), 0 if not, or a negative code. */
static int config_files(coffer_store *s, const char *cfg, coffer_error *err)
{
    /* The configuration is not secret: plain memory, and permission
     * findings are ignored (config files are meant to be readable). */
    static const coffer_source none = { .path = (char *)"" };
    coffer_loadctx lc;
    memset(&lc, 0, sizeof lc);
    lc.store = s;
    lc.alloc = coffer_allocator_plain();
    lc.max_input = s->parse.max_input;
    lc.finding = ignore_finding;
    lc.src = &none;
    char *buf;
    size_t len, cap;
    int rc = coffer_file_read(&lc, cfg, &buf, &len, &cap, err);
    if (rc == 1)
        return 0;
    if (rc < 0)
        return rc;
    coffer_parse_options po = s->parse;
    po.allocator = coffer_allocator_plain();
    coffer_doc *doc = NULL;
    rc = coffer_toml_parse_owned(buf, len, cap, &po, &doc, err);
    if (rc) {
        if (err)
            snprintf(err->file, sizeof err->file, "%s", cfg);
        return rc;
    }
    const coffer_value *sec = coffer_table_get(coffer_doc_root(doc), "secrets", 7);
    const coffer_value *files = sec ? coffer_table_get(sec, "files", 5) : NULL;
    if (!files) {
        coffer_doc_free(doc);
        return 0;
    }
    if (coffer_value_type(files) != COFFER_TYPE_ARRAY) {
        rc = coffer_error_set(err, COFFER_ECONFIG, cfg, coffer_value_line(files),
                              coffer_value_column(files),
                              "[secrets] files in '%s' must be an array of paths",
                              cfg);
        coffer_doc_free(doc);
        return rc;
    }
    size_t first = s->nsources;
    for (size_t i = 0; i < coffer_array_count(files); i++) {
        const coffer_value *e = coffer_array_at(files, i);
        const char *p;
        size_t n;
        if (coffer_value_string(e, &p, &n) != 0 || n == 0 || memchr(p, 0, n)) {
            rc = coffer_error_set(err, COFFER_ECONFIG, cfg, coffer_value_line(e),
                                  coffer_value_column(e),
                                  "[secrets] files entry %zu in '%s' is not a path",
                                  i + 1, cfg);
            goto fail;
        }
        rc = add_entry(s, p, n, "[secrets] files", coffer_value_line(e), err);
        if (rc) {
            if (err && !err->file[0])
                snprintf(err->file, sizeof err->file, "%s", cfg);
            goto fail;
        }
    }
    coffer_doc_free(doc);
    return 1;
fail:
    while (s->nsources > first)
        coffer_source_free(s, &s->sources[--s->nsources]);
    coffer_doc_free(doc);
    return rc;
}

static int resolve_locked(coffer_store *s, coffer_error *err)
{
    int rc = 0;
    if (s->opt_path_count) {
        for (size_t i = 0; i < s->opt_path_count && !rc; i++)
            rc = add_entry(s, s->opt_paths[i], strlen(s->opt_paths[i]),
                           "the given paths (-f)", 0, err);
    } else if (s->env_files && *s->env_files) {
        const char *p = s->env_files;
        while (!rc) {
            /* An etcd URL holds ':'s of its own: it ends at the first
             * ':' after its key begins. */
            const char *c;
            if (coffer_etcd_is_url(p, strlen(p))) {
                c = p + coffer_etcd_url_span(p);
                if (!*c)
                    c = NULL;
            } else {
                c = strchr(p, ':');
                /* "flat:" and "dotenv:" prefixes and "etcd://" are not
                 * separators. */
                while (c && ((c - p == 4 && memcmp(p, "flat", 4) == 0) ||
                             (c - p == 6 && memcmp(p, "dotenv", 6) == 0) ||
                             (c - p == 4 && memcmp(p, "etcd", 4) == 0 &&
                              c[1] == '/' && c[2] == '/')))
                    c = strchr(c + 1, ':');
            }
            size_t n = c ? (size_t)(c - p) : strlen(p);
            if (n) /* empty entries ("a::b", a trailing ':') are skipped */
                rc = add_entry(s, p, n, s->env_files_name, 0, err);
            if (!c)
                break;
            p = c + 1;
        }
    } else {
        /* Project config wins over the global one. */
        char cfg[COFFER_ERROR_PATH_MAX];
        rc = 0;
        snprintf(cfg, sizeof cfg, "%s%s.streamlit/config.toml", s->cwd,
                 s->cwd[strlen(s->cwd) - 1] == '/' ? "" : "/");
        rc = config_files(s, cfg, err);
        if (rc == 0 && s->home && strcmp(s->home, s->cwd) != 0) {
            snprintf(cfg, sizeof cfg, "%s/.streamlit/config.toml", s->home);
            rc = config_files(s, cfg, err);
        }
        if (rc == 0) {
            if (s->home) {
                snprintf(cfg, sizeof cfg, "%s/.streamlit/secrets.toml", s->home);
                rc = add_path(s, cfg, strlen(cfg), false, err);
            }
            /* Started from $HOME: both defaults are one file; read it once. */
            if (!rc && !(s->nsources &&
                         strcmp(s->sources[s->nsources - 1].path, cfg) == 0 &&
                         strcmp(s->cwd, s->home ? s->home : "") == 0))
                rc = add_path(s, ".streamlit/secrets.toml", 23, false, err);
        } else if (rc == 1) {
            rc = 0;
        }
    }
    if (!rc && s->env_credentials && *s->env_credentials)
        rc = add_path(s, s->env_credentials, strlen(s->env_credentials), true,
                      err);
    if (!rc && s->env_text)
        rc = add_text_source(s, "$COFFER_SECRETS", s->env_text, s->env_text_len,
                             &s->sources, &s->nsources, &s->capsources, err);
    for (size_t i = 0; !rc && i < s->ntexts; i++) {
        if (grow_sources(&s->sources, &s->nsources, &s->capsources)) {
            rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
            break;
        }
        s->sources[s->nsources++] = s->texts[i];
        memset(&s->texts[i], 0, sizeof s->texts[i]);
    }
    if (!rc)
        s->ntexts = 0;
    return rc;
}

int coffer_store_resolve(coffer_store *s, coffer_error *err)
{
    if (atomic_load_explicit(&s->resolved, memory_order_acquire)) {
        if (s->res_code && err)
            *err = s->res_err;
        return s->res_code;
    }
    pthread_mutex_lock(&s->res_lock);
    if (!atomic_load_explicit(&s->resolved, memory_order_relaxed)) {
        coffer_error_clear(&s->res_err);
        s->res_code = resolve_locked(s, &s->res_err);
        atomic_store_explicit(&s->resolved, true, memory_order_release);
    }
    pthread_mutex_unlock(&s->res_lock);
    if (s->res_code && err)
        *err = s->res_err;
    return s->res_code;
}

int coffer_store_add_text(coffer_store *s, const char *name, const char *toml,
                          size_t len, coffer_error *err)
{
    if (!s || (!toml && len))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to coffer_store_add_text");
    if (!name || !*name)
        name = "<text>";
    if (!toml)
        toml = "";
    int rc;
    pthread_mutex_lock(&s->res_lock);
    if (atomic_load(&s->loaded_once)) {
        rc = coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                              "text sources must be added before the first access");
    } else if (atomic_load(&s->resolved)) {
        rc = add_text_source(s, name, toml, len, &s->sources, &s->nsources,
                             &s->capsources, err);
        s->wt_done = false;
    } else {
        rc = add_text_source(s, name, toml, len, &s->texts, &s->ntexts,
                             &s->captexts, err);
    }
    pthread_mutex_unlock(&s->res_lock);
    return rc;
}

size_t coffer_store_source_count(coffer_store *s)
{
    if (!s || coffer_store_resolve(s, NULL))
        return 0;
    return s->nsources;
}

int coffer_store_source(coffer_store *s, size_t i, coffer_source_info *out)
{
    if (!s || !out)
        return COFFER_EINVAL;
    if (coffer_store_resolve(s, NULL))
        return s->res_code;
    if (i >= s->nsources)
        return COFFER_EINVAL;
    coffer_source *src = &s->sources[i];
    out->path = src->path;
    out->name = src->name;
    coffer_source_kind k = (coffer_source_kind)atomic_load(&src->resolved);
    bool found = atomic_load(&src->found) != 0;
    if (!atomic_load(&s->loaded_once) && src->kind != COFFER_SOURCE_TEXT &&
        src->kind != COFFER_SOURCE_ETCD) {
        struct stat st;
        found = stat(src->path, &st) == 0;
        if (found && src->kind == COFFER_SOURCE_AUTO &&
            k == COFFER_SOURCE_AUTO)
            k = S_ISDIR(st.st_mode) ? COFFER_SOURCE_DIR : COFFER_SOURCE_FILE;
    }
    if (k == COFFER_SOURCE_AUTO)
        k = COFFER_SOURCE_FILE;
    out->kind = k;
    out->found = found;
    return 0;
}

int coffer_store_source_describe(coffer_store *s, size_t i, char *buf,
                                 size_t n)
{
    if (!s || !buf || !n)
        return COFFER_EINVAL;
    if (coffer_store_resolve(s, NULL))
        return s->res_code;
    if (i >= s->nsources)
        return COFFER_EINVAL;
    const coffer_source *src = &s->sources[i];
    if (src->kind == COFFER_SOURCE_ETCD)
        coffer_etcd_describe(src->remote, buf, n);
    else
        snprintf(buf, n, "%s", src->name && *src->name ? src->name : src->path);
    return 0;
}

size_t coffer_store_watch_targets(coffer_store *s, const char ***paths,
                                  coffer_source_kind **kinds)
{
    if (paths)
        *paths = NULL;
    if (kinds)
        *kinds = NULL;
    if (!s || coffer_store_resolve(s, NULL))
        return 0;
    pthread_mutex_lock(&s->res_lock);
    if (!s->wt_done) {
        free(s->wt_paths);
        free(s->wt_kinds);
        s->wt_paths = calloc(s->nsources + 1, sizeof *s->wt_paths);
        s->wt_kinds = calloc(s->nsources + 1, sizeof *s->wt_kinds);
        s->nwt = 0;
        if (s->wt_paths && s->wt_kinds) {
            for (size_t i = 0; i < s->nsources; i++) {
                coffer_source *src = &s->sources[i];
                if (src->kind == COFFER_SOURCE_TEXT ||
                    src->kind == COFFER_SOURCE_ETCD) /* watched by its own thread */
                    continue;
                coffer_source_kind k =
                    (coffer_source_kind)atomic_load(&src->resolved);
                if (k == COFFER_SOURCE_AUTO) {
                    struct stat st;
                    if (stat(src->path, &st) == 0)
                        k = S_ISDIR(st.st_mode) ? COFFER_SOURCE_DIR
                                                : COFFER_SOURCE_FILE;
                }
                s->wt_paths[s->nwt] = src->path;
                s->wt_kinds[s->nwt] = k;
                s->nwt++;
            }
            s->wt_done = true;
        }
    }
    size_t n = s->nwt;
    if (paths)
        *paths = s->wt_paths;
    if (kinds)
        *kinds = s->wt_kinds;
    pthread_mutex_unlock(&s->res_lock);
    return n;
}
