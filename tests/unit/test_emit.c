/* test_emit.c - value formatting: Python-style floats, TEXT, TOML, JSON.
 *
 * Trees are built by hand here so that the printer is tested on its own;
 * fuzz/fuzz_roundtrip.c checks parse -> print -> parse on real documents.
 * The float table was generated with Python 3 (repr of each double). */
#include "testutil.h"

#include <math.h>

/* ------------------------------------------------------------ builders */

static coffer_arena arena;

static int setup(void **state)
{
    (void)state;
    coffer_arena_init(&arena, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    coffer_arena_release(&arena);
    return 0;
}

static coffer_value S(const char *s, size_t n)
{
    coffer_value v = { 0 };
    v.type = COFFER_TYPE_STRING;
    v.u.s = s;
    v.len = (uint32_t)n;
    return v;
}
#define STR(lit) S(lit, sizeof lit - 1)

static coffer_value I(int64_t i)
{
    coffer_value v = { 0 };
    v.type = COFFER_TYPE_INTEGER;
    v.u.i = i;
    return v;
}

static coffer_value F(double f)
{
    coffer_value v = { 0 };
    v.type = COFFER_TYPE_FLOAT;
    v.u.f = f;
    return v;
}

static coffer_value B(bool b)
{
    coffer_value v = { 0 };
    v.type = COFFER_TYPE_BOOL;
    v.u.b = b;
    return v;
}

static coffer_value DT(coffer_type t, int y, int mo, int d, int h, int mi,
                       int s, uint32_t ns, int prec, int off, int z)
{
    coffer_value v = { 0 };
    coffer_datetime *dt = coffer_arena_alloc(&arena, sizeof *dt);
    assert_non_null(dt);
    memset(dt, 0, sizeof *dt);
    dt->year = (int16_t)y;
    dt->month = (uint8_t)mo;
    dt->day = (uint8_t)d;
    dt->hour = (uint8_t)h;
    dt->minute = (uint8_t)mi;
    dt->second = (uint8_t)s;
    dt->nanosecond = ns;
    dt->precision = (uint8_t)prec;
    dt->offset_minutes = (int16_t)off;
    dt->offset_is_z = (uint8_t)z;
    v.type = (uint8_t)t;
    v.u.dt = dt;
    return v;
}

static coffer_value container(coffer_type t, uint32_t cap)
{
    coffer_value v = { 0 };
    v.type = (uint8_t)t;
    v.u.c = coffer_arena_alloc(&arena, sizeof *v.u.c);
    assert_non_null(v.u.c);
    memset(v.u.c, 0, sizeof *v.u.c);
    v.u.c->items = coffer_arena_alloc(&arena, (cap ? cap : 1) * sizeof(coffer_value));
    assert_non_null(v.u.c->items);
    v.u.c->cap = cap;
    return v;
}
static coffer_value TBL(uint32_t cap) { return container(COFFER_TYPE_TABLE, cap); }
static coffer_value ARR(uint32_t cap) { return container(COFFER_TYPE_ARRAY, cap); }

/* Adds m to table t under key (or to array t when key is NULL); returns a
 * pointer to the stored node, for adding to nested containers. */
static coffer_value *add(coffer_value *t, const char *key, coffer_value m)
{
    coffer_container *c = t->u.c;
    assert_true(c->count < c->cap);
    coffer_value *slot = &c->items[c->count++];
    *slot = m;
    slot->key = key;
    slot->keylen = key ? (uint16_t)strlen(key) : 0;
    return slot;
}

/* Formats v and checks the whole output and the returned length. */
static void check_bytes(const coffer_value *v, coffer_format fmt,
                        const char *want, size_t wantlen)
{
    char buf[4096];
    memset(buf, 'X', sizeof buf);
    long r = coffer_value_format(v, fmt, buf, sizeof buf);
    if (r != (long)wantlen || memcmp(buf, want, wantlen) != 0) {
        print_error("format %d:\n got: [%.*s] (%ld)\nwant: [%.*s] (%zu)\n", (int)fmt,
                    r > 0 ? (int)r : 0, buf, r, (int)wantlen, want, wantlen);
        fail();
    }
    assert_int_equal(buf[wantlen], '\0');
}
#define check(v, fmt, lit) check_bytes(v, fmt, lit, sizeof lit - 1)

static void check_all(coffer_value v, const char *text, const char *toml,
                      const char *json)
{
    check_bytes(&v, COFFER_FORMAT_TEXT, text, strlen(text));
    check_bytes(&v, COFFER_FORMAT_TOML, toml, strlen(toml));
    check_bytes(&v, COFFER_FORMAT_JSON, json, strlen(json));
}

/* -------------------------------------------------------------- doubles */

static const struct { uint64_t bits; const char *want; } dbl_cases[] = {
    { 0x0000000000000000ULL, "0.0" }, /* 0.0 */
    { 0x8000000000000000ULL, "-0.0" }, /* -0.0 */
    { 0x3ff0000000000000ULL, "1.0" }, /* 1.0 */
    { 0xbff0000000000000ULL, "-1.0" }, /* -1.0 */
    { 0x3fb999999999999aULL, "0.1" }, /* 0.1 */
    { 0x3fc999999999999aULL, "0.2" }, /* 0.2 */
    { 0x3fd3333333333334ULL, "0.30000000000000004" }, /* 0.30000000000000004 */
    { 0x3fd5555555555555ULL, "0.3333333333333333" }, /* 0.3333333333333333 */
    { 0x3fe5555555555555ULL, "0.6666666666666666" }, /* 0.6666666666666666 */
    { 0x4059000000000000ULL, "100.0" }, /* 100.0 */
    { 0x430c6bf526340000ULL, "1000000000000000.0" }, /* 1000000000000000.0 */
    { 0x4341c37937e08000ULL, "1e+16" }, /* 1e+16 */
    { 0x4376345785d8a000ULL, "1e+17" }, /* 1e+17 */
    { 0x4415af1d78b58c40ULL, "1e+20" }, /* 1e+20 */
    { 0x444b1ae4d6e2ef50ULL, "1e+21" }, /* 1e+21 */
    { 0x4480f0cf064dd592ULL, "1e+22" }, /* 1e+22 */
    { 0x44b52d02c7e14af6ULL, "1e+23" }, /* 1e+23 */
    { 0x4341c37937e07fffULL, "9999999999999998.0" }, /* 9999999999999998.0 */
    { 0x430c6bf52633ffffULL, "999999999999999.9" }, /* 999999999999999.9 */
    { 0x43118b54f22aeb00ULL, "1234567890123456.0" }, /* 1234567890123456.0 */
    { 0x4345ee2a2eb5a5c4ULL, "1.2345678901234568e+16" }, /* 1.2345678901234568e+16 */
    { 0x4340000000000000ULL, "9007199254740992.0" }, /* 9007199254740992.0 */
    { 0x4340000000000001ULL, "9007199254740994.0" }, /* 9007199254740994.0 */
    { 0xc340000000000000ULL, "-9007199254740992.0" }, /* -9007199254740992.0 */
    { 0x43e0000000000000ULL, "9.223372036854776e+18" }, /* 9.223372036854776e+18 */
    { 0x43f0000000000000ULL, "1.8446744073709552e+19" }, /* 1.8446744073709552e+19 */
    { 0x3f1a36e2eb1c432dULL, "0.0001" }, /* 0.0001 */
    { 0x3ee4f8b588e368f1ULL, "1e-05" }, /* 1e-05 */
    { 0x3ee9e0fcaf9380fcULL, "1.234e-05" }, /* 1.234e-05 */
    { 0x3f201f31f46ed246ULL, "0.000123" }, /* 0.000123 */
    { 0x3e8421f5f40d8376ULL, "1.5e-07" }, /* 1.5e-07 */
    { 0x0000000000000001ULL, "5e-324" }, /* 5e-324 */
    { 0x8000000000000001ULL, "-5e-324" }, /* -5e-324 */
    { 0x0000000000000002ULL, "1e-323" }, /* 1e-323 */
    { 0x0010000000000000ULL, "2.2250738585072014e-308" }, /* 2.2250738585072014e-308 */
    { 0x000fffffffffffffULL, "2.225073858507201e-308" }, /* 2.225073858507201e-308 */
    { 0x7fefffffffffffffULL, "1.7976931348623157e+308" }, /* 1.7976931348623157e+308 */
    { 0xffefffffffffffffULL, "-1.7976931348623157e+308" }, /* -1.7976931348623157e+308 */
    { 0x400921fb54442d18ULL, "3.141592653589793" }, /* 3.141592653589793 */
    { 0x4005bf0a8b145769ULL, "2.718281828459045" }, /* 2.718281828459045 */
    { 0x40fe240c9fbe76c9ULL, "123456.789" }, /* 123456.789 */
    { 0xc0fe240c9fbe76c9ULL, "-123456.789" }, /* -123456.789 */
    { 0x40b5380000000000ULL, "5432.0" }, /* 5432.0 */
    { 0x3fe0000000000000ULL, "0.5" }, /* 0.5 */
    { 0x3ff8000000000000ULL, "1.5" }, /* 1.5 */
    { 0x4004000000000000ULL, "2.5" }, /* 2.5 */
    { 0x54b249ad2594c37dULL, "1e+100" }, /* 1e+100 */
    { 0x2b2bff2ee48e0530ULL, "1e-100" }, /* 1e-100 */
    { 0x01aa749ec2ff5c8aULL, "1.2345e-300" }, /* 1.2345e-300 */
    { 0x4011666666666666ULL, "4.35" }, /* 4.35 */
    { 0x3fd3333333333333ULL, "0.3" }, /* 0.3 */
    { 0x3e7ad7f29abcaf48ULL, "1e-07" }, /* 1e-07 */
    { 0x3c36b082c2148b8eULL, "1.23e-18" }, /* 1.23e-18 */
    { 0x44dfe185ca57c517ULL, "6.02214076e+23" }, /* 6.02214076e+23 */
    { 0x7ff0000000000000ULL, "inf" }, /* inf */
    { 0xfff0000000000000ULL, "-inf" }, /* -inf */
    { 0x7ff8000000000000ULL, "nan" }, /* nan */
    { 0xfff8000000000000ULL, "nan" }, /* nan */
    { 0x0000000000000003ULL, "1.5e-323" }, /* 1.5e-323 */
    { 0x7fe0000000000000ULL, "8.98846567431158e+307" }, /* 8.98846567431158e+307 */
    { 0x3eff75104d551d6aULL, "3.0000000000000004e-05" }, /* 3.0000000000000004e-05 */
    { 0x41b1de784a000000ULL, "299792458.0" }, /* 299792458.0 */
    { 0x7e6ddd4baa009303ULL, "1e+301" }, /* 1e+301 */
};

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

static void double_table_matches_python(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof dbl_cases / sizeof dbl_cases[0]; i++) {
        char buf[40];
        double d = from_bits(dbl_cases[i].bits);
        int n = coffer_format_double(d, buf, sizeof buf);
        if (strcmp(buf, dbl_cases[i].want) != 0) {
            print_error("bits %016llx: got '%s', want '%s'\n",
                        (unsigned long long)dbl_cases[i].bits, buf,
                        dbl_cases[i].want);
            fail();
        }
        assert_int_equal(n, strlen(dbl_cases[i].want));
        /* the internal name is the same function */
        char buf2[40];
        assert_int_equal(coffer_fmt_double(d, buf2, sizeof buf2), n);
        assert_string_equal(buf, buf2);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Every output reads back to the same double, is no longer than %.17g,
 * and is laid out as Python does. */
static void double_roundtrip_property(void **state)
{
    (void)state;
    const char *prefix = getenv("RUN_PREFIX");
    long count = prefix && strstr(prefix, "valgrind") ? 20000 : 300000;
    for (long i = 0; i < count; i++) {
        uint64_t b = rng();
        if (i % 4 == 1) /* also plenty of ordinary magnitudes */
            b = (b & 0x800FFFFFFFFFFFFFULL) | ((900 + b % 250) << 52);
        else if (i % 16 == 2) /* and subnormals */
            b &= 0x800FFFFFFFFFFFFFULL;
        double d = from_bits(b);
        char buf[40];
        int n = coffer_format_double(d, buf, sizeof buf);
        assert_true(n > 0 && n < 32);
        assert_int_equal((size_t)n, strlen(buf));
        if (isnan(d)) {
            assert_string_equal(buf, "nan");
            continue;
        }
        char *end;
        double back = strtod(buf, &end);
        assert_int_equal(*end, '\0');
        if (memcmp(&back, &d, sizeof d) != 0) {
            print_error("%016llx -> '%s' does not read back\n",
                        (unsigned long long)b, buf);
            fail();
        }
        char g17[40];
        snprintf(g17, sizeof g17, "%.17g", d);
        /* layout: either positional with a point, or d[.ddd]e[+-]XX */
        const char *e = strchr(buf, 'e');
        if (e) {
            assert_true(e[1] == '+' || e[1] == '-');
            assert_true(strlen(e + 2) >= 2);
            assert_null(strchr(buf, '.') && strchr(buf, '.') > e ? e : NULL);
        } else if (!isinf(d)) {
            assert_non_null(strchr(buf, '.'));
        }
    }
}

static void double_truncation(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'X', sizeof buf);
    assert_int_equal(coffer_format_double(0.30000000000000004, buf, 5), 19);
    assert_string_equal(buf, "0.30");
    assert_int_equal(coffer_format_double(1e+20, NULL, 0), 5);
    assert_int_equal(coffer_format_double(-0.0, buf, 1), 4);
    assert_string_equal(buf, "");
}

/* -------------------------------------------------------------- scalars */

static void scalar_strings(void **state)
{
    (void)state;
    check_all(STR("hello"), "hello", "\"hello\"", "\"hello\"");
    check_all(STR(""), "", "\"\"", "\"\"");
    /* every escape; DEL and other controls as \uXXXX */
    check_all(STR("q\"b\\s\bt\tn\nf\fr\r\x01\x1f\x7f"),
              "q\"b\\s\bt\tn\nf\fr\r\x01\x1f\x7f",
              "\"q\\\"b\\\\s\\bt\\tn\\nf\\fr\\r\\u0001\\u001F\\u007F\"",
              "\"q\\\"b\\\\s\\bt\\tn\\nf\\fr\\r\\u0001\\u001f\\u007f\"");
    /* valid UTF-8 passes through */
    check_all(STR("p\xc3\xa4ss \xe2\x82\xac \xf0\x9f\x94\x91"),
              "p\xc3\xa4ss \xe2\x82\xac \xf0\x9f\x94\x91",
              "\"p\xc3\xa4ss \xe2\x82\xac \xf0\x9f\x94\x91\"",
              "\"p\xc3\xa4ss \xe2\x82\xac \xf0\x9f\x94\x91\"");
    /* invalid UTF-8 (stray byte, overlong, surrogate, truncated) */
    coffer_value bad = STR("a\xff" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82");
    check(&bad, COFFER_FORMAT_TOML,
          "\"a\\uFFFDb\\uFFFD\\uFFFDc\\uFFFD\\uFFFD\\uFFFDd\\uFFFD\\uFFFD\"");
    check(&bad, COFFER_FORMAT_JSON,
          "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffd\\ufffdd\\ufffd\\ufffd\"");
    check_bytes(&bad, COFFER_FORMAT_TEXT, "a\xff" "b\xc0\xaf" "c\xed\xa0\x80" "d\xe2\x82", 12);
}

/* One UTF-8 validator (coffer_utf8_seq in src/internal.h): every malformed
 * class is rejected by the parser, by the file/dir/dotenv readers'
 * coffer_utf8_valid and by the emitter (which escapes it as U+FFFD), and
 * every boundary code point is accepted by all three. */
static void utf8_one_validator_everywhere(void **state)
{
    (void)state;
    static const struct { const char *b; size_t n; } bad[] = {
        { "\xc0\xaf", 2 }, { "\xc1\xbf", 2 },                 /* overlong 2 */
        { "\xe0\x80\xaf", 3 }, { "\xe0\x9f\xbf", 3 },         /* overlong 3 */
        { "\xf0\x80\x80\xaf", 4 }, { "\xf0\x8f\xbf\xbf", 4 }, /* overlong 4 */
        { "\xed\xa0\x80", 3 }, { "\xed\xbf\xbf", 3 },         /* surrogates */
        { "\xf4\x90\x80\x80", 4 }, { "\xf5\x80\x80\x80", 4 }, /* > U+10FFFF */
        { "\xff", 1 }, { "\xfe", 1 },
        { "\xc3", 1 }, { "\xe2\x82", 2 }, { "\xf0\x9f\x94", 3 }, /* truncated */
        { "\xe2\x28\xa1", 3 }, { "\xf0\x9f\x28\x91", 4 },
        { "\x80", 1 }, { "\xbf", 1 }, { "a\x80", 2 },         /* stray */
    };
    static const struct { const char *b; size_t n; } good[] = {
        { "\xc2\x80", 2 }, { "\xdf\xbf", 2 }, { "\xe0\xa0\x80", 3 },
        { "\xed\x9f\xbf", 3 }, { "\xee\x80\x80", 3 }, { "\xef\xbf\xbf", 3 },
        { "\xf0\x90\x80\x80", 4 }, { "\xf4\x8f\xbf\xbf", 4 },
    };
    char doc[64], out[256];
    for (size_t t = 0; t < 2; t++) {
        size_t count = t ? sizeof good / sizeof *good : sizeof bad / sizeof *bad;
        for (size_t i = 0; i < count; i++) {
            const char *b = t ? good[i].b : bad[i].b;
            size_t n = t ? good[i].n : bad[i].n;
            bool ok = t == 1;
            /* the readers (file, dir, flat, dotenv) */
            assert_int_equal(coffer_utf8_valid(b, n), ok);
            /* the parser, at the end of the text and before more text */
            for (int more = 0; more < 2; more++) {
                int dl = snprintf(doc, sizeof doc, "s = \"%.*s%s\"", (int)n, b,
                                  more ? "zz" : "");
                coffer_doc *d = NULL;
                coffer_error err;
                memset(&err, 0, sizeof err);
                int rc = coffer_toml_parse(doc, (size_t)dl, NULL, &d, &err);
                if (ok) {
                    assert_int_equal(rc, 0);
                    coffer_doc_free(d);
                } else {
                    assert_int_not_equal(rc, 0);
                    assert_non_null(strstr(err.message, "utf-8"));
                }
            }
            /* the emitter: raw bytes only for valid text */
            coffer_value v = S(b, n);
            long r = coffer_value_format(&v, COFFER_FORMAT_TOML, out, sizeof out);
            assert_true(r > 0);
            if (ok) {
                assert_int_equal(r, (long)n + 2);
                assert_memory_equal(out + 1, b, n);
            } else {
                assert_non_null(strstr(out, "\\uFFFD"));
                for (long j = 0; j < r; j++)
                    assert_true((unsigned char)out[j] < 0x80);
            }
        }
    }
}

static void scalar_string_with_nul(void **state)
{
    (void)state;
    static const char s[] = "ab\0cd";
    coffer_value v = S(s, 5);
    check_bytes(&v, COFFER_FORMAT_TEXT, "ab\0cd", 5);
    check(&v, COFFER_FORMAT_TOML, "\"ab\\u0000cd\"");
    check(&v, COFFER_FORMAT_JSON, "\"ab\\u0000cd\"");
}

static void scalar_numbers_and_bools(void **state)
{
    (void)state;
    check_all(I(5432), "5432", "5432", "5432");
    check_all(I(-17), "-17", "-17", "-17");
    check_all(I(INT64_MIN), "-9223372036854775808", "-9223372036854775808",
              "-9223372036854775808");
    check_all(I(INT64_MAX), "9223372036854775807", "9223372036854775807",
              "9223372036854775807");
    check_all(F(0.1), "0.1", "0.1", "0.1");
    check_all(F(1.0), "1.0", "1.0", "1.0");
    check_all(F(-0.0), "-0.0", "-0.0", "-0.0");
    check_all(F(1e20), "1e+20", "1e+20", "1e+20");
    check_all(F(1.5e-7), "1.5e-07", "1.5e-07", "1.5e-07");
    /* JSON has no inf/nan: they become strings */
    check_all(F(INFINITY), "inf", "inf", "\"inf\"");
    check_all(F(-INFINITY), "-inf", "-inf", "\"-inf\"");
    check_all(F(NAN), "nan", "nan", "\"nan\"");
    check_all(F(-NAN), "nan", "nan", "\"nan\"");
    check_all(B(true), "true", "true", "true");
    check_all(B(false), "false", "false", "false");
}

static void scalar_datetimes(void **state)
{
    (void)state;
    check_all(DT(COFFER_TYPE_DATETIME, 1979, 5, 27, 7, 32, 0, 0, 0, 0, 1),
              "1979-05-27T07:32:00Z", "1979-05-27T07:32:00Z",
              "\"1979-05-27T07:32:00Z\"");
    check_all(DT(COFFER_TYPE_DATETIME, 1979, 5, 27, 0, 32, 0, 999999000, 6, -420, 0),
              "1979-05-27T00:32:00.999999-07:00",
              "1979-05-27T00:32:00.999999-07:00",
              "\"1979-05-27T00:32:00.999999-07:00\"");
    check_all(DT(COFFER_TYPE_DATETIME, 2024, 2, 29, 23, 59, 60, 0, 0, 330, 0),
              "2024-02-29T23:59:60+05:30", "2024-02-29T23:59:60+05:30",
              "\"2024-02-29T23:59:60+05:30\"");
    /* +00:00 is kept apart from Z */
    check_all(DT(COFFER_TYPE_DATETIME, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0),
              "0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+00:00",
              "\"0001-01-01T00:00:00+00:00\"");
    /* the written precision is kept, also trailing zeros */
    check_all(DT(COFFER_TYPE_DATETIME_LOCAL, 1979, 5, 27, 7, 32, 0, 500000000, 3, 0, 0),
              "1979-05-27T07:32:00.500", "1979-05-27T07:32:00.500",
              "\"1979-05-27T07:32:00.500\"");
    /* digits past nanoseconds were truncated: written back as zeros */
    check_all(DT(COFFER_TYPE_DATETIME_LOCAL, 1979, 5, 27, 7, 32, 0, 123456789, 12, 0, 0),
              "1979-05-27T07:32:00.123456789000", "1979-05-27T07:32:00.123456789000",
              "\"1979-05-27T07:32:00.123456789000\"");
    check_all(DT(COFFER_TYPE_DATE_LOCAL, 1979, 5, 27, 0, 0, 0, 0, 0, 0, 0),
              "1979-05-27", "1979-05-27", "\"1979-05-27\"");
    check_all(DT(COFFER_TYPE_TIME_LOCAL, 0, 0, 0, 0, 32, 0, 999999000, 6, 0, 0),
              "00:32:00.999999", "00:32:00.999999", "\"00:32:00.999999\"");
    check_all(DT(COFFER_TYPE_TIME_LOCAL, 0, 0, 0, 7, 32, 5, 0, 0, 0, 0),
              "07:32:05", "07:32:05", "\"07:32:05\"");
}

/* ----------------------------------------------------------- containers */

static void arrays_inline(void **state)
{
    (void)state;
    coffer_value a = ARR(6);
    add(&a, NULL, I(1));
    add(&a, NULL, STR("a\"b"));
    coffer_value *inner = add(&a, NULL, ARR(2));
    add(inner, NULL, B(true));
    add(inner, NULL, F(1.5));
    coffer_value *it = add(&a, NULL, TBL(3));
    add(it, "x", I(1));
    add(it, "a b", STR("c"));
    add(it, "", ARR(0));
    add(&a, NULL, TBL(0));
    add(&a, NULL, DT(COFFER_TYPE_DATE_LOCAL, 2020, 1, 2, 0, 0, 0, 0, 0, 0, 0));
    const char *json = "[1, \"a\\\"b\", [true, 1.5], {\"x\": 1, \"a b\": \"c\", \"\": []}, {}, \"2020-01-02\"]";
    check_all(a, json,
              "[1, \"a\\\"b\", [true, 1.5], { x = 1, \"a b\" = \"c\", \"\" = [] }, {}, 2020-01-02]",
              json);
    check_all(ARR(0), "[]", "[]", "[]");
}

static void table_as_toml_document(void **state)
{
    (void)state;
    coffer_value root = TBL(8);
    add(&root, "title", STR("TOML \"Example\""));
    add(&root, "port", I(5432));
    add(&root, "ratio", F(0.5));
    add(&root, "on", B(true));
    add(&root, "key.with.dots", STR("x"));
    add(&root, "ports", ARR(0));
    coffer_value *db = add(&root, "db_credentials", TBL(4));
    add(db, "username", STR("admin"));
    add(db, "password", STR("p\ns"));
    coffer_value *rep = add(db, "replica", TBL(1));
    add(rep, "host", STR("10.0.0.2"));
    coffer_value *srv = add(&root, "servers", ARR(2));
    coffer_value *s0 = add(srv, NULL, TBL(3));
    add(s0, "name", STR("alpha"));
    coffer_value *m0 = add(s0, "meta", TBL(1));
    add(m0, "rack", I(1));
    coffer_value *s1 = add(srv, NULL, TBL(1));
    add(s1, "name", STR("beta"));

    check(&root, COFFER_FORMAT_TOML,
          "title = \"TOML \\\"Example\\\"\"\n"
          "port = 5432\n"
          "ratio = 0.5\n"
          "on = true\n"
          "\"key.with.dots\" = \"x\"\n"
          "ports = []\n"
          "\n[db_credentials]\n"
          "username = \"admin\"\n"
          "password = \"p\\ns\"\n"
          "\n[db_credentials.replica]\n"
          "host = \"10.0.0.2\"\n"
          "\n[[servers]]\n"
          "name = \"alpha\"\n"
          "\n[servers.meta]\n"
          "rack = 1\n"
          "\n[[servers]]\n"
          "name = \"beta\"\n");
    const char *json =
          "{\"title\": \"TOML \\\"Example\\\"\", \"port\": 5432, \"ratio\": 0.5, "
          "\"on\": true, \"key.with.dots\": \"x\", \"ports\": [], "
          "\"db_credentials\": {\"username\": \"admin\", \"password\": \"p\\ns\", "
          "\"replica\": {\"host\": \"10.0.0.2\"}}, "
          "\"servers\": [{\"name\": \"alpha\", \"meta\": {\"rack\": 1}}, {\"name\": \"beta\"}]}";
    check_bytes(&root, COFFER_FORMAT_JSON, json, strlen(json));
    check_bytes(&root, COFFER_FORMAT_TEXT, json, strlen(json));

    /* a sub-table alone is a document of its own */
    check(db, COFFER_FORMAT_TOML,
          "username = \"admin\"\n"
          "password = \"p\\ns\"\n"
          "\n[replica]\n"
          "host = \"10.0.0.2\"\n");
    check(srv, COFFER_FORMAT_TOML,
          "[{ name = \"alpha\", meta.rack = 1 }, { name = \"beta\" }]");
}

static void table_key_order_kept(void **state)
{
    (void)state;
    /* a table before a plain member is written as dotted keys, an array of
     * tables there inline, so that reading the output back gives the same
     * key order */
    coffer_value root = TBL(4);
    coffer_value *t = add(&root, "t", TBL(3));
    add(t, "y", I(2));
    add(t, "n", TBL(0));
    coffer_value *deep = add(t, "d e", TBL(1));
    add(deep, "z", STR("q"));
    coffer_value *aot = add(&root, "list", ARR(1));
    coffer_value *e0 = add(aot, NULL, TBL(1));
    add(e0, "k", STR("v"));
    add(&root, "x", I(1));
    coffer_value *u = add(&root, "u v", TBL(2));
    coffer_value *w = add(u, "w", TBL(1));
    add(w, "z", B(false));
    add(u, "empty", TBL(0));
    check(&root, COFFER_FORMAT_TOML,
          "t.y = 2\n"
          "t.n = {}\n"
          "t.\"d e\".z = \"q\"\n"
          "list = [{ k = \"v\" }]\n"
          "x = 1\n"
          "\n[\"u v\".w]\n"
          "z = false\n"
          "\n[\"u v\".empty]\n");
}

static void nested_arrays_of_tables(void **state)
{
    (void)state;
    /* [[fruits]] with [fruits.physical] and [[fruits.varieties]] */
    coffer_value root = TBL(1);
    coffer_value *fr = add(&root, "fruits", ARR(2));
    coffer_value *apple = add(fr, NULL, TBL(3));
    add(apple, "name", STR("apple"));
    coffer_value *ph = add(apple, "physical", TBL(1));
    add(ph, "color", STR("red"));
    coffer_value *va = add(apple, "varieties", ARR(2));
    coffer_value *v0 = add(va, NULL, TBL(1));
    add(v0, "name", STR("red delicious"));
    coffer_value *v1 = add(va, NULL, TBL(1));
    add(v1, "name", STR("granny smith"));
    coffer_value *ban = add(fr, NULL, TBL(2));
    add(ban, "name", STR("banana"));
    coffer_value *bv = add(ban, "varieties", ARR(1));
    coffer_value *b0 = add(bv, NULL, TBL(1));
    add(b0, "name", STR("plantain"));
    check(&root, COFFER_FORMAT_TOML,
          "[[fruits]]\n"
          "name = \"apple\"\n"
          "\n[fruits.physical]\n"
          "color = \"red\"\n"
          "\n[[fruits.varieties]]\n"
          "name = \"red delicious\"\n"
          "\n[[fruits.varieties]]\n"
          "name = \"granny smith\"\n"
          "\n[[fruits]]\n"
          "name = \"banana\"\n"
          "\n[[fruits.varieties]]\n"
          "name = \"plantain\"\n");
    check(&root, COFFER_FORMAT_JSON,
          "{\"fruits\": [{\"name\": \"apple\", \"physical\": {\"color\": \"red\"}, "
          "\"varieties\": [{\"name\": \"red delicious\"}, {\"name\": \"granny smith\"}]}, "
          "{\"name\": \"banana\", \"varieties\": [{\"name\": \"plantain\"}]}]}");
}

static void quoted_keys(void **state)
{
    (void)state;
    static const char nulkey[] = "a\0b";
    coffer_value root = TBL(5);
    add(&root, "bare-key_1", I(1));
    add(&root, "", I(2));
    add(&root, "tab\there", I(3));
    add(&root, "\xc3\xa9t\xc3\xa9", I(4));
    coffer_value *k = add(&root, "x", I(5));
    k->key = nulkey;
    k->keylen = 3;
    check(&root, COFFER_FORMAT_TOML,
          "bare-key_1 = 1\n"
          "\"\" = 2\n"
          "\"tab\\there\" = 3\n"
          "\"\xc3\xa9t\xc3\xa9\" = 4\n"
          "\"a\\u0000b\" = 5\n");
    check(&root, COFFER_FORMAT_JSON,
          "{\"bare-key_1\": 1, \"\": 2, \"tab\\there\": 3, \"\xc3\xa9t\xc3\xa9\": 4, \"a\\u0000b\": 5}");
    /* dotted header with quoted parts */
    coffer_value r2 = TBL(1);
    coffer_value *a = add(&r2, "a.b", TBL(1));
    coffer_value *c = add(a, "c d", TBL(1));
    add(c, "k", STR("v"));
    check(&r2, COFFER_FORMAT_TOML, "[\"a.b\".\"c d\"]\nk = \"v\"\n");
}

static void empty_tables(void **state)
{
    (void)state;
    coffer_value root = TBL(0);
    check_all(root, "{}", "", "{}");
    coffer_value r = TBL(1);
    add(&r, "e", TBL(0));
    check(&r, COFFER_FORMAT_TOML, "[e]\n");
    check(&r, COFFER_FORMAT_JSON, "{\"e\": {}}");
}

/* --------------------------------------------------- snprintf contract */

static void snprintf_contract(void **state)
{
    (void)state;
    coffer_value root = TBL(2);
    add(&root, "a", I(1));
    add(&root, "b", STR("xyz"));
    const char *full = "a = 1\nb = \"xyz\"\n";
    long need = (long)strlen(full);
    /* size query */
    assert_int_equal(coffer_value_format(&root, COFFER_FORMAT_TOML, NULL, 0), need);
    /* truncation: n - 1 bytes and a NUL, the full length returned */
    char buf[64];
    for (size_t n = 1; n <= (size_t)need + 1; n++) {
        memset(buf, 'X', sizeof buf);
        assert_int_equal(coffer_value_format(&root, COFFER_FORMAT_TOML, buf, n), need);
        assert_int_equal(strlen(buf), n - 1);
        assert_memory_equal(buf, full, n - 1);
        assert_int_equal(buf[n], 'X'); /* nothing past n */
    }
    /* exact fit */
    assert_int_equal(coffer_value_format(&root, COFFER_FORMAT_TOML, buf, (size_t)need + 1), need);
    assert_string_equal(buf, full);
    /* strings with NUL: the returned length counts every byte */
    static const char s[] = "ab\0cd";
    coffer_value v = S(s, 5);
    assert_int_equal(coffer_value_format(&v, COFFER_FORMAT_TEXT, buf, 3), 5);
    assert_string_equal(buf, "ab");
}

static void bad_arguments(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(coffer_value_format(NULL, COFFER_FORMAT_TEXT, buf, sizeof buf),
                     COFFER_EINVAL);
    coffer_value v = I(1);
    assert_int_equal(coffer_value_format(&v, (coffer_format)42, buf, sizeof buf),
                     COFFER_EINVAL);
    assert_int_equal(coffer_value_format(&v, COFFER_FORMAT_TEXT, NULL, 5),
                     COFFER_EINVAL);
    coffer_value none = { 0 };
    memset(buf, 'X', sizeof buf);
    assert_int_equal(coffer_value_format(&none, COFFER_FORMAT_JSON, buf, sizeof buf),
                     COFFER_EINVAL);
    assert_string_equal(buf, "");
}

static void deep_nesting_is_an_error_not_a_crash(void **state)
{
    (void)state;
    /* 100000 nested arrays: bounded, COFFER_ELIMIT */
    coffer_value top = ARR(1);
    coffer_value *cur = &top;
    for (int i = 0; i < 100000; i++)
        cur = add(cur, NULL, ARR(1));
    char buf[64];
    for (int f = COFFER_FORMAT_TEXT; f <= COFFER_FORMAT_JSON; f++)
        assert_int_equal(coffer_value_format(&top, (coffer_format)f, buf, sizeof buf),
                         COFFER_ELIMIT);
    /* 100000 nested tables (as from one long dotted header) */
    coffer_value root = TBL(1);
    cur = &root;
    for (int i = 0; i < 100000; i++)
        cur = add(cur, "k", TBL(1));
    for (int f = COFFER_FORMAT_TEXT; f <= COFFER_FORMAT_JSON; f++)
        assert_int_equal(coffer_value_format(&root, (coffer_format)f, buf, sizeof buf),
                         COFFER_ELIMIT);
    /* 500 levels (the parser's default limit) work */
    coffer_value ok = ARR(1);
    cur = &ok;
    for (int i = 0; i < 500; i++)
        cur = add(cur, NULL, ARR(1));
    assert_int_equal(coffer_value_format(&ok, COFFER_FORMAT_JSON, NULL, 0), 1002);
}

/* ------------------------------------------------- with the real parser */

static const char rich_doc[] =
    "# a secrets file\n"
    "title = \"coffer\"\n"
    "a.dotted.key = 1\n"
    "pi = 3.14159\n"
    "big = 1e300\n"
    "neg_inf = -inf\n"
    "nan = nan\n"
    "hex = 0xDEAD_beef\n"
    "when = 1979-05-27T07:32:00.500-07:00\n"
    "day = 1979-05-27\n"
    "lt = 07:32:00\n"
    "ldt = 1979-05-27T07:32:00\n"
    "ml = \"\"\"\nline one\nline \"two\"\\ttab\"\"\"\n"
    "lit = 'C:\\path'\n"
    "\"quoted key\" = 'x'\n"
    "nul = \"a\\u0000b\"\n"
    "mixed = [1, \"two\", [3.0], { four = 4 }]\n"
    "[db_credentials]\n"
    "username = \"admin\"\n"
    "password = \"s3cr\\\"et\"\n"
    "[db_credentials.tls]\n"
    "verify = true\n"
    "[[servers]]\n"
    "host = \"10.0.0.1\"\n"
    "[servers.auth]\n"
    "user = \"u1\"\n"
    "[[servers.ports]]\n"
    "n = 1\n"
    "[[servers]]\n"
    "host = \"10.0.0.2\"\n";

static const char rich_toml[] =
    "title = \"coffer\"\n"
    "a.dotted.key = 1\n"
    "pi = 3.14159\n"
    "big = 1e+300\n"
    "neg_inf = -inf\n"
    "nan = nan\n"
    "hex = 3735928559\n"
    "when = 1979-05-27T07:32:00.500-07:00\n"
    "day = 1979-05-27\n"
    "lt = 07:32:00\n"
    "ldt = 1979-05-27T07:32:00\n"
    "ml = \"line one\\nline \\\"two\\\"\\ttab\"\n"
    "lit = \"C:\\\\path\"\n"
    "\"quoted key\" = \"x\"\n"
    "nul = \"a\\u0000b\"\n"
    "mixed = [1, \"two\", [3.0], { four = 4 }]\n"
    "\n[db_credentials]\n"
    "username = \"admin\"\n"
    "password = \"s3cr\\\"et\"\n"
    "\n[db_credentials.tls]\n"
    "verify = true\n"
    "\n[[servers]]\n"
    "host = \"10.0.0.1\"\n"
    "\n[servers.auth]\n"
    "user = \"u1\"\n"
    "\n[[servers.ports]]\n"
    "n = 1\n"
    "\n[[servers]]\n"
    "host = \"10.0.0.2\"\n";

static void parsed_document_roundtrip(void **state)
{
    (void)state;
    coffer_doc *doc, *doc2;
    coffer_error err;
    assert_int_equal(coffer_toml_parse(rich_doc, sizeof rich_doc - 1, NULL, &doc, &err), 0);
    const coffer_value *root = coffer_doc_root(doc);
    check_bytes(root, COFFER_FORMAT_TOML, rich_toml, sizeof rich_toml - 1);
    /* the printed document parses back to the same tree: same JSON */
    assert_int_equal(coffer_toml_parse(rich_toml, sizeof rich_toml - 1, NULL, &doc2, &err), 0);
    static char j1[4096], j2[4096];
    long n1 = coffer_value_format(root, COFFER_FORMAT_JSON, j1, sizeof j1);
    long n2 = coffer_value_format(coffer_doc_root(doc2), COFFER_FORMAT_JSON, j2, sizeof j2);
    assert_true(n1 > 0 && n1 < (long)sizeof j1);
    assert_int_equal(n1, n2);
    assert_string_equal(j1, j2);
    assert_non_null(strstr(j1, "\"a\": {\"dotted\": {\"key\": 1}}"));
    assert_non_null(strstr(j1, "\"neg_inf\": \"-inf\", \"nan\": \"nan\""));
    assert_non_null(strstr(j1, "\"when\": \"1979-05-27T07:32:00.500-07:00\""));
    /* TEXT of single values, looked up by path */
    const coffer_value *v;
    char buf[64];
    assert_int_equal(coffer_value_seek(root, "db_credentials.password", &v, &err), 0);
    assert_int_equal(coffer_value_format(v, COFFER_FORMAT_TEXT, buf, sizeof buf), 7);
    assert_string_equal(buf, "s3cr\"et");
    assert_int_equal(coffer_value_seek(root, "servers[1]", &v, &err), 0);
    assert_int_equal(coffer_value_format(v, COFFER_FORMAT_TEXT, buf, sizeof buf), 20);
    assert_string_equal(buf, "{\"host\": \"10.0.0.2\"}");
    assert_int_equal(coffer_value_format(v, COFFER_FORMAT_TOML, buf, sizeof buf), 18);
    assert_string_equal(buf, "host = \"10.0.0.2\"\n");
    coffer_doc_free(doc2);
    coffer_doc_free(doc);
}

/* A chain of dotted keys near the parser's nesting limit (512), before a
 * plain member: printed as one dotted key, it reads back. (Found by
 * fuzz_roundtrip when the printer nested such tables in braces.) */
static void deep_dotted_chain_reads_back(void **state)
{
    (void)state;
    static char src[8192], out[8192];
    size_t o = 0;
    for (int i = 0; i < 500; i++)
        o += (size_t)snprintf(src + o, sizeof src - o, "k.");
    o += (size_t)snprintf(src + o, sizeof src - o, "leaf = 1\nafter = 2\n");
    coffer_doc *doc, *doc2;
    coffer_error err;
    assert_int_equal(coffer_toml_parse(src, o, NULL, &doc, &err), 0);
    long n = coffer_value_format(coffer_doc_root(doc), COFFER_FORMAT_TOML, out, sizeof out);
    assert_int_equal(n, (long)o);
    assert_string_equal(out, src);
    assert_int_equal(coffer_toml_parse(out, (size_t)n, NULL, &doc2, &err), 0);
    coffer_doc_free(doc2);
    coffer_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(double_table_matches_python),
        cmocka_unit_test(double_roundtrip_property),
        cmocka_unit_test(double_truncation),
        cmocka_unit_test_setup_teardown(scalar_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(utf8_one_validator_everywhere, setup, teardown),
        cmocka_unit_test_setup_teardown(scalar_string_with_nul, setup, teardown),
        cmocka_unit_test_setup_teardown(scalar_numbers_and_bools, setup, teardown),
        cmocka_unit_test_setup_teardown(scalar_datetimes, setup, teardown),
        cmocka_unit_test_setup_teardown(arrays_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(table_as_toml_document, setup, teardown),
        cmocka_unit_test_setup_teardown(table_key_order_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(nested_arrays_of_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(quoted_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(snprintf_contract, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(deep_nesting_is_an_error_not_a_crash, setup, teardown),
        cmocka_unit_test(parsed_document_roundtrip),
        cmocka_unit_test(deep_dotted_chain_reads_back),
    };
    return cmocka_run_group_tests_name("emit", tests, NULL, NULL);
}
