/*
 * internal.h - shared internals of libcoffer. Not installed.
 *
 * Memory model: every document and snapshot owns one coffer_arena. The
 * arena takes chunks from a coffer_allocator and hands out bump-allocated
 * pieces; nothing is freed piecewise except container blocks, which go to
 * per-size free lists inside the same arena for reuse. coffer_arena_release
 * wipes every chunk, then releases it. No secret byte ever leaves the arena
 * through realloc.
 *
 * Tree model: a value is a 32-byte coffer_value node. Table members and
 * array elements are stored contiguously as nodes in a coffer_container
 * (key and keylen are set for table members, NULL/0 for array elements).
 * Strings are decoded in place in the source buffer (decoding only ever
 * shrinks) and NUL-terminated there, so string values and keys point into
 * the document's own copy of the text.
 */
#ifndef COFFER_INTERNAL_H
#define COFFER_INTERNAL_H

#include "coffer.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define COFFER_INTERNAL __attribute__((visibility("hidden")))
#define COFFER_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define COFFER_LIKELY(x) __builtin_expect(!!(x), 1)
#define COFFER_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define COFFER_INTERNAL
#define COFFER_PRINTF(a, b)
#define COFFER_LIKELY(x) (x)
#define COFFER_UNLIKELY(x) (x)
#endif

/* ---------------------------------------------------------------- arena */

typedef struct coffer_chunk coffer_chunk;

typedef struct coffer_arena {
    const coffer_allocator *allocator;
    coffer_chunk *chunks;   /* newest first */
    char *cur;              /* bump pointer in the newest chunk */
    char *end;
    size_t total;           /* bytes taken from the allocator */
    size_t next_chunk;      /* size of the next chunk */
    void *free_lists[32];   /* container blocks by power-of-two class */
} coffer_arena;

COFFER_INTERNAL void coffer_arena_init(coffer_arena *a,
                                       const coffer_allocator *alloc,
                                       size_t first_chunk);
/* Wipes and releases every chunk; the arena is empty afterwards. */
COFFER_INTERNAL void coffer_arena_release(coffer_arena *a);
/* size bytes aligned to 8; NULL when the allocator fails. */
COFFER_INTERNAL void *coffer_arena_alloc(coffer_arena *a, size_t size);
/* Adopts a block obtained from a->allocator as a chunk of the arena. */
COFFER_INTERNAL int coffer_arena_adopt(coffer_arena *a, void *block,
                                       size_t size);
/* Blocks of 2^cls bytes (cls >= 4) with reuse through free lists. */
COFFER_INTERNAL void *coffer_arena_block(coffer_arena *a, unsigned cls);
COFFER_INTERNAL void coffer_arena_unblock(coffer_arena *a, void *p,
                                          unsigned cls);
/* Gives a region of size bytes (8-aligned) back to the free lists as
 * power-of-two blocks. */
COFFER_INTERNAL void coffer_arena_give_back(coffer_arena *a, void *p,
                                            size_t size);
/* Like coffer_arena_alloc, but takes a free block first if one of the
 * next power of two (or twice that) is there; the rest goes back. */
COFFER_INTERNAL void *coffer_arena_alloc_reuse(coffer_arena *a, size_t size);
/* size bytes from a new chunk with chunk (>= size) bytes of room that
 * becomes the bump region: a buffer and what follows it share a chunk. */
COFFER_INTERNAL void *coffer_arena_alloc_fresh(coffer_arena *a, size_t size,
                                               size_t chunk);
COFFER_INTERNAL char *coffer_arena_strndup(coffer_arena *a, const char *s,
                                           size_t n);

/* ----------------------------------------------------------------- tree */

typedef struct coffer_container coffer_container;

/* Node flags (parse-time bookkeeping, kept for checks and printing). */
enum {
    COFFER_NF_DEFINED = 1u << 0,  /* table defined by a [header] */
    COFFER_NF_IMPLICIT = 1u << 1, /* table created implicitly by a path */
    COFFER_NF_DOTTED = 1u << 2,   /* table created/extended by dotted keys */
    COFFER_NF_INLINE = 1u << 3,   /* inline table or array literal: sealed */
    COFFER_NF_AOT = 1u << 4,      /* array of tables from [[header]] */
    COFFER_NF_LOCKED = 1u << 5    /* an ENC string no identity could open
                                     (store/crypt.c): getters refuse it */
};

struct coffer_value {
    const char *key;   /* member key (NUL-terminated), NULL for elements */
    uint16_t keylen;
    uint8_t type;      /* coffer_type */
    uint8_t flags;     /* COFFER_NF_* */
    uint32_t len;      /* string length in bytes */
    uint32_t line;
    uint32_t col;
    union {
        const char *s;             /* string (NUL-terminated) */
        int64_t i;
        double f;
        int b;
        coffer_datetime *dt;       /* in the arena */
        coffer_container *c;       /* array or table */
    } u;
};

struct coffer_container {
    coffer_value *items; /* contiguous, in the arena */
    uint32_t count;
    uint32_t cap;        /* power of two while growing; count once trimmed;
                            COFFER_CAP_INDEXED: a table with a hash index
                            (value.c), whose slots precede the items */
};

#define COFFER_CAP_INDEXED 0x80000000u
/* A table gets a hash index when its member count passes this. */
#define COFFER_INDEX_FROM 32

/* Bytes of staging blocks a parse borrows from a non-plain allocator and
 * gives back (wiped) when it ends (see parse.c): 10 stages of 32 nodes. */
#define COFFER_PARSE_STAGE_BYTES (10 * 32 * sizeof(coffer_value))

/* A parsed document, in its own arena: the tree plus what releasing the
 * arena needs (nothing is allocated from it once the parse is done). */
struct coffer_doc {
    coffer_value root;   /* type TABLE */
    const coffer_allocator *allocator;
    coffer_chunk *chunks; /* of the arena (the text is in one of them) */
    size_t total;         /* bytes taken from the allocator */
};

/* Hash of a key (used by table indexes). */
/* A character of a TOML bare key: A-Za-z0-9_- (the parser has its own
 * table for its hot loop). coffer_bare_key: a non-empty bare key. */
static inline bool coffer_bare_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static inline bool coffer_bare_key(const char *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!coffer_bare_char((unsigned char)k[i]))
            return false;
    return n > 0;
}

/* The value of hex digit c, or -1 (TOML escapes, key paths). */
static inline int coffer_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

COFFER_INTERNAL uint32_t coffer_hash(const char *s, size_t n);

/* Table lookup by exact key; NULL if absent. */
COFFER_INTERNAL coffer_value *coffer_table_find(const coffer_container *c,
                                                const char *key, size_t n);
/* Appends a member (or element, key NULL) and returns the new node,
 * zeroed apart from key/keylen; NULL when out of memory. Maintains the
 * hash index of tables with more than 32 members. */
COFFER_INTERNAL coffer_value *coffer_container_push(coffer_arena *a,
                                                    coffer_container *c,
                                                    const char *key,
                                                    size_t keylen);

/* Moves the members of c out of a block the arena does not own (the
 * parser's stages) into an arena block with room for more: an indexed one
 * for a table of COFFER_INDEX_FROM members or more. The old block is left
 * alone. Returns 0, or -1 when out of memory. */
COFFER_INTERNAL int coffer_container_unstage(coffer_arena *a,
                                             coffer_container *c);

/* Gives the unused tail of a finished container back to the arena's free
 * lists (cap becomes count); a later push grows it again. */
COFFER_INTERNAL void coffer_container_trim(coffer_arena *a,
                                           coffer_container *c);

/* Parses the path syntax of coffer_value_seek into its parts: calls fn for
 * each step (key with length, or index >= 0 with key NULL). Returns 0 or
 * COFFER_EINVAL (err set). Used by seek and by the store's suggestions. */
typedef int (*coffer_path_step_fn)(void *ctx, const char *key, size_t n,
                                   long index);
COFFER_INTERNAL int coffer_path_walk(const char *path, coffer_path_step_fn fn,
                                     void *ctx, coffer_error *err);
/* Only the syntax of a path: 0 or COFFER_EINVAL with the message. */
COFFER_INTERNAL int coffer_path_check(const char *path, coffer_error *err);

/* --------------------------------------------------------------- errors */

/* Sets err (if not NULL) and returns code. file may be NULL. */
COFFER_INTERNAL int coffer_error_set(coffer_error *err, int code,
                                     const char *file, unsigned line,
                                     unsigned col, const char *fmt, ...)
    COFFER_PRINTF(6, 7);
COFFER_INTERNAL void coffer_error_clear(coffer_error *err);

/* ------------------------------------------------------------ utilities */

/* Python-style shortest float text (see coffer_format_double). */
COFFER_INTERNAL int coffer_fmt_double(double d, char *buf, size_t n);

#endif /* COFFER_INTERNAL_H */
