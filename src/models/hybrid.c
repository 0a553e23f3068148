/*
 * The hybrid model (tt/hybrid.h): candidates from three parts, every candidate scored by all
 * four, the scores made comparable as per-listener z-scores and blended with learned weights.
 *
 * Why z-scores over the listener's candidates: ALS dot products, cosine similarities and
 * (log) play counts live on unrelated scales that also drift from one listener to the next
 * (a heavy listener's ALS scores are larger), so a fixed weight only means something once
 * each part's scores are centred and scaled over the very set being ranked.
 *
 * Why a track nobody has played is not scored by its own ALS vector and popularity: they are
 * nothing and 0 because the track is new, not because listeners rejected it. Its collaborative
 * scores come from its artist's played tracks instead (the mean ALS vector, the mean log
 * popularity); a part that knows nothing of it at all gives it the candidates' mean (z = 0),
 * which leaves its content similarity to decide. That, and the learned new-release terms, is
 * how new releases reach listeners.
 */
#include "hybrid_priv.h"
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/kernels.h"
#include "tt/popularity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const tt_hybrid_part_names[TT_HYBRID_PARTS] = {"als", "content", "popularity",
                                                           "trending"};

typedef struct hybrid_model {
    tt_model base;
    tt_hybrid_params p;
    tt_hybrid_fit fit;
    const char *part_name[TT_HYBRID_PARTS]; /* as stored in the file */
    tt_model *part[TT_HYBRID_PARTS];
    bool owns_parts;
    int32_t n_artists;
    const int32_t *track_artist; /* n_tracks: in the file, or owned_artist */
    int32_t *owned_artist;
    tt__hybrid_set set;          /* valid once parts are attached */
    tt_mfile *file;
} hybrid_model;

static const struct tt_model_ops hybrid_ops;

static hybrid_model *hm(const tt_model *m)
{
    return m && m->ops == &hybrid_ops ? (hybrid_model *)(uintptr_t)m : NULL;
}

tt_hybrid_params tt_hybrid_params_default(void)
{
    tt_hybrid_params p;

    memset(&p, 0, sizeof(p));
    p.validation = 0.1;
    p.new_share = 0.02;
    p.new_cost = 0.02;
    p.min_positives = 5;
    p.max_users = 3000;
    p.candidates = 200;
    p.k = 20;
    p.step = 0.1;
    p.seed = 42;
    return p;
}

/* ---- candidates and features ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int32_t tt__hybrid_candidates(tt_model *const part[TT_HYBRID_PARTS], const tt_query *q,
                              int n_each, int32_t **out, tt_err *err)
{
    static const int sources[] = {TT_HYBRID_ALS, TT_HYBRID_CONTENT, TT_HYBRID_TRENDING};
    tt_scored *buf = tt_malloc((size_t)n_each * sizeof(tt_scored) + 1);
    int32_t *c = tt_malloc((size_t)3 * n_each * sizeof(int32_t) + 4), n = 0, w = 0;

    *out = c;
    for (int s = 0; s < 3; s++) {
        tt_model *m = part[sources[s]];
        int got = 0, rc;
        if (!m)
            continue;
        rc = tt_model_recommend(m, q, n_each, buf, &got, err);
        if (rc == TT_ENOTFOUND || rc == TT_ESTATE) {
            tt_err_clear(err); /* this part cannot rank for the listener; the others can */
            continue;
        }
        if (rc < 0) {
            free(buf);
            return rc;
        }
        for (int i = 0; i < got; i++)
            c[n++] = buf[i].track;
    }
    free(buf);
    qsort(c, (size_t)n, sizeof(int32_t), cmp_i32);
    for (int32_t i = 0; i < n; i++)
        if (w == 0 || c[w - 1] != c[i])
            c[w++] = c[i];
    return w;
}

/* What the parts know of one listener: the ALS vector and the content centres. */
struct listener {
    const float *x; /* NULL: ALS does not know the listener */
    float xbuf[1024];
    int k;
    float *centres, w[16];
    int nc, d;
    const float *vec;
};

static int listener_build(const tt__hybrid_set *set, const tt_query *q, struct listener *l,
                          tt_err *err)
{
    tt_model *als = set->part[TT_HYBRID_ALS], *ct = set->part[TT_HYBRID_CONTENT];
    int rc;

    memset(l, 0, sizeof(*l));
    l->k = tt_als_factors(als);
    if (q->n_hist > 0) {
        rc = tt_als_fold_in(als, q->hist, q->hist_conf, q->n_hist, l->xbuf, err);
        if (rc < 0)
            return rc;
        l->x = l->xbuf;
    } else {
        l->x = tt_als_user_vector(als, q->user);
    }
    if (!ct)
        return 0;
    l->vec = tt_content_model_vectors(ct, &l->d);
    l->centres = tt_malloc((size_t)tt_content_model_params(ct).max_centres * l->d *
                           sizeof(float) + 1);
    l->nc = tt_content_centres(ct, q, l->centres, l->w);
    return 0;
}

/*
 * A new release's collaborative scores from its artist's played tracks: the listener's ALS
 * score of their mean vector, their mean log popularity and trending. False when the artist
 * has no played track (or is unknown), which leaves the part not knowing the track.
 */
static bool artist_prior(const tt__hybrid_set *set, const struct listener *l, int i, int32_t t,
                         float *v)
{
    int32_t a = set->track_artist ? set->track_artist[t] : -1;

    if (a < 0 || a >= set->n_artists || set->artist_n[a] == 0)
        return false;
    if (i == TT_HYBRID_ALS) {
        if (!l->x)
            return false;
        *v = dot(l->x, set->artist_y + (size_t)a * set->k, set->k);
    } else {
        *v = i == TT_HYBRID_POPULARITY ? set->artist_pop[a] : set->artist_trend[a];
    }
    return true;
}

/* Raw score of @t for part @i, and whether the part knows the track (and the listener). */
static bool raw_score(const tt__hybrid_set *set, const struct listener *l, int i, int32_t t,
                      float *v)
{
    tt_model *const *part = set->part;
    float pop = tt_popularity_score(part[TT_HYBRID_POPULARITY], t);

    *v = 0.0f;
    if (i != TT_HYBRID_CONTENT && !(pop > 0.0f))
        return artist_prior(set, l, i, t, v);
    switch (i) {
    case TT_HYBRID_ALS:
        if (!l->x)
            return false;
        *v = dot(l->x, tt_als_track_vector(part[TT_HYBRID_ALS], t), l->k);
        return true;
    case TT_HYBRID_CONTENT:
        if (l->nc == 0 || !tt_content_has_vector(part[TT_HYBRID_CONTENT], t))
            return false;
        *v = -2.0f;
        for (int c = 0; c < l->nc; c++) {
            float s = dot(l->centres + (size_t)c * l->d, l->vec + (size_t)t * l->d, l->d);
            *v = s > *v ? s : *v;
        }
        return true;
    case TT_HYBRID_POPULARITY:
        *v = log1pf(pop);
        return true;
    default:
        *v = log1pf(tt_popularity_score(part[TT_HYBRID_TRENDING], t));
        return true;
    }
}

/* Part @i's column of @z turned into z-scores over the known entries; unknown ones 0. */
static void standardise(float *z, const uint8_t *known, int32_t n, int i)
{
    double s = 0.0, ss = 0.0, mean, sd;
    int32_t nk = 0;

    for (int32_t j = 0; j < n; j++)
        if (known[j]) {
            s += z[(size_t)j * TT_HYBRID_COLS + i];
            nk++;
        }
    mean = nk ? s / nk : 0.0;
    for (int32_t j = 0; j < n; j++)
        if (known[j]) {
            double d = z[(size_t)j * TT_HYBRID_COLS + i] - mean;
            ss += d * d;
        }
    sd = nk > 1 ? sqrt(ss / nk) : 0.0;
    for (int32_t j = 0; j < n; j++) {
        float *v = &z[(size_t)j * TT_HYBRID_COLS + i];
        *v = known[j] && sd > 1e-9 ? (float)((*v - mean) / sd) : 0.0f;
    }
}

int tt__hybrid_features(const tt__hybrid_set *set, const tt_query *q, const int32_t *c,
                        int32_t n, float *z, tt_err *err)
{
    tt_model *const *part = set->part;
    struct listener l;
    uint8_t *known = tt_malloc((size_t)n + 1);
    int rc = listener_build(set, q, &l, err);

    for (int i = 0; rc == 0 && i < TT_HYBRID_PARTS; i++) {
        for (int32_t j = 0; j < n; j++)
            known[j] = part[i] && raw_score(set, &l, i, c[j], &z[(size_t)j * TT_HYBRID_COLS + i]);
        standardise(z, known, n, i);
    }
    for (int32_t j = 0; rc == 0 && j < n; j++)
        z[(size_t)j * TT_HYBRID_COLS + TT_HYBRID_NEW] =
            tt_popularity_score(part[TT_HYBRID_POPULARITY], c[j]) > 0.0f ? 0.0f : 1.0f;
    free(l.centres);
    free(known);
    return rc;
}

/* Sums each artist's played tracks' ALS vectors and log popularity into their means. */
void tt__hybrid_set_init(tt__hybrid_set *s, tt_model *const part[TT_HYBRID_PARTS],
                         const int32_t *track_artist, int32_t n_artists)
{
    const tt_model *pop = part[TT_HYBRID_POPULARITY];

    memset(s, 0, sizeof(*s));
    memcpy(s->part, part, sizeof(s->part));
    s->k = tt_als_factors(part[TT_HYBRID_ALS]);
    s->track_artist = track_artist;
    s->n_artists = track_artist ? n_artists : 0;
    s->artist_y = tt_calloc((size_t)s->n_artists * s->k + 1, sizeof(float));
    s->artist_pop = tt_calloc((size_t)s->n_artists + 1, sizeof(float));
    s->artist_trend = tt_calloc((size_t)s->n_artists + 1, sizeof(float));
    s->artist_n = tt_calloc((size_t)s->n_artists + 1, sizeof(int32_t));
    for (int32_t t = 0; s->n_artists > 0 && t < pop->n_tracks; t++) {
        int32_t a = track_artist[t];
        const float *y = tt_als_track_vector(part[TT_HYBRID_ALS], t);
        if (a < 0 || a >= s->n_artists || !(tt_popularity_score(pop, t) > 0.0f) || !y)
            continue;
        for (int j = 0; j < s->k; j++)
            s->artist_y[(size_t)a * s->k + j] += y[j];
        s->artist_pop[a] += log1pf(tt_popularity_score(pop, t));
        s->artist_trend[a] += log1pf(tt_popularity_score(part[TT_HYBRID_TRENDING], t));
        s->artist_n[a]++;
    }
    for (int32_t a = 0; a < s->n_artists; a++) {
        float inv = s->artist_n[a] ? 1.0f / (float)s->artist_n[a] : 0.0f;
        for (int j = 0; j < s->k; j++)
            s->artist_y[(size_t)a * s->k + j] *= inv;
        s->artist_pop[a] *= inv;
        s->artist_trend[a] *= inv;
    }
}

void tt__hybrid_set_release(tt__hybrid_set *s)
{
    free(s->artist_y);
    free(s->artist_pop);
    free(s->artist_trend);
    free(s->artist_n);
    memset(s, 0, sizeof(*s));
}

/* ---- the model ---- */

tt_model *tt__hybrid_new(const tt_train_set *ts, const tt_hybrid_params *p,
                         const tt_hybrid_fit *fit)
{
    hybrid_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &hybrid_ops;
    snprintf(m->base.name, sizeof(m->base.name), "hybrid");
    m->base.catalog = tt_catalog_checksum(ts->ds);
    m->base.n_users = ts->conf.rows;
    m->base.n_tracks = ts->conf.cols;
    m->base.trained_at = tt_unix_time();
    m->p = *p;
    m->fit = *fit;
    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        m->part_name[i] = tt_hybrid_part_names[i];
    m->n_artists = tt_dataset_n_artists(ts->ds);
    m->owned_artist = tt_malloc(((size_t)m->base.n_tracks + 1) * sizeof(int32_t));
    memcpy(m->owned_artist, ts->ds->track_artist, (size_t)m->base.n_tracks * sizeof(int32_t));
    m->track_artist = m->owned_artist;
    return &m->base;
}

static bool part_ok(const tt_model *m, const tt_model *pt, int i)
{
    const char *kind = i == TT_HYBRID_ALS ? "als" : i == TT_HYBRID_CONTENT ? "content"
                                                                           : "popularity";

    return strcmp(pt->ops->kind, kind) == 0 && strcmp(pt->name, tt_hybrid_part_names[i]) == 0 &&
           pt->catalog == m->catalog && pt->n_tracks == m->n_tracks;
}

int tt_hybrid_attach(tt_model *mm, tt_model *const parts[TT_HYBRID_PARTS], bool take,
                     tt_err *err)
{
    hybrid_model *m = hm(mm);

    if (!m || !parts)
        return tt_err_set(err, TT_EINVAL, "a hybrid model and its parts are required");
    for (int i = 0; i < TT_HYBRID_PARTS; i++) {
        if (!parts[i] && i == TT_HYBRID_CONTENT)
            continue;
        if (!parts[i])
            return tt_err_set(err, TT_EINVAL, "the hybrid model needs its %s part",
                              tt_hybrid_part_names[i]);
        if (!part_ok(mm, parts[i], i))
            return tt_err_set(err, TT_EINVAL,
                              "the hybrid model's %s part is not a %s model of the same catalog",
                              tt_hybrid_part_names[i], tt_hybrid_part_names[i]);
    }
    for (int i = 0; i < TT_HYBRID_PARTS; i++) {
        if (m->owns_parts)
            tt_model_free(m->part[i]);
        m->part[i] = parts[i];
    }
    m->owns_parts = take;
    tt__hybrid_set_release(&m->set);
    tt__hybrid_set_init(&m->set, m->part, m->track_artist, m->n_artists);
    return 0;
}

bool tt_hybrid_fit_of(const tt_model *mm, tt_hybrid_fit *fit)
{
    const hybrid_model *m = hm(mm);

    if (m && fit)
        *fit = m->fit;
    return m != NULL;
}

static void blend_top(const hybrid_model *m, const int32_t *c, const float *z, int32_t n, int k,
                      tt_scored *out, int *n_out)
{
    tt_topk top;

    tt_topk_init(&top, out, k);
    for (int32_t j = 0; j < n; j++) {
        const float *f = z + (size_t)j * TT_HYBRID_COLS;
        float s = f[TT_HYBRID_NEW] * (m->fit.new_bonus + m->fit.new_content * f[TT_HYBRID_CONTENT]);
        for (int i = 0; i < TT_HYBRID_PARTS; i++)
            s += m->fit.weight[i] * f[i];
        tt_topk_push(&top, c[j], s);
    }
    *n_out = tt_topk_finish(&top);
}

static int hybrid_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out,
                            int *n_out, tt_err *err)
{
    const hybrid_model *m = hm(mm);
    int32_t *c = NULL, n;
    float *z = NULL;
    int rc;

    *n_out = 0;
    if (!m->part[TT_HYBRID_ALS])
        return tt_err_set(err, TT_ESTATE, "the hybrid model has no parts attached");
    n = tt__hybrid_candidates(m->part, q, k > m->p.candidates ? k : m->p.candidates, &c, err);
    rc = n < 0 ? n : 0;
    if (n == 0)
        rc = tt_err_set(err, TT_ESTATE, "no part of the hybrid model can rank for the listener");
    if (rc == 0) {
        z = tt_malloc((size_t)n * TT_HYBRID_COLS * sizeof(float));
        rc = tt__hybrid_features(&m->set, q, c, n, z, err);
    }
    if (rc == 0)
        blend_top(m, c, z, n, k, out, n_out);
    free(c);
    free(z);
    return rc;
}

/* ---- files ---- */

#define HF(name, type, member, ...) {name, type, TT_MF_AT(hybrid_model, member), __VA_ARGS__}

static const tt_mfield hybrid_fields[] = {
    HF("w_als", TT_MF_F32, fit.weight[TT_HYBRID_ALS], .lo = 0, .hi = 1),
    HF("w_content", TT_MF_F32, fit.weight[TT_HYBRID_CONTENT], .lo = 0, .hi = 1),
    HF("w_popularity", TT_MF_F32, fit.weight[TT_HYBRID_POPULARITY], .lo = 0, .hi = 1),
    HF("w_trending", TT_MF_F32, fit.weight[TT_HYBRID_TRENDING], .lo = 0, .hi = 1),
    HF("new_bonus", TT_MF_F32, fit.new_bonus, .lo = -100, .hi = 100),
    HF("new_content", TT_MF_F32, fit.new_content, .lo = 0, .hi = 100),
    HF("part_als", TT_MF_STR, part_name[TT_HYBRID_ALS]),
    HF("part_content", TT_MF_STR, part_name[TT_HYBRID_CONTENT]),
    HF("part_popularity", TT_MF_STR, part_name[TT_HYBRID_POPULARITY]),
    HF("part_trending", TT_MF_STR, part_name[TT_HYBRID_TRENDING]),
    HF("validation_ndcg", TT_MF_F64, fit.ndcg, .lo = 0, .hi = 1),
    HF("validation_recall", TT_MF_F64, fit.recall, .lo = 0, .hi = 1),
    HF("validation_ndcg_known", TT_MF_F64, fit.known_ndcg, .lo = 0, .hi = 1),
    HF("validation_ndcg_als", TT_MF_F64, fit.part_ndcg[TT_HYBRID_ALS], .lo = 0, .hi = 1),
    HF("validation_ndcg_content", TT_MF_F64, fit.part_ndcg[TT_HYBRID_CONTENT], .lo = 0, .hi = 1),
    HF("validation_ndcg_popularity", TT_MF_F64, fit.part_ndcg[TT_HYBRID_POPULARITY], .lo = 0,
       .hi = 1),
    HF("validation_ndcg_trending", TT_MF_F64, fit.part_ndcg[TT_HYBRID_TRENDING], .lo = 0,
       .hi = 1),
    HF("validation_users", TT_MF_I32, fit.users, .lo = 0, .hi = INT32_MAX),
    HF("validation_pairs", TT_MF_I64, fit.pairs, .lo = 0, .hi = (double)INT64_MAX),
    HF("validation_new_pairs", TT_MF_I64, fit.new_pairs, .lo = 0, .hi = (double)INT64_MAX),
    HF("k", TT_MF_I32, fit.k, .lo = 1, .hi = 100000),
    HF("validation_share", TT_MF_F64, p.validation, .lo = 1e-9, .hi = 1),
    HF("new_share", TT_MF_F64, p.new_share, .lo = 0, .hi = 1),
    HF("new_cost", TT_MF_F64, p.new_cost, .lo = 0, .hi = 1),
    HF("min_positives", TT_MF_I32, p.min_positives, .lo = 2, .hi = INT32_MAX),
    HF("max_users", TT_MF_I32, p.max_users, .lo = 1, .hi = INT32_MAX),
    HF("candidates", TT_MF_I32, p.candidates, .lo = 1, .hi = 1000000),
    HF("step", TT_MF_F64, p.step, .lo = 1e-3, .hi = 1),
    HF("seed", TT_MF_U64, p.seed),
    HF("n_artists", TT_MF_I32, n_artists, .lo = 0, .hi = INT32_MAX),
    TT_MODEL_MFIELDS(hybrid_model, base),
};
#define N_HYBRID_FIELDS ((int)(sizeof(hybrid_fields) / sizeof(hybrid_fields[0])))

static int hybrid_save(const tt_model *mm, const char *path, tt_err *err)
{
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "hybrid", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, hybrid_fields, N_HYBRID_FIELDS, hm(mm), err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_artist", TT_DT_I32, mm->n_tracks, 1, hm(mm)->track_artist,
                          err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

/* The weights must be a point of the simplex and the parts the ones this engine blends. */
static int check_loaded(const hybrid_model *m, tt_mfile *f, tt_err *err)
{
    double sum = 0.0;

    for (int i = 0; i < TT_HYBRID_PARTS; i++) {
        sum += m->fit.weight[i];
        if (strcmp(m->part_name[i], tt_hybrid_part_names[i]) != 0)
            return tt_err_set(err, TT_ECORRUPT,
                              "model file %s refused: part %s is '%s', this engine blends '%s'",
                              tt_mfile_path(f), tt_hybrid_part_names[i], m->part_name[i],
                              tt_hybrid_part_names[i]);
    }
    if (fabs(sum - 1.0) > 1e-3)
        return tt_err_set(err, TT_ECORRUPT,
                          "model file %s refused: blend weights sum to %g, not 1",
                          tt_mfile_path(f), sum);
    return 0;
}

/* The track -> artist map, every id checked: requests index arrays with them. */
static int load_artists(hybrid_model *m, tt_mfile *f, tt_err *err)
{
    int64_t rows = m->base.n_tracks, cols = 1;
    const void *p;
    int rc = tt_mfile_get(f, "track_artist", TT_DT_I32, &rows, &cols, &p, err);

    if (rc < 0)
        return rc;
    m->track_artist = p;
    for (int32_t t = 0; t < m->base.n_tracks; t++)
        if (m->track_artist[t] < -1 || m->track_artist[t] >= m->n_artists)
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad track_artist",
                              tt_mfile_path(f));
    return 0;
}

int tt__hybrid_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    hybrid_model *m = tt_calloc(1, sizeof(*m));
    int rc;

    m->base.ops = &hybrid_ops;
    m->p = tt_hybrid_params_default();
    rc = tt_mfile_get_meta(f, hybrid_fields, N_HYBRID_FIELDS, m, err);
    if (rc == 0)
        rc = check_loaded(m, f, err);
    if (rc == 0)
        rc = load_artists(m, f, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    snprintf(m->base.name, sizeof(m->base.name), "hybrid");
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    *out = &m->base;
    return 0;
}

static void hybrid_free(tt_model *mm)
{
    hybrid_model *m = hm(mm);

    if (m->owns_parts)
        for (int i = 0; i < TT_HYBRID_PARTS; i++)
            tt_model_free(m->part[i]);
    tt__hybrid_set_release(&m->set);
    free(m->owned_artist);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops hybrid_ops = {
    .kind = "hybrid",
    .recommend = hybrid_recommend,
    .save = hybrid_save,
    .free = hybrid_free,
};
