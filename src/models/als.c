/*
 * Implicit ALS with conjugate-gradient solves.
 *
 * Hu, Koren & Volinsky (2008) minimise
 *   sum_{u,t} c_ut (p_ut - x_u . y_t)^2 + lambda (|X|^2 + |Y|^2)
 * over all pairs, with p_ut = 1 for positive pairs and 0 elsewhere. Fixing Y, each x_u solves
 *   (Y'Y + lambda I + Y' (C_u - I) Y) x_u = Y' C_u p_u,
 * where the expensive Y'Y is shared by all users and computed once per half-sweep, and the
 * correction only touches the user's own tracks. Takacs, Pilaszy & Tikk (2011) observed that
 * a few conjugate-gradient steps from the previous x_u solve it well enough: each step costs
 * O(k^2 + n_u k) instead of the O(k^3 + n_u k^2) of an exact solve.
 */
#include "confidence_priv.h"
#include "rank_priv.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/kernels.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

/*
 * BLAS runs single-threaded everywhere in the engine: training threads its own loops and
 * the service runs many requests at once, and OpenBLAS's own spinning threads would compete
 * with both for the same cores.
 */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_single(void)
{
    openblas_set_num_threads(1);
}

void tt__blas_single_threaded(void)
{
    pthread_once(&blas_once, blas_single);
}

struct tt_als_model {
    tt_model base;
    tt_als_params p;
    int k;
    const float *X;        /* n_users x k */
    const float *Y;        /* n_tracks x k */
    const float *gram;     /* k x k: Y'Y + lambda I */
    float mean_user_pos;   /* mean positives of a training user with any (reg_exponent) */
    const float *inv_norm; /* n_tracks: 1 / |y_t| (0 for a zero vector) */
    const char **user_ids; /* n_users, borrowed from the file or the dataset */
    const float *bm25_norm; /* n_tracks: BM25 length normalisation of each track */
    float scale;            /* alpha / mean f(r) over the training pairs */
    tt__lists lists;        /* the active listeners' lists, ranked at training time */
    tt_als_stats stats;     /* training stage times (zero when loaded) */
    float *owned[5];       /* arrays this model allocated */
    const char **owned_ids;
    tt_mfile *file;        /* when loaded from disk */
};

const char *const tt_als_scaling_names[TT_ALS_N_SCALINGS] = {"linear", "log", "bm25"};

tt_als_params tt_als_params_default(void)
{
    tt_als_params p;

    memset(&p, 0, sizeof(p));
    p.factors = 64;
    p.regularization = 20.0f;
    p.alpha = 3.0f;
    p.restarts = 0; /* automatic: TT_ALS_AUTO_RESTARTS on small data */
    p.iterations = 15;
    p.cg_steps = 3;
    p.seed = 42;
    p.scaling = TT_ALS_BM25;
    p.bm25_k1 = 100.0f;
    p.bm25_b = 0.8f;
    p.log_eps = 1.0f;
    p.precompute = 200;
    p.precompute_days = 30;
    p.precompute_users = 20000;
    return p;
}

/* ---- small dense kernels (dot and the clone macros in kernels.h) ---- */

TT_KERNEL void axpy(float a, const float *restrict x, float *restrict y, int k)
{
    for (int i = 0; i < k; i++)
        y[i] += a * x[i];
}

/*
 * y = G x for a symmetric k x k matrix G, as a sum of rows scaled by x: axpy form has no
 * reduction, so it vectorises without reassociating floating-point sums.
 */
TT_KERNEL void symv(const float *restrict G, const float *restrict x, float *restrict y,
                           int k)
{
    memset(y, 0, (size_t)k * sizeof(float));
    for (int r = 0; r < k; r++) {
        const float *g = G + (size_t)r * k;
        const float xr = x[r];
        for (int i = 0; i < k; i++)
            y[i] += xr * g[i];
    }
}

/* In-place Cholesky factorisation of the SPD k x k matrix A (lower triangle). */
static int cholesky(float *A, int k)
{
    for (int j = 0; j < k; j++) {
        double d = A[(size_t)j * k + j];
        for (int i = 0; i < j; i++)
            d -= (double)A[(size_t)j * k + i] * A[(size_t)j * k + i];
        if (d <= 0.0)
            return -1;
        A[(size_t)j * k + j] = (float)sqrt(d);
        for (int r = j + 1; r < k; r++) {
            double s = A[(size_t)r * k + j];
            for (int i = 0; i < j; i++)
                s -= (double)A[(size_t)r * k + i] * A[(size_t)j * k + i];
            A[(size_t)r * k + j] = (float)(s / A[(size_t)j * k + j]);
        }
    }
    return 0;
}

/* Solves L L' x = b in place for the factor from cholesky(). */
static void cholesky_solve(const float *L, int k, float *b)
{
    for (int i = 0; i < k; i++) {
        double s = b[i];
        for (int j = 0; j < i; j++)
            s -= (double)L[(size_t)i * k + j] * b[j];
        b[i] = (float)(s / L[(size_t)i * k + i]);
    }
    for (int i = k - 1; i >= 0; i--) {
        double s = b[i];
        for (int j = i + 1; j < k; j++)
            s -= (double)L[(size_t)j * k + i] * b[j];
        b[i] = (float)(s / L[(size_t)i * k + i]);
    }
}

/*
 * Exact solve of (G + extra I + sum_t cm1_t y_t y_t') x = sum_t (cm1_t + 1) y_t with a
 * Cholesky factorisation (@extra: the row's regularization beyond the one in G); y_t is the
 * first k floats of row t of @Y, whose rows are @ld floats apart; @A is k x k scratch.
 * Returns -1 if the system is not positive definite.
 */
TT_CLONES static int exact_solve(const float *G, float extra, const float *Y, int ld,
                                 const int32_t *idx, const float *cm1, int64_t n, int k,
                                 float *A, float *x)
{
    memcpy(A, G, (size_t)k * k * sizeof(float));
    for (int i = 0; i < k; i++)
        A[(size_t)i * k + i] += extra;
    memset(x, 0, (size_t)k * sizeof(float));
    for (int64_t j = 0; j < n; j++) {
        const float *y = Y + (size_t)idx[j] * ld;
        /* Lower triangle only: that is all cholesky() reads. */
        for (int row = 0; row < k; row++)
            axpy(cm1[j] * y[row], y, A + (size_t)row * k, row + 1);
        axpy(cm1[j] + 1.0f, y, x, k);
    }
    if (cholesky(A, k) < 0)
        return -1;
    cholesky_solve(A, k, x);
    return 0;
}

/* ---- training ---- */

/* The matrix a half-sweep solves against: rows are the vectors being solved. */
struct side {
    const tt_csr *m; /* confidences c - 1 >= 0 per stored pair; rows = solved vectors */
    float *solve;    /* rows x k */
    const float *fixed; /* cols x k */
    float *gram;     /* k x k of fixed, + lambda I */
    double *loss;    /* per row, when computing the loss */
    const float *extra; /* per row, its regularization beyond lambda; NULL: none */
};

struct trainer {
    const tt_als_params *p;
    int k;
    float *scratch; /* threads x (3k + k^2) */
    struct side s;
};

/*
 * A few CG steps on (G + extra I + Y'(C-I)Y) x = Y'C p from the current x. @cm1 holds c - 1
 * for the row's pairs, so the right-hand side term c * y_t is (cm1 + 1) * y_t.
 */
TT_CLONES static void cg_solve(const struct trainer *tr, const int32_t *idx, const float *cm1,
                               int64_t n, float extra, float *x, float *scratch)
{
    const int k = tr->k;
    const float *Y = tr->s.fixed, *G = tr->s.gram;
    float *r = scratch, *pv = scratch + k, *Ap = scratch + 2 * k;
    float rsold, rsnew;

    symv(G, x, r, k);
    for (int i = 0; i < k; i++)
        r[i] = -r[i] - extra * x[i];
    for (int64_t j = 0; j < n; j++) {
        const float *y = Y + (size_t)idx[j] * k;
        float c = cm1[j] + 1.0f;
        axpy(c - cm1[j] * dot(y, x, k), y, r, k);
    }
    memcpy(pv, r, (size_t)k * sizeof(float));
    rsold = dot(r, r, k);
    for (int it = 0; it < tr->p->cg_steps && rsold > 1e-20f; it++) {
        float a;
        symv(G, pv, Ap, k);
        if (extra != 0.0f)
            axpy(extra, pv, Ap, k);
        for (int64_t j = 0; j < n; j++) {
            const float *y = Y + (size_t)idx[j] * k;
            axpy(cm1[j] * dot(y, pv, k), y, Ap, k);
        }
        a = rsold / dot(pv, Ap, k);
        axpy(a, pv, x, k);
        axpy(-a, Ap, r, k);
        rsnew = dot(r, r, k);
        for (int i = 0; i < k; i++)
            pv[i] = r[i] + (rsnew / rsold) * pv[i];
        rsold = rsnew;
    }
}

/*
 * Row loss against the current fixed side: x'(Y'Y)x + sum_t [c (1 - s)^2 - s^2] with
 * s = x.y_t, i.e. the weighted error over all tracks without touching the zero ones.
 */
TT_CLONES static double row_loss(const struct trainer *tr, const int32_t *idx, const float *cm1,
                       int64_t n, const float *x, float *tmp)
{
    const int k = tr->k;
    double l;

    symv(tr->s.gram, x, tmp, k);
    l = dot(x, tmp, k) - tr->p->regularization * dot(x, x, k);
    for (int64_t j = 0; j < n; j++) {
        float s = dot(tr->s.fixed + (size_t)idx[j] * k, x, k);
        l += (cm1[j] + 1.0f) * (1.0f - s) * (1.0f - s) - s * s;
    }
    return l;
}

static void solve_range(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct trainer *tr = ctx;
    const tt_csr *m = tr->s.m;
    float *scratch = tr->scratch + (size_t)thread * (3 + tr->k) * tr->k;

    for (int64_t r = b; r < e; r++) {
        int64_t o = m->indptr[r], n = m->indptr[r + 1] - o;
        float *x = tr->s.solve + (size_t)r * tr->k;
        if (n == 0) {
            /* No positives: the minimiser is 0, which also keeps it out of every score. */
            memset(x, 0, (size_t)tr->k * sizeof(float));
            if (tr->s.loss)
                tr->s.loss[r] = 0.0; /* its loss at x = 0 (row_loss) */
            continue;
        }
        float extra = tr->s.extra ? tr->s.extra[r] : 0.0f;
        if (tr->p->cg_steps > 0)
            cg_solve(tr, m->indices + o, m->data + o, n, extra, x, scratch);
        else
            exact_solve(tr->s.gram, extra, tr->s.fixed, tr->k, m->indices + o, m->data + o, n,
                        tr->k, scratch + 3 * tr->k, x);
        if (tr->s.loss)
            tr->s.loss[r] = row_loss(tr, m->indices + o, m->data + o, n, x, scratch);
    }
}

/* The mean number of positives of the rows of @m that have any (1 when none has). */
static float mean_positives(const tt_csr *m)
{
    int64_t rows = 0;

    for (int32_t r = 0; r < m->rows; r++)
        rows += m->indptr[r + 1] > m->indptr[r];
    return rows > 0 ? (float)((double)m->nnz / (double)rows) : 1.0f;
}

/*
 * The regularization of a row with @n positives beyond lambda: lambda (n / @mean)^e - lambda
 * for reg_exponent e (0 when e is 0 or the row is empty).
 */
static float reg_extra(const tt_als_params *p, int64_t n, float mean)
{
    if (p->reg_exponent == 0.0f || n <= 0)
        return 0.0f;
    return p->regularization * (powf((float)n / mean, p->reg_exponent) - 1.0f);
}

/* reg_extra of every row of @m, or NULL when the exponent is 0 (one lambda for all). */
static float *row_extras(const tt_als_params *p, const tt_csr *m)
{
    float mean, *e;

    if (p->reg_exponent == 0.0f)
        return NULL;
    mean = mean_positives(m);
    e = tt_malloc(((size_t)m->rows + 1) * sizeof(float));
    for (int32_t r = 0; r < m->rows; r++)
        e[r] = reg_extra(p, m->indptr[r + 1] - m->indptr[r], mean);
    return e;
}

/* gram = F'F + lambda I for F of @rows x k, its rows @ld floats apart. */
static void gram_matrix(const float *F, int64_t rows, int k, int ld, float lambda, float *gram)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, k, (int)rows, 1.0f, F, ld, F, ld,
                0.0f, gram, k);
    for (int i = 0; i < k; i++)
        gram[(size_t)i * k + i] += lambda;
}

static void half_sweep(struct trainer *tr, const tt_csr *m, float *solve, const float *fixed,
                       int64_t n_fixed, float *gram, double *loss, const float *extra)
{
    tr->s = (struct side){m, solve, fixed, gram, loss, extra};
    gram_matrix(fixed, n_fixed, tr->k, tr->k, tr->p->regularization, gram);
    tt_parallel_for(m->rows, 32, tr->p->threads, solve_range, tr);
}

/* The confidence transform @p asks for (confidence_priv.h). */
static tt__conf_scaling scaling_of(const tt_als_params *p)
{
    return (tt__conf_scaling){p->scaling, p->bm25_k1, p->bm25_b, p->log_eps};
}

/*
 * Confidence minus one, alpha * f(r) / mean f, for every positive pair of @conf: dividing
 * by the mean makes alpha independent of the data's scale (play counts in the hundreds or
 * single events), so one default serves both; *scale gets alpha / mean f for fold-in.
 */
static float *confidences(const tt_als_params *p, const tt_csr *conf, float *norm, float *scale)
{
    tt__conf_scaling s = scaling_of(p);

    return tt__conf_scale_all(&s, conf, p->alpha, norm, scale);
}

static void init_factors(float *F, int64_t rows, int k, uint64_t seed, uint64_t stream)
{
    tt_rng rng;

    tt_rng_seed(&rng, seed, stream);
    for (int64_t i = 0; i < rows * k; i++)
        F[i] = (float)(tt_rng_uniform(&rng) * 0.01);
}

int tt_als_params_check(const tt_als_params *p, tt_err *err)
{
    if (p->factors < 1 || p->factors > 1024)
        return tt_err_set_field(err, TT_EINVAL, "factors", "factors must be 1..1024");
    if (p->restarts < 0 || p->restarts > 1024)
        return tt_err_set_field(err, TT_EINVAL, "restarts",
                                "restarts must be 0..1024 (0 = automatic)");
    if (!(p->alpha > 0.0f) || !isfinite(p->alpha))
        return tt_err_set_field(err, TT_EINVAL, "alpha", "alpha must be a number > 0");
    if (!(p->regularization >= 0.0f) || !isfinite(p->regularization))
        return tt_err_set_field(err, TT_EINVAL, "regularization",
                                "regularization must be a number >= 0");
    if (!(p->reg_exponent >= 0.0f && p->reg_exponent <= 2.0f))
        return tt_err_set_field(err, TT_EINVAL, "reg_exponent",
                                "reg_exponent must be a number in [0, 2]");
    if (p->iterations < 1)
        return tt_err_set_field(err, TT_EINVAL, "iterations", "iterations must be >= 1");
    if (p->cg_steps < 0)
        return tt_err_set_field(err, TT_EINVAL, "cg_steps",
                                "cg_steps must be >= 0 (0 = exact solves)");
    if (!(p->log_eps > 0.0f) || !isfinite(p->log_eps))
        return tt_err_set_field(err, TT_EINVAL, "log_eps", "log_eps must be a number > 0");
    if (p->precompute < 0 || p->precompute_days < 0 || p->precompute_users < 0)
        return tt_err_set_field(err, TT_EINVAL, "precompute",
                                "precompute, precompute_days and precompute_users must be >= 0");
    if ((unsigned)p->scaling >= TT_ALS_N_SCALINGS)
        return tt_err_set_field(err, TT_EINVAL, "scaling", "unknown scaling %d", (int)p->scaling);
    /* Checked whatever the scaling, as the CLI does: the model file records them. */
    if (!(p->bm25_k1 > 0.0f) || !isfinite(p->bm25_k1) || !(p->bm25_b >= 0.0f) ||
        !(p->bm25_b <= 1.0f))
        return tt_err_set_field(err, TT_EINVAL, "bm25_k1", "BM25 needs k1 > 0 and b in [0, 1]");
    return 0;
}

static const struct tt_model_ops als_ops;

static tt_als_model *model_new(int k)
{
    tt_als_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &als_ops;
    snprintf(m->base.name, sizeof(m->base.name), "als");
    m->k = k;
    return m;
}

static void finish_norms(tt_als_model *m)
{
    float *inv = tt_malloc((size_t)(m->base.n_tracks + 1) * sizeof(float));

    for (int32_t t = 0; t < m->base.n_tracks; t++) {
        float n = sqrtf(dot(m->Y + (size_t)t * m->k, m->Y + (size_t)t * m->k, m->k));
        inv[t] = n > 0.0f ? 1.0f / n : 0.0f;
    }
    m->inv_norm = m->owned[3] = inv;
}

static double total_loss(const double *loss, int32_t n, double denom)
{
    double s = 0.0;
    for (int32_t i = 0; i < n; i++)
        s += loss[i];
    return s / (denom > 0 ? denom : 1.0);
}

static int als_recommend_batch(const tt_model *mm, const int32_t *users, int32_t n,
                               const tt_csr *exclude, int k, tt_scored *out, tt_err *err);

/*
 * The active listeners' best unheard tracks, with the batch path (sgemm blocks on all
 * cores); everyone else is scored on demand by als_recommend (lists.c says why).
 */
static void precompute_lists(tt_als_model *m, const tt_train_set *ts, const tt_als_params *p)
{
    double t0 = tt_now();

    tt__lists_rank(&m->lists, &m->base, ts, p->precompute, p->precompute_days,
                   p->precompute_users);
    m->stats.rank_seconds = tt_now() - t0;
    m->stats.ranked_users = m->lists.n;
}

/*
 * What serving needs besides the factors, computed from them and @ts exactly as training
 * computes it after its last sweep: the Gram matrix of the track factors plus lambda I for
 * folding users in, each track's 1 / |y_t|, the user ids, and each user's list ranked ahead
 * of time. Training and tt_als_from_factors both end here, so a model made of imported
 * factors serves exactly as a trained one with the same factors would. Takes @X, @Y and
 * @norm (the BM25 length norms confidences() computed with the multiplier @scale), @k
 * floats a row: p->restarts blocks of k / p->restarts; @gram is scratch of one
 * (k / restarts)^2 Gram matrix per block, overwritten and kept.
 */
static tt_als_model *finish(const tt_train_set *ts, const tt_als_params *p, int k, float *X,
                            float *Y, float *gram, float *norm, float scale)
{
    int32_t nu = ts->conf.rows, nt = ts->conf.cols;
    const int f = k / p->restarts;
    tt_als_model *m = model_new(k);

    for (int r = 0; r < p->restarts; r++)
        gram_matrix(Y + (size_t)r * f, nt, f, k, p->regularization, gram + (size_t)r * f * f);
    m->p = *p;
    m->p.factors = f;
    m->p.progress = NULL;
    m->p.progress_ctx = NULL;
    m->base.n_users = nu;
    m->base.n_tracks = nt;
    m->base.catalog = tt_catalog_checksum(ts->ds);
    m->X = m->owned[0] = X;
    m->Y = m->owned[1] = Y;
    m->gram = m->owned[2] = gram;
    m->mean_user_pos = mean_positives(&ts->conf);
    m->bm25_norm = m->owned[4] = norm;
    m->scale = scale;
    m->owned_ids = tt_malloc(((size_t)nu + 1) * sizeof(char *));
    for (int32_t u = 0; u < nu; u++)
        m->owned_ids[u] = tt_ids_name(ts->ds->users, u);
    m->user_ids = m->owned_ids;
    finish_norms(m);
    precompute_lists(m, ts, p);
    m->base.trained_at = tt_unix_time();
    return m;
}

/*
 * The factors a training starts from: @from's (a warm start) or the random ones of @seed.
 * Continuing from a model is exact: the state of the alternation is X and Y alone (the
 * Gram matrix and the confidences are recomputed each sweep from them and the data).
 */
static void start_factors(const tt_als_model *from, uint64_t seed, int k, int32_t nu,
                          int32_t nt, float *X, float *Y)
{
    if (from) {
        memcpy(X, from->X, (size_t)nu * k * sizeof(float));
        memcpy(Y, from->Y, (size_t)nt * k * sizeof(float));
        return;
    }
    init_factors(X, nu, k, seed, 1);
    init_factors(Y, nt, k, seed, 2);
}

/*
 * Copies one restart's factors (@rows x @f) into block @r of @dst (@rows x @f * @restarts),
 * multiplied by @mult.
 */
static void put_block(float *dst, const float *src, int64_t rows, int f, int restarts, int r,
                      float mult)
{
    const int k = f * restarts;

    for (int64_t i = 0; i < rows; i++)
        for (int j = 0; j < f; j++)
            dst[(size_t)i * k + (size_t)r * f + j] = src[(size_t)i * f + j] * mult;
}

int tt_als_restarts_for(const tt_als_params *p, int64_t positive_pairs)
{
    int r = p->restarts > 0                                  ? p->restarts
            : positive_pairs <= TT_ALS_AUTO_RESTARTS_PAIRS ? TT_ALS_AUTO_RESTARTS
                                                            : 1;

    return r < 1024 / p->factors ? r : 1024 / p->factors;
}

static int train(const tt_train_set *ts, const tt_als_params *p, const tt_als_model *from,
                 tt_model **out, tt_err *err)
{
    int32_t nu = ts->conf.rows, nt = ts->conf.cols;
    const int k = p->factors;
    tt_als_params q = *p;
    struct trainer tr;
    tt_csr ut, tu;
    tt_als_model *m;
    float *X, *Y, *Xr, *Yr, *gram, *norm, *user_extra, *track_extra, scale;
    double *loss = NULL, t0 = tt_now(), sweeps;
    int rc = tt_als_params_check(p, err);

    if (rc < 0)
        return rc;
    q.restarts = tt_als_restarts_for(p, ts->conf.nnz);
    const int R = q.restarts;
    if (from && R != 1)
        return tt_err_set_field(err, TT_EINVAL, "restarts",
                                "only a single factorization (restarts 1) continues training");
    tt__blas_single_threaded();
    norm = tt_malloc(((size_t)nt + 1) * sizeof(float));
    ut = ts->conf;
    ut.data = confidences(p, &ts->conf, norm, &scale);
    tt_csr_transpose(&ut, &tu);
    user_extra = row_extras(p, &ut);
    track_extra = row_extras(p, &tu);
    X = tt_aligned_alloc(((size_t)nu + 1) * k * R * sizeof(float));
    Y = tt_aligned_alloc(((size_t)nt + 1) * k * R * sizeof(float));
    gram = tt_aligned_alloc((size_t)R * k * k * sizeof(float));
    /* One restart trains in place; several each in their own tables, then side by side. */
    Xr = R == 1 ? X : tt_aligned_alloc(((size_t)nu + 1) * k * sizeof(float));
    Yr = R == 1 ? Y : tt_aligned_alloc(((size_t)nt + 1) * k * sizeof(float));
    if (p->calc_loss)
        loss = tt_malloc(((size_t)nt + 1) * sizeof(double));
    memset(&tr, 0, sizeof(tr));
    tr.p = p;
    tr.k = k;
    tr.scratch = tt_aligned_alloc((size_t)tt_threads_resolve(p->threads) * (3 + k) * k *
                                  sizeof(float));
    for (int r = 0; r < R; r++) {
        start_factors(from, p->seed + (uint64_t)r, k, nu, nt, Xr, Yr);
        for (int it = 0; it < p->iterations; it++) {
            half_sweep(&tr, &ut, Xr, Yr, nt, gram, NULL, user_extra);
            half_sweep(&tr, &tu, Yr, Xr, nu, gram, loss, track_extra);
            if (p->progress)
                p->progress(p->progress_ctx, r * p->iterations + it + 1,
                            loss ? total_loss(loss, nt, (double)nu * nt + (double)ut.nnz) : NAN,
                            tt_now() - t0);
        }
        if (R > 1) {
            /* Scores are the restarts' mean: each user vector carries its 1 / R. */
            put_block(X, Xr, nu, k, R, r, 1.0f / (float)R);
            put_block(Y, Yr, nt, k, R, r, 1.0f);
        }
    }
    if (R > 1) {
        free(Xr);
        free(Yr);
    }
    sweeps = tt_now() - t0;
    /* The ranking that follows needs neither the confidences nor the transpose. */
    free(tr.scratch);
    free(loss);
    free(user_extra);
    free(track_extra);
    free(ut.data); /* the rest of ut is ts->conf's */
    tt_csr_release(&tu);
    m = finish(ts, &q, k * R, X, Y, gram, norm, scale);
    m->stats.sweep_seconds = sweeps;
    m->base.train_seconds = tt_now() - t0;
    *out = &m->base;
    return 0;
}

int tt_als_train(const tt_train_set *ts, const tt_als_params *p, tt_model **out, tt_err *err)
{
    return train(ts, p, NULL, out, err);
}

int tt_als_train_more(const tt_train_set *ts, const tt_als_params *p, const tt_model *from,
                      tt_model **out, tt_err *err)
{
    const tt_als_model *f = from && from->ops == &als_ops ? (const tt_als_model *)from : NULL;

    if (!ts || !p || !out)
        return tt_err_set(err, TT_EINVAL, "train set, parameters and output are required");
    if (!f)
        return tt_err_set(err, TT_EINVAL, "training can only continue from an ALS model");
    if (f->k != p->factors || f->base.n_users != ts->conf.rows ||
        f->base.n_tracks != ts->conf.cols)
        return tt_err_set(err, TT_EINVAL,
                          "the model to continue (%d x %d users, %d tracks) does not match the "
                          "training (%d factors, %d users, %d tracks)",
                          f->k, (int)f->base.n_users, (int)f->base.n_tracks, p->factors,
                          (int)ts->conf.rows, (int)ts->conf.cols);
    return train(ts, p, f, out, err);
}

/* An aligned copy of @n floats, or NULL when one of them is NaN or infinite. */
static float *finite_copy(const float *a, size_t n)
{
    float *c;

    for (size_t i = 0; i < n; i++)
        if (!isfinite(a[i]))
            return NULL;
    c = tt_aligned_alloc((n + 1) * sizeof(float));
    memcpy(c, a, n * sizeof(float));
    return c;
}

int tt_als_from_factors(const tt_train_set *ts, const tt_als_params *p, const float *X,
                        const float *Y, int k, tt_model **out, tt_err *err)
{
    tt_als_params q;
    float *Xc = NULL, *Yc = NULL, *norm, scale;
    tt_als_model *m;
    double t0 = tt_now();
    int rc;

    if (!ts || !p || !X || !Y || !out)
        return tt_err_set(err, TT_EINVAL, "train set, parameters and both factor tables are "
                                          "required");
    q = *p;
    if (q.restarts == 0)
        q.restarts = 1; /* factors from elsewhere: one factorization unless told */
    if (q.restarts < 1 || k % q.restarts != 0)
        return tt_err_set_field(err, TT_EINVAL, "restarts",
                                "%d factors are not %d restarts of equal size", k, q.restarts);
    q.factors = k / q.restarts;
    if ((rc = tt_als_params_check(&q, err)) < 0)
        return rc;
    Xc = finite_copy(X, (size_t)ts->conf.rows * k);
    Yc = Xc ? finite_copy(Y, (size_t)ts->conf.cols * k) : NULL;
    if (!Yc) {
        free(Xc);
        return tt_err_set(err, TT_EINVAL, "a factor is not a finite number");
    }
    tt__blas_single_threaded();
    /* Only the BM25 norms and the multiplier are kept: fold-in scales new pairs with them. */
    norm = tt_malloc(((size_t)ts->conf.cols + 1) * sizeof(float));
    free(confidences(&q, &ts->conf, norm, &scale));
    m = finish(ts, &q, k, Xc, Yc, tt_aligned_alloc((size_t)k * q.factors * sizeof(float)), norm,
               scale);
    m->base.train_seconds = tt_now() - t0;
    *out = &m->base;
    return 0;
}

/* ---- serving ---- */

int tt_als_params_of(const tt_model *m, tt_als_params *p, tt_err *err)
{
    if (!m || m->ops != &als_ops)
        return tt_err_set(err, TT_EINVAL, "not an ALS model");
    *p = ((const tt_als_model *)m)->p;
    return 0;
}

int tt_als_factors(const tt_model *m)
{
    return m->ops == &als_ops ? ((const tt_als_model *)m)->k : 0;
}

int tt_als_stats_of(const tt_model *m, tt_als_stats *out)
{
    if (!m || m->ops != &als_ops)
        return TT_EINVAL;
    *out = ((const tt_als_model *)m)->stats;
    return 0;
}

const float *tt_als_track_vector(const tt_model *mm, int32_t t)
{
    const tt_als_model *m = (const tt_als_model *)mm;

    if (mm->ops != &als_ops || t < 0 || t >= mm->n_tracks)
        return NULL;
    return m->Y + (size_t)t * m->k;
}

const float *tt_als_user_vector(const tt_model *mm, int32_t u)
{
    const tt_als_model *m = (const tt_als_model *)mm;

    if (mm->ops != &als_ops || u < 0 || u >= mm->n_users)
        return NULL;
    return m->X + (size_t)u * m->k;
}

float tt_als_track_similarity(const tt_model *mm, int32_t a, int32_t b)
{
    const tt_als_model *m = (const tt_als_model *)mm;

    if (mm->ops != &als_ops || a < 0 || b < 0 || a >= mm->n_tracks || b >= mm->n_tracks)
        return 0.0f;
    return dot(m->Y + (size_t)a * m->k, m->Y + (size_t)b * m->k, m->k) * m->inv_norm[a] *
           m->inv_norm[b];
}

const float *tt_als_track_factors(const tt_model *mm, int *k, const float **inv_norm)
{
    const tt_als_model *m = (const tt_als_model *)mm;

    if (!mm || mm->ops != &als_ops)
        return NULL;
    *k = m->k;
    *inv_norm = m->inv_norm;
    return m->Y;
}

/*
 * scores = Y x, one dot product per track. Not BLAS: OpenBLAS's sgemv takes a process-wide
 * buffer lock, which serialises the concurrent requests of the service.
 */
TT_CLONES static void score_rows(const float *restrict Y, int32_t n, int k,
                                 const float *restrict x, float *restrict scores)
{
    for (int32_t t = 0; t < n; t++)
        scores[t] = dot(Y + (size_t)t * k, x, k);
}

void tt_als_score_all(const tt_model *mm, const float *x, float *scores)
{
    const tt_als_model *m = (const tt_als_model *)mm;

    score_rows(m->Y, mm->n_tracks, m->k, x, scores);
}

/*
 * c - 1 for raw preference @r of track @t by a user with @n_pos positive tracks, exactly as
 * training computed it (BM25 needs the track's length norm, kept in the model, and the
 * user's document frequency, which is their number of positives).
 */
static float conf_m1(const tt_als_model *m, float r, int32_t t, int32_t n_pos)
{
    tt__conf_scaling s = scaling_of(&m->p);

    return tt__conf_scale_one(&s, r, m->bm25_norm[t], n_pos, m->base.n_tracks, m->scale);
}

static int32_t n_valid(const int32_t *hist, const float *r, int32_t n, int32_t nt)
{
    int32_t c = 0;
    for (int32_t j = 0; j < n; j++)
        c += hist[j] >= 0 && hist[j] < nt && r[j] > 0.0f;
    return c;
}

int tt_als_fold_in(const tt_model *mm, const int32_t *hist, const float *r, int32_t n, float *x,
                   tt_err *err)
{
    const tt_als_model *m = (const tt_als_model *)mm;
    const int k = m->k, R = m->p.restarts, f = k / R;
    float A[64 * 64], *Ah = NULL, *a;
    float cm1_buf[256], *cm1;
    int32_t idx_buf[256], *idx, used = 0, nv;
    int rc = 0;

    if (mm->ops != &als_ops)
        return tt_err_set(err, TT_EINVAL, "fold-in needs an ALS model");
    a = f <= 64 ? A : (Ah = tt_malloc((size_t)f * f * sizeof(float)));
    cm1 = n <= 256 ? cm1_buf : tt_malloc((size_t)n * sizeof(float));
    idx = n <= 256 ? idx_buf : tt_malloc((size_t)n * sizeof(int32_t));
    nv = n_valid(hist, r, n, mm->n_tracks);
    for (int32_t j = 0; j < n; j++) {
        if (hist[j] < 0 || hist[j] >= mm->n_tracks || !(r[j] > 0.0f))
            continue;
        idx[used] = hist[j];
        cm1[used++] = conf_m1(m, r[j], hist[j], nv);
    }
    for (int r = 0; r < R && rc == 0; r++) {
        float *xr = x + (size_t)r * f;
        if (exact_solve(m->gram + (size_t)r * f * f, reg_extra(&m->p, used, m->mean_user_pos),
                        m->Y + (size_t)r * f, k, idx, cm1, used, f, a, xr) < 0)
            rc = tt_err_set(err, TT_EINTERNAL, "fold-in system is not positive definite");
        for (int i = 0; i < f && R > 1; i++)
            xr[i] /= (float)R;
    }
    free(Ah);
    if (cm1 != cm1_buf)
        free(cm1);
    if (idx != idx_buf)
        free(idx);
    return rc;
}

static int als_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out,
                         int *n_out, tt_err *err)
{
    const tt_als_model *m = (const tt_als_model *)mm;
    float xbuf[1024], *scores;
    const float *x;
    int rc;

    if (tt__lists_answer(&m->lists, q, k, out, n_out))
        return 0;
    if (q->n_hist > 0) {
        rc = tt_als_fold_in(mm, q->hist, q->hist_conf, q->n_hist, xbuf, err);
        if (rc < 0)
            return rc;
        x = xbuf;
    } else if (q->user >= 0 && q->user < mm->n_users) {
        x = m->X + (size_t)q->user * m->k;
    } else {
        return tt_err_set_field(err, TT_ENOTFOUND, "user_id", "user has no history in the model");
    }
    scores = tt_malloc((size_t)(mm->n_tracks + 1) * sizeof(float));
    tt_als_score_all(mm, x, scores);
    *n_out = tt__select_top(scores, mm->n_tracks, q->exclude, q->n_exclude, q->allow, k, out);
    free(scores);
    return 0;
}

struct batch {
    const tt_als_model *m;
    const int32_t *users;
    const tt_csr *exclude;
    float *S; /* threads x (chunk x n_tracks) scratch */
    int k;
    tt_scored *out;
};

#define BATCH_CHUNK 128

/*
 * One chunk of users: one sgemm (users x k times k x tracks) for all their scores, then
 * each row's top k.
 */
static void batch_chunk(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct batch *bt = ctx;
    const tt_als_model *m = bt->m;
    int32_t nt = m->base.n_tracks, rows = (int32_t)(e - b);
    float *S = bt->S + (size_t)thread * ((size_t)BATCH_CHUNK * nt + (size_t)BATCH_CHUNK * m->k);
    float *Xb = S + (size_t)BATCH_CHUNK * nt;

    for (int32_t i = 0; i < rows; i++) {
        int32_t u = bt->users[b + i];
        if (u >= 0 && u < m->base.n_users)
            memcpy(Xb + (size_t)i * m->k, m->X + (size_t)u * m->k, (size_t)m->k * 4);
        else
            memset(Xb + (size_t)i * m->k, 0, (size_t)m->k * 4);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, nt, m->k, 1.0f, Xb, m->k, m->Y,
                m->k, 0.0f, S, nt);
    for (int32_t i = 0; i < rows; i++) {
        int32_t u = bt->users[b + i];
        const int32_t *ex = NULL;
        int32_t nex = 0;
        tt_scored *row = bt->out + (size_t)(b + i) * bt->k;
        int got;
        if (bt->exclude && u >= 0 && u < bt->exclude->rows) {
            ex = bt->exclude->indices + bt->exclude->indptr[u];
            nex = (int32_t)tt_csr_row_nnz(bt->exclude, u);
        }
        got = (u >= 0 && u < m->base.n_users)
                  ? tt__select_top(S + (size_t)i * nt, nt, ex, nex, NULL, bt->k, row)
                  : 0;
        for (int j = got; j < bt->k; j++)
            row[j] = (tt_scored){-1, 0.0f};
    }
}

static int als_recommend_batch(const tt_model *mm, const int32_t *users, int32_t n,
                               const tt_csr *exclude, int k, tt_scored *out, tt_err *err)
{
    const tt_als_model *m = (const tt_als_model *)mm;
    int threads = tt_threads_resolve(m->p.threads);
    size_t per = (size_t)BATCH_CHUNK * (mm->n_tracks + (size_t)m->k);
    struct batch bt = {m, users, exclude, tt_aligned_alloc(threads * per * sizeof(float)), k, out};

    (void)err;
    tt__blas_single_threaded();
    tt_parallel_for(n, BATCH_CHUNK, threads, batch_chunk, &bt);
    free(bt.S);
    return 0;
}

/* Cosine similarity between track factor vectors. */
static int als_similar(const tt_model *mm, int32_t track, int k, tt_scored *out, int *n_out,
                       tt_err *err)
{
    const tt_als_model *m = (const tt_als_model *)mm;
    float *scores = tt_malloc((size_t)(mm->n_tracks + 1) * sizeof(float));
    int32_t self = track;

    (void)err;
    tt_als_score_all(mm, m->Y + (size_t)track * m->k, scores);
    for (int32_t t = 0; t < mm->n_tracks; t++)
        scores[t] *= m->inv_norm[t] * m->inv_norm[track];
    *n_out = tt__select_top(scores, mm->n_tracks, &self, 1, NULL, k, out);
    free(scores);
    return 0;
}

/* ---- files ---- */

/*
 * What a model file records besides its arrays. BM25's k1 and b are kept whatever the
 * scaling (training checks them always), and every number has the range training accepts.
 */
static const tt_mfield als_fields[] = {
    {"k", TT_MF_I32, TT_MF_AT(tt_als_model, k), .lo = 1, .hi = 1024},
    {"scaling", TT_MF_ENUM, TT_MF_AT(tt_als_model, p.scaling), .names = tt_als_scaling_names,
     .n_names = TT_ALS_N_SCALINGS},
    {"iterations", TT_MF_I32, TT_MF_AT(tt_als_model, p.iterations), .lo = 1, .hi = INT32_MAX},
    {"cg_steps", TT_MF_I32, TT_MF_AT(tt_als_model, p.cg_steps), .lo = 0, .hi = INT32_MAX},
    {"regularization", TT_MF_F32, TT_MF_AT(tt_als_model, p.regularization), .lo = 0,
     .hi = FLT_MAX},
    {"alpha", TT_MF_F32, TT_MF_AT(tt_als_model, p.alpha), .lo = FLT_TRUE_MIN, .hi = FLT_MAX},
    /* Absent from files made before restarts: one factorization. */
    {"restarts", TT_MF_I32, TT_MF_AT(tt_als_model, p.restarts), .lo = 1, .hi = 1024,
     .flags = TT_MF_OPTIONAL},
    /* Absent from files made before frequency-scaled regularization: one lambda for all. */
    {"reg_exponent", TT_MF_F32, TT_MF_AT(tt_als_model, p.reg_exponent), .lo = 0, .hi = 2,
     .flags = TT_MF_OPTIONAL},
    {"mean_user_positives", TT_MF_F32, TT_MF_AT(tt_als_model, mean_user_pos),
     .lo = FLT_TRUE_MIN, .hi = FLT_MAX, .flags = TT_MF_OPTIONAL},
    {"bm25_k1", TT_MF_F32, TT_MF_AT(tt_als_model, p.bm25_k1), .lo = FLT_TRUE_MIN,
     .hi = FLT_MAX},
    {"bm25_b", TT_MF_F32, TT_MF_AT(tt_als_model, p.bm25_b), .lo = 0, .hi = 1},
    {"log_eps", TT_MF_F32, TT_MF_AT(tt_als_model, p.log_eps), .lo = FLT_TRUE_MIN,
     .hi = FLT_MAX},
    {"scale", TT_MF_F32, TT_MF_AT(tt_als_model, scale), .lo = 0, .hi = FLT_MAX},
    TT_MODEL_MFIELDS(tt_als_model, base),
};
#define N_ALS_FIELDS ((int)(sizeof(als_fields) / sizeof(als_fields[0])))

static int als_save(const tt_model *mm, const char *path, tt_err *err)
{
    const tt_als_model *m = (const tt_als_model *)mm;
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "als", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, als_fields, N_ALS_FIELDS, m, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_factors", TT_DT_F32, mm->n_users, m->k, m->X, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_factors", TT_DT_F32, mm->n_tracks, m->k, m->Y, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "gram", TT_DT_F32, m->k, m->p.factors, m->gram, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_inv_norm", TT_DT_F32, mm->n_tracks, 1, m->inv_norm, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_bm25_norm", TT_DT_F32, mm->n_tracks, 1, m->bm25_norm, err);
    if (rc == 0)
        rc = tt__lists_save(&m->lists, w, err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "user_ids", (const char *const *)m->user_ids, mm->n_users,
                                  err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

int tt__als_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    const void *p;
    int64_t rows, cols;
    tt_als_model *m = model_new(0);
    int rc;

    m->p = tt_als_params_default();
    m->p.reg_exponent = 0.0f;
    m->p.restarts = 1;
    m->mean_user_pos = 1.0f;
    rc = tt_mfile_get_meta(f, als_fields, N_ALS_FIELDS, m, err);
    if (rc == 0 && m->k % m->p.restarts != 0)
        rc = tt_err_set_field(err, TT_ECORRUPT, "restarts",
                              "model file %s refused: 'k' %d is not 'restarts' %d of equal size",
                              tt_mfile_path(f), m->k, m->p.restarts);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->p.factors = m->k / m->p.restarts;
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    rows = m->base.n_users, cols = m->k;
    rc = tt_mfile_get(f, "user_factors", TT_DT_F32, &rows, &cols, &p, err);
    m->X = p;
    rows = m->base.n_tracks;
    if (rc == 0)
        rc = tt_mfile_get(f, "track_factors", TT_DT_F32, &rows, &cols, &p, err);
    m->Y = p;
    rows = m->k, cols = m->p.factors;
    if (rc == 0)
        rc = tt_mfile_get(f, "gram", TT_DT_F32, &rows, &cols, &p, err);
    m->gram = p;
    rows = m->base.n_tracks, cols = 1;
    if (rc == 0)
        rc = tt_mfile_get(f, "track_inv_norm", TT_DT_F32, &rows, &cols, &p, err);
    m->inv_norm = p;
    if (rc == 0)
        rc = tt_mfile_get(f, "track_bm25_norm", TT_DT_F32, &rows, &cols, &p, err);
    m->bm25_norm = p;
    if (rc == 0)
        rc = tt__lists_load(&m->lists, f, m->base.n_users, m->base.n_tracks, err);
    if (rc == 0) {
        m->owned_ids = tt_malloc(((size_t)m->base.n_users + 1) * sizeof(char *));
        m->user_ids = m->owned_ids;
        rc = tt_mfile_strings(f, "user_ids", m->base.n_users, m->owned_ids, err);
    }
    if (rc < 0) {
        m->file = NULL; /* the caller still owns @f on failure */
        tt_model_free(&m->base);
        return rc;
    }
    *out = &m->base;
    return 0;
}

static void als_free(tt_model *mm)
{
    tt_als_model *m = (tt_als_model *)mm;

    for (int i = 0; i < 5; i++)
        free(m->owned[i]);
    tt__lists_release(&m->lists);
    free(m->owned_ids);
    tt_mfile_close(m->file);
    free(m);
}

/* Users without a training positive have the zero vector (solve_range). */
static bool als_knows_user(const tt_model *mm, int32_t u)
{
    const tt_als_model *m = (const tt_als_model *)mm;
    const float *x = m->X + (size_t)u * m->k;

    for (int i = 0; i < m->k; i++)
        if (x[i] != 0.0f)
            return true;
    return false;
}

static const struct tt_model_ops als_ops = {
    .kind = "als",
    .knows_user = als_knows_user,
    .recommend = als_recommend,
    .recommend_batch = als_recommend_batch,
    .similar = als_similar,
    .save = als_save,
    .free = als_free,
};
