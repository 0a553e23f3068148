/*
 * POST /feedback: stored durably first, then the user's cached answers are dropped and the
 * event joins their fresh history, so the next answer folds it in.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/import.h"
#include "tt/models.h"

#include <math.h>
#include <string.h>

static const char *const actions[] = {"play", "like",  "skip",  "dislike",
                                      "save", "share", "click", "impression", NULL};

static int parse_time(json_t *body, int64_t *t, tt_reply *out)
{
    json_t *v = json_object_get(body, "timestamp");

    *t = tt_unix_time();
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 253402300800.0) {
        *t = (int64_t)json_number_value(v);
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) < 64 &&
        tt_import_parse_time(json_string_value(v), t))
        return 0;
    tt__reply_error(out, 400, "invalid_argument", "timestamp",
                    "timestamp must be ISO 8601 UTC (2024-01-02T03:04:05Z) or Unix seconds");
    return -1;
}

/* Clicks and plays of a listed track count for the model whose list it was. */
static void attribute(tt_app *app, const char *rec_id, int action)
{
    char model[32];
    const char *dash;
    size_t len;

    if (!rec_id || (action != TT_ACT_CLICK && action != TT_ACT_PLAY))
        return;
    dash = strchr(rec_id, '-');
    len = dash ? (size_t)(dash - rec_id) : 0;
    if (len == 0 || len >= sizeof(model))
        return;
    memcpy(model, rec_id, len);
    model[len] = '\0';
    if (tt_models_find(model))
        tt__metrics_click(app->metrics, model);
}

/*
 * Stores the event, then adds it to the served snapshot's fresh history, both under the
 * store lock so a reload in between cannot lose it. Returns the store's code.
 */
static int store_event(tt_app *app, const tt_interaction_rec *r, bool *known, tt_err *err)
{
    tt_served *s;
    int32_t t;
    int rc;

    pthread_mutex_lock(&app->store_lock);
    rc = tt_store_feedback_put(app->store, r, err);
    s = rc == 0 ? tt__app_models(app) : NULL;
    t = s ? tt_catalog_track_find(s->cat, r->track_id) : -1;
    *known = t >= 0 && tt__overlay_add_event(s->overlay, t, r);
    pthread_mutex_unlock(&app->store_lock);
    tt__served_release(s);
    return rc;
}

void tt__h_feedback(tt_app *app, json_t *body, tt_reply *out)
{
    tt_interaction_rec r = {0};
    int action;
    int64_t ms;
    tt_err err = {0};
    bool refreshed;
    char group[300];
    int rc;

    if (tt__json_string(body, "user_id", true, 256, &r.user_id, out) < 0 ||
        tt__json_string(body, "track_id", true, 256, &r.track_id, out) < 0 ||
        tt__json_enum(body, "action", actions, -1, &action, out) < 0 ||
        tt__json_string(body, "recommendation_id", false, 128, &r.recommendation_id, out) < 0 ||
        tt__json_int(body, "ms_played", 0, 86400000LL * 365, -1, &ms, out) < 0 ||
        tt__json_string(body, "context", false, 256, &r.context, out) < 0 ||
        parse_time(body, &r.occurred_at, out) < 0)
        return;
    if (action < 0) {
        tt__reply_error(out, 400, "invalid_argument", "action", "action is required");
        return;
    }
    r.action = (enum tt_action)action;
    r.weight = 1.0f;
    r.ms_played = ms;
    rc = store_event(app, &r, &refreshed, &err);
    if (rc < 0) {
        tt__reply_error(out, 503, "backend_unavailable", NULL, "feedback not stored: %s",
                        tt_err_msg(&err, rc));
        return;
    }
    tt__metrics_feedback(app->metrics, action);
    attribute(app, r.recommendation_id, action);
    snprintf(group, sizeof(group), "u:%s", r.user_id);
    tt_cache_drop_group(app->cache, group, NULL);
    tt__reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:s, s:b}", "status", "stored",
                                       "user_id", r.user_id, "track_id", r.track_id, "action",
                                       actions[action], "refreshed", refreshed));
}
