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

/* Secure blocks through a per-process pool (secure.c): take is the secure
 * allocator's alloc, but reuses a released block with the same number of
 * pages when one waits; give wipes the first dirty bytes from p (the rest
 * must not have been written since take) and keeps the block locked,
 * undumpable and inaccessible for the next take, or unmaps it when the
 * pool is full. size is the one given to take. */
COFFER_INTERNAL void *coffer_secure_take(size_t size);
COFFER_INTERNAL void coffer_secure_give(void *p, size_t size, size_t dirty);

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
/* A TOML \u / \U escape, the one decoder (string escapes in the parser,
 * quoted keys in paths). s points at the 'u' or 'U' after the backslash;
 * its 4 or 8 hex digits are read (a NUL stops them). On success the UTF-8
 * encoding (1..4 bytes) is written to out and the number of characters
 * consumed from s (5 or 9) returned. -1: a digit is missing or not hex;
 * -2: the code point is a surrogate or above U+10FFFF. */
static inline int coffer_unicode_escape(const char *s, char out[4],
                                        size_t *outlen)
{
    int digits = *s == 'u' ? 4 : 8;
    uint32_t cp = 0;
    for (int i = 1; i <= digits; i++) {
        int h = coffer_hex_digit((unsigned char)s[i]);
        if (h < 0)
            return -1;
        cp = cp << 4 | (uint32_t)h;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -2;
    if (cp < 0x80) {
        out[0] = (char)cp;
        *outlen = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        *outlen = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        *outlen = 3;
    } else {
        out[0] = (char)(0xf0 | cp >> 18);
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        *outlen = 4;
    }
    return digits + 1;
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

/* One step of a path from cur: the member key (n bytes) of a table, or
 * element index of an array (key NULL). The one resolver behind
 * coffer_value_seek and the snapshot lookups: returns 0 and sets *next,
 * COFFER_ENOKEY (no such member / index out of range) or COFFER_ETYPE (cur
 * is not the container the step needs); *next is NULL then. */
COFFER_INTERNAL int coffer_value_step(const coffer_value *cur, const char *key,
                                      size_t n, long index,
                                      const coffer_value **next);
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

/* UTF-8, the one validator (parser, emitter, file/dir/dotenv readers).
 * Length (1..4) of the valid sequence at s, n >= 1 bytes available; 0 for
 * a stray continuation byte, an overlong form (C0/C1, E0 80-9F, F0 80-8F),
 * a surrogate (ED A0-BF), a code point above U+10FFFF (F4 90+, F5-FF) or a
 * sequence cut short by n. Bytes are tested in order and each test stops
 * at the first non-continuation byte, so NUL-terminated text is never
 * read past its terminator. */
static inline size_t coffer_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2)
        return 0;
    if (c < 0xe0)
        return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (c == 0xe0 && s[1] < 0xa0) ||
            (c == 0xed && s[1] > 0x9f) || (s[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c < 0xf5) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (c == 0xf0 && s[1] < 0x90) ||
            (c == 0xf4 && s[1] > 0x8f) || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* True when the n bytes at str are all valid UTF-8 (see coffer_utf8_seq). */
static inline bool coffer_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = coffer_utf8_seq(s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

#endif /* COFFER_INTERNAL_H */
