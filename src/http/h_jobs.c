/*
 * The training pipeline over HTTP (docs/pipeline.md): POST/GET /models/train,
 * GET/DELETE /models/train/{job_id}, GET /models/versions, POST /models/promote and
 * POST /models/rollback. Jobs are rows in the database; an engine's job thread (jobs.c)
 * claims them and runs each in a worker process.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/pipeline.h"
#include "tt/registry.h"

#include <stdio.h>
#include <string.h>

/* A pooled connection, or the 503 that says the database is away. */
static tt_store *store_get(tt_app *app, tt_reply *out)
{
    tt_store *s = NULL;
    tt_err err = {0};
    int rc = tt_store_pool_get(app->pool, &s, &err);

    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        return NULL;
    }
    return s;
}

void tt__h_train_submit(tt_app *app, json_t *body, tt_reply *out)
{
    tt_job_spec spec;
    tt_err err = {0};
    char id[TT_JOB_ID_MAX + 1] = "";
    tt_store *s;
    json_t *j = NULL;
    int rc;

    if ((rc = tt_job_spec_parse(body, &spec, &err)) < 0) {
        tt__reply_err(out, rc, &err);
        return;
    }
    if (spec.name[0] && app->cfg.tiers != TT_TIERS_ENTERPRISE) {
        tt_job_spec_release(&spec);
        tt__reply_error(out, TT_EFORBIDDEN, "tier",
                        "custom models are the enterprise tier's: this engine serves "
                        "MODEL_TIER=%s", tt_tier_set_name(app->cfg.tiers));
        return;
    }
    if ((s = store_get(app, out)) != NULL) {
        rc = tt_pipeline_job_queue(s, &spec, 0, id, &j, &err);
        tt_store_pool_put(app->pool, s);
        if (rc < 0) {
            tt__reply_err(out, rc, &err);
        } else {
            char url[128];
            snprintf(url, sizeof(url), "/models/train/%s", id);
            tt__reply_json(out, 202, json_pack("{s:s, s:s, s:O, s:s}", "job_id", id, "state",
                                               "queued", "request", j, "status_url", url));
            tt__jobs_wake(app->jobs);
        }
    }
    json_decref(j);
    tt_job_spec_release(&spec);
}

/* A JSON text column as JSON (null when empty or not JSON). */
static json_t *json_column(const char *text)
{
    json_t *j = text && *text ? json_loads(text, 0, NULL) : NULL;
    return j ? j : json_null();
}

static json_t *time_or_null(int64_t t)
{
    return t > 0 ? json_integer(t) : json_null();
}

static json_t *job_json(const tt_job_rec *j, bool full)
{
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:o}", "job_id",
                          j->job_id, "state", tt_job_state_name(j->state), "request",
                          json_column(j->request), "created_at", time_or_null(j->created_at),
                          "started_at", time_or_null(j->started_at), "finished_at",
                          time_or_null(j->finished_at), "heartbeat_at",
                          time_or_null(j->heartbeat_at), "cancel_requested", j->cancel_requested,
                          "progress", json_column(j->progress), "error",
                          j->error ? json_string(j->error) : json_null());
    json_object_set_new(o, "worker", j->owner ? json_string(j->owner) : json_null());
    json_object_set_new(o, "result", json_column(j->result));
    if (full) {
        json_object_set_new(o, "metrics", json_column(j->metrics));
        json_object_set_new(o, "log_tail", j->log_tail ? json_string(j->log_tail) : json_null());
    }
    return o;
}

/* Whether the job of @j (a job_json) has ended. */
static bool job_ended(const json_t *j)
{
    const char *st = json_string_value(json_object_get(j, "state"));

    return st && (strcmp(st, "succeeded") == 0 || strcmp(st, "failed") == 0 ||
                  strcmp(st, "cancelled") == 0);
}

/* A job this engine ran and that ended is answered once the engine serves what it published. */
#define SETTLE_SECONDS 3.0

static int one_job(void *ctx, const tt_job_rec *j)
{
    *(json_t **)ctx = job_json(j, true);
    return 0;
}

static int list_job(void *ctx, const tt_job_rec *j)
{
    json_array_append_new(ctx, job_json(j, false));
    return 0;
}

void tt__h_train_get(tt_app *app, json_t *body, tt_reply *out)
{
    const char *id;
    json_t *j = NULL;
    tt_err err = {0};
    tt_store *s;
    int rc;

    if (tt__json_string(body, "job_id", true, TT_JOB_ID_MAX, &id, out) < 0 ||
        !(s = store_get(app, out)))
        return;
    rc = tt_store_job_get(s, id, one_job, &j, &err);
    tt_store_pool_put(app->pool, s);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        return;
    }
    if (job_ended(j))
        tt__jobs_settle(app->jobs, id, SETTLE_SECONDS);
    tt__reply_json(out, 200, j);
}

void tt__h_train_list(tt_app *app, json_t *body, tt_reply *out)
{
    json_t *arr = json_array();
    tt_err err = {0};
    tt_store *s;
    int rc;

    (void)body;
    if (!(s = store_get(app, out))) {
        json_decref(arr);
        return;
    }
    rc = tt_store_job_list(s, 100, list_job, arr, &err);
    tt_store_pool_put(app->pool, s);
    if (rc < 0) {
        json_decref(arr);
        tt__reply_err(out, rc, &err);
        return;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *j = json_array_get(arr, i);
        if (job_ended(j))
            tt__jobs_settle(app->jobs, json_string_value(json_object_get(j, "job_id")),
                            SETTLE_SECONDS);
    }
    tt__reply_json(out, 200, json_pack("{s:o}", "jobs", arr));
}

void tt__h_train_cancel(tt_app *app, json_t *body, tt_reply *out)
{
    enum tt_job_state st = TT_JOB_QUEUED;
    const char *id;
    tt_err err = {0};
    tt_store *s;
    int rc;

    if (tt__json_string(body, "job_id", true, TT_JOB_ID_MAX, &id, out) < 0 ||
        !(s = store_get(app, out)))
        return;
    rc = tt_store_job_cancel(s, id, tt_unix_time(), &st, &err);
    tt_store_pool_put(app->pool, s);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        return;
    }
    tt__reply_json(out, 200,
                   json_pack("{s:s, s:s, s:s}", "job_id", id, "state", tt_job_state_name(st),
                             "message",
                             st == TT_JOB_RUNNING ? "cancel requested: the worker stops within "
                                                    "a few seconds"
                             : st == TT_JOB_CANCELLED ? "cancelled"
                                                      : "the job had already ended"));
}

void tt__h_versions(tt_app *app, json_t *body, tt_reply *out)
{
    tt_served *s = tt__app_models(app);
    json_t *served = json_object();

    (void)body;
    for (int i = 0; s && i < s->n; i++)
        json_object_set_new(served, s->m[i].name, json_string(s->m[i].version));
    tt__served_release(s);
    tt__reply_json(out, 200,
                   json_pack("{s:o, s:o, s:i, s:f, s:i}", "models", tt_registry_list(app->cfg.model_dir),
                             "serving", served, "keep_versions", app->cfg.keep_versions,
                             "promote_margin", app->cfg.promote_margin, "poll_seconds",
                             app->cfg.poll_seconds));
}

/* The tier of model @name on disk, or a 404 naming "model". */
static const char *tier_of(tt_app *app, const char *name, tt_reply *out)
{
    const char *tier = tt_registry_tier_of(app->cfg.model_dir, name);

    if (!tier)
        tt__reply_error(out, TT_ENOTFOUND, "model", "model %s has no versions", name);
    return tier;
}

/*
 * After a promotion or rollback (@rc its result, @how which): this engine serves it now,
 * the others at their next poll.
 */
static void publish_reply(tt_app *app, int rc, tt_err *err, const char *name,
                          const char *version, const char *how, tt_reply *out)
{
    if (rc == 0) {
        tt_warn("published %s version %s (%s by request)", name, version, how);
        rc = tt_server_reload(app, err);
    }
    if (rc < 0) {
        tt__reply_err(out, rc, err);
        return;
    }
    tt__reply_json(out, 200, json_pack("{s:s, s:s, s:s}", "model", name, "version", version,
                                       "status", "published"));
}

void tt__h_promote(tt_app *app, json_t *body, tt_reply *out)
{
    const char *name, *version, *tier;
    tt_err err = {0};
    int rc;

    if (tt__json_string(body, "model", true, 64, &name, out) < 0 ||
        tt__json_string(body, "version", true, TT_VERSION_MAX - 1, &version, out) < 0 ||
        !(tier = tier_of(app, name, out)))
        return;
    rc = tt_registry_publish(app->cfg.model_dir, tier, name, version, &err);
    publish_reply(app, rc, &err, name, version, "promoted", out);
}

void tt__h_rollback(tt_app *app, json_t *body, tt_reply *out)
{
    const char *name, *tier;
    char version[TT_VERSION_MAX] = "";
    tt_err err = {0};
    int rc;

    if (tt__json_string(body, "model", true, 64, &name, out) < 0 ||
        !(tier = tier_of(app, name, out)))
        return;
    rc = tt_registry_rollback(app->cfg.model_dir, tier, name, version, &err);
    publish_reply(app, rc, &err, name, version, "rolled back", out);
}
