/* fuzz_toml.c - libFuzzer target for the TOML parser: parse with small
 * limits, walk the whole tree through the public accessors, and seek a
 * few paths (some of them built from the input). */
#include "coffer.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long sink;

static void walk(const coffer_value *v, unsigned depth)
{
    const char *s;
    size_t len;
    int64_t i;
    double d;
    bool b;
    coffer_datetime dt;
    if (depth > 2000) /* dotted keys nest tables without a parser limit */
        return;
    sink += coffer_value_line(v) + coffer_value_column(v);
    sink += strlen(coffer_type_name(coffer_value_type(v)));
    switch (coffer_value_type(v)) {
    case COFFER_TYPE_STRING:
        if (coffer_value_string(v, &s, &len) == 0 && len)
            sink += (unsigned char)s[0] + (unsigned char)s[len - 1] +
                    (unsigned char)s[len]; /* the terminator is readable */
        break;
    case COFFER_TYPE_INTEGER:
        if (coffer_value_int(v, &i) == 0)
            sink += (unsigned long)i;
        break;
    case COFFER_TYPE_FLOAT:
        if (coffer_value_double(v, &d) == 0)
            sink += d == d;
        break;
    case COFFER_TYPE_BOOL:
        if (coffer_value_bool(v, &b) == 0)
            sink += b;
        break;
    case COFFER_TYPE_DATETIME:
    case COFFER_TYPE_DATETIME_LOCAL:
    case COFFER_TYPE_DATE_LOCAL:
    case COFFER_TYPE_TIME_LOCAL:
        if (coffer_value_datetime(v, &dt) == 0)
            sink += dt.year + dt.month + dt.nanosecond;
        break;
    case COFFER_TYPE_ARRAY:
        for (size_t k = 0; k < coffer_array_count(v); k++)
            walk(coffer_array_at(v, k), depth + 1);
        break;
    case COFFER_TYPE_TABLE:
        for (size_t k = 0; k < coffer_table_count(v); k++) {
            const char *key;
            size_t keylen;
            const coffer_value *m = coffer_table_at(v, k, &key, &keylen);
            sink += keylen + (unsigned char)key[keylen];
            /* every member can be found again by its key */
            if (coffer_table_get(v, key, keylen) != m)
                __builtin_trap();
            walk(m, depth + 1);
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    coffer_parse_options opt = {0};
    opt.max_input = 1 << 20;
    opt.max_depth = 64;
    opt.max_key = 256;
    coffer_doc *doc = NULL;
    coffer_error err;
    int rc = coffer_toml_parse((const char *)data, size, &opt, &doc, &err);
    if (rc) {
        if (doc || err.code != rc || !err.message[0])
            __builtin_trap();
        return 0;
    }
    const coffer_value *root = coffer_doc_root(doc);
    walk(root, 0);
    static const char *paths[] = {
        "a", "a.b", "a.b.c", "a[0]", "a[0].b", "\"a\".'b'", "servers[1].host",
        "x . y [2] [0]", "a..b", "[0]", "\"\\u0061\"", "a[99999]",
    };
    const coffer_value *out;
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++)
        (void)coffer_value_seek(root, paths[k], &out, &err);
    /* the input itself (truncated) as a path */
    char path[64];
    size_t n = size < sizeof path - 1 ? size : sizeof path - 1;
    memcpy(path, data, n);
    path[n] = '\0';
    (void)coffer_value_seek(root, path, &out, &err);
    coffer_doc_free(doc);
    return 0;
}
