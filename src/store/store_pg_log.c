/*
 * PostgreSQL backend, the interaction log's state (tt_store_log_state): the store's identity,
 * its rewrite counter and a watermark below which no interaction is still to come.
 *
 * Why a lock: ids come from the interactions_id_seq sequence, taken when a row is staged or
 * inserted, and a transaction is free to commit after another that took a higher id. Had a
 * reader taken max(id) while an import holding lower ids was still open, a later read of the
 * ids above that max would miss the import's rows for good. Every writer of interactions
 * holds ROW EXCLUSIVE on the table from before it takes its first id until it ends (an
 * INSERT locks its target when the statement is planned, before its defaults run; an import
 * locks the partitioned table, ONLY it, before staging rows: store_pg.c copy_start). SHARE
 * on the partitioned table conflicts with ROW EXCLUSIVE on it, so once it is granted no
 * writer is in flight: every id up to max(id) is committed or gone, and any id taken
 * afterwards is higher. The lock is released as soon as max(id) is read.
 *
 * Why NOWAIT, tried again every few milliseconds, rather than waiting under lock_timeout: a
 * waiting SHARE request queues every later writer behind it (the service's /feedback among
 * them) for as long as it waits, so a long import would stall feedback for the whole wait.
 * NOWAIT never queues; the lock is held only for one max(id), which the primary keys of the
 * month partitions answer from the ends of their indexes.
 */
#include "store_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tt/core.h"

/* Pause between two attempts at the lock. */
#define LOCK_RETRY_MS 10

static int row_state(void *ctx, const char *const *v, int n)
{
    tt_log_state *st = ctx;

    if (n < 3)
        return 0;
    snprintf(st->store_id, sizeof(st->store_id), "%s", v[0] ? v[0] : "");
    st->rewrites = v[1] ? strtoll(v[1], NULL, 10) : 0;
    st->max_id = v[2] ? strtoll(v[2], NULL, 10) : 0;
    return 0;
}

static int run_sql(void *self, const char *sql, unsigned flags, tt__pg_row_fn row, void *ctx,
                   tt_err *err)
{
    struct tt__pg_stmt q = {sql, "log state", 0, NULL, flags, row, ctx, 0};

    return tt__store_pg_run(self, &q, err);
}

/* One attempt: the lock without waiting, the state read under it, the lock released. */
static int state_once(void *self, tt_log_state *out, tt_err *err)
{
    int rc = run_sql(self, "BEGIN", TT__PG_WRITE, NULL, NULL, err);

    if (rc < 0)
        return rc;
    rc = run_sql(self, "LOCK TABLE interactions IN SHARE MODE NOWAIT", 0, NULL, NULL, err);
    if (rc == 0)
        rc = run_sql(self,
                     "SELECT store_id, interaction_rewrites,"
                     " (SELECT coalesce(max(id), 0) FROM interactions) FROM store_meta",
                     0, row_state, out, err);
    if (rc == 0)
        return run_sql(self, "COMMIT", 0, NULL, NULL, err);
    run_sql(self, "ROLLBACK", 0, NULL, NULL, NULL);
    return rc;
}

int tt__store_pg_log_state(void *self, int lock_ms, tt_log_state *out, tt_err *err)
{
    double give_up = tt_now() + lock_ms / 1000.0;
    struct timespec pause = {0, LOCK_RETRY_MS * 1000000L};
    tt_err busy = {0};
    int rc;

    while ((rc = state_once(self, out, &busy)) == TT_EDBBUSY && tt_now() < give_up) {
        tt_err_clear(&busy);
        nanosleep(&pause, NULL);
    }
    if (rc == TT_EDBBUSY)
        return tt_err_set(err, TT_EDBBUSY,
                          "postgresql: interactions had a writer in flight for %d ms", lock_ms);
    if (rc < 0 && err && !err->code)
        *err = busy;
    return rc;
}
