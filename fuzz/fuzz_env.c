/*
 * fuzz_env.c - libFuzzer target: TOML -> environment formats -> read back.
 *
 * For every input that parses as TOML, the root goes through
 * coffer_env_plan (the first byte picks --upper, --booleans and a prefix)
 * and each exported variable is written in every syntax of
 * coffer_env_quote:
 *   sh      decoded with a C model of POSIX sh quoting (single-quoted runs
 *           and backslash-escaped characters) and must equal the text;
 *   dotenv  all variables go into one .env text, which coffer's own
 *           "dotenv:" reader (coffer_dotenv_parse) must read back to
 *           exactly the same names and values: no other key, no lost one.
 *           A value the writer refuses must be one of the documented skips
 *           (a ${...} reference, or a trailing backslash that cannot be
 *           written bare).
 * Items the plan does not export must carry a status that fits them (a
 * NUL_VALUE text holds a NUL byte, ...).
 * (The JSON form is the CLI's; tests/suites/cli-env.sh checks it with
 * python's json over 10,000 values.)
 *
 * Build and run: see fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_env: %s\n", what);
    abort();
}

/* The documented dotenv skips, written out again independently. */
static bool documented_skip(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] != '$' || s[i + 1] != '{')
            continue;
        size_t j = i + 2;
        while (j < n && s[j] != '}' && s[j] != ':')
            j++;
        if (j < n && s[j] == '}')
            return true;
        if (j + 1 < n && s[j] == ':' && s[j + 1] == '-' &&
            memchr(s + j + 2, '}', n - j - 2))
            return true;
    }
    if (n && s[n - 1] == '\\') {
        if (s[0] == '\'' || s[0] == '"')
            return true;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
                return true;
    }
    return false;
}

/* POSIX sh word decoding: '...' literal, \c outside quotes is c. */
static bool sh_decode_equal(const char *q, size_t qn, const char *want,
                            size_t wn)
{
    size_t w = 0;
    bool in = false;
    for (size_t i = 0; i < qn; i++) {
        char c = q[i];
        if (in) {
            if (c == '\'') {
                in = false;
                continue;
            }
        } else if (c == '\'') {
            in = true;
            continue;
        } else if (c == '\\' && i + 1 < qn) {
            c = q[++i];
        } else {
            /* Unquoted: only characters the shell leaves alone. */
            if (strchr(" \t\n$`\"*?[]#~&|;<>(){}", c))
                return false;
        }
        if (w >= wn || want[w] != c)
            return false;
        w++;
    }
    return !in && w == wn;
}

struct fz {
    coffer_secbuf env;  /* the .env text */
    coffer_secbuf q;
    size_t nwritten;
};

static int item(void *ctx, const coffer_env_item *it)
{
    struct fz *F = ctx;
    switch (it->status) {
    case COFFER_ENV_OK:
        if (!it->text || memchr(it->text, '\0', it->textlen) ||
            !coffer_env_name_portable(it->name, it->namelen))
            die("an exported item that should not be");
        break;
    case COFFER_ENV_NUL_VALUE:
        if (it->text || !it->unset)
            die("a NUL_VALUE item with a text, or not unset");
        return 0;
    case COFFER_ENV_NOT_PORTABLE:
        if (coffer_env_name_portable(it->name, it->namelen))
            die("NOT_PORTABLE for a portable name");
        return 0;
    case COFFER_ENV_BAD_NAME:
        if (coffer_env_name_ok(it->name, it->namelen))
            die("BAD_NAME for a valid name");
        return 0;
    case COFFER_ENV_DANGEROUS:
        if (!coffer_env_name_dangerous(it->name, it->namelen))
            die("DANGEROUS for a harmless name");
        return 0;
    default:
        return 0;
    }
    if (it->status != COFFER_ENV_OK)
        return 0;
    /* sh */
    F->q.len = 0;
    const char *why;
    if (coffer_env_quote(&F->q, COFFER_ENV_SYNTAX_SH, it->text, it->textlen,
                         &why) != 1)
        die("sh refused a value without NUL");
    if (!sh_decode_equal(F->q.data, F->q.len, it->text, it->textlen))
        die("sh quoting does not decode to the value");
    /* dotenv */
    F->q.len = 0;
    int rc = coffer_env_quote(&F->q, COFFER_ENV_SYNTAX_DOTENV, it->text,
                              it->textlen, &why);
    if (rc < 0)
        die("dotenv quoting failed");
    if (rc == 0) {
        if (!documented_skip(it->text, it->textlen))
            die("dotenv skipped a value that is not a documented skip");
        return 0;
    }
    if (documented_skip(it->text, it->textlen))
        die("dotenv wrote a value documented as skipped");
    if (coffer_secbuf_append(&F->env, it->name, it->namelen) ||
        coffer_secbuf_append(&F->env, "=", 1) ||
        coffer_secbuf_append(&F->env, F->q.data, F->q.len) ||
        coffer_secbuf_append(&F->env, "\n", 1))
        die("out of memory");
    F->nwritten++;
    return 0;
}

struct check {
    const coffer_value *root; /* the dotenv layer */
    size_t seen;
    coffer_secbuf q;
};

static int compare(void *ctx, const coffer_env_item *it)
{
    struct check *C = ctx;
    if (it->status != COFFER_ENV_OK)
        return 0;
    C->q.len = 0;
    if (coffer_env_quote(&C->q, COFFER_ENV_SYNTAX_DOTENV, it->text,
                         it->textlen, NULL) != 1)
        return 0;
    const coffer_value *v = coffer_table_get(C->root, it->name, it->namelen);
    const char *s;
    size_t n;
    if (!v || coffer_value_string(v, &s, &n) != 0)
        die("dotenv reader lost a variable");
    if (n != it->textlen || memcmp(s, it->text, n) != 0)
        die("dotenv reader read another value back");
    C->seen++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static coffer_store *store;
    if (!store) {
        coffer_store_options o;
        memset(&o, 0, sizeof o);
        o.flags = COFFER_STORE_PLAIN_MEMORY | COFFER_STORE_NO_ENV_SOURCES;
        o.cwd = "/";
        if (coffer_store_open(&o, &store, NULL) != 0)
            die("cannot open a store");
    }
    if (size < 1)
        return 0;
    coffer_env_options opt;
    memset(&opt, 0, sizeof opt);
    opt.flags = data[0] & (COFFER_EXPORT_UPPER | COFFER_EXPORT_BOOLEANS);
    opt.prefix = (data[0] & 4) ? "APP_" : NULL;
    coffer_doc *doc = NULL;
    if (coffer_toml_parse((const char *)data + 1, size - 1, NULL, &doc, NULL))
        return 0;
    struct fz F;
    memset(&F, 0, sizeof F);
    if (coffer_env_plan(coffer_doc_root(doc), &opt, item, &F) != 0)
        die("plan failed");
    /* Read the whole .env text back with coffer's reader. */
    coffer_arena arena;
    coffer_arena_init(&arena, coffer_allocator_plain(), 4096);
    size_t len = F.env.len;
    char *buf = malloc(len + 1);
    if (!buf)
        die("out of memory");
    if (len)
        memcpy(buf, F.env.data, len);
    buf[len] = '\0';
    if (coffer_arena_adopt(&arena, buf, len + 1) != 0)
        die("out of memory");
    coffer_layer layer;
    memset(&layer, 0, sizeof layer);
    coffer_container *c = coffer_arena_alloc(&arena, sizeof *c);
    if (!c)
        die("out of memory");
    memset(c, 0, sizeof *c);
    layer.root.type = COFFER_TYPE_TABLE;
    layer.root.u.c = c;
    coffer_loadctx lc;
    memset(&lc, 0, sizeof lc);
    lc.store = store;
    lc.arena = &arena;
    lc.alloc = coffer_allocator_plain();
    coffer_error err;
    if (coffer_dotenv_parse(&lc, "fuzz.env", buf, len, &layer, &err) != 0) {
        fprintf(stderr, "fuzz_env: reader error %u:%u %s\n", err.line,
                err.column, err.message);
        die("coffer's dotenv reader rejected coffer's own output");
    }
    if (coffer_table_count(&layer.root) != F.nwritten)
        die("dotenv reader found another number of variables");
    struct check C;
    memset(&C, 0, sizeof C);
    C.root = &layer.root;
    if (coffer_env_plan(coffer_doc_root(doc), &opt, compare, &C) != 0 ||
        C.seen != F.nwritten)
        die("dotenv round trip incomplete");
    coffer_secbuf_release(&C.q);
    coffer_arena_release(&arena);
    coffer_secbuf_release(&F.env);
    coffer_secbuf_release(&F.q);
    coffer_doc_free(doc);
    return 0;
}
