/* test_crypt.c - per-value encryption (src/store/crypt.c): ENC strings,
 * the MAC, the metadata, and the decrypting load through the store API
 * (identities, locked values, tampering, reloads). */
#include "testutil.h"
#include "store_testutil.h"

#include "store/crypt.h"

#include <sodium.h>

static uint8_t dkey[32];
static unsigned char sk[32], pk[32];
static char ident[COFFER_AGE_IDENTITY_MAX], recip[COFFER_AGE_RECIPIENT_MAX];

static int setup(void **state)
{
    if (sb_setup(state))
        return -1;
    randombytes_buf(dkey, sizeof dkey);
    if (coffer_age_keygen(sk, pk) || coffer_age_identity_string(sk, ident, sizeof ident) ||
        coffer_age_recipient_string(pk, recip, sizeof recip))
        return -1;
    unsetenv("COFFER_AGE_KEY");
    unsetenv("COFFER_AGE_KEY_FILE");
    unsetenv("COFFER_AGE_PASSPHRASE");
    return 0;
}

static int teardown(void **state)
{
    unsetenv("COFFER_AGE_KEY");
    return sb_teardown(state);
}

static char *seal(const char *path, coffer_type t, const char *pt)
{
    char *out;
    size_t n;
    assert_int_equal(coffer_crypt_seal(dkey, t, path, strlen(path),
                                       (const uint8_t *)pt, strlen(pt), &out, &n),
                     0);
    assert_int_equal(strlen(out), n);
    return out;
}

/* ------------------------------------------------------- ENC strings */

static void test_seal_open_roundtrip(void **state)
{
    (void)state;
    static const struct { coffer_type t; const char *pt; } cases[] = {
        { COFFER_TYPE_STRING, "hunter2" }, { COFFER_TYPE_STRING, "" },
        { COFFER_TYPE_INTEGER, "42" }, { COFFER_TYPE_FLOAT, "0.5" },
        { COFFER_TYPE_BOOL, "true" }, { COFFER_TYPE_DATETIME, "1979-05-27T07:32:00Z" },
        { COFFER_TYPE_TIME_LOCAL, "07:32:00" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *e = seal("db.password", cases[i].t, cases[i].pt);
        char want[64];
        snprintf(want, sizeof want, "ENC[coffer:v1,%s,",
                 coffer_crypt_type_name(cases[i].t));
        assert_memory_equal(e, want, strlen(want));
        assert_true(coffer_crypt_is_enc(e, strlen(e)));
        assert_int_equal(coffer_crypt_enc_type(e, strlen(e)), cases[i].t);
        uint8_t pt[128];
        size_t n = 0;
        coffer_type t;
        assert_true(coffer_crypt_open_max(e, strlen(e)) >= strlen(cases[i].pt));
        assert_int_equal(coffer_crypt_open(dkey, "db.password", 11, e, strlen(e),
                                           pt, sizeof pt, &n, &t, "f", NULL), 0);
        assert_int_equal(n, strlen(cases[i].pt));
        assert_memory_equal(pt, cases[i].pt, n);
        assert_int_equal(t, cases[i].t);
        free(e);
    }
    /* arrays and tables have no ENC type */
    char *out;
    size_t n;
    assert_int_equal(coffer_crypt_seal(dkey, COFFER_TYPE_ARRAY, "a", 1,
                                       (const uint8_t *)"x", 1, &out, &n),
                     COFFER_EINVAL);
}

static void test_open_refuses(void **state)
{
    (void)state;
    char *e = seal("db.password", COFFER_TYPE_STRING, "hunter2");
    uint8_t pt[64];
    size_t n;
    coffer_error err;
    /* another path: the AD binds the key path */
    assert_int_equal(coffer_crypt_open(dkey, "db.user", 7, e, strlen(e), pt,
                                       sizeof pt, &n, NULL, "f.toml", &err),
                     COFFER_ECRYPTO);
    assert_non_null(strstr(err.message, "'db.user'"));
    assert_non_null(strstr(err.message, "fails authentication"));
    assert_null(strstr(err.message, "hunter2"));
    /* another key: a value from another file */
    uint8_t other[32];
    randombytes_buf(other, sizeof other);
    assert_int_equal(coffer_crypt_open(other, "db.password", 11, e, strlen(e), pt,
                                       sizeof pt, &n, NULL, "f", &err),
                     COFFER_ECRYPTO);
    /* the type is authenticated too */
    char *t = strdup(e);
    memcpy(t + 14, "symbol", 6); /* "string" -> unknown type */
    assert_int_equal(coffer_crypt_open(dkey, "db.password", 11, t, strlen(t), pt,
                                       sizeof pt, &n, NULL, "f", &err),
                     COFFER_ECRYPTO);
    assert_non_null(strstr(err.message, "malformed"));
    free(t);
    char *i = seal("n", COFFER_TYPE_INTEGER, "42");
    char *f = malloc(strlen(i) + 2);
    snprintf(f, strlen(i) + 2, "ENC[coffer:v1,float,%s", i + strlen("ENC[coffer:v1,integer,"));
    assert_int_equal(coffer_crypt_open(dkey, "n", 1, f, strlen(f), pt, sizeof pt,
                                       &n, NULL, "f", &err),
                     COFFER_ECRYPTO);
    free(f);
    free(i);
    /* one flipped bit of ciphertext */
    t = strdup(e);
    size_t k = strlen(t) - 6;
    t[k] = t[k] == 'A' ? 'B' : 'A';
    assert_int_equal(coffer_crypt_open(dkey, "db.password", 11, t, strlen(t), pt,
                                       sizeof pt, &n, NULL, "f", &err),
                     COFFER_ECRYPTO);
    free(t);
    /* truncated payload, not base64, no closing bracket */
    static const char *bad[] = { "ENC[coffer:v1,string,AAAA]",
                                 "ENC[coffer:v1,string,!!!!]",
                                 "ENC[coffer:v1,string,AAAA" };
    for (size_t j = 0; j < 3; j++)
        assert_int_equal(coffer_crypt_open(dkey, "x", 1, bad[j], strlen(bad[j]),
                                           pt, sizeof pt, &n, NULL, "f", &err),
                         COFFER_ECRYPTO);
    /* a too small output buffer */
    assert_int_equal(coffer_crypt_open(dkey, "db.password", 11, e, strlen(e), pt,
                                       3, &n, NULL, "f", &err),
                     COFFER_ELIMIT);
    free(e);
}

/* ------------------------------------------------------------- files */

/* An encrypted file: body lines "KEY = VALUE" where VALUE "@type:text"
 * is sealed, then the [coffer] table with a MAC over the body. */
static char *build(const char *body_in)
{
    char body[8192] = "";
    const char *p = body_in;
    char table[128] = "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)ll, p);
        char *at = strstr(line, "\"@");
        if (line[0] == '[') {
            snprintf(table, sizeof table, "%.*s", (int)(strlen(line) - 2), line + 1);
            strcat(body, line);
        } else if (at) {
            char *colon = strchr(at, ':');
            char *end = strrchr(at, '"');
            *end = '\0';
            *colon = '\0';
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(strchr(line, ' ') - line), line);
            char path[512];
            snprintf(path, sizeof path, "%s%s%s", table, *table ? "." : "", key);
            coffer_type t = coffer_crypt_type_parse(at + 2, strlen(at + 2));
            char *e = seal(path, t, colon + 1);
            *at = '\0';
            strcat(body, line);
            strcat(body, "\"");
            strcat(body, e);
            strcat(body, "\"");
            free(e);
        } else {
            strcat(body, line);
        }
        strcat(body, "\n");
        p += ll + (nl ? 1 : 0);
    }
    coffer_doc *doc;
    coffer_error err;
    assert_int_equal(coffer_toml_parse(body, strlen(body), NULL, &doc, &err), 0);
    const char *r[1] = { recip };
    size_t rl[1] = { strlen(recip) };
    uint8_t mac[32];
    assert_int_equal(coffer_crypt_mac(dkey, r, rl, 1,
                                      (coffer_value *)coffer_doc_root(doc), mac), 0);
    coffer_doc_free(doc);
    coffer_age_recipient rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = COFFER_AGE_X25519;
    memcpy(rec.pk, pk, 32);
    char *armored;
    size_t al;
    assert_int_equal(coffer_age_encrypt(&rec, 1, dkey, 32, &armored, &al, &err), 0);
    char b64[64];
    sodium_bin2base64(b64, sizeof b64, mac, 32, sodium_base64_VARIANT_ORIGINAL);
    size_t cap = strlen(body) + al + 512;
    char *out = malloc(cap);
    snprintf(out, cap,
             "%s\n[coffer]\nversion = 1\nrecipients = [\"%s\"]\nwrapped = [\n'''\n%s'''\n]\nmac = \"%s\"\n",
             body, recip, armored, b64);
    free(armored);
    return out;
}

static const char body1[] =
    "# comment\n"
    "password = \"@string:hunter2\"\n"
    "port = \"@integer:5432\"\n"
    "plain = \"visible\"\n"
    "[db]\n"
    "user = \"@string:jane\"\n"
    "ratio = \"@float:0.25\"\n"
    "on = \"@boolean:true\"\n"
    "day = \"@date-local:1979-05-27\"\n";

static coffer_store *open_file(const char *rel)
{
    const char *paths[1] = { sbp(rel) };
    coffer_store_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.path_count = 1;
    o.cwd = sb_proj;
    o.flags = COFFER_STORE_NO_ENV_SOURCES;
    o.diag = diag_capture;
    coffer_store *s;
    coffer_error err;
    assert_int_equal(coffer_store_open(&o, &s, &err), 0);
    return s;
}

static void test_load_decrypts(void **state)
{
    (void)state;
    char *f = build(body1);
    write_rel("proj/s.toml", f, 0600);
    free(f);
    setenv("COFFER_AGE_KEY", ident, 1);
    coffer_store *s = open_file("proj/s.toml");
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *str;
    size_t n;
    int64_t i;
    double d;
    bool b;
    coffer_datetime dt;
    assert_int_equal(coffer_snapshot_get_string(snap, "password", &str, &n, &err), 0);
    assert_string_equal(str, "hunter2");
    assert_int_equal(coffer_snapshot_get_int(snap, "port", &i, &err), 0);
    assert_int_equal(i, 5432);
    assert_int_equal(coffer_snapshot_get_double(snap, "db.ratio", &d, &err), 0);
    assert_true(d == 0.25);
    assert_int_equal(coffer_snapshot_get_bool(snap, "db.on", &b, &err), 0);
    assert_true(b);
    assert_int_equal(coffer_snapshot_get_datetime(snap, "db.day", &dt, &err), 0);
    assert_int_equal(dt.year, 1979);
    assert_int_equal(coffer_snapshot_get_string(snap, "plain", &str, &n, &err), 0);
    assert_string_equal(str, "visible");
    /* the metadata is no secret key */
    const coffer_value *v;
    assert_int_equal(coffer_snapshot_get(snap, "coffer", &v, &err), COFFER_ENOKEY);
    assert_int_equal(coffer_table_count(coffer_snapshot_root(snap)), 4);
    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "db", &sec, &err), 0);
    assert_string_equal(sec.values[0], "jane");
    coffer_section_release(&sec);
    unsetenv("password");
    assert_int_equal(coffer_store_export(s, 0, &err), 0);
    assert_string_equal(getenv("password"), "hunter2");
    coffer_store_unexport(s);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static int count_cb(void *ctx, const char *key, const coffer_value *v)
{
    (void)key;
    const char *s;
    if (coffer_value_type(v) == COFFER_TYPE_STRING &&
        coffer_value_string(v, &s, NULL) == COFFER_ECRYPTO)
        (*(int *)ctx)++;
    return 0;
}

static void test_locked_without_identity(void **state)
{
    (void)state;
    char *f = build(body1);
    write_rel("proj/s.toml", f, 0600);
    free(f);
    coffer_store *s = open_file("proj/s.toml");
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0); /* load succeeds */
    const char *str;
    size_t n;
    int64_t i;
    assert_int_equal(coffer_snapshot_get_string(snap, "password", &str, &n, &err),
                     COFFER_ECRYPTO);
    assert_non_null(strstr(err.message, "no identity can decrypt '"));
    assert_non_null(strstr(err.message, "s.toml'"));
    assert_int_equal(coffer_snapshot_get_int(snap, "port", &i, &err), COFFER_ECRYPTO);
    const coffer_value *v;
    assert_int_equal(coffer_snapshot_get(snap, "db", &v, &err), COFFER_ECRYPTO);
    /* plaintext values of a mixed file still read */
    assert_int_equal(coffer_snapshot_get_string(snap, "plain", &str, &n, &err), 0);
    /* provenance works */
    const char *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_where(snap, "db.user", &file, &line, &err), 0);
    assert_int_equal(line, 6);
    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, NULL, &sec, &err), COFFER_ECRYPTO);
    int locked = 0;
    assert_int_equal(coffer_snapshot_foreach(snap, NULL, count_cb, &locked, &err), 0);
    assert_int_equal(locked, 2); /* password, port: getters refuse them */
    unsetenv("plain");
    assert_int_equal(coffer_store_export(s, 0, &err), COFFER_ECRYPTO);
    assert_null(getenv("plain")); /* nothing half-exported */
    coffer_secbuf b = { NULL, 0, 0 };
    assert_int_equal(coffer_env_value(coffer_table_get(coffer_snapshot_root(snap),
                                                       "password", 8), &b),
                     COFFER_ECRYPTO);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    /* a wrong identity: the same, with another note */
    unsigned char sk2[32], pk2[32];
    char id2[COFFER_AGE_IDENTITY_MAX];
    coffer_age_keygen(sk2, pk2);
    coffer_age_identity_string(sk2, id2, sizeof id2);
    setenv("COFFER_AGE_KEY", id2, 1);
    s = open_file("proj/s.toml");
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    assert_int_equal(coffer_snapshot_get_string(snap, "password", &str, &n, &err),
                     COFFER_ECRYPTO);
    assert_non_null(strstr(err.message, "not among its recipients"));
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

static void expect_load_error(const char *text, const char *msg)
{
    write_rel("proj/t.toml", text, 0600);
    setenv("COFFER_AGE_KEY", ident, 1);
    coffer_store *s = open_file("proj/t.toml");
    coffer_snapshot *snap = NULL;
    coffer_error err;
    memset(&err, 0, sizeof err);
    int rc = coffer_store_acquire(s, &snap, &err);
    if (rc != COFFER_ECRYPTO || !strstr(err.message, msg))
        fail_msg("want ECRYPTO '%s', got %d '%s'", msg, rc, err.message);
    assert_null(strstr(err.message, "hunter2"));
    coffer_store_close(s);
}

static char *replace(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    assert_non_null(at);
    size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
    return out;
}

static void test_tampering(void **state)
{
    (void)state;
    char *f = build(body1);
    /* dropped value */
    const char *ps = strstr(f, "port = ");
    const char *pe = strchr(ps, '\n') + 1;
    char *g = malloc(strlen(f) + 1);
    snprintf(g, strlen(f) + 1, "%.*s%s", (int)(ps - f), f, pe);
    expect_load_error(g, "mac mismatch");
    free(g);
    /* stripped MAC */
    const char *ms = strstr(f, "mac = ");
    g = strndup(f, (size_t)(ms - f));
    expect_load_error(g, "no mac");
    free(g);
    /* no metadata at all */
    g = strndup(f, (size_t)(strstr(f, "[coffer]") - f));
    expect_load_error(g, "no [coffer] metadata");
    free(g);
    /* a value moved to another key */
    const char *u = strstr(f, "user = \"") + 8;
    char *uenc = strndup(u, (size_t)(strchr(u, '"') - u));
    const char *pw = strstr(f, "password = \"") + 12;
    char *penc = strndup(pw, (size_t)(strchr(pw, '"') - pw));
    g = replace(f, uenc, penc);
    expect_load_error(g, "'db.user'");
    free(g);
    /* version, recipients */
    g = replace(f, "version = 1", "version = 7");
    expect_load_error(g, "unsupported coffer version");
    free(g);
    g = replace(f, "wrapped = [", "wrapped = [\"x\",");
    expect_load_error(g, "one wrapped data key per recipient");
    free(g);
    /* a wrapped key whose header was altered, for the matching identity */
    g = replace(f, "-----BEGIN AGE ENCRYPTED FILE-----\n", "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA");
    expect_load_error(g, "cannot be unwrapped");
    free(g);
    free(uenc);
    free(penc);
    free(f);
}

static void test_type_checked(void **state)
{
    (void)state;
    /* an "integer" whose plaintext is no integer */
    char *f = build("n = \"@integer:abc\"\n");
    expect_load_error(f, "not a valid integer");
    free(f);
}

static void test_reload_keeps_last_good(void **state)
{
    (void)state;
    char *f = build(body1);
    write_rel("proj/s.toml", f, 0600);
    setenv("COFFER_AGE_KEY", ident, 1);
    coffer_store *s = open_file("proj/s.toml");
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    coffer_snapshot_release(snap);
    /* the identity is kept by the store: reloads work without the variable */
    unsetenv("COFFER_AGE_KEY");
    char *g = replace(f, "version = 1", "version = 2");
    write_rel("proj/s.toml", g, 0600);
    assert_int_equal(coffer_store_reload(s, &err), COFFER_ECRYPTO);
    const char *str;
    assert_int_equal(coffer_store_get_string(s, "password", &str, &err), 0);
    assert_string_equal(str, "hunter2");
    write_rel("proj/s.toml", f, 0600);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "db.user", &str, &err), 0);
    assert_string_equal(str, "jane");
    coffer_store_close(s);
    free(g);
    free(f);
}

static void test_mac_order_and_recipients(void **state)
{
    (void)state;
    char *a = seal("a", COFFER_TYPE_STRING, "1"), *b = seal("b", COFFER_TYPE_STRING, "2");
    char t1[1024], t2[1024];
    snprintf(t1, sizeof t1, "a = \"%s\"\nb = \"%s\"\n", a, b);
    snprintf(t2, sizeof t2, "b = \"%s\"\na = \"%s\"\n", b, a);
    coffer_doc *d1, *d2;
    assert_int_equal(coffer_toml_parse(t1, strlen(t1), NULL, &d1, NULL), 0);
    assert_int_equal(coffer_toml_parse(t2, strlen(t2), NULL, &d2, NULL), 0);
    const char *r[2] = { "age1x", "age1y" };
    size_t rl[2] = { 5, 5 };
    uint8_t m1[32], m2[32], m3[32], m4[32];
    coffer_crypt_mac(dkey, r, rl, 1, (coffer_value *)coffer_doc_root(d1), m1);
    coffer_crypt_mac(dkey, r, rl, 1, (coffer_value *)coffer_doc_root(d2), m2);
    coffer_crypt_mac(dkey, r, rl, 2, (coffer_value *)coffer_doc_root(d1), m3);
    coffer_crypt_mac(dkey, r, rl, 1, (coffer_value *)coffer_doc_root(d1), m4);
    assert_memory_not_equal(m1, m2, 32); /* order */
    assert_memory_not_equal(m1, m3, 32); /* recipients */
    assert_memory_equal(m1, m4, 32);     /* deterministic */
    coffer_doc_free(d1);
    coffer_doc_free(d2);
    free(a);
    free(b);
}

static void test_identity_file_permissions(void **state)
{
    (void)state;
    char *f = build(body1);
    write_rel("proj/s.toml", f, 0600);
    free(f);
    char idfile[256];
    snprintf(idfile, sizeof idfile, "# test\n%s\n", ident);
    write_rel("home/.config/coffer/keys.txt", idfile, 0644);
    coffer_store *s = open_file("proj/s.toml");
    coffer_snapshot *snap;
    coffer_error err;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EPERM);
    assert_non_null(strstr(err.message, "accessible by group or others"));
    coffer_store_close(s);
    chmod(sbp("home/.config/coffer/keys.txt"), 0600);
    s = open_file("proj/s.toml");
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *str;
    size_t n;
    assert_int_equal(coffer_snapshot_get_string(snap, "password", &str, &n, &err), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
    /* COFFER_AGE_KEY_FILE wins over the default file; a missing one fails */
    setenv("COFFER_AGE_KEY_FILE", sbp("nope.txt"), 1);
    s = open_file("proj/s.toml");
    assert_int_equal(coffer_store_acquire(s, &snap, &err), COFFER_EIO);
    coffer_store_close(s);
    unsetenv("COFFER_AGE_KEY_FILE");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_seal_open_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_decrypts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_without_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_type_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_last_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mac_order_and_recipients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_file_permissions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
