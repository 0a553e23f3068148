/*
 * Fresh feedback: the events each user sent since the served snapshot was trained, so the
 * next answer reflects them at once (the models fold the user in from their whole history).
 * A sharded hash map of user -> recent events; bounded per user and in total, because
 * the database, not this map, is the record: after a retrain and reload they are pruned.
 *
 * A second map keeps each radio station's recent skips and dislikes (feedback whose context
 * is "radio:<station>"), which steer its next page. A reload refills both from the database,
 * and the station's cursor carries its skips from the first page that saw them.
 *
 * Events come by several roads: the request that stored one, other replicas' events through
 * Redis and the database (feed.c), the journal's replayer, and the reload's read of the
 * database and the journal. Each is named by its row id in the interactions table, and an
 * event already held is not added again, so whichever roads deliver it, and in whatever
 * order, it counts once. An event acknowledged from the journal has no row yet: it is named
 * by its event_id until the row it gets (from the replayer, or read from the database) names
 * it. Each user's entry also keeps a stamp: the newest row id of its events that change
 * answers, and how many such events have no row yet. Cached answers carry it in their key,
 * so every replica that holds the same events finds the same answers, and none finds one
 * computed before an event it holds.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/model.h"

#include <math.h>
#include <string.h>

#define SHARDS 64
#define MAX_PER_USER 512
#define MAX_TOTAL (4 << 20)
#define MAX_PER_STATION 32
#define STATION_PREFIX "radio:"


struct event {
    int32_t track; /* dense id in the snapshot's catalog; -1 (kept, counted) when unknown */
    float r;
    int64_t t;
    int64_t id;   /* the interaction's row id; 0 while it has none */
    uint64_t key; /* a hash of its event_id; 0 without one */
};

struct entry {
    char *user;
    struct event *ev;
    int n, cap;
    int64_t max_id; /* the newest id ever added, dropped ones included */
    int64_t stamp;  /* the newest id of an event on a known track: see the header */
    int unnamed;    /* events on known tracks held without a row id */
    struct entry *next;
};

struct shard {
    pthread_mutex_t lock;
    struct entry **buckets;
    size_t nbuckets, n;
};

struct tt_overlay {
    struct shard shards[SHARDS];
    struct shard stations[SHARDS];
    int64_t total;
};

static void shards_init(struct shard *shards)
{
    for (int i = 0; i < SHARDS; i++) {
        pthread_mutex_init(&shards[i].lock, NULL);
        shards[i].nbuckets = 256;
        shards[i].buckets = tt_calloc(256, sizeof(struct entry *));
    }
}

tt_overlay *tt__overlay_new(void)
{
    tt_overlay *o = tt_calloc(1, sizeof(*o));

    shards_init(o->shards);
    shards_init(o->stations);
    return o;
}

static void entry_free(struct entry *e)
{
    free(e->ev);
    free(e->user);
    free(e);
}

static void shards_release(struct shard *shards)
{
    for (int i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        for (size_t b = 0; b < s->nbuckets; b++) {
            for (struct entry *e = s->buckets[b], *next; e; e = next) {
                next = e->next;
                entry_free(e);
            }
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->lock);
    }
}

void tt__overlay_free(tt_overlay *o)
{
    if (!o)
        return;
    shards_release(o->shards);
    shards_release(o->stations);
    free(o);
}

static struct entry **find(struct shard *s, const char *user, uint64_t h)
{
    struct entry **p = &s->buckets[(h >> 8) % s->nbuckets];

    while (*p && strcmp((*p)->user, user) != 0)
        p = &(*p)->next;
    return p;
}

static void grow(struct shard *s)
{
    size_t nb = s->nbuckets * 2;
    struct entry **b = tt_calloc(nb, sizeof(*b));

    for (size_t i = 0; i < s->nbuckets; i++) {
        for (struct entry *e = s->buckets[i], *next; e; e = next) {
            uint64_t h = tt_hash64(e->user, strlen(e->user));
            next = e->next;
            e->next = b[(h >> 8) % nb];
            b[(h >> 8) % nb] = e;
        }
    }
    free(s->buckets);
    s->buckets = b;
    s->nbuckets = nb;
}

/*
 * The index in @e of the event @ev is, by row id or event_id; -1 when @e has none. Events
 * mostly come in id order, so one newer than every other needs no search, unless it may be
 * one held without a row yet.
 */
static int entry_find(const struct entry *e, const struct event *ev)
{
    if ((ev->id <= 0 || ev->id > e->max_id) && (ev->key == 0 || e->unnamed == 0))
        return -1;
    for (int i = e->n - 1; i >= 0; i--)
        if ((ev->id > 0 && e->ev[i].id == ev->id) || (ev->key != 0 && e->ev[i].key == ev->key))
            return i;
    return -1;
}

/* Takes in @e the row id @ev names: stamp and newest id. */
static void entry_note(struct entry *e, const struct event *ev)
{
    if (ev->id > e->max_id)
        e->max_id = ev->id;
    if (ev->track >= 0 && ev->id > e->stamp)
        e->stamp = ev->id;
}

/* An event held without a row gets the row @ev names. */
static void entry_name(struct entry *e, struct event *held, const struct event *ev)
{
    if (held->id != 0 || ev->id <= 0)
        return;
    held->id = ev->id;
    if (held->track >= 0)
        e->unnamed--;
    entry_note(e, ev);
}

/*
 * Appends one event to @key's entry of @shards, dropping its oldest beyond @max. Returns
 * false, adding nothing, when the entry already holds the event (the same row id or
 * event_id; one held without a row id then takes @ev's), or when the map is full.
 */
static bool map_add(tt_overlay *o, struct shard *shards, const char *user, int max,
                    const struct event *ev)
{
    uint64_t h = tt_hash64(user, strlen(user));
    struct shard *s = &shards[h % SHARDS];
    struct entry **p, *e;
    int i;

    if (__atomic_load_n(&o->total, __ATOMIC_RELAXED) >= MAX_TOTAL)
        return false; /* the database has it; it shows after the next retrain */
    pthread_mutex_lock(&s->lock);
    p = find(s, user, h);
    e = *p;
    if (!e) {
        e = tt_calloc(1, sizeof(*e));
        e->user = tt_strdup(user);
        *p = e;
        /* Rehashing moves entries between buckets, not in memory: @e stays valid. */
        if (++s->n > s->nbuckets * 2)
            grow(s);
    }
    if ((i = entry_find(e, ev)) >= 0) {
        entry_name(e, &e->ev[i], ev);
        pthread_mutex_unlock(&s->lock);
        return false;
    }
    entry_note(e, ev);
    if (ev->id <= 0 && ev->track >= 0)
        e->unnamed++;
    if (e->n == max) {
        /* Oldest out: a user's latest taste matters most. */
        if (e->ev[0].id <= 0 && e->ev[0].track >= 0)
            e->unnamed--;
        memmove(e->ev, e->ev + 1, (size_t)(e->n - 1) * sizeof(*e->ev));
        e->n--;
        __atomic_fetch_sub(&o->total, 1, __ATOMIC_RELAXED);
    }
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->ev = tt_realloc(e->ev, (size_t)e->cap * sizeof(*e->ev));
    }
    e->ev[e->n++] = *ev;
    __atomic_fetch_add(&o->total, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->lock);
    return true;
}

/* The hash that names an event by its event_id (0 without one; never 0 with one). */
static uint64_t event_key(const tt_interaction_rec *r)
{
    uint64_t h;

    if (!r->event_id || !*r->event_id)
        return 0;
    h = tt_hash64(r->event_id, strlen(r->event_id));
    return h ? h : 1;
}

void tt__overlay_station_add(tt_overlay *o, int32_t track, const tt_interaction_rec *r)
{
    const char *c = r->context;
    size_t pre = strlen(STATION_PREFIX);

    if (track < 0 || !c || strncmp(c, STATION_PREFIX, pre) != 0 || !c[pre] ||
        (r->action != TT_ACT_SKIP && r->action != TT_ACT_DISLIKE))
        return;
    map_add(o, o->stations, c + pre, MAX_PER_STATION,
            &(struct event){track, 0, r->occurred_at, r->id, event_key(r)});
}

void tt__overlay_station_get(tt_overlay *o, const char *station, tt_radio_event **ev,
                             int32_t *n)
{
    uint64_t h = tt_hash64(station, strlen(station));
    struct shard *s = &o->stations[h % SHARDS];
    struct entry *e;

    *ev = NULL, *n = 0;
    pthread_mutex_lock(&s->lock);
    e = *find(s, station, h);
    if (e && e->n > 0) {
        *ev = tt_malloc((size_t)e->n * sizeof(**ev));
        for (int i = 0; i < e->n; i++)
            (*ev)[(*n)++] = (tt_radio_event){e->ev[i].track, e->ev[i].t};
    }
    pthread_mutex_unlock(&s->lock);
}

void tt__overlay_get(tt_overlay *o, const char *user, int32_t **tracks, float **r, int32_t *n)
{
    uint64_t h = tt_hash64(user, strlen(user));
    struct shard *s = &o->shards[h % SHARDS];
    struct entry *e;

    *tracks = NULL, *r = NULL, *n = 0;
    pthread_mutex_lock(&s->lock);
    e = *find(s, user, h);
    if (e && e->n > 0) {
        *tracks = tt_malloc((size_t)e->n * sizeof(int32_t));
        *r = tt_malloc((size_t)e->n * sizeof(float));
        for (int i = 0; i < e->n; i++) {
            if (e->ev[i].track < 0)
                continue;
            (*tracks)[*n] = e->ev[i].track;
            (*r)[(*n)++] = e->ev[i].r;
        }
    }
    pthread_mutex_unlock(&s->lock);
}

void tt__overlay_stamp(tt_overlay *o, const char *user, char *buf, size_t n)
{
    uint64_t h = tt_hash64(user, strlen(user));
    struct shard *s = &o->shards[h % SHARDS];
    struct entry *e;
    int64_t stamp = 0;
    int unnamed = 0;

    pthread_mutex_lock(&s->lock);
    e = *find(s, user, h);
    if (e) {
        stamp = e->stamp;
        unnamed = e->unnamed;
    }
    pthread_mutex_unlock(&s->lock);
    snprintf(buf, n, "%lld.%d", (long long)stamp, unnamed);
}

int tt__overlay_add_event(tt_overlay *o, int32_t track, const tt_interaction_rec *r)
{
    tt_weighting w = tt_weighting_default();
    struct event ev = {track, 0, r->occurred_at, r->id, event_key(r)};

    if (r->action == TT_ACT_IMPRESSION || (unsigned)r->action >= TT_ACT_COUNT)
        return -1;
    tt__overlay_station_add(o, track, r);
    ev.r = r->action == TT_ACT_DISLIKE ? NAN : w.action[r->action] * r->weight;
    return map_add(o, o->shards, r->user_id, MAX_PER_USER, &ev) ? 1 : 0;
}

struct fill_ctx {
    tt_overlay *o;
    const tt_catalog *cat;
};

static int fill_one(void *ctx, const tt_interaction_rec *r)
{
    struct fill_ctx *f = ctx;

    tt__overlay_add_event(f->o, tt_catalog_track_find(f->cat, r->track_id), r);
    return 0;
}

int tt__overlay_fill(tt_overlay *o, const tt_catalog *cat, tt_store *s, int64_t after_id,
                     tt_err *err)
{
    struct fill_ctx f = {o, cat};

    return tt_store_scan_interactions_after(s, after_id, fill_one, &f, err);
}
