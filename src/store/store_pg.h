/*
 * store_pg.h - what store_pg.c lends the rest of the PostgreSQL backend (store_pg_jobs.c),
 * which does not see libpq: one statement run within the connection's budget, its rows
 * handed over as text. Internal to src/store/.
 */
#ifndef TT_STORE_PG_H
#define TT_STORE_PG_H

#include "backend.h"

/* Most columns a row of tt__store_pg_run may have. */
#define TT__PG_MAX_COLS 16

/* One result row: @v[i] is column i as text, NULL for SQL NULL, borrowed for the call. */
typedef int (*tt__pg_row_fn)(void *ctx, const char *const *v, int n);

enum tt__pg_run_flags {
    /* Refused inside begin/commit: the write must be its own transaction, durable on return. */
    TT__PG_WRITE = 1 << 0,
    /* Running it twice is harmless (a read, a write that repeats to the same row values):
     * a connection that died under it is re-established and the statement run once more. */
    TT__PG_RETRY = 1 << 1,
};

struct tt__pg_stmt {
    const char *sql;            /* one statement, parameters $1..$n_params */
    const char *what;           /* names the statement in error messages */
    int n_params;
    const char *const *params;  /* as text, NULL for SQL NULL */
    unsigned flags;             /* enum tt__pg_run_flags */
    tt__pg_row_fn row;          /* called for each result row, or NULL */
    void *ctx;
    int64_t changed;            /* out: rows the statement wrote or returned */
};

/*
 * Runs @q on the connection @self. Outside a transaction the statement is its own, committed
 * when this returns; its answer is awaited within the budget (TT_EDBBUSY past it). A negative
 * return from @q->row stops the rows and is returned.
 */
int tt__store_pg_run(void *self, struct tt__pg_stmt *q, tt_err *err);

/*
 * Binary COPY of interactions (pg_copy.c). The select list store_pg.c copies, in the column
 * order tt__pg_copy_interaction decodes.
 */
#define TT__PG_COPY_INTERACTION_COLS                                                               \
    "user_id, track_id, action, weight, ms_played, occurred_at, context, recommendation_id,"      \
    " event_id, id"

/* Checks the header at the start of the first COPY row; *@skip: its length. TT_ECORRUPT. */
int tt__pg_copy_header(const uint8_t *buf, size_t len, size_t *skip);

/*
 * Decodes one COPY row of TT__PG_COPY_INTERACTION_COLS into @r: 0, 1 for the end-of-data
 * trailer, or TT_ECORRUPT. @buf must have a writable byte past @len (libpq's rows do): the
 * text fields are NUL-terminated in place, and @r's strings point into @buf.
 */
int tt__pg_copy_interaction(uint8_t *buf, size_t len, tt_interaction_rec *r);

/* The log_state operation of the ops table (store_pg_log.c). */
int tt__store_pg_log_state(void *self, int lock_ms, tt_log_state *out, tt_err *err);

/* The job and schedule operations of the ops table (store_pg_jobs.c). */
int tt__store_pg_job_put(void *self, const tt_job_rec *j, bool *inserted, tt_err *err);
int tt__store_pg_job_get(void *self, const char *job_id, tt_job_fn fn, void *ctx, bool *found,
                         tt_err *err);
int tt__store_pg_job_list(void *self, int limit, tt_job_fn fn, void *ctx, tt_err *err);
int tt__store_pg_job_claim(void *self, const char *owner, int64_t now, char *job_id, size_t cap,
                           tt_err *err);
int tt__store_pg_job_update(void *self, const struct tt__job_write *w, bool *cancel,
                            bool *matched, tt_err *err);
int tt__store_pg_job_finish(void *self, const struct tt__job_write *w, bool *matched,
                            tt_err *err);
int tt__store_pg_job_cancel(void *self, const char *job_id, int64_t now, const char *reason,
                            int *state, tt_err *err);
int tt__store_pg_job_reap(void *self, int64_t heartbeat_before, int64_t now, const char *reason,
                          int *n, tt_err *err);
int tt__store_pg_schedule_claim(void *self, const char *tier, int64_t fire_at,
                                const char *job_id, int64_t now, bool *claimed, tt_err *err);
int tt__store_pg_schedule_last(void *self, const char *tier, int64_t *fire_at, tt_err *err);

#endif
