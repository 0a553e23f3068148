/*
 * fuzz_mfile.h - what the model-file harnesses share: fuzzed bytes written as a model file
 * whose checksums are right, so inputs reach the loaders' own checks rather than stopping
 * at the CRCs (whose refusal tests/unit/test_modelfile.c covers).
 */
#ifndef TT_FUZZ_MFILE_H
#define TT_FUZZ_MFILE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes @size bytes of @data to @path; when they are at least a header long, with the
 * payload CRC (bytes 72..75) and header CRC (76..79) of the container recomputed.
 */
void fz_write_model_file(const char *path, const uint8_t *data, size_t size);

#endif
