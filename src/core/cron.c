/*
 * Cron expressions and their fire times.
 *
 * Fire times are searched on the local wall clock, not in Unix time: whole months, days and
 * hours whose masks miss are skipped, so a yearly expression costs a few dozen steps rather
 * than half a million minutes. Only a matching wall minute is turned into an instant, by
 * resolve(), which is where daylight saving time is decided: a wall time maps to its first
 * occurrence, or, inside a spring-forward gap, to the end of the gap. That map never
 * decreases as wall time grows, so the first matching wall minute whose instant lies past
 * @after is the next fire time, and the last one whose instant is at or before @at is the
 * previous one.
 */
#include "tt/cron.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Instants beyond about 31,000 years either way are refused: no overflow below that. */
#define MAX_INSTANT INT64_C(1000000000000)

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, N_FIELDS };

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

struct field_spec {
    const char *name;
    int min, max;             /* accepted values */
    int last;                 /* where a star or "N/S" ends: day-of-week stops at 6 */
    const char *const *names; /* names of min, min + 1, ..., or NULL */
    const char *what;         /* for messages: "a month (1-12 or jan..dec)" */
};

static const struct field_spec fields[N_FIELDS] = {
    {"minute", 0, 59, 59, NULL, "a minute (0-59)"},
    {"hour", 0, 23, 23, NULL, "an hour (0-23)"},
    {"day-of-month", 1, 31, 31, NULL, "a day of the month (1-31)"},
    {"month", 1, 12, 12, month_names, "a month (1-12 or jan..dec)"},
    {"day-of-week", 0, 7, 6, day_names, "a day of the week (0-7 or sun..sat)"},
};

static const struct {
    const char *name, *expr;
} macros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

/* One piece of the expression: a field or a part of one. */
struct span {
    const char *s;
    int n;
};

/* ---- parsing ----------------------------------------------------------------------------- */

static int field_error(const struct field_spec *f, struct span text, tt_err *err, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));

static int field_error(const struct field_spec *f, struct span text, tt_err *err, const char *fmt,
                       ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return tt_err_set_field(err, TT_EINVAL, f->name, "%s field \"%.*s\": %s", f->name,
                            text.n > 100 ? 100 : text.n, text.s, why);
}

/* A value of field @f, digits or one of its names, into *out; -1 when it is neither. */
static int parse_value(const struct field_spec *f, struct span v, int *out)
{
    int x = 0;

    if (v.n > 0 && v.n <= 4 && isdigit((unsigned char)v.s[0])) {
        for (int i = 0; i < v.n; i++) {
            if (!isdigit((unsigned char)v.s[i]))
                return -1;
            x = x * 10 + (v.s[i] - '0');
        }
        *out = x;
        return 0;
    }
    for (int i = 0; f->names && f->names[i] && v.n == 3; i++) {
        if (strncasecmp(v.s, f->names[i], 3) == 0) {
            *out = f->min + i;
            return 0;
        }
    }
    return -1;
}

static int value_in(const struct field_spec *f, struct span text, struct span v, int *out,
                    tt_err *err)
{
    if (v.n == 0)
        return field_error(f, text, err, "a value is missing");
    if (parse_value(f, v, out) < 0)
        return field_error(f, text, err, "\"%.*s\" is not %s", v.n > 40 ? 40 : v.n, v.s, f->what);
    if (*out < f->min || *out > f->max)
        return field_error(f, text, err, "%d is out of range: expected %s", *out, f->what);
    return 0;
}

static int step_in(const struct field_spec *f, struct span text, struct span v, int *out,
                   tt_err *err)
{
    int x = 0;

    if (v.n == 0)
        return field_error(f, text, err, "a step is missing after '/'");
    for (int i = 0; i < v.n; i++) {
        if (!isdigit((unsigned char)v.s[i]) || i >= 4)
            return field_error(f, text, err, "step \"%.*s\" is not a number from 1 to %d",
                               v.n > 40 ? 40 : v.n, v.s, f->max);
        x = x * 10 + (v.s[i] - '0');
    }
    if (x < 1 || x > f->max)
        return field_error(f, text, err, "step %d is out of range: expected 1 to %d", x, f->max);
    *out = x;
    return 0;
}

/* The values an item (a star, N or A-B, then maybe /S) stands for: *lo, *hi and *step. */
static int parse_item(const struct field_spec *f, struct span text, struct span item, int *lo,
                      int *hi, int *step, tt_err *err)
{
    const char *slash = memchr(item.s, '/', item.n);
    struct span base = {item.s, slash ? (int)(slash - item.s) : item.n};
    const char *dash = memchr(base.s, '-', base.n);
    int rc;

    *step = 1;
    if (slash &&
        (rc = step_in(f, text, (struct span){slash + 1, item.n - base.n - 1}, step, err)) < 0)
        return rc;
    if (base.n == 1 && base.s[0] == '*') {
        *lo = f->min;
        *hi = f->last;
        return 0;
    }
    if (!dash) {
        /* "N/S" runs to the field's end; "7/S" of day-of-week is Sunday alone. */
        rc = value_in(f, text, base, lo, err);
        *hi = slash && rc == 0 && *lo < f->last ? f->last : *lo;
        return rc;
    }
    rc = value_in(f, text, (struct span){base.s, (int)(dash - base.s)}, lo, err);
    if (rc == 0)
        rc = value_in(f, text, (struct span){dash + 1, (int)(base.s + base.n - dash - 1)}, hi, err);
    if (rc == 0 && *lo > *hi)
        rc = field_error(f, text, err, "range %.*s runs backwards", base.n, base.s);
    return rc;
}

/* Field @f of an expression, a comma-separated list of items, into the bit mask *mask. */
static int parse_field(const struct field_spec *f, struct span text, uint64_t *mask, tt_err *err)
{
    const char *p = text.s, *end = text.s + text.n;

    *mask = 0;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        struct span item = {p, (int)((comma ? comma : end) - p)};
        int lo, hi, step, rc;

        if (item.n == 0)
            return field_error(f, text, err, "an empty item in the list");
        if ((rc = parse_item(f, text, item, &lo, &hi, &step, err)) < 0)
            return rc;
        for (int v = lo; v <= hi; v += step)
            *mask |= UINT64_C(1) << (f == &fields[F_DOW] && v == 7 ? 0 : v);
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

/* The whitespace-separated fields of @expr into @out; their number, at most N_FIELDS + 1. */
static int split_fields(const char *expr, struct span out[N_FIELDS])
{
    const char *p = expr;
    int n = 0;

    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p || n > N_FIELDS)
            return n;
        if (n < N_FIELDS)
            out[n].s = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (n < N_FIELDS)
            out[n].n = (int)(p - out[n].s);
        n++;
    }
}

static int parse_macro(const char *expr, tt_cron *out, tt_err *err)
{
    struct span m[N_FIELDS];
    int n;

    if (split_fields(expr, m) == 1) {
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
            n = (int)strlen(macros[i].name);
            if (m[0].n == n && strncasecmp(m[0].s, macros[i].name, (size_t)n) == 0)
                return tt_cron_parse(macros[i].expr, out, err);
        }
    }
    return tt_err_set_field(err, TT_EINVAL, "schedule",
                            "schedule \"%.100s\": unknown macro: accepted are @hourly, @daily, "
                            "@midnight, @weekly, @monthly, @yearly and @annually",
                            expr);
}

int tt_cron_parse(const char *expr, tt_cron *out, tt_err *err)
{
    struct span text[N_FIELDS];
    uint64_t mask[N_FIELDS];
    int n, rc;

    if (!expr || !out)
        return tt_err_set_field(err, TT_EINVAL, "schedule",
                                "a schedule and an output are required");
    n = split_fields(expr, text);
    if (n >= 1 && text[0].s[0] == '@')
        return parse_macro(expr, out, err);
    if (n != N_FIELDS)
        return tt_err_set_field(err, TT_EINVAL, "schedule",
                                "schedule \"%.100s\": expected 5 fields (minute hour day-of-month "
                                "month day-of-week) or a macro such as @daily, got %s%d",
                                expr, n > N_FIELDS ? "more than " : "", n > N_FIELDS ? 5 : n);
    for (int i = 0; i < N_FIELDS; i++)
        if ((rc = parse_field(&fields[i], text[i], &mask[i], err)) < 0)
            return rc;
    memset(out, 0, sizeof(*out));
    out->minute = mask[F_MINUTE];
    out->hour = (uint32_t)mask[F_HOUR];
    out->dom = (uint32_t)mask[F_DOM];
    out->month = (uint16_t)mask[F_MONTH];
    out->dow = (uint8_t)mask[F_DOW];
    out->dom_any = text[F_DOM].s[0] == '*';
    out->dow_any = text[F_DOW].s[0] == '*';
    return 0;
}

/* ---- the calendar ------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy;

    y -= m <= 2;
    era = floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* The date of day @z since 1970-01-01 (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;

    z += 719468;
    era = floor_div(z, 146097);
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* 0 Sunday .. 6 Saturday; 1970-01-01 was a Thursday. */
static int weekday(int64_t day)
{
    return (int)(((day % 7) + 7 + 4) % 7);
}

/* ---- matching ---------------------------------------------------------------------------- */

/* The lowest set bit of @mask at or above @i, or -1. */
static int next_bit(uint64_t mask, int i)
{
    if (i > 63 || !(mask >> i))
        return -1;
    return i + __builtin_ctzll(mask >> i);
}

/* The highest set bit of @mask at or below @i, or -1. */
static int prev_bit(uint64_t mask, int i)
{
    if (i < 0)
        return -1;
    if (i < 63)
        mask &= (UINT64_C(1) << (i + 1)) - 1;
    return mask ? 63 - __builtin_clzll(mask) : -1;
}

static bool day_matches(const tt_cron *c, int dom, int dow)
{
    bool by_dom = c->dom >> dom & 1, by_dow = c->dow >> dow & 1;

    /* cron(8): an unrestricted day field defers to the other; two restricted ones add up. */
    if (c->dom_any || c->dow_any)
        return by_dom && by_dow;
    return by_dom || by_dow;
}

static int month_length(int64_t y, int m)
{
    return (int)(days_from_civil(y + (m == 12), m == 12 ? 1 : m + 1, 1) - days_from_civil(y, m, 1));
}

bool tt_cron_matches(const tt_cron *c, int year, int month, int day, int hour, int minute)
{
    if (!c || month < 1 || month > 12 || day < 1 || day > month_length(year, month) || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59)
        return false;
    return (c->month >> month & 1) &&
           day_matches(c, day, weekday(days_from_civil(year, month, day))) &&
           (c->hour >> hour & 1) && (c->minute >> minute & 1);
}

/*
 * The first matching hour and minute of a day at or after *h:*m, into *h and *m; false when
 * the rest of the day has none.
 */
static bool first_in_day(const tt_cron *c, int *h, int *m)
{
    int hour = next_bit(c->hour, *h), minute;

    if (hour == *h && (minute = next_bit(c->minute, *m)) >= 0) {
        *m = minute;
        return true;
    }
    if (hour == *h)
        hour = next_bit(c->hour, *h + 1);
    if (hour < 0)
        return false;
    *h = hour;
    *m = next_bit(c->minute, 0);
    return true;
}

/* The last matching hour and minute of a day at or before *h:*m; false when none. */
static bool last_in_day(const tt_cron *c, int *h, int *m)
{
    int hour = prev_bit(c->hour, *h), minute;

    if (hour == *h && (minute = prev_bit(c->minute, *m)) >= 0) {
        *m = minute;
        return true;
    }
    if (hour == *h)
        hour = prev_bit(c->hour, *h - 1);
    if (hour < 0)
        return false;
    *h = hour;
    *m = prev_bit(c->minute, 59);
    return true;
}

/*
 * The first matching wall minute at or after wall time @wall (seconds since 1970-01-01 on
 * the local clock, a whole minute) on a day no later than @last_day, into *out.
 */
static bool wall_forward(const tt_cron *c, int64_t wall, int64_t last_day, int64_t *out)
{
    int64_t day = floor_div(wall, 86400), y;
    int h = (int)(wall - day * 86400) / 3600, m = (int)(wall - day * 86400) % 3600 / 60;
    int month, dom;

    for (; day <= last_day; day++, h = m = 0) {
        civil_from_days(day, &y, &month, &dom);
        if (!(c->month >> month & 1)) {
            day += month_length(y, month) - dom; /* the month's last day; the loop adds one */
            continue;
        }
        if (day_matches(c, dom, weekday(day)) && first_in_day(c, &h, &m)) {
            *out = day * 86400 + h * 3600 + m * 60;
            return true;
        }
    }
    return false;
}

/* The last matching wall minute at or before @wall on a day no earlier than @first_day. */
static bool wall_backward(const tt_cron *c, int64_t wall, int64_t first_day, int64_t *out)
{
    int64_t day = floor_div(wall, 86400), y;
    int h = (int)(wall - day * 86400) / 3600, m = (int)(wall - day * 86400) % 3600 / 60;
    int month, dom;

    for (; day >= first_day; day--, h = 23, m = 59) {
        civil_from_days(day, &y, &month, &dom);
        if (!(c->month >> month & 1)) {
            day -= dom - 1; /* the month's first day; the loop takes one away */
            continue;
        }
        if (day_matches(c, dom, weekday(day)) && last_in_day(c, &h, &m)) {
            *out = day * 86400 + h * 3600 + m * 60;
            return true;
        }
    }
    return false;
}

/* ---- wall time to instants --------------------------------------------------------------- */

static bool shows(const tt_tz *tz, int64_t t, int64_t wall)
{
    return t + tt_tz_offset(tz, t) == wall;
}

/*
 * The instant of wall time @wall in @tz: its first occurrence when clocks fall back, or the
 * first instant after the gap when it was skipped. The offsets a day either side are the
 * ones before and after any transition near @wall (at most one a day, see cron.h).
 */
static int64_t resolve(const tt_tz *tz, int64_t wall)
{
    int64_t a = wall - tt_tz_offset(tz, wall - 86400), b = wall - tt_tz_offset(tz, wall + 86400);
    int64_t lo, hi;
    int32_t before;

    if (a > b) {
        lo = a;
        a = b;
        b = lo;
    }
    if (shows(tz, a, wall))
        return a;
    if (shows(tz, b, wall))
        return b;
    /* A gap: the transition lies in (a, b]; find its instant by bisection. */
    lo = a;
    hi = b;
    before = tt_tz_offset(tz, lo);
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (tt_tz_offset(tz, mid) == before)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

int64_t tt_cron_next(const tt_cron *c, const tt_tz *tz, int64_t after)
{
    int64_t wall, last_day, found, t;

    if (!c || after < -MAX_INSTANT || after > MAX_INSTANT)
        return 0;
    /* No fire past @after has a wall time before the minute @after shows (see the top). */
    wall = floor_div(after + tt_tz_offset(tz, after), 60) * 60;
    last_day = floor_div(wall, 86400) + TT_CRON_HORIZON_DAYS;
    while (wall_forward(c, wall, last_day, &found)) {
        t = resolve(tz, found);
        if (t > after)
            return t;
        wall = found + 60; /* @found fired before: an hour that repeats, or a gap's end */
    }
    return 0;
}

int64_t tt_cron_prev(const tt_cron *c, const tt_tz *tz, int64_t at)
{
    int64_t wall, first_day, found, t;
    int32_t off, earlier;

    if (!c || at < -MAX_INSTANT || at > MAX_INSTANT)
        return 0;
    /*
     * When clocks fell back in the last hours, the first occurrence of a wall time up to the
     * old offset's reading may still be at or before @at: start from the larger offset.
     */
    off = tt_tz_offset(tz, at);
    earlier = tt_tz_offset(tz, at - 6 * 3600);
    wall = floor_div(at + (earlier > off ? earlier : off), 60) * 60;
    first_day = floor_div(wall, 86400) - TT_CRON_HORIZON_DAYS;
    while (wall_backward(c, wall, first_day, &found)) {
        t = resolve(tz, found);
        if (t <= at)
            return t;
        wall = found - 60;
    }
    return 0;
}
