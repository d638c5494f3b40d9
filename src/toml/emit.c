/* emit.c - formatting values: Python-style floats, TEXT, TOML and JSON.
 *
 * Output follows the snprintf contract: as much as fits is written, the
 * result is NUL-terminated when n > 0, and the return value is the length
 * the whole output needs. Nothing is allocated.
 *
 * Decisions where the contract is silent:
 *  - Floats use Python's repr form everywhere ("0.1", "1e+20", "-0.0");
 *    every such text is also a valid TOML float and, apart from inf/nan, a
 *    valid JSON number. JSON has no inf/nan: they are written as the JSON
 *    strings "inf", "-inf" and "nan". NaN prints as "nan" whatever its sign
 *    (as Python does).
 *  - Bytes of a string that are not valid UTF-8 cannot be written in TOML or
 *    JSON; each such byte is written as the escape \uFFFD. TEXT writes
 *    strings raw, byte for byte.
 *  - A table in TOML form is a document. Key order is kept exactly: a
 *    sub-table that comes before a plain member of the same table is
 *    written as dotted keys (t.a = 1), an array of tables there inline
 *    (t = [{ ... }]); the sub-tables after the last plain member become
 *    [t] sections and [[t]] blocks. Arrays whose elements are all tables
 *    (at least one) become [[t]] blocks. Inline tables also write their
 *    sub-tables as dotted keys ({ a.b = 1 }), so that the nesting depth a
 *    reader counts grows only with arrays.
 *  - The writers recurse once per level: nesting deeper than the parser's
 *    and the stores' limit (COFFER_MAX_DEPTH containers, so a scalar at
 *    COFFER_MAX_DEPTH + 1) fails with COFFER_ELIMIT.
 */
#include "internal.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EMIT_MAX_DEPTH (COFFER_MAX_DEPTH + 1)

/* ------------------------------------------------------------ doubles */

/* Round-trip check of digits dig[0..nd) * 10^(e10 - nd + 1). The text has
 * no radix character, so strtod reads it the same in every locale. */
static int digits_roundtrip(const char *dig, int nd, int e10, double want)
{
    char tmp[48];
    memcpy(tmp, dig, (size_t)nd);
    snprintf(tmp + nd, sizeof tmp - (size_t)nd, "e%d", e10 - nd + 1);
    double got = strtod(tmp, NULL);
    coffer_memzero(tmp, sizeof tmp); /* a number may be a secret */
    return memcmp(&got, &want, sizeof got) == 0;
}

/* Digits dig[0..p) plus one unit in the last place, into up; returns the
 * exponent of the result (e, or e + 1 after a carry out of the first). */
static int digits_up(const char *dig, int p, int e, char *up)
{
    memcpy(up, dig, (size_t)p);
    int i = p - 1;
    while (i >= 0 && up[i] == '9')
        up[i--] = '0';
    if (i >= 0) {
        up[i]++;
        return e;
    }
    up[0] = '1';
    return e + 1;
}

/* Correctly rounded p significant digits of x from snprintf ("%.*e" gives
 * them in every libc that rounds correctly; the radix is skipped, whatever
 * the locale made of it). Returns the exponent, or INT_MIN on failure. */
static int exact_digits(double x, int p, char *dig)
{
    char tmp[48];
    int len = snprintf(tmp, sizeof tmp, "%.*e", p - 1, x);
    int e = INT_MIN;
    if (len > 0 && (size_t)len < sizeof tmp) {
        int nd = 0;
        const char *s = tmp;
        while (*s && *s != 'e') {
            if (*s >= '0' && *s <= '9' && nd < p)
                dig[nd++] = *s;
            s++;
        }
        if (*s == 'e' && nd == p)
            e = atoi(s + 1);
    }
    coffer_memzero(tmp, sizeof tmp);
    return e;
}

/* Shortest decimal digits of the finite, positive x: fills dig (no leading
 * or trailing zeros) and returns their number; *e10 is the decimal
 * exponent of the first digit. Like Python's repr: the fewest digits that
 * read back to x, and of those the closest to x.
 *
 * The 17 correctly rounded digits d17 are taken once; p-digit roundings
 * are derived from them unless the dropped tail of d17 is exactly 5000...,
 * where d17's own rounding could hide the direction (then snprintf is
 * asked for p digits directly).
 *
 * Only p = 15, 16, 17 are tried: two different 15-digit decimals are never
 * in the rounding interval of the same double, so if any decimal of at
 * most 15 digits reads back to a normal x, it is the correctly rounded 15
 * digits with trailing zeros removed. */
static int shortest_from(double x, char dig[24], int *e10, char *d17,
                         char *cand, char *up)
{
    int e17 = exact_digits(x, 17, d17);
    if (e17 == INT_MIN) { /* not reached with a working snprintf */
        dig[0] = '0';
        *e10 = 0;
        return 1;
    }
    /* Subnormals have fewer bits: there the search starts at 1 digit. */
    for (int p = x < DBL_MIN ? 1 : 15; p <= 17; p++) {
        int e = e17, rounded_up = 0;
        if (p == 17) {
            memcpy(cand, d17, 17);
        } else {
            int c = d17[p] - '5';
            for (int i = p + 1; c == 0 && i < 17; i++)
                c = d17[i] != '0';
            if (c == 0) {
                e = exact_digits(x, p, cand);
                if (e == INT_MIN)
                    continue;
                /* compare with truncation to learn the direction */
                rounded_up = memcmp(cand, d17, (size_t)p) != 0 || e != e17;
            } else if (c > 0) {
                e = digits_up(d17, p, e17, cand);
                rounded_up = 1;
            } else {
                memcpy(cand, d17, (size_t)p);
            }
        }
        int found = digits_roundtrip(cand, p, e, x);
        if (!found && !rounded_up) {
            /* Next to a power of two the interval below x is half as wide
             * as the one above: the correctly rounded p digits can fall
             * outside while the next p-digit number above x reads back. */
            e = digits_up(cand, p, e, up);
            memcpy(cand, up, (size_t)p);
            found = digits_roundtrip(cand, p, e, x);
        }
        if (found) {
            int nd = p;
            while (nd > 1 && cand[nd - 1] == '0')
                nd--;
            memcpy(dig, cand, (size_t)nd);
            *e10 = e;
            return nd;
        }
    }
    memcpy(dig, d17, 17); /* d17 always reads back */
    int nd = 17;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    *e10 = e17;
    return nd;
}

static int shortest_digits(double x, char dig[24], int *e10)
{
    char scratch[3][24]; /* d17, a candidate, a rounding up: wiped after */
    int nd = shortest_from(x, dig, e10, scratch[0], scratch[1], scratch[2]);
    coffer_memzero(scratch, sizeof scratch);
    return nd;
}

int coffer_fmt_double(double d, char *buf, size_t n)
{
    char out[40], dig[24]; /* both wiped before returning */
    size_t o = 0;
    if (isnan(d)) {
        memcpy(out, "nan", 3);
        o = 3;
    } else if (isinf(d)) {
        if (signbit(d))
            out[o++] = '-';
        memcpy(out + o, "inf", 3);
        o += 3;
    } else if (d == 0) {
        if (signbit(d))
            out[o++] = '-';
        memcpy(out + o, "0.0", 3);
        o += 3;
    } else {
        int e;
        if (d < 0)
            out[o++] = '-';
        int nd = shortest_digits(d < 0 ? -d : d, dig, &e);
        if (e >= -4 && e < 16) {
            if (e >= 0) {
                /* integer part: digits 0..e (padded with zeros) */
                for (int i = 0; i <= e; i++)
                    out[o++] = i < nd ? dig[i] : '0';
                out[o++] = '.';
                if (nd > e + 1) {
                    for (int i = e + 1; i < nd; i++)
                        out[o++] = dig[i];
                } else {
                    out[o++] = '0';
                }
            } else {
                out[o++] = '0';
                out[o++] = '.';
                for (int i = 0; i < -e - 1; i++)
                    out[o++] = '0';
                for (int i = 0; i < nd; i++)
                    out[o++] = dig[i];
            }
        } else {
            out[o++] = dig[0];
            if (nd > 1) {
                out[o++] = '.';
                for (int i = 1; i < nd; i++)
                    out[o++] = dig[i];
            }
            out[o++] = 'e';
            out[o++] = e < 0 ? '-' : '+';
            int ae = e < 0 ? -e : e;
            if (ae >= 100)
                out[o++] = (char)('0' + ae / 100);
            out[o++] = (char)('0' + ae / 10 % 10);
            out[o++] = (char)('0' + ae % 10);
        }
    }
    if (n > 0) {
        size_t k = o < n ? o : n - 1;
        memcpy(buf, out, k);
        buf[k] = '\0';
    }
    coffer_memzero(out, sizeof out);
    coffer_memzero(dig, sizeof dig);
    return (int)o;
}

int coffer_format_double(double d, char *buf, size_t n)
{
    return coffer_fmt_double(d, buf, n);
}

/* ------------------------------------------------------------- output */

typedef struct emitter {
    char *buf;
    size_t cap;  /* bytes of buf usable for text (n - 1) */
    size_t len;  /* bytes the whole output needs so far */
    int err;
} emitter;

static void put(emitter *e, const char *s, size_t n)
{
    if (e->len < e->cap) {
        size_t room = e->cap - e->len;
        memcpy(e->buf + e->len, s, n < room ? n : room);
    }
    e->len += n;
}

static void putc1(emitter *e, char c)
{
    if (e->len < e->cap)
        e->buf[e->len] = c;
    e->len++;
}

static void puts0(emitter *e, const char *s) { put(e, s, strlen(s)); }

/* The number helpers wipe their text: the value may be a secret. */
static void put_int(emitter *e, int64_t v)
{
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    put(e, tmp, (size_t)k);
    coffer_memzero(tmp, sizeof tmp);
}

static void put_double(emitter *e, double d)
{
    char tmp[40];
    int k = coffer_fmt_double(d, tmp, sizeof tmp);
    put(e, tmp, (size_t)k);
    coffer_memzero(tmp, sizeof tmp);
}

static void put_num(emitter *e, unsigned v, int width)
{
    char tmp[12];
    int k = snprintf(tmp, sizeof tmp, "%0*u", width, v);
    put(e, tmp, (size_t)k);
    coffer_memzero(tmp, sizeof tmp);
}

/* RFC 3339 / TOML text of a date-time value of kind t. */
static void put_datetime(emitter *e, coffer_type t, const coffer_datetime *dt)
{
    int has_date = t != COFFER_TYPE_TIME_LOCAL;
    int has_time = t != COFFER_TYPE_DATE_LOCAL;
    if (has_date) {
        put_num(e, (unsigned)(dt->year < 0 ? 0 : dt->year), 4);
        putc1(e, '-');
        put_num(e, dt->month, 2);
        putc1(e, '-');
        put_num(e, dt->day, 2);
    }
    if (has_date && has_time)
        putc1(e, 'T');
    if (has_time) {
        put_num(e, dt->hour, 2);
        putc1(e, ':');
        put_num(e, dt->minute, 2);
        putc1(e, ':');
        put_num(e, dt->second, 2);
        if (dt->precision > 0) {
            char frac[16];
            snprintf(frac, sizeof frac, "%09u", (unsigned)dt->nanosecond);
            putc1(e, '.');
            unsigned p = dt->precision;
            put(e, frac, p < 9 ? p : 9);
            coffer_memzero(frac, sizeof frac);
            for (; p > 9; p--)
                putc1(e, '0');
        }
    }
    if (t == COFFER_TYPE_DATETIME) {
        if (dt->offset_is_z) {
            putc1(e, 'Z');
        } else {
            int off = dt->offset_minutes;
            putc1(e, off < 0 ? '-' : '+');
            if (off < 0)
                off = -off;
            put_num(e, (unsigned)off / 60, 2);
            putc1(e, ':');
            put_num(e, (unsigned)off % 60, 2);
        }
    }
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t k;
    unsigned cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2; cp = c & 0x1F; min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3; cp = c & 0x0F; min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4; cp = c & 0x07; min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

/* A quoted string, escaped for TOML basic strings (json = 0) or JSON. */
static void put_quoted(emitter *e, const char *str, size_t n, int json)
{
    const unsigned char *s = (const unsigned char *)str;
    static const char hex[] = "0123456789ABCDEF";
    static const char hexl[] = "0123456789abcdef";
    const char *hx = json ? hexl : hex;
    putc1(e, '"');
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        if (c >= 0x80) {
            size_t k = utf8_len(s + i, n - i);
            if (k) {
                i += k;
                run += k;
                continue;
            }
        }
        put(e, (const char *)s + i - run, run);
        run = 0;
        char esc[8] = "\\";
        switch (c) {
        case '"': esc[1] = '"'; put(e, esc, 2); break;
        case '\\': esc[1] = '\\'; put(e, esc, 2); break;
        case '\b': esc[1] = 'b'; put(e, esc, 2); break;
        case '\t': esc[1] = 't'; put(e, esc, 2); break;
        case '\n': esc[1] = 'n'; put(e, esc, 2); break;
        case '\f': esc[1] = 'f'; put(e, esc, 2); break;
        case '\r': esc[1] = 'r'; put(e, esc, 2); break;
        default:
            if (c >= 0x80) {
                puts0(e, json ? "\\ufffd" : "\\uFFFD");
            } else {
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hx[c >> 4];
                esc[5] = hx[c & 15];
                put(e, esc, 6);
            }
        }
        i++;
    }
    put(e, (const char *)s + i - run, run);
    putc1(e, '"');
}


static void put_key(emitter *e, const char *k, size_t n)
{
    if (coffer_bare_key(k, n))
        put(e, k, n);
    else
        put_quoted(e, k, n, 0);
}

static int is_container(const coffer_value *v)
{
    return v->type == COFFER_TYPE_ARRAY || v->type == COFFER_TYPE_TABLE;
}

static uint32_t count_of(const coffer_value *v)
{
    return v->u.c ? v->u.c->count : 0;
}

static const coffer_value *item_of(const coffer_value *v, uint32_t i)
{
    return &v->u.c->items[i];
}

/* Scalars in TOML form, or in JSON form when json is set (strings quoted
 * and escaped either way). */
static void put_scalar(emitter *e, const coffer_value *v, int json)
{
    switch (v->type) {
    case COFFER_TYPE_STRING:
        put_quoted(e, v->u.s ? v->u.s : "", v->len, json);
        break;
    case COFFER_TYPE_INTEGER:
        put_int(e, v->u.i);
        break;
    case COFFER_TYPE_FLOAT:
        if (json && !isfinite(v->u.f)) {
            putc1(e, '"');
            put_double(e, v->u.f);
            putc1(e, '"');
        } else {
            put_double(e, v->u.f);
        }
        break;
    case COFFER_TYPE_BOOL:
        puts0(e, v->u.b ? "true" : "false");
        break;
    case COFFER_TYPE_DATETIME:
    case COFFER_TYPE_DATETIME_LOCAL:
    case COFFER_TYPE_DATE_LOCAL:
    case COFFER_TYPE_TIME_LOCAL:
        if (!v->u.dt) {
            e->err = COFFER_EINVAL;
            break;
        }
        if (json)
            putc1(e, '"');
        put_datetime(e, (coffer_type)v->type, v->u.dt);
        if (json)
            putc1(e, '"');
        break;
    default:
        e->err = COFFER_EINVAL;
    }
}

/* ------------------------------------------------------- nested values */

/* The frame of the recursive writers: false when an error is pending or
 * the nesting is too deep (then e->err says so). */
static bool enter(emitter *e, unsigned depth)
{
    if (e->err)
        return false;
    if (depth > EMIT_MAX_DEPTH) {
        e->err = COFFER_ELIMIT;
        return false;
    }
    return true;
}

typedef void (*value_writer)(emitter *e, const coffer_value *v,
                             unsigned depth);

/* [a, b, c] with each element written by w: the same in JSON and TOML. */
static void put_array(emitter *e, const coffer_value *v, unsigned depth,
                      value_writer w)
{
    putc1(e, '[');
    for (uint32_t i = 0; i < count_of(v); i++) {
        if (i)
            put(e, ", ", 2);
        w(e, item_of(v, i), depth + 1);
    }
    putc1(e, ']');
}

/* ----------------------------------------------------------------- JSON */

static void put_json(emitter *e, const coffer_value *v, unsigned depth)
{
    if (!enter(e, depth))
        return;
    if (v->type == COFFER_TYPE_ARRAY) {
        put_array(e, v, depth, put_json);
    } else if (v->type == COFFER_TYPE_TABLE) {
        putc1(e, '{');
        for (uint32_t i = 0; i < count_of(v); i++) {
            const coffer_value *m = item_of(v, i);
            if (i)
                put(e, ", ", 2);
            put_quoted(e, m->key ? m->key : "", m->keylen, 1);
            put(e, ": ", 2);
            put_json(e, m, depth + 1);
        }
        putc1(e, '}');
    } else {
        put_scalar(e, v, 1);
    }
}

/* ----------------------------------------------------------------- TOML */

/* A dotted key, as a chain from the innermost key out. */
typedef struct key_path {
    const struct key_path *up;
    const char *key;
    size_t keylen;
} key_path;

static void put_path(emitter *e, const key_path *p)
{
    if (p->up) {
        put_path(e, p->up);
        putc1(e, '.');
    }
    put_key(e, p->key, p->keylen);
}

static void put_toml_inline(emitter *e, const coffer_value *v, unsigned depth);

/* Writes v under the dotted key path as "a.b.c = value" pairs, one per
 * leaf, each followed by sep except the first (*first is cleared): a
 * non-empty table is flattened into dotted keys rather than nested in
 * braces, so the nesting the reader counts grows only with arrays. */
static void put_flat(emitter *e, const coffer_value *v, const key_path *path,
                     const char *sep, int *first, unsigned depth)
{
    if (!enter(e, depth))
        return;
    if (v->type == COFFER_TYPE_TABLE && count_of(v) > 0) {
        for (uint32_t i = 0; i < count_of(v) && !e->err; i++) {
            const coffer_value *m = item_of(v, i);
            key_path sub = { path, m->key ? m->key : "", m->keylen };
            put_flat(e, m, &sub, sep, first, depth + 1);
        }
        return;
    }
    if (!*first)
        puts0(e, sep);
    *first = 0;
    put_path(e, path);
    put(e, " = ", 3);
    put_toml_inline(e, v, depth + 1);
}

static void put_toml_inline(emitter *e, const coffer_value *v, unsigned depth)
{
    if (!enter(e, depth))
        return;
    if (v->type == COFFER_TYPE_ARRAY) {
        put_array(e, v, depth, put_toml_inline);
    } else if (v->type == COFFER_TYPE_TABLE) {
        uint32_t n = count_of(v);
        if (n == 0) {
            put(e, "{}", 2);
            return;
        }
        put(e, "{ ", 2);
        int first = 1;
        for (uint32_t i = 0; i < n; i++) {
            const coffer_value *m = item_of(v, i);
            key_path k = { NULL, m->key ? m->key : "", m->keylen };
            put_flat(e, m, &k, ", ", &first, depth + 1);
        }
        put(e, " }", 2);
    } else {
        put_scalar(e, v, 0);
    }
}

/* An array written as [[name]] blocks: tables only, at least one. */
static int is_table_array(const coffer_value *v)
{
    if (v->type != COFFER_TYPE_ARRAY || count_of(v) == 0)
        return 0;
    for (uint32_t i = 0; i < count_of(v); i++)
        if (item_of(v, i)->type != COFFER_TYPE_TABLE)
            return 0;
    return 1;
}

static int is_section(const coffer_value *m)
{
    return m->type == COFFER_TYPE_TABLE || is_table_array(m);
}

/* Members from this index on are written as sections. */
static uint32_t first_trailing_section(const coffer_value *t)
{
    uint32_t n = count_of(t);
    while (n > 0 && is_section(item_of(t, n - 1)))
        n--;
    return n;
}

static void put_toml_table(emitter *e, const coffer_value *t,
                           const key_path *path, int aot, unsigned depth);

/* The body and the trailing sections of table t (header already out).
 * Members before the last plain one are written as dotted key/value
 * lines, the rest as sections. */
static void put_toml_body(emitter *e, const coffer_value *t,
                          const key_path *path, unsigned depth)
{
    uint32_t n = count_of(t), first = first_trailing_section(t);
    for (uint32_t i = 0; i < first && !e->err; i++) {
        const coffer_value *m = item_of(t, i);
        key_path k = { NULL, m->key ? m->key : "", m->keylen };
        int one = 1;
        put_flat(e, m, &k, "\n", &one, depth + 1);
        putc1(e, '\n');
    }
    for (uint32_t i = first; i < n && !e->err; i++) {
        const coffer_value *m = item_of(t, i);
        key_path sub = { path, m->key ? m->key : "", m->keylen };
        if (m->type == COFFER_TYPE_TABLE) {
            put_toml_table(e, m, &sub, 0, depth + 1);
        } else {
            for (uint32_t j = 0; j < count_of(m) && !e->err; j++)
                put_toml_table(e, item_of(m, j), &sub, 1, depth + 1);
        }
    }
}

static void put_toml_table(emitter *e, const coffer_value *t,
                           const key_path *path, int aot, unsigned depth)
{
    if (depth > EMIT_MAX_DEPTH) {
        e->err = COFFER_ELIMIT;
        return;
    }
    uint32_t n = count_of(t), first = first_trailing_section(t);
    /* A table holding nothing but sections needs no header of its own: the
     * sub-sections' headers create it. */
    if (aot || n == 0 || first > 0) {
        if (e->len > 0)
            putc1(e, '\n');
        put(e, aot ? "[[" : "[", aot ? 2 : 1);
        put_path(e, path);
        put(e, aot ? "]]\n" : "]\n", aot ? 3 : 2);
    }
    put_toml_body(e, t, path, depth);
}

/* --------------------------------------------------------------- public */

long coffer_value_format(const coffer_value *v, coffer_format fmt, char *buf,
                         size_t n)
{
    if (!v || (n > 0 && !buf))
        return COFFER_EINVAL;
    emitter e = { buf, n > 0 ? n - 1 : 0, 0, 0 };
    switch (fmt) {
    case COFFER_FORMAT_TEXT:
        if (v->type == COFFER_TYPE_STRING)
            put(&e, v->u.s ? v->u.s : "", v->len);
        else if (is_container(v))
            put_json(&e, v, 0);
        else
            put_scalar(&e, v, 0);
        break;
    case COFFER_FORMAT_TOML:
        if (v->type == COFFER_TYPE_TABLE)
            put_toml_body(&e, v, NULL, 0);
        else
            put_toml_inline(&e, v, 0);
        break;
    case COFFER_FORMAT_JSON:
        put_json(&e, v, 0);
        break;
    default:
        return COFFER_EINVAL;
    }
    if (e.err) { /* no partial output: it may hold values */
        if (n > 0)
            coffer_memzero(buf, (e.len < e.cap ? e.len : e.cap) + 1);
        return e.err;
    }
    if (n > 0)
        buf[e.len < e.cap ? e.len : e.cap] = '\0';
    return (long)e.len;
}
