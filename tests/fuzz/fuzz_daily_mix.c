/*
 * POST /daily-mix (src/http/h_mix.c): any body, through the handler of a small real service
 * (support/fuzz_app.h): validation, tier, mix and track counts, and the day's mixes.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("daily_mix");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_request(tt__h_daily_mix, data, size);
    return 0;
}
