/*
 * Radio skips from every replica. A skip sent for a station to one engine is stored in the
 * shared database with context "radio:<station>"; the station's next page may be asked of
 * another engine. This thread reads, once a second on its own connection, the interactions
 * stored since it last looked and hands the stations' skips and dislikes to the served
 * overlay, so a skip reaches every replica within about a second (and the engine that took
 * it at once). Other events are left to the reload, which reads them all; a skip taken twice
 * (here and by its own request) is harmless: a station takes a track in once.
 *
 * Reads are bounded by the database budget; a database that does not answer only delays the
 * steering, never a request, and is reported once per outage.
 */
#include "app.h"
#include "tt/core.h"

#include <string.h>
#include <time.h>

#define POLL_SECONDS 1

struct tt_stations {
    tt_app *app;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop, failing;
    int64_t last_id;
    tt_store *store;
};

struct follow_ctx {
    tt_stations *st;
    const tt_served *s;
};

static int follow_one(void *ctx, const tt_interaction_rec *r)
{
    struct follow_ctx *f = ctx;

    if (r->id > f->st->last_id)
        f->st->last_id = r->id;
    if (r->context && strncmp(r->context, "radio:", 6) == 0)
        tt__overlay_station_add(f->s->overlay, tt_catalog_track_find(f->s->cat, r->track_id), r);
    return 0;
}

static void poll_once(tt_stations *st)
{
    tt_served *s = tt__app_models(st->app);
    struct follow_ctx f = {st, s};
    tt_err err = {0};
    int64_t mark;

    if (!s)
        return;
    /* The snapshot's own reload read everything up to its watermark. */
    mark = tt_catalog_watermark(s->cat);
    if (st->last_id < mark)
        st->last_id = mark;
    if (tt_store_scan_interactions_after(st->store, st->last_id, follow_one, &f, &err) < 0) {
        if (!st->failing)
            tt_warn("radio skips from other replicas are delayed: %s", err.message);
        st->failing = true;
    } else {
        st->failing = false;
    }
    tt__served_release(s);
}

static void *follower(void *arg)
{
    tt_stations *st = arg;

    pthread_mutex_lock(&st->lock);
    while (!st->stop) {
        struct timespec ts;
        pthread_mutex_unlock(&st->lock);
        poll_once(st);
        pthread_mutex_lock(&st->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += POLL_SECONDS;
        while (!st->stop && pthread_cond_timedwait(&st->cond, &st->lock, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&st->lock);
    return NULL;
}

int tt__stations_start(tt_app *app, tt_stations **out, tt_err *err)
{
    tt_stations *st = tt_calloc(1, sizeof(*st));
    int rc = tt_store_open(app->cfg.database_url, &st->store, err);

    if (rc == 0)
        rc = tt_store_set_budget(st->store, app->params.db_budget_ms, err);
    if (rc < 0) {
        tt_store_close(st->store);
        free(st);
        return rc;
    }
    st->app = app;
    pthread_mutex_init(&st->lock, NULL);
    pthread_cond_init(&st->cond, NULL);
    if (pthread_create(&st->thread, NULL, follower, st) != 0) {
        tt_store_close(st->store);
        free(st);
        return tt_err_set(err, TT_EINTERNAL, "cannot start the radio skip follower");
    }
    *out = st;
    return 0;
}

void tt__stations_stop(tt_stations *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->stop = true;
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
    pthread_join(st->thread, NULL);
    tt_store_close(st->store);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
}
