/*
 * coffer.h - native, file-based secrets management for C programs.
 *
 * This is the one public header of libcoffer. Everything not declared here
 * is internal and hidden (the library is built with -fvisibility=hidden).
 *
 * Invariants that hold for the whole API:
 *
 *  - Functions that can fail return an int: 0 on success, a negative
 *    COFFER_E* code on failure. When an error struct is passed (it may be
 *    NULL), it is filled with the code, a lower-case message, and where it
 *    applies the file, line and column (1-based; columns count bytes).
 *    Nothing is allocated on the error path.
 *  - No message, error struct or diagnostic ever contains a secret value.
 *    Messages may quote key names and file paths, never values.
 *  - Every pointer returned by a getter is a borrowed const view. It stays
 *    valid until its owner (document or snapshot) is released. Functions
 *    that hand ownership to the caller say "you now own it".
 *  - Secret bytes live in one arena per document/snapshot, backed by a
 *    pluggable allocator (locked, never-dumped, wiped memory by default for
 *    stores). They are wiped before the memory is released, and never moved
 *    by realloc.
 */
#ifndef COFFER_H
#define COFFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define COFFER_API __attribute__((visibility("default")))
#define COFFER_WUR __attribute__((warn_unused_result))
#else
#define COFFER_API
#define COFFER_WUR
#endif

#define COFFER_VERSION_STRING "0.1.0"
#define COFFER_VERSION_MAJOR 0
#define COFFER_VERSION_MINOR 1

/* Version of the library actually linked. */
COFFER_API const char *coffer_version(void);

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */

enum coffer_status {
    COFFER_OK = 0,
    COFFER_EINVAL = -1,    /* misuse: bad argument, bad path syntax */
    COFFER_ENOMEM = -2,    /* out of memory */
    COFFER_ESYNTAX = -3,   /* invalid TOML (file, line and column set) */
    COFFER_ELIMIT = -4,    /* a configured limit was exceeded */
    COFFER_EIO = -5,       /* a source exists but cannot be read */
    COFFER_ENOSECRETS = -6, /* no source exists at all */
    COFFER_ENOKEY = -7,    /* key or path not found */
    COFFER_ETYPE = -8,     /* value has another type than asked for */
    COFFER_EPERM = -9,     /* a source is refused for its permissions/owner */
    COFFER_ELAYOUT = -10,  /* a secrets directory has an invalid layout */
    COFFER_ELOCK = -11,    /* memory could not be locked (strict mode) */
    COFFER_ECONFIG = -12,  /* invalid configuration ([secrets] files ...) */
    COFFER_ESYS = -13,     /* other system error (errno in sys_errno) */
    COFFER_ECRYPTO = -14,  /* an encrypted value cannot be decrypted: no or
                              wrong identity, tampered or incomplete data */
    COFFER_EREMOTE = -15,  /* a remote source (etcd) cannot be reached */
    COFFER_ECONFLICT = -16 /* a compare-and-swap write lost to another writer */
};

#define COFFER_ERROR_MESSAGE_MAX 256
#define COFFER_ERROR_PATH_MAX 4096

typedef struct coffer_error {
    int code;                              /* a COFFER_E* value, 0 if none */
    int sys_errno;                         /* errno behind it, or 0 */
    unsigned line;                         /* 1-based, 0 if not applicable */
    unsigned column;                       /* 1-based byte column, or 0 */
    char file[COFFER_ERROR_PATH_MAX];      /* source path, or "" */
    char message[COFFER_ERROR_MESSAGE_MAX]; /* lower-case, no full stop */
} coffer_error;

/* Static, lower-case description of a status code ("key not found"). */
COFFER_API const char *coffer_strerror(int code);

/* Formats "FILE:LINE:COL: MESSAGE" (parts that are unset are left out)
 * into buf of size n; returns buf. A message without a line that quotes
 * its file ('FILE') is printed alone, so no path shows twice. */
COFFER_API const char *coffer_error_format(const coffer_error *err,
                                           char *buf, size_t n);

/* ------------------------------------------------------------------------
 * Memory
 *
 * An allocator backs arenas. alloc returns size bytes (NULL on failure);
 * release gets the same pointer and size, and must not assume the bytes
 * were wiped (the arena wipes them before calling it).
 * ------------------------------------------------------------------------ */

typedef struct coffer_allocator {
    void *(*alloc)(void *ctx, size_t size);
    void (*release)(void *ctx, void *ptr, size_t size);
    void *ctx;
} coffer_allocator;

/* malloc/free. Fast; no locking. release does not wipe (arenas, documents
 * and snapshots wipe their memory before they release it). */
COFFER_API const coffer_allocator *coffer_allocator_plain(void);

/* Guarded pages: each block is its own mapping between two no-access guard
 * pages, mlock'ed and MADV_DONTDUMP (libsodium's sodium_mlock), the bytes
 * ending at the back guard with a canary in front (checked on release:
 * a mismatch aborts), wiped (sodium_memzero) and unmapped on release.
 * release must get the size given to alloc. If locking fails, the memory
 * is still used and coffer_memory_lock_failed() turns true. */
COFFER_API const coffer_allocator *coffer_allocator_secure(void);

/* True once any secure allocation could not be locked (RLIMIT_MEMLOCK). */
COFFER_API bool coffer_memory_lock_failed(void);

/* Wipes n bytes at p (never optimised away). */
COFFER_API void coffer_memzero(void *p, size_t n);

/* Constant-time comparison of two byte strings (time depends only on the
 * lengths). Returns true when equal. */
COFFER_API bool coffer_equal_ct(const void *a, size_t alen,
                                const void *b, size_t blen);

/* ------------------------------------------------------------------------
 * TOML documents and values
 *
 * A parsed document is an immutable tree. Tables keep their keys in order
 * of first definition; large tables are indexed by hash (O(1) lookup).
 * Every value records the line and byte column where it was defined.
 * ------------------------------------------------------------------------ */

typedef enum coffer_type {
    COFFER_TYPE_NONE = 0,
    COFFER_TYPE_STRING,
    COFFER_TYPE_INTEGER,
    COFFER_TYPE_FLOAT,
    COFFER_TYPE_BOOL,
    COFFER_TYPE_DATETIME,        /* offset date-time */
    COFFER_TYPE_DATETIME_LOCAL,  /* local date-time */
    COFFER_TYPE_DATE_LOCAL,      /* local date */
    COFFER_TYPE_TIME_LOCAL,      /* local time */
    COFFER_TYPE_ARRAY,
    COFFER_TYPE_TABLE
} coffer_type;

/* Static lower-case name: "string", "integer", "float", "bool",
 * "datetime", "datetime-local", "date-local", "time-local", "array",
 * "table" (the toml-test names). */
COFFER_API const char *coffer_type_name(coffer_type t);

/* A date, a time, or both. Fields that the kind does not have are 0. */
typedef struct coffer_datetime {
    int16_t year;          /* 0..9999 */
    uint8_t month, day;    /* 1..12, 1..31 */
    uint8_t hour, minute, second; /* 0..23, 0..59, 0..60 (leap second) */
    uint32_t nanosecond;   /* 0..999999999 (digits past 9 are truncated) */
    int16_t offset_minutes; /* for COFFER_TYPE_DATETIME; 0 for Z */
    uint8_t offset_is_z;   /* written as Z (or z) rather than +00:00 */
    uint8_t precision;     /* number of fractional-second digits written */
} coffer_datetime;

typedef struct coffer_value coffer_value; /* opaque, owned by its document */
typedef struct coffer_doc coffer_doc;     /* a parsed document */

/* Nesting limit: the parser's default max_depth, and the most a store
 * allows (its trees are walked by bounded recursion: the reload diff, the
 * CLI's listings). Depth counts containers from the root (depth 0): every
 * table, array or inline table, however made (a [header] part, a dotted
 * key part, an array of tables and its element, a bracket or brace). */
#define COFFER_MAX_DEPTH 512

typedef struct coffer_parse_options {
    size_t max_input;   /* bytes; 0 means the default 64 MiB */
    unsigned max_depth; /* containers nested deeper than this are an error
                         * (COFFER_ELIMIT at the part, bracket or brace
                         * that goes too deep); 0: COFFER_MAX_DEPTH. A
                         * store caps it at COFFER_MAX_DEPTH. */
    size_t max_key;     /* bytes in one key; 0 means the default 4096 */
    const coffer_allocator *allocator; /* NULL: coffer_allocator_plain() */
} coffer_parse_options;

/* Parses len bytes of TOML 1.0 text (a leading UTF-8 BOM is allowed).
 * The text is copied; the document owns all its memory.
 * On success *out is a document you now own (free with coffer_doc_free).
 * On failure *out is NULL and err has the line and column. */
COFFER_API COFFER_WUR int coffer_toml_parse(const char *text, size_t len,
                                            const coffer_parse_options *opt,
                                            coffer_doc **out,
                                            coffer_error *err);

/* Like coffer_toml_parse, but takes ownership of buf, a block of bufsize
 * bytes obtained from opt->allocator (or the plain allocator) holding len
 * bytes of text (len < bufsize). The parser decodes strings in place, so no
 * secret byte is copied. buf is released with the document, or on failure. */
COFFER_API COFFER_WUR int coffer_toml_parse_owned(char *buf, size_t len,
                                                  size_t bufsize,
                                                  const coffer_parse_options *opt,
                                                  coffer_doc **out,
                                                  coffer_error *err);

/* Wipes and releases a document. NULL is a no-op. */
COFFER_API void coffer_doc_free(coffer_doc *doc);

/* Root table of a document. */
COFFER_API const coffer_value *coffer_doc_root(const coffer_doc *doc);

/* Bytes of memory the document holds (arena total), for measurements. */
COFFER_API size_t coffer_doc_memory(const coffer_doc *doc);

COFFER_API coffer_type coffer_value_type(const coffer_value *v);
COFFER_API unsigned coffer_value_line(const coffer_value *v);
COFFER_API unsigned coffer_value_column(const coffer_value *v);

/* Typed reads. Each returns 0, or COFFER_ETYPE if v has another type
 * (COFFER_EINVAL if v is NULL). Strings are NUL-terminated and may contain
 * NUL bytes (len says how many bytes there are); len may be NULL. */
COFFER_API int coffer_value_string(const coffer_value *v, const char **s,
                                   size_t *len);
COFFER_API int coffer_value_int(const coffer_value *v, int64_t *out);
COFFER_API int coffer_value_double(const coffer_value *v, double *out);
COFFER_API int coffer_value_bool(const coffer_value *v, bool *out);
/* Any of the four date/time kinds. */
COFFER_API int coffer_value_datetime(const coffer_value *v,
                                     coffer_datetime *out);

/* Tables: members in order of first definition. */
COFFER_API size_t coffer_table_count(const coffer_value *t);
/* i-th member; its key (NUL-terminated, length in *keylen) in *key. */
COFFER_API const coffer_value *coffer_table_at(const coffer_value *t,
                                               size_t i, const char **key,
                                               size_t *keylen);
/* Member by exact key (not a path); NULL if absent or t is no table. */
COFFER_API const coffer_value *coffer_table_get(const coffer_value *t,
                                                const char *key,
                                                size_t keylen);

/* Arrays. */
COFFER_API size_t coffer_array_count(const coffer_value *a);
COFFER_API const coffer_value *coffer_array_at(const coffer_value *a,
                                               size_t i);

/* Follows a path in TOML key syntax from v: dotted bare or quoted keys,
 * plus [N] for array elements: a.b."c.d", servers[0].host.
 * Returns 0 and sets *out, COFFER_ENOKEY if a step is missing (err names
 * the longest existing prefix), or COFFER_EINVAL for a malformed path. */
COFFER_API int coffer_value_seek(const coffer_value *v, const char *path,
                                 const coffer_value **out, coffer_error *err);

/* ------------------------------------------------------------------------
 * Formatting values
 * ------------------------------------------------------------------------ */

typedef enum coffer_format {
    COFFER_FORMAT_TEXT = 0, /* strings raw; other scalars as TOML; containers as JSON */
    COFFER_FORMAT_TOML,     /* TOML value syntax; tables as TOML documents */
    COFFER_FORMAT_JSON      /* plain JSON, members in definition order */
} coffer_format;

/* Formats v into buf of size n (NUL-terminated when n > 0). Returns the
 * length the full output needs (excluding the NUL), like snprintf, or a
 * negative COFFER_E* code. The output may hold secret values: put it in
 * secure memory (coffer_secbuf) and wipe it.
 * Details: TEXT writes a string's bytes raw (NUL bytes included; the return
 * value counts them). Floats are written as coffer_format_double. TOML
 * strings are basic strings with escapes; a table is written as a document
 * that reads back to the same tree, key order included. JSON has no
 * inf/nan: those floats are written as the strings "inf", "-inf", "nan";
 * date-times are JSON strings in their TOML form. Bytes that are not valid
 * UTF-8 are written as \uFFFD in TOML and JSON. Nesting deeper than 4096
 * levels fails with COFFER_ELIMIT. */
COFFER_API long coffer_value_format(const coffer_value *v, coffer_format fmt,
                                    char *buf, size_t n);

/* Writes d as Python's str(float) would: shortest text that reads back to
 * the same double ("0.1", "1.0", "1e+20", "inf", "-inf", "nan"). buf should
 * hold 32 bytes. Returns the length. */
COFFER_API int coffer_format_double(double d, char *buf, size_t n);

/* ------------------------------------------------------------------------
 * Secure buffers: growable byte buffers in locked, never-dumped memory,
 * for formatted secret output. Growth copies into a new secure block and
 * wipes the old one (no realloc).
 * ------------------------------------------------------------------------ */

typedef struct coffer_secbuf {
    char *data;   /* NUL-terminated */
    size_t len;
    size_t cap;
} coffer_secbuf;

COFFER_API int coffer_secbuf_reserve(coffer_secbuf *b, size_t extra);
COFFER_API int coffer_secbuf_append(coffer_secbuf *b, const void *p, size_t n);
/* Wipes and frees; the struct is reset to empty. */
COFFER_API void coffer_secbuf_release(coffer_secbuf *b);

/* ------------------------------------------------------------------------
 * Sources
 *
 * A store reads an ordered list of sources; later sources override earlier
 * ones key by key at the root (a root-level table is replaced whole).
 * ------------------------------------------------------------------------ */

typedef enum coffer_source_kind {
    COFFER_SOURCE_FILE = 0, /* a TOML file */
    COFFER_SOURCE_DIR,      /* Kubernetes-style directory: dir/key/... */
    COFFER_SOURCE_FLAT,     /* flat credentials dir: each file a root key */
    COFFER_SOURCE_TEXT,     /* TOML text held in memory */
    COFFER_SOURCE_AUTO,     /* a path: a directory is DIR, anything else FILE;
                               a "flat:" prefix selects FLAT, "dotenv:"
                               selects DOTENV */
    COFFER_SOURCE_DOTENV,   /* a .env file (python-dotenv syntax, strict):
                               each assignment a root string key */
    COFFER_SOURCE_ETCD      /* etcd://HOST:PORT[,HOST:PORT...]/KEY (etcds://
                               for TLS): the key's value, a TOML document */
} coffer_source_kind;

/* Static name: "file", "dir", "flat", "text", "auto", "dotenv", "etcd". */
COFFER_API const char *coffer_source_kind_name(coffer_source_kind k);

/* ------------------------------------------------------------------------
 * Stores and snapshots
 *
 * A store is opened with no I/O. The first access loads every source into
 * an immutable, reference-counted snapshot; later accesses reuse it. A
 * watched store (coffer_store_watch) swaps in a new snapshot after each
 * change; readers holding the old one keep a consistent view until they
 * release it.
 *
 * Thread safety: every function on a store and on snapshots may be called
 * from any number of threads at once, except coffer_store_close.
 * ------------------------------------------------------------------------ */

typedef struct coffer_store coffer_store;
typedef struct coffer_snapshot coffer_snapshot;

/* Diagnostics: one warning (never holding a value) per call. */
typedef void (*coffer_diag_fn)(void *ctx, const char *file,
                               const char *message);

enum coffer_store_flags {
    /* Refuse secrets files readable by group or others (as for ssh keys).
     * Also set by COFFER_STRICT=1 (or true, yes, on) in the environment. */
    COFFER_STORE_STRICT_PERMS = 1u << 0,
    /* Fail with COFFER_ELOCK if secret memory cannot be locked. */
    COFFER_STORE_REQUIRE_LOCK = 1u << 1,
    /* Use the plain allocator instead of locked memory (tests, benches). */
    COFFER_STORE_PLAIN_MEMORY = 1u << 2,
    /* Do not add $CREDENTIALS_DIRECTORY and $COFFER_SECRETS as sources.
     * Without it, the store copies $COFFER_SECRETS into secure memory,
     * overwrites the variable's bytes in the environment (when they are
     * in writable memory) and unsets it: only the first store opened in a
     * process sees it (set it again for another). */
    COFFER_STORE_NO_ENV_SOURCES = 1u << 3
};

typedef struct coffer_store_options {
    /* Explicit source paths, lowest precedence first. Every entry, here,
     * in the variables and in [secrets] files, follows one rule: a .toml
     * file (it may be missing), an existing directory, or "flat:DIR";
     * anything else fails the first load with COFFER_ECONFIG. NULL or
     * count 0: COFFER_SECRETS_FILES (':'-separated; its alias
     * STREAMLIT_SECRETS_FILES when it is unset) if set, else
     * [secrets] files from the config files, else the default files
     * $HOME/.streamlit/secrets.toml and $CWD/.streamlit/secrets.toml. */
    const char *const *paths;
    size_t path_count;
    /* Directory standing for the current working directory (CLI -C);
     * NULL: getcwd(). Relative paths are resolved against it. */
    const char *cwd;
    unsigned flags;                 /* coffer_store_flags */
    coffer_diag_fn diag;            /* NULL: warnings go to stderr */
    void *diag_ctx;
    coffer_parse_options parse;     /* limits; allocator is ignored */
} coffer_store_options;

/* Reads COFFER_STRICT: 1, true, yes, on (any case) set *strict; unset,
 * empty, 0, false, no, off clear it. Any other value fails closed with
 * COFFER_EINVAL (message quotes the value) and *strict false. */
COFFER_API int coffer_env_strict(bool *strict, coffer_error *err);

/* Opens a store (no I/O). opt may be NULL for all defaults. Fails with
 * COFFER_EINVAL for an invalid COFFER_STRICT (coffer_env_strict).
 * Encrypted sources (values "ENC[coffer:v1,...]" and a [coffer] table, see
 * docs/SECURITY.md) are decrypted on load with the identities of
 * $COFFER_AGE_KEY (copied into secure memory here), else the file named by
 * $COFFER_AGE_KEY_FILE, else $HOME/.config/coffer/keys.txt (read on first
 * need, refused when group/world-accessible), and $COFFER_AGE_PASSPHRASE
 * for passphrase recipients. Without a usable identity the load succeeds
 * and every read of an encrypted value (getters, sections, export) fails
 * with COFFER_ECRYPTO "no identity can decrypt 'FILE'"; provenance
 * (coffer_snapshot_where) still works. Tampered data with a working
 * identity fails the load. */
COFFER_API COFFER_WUR int coffer_store_open(const coffer_store_options *opt,
                                            coffer_store **out,
                                            coffer_error *err);

/* Adds TOML text held in memory as the last (highest) source. The text is
 * copied into secure memory. Must be called before the first access. */
COFFER_API int coffer_store_add_text(coffer_store *s, const char *name,
                                     const char *toml, size_t len,
                                     coffer_error *err);

/* Stops any watch, releases the store's reference to its snapshot and
 * frees the store. Snapshots still held stay valid until released. */
COFFER_API void coffer_store_close(coffer_store *s);

/* The process-wide default store, opened from the default sources on
 * first use (thread-safe). NULL if out of memory or if COFFER_STRICT has
 * an invalid value (fail closed: no secrets rather than lax checks). */
COFFER_API coffer_store *coffer_default_store(void);

/* Loads if not yet loaded and returns the current snapshot with one
 * reference you now own: release it with coffer_snapshot_release. */
COFFER_API COFFER_WUR int coffer_store_acquire(coffer_store *s,
                                               coffer_snapshot **out,
                                               coffer_error *err);

/* Forces a reload now. On failure the previous snapshot stays current
 * and the error is returned. */
COFFER_API int coffer_store_reload(coffer_store *s, coffer_error *err);

COFFER_API coffer_snapshot *coffer_snapshot_retain(coffer_snapshot *snap);
COFFER_API void coffer_snapshot_release(coffer_snapshot *snap);

/* The merged root table. */
COFFER_API const coffer_value *coffer_snapshot_root(const coffer_snapshot *snap);

/* Calls fn once for every leaf under v, in document order, with the leaf's
 * key path as `coffer list`, `coffer watch` and reload diffs print it
 * (bare keys as they are, others quoted with terminal controls as \uXXXX;
 * [N] for each table of an array of tables; any other array is one leaf;
 * an empty table other than v itself is a leaf). Paths start with prefix
 * (NULL or "" for none: v is then the root and never a leaf itself). The
 * walk is iterative and refuses trees deeper than COFFER_MAX_DEPTH + 1
 * containers. Returns 0, COFFER_ENOMEM, COFFER_ELIMIT, or fn's first
 * non-zero return (which stops the walk). path is valid during the call. */
typedef int (*coffer_leaf_fn)(void *ctx, const char *path, size_t len,
                              const coffer_value *leaf);
COFFER_API int coffer_value_leaves(const coffer_value *v, const char *prefix,
                                   coffer_leaf_fn fn, void *ctx);

/* Generation number: 1 for the first load, +1 for each swapped-in reload. */
COFFER_API uint64_t coffer_snapshot_generation(const coffer_snapshot *snap);

/* Looks up a path (see coffer_value_seek). A missing key fails with
 * COFFER_ENOKEY and a message naming the key, where secrets are looked
 * for, and the nearest existing key ("did you mean 'db_username'?"). */
COFFER_API int coffer_snapshot_get(const coffer_snapshot *snap,
                                   const char *path,
                                   const coffer_value **out,
                                   coffer_error *err);

/* Typed lookups: COFFER_ENOKEY if missing, COFFER_ETYPE (message names
 * the key and both types) on a type mismatch. */
COFFER_API int coffer_snapshot_get_string(const coffer_snapshot *snap,
                                          const char *path, const char **s,
                                          size_t *len, coffer_error *err);
COFFER_API int coffer_snapshot_get_int(const coffer_snapshot *snap,
                                       const char *path, int64_t *out,
                                       coffer_error *err);
COFFER_API int coffer_snapshot_get_double(const coffer_snapshot *snap,
                                          const char *path, double *out,
                                          coffer_error *err);
COFFER_API int coffer_snapshot_get_bool(const coffer_snapshot *snap,
                                        const char *path, bool *out,
                                        coffer_error *err);
COFFER_API int coffer_snapshot_get_datetime(const coffer_snapshot *snap,
                                            const char *path,
                                            coffer_datetime *out,
                                            coffer_error *err);

/* Provenance of the value at path: the source it came from (the path as
 * configured; for directory sources the file inside it) and its line
 * (1 for directory files). Borrowed from the snapshot. */
COFFER_API int coffer_snapshot_where(const coffer_snapshot *snap,
                                     const char *path, const char **file,
                                     unsigned *line, coffer_error *err);

/* Store-level conveniences: acquire, look up, release. The returned view
 * is borrowed from the store's current snapshot.
 * WARNING: on a watched store a reload may free that snapshot; hold a
 * snapshot (coffer_store_acquire) while using values from a watched store. */
COFFER_API int coffer_store_get(coffer_store *s, const char *path,
                                const coffer_value **out, coffer_error *err);
COFFER_API int coffer_store_get_string(coffer_store *s, const char *path,
                                       const char **str, coffer_error *err);

/* Sources of the store in precedence order (lowest first), including
 * missing ones. Valid until the store is closed. */
typedef struct coffer_source_info {
    const char *path;        /* as configured (absolute); "" for TEXT */
    const char *name;        /* display name ("$COFFER_SECRETS", path...) */
    coffer_source_kind kind; /* resolved kind (never AUTO once loaded) */
    bool found;              /* exists (as of the last load or stat) */
} coffer_source_info;

COFFER_API size_t coffer_store_source_count(coffer_store *s);
COFFER_API int coffer_store_source(coffer_store *s, size_t i,
                                   coffer_source_info *out);
/* What to show for source i (NUL-terminated into buf of size n): its name,
 * and for an etcd source "@REVISION" of the value last read plus
 * " (cached copy from N min ago)" when the last-known-good cache served
 * it. Never a credential. Returns 0 or COFFER_EINVAL. */
COFFER_API int coffer_store_source_describe(coffer_store *s, size_t i,
                                            char *buf, size_t n);

/* Root keys that a later source shadowed: how many, and entry i (key, the
 * winning source's name and the shadowed one's). A key defined in three
 * sources gives two entries. Borrowed from the snapshot. Returns 0, or
 * COFFER_EINVAL if i is out of range. */
COFFER_API size_t coffer_snapshot_shadow_count(const coffer_snapshot *snap);
COFFER_API int coffer_snapshot_shadow(const coffer_snapshot *snap, size_t i,
                                      const char **key,
                                      const char **winner_file,
                                      const char **shadowed_file);

/* Validates every source of the store independently, without stopping at
 * the first problem, and reports each finding (never a value) through
 * finding(ctx, severity, file, message), severity 0 info, 1 warning,
 * 2 error: TOML errors (message "FILE:LINE:COL: msg", as
 * coffer_error_format prints a load error), unreadable or
 * non-regular files, permissions (group/other-writable or foreign owner:
 * error; group/other-readable: warning, error in strict mode), unsafe
 * directories (coffer_path_dirs_check: error), directory layout errors, invalid [secrets] files configuration, root keys that
 * cannot be exported (warning) or are not portable shell names (warning),
 * root keys shadowed between sources (info), missing sources (info).
 * Returns the number of error findings (>= 0), or COFFER_ENOSECRETS when
 * no source exists at all, COFFER_ECONFIG for an invalid configuration
 * (both also reported as findings), or COFFER_ENOMEM. Does not change the
 * store's current snapshot. */
typedef void (*coffer_check_fn)(void *ctx, int severity, const char *file,
                                const char *message);
COFFER_API int coffer_store_check(coffer_store *s, coffer_check_fn finding,
                                  void *ctx);

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* Writes len bytes to path atomically: a temporary file in the same
 * directory (created O_EXCL with mode 0600), write, fchmod to mode, fsync,
 * rename over path, fsync of the directory. A crash leaves either the old
 * file or the new one, never a truncated file. Replaces an existing file:
 * callers that must not overwrite check first.
 * Returns 0 or COFFER_ESYS (err names the path, sys_errno set). */
COFFER_API int coffer_file_write_atomic(const char *path, const void *data,
                                        size_t len, mode_t mode,
                                        coffer_error *err);

/* Creates path with len bytes and mode, never replacing anything: the
 * data goes to a private temporary file that is then link()ed to path
 * (O_EXCL creation where the file system has no hard links). Returns 0,
 * 1 if path already exists (nothing changed, even if it was created at
 * the same moment), or COFFER_ESYS. */
COFFER_API int coffer_file_create(const char *path, const void *data,
                                  size_t len, mode_t mode, coffer_error *err);

/* Checks the directories above path as OpenSSH StrictModes does: path's
 * directory and each one above it, both as written and with symbolic
 * links resolved, up to (not including) the first of stops (e.g. the
 * project directory and HOME) or "/" inclusive. A directory writable by
 * group or others is unsafe unless it is sticky and owned by you or root.
 * Returns 0, or COFFER_EPERM (err names the first unsafe directory). */
COFFER_API int coffer_path_dirs_check(const char *path,
                                      const char *const *stops, size_t nstops,
                                      coffer_error *err);

/* ------------------------------------------------------------------------
 * Sections: a table of scalars as NULL-terminated parallel arrays, ready
 * for APIs such as PQconnectdbParams(keys, values, 0). Non-string scalars
 * are formatted as in coffer_value_format(TEXT); nested tables and arrays
 * are an error (COFFER_ETYPE naming the member).
 * ------------------------------------------------------------------------ */

typedef struct coffer_section {
    const char *const *keys;   /* count entries, then NULL */
    const char *const *values; /* count entries, then NULL */
    size_t count;
    void *priv_;               /* secure memory holding the above */
} coffer_section;

COFFER_API int coffer_snapshot_section(const coffer_snapshot *snap,
                                       const char *path, coffer_section *out,
                                       coffer_error *err);
/* Wipes and frees a section. */
COFFER_API void coffer_section_release(coffer_section *sec);

/* Calls fn for each member of the table at path (NULL or "" for the root)
 * in definition order; a non-zero return from fn stops and is returned. */
typedef int (*coffer_foreach_fn)(void *ctx, const char *key,
                                 const coffer_value *v);
COFFER_API int coffer_snapshot_foreach(const coffer_snapshot *snap,
                                       const char *path, coffer_foreach_fn fn,
                                       void *ctx, coffer_error *err);

/* ------------------------------------------------------------------------
 * Environment export
 *
 * One definition decides which root keys become environment variables,
 * under which name and with which text. coffer_store_export, the CLI's
 * `coffer env` (every format), `coffer run` and coffer_store_check all use
 * it (coffer_env_plan), so they never disagree:
 *
 *   name   = prefix + key (the key upper-cased, ASCII only, with
 *            COFFER_EXPORT_UPPER)
 *   text   = strings as they are, integers in decimal, floats as
 *            coffer_format_double, booleans "true"/"false" only with
 *            COFFER_EXPORT_BOOLEANS. Dates/times, arrays, tables (and
 *            booleans without the flag) are not variables: no finding.
 *   not exported, with a finding (coffer_env_status):
 *     COFFER_ENV_BAD_NAME      empty, or holds '=' or a NUL byte
 *     COFFER_ENV_NOT_PORTABLE  not [A-Za-z_][A-Za-z0-9_]*
 *     COFFER_ENV_NUL_VALUE     the text holds a NUL byte
 *     COFFER_ENV_DANGEROUS     a loader, shell, interpreter or coffer
 *                              variable (coffer_env_name_dangerous) that
 *                              was not allowed
 *     COFFER_ENV_DUPLICATE     an earlier key maps to the same name
 *
 * For NOT_PORTABLE and NUL_VALUE the export unsets the variable of that
 * name (unless COFFER_EXPORT_KEEP_EXISTING), so a stale value from the
 * parent environment never stands in for the secret. A DANGEROUS name
 * keeps the process's own value.
 *
 * Allowing a dangerous name: list it in coffer_env_options.allow, or in
 * $COFFER_ALLOW_ENV (NAME[,NAME...]) in the process's environment. Never
 * from a secrets source: COFFER_ALLOW_ENV itself can never be exported.
 * ------------------------------------------------------------------------ */

enum coffer_export_flags {
    COFFER_EXPORT_KEEP_EXISTING = 1u << 0, /* do not overwrite set variables */
    COFFER_EXPORT_UPPER = 1u << 1,         /* upper-case the key (ASCII) */
    COFFER_EXPORT_BOOLEANS = 1u << 2       /* export booleans as true/false */
};

typedef enum coffer_env_status {
    COFFER_ENV_OK = 0,
    COFFER_ENV_BAD_NAME,
    COFFER_ENV_NOT_PORTABLE,
    COFFER_ENV_NUL_VALUE,
    COFFER_ENV_DANGEROUS,
    COFFER_ENV_DUPLICATE
} coffer_env_status;

typedef struct coffer_env_options {
    unsigned flags;             /* coffer_export_flags */
    const char *prefix;         /* prepended to every name; NULL: none */
    const char *const *allow;   /* dangerous names allowed (exact final
                                   names), NULL-terminated; NULL: none */
} coffer_env_options;

/* One root key as the plan sees it. Views are valid during the callback
 * only; text is in secure memory and wiped afterwards. */
typedef struct coffer_env_item {
    const char *key;            /* the root key */
    size_t keylen;
    const char *name;           /* the variable name (NUL-terminated) */
    size_t namelen;
    const char *text;           /* the value's text: COFFER_ENV_OK only */
    size_t textlen;
    coffer_env_status status;
    bool unset;                 /* the export unsets the variable `name` */
} coffer_env_item;

typedef int (*coffer_env_fn)(void *ctx, const coffer_env_item *item);

/* Calls fn for each root member of root (a table) that is a variable
 * candidate (see above), in definition order; a non-zero return from fn
 * stops and is returned. opt may be NULL (defaults). Returns 0 or a
 * negative code (COFFER_ENOMEM, COFFER_EINVAL). */
COFFER_API int coffer_env_plan(const coffer_value *root,
                               const coffer_env_options *opt,
                               coffer_env_fn fn, void *ctx);

/* A short lower-case reason for a status ("not a portable shell name
 * ([A-Za-z_][A-Za-z0-9_]*)", ...); "" for COFFER_ENV_OK. */
COFFER_API const char *coffer_env_status_text(coffer_env_status st);

/* True if name is on coffer's list of dangerous variables (PATH, LD_*,
 * BASH_ENV, IFS, PS1-PS4, PYTHONPATH, NODE_OPTIONS, GIT_*, COFFER_* ...;
 * the table is in src/store/env.c and in coffer(1)). */
COFFER_API bool coffer_env_name_dangerous(const char *name, size_t len);

/* True if the key can be exported (non-empty, no '=', no NUL). */
COFFER_API bool coffer_env_name_ok(const char *key, size_t len);
/* True if the key is a portable shell name: [A-Za-z_][A-Za-z0-9_]*. */
COFFER_API bool coffer_env_name_portable(const char *key, size_t len);

/* Formats the exportable value of v (string/int/float) into a secure
 * buffer; returns 1 if v is exportable, 0 if not, or a negative code.
 * (Booleans: 0; coffer_env_plan applies COFFER_EXPORT_BOOLEANS.) */
COFFER_API int coffer_env_value(const coffer_value *v, coffer_secbuf *out);

/* A key for a one-line diagnostic, into buf (NUL-terminated, at most n-1
 * bytes; long keys are cut with "..."): the key as it is when it is
 * printable, else in TOML quoted-key syntax with \uXXXX escapes for
 * control characters (C0, DEL, C1) and bidirectional overrides. Every
 * coffer diagnostic that names a key uses this. Returns buf. */
COFFER_API const char *coffer_key_display(char *buf, size_t n,
                                          const char *key, size_t keylen);

/* Quoting a variable's text for a file or a shell. */
typedef enum coffer_env_syntax {
    /* POSIX sh: single quotes, ' written as '\''; exact under eval in
     * bash, dash, zsh (and bash --posix) */
    COFFER_ENV_SYNTAX_SH = 0,
    /* python-dotenv (with and without interpolation) and coffer's own
     * "dotenv:" reader: double quotes with \\ \" \n \r escapes; a value
     * ending in a backslash unquoted when that is safe */
    COFFER_ENV_SYNTAX_DOTENV
} coffer_env_syntax;

/* Appends text (len bytes) quoted for syntax to out. Returns 1 if it was
 * appended, 0 if the text cannot be written so that it reads back exactly
 * (*why, if not NULL, is set to a static lower-case reason; nothing is
 * appended), or a negative code. Refused: a NUL byte (both); for dotenv a
 * python-dotenv ${NAME} or ${NAME:-default} reference (python-dotenv
 * expands it by default and has no escape for it), and a value that ends
 * in a backslash and holds a space, a control or non-ASCII character, or
 * starts with a quote. */
COFFER_API int coffer_env_quote(coffer_secbuf *out, coffer_env_syntax syntax,
                                const char *text, size_t len,
                                const char **why);

/* Exports the store's current secrets into this process's environment
 * (coffer_env_plan with opt; NULL: defaults). Remembers what it set so
 * that a later export after a reload updates changed values and unsets
 * removed keys, and so that coffer_store_unexport removes exactly what it
 * set. The variables are set with putenv on strings in locked, never
 * dumped records, so libc holds no plain copy of a value.
 *
 * Lifetime of getenv() results: a pointer returned by getenv() for a
 * variable coffer set never dangles. It reads the value as long as coffer
 * keeps that variable set; when coffer replaces the value (re-export of a
 * changed value), unsets the variable (unexport, removed key) the old
 * string is wiped and reads "" from then on. A value that did not change
 * keeps its string across a re-export. Records stay mapped for the life
 * of the process, even after coffer_store_close (variables still set then
 * keep pointing into them); each export that changes something costs one
 * locked record of the changed names and values, rounded up to pages. */
COFFER_API int coffer_store_export_with(coffer_store *s,
                                        const coffer_env_options *opt,
                                        coffer_error *err);
/* coffer_store_export_with with only flags set. */
COFFER_API int coffer_store_export(coffer_store *s, unsigned flags,
                                   coffer_error *err);

/* Unsets each variable coffer set, where it still holds the string coffer
 * set, and wipes the strings (see the lifetime above). Returns the number
 * unset. */
COFFER_API int coffer_store_unexport(coffer_store *s);

/* ------------------------------------------------------------------------
 * Watching (live reload)
 * ------------------------------------------------------------------------ */

/* Called after a new snapshot is swapped in, with the key paths that were
 * added, changed or removed (never values). Runs on the thread that
 * processed the events, with the watch's lock held.
 * WARNING: do not call coffer_store_unwatch, coffer_store_close or
 * coffer_store_watch_process from a watch callback (it would deadlock). */
typedef void (*coffer_change_fn)(void *ctx, const coffer_snapshot *snap,
                                 const char *const *added, size_t nadded,
                                 const char *const *changed, size_t nchanged,
                                 const char *const *removed, size_t nremoved);

/* Called when a reload fails; the last good snapshot stays current. */
typedef void (*coffer_reload_error_fn)(void *ctx, const coffer_error *err);

enum coffer_watch_flags {
    COFFER_WATCH_POLL = 1u << 0,   /* polling even where inotify works */
    COFFER_WATCH_THREAD = 1u << 1, /* run a helper thread */
    COFFER_WATCH_EXPORT = 1u << 2  /* re-export env vars after each reload,
                                      with the options of the last export */
};

typedef struct coffer_watch_options {
    unsigned flags;           /* coffer_watch_flags */
    unsigned poll_ms;         /* polling interval; 0: 1000 ms */
    unsigned debounce_ms;     /* quiet time before a reload; 0: 20 ms.
                                 After an event that completes a write (a
                                 rename into place, a writer closing the
                                 file) only debounce_ms / 10, rounded up */
    coffer_change_fn on_change;
    coffer_reload_error_fn on_error;
    void *ctx;
} coffer_watch_options;

/* Starts watching every source of s (inotify on Linux, else polling; a
 * source or its directory may be missing: it is picked up when created).
 * Without COFFER_WATCH_THREAD, the caller polls coffer_store_watch_fd() for
 * readability (and at least every coffer_store_watch_timeout() ms) and then
 * calls coffer_store_watch_process(). Fails with COFFER_EINVAL if s is
 * already watched. A file written in place is reloaded once its writer
 * closes it; a file renamed into place is always whole. No reload waits
 * more than max(2 s, 10 * debounce_ms) after the change that made it due.
 * See docs/DESIGN.md, "Live reload".
 * WARNING: with COFFER_WATCH_EXPORT and COFFER_WATCH_THREAD, setenv runs on
 * the helper thread; other threads must not read the environment then. */
COFFER_API int coffer_store_watch(coffer_store *s,
                                  const coffer_watch_options *opt,
                                  coffer_error *err);
/* The descriptor to poll for readability: the inotify descriptor (joined
 * in an epoll descriptor with the etcd watch threads' eventfd when there
 * are etcd sources; the eventfd alone when polling), or -1 when polling
 * without etcd sources (or not watched): then rely on the timeout alone. */
COFFER_API int coffer_store_watch_fd(coffer_store *s);
/* Milliseconds until the next poll or debounce deadline; -1 for none. */
COFFER_API int coffer_store_watch_timeout(coffer_store *s);
/* Handles pending events; reloads if a debounced change is due. Returns 1
 * if a new snapshot was swapped in, 0 if not, or a negative code. A failed
 * reload (invalid content, "no secrets found") also calls on_error, keeps
 * the last good snapshot and returns its code; the watch stays active and
 * the next change retries. Does not wait for events. */
COFFER_API int coffer_store_watch_process(coffer_store *s, coffer_error *err);
/* Stops watching (joins the helper thread, closes fds). */
COFFER_API void coffer_store_unwatch(coffer_store *s);

/* ------------------------------------------------------------------------
 * Remote sources: writing to etcd (coffer push, coffer history)
 *
 * url is etcd://HOST:PORT[,HOST:PORT...]/KEY or etcds://... . Connection
 * options come from the environment (COFFER_ETCD_CACERT, COFFER_ETCD_CERT,
 * COFFER_ETCD_KEY, COFFER_ETCD_USER, COFFER_ETCD_PASSWORD_FILE,
 * COFFER_ETCD_TIMEOUT_MS; see coffer(1)). Members are tried in order.
 * Errors: COFFER_EREMOTE (no member reachable, every one named),
 * COFFER_EPERM (credentials refused), COFFER_ECONFIG (bad url, or coffer
 * built without etcd support / libcurl.so.4 missing).
 * ------------------------------------------------------------------------ */

enum coffer_push_flags {
    COFFER_PUSH_FORCE = 1u << 0 /* write without the compare-and-swap */
};

/* Validates toml (len bytes; COFFER_ESYNTAX with line and column, nothing
 * written), then writes it as the key's value with a transaction that
 * compares the key's mod_revision with expect (or, when expect < 0, with
 * the mod_revision read just before; 0 means "the key must not exist").
 * A concurrent writer that got in between makes it fail with
 * COFFER_ECONFLICT and nothing is written. COFFER_PUSH_FORCE writes
 * unconditionally. *revision (may be NULL) gets the new revision. */
COFFER_API int coffer_remote_push(const char *url, const char *toml,
                                  size_t len, unsigned flags, int64_t expect,
                                  int64_t *revision, coffer_error *err);

/* One revision of a key, newest first. compacted: the entry marks that
 * older revisions were compacted away (the other fields are 0). etcd keeps
 * no modification times. */
typedef struct coffer_remote_rev {
    int64_t revision;  /* mod_revision */
    int64_t version;   /* 1 for the first write since creation */
    size_t size;       /* bytes of the value (never the value) */
    int compacted;
} coffer_remote_rev;
typedef int (*coffer_remote_rev_fn)(void *ctx, const coffer_remote_rev *r);

/* Calls fn for each revision of the key, newest first, reading earlier
 * revisions until the key's creation or the compaction point; a non-zero
 * return from fn stops and is returned. COFFER_ENOKEY if the key does not
 * exist now. */
COFFER_API int coffer_remote_history(const char *url, coffer_remote_rev_fn fn,
                                     void *ctx, coffer_error *err);

#ifdef __cplusplus
}
#endif
#endif /* COFFER_H */
