/*
 * NeuMF serving: scoring the catalog or a candidate list for a listener, folding a listener
 * in from their history, precomputed top lists, and model files. Training is neumf_train.c.
 *
 * Scoring uses the structure of the first MLP layer: W_1 [p'_u ; q'_t] = W_1u p'_u + W_1t q'_t,
 * and the second term depends on the track alone. It is computed once per model (the table
 * A, n_tracks x width[1]), so a request adds a per-user vector to A's rows and runs the
 * remaining layers as sgemm blocks of SCORE_BLOCK tracks. Likewise the GMF tower's share of
 * the logit, h_g . (p_u (.) q_t), is q_t . (h_g (.) p_u): one dot product per track.
 */
#include "neumf_internal.h"
#include "rank_priv.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/kernels.h"
#include "tt/nn.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <string.h>

#define SCORE_BLOCK 512
#define FOLD_MAX_HISTORY 100 /* heaviest history tracks a fold-in trains on */
#define FOLD_LR 0.05f

static const struct tt_model_ops neumf_ops;

tt_neumf_params tt_neumf_params_default(void)
{
    tt_neumf_params p;

    memset(&p, 0, sizeof(p));
    p.factors = 32;
    p.layers[0] = 64, p.layers[1] = 32, p.layers[2] = 16;
    p.n_layers = 3;
    p.lr = 0.001f;
    p.batch = 1024;
    p.epochs = 20;
    p.l2 = 0.0f;
    p.negatives = 4;
    p.validation_users = 1000;
    p.seed = 42;
    p.precompute = 200;
    p.fold_steps = 10;
    return p;
}

static int check_layers(const tt_neumf_params *p, tt_err *err)
{
    if (p->n_layers < 2 || p->n_layers > TT_NEUMF_MAX_LAYERS)
        return tt_err_set_field(err, TT_EINVAL, "layers", "NeuMF needs 2..%d MLP widths",
                                TT_NEUMF_MAX_LAYERS);
    if (p->layers[0] < 2 || p->layers[0] % 2 != 0)
        return tt_err_set_field(err, TT_EINVAL, "layers",
                                "the MLP input width must be even (user and track halves)");
    for (int l = 0; l < p->n_layers; l++)
        if (p->layers[l] < 1 || p->layers[l] > 4096)
            return tt_err_set_field(err, TT_EINVAL, "layers", "MLP widths must be 1..4096");
    return 0;
}

int tt_neumf_params_check(const tt_neumf_params *p, tt_err *err)
{
    if (!p)
        return tt_err_set(err, TT_EINVAL, "NeuMF parameters are required");
    if (p->factors < 1 || p->factors > 1024)
        return tt_err_set_field(err, TT_EINVAL, "factors", "factors must be 1..1024");
    if (!(p->lr > 0.0f) || !isfinite(p->lr))
        return tt_err_set_field(err, TT_EINVAL, "lr", "learning rate must be a number > 0");
    if (p->batch < 1 || p->batch > 1 << 20)
        return tt_err_set_field(err, TT_EINVAL, "batch", "batch must be 1..1048576");
    if (p->epochs < 1 || p->epochs > 10000)
        return tt_err_set_field(err, TT_EINVAL, "epochs", "epochs must be 1..10000");
    if (!(p->l2 >= 0.0f) || !isfinite(p->l2))
        return tt_err_set_field(err, TT_EINVAL, "l2", "l2 must be a number >= 0");
    if (p->negatives < 0 || p->negatives > 100)
        return tt_err_set_field(err, TT_EINVAL, "negatives", "negatives must be 0..100");
    if (p->validation_users < 0 || p->precompute < 0 || p->threads < 0)
        return tt_err_set(err, TT_EINVAL, "validation_users, precompute, threads must be >= 0");
    if (p->fold_steps < 1 || p->fold_steps > 1000)
        return tt_err_set_field(err, TT_EINVAL, "fold_steps", "fold_steps must be 1..1000");
    return check_layers(p, err);
}

/* ---- the model ---- */

/* A = T_mlp W_1t': each track's share of the first MLP layer, one sgemm. */
static void track_table(tt_neumf_model *m)
{
    const struct tt__neumf_layout *L = &m->L;
    int32_t nt = m->base.n_tracks;

    m->A = tt_aligned_alloc(((size_t)nt + 1) * L->width[1] * sizeof(float));
    if (nt > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nt, L->width[1], L->d, 1.0f,
                    m->T + L->f, L->e, m->dense + L->w[1] + L->d, L->width[0], 0.0f, m->A,
                    L->width[1]);
}

static tt_neumf_model *model_alloc(void)
{
    tt_neumf_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &neumf_ops;
    snprintf(m->base.name, sizeof(m->base.name), "neumf");
    return m;
}

tt_neumf_model *tt__neumf_model_new(const tt_neumf_params *p, int32_t n_users, int32_t n_tracks,
                                    float *U, float *T, float *dense)
{
    tt_neumf_model *m = model_alloc();

    m->p = *p;
    m->p.progress = NULL;
    m->p.progress_ctx = NULL;
    tt__neumf_layout(p, &m->L);
    m->k = m->L.f;
    m->base.n_users = n_users;
    m->base.n_tracks = n_tracks;
    m->U = m->owned[0] = U;
    m->T = m->owned[1] = T;
    m->dense = m->owned[2] = dense;
    track_table(m);
    return m;
}

/* ---- scoring ---- */

/* What scoring needs of one listener: h_g (.) p_u and W_1u p'_u + b_1. */
struct listener {
    float g[1024];
    float c1[4096];
};

static void listener_prep(const tt_neumf_model *m, const float *x, struct listener *l)
{
    const struct tt__neumf_layout *L = &m->L;
    const float *W1 = m->dense + L->w[1], *h = m->dense + L->h;

    for (int j = 0; j < L->f; j++)
        l->g[j] = h[j] * x[j];
    for (int r = 0; r < L->width[1]; r++)
        l->c1[r] = m->dense[L->b[1] + r] + dot(W1 + (size_t)r * L->width[0], x + L->f, L->d);
}

/* Scratch of one block: two activations of SCORE_BLOCK rows of the widest layer. */
static size_t block_floats(const tt_neumf_model *m)
{
    int w = 1;
    for (int l = 1; l < m->L.nl; l++)
        w = m->L.width[l] > w ? m->L.width[l] : w;
    return 2 * (size_t)SCORE_BLOCK * w;
}

/*
 * Logits of @n <= SCORE_BLOCK tracks (@tracks, or first..first + n - 1 when NULL) into
 * @out. Every row is computed the same way whatever the block, so a track scores the same
 * in a catalog pass and in a candidate list.
 */
TT_CLONES static void score_block(const tt_neumf_model *m, const struct listener *l,
                                  const int32_t *tracks, int32_t first, int32_t n, float *out,
                                  float *scratch)
{
    const struct tt__neumf_layout *L = &m->L;
    const int w1 = L->width[1], last = L->nl - 1;
    float *a = scratch, *b = scratch + block_floats(m) / 2, *tmp;

    for (int32_t i = 0; i < n; i++) {
        const float *ar = m->A + (size_t)(tracks ? tracks[i] : first + i) * w1;
        float *h = a + (size_t)i * w1;
        for (int r = 0; r < w1; r++) {
            float v = ar[r] + l->c1[r];
            h[r] = v > 0.0f ? v : 0.0f;
        }
    }
    for (int k = 2; k <= last; k++) {
        tt_nn_dense_forward(a, n, L->width[k - 1], m->dense + L->w[k], m->dense + L->b[k],
                            L->width[k], b);
        tt_nn_relu_forward(b, (int64_t)n * L->width[k]);
        tmp = a, a = b, b = tmp;
    }
    for (int32_t i = 0; i < n; i++) {
        int32_t t = tracks ? tracks[i] : first + i;
        out[i] = m->dense[L->hb] + dot(m->T + (size_t)t * L->e, l->g, L->f) +
                 dot(a + (size_t)i * L->width[last], m->dense + L->h + L->f, L->width[last]);
    }
}

/* Logits of every track for user vector @x into @scores (n_tracks). */
static void score_catalog(const tt_neumf_model *m, const float *x, float *scores,
                          float *scratch)
{
    struct listener l;

    listener_prep(m, x, &l);
    for (int32_t b = 0; b < m->base.n_tracks; b += SCORE_BLOCK) {
        int32_t n = m->base.n_tracks - b < SCORE_BLOCK ? m->base.n_tracks - b : SCORE_BLOCK;
        score_block(m, &l, NULL, b, n, scores + b, scratch);
    }
}

/* ---- fold-in ---- */

struct fold {
    int32_t t[FOLD_MAX_HISTORY * 5];
    float y[FOLD_MAX_HISTORY * 5];
    int32_t n;
};

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * The fold-in's samples: the heaviest FOLD_MAX_HISTORY history tracks (later entries win
 * ties) as positives, and @negatives tracks per positive drawn from a generator seeded by
 * the model's seed and the positives, so a history always folds in to the same vector.
 */
static void fold_samples(const tt_neumf_model *m, const tt_query *q, struct fold *s)
{
    int32_t pos[FOLD_MAX_HISTORY], np = 0, nt = m->base.n_tracks, neg = m->p.negatives;
    float w[FOLD_MAX_HISTORY];
    tt_rng r;

    for (int32_t j = 0; j < q->n_hist; j++) {
        int32_t t = q->hist[j], at;
        float c = q->hist_conf ? q->hist_conf[j] : 1.0f;
        if (t < 0 || t >= nt || !(c > 0.0f))
            continue;
        if (np == FOLD_MAX_HISTORY) {
            int lo = 0;
            for (int i = 1; i < np; i++)
                lo = w[i] < w[lo] ? i : lo;
            if (c < w[lo])
                continue;
            memmove(pos + lo, pos + lo + 1, (size_t)(np - lo - 1) * sizeof(int32_t));
            memmove(w + lo, w + lo + 1, (size_t)(np - lo - 1) * sizeof(float));
            np--;
        }
        at = np++;
        pos[at] = t, w[at] = c;
    }
    s->n = 0;
    for (int32_t i = 0; i < np; i++)
        s->t[s->n] = pos[i], s->y[s->n++] = 1.0f;
    qsort(pos, (size_t)np, sizeof(int32_t), cmp_i32);
    tt_rng_seed(&r, m->p.seed, tt_hash64(pos, (size_t)np * sizeof(int32_t)));
    for (int32_t i = 0; i < np * neg && nt > np; i++) {
        int32_t t = -1;
        for (int tries = 0; tries < 16 && t < 0; tries++) {
            t = (int32_t)tt_rng_below(&r, (uint64_t)nt);
            if (tt_sorted_contains(pos, np, t) ||
                (q->n_exclude > 0 && tt_sorted_contains(q->exclude, q->n_exclude, t)))
                t = -1;
        }
        if (t >= 0)
            s->t[s->n] = t, s->y[s->n++] = 0.0f;
    }
}

/*
 * Gradient of the mean BCE of samples @s with respect to the user vector @x (e floats), track
 * parameters fixed. The first layer's input gradient is the column sum of its output
 * gradients times W_1u, since every sample shares the user half.
 */
/* Floats of fold_grad's work space per sample; *wmax gets the widest layer. */
static size_t fold_floats(const struct tt__neumf_layout *L, int *wmax)
{
    size_t n = 1;

    *wmax = L->width[0];
    for (int k = 1; k < L->nl; k++) {
        n += (size_t)L->width[k];
        *wmax = L->width[k] > *wmax ? L->width[k] : *wmax;
    }
    return n + 2 * (size_t)*wmax;
}

static double fold_grad(const tt_neumf_model *m, const struct fold *s, const float *x,
                        float *gx, float *work)
{
    const struct tt__neumf_layout *L = &m->L;
    const int last = L->nl - 1, n = s->n;
    float *H[TT_NEUMF_MAX_LAYERS], *dA, *dB, *z, *tmp, dc1[4096];
    struct listener l;
    size_t o = 0;
    double loss;
    int wmax;

    fold_floats(L, &wmax);
    for (int k = 1; k <= last; k++)
        H[k] = work + o, o += (size_t)n * L->width[k];
    dA = work + o, o += (size_t)n * wmax;
    dB = work + o, o += (size_t)n * wmax;
    z = work + o;
    listener_prep(m, x, &l);
    for (int i = 0; i < n; i++) {
        const float *ar = m->A + (size_t)s->t[i] * L->width[1];
        for (int r = 0; r < L->width[1]; r++) {
            float v = ar[r] + l.c1[r];
            H[1][(size_t)i * L->width[1] + r] = v > 0.0f ? v : 0.0f;
        }
    }
    for (int k = 2; k <= last; k++) {
        tt_nn_dense_forward(H[k - 1], n, L->width[k - 1], m->dense + L->w[k],
                            m->dense + L->b[k], L->width[k], H[k]);
        tt_nn_relu_forward(H[k], (int64_t)n * L->width[k]);
    }
    for (int i = 0; i < n; i++)
        z[i] = m->dense[L->hb] + dot(m->T + (size_t)s->t[i] * L->e, l.g, L->f) +
               dot(H[last] + (size_t)i * L->width[last], m->dense + L->h + L->f, L->width[last]);
    loss = tt_nn_bce_logits(z, s->y, NULL, n, 1.0f / n, z);
    memset(gx, 0, (size_t)L->e * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *q = m->T + (size_t)s->t[i] * L->e;
        for (int j = 0; j < L->f; j++)
            gx[j] += z[i] * m->dense[L->h + j] * q[j];
        for (int j = 0; j < L->width[last]; j++)
            dA[(size_t)i * L->width[last] + j] = z[i] * m->dense[L->h + L->f + j];
    }
    for (int k = last; k >= 1; k--) {
        tt_nn_relu_backward(H[k], dA, (int64_t)n * L->width[k]);
        if (k > 1) {
            tt_nn_dense_backward(H[k - 1], n, L->width[k - 1], m->dense + L->w[k], L->width[k],
                                 dA, NULL, NULL, dB);
            tmp = dA, dA = dB, dB = tmp;
        }
    }
    memset(dc1, 0, (size_t)L->width[1] * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int r = 0; r < L->width[1]; r++)
            dc1[r] += dA[(size_t)i * L->width[1] + r];
    for (int r = 0; r < L->width[1]; r++) {
        const float *w = m->dense + L->w[1] + (size_t)r * L->width[0];
        for (int j = 0; j < L->d; j++)
            gx[L->f + j] += dc1[r] * w[j];
    }
    return loss / n;
}

/*
 * A listener's vector from their history: p->fold_steps Adam steps (step FOLD_LR) on a zero
 * user vector, GMF and MLP halves together, every track parameter frozen. Bounded work: at
 * most FOLD_MAX_HISTORY positives with their negatives, each step one pass of the MLP over
 * them. Deterministic: the same history gives the same vector.
 */
static int fold_in(const tt_neumf_model *m, const tt_query *q, float *x, tt_err *err)
{
    const struct tt__neumf_layout *L = &m->L;
    struct fold *s = tt_malloc(sizeof(*s));
    tt_adam_params ap = tt_adam_params_default();
    int wmax;
    float *work, *gx;
    tt_adam a;

    fold_samples(m, q, s);
    memset(x, 0, (size_t)L->e * sizeof(float));
    if (s->n == 0) {
        free(s);
        return tt_err_set_field(err, TT_ENOTFOUND, "user_id",
                                "no history track is in the model's catalog");
    }
    work = tt_malloc(((size_t)s->n * fold_floats(L, &wmax) + 1) * sizeof(float));
    gx = tt_malloc((size_t)L->e * sizeof(float));
    ap.lr = FOLD_LR;
    ap.l2 = m->p.l2;
    tt_adam_init(&a, L->e, &ap);
    for (int it = 0; it < m->p.fold_steps; it++) {
        fold_grad(m, s, x, gx, work);
        tt_adam_step(&a, x, gx);
    }
    tt_adam_release(&a);
    free(gx);
    free(work);
    free(s);
    return 0;
}

/* The vector of @q's listener into @buf (e floats); *x points at it or the stored row. */
static int listener_vector(const tt_neumf_model *m, const tt_query *q, float *buf,
                           const float **x, tt_err *err)
{
    int rc;

    if (q->n_hist > 0) {
        rc = fold_in(m, q, buf, err);
        if (rc < 0)
            return rc;
        *x = buf;
    } else if (q->user >= 0 && q->user < m->base.n_users) {
        *x = m->U + (size_t)q->user * m->L.e;
    } else {
        return tt_err_set_field(err, TT_ENOTFOUND, "user_id", "user has no history in the model");
    }
    return 0;
}

/* ---- recommendation ---- */

static int neumf_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out,
                           int *n_out, tt_err *err)
{
    const tt_neumf_model *m = (const tt_neumf_model *)mm;
    float xbuf[3072], *scores, *scratch;
    const float *x;
    int rc;

    if (tt__lists_answer(&m->lists, q, k, out, n_out))
        return 0;
    rc = listener_vector(m, q, xbuf, &x, err);
    if (rc < 0)
        return rc;
    scores = tt_malloc(((size_t)mm->n_tracks + 1) * sizeof(float));
    scratch = tt_aligned_alloc(block_floats(m) * sizeof(float));
    score_catalog(m, x, scores, scratch);
    *n_out = tt__select_top(scores, mm->n_tracks, q->exclude, q->n_exclude, q->allow, k, out);
    free(scratch);
    free(scores);
    return 0;
}

int tt_neumf_score(const tt_model *mm, const tt_query *q, const int32_t *tracks, int32_t n,
                   float *out, tt_err *err)
{
    const tt_neumf_model *m = (const tt_neumf_model *)mm;
    float xbuf[3072], *scratch;
    struct listener l;
    const float *x;
    int rc;

    if (!mm || mm->ops != &neumf_ops || !q || (n > 0 && (!tracks || !out)) || n < 0)
        return tt_err_set(err, TT_EINVAL, "tt_neumf_score needs a NeuMF model and tracks");
    for (int32_t i = 0; i < n; i++)
        if (tracks[i] < 0 || tracks[i] >= mm->n_tracks)
            return tt_err_set_field(err, TT_EINVAL, "tracks", "track %d is not in the model",
                                    tracks[i]);
    rc = listener_vector(m, q, xbuf, &x, err);
    if (rc < 0)
        return rc;
    scratch = tt_aligned_alloc(block_floats(m) * sizeof(float));
    listener_prep(m, x, &l);
    for (int32_t b = 0; b < n; b += SCORE_BLOCK)
        score_block(m, &l, tracks + b, 0, n - b < SCORE_BLOCK ? n - b : SCORE_BLOCK, out + b,
                    scratch);
    free(scratch);
    return 0;
}

struct batch {
    const tt_neumf_model *m;
    const int32_t *users;
    const tt_csr *exclude;
    int k;
    tt_scored *out;
    float *scratch; /* per thread: n_tracks scores + one block */
    size_t per;
};

static void batch_users(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct batch *bt = ctx;
    const tt_neumf_model *m = bt->m;
    float *scores = bt->scratch + (size_t)thread * bt->per;
    float *block = scores + (((size_t)m->base.n_tracks + 15) & ~(size_t)15);

    for (int64_t i = b; i < e; i++) {
        int32_t u = bt->users[i], nex = 0;
        const int32_t *ex = NULL;
        tt_scored *row = bt->out + (size_t)i * bt->k;
        int got = 0;
        if (u >= 0 && u < m->base.n_users) {
            if (bt->exclude && u < bt->exclude->rows) {
                ex = bt->exclude->indices + bt->exclude->indptr[u];
                nex = (int32_t)tt_csr_row_nnz(bt->exclude, u);
            }
            score_catalog(m, m->U + (size_t)u * m->L.e, scores, block);
            got = tt__select_top(scores, m->base.n_tracks, ex, nex, NULL, bt->k, row);
        }
        for (int j = got; j < bt->k; j++)
            row[j] = (tt_scored){-1, 0.0f};
    }
}

static int neumf_recommend_batch(const tt_model *mm, const int32_t *users, int32_t n,
                                 const tt_csr *exclude, int k, tt_scored *out, tt_err *err)
{
    const tt_neumf_model *m = (const tt_neumf_model *)mm;
    int threads = tt_threads_resolve(m->p.threads);
    struct batch bt = {m, users, exclude, k, out, NULL, 0};

    (void)err;
    tt__blas_single_threaded();
    bt.per = (((size_t)mm->n_tracks + 15) & ~(size_t)15) + block_floats(m);
    bt.scratch = tt_aligned_alloc((size_t)threads * bt.per * sizeof(float));
    tt_parallel_for(n, 4, threads, batch_users, &bt);
    free(bt.scratch);
    return 0;
}

void tt__neumf_precompute(tt_neumf_model *m, const tt_csr *seen)
{
    int32_t nu = m->base.n_users, *users;
    int k = m->p.precompute < m->base.n_tracks ? m->p.precompute : m->base.n_tracks;

    if (k <= 0 || nu == 0)
        return;
    users = tt_malloc((size_t)nu * sizeof(int32_t));
    for (int32_t u = 0; u < nu; u++)
        users[u] = u;
    m->lists.owned_top = tt_malloc((size_t)nu * (size_t)k * sizeof(tt_scored));
    neumf_recommend_batch(&m->base, users, nu, seen, k, m->lists.owned_top, NULL);
    m->lists.top = m->lists.owned_top;
    m->lists.n = nu;
    m->lists.k = k;
    free(users); /* list u is user u's: no slot index */
}

int tt_neumf_history(const tt_model *mm, const tt_neumf_epoch **out)
{
    const tt_neumf_model *m = (const tt_neumf_model *)mm;

    if (!mm || mm->ops != &neumf_ops) {
        if (out)
            *out = NULL;
        return 0;
    }
    if (out)
        *out = m->hist;
    return m->n_epochs;
}

/* ---- files ---- */

_Static_assert(sizeof(tt_neumf_epoch) == 3 * sizeof(float), "history rows are 3 floats");
_Static_assert(sizeof(tt_scored) == 2 * sizeof(int32_t), "list entries are 2 x 4 bytes");

#define LAYER_FIELD(i)                                                                        \
    {"layer" #i, TT_MF_I32, TT_MF_AT(tt_neumf_model, p.layers[i]), .lo = 0, .hi = 4096}

static const tt_mfield neumf_fields[] = {
    {"k", TT_MF_I32, TT_MF_AT(tt_neumf_model, k), .lo = 1, .hi = 1024},
    {"n_layers", TT_MF_I32, TT_MF_AT(tt_neumf_model, p.n_layers), .lo = 2,
     .hi = TT_NEUMF_MAX_LAYERS},
    LAYER_FIELD(0), LAYER_FIELD(1), LAYER_FIELD(2), LAYER_FIELD(3),
    LAYER_FIELD(4), LAYER_FIELD(5), LAYER_FIELD(6), LAYER_FIELD(7),
    {"lr", TT_MF_F32, TT_MF_AT(tt_neumf_model, p.lr), .lo = FLT_TRUE_MIN, .hi = FLT_MAX},
    {"batch", TT_MF_I32, TT_MF_AT(tt_neumf_model, p.batch), .lo = 1, .hi = 1 << 20},
    {"epochs", TT_MF_I32, TT_MF_AT(tt_neumf_model, p.epochs), .lo = 1, .hi = 10000},
    {"l2", TT_MF_F32, TT_MF_AT(tt_neumf_model, p.l2), .lo = 0, .hi = FLT_MAX},
    {"negatives", TT_MF_I32, TT_MF_AT(tt_neumf_model, p.negatives), .lo = 0, .hi = 100},
    {"pretrain", TT_MF_BOOL, TT_MF_AT(tt_neumf_model, p.pretrain)},
    {"validation_users", TT_MF_I32, TT_MF_AT(tt_neumf_model, p.validation_users), .lo = 0,
     .hi = INT32_MAX},
    {"seed", TT_MF_U64, TT_MF_AT(tt_neumf_model, p.seed)},
    {"fold_steps", TT_MF_I32, TT_MF_AT(tt_neumf_model, p.fold_steps), .lo = 1, .hi = 1000},
    TT_MODEL_MFIELDS(tt_neumf_model, base),
};
#define N_NEUMF_FIELDS ((int)(sizeof(neumf_fields) / sizeof(neumf_fields[0])))

static int neumf_save(const tt_model *mm, const char *path, tt_err *err)
{
    const tt_neumf_model *m = (const tt_neumf_model *)mm;
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "neumf", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, neumf_fields, N_NEUMF_FIELDS, m, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_emb", TT_DT_F32, mm->n_users, m->L.e, m->U, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_emb", TT_DT_F32, mm->n_tracks, m->L.e, m->T, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "dense", TT_DT_F32, 1, m->L.n, m->dense, err);
    if (rc == 0 && m->n_epochs > 0)
        rc = tt_mfile_add(w, "history", TT_DT_F32, m->n_epochs, 3, m->hist, err);
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

static int refuse(const tt_mfile *f, const char *what, tt_err *err)
{
    return tt_err_set(err, TT_ECORRUPT, "model file %s refused: %s", tt_mfile_path(f), what);
}

/* The optional sections: the epoch history and the precomputed lists (ids checked). */
static int load_optional(tt_neumf_model *m, tt_mfile *f, tt_err *err)
{
    int64_t rows = -1, cols = 3;
    const void *p;

    if (tt_mfile_get(f, "history", TT_DT_F32, &rows, &cols, &p, NULL) == 0) {
        if (rows > m->p.epochs)
            return refuse(f, "history longer than its epochs", err);
        m->hist = p;
        m->n_epochs = (int32_t)rows;
    }
    return tt__lists_load(&m->lists, f, m->base.n_users, m->base.n_tracks, err);
}

static int load_arrays(tt_neumf_model *m, tt_mfile *f, tt_err *err)
{
    int64_t rows = m->base.n_users, cols = m->L.e;
    const void *p;
    int rc = tt_mfile_get(f, "user_emb", TT_DT_F32, &rows, &cols, &p, err);

    m->U = p;
    rows = m->base.n_tracks;
    if (rc == 0)
        rc = tt_mfile_get(f, "track_emb", TT_DT_F32, &rows, &cols, &p, err);
    m->T = p;
    rows = 1, cols = m->L.n;
    if (rc == 0)
        rc = tt_mfile_get(f, "dense", TT_DT_F32, &rows, &cols, &p, err);
    m->dense = p;
    if (rc == 0)
        rc = load_optional(m, f, err);
    if (rc == 0) {
        m->owned_ids = tt_malloc(((size_t)m->base.n_users + 1) * sizeof(char *));
        m->user_ids = m->owned_ids;
        rc = tt_mfile_strings(f, "user_ids", m->base.n_users, m->owned_ids, err);
    }
    return rc;
}

int tt__neumf_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    tt_neumf_model *m = model_alloc();
    tt_err perr = {0};
    int rc;

    m->p = tt_neumf_params_default();
    rc = tt_mfile_get_meta(f, neumf_fields, N_NEUMF_FIELDS, m, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->p.factors = m->k;
    for (int l = m->p.n_layers; l < TT_NEUMF_MAX_LAYERS; l++)
        m->p.layers[l] = 0;
    if (tt_neumf_params_check(&m->p, &perr) < 0) {
        rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: %s", tt_mfile_path(f),
                        perr.message);
        free(m);
        return rc;
    }
    tt__neumf_layout(&m->p, &m->L);
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    rc = load_arrays(m, f, err);
    if (rc < 0) {
        m->file = NULL; /* the caller still owns @f on failure */
        tt_model_free(&m->base);
        return rc;
    }
    tt__blas_single_threaded(); /* requests run sgemm blocks on the service's threads */
    track_table(m);
    *out = &m->base;
    return 0;
}

static void neumf_free(tt_model *mm)
{
    tt_neumf_model *m = (tt_neumf_model *)mm;

    for (int i = 0; i < 3; i++)
        free(m->owned[i]);
    free(m->A);
    tt__lists_release(&m->lists);
    free(m->owned_hist);
    free(m->owned_ids);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops neumf_ops = {
    .kind = "neumf",
    .recommend = neumf_recommend,
    .recommend_batch = neumf_recommend_batch,
    .similar = NULL,
    .save = neumf_save,
    .free = neumf_free,
};
