/* test_toml.c - the TOML parser layer by layer: strings, numbers,
 * date-times, keys and tables, error positions and messages, limits, key
 * order, large tables, path seeks, and the no-value-in-errors canary. */
#include "testutil.h"

#include <math.h>
#include <pthread.h>

/* ---------------------------------------------------------------- helpers */

static coffer_doc *parse_ok_n(const char *text, size_t len)
{
    coffer_doc *doc = NULL;
    coffer_error err;
    int rc = coffer_toml_parse(text, len, NULL, &doc, &err);
    if (rc)
        fail_msg("unexpected parse error %d at %u:%u: %s\n--- input:\n%.*s",
                 rc, err.line, err.column, err.message, (int)len, text);
    assert_non_null(doc);
    return doc;
}

static coffer_doc *parse_ok(const char *text)
{
    return parse_ok_n(text, strlen(text));
}

/* Parses text expecting failure with code; returns the error. */
static coffer_error parse_fail_opt(const char *text, size_t len,
                                   const coffer_parse_options *opt, int code)
{
    coffer_doc *doc = (coffer_doc *)1;
    coffer_error err;
    memset(&err, 0, sizeof err);
    int rc = coffer_toml_parse(text, len, opt, &doc, &err);
    if (rc != code)
        fail_msg("expected status %d, got %d (%s) for:\n%.*s", code, rc,
                 err.message, (int)(len > 200 ? 200 : len), text);
    assert_null(doc);
    assert_int_equal(err.code, code);
    assert_true(err.message[0] != '\0');
    return err;
}

static coffer_error parse_fail(const char *text)
{
    return parse_fail_opt(text, strlen(text), NULL, COFFER_ESYNTAX);
}

static void check_error(const char *text, unsigned line, unsigned col,
                         const char *msg)
{
    coffer_error err = parse_fail(text);
    if (line && (err.line != line || err.column != col))
        fail_msg("expected error at %u:%u, got %u:%u (%s) for:\n%s", line, col,
                 err.line, err.column, err.message, text);
    if (msg && !strstr(err.message, msg))
        fail_msg("expected message containing \"%s\", got \"%s\"", msg,
                 err.message);
}

static const coffer_value *get(coffer_doc *doc, const char *path)
{
    const coffer_value *v = NULL;
    coffer_error err;
    int rc = coffer_value_seek(coffer_doc_root(doc), path, &v, &err);
    if (rc)
        fail_msg("seek '%s' failed: %s", path, err.message);
    return v;
}

static const char *get_str(coffer_doc *doc, const char *path, size_t *len)
{
    const char *s = NULL;
    assert_int_equal(coffer_value_string(get(doc, path), &s, len), 0);
    return s;
}

static int64_t get_int(coffer_doc *doc, const char *path)
{
    int64_t i = 0;
    assert_int_equal(coffer_value_int(get(doc, path), &i), 0);
    return i;
}

static double get_double(coffer_doc *doc, const char *path)
{
    double d = 0;
    assert_int_equal(coffer_value_double(get(doc, path), &d), 0);
    return d;
}

static coffer_datetime get_dt(coffer_doc *doc, const char *path,
                              coffer_type type)
{
    coffer_datetime dt;
    const coffer_value *v = get(doc, path);
    assert_int_equal(coffer_value_type(v), type);
    assert_int_equal(coffer_value_datetime(v, &dt), 0);
    return dt;
}

static void check_string(const char *toml, const char *want, size_t wantlen)
{
    coffer_doc *doc = parse_ok(toml);
    size_t len = 0;
    const char *s = get_str(doc, "s", &len);
    if (len != wantlen || memcmp(s, want, len) != 0)
        fail_msg("string mismatch for %s: got %zu bytes '%.*s'", toml, len,
                 (int)len, s);
    assert_int_equal(s[len], '\0');
    coffer_doc_free(doc);
}
#define CHECK_STRING(toml, lit) check_string(toml, lit, sizeof(lit) - 1)

static void check_int(const char *toml, int64_t want)
{
    coffer_doc *doc = parse_ok(toml);
    int64_t got = get_int(doc, "i");
    if (got != want)
        fail_msg("%s: got %lld, want %lld", toml, (long long)got,
                 (long long)want);
    coffer_doc_free(doc);
}

static void check_float(const char *toml, double want)
{
    coffer_doc *doc = parse_ok(toml);
    double got = get_double(doc, "f");
    if (isnan(want) ? !isnan(got) : (got != want || signbit(got) != signbit(want)))
        fail_msg("%s: got %.17g, want %.17g", toml, got, want);
    coffer_doc_free(doc);
}

/* ---------------------------------------------------------------- strings */

static void strings_basic_escapes(void **state)
{
    (void)state;
    CHECK_STRING("s = \"a\\b\\t\\n\\f\\r\\\"\\\\z\"", "a\b\t\n\f\r\"\\z");
    CHECK_STRING("s = \"\\u00e9\\u20AC\\U0001F600\"",
                  "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    CHECK_STRING("s = \"nul:\\u0000:end\"", "nul:\0:end");
    CHECK_STRING("s = \"\\u007F\\u001f\"", "\x7f\x1f");
    CHECK_STRING("s = \"\\U0010FFFF\"", "\xf4\x8f\xbf\xbf");
    CHECK_STRING("s = \"\"", "");
    CHECK_STRING("s = \"tab\there\"", "tab\there");
    CHECK_STRING("s = \"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"",
                  "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    /* escapes far into a long string force in-place moves */
    CHECK_STRING("s = \"0123456789abcdefghij\\n0123456789abcdefghij\\t!\"",
                  "0123456789abcdefghij\n0123456789abcdefghij\t!");
}

static void strings_invalid_escapes(void **state)
{
    (void)state;
    const char *bad[] = {
        "s = \"\\x41\"", "s = \"\\e\"", "s = \"\\a\"", "s = \"\\ \"",
        "s = \"\\u12\"", "s = \"\\u12G4\"", "s = \"\\uD800\"",
        "s = \"\\uDFFF\"", "s = \"\\U00110000\"", "s = \"\\UFFFFFFFF\"",
        "s = \"\\'\"", "s = \"\\/\"", "s = \"abc\\", "s = \"\"\"\\x\"\"\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
    check_error("s = \"ab\\qcd\"", 1, 8, "invalid escape sequence");
    check_error("s = \"\\uD83D\\uDE00\"", 1, 6, "not a scalar value");
}

static void strings_multiline(void **state)
{
    (void)state;
    CHECK_STRING("s = \"\"\"\nfirst\nsecond\"\"\"", "first\nsecond");
    CHECK_STRING("s = \"\"\"\r\nfirst\r\nsecond\"\"\"", "first\r\nsecond");
    CHECK_STRING("s = \"\"\"\n\nx\"\"\"", "\nx");
    CHECK_STRING("s = \"\"\"no newline\"\"\"", "no newline");
    /* line-ending backslash eats whitespace and newlines */
    CHECK_STRING("s = \"\"\"\nThe quick \\\n\n   brown \\   \n\t fox\"\"\"",
                  "The quick brown fox");
    CHECK_STRING("s = \"\"\"a\\\r\n   b\"\"\"", "ab");
    CHECK_STRING("s = \"\"\"\\\n\"\"\"", "");
    /* quotes inside and at the end */
    CHECK_STRING("s = \"\"\"a \"\" b \" c\"\"\"", "a \"\" b \" c");
    CHECK_STRING("s = \"\"\"\"quoted\"\"\"\"", "\"quoted\"");
    CHECK_STRING("s = \"\"\"x\"\"\"\"\"", "x\"\"");
    CHECK_STRING("s = \"\"\"\\\"\"\"\"\"", "\"\"");
    parse_fail("s = \"\"\"x\"\"\"\"\"\"");
    parse_fail("s = \"\"\"a\\ b\"\"\"");         /* backslash-space not at eol */
    parse_fail("s = \"\"\"a\rb\"\"\"");          /* bare CR */
    parse_fail("s = \"\"\"abc");
    check_error("s = \"\"\"\nabc\n", 3, 1, "unterminated multi-line string");
}

static void strings_literal(void **state)
{
    (void)state;
    CHECK_STRING("s = 'C:\\Users\\nodejs\\templates'",
                  "C:\\Users\\nodejs\\templates");
    CHECK_STRING("s = '<\\i\\c*\\s*>'", "<\\i\\c*\\s*>");
    CHECK_STRING("s = ''", "");
    CHECK_STRING("s = '''\nI [dw]on't need \\d{2} apples'''",
                  "I [dw]on't need \\d{2} apples");
    CHECK_STRING("s = '''line1\n  line2\\\n'''", "line1\n  line2\\\n");
    CHECK_STRING("s = ''''That,' she said'''", "'That,' she said");
    CHECK_STRING("s = '''x'''''", "x''");
    parse_fail("s = 'a'b'");
    parse_fail("s = 'abc");
    parse_fail("s = 'a\nb'");
    parse_fail("s = '''x''''''");
}

static void strings_control_and_utf8(void **state)
{
    (void)state;
    const char *bad[] = {
        "s = \"a\x01b\"", "s = \"a\x7f\"", "s = \"a\x1f\"", "s = 'a\x7f'",
        "s = \"\"\"a\x0b\"\"\"", "s = \"a\rb\"",
        "s = \"\xc0\x80\"",           /* overlong NUL */
        "s = \"\xe0\x80\xaf\"",       /* overlong '/' */
        "s = \"\xed\xa0\x80\"",       /* surrogate D800 */
        "s = \"\xf4\x90\x80\x80\"",   /* > U+10FFFF */
        "s = \"\xf8\x88\x80\x80\x80\"", "s = \"\x80\"", "s = \"\xc3\"",
        "s = \"\xe2\x82\"", "s = 'ok' # \xff", "# \xc3\x28\n",
        "# bell \x07\n", "# del \x7f\n", "s = 1 # cr\r",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
    parse_fail_opt("s = '''a\0'''", 12, NULL, COFFER_ESYNTAX);
    /* a NUL byte inside the text is rejected wherever it is */
    parse_fail_opt("s = \"a\0b\"", 10, NULL, COFFER_ESYNTAX);
    parse_fail_opt("a = 1\0", 6, NULL, COFFER_ESYNTAX);
    parse_fail_opt("# x\0\n", 5, NULL, COFFER_ESYNTAX);
    check_error("# ok\ns = \"\xed\xbf\xbf\"", 2, 6, "invalid utf-8");
    coffer_doc *doc = parse_ok("# comment \xf0\x9f\x98\x80 \t ok\ns = 'x'\n");
    coffer_doc_free(doc);
}

/* ---------------------------------------------------------------- numbers */

static void numbers_integers(void **state)
{
    (void)state;
    check_int("i = 0", 0);
    check_int("i = +0", 0);
    check_int("i = -0", 0);
    check_int("i = 42", 42);
    check_int("i = +99", 99);
    check_int("i = -17", -17);
    check_int("i = 1_000_000", 1000000);
    check_int("i = 5_349_221", 5349221);
    check_int("i = 0xDEADBEEF", 0xdeadbeef);
    check_int("i = 0xdead_beef", 0xdeadbeef);
    check_int("i = 0x00ff", 255);
    check_int("i = 0o755", 0755);
    check_int("i = 0o0_1_2", 10);
    check_int("i = 0b1101_0110", 0xd6);
    check_int("i = 9223372036854775807", INT64_MAX);
    check_int("i = -9223372036854775808", INT64_MIN);
    check_int("i = 0x7FFFFFFFFFFFFFFF", INT64_MAX);
    check_int("i = 0o777777777777777777777", INT64_MAX);
    check_int("i = 0b" "111111111111111111111111111111111111111111111111111111111111111",
               INT64_MAX);
    check_error("i = 9223372036854775808", 1, 5, "integer out of range");
    check_error("i = +9223372036854775808", 1, 5, "integer out of range");
    check_error("i = -9223372036854775809", 1, 5, "integer out of range");
    check_error("i = 99999999999999999999999", 1, 5, "integer out of range");
    check_error("i = 0x8000000000000000", 1, 5, "integer out of range");
    const char *bad[] = {
        "i = 01", "i = -01", "i = +01", "i = 0_0", "i = 1__2", "i = _1",
        "i = 1_", "i = 0x", "i = 0X1", "i = 0B1", "i = 0O1", "i = 0x_1",
        "i = 0x1_", "i = -0x1", "i = +0x1", "i = 0b2", "i = 0o8", "i = 0xg",
        "i = 1a", "i = 12 3", "i = --1", "i = +-1", "i = 1-", "i = ١",
        "i = 0x1__2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
}

static void numbers_floats(void **state)
{
    (void)state;
    check_float("f = 1.0", 1.0);
    check_float("f = +1.0", 1.0);
    check_float("f = 3.1415", 3.1415);
    check_float("f = -0.01", -0.01);
    check_float("f = 5e+22", 5e22);
    check_float("f = 1e06", 1e6);
    check_float("f = -2E-2", -2e-2);
    check_float("f = 6.626e-34", 6.626e-34);
    check_float("f = 224_617.445_991_228", 224617.445991228);
    check_float("f = 1e1_0", 1e10);
    check_float("f = 0e0", 0.0);
    check_float("f = 0.0", 0.0);
    check_float("f = -0.0", -0.0);
    check_float("f = +0.0", 0.0);
    check_float("f = -0e5", -0.0);
    check_float("f = 0.1", 0.1);
    check_float("f = 0.30000000000000004", 0.30000000000000004);
    check_float("f = 3.141592653589793", 3.141592653589793);
    check_float("f = 1.7976931348623157e308", 1.7976931348623157e308);
    check_float("f = 4.9406564584124654e-324", 4.9406564584124654e-324);
    check_float("f = 2.2250738585072014e-308", 2.2250738585072014e-308);
    check_float("f = 123456789012345678901234567890.0", 1.2345678901234568e29);
    check_float("f = 0.000000000000000000000000000000000001", 1e-36);
    check_float("f = 9007199254740993.0", 9007199254740992.0);
    check_float("f = 1e400", INFINITY);
    check_float("f = inf", INFINITY);
    check_float("f = +inf", INFINITY);
    check_float("f = -inf", -INFINITY);
    check_float("f = nan", NAN);
    check_float("f = +nan", NAN);
    coffer_doc *doc = parse_ok("f = -nan\ng = nan");
    double d = get_double(doc, "f");
    assert_true(isnan(d) && signbit(d));
    d = get_double(doc, "g");
    assert_true(isnan(d) && !signbit(d));
    coffer_doc_free(doc);
    const char *bad[] = {
        "f = 1.", "f = .5", "f = +.5", "f = 1.e5", "f = 1e", "f = 1e+",
        "f = 1e-", "f = 1.5e", "f = 1._5", "f = 1_.5", "f = 1.5_",
        "f = 1e_5", "f = 1e5_", "f = 1e5.5", "f = 1.2.3", "f = 01.5",
        "f = -01.5", "f = 00.0", "f = Inf", "f = NaN", "f = infinity",
        "f = in", "f = na", "f = i_nf", "f = 1e5e5", "f = 0x1.8p1",
        "f = 1__0.0", "f = inf_", "f = 1.5\x0b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
}

static void numbers_bool(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok("t = true\nf = false\n");
    bool b = false;
    assert_int_equal(coffer_value_bool(get(doc, "t"), &b), 0);
    assert_true(b);
    assert_int_equal(coffer_value_bool(get(doc, "f"), &b), 0);
    assert_false(b);
    coffer_doc_free(doc);
    const char *bad[] = {"b = True", "b = truee", "b = tru", "b = FALSE",
                         "b = falsey", "b = t", "b = f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
}

/* ------------------------------------------------------------- date-times */

static void datetimes_kinds(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "odt1 = 1979-05-27T07:32:00Z\n"
        "odt2 = 1979-05-27T00:32:00-07:00\n"
        "odt3 = 1979-05-27T00:32:00.999999+05:30\n"
        "odt4 = 1979-05-27 07:32:00z\n"
        "odt5 = 1979-05-27t07:32:00+00:00\n"
        "ldt = 1979-05-27T07:32:00.123\n"
        "ld = 1979-05-27\n"
        "lt = 00:32:00.5\n"
        "ns = 2000-01-01T00:00:00.123456789123Z\n"
        "leap = 1990-12-31T23:59:60Z\n");
    coffer_datetime dt = get_dt(doc, "odt1", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.year, 1979);
    assert_int_equal(dt.month, 5);
    assert_int_equal(dt.day, 27);
    assert_int_equal(dt.hour, 7);
    assert_int_equal(dt.minute, 32);
    assert_int_equal(dt.second, 0);
    assert_int_equal(dt.offset_minutes, 0);
    assert_true(dt.offset_is_z);
    assert_int_equal(dt.precision, 0);
    dt = get_dt(doc, "odt2", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.offset_minutes, -420);
    assert_false(dt.offset_is_z);
    dt = get_dt(doc, "odt3", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.offset_minutes, 330);
    assert_int_equal(dt.nanosecond, 999999000);
    assert_int_equal(dt.precision, 6);
    dt = get_dt(doc, "odt4", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.hour, 7);
    assert_true(dt.offset_is_z);
    dt = get_dt(doc, "odt5", COFFER_TYPE_DATETIME);
    assert_false(dt.offset_is_z);
    assert_int_equal(dt.offset_minutes, 0);
    dt = get_dt(doc, "ldt", COFFER_TYPE_DATETIME_LOCAL);
    assert_int_equal(dt.nanosecond, 123000000);
    assert_int_equal(dt.precision, 3);
    dt = get_dt(doc, "ld", COFFER_TYPE_DATE_LOCAL);
    assert_int_equal(dt.day, 27);
    assert_int_equal(dt.hour, 0);
    dt = get_dt(doc, "lt", COFFER_TYPE_TIME_LOCAL);
    assert_int_equal(dt.year, 0);
    assert_int_equal(dt.minute, 32);
    assert_int_equal(dt.nanosecond, 500000000);
    assert_int_equal(dt.precision, 1);
    dt = get_dt(doc, "ns", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.nanosecond, 123456789);
    assert_int_equal(dt.precision, 9);
    dt = get_dt(doc, "leap", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.second, 60);
    coffer_doc_free(doc);
}

static void datetimes_validation(void **state)
{
    (void)state;
    const char *good[] = {
        "d = 2000-02-29", "d = 2024-02-29", "d = 2023-02-28", "d = 2023-01-31",
        "d = 2023-03-31", "d = 2023-04-30", "d = 2023-12-31", "d = 0001-01-01",
        "d = 9999-12-31T23:59:59Z", "d = 0000-01-01", "d = 23:59:59",
        "d = 00:00:00", "d = 2023-06-15T12:00:00+23:59",
        "d = 2023-06-15T12:00:00-23:59", "d = 2023-06-15 # comment",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        coffer_doc_free(parse_ok(good[i]));
    const char *bad[] = {
        "d = 1900-02-29", "d = 2023-02-29", "d = 2023-02-30", "d = 2023-04-31",
        "d = 2023-06-31", "d = 2023-09-31", "d = 2023-11-31", "d = 2023-01-32",
        "d = 2023-00-10", "d = 2023-13-10", "d = 2023-01-00",
        "d = 2023-01-01T24:00:00", "d = 2023-01-01T23:60:00",
        "d = 2023-01-01T23:59:61", "d = 24:00:00", "d = 12:60:00",
        "d = 12:00:61", "d = 2023-01-01T00:00:00+24:00",
        "d = 2023-01-01T00:00:00+00:60", "d = 2023-01-01T00:00:00+0100",
        "d = 2023-01-01T00:00:00+01", "d = 2023-01-01T00:00",
        "d = 12:00", "d = 2023-1-01", "d = 2023-01-1", "d = 23-01-01",
        "d = 10000-01-01", "d = 2023-01-01T", "d = 2023-01-01T1:00:00",
        "d = 2023-01-01T00:00:00.", "d = 2023-01-01T00:00:00.Z",
        "d = 2023-01-01x", "d = 12:00:00Z", "d = 12:00:00+01:00",
        "d = 2023-01-01T00:00:00Zx", "d = 2023/01/01", "d = 2023-01-01 12:00",
        "d = 2023-01-01T00:00:00-", "d = 1:02:03",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
}

/* ---------------------------------------------------------- keys, tables */

static void keys_dotted_and_quoted(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "name.first = \"Arthur\"\n"
        "\"name\".'last' = \"Dent\"\n"
        "site.\"google.com\" = true\n"
        "a . b\t.\tc = 1\n"
        "\"\" = \"empty\"\n"
        "'e' . x = 2\n"
        "\"\\u0071uoted\" = 3\n"
        "1234 = 4\n"
        "3.14159 = 'pi'\n"
        "-_- = 5\n"
        "\"key with spaces\" = 6\n"
        "\"\xc3\xa9\" = 7\n");
    size_t len;
    assert_string_equal(get_str(doc, "name.first", &len), "Arthur");
    assert_string_equal(get_str(doc, "name.last", &len), "Dent");
    bool b;
    assert_int_equal(coffer_value_bool(get(doc, "site.\"google.com\""), &b), 0);
    assert_int_equal(get_int(doc, "a.b.c"), 1);
    assert_string_equal(get_str(doc, "\"\"", &len), "empty");
    assert_int_equal(get_int(doc, "'e'.x"), 2);
    assert_int_equal(get_int(doc, "quoted"), 3);
    assert_int_equal(get_int(doc, "1234"), 4);
    assert_string_equal(get_str(doc, "3.14159", &len), "pi");
    assert_int_equal(get_int(doc, "-_-"), 5);
    assert_int_equal(get_int(doc, "'key with spaces'"), 6);
    assert_int_equal(get_int(doc, "\"\\u00e9\""), 7);
    /* keys are NUL-terminated in place */
    const coffer_value *root = coffer_doc_root(doc);
    const char *key;
    size_t keylen;
    coffer_table_at(root, 0, &key, &keylen);
    assert_string_equal(key, "name");
    assert_int_equal(keylen, 4);
    const coffer_value *ab = get(doc, "a.b");
    coffer_table_at(ab, 0, &key, &keylen);
    assert_string_equal(key, "c");
    coffer_doc_free(doc);
    const char *bad[] = {
        "a. = 1", ".a = 1", "a..b = 1", "a b = 1", "= 1", "a = ",
        "\"\"\"a\"\"\" = 1", "'''a''' = 1", "a.\"b = 1", "a\n= 1",
        "a = 1 b = 2", "a.b.c", "[a]\nb", "\xc3\xa9 = 1", "a#b = 1",
        "\"a\nb\" = 1", "a = 1\n[a.b]\n", "{a=1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
}

static void tables_redefinition_rules(void **state)
{
    (void)state;
    struct { const char *toml; const char *msg; } bad[] = {
        {"a = 1\na = 2", "duplicate key 'a'"},
        {"a = 1\n\"a\" = 2", "duplicate key 'a'"},
        {"a = 1\n'a' = 2", "duplicate key 'a'"},
        {"a = 1\n\"\\u0061\" = 2", "duplicate key 'a'"},
        {"[a]\n[a]", "cannot redefine table 'a'"},
        {"[a.b]\n[a.b]", "cannot redefine table 'a.b'"},
        {"[a]\nb = 1\n[a.b]", "cannot redefine key 'a.b' as a table"},
        {"a.b = 1\n[a]", "cannot redefine table 'a'"},
        {"[fruit]\napple.color = 'red'\n[fruit.apple]", "cannot redefine table"},
        {"[fruit]\napple.taste.sweet = true\n[fruit.apple.taste]", NULL},
        {"a = []\n[[a]]", "cannot append to static array 'a'"},
        {"a = [{}]\n[[a]]", "static array"},
        {"a = 1\n[[a]]", "cannot redefine 'a' as an array of tables"},
        {"[[a]]\n[a]", "cannot redefine array of tables 'a' as a table"},
        {"[a]\n[[a]]", "as an array of tables"},
        {"a = {}\n[a]", "cannot redefine table 'a'"},
        {"a = {}\n[a.b]", "cannot extend inline table 'a'"},
        {"a = {b = 1}\na.c = 2", "cannot extend inline table 'a'"},
        {"a = {b = {}}\n[a.b.c]", "cannot extend inline table 'a'"},
        {"a = {b = 1, b = 2}", "duplicate key 'b'"},
        {"a = {b = {c = 1}, b.d = 2}", "cannot extend inline table 'b'"},
        {"a = {b.c = 1, b = 2}", "duplicate key 'b'"},
        {"a = {b = [1], b.c = 2}", "duplicate key 'b'"},
        {"a.b = 1\na.b.c = 2", "duplicate key 'a.b'"},
        {"a.b = 1\na = {}", "duplicate key 'a'"},
        {"[a.b.c]\nz = 9\n[a]\nb.c.t = 1", "cannot extend table 'b' with dotted keys"},
        {"[[tab.arr]]\n[tab]\narr.val1 = 1", "duplicate key 'arr'"},
        {"a = [{b = 1}]\n[a.c]", "key 'a' is not a table"},
        {"a = 1\n[a.b.c]", "key 'a' is not a table"},
        {"[a]\nx = 1\n[b]\n[a]", "cannot redefine table 'a'"},
        {"[[a.b]]\n[[a]]", "as an array of tables"},
        {"t = {a.b = 1}\nt.a.c = 2", "cannot extend inline table 't'"},
        {"arr = [1]\narr = [2]", "duplicate key 'arr'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_error(bad[i].toml, 0, 0, bad[i].msg);

    /* and what stays legal */
    const char *good[] = {
        "[a.b.c]\nanswer = 42\n[a]\nbetter = 43",
        "[a]\nbetter = 43\n[a.b.c]\nanswer = 42",
        "[[a.b]]\nx = 1\n[a]\ny = 2",
        "[fruit]\napple.color = 'red'\n[fruit.apple.texture]\nsmooth = true",
        "[fruit]\napple.color = 'red'\n[[fruit.apple.seeds]]\nsize = 2",
        "a.b.c = 1\na.b.d = 2\na.e = 3",
        "a = {b.c = 1, b.d = 2}",
        "[[arr]]\na.b.c = 1\n[[arr]]\na.b.c = 3",
        "[a.b]\nc = 1\n[a.d]\ne = 2",
        "[[x]]\n[x.y]\n[[x]]\n[x.y]",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        coffer_doc_free(parse_ok(good[i]));
}

static void tables_arrays_of_tables(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n"
        "[[products]]\n\n"
        "[[products]]\nname = \"Nail\"\nsku = 284758393\n\n"
        "[[fruits]]\nname = \"apple\"\n[fruits.physical]\ncolor = \"red\"\n"
        "[[fruits.varieties]]\nname = \"red delicious\"\n"
        "[[fruits.varieties]]\nname = \"granny smith\"\n"
        "[[fruits]]\nname = \"banana\"\n"
        "[[fruits.varieties]]\nname = \"plantain\"\n");
    const coffer_value *p = get(doc, "products");
    assert_int_equal(coffer_value_type(p), COFFER_TYPE_ARRAY);
    assert_int_equal(coffer_array_count(p), 3);
    assert_int_equal(coffer_table_count(coffer_array_at(p, 1)), 0);
    size_t len;
    assert_string_equal(get_str(doc, "products[2].name", &len), "Nail");
    assert_string_equal(get_str(doc, "fruits[0].physical.color", &len), "red");
    assert_string_equal(get_str(doc, "fruits[0].varieties[1].name", &len),
                        "granny smith");
    assert_string_equal(get_str(doc, "fruits[1].varieties[0].name", &len),
                        "plantain");
    assert_int_equal(coffer_array_count(get(doc, "fruits[1].varieties")), 1);
    coffer_doc_free(doc);
}

static void tables_inline_and_arrays(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "name = { first = \"Tom\", last = \"Preston-Werner\" }\n"
        "point = {x=1,y=2}\n"
        "empty = {}\n"
        "nested = { a = { b = { c = [1, {d = 'e'}] } } }\n"
        "animal = { type.name = \"pug\" }\n"
        "arr = [ 1, 'two', 3.0, [4, [5]], {six = 6}, ]\n"
        "multi = [\n  1, # one\n  2,\n\n  # comment\n]\n"
        "e = []\n");
    size_t len;
    assert_string_equal(get_str(doc, "name.last", &len), "Preston-Werner");
    assert_int_equal(get_int(doc, "point.y"), 2);
    assert_int_equal(coffer_table_count(get(doc, "empty")), 0);
    assert_string_equal(get_str(doc, "nested.a.b.c[1].d", &len), "e");
    assert_string_equal(get_str(doc, "animal.type.name", &len), "pug");
    assert_int_equal(coffer_array_count(get(doc, "arr")), 5);
    assert_int_equal(get_int(doc, "arr[3][1][0]"), 5);
    assert_int_equal(get_int(doc, "arr[4].six"), 6);
    assert_int_equal(coffer_array_count(get(doc, "multi")), 2);
    assert_int_equal(coffer_array_count(get(doc, "e")), 0);
    coffer_doc_free(doc);
    const char *bad[] = {
        "a = {b = 1,}", "a = {,}", "a = {b = 1 c = 2}", "a = {b = 1\n}",
        "a = {\nb = 1}", "a = {b}", "a = {b = }", "a = [1,,2]", "a = [,]",
        "a = [1 2]", "a = [1", "a = {b = 1", "a = [1,\n", "a = ]",
        "a = [1]]", "a = {b = 1}}", "a = [1] 2",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        parse_fail(bad[i]);
}

static void tables_definition_order(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "zeta = 1\nalpha = 2\nmid.x = 3\n"
        "[b]\nq = 1\n[a]\nz = 1\ny = 2\nx = 3\n[a.sub]\n[b.more]\n"
        "[c]\n");
    const coffer_value *root = coffer_doc_root(doc);
    const char *want[] = {"zeta", "alpha", "mid", "b", "a", "c"};
    assert_int_equal(coffer_table_count(root), 6);
    for (size_t i = 0; i < 6; i++) {
        const char *key;
        size_t keylen;
        assert_non_null(coffer_table_at(root, i, &key, &keylen));
        assert_string_equal(key, want[i]);
        assert_int_equal(keylen, strlen(want[i]));
    }
    const char *wa[] = {"z", "y", "x", "sub"};
    const coffer_value *a = get(doc, "a");
    assert_int_equal(coffer_table_count(a), 4);
    for (size_t i = 0; i < 4; i++) {
        const char *key;
        coffer_table_at(a, i, &key, NULL);
        assert_string_equal(key, wa[i]);
    }
    assert_null(coffer_table_at(a, 4, NULL, NULL));
    coffer_doc_free(doc);
}

static void tables_many_keys(void **state)
{
    (void)state;
    enum { N = 100000 };
    size_t cap = (size_t)N * 40 + 64, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    len += (size_t)snprintf(text + len, cap - len, "[big]\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "key_%d = %d\n", i, i);
    coffer_doc *doc = parse_ok_n(text, len);
    const coffer_value *big = get(doc, "big");
    assert_int_equal(coffer_table_count(big), N);
    for (int i = 0; i < N; i += 997) {
        char k[32];
        int n = snprintf(k, sizeof k, "key_%d", i);
        const coffer_value *v = coffer_table_get(big, k, (size_t)n);
        assert_non_null(v);
        int64_t got;
        assert_int_equal(coffer_value_int(v, &got), 0);
        assert_int_equal(got, i);
    }
    /* every key, after all the growth steps of the index */
    for (int i = 0; i < N; i++) {
        char k[32];
        int n = snprintf(k, sizeof k, "key_%d", i);
        const coffer_value *v = coffer_table_get(big, k, (size_t)n);
        assert_non_null(v);
        assert_ptr_equal(v, coffer_table_at(big, (size_t)i, NULL, NULL));
    }
    assert_null(coffer_table_get(big, "key_100000", 10));
    assert_null(coffer_table_get(big, "key_1", 4));
    /* order of definition is kept for big tables too */
    const char *key;
    coffer_table_at(big, N - 1, &key, NULL);
    assert_string_equal(key, "key_99999");
    coffer_doc_free(doc);

    /* many tables: header lookups go through the root's index */
    len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "[t%d]\nv = %d\n", i, i);
    len += (size_t)snprintf(text + len, cap - len, "[t500.sub]\nw = 1\n");
    doc = parse_ok_n(text, len);
    assert_int_equal(coffer_table_count(coffer_doc_root(doc)), N);
    assert_int_equal(get_int(doc, "t77777.v"), 77777);
    assert_int_equal(get_int(doc, "t500.sub.w"), 1);
    coffer_doc_free(doc);
    /* a duplicate at the end of many keys is still caught */
    len = 0;
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(text + len, cap - len, "k%d = 1\n", i);
    len += (size_t)snprintf(text + len, cap - len, "k4242 = 2\n");
    coffer_error err = parse_fail_opt(text, len, NULL, COFFER_ESYNTAX);
    assert_string_equal(err.message, "duplicate key 'k4242'");
    assert_int_equal(err.line, N + 1);
    free(text);
}

/* Sizes around the parser's member stages (32 nodes) and hash index (from
 * 32 members), at every kind of container: root, header tables at small
 * and large depths, tables reopened later, arrays of tables (nested too),
 * arrays and inline tables nested deeper than the stages go. */
static void tables_stage_boundaries(void **state)
{
    (void)state;
    static const int sizes[] = {0, 1, 2, 31, 32, 33, 63, 64, 65, 200};
    size_t cap = 1 << 20;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        size_t len = 0;
#define OUT(...) (len += (size_t)snprintf(text + len, cap - len, __VA_ARGS__))
        for (int i = 0; i < n; i++)
            OUT("r%d = %d\n", i, i);
        OUT("arr = [");
        for (int i = 0; i < n; i++)
            OUT("%s%d", i ? ", " : "", i);
        OUT("]\nnest = [[[[[");
        for (int i = 0; i < n; i++)
            OUT("%s%d", i ? ", " : "", i);
        OUT("]]]], [[[[]]]]]\nit = {");
        for (int i = 0; i < n; i++)
            OUT("%sk%d = {v = [%d]}", i ? ", " : "", i, i);
        OUT("}\n[t]\n");
        for (int i = 0; i < n; i++)
            OUT("t%d = %d\n", i, i);
        OUT("[t.sub]\n");
        for (int i = 0; i < n; i++)
            OUT("s%d = %d\n", i, i);
        OUT("[d1.d2.d3.d4.d5.d6]\n");
        for (int i = 0; i < n; i++)
            OUT("x%d = %d\n", i, i);
        for (int i = 0; i < n; i++) {
            OUT("[[a]]\nid = %d\n", i);
            for (int j = 0; j < i % 3; j++)
                OUT("[[a.b]]\nj = %d\n", j);
        }
        OUT("[u]\nw = 1\n[t.late]\nz = 2\n[[a]]\nid = -1\n");
        for (int i = 0; i < n; i++)
            OUT("[r%d_t]\nq = %d\n", i, i);
#undef OUT
        coffer_doc *doc = parse_ok_n(text, len);
        const coffer_value *root = coffer_doc_root(doc);
        char path[64];
        /* the i-th member of every kind of container holds i */
        static const char *const at_i[] = {
            "r%d", "arr[%d]", "nest[0][0][0][0][%d]", "it.k%d.v[0]", "t.t%d",
            "t.sub.s%d", "d1.d2.d3.d4.d5.d6.x%d", "a[%d].id",
        };
        for (int i = 0; i < n; i++) {
            for (size_t f = 0; f < sizeof at_i / sizeof at_i[0]; f++) {
                snprintf(path, sizeof path, at_i[f], i);
                assert_int_equal(get_int(doc, path), i);
            }
            snprintf(path, sizeof path, "a[%d].b", i);
            if (i % 3) {
                assert_int_equal(coffer_array_count(get(doc, path)), i % 3);
                snprintf(path, sizeof path, "a[%d].b[%d].j", i, i % 3 - 1);
                assert_int_equal(get_int(doc, path), i % 3 - 1);
            }
            snprintf(path, sizeof path, "r%d_t.q", i);
            assert_int_equal(get_int(doc, path), i);
            /* key order is the order of definition */
            const char *key;
            coffer_table_at(root, (size_t)i, &key, NULL);
            snprintf(path, sizeof path, "r%d", i);
            assert_string_equal(key, path);
        }
        assert_int_equal(coffer_table_count(root), 2 * (size_t)n + 7);
        assert_int_equal(coffer_array_count(get(doc, "arr")), n);
        assert_int_equal(coffer_array_count(get(doc, "nest")), 2);
        assert_int_equal(coffer_array_count(get(doc, "nest[0][0][0][0]")), n);
        assert_int_equal(coffer_table_count(get(doc, "it")), n);
        assert_int_equal(coffer_table_count(get(doc, "t")), n + 2);
        assert_int_equal(get_int(doc, "t.late.z"), 2);
        assert_int_equal(coffer_array_count(get(doc, "a")), n + 1);
        snprintf(path, sizeof path, "a[%d].id", n);
        assert_int_equal(get_int(doc, path), -1);
        coffer_doc_free(doc);
    }
    free(text);
}

/* ----------------------------------------------------- positions, messages */

static void errors_positions(void **state)
{
    (void)state;
    check_error("a = 1\nb 2\n", 2, 3, "expected '=' after key");
    check_error("a = 1\r\nb 2\r\n", 2, 3, "expected '=' after key");
    check_error("\xef\xbb\xbf" "a = 1\r\n\r\n  c = @\r\n", 3, 7, "invalid value");
    check_error("[db]\npassword = 'x'\npassword = 'y'\n", 3, 1,
                 "duplicate key 'password'");
    check_error("x = \"\"\"\nline\nline\"\"\"\ny = 01\n", 4, 5,
                 "leading zeros");
    check_error("a = [\n 1,\n 2\n 3]\n", 4, 2,
                 "expected ',' or ']' after array element");
    check_error("[a]\n[a]\n", 2, 1, "cannot redefine table 'a'");
    check_error("a = 1 # ok\nb = 'x' y\n", 2, 9, "expected newline after value");
    check_error("[t] x = 1\n", 1, 5, "expected newline after table header");
    check_error("a = \"abc\n", 1, 5, "unterminated string");
    check_error("a = 1\r", 1, 6, "carriage return");
    check_error("a = 1\rb = 2\n", 1, 6, "carriage return");
    check_error("\ta.b\t=\t{ c = 1,\t}\n", 1, 17, "trailing comma");
    check_error("s = '''\n\n\n  x\x01'''", 4, 4, "control character");
    check_error("[a\n", 1, 3, "expected ']' after table name");
    check_error("[[a]\n", 1, 4, "expected ']]' after table name");
    check_error("a = 2024-13-01\n", 1, 5, "invalid date");
    check_error("k = \"\\u00\"", 1, 6, "invalid unicode escape");
    check_error("a.b = 1\na.b.c = 2\n", 2, 3, "duplicate key 'a.b'");
    coffer_doc *doc = parse_ok("\xef\xbb\xbfk = 1\n");
    assert_int_equal(get_int(doc, "k"), 1);
    assert_int_equal(coffer_value_column(get(doc, "k")), 5);
    coffer_doc_free(doc);
    /* a BOM elsewhere is not allowed */
    parse_fail("k = 1\n\xef\xbb\xbf");
    parse_fail("\xfe\xff" "k = 1");
}

static void values_positions(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "a = 1\n"
        "  b   =   \"two\"\r\n"
        "[t]\n"
        "c = [1, [2]]\n"
        "d = { e = 3 }\n"
        "s = \"\"\"\nx\ny\"\"\"\n"
        "after = true\n"
        "[[arr]]\n"
        "  x.y = 1\n");
    assert_int_equal(coffer_value_line(get(doc, "a")), 1);
    assert_int_equal(coffer_value_column(get(doc, "a")), 5);
    assert_int_equal(coffer_value_line(get(doc, "b")), 2);
    assert_int_equal(coffer_value_column(get(doc, "b")), 11);
    assert_int_equal(coffer_value_line(get(doc, "t")), 3);
    assert_int_equal(coffer_value_column(get(doc, "t")), 1);
    assert_int_equal(coffer_value_column(get(doc, "t.c")), 5);
    assert_int_equal(coffer_value_column(get(doc, "t.c[1]")), 9);
    assert_int_equal(coffer_value_column(get(doc, "t.c[1][0]")), 10);
    assert_int_equal(coffer_value_column(get(doc, "t.d.e")), 11);
    assert_int_equal(coffer_value_line(get(doc, "t.s")), 6);
    assert_int_equal(coffer_value_line(get(doc, "t.after")), 9);
    assert_int_equal(coffer_value_column(get(doc, "t.after")), 9);
    assert_int_equal(coffer_value_line(get(doc, "arr[0]")), 10);
    assert_int_equal(coffer_value_line(get(doc, "arr[0].x")), 11);
    assert_int_equal(coffer_value_column(get(doc, "arr[0].x")), 3);
    assert_int_equal(coffer_value_column(get(doc, "arr[0].x.y")), 9);
    assert_int_equal(coffer_value_type(NULL), COFFER_TYPE_NONE);
    assert_int_equal(coffer_value_line(NULL), 0);
    coffer_doc_free(doc);
}

/* ------------------------------------------------------------------ limits */

static char *nested(const char *prefix, const char *open, const char *inner,
                    const char *close, size_t depth, size_t *len)
{
    size_t cap = strlen(prefix) + depth * (strlen(open) + strlen(close)) +
                 strlen(inner) + 2;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t o = 0;
    memcpy(s + o, prefix, strlen(prefix));
    o += strlen(prefix);
    for (size_t i = 0; i < depth; i++) {
        memcpy(s + o, open, strlen(open));
        o += strlen(open);
    }
    memcpy(s + o, inner, strlen(inner));
    o += strlen(inner);
    for (size_t i = 0; i < depth; i++) {
        memcpy(s + o, close, strlen(close));
        o += strlen(close);
    }
    s[o] = '\0';
    *len = o;
    return s;
}

static void limits_depth(void **state)
{
    (void)state;
    size_t len;
    char *s = nested("a = ", "[", "1", "]", 128, &len);
    coffer_doc *doc = parse_ok_n(s, len);
    coffer_doc_free(doc);
    free(s);
    s = nested("a = ", "{b=", "1", "}", 128, &len);
    doc = parse_ok_n(s, len);
    coffer_doc_free(doc);
    free(s);
    s = nested("a = ", "[{b=", "1", "}]", 256, &len); /* 512 levels */
    doc = parse_ok_n(s, len);
    coffer_doc_free(doc);
    free(s);
    s = nested("a = ", "[", "1", "]", 513, &len);
    coffer_error err = parse_fail_opt(s, len, NULL, COFFER_ELIMIT);
    assert_string_equal(err.message, "nesting deeper than 512 levels");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.column, 5 + 512);
    free(s);
    /* a configured limit */
    coffer_parse_options opt = {0};
    opt.max_depth = 3;
    s = nested("a = ", "[", "1", "]", 3, &len);
    doc = NULL;
    assert_int_equal(coffer_toml_parse(s, len, &opt, &doc, NULL), 0);
    coffer_doc_free(doc);
    free(s);
    s = nested("a = ", "[", "1", "]", 4, &len);
    parse_fail_opt(s, len, &opt, COFFER_ELIMIT);
    free(s);
    /* 100000 levels: an error, not a stack overflow */
    s = nested("a = ", "[", "", "", 100000, &len);
    parse_fail_opt(s, len, NULL, COFFER_ELIMIT);
    free(s);
    s = nested("a = ", "{b=", "", "", 100000, &len);
    parse_fail_opt(s, len, NULL, COFFER_ELIMIT);
    free(s);
    s = nested("", "[", "", "", 100000, &len);
    parse_fail_opt(s, len, NULL, COFFER_ESYNTAX);
    free(s);
    /* a huge but allowed depth works without recursion */
    opt.max_depth = 200000;
    s = nested("a = ", "[", "", "]", 100000, &len);
    doc = NULL;
    assert_int_equal(coffer_toml_parse(s, len, &opt, &doc, NULL), 0);
    coffer_doc_free(doc);
    free(s);
}

/* A document: pre, then mid repeated n times, then post. */
static char *rep3(const char *pre, const char *mid, size_t n, const char *post,
                  size_t *len)
{
    size_t a = strlen(pre), m = strlen(mid), z = strlen(post);
    char *s = malloc(a + m * n + z + 1);
    assert_non_null(s);
    memcpy(s, pre, a);
    for (size_t i = 0; i < n; i++)
        memcpy(s + a + i * m, mid, m);
    memcpy(s + a + m * n, post, z + 1);
    *len = a + m * n + z;
    return s;
}

/* One depth bound (max_depth: containers deeper than it, the root being
 * depth 0) for every route that nests: dotted keys, [headers], [[arrays
 * of tables]], arrays, inline tables, dotted keys inside inline tables, and
 * mixes of them. Each route: at the limit parses, one more level fails
 * with COFFER_ELIMIT at the part, bracket or brace that goes too deep. */
static void d2_depth_limit_every_route(void **state)
{
    (void)state;
    static const struct {
        const char *pre, *mid, *post;
        size_t ok;    /* repetitions that reach exactly depth 512 */
        unsigned line, col; /* the error with one repetition more */
    } r[] = {
        /* 512 tables k, then the scalar v; then the 513th k */
        { "", "k.", "v = 1\n", 512, 1, 1025 },
        { "[", "k.", "v]\nx = 1\n", 511, 1, 1026 },
        /* [[k...k.v]]: the array at n+1, its table at n+2 */
        { "[[", "k.", "v]]\nx = 1\n", 510, 1, 1025 },
        { "a = ", "[", "1", 512, 1, 517 },
        { "a = ", "{b=", "1", 512, 1, 1541 },
        /* a's inline table at 1, then 511 dotted tables */
        { "a = {", "k.", "v = 1}\n", 511, 1, 1028 },
        /* [t] at 1, then dotted keys */
        { "[t]\n", "k.", "v = 1\n", 511, 2, 1023 },
        /* [[a]] (2 levels), then a header through it */
        { "[[a]]\n[a.", "k.", "v]\n", 509, 2, 1024 },
        /* [x.y] at 2, then arrays */
        { "[x.y]\nz = ", "[", "1", 510, 2, 515 },
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        for (int past = 0; past < 2; past++) {
            size_t n = r[i].ok + (size_t)past, len;
            /* arrays and inline tables need their closing brackets */
            char *s;
            if (strcmp(r[i].mid, "[") == 0 || strcmp(r[i].mid, "{b=") == 0) {
                char *open = rep3(r[i].pre, r[i].mid, n, r[i].post, &len);
                const char *close = r[i].mid[0] == '[' ? "]" : "}";
                char *closes = rep3(open, close, n, "\n", &len);
                free(open);
                s = closes;
            } else {
                s = rep3(r[i].pre, r[i].mid, n, r[i].post, &len);
            }
            if (!past) {
                coffer_doc *doc = parse_ok_n(s, len);
                coffer_doc_free(doc);
            } else {
                coffer_error err = parse_fail_opt(s, len, NULL, COFFER_ELIMIT);
                assert_string_equal(err.message, "nesting deeper than 512 levels");
                if (err.line != r[i].line || err.column != r[i].col)
                    fail_msg("route %zu: error at %u:%u, expected %u:%u", i,
                             err.line, err.column, r[i].line, r[i].col);
            }
            free(s);
        }
    }
    /* a configured limit counts keys the same way */
    coffer_parse_options opt = {0};
    opt.max_depth = 3;
    coffer_doc *doc = NULL;
    assert_int_equal(coffer_toml_parse("[a.b.c]\nx.y = 1", 15, &opt, &doc, NULL),
                     COFFER_ELIMIT);
    assert_int_equal(coffer_toml_parse("[a.b]\nx.y = 1", 13, &opt, &doc, NULL), 0);
    coffer_doc_free(doc);
    assert_int_equal(coffer_toml_parse("a.b.c = [[1]]", 13, &opt, &doc, NULL),
                     COFFER_ELIMIT);
    /* the report's inputs: an error, fast, no stack spent */
    size_t len;
    char *s = rep3("[", "k.", 60000, "k]\nx=1\n", &len);
    parse_fail_opt(s, len, NULL, COFFER_ELIMIT);
    free(s);
    s = rep3("", "k.", 100000, "k = 1\n", &len);
    parse_fail_opt(s, len, NULL, COFFER_ELIMIT);
    free(s);
    /* a huge configured limit works without recursion */
    opt.max_depth = 200000;
    s = rep3("", "k.", 100000, "k = 1\n", &len);
    assert_int_equal(coffer_toml_parse(s, len, &opt, &doc, NULL), 0);
    const coffer_value *v = coffer_doc_root(doc);
    size_t depth = 0;
    while (coffer_value_type(v) == COFFER_TYPE_TABLE && coffer_table_count(v)) {
        v = coffer_table_at(v, 0, NULL, NULL);
        depth++;
    }
    assert_int_equal(depth, 100001);
    coffer_doc_free(doc);
    free(s);
}

static void *deep_in_thread(void *arg)
{
    (void)arg;
    size_t len;
    char *s = nested("a = ", "[{b=", "1", "}]", 256, &len);
    coffer_doc *doc = NULL;
    int rc = coffer_toml_parse(s, len, NULL, &doc, NULL);
    coffer_doc_free(doc);
    free(s);
    return (void *)(intptr_t)(rc == 0 ? 1 : 2);
}

static void limits_depth_small_stack(void **state)
{
    (void)state;
    pthread_attr_t attr;
    pthread_t t;
    void *res = NULL;
    assert_int_equal(pthread_attr_init(&attr), 0);
    assert_int_equal(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
    assert_int_equal(pthread_create(&t, &attr, deep_in_thread, NULL), 0);
    assert_int_equal(pthread_join(t, &res), 0);
    pthread_attr_destroy(&attr);
    assert_int_equal((intptr_t)res, 1);
}

static void limits_input_and_key(void **state)
{
    (void)state;
    coffer_parse_options opt = {0};
    opt.max_input = 10;
    coffer_error err = parse_fail_opt("a = 12345678", 12, &opt, COFFER_ELIMIT);
    assert_string_equal(err.message, "input larger than 10 bytes");
    coffer_doc *doc = NULL;
    assert_int_equal(coffer_toml_parse("a = 123456", 10, &opt, &doc, NULL), 0);
    coffer_doc_free(doc);

    char key[4200];
    memset(key, 'k', sizeof key);
    char text[4300];
    /* 4096 bytes: accepted (bare, quoted, in a header) */
    int n = snprintf(text, sizeof text, "%.*s = 1", 4096, key);
    doc = parse_ok_n(text, (size_t)n);
    assert_non_null(coffer_table_get(coffer_doc_root(doc), key, 4096));
    coffer_doc_free(doc);
    n = snprintf(text, sizeof text, "%.*s = 1", 4097, key);
    err = parse_fail_opt(text, (size_t)n, NULL, COFFER_ELIMIT);
    assert_string_equal(err.message, "key longer than 4096 bytes");
    n = snprintf(text, sizeof text, "a.\"%.*s\" = 1", 4097, key);
    err = parse_fail_opt(text, (size_t)n, NULL, COFFER_ELIMIT);
    assert_int_equal(err.column, 3);
    n = snprintf(text, sizeof text, "[%.*s]", 4097, key);
    parse_fail_opt(text, (size_t)n, NULL, COFFER_ELIMIT);
    opt.max_input = 0;
    opt.max_key = 8;
    assert_int_equal(coffer_toml_parse("abcdefgh = 1", 12, &opt, &doc, NULL), 0);
    coffer_doc_free(doc);
    parse_fail_opt("abcdefghi = 1", 13, &opt, COFFER_ELIMIT);
    /* the escaped length does not count, the decoded one does */
    assert_int_equal(coffer_toml_parse("\"\\u0061bcdefgh\" = 1", 19, &opt,
                                       &doc, NULL), 0);
    coffer_doc_free(doc);
}

/* ----------------------------------------------------------- seek, paths */

static void seek_paths(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok(
        "[servers]\n"
        "alpha = { host = '10.0.0.1', ports = [8000, 8001] }\n"
        "[[servers.list]]\nhost = 'a'\n[[servers.list]]\nhost = 'b'\n"
        "[a]\n\"b.c\" = [[1, 2], [3, 4, 5]]\n'q\"x' = 1\n\"sp ace\" = 2\n"
        "\"\\u00e9\" = 3\n");
    size_t len;
    assert_string_equal(get_str(doc, "servers.alpha.host", &len), "10.0.0.1");
    assert_int_equal(get_int(doc, "servers.alpha.ports[1]"), 8001);
    assert_string_equal(get_str(doc, "servers.list[1].host", &len), "b");
    assert_int_equal(get_int(doc, "a.\"b.c\"[1][2]"), 5);
    assert_int_equal(get_int(doc, "a.'b.c'[0][0]"), 1);
    assert_int_equal(get_int(doc, " a . \"b.c\" [1] [0] "), 3);
    assert_int_equal(get_int(doc, "a.'q\"x'"), 1);
    assert_int_equal(get_int(doc, "a.\"q\\\"x\""), 1);
    assert_int_equal(get_int(doc, "a.\"sp ace\""), 2);
    assert_int_equal(get_int(doc, "a.\"\\u00E9\""), 3);
    assert_int_equal(get_int(doc, "a.'\xc3\xa9'"), 3);
    /* from an array value */
    const coffer_value *arr = get(doc, "a.\"b.c\""), *out;
    assert_int_equal(coffer_value_seek(arr, "[1][0]", &out, NULL), 0);
    int64_t i;
    assert_int_equal(coffer_value_int(out, &i), 0);
    assert_int_equal(i, 3);

    /* missing: ENOKEY naming the path and the longest prefix */
    coffer_error err;
    const coffer_value *root = coffer_doc_root(doc);
    assert_int_equal(coffer_value_seek(root, "servers.alpha.hots", &out, &err),
                     COFFER_ENOKEY);
    assert_null(out);
    assert_int_equal(err.code, COFFER_ENOKEY);
    assert_non_null(strstr(err.message, "'servers.alpha.hots'"));
    assert_non_null(strstr(err.message, "'servers.alpha'"));
    assert_int_equal(coffer_value_seek(root, "nope", &out, &err), COFFER_ENOKEY);
    assert_string_equal(err.message, "key 'nope' not found");
    assert_int_equal(coffer_value_seek(root, "servers.list[2].host", &out, &err),
                     COFFER_ENOKEY);
    assert_non_null(strstr(err.message, "'servers.list'"));
    assert_int_equal(coffer_value_seek(root, "servers.alpha.host.x", &out, &err),
                     COFFER_ENOKEY);
    assert_int_equal(coffer_value_seek(root, "servers[0]", &out, &err),
                     COFFER_ENOKEY);

    /* malformed: EINVAL */
    const char *bad[] = {
        "", "   ", "a.", ".a", "a..b", "a b", "a[", "a[]", "a[x]", "a[1",
        "a[-1]", "\"unterminated", "'unterminated", "a.\"\\x\"", "a.\"\\u12\"",
        "a.\"\\uD800\"", "a]", "a[1]x", "a.[0]", "a[99999999999999999999]",
        "a=b", "a.#",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        memset(&err, 0, sizeof err);
        int rc = coffer_value_seek(root, bad[k], &out, &err);
        if (rc != COFFER_EINVAL)
            fail_msg("path '%s': expected EINVAL, got %d", bad[k], rc);
        assert_int_equal(err.code, COFFER_EINVAL);
        assert_true(err.message[0] != '\0');
    }
    assert_int_equal(coffer_value_seek(root, NULL, &out, &err), COFFER_EINVAL);
    assert_int_equal(coffer_value_seek(NULL, "a", &out, &err), COFFER_EINVAL);
    coffer_doc_free(doc);
}

typedef struct steps {
    char buf[256];
    size_t o;
} steps;

static int record_step(void *ctx, const char *key, size_t n, long index)
{
    steps *s = ctx;
    if (key)
        s->o += (size_t)snprintf(s->buf + s->o, sizeof s->buf - s->o, "<%.*s>",
                                 (int)n, key);
    else
        s->o += (size_t)snprintf(s->buf + s->o, sizeof s->buf - s->o, "[%ld]",
                                 index);
    return 0;
}

static int stop_step(void *ctx, const char *key, size_t n, long index)
{
    (void)key, (void)n, (void)index;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

static void path_walk_steps(void **state)
{
    (void)state;
    steps s = {{0}, 0};
    assert_int_equal(coffer_path_walk("a.\"b.c\"[2][0].'d e'.f-g_1", record_step,
                                      &s, NULL), 0);
    assert_string_equal(s.buf, "<a><b.c>[2][0]<d e><f-g_1>");
    memset(&s, 0, sizeof s);
    assert_int_equal(coffer_path_walk("\"\\t\\\"\"", record_step, &s, NULL), 0);
    assert_string_equal(s.buf, "<\t\">");
    memset(&s, 0, sizeof s);
    assert_int_equal(coffer_path_walk("\"\"", record_step, &s, NULL), 0);
    assert_string_equal(s.buf, "<>");
    int count = 0;
    assert_int_equal(coffer_path_walk("a.b.c", stop_step, &count, NULL), 42);
    assert_int_equal(count, 2);
}

/* ------------------------------------------------------------ accessors */

static void accessors_types(void **state)
{
    (void)state;
    coffer_doc *doc = parse_ok("s = 'x'\ni = 1\nf = 1.5\nb = true\n"
                               "d = 1979-05-27\nt = {}\na = []\n");
    const coffer_value *s = get(doc, "s"), *i = get(doc, "i");
    int64_t iv;
    double d;
    bool b;
    coffer_datetime dt;
    const char *str;
    assert_int_equal(coffer_value_int(s, &iv), COFFER_ETYPE);
    assert_int_equal(coffer_value_double(i, &d), COFFER_ETYPE);
    assert_int_equal(coffer_value_bool(i, &b), COFFER_ETYPE);
    assert_int_equal(coffer_value_datetime(i, &dt), COFFER_ETYPE);
    assert_int_equal(coffer_value_string(i, &str, NULL), COFFER_ETYPE);
    assert_int_equal(coffer_value_string(NULL, &str, NULL), COFFER_EINVAL);
    assert_int_equal(coffer_value_int(NULL, &iv), COFFER_EINVAL);
    assert_int_equal(coffer_value_string(s, &str, NULL), 0);
    assert_string_equal(str, "x");
    assert_int_equal(coffer_table_count(s), 0);
    assert_int_equal(coffer_array_count(get(doc, "t")), 0);
    assert_null(coffer_array_at(get(doc, "a"), 0));
    assert_null(coffer_table_get(get(doc, "a"), "x", 1));
    assert_null(coffer_table_get(NULL, "x", 1));
    struct { const char *path; const char *name; } names[] = {
        {"s", "string"}, {"i", "integer"}, {"f", "float"}, {"b", "bool"},
        {"d", "date-local"}, {"t", "table"}, {"a", "array"},
    };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        assert_string_equal(coffer_type_name(coffer_value_type(get(doc, names[k].path))),
                            names[k].name);
    assert_string_equal(coffer_type_name(COFFER_TYPE_DATETIME), "datetime");
    assert_string_equal(coffer_type_name(COFFER_TYPE_DATETIME_LOCAL), "datetime-local");
    assert_string_equal(coffer_type_name(COFFER_TYPE_TIME_LOCAL), "time-local");
    assert_int_equal(coffer_value_type(coffer_doc_root(doc)), COFFER_TYPE_TABLE);
    assert_true(coffer_doc_memory(doc) > 0);
    coffer_doc_free(doc);
    coffer_doc_free(NULL);
    assert_null(coffer_doc_root(NULL));
    /* empty documents */
    doc = parse_ok("");
    assert_int_equal(coffer_table_count(coffer_doc_root(doc)), 0);
    coffer_doc_free(doc);
    doc = parse_ok_n(NULL, 0);
    coffer_doc_free(doc);
    doc = parse_ok("\n\n  # only a comment\n\t\n");
    coffer_doc_free(doc);
}

/* ---------------------------------------------------- owned and allocator */

static int allocs, releases;
static size_t live_bytes;
/* Blocks start zeroed, like fresh pages: a byte still non-zero when a
 * block is released was written and not wiped. */
static void *count_alloc(void *ctx, size_t n)
{
    (void)ctx;
    allocs++;
    live_bytes += n;
    return calloc(1, n);
}
static void count_release(void *ctx, void *p, size_t n)
{
    (void)ctx;
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++)
        if (b[k])
            fail_msg("block released without being wiped");
    releases++;
    live_bytes -= n;
    free(p);
}
static const coffer_allocator counting = {count_alloc, count_release, NULL};

static void owned_and_allocator(void **state)
{
    (void)state;
    coffer_parse_options opt = {0};
    opt.allocator = &counting;
    allocs = releases = 0;
    live_bytes = 0;
    const char *text = "[db]\npassword = \"s3cr\\u0065t\"\n";
    size_t len = strlen(text);
    char *buf = counting.alloc(NULL, len + 16);
    memcpy(buf, text, len);
    coffer_doc *doc = NULL;
    assert_int_equal(coffer_toml_parse_owned(buf, len, len + 16, &opt, &doc, NULL), 0);
    size_t slen;
    const char *pw = get_str(doc, "db.password", &slen);
    assert_string_equal(pw, "s3cret");
    assert_int_equal(slen, 6);
    /* decoded in place: the value points into the caller's block */
    assert_true(pw >= buf && pw < buf + len);
    coffer_doc_free(doc);
    assert_int_equal(allocs, releases);
    assert_int_equal(live_bytes, 0);

    /* failure releases (and wipes) the block too */
    buf = counting.alloc(NULL, 64);
    memcpy(buf, "a = \"unterminated", 17);
    coffer_error err;
    assert_int_equal(coffer_toml_parse_owned(buf, 17, 64, &opt, &doc, &err),
                     COFFER_ESYNTAX);
    assert_null(doc);
    assert_int_equal(allocs, releases);
    buf = counting.alloc(NULL, 8);
    assert_int_equal(coffer_toml_parse_owned(buf, 8, 8, &opt, &doc, &err),
                     COFFER_EINVAL);
    assert_int_equal(allocs, releases);
    opt.max_input = 4;
    buf = counting.alloc(NULL, 8);
    memcpy(buf, "a = 1", 5);
    assert_int_equal(coffer_toml_parse_owned(buf, 5, 8, &opt, &doc, &err),
                     COFFER_ELIMIT);
    assert_int_equal(allocs, releases);
    opt.max_input = 0;

    /* the copying variant: everything comes from the allocator */
    assert_int_equal(coffer_toml_parse(text, len, &opt, &doc, NULL), 0);
    assert_true(allocs > releases);
    coffer_doc_free(doc);
    assert_int_equal(allocs, releases);
    assert_int_equal(coffer_toml_parse("x = [", 5, &opt, &doc, NULL), COFFER_ESYNTAX);
    assert_int_equal(allocs, releases);
    assert_int_equal(live_bytes, 0);
}

/* With any allocator but the plain one (locked memory), the parser's
 * staging blocks, which hold copies of values while their table is open,
 * come from that allocator and go back to it with everything the parser
 * wrote wiped (count_release checks) before the parse returns, on success
 * and on failure. */
static void *stage_seen;
static bool stage_back;
static void *stage_alloc(void *ctx, size_t n)
{
    void *p = count_alloc(ctx, n);
    if (n == COFFER_PARSE_STAGE_BYTES)
        stage_seen = p;
    return p;
}
static void stage_release(void *ctx, void *p, size_t n)
{
    if (p == stage_seen)
        stage_back = true;
    count_release(ctx, p, n);
}
static const coffer_allocator staging = {stage_alloc, stage_release, NULL};

static void stages_come_from_the_allocator(void **state)
{
    (void)state;
    coffer_parse_options opt = {0};
    opt.allocator = &staging;
    const char *texts[] = {
        "pin = 123456\n[db]\nport = 5432\nratio = 0.5\nok = true\n"
        "[[s]]\nx = 1\n[[s]]\ny = [1, {z = 2}]\n",
        "pin = 123456\n[db]\nport = 5432\nport = 1\n", /* fails */
    };
    for (int i = 0; i < 2; i++) {
        allocs = releases = 0;
        live_bytes = 0;
        stage_seen = NULL;
        stage_back = false;
        coffer_doc *doc = NULL;
        int rc = coffer_toml_parse(texts[i], strlen(texts[i]), &opt, &doc,
                                   NULL);
        assert_int_equal(rc, i == 0 ? 0 : COFFER_ESYNTAX);
        assert_non_null(stage_seen);
        assert_true(stage_back); /* before the document goes */
        if (doc) {
            assert_int_equal(get_int(doc, "db.port"), 5432);
            assert_int_equal(get_int(doc, "s[1].y[1].z"), 2);
            coffer_doc_free(doc);
        }
        assert_int_equal(allocs, releases);
    }
}

/* ------------------------------------------------------------------ canary */

#define CANARY "CANARY-7f3a"

static void errors_never_hold_values(void **state)
{
    (void)state;
    /* Each document is invalid, and has the marker inside a value. */
    const char *docs[] = {
        "a = \"" CANARY "\nb = 1",
        "a = \"" CANARY "\" junk",
        "a = \"" CANARY "\\q\"",
        "a = \"" CANARY "\\uD800\"",
        "a = '" CANARY "\x01'",
        "a = \"\"\"" CANARY "\\ x\"\"\"",
        "a = '''" CANARY,
        "a = " CANARY,
        "a = [\"" CANARY "\", " CANARY "]",
        "a = { b = \"" CANARY "\" c = 1 }",
        "a = { b = \"" CANARY "\", }",
        "a = \"" CANARY "\"\na = \"" CANARY "\"",
        "[t]\npassword = \"" CANARY "\"\npassword = \"" CANARY "\"",
        "a = \"" CANARY "\xc0\x80\"",
        "a = 1" CANARY,
        "a = 0x" CANARY,
        "a = 1979-05-27T" CANARY,
        "a = tru" CANARY,
        "a = [\"" CANARY "\"\n\"x\"]",
        "a = \"" CANARY "\" # comment \x7f",
        "a = \"" CANARY "\"\n[a]",
        "a = {b = \"" CANARY "\"}\na.c = 1",
        "a = \"" CANARY "\"\r",
        "a = [[[[\"" CANARY "\"",
        "a = \"" CANARY "\" \"" CANARY "\"",
        "a = '" CANARY "' = 1",
    };
    size_t n = sizeof docs / sizeof docs[0];
    for (size_t i = 0; i < n; i++) {
        /* control: the marker really is in the input */
        assert_non_null(strstr(docs[i], CANARY));
        coffer_error err;
        memset(&err, 0, sizeof err);
        coffer_doc *doc = NULL;
        int rc = coffer_toml_parse(docs[i], strlen(docs[i]), NULL, &doc, &err);
        if (rc == 0)
            fail_msg("document %zu was accepted", i);
        assert_null(doc);
        char formatted[COFFER_ERROR_MESSAGE_MAX + COFFER_ERROR_PATH_MAX + 64];
        coffer_error_format(&err, formatted, sizeof formatted);
        if (strstr(err.message, CANARY) || strstr(err.file, CANARY) ||
            memmem(&err, sizeof err, CANARY, strlen(CANARY)) ||
            strstr(formatted, CANARY))
            fail_msg("document %zu: error holds the value: %s", i, err.message);
        /* also no fragment of it */
        assert_null(strstr(err.message, "7f3a"));
    }
}

/* A check that the canary test can fail: an error that does quote a value
 * is caught by the same check. */
static void canary_check_can_fail(void **state)
{
    (void)state;
    coffer_error err;
    coffer_error_set(&err, COFFER_ESYNTAX, NULL, 1, 1, "bad value '%s'", CANARY);
    assert_non_null(strstr(err.message, CANARY));
}

/* ------------------------------------------------------------- misc parse */

static void documents_whole(void **state)
{
    (void)state;
    const char *text =
        "# This is a TOML document\n\n"
        "title = \"TOML Example\"\n\n"
        "[owner]\nname = \"Tom Preston-Werner\"\n"
        "dob = 1979-05-27T07:32:00-08:00\n\n"
        "[database]\nenabled = true\nports = [ 8000, 8001, 8002 ]\n"
        "data = [ [\"delta\", \"phi\"], [3.14] ]\n"
        "temp_targets = { cpu = 79.5, case = 72.0 }\n\n"
        "[servers]\n\n[servers.alpha]\nip = \"10.0.0.1\"\nrole = \"frontend\"\n\n"
        "[servers.beta]\nip = \"10.0.0.2\"\nrole = \"backend\"\n";
    coffer_doc *doc = parse_ok(text);
    size_t len;
    assert_string_equal(get_str(doc, "title", &len), "TOML Example");
    assert_int_equal(get_int(doc, "database.ports[2]"), 8002);
    assert_true(get_double(doc, "database.temp_targets.cpu") == 79.5);
    assert_string_equal(get_str(doc, "database.data[0][1]", &len), "phi");
    assert_string_equal(get_str(doc, "servers.beta.role", &len), "backend");
    coffer_datetime dt = get_dt(doc, "owner.dob", COFFER_TYPE_DATETIME);
    assert_int_equal(dt.offset_minutes, -480);
    /* the input was copied: the caller's text is untouched */
    assert_non_null(strstr(text, "\"TOML Example\""));
    coffer_doc_free(doc);
    /* CRLF everywhere */
    doc = parse_ok("a = 1\r\n[t]\r\nb = [\r\n 1,\r\n 2\r\n]\r\n# c\r\n");
    assert_int_equal(get_int(doc, "t.b[1]"), 2);
    coffer_doc_free(doc);
    /* no newline at end, tabs as whitespace */
    doc = parse_ok("\ta\t=\t1\t#\tc");
    assert_int_equal(get_int(doc, "a"), 1);
    coffer_doc_free(doc);
    parse_fail("a = 1\x0c");
    parse_fail("\x0c");
    parse_fail("a = 1\n\x0b");
}

/* Secrets-shaped input must not take much more memory than its size. */
static void memory_is_bounded(void **state)
{
    (void)state;
    size_t cap = 1 << 21, len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 0; len + 400 < cap; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "[service_%d]\nhost = \"db-%d.internal.example.com\"\n"
                                "port = %d\nuser = \"svc_%d\"\n"
                                "password = \"Xk3pq9LmZ0aB7cD2eF4gH6jK\"\n"
                                "api_key = \"AKIAqwertyuiopasdfghjklzxcvbnm1234567\"\n"
                                "timeout = 4.5\nenabled = true\n"
                                "tags = [\"prod\", \"eu-west-1\"]\n\n",
                                i, i, 1000 + i, i);
    coffer_doc *doc = parse_ok_n(text, len);
    size_t mem = coffer_doc_memory(doc);
    /* the copy of the text plus nodes; generous bound, not a benchmark */
    if (mem > len * 4)
        fail_msg("document memory %zu for %zu bytes of input", mem, len);
    coffer_doc_free(doc);
    free(text);
}

/* Bytes of the tree under v as laid out in the arena: member blocks at
 * their capacity (with hash slots and hashes for indexed tables),
 * containers, date-times. */
static size_t tree_bytes(const coffer_value *v)
{
    coffer_type t = coffer_value_type(v);
    if (t >= COFFER_TYPE_DATETIME && t <= COFFER_TYPE_TIME_LOCAL)
        return sizeof(coffer_datetime);
    if (t != COFFER_TYPE_TABLE && t != COFFER_TYPE_ARRAY)
        return 0;
    const coffer_container *c = v->u.c;
    size_t cap = c->cap & ~COFFER_CAP_INDEXED;
    size_t n = sizeof *c + cap * sizeof(coffer_value);
    if (c->cap & COFFER_CAP_INDEXED)
        n += cap * 3 * sizeof(uint32_t);
    for (uint32_t i = 0; i < c->count; i++)
        n += tree_bytes(&c->items[i]);
    return n;
}

/* A small document holds its text and its tree, and next to nothing
 * else: no stage, growth block or unused capacity, and a first chunk
 * sized close to what the tree takes (the benchmark's peak-memory target
 * is 3x the input for every shape, 2 KiB arrays of tables too). */
static void memory_small_documents(void **state)
{
    (void)state;
    char text[4096];
    size_t len = 0;
#define OUT(...) (len += (size_t)snprintf(text + len, sizeof text - len, __VA_ARGS__))
    OUT("# a small file\ntitle = \"secrets\"\nversion = 3\n");
    for (int i = 0; i < 6; i++) {
        OUT("\n[[servers]]\nname = \"node-%06d\"\nhost = \"10.1.%d.7\"\n"
            "port = %d\nweight = 0.5\nprimary = true\ntags = [%s]\n\n"
            "[servers.auth]\nuser = \"svc_%d\"\npassword = \"pw-%dXk3pq9LmZ0\"\n"
            "token = \"Uveu0A65El0s28Inhay1ptZh4zHtU/XrS8EkAJEkAZK2y\"\n",
            i, i, 30000 + i, i % 2 ? "\"a\", \"b\"" : "", i, i);
        for (int j = 0; j < i % 3; j++)
            OUT("\n[[servers.endpoints]]\npath = \"/x/%d\"\ntimeout_ms = %d\n", j,
                1000 * j);
        if (i == 3)
            OUT("[servers.more]\nwhen = 2024-05-01T10:00:00Z\n"
                "inline = {a = [1, 2, {b = 3}], c.d = 4}\n");
    }
    OUT("\n[other]\nx.y.z = 1\n[other.sub]\nk = 'v'\n");
#undef OUT
    coffer_doc *doc = parse_ok_n(text, len);
    const coffer_value *root = coffer_doc_root(doc);
    size_t needed = ((len + 1 + 7) & ~(size_t)7) + sizeof(coffer_doc) +
                    tree_bytes(root);
    size_t mem = coffer_doc_memory(doc);
    assert_true(mem >= needed);
    if (mem - needed > 256)
        fail_msg("document memory %zu for %zu bytes of text and %zu of tree",
                 mem, len, needed);
    /* no unused capacity in any container of the tree */
    assert_int_equal(coffer_array_count(get(doc, "servers")), 6);
    assert_int_equal(get(doc, "servers")->u.c->cap, 6);
    assert_int_equal(root->u.c->cap, root->u.c->count);
    assert_int_equal(get(doc, "servers[3]")->u.c->cap, 8);
    assert_int_equal(get(doc, "servers[3].more.inline.a")->u.c->cap, 3);
    assert_int_equal(get_int(doc, "servers[3].more.inline.a[2].b"), 3);
    assert_int_equal(get_int(doc, "servers[3].more.inline.c.d"), 4);
    coffer_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings_basic_escapes),
        cmocka_unit_test(strings_invalid_escapes),
        cmocka_unit_test(strings_multiline),
        cmocka_unit_test(strings_literal),
        cmocka_unit_test(strings_control_and_utf8),
        cmocka_unit_test(numbers_integers),
        cmocka_unit_test(numbers_floats),
        cmocka_unit_test(numbers_bool),
        cmocka_unit_test(datetimes_kinds),
        cmocka_unit_test(datetimes_validation),
        cmocka_unit_test(keys_dotted_and_quoted),
        cmocka_unit_test(tables_redefinition_rules),
        cmocka_unit_test(tables_arrays_of_tables),
        cmocka_unit_test(tables_inline_and_arrays),
        cmocka_unit_test(tables_definition_order),
        cmocka_unit_test(tables_many_keys),
        cmocka_unit_test(tables_stage_boundaries),
        cmocka_unit_test(errors_positions),
        cmocka_unit_test(values_positions),
        cmocka_unit_test(limits_depth),
        cmocka_unit_test(limits_depth_small_stack),
        cmocka_unit_test(d2_depth_limit_every_route),
        cmocka_unit_test(limits_input_and_key),
        cmocka_unit_test(seek_paths),
        cmocka_unit_test(path_walk_steps),
        cmocka_unit_test(accessors_types),
        cmocka_unit_test(owned_and_allocator),
        cmocka_unit_test(stages_come_from_the_allocator),
        cmocka_unit_test(errors_never_hold_values),
        cmocka_unit_test(canary_check_can_fail),
        cmocka_unit_test(documents_whole),
        cmocka_unit_test(memory_is_bounded),
        cmocka_unit_test(memory_small_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
