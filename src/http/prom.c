/*
 * Prometheus metrics: fixed arrays of atomic counters (no lock on the request path) and the
 * text exposition format rendered on demand.
 */
#include "app.h"
#include "tt/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/*
 * Every status the engine answers (202: feedback queued, a job queued; then the error
 * table's), and 0 for a request whose client left before its answer.
 */
static const int statuses[] = {200, 202, 400, 401, 403, 404, 405, 409,
                               413, 415, 429, 431, 500, 503, 0};
#define N_STATUS ((int)(sizeof(statuses) / sizeof(statuses[0])))
/* Latency buckets in seconds: fine below a millisecond, where this service lives. */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                 0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
#define N_BUCKET ((int)(sizeof(buckets) / sizeof(buckets[0])))
#define N_MODEL_SLOTS TT_MODEL_SLOTS
_Static_assert(N_BUCKET + 1 == TT_LATENCY_BUCKETS, "app.h's latency bucket count");

struct model_ctr {
    char name[32]; /* "" = free slot; written once under the lock, then read lock-free */
    uint64_t recs, clicks;
};

struct tt_metrics {
    uint64_t requests[TT_EP_COUNT][N_STATUS + 1]; /* last column: any other status */
    uint64_t hist[TT_EP_COUNT][N_BUCKET + 1];     /* last: +Inf */
    uint64_t sum_us[TT_EP_COUNT];
    uint64_t feedback[TT_ACT_COUNT];
    struct model_ctr models[N_MODEL_SLOTS];
    pthread_mutex_t lock; /* only for claiming a model slot */
};

static const char *ep_names[TT_EP_COUNT] = {"recommend_user", "recommend_similar", "feedback",
                                            "health",         "models_info",       "models_reload",
                                            "metrics",        "radio_generate",    "daily_mix",
                                            "taste_profile",  "models_train",
                                            "models_versions", "dashboard", "docs", "other"};

const char *tt__endpoint_name(enum tt_endpoint ep)
{
    return (unsigned)ep < TT_EP_COUNT ? ep_names[ep] : "other";
}

tt_metrics *tt__metrics_new(void)
{
    tt_metrics *m = tt_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void tt__metrics_free(tt_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void inc(uint64_t *c, uint64_t by)
{
    __atomic_fetch_add(c, by, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

void tt__metrics_request(tt_metrics *m, enum tt_endpoint ep, int status, double seconds)
{
    int s = 0, b = 0;

    if ((unsigned)ep >= TT_EP_COUNT)
        ep = TT_EP_OTHER;
    while (s < N_STATUS && statuses[s] != status)
        s++;
    inc(&m->requests[ep][s], 1);
    while (b < N_BUCKET && seconds > buckets[b])
        b++;
    inc(&m->hist[ep][b], 1);
    inc(&m->sum_us[ep], (uint64_t)(seconds * 1e6));
}

void tt__metrics_feedback(tt_metrics *m, int action)
{
    if (action >= 0 && action < TT_ACT_COUNT)
        inc(&m->feedback[action], 1);
}

/* The slot of @model, claimed on first use; NULL when all slots are taken. */
static struct model_ctr *slot(tt_metrics *m, const char *model)
{
    struct model_ctr *c = NULL;

    for (int i = 0; i < N_MODEL_SLOTS; i++)
        if (__atomic_load_n(&m->models[i].name[0], __ATOMIC_ACQUIRE) &&
            strcmp(m->models[i].name, model) == 0)
            return &m->models[i];
    pthread_mutex_lock(&m->lock);
    for (int i = 0; i < N_MODEL_SLOTS && !c; i++) {
        if (m->models[i].name[0] && strcmp(m->models[i].name, model) == 0)
            c = &m->models[i];
        else if (!m->models[i].name[0]) {
            char first;
            snprintf(m->models[i].name + 1, sizeof(m->models[i].name) - 1, "%s", model + 1);
            first = model[0];
            __atomic_store_n(&m->models[i].name[0], first, __ATOMIC_RELEASE);
            c = &m->models[i];
        }
    }
    pthread_mutex_unlock(&m->lock);
    return c;
}

void tt__metrics_recommendation(tt_metrics *m, const char *model)
{
    struct model_ctr *c = *model ? slot(m, model) : NULL;
    if (c)
        inc(&c->recs, 1);
}

void tt__metrics_click(tt_metrics *m, const char *model)
{
    struct model_ctr *c = *model ? slot(m, model) : NULL;
    if (c)
        inc(&c->clicks, 1);
}

void tt__metrics_ctr(tt_metrics *m, const char *model, uint64_t *impressions, uint64_t *clicks)
{
    struct model_ctr *c = slot(m, model);

    *impressions = c ? get(&c->recs) : 0;
    *clicks = c ? get(&c->clicks) : 0;
}

void tt__metrics_sample(tt_metrics *m, tt_metrics_sample *out)
{
    memset(out, 0, sizeof(*out));
    for (int e = 0; e < TT_EP_COUNT; e++) {
        for (int s = 0; s <= N_STATUS; s++) {
            uint64_t n = get(&m->requests[e][s]);
            out->requests[e] += n;
            if (s < N_STATUS && statuses[s] >= 500)
                out->errors[e] += n;
        }
        for (int b = 0; b <= N_BUCKET; b++)
            out->latency[e][b] = get(&m->hist[e][b]);
    }
    for (int a = 0; a < TT_ACT_COUNT; a++)
        out->feedback[a] = get(&m->feedback[a]);
    for (int i = 0; i < N_MODEL_SLOTS; i++) {
        out->recs[i] = get(&m->models[i].recs);
        out->clicks[i] = get(&m->models[i].clicks);
    }
}

const double *tt__metrics_latency_bounds(void)
{
    return buckets;
}

const char *tt__metrics_model_name(tt_metrics *m, int i)
{
    if (i < 0 || i >= N_MODEL_SLOTS || !__atomic_load_n(&m->models[i].name[0], __ATOMIC_ACQUIRE))
        return NULL;
    return m->models[i].name;
}

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->n) {
            b->n += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 64;
        b->p = tt_realloc(b->p, b->cap);
    }
}

static void render_http(struct buf *b, tt_metrics *m)
{
    put(b, "# HELP tt_http_requests_total HTTP requests by endpoint and status.\n"
           "# TYPE tt_http_requests_total counter\n");
    for (int e = 0; e < TT_EP_COUNT; e++)
        for (int s = 0; s <= N_STATUS; s++)
            if (get(&m->requests[e][s]) && s < N_STATUS)
                put(b, "tt_http_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                    ep_names[e], statuses[s], (unsigned long long)get(&m->requests[e][s]));
            else if (get(&m->requests[e][s]))
                put(b, "tt_http_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n",
                    ep_names[e], (unsigned long long)get(&m->requests[e][s]));
    put(b, "# HELP tt_http_request_duration_seconds Request latency by endpoint.\n"
           "# TYPE tt_http_request_duration_seconds histogram\n");
    for (int e = 0; e < TT_EP_COUNT; e++) {
        uint64_t cum = 0;
        for (int i = 0; i < N_BUCKET; i++) {
            cum += get(&m->hist[e][i]);
            put(b, "tt_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
                ep_names[e], buckets[i], (unsigned long long)cum);
        }
        cum += get(&m->hist[e][N_BUCKET]);
        put(b, "tt_http_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
            ep_names[e], (unsigned long long)cum);
        put(b, "tt_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", ep_names[e],
            get(&m->sum_us[e]) / 1e6);
        put(b, "tt_http_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ep_names[e],
            (unsigned long long)cum);
    }
}

static void render_cache(struct buf *b, tt_cache *cache)
{
    tt_cache_stats st;

    tt_cache_stats_get(cache, &st);
    put(b, "# HELP tt_cache_hits_total Answers served from the cache.\n"
           "# TYPE tt_cache_hits_total counter\ntt_cache_hits_total %llu\n"
           "# HELP tt_cache_misses_total Answers computed because the cache had none.\n"
           "# TYPE tt_cache_misses_total counter\ntt_cache_misses_total %llu\n"
           "# HELP tt_cache_errors_total Cache backend failures (served uncached).\n"
           "# TYPE tt_cache_errors_total counter\ntt_cache_errors_total %llu\n"
           "# HELP tt_cache_up Whether the cache backend is reachable.\n"
           "# TYPE tt_cache_up gauge\ntt_cache_up{backend=\"%s\"} %d\n",
        (unsigned long long)st.hits, (unsigned long long)st.misses,
        (unsigned long long)st.errors, tt_cache_backend(cache), tt_cache_healthy(cache) ? 1 : 0);
    if (st.entries >= 0)
        put(b, "# TYPE tt_cache_entries gauge\ntt_cache_entries %lld\n", (long long)st.entries);
}

static void render_models(struct buf *b, tt_metrics *m, const tt_served *s)
{
    put(b, "# HELP tt_model_info Loaded models and their versions.\n"
           "# TYPE tt_model_info gauge\n");
    for (int i = 0; s && i < s->n; i++)
        put(b, "tt_model_info{name=\"%s\",tier=\"%s\",version=\"%s\"} 1\n", s->m[i].name,
            s->m[i].tier, s->m[i].version);
    put(b, "# HELP tt_recommendations_total Lists served, by model (impressions).\n"
           "# TYPE tt_recommendations_total counter\n");
    for (int i = 0; i < N_MODEL_SLOTS; i++)
        if (__atomic_load_n(&m->models[i].name[0], __ATOMIC_ACQUIRE))
            put(b, "tt_recommendations_total{model=\"%s\"} %llu\n", m->models[i].name,
                (unsigned long long)get(&m->models[i].recs));
    put(b, "# HELP tt_clicks_total Clicks and plays attributed to a model's list.\n"
           "# TYPE tt_clicks_total counter\n");
    for (int i = 0; i < N_MODEL_SLOTS; i++)
        if (__atomic_load_n(&m->models[i].name[0], __ATOMIC_ACQUIRE))
            put(b, "tt_clicks_total{model=\"%s\"} %llu\n", m->models[i].name,
                (unsigned long long)get(&m->models[i].clicks));
    put(b, "# HELP tt_ctr Click-through rate of each model's lists.\n# TYPE tt_ctr gauge\n");
    for (int i = 0; i < N_MODEL_SLOTS; i++) {
        uint64_t r, c;
        if (!__atomic_load_n(&m->models[i].name[0], __ATOMIC_ACQUIRE))
            continue;
        r = get(&m->models[i].recs), c = get(&m->models[i].clicks);
        put(b, "tt_ctr{model=\"%s\"} %.6f\n", m->models[i].name, r ? (double)c / r : 0.0);
    }
}

char *tt__metrics_render(tt_metrics *m, const tt_served *s, tt_cache *cache)
{
    struct buf b = {tt_malloc(8192), 0, 8192};

    render_http(&b, m);
    render_cache(&b, cache);
    put(&b, "# HELP tt_feedback_total Feedback events stored, by action.\n"
            "# TYPE tt_feedback_total counter\n");
    for (int a = 0; a < TT_ACT_COUNT; a++)
        put(&b, "tt_feedback_total{action=\"%s\"} %llu\n", tt_action_name((enum tt_action)a),
            (unsigned long long)get(&m->feedback[a]));
    render_models(&b, m, s);
    return b.p;
}
