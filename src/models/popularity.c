/*
 * Popularity and trending models: a score per track and the catalog pre-sorted by it,
 * overall and within each genre.
 */
#include "tt/popularity.h"
#include "tt/core.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct pop_model {
    tt_model base;
    enum tt_pop_mode mode;
    double half_life_days;
    int32_t n_genres;
    const float *score;     /* n_tracks */
    const int32_t *order;   /* n_tracks, best first */
    const int64_t *g_ptr;   /* n_genres + 1 */
    const int32_t *g_order; /* tracks of each genre, best first */
    const int64_t *ua_ptr;  /* genre mode: n_users + 1 offsets of user affinities */
    const int32_t *ua_genre;
    const float *ua_weight; /* sums to 1 per user */
    const int64_t *tg_ptr;  /* n_tracks + 1 offsets of each track's genres */
    const int32_t *tg;
    void *owned[9];
    tt_mfile *file;
} pop_model;

static const struct tt_model_ops pop_ops;

/* Each mode's model name, in the order of enum tt_pop_mode; model files store it too. */
#define N_MODES 3
static const char *const mode_names[N_MODES] = {"popularity", "trending", "genre"};

static void pop_set_mode(pop_model *m, enum tt_pop_mode mode)
{
    snprintf(m->base.name, sizeof(m->base.name), "%s", mode_names[mode]);
    m->mode = mode;
}

static pop_model *pop_new(enum tt_pop_mode mode)
{
    pop_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &pop_ops;
    pop_set_mode(m, mode);
    return m;
}

/* One user's affinity accumulator: at most a few dozen genres, so a flat list is enough. */
struct affinity {
    int32_t genre[64];
    float weight[64];
    int n;
};

static void affinity_add(struct affinity *a, int32_t g, float w)
{
    for (int i = 0; i < a->n; i++) {
        if (a->genre[i] == g) {
            a->weight[i] += w;
            return;
        }
    }
    if (a->n < 64) {
        a->genre[a->n] = g;
        a->weight[a->n++] = w;
    }
}

/* Keeps the TT_GENRE_MAX_PER_USER strongest genres, strongest first, summing to 1. */
static void affinity_normalise(struct affinity *a)
{
    float total = 0.0f;

    for (int i = 0; i < a->n; i++) {
        int best = i;
        for (int j = i + 1; j < a->n; j++)
            if (a->weight[j] > a->weight[best] ||
                (a->weight[j] == a->weight[best] && a->genre[j] < a->genre[best]))
                best = j;
        float w = a->weight[i];
        int32_t g = a->genre[i];
        a->weight[i] = a->weight[best], a->genre[i] = a->genre[best];
        a->weight[best] = w, a->genre[best] = g;
    }
    if (a->n > TT_GENRE_MAX_PER_USER)
        a->n = TT_GENRE_MAX_PER_USER;
    for (int i = 0; i < a->n; i++)
        total += a->weight[i];
    for (int i = 0; i < a->n && total > 0.0f; i++)
        a->weight[i] /= total;
}

/* Each liked track spreads one unit over its genres: breadth of taste, not play volume. */
static void affinity_from_tracks(const pop_model *m, const int32_t *tracks, int64_t n,
                                 struct affinity *a)
{
    a->n = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t t = tracks[i];
        if (t < 0 || t >= m->base.n_tracks)
            continue;
        int64_t b = m->tg_ptr[t], e = m->tg_ptr[t + 1];
        for (int64_t j = b; j < e; j++)
            affinity_add(a, m->tg[j], 1.0f / (float)(e - b));
    }
}

static void copy_track_genres(const tt_dataset *ds, pop_model *m)
{
    int32_t nt = m->base.n_tracks;
    int64_t n = ds->track_genre_ptr[nt];
    int64_t *ptr = tt_malloc(((size_t)nt + 1) * sizeof(int64_t));
    int32_t *g = tt_malloc(((size_t)n + 1) * sizeof(int32_t));

    memcpy(ptr, ds->track_genre_ptr, ((size_t)nt + 1) * sizeof(int64_t));
    if (n > 0) /* a catalog without genres may have no genre array at all */
        memcpy(g, ds->track_genre, (size_t)n * sizeof(int32_t));
    m->tg_ptr = m->owned[7] = ptr;
    m->tg = m->owned[8] = g;
}

static void user_affinities(const tt_train_set *ts, pop_model *m)
{
    const tt_dataset *ds = ts->ds;
    int32_t nu = ts->conf.rows;
    int64_t *ptr = tt_malloc(((size_t)nu + 1) * sizeof(int64_t));
    int32_t *gen = tt_malloc(((size_t)nu * TT_GENRE_MAX_PER_USER + 1) * sizeof(int32_t));
    float *wt = tt_malloc(((size_t)nu * TT_GENRE_MAX_PER_USER + 1) * sizeof(float));
    struct affinity a;

    ptr[0] = 0;
    for (int32_t u = 0; u < nu; u++) {
        int64_t o = ts->conf.indptr[u];
        affinity_from_tracks(m, ts->conf.indices + o, ts->conf.indptr[u + 1] - o, &a);
        if (a.n == 0 && u < tt_dataset_n_users(ds))
            for (int64_t j = ds->user_genre_ptr[u]; j < ds->user_genre_ptr[u + 1]; j++)
                affinity_add(&a, ds->user_genre[j], 1.0f);
        affinity_normalise(&a);
        memcpy(gen + ptr[u], a.genre, (size_t)a.n * sizeof(int32_t));
        memcpy(wt + ptr[u], a.weight, (size_t)a.n * sizeof(float));
        ptr[u + 1] = ptr[u] + a.n;
    }
    m->ua_ptr = m->owned[4] = ptr;
    m->ua_genre = m->owned[5] = gen;
    m->ua_weight = m->owned[6] = wt;
}

static int cmp_desc(const void *a, const void *b, void *ctx)
{
    const float *score = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    float sx = score[x], sy = score[y];

    if (sx != sy)
        return sx < sy ? 1 : -1;
    return (x > y) - (x < y);
}

static void rank_tracks(const float *score, int32_t *idx, int64_t n)
{
    qsort_r(idx, (size_t)n, sizeof(int32_t), cmp_desc, (void *)score);
}

static void all_time_scores(const tt_train_set *ts, float *score)
{
    for (int64_t i = 0; i < ts->conf.nnz; i++)
        score[ts->conf.indices[i]] += 1.0f;
}

static void trending_scores(const tt_train_set *ts, const tt_weighting *w, double half_life_days,
                            float *score)
{
    const tt_dataset *ds = ts->ds;
    double hl = half_life_days * 86400.0;

    for (int64_t i = 0; i < ds->n_events; i++) {
        double age, v;
        if (ts->mask && !ts->mask[i])
            continue;
        v = w->action[ds->ev_action[i]] * ds->ev_weight[i];
        if (!(v > 0.0))
            continue;
        age = (double)(ts->now - tt_dataset_event_time(ds, i));
        score[ds->ev_track[i]] += (float)(v * exp2(-(age > 0 ? age : 0) / hl));
    }
}

/* Per-genre rankings: the global order filtered by genre keeps each list sorted. */
static void genre_orders(const tt_dataset *ds, const int32_t *order, int32_t nt, int64_t **ptr_out,
                         int32_t **ord_out)
{
    int32_t ng = tt_dataset_n_genres(ds);
    int64_t *ptr = tt_calloc((size_t)ng + 1, sizeof(int64_t)), *fill;
    int32_t *ord = tt_malloc((size_t)(ds->track_genre_ptr[nt] + 1) * sizeof(int32_t));

    for (int32_t t = 0; t < nt; t++)
        for (int64_t j = ds->track_genre_ptr[t]; j < ds->track_genre_ptr[t + 1]; j++)
            ptr[ds->track_genre[j] + 1]++;
    for (int32_t g = 0; g < ng; g++)
        ptr[g + 1] += ptr[g];
    fill = tt_malloc(((size_t)ng + 1) * sizeof(int64_t));
    memcpy(fill, ptr, ((size_t)ng + 1) * sizeof(int64_t));
    for (int32_t i = 0; i < nt; i++) {
        int32_t t = order[i];
        for (int64_t j = ds->track_genre_ptr[t]; j < ds->track_genre_ptr[t + 1]; j++)
            ord[fill[ds->track_genre[j]]++] = t;
    }
    free(fill);
    *ptr_out = ptr;
    *ord_out = ord;
}

int tt_popularity_train(const tt_train_set *ts, enum tt_pop_mode mode, double half_life_days,
                        tt_model **out, tt_err *err)
{
    const tt_dataset *ds = ts->ds;
    int32_t nt = tt_dataset_n_tracks(ds);
    tt_weighting w = tt_weighting_default();
    double t0 = tt_now();
    pop_model *m;
    float *score;
    int32_t *order;
    int64_t *gptr;
    int32_t *gord;

    if (mode == TT_POP_TRENDING && !(half_life_days > 0.0))
        return tt_err_set_field(err, TT_EINVAL, "half_life_days", "half-life must be > 0 days");
    score = tt_calloc((size_t)nt + 1, sizeof(float));
    order = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    if (mode == TT_POP_TRENDING)
        trending_scores(ts, &w, half_life_days, score);
    else
        all_time_scores(ts, score);
    for (int32_t t = 0; t < nt; t++)
        order[t] = t;
    rank_tracks(score, order, nt);
    genre_orders(ds, order, nt, &gptr, &gord);
    m = pop_new(mode);
    m->base.n_users = tt_dataset_n_users(ds);
    m->base.n_tracks = nt;
    m->base.catalog = tt_catalog_checksum(ds);
    m->half_life_days = half_life_days;
    m->n_genres = tt_dataset_n_genres(ds);
    m->score = m->owned[0] = score;
    m->order = m->owned[1] = order;
    m->g_ptr = m->owned[2] = gptr;
    m->g_order = m->owned[3] = gord;
    copy_track_genres(ds, m);
    if (mode == TT_POP_GENRE)
        user_affinities(ts, m);
    m->base.train_seconds = tt_now() - t0;
    m->base.trained_at = tt_unix_time();
    *out = &m->base;
    return 0;
}

const int32_t *tt_popularity_genre_ranking(const tt_model *mm, int32_t g, int32_t *n)
{
    const pop_model *m = (const pop_model *)mm;

    *n = 0;
    if (mm->ops != &pop_ops || g < 0 || g >= m->n_genres)
        return NULL;
    *n = (int32_t)(m->g_ptr[g + 1] - m->g_ptr[g]);
    return m->g_order + m->g_ptr[g];
}

float tt_popularity_score(const tt_model *mm, int32_t t)
{
    const pop_model *m = (const pop_model *)mm;
    return (mm->ops == &pop_ops && t >= 0 && t < mm->n_tracks) ? m->score[t] : 0.0f;
}

/* The affinity a genre-mode request uses: its history, the stored user, or declared genres. */
static void query_affinity(const pop_model *m, const tt_query *q, struct affinity *a)
{
    a->n = 0;
    if (q->n_hist > 0)
        affinity_from_tracks(m, q->hist, q->n_hist, a);
    else if (q->user >= 0 && q->user < m->base.n_users && m->ua_ptr)
        for (int64_t j = m->ua_ptr[q->user]; j < m->ua_ptr[q->user + 1]; j++)
            affinity_add(a, m->ua_genre[j], m->ua_weight[j]);
    if (a->n == 0)
        for (int32_t i = 0; i < q->n_genres; i++)
            if (q->genres[i] >= 0 && q->genres[i] < m->n_genres)
                affinity_add(a, q->genres[i], 1.0f);
    affinity_normalise(a);
}

static bool chosen(const tt_scored *out, int n, int32_t t)
{
    for (int i = 0; i < n; i++)
        if (out[i].track == t)
            return true;
    return false;
}

/*
 * Sainte-Lague apportionment: each slot goes to the genre with the largest
 * weight / (2 * taken + 1), so a 60/30/10 taste gets 6, 3 and 1 of every 10 slots,
 * interleaved rather than in blocks. Each genre then serves its best unseen track.
 */
static int genre_mix(const pop_model *m, const struct affinity *a, const tt_query *q, int k,
                     tt_scored *out)
{
    int64_t pos[TT_GENRE_MAX_PER_USER] = {0};
    int taken[TT_GENRE_MAX_PER_USER] = {0};
    bool open[TT_GENRE_MAX_PER_USER];
    int got = 0;

    for (int i = 0; i < a->n; i++)
        open[i] = true;
    while (got < k) {
        int best = -1;
        for (int i = 0; i < a->n; i++)
            if (open[i] && (best < 0 || a->weight[i] / (2 * taken[i] + 1) >
                                            a->weight[best] / (2 * taken[best] + 1)))
                best = i;
        if (best < 0)
            break;
        int32_t g = a->genre[best], t = -1;
        int64_t b = m->g_ptr[g], n = m->g_ptr[g + 1] - b;
        while (pos[best] < n) {
            int32_t c = m->g_order[b + pos[best]++];
            if ((!q->allow || q->allow[c]) &&
                (q->n_exclude == 0 || !tt_sorted_contains(q->exclude, q->n_exclude, c)) &&
                !chosen(out, got, c)) {
                t = c;
                break;
            }
        }
        if (t < 0) {
            open[best] = false;
            continue;
        }
        taken[best]++;
        out[got++] = (tt_scored){t, a->weight[best] * m->score[t] /
                                        (m->score[m->g_order[b]] > 0 ? m->score[m->g_order[b]] : 1)};
    }
    return got;
}

static int pop_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out, int *n_out,
                         tt_err *err)
{
    const pop_model *m = (const pop_model *)mm;
    struct affinity a = {.n = 0};
    int got = 0;

    (void)err;
    if (m->mode == TT_POP_GENRE) {
        query_affinity(m, q, &a);
        got = genre_mix(m, &a, q, k, out);
    }
    /* Whatever the genres cannot fill comes from overall popularity. */
    for (int64_t i = 0; i < mm->n_tracks && got < k; i++) {
        int32_t t = m->order[i];
        if ((q->allow && !q->allow[t]) ||
            (q->n_exclude > 0 && tt_sorted_contains(q->exclude, q->n_exclude, t)) ||
            (a.n > 0 && chosen(out, got, t)))
            continue;
        out[got++] = (tt_scored){t, a.n > 0 ? 0.0f : m->score[t]};
    }
    *n_out = got;
    return 0;
}

/* What a model file records besides its arrays (the half-life is 0 outside trending). */
static const tt_mfield pop_fields[] = {
    {"mode", TT_MF_ENUM, TT_MF_AT(pop_model, mode), .names = mode_names, .n_names = N_MODES},
    {"n_genres", TT_MF_I32, TT_MF_AT(pop_model, n_genres), .lo = 0, .hi = INT32_MAX},
    {"half_life_days", TT_MF_F64, TT_MF_AT(pop_model, half_life_days), .lo = 0,
     .hi = DBL_MAX},
    TT_MODEL_MFIELDS(pop_model, base),
};
#define N_POP_FIELDS ((int)(sizeof(pop_fields) / sizeof(pop_fields[0])))

static int save_affinities(const pop_model *m, tt_mfile_writer *w, tt_err *err)
{
    int64_t n = m->ua_ptr[m->base.n_users];
    int rc = tt_mfile_add(w, "user_genre_ptr", TT_DT_I64, m->base.n_users + 1, 1, m->ua_ptr, err);

    if (rc == 0)
        rc = tt_mfile_add(w, "user_genre", TT_DT_I32, n, 1, m->ua_genre, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_genre_weight", TT_DT_F32, n, 1, m->ua_weight, err);
    return rc;
}

static int pop_save(const tt_model *mm, const char *path, tt_err *err)
{
    const pop_model *m = (const pop_model *)mm;
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "popularity", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, pop_fields, N_POP_FIELDS, m, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "score", TT_DT_F32, mm->n_tracks, 1, m->score, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "order", TT_DT_I32, mm->n_tracks, 1, m->order, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "genre_ptr", TT_DT_I64, m->n_genres + 1, 1, m->g_ptr, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "genre_order", TT_DT_I32, m->g_ptr[m->n_genres], 1, m->g_order,
                          err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_genre_ptr", TT_DT_I64, mm->n_tracks + 1, 1, m->tg_ptr, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_genre", TT_DT_I32, m->tg_ptr[mm->n_tracks], 1, m->tg, err);
    if (rc == 0 && m->mode == TT_POP_GENRE)
        rc = save_affinities(m, w, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

static int check_ranks(const pop_model *m, tt_mfile *f, tt_err *err)
{
    int64_t total = m->g_ptr[m->n_genres];

    if (!tt_mfile_ids_valid(m->order, m->base.n_tracks, m->base.n_tracks))
        return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad track order",
                          tt_mfile_path(f));
    for (int32_t g = 0; g < m->n_genres; g++)
        if (m->g_ptr[g] < 0 || m->g_ptr[g] > m->g_ptr[g + 1] || m->g_ptr[g + 1] > total)
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad genre offsets",
                              tt_mfile_path(f));
    if (!tt_mfile_ids_valid(m->g_order, total, m->base.n_tracks))
        return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad genre ranking",
                          tt_mfile_path(f));
    return 0;
}

/* Loads a CSR-like pair (offsets, genre ids[, weights]) and checks every bound. */
static int load_offsets(tt_mfile *f, const char *pname, const char *gname, const char *wname,
                        int32_t rows_n, int32_t n_genres, const int64_t **ptr, const int32_t **gen,
                        const float **wt, tt_err *err)
{
    int64_t rows = (int64_t)rows_n + 1, cols = 1;
    const void *p;
    int rc = tt_mfile_get(f, pname, TT_DT_I64, &rows, &cols, &p, err);

    if (rc < 0)
        return rc;
    *ptr = p;
    rows = -1;
    rc = tt_mfile_get(f, gname, TT_DT_I32, &rows, &cols, &p, err);
    if (rc < 0)
        return rc;
    *gen = p;
    if (!tt_mfile_offsets_valid(*ptr, rows_n, rows))
        return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad %s", tt_mfile_path(f),
                          pname);
    if (!tt_mfile_ids_valid(*gen, rows, n_genres))
        return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad %s", tt_mfile_path(f),
                          gname);
    if (!wname)
        return 0;
    rc = tt_mfile_get(f, wname, TT_DT_F32, &rows, &cols, &p, err);
    *wt = p;
    return rc;
}

int tt__popularity_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    const void *p;
    int64_t rows, cols;
    pop_model *m = pop_new(TT_POP_ALL_TIME);
    int rc = tt_mfile_get_meta(f, pop_fields, N_POP_FIELDS, m, err);

    if (rc < 0) {
        free(m);
        return rc;
    }
    pop_set_mode(m, m->mode);
    m->base.catalog = tt_mfile_catalog(f);
    rows = m->base.n_tracks, cols = 1;
    rc = tt_mfile_get(f, "score", TT_DT_F32, &rows, &cols, &p, err);
    m->score = p;
    if (rc == 0)
        rc = tt_mfile_get(f, "order", TT_DT_I32, &rows, &cols, &p, err);
    m->order = p;
    rows = (int64_t)m->n_genres + 1;
    if (rc == 0)
        rc = tt_mfile_get(f, "genre_ptr", TT_DT_I64, &rows, &cols, &p, err);
    m->g_ptr = p;
    rows = -1;
    if (rc == 0)
        rc = tt_mfile_get(f, "genre_order", TT_DT_I32, &rows, &cols, &p, err);
    m->g_order = p;
    if (rc == 0 && rows != m->g_ptr[m->n_genres])
        rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: genre ranking size",
                        tt_mfile_path(f));
    if (rc == 0)
        rc = load_offsets(f, "track_genre_ptr", "track_genre", NULL, m->base.n_tracks,
                          m->n_genres, &m->tg_ptr, &m->tg, NULL, err);
    if (rc == 0 && m->mode == TT_POP_GENRE)
        rc = load_offsets(f, "user_genre_ptr", "user_genre", "user_genre_weight",
                          m->base.n_users, m->n_genres, &m->ua_ptr, &m->ua_genre, &m->ua_weight,
                          err);
    if (rc == 0)
        rc = check_ranks(m, f, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->file = f;
    *out = &m->base;
    return 0;
}

static void pop_free(tt_model *mm)
{
    pop_model *m = (pop_model *)mm;

    for (int i = 0; i < 9; i++)
        free(m->owned[i]);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops pop_ops = {
    .kind = "popularity",
    .recommend = pop_recommend,
    .save = pop_save,
    .free = pop_free,
};
