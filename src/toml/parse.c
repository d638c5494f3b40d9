/* parse.c - strict TOML 1.0.0 parser.
 *
 * One pass over a NUL-terminated copy of the text that the document owns.
 * Strings and keys are decoded in place (decoding only shrinks) and
 * NUL-terminated there; nodes are 32-byte coffer_values in containers
 * from the document's arena. Arrays and inline tables are parsed with an
 * explicit stack, so nesting depth costs no C stack. */
#include "internal.h"

#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define DEFAULT_MAX_INPUT ((size_t)64 << 20)
#define DEFAULT_MAX_DEPTH ((unsigned)COFFER_MAX_DEPTH)
#define DEFAULT_MAX_KEY 4096u

_Static_assert(sizeof(coffer_container) <= 16,
               "containers are allocated as 16-byte arena blocks");

/* ------------------------------------------------------ character classes */

enum { C_BARE = 1, C_WS = 2, C_DIG = 4, C_HEX = 8, C_END = 16 };

static const uint8_t cls[256] = {
    [0] = C_END, ['\t'] = C_WS | C_END, ['\n'] = C_END, ['\r'] = C_END,
    [' '] = C_WS | C_END, ['#'] = C_END, [','] = C_END, [']'] = C_END,
    ['}'] = C_END, ['-'] = C_BARE, ['_'] = C_BARE,
    ['0' ... '9'] = C_BARE | C_DIG | C_HEX,
    ['A' ... 'F'] = C_BARE | C_HEX, ['G' ... 'Z'] = C_BARE,
    ['a' ... 'f'] = C_BARE | C_HEX, ['g' ... 'z'] = C_BARE,
};

#define IS(c, k) (cls[(unsigned char)(c)] & (k))

/* Compares a literal byte by byte: stops at the first mismatch, so it
 * never reads past the text's NUL terminator (memcmp may). */
static inline int starts(const char *s, const char *lit)
{
    while (*lit)
        if (*s++ != *lit++)
            return 0;
    return 1;
}
#define ISDIG(c) ((unsigned)((unsigned char)(c) - '0') < 10u)

/* ----------------------------------------------------------------- parser */

typedef struct seg {
    char *s;
    uint32_t len;
    uint32_t line, col;
} seg;

typedef struct frame {
    coffer_container *c;
    int is_array;
    unsigned depth; /* of c in the tree (the root is 0) */
} frame;

/* Stages. A container being filled (the root, the table of the latest
 * [header] at each depth, an array or inline table being parsed) gets its
 * members in a stage: a block of STAGE_CAP nodes owned by the parser,
 * lent while it is open. When it is complete, fit() moves it
 * to an arena block of exactly its size, so the arena holds neither growth
 * blocks nor unused capacity for it. A container that outgrows its stage
 * moves to the arena and grows there (coffer_container_unstage). The
 * stages hold copies of nodes (values among them) for a while, so they live
 * where the document does: on the C stack with the plain allocator, else
 * (locked memory) in a block from the document's allocator, given back at
 * the end of the parse; either way they are wiped when the parse ends. STAGE_CAP must not exceed COFFER_INDEX_FROM:
 * a table leaves its stage before it gets a hash index. */
#define STAGE_CAP 32
#define HSTAGES 4     /* header depths with a stage */
#define VSTAGES 3     /* array / inline table depths with a stage */
#define ASTAGES 2     /* [[header]] depths with a stage for the array */
#define NSTAGES (1 + HSTAGES + VSTAGES + ASTAGES)
#define STAGE_BYTES (sizeof(coffer_value) * STAGE_CAP * NSTAGES)
#define ROOT_STAGE 0
/* Ordered by how often a secrets file uses them, so that a typical file
 * touches only the first KiBs of the stages (with locked memory, each page
 * touched for the first time is a cost): the root, then header, array and
 * [[header]] stages depth by depth. */
#define HSTAGE(d) ((d) < 2 ? 1 + 3 * (d) : 7 + 2 * ((d) - 2)) /* 1 4 7 9 */
#define VSTAGE(d) ((d) < 2 ? 2 + 3 * (d) : 8)                  /* 2 5 8 */
#define ASTAGE(d) (3 + 3 * (d))                                /* 3 6 */
#define OPEN_DEPTHS 8 /* header depths whose tables are fitted when done */

_Static_assert(STAGE_BYTES == COFFER_PARSE_STAGE_BYTES,
               "internal.h must know the size of the stages");
_Static_assert(STAGE_CAP <= COFFER_INDEX_FROM,
               "a staged table must leave its stage before it is indexed");

typedef struct parser {
    char *p;          /* cursor */
    char *end;        /* text + len; *end == '\0' */
    char *line_start;
    uint32_t line;
    coffer_arena *a;
    coffer_error *err;
    size_t max_key;
    unsigned max_depth;
    coffer_container *root;
    coffer_container *cur; /* table of the last header */
    unsigned cur_depth;    /* its depth in the tree */
    char *text;            /* start of the text */
    size_t chunk_step;     /* largest arena chunk to ask for */
    size_t base_used;      /* arena bytes in use before the tree */
    coffer_container *open[OPEN_DEPTHS]; /* header tables not yet fitted */
    coffer_container *aopen[OPEN_DEPTHS]; /* arrays of tables, likewise */
    coffer_container *owner[NSTAGES]; /* container a stage is lent to */
    uint32_t used[NSTAGES];           /* nodes of a stage ever written */
    seg *segs;
    size_t nsegs, capsegs;
    frame *stack;
    size_t capstack;
    seg segbuf[16];
    frame stackbuf[32];
    coffer_value (*stagemem)[STAGE_CAP]; /* NSTAGES stages */
} parser;

static uint32_t col_of(const parser *P, const char *at)
{
    return at >= P->line_start ? (uint32_t)(at - P->line_start) + 1 : 1;
}

COFFER_PRINTF(5, 6)
static int fail_at(parser *P, int code, uint32_t line, uint32_t col,
                   const char *fmt, ...)
{
    if (P->err) {
        char msg[COFFER_ERROR_MESSAGE_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        coffer_error_set(P->err, code, NULL, line, col, "%s", msg);
    }
    return code;
}

#define FAIL(at, ...) \
    fail_at(P, COFFER_ESYNTAX, P->line, col_of(P, (at)), __VA_ARGS__)
#define NOMEM() fail_at(P, COFFER_ENOMEM, P->line, col_of(P, P->p), "out of memory")

/* Key path segs[0..n) joined with dots, for messages (never a value). */
static const char *keyname(const parser *P, size_t n, char *buf, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        if (i)
            buf[o++] = '.';
        const seg *g = &P->segs[i];
        for (uint32_t j = 0; j < g->len && o + 1 < size; j++) {
            unsigned char ch = (unsigned char)g->s[j];
            buf[o++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
        }
    }
    if (o + 1 >= size && size > 4)
        memcpy(buf + size - 4, "...", 3), o = size - 1;
    buf[o] = '\0';
    return buf;
}

/* ---------------------------------------------------------------- scanning */

static inline uint64_t load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t zero_bytes(uint64_t x)
{
    return (x - ONES) & ~x & HIGHS;
}

/* Mask of bytes that need a closer look in a string body or comment:
 * controls (< 0x20, including tab), DEL, non-ASCII, the quote q (0 for
 * none) and, for basic strings, the backslash. Little endian: the lowest
 * flagged byte is a true positive. */
static inline uint64_t special(uint64_t x, uint64_t q, int basic)
{
    uint64_t m = ((x - ONES * 0x20) & ~x & HIGHS) | (x & HIGHS) |
                 zero_bytes(x ^ (ONES * 0x7f));
    if (q)
        m |= zero_bytes(x ^ q);
    if (basic)
        m |= zero_bytes(x ^ (ONES * '\\'));
    return m;
}

static inline int is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* First byte at or after p that is special (see above); p <= end, and
 * *end is NUL, itself special. */
static inline char *scan(char *p, const char *end, unsigned char quote,
                         int basic)
{
#if defined(__SSE2__)
    {
        /* Signed compare: bytes >= 0x80 are negative, so "< 0x20" flags
         * controls and non-ASCII at once. */
        const __m128i c20 = _mm_set1_epi8(0x20), c7f = _mm_set1_epi8(0x7f);
        const __m128i vq = _mm_set1_epi8((char)quote);
        const __m128i vbs = _mm_set1_epi8('\\');
        while (end - p >= 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
            __m128i m = _mm_or_si128(_mm_cmplt_epi8(x, c20),
                                     _mm_cmpeq_epi8(x, c7f));
            if (quote)
                m = _mm_or_si128(m, _mm_cmpeq_epi8(x, vq));
            if (basic)
                m = _mm_or_si128(m, _mm_cmpeq_epi8(x, vbs));
            unsigned mask = (unsigned)_mm_movemask_epi8(m);
            if (mask)
                return p + __builtin_ctz(mask);
            p += 16;
        }
    }
#endif
    if (is_little_endian()) {
        const uint64_t q = quote ? ONES * quote : 0;
        while (end - p >= 8) {
            uint64_t m = special(load64(p), q, basic);
            if (m)
                return p + (__builtin_ctzll(m) >> 3);
            p += 8;
        }
    }
    for (;;) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch >= 0x7f || ch == quote || (basic && ch == '\\'))
            return p;
        p++;
    }
}

/* Length of the valid UTF-8 sequence at s (s[0] >= 0x80), or 0. The text
 * is NUL-terminated, so the checks stop at the end by themselves. */
static inline size_t utf8_seq(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0xc2)
        return 0;
    if (c < 0xe0)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c < 0xf0) {
        if ((s[1] & 0xc0) != 0x80 || (c == 0xe0 && s[1] < 0xa0) ||
            (c == 0xed && s[1] > 0x9f) || (s[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c < 0xf5) {
        if ((s[1] & 0xc0) != 0x80 || (c == 0xf0 && s[1] < 0x90) ||
            (c == 0xf4 && s[1] > 0x8f) || (s[2] & 0xc0) != 0x80 ||
            (s[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

static inline void newline_at(parser *P, char *after)
{
    P->line++;
    P->line_start = after;
}

static inline void skip_ws(parser *P)
{
    char *p = P->p;
    while (*p == ' ' || *p == '\t')
        p++;
    P->p = p;
}

/* Comment at P->p ('#'): leaves P->p at the newline or the end. */
static int comment(parser *P)
{
    char *p = P->p + 1;
    for (;;) {
        p = scan(p, P->end, 0, 0);
        unsigned char ch = (unsigned char)*p;
        if (ch == '\n' || (ch == 0 && p == P->end))
            break;
        if (ch == '\t') {
            p++;
        } else if (ch >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)p);
            if (!n)
                return FAIL(p, "invalid utf-8 in comment");
            p += n;
        } else if (ch == '\r') {
            if (p[1] == '\n')
                break;
            return FAIL(p, "carriage return not followed by newline");
        } else {
            return FAIL(p, "control character in comment");
        }
    }
    P->p = p;
    return 0;
}

/* Spaces, tabs, newlines and comments (inside arrays). */
static int skip_ws_nl(parser *P)
{
    for (;;) {
        char *p = P->p;
        while (*p == ' ' || *p == '\t')
            p++;
        P->p = p;
        if (*p == '\n') {
            P->p = p + 1;
            newline_at(P, p + 1);
        } else if (*p == '\r' && p[1] == '\n') {
            P->p = p + 2;
            newline_at(P, p + 2);
        } else if (*p == '#') {
            int rc = comment(P);
            if (rc)
                return rc;
        } else {
            return 0;
        }
    }
}

/* ----------------------------------------------------------------- strings */

/* Decodes the escape at r (just after the backslash) into *w. */
static int escape(parser *P, char **rp, char **wp)
{
    char *r = *rp, *w = *wp;
    switch (*r) {
    case 'b': *w++ = '\b'; r++; break;
    case 't': *w++ = '\t'; r++; break;
    case 'n': *w++ = '\n'; r++; break;
    case 'f': *w++ = '\f'; r++; break;
    case 'r': *w++ = '\r'; r++; break;
    case '"': *w++ = '"'; r++; break;
    case '\\': *w++ = '\\'; r++; break;
    case 'u':
    case 'U': {
        int n = *r == 'u' ? 4 : 8;
        uint32_t cp = 0;
        for (int i = 1; i <= n; i++) {
            int h = coffer_hex_digit((unsigned char)r[i]);
            if (h < 0)
                return FAIL(r - 1, "invalid unicode escape");
            cp = cp << 4 | (uint32_t)h;
        }
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return FAIL(r - 1, "unicode escape is not a scalar value");
        r += n + 1;
        if (cp < 0x80) {
            *w++ = (char)cp;
        } else if (cp < 0x800) {
            *w++ = (char)(0xc0 | cp >> 6);
            *w++ = (char)(0x80 | (cp & 0x3f));
        } else if (cp < 0x10000) {
            *w++ = (char)(0xe0 | cp >> 12);
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *w++ = (char)(0x80 | (cp & 0x3f));
        } else {
            *w++ = (char)(0xf0 | cp >> 18);
            *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
            *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
            *w++ = (char)(0x80 | (cp & 0x3f));
        }
        break;
    }
    default:
        return FAIL(r - 1, "invalid escape sequence");
    }
    *rp = r;
    *wp = w;
    return 0;
}

/* Strings are decoded in place: the text between escapes ("runs") moves
 * down over what the escapes saved. Moves the run [run, r) to w and
 * returns the new end of the decoded text. */
static inline char *flush_run(char *w, const char *run, const char *r)
{
    size_t n = (size_t)(r - run);
    if (w != run)
        memmove(w, run, n);
    return w + n;
}

/* Single-line basic (escapes decoded in place) or literal string at P->p
 * ('"' or '\'', not a multi-line opener). Inlined with a constant basic,
 * so each kind gets its own loop. */
static inline int line_string(parser *P, int basic, char **out,
                              size_t *outlen)
{
    const unsigned char q = basic ? '"' : '\'';
    char *start = P->p + 1, *r = start, *w = start, *run = start;
    for (;;) {
        r = scan(r, P->end, q, basic);
        unsigned char ch = (unsigned char)*r;
        if (ch == q)
            break;
        if (ch >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)r);
            if (!n)
                return FAIL(r, "invalid utf-8 in string");
            r += n;
        } else if (ch == '\t') {
            r++;
        } else if (basic && ch == '\\') {
            w = flush_run(w, run, r);
            r++;
            int rc = escape(P, &r, &w);
            if (rc)
                return rc;
            run = r;
        } else if (ch == '\n' || (ch == 0 && r == P->end) ||
                   (ch == '\r' && r[1] == '\n')) {
            return FAIL(P->p, "unterminated string");
        } else {
            return FAIL(r, "control character in string");
        }
    }
    w = flush_run(w, run, r);
    *w = '\0';
    *out = start;
    *outlen = (size_t)(w - start);
    P->p = r + 1;
    return 0;
}

static int basic_string(parser *P, char **out, size_t *outlen)
{
    return line_string(P, 1, out, outlen);
}

static int literal_string(parser *P, char **out, size_t *outlen)
{
    return line_string(P, 0, out, outlen);
}

/* Multi-line basic or literal string at P->p ('"""' or "'''"). */
static int ml_string(parser *P, int basic, char **out, size_t *outlen)
{
    const char q = basic ? '"' : '\'';
    char *open = P->p;
    char *start = open + 3;
    if (*start == '\n') {
        start++;
        newline_at(P, start);
    } else if (start[0] == '\r' && start[1] == '\n') {
        start += 2;
        newline_at(P, start);
    }
    char *r = start, *w = start, *run = start;
    for (;;) {
        r = scan(r, P->end, (unsigned char)q, basic);
        unsigned char ch = (unsigned char)*r;
        if (ch == (unsigned char)q) {
            if (r[1] != q || r[2] != q) {
                r++;
                continue;
            }
            size_t nq = 3;
            while (r[nq] == q)
                nq++;
            if (nq > 5)
                return FAIL(r, "too many quotes at the end of a string");
            r += nq - 3; /* up to two quotes belong to the string */
            break;
        }
        if (ch >= 0x80) {
            size_t n = utf8_seq((const unsigned char *)r);
            if (!n)
                return FAIL(r, "invalid utf-8 in string");
            r += n;
        } else if (ch == '\t') {
            r++;
        } else if (ch == '\n') {
            r++;
            newline_at(P, r);
        } else if (ch == '\r') {
            if (r[1] != '\n')
                return FAIL(r, "carriage return not followed by newline");
            r += 2;
            newline_at(P, r);
        } else if (ch == '\\') { /* basic only */
            w = flush_run(w, run, r);
            char *bs = r;
            r++;
            char *t = r;
            while (*t == ' ' || *t == '\t')
                t++;
            if (*t == '\n' || (*t == '\r' && t[1] == '\n')) {
                /* line-ending backslash: drop whitespace and newlines */
                for (;;) {
                    if (*t == ' ' || *t == '\t') {
                        t++;
                    } else if (*t == '\n') {
                        t++;
                        newline_at(P, t);
                    } else if (*t == '\r' && t[1] == '\n') {
                        t += 2;
                        newline_at(P, t);
                    } else {
                        break;
                    }
                }
                r = t;
            } else if (t != r) {
                return FAIL(bs, "invalid escape sequence");
            } else {
                int rc = escape(P, &r, &w);
                if (rc)
                    return rc;
            }
            run = r;
        } else if (ch == 0 && r == P->end) {
            return fail_at(P, COFFER_ESYNTAX, P->line, col_of(P, r),
                           "unterminated multi-line string");
        } else {
            return FAIL(r, "control character in string");
        }
    }
    w = flush_run(w, run, r);
    *w = '\0';
    *out = start;
    *outlen = (size_t)(w - start);
    P->p = r + 3;
    return 0;
}

/* ------------------------------------------------------------------- keys */

static int push_seg(parser *P)
{
    if (P->nsegs < P->capsegs)
        return 0;
    size_t ncap = P->capsegs * 2;
    seg *ns = malloc(ncap * sizeof *ns);
    if (!ns)
        return NOMEM();
    memcpy(ns, P->segs, P->nsegs * sizeof *ns);
    if (P->segs != P->segbuf)
        free(P->segs);
    P->segs = ns;
    P->capsegs = ncap;
    return 0;
}

static int too_deep(parser *P, uint32_t line, uint32_t col)
{
    return fail_at(P, COFFER_ELIMIT, line, col, "nesting deeper than %u levels",
                   P->max_depth);
}

/* Dotted key at P->p into P->segs; stops after the whitespace following
 * the last part. NUL terminators are written by terminate_keys(). Part
 * number limit (from 0) and later ones would be tables deeper than
 * max_depth: an error there if it is a table (always in a header, where
 * last counts; else when a '.' follows). */
static int key_path(parser *P, size_t limit, int last)
{
    P->nsegs = 0;
    for (;;) {
        int rc = push_seg(P);
        if (rc)
            return rc;
        seg *g = &P->segs[P->nsegs];
        char *s = P->p;
        size_t len;
        g->line = P->line;
        g->col = col_of(P, s);
        if (IS(*s, C_BARE)) {
            char *q = s + 1;
            while (IS(*q, C_BARE))
                q++;
            len = (size_t)(q - s);
            P->p = q;
        } else if (*s == '"') {
            if (s[1] == '"' && s[2] == '"')
                return FAIL(s, "a key cannot be a multi-line string");
            rc = basic_string(P, &s, &len);
            if (rc)
                return rc;
        } else if (*s == '\'') {
            if (s[1] == '\'' && s[2] == '\'')
                return FAIL(s, "a key cannot be a multi-line string");
            rc = literal_string(P, &s, &len);
            if (rc)
                return rc;
        } else if (*s == '\n' || *s == '\r' || (*s == 0 && s == P->end)) {
            return FAIL(s, P->nsegs ? "expected a key after '.'"
                                    : "expected a key");
        } else {
            return FAIL(s, "invalid character in key");
        }
        if (len > P->max_key)
            return fail_at(P, COFFER_ELIMIT, g->line, g->col,
                           "key longer than %zu bytes", P->max_key);
        g->s = s;
        g->len = (uint32_t)len;
        P->nsegs++;
        skip_ws(P);
        if (P->nsegs > limit && (last || *P->p == '.'))
            return too_deep(P, g->line, g->col);
        if (*P->p != '.')
            return 0;
        P->p++;
        skip_ws(P);
    }
}

/* Called once the byte after the whole key path has been consumed. */
static inline void terminate_keys(parser *P)
{
    for (size_t i = 0; i < P->nsegs; i++)
        P->segs[i].s[P->segs[i].len] = '\0';
}

/* ------------------------------------------------------------------ nodes */

static coffer_container *new_container(parser *P)
{
    coffer_container *c = coffer_arena_block(P->a, 4);
    if (c)
        memset(c, 0, sizeof *c);
    return c;
}

static int make_container(parser *P, coffer_value *v, int type, int flags)
{
    coffer_container *c = new_container(P);
    if (!c)
        return NOMEM();
    v->type = (uint8_t)type;
    v->flags = (uint8_t)flags;
    v->u.c = c;
    return 0;
}

/* The stage c's members are in, or -1. */
static inline int stage_of(const parser *P, const coffer_container *c)
{
    uintptr_t p = (uintptr_t)(const void *)c->items;
    uintptr_t b = (uintptr_t)(const void *)P->stagemem;
    if (p < b || p >= b + STAGE_BYTES)
        return -1;
    return (int)((p - b) / sizeof P->stagemem[0]);
}

/* Lends stage k to the empty container c if the stage is free. */
static inline void stage_lend(parser *P, int k, coffer_container *c)
{
    if (!P->owner[k] && !c->cap) {
        c->items = P->stagemem[k];
        c->cap = STAGE_CAP;
        P->owner[k] = c;
    }
}

/* Appends a member (or element) to c; a full stage is left for the arena
 * first. */
static inline coffer_value *push(parser *P, coffer_container *c,
                                 const char *key, size_t keylen)
{
    if (COFFER_UNLIKELY(c->count == c->cap) && c->cap) {
        int k = stage_of(P, c);
        if (k >= 0) {
            P->used[k] = STAGE_CAP;
            P->owner[k] = NULL;
            if (coffer_container_unstage(P->a, c))
                return NULL;
        }
    }
    return coffer_container_push(P->a, c, key, keylen);
}

static inline coffer_value *new_member(parser *P, coffer_container *c,
                                        const seg *g)
{
    coffer_value *v = push(P, c, g->s, g->len);
    if (v) {
        v->line = g->line;
        v->col = g->col;
    }
    return v;
}

#define FIT_MAX 128 /* members: larger containers are trimmed in place */

/* Closes c: moves its members to a block of their exact size (from its
 * stage, which is free again, or from an arena block, which goes back to
 * the free lists). */
static int fit(parser *P, coffer_container *c)
{
    if (c->cap & COFFER_CAP_INDEXED)
        return 0;
    int k = stage_of(P, c);
    if (k < 0) {
        if (c->count == c->cap)
            return 0;
        if (c->count > FIT_MAX) {
            /* a copy of a big one would cost more than its unused tail */
            coffer_container_trim(P->a, c);
            return 0;
        }
    }
    coffer_value *old = c->items, *items = NULL;
    uint32_t oldcap = c->cap;
    if (c->count) {
        size_t bytes = (size_t)c->count * sizeof *items;
        items = coffer_arena_alloc_reuse(P->a, bytes);
        if (!items)
            return NOMEM();
        memcpy(items, old, bytes);
    }
    if (k >= 0) {
        if (P->used[k] < c->count)
            P->used[k] = c->count;
        P->owner[k] = NULL;
    } else if (oldcap) {
        coffer_arena_give_back(P->a, old, (size_t)oldcap * sizeof *old);
    }
    c->items = items;
    c->cap = c->count;
    return 0;
}

/* [header] or [[header]] with its key path in P->segs. */
static int header(parser *P, int aot, uint32_t hline, uint32_t hcol)
{
    char name[160];
    coffer_container *c = P->root, *arr = NULL;
    size_t n = P->nsegs;
    unsigned td = 0; /* depth of c; an array of tables on the way counts
                     * twice (the array, then its last table) */
    for (size_t i = 0; i < n; i++) {
        const seg *g = &P->segs[i];
        coffer_value *v = NULL;
        if (i && td > P->max_depth)
            return too_deep(P, P->segs[i - 1].line, P->segs[i - 1].col);
        if (c->count) {
            /* headers usually name the table the last one named or
             * created: try the newest member first */
            coffer_value *last = &c->items[c->count - 1];
            if (last->keylen == g->len && last->key &&
                memcmp(last->key, g->s, g->len) == 0)
                v = last;
        }
        if (!v)
            v = coffer_table_find(c, g->s, g->len);
        if (i + 1 < n) {
            if (!v) {
                v = new_member(P, c, g);
                if (!v || make_container(P, v, COFFER_TYPE_TABLE,
                                         COFFER_NF_IMPLICIT))
                    return NOMEM();
                c = v->u.c;
            } else if (v->type == COFFER_TYPE_TABLE) {
                if (v->flags & COFFER_NF_INLINE)
                    return fail_at(P, COFFER_ESYNTAX, g->line, g->col,
                                   "cannot extend inline table '%s'",
                                   keyname(P, i + 1, name, sizeof name));
                c = v->u.c;
            } else if (v->type == COFFER_TYPE_ARRAY &&
                       (v->flags & COFFER_NF_AOT)) {
                c = v->u.c->items[v->u.c->count - 1].u.c;
                td++;
            } else {
                return fail_at(P, COFFER_ESYNTAX, g->line, g->col,
                               "key '%s' is not a table",
                               keyname(P, i + 1, name, sizeof name));
            }
            td++;
            continue;
        }
        if (!aot) {
            if (!v) {
                v = new_member(P, c, g);
                if (!v || make_container(P, v, COFFER_TYPE_TABLE,
                                         COFFER_NF_DEFINED))
                    return NOMEM();
            } else if (v->type == COFFER_TYPE_TABLE &&
                       !(v->flags & (COFFER_NF_DEFINED | COFFER_NF_DOTTED |
                                     COFFER_NF_INLINE))) {
                v->flags = (uint8_t)((v->flags & ~COFFER_NF_IMPLICIT) |
                                     COFFER_NF_DEFINED);
            } else if (v->type == COFFER_TYPE_TABLE) {
                return fail_at(P, COFFER_ESYNTAX, hline, hcol,
                               "cannot redefine table '%s'",
                               keyname(P, n, name, sizeof name));
            } else if (v->type == COFFER_TYPE_ARRAY &&
                       (v->flags & COFFER_NF_AOT)) {
                return fail_at(P, COFFER_ESYNTAX, hline, hcol,
                               "cannot redefine array of tables '%s' as a table",
                               keyname(P, n, name, sizeof name));
            } else {
                return fail_at(P, COFFER_ESYNTAX, hline, hcol,
                               "cannot redefine key '%s' as a table",
                               keyname(P, n, name, sizeof name));
            }
            v->line = hline;
            v->col = hcol;
            c = v->u.c;
            td++;
        } else {
            if (!v) {
                v = new_member(P, c, g);
                if (!v || make_container(P, v, COFFER_TYPE_ARRAY,
                                         COFFER_NF_AOT))
                    return NOMEM();
                v->line = hline;
                v->col = hcol;
                if (n - 1 < ASTAGES) {
                    /* the array before it at this depth is complete (it
                     * would be fitted below anyway) */
                    int k = ASTAGE(n - 1);
                    if (P->owner[k]) {
                        int rc = fit(P, P->owner[k]);
                        if (rc)
                            return rc;
                    }
                    stage_lend(P, k, v->u.c);
                }
            } else if (v->type != COFFER_TYPE_ARRAY ||
                       !(v->flags & COFFER_NF_AOT)) {
                return fail_at(P, COFFER_ESYNTAX, hline, hcol,
                               v->type == COFFER_TYPE_ARRAY
                                   ? "cannot append to static array '%s'"
                                   : "cannot redefine '%s' as an array of tables",
                               keyname(P, n, name, sizeof name));
            }
            arr = v->u.c;
            coffer_value *e = push(P, arr, NULL, 0);
            if (!e || make_container(P, e, COFFER_TYPE_TABLE, COFFER_NF_DEFINED))
                return NOMEM();
            e->line = hline;
            e->col = hcol;
            c = e->u.c;
            td += 2;
        }
    }
    if (td > P->max_depth)
        return too_deep(P, P->segs[n - 1].line, P->segs[n - 1].col);
    /* Header tables at this depth or deeper are complete as far as the
     * usual layout goes ([a], [a.b], [[a.c]], then [x]): fit them. One
     * that is extended later grows again. */
    size_t d = n - 1 < OPEN_DEPTHS ? n - 1 : OPEN_DEPTHS - 1;
    for (size_t k = d; k < OPEN_DEPTHS; k++) {
        if (P->open[k] && P->open[k] != c) {
            int rc = fit(P, P->open[k]);
            if (rc)
                return rc;
        }
        P->open[k] = NULL;
        if (P->aopen[k] && P->aopen[k] != arr) {
            int rc = fit(P, P->aopen[k]);
            if (rc)
                return rc;
        }
        P->aopen[k] = NULL;
    }
    if (arr)
        P->aopen[d] = arr;
    if (n - 1 < HSTAGES)
        stage_lend(P, HSTAGE(n - 1), c);
    P->open[d] = c;
    P->cur = c;
    P->cur_depth = td;
    return 0;
}

/* Creates the node for the key path in P->segs inside table c (dotted
 * parts create or extend dotted tables). */
static int keyval_node(parser *P, coffer_container *c, coffer_value **out)
{
    char name[160];
    size_t n = P->nsegs;
    for (size_t i = 0; i + 1 < n; i++) {
        const seg *g = &P->segs[i];
        coffer_value *v = coffer_table_find(c, g->s, g->len);
        if (!v) {
            v = new_member(P, c, g);
            if (!v || make_container(P, v, COFFER_TYPE_TABLE, COFFER_NF_DOTTED))
                return NOMEM();
        } else if (v->type != COFFER_TYPE_TABLE) {
            return fail_at(P, COFFER_ESYNTAX, g->line, g->col,
                           "duplicate key '%s'",
                           keyname(P, i + 1, name, sizeof name));
        } else if (v->flags & COFFER_NF_INLINE) {
            return fail_at(P, COFFER_ESYNTAX, g->line, g->col,
                           "cannot extend inline table '%s'",
                           keyname(P, i + 1, name, sizeof name));
        } else if (!(v->flags & COFFER_NF_DOTTED)) {
            return fail_at(P, COFFER_ESYNTAX, g->line, g->col,
                           "cannot extend table '%s' with dotted keys",
                           keyname(P, i + 1, name, sizeof name));
        }
        c = v->u.c;
    }
    const seg *g = &P->segs[n - 1];
    if (coffer_table_find(c, g->s, g->len))
        return fail_at(P, COFFER_ESYNTAX, g->line, g->col,
                       "duplicate key '%s'", keyname(P, n, name, sizeof name));
    coffer_value *v = new_member(P, c, g);
    if (!v)
        return NOMEM();
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- numbers */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static const double pow10_tab[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Digits with single underscores between them, starting at a digit. */
static inline char *digits(char *q)
{
    for (;;) {
        while (ISDIG(*q))
            q++;
        if (*q == '_' && ISDIG(q[1])) {
            q += 2;
            continue;
        }
        return q;
    }
}

static int prefixed_int(parser *P, coffer_value *v, char *s)
{
    int base = s[1] == 'x' ? 16 : s[1] == 'o' ? 8 : 2;
    char *q = s + 2;
    uint64_t u = 0;
    int need_digit = 1;
    for (;; q++) {
        int d = coffer_hex_digit((unsigned char)*q);
        if (d >= 0 && d < base) {
            if (u > (uint64_t)INT64_MAX >> (base == 16 ? 4 : base == 8 ? 3 : 1))
                return FAIL(s, "integer out of range");
            u = u * (uint64_t)base + (uint64_t)d;
            need_digit = 0;
        } else if (*q == '_' && !need_digit) {
            need_digit = 1;
        } else {
            break;
        }
    }
    if (need_digit || !IS(*q, C_END))
        return FAIL(s, "invalid number");
    if (u > (uint64_t)INT64_MAX)
        return FAIL(s, "integer out of range");
    v->type = COFFER_TYPE_INTEGER;
    v->u.i = (int64_t)u;
    P->p = q;
    return 0;
}

static int two(const char *s)
{
    return ISDIG(s[0]) && ISDIG(s[1]) ? (s[0] - '0') * 10 + (s[1] - '0') : -1;
}

/* HH:MM:SS[.frac] at s; returns the end or NULL. */
static char *parse_time(char *s, coffer_datetime *dt, int *bad)
{
    int h = two(s);
    if (h < 0 || s[2] != ':')
        return NULL;
    int m = two(s + 3);
    if (m < 0 || s[5] != ':')
        return NULL;
    int sec = two(s + 6);
    if (sec < 0)
        return NULL;
    if (h > 23 || m > 59 || sec > 60)
        *bad = 1;
    dt->hour = (uint8_t)h;
    dt->minute = (uint8_t)m;
    dt->second = (uint8_t)sec;
    s += 8;
    if (*s == '.') {
        s++;
        if (!ISDIG(*s))
            return NULL;
        uint32_t ns = 0;
        int nd = 0;
        while (ISDIG(*s)) {
            if (nd < 9) {
                ns = ns * 10 + (uint32_t)(*s - '0');
                nd++;
            }
            s++;
        }
        for (int i = nd; i < 9; i++)
            ns *= 10;
        dt->nanosecond = ns;
        dt->precision = (uint8_t)nd;
    }
    return s;
}

static int datetime(parser *P, coffer_value *v, char *s, int has_date)
{
    coffer_datetime *dt = coffer_arena_alloc(P->a, sizeof *dt);
    if (!dt)
        return NOMEM();
    memset(dt, 0, sizeof *dt);
    int bad = 0;
    char *q = s;
    int type;
    if (has_date) {
        int y = ISDIG(s[0]) && ISDIG(s[1]) && ISDIG(s[2]) && ISDIG(s[3])
                    ? (s[0] - '0') * 1000 + (s[1] - '0') * 100 +
                          (s[2] - '0') * 10 + (s[3] - '0')
                    : -1;
        int mo = s[4] == '-' ? two(s + 5) : -1;
        int d = (mo >= 0 && s[7] == '-') ? two(s + 8) : -1;
        if (y < 0 || mo < 0 || d < 0)
            return FAIL(s, "invalid date");
        static const uint8_t mdays[13] = {0,  31, 29, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};
        if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo] ||
            (mo == 2 && d == 29 &&
             !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
            return FAIL(s, "invalid date");
        dt->year = (int16_t)y;
        dt->month = (uint8_t)mo;
        dt->day = (uint8_t)d;
        q = s + 10;
        if (*q == 'T' || *q == 't' ||
            (*q == ' ' && ISDIG(q[1]) && ISDIG(q[2]) && q[3] == ':')) {
            q = parse_time(q + 1, dt, &bad);
            if (!q)
                return FAIL(s, "invalid date-time");
            if (bad)
                return FAIL(s, "invalid time");
            if (*q == 'Z' || *q == 'z') {
                dt->offset_is_z = 1;
                q++;
                type = COFFER_TYPE_DATETIME;
            } else if (*q == '+' || *q == '-') {
                int oh = two(q + 1);
                int om = oh >= 0 && q[3] == ':' ? two(q + 4) : -1;
                if (om < 0)
                    return FAIL(s, "invalid date-time offset");
                if (oh > 23 || om > 59)
                    return FAIL(s, "invalid date-time offset");
                int off = oh * 60 + om;
                dt->offset_minutes = (int16_t)(*q == '-' ? -off : off);
                q += 6;
                type = COFFER_TYPE_DATETIME;
            } else {
                type = COFFER_TYPE_DATETIME_LOCAL;
            }
        } else {
            type = COFFER_TYPE_DATE_LOCAL;
        }
    } else {
        q = parse_time(s, dt, &bad);
        if (!q)
            return FAIL(s, "invalid time");
        if (bad)
            return FAIL(s, "invalid time");
        type = COFFER_TYPE_TIME_LOCAL;
    }
    if (!IS(*q, C_END))
        return FAIL(s, "invalid date-time");
    v->type = (uint8_t)type;
    v->u.dt = dt;
    P->p = q;
    return 0;
}

static int number(parser *P, coffer_value *v)
{
    char *s = P->p, *q = s;
    int neg = 0;
    if (*q == '+' || *q == '-') {
        neg = *q == '-';
        q++;
    }
    if (*q == 'i' || *q == 'n') {
        if (!starts(q, *q == 'i' ? "inf" : "nan") || !IS(q[3], C_END))
            return FAIL(s, "invalid value");
        double d = *q == 'i' ? (double)__builtin_inf() : (double)__builtin_nan("");
        v->type = COFFER_TYPE_FLOAT;
        v->u.f = neg ? -d : d;
        P->p = q + 3;
        return 0;
    }
    if (!ISDIG(*q))
        return FAIL(s, "invalid value");
    if (q == s) {
        if (ISDIG(q[1]) && ISDIG(q[2]) && ISDIG(q[3]) && q[4] == '-')
            return datetime(P, v, s, 1);
        if (ISDIG(q[1]) && q[2] == ':')
            return datetime(P, v, s, 0);
        if (q[0] == '0' && (q[1] == 'x' || q[1] == 'o' || q[1] == 'b'))
            return prefixed_int(P, v, s);
    }
    char *ip = q;
    if (*q == '0') {
        q++;
        if (ISDIG(*q) || *q == '_')
            return FAIL(s, "leading zeros are not allowed");
    } else {
        q = digits(q);
    }
    char *ipend = q, *fp = NULL, *fpend = NULL;
    int isfloat = 0;
    long e = 0;
    if (*q == '.') {
        q++;
        if (!ISDIG(*q))
            return FAIL(s, "invalid number");
        fp = q;
        q = fpend = digits(q);
        isfloat = 1;
    }
    if (*q == 'e' || *q == 'E') {
        q++;
        int eneg = 0;
        if (*q == '+' || *q == '-')
            eneg = *q++ == '-';
        if (!ISDIG(*q))
            return FAIL(s, "invalid number");
        char *ee = digits(q);
        for (; q < ee; q++)
            if (ISDIG(*q) && e < 100000)
                e = e * 10 + (*q - '0');
        if (eneg)
            e = -e;
        isfloat = 1;
    }
    if (!IS(*q, C_END))
        return FAIL(s, "invalid number");
    if (!isfloat && ipend - ip <= 18) {
        /* at most 18 digits (or fewer with underscores): cannot overflow */
        uint64_t u = 0;
        for (char *t = ip; t < ipend; t++)
            if (*t != '_')
                u = u * 10 + (uint64_t)(*t - '0');
        v->type = COFFER_TYPE_INTEGER;
        v->u.i = neg ? -(int64_t)u : (int64_t)u;
        P->p = q;
        return 0;
    }
    if (!isfloat) {
        uint64_t u = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (char *t = ip; t < ipend; t++) {
            if (*t == '_')
                continue;
            uint64_t d = (uint64_t)(*t - '0');
            if (u > (lim - d) / 10)
                return FAIL(s, "integer out of range");
            u = u * 10 + d;
        }
        v->type = COFFER_TYPE_INTEGER;
        v->u.i = neg ? (int64_t)(0 - u) : (int64_t)u;
        P->p = q;
        return 0;
    }
    /* Clinger's fast path: at most 15 significant digits, |exp10| <= 22. */
    uint64_t m = 0;
    int nd = 0, inexact = 0;
    long e10 = e;
    for (char *t = ip; t < ipend; t++) {
        if (*t == '_' || (m == 0 && *t == '0'))
            continue;
        if (nd < 19) {
            m = m * 10 + (uint64_t)(*t - '0');
            nd++;
        } else {
            e10++;
            inexact = 1;
        }
    }
    for (char *t = fp; t && t < fpend; t++) {
        if (*t == '_')
            continue;
        if (m == 0 && *t == '0') {
            e10--;
            continue;
        }
        if (nd < 19) {
            m = m * 10 + (uint64_t)(*t - '0');
            nd++;
            e10--;
        } else {
            inexact = 1;
        }
    }
    double d;
    if (m == 0) {
        d = 0.0;
    } else if (!inexact && nd <= 15 && e10 >= -22 && e10 <= 22) {
        d = (double)m;
        d = e10 < 0 ? d / pow10_tab[-e10] : d * pow10_tab[e10];
    } else {
        /* Compact away underscores in place and use strtod_l. */
        pthread_once(&c_locale_once, c_locale_init);
        if (!c_locale)
            return NOMEM();
        char *w = s;
        for (char *t = s; t < q; t++)
            if (*t != '_')
                *w++ = *t;
        char saved = *w;
        *w = '\0';
        d = strtod_l(s, NULL, c_locale);
        *w = saved;
        v->type = COFFER_TYPE_FLOAT;
        v->u.f = d;
        P->p = q;
        return 0;
    }
    v->type = COFFER_TYPE_FLOAT;
    v->u.f = neg ? -d : d;
    P->p = q;
    return 0;
}

/* ----------------------------------------------------------------- values */

static int scalar(parser *P, coffer_value *v)
{
    char *s = P->p;
    char *str;
    size_t len;
    int rc;
    v->line = P->line;
    v->col = col_of(P, s);
    switch (*s) {
    case '"':
        rc = (s[1] == '"' && s[2] == '"') ? ml_string(P, 1, &str, &len)
                                          : basic_string(P, &str, &len);
        goto string;
    case '\'':
        rc = (s[1] == '\'' && s[2] == '\'') ? ml_string(P, 0, &str, &len)
                                              : literal_string(P, &str, &len);
    string:
        if (rc)
            return rc;
        if (len > UINT32_MAX)
            return FAIL(s, "string longer than 4 GiB");
        v->type = COFFER_TYPE_STRING;
        v->u.s = str;
        v->len = (uint32_t)len;
        return 0;
    case 't':
        if (!starts(s, "true") || !IS(s[4], C_END))
            return FAIL(s, "invalid value");
        v->type = COFFER_TYPE_BOOL;
        v->u.b = 1;
        P->p = s + 4;
        return 0;
    case 'f':
        if (!starts(s, "false") || !IS(s[5], C_END))
            return FAIL(s, "invalid value");
        v->type = COFFER_TYPE_BOOL;
        v->u.b = 0;
        P->p = s + 5;
        return 0;
    case '+': case '-': case 'i': case 'n':
    case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
        return number(P, v);
    case '\n': case '\r': case '#':
        return FAIL(s, "expected a value");
    case '\0':
        if (s == P->end)
            return FAIL(s, "expected a value");
        /* fall through */
    default:
        return FAIL(s, "invalid value");
    }
}

/* Frame depth for c (at tree depth td, which the caller checked against
 * max_depth; frames never outnumber tree levels). */
static int stack_push(parser *P, size_t depth, coffer_container *c, int arr,
                      unsigned td)
{
    if (depth >= P->capstack) {
        size_t ncap = P->capstack * 2;
        frame *ns = malloc(ncap * sizeof *ns);
        if (!ns)
            return NOMEM();
        memcpy(ns, P->stack, depth * sizeof *ns);
        if (P->stack != P->stackbuf)
            free(P->stack);
        P->stack = ns;
        P->capstack = ncap;
    }
    P->stack[depth].c = c;
    P->stack[depth].is_array = arr;
    P->stack[depth].depth = td;
    return 0;
}

/* Key, '=' and the start of a value inside c (at tree depth cd); returns
 * the node in *out, at depth cd + P->nsegs. The tables made by the key's
 * parts (a.b.c) count against max_depth as any other. */
static int keyval_head(parser *P, coffer_container *c, unsigned cd,
                       coffer_value **out)
{
    int rc = key_path(P, P->max_depth - cd, 0);
    if (rc)
        return rc;
    if (*P->p != '=')
        return FAIL(P->p, "expected '=' after key");
    P->p++;
    terminate_keys(P);
    rc = keyval_node(P, c, out);
    if (rc)
        return rc;
    skip_ws(P);
    return 0;
}

/* Value at P->p into v (already pushed, at tree depth vd). Arrays and
 * inline tables nest through P->stack, not the C stack. */
static int value(parser *P, coffer_value *v, unsigned vd)
{
    char ch = *P->p;
    if (ch != '[' && ch != '{')
        return scalar(P, v);
    size_t depth = 0;
    coffer_container *c;
    unsigned cd; /* depth of c */
    int rc;

open:
    if (vd > P->max_depth)
        return too_deep(P, P->line, col_of(P, P->p));
    v->line = P->line;
    v->col = col_of(P, P->p);
    cd = vd;
    c = new_container(P);
    if (!c)
        return NOMEM();
    v->type = ch == '[' ? COFFER_TYPE_ARRAY : COFFER_TYPE_TABLE;
    v->flags = COFFER_NF_INLINE;
    v->u.c = c;
    rc = stack_push(P, depth, c, ch == '[', cd);
    if (rc)
        return rc;
    if (depth < VSTAGES)
        stage_lend(P, VSTAGE(depth), c);
    depth++;
    P->p++;
    if (ch == '{') {
        skip_ws(P);
        if (*P->p == '}') {
            P->p++;
            goto close;
        }
        goto table_member;
    }

array_element:
    if ((rc = skip_ws_nl(P)))
        return rc;
    if (*P->p == ']') {
        P->p++;
        goto close;
    }
    v = push(P, c, NULL, 0);
    if (!v)
        return NOMEM();
    vd = cd + 1;
    ch = *P->p;
    if (ch == '[' || ch == '{')
        goto open;
    if ((rc = scalar(P, v)))
        return rc;
array_after:
    if ((rc = skip_ws_nl(P)))
        return rc;
    if (*P->p == ',') {
        P->p++;
        goto array_element;
    }
    if (*P->p == ']') {
        P->p++;
        goto close;
    }
    if (*P->p == 0 && P->p == P->end)
        return FAIL(P->p, "unterminated array");
    return FAIL(P->p, "expected ',' or ']' after array element");

table_member:
    skip_ws(P);
    if (*P->p == '}')
        return FAIL(P->p, "trailing comma in inline table");
    if ((rc = keyval_head(P, c, cd, &v)))
        return rc;
    vd = cd + (unsigned)P->nsegs;
    ch = *P->p;
    if (ch == '[' || ch == '{')
        goto open;
    if ((rc = scalar(P, v)))
        return rc;
table_after:
    skip_ws(P);
    if (*P->p == ',') {
        P->p++;
        goto table_member;
    }
    if (*P->p == '}') {
        P->p++;
        goto close;
    }
    if (*P->p == '\n' || *P->p == '\r')
        return FAIL(P->p, "newline in inline table");
    if (*P->p == 0 && P->p == P->end)
        return FAIL(P->p, "unterminated inline table");
    return FAIL(P->p, "expected ',' or '}' after inline table member");

close:
    depth--;
    if ((rc = fit(P, c)))
        return rc;
    if (depth == 0)
        return 0;
    c = P->stack[depth - 1].c;
    cd = P->stack[depth - 1].depth;
    if (P->stack[depth - 1].is_array)
        goto array_after;
    goto table_after;
}

/* Sizes the next arena chunk when the current one is nearly full: from
 * the tree bytes per input byte so far, applied to the rest of the input;
 * at most chunk_step. The last chunk then ends close to what the document
 * needs. */
#define PACE_ROOM 2048

static inline void pace_arena(parser *P)
{
    coffer_arena *a = P->a;
    if (COFFER_LIKELY((size_t)(a->end - a->cur) >= PACE_ROOM))
        return;
    size_t done = (size_t)(P->p - P->text);
    size_t left = (size_t)(P->end - P->p);
    size_t used = a->total - (size_t)(a->end - a->cur) - P->base_used;
    if (!done)
        return;
    /* Half of it: early members blocks and stages make the rate look
     * higher than it is, and a chunk too small only costs another one
     * (sized the same way) while one too large stays unused. */
    size_t need = (size_t)((double)used / (double)done * (double)left) / 2;
    size_t floor = P->chunk_step / 8 < 1024 ? P->chunk_step / 8 : 1024;
    need += floor < 256 ? 256 : floor;
    a->next_chunk = need < P->chunk_step ? need : P->chunk_step;
}

/* After a key/value or header: whitespace, a comment, then a newline. */
static int end_of_line(parser *P, const char *what)
{
    pace_arena(P);
    skip_ws(P);
    char *p = P->p;
    if (*p == '#') {
        int rc = comment(P);
        if (rc)
            return rc;
        p = P->p;
    }
    if (*p == '\n') {
        P->p = p + 1;
        newline_at(P, p + 1);
        return 0;
    }
    if (*p == '\r' && p[1] == '\n') {
        P->p = p + 2;
        newline_at(P, p + 2);
        return 0;
    }
    if (*p == 0 && p == P->end)
        return 0;
    if (*p == '\r')
        return FAIL(p, "carriage return not followed by newline");
    return FAIL(p, "expected newline after %s", what);
}

/* End of the document: the tables still open and the root get their
 * exact blocks. */
static int finish(parser *P)
{
    for (size_t k = 0; k < OPEN_DEPTHS; k++) {
        int rc = 0;
        if (P->open[k])
            rc = fit(P, P->open[k]);
        if (!rc && P->aopen[k])
            rc = fit(P, P->aopen[k]);
        if (rc)
            return rc;
        P->open[k] = P->aopen[k] = NULL;
    }
    return fit(P, P->root);
}

static int document(parser *P)
{
    if ((unsigned char)P->p[0] == 0xef && (unsigned char)P->p[1] == 0xbb &&
        (unsigned char)P->p[2] == 0xbf) {
        P->p += 3;
        P->line_start = P->p;
    }
    for (;;) {
        skip_ws(P);
        char *p = P->p;
        int rc;
        switch (*p) {
        case '\n':
            P->p = p + 1;
            newline_at(P, p + 1);
            continue;
        case '\r':
            if (p[1] != '\n')
                return FAIL(p, "carriage return not followed by newline");
            P->p = p + 2;
            newline_at(P, p + 2);
            continue;
        case '#':
            if ((rc = comment(P)))
                return rc;
            continue;
        case '[': {
            uint32_t hline = P->line, hcol = col_of(P, p);
            int aot = p[1] == '[';
            P->p = p + 1 + aot;
            skip_ws(P);
            if ((rc = key_path(P, P->max_depth, 1)))
                return rc;
            if (*P->p != ']' || (aot && P->p[1] != ']'))
                return FAIL(P->p, aot ? "expected ']]' after table name"
                                      : "expected ']' after table name");
            P->p += 1 + aot;
            terminate_keys(P);
            if ((rc = header(P, aot, hline, hcol)))
                return rc;
            if ((rc = end_of_line(P, "table header")))
                return rc;
            continue;
        }
        case '\0':
            if (p == P->end)
                return finish(P);
            break;
        default:
            break;
        }
        coffer_value *v;
        if ((rc = keyval_head(P, P->cur, P->cur_depth, &v)))
            return rc;
        if ((rc = value(P, v, P->cur_depth + (unsigned)P->nsegs)))
            return rc;
        if ((rc = end_of_line(P, "value")))
            return rc;
    }
}

/* ------------------------------------------------------------------ entry */

#define SMALL_INPUT ((size_t)64 << 10)

/* Tree bytes a small text probably needs: a node per '=', ',' and '[', a
 * container per '[' and '{' ("[[" counts once), and some room for member
 * blocks. */
static size_t estimate_tree(const char *text, size_t len)
{
    size_t nodes = 0, conts = 0, pairs = 0, i = 0;
#if defined(__SSE2__)
    const __m128i eq = _mm_set1_epi8('='), co = _mm_set1_epi8(','),
                  lb = _mm_set1_epi8('['), lc = _mm_set1_epi8('{'),
                  zero = _mm_setzero_si128();
    while (i + 16 <= len) {
        /* per-byte counters (compares give -1), summed every 255 rounds */
        __m128i an = zero, ac = zero, ap = zero;
        for (int r = 0; r < 255 && i + 16 <= len; r++, i += 16) {
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(text + i));
            __m128i b = _mm_cmpeq_epi8(x, lb);
            an = _mm_sub_epi8(an, _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, eq),
                                                            _mm_cmpeq_epi8(x, co)), b));
            ac = _mm_sub_epi8(ac, _mm_or_si128(b, _mm_cmpeq_epi8(x, lc)));
            ap = _mm_sub_epi8(ap, _mm_and_si128(b, _mm_srli_si128(b, 1)));
        }
        __m128i sp = _mm_sad_epu8(ap, zero);
        pairs += (size_t)_mm_cvtsi128_si32(sp) +
                 (size_t)_mm_cvtsi128_si32(_mm_srli_si128(sp, 8));
        __m128i sn = _mm_sad_epu8(an, zero), sc = _mm_sad_epu8(ac, zero);
        nodes += (size_t)_mm_cvtsi128_si32(sn) +
                 (size_t)_mm_cvtsi128_si32(_mm_srli_si128(sn, 8));
        conts += (size_t)_mm_cvtsi128_si32(sc) +
                 (size_t)_mm_cvtsi128_si32(_mm_srli_si128(sc, 8));
    }
#endif
    for (; i < len; i++) {
        char ch = text[i];
        nodes += ch == '=' || ch == ',' || ch == '[';
        conts += ch == '[' || ch == '{';
        pairs += ch == '[' && i + 1 < len && text[i + 1] == '[';
    }
    nodes -= pairs;
    conts -= pairs;
    /* members go to blocks of their exact size (see fit), so the count is
     * close; the document struct and the root come on top, 1/16 for what
     * the count misses (arrays of tables, implicit tables, date-times) */
    size_t est = nodes * sizeof(coffer_value) + conts * sizeof(coffer_container) +
                 sizeof(coffer_doc) + sizeof(coffer_container);
    est += est / 16;
    /* commas in strings must not make a small text reserve a lot */
    return est < 2 * len + 1024 ? est : 2 * len + 1024;
}

/* The first chunk for the tree: an estimate for small texts, else half
 * the input (dense documents need more, and pace_arena sizes the rest
 * from what the first part took). */
static size_t first_chunk(const char *text, size_t len)
{
    return len <= SMALL_INPUT ? estimate_tree(text, len) : len / 2 + 512;
}

/* The largest chunk pace_arena asks for. */
static size_t chunk_step(size_t len)
{
    size_t n = len / 2;
    return n < 1024 ? 1024 : n;
}

static int parse_into(coffer_arena *A, char *buf, size_t len,
                      const coffer_parse_options *opt, coffer_doc **out,
                      coffer_error *err)
{
    coffer_doc *doc = coffer_arena_alloc(A, sizeof *doc);
    coffer_container *root = doc ? coffer_arena_block(A, 4) : NULL;
    if (!root) {
        coffer_arena_release(A);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    }
    memset(doc, 0, sizeof *doc);
    memset(root, 0, sizeof *root);
    doc->root.type = COFFER_TYPE_TABLE;
    doc->root.flags = COFFER_NF_DEFINED;
    doc->root.line = 1;
    doc->root.col = 1;
    doc->root.u.c = root;

    parser P;
    memset(&P, 0, offsetof(parser, segbuf));
    P.p = buf;
    P.end = buf + len;
    P.line_start = buf;
    P.line = 1;
    P.a = A;
    P.err = err;
    P.max_key = opt && opt->max_key ? opt->max_key : DEFAULT_MAX_KEY;
    if (P.max_key > UINT16_MAX)
        P.max_key = UINT16_MAX;
    P.max_depth = opt && opt->max_depth ? opt->max_depth : DEFAULT_MAX_DEPTH;
    P.root = P.cur = root;
    P.text = buf;
    P.chunk_step = chunk_step(len);
    P.base_used = A->total - (size_t)(A->end - A->cur);
    P.segs = P.segbuf;
    P.capsegs = sizeof P.segbuf / sizeof P.segbuf[0];
    P.stack = P.stackbuf;
    P.capstack = sizeof P.stackbuf / sizeof P.stackbuf[0];

    coffer_value stack_stages[NSTAGES][STAGE_CAP];
    const coffer_allocator *al = A->allocator;
    bool lent = al != coffer_allocator_plain();
    P.stagemem = lent ? al->alloc(al->ctx, STAGE_BYTES) : stack_stages;
    if (!P.stagemem) {
        coffer_arena_release(A);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    }
    stage_lend(&P, ROOT_STAGE, root);

    int rc = document(&P);
    /* finish() fitted every staged container; this only makes sure none
     * can keep pointing into the stages */
    for (int k = 0; k < NSTAGES && !rc; k++)
        if (P.owner[k])
            rc = fit(&P, P.owner[k]);
    if (P.segs != P.segbuf)
        free(P.segs);
    if (P.stack != P.stackbuf)
        free(P.stack);
    /* What the parse wrote is wiped; a stage never lent was never written
     * (with a lent block, untouched pages stay untouched). */
    if (rc) {
        for (int k = 0; k < NSTAGES; k++)
            if (P.owner[k] || P.used[k])
                coffer_memzero(P.stagemem[k], sizeof P.stagemem[k]);
    } else {
        for (int k = 0; k < NSTAGES; k++)
            if (P.used[k])
                coffer_memzero(P.stagemem[k],
                               P.used[k] * sizeof(coffer_value));
    }
    if (lent)
        al->release(al->ctx, P.stagemem, STAGE_BYTES);
    if (rc) {
        coffer_arena_release(A);
        return rc;
    }
    doc->allocator = A->allocator;
    doc->chunks = A->chunks;
    doc->total = A->total;
    *out = doc;
    if (err)
        coffer_error_clear(err);
    return 0;
}

int coffer_toml_parse(const char *text, size_t len,
                      const coffer_parse_options *opt, coffer_doc **out,
                      coffer_error *err)
{
    if (!out)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no output pointer");
    *out = NULL;
    if (!text && len)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0, "no text");
    size_t max = opt && opt->max_input ? opt->max_input : DEFAULT_MAX_INPUT;
    if (len > max)
        return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                "input larger than %zu bytes", max);
    coffer_arena A;
    /* the copy and the first part of the tree share a chunk */
    size_t tree = first_chunk(text, len);
    coffer_arena_init(&A, opt ? opt->allocator : NULL, tree);
    char *buf = coffer_arena_alloc_fresh(&A, len + 1, len + 1 + tree);
    /* the tree starts in that chunk; pace_arena sizes any further one */
    A.next_chunk = 256;
    if (!buf) {
        coffer_arena_release(&A);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    }
    if (len)
        memcpy(buf, text, len);
    buf[len] = '\0';
    return parse_into(&A, buf, len, opt, out, err);
}

int coffer_toml_parse_owned(char *buf, size_t len, size_t bufsize,
                            const coffer_parse_options *opt, coffer_doc **out,
                            coffer_error *err)
{
    const coffer_allocator *al =
        opt && opt->allocator ? opt->allocator : coffer_allocator_plain();
    if (out)
        *out = NULL;
    if (!buf)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0, "no buffer");
    if (!out || len >= bufsize) {
        coffer_memzero(buf, bufsize);
        al->release(al->ctx, buf, bufsize);
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                !out ? "no output pointer"
                                     : "buffer has no room for a terminator");
    }
    size_t max = opt && opt->max_input ? opt->max_input : DEFAULT_MAX_INPUT;
    coffer_arena A;
    size_t tree = first_chunk(buf, len);
    coffer_arena_init(&A, al, tree);
    A.next_chunk = tree < 256 ? 256 : tree;
    if (coffer_arena_adopt(&A, buf, bufsize)) {
        coffer_memzero(buf, bufsize);
        al->release(al->ctx, buf, bufsize);
        coffer_arena_release(&A);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    }
    if (len > max) {
        coffer_arena_release(&A);
        return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                "input larger than %zu bytes", max);
    }
    buf[len] = '\0';
    return parse_into(&A, buf, len, opt, out, err);
}

void coffer_doc_free(coffer_doc *doc)
{
    if (!doc)
        return;
    /* doc itself lives in the arena: take what the release needs first */
    coffer_arena a;
    coffer_arena_init(&a, doc->allocator, 0);
    a.chunks = doc->chunks;
    a.total = doc->total;
    coffer_arena_release(&a);
}

const coffer_value *coffer_doc_root(const coffer_doc *doc)
{
    return doc ? &doc->root : NULL;
}

size_t coffer_doc_memory(const coffer_doc *doc)
{
    return doc ? doc->total : 0;
}
