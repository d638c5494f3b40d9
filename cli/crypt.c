/* crypt.c - coffer keygen, encrypt, decrypt, set, unset, recipients,
 * rotate. The text editing is in edit.c (struct cdoc). */
#include "crypt.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int oom(void)
{
    cli_error("out of memory");
    return CLI_EXIT_PROBLEMS;
}

/* ------------------------------------------------------------ keygen */

static const char usage_keygen[] =
    "usage: coffer keygen [-o FILE]\n"
    "\n"
    "Generate an age X25519 identity, write it to FILE (default\n"
    "~/.config/coffer/keys.txt; '-' for stdout) with mode 0600, never\n"
    "overwriting, and print its recipient (age1...) on stdout.\n";

static int mkdir_p(const char *path)
{
    char tmp[COFFER_ERROR_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return 0;
}

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_keygen, false);
        int m = cli_opt_value(argc, argv, &i, "--output", "-o", &val);
        if (m < 0)
            return cli_usage(usage_keygen, true);
        if (m > 0) {
            out = val;
            continue;
        }
        if (argv[i][0] == '-')
            return cli_bad_option(argv[i], usage_keygen);
        cli_error("too many arguments");
        return cli_usage(usage_keygen, true);
    }
    cli_harden();
    char def[COFFER_ERROR_PATH_MAX];
    if (!out) {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            cli_error("HOME is not set; give -o FILE");
            return CLI_EXIT_USAGE;
        }
        snprintf(def, sizeof def, "%s/.config/coffer/keys.txt", home);
        out = def;
        if (mkdir_p(out) != 0) {
            cli_error("cannot create the directory of '%s': %s", out,
                      strerror(errno));
            return CLI_EXIT_PROBLEMS;
        }
    }
    unsigned char pk[32];
    const coffer_allocator *a = coffer_allocator_secure();
    unsigned char *sk = a->alloc(a->ctx, 32);
    coffer_secbuf text = { NULL, 0, 0 };
    if (!sk)
        return oom();
    char recip[COFFER_AGE_RECIPIENT_MAX], idbuf[COFFER_AGE_IDENTITY_MAX];
    int rc = 0;
    if (coffer_age_keygen(sk, pk) != 0 ||
        coffer_age_recipient_string(pk, recip, sizeof recip) != 0 ||
        coffer_age_identity_string(sk, idbuf, sizeof idbuf) != 0) {
        cli_error("cannot generate a key");
        rc = CLI_EXIT_PROBLEMS;
        goto done;
    }
    char when[40];
    cli_now_iso(when, sizeof when);
    char head[256];
    snprintf(head, sizeof head, "# created: %s\n# public key: %s\n", when, recip);
    if (coffer_secbuf_append(&text, head, strlen(head)) ||
        coffer_secbuf_append(&text, idbuf, strlen(idbuf)) ||
        coffer_secbuf_append(&text, "\n", 1)) {
        rc = oom();
        goto done;
    }
    if (strcmp(out, "-") == 0) {
        rc = cli_write_all(1, text.data, text.len) ? CLI_EXIT_PROBLEMS : 0;
        goto done;
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        cli_error("cannot create '%s': %s%s", out, strerror(errno),
                  errno == EEXIST ? " (never overwritten)" : "");
        rc = CLI_EXIT_PROBLEMS;
        goto done;
    }
    if (cli_write_all(fd, text.data, text.len) != 0 || fsync(fd) != 0) {
        cli_error("cannot write '%s': %s", out, strerror(errno));
        rc = CLI_EXIT_PROBLEMS;
    }
    close(fd);
    if (rc == 0) {
        printf("%s\n", recip);
        if (fflush(stdout) != 0)
            rc = CLI_EXIT_PROBLEMS;
    }
done:
    sodium_memzero(idbuf, sizeof idbuf);
    coffer_secbuf_release(&text);
    coffer_memzero(sk, 32);
    a->release(a->ctx, sk, 32);
    return rc;
}

/* ----------------------------------------------------------- encrypt */

static const char usage_encrypt[] =
    "usage: coffer encrypt [-r RECIPIENT]... [-p] [FILE]\n"
    "\n"
    "Encrypt every plaintext value of FILE (default:\n"
    "./.streamlit/secrets.toml) in place: each value becomes an\n"
    "\"ENC[coffer:v1,...]\" string, keys, comments and order stay. The first\n"
    "encryption needs at least one recipient: -r age1... (repeatable) or -p\n"
    "for a passphrase ($COFFER_AGE_PASSPHRASE or a prompt). On a file that\n"
    "already has recipients, -r/-p add recipients (an identity is needed).\n";

struct enc_walk {
    struct cdoc *d;
    int rc;
    size_t count;
};

static int enc_one(void *ctx, coffer_value *v, const char *path, size_t pathlen)
{
    struct enc_walk *w = ctx;
    (void)pathlen;
    if (v->type == COFFER_TYPE_TABLE || v->type == COFFER_TYPE_ARRAY)
        return 0; /* empty containers stay */
    if (v->type == COFFER_TYPE_STRING && coffer_crypt_is_enc(v->u.s, v->len))
        return 0;
    size_t s, e;
    cdoc_span(w->d, v, &s, &e);
    const uint8_t *pt = (const uint8_t *)w->d->text.data + s;
    size_t n = e - s;
    if (v->type == COFFER_TYPE_STRING) {
        pt = (const uint8_t *)v->u.s;
        n = v->len;
    }
    char *q;
    size_t ql;
    int rc = cdoc_seal_quoted(w->d, (coffer_type)v->type, path, pt, n, &q, &ql);
    if (rc == 0) {
        rc = cdoc_edit(w->d, s, e, q, ql, false);
        free(q);
    }
    w->count++;
    return w->rc = rc;
}

/* Options shared by encrypt and recipients add: -r R, -p. */
struct recip_opts {
    const char **r;
    size_t nr;
    bool pass;
};

static int add_recipients(struct cdoc *d, const struct recip_opts *o)
{
    coffer_secbuf pass = { NULL, 0, 0 };
    int rc = 0;
    if (o->pass)
        rc = cli_passphrase(&pass, true);
    for (size_t i = 0; rc == 0 && i < o->nr; i++)
        rc = cdoc_add_recipient(d, o->r[i], NULL, 0);
    if (rc == 0 && o->pass)
        rc = cdoc_add_recipient(d, COFFER_CRYPT_SCRYPT, pass.data, pass.len);
    coffer_secbuf_release(&pass);
    return rc;
}

int cmd_encrypt(int argc, char **argv)
{
    const char *file = NULL;
    struct recip_opts ro = { NULL, 0, false };
    ro.r = calloc((size_t)argc, sizeof *ro.r);
    if (!ro.r)
        return oom();
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *val;
        if (cli_is_help(argv[i])) {
            free(ro.r);
            return cli_usage(usage_encrypt, false);
        }
        int m = cli_opt_value(argc, argv, &i, "--recipient", "-r", &val);
        if (m < 0) {
            free(ro.r);
            return cli_usage(usage_encrypt, true);
        }
        if (m > 0) {
            ro.r[ro.nr++] = val;
            continue;
        }
        if (strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--passphrase") == 0) {
            ro.pass = true;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            free(ro.r);
            return cli_bad_option(argv[i], usage_encrypt);
        }
        if (file) {
            free(ro.r);
            cli_error("too many arguments");
            return cli_usage(usage_encrypt, true);
        }
        file = argv[i];
    }
    if (!file)
        file = cli_default_file();
    cli_harden();
    struct cdoc d;
    rc = cdoc_open(&d, file, false);
    if (rc == 0) {
        if (d.has_meta) {
            rc = cdoc_need_key(&d);
        } else if (ro.nr == 0 && !ro.pass) {
            cli_error("'%s' has no recipients yet: give -r RECIPIENT or -p", file);
            rc = CLI_EXIT_USAGE;
        } else {
            rc = cdoc_new_key(&d);
        }
    }
    if (rc == 0)
        rc = add_recipients(&d, &ro);
    struct enc_walk w = { &d, 0, 0 };
    if (rc == 0 &&
        coffer_crypt_walk((coffer_value *)coffer_doc_root(d.doc), enc_one, &w) != 0)
        rc = w.rc ? w.rc : oom();
    coffer_secbuf body = { NULL, 0, 0 };
    if (rc == 0)
        rc = cdoc_apply(&d, &body);
    if (rc == 0)
        rc = cdoc_write(&d, &body);
    if (rc == 0)
        cli_note("encrypted %zu value%s in '%s' for %zu recipient%s", w.count,
                 w.count == 1 ? "" : "s", file, d.nrecip, d.nrecip == 1 ? "" : "s");
    coffer_secbuf_release(&body);
    cdoc_release(&d);
    free(ro.r);
    return rc;
}

/* ----------------------------------------------------------- decrypt */

static const char usage_decrypt[] =
    "usage: coffer decrypt [--in-place] [FILE]\n"
    "\n"
    "Print FILE (default: ./.streamlit/secrets.toml) with every value\n"
    "decrypted and without its [coffer] table. --in-place rewrites FILE as\n"
    "plaintext (a warning: do not commit it then).\n";

int cmd_decrypt(int argc, char **argv)
{
    const char *file = NULL;
    bool in_place = false;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_decrypt, false);
        if (strcmp(argv[i], "--in-place") == 0 || strcmp(argv[i], "-i") == 0) {
            in_place = true;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1])
            return cli_bad_option(argv[i], usage_decrypt);
        if (file) {
            cli_error("too many arguments");
            return cli_usage(usage_decrypt, true);
        }
        file = argv[i];
    }
    if (!file)
        file = cli_default_file();
    cli_harden();
    struct cdoc d;
    int rc = cdoc_open(&d, file, false);
    coffer_secbuf body = { NULL, 0, 0 };
    if (rc == 0)
        rc = cdoc_decrypt_body(&d, &body);
    if (rc == 0 && in_place) {
        for (size_t i = 0; i < d.nrecip; i++) { /* no [coffer] table any more */
            free(d.recip[i]);
            free(d.wrapped[i]);
        }
        d.nrecip = 0;
        rc = cdoc_write(&d, &body);
        if (rc == 0)
            cli_warning("'%s' now holds plaintext secrets: do not commit it",
                        file);
    } else if (rc == 0 && body.len && cli_write_all(1, body.data, body.len) != 0) {
        rc = CLI_EXIT_PROBLEMS;
    }
    coffer_secbuf_release(&body);
    cdoc_release(&d);
    return rc;
}

/* --------------------------------------------------------- set/unset */

static const char usage_set[] =
    "usage: coffer set [--type TYPE] [--file FILE] KEY\n"
    "\n"
    "Set KEY (a dotted path) in FILE (default: ./.streamlit/secrets.toml)\n"
    "to a value read from stdin (one trailing newline dropped) or from a\n"
    "no-echo prompt on the terminal; never from the command line. TYPE:\n"
    "string (default), integer, float, boolean, datetime, datetime-local,\n"
    "date-local, time-local (the value is then TOML text: 42, true,\n"
    "1979-05-27). Encrypted when FILE has recipients. Tables are created as\n"
    "needed; the rest of the text stays as it is.\n";

static const char usage_unset[] =
    "usage: coffer unset [--file FILE] KEY\n"
    "\n"
    "Remove KEY (a value, or a [table] without sub-tables) from FILE\n"
    "(default: ./.streamlit/secrets.toml), keeping the rest of the text.\n";

struct steps {
    char **k;
    size_t n;
    bool index;
};

static int step_cb(void *ctx, const char *key, size_t n, long index)
{
    struct steps *s = ctx;
    (void)index;
    if (!key) {
        s->index = true;
        return 1;
    }
    char **nk = realloc(s->k, (s->n + 1) * sizeof *nk);
    if (!nk)
        return 1;
    s->k = nk;
    s->k[s->n] = strndup(key, n);
    if (!s->k[s->n])
        return 1;
    s->n++;
    return 0;
}

static void steps_free(struct steps *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->k[i]);
    free(s->k);
}

/* Canonical quoted dotted form of steps [0, n). */
static void steps_path(const struct steps *s, size_t n, struct cli_out *o)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            cli_out_add(o, ".", 1);
        cli_out_key(o, s->k[i], strlen(s->k[i]));
    }
}

static int parse_key(const char *key, struct steps *s)
{
    memset(s, 0, sizeof *s);
    coffer_error err;
    memset(&err, 0, sizeof err);
    int rc = coffer_path_walk(key, step_cb, s, &err);
    if (rc < 0) {
        cli_error("%s", err.message);
        return CLI_EXIT_USAGE;
    }
    if (s->index) {
        cli_error("'%s': array elements cannot be set or unset; edit the file",
                  key);
        return CLI_EXIT_USAGE;
    }
    if (s->n == 0) {
        cli_error("empty key");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

/* Start of line of byte offset p / end of its line (after the newline). */
static size_t line_start(const struct cdoc *d, size_t p)
{
    while (p > 0 && d->text.data[p - 1] != '\n')
        p--;
    return p;
}

static size_t line_end(const struct cdoc *d, size_t p)
{
    while (p < d->body_end && d->text.data[p] != '\n')
        p++;
    return p < d->body_end ? p + 1 : p;
}

/* The first header line at or after line `after` (0: any), as an offset. */
static unsigned first_header(const coffer_value *v, unsigned after, unsigned best)
{
    if (v->type != COFFER_TYPE_TABLE && v->type != COFFER_TYPE_ARRAY)
        return best;
    for (uint32_t i = 0; i < v->u.c->count; i++) {
        const coffer_value *c = &v->u.c->items[i];
        if ((c->flags & (COFFER_NF_DEFINED | COFFER_NF_AOT)) && c->line > after &&
            (best == 0 || c->line < best))
            best = c->line;
        if (!(c->flags & COFFER_NF_INLINE))
            best = first_header(c, after, best);
    }
    return best;
}

static bool has_subtables(const coffer_value *v)
{
    if (v->type != COFFER_TYPE_TABLE && v->type != COFFER_TYPE_ARRAY)
        return false;
    for (uint32_t i = 0; i < v->u.c->count; i++) {
        const coffer_value *c = &v->u.c->items[i];
        if ((c->flags & (COFFER_NF_DEFINED | COFFER_NF_AOT)) || has_subtables(c))
            return true;
    }
    return false;
}

static size_t header_offset(const struct cdoc *d, unsigned after)
{
    unsigned l = first_header(coffer_doc_root(d->doc), after, 0);
    size_t o = l ? d->lines[l - 1] : d->body_end;
    return o > d->body_end ? d->body_end : o;
}

static const char *file_opt(int argc, char **argv, int *i, int *bad,
                            const char *usage)
{
    const char *val;
    int m = cli_opt_value(argc, argv, i, "--file", NULL, &val);
    if (m < 0)
        *bad = cli_usage(usage, true);
    return m > 0 ? val : NULL;
}

/* The new value's TOML text for the file: quoted ENC or plain TOML. */
static int value_text(struct cdoc *d, coffer_type t, const char *path,
                      const coffer_secbuf *val, struct cli_out *o)
{
    if (d->nrecip) {
        char *q;
        size_t ql;
        int rc = cdoc_seal_quoted(d, t, path, (const uint8_t *)val->data,
                                  val->len, &q, &ql);
        if (rc)
            return rc;
        cli_out_add(o, q, ql);
        free(q);
    } else if (t == COFFER_TYPE_STRING) {
        cdoc_quote(o, val->data, val->len);
    } else {
        cli_out_add(o, val->data, val->len);
    }
    return o->failed ? oom() : 0;
}

static int check_value(coffer_type t, const coffer_secbuf *val)
{
    if (t == COFFER_TYPE_STRING) {
        if (!coffer_utf8_valid(val->data ? val->data : "", val->len)) {
            cli_error("the value is not valid utf-8");
            return CLI_EXIT_USAGE;
        }
        return 0;
    }
    coffer_secbuf b = { NULL, 0, 0 };
    int rc = 0;
    if (coffer_secbuf_append(&b, "v = ", 4) ||
        coffer_secbuf_append(&b, val->data ? val->data : "", val->len))
        return oom();
    coffer_parse_options po;
    memset(&po, 0, sizeof po);
    po.allocator = coffer_allocator_secure();
    coffer_doc *doc = NULL;
    const coffer_value *v = NULL;
    if (coffer_toml_parse(b.data, b.len, &po, &doc, NULL) == 0)
        v = coffer_table_get(coffer_doc_root(doc), "v", 1);
    if (!v || coffer_value_type(v) != t || coffer_table_count(coffer_doc_root(doc)) != 1) {
        cli_error("the value is not a TOML %s", coffer_crypt_type_name(t));
        rc = CLI_EXIT_USAGE;
    }
    coffer_doc_free(doc);
    coffer_secbuf_release(&b);
    return rc;
}

/* The common start of set and unset once options are read: KEY given,
 * FILE defaulted, KEY split into steps. 0 or an exit status. */
static int key_setup(const char *key, const char **file, struct steps *st,
                     const char *usage)
{
    memset(st, 0, sizeof *st);
    int bad = cli_need_key(key, usage);
    if (bad)
        return bad;
    if (!*file)
        *file = cli_default_file();
    cli_harden();
    int rc = parse_key(key, st);
    if (rc)
        steps_free(st);
    return rc;
}

int cmd_set(int argc, char **argv)
{
    const char *key = NULL, *file = NULL;
    coffer_type type = COFFER_TYPE_STRING;
    for (int i = 1; i < argc; i++) {
        const char *val;
        int bad = 0;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_set, false);
        const char *f = file_opt(argc, argv, &i, &bad, usage_set);
        if (bad)
            return bad;
        if (f) {
            file = f;
            continue;
        }
        int m = cli_opt_value(argc, argv, &i, "--type", NULL, &val);
        if (m < 0)
            return cli_usage(usage_set, true);
        if (m > 0) {
            type = coffer_crypt_type_parse(val, strlen(val));
            if (type == COFFER_TYPE_NONE) {
                cli_error("unknown type '%s'", val);
                return cli_usage(usage_set, true);
            }
            continue;
        }
        bad = cli_take_key(argc, argv, &i, &key, usage_set);
        if (bad)
            return bad;
    }
    struct steps st;
    int rc = key_setup(key, &file, &st, usage_set);
    if (rc)
        return rc;
    struct cdoc d;
    coffer_secbuf val = { NULL, 0, 0 }, body = { NULL, 0, 0 };
    struct cli_out path, line;
    memset(&path, 0, sizeof path);
    memset(&line, 0, sizeof line);
    rc = cdoc_open(&d, file, true);
    if (rc == 0 && d.has_meta)
        rc = cdoc_need_key(&d);
    if (rc == 0) {
        char prompt[200];
        snprintf(prompt, sizeof prompt, "value for '%.150s': ", key);
        rc = cli_read_secret(prompt, &val);
    }
    if (rc == 0)
        rc = check_value(type, &val);
    steps_path(&st, st.n, &path);
    if (rc == 0 && path.failed)
        rc = oom();
    const coffer_value *root = rc == 0 ? coffer_doc_root(d.doc) : NULL;
    const coffer_value *cur = NULL;
    if (rc == 0 && coffer_value_seek(root, path.b.data, &cur, NULL) == 0) {
        if (cur->type == COFFER_TYPE_TABLE || cur->type == COFFER_TYPE_ARRAY) {
            cli_error("'%s' is %s; set replaces values only", key,
                      cur->type == COFFER_TYPE_TABLE ? "a table" : "an array");
            rc = CLI_EXIT_NOKEY;
        } else {
            size_t s, e;
            cdoc_span(&d, cur, &s, &e);
            rc = value_text(&d, type, path.b.data, &val, &line);
            if (rc == 0)
                rc = cdoc_edit(&d, s, e, line.b.data, line.b.len, true);
        }
    } else if (rc == 0) {
        /* a new key: into its table, or a new [table] at the end */
        const coffer_value *parent = root;
        struct cli_out ppath;
        memset(&ppath, 0, sizeof ppath);
        steps_path(&st, st.n - 1, &ppath);
        if (st.n > 1 && coffer_value_seek(root, ppath.b.data, &parent, NULL) != 0)
            parent = NULL;
        size_t at;
        bool header = false;
        if (parent == root) {
            at = header_offset(&d, 0);
        } else if (parent && parent->type == COFFER_TYPE_TABLE &&
                   (parent->flags & COFFER_NF_DEFINED)) {
            at = line_end(&d, d.lines[parent->line - 1]);
        } else if (!parent || (parent->type == COFFER_TYPE_TABLE &&
                               (parent->flags & COFFER_NF_IMPLICIT) &&
                               !(parent->flags & (COFFER_NF_DOTTED | COFFER_NF_INLINE)))) {
            at = d.body_end;
            header = true;
        } else {
            cli_error("cannot add '%s': '%s' is not a [table] of the file "
                      "(an inline or dotted table, an array or a value); "
                      "edit the file", key, ppath.b.data);
            rc = CLI_EXIT_NOKEY;
        }
        if (rc == 0) {
            if (header) {
                if (at > 0 && d.text.data[at - 1] != '\n')
                    cli_out_str(&line, "\n");
                cli_out_str(&line, "\n[");
                cli_out_add(&line, ppath.b.data, ppath.b.len);
                cli_out_str(&line, "]\n");
            } else if (at > 0 && d.text.data[at - 1] != '\n') {
                cli_out_str(&line, "\n");
            }
            const char *leaf = st.k[st.n - 1];
            cli_out_key(&line, leaf, strlen(leaf));
            cli_out_str(&line, " = ");
            rc = value_text(&d, type, path.b.data, &val, &line);
            cli_out_str(&line, "\n");
            if (rc == 0)
                rc = line.failed ? oom()
                                 : cdoc_edit(&d, at, at, line.b.data, line.b.len, true);
        }
        cli_out_release(&ppath);
    }
    if (rc == 0)
        rc = cdoc_apply(&d, &body);
    if (rc == 0)
        rc = cdoc_write(&d, &body);
    if (rc == 0)
        cli_note("set '%s' in '%s'%s", key, file, d.nrecip ? " (encrypted)" : "");
    coffer_secbuf_release(&val);
    coffer_secbuf_release(&body);
    cli_out_release(&path);
    cli_out_release(&line);
    cdoc_release(&d);
    steps_free(&st);
    return rc;
}

int cmd_unset(int argc, char **argv)
{
    const char *key = NULL, *file = NULL;
    for (int i = 1; i < argc; i++) {
        int bad = 0;
        if (cli_is_help(argv[i]))
            return cli_usage(usage_unset, false);
        const char *f = file_opt(argc, argv, &i, &bad, usage_unset);
        if (bad)
            return bad;
        if (f) {
            file = f;
            continue;
        }
        bad = cli_take_key(argc, argv, &i, &key, usage_unset);
        if (bad)
            return bad;
    }
    struct steps st;
    int rc = key_setup(key, &file, &st, usage_unset);
    if (rc)
        return rc;
    struct cdoc d;
    coffer_secbuf body = { NULL, 0, 0 };
    struct cli_out path;
    memset(&path, 0, sizeof path);
    rc = cdoc_open(&d, file, false);
    if (rc == 0 && d.has_meta)
        rc = cdoc_need_key(&d); /* the MAC changes */
    steps_path(&st, st.n, &path);
    const coffer_value *v = NULL, *parent = NULL;
    if (rc == 0) {
        const coffer_value *root = coffer_doc_root(d.doc);
        struct cli_out pp;
        memset(&pp, 0, sizeof pp);
        steps_path(&st, st.n - 1, &pp);
        if (coffer_value_seek(root, path.b.data, &v, NULL) != 0) {
            cli_error("key '%s' not found in '%s'", key, file);
            rc = CLI_EXIT_NOKEY;
        } else if (st.n > 1) {
            (void)coffer_value_seek(root, pp.b.data, &parent, NULL);
        } else {
            parent = root;
        }
        cli_out_release(&pp);
    }
    if (rc == 0 && parent && (parent->flags & COFFER_NF_INLINE)) {
        cli_error("'%s' is inside an inline table; edit the file", key);
        rc = CLI_EXIT_NOKEY;
    }
    if (rc == 0) {
        size_t s, e;
        if (v->type == COFFER_TYPE_TABLE && (v->flags & COFFER_NF_DEFINED)) {
            if (has_subtables(v)) {
                cli_error("'%s' has sub-tables; unset them first", key);
                rc = CLI_EXIT_NOKEY;
            } else {
                s = d.lines[v->line - 1];
                e = header_offset(&d, v->line);
            }
        } else if (v->type == COFFER_TYPE_TABLE && !(v->flags & COFFER_NF_INLINE)) {
            cli_error("'%s' is a table made by dotted keys or sub-tables; edit "
                      "the file", key);
            rc = CLI_EXIT_NOKEY;
        } else if (v->flags & COFFER_NF_AOT) {
            cli_error("'%s' is an array of tables; edit the file", key);
            rc = CLI_EXIT_NOKEY;
        } else {
            size_t vs;
            cdoc_span(&d, v, &vs, &e);
            s = line_start(&d, vs);
            e = line_end(&d, e);
            /* one key = value per line, nothing else on it */
            for (size_t i = s; i < vs; i++)
                if (d.text.data[i] == ',' || d.text.data[i] == '{') {
                    cli_error("'%s' shares its line with other values; edit "
                              "the file", key);
                    rc = CLI_EXIT_NOKEY;
                    break;
                }
        }
        if (rc == 0)
            rc = cdoc_edit(&d, s, e, "", 0, false);
    }
    if (rc == 0)
        rc = cdoc_apply(&d, &body);
    if (rc == 0)
        rc = cdoc_write(&d, &body);
    if (rc == 0)
        cli_note("removed '%s' from '%s'", key, file);
    coffer_secbuf_release(&body);
    cli_out_release(&path);
    cdoc_release(&d);
    steps_free(&st);
    return rc;
}

/* ------------------------------------------------- rotate, recipients */

static const char usage_rotate[] =
    "usage: coffer rotate [FILE]\n"
    "\n"
    "Give FILE (default: ./.streamlit/secrets.toml) a new data key: every\n"
    "value is re-encrypted and the key wrapped again for each recipient, so\n"
    "a removed recipient's identity opens nothing written from now on.\n";

static const char usage_recipients[] =
    "usage: coffer recipients list [FILE]\n"
    "       coffer recipients add [-p] [RECIPIENT]... [--file FILE]\n"
    "       coffer recipients remove RECIPIENT... [--file FILE]\n"
    "\n"
    "List, add or remove the recipients of FILE (default:\n"
    "./.streamlit/secrets.toml). add wraps the data key for the new\n"
    "recipients (-p: a passphrase recipient); remove also rotates the data\n"
    "key (coffer rotate), so the removed identities lose access to\n"
    "everything written from now on.\n";

struct rot {
    struct cdoc *d;
    uint8_t *newkey;
    int rc;
};

static int rot_one(void *ctx, coffer_value *v, const char *path, size_t pathlen)
{
    struct rot *r = ctx;
    if (v->type != COFFER_TYPE_STRING || !coffer_crypt_is_enc(v->u.s, v->len))
        return 0;
    size_t cap = coffer_crypt_open_max(v->u.s, v->len);
    coffer_secbuf pt = { NULL, 0, 0 };
    if (coffer_secbuf_reserve(&pt, cap + 1) != 0)
        return r->rc = oom();
    coffer_error err;
    memset(&err, 0, sizeof err);
    size_t n;
    coffer_type t;
    int rc = coffer_crypt_open(r->d->key, path, pathlen, v->u.s, v->len,
                               (uint8_t *)pt.data, cap, &n, &t, r->d->path, &err);
    if (rc) {
        coffer_secbuf_release(&pt);
        return r->rc = cli_fail(&err);
    }
    char *enc;
    size_t el;
    rc = coffer_crypt_seal(r->newkey, t, path, pathlen, (uint8_t *)pt.data, n,
                           &enc, &el);
    coffer_secbuf_release(&pt);
    if (rc)
        return r->rc = oom();
    size_t s, e, ql;
    cdoc_span(r->d, v, &s, &e);
    char *q;
    rc = cdoc_quote_enc(enc, el, &q, &ql);
    free(enc);
    if (rc == 0) {
        rc = cdoc_edit(r->d, s, e, q, ql, false);
        free(q);
    }
    return r->rc = rc;
}

static bool has_scrypt(const struct cdoc *d)
{
    for (size_t i = 0; i < d->nrecip; i++)
        if (strcmp(d->recip[i], COFFER_CRYPT_SCRYPT) == 0)
            return true;
    return false;
}

/* New data key, every value re-sealed, the key wrapped again. */
static int rotate(struct cdoc *d)
{
    const coffer_allocator *a = coffer_allocator_secure();
    uint8_t *nk = a->alloc(a->ctx, 32);
    if (!nk)
        return oom();
    randombytes_buf(nk, 32);
    struct rot r = { d, nk, 0 };
    int rc = 0;
    if (coffer_crypt_walk((coffer_value *)coffer_doc_root(d->doc), rot_one, &r) != 0)
        rc = r.rc ? r.rc : oom();
    if (rc == 0) {
        memcpy(d->key, nk, 32);
        coffer_secbuf pass = { NULL, 0, 0 };
        if (has_scrypt(d))
            rc = cli_passphrase(&pass, false);
        if (rc == 0)
            rc = cdoc_rewrap(d, pass.data, pass.len);
        coffer_secbuf_release(&pass);
    }
    coffer_memzero(nk, 32);
    a->release(a->ctx, nk, 32);
    return rc;
}

static int finish_write(struct cdoc *d)
{
    coffer_secbuf body = { NULL, 0, 0 };
    int rc = cdoc_apply(d, &body);
    if (rc == 0)
        rc = cdoc_write(d, &body);
    coffer_secbuf_release(&body);
    return rc;
}

static int open_encrypted(struct cdoc *d, const char *file, bool key)
{
    int rc = cdoc_open(d, file, false);
    if (rc == 0 && !d->has_meta) {
        cli_error("'%s' is not encrypted (no [coffer] table); run 'coffer "
                  "encrypt -r RECIPIENT'", file);
        rc = CLI_EXIT_CRYPTO;
    }
    if (rc == 0 && key)
        rc = cdoc_need_key(d);
    return rc;
}

int cmd_rotate(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_rotate, false);
        if (argv[i][0] == '-' && argv[i][1])
            return cli_bad_option(argv[i], usage_rotate);
        if (file) {
            cli_error("too many arguments");
            return cli_usage(usage_rotate, true);
        }
        file = argv[i];
    }
    if (!file)
        file = cli_default_file();
    cli_harden();
    struct cdoc d;
    int rc = open_encrypted(&d, file, true);
    if (rc == 0)
        rc = rotate(&d);
    if (rc == 0)
        rc = finish_write(&d);
    if (rc == 0)
        cli_note("new data key for '%s' (%zu recipient%s)", file, d.nrecip,
                 d.nrecip == 1 ? "" : "s");
    cdoc_release(&d);
    return rc;
}

int cmd_recipients(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage(usage_recipients, true);
    if (cli_is_help(argv[1]))
        return cli_usage(usage_recipients, false);
    const char *sub = argv[1];
    const char *file = NULL;
    struct recip_opts ro = { NULL, 0, false };
    ro.r = calloc((size_t)argc, sizeof *ro.r);
    if (!ro.r)
        return oom();
    bool list = strcmp(sub, "list") == 0, add = strcmp(sub, "add") == 0,
         rem = strcmp(sub, "remove") == 0;
    if (!list && !add && !rem) {
        free(ro.r);
        cli_error("unknown recipients command '%s' (list, add or remove)", sub);
        return cli_usage(usage_recipients, true);
    }
    for (int i = 2; i < argc; i++) {
        int bad = 0;
        if (cli_is_help(argv[i])) {
            free(ro.r);
            return cli_usage(usage_recipients, false);
        }
        const char *f = file_opt(argc, argv, &i, &bad, usage_recipients);
        if (bad) {
            free(ro.r);
            return bad;
        }
        if (f) {
            file = f;
            continue;
        }
        if (add && (strcmp(argv[i], "-p") == 0 || strcmp(argv[i], "--passphrase") == 0)) {
            ro.pass = true;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            free(ro.r);
            return cli_bad_option(argv[i], usage_recipients);
        }
        if (list) {
            if (file) {
                free(ro.r);
                cli_error("too many arguments");
                return cli_usage(usage_recipients, true);
            }
            file = argv[i];
        } else {
            ro.r[ro.nr++] = argv[i];
        }
    }
    if (!file)
        file = cli_default_file();
    if ((add && ro.nr == 0 && !ro.pass) || (rem && ro.nr == 0)) {
        free(ro.r);
        cli_error("missing RECIPIENT");
        return cli_usage(usage_recipients, true);
    }
    cli_harden();
    struct cdoc d;
    int rc = open_encrypted(&d, file, !list);
    if (rc == 0 && list) {
        for (size_t i = 0; i < d.nrecip; i++)
            printf("%s\n", d.recip[i]);
        if (fflush(stdout) != 0)
            rc = CLI_EXIT_PROBLEMS;
    } else if (rc == 0 && add) {
        size_t before = d.nrecip;
        rc = add_recipients(&d, &ro);
        if (rc == 0)
            rc = finish_write(&d);
        if (rc == 0)
            cli_note("added %zu recipient%s to '%s'", d.nrecip - before,
                     d.nrecip - before == 1 ? "" : "s", file);
    } else if (rc == 0 && rem) {
        for (size_t k = 0; k < ro.nr && rc == 0; k++) {
            size_t i = 0;
            while (i < d.nrecip && strcmp(d.recip[i], ro.r[k]) != 0)
                i++;
            if (i == d.nrecip) {
                cli_error("'%s' is not a recipient of '%s'", ro.r[k], file);
                rc = CLI_EXIT_NOKEY;
                break;
            }
            free(d.recip[i]);
            free(d.wrapped[i]);
            memmove(&d.recip[i], &d.recip[i + 1], (d.nrecip - i - 1) * sizeof *d.recip);
            memmove(&d.wrapped[i], &d.wrapped[i + 1],
                    (d.nrecip - i - 1) * sizeof *d.wrapped);
            d.nrecip--;
        }
        if (rc == 0 && d.nrecip == 0) {
            cli_error("cannot remove every recipient of '%s'; use 'coffer "
                      "decrypt --in-place' to store it as plaintext", file);
            rc = CLI_EXIT_USAGE;
        }
        if (rc == 0)
            rc = rotate(&d);
        if (rc == 0)
            rc = finish_write(&d);
        if (rc == 0)
            cli_note("removed %zu recipient%s from '%s' and rotated its data key",
                     ro.nr, ro.nr == 1 ? "" : "s", file);
    }
    cdoc_release(&d);
    free(ro.r);
    return rc;
}
