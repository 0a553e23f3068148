/*
 * Daily mixes (tt/mix.h): the mix space built at load time, the listener's history, the
 * facets of their taste (weighted spherical k-means), and the assembly of each mix.
 *
 * The heavy parts are done once per snapshot: the content vectors and ALS factors are
 * trained, and the space joins them into one row per track and partitions the tracks into
 * cells when the models load. A request clusters at most a few hundred positives and, per
 * facet, sweeps the cells nearest the facet (a sixteenth of the catalog, at most 2,048
 * tracks), so it stays under a millisecond at 20,000 tracks and grows little past that.
 */
#include "tt/mix.h"
#include "rank_priv.h"
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/kernels.h"
#include "tt/popularity.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

struct tt_mix_space {
    const tt_catalog *cat;
    const tt_model *pop;
    const tt_model *als; /* NULL when the space is content only */
    tt_mix_params p;
    int32_t n_tracks, n_genres;
    int d;
    float *rows;          /* n_tracks x d */
    int32_t *genre_order; /* the n_order genres first of some track, most popular first */
    int32_t n_order;
    int32_t *artist;    /* n_tracks: one number per artist name (listeners see names) */
    int n_cells;        /* a partition of the tracks by nearest cell centroid (an IVF) */
    float *cell_centre; /* n_cells x d, unit length */
    int64_t *cell_ptr;  /* n_cells + 1: each cell's tracks in cell_tracks */
    int64_t max_cell;   /* tracks of the largest cell */
    int32_t *cell_tracks;
    float *cell_rows; /* cd floats per track in cell_tracks order: [row | ALS factors] */
    int cd;
    char models[16];
};

tt_mix_params tt_mix_params_default(void)
{
    return (tt_mix_params){.familiar_share = 1.0f / 3.0f,
                           .content_weight = 0.5f,
                           .min_history = 5,
                           .tracks_per_cluster = 6,
                           .min_cluster_share = 0.05f,
                           .fresh_weight = 3.0f,
                           .max_per_artist = 2,
                           .jitter = 0.05f,
                           .preference_weight = 2.0f,
                           .recency_half_life_days = 30.0f,
                           .sweep_tracks = 2048};
}

/* ---- the space ---------------------------------------------------------------------------- */

static void normalise(float *v, int d)
{
    double s = 0;

    for (int i = 0; i < d; i++)
        s += (double)v[i] * v[i];
    for (int i = 0; s > 0 && i < d; i++)
        v[i] = (float)(v[i] / sqrt(s));
}

/* Appends @n floats of @v scaled to length @scale (zeros stay zeros). */
static void put_part(float *dst, const float *v, int n, float scale)
{
    double s = 0;

    for (int i = 0; v && i < n; i++)
        s += (double)v[i] * v[i];
    for (int i = 0; i < n; i++)
        dst[i] = s > 0 ? (float)(v[i] * scale / sqrt(s)) : 0.0f;
}

static void fill_rows(tt_mix_space *s, const tt_model *content, const tt_model *als)
{
    int dc = 0, da = als ? tt_als_factors(als) : 0;
    const float *vec = content ? tt_content_model_vectors(content, &dc) : NULL;
    float wc = content ? (als ? s->p.content_weight : 1.0f) : 0.0f;
    float sc = sqrtf(wc), sa = sqrtf(1.0f - wc);

    s->d = dc + da;
    s->rows = tt_malloc((size_t)s->n_tracks * (size_t)s->d * sizeof(float));
    for (int32_t t = 0; t < s->n_tracks; t++) {
        float *row = s->rows + (size_t)t * s->d;
        if (content)
            put_part(row, vec + (size_t)t * dc, dc, sc);
        if (als)
            put_part(row + dc, tt_als_track_vector(als, t), da, sa);
    }
}

static int cmp_scored_desc(const void *a, const void *b)
{
    const tt_scored *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->track > y->track) - (x->track < y->track);
}

/*
 * Genres ordered by the summed popularity of the tracks they are the first genre of (track
 * counts without a model): a genre only ever second ("indie" of "rock|indie") comes last.
 */
/*
 * out[i * k + c] = row (b + i) . centre c for the @n rows from @b: each row is read once for
 * every centre.
 */
TT_CLONES static void score_block(const float *restrict rows, int d, int32_t b, int32_t n,
                                  const float *restrict centres, int k, float *restrict out)
{
    for (int32_t i = 0; i < n; i++) {
        const float *row = rows + (size_t)(b + i) * d;
        for (int c = 0; c < k; c++)
            out[i * k + c] = dot(row, centres + (size_t)c * d, d);
    }
}

#define BLOCK 256

/*
 * The nearest cell centroid of each of the @n rows of @rows into @cell; with @sum, also adds
 * each row to its cell's sum.
 */
static void cells_assign(const tt_mix_space *s, const float *rows, int32_t n, int32_t *cell,
                         float *sum)
{
    float *score = tt_malloc((size_t)BLOCK * s->n_cells * sizeof(float));

    for (int32_t b = 0; b < n; b += BLOCK) {
        int32_t m = n - b < BLOCK ? n - b : BLOCK;
        score_block(rows, s->d, b, m, s->cell_centre, s->n_cells, score);
        for (int32_t i = 0; i < m; i++) {
            int best = 0;
            for (int c = 1; c < s->n_cells; c++)
                best = score[i * s->n_cells + c] > score[i * s->n_cells + best] ? c : best;
            cell[b + i] = best;
            for (int j = 0; sum && j < s->d; j++)
                sum[(size_t)best * s->d + j] += rows[(size_t)(b + i) * s->d + j];
        }
    }
    free(score);
}

/* Tracks the centroids are trained on, at most: the partition's cost stays flat past it. */
#define CELL_SAMPLE 16384

/*
 * Spherical k-means of the rows of an evenly spaced sample of the tracks (all of them up to
 * CELL_SAMPLE): centroids seeded at evenly spaced sample rows, six rounds.
 */
static void train_cells(tt_mix_space *s)
{
    int32_t step = (s->n_tracks + CELL_SAMPLE - 1) / CELL_SAMPLE, m = 0;
    float *P = tt_malloc(((size_t)s->n_tracks / step + 1) * s->d * sizeof(float));
    float *sum = tt_malloc((size_t)s->n_cells * s->d * sizeof(float));
    int32_t *cell = tt_malloc(((size_t)s->n_tracks / step + 1) * sizeof(int32_t));

    for (int32_t t = 0; t < s->n_tracks; t += step, m++)
        memcpy(P + (size_t)m * s->d, s->rows + (size_t)t * s->d, (size_t)s->d * sizeof(float));
    for (int c = 0; c < s->n_cells; c++)
        memcpy(s->cell_centre + (size_t)c * s->d, P + (size_t)((int64_t)c * m / s->n_cells) * s->d,
               (size_t)s->d * sizeof(float));
    for (int it = 0; it < 6; it++) {
        memset(sum, 0, (size_t)s->n_cells * s->d * sizeof(float));
        cells_assign(s, P, m, cell, sum);
        /* A cell left empty keeps its centroid. */
        for (int c = 0; c < s->n_cells; c++)
            if (dot(sum + (size_t)c * s->d, sum + (size_t)c * s->d, s->d) > 0)
                memcpy(s->cell_centre + (size_t)c * s->d, sum + (size_t)c * s->d,
                       (size_t)s->d * sizeof(float));
        for (int c = 0; c < s->n_cells; c++)
            normalise(s->cell_centre + (size_t)c * s->d, s->d);
    }
    free(P);
    free(sum);
    free(cell);
}

/* Every track's cell, the tracks grouped by cell, and their rows side by side in that order. */
static void layout_cells(tt_mix_space *s)
{
    int32_t *cell = tt_malloc(((size_t)s->n_tracks + 1) * sizeof(int32_t));
    int64_t *next = tt_calloc((size_t)s->n_cells + 1, sizeof(int64_t));

    cells_assign(s, s->rows, s->n_tracks, cell, NULL);
    s->cell_ptr = tt_calloc((size_t)s->n_cells + 1, sizeof(int64_t));
    s->cell_tracks = tt_malloc(((size_t)s->n_tracks + 1) * sizeof(int32_t));
    for (int32_t t = 0; t < s->n_tracks; t++)
        s->cell_ptr[cell[t] + 1]++;
    for (int c = 0; c < s->n_cells; c++) {
        s->max_cell = s->cell_ptr[c + 1] > s->max_cell ? s->cell_ptr[c + 1] : s->max_cell;
        s->cell_ptr[c + 1] += s->cell_ptr[c];
        next[c] = s->cell_ptr[c];
    }
    for (int32_t t = 0; t < s->n_tracks; t++)
        s->cell_tracks[next[cell[t]]++] = t;
    free(next);
    free(cell);
}

/*
 * About 300 tracks a cell, so that a facet's sweep (a few thousand tracks at most) ends within
 * a cell of its mark: cells of 1,500 tracks (100,000 tracks in 64 cells) made the sweep
 * coarse and reached farther from the facet for the same work (docs/models.md). At most 512
 * cells: assigning every track to its cell at load costs tracks x cells x d.
 */
#define TRACKS_PER_CELL 300
#define MAX_CELLS 512

/*
 * Partitions the tracks into cells by spherical k-means, so that a facet's discoveries are
 * searched in the cells nearest its centre rather than in the whole catalog: the inverted
 * file of Sivic and Zisserman (2003), as FAISS's IVF indexes do, kept here because the search
 * must skip the listener's heard tracks and skipped-away artists as it goes.
 */
static void build_cells(tt_mix_space *s)
{
    int32_t cells = s->n_tracks / TRACKS_PER_CELL;

    s->n_cells = cells < 1 ? 1 : (cells > MAX_CELLS ? MAX_CELLS : cells);
    s->cell_centre = tt_malloc((size_t)s->n_cells * s->d * sizeof(float) + 1);
    train_cells(s);
    layout_cells(s);
    /*
     * Each track's raw ALS factors follow its row, so that one inner product with
     * [facet centre | w x_u] gives the cosine to the facet plus w times ALS's predicted
     * preference x_u . y_t in one sweep of the cell.
     */
    s->cd = s->d + (s->als ? tt_als_factors(s->als) : 0);
    s->cell_rows = tt_malloc((size_t)s->n_tracks * s->cd * sizeof(float) + 1);
    for (int32_t i = 0; i < s->n_tracks; i++) {
        float *dst = s->cell_rows + (size_t)i * s->cd;
        memcpy(dst, s->rows + (size_t)s->cell_tracks[i] * s->d, (size_t)s->d * sizeof(float));
        if (s->als)
            memcpy(dst + s->d, tt_als_track_vector(s->als, s->cell_tracks[i]),
                   (size_t)(s->cd - s->d) * sizeof(float));
    }
}

static void order_genres(tt_mix_space *s)
{
    tt_scored *g = tt_calloc((size_t)s->n_genres + 1, sizeof(tt_scored));

    s->genre_order = tt_malloc(((size_t)s->n_genres + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < s->n_genres; i++)
        g[i].track = i;
    for (int32_t t = 0; t < s->n_tracks; t++) {
        const int32_t *tg;
        int32_t n;
        float w = s->pop ? tt_popularity_score(s->pop, t) : 1.0f;
        tt_catalog_track_genres(s->cat, t, &tg, &n);
        if (n > 0)
            g[tg[0]].score += w + 1e-6f;
    }
    qsort(g, (size_t)s->n_genres, sizeof(tt_scored), cmp_scored_desc);
    for (int32_t i = 0; i < s->n_genres && g[i].score > 0; i++)
        s->genre_order[s->n_order++] = g[i].track;
    free(g);
}

struct named {
    const char *name;
    int32_t t;
};

static int cmp_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    return c ? c : (x->t > y->t) - (x->t < y->t);
}

/*
 * Numbers the artists by name: two catalog artists sharing a name are one artist to the
 * listener, so the artist rules of a mix hold for the names it shows.
 */
static void number_artists(tt_mix_space *s)
{
    struct named *v = tt_malloc(((size_t)s->n_tracks + 1) * sizeof(struct named));
    int32_t key = -1;

    s->artist = tt_malloc(((size_t)s->n_tracks + 1) * sizeof(int32_t));
    for (int32_t t = 0; t < s->n_tracks; t++)
        v[t] = (struct named){tt_catalog_track_artist(s->cat, t), t};
    qsort(v, (size_t)s->n_tracks, sizeof(struct named), cmp_named);
    for (int32_t i = 0; i < s->n_tracks; i++) {
        if (i == 0 || strcmp(v[i - 1].name, v[i].name) != 0)
            key++;
        s->artist[v[i].t] = key;
    }
    free(v);
}

int tt_mix_space_new(const tt_catalog *cat, const tt_model *content, const tt_model *als,
                     const tt_model *pop, const tt_mix_params *p, tt_mix_space **out, tt_err *err)
{
    int32_t nt = cat ? tt_catalog_n_tracks(cat) : 0;
    tt_mix_space *s;

    *out = NULL;
    if (!cat || (!content && !als))
        return tt_err_set(err, TT_EINVAL, "a catalog and a content or ALS model are required");
    if ((content && content->n_tracks != nt) || (als && als->n_tracks != nt) ||
        (pop && pop->n_tracks != nt))
        return tt_err_set(err, TT_EINVAL, "the models were not trained on this catalog");
    s = tt_calloc(1, sizeof(*s));
    s->cat = cat;
    s->pop = pop;
    s->als = als;
    s->p = p ? *p : tt_mix_params_default();
    s->n_tracks = nt;
    s->n_genres = tt_catalog_n_genres(cat);
    snprintf(s->models, sizeof(s->models), "%s",
             content && als ? "als+content" : (content ? "content" : "als"));
    fill_rows(s, content, als);
    order_genres(s);
    build_cells(s);
    number_artists(s);
    *out = s;
    return 0;
}

void tt_mix_space_free(tt_mix_space *s)
{
    if (!s)
        return;
    free(s->rows);
    free(s->genre_order);
    free(s->artist);
    free(s->cell_centre);
    free(s->cell_ptr);
    free(s->cell_tracks);
    free(s->cell_rows);
    free(s);
}

const char *tt_mix_space_models(const tt_mix_space *s)
{
    return s->models;
}

/* Track @t's row of the mix space (d floats). */
static const float *space_row(const tt_mix_space *s, int32_t t)
{
    return t >= 0 && t < s->n_tracks ? s->rows + (size_t)t * s->d : NULL;
}

/* ---- the listener ------------------------------------------------------------------------- */

enum { ST_NEW = 0, ST_HEARD = 1, ST_BANNED = 2 };

struct event {
    int32_t track, order;
    float r;
    float age; /* days since the latest event on the track (INFINITY: unknown) */
    bool disliked;
};

/* One request's state: the merged history and what the day's mixes have used. */
struct listener {
    const tt_mix_space *s;
    uint64_t user_seed, day_seed;
    int32_t user;     /* dense id in the catalog, or -1 */
    bool fresh;       /* fresh events changed the history since the snapshot */
    struct event *ev; /* merged: one per track, sorted by track */
    int32_t n_ev;
    int32_t *pos; /* positives usable as familiar tracks (not of avoided artists) */
    float *pos_w; /* log(1 + r) */
    float *pos_r; /* r */
    int32_t n_pos;
    int32_t *avoid; /* skipped-away artists, sorted */
    int32_t n_avoid;
    uint8_t *state; /* n_tracks: ST_* */
    uint8_t *used;  /* n_tracks: already in one of the day's mixes */
    float *centres; /* TT_MIX_MAX_MIXES x d: the facets' centres */
    float *x;       /* the listener's ALS factors, or NULL */
};

static int cmp_event(const void *a, const void *b)
{
    const struct event *x = a, *y = b;

    if (x->track != y->track)
        return (x->track > y->track) - (x->track < y->track);
    return (x->order > y->order) - (x->order < y->order);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void add_event(struct event *ev, int32_t *n, int32_t t, float r, float age, bool disliked)
{
    ev[*n] = (struct event){t, *n, r, age, disliked};
    (*n)++;
}

/* Snapshot and fresh events, one entry per track (preferences summed, dislikes sticky). */
static void merge_history(struct listener *l, int32_t u, const tt_mix_request *r)
{
    const int32_t *seen = NULL, *pos = NULL;
    const float *seen_v = NULL, *pos_v = NULL, *age = NULL;
    int32_t n_seen = 0, n_pos = 0, n = 0, w = 0;
    float fw = l->s->p.fresh_weight > 0 ? l->s->p.fresh_weight : 1.0f;

    if (u >= 0) {
        tt_catalog_user_seen(l->s->cat, u, &seen, &seen_v, &n_seen);
        tt_catalog_user_positives(l->s->cat, u, &pos, &pos_v, &n_pos);
        age = tt_catalog_user_positive_ages(l->s->cat, u);
    }
    l->ev = tt_malloc(((size_t)n_seen + n_pos + r->n_fresh + 1) * sizeof(struct event));
    for (int32_t i = 0; i < n_seen; i++)
        add_event(l->ev, &n, seen[i], 0.0f, INFINITY, seen_v[i] < 0);
    for (int32_t i = 0; i < n_pos; i++)
        add_event(l->ev, &n, pos[i], pos_v[i], age ? age[i] : INFINITY, false);
    for (int32_t i = 0; i < r->n_fresh; i++) {
        float x = r->fresh_r[i];
        if (r->fresh[i] >= 0 && r->fresh[i] < l->s->n_tracks)
            add_event(l->ev, &n, r->fresh[i], isnan(x) ? 0.0f : (x > 0 ? x * fw : x), 0.0f,
                      isnan(x));
    }
    qsort(l->ev, (size_t)n, sizeof(struct event), cmp_event);
    for (int32_t i = 0; i < n; i++) {
        if (w > 0 && l->ev[w - 1].track == l->ev[i].track) {
            l->ev[w - 1].r += l->ev[i].r;
            l->ev[w - 1].age = fminf(l->ev[w - 1].age, l->ev[i].age);
            l->ev[w - 1].disliked |= l->ev[i].disliked;
        } else {
            l->ev[w++] = l->ev[i];
        }
    }
    l->n_ev = w;
}

static bool positive(const struct event *e)
{
    return e->r > 0 && !e->disliked;
}

/*
 * Artists the listener skips away: at least two of their tracks ended skipped or disliked,
 * and more of them than liked ones.
 */
static void find_avoided(struct listener *l)
{
    int32_t *key = tt_malloc(((size_t)l->n_ev + 1) * sizeof(int32_t));

    /* Key = artist * 2 + (1 if positive): sorted, each artist's counts are adjacent. */
    for (int32_t i = 0; i < l->n_ev; i++)
        key[i] = l->s->artist[l->ev[i].track] * 2 + (positive(&l->ev[i]) ? 1 : 0);
    qsort(key, (size_t)l->n_ev, sizeof(int32_t), cmp_i32);
    l->avoid = tt_malloc(((size_t)l->n_ev + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < l->n_ev;) {
        int32_t a = key[i] / 2, neg = 0, pos = 0;
        for (; i < l->n_ev && key[i] / 2 == a; i++)
            *(key[i] & 1 ? &pos : &neg) += 1;
        if (neg >= 2 && neg > pos)
            l->avoid[l->n_avoid++] = a;
    }
    free(key);
}

static bool avoided(const struct listener *l, int32_t t)
{
    int32_t a = l->s->artist[t];

    return l->n_avoid > 0 && bsearch(&a, l->avoid, (size_t)l->n_avoid, sizeof(int32_t), cmp_i32);
}

/*
 * How much more a liked track counts for being recent: 1 + 2^(-age / half-life), so today's
 * listening counts twice as much as long-past listening, and a half-life ago 1.5 times.
 */
static float recency(const tt_mix_params *p, float age)
{
    if (!(p->recency_half_life_days > 0) || isinf(age))
        return 1.0f;
    return 1.0f + exp2f(-age / p->recency_half_life_days);
}

static void listener_init(struct listener *l, const tt_mix_space *s, const tt_mix_request *r)
{
    int32_t u = r->user_id ? tt_catalog_user_find(s->cat, r->user_id) : -1;
    uint64_t h = r->user_id ? tt_hash64(r->user_id, strlen(r->user_id)) : 0;

    memset(l, 0, sizeof(*l));
    l->s = s;
    l->user_seed = h;
    l->day_seed = tt_hash64(&(uint64_t[2]){h, (uint64_t)r->day}, 16);
    merge_history(l, u, r);
    find_avoided(l);
    l->user = u;
    l->fresh = r->n_fresh > 0;
    l->state = tt_calloc((size_t)s->n_tracks + 1, 1);
    l->used = tt_calloc((size_t)s->n_tracks + 1, 1);
    l->pos = tt_malloc(((size_t)l->n_ev + 1) * sizeof(int32_t));
    l->pos_w = tt_malloc(((size_t)l->n_ev + 1) * sizeof(float));
    l->pos_r = tt_malloc(((size_t)l->n_ev + 1) * sizeof(float));
    for (int32_t i = 0; i < l->n_ev; i++) {
        const struct event *e = &l->ev[i];
        bool bad = e->disliked || avoided(l, e->track);
        l->state[e->track] = bad ? ST_BANNED : ST_HEARD;
        if (positive(e) && !bad) {
            l->pos[l->n_pos] = e->track;
            l->pos_r[l->n_pos] = e->r;
            l->pos_w[l->n_pos++] = logf(1.0f + e->r) * recency(&s->p, e->age);
        }
    }
}

static void listener_release(struct listener *l)
{
    free(l->ev);
    free(l->pos);
    free(l->pos_w);
    free(l->pos_r);
    free(l->x);
    free(l->avoid);
    free(l->state);
    free(l->used);
    free(l->centres);
}

/* A uniform number in [0, 1) drawn from (@seed, @t): the same all day for one listener. */
static float draw(uint64_t seed, int32_t t)
{
    uint64_t x = seed ^ ((uint64_t)(uint32_t)t * 0x9e3779b97f4a7c15ULL);

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return (float)(x >> 40) / (float)(1 << 24);
}

/*
 * The listener's ALS factors: as trained when nothing happened since, else folded in from
 * the whole current history (what they liked, with fresh events weighted up).
 */
static void user_factors(struct listener *l, int32_t u, bool fresh)
{
    const tt_model *als = l->s->als;
    int k = als ? tt_als_factors(als) : 0;
    const float *x = als && !fresh ? tt_als_user_vector(als, u) : NULL;

    if (k == 0 || l->s->p.preference_weight <= 0 || l->n_pos == 0)
        return;
    l->x = tt_malloc((size_t)k * sizeof(float));
    if (x)
        memcpy(l->x, x, (size_t)k * sizeof(float));
    else if (tt_als_fold_in(als, l->pos, l->pos_r, l->n_pos, l->x, NULL) < 0) {
        free(l->x);
        l->x = NULL;
    }
}

/* ---- facets: weighted spherical k-means ----------------------------------------------------- */

struct facet {
    float *centre; /* d floats, unit length */
    double weight;
    int32_t *members; /* indexes into l->pos */
    int32_t n_members;
};

/* k-means++ seeding (Arthur and Vassilvitskii 2007), weighted, with cosine distance. */
static void seed_centres(const struct listener *l, struct facet *f, int k, tt_rng *rng)
{
    const tt_mix_space *s = l->s;
    double *dist = tt_malloc(((size_t)l->n_pos + 1) * sizeof(double));
    int32_t first = (int32_t)tt_rng_below(rng, (uint64_t)l->n_pos);

    memcpy(f[0].centre, space_row(s, l->pos[first]), (size_t)s->d * sizeof(float));
    for (int32_t i = 0; i < l->n_pos; i++)
        dist[i] = 2.0;
    for (int c = 1; c < k; c++) {
        double total = 0, x;
        int32_t pick = l->n_pos - 1;
        for (int32_t i = 0; i < l->n_pos; i++) {
            double dd = 1.0 - dot(space_row(s, l->pos[i]), f[c - 1].centre, s->d);
            dist[i] = dd < dist[i] ? (dd > 0 ? dd : 0) : dist[i];
            total += dist[i] * l->pos_w[i];
        }
        x = tt_rng_uniform(rng) * total;
        for (int32_t i = 0; i < l->n_pos; i++)
            if ((x -= dist[i] * l->pos_w[i]) < 0) {
                pick = i;
                break;
            }
        memcpy(f[c].centre, space_row(s, l->pos[pick]), (size_t)s->d * sizeof(float));
    }
    free(dist);
}

/* Each positive's nearest centre into @assign; true when any changed. */
static bool assign_all(const struct listener *l, const float *P, int k, float *score,
                       int32_t *assign)
{
    bool moved = false;

    score_block(P, l->s->d, 0, l->n_pos, l->centres, k, score);
    for (int32_t i = 0; i < l->n_pos; i++) {
        int best = 0;
        for (int c = 1; c < k; c++)
            best = score[(size_t)i * k + c] > score[(size_t)i * k + best] ? c : best;
        moved |= best != assign[i];
        assign[i] = best;
    }
    return moved;
}

/* Lloyd iterations over the positives' rows @P; returns the assignment of every positive. */
static int32_t *cluster(const struct listener *l, struct facet *f, int k, const float *P)
{
    const int d = l->s->d;
    int32_t *assign = tt_malloc(((size_t)l->n_pos + 1) * sizeof(int32_t));
    float *score = tt_malloc(((size_t)l->n_pos * k + 1) * sizeof(float));
    tt_rng rng;

    for (int32_t i = 0; i < l->n_pos; i++)
        assign[i] = -1;
    tt_rng_seed(&rng, l->user_seed, 0x6d6978);
    seed_centres(l, f, k, &rng);
    for (int it = 0; it < 12 && assign_all(l, P, k, score, assign); it++) {
        memset(l->centres, 0, (size_t)k * d * sizeof(float));
        for (int32_t i = 0; i < l->n_pos; i++)
            for (int j = 0; j < d; j++)
                f[assign[i]].centre[j] += l->pos_w[i] * P[(size_t)i * d + j];
        for (int c = 0; c < k; c++)
            normalise(f[c].centre, d);
    }
    free(score);
    return assign;
}

static int cmp_facet(const void *a, const void *b)
{
    const struct facet *x = a, *y = b;

    if (x->weight != y->weight)
        return x->weight < y->weight ? 1 : -1;
    return 0;
}

/* Positives without a row (no content and no factors) cannot be placed in a facet. */
static void drop_rowless(struct listener *l)
{
    int32_t w = 0;

    for (int32_t i = 0; i < l->n_pos; i++) {
        const float *row = space_row(l->s, l->pos[i]);
        if (dot(row, row, l->s->d) <= 0)
            continue;
        l->pos[w] = l->pos[i];
        l->pos_r[w] = l->pos_r[i];
        l->pos_w[w++] = l->pos_w[i];
    }
    l->n_pos = w;
}

/* The listener's facets, heaviest first; returns how many hold enough weight (<= @max). */
static int find_facets(struct listener *l, int max, struct facet *f)
{
    const tt_mix_params *p = &l->s->p;
    int per = p->tracks_per_cluster > 0 ? p->tracks_per_cluster : 1;
    int k = (int)(l->n_pos / per), kept = 0;
    double total = 0;
    int32_t *assign;
    const int d = l->s->d;
    float *P = tt_malloc(((size_t)l->n_pos * d + 1) * sizeof(float));

    k = k < 1 ? 1 : (k > max ? max : k);
    l->centres = tt_calloc((size_t)k * d + 1, sizeof(float));
    for (int c = 0; c < k; c++) {
        f[c].centre = l->centres + (size_t)c * d;
        f[c].members = tt_malloc(((size_t)l->n_pos + 1) * sizeof(int32_t));
    }
    /* The positives' rows side by side: the clustering reads them a dozen times. */
    for (int32_t i = 0; i < l->n_pos; i++)
        memcpy(P + (size_t)i * d, space_row(l->s, l->pos[i]), (size_t)d * sizeof(float));
    assign = cluster(l, f, k, P);
    free(P);
    for (int32_t i = 0; i < l->n_pos; i++) {
        struct facet *c = &f[assign[i]];
        c->members[c->n_members++] = i;
        c->weight += l->pos_w[i];
        total += l->pos_w[i];
    }
    free(assign);
    qsort(f, (size_t)k, sizeof(struct facet), cmp_facet);
    for (int c = 0; c < k; c++)
        if (f[c].n_members >= 2 && f[c].weight >= p->min_cluster_share * total)
            kept = c + 1;
    for (int c = kept; c < k; c++) {
        free(f[c].members);
        f[c] = (struct facet){0};
    }
    return kept;
}

/* ---- candidates --------------------------------------------------------------------------- */

/*
 * Appends the open tracks of cell positions [@b, @e) to @cand (scored against the facet's
 * centre, plus the day's jitter); returns how many were open.
 */
static int32_t offer(const struct listener *l, const float *q, int64_t b, int64_t e, float *score,
                     tt_scored *cand)
{
    const tt_mix_space *s = l->s;
    int32_t open = 0;

    score_block(s->cell_rows, s->cd, (int32_t)b, (int32_t)(e - b), q, 1, score);
    for (int64_t i = b; i < e; i++) {
        int32_t t = s->cell_tracks[i];
        if (l->state[t] != ST_NEW || (l->n_avoid > 0 && avoided(l, t)))
            continue;
        cand[open++] = (tt_scored){t, score[i - b] + s->p.jitter * draw(l->day_seed, t)};
    }
    return open;
}

/*
 * The facet's discoveries: the @m unheard tracks nearest its centre, best first, into @out
 * (room for @m); returns how many. They are searched in the cells nearest the centre, cell
 * after cell until the open tracks seen reach a sixteenth of the catalog, capped at the
 * sweep (sweep_tracks) and at least 4 m (all cells when the catalog is small), then the best
 * @m of those are selected in linear time. The cap keeps a request's work from growing with
 * the catalog past 32,000 tracks.
 */
static int discoveries(const struct listener *l, const struct facet *f, int m, tt_scored *out)
{
    const tt_mix_space *s = l->s;
    tt_scored *cells = tt_malloc((size_t)s->n_cells * sizeof(tt_scored));
    float *cs = tt_malloc((size_t)s->n_cells * sizeof(float));
    float *score = tt_malloc(((size_t)s->max_cell + 1) * sizeof(float));
    float *q = tt_calloc((size_t)s->cd + 1, sizeof(float));
    int32_t want = s->n_tracks / 16, open = 0;
    /* Each cell is offered while fewer than @want are open: at most want - 1 + a cell. */
    tt_scored *cand;
    int n;

    if (s->p.sweep_tracks > 0 && want > s->p.sweep_tracks)
        want = s->p.sweep_tracks;
    if (want < 4 * m)
        want = 4 * m;
    cand = tt_malloc(((size_t)want + (size_t)s->max_cell + 1) * sizeof(tt_scored));
    memcpy(q, f->centre, (size_t)s->d * sizeof(float));
    for (int j = s->d; l->x && j < s->cd; j++)
        q[j] = s->p.preference_weight * l->x[j - s->d];
    score_block(f->centre, s->d, 0, 1, s->cell_centre, s->n_cells, cs);
    for (int c = 0; c < s->n_cells; c++)
        cells[c] = (tt_scored){c, cs[c]};
    qsort(cells, (size_t)s->n_cells, sizeof(tt_scored), cmp_scored_desc);
    for (int j = 0; j < s->n_cells && open < want; j++) {
        int64_t b = s->cell_ptr[cells[j].track], e = s->cell_ptr[cells[j].track + 1];
        open += offer(l, q, b, e, score, cand + open);
    }
    n = open < m ? open : m;
    if (open > n)
        tt__select_best(cand, open, n);
    qsort(cand, (size_t)n, sizeof(tt_scored), cmp_scored_desc);
    memcpy(out, cand, (size_t)n * sizeof(tt_scored));
    free(cand);
    free(q);
    free(score);
    free(cells);
    free(cs);
    return n;
}

/*
 * The facet's positives, heaviest first with a day's shuffle among near-equals, into a
 * buffer with room for all of the listener's positives (the spares are appended later).
 */
static tt_scored *familiars(const struct listener *l, const struct facet *f)
{
    tt_scored *out = tt_malloc(((size_t)l->n_pos + 1) * sizeof(tt_scored));

    for (int32_t i = 0; i < f->n_members; i++) {
        int32_t t = l->pos[f->members[i]];
        out[i].track = t;
        out[i].score = l->pos_w[f->members[i]] * (0.5f + draw(l->day_seed ^ 0x66, t));
    }
    qsort(out, (size_t)f->n_members, sizeof(tt_scored), cmp_scored_desc);
    return out;
}

/*
 * Appends to the facet's familiar list @fam (its own n_members first) the listener's spare
 * positives, nearest the facet's centre first: those no facet wants for its own mix
 * (@spare[i] set for positive i), so that a facet with fewer liked tracks than its familiar
 * share borrows ones from a facet with more, or from a facet too light to have a mix,
 * rather than leaving the listener's liked tracks unused. Returns the list's length.
 */
static int32_t add_spares(const struct listener *l, const struct facet *f, const uint8_t *spare,
                          tt_scored *fam)
{
    const tt_mix_space *s = l->s;
    int32_t n = f->n_members, b = n;
    uint8_t *own = tt_calloc((size_t)l->n_pos + 1, 1);

    for (int32_t i = 0; i < f->n_members; i++)
        own[f->members[i]] = 1;
    for (int32_t i = 0; i < l->n_pos; i++)
        if (spare[i] && !own[i])
            fam[n++] = (tt_scored){l->pos[i], dot(space_row(s, l->pos[i]), f->centre, s->d)};
    qsort(fam + b, (size_t)(n - b), sizeof(tt_scored), cmp_scored_desc);
    free(own);
    return n;
}

/*
 * Which positives are spare: all but the first @want of each facet's own familiar list
 * (@fam[c], in the order the facet takes them).
 */
static uint8_t *find_spares(const struct listener *l, const struct facet *f, int k,
                            tt_scored *const *fam, int want)
{
    uint8_t *spare = tt_malloc((size_t)l->n_pos + 1), *mark = l->used;
    int32_t i;

    /* l->used is all zero before the first mix: it marks the wanted tracks meanwhile. */
    for (int c = 0; c < k; c++)
        for (i = 0; i < f[c].n_members && i < want; i++)
            mark[fam[c][i].track] = 1;
    for (i = 0; i < l->n_pos; i++)
        spare[i] = !mark[l->pos[i]];
    for (int c = 0; c < k; c++)
        for (i = 0; i < f[c].n_members && i < want; i++)
            mark[fam[c][i].track] = 0;
    return spare;
}

/* ---- assembly ----------------------------------------------------------------------------- */

struct pool {
    const tt_scored *c;
    int n, next;
};

static int artist_count(const struct listener *l, const tt_mix_track *tr, int n, int32_t a)
{
    int k = 0;

    for (int i = 0; i < n; i++)
        k += l->s->artist[tr[i].track] == a;
    return k;
}

/* Takes up to @want tracks of @p into @tr (n so far), within the artist limit. */
static int take(struct listener *l, struct pool *p, bool familiar, int want, tt_mix_track *tr,
                int n)
{
    int max_a = l->s->p.max_per_artist > 0 ? l->s->p.max_per_artist : 1;

    for (; want > 0 && p->next < p->n; p->next++) {
        int32_t t = p->c[p->next].track;
        if (t < 0 || l->used[t] || l->state[t] == ST_BANNED)
            continue;
        if (artist_count(l, tr, n, l->s->artist[t]) >= max_a)
            continue;
        tr[n++] = (tt_mix_track){t, familiar};
        l->used[t] = 1;
        want--;
    }
    return n;
}

static int32_t artist_of(const struct listener *l, const tt_mix_track *x)
{
    return l->s->artist[x->track];
}

/* Index of the first of @q[0..n) not by @artist and not taken yet, or -1. */
static int first_other(const struct listener *l, const tt_mix_track *q, const bool *taken, int n,
                       bool familiar, int32_t artist)
{
    for (int i = 0; i < n; i++)
        if (!taken[i] && q[i].familiar == familiar && artist_of(l, &q[i]) != artist)
            return i;
    return -1;
}

/* Puts @x where neither neighbour shares its artist; false when there is no such place. */
static bool insert_spaced(const struct listener *l, tt_mix_track *out, int *n, tt_mix_track x)
{
    int32_t a = artist_of(l, &x);

    for (int i = 0; i <= *n; i++) {
        if ((i > 0 && artist_of(l, &out[i - 1]) == a) || (i < *n && artist_of(l, &out[i]) == a))
            continue;
        memmove(out + i + 1, out + i, (size_t)(*n - i) * sizeof(tt_mix_track));
        out[i] = x;
        (*n)++;
        return true;
    }
    return false;
}

/*
 * Orders the picks: familiar tracks spread evenly among the discoveries, never one artist
 * twice in a row. A track that fits nowhere is given back (unused) and the mix is shorter.
 */
static int order_mix(struct listener *l, tt_mix_track *tr, int n)
{
    tt_mix_track *out = tt_malloc(((size_t)n + 1) * sizeof(tt_mix_track));
    bool *taken = tt_calloc((size_t)n + 1, sizeof(bool));
    int nf = 0, w = 0;

    for (int i = 0; i < n; i++)
        nf += tr[i].familiar;
    for (int i = 0; i < n; i++) {
        bool fam = (int64_t)(i + 1) * nf / n > (int64_t)i * nf / n;
        int32_t last = w > 0 ? artist_of(l, &out[w - 1]) : -1;
        int j = first_other(l, tr, taken, n, fam, last);
        if (j < 0)
            j = first_other(l, tr, taken, n, !fam, last);
        if (j < 0)
            break;
        taken[j] = true;
        out[w++] = tr[j];
    }
    for (int i = 0; i < n; i++)
        if (!taken[i] && !insert_spaced(l, out, &w, tr[i]))
            l->used[tr[i].track] = 0;
    memcpy(tr, out, (size_t)w * sizeof(tt_mix_track));
    free(out);
    free(taken);
    return w;
}

/* One mix from its familiar and discovery pools. */
static void assemble(struct listener *l, struct pool *fam, struct pool *disc, int size, tt_mix *mix)
{
    int want_f = (int)lroundf(l->s->p.familiar_share * (float)size), n = 0;

    mix->tracks = tt_malloc(((size_t)size + 1) * sizeof(tt_mix_track));
    n = take(l, fam, true, want_f, mix->tracks, n);
    n = take(l, disc, false, size - n, mix->tracks, n);
    n = take(l, fam, true, size - n, mix->tracks, n);
    mix->n = order_mix(l, mix->tracks, n);
}

/* ---- names -------------------------------------------------------------------------------- */

/* The (up to 3) most frequent values >= 0 of @v[0..n), ties by first appearance. */
static int top3(const int32_t *v, int n, int32_t out[3], int counts[3])
{
    int k = 0;

    for (int r = 0; r < 3; r++) {
        int best = -1, bc = 0;
        for (int i = 0; i < n; i++) {
            bool skip = v[i] < 0;
            int c = 0;
            for (int j = 0; j < r && !skip; j++)
                skip = out[j] == v[i];
            for (int j = 0; j < i && !skip; j++)
                skip = v[j] == v[i];
            for (int j = i; j < n && !skip; j++)
                c += v[j] == v[i];
            if (!skip && c > bc) {
                best = v[i];
                bc = c;
            }
        }
        if (best < 0)
            break;
        out[k] = best;
        counts[k++] = bc;
    }
    return k;
}

static void title_case(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    bool start = true;

    for (; in[i] && i + 1 < cap; i++) {
        out[i] = start ? (char)toupper((unsigned char)in[i]) : in[i];
        start = in[i] == ' ' || in[i] == '-' || in[i] == '&' || in[i] == '/';
    }
    out[i] = '\0';
}

static bool name_taken(const tt_mix_set *set, int upto, const char *name)
{
    for (int i = 0; i < upto; i++)
        if (strcmp(set->mixes[i].name, name) == 0)
            return true;
    return false;
}

/* The mix's dominant genres (first genres of its tracks) and their counts. */
static void mix_genres(const tt_catalog *cat, tt_mix *m, int cnt[3])
{
    int32_t *g = tt_malloc(((size_t)m->n + 1) * sizeof(int32_t)), top[3];

    for (int i = 0; i < m->n; i++) {
        const int32_t *gs;
        int32_t ng;
        tt_catalog_track_genres(cat, m->tracks[i].track, &gs, &ng);
        g[i] = ng > 0 ? gs[0] : -1;
    }
    m->n_genres = top3(g, m->n, top, cnt);
    for (int i = 0; i < m->n_genres; i++)
        m->genres[i] = tt_catalog_genre_name(cat, top[i]);
    free(g);
}

/* The artists most present among the mix's familiar tracks (all its tracks when none is). */
static void mix_artists(const struct listener *l, tt_mix *m)
{
    int32_t *a = tt_malloc(((size_t)m->n + 1) * sizeof(int32_t)), top[3];
    int cnt[3], any_fam = 0;

    for (int i = 0; i < m->n; i++)
        any_fam |= m->tracks[i].familiar;
    for (int i = 0; i < m->n; i++)
        a[i] = !any_fam || m->tracks[i].familiar ? artist_of(l, &m->tracks[i]) : -1;
    m->n_seed_artists = top3(a, m->n, top, cnt);
    for (int j = 0; j < m->n_seed_artists; j++)
        for (int i = 0; i < m->n; i++)
            if (a[i] == top[j]) {
                m->seed_artists[j] = tt_catalog_track_artist(l->s->cat, m->tracks[i].track);
                break;
            }
    free(a);
}

/*
 * Genres, seed artists and a name no earlier mix of the day has: "<Genre> Mix" when one
 * genre holds at least half of the mix, or for the mix of genre @genre_of (>= 0), else
 * "<A>, <B> and more".
 */
static void describe(const struct listener *l, tt_mix_set *set, int idx, int32_t genre_of)
{
    tt_mix *m = &set->mixes[idx];
    int cnt[3] = {0};
    char genre[120] = "";

    mix_genres(l->s->cat, m, cnt);
    mix_artists(l, m);
    if (genre_of >= 0 || m->n_genres > 0)
        title_case(genre_of >= 0 ? tt_catalog_genre_name(l->s->cat, genre_of) : m->genres[0], genre,
                   sizeof(genre));
    m->name[0] = '\0';
    if (genre[0] && (genre_of >= 0 || 2 * cnt[0] >= m->n))
        snprintf(m->name, sizeof(m->name), "%s Mix", genre);
    if ((!m->name[0] || name_taken(set, idx, m->name)) && m->n_seed_artists >= 2)
        snprintf(m->name, sizeof(m->name), "%s, %s and more", m->seed_artists[0],
                 m->seed_artists[1]);
    else if ((!m->name[0] || name_taken(set, idx, m->name)) && m->n_seed_artists == 1)
        snprintf(m->name, sizeof(m->name), "%s and more", m->seed_artists[0]);
    if (!m->name[0] || name_taken(set, idx, m->name))
        snprintf(m->name, sizeof(m->name), "Daily Mix %d", idx + 1);
}

static uint64_t mix_id(const tt_mix_request *r, int idx)
{
    char buf[400];
    int n = snprintf(buf, sizeof(buf), "%s|%lld|%d", r->user_id ? r->user_id : "",
                     (long long)r->day, idx);

    uint64_t x = tt_hash64(buf, (size_t)(n < (int)sizeof(buf) ? n : (int)sizeof(buf) - 1));

    /* FNV alone leaves ids of neighbouring positions alike; mix the bits (splitmix64). */
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* ---- personal and fallback mixes ---------------------------------------------------------- */

/*
 * One facet's mix. The discoveries come from the facet's nearest 3 T + 20 open tracks; when
 * earlier mixes of the day took so many of them that the mix would be short, it is made
 * again from a deeper pool.
 */
static void facet_mix(struct listener *l, const struct facet *f, tt_scored *fam, int32_t n_fam,
                      int size, tt_mix *mix)
{
    int deep = 8 * size + 50;
    tt_scored *buf = tt_malloc((size_t)deep * sizeof(tt_scored));

    for (int m = 3 * size + 20;; m = deep) {
        struct pool pf = {fam, n_fam, 0}, pd;
        int got = discoveries(l, f, m, buf);
        pd = (struct pool){buf, got, 0};
        assemble(l, &pf, &pd, size, mix);
        if (mix->n == size || got < m || m == deep)
            break;
        for (int i = 0; i < mix->n; i++)
            l->used[mix->tracks[i].track] = 0;
        free(mix->tracks);
    }
    free(buf);
}

static void personal(struct listener *l, const tt_mix_request *r, tt_mix_set *set)
{
    struct facet f[TT_MIX_MAX_MIXES];
    tt_scored *fam[TT_MIX_MAX_MIXES];
    uint8_t *spare;
    int k;

    memset(f, 0, sizeof(f));
    drop_rowless(l);
    user_factors(l, l->user, l->fresh);
    k = find_facets(l, r->mixes, f);
    for (int c = 0; c < k; c++)
        fam[c] = familiars(l, &f[c]);
    spare = find_spares(l, f, k, fam,
                        (int)lroundf(l->s->p.familiar_share * (float)r->tracks_per_mix));
    for (int c = 0; c < k; c++) {
        tt_mix *mix = &set->mixes[set->n];
        facet_mix(l, &f[c], fam[c], add_spares(l, &f[c], spare, fam[c]), r->tracks_per_mix,
                  mix);
        if (mix->n == 0) {
            free(mix->tracks);
            *mix = (tt_mix){0};
            continue;
        }
        mix->id = mix_id(r, set->n);
        describe(l, set, set->n++, -1);
    }
    for (int c = 0; c < k; c++) {
        free(f[c].members);
        free(fam[c]);
    }
    free(spare);
}

static bool has_genre(const int32_t *g, int n, int32_t x)
{
    for (int i = 0; i < n; i++)
        if (g[i] == x)
            return true;
    return false;
}

/* Declared genres, then those of the listener's tracks, then the most popular ones. */
static int fallback_genres(const struct listener *l, const char *user, int32_t *g, int max)
{
    const tt_mix_space *s = l->s;
    int32_t u = user ? tt_catalog_user_find(s->cat, user) : -1, nd = 0, n = 0;
    const int32_t *decl = NULL;

    if (u >= 0)
        tt_catalog_user_genres(s->cat, u, &decl, &nd);
    for (int32_t i = 0; i < nd && n < max; i++)
        if (!has_genre(g, n, decl[i]))
            g[n++] = decl[i];
    for (int32_t i = 0; i < l->n_pos && n < max; i++) {
        const int32_t *tg;
        int32_t ng;
        tt_catalog_track_genres(s->cat, l->pos[i], &tg, &ng);
        if (ng > 0 && !has_genre(g, n, tg[0]))
            g[n++] = tg[0];
    }
    for (int32_t i = 0; i < s->n_order && n < max; i++)
        if (!has_genre(g, n, s->genre_order[i]))
            g[n++] = s->genre_order[i];
    return n;
}

/* A genre's most popular open tracks, reshuffled a little for the day. */
static int genre_pool(const struct listener *l, int32_t g, int m, tt_scored *out)
{
    int32_t n = 0, w = 0;
    const int32_t *rank = l->s->pop ? tt_popularity_genre_ranking(l->s->pop, g, &n) : NULL;

    for (int32_t i = 0; rank && i < n && w < m; i++) {
        int32_t t = rank[i];
        if (l->state[t] != ST_NEW || l->used[t] || avoided(l, t))
            continue;
        out[w].track = t;
        out[w].score = -(float)(w + 1) * (0.75f + 0.5f * draw(l->day_seed, t));
        w++;
    }
    qsort(out, (size_t)w, sizeof(tt_scored), cmp_scored_desc);
    return w;
}

static void fallback(struct listener *l, const tt_mix_request *r, tt_mix_set *set)
{
    int32_t g[TT_MIX_MAX_MIXES * 4];
    int ng = fallback_genres(l, r->user_id, g, TT_MIX_MAX_MIXES * 4);
    int m = 8 * r->tracks_per_mix + 50;
    tt_scored *buf = tt_malloc((size_t)m * sizeof(tt_scored));

    set->fallback = true;
    for (int i = 0; i < ng && set->n < r->mixes; i++) {
        struct pool none = {NULL, 0, 0}, pd = {buf, genre_pool(l, g[i], m, buf), 0};
        tt_mix *mix = &set->mixes[set->n];
        if (pd.n == 0)
            continue;
        assemble(l, &none, &pd, r->tracks_per_mix, mix);
        if (mix->n == 0) {
            free(mix->tracks);
            *mix = (tt_mix){0};
            continue;
        }
        mix->id = mix_id(r, set->n);
        describe(l, set, set->n++, g[i]);
    }
    free(buf);
}

int tt_mix_daily(const tt_mix_space *s, const tt_mix_request *r, tt_mix_set *out, tt_err *err)
{
    struct listener l;

    memset(out, 0, sizeof(*out));
    if (!s || !r)
        return tt_err_set(err, TT_EINVAL, "a mix space and a request are required");
    if (r->mixes < 1 || r->mixes > TT_MIX_MAX_MIXES)
        return tt_err_set_field(err, TT_EINVAL, "mixes", "mixes must be 1..%d", TT_MIX_MAX_MIXES);
    if (r->tracks_per_mix < 1 || r->tracks_per_mix > TT_MIX_MAX_TRACKS)
        return tt_err_set_field(err, TT_EINVAL, "tracks_per_mix", "tracks_per_mix must be 1..%d",
                                TT_MIX_MAX_TRACKS);
    listener_init(&l, s, r);
    if (l.n_pos >= (s->p.min_history > 0 ? s->p.min_history : 1))
        personal(&l, r, out);
    if (out->n == 0)
        fallback(&l, r, out);
    listener_release(&l);
    return 0;
}

void tt_mix_set_release(tt_mix_set *set)
{
    for (int i = 0; set && i < set->n; i++)
        free(set->mixes[i].tracks);
    if (set)
        set->n = 0;
}

/* ---- facets without mixes ------------------------------------------------------------------ */

/* Names facet @f as describe() names a mix: from a mix of the facet's own tracks. */
static void facet_describe(struct listener *l, const struct facet *f, double total,
                           tt_mix_set *named, tt_mix_facet *out)
{
    tt_mix *m = &named->mixes[named->n];

    m->tracks = tt_malloc(((size_t)f->n_members + 1) * sizeof(tt_mix_track));
    for (int32_t i = 0; i < f->n_members; i++)
        m->tracks[m->n++] = (tt_mix_track){l->pos[f->members[i]], true};
    describe(l, named, named->n++, -1);
    memset(out, 0, sizeof(*out));
    memcpy(out->name, m->name, sizeof(out->name));
    out->n_genres = m->n_genres;
    out->n_seed_artists = m->n_seed_artists;
    memcpy(out->genres, m->genres, sizeof(out->genres));
    memcpy(out->seed_artists, m->seed_artists, sizeof(out->seed_artists));
    out->n_tracks = f->n_members;
    out->share = total > 0 ? (float)(f->weight / total) : 0.0f;
}

int tt_mix_facets(const tt_mix_space *s, const tt_mix_request *r, tt_mix_facet *out, int *n,
                  tt_err *err)
{
    struct facet f[TT_MIX_MAX_MIXES];
    tt_mix_set named = {0};
    struct listener l;
    double total = 0;
    int k = 0;

    *n = 0;
    if (!s || !r)
        return tt_err_set(err, TT_EINVAL, "a mix space and a request are required");
    if (r->mixes < 1 || r->mixes > TT_MIX_MAX_MIXES)
        return tt_err_set_field(err, TT_EINVAL, "mixes", "mixes must be 1..%d", TT_MIX_MAX_MIXES);
    memset(f, 0, sizeof(f));
    listener_init(&l, s, r);
    if (l.n_pos >= (s->p.min_history > 0 ? s->p.min_history : 1)) {
        drop_rowless(&l);
        for (int32_t i = 0; i < l.n_pos; i++)
            total += l.pos_w[i];
        k = l.n_pos > 0 ? find_facets(&l, r->mixes, f) : 0;
    }
    for (int c = 0; c < k; c++) {
        facet_describe(&l, &f[c], total, &named, &out[c]);
        free(f[c].members);
    }
    *n = k;
    tt_mix_set_release(&named);
    listener_release(&l);
    return 0;
}
