/*
 * The feedback journal's replayer. Feedback the database could not take within its budget
 * was acknowledged from the journal (h_feedback.c); this thread writes it into the database
 * in order, on a connection of its own, as soon as the database takes writes again: at once
 * when woken, else every REPLAY_MS, backing off to BACKOFF_MAX_MS while the database is away.
 *
 * Each event was already added to the served overlay when it was acknowledged (or by a reload
 * since, from the journal), so replaying stores it, then gives the overlay its row id and
 * tells the other replicas (feed.c). A record is stored and marked done under feedback_lock
 * held shared: a reload, which takes it exclusive, sees every event either in the database or
 * still pending in the journal, never both nor neither.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPLAY_MS 100
#define BACKOFF_MAX_MS 2000

struct tt_replay {
    tt_app *app;
    tt_journal *journal;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, woken, failing;
    tt_store *store; /* opened lazily: the database may be away at start */
    uint64_t replayed, refused;
};

/* Stores the oldest pending record: 1 when one was stored, 0 when none is left, < 0. */
static int replay_one(tt_replay *rp, tt_journal_rec *rec, tt_err *err)
{
    int64_t pos, id = 0;
    int rc = tt_journal_next(rp->journal, rec, &pos, err);

    if (rc <= 0)
        return rc;
    if (!rp->store) {
        if ((rc = tt_store_open(rp->app->cfg.database_url, &rp->store, err)) < 0 ||
            (rc = tt_store_set_budget(rp->store, rp->app->params.db_budget_ms, err)) < 0) {
            tt_store_close(rp->store);
            rp->store = NULL;
            return rc;
        }
    }
    pthread_rwlock_rdlock(&rp->app->feedback_lock);
    rc = tt_store_feedback_put_id(rp->store, &rec->r, &id, err);
    if (rc == TT_EINVAL) {
        /* The database refuses a value the journal took: keep going, say so loudly. */
        tt_error("feedback journal: event %s of user %s refused by the database, dropped: %s",
                 rec->r.event_id, rec->r.user_id, err->message);
        __atomic_add_fetch(&rp->refused, 1, __ATOMIC_RELAXED);
        rc = 0;
    } else if (rc == TT_EBACKEND) {
        /* The connection is gone: a new one next time, once the database is back. */
        tt_store_close(rp->store);
        rp->store = NULL;
    } else if (rc == 0) {
        __atomic_add_fetch(&rp->replayed, 1, __ATOMIC_RELAXED);
    }
    if (rc == 0)
        rc = tt_journal_done(rp->journal, pos, err);
    pthread_rwlock_unlock(&rp->app->feedback_lock);
    /* A retried event_id stored no row: the row that has it names the event when read. */
    if (rc == 0 && id > 0) {
        rec->r.id = id;
        tt__feed_stored(rp->app->feed, &rec->r);
    }
    return rc < 0 ? rc : 1;
}

/* Replays until the journal is empty or the database fails: the next wait in ms. */
static int drain(tt_replay *rp, int backoff)
{
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    tt_err err = {0};
    int rc, n = 0;

    while ((rc = replay_one(rp, rec, &err)) == 1) {
        n++;
        pthread_mutex_lock(&rp->lock);
        bool stop = rp->stop;
        pthread_mutex_unlock(&rp->lock);
        if (stop)
            break;
    }
    free(rec);
    if (rc < 0) {
        if (!rp->failing)
            tt_warn("feedback journal: %lld events wait for the database: %s",
                    (long long)tt_journal_pending(rp->journal), err.message);
        rp->failing = true;
        return backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    if (rp->failing || n > 0)
        tt_info("feedback journal: %d events replayed into the database", n);
    rp->failing = false;
    return REPLAY_MS;
}

static void *replayer(void *arg)
{
    tt_replay *rp = arg;
    int wait_ms = REPLAY_MS;

    pthread_mutex_lock(&rp->lock);
    while (!rp->stop) {
        struct timespec ts;
        if (tt_journal_pending(rp->journal) > 0) {
            pthread_mutex_unlock(&rp->lock);
            wait_ms = drain(rp, wait_ms);
            pthread_mutex_lock(&rp->lock);
        } else {
            wait_ms = REPLAY_MS;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)wait_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (!rp->stop && !rp->woken &&
               pthread_cond_timedwait(&rp->cond, &rp->lock, &ts) == 0)
            ;
        rp->woken = false;
    }
    pthread_mutex_unlock(&rp->lock);
    return NULL;
}

int tt__replay_start(tt_app *app, tt_journal *journal, tt_replay **out, tt_err *err)
{
    tt_replay *rp = tt_calloc(1, sizeof(*rp));

    rp->app = app;
    rp->journal = journal;
    pthread_mutex_init(&rp->lock, NULL);
    pthread_cond_init(&rp->cond, NULL);
    if (pthread_create(&rp->thread, NULL, replayer, rp) != 0) {
        pthread_cond_destroy(&rp->cond);
        pthread_mutex_destroy(&rp->lock);
        free(rp);
        return tt_err_set(err, TT_EINTERNAL, "cannot start the feedback journal's replayer");
    }
    if (tt_journal_pending(journal) > 0)
        tt_info("feedback journal: %lld events from before the restart to replay",
                (long long)tt_journal_pending(journal));
    *out = rp;
    return 0;
}

void tt__replay_wake(tt_replay *rp)
{
    if (!rp)
        return;
    pthread_mutex_lock(&rp->lock);
    rp->woken = true;
    pthread_cond_signal(&rp->cond);
    pthread_mutex_unlock(&rp->lock);
}

void tt__replay_counts(tt_replay *rp, uint64_t *replayed, uint64_t *refused)
{
    *replayed = rp ? __atomic_load_n(&rp->replayed, __ATOMIC_RELAXED) : 0;
    *refused = rp ? __atomic_load_n(&rp->refused, __ATOMIC_RELAXED) : 0;
}

void tt__replay_stop(tt_replay *rp)
{
    if (!rp)
        return;
    pthread_mutex_lock(&rp->lock);
    rp->stop = true;
    pthread_cond_signal(&rp->cond);
    pthread_mutex_unlock(&rp->lock);
    pthread_join(rp->thread, NULL);
    tt_store_close(rp->store);
    pthread_cond_destroy(&rp->cond);
    pthread_mutex_destroy(&rp->lock);
    free(rp);
}
