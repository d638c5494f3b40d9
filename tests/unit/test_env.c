/* test_env.c - environment export and un-export of root-level secrets. */
#include "testutil.h"

#include "store_testutil.h"

/* ------------------------------------------------------------- tests */

static void env_names(void **state)
{
    (void)state;
    assert_true(coffer_env_name_ok("db_password", 11));
    assert_true(coffer_env_name_ok("db-password", 11));
    assert_true(coffer_env_name_ok("1abc", 4));
    assert_false(coffer_env_name_ok("", 0));
    assert_false(coffer_env_name_ok("a=b", 3));
    assert_false(coffer_env_name_ok("a\0b", 3));
    assert_false(coffer_env_name_ok(NULL, 0));
    assert_true(coffer_env_name_portable("DB_PASSWORD", 11));
    assert_true(coffer_env_name_portable("_x9", 3));
    assert_false(coffer_env_name_portable("db-password", 11));
    assert_false(coffer_env_name_portable("1abc", 4));
    assert_false(coffer_env_name_portable("a.b", 3));
    assert_false(coffer_env_name_portable("", 0));
}

static const coffer_value *member(coffer_doc *doc, const char *key)
{
    return coffer_table_get(coffer_doc_root(doc), key, strlen(key));
}

static void env_value_forms(void **state)
{
    (void)state;
    static const char text[] =
        "s = \"a b\\nc\"\ni = 5432\nneg = -7\nf1 = 0.1\nf2 = 1.0\nf3 = 1e20\n"
        "f4 = inf\nf5 = nan\nf6 = -0.0\nb = true\nd = 1979-05-27\n"
        "arr = [1]\nt = { x = 1 }\n";
    coffer_doc *doc;
    coffer_error err;
    assert_int_equal(coffer_toml_parse(text, sizeof text - 1, NULL, &doc, &err), 0);
    coffer_secbuf b = { NULL, 0, 0 };
    static const struct { const char *key, *want; } ok[] = {
        { "s", "a b\nc" }, { "i", "5432" }, { "neg", "-7" }, { "f1", "0.1" },
        { "f2", "1.0" }, { "f3", "1e+20" }, { "f4", "inf" }, { "f5", "nan" },
        { "f6", "-0.0" },
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        assert_int_equal(coffer_env_value(member(doc, ok[k].key), &b), 1);
        assert_string_equal(b.data, ok[k].want);
        assert_int_equal(b.len, strlen(ok[k].want));
    }
    static const char *no[] = { "b", "d", "arr", "t" };
    for (size_t k = 0; k < 4; k++)
        assert_int_equal(coffer_env_value(member(doc, no[k]), &b), 0);
    assert_int_equal(coffer_env_value(NULL, &b), COFFER_EINVAL);
    coffer_secbuf_release(&b);
    coffer_doc_free(doc);
}

static void export_and_unexport(void **state)
{
    (void)state;
    write_at(project_file(),
             "CT_STR = \"hello world\"\nCT_INT = 5432\nCT_FLOAT = 0.1\n"
             "CT_BIG = 1e20\nCT_ONE = 1.0\nCT_BOOL = true\nCT_DATE = 1979-05-27\n"
             "CT_ARR = [\"a\"]\n\"CT-DASH\" = \"dash\"\n\"CT=EQ\" = \"eq\"\n"
             "\"\" = \"empty\"\n[CT_TABLE]\nx = \"y\"\n", 0600);
    unsetenv("CT_STR"); unsetenv("CT_INT"); unsetenv("CT_FLOAT");
    unsetenv("CT_BOOL"); unsetenv("CT_TABLE");
    setenv("CT-DASH", "stale", 1); /* D7: a non-portable name is unset */
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("CT_STR"), "hello world");
    assert_string_equal(getenv("CT_INT"), "5432");
    assert_string_equal(getenv("CT_FLOAT"), "0.1");
    assert_string_equal(getenv("CT_BIG"), "1e+20");
    assert_string_equal(getenv("CT_ONE"), "1.0");
    assert_null(getenv("CT-DASH")); /* not portable: not exported, unset */
    assert_null(getenv("CT_BOOL"));
    assert_null(getenv("CT_DATE"));
    assert_null(getenv("CT_ARR"));
    assert_null(getenv("CT_TABLE"));
    assert_null(getenv("CT"));
    /* Un-export removes exactly what coffer set, integers and floats
     * included (the reference compares them as strings and misses them). */
    assert_int_equal(coffer_store_unexport(s), 5);
    assert_null(getenv("CT_STR"));
    assert_null(getenv("CT_INT"));
    assert_null(getenv("CT_FLOAT"));
    assert_null(getenv("CT_BIG"));
    assert_null(getenv("CT-DASH"));
    /* A second un-export does nothing. */
    assert_int_equal(coffer_store_unexport(s), 0);
    /* A variable changed by the user after the export is left alone. */
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    setenv("CT_INT", "9999", 1);
    unsetenv("CT_FLOAT");
    assert_int_equal(coffer_store_unexport(s), 3);
    assert_string_equal(getenv("CT_INT"), "9999");
    assert_null(getenv("CT_STR"));
    unsetenv("CT_INT");
    coffer_store_close(s);
}

static void keep_existing(void **state)
{
    (void)state;
    write_at(project_file(), "KE_A = \"secret-a\"\nKE_B = 7\n", 0600);
    setenv("KE_A", "user-value", 1);
    unsetenv("KE_B");
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, COFFER_EXPORT_KEEP_EXISTING, &err), 0);
    assert_string_equal(getenv("KE_A"), "user-value");
    assert_string_equal(getenv("KE_B"), "7");
    /* Un-export leaves the user's variable alone. */
    assert_int_equal(coffer_store_unexport(s), 1);
    assert_string_equal(getenv("KE_A"), "user-value");
    assert_null(getenv("KE_B"));
    /* Default: overwrite (as the reference does). */
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("KE_A"), "secret-a");
    /* Re-exporting with keep-existing updates coffer's own variables. */
    assert_int_equal(coffer_store_export(s, COFFER_EXPORT_KEEP_EXISTING, &err), 0);
    assert_string_equal(getenv("KE_A"), "secret-a");
    assert_int_equal(coffer_store_unexport(s), 2);
    assert_null(getenv("KE_A"));
    coffer_store_close(s);
}

static void reexport_after_reload(void **state)
{
    (void)state;
    write_at(project_file(), "RX_A = \"one\"\nRX_B = 2\nRX_C = \"c\"\nRX_D = \"d\"\n", 0600);
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("RX_B"), "2");
    setenv("RX_D", "user-d", 1); /* the user takes RX_D over */
    write_at(project_file(), "RX_A = \"uno\"\nRX_B = 2.5\nRX_E = true\n", 0600);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("RX_A"), "uno");
    assert_string_equal(getenv("RX_B"), "2.5");
    assert_null(getenv("RX_C"));                 /* removed: unset */
    assert_string_equal(getenv("RX_D"), "user-d"); /* removed, but not ours */
    assert_null(getenv("RX_E"));
    assert_int_equal(coffer_store_unexport(s), 2);
    assert_null(getenv("RX_A"));
    unsetenv("RX_D");
    coffer_store_close(s);
}

static void export_errors(void **state)
{
    (void)state;
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), COFFER_ENOSECRETS);
    assert_int_equal(coffer_store_unexport(s), 0);
    assert_int_equal(coffer_store_unexport(NULL), 0);
    coffer_store_close(s);
}

/* The environment points into coffer's locked record (putenv, no plain
 * copy); closing the store must leave the variables readable (ASan would
 * catch a dangling pointer), and a later setenv by the user is safe. */
static void variables_survive_close(void **state)
{
    (void)state;
    write_at(project_file(), "SC_A = \"alpha\"\nSC_B = 42\nSC_C = \"c\"\n", 0600);
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    setenv("SC_C", "user", 1);
    /* Re-export after a reload moves the environment to the new record. */
    write_at(project_file(), "SC_A = \"alpha2\"\nSC_B = 42\n", 0600);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("SC_A"), "alpha2");
    assert_string_equal(getenv("SC_C"), "user");
    coffer_store_close(s);
    assert_string_equal(getenv("SC_A"), "alpha2");
    assert_string_equal(getenv("SC_B"), "42");
    /* Overwrite and unset still work on what remains. */
    setenv("SC_A", "x", 1);
    unsetenv("SC_A");
    unsetenv("SC_B");
    unsetenv("SC_C");
    /* Export, then unexport, then close: nothing left behind. */
    s = open_default();
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_int_equal(coffer_store_unexport(s), 2);
    coffer_store_close(s);
    assert_null(getenv("SC_A"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(env_names),
        cmocka_unit_test(env_value_forms),
        cmocka_unit_test_setup_teardown(export_and_unexport, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(keep_existing, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(reexport_after_reload, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(export_errors, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(variables_survive_close, sb_setup, sb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
