/*
 * Content-based similarity (tt/content.h): track vectors from audio features, genres and
 * embeddings; listener profiles as weighted spherical k-means centres; answers from a
 * FAISS index when one is attached, else from a scan of the catalog.
 */
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/modelfile.h"
#include "tt/kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>


#define N_AUDIO_SCALARS (TT_N_FEATURES - 1) /* every feature but key */
#define D_AUDIO (N_AUDIO_SCALARS + 2)       /* key as (cos, sin) */
#define KMEANS_ITERS 10
/* Index answers for at most this many candidates per query; beyond, the catalog is scanned. */
#define ANN_MAX_K 2048

tt_content_params tt_content_params_default(void)
{
    tt_content_params p;

    memset(&p, 0, sizeof(p));
    p.w_audio = 1.0f;
    p.w_key = 0.5f;
    p.w_genre = 0.5f;
    p.w_embedding = 1.0f;
    p.genre_dims = 64;
    p.whiten = 1.0f;
    p.augment_k = 15;
    p.max_centres = 3;
    p.tracks_per_centre = 20;
    p.seed = 42;
    return p;
}

tt_content_params tt_content_params_sound_only(const tt_content_params *p)
{
    tt_content_params q = *p;

    q.w_genre = 0.0f;
    return q;
}

int tt_content_params_check(const tt_content_params *p, tt_err *err)
{
    const struct { const char *name; float v; } w[] = {
        {"w_audio", p->w_audio}, {"w_key", p->w_key}, {"w_genre", p->w_genre},
        {"w_embedding", p->w_embedding}};

    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        if (!(w[i].v >= 0.0f) || !isfinite(w[i].v))
            return tt_err_set_field(err, TT_EINVAL, w[i].name,
                                    "%s must be a finite weight >= 0", w[i].name);
    if (p->w_audio == 0.0f && p->w_genre == 0.0f && p->w_embedding == 0.0f)
        return tt_err_set_field(err, TT_EINVAL, "w_audio",
                                "at least one of the audio, genre and embedding weights must "
                                "be positive");
    if (p->genre_dims < 0 || p->genre_dims > 4096)
        return tt_err_set_field(err, TT_EINVAL, "genre_dims", "genre_dims must be 0..4096");
    if (!(p->whiten >= 0.0f) || !(p->whiten <= 1e6f))
        return tt_err_set_field(err, TT_EINVAL, "whiten", "whiten must be 0..1e6");
    if (p->augment_k < 0 || p->augment_k > 1024)
        return tt_err_set_field(err, TT_EINVAL, "augment_k", "augment_k must be 0..1024");
    if (p->max_centres < 1 || p->max_centres > 16)
        return tt_err_set_field(err, TT_EINVAL, "max_centres", "max_centres must be 1..16");
    if (p->tracks_per_centre < 1)
        return tt_err_set_field(err, TT_EINVAL, "tracks_per_centre",
                                "tracks_per_centre must be >= 1");
    return 0;
}

/* ---- the space: how a track becomes a vector ---- */

struct space {
    int d, d_audio, d_genre, d_embed;
    float mean[TT_N_FEATURES], sd[TT_N_FEATURES];
    int32_t n_genres;
    int32_t *genre_dim; /* per genre: its dimension in the genre part, or -1 */
    float *emb_mean, *emb_sd;
    uint8_t *emb_log; /* per embedding dimension: 1 = standardised as log(x) */
    float *emb_white; /* d_embed x d_embed whitening (tt_content_whiten_fit), or NULL */
    int32_t audio_dup; /* bit f: audio feature f repeats an embedding column, left out */
    float s_audio, s_embed;
};

static void space_release(struct space *sp)
{
    free(sp->genre_dim);
    free(sp->emb_mean);
    free(sp->emb_sd);
    free(sp->emb_log);
    free(sp->emb_white);
}

/* Skewness above this makes an all-positive embedding dimension one measured in logs. */
#define LOG_SKEW 1.0

/*
 * Whether embedding dimension @j is better compared in logs: every value the tracks have is
 * positive and the distribution has a long right tail (sample skewness > LOG_SKEW), as
 * variances, energies and rates do. A few very large values would otherwise dominate the
 * dimension's standard deviation and squeeze every other track into a narrow band; in logs,
 * ratios count instead of differences. Decided from the values alone, never from labels.
 */
int tt_content_log_dim(const float *x, int64_t n, int64_t stride, const uint8_t *use)
{
    double s = 0.0, m2 = 0.0, m3 = 0.0;
    int64_t c = 0;

    for (int64_t i = 0; i < n; i++) {
        float v = x[i * stride];
        if ((use && !use[i]) || !isfinite(v))
            continue;
        if (!(v > 0.0f))
            return 0;
        s += v;
        c++;
    }
    if (c < 3)
        return 0;
    s /= (double)c;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i * stride];
        if ((use && !use[i]) || !isfinite(v))
            continue;
        m2 += (v - s) * (v - s);
        m3 += (v - s) * (v - s) * (v - s);
    }
    m2 /= (double)c;
    m3 /= (double)c;
    return m2 > 0.0 && m3 / pow(m2, 1.5) > LOG_SKEW;
}

/* Embedding value @v of dimension @j as the space compares it (NaN stays NaN). */
static float emb_value(const struct space *sp, int j, float v)
{
    return sp->emb_log && sp->emb_log[j] ? (v > 0.0f ? logf(v) : NAN) : v;
}

/* Mean and standard deviation of the finite values x[i * stride]; (0, 1) when none. */
static void mean_sd(const float *x, int64_t n, int64_t stride, const uint8_t *use, float *mean,
                    float *sd, int64_t *count)
{
    double s = 0.0, ss = 0.0;
    int64_t c = 0;

    for (int64_t i = 0; i < n; i++) {
        float v = x[i * stride];
        if ((use && !use[i]) || !isfinite(v))
            continue;
        s += v;
        c++;
    }
    *mean = c ? (float)(s / (double)c) : 0.0f;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i * stride];
        if ((use && !use[i]) || !isfinite(v))
            continue;
        ss += ((double)v - *mean) * ((double)v - *mean);
    }
    *sd = c > 1 ? (float)sqrt(ss / (double)(c - 1)) : 0.0f;
    if (!(*sd > 1e-12f))
        *sd = 1.0f; /* a constant feature carries no information: its z-score is 0 */
    if (count)
        *count = c;
}

struct genre_count {
    int32_t g;
    int64_t n;
};

static int cmp_genre_count(const void *a, const void *b)
{
    const struct genre_count *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? 1 : -1;
    return (x->g > y->g) - (x->g < y->g);
}

/* Genre dimensions: the most common genres first, ties by dense id. */
static int genre_dims(const tt_dataset *ds, int max_dims, int32_t *genre_dim)
{
    int32_t ng = tt_dataset_n_genres(ds), nt = tt_dataset_n_tracks(ds);
    struct genre_count *c = tt_calloc((size_t)ng + 1, sizeof(*c));
    int dims = 0;

    for (int32_t g = 0; g < ng; g++)
        c[g].g = g;
    for (int32_t t = 0; t < nt; t++)
        for (int64_t j = ds->track_genre_ptr[t]; j < ds->track_genre_ptr[t + 1]; j++)
            c[ds->track_genre[j]].n++;
    qsort(c, (size_t)ng, sizeof(*c), cmp_genre_count);
    for (int32_t g = 0; g < ng; g++)
        genre_dim[g] = -1;
    /* A genre every track has tells no two tracks apart (a catalog imported with one
     * placeholder label for all): it gets no dimension. */
    for (int32_t i = 0; i < ng && dims < max_dims && c[i].n > 0; i++)
        if (c[i].n < nt)
            genre_dim[c[i].g] = dims++;
    free(c);
    return dims;
}

/* Dimension @j of the embedding: whether in logs, then its mean and standard deviation. */
static void embedding_dim_fit(const tt_dataset *ds, struct space *sp, int j)
{
    int32_t nt = tt_dataset_n_tracks(ds);
    int e = ds->embedding_dim;
    float *col;

    sp->emb_log[j] = (uint8_t)tt_content_log_dim(ds->embedding + j, nt, e, ds->has_embedding);
    if (!sp->emb_log[j]) {
        mean_sd(ds->embedding + j, nt, e, ds->has_embedding, &sp->emb_mean[j], &sp->emb_sd[j],
                NULL);
        return;
    }
    col = tt_malloc(((size_t)nt + 1) * sizeof(float));
    for (int32_t t = 0; t < nt; t++)
        col[t] = emb_value(sp, j, ds->embedding[(size_t)t * e + j]);
    mean_sd(col, nt, 1, ds->has_embedding, &sp->emb_mean[j], &sp->emb_sd[j], NULL);
    free(col);
}

/* Embedding value @v of dimension @j standardised (0, the mean, when unknown). */
static float emb_z(const struct space *sp, int j, float v)
{
    float x = emb_value(sp, j, v);

    return isfinite(x) ? (x - sp->emb_mean[j]) / sp->emb_sd[j] : 0.0f;
}

/*
 * Whether audio feature @f's known values are exactly one embedding column's (GTZAN's
 * tempo is also among its 57 signal features): then the feature would count twice.
 */
static bool repeats_embedding(const tt_dataset *ds, int f)
{
    int32_t nt = tt_dataset_n_tracks(ds);
    int e = ds->embedding_dim;

    for (int j = 0; j < e; j++) {
        int64_t same = 0;
        bool ok = true;
        for (int32_t t = 0; t < nt && ok; t++) {
            float x = ds->features[(size_t)t * TT_N_FEATURES + f], v;
            if (!isfinite(x))
                continue;
            if (!ds->has_embedding[t]) {
                ok = false; /* the feature is all this track has: it repeats nothing */
                continue;
            }
            v = ds->embedding[(size_t)t * e + j];
            ok = fabsf(x - v) <= 1e-5f * fmaxf(1.0f, fabsf(x));
            same++;
        }
        if (ok && same >= 2)
            return true;
    }
    return false;
}

/* Audio features that repeat an embedding column in the vectors (bit f each). */
static int32_t audio_duplicates(const tt_dataset *ds, const tt_content_params *p)
{
    int32_t mask = 0;

    if (!(p->w_embedding > 0.0f) || ds->embedding_dim < 1)
        return 0;
    for (int f = 0; f < TT_N_FEATURES; f++)
        if (f != TT_F_KEY && repeats_embedding(ds, f))
            mask |= (int32_t)1 << f;
    return mask;
}

/* The embedding's whitening (sp->emb_white), when asked for and the catalog allows it. */
static int embedding_whiten_fit(const tt_dataset *ds, const tt_content_params *p,
                                struct space *sp, tt_err *err)
{
    int32_t nt = tt_dataset_n_tracks(ds);
    int e = sp->d_embed, rc;
    int64_t used = 0;
    float *z;

    for (int32_t t = 0; t < nt; t++)
        used += ds->has_embedding[t] != 0;
    if (!(p->whiten > 0.0f) || e < 2 || used < (int64_t)TT_CONTENT_WHITEN_MIN * e)
        return 0;
    z = tt_calloc((size_t)nt * e + 1, sizeof(float));
    for (int32_t t = 0; t < nt; t++)
        for (int j = 0; j < e && ds->has_embedding[t]; j++)
            z[(size_t)t * e + j] = emb_z(sp, j, ds->embedding[(size_t)t * e + j]);
    sp->emb_white = tt_malloc((size_t)e * e * sizeof(float));
    rc = tt_content_whiten_fit(z, nt, e, ds->has_embedding, p->whiten, sp->emb_white, err);
    if (rc < 0) {
        free(sp->emb_white);
        sp->emb_white = NULL;
    }
    free(z);
    return rc;
}

static int space_fit(const tt_dataset *ds, const tt_content_params *p, struct space *sp,
                     tt_err *err)
{
    int32_t nt = tt_dataset_n_tracks(ds);
    int64_t known = 0, c;
    int rc;

    memset(sp, 0, sizeof(*sp));
    sp->audio_dup = audio_duplicates(ds, p);
    for (int f = 0; f < TT_N_FEATURES; f++) {
        mean_sd(ds->features + f, nt, TT_N_FEATURES, NULL, &sp->mean[f], &sp->sd[f], &c);
        if (!(sp->audio_dup & ((int32_t)1 << f)))
            known += c;
    }
    sp->d_audio = p->w_audio > 0.0f && known > 0 ? D_AUDIO : 0;
    sp->n_genres = tt_dataset_n_genres(ds);
    sp->genre_dim = tt_malloc(((size_t)sp->n_genres + 1) * sizeof(int32_t));
    sp->d_genre = p->w_genre > 0.0f ? genre_dims(ds, p->genre_dims, sp->genre_dim) : 0;
    if (sp->d_genre == 0)
        for (int32_t g = 0; g < sp->n_genres; g++)
            sp->genre_dim[g] = -1;
    if (p->w_embedding > 0.0f && ds->embedding_dim > 0) {
        int e = ds->embedding_dim;
        sp->emb_mean = tt_malloc((size_t)e * sizeof(float));
        sp->emb_sd = tt_malloc((size_t)e * sizeof(float));
        sp->emb_log = tt_calloc((size_t)e, 1);
        for (int j = 0; j < e; j++)
            embedding_dim_fit(ds, sp, j);
        sp->d_embed = e;
        rc = embedding_whiten_fit(ds, p, sp, err);
        if (rc < 0) {
            space_release(sp);
            return rc;
        }
    }
    sp->d = sp->d_audio + sp->d_genre + sp->d_embed;
    if (sp->d == 0) {
        space_release(sp);
        return tt_err_set(err, TT_ESTATE,
                          "the catalog has no audio features, genres or embeddings (with a "
                          "positive weight) to build content vectors from");
    }
    sp->s_audio = p->w_audio / sqrtf((float)N_AUDIO_SCALARS + p->w_key * p->w_key);
    sp->s_embed = sp->d_embed ? p->w_embedding / sqrtf((float)sp->d_embed) : 0.0f;
    return 0;
}

/* Track @t's vector into @v (d floats), each part scaled but the whole not yet unit. */
static void track_vector(const struct space *sp, const tt_content_params *p,
                         const tt_dataset *ds, int32_t t, float *v, float *z)
{
    float *a = v, *g = v + sp->d_audio, *e = g + sp->d_genre;

    memset(v, 0, (size_t)sp->d * sizeof(float));
    if (sp->d_audio) {
        const float *x = ds->features + (size_t)t * TT_N_FEATURES;
        int j = 0;
        for (int f = 0; f < TT_N_FEATURES; f++) {
            if (f == TT_F_KEY)
                continue;
            if (sp->audio_dup & ((int32_t)1 << f))
                j++;
            else
                a[j++] = isfinite(x[f]) ? (x[f] - sp->mean[f]) / sp->sd[f] * sp->s_audio : 0.0f;
        }
        if (isfinite(x[TT_F_KEY]) && x[TT_F_KEY] >= 0.0f && x[TT_F_KEY] < 12.0f) {
            double ang = 2.0 * M_PI * floor(x[TT_F_KEY]) / 12.0;
            a[j++] = (float)cos(ang) * p->w_key * sp->s_audio;
            a[j++] = (float)sin(ang) * p->w_key * sp->s_audio;
        }
    }
    if (sp->d_genre) {
        int n = 0;
        for (int64_t j = ds->track_genre_ptr[t]; j < ds->track_genre_ptr[t + 1]; j++)
            n += sp->genre_dim[ds->track_genre[j]] >= 0;
        for (int64_t j = ds->track_genre_ptr[t]; n > 0 && j < ds->track_genre_ptr[t + 1]; j++) {
            int32_t dim = sp->genre_dim[ds->track_genre[j]];
            if (dim >= 0)
                g[dim] = p->w_genre / sqrtf((float)n);
        }
    }
    if (sp->d_embed && ds->has_embedding[t]) {
        const float *x = ds->embedding + (size_t)t * ds->embedding_dim;
        for (int j = 0; j < sp->d_embed; j++)
            z[j] = emb_z(sp, j, x[j]);
        if (sp->emb_white)
            cblas_sgemv(CblasRowMajor, CblasTrans, sp->d_embed, sp->d_embed, sp->s_embed,
                        sp->emb_white, sp->d_embed, z, 1, 0.0f, e, 1);
        else
            for (int j = 0; j < sp->d_embed; j++)
                e[j] = z[j] * sp->s_embed;
    }
}

/* Scales @v (d floats) to unit length; false (and zeros) when it has no content. */
static bool unit_vector(float *v, int d)
{
    double norm = 0.0;

    for (int j = 0; j < d; j++)
        norm += (double)v[j] * v[j];
    if (!(norm > 1e-12)) {
        memset(v, 0, (size_t)d * sizeof(float));
        return false;
    }
    norm = 1.0 / sqrt(norm);
    for (int j = 0; j < d; j++)
        v[j] = (float)(v[j] * norm);
    return true;
}

/* Every track's unit vector into @vec, its embedding part augmented; whether it has one. */
static int all_vectors(const struct space *sp, const tt_content_params *p,
                       const tt_dataset *ds, float *vec, uint8_t *has, tt_err *err)
{
    int32_t nt = tt_dataset_n_tracks(ds);
    float *z = tt_malloc(((size_t)sp->d_embed + 1) * sizeof(float));
    int rc = 0;

    for (int32_t t = 0; t < nt; t++)
        track_vector(sp, p, ds, t, vec + (size_t)t * sp->d, z);
    free(z);
    if (sp->d_embed)
        rc = tt_content_augment(vec + sp->d_audio + sp->d_genre, nt, sp->d_embed, sp->d,
                                p->augment_k, err);
    for (int32_t t = 0; t < nt; t++)
        has[t] = unit_vector(vec + (size_t)t * sp->d, sp->d);
    return rc;
}

int tt_content_vectors(const tt_dataset *ds, const tt_content_params *p, float **vec, int *d,
                       tt_err *err)
{
    struct space sp;
    uint8_t *has;
    int rc;

    *vec = NULL;
    *d = 0;
    rc = tt_content_params_check(p, err);
    if (rc == 0)
        rc = space_fit(ds, p, &sp, err);
    if (rc < 0)
        return rc;
    *vec = tt_malloc(((size_t)tt_dataset_n_tracks(ds) + 1) * (size_t)sp.d * sizeof(float));
    has = tt_malloc((size_t)tt_dataset_n_tracks(ds) + 1);
    rc = all_vectors(&sp, p, ds, *vec, has, err);
    free(has);
    space_release(&sp);
    if (rc < 0) {
        free(*vec);
        *vec = NULL;
        return rc;
    }
    *d = sp.d;
    return 0;
}

/* ---- the model ---- */

typedef struct content_model {
    tt_model base;
    tt_content_params p;
    int d, d_audio, d_genre, d_embed;
    const float *mean, *sd;         /* TT_N_FEATURES each */
    const int32_t *genre_dim;       /* n_genres */
    int32_t n_genres;
    const float *emb_mean, *emb_sd; /* d_embed each, or NULL */
    const uint8_t *emb_log;         /* d_embed, or NULL: none in logs (older files) */
    const float *emb_white;         /* d_embed x d_embed, or NULL: not whitened */
    int32_t whitened;               /* 1 when emb_white is there (a file's section) */
    int32_t audio_dup;              /* bit f: audio feature f left out (repeats the embedding) */
    const float *vec;               /* n_tracks x d */
    const uint8_t *has;             /* n_tracks */
    const int64_t *centre_ptr;      /* n_users + 1 */
    const float *centres;           /* centre_ptr[n_users] x d */
    const float *centre_w;          /* centre_ptr[n_users] */
    uint64_t vectors_sum;           /* tt_ann_vectors_checksum of vec */
    tt_ann *ann;                    /* attached index, or NULL */
    void *owned[12];                /* arrays of a trained model */
    tt_mfile *file;                 /* arrays of a loaded model live here */
} content_model;

static const struct tt_model_ops content_ops;

static content_model *cm(const tt_model *m)
{
    return m && m->ops == &content_ops ? (content_model *)(uintptr_t)m : NULL;
}

/* Centres of a listener with @nv positives that have content: one per tracks_per_centre. */
static int centre_count(const content_model *m, int32_t nv)
{
    int32_t k = 1 + nv / m->p.tracks_per_centre;

    if (k > m->p.max_centres)
        k = m->p.max_centres;
    return nv == 0 ? 0 : (k > nv ? nv : k);
}

/*
 * Weighted spherical k-means of the vectors of @tracks (weights log(1 + r), tracks without
 * content or positive r left out): up to max_centres unit centres into @centres with weights
 * summing to 1 into @w, heaviest first. Returns the number of centres (0 when no track
 * has content).
 */
static int profile(const content_model *m, const int32_t *tracks, const float *r, int32_t n,
                   float *centres, float *w, uint64_t seed)
{
    const int d = m->d;
    int32_t *idx = tt_malloc(((size_t)n + 1) * sizeof(int32_t));
    float *wt = tt_malloc(((size_t)n + 1) * sizeof(float));
    int32_t *asg = tt_malloc(((size_t)n + 1) * sizeof(int32_t));
    float *best = tt_malloc(((size_t)n + 1) * sizeof(float));
    int32_t nv = 0;
    int c, k;
    double total = 0.0;
    tt_rng rng;

    for (int32_t i = 0; i < n; i++) {
        int32_t t = tracks[i];
        if (t < 0 || t >= m->base.n_tracks || !m->has[t] || !(r[i] > 0.0f))
            continue;
        idx[nv] = t;
        wt[nv] = log1pf(r[i]);
        total += wt[nv++];
    }
    k = centre_count(m, nv);
    if (k == 0 || !(total > 0.0))
        goto done;
    /* k-means++ seeding from the heaviest track, then by weight x distance. */
    tt_rng_seed(&rng, seed, (uint64_t)nv * 0x9e3779b97f4a7c15ULL ^ (uint64_t)idx[0]);
    {
        int32_t first = 0;
        for (int32_t i = 1; i < nv; i++)
            if (wt[i] > wt[first])
                first = i;
        memcpy(centres, m->vec + (size_t)idx[first] * d, (size_t)d * sizeof(float));
    }
    for (int32_t i = 0; i < nv; i++)
        best[i] = dot(m->vec + (size_t)idx[i] * d, centres, d);
    for (c = 1; c < k; c++) {
        double sum = 0.0, pick;
        int32_t chosen = -1;
        for (int32_t i = 0; i < nv; i++)
            sum += wt[i] * (double)(1.0f - best[i]);
        if (!(sum > 1e-9))
            break; /* every track sits on a centre already */
        pick = tt_rng_uniform(&rng) * sum;
        for (int32_t i = 0; i < nv && chosen < 0; i++) {
            pick -= wt[i] * (double)(1.0f - best[i]);
            if (pick <= 0.0)
                chosen = i;
        }
        if (chosen < 0)
            chosen = nv - 1;
        memcpy(centres + (size_t)c * d, m->vec + (size_t)idx[chosen] * d,
               (size_t)d * sizeof(float));
        for (int32_t i = 0; i < nv; i++) {
            float s = dot(m->vec + (size_t)idx[i] * d, centres + (size_t)c * d, d);
            if (s > best[i])
                best[i] = s;
        }
    }
    k = c;
    for (int it = 0; it < KMEANS_ITERS; it++) {
        bool moved = it == 0;
        for (int32_t i = 0; i < nv; i++) {
            const float *v = m->vec + (size_t)idx[i] * d;
            int32_t a = 0;
            float bs = dot(v, centres, d);
            for (int j = 1; j < k; j++) {
                float s = dot(v, centres + (size_t)j * d, d);
                if (s > bs)
                    bs = s, a = j;
            }
            if (it == 0 || asg[i] != a)
                moved = true;
            asg[i] = a;
        }
        if (!moved)
            break;
        memset(centres, 0, (size_t)k * d * sizeof(float));
        memset(w, 0, (size_t)k * sizeof(float));
        for (int32_t i = 0; i < nv; i++) {
            float *ce = centres + (size_t)asg[i] * d;
            const float *v = m->vec + (size_t)idx[i] * d;
            for (int j = 0; j < d; j++)
                ce[j] += wt[i] * v[j];
            w[asg[i]] += wt[i];
        }
        /* Normalise; drop centres that lost every track or cancel out. */
        c = 0;
        for (int j = 0; j < k; j++) {
            float *ce = centres + (size_t)j * d;
            double nn = 0.0;
            for (int i = 0; i < d; i++)
                nn += (double)ce[i] * ce[i];
            if (!(w[j] > 0.0f) || !(nn > 1e-12))
                continue;
            for (int i = 0; i < d; i++)
                ce[i] = (float)(ce[i] / sqrt(nn));
            if (c != j) {
                memmove(centres + (size_t)c * d, ce, (size_t)d * sizeof(float));
                w[c] = w[j];
            }
            c++;
        }
        k = c;
        if (k == 0)
            goto done;
    }
    /* Weights as shares, heaviest centre first (insertion sort: k is tiny). */
    {
        float *tmp = tt_malloc((size_t)d * sizeof(float));
        for (int j = 0; j < k; j++)
            w[j] = (float)(w[j] / total);
        for (int j = 1; j < k; j++)
            for (int i = j; i > 0 && w[i] > w[i - 1]; i--) {
                float x = w[i];
                w[i] = w[i - 1];
                w[i - 1] = x;
                memcpy(tmp, centres + (size_t)i * d, (size_t)d * sizeof(float));
                memcpy(centres + (size_t)i * d, centres + (size_t)(i - 1) * d,
                       (size_t)d * sizeof(float));
                memcpy(centres + (size_t)(i - 1) * d, tmp, (size_t)d * sizeof(float));
            }
        free(tmp);
    }
done:
    free(idx);
    free(wt);
    free(asg);
    free(best);
    return k;
}

/* ---- candidates ---- */

/* Is @t a valid answer: has content, allowed, not excluded. */
static inline bool eligible(const content_model *m, int32_t t, const int32_t *excl,
                            int32_t n_excl, const uint8_t *allow)
{
    return t >= 0 && t < m->base.n_tracks && m->has[t] && (!allow || allow[t]) &&
           !tt_sorted_contains(excl, n_excl, t);
}

TT_CLONES static int scan_top(const float *restrict vec, int32_t n, int d,
                              const float *restrict q, const content_model *m,
                              const int32_t *excl, int32_t n_excl, const uint8_t *allow,
                              int k, tt_scored *out)
{
    tt_topk top;

    tt_topk_init(&top, out, k);
    for (int32_t t = 0; t < n; t++) {
        float s = dot(vec + (size_t)t * d, q, d);
        if ((top.n < top.k || s > top.heap[0].score) && eligible(m, t, excl, n_excl, allow))
            tt__topk_sift(&top, t, s);
    }
    return tt_topk_finish(&top);
}

/*
 * The @k tracks closest to unit vector @q, best first: from an approximate index when one is
 * attached and a bounded search is sure to leave k eligible tracks, else by scanning the
 * catalog (exact).
 */
static int nearest(const content_model *m, const float *q, const int32_t *excl, int32_t n_excl,
                   const uint8_t *allow, int k, tt_scored *out, tt_err *err)
{
    int32_t nt = m->base.n_tracks;
    int64_t kq = (int64_t)k + n_excl + 16;

    if (k > nt)
        k = nt;
    /* An exact (flat) index answers like the scan, which runs the engine's AVX2 kernel. */
    if (m->ann && tt_ann_type_of(m->ann) != TT_ANN_FLAT && !allow && kq <= ANN_MAX_K &&
        kq < nt) {
        float *sim = tt_malloc((size_t)kq * sizeof(float));
        int64_t *ids = tt_malloc((size_t)kq * sizeof(int64_t));
        int n = 0, rc = tt_ann_search(m->ann, q, 1, (int)kq, sim, ids, err);
        for (int64_t i = 0; rc == 0 && i < kq && n < k; i++) {
            int32_t t = (int32_t)ids[i];
            if (ids[i] >= 0 && ids[i] < nt && eligible(m, t, excl, n_excl, allow))
                out[n++] = (tt_scored){t, sim[i]};
        }
        free(sim);
        free(ids);
        if (rc < 0)
            return rc;
        /* Fewer than k left after exclusions: the graph search came up short; scan. */
        if (n == k)
            return n;
    }
    return scan_top(m->vec, nt, m->d, q, m, excl, n_excl, allow, k, out);
}

/*
 * Merges per-centre lists into one of @k: each next slot goes to the centre with the highest
 * weight / (2 taken + 1) (Sainte-Lague), so every facet of the listener's taste gets its share
 * of the list, interleaved; a track two centres both want is taken once.
 */
static int merge_centres(const tt_scored *lists, const int *len, int k_each, const float *w,
                         int nc, int k, tt_scored *out)
{
    int pos[16] = {0}, taken[16] = {0}, n = 0;

    while (n < k) {
        int best = -1;
        double bq = -1.0;
        for (int c = 0; c < nc; c++) {
            double q = (double)w[c] / (2.0 * taken[c] + 1.0);
            if (pos[c] < len[c] && q > bq)
                bq = q, best = c;
        }
        if (best < 0)
            break;
        {
            const tt_scored *s = &lists[(size_t)best * k_each + pos[best]++];
            bool dup = false;
            for (int i = 0; i < n && !dup; i++)
                dup = out[i].track == s->track;
            if (!dup) {
                out[n++] = *s;
                taken[best]++;
            }
        }
    }
    return n;
}

static int content_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out,
                             int *n_out, tt_err *err)
{
    const content_model *m = cm(mm);
    const int d = m->d, maxc = m->p.max_centres;
    float *own_c = NULL, *own_w = NULL;
    const float *centres = NULL, *w = NULL;
    tt_scored *lists = NULL;
    int nc = 0, len[16], rc = 0;

    *n_out = 0;
    if (q->n_hist > 0) {
        own_c = tt_malloc((size_t)maxc * d * sizeof(float));
        own_w = tt_malloc((size_t)maxc * sizeof(float));
        nc = profile(m, q->hist, q->hist_conf, q->n_hist, own_c, own_w, m->p.seed);
        centres = own_c;
        w = own_w;
    } else if (q->user >= 0 && q->user < mm->n_users) {
        int64_t b = m->centre_ptr[q->user];
        nc = (int)(m->centre_ptr[q->user + 1] - b);
        centres = m->centres + (size_t)b * d;
        w = m->centre_w + b;
    }
    if (nc == 0) {
        rc = tt_err_set(err, TT_ESTATE, "the listener has played nothing with audio features, "
                                        "genres or an embedding");
        goto out;
    }
    if (k > mm->n_tracks)
        k = mm->n_tracks;
    lists = tt_malloc((size_t)nc * (k > 0 ? k : 1) * sizeof(tt_scored));
    for (int c = 0; c < nc && rc == 0; c++) {
        rc = nearest(m, centres + (size_t)c * d, q->exclude, q->n_exclude, q->allow, k,
                     lists + (size_t)c * k, err);
        len[c] = rc;
        rc = rc < 0 ? rc : 0;
    }
    if (rc == 0)
        *n_out = merge_centres(lists, len, k, w, nc, k, out);
out:
    free(own_c);
    free(own_w);
    free(lists);
    return rc;
}

static int content_similar(const tt_model *mm, int32_t track, int k, tt_scored *out, int *n_out,
                           tt_err *err)
{
    const content_model *m = cm(mm);
    int n;

    *n_out = 0;
    if (track < 0 || track >= mm->n_tracks)
        return tt_err_set_field(err, TT_ENOTFOUND, "track_id", "unknown track");
    if (!m->has[track])
        return tt_err_set_field(err, TT_ENOTFOUND, "track_id",
                                "the track has no audio features, genres or embedding");
    n = nearest(m, m->vec + (size_t)track * m->d, &track, 1, NULL, k, out, err);
    if (n < 0)
        return n;
    *n_out = n;
    return 0;
}

/* ---- batch recommendation (evaluation) ---- */

#define CBATCH 32 /* users per block: their centres are scored against the catalog at once */

struct cbatch {
    const content_model *m;
    const int32_t *users;
    const tt_csr *exclude;
    int k;      /* tracks per list (at most the catalog) */
    int stride; /* entries per output row (the caller's k), padded with track -1 */
    tt_scored *out;
};

/* Top @k eligible tracks of one row of scores. */
static int top_of_row(const content_model *m, const float *scores, const int32_t *excl,
                      int32_t n_excl, int k, tt_scored *out)
{
    tt_topk top;

    tt_topk_init(&top, out, k);
    for (int32_t t = 0; t < m->base.n_tracks; t++)
        if ((top.n < top.k || scores[t] > top.heap[0].score) && m->has[t] &&
            !tt_sorted_contains(excl, n_excl, t))
            tt__topk_sift(&top, t, scores[t]);
    return tt_topk_finish(&top);
}

static void cbatch_chunk(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct cbatch *bt = ctx;
    const content_model *m = bt->m;
    const int d = m->d, maxc = m->p.max_centres, k = bt->k;
    int32_t nt = m->base.n_tracks, rows = (int32_t)(e - b);
    float *C = tt_malloc((size_t)rows * maxc * d * sizeof(float));
    float *S = tt_malloc((size_t)rows * maxc * nt * sizeof(float) + 1);
    tt_scored *lists = tt_malloc((size_t)maxc * k * sizeof(tt_scored));
    int first[CBATCH + 1], nc = 0;

    (void)thread;
    for (int32_t i = 0; i < rows; i++) {
        int32_t u = bt->users[b + i];
        int64_t c0 = 0, c1 = 0;
        if (u >= 0 && u < m->base.n_users)
            c0 = m->centre_ptr[u], c1 = m->centre_ptr[u + 1];
        first[i] = nc;
        memcpy(C + (size_t)nc * d, m->centres + (size_t)c0 * d,
               (size_t)(c1 - c0) * d * sizeof(float));
        nc += (int)(c1 - c0);
    }
    first[rows] = nc;
    if (nc > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nc, nt, d, 1.0f, C, d, m->vec, d,
                    0.0f, S, nt);
    for (int32_t i = 0; i < rows; i++) {
        int32_t u = bt->users[b + i], len[16];
        const int32_t *ex = NULL;
        int32_t nex = 0;
        tt_scored *row = bt->out + (size_t)(b + i) * bt->stride;
        int ncu = first[i + 1] - first[i], got = 0;
        if (bt->exclude && u >= 0 && u < bt->exclude->rows) {
            ex = bt->exclude->indices + bt->exclude->indptr[u];
            nex = (int32_t)tt_csr_row_nnz(bt->exclude, u);
        }
        for (int c = 0; c < ncu; c++)
            len[c] = top_of_row(m, S + (size_t)(first[i] + c) * nt, ex, nex, k,
                                lists + (size_t)c * k);
        if (ncu > 0)
            got = merge_centres(lists, len, k, m->centre_w + m->centre_ptr[u], ncu, k, row);
        for (int j = got; j < bt->stride; j++)
            row[j] = (tt_scored){-1, 0.0f};
    }
    free(C);
    free(S);
    free(lists);
}

/* Every listener's stored centres scored against the catalog with sgemm, CBATCH at a time. */
static int content_recommend_batch(const tt_model *mm, const int32_t *users, int32_t n,
                                   const tt_csr *exclude, int k, tt_scored *out, tt_err *err)
{
    struct cbatch bt = {cm(mm), users, exclude, k < mm->n_tracks ? k : mm->n_tracks, k, out};

    (void)err;
    if (k < 1 || n < 1)
        return 0;
    if (bt.k < 1) {
        for (int64_t i = 0; i < (int64_t)n * k; i++)
            out[i] = (tt_scored){-1, 0.0f};
        return 0;
    }
    tt__blas_single_threaded();
    tt_parallel_for(n, CBATCH, 0, cbatch_chunk, &bt);
    return 0;
}

/* ---- training ---- */

struct centre_job {
    content_model *m;
    const tt_csr *conf;
    float *centres, *w;
    int64_t *ptr;
};

static void centre_range(void *ctx, int64_t b, int64_t e, int thread)
{
    struct centre_job *j = ctx;
    const int d = j->m->d, maxc = j->m->p.max_centres;
    float *c = tt_malloc((size_t)maxc * d * sizeof(float)), w[16];

    (void)thread;
    for (int64_t u = b; u < e; u++) {
        int64_t s = j->conf->indptr[u];
        int n = profile(j->m, j->conf->indices + s, j->conf->data + s,
                        (int32_t)(j->conf->indptr[u + 1] - s), c, w,
                        j->m->p.seed ^ (uint64_t)u);
        /* Every user was given room for the centres the count pass predicted; a run may
         * return fewer (k-means dropped some), which stay as zero-weight padding. */
        int room = (int)(j->ptr[u + 1] - j->ptr[u]);
        for (int i = 0; i < n && i < room; i++) {
            memcpy(j->centres + (size_t)(j->ptr[u] + i) * d, c + (size_t)i * d,
                   (size_t)d * sizeof(float));
            j->w[j->ptr[u] + i] = w[i];
        }
    }
    free(c);
}

/* Centres each user can get: from their positives that have content. */
static int centres_for(const content_model *m, const tt_csr *conf, int32_t u)
{
    int32_t nv = 0;

    for (int64_t j = conf->indptr[u]; j < conf->indptr[u + 1]; j++)
        nv += m->has[conf->indices[j]] && conf->data[j] > 0.0f;
    return centre_count(m, nv);
}

/* Drops the zero-weight padding left by centre_range, compacting the arrays. */
static void compact_centres(content_model *m, int64_t *ptr, float *centres, float *w)
{
    int64_t wpos = 0, start = 0;

    for (int32_t u = 0; u < m->base.n_users; u++) {
        int64_t end = ptr[u + 1];
        for (int64_t i = start; i < end; i++) {
            if (!(w[i] > 0.0f))
                continue;
            if (wpos != i) {
                memmove(centres + (size_t)wpos * m->d, centres + (size_t)i * m->d,
                        (size_t)m->d * sizeof(float));
                w[wpos] = w[i];
            }
            wpos++;
        }
        start = end;
        ptr[u + 1] = wpos;
    }
}

static content_model *model_new(void)
{
    content_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &content_ops;
    snprintf(m->base.name, sizeof(m->base.name), "content");
    return m;
}

int tt_content_train(const tt_train_set *ts, const tt_content_params *p, tt_model **out,
                     tt_err *err)
{
    const tt_dataset *ds = ts->ds;
    double t0 = tt_now();
    struct space sp;
    content_model *m;
    float *vec, *mean, *sd, *centres, *w;
    uint8_t *has;
    int64_t *ptr;
    int32_t nt = tt_dataset_n_tracks(ds), nu = ts->conf.rows;
    struct centre_job job;
    int rc;

    *out = NULL;
    rc = tt_content_params_check(p, err);
    if (rc == 0)
        rc = space_fit(ds, p, &sp, err);
    if (rc < 0)
        return rc;
    m = model_new();
    m->p = *p;
    m->d = sp.d;
    m->d_audio = sp.d_audio;
    m->d_genre = sp.d_genre;
    m->d_embed = sp.d_embed;
    m->base.n_users = nu;
    m->base.n_tracks = nt;
    m->base.catalog = tt_catalog_checksum(ds);
    m->n_genres = sp.n_genres;
    m->owned[0] = vec = tt_malloc(((size_t)nt + 1) * sp.d * sizeof(float));
    m->owned[1] = has = tt_calloc((size_t)nt + 1, 1);
    rc = all_vectors(&sp, p, ds, vec, has, err);
    m->vec = vec;
    m->has = has;
    m->owned[2] = mean = tt_malloc(TT_N_FEATURES * sizeof(float));
    m->owned[3] = sd = tt_malloc(TT_N_FEATURES * sizeof(float));
    memcpy(mean, sp.mean, sizeof(sp.mean));
    memcpy(sd, sp.sd, sizeof(sp.sd));
    m->mean = mean;
    m->sd = sd;
    m->owned[4] = sp.genre_dim;
    m->owned[5] = sp.emb_mean;
    m->owned[6] = sp.emb_sd;
    m->genre_dim = sp.genre_dim;
    m->emb_mean = sp.emb_mean;
    m->emb_sd = sp.emb_sd;
    m->owned[10] = sp.emb_log;
    m->emb_log = sp.emb_log;
    m->owned[11] = sp.emb_white;
    m->emb_white = sp.emb_white;
    m->whitened = sp.emb_white != NULL;
    m->audio_dup = sp.audio_dup;
    if (rc < 0) {
        tt_model_free(&m->base);
        return rc;
    }
    /* Listener centres: count, then fill in parallel, then drop what k-means merged. */
    ptr = tt_malloc(((size_t)nu + 1) * sizeof(int64_t));
    ptr[0] = 0;
    for (int32_t u = 0; u < nu; u++)
        ptr[u + 1] = ptr[u] + centres_for(m, &ts->conf, u);
    centres = tt_calloc((size_t)ptr[nu] * sp.d + 1, sizeof(float));
    w = tt_calloc((size_t)ptr[nu] + 1, sizeof(float));
    job = (struct centre_job){m, &ts->conf, centres, w, ptr};
    tt_parallel_for(nu, 256, 0, centre_range, &job);
    compact_centres(m, ptr, centres, w);
    m->owned[7] = ptr;
    m->owned[8] = centres;
    m->centre_ptr = ptr;
    m->centres = centres;
    m->owned[9] = w;
    m->centre_w = w;
    m->vectors_sum = tt_ann_vectors_checksum(vec, nt, sp.d);
    m->base.trained_at = tt_unix_time();
    m->base.train_seconds = tt_now() - t0;
    *out = &m->base;
    return 0;
}

/* ---- accessors ---- */

tt_content_params tt_content_model_params(const tt_model *mm)
{
    const content_model *m = cm(mm);

    return m ? m->p : tt_content_params_default();
}

const float *tt_content_model_vectors(const tt_model *mm, int *d)
{
    const content_model *m = cm(mm);

    if (d)
        *d = m ? m->d : 0;
    return m ? m->vec : NULL;
}

int tt_content_centres(const tt_model *mm, const tt_query *q, float *centres, float *w)
{
    const content_model *m = cm(mm);
    int64_t b, nc;

    if (!m)
        return 0;
    if (q->n_hist > 0)
        return profile(m, q->hist, q->hist_conf, q->n_hist, centres, w, m->p.seed);
    if (q->user < 0 || q->user >= mm->n_users)
        return 0;
    b = m->centre_ptr[q->user];
    nc = m->centre_ptr[q->user + 1] - b;
    memcpy(centres, m->centres + (size_t)b * m->d, (size_t)nc * m->d * sizeof(float));
    memcpy(w, m->centre_w + b, (size_t)nc * sizeof(float));
    return (int)nc;
}

int tt_content_has_vector(const tt_model *mm, int32_t t)
{
    const content_model *m = cm(mm);

    return m && t >= 0 && t < mm->n_tracks && m->has[t];
}

void tt_content_attach_index(tt_model *mm, tt_ann *ix)
{
    content_model *m = cm(mm);

    if (!m) {
        tt_ann_free(ix);
        return;
    }
    tt_ann_free(m->ann);
    m->ann = ix;
}

const tt_ann *tt_content_index(const tt_model *mm)
{
    const content_model *m = cm(mm);

    return m ? m->ann : NULL;
}

tt_ann_meta tt_content_index_expect(const tt_model *mm)
{
    const content_model *m = cm(mm);
    tt_ann_meta e;

    memset(&e, 0, sizeof(e));
    if (m) {
        e.catalog = mm->catalog;
        e.vectors = m->vectors_sum;
        e.n = mm->n_tracks;
        e.d = m->d;
    }
    return e;
}

void tt_content_index_path(const char *model_dir, char *buf, size_t n)
{
    snprintf(buf, n, "%s/faiss_indexes/content.idx", model_dir);
}

float tt_content_similarity(const tt_model *mm, int32_t a, int32_t b)
{
    const content_model *m = cm(mm);

    if (!m || a < 0 || b < 0 || a >= mm->n_tracks || b >= mm->n_tracks)
        return 0.0f;
    return dot(m->vec + (size_t)a * m->d, m->vec + (size_t)b * m->d, m->d);
}

/* ---- files ---- */

/* What a model file records besides its arrays, in the ranges training accepts. */
static const tt_mfield content_fields[] = {
    {"w_audio", TT_MF_F32, TT_MF_AT(content_model, p.w_audio), .lo = 0, .hi = FLT_MAX},
    {"w_key", TT_MF_F32, TT_MF_AT(content_model, p.w_key), .lo = 0, .hi = FLT_MAX},
    {"w_genre", TT_MF_F32, TT_MF_AT(content_model, p.w_genre), .lo = 0, .hi = FLT_MAX},
    {"w_embedding", TT_MF_F32, TT_MF_AT(content_model, p.w_embedding), .lo = 0, .hi = FLT_MAX},
    {"genre_dims", TT_MF_I32, TT_MF_AT(content_model, p.genre_dims), .lo = 0, .hi = 4096},
    {"max_centres", TT_MF_I32, TT_MF_AT(content_model, p.max_centres), .lo = 1, .hi = 16},
    {"tracks_per_centre", TT_MF_I32, TT_MF_AT(content_model, p.tracks_per_centre), .lo = 1,
     .hi = INT32_MAX},
    {"seed", TT_MF_U64, TT_MF_AT(content_model, p.seed)},
    {"d", TT_MF_I32, TT_MF_AT(content_model, d), .lo = 1, .hi = INT32_MAX},
    {"d_audio", TT_MF_I32, TT_MF_AT(content_model, d_audio), .lo = 0, .hi = INT32_MAX},
    {"d_genre", TT_MF_I32, TT_MF_AT(content_model, d_genre), .lo = 0, .hi = INT32_MAX},
    {"d_embed", TT_MF_I32, TT_MF_AT(content_model, d_embed), .lo = 0, .hi = INT32_MAX},
    {"n_genres", TT_MF_I32, TT_MF_AT(content_model, n_genres), .lo = 0, .hi = INT32_MAX},
    /* Optional: files written before whitening and augmentation read as without them. */
    {"whiten", TT_MF_F32, TT_MF_AT(content_model, p.whiten), .lo = 0, .hi = 1e6,
     .flags = TT_MF_OPTIONAL},
    {"augment_k", TT_MF_I32, TT_MF_AT(content_model, p.augment_k), .lo = 0, .hi = 1024,
     .flags = TT_MF_OPTIONAL},
    {"whitened", TT_MF_I32, TT_MF_AT(content_model, whitened), .lo = 0, .hi = 1,
     .flags = TT_MF_OPTIONAL},
    {"audio_dup", TT_MF_I32, TT_MF_AT(content_model, audio_dup), .lo = 0,
     .hi = (1 << TT_N_FEATURES) - 1, .flags = TT_MF_OPTIONAL},
    TT_MODEL_MFIELDS(content_model, base),
};
#define N_CONTENT_FIELDS ((int)(sizeof(content_fields) / sizeof(content_fields[0])))

static int content_save(const tt_model *mm, const char *path, tt_err *err)
{
    const content_model *m = cm(mm);
    tt_mfile_writer *w;
    int64_t nc = m->centre_ptr[mm->n_users];
    int rc = tt_mfile_create(path, "content", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, content_fields, N_CONTENT_FIELDS, m, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "audio_mean", TT_DT_F32, 1, TT_N_FEATURES, m->mean, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "audio_sd", TT_DT_F32, 1, TT_N_FEATURES, m->sd, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "genre_dim", TT_DT_I32, m->n_genres, 1, m->genre_dim, err);
    if (rc == 0 && m->d_embed)
        rc = tt_mfile_add(w, "embedding_mean", TT_DT_F32, 1, m->d_embed, m->emb_mean, err);
    if (rc == 0 && m->d_embed)
        rc = tt_mfile_add(w, "embedding_sd", TT_DT_F32, 1, m->d_embed, m->emb_sd, err);
    if (rc == 0 && m->d_embed)
        rc = tt_mfile_add(w, "embedding_log", TT_DT_U8, 1, m->d_embed, m->emb_log, err);
    if (rc == 0 && m->whitened)
        rc = tt_mfile_add(w, "embedding_whiten", TT_DT_F32, m->d_embed, m->d_embed,
                          m->emb_white, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "vectors", TT_DT_F32, mm->n_tracks, m->d, m->vec, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "has_vector", TT_DT_U8, mm->n_tracks, 1, m->has, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "centre_ptr", TT_DT_I64, (int64_t)mm->n_users + 1, 1,
                          m->centre_ptr, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "centres", TT_DT_F32, nc, m->d, m->centres, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "centre_weight", TT_DT_F32, nc, 1, m->centre_w, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

static int get_f32(tt_mfile *f, const char *name, int64_t rows, int64_t cols, const float **out,
                   tt_err *err)
{
    const void *p = NULL;
    int rc = tt_mfile_get(f, name, TT_DT_F32, &rows, &cols, &p, err);

    *out = p;
    return rc;
}

/* The embedding's whitening matrix: every entry finite, or the file is refused. */
static int get_whitening(content_model *m, tt_mfile *f, tt_err *err)
{
    int64_t e = m->d_embed;
    int rc = get_f32(f, "embedding_whiten", e, e, &m->emb_white, err);

    for (int64_t i = 0; rc == 0 && i < e * e; i++)
        if (!isfinite(m->emb_white[i]))
            rc = tt_err_set(err, TT_ECORRUPT,
                            "model file %s refused: embedding_whiten is not finite",
                            tt_mfile_path(f));
    return rc;
}

static int check_loaded(const content_model *m, tt_mfile *f, tt_err *err)
{
    const int64_t *ptr = m->centre_ptr;

    if (ptr[0] != 0)
        goto bad;
    for (int32_t u = 0; u < m->base.n_users; u++)
        if (ptr[u + 1] < ptr[u] || ptr[u + 1] - ptr[u] > m->p.max_centres)
            goto bad;
    for (int32_t g = 0; g < m->n_genres; g++)
        if (m->genre_dim[g] < -1 || m->genre_dim[g] >= m->d_genre)
            goto bad;
    return 0;
bad:
    return tt_err_set(err, TT_ECORRUPT, "model file %s refused: inconsistent content sections",
                      tt_mfile_path(f));
}

/* The metadata of @f into a new model, the part sizes checked against the whole. */
static int load_meta(tt_mfile *f, content_model **out, tt_err *err)
{
    content_model *m = model_new();
    int rc;

    m->p = tt_content_params_default();
    m->p.whiten = 0.0f;
    m->p.augment_k = 0;
    rc = tt_mfile_get_meta(f, content_fields, N_CONTENT_FIELDS, m, err);
    if (rc == 0 && m->whitened && m->d_embed < 1)
        rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: whitened without an "
                                          "embedding", tt_mfile_path(f));
    if (rc == 0 && (int64_t)m->d != (int64_t)m->d_audio + m->d_genre + m->d_embed)
        rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad content sizes",
                        tt_mfile_path(f));
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int tt__content_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    const void *p = NULL;
    int64_t rows, cols, nc = -1, one = 1;
    content_model *m;
    int rc = load_meta(f, &m, err);

    if (rc < 0)
        return rc;
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    rc = get_f32(f, "audio_mean", 1, TT_N_FEATURES, &m->mean, err);
    if (rc == 0)
        rc = get_f32(f, "audio_sd", 1, TT_N_FEATURES, &m->sd, err);
    rows = m->n_genres, cols = 1;
    if (rc == 0)
        rc = tt_mfile_get(f, "genre_dim", TT_DT_I32, &rows, &cols, &p, err);
    m->genre_dim = p;
    if (rc == 0 && m->d_embed)
        rc = get_f32(f, "embedding_mean", 1, m->d_embed, &m->emb_mean, err);
    if (rc == 0 && m->d_embed)
        rc = get_f32(f, "embedding_sd", 1, m->d_embed, &m->emb_sd, err);
    rows = 1, cols = m->d_embed;
    if (rc == 0 && m->d_embed &&
        tt_mfile_get(f, "embedding_log", TT_DT_U8, &rows, &cols, &p, NULL) == 0)
        m->emb_log = p; /* files written before logs were taken have no such section */
    if (rc == 0 && m->whitened)
        rc = get_whitening(m, f, err);
    if (rc == 0)
        rc = get_f32(f, "vectors", m->base.n_tracks, m->d, &m->vec, err);
    rows = m->base.n_tracks;
    if (rc == 0)
        rc = tt_mfile_get(f, "has_vector", TT_DT_U8, &rows, &one, &p, err);
    m->has = p;
    rows = (int64_t)m->base.n_users + 1, cols = 1;
    if (rc == 0)
        rc = tt_mfile_get(f, "centre_ptr", TT_DT_I64, &rows, &cols, &p, err);
    m->centre_ptr = p;
    if (rc == 0) {
        cols = m->d;
        rc = tt_mfile_get(f, "centres", TT_DT_F32, &nc, &cols, &p, err);
        m->centres = p;
    }
    if (rc == 0 && m->centre_ptr[m->base.n_users] != nc)
        rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: centre count mismatch",
                        tt_mfile_path(f));
    if (rc == 0)
        rc = get_f32(f, "centre_weight", nc, 1, &m->centre_w, err);
    if (rc == 0)
        rc = check_loaded(m, f, err);
    if (rc < 0) {
        m->file = NULL; /* the caller still owns @f on failure */
        tt_model_free(&m->base);
        return rc;
    }
    m->vectors_sum = tt_ann_vectors_checksum(m->vec, m->base.n_tracks, m->d);
    *out = &m->base;
    return 0;
}

static void content_free(tt_model *mm)
{
    content_model *m = cm(mm);

    for (size_t i = 0; i < sizeof(m->owned) / sizeof(m->owned[0]); i++)
        free(m->owned[i]);
    tt_ann_free(m->ann);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops content_ops = {
    .kind = "content",
    .recommend = content_recommend,
    .recommend_batch = content_recommend_batch,
    .similar = content_similar,
    .save = content_save,
    .free = content_free,
};
