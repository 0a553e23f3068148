/*
 * Feedback from every replica. Engines sharing one database (and, usually, one Redis) serve
 * as one service: an event one of them stores must change the next answer of all of them,
 * within 200 ms. Two roads carry it, and the overlay takes an event once whichever road
 * delivers it, in whatever order (its row id names it: overlay.c):
 *
 *  - Redis, the fast road: the engine that stored an event publishes it on the channel
 *    CHANNEL (its origin, row id and the fields the overlay reads), and the subscription of
 *    every other engine applies it, a millisecond or two later. Pub/sub delivers at most
 *    once: what is published while a subscriber reconnects is lost to that subscriber.
 *  - The database, the sure road and the record: every FEEDBACK_POLL_MS (100) a thread
 *    reads the interactions stored after the last it read (a range scan of the primary key,
 *    which finds nothing most of the time) and applies them. It runs whether Redis is up or
 *    not, so an event reaches every engine within one poll whatever happens to Redis: a
 *    lost message, an outage, an engine cut off from it. Its own events come back this way
 *    too, and are found already held.
 *
 * Ids and commit order. A row's id is taken when it is inserted, but the row becomes
 * visible when its transaction commits, not necessarily in id order: two engines insert at
 * once, a bulk import commits late, a retried event_id consumes an id and stores nothing.
 * A reader that only kept the highest id it read would skip an id that commits after a
 * higher one. So the poll remembers the ids it has not seen below the highest one read
 * (gaps, as runs) and reads again from below the lowest, until the id shows up or has been
 * missing for GAP_HOLD_MS: then it is taken for one that never comes (a long import is left
 * to the next reload, which reads everything). Rows read again are already held: a lookup.
 *
 * Applying. An event joins the served snapshot's overlay under feedback_lock (shared), as
 * the request that stored it does: a reload reads the database and swaps under it exclusive,
 * so an event read or heard before the swap was either in the reload's read or is applied
 * after the swap. Events at or below the snapshot's watermark are in its models already.
 * Cached answers need no dropping for correctness, since their keys carry the user's
 * overlay stamp; the in-process cache still drops the user's entries, to free them, while a
 * shared Redis cache was cleared by the engine that took the event.
 */
#include "app.h"
#include "tt/core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define CHANNEL "feedback"
#define GAP_HOLD_MS 2000
#define MAX_GAPS 256

/* Ids above the floor that the poll has not read: lo..hi, missing since @since. */
struct gap {
    int64_t lo, hi;
    double since;
    bool given_up; /* missing longer than GAP_HOLD_MS: read as if it were there */
};

struct tt_feed {
    tt_app *app;
    char origin[20]; /* this engine, in the messages it publishes */
    tt_cache_sub *sub;
    tt_store *store; /* the poll's own connection */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
    /* The poll's state, its thread's alone. */
    int64_t floor; /* every id at or below it is read or given up */
    int64_t top;   /* the highest id read */
    struct gap gaps[MAX_GAPS];
    int ngaps;
    int64_t *ids; /* the ids of one poll, ascending */
    size_t nids, cap;
    atomic_bool failing;
    atomic_uint_fast64_t from_redis, from_db;
};

/* ---- applying ------------------------------------------------------------------------ */

/* Adds one stored event to the served snapshot's fresh history; true when it was new. */
static bool apply(tt_feed *f, const tt_interaction_rec *r)
{
    tt_app *app = f->app;
    tt_served *s;
    bool added = false;

    pthread_rwlock_rdlock(&app->feedback_lock);
    s = tt__app_models(app);
    if (s && r->id > tt_catalog_watermark(s->cat))
        added =
            tt__overlay_add_event(s->overlay, tt_catalog_track_find(s->cat, r->track_id), r) == 1;
    pthread_rwlock_unlock(&app->feedback_lock);
    tt__served_release(s);
    if (added && !tt_cache_shared(app->cache)) {
        char group[300];
        snprintf(group, sizeof(group), "u:%s", r->user_id);
        tt_cache_drop_group(app->cache, group, NULL);
    }
    return added;
}

/* ---- Redis ------------------------------------------------------------------------- */

void tt__feed_publish(tt_feed *f, const tt_interaction_rec *r)
{
    json_t *j;
    char *msg;

    if (!f || !f->sub || r->id <= 0)
        return;
    j = json_pack("{s:s, s:I, s:s, s:s, s:s, s:f, s:I}", "origin", f->origin, "id",
                  (json_int_t)r->id, "user_id", r->user_id, "track_id", r->track_id, "action",
                  tt_action_name(r->action), "weight", (double)r->weight, "occurred_at",
                  (json_int_t)r->occurred_at);
    if (r->context)
        json_object_set_new(j, "context", json_string(r->context));
    msg = json_dumps(j, JSON_COMPACT);
    /* A failure only leaves the event to the others' next database read. */
    if (msg)
        tt_cache_publish(f->app->cache, CHANNEL, msg, strlen(msg), NULL);
    free(msg);
    json_decref(j);
}

void tt__feed_stored(tt_feed *f, const tt_interaction_rec *r)
{
    if (!f || r->id <= 0)
        return;
    apply(f, r);
    tt__feed_publish(f, r);
}

static void on_message(void *ctx, const char *msg, size_t len)
{
    tt_feed *f = ctx;
    json_t *j = json_loadb(msg, len, 0, NULL);
    tt_interaction_rec r = {0};
    const char *origin = NULL, *action = NULL;
    json_int_t id = 0, at = 0;
    double weight = 1;
    int a;

    if (!j || json_unpack(j, "{s:s, s:I, s:s, s:s, s:s, s:F, s:I, s?s}", "origin", &origin, "id",
                          &id, "user_id", &r.user_id, "track_id", &r.track_id, "action", &action,
                          "weight", &weight, "occurred_at", &at, "context", &r.context) != 0)
        goto out;
    /* Our own event is in our overlay already. */
    if (strcmp(origin, f->origin) == 0 || (a = tt_action_parse(action, strlen(action))) < 0)
        goto out;
    r.action = (enum tt_action)a;
    r.id = id;
    r.weight = (float)weight;
    r.occurred_at = at;
    if (apply(f, &r))
        atomic_fetch_add(&f->from_redis, 1);
out:
    json_decref(j);
}

/* ---- the database ------------------------------------------------------------------ */

static void gap_push(struct gap *out, int *n, int64_t lo, int64_t hi, double since, bool given_up)
{
    if (*n < MAX_GAPS) /* beyond: read as if there, like a gap given up */
        out[(*n)++] = (struct gap){lo, hi, since, given_up};
}

/*
 * Records lo..hi as missing in @out: the parts the last poll knew missing keep their age,
 * the rest is missing from @now.
 */
static void gap_note(const tt_feed *f, struct gap *out, int *n, int64_t lo, int64_t hi, double now)
{
    for (int i = 0; i < f->ngaps && lo <= hi; i++) {
        const struct gap *o = &f->gaps[i];
        int64_t end = o->hi < hi ? o->hi : hi;
        if (o->hi < lo)
            continue;
        if (o->lo > hi)
            break;
        if (o->lo > lo) {
            gap_push(out, n, lo, o->lo - 1, now, false);
            lo = o->lo;
        }
        gap_push(out, n, lo, end, o->since, o->given_up);
        lo = end + 1;
    }
    if (lo <= hi)
        gap_push(out, n, lo, hi, now, false);
}

/* After a poll that read f->ids (every id above the floor): new gaps, floor and top. */
static void gaps_update(tt_feed *f, double now)
{
    struct gap next[MAX_GAPS];
    int64_t want = f->floor + 1;
    int n = 0, keep = 0;

    for (size_t i = 0; i < f->nids; i++) {
        if (f->ids[i] > want)
            gap_note(f, next, &n, want, f->ids[i] - 1, now);
        if (f->ids[i] >= want)
            want = f->ids[i] + 1;
    }
    if (want - 1 > f->top)
        f->top = want - 1;
    f->floor = f->top;
    for (int i = 0; i < n; i++) {
        if (!next[i].given_up && (now - next[i].since) * 1000 >= GAP_HOLD_MS)
            next[i].given_up = true;
        if (!next[i].given_up && next[i].lo - 1 < f->floor)
            f->floor = next[i].lo - 1;
    }
    for (int i = 0; i < n; i++)
        if (next[i].hi > f->floor)
            f->gaps[keep++] = next[i];
    f->ngaps = keep;
}

/* Moves the floor up to @mark (a new snapshot's watermark): what is below is in its models. */
static void settle_below(tt_feed *f, int64_t mark)
{
    int keep = 0;

    f->floor = mark;
    if (f->top < mark)
        f->top = mark;
    for (int i = 0; i < f->ngaps; i++) {
        if (f->gaps[i].hi <= mark)
            continue;
        if (f->gaps[i].lo <= mark)
            f->gaps[i].lo = mark + 1;
        f->gaps[keep++] = f->gaps[i];
    }
    f->ngaps = keep;
}

static int poll_row(void *ctx, const tt_interaction_rec *r)
{
    tt_feed *f = ctx;

    TT_GROW(f->ids, f->cap, f->nids + 1);
    f->ids[f->nids++] = r->id;
    if (apply(f, r))
        atomic_fetch_add(&f->from_db, 1);
    return 0;
}

static void poll_once(tt_feed *f)
{
    tt_served *s = tt__app_models(f->app);
    tt_err err = {0};
    int64_t mark;

    if (!s)
        return;
    mark = tt_catalog_watermark(s->cat);
    tt__served_release(s);
    if (f->floor < mark)
        settle_below(f, mark);
    f->nids = 0;
    if (tt_store_scan_interactions_after(f->store, f->floor, poll_row, f, &err) < 0) {
        if (!atomic_exchange(&f->failing, true))
            tt_warn("feedback of other replicas from the database is delayed: %s", err.message);
        return;
    }
    if (atomic_exchange(&f->failing, false))
        tt_info("feedback of other replicas is read from the database again");
    gaps_update(f, tt_now());
}

static struct timespec add_ms(struct timespec t, int ms)
{
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000L;
    t.tv_nsec %= 1000000000L;
    return t;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Polls at a fixed rate, not a fixed pause after each poll: the time a poll takes does not
 * add to the wait of an event stored just after it. A poll that overran starts the next at
 * once, without trying to catch up on the ones it missed.
 */
static void *poller(void *arg)
{
    tt_feed *f = arg;
    int ms = f->app->cfg.feedback_poll_ms;
    struct timespec next, now;

    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        pthread_mutex_unlock(&f->lock);
        poll_once(f);
        pthread_mutex_lock(&f->lock);
        next = add_ms(next, ms);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (before(&next, &now))
            next = now;
        while (!f->stop && pthread_cond_timedwait(&f->cond, &f->lock, &next) == 0)
            ;
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

/* ---- the feed ---------------------------------------------------------------------- */

/* Waits on the monotonic clock, so that a step of the wall clock cannot stretch them. */
static void cond_init_monotonic(pthread_cond_t *c)
{
    pthread_condattr_t a;

    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(c, &a);
    pthread_condattr_destroy(&a);
}

static void origin_init(tt_feed *f)
{
    uint64_t x;

    if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
        x = tt_hash64(&f, sizeof(f)) ^ (uint64_t)(tt_now() * 1e9);
    snprintf(f->origin, sizeof(f->origin), "%016llx", (unsigned long long)x);
}

static int start_poller(tt_feed *f, tt_err *err)
{
    int rc;

    if (f->app->cfg.feedback_poll_ms <= 0)
        return 0;
    rc = tt_store_open(f->app->cfg.database_url, &f->store, err);
    if (rc == 0)
        rc = tt_store_set_budget(f->store, f->app->params.db_budget_ms, err);
    if (rc < 0)
        return rc;
    if (pthread_create(&f->thread, NULL, poller, f) != 0)
        return tt_err_set(err, TT_EINTERNAL, "cannot start the feedback poll thread");
    f->started = true;
    return 0;
}

int tt__feed_start(tt_app *app, tt_feed **out, tt_err *err)
{
    tt_feed *f = tt_calloc(1, sizeof(*f));
    int rc;

    f->app = app;
    origin_init(f);
    pthread_mutex_init(&f->lock, NULL);
    cond_init_monotonic(&f->cond);
    atomic_init(&f->failing, false);
    atomic_init(&f->from_redis, 0);
    atomic_init(&f->from_db, 0);
    rc = start_poller(f, err);
    if (rc == 0 && tt_cache_shared(app->cache))
        rc = tt_cache_subscribe(app->cache, CHANNEL, on_message, f, &f->sub, err);
    if (rc < 0) {
        tt__feed_stop(f);
        return rc;
    }
    *out = f;
    return 0;
}

void tt__feed_stop(tt_feed *f)
{
    if (!f)
        return;
    tt_cache_sub_close(f->sub);
    if (f->started) {
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
    }
    tt_store_close(f->store);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
    free(f->ids);
    free(f);
}

json_t *tt__feed_status(tt_feed *f)
{
    const char *redis = !f || !f->sub ? "off" : tt_cache_sub_live(f->sub) ? "live" : "down";
    const char *db = !f || !f->started ? "off" : atomic_load(&f->failing) ? "failing" : "ok";

    return json_pack("{s:s, s:s, s:i, s:I, s:I}", "redis", redis, "database", db, "poll_ms",
                     f && f->started ? f->app->cfg.feedback_poll_ms : 0, "from_redis",
                     (json_int_t)(f ? atomic_load(&f->from_redis) : 0), "from_database",
                     (json_int_t)(f ? atomic_load(&f->from_db) : 0));
}
