/*
 * store_internal.h - internals of the secrets store (src/store/).
 *
 * Ownership: a coffer_store owns its source list (paths, display names and
 * copies of in-memory TOML texts, the latter in secure memory) and one
 * reference to its current snapshot. A coffer_snapshot owns one arena
 * (merged root container, directory values, provenance records, copies of
 * the source names) and the parsed documents of its file/text layers. See
 * docs/DESIGN.md, "Store, snapshots and sources".
 */
#ifndef COFFER_STORE_INTERNAL_H
#define COFFER_STORE_INTERNAL_H

#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ------------------------------------------------------------ sources */

typedef struct coffer_source {
    char *path;                 /* absolute, no "flat:" prefix; "" for TEXT */
    char *name;                 /* display/provenance name */
    coffer_source_kind kind;    /* as configured (AUTO, FLAT, TEXT) */
    atomic_int resolved;        /* last known kind (AUTO until known) */
    atomic_int found;           /* exists as of the last load or stat */
    struct coffer_etcd *remote; /* ETCD: the client (src/remote/) */
    char *text;                 /* TEXT: secure copy, text_len bytes + NUL */
    size_t text_len;
    size_t text_cap;
} coffer_source;

/* A value built from a directory file, or a key directory: where it came
 * from. Identified by the string / container pointer of its node. */
typedef struct coffer_prov {
    const void *id;
    const char *file;
} coffer_prov;

typedef struct coffer_layer {
    const char *name;           /* provenance name (copy in the arena) */
    coffer_source_kind kind;    /* FILE, DIR, FLAT or TEXT */
    coffer_doc *doc;            /* FILE / TEXT */
    coffer_value root;          /* TABLE */
    coffer_prov *prov;          /* DIR / FLAT values */
    size_t nprov, capprov;
    size_t nlocked;             /* encrypted values left locked (crypt.c) */
    const char *lock_note;      /* why they are locked (static text) */
} coffer_layer;

/* A region: blocks from a base allocator (through the secure pool when it
 * is the secure one), carved into pieces that are released all together,
 * except large pieces, which have a block of their own, released with the
 * piece (region.c). alloc is an allocator over the region, for arenas and
 * the parser. Releasing a block wipes what it ever held. */
typedef struct coffer_region_block coffer_region_block;
typedef struct coffer_region {
    coffer_allocator alloc;
    const coffer_allocator *base;
    bool secure;                /* base is coffer_allocator_secure() */
    coffer_region_block *head;  /* the block being carved up first */
    size_t next_size;
    size_t used, peak;          /* in shared blocks; peak: the most at once */
    size_t total;               /* bytes of every block */
} coffer_region;

/* first: size of the first shared block. */
COFFER_INTERNAL void coffer_region_init(coffer_region *r,
                                        const coffer_allocator *base,
                                        size_t first);
COFFER_INTERNAL void coffer_region_release(coffer_region *r);

typedef struct coffer_shadow {
    const char *key;
    const char *winner;
    const char *shadowed;
} coffer_shadow;

struct coffer_snapshot {
    atomic_long refs;
    uint64_t generation;
    coffer_region region;       /* backs arena, documents and file buffers */
    coffer_arena arena;
    coffer_value root;          /* merged root (TABLE) */
    coffer_layer *layers;       /* found layers, lowest first */
    size_t nlayers;
    uint32_t *origin;           /* per merged root member: layer index */
    coffer_shadow *shadows;
    size_t nshadows;
    size_t nlocked;             /* locked values over all layers */
};

/* One variable coffer set: "NAME\0NAME=VALUE\0" in a locked export
 * record (env.c). Records are never unmapped; the strings of an entry are
 * wiped when coffer stops owning the variable. */
typedef struct coffer_export_ent {
    char *name;                 /* "NAME" */
    char *kv;                   /* "NAME=VALUE", handed to putenv */
    size_t name_len, val_len;
} coffer_export_ent;

struct coffer_watch;

struct coffer_store {
    /* configuration, fixed at open */
    char *cwd;
    char *home;                 /* $HOME or NULL */
    char *real_cwd, *real_home; /* realpath() of both (NULL if none) */
    char *env_files;            /* $COFFER_SECRETS_FILES or NULL */
    const char *env_files_name; /* the variable env_files came from */
    char *env_credentials;      /* $CREDENTIALS_DIRECTORY or NULL */
    char *env_text;             /* $COFFER_SECRETS (secure) or NULL */
    size_t env_text_len, env_text_cap;
    char **opt_paths;
    size_t opt_path_count;
    unsigned flags;
    coffer_diag_fn diag;
    void *diag_ctx;
    coffer_parse_options parse; /* allocator set to alloc */
    const coffer_allocator *alloc;

    /* sources, resolved on first need */
    pthread_mutex_t res_lock;
    atomic_bool resolved;
    int res_code;               /* error of the resolution, or 0 */
    coffer_error res_err;
    coffer_source *sources;
    size_t nsources, capsources;
    coffer_source *texts;       /* coffer_store_add_text before resolution */
    size_t ntexts, captexts;
    const char **wt_paths;
    coffer_source_kind *wt_kinds;
    size_t nwt;
    bool wt_done;

    /* snapshot */
    pthread_mutex_t snap_lock;  /* only around "load pointer + retain" and swap */
    pthread_mutex_t reload_lock;/* serialises loads */
    coffer_snapshot *cur;
    uint64_t generation;
    atomic_bool loaded_once;
    atomic_size_t region_hint;  /* bytes the last snapshot needed */

    /* environment export */
    pthread_mutex_t env_lock;
    coffer_env_options env_opt;     /* of the last export (owned copies) */
    char *env_prefix;
    char **env_allow;
    coffer_export_ent *env_ents;
    size_t nenv;

    /* encryption (crypt.c): identities, read on first need and kept in
     * secure memory for reloads */
    pthread_mutex_t id_lock;
    struct coffer_crypt_ids *ids;
    char *env_age_key;          /* $COFFER_AGE_KEY (secure) or NULL */
    size_t env_age_key_len, env_age_key_cap;
    char *env_age_key_file;     /* $COFFER_AGE_KEY_FILE or NULL */
    char *env_age_pass;         /* $COFFER_AGE_PASSPHRASE (secure) or NULL */
    size_t env_age_pass_len, env_age_pass_cap;

    /* watcher */
    struct coffer_watch *watch;
    void (*watch_stop)(struct coffer_watch *);
};

/* --------------------------------------------------- reload API (watch) */

/* Paths to watch: for each source, the configured absolute path (file or
 * directory, even if missing), its kind. */
COFFER_INTERNAL size_t coffer_store_watch_targets(coffer_store *s,
                                                  const char ***paths,
                                                  coffer_source_kind **kinds);

/* Builds a new snapshot from the sources. If its content equals the
 * current one (root keys, types and values; strings compared in constant
 * time) it is dropped and 0 is returned; otherwise it is swapped in
 * (generation+1), *diff (if not NULL) receives the added/changed/removed
 * key paths (leaf paths like db.password, arrays as one leaf, arrays of
 * tables as name[0].key), and 1 is returned. On failure the current
 * snapshot stays and a negative code is returned with err set. Serialised
 * by a reload mutex. If no snapshot was loaded yet, it loads one
 * (returns 1, every leaf "added"). */
typedef struct coffer_diff {
    char **added, **changed, **removed;
    size_t nadded, nchanged, nremoved;
} coffer_diff;
COFFER_INTERNAL int coffer_store_reload_diff(coffer_store *s, coffer_diff *diff,
                                             coffer_error *err);
/* The same, but current(ctx) is asked after the new snapshot was built and
 * before it is published: false (the sources moved while they were read)
 * discards it and returns COFFER_RELOAD_STALE, the current snapshot kept. */
#define COFFER_RELOAD_STALE 2
COFFER_INTERNAL int coffer_store_reload_checked(coffer_store *s,
                                                coffer_diff *diff,
                                                bool (*current)(void *ctx),
                                                void *ctx, coffer_error *err);
COFFER_INTERNAL void coffer_diff_release(coffer_diff *d);

/* Slot for the watcher's state, stopped by coffer_store_close through the
 * hook the watcher sets. */
COFFER_INTERNAL struct coffer_watch *coffer_store_watch_state(coffer_store *s);
COFFER_INTERNAL void coffer_store_set_watch_state(coffer_store *s,
                                                  struct coffer_watch *w,
                                                  void (*stop)(struct coffer_watch *));

/* The "no secrets found" error: every searched path, in order. */
COFFER_INTERNAL int coffer_no_secrets_error(coffer_store *s, coffer_error *err);

/* ------------------------------------------------------ internal pieces */

/* Resolves the source list once (reads config.toml files when needed). */
COFFER_INTERNAL int coffer_store_resolve(coffer_store *s, coffer_error *err);

/* Frees a source's strings (and wipes a text copy). */
COFFER_INTERNAL void coffer_source_free(coffer_store *s, coffer_source *src);

/* Diagnostics through the store's callback (or stderr). */
COFFER_INTERNAL void coffer_store_diag(const coffer_store *s, const char *file,
                                       const char *message);

/* Check-mode callback (coffer_store_check), or NULL while loading. */
typedef void (*coffer_finding_fn)(void *ctx, int severity, const char *file,
                                  const char *message);

typedef struct coffer_loadctx {
    coffer_store *store;
    coffer_arena *arena;        /* the snapshot's arena */
    const coffer_allocator *alloc;
    size_t max_input;
    bool strict;
    coffer_finding_fn finding;  /* check mode: report, do not refuse */
    void *fctx;
    const coffer_source *src;   /* source being loaded (warn once) */
    bool dir_hint;              /* hint "defaultMode: 0400" */
} coffer_loadctx;

/* Opens and reads a regular file into a block from lc->alloc (bufsize >
 * len, NUL-terminated). display names the file in messages. Returns 0,
 * 1 if the file does not exist, or a negative code. A file whose size or
 * modification time (ns) moved during the read is COFFER_EIO "changed
 * while being read" with sys_errno EAGAIN (transient). */
COFFER_INTERNAL int coffer_file_read(coffer_loadctx *lc, const char *path,
                                     char **buf, size_t *len, size_t *bufsize,
                                     coffer_error *err);

/* The directory rule (coffer_path_dirs_check) at load and in check mode:
 * for a directory source itself, and the finding/warning/refusal for an
 * unsafe directory bad (why: what is wrong) above path. */
COFFER_INTERNAL int coffer_source_dirs_check(coffer_loadctx *lc,
                                             const char *dir,
                                             coffer_error *err);
COFFER_INTERNAL int coffer_dir_finding(coffer_loadctx *lc, const char *path,
                                       const char *bad, const char *why,
                                       coffer_error *err);


/* Loads source src into layer (arena = lc->arena). Returns 0, 1 when the
 * source does not exist, or a negative code. */
COFFER_INTERNAL int coffer_layer_load(coffer_loadctx *lc, coffer_source *src,
                                      coffer_layer *layer, coffer_error *err);
COFFER_INTERNAL void coffer_layer_release(coffer_layer *layer);

/* Builds a snapshot from every source (not yet published). */
COFFER_INTERNAL int coffer_snapshot_build(coffer_store *s, coffer_snapshot **out,
                                          coffer_error *err);
COFFER_INTERNAL void coffer_snapshot_destroy(coffer_snapshot *snap);

/* Computes the differences between two roots (either may be NULL).
 * Returns 0, COFFER_ENOMEM, or COFFER_ELIMIT for a tree deeper than
 * COFFER_MAX_DEPTH (walked by bounded recursion). */
COFFER_INTERNAL int coffer_diff_compute(const coffer_value *old_root,
                                        const coffer_value *new_root,
                                        coffer_diff *d);

/* A UTF-8 sequence at key[i] that a terminal may act on: a C1 control
 * (U+0080-U+009F) or a bidirectional control (U+202A-U+202E,
 * U+2066-U+2069). Returns the code point (its length in *len), or 0. */
COFFER_INTERNAL unsigned coffer_key_hazard(const char *key, size_t n, size_t i,
                                           size_t *len);

/* Appends a key path element to buf: bare when it can be, else a TOML
 * quoted key with \uXXXX for terminal controls (C0, DEL, C1, bidi). The
 * one escaping of keys for messages (coffer_key_display builds on it). */
COFFER_INTERNAL size_t coffer_path_append_key(char *buf, size_t n, size_t pos,
                                              const char *key, size_t keylen);

/* Exports again with the options of the last export (defaults if none):
 * COFFER_WATCH_EXPORT. */
COFFER_INTERNAL int coffer_store_reexport(coffer_store *s, coffer_error *err);

/* Drops the remembered exports (store close): variables still set keep
 * pointing into their records, which stay mapped. */
COFFER_INTERNAL void coffer_env_forget(coffer_store *s);

/* Parses a .env file held in buf (len bytes, bufsize > len, adopted by
 * lc->arena by the caller) into layer->root: each assignment a root
 * string key, its line and column set. Decodes in place. name is the file
 * for messages. Returns 0 or a negative code (COFFER_ESYNTAX with line
 * and column). */
COFFER_INTERNAL int coffer_dotenv_parse(coffer_loadctx *lc, const char *name,
                                        char *buf, size_t len,
                                        coffer_layer *layer, coffer_error *err);

/* Export records kept for the life of the process (env.c: getenv()
 * results never dangle); each is one block and one secure mapping. */
COFFER_INTERNAL size_t coffer_env_records(void);

/* A non-empty array whose members are all tables (an array of tables:
 * its leaves are indexed [N]; any other array is one leaf). */
COFFER_INTERNAL bool coffer_is_aot(const coffer_value *a);

#endif /* COFFER_STORE_INTERNAL_H */
