/* watch.c - live reload: inotify (Linux) or stat polling, debounced.
 *
 * Model (see docs/DESIGN.md, "Live reload"): events only ever mark the
 * watch dirty and push a debounce deadline; the reload itself is the
 * store's coffer_store_reload_diff, which builds a complete snapshot and
 * swaps it in atomically (or keeps the current one on failure). Directories
 * are watched, never files, so rename-replace, creation, deletion and
 * Kubernetes `..data` symlink swaps are all seen as entry events.
 */
#include "internal.h"
#include "store/store_internal.h"
#include "watch/watch_internal.h"
#include "remote/remote.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#define COFFER_HAVE_INOTIFY 1
#define WATCH_MASK                                                         \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CLOSE_WRITE | \
     IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR |  \
     IN_EXCL_UNLINK)
#define EVBUF_SIZE 16384
#else
#define COFFER_HAVE_INOTIFY 0
#endif

#define DEFAULT_POLL_MS 1000u
#define DEFAULT_DEBOUNCE_MS 20u
/* An in-place write is applied when its writer closes the file: a file
 * seen modified and not yet closed holds the reload back for as long as
 * it stays open, unless a complete change of another file (a rename into
 * place, a creation, a deletion, another writer's close) is pending too.
 * Then it holds it at most this long after its last modification ... */
#define WRITE_HOLD_MS 2000
/* ... and no such reload is postponed (by further events or an open
 * writer) longer than max(MAX_WAIT_MS, 10 * debounce) after the event that
 * made it pending: a file written continuously cannot starve the others. */
#define MAX_WAIT_MS 2000
/* A file written in place can be changing before its event is queued (the
 * kernel queues it when the writer's call ends): a reload after an
 * in-place write first waits for the sources' stat signatures (size,
 * mtime and ctime in ns, inode) to stay the same this long with no event,
 * then checks them again after reading. */
#define VERIFY_MS 100

typedef struct wentry {
    int wd;
    char *dir;   /* path given to inotify_add_watch */
    char *name;  /* only events naming this entry count; NULL: all */
} wentry;

typedef struct wopen {
    int wd;
    char *name;
} wopen;

struct coffer_watch {
    coffer_store *store;
    coffer_watch_options opt;
    unsigned debounce_ms, poll_ms;
    unsigned settle_ms; /* debounce after a completing event */
    bool polling;       /* stat polling (alone, or besides inotify) */
    pthread_mutex_t mu;

    size_t ntargets;
    char **paths;
    coffer_source_kind *kinds;

    int ifd;            /* inotify descriptor, -1 when only polling */
    wentry *ents;
    size_t nents;
    wopen *opens;       /* files modified and not yet closed */
    size_t nopens, capopens;
    wopen *dones;       /* files whose change is complete (closed, renamed,
                         * created, deleted) since the last reload */
    size_t ndones, capdones;
    bool done_any;      /* a complete change not tied to one file */
    bool inplace;       /* the pending change has an in-place write */
    bool verifying;     /* vsig taken, waiting until verify_due */
    bool vcheck;        /* this reload checks vsig after reading */
    uint64_t vsig;
    int64_t verify_due;
    int64_t last_modify;
    bool rescan;

    bool dirty;         /* a change waits for its debounce deadline */
    int64_t due;
    int64_t first_dirty; /* when the pending change was first seen */
    int64_t max_wait;

    uint64_t *sigs;     /* polling: one signature per target */
    int64_t next_poll;

    /* References: the store's slot, plus each API call in progress (under
     * slot_lock). Freed when the last one goes after the watch stopped. */
    unsigned users;
    bool stopped;

    /* etcd sources: each has its own watch thread (src/remote/etcd.c) that
     * wakes us through efd; epfd joins efd and ifd into one descriptor for
     * coffer_store_watch_fd. */
    int efd, epfd;
    struct coffer_etcd **etcds;
    size_t netcds;

    bool has_thread;
    pthread_t thread;
    int wake[2];        /* self-pipe that stops the helper thread */

#if COFFER_HAVE_INOTIFY
    _Alignas(struct inotify_event) char evbuf[EVBUF_SIZE];
#endif
};

/* --------------------------------------------------------------- helpers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Splits an absolute path into a newly allocated parent directory and a
 * pointer to its last component (inside path). Trailing slashes ignored. */
static char *split_path(const char *path, const char **base, size_t *baselen)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t i = n;
    while (i > 0 && path[i - 1] != '/')
        i--;
    *base = path + i;
    *baselen = n - i;
    size_t dn = i;
    while (dn > 1 && path[dn - 1] == '/')
        dn--;
    char *dir = malloc(dn ? dn + 1 : 2);
    if (!dir)
        return NULL;
    if (dn == 0) {
        dir[0] = i ? '/' : '.';
        dir[1] = '\0';
    } else {
        memcpy(dir, path, dn);
        dir[dn] = '\0';
    }
    return dir;
}

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k == 0 || p[k - 1] != '/')
        p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

static void names_clear(wopen *v, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free(v[i].name);
    *n = 0;
}

static void mark_dirty(struct coffer_watch *w, int64_t now)
{
    w->verifying = false;
    if (!w->dirty)
        w->first_dirty = now;
    w->dirty = true;
    w->due = now + w->debounce_ms;
}

/* After an event that completes a write (a rename into place, a writer
 * closing the file) only a short settle time is needed: the content is
 * whole. Any later event within it pushes the full debounce again. */
static void mark_complete(struct coffer_watch *w, int64_t now)
{
    w->verifying = false;
    if (!w->dirty)
        w->first_dirty = now;
    w->dirty = true;
    w->due = now + w->settle_ms;
}

static bool is_dir_kind(coffer_source_kind k, const char *path)
{
    struct stat st;
    if (k == COFFER_SOURCE_DIR || k == COFFER_SOURCE_FLAT)
        return true;
    if (k == COFFER_SOURCE_AUTO)
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    return false;
}

/* -------------------------------------------------------------- inotify */

#if COFFER_HAVE_INOTIFY

typedef struct wlist {
    wentry *v;
    size_t n, cap;
    bool failed;        /* out of memory: retry at the next event */
    bool exhausted;     /* out of inotify watches: poll as well */
} wlist;

static void wentries_free(wentry *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].dir);
        free(v[i].name);
    }
    free(v);
}

/* Adds a watch on dir (an interest in entry name, or all when NULL).
 * Returns 0, or -1 if the directory cannot be watched. */
static int wlist_add(struct coffer_watch *w, wlist *l, const char *dir,
                     const char *name, size_t namelen)
{
    int wd = inotify_add_watch(w->ifd, dir, WATCH_MASK);
    if (wd < 0) {
        if (errno == ENOSPC || errno == ENOMEM)
            l->exhausted = true;
        return -1;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        wentry *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->failed = true;
            return 0;
        }
        l->v = v;
        l->cap = cap;
    }
    wentry *e = &l->v[l->n];
    e->wd = wd;
    e->dir = xstrdup(dir);
    e->name = NULL;
    if (name) {
        e->name = malloc(namelen + 1);
        if (e->name) {
            memcpy(e->name, name, namelen);
            e->name[namelen] = '\0';
        }
    }
    if (!e->dir || (name && !e->name)) {
        free(e->dir);
        free(e->name);
        l->failed = true;
        return 0;
    }
    l->n++;
    return 0;
}

/* Watches the directory holding path for its entry, or the nearest
 * existing ancestor for the first missing component on the way. */
static void arm_parent(struct coffer_watch *w, wlist *l, const char *path,
                       bool any)
{
    char *cur = xstrdup(path);
    if (!cur) {
        l->failed = true;
        return;
    }
    bool first = true;
    for (;;) {
        const char *base;
        size_t blen;
        char *dir = split_path(cur, &base, &blen);
        if (!dir) {
            l->failed = true;
            break;
        }
        int r = wlist_add(w, l, dir, first && any ? NULL : base, blen);
        bool top = strcmp(dir, cur) == 0;
        free(cur);
        cur = dir;
        if (r == 0 || top)
            break;
        first = false;
    }
    free(cur);
}

static void arm_target(struct coffer_watch *w, wlist *l, const char *path,
                       coffer_source_kind kind)
{
    struct stat lst;
    bool link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
    /* The directory holding the source: creation, deletion, rename-replace;
     * for a symlink every entry counts (a ..data swap renames another
     * entry of the same directory). */
    arm_parent(w, l, path, link);
    if (link) {
        /* Also the directory holding the current target, for in-place
         * writes to it; it may vanish on the next swap (then re-armed). */
        char *real = realpath(path, NULL);
        if (real) {
            const char *base;
            size_t blen;
            char *dir = split_path(real, &base, &blen);
            if (dir)
                (void)wlist_add(w, l, dir, base, blen);
            free(dir);
            free(real);
        }
    }
    if (!is_dir_kind(kind, path))
        return;
    if (wlist_add(w, l, path, NULL, 0) < 0)
        return;
    if (kind == COFFER_SOURCE_FLAT)
        return;
    /* Kubernetes-style: one sub-directory per root key (often itself a
     * secret volume with its own ..data swaps). Hidden entries skipped. */
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *sub = join_path(path, de->d_name);
        struct stat st;
        if (!sub) {
            l->failed = true;
            break;
        }
        if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            (void)wlist_add(w, l, sub, NULL, 0);
        free(sub);
    }
    closedir(d);
}

static bool wd_in(const wentry *v, size_t n, int wd)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].wd == wd)
            return true;
    return false;
}

static void names_drop_wd(wopen *v, size_t *n, int wd)
{
    size_t j = 0;
    for (size_t i = 0; i < *n; i++) {
        if (v[i].wd == wd)
            free(v[i].name);
        else
            v[j++] = v[i];
    }
    *n = j;
}

static void opens_drop_wd(struct coffer_watch *w, int wd)
{
    names_drop_wd(w->opens, &w->nopens, wd);
    names_drop_wd(w->dones, &w->ndones, wd);
}

/* Recomputes the set of watched directories. Returns true if a directory
 * is watched now that was not before (its content may predate the watch). */
static bool rearm(struct coffer_watch *w)
{
    wlist l = { 0 };
    for (size_t i = 0; i < w->ntargets; i++)
        if (w->paths[i][0] && w->kinds[i] != COFFER_SOURCE_TEXT)
            arm_target(w, &l, w->paths[i], w->kinds[i]);
    bool added = false;
    for (size_t i = 0; i < l.n; i++)
        if (!wd_in(w->ents, w->nents, l.v[i].wd))
            added = true;
    for (size_t i = 0; i < w->nents; i++) {
        int wd = w->ents[i].wd;
        if (wd_in(l.v, l.n, wd) || wd_in(w->ents, i, wd))
            continue;
        inotify_rm_watch(w->ifd, wd);
        opens_drop_wd(w, wd);
    }
    wentries_free(w->ents, w->nents);
    w->ents = l.v;
    w->nents = l.n;
    /* Out of memory while arming: retry at the next event. Out of watches
     * (fs.inotify.max_user_watches): poll as well from now on. */
    w->rescan = l.failed;
    if (l.exhausted && !w->polling) {
        w->polling = true;
        w->next_poll = now_ms();
    }
    return added;
}

/* Adds (on) or removes the entry name of watch wd in a name set. Returns
 * false when out of memory. */
static bool names_set(wopen **vp, size_t *np, size_t *capp, int wd,
                      const char *name, bool on)
{
    wopen *v = *vp;
    for (size_t i = 0; i < *np; i++) {
        if (v[i].wd == wd && strcmp(v[i].name, name) == 0) {
            if (!on) {
                free(v[i].name);
                v[i] = v[--*np];
            }
            return true;
        }
    }
    if (!on)
        return true;
    if (*np == *capp) {
        size_t cap = *capp ? *capp * 2 : 8;
        wopen *nv = realloc(v, cap * sizeof *nv);
        if (!nv)
            return false;
        *vp = v = nv;
        *capp = cap;
    }
    char *n = xstrdup(name);
    if (!n)
        return false;
    v[*np].wd = wd;
    v[*np].name = n;
    ++*np;
    return true;
}

static void opens_set(struct coffer_watch *w, int wd, const char *name,
                      bool open)
{
    (void)names_set(&w->opens, &w->nopens, &w->capopens, wd, name, open);
}

static void dones_set(struct coffer_watch *w, int wd, const char *name,
                      bool done)
{
    if (!names_set(&w->dones, &w->ndones, &w->capdones, wd, name, done))
        w->done_any = true; /* out of memory: as if not tied to a file */
}


static void handle_event(struct coffer_watch *w, const struct inotify_event *ev,
                         int64_t now)
{
    if (ev->mask & IN_Q_OVERFLOW) {
        /* Events lost, closes among them: nothing is known to be open. */
        names_clear(w->opens, &w->nopens);
        w->done_any = true;
        w->rescan = true;
        mark_dirty(w, now);
        return;
    }
    const uint32_t self = IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF;
    bool relevant = false;
    for (size_t i = 0; i < w->nents && !relevant; i++) {
        const wentry *e = &w->ents[i];
        if (e->wd != ev->wd)
            continue;
        if (ev->mask & self)
            relevant = true;
        else if (!e->name || (ev->len && strcmp(ev->name, e->name) == 0))
            relevant = true;
    }
    if (!relevant)
        return;
    if (ev->mask & IN_IGNORED) {
        /* The directory is gone: forget its entries, re-arm. */
        size_t j = 0;
        for (size_t i = 0; i < w->nents; i++) {
            if (w->ents[i].wd == ev->wd) {
                free(w->ents[i].dir);
                free(w->ents[i].name);
            } else {
                w->ents[j++] = w->ents[i];
            }
        }
        w->nents = j;
        opens_drop_wd(w, ev->wd);
    }
    if (ev->mask & (self | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                    IN_DELETE | IN_ISDIR))
        w->rescan = true;
    if (ev->len && !(ev->mask & IN_ISDIR)) {
        if (ev->mask & IN_MODIFY) {
            /* Being written (again): an earlier complete change of this
             * file is not complete any more. */
            opens_set(w, ev->wd, ev->name, true);
            dones_set(w, ev->wd, ev->name, false);
            w->last_modify = now;
        }
        /* Closed, or the name now leads to another file. */
        if (ev->mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM |
                        IN_MOVED_TO | IN_CREATE))
            opens_set(w, ev->wd, ev->name, false);
        if (ev->mask & ~(uint32_t)IN_MODIFY)
            dones_set(w, ev->wd, ev->name, true);
    } else if (!(ev->mask & IN_MODIFY)) {
        w->done_any = true;
    }
    if (ev->mask & IN_CLOSE_WRITE)
        w->inplace = true;
    if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))
        mark_complete(w, now);
    else
        mark_dirty(w, now);
}

/* Reads every pending event. Returns 0 or a negative code. */
static int drain_events(struct coffer_watch *w, coffer_error *err)
{
    for (;;) {
        ssize_t n = read(w->ifd, w->evbuf, sizeof w->evbuf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            int e = errno;
            coffer_error_set(err, COFFER_ESYS, NULL, 0, 0,
                             "cannot read inotify events: %s", strerror(e));
            if (err)
                err->sys_errno = e;
            return COFFER_ESYS;
        }
        if (n == 0)
            break;
        int64_t now = now_ms();
        for (char *p = w->evbuf; p < w->evbuf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
            handle_event(w, ev, now);
            p += sizeof *ev + ev->len;
        }
    }
    if (w->rescan && rearm(w))
        mark_dirty(w, now_ms());
    return 0;
}

/* File systems on which inotify does not see changes made elsewhere
 * (network, FUSE, virtual machine shares). */
static bool remote_fs(const char *path)
{
    char *cur = xstrdup(path);
    bool remote = false;
    while (cur) {
        struct statfs sf;
        if (statfs(cur, &sf) == 0) {
            switch ((unsigned long)sf.f_type) {
            case 0x6969UL:     /* NFS */
            case 0x517BUL:     /* SMB */
            case 0xFF534D42UL: /* CIFS */
            case 0xFE534D42UL: /* SMB2 */
            case 0x01021997UL: /* 9P */
            case 0x65735546UL: /* FUSE */
            case 0x6A656A63UL: /* virtiofs */
            case 0x00C36400UL: /* Ceph */
            case 0x5346414FUL: /* AFS */
            case 0x73757245UL: /* Coda */
                remote = true;
                break;
            default:
                break;
            }
            break;
        }
        const char *base;
        size_t blen;
        char *dir = split_path(cur, &base, &blen);
        bool top = !dir || strcmp(dir, cur) == 0;
        free(cur);
        cur = dir;
        if (top)
            break;
    }
    free(cur);
    return remote;
}

#endif /* COFFER_HAVE_INOTIFY */

/* -------------------------------------------------------------- polling */

static uint64_t mix(uint64_t h, uint64_t v)
{
    /* FNV-1a over the 8 bytes of v. */
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (i * 8)) & 0xff;
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return mix(h, 0);
}

static uint64_t stat_sig(const char *path, bool follow)
{
    struct stat st;
    uint64_t h = 0xcbf29ce484222325ull;
    if ((follow ? stat(path, &st) : lstat(path, &st)) != 0)
        return mix(h, (uint64_t)errno + 1);
    h = mix(h, (uint64_t)st.st_dev);
    h = mix(h, (uint64_t)st.st_ino);
    h = mix(h, (uint64_t)st.st_mode);
    h = mix(h, (uint64_t)st.st_uid);
    h = mix(h, (uint64_t)st.st_size);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec);
    h = mix(h, (uint64_t)st.st_mtim.tv_nsec);
    h = mix(h, (uint64_t)st.st_ctim.tv_sec);
    h = mix(h, (uint64_t)st.st_ctim.tv_nsec);
    return h;
}

/* Order-independent signature of a directory's entries (names and what
 * they resolve to); descends into non-hidden sub-directories depth times. */
static uint64_t dir_sig(const char *path, int depth)
{
    DIR *d = opendir(path);
    if (!d)
        return mix(0x84222325ull, (uint64_t)errno + 1);
    uint64_t sum = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char *sub = join_path(path, de->d_name);
        if (!sub)
            continue;
        uint64_t h = mix_str(0xcbf29ce484222325ull, de->d_name);
        h = mix(h, stat_sig(sub, true));
        h = mix(h, stat_sig(sub, false));
        struct stat st;
        if (depth > 0 && de->d_name[0] != '.' && stat(sub, &st) == 0 &&
            S_ISDIR(st.st_mode))
            h = mix(h, dir_sig(sub, depth - 1));
        sum += h;
        free(sub);
    }
    closedir(d);
    return sum;
}

static uint64_t target_sig(const struct coffer_watch *w, size_t i)
{
    const char *p = w->paths[i];
    uint64_t h = mix(stat_sig(p, true), stat_sig(p, false));
    if (is_dir_kind(w->kinds[i], p)) {
        int depth = w->kinds[i] == COFFER_SOURCE_FLAT ? 0 : 1;
        h = mix(h, dir_sig(p, depth));
    }
    return h;
}

/* One signature over every target (for VERIFY_MS). */
static uint64_t sources_sig(const struct coffer_watch *w)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < w->ntargets; i++)
        if (w->paths[i][0] && w->kinds[i] != COFFER_SOURCE_TEXT)
            h = mix(h, target_sig(w, i));
    return h;
}

/* Recomputes every signature; true if any changed. */
static bool poll_sigs(struct coffer_watch *w)
{
    bool changed = false;
    for (size_t i = 0; i < w->ntargets; i++) {
        if (!w->paths[i][0] || w->kinds[i] == COFFER_SOURCE_TEXT)
            continue;
        uint64_t s = target_sig(w, i);
        if (s != w->sigs[i]) {
            w->sigs[i] = s;
            changed = true;
        }
    }
    return changed;
}

/* ------------------------------------------------------------- the core */

/* When the pending reload is due: after the debounce; while a writer has
 * a file open, not at all (-1) unless another file's change is complete,
 * and then after the writer closed (bounded) but never later than
 * max_wait after the first event. */
static int64_t reload_due(const struct coffer_watch *w)
{
    int64_t t = w->due;
    if (w->nopens) {
        if (!w->ndones && !w->done_any)
            return -1;
        if (w->last_modify + WRITE_HOLD_MS > t)
            t = w->last_modify + WRITE_HOLD_MS;
    }
    if (t > w->first_dirty + w->max_wait)
        t = w->first_dirty + w->max_wait;
    return t;
}

static int64_t deadline_locked(const struct coffer_watch *w)
{
    int64_t t = -1;
    if (w->dirty)
        t = reload_due(w); /* -1 while held by an open writer */
    if (w->dirty && w->verifying && w->verify_due > t)
        t = w->verify_due;
    if (w->polling && (t < 0 || w->next_poll < t))
        t = w->next_poll;
    return t;
}

static int timeout_locked(const struct coffer_watch *w)
{
    int64_t t = deadline_locked(w);
    if (t < 0)
        return -1;
    int64_t d = t - now_ms();
    if (d < 0)
        return 0;
    return d > INT_MAX ? INT_MAX : (int)d;
}

/* Polling: a change is applied once the signatures stayed the same for a
 * whole poll interval (size and mtime in ns, among others). */
static void mark_polled(struct coffer_watch *w, int64_t now)
{
    mark_dirty(w, now);
    if (w->debounce_ms && w->due < now + w->poll_ms)
        w->due = now + w->poll_ms;
}

/* Asked by the store between building a snapshot and publishing it: did
 * any source move while it was read? Events that arrived meanwhile (an
 * in-place writer starting over, say) make the snapshot stale. */
static bool still_current(void *ctx)
{
    struct coffer_watch *w = ctx;
#if COFFER_HAVE_INOTIFY
    if (w->ifd >= 0 && (drain_events(w, NULL) < 0 || w->dirty))
        return false;
#endif
    if (w->vcheck && sources_sig(w) != w->vsig) {
        mark_dirty(w, now_ms());
        return false;
    }
    if (w->polling && poll_sigs(w)) {
        mark_polled(w, now_ms());
        return false;
    }
    return true;
}

static int do_reload(struct coffer_watch *w, coffer_error *err)
{
    coffer_error e;
    coffer_diff diff;
    memset(&diff, 0, sizeof diff);
    coffer_error_clear(&e);
    int64_t first = w->first_dirty;
    int r = coffer_store_reload_checked(w->store, &diff, still_current, w, &e);
    if (r == COFFER_RELOAD_STALE ||
        (r == COFFER_EIO && e.sys_errno == EAGAIN)) {
        /* Read while being written: not an error, the next event (or
         * the next poll) brings the whole file. The change stays pending
         * since it was first seen (max_wait still counts from then). */
        if (!w->dirty)
            mark_dirty(w, now_ms());
        if (first < w->first_dirty)
            w->first_dirty = first;
        return 0;
    }
    names_clear(w->dones, &w->ndones);
    w->done_any = false;
    w->inplace = false;
    if (r < 0) {
        if (w->opt.on_error)
            w->opt.on_error(w->opt.ctx, &e);
        if (err)
            *err = e;
        return r;
    }
    if (r == 0) {
        coffer_diff_release(&diff);
        return 0;
    }
    if (w->opt.flags & COFFER_WATCH_EXPORT) {
        coffer_error_clear(&e);
        if (coffer_store_reexport(w->store, &e) < 0 && w->opt.on_error)
            w->opt.on_error(w->opt.ctx, &e);
    }
    if (w->opt.on_change) {
        coffer_snapshot *snap = NULL;
        if (coffer_store_acquire(w->store, &snap, NULL) == 0) {
            w->opt.on_change(w->opt.ctx, snap,
                             (const char *const *)diff.added, diff.nadded,
                             (const char *const *)diff.changed, diff.nchanged,
                             (const char *const *)diff.removed, diff.nremoved);
            coffer_snapshot_release(snap);
        }
    }
    coffer_diff_release(&diff);
    return 1;
}

static int sys_fail(coffer_error *err, const char *what);

/* ----------------------------------------------------------------- etcd */

/* True if an etcd watch thread reported a change (drains the eventfd). */
static bool etcd_pending(struct coffer_watch *w)
{
    uint64_t v = 0;
    ssize_t n;
    do
        n = read(w->efd, &v, sizeof v);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof v && v > 0;
}

/* An etcd value is always whole: reload at once (events that arrive
 * together still make one reload). */
static void mark_etcd(struct coffer_watch *w, int64_t now)
{
    if (!w->dirty)
        w->first_dirty = now;
    w->dirty = true;
    w->due = now;
}

static void etcd_stop_all(struct coffer_watch *w)
{
    for (size_t i = 0; i < w->netcds; i++)
        coffer_etcd_watch_stop(w->etcds[i]);
    free(w->etcds);
    w->etcds = NULL;
    w->netcds = 0;
}

/* Starts one watch thread per etcd source, after the baseline load (they
 * follow the key from the revision loaded + 1). */
static int etcd_start_all(struct coffer_watch *w, coffer_error *err)
{
    coffer_store *s = w->store;
    size_t n = 0;
    for (size_t i = 0; i < s->nsources; i++)
        n += s->sources[i].kind == COFFER_SOURCE_ETCD;
    if (!n)
        return 0;
    w->etcds = calloc(n, sizeof *w->etcds);
    if (!w->etcds)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
#ifdef __linux__
    w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
#endif
    if (w->efd < 0)
        return sys_fail(err, "create eventfd");
#ifdef __linux__
    if (w->ifd >= 0) {
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN };
        if (w->epfd < 0)
            return sys_fail(err, "create epoll descriptor");
        ev.data.fd = w->ifd;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->ifd, &ev) < 0)
            return sys_fail(err, "watch the inotify descriptor");
        ev.data.fd = w->efd;
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->efd, &ev) < 0)
            return sys_fail(err, "watch the eventfd");
    }
#endif
    for (size_t i = 0; i < s->nsources; i++) {
        if (s->sources[i].kind != COFFER_SOURCE_ETCD)
            continue;
        int rc = coffer_etcd_watch_start(s->sources[i].remote, w->efd, err);
        if (rc)
            return rc;
        w->etcds[w->netcds++] = s->sources[i].remote;
    }
    return 0;
}

static int process_locked(struct coffer_watch *w, coffer_error *err)
{
    int64_t now;
#if COFFER_HAVE_INOTIFY
    if (w->ifd >= 0) {
        int r = drain_events(w, err);
        if (r < 0)
            return r;
    }
#endif
    now = now_ms();
    if (w->efd >= 0 && etcd_pending(w))
        mark_etcd(w, now);
    if (w->polling && now >= w->next_poll) {
        if (poll_sigs(w))
            mark_polled(w, now);
        w->next_poll = now + w->poll_ms;
    }
    /* Not before the debounce deadline, nor while a writer has a file
     * open (until its close). */
    int64_t due = reload_due(w);
    if (!w->dirty || due < 0 || now < due)
        return 0;
    if (w->polling && w->debounce_ms && poll_sigs(w) &&
        now < w->first_dirty + w->max_wait) {
        /* Still changing since the change was seen: wait for quiet. */
        mark_polled(w, now);
        return 0;
    }
    /* Skipped only for a reload that goes ahead of an open writer (past
     * max_wait): a file written continuously never stays still. */
    w->vcheck = w->inplace &&
                (w->nopens == 0 || now < w->first_dirty + w->max_wait);
    if (w->vcheck) {
        uint64_t sig = sources_sig(w);
        if (!w->verifying || sig != w->vsig) {
            w->verifying = true;
            w->vsig = sig;
            w->verify_due = now + VERIFY_MS;
            return 0;
        }
        if (now < w->verify_due)
            return 0;
    }
    w->verifying = false;
    w->dirty = false;
    /* After a failed reload, wait for the next event before retrying. */
    return do_reload(w, err);
}

/* ----------------------------------------------------------- lifecycle */

static void watch_free(struct coffer_watch *w)
{
    if (!w)
        return;
#if COFFER_HAVE_INOTIFY
    wentries_free(w->ents, w->nents);
#endif
    names_clear(w->opens, &w->nopens);
    names_clear(w->dones, &w->ndones);
    free(w->opens);
    etcd_stop_all(w);
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->efd >= 0)
        close(w->efd);
    free(w->dones);
    if (w->ifd >= 0)
        close(w->ifd);
    if (w->wake[0] >= 0)
        close(w->wake[0]);
    if (w->wake[1] >= 0)
        close(w->wake[1]);
    for (size_t i = 0; i < w->ntargets; i++)
        free(w->paths[i]);
    free(w->paths);
    free(w->kinds);
    free(w->sigs);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Guards every store's watch slot and the users counts, so that watch,
 * unwatch, fd, timeout and process may be called from any threads: a call
 * in progress keeps the watch alive until it returns. */
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

static struct coffer_watch *watch_get(coffer_store *s)
{
    if (!s)
        return NULL;
    pthread_mutex_lock(&slot_lock);
    struct coffer_watch *w = coffer_store_watch_state(s);
    if (w)
        w->users++;
    pthread_mutex_unlock(&slot_lock);
    return w;
}

static void watch_put(struct coffer_watch *w)
{
    pthread_mutex_lock(&slot_lock);
    bool last = --w->users == 0;
    pthread_mutex_unlock(&slot_lock);
    if (last)
        watch_free(w);
}

/* Called once the watch left its slot (unwatch, or coffer_store_close
 * through the hook): stops the helper thread, then drops the slot's
 * reference. */
static void watch_stop(struct coffer_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopped = true;
    pthread_mutex_unlock(&w->mu);
    if (w->has_thread) {
        char c = 1;
        ssize_t n;
        do
            n = write(w->wake[1], &c, 1);
        while (n < 0 && errno == EINTR);
        pthread_join(w->thread, NULL);
        w->has_thread = false;
    }
    /* The etcd objects belong to the store's sources: stop their threads
     * while the store is certainly alive. */
    etcd_stop_all(w);
    watch_put(w);
}

static void *watch_thread(void *arg)
{
    struct coffer_watch *w = arg;
    for (;;) {
        struct pollfd pfd[3];
        nfds_t n = 0;
        pfd[n].fd = w->wake[0];
        pfd[n].events = POLLIN;
        pfd[n++].revents = 0;
        if (w->ifd >= 0) {
            pfd[n].fd = w->ifd;
            pfd[n].events = POLLIN;
            pfd[n++].revents = 0;
        }
        if (w->efd >= 0) {
            pfd[n].fd = w->efd;
            pfd[n].events = POLLIN;
            pfd[n++].revents = 0;
        }
        pthread_mutex_lock(&w->mu);
        int t = timeout_locked(w);
        pthread_mutex_unlock(&w->mu);
        int r = poll(pfd, n, t);
        if (r < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            break;
        pthread_mutex_lock(&w->mu);
        if (!w->stopped)
            (void)process_locked(w, NULL);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

static int set_cloexec_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return 0;
}

static int sys_fail(coffer_error *err, const char *what)
{
    int e = errno;
    coffer_error_set(err, COFFER_ESYS, NULL, 0, 0, "cannot %s: %s", what,
                     strerror(e));
    if (err)
        err->sys_errno = e;
    return COFFER_ESYS;
}

int coffer_store_watch(coffer_store *s, const coffer_watch_options *opt,
                       coffer_error *err)
{
    if (!s)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no store given");
    pthread_mutex_lock(&slot_lock);
    bool busy = coffer_store_watch_state(s) != NULL;
    pthread_mutex_unlock(&slot_lock);
    if (busy)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "store is already watched");
    /* The source list (an invalid [secrets] files fails here). */
    int rc = coffer_store_resolve(s, err);
    if (rc < 0)
        return rc;
    struct coffer_watch *w = calloc(1, sizeof *w);
    if (!w)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0,
                                "out of memory");
    w->ifd = w->wake[0] = w->wake[1] = w->efd = w->epfd = -1;
    w->users = 1;
    pthread_mutex_init(&w->mu, NULL);
    w->store = s;
    if (opt)
        w->opt = *opt;
    w->debounce_ms = w->opt.debounce_ms ? w->opt.debounce_ms : DEFAULT_DEBOUNCE_MS;
    w->poll_ms = w->opt.poll_ms ? w->opt.poll_ms : DEFAULT_POLL_MS;
    w->settle_ms = (w->debounce_ms + 9) / 10;
    w->max_wait = (int64_t)w->debounce_ms * 10 > MAX_WAIT_MS
                      ? (int64_t)w->debounce_ms * 10 : MAX_WAIT_MS;
    w->polling = !COFFER_HAVE_INOTIFY || (w->opt.flags & COFFER_WATCH_POLL);

    const char **paths = NULL;
    coffer_source_kind *kinds = NULL;
    size_t n = coffer_store_watch_targets(s, &paths, &kinds);
    w->paths = calloc(n ? n : 1, sizeof *w->paths);
    w->kinds = calloc(n ? n : 1, sizeof *w->kinds);
    w->sigs = calloc(n ? n : 1, sizeof *w->sigs);
    if (!w->paths || !w->kinds || !w->sigs)
        goto nomem;
    for (size_t i = 0; i < n; i++) {
        w->paths[i] = xstrdup(paths[i] ? paths[i] : "");
        if (!w->paths[i])
            goto nomem;
        w->ntargets = i + 1;
        w->kinds[i] = kinds ? kinds[i] : COFFER_SOURCE_AUTO;
    }

#if COFFER_HAVE_INOTIFY
    if (!w->polling) {
        w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->ifd < 0) {
            w->polling = true; /* out of instances: fall back to polling */
        } else {
            (void)rearm(w);
            /* Out of watches already: polling alone. */
            if (w->polling) {
                close(w->ifd);
                w->ifd = -1;
            }
            /* Network file systems: inotify sees local writes only, so
             * poll as well. */
            for (size_t i = 0; i < w->ntargets && !w->polling; i++)
                if (w->paths[i][0] && remote_fs(w->paths[i]))
                    w->polling = true;
        }
    }
#endif
    if (w->polling) {
        (void)poll_sigs(w);
        w->next_poll = now_ms() + w->poll_ms;
    }

    /* The baseline the first change is compared with. Errors (nothing
     * there yet, invalid content) are fine: the watch picks up the fix. */
    coffer_snapshot *snap = NULL;
    if (coffer_store_acquire(s, &snap, NULL) == 0)
        coffer_snapshot_release(snap);
    rc = etcd_start_all(w, err);
    if (rc) {
        watch_free(w);
        return rc;
    }

    if (w->opt.flags & COFFER_WATCH_THREAD) {
        if (pipe(w->wake) < 0) {
            w->wake[0] = w->wake[1] = -1;
            int r = sys_fail(err, "create pipe");
            watch_free(w);
            return r;
        }
        if (set_cloexec_nonblock(w->wake[0]) < 0 ||
            set_cloexec_nonblock(w->wake[1]) < 0) {
            int r = sys_fail(err, "set up pipe");
            watch_free(w);
            return r;
        }
        int e = pthread_create(&w->thread, NULL, watch_thread, w);
        if (e) {
            errno = e;
            int r = sys_fail(err, "start watch thread");
            watch_free(w);
            return r;
        }
        w->has_thread = true;
    }
    pthread_mutex_lock(&slot_lock);
    busy = coffer_store_watch_state(s) != NULL;
    if (!busy)
        coffer_store_set_watch_state(s, w, watch_stop);
    pthread_mutex_unlock(&slot_lock);
    if (busy) {
        /* Another thread started a watch meanwhile. */
        watch_stop(w);
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "store is already watched");
    }
    return 0;

nomem:
    watch_free(w);
    return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
}

int coffer_store_watch_fd(coffer_store *s)
{
    struct coffer_watch *w = watch_get(s);
    if (!w)
        return -1;
    /* fixed once the watch is published */
    int fd = w->epfd >= 0 ? w->epfd : w->ifd >= 0 ? w->ifd : w->efd;
    watch_put(w);
    return fd;
}

int coffer_store_watch_timeout(coffer_store *s)
{
    struct coffer_watch *w = watch_get(s);
    if (!w)
        return -1;
    pthread_mutex_lock(&w->mu);
    int t = w->stopped ? -1 : timeout_locked(w);
    pthread_mutex_unlock(&w->mu);
    watch_put(w);
    return t;
}

int coffer_store_watch_process(coffer_store *s, coffer_error *err)
{
    struct coffer_watch *w = watch_get(s);
    if (!w)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "store is not watched");
    pthread_mutex_lock(&w->mu);
    int r = w->stopped ? 0 : process_locked(w, err);
    pthread_mutex_unlock(&w->mu);
    watch_put(w);
    return r;
}

void coffer_store_unwatch(coffer_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&slot_lock);
    struct coffer_watch *w = coffer_store_watch_state(s);
    if (w)
        coffer_store_set_watch_state(s, NULL, NULL);
    pthread_mutex_unlock(&slot_lock);
    if (w)
        watch_stop(w);
}

bool coffer_watch_is_polling(coffer_store *s)
{
    struct coffer_watch *w = watch_get(s);
    if (!w)
        return false;
    pthread_mutex_lock(&w->mu);
    bool p = w->polling;
    pthread_mutex_unlock(&w->mu);
    watch_put(w);
    return p;
}
