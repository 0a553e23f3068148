/*
 * URL -> backend dispatch and the thin tt_store_* wrappers over the ops table.
 */
#include "backend.h"
#include "tt/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tt_store {
    const struct tt_store_ops *ops;
    void *self;
};

static const char *action_names[TT_ACT_COUNT] = {"play", "like",  "skip",  "dislike",
                                                 "save", "share", "click", "impression"};

const char *tt_action_name(enum tt_action a)
{
    return (unsigned)a < TT_ACT_COUNT ? action_names[a] : "unknown";
}

int tt_action_parse(const char *s, size_t len)
{
    for (int i = 0; i < TT_ACT_COUNT; i++)
        if (strlen(action_names[i]) == len && memcmp(action_names[i], s, len) == 0)
            return i;
    return -1;
}

static const char *feature_names[TT_N_FEATURES] = {
    "danceability", "energy",   "valence",  "tempo", "acousticness", "instrumentalness",
    "speechiness",  "liveness", "loudness", "key",   "mode"};

const char *tt_feature_name(int f)
{
    return (f >= 0 && f < TT_N_FEATURES) ? feature_names[f] : NULL;
}

int tt_feature_parse(const char *s)
{
    for (int i = 0; i < TT_N_FEATURES; i++)
        if (strcmp(feature_names[i], s) == 0)
            return i;
    return -1;
}

tt_track_rec tt_track_rec_empty(void)
{
    tt_track_rec t;

    memset(&t, 0, sizeof(t));
    t.duration_ms = -1;
    t.release_year = -1;
    for (int i = 0; i < TT_N_FEATURES; i++)
        t.features[i] = NAN;
    return t;
}

int tt_store_open(const char *url, tt_store **out, tt_err *err)
{
    const struct tt_store_ops *ops = NULL;
    void *self = NULL;
    int rc;

    if (!url || !out)
        return tt_err_set(err, TT_EINVAL, "database URL is required");
    /*
     * As SQLAlchemy reads them: sqlite:///relative/path and sqlite:////absolute/path (the
     * path is what follows the third slash); sqlite://relative/path is accepted too.
     */
    if (strncmp(url, "sqlite:///", 10) == 0)
        rc = tt__store_sqlite_open(url + 10, &ops, &self, err);
    else if (strncmp(url, "sqlite://", 9) == 0)
        rc = tt__store_sqlite_open(url + 9, &ops, &self, err);
    else if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        rc = tt__store_pg_open(url, &ops, &self, err);
    else
        return tt_err_set_field(err, TT_ECONFIG, "DATABASE_URL",
                                "unsupported database URL '%s': use sqlite:///RELATIVE/PATH, "
                                "sqlite:////ABSOLUTE/PATH or "
                                "postgresql://USER:PASS@HOST:PORT/DB", url);
    if (rc < 0)
        return rc;
    *out = tt_malloc(sizeof(**out));
    (*out)->ops = ops;
    (*out)->self = self;
    return 0;
}

void tt_store_close(tt_store *s)
{
    if (!s)
        return;
    s->ops->close(s->self);
    free(s);
}

const char *tt_store_backend(const tt_store *s)
{
    return s->ops->name;
}

int tt_store_schema_version(tt_store *s, int *out, tt_err *err)
{
    return s->ops->schema_version(s->self, out, err);
}

int tt_store_schema_latest(void)
{
    return tt__migrations[tt__n_migrations - 1].version;
}

int tt_store_schema_found(const tt_store *s)
{
    return s->ops->schema_found(s->self);
}

const char *tt_store_migration_name(int version)
{
    for (int i = 0; i < tt__n_migrations; i++)
        if (tt__migrations[i].version == version)
            return tt__migrations[i].name;
    return NULL;
}

int tt__store_check_version(int found, tt_err *err)
{
    if (found > tt_store_schema_latest())
        return tt_err_set_field(err, TT_EUNSUPPORTED, "DATABASE_URL",
                                "the database's schema is version %d, newer than this engine "
                                "(it knows versions up to %d): upgrade tunetrail before "
                                "using this database", found, tt_store_schema_latest());
    return 0;
}

int tt_store_begin(tt_store *s, tt_err *err)
{
    return s->ops->begin(s->self, err);
}

int tt_store_commit(tt_store *s, tt_err *err)
{
    return s->ops->commit(s->self, err);
}

void tt_store_rollback(tt_store *s)
{
    s->ops->rollback(s->self);
}

int tt_store_put_artist(tt_store *s, const tt_artist_rec *a, tt_err *err)
{
    if (!a->artist_id || !*a->artist_id || !a->name)
        return tt_err_set_field(err, TT_EINVAL, "artist_id", "artist_id and name are required");
    return s->ops->put_artist(s->self, a, err);
}

int tt_store_put_track(tt_store *s, const tt_track_rec *t, tt_err *err)
{
    if (!t->track_id || !*t->track_id)
        return tt_err_set_field(err, TT_EINVAL, "track_id", "track_id is required");
    if (!t->title || !t->artist)
        return tt_err_set_field(err, TT_EINVAL, t->title ? "artist" : "title",
                                "title and artist are required");
    if (t->embedding_dim < 0 || (t->embedding_dim > 0 && !t->embedding))
        return tt_err_set_field(err, TT_EINVAL, "embedding", "bad embedding");
    return s->ops->put_track(s->self, t, err);
}

int tt_store_put_user(tt_store *s, const tt_user_rec *u, tt_err *err)
{
    if (!u->user_id || !*u->user_id)
        return tt_err_set_field(err, TT_EINVAL, "user_id", "user_id is required");
    return s->ops->put_user(s->self, u, err);
}

int tt_store_check_interaction(const tt_interaction_rec *r, tt_err *err)
{
    if (!r->user_id || !*r->user_id)
        return tt_err_set_field(err, TT_EINVAL, "user_id", "user_id is required");
    if (!r->track_id || !*r->track_id)
        return tt_err_set_field(err, TT_EINVAL, "track_id", "track_id is required");
    if ((unsigned)r->action >= TT_ACT_COUNT)
        return tt_err_set_field(err, TT_EINVAL, "action", "unknown action");
    if (!isfinite(r->weight))
        return tt_err_set_field(err, TT_EINVAL, "weight", "weight must be a finite number");
    if (r->event_id && (!*r->event_id || strlen(r->event_id) > TT_EVENT_ID_MAX))
        return tt_err_set_field(err, TT_EINVAL, "event_id", "event_id must be 1..%d bytes",
                                TT_EVENT_ID_MAX);
    return 0;
}

int tt_store_put_interaction(tt_store *s, const tt_interaction_rec *r, tt_err *err)
{
    int rc = tt_store_check_interaction(r, err);
    return rc < 0 ? rc : s->ops->put_interaction(s->self, r, err);
}

int tt_store_feedback_put(tt_store *s, const tt_interaction_rec *r, bool *inserted,
                          tt_err *err)
{
    int64_t id = 0;
    int rc = tt_store_feedback_put_id(s, r, &id, err);

    if (inserted)
        *inserted = rc == 0 && id > 0;
    return rc;
}

int tt_store_feedback_put_id(tt_store *s, const tt_interaction_rec *r, int64_t *id, tt_err *err)
{
    int64_t got = 0;
    int rc = tt_store_check_interaction(r, err);

    if (rc == 0)
        rc = s->ops->feedback_put(s->self, r, &got, err);
    if (id)
        *id = rc == 0 ? got : 0;
    return rc;
}

int tt_store_set_budget(tt_store *s, int budget_ms, tt_err *err)
{
    return s->ops->set_budget(s->self, budget_ms > 0 ? budget_ms : 0, err);
}

int tt_store_ping(tt_store *s, tt_err *err)
{
    return s->ops->ping(s->self, err);
}

int tt_store_impressions_put(tt_store *s, const tt_impression_rec *recs, int n, tt_err *err)
{
    if (n < 0 || (n > 0 && !recs))
        return tt_err_set(err, TT_EINVAL, "bad impression batch");
    return n == 0 ? 0 : s->ops->impressions_put(s->self, recs, n, err);
}

int tt_store_scan_artists(tt_store *s, tt_artist_fn fn, void *ctx, tt_err *err)
{
    return s->ops->scan_artists(s->self, fn, ctx, err);
}

int tt_store_scan_tracks(tt_store *s, tt_track_fn fn, void *ctx, tt_err *err)
{
    return s->ops->scan_tracks(s->self, fn, ctx, err);
}

int tt_store_scan_users(tt_store *s, tt_user_fn fn, void *ctx, tt_err *err)
{
    return s->ops->scan_users(s->self, fn, ctx, err);
}

int tt_store_scan_interactions(tt_store *s, tt_interaction_fn fn, void *ctx, tt_err *err)
{
    return s->ops->scan_interactions(s->self, fn, ctx, err);
}

int tt_store_scan_interactions_after(tt_store *s, int64_t after_id, tt_interaction_fn fn,
                                     void *ctx, tt_err *err)
{
    return s->ops->scan_interactions_after(s->self, after_id, fn, ctx, err);
}

int tt_store_scan_interactions_range(tt_store *s, int64_t after_id, int64_t upto_id,
                                     tt_interaction_fn fn, void *ctx, tt_err *err)
{
    if (after_id >= upto_id)
        return 0;
    return s->ops->scan_interactions_range(s->self, after_id, upto_id, fn, ctx, err);
}

int tt_store_log_state(tt_store *s, int lock_ms, tt_log_state *out, tt_err *err)
{
    if (!out)
        return tt_err_set(err, TT_EINVAL, "log state: nowhere to put it");
    memset(out, 0, sizeof(*out));
    return s->ops->log_state(s->self, lock_ms > 0 ? lock_ms : 1000, out, err);
}

int tt_store_scan_user_interactions(tt_store *s, const char *user_id, tt_interaction_fn fn,
                                    void *ctx, tt_err *err)
{
    if (!user_id)
        return tt_err_set_field(err, TT_EINVAL, "user_id", "user_id is required");
    return s->ops->scan_user_interactions(s->self, user_id, fn, ctx, err);
}

int tt_store_set_durable(tt_store *s, bool durable, tt_err *err)
{
    return s->ops->set_durable(s->self, durable, err);
}

int tt_store_count(tt_store *s, const char *table, int64_t *out, tt_err *err)
{
    if (!table || !tt__store_table_ok(table))
        return tt_err_set(err, TT_EINVAL, "unknown table '%s'", table ? table : "(null)");
    return s->ops->count(s->self, table, out, err);
}

/* ---- training jobs and scheduled runs ------------------------------------------------- */

static const char *job_state_names[TT_JOB_STATE_COUNT] = {"queued", "running", "succeeded",
                                                          "failed", "cancelled"};

const char *tt_job_state_name(enum tt_job_state s)
{
    return (unsigned)s < TT_JOB_STATE_COUNT ? job_state_names[s] : "unknown";
}

int tt_job_state_parse(const char *s)
{
    for (int i = 0; s && i < TT_JOB_STATE_COUNT; i++)
        if (strcmp(job_state_names[i], s) == 0)
            return i;
    return -1;
}

static int check_job_id(const char *job_id, tt_err *err)
{
    if (!job_id || !*job_id || strlen(job_id) > TT_JOB_ID_MAX)
        return tt_err_set_field(err, TT_EINVAL, "job_id", "job_id must be 1..%d bytes",
                                TT_JOB_ID_MAX);
    return 0;
}

static int check_owner(const char *owner, tt_err *err)
{
    if (!owner || !*owner)
        return tt_err_set_field(err, TT_EINVAL, "owner", "the job's owner is required");
    return 0;
}

int tt_store_job_put(tt_store *s, const tt_job_rec *j, tt_err *err)
{
    tt_job_rec q;
    bool inserted = false;
    int rc;

    if (!j)
        return tt_err_set(err, TT_EINVAL, "job is required");
    if ((rc = check_job_id(j->job_id, err)) < 0)
        return rc;
    if (!j->request)
        return tt_err_set_field(err, TT_EINVAL, "request", "the job's request is required");
    /* A new job is queued and nothing else: what it has done so far is nothing. */
    memset(&q, 0, sizeof(q));
    q.job_id = j->job_id;
    q.state = TT_JOB_QUEUED;
    q.request = j->request;
    q.created_at = j->created_at > 0 ? j->created_at : tt_unix_time();
    rc = s->ops->job_put(s->self, &q, &inserted, err);
    if (rc == 0 && !inserted)
        return tt_err_set_field(err, TT_EEXIST, "job_id", "job '%s' already exists", j->job_id);
    return rc;
}

int tt_store_job_get(tt_store *s, const char *job_id, tt_job_fn fn, void *ctx, tt_err *err)
{
    bool found = false;
    int rc = check_job_id(job_id, err);

    if (rc < 0)
        return rc;
    if (!fn)
        return tt_err_set(err, TT_EINVAL, "a callback is required");
    rc = s->ops->job_get(s->self, job_id, fn, ctx, &found, err);
    if (rc == 0 && !found)
        return tt_err_set_field(err, TT_ENOTFOUND, "job_id", "no job '%s'", job_id);
    return rc;
}

int tt_store_job_list(tt_store *s, int limit, tt_job_fn fn, void *ctx, tt_err *err)
{
    if (limit <= 0)
        return tt_err_set_field(err, TT_EINVAL, "limit", "limit must be at least 1");
    if (!fn)
        return tt_err_set(err, TT_EINVAL, "a callback is required");
    return s->ops->job_list(s->self, limit, fn, ctx, err);
}

/* Any claimed id fits, so a claim never takes a job it cannot name. */
int tt_store_job_claim(tt_store *s, const char *owner, int64_t now, char *job_id, size_t cap,
                       tt_err *err)
{
    int rc = check_owner(owner, err);

    if (rc < 0)
        return rc;
    if (!job_id || cap <= TT_JOB_ID_MAX)
        return tt_err_set(err, TT_EINVAL, "the job id buffer must hold %d bytes",
                          TT_JOB_ID_MAX + 1);
    job_id[0] = '\0';
    return s->ops->job_claim(s->self, owner, now, job_id, cap, err);
}

/* What a job_update or job_finish that matched nothing found instead. */
struct job_seen {
    enum tt_job_state state;
    char owner[128];
};

static int on_job_seen(void *ctx, const tt_job_rec *j)
{
    struct job_seen *seen = ctx;

    seen->state = j->state;
    snprintf(seen->owner, sizeof(seen->owner), "%s", j->owner ? j->owner : "");
    return 0;
}

/* TT_ESTATE for a write by @owner to job @job_id, saying what the job is instead. */
static int job_not_running(tt_store *s, const char *job_id, const char *owner, tt_err *err)
{
    struct job_seen seen = {TT_JOB_QUEUED, ""};
    bool found = false;
    int rc = s->ops->job_get(s->self, job_id, on_job_seen, &seen, &found, err);

    if (rc < 0)
        return rc;
    if (!found)
        return tt_err_set_field(err, TT_ESTATE, "job_id", "no job '%s'", job_id);
    if (seen.state == TT_JOB_RUNNING)
        return tt_err_set_field(err, TT_ESTATE, "owner",
                                "job '%s' is running under %s, not under %s", job_id,
                                seen.owner, owner);
    return tt_err_set_field(err, TT_ESTATE, "job_id", "job '%s' is %s, not running under %s",
                            job_id, tt_job_state_name(seen.state), owner);
}

int tt_store_job_update(tt_store *s, const char *job_id, const char *owner, int64_t now,
                        const char *progress, const char *log_tail, const char *metrics,
                        bool *cancel, tt_err *err)
{
    struct tt__job_write w = {job_id, owner, now, TT_JOB_RUNNING, progress, log_tail, metrics,
                              NULL, NULL};
    bool matched = false, cancel_requested = false;
    int rc = check_job_id(job_id, err);

    if (rc == 0)
        rc = check_owner(owner, err);
    if (rc == 0)
        rc = s->ops->job_update(s->self, &w, &cancel_requested, &matched, err);
    if (rc == 0 && !matched)
        rc = job_not_running(s, job_id, owner, err);
    if (cancel)
        *cancel = rc == 0 && cancel_requested;
    return rc;
}

int tt_store_job_finish(tt_store *s, const char *job_id, const char *owner,
                        enum tt_job_state state, int64_t now, const char *metrics,
                        const char *result, const char *error, tt_err *err)
{
    struct tt__job_write w = {job_id, owner, now, state, NULL, NULL, metrics, result, error};
    bool matched = false;
    int rc = check_job_id(job_id, err);

    if (rc == 0)
        rc = check_owner(owner, err);
    if (rc < 0)
        return rc;
    if (state != TT_JOB_SUCCEEDED && state != TT_JOB_FAILED && state != TT_JOB_CANCELLED)
        return tt_err_set_field(err, TT_EINVAL, "state",
                                "a job ends succeeded, failed or cancelled, not %s",
                                tt_job_state_name(state));
    rc = s->ops->job_finish(s->self, &w, &matched, err);
    return rc == 0 && !matched ? job_not_running(s, job_id, owner, err) : rc;
}

int tt_store_job_cancel(tt_store *s, const char *job_id, int64_t now, enum tt_job_state *state,
                        tt_err *err)
{
    int after = -1, rc = check_job_id(job_id, err);

    if (rc == 0)
        rc = s->ops->job_cancel(s->self, job_id, now, "cancelled before it started", &after,
                                err);
    if (rc == 0 && after < 0)
        return tt_err_set_field(err, TT_ENOTFOUND, "job_id", "no job '%s'", job_id);
    if (rc == 0 && state)
        *state = (enum tt_job_state)after;
    return rc;
}

int tt_store_job_reap(tt_store *s, int64_t heartbeat_before, int64_t now, const char *reason,
                      int *n, tt_err *err)
{
    int reaped = 0, rc;

    if (!reason || !*reason)
        return tt_err_set_field(err, TT_EINVAL, "reason", "a reason is required");
    rc = s->ops->job_reap(s->self, heartbeat_before, now, reason, &reaped, err);
    if (n)
        *n = rc == 0 ? reaped : 0;
    return rc;
}

int tt_store_schedule_claim(tt_store *s, const char *tier, int64_t fire_at, const char *job_id,
                            bool *claimed, tt_err *err)
{
    bool got = false;
    int rc = 0;

    if (!tier || !*tier)
        rc = tt_err_set_field(err, TT_EINVAL, "tier", "tier is required");
    else if (job_id)
        rc = check_job_id(job_id, err);
    if (rc == 0)
        rc = s->ops->schedule_claim(s->self, tier, fire_at, job_id, tt_unix_time(), &got, err);
    if (claimed)
        *claimed = rc == 0 && got;
    return rc;
}

int tt_store_schedule_last(tt_store *s, const char *tier, int64_t *fire_at, tt_err *err)
{
    if (!tier || !*tier || !fire_at)
        return tt_err_set_field(err, TT_EINVAL, "tier", "tier and fire_at are required");
    *fire_at = 0;
    return s->ops->schedule_last(s->self, tier, fire_at, err);
}

void tt_store_versions(char *buf, size_t cap)
{
    int pg = tt__pg_version();

    snprintf(buf, cap, "sqlite %s, postgresql (libpq %d.%d)", tt__sqlite_version(), pg / 10000,
             pg % 10000);
}
