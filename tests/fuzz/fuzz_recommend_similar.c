/*
 * POST /recommend/similar (src/http/h_recommend.c): any body, through the handler of a small
 * real service (support/fuzz_app.h): validation, tier and method selection (collaborative,
 * content through the FAISS index, hybrid), same-artist filtering and the answer.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("recommend_similar");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_request(tt__h_recommend_similar, data, size);
    return 0;
}
