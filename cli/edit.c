/* edit.c - the text editor of encrypted secrets files (struct cdoc) and
 * coffer edit. */
#include "crypt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* ------------------------------------------------------------ helpers */

const char *cli_default_file(void)
{
    static char buf[COFFER_ERROR_PATH_MAX];
    if (cli_g.npaths == 1 && strncmp(cli_g.paths[0], "flat:", 5) != 0)
        return cli_g.paths[0];
    snprintf(buf, sizeof buf, "%s/.streamlit/secrets.toml",
             strcmp(cli_g.cwd, "/") == 0 ? "" : cli_g.cwd);
    return buf;
}

static int oom(void)
{
    cli_error("out of memory");
    return CLI_EXIT_PROBLEMS;
}

void cdoc_quote(struct cli_out *out, const char *s, size_t n)
{
    cli_out_json(out, s, n); /* JSON escapes are TOML basic-string escapes */
}

/* Reads fd to the end into a secure buffer. */
static int read_all(int fd, coffer_secbuf *b)
{
    for (;;) {
        if (coffer_secbuf_reserve(b, 4096) != 0)
            return -1;
        ssize_t r = read(fd, b->data + b->len, b->cap - b->len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        b->len += (size_t)r;
    }
    b->data[b->len] = '\0';
    return 0;
}

static int tty_line(const char *prompt, coffer_secbuf *out)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        cli_error("no terminal to prompt on: give the value on stdin");
        return CLI_EXIT_USAGE;
    }
    struct termios old, raw;
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        raw = old;
        raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        raw.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &raw);
    }
    (void)cli_write_all(fd, prompt, strlen(prompt));
    int rc = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (coffer_secbuf_append(out, &c, 1) != 0) {
            rc = oom();
            break;
        }
    }
    if (restore)
        tcsetattr(fd, TCSAFLUSH, &old);
    (void)cli_write_all(fd, "\n", 1);
    close(fd);
    return rc;
}

int cli_read_secret(const char *prompt, coffer_secbuf *out)
{
    if (!isatty(0)) {
        if (read_all(0, out) != 0) {
            cli_error("cannot read the value from stdin: %s", strerror(errno));
            return CLI_EXIT_PROBLEMS;
        }
        if (out->len && out->data[out->len - 1] == '\n') {
            out->data[--out->len] = '\0';
            if (out->len && out->data[out->len - 1] == '\r')
                out->data[--out->len] = '\0';
        }
        return 0;
    }
    return tty_line(prompt, out);
}

int cli_passphrase(coffer_secbuf *out, bool confirm)
{
    const char *p = getenv("COFFER_AGE_PASSPHRASE");
    if (p && *p)
        return coffer_secbuf_append(out, p, strlen(p)) ? oom() : 0;
    int rc = tty_line("passphrase: ", out);
    if (rc)
        return rc;
    if (out->len == 0) {
        cli_error("empty passphrase");
        return CLI_EXIT_USAGE;
    }
    if (confirm) {
        coffer_secbuf again = { NULL, 0, 0 };
        rc = tty_line("passphrase (again): ", &again);
        if (rc == 0 && !coffer_equal_ct(out->data, out->len, again.data,
                                        again.len)) {
            cli_error("the passphrases differ");
            rc = CLI_EXIT_USAGE;
        }
        coffer_secbuf_release(&again);
    }
    return rc;
}

/* ------------------------------------------------------------- cdoc */

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

static int index_lines(struct cdoc *d)
{
    size_t n = 1;
    for (size_t i = 0; i < d->text.len; i++)
        n += d->text.data[i] == '\n';
    free(d->lines);
    d->lines = malloc((n + 1) * sizeof *d->lines);
    if (!d->lines)
        return -1;
    d->nlines = 0;
    d->lines[d->nlines++] = 0;
    for (size_t i = 0; i < d->text.len; i++)
        if (d->text.data[i] == '\n')
            d->lines[d->nlines++] = i + 1;
    return 0;
}

static size_t offset_of(const struct cdoc *d, unsigned line, unsigned col)
{
    if (line == 0 || line > d->nlines)
        return d->text.len;
    size_t o = d->lines[line - 1] + (col ? col - 1 : 0);
    return o > d->text.len ? d->text.len : o;
}

/* The largest line of any node outside the metadata. */
static unsigned max_line(const coffer_value *v, bool root)
{
    unsigned m = v->line;
    if (v->type != COFFER_TYPE_TABLE && v->type != COFFER_TYPE_ARRAY)
        return m;
    for (uint32_t i = 0; i < v->u.c->count; i++) {
        const coffer_value *c = &v->u.c->items[i];
        if (root && c->keylen == 6 && memcmp(c->key, COFFER_CRYPT_META, 6) == 0)
            continue;
        unsigned k = max_line(c, false);
        if (k > m)
            m = k;
    }
    return m;
}

static int parse_text(struct cdoc *d)
{
    coffer_parse_options po;
    memset(&po, 0, sizeof po);
    po.allocator = coffer_allocator_secure();
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (coffer_toml_parse(d->text.data ? d->text.data : "", d->text.len, &po,
                          &d->doc, &err) != 0) {
        snprintf(err.file, sizeof err.file, "%s", d->path);
        return cli_fail(&err);
    }
    if (index_lines(d) != 0)
        return oom();
    const coffer_value *root = coffer_doc_root(d->doc);
    int rc = coffer_crypt_meta_read(root, &d->meta, d->path, &err);
    if (rc < 0)
        return cli_fail(&err);
    d->has_meta = rc == 0;
    d->body_end = d->text.len;
    if (!d->has_meta)
        return 0;
    unsigned ml = d->meta.table->line;
    if (max_line(root, true) >= ml || (d->meta.table->flags & COFFER_NF_DEFINED) == 0) {
        cli_error("the [coffer] table must be the last table of '%s', written "
                  "as a [coffer] header", d->path);
        return CLI_EXIT_INVALID;
    }
    d->body_end = offset_of(d, ml, 1);
    /* the blank line written before the [coffer] table belongs to it */
    while (d->body_end >= 2 && d->text.data[d->body_end - 1] == '\n' &&
           d->text.data[d->body_end - 2] == '\n')
        d->body_end--;
    d->nrecip = d->meta.nrecip;
    d->recip = calloc(d->nrecip, sizeof *d->recip);
    d->wrapped = calloc(d->nrecip, sizeof *d->wrapped);
    if (!d->recip || !d->wrapped)
        return oom();
    for (size_t i = 0; i < d->nrecip; i++) {
        size_t rl, wl;
        const char *r = coffer_crypt_meta_recipient(&d->meta, i, &rl);
        const char *w = coffer_crypt_meta_wrapped(&d->meta, i, &wl);
        d->recip[i] = strndup(r, rl);
        d->wrapped[i] = strndup(w, wl);
        if (!d->recip[i] || !d->wrapped[i])
            return oom();
    }
    return 0;
}

int cdoc_open(struct cdoc *d, const char *path, bool create)
{
    memset(d, 0, sizeof *d);
    d->path = path;
    d->mode = 0600;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT || !create) {
            cli_error("cannot open '%s': %s", path, strerror(errno));
            return errno == ENOENT ? CLI_EXIT_NOSECRETS : CLI_EXIT_INVALID;
        }
    } else {
        struct stat st;
        if (fstat(fd, &st) == 0)
            d->mode = st.st_mode & 0777;
        d->exists = true;
        int r = read_all(fd, &d->text);
        close(fd);
        if (r != 0) {
            cli_error("cannot read '%s': %s", path, strerror(errno));
            return CLI_EXIT_INVALID;
        }
    }
    if (coffer_secbuf_reserve(&d->text, 1) != 0)
        return oom();
    return parse_text(d);
}

static void drop_edits(struct cdoc *d)
{
    for (size_t i = 0; i < d->nedits; i++) {
        struct cedit *e = &d->edits[i];
        if (e->secure) {
            coffer_secbuf b = { e->text, e->len, e->cap };
            coffer_secbuf_release(&b);
        } else {
            free(e->text);
        }
    }
    free(d->edits);
    d->edits = NULL;
    d->nedits = d->capedits = 0;
}

void cdoc_release(struct cdoc *d)
{
    drop_edits(d);
    coffer_doc_free(d->doc);
    coffer_secbuf_release(&d->text);
    free(d->lines);
    free_list(d->recip, d->nrecip);
    free_list(d->wrapped, d->nrecip);
    if (d->key) {
        const coffer_allocator *a = coffer_allocator_secure();
        coffer_memzero(d->key, 32);
        a->release(a->ctx, d->key, 32);
    }
    coffer_crypt_ids_release(&d->ids);
    memset(d, 0, sizeof *d);
}

static int key_block(struct cdoc *d)
{
    if (!d->key) {
        const coffer_allocator *a = coffer_allocator_secure();
        d->key = a->alloc(a->ctx, 32);
        if (!d->key)
            return oom();
    }
    return 0;
}

int cdoc_new_key(struct cdoc *d)
{
    if (key_block(d))
        return CLI_EXIT_PROBLEMS;
    randombytes_buf(d->key, 32);
    return 0;
}

int cdoc_need_key(struct cdoc *d)
{
    if (d->key)
        return 0;
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (!d->ids_loaded) {
        const char *k = getenv("COFFER_AGE_KEY");
        const char *p = getenv("COFFER_AGE_PASSPHRASE");
        if (coffer_crypt_ids_load(&d->ids, k, k ? strlen(k) : 0,
                                  getenv("COFFER_AGE_KEY_FILE"), getenv("HOME"),
                                  p, p ? strlen(p) : 0, &err) != 0)
            return cli_fail(&err);
        d->ids_loaded = true;
    }
    if (key_block(d))
        return CLI_EXIT_PROBLEMS;
    int rc = coffer_crypt_unwrap(&d->meta, &d->ids, d->key, d->path, &err);
    if (rc < 0)
        return cli_fail(&err);
    if (rc == 1) {
        const coffer_allocator *a = coffer_allocator_secure();
        a->release(a->ctx, d->key, 32);
        d->key = NULL;
        cli_error("no identity can decrypt '%s'%s", d->path,
                  coffer_crypt_ids_count(&d->ids)
                      ? " (the identities given are not among its recipients)"
                      : " (no identity: set COFFER_AGE_KEY_FILE or create "
                        "~/.config/coffer/keys.txt)");
        return CLI_EXIT_CRYPTO;
    }
    rc = coffer_crypt_mac_check(d->key, &d->meta,
                                (coffer_value *)coffer_doc_root(d->doc),
                                d->path, &err);
    return rc ? cli_fail(&err) : 0;
}

/* End of a string token at p (opening quote), or of a bare scalar. */
static size_t token_end(const char *t, size_t n, size_t p, coffer_type type)
{
    if (p >= n)
        return n;
    char q = t[p];
    if (q == '"' || q == '\'') {
        bool ml = p + 2 < n && t[p + 1] == q && t[p + 2] == q;
        size_t i = p + (ml ? 3 : 1);
        while (i < n) {
            if (q == '"' && t[i] == '\\') {
                i += 2;
                continue;
            }
            if (t[i] == q) {
                if (!ml)
                    return i + 1;
                if (i + 2 < n && t[i + 1] == q && t[i + 2] == q) {
                    size_t e = i + 3;
                    for (int k = 0; k < 2 && e < n && t[e] == q; k++)
                        e++;
                    return e;
                }
            }
            i++;
        }
        return n;
    }
    if (q == '[' || q == '{') { /* arrays and inline tables */
        int depth = 0;
        size_t i = p;
        while (i < n) {
            char c = t[i];
            if (c == '"' || c == '\'') {
                i = token_end(t, n, i, COFFER_TYPE_STRING);
                continue;
            }
            if (c == '#') {
                while (i < n && t[i] != '\n')
                    i++;
                continue;
            }
            if (c == '[' || c == '{')
                depth++;
            else if ((c == ']' || c == '}') && --depth == 0)
                return i + 1;
            i++;
        }
        return n;
    }
    size_t i = p;
    for (;;) {
        while (i < n && !strchr(" \t\r\n,]}#", t[i]))
            i++;
        /* "1979-05-27 07:32:00": a date-time may hold one space */
        if ((type == COFFER_TYPE_DATETIME || type == COFFER_TYPE_DATETIME_LOCAL) &&
            i + 1 < n && t[i] == ' ' && t[i + 1] >= '0' && t[i + 1] <= '9' &&
            !memchr(t + p, ' ', i - p) && !memchr(t + p, 'T', i - p) &&
            !memchr(t + p, 't', i - p)) {
            i++;
            continue;
        }
        return i;
    }
}

void cdoc_span(const struct cdoc *d, const coffer_value *v, size_t *start,
               size_t *end)
{
    *start = offset_of(d, v->line, v->col);
    *end = token_end(d->text.data, d->text.len, *start, (coffer_type)v->type);
}

int cdoc_edit(struct cdoc *d, size_t start, size_t end, const char *text,
              size_t len, bool secure)
{
    if (d->nedits == d->capedits) {
        size_t cap = d->capedits ? d->capedits * 2 : 16;
        struct cedit *ne = realloc(d->edits, cap * sizeof *ne); /* spans only */
        if (!ne)
            return oom();
        d->edits = ne;
        d->capedits = cap;
    }
    struct cedit *e = &d->edits[d->nedits];
    e->start = start;
    e->end = end;
    e->len = len;
    e->secure = secure;
    if (secure) {
        coffer_secbuf b = { NULL, 0, 0 };
        if (coffer_secbuf_append(&b, text, len) != 0 ||
            coffer_secbuf_reserve(&b, 1) != 0)
            return oom();
        e->text = b.data;
        e->cap = b.cap;
    } else {
        e->text = malloc(len + 1);
        if (!e->text)
            return oom();
        memcpy(e->text, text, len);
        e->text[len] = '\0';
    }
    d->nedits++;
    return 0;
}

static int by_start(const void *a, const void *b)
{
    const struct cedit *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int cdoc_apply(const struct cdoc *d, coffer_secbuf *out)
{
    if (d->nedits)
        qsort(d->edits, d->nedits, sizeof *d->edits, by_start);
    size_t pos = 0;
    out->len = 0;
    for (size_t i = 0; i < d->nedits; i++) {
        const struct cedit *e = &d->edits[i];
        if (e->start < pos || e->end > d->body_end)
            return oom(); /* overlapping edits: a bug, never silently */
        if (coffer_secbuf_append(out, d->text.data + pos, e->start - pos) ||
            coffer_secbuf_append(out, e->text, e->len))
            return oom();
        pos = e->end;
    }
    if (coffer_secbuf_append(out, d->text.data + pos, d->body_end - pos) ||
        coffer_secbuf_reserve(out, 1))
        return oom();
    out->data[out->len] = '\0';
    return 0;
}

int cdoc_quote_enc(const char *enc, size_t el, char **out, size_t *outlen)
{
    char *q = malloc(el + 3);
    if (!q)
        return oom();
    q[0] = '"';
    memcpy(q + 1, enc, el);
    q[el + 1] = '"';
    q[el + 2] = '\0';
    *out = q;
    *outlen = el + 2;
    return 0;
}

int cdoc_seal_quoted(struct cdoc *d, coffer_type t, const char *path,
                     const uint8_t *pt, size_t n, char **out, size_t *outlen)
{
    char *enc;
    size_t el;
    if (coffer_crypt_seal(d->key, t, path, strlen(path), pt, n, &enc, &el) != 0)
        return oom();
    int rc = cdoc_quote_enc(enc, el, out, outlen);
    free(enc);
    return rc;
}

static int wrap_for(struct cdoc *d, const char *r, const char *pass,
                    size_t passlen, char **out)
{
    coffer_age_recipient rec;
    memset(&rec, 0, sizeof rec);
    coffer_error err;
    memset(&err, 0, sizeof err);
    if (strcmp(r, COFFER_CRYPT_SCRYPT) == 0) {
        if (!pass) {
            cli_error("a passphrase recipient needs the passphrase");
            return CLI_EXIT_USAGE;
        }
        rec.kind = COFFER_AGE_SCRYPT;
        rec.passphrase = pass;
        rec.passlen = passlen;
        const char *ln = getenv("COFFER_AGE_SCRYPT_LOG_N"); /* tests only */
        rec.log_n = ln ? atoi(ln) : 0;
    } else if (coffer_age_recipient_parse(r, strlen(r), &rec, &err) != 0) {
        cli_error("invalid recipient '%.100s': %s", r, err.message);
        return CLI_EXIT_USAGE;
    }
    size_t n;
    if (coffer_age_encrypt(&rec, 1, d->key, 32, out, &n, &err) != 0)
        return cli_fail(&err);
    return 0;
}

int cdoc_add_recipient(struct cdoc *d, const char *r, const char *pass,
                       size_t passlen)
{
    for (size_t i = 0; i < d->nrecip; i++)
        if (strcmp(d->recip[i], r) == 0)
            return 0; /* already one */
    char *w = NULL;
    int rc = wrap_for(d, r, pass, passlen, &w);
    if (rc)
        return rc;
    char **nr = realloc(d->recip, (d->nrecip + 1) * sizeof *nr);
    if (nr)
        d->recip = nr;
    char **nw = realloc(d->wrapped, (d->nrecip + 1) * sizeof *nw);
    if (nw)
        d->wrapped = nw;
    char *rs = strdup(r);
    if (!nr || !nw || !rs) {
        free(w);
        free(rs);
        return oom();
    }
    d->recip[d->nrecip] = rs;
    d->wrapped[d->nrecip] = w;
    d->nrecip++;
    return 0;
}

int cdoc_rewrap(struct cdoc *d, const char *pass, size_t passlen)
{
    for (size_t i = 0; i < d->nrecip; i++) {
        char *w = NULL;
        int rc = wrap_for(d, d->recip[i], pass, passlen, &w);
        if (rc)
            return rc;
        free(d->wrapped[i]);
        d->wrapped[i] = w;
    }
    return 0;
}

int cdoc_finish(struct cdoc *d, const coffer_secbuf *body, coffer_secbuf *out)
{
    coffer_parse_options po;
    memset(&po, 0, sizeof po);
    po.allocator = coffer_allocator_secure();
    coffer_error err;
    memset(&err, 0, sizeof err);
    coffer_doc *doc = NULL;
    if (coffer_toml_parse(body->data ? body->data : "", body->len, &po, &doc,
                          &err) != 0) {
        snprintf(err.file, sizeof err.file, "%s", d->path);
        cli_error("the change would make '%s' invalid: %u:%u: %s", d->path,
                  err.line, err.column, err.message);
        return CLI_EXIT_INVALID;
    }
    if (coffer_table_get(coffer_doc_root(doc), COFFER_CRYPT_META, 6)) {
        coffer_doc_free(doc);
        cli_error("'%s': the root key 'coffer' is reserved for the encryption "
                  "metadata", d->path);
        return CLI_EXIT_INVALID;
    }
    out->len = 0;
    struct cli_out o = { *out, 0 };
    cli_out_add(&o, body->data, body->len);
    if (d->nrecip) {
        uint8_t mac[32];
        size_t *rl = malloc(d->nrecip * sizeof *rl);
        if (!rl) {
            coffer_doc_free(doc);
            return oom();
        }
        for (size_t i = 0; i < d->nrecip; i++)
            rl[i] = strlen(d->recip[i]);
        int rc = coffer_crypt_mac(d->key, (const char *const *)d->recip, rl,
                                  d->nrecip, (coffer_value *)coffer_doc_root(doc),
                                  mac);
        free(rl);
        if (rc) {
            coffer_doc_free(doc);
            return oom();
        }
        char b64[64];
        sodium_bin2base64(b64, sizeof b64, mac, 32, sodium_base64_VARIANT_ORIGINAL);
        if (o.b.len && o.b.data[o.b.len - 1] != '\n')
            cli_out_str(&o, "\n");
        if (o.b.len && !(o.b.len >= 2 && o.b.data[o.b.len - 2] == '\n'))
            cli_out_str(&o, "\n");
        cli_out_str(&o, "[coffer]\n# encryption metadata written by coffer: "
                        "do not edit (coffer recipients, coffer rotate)\n"
                        "version = 1\nrecipients = [\n");
        for (size_t i = 0; i < d->nrecip; i++) {
            cli_out_str(&o, "  ");
            cdoc_quote(&o, d->recip[i], strlen(d->recip[i]));
            cli_out_str(&o, ",\n");
        }
        cli_out_str(&o, "]\nwrapped = [\n");
        for (size_t i = 0; i < d->nrecip; i++) {
            size_t wl = strlen(d->wrapped[i]);
            cli_out_str(&o, "'''\n");
            cli_out_add(&o, d->wrapped[i], wl);
            if (wl == 0 || d->wrapped[i][wl - 1] != '\n')
                cli_out_str(&o, "\n");
            cli_out_str(&o, "''',\n");
        }
        cli_out_printf(&o, "]\nmac = \"%s\"\n", b64);
    }
    coffer_doc_free(doc);
    *out = o.b;
    if (o.failed)
        return oom();
    return 0;
}

int cdoc_write(struct cdoc *d, const coffer_secbuf *body)
{
    coffer_secbuf full = { NULL, 0, 0 };
    int rc = cdoc_finish(d, body, &full);
    if (rc == 0) {
        coffer_error err;
        memset(&err, 0, sizeof err);
        if (coffer_file_write_atomic(d->path, full.data ? full.data : "",
                                     full.len, d->mode, &err) != 0)
            rc = cli_fail(&err);
    }
    coffer_secbuf_release(&full);
    return rc;
}

/* ---------------------------------------------------- decrypted body */

struct dec {
    struct cdoc *d;
    int rc;
};

static int dec_one(void *ctx, coffer_value *v, const char *path, size_t pathlen)
{
    struct dec *x = ctx;
    struct cdoc *d = x->d;
    if (v->type != COFFER_TYPE_STRING || !coffer_crypt_is_enc(v->u.s, v->len))
        return 0;
    size_t cap = coffer_crypt_open_max(v->u.s, v->len);
    coffer_secbuf pt = { NULL, 0, 0 };
    if (coffer_secbuf_reserve(&pt, cap + 1) != 0)
        return x->rc = oom();
    coffer_error err;
    memset(&err, 0, sizeof err);
    size_t n;
    coffer_type t;
    if (coffer_crypt_open(d->key, path, pathlen, v->u.s, v->len,
                          (uint8_t *)pt.data, cap, &n, &t, d->path, &err) != 0) {
        coffer_secbuf_release(&pt);
        return x->rc = cli_fail(&err);
    }
    pt.len = n;
    size_t s, e;
    cdoc_span(d, v, &s, &e);
    int rc;
    if (t == COFFER_TYPE_STRING) {
        struct cli_out q;
        memset(&q, 0, sizeof q);
        cdoc_quote(&q, pt.data, n);
        rc = q.failed ? oom() : cdoc_edit(d, s, e, q.b.data, q.b.len, true);
        cli_out_release(&q);
    } else {
        rc = cdoc_edit(d, s, e, pt.data, n, true);
    }
    coffer_secbuf_release(&pt);
    return x->rc = rc;
}

int cdoc_decrypt_body(struct cdoc *d, coffer_secbuf *out)
{
    if (d->has_meta) {
        int rc = cdoc_need_key(d);
        if (rc)
            return rc;
    }
    struct dec x = { d, 0 };
    if (d->key &&
        coffer_crypt_walk((coffer_value *)coffer_doc_root(d->doc), dec_one, &x) != 0)
        return x.rc ? x.rc : oom();
    int rc = cdoc_apply(d, out);
    drop_edits(d);
    /* the blank line written before the [coffer] table goes with it */
    while (rc == 0 && d->has_meta && out->len >= 2 &&
           out->data[out->len - 1] == '\n' && out->data[out->len - 2] == '\n')
        out->data[--out->len] = '\0';
    return rc;
}

/* -------------------------------------------------------------- edit */

static const char usage_edit[] =
    "usage: coffer edit [FILE]\n"
    "\n"
    "Decrypt FILE (default: ./.streamlit/secrets.toml) into a private\n"
    "temporary file on tmpfs (/dev/shm, mode 0600), run $VISUAL or $EDITOR\n"
    "on it, and write the result back: values that did not change keep\n"
    "their ENC strings, changed and new values are encrypted. Invalid TOML\n"
    "re-opens the editor with the error at the top; an empty file aborts.\n"
    "The temporary file is wiped and removed on every exit.\n";

#define EDIT_PREFIX "coffer-edit-"

static char edit_tmp[4096];
static volatile sig_atomic_t editor_pid;

/* Overwrites a file with zeros, then removes it (async-signal-safe). */
static void wipe_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0) {
            static const char zero[4096];
            off_t left = st.st_size;
            while (left > 0) {
                size_t k = left > (off_t)sizeof zero ? sizeof zero : (size_t)left;
                ssize_t w = write(fd, zero, k);
                if (w <= 0)
                    break;
                left -= w;
            }
            (void)fdatasync(fd);
        }
        close(fd);
    }
    unlink(path);
}

static void on_fatal(int sig)
{
    if (editor_pid > 0)
        kill((pid_t)editor_pid, SIGTERM);
    if (edit_tmp[0])
        wipe_file(edit_tmp);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const char *tmp_dir(void)
{
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        return "/dev/shm";
    const char *r = getenv("XDG_RUNTIME_DIR");
    if (r && *r && stat(r, &st) == 0 && S_ISDIR(st.st_mode))
        return r;
    return NULL;
}

/* Files of earlier runs that died (SIGKILL) are wiped and removed. */
static void clean_stale(const char *dir)
{
    DIR *dh = opendir(dir);
    if (!dh)
        return;
    struct dirent *e;
    while ((e = readdir(dh)) != NULL) {
        if (strncmp(e->d_name, EDIT_PREFIX, strlen(EDIT_PREFIX)) != 0)
            continue;
        long pid = strtol(e->d_name + strlen(EDIT_PREFIX), NULL, 10);
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (pid <= 0 || lstat(p, &st) != 0 || st.st_uid != geteuid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        wipe_file(p);
        cli_warning("removed '%s' left by an interrupted 'coffer edit'", p);
    }
    closedir(dh);
}

static int write_tmp(const char *path, const char *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    int rc = cli_write_all(fd, data, n);
    close(fd);
    return rc;
}

static int run_editor(const char *path)
{
    const char *ed = getenv("VISUAL");
    if (!ed || !*ed)
        ed = getenv("EDITOR");
    if (!ed || !*ed)
        ed = "vi";
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        cli_strip_identity_env();
        unsetenv("COFFER_SECRETS");
        execl("/bin/sh", "sh", "-c", "exec $0 \"$1\"", ed, path, (char *)NULL);
        _exit(127);
    }
    editor_pid = pid;
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            editor_pid = 0;
            return -1;
        }
    }
    editor_pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Old values: path -> (ENC string, plaintext text as in the temp file). */
struct oldval {
    char *path;
    char *enc;          /* NULL: the value was plaintext in the file */
    coffer_secbuf text; /* its TOML text in the decrypted body */
};

struct olds {
    struct cdoc *d;
    const coffer_secbuf *body; /* decrypted body (for spans) */
    struct cdoc *bd;           /* parse of the body */
    struct oldval *v;
    size_t n, cap;
    int rc;
};

static int remember_old(void *ctx, coffer_value *v, const char *path,
                        size_t pathlen)
{
    struct olds *o = ctx;
    (void)pathlen;
    if (v->type == COFFER_TYPE_TABLE || v->type == COFFER_TYPE_ARRAY)
        return 0;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 32;
        struct oldval *nv = realloc(o->v, cap * sizeof *nv); /* no values */
        if (!nv)
            return o->rc = oom();
        o->v = nv;
        o->cap = cap;
    }
    struct oldval *ov = &o->v[o->n];
    memset(ov, 0, sizeof *ov);
    ov->path = strdup(path);
    /* the value in the original file: ENC or not */
    const coffer_value *orig = NULL;
    if (coffer_value_seek(coffer_doc_root(o->d->doc), path, &orig, NULL) == 0 &&
        orig->type == COFFER_TYPE_STRING && coffer_crypt_is_enc(orig->u.s, orig->len))
        ov->enc = strndup(orig->u.s, orig->len);
    size_t s, e;
    cdoc_span(o->bd, v, &s, &e);
    if (!ov->path || coffer_secbuf_append(&ov->text, o->bd->text.data + s, e - s))
        return o->rc = oom();
    o->n++;
    return 0;
}

struct reenc {
    struct cdoc *nd;      /* the edited text */
    struct olds *old;
    int rc;
};

static int reencrypt_one(void *ctx, coffer_value *v, const char *path,
                         size_t pathlen)
{
    struct reenc *r = ctx;
    (void)pathlen;
    if (v->type == COFFER_TYPE_TABLE || v->type == COFFER_TYPE_ARRAY)
        return 0;
    size_t s, e;
    cdoc_span(r->nd, v, &s, &e);
    const char *tok = r->nd->text.data + s;
    size_t tl = e - s;
    for (size_t i = 0; i < r->old->n; i++) {
        struct oldval *ov = &r->old->v[i];
        if (strcmp(ov->path, path) != 0)
            continue;
        if (!ov->enc)
            return 0; /* plaintext before: stays plaintext */
        if (coffer_equal_ct(ov->text.data, ov->text.len, tok, tl)) {
            char *q;
            size_t ql;
            int rc = cdoc_quote_enc(ov->enc, strlen(ov->enc), &q, &ql);
            if (rc == 0) {
                rc = cdoc_edit(r->nd, s, e, q, ql, false);
                free(q);
            }
            return r->rc = rc;
        }
        break;
    }
    const uint8_t *pt = (const uint8_t *)tok;
    size_t n = tl;
    if (v->type == COFFER_TYPE_STRING) {
        pt = (const uint8_t *)v->u.s;
        n = v->len;
    }
    char *q;
    size_t ql;
    int rc = cdoc_seal_quoted(r->old->d, (coffer_type)v->type, path, pt, n, &q, &ql);
    if (rc)
        return r->rc = rc;
    rc = cdoc_edit(r->nd, s, e, q, ql, false);
    free(q);
    return r->rc = rc;
}

static void strip_error_header(coffer_secbuf *b)
{
    static const char mark[] = "# coffer: ";
    size_t cut = 0;
    while (b->len - cut >= sizeof mark - 1 &&
           memcmp(b->data + cut, mark, sizeof mark - 1) == 0) {
        char *nl = memchr(b->data + cut, '\n', b->len - cut);
        if (!nl)
            break;
        cut = (size_t)(nl - b->data) + 1;
    }
    if (cut) {
        memmove(b->data, b->data + cut, b->len - cut);
        coffer_memzero(b->data + b->len - cut, cut);
        b->len -= cut;
        b->data[b->len] = '\0';
    }
}

static int edit_loop(struct cdoc *d, const coffer_secbuf *plain, int tfd);

int cmd_edit(int argc, char **argv)
{
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i]))
            return cli_usage(usage_edit, false);
        if (argv[i][0] == '-' && argv[i][1])
            return cli_bad_option(argv[i], usage_edit);
        if (file) {
            cli_error("too many arguments");
            return cli_usage(usage_edit, true);
        }
        file = argv[i];
    }
    if (!file)
        file = cli_default_file();
    cli_harden();
    const char *dir = tmp_dir();
    if (!dir) {
        cli_error("no tmpfs for the temporary file (/dev/shm or "
                  "$XDG_RUNTIME_DIR); refusing to write plaintext to disk");
        return CLI_EXIT_PROBLEMS;
    }
    clean_stale(dir);
    struct cdoc d;
    int rc = cdoc_open(&d, file, true);
    coffer_secbuf plain = { NULL, 0, 0 };
    if (rc == 0)
        rc = cdoc_decrypt_body(&d, &plain);
    if (rc) {
        coffer_secbuf_release(&plain);
        cdoc_release(&d);
        return rc;
    }
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(edit_tmp, sizeof edit_tmp, "%s/" EDIT_PREFIX "%ld-%02x%02x%02x%02x.toml",
             dir, (long)getpid(), rnd[0], rnd[1], rnd[2], rnd[3]);
    struct sigaction sa, old_int, old_quit;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGABRT, &sa, NULL);
    sa.sa_handler = SIG_IGN; /* ^C goes to the editor, not to us */
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGQUIT, &sa, &old_quit);
    int tfd = open(edit_tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (tfd < 0) {
        cli_error("cannot create '%s': %s", edit_tmp, strerror(errno));
        edit_tmp[0] = '\0';
        rc = CLI_EXIT_PROBLEMS;
    } else {
        rc = edit_loop(&d, &plain, tfd);
        close(tfd);
        wipe_file(edit_tmp);
        edit_tmp[0] = '\0';
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
    coffer_secbuf_release(&plain);
    cdoc_release(&d);
    return rc;
}

static int edit_loop(struct cdoc *d, const coffer_secbuf *plain, int tfd)
{
    (void)tfd;
    coffer_secbuf cur = { NULL, 0, 0 };
    if (coffer_secbuf_append(&cur, plain->data ? plain->data : "", plain->len))
        return oom();
    int rc = 0;
    for (;;) {
        if (write_tmp(edit_tmp, cur.data, cur.len) != 0) {
            cli_error("cannot write '%s': %s", edit_tmp, strerror(errno));
            rc = CLI_EXIT_PROBLEMS;
            break;
        }
        int st = run_editor(edit_tmp);
        if (st != 0) {
            cli_error("the editor failed (status %d); '%s' is unchanged", st,
                      d->path);
            rc = CLI_EXIT_PROBLEMS;
            break;
        }
        int fd = open(edit_tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        cur.len = 0;
        if (fd < 0 || read_all(fd, &cur) != 0) {
            if (fd >= 0)
                close(fd);
            cli_error("cannot read back '%s'", edit_tmp);
            rc = CLI_EXIT_PROBLEMS;
            break;
        }
        close(fd);
        strip_error_header(&cur);
        if (cur.len == 0) {
            cli_note("empty file: '%s' is unchanged", d->path);
            break;
        }
        if (coffer_equal_ct(cur.data, cur.len, plain->data ? plain->data : "",
                            plain->len)) {
            cli_note("no changes");
            break;
        }
        coffer_parse_options po;
        memset(&po, 0, sizeof po);
        po.allocator = coffer_allocator_secure();
        coffer_error err;
        memset(&err, 0, sizeof err);
        coffer_doc *doc = NULL;
        bool reserved = false;
        if (coffer_toml_parse(cur.data, cur.len, &po, &doc, &err) == 0) {
            reserved = coffer_table_get(coffer_doc_root(doc), COFFER_CRYPT_META, 6);
            coffer_doc_free(doc);
            if (!reserved)
                break; /* valid: write it back below */
            snprintf(err.message, sizeof err.message,
                     "the root key 'coffer' is reserved for the metadata");
            err.line = err.column = 0;
        }
        /* invalid: the error at the top, and again */
        char head[COFFER_ERROR_MESSAGE_MAX + 128];
        int hl = snprintf(head, sizeof head,
                          "# coffer: error: line %u, column %u: %s\n"
                          "# coffer: fix it and save, or empty the file to "
                          "abort\n", err.line, err.column, err.message);
        coffer_secbuf nb = { NULL, 0, 0 };
        if (coffer_secbuf_append(&nb, head, (size_t)hl) ||
            coffer_secbuf_append(&nb, cur.data, cur.len)) {
            coffer_secbuf_release(&nb);
            rc = oom();
            break;
        }
        coffer_secbuf_release(&cur);
        cur = nb;
    }
    if (rc || cur.len == 0 ||
        coffer_equal_ct(cur.data, cur.len, plain->data ? plain->data : "",
                        plain->len)) {
        coffer_secbuf_release(&cur);
        return rc;
    }
    /* re-encrypt: unchanged values keep their ENC strings */
    struct cdoc bd, nd;
    memset(&bd, 0, sizeof bd);
    memset(&nd, 0, sizeof nd);
    bd.path = nd.path = d->path;
    struct olds old;
    memset(&old, 0, sizeof old);
    old.d = d;
    old.bd = &bd;
    coffer_secbuf_append(&bd.text, plain->data ? plain->data : "", plain->len);
    coffer_secbuf_append(&nd.text, cur.data, cur.len);
    coffer_secbuf_release(&cur);
    rc = (bd.text.data && nd.text.data) ? 0 : oom();
    if (rc == 0)
        rc = parse_text(&bd);
    if (rc == 0)
        rc = parse_text(&nd);
    if (rc == 0 && coffer_crypt_walk((coffer_value *)coffer_doc_root(bd.doc),
                                     remember_old, &old) != 0)
        rc = old.rc ? old.rc : oom();
    if (rc == 0 && d->nrecip) {
        struct reenc r = { &nd, &old, 0 };
        if (coffer_crypt_walk((coffer_value *)coffer_doc_root(nd.doc),
                              reencrypt_one, &r) != 0)
            rc = r.rc ? r.rc : oom();
    }
    coffer_secbuf body = { NULL, 0, 0 };
    if (rc == 0)
        rc = cdoc_apply(&nd, &body);
    if (rc == 0)
        rc = cdoc_write(d, &body);
    if (rc == 0)
        cli_note("wrote '%s'", d->path);
    coffer_secbuf_release(&body);
    for (size_t i = 0; i < old.n; i++) {
        free(old.v[i].path);
        free(old.v[i].enc);
        coffer_secbuf_release(&old.v[i].text);
    }
    free(old.v);
    cdoc_release(&bd);
    cdoc_release(&nd);
    return rc;
}
