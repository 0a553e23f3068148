/*
 * The model file container: round trips of every section type, refusal of damaged files
 * with a message naming the file, catalog checks in tt_model_load, and the atomic writer.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/modelfile.h"
#include "tt/popularity.h"

#define CATALOG UINT64_C(0x0123456789abcdef)

static char dir[64];
static char path[256];

static void setup(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "sample.ttm");
}

static void teardown(void)
{
    fx_rmtree(dir);
}

TestSuite(mfile, .init = setup, .fini = teardown);

static const float f32[3][4] = {{1, 2, 3, 4}, {-0.5f, 0, 1e-30f, 3e38f}, {7, 8, 9, 10}};
static const int32_t i32[5] = {0, -1, INT32_MAX, INT32_MIN, 42};
static const int64_t i64[2][3] = {{INT64_MAX, INT64_MIN, 0}, {1, -2, 1LL << 40}};
static const uint8_t u8[7] = {0, 1, 127, 128, 200, 254, 255};
static const char *const strs[] = {"alpha", "", "b\xc3\xa9ta \xe2\x99\xab", "gamma|delta", "z"};

static void write_sample(const char *p)
{
    tt_mfile_writer *w = NULL;
    tt_err err = {0};
    int rc = tt_mfile_create(p, "sample", CATALOG, &w, &err);

    cr_assert_eq(rc, 0, "create: %s", tt_err_msg(&err, rc));
    cr_assert_eq(tt_mfile_add(w, "f32", TT_DT_F32, 3, 4, f32, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "i32", TT_DT_I32, 5, 1, i32, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "i64", TT_DT_I64, 2, 3, i64, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "u8", TT_DT_U8, 1, 7, u8, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "empty", TT_DT_F32, 0, 4, NULL, &err), 0);
    cr_assert_eq(tt_mfile_add_strings(w, "names", strs, 5, &err), 0);
    cr_assert_eq(tt_mfile_add_strings(w, "none", NULL, 0, &err), 0);
    rc = tt_mfile_commit(w, &err);
    cr_assert_eq(rc, 0, "commit: %s", tt_err_msg(&err, rc));
}

static tt_mfile *open_ok(const char *p)
{
    tt_mfile *f = NULL;
    tt_err err = {0};
    int rc = tt_mfile_open(p, &f, &err);

    cr_assert_eq(rc, 0, "open: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(f);
    return f;
}

/* Fetches section @name of @dt with any shape; checks 64-byte alignment. */
static const void *get(const tt_mfile *f, const char *name, enum tt_dtype dt, int64_t *rows,
                       int64_t *cols)
{
    const void *data = NULL;
    tt_err err = {0};
    int rc;

    *rows = *cols = -1;
    rc = tt_mfile_get(f, name, dt, rows, cols, &data, &err);
    cr_assert_eq(rc, 0, "get %s: %s", name, tt_err_msg(&err, rc));
    cr_assert_eq((uintptr_t)data % 64, 0, "section %s is 64-byte aligned", name);
    return data;
}

Test(mfile, round_trips_every_type_and_strings)
{
    int64_t before = tt_unix_time(), rows, cols;
    tt_mfile *f;
    const char *names[5];
    const void *d;

    write_sample(path);
    f = open_ok(path);
    cr_assert_str_eq(tt_mfile_kind(f), "sample");
    cr_assert_str_eq(tt_mfile_path(f), path);
    cr_assert_eq(tt_mfile_catalog(f), CATALOG);
    cr_assert(tt_mfile_created_at(f) >= before - 1 && tt_mfile_created_at(f) <= tt_unix_time());

    d = get(f, "f32", TT_DT_F32, &rows, &cols);
    cr_assert(rows == 3 && cols == 4);
    cr_assert_eq(memcmp(d, f32, sizeof(f32)), 0);
    d = get(f, "i32", TT_DT_I32, &rows, &cols);
    cr_assert(rows == 5 && cols == 1);
    cr_assert_eq(memcmp(d, i32, sizeof(i32)), 0);
    d = get(f, "i64", TT_DT_I64, &rows, &cols);
    cr_assert(rows == 2 && cols == 3);
    cr_assert_eq(memcmp(d, i64, sizeof(i64)), 0);
    d = get(f, "u8", TT_DT_U8, &rows, &cols);
    cr_assert(rows == 1 && cols == 7);
    cr_assert_eq(memcmp(d, u8, sizeof(u8)), 0);
    get(f, "empty", TT_DT_F32, &rows, &cols);
    cr_assert(rows == 0 && cols == 4);

    /* A shape given on entry that matches is accepted. */
    rows = 3, cols = 4;
    cr_assert_eq(tt_mfile_get(f, "f32", TT_DT_F32, &rows, &cols, &d, NULL), 0);

    cr_assert_eq(tt_mfile_strings_count(f, "names"), 5);
    cr_assert_eq(tt_mfile_strings_count(f, "none"), 0);
    cr_assert_eq(tt_mfile_strings_count(f, "missing"), -1);
    cr_assert_eq(tt_mfile_strings_count(f, "f32"), -1, "not a string section");
    cr_assert_eq(tt_mfile_strings(f, "names", 5, names, NULL), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq(names[i], strs[i]);
    cr_assert_eq(tt_mfile_strings(f, "none", 0, names, NULL), 0);
    tt_mfile_close(f);
    tt_mfile_close(NULL);
}

/* Expects tt_mfile_open(@p) to refuse with TT_ECORRUPT and a message naming the file. */
static void expect_corrupt(const char *p, const char *what)
{
    tt_mfile *f = NULL;
    tt_err err = {0};
    int rc = tt_mfile_open(p, &f, &err);

    cr_assert_eq(rc, TT_ECORRUPT, "%s: got %d (%s)", what, rc, err.message);
    cr_assert_null(f, "%s: no handle on failure", what);
    cr_assert_eq(err.code, TT_ECORRUPT);
    cr_assert_not_null(strstr(err.message, p), "%s: message '%s' lacks the path", what,
                       err.message);
}

Test(mfile, truncated_files_are_refused)
{
    int64_t size;
    const int64_t cuts[] = {-2, 100, 0, -1};

    write_sample(path);
    size = fx_file_size(path);
    cr_assert(size > 512);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        char what[64];
        int64_t to = cuts[i] == -2 ? size / 2 : cuts[i] == -1 ? size - 1 : cuts[i];
        write_sample(path);
        fx_truncate(path, to);
        snprintf(what, sizeof(what), "truncated to %lld of %lld bytes", (long long)to,
                 (long long)size);
        expect_corrupt(path, what);
    }
}

Test(mfile, trailing_bytes_are_refused)
{
    int64_t size;

    write_sample(path);
    size = fx_file_size(path);
    fx_overwrite(path, size, "junk", 4);
    expect_corrupt(path, "trailing bytes");
}

Test(mfile, a_flipped_payload_byte_fails_the_checksum)
{
    int64_t size;
    const int64_t offsets[] = {128, 128 + 5, 300, -1};

    write_sample(path);
    size = fx_file_size(path);
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        int64_t at = offsets[i] < 0 ? size - 1 : offsets[i];
        char what[64];
        write_sample(path);
        fx_flip_byte(path, at, 0x01);
        snprintf(what, sizeof(what), "flipped byte at %lld", (long long)at);
        expect_corrupt(path, what);
    }
}

Test(mfile, a_flipped_header_byte_is_refused)
{
    /* version, section count, kind, catalog, creation time, table offset, size, CRCs, spare. */
    const int64_t offsets[] = {8, 12, 16, 40, 48, 56, 64, 72, 76, 100, 127};

    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        char what[64];
        write_sample(path);
        fx_flip_byte(path, offsets[i], 0x10);
        snprintf(what, sizeof(what), "flipped header byte %lld", (long long)offsets[i]);
        expect_corrupt(path, what);
    }
}

Test(mfile, wrong_magic_is_refused)
{
    tt_mfile *f = NULL;
    tt_err err = {0};

    write_sample(path);
    fx_overwrite(path, 0, "TTMODEL2", 8);
    expect_corrupt(path, "wrong magic");
    cr_assert_eq(tt_mfile_open(path, &f, &err), TT_ECORRUPT);
    cr_assert_not_null(strstr(err.message, "magic"), "message: %s", err.message);

    /* Not a model file at all. */
    {
        FILE *fp = fopen(path, "w");
        cr_assert_not_null(fp);
        for (int i = 0; i < 100; i++)
            fputs("user_id,track_id,action\n", fp);
        fclose(fp);
    }
    expect_corrupt(path, "a text file");
}

Test(mfile, missing_file_is_not_found)
{
    tt_mfile *f = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_open(path, &f, &err), TT_ENOTFOUND);
    cr_assert_null(f);
    cr_assert_not_null(strstr(err.message, path));
}

/* Expects tt_mfile_get to refuse @name with the given expectations. */
static void expect_get_refused(const tt_mfile *f, const char *name, enum tt_dtype dt, int64_t rows,
                               int64_t cols)
{
    const void *d = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_get(f, name, dt, &rows, &cols, &d, &err), TT_ECORRUPT,
                 "section %s accepted", name);
    cr_assert_not_null(strstr(err.message, path), "message '%s' lacks the path", err.message);
    cr_assert_not_null(strstr(err.message, name), "message '%s' lacks the section", err.message);
}

Test(mfile, unknown_sections_and_wrong_shapes_are_refused)
{
    tt_mfile *f;
    const char *names[6];
    tt_err err = {0};

    write_sample(path);
    f = open_ok(path);
    expect_get_refused(f, "no_such_section", TT_DT_F32, -1, -1);
    expect_get_refused(f, "f32", TT_DT_F32, 4, -1);
    expect_get_refused(f, "f32", TT_DT_F32, -1, 3);
    expect_get_refused(f, "f32", TT_DT_F32, 3, 5);
    expect_get_refused(f, "f32", TT_DT_I32, 3, 4);
    expect_get_refused(f, "i64", TT_DT_F32, -1, -1);
    expect_get_refused(f, "names", TT_DT_U8, -1, -1);
    cr_assert_eq(tt_mfile_strings(f, "names", 4, names, &err), TT_ECORRUPT);
    cr_assert_not_null(strstr(err.message, path));
    cr_assert_eq(tt_mfile_strings(f, "names", 6, names, NULL), TT_ECORRUPT);
    cr_assert_eq(tt_mfile_strings(f, "u8", 1, names, NULL), TT_ECORRUPT);
    cr_assert_eq(tt_mfile_strings(f, "nope", 0, names, NULL), TT_ECORRUPT);
    tt_mfile_close(f);
}

Test(mfile, writer_refuses_bad_sections)
{
    tt_mfile_writer *w = NULL;
    const char *s = "x";
    char long_name[64];
    tt_err err = {0};

    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    cr_assert_eq(tt_mfile_create(path, "a-model-kind-name-that-is-too-long", 0, &w, &err),
                 TT_EINVAL);
    cr_assert_null(w);
    cr_assert_eq(fx_dir_count(dir), 0, "nothing written for a refused create");
    cr_assert_eq(tt_mfile_create(path, "sample", 0, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "a", TT_DT_I32, 1, 1, i32, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "a", TT_DT_I32, 1, 1, i32, NULL), TT_EINVAL, "duplicate");
    cr_assert_eq(tt_mfile_add_strings(w, "a", &s, 1, NULL), TT_EINVAL, "duplicate");
    cr_assert_eq(tt_mfile_add(w, long_name, TT_DT_I32, 1, 1, i32, NULL), TT_EINVAL);
    cr_assert_eq(tt_mfile_add(w, "s", TT_DT_STR, 1, 1, "x", NULL), TT_EINVAL);
    cr_assert_eq(tt_mfile_add(w, "b", (enum tt_dtype)9, 1, 1, i32, NULL), TT_EINVAL);
    cr_assert_eq(tt_mfile_add(w, "c", TT_DT_I32, -1, 1, i32, NULL), TT_EINVAL);
    cr_assert_eq(tt_mfile_add(w, "d", TT_DT_I32, 2, 2, NULL, NULL), TT_EINVAL);
    /* The sections that were accepted still make a valid file. */
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    {
        tt_mfile *f = open_ok(path);
        int64_t rows, cols;
        get(f, "a", TT_DT_I32, &rows, &cols);
        cr_assert_eq(tt_mfile_strings_count(f, "s"), -1);
        tt_mfile_close(f);
    }
}

/* ---- format version 2: the encoding of the header and the section table ----------------- */

/* The whole file at @p, malloc'd; *n its size. */
static uint8_t *slurp(const char *p, size_t *n)
{
    FILE *fp = fopen(p, "rb");
    uint8_t *buf;

    cr_assert_not_null(fp, "open %s", p);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    buf = malloc(*n + 1);
    cr_assert_eq(fread(buf, 1, *n, fp), *n);
    fclose(fp);
    return buf;
}

static void spill(const char *p, const void *data, size_t n)
{
    FILE *fp = fopen(p, "wb");

    cr_assert_not_null(fp, "create %s", p);
    cr_assert_eq(fwrite(data, 1, n, fp), n);
    fclose(fp);
}

static uint64_t le(const uint8_t *p, int width)
{
    uint64_t v = 0;

    for (int i = 0; i < width; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

Test(mfile, header_and_table_fields_sit_little_endian_at_their_documented_offsets)
{
    size_t n;
    uint8_t *b, zero[48] = {0}, hcopy[128];
    const uint8_t *t;
    tt_mfile *f;
    int64_t table;

    write_sample(path);
    b = slurp(path, &n);
    f = open_ok(path);
    cr_assert_eq(memcmp(b, "TTMODEL1", 8), 0, "magic at 0");
    cr_assert_eq(b[8], 2, "version 2 at 8, low byte first");
    cr_assert(b[9] == 0 && b[10] == 0 && b[11] == 0);
    cr_assert_eq(le(b + 12, 4), 7, "section count at 12");
    cr_assert_str_eq((const char *)b + 16, "sample", "kind at 16");
    cr_assert_eq(b[40], 0xef, "catalog at 40, low byte first");
    cr_assert_eq(b[47], 0x01);
    cr_assert_eq(le(b + 40, 8), CATALOG);
    cr_assert_eq((int64_t)le(b + 48, 8), tt_mfile_created_at(f), "creation time at 48");
    table = (int64_t)le(b + 56, 8);
    cr_assert_eq(table, (int64_t)n - 7 * 72, "table offset at 56: the table ends the file");
    cr_assert_eq(le(b + 64, 8), n, "file size at 64");
    cr_assert_eq(le(b + 72, 4), tt_crc32(0, b + 128, n - 128), "payload CRC at 72");
    memcpy(hcopy, b, 128);
    memset(hcopy + 76, 0, 4);
    cr_assert_eq(le(b + 76, 4), tt_crc32(0, hcopy, 128), "header CRC at 76");
    cr_assert_eq(memcmp(b + 80, zero, 48), 0, "reserved bytes are zero");

    /* The first entry of the table: f32, 3 x 4 floats at offset 128. */
    t = b + table;
    cr_assert_str_eq((const char *)t, "f32", "name at 0");
    cr_assert_eq(le(t + 32, 4), TT_DT_F32, "dtype at 32");
    cr_assert_eq(le(t + 36, 4), 0, "reserved at 36");
    cr_assert_eq(le(t + 40, 8), 3, "rows at 40");
    cr_assert_eq(le(t + 48, 8), 4, "cols at 48");
    cr_assert_eq(le(t + 56, 8), 128, "offset at 56");
    cr_assert_eq(le(t + 64, 8), sizeof(f32), "bytes at 64");
    cr_assert_eq(memcmp(b + 128, f32, sizeof(f32)), 0, "floats stored as they are in memory");
    /* The second (i32) starts on the next 64-byte boundary. */
    cr_assert_str_eq((const char *)t + 72, "i32");
    cr_assert_eq(le(t + 72 + 56, 8), 192);
    tt_mfile_close(f);
    free(b);
}

/* A file of format version @version with no sections, built byte by byte. */
static void write_versioned(const char *p, uint32_t version)
{
    uint8_t h[128] = {0};

    memcpy(h, "TTMODEL1", 8);
    put_le(h + 8, version, 4);
    memcpy(h + 16, "als", 4);
    put_le(h + 40, CATALOG, 8);
    put_le(h + 48, 1700000000, 8);
    put_le(h + 56, 128, 8);
    put_le(h + 64, 128, 8);
    put_le(h + 72, tt_crc32(0, NULL, 0), 4);
    put_le(h + 76, tt_crc32(0, h, 128), 4);
    spill(p, h, sizeof(h));
}

Test(mfile, version_1_files_are_refused_with_the_way_out)
{
    tt_mfile *f = NULL;
    tt_model *m = NULL;
    tt_err err = {0};

    write_versioned(path, 2);
    tt_mfile_close(open_ok(path)); /* the same bytes with version 2 are a valid empty file */
    write_versioned(path, 1);
    expect_corrupt(path, "version 1");
    cr_assert_eq(tt_mfile_open(path, &f, &err), TT_ECORRUPT);
    cr_assert_not_null(strstr(err.message, "retrain"), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, "version 1"), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, "tunetrail train"), "message: %s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_model_load(path, 0, &m, &err), TT_ECORRUPT);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.message, "retrain"), "model load: %s", err.message);
}

Test(mfile, unknown_versions_are_refused)
{
    const uint32_t versions[] = {0, 3, 0x7fffffff, 0xffffffff};
    tt_mfile *f = NULL;
    tt_err err = {0};

    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        char what[64];
        snprintf(what, sizeof(what), "version %u", versions[i]);
        write_versioned(path, versions[i]);
        expect_corrupt(path, what);
    }
    write_versioned(path, 3);
    cr_assert_eq(tt_mfile_open(path, &f, &err), TT_ECORRUPT);
    cr_assert_not_null(strstr(err.message, "newer"), "message: %s", err.message);
}

Test(mfile, an_unterminated_kind_is_refused)
{
    size_t n;
    uint8_t *b;

    write_versioned(path, 2);
    b = slurp(path, &n);
    memset(b + 16, 'k', 24);
    memset(b + 76, 0, 4);
    put_le(b + 76, tt_crc32(0, b, 128), 4);
    spill(path, b, n);
    expect_corrupt(path, "kind without its NUL");
    free(b);
}

/* A table of 4097 empty sections: sound in every other way, but more than a file may hold. */
Test(mfile, too_many_sections_are_refused)
{
    const uint32_t n = 4097;
    size_t size = 128 + (size_t)n * 72;
    uint8_t *b = calloc(1, size);

    memcpy(b, "TTMODEL1", 8);
    put_le(b + 8, 2, 4);
    put_le(b + 12, n, 4);
    memcpy(b + 16, "als", 4);
    put_le(b + 56, 128, 8);
    put_le(b + 64, size, 8);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *e = b + 128 + (size_t)i * 72;
        snprintf((char *)e, 32, "s%u", (unsigned)i);
        put_le(e + 32, TT_DT_U8, 4);
        put_le(e + 56, 128, 8);
    }
    put_le(b + 72, tt_crc32(0, b + 128, size - 128), 4);
    put_le(b + 76, tt_crc32(0, b, 128), 4);
    spill(path, b, size);
    expect_corrupt(path, "4097 sections");
    /* One fewer is a valid file. */
    put_le(b + 12, n - 1, 4);
    put_le(b + 64, size - 72, 8);
    put_le(b + 72, tt_crc32(0, b + 128, size - 72 - 128), 4);
    memset(b + 76, 0, 4);
    put_le(b + 76, tt_crc32(0, b, 128), 4);
    spill(path, b, size - 72);
    tt_mfile_close(open_ok(path));
    free(b);
}

Test(mfile, damaged_tables_are_refused)
{
    size_t n;
    uint8_t *b;
    int64_t table;
    /* Each: offset in the first table entry, value written there (8 bytes). */
    const struct { int at, width; uint64_t v; } damage[] = {
        {32, 4, 99},                    /* unknown dtype */
        {40, 8, UINT64_C(1) << 62},     /* rows so large that rows x cols overflows */
        {40, 8, (uint64_t)-1},          /* negative rows */
        {56, 8, 100},                   /* unaligned offset */
        {56, 8, 0},                     /* offset inside the header */
        {64, 8, UINT64_C(1) << 40},     /* bytes past the table */
        {0, 8, 0x6c6c6c6c6c6c6c6cULL},  /* name no longer terminated... */
    };

    write_sample(path);
    b = slurp(path, &n);
    table = (int64_t)le(b + 56, 8);
    for (size_t i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
        uint8_t *c = malloc(n);
        char what[64];
        memcpy(c, b, n);
        put_le(c + table + damage[i].at, damage[i].v, damage[i].width);
        if (damage[i].at == 0)
            memset(c + table, 'l', 32); /* ...anywhere in its 32 bytes */
        /* Checksums made right again: only the table's own checks can refuse it. */
        put_le(c + 72, tt_crc32(0, c + 128, n - 128), 4);
        memset(c + 76, 0, 4);
        put_le(c + 76, tt_crc32(0, c, 128), 4);
        spill(path, c, n);
        snprintf(what, sizeof(what), "table damage %zu", i);
        expect_corrupt(path, what);
        free(c);
    }
    /* Two entries of one name. */
    {
        uint8_t *c = malloc(n);
        memcpy(c, b, n);
        memcpy(c + table + 72, "f32", 4);
        put_le(c + 72, tt_crc32(0, c + 128, n - 128), 4);
        memset(c + 76, 0, 4);
        put_le(c + 76, tt_crc32(0, c, 128), 4);
        spill(path, c, n);
        expect_corrupt(path, "duplicate section");
        free(c);
    }
    free(b);
}

/* ---- the atomic writer ------------------------------------------------------------------- */

Test(mfile, the_file_appears_only_on_commit)
{
    tt_mfile_writer *w = NULL;

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "u8", TT_DT_U8, 1, 7, u8, NULL), 0);
    cr_assert_eq(fx_file_size(path), -1, "no final file before commit");
    cr_assert_eq(fx_dir_count(dir), 1, "one temporary file while writing");
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    cr_assert(fx_file_size(path) > 0);
    cr_assert_eq(fx_dir_count(dir), 1, "only the final file after commit");
    tt_mfile_close(open_ok(path));
}

Test(mfile, abort_leaves_nothing_behind)
{
    tt_mfile_writer *w = NULL;

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "u8", TT_DT_U8, 1, 7, u8, NULL), 0);
    tt_mfile_abort(w);
    tt_mfile_abort(NULL);
    cr_assert_eq(fx_file_size(path), -1);
    cr_assert_eq(fx_dir_count(dir), 0, "the temporary file is removed");
}

Test(mfile, a_rewrite_replaces_the_old_file_only_on_commit)
{
    tt_mfile_writer *w = NULL;
    tt_mfile *f;

    write_sample(path);
    cr_assert_eq(tt_mfile_create(path, "other", 7, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "i32", TT_DT_I32, 5, 1, i32, NULL), 0);
    /* Readers still see the complete old file while the new one is written... */
    f = open_ok(path);
    cr_assert_str_eq(tt_mfile_kind(f), "sample");
    tt_mfile_close(f);
    tt_mfile_abort(w);
    /* ...and after an abort. */
    f = open_ok(path);
    cr_assert_eq(tt_mfile_catalog(f), CATALOG);
    tt_mfile_close(f);
    cr_assert_eq(fx_dir_count(dir), 1);

    cr_assert_eq(tt_mfile_create(path, "other", 7, &w, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    f = open_ok(path);
    cr_assert_str_eq(tt_mfile_kind(f), "other");
    cr_assert_eq(tt_mfile_catalog(f), 7);
    tt_mfile_close(f);
    cr_assert_eq(fx_dir_count(dir), 1);
}

/*
 * Two saves of one path in flight at once in one process (a reload thread saving while a
 * training thread does): each must write its own temporary file, so the path ends up holding
 * one complete file, the last committed.
 */
Test(mfile, concurrent_writers_of_one_path_do_not_share_a_temporary_file)
{
    static float big[4096];
    tt_mfile_writer *a = NULL, *b = NULL;
    tt_err err = {0};
    tt_mfile *f;
    int rc;

    cr_assert_eq(tt_mfile_create(path, "first", 1, &a, NULL), 0);
    cr_assert_eq(tt_mfile_add(a, "big", TT_DT_F32, 4096, 1, big, NULL), 0);
    cr_assert_eq(tt_mfile_create(path, "second", 2, &b, NULL), 0);
    cr_assert_eq(tt_mfile_add(b, "small", TT_DT_I32, 5, 1, i32, NULL), 0);
    rc = tt_mfile_commit(a, &err);
    cr_assert_eq(rc, 0, "first commit: %s", tt_err_msg(&err, rc));
    tt_err_clear(&err);
    rc = tt_mfile_commit(b, &err);
    cr_assert_eq(rc, 0, "second commit: %s", tt_err_msg(&err, rc));
    tt_err_clear(&err);
    rc = tt_mfile_open(path, &f, &err);
    cr_assert_eq(rc, 0, "the committed file is damaged: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(tt_mfile_kind(f), "second");
    tt_mfile_close(f);
    cr_assert_eq(fx_dir_count(dir), 1);
}

Test(mfile, parent_directories_are_created)
{
    char nested[300];
    tt_mfile_writer *w = NULL;

    fx_path(nested, sizeof(nested), dir, "a/b/c/model.ttm");
    cr_assert_eq(tt_mfile_create(nested, "sample", 1, &w, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    tt_mfile_close(open_ok(nested));
}

/* ---- tt_model_load ----------------------------------------------------------------------- */

static tt_dataset *tiny_catalog(const char *extra)
{
    tt_dataset *ds = tt_dataset_new();

    fx_add_track(ds, "t1", "a", "rock");
    fx_add_track(ds, "t2", "a", "rock|indie");
    fx_add_track(ds, "t3", "b", "jazz");
    if (extra)
        fx_add_track(ds, extra, "b", "jazz");
    fx_add_event(ds, "u1", "t1", TT_ACT_PLAY, 2.0f, FX_T0);
    fx_add_event(ds, "u2", "t2", TT_ACT_LIKE, 1.0f, FX_T0);
    tt_dataset_finish(ds);
    return ds;
}

Test(mfile, models_of_another_catalog_are_refused)
{
    tt_dataset *ds = tiny_catalog(NULL), *other = tiny_catalog("t4");
    tt_train_set ts;
    tt_model *m, *l = NULL;
    tt_err err = {0};

    cr_assert_neq(tt_catalog_checksum(ds), tt_catalog_checksum(other));
    fx_train_set(ds, &ts);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_ALL_TIME, 0.0, &m, NULL), 0);
    cr_assert_eq(tt_model_save(m, path, NULL), 0);

    cr_assert_eq(tt_model_load(path, tt_catalog_checksum(other), &l, &err), TT_ECORRUPT);
    cr_assert_null(l);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, "catalog"), "message: %s", err.message);

    cr_assert_eq(tt_model_load(path, tt_catalog_checksum(ds), &l, NULL), 0);
    cr_assert_eq(l->catalog, tt_catalog_checksum(ds));
    tt_model_free(l);
    l = NULL;
    cr_assert_eq(tt_model_load(path, 0, &l, NULL), 0, "0 accepts any catalog");
    tt_model_free(l);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
    tt_dataset_free(other);
}

Test(mfile, model_load_refuses_unknown_kinds_and_damage)
{
    tt_model *l = NULL;
    tt_err err = {0};

    write_sample(path);
    cr_assert_eq(tt_model_load(path, 0, &l, &err), TT_ECORRUPT);
    cr_assert_null(l);
    cr_assert_not_null(strstr(err.message, "sample"), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, path));

    fx_truncate(path, fx_file_size(path) / 2);
    tt_err_clear(&err);
    cr_assert_eq(tt_model_load(path, 0, &l, &err), TT_ECORRUPT);
    cr_assert_not_null(strstr(err.message, path));
    fx_path(path, sizeof(path), dir, "absent.ttm");
    cr_assert_eq(tt_model_load(path, 0, &l, NULL), TT_ENOTFOUND);
    cr_assert_null(l);
}

/* A model file with a section missing: the model's own loader refuses it cleanly. */
Test(mfile, model_files_missing_a_section_are_refused)
{
    tt_dataset *ds = tiny_catalog(NULL);
    tt_train_set ts;
    tt_mfile_writer *w = NULL;
    tt_mfile *f;
    tt_model *m, *l = NULL;
    tt_err err = {0};
    int64_t rows = 1, cols = -1;
    const void *meta;
    char good[256];

    fx_train_set(ds, &ts);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_ALL_TIME, 0.0, &m, NULL), 0);
    cr_assert_eq(tt_model_save(m, fx_path(good, sizeof(good), dir, "good.ttm"), NULL), 0);
    /* Only the metadata, copied as it is: sound, but the arrays it describes are absent. */
    f = open_ok(good);
    cr_assert_eq(tt_mfile_get(f, "meta", TT_DT_META, &rows, &cols, &meta, NULL), 0);
    cr_assert_eq(tt_mfile_create(path, "popularity", tt_mfile_catalog(f), &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_META, rows, cols, meta, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    tt_mfile_close(f);
    cr_assert_eq(tt_model_load(path, 0, &l, &err), TT_ECORRUPT);
    cr_assert_null(l);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, "'score'"), "message: %s", err.message);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- metadata: typed, named fields -------------------------------------------------------- */

TestSuite(meta, .init = setup, .fini = teardown);

enum colour { RED, GREEN, BLUE };
static const char *const colours[] = {"red", "green", "blue"};

struct all {
    int32_t i32;
    int64_t i64;
    uint64_t u64;
    float f32;
    double f64;
    bool flag;
    enum colour colour;
    const char *str;
};

/* Every type, no ranges, non-finite floats allowed: what any value of the types can hold. */
static const tt_mfield all_fields[] = {
    {"i32", TT_MF_I32, TT_MF_AT(struct all, i32)},
    {"i64", TT_MF_I64, TT_MF_AT(struct all, i64)},
    {"u64", TT_MF_U64, TT_MF_AT(struct all, u64)},
    {"f32", TT_MF_F32, TT_MF_AT(struct all, f32), .flags = TT_MF_NONFINITE},
    {"f64", TT_MF_F64, TT_MF_AT(struct all, f64), .flags = TT_MF_NONFINITE},
    {"flag", TT_MF_BOOL, TT_MF_AT(struct all, flag)},
    {"colour", TT_MF_ENUM, TT_MF_AT(struct all, colour), .names = colours, .n_names = 3},
    {"str", TT_MF_STR, TT_MF_AT(struct all, str)},
};
#define N_ALL ((int)(sizeof(all_fields) / sizeof(all_fields[0])))

/* Writes a file whose only section is the metadata of @src under @fields. */
static void write_meta(const tt_mfield *fields, int n, const void *src)
{
    tt_mfile_writer *w = NULL;
    tt_err err = {0};
    int rc;

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    rc = tt_mfile_put_meta(w, fields, n, src, &err);
    cr_assert_eq(rc, 0, "put_meta: %s", tt_err_msg(&err, rc));
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
}

/* Reads the metadata of the file at @path into @dst; returns the code, @err filled. */
static int read_meta(const tt_mfield *fields, int n, void *dst, tt_err *err)
{
    tt_mfile *f = open_ok(path);
    int rc = tt_mfile_get_meta(f, fields, n, dst, err);

    tt_mfile_close(f);
    return rc;
}

static bool same_bits(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

static void expect_all_round_trip(const struct all *in)
{
    struct all out;
    tt_err err = {0};
    tt_mfile *f;
    int rc;

    memset(&out, 0, sizeof(out));
    write_meta(all_fields, N_ALL, in);
    f = open_ok(path);
    rc = tt_mfile_get_meta(f, all_fields, N_ALL, &out, &err);
    cr_assert_eq(rc, 0, "get_meta: %s", tt_err_msg(&err, rc));
    cr_assert_eq(out.i32, in->i32);
    cr_assert_eq(out.i64, in->i64);
    cr_assert_eq(out.u64, in->u64);
    cr_assert(same_bits(&out.f32, &in->f32, sizeof(float)), "f32 %a != %a", out.f32, in->f32);
    cr_assert(same_bits(&out.f64, &in->f64, sizeof(double)), "f64 %a != %a", out.f64, in->f64);
    cr_assert_eq(out.flag, in->flag);
    cr_assert_eq(out.colour, in->colour);
    cr_assert_str_eq(out.str, in->str, "read in place: valid while the file is open");
    tt_mfile_close(f);
}

Test(meta, round_trips_every_type_at_its_extremes)
{
    static char long_str[100001];
    struct all a = {INT32_MIN, INT64_MIN, UINT64_MAX, -0.0f, 4.9406564584124654e-324, true,
                    BLUE, long_str};
    struct all b = {INT32_MAX, INT64_MAX, 0, 1.40129846e-45f, -0.0, false, RED, ""};
    struct all c = {-1, -1, 1, NAN, -INFINITY, true, GREEN, "b\xc3\xa9ta \xe2\x99\xab"};
    struct all d = {0, 0, UINT64_C(1) << 63, 3.40282347e38f, 1.7976931348623157e308, false,
                    GREEN, "x"};
    struct all e = {1, 1, 2, -INFINITY, NAN, false, BLUE, "with spaces\tand tabs"};

    for (size_t i = 0; i < sizeof(long_str) - 1; i++)
        long_str[i] = (char)('a' + i % 26);
    expect_all_round_trip(&a);
    expect_all_round_trip(&b);
    expect_all_round_trip(&c);
    expect_all_round_trip(&d);
    expect_all_round_trip(&e);
}

/* ---- hand-made metadata sections: the encoding spelled out byte by byte ---- */

struct bytes {
    uint8_t b[512];
    size_t n;
};

static void b_u32(struct bytes *x, uint32_t v)
{
    put_le(x->b + x->n, v, 4);
    x->n += 4;
}

static void b_raw(struct bytes *x, const void *p, size_t n)
{
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void b_name(struct bytes *x, const char *name, uint8_t type)
{
    b_u32(x, (uint32_t)strlen(name));
    b_raw(x, name, strlen(name));
    x->b[x->n++] = type;
}

/* A field with 8 value bytes. */
static void b_num(struct bytes *x, const char *name, uint8_t type, uint64_t bits)
{
    b_name(x, name, type);
    put_le(x->b + x->n, bits, 8);
    x->n += 8;
}

static void b_f64(struct bytes *x, const char *name, uint8_t type, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    b_num(x, name, type, bits);
}

/* A field with a length-prefixed string. */
static void b_str(struct bytes *x, const char *name, uint8_t type, const char *s)
{
    b_name(x, name, type);
    b_u32(x, (uint32_t)strlen(s));
    b_raw(x, s, strlen(s) + 1);
}

/* Writes @x as the file's metadata section, as it is. */
static void write_raw_meta(const struct bytes *x)
{
    tt_mfile_writer *w = NULL;

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_META, 1, (int64_t)x->n, x->b, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
}

/* The metadata section of the file at @path. */
static const uint8_t *meta_bytes(tt_mfile *f, int64_t *n)
{
    int64_t rows = 1;
    const void *d = NULL;

    *n = -1;
    cr_assert_eq(tt_mfile_get(f, "meta", TT_DT_META, &rows, n, &d, NULL), 0);
    return d;
}

Test(meta, the_encoding_is_the_documented_one)
{
    struct pair {
        int32_t k;
        enum colour c;
    } p = {-2, GREEN};
    const tt_mfield fields[] = {
        {"k", TT_MF_I32, TT_MF_AT(struct pair, k)},
        {"c", TT_MF_ENUM, TT_MF_AT(struct pair, c), .names = colours, .n_names = 3},
    };
    struct bytes want = {.n = 0};
    tt_mfile *f;
    int64_t n;
    const uint8_t *got;

    b_u32(&want, 2);
    b_num(&want, "k", TT_MF_I32, (uint64_t)-2);
    b_str(&want, "c", TT_MF_ENUM, "green");
    write_meta(fields, 2, &p);
    f = open_ok(path);
    got = meta_bytes(f, &n);
    cr_assert_eq(n, (int64_t)want.n);
    cr_assert(same_bits(got, want.b, want.n), "the bytes differ from the documented layout");
    cr_assert_eq(got[4 + 4 + 1 + 1], 0xfe, "-2 as two's complement, low byte first");
    cr_assert_eq(got[4 + 4 + 1 + 1 + 7], 0xff);
    tt_mfile_close(f);
}

/* Expects the metadata of the file at @path to be refused under @fields, naming @field. */
static void expect_meta_refused(const tt_mfield *fields, int n, const char *field,
                                const char *what)
{
    struct all dst, before;
    tt_err err = {0};
    int rc;

    memset(&dst, 0x5a, sizeof(dst));
    before = dst;
    rc = read_meta(fields, n, &dst, &err);
    cr_assert_eq(rc, TT_ECORRUPT, "%s: got %d (%s)", what, rc, err.message);
    cr_assert_not_null(strstr(err.message, path), "%s: '%s' lacks the path", what, err.message);
    if (field) {
        char quoted[80];
        snprintf(quoted, sizeof(quoted), "'%s'", field);
        cr_assert_not_null(strstr(err.message, quoted), "%s: '%s' lacks %s", what, err.message,
                           quoted);
        cr_assert_str_eq(err.field, field, "%s", what);
    }
    cr_assert(same_bits(&dst, &before, sizeof(dst)), "%s: the destination was written", what);
}

Test(meta, every_truncation_is_refused)
{
    struct all a = {1, 2, 3, 4, 5, true, BLUE, "five"};
    tt_mfile *f;
    int64_t n;
    uint8_t *copy;

    write_meta(all_fields, N_ALL, &a);
    f = open_ok(path);
    {
        const uint8_t *b = meta_bytes(f, &n);
        copy = malloc((size_t)n);
        memcpy(copy, b, (size_t)n);
    }
    tt_mfile_close(f);
    for (int64_t cut = 0; cut < n; cut++) {
        struct bytes x = {.n = 0};
        char what[64];
        b_raw(&x, copy, (size_t)cut);
        write_raw_meta(&x);
        snprintf(what, sizeof(what), "cut to %lld of %lld bytes", (long long)cut, (long long)n);
        expect_meta_refused(all_fields, N_ALL, NULL, what);
    }
    free(copy);
}

static const tt_mfield k_field[] = {{"k", TT_MF_I32, TT_MF_AT(struct all, i32), .lo = 1,
                                     .hi = 1024}};

Test(meta, lengths_past_the_end_and_absurd_counts_are_refused)
{
    struct bytes x = {.n = 0};

    b_u32(&x, 1);
    b_u32(&x, 1000); /* a name length past the end */
    b_raw(&x, "k", 1);
    x.b[x.n++] = TT_MF_I32;
    b_raw(&x, "\x07\0\0\0\0\0\0\0", 8);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, NULL, "name length past the end");

    x.n = 0;
    b_u32(&x, 1);
    b_u32(&x, 0); /* an empty name */
    x.b[x.n++] = TT_MF_I32;
    b_raw(&x, "\x07\0\0\0\0\0\0\0\0\0\0\0", 12);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, NULL, "empty name");

    x.n = 0;
    b_u32(&x, 1);
    b_name(&x, "s", TT_MF_STR);
    b_u32(&x, 0xfffffff0u); /* a string length past the end */
    b_raw(&x, "abc", 4);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "s", "string length past the end");

    x.n = 0;
    b_u32(&x, 0xffffffffu);
    b_num(&x, "k", TT_MF_I32, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, NULL, "count 2^32 - 1");

    x.n = 0;
    b_u32(&x, 2); /* two fields announced, one present */
    b_num(&x, "k", TT_MF_I32, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, NULL, "count larger than the fields present");

    x.n = 0;
    b_u32(&x, 1);
    b_num(&x, "k", TT_MF_I32, 7);
    b_raw(&x, "junk", 4);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, NULL, "bytes after the last field");
}

Test(meta, malformed_names_strings_and_types_are_refused)
{
    struct bytes x = {.n = 0};

    b_u32(&x, 1);
    b_num(&x, "a b", TT_MF_I32, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, NULL, "a name with a space");

    x.n = 0;
    b_u32(&x, 1);
    b_name(&x, "s", TT_MF_STR);
    b_u32(&x, 3);
    b_raw(&x, "abcd", 4); /* no NUL after the 3 bytes */
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "s", "string without its NUL");

    x.n = 0;
    b_u32(&x, 1);
    b_name(&x, "s", TT_MF_STR);
    b_u32(&x, 3);
    b_raw(&x, "a\0c\0", 4); /* a NUL inside */
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "s", "string with a NUL inside");

    x.n = 0;
    b_u32(&x, 1);
    b_num(&x, "x", 0, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "x", "type 0");

    x.n = 0;
    b_u32(&x, 1);
    b_num(&x, "x", 200, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "x", "type 200");
}

Test(meta, a_duplicate_field_is_refused)
{
    struct bytes x = {.n = 0};

    b_u32(&x, 2);
    b_num(&x, "k", TT_MF_I32, 7);
    b_num(&x, "k", TT_MF_I32, 8);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "k", "duplicate");
}

Test(meta, a_field_of_another_type_is_refused)
{
    struct bytes x = {.n = 0};

    b_u32(&x, 1);
    b_num(&x, "k", TT_MF_I64, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "k", "i64 read as i32");

    x.n = 0;
    b_u32(&x, 1);
    b_str(&x, "k", TT_MF_STR, "7");
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "k", "string read as i32");
}

Test(meta, a_missing_field_or_section_is_refused)
{
    struct bytes x = {.n = 0};
    tt_mfile_writer *w = NULL;
    uint8_t raw[4] = {0};

    b_u32(&x, 1);
    b_num(&x, "other", TT_MF_I32, 7);
    write_raw_meta(&x);
    expect_meta_refused(k_field, 1, "k", "missing field");

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    expect_meta_refused(k_field, 1, NULL, "no metadata section");

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_U8, 1, 4, raw, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    expect_meta_refused(k_field, 1, NULL, "a metadata section of raw bytes");
}

Test(meta, values_out_of_range_are_refused)
{
    const tt_mfield f32_field[] = {{"f", TT_MF_F32, TT_MF_AT(struct all, f32)}};
    const tt_mfield b_field[] = {{"b", TT_MF_BOOL, TT_MF_AT(struct all, flag)}};
    const tt_mfield u_field[] = {{"u", TT_MF_U64, TT_MF_AT(struct all, u64), .hi = 100}};
    const tt_mfield r_field[] = {{"r", TT_MF_F64, TT_MF_AT(struct all, f64), .lo = 0,
                                  .hi = 1}};
    const struct {
        const tt_mfield *fields;
        const char *name;
        uint8_t type;
        uint64_t bits;
        const char *what;
    } cases[] = {
        {k_field, "k", TT_MF_I32, 2000, "above hi"},
        {k_field, "k", TT_MF_I32, 0, "below lo"},
        {k_field, "k", TT_MF_I32, (uint64_t)-5, "negative"},
        {k_field, "k", TT_MF_I32, UINT64_C(1) << 40, "beyond int32"},
        {b_field, "b", TT_MF_BOOL, 2, "a bool of 2"},
        {u_field, "u", TT_MF_U64, 101, "u64 above hi"},
    };
    struct bytes x;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        x.n = 0;
        b_u32(&x, 1);
        b_num(&x, cases[i].name, cases[i].type, cases[i].bits);
        write_raw_meta(&x);
        expect_meta_refused(cases[i].fields, 1, cases[i].name, cases[i].what);
    }
    x.n = 0;
    b_u32(&x, 1);
    b_f64(&x, "f", TT_MF_F32, 1e300);
    write_raw_meta(&x);
    expect_meta_refused(f32_field, 1, "f", "a double too large for a float");
    x.n = 0;
    b_u32(&x, 1);
    b_f64(&x, "r", TT_MF_F64, 1.5);
    write_raw_meta(&x);
    expect_meta_refused(r_field, 1, "r", "f64 above hi");
}

Test(meta, nan_and_infinities_are_refused_where_not_allowed)
{
    const tt_mfield fields[] = {{"f", TT_MF_F64, TT_MF_AT(struct all, f64)}};
    const tt_mfield f32s[] = {{"f", TT_MF_F32, TT_MF_AT(struct all, f32), .lo = -1, .hi = 1}};
    const double bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    struct bytes x;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char what[32];
        x.n = 0;
        b_u32(&x, 1);
        b_f64(&x, "f", TT_MF_F64, bad[i]);
        write_raw_meta(&x);
        snprintf(what, sizeof(what), "f64 %g", bad[i]);
        expect_meta_refused(fields, 1, "f", what);
        x.n = 0;
        b_u32(&x, 1);
        b_f64(&x, "f", TT_MF_F32, bad[i]);
        write_raw_meta(&x);
        snprintf(what, sizeof(what), "f32 %g", bad[i]);
        expect_meta_refused(f32s, 1, "f", what);
    }
}

Test(meta, unknown_enum_names_and_values_outside_the_range_are_refused)
{
    const tt_mfield c_field[] = {
        {"c", TT_MF_ENUM, TT_MF_AT(struct all, colour), .names = colours, .n_names = 3}};
    const tt_mfield c_no_red[] = {{"c", TT_MF_ENUM, TT_MF_AT(struct all, colour),
                                   .names = colours, .n_names = 3, .lo = GREEN, .hi = BLUE}};
    const char *const bad[] = {"purple", "", "Red", "red ", "gree"};
    struct bytes x;
    struct all a;
    tt_err err = {0};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        x.n = 0;
        b_u32(&x, 1);
        b_str(&x, "c", TT_MF_ENUM, bad[i]);
        write_raw_meta(&x);
        expect_meta_refused(c_field, 1, "c", bad[i]);
    }
    x.n = 0;
    b_u32(&x, 1);
    b_str(&x, "c", TT_MF_ENUM, "red");
    write_raw_meta(&x);
    expect_meta_refused(c_no_red, 1, "c", "a name outside the accepted values");
    cr_assert_eq(read_meta(c_field, 1, &a, &err), 0, "%s", err.message);
    cr_assert_eq(a.colour, RED);
}

Test(meta, an_absent_optional_field_keeps_its_default)
{
    const tt_mfield fields[] = {
        {"i32", TT_MF_I32, TT_MF_AT(struct all, i32)},
        {"later", TT_MF_F64, TT_MF_AT(struct all, f64), .flags = TT_MF_OPTIONAL},
        {"name", TT_MF_STR, TT_MF_AT(struct all, str), .flags = TT_MF_OPTIONAL},
    };
    struct all in = {.i32 = 5, .f64 = 2.5, .str = "given"}, out = {.f64 = 9.75, .str = "dflt"};
    tt_err err = {0};

    write_meta(fields, 1, &in); /* an older writer: only the first field */
    cr_assert_eq(read_meta(fields, 3, &out, &err), 0, "%s", err.message);
    cr_assert_eq(out.i32, 5);
    cr_assert_eq(out.f64, 9.75, "absent: the default stays");
    cr_assert_str_eq(out.str, "dflt");

    write_meta(fields, 3, &in);
    cr_assert_eq(read_meta(fields, 3, &out, &err), 0, "%s", err.message);
    cr_assert_eq(out.f64, 2.5, "present: read");
}

Test(meta, unknown_fields_are_ignored)
{
    struct bytes x = {.n = 0};
    struct all a = {0};
    tt_err err = {0};

    b_u32(&x, 4);
    b_num(&x, "from_the_future", 42, 123); /* an unknown 8-byte type */
    b_num(&x, "k", TT_MF_I32, 7);
    b_str(&x, "future_text", 99, "an unknown string type");
    b_f64(&x, "ratio", TT_MF_F64, NAN); /* unknown name: not checked */
    write_raw_meta(&x);
    cr_assert_eq(read_meta(k_field, 1, &a, &err), 0, "%s", err.message);
    cr_assert_eq(a.i32, 7);
}

Test(meta, the_writer_refuses_bad_tables_and_values)
{
    const tt_mfield wrong_size[] = {{"i", TT_MF_I64, TT_MF_AT(struct all, i32)}};
    const tt_mfield twice[] = {{"i", TT_MF_I32, TT_MF_AT(struct all, i32)},
                               {"i", TT_MF_I32, TT_MF_AT(struct all, i32)}};
    const tt_mfield no_names[] = {{"c", TT_MF_ENUM, TT_MF_AT(struct all, colour)}};
    const tt_mfield bad_name[] = {{"a b", TT_MF_I32, TT_MF_AT(struct all, i32)}};
    const tt_mfield strict_f[] = {{"f", TT_MF_F64, TT_MF_AT(struct all, f64)}};
    const tt_mfield colour[] = {
        {"c", TT_MF_ENUM, TT_MF_AT(struct all, colour), .names = colours, .n_names = 3}};
    const tt_mfield str[] = {{"s", TT_MF_STR, TT_MF_AT(struct all, str)}};
    struct all a = {.i32 = 2000, .f64 = NAN, .colour = (enum colour)7, .str = NULL};
    tt_mfile_writer *w = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_create(path, "sample", CATALOG, &w, NULL), 0);
    cr_assert_eq(tt_mfile_put_meta(w, wrong_size, 1, &a, NULL), TT_EINVAL, "member size");
    cr_assert_eq(tt_mfile_put_meta(w, twice, 2, &a, NULL), TT_EINVAL, "duplicate");
    cr_assert_eq(tt_mfile_put_meta(w, no_names, 1, &a, NULL), TT_EINVAL, "enum without names");
    cr_assert_eq(tt_mfile_put_meta(w, bad_name, 1, &a, NULL), TT_EINVAL, "name with a space");
    cr_assert_eq(tt_mfile_put_meta(w, k_field, 1, &a, &err), TT_EINVAL, "out of range");
    cr_assert_str_eq(err.field, "k");
    cr_assert_not_null(strstr(err.message, "2000"), "%s", err.message);
    cr_assert_eq(tt_mfile_put_meta(w, strict_f, 1, &a, NULL), TT_EINVAL, "NaN");
    cr_assert_eq(tt_mfile_put_meta(w, colour, 1, &a, NULL), TT_EINVAL, "enum value 7");
    cr_assert_eq(tt_mfile_put_meta(w, str, 1, &a, NULL), TT_EINVAL, "NULL string");
    cr_assert_eq(tt_mfile_put_meta(w, k_field, -1, &a, NULL), TT_EINVAL, "negative count");
    tt_mfile_abort(w);
    cr_assert_eq(fx_dir_count(dir), 0);
}

Test(meta, the_reader_refuses_a_bad_table)
{
    const tt_mfield wrong_size[] = {{"k", TT_MF_F64, TT_MF_AT(struct all, i32)}};
    struct all a = {.i32 = 7};
    tt_err err = {0};

    write_meta(k_field, 1, &a);
    cr_assert_eq(read_meta(wrong_size, 1, &a, &err), TT_EINVAL, "%s", err.message);
}
