/*
 * Factor tables (factors.h) and .npy arrays (npy.h): CSV in both layouts and .npy (float32
 * and float64) read back exactly what was written, and every malformed input is refused with
 * the file and the line or row that is wrong. Bad inputs are data: one row per case.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/factors.h"
#include "tt/npy.h"

static char dir[64];

static void setup(void)
{
    fx_tmpdir(dir);
}

static void teardown(void)
{
    fx_rmtree(dir);
}

TestSuite(factors, .init = setup, .fini = teardown);

/* Writes @n bytes of @data to @name in the test's directory; returns the path (static). */
static const char *put_file(const char *name, const void *data, size_t n)
{
    static char path[8][256];
    static int next;
    char *p = path[next++ % 8];
    FILE *f;

    fx_path(p, 256, dir, name);
    f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    fclose(f);
    return p;
}

static const char *put_text(const char *name, const char *text)
{
    return put_file(name, text, strlen(text));
}

/*
 * A .npy file with header dict @dict (padded as numpy pads it) and @n bytes of data;
 * version @major.0.
 */
static const char *put_npy(const char *name, int major, const char *dict, const void *data,
                           size_t n)
{
    size_t pre = major == 1 ? 10 : 12, len = strlen(dict) + 1, total;
    unsigned char *buf;

    len += (64 - (pre + len) % 64) % 64;
    total = pre + len + n;
    buf = tt_calloc(1, total);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    if (major == 1) {
        buf[8] = (unsigned char)(len & 0xff);
        buf[9] = (unsigned char)(len >> 8);
    } else {
        for (int i = 0; i < 4; i++)
            buf[8 + i] = (unsigned char)(len >> (8 * i));
    }
    memset(buf + pre, ' ', len);
    memcpy(buf + pre, dict, strlen(dict));
    buf[pre + len - 1] = '\n';
    if (n)
        memcpy(buf + pre + len, data, n);
    name = put_file(name, buf, total);
    free(buf);
    return name;
}

static void read_ok(const char *path, const char *ids, tt_factors *t)
{
    tt_err err = {0};
    int rc = tt_factors_read(path, ids, t, &err);

    cr_assert_eq(rc, 0, "%s: %s", path, tt_err_msg(&err, rc));
}

/* The table's rows as "id:v0,v1;" with %g, to compare with a literal. */
static char *render(const tt_factors *t)
{
    size_t cap = 4096, n = 0;
    char *out = tt_calloc(1, cap);

    for (int64_t i = 0; i < t->rows; i++) {
        n += (size_t)snprintf(out + n, cap - n, "%s:", tt_ids_name(t->ids, (int32_t)i));
        for (int j = 0; j < t->k; j++)
            n += (size_t)snprintf(out + n, cap - n, "%s%g", j ? "," : "", t->v[i * t->k + j]);
        n += (size_t)snprintf(out + n, cap - n, ";");
        cr_assert_lt(n, cap);
    }
    return out;
}

static void expect_table(const char *path, const char *ids, int k, const char *want)
{
    tt_factors t;
    char *got;

    read_ok(path, ids, &t);
    cr_assert_eq(t.k, k, "%s: k %d", path, t.k);
    got = render(&t);
    cr_expect_str_eq(got, want, "%s", path);
    free(got);
    tt_factors_release(&t);
}

/* Values that print differently at 8 digits and need 9 to come back exactly. */
static void awkward_values(float *v, int n)
{
    tt_rng r;

    tt_rng_seed(&r, 5, 0);
    for (int i = 0; i < n; i++)
        v[i] = (float)((tt_rng_uniform(&r) - 0.5) * pow(10.0, (double)(i % 9) - 4.0));
    v[0] = 0.1f;
    v[1] = -1.17549435e-38f; /* the smallest normal */
    v[2] = 3.40282347e+38f;  /* the largest float */
    v[3] = 1e-45f;           /* a subnormal */
    v[4] = -0.0f;
}

Test(factors, csv_written_reads_back_bit_for_bit)
{
    const char *ids[] = {"u1", "user, with comma", "q\"uote", "last"};
    float v[4 * 7];
    char path[256];
    tt_factors t;

    awkward_values(v, 28);
    fx_path(path, sizeof(path), dir, "users.csv");
    cr_assert_eq(tt_factors_write_csv(path, ids, v, 4, 7, NULL), 0);
    read_ok(path, NULL, &t);
    cr_assert_eq(t.layout, TT_FACTORS_CSV_COLUMNS);
    cr_assert_eq(t.rows, 4);
    cr_assert_eq(t.k, 7);
    cr_assert_eq(memcmp(t.v, v, sizeof(v)), 0, "values differ after %%.9g");
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(tt_ids_name(t.ids, i), ids[i]);
        cr_assert_eq(t.line[i], i + 2, "row %d is on line %lld", i, (long long)t.line[i]);
    }
    tt_factors_release(&t);
}

Test(factors, npy_written_reads_back_bit_for_bit)
{
    const char *ids[] = {"t1", "t2", "t3"};
    float v[3 * 5];
    char npy[256], txt[256];
    tt_factors t;
    tt_npy *a;

    awkward_values(v, 15);
    fx_path(npy, sizeof(npy), dir, "tracks.npy");
    fx_path(txt, sizeof(txt), dir, "track_ids.txt");
    cr_assert_eq(tt_factors_write_npy(npy, txt, ids, v, 3, 5, NULL), 0);
    /* numpy.save's layout: version 1.0, the data on a 64-byte boundary. */
    cr_assert_eq((fx_file_size(npy) - (int64_t)sizeof(v)) % 64, 0);
    cr_assert_eq(tt_npy_open(npy, &a, NULL), 0);
    cr_assert_eq(tt_npy_rows(a), 3);
    cr_assert_eq(tt_npy_cols(a), 5);
    cr_assert_str_eq(tt_npy_dtype(a), "<f4");
    tt_npy_close(a);
    read_ok(npy, txt, &t);
    cr_assert_eq(t.layout, TT_FACTORS_NPY);
    cr_assert_str_eq(t.dtype, "<f4");
    cr_assert_eq(memcmp(t.v, v, sizeof(v)), 0);
    cr_assert_str_eq(tt_ids_name(t.ids, 2), "t3");
    cr_assert_eq(t.line[2], 3);
    tt_factors_release(&t);
}

Test(factors, npy_float64_and_versions_2_and_3_are_read)
{
    double d[] = {0.5, -2.25, 1e-3, 4.0, 0.1, -0.0};
    const char *ids = put_text("ids.txt", "a\r\nb\r\nc");

    expect_table(put_npy("v1.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }",
                         d, sizeof(d)),
                 ids, 2, "a:0.5,-2.25;b:0.001,4;c:0.1,-0;");
    expect_table(put_npy("v2.npy", 2, "{'shape': (3, 2), 'fortran_order': False, 'descr': '<f8'}",
                         d, sizeof(d)),
                 ids, 2, "a:0.5,-2.25;b:0.001,4;c:0.1,-0;");
    expect_table(put_npy("v3.npy", 3,
                         "{\"descr\": \"<f8\", \"fortran_order\": False, "
                         "\"shape\": (3L, 2L),}",
                         d, sizeof(d)),
                 ids, 2, "a:0.5,-2.25;b:0.001,4;c:0.1,-0;");
}

Test(factors, spark_features_lists_and_spaces)
{
    expect_table(put_text("spark.csv", "id,features\n"
                                       "7,\"[0.5, -1.0, 2.5E-1]\"\n"
                                       "8,\"[1,2,3]\"\n"
                                       "9,0.1 0.2 0.3\n"
                                       "10,\"  [ 4 ,5,  6 ] \"\n"),
                 NULL, 3, "7:0.5,-1,0.25;8:1,2,3;9:0.1,0.2,0.3;10:4,5,6;");
    expect_table(put_text("cols.csv", "ID, F0 ,f1\r\nx, 1.5 ,-2\r\n\r\ny,3,4\r\n"), NULL, 2,
                 "x:1.5,-2;y:3,4;");
}

/* One malformed input each: the file's text, and what the message must contain. */
static const struct {
    const char *what, *text, *needle;
} bad_csv[] = {
    {"empty file", "", "empty"},
    {"header only", "id,f0,f1\n", "no rows after the header"},
    {"no id column", "user,f0\nu,1\n", ":1: the header must begin with 'id'"},
    {"misnamed factor column", "id,f0,f2\nu,1,2\n", ":1: header column 3 is 'f2', expected 'f1'"},
    {"no factor column", "id\nu\n", ":1: 0 factor columns"},
    {"too few fields", "id,f0,f1,f2\nu,1,2,3\nv,1,2\n",
     ":3: 3 fields, the header has 4 (id and 3 factors)"},
    {"too many fields", "id,f0\nu,1\nv,1,2\n", ":3: 3 fields, the header has 2"},
    {"not a number", "id,f0,f1\nu,1,x1\n", ":2: f1 ('x1') is not a number"},
    {"empty number", "id,f0,f1\nu,1,\n", ":2: f1 ('') is not a number"},
    {"NaN", "id,f0,f1\nu,1,2\nv,nan,2\n", ":3: f0 is not finite (NaN)"},
    {"infinity", "id,f0,f1\nu,1,-inf\n", ":2: f1 is not finite (-inf)"},
    {"beyond float", "id,f0\nu,1e39\n", ":2: f0 (1e+39) is beyond the range of a 32-bit float"},
    {"duplicate id", "id,f0\na,1\nb,2\na,3\n", ":4: duplicate id 'a' (first on line 2)"},
    {"empty id", "id,f0\na,1\n,2\n", ":3: empty id"},
    {"list length differs", "id,features\na,\"[1, 2, 3]\"\nb,\"[1, 2]\"\n",
     ":3: 2 factors, the first row (line 2) has 3"},
    {"list unbalanced", "id,features\na,\"[1, 2\"\n", ":2: features: unbalanced brackets"},
    {"list junk", "id,features\na,\"[1, two]\"\n", ":2: features: number 1 ('two]') is not"},
    {"list gap", "id,features\na,\"1,,2\"\n", ":2: features: a number is missing after a comma"},
    {"list unquoted", "id,features\na,[1, 2]\n", ":2: 3 fields, the header has 2"},
    {"list empty", "id,features\na,[]\n", ":2: 0 factors: accepted 1..1024"},
    {"list NaN", "id,features\na,\"[1, NaN]\"\n", ":2: f1 is not finite (NaN)"},
};

Test(factors, malformed_csv_is_refused_with_its_line)
{
    for (size_t i = 0; i < sizeof(bad_csv) / sizeof(bad_csv[0]); i++) {
        const char *path = put_text("bad.csv", bad_csv[i].text);
        tt_factors t;
        tt_err err = {0};
        int rc = tt_factors_read(path, NULL, &t, &err);

        cr_expect_eq(rc, TT_EPARSE, "%s: accepted (rc %d)", bad_csv[i].what, rc);
        cr_expect(strstr(err.message, path) == err.message, "%s: '%s' does not name the file",
                  bad_csv[i].what, err.message);
        cr_expect(strstr(err.message, bad_csv[i].needle), "%s: '%s' lacks '%s'", bad_csv[i].what,
                  err.message, bad_csv[i].needle);
        cr_expect_null(t.v);
    }
}

Test(factors, too_many_factor_columns_are_refused)
{
    size_t cap = 16 * 1100, n = 0;
    char *text = tt_malloc(cap);
    tt_err err = {0};
    tt_factors t;

    n += (size_t)snprintf(text, cap, "id");
    for (int j = 0; j < 1025; j++)
        n += (size_t)snprintf(text + n, cap - n, ",f%d", j);
    snprintf(text + n, cap - n, "\n");
    cr_assert_eq(tt_factors_read(put_text("wide.csv", text), NULL, &t, &err), TT_EPARSE);
    cr_assert(strstr(err.message, ":1: 1025 factor columns: accepted 1..1024"), "%s", err.message);
    free(text);
}

static const float two_rows[] = {1, 2, 3, 4};

/* .npy inputs refused whole: the header dict, the data bytes, what the message says. */
static const struct {
    const char *what, *dict;
    size_t bytes;
    const char *needle;
} bad_npy[] = {
    {"truncated data", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 13,
     "truncated: shape (2, 2) of <f4 needs 16 bytes of data, the file holds 13"},
    {"extra data", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", 16,
     "8 bytes after the data of shape (1, 2)"},
    {"big-endian", "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", 16,
     "dtype '>f4' is not supported"},
    {"integers", "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", 16,
     "dtype '<i4' is not supported"},
    {"Fortran order", "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16,
     "Fortran order"},
    {"1-D", "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 16,
     "1 dimension: a 2-D array"},
    {"3-D", "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 2), }", 16, "3 dimensions"},
    {"missing key", "{'descr': '<f4', 'shape': (2, 2), }", 16, "are required"},
    {"unknown key", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", 16,
     "header key 'x' is unexpected"},
    {"repeated key", "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2)}",
     16, "header key 'descr' is unexpected or repeated"},
    {"not a dict", "('<f4', False, (2, 2))", 16, "not a dict"},
    {"no factors", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }", 0,
     "0 factors (columns): accepted 1..1024"},
};

Test(factors, malformed_npy_is_refused_naming_the_problem)
{
    const char *ids = put_text("ids.txt", "a\nb\n");

    for (size_t i = 0; i < sizeof(bad_npy) / sizeof(bad_npy[0]); i++) {
        unsigned char data[32] = {0};
        const char *path;
        tt_factors t;
        tt_err err = {0};
        int rc;

        memcpy(data, two_rows, sizeof(two_rows));
        path = put_npy("bad.npy", 1, bad_npy[i].dict, data, bad_npy[i].bytes);
        rc = tt_factors_read(path, ids, &t, &err);
        cr_expect_eq(rc, TT_EPARSE, "%s: accepted (rc %d)", bad_npy[i].what, rc);
        cr_expect(strncmp(err.message, path, strlen(path)) == 0,
                  "%s: '%s' does not name the "
                  "file",
                  bad_npy[i].what, err.message);
        cr_expect(strstr(err.message, bad_npy[i].needle), "%s: '%s' lacks '%s'", bad_npy[i].what,
                  err.message, bad_npy[i].needle);
    }
}

Test(factors, npy_values_and_ids_are_checked_with_row_and_line)
{
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    float v[] = {1, 2, 3, NAN};
    const char *good = put_npy("good.npy", 1, dict, two_rows, sizeof(two_rows));
    const char *nan = put_npy("nan.npy", 1, dict, v, sizeof(v));
    tt_factors t;
    tt_err err = {0};

    cr_assert_eq(tt_factors_read(nan, put_text("ids.txt", "a\nb\n"), &t, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "nan.npy: row 1 (id 'b', "), "%s", err.message);
    cr_assert(strstr(err.message, "ids.txt:2): factor 1 is not finite (NaN)"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_factors_read(good, put_text("few.txt", "a\n"), &t, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "few.txt: 1 ids for the 2 rows of"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_factors_read(good, put_text("dup.txt", "a\na\n"), &t, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "dup.txt:2: duplicate id 'a' (first on line 1)"), "%s",
              err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_factors_read(good, put_text("gap.txt", "a\n\nb\n"), &t, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "gap.txt:2: empty id"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_factors_read(good, NULL, &t, &err), TT_EINVAL);
    cr_assert(strstr(err.message, "its ids file is needed"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_factors_read(put_text("x.csv", "id,f0\na,1\n"), "ids.txt", &t, &err),
                 TT_EINVAL);
    tt_err_clear(&err);
    cr_assert_eq(tt_factors_read("/nonexistent/u.csv", NULL, &t, &err), TT_ENOTFOUND);
}

Test(factors, npy_versions_and_magic_are_checked)
{
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
    const char *p = put_npy("v4.npy", 4, dict, two_rows, sizeof(two_rows));
    tt_npy *a = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_npy_open(p, &a, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "format version 4.0 is not supported"), "%s", err.message);
    cr_assert_null(a);
    tt_err_clear(&err);
    cr_assert_eq(tt_npy_open(put_text("plain.npy", "id,f0\n"), &a, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "not a .npy file"), "%s", err.message);
    cr_assert_eq(tt_npy_sniff(put_text("short", "\x93N"), NULL), 0);
    cr_assert_eq(tt_npy_sniff(p, NULL), 1);
    cr_assert_eq(tt_npy_sniff("/nonexistent.npy", NULL), TT_ENOTFOUND);
}
