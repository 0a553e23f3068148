/*
 * PostgreSQL backend, training jobs and scheduled runs: the queue that every replica sharing
 * the database claims from. Each operation is one statement, so it is atomic on its own and,
 * outside a transaction, committed (synchronously: see pg_session) when it returns.
 *
 * A claim locks the oldest queued row with FOR UPDATE SKIP LOCKED and moves it to running in
 * the same statement: a concurrent claimer skips the row being taken instead of waiting for
 * it, and one that read the row as queued before the other committed re-checks it under the
 * lock (READ COMMITTED) and moves on to the next. Writes that are harmless to repeat (a
 * heartbeat, a cancel) and reads are retried once over a connection that died under them;
 * the others (put, claim, finish, reap, a schedule claim) are not, since the first attempt
 * may have committed and the second would answer differently.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_COLS                                                                               \
    "job_id, state, request, owner, created_at, started_at, finished_at, heartbeat_at,"        \
    " cancel_requested, progress, log_tail, metrics, result, error"

/* Job ids sort bytewise, as SQLite's do, whatever the database's collation. */
#define JOB_ORDER "created_at, job_id COLLATE \"C\""

struct i64_text {
    char s[24];
};

static struct i64_text i64_text(int64_t v)
{
    struct i64_text t;

    snprintf(t.s, sizeof(t.s), "%lld", (long long)v);
    return t;
}

static int64_t text_i64(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

/* A caller's job callback and whether it was called. */
struct job_call {
    tt_job_fn fn;
    void *ctx;
    int n;
};

static int row_job(void *ctx, const char *const *v, int n)
{
    struct job_call *c = ctx;
    int state = tt_job_state_parse(v[1]);
    tt_job_rec j;

    (void)n;
    c->n++;
    j.job_id = v[0];
    j.state = state < 0 ? TT_JOB_FAILED : (enum tt_job_state)state;
    j.request = v[2];
    j.owner = v[3];
    j.created_at = text_i64(v[4]);
    j.started_at = text_i64(v[5]);
    j.finished_at = text_i64(v[6]);
    j.heartbeat_at = text_i64(v[7]);
    j.cancel_requested = v[8] && v[8][0] == 't';
    j.progress = v[9];
    j.log_tail = v[10];
    j.metrics = v[11];
    j.result = v[12];
    j.error = v[13];
    return c->fn(c->ctx, &j);
}

/* Copies column 0 of the first row into the @cap bytes at @ctx->out. */
struct first_text {
    char *out;
    size_t cap;
    bool seen;
};

static int row_first(void *ctx, const char *const *v, int n)
{
    struct first_text *f = ctx;

    if (n > 0 && !f->seen && f->cap > 0)
        snprintf(f->out, f->cap, "%s", v[0] ? v[0] : "");
    f->seen = true;
    return 0;
}

int tt__store_pg_job_put(void *self, const tt_job_rec *j, bool *inserted, tt_err *err)
{
    struct i64_text at = i64_text(j->created_at);
    const char *vals[4] = {j->job_id, tt_job_state_name(j->state), j->request, at.s};
    struct tt__pg_stmt q = {"INSERT INTO training_jobs (job_id, state, request, created_at)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (job_id) DO NOTHING",
                            "job put", 4, vals, TT__PG_WRITE, NULL, NULL, 0};
    int rc = tt__store_pg_run(self, &q, err);

    *inserted = rc == 0 && q.changed > 0;
    return rc;
}

int tt__store_pg_job_get(void *self, const char *job_id, tt_job_fn fn, void *ctx, bool *found,
                         tt_err *err)
{
    struct job_call c = {fn, ctx, 0};
    struct tt__pg_stmt q = {"SELECT " JOB_COLS " FROM training_jobs WHERE job_id = $1",
                            "job get", 1, &job_id, TT__PG_RETRY, row_job, &c, 0};
    int rc = tt__store_pg_run(self, &q, err);

    *found = c.n > 0;
    return rc;
}

int tt__store_pg_job_list(void *self, int limit, tt_job_fn fn, void *ctx, tt_err *err)
{
    struct i64_text lim = i64_text(limit);
    const char *vals[1] = {lim.s};
    struct job_call c = {fn, ctx, 0};
    struct tt__pg_stmt q = {"SELECT " JOB_COLS " FROM training_jobs"
                            " ORDER BY created_at DESC, job_id COLLATE \"C\" DESC"
                            " LIMIT $1::integer",
                            "job list", 1, vals, TT__PG_RETRY, row_job, &c, 0};

    return tt__store_pg_run(self, &q, err);
}

int tt__store_pg_job_claim(void *self, const char *owner, int64_t now, char *job_id, size_t cap,
                           tt_err *err)
{
    struct i64_text at = i64_text(now);
    const char *vals[2] = {owner, at.s};
    struct first_text id = {job_id, cap, false};
    struct tt__pg_stmt q = {"UPDATE training_jobs SET state = 'running', owner = $1,"
                            " started_at = $2::bigint, heartbeat_at = $2::bigint"
                            " WHERE job_id = (SELECT job_id FROM training_jobs"
                            " WHERE state = 'queued' ORDER BY " JOB_ORDER " LIMIT 1"
                            " FOR UPDATE SKIP LOCKED) RETURNING job_id",
                            "job claim", 2, vals, TT__PG_WRITE, row_first, &id, 0};
    int rc = tt__store_pg_run(self, &q, err);

    if (rc < 0) {
        job_id[0] = '\0';
        return rc;
    }
    return id.seen ? 1 : 0;
}

int tt__store_pg_job_update(void *self, const struct tt__job_write *w, bool *cancel,
                            bool *matched, tt_err *err)
{
    struct i64_text at = i64_text(w->now);
    const char *vals[6] = {at.s, w->progress, w->log_tail, w->metrics, w->job_id, w->owner};
    char flag[8] = "";
    struct first_text got = {flag, sizeof(flag), false};
    struct tt__pg_stmt q = {"UPDATE training_jobs SET heartbeat_at = $1::bigint,"
                            " progress = coalesce($2, progress),"
                            " log_tail = coalesce($3, log_tail),"
                            " metrics = coalesce($4, metrics)"
                            " WHERE job_id = $5 AND state = 'running' AND owner = $6"
                            " RETURNING cancel_requested",
                            "job update", 6, vals, TT__PG_WRITE | TT__PG_RETRY, row_first, &got,
                            0};
    int rc = tt__store_pg_run(self, &q, err);

    *matched = rc == 0 && got.seen;
    *cancel = *matched && flag[0] == 't';
    return rc;
}

int tt__store_pg_job_finish(void *self, const struct tt__job_write *w, bool *matched,
                            tt_err *err)
{
    struct i64_text at = i64_text(w->now);
    const char *vals[7] = {tt_job_state_name(w->state), at.s, w->metrics, w->result, w->error,
                           w->job_id, w->owner};
    struct tt__pg_stmt q = {"UPDATE training_jobs SET state = $1, finished_at = $2::bigint,"
                            " metrics = coalesce($3, metrics), result = coalesce($4, result),"
                            " error = coalesce($5, error)"
                            " WHERE job_id = $6 AND state = 'running' AND owner = $7",
                            "job finish", 7, vals, TT__PG_WRITE, NULL, NULL, 0};
    int rc = tt__store_pg_run(self, &q, err);

    *matched = rc == 0 && q.changed > 0;
    return rc;
}

/* Every CASE reads the row as it was: the one statement decides by the state before it. */
int tt__store_pg_job_cancel(void *self, const char *job_id, int64_t now, const char *reason,
                            int *state, tt_err *err)
{
    struct i64_text at = i64_text(now);
    const char *vals[3] = {at.s, reason, job_id};
    char after[16] = "";
    struct first_text got = {after, sizeof(after), false};
    struct tt__pg_stmt q = {"UPDATE training_jobs SET"
                            " state = CASE state WHEN 'queued' THEN 'cancelled' ELSE state END,"
                            " finished_at = CASE state WHEN 'queued' THEN $1::bigint"
                            " ELSE finished_at END,"
                            " error = CASE state WHEN 'queued' THEN $2::text ELSE error END,"
                            " cancel_requested = CASE state WHEN 'running' THEN true"
                            " ELSE cancel_requested END"
                            " WHERE job_id = $3 RETURNING state",
                            "job cancel", 3, vals, TT__PG_WRITE | TT__PG_RETRY, row_first, &got,
                            0};
    int rc = tt__store_pg_run(self, &q, err);

    *state = rc == 0 && got.seen ? tt_job_state_parse(after) : -1;
    return rc;
}

int tt__store_pg_job_reap(void *self, int64_t heartbeat_before, int64_t now, const char *reason,
                          int *n, tt_err *err)
{
    struct i64_text at = i64_text(now), before = i64_text(heartbeat_before);
    const char *vals[3] = {at.s, reason, before.s};
    struct tt__pg_stmt q = {"UPDATE training_jobs SET state = 'failed', finished_at = $1::bigint,"
                            " error = $2 WHERE state = 'running' AND heartbeat_at < $3::bigint",
                            "job reap", 3, vals, TT__PG_WRITE, NULL, NULL, 0};
    int rc = tt__store_pg_run(self, &q, err);

    *n = rc == 0 ? (int)q.changed : 0;
    return rc;
}

int tt__store_pg_schedule_claim(void *self, const char *tier, int64_t fire_at,
                                const char *job_id, int64_t now, bool *claimed, tt_err *err)
{
    struct i64_text at = i64_text(fire_at), claimed_at = i64_text(now);
    const char *vals[4] = {tier, at.s, job_id, claimed_at.s};
    struct tt__pg_stmt q = {"INSERT INTO schedule_runs (tier, fire_at, job_id, claimed_at)"
                            " VALUES ($1, $2, $3, $4) ON CONFLICT (tier, fire_at) DO NOTHING",
                            "schedule claim", 4, vals, TT__PG_WRITE, NULL, NULL, 0};
    int rc = tt__store_pg_run(self, &q, err);

    *claimed = rc == 0 && q.changed > 0;
    return rc;
}

int tt__store_pg_schedule_last(void *self, const char *tier, int64_t *fire_at, tt_err *err)
{
    char last[24] = "0";
    struct first_text got = {last, sizeof(last), false};
    struct tt__pg_stmt q = {"SELECT coalesce(max(fire_at), 0) FROM schedule_runs WHERE tier = $1",
                            "schedule last", 1, &tier, TT__PG_RETRY, row_first, &got, 0};
    int rc = tt__store_pg_run(self, &q, err);

    *fire_at = rc == 0 ? text_i64(last) : 0;
    return rc;
}
