/*
 * test_hygiene.c - no secret byte survives in this process's memory once
 * the snapshots holding it are released (issue 5, "Proof").
 *
 * Method: random marker values ("MRK" + 24 hex digits) are put into secrets
 * files and text sources; after loading, reading through every API path,
 * reloading and releasing, every readable mapping of the process is read
 * through /proc/self/mem (pread, so unreadable pages fail gracefully) and
 * searched for the markers.
 *
 * The test itself must never hold a marker in plain memory: markers are
 * kept XOR-masked (pat[]), unmasked only byte by byte into secure buffers
 * (to write files with write(2), never stdio) and compared masked. The scan
 * buffer is its own mapping, skipped by the scan and wiped after use.
 * Controls prove the scan works: a deliberate unwiped malloc copy is found
 * (then wiped), and a loaded snapshot's secure memory is found while alive.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ASan and TSan intercept mlock: a no-op that reports success. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define MLOCK_WORKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define MLOCK_WORKS 0
#endif
#endif
#ifndef MLOCK_WORKS
#define MLOCK_WORKS 1
#endif

#define MLEN 27 /* "MRK" + 24 hex digits */
#define NMARK 22
#define MASK 0xA5u

static unsigned char pat[NMARK][MLEN]; /* masked markers */
static char dir[256];
static unsigned char *scratch;
static const size_t scratch_size = (size_t)1 << 20;

static void make_markers(void)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[12];
    for (int m = 0; m < NMARK; m++) {
        randombytes_buf(rnd, sizeof rnd);
        pat[m][0] = 'M' ^ MASK;
        pat[m][1] = 'R' ^ MASK;
        pat[m][2] = 'K' ^ MASK;
        for (int i = 0; i < 12; i++) {
            pat[m][3 + 2 * i] = (unsigned char)(hex[rnd[i] >> 4] ^ MASK);
            pat[m][4 + 2 * i] = (unsigned char)(hex[rnd[i] & 15] ^ MASK);
        }
    }
    sodium_memzero(rnd, sizeof rnd);
}

/* True if the len bytes at s are exactly marker m. */
static bool is_marker(const char *s, size_t len, int m)
{
    if (len != MLEN)
        return false;
    unsigned diff = 0;
    for (size_t i = 0; i < MLEN; i++)
        diff |= ((unsigned char)s[i] ^ MASK) ^ pat[m][i];
    return diff == 0;
}

/* True if s starts with marker m. */
static bool starts_with_marker(const char *s, size_t len, int m)
{
    return len >= MLEN && is_marker(s, MLEN, m);
}

/* Occurrences in b of any marker whose bit is set in set. */
static size_t count_in(const unsigned char *b, size_t n, unsigned set)
{
    size_t found = 0;
    unsigned char first = 'M';
    const unsigned char *p = b, *end = b + n;
    while (end - p >= MLEN) {
        p = memchr(p, first, (size_t)(end - p) - (MLEN - 1));
        if (!p)
            break;
        for (int m = 0; m < NMARK; m++) {
            if (!(set & (1u << m)))
                continue;
            size_t i = 1;
            while (i < MLEN && (p[i] ^ MASK) == pat[m][i])
                i++;
            if (i == MLEN)
                found++;
        }
        p++;
    }
    return found;
}

/* Occurrences of the markers in set (one bit per marker) in every
 * readable mapping of this process. */
static size_t scan_set(unsigned set)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
    assert_non_null(maps);
    assert_true(fd >= 0);
    char line[1024];
    size_t found = 0;
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3)
            continue;
        if (perms[0] != 'r' || strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
            continue;
        if (lo == (unsigned long)(uintptr_t)scratch)
            continue;
        /* Sanitizer shadow and other huge reservations hold no secrets of
         * ours (the test allocates far less) and would take ages to read. */
        if (hi - lo > (1ul << 28))
            continue;
        unsigned long off = lo;
        while (off < hi) {
            size_t want = hi - off < scratch_size ? hi - off : scratch_size;
            ssize_t got = pread(fd, scratch, want, (off_t)off);
            if (got <= 0)
                break; /* unreadable (guard page, I/O mapping): skip */
            found += count_in(scratch, (size_t)got, set);
            if ((size_t)got < want || off + (size_t)got >= hi)
                break;
            off += (size_t)got - (MLEN - 1); /* overlap: no marker is cut */
        }
    }
    sodium_memzero(scratch, scratch_size);
    close(fd);
    fclose(maps);
    return found;
}

static size_t scan(int m)
{
    return scan_set(1u << m);
}

/* Builds text from tmpl, where "@N" (N a hex digit) stands for marker N,
 * into a secure buffer. */
static void build(coffer_secbuf *b, const char *tmpl)
{
    for (const char *t = tmpl; *t; t++) {
        if (t[0] == '@' && t[1]) {
            int m = t[1] <= '9' ? t[1] - '0' : t[1] - 'a' + 10;
            for (int i = 0; i < MLEN; i++) {
                unsigned char c = pat[m][i] ^ MASK;
                assert_int_equal(coffer_secbuf_append(b, &c, 1), 0);
            }
            t++;
        } else {
            assert_int_equal(coffer_secbuf_append(b, t, 1), 0);
        }
    }
}

/* Writes the template to path atomically, with write(2) from secure memory. */
static void write_file(const char *path, const char *tmpl)
{
    coffer_secbuf b = {0};
    build(&b, tmpl);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(fd);
    assert_int_equal(rename(tmp, path), 0);
    coffer_secbuf_release(&b);
}

static const char secrets_tmpl[] =
    "api_key = \"@0\"\n"
    "tokens = [\"one\", \"@0-t\", { inner = \"@0-i\" }]\n"
    "escaped = \"tab\\t@0\\u00e9\"\n"
    "literal = '@0-lit'\n"
    "multi = \"\"\"\n@0-ml\\\n  tail\"\"\"\n"
    "[db]\nhost = \"localhost\"\nport = 5432\npassword = \"@0-pw\"\n"
    "[nested.deep]\nsecret = \"@0-n\"\n";

/* Copies tmpl into out with marker m standing for "@0". */
static void subst(char *out, size_t n, const char *tmpl, int m)
{
    size_t j = 0;
    for (size_t i = 0; tmpl[i] && j + 2 < n; i++) {
        out[j++] = tmpl[i];
        if (tmpl[i] == '@' && tmpl[i + 1] == '0') {
            out[j++] = "0123456789abcdefghijkl"[m];
            i++;
        }
    }
    out[j] = '\0';
}

static void write_tmpl(const char *path, const char *tmpl, int m)
{
    char buf[1024];
    subst(buf, sizeof buf, tmpl, m);
    write_file(path, buf);
}

static int visit(void *ctx, const char *key, const coffer_value *v)
{
    coffer_secbuf *sb = ctx;
    (void)key;
    long need = coffer_value_format(v, COFFER_FORMAT_JSON, NULL, 0);
    if (need < 0)
        return (int)need;
    if (coffer_secbuf_reserve(sb, (size_t)need + 1))
        return COFFER_ENOMEM;
    coffer_value_format(v, COFFER_FORMAT_JSON, sb->data, (size_t)need + 1);
    coffer_secbuf env = {0};
    int rc = coffer_env_value(v, &env);
    coffer_secbuf_release(&env);
    return rc < 0 ? rc : 0;
}

/* Reads every value of a snapshot of secrets_tmpl(m) through every path
 * and checks the values (masked comparison). */
static void read_everything(coffer_store *s, coffer_snapshot *snap, int m)
{
    coffer_error err;
    const char *str;
    size_t len;
    assert_int_equal(coffer_snapshot_get_string(snap, "api_key", &str, &len, &err), 0);
    assert_true(is_marker(str, len, m));
    assert_int_equal(coffer_snapshot_get_string(snap, "db.password", &str, &len, &err), 0);
    assert_true(starts_with_marker(str, len, m));
    assert_int_equal(coffer_snapshot_get_string(snap, "tokens[1]", &str, &len, &err), 0);
    assert_true(starts_with_marker(str, len, m));
    assert_int_equal(coffer_snapshot_get_string(snap, "tokens[2].inner", &str, &len, &err), 0);
    assert_true(starts_with_marker(str, len, m));
    assert_int_equal(coffer_snapshot_get_string(snap, "literal", &str, &len, &err), 0);
    assert_true(starts_with_marker(str, len, m));
    assert_int_equal(coffer_snapshot_get_string(snap, "multi", &str, &len, &err), 0);
    assert_true(starts_with_marker(str, len, m));
    assert_int_equal(coffer_snapshot_get_string(snap, "escaped", &str, &len, &err), 0);
    assert_true(len > 4 + MLEN && is_marker(str + 4, MLEN, m));
    if (s) {
        assert_int_equal(coffer_store_get_string(s, "nested.deep.secret", &str, &err), 0);
        assert_true(starts_with_marker(str, strlen(str), m));
    }
    const char *file;
    unsigned line;
    assert_int_equal(coffer_snapshot_where(snap, "db.password", &file, &line, &err), 0);

    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "db", &sec, &err), 0);
    assert_int_equal(sec.count, 3);
    assert_true(starts_with_marker(sec.values[2], strlen(sec.values[2]), m));
    coffer_section_release(&sec);

    coffer_secbuf env = {0};
    const coffer_value *root = coffer_snapshot_root(snap);
    for (size_t i = 0; i < coffer_table_count(root); i++)
        assert_true(coffer_env_value(coffer_table_at(root, i, NULL, NULL), &env) >= 0);
    coffer_secbuf_release(&env);

    coffer_secbuf fmt = {0};
    assert_int_equal(coffer_snapshot_foreach(snap, NULL, visit, &fmt, &err), 0);
    coffer_secbuf_release(&fmt);
    for (int f = COFFER_FORMAT_TEXT; f <= COFFER_FORMAT_JSON; f++) {
        coffer_secbuf all = {0};
        long need = coffer_value_format(root, (coffer_format)f, NULL, 0);
        assert_true(need > 0);
        assert_int_equal(coffer_secbuf_reserve(&all, (size_t)need + 1), 0);
        assert_int_equal(coffer_value_format(root, (coffer_format)f, all.data,
                                             (size_t)need + 1), need);
        coffer_secbuf_release(&all);
    }
}

static int setup(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    scratch = mmap(NULL, scratch_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(scratch != MAP_FAILED);
    make_markers();
    snprintf(dir, sizeof dir, "/tmp/coffer-hygiene-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    munmap(scratch, scratch_size);
    return 0;
}

/* The scan finds an unprotected copy, and no longer once it is wiped. */
static void control_unwiped_copy_is_found(void **state)
{
    (void)state;
    assert_int_equal(scan(13), 0);
    char *copy = malloc(MLEN + 1);
    assert_non_null(copy);
    for (int i = 0; i < MLEN; i++)
        copy[i] = (char)(pat[13][i] ^ MASK);
    copy[MLEN] = '\0';
    assert_true(scan(13) >= 1);
    coffer_memzero(copy, MLEN + 1);
    free(copy);
    assert_int_equal(scan(13), 0);
}

/* A store over the given sources, without the environment's sources. */
static coffer_store *open_paths(const char *const *paths, size_t n,
                                unsigned flags)
{
    coffer_store_options opt;
    memset(&opt, 0, sizeof opt);
    opt.paths = paths;
    opt.path_count = n;
    opt.flags = COFFER_STORE_NO_ENV_SOURCES | flags;
    coffer_store *s;
    coffer_error err;
    assert_int_equal(coffer_store_open(&opt, &s, &err), 0);
    return s;
}

/* marks: file, text source, bad reload, then three reloads. */
static void store_cycle(unsigned flags, const int marks[6])
{
    char path[300];
    snprintf(path, sizeof path, "%s/secrets-%d.toml", dir, marks[0]);
    write_tmpl(path, secrets_tmpl, marks[0]);

    const char *paths[] = { path };
    coffer_store *s = open_paths(paths, 1, flags);
    coffer_error err;
    char tmpl[64];
    subst(tmpl, sizeof tmpl, "extra = \"@0\"\n", marks[1]);
    coffer_secbuf text = {0};
    build(&text, tmpl);
    assert_int_equal(coffer_store_add_text(s, "extra", text.data, text.len, &err), 0);
    coffer_secbuf_release(&text);

    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    read_everything(s, snap, marks[0]);
    const char *str;
    size_t len;
    assert_int_equal(coffer_snapshot_get_string(snap, "extra", &str, &len, &err), 0);
    assert_true(is_marker(str, len, marks[1]));
    /* Control: the live snapshot's memory is visible to the scan. */
    assert_true(scan(marks[0]) >= 1);

    /* Reload three times with a new marker each time; the old snapshot is
     * held across each reload and read, then released. */
    int cur = marks[0];
    for (int r = 0; r < 3; r++) {
        int next = marks[3 + r];
        write_tmpl(path, secrets_tmpl, next);
        assert_int_equal(coffer_store_reload(s, &err), 0);
        coffer_snapshot *now;
        assert_int_equal(coffer_store_acquire(s, &now, &err), 0);
        assert_int_equal(coffer_snapshot_generation(now), 2 + r);
        read_everything(s, now, next);
        read_everything(NULL, snap, cur);
        coffer_snapshot_release(snap);
        snap = now;
        assert_int_equal(scan(cur), 0); /* the replaced snapshot is wiped */
        cur = next;
    }

    /* A failed reload (bad TOML holding a new marker) leaves no trace. */
    write_tmpl(path, "ok = \"@0\"\nbroken = \"@0\" junk\n", marks[2]);
    assert_int_not_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(scan(marks[2]), 0);
    assert_int_equal(coffer_snapshot_generation(snap), 4);
    assert_true(scan(cur) >= 1);

    coffer_snapshot_release(snap);
    coffer_store_close(s);
    unsigned all = 0;
    for (int i = 0; i < 6; i++)
        all |= 1u << marks[i];
    assert_int_equal(scan_set(all), 0);
}

static void secure_store_leaves_no_marker(void **state)
{
    (void)state;
    static const int marks[6] = { 0, 1, 2, 3, 4, 5 };
    store_cycle(0, marks);
}

static void plain_memory_store_leaves_no_marker(void **state)
{
    (void)state;
    static const int marks[6] = { 6, 7, 8, 9, 10, 11 };
    store_cycle(COFFER_STORE_PLAIN_MEMORY, marks);
}

/* Parsing directly, secure and plain allocators: no marker after free. */
static void parsed_document_leaves_no_marker(void **state)
{
    (void)state;
    coffer_secbuf text = {0};
    build(&text, "a = \"@c\"\nb = [\"x\", \"@c\"]\n[t]\nc = '@c'\n");
    for (int i = 0; i < 2; i++) {
        coffer_parse_options po;
        memset(&po, 0, sizeof po);
        po.allocator = i ? coffer_allocator_secure() : coffer_allocator_plain();
        coffer_doc *doc;
        coffer_error err;
        assert_int_equal(coffer_toml_parse(text.data, text.len, &po, &doc, &err), 0);
        const coffer_value *v;
        assert_int_equal(coffer_value_seek(coffer_doc_root(doc), "t.c", &v, &err), 0);
        const char *s;
        size_t len;
        assert_int_equal(coffer_value_string(v, &s, &len), 0);
        assert_true(is_marker(s, len, 12));
        coffer_doc_free(doc);
    }
    coffer_secbuf_release(&text);
    assert_int_equal(scan(12), 0);
}


/* The smaps entry holding p: whether it is locked and excluded from dumps. */
static void page_flags(const void *p, bool *locked, bool *dontdump)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    bool in = false, seen = false;
    *locked = *dontdump = false;
    uintptr_t a = (uintptr_t)p;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) { /* a mapping header */
            in = a >= lo && a < hi;
            seen |= in;
            continue;
        }
        if (!in)
            continue;
        unsigned long kb;
        if (sscanf(line, "Locked: %lu kB", &kb) == 1)
            *locked = kb > 0;
        if (strncmp(line, "VmFlags:", 8) == 0)
            *dontdump = strstr(line, " dd") != NULL;
    }
    fclose(f);
    assert_true(seen);
}

static void assert_protected(const void *p, const char *what)
{
    bool locked, dd;
    page_flags(p, &locked, &dd);
    if (!dd)
        fail_msg("%s: page not excluded from core dumps (MADV_DONTDUMP)", what);
    if (MLOCK_WORKS && !locked && !coffer_memory_lock_failed())
        fail_msg("%s: page not locked (mlock)", what);
}

/* Every place a secret lives is in locked, never-dumped pages: the
 * snapshot's strings (file and text sources), sections, env values,
 * formatted output, and the parser's document with the secure allocator.
 * Control: an ordinary malloc block is neither. */
static void secret_pages_locked_and_not_dumped(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof path, "%s/pages.toml", dir);
    write_tmpl(path, secrets_tmpl, 14);
    const char *paths[] = { path };
    coffer_store *s = open_paths(paths, 1, 0);
    coffer_error err;
    coffer_secbuf text = {0};
    build(&text, "extra = \"@e\"\n");
    assert_int_equal(coffer_store_add_text(s, "extra", text.data, text.len, &err), 0);
    assert_protected(text.data, "secure buffer");
    coffer_secbuf_release(&text);

    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *str;
    size_t len;
    assert_int_equal(coffer_snapshot_get_string(snap, "api_key", &str, &len, &err), 0);
    assert_protected(str, "file source string");
    assert_int_equal(coffer_snapshot_get_string(snap, "extra", &str, &len, &err), 0);
    assert_protected(str, "text source string");
    assert_int_equal(coffer_snapshot_get_string(snap, "tokens[2].inner", &str, &len, &err), 0);
    assert_protected(str, "nested string");

    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "db", &sec, &err), 0);
    assert_protected(sec.values[2], "section value");
    assert_protected(sec.values, "section array");
    coffer_section_release(&sec);

    const coffer_value *v;
    assert_int_equal(coffer_snapshot_get(snap, "api_key", &v, &err), 0);
    coffer_secbuf env = {0};
    assert_int_equal(coffer_env_value(v, &env), 1);
    assert_protected(env.data, "env value");
    coffer_secbuf_release(&env);
    coffer_snapshot_release(snap);
    coffer_store_close(s);

    coffer_parse_options po;
    memset(&po, 0, sizeof po);
    po.allocator = coffer_allocator_secure();
    coffer_doc *doc;
    coffer_secbuf t2 = {0};
    build(&t2, "k = \"@e\"\n");
    assert_int_equal(coffer_toml_parse(t2.data, t2.len, &po, &doc, &err), 0);
    coffer_secbuf_release(&t2);
    assert_int_equal(coffer_value_seek(coffer_doc_root(doc), "k", &v, &err), 0);
    assert_int_equal(coffer_value_string(v, &str, &len), 0);
    assert_protected(str, "parsed document (secure allocator)");
    coffer_doc_free(doc);
    assert_int_equal(scan_set(1u << 14 | 1u << 15), 0);

    /* Control: ordinary heap is neither locked nor excluded. */
    void *plain = malloc(64);
    bool locked, dd;
    page_flags(plain, &locked, &dd);
    assert_false(dd);
    free(plain);
}

/* Kubernetes-style directory and flat credentials directory sources: the
 * same guarantees (values in protected pages, nothing left after a reload
 * and after close). */
static void directory_sources_leave_no_marker(void **state)
{
    (void)state;
    char k8s[300], db[320], f[400], flat[300], spec[310];
    snprintf(k8s, sizeof k8s, "%s/k8s", dir);
    snprintf(db, sizeof db, "%s/db", k8s);
    snprintf(flat, sizeof flat, "%s/creds", dir);
    assert_int_equal(mkdir(k8s, 0700), 0);
    assert_int_equal(mkdir(db, 0700), 0);
    assert_int_equal(mkdir(flat, 0700), 0);
    snprintf(f, sizeof f, "%s/password", db);
    write_tmpl(f, "@0\n", 16);
    snprintf(f, sizeof f, "%s/user", db);
    write_file(f, "app\n");
    snprintf(f, sizeof f, "%s/token", flat);
    write_tmpl(f, "@0\n", 17);
    snprintf(spec, sizeof spec, "flat:%s", flat);
    const char *paths[] = { k8s, spec };
    coffer_store *s = open_paths(paths, 2, 0);
    coffer_error err;
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *str;
    size_t len;
    assert_int_equal(coffer_snapshot_get_string(snap, "db.password", &str, &len, &err), 0);
    assert_true(is_marker(str, len, 16));
    assert_protected(str, "directory source value");
    assert_int_equal(coffer_snapshot_get_string(snap, "token", &str, &len, &err), 0);
    assert_true(is_marker(str, len, 17));
    assert_protected(str, "flat source value");
    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "db", &sec, &err), 0);
    coffer_section_release(&sec);
    coffer_snapshot_release(snap);

    snprintf(f, sizeof f, "%s/password", db);
    write_tmpl(f, "@0\n", 18);
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "db.password", &str, &err), 0);
    assert_true(is_marker(str, strlen(str), 18));
    assert_int_equal(scan(16), 0);
    coffer_store_close(s);
    assert_int_equal(scan_set(1u << 16 | 1u << 17 | 1u << 18), 0);
}

/* An encrypted file (coffer keygen + coffer encrypt, run in child
 * processes on a file this test wrote with write(2) from secure memory):
 * decrypted values live in protected pages, the plaintext is in no freed
 * memory after a reload to a new encrypted value, and nothing is left after
 * close; a reload without an identity decrypts nothing. */
static void encrypt_in_child(const char *path, const char *key)
{
    const char *build = getenv("BUILD") ? getenv("BUILD") : "build";
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "r=$(%s/coffer keygen -o '%s' 2>/dev/null || age-keygen -y '%s') && "
             "%s/coffer encrypt -r \"$r\" '%s' 2>/dev/null",
             build, key, key, build, path);
    assert_int_equal(system(cmd), 0);
}

static void encrypted_file_leaves_no_marker(void **state)
{
    (void)state;
    char path[300], key[300];
    snprintf(path, sizeof path, "%s/enc-secrets.toml", dir);
    snprintf(key, sizeof key, "%s/keys.txt", dir);
    write_tmpl(path, "pw = \"@0\"\n[db]\npassword = \"@0-db\"\n", 20);
    encrypt_in_child(path, key);
    setenv("COFFER_AGE_KEY_FILE", key, 1);
    const char *paths[] = { path };
    coffer_store *s = open_paths(paths, 1, 0);
    coffer_error err;
    coffer_snapshot *snap;
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    const char *str;
    size_t len;
    assert_int_equal(coffer_snapshot_get_string(snap, "pw", &str, &len, &err), 0);
    assert_true(is_marker(str, len, 20));
    assert_protected(str, "decrypted value");
    coffer_section sec;
    assert_int_equal(coffer_snapshot_section(snap, "db", &sec, &err), 0);
    assert_true(starts_with_marker(sec.values[0], strlen(sec.values[0]), 20));
    coffer_section_release(&sec);
    coffer_snapshot_release(snap);
    assert_true(scan(20) >= 1); /* control: the live snapshot is seen */

    write_tmpl(path, "pw = \"@0\"\n[db]\npassword = \"@0-db\"\n", 21);
    encrypt_in_child(path, key); /* the existing identity is kept */
    assert_int_equal(coffer_store_reload(s, &err), 0);
    assert_int_equal(coffer_store_get_string(s, "pw", &str, &err), 0);
    assert_true(is_marker(str, strlen(str), 21));
    assert_int_equal(scan(20), 0); /* the old decrypted values are wiped */
    coffer_store_close(s);
    assert_int_equal(scan_set(1u << 20 | 1u << 21), 0);

    /* Without an identity nothing is decrypted, nothing is found. */
    unsetenv("COFFER_AGE_KEY_FILE");
    s = open_paths(paths, 1, 0);
    assert_int_equal(coffer_store_acquire(s, &snap, &err), 0);
    assert_int_equal(coffer_snapshot_get_string(snap, "pw", &str, &len, &err),
                     COFFER_ECRYPTO);
    assert_int_equal(scan(21), 0);
    coffer_snapshot_release(snap);
    coffer_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(control_unwiped_copy_is_found),
        cmocka_unit_test(parsed_document_leaves_no_marker),
        cmocka_unit_test(secure_store_leaves_no_marker),
        cmocka_unit_test(plain_memory_store_leaves_no_marker),
        cmocka_unit_test(secret_pages_locked_and_not_dumped),
        cmocka_unit_test(directory_sources_leave_no_marker),
        cmocka_unit_test(encrypted_file_leaves_no_marker),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
