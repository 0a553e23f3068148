/*
 * backend.h - what a storage backend implements. Internal to src/store/.
 */
#ifndef TT_STORE_BACKEND_H
#define TT_STORE_BACKEND_H

#include "tt/store.h"

/*
 * A write by a job's owner: a heartbeat (tt_store_job_update, @state TT_JOB_RUNNING) or the
 * job's end (tt_store_job_finish). NULL fields leave the stored value as it is.
 */
struct tt__job_write {
    const char *job_id;
    const char *owner;
    int64_t now;
    enum tt_job_state state;
    const char *progress, *log_tail, *metrics, *result, *error;
};

struct tt_store_ops {
    const char *name;
    void (*close)(void *self);
    int (*schema_version)(void *self, int *out, tt_err *err);
    int (*schema_found)(void *self);
    int (*begin)(void *self, tt_err *err);
    int (*commit)(void *self, tt_err *err);
    void (*rollback)(void *self);
    int (*put_artist)(void *self, const tt_artist_rec *a, tt_err *err);
    int (*put_track)(void *self, const tt_track_rec *t, tt_err *err);
    int (*put_user)(void *self, const tt_user_rec *u, tt_err *err);
    int (*put_interaction)(void *self, const tt_interaction_rec *r, tt_err *err);
    /* *@id: the new row's id, or 0 for a retried event_id (nothing written). */
    int (*feedback_put)(void *self, const tt_interaction_rec *r, int64_t *id, tt_err *err);
    int (*impressions_put)(void *self, const tt_impression_rec *recs, int n, tt_err *err);
    int (*scan_artists)(void *self, tt_artist_fn fn, void *ctx, tt_err *err);
    int (*scan_tracks)(void *self, tt_track_fn fn, void *ctx, tt_err *err);
    int (*scan_users)(void *self, tt_user_fn fn, void *ctx, tt_err *err);
    int (*scan_interactions)(void *self, tt_interaction_fn fn, void *ctx, tt_err *err);
    int (*scan_interactions_after)(void *self, int64_t after_id, tt_interaction_fn fn,
                                   void *ctx, tt_err *err);
    int (*scan_user_interactions)(void *self, const char *user_id, tt_interaction_fn fn,
                                  void *ctx, tt_err *err);
    int (*scan_interactions_range)(void *self, int64_t after_id, int64_t upto_id,
                                   tt_interaction_fn fn, void *ctx, tt_err *err);
    /* Called outside begin/commit only; @lock_ms > 0. */
    int (*log_state)(void *self, int lock_ms, tt_log_state *out, tt_err *err);
    int (*count)(void *self, const char *table, int64_t *out, tt_err *err);
    int (*set_durable)(void *self, bool durable, tt_err *err);
    int (*set_budget)(void *self, int budget_ms, tt_err *err);
    int (*ping)(void *self, tt_err *err);
    /* Training jobs (store.h), validated by store.c; each call is its own transaction. */
    int (*job_put)(void *self, const tt_job_rec *j, bool *inserted, tt_err *err);
    int (*job_get)(void *self, const char *job_id, tt_job_fn fn, void *ctx, bool *found,
                   tt_err *err);
    int (*job_list)(void *self, int limit, tt_job_fn fn, void *ctx, tt_err *err);
    /* 1 and the id in @job_id, or 0 when nothing is queued. */
    int (*job_claim)(void *self, const char *owner, int64_t now, char *job_id, size_t cap,
                     tt_err *err);
    /* *@matched: the job was running under w->owner (else nothing was written). */
    int (*job_update)(void *self, const struct tt__job_write *w, bool *cancel, bool *matched,
                      tt_err *err);
    int (*job_finish)(void *self, const struct tt__job_write *w, bool *matched, tt_err *err);
    /* *@state: the job's state afterwards, -1 when there is no such job. */
    int (*job_cancel)(void *self, const char *job_id, int64_t now, const char *reason,
                      int *state, tt_err *err);
    int (*job_reap)(void *self, int64_t heartbeat_before, int64_t now, const char *reason,
                    int *n, tt_err *err);
    int (*schedule_claim)(void *self, const char *tier, int64_t fire_at, const char *job_id,
                          int64_t now, bool *claimed, tt_err *err);
    int (*schedule_last)(void *self, const char *tier, int64_t *fire_at, tt_err *err);
};

/* Each backend's constructor: opens, migrates, fills *ops and *self. */
int tt__store_sqlite_open(const char *path, const struct tt_store_ops **ops, void **self,
                          tt_err *err);
int tt__store_pg_open(const char *url, const struct tt_store_ops **ops, void **self, tt_err *err);

/*
 * Versioned migrations shared by both backends: migration i (version i + 1) is one SQL
 * script per dialect. Applied in order, each inside a transaction together with the row in
 * schema_version that records it. Databases made before version 2 record their migrations
 * in a table named schema_migrations, which the migrator renames first.
 */
struct tt__migration {
    int version;
    const char *name;
    const char *sqlite_sql;
    const char *pg_sql;
};
extern const struct tt__migration tt__migrations[];
extern const int tt__n_migrations;

/* TT_EUNSUPPORTED, with a message saying to upgrade, when @found is newer than the engine. */
int tt__store_check_version(int found, tt_err *err);

/* Tables tt_store_count accepts. */
bool tt__store_table_ok(const char *table);

/* The linked library versions, for tt_store_versions (one per backend file). */
const char *tt__sqlite_version(void);
int tt__pg_version(void);

#endif
