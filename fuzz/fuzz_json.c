/* fuzz_json.c - libFuzzer target for the etcd client's JSON reader
 * (src/remote/json.c): parse with a small depth bound, then exercise every
 * accessor on every token (lookups, integers, unescaping, base64). */
#include "remote/json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy so ASan sees any read past the end. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    coffer_json j;
    coffer_error err;
    if (coffer_json_parse(&j, text, size, 16, &err) == 0) {
        char out[256];
        for (size_t t = 0; t < j.ntoks; t++) {
            int64_t v;
            sink += coffer_json_int(&j, (long)t, &v) ? (unsigned long)v : 0;
            sink += (unsigned long)coffer_json_string(&j, (long)t, out, sizeof out);
            size_t n;
            if (coffer_json_base64_max(&j, (long)t) < sizeof out &&
                coffer_json_base64(&j, (long)t, out, sizeof out, &n) == 0)
                sink += n;
            sink += (unsigned long)coffer_json_get(&j, (long)t, "result");
            sink += (unsigned long)coffer_json_at(&j, (long)t, 1);
        }
        sink += (unsigned long)coffer_json_path(&j, 0, "result", "header",
                                                "revision", (const char *)NULL);
    }
    coffer_json_release(&j);
    free(text);
    return 0;
}
