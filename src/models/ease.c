/*
 * EASE: a closed-form item-item model (Steck, WWW 2019).
 *
 * Minimising |X - X B|^2 + lambda |B|^2 subject to diag(B) = 0 has the solution
 *   B = I - P diag(1 / diag(P)),  P = (X'X + lambda I)^-1,
 * here with two refinements (tt/ease.h): the diagonal regularization of emphasised denoising
 * (lambda + p/(1-p) G_ii in place of lambda) and each listener's row at the same length in
 * X'X. So training is one Gram matrix and one symmetric positive definite inverse (LAPACK's
 * Cholesky spotrf + spotri). The Gram matrix is built from the sparse user rows, each
 * thread owning a band of its rows, at a cost of sum_u n_u^2 rather than the users x n^2 of
 * a dense product. Serving sums the rows of B of a user's tracks, weighted by their
 * confidences; a user's own rows are kept in the model (kept-track indices and
 * confidences), so a known user can be scored without their history.
 */
#include "confidence_priv.h"
#include "rank_priv.h"
#include "tt/core.h"
#include "tt/ease.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* LAPACK (Fortran symbols; the engine links LAPACK through OpenBLAS and -llapack). */
extern void spotrf_(const char *uplo, const int *n, float *a, const int *lda, int *info);
extern void spotri_(const char *uplo, const int *n, float *a, const int *lda, int *info);

#define N_OWNED 6

struct tt_ease_model {
    tt_model base;
    tt_ease_params p;
    int32_t n;              /* kept tracks: B is n x n */
    float scale;            /* 1 / mean f(r) over the training pairs */
    const float *B;         /* n x n, row-major, zero diagonal */
    const int32_t *kept;    /* n: the track of each row of B, ascending */
    int32_t *index;         /* n_tracks: row of B of each track, or -1 (always owned) */
    const float *bm25_norm; /* n_tracks: BM25 length normalisation of each track */
    const int64_t *row_ptr; /* n_users + 1: each user's training row ... */
    const int32_t *row_idx; /* ... as kept-track indices ... */
    const float *row_val;   /* ... and confidences */
    int64_t nnz;
    tt__lists lists;        /* every user's list, ranked at training time */
    tt_ease_stats stats;    /* training stage times (zero when loaded) */
    void *owned[N_OWNED];   /* arrays this model allocated */
    tt_mfile *file;         /* when loaded from disk */
};

tt_ease_params tt_ease_params_default(void)
{
    tt_ease_params p;

    memset(&p, 0, sizeof(p));
    p.lambda = 50.0f;
    p.emphasis = 0.5f;
    p.user_norm = true;
    p.scaling = TT_ALS_LOG;
    p.bm25_k1 = 100.0f;
    p.bm25_b = 0.8f;
    p.log_eps = 1.0f;
    p.max_tracks = 30000;
    p.min_listeners = 2;
    p.precompute = 200;
    p.seed = 42;
    return p;
}

static int check_params(const tt_ease_params *p, tt_err *err)
{
    if (!(p->lambda > 0.0f) || !(p->lambda <= 1e7f))
        return tt_err_set_field(err, TT_EINVAL, "lambda", "lambda must be a number > 0, <= 1e7");
    if (!(p->emphasis >= 0.0f) || !(p->emphasis <= 0.9f))
        return tt_err_set_field(err, TT_EINVAL, "emphasis", "emphasis must be in [0, 0.9]");
    if ((unsigned)p->scaling >= TT_ALS_N_SCALINGS)
        return tt_err_set_field(err, TT_EINVAL, "scaling", "unknown scaling %d", (int)p->scaling);
    if (!(p->bm25_k1 > 0.0f) || !isfinite(p->bm25_k1) || !(p->bm25_b >= 0.0f) ||
        !(p->bm25_b <= 1.0f))
        return tt_err_set_field(err, TT_EINVAL, "bm25_k1", "BM25 needs k1 > 0 and b in [0, 1]");
    if (!(p->log_eps > 0.0f) || !isfinite(p->log_eps))
        return tt_err_set_field(err, TT_EINVAL, "log_eps", "log_eps must be a number > 0");
    if (p->max_tracks < 1 || p->max_tracks > 1000000)
        return tt_err_set_field(err, TT_EINVAL, "max_tracks", "max_tracks must be 1..1000000");
    if (p->min_listeners < 1)
        return tt_err_set_field(err, TT_EINVAL, "min_listeners", "min_listeners must be >= 1");
    if (p->precompute < 0)
        return tt_err_set_field(err, TT_EINVAL, "precompute", "precompute must be >= 0");
    return 0;
}

static tt__conf_scaling scaling_of(const tt_ease_params *p)
{
    return (tt__conf_scaling){p->scaling, p->bm25_k1, p->bm25_b, p->log_eps};
}

static const struct tt_model_ops ease_ops;

static tt_ease_model *model_new(void)
{
    tt_ease_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &ease_ops;
    snprintf(m->base.name, sizeof(m->base.name), "ease");
    return m;
}

/* index[t] = row of B for each kept track, from the ascending @kept. */
static int32_t *index_of(const int32_t *kept, int32_t n, int32_t n_tracks)
{
    int32_t *index = tt_malloc(((size_t)n_tracks + 1) * sizeof(int32_t));

    for (int32_t t = 0; t < n_tracks; t++)
        index[t] = -1;
    for (int32_t i = 0; i < n; i++)
        index[kept[i]] = i;
    return index;
}

/* ---- training ---- */

/* The tracks with at least min_listeners positive listeners, ascending; returns how many. */
static int32_t keep_tracks(const tt_csr *conf, int min_listeners, int32_t **kept)
{
    int32_t *count = tt_calloc((size_t)conf->cols + 1, sizeof(int32_t)), n = 0;

    for (int64_t i = 0; i < conf->nnz; i++)
        count[conf->indices[i]]++;
    *kept = tt_malloc(((size_t)conf->cols + 1) * sizeof(int32_t));
    for (int32_t t = 0; t < conf->cols; t++)
        if (count[t] >= min_listeners)
            (*kept)[n++] = t;
    free(count);
    return n;
}

/*
 * The users' rows restricted to the kept tracks, with confidences @val (parallel to
 * conf->data): pairs of other tracks and pairs of zero confidence (BM25 with a zero idf)
 * are dropped.
 */
static void user_rows(tt_ease_model *m, const tt_csr *conf, const float *val)
{
    int64_t *ptr = tt_malloc(((size_t)conf->rows + 1) * sizeof(int64_t)), nnz = 0;
    int32_t *idx = tt_malloc(((size_t)conf->nnz + 1) * sizeof(int32_t));
    float *v = tt_malloc(((size_t)conf->nnz + 1) * sizeof(float));

    ptr[0] = 0;
    for (int32_t u = 0; u < conf->rows; u++) {
        for (int64_t i = conf->indptr[u]; i < conf->indptr[u + 1]; i++) {
            int32_t j = m->index[conf->indices[i]];
            if (j < 0 || !(val[i] > 0.0f))
                continue;
            idx[nnz] = j;
            v[nnz++] = val[i];
        }
        ptr[u + 1] = nnz;
    }
    m->row_ptr = m->owned[2] = ptr;
    m->row_idx = m->owned[3] = idx;
    m->row_val = m->owned[4] = v;
    m->nnz = nnz;
}

struct gram {
    const tt_ease_model *m;
    tt_csr cols;     /* kept tracks x users: the transpose of the user rows */
    const float *uw; /* each user's weight in G (user_norm), or NULL */
    float *G;        /* n x n */
};

/* Rows [b, e) of G = X'X: G_ij = sum over the listeners u of i of x_ui x_uj. */
static void gram_rows(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct gram *g = ctx;
    const tt_ease_model *m = g->m;

    (void)thread;
    for (int64_t i = b; i < e; i++) {
        float *Gi = g->G + (size_t)i * m->n;
        for (int64_t a = g->cols.indptr[i]; a < g->cols.indptr[i + 1]; a++) {
            int32_t u = g->cols.indices[a];
            float xi = g->cols.data[a] * (g->uw ? g->uw[u] : 1.0f);
            for (int64_t c = m->row_ptr[u]; c < m->row_ptr[u + 1]; c++)
                Gi[m->row_idx[c]] += xi * m->row_val[c];
        }
    }
}

/*
 * user_norm's weights: mean |x|^2 / |x_u|^2 over the users with a kept track, so each row
 * enters G at the mean length and lambda keeps its scale.
 */
static float *user_weights(const tt_ease_model *m)
{
    float *w = tt_malloc(((size_t)m->base.n_users + 1) * sizeof(float));
    double sum = 0.0;
    int64_t users = 0;

    for (int32_t u = 0; u < m->base.n_users; u++) {
        double sq = 0.0;
        for (int64_t c = m->row_ptr[u]; c < m->row_ptr[u + 1]; c++)
            sq += (double)m->row_val[c] * m->row_val[c];
        w[u] = (float)sq;
        sum += sq;
        users += sq > 0.0;
    }
    for (int32_t u = 0; u < m->base.n_users; u++)
        w[u] = w[u] > 0.0f ? (float)(sum / (double)users / w[u]) : 0.0f;
    return w;
}

/* X'X (rows weighted by user_norm) plus the regularization, into a new n x n array. */
static float *gram_matrix(const tt_ease_model *m, int threads)
{
    tt_csr rows = {m->base.n_users, m->n, m->nnz, (int64_t *)m->row_ptr, (int32_t *)m->row_idx,
                   (float *)m->row_val};
    float *uw = m->p.user_norm ? user_weights(m) : NULL;
    struct gram g = {m, {0}, uw, NULL};
    size_t bytes = (size_t)m->n * m->n * sizeof(float);
    double drop = (double)m->p.emphasis / (1.0 - (double)m->p.emphasis);

    g.G = tt_aligned_alloc(bytes);
    memset(g.G, 0, bytes);
    tt_csr_transpose(&rows, &g.cols);
    tt_parallel_for(m->n, 16, threads, gram_rows, &g);
    tt_csr_release(&g.cols);
    free(uw);
    for (int32_t i = 0; i < m->n; i++) {
        float *d = &g.G[(size_t)i * m->n + i];
        *d = (float)((double)*d * (1.0 + drop) + m->p.lambda);
    }
    return g.G;
}

/*
 * G^-1 in place by Cholesky (spotrf, spotri). LAPACK is column-major, so its upper triangle
 * is our lower one; the inverse is symmetric and mirrored into the other half. The n^3 of the
 * fit, and nothing else of the process runs beside it (fits are sequential, the service does
 * not train): BLAS gets the fit's @threads for these two calls, then is single-threaded again
 * as everywhere else (tt__blas_single_threaded).
 */
static int invert_spd(float *G, int32_t n, int threads, tt_err *err)
{
    int nn = n, info = 0;

    openblas_set_num_threads(threads);
    spotrf_("U", &nn, G, &nn, &info);
    if (info == 0)
        spotri_("U", &nn, G, &nn, &info);
    openblas_set_num_threads(1);
    if (info != 0)
        return tt_err_set(err, TT_EINTERNAL,
                          "EASE: the Gram matrix is not positive definite (LAPACK info %d); "
                          "raise lambda", info);
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = i + 1; j < n; j++)
            G[(size_t)i * n + j] = G[(size_t)j * n + i];
    return 0;
}

/* B = I - P diag(1 / diag(P)) in place: B_ij = -P_ij / P_jj, diag(B) = 0. */
static void weights_from_inverse(float *P, int32_t n)
{
    float *inv_d = tt_malloc(((size_t)n + 1) * sizeof(float));

    for (int32_t j = 0; j < n; j++)
        inv_d[j] = 1.0f / P[(size_t)j * n + j];
    for (int32_t i = 0; i < n; i++) {
        float *row = P + (size_t)i * n;
        for (int32_t j = 0; j < n; j++)
            row[j] = -row[j] * inv_d[j];
        row[i] = 0.0f;
    }
    free(inv_d);
}


/* Every user's best unheard tracks, with the batch path. */
static void precompute_lists(tt_ease_model *m, const tt_train_set *ts)
{
    double t0 = tt_now();

    tt__lists_rank(&m->lists, &m->base, ts, m->p.precompute < m->n ? m->p.precompute : m->n,
                   0, 0);
    m->stats.rank_seconds = tt_now() - t0;
    m->stats.ranked_users = m->lists.n;
}

/* Refuses a catalog whose kept tracks B cannot hold (TT_ESTATE: the pipeline skips EASE). */
static int check_size(int32_t n, const tt_ease_params *p, tt_err *err)
{
    if (n == 0)
        return tt_err_set(err, TT_ESTATE, "no track has %d or more listeners for EASE",
                          p->min_listeners);
    if (n > p->max_tracks)
        return tt_err_set(err, TT_ESTATE,
                          "too many tracks for EASE on this machine (%d > %d, the limit; "
                          "B would take %.1f GB)",
                          n, p->max_tracks, (double)n * n * sizeof(float) / 1e9);
    return 0;
}

int tt_ease_train(const tt_train_set *ts, const tt_ease_params *p, tt_model **out, tt_err *err)
{
    tt__conf_scaling s = scaling_of(p);
    double t0 = tt_now(), t;
    tt_ease_model *m;
    int32_t *kept, n;
    float *val, *norm, *B;
    int rc = check_params(p, err);

    if (rc < 0)
        return rc;
    n = keep_tracks(&ts->conf, p->min_listeners, &kept);
    if ((rc = check_size(n, p, err)) < 0) {
        free(kept);
        return rc;
    }
    tt__blas_single_threaded();
    m = model_new();
    m->p = *p;
    m->n = n;
    m->base.n_users = ts->conf.rows;
    m->base.n_tracks = ts->conf.cols;
    m->base.catalog = tt_catalog_checksum(ts->ds);
    m->kept = m->owned[0] = kept;
    m->index = index_of(kept, n, ts->conf.cols);
    norm = tt_malloc(((size_t)ts->conf.cols + 1) * sizeof(float));
    val = tt__conf_scale_all(&s, &ts->conf, 1.0f, norm, &m->scale);
    m->bm25_norm = m->owned[1] = norm;
    user_rows(m, &ts->conf, val);
    free(val);
    t = tt_now();
    B = gram_matrix(m, p->threads);
    m->B = m->owned[5] = B;
    m->stats.gram_seconds = tt_now() - t;
    t = tt_now();
    if ((rc = invert_spd(B, n, tt_threads_resolve(p->threads), err)) < 0) {
        tt_model_free(&m->base);
        return rc;
    }
    m->stats.inverse_seconds = tt_now() - t;
    weights_from_inverse(B, n);
    precompute_lists(m, ts);
    m->base.train_seconds = tt_now() - t0;
    m->base.trained_at = tt_unix_time();
    *out = &m->base;
    return 0;
}

int32_t tt_ease_tracks(const tt_model *m)
{
    return m && m->ops == &ease_ops ? ((const tt_ease_model *)m)->n : 0;
}

int tt_ease_stats_of(const tt_model *m, tt_ease_stats *out)
{
    if (!m || m->ops != &ease_ops)
        return TT_EINVAL;
    *out = ((const tt_ease_model *)m)->stats;
    return 0;
}

/* ---- serving ---- */

/* scores (n) = sum_j val_j B[idx_j, :]: the rows of B of a user's tracks. */
static void score_user(const tt_ease_model *m, const int32_t *idx, const float *val, int64_t cnt,
                       float *restrict scores)
{
    memset(scores, 0, (size_t)m->n * sizeof(float));
    for (int64_t j = 0; j < cnt; j++) {
        const float *restrict b = m->B + (size_t)idx[j] * m->n;
        const float v = val[j];
        for (int32_t t = 0; t < m->n; t++)
            scores[t] += v * b[t];
    }
}

/*
 * Sorted track ids @excl (@n_excl) as rows of B, into @out (room for n_excl); returns how
 * many are kept tracks. Rows follow track order, so the result stays sorted.
 */
static int32_t map_sorted(const tt_ease_model *m, const int32_t *excl, int32_t n_excl,
                          int32_t *out)
{
    int32_t c = 0;

    for (int32_t i = 0; i < n_excl; i++)
        if (excl[i] >= 0 && excl[i] < m->base.n_tracks && m->index[excl[i]] >= 0)
            out[c++] = m->index[excl[i]];
    return c;
}

/*
 * The top @k of @scores (rows of B) into @out as track ids, skipping the tracks of @excl and
 * those @allow (a track-space mask, may be NULL) forbids; returns how many.
 */
static int select_tracks(const tt_ease_model *m, const float *scores, const int32_t *excl,
                         int32_t n_excl, const uint8_t *allow, int k, tt_scored *out)
{
    int32_t *ex = tt_malloc(((size_t)n_excl + 1) * sizeof(int32_t)), nex;
    uint8_t *al = NULL;
    int got;

    nex = map_sorted(m, excl, n_excl, ex);
    if (allow) {
        al = tt_malloc((size_t)m->n + 1);
        for (int32_t i = 0; i < m->n; i++)
            al[i] = allow[m->kept[i]] != 0;
    }
    got = tt__select_top(scores, m->n, ex, nex, al, k, out);
    for (int i = 0; i < got; i++)
        out[i].track = m->kept[out[i].track];
    free(ex);
    free(al);
    return got;
}

/*
 * A user given by their history: the kept tracks among @hist with positive @r, at the
 * confidence training would have given them (BM25's idf counts every positive track, kept
 * or not, as training did). Returns how many into @idx / @val (room for @n each).
 */
static int32_t fold_in(const tt_ease_model *m, const int32_t *hist, const float *r, int32_t n,
                       int32_t *idx, float *val)
{
    tt__conf_scaling s = scaling_of(&m->p);
    int32_t n_pos = 0, c = 0;

    for (int32_t j = 0; j < n; j++)
        n_pos += hist[j] >= 0 && hist[j] < m->base.n_tracks && r[j] > 0.0f;
    for (int32_t j = 0; j < n; j++) {
        float v;
        if (hist[j] < 0 || hist[j] >= m->base.n_tracks || !(r[j] > 0.0f) ||
            m->index[hist[j]] < 0)
            continue;
        v = tt__conf_scale_one(&s, r[j], m->bm25_norm[hist[j]], n_pos, m->base.n_tracks,
                               m->scale);
        if (!(v > 0.0f))
            continue;
        idx[c] = m->index[hist[j]];
        val[c++] = v;
    }
    return c;
}

static int ease_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out,
                          int *n_out, tt_err *err)
{
    const tt_ease_model *m = (const tt_ease_model *)mm;
    int32_t *idx_buf = NULL;
    float *val_buf = NULL, *scores;
    const int32_t *idx;
    const float *val;
    int64_t cnt;

    if (tt__lists_answer(&m->lists, q, k, out, n_out))
        return 0;
    if (q->n_hist > 0) {
        idx = idx_buf = tt_malloc((size_t)q->n_hist * sizeof(int32_t));
        val = val_buf = tt_malloc((size_t)q->n_hist * sizeof(float));
        cnt = fold_in(m, q->hist, q->hist_conf, q->n_hist, idx_buf, val_buf);
    } else if (q->user >= 0 && q->user < mm->n_users) {
        idx = m->row_idx + m->row_ptr[q->user];
        val = m->row_val + m->row_ptr[q->user];
        cnt = m->row_ptr[q->user + 1] - m->row_ptr[q->user];
    } else {
        return tt_err_set_field(err, TT_ENOTFOUND, "user_id", "user has no history in the model");
    }
    if (cnt == 0) {
        free(idx_buf);
        free(val_buf);
        return tt_err_set(err, TT_ESTATE, "none of the user's tracks is in EASE's item matrix");
    }
    scores = tt_malloc(((size_t)m->n + 1) * sizeof(float));
    score_user(m, idx, val, cnt, scores);
    *n_out = select_tracks(m, scores, q->exclude, q->n_exclude, q->allow, k, out);
    free(scores);
    free(idx_buf);
    free(val_buf);
    return 0;
}

int tt_ease_score_tracks(const tt_model *mm, const tt_query *q, const int32_t *tracks, int32_t n,
                         float *out, double moments[2], tt_err *err)
{
    const tt_ease_model *m = (const tt_ease_model *)mm;
    int32_t *idx = NULL;
    float *val = NULL, *scores;
    int64_t cnt;

    if (!mm || mm->ops != &ease_ops)
        return tt_err_set(err, TT_EINVAL, "not an EASE model");
    if (q->n_hist > 0) {
        idx = tt_malloc((size_t)q->n_hist * sizeof(int32_t));
        val = tt_malloc((size_t)q->n_hist * sizeof(float));
        cnt = fold_in(m, q->hist, q->hist_conf, q->n_hist, idx, val);
    } else if (q->user >= 0 && q->user < mm->n_users) {
        cnt = m->row_ptr[q->user + 1] - m->row_ptr[q->user];
    } else {
        return tt_err_set_field(err, TT_ENOTFOUND, "user_id", "user has no history in the model");
    }
    scores = tt_malloc(((size_t)m->n + 1) * sizeof(float));
    if (q->n_hist > 0)
        score_user(m, idx, val, cnt, scores);
    else
        score_user(m, m->row_idx + m->row_ptr[q->user], m->row_val + m->row_ptr[q->user], cnt,
                   scores);
    for (int32_t i = 0; i < n; i++) {
        int32_t t = tracks[i], j = t >= 0 && t < mm->n_tracks ? m->index[t] : -1;
        out[i] = j >= 0 ? scores[j] : 0.0f;
    }
    if (moments) {
        double sum = 0.0, sq = 0.0;
        for (int32_t j = 0; j < m->n; j++) {
            sum += scores[j];
            sq += (double)scores[j] * scores[j];
        }
        moments[0] = sum / m->n;
        moments[1] = sqrt(fmax(sq / m->n - moments[0] * moments[0], 0.0));
    }
    free(scores);
    free(idx);
    free(val);
    return 0;
}

struct batch {
    const tt_ease_model *m;
    const int32_t *users;
    const tt_csr *exclude;
    float *S; /* threads x (2 x chunk x n) scratch: the users' rows, then their scores */
    int k;
    tt_scored *out;
};

#define BATCH_CHUNK 64
/*
 * How many more multiply-adds a second sgemm does than the sum of rows: rows of B read from
 * memory run at about 1/30 of sgemm's rate here (2 cores, 2m snapshot: 2.5 against 95 G a
 * second). Listeners with fewer tracks than n / 30 are scored by rows: 6x faster at 37 of
 * 10,000 tracks, 2x at 67 of 4,000; sgemm wins at 153 of 3,000 and 99 of 1,000.
 */
#define SPARSE_RATE 30

/* Tracks in @u's training row (0 for a user the model does not know). */
static int64_t row_len(const tt_ease_model *m, int32_t u)
{
    return u >= 0 && u < m->base.n_users ? m->row_ptr[u + 1] - m->row_ptr[u] : 0;
}

static bool has_row(const tt_ease_model *m, int32_t u)
{
    return row_len(m, u) > 0;
}

/* One user's ranked row of the batch from their @scores. */
static void batch_row(const struct batch *bt, int32_t u, const float *scores, tt_scored *row)
{
    const int32_t *ex = NULL;
    int32_t nex = 0;
    int got = 0;

    if (bt->exclude && u >= 0 && u < bt->exclude->rows) {
        ex = bt->exclude->indices + bt->exclude->indptr[u];
        nex = (int32_t)tt_csr_row_nnz(bt->exclude, u);
    }
    if (has_row(bt->m, u))
        got = select_tracks(bt->m, scores, ex, nex, NULL, bt->k, row);
    for (int j = got; j < bt->k; j++)
        row[j] = (tt_scored){-1, 0.0f};
}

/*
 * One chunk of users, then each top k. Their scores are their rows times B: as a sum of the
 * rows of B of their tracks when the rows are short, else as one sgemm of the rows as a dense
 * block (which multiplies every zero of it too, but at the machine's full rate).
 */
static void batch_chunk(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct batch *bt = ctx;
    const tt_ease_model *m = bt->m;
    const int32_t n = m->n, rows = (int32_t)(e - b);
    float *Xb = bt->S + (size_t)thread * 2 * BATCH_CHUNK * n;
    float *S = Xb + (size_t)BATCH_CHUNK * n;
    int64_t nnz = 0;

    for (int32_t i = 0; i < rows; i++)
        nnz += row_len(m, bt->users[b + i]);
    if (nnz * SPARSE_RATE < (int64_t)rows * n) {
        for (int32_t i = 0; i < rows; i++) {
            int32_t u = bt->users[b + i];
            int64_t len = row_len(m, u);
            if (len > 0) /* batch_row fills the others' rows with -1 */
                score_user(m, m->row_idx + m->row_ptr[u], m->row_val + m->row_ptr[u], len,
                           S + (size_t)i * n);
            batch_row(bt, u, S + (size_t)i * n, bt->out + (size_t)(b + i) * bt->k);
        }
        return;
    }
    memset(Xb, 0, (size_t)rows * n * sizeof(float));
    for (int32_t i = 0; i < rows; i++) {
        int32_t u = bt->users[b + i];
        if (!has_row(m, u))
            continue;
        for (int64_t c = m->row_ptr[u]; c < m->row_ptr[u + 1]; c++)
            Xb[(size_t)i * n + m->row_idx[c]] = m->row_val[c];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, n, 1.0f, Xb, n, m->B, n,
                0.0f, S, n);
    for (int32_t i = 0; i < rows; i++)
        batch_row(bt, bt->users[b + i], S + (size_t)i * n, bt->out + (size_t)(b + i) * bt->k);
}

static int ease_recommend_batch(const tt_model *mm, const int32_t *users, int32_t n,
                                const tt_csr *exclude, int k, tt_scored *out, tt_err *err)
{
    const tt_ease_model *m = (const tt_ease_model *)mm;
    int threads = tt_threads_resolve(m->p.threads);
    size_t per = (size_t)2 * BATCH_CHUNK * m->n;
    struct batch bt = {m, users, exclude, tt_aligned_alloc(threads * per * sizeof(float)), k, out};

    (void)err;
    tt__blas_single_threaded();
    tt_parallel_for(n, BATCH_CHUNK, threads, batch_chunk, &bt);
    free(bt.S);
    return 0;
}

/*
 * The tracks track's row of B weighs most: those its listeners are predicted to play. A
 * track left out of B (too few listeners) has no similar tracks.
 */
static int ease_similar(const tt_model *mm, int32_t track, int k, tt_scored *out, int *n_out,
                        tt_err *err)
{
    const tt_ease_model *m = (const tt_ease_model *)mm;

    (void)err;
    *n_out = 0;
    if (m->index[track] < 0)
        return 0;
    *n_out = select_tracks(m, m->B + (size_t)m->index[track] * m->n, &track, 1, NULL, k, out);
    return 0;
}

static bool ease_knows_user(const tt_model *mm, int32_t u)
{
    return has_row((const tt_ease_model *)mm, u);
}

/* ---- files ---- */

/* What a model file records besides its arrays, each with the range training accepts. */
static const tt_mfield ease_fields[] = {
    {"n_kept", TT_MF_I32, TT_MF_AT(tt_ease_model, n), .lo = 1, .hi = 1000000},
    {"lambda", TT_MF_F32, TT_MF_AT(tt_ease_model, p.lambda), .lo = FLT_MIN, .hi = 1e7},
    {"emphasis", TT_MF_F32, TT_MF_AT(tt_ease_model, p.emphasis), .lo = 0, .hi = 0.9f,
     .flags = TT_MF_OPTIONAL},
    {"user_norm", TT_MF_BOOL, TT_MF_AT(tt_ease_model, p.user_norm), .flags = TT_MF_OPTIONAL},
    {"scaling", TT_MF_ENUM, TT_MF_AT(tt_ease_model, p.scaling), .names = tt_als_scaling_names,
     .n_names = TT_ALS_N_SCALINGS},
    {"bm25_k1", TT_MF_F32, TT_MF_AT(tt_ease_model, p.bm25_k1), .lo = FLT_TRUE_MIN,
     .hi = FLT_MAX},
    {"bm25_b", TT_MF_F32, TT_MF_AT(tt_ease_model, p.bm25_b), .lo = 0, .hi = 1},
    {"log_eps", TT_MF_F32, TT_MF_AT(tt_ease_model, p.log_eps), .lo = FLT_TRUE_MIN,
     .hi = FLT_MAX},
    {"max_tracks", TT_MF_I32, TT_MF_AT(tt_ease_model, p.max_tracks), .lo = 1, .hi = 1000000},
    {"min_listeners", TT_MF_I32, TT_MF_AT(tt_ease_model, p.min_listeners), .lo = 1,
     .hi = INT32_MAX},
    {"scale", TT_MF_F32, TT_MF_AT(tt_ease_model, scale), .lo = 0, .hi = FLT_MAX},
    TT_MODEL_MFIELDS(tt_ease_model, base),
};
#define N_EASE_FIELDS ((int)(sizeof(ease_fields) / sizeof(ease_fields[0])))

static int ease_save(const tt_model *mm, const char *path, tt_err *err)
{
    const tt_ease_model *m = (const tt_ease_model *)mm;
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "ease", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, ease_fields, N_EASE_FIELDS, m, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "B", TT_DT_F32, m->n, m->n, m->B, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "kept_tracks", TT_DT_I32, m->n, 1, m->kept, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_bm25_norm", TT_DT_F32, mm->n_tracks, 1, m->bm25_norm, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_indptr", TT_DT_I64, (int64_t)mm->n_users + 1, 1, m->row_ptr,
                          err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_items", TT_DT_I32, m->nnz, 1, m->row_idx, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_values", TT_DT_F32, m->nnz, 1, m->row_val, err);
    if (rc == 0)
        rc = tt__lists_save(&m->lists, w, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

static int refuse(const tt_mfile *f, const char *what, tt_err *err)
{
    return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad %s", tt_mfile_path(f), what);
}

static bool finite_at_least(const float *v, int64_t n, float lo)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]) || v[i] < lo)
            return false;
    return true;
}

/* Track ids ascending, each below @bound. */
static bool ascending_ids(const int32_t *ids, int32_t n, int32_t bound)
{
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= bound || (i > 0 && ids[i] <= ids[i - 1]))
            return false;
    return true;
}

/* B and the track map: finite weights, a zero diagonal, kept tracks in the catalog. */
static int load_weights(tt_ease_model *m, tt_mfile *f, tt_err *err)
{
    int64_t rows = m->n, cols = m->n;
    const void *p;
    int rc;

    if ((rc = tt_mfile_get(f, "B", TT_DT_F32, &rows, &cols, &p, err)) < 0)
        return rc;
    m->B = p;
    if (!finite_at_least(m->B, (int64_t)m->n * m->n, -FLT_MAX))
        return refuse(f, "B", err);
    for (int32_t i = 0; i < m->n; i++)
        if (m->B[(size_t)i * m->n + i] != 0.0f)
            return refuse(f, "B", err);
    rows = m->n, cols = 1;
    if ((rc = tt_mfile_get(f, "kept_tracks", TT_DT_I32, &rows, &cols, &p, err)) < 0)
        return rc;
    m->kept = p;
    if (m->n > m->base.n_tracks || !ascending_ids(m->kept, m->n, m->base.n_tracks))
        return refuse(f, "kept_tracks", err);
    rows = m->base.n_tracks;
    if ((rc = tt_mfile_get(f, "track_bm25_norm", TT_DT_F32, &rows, &cols, &p, err)) < 0)
        return rc;
    m->bm25_norm = p;
    if (!finite_at_least(m->bm25_norm, rows, 0.0f))
        return refuse(f, "track_bm25_norm", err);
    m->index = index_of(m->kept, m->n, m->base.n_tracks);
    return 0;
}

/* The users' rows: offsets, kept-track indices and positive finite confidences. */
static int load_rows(tt_ease_model *m, tt_mfile *f, tt_err *err)
{
    int64_t rows = (int64_t)m->base.n_users + 1, cols = 1;
    const void *p;
    int rc;

    if ((rc = tt_mfile_get(f, "user_indptr", TT_DT_I64, &rows, &cols, &p, err)) < 0)
        return rc;
    m->row_ptr = p;
    m->nnz = m->row_ptr[m->base.n_users];
    if (!tt_mfile_offsets_valid(m->row_ptr, m->base.n_users, m->nnz))
        return refuse(f, "user_indptr", err);
    rows = m->nnz;
    if ((rc = tt_mfile_get(f, "user_items", TT_DT_I32, &rows, &cols, &p, err)) < 0)
        return rc;
    m->row_idx = p;
    if (!tt_mfile_ids_valid(m->row_idx, m->nnz, m->n))
        return refuse(f, "user_items", err);
    if ((rc = tt_mfile_get(f, "user_values", TT_DT_F32, &rows, &cols, &p, err)) < 0)
        return rc;
    m->row_val = p;
    if (!finite_at_least(m->row_val, m->nnz, FLT_TRUE_MIN))
        return refuse(f, "user_values", err);
    return 0;
}

int tt__ease_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    tt_ease_model *m = model_new();
    int rc;

    m->p = tt_ease_params_default();
    m->p.emphasis = 0.0f; /* a file without these fields was trained as plain EASE */
    m->p.user_norm = false;
    rc = tt_mfile_get_meta(f, ease_fields, N_EASE_FIELDS, m, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    rc = load_weights(m, f, err);
    if (rc == 0)
        rc = load_rows(m, f, err);
    if (rc == 0)
        rc = tt__lists_load(&m->lists, f, m->base.n_users, m->base.n_tracks, err);
    if (rc < 0) {
        m->file = NULL; /* the caller still owns @f on failure */
        tt_model_free(&m->base);
        return rc;
    }
    *out = &m->base;
    return 0;
}

static void ease_free(tt_model *mm)
{
    tt_ease_model *m = (tt_ease_model *)mm;

    for (int i = 0; i < N_OWNED; i++)
        free(m->owned[i]);
    free(m->index);
    tt__lists_release(&m->lists);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops ease_ops = {
    .kind = "ease",
    .knows_user = ease_knows_user,
    .recommend = ease_recommend,
    .recommend_batch = ease_recommend_batch,
    .similar = ease_similar,
    .save = ease_save,
    .free = ease_free,
};
