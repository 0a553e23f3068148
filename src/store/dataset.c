/*
 * Snapshot loading. Every table is streamed once through the store's scan callbacks into
 * growable flat arrays; nothing per row is allocated except new id strings, which tt_ids
 * keeps in arena blocks. Titles and names go to a string pool for the same reason.
 */
#include "dataset_priv.h"
#include "tt/core.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#define POOL_BLOCK (1 << 20)

struct tt__dataset_build {
    size_t track_cap, tgenre_cap, artist_cap, user_cap, ugenre_cap, ev_cap, emb_cap;
    int32_t users_done; /* users whose user_genre_ptr entry is final */
    const char **artist_genres; /* per artist, pooled '|'-list or NULL */
    char **pool_blocks;
    size_t pool_n, pool_cap, pool_used, pool_size;
};

static const char *tier_names[] = {"free", "starter", "pro", "enterprise"};

int tt_tier_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp(s, tier_names[i]) == 0)
            return i;
    return 0;
}

const char *tt_tier_name(int tier)
{
    return (tier >= 0 && tier < 4) ? tier_names[tier] : "free";
}

static const char *pool_dup(tt_dataset *d, const char *s)
{
    struct tt__dataset_build *b = d->build;
    size_t n = strlen(s) + 1;
    char *p;

    if (b->pool_n == 0 || b->pool_used + n > b->pool_size) {
        size_t sz = n > POOL_BLOCK ? n : POOL_BLOCK;
        TT_GROW(b->pool_blocks, b->pool_cap, b->pool_n + 1);
        b->pool_blocks[b->pool_n++] = tt_malloc(sz);
        b->pool_size = sz;
        b->pool_used = 0;
    }
    p = b->pool_blocks[b->pool_n - 1] + b->pool_used;
    memcpy(p, s, n);
    b->pool_used += n;
    return p;
}

tt_dataset *tt_dataset_new(void)
{
    tt_dataset *d = tt_calloc(1, sizeof(*d));

    d->users = tt_ids_new();
    d->tracks = tt_ids_new();
    d->artists = tt_ids_new();
    d->genres = tt_ids_new();
    d->build = tt_calloc(1, sizeof(*d->build));
    return d;
}

/* Interns each '|'-separated genre of @list, appending dense ids to *@arr (once each). */
static void add_genres(tt_dataset *d, const char *list, int32_t **arr, size_t *cap, int64_t *n)
{
    const int64_t start = *n;
    const char *p = list;

    while (p && *p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        bool dup = false;

        while (len > 0 && *p == ' ')
            p++, len--;
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            int32_t g = tt_ids_intern(d->genres, p, len);
            for (int64_t k = start; k < *n && !dup; k++)
                dup = (*arr)[k] == g;
            if (!dup) {
                TT_GROW(*arr, *cap, (size_t)*n + 1);
                (*arr)[(*n)++] = g;
            }
        }
        p = e ? e + 1 : NULL;
    }
}

static void grow_artists(tt_dataset *d, int32_t need)
{
    struct tt__dataset_build *b = d->build;
    size_t old = b->artist_cap;

    if ((size_t)need <= old)
        return;
    TT_GROW(d->artist_names, b->artist_cap, (size_t)need);
    b->artist_genres = tt_realloc(b->artist_genres, b->artist_cap * sizeof(char *));
    for (size_t i = old; i < b->artist_cap; i++) {
        d->artist_names[i] = NULL;
        b->artist_genres[i] = NULL;
    }
}

void tt_dataset_add_artist(tt_dataset *d, const tt_artist_rec *a)
{
    int32_t id = tt_ids_intern(d->artists, a->artist_id, strlen(a->artist_id));

    grow_artists(d, id + 1);
    d->artist_names[id] = pool_dup(d, a->name ? a->name : a->artist_id);
    d->build->artist_genres[id] = (a->genres && *a->genres) ? pool_dup(d, a->genres) : NULL;
}

static void grow_tracks(tt_dataset *d, int32_t need)
{
    struct tt__dataset_build *b = d->build;
    size_t cap = b->track_cap;

    if ((size_t)need + 1 <= cap)
        return;
    TT_GROW(d->track_artist, cap, (size_t)need + 1);
    d->track_genre_ptr = tt_realloc(d->track_genre_ptr, cap * sizeof(int64_t));
    d->features = tt_realloc(d->features, cap * TT_N_FEATURES * sizeof(float));
    d->release_year = tt_realloc(d->release_year, cap * sizeof(int32_t));
    d->duration_ms = tt_realloc(d->duration_ms, cap * sizeof(int32_t));
    d->titles = tt_realloc(d->titles, cap * sizeof(char *));
    if (b->track_cap == 0)
        d->track_genre_ptr[0] = 0;
    b->track_cap = cap;
}

/* Grows the embedding arrays to @cap tracks, zero-filled: no embedding. */
static void grow_embedding(tt_dataset *d, size_t cap)
{
    size_t dim = (size_t)d->embedding_dim, old = d->build->emb_cap;

    if (cap <= old)
        return;
    d->embedding = tt_realloc(d->embedding, cap * dim * sizeof(float));
    d->has_embedding = tt_realloc(d->has_embedding, cap);
    memset(d->embedding + old * dim, 0, (cap - old) * dim * sizeof(float));
    memset(d->has_embedding + old, 0, cap - old);
    d->build->emb_cap = cap;
}

static void set_embedding(tt_dataset *d, int32_t id, const tt_track_rec *t)
{
    struct tt__dataset_build *b = d->build;
    int32_t n = tt_ids_count(d->tracks);
    size_t dim;

    if (!t->embedding || t->embedding_dim <= 0)
        return;
    if (d->embedding_dim == 0)
        d->embedding_dim = t->embedding_dim;
    if (t->embedding_dim != d->embedding_dim) {
        tt_warn("track %s: embedding of dimension %d ignored (catalog uses %d)", t->track_id,
                t->embedding_dim, d->embedding_dim);
        return;
    }
    dim = (size_t)d->embedding_dim;
    if ((size_t)n > b->emb_cap)
        grow_embedding(d, b->track_cap);
    memcpy(d->embedding + (size_t)id * dim, t->embedding, dim * sizeof(float));
    d->has_embedding[id] = 1;
}

int32_t tt_dataset_add_track(tt_dataset *d, const tt_track_rec *t)
{
    int32_t before = tt_ids_count(d->tracks);
    int32_t id = tt_ids_intern(d->tracks, t->track_id, strlen(t->track_id));
    const char *aid = t->artist_id ? t->artist_id : t->artist;
    int32_t a;
    int64_t ng;

    if (id < before)
        return id;
    grow_tracks(d, id + 1);
    a = tt_ids_intern(d->artists, aid, strlen(aid));
    grow_artists(d, a + 1);
    if (!d->artist_names[a])
        d->artist_names[a] = pool_dup(d, t->artist ? t->artist : aid);
    d->track_artist[id] = a;
    ng = d->track_genre_ptr[id];
    add_genres(d, (t->genres && *t->genres) ? t->genres : d->build->artist_genres[a],
               &d->track_genre, &d->build->tgenre_cap, &ng);
    d->track_genre_ptr[id + 1] = ng;
    memcpy(d->features + (size_t)id * TT_N_FEATURES, t->features, sizeof(t->features));
    d->release_year[id] = t->release_year > 0 ? t->release_year : -1;
    d->duration_ms[id] = t->duration_ms;
    d->titles[id] = pool_dup(d, t->title ? t->title : "");
    set_embedding(d, id, t);
    return id;
}

static void grow_users(tt_dataset *d, int32_t need)
{
    struct tt__dataset_build *b = d->build;
    size_t old = b->user_cap;

    if ((size_t)need + 1 <= old)
        return;
    TT_GROW(d->user_tier, b->user_cap, (size_t)need + 1);
    d->user_genre_ptr = tt_realloc(d->user_genre_ptr, b->user_cap * sizeof(int64_t));
    memset(d->user_tier + old, 0, b->user_cap - old);
    if (old == 0)
        d->user_genre_ptr[0] = 0;
}

/* Users seen only in interactions have no declared genres: extend the offsets to @upto. */
static void fill_users(tt_dataset *d, int32_t upto)
{
    struct tt__dataset_build *b = d->build;

    grow_users(d, upto);
    for (int32_t i = b->users_done; i < upto; i++)
        d->user_genre_ptr[i + 1] = d->user_genre_ptr[i];
    if (upto > b->users_done)
        b->users_done = upto;
}

int32_t tt_dataset_add_user(tt_dataset *d, const tt_user_rec *u)
{
    int32_t before = tt_ids_count(d->users);
    int32_t id = tt_ids_intern(d->users, u->user_id, strlen(u->user_id));
    int64_t n;

    if (id < before)
        return id;
    fill_users(d, id);
    grow_users(d, id + 1);
    n = d->user_genre_ptr[id];
    add_genres(d, u->favorite_genres, &d->user_genre, &d->build->ugenre_cap, &n);
    d->user_genre_ptr[id + 1] = n;
    d->user_tier[id] = (uint8_t)tt_tier_parse(u->plan_tier);
    d->build->users_done = id + 1;
    return id;
}

/* From offsets to full times for every event, for good: one fell outside the offsets. */
static void widen_times(tt_dataset *d)
{
    size_t cap = d->build && d->build->ev_cap ? d->build->ev_cap : (size_t)d->n_events + 1;
    int64_t *w = tt_malloc(cap * sizeof(int64_t));

    for (int64_t i = 0; i < d->n_events; i++)
        w[i] = d->ev_time_base + d->ev_time_rel[i];
    free(d->ev_time_rel);
    d->ev_time_rel = NULL;
    d->ev_time_wide = w;
}

void tt_dataset_set_event_time(tt_dataset *d, int64_t i, int64_t t)
{
    int64_t off = t - d->ev_time_base;

    if (!d->ev_time_wide && (off < INT32_MIN || off > INT32_MAX))
        widen_times(d);
    if (d->ev_time_wide)
        d->ev_time_wide[i] = t;
    else
        d->ev_time_rel[i] = (int32_t)off;
}

/* Grows the event arrays to hold at least @need events. */
static void grow_events(tt_dataset *d, size_t need, bool exact)
{
    struct tt__dataset_build *b = d->build;
    size_t cap = b->ev_cap;

    if (need <= cap)
        return;
    cap = cap ? cap : 16;
    while (cap < need)
        cap += cap / 2 + 16; /* as tt_grow */
    if (exact)
        cap = need;
    d->ev_user = tt_realloc(d->ev_user, cap * sizeof(int32_t));
    d->ev_track = tt_realloc(d->ev_track, cap * sizeof(int32_t));
    d->ev_action = tt_realloc(d->ev_action, cap);
    d->ev_weight = tt_realloc(d->ev_weight, cap * sizeof(float));
    if (d->ev_time_wide)
        d->ev_time_wide = tt_realloc(d->ev_time_wide, cap * sizeof(int64_t));
    else
        d->ev_time_rel = tt_realloc(d->ev_time_rel, cap * sizeof(int32_t));
    b->ev_cap = cap;
}

void tt__dataset_reserve_events(tt_dataset *d, int64_t n)
{
    if (n > 0)
        grow_events(d, (size_t)n, true);
}

void tt__dataset_push_event(tt_dataset *d, int32_t user, int32_t track, uint8_t action,
                            float weight, int64_t t)
{
    int64_t n = d->n_events;

    grow_events(d, (size_t)n + 1, false);
    if (n == 0)
        d->ev_time_base = t;
    d->ev_user[n] = user;
    d->ev_track[n] = track;
    d->ev_action[n] = action;
    d->ev_weight[n] = weight;
    d->n_events = n + 1;
    tt_dataset_set_event_time(d, n, t);
}

int tt_dataset_add_event(tt_dataset *d, const tt_interaction_rec *r)
{
    int32_t t = tt_ids_find(d->tracks, r->track_id, strlen(r->track_id));

    if (r->id > d->max_event_id)
        d->max_event_id = r->id;
    if (t < 0) {
        d->n_unknown_track_events++;
        return -1;
    }
    tt__dataset_push_event(d, tt_ids_intern(d->users, r->user_id, strlen(r->user_id)), t,
                           (uint8_t)r->action, r->weight, r->occurred_at);
    return 0;
}

void tt_dataset_finish(tt_dataset *d)
{
    int32_t nt = tt_ids_count(d->tracks);

    if (!d->build)
        return;
    fill_users(d, tt_ids_count(d->users));
    grow_tracks(d, nt);
    grow_users(d, tt_ids_count(d->users));
    if (d->embedding_dim > 0)
        grow_embedding(d, (size_t)nt + 1);
    grow_artists(d, tt_ids_count(d->artists));
    for (int32_t a = 0; a < tt_ids_count(d->artists); a++)
        if (!d->artist_names[a])
            d->artist_names[a] = tt_ids_name(d->artists, a);
    /* The pool outlives the build state: titles and names point into it. */
    free(d->build->artist_genres);
    d->build->artist_genres = NULL;
}

void tt_dataset_drop_events(tt_dataset *d)
{
    free(d->ev_user);
    free(d->ev_track);
    free(d->ev_action);
    free(d->ev_weight);
    free(d->ev_time_rel);
    free(d->ev_time_wide);
    d->ev_user = d->ev_track = NULL;
    d->ev_action = NULL;
    d->ev_weight = NULL;
    d->ev_time_rel = NULL;
    d->ev_time_wide = NULL;
    d->n_events = 0;
    if (d->build)
        d->build->ev_cap = 0;
}

void tt_dataset_free(tt_dataset *d)
{
    if (!d)
        return;
    tt_ids_free(d->users);
    tt_ids_free(d->tracks);
    tt_ids_free(d->artists);
    tt_ids_free(d->genres);
    free(d->track_artist);
    free(d->track_genre_ptr);
    free(d->track_genre);
    free(d->features);
    free(d->release_year);
    free(d->duration_ms);
    free(d->titles);
    free(d->embedding);
    free(d->has_embedding);
    free(d->artist_names);
    free(d->user_genre_ptr);
    free(d->user_genre);
    free(d->user_tier);
    free(d->ev_user);
    free(d->ev_track);
    free(d->ev_action);
    free(d->ev_weight);
    free(d->ev_time_rel);
    free(d->ev_time_wide);
    if (d->build) {
        for (size_t i = 0; i < d->build->pool_n; i++)
            free(d->build->pool_blocks[i]);
        free(d->build->pool_blocks);
        free(d->build->artist_genres);
        free(d->build);
    }
    free(d);
}

static int load_artist(void *ctx, const tt_artist_rec *a)
{
    tt_dataset_add_artist(ctx, a);
    return 0;
}

static int load_track(void *ctx, const tt_track_rec *t)
{
    tt_dataset_add_track(ctx, t);
    return 0;
}

static int load_user(void *ctx, const tt_user_rec *u)
{
    tt_dataset_add_user(ctx, u);
    return 0;
}

static int load_event(void *ctx, const tt_interaction_rec *r)
{
    tt_dataset_add_event(ctx, r);
    return 0;
}

int tt__dataset_load_catalog(tt_store *s, tt_dataset *d, tt_err *err)
{
    int rc = tt_store_scan_artists(s, load_artist, d, err);

    if (rc == 0)
        rc = tt_store_scan_tracks(s, load_track, d, err);
    if (rc == 0)
        rc = tt_store_scan_users(s, load_user, d, err);
    return rc;
}

int tt_dataset_load(tt_store *s, tt_dataset **out, tt_err *err)
{
    tt_dataset *d = tt_dataset_new();
    int rc;

    rc = tt__dataset_load_catalog(s, d, err);
    if (rc == 0)
        rc = tt_store_scan_interactions(s, load_event, d, err);
    if (rc < 0) {
        tt_dataset_free(d);
        return rc;
    }
    tt_dataset_finish(d);
    *out = d;
    return 0;
}
