/*
 * The operators' dashboard: GET /dashboard (a page of charts, web/dashboard.html compiled
 * in), GET /dashboard/chart.js (Debian's Chart.js, read from disk) and GET /dashboard/data
 * (the series the page plots, docs/dashboard.md).
 *
 * The time series are per-minute differences of the counters prom.c already keeps for
 * /metrics, and of the cache's: a thread samples them at the start of every minute into a
 * ring of fixed size, and a reader subtracts consecutive samples (the current minute: a live
 * sample minus its start). Nothing is added to the request path: no second set of counters,
 * no lock, no clock read; one sampling (a few hundred relaxed loads) per minute is the whole
 * cost. The ring's lock is shared only by that thread and dashboard readers.
 *
 * Latency percentiles come from the per-minute difference of the latency histogram of
 * /metrics (12 log-spaced bounds from 0.1 ms to 1 s), interpolated geometrically inside the
 * bucket that holds the rank: Prometheus' histogram_quantile, which interpolates linearly,
 * made for log-spaced buckets. Its resolution is the bucket's (a factor 2 to 2.5); beyond
 * 1 s it says 1 s.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define MINUTES 60         /* whole minutes shown, besides the current one */
#define RING (MINUTES + 2) /* their start samples, the current minute's and the next one's */
#define TRAINING_TTL 10.0  /* seconds the curves read from MODEL_DIR are reused */
#define CHART_JS_MAX (4 << 20)

/* Chart.js as Debian's libjs-chart.js installs it: the minified UMD build, else the full. */
static const char *const chart_js_paths[] = {"/usr/share/javascript/chart.js/chart.min.js",
                                             "/usr/share/javascript/chart.js/chart.js", NULL};

/* web/dashboard.html, NUL-terminated (build/gen/web_dashboard.c, made by the Makefile). */
extern const unsigned char tt__web_dashboard[];
extern const size_t tt__web_dashboard_len;

/* The counters at one moment. */
struct sample {
    int64_t minute; /* the minute (Unix seconds / 60) this sample starts; 0: an empty slot */
    double t;       /* when it was taken, Unix seconds */
    tt_metrics_sample m;
    uint64_t hits, misses;
};

/* What happened during one minute (or the part of it the samples cover). */
struct delta {
    int64_t minute;
    double seconds;
    tt_metrics_sample m;
    uint64_t hits, misses;
};

struct tt_dash {
    tt_metrics *metrics;
    tt_cache *cache;
    pthread_t thread;
    pthread_mutex_t lock; /* ring and stop */
    pthread_cond_t wake;
    bool stop;
    struct sample ring[RING];
    pthread_mutex_t training_lock; /* training, training_at: MODEL_DIR is read under it */
    json_t *training;              /* the curves last read from MODEL_DIR, or NULL */
    double training_at;            /* when, tt_now() */
};

static double wall_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void take(tt_dash *d, struct sample *s)
{
    tt_cache_stats st;

    s->t = wall_now();
    s->minute = (int64_t)floor(s->t / 60);
    tt__metrics_sample(d->metrics, &s->m);
    tt_cache_stats_get(d->cache, &st);
    s->hits = st.hits;
    s->misses = st.misses;
}

/* Sleeps until the next minute starts, or until stopped (false); called with d->lock held. */
static bool wait_minute(tt_dash *d)
{
    double next = (floor(wall_now() / 60) + 1) * 60;
    struct timespec ts = {(time_t)next, 0};

    while (!d->stop && wall_now() < next)
        pthread_cond_timedwait(&d->wake, &d->lock, &ts);
    return !d->stop;
}

/* Samples the counters at the start of each minute, into the ring slot of that minute. */
static void *sampler(void *arg)
{
    tt_dash *d = arg;
    struct sample s;

    pthread_mutex_lock(&d->lock);
    while (wait_minute(d)) {
        pthread_mutex_unlock(&d->lock);
        take(d, &s);
        pthread_mutex_lock(&d->lock);
        d->ring[s.minute % RING] = s;
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

int tt__dash_start(tt_metrics *metrics, tt_cache *cache, tt_dash **out, tt_err *err)
{
    tt_dash *d = tt_calloc(1, sizeof(*d));
    struct sample s;

    d->metrics = metrics;
    d->cache = cache;
    pthread_mutex_init(&d->lock, NULL);
    pthread_mutex_init(&d->training_lock, NULL);
    pthread_cond_init(&d->wake, NULL);
    /* The start of the first, partial, minute: everything counted from here on. */
    take(d, &s);
    d->ring[s.minute % RING] = s;
    if (pthread_create(&d->thread, NULL, sampler, d) != 0) {
        pthread_cond_destroy(&d->wake);
        pthread_mutex_destroy(&d->training_lock);
        pthread_mutex_destroy(&d->lock);
        free(d);
        return tt_err_set(err, TT_EINTERNAL, "cannot start the dashboard's sampler");
    }
    *out = d;
    return 0;
}

void tt__dash_stop(tt_dash *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    d->stop = true;
    pthread_cond_signal(&d->wake);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    json_decref(d->training);
    pthread_cond_destroy(&d->wake);
    pthread_mutex_destroy(&d->training_lock);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

/* The samples hold only uint64_t counters: subtracted as one array. */
_Static_assert(sizeof(tt_metrics_sample) % sizeof(uint64_t) == 0, "counters only");

static void subtract(const struct sample *end, const struct sample *begin, struct delta *out)
{
    const uint64_t *a = (const uint64_t *)&end->m, *b = (const uint64_t *)&begin->m;
    uint64_t *o = (uint64_t *)&out->m;

    for (size_t i = 0; i < sizeof(out->m) / sizeof(uint64_t); i++)
        o[i] = a[i] - b[i];
    out->minute = begin->minute;
    out->seconds = end->t - begin->t;
    out->hits = end->hits - begin->hits;
    out->misses = end->misses - begin->misses;
}

/*
 * The minutes of the last hour that have samples at both ends, oldest first, into @out
 * (MINUTES + 1 of room). The current minute ends at a live sample, and so does the one
 * before while the sampler has not yet stored the sample of the turn of the minute: that
 * point then runs until now, and the current minute is left out, so no event is missed.
 * Returns how many.
 */
static int minutes(tt_dash *d, struct delta *out)
{
    struct sample live;
    int n = 0;

    take(d, &live);
    pthread_mutex_lock(&d->lock);
    for (int64_t m = live.minute - MINUTES; m <= live.minute; m++) {
        const struct sample *begin = &d->ring[m % RING], *end = &d->ring[(m + 1) % RING];
        if (begin->minute != m)
            continue;
        if (m == live.minute || (end->minute != m + 1 && m + 1 == live.minute))
            end = &live;
        else if (end->minute != m + 1)
            continue;
        if (end->t > begin->t)
            subtract(end, begin, &out[n++]);
    }
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* A number rounded to @digits decimals, or null when not finite (nothing to measure). */
static json_t *num(double v, int digits)
{
    double f = pow(10, digits);
    return isfinite(v) ? json_real(round(v * f) / f) : json_null();
}

/*
 * The bucket holding the rank q * total, then geometric interpolation between its bounds, as
 * suits log-spaced buckets (the first bucket, from 0: linear).
 */
double tt__dash_quantile_ms(const uint64_t *c, double q)
{
    const double *ub = tt__metrics_latency_bounds();
    uint64_t total = 0, below = 0;
    double rank;
    int b = 0;

    for (int i = 0; i < TT_LATENCY_BUCKETS; i++)
        total += c[i];
    if (total == 0)
        return NAN;
    rank = q * (double)total;
    while (b < TT_LATENCY_BUCKETS - 1 && (double)(below + c[b]) < rank)
        below += c[b++];
    if (b == TT_LATENCY_BUCKETS - 1)
        return ub[b - 1] * 1e3;
    {
        double frac = c[b] ? (rank - (double)below) / (double)c[b] : 1.0;
        double lo = b ? ub[b - 1] : 0.0, hi = ub[b];
        return 1e3 * (b ? lo * pow(hi / lo, frac) : hi * frac);
    }
}

static double ratio(uint64_t num_, uint64_t den)
{
    return den ? (double)num_ / (double)den : NAN;
}

static json_t *endpoint_json(const struct delta *dl, int n, int ep)
{
    json_t *req = json_array(), *rate = json_array(), *errs = json_array();
    json_t *p50 = json_array(), *p95 = json_array(), *p99 = json_array();

    for (int i = 0; i < n; i++) {
        const tt_metrics_sample *m = &dl[i].m;
        json_array_append_new(req, json_integer((json_int_t)m->requests[ep]));
        json_array_append_new(rate, num((double)m->requests[ep] / dl[i].seconds, 3));
        json_array_append_new(errs, json_integer((json_int_t)m->errors[ep]));
        json_array_append_new(p50, num(tt__dash_quantile_ms(m->latency[ep], 0.50), 3));
        json_array_append_new(p95, num(tt__dash_quantile_ms(m->latency[ep], 0.95), 3));
        json_array_append_new(p99, num(tt__dash_quantile_ms(m->latency[ep], 0.99), 3));
    }
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "requests", req, "rate", rate, "errors",
                     errs, "p50_ms", p50, "p95_ms", p95, "p99_ms", p99);
}

/* Every endpoint that answered a request during the window. */
static json_t *endpoints_json(const struct delta *dl, int n)
{
    json_t *out = json_object();

    for (int ep = 0; ep < TT_EP_COUNT; ep++) {
        uint64_t any = 0;
        for (int i = 0; i < n; i++)
            any += dl[i].m.requests[ep];
        if (any)
            json_object_set_new(out, tt__endpoint_name((enum tt_endpoint)ep),
                                endpoint_json(dl, n, ep));
    }
    return out;
}

static json_t *cache_json(const struct delta *dl, int n)
{
    json_t *hits = json_array(), *misses = json_array(), *rate = json_array();

    for (int i = 0; i < n; i++) {
        json_array_append_new(hits, json_integer((json_int_t)dl[i].hits));
        json_array_append_new(misses, json_integer((json_int_t)dl[i].misses));
        json_array_append_new(rate, num(ratio(dl[i].hits, dl[i].hits + dl[i].misses), 4));
    }
    return json_pack("{s:o, s:o, s:o}", "hits", hits, "misses", misses, "hit_rate", rate);
}

/* Feedback events per minute: in all, and per action sent during the window. */
static json_t *feedback_json(const struct delta *dl, int n)
{
    json_t *total = json_array(), *by = json_object();

    for (int i = 0; i < n; i++) {
        uint64_t sum = 0;
        for (int a = 0; a < TT_ACT_COUNT; a++)
            sum += dl[i].m.feedback[a];
        json_array_append_new(total, json_integer((json_int_t)sum));
    }
    for (int a = 0; a < TT_ACT_COUNT; a++) {
        json_t *arr = json_array();
        uint64_t any = 0;
        for (int i = 0; i < n; i++) {
            any += dl[i].m.feedback[a];
            json_array_append_new(arr, json_integer((json_int_t)dl[i].m.feedback[a]));
        }
        if (any)
            json_object_set_new(by, tt_action_name((enum tt_action)a), arr);
        else
            json_decref(arr);
    }
    return json_pack("{s:o, s:o}", "total", total, "by_action", by);
}

/*
 * Per model (or list surface: mix, radio) that served lists during the window: lists
 * served (impressions), clicks and plays attributed to them, and their ratio, per minute.
 * A click counts in the minute it is reported, whenever its list was served.
 */
static json_t *ctr_json(tt_dash *d, const struct delta *dl, int n)
{
    json_t *out = json_object();

    for (int s = 0; s < TT_MODEL_SLOTS; s++) {
        const char *name = tt__metrics_model_name(d->metrics, s);
        json_t *imp, *clk, *ctr;
        uint64_t any = 0;
        if (!name)
            continue;
        for (int i = 0; i < n; i++)
            any += dl[i].m.recs[s] + dl[i].m.clicks[s];
        if (!any)
            continue;
        imp = json_array();
        clk = json_array();
        ctr = json_array();
        for (int i = 0; i < n; i++) {
            json_array_append_new(imp, json_integer((json_int_t)dl[i].m.recs[s]));
            json_array_append_new(clk, json_integer((json_int_t)dl[i].m.clicks[s]));
            json_array_append_new(ctr, num(ratio(dl[i].m.clicks[s], dl[i].m.recs[s]), 4));
        }
        json_object_set_new(
            out, name, json_pack("{s:o, s:o, s:o}", "impressions", imp, "clicks", clk, "ctr", ctr));
    }
    return out;
}

json_t *tt__dash_series(tt_dash *d)
{
    struct delta *dl = tt_malloc((MINUTES + 1) * sizeof(*dl));
    int n = minutes(d, dl);
    json_t *at = json_array(), *secs = json_array(), *j;

    for (int i = 0; i < n; i++) {
        json_array_append_new(at, json_integer((json_int_t)(dl[i].minute * 60)));
        json_array_append_new(secs, num(dl[i].seconds, 1));
    }
    j = json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "interval_seconds", 60, "minutes", at,
                  "seconds", secs, "endpoints", endpoints_json(dl, n), "cache", cache_json(dl, n),
                  "feedback", feedback_json(dl, n), "ctr", ctr_json(d, dl, n));
    free(dl);
    return j;
}

/* A member of @from copied into @to when @from has it. */
static void copy_member(json_t *to, const json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);

    if (v)
        json_object_set(to, key, v);
}

/* The loaded models, their versions and held-out metrics (the sidecar's metrics.holdout). */
static json_t *models_json(const tt_served *s)
{
    json_t *arr = json_array();

    for (int i = 0; s && i < s->n; i++) {
        const struct tt_served_model *sm = &s->m[i];
        json_t *h = json_object_get(json_object_get(sm->sidecar, "metrics"), "holdout");
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:I, s:f, s:O}", "name", sm->name, "tier", sm->tier,
                      "version", sm->version, "trained_at", (json_int_t)sm->model->trained_at,
                      "train_seconds", sm->model->train_seconds, "holdout", h ? h : json_null());
        json_array_append_new(arr, j);
    }
    return arr;
}

/*
 * The curves of one version's sidecar: its "curves", or, for NeuMF versions written before
 * sidecars had them, the history its params keep. NULL when it has none.
 */
static json_t *curves_of(const json_t *side)
{
    json_t *c = json_object_get(side, "curves");
    json_t *h = json_object_get(json_object_get(side, "params"), "history");

    if (json_is_array(json_object_get(c, "loss")))
        return json_incref(c);
    if (json_is_array(json_object_get(h, "loss")))
        return json_pack("{s:s, s:O, s:{s:O*}}", "unit", "epoch", "loss",
                         json_object_get(h, "loss"), "validation", "hr@10",
                         json_object_get(h, "hr@10"));
    return NULL;
}

/* The held-out NDCG@20 and recall@20 of each version of a model, oldest first. */
static json_t *holdout_by_version(const json_t *versions)
{
    json_t *out = json_array();

    for (size_t i = json_array_size(versions); i-- > 0;) {
        const json_t *v = json_array_get(versions, i);
        const json_t *h = json_object_get(json_object_get(v, "metrics"), "holdout");
        json_t *p;
        if (!json_object_get(h, "ndcg@20"))
            continue;
        p = json_pack("{s:O}", "version", json_object_get(v, "version"));
        copy_member(p, h, "ndcg@20");
        copy_member(p, h, "recall@20");
        json_array_append_new(out, p);
    }
    return out;
}

/* One model of the registry: its newest version's curves and every version's figures. */
static json_t *training_model_json(const char *model_dir, const json_t *entry)
{
    const char *model = json_string_value(json_object_get(entry, "model"));
    const char *tier = json_string_value(json_object_get(entry, "tier"));
    const json_t *versions = json_object_get(entry, "versions");
    const json_t *newest = json_array_get(versions, 0);
    const char *version = json_string_value(json_object_get(newest, "version"));
    json_t *side, *curves, *j;

    if (!model || !tier || !version)
        return NULL;
    side = tt_registry_version_sidecar(model_dir, tier, model, version);
    curves = curves_of(side);
    j = json_pack("{s:s, s:s, s:s, s:b, s:o, s:o}", "model", model, "tier", tier, "version",
                  version, "published", json_is_true(json_object_get(newest, "published")),
                  "curves", curves ? curves : json_null(), "holdout_by_version",
                  holdout_by_version(versions));
    copy_member(j, newest, "trained_at");
    json_decref(side);
    return j;
}

static json_t *training_read(const char *model_dir)
{
    json_t *list = tt_registry_list(model_dir), *out = json_array(), *e;
    size_t i;

    json_array_foreach(list, i, e) {
        json_t *j = training_model_json(model_dir, e);
        if (j)
            json_array_append_new(out, j);
    }
    json_decref(list);
    return out;
}

/*
 * The training curves of every model's latest run: read from MODEL_DIR at most every
 * TRAINING_TTL seconds (a run publishes new versions a few times a day; pages poll every
 * few seconds). Returns a copy the caller owns.
 */
static json_t *training_json(tt_dash *d, const char *model_dir)
{
    json_t *j;

    pthread_mutex_lock(&d->training_lock);
    if (!d->training || tt_now() - d->training_at > TRAINING_TTL) {
        json_decref(d->training);
        d->training = training_read(model_dir);
        d->training_at = tt_now();
    }
    j = json_deep_copy(d->training);
    pthread_mutex_unlock(&d->training_lock);
    return j;
}

void tt__h_dashboard_data(tt_app *app, json_t *body, tt_reply *out)
{
    tt_served *s = tt__app_models(app);
    json_t *j;

    (void)body;
    j = json_pack("{s:I, s:f, s:o, s:o, s:o}", "now", (json_int_t)tt_unix_time(), "uptime_seconds",
                  tt_now() - app->started, "series", tt__dash_series(app->dash), "models",
                  models_json(s), "training", training_json(app->dash, app->cfg.model_dir));
    if (s)
        json_object_set_new(j, "free_tier",
                            json_pack("{s:s, s:s}", "model", s->free_main, "reason", s->free_why));
    tt__served_release(s);
    tt__reply_json(out, 200, j);
}

void tt__h_dashboard(tt_app *app, json_t *body, tt_reply *out)
{
    (void)app;
    (void)body;
    out->status = 200;
    out->len = tt__web_dashboard_len;
    out->body = tt_malloc(out->len + 1);
    memcpy(out->body, tt__web_dashboard, out->len + 1);
    out->content_type = "text/html; charset=utf-8";
}

/* The whole file at @path (malloc'd, *n bytes), or NULL when it cannot be read whole. */
static char *read_small_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && size <= CHART_JS_MAX &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = tt_malloc((size_t)size);
        *n = fread(buf, 1, (size_t)size, f);
        if (*n != (size_t)size) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

void tt__h_dashboard_chart(tt_app *app, json_t *body, tt_reply *out)
{
    (void)app;
    (void)body;
    for (int i = 0; chart_js_paths[i]; i++) {
        out->body = read_small_file(chart_js_paths[i], &out->len);
        if (out->body) {
            out->status = 200;
            out->content_type = "application/javascript; charset=utf-8";
            return;
        }
    }
    tt__reply_error(out, TT_ENOTFOUND, NULL,
                    "Chart.js is not installed: install Debian's libjs-chart.js (%s)",
                    chart_js_paths[0]);
}
