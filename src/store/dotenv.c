/* dotenv.c - a strict reader for .env files (source prefix "dotenv:").
 *
 * The dialect is python-dotenv's, read with interpolate=False, minus what
 * is ambiguous; anything else is an error with its line and column, never
 * a silent guess:
 *
 *   file   := BOM? line*          (valid UTF-8, no NUL byte)
 *   line   := ws* ( '#' comment | ["export" ws+] KEY ws* '=' ws* VALUE
 *                   ws* ('#' comment)? )? EOL
 *   KEY    := [A-Za-z0-9_.-]+
 *   VALUE  := '"' ... '"'   escapes \\ \' \" \a \b \f \n \r \t \v; any
 *                           other backslash stays as it is; may span lines
 *           | "'" ... "'"   escapes \\ and \' only; may span lines
 *           | unquoted      to the end of the line, cut at the first
 *                           whitespace followed by '#', trailing
 *                           whitespace removed; no escapes
 *
 * As python reads text files, CRLF and a lone CR are line ends, also
 * inside quotes (where they become LF). Refused: a line without '=', a
 * duplicate key, an unterminated quote, text after the closing quote, and
 * a value with a python-dotenv variable reference ${NAME} or
 * ${NAME:-default} (python-dotenv expands those by default; coffer does
 * not guess what they stood for). Values are decoded in place in the
 * file's buffer, which the snapshot's arena owns.
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <string.h>

typedef struct dreader {
    char *buf;
    size_t len, pos;
    unsigned line;
    size_t line_start;
    const char *name;
    coffer_error *err;
} dreader;

static int fail(dreader *R, size_t at, unsigned line, size_t line_start,
                const char *what, const char *key, size_t kl)
{
    char shown[128];
    if (key)
        coffer_key_display(shown, sizeof shown, key, kl);
    return coffer_error_set(R->err, COFFER_ESYNTAX, R->name, line,
                            (unsigned)(at - line_start + 1), "%s%s%s%s", what,
                            key ? " '" : "", key ? shown : "", key ? "'" : "");
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f';
}

static bool key_char(char c)
{
    return coffer_bare_char((unsigned char)c) || c == '.';
}

/* A python-dotenv variable reference: ${NAME} or ${NAME:-DEFAULT}, NAME
 * without '}' and ':', DEFAULT without '}'. */
static bool dotenv_interpolates(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '$' || s[i + 1] != '{')
            continue;
        size_t j = i + 2;
        while (j < n && s[j] != '}' && s[j] != ':')
            j++;
        if (j < n && s[j] == '}')
            return true;
        if (j + 1 < n && s[j] == ':' && s[j + 1] == '-') {
            for (size_t k = j + 2; k < n; k++)
                if (s[k] == '}')
                    return true;
        }
    }
    return false;
}

/* Line ends inside quotes: CRLF or CR or LF, written as one LF. */
static void newline_in_quotes(dreader *R, size_t *r, size_t *w)
{
    if (R->buf[*r] == '\r' && *r + 1 < R->len && R->buf[*r + 1] == '\n')
        (*r)++;
    (*r)++;
    R->buf[(*w)++] = '\n';
    R->line++;
    R->line_start = *r;
}

/* Decodes a quoted value starting at R->pos (the quote) in place. On
 * success *val and *vl are set and R->pos is after the closing quote. */
static int quoted(dreader *R, const char **val, size_t *vl, const char *key,
                  size_t kl)
{
    char q = R->buf[R->pos];
    unsigned line0 = R->line;
    size_t start = R->pos, ls0 = R->line_start;
    size_t r = R->pos + 1, w = R->pos;
    for (;;) {
        if (r >= R->len)
            return fail(R, start, line0, ls0,
                        q == '"' ? "unterminated double-quoted value of"
                                 : "unterminated single-quoted value of",
                        key, kl);
        char c = R->buf[r];
        if (c == q) {
            r++;
            break;
        }
        if (c == '\r' || c == '\n') {
            newline_in_quotes(R, &r, &w);
            continue;
        }
        if (c == '\\' && r + 1 < R->len) {
            char d = R->buf[r + 1], out = 0;
            if (d == '\\' || d == '\'' || (q == '"' && d == '"'))
                out = d;
            else if (q == '"') {
                switch (d) {
                case 'a': out = '\a'; break;
                case 'b': out = '\b'; break;
                case 'f': out = '\f'; break;
                case 'n': out = '\n'; break;
                case 'r': out = '\r'; break;
                case 't': out = '\t'; break;
                case 'v': out = '\v'; break;
                default: break;
                }
            }
            if (out) {
                R->buf[w++] = out;
                r += 2;
                continue;
            }
        }
        R->buf[w++] = c;
        r++;
    }
    *val = R->buf + start;
    *vl = w - start;
    R->pos = r;
    /* The terminator goes after the value; r > w always. */
    R->buf[w] = '\0';
    return 0;
}

int coffer_dotenv_parse(coffer_loadctx *lc, const char *name, char *buf,
                        size_t len, coffer_layer *layer, coffer_error *err)
{
    dreader R = { buf, len, 0, 1, 0, name, err };
    if (memchr(buf, '\0', len)) {
        size_t at = (size_t)((char *)memchr(buf, '\0', len) - buf);
        unsigned line = 1;
        size_t ls = 0;
        for (size_t i = 0; i < at; i++)
            if (buf[i] == '\n') {
                line++;
                ls = i + 1;
            }
        return fail(&R, at, line, ls, "NUL byte in a .env file", NULL, 0);
    }
    if (!coffer_utf8_valid(buf, len))
        return coffer_error_set(err, COFFER_ESYNTAX, name, 0, 0,
                                "'%s' is not valid utf-8", name);
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        R.pos = R.line_start = 3;
    size_t max_key = lc->store->parse.max_key ? lc->store->parse.max_key : 4096;
    while (R.pos < len) {
        char c = buf[R.pos];
        if (is_ws(c)) {
            R.pos++;
            continue;
        }
        if (c == '\r' || c == '\n') {
            if (c == '\r' && R.pos + 1 < len && buf[R.pos + 1] == '\n')
                R.pos++;
            R.pos++;
            R.line++;
            R.line_start = R.pos;
            continue;
        }
        if (c == '#') {
            while (R.pos < len && buf[R.pos] != '\n' && buf[R.pos] != '\r')
                R.pos++;
            continue;
        }
        if (len - R.pos > 7 && memcmp(buf + R.pos, "export", 6) == 0 &&
            is_ws(buf[R.pos + 6])) {
            R.pos += 6;
            while (R.pos < len && is_ws(buf[R.pos]))
                R.pos++;
        }
        unsigned kline = R.line;
        size_t kb = R.pos, kls = R.line_start;
        while (R.pos < len && key_char(buf[R.pos]))
            R.pos++;
        size_t ke = R.pos, kl = ke - kb;
        if (kl == 0)
            return fail(&R, kb, R.line, R.line_start,
                        "expected a variable name ([A-Za-z0-9_.-]) at the "
                        "start of the line", NULL, 0);
        if (kl > max_key || kl > UINT16_MAX)
            return coffer_error_set(err, COFFER_ELIMIT, name, kline, 1,
                                    "variable name longer than %zu bytes",
                                    max_key);
        while (R.pos < len && is_ws(buf[R.pos]))
            R.pos++;
        if (R.pos >= len || buf[R.pos] != '=')
            return fail(&R, R.pos, R.line, R.line_start,
                        "expected '=' after the variable name", buf + kb, kl);
        R.pos++;
        while (R.pos < len && is_ws(buf[R.pos]))
            R.pos++;
        const char *val = NULL;
        size_t vl = 0;
        size_t vcol = R.pos - R.line_start + 1;
        if (R.pos < len && (buf[R.pos] == '"' || buf[R.pos] == '\'')) {
            int rc = quoted(&R, &val, &vl, buf + kb, kl);
            if (rc)
                return rc;
            while (R.pos < len && is_ws(buf[R.pos]))
                R.pos++;
            if (R.pos < len && buf[R.pos] == '#')
                while (R.pos < len && buf[R.pos] != '\n' && buf[R.pos] != '\r')
                    R.pos++;
            if (R.pos < len && buf[R.pos] != '\n' && buf[R.pos] != '\r')
                return fail(&R, R.pos, R.line, R.line_start,
                            "unexpected text after the closing quote of",
                            buf + kb, kl);
        } else {
            size_t b = R.pos, e = b;
            while (e < len && buf[e] != '\n' && buf[e] != '\r')
                e++;
            R.pos = e; /* the line end is handled by the loop */
            for (size_t i = b + 1; i < e; i++)
                if (buf[i] == '#' && is_ws(buf[i - 1])) {
                    e = i;
                    break;
                }
            while (e > b && is_ws(buf[e - 1]))
                e--;
            val = buf + b;
            vl = e - b;
            /* The terminator may land on the line end: step over it first. */
            if (e == R.pos && R.pos < len) {
                char le = buf[R.pos];
                R.pos++;
                if (le == '\r' && R.pos < len && buf[R.pos] == '\n')
                    R.pos++;
                R.line++;
                R.line_start = R.pos;
            }
            buf[e] = '\0';
        }
        if (dotenv_interpolates(val, vl))
            return fail(&R, kls + vcol - 1, kline, kls,
                        "a ${...} reference (python-dotenv expands it, coffer "
                        "does not; write the value out) in the value of",
                        buf + kb, kl);
        if (vl > UINT32_MAX)
            return coffer_error_set(err, COFFER_ELIMIT, name, kline, 1,
                                    "value too large");
        if (coffer_table_find(layer->root.u.c, buf + kb, kl)) {
            const coffer_value *first = coffer_table_find(layer->root.u.c,
                                                          buf + kb, kl);
            char what[96];
            snprintf(what, sizeof what, "duplicate variable (first on line %u)",
                     coffer_value_line(first));
            return fail(&R, kb, kline, kls, what, buf + kb, kl);
        }
        buf[ke] = '\0'; /* '=' or a blank: both already read */
        coffer_value *v = coffer_container_push(lc->arena, layer->root.u.c,
                                                buf + kb, kl);
        if (!v)
            return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                    "out of memory");
        v->type = COFFER_TYPE_STRING;
        v->u.s = val;
        v->len = (uint32_t)vl;
        v->line = kline;
        v->col = (uint32_t)(kb - kls + 1);
    }
    return 0;
}

/* ------------------------------------------------------------ writing */

/* Unquoted is the only python-dotenv form for a value ending in a
 * backslash (in quotes, "\\" before the closing quote reads as an
 * escaped quote and the value runs on). Safe when every byte is printable
 * ASCII other than a space and it does not start with a quote. */
static bool dotenv_bare_ok(const char *s, size_t n)
{
    if (n == 0 || s[0] == '"' || s[0] == '\'')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static const char *sh_escape(char c)
{
    return c == '\'' ? "'\\''" : NULL;
}

static const char *dotenv_escape(char c)
{
    switch (c) {
    case '\\': return "\\\\";
    case '"': return "\\\"";
    case '\n': return "\\n";
    case '\r': return "\\r";
    default: return NULL;
    }
}

int coffer_env_quote(coffer_secbuf *out, coffer_env_syntax syn,
                     const char *text, size_t len, const char **why)
{
    static const char *const reasons[] = {
        "the value contains a NUL byte",
        "python-dotenv would expand its ${...} reference",
        "it ends with a backslash and has spaces, control or non-ASCII "
        "characters, or starts with a quote (python-dotenv cannot read that "
        "back)",
    };
    if (why)
        *why = "";
    if (!out || (!text && len))
        return COFFER_EINVAL;
    if (!text)
        text = "";
    if (len && memchr(text, '\0', len)) {
        if (why)
            *why = reasons[0];
        return 0;
    }
    if (syn == COFFER_ENV_SYNTAX_DOTENV && dotenv_interpolates(text, len)) {
        if (why)
            *why = reasons[1];
        return 0;
    }
    if (syn == COFFER_ENV_SYNTAX_DOTENV && len && text[len - 1] == '\\') {
        if (!dotenv_bare_ok(text, len)) {
            if (why)
                *why = reasons[2];
            return 0;
        }
        int rc = coffer_secbuf_append(out, text, len);
        return rc ? rc : 1;
    }
    /* sh: single quotes, ' as '\''. dotenv: double quotes with \\, \",
     * CR and LF escaped. Everything else is literal. */
    const char *q = syn == COFFER_ENV_SYNTAX_SH ? "'" : "\"";
    int rc = coffer_secbuf_append(out, q, 1);
    size_t start = 0;
    for (size_t i = 0; i < len && !rc; i++) {
        const char *esc = syn == COFFER_ENV_SYNTAX_SH ? sh_escape(text[i])
                                                      : dotenv_escape(text[i]);
        if (!esc)
            continue;
        rc = coffer_secbuf_append(out, text + start, i - start);
        if (!rc)
            rc = coffer_secbuf_append(out, esc, strlen(esc));
        start = i + 1;
    }
    if (!rc)
        rc = coffer_secbuf_append(out, text + start, len - start);
    if (!rc)
        rc = coffer_secbuf_append(out, q, 1);
    return rc ? rc : 1;
}
