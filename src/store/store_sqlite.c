/*
 * SQLite backend: the embedded default. One connection per tt_store, WAL journal so readers
 * (the service) and a writer (an import) do not block each other, synchronous=FULL so a
 * commit is on disk when it returns (a bulk import pays one sync at its single commit).
 * Every statement is prepared once at open.
 */
#include "backend.h"
#include "tt/core.h"
#include "tt/fileio.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum stmt_id {
    ST_PUT_ARTIST,
    ST_PUT_TRACK,
    ST_PUT_USER,
    ST_PUT_INTERACTION,
    ST_FEEDBACK,
    ST_PUT_IMPRESSION,
    ST_SCAN_ARTISTS,
    ST_SCAN_TRACKS,
    ST_SCAN_USERS,
    ST_SCAN_INTERACTIONS,
    ST_SCAN_USER_INTERACTIONS,
    ST_SCAN_INTERACTIONS_AFTER,
    ST_SCAN_INTERACTIONS_RANGE,
    ST_LOG_STATE,
    ST_JOB_PUT,
    ST_JOB_GET,
    ST_JOB_LIST,
    ST_JOB_NEXT,
    ST_JOB_START,
    ST_JOB_UPDATE,
    ST_JOB_FINISH,
    ST_JOB_CANCEL,
    ST_JOB_REAP,
    ST_SCHEDULE_CLAIM,
    ST_SCHEDULE_LAST,
    ST_COUNT
};

#define INTERACTION_COLS                                                                    \
    "user_id, track_id, action, weight, ms_played, occurred_at, context, recommendation_id," \
    " event_id"
#define JOB_COLS                                                                               \
    "job_id, state, request, owner, created_at, started_at, finished_at, heartbeat_at,"        \
    " cancel_requested, progress, log_tail, metrics, result, error"
#define TRACK_COLS                                                                              \
    "track_id, title, artist_id, artist, album, genres, duration_ms, release_year,"            \
    " danceability, energy, valence, tempo, acousticness, instrumentalness, speechiness,"      \
    " liveness, loudness, key, mode, embedding"

static const char *stmt_sql[ST_COUNT] = {
    [ST_PUT_ARTIST] = "INSERT INTO artists(artist_id, name, genres, updated_at) VALUES (?,?,?,?)"
                      " ON CONFLICT(artist_id) DO UPDATE SET name=excluded.name,"
                      " genres=excluded.genres, updated_at=excluded.updated_at",
    [ST_PUT_TRACK] = "INSERT INTO tracks(" TRACK_COLS ", updated_at) VALUES"
                     " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                     " ON CONFLICT(track_id) DO UPDATE SET title=excluded.title,"
                     " artist_id=excluded.artist_id, artist=excluded.artist, album=excluded.album,"
                     " genres=excluded.genres, duration_ms=excluded.duration_ms,"
                     " release_year=excluded.release_year, danceability=excluded.danceability,"
                     " energy=excluded.energy, valence=excluded.valence, tempo=excluded.tempo,"
                     " acousticness=excluded.acousticness,"
                     " instrumentalness=excluded.instrumentalness,"
                     " speechiness=excluded.speechiness, liveness=excluded.liveness,"
                     " loudness=excluded.loudness, key=excluded.key, mode=excluded.mode,"
                     " embedding=excluded.embedding, updated_at=excluded.updated_at",
    [ST_PUT_USER] = "INSERT INTO users(user_id, plan_tier, favorite_genres, created_at)"
                    " VALUES (?,?,?,?) ON CONFLICT(user_id) DO UPDATE SET"
                    " plan_tier=excluded.plan_tier, favorite_genres=excluded.favorite_genres",
    /* Without an event_id nothing conflicts: every event is a row of its own. */
    [ST_PUT_INTERACTION] = "INSERT INTO interactions(" INTERACTION_COLS ") VALUES"
                           " (?,?,?,?,?,?,?,?,?) ON CONFLICT(event_id) DO UPDATE SET"
                           " user_id=excluded.user_id, track_id=excluded.track_id,"
                           " action=excluded.action, weight=excluded.weight,"
                           " ms_played=excluded.ms_played, occurred_at=excluded.occurred_at,"
                           " context=excluded.context,"
                           " recommendation_id=excluded.recommendation_id",
    /* A retried event (same event_id) is the same event: the first write stands. */
    [ST_FEEDBACK] = "INSERT INTO interactions(" INTERACTION_COLS ") VALUES (?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(event_id) DO NOTHING",
    [ST_PUT_IMPRESSION] = "INSERT INTO impressions(recommendation_id, user_id, model, track_ids,"
                          " created_at) VALUES (?,?,?,?,?) ON CONFLICT(recommendation_id) DO"
                          " UPDATE SET user_id=excluded.user_id, model=excluded.model,"
                          " track_ids=excluded.track_ids, created_at=excluded.created_at",
    [ST_SCAN_ARTISTS] = "SELECT artist_id, name, genres FROM artists ORDER BY rowid",
    [ST_SCAN_TRACKS] = "SELECT " TRACK_COLS " FROM tracks ORDER BY rowid",
    [ST_SCAN_USERS] = "SELECT user_id, plan_tier, favorite_genres, created_at FROM users"
                      " ORDER BY rowid",
    [ST_SCAN_INTERACTIONS] = "SELECT " INTERACTION_COLS ", id FROM interactions ORDER BY id",
    [ST_SCAN_USER_INTERACTIONS] = "SELECT " INTERACTION_COLS ", id FROM interactions"
                                  " WHERE user_id = ? ORDER BY occurred_at, id",
    [ST_SCAN_INTERACTIONS_AFTER] = "SELECT " INTERACTION_COLS ", id FROM interactions"
                                   " WHERE id > ? ORDER BY id",
    [ST_SCAN_INTERACTIONS_RANGE] = "SELECT " INTERACTION_COLS ", id FROM interactions"
                                   " WHERE id > ? AND id <= ? ORDER BY id",
    /* One statement, so one read transaction: the counter and max(id) of the same moment. */
    [ST_LOG_STATE] = "SELECT store_id, interaction_rewrites,"
                     " (SELECT coalesce(max(id), 0) FROM interactions) FROM store_meta",
    [ST_JOB_PUT] = "INSERT INTO training_jobs(job_id, state, request, created_at)"
                   " VALUES (?,?,?,?) ON CONFLICT(job_id) DO NOTHING",
    [ST_JOB_GET] = "SELECT " JOB_COLS " FROM training_jobs WHERE job_id = ?",
    [ST_JOB_LIST] = "SELECT " JOB_COLS " FROM training_jobs"
                    " ORDER BY created_at DESC, job_id DESC LIMIT ?",
    [ST_JOB_NEXT] = "SELECT job_id FROM training_jobs WHERE state = 'queued'"
                    " ORDER BY created_at, job_id LIMIT 1",
    [ST_JOB_START] = "UPDATE training_jobs SET state = 'running', owner = ?1, started_at = ?2,"
                     " heartbeat_at = ?2 WHERE job_id = ?3 AND state = 'queued'",
    [ST_JOB_UPDATE] = "UPDATE training_jobs SET heartbeat_at = ?1,"
                      " progress = coalesce(?2, progress), log_tail = coalesce(?3, log_tail),"
                      " metrics = coalesce(?4, metrics)"
                      " WHERE job_id = ?5 AND state = 'running' AND owner = ?6"
                      " RETURNING cancel_requested",
    [ST_JOB_FINISH] = "UPDATE training_jobs SET state = ?1, finished_at = ?2,"
                      " metrics = coalesce(?3, metrics), result = coalesce(?4, result),"
                      " error = coalesce(?5, error)"
                      " WHERE job_id = ?6 AND state = 'running' AND owner = ?7",
    /* Every CASE reads the row as it was: one statement decides by the state before it. */
    [ST_JOB_CANCEL] = "UPDATE training_jobs SET"
                      " state = CASE state WHEN 'queued' THEN 'cancelled' ELSE state END,"
                      " finished_at = CASE state WHEN 'queued' THEN ?1 ELSE finished_at END,"
                      " error = CASE state WHEN 'queued' THEN ?2 ELSE error END,"
                      " cancel_requested = CASE state WHEN 'running' THEN 1"
                      " ELSE cancel_requested END"
                      " WHERE job_id = ?3 RETURNING state",
    [ST_JOB_REAP] = "UPDATE training_jobs SET state = 'failed', finished_at = ?1, error = ?2"
                    " WHERE state = 'running' AND heartbeat_at < ?3",
    [ST_SCHEDULE_CLAIM] = "INSERT INTO schedule_runs(tier, fire_at, job_id, claimed_at)"
                          " VALUES (?,?,?,?) ON CONFLICT(tier, fire_at) DO NOTHING",
    [ST_SCHEDULE_LAST] = "SELECT coalesce(max(fire_at), 0) FROM schedule_runs WHERE tier = ?",
};

/*
 * Interactions put inside a transaction are staged in memory and written sorted by the
 * unique key: inserting a few hundred thousand keys in key order touches each index page
 * once, where file order (by time, users interleaved) touches a random page per row: twice
 * the import speed. Rows of one transaction therefore get their ids (scan order) in key
 * order, which store.h leaves unspecified.
 */
#define STAGE_ROWS 500000
/* How long command-line use waits for another connection's lock (an import, say). */
#define DEFAULT_BUSY_MS 10000
/* The page cache: 128 MB for serving's writes and lookups, 4 MB while streaming the log. */
#define FULL_CACHE "PRAGMA cache_size=-131072"
#define SCAN_CACHE "PRAGMA cache_size=-4096"
#define NO_STR UINT32_MAX

struct staged {
    uint32_t user, track, context, rec, event; /* offsets into the pool, NO_STR for NULL */
    uint32_t seq;                       /* put order: the later of two equal keys wins */
    uint8_t action;
    float weight;
    int64_t ms_played, occurred_at;
};

struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    char path[1024];
    int found_version; /* schema version before this connection's migrations */
    struct staged *stage;
    size_t n_stage, stage_cap;
    char *pool;
    size_t pool_len, pool_cap;
    bool stage_events; /* some staged row has an event_id */
};

/*
 * The engine's code for SQLite's last error: a lock held past the busy timeout is the
 * database over its budget, a refused value is the caller's, the rest is I/O.
 */
static int sq_code(struct sq *s)
{
    switch (sqlite3_errcode(s->db)) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return TT_EDBBUSY;
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
        return TT_EINVAL;
    default:
        return TT_EIO;
    }
}

static int sq_fail(struct sq *s, tt_err *err, const char *what)
{
    return tt_err_set(err, sq_code(s), "sqlite %s (%s): %s", what, s->path,
                      sqlite3_errmsg(s->db));
}

static int sq_exec(struct sq *s, const char *sql, tt_err *err)
{
    char *msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        int rc = tt_err_set(err, sq_code(s), "sqlite (%s): %s", s->path, msg ? msg : "error");
        sqlite3_free(msg);
        return rc;
    }
    return 0;
}

static int sq_schema_version(void *self, int *out, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st;
    int rc = 0;

    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1,
                           &st, NULL) != SQLITE_OK)
        return sq_fail(s, err, "schema version");
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int(st, 0);
    else
        rc = sq_fail(s, err, "schema version");
    sqlite3_finalize(st);
    return rc;
}

static bool sq_has_table(struct sq *s, const char *name)
{
    sqlite3_stmt *st;
    bool found = false;

    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return false;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* The table of applied migrations, named schema_migrations before version 2. */
static int sq_version_table(struct sq *s, tt_err *err)
{
    if (!sq_has_table(s, "schema_version") && sq_has_table(s, "schema_migrations"))
        return sq_exec(s, "ALTER TABLE schema_migrations RENAME TO schema_version", err);
    return sq_exec(s, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER PRIMARY KEY,"
                      " applied_at BIGINT NOT NULL)", err);
}

/*
 * Applies pending migrations, all in one transaction: BEGIN IMMEDIATE serialises concurrent
 * openers, and a failure leaves the database as it was. A database newer than this engine is
 * refused before anything is written.
 */
static int sq_migrate(struct sq *s, tt_err *err)
{
    int rc, have = 0;
    char buf[128];

    rc = sq_exec(s, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    rc = sq_version_table(s, err);
    if (rc == 0)
        rc = sq_schema_version(s, &have, err);
    if (rc == 0)
        rc = tt__store_check_version(have, err);
    s->found_version = have;
    for (int i = 0; rc == 0 && i < tt__n_migrations; i++) {
        if (tt__migrations[i].version <= have)
            continue;
        rc = sq_exec(s, tt__migrations[i].sqlite_sql, err);
        snprintf(buf, sizeof(buf), "INSERT INTO schema_version VALUES (%d, %lld)",
                 tt__migrations[i].version, (long long)tt_unix_time());
        if (rc == 0)
            rc = sq_exec(s, buf, err);
    }
    if (rc == 0)
        return sq_exec(s, "COMMIT", err);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void sq_close(void *self)
{
    struct sq *s = self;

    if (!s)
        return;
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    free(s->stage);
    free(s->pool);
    free(s);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void bind_real(sqlite3_stmt *st, int i, double v)
{
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

static void bind_int_or_null(sqlite3_stmt *st, int i, int64_t v, bool null)
{
    if (null)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_int64(st, i, v);
}

/* Steps a write statement once and resets it so it can be bound again. */
static int step_done(struct sq *s, sqlite3_stmt *st, tt_err *err, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : sq_fail(s, err, what);
}

static int sq_begin(void *self, tt_err *err)
{
    return sq_exec(self, "BEGIN IMMEDIATE", err);
}

static int stage_flush(struct sq *s, tt_err *err);
static void stage_clear(struct sq *s);

/* The flush leaves the stage empty, whether or not it succeeds. */
static int sq_commit(void *self, tt_err *err)
{
    int rc = stage_flush(self, err);

    return rc < 0 ? rc : sq_exec(self, "COMMIT", err);
}

static void sq_rollback(void *self)
{
    struct sq *s = self;

    stage_clear(s);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_put_artist(void *self, const tt_artist_rec *a, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_PUT_ARTIST];

    bind_text(st, 1, a->artist_id);
    bind_text(st, 2, a->name);
    bind_text(st, 3, a->genres ? a->genres : "");
    sqlite3_bind_int64(st, 4, tt_unix_time());
    return step_done(s, st, err, "put artist");
}

static int sq_put_track(void *self, const tt_track_rec *t, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_PUT_TRACK];
    int i;

    bind_text(st, 1, t->track_id);
    bind_text(st, 2, t->title);
    bind_text(st, 3, t->artist_id ? t->artist_id : t->artist);
    bind_text(st, 4, t->artist);
    bind_text(st, 5, t->album);
    bind_text(st, 6, t->genres ? t->genres : "");
    bind_int_or_null(st, 7, t->duration_ms, t->duration_ms < 0);
    bind_int_or_null(st, 8, t->release_year, t->release_year <= 0);
    for (i = 0; i < TT_F_KEY; i++)
        bind_real(st, 9 + i, t->features[i]);
    for (; i < TT_N_FEATURES; i++)
        bind_int_or_null(st, 9 + i, (int64_t)lrintf(t->features[i]), isnan(t->features[i]));
    if (t->embedding && t->embedding_dim > 0)
        sqlite3_bind_blob(st, 20, t->embedding, t->embedding_dim * (int)sizeof(float),
                          SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 20);
    sqlite3_bind_int64(st, 21, tt_unix_time());
    return step_done(s, st, err, "put track");
}

static int sq_put_user(void *self, const tt_user_rec *u, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_PUT_USER];

    bind_text(st, 1, u->user_id);
    bind_text(st, 2, u->plan_tier ? u->plan_tier : "free");
    bind_text(st, 3, u->favorite_genres ? u->favorite_genres : "");
    sqlite3_bind_int64(st, 4, u->created_at > 0 ? u->created_at : tt_unix_time());
    return step_done(s, st, err, "put user");
}

/* Binds @r to @st (an interaction insert) and runs it. */
static int write_interaction(struct sq *s, sqlite3_stmt *st, const tt_interaction_rec *r,
                             tt_err *err)
{
    bind_text(st, 1, r->user_id);
    bind_text(st, 2, r->track_id);
    sqlite3_bind_text(st, 3, tt_action_name(r->action), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, r->weight);
    bind_int_or_null(st, 5, r->ms_played, r->ms_played < 0);
    sqlite3_bind_int64(st, 6, r->occurred_at);
    bind_text(st, 7, r->context);
    bind_text(st, 8, r->recommendation_id);
    bind_text(st, 9, r->event_id);
    return step_done(s, st, err, "put interaction");
}

static uint32_t pool_add(struct sq *s, const char *v)
{
    size_t n, off = s->pool_len;

    if (!v)
        return NO_STR;
    n = strlen(v) + 1;
    TT_GROW(s->pool, s->pool_cap, s->pool_len + n);
    memcpy(s->pool + off, v, n);
    s->pool_len += n;
    return (uint32_t)off;
}

static const char *pool_str(const struct sq *s, uint32_t off)
{
    return off == NO_STR ? NULL : s->pool + off;
}

/* Index order (user, time), so the rows of one user land on the same index pages. */
static int cmp_staged(const void *a, const void *b, void *ctx)
{
    const struct staged *x = a, *y = b;
    const char *pool = ctx;
    int c = strcmp(pool + x->user, pool + y->user);

    if (c == 0)
        c = (x->occurred_at > y->occurred_at) - (x->occurred_at < y->occurred_at);
    if (c == 0)
        c = (x->seq > y->seq) - (x->seq < y->seq);
    return c;
}

/* Event id order, rows without one first, each id's puts in put order. */
static int cmp_staged_event(const void *a, const void *b, void *ctx)
{
    const struct staged *x = a, *y = b;
    const char *pool = ctx;
    int c = (x->event != NO_STR) - (y->event != NO_STR);

    if (c == 0 && x->event != NO_STR)
        c = strcmp(pool + x->event, pool + y->event);
    if (c == 0)
        c = (x->seq > y->seq) - (x->seq < y->seq);
    return c;
}

static void stage_clear(struct sq *s)
{
    s->n_stage = 0;
    s->pool_len = 0;
    s->stage_events = false;
}

/*
 * Of several staged puts of one event_id the last counts, wherever the key order puts it:
 * the earlier ones are removed from the stage.
 */
static void stage_drop_superseded(struct sq *s)
{
    size_t n = 0;

    qsort_r(s->stage, s->n_stage, sizeof(*s->stage), cmp_staged_event, s->pool);
    for (size_t i = 0; i < s->n_stage; i++) {
        const struct staged *e = &s->stage[i], *next = e + 1;
        if (i + 1 < s->n_stage && e->event != NO_STR &&
            strcmp(s->pool + e->event, s->pool + next->event) == 0)
            continue;
        s->stage[n++] = *e;
    }
    s->n_stage = n;
}

/* Writes the staged rows in index order; the transaction stays open. */
static int stage_flush(struct sq *s, tt_err *err)
{
    int rc = 0;

    if (s->n_stage == 0)
        return 0;
    if (s->stage_events)
        stage_drop_superseded(s);
    qsort_r(s->stage, s->n_stage, sizeof(*s->stage), cmp_staged, s->pool);
    for (size_t i = 0; rc == 0 && i < s->n_stage; i++) {
        const struct staged *e = &s->stage[i];
        tt_interaction_rec r = {pool_str(s, e->user), pool_str(s, e->track),
                                (enum tt_action)e->action, e->weight, e->ms_played,
                                e->occurred_at, pool_str(s, e->context), pool_str(s, e->rec), 0,
                                pool_str(s, e->event)};
        rc = write_interaction(s, s->st[ST_PUT_INTERACTION], &r, err);
    }
    stage_clear(s);
    return rc;
}

static int sq_put_interaction(void *self, const tt_interaction_rec *r, tt_err *err)
{
    struct sq *s = self;
    struct staged *e;
    int rc;

    if (sqlite3_get_autocommit(s->db))
        return write_interaction(s, s->st[ST_PUT_INTERACTION], r, err);
    if (s->pool_len > UINT32_MAX / 2 || s->n_stage >= STAGE_ROWS) {
        rc = stage_flush(s, err);
        if (rc < 0)
            return rc;
    }
    TT_GROW(s->stage, s->stage_cap, s->n_stage + 1);
    e = &s->stage[s->n_stage];
    e->user = pool_add(s, r->user_id);
    e->track = pool_add(s, r->track_id);
    e->context = pool_add(s, r->context);
    e->rec = pool_add(s, r->recommendation_id);
    e->event = pool_add(s, r->event_id);
    s->stage_events |= r->event_id != NULL;
    e->seq = (uint32_t)s->n_stage++;
    e->action = (uint8_t)r->action;
    e->weight = r->weight;
    e->ms_played = r->ms_played;
    e->occurred_at = r->occurred_at;
    return 0;
}

static int sq_feedback_put(void *self, const tt_interaction_rec *r, int64_t *id, tt_err *err)
{
    struct sq *s = self;
    int rc = sq_begin(self, err);

    if (rc < 0)
        return rc;
    rc = write_interaction(s, s->st[ST_FEEDBACK], r, err);
    /* The id is the rowid: interactions.id is an INTEGER PRIMARY KEY. */
    *id = rc == 0 && sqlite3_changes(s->db) > 0 ? sqlite3_last_insert_rowid(s->db) : 0;
    if (rc == 0)
        rc = sq_commit(self, err);
    if (rc < 0)
        sq_rollback(self);
    return rc;
}

static int sq_impressions_put(void *self, const tt_impression_rec *recs, int n, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_PUT_IMPRESSION];
    int rc = sq_begin(self, err);

    for (int i = 0; rc == 0 && i < n; i++) {
        bind_text(st, 1, recs[i].recommendation_id);
        bind_text(st, 2, recs[i].user_id);
        bind_text(st, 3, recs[i].model);
        bind_text(st, 4, recs[i].track_ids ? recs[i].track_ids : "");
        sqlite3_bind_int64(st, 5, recs[i].created_at > 0 ? recs[i].created_at : tt_unix_time());
        rc = step_done(s, st, err, "put impression");
    }
    if (rc == 0)
        rc = sq_commit(self, err);
    if (rc < 0)
        sq_rollback(self);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static double col_real(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static int64_t col_int(sqlite3_stmt *st, int i, int64_t null_value)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? null_value : sqlite3_column_int64(st, i);
}

/*
 * Runs @st to completion, calling @row for each result row; resets @st either way. Inside a
 * transaction the staged interactions are written first, so a reader sees its own puts.
 */
static int scan(struct sq *s, sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *, void *),
                void *fn, void *ctx, tt_err *err)
{
    int rc = stage_flush(s, err), step = SQLITE_DONE;

    while (rc >= 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
        rc = row(st, fn, ctx);
    if (rc == 0 && step != SQLITE_DONE)
        rc = sq_fail(s, err, "scan");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int row_artist(sqlite3_stmt *st, void *fn, void *ctx)
{
    tt_artist_rec a = {col_text(st, 0), col_text(st, 1), col_text(st, 2)};
    return ((tt_artist_fn)fn)(ctx, &a);
}

static int row_track(sqlite3_stmt *st, void *fn, void *ctx)
{
    tt_track_rec t = tt_track_rec_empty();
    int i;

    t.track_id = col_text(st, 0);
    t.title = col_text(st, 1);
    t.artist_id = col_text(st, 2);
    t.artist = col_text(st, 3);
    t.album = col_text(st, 4);
    t.genres = col_text(st, 5);
    t.duration_ms = (int32_t)col_int(st, 6, -1);
    t.release_year = (int32_t)col_int(st, 7, -1);
    for (i = 0; i < TT_N_FEATURES; i++)
        t.features[i] = (float)col_real(st, 8 + i);
    if (sqlite3_column_type(st, 19) == SQLITE_BLOB) {
        t.embedding = sqlite3_column_blob(st, 19);
        t.embedding_dim = sqlite3_column_bytes(st, 19) / (int)sizeof(float);
    }
    return ((tt_track_fn)fn)(ctx, &t);
}

static int row_user(sqlite3_stmt *st, void *fn, void *ctx)
{
    tt_user_rec u = {col_text(st, 0), col_text(st, 1), col_text(st, 2), col_int(st, 3, 0)};
    return ((tt_user_fn)fn)(ctx, &u);
}

static int row_interaction(sqlite3_stmt *st, void *fn, void *ctx)
{
    const char *a = col_text(st, 2);
    tt_interaction_rec r;
    int act = a ? tt_action_parse(a, strlen(a)) : -1;

    r.user_id = col_text(st, 0);
    r.track_id = col_text(st, 1);
    r.action = act < 0 ? TT_ACT_PLAY : (enum tt_action)act;
    r.weight = (float)sqlite3_column_double(st, 3);
    r.ms_played = col_int(st, 4, -1);
    r.occurred_at = col_int(st, 5, 0);
    r.context = col_text(st, 6);
    r.recommendation_id = col_text(st, 7);
    r.event_id = col_text(st, 8);
    r.id = sqlite3_column_int64(st, 9);
    return ((tt_interaction_fn)fn)(ctx, &r);
}

static int sq_scan_artists(void *self, tt_artist_fn fn, void *ctx, tt_err *err)
{
    struct sq *s = self;
    return scan(s, s->st[ST_SCAN_ARTISTS], row_artist, (void *)fn, ctx, err);
}

static int sq_scan_tracks(void *self, tt_track_fn fn, void *ctx, tt_err *err)
{
    struct sq *s = self;
    return scan(s, s->st[ST_SCAN_TRACKS], row_track, (void *)fn, ctx, err);
}

static int sq_scan_users(void *self, tt_user_fn fn, void *ctx, tt_err *err)
{
    struct sq *s = self;
    return scan(s, s->st[ST_SCAN_USERS], row_user, (void *)fn, ctx, err);
}

/*
 * The whole log streams through once, in rowid order, and no page is read twice: the page
 * cache (128 MB, for the writes and lookups of serving) would fill with pages that are never
 * used again, and stay resident beside the snapshot being built. So the scan runs with a
 * small cache, and the usual size comes back after it (pages are allocated as needed).
 */
static int sq_scan_interactions(void *self, tt_interaction_fn fn, void *ctx, tt_err *err)
{
    struct sq *s = self;
    int rc = sq_exec(s, SCAN_CACHE, err);

    if (rc == 0)
        rc = scan(s, s->st[ST_SCAN_INTERACTIONS], row_interaction, (void *)fn, ctx, err);
    if (rc == 0)
        rc = sq_exec(s, FULL_CACHE, err);
    else
        sq_exec(s, FULL_CACHE, NULL);
    return rc;
}

static int sq_scan_user_interactions(void *self, const char *user_id, tt_interaction_fn fn,
                                     void *ctx, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_SCAN_USER_INTERACTIONS];

    sqlite3_bind_text(st, 1, user_id, -1, SQLITE_TRANSIENT);
    return scan(s, st, row_interaction, (void *)fn, ctx, err);
}

static int sq_scan_interactions_after(void *self, int64_t after_id, tt_interaction_fn fn,
                                      void *ctx, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_SCAN_INTERACTIONS_AFTER];

    sqlite3_bind_int64(st, 1, after_id);
    return scan(s, st, row_interaction, (void *)fn, ctx, err);
}

/*
 * A bounded scan is the snapshot's: the whole log when no cache is kept, and streamed with
 * the whole log's small page cache for the same reason.
 */
static int sq_scan_interactions_range(void *self, int64_t after_id, int64_t upto_id,
                                      tt_interaction_fn fn, void *ctx, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_SCAN_INTERACTIONS_RANGE];
    int rc = sq_exec(s, SCAN_CACHE, err);

    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int64(st, 2, upto_id);
    if (rc == 0)
        rc = scan(s, st, row_interaction, (void *)fn, ctx, err);
    if (rc == 0)
        rc = sq_exec(s, FULL_CACHE, err);
    else
        sq_exec(s, FULL_CACHE, NULL);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/*
 * SQLite has one writer at a time and gives rowids inside the writer's transaction (the
 * largest plus one), so once max(id) is read no row with a smaller id can appear later
 * except by reusing the id of a deleted row, which the counter records. No lock is needed.
 */
static int sq_log_state(void *self, int lock_ms, tt_log_state *out, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_LOG_STATE];
    const char *id;
    int rc = 0;

    (void)lock_ms;
    if (!sqlite3_get_autocommit(s->db))
        return tt_err_set(err, TT_ESTATE, "log state: not inside a transaction");
    if (sqlite3_step(st) == SQLITE_ROW) {
        id = col_text(st, 0);
        snprintf(out->store_id, sizeof(out->store_id), "%s", id ? id : "");
        out->rewrites = sqlite3_column_int64(st, 1);
        out->max_id = sqlite3_column_int64(st, 2);
    } else {
        rc = sq_fail(s, err, "log state");
    }
    sqlite3_reset(st);
    return rc;
}

static int sq_count(void *self, const char *table, int64_t *out, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st;
    char sql[96];
    int rc = 0;

    if ((rc = stage_flush(s, err)) < 0)
        return rc;
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sq_fail(s, err, "count");
    if (sqlite3_step(st) == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else
        rc = sq_fail(s, err, "count");
    sqlite3_finalize(st);
    return rc;
}

/* ---- training jobs and scheduled runs ------------------------------------------------ */

/*
 * Job and schedule writes are each their own transaction, committed when they return (the
 * queue is shared with other processes): inside a bulk transaction they would be neither.
 */
static int own_tx(struct sq *s, const char *what, tt_err *err)
{
    if (!sqlite3_get_autocommit(s->db))
        return tt_err_set(err, TT_EIO, "sqlite %s (%s): not allowed inside a transaction", what,
                          s->path);
    return 0;
}

/*
 * Runs write @st to completion (a RETURNING statement commits only when it is done); *@first
 * (may be NULL) is column 0 of its first row, -1 when it returned none. Resets @st.
 */
static int step_all(struct sq *s, sqlite3_stmt *st, int64_t *first, tt_err *err,
                    const char *what)
{
    int step, rc = 0;

    if (first)
        *first = -1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        if (first && *first < 0)
            *first = sqlite3_column_int64(st, 0);
    if (step != SQLITE_DONE)
        rc = sq_fail(s, err, what);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int row_job(sqlite3_stmt *st, tt_job_fn fn, void *ctx)
{
    const char *state = col_text(st, 1);
    int parsed = tt_job_state_parse(state);
    tt_job_rec j;

    j.job_id = col_text(st, 0);
    j.state = parsed < 0 ? TT_JOB_FAILED : (enum tt_job_state)parsed;
    j.request = col_text(st, 2);
    j.owner = col_text(st, 3);
    j.created_at = col_int(st, 4, 0);
    j.started_at = col_int(st, 5, 0);
    j.finished_at = col_int(st, 6, 0);
    j.heartbeat_at = col_int(st, 7, 0);
    j.cancel_requested = col_int(st, 8, 0) != 0;
    j.progress = col_text(st, 9);
    j.log_tail = col_text(st, 10);
    j.metrics = col_text(st, 11);
    j.result = col_text(st, 12);
    j.error = col_text(st, 13);
    return fn(ctx, &j);
}

/* Calls @fn for each job row of @st (bound); *@n is how many. A negative @fn return stops. */
static int job_rows(struct sq *s, sqlite3_stmt *st, tt_job_fn fn, void *ctx, int *n,
                    tt_err *err)
{
    int rc = 0, step = SQLITE_DONE;

    *n = 0;
    while (rc >= 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        ++*n;
        rc = row_job(st, fn, ctx);
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sq_fail(s, err, "job read");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_job_put(void *self, const tt_job_rec *j, bool *inserted, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_PUT];
    int rc = own_tx(s, "job put", err);

    if (rc < 0)
        return rc;
    bind_text(st, 1, j->job_id);
    bind_text(st, 2, tt_job_state_name(j->state));
    bind_text(st, 3, j->request);
    sqlite3_bind_int64(st, 4, j->created_at);
    rc = step_done(s, st, err, "job put");
    *inserted = rc == 0 && sqlite3_changes(s->db) > 0;
    return rc;
}

static int sq_job_get(void *self, const char *job_id, tt_job_fn fn, void *ctx, bool *found,
                      tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_GET];
    int n = 0, rc;

    bind_text(st, 1, job_id);
    rc = job_rows(s, st, fn, ctx, &n, err);
    *found = n > 0;
    return rc;
}

static int sq_job_list(void *self, int limit, tt_job_fn fn, void *ctx, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_LIST];
    int n = 0;

    sqlite3_bind_int(st, 1, limit);
    return job_rows(s, st, fn, ctx, &n, err);
}

/*
 * BEGIN IMMEDIATE takes the database's write lock before the oldest queued job is read, so
 * two claimers (connections, processes) cannot both read it as queued: the second waits for
 * the first's commit, within its busy timeout, and then reads the next one.
 */
static int sq_job_claim(void *self, const char *owner, int64_t now, char *job_id, size_t cap,
                        tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *next = s->st[ST_JOB_NEXT], *start = s->st[ST_JOB_START];
    int rc = own_tx(s, "job claim", err), step, got = 0;

    if (rc == 0)
        rc = sq_exec(s, "BEGIN IMMEDIATE", err);
    if (rc < 0)
        return rc;
    step = sqlite3_step(next);
    if (step == SQLITE_ROW) {
        snprintf(job_id, cap, "%s", col_text(next, 0));
        got = 1;
    } else if (step != SQLITE_DONE) {
        rc = sq_fail(s, err, "job claim");
    }
    sqlite3_reset(next);
    if (rc == 0 && got) {
        bind_text(start, 1, owner);
        sqlite3_bind_int64(start, 2, now);
        bind_text(start, 3, job_id);
        rc = step_done(s, start, err, "job claim");
        got = rc == 0 && sqlite3_changes(s->db) > 0;
    }
    if (rc == 0)
        rc = sq_exec(s, "COMMIT", err);
    if (rc == 0)
        return got;
    sq_rollback(s);
    job_id[0] = '\0';
    return rc;
}

static int sq_job_update(void *self, const struct tt__job_write *w, bool *cancel, bool *matched,
                         tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_UPDATE];
    int64_t cancel_requested = -1;
    int rc = own_tx(s, "job update", err);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, w->now);
    bind_text(st, 2, w->progress);
    bind_text(st, 3, w->log_tail);
    bind_text(st, 4, w->metrics);
    bind_text(st, 5, w->job_id);
    bind_text(st, 6, w->owner);
    rc = step_all(s, st, &cancel_requested, err, "job update");
    *matched = cancel_requested >= 0;
    *cancel = cancel_requested > 0;
    return rc;
}

static int sq_job_finish(void *self, const struct tt__job_write *w, bool *matched, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_FINISH];
    int rc = own_tx(s, "job finish", err);

    if (rc < 0)
        return rc;
    bind_text(st, 1, tt_job_state_name(w->state));
    sqlite3_bind_int64(st, 2, w->now);
    bind_text(st, 3, w->metrics);
    bind_text(st, 4, w->result);
    bind_text(st, 5, w->error);
    bind_text(st, 6, w->job_id);
    bind_text(st, 7, w->owner);
    rc = step_done(s, st, err, "job finish");
    *matched = rc == 0 && sqlite3_changes(s->db) > 0;
    return rc;
}

static int sq_job_cancel(void *self, const char *job_id, int64_t now, const char *reason,
                         int *state, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_CANCEL];
    int rc = own_tx(s, "job cancel", err), step;

    if (rc < 0)
        return rc;
    *state = -1;
    sqlite3_bind_int64(st, 1, now);
    bind_text(st, 2, reason);
    bind_text(st, 3, job_id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        *state = tt_job_state_parse(col_text(st, 0));
    if (step != SQLITE_DONE)
        rc = sq_fail(s, err, "job cancel");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_job_reap(void *self, int64_t heartbeat_before, int64_t now, const char *reason,
                       int *n, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_JOB_REAP];
    int rc = own_tx(s, "job reap", err);

    if (rc < 0)
        return rc;
    sqlite3_bind_int64(st, 1, now);
    bind_text(st, 2, reason);
    sqlite3_bind_int64(st, 3, heartbeat_before);
    rc = step_done(s, st, err, "job reap");
    *n = rc == 0 ? sqlite3_changes(s->db) : 0;
    return rc;
}

static int sq_schedule_claim(void *self, const char *tier, int64_t fire_at, const char *job_id,
                             int64_t now, bool *claimed, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_SCHEDULE_CLAIM];
    int rc = own_tx(s, "schedule claim", err);

    if (rc < 0)
        return rc;
    bind_text(st, 1, tier);
    sqlite3_bind_int64(st, 2, fire_at);
    bind_text(st, 3, job_id);
    sqlite3_bind_int64(st, 4, now);
    rc = step_done(s, st, err, "schedule claim");
    *claimed = rc == 0 && sqlite3_changes(s->db) > 0;
    return rc;
}

static int sq_schedule_last(void *self, const char *tier, int64_t *fire_at, tt_err *err)
{
    struct sq *s = self;
    sqlite3_stmt *st = s->st[ST_SCHEDULE_LAST];
    int64_t last = 0;
    int rc;

    bind_text(st, 1, tier);
    rc = step_all(s, st, &last, err, "schedule last");
    *fire_at = rc == 0 && last > 0 ? last : 0;
    return rc;
}

/* WAL with synchronous=NORMAL: commits are atomic and ordered, synced at checkpoints. */
static int sq_set_durable(void *self, bool durable, tt_err *err)
{
    return sq_exec(self, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL", err);
}

/* The busy timeout is SQLite's only wait: another connection's lock. */
static int sq_set_budget(void *self, int budget_ms, tt_err *err)
{
    struct sq *s = self;

    (void)err;
    sqlite3_busy_timeout(s->db, budget_ms > 0 ? budget_ms : DEFAULT_BUSY_MS);
    return 0;
}

static int sq_ping(void *self, tt_err *err)
{
    int v;

    return sq_schema_version(self, &v, err);
}

static int sq_schema_found(void *self)
{
    return ((struct sq *)self)->found_version;
}

static const struct tt_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .schema_version = sq_schema_version,
    .schema_found = sq_schema_found,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .put_artist = sq_put_artist,
    .put_track = sq_put_track,
    .put_user = sq_put_user,
    .put_interaction = sq_put_interaction,
    .feedback_put = sq_feedback_put,
    .impressions_put = sq_impressions_put,
    .scan_artists = sq_scan_artists,
    .scan_tracks = sq_scan_tracks,
    .scan_users = sq_scan_users,
    .scan_interactions = sq_scan_interactions,
    .scan_user_interactions = sq_scan_user_interactions,
    .scan_interactions_after = sq_scan_interactions_after,
    .scan_interactions_range = sq_scan_interactions_range,
    .log_state = sq_log_state,
    .count = sq_count,
    .set_durable = sq_set_durable,
    .set_budget = sq_set_budget,
    .ping = sq_ping,
    .job_put = sq_job_put,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_claim = sq_job_claim,
    .job_update = sq_job_update,
    .job_finish = sq_job_finish,
    .job_cancel = sq_job_cancel,
    .job_reap = sq_job_reap,
    .schedule_claim = sq_schedule_claim,
    .schedule_last = sq_schedule_last,
};

/*
 * Switching a file to WAL needs a moment without writers, and SQLite answers SQLITE_BUSY at
 * once, without its busy handler, while another connection writes (a new file, or one a
 * program left in the default journal mode): wait for the writer as the busy timeout would.
 */
static int sq_wal(struct sq *s, tt_err *err)
{
    double give_up = tt_now() + DEFAULT_BUSY_MS / 1000.0;
    int rc;

    while ((rc = sq_exec(s, "PRAGMA journal_mode=WAL", NULL)) == TT_EDBBUSY &&
           tt_now() < give_up)
        usleep(5000);
    return rc < 0 ? sq_exec(s, "PRAGMA journal_mode=WAL", err) : 0;
}

static int sq_configure(struct sq *s, tt_err *err)
{
    int rc;

    sqlite3_busy_timeout(s->db, DEFAULT_BUSY_MS);
    rc = sq_wal(s, err);
    if (rc == 0)
        rc = sq_exec(s, "PRAGMA synchronous=FULL; " FULL_CACHE ";"
                        " PRAGMA temp_store=MEMORY; PRAGMA foreign_keys=OFF", err);
    if (rc < 0)
        return rc;
    rc = sq_migrate(s, err);
    for (int i = 0; rc == 0 && i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK)
            rc = sq_fail(s, err, "prepare");
    return rc;
}

int tt__store_sqlite_open(const char *path, const struct tt_store_ops **ops, void **self,
                          tt_err *err)
{
    struct sq *s;
    char dir[1024];
    const char *slash;
    int rc;

    /* sqlite:////abs/path arrives here as "/abs/path"; sqlite:///rel/path as "rel/path". */
    if (!*path || strlen(path) >= sizeof(s->path))
        return tt_err_set_field(err, TT_ECONFIG, "DATABASE_URL", "bad sqlite path '%s'", path);
    slash = strrchr(path, '/');
    if (slash && slash != path) {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        rc = tt_mkdirs(dir, err);
        if (rc < 0)
            return rc;
    }
    s = tt_calloc(1, sizeof(*s));
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                        SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = tt_err_set(err, TT_EBACKEND, "cannot open sqlite database %s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
        sq_close(s);
        return rc;
    }
    rc = sq_configure(s, err);
    if (rc < 0) {
        sq_close(s);
        return rc;
    }
    *ops = &sqlite_ops;
    *self = s;
    return 0;
}

const char *tt__sqlite_version(void)
{
    return sqlite3_libversion();
}
