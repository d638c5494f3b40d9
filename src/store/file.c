/* file.c - safe reading of secrets files, permission checks, atomic
 * writing, UTF-8 validation. */
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
static int check_perms(coffer_loadctx *lc, const char *path,
                       const struct stat *st, coffer_error *err)
{
    char fix[COFFER_ERROR_PATH_MAX + 32];
    char what[sizeof fix + 128];
    if (lc->dir_hint)
        snprintf(fix, sizeof fix, "use defaultMode: 0400");
    else
        snprintf(fix, sizeof fix, "chmod 600 '%s'", path);
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
        severity = lc->strict ? 2 : 1;
        snprintf(what, sizeof what, "readable by group or others%s (%s)",
                 lc->strict ? "; refusing it in strict mode" : "", fix);
    }
    if (!severity)
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
    int rc = check_perms(lc, path, &st, err);
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

int coffer_file_write_atomic(const char *path, const void *data, size_t len,
                             mode_t mode, coffer_error *err)
{
    if (!path || !*path || (!data && len))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "invalid argument to coffer_file_write_atomic");
    size_t plen = strlen(path);
    if (plen + 16 >= COFFER_ERROR_PATH_MAX)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "path too long");
    char dir[COFFER_ERROR_PATH_MAX], base[COFFER_ERROR_PATH_MAX];
    char tmp[COFFER_ERROR_PATH_MAX + 32];
    memcpy(dir, path, plen + 1);
    memcpy(base, path, plen + 1);
    const char *d = dirname(dir);
    const char *b = basename(base);
    snprintf(tmp, sizeof tmp, "%s/.%s.XXXXXX", d, b);
    int fd = mkostemp(tmp, O_CLOEXEC); /* O_CREAT|O_EXCL, mode 0600 */
    if (fd < 0)
        return sys_fail(err, "create a temporary file next to", path);
    const char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t r = write(fd, p + done, len - done);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        done += (size_t)r;
    }
    if (fchmod(fd, mode & 07777) != 0 || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    int dfd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: some file systems refuse it */
        close(dfd);
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
