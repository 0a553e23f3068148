/*
 * factors.h - factor tables: the user or the track factors of a matrix factorization, one
 * id and k numbers per row, as another system writes them (Spark MLlib's ALS userFactors
 * and itemFactors) and as `tunetrail export factors` writes them. A core module: the ids
 * are only strings here; which users and tracks they name is the importer's business
 * (docs/pipeline.md, "Factors trained elsewhere").
 *
 * Layouts read, told apart by the file's first bytes (the .npy magic) and the CSV header:
 *
 *   CSV, RFC 4180 (csv.h), UTF-8, a header row, then one row per id:
 *     id,f0,f1,...,f{k-1}   one column per factor, named f0.. in order (what export writes)
 *     id,features           the k numbers in one field, as Spark writes an array cast to a
 *                           string: "[0.1, 0.2, 0.3]" (quoted, since it holds commas); the
 *                           brackets are optional and the numbers may be separated by
 *                           commas, spaces or both ("0.1 0.2 0.3")
 *     Header names are compared case-insensitively; spaces around fields are dropped.
 *
 *   .npy (npy.h): a 2-D little-endian float32 or float64 array in C order, rows x k, with
 *     an ids file: one id per line (LF or CRLF, no header, no empty line), line i + 1 naming
 *     row i, as many lines as the array has rows.
 *
 * Numbers are decimal or hexadecimal floating point (strtod) and must be finite and within
 * the range of a 32-bit float; they are stored as the nearest float32, so a value printed
 * with 9 significant digits (%.9g, what export writes) reads back as the same float.
 *
 * Checked while reading, each error naming the file and the line (CSV, ids file) or the row
 * (.npy) and returned as TT_EPARSE: the header, the number of fields of each row (and of
 * numbers in a features field: every row as many as the first), each number, k in
 * 1..TT_FACTORS_K_MAX, empty and duplicate ids, at least one row, the ids file's line count.
 */
#ifndef TT_FACTORS_H
#define TT_FACTORS_H

#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"
#include "tt/ids.h"

/* Most factors a table may have: ALS's own bound. */
#define TT_FACTORS_K_MAX 1024

/* What a table was read from. */
enum tt_factors_layout {
    TT_FACTORS_CSV_COLUMNS, /* id,f0,...,f{k-1} */
    TT_FACTORS_CSV_LIST,    /* id,features */
    TT_FACTORS_NPY          /* a .npy array and an ids file */
};

/* "csv", "csv (id,features)", "npy": how a layout is named in messages and sidecars. */
const char *tt_factors_layout_name(enum tt_factors_layout l);

/* A table read into memory: caller-owned, released with tt_factors_release. */
typedef struct tt_factors {
    int64_t rows;
    int k;
    float *v;      /* rows x k, row-major */
    tt_ids *ids;   /* row i's id is tt_ids_name(ids, i) (ids are unique) */
    int64_t *line; /* row i's line in @where (1-based) */
    char *where;   /* the file naming the ids: the CSV file, or the ids file */
    char *path;    /* the file of numbers */
    enum tt_factors_layout layout;
    char dtype[4]; /* .npy: "<f4" or "<f8"; else "" */
} tt_factors;

/*
 * Reads the table at @path (CSV or .npy, above) into @out; @ids_path names the ids file of
 * a .npy table and must be NULL for a CSV one. On error @out holds nothing to release.
 * Errors: TT_EINVAL (a .npy file without ids file, or an ids file given for a CSV one),
 * TT_ENOTFOUND, TT_EIO, TT_EPARSE (a message "FILE:LINE: reason", or for a value of a .npy
 * array "FILE: row R (id 'x', IDS:LINE): reason").
 */
int tt_factors_read(const char *path, const char *ids_path, tt_factors *out, tt_err *err);
void tt_factors_release(tt_factors *t);

/* "FILE:LINE" of row @i's id into @buf (@cap bytes); returns @buf. */
const char *tt_factors_where(const tt_factors *t, int64_t i, char *buf, size_t cap);

/*
 * Writes @rows rows of @k factors (@v, row-major) named by @ids to @path as CSV with the
 * header id,f0,...,f{k-1}, each number printed %.9g (exact for float32), ids quoted when
 * they hold a comma, a quote or a line break. Atomic (temporary name, fsync, rename).
 * Errors: TT_EINVAL (k out of range), TT_EIO.
 */
int tt_factors_write_csv(const char *path, const char *const *ids, const float *v, int64_t rows,
                         int k, tt_err *err);

/*
 * Writes the same table as a float32 .npy array at @npy_path and its ids file at
 * @ids_path, each atomically. Errors: TT_EINVAL (k out of range, an id that is empty or
 * holds a line break: an ids file cannot carry it), TT_EIO.
 */
int tt_factors_write_npy(const char *npy_path, const char *ids_path, const char *const *ids,
                         const float *v, int64_t rows, int k, tt_err *err);

#endif
