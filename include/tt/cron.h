/*
 * cron.h - cron expressions ("0 4 * * *") and their fire times in a time zone, for the
 * built-in training scheduler (one expression per tier).
 *
 * An expression has five fields, "minute hour day-of-month month day-of-week", each a
 * comma-separated list of items:
 *
 *     *          every value of the field
 *     N          one value
 *     A-B        A through B (A <= B; no wrap-around)
 *     X/S        every S-th value of X, counting from its first, where X is a star, A-B, or
 *                N (meaning N through the field's maximum): "10-40/15" is 10,25,40 and
 *                "5/20" in minutes is 5,25,45; a star then "/15" is 0,15,30,45
 *
 * Ranges: minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or jan..dec, day-of-week
 * 0-7 or sun..sat (0 and 7 are both Sunday). Names are case-insensitive three-letter
 * abbreviations and may bound ranges ("mon-fri", "jan-mar"). Fields are separated by white
 * space. The macros (case-insensitive) @hourly, @daily, @midnight, @weekly, @monthly, @yearly
 * and @annually stand for "0 * * * *", "0 0 * * *", "0 0 * * *", "0 0 * * 0", "0 0 1 * *",
 * "0 0 1 1 *" and "0 0 1 1 *"; @reboot is not supported (the scheduler has no boot to speak
 * of).
 *
 * Days follow cron(8) (Vixie cron, cronie): when neither day field starts with a star, a day
 * matches if its day of month OR its day of week matches ("0 0 1,15 * mon" fires on the 1st,
 * the 15th and every Monday); when either starts with one (a star alone, or a star with a
 * step), a day must match both ("0 0 * /2 * mon", without the space, is odd Mondays only).
 *
 * Fire times are local wall-clock times of a zone. Daylight saving time: a wall time that
 * does not exist (the skipped hour when clocks spring forward) fires once, at the first
 * instant after the gap, however many of its minutes match; a wall time that happens twice
 * (clocks fall back) fires only at its first occurrence. Zones are assumed to change their
 * offset at most once in any 24 hours, as real zones do.
 */
#ifndef TT_CRON_H
#define TT_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/err.h"
#include "tt/tz.h"

/* How far tt_cron_next and tt_cron_prev look: five years of 365.25 days, rounded up. */
#define TT_CRON_HORIZON_DAYS 1827

/*
 * A parsed expression: plain data, copyable, no release needed. Bit i of a mask is set when
 * value i matches (minute 0..59, hour 0..23, dom 1..31, month 1..12, dow 0 Sunday..6).
 */
typedef struct tt_cron {
    uint64_t minute;
    uint32_t hour;
    uint32_t dom;
    uint16_t month;
    uint8_t dow;
    bool dom_any; /* the day-of-month field starts with '*' */
    bool dow_any; /* the day-of-week field starts with '*' */
} tt_cron;

/*
 * Parses @expr (five fields or a macro, see above) into *@out, which is written only on
 * success. Errors: TT_EINVAL, err->field set to the field at fault ("minute", "hour",
 * "day-of-month", "month", "day-of-week"; "schedule" for the expression as a whole: empty,
 * wrong number of fields, unknown macro), the message quoting the offending text.
 * Thread-safe.
 */
int tt_cron_parse(const char *expr, tt_cron *out, tt_err *err);

/* Whether the wall time y-m-d h:m (proleptic Gregorian) matches @c; no zone involved. */
bool tt_cron_matches(const tt_cron *c, int year, int month, int day, int hour, int minute);

/*
 * The first fire time of @c strictly after @after (Unix seconds), in zone @tz (NULL: UTC),
 * or 0 when there is none within TT_CRON_HORIZON_DAYS (an expression such as "0 0 30 2 *"
 * never fires). Fire times are whole local minutes, except a fire moved to the end of a
 * daylight saving gap, which is the transition instant. The epoch itself cannot be told
 * from "none"; schedules are never that old. Thread-safe; @tz is only read.
 */
int64_t tt_cron_next(const tt_cron *c, const tt_tz *tz, int64_t after);

/*
 * The latest fire time of @c at or before @at, in zone @tz (NULL: UTC), or 0 when there is
 * none within the previous TT_CRON_HORIZON_DAYS. The inverse of tt_cron_next: for a fire
 * time f, tt_cron_prev(c, tz, f) == f and tt_cron_next(c, tz, tt_cron_prev(c, tz, t)) > t.
 */
int64_t tt_cron_prev(const tt_cron *c, const tt_tz *tz, int64_t at);

#endif
