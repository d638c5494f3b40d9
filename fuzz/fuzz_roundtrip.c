/*
 * fuzz_roundtrip.c - libFuzzer target: parse, print as TOML, parse again,
 * and require the same tree.
 *
 * For every input that parses, the root is formatted with
 * COFFER_FORMAT_TOML; that text must parse, and the second tree must equal
 * the first: same types, same key order, strings byte for byte, integers,
 * floats bit for bit (any NaN equals any NaN), booleans, date-times field by
 * field. COFFER_ELIMIT from the printer (nesting deeper than it writes) is
 * accepted. The JSON and TEXT forms are printed too (for the sanitizers),
 * and the snprintf contract is checked on a truncated buffer.
 *
 * Build and run: see fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "coffer.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *printed)
{
    fprintf(stderr, "fuzz_roundtrip: %s\n", what);
    if (printed)
        fprintf(stderr, "--- printed TOML ---\n%s\n--- end ---\n", printed);
    abort();
}

static int same_dt(const coffer_datetime *a, const coffer_datetime *b)
{
    return a->year == b->year && a->month == b->month && a->day == b->day &&
           a->hour == b->hour && a->minute == b->minute &&
           a->second == b->second && a->nanosecond == b->nanosecond &&
           a->offset_minutes == b->offset_minutes &&
           a->offset_is_z == b->offset_is_z && a->precision == b->precision;
}

/* Returns NULL when equal, else a description of the first difference. */
static const char *diff(const coffer_value *a, const coffer_value *b)
{
    coffer_type t = coffer_value_type(a);
    if (t != coffer_value_type(b))
        return "type differs";
    switch (t) {
    case COFFER_TYPE_STRING: {
        const char *sa, *sb;
        size_t la, lb;
        if (coffer_value_string(a, &sa, &la) || coffer_value_string(b, &sb, &lb))
            return "string read failed";
        if (la != lb || memcmp(sa, sb, la) != 0)
            return "string differs";
        return NULL;
    }
    case COFFER_TYPE_INTEGER: {
        int64_t x, y;
        if (coffer_value_int(a, &x) || coffer_value_int(b, &y) || x != y)
            return "integer differs";
        return NULL;
    }
    case COFFER_TYPE_FLOAT: {
        double x, y;
        if (coffer_value_double(a, &x) || coffer_value_double(b, &y))
            return "float read failed";
        if (isnan(x) && isnan(y))
            return NULL;
        if (memcmp(&x, &y, sizeof x) != 0)
            return "float differs";
        return NULL;
    }
    case COFFER_TYPE_BOOL: {
        bool x, y;
        if (coffer_value_bool(a, &x) || coffer_value_bool(b, &y) || x != y)
            return "bool differs";
        return NULL;
    }
    case COFFER_TYPE_DATETIME:
    case COFFER_TYPE_DATETIME_LOCAL:
    case COFFER_TYPE_DATE_LOCAL:
    case COFFER_TYPE_TIME_LOCAL: {
        coffer_datetime x, y;
        if (coffer_value_datetime(a, &x) || coffer_value_datetime(b, &y))
            return "datetime read failed";
        return same_dt(&x, &y) ? NULL : "datetime differs";
    }
    case COFFER_TYPE_ARRAY: {
        size_t n = coffer_array_count(a);
        if (n != coffer_array_count(b))
            return "array length differs";
        for (size_t i = 0; i < n; i++) {
            const char *d = diff(coffer_array_at(a, i), coffer_array_at(b, i));
            if (d)
                return d;
        }
        return NULL;
    }
    case COFFER_TYPE_TABLE: {
        size_t n = coffer_table_count(a);
        if (n != coffer_table_count(b))
            return "table size differs";
        for (size_t i = 0; i < n; i++) {
            const char *ka, *kb;
            size_t la, lb;
            const coffer_value *va = coffer_table_at(a, i, &ka, &la);
            const coffer_value *vb = coffer_table_at(b, i, &kb, &lb);
            if (!va || !vb)
                return "table member missing";
            if (la != lb || memcmp(ka, kb, la) != 0)
                return "key or key order differs";
            const char *d = diff(va, vb);
            if (d)
                return d;
        }
        return NULL;
    }
    default:
        return "unknown type";
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    coffer_doc *doc;
    if (coffer_toml_parse((const char *)data, size, NULL, &doc, NULL) != 0)
        return 0;
    const coffer_value *root = coffer_doc_root(doc);

    long need = coffer_value_format(root, COFFER_FORMAT_TOML, NULL, 0);
    if (need == COFFER_ELIMIT) {
        coffer_doc_free(doc);
        return 0;
    }
    if (need < 0)
        die("formatting failed", NULL);
    char *text = malloc((size_t)need + 1);
    if (!text)
        abort();
    if (coffer_value_format(root, COFFER_FORMAT_TOML, text, (size_t)need + 1) != need)
        die("second formatting gave another length", NULL);
    if (strlen(text) != (size_t)need)
        die("printed TOML holds a NUL byte", text);

    /* snprintf contract on a truncated buffer */
    size_t half = (size_t)need / 2 + 1;
    char *part = malloc(half);
    if (!part)
        abort();
    if (coffer_value_format(root, COFFER_FORMAT_TOML, part, half) != need ||
        strlen(part) != half - 1 || memcmp(part, text, half - 1) != 0)
        die("truncated output is not a prefix of the full output", text);
    free(part);

    coffer_doc *doc2;
    coffer_error err;
    if (coffer_toml_parse(text, (size_t)need, NULL, &doc2, &err) != 0) {
        char msg[512];
        fprintf(stderr, "reparse: %s\n", coffer_error_format(&err, msg, sizeof msg));
        die("printed TOML does not parse", text);
    }
    const char *d = diff(root, coffer_doc_root(doc2));
    if (d)
        die(d, text);
    coffer_doc_free(doc2);

    /* the other forms must not fail on a document that printed as TOML */
    for (int f = COFFER_FORMAT_TEXT; f <= COFFER_FORMAT_JSON; f += 2) {
        long m = coffer_value_format(root, (coffer_format)f, NULL, 0);
        if (m < 0)
            die("json/text formatting failed", text);
        char *o = malloc((size_t)m + 1);
        if (!o)
            abort();
        if (coffer_value_format(root, (coffer_format)f, o, (size_t)m + 1) != m)
            die("json/text length differs", text);
        free(o);
    }
    free(text);
    coffer_doc_free(doc);
    return 0;
}
