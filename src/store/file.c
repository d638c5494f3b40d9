/* file.c - safe reading of secrets files, permission checks, atomic
 * writing, UTF-8 validation. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---------------------------------------------- warn once per source */

static pthread_mutex_t warned_lock = PTHREAD_MUTEX_INITIALIZER;
static char **warned;
static size_t nwarned, capwarned;

/* True the first time key is seen in this process. */
static bool first_warning(const char *key)
{
    bool first = true;
    pthread_mutex_lock(&warned_lock);
    for (size_t i = 0; i < nwarned; i++) {
        if (strcmp(warned[i], key) == 0) {
            first = false;
            break;
        }
    }
    if (first) {
        if (nwarned == capwarned) {
            size_t cap = capwarned ? capwarned * 2 : 8;
            char **p = realloc(warned, cap * sizeof *p);
            if (p) {
                warned = p;
                capwarned = cap;
            }
        }
        if (nwarned < capwarned) {
            char *k = strdup(key);
            if (k)
                warned[nwarned++] = k;
        }
    }
    pthread_mutex_unlock(&warned_lock);
    return first;
}

/* ------------------------------------------------------- permissions */

static void finding(coffer_loadctx *lc, int severity, const char *file,
                    const char *msg)
{
    if (lc->finding)
        lc->finding(lc->fctx, severity, file, msg);
}

/* The ownership and mode rules, as OpenSSH applies them to its keys.
 * Findings (coffer check) say what is wrong with the file they name;
 * errors and warnings quote the file themselves. */
/* Whether the user can chmod the file: not on a read-only mount
 * (statvfs ST_RDONLY: Docker /run/secrets, a read-only bind) and owned by
 * the user (or the user is root). */
static bool mode_fixable(int fd, const struct stat *st, const char **why)
{
    struct statvfs vfs;
    if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        *why = "on a read-only mount";
        return false;
    }
    if (geteuid() != 0 && st->st_uid != geteuid()) {
        *why = "owned by root";
        return false;
    }
    return true;
}

static int check_perms(coffer_loadctx *lc, const char *path, int fd,
                       const struct stat *st, coffer_error *err)
{
    char fix[COFFER_ERROR_PATH_MAX + 32];
    char what[sizeof fix + 256];
    what[0] = '\0';
    /* The hint names no path: the message already does, once. */
    if (lc->dir_hint)
        snprintf(fix, sizeof fix, "use defaultMode: 0400");
    else
        snprintf(fix, sizeof fix, "fix with chmod 600");
    int severity = 0; /* 1: a warning, 2: the file is refused */
    if (st->st_uid != 0 && st->st_uid != geteuid()) {
        severity = 2;
        snprintf(what, sizeof what, "owned by another user (uid %u); "
                 "refusing it", (unsigned)st->st_uid);
    } else if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        severity = 2;
        snprintf(what, sizeof what, "writable by group or others; refusing "
                 "it (%s)", fix);
    } else if (st->st_mode & (S_IRGRP | S_IROTH)) {
        const char *why = NULL;
        if (!mode_fixable(fd, st, &why)) {
            /* A hint that cannot be followed helps no one: quiet at load,
             * an info in check, refused only in strict mode. */
            if (!lc->strict && !lc->finding)
                return 0;
            severity = lc->strict ? 2 : 0;
            snprintf(what, sizeof what, "readable by group or others, %s "
                     "(its mode cannot be changed here; set it where the "
                     "secret is created, e.g. Docker secrets mode: 0400)%s",
                     why, lc->strict ? "; refusing it in strict mode" : "");
        } else {
            severity = lc->strict ? 2 : 1;
            snprintf(what, sizeof what, "readable by group or others%s (%s)",
                     lc->strict ? "; refusing it in strict mode" : "", fix);
        }
    }
    if (!severity && !(lc->finding && what[0]))
        return 0;
    if (lc->finding) {
        finding(lc, severity, path, what);
        return 0;
    }
    char msg[sizeof what + COFFER_ERROR_PATH_MAX + 8];
    snprintf(msg, sizeof msg, "'%s' is %s", path, what);
    if (severity == 2)
        return coffer_error_set(err, COFFER_EPERM, path, 0, 0, "%s", msg);
    /* Once per source per process: a directory source warns once. */
    const char *key = lc->src && lc->src->path[0] ? lc->src->path : path;
    if (first_warning(key))
        coffer_store_diag(lc->store, path, msg);
    return 0;
}

/* ------------------------------------------------------ directories */

static bool is_stop(const char *d, const char *const *stops, size_t nstops)
{
    for (size_t i = 0; i < nstops; i++)
        if (stops[i] && strcmp(d, stops[i]) == 0)
            return true;
    return false;
}

/* Cuts the last component of the absolute path d in place ("/a" -> "/").
 * Returns false at the root. */
static bool up(char *d)
{
    if (strcmp(d, "/") == 0)
        return false;
    char *slash = strrchr(d, '/');
    if (!slash)
        return false;
    if (slash == d)
        d[1] = '\0';
    else
        *slash = '\0';
    return true;
}

/* Walks d and each directory above it up to (not including) a stop, or to
 * "/" inclusive, as OpenSSH StrictModes does: a directory others can write
 * into lets them replace the file (unless sticky and owned by the user or
 * root). Returns true and fills bad/why for the first unsafe one. */
static bool walk_unsafe(char *d, const char *const *stops, size_t nstops,
                        char *bad, size_t badn, char *why, size_t whyn,
                        bool *links)
{
    do {
        if (is_stop(d, stops, nstops))
            return false;
        struct stat st;
        if (lstat(d, &st) != 0)
            continue; /* vanished: the read reports what matters */
        if (S_ISLNK(st.st_mode)) {
            *links = true; /* the real walk must look too */
            if (stat(d, &st) != 0)
                continue;
        }
        if (!S_ISDIR(st.st_mode))
            continue;
        if (!(st.st_mode & (S_IWGRP | S_IWOTH)))
            continue;
        if (!(st.st_mode & S_ISVTX))
            snprintf(why, whyn, "writable by group or others");
        else if (st.st_uid != 0 && st.st_uid != geteuid())
            snprintf(why, whyn, "writable by others, sticky but owned by "
                     "another user (uid %u)", (unsigned)st.st_uid);
        else
            continue;
        snprintf(bad, badn, "%s", d);
        return true;
    } while (up(d));
    return false;
}

/* The directories above path (path itself too when self): the path as
 * written, up to the first of stops, and the real one (symbolic links
 * resolved), up to the first of rstops (the stops resolved; NULL: resolved
 * here). */
static bool dirs_unsafe(const char *path, bool self, const char *const *stops,
                        const char *const *rstops, size_t nstops, char *bad,
                        size_t badn, char *why, size_t whyn)
{
    char d[COFFER_ERROR_PATH_MAX];
    if (path[0] != '/' || strlen(path) >= sizeof d)
        return false;
    snprintf(d, sizeof d, "%s", path);
    if (!self)
        up(d);
    bool links = false;
    if (walk_unsafe(d, stops, nstops, bad, badn, why, whyn, &links))
        return true;
    struct stat st;
    if (!self && (lstat(path, &st) != 0 || S_ISLNK(st.st_mode)))
        links = true;
    /* No link below the stops: the real directories are the same ones
     * (a link above a stop resolves the stop alike). */
    if (!links)
        return false;
    char *real = realpath(path, NULL);
    if (!real)
        return false;
    snprintf(d, sizeof d, "%s", real);
    free(real);
    if (!self)
        up(d);
    const char *rs[4] = { NULL, NULL, NULL, NULL };
    size_t nr = 0;
    for (size_t i = 0; i < nstops && nr < 4; i++) {
        if (rstops)
            rs[nr++] = rstops[i];
        else if (stops[i])
            rs[nr++] = realpath(stops[i], NULL);
    }
    bool r = walk_unsafe(d, rs, nr, bad, badn, why, whyn, &links);
    for (size_t i = 0; !rstops && i < nr; i++)
        free((char *)rs[i]);
    return r;
}

int coffer_path_dirs_check(const char *path, const char *const *stops,
                           size_t nstops, coffer_error *err)
{
    if (!path || (nstops && !stops))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to coffer_path_dirs_check");
    char bad[COFFER_ERROR_PATH_MAX], why[128];
    if (!dirs_unsafe(path, false, stops, NULL, nstops, bad, sizeof bad, why,
                     sizeof why))
        return 0;
    return coffer_error_set(err, COFFER_EPERM, bad, 0, 0,
                            "directory '%s' is %s (fix with chmod go-w)", bad,
                            why);
}

/* The directory rule for one file of a source at load: the file's
 * directories up to the project directory or HOME (a directory source:
 * the source directory itself and above; a file inside it: the real
 * directories between it and the source). An error in check mode, else a
 * warning once per directory (refused in strict mode). */
static int check_dirs(coffer_loadctx *lc, const char *path, coffer_error *err)
{
    const coffer_source *src = lc->src;
    if (!src || !src->path || !src->path[0] || !lc->store)
        return 0; /* configuration files, texts */
    char bad[COFFER_ERROR_PATH_MAX], why[128];
    bool unsafe;
    const char *stops[2] = { lc->store->cwd, lc->store->home };
    const char *rstops[2] = { lc->store->real_cwd, lc->store->real_home };
    if (strcmp(path, src->path) == 0) {
        unsafe = dirs_unsafe(path, false, stops, rstops, 2, bad, sizeof bad,
                             why, sizeof why);
    } else {
        /* A file inside a directory source: its directories up to the
         * source itself and, through symbolic links, where they lead
         * (the kubelet's ..DATE directories). */
        char d[COFFER_ERROR_PATH_MAX];
        const char *stop[1] = { src->path };
        bool links = false;
        struct stat st;
        snprintf(d, sizeof d, "%s", path);
        up(d);
        unsafe = walk_unsafe(d, stop, 1, bad, sizeof bad, why, sizeof why,
                             &links);
        if (!unsafe && (links || lstat(path, &st) != 0 || S_ISLNK(st.st_mode))) {
            char *rsrc = realpath(src->path, NULL);
            char *real = realpath(path, NULL);
            const char *rstop[1] = { rsrc };
            if (rsrc && real && strlen(real) < sizeof d) {
                snprintf(d, sizeof d, "%s", real);
                up(d);
                unsafe = walk_unsafe(d, rstop, 1, bad, sizeof bad, why,
                                     sizeof why, &links);
            }
            free(rsrc);
            free(real);
        }
    }
    if (!unsafe)
        return 0;
    return coffer_dir_finding(lc, path, bad, why, err);
}

int coffer_dir_finding(coffer_loadctx *lc, const char *path, const char *bad,
                       const char *why, coffer_error *err)
{
    char msg[2 * COFFER_ERROR_PATH_MAX + 200];
    if (lc->finding) {
        snprintf(msg, sizeof msg, "in directory '%s', which is %s; another "
                 "user can replace it (fix with chmod go-w)", bad, why);
        finding(lc, 2, path, msg);
        return 0;
    }
    snprintf(msg, sizeof msg, "'%s' is in directory '%s', which is %s%s "
             "(fix with chmod go-w)", path, bad, why,
             lc->strict ? "; refusing it in strict mode" : "");
    if (lc->strict)
        return coffer_error_set(err, COFFER_EPERM, path, 0, 0, "%s", msg);
    char key[COFFER_ERROR_PATH_MAX + 8];
    snprintf(key, sizeof key, "dir:%s", bad);
    if (first_warning(key))
        coffer_store_diag(lc->store, path, msg);
    return 0;
}

/* The directory rule for a directory source itself (and above). */
int coffer_source_dirs_check(coffer_loadctx *lc, const char *dir,
                             coffer_error *err)
{
    char bad[COFFER_ERROR_PATH_MAX], why[128];
    const char *stops[2] = { lc->store->cwd, lc->store->home };
    const char *rstops[2] = { lc->store->real_cwd, lc->store->real_home };
    if (!dirs_unsafe(dir, true, stops, rstops, 2, bad, sizeof bad, why,
                     sizeof why))
        return 0;
    return coffer_dir_finding(lc, dir, bad, why, err);
}

/* -------------------------------------------------------------- read */

int coffer_file_read(coffer_loadctx *lc, const char *path, char **buf,
                     size_t *len, size_t *bufsize, coffer_error *err)
{
    *buf = NULL;
    *len = *bufsize = 0;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return 1;
        coffer_error_set(err, COFFER_EIO, path, 0, 0, "cannot open '%s': %s",
                         path, strerror(e));
        if (err)
            err->sys_errno = e;
        return COFFER_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        coffer_error_set(err, COFFER_EIO, path, 0, 0, "cannot stat '%s': %s",
                         path, strerror(e));
        if (err)
            err->sys_errno = e;
        return COFFER_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return coffer_error_set(err, COFFER_EIO, path, 0, 0,
                                "'%s' is not a regular file", path);
    }
    int rc = check_perms(lc, path, fd, &st, err);
    if (!rc)
        rc = check_dirs(lc, path, err);
    if (rc) {
        close(fd);
        return rc;
    }
    size_t max = lc->max_input ? lc->max_input : (size_t)64 << 20;
    if ((unsigned long long)st.st_size > (unsigned long long)max) {
        close(fd);
        return coffer_error_set(err, COFFER_ELIMIT, path, 0, 0,
                                "'%s' is larger than the size limit "
                                "(%zu bytes)", path, max);
    }
    /* O_NONBLOCK stays set: it has no effect on a regular file. */
    size_t want = (size_t)st.st_size;
    size_t cap = want + 1;
    char *p = lc->alloc->alloc(lc->alloc->ctx, cap);
    if (!p) {
        close(fd);
        return coffer_error_set(err, COFFER_ENOMEM, path, 0, 0,
                                "out of memory reading '%s'", path);
    }
    /* Ask for one byte more than fstat saw: getting it means the file grew
     * while being read. A short read that completes the fstat size is the
     * end of the file, so a file usually takes a single read. */
    size_t got = 0;
    for (;;) {
        size_t ask = cap - got;
        ssize_t r = read(fd, p + got, ask);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto fail_errno;
        }
        if (r == 0)
            break; /* at the end (or shrank: take what is there) */
        got += (size_t)r;
        if (got > want)
            goto changed;
        if (got == want && (size_t)r < ask)
            break;
    }
    /* An in-place writer at work: the size or the time of the last write
     * moved while we read. What was read may be a mix of two versions. */
    struct stat after;
    if (fstat(fd, &after) != 0 || after.st_size != st.st_size ||
        after.st_mtim.tv_sec != st.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != st.st_mtim.tv_nsec || got != want)
        goto changed;
    close(fd);
    p[got] = '\0';
    *buf = p;
    *len = got;
    *bufsize = cap;
    return 0;

changed:
    rc = coffer_error_set(err, COFFER_EIO, path, 0, 0,
                          "'%s' changed while being read", path);
    if (err)
        err->sys_errno = EAGAIN; /* transient: a watch retries quietly */
    goto fail;
fail_errno: {
        int e = errno;
        rc = coffer_error_set(err, COFFER_EIO, path, 0, 0,
                              "cannot read '%s': %s", path, strerror(e));
        if (err)
            err->sys_errno = e;
    }
fail:
    close(fd);
    coffer_memzero(p, cap);
    lc->alloc->release(lc->alloc->ctx, p, cap);
    return rc;
}

/* ------------------------------------------------------------- UTF-8 */

bool coffer_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0) {
            need = 1; cp = c & 0x1f; min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            need = 2; cp = c & 0x0f; min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            need = 3; cp = c & 0x07; min = 0x10000;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* ------------------------------------------------------ atomic write */

static int sys_fail(coffer_error *err, const char *what, const char *path)
{
    int e = errno;
    coffer_error_set(err, COFFER_ESYS, path, 0, 0, "cannot %s '%s': %s", what,
                     path, strerror(e));
    if (err)
        err->sys_errno = e;
    return COFFER_ESYS;
}

/* write(2) until done, retrying on EINTR. Returns 0 or -1 (errno). */
static int write_full(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes data into a fresh private temporary file next to path and
 * fchmods it to mode; tmp receives its name. Returns 0 or COFFER_ESYS. */
static int write_temp(const char *path, const void *data, size_t len,
                      mode_t mode, char *tmp, size_t tmpn, char *dir,
                      coffer_error *err)
{
    if (!path || !*path || (!data && len))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to a file write");
    size_t plen = strlen(path);
    if (plen + 16 >= COFFER_ERROR_PATH_MAX)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "path too long");
    char base[COFFER_ERROR_PATH_MAX];
    memcpy(dir, path, plen + 1);
    memcpy(base, path, plen + 1);
    const char *d = dirname(dir);
    if (d != dir)
        memmove(dir, d, strlen(d) + 1);
    const char *b = basename(base);
    snprintf(tmp, tmpn, "%s/.%s.XXXXXX", dir, b);
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
    if (fd < 0)
        return sys_fail(err, "create a temporary file next to", path);
    if (write_full(fd, data, len) != 0 || fchmod(fd, mode & 07777) != 0 ||
        fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return 0;
fail: {
        int e = errno;
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        errno = e;
        return sys_fail(err, "write", path);
    }
}

static void sync_dir(const char *d)
{
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some file systems refuse it */
        close(dfd);
    }
}

int coffer_file_write_atomic(const char *path, const void *data, size_t len,
                             mode_t mode, coffer_error *err)
{
    char dir[COFFER_ERROR_PATH_MAX], tmp[COFFER_ERROR_PATH_MAX + 32];
    int rc = write_temp(path, data, len, mode, tmp, sizeof tmp, dir, err);
    if (rc)
        return rc;
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return sys_fail(err, "write", path);
    }
    sync_dir(dir);
    return 0;
}

int coffer_file_create(const char *path, const void *data, size_t len,
                       mode_t mode, coffer_error *err)
{
    char dir[COFFER_ERROR_PATH_MAX], tmp[COFFER_ERROR_PATH_MAX + 32];
    int rc = write_temp(path, data, len, mode, tmp, sizeof tmp, dir, err);
    if (rc)
        return rc;
    /* link() never replaces: the complete file appears under path, or
     * path already existed (created by someone else meanwhile). */
    int r = link(tmp, path);
    int e = errno;
    unlink(tmp);
    if (r == 0) {
        sync_dir(dir);
        return 0;
    }
    if (e == EEXIST)
        return 1;
    if (e != EPERM && e != ENOTSUP && e != EOPNOTSUPP && e != ENOSYS) {
        errno = e;
        return sys_fail(err, "create", path);
    }
    /* No hard links on this file system: O_EXCL, written in place. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 1;
        return sys_fail(err, "create", path);
    }
    if (write_full(fd, data, len) != 0 || fchmod(fd, mode & 07777) != 0 ||
        fsync(fd) != 0) {
        e = errno;
        close(fd);
        unlink(path);
        errno = e;
        return sys_fail(err, "write", path);
    }
    if (close(fd) != 0)
        return sys_fail(err, "write", path);
    sync_dir(dir);
    return 0;
}
