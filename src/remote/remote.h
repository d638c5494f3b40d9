/*
 * remote.h - the etcd source (src/remote/). Internal to libcoffer.
 *
 * An etcd source is named by a URL etcd://HOST:PORT[,HOST:PORT...]/KEY
 * (etcds:// for TLS). One coffer_etcd object per source, owned by the
 * store's source list: endpoints, key, connection options read from the
 * environment when the source list is resolved, the auth token (secure
 * memory), and the source's watch thread. libcurl is loaded with dlopen
 * on first use (http.c). See docs/DESIGN.md, "The remote layer".
 *
 * Invariants:
 *  - Display names never hold credentials (the URL may not carry any, and
 *    TLS/auth options come from the environment, naming files).
 *  - Response bodies live in secure memory (coffer_secbuf); values are
 *    base64-decoded straight into the caller's (locked) buffer.
 *  - No message holds a value, a password or a token.
 */
#ifndef COFFER_REMOTE_H
#define COFFER_REMOTE_H

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct coffer_etcd coffer_etcd;

/* True if p[0..n) starts with etcd:// or etcds://. */
COFFER_INTERNAL bool coffer_etcd_is_url(const char *p, size_t n);
/* Length of the etcd URL at the start of a ':'-separated list entry (the
 * URL ends at the first ':' after its key begins). */
COFFER_INTERNAL size_t coffer_etcd_url_span(const char *p);

/* Parses url[0..n) and reads the COFFER_ETCD_* environment. Returns 0 or
 * COFFER_ECONFIG (the message never quotes a URL carrying credentials). */
COFFER_INTERNAL int coffer_etcd_new(const char *url, size_t n,
                                    coffer_etcd **out, coffer_error *err);
/* Stops the watch thread, wipes the token, frees. NULL is a no-op. */
COFFER_INTERNAL void coffer_etcd_free(coffer_etcd *e);
/* "etcd://h1:p1,h2:p2/KEY" (no credentials); valid until freed. */
COFFER_INTERNAL const char *coffer_etcd_name(const coffer_etcd *e);

/* Reads the key's current value into a block from alloc (bufsize > len,
 * NUL-terminated), for the layer reader. *modrev gets its mod_revision.
 * *cached_at is 0, or the time (seconds since the epoch) of the cached
 * copy used because no member could be reached. Returns 0, 1 if the key
 * does not exist, or a negative code (COFFER_EREMOTE: no member reachable,
 * naming every endpoint tried). */
COFFER_INTERNAL int coffer_etcd_fetch(coffer_etcd *e,
                                      const coffer_allocator *alloc,
                                      size_t max_input, char **buf,
                                      size_t *len, size_t *bufsize,
                                      int64_t *modrev, int64_t *cached_at,
                                      coffer_error *err);

/* Starts the source's watch thread: it follows the key from the last
 * revision loaded + 1 (resuming after every failover from the last
 * revision seen + 1) and writes an 8-byte 1 to notify_fd (an eventfd)
 * for each change newer than what was loaded. Returns 0 or a code. */
COFFER_INTERNAL int coffer_etcd_watch_start(coffer_etcd *e, int notify_fd,
                                            coffer_error *err);
/* Stops and joins the watch thread (no-op if none). */
COFFER_INTERNAL void coffer_etcd_watch_stop(coffer_etcd *e);

/* What `paths` shows: the name with "@REVISION" once loaded, plus
 * " (cached copy from N min ago)" when the cache served it. */
COFFER_INTERNAL void coffer_etcd_describe(const coffer_etcd *e, char *buf,
                                          size_t n);

#endif /* COFFER_REMOTE_H */
