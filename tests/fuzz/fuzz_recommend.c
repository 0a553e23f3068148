/*
 * POST /recommend/user and POST /recommend/similar (src/http/h_recommend.c): any body goes
 * to both handlers of a small real service (support/fuzz_app.h); each ignores the other's
 * fields. Covers validation, tier, model and method selection (custom models, content
 * through the FAISS index, hybrid), exclusions, genre filters, same-artist filtering,
 * paging and the answers.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("recommend");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_body(data, size);

    if (!body)
        return 0;
    fz_handle(tt__h_recommend_user, body);
    fz_handle(tt__h_recommend_similar, body);
    json_decref(body);
    return 0;
}
