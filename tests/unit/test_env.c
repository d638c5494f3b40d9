/* test_env.c - environment export and un-export of root-level secrets. */
#include "testutil.h"

#include "store_testutil.h"

#include <sys/wait.h>
#include <unistd.h>

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

/* --------------------------------------------- D6: getenv() lifetime */

/* The report's three reproductions: a getenv() pointer kept across a
 * reload + re-export, an unexport and a close must stay readable (the
 * old code unmapped the record: SIGSEGV, caught by ASan in make asan). */
static void d6_getenv_pointers_never_dangle(void **state)
{
    (void)state;
    write_at(project_file(), "D6_PW = \"first\"\nD6_KEEP = \"same\"\n", 0600);
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    const char *p = getenv("D6_PW"), *keep = getenv("D6_KEEP");
    assert_string_equal(p, "first");
    /* 1. reload + re-export: the replaced value's old string reads "";
     * the unchanged one keeps its string. */
    write_at(project_file(), "D6_PW = \"second\"\nD6_KEEP = \"same\"\n", 0600);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("D6_PW"), "second");
    assert_string_equal(p, "");
    assert_ptr_equal(getenv("D6_KEEP"), keep);
    assert_string_equal(keep, "same");
    /* Re-exporting many times keeps every old pointer readable. */
    const char *olds[20];
    for (int i = 0; i < 20; i++) {
        char text[64];
        snprintf(text, sizeof text, "D6_PW = \"v%d\"\nD6_KEEP = \"same\"\n", i);
        write_at(project_file(), text, 0600);
        assert_int_equal(coffer_store_reload(s, &err), 0);
        assert_int_equal(coffer_store_export(s, 0, &err), 0);
        olds[i] = getenv("D6_PW");
    }
    for (int i = 0; i < 19; i++)
        assert_string_equal(olds[i], "");
    assert_string_equal(olds[19], "v19");
    /* 2. unexport: wiped, still mapped. */
    const char *q = getenv("D6_PW");
    assert_int_equal(coffer_store_unexport(s), 2);
    assert_null(getenv("D6_PW"));
    assert_string_equal(q, "");
    assert_string_equal(keep, "");
    /* 3. close: the variable stays set and the old pointer still reads it. */
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    const char *r = getenv("D6_PW");
    assert_string_equal(r, "v19");
    coffer_store_close(s);
    assert_ptr_equal(getenv("D6_PW"), r);
    assert_string_equal(r, "v19");
    unsetenv("D6_PW");
    unsetenv("D6_KEEP");
    assert_string_equal(r, "v19"); /* unset by the user: coffer never knew */
}

/* ------------------------------------------------ D7: NUL values etc. */

static void d7_nul_value_unsets_stale_parent(void **state)
{
    (void)state;
    write_at(project_file(),
             "D7_PW = \"new\\u0000secret\"\n\"D7-DASH\" = \"x\"\nD7_OK = \"ok\"\n",
             0600);
    setenv("D7_PW", "stale-outer-value", 1);
    setenv("D7-DASH", "stale", 1);
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_null(getenv("D7_PW"));
    assert_null(getenv("D7-DASH"));
    assert_string_equal(getenv("D7_OK"), "ok");
    /* --keep-existing: the caller's value is theirs to keep. */
    setenv("D7_PW", "mine", 1);
    assert_int_equal(coffer_store_export(s, COFFER_EXPORT_KEEP_EXISTING, &err), 0);
    assert_string_equal(getenv("D7_PW"), "mine");
    assert_int_equal(coffer_store_unexport(s), 1);
    unsetenv("D7_PW");
    /* check reports it (one definition with the export). */
    findings f;
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 0);
    assert_non_null(strstr(f.log, "1|"));
    assert_non_null(strstr(f.log, "the value of key 'D7_PW' contains a NUL byte"));
    assert_non_null(strstr(f.log, "key 'D7-DASH' is not a portable"));
    coffer_store_close(s);
}

/* ------------------------------------------------ D4: dangerous names */

static const char d4_file[] =
    "PATH = \"/evil/bin\"\nLD_PRELOAD = \"/evil.so\"\nBASH_ENV = \"/evil.sh\"\n"
    "IFS = \"x\"\nPS4 = \"$(touch /tmp/PWNED_ps4)\"\nGIT_SSH_COMMAND = \"evil\"\n"
    "COFFER_ALLOW_ENV = \"LD_PRELOAD\"\nNODE_OPTIONS = \"--require /evil.js\"\n"
    "D4_APP = \"fine\"\n";

static void d4_dangerous_names_not_exported(void **state)
{
    (void)state;
    write_at(project_file(), d4_file, 0600);
    char *path0 = strdup(getenv("PATH"));
    unsetenv("LD_PRELOAD"); unsetenv("BASH_ENV"); unsetenv("IFS");
    unsetenv("PS4"); unsetenv("GIT_SSH_COMMAND"); unsetenv("COFFER_ALLOW_ENV");
    unsetenv("NODE_OPTIONS");
    coffer_store *s = open_default();
    coffer_error err;
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("PATH"), path0); /* the caller's own PATH */
    assert_null(getenv("LD_PRELOAD"));
    assert_null(getenv("BASH_ENV"));
    assert_null(getenv("IFS"));
    assert_null(getenv("PS4"));
    assert_null(getenv("GIT_SSH_COMMAND"));
    assert_null(getenv("COFFER_ALLOW_ENV"));
    assert_null(getenv("NODE_OPTIONS"));
    assert_string_equal(getenv("D4_APP"), "fine");
    /* Allowed by the library call, and by $COFFER_ALLOW_ENV; never
     * COFFER_ALLOW_ENV itself (a source could allow anything). */
    static const char *const allow[] = { "IFS", "COFFER_ALLOW_ENV", NULL };
    coffer_env_options o;
    memset(&o, 0, sizeof o);
    o.allow = allow;
    setenv("COFFER_ALLOW_ENV", "PS4, BASH_ENV", 1);
    assert_int_equal(coffer_store_export_with(s, &o, &err), 0);
    assert_string_equal(getenv("IFS"), "x");
    assert_string_equal(getenv("PS4"), "$(touch /tmp/PWNED_ps4)");
    assert_string_equal(getenv("BASH_ENV"), "/evil.sh");
    assert_string_equal(getenv("COFFER_ALLOW_ENV"), "PS4, BASH_ENV");
    assert_null(getenv("LD_PRELOAD"));
    unsetenv("COFFER_ALLOW_ENV");
    /* No longer allowed: coffer unsets what it had set. */
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_null(getenv("IFS"));
    assert_null(getenv("PS4"));
    assert_string_equal(getenv("PATH"), path0);
    /* check: a warning, an error in strict mode. */
    findings f;
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 0);
    assert_non_null(strstr(f.log, "1|"));
    assert_non_null(strstr(f.log, "key 'LD_PRELOAD' names a loader"));
    coffer_store_unexport(s);
    coffer_store_close(s);
    assert_int_equal(open_opts(&s, COFFER_STORE_STRICT_PERMS, NULL, 0, &err), 0);
    memset(&f, 0, sizeof f);
    assert_int_equal(coffer_store_check(s, on_finding, &f), 8);
    coffer_store_close(s);
    /* The table. */
    static const char *yes[] = { "PATH", "LD_LIBRARY_PATH", "LD_AUDIT",
        "MALLOC_CHECK_", "GLIBC_TUNABLES", "PS1", "PS3", "PROMPT_COMMAND",
        "PYTHONSTARTUP", "PERL5OPT", "RUBYOPT", "GCONV_PATH", "RESOLV_HOST_CONF",
        "COFFER_SECRETS", "STREAMLIT_SECRETS_FILES", "GIT_DIR", "HOSTALIASES" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        assert_true(coffer_env_name_dangerous(yes[i], strlen(yes[i])));
    static const char *no[] = { "path", "PATHS", "DB_PASSWORD", "LD", "PS5",
        "GIT", "APP_PATH", "COFFER" };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        assert_false(coffer_env_name_dangerous(no[i], strlen(no[i])));
    free(path0);
}

/* ----------------------------------------------- env naming (issue 13) */

struct names { char log[2048]; };

static int log_item(void *ctx, const coffer_env_item *it)
{
    struct names *N = ctx;
    size_t n = strlen(N->log);
    snprintf(N->log + n, sizeof N->log - n, "%s=%s/%d%s\n", it->name,
             it->text ? it->text : "-", (int)it->status, it->unset ? "u" : "");
    return 0;
}

static void env_naming_prefix_upper_booleans(void **state)
{
    (void)state;
    static const char text[] =
        "db_password = \"pw\"\nport = 5432\nflag = true\noff = false\n"
        "DB_PASSWORD = \"dup\"\npath = \"/x\"\nd = 1979-05-27\n";
    coffer_doc *doc;
    coffer_error err;
    assert_int_equal(coffer_toml_parse(text, sizeof text - 1, NULL, &doc, &err), 0);
    struct names N = { "" };
    assert_int_equal(coffer_env_plan(coffer_doc_root(doc), NULL, log_item, &N), 0);
    assert_string_equal(N.log, "db_password=pw/0\nport=5432/0\n"
                               "DB_PASSWORD=dup/0\npath=/x/0\n");
    coffer_env_options o = { COFFER_EXPORT_UPPER | COFFER_EXPORT_BOOLEANS, NULL, NULL };
    N.log[0] = '\0';
    assert_int_equal(coffer_env_plan(coffer_doc_root(doc), &o, log_item, &N), 0);
    assert_string_equal(N.log, "DB_PASSWORD=pw/0\nPORT=5432/0\nFLAG=true/0\n"
                               "OFF=false/0\nDB_PASSWORD=-/5\nPATH=-/4\n");
    o.prefix = "APP_";
    N.log[0] = '\0';
    assert_int_equal(coffer_env_plan(coffer_doc_root(doc), &o, log_item, &N), 0);
    assert_string_equal(N.log, "APP_DB_PASSWORD=pw/0\nAPP_PORT=5432/0\n"
                               "APP_FLAG=true/0\nAPP_OFF=false/0\n"
                               "APP_DB_PASSWORD=-/5\nAPP_PATH=/x/0\n");
    assert_int_equal(coffer_env_plan(NULL, NULL, log_item, &N), COFFER_EINVAL);
    coffer_doc_free(doc);
    /* Through the store export. */
    write_at(project_file(), "nm_token = \"t\"\nnm_on = true\n", 0600);
    coffer_store *s = open_default();
    o.prefix = "CT_";
    assert_int_equal(coffer_store_export_with(s, &o, &err), 0);
    assert_string_equal(getenv("CT_NM_TOKEN"), "t");
    assert_string_equal(getenv("CT_NM_ON"), "true");
    assert_null(getenv("nm_token"));
    assert_int_equal(coffer_store_unexport(s), 2);
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("nm_token"), "t");
    assert_null(getenv("nm_on")); /* booleans stay unexported by default */
    coffer_store_unexport(s);
    coffer_store_close(s);
}

/* --------------------------------------- D3: quoting and the reader */

static void d3_quote_forms(void **state)
{
    (void)state;
    static const struct { const char *in; size_t n; int syn, rc; const char *out; } c[] = {
        { "a'b", 3, COFFER_ENV_SYNTAX_SH, 1, "'a'\\''b'" },
        { "x\\", 2, COFFER_ENV_SYNTAX_SH, 1, "'x\\'" },
        { "x\\", 2, COFFER_ENV_SYNTAX_DOTENV, 1, "x\\" },
        { "a b\\", 4, COFFER_ENV_SYNTAX_DOTENV, 0, "" },
        { "'x\\", 3, COFFER_ENV_SYNTAX_DOTENV, 0, "" },
        { "\xc3\xa9\\", 3, COFFER_ENV_SYNTAX_DOTENV, 0, "" },
        { "a\r\nb\"c\\d'e$f`g", 14, COFFER_ENV_SYNTAX_DOTENV, 1,
          "\"a\\r\\nb\\\"c\\\\d'e$f`g\"" },
        { "${HOME}", 7, COFFER_ENV_SYNTAX_DOTENV, 0, "" },
        { "${A:-b}", 7, COFFER_ENV_SYNTAX_DOTENV, 0, "" },
        { "${A:b}", 6, COFFER_ENV_SYNTAX_DOTENV, 1, "\"${A:b}\"" },
        { "${", 2, COFFER_ENV_SYNTAX_DOTENV, 1, "\"${\"" },
        { "a\0b", 3, COFFER_ENV_SYNTAX_SH, 0, "" },
        { "a\0b", 3, COFFER_ENV_SYNTAX_DOTENV, 0, "" },
        { "", 0, COFFER_ENV_SYNTAX_DOTENV, 1, "\"\"" },
    };
    coffer_secbuf b = { NULL, 0, 0 };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        b.len = 0;
        if (b.data)
            b.data[0] = '\0';
        const char *why = NULL;
        int rc = coffer_env_quote(&b, (coffer_env_syntax)c[i].syn, c[i].in,
                                  c[i].n, &why);
        assert_int_equal(rc, c[i].rc);
        assert_non_null(why);
        if (rc == 1)
            assert_string_equal(b.data, c[i].out);
        else
            assert_true(why[0] != '\0' && b.len == 0);
    }
    coffer_secbuf_release(&b);
}

static coffer_store *open_dotenv(const char *content, coffer_error *err, int *rc)
{
    write_at(sbp("proj/app.env"), content, 0600);
    static char src[1100];
    snprintf(src, sizeof src, "dotenv:%s", sbp("proj/app.env"));
    const char *paths[] = { src };
    coffer_store *s = NULL;
    assert_int_equal(open_opts(&s, COFFER_STORE_NO_ENV_SOURCES, paths, 1, err), 0);
    coffer_snapshot *snap;
    *rc = coffer_store_acquire(s, &snap, err);
    if (*rc == 0)
        coffer_snapshot_release(snap);
    return s;
}

static void d3_dotenv_reader(void **state)
{
    (void)state;
    static const char text[] =
        "\xef\xbb\xbf# a comment\n"
        "A=plain value  # comment\n"
        "export B=\"dq \\\\ \\\" \\n \\r \\t \\' \\x $X `c`\"\n"
        "  C = 'sq \\\\ \\' \\n'   # after\r\n"
        "D=\"multi\r\nline\rend\"\n"
        "E=\n"
        "F=x\\\n"
        "G=a#b\n"
        "H=\"\"\n"
        "spring.datasource.url=jdbc:x\n"
        "I='${literal'\n";
    coffer_error err;
    int rc;
    coffer_store *s = open_dotenv(text, &err, &rc);
    assert_int_equal(rc, 0);
    static const struct { const char *k, *v; unsigned line; } want[] = {
        { "A", "plain value", 2 }, { "B", "dq \\ \" \n \r \t ' \\x $X `c`", 3 },
        { "C", "sq \\ ' \\n", 4 }, { "D", "multi\nline\nend", 5 },
        { "E", "", 8 }, { "F", "x\\", 9 }, { "G", "a#b", 10 }, { "H", "", 11 },
        { "\"spring.datasource.url\"", "jdbc:x", 12 }, { "I", "${literal", 13 },
    };
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    assert_int_equal(coffer_table_count(coffer_snapshot_root(snap)), 10);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *v, *file;
        size_t n;
        unsigned line;
        assert_int_equal(coffer_snapshot_get_string(snap, want[i].k, &v, &n, &err), 0);
        assert_int_equal(n, strlen(want[i].v));
        assert_memory_equal(v, want[i].v, n);
        assert_int_equal(coffer_snapshot_where(snap, want[i].k, &file, &line, &err), 0);
        assert_string_equal(file, sbp("proj/app.env"));
        assert_int_equal(line, want[i].line);
    }
    coffer_snapshot_release(snap);
    coffer_source_info info;
    assert_int_equal(coffer_store_source(s, 0, &info), 0);
    assert_int_equal(info.kind, COFFER_SOURCE_DOTENV);
    assert_string_equal(coffer_source_kind_name(COFFER_SOURCE_DOTENV), "dotenv");
    coffer_store_close(s);

    /* Strict: each of these is an error with its line and column. */
    static const struct { const char *text; unsigned line, col; const char *msg; } bad[] = {
        { "A=1\nNOEQUALS\n", 2, 9, "expected '=' after the variable name 'NOEQUALS'" },
        { "A=\"open\nB=2\n", 1, 3, "unterminated double-quoted value of 'A'" },
        { "A='open\n", 1, 3, "unterminated single-quoted value of 'A'" },
        { "A=\"x\" y\n", 1, 7, "unexpected text after the closing quote of 'A'" },
        { "A=1\nA=2\n", 2, 1, "duplicate variable (first on line 1) 'A'" },
        { "A=${HOME}/x\n", 1, 3, "a ${...} reference" },
        { "A=\"${B:-x}\"\n", 1, 3, "a ${...} reference" },
        { "=x\n", 1, 1, "expected a variable name" },
        { "A-\x01=x\n", 1, 3, "expected '=' after the variable name 'A-'" },
        { "A=a\0b\n", 1, 4, "NUL byte" },
        { "A=\xff\n", 0, 0, "not valid utf-8" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i].text);
        if (strstr(bad[i].msg, "NUL"))
            len = 7;
        write_at(sbp("proj/app.env"), "", 0600);
        FILE *f = fopen(sbp("proj/app.env"), "w");
        fwrite(bad[i].text, 1, len, f);
        fclose(f);
        char src[1100];
        snprintf(src, sizeof src, "dotenv:%s", sbp("proj/app.env"));
        const char *paths[] = { src };
        assert_int_equal(open_opts(&s, COFFER_STORE_NO_ENV_SOURCES, paths, 1, &err), 0);
        assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_ESYNTAX);
        if (!strstr(err.message, bad[i].msg))
            fail_msg("case %zu: message '%s'", i, err.message);
        assert_int_equal(err.line, bad[i].line);
        assert_int_equal(err.column, bad[i].col);
        assert_string_equal(err.file, sbp("proj/app.env"));
        coffer_store_close(s);
    }
}

/* ---------------------------------------- D10: keys in diagnostics */

static void d10_key_display_escapes(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(coffer_key_display(buf, sizeof buf, "db_pw", 5), "db_pw");
    assert_string_equal(coffer_key_display(buf, sizeof buf, "a\nb\x1b[2K\a", 8),
                        "\"a\\u000ab\\u001b[2K\\u0007\"");
    assert_string_equal(coffer_key_display(buf, sizeof buf, "q\"'\\", 4),
                        "\"q\\\"'\\\\\"");
    /* C1 CSI (U+009B) and a bidi override (U+202E) are escaped too. */
    assert_string_equal(coffer_key_display(buf, sizeof buf, "x\xc2\x9by\xe2\x80\xaez", 8),
                        "\"x\\u009by\\u202ez\"");
    assert_string_equal(coffer_key_display(buf, sizeof buf, "\xc3\xa9t\xc3\xa9", 5),
                        "\xc3\xa9t\xc3\xa9");
    char longkey[300];
    memset(longkey, 'k', sizeof longkey);
    coffer_key_display(buf, sizeof buf, longkey, sizeof longkey);
    assert_int_equal(strlen(buf), sizeof buf - 1);
    assert_string_equal(buf + sizeof buf - 4, "...");
    memset(longkey, '\n', sizeof longkey);
    coffer_key_display(buf, 20, longkey, sizeof longkey);
    assert_null(strchr(buf, '\n'));
    assert_non_null(strstr(buf, "..."));
}

/* ------------------------------ D14: COFFER_SECRETS in the env block */

#define D14_MARKER "D14MARKER_5b2e9c"

/* The child: COFFER_SECRETS came in its initial environment (on the
 * stack, shown by /proc/self/environ). After opening the default store
 * the marker must be gone from there, and from getenv(). */
static int d14_child(void)
{
    coffer_store *s = coffer_default_store();
    const char *v;
    coffer_error err;
    if (!s || coffer_store_get_string(s, "token", &v, &err) != 0 ||
        strcmp(v, D14_MARKER) != 0)
        return 2;
    if (getenv("COFFER_SECRETS"))
        return 3;
    FILE *f = fopen("/proc/self/environ", "r");
    if (!f)
        return 4;
    static char env[1 << 16];
    size_t n = fread(env, 1, sizeof env, f);
    fclose(f);
    if (memmem(env, n, D14_MARKER, sizeof D14_MARKER - 1))
        return 5;
    if (!memmem(env, n, "D14_CHILD=1", 11)) /* the probe works */
        return 6;
    return 0;
}

static void d14_coffer_secrets_wiped_from_env_block(void **state)
{
    (void)state;
    char self[1024];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0)
        skip();
    self[k] = '\0';
    char home[700], cs[] = "COFFER_SECRETS=token = \"" D14_MARKER "\"\n";
    snprintf(home, sizeof home, "HOME=%s", sb_home);
    char *envp[] = { home, cs, (char *)"D14_CHILD=1", NULL };
    char *argv[] = { self, NULL };
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        assert_int_equal(chdir(sb_proj), 0);
        execve(self, argv, envp);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* COFFER_WATCH_EXPORT re-exports with the options of the last export. */
static void watch_export_keeps_naming_options(void **state)
{
    (void)state;
    write_at(project_file(), "wx_token = \"one\"\n", 0600);
    coffer_store *s = open_default();
    coffer_error err;
    coffer_env_options o = { COFFER_EXPORT_UPPER, "WX_", NULL };
    assert_int_equal(coffer_store_export_with(s, &o, &err), 0);
    assert_string_equal(getenv("WX_WX_TOKEN"), "one");
    coffer_watch_options wo;
    memset(&wo, 0, sizeof wo);
    wo.flags = COFFER_WATCH_EXPORT | COFFER_WATCH_POLL;
    wo.poll_ms = 20;
    wo.debounce_ms = 1;
    assert_int_equal(coffer_store_watch(s, &wo, &err), 0);
    write_at(sbp("proj/.streamlit/new.tmp"), "wx_token = \"two-2\"\n", 0600);
    assert_int_equal(rename(sbp("proj/.streamlit/new.tmp"), project_file()), 0);
    for (int i = 0; i < 500; i++) {
        (void)coffer_store_watch_process(s, &err);
        const char *v = getenv("WX_WX_TOKEN");
        if (v && strcmp(v, "two-2") == 0)
            break;
        usleep(10000);
    }
    assert_string_equal(getenv("WX_WX_TOKEN"), "two-2");
    assert_null(getenv("wx_token"));
    coffer_store_unwatch(s);
    assert_int_equal(coffer_store_unexport(s), 1);
    coffer_store_close(s);
}

int main(void)
{
    if (getenv("D14_CHILD"))
        return d14_child();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(env_names),
        cmocka_unit_test(env_value_forms),
        cmocka_unit_test_setup_teardown(export_and_unexport, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(keep_existing, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(reexport_after_reload, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(export_errors, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(variables_survive_close, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(d6_getenv_pointers_never_dangle, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(d7_nul_value_unsets_stale_parent, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(d4_dangerous_names_not_exported, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(env_naming_prefix_upper_booleans, sb_setup, sb_teardown),
        cmocka_unit_test_setup_teardown(watch_export_keeps_naming_options, sb_setup, sb_teardown),
        cmocka_unit_test(d3_quote_forms),
        cmocka_unit_test_setup_teardown(d3_dotenv_reader, sb_setup, sb_teardown),
        cmocka_unit_test(d10_key_display_escapes),
        cmocka_unit_test_setup_teardown(d14_coffer_secrets_wiped_from_env_block, sb_setup, sb_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
