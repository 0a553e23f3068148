/*
 * Cron expressions: every form the parser accepts and every error it gives, fire times
 * worked out by hand (the tiers' defaults, steps, lists, ranges, the day-of-month OR
 * day-of-week rule, Feb 29, month ends, both DST changes of Europe/Berlin and
 * America/New_York), and random expressions in four zones checked against a reference that
 * walks every minute of a three-week window.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tt/core.h"
#include "tt/cron.h"
#include "tt/tz.h"

#define MIN 60
#define HOUR 3600
#define DAY 86400

/* Unix time of a UTC wall time. */
static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm);
}

/* Bits lo, lo + step, ..., up to hi. */
static uint64_t bits(int lo, int hi, int step)
{
    uint64_t m = 0;

    for (int v = lo; v <= hi; v += step)
        m |= UINT64_C(1) << v;
    return m;
}

static tt_cron parse(const char *expr)
{
    tt_cron c;
    tt_err err = {0};
    int rc = tt_cron_parse(expr, &c, &err);

    cr_assert_eq(rc, 0, "'%s': %s", expr, tt_err_msg(&err, rc));
    return c;
}

static const tt_tz *zone(const char *name)
{
    static tt_tz_cache *cache;
    const tt_tz *z = NULL;
    tt_err err = {0};

    if (!cache)
        cache = tt_tz_cache_new(NULL);
    if (tt_tz_cache_get(cache, name, &z, &err) < 0)
        cr_skip_test("%s is not in /usr/share/zoneinfo: %s", name, err.message);
    return z;
}

/* ---- parsing ----------------------------------------------------------------------------- */

struct parse_case {
    const char *expr;
    uint64_t minute, hour, dom, month, dow;
    bool dom_any, dow_any;
};

#define ALL_MIN bits(0, 59, 1)
#define ALL_HOUR bits(0, 23, 1)
#define ALL_DOM bits(1, 31, 1)
#define ALL_MONTH bits(1, 12, 1)
#define ALL_DOW bits(0, 6, 1)

Test(cron, parses_every_form)
{
    const struct parse_case cases[] = {
        {"* * * * *", ALL_MIN, ALL_HOUR, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {"0 4 * * *", 1, 1 << 4, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {"5,10,15 1-3 10-20 jan-mar,dec mon-fri", bits(5, 15, 5), bits(1, 3, 1), bits(10, 20, 1),
         bits(1, 3, 1) | 1 << 12, bits(1, 5, 1), false, false},
        {"*/15 0-23/6 1-31/2 */3 sun,7", bits(0, 45, 15), bits(0, 18, 6), bits(1, 31, 2),
         bits(1, 10, 3), 1, false, false},
        {"5/20 22/1 30/1 nov/1 fri/1", bits(5, 45, 20), bits(22, 23, 1), bits(30, 31, 1),
         bits(11, 12, 1), bits(5, 6, 1), false, false},
        {"0 0 * * 5-7", 1, 1, ALL_DOM, ALL_MONTH, 1 | bits(5, 6, 1), true, false},
        {"0 0 * * 0-7", 1, 1, ALL_DOM, ALL_MONTH, ALL_DOW, true, false},
        {"0 0 * * 7/2,6/3", 1, 1, ALL_DOM, ALL_MONTH, 1 | 1 << 6, true, false},
        {"0 0 */2 * mon/2", 1, 1, bits(1, 31, 2), ALL_MONTH, bits(1, 5, 2), true, false},
        {"59 23 31 12 *", UINT64_C(1) << 59, 1 << 23, UINT64_C(1) << 31, 1 << 12, ALL_DOW, false,
         true},
        {"0 0 * JAN,Feb MON-Fri", 1, 1, ALL_DOM, bits(1, 2, 1), bits(1, 5, 1), true, false},
        {"  0\t4   *  *\t* \n", 1, 1 << 4, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {"1-1 2-2,2 3-5,4 7-7 6-6/5", 2, 4, bits(3, 5, 1), 1 << 7, 1 << 6, false, false},
        {"*/59 */23 */31 */12 */7", 1 | UINT64_C(1) << 59, 1 | 1 << 23, 2, 2, 1, true, true},
        {"@hourly", 1, ALL_HOUR, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {"@daily", 1, 1, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {"@midnight", 1, 1, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {" @DAILY\t", 1, 1, ALL_DOM, ALL_MONTH, ALL_DOW, true, true},
        {"@weekly", 1, 1, ALL_DOM, ALL_MONTH, 1, true, false},
        {"@monthly", 1, 1, 2, ALL_MONTH, ALL_DOW, false, true},
        {"@yearly", 1, 1, 2, 2, ALL_DOW, false, true},
        {"@annually", 1, 1, 2, 2, ALL_DOW, false, true},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct parse_case *k = &cases[i];
        tt_cron c = parse(k->expr);

        cr_expect_eq(c.minute, k->minute, "'%s' minute %#llx", k->expr,
                     (unsigned long long)c.minute);
        cr_expect_eq(c.hour, k->hour, "'%s' hour %#x", k->expr, c.hour);
        cr_expect_eq(c.dom, k->dom, "'%s' dom %#x", k->expr, c.dom);
        cr_expect_eq(c.month, k->month, "'%s' month %#x", k->expr, c.month);
        cr_expect_eq(c.dow, k->dow, "'%s' dow %#x", k->expr, c.dow);
        cr_expect_eq(c.dom_any, k->dom_any, "'%s' dom_any", k->expr);
        cr_expect_eq(c.dow_any, k->dow_any, "'%s' dow_any", k->expr);
    }
}

struct error_case {
    const char *expr, *field, *text;
};

Test(cron, refuses_bad_expressions_naming_the_field_and_text)
{
    const struct error_case cases[] = {
        {"", "schedule", "expected 5 fields"},
        {"   ", "schedule", "got 0"},
        {"0 4 * *", "schedule", "schedule \"0 4 * *\": expected 5 fields"},
        {"0 4 * * * *", "schedule", "got more than 5"},
        {"@reboot", "schedule", "schedule \"@reboot\": unknown macro"},
        {"@daily 5", "schedule", "unknown macro"},
        {"@", "schedule", "unknown macro"},
        {"60 * * * *", "minute", "minute field \"60\": 60 is out of range: expected a minute"},
        {"* 24 * * *", "hour", "hour field \"24\": 24 is out of range"},
        {"* * 0 * *", "day-of-month", "day-of-month field \"0\": 0 is out of range"},
        {"* * 32 * *", "day-of-month", "32 is out of range"},
        {"* * * 13 *", "month", "month field \"13\": 13 is out of range"},
        {"* * * 0 *", "month", "0 is out of range: expected a month (1-12 or jan..dec)"},
        {"* * * * 8", "day-of-week", "8 is out of range: expected a day of the week"},
        {"* * * * mon-sux", "day-of-week",
         "day-of-week field \"mon-sux\": \"sux\" is not a day of the week (0-7 or sun..sat)"},
        {"* * * foo *", "month", "\"foo\" is not a month"},
        {"* * * * jan", "day-of-week", "\"jan\" is not a day of the week"},
        {"* * * mon *", "month", "\"mon\" is not a month"},
        {"* * * janu *", "month", "\"janu\" is not a month"},
        {"jan * * * *", "minute", "\"jan\" is not a minute"},
        {"5-2 * * * *", "minute", "minute field \"5-2\": range 5-2 runs backwards"},
        {"* * * dec-jan *", "month", "range dec-jan runs backwards"},
        {"*/0 * * * *", "minute", "step 0 is out of range: expected 1 to 59"},
        {"* */24 * * *", "hour", "step 24 is out of range"},
        {"*/ * * * *", "minute", "a step is missing after '/'"},
        {"*/x * * * *", "minute", "step \"x\" is not a number"},
        {"1/2/3 * * * *", "minute", "step \"2/3\" is not a number"},
        {"1,,2 * * * *", "minute", "minute field \"1,,2\": an empty item in the list"},
        {"1, * * * *", "minute", "an empty item"},
        {",1 * * * *", "minute", "an empty item"},
        {"1-2-3 * * * *", "minute", "\"2-3\" is not a minute"},
        {"-5 * * * *", "minute", "a value is missing"},
        {"5- * * * *", "minute", "a value is missing"},
        {"/5 * * * *", "minute", "a value is missing"},
        {"** * * * *", "minute", "\"**\" is not a minute"},
        {"*-5 * * * *", "minute", "\"*\" is not a minute"},
        {"99999 * * * *", "minute", "\"99999\" is not a minute"},
        {"1.5 * * * *", "minute", "\"1.5\" is not a minute"},
        {"0 4 * * MON,funday", "day-of-week", "\"funday\" is not a day"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct error_case *k = &cases[i];
        tt_cron c, before;
        tt_err err = {0};

        memset(&c, 0x5a, sizeof(c));
        before = c;
        cr_expect_eq(tt_cron_parse(k->expr, &c, &err), TT_EINVAL, "'%s' accepted", k->expr);
        cr_expect_str_eq(err.field, k->field, "'%s'", k->expr);
        cr_expect(strstr(err.message, k->text), "'%s': message '%s' lacks '%s'", k->expr,
                  err.message, k->text);
        cr_expect_eq(memcmp(&c, &before, sizeof(c)), 0, "'%s': output written on error", k->expr);
        cr_expect_eq(tt_cron_parse(k->expr, &c, NULL), TT_EINVAL, "'%s' without tt_err", k->expr);
    }
    cr_expect_eq(tt_cron_parse(NULL, &(tt_cron){0}, NULL), TT_EINVAL);
    cr_expect_eq(tt_cron_parse("* * * * *", NULL, NULL), TT_EINVAL);
}

Test(cron, matches_wall_times)
{
    tt_cron c = parse("30 4 13 * fri");

    cr_expect(tt_cron_matches(&c, 2026, 2, 13, 4, 30));  /* Friday the 13th */
    cr_expect(tt_cron_matches(&c, 2026, 2, 20, 4, 30));  /* a Friday */
    cr_expect(tt_cron_matches(&c, 2026, 5, 13, 4, 30));  /* a Wednesday, the 13th */
    cr_expect(!tt_cron_matches(&c, 2026, 5, 14, 4, 30)); /* neither */
    cr_expect(!tt_cron_matches(&c, 2026, 2, 13, 4, 31));
    cr_expect(!tt_cron_matches(&c, 2026, 2, 31, 4, 30)); /* no such day */
    cr_expect(!tt_cron_matches(&c, 2026, 13, 1, 4, 30));
    cr_expect(!tt_cron_matches(NULL, 2026, 2, 13, 4, 30));
}

/* ---- next and prev, by hand -------------------------------------------------------------- */

/* Fires of @expr in @tz after @from, each checked, then walked back with prev. */
static void expect_fires(const char *expr, const tt_tz *tz, int64_t from, const int64_t *want,
                         int n)
{
    tt_cron c = parse(expr);
    int64_t t = from;

    for (int i = 0; i < n; i++) {
        t = tt_cron_next(&c, tz, t);
        cr_expect_eq(t, want[i], "'%s' in %s: fire %d is %lld, expected %lld", expr, tt_tz_name(tz),
                     i, (long long)t, (long long)want[i]);
        t = want[i];
        cr_expect_eq(tt_cron_prev(&c, tz, t), t, "'%s': prev of fire %d", expr, i);
        cr_expect_eq(tt_cron_prev(&c, tz, t + 59), t, "'%s': prev just after fire %d", expr, i);
        if (i > 0)
            cr_expect_eq(tt_cron_prev(&c, tz, t - 1), want[i - 1], "'%s': prev before fire %d",
                         expr, i);
    }
}

#define FIRES(expr, tz, from, ...)                                                                 \
    do {                                                                                           \
        const int64_t want_[] = {__VA_ARGS__};                                                     \
        expect_fires(expr, tz, from, want_, (int)(sizeof(want_) / sizeof(want_[0])));              \
    } while (0)

Test(cron, tier_defaults_fire_daily_in_utc)
{
    int64_t t = utc(2026, 3, 10, 12, 0);

    FIRES("0 4 * * *", NULL, t, utc(2026, 3, 11, 4, 0), utc(2026, 3, 12, 4, 0));
    FIRES("0 5 * * *", NULL, t, utc(2026, 3, 11, 5, 0), utc(2026, 3, 12, 5, 0));
    FIRES("0 7 * * *", NULL, t, utc(2026, 3, 11, 7, 0), utc(2026, 3, 12, 7, 0));
    /* Strictly after: a fire time itself gives the next one; before it, itself. */
    FIRES("0 4 * * *", NULL, utc(2026, 3, 11, 4, 0), utc(2026, 3, 12, 4, 0));
    FIRES("0 4 * * *", NULL, utc(2026, 3, 11, 4, 0) - 1, utc(2026, 3, 11, 4, 0));
    /* Year and leap-day boundaries. */
    FIRES("0 4 * * *", NULL, utc(2027, 12, 31, 5, 0), utc(2028, 1, 1, 4, 0));
    FIRES("0 4 * * *", NULL, utc(2028, 2, 28, 5, 0), utc(2028, 2, 29, 4, 0), utc(2028, 3, 1, 4, 0));
}

Test(cron, steps_lists_and_ranges)
{
    /* 2026-03-07 is a Saturday: office hours resume on Monday the 9th. */
    FIRES("*/20 9-10 * * mon-fri", NULL, utc(2026, 3, 7, 12, 0), utc(2026, 3, 9, 9, 0),
          utc(2026, 3, 9, 9, 20), utc(2026, 3, 9, 9, 40), utc(2026, 3, 9, 10, 0),
          utc(2026, 3, 9, 10, 20), utc(2026, 3, 9, 10, 40), utc(2026, 3, 10, 9, 0));
    FIRES("5,35 1-23/11 * * *", NULL, utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 1, 5),
          utc(2026, 1, 1, 1, 35), utc(2026, 1, 1, 12, 5), utc(2026, 1, 1, 12, 35),
          utc(2026, 1, 1, 23, 5), utc(2026, 1, 1, 23, 35), utc(2026, 1, 2, 1, 5));
    FIRES("0 0 1 jan,apr,jul,oct *", NULL, utc(2026, 2, 1, 0, 0), utc(2026, 4, 1, 0, 0),
          utc(2026, 7, 1, 0, 0), utc(2026, 10, 1, 0, 0), utc(2027, 1, 1, 0, 0));
    FIRES("@hourly", NULL, utc(2026, 1, 1, 23, 30), utc(2026, 1, 2, 0, 0), utc(2026, 1, 2, 1, 0));
    FIRES("* * * * *", NULL, utc(2026, 1, 1, 23, 59) + 30, utc(2026, 1, 2, 0, 0),
          utc(2026, 1, 2, 0, 1));
    /* 2026-01-04 and 2026-01-11 are Sundays; 7 names Sunday too. */
    FIRES("@weekly", NULL, utc(2026, 1, 1, 0, 0), utc(2026, 1, 4, 0, 0), utc(2026, 1, 11, 0, 0));
    FIRES("0 0 * * 7", NULL, utc(2026, 1, 1, 0, 0), utc(2026, 1, 4, 0, 0), utc(2026, 1, 11, 0, 0));
}

Test(cron, day_of_month_or_day_of_week)
{
    /* Both restricted: the 13th or a Friday (2026-02-06, 13, 20, 27 and 03-06 are Fridays). */
    FIRES("0 0 13 * fri", NULL, utc(2026, 2, 1, 0, 0), utc(2026, 2, 6, 0, 0),
          utc(2026, 2, 13, 0, 0), utc(2026, 2, 20, 0, 0), utc(2026, 2, 27, 0, 0),
          utc(2026, 3, 6, 0, 0), utc(2026, 3, 13, 0, 0));
    FIRES("0 0 1,15 * mon", NULL, utc(2026, 6, 1, 0, 0), utc(2026, 6, 8, 0, 0),
          utc(2026, 6, 15, 0, 0), utc(2026, 6, 22, 0, 0), utc(2026, 6, 29, 0, 0),
          utc(2026, 7, 1, 0, 0), utc(2026, 7, 6, 0, 0));
    /* A starred day field (even with a step) leaves the other in charge, as in cron(8):
     * odd days that are Mondays (2026-06-01, 06-15, 06-29 are odd Mondays). */
    FIRES("0 0 */2 * mon", NULL, utc(2026, 5, 31, 0, 0), utc(2026, 6, 1, 0, 0),
          utc(2026, 6, 15, 0, 0), utc(2026, 6, 29, 0, 0));
    /* The OR also reaches months with no 31st: Feb is served by its Sundays. */
    FIRES("0 0 31 2 sun", NULL, utc(2026, 1, 31, 0, 0), utc(2026, 2, 1, 0, 0),
          utc(2026, 2, 8, 0, 0), utc(2026, 2, 15, 0, 0), utc(2026, 2, 22, 0, 0),
          utc(2027, 2, 7, 0, 0));
}

Test(cron, leap_days_and_month_ends)
{
    tt_cron never = parse("0 0 30 2 *"), leap = parse("0 0 29 2 *");

    FIRES("0 0 29 2 *", NULL, utc(2026, 1, 1, 0, 0), utc(2028, 2, 29, 0, 0),
          utc(2032, 2, 29, 0, 0));
    cr_expect_eq(tt_cron_prev(&leap, NULL, utc(2027, 6, 1, 0, 0)), utc(2024, 2, 29, 0, 0));
    /* 2100 is no leap year: the next Feb 29 after 2096 is in 2104, past five years. */
    cr_expect_eq(tt_cron_next(&leap, NULL, utc(2096, 3, 1, 0, 0)), 0);
    cr_expect_eq(tt_cron_prev(&leap, NULL, utc(2104, 2, 28, 0, 0)), 0);
    cr_expect_eq(tt_cron_next(&leap, NULL, utc(2103, 3, 1, 0, 0)), utc(2104, 2, 29, 0, 0));
    cr_expect_eq(tt_cron_next(&never, NULL, utc(2026, 1, 1, 0, 0)), 0);
    cr_expect_eq(tt_cron_prev(&never, NULL, utc(2026, 1, 1, 0, 0)), 0);
    FIRES("0 0 31 * *", NULL, utc(2026, 3, 31, 0, 0), utc(2026, 5, 31, 0, 0),
          utc(2026, 7, 31, 0, 0), utc(2026, 8, 31, 0, 0), utc(2026, 10, 31, 0, 0));
    FIRES("0 12 30 * *", NULL, utc(2026, 1, 30, 13, 0), utc(2026, 3, 30, 12, 0));
    FIRES("59 23 31 12 *", NULL, utc(2026, 12, 31, 23, 59), utc(2027, 12, 31, 23, 59));
    FIRES("@monthly", NULL, utc(2026, 2, 28, 23, 59), utc(2026, 3, 1, 0, 0), utc(2026, 4, 1, 0, 0));
    FIRES("@yearly", NULL, utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0), utc(2028, 1, 1, 0, 0));
}

Test(cron, daylight_saving_in_berlin)
{
    const tt_tz *z = zone("Europe/Berlin");

    /* Tier defaults: 04:00 local is 03:00 UTC in winter, 02:00 UTC in summer. */
    FIRES("0 4 * * *", z, utc(2026, 3, 28, 0, 0), utc(2026, 3, 28, 3, 0), utc(2026, 3, 29, 2, 0),
          utc(2026, 3, 30, 2, 0));
    FIRES("0 7 * * *", z, utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 6, 0),
          utc(2026, 10, 26, 6, 0));
    /* 2026-03-29 02:00 CET became 03:00 CEST (01:00 UTC): 02:30 fires once, at 03:00. */
    FIRES("30 2 * * *", z, utc(2026, 3, 28, 12, 0), utc(2026, 3, 29, 1, 0),
          utc(2026, 3, 30, 0, 30));
    FIRES("*/20 * * * *", z, utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 0, 40),
          utc(2026, 3, 29, 1, 0), utc(2026, 3, 29, 1, 20));
    /* 2026-10-25 03:00 CEST became 02:00 CET (01:00 UTC): 02:30 fires at its first occurrence. */
    FIRES("30 2 * * *", z, utc(2026, 10, 24, 12, 0), utc(2026, 10, 25, 0, 30),
          utc(2026, 10, 26, 1, 30));
    /* Every half hour: 02:00 and 02:30 CEST, not again in CET; then 03:00 CET. */
    FIRES("0,30 * * * *", z, utc(2026, 10, 24, 23, 45), utc(2026, 10, 25, 0, 0),
          utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 2, 30));
}

Test(cron, daylight_saving_in_new_york)
{
    const tt_tz *z = zone("America/New_York");
    tt_cron c = parse("*/15 1-2 * * *");

    /* 2026-03-08 02:00 EST became 03:00 EDT (07:00 UTC): the whole hour fires once. */
    FIRES("*/15 2 * * *", z, utc(2026, 3, 8, 0, 0), utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 6, 0));
    FIRES("*/15 1-2 * * *", z, utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 6, 45),
          utc(2026, 3, 8, 7, 0), utc(2026, 3, 9, 5, 0));
    /* 2026-11-01 02:00 EDT became 01:00 EST (06:00 UTC): 01:xx fires in EDT only. */
    FIRES("30 1 * * *", z, utc(2026, 10, 31, 12, 0), utc(2026, 11, 1, 5, 30),
          utc(2026, 11, 2, 6, 30));
    FIRES("*/15 1-2 * * *", z, utc(2026, 11, 1, 5, 40), utc(2026, 11, 1, 5, 45),
          utc(2026, 11, 1, 7, 0), utc(2026, 11, 1, 7, 15));
    /* In the repeated hour, the last fire is the first pass's. */
    cr_expect_eq(tt_cron_prev(&c, z, utc(2026, 11, 1, 6, 50)), utc(2026, 11, 1, 5, 45));
    cr_expect_eq(tt_cron_next(&c, z, utc(2026, 11, 1, 6, 50)), utc(2026, 11, 1, 7, 0));
}

/* ---- random expressions against a minute-by-minute reference ----------------------------- */

static bool bit(uint64_t mask, int i)
{
    return mask >> i & 1;
}

/* The cron(8) rule on a UTC-shaped wall time, written apart from the code under test. */
static bool ref_match(const tt_cron *c, int64_t wall)
{
    time_t w = (time_t)wall;
    struct tm tm;
    bool dom, dow;

    gmtime_r(&w, &tm);
    dom = bit(c->dom, tm.tm_mday);
    dow = bit(c->dow, tm.tm_wday);
    return bit(c->minute, tm.tm_min) && bit(c->hour, tm.tm_hour) && bit(c->month, tm.tm_mon + 1) &&
           (c->dom_any || c->dow_any ? dom && dow : dom || dow);
}

/*
 * Every fire in [w0, w1], by walking UTC minutes: a minute fires when its wall time matches
 * and was never shown before (clocks falling back show it twice), or when the clock jumped
 * over a matching wall minute to get here (springing forward). Starts two days early so that
 * "shown before" knows the days before w0.
 */
static int reference(const tt_cron *c, const tt_tz *tz, int64_t w0, int64_t w1, int64_t *out,
                     int cap)
{
    int64_t shown = INT64_MIN, last = INT64_MIN;
    int n = 0;

    for (int64_t t = w0 - 2 * DAY; t <= w1; t += MIN) {
        int64_t wall = t + tt_tz_offset(tz, t);
        bool fire = wall > shown && ref_match(c, wall);

        for (int64_t w = last + MIN; last != INT64_MIN && w < wall && !fire; w += MIN)
            fire = ref_match(c, w);
        if (fire && t >= w0) {
            cr_assert_lt(n, cap);
            out[n++] = t;
        }
        shown = wall > shown ? wall : shown;
        last = wall;
    }
    return n;
}

static void random_field(tt_rng *r, char *buf, size_t cap, int lo, int hi, bool star_often)
{
    size_t len = 0;
    int items = 1 + (int)tt_rng_below(r, 3);

    if (star_often && tt_rng_below(r, 2) == 0) {
        snprintf(buf, cap, "*");
        return;
    }
    for (int i = 0; i < items; i++) {
        int a = lo + (int)tt_rng_below(r, (uint64_t)(hi - lo + 1));
        int b = a + (int)tt_rng_below(r, (uint64_t)(hi - a + 1));
        int s = 1 + (int)tt_rng_below(r, (uint64_t)(hi - lo + 1) / 2 + 1);
        const char *sep = i ? "," : "";

        switch (tt_rng_below(r, 6)) {
        case 0:
            len += (size_t)snprintf(buf + len, cap - len, "%s*", sep);
            break;
        case 1:
            len += (size_t)snprintf(buf + len, cap - len, "%s*/%d", sep, s);
            break;
        case 2:
            len += (size_t)snprintf(buf + len, cap - len, "%s%d", sep, a);
            break;
        case 3:
            len += (size_t)snprintf(buf + len, cap - len, "%s%d-%d", sep, a, b);
            break;
        case 4:
            len += (size_t)snprintf(buf + len, cap - len, "%s%d-%d/%d", sep, a, b, s);
            break;
        default:
            len += (size_t)snprintf(buf + len, cap - len, "%s%d/%d", sep, a, s);
            break;
        }
    }
}

static void random_expr(tt_rng *r, char *buf, size_t cap)
{
    char f[5][64];

    random_field(r, f[0], sizeof(f[0]), 0, 59, false);
    random_field(r, f[1], sizeof(f[1]), 0, 23, true);
    random_field(r, f[2], sizeof(f[2]), 1, 31, true);
    random_field(r, f[3], sizeof(f[3]), 1, 12, true);
    random_field(r, f[4], sizeof(f[4]), 0, 7, true);
    snprintf(buf, cap, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
}

/* next and prev agree with the reference everywhere in [w0, w1]. */
static void check_window(const char *expr, const tt_tz *tz, int64_t w0, int64_t w1, tt_rng *r)
{
    static int64_t ref[40000];
    tt_cron c = parse(expr);
    int n = reference(&c, tz, w0, w1, ref, 40000), k = 0;
    int64_t t = w0 - 1, got;
    const char *zn = tt_tz_name(tz);

    for (int i = 0; i < n; i++, t = ref[i - 1]) {
        got = tt_cron_next(&c, tz, t);
        cr_assert_eq(got, ref[i], "'%s' in %s: next(%lld) = %lld, reference %lld", expr, zn,
                     (long long)t, (long long)got, (long long)ref[i]);
        got = tt_cron_prev(&c, tz, ref[i] - 1);
        cr_assert(i == 0 ? got < w0 : got == ref[i - 1], "'%s' in %s: prev(%lld) = %lld", expr, zn,
                  (long long)ref[i] - 1, (long long)got);
    }
    got = tt_cron_next(&c, tz, t);
    cr_assert(got == 0 || got > w1, "'%s' in %s: next(%lld) = %lld, none in the window", expr, zn,
              (long long)t, (long long)got);
    got = tt_cron_prev(&c, tz, w1);
    cr_assert_eq(got, n ? ref[n - 1] : got, "'%s' in %s: prev(w1)", expr, zn);
    cr_assert(n || got < w0, "'%s' in %s: prev(w1) = %lld, none in the window", expr, zn,
              (long long)got);
    /* Arbitrary instants, not on minutes: the fires either side. */
    for (int j = 0; j < 50; j++) {
        int64_t s = w0 + (int64_t)tt_rng_below(r, (uint64_t)(w1 - w0));
        int64_t next, prev;

        while (k > 0 && ref[k - 1] > s)
            k--;
        while (k < n && ref[k] <= s)
            k++;
        next = tt_cron_next(&c, tz, s);
        prev = tt_cron_prev(&c, tz, s);
        cr_assert(k < n ? next == ref[k] : next == 0 || next > w1, "'%s' in %s: next(%lld) = %lld",
                  expr, zn, (long long)s, (long long)next);
        cr_assert(k > 0 ? prev == ref[k - 1] : prev < w0, "'%s' in %s: prev(%lld) = %lld", expr, zn,
                  (long long)s, (long long)prev);
    }
}

static void check_random(const char *zone_name, uint64_t seed)
{
    const tt_tz *tz = strcmp(zone_name, "UTC") ? zone(zone_name) : NULL;
    tt_rng r;
    char expr[400];

    tt_rng_seed(&r, seed, 0);
    for (int i = 0; i < 120; i++) {
        /* Half the windows open in March or October, where DST changes lie. */
        int year = 2000 + (int)tt_rng_below(&r, 50);
        int month =
            tt_rng_below(&r, 2) ? (tt_rng_below(&r, 2) ? 3 : 10) : 1 + (int)tt_rng_below(&r, 12);
        int64_t w0 = utc(year, month, 1, 0, 0) + (int64_t)tt_rng_below(&r, 28 * DAY / MIN) * MIN;

        random_expr(&r, expr, sizeof(expr));
        check_window(expr, tz, w0, w0 + 21 * DAY, &r);
    }
}

Test(cron, random_expressions_match_the_reference_in_utc, .timeout = 120)
{
    check_random("UTC", 1);
}

Test(cron, random_expressions_match_the_reference_in_berlin, .timeout = 120)
{
    check_random("Europe/Berlin", 2);
}

Test(cron, random_expressions_match_the_reference_in_new_york, .timeout = 120)
{
    check_random("America/New_York", 3);
}

/* Lord Howe Island moves its clocks by half an hour; Sydney is south of the equator. */
Test(cron, random_expressions_match_the_reference_in_lord_howe, .timeout = 120)
{
    check_random("Australia/Lord_Howe", 4);
}

Test(cron, random_expressions_match_the_reference_in_sydney, .timeout = 120)
{
    check_random("Australia/Sydney", 5);
}
