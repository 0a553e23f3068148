/*
 * .npy arrays (include/tt/npy.h). The header is a Python dict literal; only what numpy.save
 * writes for a plain array is accepted: three keys with a string, a bool and a tuple of
 * integers, in any order, an optional trailing comma. Anything else is refused with the
 * reason rather than guessed at, since a misread dtype or order would turn every number
 * into a different one without any other sign.
 *
 * Rows are read through stdio, so a table of any size streams in memory of one row; the
 * size check at open means a short file fails before a caller has built anything from it.
 */
#include "tt/byteorder.h"
#include "tt/core.h"
#include "tt/fileio.h"
#include "tt/npy.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* numpy itself refuses headers beyond 10,000 bytes unless told otherwise. */
#define MAX_HEADER 65536
#define MAX_DIMS 32

struct tt_npy {
    FILE *f;
    char *path;
    int64_t rows, cols, next;
    int itemsize;
    char dtype[4];
    uint8_t *buf; /* one row of the file's bytes */
};

static int bad(const char *path, tt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(const char *path, tt_err *err, const char *fmt, ...)
{
    char why[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return tt_err_set(err, TT_EPARSE, "%s: %s", path, why);
}

/* ---- the header's dict literal ---- */

struct header {
    char descr[16];
    bool fortran;
    int64_t dims[MAX_DIMS];
    int nd;
    unsigned seen; /* 1 descr, 2 fortran_order, 4 shape */
};

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t' || **p == '\n' || **p == '\r')
        (*p)++;
}

/* A quoted string without escapes into @out (@cap bytes); false when there is none. */
static bool parse_str(const char **p, char *out, size_t cap)
{
    char q = **p;
    size_t n = 0;

    if (q != '\'' && q != '"')
        return false;
    for ((*p)++; **p && **p != q; (*p)++) {
        if (**p == '\\' || n + 1 >= cap)
            return false;
        out[n++] = **p;
    }
    if (**p != q)
        return false;
    (*p)++;
    out[n] = '\0';
    return true;
}

static bool parse_bool(const char **p, bool *v)
{
    if (strncmp(*p, "True", 4) == 0 || strncmp(*p, "False", 5) == 0) {
        *v = **p == 'T';
        *p += *v ? 4 : 5;
        return true;
    }
    return false;
}

/* A non-negative integer (Python 2 wrote a trailing 'L'). */
static bool parse_dim(const char **p, int64_t *v)
{
    int64_t x = 0;

    if (!isdigit((unsigned char)**p))
        return false;
    for (; isdigit((unsigned char)**p); (*p)++) {
        if (x > (INT64_MAX - (**p - '0')) / 10)
            return false;
        x = x * 10 + (**p - '0');
    }
    if (**p == 'L')
        (*p)++;
    *v = x;
    return true;
}

/* A tuple of integers: (), (n,), (n, m), (n, m, ), ... */
static bool parse_shape(const char **p, struct header *h)
{
    if (**p != '(')
        return false;
    (*p)++;
    h->nd = 0;
    for (;;) {
        skip_ws(p);
        if (**p == ')')
            break;
        if (h->nd == MAX_DIMS || !parse_dim(p, &h->dims[h->nd++]))
            return false;
        skip_ws(p);
        if (**p == ',')
            (*p)++;
        else if (**p != ')')
            return false;
    }
    (*p)++;
    return true;
}

/* One "key: value" of the dict; false with @why set when it is not one numpy writes. */
static bool parse_entry(const char **p, struct header *h, char *why, size_t cap)
{
    char key[32];
    bool ok;

    if (!parse_str(p, key, sizeof(key))) {
        snprintf(why, cap, "malformed header: a quoted key was expected");
        return false;
    }
    skip_ws(p);
    if (**p != ':') {
        snprintf(why, cap, "malformed header: ':' expected after '%s'", key);
        return false;
    }
    (*p)++;
    skip_ws(p);
    if (strcmp(key, "descr") == 0 && !(h->seen & 1)) {
        ok = parse_str(p, h->descr, sizeof(h->descr));
        h->seen |= 1;
    } else if (strcmp(key, "fortran_order") == 0 && !(h->seen & 2)) {
        ok = parse_bool(p, &h->fortran);
        h->seen |= 2;
    } else if (strcmp(key, "shape") == 0 && !(h->seen & 4)) {
        ok = parse_shape(p, h);
        h->seen |= 4;
    } else {
        snprintf(why, cap,
                 "header key '%s' is unexpected or repeated (accepted: descr, "
                 "fortran_order, shape)",
                 key);
        return false;
    }
    if (!ok)
        snprintf(why, cap, "malformed header: bad value of '%s'", key);
    return ok;
}

static bool parse_header(const char *s, struct header *h, char *why, size_t cap)
{
    const char *p = s;

    memset(h, 0, sizeof(*h));
    skip_ws(&p);
    if (*p++ != '{') {
        snprintf(why, cap, "malformed header: not a dict");
        return false;
    }
    for (;;) {
        skip_ws(&p);
        if (*p == '}')
            break;
        if (!parse_entry(&p, h, why, cap))
            return false;
        skip_ws(&p);
        if (*p == ',')
            p++;
        else if (*p != '}') {
            snprintf(why, cap, "malformed header: ',' or '}' expected");
            return false;
        }
    }
    p++;
    skip_ws(&p);
    if (*p || h->seen != 7) {
        snprintf(why, cap, "malformed header: %s",
                 *p ? "text after the dict" : "descr, fortran_order and shape are required");
        return false;
    }
    return true;
}

/* ---- reading ---- */

/* The dtype, order and shape this reader takes, with the reason when not. */
static int check_header(tt_npy *f, const struct header *h, tt_err *err)
{
    if (strcmp(h->descr, "<f4") != 0 && strcmp(h->descr, "<f8") != 0)
        return bad(f->path, err,
                   "dtype '%s' is not supported: a little-endian float32 ('<f4') or float64 "
                   "('<f8') array is (numpy: a.astype('<f4'))",
                   h->descr);
    if (h->fortran)
        return bad(f->path, err,
                   "the array is in Fortran order: C order is needed "
                   "(numpy: np.ascontiguousarray(a))");
    if (h->nd != 2)
        return bad(f->path, err,
                   "the array has %d dimension%s: a 2-D array (rows x factors) "
                   "is needed",
                   h->nd, h->nd == 1 ? "" : "s");
    memcpy(f->dtype, h->descr, sizeof(f->dtype)); /* "<f4" or "<f8" and its NUL */
    f->itemsize = h->descr[2] == '4' ? 4 : 8;
    f->rows = h->dims[0];
    f->cols = h->dims[1];
    return 0;
}

/* The version bytes and the header's length; the header text into *@text (caller frees). */
static int read_preamble(tt_npy *f, char **text, int64_t *data_at, tt_err *err)
{
    uint8_t pre[12];
    uint32_t len;
    size_t head;

    if (fread(pre, 1, 8, f->f) != 8 || memcmp(pre, magic, 6) != 0)
        return bad(f->path, err, "not a .npy file (no \\x93NUMPY magic at its start)");
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return bad(f->path, err, "format version %u.%u is not supported (1.0, 2.0, 3.0 are)",
                   pre[6], pre[7]);
    head = pre[6] == 1 ? 2 : 4;
    if (fread(pre + 8, 1, head, f->f) != head)
        return bad(f->path, err, "truncated header");
    len = head == 2 ? (uint32_t)pre[8] | (uint32_t)pre[9] << 8 : tt__get_u32(pre + 8);
    if (len == 0 || len > MAX_HEADER)
        return bad(f->path, err, "header length %u is out of range (1..%d)", len, MAX_HEADER);
    *text = tt_malloc((size_t)len + 1);
    if (fread(*text, 1, len, f->f) != len)
        return bad(f->path, err, "truncated header");
    (*text)[len] = '\0';
    if (strlen(*text) != len)
        return bad(f->path, err, "malformed header: a NUL byte");
    *data_at = (int64_t)(8 + head + len);
    return 0;
}

/* The file must hold exactly rows x cols items after the header. */
static int check_size(tt_npy *f, int64_t data_at, tt_err *err)
{
    struct stat st;
    int64_t have, want;

    if (fstat(fileno(f->f), &st) != 0)
        return tt_err_set(err, TT_EIO, "%s: %s", f->path, strerror(errno));
    have = (int64_t)st.st_size - data_at;
    if (f->cols > 0 && f->rows > INT64_MAX / f->itemsize / f->cols)
        return bad(f->path, err, "shape (%lld, %lld) is too large", (long long)f->rows,
                   (long long)f->cols);
    want = f->rows * f->cols * f->itemsize;
    if (have < want)
        return bad(f->path, err,
                   "truncated: shape (%lld, %lld) of %s needs %lld bytes of data, the file "
                   "holds %lld",
                   (long long)f->rows, (long long)f->cols, f->dtype, (long long)want,
                   (long long)have);
    if (have > want)
        return bad(f->path, err,
                   "%lld bytes after the data of shape (%lld, %lld) of %s: not one array",
                   (long long)(have - want), (long long)f->rows, (long long)f->cols, f->dtype);
    return 0;
}

int tt_npy_open(const char *path, tt_npy **out, tt_err *err)
{
    tt_npy *f = tt_calloc(1, sizeof(*f));
    struct header h;
    char *text = NULL, why[300];
    int64_t data_at = 0;
    int rc;

    f->path = tt_strdup(path);
    f->f = fopen(path, "rb");
    if (!f->f) {
        rc = tt_err_set(err, errno == ENOENT ? TT_ENOTFOUND : TT_EIO, "%s: %s", path,
                        strerror(errno));
        goto out;
    }
    rc = read_preamble(f, &text, &data_at, err);
    if (rc == 0 && !parse_header(text, &h, why, sizeof(why)))
        rc = bad(path, err, "%s", why);
    if (rc == 0)
        rc = check_header(f, &h, err);
    if (rc == 0)
        rc = check_size(f, data_at, err);
out:
    free(text);
    if (rc < 0) {
        tt_npy_close(f);
        return rc;
    }
    f->buf = tt_malloc((size_t)f->cols * f->itemsize + 1);
    *out = f;
    return 0;
}

void tt_npy_close(tt_npy *f)
{
    if (!f)
        return;
    if (f->f)
        fclose(f->f);
    free(f->buf);
    free(f->path);
    free(f);
}

int64_t tt_npy_rows(const tt_npy *f)
{
    return f->rows;
}

int64_t tt_npy_cols(const tt_npy *f)
{
    return f->cols;
}

const char *tt_npy_dtype(const tt_npy *f)
{
    return f->dtype;
}

int tt_npy_read_row(tt_npy *f, double *row, tt_err *err)
{
    size_t n = (size_t)f->cols;

    if (f->next >= f->rows)
        return bad(f->path, err, "no row %lld: the array has %lld", (long long)f->next,
                   (long long)f->rows);
    if (fread(f->buf, (size_t)f->itemsize, n, f->f) != n)
        return tt_err_set(err, TT_EIO, "%s: row %lld could not be read%s", f->path,
                          (long long)f->next, ferror(f->f) ? "" : " (the file shrank)");
    for (size_t j = 0; j < n; j++) {
        if (f->itemsize == 4) {
            uint32_t bits = tt__get_u32(f->buf + 4 * j);
            float v;
            memcpy(&v, &bits, 4);
            row[j] = v;
        } else {
            uint64_t bits = tt__get_u64(f->buf + 8 * j);
            memcpy(&row[j], &bits, 8);
        }
    }
    f->next++;
    return 0;
}

int tt_npy_sniff(const char *path, tt_err *err)
{
    FILE *f = fopen(path, "rb");
    char head[6];
    size_t n;

    if (!f)
        return tt_err_set(err, errno == ENOENT ? TT_ENOTFOUND : TT_EIO, "%s: %s", path,
                          strerror(errno));
    n = fread(head, 1, sizeof(head), f);
    fclose(f);
    return n == sizeof(head) && memcmp(head, magic, sizeof(magic)) == 0;
}

/* ---- writing ---- */

/* Magic, version 1.0, the header padded with spaces to a 64-byte boundary, '\n'. */
static int write_header(tt_atomic_file *af, int64_t rows, int64_t cols, tt_err *err)
{
    char h[256];
    uint8_t pre[10];
    int n = snprintf(h, sizeof(h),
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, "
                     "%lld), }",
                     (long long)rows, (long long)cols);
    size_t len = (size_t)n + 1;
    int rc;

    len += (64 - (sizeof(pre) + len) % 64) % 64;
    memset(h + n, ' ', len - 1 - (size_t)n);
    h[len - 1] = '\n';
    memcpy(pre, magic, 6);
    pre[6] = 1;
    pre[7] = 0;
    pre[8] = (uint8_t)(len & 0xff);
    pre[9] = (uint8_t)(len >> 8);
    rc = tt_atomic_write(af, pre, sizeof(pre), err);
    return rc < 0 ? rc : tt_atomic_write(af, h, len, err);
}

int tt_npy_write_f32(const char *path, const float *a, int64_t rows, int64_t cols, tt_err *err)
{
    enum { CHUNK = 4096 };
    uint8_t buf[4 * CHUNK];
    int64_t total = rows * cols;
    tt_atomic_file af;
    int rc;

    if (rows < 0 || cols < 0 || (cols > 0 && rows > INT64_MAX / 4 / cols))
        return tt_err_set(err, TT_EINVAL, "%s: bad shape (%lld, %lld)", path, (long long)rows,
                          (long long)cols);
    if ((rc = tt_atomic_open(&af, path, err)) < 0)
        return rc;
    rc = write_header(&af, rows, cols, err);
    for (int64_t i = 0; rc == 0 && i < total; i += CHUNK) {
        int64_t n = total - i < CHUNK ? total - i : CHUNK;
        for (int64_t j = 0; j < n; j++) {
            uint32_t bits;
            memcpy(&bits, &a[i + j], 4);
            tt__put_u32(buf + 4 * j, bits);
        }
        rc = tt_atomic_write(&af, buf, (size_t)n * 4, err);
    }
    if (rc < 0) {
        tt_atomic_abort(&af);
        return rc;
    }
    return tt_atomic_commit(&af, err);
}
