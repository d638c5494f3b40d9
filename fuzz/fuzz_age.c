/*
 * fuzz_age.c - libFuzzer target for the age v1 reader (src/crypto/age.c).
 *
 * The input is an age file, armored or binary, decrypted with fixed
 * identities: the age testkit's X25519 identity (so the testkit's files,
 * the seeds, get past the header MAC into the payload), and a passphrase
 * whose work-factor limit is kept low (log_n <= 4) so scrypt stays cheap.
 * A testkit vector file ("expect: ..." metadata, a blank line, the file)
 * is reduced to its file. The same bytes are also read as an identity
 * file and as a recipient string. Then any plaintext is re-encrypted to
 * the identity and must decrypt to itself.
 *
 * Build and run: see fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined).
 */
// fuzz-seeds: tests/unit/age_vectors
#include "crypto/age.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TK_IDENTITY \
    "AGE-SECRET-KEY-1XMWWC06LY3EE5RYTXM9MFLAZ2U56JJJ36S0MYPDRWSVLUL66MV4QX3S7F6"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static coffer_age_identity ids[2];
    static coffer_age_recipient rcp;
    static int ready;
    coffer_error err;
    if (!ready) {
        if (coffer_age_identity_parse(TK_IDENTITY, strlen(TK_IDENTITY),
                                      &ids[0], &err) != 0 ||
            coffer_age_public(ids[0].sk, rcp.pk) != 0)
            abort();
        rcp.kind = COFFER_AGE_X25519;
        ids[1].kind = COFFER_AGE_SCRYPT;
        ids[1].passphrase = "password";
        ids[1].passlen = 8;
        ids[1].max_log_n = 4;
        ready = 1;
    }
    const char *in = (const char *)data;
    if (size > 8 && memcmp(in, "expect: ", 8) == 0) {
        const char *sep = memmem(in, size, "\n\n", 2);
        if (sep) {
            size -= (size_t)(sep + 2 - in);
            in = sep + 2;
        }
    }

    uint8_t *out = malloc(size + 1);
    size_t outlen = 0;
    if (!out)
        return 0;
    int rc = coffer_age_decrypt(ids, 2, in, size, out, size, &outlen, &err);
    if (rc == 0) {
        if (outlen > size)
            abort();
        char *again = NULL;
        size_t n = 0;
        uint8_t *back = malloc(outlen + 1);
        size_t backlen = 0;
        if (!back || coffer_age_encrypt(&rcp, 1, out, outlen, &again, &n,
                                        &err) != 0 ||
            coffer_age_decrypt(ids, 1, again, n, back, outlen, &backlen,
                               &err) != 0 ||
            backlen != outlen || memcmp(back, out, outlen) != 0)
            abort();
        free(again);
        free(back);
    } else if (rc != COFFER_ECRYPTO && rc != COFFER_ELIMIT &&
               rc != COFFER_ENOMEM) {
        abort();
    } else if (outlen != 0) {
        abort();
    }
    free(out);

    coffer_age_identity *parsed = NULL;
    size_t np = 0;
    if (coffer_age_identities_parse(in, size, &parsed, &np, &err) == 0)
        coffer_age_identities_free(parsed, np);
    coffer_age_recipient r;
    (void)coffer_age_recipient_parse(in, size, &r, &err);
    return 0;
}
