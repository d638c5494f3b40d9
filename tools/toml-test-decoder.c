/* toml-test-decoder - TOML on stdin, toml-test tagged JSON on stdout.
 *
 * Exit 0 on success; on invalid TOML a one-line message on stderr and
 * exit 1 (exit 2 for I/O or memory errors). */
#include "coffer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void json_string(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(f, "\\u%04x", c);
            else
                fputc(c, f);
        }
    }
    fputc('"', f);
}

static void tagged(FILE *f, const char *type, const char *value)
{
    fprintf(f, "{\"type\":\"%s\",\"value\":", type);
    json_string(f, value, strlen(value));
    fputc('}', f);
}

static void datetime_text(const coffer_value *v, char *buf, size_t n)
{
    coffer_datetime dt;
    if (coffer_value_datetime(v, &dt)) {
        buf[0] = '\0';
        return;
    }
    coffer_type t = coffer_value_type(v);
    size_t o = 0;
    if (t != COFFER_TYPE_TIME_LOCAL)
        o += (size_t)snprintf(buf + o, n - o, "%04d-%02u-%02u", dt.year,
                              (unsigned)dt.month, (unsigned)dt.day);
    if (t == COFFER_TYPE_DATE_LOCAL)
        return;
    if (o)
        buf[o++] = 'T';
    o += (size_t)snprintf(buf + o, n - o, "%02u:%02u:%02u", (unsigned)dt.hour,
                          (unsigned)dt.minute, (unsigned)dt.second);
    if (dt.precision) {
        char frac[16];
        snprintf(frac, sizeof frac, "%09u", (unsigned)dt.nanosecond);
        frac[dt.precision < 9 ? dt.precision : 9] = '\0';
        o += (size_t)snprintf(buf + o, n - o, ".%s", frac);
    }
    if (t == COFFER_TYPE_DATETIME) {
        if (dt.offset_is_z) {
            snprintf(buf + o, n - o, "Z");
        } else {
            int off = dt.offset_minutes;
            char sign = off < 0 ? '-' : '+';
            if (off < 0)
                off = -off;
            snprintf(buf + o, n - o, "%c%02d:%02d", sign, off / 60, off % 60);
        }
    }
}

/* Tables nested through dotted keys have no depth limit in the parser;
 * this recursive writer stops well before the stack would run out. */
#define MAX_EMIT_DEPTH 10000

static void emit(FILE *f, const coffer_value *v, unsigned depth)
{
    char buf[64];
    if (depth > MAX_EMIT_DEPTH) {
        fputs("toml-test-decoder: document nested too deeply to print\n", stderr);
        exit(2);
    }
    switch (coffer_value_type(v)) {
    case COFFER_TYPE_TABLE: {
        fputc('{', f);
        size_t n = coffer_table_count(v);
        for (size_t i = 0; i < n; i++) {
            const char *key;
            size_t keylen;
            const coffer_value *m = coffer_table_at(v, i, &key, &keylen);
            if (i)
                fputc(',', f);
            json_string(f, key, keylen);
            fputc(':', f);
            emit(f, m, depth + 1);
        }
        fputc('}', f);
        break;
    }
    case COFFER_TYPE_ARRAY: {
        fputc('[', f);
        size_t n = coffer_array_count(v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                fputc(',', f);
            emit(f, coffer_array_at(v, i), depth + 1);
        }
        fputc(']', f);
        break;
    }
    case COFFER_TYPE_STRING: {
        const char *s;
        size_t len;
        if (coffer_value_string(v, &s, &len) == 0) {
            fputs("{\"type\":\"string\",\"value\":", f);
            json_string(f, s, len);
            fputc('}', f);
        }
        break;
    }
    case COFFER_TYPE_INTEGER: {
        int64_t i = 0;
        if (coffer_value_int(v, &i) == 0) {
            snprintf(buf, sizeof buf, "%" PRId64, i);
            tagged(f, "integer", buf);
        }
        break;
    }
    case COFFER_TYPE_FLOAT: {
        double d = 0;
        if (coffer_value_double(v, &d) == 0) {
            if (d != d)
                snprintf(buf, sizeof buf, "nan");
            else if (d > 1e308 * 10)
                snprintf(buf, sizeof buf, "inf");
            else if (d < -1e308 * 10)
                snprintf(buf, sizeof buf, "-inf");
            else
                snprintf(buf, sizeof buf, "%.17g", d);
            tagged(f, "float", buf);
        }
        break;
    }
    case COFFER_TYPE_BOOL: {
        bool b = false;
        if (coffer_value_bool(v, &b) == 0)
            tagged(f, "bool", b ? "true" : "false");
        break;
    }
    case COFFER_TYPE_DATETIME:
    case COFFER_TYPE_DATETIME_LOCAL:
    case COFFER_TYPE_DATE_LOCAL:
    case COFFER_TYPE_TIME_LOCAL:
        datetime_text(v, buf, sizeof buf);
        tagged(f, coffer_type_name(coffer_value_type(v)), buf);
        break;
    default:
        fputs("null", f);
        break;
    }
}

int main(void)
{
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    if (!text) {
        fputs("toml-test-decoder: out of memory\n", stderr);
        return 2;
    }
    for (;;) {
        if (len == cap) {
            char *t = malloc(cap * 2);
            if (!t) {
                fputs("toml-test-decoder: out of memory\n", stderr);
                return 2;
            }
            memcpy(t, text, len);
            coffer_memzero(text, len);
            free(text);
            text = t;
            cap *= 2;
        }
        size_t n = fread(text + len, 1, cap - len, stdin);
        if (n == 0)
            break;
        len += n;
    }
    if (ferror(stdin)) {
        fputs("toml-test-decoder: cannot read standard input\n", stderr);
        return 2;
    }
    coffer_doc *doc = NULL;
    coffer_error err;
    int rc = coffer_toml_parse(text, len, NULL, &doc, &err);
    coffer_memzero(text, len);
    free(text);
    if (rc) {
        char msg[COFFER_ERROR_MESSAGE_MAX + 64];
        fprintf(stderr, "toml-test-decoder: %s\n",
                coffer_error_format(&err, msg, sizeof msg));
        return rc == COFFER_ENOMEM ? 2 : 1;
    }
    emit(stdout, coffer_doc_root(doc), 0);
    fputc('\n', stdout);
    coffer_doc_free(doc);
    if (fflush(stdout) != 0)
        return 2;
    return 0;
}
