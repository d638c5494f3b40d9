/*
 * json.h - a small strict JSON reader (RFC 8259) for the etcd gateway's
 * responses. Internal to libcoffer.
 *
 * Invariants:
 *  - The reader never copies the text: tokens are offsets into the caller's
 *    buffer (which, for etcd responses, is secure memory holding the whole
 *    secrets document). The token array holds offsets only, never bytes of
 *    the text, so it lives in plain memory.
 *  - Nesting is bounded by max_depth (an explicit stack, no recursion);
 *    deeper input is an error, never a crash.
 *  - Strict: one value, surrounded only by JSON whitespace; no comments,
 *    trailing commas, leading zeros, lone surrogates, control characters
 *    in strings, or invalid UTF-8.
 */
#ifndef COFFER_REMOTE_JSON_H
#define COFFER_REMOTE_JSON_H

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum coffer_json_type {
    COFFER_JSON_OBJECT = 1,
    COFFER_JSON_ARRAY,
    COFFER_JSON_STRING,
    COFFER_JSON_NUMBER,
    COFFER_JSON_TRUE,
    COFFER_JSON_FALSE,
    COFFER_JSON_NULL
};

typedef struct coffer_json_tok {
    uint8_t type;       /* coffer_json_type */
    uint8_t escaped;    /* STRING: holds a backslash escape */
    uint32_t start;     /* STRING: first byte inside the quotes */
    uint32_t end;       /* one past the last byte (before the closing quote) */
    uint32_t next;      /* index of the token after this value's subtree */
    uint32_t count;     /* OBJECT: members; ARRAY: elements */
} coffer_json_tok;

typedef struct coffer_json {
    const char *text;
    size_t len;
    coffer_json_tok *toks;
    size_t ntoks, cap;
} coffer_json;

#define COFFER_JSON_DEFAULT_DEPTH 64

/* Parses len bytes at text (not copied; must outlive j). Returns 0, or
 * COFFER_ESYNTAX (err: "invalid json at byte N: ...", never the text),
 * COFFER_ELIMIT (deeper than max_depth, or larger than 4 GiB), ENOMEM.
 * Release j with coffer_json_release in every case. */
COFFER_INTERNAL int coffer_json_parse(coffer_json *j, const char *text,
                                      size_t len, unsigned max_depth,
                                      coffer_error *err);
COFFER_INTERNAL void coffer_json_release(coffer_json *j);

/* Member of object token obj named key (first one if repeated), or -1
 * (also when obj < 0 or is no object). */
COFFER_INTERNAL long coffer_json_get(const coffer_json *j, long obj,
                                     const char *key);
/* Follows NULL-terminated member names from token obj; -1 if absent. */
COFFER_INTERNAL long coffer_json_path(const coffer_json *j, long obj, ...);
/* Element i of array token arr, or -1. */
COFFER_INTERNAL long coffer_json_at(const coffer_json *j, long arr, size_t i);

/* An integer: a NUMBER without fraction/exponent, or a STRING holding one
 * (protobuf's JSON form of int64). False if tok < 0 or not an integer. */
COFFER_INTERNAL bool coffer_json_int(const coffer_json *j, long tok,
                                     int64_t *out);
/* True for a TRUE token. */
COFFER_INTERNAL bool coffer_json_true(const coffer_json *j, long tok);
/* Unescaped string value into out (cap bytes, NUL-terminated). Returns the
 * length, or -1 if tok is no string or it does not fit. */
COFFER_INTERNAL long coffer_json_string(const coffer_json *j, long tok,
                                        char *out, size_t cap);
/* Upper bound of the decoded size of a base64 STRING token, or 0. */
COFFER_INTERNAL size_t coffer_json_base64_max(const coffer_json *j, long tok);
/* Decodes a base64 (standard alphabet, padded) STRING token into out (cap
 * bytes) with sodium_base642bin; *outlen gets the size. Returns 0, or -1
 * (not a string, not base64, does not fit). */
COFFER_INTERNAL int coffer_json_base64(const coffer_json *j, long tok,
                                       char *out, size_t cap, size_t *outlen);

#endif /* COFFER_REMOTE_JSON_H */
