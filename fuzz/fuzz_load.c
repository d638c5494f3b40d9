/*
 * fuzz_load.c - libFuzzer target for the whole load path of a store.
 *
 * The input is split on NUL bytes into up to 3 parts (TOML text never holds
 * a raw NUL, so seeds from toml-test are one part). Each part becomes a
 * source: a file (written 0600 into a per-process directory created once)
 * or an in-memory text source (coffer_store_add_text), alternating by the
 * parity of the input size so both kinds are exercised. A store is opened
 * over them (plain memory for speed, no environment sources) and the merged
 * snapshot is walked: lookups of fixed and derived paths, typed getters,
 * provenance, iteration, env formatting of every root value, a section of
 * every root table, formatting in each format, a reload, then close.
 *
 * Build and run: see fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
#include "coffer.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void cleanup(void)
{
    char p[128];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/p%d.toml", dir, i);
        unlink(p);
    }
    rmdir(dir);
}

static int setup(void)
{
    if (dir[0])
        return 0;
    snprintf(dir, sizeof dir, "/tmp/coffer-fuzz-load-XXXXXX");
    if (!mkdtemp(dir)) {
        dir[0] = '\0';
        return -1;
    }
    chmod(dir, 0700);
    atexit(cleanup);
    return 0;
}

static int write_part(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
    return 0;
}

static void quiet(void *ctx, const char *file, const char *message)
{
    (void)ctx;
    (void)file;
    /* Diagnostics must never be empty, and are bounded. */
    if (!message || !message[0] || strlen(message) > 4096)
        abort();
}

/* Appends key as a quoted TOML key to buf (cap bytes); returns the new
 * length, or 0 if it does not fit. */
static size_t quote_key(char *buf, size_t cap, size_t at, const char *key,
                        size_t keylen)
{
    if (at + 8 > cap || keylen > (cap - at - 8) / 6)
        return 0;
    buf[at++] = '"';
    for (size_t i = 0; i < keylen; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c < 0x20 || c == 0x7f)
            at += (size_t)snprintf(buf + at, cap - at, "\\u%04x", c);
        else if (c == '"' || c == '\\') {
            buf[at++] = '\\';
            buf[at++] = (char)c;
        } else
            buf[at++] = (char)c;
    }
    buf[at++] = '"';
    buf[at] = '\0';
    return at;
}

static void format_all(const coffer_value *v)
{
    char small[64];
    for (int f = COFFER_FORMAT_TEXT; f <= COFFER_FORMAT_JSON; f++) {
        long need = coffer_value_format(v, (coffer_format)f, small, sizeof small);
        if (need < 0)
            continue;
        if ((size_t)need >= sizeof small) {
            coffer_secbuf b = {0};
            if (coffer_secbuf_reserve(&b, (size_t)need + 1) == 0) {
                long again = coffer_value_format(v, (coffer_format)f, b.data,
                                                 (size_t)need + 1);
                if (again != need || strlen(b.data) > (size_t)need)
                    abort();
            }
            coffer_secbuf_release(&b);
        } else if (strlen(small) > (size_t)need) {
            abort();
        }
    }
}

static int visit(void *ctx, const char *key, const coffer_value *v)
{
    int *count = ctx;
    (void)key;
    (*count)++;
    if (coffer_value_type(v) == COFFER_TYPE_TABLE)
        (void)coffer_table_count(v);
    return *count > 10000; /* a non-zero return stops iteration */
}

static void walk(coffer_store *s, coffer_snapshot *snap)
{
    coffer_error err;
    const coffer_value *root = coffer_snapshot_root(snap);
    const coffer_value *v;
    static const char *const fixed[] = {
        "a", "a.b", "a.b.c", "a[0]", "a[0].b", "db.password", "\"\"",
        "x.\"y.z\"", "servers[1].host", "a..b", "[0]", "a[", "\"unterminated",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        (void)coffer_snapshot_get(snap, fixed[i], &v, &err);
        const char *str;
        size_t len;
        (void)coffer_snapshot_get_string(snap, fixed[i], &str, &len, &err);
    }

    size_t n = coffer_table_count(root);
    coffer_secbuf env = {0};
    char path[8192];
    for (size_t i = 0; i < n && i < 64; i++) {
        const char *key;
        size_t keylen;
        const coffer_value *m = coffer_table_at(root, i, &key, &keylen);
        if (!m || !key)
            abort();
        (void)coffer_env_name_ok(key, keylen);
        (void)coffer_env_name_portable(key, keylen);
        env.len = 0;
        if (coffer_env_value(m, &env) < 0)
            abort();
        format_all(m);

        if (quote_key(path, sizeof path, 0, key, keylen) == 0)
            continue;
        if (coffer_snapshot_get(snap, path, &v, &err) != 0 || v != m)
            abort(); /* every root key must be found by its quoted path */
        const char *file;
        unsigned line;
        (void)coffer_snapshot_where(snap, path, &file, &line, &err);
        int64_t iv;
        double dv;
        bool bv;
        coffer_datetime dt;
        (void)coffer_snapshot_get_int(snap, path, &iv, &err);
        (void)coffer_snapshot_get_double(snap, path, &dv, &err);
        (void)coffer_snapshot_get_bool(snap, path, &bv, &err);
        (void)coffer_snapshot_get_datetime(snap, path, &dt, &err);

        coffer_type t = coffer_value_type(m);
        if (t == COFFER_TYPE_TABLE) {
            coffer_section sec;
            if (coffer_snapshot_section(snap, path, &sec, &err) == 0) {
                for (size_t k = 0; k < sec.count; k++)
                    if (!sec.keys[k] || !sec.values[k])
                        abort();
                if (sec.keys[sec.count] || sec.values[sec.count])
                    abort();
                coffer_section_release(&sec);
            }
            int count = 0;
            (void)coffer_snapshot_foreach(snap, path, visit, &count, &err);
            /* One step further down: the first member of the table. */
            const char *k2;
            size_t k2len;
            if (coffer_table_count(m) > 0 && coffer_table_at(m, 0, &k2, &k2len)) {
                size_t at = quote_key(path, sizeof path, 0, key, keylen);
                if (at > 0 && at + 1 < sizeof path) {
                    path[at++] = '.';
                    if (quote_key(path, sizeof path, at, k2, k2len) &&
                        coffer_snapshot_get(snap, path, &v, &err) != 0)
                        abort();
                }
            }
        } else if (t == COFFER_TYPE_ARRAY && coffer_array_count(m) > 0) {
            size_t at = quote_key(path, sizeof path, 0, key, keylen);
            snprintf(path + at, sizeof path - at, "[%zu]",
                     coffer_array_count(m) - 1);
            if (coffer_snapshot_get(snap, path, &v, &err) != 0)
                abort();
        }
    }
    coffer_secbuf_release(&env);
    int count = 0;
    (void)coffer_snapshot_foreach(snap, NULL, visit, &count, &err);
    format_all(root);
    (void)s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024 || setup() != 0)
        return 0;
    /* Split on NUL into up to 3 parts. */
    const uint8_t *part[3];
    size_t plen[3];
    int nparts = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && nparts < 3; i++) {
        if (i == size || (data[i] == 0 && nparts < 2)) {
            part[nparts] = data + start;
            plen[nparts] = i - start;
            nparts++;
            start = i + 1;
        }
    }

    char paths_buf[3][128];
    const char *paths[3];
    size_t npaths = 0;
    int is_text[3];
    for (int i = 0; i < nparts; i++) {
        is_text[i] = (int)((i + size) & 1);
        if (!is_text[i]) {
            snprintf(paths_buf[npaths], sizeof paths_buf[npaths], "%s/p%d.toml",
                     dir, i);
            if (write_part(paths_buf[npaths], part[i], plen[i]) != 0)
                return 0;
            paths[npaths] = paths_buf[npaths];
            npaths++;
        }
    }

    coffer_store_options opt;
    memset(&opt, 0, sizeof opt);
    opt.paths = paths;
    opt.path_count = npaths;
    opt.cwd = dir;
    opt.flags = COFFER_STORE_PLAIN_MEMORY | COFFER_STORE_NO_ENV_SOURCES;
    opt.diag = quiet;
    opt.parse.max_input = 1 << 20;
    if (npaths == 0) {
        /* Only text sources: point the file list at a missing file so no
         * default source is consulted. */
        snprintf(paths_buf[0], sizeof paths_buf[0], "%s/missing.toml", dir);
        paths[0] = paths_buf[0];
        opt.path_count = 1;
    }
    coffer_store *s;
    coffer_error err;
    if (coffer_store_open(&opt, &s, &err) != 0)
        abort(); /* opening does no I/O and cannot fail here */
    for (int i = 0; i < nparts; i++) {
        if (is_text[i]) {
            char name[16];
            snprintf(name, sizeof name, "text%d", i);
            if (coffer_store_add_text(s, name, (const char *)part[i], plen[i],
                                      &err) != 0)
                abort();
        }
    }

    coffer_snapshot *snap;
    int rc = coffer_store_acquire(s, &snap, &err);
    if (rc == 0) {
        if (coffer_snapshot_generation(snap) != 1)
            abort();
        walk(s, snap);
        /* A reload of unchanged sources must succeed as well. */
        if (coffer_store_reload(s, &err) != 0)
            abort();
        coffer_snapshot_release(snap);
        if (coffer_store_acquire(s, &snap, &err) != 0)
            abort();
        walk(s, snap);
        coffer_snapshot_release(snap);
    } else {
        /* Errors carry a code, a message, and positions within bounds. */
        if (err.code != rc || !err.message[0])
            abort();
    }
    for (size_t i = 0; i < coffer_store_source_count(s); i++) {
        coffer_source_info info;
        (void)coffer_store_source(s, i, &info);
    }
    coffer_store_close(s);
    return 0;
}
