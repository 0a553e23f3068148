/*
 * POST /recommend/user (src/http/h_recommend.c): any body, through the handler of a small
 * real service (support/fuzz_app.h): validation, tier and model selection (custom models
 * included), exclusions, genre filters, paging and the answer.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("recommend_user");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_request(tt__h_recommend_user, data, size);
    return 0;
}
