/*
 * POST /feedback (src/http/h_feedback.c): any body, through the handler of a small real
 * service (support/fuzz_app.h): validation of every field, timestamps, station contexts,
 * the durable write to SQLite (event ids deduplicate), the fresh-history overlay and click
 * attribution.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("feedback");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_request(tt__h_feedback, data, size);
    return 0;
}
