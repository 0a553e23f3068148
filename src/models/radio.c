/*
 * Radio stations: the seed's pool of nearest tracks, built once per seed and cached, and
 * the walk over it that radio.h describes. A page costs a pool lookup and a few dozen
 * candidate checks; only a station's first page (or one whose pool fell out of the cache)
 * scores the catalog.
 */
#include "tt/radio.h"
#include "rank_priv.h"
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/kernels.h"
#include "tt/popularity.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#define CACHE_SLOTS 1024 /* pools kept (24 KB each at the full pool size) */
#define CACHE_WAYS 8     /* slots a pool may take: its key's and the next seven */
#define LEAN 0.25f       /* weight of the listener's taste in the pool ranking */
#define WIDEN_RINGS 8    /* rings the pool widens by when a station runs dry */
#define FRESH 0x80       /* ring_plays flag: the ring's first pass is under way */
#define NEVER 0xff       /* ring_plays: the ring was never walked */

/* One seed's pool: tracks best first, with their similarity to the seed. */
struct pool {
    uint64_t key;
    int refs;
    int32_t n;
    bool whole;    /* the pool holds every reachable track */
    bool fallback; /* genre popularity: the seed had no neighbours */
    int32_t *track;
    float *sim;
    float *cf, *ct; /* the seed's centre in each space (unit length), NULL when unused */
    uint64_t used;  /* cache clock of the last use */
};

struct tt_radio {
    tt_radio_sources src;
    const float *Y, *inv_norm; /* ALS track factors */
    int k;
    const float *V; /* content vectors (unit rows) */
    int d;
    int32_t *artist; /* per track: its artist as listeners see it (one id per name) */
    pthread_mutex_t lock;
    struct pool *slot[CACHE_SLOTS];
    uint64_t clock;
};

static void pool_release(struct pool *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free(p->track);
    free(p->sim);
    free(p->cf);
    free(p->ct);
    free(p);
}

/*
 * Each track's artist, numbered by name: catalogs hold distinct artists who share a name,
 * and a listener hearing two "Yuki" tracks in a row hears one artist twice. The id is the
 * first track (in catalog order) whose artist has that name.
 */
static int32_t *artist_keys(const tt_catalog *cat)
{
    int32_t nt = tt_catalog_n_tracks(cat);
    size_t cap = 16;
    int32_t *key = tt_malloc((size_t)(nt > 0 ? nt : 1) * sizeof(int32_t)), *slot;

    while (cap < (size_t)nt * 2)
        cap *= 2;
    slot = tt_malloc(cap * sizeof(int32_t));
    memset(slot, 0xff, cap * sizeof(int32_t));
    for (int32_t t = 0; t < nt; t++) {
        const char *name = tt_catalog_track_artist(cat, t);
        size_t i = tt_hash64(name, strlen(name)) & (cap - 1);
        while (slot[i] >= 0 && strcmp(tt_catalog_track_artist(cat, slot[i]), name) != 0)
            i = (i + 1) & (cap - 1);
        if (slot[i] < 0)
            slot[i] = t;
        key[t] = slot[i];
    }
    free(slot);
    return key;
}

int tt_radio_new(const tt_radio_sources *src, tt_radio **out, tt_err *err)
{
    tt_radio *r;

    if (!src || !src->cat || !out)
        return tt_err_set(err, TT_EINVAL, "a catalog is required");
    r = tt_calloc(1, sizeof(*r));
    r->src = *src;
    if (src->als)
        r->Y = tt_als_track_factors(src->als, &r->k, &r->inv_norm);
    if (src->content)
        r->V = tt_content_model_vectors(src->content, &r->d);
    r->artist = artist_keys(src->cat);
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return 0;
}

void tt_radio_free(tt_radio *r)
{
    if (!r)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        pool_release(r->slot[i]);
    pthread_mutex_destroy(&r->lock);
    free(r->artist);
    free(r);
}

/* ---- seeds ---- */

static bool cf_usable(const tt_radio *r, int32_t t)
{
    if (!r->Y || r->inv_norm[t] == 0.0f)
        return false;
    /* A track nobody played keeps a small leftover vector: popularity tells. */
    return !r->src.popularity || tt_popularity_score(r->src.popularity, t) > 0.0f;
}

static bool ct_usable(const tt_radio *r, uint32_t flags, int32_t t)
{
    return r->V && (flags & TT_RADIO_CONTENT) && tt_content_has_vector(r->src.content, t);
}

static void seed_add(int32_t *seeds, int *n, int32_t t)
{
    for (int i = 0; i < *n; i++)
        if (seeds[i] == t)
            return;
    if (*n < TT_RADIO_SEEDS_MAX)
        seeds[(*n)++] = t;
}

static float pop_of(const tt_radio *r, int32_t t)
{
    return r->src.popularity ? tt_popularity_score(r->src.popularity, t) : 0.0f;
}

/* The best tracks by popularity (catalog order among equals) of the artist of that id or name. */
static int artist_seeds(const tt_radio *r, const char *name, int32_t *seeds, int *n)
{
    int32_t nt = tt_catalog_n_tracks(r->src.cat), found = 0;
    tt_scored buf[TT_RADIO_SEEDS_MAX];
    tt_topk top;

    tt_topk_init(&top, buf, TT_RADIO_SEEDS_MAX);
    for (int32_t t = 0; t < nt; t++) {
        if (strcmp(tt_catalog_track_artist(r->src.cat, t), name) != 0 &&
            strcmp(tt_catalog_track_artist_platform_id(r->src.cat, t), name) != 0)
            continue;
        found++;
        tt_topk_push(&top, t, pop_of(r, t) - (float)t * 1e-9f);
    }
    for (int i = 0, m = tt_topk_finish(&top); i < m; i++)
        seed_add(seeds, n, buf[i].track);
    return found;
}

/* The genre's most popular tracks (its first tracks in the catalog without popularity). */
static void genre_seeds(const tt_radio *r, int32_t g, int32_t *seeds, int *n)
{
    int32_t ng = 0, nt = tt_catalog_n_tracks(r->src.cat);
    const int32_t *rank =
        r->src.popularity ? tt_popularity_genre_ranking(r->src.popularity, g, &ng) : NULL;
    int want = *n + 5 < TT_RADIO_SEEDS_MAX ? *n + 5 : TT_RADIO_SEEDS_MAX;

    for (int32_t i = 0; rank && i < ng && *n < want; i++)
        seed_add(seeds, n, rank[i]);
    for (int32_t t = 0; !rank && t < nt && *n < want; t++) {
        const int32_t *gs;
        int32_t m;
        tt_catalog_track_genres(r->src.cat, t, &gs, &m);
        for (int32_t j = 0; j < m; j++)
            if (gs[j] == g)
                seed_add(seeds, n, t);
    }
}

/* The seed tracks of @st's seed fields. TT_ENOTFOUND names the unknown field. */
static int resolve(const tt_radio *r, const tt_radio_state *st, int32_t *seeds, int *n,
                   int32_t *genre, tt_err *err)
{
    const tt_catalog *cat = r->src.cat;

    *n = 0;
    *genre = -1;
    if (!st->track_id[0] && !st->artist[0] && !st->genre[0])
        return tt_err_set_field(err, TT_EINVAL, "track_id",
                                "a seed is required: track_id, artist or genre");
    if (st->track_id[0]) {
        int32_t t = tt_catalog_track_find(cat, st->track_id);
        if (t < 0)
            return tt_err_set_field(err, TT_ENOTFOUND, "track_id", "unknown track");
        seed_add(seeds, n, t);
    }
    if (st->artist[0] && artist_seeds(r, st->artist, seeds, n) == 0)
        return tt_err_set_field(err, TT_ENOTFOUND, "artist", "unknown artist");
    if (st->genre[0]) {
        *genre = tt_catalog_genre_find(cat, st->genre);
        if (*genre < 0)
            return tt_err_set_field(err, TT_ENOTFOUND, "genre", "unknown genre");
        genre_seeds(r, *genre, seeds, n);
    }
    return 0;
}

/* ---- pools ---- */

/* Scales @v (n) to unit length; false when it is zero. */
static bool unit(float *v, int n)
{
    float s = sqrtf(dot(v, v, n));
    if (s <= 0.0f)
        return false;
    for (int i = 0; i < n; i++)
        v[i] /= s;
    return true;
}

/* The mean of the usable seeds' unit vectors in one space, normalised; NULL when none. */
static float *centre(const float *rows, const float *inv_norm, int dim, const int32_t *seeds, int n,
                     bool (*usable)(const tt_radio *, uint32_t, int32_t), const tt_radio *r,
                     uint32_t flags)
{
    float *c = tt_calloc((size_t)dim, sizeof(float));

    for (int i = 0; i < n; i++) {
        float w = inv_norm ? inv_norm[seeds[i]] : 1.0f;
        if (!usable(r, flags, seeds[i]))
            continue;
        for (int j = 0; j < dim; j++)
            c[j] += rows[(size_t)seeds[i] * dim + j] * w;
    }
    if (!unit(c, dim)) {
        free(c);
        return NULL;
    }
    return c;
}

static bool cf_usable_f(const tt_radio *r, uint32_t flags, int32_t t)
{
    (void)flags;
    return cf_usable(r, t);
}

/* Similarity of @t to the pool's seed centre: the mean over the spaces it has a vector in. */
static float centre_sim(const tt_radio *r, const struct pool *p, int32_t t, bool *any)
{
    float s = 0.0f;
    int m = 0;

    if (p->cf && r->inv_norm[t] > 0.0f) {
        s += dot(p->cf, r->Y + (size_t)t * r->k, r->k) * r->inv_norm[t];
        m++;
    }
    if (p->ct && tt_content_has_vector(r->src.content, t)) {
        s += dot(p->ct, r->V + (size_t)t * r->d, r->d);
        m++;
    }
    *any = m > 0;
    return m ? s / (float)m : 0.0f;
}

/* The listener's unit ALS vector, or NULL. */
static float *listener(const tt_radio *r, const char *user_id)
{
    int32_t u = user_id[0] ? tt_catalog_user_find(r->src.cat, user_id) : -1;
    const float *x = u >= 0 && r->Y ? tt_als_user_vector(r->src.als, u) : NULL;
    float *v;

    if (!x)
        return NULL;
    v = tt_malloc((size_t)r->k * sizeof(float));
    memcpy(v, x, (size_t)r->k * sizeof(float));
    if (!unit(v, r->k)) {
        free(v);
        return NULL;
    }
    return v;
}

static void pool_take(struct pool *p, tt_scored *top, int32_t n, const float *sim_of)
{
    p->n = n;
    p->track = tt_malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    p->sim = tt_malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    for (int32_t i = 0; i < n; i++) {
        p->track[i] = top[i].track;
        p->sim[i] = sim_of ? sim_of[top[i].track] : top[i].score;
    }
}

/*
 * Every reachable track's similarity to the seed into @sim and its ranking score (with the
 * listener's lean) into @out; returns how many. The one catalog scan of a station.
 */
TT_CLONES static int32_t scan(const tt_radio *r, const struct pool *p, const float *u, float *sim,
                              tt_scored *out)
{
    int32_t nt = tt_catalog_n_tracks(r->src.cat), n = 0;

    for (int32_t t = 0; t < nt; t++) {
        float s = 0.0f, lean = 0.0f;
        int m = 0;
        if (p->cf && r->inv_norm[t] > 0.0f) {
            float c = dot(p->cf, r->Y + (size_t)t * r->k, r->k) * r->inv_norm[t];
            s += c;
            m++;
            if (u)
                lean = LEAN * dot(u, r->Y + (size_t)t * r->k, r->k) * r->inv_norm[t];
        }
        if (p->ct && tt_content_has_vector(r->src.content, t)) {
            s += dot(p->ct, r->V + (size_t)t * r->d, r->d);
            m++;
        }
        sim[t] = m ? s / (float)m : 0.0f;
        if (m)
            out[n++] = (tt_scored){t, sim[t] + lean};
    }
    return n;
}

/* A key whose ascending order is descending @f (IEEE 754 bits, sign folded). */
static uint32_t desc_key(float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    u = (u & 0x80000000u) ? ~u : u ^ 0x80000000u;
    return ~u;
}

/*
 * Sorts @a (n entries) best first: a stable LSD radix sort on the score, a byte per pass
 * (about 30 times faster than qsort here; ties keep their deterministic input order).
 */
static void sort_best(tt_scored *a, int32_t n)
{
    tt_scored *tmp = tt_malloc((size_t)(n > 0 ? n : 1) * sizeof(tt_scored)), *src = a, *dst = tmp;

    for (int shift = 0; shift < 32; shift += 8) {
        int32_t count[257] = {0};
        for (int32_t i = 0; i < n; i++)
            count[((desc_key(src[i].score) >> shift) & 0xff) + 1]++;
        for (int b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (int32_t i = 0; i < n; i++)
            dst[count[(desc_key(src[i].score) >> shift) & 0xff]++] = src[i];
        tt_scored *t = src;
        src = dst;
        dst = t;
    }
    /* Four passes: the result is back in @a. */
    free(tmp);
}

/* The nearest tracks to the seed centre, leaning to the listener. */
static void pool_similar(const tt_radio *r, const char *user_id, struct pool *p)
{
    int32_t nt = tt_catalog_n_tracks(r->src.cat), reach, keep;
    tt_scored *all = tt_malloc((size_t)(nt > 0 ? nt : 1) * sizeof(tt_scored));
    float *sim = tt_malloc((size_t)(nt > 0 ? nt : 1) * sizeof(float)), *u = listener(r, user_id);

    reach = scan(r, p, u, sim, all);
    keep = reach < TT_RADIO_POOL_MAX ? reach : TT_RADIO_POOL_MAX;
    if (reach > keep)
        tt__select_best(all, reach, keep);
    sort_best(all, keep);
    pool_take(p, all, keep, sim);
    p->whole = reach <= TT_RADIO_POOL_MAX;
    free(all);
    free(sim);
    free(u);
}

static bool in_genres(const tt_catalog *cat, const uint8_t *want, int32_t t)
{
    const int32_t *gs;
    int32_t m;

    tt_catalog_track_genres(cat, t, &gs, &m);
    for (int32_t j = 0; j < m; j++)
        if (want[gs[j]])
            return true;
    return false;
}

/* Popularity within the seeds' genres (and @genre), or overall when they have none. */
static void pool_popular(const tt_radio *r, const int32_t *seeds, int n, int32_t genre,
                         struct pool *p)
{
    int32_t nt = tt_catalog_n_tracks(r->src.cat), ng = tt_catalog_n_genres(r->src.cat);
    uint8_t *want = tt_calloc((size_t)ng + 1, 1);
    tt_scored *buf = tt_malloc(TT_RADIO_POOL_MAX * sizeof(tt_scored));
    tt_topk top;
    int32_t reach = 0, members = 0;

    if (genre >= 0)
        want[genre] = 1;
    for (int i = 0; i < n; i++) {
        const int32_t *gs;
        int32_t m;
        tt_catalog_track_genres(r->src.cat, seeds[i], &gs, &m);
        for (int32_t j = 0; j < m; j++)
            want[gs[j]] = 1;
    }
    for (int32_t t = 0; t < nt; t++)
        members += in_genres(r->src.cat, want, t);
    tt_topk_init(&top, buf, TT_RADIO_POOL_MAX);
    /* The genres' tracks by popularity; the whole catalog's when the seed has no genre. */
    for (int32_t t = 0; t < nt; t++) {
        if (members > 0 && !in_genres(r->src.cat, want, t))
            continue;
        tt_topk_push(&top, t, pop_of(r, t));
        reach++;
    }
    pool_take(p, buf, tt_topk_finish(&top), NULL);
    p->whole = reach <= TT_RADIO_POOL_MAX;
    p->fallback = true;
    free(buf);
    free(want);
}

static uint64_t pool_key(const tt_radio_state *st)
{
    uint64_t h = tt_hash64(st->track_id, strlen(st->track_id));

    h = (h ^ tt_hash64(st->artist, strlen(st->artist))) * 0x100000001b3ULL;
    h = (h ^ tt_hash64(st->genre, strlen(st->genre))) * 0x100000001b3ULL;
    h = (h ^ tt_hash64(st->user_id, strlen(st->user_id))) * 0x100000001b3ULL;
    return h ^ (st->flags & TT_RADIO_CONTENT);
}

static int pool_build(const tt_radio *r, const tt_radio_state *st, struct pool **out, tt_err *err)
{
    int32_t seeds[TT_RADIO_SEEDS_MAX], genre;
    struct pool *p;
    int n, rc = resolve(r, st, seeds, &n, &genre, err);

    if (rc < 0)
        return rc;
    p = tt_calloc(1, sizeof(*p));
    p->refs = 1;
    p->key = pool_key(st);
    if (r->Y)
        p->cf = centre(r->Y, r->inv_norm, r->k, seeds, n, cf_usable_f, r, st->flags);
    if (r->V)
        p->ct = centre(r->V, NULL, r->d, seeds, n, ct_usable, r, st->flags);
    if (p->cf || p->ct)
        pool_similar(r, st->user_id, p);
    else
        pool_popular(r, seeds, n, genre, p);
    *out = p;
    return 0;
}

/* The pool of @st's seed, from the cache or built (and cached). Release when done. */
static int pool_get(tt_radio *r, const tt_radio_state *st, struct pool **out, tt_err *err)
{
    uint64_t key = pool_key(st);
    struct pool *p = NULL;
    int victim = 0, rc;

    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < CACHE_WAYS && !p; i++) {
        struct pool *q = r->slot[(key + (uint64_t)i) % CACHE_SLOTS];
        if (q && q->key == key)
            p = q;
    }
    if (p) {
        p->used = ++r->clock;
        __atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
    }
    pthread_mutex_unlock(&r->lock);
    if (p) {
        *out = p;
        return 0;
    }
    rc = pool_build(r, st, &p, err);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&r->lock);
    /* The least recently used of the key's slots, an empty one first. */
    victim = (int)(key % CACHE_SLOTS);
    for (int i = 0; i < CACHE_WAYS && r->slot[victim]; i++) {
        int s = (int)((key + (uint64_t)i) % CACHE_SLOTS);
        if (!r->slot[s] || r->slot[s]->used < r->slot[victim]->used)
            victim = s;
    }
    pool_release(r->slot[victim]);
    p->used = ++r->clock;
    p->refs++;
    r->slot[victim] = p;
    pthread_mutex_unlock(&r->lock);
    *out = p;
    return 0;
}

/* ---- the walk ---- */

int tt_radio_start(const tt_radio *r, uint64_t station, uint32_t flags, tt_radio_state *st,
                   tt_err *err)
{
    int32_t seeds[TT_RADIO_SEEDS_MAX], genre;
    int n, rc = resolve(r, st, seeds, &n, &genre, err);

    if (rc < 0)
        return rc;
    st->station = station;
    st->catalog = tt_catalog_id(r->src.cat);
    st->flags = flags & TT_RADIO_CONTENT;
    st->page = st->played = st->cycle = 0;
    st->pos = st->width = 0; /* set from the pool on the first page */
    memset(st->ring_plays, NEVER, sizeof(st->ring_plays));
    st->n_recent = st->n_steer = 0;
    st->steer_t = 0;
    return 0;
}

/* Everything a page's candidate checks need. */
struct walk {
    const tt_radio *r;
    const struct pool *p;
    tt_radio_state *st;
    const tt_radio_listener *lis;
    int32_t repeat; /* tracks that must separate two plays at strict level */
};

/* Pair similarity in the spaces the station uses (mean of those both tracks have). */
static float pair_sim(const tt_radio *r, uint32_t flags, int32_t a, int32_t b)
{
    float s = 0.0f;
    int m = 0;

    if (r->Y && r->inv_norm[a] > 0.0f && r->inv_norm[b] > 0.0f) {
        s += tt_als_track_similarity(r->src.als, a, b);
        m++;
    }
    if (ct_usable(r, flags, a) && ct_usable(r, flags, b)) {
        s += tt_content_similarity(r->src.content, a, b);
        m++;
    }
    return m ? s / (float)m : 0.0f;
}

static bool steered_off(const struct walk *w, int32_t t, float seed_sim)
{
    const int32_t *artist = w->r->artist;

    for (int i = 0; i < w->st->n_steer; i++) {
        int32_t s = w->st->steer[i];
        if (s == t || artist[s] == artist[t])
            return true;
        if (!w->p->fallback && pair_sim(w->r, w->st->flags, t, s) > seed_sim)
            return true;
    }
    return false;
}

static bool recent_artist(const tt_radio_state *st, int32_t a, int gap)
{
    for (int i = 0; i < gap && i < st->n_recent; i++)
        if (st->recent[i] == a)
            return true;
    return false;
}

/* Tracks played by the other rings on their latest passes; true for a ring's first pass. */
static bool old_enough(const struct walk *w, int ring, int32_t need)
{
    const tt_radio_state *st = w->st;
    int32_t sum = 0;

    if (st->ring_plays[ring] & FRESH)
        return true;
    for (int b = 0; b * TT_RADIO_BLOCK < st->width && sum < need; b++)
        if (b != ring && st->ring_plays[b] != NEVER)
            sum += st->ring_plays[b] & 0x7f;
    return sum >= need;
}

static int32_t gcd(int32_t a, int32_t b)
{
    while (b) {
        int32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/*
 * The pool position at walk position @i: rings in order, inside each an order drawn from
 * (station, ring) that every cycle repeats, so that two considerations of one track are a
 * whole cycle apart and every other track of the walk is considered in between.
 */
static int32_t position(const struct walk *w, int32_t i)
{
    int32_t b = i / TT_RADIO_BLOCK, j = i % TT_RADIO_BLOCK, base = b * TT_RADIO_BLOCK;
    int32_t len = w->p->n - base < TT_RADIO_BLOCK ? w->p->n - base : TT_RADIO_BLOCK;
    uint64_t h = w->st->station ^ (uint64_t)b;
    uint64_t x = tt_hash64(&h, sizeof(h));
    int32_t a = (int32_t)(x % (uint64_t)len) | 1, c = (int32_t)((x >> 32) % (uint64_t)len);

    /* An odd multiplier is coprime to a power of two; a short last ring may need another. */
    while (len > 1 && gcd(a, len) != 1)
        a += 2;
    return base + (int32_t)(((int64_t)a * j + c) % len);
}

struct rules {
    int gap;        /* artist spacing */
    int32_t repeat; /* tracks that must separate two plays */
    bool steer;     /* keep off skipped tracks */
};

/* Considers the station's next walk position under @ru; the track when it is played. */
static int32_t consider(struct walk *w, const struct rules *ru, float *score)
{
    tt_radio_state *st = w->st;
    int32_t i = st->pos, ring = i / TT_RADIO_BLOCK, pp, t;
    bool ok;

    if (i % TT_RADIO_BLOCK == 0)
        st->ring_plays[ring] = st->ring_plays[ring] == NEVER ? FRESH : 0;
    pp = position(w, i);
    t = w->p->track[pp];
    ok = !tt_sorted_contains(w->lis->avoid, w->lis->n_avoid, t) &&
         old_enough(w, ring, ru->repeat) && !recent_artist(st, w->r->artist[t], ru->gap) &&
         !(ru->steer && steered_off(w, t, w->p->sim[pp]));
    if (++st->pos >= st->width) {
        st->pos = 0;
        st->cycle++;
    }
    if (!ok)
        return -1;
    st->ring_plays[ring]++;
    memmove(st->recent + 1, st->recent, (TT_RADIO_ARTIST_GAP - 1) * sizeof(int32_t));
    st->recent[0] = w->r->artist[t];
    if (st->n_recent < TT_RADIO_ARTIST_GAP)
        st->n_recent++;
    st->played++;
    *score = w->p->sim[pp];
    return t;
}

/* One pass at most over the walk for a track passing @ru. */
static int32_t pick(struct walk *w, const struct rules *ru, float *score)
{
    for (int32_t i = 0; i < w->st->width; i++) {
        int32_t t = consider(w, ru, score);
        if (t >= 0)
            return t;
    }
    return -1;
}

static bool widen(struct walk *w)
{
    int32_t wider = w->st->width + WIDEN_RINGS * TT_RADIO_BLOCK;

    if (w->st->width >= w->p->n)
        return false;
    w->st->width = (uint16_t)(wider < w->p->n ? wider : w->p->n);
    return true;
}

/* The next track, relaxing the rules in radio.h's order until one passes; -1 when none. */
static int32_t next_track(struct walk *w, float *score)
{
    static const int gaps[] = {10, 5, 2, 1};
    static const int32_t repeats[] = {500, 200, 0};
    int32_t t;

    do {
        for (size_t i = 0; i < sizeof(gaps) / sizeof(gaps[0]); i++) {
            struct rules ru = {gaps[i], w->repeat, true};
            if ((t = pick(w, &ru, score)) >= 0)
                return t;
        }
    } while (widen(w));
    for (size_t i = 0; i < sizeof(repeats) / sizeof(repeats[0]); i++) {
        struct rules ru = {1, repeats[i] < w->repeat ? repeats[i] : w->repeat, true};
        if ((t = pick(w, &ru, score)) >= 0)
            return t;
    }
    return pick(w, &(struct rules){0, 0, false}, score);
}

/* Takes in the listener's skips newer than the state's, newest first in the state. */
static void absorb(tt_radio_state *st, const tt_radio_listener *lis)
{
    int64_t newest = st->steer_t;

    for (int32_t i = 0; i < lis->n_events; i++) {
        const tt_radio_event *e = &lis->events[i];
        bool known = false;
        if (e->t < st->steer_t || e->track < 0)
            continue;
        for (int j = 0; j < st->n_steer; j++)
            known |= st->steer[j] == e->track;
        if (known)
            continue;
        memmove(st->steer + 1, st->steer, (TT_RADIO_STEER_MAX - 1) * sizeof(int32_t));
        st->steer[0] = e->track;
        if (st->n_steer < TT_RADIO_STEER_MAX)
            st->n_steer++;
        newest = e->t > newest ? e->t : newest;
    }
    st->steer_t = newest;
}

/* A state made for another catalog starts its walk over (its ids mean other tracks). */
static int rebase(const tt_radio *r, tt_radio_state *st, tt_err *err)
{
    uint32_t page = st->page, played = st->played;
    int32_t nt = tt_catalog_n_tracks(r->src.cat);
    bool valid = st->catalog == tt_catalog_id(r->src.cat);
    int rc;

    /* Signed states are ours, but an index that could leave the catalog is never trusted. */
    for (int i = 0; valid && i < st->n_steer; i++)
        valid = st->steer[i] >= 0 && st->steer[i] < nt;
    if (valid)
        return 0;
    rc = tt_radio_start(r, st->station, st->flags, st, err);
    st->page = page;
    st->played = played;
    return rc;
}

int tt_radio_next(tt_radio *r, tt_radio_state *st, const tt_radio_listener *lis, int limit,
                  tt_scored *out, int *n, tt_err *err)
{
    static const tt_radio_listener none = {0};
    struct pool *p = NULL;
    struct walk w;
    int rc;

    *n = 0;
    if (!r || !st || !out || limit < 1)
        return tt_err_set(err, TT_EINVAL, "a station, an output and a limit are required");
    rc = rebase(r, st, err);
    if (rc == 0)
        rc = pool_get(r, st, &p, err);
    if (rc < 0)
        return rc;
    lis = lis ? lis : &none;
    absorb(st, lis);
    st->flags = (st->flags & ~(uint32_t)TT_RADIO_FALLBACK) | (p->fallback ? TT_RADIO_FALLBACK : 0);
    if (st->width == 0 || st->width > p->n)
        st->width = (uint16_t)(p->n < TT_RADIO_POOL_START ? p->n : TT_RADIO_POOL_START);
    if (st->pos >= st->width)
        st->pos = 0;
    w = (struct walk){r, p, st, lis,
                      p->whole && p->n <= TT_RADIO_NO_REPEAT ? 0 : TT_RADIO_NO_REPEAT};
    while (*n < limit && st->width > 0) {
        float score;
        int32_t t = next_track(&w, &score);
        if (t < 0)
            break;
        out[*n].track = t;
        out[(*n)++].score = score;
    }
    st->page++;
    pool_release(p);
    return 0;
}

float tt_radio_seed_similarity(tt_radio *r, const tt_radio_state *st, int32_t t)
{
    struct pool *p = NULL;
    bool any;
    float s;

    if (t < 0 || t >= tt_catalog_n_tracks(r->src.cat) || pool_get(r, st, &p, NULL) < 0)
        return 0.0f;
    s = centre_sim(r, p, t, &any);
    pool_release(p);
    return s;
}
