/*
 * What every importer shares: one transaction per import, the bad-row policy, header
 * resolution, and strict parsers for ids, numbers, times, audio features and genre lists.
 * Parsers reject rather than guess: a value that is not clearly what its column means is a
 * bad row with a reason, never a silent default.
 */
#include "import_priv.h"
#include "tt/core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

tt_import_opts tt_import_opts_default(void)
{
    tt_import_opts o = {0};
    return o;
}

int tt__import_begin(struct tt__import *im, tt_store *s, const tt_import_opts *opts,
                     tt_import_stats *stats, tt_err *err)
{
    im->stats = stats ? stats : &im->local;
    memset(im->stats, 0, sizeof(*im->stats));
    im->store = s;
    im->opts = opts ? *opts : tt_import_opts_default();
    im->t0 = tt_now();
    return tt_store_begin(s, err);
}

int tt__import_end(struct tt__import *im, int rc, tt_err *err)
{
    if (rc == 0)
        rc = tt_store_commit(im->store, err);
    /* Also after a failed commit, so the connection is never left inside a transaction. */
    if (rc < 0)
        tt_store_rollback(im->store);
    im->stats->seconds = tt_now() - im->t0;
    return rc;
}

int tt__import_bad(const tt_csv *c, tt_err *err, const char *fmt, ...)
{
    char why[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return tt_err_set(err, TT_EPARSE, "%s:%lld: %s", tt_csv_name(c), (long long)tt_csv_line(c),
                      why);
}

static int header_bad(const tt_csv *c, tt_err *err, const char *why, const char *col)
{
    return tt_err_set_field(err, TT_EPARSE, col, "%s:1: %s '%s'", tt_csv_name(c), why, col);
}

int tt__import_header(tt_csv *c, struct tt__col *cols, int n, int *nfields, tt_err *err)
{
    int rc = tt_csv_next(c, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return tt_err_set(err, TT_EPARSE, "%s:1: the file is empty; expected a header row",
                          tt_csv_name(c));
    for (int k = 0; k < n; k++)
        cols[k].idx = -1;
    for (int i = 0; i < tt_csv_nfields(c); i++) {
        for (int k = 0; k < n; k++) {
            if (strcasecmp(tt_csv_field(c, i), cols[k].name) != 0)
                continue;
            if (cols[k].idx >= 0)
                return header_bad(c, err, "the header names twice the column", cols[k].name);
            cols[k].idx = i;
        }
    }
    for (int k = 0; k < n; k++)
        if (cols[k].required && cols[k].idx < 0)
            return header_bad(c, err, "the header lacks the required column", cols[k].name);
    *nfields = tt_csv_nfields(c);
    return 0;
}

static void report_skip(struct tt__import *im, const tt_err *e)
{
    im->stats->skipped++;
    if (im->opts.report)
        im->opts.report(im->opts.report_ctx, e->message);
}

/* Copies @src into @dst, with @prefix in front of the message. */
static int pass_err(tt_err *dst, int rc, const tt_err *src, const char *prefix)
{
    return tt_err_set_at(dst, src->source, src->line, rc, src->field[0] ? src->field : NULL, "%s%s",
                         prefix, tt_err_msg(src, rc));
}

/* A store or read failure is not about the row's content: say where it happened. */
static int row_failed(const tt_csv *c, int rc, const tt_err *e, tt_err *err)
{
    char where[1200];

    snprintf(where, sizeof(where), "%s:%lld: ", tt_csv_name(c), (long long)tt_csv_line(c));
    return pass_err(err, rc, e, where);
}

/* How far @c has been read, as the options' progress callback wants it. */
static void report_progress(const struct tt__import *im, const tt_csv *c, bool at_end)
{
    const char *name = strrchr(tt_csv_name(c), '/');
    int64_t size = tt_csv_size(c);

    if (!im->opts.progress)
        return;
    name = name ? name + 1 : tt_csv_name(c);
    im->opts.progress(im->opts.progress_ctx, name, at_end && size ? size : tt_csv_offset(c),
                      size);
}

int tt__import_rows(struct tt__import *im, tt_csv *c, int nfields, tt__row_fn fn, void *ctx,
                    tt_err *err)
{
    int64_t rows = 0;
    tt_err e;
    int rc;

    for (;;) {
        if ((++rows & 4095) == 0)
            report_progress(im, c, false);
        /* Clearing the code alone marks it unset: no 600-byte memset per row. */
        e.code = 0;
        e.message[0] = '\0';
        rc = tt_csv_next(c, &e);
        if (rc == 0) {
            report_progress(im, c, true);
            return 0;
        }
        if (rc < 0 && rc != TT_EPARSE)
            return pass_err(err, rc, &e, "");
        if (rc > 0 && tt_csv_nfields(c) != nfields)
            rc = tt__import_bad(c, &e, "expected %d fields as in the header, found %d", nfields,
                                tt_csv_nfields(c));
        else if (rc > 0)
            rc = fn(im, c, ctx, &e);
        if (rc == 0)
            continue;
        if (rc != TT_EPARSE)
            return row_failed(c, rc, &e, err);
        if (!(im->opts.flags & TT_IMPORT_SKIP_BAD))
            return pass_err(err, rc, &e, "");
        report_skip(im, &e);
    }
}

int tt__import_file(struct tt__import *im, const char *path, unsigned flags, struct tt__col *cols,
                    int ncol, tt__row_fn fn, void *ctx, tt_err *err)
{
    tt_csv *c = NULL;
    int nfields, rc;

    rc = tt_csv_open(path, flags | TT_CSV_TRIM, &c, err);
    if (rc < 0)
        return rc;
    rc = tt__import_header(c, cols, ncol, &nfields, err);
    if (rc == 0)
        rc = tt__import_rows(im, c, nfields, fn, ctx, err);
    tt_csv_close(c);
    return rc;
}

char *tt__path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    bool slash = n > 0 && dir[n - 1] == '/';
    char *p = tt_malloc(n + strlen(name) + 2);

    sprintf(p, "%s%s%s", dir, slash ? "" : "/", name);
    return p;
}

/* Counts a successful write in @n and in the total. */
static int counted(struct tt__import *im, int rc, int64_t *n)
{
    if (rc == 0) {
        (*n)++;
        im->stats->rows++;
    }
    return rc;
}

int tt__import_put_artist(struct tt__import *im, const tt_artist_rec *a, tt_err *err)
{
    return counted(im, tt_store_put_artist(im->store, a, err), &im->stats->artists);
}

int tt__import_put_track(struct tt__import *im, const tt_track_rec *t, tt_err *err)
{
    return counted(im, tt_store_put_track(im->store, t, err), &im->stats->tracks);
}

int tt__import_put_user(struct tt__import *im, const tt_user_rec *u, tt_err *err)
{
    return counted(im, tt_store_put_user(im->store, u, err), &im->stats->users);
}

int tt__import_put_interaction(struct tt__import *im, const tt_interaction_rec *r, tt_err *err)
{
    return counted(im, tt_store_put_interaction(im->store, r, err), &im->stats->interactions);
}

bool tt__utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;

    while (p < end) {
        unsigned char b = *p;
        uint32_t cp, min;
        int n;
        if (b < 0x80) {
            p++;
            continue;
        }
        if ((b & 0xE0) == 0xC0)
            n = 1, cp = b & 0x1F, min = 0x80;
        else if ((b & 0xF0) == 0xE0)
            n = 2, cp = b & 0x0F, min = 0x800;
        else if ((b & 0xF8) == 0xF0)
            n = 3, cp = b & 0x07, min = 0x10000;
        else
            return false;
        if (end - p <= n)
            return false;
        for (int i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        /* Overlong forms, UTF-16 surrogates and code points past Unicode are not UTF-8. */
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        p += n + 1;
    }
    return true;
}

const char *tt__import_text(const tt_csv *c, int i, const char *what, tt_err *err)
{
    const char *s = tt_csv_field(c, i);

    if (!tt__utf8_valid(s, tt_csv_field_len(c, i))) {
        tt__import_bad(c, err, "%s is not valid UTF-8", what);
        return NULL;
    }
    return s;
}

const char *tt__import_id(const tt_csv *c, int i, const char *what, tt_err *err)
{
    size_t len = tt_csv_field_len(c, i);

    if (len == 0) {
        tt__import_bad(c, err, "%s is empty", what);
        return NULL;
    }
    if (len > TT__IMPORT_MAX_ID) {
        tt__import_bad(c, err, "%s is longer than %d bytes", what, TT__IMPORT_MAX_ID);
        return NULL;
    }
    return tt__import_text(c, i, what, err);
}

bool tt__parse_double(const char *s, double *out)
{
    char *end;
    double v;

    if (!*s)
        return false;
    v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool tt__parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    double v;

    if (!tt__parse_double(s, &v) || v != floor(v) || v < (double)lo || v > (double)hi)
        return false;
    *out = (int64_t)v;
    return true;
}

/*
 * Days since 1970-01-01 of a proleptic Gregorian date, counting in 400-year eras that start
 * on March 1 so the leap day falls at the end of each year (H. Hinnant, "chrono-Compatible
 * Low-Level Date Algorithms").
 */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int days_in_month(int64_t y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

bool tt__civil_to_unix(int64_t year, int month, int day, int64_t *out)
{
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 ||
        day > days_in_month(year, month))
        return false;
    *out = days_from_civil(year, month, day) * 86400;
    return true;
}

/* Reads exactly @n decimal digits at *@p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        if (ch < '0' || ch > '9')
            return false;
        v = v * 10 + (ch - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool eat(const char **p, char ch)
{
    if (**p != ch)
        return false;
    (*p)++;
    return true;
}

static bool parse_unix(const char *s, int64_t *out)
{
    size_t n = strspn(s, "0123456789");

    /* Twelve digits reach the year 33658: anything longer is not seconds. */
    if (n == 0 || n > 12)
        return false;
    if (s[n] == '.' && s[n + 1] && strspn(s + n + 1, "0123456789") == strlen(s + n + 1))
        n = strlen(s);
    if (s[n])
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

/* "Z", "+HH:MM", "+HHMM", "+HH" or nothing; *@off gets the offset east of UTC in seconds. */
static bool parse_zone(const char *p, int64_t *off)
{
    int sign, h = 0, m = 0;

    *off = 0;
    if (*p == '\0' || ((*p == 'Z' || *p == 'z') && p[1] == '\0'))
        return true;
    if (*p != '+' && *p != '-')
        return false;
    sign = *p++ == '-' ? -1 : 1;
    if (!digits(&p, 2, &h))
        return false;
    eat(&p, ':');
    if (*p && !digits(&p, 2, &m))
        return false;
    if (*p || h > 23 || m > 59)
        return false;
    *off = sign * (h * 3600 + m * 60);
    return true;
}

static bool parse_clock(const char **p, int64_t *secs)
{
    int h, m, s = 0;

    if (!digits(p, 2, &h) || !eat(p, ':') || !digits(p, 2, &m))
        return false;
    if (eat(p, ':') && !digits(p, 2, &s))
        return false;
    if (eat(p, '.') || eat(p, ',')) {
        if (**p < '0' || **p > '9')
            return false;
        while (**p >= '0' && **p <= '9')
            (*p)++;
    }
    /* Second 60 is a leap second; Unix time folds it into the next minute. */
    if (h > 23 || m > 59 || s > 60)
        return false;
    *secs = h * 3600 + m * 60 + s;
    return true;
}

bool tt__parse_time(const char *s, int64_t *out)
{
    const char *p = s;
    int y, mo, d;
    int64_t day, secs = 0, off;

    if (s[0] >= '0' && s[0] <= '9' && s[strspn(s, "0123456789")] != '-')
        return parse_unix(s, out);
    if (!digits(&p, 4, &y) || !eat(&p, '-') || !digits(&p, 2, &mo) || !eat(&p, '-') ||
        !digits(&p, 2, &d) || !tt__civil_to_unix(y, mo, d, &day))
        return false;
    if ((eat(&p, 'T') || eat(&p, 't') || eat(&p, ' ')) && !parse_clock(&p, &secs))
        return false;
    if (!parse_zone(p, &off))
        return false;
    *out = day + secs - off;
    return true;
}

const char *tt__feature_check(int f, double v)
{
    if (!isfinite(v) || !isfinite((float)v))
        return "must be a finite number";
    switch (f) {
    case TT_F_DANCEABILITY:
    case TT_F_ENERGY:
    case TT_F_VALENCE:
    case TT_F_ACOUSTICNESS:
    case TT_F_INSTRUMENTALNESS:
    case TT_F_SPEECHINESS:
    case TT_F_LIVENESS:
        return v >= 0 && v <= 1 ? NULL : "must be between 0 and 1";
    case TT_F_TEMPO:
        return v >= 0 ? NULL : "must be at least 0 (beats per minute)";
    case TT_F_KEY:
        return v == floor(v) && v >= -1 && v <= 11 ? NULL
                                                   : "must be a whole number from -1 (no key) "
                                                     "to 11 (B)";
    case TT_F_MODE:
        return v == 0 || v == 1 ? NULL : "must be 0 (minor) or 1 (major)";
    default:
        return NULL;
    }
}

int tt__import_features(const tt_csv *c, const struct tt__col *cols, float *out, tt_err *err)
{
    for (int f = 0; f < TT_N_FEATURES; f++) {
        const char *s = tt_csv_field(c, cols[f].idx), *why;
        double v;
        if (!*s)
            continue;
        if (!tt__parse_double(s, &v))
            return tt__import_bad(c, err, "%s '%.40s' is not a number", tt_feature_name(f), s);
        if ((why = tt__feature_check(f, v)) != NULL)
            return tt__import_bad(c, err, "%s %.40s %s", tt_feature_name(f), s, why);
        out[f] = (float)v;
    }
    return 0;
}

void tt__sbuf_add(struct tt__sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = tt_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

const char *tt__sbuf_str(struct tt__sbuf *b)
{
    if (!b->p)
        return "";
    b->p[b->len] = '\0';
    return b->p;
}

void tt__sbuf_release(struct tt__sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

static bool list_has(const char *list, size_t len, const char *g, size_t n)
{
    const char *p = list, *end = list + len;

    while (p < end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        size_t k = bar ? (size_t)(bar - p) : (size_t)(end - p);
        if (k == n && memcmp(p, g, n) == 0)
            return true;
        p += k + 1;
    }
    return false;
}

void tt__genre_add(struct tt__sbuf *b, const char *g, size_t n)
{
    size_t old = b->len, start;

    while (n > 0 && (*g == ' ' || *g == '\t'))
        g++, n--;
    while (n > 0 && (g[n - 1] == ' ' || g[n - 1] == '\t'))
        n--;
    if (n == 0)
        return;
    if (old > 0)
        tt__sbuf_add(b, "|", 1);
    start = b->len;
    tt__sbuf_add(b, g, n);
    for (size_t i = start; i < b->len; i++) {
        char ch = b->p[i];
        b->p[i] = ch == '|' ? '/' : (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    if (list_has(b->p, old, b->p + start, n))
        b->len = old;
    b->p[b->len] = '\0';
}

void tt__genres_add_list(struct tt__sbuf *b, const char *s, char sep)
{
    const char *p = s;

    for (;;) {
        const char *q = strchr(p, sep);
        size_t n = q ? (size_t)(q - p) : strlen(p);
        tt__genre_add(b, p, n);
        if (!q)
            return;
        p = q + 1;
    }
}
