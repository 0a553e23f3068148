/*
 * POST /taste-profile/{user_id} (src/http/h_taste.c), through the handler of a small real
 * service (support/fuzz_app.h). The input is the request as the router sees it: the path's
 * user id up to the first newline, then the body (may be empty). As the router does, a
 * segment with a '/' is not this route, and the path's id replaces any user_id of the body.
 * Covers validation, time zones, the listener's events read from the store, the population
 * percentiles and the taste clusters.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("taste_profile");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t plen = nl ? (size_t)(nl - data) : size;
    char *param = strndup((const char *)data, plen); /* a URL holds no NUL: it ends there */
    json_t *body = NULL;

    if (!strchr(param, '/')) {
        body = nl ? fz_body(nl + 1, size - plen - 1) : NULL;
        if (body || !nl || plen + 1 == size) {
            if (!body)
                body = json_object();
            json_object_set_new(body, "user_id", json_string(param));
            fz_handle(tt__h_taste_profile, body);
        }
    }
    json_decref(body);
    free(param);
    return 0;
}
