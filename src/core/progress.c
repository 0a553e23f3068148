/*
 * Progress meters and their display (progress.h). The rate is an exponentially smoothed
 * average over windows of at least half a second: per-call rates would jump with every
 * uneven step (an ALS sweep with a slow first solve, a CSV batch that waits for a commit),
 * and a plain average since the start would lag when the pace changes.
 */
#include "tt/progress.h"
#include "tt/core.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RATE_WINDOW 0.5   /* seconds a rate sample spans at least */
#define RATE_WEIGHT 0.3   /* weight of the newest window in the smoothed rate */
#define REDRAW_EVERY 0.1  /* seconds between redraws of a bar */
#define BAR_WIDTH 20

void tt_progress_meter_start(tt_progress_meter *m, int64_t total, double now)
{
    memset(m, 0, sizeof(*m));
    m->t0 = m->sample_t = now;
    m->total = total > 0 ? total : 0;
}

void tt_progress_meter_update(tt_progress_meter *m, int64_t done, double now)
{
    double span = now - m->sample_t, window_rate;

    if (m->total > 0 && done > m->total)
        done = m->total;
    if (done < m->done)
        return;
    m->done = done;
    if (span < RATE_WINDOW) {
        /* Until the first window closes, the average so far stands in for the rate. */
        if (m->sample_t == m->t0 && span > 0)
            m->rate = (double)done / span;
        return;
    }
    window_rate = (double)(done - m->sample_done) / span;
    m->rate = m->sample_t > m->t0 ? RATE_WEIGHT * window_rate + (1 - RATE_WEIGHT) * m->rate
                                  : window_rate;
    m->sample_t = now;
    m->sample_done = done;
}

double tt_progress_meter_eta(const tt_progress_meter *m)
{
    if (m->total <= 0 || !(m->rate > 0))
        return -1;
    return (double)(m->total - m->done) / m->rate;
}

double tt_progress_meter_fraction(const tt_progress_meter *m)
{
    if (m->total <= 0)
        return 0;
    return (double)m->done / (double)m->total;
}

char *tt_progress_format_duration(double seconds, char *buf, size_t cap)
{
    long s;

    if (!(seconds >= 0) || !isfinite(seconds) || seconds > 1e9) {
        snprintf(buf, cap, "-:--");
        return buf;
    }
    s = lround(seconds);
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

/* Three significant digits: 7.12, 71.2, 712. */
static void three_digits(double x, const char *suffix, const char *unit, char *buf, size_t cap)
{
    int decimals = x < 9.995 ? 2 : x < 99.95 ? 1 : 0;

    snprintf(buf, cap, "%.*f%s %s/s", decimals, x, suffix, unit);
}

char *tt_progress_format_rate(double rate, const char *unit, char *buf, size_t cap)
{
    if (!(rate >= 0) || !isfinite(rate))
        rate = 0;
    if (rate >= 999.5e6)
        three_digits(rate / 1e9, "G", unit, buf, cap);
    else if (rate >= 999.5e3)
        three_digits(rate / 1e6, "M", unit, buf, cap);
    else if (rate >= 999.5)
        three_digits(rate / 1e3, "k", unit, buf, cap);
    else if (rate >= 9.995)
        snprintf(buf, cap, "%.*f %s/s", rate < 99.95 ? 1 : 0, rate, unit);
    else
        snprintf(buf, cap, "%.1f %s/s", rate, unit);
    return buf;
}

static int format_unknown_total(const tt_progress_meter *m, const char *label, const char *unit,
                                double now, char *buf, size_t cap)
{
    char rate[48] = "", took[24];

    tt_progress_format_duration(now - m->t0, took, sizeof(took));
    if (m->done > 0 && m->rate > 0)
        tt_progress_format_rate(m->rate, unit, rate, sizeof(rate));
    if (m->done > 0)
        return snprintf(buf, cap, "%s  %lld %s  %s%s%s", label, (long long)m->done, unit, rate,
                        rate[0] ? "  " : "", took);
    return snprintf(buf, cap, "%s  %s", label, took);
}

int tt_progress_format_bar(const tt_progress_meter *m, const char *label, const char *unit,
                           int width, double now, char *buf, size_t cap)
{
    char bar[256], rate[48] = "", when[24];
    double f = tt_progress_meter_fraction(m), r = m->rate;
    int fill;

    if (m->total <= 0)
        return format_unknown_total(m, label, unit, now, buf, cap);
    if (width < 1)
        width = 1;
    if (width > (int)sizeof(bar) - 1)
        width = (int)sizeof(bar) - 1;
    fill = (int)(f * width);
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    /* A stage done before its first rate window still has a rate: its average. */
    if (!(r > 0) && m->done > 0 && now - m->t0 > 0 && m->done >= m->total)
        r = (double)m->done / (now - m->t0);
    if (r > 0)
        tt_progress_format_rate(r, unit, rate, sizeof(rate));
    if (m->done >= m->total)
        tt_progress_format_duration(now - m->t0, when, sizeof(when));
    else
        tt_progress_format_duration(tt_progress_meter_eta(m), when, sizeof(when));
    return snprintf(buf, cap, "%s  [%s] %3d%%  %s%s%s %s", label, bar, (int)(f * 100),
                    rate, rate[0] ? "  " : "", m->done >= m->total ? "in" : "ETA", when);
}

int tt_progress_format_line(const tt_progress_meter *m, const char *label, const char *unit,
                            double now, char *buf, size_t cap)
{
    double took = now - m->t0;
    char rate[48];

    if (m->done <= 0)
        return snprintf(buf, cap, "%s: done in %.1f s", label, took);
    tt_progress_format_rate(took > 0 ? (double)m->done / took : 0, unit, rate, sizeof(rate));
    if (m->total > 0 && m->done < m->total)
        return snprintf(buf, cap, "%s: %lld of %lld %s in %.1f s (%s)", label,
                        (long long)m->done, (long long)m->total, unit, took, rate);
    return snprintf(buf, cap, "%s: %lld %s in %.1f s (%s)", label, (long long)m->done, unit,
                    took, rate);
}

/* ---- the display ------------------------------------------------------------------------- */

struct tt_progress {
    FILE *out;
    enum tt_progress_mode mode;
    char unit[16];
    char label[96];       /* the open stage; "" when none */
    char finished[96];    /* the stage ended last: its repeated final reports are dropped */
    tt_progress_meter m;
    double drawn_at;      /* when the bar was last drawn; 0: not on screen */
    int drawn_len;        /* characters of the bar on screen */
};

enum tt_progress_mode tt_progress_mode_for(int fd, bool quiet)
{
    const char *term = getenv("TERM");

    if (quiet)
        return TT_PROGRESS_QUIET;
    if (isatty(fd) && !(term && strcmp(term, "dumb") == 0))
        return TT_PROGRESS_BAR;
    return TT_PROGRESS_LINES;
}

tt_progress *tt_progress_new(FILE *out, enum tt_progress_mode mode)
{
    tt_progress *p = tt_calloc(1, sizeof(*p));

    p->out = out;
    p->mode = out ? mode : TT_PROGRESS_QUIET;
    snprintf(p->unit, sizeof(p->unit), "it");
    return p;
}

void tt_progress_free(tt_progress *p)
{
    if (!p)
        return;
    tt_progress_end(p);
    free(p);
}

void tt_progress_set_unit(tt_progress *p, const char *unit)
{
    if (p)
        snprintf(p->unit, sizeof(p->unit), "%s", unit ? unit : "it");
}

/* Draws the bar over the previous one, padding with spaces what a shorter line leaves. */
static void draw(tt_progress *p, double now)
{
    char line[512];
    int n = tt_progress_format_bar(&p->m, p->label, p->unit, BAR_WIDTH, now, line, sizeof(line));

    if (n >= (int)sizeof(line))
        n = (int)sizeof(line) - 1;
    fprintf(p->out, "\r%s%*s", line, p->drawn_len > n ? p->drawn_len - n : 0, "");
    fflush(p->out);
    p->drawn_len = n;
    p->drawn_at = now;
}

/* Takes the bar off the screen (for a note), leaving the cursor at the line's start. */
static void clear(tt_progress *p)
{
    if (p->mode != TT_PROGRESS_BAR || !p->drawn_at)
        return;
    fprintf(p->out, "\r%*s\r", p->drawn_len, "");
    p->drawn_at = 0;
    p->drawn_len = 0;
}

void tt_progress_begin(tt_progress *p, const char *label, int64_t total)
{
    if (!p)
        return;
    tt_progress_end(p);
    p->finished[0] = '\0';
    snprintf(p->label, sizeof(p->label), "%s", label && *label ? label : "working");
    /* Nothing is drawn before the first update: a stage with nothing to count leaves the
     * screen to the lines its work prints, and shows itself once, when it ends. */
    tt_progress_meter_start(&p->m, total, tt_now());
}

void tt_progress_update(tt_progress *p, int64_t done, int64_t total)
{
    double now = tt_now();

    if (!p || !p->label[0])
        return;
    if (total > 0)
        p->m.total = total;
    tt_progress_meter_update(&p->m, done, now);
    if (p->m.total > 0 && p->m.done >= p->m.total) {
        tt_progress_end(p);
        return;
    }
    if (p->mode == TT_PROGRESS_BAR && now - p->drawn_at >= REDRAW_EVERY)
        draw(p, now);
}

void tt_progress_end(tt_progress *p)
{
    char line[512];
    double now = tt_now();

    if (!p || !p->label[0])
        return;
    if (p->mode == TT_PROGRESS_BAR) {
        draw(p, now);
        fputc('\n', p->out);
    } else if (p->mode == TT_PROGRESS_LINES) {
        tt_progress_format_line(&p->m, p->label, p->unit, now, line, sizeof(line));
        fprintf(p->out, "%s\n", line);
    }
    if (p->mode != TT_PROGRESS_QUIET)
        fflush(p->out);
    memcpy(p->finished, p->label, sizeof(p->finished));
    p->label[0] = '\0';
    p->drawn_at = 0;
    p->drawn_len = 0;
}

void tt_progress_note(tt_progress *p, const char *fmt, ...)
{
    va_list ap;

    if (!p || !p->out)
        return;
    clear(p);
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    if (p->mode == TT_PROGRESS_BAR && p->label[0])
        draw(p, tt_now());
    fflush(p->out);
}

void tt_progress_report(void *ctx, const char *stage, int64_t done, int64_t total)
{
    tt_progress *p = ctx;

    if (!p)
        return;
    stage = stage && *stage ? stage : "working";
    if (!p->label[0] && strcmp(p->finished, stage) == 0)
        return;
    if (strcmp(p->label, stage) != 0)
        tt_progress_begin(p, stage, total);
    tt_progress_update(p, done, total);
}
