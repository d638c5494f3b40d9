/* age-tool.c - test tool exposing coffer's age implementation to the shell
 * suites (tests/suites/age-interop.sh). Not installed, not a coffer verb.
 *
 *   age-tool keygen                      identity file (age-keygen format)
 *   age-tool public IDENTITY-FILE        its recipient(s)
 *   age-tool encrypt [-b] [-r AGE1...]... [-p [-n LOG_N]]  stdin -> stdout
 *   age-tool decrypt [-i FILE]... [-p [-m MAX_LOG_N]]      stdin -> stdout
 *
 * -b writes the binary format (default: armored). -p uses the passphrase
 * in $AGE_TOOL_PASSPHRASE (a test tool: no prompt). Exit 0, 1 on a coffer
 * error (message on stderr), 2 on usage errors. */
#include "crypto/age.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int usage(void)
{
    fputs("usage: age-tool keygen | public FILE | encrypt [-b] [-r R]... "
          "[-p [-n N]] | decrypt [-i FILE]... [-p [-m N]]\n", stderr);
    return 2;
}

static unsigned char *slurp(FILE *f, size_t *n)
{
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap *= 2);
            if (!nb)
                free(buf);
            buf = nb;
        }
    }
    *n = len;
    return buf;
}

static unsigned char *slurp_path(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "age-tool: cannot open '%s'\n", path);
        return NULL;
    }
    unsigned char *b = slurp(f, n);
    fclose(f);
    return b;
}

/* -p: the passphrase of $AGE_TOOL_PASSPHRASE (a test tool: no prompt). */
static int passphrase(const char **pw, size_t *len)
{
    *pw = getenv("AGE_TOOL_PASSPHRASE");
    *len = *pw ? strlen(*pw) : 0;
    return *pw != NULL;
}

static int fail(const coffer_error *err)
{
    char buf[512];
    fprintf(stderr, "age-tool: error: %s\n",
            coffer_error_format(err, buf, sizeof buf));
    return 1;
}

static int cmd_keygen(void)
{
    unsigned char sk[32], pk[32];
    char id[COFFER_AGE_IDENTITY_MAX], rcp[COFFER_AGE_RECIPIENT_MAX];
    if (coffer_age_keygen(sk, pk) || coffer_age_identity_string(sk, id, sizeof id) ||
        coffer_age_recipient_string(pk, rcp, sizeof rcp))
        return 1;
    printf("# created: by age-tool\n# public key: %s\n%s\n", rcp, id);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(id, sizeof id);
    return 0;
}

static int cmd_public(const char *path)
{
    size_t n;
    unsigned char *text = slurp_path(path, &n);
    coffer_age_identity *ids;
    size_t nids;
    coffer_error err;
    if (!text)
        return 1;
    int rc = coffer_age_identities_parse((char *)text, n, &ids, &nids, &err);
    sodium_memzero(text, n);
    free(text);
    if (rc)
        return fail(&err);
    for (size_t i = 0; i < nids; i++) {
        unsigned char pk[32];
        char rcp[COFFER_AGE_RECIPIENT_MAX];
        coffer_age_public(ids[i].sk, pk);
        coffer_age_recipient_string(pk, rcp, sizeof rcp);
        puts(rcp);
    }
    coffer_age_identities_free(ids, nids);
    return 0;
}

static int cmd_encrypt(int argc, char **argv)
{
    coffer_age_recipient r[64];
    size_t nr = 0;
    memset(r, 0, sizeof r);
    int binary = 0, pass = 0, log_n = 0, opt;
    coffer_error err;
    while ((opt = getopt(argc, argv, "br:pn:")) != -1) {
        switch (opt) {
        case 'b': binary = 1; break;
        case 'p': pass = 1; break;
        case 'n': log_n = atoi(optarg); break;
        case 'r':
            if (nr == 64)
                return usage();
            if (coffer_age_recipient_parse(optarg, strlen(optarg), &r[nr],
                                           &err))
                return fail(&err);
            nr++;
            break;
        default: return usage();
        }
    }
    if (pass) {
        if (nr == 64 || !passphrase(&r[nr].passphrase, &r[nr].passlen))
            return usage();
        r[nr].kind = COFFER_AGE_SCRYPT;
        r[nr++].log_n = log_n;
    }
    size_t n;
    unsigned char *msg = slurp(stdin, &n);
    if (!msg)
        return 1;
    int rc;
    if (binary) {
        uint8_t *out;
        size_t outlen;
        rc = coffer_age_encrypt_binary(r, nr, msg, n, &out, &outlen, &err);
        if (rc == 0) {
            fwrite(out, 1, outlen, stdout);
            free(out);
        }
    } else {
        char *out;
        size_t outlen;
        rc = coffer_age_encrypt(r, nr, msg, n, &out, &outlen, &err);
        if (rc == 0) {
            fwrite(out, 1, outlen, stdout);
            free(out);
        }
    }
    sodium_memzero(msg, n);
    free(msg);
    return rc ? fail(&err) : 0;
}

static int cmd_decrypt(int argc, char **argv)
{
    coffer_age_identity ids[64];
    size_t nids = 0;
    int opt, pass = 0, max = 0, rc = 0;
    coffer_error err;
    while (rc == 0 && (opt = getopt(argc, argv, "i:pm:")) != -1) {
        switch (opt) {
        case 'p': pass = 1; break;
        case 'm': max = atoi(optarg); break;
        case 'i': {
            size_t n, k;
            coffer_age_identity *got;
            unsigned char *text = slurp_path(optarg, &n);
            if (!text)
                return 1;
            rc = coffer_age_identities_parse((char *)text, n, &got, &k, &err);
            sodium_memzero(text, n);
            free(text);
            if (rc)
                return fail(&err);
            for (size_t i = 0; i < k && nids < 64; i++)
                ids[nids++] = got[i];
            coffer_age_identities_free(got, k);
            break;
        }
        default: return usage();
        }
    }
    if (pass) {
        memset(&ids[nids], 0, sizeof ids[nids]);
        if (nids == 64 ||
            !passphrase(&ids[nids].passphrase, &ids[nids].passlen))
            return usage();
        ids[nids].kind = COFFER_AGE_SCRYPT;
        ids[nids++].max_log_n = max;
    }
    size_t n;
    unsigned char *in = slurp(stdin, &n);
    if (!in)
        return 1;
    size_t cap = n + 1, outlen = 0;
    uint8_t *out = malloc(cap);
    if (!out)
        return 1;
    rc = coffer_age_decrypt(ids, nids, (char *)in, n, out, cap, &outlen,
                            &err);
    sodium_memzero(ids, sizeof ids);
    free(in);
    if (rc == 0)
        fwrite(out, 1, outlen, stdout);
    sodium_memzero(out, cap);
    free(out);
    return rc ? fail(&err) : 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 1;
    if (argc < 2)
        return usage();
    const char *verb = argv[1];
    if (strcmp(verb, "keygen") == 0 && argc == 2)
        return cmd_keygen();
    if (strcmp(verb, "public") == 0 && argc == 3)
        return cmd_public(argv[2]);
    if (strcmp(verb, "encrypt") == 0)
        return cmd_encrypt(argc - 1, argv + 1);
    if (strcmp(verb, "decrypt") == 0)
        return cmd_decrypt(argc - 1, argv + 1);
    return usage();
}
