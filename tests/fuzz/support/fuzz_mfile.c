/*
 * Model-file harness helpers: see fuzz_mfile.h. Offsets as documented in tt/modelfile.h.
 */
#include "fuzz_mfile.h"
#include "fuzz_support.h"

#include <stdlib.h>
#include <string.h>

#include "tt/core.h"

enum { HEADER = 128, PAYLOAD_CRC = 72, HEADER_CRC = 76 };

static void put_u32(uint8_t *b, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

void fz_write_model_file(const char *path, const uint8_t *data, size_t size)
{
    uint8_t *b;

    if (size < HEADER) {
        fz_write(path, data, size);
        return;
    }
    b = tt_malloc(size);
    memcpy(b, data, size);
    put_u32(b + PAYLOAD_CRC, tt_crc32(0, b + HEADER, size - HEADER));
    put_u32(b + HEADER_CRC, 0);
    put_u32(b + HEADER_CRC, tt_crc32(0, b, HEADER));
    fz_write(path, b, size);
    free(b);
}
