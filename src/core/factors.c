/*
 * Factor tables in CSV and .npy (include/tt/factors.h).
 *
 * Rows are appended to growing arrays as they are read, ids interned as they come: a
 * duplicate is the id whose dense number is not its row's, so it is caught on its own line
 * with the line of the first one. Every problem stops the read at once; the importer needs
 * the whole table or nothing.
 */
#include "tt/core.h"
#include "tt/csv.h"
#include "tt/factors.h"
#include "tt/fileio.h"
#include "tt/npy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const layout_names[] = {"csv", "csv (id,features)", "npy"};

const char *tt_factors_layout_name(enum tt_factors_layout l)
{
    return (unsigned)l < 3 ? layout_names[l] : "?";
}

/* Growth state of a table being read. */
struct build {
    tt_factors *t;
    size_t vcap, lcap;
};

static void build_init(struct build *b, tt_factors *t, const char *path, const char *where)
{
    memset(t, 0, sizeof(*t));
    memset(b, 0, sizeof(*b));
    b->t = t;
    t->ids = tt_ids_new();
    t->path = tt_strdup(path);
    t->where = tt_strdup(where);
}

void tt_factors_release(tt_factors *t)
{
    if (!t)
        return;
    free(t->v);
    free(t->line);
    free(t->where);
    free(t->path);
    tt_ids_free(t->ids);
    memset(t, 0, sizeof(*t));
}

const char *tt_factors_where(const tt_factors *t, int64_t i, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%lld", t->where, (long long)(i >= 0 && i < t->rows ? t->line[i] : 0));
    return buf;
}

static int at_line(const char *file, int64_t line, tt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* TT_EPARSE with "FILE:LINE: reason". */
static int at_line(const char *file, int64_t line, tt_err *err, const char *fmt, ...)
{
    char why[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return tt_err_set(err, TT_EPARSE, "%s:%lld: %s", file, (long long)line, why);
}

/*
 * Appends the id of the next row, found on @line of t->where; the row's numbers follow
 * (row_values). Empty and duplicate ids are refused there and then.
 */
static int add_id(struct build *b, const char *id, size_t len, int64_t line, tt_err *err)
{
    tt_factors *t = b->t;
    int32_t dense;

    if (len == 0)
        return at_line(t->where, line, err, "empty id");
    if (t->rows >= INT32_MAX - 1)
        return at_line(t->where, line, err, "more than %d rows", INT32_MAX - 1);
    dense = tt_ids_intern(t->ids, id, len);
    if (dense != t->rows)
        return at_line(t->where, line, err, "duplicate id '%.*s' (first on line %lld)",
                       (int)(len < 80 ? len : 80), id, (long long)t->line[dense]);
    TT_GROW(t->line, b->lcap, (size_t)t->rows + 1);
    t->line[t->rows++] = line;
    return 0;
}

/* Room for the k numbers of the row just added; returns where they go. */
static float *row_values(struct build *b)
{
    tt_factors *t = b->t;

    TT_GROW(t->v, b->vcap, (size_t)t->rows * t->k);
    return t->v + (size_t)(t->rows - 1) * t->k;
}

/*
 * One number as the nearest float32: NULL when it has one, else why not (in @why). A value
 * a little beyond FLT_MAX that rounds to it is fine (that is how %.9g prints FLT_MAX); one
 * that rounds to an infinity is not.
 */
static const char *to_float(double d, float *out, char *why, size_t cap)
{
    float f = (float)d;

    if (!isfinite(d)) {
        snprintf(why, cap, "is not finite (%s)", isnan(d) ? "NaN" : d > 0 ? "inf" : "-inf");
        return why;
    }
    if (!isfinite(f)) {
        snprintf(why, cap, "(%g) is beyond the range of a 32-bit float", d);
        return why;
    }
    *out = f;
    return NULL;
}

/* ---- CSV ---- */

/* Parses the whole of @s as one number into *@d. */
static bool parse_number(const char *s, double *d)
{
    char *end;

    errno = 0;
    *d = strtod(s, &end);
    /* ERANGE on underflow is fine (the nearest float is 0 or a subnormal); on overflow the
     * value is an infinity and to_float says so. */
    return end != s && *end == '\0';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * The numbers of a features field into @vals (at most @max): "[a, b, c]", "a b c", "a,b,c",
 * brackets both or neither. Returns the count, or -1 with @why set.
 */
static int parse_list(const char *s, double *vals, int max, char *why, size_t cap)
{
    size_t len = strlen(s);
    const char *p = s, *end = s + len;
    int n = 0;

    if (len > 0 && (s[0] == '[') != (s[len - 1] == ']')) {
        snprintf(why, cap, "features: unbalanced brackets");
        return -1;
    }
    if (len > 0 && s[0] == '[') {
        p++;
        end--;
    }
    for (;;) {
        char *e;
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        if (n == max) {
            snprintf(why, cap, "features: more than %d numbers", max);
            return -1;
        }
        vals[n] = strtod(p, &e);
        if (e == p || e > end) {
            snprintf(why, cap, "features: number %d ('%.20s') is not a number", n, p);
            return -1;
        }
        n++;
        for (p = e; p < end && is_space(*p); p++)
            ;
        if (p < end && *p == ',') {
            p++;
            while (p < end && is_space(*p))
                p++;
            if (p == end || *p == ',') {
                snprintf(why, cap, "features: a number is missing after a comma");
                return -1;
            }
        } else if (p < end && p == e) {
            snprintf(why, cap, "features: '%.20s' after number %d", p, n - 1);
            return -1;
        }
    }
    return n;
}

/* The header: "id,f0,...,f{k-1}" (sets t->k) or "id,features" (k comes with the first row). */
static int csv_header(tt_csv *c, tt_factors *t, tt_err *err)
{
    int nf = tt_csv_nfields(c);
    char want[16];

    if (strcasecmp(tt_csv_field(c, 0), "id") != 0)
        return at_line(t->where, tt_csv_line(c), err,
                       "the header must begin with 'id' (id,f0,f1,... or id,features), not "
                       "'%.40s'",
                       tt_csv_field(c, 0));
    if (nf == 2 && strcasecmp(tt_csv_field(c, 1), "features") == 0) {
        t->layout = TT_FACTORS_CSV_LIST;
        return 0;
    }
    t->layout = TT_FACTORS_CSV_COLUMNS;
    if (nf < 2 || nf - 1 > TT_FACTORS_K_MAX)
        return at_line(t->where, tt_csv_line(c), err, "%d factor columns: accepted 1..%d", nf - 1,
                       TT_FACTORS_K_MAX);
    for (int j = 1; j < nf; j++) {
        snprintf(want, sizeof(want), "f%d", j - 1);
        if (strcasecmp(tt_csv_field(c, j), want) != 0)
            return at_line(t->where, tt_csv_line(c), err,
                           "header column %d is '%.40s', expected '%s' (id,f0,f1,... or "
                           "id,features)",
                           j + 1, tt_csv_field(c, j), want);
    }
    t->k = nf - 1;
    return 0;
}

static int csv_row_columns(struct build *b, tt_csv *c, tt_err *err)
{
    tt_factors *t = b->t;
    int nf = tt_csv_nfields(c), rc;
    char why[160];
    float *row;

    if (nf != t->k + 1)
        return at_line(t->where, tt_csv_line(c), err,
                       "%d fields, the header has %d (id and %d factors)", nf, t->k + 1, t->k);
    rc = add_id(b, tt_csv_field(c, 0), tt_csv_field_len(c, 0), tt_csv_line(c), err);
    if (rc < 0)
        return rc;
    row = row_values(b);
    for (int j = 0; j < t->k; j++) {
        const char *s = tt_csv_field(c, j + 1);
        double d;
        if (!parse_number(s, &d))
            return at_line(t->where, tt_csv_line(c), err, "f%d ('%.40s') is not a number", j, s);
        if (to_float(d, &row[j], why, sizeof(why)))
            return at_line(t->where, tt_csv_line(c), err, "f%d %s", j, why);
    }
    return 0;
}

static int csv_row_list(struct build *b, tt_csv *c, double *vals, int64_t *first, tt_err *err)
{
    tt_factors *t = b->t;
    int nf = tt_csv_nfields(c), n, rc;
    char why[160];
    float *row;

    if (nf != 2)
        return at_line(t->where, tt_csv_line(c), err,
                       "%d fields, the header has 2 (id,features: quote the list)", nf);
    n = parse_list(tt_csv_field(c, 1), vals, TT_FACTORS_K_MAX + 1, why, sizeof(why));
    if (n < 0)
        return at_line(t->where, tt_csv_line(c), err, "%s", why);
    if (t->rows == 0 && (n < 1 || n > TT_FACTORS_K_MAX))
        return at_line(t->where, tt_csv_line(c), err, "%d factors: accepted 1..%d", n,
                       TT_FACTORS_K_MAX);
    if (t->rows == 0) {
        t->k = n;
        *first = tt_csv_line(c);
    } else if (n != t->k) {
        return at_line(t->where, tt_csv_line(c), err,
                       "%d factors, the first row (line %lld) "
                       "has %d",
                       n, (long long)*first, t->k);
    }
    rc = add_id(b, tt_csv_field(c, 0), tt_csv_field_len(c, 0), tt_csv_line(c), err);
    if (rc < 0)
        return rc;
    row = row_values(b);
    for (int j = 0; j < t->k; j++)
        if (to_float(vals[j], &row[j], why, sizeof(why)))
            return at_line(t->where, tt_csv_line(c), err, "f%d %s", j, why);
    return 0;
}

static int read_csv(struct build *b, const char *path, tt_err *err)
{
    tt_factors *t = b->t;
    double *vals = tt_malloc((TT_FACTORS_K_MAX + 1) * sizeof(double));
    int64_t first = 0;
    tt_csv *c;
    int rc = tt_csv_open(path, TT_CSV_TRIM, &c, err);

    if (rc < 0) {
        free(vals);
        return rc;
    }
    rc = tt_csv_next(c, err);
    if (rc == 0)
        rc = tt_err_set(err, TT_EPARSE,
                        "%s: empty: a header (id,f0,f1,... or id,features) "
                        "and one row per id are needed",
                        path);
    if (rc > 0)
        rc = csv_header(c, t, err);
    while (rc == 0 && (rc = tt_csv_next(c, err)) > 0)
        rc = t->layout == TT_FACTORS_CSV_LIST ? csv_row_list(b, c, vals, &first, err)
                                              : csv_row_columns(b, c, err);
    if (rc == 0 && t->rows == 0)
        rc = tt_err_set(err, TT_EPARSE, "%s: no rows after the header", path);
    tt_csv_close(c);
    free(vals);
    return rc;
}

/* ---- .npy and its ids file ---- */

/* One id per line; "\r\n" and a missing last newline are fine, an empty line is not. */
static int read_ids(struct build *b, const char *path, tt_err *err)
{
    FILE *f = fopen(path, "rb");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t no = 0;
    int rc = 0;

    if (!f)
        return tt_err_set(err, errno == ENOENT ? TT_ENOTFOUND : TT_EIO, "%s: %s", path,
                          strerror(errno));
    while (rc == 0 && (n = getline(&line, &cap, f)) >= 0) {
        no++;
        if (n > 0 && line[n - 1] == '\n')
            n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (memchr(line, '\0', (size_t)n))
            rc = at_line(path, no, err, "a NUL byte");
        else
            rc = add_id(b, line, (size_t)n, no, err);
    }
    if (rc == 0 && ferror(f))
        rc = tt_err_set(err, TT_EIO, "%s: %s", path, strerror(errno));
    free(line);
    fclose(f);
    return rc;
}

static int npy_values(struct build *b, tt_npy *a, tt_err *err)
{
    tt_factors *t = b->t;
    double *row = tt_malloc((size_t)t->k * sizeof(double));
    char why[160];
    int rc = 0;

    TT_GROW(t->v, b->vcap, (size_t)t->rows * t->k);
    for (int64_t i = 0; rc == 0 && i < t->rows; i++) {
        float *out = t->v + (size_t)i * t->k;
        rc = tt_npy_read_row(a, row, err);
        for (int j = 0; rc == 0 && j < t->k; j++)
            if (to_float(row[j], &out[j], why, sizeof(why)))
                rc = tt_err_set(err, TT_EPARSE, "%s: row %lld (id '%.80s', %s:%lld): factor %d %s",
                                t->path, (long long)i, tt_ids_name(t->ids, (int32_t)i), t->where,
                                (long long)t->line[i], j, why);
    }
    free(row);
    return rc;
}

static int read_npy(struct build *b, const char *path, const char *ids_path, tt_err *err)
{
    tt_factors *t = b->t;
    tt_npy *a;
    int rc = tt_npy_open(path, &a, err);

    if (rc < 0)
        return rc;
    t->layout = TT_FACTORS_NPY;
    memcpy(t->dtype, tt_npy_dtype(a), sizeof(t->dtype));
    if (tt_npy_cols(a) < 1 || tt_npy_cols(a) > TT_FACTORS_K_MAX)
        rc = tt_err_set(err, TT_EPARSE, "%s: %lld factors (columns): accepted 1..%d", path,
                        (long long)tt_npy_cols(a), TT_FACTORS_K_MAX);
    else if (tt_npy_rows(a) < 1)
        rc = tt_err_set(err, TT_EPARSE, "%s: no rows", path);
    if (rc == 0)
        rc = read_ids(b, ids_path, err);
    if (rc == 0 && t->rows != tt_npy_rows(a))
        rc = tt_err_set(err, TT_EPARSE, "%s: %lld ids for the %lld rows of %s", ids_path,
                        (long long)t->rows, (long long)tt_npy_rows(a), path);
    if (rc == 0) {
        t->k = (int)tt_npy_cols(a);
        rc = npy_values(b, a, err);
    }
    tt_npy_close(a);
    return rc;
}

int tt_factors_read(const char *path, const char *ids_path, tt_factors *out, tt_err *err)
{
    struct build b;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = tt_npy_sniff(path, err);
    if (rc < 0)
        return rc;
    if (rc == 1 && !ids_path)
        return tt_err_set(err, TT_EINVAL,
                          "%s is a .npy array: its ids file is needed too (one "
                          "id per line, line i + 1 naming row i)",
                          path);
    if (rc == 0 && ids_path)
        return tt_err_set(err, TT_EINVAL,
                          "%s is not a .npy array: an ids file goes only with "
                          "one (a CSV table holds its ids)",
                          path);
    build_init(&b, out, path, rc == 1 ? ids_path : path);
    rc = rc == 1 ? read_npy(&b, path, ids_path, err) : read_csv(&b, path, err);
    if (rc < 0)
        tt_factors_release(out);
    return rc;
}

/* ---- writing ---- */

/* Appends @s to the buffer *@buf (length *@n, capacity *@cap). */
static void put(char **buf, size_t *n, size_t *cap, const char *s, size_t len)
{
    TT_GROW(*buf, *cap, *n + len + 1);
    memcpy(*buf + *n, s, len);
    *n += len;
}

/* An id as a CSV field: quoted, quotes doubled, when it holds a comma, quote or line break. */
static void put_id(char **buf, size_t *n, size_t *cap, const char *id)
{
    if (!strpbrk(id, ",\"\r\n")) {
        put(buf, n, cap, id, strlen(id));
        return;
    }
    put(buf, n, cap, "\"", 1);
    for (const char *p = id; *p; p++)
        put(buf, n, cap, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
    put(buf, n, cap, "\"", 1);
}

static int check_k(const char *path, int k, int64_t rows, tt_err *err)
{
    if (k < 1 || k > TT_FACTORS_K_MAX || rows < 0)
        return tt_err_set(err, TT_EINVAL, "%s: %d factors x %lld rows: factors must be 1..%d", path,
                          k, (long long)rows, TT_FACTORS_K_MAX);
    return 0;
}

int tt_factors_write_csv(const char *path, const char *const *ids, const float *v, int64_t rows,
                         int k, tt_err *err)
{
    char *buf = NULL, num[48];
    size_t n = 0, cap = 0;
    tt_atomic_file af;
    int rc = check_k(path, k, rows, err);

    if (rc < 0 || (rc = tt_atomic_open(&af, path, err)) < 0)
        return rc;
    put(&buf, &n, &cap, "id", 2);
    for (int j = 0; j < k; j++)
        put(&buf, &n, &cap, num, (size_t)snprintf(num, sizeof(num), ",f%d", j));
    put(&buf, &n, &cap, "\n", 1);
    for (int64_t i = 0; rc == 0 && i < rows; i++) {
        put_id(&buf, &n, &cap, ids[i]);
        for (int j = 0; j < k; j++)
            put(&buf, &n, &cap, num,
                (size_t)snprintf(num, sizeof(num), ",%.9g", (double)v[(size_t)i * k + j]));
        put(&buf, &n, &cap, "\n", 1);
        if (n >= (1u << 20) || i + 1 == rows) {
            rc = tt_atomic_write(&af, buf, n, err);
            n = 0;
        }
    }
    if (rc == 0 && n > 0)
        rc = tt_atomic_write(&af, buf, n, err);
    free(buf);
    if (rc < 0) {
        tt_atomic_abort(&af);
        return rc;
    }
    return tt_atomic_commit(&af, err);
}

static int write_ids(const char *path, const char *const *ids, int64_t rows, tt_err *err)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;

    for (int64_t i = 0; rc == 0 && i < rows; i++) {
        if (!ids[i][0] || strpbrk(ids[i], "\r\n"))
            rc = tt_err_set(err, TT_EINVAL,
                            "%s: id '%.80s' of row %lld is empty or holds a "
                            "line break: an ids file cannot carry it (use csv)",
                            path, ids[i], (long long)i);
        put(&buf, &n, &cap, ids[i], strlen(ids[i]));
        put(&buf, &n, &cap, "\n", 1);
    }
    if (rc == 0)
        rc = tt_write_file_atomic(path, buf ? buf : "", n, err);
    free(buf);
    return rc;
}

int tt_factors_write_npy(const char *npy_path, const char *ids_path, const char *const *ids,
                         const float *v, int64_t rows, int k, tt_err *err)
{
    int rc = check_k(npy_path, k, rows, err);

    if (rc == 0)
        rc = write_ids(ids_path, ids, rows, err);
    if (rc == 0)
        rc = tt_npy_write_f32(npy_path, v, rows, k, err);
    return rc;
}
