/*
 * store.h - the engine's database: one interface, two backends chosen from DATABASE_URL
 * (sqlite:///path, the embedded default, or postgresql://... through libpq). Both hold the
 * same schema (docs/schema.md), applied by versioned migrations when a store is opened.
 *
 * A tt_store is one connection and is not thread-safe: give each thread its own, or
 * serialise calls.
 */
#ifndef TT_STORE_H
#define TT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"

/* What a user did with a track. The order is part of the model file format: append only. */
enum tt_action {
    TT_ACT_PLAY,
    TT_ACT_LIKE,
    TT_ACT_SKIP,
    TT_ACT_DISLIKE,
    TT_ACT_SAVE,
    TT_ACT_SHARE,
    TT_ACT_CLICK,
    TT_ACT_IMPRESSION,
    TT_ACT_COUNT
};

/* "play", "like", ... */
const char *tt_action_name(enum tt_action a);
/* The action named by @s (@len bytes, case-sensitive), or -1. */
int tt_action_parse(const char *s, size_t len);

/* Audio features, in the column order of the tracks table. */
enum tt_feature {
    TT_F_DANCEABILITY,
    TT_F_ENERGY,
    TT_F_VALENCE,
    TT_F_TEMPO,
    TT_F_ACOUSTICNESS,
    TT_F_INSTRUMENTALNESS,
    TT_F_SPEECHINESS,
    TT_F_LIVENESS,
    TT_F_LOUDNESS,
    TT_F_KEY,
    TT_F_MODE,
    TT_N_FEATURES
};

/* Column name of feature @f ("danceability", ...), or NULL. */
const char *tt_feature_name(int f);
/* The feature named @s, or -1. */
int tt_feature_parse(const char *s);

/*
 * Records passed to put_* and to scan callbacks. Strings are borrowed: in a scan callback
 * they are valid only during the call. Genre lists are '|'-separated ("rock|indie").
 */
typedef struct tt_artist_rec {
    const char *artist_id;
    const char *name;
    const char *genres; /* may be NULL = "" */
} tt_artist_rec;

typedef struct tt_track_rec {
    const char *track_id;
    const char *title;
    const char *artist_id; /* NULL on put = same as artist (the name) */
    const char *artist;    /* artist name */
    const char *album;     /* may be NULL */
    const char *genres;    /* may be NULL = "" */
    int32_t duration_ms;   /* < 0: unknown */
    int32_t release_year;  /* <= 0: unknown */
    float features[TT_N_FEATURES]; /* NAN: unknown */
    const float *embedding;        /* NULL: none */
    int32_t embedding_dim;
} tt_track_rec;

typedef struct tt_user_rec {
    const char *user_id;
    const char *plan_tier;       /* NULL = "free" */
    const char *favorite_genres; /* may be NULL = "" */
    int64_t created_at;          /* Unix seconds; <= 0 on put = now */
} tt_user_rec;

typedef struct tt_interaction_rec {
    const char *user_id;
    const char *track_id;
    enum tt_action action;
    float weight;        /* e.g. a play count; 1 when the source has none */
    int64_t ms_played;   /* < 0: unknown */
    int64_t occurred_at; /* Unix seconds */
    const char *context; /* may be NULL */
    const char *recommendation_id; /* may be NULL */
    int64_t id;          /* scans: the row's insertion sequence number; ignored by puts */
    const char *event_id; /* idempotency key (at most TT_EVENT_ID_MAX bytes), may be NULL */
} tt_interaction_rec;

/* Longest event_id accepted, in bytes. */
#define TT_EVENT_ID_MAX 128

/* 0 when every store would take @r, else TT_EINVAL naming the field. */
int tt_store_check_interaction(const tt_interaction_rec *r, tt_err *err);

typedef struct tt_impression_rec {
    const char *recommendation_id;
    const char *user_id;
    const char *model;
    const char *track_ids; /* space-separated, in rank order */
    int64_t created_at;
} tt_impression_rec;

/* Returns the record with every optional field unset (features NAN, sizes -1). */
tt_track_rec tt_track_rec_empty(void);

typedef struct tt_store tt_store;

/*
 * Opens the database at @url and applies pending migrations (idempotent). For SQLite the
 * file and its directory are created when missing. Errors: TT_ECONFIG (bad URL),
 * TT_EBACKEND (cannot connect/open), TT_EIO.
 */
int tt_store_open(const char *url, tt_store **out, tt_err *err);
void tt_store_close(tt_store *s);

/* "sqlite" or "postgresql". */
const char *tt_store_backend(const tt_store *s);

/*
 * The database libraries this build is linked with and their versions, e.g. "sqlite 3.40.1,
 * postgresql (libpq 150010)", into @buf (@cap bytes).
 */
void tt_store_versions(char *buf, size_t cap);
/* Highest applied migration version. */
int tt_store_schema_version(tt_store *s, int *out, tt_err *err);
/* The schema version this engine migrates to (the newest migration it knows). */
int tt_store_schema_latest(void);
/* The schema version the database had when @s opened it, before its pending migrations. */
int tt_store_schema_found(const tt_store *s);
/* What migration @version does, in a few words; NULL for an unknown version. */
const char *tt_store_migration_name(int version);

/*
 * Bounds every wait of this connection to about @budget_ms: SQLite waits at most that long
 * for another connection's lock; on PostgreSQL it becomes the statement and lock timeouts,
 * and feedback writes and pings also stop waiting for the server's answer at that deadline
 * (a stalled server cannot enforce its own timeouts). A write that does not finish in time
 * returns TT_EDBBUSY. @budget_ms <= 0 restores the default of command-line use (SQLite waits
 * up to 10 s for a lock, PostgreSQL without statement timeouts).
 */
int tt_store_set_budget(tt_store *s, int budget_ms, tt_err *err);
/* Asks the database a trivial question within the budget: 0, or TT_EDBBUSY / TT_EBACKEND. */
int tt_store_ping(tt_store *s, tt_err *err);

/*
 * Bulk writes. put_* calls must sit between begin and commit; nothing is visible to
 * other connections, nor durable, before commit, and rollback discards all of them (an
 * import is all or nothing). A put with the key of an existing row updates it: tracks,
 * users and artists by id; interactions by event_id when they have one. An interaction
 * without an event_id is a new row every time, even when identical to another: two plays
 * of one track in the same second are two plays.
 */
int tt_store_begin(tt_store *s, tt_err *err);
int tt_store_commit(tt_store *s, tt_err *err);
void tt_store_rollback(tt_store *s);

int tt_store_put_artist(tt_store *s, const tt_artist_rec *a, tt_err *err);
int tt_store_put_track(tt_store *s, const tt_track_rec *t, tt_err *err);
int tt_store_put_user(tt_store *s, const tt_user_rec *u, tt_err *err);
int tt_store_put_interaction(tt_store *s, const tt_interaction_rec *r, tt_err *err);

/*
 * One feedback event in its own transaction, durable (synced) when this returns. An event
 * whose event_id is already stored is a retry: nothing is written and *@inserted is false
 * (@inserted may be NULL). Must not be called inside begin/commit. Errors: TT_EINVAL (a
 * value the database cannot hold), TT_EDBBUSY (not done within the budget), TT_EBACKEND,
 * TT_EIO.
 */
int tt_store_feedback_put(tt_store *s, const tt_interaction_rec *r, bool *inserted,
                          tt_err *err);
/*
 * tt_store_feedback_put, telling the stored row's id (tt_interaction_rec.id as scans report
 * it) in *@id, or 0 for a retried event_id; @id may be NULL. The id names the event for
 * engines that learn of it by another way than a scan (replicas, docs/scaling.md).
 */
int tt_store_feedback_put_id(tt_store *s, const tt_interaction_rec *r, int64_t *id, tt_err *err);

/*
 * @durable false: commits on this connection may return before they reach the disk (a crash
 * can lose the last second of them, never corrupt anything). For high-rate analytics writes
 * such as impressions; feedback connections stay durable, the default.
 */
int tt_store_set_durable(tt_store *s, bool durable, tt_err *err);

/* Impressions, written in one transaction, durable on return (unless set otherwise). */
int tt_store_impressions_put(tt_store *s, const tt_impression_rec *recs, int n, tt_err *err);

/*
 * Streaming reads: @fn is called once per row, with borrowed strings. A negative return
 * from @fn stops the scan and is returned. Interactions come in id order: transactions in
 * commit order, but within one bulk transaction in an order the backend chooses (SQLite
 * writes them sorted by key, which doubles import speed); artists, tracks and users in a
 * backend-defined stable order.
 */
typedef int (*tt_artist_fn)(void *ctx, const tt_artist_rec *a);
typedef int (*tt_track_fn)(void *ctx, const tt_track_rec *t);
typedef int (*tt_user_fn)(void *ctx, const tt_user_rec *u);
typedef int (*tt_interaction_fn)(void *ctx, const tt_interaction_rec *r);

int tt_store_scan_artists(tt_store *s, tt_artist_fn fn, void *ctx, tt_err *err);
int tt_store_scan_tracks(tt_store *s, tt_track_fn fn, void *ctx, tt_err *err);
int tt_store_scan_users(tt_store *s, tt_user_fn fn, void *ctx, tt_err *err);
int tt_store_scan_interactions(tt_store *s, tt_interaction_fn fn, void *ctx, tt_err *err);
/*
 * Interactions stored after the one numbered @after_id (tt_interaction_rec.id), in insertion
 * order: what arrived since a snapshot that read up to @after_id.
 */
int tt_store_scan_interactions_after(tt_store *s, int64_t after_id, tt_interaction_fn fn,
                                     void *ctx, tt_err *err);
/*
 * Interactions with @after_id < id <= @upto_id (tt_interaction_rec.id), in id order: a
 * snapshot bounded by a tt_log_state's max_id (INT64_MIN, INT64_MAX: every row).
 */
int tt_store_scan_interactions_range(tt_store *s, int64_t after_id, int64_t upto_id,
                                     tt_interaction_fn fn, void *ctx, tt_err *err);
/* Interactions of one user, oldest first. */
int tt_store_scan_user_interactions(tt_store *s, const char *user_id, tt_interaction_fn fn,
                                    void *ctx, tt_err *err);

/* Longest store id: 32 hex digits and a NUL. */
#define TT_STORE_ID_MAX 40

/*
 * What a cache of the interaction log (include/tt/logcache.h) checks a store against.
 */
typedef struct tt_log_state {
    char store_id[TT_STORE_ID_MAX]; /* random hex made once per database (schema version 5) */
    int64_t rewrites; /* moves on with every transaction that updated or deleted interactions */
    int64_t max_id;   /* highest interaction id, 0 for none: no row with a lower id is still
                         to come, so a later read of the ids above it misses nothing */
} tt_log_state;

/*
 * Reads the store's identity, rewrite counter and interaction watermark into *@out. Read it
 * before scanning: a rewrite after it then shows as a new counter next time, never as a row
 * silently missed.
 *
 * PostgreSQL assigns ids from a sequence when a row is staged, so a transaction holding a
 * lower id can commit after one holding a higher id: max_id is read under a brief SHARE lock
 * of interactions, granted only when no writer is in flight (every writer of interactions
 * takes its lock before it takes an id; store_pg_log.c). The lock is tried without queueing
 * (a queued request would hold back the service's writes) for up to @lock_ms (<= 0: 1000
 * ms): TT_EDBBUSY when a writer stayed in flight that long. SQLite has one writer and gives
 * ids inside its transaction, so max_id is simply the highest committed id. Must not be
 * called inside begin/commit. Errors: TT_EDBBUSY, TT_ESTATE, TT_EBACKEND, TT_EIO.
 */
int tt_store_log_state(tt_store *s, int lock_ms, tt_log_state *out, tt_err *err);

/*
 * A pool of connections shared by threads (the HTTP service's writers), each bounded by
 * @budget_ms as tt_store_set_budget says. SQLite has one writer at a time whatever the
 * number of connections, so a SQLite pool holds one connection and callers queue for it here,
 * not in SQLite's busy loop; a PostgreSQL pool holds @size. Thread-safe.
 */
typedef struct tt_store_pool tt_store_pool;

/* Opens the pool's connections now (migrating the database as tt_store_open does). */
int tt_store_pool_open(const char *url, int size, int budget_ms, tt_store_pool **out,
                       tt_err *err);
void tt_store_pool_close(tt_store_pool *p);
/*
 * Takes a free connection, waiting at most the budget: TT_EDBBUSY when every connection
 * stays busy that long. Give it back with tt_store_pool_put.
 */
int tt_store_pool_get(tt_store_pool *p, tt_store **out, tt_err *err);
void tt_store_pool_put(tt_store_pool *p, tt_store *s);
/* "sqlite" or "postgresql". */
const char *tt_store_pool_backend(const tt_store_pool *p);
/* The budget the pool was opened with, in milliseconds. */
int tt_store_pool_budget(const tt_store_pool *p);

/*
 * Training jobs: the pipeline's queue (docs/pipeline.md). A job is one row that moves
 * queued -> running -> succeeded | failed | cancelled and never back. The engine that claims
 * a job runs it in a worker process and keeps its heartbeat, progress and log tail current;
 * a job whose engine died is failed by whoever notices (tt_store_job_finish with the dead
 * owner, or tt_store_job_reap for a stale heartbeat), never left running.
 */
enum tt_job_state {
    TT_JOB_QUEUED,
    TT_JOB_RUNNING,
    TT_JOB_SUCCEEDED,
    TT_JOB_FAILED,
    TT_JOB_CANCELLED,
    TT_JOB_STATE_COUNT
};

/* "queued", "running", ... */
const char *tt_job_state_name(enum tt_job_state s);
/* The state named @s, or -1. */
int tt_job_state_parse(const char *s);

/* Longest job id, in bytes. */
#define TT_JOB_ID_MAX 64

typedef struct tt_job_rec {
    const char *job_id;      /* at most TT_JOB_ID_MAX bytes */
    enum tt_job_state state;
    const char *request;     /* the validated request, JSON text */
    const char *owner;       /* "host:pid" of the engine running it; NULL while queued */
    int64_t created_at;      /* Unix seconds; 0: not yet */
    int64_t started_at;
    int64_t finished_at;
    int64_t heartbeat_at;
    bool cancel_requested;
    const char *progress;    /* JSON text, or NULL */
    const char *log_tail;    /* the last lines of the job's log, or NULL */
    const char *metrics;     /* JSON text, or NULL */
    const char *result;      /* JSON text, or NULL: the version written, promoted or why not */
    const char *error;       /* why it failed or was cancelled, or NULL */
} tt_job_rec;

typedef int (*tt_job_fn)(void *ctx, const tt_job_rec *j);

/* Stores a new job in state queued, durable on return. TT_EEXIST: the id is taken. */
int tt_store_job_put(tt_store *s, const tt_job_rec *j, tt_err *err);
/* Calls @fn once with job @job_id (borrowed strings). TT_ENOTFOUND. */
int tt_store_job_get(tt_store *s, const char *job_id, tt_job_fn fn, void *ctx, tt_err *err);
/* The newest @limit jobs, newest first. */
int tt_store_job_list(tt_store *s, int limit, tt_job_fn fn, void *ctx, tt_err *err);
/*
 * Claims the oldest queued job for @owner: it becomes running with started_at = heartbeat_at
 * = @now. Atomic across connections, processes and replicas sharing the database: two
 * claimers never get the same job. Returns 1 and copies the id into @job_id (@cap bytes),
 * or 0 when no job is queued.
 */
int tt_store_job_claim(tt_store *s, const char *owner, int64_t now, char *job_id, size_t cap,
                       tt_err *err);
/*
 * Heartbeat of a running job of @owner: heartbeat_at = @now, and each non-NULL field of
 * @progress, @log_tail, @metrics replaces the stored one. *@cancel (may be NULL) tells
 * whether a cancel was requested. TT_ESTATE when the job is not running under @owner.
 */
int tt_store_job_update(tt_store *s, const char *job_id, const char *owner, int64_t now,
                        const char *progress, const char *log_tail, const char *metrics,
                        bool *cancel, tt_err *err);
/*
 * Ends a running job of @owner in @state (succeeded, failed or cancelled) at @now; non-NULL
 * @metrics, @result and @error are stored. Durable on return. TT_ESTATE when the job is not
 * running under @owner (already ended, reaped, or claimed by another).
 */
int tt_store_job_finish(tt_store *s, const char *job_id, const char *owner,
                        enum tt_job_state state, int64_t now, const char *metrics,
                        const char *result, const char *error, tt_err *err);
/*
 * Cancels job @job_id: a queued job becomes cancelled at @now; a running one gets
 * cancel_requested (its worker stops at its next step and ends it cancelled); an ended job
 * is left as it is. *@state (may be NULL) is its state afterwards. TT_ENOTFOUND.
 */
int tt_store_job_cancel(tt_store *s, const char *job_id, int64_t now, enum tt_job_state *state,
                        tt_err *err);
/*
 * Fails every running job whose heartbeat is older than @heartbeat_before, with @reason as
 * its error and finished_at = @now: their engine stopped without ending them. *@n (may be
 * NULL) is how many.
 */
int tt_store_job_reap(tt_store *s, int64_t heartbeat_before, int64_t now, const char *reason,
                      int *n, tt_err *err);

/*
 * Scheduled training runs. Each (tier, fire time) is claimed once across every replica
 * sharing the database: the caller that gets *@claimed true starts the run (@job_id records
 * which job it queued); the others leave it.
 */
int tt_store_schedule_claim(tt_store *s, const char *tier, int64_t fire_at, const char *job_id,
                            bool *claimed, tt_err *err);
/* The latest fire time claimed for @tier, or 0 when none was. */
int tt_store_schedule_last(tt_store *s, const char *tier, int64_t *fire_at, tt_err *err);

/*
 * Row count of one of "artists", "tracks", "users", "interactions", "impressions",
 * "training_jobs".
 */
int tt_store_count(tt_store *s, const char *table, int64_t *out, tt_err *err);

#endif
