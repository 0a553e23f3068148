/*
 * POST /feedback: stored durably first, then the event joins the user's fresh history (so
 * the next answer folds it in), the other replicas are told (feed.c) and the user's cached
 * answers are dropped.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/import.h"
#include "tt/journal.h"
#include "tt/models.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    tt__reply_error(out, TT_EINVAL, "timestamp",
                    "timestamp must be ISO 8601 UTC (2024-01-02T03:04:05Z) or Unix seconds");
    return -1;
}

/*
 * A radio station's feedback is stored with context "radio:<station_id>": the station reads
 * its skips back from there (and a reload from the database), with no column of its own.
 */
static int station_context(json_t *body, tt_interaction_rec *r, char *buf, size_t n,
                           tt_reply *out)
{
    const char *station = NULL;

    if (tt__json_string(body, "station_id", false, 128, &station, out) < 0)
        return -1;
    if (!station)
        return 0;
    if (r->context && strcmp(r->context, "radio") != 0) {
        tt__reply_error(out, TT_EINVAL, "station_id",
                        "station_id goes with context \"radio\" (or no context)");
        return -1;
    }
    snprintf(buf, n, "radio:%s", station);
    r->context = buf;
    return 0;
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
    if (tt__rec_surface_known(model))
        tt__metrics_click(app->metrics, model);
}

/* A realtime deadline @ms from now, as pthread's timed locks want. */
static struct timespec deadline_in(int ms)
{
    struct timespec t;

    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Adds a kept event to the served snapshot's fresh history: whether it could. */
static bool add_fresh(tt_app *app, const tt_interaction_rec *r)
{
    tt_served *s = tt__app_models(app);
    int32_t t = s ? tt_catalog_track_find(s->cat, r->track_id) : -1;
    bool known = t >= 0 && tt__overlay_add_event(s->overlay, t, r) >= 0;

    tt__served_release(s);
    return known;
}

/*
 * Stores the event on a pooled connection, then adds it to the served snapshot's fresh
 * history, under feedback_lock so a reload in between cannot lose it. Every wait is bounded
 * by the database budget. *@stored is false for a retried event_id (nothing new to add);
 * else @r->id is the stored row's id, which names the event to the overlay and the replicas.
 * *@known: the event counts for the user's answers (a known track, not an impression), even
 * if the database poll (feed.c) has put it in the overlay first.
 */
static int store_event(tt_app *app, tt_interaction_rec *r, bool *stored, bool *known, tt_err *err)
{
    struct timespec until = deadline_in(tt_store_pool_budget(app->pool));
    tt_store *st = NULL;
    int rc;

    *stored = *known = false;
    if (pthread_rwlock_timedrdlock(&app->feedback_lock, &until) != 0)
        return tt_err_set(err, TT_EDBBUSY, "a model reload is reading the database");
    rc = tt_store_pool_get(app->pool, &st, err);
    if (rc == 0) {
        rc = tt_store_feedback_put_id(st, r, &r->id, err);
        tt_store_pool_put(app->pool, st);
    }
    *stored = rc == 0 && r->id > 0;
    *known = *stored && add_fresh(app, r);
    pthread_rwlock_unlock(&app->feedback_lock);
    return rc;
}

/*
 * Keeps the event in the journal (durable when this returns) for the replayer to store, and
 * adds it to the fresh history at once. Without feedback_lock (a reload holding it while the
 * database is away) the event still counts from the next reload, which reads the journal.
 */
static int journal_event(tt_app *app, tt_interaction_rec *r, char *id, size_t cap,
                         bool *known, tt_err *err)
{
    struct timespec until = deadline_in(tt_store_pool_budget(app->pool));
    bool locked = pthread_rwlock_timedrdlock(&app->feedback_lock, &until) == 0;
    int rc = tt_journal_append(app->journal, r, id, cap, err);

    if (rc == 0)
        r->event_id = id;
    *known = rc == 0 && locked && add_fresh(app, r);
    if (locked)
        pthread_rwlock_unlock(&app->feedback_lock);
    tt__replay_wake(app->replay);
    return rc;
}

void tt__h_feedback(tt_app *app, json_t *body, tt_reply *out)
{
    tt_interaction_rec r = {0};
    int action;
    int64_t ms;
    tt_err err = {0};
    bool stored, refreshed, queued;
    char group[300], context[160], event_id[TT_EVENT_ID_MAX + 1], own_id[64];
    const char *sent_id;
    int rc;

    if (tt__json_string(body, "user_id", true, 256, &r.user_id, out) < 0 ||
        tt__json_string(body, "track_id", true, 256, &r.track_id, out) < 0 ||
        tt__json_enum(body, "action", actions, -1, &action, out) < 0 ||
        tt__json_string(body, "recommendation_id", false, 128, &r.recommendation_id, out) < 0 ||
        tt__json_int(body, "ms_played", 0, 86400000LL * 365, -1, &ms, out) < 0 ||
        tt__json_string(body, "context", false, 256, &r.context, out) < 0 ||
        tt__json_string(body, "event_id", false, TT_EVENT_ID_MAX, &r.event_id, out) < 0 ||
        station_context(body, &r, context, sizeof(context), out) < 0 ||
        parse_time(body, &r.occurred_at, out) < 0)
        return;
    if (action < 0) {
        tt__reply_error(out, TT_EINVAL, "action", "action is required");
        return;
    }
    r.action = (enum tt_action)action;
    r.weight = 1.0f;
    r.ms_played = ms;
    /*
     * With a journal, an event gets its id before its first write: a write abandoned at the
     * budget (a stalled PostgreSQL) may still commit later, and the journal copy taken then
     * must be the same event, which its replay then finds stored.
     */
    sent_id = r.event_id;
    if (app->journal && !r.event_id) {
        tt_journal_new_event_id(app->journal, own_id, sizeof(own_id));
        r.event_id = own_id;
    }
    /*
     * While journaled events wait for the database, new ones queue behind them (order, and
     * no request waits on a database known to be away). A write the database cannot finish
     * within its budget goes to the journal too: acknowledged once it is on disk.
     */
    queued = app->journal && tt_journal_pending(app->journal) > 0;
    rc = queued ? TT_EDBBUSY : store_event(app, &r, &stored, &refreshed, &err);
    if ((rc == TT_EDBBUSY || rc == TT_EBACKEND) && app->journal) {
        queued = true;
        stored = true;
        rc = journal_event(app, &r, event_id, sizeof(event_id), &refreshed, &err);
    }
    if (rc < 0) {
        tt__reply_error(out, rc, err.field, "feedback not stored: %s", tt_err_msg(&err, rc));
        return;
    }
    if (stored) {
        tt__metrics_feedback(app->metrics, action);
        attribute(app, r.recommendation_id, action);
        tt__feed_publish(app->feed, &r);
        snprintf(group, sizeof(group), "u:%s", r.user_id);
        tt_cache_drop_group(app->cache, group, NULL);
    }
    if (queued) {
        tt__reply_json(out, 202,
                       json_pack("{s:s, s:b, s:s, s:s, s:s, s:b, s:s}", "status", "queued",
                                 "queued", true, "user_id", r.user_id, "track_id", r.track_id,
                                 "action", actions[action], "refreshed", refreshed, "event_id",
                                 r.event_id));
        return;
    }
    tt__reply_json(out, 200, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:s?}", "status", "stored",
                                       "user_id", r.user_id, "track_id", r.track_id, "action",
                                       actions[action], "refreshed", refreshed, "duplicate",
                                       !stored, "event_id", sent_id));
}
