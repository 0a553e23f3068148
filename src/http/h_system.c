/*
 * GET /health, GET /models/info, POST /models/reload, GET /metrics.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/journal.h"
#include "tt/taste.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/*
 * The database is asked at most once a second (one request claims the check; the others read
 * its last answer): health checks come from load balancers every few seconds per instance.
 * A database that cannot take a pooled connection and answer a ping within the budget, as
 * when it is stalled or locked by a writer that never finishes, is reported down.
 */
static bool database_ok(tt_app *app)
{
    int64_t now = (int64_t)(tt_now() * 1e6);
    int64_t last = __atomic_load_n(&app->db_checked_us, __ATOMIC_RELAXED);
    tt_store *st = NULL;
    bool ok;

    if (now - last < 1000000 || !__atomic_compare_exchange_n(&app->db_checked_us, &last, now,
                                                             false, __ATOMIC_ACQ_REL,
                                                             __ATOMIC_RELAXED))
        return __atomic_load_n(&app->db_ok, __ATOMIC_RELAXED);
    ok = tt_store_pool_get(app->pool, &st, NULL) == 0 && tt_store_ping(st, NULL) == 0;
    tt_store_pool_put(app->pool, st);
    __atomic_store_n(&app->db_ok, ok, __ATOMIC_RELAXED);
    return ok;
}

void tt__h_health(tt_app *app, json_t *body, tt_reply *out)
{
    tt_served *s = tt__app_models(app);
    bool db = database_ok(app), cache = tt_cache_healthy(app->cache);
    const char *status = !s ? "unavailable" : (db && cache) ? "ok" : "degraded";
    json_t *models = json_array();

    (void)body;
    for (int i = 0; s && i < s->n; i++)
        json_array_append_new(models, json_pack("{s:s, s:s, s:s}", "name", s->m[i].name, "tier",
                                                s->m[i].tier, "version", s->m[i].version));
    json_t *journal = json_null();

    if (app->journal) {
        uint64_t replayed, refused;
        tt__replay_counts(app->replay, &replayed, &refused);
        journal = json_pack("{s:I, s:I, s:I, s:I}", "pending",
                            (json_int_t)tt_journal_pending(app->journal), "bytes",
                            (json_int_t)tt_journal_bytes(app->journal), "replayed",
                            (json_int_t)replayed, "refused", (json_int_t)refused);
        /* Acknowledged feedback not in the database yet: served, but not all is well. */
        if (s && tt_journal_pending(app->journal) > 0)
            status = "degraded";
    }
    tt__reply_json(out, s ? 200 : 503,
                   json_pack("{s:s, s:{s:s, s:b, s:i}, s:{s:s, s:b}, s:i, s:o, s:s, s:f, "
                             "s:{s:b, s:b, s:s}, s:o, s:o}",
                             "status", status, "database", "backend",
                             tt_store_pool_backend(app->pool), "healthy", db, "budget_ms",
                             tt_store_pool_budget(app->pool), "cache", "backend", tt_cache_backend(app->cache), "healthy",
                             cache, "models_loaded", s ? s->n : 0, "models", models,
                             "model_tier", tt_tier_set_name(app->cfg.tiers), "uptime_seconds",
                             tt_now() - app->started, "gpu", "requested", app->cfg.enable_gpu,
                             "used", false, "note",
                             "this build has no GPU code path: everything runs on the CPU",
                             "journal", journal, "replicas", tt__feed_status(app->feed)));
    tt__served_release(s);
}

static json_t *model_json(tt_app *app, const struct tt_served_model *sm)
{
    const tt_model *m = sm->model;
    json_t *metrics = json_object_get(sm->sidecar, "metrics");
    json_t *params = json_object_get(sm->sidecar, "params");
    uint64_t imp, clicks;
    json_t *j;

    metrics = metrics ? json_incref(metrics) : json_object();
    params = params ? json_incref(params) : json_object();
    tt__metrics_ctr(app->metrics, sm->name, &imp, &clicks);
    j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:f, s:{s:i, s:i}, s:o, s:o, "
                  "s:{s:I, s:I, s:f}}",
                  "name", sm->name, "kind", m->ops->kind, "tier", sm->tier, "version",
                  sm->version, "trained_at", (json_int_t)m->trained_at, "file", sm->file,
                  "train_seconds", m->train_seconds, "sizes", "users", m->n_users, "tracks",
                  m->n_tracks, "metrics", metrics, "params", params, "ctr", "impressions",
                  (json_int_t)imp, "clicks", (json_int_t)clicks, "ctr",
                  imp ? (double)clicks / imp : 0.0);
    if (sm->index)
        json_object_set(j, "index", sm->index);
    if (json_object_get(sm->sidecar, "tuning"))
        json_object_set(j, "tuning", json_object_get(sm->sidecar, "tuning"));
    /* Factors trained elsewhere say so, and where they came from. */
    if (json_is_string(json_object_get(sm->sidecar, "source")))
        json_object_set(j, "source", json_object_get(sm->sidecar, "source"));
    else
        json_object_set_new(j, "source", json_string("trained"));
    if (json_object_get(sm->sidecar, "import"))
        json_object_set(j, "import", json_object_get(sm->sidecar, "import"));
    if (sm->custom) {
        static const char *const keys[] = {"base_model", "data_filter", "requested_params",
                                           "promotion", NULL};
        for (int i = 0; keys[i]; i++) {
            json_t *v = json_object_get(sm->sidecar, keys[i]);
            if (v)
                json_object_set(j, keys[i], v);
        }
    }
    return j;
}

static json_t *models_json(tt_app *app, const tt_served *s)
{
    json_t *arr = json_array();

    for (int i = 0; s && i < s->n; i++)
        json_array_append_new(arr, model_json(app, &s->m[i]));
    return arr;
}

/* The pro tier's taste summary (not a recommender, so not among "models"), or null. */
static json_t *taste_json(const tt_app *app, const tt_served *s)
{
    char path[1200], version[32];
    time_t t;
    struct tm tm;

    if (!s || !s->taste)
        return json_null();
    t = (time_t)tt_taste_created_at(s->taste);
    gmtime_r(&t, &tm);
    strftime(version, sizeof(version), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(path, sizeof(path), "%s/pro/taste.ttm", app->cfg.model_dir);
    return json_pack("{s:s, s:s, s:s, s:I, s:i, s:I}", "tier", "pro", "version", version, "file",
                     path, "trained_at", (json_int_t)tt_taste_created_at(s->taste), "tracks",
                     tt_taste_n_tracks(s->taste), "population",
                     (json_int_t)tt_taste_population(s->taste, TT_TASTE_ENTROPY));
}

void tt__h_models_info(tt_app *app, json_t *body, tt_reply *out)
{
    tt_served *s = tt__app_models(app);
    char cat[32] = "";
    json_t *j;

    (void)body;
    if (s)
        snprintf(cat, sizeof(cat), "%016llx", (unsigned long long)tt_catalog_id(s->cat));
    j = json_pack("{s:{s:s, s:i, s:i, s:i, s:I}, s:s, s:o}", "catalog", "id", cat, "tracks",
                  s ? tt_catalog_n_tracks(s->cat) : 0, "users", s ? tt_catalog_n_users(s->cat) : 0,
                  "genres", s ? tt_catalog_n_genres(s->cat) : 0, "created_at",
                  (json_int_t)(s ? tt_catalog_created_at(s->cat) : 0), "model_tier",
                  tt_tier_set_name(app->cfg.tiers), "models", models_json(app, s));
    json_object_set_new(j, "taste", taste_json(app, s));
    if (s)
        json_object_set_new(j, "free_tier", json_pack("{s:s, s:s}", "model", s->free_main,
                                                       "reason", s->free_why));
    if (s && s->left_out)
        json_object_set(j, "left_out", s->left_out);
    tt__reply_json(out, 200, j);
    tt__served_release(s);
}

void tt__h_models_reload(tt_app *app, json_t *body, tt_reply *out)
{
    tt_err err = {0};
    int rc = tt_server_reload(app, &err);
    tt_served *s;

    (void)body;
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        return;
    }
    s = tt__app_models(app);
    tt__reply_json(out, 200, json_pack("{s:s, s:o}", "status", s ? "reloaded" : "no_models",
                                       "models", models_json(app, s)));
    tt__served_release(s);
}

void tt__h_metrics(tt_app *app, json_t *body, tt_reply *out)
{
    tt_served *s = tt__app_models(app);

    (void)body;
    out->status = 200;
    out->body = tt__metrics_render(app->metrics, s, app->cache);
    out->len = strlen(out->body);
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
    tt__served_release(s);
}
