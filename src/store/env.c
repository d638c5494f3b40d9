/* env.c - which root keys become environment variables (one definition
 * for the library export, every `coffer env` format, `coffer run` and
 * check), the list of dangerous names, and the export records. */
#include "store/crypt.h"
#include "store/store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool coffer_env_name_ok(const char *key, size_t len)
{
    if (!key || len == 0)
        return false;
    return memchr(key, '=', len) == NULL && memchr(key, '\0', len) == NULL;
}

bool coffer_env_name_portable(const char *key, size_t len)
{
    if (!key || len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                     c == '_';
        if (!alpha && (i == 0 || !(c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* ------------------------------------------------------ dangerous names
 *
 * Variables that change what a program loads or runs, where it looks for
 * code, or how coffer itself finds secrets. A secrets source must not set
 * them: anyone who can add a key to any source (a global file, a mounted
 * Kubernetes secret, $COFFER_SECRETS) would otherwise run code in the
 * command. A trailing '*' matches any name with that prefix. Documented in
 * coffer(1), ENVIRONMENT; keep both in step. */
static const char *const dangerous_names[] = {
    /* dynamic loader and libc */
    "LD_*", "DYLD_*", "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES",
    "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_*", "NLSPATH",
    "RESOLV_*", "RES_OPTIONS",
    /* shells */
    "PATH", "BASH_ENV", "ENV", "IFS", "PS1", "PS2", "PS3", "PS4",
    "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "CDPATH", "GLOBIGNORE",
    "FPATH", "ZDOTDIR", "BASH_FUNC_*", "HOME", "SHELL",
    /* commands that other programs run */
    "EDITOR", "VISUAL", "PAGER", "MANPAGER", "LESSOPEN", "LESSCLOSE",
    "BROWSER", "SSH_ASKPASS", "SUDO_ASKPASS",
    /* interpreters and runtimes */
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE",
    "PYTHONBREAKPOINT", "PYTHONINSPECT", "NODE_OPTIONS", "NODE_PATH",
    "PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB",
    "LUA_INIT*", "LUA_PATH*", "LUA_CPATH*", "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "PHPRC",
    "PHP_INI_SCAN_DIR", "TCLLIBPATH", "OPENSSL_CONF", "OPENSSL_ENGINES",
    /* git, and where coffer and Streamlit look for secrets */
    "GIT_*", "COFFER_*", "STREAMLIT_SECRETS_FILES", "CREDENTIALS_DIRECTORY",
    NULL
};

/* Never exportable, not even when allowed: it would let a source allow. */
#define ALLOW_VAR "COFFER_ALLOW_ENV"

bool coffer_env_name_dangerous(const char *name, size_t len)
{
    if (!name)
        return false;
    for (size_t i = 0; dangerous_names[i]; i++) {
        const char *d = dangerous_names[i];
        size_t dl = strlen(d);
        if (d[dl - 1] == '*') {
            if (len >= dl - 1 && memcmp(name, d, dl - 1) == 0)
                return true;
        } else if (len == dl && memcmp(name, d, dl) == 0) {
            return true;
        }
    }
    return false;
}

/* name is in list, a ','-separated string (spaces around names ignored). */
static bool in_csv(const char *list, const char *name, size_t len)
{
    const char *p = list;
    while (p && *p) {
        const char *c = strchr(p, ',');
        const char *e = c ? c : p + strlen(p);
        const char *b = p;
        while (b < e && *b == ' ')
            b++;
        const char *t = e;
        while (t > b && t[-1] == ' ')
            t--;
        if ((size_t)(t - b) == len && memcmp(b, name, len) == 0)
            return true;
        p = c ? c + 1 : NULL;
    }
    return false;
}

static bool allowed(const coffer_env_options *opt, const char *allow_env,
                    const char *name, size_t len)
{
    if (len == sizeof ALLOW_VAR - 1 && memcmp(name, ALLOW_VAR, len) == 0)
        return false;
    for (size_t i = 0; opt->allow && opt->allow[i]; i++)
        if (strlen(opt->allow[i]) == len && memcmp(opt->allow[i], name, len) == 0)
            return true;
    return allow_env && in_csv(allow_env, name, len);
}

const char *coffer_env_status_text(coffer_env_status st)
{
    switch (st) {
    case COFFER_ENV_OK: return "";
    case COFFER_ENV_BAD_NAME:
        return "not a valid environment variable name (empty, or holds '=' or a NUL byte)";
    case COFFER_ENV_NOT_PORTABLE:
        return "not a portable shell name ([A-Za-z_][A-Za-z0-9_]*)";
    case COFFER_ENV_NUL_VALUE:
        return "the value contains a NUL byte";
    case COFFER_ENV_DANGEROUS:
        return "a loader, shell or interpreter variable, not exported unless allowed";
    case COFFER_ENV_DUPLICATE:
        return "an earlier key maps to the same variable name";
    }
    return "unknown";
}

/* -------------------------------------------------------- key display */

unsigned coffer_key_hazard(const char *key, size_t n, size_t i, size_t *len)
{
    const unsigned char *s = (const unsigned char *)key;
    if (i + 1 < n && s[i] == 0xc2 && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f) {
        *len = 2;
        return s[i + 1];
    }
    if (i + 2 < n && s[i] == 0xe2) {
        unsigned cp = ((s[i] & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) |
                      (s[i + 2] & 0x3fu);
        if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) {
            *len = 3;
            return cp;
        }
    }
    return 0;
}

const char *coffer_key_display(char *buf, size_t n, const char *key,
                               size_t keylen)
{
    if (!buf || n == 0)
        return buf;
    buf[0] = '\0';
    if (!key || n < 8)
        return buf;
    bool plain = true;
    for (size_t i = 0; plain && i < keylen; i++) {
        unsigned char c = (unsigned char)key[i];
        size_t hl;
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '"' || c == '\\' ||
            coffer_key_hazard(key, keylen, i, &hl))
            plain = false;
    }
    size_t room = n - 4; /* for "..." */
    size_t len;
    if (plain) {
        len = keylen < room ? keylen : room;
        memcpy(buf, key, len);
        buf[len] = '\0';
    } else {
        len = coffer_path_append_key(buf, room + 1, 0, key, keylen);
    }
    bool cut = plain ? len < keylen : len >= room;
    if (cut) {
        /* Do not end inside a UTF-8 sequence or a \u escape. */
        while (len > 0 && ((unsigned char)buf[len - 1] & 0xc0) == 0x80)
            len--;
        if (len > 0 && (unsigned char)buf[len - 1] >= 0xc0)
            len--;
        for (size_t j = len; j > 0 && len - j < 6; j--)
            if (buf[j - 1] == '\\') {
                len = j - 1;
                break;
            }
        memcpy(buf + len, "...", 4);
    }
    return buf;
}

/* ---------------------------------------------------------- the plan */

int coffer_env_value(const coffer_value *v, coffer_secbuf *out)
{
    if (!v || !out)
        return COFFER_EINVAL;
    if (v->flags & COFFER_NF_LOCKED)
        return COFFER_ECRYPTO; /* encrypted, no identity could open it */
    char tmp[64];
    const char *p;
    size_t n;
    switch (coffer_value_type(v)) {
    case COFFER_TYPE_STRING:
        if (coffer_value_string(v, &p, &n) != 0)
            return 0;
        break;
    case COFFER_TYPE_INTEGER: {
        int64_t i = 0;
        (void)coffer_value_int(v, &i);
        int k = snprintf(tmp, sizeof tmp, "%lld", (long long)i);
        p = tmp;
        n = (size_t)k;
        break;
    }
    case COFFER_TYPE_FLOAT: {
        double d = 0;
        (void)coffer_value_double(v, &d);
        int k = coffer_format_double(d, tmp, sizeof tmp);
        if (k < 0)
            return k;
        p = tmp;
        n = (size_t)k;
        break;
    }
    default:
        return 0;
    }
    out->len = 0;
    int rc = coffer_secbuf_reserve(out, n);
    if (rc == 0) {
        memcpy(out->data, p, n);
        out->len = n;
        out->data[n] = '\0';
    }
    coffer_memzero(tmp, sizeof tmp);
    return rc ? rc : 1;
}

/* Names already planned (COFFER_EXPORT_UPPER only: without it, distinct
 * keys give distinct names). Open addressing over malloc'd copies. */
typedef struct name_set {
    char **slots;
    size_t cap, count;
} name_set;

static void name_set_free(name_set *ns)
{
    for (size_t i = 0; i < ns->cap; i++)
        free(ns->slots[i]);
    free(ns->slots);
    memset(ns, 0, sizeof *ns);
}

/* Returns 1 if name was already there, 0 if added, or COFFER_ENOMEM. */
static int name_set_add(name_set *ns, const char *name, size_t len)
{
    if (2 * (ns->count + 1) > ns->cap) {
        size_t nc = ns->cap ? ns->cap * 2 : 64;
        char **ns2 = calloc(nc, sizeof *ns2);
        if (!ns2)
            return COFFER_ENOMEM;
        for (size_t i = 0; i < ns->cap; i++) {
            if (!ns->slots[i])
                continue;
            size_t j = coffer_hash(ns->slots[i], strlen(ns->slots[i])) & (nc - 1);
            while (ns2[j])
                j = (j + 1) & (nc - 1);
            ns2[j] = ns->slots[i];
        }
        free(ns->slots);
        ns->slots = ns2;
        ns->cap = nc;
    }
    size_t j = coffer_hash(name, len) & (ns->cap - 1);
    while (ns->slots[j]) {
        if (strlen(ns->slots[j]) == len && memcmp(ns->slots[j], name, len) == 0)
            return 1;
        j = (j + 1) & (ns->cap - 1);
    }
    ns->slots[j] = strndup(name, len);
    if (!ns->slots[j])
        return COFFER_ENOMEM;
    ns->count++;
    return 0;
}

int coffer_env_plan(const coffer_value *root, const coffer_env_options *opt,
                    coffer_env_fn fn, void *ctx)
{
    static const coffer_env_options defaults;
    if (!opt)
        opt = &defaults;
    if (!root || !fn || coffer_value_type(root) != COFFER_TYPE_TABLE)
        return COFFER_EINVAL;
    const char *ae = getenv(ALLOW_VAR);
    char *allow_env = ae && *ae ? strdup(ae) : NULL;
    if (ae && *ae && !allow_env)
        return COFFER_ENOMEM;
    const char *prefix = opt->prefix ? opt->prefix : "";
    size_t pl = strlen(prefix);
    bool upper = (opt->flags & COFFER_EXPORT_UPPER) != 0;
    bool keep = (opt->flags & COFFER_EXPORT_KEEP_EXISTING) != 0;
    char *name = NULL;
    size_t namecap = 0;
    coffer_secbuf text = { NULL, 0, 0 };
    name_set seen = { NULL, 0, 0 };
    int rc = 0;
    size_t count = coffer_table_count(root);
    for (size_t i = 0; i < count && rc == 0; i++) {
        const char *k;
        size_t kl;
        const coffer_value *v = coffer_table_at(root, i, &k, &kl);
        if (coffer_value_type(v) == COFFER_TYPE_BOOL) {
            if (!(opt->flags & COFFER_EXPORT_BOOLEANS))
                continue;
            bool b = false;
            (void)coffer_value_bool(v, &b);
            text.len = 0;
            rc = coffer_secbuf_append(&text, b ? "true" : "false", b ? 4 : 5);
            if (rc)
                break;
        } else {
            int ok = coffer_env_value(v, &text);
            if (ok < 0) {
                rc = ok;
                break;
            }
            if (ok == 0)
                continue;
        }
        size_t nl = pl + kl;
        if (nl + 1 > namecap) {
            size_t nc = nl + 64;
            char *p = realloc(name, nc);
            if (!p) {
                rc = COFFER_ENOMEM;
                break;
            }
            name = p;
            namecap = nc;
        }
        memcpy(name, prefix, pl);
        memcpy(name + pl, k, kl);
        name[nl] = '\0';
        if (upper)
            for (size_t j = pl; j < nl; j++)
                if (name[j] >= 'a' && name[j] <= 'z')
                    name[j] = (char)(name[j] - 'a' + 'A');
        coffer_env_item it;
        memset(&it, 0, sizeof it);
        it.key = k;
        it.keylen = kl;
        it.name = name;
        it.namelen = nl;
        it.status = COFFER_ENV_OK;
        int dup = 0;
        if (!coffer_env_name_ok(name, nl)) {
            it.status = COFFER_ENV_BAD_NAME;
        } else if (upper && (dup = name_set_add(&seen, name, nl)) != 0) {
            if (dup < 0) {
                rc = dup;
                break;
            }
            it.status = COFFER_ENV_DUPLICATE;
        } else if (!coffer_env_name_portable(name, nl)) {
            it.status = COFFER_ENV_NOT_PORTABLE;
        } else if (memchr(text.data, '\0', text.len)) {
            it.status = COFFER_ENV_NUL_VALUE;
        } else if (coffer_env_name_dangerous(name, nl) &&
                   !allowed(opt, allow_env, name, nl)) {
            it.status = COFFER_ENV_DANGEROUS;
        }
        if (it.status == COFFER_ENV_OK) {
            it.text = text.data;
            it.textlen = text.len;
        }
        it.unset = !keep && (it.status == COFFER_ENV_NOT_PORTABLE ||
                             it.status == COFFER_ENV_NUL_VALUE);
        rc = fn(ctx, &it);
        coffer_memzero(text.data, text.len);
    }
    coffer_secbuf_release(&text);
    name_set_free(&seen);
    free(name);
    free(allow_env);
    return rc;
}

/* ------------------------------------------------------------ export
 *
 * Each export that sets something puts "NAME\0NAME=VALUE\0" strings into a
 * new locked record and hands the "NAME=VALUE" part to putenv, so libc
 * holds no plain copy. Records are never unmapped: a getenv() result the
 * program kept must never dangle. When coffer stops owning a variable
 * (replaced, unset) its strings are wiped, so old pointers read "". The
 * records hang off one process-wide list (reachable for leak checkers).
 */

typedef struct env_record {
    struct env_record *next;
    coffer_secbuf buf;
} env_record;

static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;
static env_record *records;

size_t coffer_env_records(void)
{
    size_t n = 0;
    pthread_mutex_lock(&records_lock);
    for (const env_record *r = records; r; r = r->next)
        n++;
    pthread_mutex_unlock(&records_lock);
    return n;
}

static const char *ent_val(const coffer_export_ent *e)
{
    return e->kv + e->name_len + 1;
}

/* True if the variable is still the very string coffer set. */
static bool live(const coffer_export_ent *e)
{
    return getenv(e->name) == ent_val(e);
}

static void wipe_ent(coffer_export_ent *e)
{
    coffer_memzero(e->name, e->name_len);
    coffer_memzero(e->kv, e->name_len + 1 + e->val_len);
}

/* What one export plans to do, collected before anything changes. */
typedef struct export_plan {
    coffer_secbuf strs;   /* for each set: NAME\0VALUE\0 */
    size_t *offs;         /* set i: offset of its name in strs */
    size_t nset, capset;
    char **unsets;        /* names to unset (malloc'd) */
    size_t nunset, capunset;
    size_t need;          /* bytes of record if every set is new */
} export_plan;

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, nc * size);
    if (!p)
        return COFFER_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static int collect(void *ctx, const coffer_env_item *it)
{
    export_plan *P = ctx;
    if (it->status == COFFER_ENV_OK) {
        if (grow((void **)&P->offs, &P->capset, P->nset, sizeof *P->offs))
            return COFFER_ENOMEM;
        P->offs[P->nset++] = P->strs.len;
        int rc = coffer_secbuf_append(&P->strs, it->name, it->namelen + 1);
        if (!rc)
            rc = coffer_secbuf_append(&P->strs, it->text, it->textlen + 1);
        P->need += 2 * it->namelen + it->textlen + 3;
        return rc;
    }
    if (it->unset) {
        if (grow((void **)&P->unsets, &P->capunset, P->nunset, sizeof *P->unsets))
            return COFFER_ENOMEM;
        P->unsets[P->nunset] = strndup(it->name, it->namelen);
        if (!P->unsets[P->nunset])
            return COFFER_ENOMEM;
        P->nunset++;
    }
    return 0;
}

static void plan_release(export_plan *P)
{
    coffer_secbuf_release(&P->strs);
    free(P->offs);
    for (size_t i = 0; i < P->nunset; i++)
        free(P->unsets[i]);
    free(P->unsets);
}

/* The previous export's entries by name (open addressing; slot = index
 * + 1), so that an export of n keys costs O(n), not O(n^2). */
typedef struct ent_index {
    size_t *slots;
    size_t mask;
} ent_index;

static int index_build(ent_index *x, coffer_export_ent *ents, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    x->slots = calloc(cap, sizeof *x->slots);
    x->mask = cap - 1;
    if (!x->slots)
        return COFFER_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t j = coffer_hash(ents[i].name, ents[i].name_len) & x->mask;
        while (x->slots[j])
            j = (j + 1) & x->mask;
        x->slots[j] = i + 1;
    }
    return 0;
}

static coffer_export_ent *find_ent(const ent_index *x, coffer_export_ent *ents,
                                   const char *name, size_t len)
{
    size_t j = coffer_hash(name, len) & x->mask;
    for (; x->slots[j]; j = (j + 1) & x->mask) {
        coffer_export_ent *e = &ents[x->slots[j] - 1];
        if (e->name_len == len && memcmp(e->name, name, len) == 0)
            return e;
    }
    return NULL;
}

static void opt_strings_free(char *prefix, char **allow)
{
    for (size_t i = 0; allow && allow[i]; i++)
        free(allow[i]);
    free(allow);
    free(prefix);
}

/* A deep copy of src into dst, with its strings in *prefix and *allow. */
static int opt_copy(const coffer_env_options *src, coffer_env_options *dst,
                    char **prefix, char ***allow)
{
    size_t n = 0;
    while (src->allow && src->allow[n])
        n++;
    *prefix = src->prefix ? strdup(src->prefix) : NULL;
    *allow = n ? calloc(n + 1, sizeof **allow) : NULL;
    bool bad = (src->prefix && !*prefix) || (n && !*allow);
    for (size_t i = 0; !bad && i < n; i++)
        bad = !((*allow)[i] = strdup(src->allow[i]));
    if (bad) {
        opt_strings_free(*prefix, *allow);
        *prefix = NULL;
        *allow = NULL;
        return COFFER_ENOMEM;
    }
    dst->flags = src->flags;
    dst->prefix = *prefix;
    dst->allow = (const char *const *)*allow;
    return 0;
}

static void saved_opt_free(coffer_store *s)
{
    opt_strings_free(s->env_prefix, s->env_allow);
    s->env_allow = NULL;
    s->env_prefix = NULL;
    memset(&s->env_opt, 0, sizeof s->env_opt);
}

/* Keeps a copy of opt for coffer_store_reexport (env_lock held). */
static int save_opt(coffer_store *s, const coffer_env_options *opt)
{
    coffer_env_options o;
    char *prefix;
    char **allow;
    if (opt_copy(opt, &o, &prefix, &allow) != 0)
        return COFFER_ENOMEM;
    saved_opt_free(s);
    s->env_opt = o;
    s->env_prefix = prefix;
    s->env_allow = allow;
    return 0;
}

int coffer_store_reexport(coffer_store *s, coffer_error *err)
{
    /* A copy: another thread may export (and replace the saved options)
     * while this export runs. */
    coffer_env_options o;
    char *prefix;
    char **allow;
    pthread_mutex_lock(&s->env_lock);
    int rc = opt_copy(&s->env_opt, &o, &prefix, &allow);
    pthread_mutex_unlock(&s->env_lock);
    if (rc)
        return coffer_error_set(err, rc, NULL, 0, 0, "out of memory");
    rc = coffer_store_export_with(s, &o, err);
    opt_strings_free(prefix, allow);
    return rc;
}

int coffer_store_export_with(coffer_store *s, const coffer_env_options *opt,
                             coffer_error *err)
{
    static const coffer_env_options defaults;
    if (!opt)
        opt = &defaults;
    coffer_snapshot *snap;
    int rc = coffer_store_acquire(s, &snap, err);
    if (rc)
        return rc;
    if (snap->nlocked) { /* a locked value: nothing is exported */
        size_t count = coffer_table_count(&snap->root);
        for (size_t i = 0; i < count; i++) {
            const coffer_value *v = &snap->root.u.c->items[i];
            if (v->flags & COFFER_NF_LOCKED) {
                rc = coffer_crypt_locked_error(snap, v, err);
                coffer_snapshot_release(snap);
                return rc;
            }
        }
    }
    export_plan P;
    memset(&P, 0, sizeof P);
    rc = coffer_env_plan(&snap->root, opt, collect, &P);
    coffer_snapshot_release(snap);
    if (rc) {
        plan_release(&P);
        return coffer_error_set(err, rc, NULL, 0, 0, rc == COFFER_ENOMEM
                                ? "out of memory" : "cannot export the secrets");
    }
    pthread_mutex_lock(&s->env_lock);
    if (save_opt(s, opt) != 0) {
        pthread_mutex_unlock(&s->env_lock);
        plan_release(&P);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    bool keep = (opt->flags & COFFER_EXPORT_KEEP_EXISTING) != 0;
    size_t nold = s->nenv;
    coffer_export_ent *old = s->env_ents;
    coffer_export_ent *ents = malloc((P.nset + nold + 1) * sizeof *ents);
    bool *done = calloc(nold + 1, sizeof *done);
    env_record *rec = calloc(1, sizeof *rec);
    ent_index ix = { NULL, 0 };
    if (!ents || !done || !rec || index_build(&ix, old, nold) != 0 ||
        (P.need && coffer_secbuf_reserve(&rec->buf, P.need))) {
        pthread_mutex_unlock(&s->env_lock);
        free(ix.slots);
        free(ents);
        free(done);
        if (rec)
            coffer_secbuf_release(&rec->buf);
        free(rec);
        plan_release(&P);
        return coffer_error_set(err, COFFER_ENOMEM, NULL, 0, 0, "out of memory");
    }
    size_t n = 0;
    for (size_t i = 0; i < P.nset && rc == 0; i++) {
        const char *nm = P.strs.data + P.offs[i];
        size_t nl = strlen(nm);
        const char *val = nm + nl + 1;
        size_t vl = strlen(val);
        coffer_export_ent *prev = find_ent(&ix, old, nm, nl);
        const char *cur = getenv(nm);
        bool ours = prev && live(prev);
        if (keep && cur && !ours)
            continue; /* the user's own value stays */
        if (ours && coffer_equal_ct(ent_val(prev), prev->val_len, val, vl)) {
            ents[n++] = *prev; /* unchanged: old getenv() results stay */
            done[prev - old] = true;
            continue;
        }
        char *w = rec->buf.data + rec->buf.len;
        coffer_export_ent e = { w, w + nl + 1, nl, vl };
        memcpy(w, nm, nl + 1);
        memcpy(e.kv, nm, nl);
        e.kv[nl] = '=';
        memcpy(e.kv + nl + 1, val, vl + 1);
        rec->buf.len += 2 * nl + vl + 3;
        if (putenv(e.kv) != 0) {
            wipe_ent(&e);
            rc = coffer_error_set(err, COFFER_ESYS, NULL, 0, 0,
                                  "cannot set environment variable '%.100s'", nm);
            break;
        }
        ents[n++] = e;
        if (prev) {
            wipe_ent(prev); /* replaced: its old readers now see "" */
            done[prev - old] = true;
        }
    }
    for (size_t i = 0; i < P.nunset && rc == 0; i++) {
        coffer_export_ent *prev = find_ent(&ix, old, P.unsets[i],
                                           strlen(P.unsets[i]));
        unsetenv(P.unsets[i]);
        if (prev && !done[prev - old]) {
            wipe_ent(prev);
            done[prev - old] = true;
        }
    }
    /* The rest of the old record: gone from the secrets (unset where still
     * ours), or, after a failure, kept as they are. */
    for (size_t i = 0; i < nold; i++) {
        if (done[i])
            continue;
        if (live(&old[i])) {
            if (rc) {
                ents[n++] = old[i];
                continue;
            }
            unsetenv(old[i].name);
        }
        wipe_ent(&old[i]);
    }
    free(ix.slots);
    free(old);
    free(done);
    s->env_ents = ents;
    s->nenv = n;
    pthread_mutex_unlock(&s->env_lock);
    if (rec->buf.len) {
        pthread_mutex_lock(&records_lock);
        rec->next = records;
        records = rec;
        pthread_mutex_unlock(&records_lock);
    } else {
        coffer_secbuf_release(&rec->buf); /* nothing new was set */
        free(rec);
    }
    plan_release(&P);
    return rc;
}

int coffer_store_export(coffer_store *s, unsigned flags, coffer_error *err)
{
    coffer_env_options opt;
    memset(&opt, 0, sizeof opt);
    opt.flags = flags;
    return coffer_store_export_with(s, &opt, err);
}

int coffer_store_unexport(coffer_store *s)
{
    if (!s)
        return 0;
    int count = 0;
    pthread_mutex_lock(&s->env_lock);
    for (size_t i = 0; i < s->nenv; i++) {
        coffer_export_ent *e = &s->env_ents[i];
        if (live(e)) {
            unsetenv(e->name);
            count++;
        }
        wipe_ent(e);
    }
    free(s->env_ents);
    s->env_ents = NULL;
    s->nenv = 0;
    pthread_mutex_unlock(&s->env_lock);
    return count;
}

void coffer_env_forget(coffer_store *s)
{
    /* Variables still set keep pointing into their records (which stay
     * mapped); strings no longer in the environment are wiped. */
    for (size_t i = 0; i < s->nenv; i++)
        if (!live(&s->env_ents[i]))
            wipe_ent(&s->env_ents[i]);
    free(s->env_ents);
    s->env_ents = NULL;
    s->nenv = 0;
    saved_opt_free(s);
}
