/* load.c - loading sources into layers, merging layers into a snapshot. */
#include "store/crypt.h"
#include "store/store_internal.h"
#include "remote/remote.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ------------------------------------------------------------ helpers */

static int add_prov(coffer_loadctx *lc, coffer_layer *layer, const void *id,
                    const char *file)
{
    if (layer->nprov == layer->capprov) {
        size_t cap = layer->capprov ? layer->capprov * 2 : 16;
        coffer_prov *p = coffer_arena_alloc(lc->arena, cap * sizeof *p);
        if (!p)
            return COFFER_ENOMEM;
        if (layer->nprov)
            memcpy(p, layer->prov, layer->nprov * sizeof *p);
        layer->prov = p;
        layer->capprov = cap;
    }
    layer->prov[layer->nprov].id = id;
    layer->prov[layer->nprov].file = file;
    layer->nprov++;
    return 0;
}

static char *join(coffer_arena *a, const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    bool slash = dl > 0 && dir[dl - 1] == '/';
    char *p = coffer_arena_alloc(a, dl + nl + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, dl);
    size_t k = dl;
    if (!slash)
        p[k++] = '/';
    memcpy(p + k, name, nl + 1);
    return p;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_hidden(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void free_names(struct dirent **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* walk_dir's answer when the directory itself does not exist (it may have
 * vanished during a swap): the caller decides what a missing one means. */
#define DIR_VANISHED 1

typedef int (*entry_fn)(coffer_loadctx *lc, const char *path,
                        const char *name, void *ctx, coffer_error *err);

/* Calls fn for each entry of dir not starting with '.', in byte order of
 * the names, with the entry's path. fn returns 0 to go on or a negative
 * error to stop. Returns 0, DIR_VANISHED, or the first error. */
static int walk_dir(coffer_loadctx *lc, const char *dir, entry_fn fn,
                    void *ctx, coffer_error *err)
{
    struct dirent **names;
    int n = scandir(dir, &names, not_hidden, by_name);
    if (n < 0) {
        int e = errno;
        if (e == ENOENT)
            return DIR_VANISHED;
        coffer_error_set(err, COFFER_EIO, dir, 0, 0,
                         "cannot read directory '%s': %s", dir, strerror(e));
        if (err)
            err->sys_errno = e;
        return COFFER_EIO;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char *path = join(lc->arena, dir, names[i]->d_name);
        rc = path ? fn(lc, path, names[i]->d_name, ctx, err)
                  : coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                     "out of memory");
    }
    free_names(names, n);
    return rc;
}

/* stat() of a directory entry: 0, 1 if it is gone (a dangling link during
 * a swap), or an error. */
static int stat_entry(const char *path, struct stat *st, coffer_error *err)
{
    if (stat(path, st) == 0)
        return 0;
    if (errno == ENOENT)
        return 1;
    return coffer_error_set(err, COFFER_EIO, path, 0, 0, "cannot stat '%s': %s",
                            path, strerror(errno));
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

/* Reads one directory file into a string node's value. strip: whitespace
 * around (DIR); else one trailing LF/CRLF (FLAT). The block becomes part
 * of the snapshot's arena. Returns 0, 1 if it vanished, or an error. */
static int read_value(coffer_loadctx *lc, const char *path, bool strip,
                      const char **out, size_t *outlen, coffer_error *err)
{
    char *buf;
    size_t len, cap;
    int rc = coffer_file_read(lc, path, &buf, &len, &cap, err);
    if (rc)
        return rc;
    if (coffer_arena_adopt(lc->arena, buf, cap) != 0) {
        coffer_memzero(buf, cap);
        lc->alloc->release(lc->alloc->ctx, buf, cap);
        return coffer_error_set(err, COFFER_ENOMEM, path, 0, 0, "out of memory");
    }
    char *b = buf, *e = buf + len;
    if (strip) {
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
    } else {
        if (e > b && e[-1] == '\n') {
            e--;
            if (e > b && e[-1] == '\r')
                e--;
        }
    }
    if (!coffer_utf8_valid(b, (size_t)(e - b)))
        return coffer_error_set(err, COFFER_EIO, path, 0, 0,
                                "'%s' is not valid utf-8", path);
    if ((size_t)(e - b) > UINT32_MAX)
        return coffer_error_set(err, COFFER_ELIMIT, path, 0, 0,
                                "'%s' is too large", path);
    *e = '\0';
    *out = b;
    *outlen = (size_t)(e - b);
    return 0;
}

static coffer_value *push(coffer_loadctx *lc, coffer_value *table,
                          const char *name, coffer_error *err)
{
    size_t n = strlen(name);
    if (n > UINT16_MAX) {
        coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0, "name too long");
        return NULL;
    }
    char *key = coffer_arena_strndup(lc->arena, name, n);
    coffer_value *v = key ? coffer_container_push(lc->arena, table->u.c, key, n)
                          : NULL;
    if (!v)
        coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    return v;
}

static int new_table(coffer_loadctx *lc, coffer_value *v)
{
    coffer_container *c = coffer_arena_alloc(lc->arena, sizeof *c);
    if (!c)
        return COFFER_ENOMEM;
    memset(c, 0, sizeof *c);
    v->type = COFFER_TYPE_TABLE;
    v->u.c = c;
    return 0;
}

static void set_string(coffer_value *v, const char *s, size_t n)
{
    v->type = COFFER_TYPE_STRING;
    v->u.s = s;
    v->len = (uint32_t)n;
    v->line = 1;
    v->col = 1;
}

/* -------------------------------------------------------------- FLAT */

static int flat_entry(coffer_loadctx *lc, const char *path,
                      const char *name, void *ctx, coffer_error *err)
{
    coffer_layer *layer = ctx;
    const char *val;
    size_t len;
    int rc = read_value(lc, path, false, &val, &len, err);
    if (rc)
        return rc == 1 ? 0 : rc; /* 1: removed meanwhile */
    coffer_value *v = push(lc, &layer->root, name, err);
    if (!v)
        return err ? err->code : COFFER_ENOMEM;
    set_string(v, val, len);
    return add_prov(lc, layer, val, path);
}

static int load_flat(coffer_loadctx *lc, const char *dir, coffer_layer *layer,
                     coffer_error *err)
{
    return walk_dir(lc, dir, flat_entry, layer, err);
}

/* --------------------------------------------------------------- DIR */

/* One key directory (DIR/KEY/): a lone file is the key's string value;
 * two or more make a table of strings. */
struct keydir {
    coffer_layer *layer;
    const char *kdir;
    const char *vals[2], *paths[2];
    size_t lens[2];
    int nfiles;
    coffer_value tbl;
};

static int keydir_entry(coffer_loadctx *lc, const char *path,
                        const char *name, void *ctx, coffer_error *err)
{
    struct keydir *k = ctx;
    struct stat st;
    int rc = stat_entry(path, &st, err);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (S_ISDIR(st.st_mode))
        return coffer_error_set(err, COFFER_ELAYOUT, path, 0, 0,
                                "'%s' is a directory inside key directory "
                                "'%s'; expected only files (DIR/KEY/NAME)",
                                path, k->kdir);
    const char *val;
    size_t len;
    rc = read_value(lc, path, true, &val, &len, err);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (k->nfiles < 2) {
        k->vals[k->nfiles] = val;
        k->lens[k->nfiles] = len;
        k->paths[k->nfiles] = path;
    }
    k->nfiles++;
    if (k->nfiles == 2) { /* a table after all: move the first one in */
        if (new_table(lc, &k->tbl))
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                    "out of memory");
        coffer_value *m = push(lc, &k->tbl, strrchr(k->paths[0], '/') + 1, err);
        if (!m)
            return err ? err->code : COFFER_ENOMEM;
        set_string(m, k->vals[0], k->lens[0]);
    }
    if (k->nfiles >= 2) {
        coffer_value *m = push(lc, &k->tbl, name, err);
        if (!m)
            return err ? err->code : COFFER_ENOMEM;
        set_string(m, val, len);
    }
    return add_prov(lc, k->layer, val, path);
}

static int load_keydir(coffer_loadctx *lc, const char *kdir, const char *key,
                       coffer_layer *layer, coffer_error *err)
{
    struct keydir k;
    memset(&k, 0, sizeof k);
    k.layer = layer;
    k.kdir = kdir;
    int rc = walk_dir(lc, kdir, keydir_entry, &k, err);
    if (rc == DIR_VANISHED)
        return 0;
    if (rc < 0)
        return rc;
    coffer_value *v = push(lc, &layer->root, key, err);
    if (!v)
        return err ? err->code : COFFER_ENOMEM;
    /* One file keeps the Secret's shape (a table with one key), except
     * the documented single-value form DIR/KEY/KEY. */
    if (k.nfiles == 1 && strcmp(strrchr(k.paths[0], '/') + 1, key) == 0) {
        set_string(v, k.vals[0], k.lens[0]);
        return 0;
    }
    if (k.nfiles <= 1 && new_table(lc, &k.tbl))
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    if (k.nfiles == 1) {
        coffer_value *m = push(lc, &k.tbl, strrchr(k.paths[0], '/') + 1, err);
        if (!m)
            return err ? err->code : COFFER_ENOMEM;
        set_string(m, k.vals[0], k.lens[0]);
    }
    const char *kname = v->key;
    uint16_t kl = v->keylen;
    *v = k.tbl;
    v->key = kname;
    v->keylen = kl;
    v->line = 1;
    v->col = 1;
    const char *kd = coffer_arena_strndup(lc->arena, kdir, strlen(kdir));
    if (!kd || add_prov(lc, layer, v->u.c, kd))
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    return 0;
}

struct topdir {
    coffer_layer *layer;
    const char *dir;
};

static int dir_entry(coffer_loadctx *lc, const char *path, const char *name,
                     void *ctx, coffer_error *err)
{
    const struct topdir *t = ctx;
    struct stat st;
    int rc = stat_entry(path, &st, err);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!S_ISDIR(st.st_mode))
        return coffer_error_set(err, COFFER_ELAYOUT, path, 0, 0,
                                "'%s' is a file at the top level of a "
                                "secrets directory (one sub-directory per "
                                "key: KEY/NAME, KEY/KEY); for one file per "
                                "key use flat:%s",
                                path, t->dir);
    return load_keydir(lc, path, name, t->layer, err);
}

/* A kubelet Secret volume: the mount holds a "..data" symlink to the
 * current "..DATE" directory and one symlink per key through it. */
static bool kubelet_mount(const char *dir)
{
    char p[COFFER_ERROR_PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/..data", dir) >= sizeof p)
        return false;
    return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

static int load_dir(coffer_loadctx *lc, const char *dir, coffer_layer *layer,
                    coffer_error *err)
{
    /* One Secret mounted at the path (the usual mount): its keys are the
     * root keys, as flat: makes them. */
    if (kubelet_mount(dir))
        return load_flat(lc, dir, layer, err);
    struct topdir t = { layer, dir };
    return walk_dir(lc, dir, dir_entry, &t, err);
}

/* -------------------------------------------------------------- layer */

static int parse_into(coffer_loadctx *lc, const char *name, char *buf,
                      size_t len, size_t cap, coffer_layer *layer,
                      coffer_error *err)
{
    coffer_parse_options po = lc->store->parse;
    po.allocator = lc->alloc;
    coffer_doc *doc = NULL;
    bool maybe_enc = coffer_crypt_text_hint(buf, len);
    int rc = coffer_toml_parse_owned(buf, len, cap, &po, &doc, err);
    if (rc) {
        if (err)
            snprintf(err->file, sizeof err->file, "%s", name);
        return rc;
    }
    layer->doc = doc;
    layer->root = *coffer_doc_root(doc);
    /* encrypted values are opened here, into the snapshot's memory */
    return coffer_crypt_layer(lc, name, maybe_enc, layer, err);
}

/* An etcd key: its value is a TOML document, read into locked memory and
 * parsed like a file; the layer is named etcd://.../KEY@REVISION. */
static int load_etcd(coffer_loadctx *lc, coffer_source *src,
                     coffer_layer *layer, coffer_error *err)
{
    layer->kind = COFFER_SOURCE_ETCD;
    char *buf;
    size_t len, cap;
    int64_t rev, cached_at;
    int rc = coffer_etcd_fetch(src->remote, lc->alloc, lc->max_input, &buf,
                               &len, &cap, &rev, &cached_at, err);
    if (rc == 0 && cached_at && !lc->finding) {
        char msg[COFFER_ERROR_MESSAGE_MAX];
        snprintf(msg, sizeof msg,
                 "no etcd member reachable: using the cached copy of '%s' "
                 "(revision %lld, %lld s old)", src->name, (long long)rev,
                 (long long)(time(NULL) - cached_at));
        coffer_store_diag(lc->store, src->name, msg);
    }
    if (rc == 0) {
        char name[COFFER_ERROR_PATH_MAX];
        snprintf(name, sizeof name, "%s@%lld", src->name, (long long)rev);
        const char *nm = coffer_arena_strndup(lc->arena, name, strlen(name));
        if (!nm) {
            coffer_memzero(buf, cap);
            lc->alloc->release(lc->alloc->ctx, buf, cap);
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                    "out of memory");
        }
        layer->name = nm;
        rc = parse_into(lc, nm, buf, len, cap, layer, err);
    }
    atomic_store(&src->found, rc != 1);
    return rc;
}

int coffer_layer_load(coffer_loadctx *lc, coffer_source *src,
                      coffer_layer *layer, coffer_error *err)
{
    memset(layer, 0, sizeof layer[0]);
    lc->src = src;
    lc->dir_hint = false;
    layer->name = coffer_arena_strndup(lc->arena, src->name, strlen(src->name));
    if (!layer->name)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    if (src->kind == COFFER_SOURCE_TEXT) {
        layer->kind = COFFER_SOURCE_TEXT;
        char *buf = lc->alloc->alloc(lc->alloc->ctx, src->text_len + 1);
        if (!buf)
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        memcpy(buf, src->text, src->text_len);
        buf[src->text_len] = '\0';
        return parse_into(lc, src->name, buf, src->text_len, src->text_len + 1,
                          layer, err);
    }
    if (src->kind == COFFER_SOURCE_ETCD)
        return load_etcd(lc, src, layer, err);
    coffer_source_kind kind = (coffer_source_kind)src->kind;
    struct stat st;
    if (kind == COFFER_SOURCE_AUTO) {
        size_t n = strlen(src->path);
        if (n >= 5 && strcmp(src->path + n - 5, ".toml") == 0) {
            kind = COFFER_SOURCE_FILE;
        } else if (stat(src->path, &st) != 0) {
            if (errno == ENOENT || errno == ENOTDIR) {
                atomic_store(&src->found, 0);
                return 1;
            }
            kind = COFFER_SOURCE_FILE; /* the open reports the error */
        } else {
            kind = S_ISDIR(st.st_mode) ? COFFER_SOURCE_DIR : COFFER_SOURCE_FILE;
        }
    }
    layer->kind = kind;
    int rc;
    if (kind == COFFER_SOURCE_FILE) {
        char *buf;
        size_t len, cap;
        rc = coffer_file_read(lc, src->path, &buf, &len, &cap, err);
        if (rc == 0)
            rc = parse_into(lc, src->name, buf, len, cap, layer, err);
    } else if (kind == COFFER_SOURCE_DOTENV) {
        char *buf;
        size_t len, cap;
        rc = coffer_file_read(lc, src->path, &buf, &len, &cap, err);
        if (rc == 0 && coffer_arena_adopt(lc->arena, buf, cap) != 0) {
            coffer_memzero(buf, cap);
            lc->alloc->release(lc->alloc->ctx, buf, cap);
            rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                  "out of memory");
        } else if (rc == 0) {
            rc = new_table(lc, &layer->root)
                     ? coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                        "out of memory")
                     : coffer_dotenv_parse(lc, src->name, buf, len, layer, err);
        }
    } else {
        if (new_table(lc, &layer->root))
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        rc = coffer_source_dirs_check(lc, src->path, err);
        if (rc)
            return rc;
        if (kind == COFFER_SOURCE_FLAT) {
            rc = load_flat(lc, src->path, layer, err);
        } else {
            lc->dir_hint = true;
            rc = load_dir(lc, src->path, layer, err);
        }
    }
    atomic_store(&src->found, rc != 1);
    if (rc != 1)
        atomic_store(&src->resolved, (int)kind);
    return rc;
}

void coffer_layer_release(coffer_layer *layer)
{
    if (layer->doc)
        coffer_doc_free(layer->doc);
    layer->doc = NULL;
}

/* ------------------------------------------------------------- merge */

static int merge(coffer_snapshot *snap, coffer_error *err)
{
    if (snap->nlayers == 1) {
        /* One layer: its root is the snapshot's, as it is (indexed by the
         * parser when large); every member comes from layer 0. */
        size_t n = coffer_table_count(&snap->layers[0].root);
        snap->origin = coffer_arena_alloc(&snap->arena,
                                          (n ? n : 1) * sizeof *snap->origin);
        if (!snap->origin)
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                    "out of memory");
        memset(snap->origin, 0, (n ? n : 1) * sizeof *snap->origin);
        snap->root = snap->layers[0].root;
        snap->root.key = NULL;
        snap->root.keylen = 0;
        snap->root.flags = 0;
        snap->root.line = 1;
        snap->root.col = 1;
        snap->shadows = NULL;
        return 0;
    }
    size_t total = 0;
    for (size_t i = 0; i < snap->nlayers; i++)
        total += coffer_table_count(&snap->layers[i].root);
    coffer_container *c = coffer_arena_alloc(&snap->arena, sizeof *c);
    snap->origin = coffer_arena_alloc(&snap->arena,
                                      (total ? total : 1) * sizeof *snap->origin);
    snap->shadows = coffer_arena_alloc(&snap->arena,
                                       (total ? total : 1) * sizeof *snap->shadows);
    size_t *shadow_layer = malloc((total ? total : 1) * sizeof *shadow_layer);
    if (!c || !snap->origin || !snap->shadows || !shadow_layer) {
        free(shadow_layer);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    memset(c, 0, sizeof *c);
    memset(&snap->root, 0, sizeof snap->root);
    snap->root.type = COFFER_TYPE_TABLE;
    snap->root.line = 1;
    snap->root.col = 1;
    snap->root.u.c = c;
    for (size_t li = 0; li < snap->nlayers; li++) {
        const coffer_value *r = &snap->layers[li].root;
        size_t n = coffer_table_count(r);
        for (size_t k = 0; k < n; k++) {
            const coffer_value *m = &r->u.c->items[k];
            coffer_value *dst = coffer_table_find(c, m->key, m->keylen);
            if (dst) {
                size_t idx = (size_t)(dst - c->items);
                snap->shadows[snap->nshadows].key = m->key;
                shadow_layer[snap->nshadows] = snap->origin[idx];
                snap->nshadows++;
                *dst = *m;
                snap->origin[idx] = (uint32_t)li;
                continue;
            }
            dst = coffer_container_push(&snap->arena, c, m->key, m->keylen);
            if (!dst) {
                free(shadow_layer);
                return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                        "out of memory");
            }
            *dst = *m;
            snap->origin[c->count - 1] = (uint32_t)li;
        }
    }
    for (size_t i = 0; i < snap->nshadows; i++) {
        const char *key = snap->shadows[i].key;
        coffer_value *dst = coffer_table_find(c, key, strlen(key));
        size_t idx = dst ? (size_t)(dst - c->items) : 0;
        snap->shadows[i].winner = snap->layers[snap->origin[idx]].name;
        snap->shadows[i].shadowed = snap->layers[shadow_layer[i]].name;
        if (dst)
            snap->shadows[i].key = dst->key;
    }
    free(shadow_layer);
    return 0;
}

/* ---------------------------------------------------------- snapshot */

int coffer_no_secrets_error(coffer_store *s, coffer_error *err)
{
    char msg[COFFER_ERROR_MESSAGE_MAX];
    size_t pos = (size_t)snprintf(msg, sizeof msg, "no secrets found; searched");
    size_t nshown = 0;
    for (size_t i = 0; i < s->nsources && pos < sizeof msg; i++) {
        if (s->sources[i].kind == COFFER_SOURCE_TEXT)
            continue;
        int w = snprintf(msg + pos, sizeof msg - pos, "%s '%s'",
                         nshown ? "," : "", s->sources[i].path);
        if (w < 0)
            break;
        pos += (size_t)w;
        nshown++;
    }
    static const char hint[] = "; create one with 'coffer init'";
    if (nshown == 0)
        snprintf(msg, sizeof msg, "no secrets found; no source is configured");
    else if (pos + sizeof hint > sizeof msg)
        snprintf(msg + sizeof msg - sizeof hint - 3, sizeof hint + 3, "...%s",
                 hint);
    else
        memcpy(msg + pos, hint, sizeof hint);
    return coffer_error_set(err, COFFER_ENOSECRETS, NULL, 0, 0, "%s", msg);
}

void coffer_snapshot_destroy(coffer_snapshot *snap)
{
    if (!snap)
        return;
    /* The documents, the arena and the file buffers all live in the
     * region: releasing it wipes and releases every byte of them once
     * (freeing the documents and the arena first would wipe it twice). */
    coffer_region_release(&snap->region);
    free(snap->layers);
    free(snap);
}

int coffer_snapshot_build(coffer_store *s, coffer_snapshot **out,
                          coffer_error *err)
{
    *out = NULL;
    int rc = coffer_store_resolve(s, err);
    if (rc)
        return rc;
    coffer_snapshot *snap = calloc(1, sizeof *snap);
    if (!snap)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    atomic_init(&snap->refs, 1);
    size_t hint = atomic_load(&s->region_hint);
    /* The first shared block: what the last load needed (large pieces
     * have blocks of their own), or enough for a few KB of secrets and
     * the parser's stages, which it gives back after each file. */
    coffer_region_init(&snap->region, s->alloc,
                       hint ? hint + hint / 4
                            : 16384 + COFFER_PARSE_STAGE_BYTES);
    coffer_arena_init(&snap->arena, &snap->region.alloc, 1024);
    snap->layers = calloc(s->nsources ? s->nsources : 1, sizeof *snap->layers);
    if (!snap->layers) {
        coffer_snapshot_destroy(snap);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    coffer_loadctx lc;
    memset(&lc, 0, sizeof lc);
    lc.store = s;
    lc.arena = &snap->arena;
    lc.alloc = &snap->region.alloc;
    lc.max_input = s->parse.max_input;
    lc.strict = (s->flags & COFFER_STORE_STRICT_PERMS) != 0;
    for (size_t i = 0; i < s->nsources; i++) {
        coffer_layer *layer = &snap->layers[snap->nlayers];
        rc = coffer_layer_load(&lc, &s->sources[i], layer, err);
        if (rc == 1)
            continue;
        if (rc < 0) {
            coffer_snapshot_destroy(snap); /* with what layer holds */
            return rc;
        }
        snap->nlocked += layer->nlocked;
        snap->nlayers++;
    }
    if (snap->nlayers == 0) {
        coffer_snapshot_destroy(snap);
        return coffer_no_secrets_error(s, err);
    }
    rc = merge(snap, err);
    if (rc) {
        coffer_snapshot_destroy(snap);
        return rc;
    }
    atomic_store(&s->region_hint, snap->region.peak);
    *out = snap;
    return 0;
}
