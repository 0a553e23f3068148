/*
 * Taste profiles (tt/taste.h): one listener's figures from their own events, placed in the
 * population through quantiles computed once at training time.
 *
 * Why quantiles and not the population's raw values: 101 floats per figure answer "what
 * percentile is this value" to within a percentile point, in a few comparisons, from a file
 * of a few kilobytes; a request never reads another listener's events. The training pass
 * computes every listener's profile with the very function the service uses, so a
 * listener's percentile is measured against figures defined the same way.
 */
#include "tt/core.h"
#include "tt/modelfile.h"
#include "tt/taste.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DAY 86400

struct tt_taste {
    tt_mfile *f; /* the loaded file, or NULL for a summary built in memory */
    uint64_t catalog;
    int64_t created_at;
    int32_t n_tracks, n_genres, n_artists;
    const int32_t *track_artist, *track_genre;
    const float *features;   /* n_tracks x TT_N_FEATURES, NAN unknown */
    const float *popularity; /* percentile per track */
    const float *quantiles;  /* TT_TASTE_N_STATS x TT_TASTE_QUANTILES */
    const int64_t *population;
    const char **genre_names, **artist_names;
    void *owned[6]; /* arrays of a built summary */
    char **owned_names;
    int64_t n_owned_names;
};

static const char *const stat_names[TT_TASTE_FEATURE] = {"genre_entropy", "artists_per_100_plays",
                                                         "mainstream", "discovery_rate"};

const char *tt_taste_stat_name(int stat)
{
    if (stat < 0 || stat >= TT_TASTE_N_STATS)
        return NULL;
    return stat < TT_TASTE_FEATURE ? stat_names[stat] : tt_feature_name(stat - TT_TASTE_FEATURE);
}

/* ---- accessors ---------------------------------------------------------------------------- */

int32_t tt_taste_n_tracks(const tt_taste *t)
{
    return t->n_tracks;
}
int32_t tt_taste_n_genres(const tt_taste *t)
{
    return t->n_genres;
}
int64_t tt_taste_created_at(const tt_taste *t)
{
    return t->created_at;
}

int64_t tt_taste_population(const tt_taste *t, int stat)
{
    return stat >= 0 && stat < TT_TASTE_N_STATS ? t->population[stat] : 0;
}

const char *tt_taste_genre_name(const tt_taste *t, int32_t g)
{
    return g >= 0 && g < t->n_genres ? t->genre_names[g] : "";
}

const char *tt_taste_artist_name(const tt_taste *t, int32_t a)
{
    return a >= 0 && a < t->n_artists ? t->artist_names[a] : "";
}

int32_t tt_taste_track_artist(const tt_taste *t, int32_t track)
{
    return track >= 0 && track < t->n_tracks ? t->track_artist[track] : -1;
}

int32_t tt_taste_track_genre(const tt_taste *t, int32_t track)
{
    return track >= 0 && track < t->n_tracks ? t->track_genre[track] : -1;
}

double tt_taste_track_popularity(const tt_taste *t, int32_t track)
{
    return track >= 0 && track < t->n_tracks ? t->popularity[track] : NAN;
}

const float *tt_taste_quantiles(const tt_taste *t, int stat)
{
    return t->quantiles + (size_t)stat * TT_TASTE_QUANTILES;
}

double tt_taste_percentile(const tt_taste *t, int stat, double v)
{
    const float *q;
    int a = 0, b = TT_TASTE_QUANTILES - 1;

    if (!t || stat < 0 || stat >= TT_TASTE_N_STATS || isnan(v) || t->population[stat] == 0)
        return NAN;
    q = tt_taste_quantiles(t, stat);
    /* a: the first quantile >= v; b: the last quantile <= v. */
    while (a < TT_TASTE_QUANTILES && q[a] < v)
        a++;
    while (b >= 0 && q[b] > v)
        b--;
    if (a <= b)
        return (a + b) / 2.0;
    if (b < 0)
        return 0;
    if (a >= TT_TASTE_QUANTILES)
        return 100;
    return b + (v - q[b]) / ((double)q[a] - q[b]);
}

/* ---- one listener's profile ---------------------------------------------------------------- */

struct play {
    int32_t track, artist, genre;
    bool recent;
    double w;
    int64_t time;
};

static int cmp_play_artist(const void *a, const void *b)
{
    const struct play *x = a, *y = b;

    if (x->artist != y->artist)
        return (x->artist > y->artist) - (x->artist < y->artist);
    return (x->time > y->time) - (x->time < y->time);
}

static int cmp_share_desc(const void *a, const void *b)
{
    const tt_taste_share *x = a, *y = b;

    if (x->plays != y->plays)
        return x->plays < y->plays ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The plays among @ev, with their tracks' artists and genres; returns how many. */
static int64_t collect(const tt_taste *t, const tt_taste_event *ev, int64_t n, struct play *p,
                       tt_taste_profile *out)
{
    int64_t k = 0;

    for (int64_t i = 0; i < n; i++) {
        if (ev[i].action != TT_ACT_PLAY)
            continue;
        if (ev[i].track < 0 || ev[i].track >= t->n_tracks) {
            out->unknown_plays++;
            continue;
        }
        p[k] = (struct play){
            ev[i].track, t->track_artist[ev[i].track],          t->track_genre[ev[i].track],
            false,       ev[i].weight > 0 ? ev[i].weight : 1.0, ev[i].time};
        k++;
    }
    return k;
}

/* The window ends at the newest play; sets each play's recent flag and the play totals. */
static void window(struct play *p, int64_t n, tt_taste_profile *out)
{
    out->first_play = p[0].time;
    out->last_play = p[0].time;
    for (int64_t i = 1; i < n; i++) {
        out->first_play = p[i].time < out->first_play ? p[i].time : out->first_play;
        out->last_play = p[i].time > out->last_play ? p[i].time : out->last_play;
    }
    out->window_start = out->last_play - (int64_t)TT_TASTE_WINDOW_DAYS * DAY;
    for (int64_t i = 0; i < n; i++) {
        p[i].recent = p[i].time > out->window_start;
        out->plays += p[i].w;
        *(p[i].recent ? &out->plays_recent : &out->plays_before) += p[i].w;
    }
}

/* The @k heaviest of @v[0..n) into @top, shares over @total; returns how many. */
static int top_of(tt_taste_share *v, int64_t n, double total, tt_taste_share *top, int k)
{
    int m = 0;

    qsort(v, (size_t)n, sizeof(*v), cmp_share_desc);
    for (int64_t i = 0; i < n && m < k; i++)
        if (v[i].plays > 0) {
            top[m] = v[i];
            top[m++].share = total > 0 ? v[i].plays / total : 0;
        }
    return m;
}

/*
 * Artists: top lists, distinct count and discovery (artists whose first play is in the
 * window). @p is sorted by artist here.
 */
static void artists(struct play *p, int64_t n, tt_taste_profile *out)
{
    tt_taste_share *all = tt_malloc(((size_t)n + 1) * sizeof(*all));
    tt_taste_share *rec = tt_malloc(((size_t)n + 1) * sizeof(*rec));
    double fresh = 0;
    int64_t m = 0;

    qsort(p, (size_t)n, sizeof(*p), cmp_play_artist);
    for (int64_t i = 0; i < n;) {
        int32_t a = p[i].artist;
        bool is_new = p[i].recent; /* sorted by time: the first play is the earliest */
        all[m] = rec[m] = (tt_taste_share){a, 0, 0};
        for (; i < n && p[i].artist == a; i++) {
            all[m].plays += p[i].w;
            rec[m].plays += p[i].recent ? p[i].w : 0;
            fresh += is_new && p[i].recent ? p[i].w : 0;
        }
        m++;
    }
    out->distinct_artists = m;
    out->value[TT_TASTE_ARTISTS_PER_100] = 100.0 * (double)m / out->plays;
    out->value[TT_TASTE_DISCOVERY] = out->plays_recent > 0 ? fresh / out->plays_recent : NAN;
    out->n_artists = top_of(all, m, out->plays, out->artists, TT_TASTE_TOP);
    out->n_artists_recent = top_of(rec, m, out->plays_recent, out->artists_recent, TT_TASTE_TOP);
    free(all);
    free(rec);
}

static int cmp_delta_desc(const void *a, const void *b)
{
    const tt_taste_delta *x = a, *y = b;

    if (x->delta != y->delta)
        return x->delta < y->delta ? 1 : -1;
    return (x->genre > y->genre) - (x->genre < y->genre);
}

/* Genres whose share moved most between before and in the window. */
static void trend(int32_t ng, const double *rec, double rec_total, const double *bef,
                  double bef_total, tt_taste_profile *out)
{
    tt_taste_delta *d = tt_malloc(((size_t)ng + 1) * sizeof(*d));

    if (!(rec_total > 0 && bef_total > 0)) {
        free(d);
        return;
    }
    for (int32_t g = 0; g < ng; g++) {
        d[g] = (tt_taste_delta){g, rec[g] / rec_total, bef[g] / bef_total, 0};
        d[g].delta = d[g].recent - d[g].before;
    }
    qsort(d, (size_t)ng, sizeof(*d), cmp_delta_desc);
    for (int32_t g = 0; g < ng && out->n_rising < TT_TASTE_TREND && d[g].delta > 0; g++)
        out->rising[out->n_rising++] = d[g];
    for (int32_t g = ng - 1; g >= 0 && out->n_falling < TT_TASTE_TREND && d[g].delta < 0; g--)
        out->falling[out->n_falling++] = d[g];
    free(d);
}

static void top_genres(int32_t ng, const double *v, double total, tt_taste_share *top, int *n)
{
    tt_taste_share *s = tt_malloc(((size_t)ng + 1) * sizeof(*s));

    for (int32_t g = 0; g < ng; g++)
        s[g] = (tt_taste_share){g, v[g], 0};
    *n = top_of(s, ng, total, top, TT_TASTE_TOP);
    free(s);
}

/*
 * Genres: shares over the plays of tracks that have a genre; entropy normalised by the log
 * of the catalog's genre count (1: plays spread evenly over every genre), 0 for a catalog of
 * one genre.
 */
static void genres(const tt_taste *t, const struct play *p, int64_t n, tt_taste_profile *out)
{
    int32_t ng = t->n_genres;
    double *all = tt_calloc((size_t)ng * 3 + 1, sizeof(double)), *rec = all + ng, *bef = rec + ng;
    double tot[3] = {0}, h = 0;

    for (int64_t i = 0; i < n; i++) {
        if (p[i].genre < 0)
            continue;
        all[p[i].genre] += p[i].w;
        *(p[i].recent ? &rec[p[i].genre] : &bef[p[i].genre]) += p[i].w;
        tot[0] += p[i].w;
        tot[p[i].recent ? 1 : 2] += p[i].w;
    }
    for (int32_t g = 0; g < ng; g++) {
        double x = tot[0] > 0 ? all[g] / tot[0] : 0;
        h -= x > 0 ? x * log(x) : 0;
        out->distinct_genres += all[g] > 0;
    }
    out->value[TT_TASTE_ENTROPY] = tot[0] > 0 ? (ng >= 2 ? h / log((double)ng) : 0) : NAN;
    top_genres(ng, all, tot[0], out->genres, &out->n_genres);
    top_genres(ng, rec, tot[1], out->genres_recent, &out->n_genres_recent);
    trend(ng, rec, tot[1], bef, tot[2], out);
    free(all);
}

/*
 * Play-weighted means of each feature (all plays, in and before the window) and mainstream,
 * in one pass over the plays: each track's features are read once.
 */
static void features(const tt_taste *t, const struct play *p, int64_t n, tt_taste_profile *out)
{
    double s[3][TT_N_FEATURES] = {{0}}, w[3][TT_N_FEATURES] = {{0}}, pop = 0, pop_w = 0;

    for (int64_t i = 0; i < n; i++) {
        const float *x = t->features + (size_t)p[i].track * TT_N_FEATURES;
        int part = p[i].recent ? 1 : 2;
        for (int f = 0; f < TT_N_FEATURES; f++) {
            if (isnan(x[f]))
                continue;
            s[0][f] += p[i].w * x[f];
            w[0][f] += p[i].w;
            s[part][f] += p[i].w * x[f];
            w[part][f] += p[i].w;
        }
        pop += p[i].w * t->popularity[p[i].track];
        pop_w += p[i].w;
    }
    for (int f = 0; f < TT_N_FEATURES; f++) {
        out->value[TT_TASTE_FEATURE + f] = w[0][f] > 0 ? s[0][f] / w[0][f] : NAN;
        out->feature_recent[f] = w[1][f] > 0 ? s[1][f] / w[1][f] : NAN;
        out->feature_before[f] = w[2][f] > 0 ? s[2][f] / w[2][f] : NAN;
    }
    out->value[TT_TASTE_MAINSTREAM] = pop_w > 0 ? pop / pop_w : NAN;
}

static void clock_pattern(const struct play *p, int64_t n, const tt_tz *tz, tt_taste_profile *out)
{
    for (int64_t i = 0; i < n; i++) {
        int h, d;
        tt_tz_local(tz, p[i].time, &h, &d);
        out->hours[h] += p[i].w;
        out->weekdays[d] += p[i].w;
    }
}

static void profile_reset(tt_taste_profile *out)
{
    memset(out, 0, sizeof(*out));
    for (int s = 0; s < TT_TASTE_N_STATS; s++)
        out->value[s] = out->percentile[s] = NAN;
    for (int f = 0; f < TT_N_FEATURES; f++)
        out->feature_recent[f] = out->feature_before[f] = NAN;
}

/* Everything but the percentiles. */
static void profile_values(const tt_taste *t, const tt_taste_event *ev, int64_t n, const tt_tz *tz,
                           struct play *p, tt_taste_profile *out)
{
    int64_t k;

    profile_reset(out);
    k = collect(t, ev, n, p, out);
    if (k > 0) {
        window(p, k, out);
        genres(t, p, k, out);
        features(t, p, k, out);
        clock_pattern(p, k, tz, out);
        artists(p, k, out); /* last: it sorts the plays */
    }
    out->sparse = out->plays < TT_TASTE_SPARSE_PLAYS;
}

int tt_taste_profile_compute(const tt_taste *t, const tt_taste_event *ev, int64_t n,
                             const tt_tz *tz, tt_taste_profile *out, tt_err *err)
{
    struct play *p;

    if (!t || (!ev && n > 0) || n < 0 || !out)
        return tt_err_set(err, TT_EINVAL, "a summary, events and a profile are required");
    p = tt_malloc(((size_t)n + 1) * sizeof(*p));
    profile_values(t, ev, n, tz, p, out);
    free(p);
    for (int s = 0; s < TT_TASTE_N_STATS; s++)
        out->percentile[s] = tt_taste_percentile(t, s, out->value[s]);
    return 0;
}

/* ---- the population summary ------------------------------------------------------------- */

void tt_taste_free(tt_taste *t)
{
    if (!t)
        return;
    for (int i = 0; i < 6; i++)
        free(t->owned[i]);
    for (int64_t i = 0; i < t->n_owned_names; i++)
        free(t->owned_names[i]);
    free(t->owned_names);
    free(t->genre_names);
    free(t->artist_names);
    tt_mfile_close(t->f);
    free(t);
}

static int cmp_float_idx(const void *a, const void *b, void *ctx)
{
    const double *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (v[x] > v[y]) - (v[x] < v[y]);
}

/*
 * Popularity percentile of each track, by mid-rank: 100 (below + equal / 2) / n, from its
 * weighted plays in the training data, so tracks nobody played share the lowest rank.
 */
static float *popularity_percentiles(const tt_dataset *ds, int32_t nt)
{
    double *plays = tt_calloc((size_t)nt + 1, sizeof(double));
    int32_t *order = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    float *pct = tt_calloc((size_t)nt + 1, sizeof(float));

    for (int64_t i = 0; i < ds->n_events; i++)
        if (ds->ev_action[i] == TT_ACT_PLAY && ds->ev_track[i] >= 0 && ds->ev_track[i] < nt)
            plays[ds->ev_track[i]] += ds->ev_weight[i] > 0 ? ds->ev_weight[i] : 1.0;
    for (int32_t i = 0; i < nt; i++)
        order[i] = i;
    qsort_r(order, (size_t)nt, sizeof(int32_t), cmp_float_idx, plays);
    for (int32_t i = 0; i < nt;) {
        int32_t j = i;
        while (j < nt && plays[order[j]] == plays[order[i]])
            j++;
        for (int32_t k = i; k < j; k++)
            pct[order[k]] = (float)(100.0 * (i + (j - i) / 2.0) / nt);
        i = j;
    }
    free(plays);
    free(order);
    return pct;
}

static void track_tables(tt_taste *t, const tt_dataset *ds)
{
    int32_t nt = t->n_tracks, *genre = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    int32_t *artist = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    float *feat = tt_malloc(((size_t)nt * TT_N_FEATURES + 1) * sizeof(float));

    for (int32_t i = 0; i < nt; i++) {
        int64_t g0 = ds->track_genre_ptr[i];
        genre[i] = g0 < ds->track_genre_ptr[i + 1] ? ds->track_genre[g0] : -1;
        artist[i] = ds->track_artist[i];
    }
    if (nt > 0)
        memcpy(feat, ds->features, (size_t)nt * TT_N_FEATURES * sizeof(float));
    t->owned[0] = genre;
    t->owned[1] = artist;
    t->owned[2] = feat;
    t->owned[3] = popularity_percentiles(ds, nt);
    t->track_genre = genre;
    t->track_artist = artist;
    t->features = feat;
    t->popularity = t->owned[3];
}

/* Copies of @n names (from @ids when @names is NULL): a built summary outlives its dataset. */
static const char **copy_names(tt_taste *t, const tt_ids *ids, const char *const *names, int32_t n)
{
    const char **v = tt_malloc(((size_t)n + 1) * sizeof(char *));
    size_t grown = (size_t)t->n_owned_names + n + 1;

    t->owned_names = tt_realloc(t->owned_names, grown * sizeof(char *));
    for (int32_t i = 0; i < n; i++) {
        const char *s = names ? names[i] : tt_ids_name(ids, i);
        v[i] = t->owned_names[t->n_owned_names++] = tt_strdup(s ? s : "");
    }
    return v;
}

/* Quantile @q (0..1) of sorted @v[0..n) with linear interpolation (Hyndman and Fan type 7). */
static double quantile(const double *v, int64_t n, double q)
{
    double h = q * (double)(n - 1);
    int64_t lo = (int64_t)floor(h);

    if (lo >= n - 1)
        return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill_quantiles(float *q, double *v, int64_t n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    for (int i = 0; i < TT_TASTE_QUANTILES; i++)
        q[i] = n > 0 ? (float)quantile(v, n, i / (double)(TT_TASTE_QUANTILES - 1)) : NAN;
}

/* Event indexes grouped by user (counting sort): user u's are idx[ptr[u] .. ptr[u + 1]). */
static void group_by_user(const tt_dataset *ds, int32_t nu, int64_t *ptr, int64_t *idx)
{
    int64_t *fill = tt_calloc((size_t)nu + 1, sizeof(int64_t));

    for (int64_t i = 0; i < ds->n_events; i++)
        ptr[ds->ev_user[i] + 1]++;
    for (int32_t u = 0; u < nu; u++)
        ptr[u + 1] += ptr[u];
    for (int64_t i = 0; i < ds->n_events; i++) {
        int32_t u = ds->ev_user[i];
        idx[ptr[u] + fill[u]++] = i;
    }
    free(fill);
}

/*
 * Every listener's figures, the same function as the service's, collected over the
 * listeners with enough plays; then each figure's quantiles.
 */
static void population(tt_taste *t, const tt_dataset *ds)
{
    int32_t nu = tt_dataset_n_users(ds);
    int64_t *ptr = tt_calloc((size_t)nu + 2, sizeof(int64_t));
    int64_t *idx = tt_malloc(((size_t)ds->n_events + 1) * sizeof(int64_t));
    tt_taste_event *ev = tt_malloc(((size_t)ds->n_events + 1) * sizeof(*ev));
    struct play *p = tt_malloc(((size_t)ds->n_events + 1) * sizeof(*p));
    double *vals = tt_malloc(((size_t)nu * TT_TASTE_N_STATS + 1) * sizeof(double));
    int64_t *cnt = tt_calloc(TT_TASTE_N_STATS, sizeof(int64_t));
    float *q = tt_malloc((size_t)TT_TASTE_N_STATS * TT_TASTE_QUANTILES * sizeof(float));
    tt_taste_profile *prof = tt_malloc(sizeof(*prof));

    group_by_user(ds, nu, ptr, idx);
    for (int32_t u = 0; u < nu; u++) {
        int64_t n = 0;
        for (int64_t j = ptr[u]; j < ptr[u + 1]; j++, n++) {
            int64_t i = idx[j];
            ev[n] = (tt_taste_event){ds->ev_track[i], (enum tt_action)ds->ev_action[i],
                                     ds->ev_weight[i], tt_dataset_event_time(ds, i)};
        }
        profile_values(t, ev, n, NULL, p, prof);
        for (int s = 0; !prof->sparse && s < TT_TASTE_N_STATS; s++)
            if (!isnan(prof->value[s]))
                vals[(size_t)s * nu + cnt[s]++] = prof->value[s];
    }
    for (int s = 0; s < TT_TASTE_N_STATS; s++)
        fill_quantiles(q + (size_t)s * TT_TASTE_QUANTILES, vals + (size_t)s * nu, cnt[s]);
    t->owned[4] = q;
    t->owned[5] = cnt;
    t->quantiles = q;
    t->population = cnt;
    free(prof);
    free(vals);
    free(p);
    free(ev);
    free(idx);
    free(ptr);
}

int tt_taste_build(const tt_dataset *ds, uint64_t catalog, tt_taste **out, tt_err *err)
{
    tt_taste *t;

    if (!ds || !out)
        return tt_err_set(err, TT_EINVAL, "a dataset is required");
    t = tt_calloc(1, sizeof(*t));
    t->catalog = catalog;
    t->created_at = tt_unix_time();
    t->n_tracks = tt_dataset_n_tracks(ds);
    t->n_genres = tt_dataset_n_genres(ds);
    t->n_artists = tt_dataset_n_artists(ds);
    t->genre_names = copy_names(t, ds->genres, NULL, t->n_genres);
    t->artist_names = copy_names(t, ds->artists, ds->artist_names, t->n_artists);
    track_tables(t, ds);
    population(t, ds);
    *out = t;
    return 0;
}

/* ---- the file ----------------------------------------------------------------------------- */

struct taste_meta {
    int32_t n_tracks, n_genres, n_artists, n_stats, n_quantiles, sparse_plays, window_days;
};

static const tt_mfield meta_fields[] = {
    {"n_tracks", TT_MF_I32, TT_MF_AT(struct taste_meta, n_tracks), .lo = 0, .hi = INT32_MAX},
    {"n_genres", TT_MF_I32, TT_MF_AT(struct taste_meta, n_genres), .lo = 0, .hi = INT32_MAX},
    {"n_artists", TT_MF_I32, TT_MF_AT(struct taste_meta, n_artists), .lo = 0, .hi = INT32_MAX},
    {"n_stats", TT_MF_I32, TT_MF_AT(struct taste_meta, n_stats), .lo = 1, .hi = 4096},
    {"n_quantiles", TT_MF_I32, TT_MF_AT(struct taste_meta, n_quantiles), .lo = 2, .hi = 4096},
    {"sparse_plays", TT_MF_I32, TT_MF_AT(struct taste_meta, sparse_plays), .lo = 0, .hi = 1e9},
    {"window_days", TT_MF_I32, TT_MF_AT(struct taste_meta, window_days), .lo = 1, .hi = 1e6},
};
#define N_META (int)(sizeof(meta_fields) / sizeof(meta_fields[0]))

static int save_sections(const tt_taste *t, tt_mfile_writer *w, tt_err *err)
{
    struct taste_meta m = {t->n_tracks,         t->n_genres,        t->n_artists,
                           TT_TASTE_N_STATS,    TT_TASTE_QUANTILES, TT_TASTE_SPARSE_PLAYS,
                           TT_TASTE_WINDOW_DAYS};
    const char *stats[TT_TASTE_N_STATS];
    int rc = tt_mfile_put_meta(w, meta_fields, N_META, &m, err);

    for (int s = 0; s < TT_TASTE_N_STATS; s++)
        stats[s] = tt_taste_stat_name(s);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "stat_names", stats, TT_TASTE_N_STATS, err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "genre_names", t->genre_names, t->n_genres, err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "artist_names", t->artist_names, t->n_artists, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_artist", TT_DT_I32, t->n_tracks, 1, t->track_artist, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_genre", TT_DT_I32, t->n_tracks, 1, t->track_genre, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "features", TT_DT_F32, t->n_tracks, TT_N_FEATURES, t->features, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "popularity", TT_DT_F32, t->n_tracks, 1, t->popularity, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "quantiles", TT_DT_F32, TT_TASTE_N_STATS, TT_TASTE_QUANTILES,
                          t->quantiles, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "population", TT_DT_I64, TT_TASTE_N_STATS, 1, t->population, err);
    return rc;
}

int tt_taste_save(const tt_taste *t, const char *path, tt_err *err)
{
    tt_mfile_writer *w;
    int rc;

    if (!t || !path)
        return tt_err_set(err, TT_EINVAL, "a summary and a path are required");
    rc = tt_mfile_create(path, "taste", t->catalog, &w, err);
    if (rc < 0)
        return rc;
    rc = save_sections(t, w, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

static int refuse(const tt_taste *t, tt_err *err, const char *what)
{
    return tt_err_set(err, TT_ECORRUPT, "taste summary %s refused: %s", tt_mfile_path(t->f), what);
}

static int get_array(const tt_taste *t, const char *name, enum tt_dtype dt, int64_t rows,
                     int64_t cols, const void **out, tt_err *err)
{
    return tt_mfile_get(t->f, name, dt, &rows, &cols, out, err);
}

static int load_names(tt_taste *t, const char *name, int32_t n, const char ***out, tt_err *err)
{
    return tt_mfile_strings_new(t->f, name, n, out, err);
}

/* The stored figures must be ours, in our order: a file of another engine is refused. */
static int check_stats(tt_taste *t, const struct taste_meta *m, tt_err *err)
{
    const char *names[TT_TASTE_N_STATS];

    if (m->n_stats != TT_TASTE_N_STATS || m->n_quantiles != TT_TASTE_QUANTILES)
        return refuse(t, err, "its figures or quantiles are not this engine's (retrain)");
    if (tt_mfile_strings(t->f, "stat_names", TT_TASTE_N_STATS, names, err) < 0)
        return TT_ECORRUPT;
    for (int s = 0; s < TT_TASTE_N_STATS; s++)
        if (strcmp(names[s], tt_taste_stat_name(s)) != 0)
            return refuse(t, err, "its figures are not this engine's (retrain)");
    return 0;
}

static int check_values(tt_taste *t, tt_err *err)
{
    if (!tt_mfile_ids_valid(t->track_artist, t->n_tracks, t->n_artists))
        return refuse(t, err, "a track's artist is out of range");
    for (int32_t i = 0; i < t->n_tracks; i++) {
        if (t->track_genre[i] < -1 || t->track_genre[i] >= t->n_genres)
            return refuse(t, err, "a track's genre is out of range");
        if (!(t->popularity[i] >= 0 && t->popularity[i] <= 100))
            return refuse(t, err, "a popularity percentile is outside 0..100");
    }
    for (int s = 0; s < TT_TASTE_N_STATS; s++) {
        const float *q = tt_taste_quantiles(t, s);
        if (t->population[s] < 0)
            return refuse(t, err, "a population count is negative");
        for (int i = 1; t->population[s] > 0 && i < TT_TASTE_QUANTILES; i++)
            if (!(q[i] >= q[i - 1]))
                return refuse(t, err, "quantiles are not in increasing order");
    }
    return 0;
}

static int load_sections(tt_taste *t, tt_err *err)
{
    struct taste_meta m;
    const void *p[7];
    int rc = tt_mfile_get_meta(t->f, meta_fields, N_META, &m, err);

    if (rc == 0)
        rc = check_stats(t, &m, err);
    if (rc < 0)
        return rc;
    t->n_tracks = m.n_tracks;
    t->n_genres = m.n_genres;
    t->n_artists = m.n_artists;
    rc = load_names(t, "genre_names", m.n_genres, &t->genre_names, err);
    if (rc == 0)
        rc = load_names(t, "artist_names", m.n_artists, &t->artist_names, err);
    if (rc == 0)
        rc = get_array(t, "track_artist", TT_DT_I32, m.n_tracks, 1, &p[0], err);
    if (rc == 0)
        rc = get_array(t, "track_genre", TT_DT_I32, m.n_tracks, 1, &p[1], err);
    if (rc == 0)
        rc = get_array(t, "features", TT_DT_F32, m.n_tracks, TT_N_FEATURES, &p[2], err);
    if (rc == 0)
        rc = get_array(t, "popularity", TT_DT_F32, m.n_tracks, 1, &p[3], err);
    if (rc == 0)
        rc = get_array(t, "quantiles", TT_DT_F32, TT_TASTE_N_STATS, TT_TASTE_QUANTILES, &p[4], err);
    if (rc == 0)
        rc = get_array(t, "population", TT_DT_I64, TT_TASTE_N_STATS, 1, &p[5], err);
    if (rc < 0)
        return rc;
    t->track_artist = p[0];
    t->track_genre = p[1];
    t->features = p[2];
    t->popularity = p[3];
    t->quantiles = p[4];
    t->population = p[5];
    return check_values(t, err);
}

int tt_taste_load(const char *path, uint64_t catalog, tt_taste **out, tt_err *err)
{
    tt_taste *t = tt_calloc(1, sizeof(*t));
    int rc = tt_mfile_open(path, &t->f, err);

    if (rc == 0 && strcmp(tt_mfile_kind(t->f), "taste") != 0)
        rc = refuse(t, err, "it is not a taste summary");
    if (rc == 0 && catalog != 0 && tt_mfile_catalog(t->f) != catalog)
        rc = refuse(t, err, "it was made for another catalog (retrain the pro tier)");
    if (rc == 0)
        rc = load_sections(t, err);
    if (rc < 0) {
        tt_taste_free(t);
        return rc;
    }
    t->catalog = tt_mfile_catalog(t->f);
    t->created_at = tt_mfile_created_at(t->f);
    *out = t;
    return 0;
}
