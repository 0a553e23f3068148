/*
 * Time zones read from TZif files (RFC 8536) instead of localtime_r: setting TZ for
 * localtime_r changes the whole process, so two requests in two zones would race.
 *
 * A zone is its transitions (instants and the UTC offset from each on) plus the POSIX TZ
 * rule of the file's footer, which says what happens after the last transition; "fat"
 * files list transitions up to 2037, "slim" ones stop at the last rule change and rely on
 * the footer alone. Leap seconds are ignored: offsets are all that matter for hours.
 */
#include "tt/core.h"
#include "tt/fileio.h"
#include "tt/tz.h"

#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_DIR "/usr/share/zoneinfo"
#define MAX_OFFSET (14 * 3600)

/* A POSIX rule date: month (1..12), week (1..5), weekday (0 Sunday); or Julian day forms. */
struct rule_date {
    char form; /* 'M', 'J' (1..365, no Feb 29) or 'N' (0..365) */
    int month, week, wday, yday;
    int32_t time; /* seconds after local midnight */
};

struct rule {
    bool has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    struct rule_date start, end;
};

struct tt_tz {
    char name[80];
    int64_t *when; /* transitions, ascending */
    int32_t *off;  /* offset from when[i] on */
    int32_t n;
    int32_t before; /* offset before the first transition */
    bool has_rule;
    struct rule rule;
};

/* ---- calendar ---------------------------------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

static int64_t year_of_days(int64_t z)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m)
{
    static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && leap(y) ? 29 : md[m - 1];
}

/* The local day (days since 1970-01-01) a rule date falls on in year @y. */
static int64_t rule_day(const struct rule_date *d, int64_t y)
{
    int64_t first, jan1 = days_from_civil(y, 1, 1);
    int day;

    if (d->form == 'J')
        return jan1 + d->yday - 1 + (leap(y) && d->yday >= 60);
    if (d->form == 'N')
        return jan1 + d->yday;
    first = days_from_civil(y, d->month, 1);
    /* 1970-01-01 was a Thursday (weekday 4 counting from Sunday). */
    day = 1 + (int)((d->wday - (first + 4) % 7 + 14) % 7) + 7 * (d->week - 1);
    while (day > month_days(y, d->month))
        day -= 7;
    return first + day - 1;
}

static int32_t rule_offset(const struct rule *r, int64_t t)
{
    int64_t y = year_of_days(floor_div(t + r->std_off, 86400));
    int64_t s, e;

    if (!r->has_dst)
        return r->std_off;
    /* The start is told in standard time, the end in daylight time. */
    s = rule_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    e = rule_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
    if (s < e)
        return t >= s && t < e ? r->dst_off : r->std_off;
    return t >= e && t < s ? r->std_off : r->dst_off;
}

/* ---- POSIX TZ strings -------------------------------------------------------------------- */

static bool skip_name(const char **p)
{
    const char *s = *p;

    if (*s == '<') {
        while (*s && *s != '>')
            s++;
        if (*s != '>')
            return false;
        *p = s + 1;
        return true;
    }
    while (isalpha((unsigned char)*s))
        s++;
    if (s - *p < 3)
        return false;
    *p = s;
    return true;
}

static int read_num(const char **p, int max)
{
    int v = 0, n = 0;

    while (isdigit((unsigned char)**p) && n < 4) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n == 0 || v > max ? -1 : v;
}

/* [+-]hh[:mm[:ss]] into seconds; hours up to 167 (RFC 8536's extension). */
static bool read_time(const char **p, int32_t *out)
{
    int sign = 1, h, m = 0, s = 0;

    if (**p == '+' || **p == '-')
        sign = *(*p)++ == '-' ? -1 : 1;
    if ((h = read_num(p, 167)) < 0)
        return false;
    if (**p == ':' && (++(*p), (m = read_num(p, 59)) < 0))
        return false;
    if (**p == ':' && (++(*p), (s = read_num(p, 59)) < 0))
        return false;
    *out = sign * (h * 3600 + m * 60 + s);
    return true;
}

static bool read_date(const char **p, struct rule_date *d)
{
    d->time = 7200;
    if (**p == 'M') {
        (*p)++;
        d->form = 'M';
        if ((d->month = read_num(p, 12)) < 1 || *(*p)++ != '.' ||
            (d->week = read_num(p, 5)) < 1 || *(*p)++ != '.' || (d->wday = read_num(p, 6)) < 0)
            return false;
    } else {
        d->form = **p == 'J' ? 'J' : 'N';
        *p += d->form == 'J';
        if ((d->yday = read_num(p, 365)) < (d->form == 'J' ? 1 : 0))
            return false;
    }
    return **p == '/' ? (++(*p), read_time(p, &d->time)) : true;
}

/* "CET-1CEST,M3.5.0,M10.5.0/3": POSIX offsets count west, ours east. */
static bool parse_rule(const char *s, struct rule *r)
{
    int32_t off;

    memset(r, 0, sizeof(*r));
    if (!skip_name(&s) || !read_time(&s, &off))
        return false;
    r->std_off = -off;
    if (!*s)
        return true;
    if (!skip_name(&s))
        return false;
    r->has_dst = true;
    r->dst_off = r->std_off + 3600;
    if (*s && *s != ',') {
        if (!read_time(&s, &off))
            return false;
        r->dst_off = -off;
    }
    if (*s != ',')
        return false; /* a DST name without rules: the spec's default rules are obsolete */
    s++;
    if (!read_date(&s, &r->start) || *s++ != ',' || !read_date(&s, &r->end))
        return false;
    return *s == '\0';
}

/* ---- TZif -------------------------------------------------------------------------------- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_counts(const uint8_t *p, size_t size, struct tzif_counts *c)
{
    if (size < 44 || memcmp(p, "TZif", 4) != 0)
        return false;
    *c = (struct tzif_counts){be32(p + 20), be32(p + 24), be32(p + 28),
                              be32(p + 32), be32(p + 36), be32(p + 40)};
    return c->type >= 1 && c->type <= 256 && c->time <= 100000 && c->leap <= 100000 &&
           c->chars <= 100000 && c->isut <= 256 && c->isstd <= 256;
}

/* Bytes of a data block with @tsize-byte times. */
static size_t block_size(const struct tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

/* The transitions of the block at @p (times of @tsize bytes); false when malformed. */
static bool read_block(tt_tz *z, const uint8_t *p, const struct tzif_counts *c, size_t tsize)
{
    const uint8_t *idx = p + c->time * tsize, *types = idx + c->time;

    z->when = tt_malloc(((size_t)c->time + 1) * sizeof(int64_t));
    z->off = tt_malloc(((size_t)c->time + 1) * sizeof(int32_t));
    for (uint32_t i = 0; i < c->time; i++) {
        const uint8_t *q = p + i * tsize;
        if (idx[i] >= c->type)
            return false;
        z->when[i] = tsize == 8 ? be64(q) : (int64_t)(int32_t)be32(q);
        z->off[i] = (int32_t)be32(types + idx[i] * 6);
        if (i > 0 && z->when[i] <= z->when[i - 1])
            return false;
    }
    z->n = (int32_t)c->time;
    /* Before the first transition: type 0 (RFC 8536 3.2). */
    z->before = (int32_t)be32(types);
    return true;
}

static bool parse_tzif(tt_tz *z, const uint8_t *p, size_t size)
{
    struct tzif_counts c1, c2;
    size_t b1, b2;
    const uint8_t *end = p + size, *f;

    if (!read_counts(p, size, &c1) || (b1 = block_size(&c1, 4)) > size - 44)
        return false;
    if (p[4] < '2')
        return read_block(z, p + 44, &c1, 4);
    p += 44 + b1;
    if (!read_counts(p, (size_t)(end - p), &c2) ||
        (b2 = block_size(&c2, 8)) > (size_t)(end - p) - 44)
        return false;
    if (!read_block(z, p + 44, &c2, 8))
        return false;
    f = p + 44 + b2;
    if (f < end && *f == '\n') {
        char rule[128];
        const uint8_t *nl = memchr(f + 1, '\n', (size_t)(end - f - 1));
        size_t n = nl ? (size_t)(nl - f - 1) : 0;
        if (nl && n > 0 && n < sizeof(rule)) {
            memcpy(rule, f + 1, n);
            rule[n] = '\0';
            z->has_rule = parse_rule(rule, &z->rule);
        }
    }
    return true;
}

/* ---- zones ------------------------------------------------------------------------------- */

/* [+-]HH, [+-]HHMM, [+-]HH:MM. */
static bool parse_offset(const char *s, int32_t *out)
{
    int sign, h, m = 0;
    size_t n = strlen(s);

    if ((s[0] != '+' && s[0] != '-') || (n != 3 && n != 5 && n != 6))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isdigit((unsigned char)s[i]) || (i == 3 && n == 6 && s[i] == ':')))
            return false;
    sign = s[0] == '-' ? -1 : 1;
    h = (s[1] - '0') * 10 + (s[2] - '0');
    if (n > 3)
        m = (s[n - 2] - '0') * 10 + (s[n - 1] - '0');
    if (m > 59 || h * 3600 + m * 60 > MAX_OFFSET)
        return false;
    *out = sign * (h * 3600 + m * 60);
    return true;
}

/* Area/Location names: letters, digits, "_+-/", no empty or dot-led component. */
static bool valid_name(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64 || s[0] == '/' || s[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!(isalnum((unsigned char)ch) || ch == '_' || ch == '+' || ch == '-' || ch == '/'))
            return false;
        if (ch == '/' && s[i + 1] == '/')
            return false;
    }
    return true;
}

void tt_tz_free(tt_tz *z)
{
    if (!z)
        return;
    free(z->when);
    free(z->off);
    free(z);
}

static int load_file(tt_tz *z, const char *spec, const char *dir, tt_err *err)
{
    char path[1200];
    tt_map m = {0};
    tt_err why = {0};
    bool ok;

    snprintf(path, sizeof(path), "%s/%s", dir ? dir : DEFAULT_DIR, spec);
    if (tt_map_open(&m, path, &why) < 0)
        return tt_err_set_field(err, TT_EINVAL, "timezone",
                                "unknown time zone '%s' (an IANA name such as Europe/Paris, or "
                                "an offset such as +05:30)", spec);
    ok = parse_tzif(z, m.data, m.size);
    tt_map_close(&m);
    if (!ok)
        return tt_err_set_field(err, TT_EINVAL, "timezone",
                                "time zone '%s' is not a valid tz database file", spec);
    return 0;
}

int tt_tz_open(const char *spec, const char *dir, tt_tz **out, tt_err *err)
{
    tt_tz *z;
    int32_t off = 0;
    int rc = 0;

    if (!spec || !out)
        return tt_err_set_field(err, TT_EINVAL, "timezone", "a time zone is required");
    z = tt_calloc(1, sizeof(*z));
    snprintf(z->name, sizeof(z->name), "%s", spec);
    if (strcmp(spec, "UTC") == 0 || strcmp(spec, "Z") == 0)
        z->before = 0;
    else if (spec[0] == '+' || spec[0] == '-') {
        if (!parse_offset(spec, &off))
            rc = tt_err_set_field(err, TT_EINVAL, "timezone",
                                  "bad UTC offset '%s' (use +HH:MM, +HHMM or +HH, at most 14:00)",
                                  spec);
        z->before = off;
    } else if (!valid_name(spec) || strstr(spec, "..") || strlen(spec) >= sizeof(z->name))
        rc = tt_err_set_field(err, TT_EINVAL, "timezone", "bad time zone name");
    else
        rc = load_file(z, spec, dir, err);
    if (rc < 0) {
        tt_tz_free(z);
        return rc;
    }
    *out = z;
    return 0;
}

const char *tt_tz_name(const tt_tz *z)
{
    return z ? z->name : "UTC";
}

int32_t tt_tz_offset(const tt_tz *z, int64_t t)
{
    int32_t lo = 0, hi;

    if (!z)
        return 0;
    if (z->n == 0 || t < z->when[0])
        return z->n == 0 && z->has_rule ? rule_offset(&z->rule, t) : z->before;
    if (t >= z->when[z->n - 1] && z->has_rule)
        return rule_offset(&z->rule, t);
    /* The last transition at or before t. */
    hi = z->n - 1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        if (z->when[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return z->off[lo];
}

void tt_tz_local(const tt_tz *z, int64_t t, int *hour, int *weekday)
{
    int64_t local = t + tt_tz_offset(z, t), day = floor_div(local, 86400);

    *hour = (int)((local - day * 86400) / 3600);
    /* 1970-01-01 was a Thursday: ISO weekday 3 counting from Monday 0. */
    *weekday = (int)(((day % 7) + 7 + 3) % 7);
}

/* ---- the cache --------------------------------------------------------------------------- */

struct tt_tz_cache {
    pthread_mutex_t lock;
    char *dir;
    tt_tz **zones;
    int n, cap;
};

tt_tz_cache *tt_tz_cache_new(const char *dir)
{
    tt_tz_cache *c = tt_calloc(1, sizeof(*c));

    pthread_mutex_init(&c->lock, NULL);
    c->dir = tt_strdup(dir ? dir : DEFAULT_DIR);
    return c;
}

void tt_tz_cache_free(tt_tz_cache *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        tt_tz_free(c->zones[i]);
    free(c->zones);
    free(c->dir);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static const tt_tz *cache_find(const tt_tz_cache *c, const char *spec)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->zones[i]->name, spec) == 0)
            return c->zones[i];
    return NULL;
}

int tt_tz_cache_get(tt_tz_cache *c, const char *spec, const tt_tz **out, tt_err *err)
{
    tt_tz *z = NULL;
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    *out = spec ? cache_find(c, spec) : NULL;
    if (!*out) {
        /* Opened under the lock: a first use costs one small file read, once. */
        rc = tt_tz_open(spec, c->dir, &z, err);
        if (rc == 0) {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 16;
                c->zones = tt_realloc(c->zones, (size_t)c->cap * sizeof(*c->zones));
            }
            c->zones[c->n++] = z;
            *out = z;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
