/* test_json.c - the strict JSON reader of the etcd client (src/remote/json.c):
 * RFC 8259 acceptance and rejection, the depth bound, lookups, int64 as
 * strings, unescaping, and base64 values decoded into secure memory. */
#include "testutil.h"

#include "remote/json.h"

static int parse(const char *text, coffer_json *j, coffer_error *err)
{
    memset(err, 0, sizeof *err);
    return coffer_json_parse(j, text, strlen(text), 0, err);
}

static void valid_documents(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{}", "[]", "0", "-0", "1.5e10", "-12.25E-3", "true", "false", "null",
        "\"\"", " \t\r\n{ \"a\" : [ 1 , 2 , { } , [ ] ] } \n",
        "{\"a\":{\"b\":{\"c\":[null,true,false,\"x\"]}}}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"",
        "\"caf\xc3\xa9\"", "[1,[2,[3,[4]]]]", "{\"a\":1,\"a\":2}",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        coffer_json j;
        coffer_error err;
        int rc = parse(ok[i], &j, &err);
        if (rc != 0)
            fail_msg("rejected %s: %s", ok[i], err.message);
        coffer_json_release(&j);
    }
}

static void invalid_documents(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "{", "}", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}",
        "{\"a\":}", "01", "-", "1.", ".5", "1e", "+1", "0x10", "NaN",
        "Infinity", "tru", "nul", "'a'", "\"abc", "\"a\tb\"", "\"\\x\"",
        "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "1 2", "{} {}",
        "[1] x", "/* c */ 1", "[1,2", "{\"a\":[}", "[}", "{]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        coffer_json j;
        coffer_error err;
        int rc = parse(bad[i], &j, &err);
        if (rc != COFFER_ESYNTAX)
            fail_msg("accepted or wrong code %d for '%s'", rc, bad[i]);
        assert_non_null(strstr(err.message, "invalid json at byte"));
        coffer_json_release(&j);
    }
}

static void messages_never_quote_the_text(void **state)
{
    (void)state;
    coffer_json j;
    coffer_error err;
    assert_int_equal(parse("{\"value\":\"TOPSECRET\" x}", &j, &err),
                     COFFER_ESYNTAX);
    assert_null(strstr(err.message, "TOPSECRET"));
    coffer_json_release(&j);
}

static void depth_is_bounded(void **state)
{
    (void)state;
    size_t n = 100000;
    char *deep = malloc(2 * n + 1);
    assert_non_null(deep);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    coffer_json j;
    coffer_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(coffer_json_parse(&j, deep, 2 * n, 0, &err), COFFER_ELIMIT);
    coffer_json_release(&j);
    /* exactly at the bound is fine, one more is not */
    assert_int_equal(coffer_json_parse(&j, deep + n - 64, 128, 64, &err), 0);
    coffer_json_release(&j);
    assert_int_equal(coffer_json_parse(&j, deep + n - 65, 130, 64, &err),
                     COFFER_ELIMIT);
    coffer_json_release(&j);
    /* a bigger bound on request */
    assert_int_equal(coffer_json_parse(&j, deep + n - 500, 1000, 600, &err), 0);
    coffer_json_release(&j);
    free(deep);
}

static void lookups_and_integers(void **state)
{
    (void)state;
    const char *t =
        "{\"header\":{\"revision\":\"42\",\"raft_term\":\"3\"},"
        "\"kvs\":[{\"key\":\"YXBw\",\"mod_revision\":\"41\",\"n\":-7},"
        "{\"key\":\"eA==\"}],\"count\":\"2\",\"more\":false,"
        "\"big\":\"9223372036854775807\",\"over\":\"9223372036854775808\","
        "\"frac\":1.5,\"lead\":\"007\"}";
    coffer_json j;
    coffer_error err;
    assert_int_equal(parse(t, &j, &err), 0);
    int64_t v = 0;
    assert_true(coffer_json_int(&j, coffer_json_path(&j, 0, "header", "revision",
                                                     (const char *)NULL), &v));
    assert_int_equal(v, 42);
    long kvs = coffer_json_get(&j, 0, "kvs");
    long kv1 = coffer_json_at(&j, kvs, 1);
    assert_true(kv1 > 0);
    assert_int_equal(coffer_json_at(&j, kvs, 2), -1);
    assert_true(coffer_json_int(&j, coffer_json_get(&j, coffer_json_at(&j, kvs, 0),
                                                    "n"), &v));
    assert_int_equal(v, -7);
    assert_true(coffer_json_int(&j, coffer_json_get(&j, 0, "big"), &v));
    assert_int_equal(v, INT64_MAX);
    assert_false(coffer_json_int(&j, coffer_json_get(&j, 0, "over"), &v));
    assert_false(coffer_json_int(&j, coffer_json_get(&j, 0, "frac"), &v));
    assert_false(coffer_json_int(&j, coffer_json_get(&j, 0, "lead"), &v));
    assert_int_equal(coffer_json_get(&j, 0, "absent"), -1);
    assert_int_equal(coffer_json_get(&j, kvs, "key"), -1); /* not an object */
    assert_false(coffer_json_true(&j, coffer_json_get(&j, 0, "more")));
    /* the member after a nested subtree is found */
    assert_true(coffer_json_get(&j, 0, "count") > kv1);
    coffer_json_release(&j);
}

static void strings_unescape(void **state)
{
    (void)state;
    coffer_json j;
    coffer_error err;
    assert_int_equal(parse("[\"a\\n\\u00e9\\ud83d\\ude00\\\"\"]", &j, &err), 0);
    char out[32];
    long n = coffer_json_string(&j, coffer_json_at(&j, 0, 0), out, sizeof out);
    assert_int_equal(n, 1 + 1 + 2 + 4 + 1);
    assert_memory_equal(out, "a\n\xc3\xa9\xf0\x9f\x98\x80\"", (size_t)n);
    assert_int_equal(coffer_json_string(&j, coffer_json_at(&j, 0, 0), out, 4), -1);
    coffer_json_release(&j);
}

static void base64_into_secure_memory(void **state)
{
    (void)state;
    /* "password = \"s3cret\"\n" */
    const char *t = "{\"value\":\"cGFzc3dvcmQgPSAiczNjcmV0Igo=\",\"bad\":\"cGF*\","
                    "\"short\":\"cGE\",\"esc\":\"cGF\\/\"}";
    coffer_json j;
    coffer_error err;
    assert_int_equal(parse(t, &j, &err), 0);
    long v = coffer_json_get(&j, 0, "value");
    size_t max = coffer_json_base64_max(&j, v);
    assert_true(max >= 20);
    const coffer_allocator *a = coffer_allocator_secure();
    char *buf = a->alloc(a->ctx, max + 1);
    assert_non_null(buf);
    size_t n = 0;
    assert_int_equal(coffer_json_base64(&j, v, buf, max + 1, &n), 0);
    assert_int_equal(n, 20);
    assert_memory_equal(buf, "password = \"s3cret\"\n", 20);
    assert_int_equal(coffer_json_base64(&j, v, buf, 10, &n), -1); /* too small */
    assert_int_equal(coffer_json_base64(&j, coffer_json_get(&j, 0, "bad"), buf,
                                        max + 1, &n), -1);
    assert_int_equal(coffer_json_base64(&j, coffer_json_get(&j, 0, "short"), buf,
                                        max + 1, &n), -1);
    assert_int_equal(coffer_json_base64(&j, coffer_json_get(&j, 0, "esc"), buf,
                                        max + 1, &n), -1);
    coffer_memzero(buf, max + 1);
    a->release(a->ctx, buf, max + 1);
    coffer_json_release(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_documents),
        cmocka_unit_test(invalid_documents),
        cmocka_unit_test(messages_never_quote_the_text),
        cmocka_unit_test(depth_is_bounded),
        cmocka_unit_test(lookups_and_integers),
        cmocka_unit_test(strings_unescape),
        cmocka_unit_test(base64_into_secure_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
