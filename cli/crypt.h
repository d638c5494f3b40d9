/*
 * crypt.h - the CLI's editor of encrypted secrets files (cli/edit.c),
 * shared by keygen/encrypt/decrypt/set/unset/edit/recipients/rotate.
 *
 * A cdoc holds one file's text in secure memory and its parse (secure
 * allocator). Changes are textual: each edit replaces a byte span of the
 * text (a value token, a line), so comments, order and layout stay as the
 * user wrote them. cdoc_finish re-parses the body (everything before the
 * [coffer] table), recomputes the MAC and appends a fresh [coffer] table.
 */
#ifndef COFFER_CLI_CRYPT_H
#define COFFER_CLI_CRYPT_H

#include "cli.h"
#include "store/crypt.h"

struct cedit {
    size_t start, end;  /* byte span replaced */
    char *text;         /* replacement (secure when it may hold a value) */
    size_t len, cap;   /* cap: of the secure buffer */
    bool secure;
};

struct cdoc {
    const char *path;
    bool exists;
    mode_t mode;
    coffer_secbuf text;
    coffer_doc *doc;
    size_t *lines;          /* byte offset of each line start */
    size_t nlines;
    size_t body_end;        /* where the [coffer] table starts */
    coffer_crypt_meta meta;
    bool has_meta;
    /* recipients and wrapped keys (public, malloc'd) */
    char **recip, **wrapped;
    size_t nrecip;
    uint8_t *key;           /* data key (secure) when known */
    coffer_crypt_ids ids;
    bool ids_loaded;
    struct cedit *edits;
    size_t nedits, capedits;
};

/* Opens path (missing: an empty document when create is true). Returns 0
 * or an exit status (message printed). */
int cdoc_open(struct cdoc *d, const char *path, bool create);
void cdoc_release(struct cdoc *d);
/* Unwraps the data key (prints "no identity can decrypt" and returns 6). */
int cdoc_need_key(struct cdoc *d);
/* A fresh random data key (rotate, first encryption). */
int cdoc_new_key(struct cdoc *d);
/* Byte span of a scalar node's token. */
void cdoc_span(const struct cdoc *d, const coffer_value *v, size_t *start,
               size_t *end);
/* Queues an edit (text copied; secure copies when secure). */
int cdoc_edit(struct cdoc *d, size_t start, size_t end, const char *text,
              size_t len, bool secure);
/* The body with the edits applied, into out (secure). */
int cdoc_apply(const struct cdoc *d, coffer_secbuf *out);
/* Adds a recipient ("age1..." or "scrypt" with the passphrase), wrapping
 * the data key for it. */
int cdoc_add_recipient(struct cdoc *d, const char *r, const char *pass,
                       size_t passlen);
/* Re-wraps the data key for every recipient (after a new key). */
int cdoc_rewrap(struct cdoc *d, const char *pass, size_t passlen);
/* An ENC string as a quoted TOML string (malloc'd). */
int cdoc_quote_enc(const char *enc, size_t n, char **out, size_t *outlen);
/* Seals a plaintext for path into a quoted TOML string (malloc'd). */
int cdoc_seal_quoted(struct cdoc *d, coffer_type t, const char *path,
                     const uint8_t *pt, size_t n, char **out, size_t *outlen);
/* Validates body, appends the [coffer] table (when the document has
 * recipients) and writes the file atomically. Returns 0 or an exit status. */
int cdoc_write(struct cdoc *d, const coffer_secbuf *body);
/* Text of the [coffer] table for body (secure buffer out appended). */
int cdoc_finish(struct cdoc *d, const coffer_secbuf *body, coffer_secbuf *out);
/* A TOML basic string for n raw bytes, appended to out. */
void cdoc_quote(struct cli_out *out, const char *s, size_t n);
/* The decrypted body of the document (ENC values replaced by their TOML
 * text) into out; needs the key when there are ENC values. */
int cdoc_decrypt_body(struct cdoc *d, coffer_secbuf *out);

/* Passphrase: $COFFER_AGE_PASSPHRASE, else a no-echo prompt on the tty
 * (twice when confirm). Returns 0 or an exit status. */
int cli_passphrase(coffer_secbuf *out, bool confirm);
/* A secret value: from stdin when it is not a tty (one trailing newline
 * dropped), else a no-echo prompt. */
int cli_read_secret(const char *prompt, coffer_secbuf *out);

/* The default FILE of the editing verbs: the project secrets file. */
const char *cli_default_file(void);

#endif /* COFFER_CLI_CRYPT_H */
