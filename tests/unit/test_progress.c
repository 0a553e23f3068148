/*
 * Progress meters: rate windows and smoothing, ETA, the text of bars and log lines, and what
 * the display writes in each mode (to a memory stream: no terminal needed).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt/progress.h"

static const char *duration(double s)
{
    static char buf[32];
    return tt_progress_format_duration(s, buf, sizeof(buf));
}

static const char *rate(double r, const char *unit)
{
    static char buf[48];
    return tt_progress_format_rate(r, unit, buf, sizeof(buf));
}

Test(progress, durations_as_people_read_them)
{
    cr_expect_str_eq(duration(0), "0:00");
    cr_expect_str_eq(duration(4.4), "0:04");
    cr_expect_str_eq(duration(4.6), "0:05");
    cr_expect_str_eq(duration(754), "12:34");
    cr_expect_str_eq(duration(3723), "1:02:03");
    cr_expect_str_eq(duration(-1), "-:--");
    cr_expect_str_eq(duration(1.0 / 0.0), "-:--");
}

Test(progress, rates_keep_three_significant_digits)
{
    cr_expect_str_eq(rate(7.12, "it"), "7.1 it/s");
    cr_expect_str_eq(rate(0, "it"), "0.0 it/s");
    cr_expect_str_eq(rate(42.25, "rows"), "42.2 rows/s");
    cr_expect_str_eq(rate(850, "rows"), "850 rows/s");
    cr_expect_str_eq(rate(12345, "rows"), "12.3k rows/s");
    cr_expect_str_eq(rate(999.7, "rows"), "1.00k rows/s");
    cr_expect_str_eq(rate(4.2e6, "rows"), "4.20M rows/s");
    cr_expect_str_eq(rate(123.4e6, "rows"), "123M rows/s");
}

Test(progress, rate_is_measured_over_half_second_windows)
{
    tt_progress_meter m;

    tt_progress_meter_start(&m, 100, 10.0);
    cr_expect_eq(tt_progress_meter_eta(&m), -1, "no rate before any update");
    tt_progress_meter_update(&m, 5, 10.2); /* a short first window: the average stands in */
    cr_expect_eq(m.done, 5);
    cr_expect_float_eq(m.rate, 25.0, 1e-9);
    cr_expect_float_eq(tt_progress_meter_eta(&m), 95.0 / 25.0, 1e-9);
    tt_progress_meter_update(&m, 10, 11.0); /* the first window closes: 10 units in 1 s */
    cr_expect_float_eq(m.rate, 10.0, 1e-9);
    cr_expect_float_eq(tt_progress_meter_eta(&m), 9.0, 1e-9);
    cr_expect_float_eq(tt_progress_meter_fraction(&m), 0.10, 1e-12);
}

Test(progress, rate_is_smoothed_not_replaced)
{
    tt_progress_meter m;

    tt_progress_meter_start(&m, 1000, 0.0);
    tt_progress_meter_update(&m, 10, 1.0);  /* 10/s */
    tt_progress_meter_update(&m, 40, 2.0);  /* a 30/s window: 0.3 * 30 + 0.7 * 10 = 16 */
    cr_expect_float_eq(m.rate, 16.0, 1e-9);
    cr_expect_float_eq(tt_progress_meter_eta(&m), 960.0 / 16.0, 1e-9);
}

Test(progress, done_never_goes_back_and_stops_at_the_total)
{
    tt_progress_meter m;

    tt_progress_meter_start(&m, 50, 0.0);
    tt_progress_meter_update(&m, 30, 1.0);
    tt_progress_meter_update(&m, 20, 2.0);
    cr_expect_eq(m.done, 30);
    tt_progress_meter_update(&m, 80, 3.0);
    cr_expect_eq(m.done, 50);
    cr_expect_float_eq(tt_progress_meter_eta(&m), 0.0, 1e-12);
}

Test(progress, unknown_total_has_no_eta)
{
    tt_progress_meter m;

    tt_progress_meter_start(&m, 0, 0.0);
    tt_progress_meter_update(&m, 100, 1.0);
    cr_expect_float_eq(m.rate, 100.0, 1e-9);
    cr_expect_eq(tt_progress_meter_eta(&m), -1);
    cr_expect_eq(tt_progress_meter_fraction(&m), 0);
}

Test(progress, bar_shows_share_rate_and_eta)
{
    tt_progress_meter m;
    char buf[256];

    tt_progress_meter_start(&m, 25, 0.0);
    tt_progress_meter_update(&m, 13, 1.83); /* 7.1 it/s, 12 left: 1.7 s */
    tt_progress_format_bar(&m, "train als", "it", 10, 1.83, buf, sizeof(buf));
    cr_expect_str_eq(buf, "train als  [#####.....]  52%  7.1 it/s  ETA 0:02");
}

Test(progress, bar_of_a_finished_stage_shows_elapsed_time)
{
    tt_progress_meter m;
    char buf[256];

    tt_progress_meter_start(&m, 4, 0.0);
    tt_progress_meter_update(&m, 4, 0.2); /* done inside the first window: the average rate */
    tt_progress_format_bar(&m, "generate users", "rows", 4, 0.2, buf, sizeof(buf));
    cr_expect_str_eq(buf, "generate users  [####] 100%  20.0 rows/s  in 0:00");
}

Test(progress, bar_before_any_rate_has_no_eta)
{
    tt_progress_meter m;
    char buf[256];

    tt_progress_meter_start(&m, 10, 0.0);
    tt_progress_format_bar(&m, "index", "it", 5, 0.1, buf, sizeof(buf));
    cr_expect_str_eq(buf, "index  [.....]   0%  ETA -:--");
}

Test(progress, unknown_total_shows_count_and_elapsed_time)
{
    tt_progress_meter m;
    char buf[256];

    tt_progress_meter_start(&m, 0, 0.0);
    tt_progress_format_bar(&m, "train ease", "it", 10, 3.2, buf, sizeof(buf));
    cr_expect_str_eq(buf, "train ease  0:03");
    tt_progress_meter_update(&m, 2000, 1.0);
    tt_progress_format_bar(&m, "import", "rows", 10, 3.2, buf, sizeof(buf));
    cr_expect_str_eq(buf, "import  2000 rows  2.00k rows/s  0:03");
}

Test(progress, log_line_of_a_stage)
{
    tt_progress_meter m;
    char buf[256];

    tt_progress_meter_start(&m, 15, 0.0);
    tt_progress_meter_update(&m, 15, 2.1);
    tt_progress_format_line(&m, "train als", "it", 2.1, buf, sizeof(buf));
    cr_expect_str_eq(buf, "train als: 15 it in 2.1 s (7.1 it/s)");
    tt_progress_meter_start(&m, 0, 0.0);
    tt_progress_format_line(&m, "train ease", "it", 3.2, buf, sizeof(buf));
    cr_expect_str_eq(buf, "train ease: done in 3.2 s");
    tt_progress_meter_start(&m, 10, 0.0);
    tt_progress_meter_update(&m, 4, 2.0);
    tt_progress_format_line(&m, "tune als", "trials", 2.0, buf, sizeof(buf));
    cr_expect_str_eq(buf, "tune als: 4 of 10 trials in 2.0 s (2.0 trials/s)");
}

/* Runs @fn against a display of @mode writing to memory; returns what it wrote (free it). */
static char *capture(enum tt_progress_mode mode, void (*fn)(tt_progress *p))
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    tt_progress *p = tt_progress_new(f, mode);

    fn(p);
    tt_progress_free(p);
    fclose(f);
    return text;
}

static void two_stages(tt_progress *p)
{
    tt_progress_set_unit(p, "rows");
    for (int i = 1; i <= 100; i++)
        tt_progress_report(p, "artists", i, 100);
    tt_progress_report(p, "artists", 100, 100); /* a repeated final report */
    tt_progress_note(p, "a note");
    for (int i = 1; i <= 50; i++)
        tt_progress_report(p, "tracks", i, 100);
}

Test(progress, lines_mode_writes_one_line_per_stage_and_no_carriage_return)
{
    char *out = capture(TT_PROGRESS_LINES, two_stages);
    int lines = 0;

    for (char *c = out; *c; c++)
        lines += *c == '\n';
    cr_expect_null(strchr(out, '\r'), "%s", out);
    cr_expect_eq(lines, 3, "%s", out);
    cr_expect(strncmp(out, "artists: 100 rows in ", 21) == 0, "%s", out);
    cr_expect_not_null(strstr(out, "\na note\ntracks: 50 of 100 rows in "), "%s", out);
    free(out);
}

Test(progress, bar_mode_redraws_in_place)
{
    char *out = capture(TT_PROGRESS_BAR, two_stages);

    cr_expect_not_null(strstr(out, "\rartists  [####################] 100%"), "%s", out);
    cr_expect_not_null(strstr(out, "a note\n"), "%s", out);
    cr_expect_not_null(strstr(out, "\rtracks  [##########..........]  50%"), "%s", out);
    cr_expect_eq(out[strlen(out) - 1], '\n', "the last bar is ended: %s", out);
    free(out);
}

Test(progress, quiet_mode_writes_notes_alone)
{
    char *out = capture(TT_PROGRESS_QUIET, two_stages);

    cr_expect_str_eq(out, "a note\n");
    free(out);
}

Test(progress, null_handle_is_harmless)
{
    tt_progress_report(NULL, "x", 1, 2);
    tt_progress_begin(NULL, "x", 1);
    tt_progress_update(NULL, 1, 0);
    tt_progress_end(NULL);
    tt_progress_note(NULL, "x");
    tt_progress_free(NULL);
}
