/*
 * crypt.h - per-value encryption of TOML secrets files (crypt.c).
 *
 * Format (docs/SECURITY.md, "Encrypted files", is the specification):
 *  - an encrypted value is the TOML string
 *      "ENC[coffer:v1,<type>,<base64(nonce24 || ciphertext || tag16)>]"
 *    sealed with XChaCha20-Poly1305 under a value key derived from the
 *    file's 32-byte data key; AD = "coffer:v1,<type>,<path>" where path is
 *    the value's full key path in coffer's quoted dotted form;
 *  - the root table "coffer" (written last) holds the metadata: version,
 *    recipients, the data key wrapped once per recipient as an armored
 *    age v1 file, and an HMAC-SHA256 over version, recipients and every
 *    (path, ENC string) pair in document order.
 *
 * Ownership: data keys, value keys and plaintexts live in caller buffers
 * in secure memory or on the stack, wiped before return. ENC strings and
 * metadata text are public (malloc or caller buffers).
 */
#ifndef COFFER_STORE_CRYPT_H
#define COFFER_STORE_CRYPT_H

#include "crypto/age.h"
#include "store/store_internal.h"

#define COFFER_CRYPT_PREFIX "ENC[coffer:v1,"
#define COFFER_CRYPT_PREFIX_LEN 14
#define COFFER_CRYPT_META "coffer"
#define COFFER_CRYPT_SCRYPT "scrypt"
#define COFFER_CRYPT_NONCE 24
#define COFFER_CRYPT_TAG 16

/* True if s[0..n) looks like an ENC string (prefix and closing ']'). */
COFFER_INTERNAL bool coffer_crypt_is_enc(const char *s, size_t n);

/* The ENC type name of a coffer_type ("string", "integer", "float",
 * "boolean", "datetime", ...), or NULL for arrays and tables; and back. */
COFFER_INTERNAL const char *coffer_crypt_type_name(coffer_type t);
COFFER_INTERNAL coffer_type coffer_crypt_type_parse(const char *s, size_t n);
/* The type an ENC string declares (COFFER_TYPE_NONE if malformed). */
COFFER_INTERNAL coffer_type coffer_crypt_enc_type(const char *s, size_t n);

/* Seals pt (the raw bytes of a string, the TOML text of other scalars) for
 * path. *out is malloc'd (public), NUL-terminated. */
COFFER_INTERNAL int coffer_crypt_seal(const uint8_t key[32], coffer_type type,
                                      const char *path, size_t pathlen,
                                      const uint8_t *pt, size_t ptlen,
                                      char **out, size_t *outlen);
/* Opens an ENC string: *ptlen bytes into pt (cap bytes; secure). The
 * plaintext length is at most coffer_crypt_open_max(enc). Returns 0,
 * COFFER_ECRYPTO (malformed or authentication failure: err names path and
 * file), or COFFER_ELIMIT. */
COFFER_INTERNAL size_t coffer_crypt_open_max(const char *enc, size_t n);
COFFER_INTERNAL int coffer_crypt_open(const uint8_t key[32], const char *path,
                                      size_t pathlen, const char *enc,
                                      size_t n, uint8_t *pt, size_t cap,
                                      size_t *ptlen, coffer_type *type,
                                      const char *file, coffer_error *err);

/* Walks every scalar (and empty container) of a tree in document order
 * (members in definition order, elements by index), skipping the root
 * metadata table. fn gets the node and its path (NUL-terminated); a
 * non-zero return stops the walk and is returned. */
typedef int (*coffer_crypt_walk_fn)(void *ctx, coffer_value *v,
                                    const char *path, size_t pathlen);
COFFER_INTERNAL int coffer_crypt_walk(coffer_value *root, coffer_crypt_walk_fn fn,
                                      void *ctx);

/* The metadata of a parsed document (borrowed from it). */
typedef struct coffer_crypt_meta {
    const coffer_value *table;  /* the root "coffer" table, or NULL */
    int64_t version;
    size_t nrecip;
    const coffer_value *recipients; /* array of strings */
    const coffer_value *wrapped;    /* array of strings (armored age) */
    const char *mac;
    size_t maclen;
} coffer_crypt_meta;

/* Reads the metadata: 0 (found and well-formed), 1 (no "coffer" table),
 * or COFFER_ECRYPTO naming what is wrong. file names the source. */
COFFER_INTERNAL int coffer_crypt_meta_read(const coffer_value *root,
                                           coffer_crypt_meta *m,
                                           const char *file, coffer_error *err);
COFFER_INTERNAL const char *coffer_crypt_meta_recipient(const coffer_crypt_meta *m,
                                                        size_t i, size_t *len);
COFFER_INTERNAL const char *coffer_crypt_meta_wrapped(const coffer_crypt_meta *m,
                                                      size_t i, size_t *len);

/* Identities: COFFER_AGE_KEY text, else COFFER_AGE_KEY_FILE, else
 * $HOME/.config/coffer/keys.txt (refused when group/world-accessible or
 * not owned by the user); a passphrase (COFFER_AGE_PASSPHRASE) for scrypt
 * recipients. All borrowed strings stay the caller's. */
typedef struct coffer_crypt_ids {
    coffer_age_identity *ids;   /* X25519, secure memory */
    size_t nids;
    unsigned char (*pks)[32];   /* public key of each (plain) */
    coffer_age_identity pass;   /* kind 0 when no passphrase */
    char source[COFFER_ERROR_PATH_MAX]; /* where they came from */
} coffer_crypt_ids;

COFFER_INTERNAL int coffer_crypt_ids_load(coffer_crypt_ids *out,
                                          const char *key, size_t keylen,
                                          const char *keyfile,
                                          const char *home,
                                          const char *pass, size_t passlen,
                                          coffer_error *err);
COFFER_INTERNAL void coffer_crypt_ids_release(coffer_crypt_ids *ids);
static inline size_t coffer_crypt_ids_count(const coffer_crypt_ids *ids)
{
    return ids->nids + (ids->pass.kind ? 1 : 0);
}

/* Unwraps the data key with the identities: 0, 1 when no identity can
 * (not an error: values stay locked), or COFFER_ECRYPTO when a matching
 * identity finds the wrapped key damaged. */
COFFER_INTERNAL int coffer_crypt_unwrap(const coffer_crypt_meta *m,
                                        const coffer_crypt_ids *ids,
                                        uint8_t key[32], const char *file,
                                        coffer_error *err);

/* The file MAC (32 bytes) over version, the recipient strings and every
 * (path, ENC string) pair of the tree in document order. */
COFFER_INTERNAL int coffer_crypt_mac(const uint8_t key[32],
                                     const char *const *recip,
                                     const size_t *reciplen, size_t nrecip,
                                     coffer_value *root, uint8_t mac[32]);
/* Checks m->mac against the tree: 0 or COFFER_ECRYPTO. */
COFFER_INTERNAL int coffer_crypt_mac_check(const uint8_t key[32],
                                           const coffer_crypt_meta *m,
                                           coffer_value *root,
                                           const char *file, coffer_error *err);

/* The load hook (load.c parse_into): text is the source text before the
 * parse (for a cheap "is anything encrypted" test). Removes the metadata
 * from the layer root, unwraps the data key with the store's identities,
 * verifies the MAC and decrypts every value in place into lc->arena. */
COFFER_INTERNAL int coffer_crypt_layer(coffer_loadctx *lc, const char *name,
                                       bool maybe_enc, coffer_layer *layer,
                                       coffer_error *err);
/* True if the text may hold encrypted values or metadata (memmem). */
COFFER_INTERNAL bool coffer_crypt_text_hint(const char *text, size_t len);

/* The error for a locked value reached through root member index i of
 * the snapshot (or layer name when known). */
COFFER_INTERNAL int coffer_crypt_locked_error(const coffer_snapshot *snap,
                                              const coffer_value *top,
                                              coffer_error *err);
/* True if v is locked or holds a locked value. */
COFFER_INTERNAL bool coffer_crypt_has_locked(const coffer_value *v);

/* Store side: releases the store's identities (store close). */
COFFER_INTERNAL void coffer_crypt_store_release(coffer_store *s);

#endif /* COFFER_STORE_CRYPT_H */
