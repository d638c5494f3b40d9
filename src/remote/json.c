/* json.c - strict RFC 8259 reader: tokens over the caller's buffer. */
#include "remote/json.h"
#include "store/store_internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int fail(coffer_error *err, size_t at, const char *what)
{
    return coffer_error_set(err, COFFER_ESYNTAX, NULL, 0, 0,
                            "invalid json at byte %zu: %s", at, what);
}

static long new_tok(coffer_json *j, int type, size_t start)
{
    if (j->ntoks == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 64;
        if (cap > UINT32_MAX)
            return -1;
        /* Offsets only: plain memory is fine. */
        coffer_json_tok *t = realloc(j->toks, cap * sizeof *t);
        if (!t)
            return -1;
        j->toks = t;
        j->cap = cap;
    }
    coffer_json_tok *t = &j->toks[j->ntoks];
    memset(t, 0, sizeof *t);
    t->type = (uint8_t)type;
    t->start = (uint32_t)start;
    return (long)j->ntoks++;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Scans a string starting after its opening quote; *pos ends after the
 * closing quote. */
static int scan_string(coffer_json *j, size_t *pos, long tok, coffer_error *err)
{
    const char *s = j->text;
    size_t i = *pos, n = j->len;
    bool esc = false;
    while (i < n && s[i] != '"') {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20)
            return fail(err, i, "control character in string");
        if (c != '\\') {
            i++;
            continue;
        }
        esc = true;
        if (i + 1 >= n)
            return fail(err, i, "unterminated escape");
        char e = s[i + 1];
        if (e == 'u') {
            unsigned u;
            if (i + 6 > n || hex4(s + i + 2, &u))
                return fail(err, i, "bad \\u escape");
            i += 6;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(err, i - 6, "lone low surrogate");
            if (u >= 0xD800 && u <= 0xDBFF) {
                unsigned lo;
                if (i + 6 > n || s[i] != '\\' || s[i + 1] != 'u' ||
                    hex4(s + i + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return fail(err, i, "lone high surrogate");
                i += 6;
            }
            continue;
        }
        if (!strchr("\"\\/bfnrt", e) || e == '\0')
            return fail(err, i, "bad escape");
        i += 2;
    }
    if (i >= n)
        return fail(err, *pos, "unterminated string");
    if (!coffer_utf8_valid(s + *pos, i - *pos))
        return fail(err, *pos, "invalid utf-8 in string");
    j->toks[tok].end = (uint32_t)i;
    j->toks[tok].escaped = esc;
    *pos = i + 1;
    return 0;
}

static int scan_number(coffer_json *j, size_t *pos, coffer_error *err)
{
    const char *s = j->text;
    size_t i = *pos, n = j->len;
    if (i < n && s[i] == '-')
        i++;
    if (i >= n || s[i] < '0' || s[i] > '9')
        return fail(err, i, "bad number");
    if (s[i] == '0') {
        i++;
        if (i < n && s[i] >= '0' && s[i] <= '9')
            return fail(err, i, "leading zero");
    } else {
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && s[i] == '.') {
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return fail(err, i, "bad fraction");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return fail(err, i, "bad exponent");
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    *pos = i;
    return 0;
}

/* Ends the innermost open container at byte i. */
static void close_top(coffer_json *j, long top, size_t i, unsigned *depth,
                      bool *done)
{
    j->toks[top].end = (uint32_t)i;
    j->toks[top].next = (uint32_t)j->ntoks;
    if (--*depth == 0)
        *done = true;
}

int coffer_json_parse(coffer_json *j, const char *text, size_t len,
                      unsigned max_depth, coffer_error *err)
{
    memset(j, 0, sizeof *j);
    j->text = text;
    j->len = len;
    if (len >= UINT32_MAX)
        return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                "json document too large");
    if (max_depth == 0)
        max_depth = COFFER_JSON_DEFAULT_DEPTH;
    long stackbuf[COFFER_JSON_DEFAULT_DEPTH];
    long *stack = stackbuf;
    if (max_depth > COFFER_JSON_DEFAULT_DEPTH) {
        stack = malloc(max_depth * sizeof *stack);
        if (!stack)
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                    "out of memory");
    }
    unsigned depth = 0;
    size_t i = 0;
    int rc = 0;
    /* want: 0 a value, 1 a key or '}' (just opened), 2 a value or ']'
     * (just opened), 3 after a value: ',' or the closer, 4 ':' */
    int want = 0;
    bool done = false;
#define FAIL(what) do { rc = fail(err, i, what); goto out; } while (0)
    for (;;) {
        while (i < len && is_ws(text[i]))
            i++;
        if (done) {
            if (i < len)
                FAIL("trailing characters");
            break;
        }
        if (i >= len)
            FAIL("unexpected end");
        char c = text[i];
        long top = depth ? stack[depth - 1] : -1;
        if (want == 3) {
            bool obj = j->toks[top].type == COFFER_JSON_OBJECT;
            if (c == ',') {
                i++;
                want = obj ? 5 : 0; /* 5: a key */
                continue;
            }
            if (c != (obj ? '}' : ']'))
                FAIL("expected ',' or a closing bracket");
            i++;
            close_top(j, top, i, &depth, &done);
            continue;
        }
        if (want == 4) {
            if (c != ':')
                FAIL("expected ':'");
            i++;
            want = 0;
            continue;
        }
        if (want == 1 || want == 5) {
            if (want == 1 && c == '}') {
                i++;
                close_top(j, top, i, &depth, &done);
                want = 3;
                continue;
            }
            if (c != '"')
                FAIL("expected a member name");
            long t = new_tok(j, COFFER_JSON_STRING, i + 1);
            if (t < 0)
                goto nomem;
            i++;
            rc = scan_string(j, &i, t, err);
            if (rc)
                goto out;
            j->toks[t].next = (uint32_t)j->ntoks;
            j->toks[top].count++;
            want = 4;
            continue;
        }
        if (want == 2 && c == ']') {
            i++;
            close_top(j, top, i, &depth, &done);
            want = 3;
            continue;
        }
        /* a value */
        if (top >= 0 && j->toks[top].type == COFFER_JSON_ARRAY)
            j->toks[top].count++;
        long t;
        if (c == '{' || c == '[') {
            if (depth >= max_depth) {
                rc = coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                      "json nested deeper than %u levels",
                                      max_depth);
                goto out;
            }
            t = new_tok(j, c == '{' ? COFFER_JSON_OBJECT : COFFER_JSON_ARRAY, i);
            if (t < 0)
                goto nomem;
            stack[depth++] = t;
            i++;
            want = c == '{' ? 1 : 2;
            continue;
        }
        if (c == '"') {
            t = new_tok(j, COFFER_JSON_STRING, i + 1);
            if (t < 0)
                goto nomem;
            i++;
            rc = scan_string(j, &i, t, err);
            if (rc)
                goto out;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            t = new_tok(j, COFFER_JSON_NUMBER, i);
            if (t < 0)
                goto nomem;
            rc = scan_number(j, &i, err);
            if (rc)
                goto out;
            j->toks[t].end = (uint32_t)i;
        } else {
            static const struct { const char *w; int type; } lit[] = {
                { "true", COFFER_JSON_TRUE },
                { "false", COFFER_JSON_FALSE },
                { "null", COFFER_JSON_NULL },
            };
            size_t k;
            for (k = 0; k < 3; k++) {
                size_t wl = strlen(lit[k].w);
                if (len - i >= wl && memcmp(text + i, lit[k].w, wl) == 0)
                    break;
            }
            if (k == 3)
                FAIL("unexpected character");
            t = new_tok(j, lit[k].type, i);
            if (t < 0)
                goto nomem;
            i += strlen(lit[k].w);
            j->toks[t].end = (uint32_t)i;
        }
        j->toks[t].next = (uint32_t)j->ntoks;
        if (!depth)
            done = true;
        want = 3;
    }
#undef FAIL
out:
    if (stack != stackbuf)
        free(stack);
    return rc;
nomem:
    rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    goto out;
}

void coffer_json_release(coffer_json *j)
{
    free(j->toks);
    memset(j, 0, sizeof *j);
}

static bool valid(const coffer_json *j, long t)
{
    return t >= 0 && (size_t)t < j->ntoks;
}

long coffer_json_get(const coffer_json *j, long obj, const char *key)
{
    if (!valid(j, obj) || j->toks[obj].type != COFFER_JSON_OBJECT)
        return -1;
    size_t kl = strlen(key);
    size_t t = (size_t)obj + 1;
    for (uint32_t m = 0; m < j->toks[obj].count; m++) {
        const coffer_json_tok *k = &j->toks[t];
        size_t v = t + 1;
        if (!k->escaped && k->end - k->start == kl &&
            memcmp(j->text + k->start, key, kl) == 0)
            return (long)v;
        t = j->toks[v].next;
    }
    return -1;
}

long coffer_json_path(const coffer_json *j, long obj, ...)
{
    va_list ap;
    va_start(ap, obj);
    const char *k;
    while (obj >= 0 && (k = va_arg(ap, const char *)) != NULL)
        obj = coffer_json_get(j, obj, k);
    va_end(ap);
    return obj;
}

long coffer_json_at(const coffer_json *j, long arr, size_t i)
{
    if (!valid(j, arr) || j->toks[arr].type != COFFER_JSON_ARRAY ||
        i >= j->toks[arr].count)
        return -1;
    size_t t = (size_t)arr + 1;
    while (i--)
        t = j->toks[t].next;
    return (long)t;
}

bool coffer_json_int(const coffer_json *j, long tok, int64_t *out)
{
    if (!valid(j, tok))
        return false;
    const coffer_json_tok *t = &j->toks[tok];
    if (t->type != COFFER_JSON_NUMBER && t->type != COFFER_JSON_STRING)
        return false;
    const char *p = j->text + t->start, *e = j->text + t->end;
    bool neg = false;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    if (p == e || (*p == '0' && e - p > 1))
        return false;
    uint64_t v = 0;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

bool coffer_json_true(const coffer_json *j, long tok)
{
    return valid(j, tok) && j->toks[tok].type == COFFER_JSON_TRUE;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

long coffer_json_string(const coffer_json *j, long tok, char *out, size_t cap)
{
    if (!valid(j, tok) || j->toks[tok].type != COFFER_JSON_STRING || cap == 0)
        return -1;
    const char *p = j->text + j->toks[tok].start;
    const char *e = j->text + j->toks[tok].end;
    size_t k = 0;
    while (p < e) {
        char tmp[4];
        size_t n = 1;
        if (*p != '\\') {
            tmp[0] = *p++;
        } else {
            char c = p[1];
            p += 2;
            switch (c) {
            case 'b': tmp[0] = '\b'; break;
            case 'f': tmp[0] = '\f'; break;
            case 'n': tmp[0] = '\n'; break;
            case 'r': tmp[0] = '\r'; break;
            case 't': tmp[0] = '\t'; break;
            case 'u': {
                unsigned u, lo;
                (void)hex4(p, &u); /* validated by the parse */
                p += 4;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    (void)hex4(p + 2, &lo);
                    p += 6;
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                }
                n = put_utf8(tmp, u);
                break;
            }
            default: tmp[0] = c; break;
            }
        }
        if (k + n + 1 > cap)
            return -1;
        memcpy(out + k, tmp, n);
        k += n;
    }
    out[k] = '\0';
    return (long)k;
}

size_t coffer_json_base64_max(const coffer_json *j, long tok)
{
    if (!valid(j, tok) || j->toks[tok].type != COFFER_JSON_STRING)
        return 0;
    size_t n = j->toks[tok].end - j->toks[tok].start;
    return n / 4 * 3 + 3;
}

int coffer_json_base64(const coffer_json *j, long tok, char *out, size_t cap,
                       size_t *outlen)
{
    *outlen = 0;
    if (!valid(j, tok) || j->toks[tok].type != COFFER_JSON_STRING ||
        j->toks[tok].escaped)
        return -1;
    const char *b = j->text + j->toks[tok].start;
    size_t n = j->toks[tok].end - j->toks[tok].start;
    const char *end = NULL;
    size_t bl = 0;
    if (n % 4 != 0)
        return -1;
    if (sodium_base642bin((unsigned char *)out, cap, b, n, NULL, &bl, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != b + n)
        return -1;
    *outlen = bl;
    return 0;
}
