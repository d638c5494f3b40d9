/*
 * age.h - the age v1 file format (https://age-encryption.org/v1) for
 * coffer's data keys: X25519 and scrypt recipients, HKDF-SHA256, bech32,
 * ASCII armor, the STREAM payload. Everything is built on libsodium
 * primitives (crypto_scalarmult, crypto_aead_chacha20poly1305_ietf,
 * crypto_auth_hmacsha256, crypto_pwhash_scryptsalsa208sha256_ll); HKDF is
 * RFC 5869 over libsodium's HMAC-SHA256.
 *
 * Ownership: secret inputs (identities, passphrases, plaintexts) are
 * borrowed from the caller, who keeps them in secure memory; every
 * intermediate secret (file keys, shared secrets, wrap keys, payload keys)
 * lives on the stack and is wiped before return, on every path. Outputs
 * that are public (armored age files, recipient strings) go to malloc'd
 * or caller buffers; secret outputs go to caller buffers only.
 *
 * Errors: 0 or a negative COFFER_E* code with err filled (err may be
 * NULL). A file that is not age, is malformed, has a bad header MAC or
 * payload tag, or that no identity matches gives COFFER_ECRYPTO with a
 * message saying which; never any key material in a message. Malformed
 * key strings, identity files (err->line set) and arguments give
 * COFFER_EINVAL; a plaintext larger than the caller's buffer gives
 * COFFER_ELIMIT (nothing written).
 */
#ifndef COFFER_CRYPTO_AGE_H
#define COFFER_CRYPTO_AGE_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

#define COFFER_AGE_KEY_BYTES 32
/* "age1" + 58 bech32 characters + NUL, rounded up */
#define COFFER_AGE_RECIPIENT_MAX 96
/* "AGE-SECRET-KEY-1" + 58 characters + NUL, rounded up */
#define COFFER_AGE_IDENTITY_MAX 96

typedef enum coffer_age_kind {
    COFFER_AGE_X25519 = 1,
    COFFER_AGE_SCRYPT = 2
} coffer_age_kind;

typedef struct coffer_age_recipient {
    coffer_age_kind kind;
    unsigned char pk[COFFER_AGE_KEY_BYTES];   /* X25519 public key */
    const char *passphrase;                   /* SCRYPT (borrowed) */
    size_t passlen;
    int log_n;                                /* SCRYPT work factor (0: 18) */
} coffer_age_recipient;

typedef struct coffer_age_identity {
    coffer_age_kind kind;
    unsigned char sk[COFFER_AGE_KEY_BYTES];   /* X25519 secret key */
    const char *passphrase;                   /* SCRYPT (borrowed) */
    size_t passlen;
    int max_log_n;                            /* SCRYPT: refuse above (0: 22) */
} coffer_age_identity;

/* RFC 5869 HKDF-SHA256 (extract + expand). outlen <= 255 * 32. */
COFFER_INTERNAL int coffer_hkdf_sha256(uint8_t *out, size_t outlen,
                                       const uint8_t *salt, size_t saltlen,
                                       const uint8_t *ikm, size_t ikmlen,
                                       const uint8_t *info, size_t infolen);

/* BIP 173 bech32 of 8-bit data (converted to 5-bit groups). Encode writes
 * a NUL-terminated lower-case string; hrp is lower-case. Decode accepts
 * all-lower or all-upper input, checks the checksum, writes the hrp
 * (lower-cased) and the 8-bit data. age keys exceed BIP 173's 90
 * characters; no length limit beyond the buffers is applied. */
COFFER_INTERNAL int coffer_bech32_encode(const char *hrp, const uint8_t *data,
                                         size_t len, char *out, size_t outsize);
COFFER_INTERNAL int coffer_bech32_decode(const char *s, size_t n,
                                         char *hrp, size_t hrpsize,
                                         uint8_t *data, size_t cap,
                                         size_t *len);

/* "age1..." <-> X25519 public key. */
COFFER_INTERNAL int coffer_age_recipient_parse(const char *s, size_t n,
                                               coffer_age_recipient *r,
                                               coffer_error *err);
COFFER_INTERNAL int coffer_age_recipient_string(const unsigned char pk[32],
                                                char *out, size_t outsize);
/* "AGE-SECRET-KEY-1..." <-> X25519 secret key (out: caller's secure
 * buffer for identity_string). */
COFFER_INTERNAL int coffer_age_identity_parse(const char *s, size_t n,
                                              coffer_age_identity *id,
                                              coffer_error *err);
COFFER_INTERNAL int coffer_age_identity_string(const unsigned char sk[32],
                                               char *out, size_t outsize);
/* X25519(scalar, point) into out; COFFER_ECRYPTO (out zeroed) when the
 * result is all zero, i.e. the point has low order (age rejects it). */
COFFER_INTERNAL int coffer_age_x25519(unsigned char out[32],
                                      const unsigned char scalar[32],
                                      const unsigned char point[32]);
/* A fresh X25519 key pair. */
COFFER_INTERNAL int coffer_age_keygen(unsigned char sk[32],
                                      unsigned char pk[32]);
/* The public key of a secret key. */
COFFER_INTERNAL int coffer_age_public(const unsigned char sk[32],
                                      unsigned char pk[32]);

/* Parses an identity file's text (age-keygen's format: '#' comments,
 * blank lines, one AGE-SECRET-KEY-1 per line). *ids is an array in
 * secure memory, freed (wiped) by coffer_age_identities_free. */
COFFER_INTERNAL int coffer_age_identities_parse(const char *text, size_t len,
                                                coffer_age_identity **ids,
                                                size_t *n, coffer_error *err);
COFFER_INTERNAL void coffer_age_identities_free(coffer_age_identity *ids,
                                                size_t n);

/* Encrypts msg to the recipients as one age v1 file, ASCII-armored
 * ("-----BEGIN AGE ENCRYPTED FILE-----" ... ). A scrypt recipient must be
 * the only one (as the spec requires). *out is malloc'd (the armored file
 * is public), NUL-terminated, *outlen without the NUL. */
COFFER_INTERNAL int coffer_age_encrypt(const coffer_age_recipient *r,
                                       size_t nr, const uint8_t *msg,
                                       size_t len, char **out, size_t *outlen,
                                       coffer_error *err);

/* The same age v1 file, not armored (binary); *out is malloc'd. */
COFFER_INTERNAL int coffer_age_encrypt_binary(const coffer_age_recipient *r,
                                              size_t nr, const uint8_t *msg,
                                              size_t len, uint8_t **out,
                                              size_t *outlen,
                                              coffer_error *err);

/* Decrypts an age v1 file, armored or binary, with the first identity
 * that unwraps a stanza; writes the plaintext to out (caller's secure
 * buffer of outcap bytes). On failure *outlen is 0 and out holds no
 * plaintext (chunks decrypted before a bad one are wiped). A scrypt
 * identity refuses work factors above its max_log_n before running
 * scrypt (log_n 18, age's default, takes 256 MiB and about a second). */
COFFER_INTERNAL int coffer_age_decrypt(const coffer_age_identity *ids,
                                       size_t nids, const char *in,
                                       size_t inlen, uint8_t *out,
                                       size_t outcap, size_t *outlen,
                                       coffer_error *err);

/* The header half of decryption, for a binary (not armored) file: finds
 * the stanza an identity opens, checks the header MAC, and gives the file
 * key and the offset of the payload (nonce and chunks).
 * WARNING: exposes the file key; meant for tests against published
 * vectors and for tools. filekey is the caller's secure buffer. */
COFFER_INTERNAL int coffer_age_decrypt_header(const coffer_age_identity *ids,
                                              size_t nids, const uint8_t *in,
                                              size_t inlen,
                                              uint8_t filekey[16],
                                              size_t *payload_off,
                                              coffer_error *err);

#endif /* COFFER_CRYPTO_AGE_H */
