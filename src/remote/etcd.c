/* etcd.c - the etcd source: URL, options, v3 JSON gateway client (range,
 * txn, authenticate, streaming watch), endpoint failover, push, history
 * and the last-known-good cache. libcurl is loaded with dlopen. */
#include "remote/remote.h"
#include "remote/json.h"
#include "store/store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONNECT_MS 1000L

struct coffer_etcd {
    char *name;                 /* etcd://h:p,.../KEY, no credentials */
    char **eps;                 /* "host:port" */
    size_t neps;
    char *key;
    size_t keylen;
    char *key64;                /* base64 of the key */
    bool tls;
    char *cacert, *cert, *keyfile, *user, *passfile, *cachedir;
    long connect_ms;
    atomic_size_t good;         /* index of the last member that answered */
    atomic_llong loaded_rev;    /* header revision of the last read */
    atomic_llong modrev;        /* mod_revision of the value read, 0: none */
    atomic_llong cached_at;     /* time of the cached copy in use, or 0 */

    pthread_mutex_t mu;         /* token */
    coffer_secbuf token;

    pthread_mutex_t wmu;        /* watch thread state */
    pthread_cond_t wcv;
    bool wrunning;
    atomic_bool wstop;
    pthread_t wth;
    int notify_fd;
    int wsock;                  /* socket of the watch stream, or -1 */
    atomic_llong wlast;         /* last event revision seen */
};

bool coffer_etcd_is_url(const char *p, size_t n)
{
    return (n >= 7 && memcmp(p, "etcd://", 7) == 0) ||
           (n >= 8 && memcmp(p, "etcds://", 8) == 0);
}

size_t coffer_etcd_url_span(const char *p)
{
    const char *a = strstr(p, "://");
    if (!a)
        return strlen(p);
    const char *slash = strchr(a + 3, '/');
    if (!slash)
        return strlen(p);
    const char *c = strchr(slash, ':');
    return c ? (size_t)(c - p) : strlen(p);
}

static char *dup_env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? strdup(v) : NULL;
}

static bool ep_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' ||
           c == '[' || c == ']' || c == '_';
}

void coffer_etcd_free(coffer_etcd *e)
{
    if (!e)
        return;
    coffer_etcd_watch_stop(e);
    for (size_t i = 0; i < e->neps; i++)
        free(e->eps[i]);
    free(e->eps);
    free(e->name);
    free(e->key);
    free(e->key64);
    free(e->cacert);
    free(e->cert);
    free(e->keyfile);
    free(e->user);
    free(e->passfile);
    free(e->cachedir);
    coffer_secbuf_release(&e->token);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->wmu);
    pthread_cond_destroy(&e->wcv);
    free(e);
}

const char *coffer_etcd_name(const coffer_etcd *e)
{
    return e->name;
}

int coffer_etcd_new(const char *url, size_t n, coffer_etcd **out,
                    coffer_error *err)
{
    *out = NULL;
    bool tls = n >= 8 && memcmp(url, "etcds://", 8) == 0;
    size_t skip = tls ? 8 : 7;
    const char *auth = url + skip, *end = url + n;
    const char *slash = memchr(auth, '/', (size_t)(end - auth));
    if (memchr(url, '@', n) && (!slash || memchr(auth, '@', (size_t)(slash - auth))))
        return coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                                "an etcd url must not carry credentials; use "
                                "COFFER_ETCD_USER and COFFER_ETCD_PASSWORD_FILE");
    if (!slash || slash + 1 >= end)
        return coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                                "etcd url '%.*s' has no key "
                                "(etcd://HOST:PORT[,HOST:PORT...]/KEY)",
                                (int)(n > 200 ? 200 : n), url);
    for (const char *p = slash + 1; p < end; p++)
        if ((unsigned char)*p < 0x20 || *p == '?' || *p == '#')
            return coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                                    "etcd url '%.*s': the key may not hold "
                                    "control characters, '?' or '#'",
                                    (int)(n > 200 ? 200 : n), url);
    coffer_etcd *e = calloc(1, sizeof *e);
    if (!e)
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->wmu, NULL);
    pthread_cond_init(&e->wcv, NULL);
    e->wsock = -1;
    e->notify_fd = -1;
    e->tls = tls;
    int rc = 0;
    /* endpoints */
    const char *p = auth;
    while (p < slash) {
        const char *c = memchr(p, ',', (size_t)(slash - p));
        if (!c)
            c = slash;
        size_t l = (size_t)(c - p);
        bool okc = l > 0;
        for (size_t k = 0; k < l && okc; k++)
            okc = ep_char_ok(p[k]);
        const char *colon = l ? memrchr(p, ':', l) : NULL;
        if (!okc || !colon || colon == p || colon + 1 == c) {
            rc = coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                                  "etcd url '%.*s': endpoint '%.*s' is not "
                                  "HOST:PORT",
                                  (int)(n > 200 ? 200 : n), url,
                                  (int)(l > 100 ? 100 : l), p);
            goto fail;
        }
        char **v = realloc(e->eps, (e->neps + 1) * sizeof *v);
        if (!v)
            goto nomem;
        e->eps = v;
        if (!(e->eps[e->neps] = strndup(p, l)))
            goto nomem;
        e->neps++;
        p = c + 1;
    }
    e->keylen = (size_t)(end - slash - 1);
    e->key = strndup(slash + 1, e->keylen);
    e->name = strndup(url, n);
    size_t b64 = sodium_base64_encoded_len(e->keylen,
                                           sodium_base64_VARIANT_ORIGINAL);
    e->key64 = malloc(b64);
    if (!e->key || !e->name || !e->key64)
        goto nomem;
    sodium_bin2base64(e->key64, b64, (const unsigned char *)e->key, e->keylen,
                      sodium_base64_VARIANT_ORIGINAL);
    e->cacert = dup_env("COFFER_ETCD_CACERT");
    e->cert = dup_env("COFFER_ETCD_CERT");
    e->keyfile = dup_env("COFFER_ETCD_KEY");
    e->user = dup_env("COFFER_ETCD_USER");
    e->passfile = dup_env("COFFER_ETCD_PASSWORD_FILE");
    e->cachedir = dup_env("COFFER_ETCD_CACHE");
    if (e->cacert || e->cert)
        e->tls = true;
    e->connect_ms = DEFAULT_CONNECT_MS;
    const char *t = getenv("COFFER_ETCD_TIMEOUT_MS");
    if (t && *t) {
        char *te;
        long v = strtol(t, &te, 10);
        if (*te || v <= 0 || v > 600000) {
            rc = coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                                  "invalid COFFER_ETCD_TIMEOUT_MS '%.20s' "
                                  "(milliseconds)", t);
            goto fail;
        }
        e->connect_ms = v;
    }
    if (e->user && !e->passfile) {
        rc = coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                              "COFFER_ETCD_USER is set but not "
                              "COFFER_ETCD_PASSWORD_FILE");
        goto fail;
    }
    if (!!e->cert != !!e->keyfile) {
        rc = coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                              "COFFER_ETCD_CERT and COFFER_ETCD_KEY go together");
        goto fail;
    }
    *out = e;
    return 0;
nomem:
    rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
fail:
    coffer_etcd_free(e);
    return rc;
}

void coffer_etcd_describe(const coffer_etcd *e, char *buf, size_t n)
{
    long long rev = atomic_load(&e->modrev);
    long long at = atomic_load(&e->cached_at);
    int w = rev ? snprintf(buf, n, "%s@%lld", e->name, rev)
                : snprintf(buf, n, "%s", e->name);
    if (at && w >= 0 && (size_t)w < n) {
        long long age = (long long)time(NULL) - at;
        if (age < 0)
            age = 0;
        if (age < 120)
            snprintf(buf + w, n - (size_t)w, " (cached copy from %lld s ago)", age);
        else
            snprintf(buf + w, n - (size_t)w, " (cached copy from %lld min ago)",
                     age / 60);
    }
}

#ifdef COFFER_WITH_ETCD

#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>

/* ------------------------------------------------------------ libcurl */

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*setopt)(CURL *, CURLoption, ...);
    CURLcode (*perform)(CURL *);
    void (*cleanup)(CURL *);
    CURLcode (*getinfo)(CURL *, CURLINFO, ...);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    const char *(*strerror)(CURLcode);
} C;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ok;
static char curl_why[160];

static void curl_load(void)
{
    /* Never unloaded: libcurl and its TLS library keep global state. */
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *d = dlerror();
        snprintf(curl_why, sizeof curl_why, "%s", d ? d : "not found");
        return;
    }
#define SYM(field, name)                                         \
    do {                                                         \
        *(void **)(&C.field) = dlsym(h, name);                   \
        if (!C.field) {                                          \
            snprintf(curl_why, sizeof curl_why, "no %s", name);  \
            return;                                              \
        }                                                        \
    } while (0)
    SYM(global_init, "curl_global_init");
    SYM(easy_init, "curl_easy_init");
    SYM(setopt, "curl_easy_setopt");
    SYM(perform, "curl_easy_perform");
    SYM(cleanup, "curl_easy_cleanup");
    SYM(getinfo, "curl_easy_getinfo");
    SYM(slist_append, "curl_slist_append");
    SYM(slist_free_all, "curl_slist_free_all");
    SYM(strerror, "curl_easy_strerror");
#undef SYM
    if (C.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(curl_why, sizeof curl_why, "curl_global_init failed");
        return;
    }
    curl_ok = true;
}

static int need_curl(coffer_error *err)
{
    pthread_once(&curl_once, curl_load);
    if (curl_ok)
        return 0;
    return coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                            "cannot load libcurl.so.4 (%s): install libcurl4",
                            curl_why);
}

/* ------------------------------------------------------------ requests */

struct sink {
    coffer_secbuf *out;
    size_t limit;
    bool over;
};

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct sink *s = ud;
    size_t n = sz * nm;
    if (s->out->len + n > s->limit) {
        s->over = true;
        return 0;
    }
    if (coffer_secbuf_append(s->out, p, n) != 0)
        return 0;
    return n;
}

/* Headers for a request; the token line is wiped before it is freed. */
static struct curl_slist *headers(coffer_etcd *e, bool with_token)
{
    struct curl_slist *h = C.slist_append(NULL, "Content-Type: application/json");
    if (!h || !with_token)
        return h;
    pthread_mutex_lock(&e->mu);
    if (e->token.len) {
        coffer_secbuf line = { 0 };
        if (coffer_secbuf_append(&line, "Authorization: ", 15) == 0 &&
            coffer_secbuf_append(&line, e->token.data, e->token.len) == 0) {
            struct curl_slist *h2 = C.slist_append(h, line.data);
            if (h2)
                h = h2;
        }
        coffer_secbuf_release(&line);
    }
    pthread_mutex_unlock(&e->mu);
    return h;
}

static void headers_free(struct curl_slist *h)
{
    for (struct curl_slist *p = h; p; p = p->next)
        if (p->data)
            coffer_memzero(p->data, strlen(p->data));
    C.slist_free_all(h);
}

static CURL *easy_for(coffer_etcd *e, const char *ep, const char *path,
                      char *url, size_t urlsz, char *errbuf)
{
    CURL *c = C.easy_init();
    if (!c)
        return NULL;
    snprintf(url, urlsz, "%s://%s%s", e->tls ? "https" : "http", ep, path);
    errbuf[0] = '\0';
    C.setopt(c, CURLOPT_URL, url);
    C.setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    C.setopt(c, CURLOPT_NOSIGNAL, 1L);
    C.setopt(c, CURLOPT_NOPROXY, "*");
    C.setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->connect_ms);
#ifdef CURLOPT_PROTOCOLS_STR
    C.setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    C.setopt(c, CURLOPT_POST, 1L);
    if (e->cacert)
        C.setopt(c, CURLOPT_CAINFO, e->cacert);
    if (e->cert) {
        C.setopt(c, CURLOPT_SSLCERT, e->cert);
        C.setopt(c, CURLOPT_SSLKEY, e->keyfile);
    }
    return c;
}

/* One POST to one member. Returns 0 with *status set, or -1 for a
 * transport failure (why gets curl's reason). */
static int post_one(coffer_etcd *e, const char *ep, const char *path,
                    const char *body, size_t blen, bool with_token,
                    coffer_secbuf *out, size_t limit, long *status,
                    char *why, size_t whysz)
{
    char url[512], errbuf[CURL_ERROR_SIZE];
    CURL *c = easy_for(e, ep, path, url, sizeof url, errbuf);
    if (!c) {
        snprintf(why, whysz, "out of memory");
        return -1;
    }
    struct curl_slist *h = headers(e, with_token);
    struct sink s = { out, limit, false };
    C.setopt(c, CURLOPT_HTTPHEADER, h);
    C.setopt(c, CURLOPT_POSTFIELDS, body);
    C.setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    C.setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    C.setopt(c, CURLOPT_WRITEDATA, &s);
    C.setopt(c, CURLOPT_TIMEOUT_MS, e->connect_ms * 10 + 5000);
    CURLcode r = C.perform(c);
    long st = 0;
    C.getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    C.cleanup(c);
    headers_free(h);
    if (s.over) {
        snprintf(why, whysz, "response larger than %zu bytes", limit);
        return -2;
    }
    if (r != CURLE_OK) {
        snprintf(why, whysz, "%.150s", errbuf[0] ? errbuf : C.strerror(r));
        return -1;
    }
    *status = st;
    return 0;
}

/* etcd's error message of a failed call, cleaned for a diagnostic. */
static void etcd_message(const coffer_json *j, char *buf, size_t n, int64_t *code)
{
    *code = 0;
    snprintf(buf, n, "unexpected response");
    long m = coffer_json_get(j, 0, "message");
    if (m < 0)
        m = coffer_json_path(j, 0, "error", "message", (const char *)NULL);
    if (!coffer_json_int(j, coffer_json_get(j, 0, "code"), code))
        (void)coffer_json_int(j, coffer_json_path(j, 0, "error", "grpc_code",
                                                  (const char *)NULL), code);
    if (m >= 0 && coffer_json_string(j, m, buf, n) >= 0) {
        if (strncmp(buf, "etcdserver: ", 12) == 0)
            memmove(buf, buf + 12, strlen(buf + 12) + 1);
        for (char *p = buf; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = '?';
    }
}

static int read_password(coffer_etcd *e, coffer_secbuf *pw, coffer_error *err)
{
    int fd = open(e->passfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return coffer_error_set(err, COFFER_ECONFIG, e->passfile, 0, 0,
                                "cannot open COFFER_ETCD_PASSWORD_FILE '%s': %s",
                                e->passfile, strerror(errno));
    char chunk[256];
    ssize_t r;
    int rc = 0;
    while ((r = read(fd, chunk, sizeof chunk)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = coffer_error_set(err, COFFER_EIO, e->passfile, 0, 0,
                                  "cannot read '%s': %s", e->passfile,
                                  strerror(errno));
            break;
        }
        if (pw->len + (size_t)r > 4096 ||
            coffer_secbuf_append(pw, chunk, (size_t)r) != 0) {
            rc = coffer_error_set(err, COFFER_ELIMIT, e->passfile, 0, 0,
                                  "'%s' is too large for a password",
                                  e->passfile);
            break;
        }
    }
    coffer_memzero(chunk, sizeof chunk);
    close(fd);
    while (rc == 0 && pw->len &&
           (pw->data[pw->len - 1] == '\n' || pw->data[pw->len - 1] == '\r'))
        pw->data[--pw->len] = '\0';
    return rc;
}

/* JSON string body of s (no quotes needed beyond the usual escapes). */
static int json_escape(coffer_secbuf *b, const char *s, size_t n)
{
    int rc = coffer_secbuf_append(b, "\"", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            rc = coffer_secbuf_append(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            rc = coffer_secbuf_append(b, esc, 6);
        } else {
            rc = coffer_secbuf_append(b, s + i, 1);
        }
    }
    if (!rc)
        rc = coffer_secbuf_append(b, "\"", 1);
    return rc;
}

/* Gets a token from member ep. 0, -1 transport failure (why set), or a
 * negative code (refused: COFFER_EPERM). */
static int authenticate(coffer_etcd *e, const char *ep, char *why, size_t whysz,
                        coffer_error *err)
{
    coffer_secbuf pw = { 0 }, body = { 0 }, resp = { 0 };
    int rc = read_password(e, &pw, err);
    if (rc)
        goto out;
    rc = coffer_secbuf_append(&body, "{\"name\":", 8);
    if (!rc)
        rc = json_escape(&body, e->user, strlen(e->user));
    if (!rc)
        rc = coffer_secbuf_append(&body, ",\"password\":", 12);
    if (!rc)
        rc = json_escape(&body, pw.data ? pw.data : "", pw.len);
    if (!rc)
        rc = coffer_secbuf_append(&body, "}", 1);
    if (rc) {
        rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    long st = 0;
    int t = post_one(e, ep, "/v3/auth/authenticate", body.data, body.len,
                     false, &resp, 1 << 16, &st, why, whysz);
    if (t) {
        rc = -1;
        goto out;
    }
    coffer_json j;
    coffer_error jerr;
    if (coffer_json_parse(&j, resp.data ? resp.data : "", resp.len, 0, &jerr)) {
        coffer_json_release(&j);
        snprintf(why, whysz, "invalid response to authenticate");
        rc = -1;
        goto out;
    }
    long tok = coffer_json_get(&j, 0, "token");
    if (st != 200 || tok < 0) {
        char msg[160];
        int64_t code;
        etcd_message(&j, msg, sizeof msg, &code);
        coffer_json_release(&j);
        if (code == 14 || code == 4 || st >= 500) {
            snprintf(why, whysz, "%s", msg);
            rc = -1;
            goto out;
        }
        rc = coffer_error_set(err, COFFER_EPERM, NULL, 0, 0,
                              "etcd at '%s' refused user '%s': %s", ep,
                              e->user, msg);
        goto out;
    }
    const coffer_json_tok *tk = &j.toks[tok];
    pthread_mutex_lock(&e->mu);
    e->token.len = 0;
    if (coffer_secbuf_append(&e->token, j.text + tk->start, tk->end - tk->start))
        rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    pthread_mutex_unlock(&e->mu);
    coffer_json_release(&j);
out:
    coffer_secbuf_release(&pw);
    coffer_secbuf_release(&body);
    coffer_secbuf_release(&resp);
    return rc;
}

static bool have_token(coffer_etcd *e)
{
    pthread_mutex_lock(&e->mu);
    bool t = e->token.len > 0;
    pthread_mutex_unlock(&e->mu);
    return t;
}

static void drop_token(coffer_etcd *e)
{
    pthread_mutex_lock(&e->mu);
    if (e->token.data)
        coffer_memzero(e->token.data, e->token.cap);
    e->token.len = 0;
    pthread_mutex_unlock(&e->mu);
}

/* Appends "'ep' (why)" to the list of members tried. */
static void tried_add(char *list, size_t n, const char *ep, const char *why)
{
    size_t l = strlen(list);
    if (l < n)
        snprintf(list + l, n - l, "%s'%s' (%s)", l ? ", " : "", ep, why);
}

/* POST to the first member that answers, starting with the last good one.
 * On success *j holds the parsed JSON of a 200 response (release it) and
 * resp its text. Errors: COFFER_EREMOTE naming every member tried,
 * COFFER_EPERM for refused credentials, COFFER_EREMOTE with etcd's
 * message for other refusals (code set in *ecode). */
static int call(coffer_etcd *e, const char *path, const char *body, size_t blen,
                size_t limit, coffer_secbuf *resp, coffer_json *j,
                int64_t *ecode, coffer_error *err)
{
    memset(j, 0, sizeof *j);
    if (ecode)
        *ecode = 0;
    int rc = need_curl(err);
    if (rc)
        return rc;
    char tried[COFFER_ERROR_MESSAGE_MAX];
    tried[0] = '\0';
    size_t first = atomic_load(&e->good) % e->neps;
    for (size_t k = 0; k < e->neps; k++) {
        size_t idx = (first + k) % e->neps;
        const char *ep = e->eps[idx];
        char why[160];
        bool reauthed = false;
    again:
        why[0] = '\0';
        if (e->user && !have_token(e)) {
            rc = authenticate(e, ep, why, sizeof why, err);
            if (rc == -1) {
                tried_add(tried, sizeof tried, ep, why);
                continue;
            }
            if (rc)
                return rc;
            reauthed = true;
        }
        resp->len = 0;
        if (resp->data)
            resp->data[0] = '\0';
        long st = 0;
        int t = post_one(e, ep, path, body, blen, e->user != NULL, resp, limit,
                         &st, why, sizeof why);
        if (t == -2)
            return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                    "etcd at '%s': %s", ep, why);
        if (t) {
            tried_add(tried, sizeof tried, ep, why);
            continue;
        }
        coffer_error jerr;
        coffer_json_release(j);
        if (coffer_json_parse(j, resp->data ? resp->data : "", resp->len, 0,
                              &jerr) != 0) {
            snprintf(why, sizeof why, "http %ld, %.100s", st, jerr.message);
            tried_add(tried, sizeof tried, ep, why);
            continue;
        }
        if (st == 200) {
            atomic_store(&e->good, idx);
            return 0;
        }
        char msg[160];
        int64_t code;
        etcd_message(j, msg, sizeof msg, &code);
        if (ecode)
            *ecode = code;
        if (code == 14 || code == 4 || st >= 500) { /* unavailable, timeout */
            tried_add(tried, sizeof tried, ep, msg);
            continue;
        }
        if (code == 16 && e->user && !reauthed) { /* token expired */
            drop_token(e);
            reauthed = true;
            goto again;
        }
        if (code == 16 || code == 7 || (code == 3 && strstr(msg, "user name")))
            return coffer_error_set(err, COFFER_EPERM, NULL, 0, 0,
                                    "etcd at '%s' refused access to key '%s': "
                                    "%s%s", ep, e->key, msg,
                                    e->user ? "" : " (set COFFER_ETCD_USER and "
                                                   "COFFER_ETCD_PASSWORD_FILE)");
        return coffer_error_set(err, COFFER_EREMOTE, NULL, 0, 0,
                                "etcd at '%s' refused the request for key "
                                "'%s': %s", ep, e->key, msg);
    }
    coffer_json_release(j);
    return coffer_error_set(err, COFFER_EREMOTE, NULL, 0, 0,
                            "cannot reach etcd for '%s'; tried %s", e->name,
                            tried);
}

/* ---------------------------------------------------------------- cache */

static int cache_paths(const coffer_etcd *e, char *keyp, char *filep, size_t n)
{
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)e->name,
                       strlen(e->name), NULL, 0);
    char hex[33];
    sodium_bin2hex(hex, sizeof hex, h, sizeof h);
    if ((size_t)snprintf(keyp, n, "%s/key", e->cachedir) >= n ||
        (size_t)snprintf(filep, n, "%s/etcd-%s.cache", e->cachedir, hex) >= n)
        return -1;
    return 0;
}

/* The cache's key: DIR/key, 32 random bytes, created 0600 on first use.
 * The directory must be ours and not writable by others. */
static int cache_key(const coffer_etcd *e, const char *keyp, bool create,
                     unsigned char *k)
{
    struct stat st;
    if (stat(e->cachedir, &st) != 0) {
        if (!create || mkdir(e->cachedir, 0700) != 0)
            return -1;
    } else if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
               (st.st_mode & 022)) {
        return -1;
    }
    int fd = open(keyp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT && create) {
        unsigned char nk[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
        randombytes_buf(nk, sizeof nk);
        fd = open(keyp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                  0600);
        if (fd >= 0) {
            bool ok = write(fd, nk, sizeof nk) == (ssize_t)sizeof nk &&
                      fsync(fd) == 0;
            close(fd);
            coffer_memzero(nk, sizeof nk);
            if (!ok) {
                unlink(keyp);
                return -1;
            }
        }
        fd = open(keyp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0)
        return -1;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              st.st_uid == geteuid() && !(st.st_mode & 077) &&
              read(fd, k, crypto_aead_xchacha20poly1305_ietf_KEYBYTES) ==
                  (ssize_t)crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
    close(fd);
    return ok ? 0 : -1;
}

#define CACHE_MAGIC "COFFERE1"
#define CACHE_HDR (8 + 8 + 8 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)

static void put64(unsigned char *p, int64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)v >> (8 * i));
}

static int64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return (int64_t)v;
}

/* Keeps the document just read (0600, encrypted with XChaCha20-Poly1305).
 * Failures only warn: the cache is a convenience. */
static void cache_store(const coffer_etcd *e, const char *doc, size_t len,
                        int64_t modrev)
{
    char keyp[COFFER_ERROR_PATH_MAX], filep[COFFER_ERROR_PATH_MAX];
    unsigned char *k = NULL;
    if (cache_paths(e, keyp, filep, sizeof keyp))
        return;
    k = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    size_t total = CACHE_HDR + crypto_aead_xchacha20poly1305_ietf_ABYTES + len;
    unsigned char *box = malloc(total); /* ciphertext only */
    if (k && box && cache_key(e, keyp, true, k) == 0) {
        memcpy(box, CACHE_MAGIC, 8);
        put64(box + 8, (int64_t)time(NULL));
        put64(box + 16, modrev);
        unsigned char *nonce = box + 24;
        randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
        /* The header (magic, time, revision) is authenticated as
         * additional data: a tampered age or revision fails to open. */
        unsigned long long clen;
        crypto_aead_xchacha20poly1305_ietf_encrypt(
            box + CACHE_HDR, &clen, (const unsigned char *)doc, len, box, 24,
            NULL, nonce, k);
        coffer_error werr;
        (void)coffer_file_write_atomic(filep, box, total, 0600, &werr);
    }
    if (k)
        sodium_free(k);
    free(box);
}

/* The cached document, decrypted into a block from alloc. 0 or -1. */
static int cache_load(const coffer_etcd *e, const coffer_allocator *alloc,
                      size_t max_input, char **buf, size_t *len, size_t *cap,
                      int64_t *modrev, int64_t *when)
{
    char keyp[COFFER_ERROR_PATH_MAX], filep[COFFER_ERROR_PATH_MAX];
    if (cache_paths(e, keyp, filep, sizeof keyp))
        return -1;
    int fd = open(filep, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    struct stat st;
    unsigned char *box = NULL;
    int rc = -1;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) ||
        (size_t)st.st_size < CACHE_HDR + crypto_aead_xchacha20poly1305_ietf_ABYTES ||
        (size_t)st.st_size > max_input + CACHE_HDR + crypto_aead_xchacha20poly1305_ietf_ABYTES)
        goto out;
    size_t total = (size_t)st.st_size;
    box = malloc(total);
    if (!box || read(fd, box, total) != (ssize_t)total ||
        memcmp(box, CACHE_MAGIC, 8) != 0)
        goto out;
    unsigned char *k = sodium_malloc(crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
    if (!k)
        goto out;
    if (cache_key(e, keyp, false, k) == 0) {
        size_t plen = total - CACHE_HDR - crypto_aead_xchacha20poly1305_ietf_ABYTES;
        char *p = alloc->alloc(alloc->ctx, plen + 1);
        unsigned long long mlen;
        if (p && crypto_aead_xchacha20poly1305_ietf_decrypt(
                     (unsigned char *)p, &mlen, NULL, box + CACHE_HDR,
                     total - CACHE_HDR, box, 24, box + 24, k) == 0) {
            p[plen] = '\0';
            *buf = p;
            *len = plen;
            *cap = plen + 1;
            *when = get64(box + 8);
            *modrev = get64(box + 16);
            rc = 0;
        } else if (p) {
            coffer_memzero(p, plen + 1);
            alloc->release(alloc->ctx, p, plen + 1);
        }
    }
    sodium_free(k);
out:
    free(box);
    close(fd);
    return rc;
}

/* ---------------------------------------------------------------- reads */

int coffer_etcd_fetch(coffer_etcd *e, const coffer_allocator *alloc,
                      size_t max_input, char **buf, size_t *len,
                      size_t *bufsize, int64_t *modrev, int64_t *cached_at,
                      coffer_error *err)
{
    *buf = NULL;
    *len = *bufsize = 0;
    *modrev = 0;
    *cached_at = 0;
    char body[1024 + 64];
    int bl = snprintf(body, sizeof body, "{\"key\":\"%s\"}", e->key64);
    if (bl < 0 || (size_t)bl >= sizeof body)
        return coffer_error_set(err, COFFER_ELIMIT, NULL, 0, 0,
                                "etcd key too long");
    if (!max_input)
        max_input = (size_t)64 << 20;
    coffer_secbuf resp = { 0 };
    coffer_json j;
    int rc = call(e, "/v3/kv/range", body, (size_t)bl,
                  max_input / 3 * 4 + 65536, &resp, &j, NULL, err);
    if (rc == COFFER_EREMOTE && e->cachedir &&
        cache_load(e, alloc, max_input, buf, len, bufsize, modrev,
                   cached_at) == 0) {
        atomic_store(&e->modrev, *modrev);
        atomic_store(&e->cached_at, *cached_at);
        rc = 0;
        goto out;
    }
    if (rc)
        goto out;
    int64_t hrev = 0;
    (void)coffer_json_int(&j, coffer_json_path(&j, 0, "header", "revision",
                                               (const char *)NULL), &hrev);
    long kv = coffer_json_at(&j, coffer_json_get(&j, 0, "kvs"), 0);
    atomic_store(&e->cached_at, 0);
    if (kv < 0) {
        atomic_store(&e->loaded_rev, hrev);
        atomic_store(&e->modrev, 0);
        rc = 1;
        goto out;
    }
    int64_t mr = 0;
    (void)coffer_json_int(&j, coffer_json_get(&j, kv, "mod_revision"), &mr);
    long v = coffer_json_get(&j, kv, "value");
    size_t max = v >= 0 ? coffer_json_base64_max(&j, v) : 0;
    if (max > max_input + 3) {
        rc = coffer_error_set(err, COFFER_ELIMIT, e->name, 0, 0,
                              "'%s' is larger than %zu bytes", e->name,
                              max_input);
        goto out;
    }
    char *p = alloc->alloc(alloc->ctx, max + 1);
    if (!p) {
        rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    size_t n = 0;
    if (v >= 0 && coffer_json_base64(&j, v, p, max + 1, &n) != 0) {
        alloc->release(alloc->ctx, p, max + 1);
        rc = coffer_error_set(err, COFFER_EREMOTE, e->name, 0, 0,
                              "etcd sent an invalid value for '%s'", e->name);
        goto out;
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    *bufsize = max + 1;
    *modrev = mr;
    atomic_store(&e->loaded_rev, hrev);
    atomic_store(&e->modrev, mr);
    if (e->cachedir)
        cache_store(e, p, n, mr);
out:
    coffer_json_release(&j);
    coffer_secbuf_release(&resp);
    return rc;
}

/* ---------------------------------------------------------------- watch */

struct wstream {
    coffer_etcd *e;
    coffer_secbuf buf;
    bool created;
    bool failed;
};

static void notify(coffer_etcd *e)
{
    uint64_t one = 1;
    ssize_t r;
    do
        r = write(e->notify_fd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
}

/* One message of the stream. Returns false to end the stream. */
static bool watch_message(struct wstream *ws, const char *p, size_t n)
{
    coffer_etcd *e = ws->e;
    coffer_json j;
    coffer_error jerr;
    bool go = true;
    if (coffer_json_parse(&j, p, n, 0, &jerr) != 0) {
        coffer_json_release(&j);
        ws->failed = true;
        return false;
    }
    long res = coffer_json_get(&j, 0, "result");
    if (res < 0) {
        ws->failed = true; /* {"error": ...} */
        go = false;
        goto out;
    }
    if (coffer_json_true(&j, coffer_json_get(&j, res, "created")))
        ws->created = true;
    long evs = coffer_json_get(&j, res, "events");
    bool newer = false;
    for (size_t i = 0;; i++) {
        long ev = coffer_json_at(&j, evs, i);
        if (ev < 0)
            break;
        int64_t mr = 0;
        if (!coffer_json_int(&j, coffer_json_path(&j, ev, "kv", "mod_revision",
                                                  (const char *)NULL), &mr))
            continue;
        if (mr > atomic_load(&e->wlast))
            atomic_store(&e->wlast, mr);
        if (mr > atomic_load(&e->loaded_rev))
            newer = true;
    }
    if (coffer_json_true(&j, coffer_json_get(&j, res, "canceled"))) {
        int64_t cr = 0;
        /* Compacted past where we resume: reload once, follow from the
         * compaction revision. */
        if (coffer_json_int(&j, coffer_json_get(&j, res, "compact_revision"),
                            &cr) && cr > 0) {
            atomic_store(&e->wlast, cr - 1);
            newer = true;
        }
        ws->failed = true;
        go = false;
    }
    if (newer)
        notify(e);
out:
    coffer_json_release(&j);
    return go;
}

static size_t on_watch_data(char *p, size_t sz, size_t nm, void *ud)
{
    struct wstream *ws = ud;
    size_t n = sz * nm;
    if (atomic_load(&ws->e->wstop) || coffer_secbuf_append(&ws->buf, p, n))
        return 0;
    for (;;) {
        char *nl = memchr(ws->buf.data, '\n', ws->buf.len);
        if (!nl)
            break;
        size_t l = (size_t)(nl - ws->buf.data);
        bool go = l == 0 || watch_message(ws, ws->buf.data, l);
        size_t rest = ws->buf.len - l - 1;
        memmove(ws->buf.data, nl + 1, rest);
        coffer_memzero(ws->buf.data + rest, ws->buf.len - rest);
        ws->buf.len = rest;
        if (!go)
            return 0;
    }
    return n;
}

static curl_socket_t on_open_socket(void *ud, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
    coffer_etcd *e = ud;
    (void)purpose;
    pthread_mutex_lock(&e->wmu);
    curl_socket_t s = CURL_SOCKET_BAD;
    if (!atomic_load(&e->wstop)) {
        s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
        if (s >= 0)
            e->wsock = s;
    }
    pthread_mutex_unlock(&e->wmu);
    return s;
}

static int on_close_socket(void *ud, curl_socket_t s)
{
    coffer_etcd *e = ud;
    pthread_mutex_lock(&e->wmu);
    if (e->wsock == s)
        e->wsock = -1;
    pthread_mutex_unlock(&e->wmu);
    return close(s);
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d)
{
    coffer_etcd *e = ud;
    (void)a; (void)b; (void)c; (void)d;
    return atomic_load(&e->wstop) ? 1 : 0;
}

/* One watch stream on member ep until it ends. Returns true if the watch
 * was created (the member served it). */
static bool watch_once(coffer_etcd *e, const char *ep)
{
    char why[160];
    coffer_error aerr;
    if (e->user && !have_token(e) &&
        authenticate(e, ep, why, sizeof why, &aerr) != 0)
        return false;
    int64_t from = atomic_load(&e->loaded_rev);
    int64_t last = atomic_load(&e->wlast);
    if (last > from)
        from = last;
    char body[1200];
    snprintf(body, sizeof body,
             "{\"create_request\":{\"key\":\"%s\",\"start_revision\":\"%lld\"}}",
             e->key64, (long long)from + 1);
    char url[512], errbuf[CURL_ERROR_SIZE];
    CURL *c = easy_for(e, ep, "/v3/watch", url, sizeof url, errbuf);
    if (!c)
        return false;
    struct curl_slist *h = headers(e, e->user != NULL);
    struct wstream ws = { e, { 0 }, false, false };
    C.setopt(c, CURLOPT_HTTPHEADER, h);
    C.setopt(c, CURLOPT_POSTFIELDS, body);
    C.setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    C.setopt(c, CURLOPT_WRITEFUNCTION, on_watch_data);
    C.setopt(c, CURLOPT_WRITEDATA, &ws);
    C.setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    C.setopt(c, CURLOPT_OPENSOCKETDATA, e);
    C.setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    C.setopt(c, CURLOPT_CLOSESOCKETDATA, e);
    C.setopt(c, CURLOPT_NOPROGRESS, 0L);
    C.setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    C.setopt(c, CURLOPT_XFERINFODATA, e);
    C.setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    C.setopt(c, CURLOPT_TCP_KEEPIDLE, 5L);
    C.setopt(c, CURLOPT_TCP_KEEPINTVL, 2L);
    (void)C.perform(c);
    long st = 0;
    C.getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    C.cleanup(c);
    headers_free(h);
    coffer_secbuf_release(&ws.buf);
    if (st == 401 || st == 403)
        drop_token(e);
    return ws.created;
}

static void *watch_main(void *arg)
{
    coffer_etcd *e = arg;
    long backoff = 50;
    size_t start = atomic_load(&e->good) % e->neps;
    while (!atomic_load(&e->wstop)) {
        bool served = false;
        for (size_t k = 0; k < e->neps && !atomic_load(&e->wstop); k++) {
            size_t idx = (start + k) % e->neps;
            if (watch_once(e, e->eps[idx])) {
                /* The member served and then went away (or the stream
                 * was cancelled): resume at once, next member first. */
                served = true;
                start = (idx + 1) % e->neps;
                break;
            }
        }
        if (served) {
            backoff = 50;
            continue;
        }
        /* Nobody answered: wait, then try every member again. */
        pthread_mutex_lock(&e->wmu);
        if (!atomic_load(&e->wstop)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += backoff * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&e->wcv, &e->wmu, &ts);
        }
        pthread_mutex_unlock(&e->wmu);
        backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
    }
    return NULL;
}

int coffer_etcd_watch_start(coffer_etcd *e, int notify_fd, coffer_error *err)
{
    int rc = need_curl(err);
    if (rc)
        return rc;
    pthread_mutex_lock(&e->wmu);
    if (e->wrunning) {
        pthread_mutex_unlock(&e->wmu);
        return 0;
    }
    e->notify_fd = notify_fd;
    atomic_store(&e->wstop, false);
    int r = pthread_create(&e->wth, NULL, watch_main, e);
    if (r == 0)
        e->wrunning = true;
    pthread_mutex_unlock(&e->wmu);
    if (r)
        return coffer_error_set(err, COFFER_ESYS, NULL, 0, 0,
                                "cannot start the etcd watch thread: %s",
                                strerror(r));
    return 0;
}

void coffer_etcd_watch_stop(coffer_etcd *e)
{
    pthread_mutex_lock(&e->wmu);
    if (!e->wrunning) {
        pthread_mutex_unlock(&e->wmu);
        return;
    }
    atomic_store(&e->wstop, true);
    if (e->wsock >= 0)
        shutdown(e->wsock, SHUT_RDWR);
    pthread_cond_broadcast(&e->wcv);
    pthread_mutex_unlock(&e->wmu);
    pthread_join(e->wth, NULL);
    pthread_mutex_lock(&e->wmu);
    e->wrunning = false;
    e->notify_fd = -1;
    pthread_mutex_unlock(&e->wmu);
}

/* ---------------------------------------------------------- push, history */

static int open_url(const char *url, coffer_etcd **e, coffer_error *err)
{
    if (!url || !coffer_etcd_is_url(url, strlen(url)))
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "'%s' is not an etcd url "
                                "(etcd://HOST:PORT[,HOST:PORT...]/KEY)",
                                url ? url : "");
    return coffer_etcd_new(url, strlen(url), e, err);
}

int coffer_remote_push(const char *url, const char *toml, size_t len,
                       unsigned flags, int64_t expect, int64_t *revision,
                       coffer_error *err)
{
    if (revision)
        *revision = 0;
    if (!toml && len)
        return coffer_error_set(err, COFFER_EINVAL, NULL, 0, 0,
                                "no document given");
    /* The console's validation: a document that does not parse is never
     * written. */
    coffer_parse_options po;
    memset(&po, 0, sizeof po);
    po.allocator = coffer_allocator_secure();
    coffer_doc *doc = NULL;
    int rc = coffer_toml_parse(toml ? toml : "", len, &po, &doc, err);
    if (rc)
        return rc;
    coffer_doc_free(doc);
    coffer_etcd *e;
    rc = open_url(url, &e, err);
    if (rc)
        return rc;
    coffer_secbuf body = { 0 }, resp = { 0 };
    coffer_json j;
    memset(&j, 0, sizeof j);
    int64_t base = expect;
    if (!(flags & COFFER_PUSH_FORCE) && expect < 0) {
        /* The revision the new document replaces. */
        char rb[1200];
        int bl = snprintf(rb, sizeof rb, "{\"key\":\"%s\",\"keys_only\":true}",
                          e->key64);
        rc = call(e, "/v3/kv/range", rb, (size_t)bl, 1 << 20, &resp, &j, NULL,
                  err);
        if (rc)
            goto out;
        long kv = coffer_json_at(&j, coffer_json_get(&j, 0, "kvs"), 0);
        base = 0;
        if (kv >= 0)
            (void)coffer_json_int(&j, coffer_json_get(&j, kv, "mod_revision"),
                                  &base);
        coffer_json_release(&j);
    }
    size_t b64 = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
    char head[1400];
    if (flags & COFFER_PUSH_FORCE)
        snprintf(head, sizeof head,
                 "{\"success\":[{\"request_put\":{\"key\":\"%s\",\"value\":\"",
                 e->key64);
    else
        snprintf(head, sizeof head,
                 "{\"compare\":[{\"target\":\"MOD\",\"key\":\"%s\","
                 "\"mod_revision\":\"%lld\"}],\"success\":[{\"request_put\":"
                 "{\"key\":\"%s\",\"value\":\"",
                 e->key64, (long long)base, e->key64);
    if (coffer_secbuf_append(&body, head, strlen(head)) ||
        coffer_secbuf_reserve(&body, b64 + 16)) {
        rc = coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
        goto out;
    }
    sodium_bin2base64(body.data + body.len, b64, (const unsigned char *)toml,
                      len, sodium_base64_VARIANT_ORIGINAL);
    body.len += b64 - 1;
    (void)coffer_secbuf_append(&body, "\"}}]}", 5);
    rc = call(e, "/v3/kv/txn", body.data, body.len, 1 << 20, &resp, &j, NULL,
              err);
    if (rc)
        goto out;
    int64_t hrev = 0;
    (void)coffer_json_int(&j, coffer_json_path(&j, 0, "header", "revision",
                                               (const char *)NULL), &hrev);
    if (!coffer_json_true(&j, coffer_json_get(&j, 0, "succeeded"))) {
        rc = coffer_error_set(err, COFFER_ECONFLICT, NULL, 0, 0,
                              "'%s' changed since revision %lld (another push "
                              "won); nothing written: review and push again, "
                              "or use --force",
                              e->name, (long long)base);
        goto out;
    }
    if (revision)
        *revision = hrev;
out:
    coffer_json_release(&j);
    coffer_secbuf_release(&body);
    coffer_secbuf_release(&resp);
    coffer_etcd_free(e);
    return rc;
}

int coffer_remote_history(const char *url, coffer_remote_rev_fn fn, void *ctx,
                          coffer_error *err)
{
    coffer_etcd *e;
    int rc = open_url(url, &e, err);
    if (rc)
        return rc;
    coffer_secbuf resp = { 0 };
    coffer_json j;
    memset(&j, 0, sizeof j);
    int64_t at = 0; /* 0: current */
    size_t seen = 0;
    for (;;) {
        char rb[1200];
        int bl = at ? snprintf(rb, sizeof rb, "{\"key\":\"%s\",\"revision\":\"%lld\"}",
                               e->key64, (long long)at)
                    : snprintf(rb, sizeof rb, "{\"key\":\"%s\"}", e->key64);
        int64_t code = 0;
        coffer_json_release(&j);
        rc = call(e, "/v3/kv/range", rb, (size_t)bl, (size_t)256 << 20, &resp,
                  &j, &code, err);
        if (rc == COFFER_EREMOTE && code == 11 && seen) {
            /* compacted: older revisions are gone */
            coffer_remote_rev r = { 0, 0, 0, 1 };
            rc = fn ? fn(ctx, &r) : 0;
            break;
        }
        if (rc)
            break;
        long kv = coffer_json_at(&j, coffer_json_get(&j, 0, "kvs"), 0);
        if (kv < 0) {
            if (!seen)
                rc = coffer_error_set(err, COFFER_ENOKEY, NULL, 0, 0,
                                      "'%s' does not exist", e->name);
            break;
        }
        coffer_remote_rev r = { 0, 0, 0, 0 };
        (void)coffer_json_int(&j, coffer_json_get(&j, kv, "mod_revision"),
                              &r.revision);
        (void)coffer_json_int(&j, coffer_json_get(&j, kv, "version"), &r.version);
        long v = coffer_json_get(&j, kv, "value");
        if (v >= 0) { /* size from the base64 length: never decoded */
            const coffer_json_tok *t = &j.toks[v];
            size_t n = t->end - t->start;
            size_t pad = 0;
            while (pad < 2 && n > pad && j.text[t->end - 1 - pad] == '=')
                pad++;
            r.size = n / 4 * 3 - pad;
        }
        seen++;
        if (fn && (rc = fn(ctx, &r)) != 0)
            break;
        if (r.revision <= 1)
            break;
        at = r.revision - 1;
    }
    coffer_json_release(&j);
    coffer_secbuf_release(&resp);
    coffer_etcd_free(e);
    return rc;
}

#else /* !COFFER_WITH_ETCD */

static int no_etcd(coffer_error *err)
{
    return coffer_error_set(err, COFFER_ECONFIG, NULL, 0, 0,
                            "coffer was built without etcd support");
}

int coffer_etcd_fetch(coffer_etcd *e, const coffer_allocator *alloc,
                      size_t max_input, char **buf, size_t *len,
                      size_t *bufsize, int64_t *modrev, int64_t *cached_at,
                      coffer_error *err)
{
    (void)e; (void)alloc; (void)max_input; (void)buf; (void)len;
    (void)bufsize; (void)modrev; (void)cached_at;
    return no_etcd(err);
}

int coffer_etcd_watch_start(coffer_etcd *e, int notify_fd, coffer_error *err)
{
    (void)e; (void)notify_fd; (void)err;
    return 0;
}

void coffer_etcd_watch_stop(coffer_etcd *e)
{
    (void)e;
}

int coffer_remote_push(const char *url, const char *toml, size_t len,
                       unsigned flags, int64_t expect, int64_t *revision,
                       coffer_error *err)
{
    (void)url; (void)toml; (void)len; (void)flags; (void)expect;
    if (revision)
        *revision = 0;
    return no_etcd(err);
}

int coffer_remote_history(const char *url, coffer_remote_rev_fn fn, void *ctx,
                          coffer_error *err)
{
    (void)url; (void)fn; (void)ctx;
    return no_etcd(err);
}

#endif /* COFFER_WITH_ETCD */
