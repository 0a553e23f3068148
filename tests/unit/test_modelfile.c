/*
 * The model file container: round trips of every section type, refusal of damaged files
 * with a message naming the file, catalog checks in tt_model_load, and the atomic writer.
 */
#include <criterion/criterion.h>

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
    tt_mfile_writer *w = NULL;
    tt_model *l = NULL;
    tt_err err = {0};
    uint8_t meta[40] = {0}; /* the size of the popularity header record */

    cr_assert_eq(tt_mfile_create(path, "popularity", 0, &w, NULL), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_U8, 1, sizeof(meta), meta, NULL), 0);
    cr_assert_eq(tt_mfile_commit(w, NULL), 0);
    cr_assert_eq(tt_model_load(path, 0, &l, &err), TT_ECORRUPT);
    cr_assert_null(l);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
}
