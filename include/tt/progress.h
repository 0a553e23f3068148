/*
 * progress.h - how long-running work says how far it got, and how a command line shows it.
 *
 * Library code (the importers, the generator, model training, the training pipeline, index
 * building) reports through a tt_progress_fn it is handed, or does not report at all: it never
 * writes to a terminal itself. A command owns a tt_progress, which turns those reports into a
 * bar redrawn in place when its stream is a terminal, one line per finished stage when it is
 * not (a log keeps no carriage returns), or nothing at all (--quiet).
 *
 * The arithmetic (rate, ETA, the text of a line) is kept apart from the stream, in plain
 * functions taking the time as an argument, so it is tested without a clock or a terminal.
 */
#ifndef TT_PROGRESS_H
#define TT_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A report: @done of @total units of @stage are finished (@total 0: not known in advance).
 * A stage is finished when @done reaches a non-zero @total; a reporter that cannot say how
 * much is left reports @total 0 and ends the stage by reporting a new one (or nothing more).
 * @stage is borrowed for the call. Reporters call it from one thread at a time.
 */
typedef void (*tt_progress_fn)(void *ctx, const char *stage, int64_t done, int64_t total);

/* ---- the arithmetic ---------------------------------------------------------------------- */

/* One stage's measurements. Plain data; set by the functions below. */
typedef struct tt_progress_meter {
    double t0;          /* when the stage began (seconds, any monotonic origin) */
    double sample_t;    /* time of the last rate sample */
    int64_t sample_done;
    double rate;        /* units per second, smoothed; 0 until measured */
    int64_t done;
    int64_t total;      /* 0: unknown */
} tt_progress_meter;

/* Starts a stage of @total units (0: unknown) at time @now. */
void tt_progress_meter_start(tt_progress_meter *m, int64_t total, double now);

/*
 * Records @done units at time @now. The rate is measured over windows of at least half a
 * second and smoothed (each window weighs 30%), so one slow or fast step does not swing the
 * ETA; the first window sets it outright, and before it closes the average so far stands in. @done never goes backwards (a smaller value is
 * ignored) and is capped at a known total.
 */
void tt_progress_meter_update(tt_progress_meter *m, int64_t done, double now);

/* Seconds left at the current rate; -1 when unknown (no total or no rate yet). */
double tt_progress_meter_eta(const tt_progress_meter *m);

/* Done share in [0, 1]; 0 when the total is unknown. */
double tt_progress_meter_fraction(const tt_progress_meter *m);

/*
 * Durations as a person reads them: "0:04", "12:34", "1:02:03"; "-:--" for a negative or
 * non-finite @seconds. Returns @buf.
 */
char *tt_progress_format_duration(double seconds, char *buf, size_t cap);

/*
 * A rate with its unit: "7.1 it/s", "850 rows/s", "12.3k rows/s", "4.20M rows/s"; three
 * significant digits at most. Returns @buf.
 */
char *tt_progress_format_rate(double rate, const char *unit, char *buf, size_t cap);

/*
 * The line drawn on a terminal while a stage runs, e.g.
 *   "train als  [##########..........]  52%  7.1 it/s  ETA 0:04"
 * (@width: characters of the bar, >= 1). Without a total: "train ease  0:03" (with the
 * count and rate when something was counted). Once done reaches the total, the ETA gives way
 * to the elapsed time. Returns the length written (snprintf's, truncated to @cap).
 */
int tt_progress_format_bar(const tt_progress_meter *m, const char *label, const char *unit,
                           int width, double now, char *buf, size_t cap);

/*
 * The one line a finished stage leaves in a log, e.g.
 *   "train als: 15 it in 2.1 s (7.1 it/s)" or "train ease: done in 3.2 s".
 * Returns the length as tt_progress_format_bar.
 */
int tt_progress_format_line(const tt_progress_meter *m, const char *label, const char *unit,
                            double now, char *buf, size_t cap);

/* ---- the display ------------------------------------------------------------------------- */

enum tt_progress_mode {
    TT_PROGRESS_QUIET, /* nothing */
    TT_PROGRESS_LINES, /* one line per finished stage */
    TT_PROGRESS_BAR,   /* a bar redrawn in place (a terminal) */
};

/* BAR when @fd is a terminal other than TERM=dumb, LINES otherwise, QUIET when @quiet. */
enum tt_progress_mode tt_progress_mode_for(int fd, bool quiet);

typedef struct tt_progress tt_progress;

/* A display writing to @out (borrowed: it must outlive the handle). Never fails. */
tt_progress *tt_progress_new(FILE *out, enum tt_progress_mode mode);
/* Ends a stage still open, then frees. NULL does nothing. */
void tt_progress_free(tt_progress *p);

/* The unit of the stages begun from now on ("it", "rows", "trials"; default "it"). */
void tt_progress_set_unit(tt_progress *p, const char *unit);

/*
 * Ends the open stage, if any, and begins @label with @total units (0: unknown). A bar is
 * first drawn at the stage's first update.
 */
void tt_progress_begin(tt_progress *p, const char *label, int64_t total);
/*
 * @done units of the open stage are finished; @total (when non-zero) replaces the stage's.
 * A bar is redrawn at most ten times a second; reaching the total ends the stage.
 */
void tt_progress_update(tt_progress *p, int64_t done, int64_t total);
/* Ends the open stage: the final bar (and a newline), or the stage's log line. */
void tt_progress_end(tt_progress *p);

/*
 * Writes one line of text (a newline is added) without garbling the bar: the bar's line is
 * cleared first and redrawn after. A note is not progress (a skipped row, a warning): it is
 * written in every mode, QUIET included.
 */
void tt_progress_note(tt_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A tt_progress_fn for @ctx, a tt_progress: a report naming another stage than the open one
 * ends it and begins the new stage; done reaching total ends it.
 */
void tt_progress_report(void *ctx, const char *stage, int64_t done, int64_t total);

#endif
