/*
 * The model-file container (src/core/modelfile.c) and its metadata codec
 * (src/core/modelfile_meta.c): fuzzed bytes, checksums made right (support/fuzz_mfile.h),
 * opened as a file. A file that opens has every section of its table read back under every
 * type (string sections as strings, integer sections through the offset and id checks
 * loaders use), and its metadata decoded with a table of every field type and with the
 * fields all models share. Whatever is returned must lie inside the file.
 */
#include "support/fuzz_data.h"
#include "support/fuzz_mfile.h"
#include "support/fuzz_support.h"

#include <stdlib.h>
#include <string.h>

#include "tt/core.h"
#include "tt/model.h"
#include "tt/modelfile.h"

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("modelfile");
    fz_path(path, sizeof(path), "input.ttm");
    return 0;
}

/* The fields every model file has (TT_MODEL_MFIELDS), as the loaders read them. */
struct head {
    tt_model base;
};
static const tt_mfield head_fields[] = {TT_MODEL_MFIELDS(struct head, base)};

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Touches every byte, so ASan sees a section that reaches past the file. */
static uint8_t touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint8_t x = 0;

    for (size_t i = 0; i < n; i++)
        x ^= b[i];
    return x;
}

static void read_section(const tt_mfile *f, const char *name)
{
    static const size_t width[] = {0, 4, 4, 8, 1, 1, 1};

    for (int dt = TT_DT_F32; dt <= TT_DT_META; dt++) {
        int64_t rows = -1, cols = -1;
        const void *p = NULL;
        if (dt == TT_DT_STR || tt_mfile_get(f, name, (enum tt_dtype)dt, &rows, &cols, &p, NULL) < 0)
            continue;
        if (rows < 0 || cols < 0)
            fz_fail("section '%s' has shape %lld x %lld", name, (long long)rows, (long long)cols);
        (void)touch(p, (size_t)(rows * cols) * width[dt]);
        if (dt == TT_DT_I64 && cols == 1 && rows >= 1 && rows - 1 <= INT32_MAX)
            (void)tt_mfile_offsets_valid(p, (int32_t)(rows - 1), ((const int64_t *)p)[0]);
        if (dt == TT_DT_I32)
            (void)tt_mfile_ids_valid(p, rows * cols, INT32_MAX);
    }
}

static void read_strings(const tt_mfile *f, const char *name)
{
    int64_t n = tt_mfile_strings_count(f, name);
    const char **s;

    if (n < 0)
        return;
    /* A string takes at least its terminator: the count is bounded by the file. */
    s = tt_malloc((size_t)(n + 1) * sizeof(*s));
    if (tt_mfile_strings(f, name, n, s, NULL) == 0)
        for (int64_t i = 0; i < n; i++)
            (void)touch(s[i], strlen(s[i]) + 1);
    free(s);
}

/* The section names of the file's table, read as the format documents them. */
static void each_section(const tt_mfile *f, const uint8_t *data, size_t size)
{
    uint64_t n = le(data + 12, 4), table = le(data + 56, 8);
    char name[33];

    for (uint64_t i = 0; i < n && table + (i + 1) * 72 <= size; i++) {
        memcpy(name, data + table + i * 72, 32);
        name[32] = '\0';
        read_section(f, name);
        read_strings(f, name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_mfile *f = NULL;
    fz_meta m = fz_meta_example();
    struct head h = {{0}};

    fz_write_model_file(path, data, size);
    if (tt_mfile_open(path, &f, NULL) < 0)
        return 0;
    (void)touch(tt_mfile_kind(f), strlen(tt_mfile_kind(f)));
    each_section(f, data, size);
    if (tt_mfile_get_meta(f, fz_meta_fields, fz_meta_n_fields, &m, NULL) == 0)
        (void)touch(m.name, strlen(m.name));
    (void)tt_mfile_get_meta(f, head_fields, 4, &h, NULL);
    tt_mfile_close(f);
    return 0;
}
