/*
 * POST /radio/generate (src/http/h_radio.c): any body, through the handler of a small real
 * service (support/fuzz_app.h): seeds (track, artist, genre), listeners, limits, and cursors.
 * The service signs cursors with FZ_RADIO_SECRET, so the seed corpus holds cursors it
 * accepts (the next page of a station); a mutated cursor is refused by its MAC, and
 * fuzz_radio_cursor reaches past the MAC.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("radio");
    fz_app();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_request(tt__h_radio_generate, data, size);
    return 0;
}
