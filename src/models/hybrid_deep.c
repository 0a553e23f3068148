/*
 * The hybrid deep ranker (tt/hybrid_deep.h): candidates from five parts, twelve features per
 * candidate, a one-hidden-layer network trained with a listwise softmax loss on a
 * validation split, new releases lifted by a bonus learned afterwards.
 *
 * Why listwise: a listener's validation candidates hold a few held-out positives among a few
 * hundred, and what matters is their order against that listener's other candidates, not a
 * calibrated probability; a pointwise logistic loss (positives weighted up) ranked played
 * tracks barely better than ALS on Last.fm, the listwise loss clearly better (docs/models.md).
 * Why z-scores: as in the hybrid model, each part's raw scores live on their own scale.
 */
#include "hybrid_priv.h"
#include "tt/deep_content.h"
#include "tt/hybrid_deep.h"
#include "tt/core.h"
#include "tt/models.h"
#include "tt/neumf.h"
#include "tt/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const tt_hd_part_names[TT_HD_PARTS] = {"als",      "content", "popularity",
                                                   "trending", "neumf",   "deep_content"};
const char *const tt_hd_feature_names[TT_HD_FEATURES] = {
    "als", "content", "popularity", "trending", "new_release", "neumf", "deep_content",
    "artist_affinity", "genre_affinity", "als_rank", "neumf_rank", "track_age"};

enum {
    F_ALS = 0,
    F_NEW = 4,
    F_NEUMF = 5,
    F_DEEP = 6,
    F_ARTIST = 7,
    F_GENRE = 8,
    F_ALS_RANK = 9,
    F_NEUMF_RANK = 10,
    F_AGE = 11
};
#define H TT_HD_HIDDEN
#define F TT_HD_FEATURES

typedef struct hd_model {
    tt_model base;
    tt_hd_params p;
    tt_hd_fit fit;
    float w1[H * F], b1[H], w2[H], b2, mean[F], sd[F];
    float new_bonus; /* added to the score of a track nobody has played */
    int32_t n_artists, n_genres;
    const int32_t *track_artist, *track_genre; /* n_tracks each: file or owned */
    const float *track_age; /* n_tracks: log(1 + days from a track's first play to the data's
                             * newest event); 0 for a track nobody has played */
    int32_t *owned_meta;
    float *owned_age;
    tt_model *part[TT_HD_PARTS];
    bool owns_parts;
    tt__hybrid_set set;
    bool attached;
    tt_hd_history_fn hist;
    const void *hist_ctx;
    tt_mfile *file;
} hd_model;

static const struct tt_model_ops hd_ops;

static hd_model *hdm(const tt_model *m)
{
    return m && m->ops == &hd_ops ? (hd_model *)(uintptr_t)m : NULL;
}

tt_hd_params tt_hd_params_default(void)
{
    tt_hd_params p;

    p.split = tt_hybrid_params_default();
    p.split.candidates = 200;
    p.epochs = 40;
    p.lr = 0.005f;
    return p;
}

/* ---- candidates and features ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Score descending, then index ascending: a stable order for ties. */
static int cmp_desc(const void *a, const void *b)
{
    const tt_scored *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->track > y->track) - (x->track < y->track);
}

/* Appends @m's top @n for @q to @c (*n_c so far); a part that cannot rank adds nothing. */
static int add_top(const tt_model *m, const tt_query *q, int n, int32_t **c, int32_t *n_c,
                   tt_err *err)
{
    tt_scored *buf;
    int got = 0, rc;

    if (!m)
        return 0;
    buf = tt_malloc((size_t)n * sizeof(tt_scored));
    rc = tt_model_recommend(m, q, n, buf, &got, err);
    if (rc == TT_ENOTFOUND || rc == TT_ESTATE) {
        tt_err_clear(err);
        rc = 0;
    }
    *c = tt_realloc(*c, ((size_t)*n_c + got + 1) * sizeof(int32_t));
    for (int i = 0; rc == 0 && i < got; i++)
        (*c)[(*n_c)++] = buf[i].track;
    free(buf);
    return rc;
}

static int32_t candidates(const hd_model *m, const tt_query *q, int n_each, int32_t **out,
                          tt_err *err)
{
    int32_t n = tt__hybrid_candidates(m->part, q, n_each, out, err), w = 0;
    int rc = n < 0 ? n : 0;

    if (rc == 0)
        rc = add_top(m->part[TT_HD_NEUMF], q, n_each, out, &n, err);
    if (rc == 0)
        rc = add_top(m->part[TT_HD_DEEP], q, n_each, out, &n, err);
    if (rc < 0)
        return rc;
    qsort(*out, (size_t)n, sizeof(int32_t), cmp_i32);
    for (int32_t i = 0; i < n; i++)
        if (w == 0 || (*out)[w - 1] != (*out)[i])
            (*out)[w++] = (*out)[i];
    return w;
}

/* Column @col of @x (n x F) as z-scores over the candidates; 0 where @ok is false. */
static void zscore(float *x, const float *s, const bool *ok, int32_t n, int col)
{
    double sum = 0, ss = 0;
    int32_t k = 0;

    for (int32_t i = 0; i < n; i++)
        if (ok[i]) {
            sum += s[i];
            k++;
        }
    for (int32_t i = 0; i < n && k > 0; i++)
        if (ok[i])
            ss += (s[i] - sum / k) * (s[i] - sum / k);
    for (int32_t i = 0; i < n; i++) {
        double sd = k > 1 ? sqrt(ss / k) : 0;
        x[(size_t)i * F + col] = ok[i] && sd > 0 ? (float)((s[i] - sum / k) / sd) : 0.0f;
    }
}

/* A part's scores of the candidates as a z-scored column; a part that cannot score: 0s. */
static void part_column(const hd_model *m, int part, const tt_query *q, const int32_t *c,
                        int32_t n, float *x, int col)
{
    float *s = tt_malloc(((size_t)n + 1) * sizeof(float));
    bool *ok = tt_malloc((size_t)n + 1);
    tt_err err = {0};
    int rc = -1;

    if (part == TT_HD_NEUMF && m->part[part])
        rc = tt_neumf_score(m->part[part], q, c, n, s, &err);
    else if (part == TT_HD_DEEP && m->part[part])
        rc = tt_deep_content_score(m->part[part], q, c, n, s, &err);
    for (int32_t i = 0; i < n; i++)
        ok[i] = rc == 0 && isfinite(s[i]);
    zscore(x, s, ok, n, col);
    free(s);
    free(ok);
}

static int32_t count_of(const int32_t *sorted, int32_t n, int32_t v)
{
    int32_t lo = 0, hi = n, a;

    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    a = lo;
    while (lo < n && sorted[lo] == v)
        lo++;
    return lo - a;
}

/* The listener's share of liked tracks by each candidate's artist and of its first genre. */
static void affinities(const hd_model *m, const tt_query *q, const int32_t *c, int32_t n,
                       float *x)
{
    const int32_t *pos = q->hist;
    const float *r = q->hist_conf;
    int32_t np = q->n_hist, *a, *g;

    if (np == 0 && q->user >= 0 && m->hist)
        m->hist(m->hist_ctx, q->user, &pos, &r, &np);
    a = tt_malloc(((size_t)np + 1) * sizeof(int32_t));
    g = tt_malloc(((size_t)np + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < np; i++) {
        int32_t t = pos[i] >= 0 && pos[i] < m->base.n_tracks ? pos[i] : -1;
        a[i] = t >= 0 ? m->track_artist[t] : -1;
        g[i] = t >= 0 ? m->track_genre[t] : -1;
    }
    qsort(a, (size_t)np, sizeof(int32_t), cmp_i32);
    qsort(g, (size_t)np, sizeof(int32_t), cmp_i32);
    for (int32_t i = 0; i < n; i++) {
        int32_t ta = m->track_artist[c[i]], tg = m->track_genre[c[i]];
        x[(size_t)i * F + F_ARTIST] = np > 0 && ta >= 0 ? (float)count_of(a, np, ta) / np : 0.0f;
        x[(size_t)i * F + F_GENRE] = np > 0 && tg >= 0 ? (float)count_of(g, np, tg) / np : 0.0f;
    }
    free(a);
    free(g);
}

/*
 * Column @to: -log2(2 + r), r the candidate's rank among the listener's candidates by column
 * @from (0 = best): the head of a part's list counts most, as a ranked list is read.
 */
static void rank_column(float *x, int32_t n, int from, int to)
{
    tt_scored *o = tt_malloc(((size_t)n + 1) * sizeof(tt_scored));

    for (int32_t i = 0; i < n; i++)
        o[i] = (tt_scored){i, x[(size_t)i * F + from]};
    qsort(o, (size_t)n, sizeof(tt_scored), cmp_desc);
    for (int32_t r = 0; r < n; r++)
        x[(size_t)o[r].track * F + to] = -(float)log2(2.0 + r);
    free(o);
}

/* Every feature of the @n candidates @c into @x (n x F). */
static int features(const hd_model *m, const tt_query *q, const int32_t *c, int32_t n, float *x,
                    tt_err *err)
{
    float *z = tt_malloc(((size_t)n + 1) * TT_HYBRID_COLS * sizeof(float));
    int rc = tt__hybrid_features(&m->set, q, c, n, z, err);

    for (int32_t i = 0; rc == 0 && i < n; i++)
        memcpy(x + (size_t)i * F, z + (size_t)i * TT_HYBRID_COLS,
               TT_HYBRID_COLS * sizeof(float));
    free(z);
    if (rc < 0)
        return rc;
    part_column(m, TT_HD_NEUMF, q, c, n, x, F_NEUMF);
    part_column(m, TT_HD_DEEP, q, c, n, x, F_DEEP);
    affinities(m, q, c, n, x);
    rank_column(x, n, F_ALS, F_ALS_RANK);
    rank_column(x, n, F_NEUMF, F_NEUMF_RANK);
    for (int32_t i = 0; i < n; i++)
        x[(size_t)i * F + F_AGE] = m->track_age[c[i]];
    return 0;
}

/* ---- the network ---- */

/*
 * The network's score plus the new-release bonus. The network never sees the new-release
 * flag (it learns on played tracks only); the bonus alone decides how far new releases rise.
 */
static float net_score(const hd_model *m, const float *x)
{
    float in[F], s = m->b2 + m->new_bonus * x[F_NEW];

    for (int j = 0; j < F; j++)
        in[j] = j == F_NEW ? 0.0f : (x[j] - m->mean[j]) / m->sd[j];
    for (int h = 0; h < H; h++) {
        float a = m->b1[h];
        for (int j = 0; j < F; j++)
            a += m->w1[h * F + j] * in[j];
        s += a > 0 ? m->w2[h] * a : 0.0f;
    }
    return s;
}

static int hd_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out, int *n_out,
                        tt_err *err)
{
    const hd_model *m = hdm(mm);
    int32_t *c = NULL, n;
    float *x = NULL;
    tt_topk top;
    int rc;

    *n_out = 0;
    if (!m->attached)
        return tt_err_set(err, TT_ESTATE, "the hybrid deep model has no parts attached");
    n = candidates(m, q, k > m->p.split.candidates ? k : m->p.split.candidates, &c, err);
    rc = n < 0 ? n : 0;
    if (n == 0)
        rc = tt_err_set(err, TT_ESTATE, "no part of the hybrid deep model can rank for the "
                                        "listener");
    if (rc == 0) {
        x = tt_malloc((size_t)n * F * sizeof(float));
        rc = features(m, q, c, n, x, err);
    }
    if (rc == 0) {
        tt_topk_init(&top, out, k);
        for (int32_t i = 0; i < n; i++)
            tt_topk_push(&top, c[i], net_score(m, x + (size_t)i * F));
        *n_out = tt_topk_finish(&top);
    }
    free(c);
    free(x);
    return rc;
}

/* ---- attaching ---- */

static bool part_ok(const tt_model *m, const tt_model *pt, int i)
{
    static const char *const kinds[TT_HD_PARTS] = {"als",      "content", "popularity",
                                                   "popularity", "neumf", "deep_content"};

    if (!pt)
        return i == TT_HD_CONTENT || i == TT_HD_NEUMF || i == TT_HD_DEEP;
    /* Popularity and trending share a kind; the name (the popularity mode) tells them apart. */
    return strcmp(pt->ops->kind, kinds[i]) == 0 && strcmp(pt->name, tt_hd_part_names[i]) == 0 &&
           pt->catalog == m->catalog && pt->n_tracks == m->n_tracks;
}

static int attach(hd_model *m, tt_model *const parts[TT_HD_PARTS], tt_err *err)
{
    for (int i = 0; i < TT_HD_PARTS; i++)
        if (!part_ok(&m->base, parts[i], i))
            return tt_err_set(err, TT_EINVAL, "hybrid_deep: part %s is missing or not of this "
                                              "catalog", tt_hd_part_names[i]);
    memcpy(m->part, parts, sizeof(m->part));
    tt__hybrid_set_init(&m->set, m->part, m->track_artist, m->n_artists);
    m->attached = true;
    return 0;
}

int tt_hybrid_deep_attach(tt_model *mm, tt_model *const parts[TT_HD_PARTS], tt_hd_history_fn hist,
                          const void *ctx, tt_err *err)
{
    hd_model *m = hdm(mm);

    if (!m || m->attached || !parts)
        return tt_err_set(err, TT_EINVAL, "not an unattached hybrid deep model, or no parts");
    m->hist = hist;
    m->hist_ctx = ctx;
    return attach(m, parts, err);
}

bool tt_hd_fit_of(const tt_model *mm, tt_hd_fit *fit)
{
    const hd_model *m = hdm(mm);

    if (!m)
        return false;
    *fit = m->fit;
    return true;
}

/* ---- learning ---- */

static void csr_history(const void *ctx, int32_t u, const int32_t **t, const float **r, int32_t *n)
{
    const tt_csr *c = ctx;

    *n = 0;
    if (u < 0 || u >= c->rows)
        return;
    *t = c->indices + c->indptr[u];
    *r = c->data + c->indptr[u];
    *n = (int32_t)tt_csr_row_nnz(c, u);
}

/* One validation listener's candidates, features and which are held-out positives. */
struct vuser {
    int32_t n, n_rel, n_rel_new; /* held-out positives, of which on new releases */
    float *x;
    uint8_t *rel;
};

struct gather {
    const hd_model *m;
    const tt__validation *v;
    struct vuser *out;
};

static void gather_range(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct gather *g = ctx;

    (void)thread;
    for (int64_t i = b; i < e; i++) {
        int32_t u = g->v->users[i], *c = NULL, n;
        tt_query q;
        struct vuser *o = &g->out[i];
        tt_err err = {0};
        q = tt__validation_query(g->v, u, &o->n_rel, &o->n_rel_new);
        n = candidates(g->m, &q, g->m->p.split.candidates, &c, &err);
        if (n > 0) {
            o->x = tt_malloc((size_t)n * F * sizeof(float));
            o->rel = tt_malloc((size_t)n);
            if (features(g->m, &q, c, n, o->x, &err) < 0)
                n = 0;
            tt__validation_mark(g->v, u, c, n, o->rel);
        }
        o->n = n > 0 ? n : 0;
        free(c);
    }
}

/*
 * NDCG@k and recall@k of one listener ranked by @s: every held-out positive relevant, or
 * with @known only those on played tracks (rel 1).
 */
static void rank_metrics(const struct vuser *v, const float *s, int k, bool known, double *ndcg,
                         double *rec)
{
    int32_t n_rel = known ? v->n_rel - v->n_rel_new : v->n_rel;
    tt_scored *buf = tt_malloc(((size_t)k + 1) * sizeof(tt_scored));
    double dcg = 0, idcg = 0;
    int32_t hits = 0;
    tt_topk top;
    int got;

    tt_topk_init(&top, buf, k);
    for (int32_t i = 0; i < v->n; i++)
        tt_topk_push(&top, i, s[i]);
    got = tt_topk_finish(&top);
    for (int i = 0; i < got; i++)
        if (known ? v->rel[buf[i].track] == 1 : v->rel[buf[i].track] != 0) {
            dcg += 1.0 / log2(i + 2.0);
            hits++;
        }
    for (int i = 0; i < k && i < n_rel; i++)
        idcg += 1.0 / log2(i + 2.0);
    *ndcg = idcg > 0 ? dcg / idcg : 0;
    *rec = n_rel > 0 ? (double)hits / (n_rel < k ? n_rel : k) : 0;
    free(buf);
}

/*
 * Mean NDCG/recall over users [b, e): the network's score, or column @col alone (>= 0); on
 * every held-out positive, or with @known on those of played tracks only.
 */
static void evaluate(const hd_model *m, const struct vuser *vu, int32_t b, int32_t e, int col,
                     bool known, double *ndcg, double *rec)
{
    int32_t n = 0;

    *ndcg = *rec = 0;
    for (int32_t i = b; i < e; i++) {
        float *s;
        double nd, rc;
        if (vu[i].n_rel - (known ? vu[i].n_rel_new : 0) == 0)
            continue;
        s = tt_malloc(((size_t)vu[i].n + 1) * sizeof(float));
        for (int32_t j = 0; j < vu[i].n; j++)
            s[j] = col >= 0 ? vu[i].x[(size_t)j * F + col] : net_score(m, vu[i].x + (size_t)j * F);
        rank_metrics(&vu[i], s, m->p.split.k, known, &nd, &rc);
        *ndcg += nd;
        *rec += rc;
        n++;
        free(s);
    }
    if (n > 0) {
        *ndcg /= n;
        *rec /= n;
    }
}

/* The training rows (candidates of users [0, n_train)) as X, y and weights. */
struct rows {
    float *X, *y;
    int64_t n;
    int64_t *seg; /* n_seg + 1: each listener's rows, for the listwise loss */
    int32_t n_seg;
};

static void build_rows(hd_model *m, const struct vuser *vu, int32_t n_train, struct rows *r)
{
    double sum[F] = {0}, ss[F] = {0};

    r->n = 0;
    for (int32_t i = 0; i < n_train; i++)
        r->n += vu[i].n;
    /* played tracks only: new releases are ranked by the bonus learned afterwards */
    r->X = tt_malloc(((size_t)r->n + 1) * F * sizeof(float));
    r->y = tt_malloc(((size_t)r->n + 1) * sizeof(float));
    r->seg = tt_malloc(((size_t)n_train + 2) * sizeof(int64_t));
    r->n_seg = 0;
    r->seg[0] = 0;
    r->n = 0;
    for (int32_t i = 0; i < n_train; r->seg[++r->n_seg] = r->n, i++)
        for (int32_t j = 0; j < vu[i].n; j++) {
            if (vu[i].x[(size_t)j * F + F_NEW] != 0)
                continue;
            memcpy(r->X + r->n * F, vu[i].x + (size_t)j * F, F * sizeof(float));
            r->y[r->n] = vu[i].rel[j] == 1 ? 1.0f : 0.0f;
            r->n++;
        }
    for (int64_t i = 0; i < r->n; i++) {
        for (int j = 0; j < F; j++) {
            sum[j] += r->X[i * F + j];
            ss[j] += (double)r->X[i * F + j] * r->X[i * F + j];
        }
    }
    for (int j = 0; j < F; j++) {
        double mu = r->n > 0 ? sum[j] / r->n : 0, var = r->n > 0 ? ss[j] / r->n - mu * mu : 0;
        m->mean[j] = (float)mu;
        m->sd[j] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
    }
    for (int64_t i = 0; i < r->n; i++)
        for (int j = 0; j < F; j++)
            r->X[i * F + j] = (r->X[i * F + j] - m->mean[j]) / m->sd[j];
}

/*
 * Adam on the listwise softmax loss (ListNet's top-one form, Cao et al. 2007): for each
 * listener, minus the log of the softmax probability of each held-out positive among their
 * candidates, so the network learns to put positives above the listener's other candidates
 * rather than to calibrate a probability; batches of whole listeners, about 2,048 rows.
 * Listeners without a positive among their candidates teach nothing and are skipped.
 */
static void fit_net(hd_model *m, const struct rows *r, tt_rng *rng)
{
    enum { NP = H * F + H + H + 1, ROWS = 2048 };
    float w[NP], g[NP];
    int64_t most = 0, cap;
    int32_t *order = tt_malloc(((size_t)r->n_seg + 1) * sizeof(int32_t)), n_ord = 0;
    tt_adam_params ap = tt_adam_params_default();
    float *A, *Z, *dZ, *dA, *Xb, *yb;
    tt_adam adam;

    for (int32_t i = 0; i < r->n_seg; i++) {
        int64_t len = r->seg[i + 1] - r->seg[i];
        float npos = 0;
        for (int64_t j = r->seg[i]; j < r->seg[i + 1]; j++)
            npos += r->y[j];
        most = len > most ? len : most;
        if (npos > 0)
            order[n_ord++] = i;
    }
    cap = ROWS + most + 1;
    A = tt_malloc((size_t)cap * H * sizeof(float));
    dA = tt_malloc((size_t)cap * H * sizeof(float));
    Z = tt_malloc((size_t)cap * sizeof(float));
    dZ = tt_malloc((size_t)cap * sizeof(float));
    Xb = tt_malloc((size_t)cap * F * sizeof(float));
    yb = tt_malloc((size_t)cap * sizeof(float));
    tt_nn_init_he(w, H * F, F, rng);
    memset(w + H * F, 0, (H + H + 1) * sizeof(float));
    tt_nn_init_xavier(w + H * F + H, H, H, 1, rng);
    ap.lr = m->p.lr;
    tt_adam_init(&adam, NP, &ap);
    for (int e = 0; e < m->p.epochs; e++) {
        for (int32_t i = n_ord - 1; i > 0; i--) {
            int32_t j = (int32_t)tt_rng_below(rng, (uint64_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int32_t b = 0; b < n_ord;) {
            int64_t n = 0;
            int32_t first = b, users;
            while (b < n_ord && (n == 0 || n + r->seg[order[b] + 1] - r->seg[order[b]] <= ROWS)) {
                int64_t s0 = r->seg[order[b]], len = r->seg[order[b] + 1] - s0;
                memcpy(Xb + n * F, r->X + s0 * F, (size_t)len * F * sizeof(float));
                memcpy(yb + n, r->y + s0, (size_t)len * sizeof(float));
                n += len;
                b++;
            }
            users = b - first;
            tt_nn_dense_forward(Xb, n, F, w, w + H * F, H, A);
            tt_nn_relu_forward(A, n * H);
            tt_nn_dense_forward(A, n, H, w + H * F + H, w + H * F + 2 * H, 1, Z);
            for (int64_t o = 0, u = first; u < b; u++) {
                int64_t len = r->seg[order[u] + 1] - r->seg[order[u]];
                double mx = -INFINITY, sum = 0, npos = 0;
                for (int64_t j = o; j < o + len; j++) {
                    mx = Z[j] > mx ? Z[j] : mx;
                    npos += yb[j];
                }
                for (int64_t j = o; j < o + len; j++)
                    sum += exp(Z[j] - mx);
                for (int64_t j = o; j < o + len; j++)
                    dZ[j] = (float)((exp(Z[j] - mx) / sum * npos - yb[j]) / users);
                o += len;
            }
            memset(g, 0, sizeof(g));
            tt_nn_dense_backward(A, n, H, w + H * F + H, 1, dZ, g + H * F + H, g + H * F + 2 * H,
                                 dA);
            tt_nn_relu_backward(A, dA, n * H);
            tt_nn_dense_backward(Xb, n, F, w, H, dA, g, g + H * F, NULL);
            tt_adam_step(&adam, w, g);
        }
    }
    memcpy(m->w1, w, sizeof(m->w1));
    memcpy(m->b1, w + H * F, sizeof(m->b1));
    memcpy(m->w2, w + H * F + H, sizeof(m->w2));
    m->b2 = w[H * F + 2 * H];
    tt_adam_release(&adam);
    free(order);
    free(A);
    free(dA);
    free(Z);
    free(dZ);
    free(Xb);
    free(yb);
}

/*
 * NDCG lost on the test users [b, e) when feature @f alone is shuffled among each user's
 * candidates (permutation importance, Breiman 2001): what the ranker owes to the feature.
 */
static void importances(hd_model *m, struct vuser *vu, int32_t b, int32_t e, tt_rng *rng)
{
    double base, rec;
    int64_t total = 0, o;
    float *keep;

    for (int32_t i = b; i < e; i++)
        total += vu[i].n;
    keep = tt_malloc(((size_t)total + 1) * sizeof(float));
    evaluate(m, vu, b, e, -1, false, &base, &rec);
    for (int f = 0; f < F; f++) {
        double nd;
        o = 0;
        for (int32_t i = b; i < e; i++) {
            for (int32_t j = 0; j < vu[i].n; j++)
                keep[o + j] = vu[i].x[(size_t)j * F + f];
            for (int32_t j = vu[i].n - 1; j > 0; j--) {
                int32_t r = (int32_t)tt_rng_below(rng, (uint64_t)j + 1);
                float t = vu[i].x[(size_t)j * F + f];
                vu[i].x[(size_t)j * F + f] = vu[i].x[(size_t)r * F + f];
                vu[i].x[(size_t)r * F + f] = t;
            }
            o += vu[i].n;
        }
        evaluate(m, vu, b, e, -1, false, &nd, &rec);
        m->fit.importance[f] = base - nd;
        o = 0;
        for (int32_t i = b; i < e; o += vu[i].n, i++)
            for (int32_t j = 0; j < vu[i].n; j++)
                vu[i].x[(size_t)j * F + f] = keep[o + j];
    }
    free(keep);
}

/* Each track's age: log(1 + days from its first training event to the newest one). */
static float *track_ages(const tt_train_set *ts)
{
    const tt_dataset *ds = ts->ds;
    int32_t nt = ts->conf.cols;
    int64_t *first = tt_malloc(((size_t)nt + 1) * sizeof(int64_t));
    float *age = tt_malloc(((size_t)nt + 1) * sizeof(float));

    for (int32_t t = 0; t < nt; t++)
        first[t] = INT64_MAX;
    for (int64_t i = 0; i < ds->n_events; i++) {
        int32_t t = ds->ev_track[i];
        if ((!ts->mask || ts->mask[i]) && t >= 0 && t < nt && tt_dataset_event_time(ds, i) < first[t])
            first[t] = tt_dataset_event_time(ds, i);
    }
    for (int32_t t = 0; t < nt; t++)
        age[t] = first[t] == INT64_MAX || ts->now < first[t]
                     ? 0.0f
                     : (float)log1p((double)(ts->now - first[t]) / 86400.0);
    free(first);
    return age;
}

static hd_model *hd_new(const tt_train_set *ts, const tt_hd_params *p)
{
    const tt_dataset *ds = ts->ds;
    hd_model *m = tt_calloc(1, sizeof(*m));
    int32_t nt = ts->conf.cols;

    m->base.ops = &hd_ops;
    snprintf(m->base.name, sizeof(m->base.name), "hybrid_deep");
    m->base.catalog = tt_catalog_checksum(ds);
    m->base.n_users = ts->conf.rows;
    m->base.n_tracks = nt;
    m->base.trained_at = tt_unix_time();
    m->p = *p;
    m->n_artists = tt_dataset_n_artists(ds);
    m->n_genres = tt_dataset_n_genres(ds);
    m->owned_meta = tt_malloc(((size_t)nt * 2 + 1) * sizeof(int32_t));
    for (int32_t t = 0; t < nt; t++) {
        bool has_genre = ds->track_genre_ptr && ds->track_genre_ptr[t + 1] > ds->track_genre_ptr[t];
        m->owned_meta[t] = ds->track_artist ? ds->track_artist[t] : -1;
        m->owned_meta[nt + t] = has_genre ? ds->track_genre[ds->track_genre_ptr[t]] : -1;
    }
    m->track_artist = m->owned_meta;
    m->track_genre = m->owned_meta + nt;
    m->owned_age = track_ages(ts);
    m->track_age = m->owned_age;
    for (int j = 0; j < F; j++)
        m->sd[j] = 1.0f;
    return m;
}

static int train_part(const char *name, const tt_train_set *ts, const tt_model_opts *o,
                      tt_model **out, tt_err *err)
{
    int rc = tt_models_train(name, ts, o, out, err);

    if (rc == TT_ESTATE && strcmp(name, "als") != 0 && strcmp(name, "popularity") != 0 &&
        strcmp(name, "trending") != 0) {
        tt_err_clear(err); /* no content, too little data: the feature is 0 */
        *out = NULL;
        return 0;
    }
    return rc;
}

/* Every part trained on @ts with @o (lists not precomputed: the ranker ranks). */
static int train_parts(const tt_train_set *ts, const tt_model_opts *o,
                       tt_model *part[TT_HD_PARTS], tt_err *err)
{
    tt_model_opts po = *o;
    int rc = 0;

    for (int i = 0; rc == 0 && i < TT_HD_PARTS; i++)
        rc = train_part(tt_hd_part_names[i], ts, &po, &part[i], err);
    return rc;
}

static void free_parts(tt_model *part[TT_HD_PARTS])
{
    for (int i = 0; i < TT_HD_PARTS; i++) {
        tt_model_free(part[i]);
        part[i] = NULL;
    }
}

/*
 * The new-release bonus: from -4 to 8 by 0.25, the one with the best NDCG@k over every
 * held-out positive of the test users [b, e) among those that cost the played tracks' NDCG
 * at most the share @cost (against new releases ranked last); ties to the lowest.
 */
static void search_bonus(hd_model *m, const struct vuser *vu, int32_t b, int32_t e, double cost)
{
    double known0, best = -1, nd, kn, rec;
    float pick = -1e6f;

    m->new_bonus = -1e6f;
    evaluate(m, vu, b, e, -1, true, &known0, &rec);
    for (float x = -4.0f; x <= 8.0f; x += 0.25f) {
        m->new_bonus = x;
        evaluate(m, vu, b, e, -1, true, &kn, &rec);
        if (kn < (1.0 - cost) * known0)
            continue;
        evaluate(m, vu, b, e, -1, false, &nd, &rec);
        if (nd > best) {
            best = nd;
            pick = x;
        }
    }
    m->new_bonus = pick;
}

/* Learns the network on the validation split of @ts (parts trained on its rest). */
static int learn(hd_model *m, const tt_train_set *ts, const tt_model_opts *o, tt_err *err)
{
    tt_hybrid_params sp = m->p.split;
    tt_model *part[TT_HD_PARTS] = {0};
    struct vuser *vu = NULL;
    tt__validation v;
    tt_rng rng;
    float *full_age;
    double rec;
    int32_t n_train;
    int rc;

    sp.seed = o->seed;
    tt__validation_build(ts, &sp, &v);
    if (v.n_users < 10) {
        tt__validation_release(&v);
        return tt_err_set(err, TT_ESTATE, "hybrid_deep: too few listeners with %d positive "
                                          "tracks to learn a ranker on", sp.min_positives);
    }
    /* the split's own ages: a track held out whole is as new as a new release */
    full_age = m->owned_age;
    m->owned_age = track_ages(&v.sub);
    m->track_age = m->owned_age;
    rc = train_parts(&v.sub, o, part, err);
    if (rc == 0)
        rc = attach(m, part, err);
    if (rc == 0) {
        struct gather g = {m, &v, tt_calloc((size_t)v.n_users, sizeof(struct vuser))};
        struct rows r;
        vu = g.out;
        m->hist = csr_history;
        m->hist_ctx = &v.sub.conf;
        tt__blas_single_threaded();
        tt_parallel_for(v.n_users, 8, o->threads, gather_range, &g);
        /* The users come in ascending id order; a seeded shuffle picks the test fifth. */
        tt_rng_seed(&rng, o->seed, 0x6864);
        for (int32_t i = v.n_users - 1; i > 0; i--) {
            int32_t j = (int32_t)tt_rng_below(&rng, (uint64_t)i + 1);
            struct vuser t = vu[i];
            vu[i] = vu[j];
            vu[j] = t;
        }
        n_train = v.n_users - v.n_users / 5;
        build_rows(m, vu, n_train, &r);
        fit_net(m, &r, &rng);
        free(r.X);
        free(r.y);
        free(r.seg);
        search_bonus(m, vu, n_train, v.n_users, sp.new_cost);
        evaluate(m, vu, n_train, v.n_users, -1, false, &m->fit.ndcg, &m->fit.recall);
        evaluate(m, vu, n_train, v.n_users, -1, true, &m->fit.known_ndcg, &rec);
        evaluate(m, vu, n_train, v.n_users, TT_HD_ALS, false, &m->fit.als_ndcg,
                 &m->fit.als_recall);
        evaluate(m, vu, n_train, v.n_users, TT_HD_ALS, true, &m->fit.als_known_ndcg, &rec);
        m->fit.new_bonus = m->new_bonus;
        importances(m, vu, n_train, v.n_users, &rng);
        m->fit.train_users = n_train;
        m->fit.test_users = v.n_users - n_train;
        m->fit.pairs = v.held.nnz;
        m->fit.k = sp.k;
    }
    for (int32_t i = 0; vu && i < v.n_users; i++) {
        free(vu[i].x);
        free(vu[i].rel);
    }
    free(vu);
    if (m->attached)
        tt__hybrid_set_release(&m->set);
    m->attached = false;
    m->hist = NULL; /* the split's positives go now */
    m->hist_ctx = NULL;
    free(m->owned_age);
    m->owned_age = full_age;
    m->track_age = full_age;
    free_parts(part);
    tt__validation_release(&v);
    return rc;
}

int tt_hd_learn(const tt_train_set *ts, const tt_hd_params *p, const struct tt_model_opts *o,
                tt_model **out, tt_err *err)
{
    hd_model *m = hd_new(ts, p);
    double t0 = tt_now();
    int rc = learn(m, ts, o, err);

    if (rc < 0) {
        hd_ops.free(&m->base);
        return rc;
    }
    m->base.train_seconds = tt_now() - t0;
    *out = &m->base;
    return 0;
}

int tt_hd_train(const tt_train_set *ts, const tt_hd_params *p, const struct tt_model_opts *o,
                tt_model **out, tt_err *err)
{
    hd_model *m = hd_new(ts, p);
    tt_model *part[TT_HD_PARTS] = {0};
    double t0 = tt_now();
    int rc = learn(m, ts, o, err);

    if (rc == 0)
        rc = train_parts(ts, o, part, err);
    if (rc == 0)
        rc = attach(m, part, err);
    if (rc < 0) {
        free_parts(part);
        hd_ops.free(&m->base);
        return rc;
    }
    m->owns_parts = true;
    m->hist = csr_history;
    m->hist_ctx = &ts->conf;
    m->base.train_seconds = tt_now() - t0;
    *out = &m->base;
    return 0;
}

/* ---- files ---- */

#define HF(name, type, member, ...) {name, type, TT_MF_AT(hd_model, member), __VA_ARGS__}

static const tt_mfield hd_fields[] = {
    HF("candidates", TT_MF_I32, p.split.candidates, .lo = 1, .hi = 100000),
    HF("k", TT_MF_I32, p.split.k, .lo = 1, .hi = 100000),
    HF("epochs", TT_MF_I32, p.epochs, .lo = 1, .hi = 1e6),
    HF("lr", TT_MF_F32, p.lr, .lo = 0, .hi = 10),
    HF("b2", TT_MF_F32, b2, .lo = -1e6, .hi = 1e6),
    HF("new_bonus", TT_MF_F32, new_bonus, .lo = -1e7, .hi = 1e6),
    HF("validation_known_ndcg", TT_MF_F64, fit.known_ndcg, .lo = 0, .hi = 1),
    HF("validation_als_known_ndcg", TT_MF_F64, fit.als_known_ndcg, .lo = 0, .hi = 1),
    HF("validation_ndcg", TT_MF_F64, fit.ndcg, .lo = 0, .hi = 1),
    HF("validation_recall", TT_MF_F64, fit.recall, .lo = 0, .hi = 1),
    HF("validation_als_ndcg", TT_MF_F64, fit.als_ndcg, .lo = 0, .hi = 1),
    HF("validation_als_recall", TT_MF_F64, fit.als_recall, .lo = 0, .hi = 1),
    HF("train_users", TT_MF_I32, fit.train_users, .lo = 0, .hi = INT32_MAX),
    HF("test_users", TT_MF_I32, fit.test_users, .lo = 0, .hi = INT32_MAX),
    HF("pairs", TT_MF_I64, fit.pairs, .lo = 0, .hi = 1e18),
    HF("fit_k", TT_MF_I32, fit.k, .lo = 0, .hi = 100000),
    HF("n_artists", TT_MF_I32, n_artists, .lo = 0, .hi = INT32_MAX),
    HF("n_genres", TT_MF_I32, n_genres, .lo = 0, .hi = INT32_MAX),
    TT_MODEL_MFIELDS(hd_model, base),
};
#define N_HD_FIELDS ((int)(sizeof(hd_fields) / sizeof(hd_fields[0])))

static int hd_save(const tt_model *mm, const char *path, tt_err *err)
{
    const hd_model *m = hdm(mm);
    float net[H * F + H + H + 2 * F], imp[F];
    int32_t nt = mm->n_tracks;
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "hybrid_deep", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    memcpy(net, m->w1, sizeof(m->w1));
    memcpy(net + H * F, m->b1, sizeof(m->b1));
    memcpy(net + H * F + H, m->w2, sizeof(m->w2));
    memcpy(net + H * F + 2 * H, m->mean, sizeof(m->mean));
    memcpy(net + H * F + 2 * H + F, m->sd, sizeof(m->sd));
    for (int j = 0; j < F; j++)
        imp[j] = (float)m->fit.importance[j];
    rc = tt_mfile_put_meta(w, hd_fields, N_HD_FIELDS, m, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "net", TT_DT_F32, 1, H * F + 2 * H + 2 * F, net, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "importance", TT_DT_F32, 1, F, imp, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_artist", TT_DT_I32, nt, 1, m->track_artist, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_genre", TT_DT_I32, nt, 1, m->track_genre, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_age", TT_DT_F32, nt, 1, m->track_age, err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "features", tt_hd_feature_names, F, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

static int load_ids(tt_mfile *f, const char *name, int32_t n, int32_t bound, const int32_t **out,
                    tt_err *err)
{
    int64_t rows = n, cols = 1;
    const void *p;
    int rc = tt_mfile_get(f, name, TT_DT_I32, &rows, &cols, &p, err);

    if (rc < 0)
        return rc;
    *out = p;
    for (int32_t t = 0; t < n; t++)
        if ((*out)[t] < -1 || (*out)[t] >= bound)
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad %s",
                              tt_mfile_path(f), name);
    return 0;
}

static int load_net(hd_model *m, tt_mfile *f, tt_err *err)
{
    int64_t rows = 1, cols = H * F + 2 * H + 2 * F, ci = F;
    const void *p, *q;
    const char *names[F];
    int rc = tt_mfile_get(f, "net", TT_DT_F32, &rows, &cols, &p, err);

    if (rc == 0)
        rc = tt_mfile_get(f, "importance", TT_DT_F32, &rows, &ci, &q, err);
    if (rc == 0)
        rc = tt_mfile_strings(f, "features", F, names, err);
    if (rc < 0)
        return rc;
    for (int j = 0; j < F; j++)
        if (strcmp(names[j], tt_hd_feature_names[j]) != 0)
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: feature %d is '%s', "
                                                "this engine computes '%s'",
                              tt_mfile_path(f), j, names[j], tt_hd_feature_names[j]);
    for (int64_t i = 0; i < cols; i++)
        if (!isfinite(((const float *)p)[i]))
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: non-finite weights",
                              tt_mfile_path(f));
    memcpy(m->w1, p, sizeof(m->w1));
    memcpy(m->b1, (const float *)p + H * F, sizeof(m->b1));
    memcpy(m->w2, (const float *)p + H * F + H, sizeof(m->w2));
    memcpy(m->mean, (const float *)p + H * F + 2 * H, sizeof(m->mean));
    memcpy(m->sd, (const float *)p + H * F + 2 * H + F, sizeof(m->sd));
    for (int j = 0; j < F; j++) {
        m->fit.importance[j] = ((const float *)q)[j];
        if (!(m->sd[j] > 0))
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad feature scale",
                              tt_mfile_path(f));
    }
    return 0;
}

static int load_ages(tt_mfile *f, hd_model *m, tt_err *err)
{
    int64_t rows = m->base.n_tracks, cols = 1;
    const void *p;
    int rc = tt_mfile_get(f, "track_age", TT_DT_F32, &rows, &cols, &p, err);

    if (rc < 0)
        return rc;
    m->track_age = p;
    for (int32_t t = 0; t < m->base.n_tracks; t++)
        if (!(m->track_age[t] >= 0.0f && m->track_age[t] < 100.0f))
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad track_age",
                              tt_mfile_path(f));
    return 0;
}

int tt__hybrid_deep_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    hd_model *m = tt_calloc(1, sizeof(*m));
    int rc;

    m->base.ops = &hd_ops;
    m->p = tt_hd_params_default();
    rc = tt_mfile_get_meta(f, hd_fields, N_HD_FIELDS, m, err);
    if (rc == 0)
        rc = load_net(m, f, err);
    if (rc == 0)
        rc = load_ids(f, "track_artist", m->base.n_tracks, m->n_artists, &m->track_artist, err);
    if (rc == 0)
        rc = load_ids(f, "track_genre", m->base.n_tracks, m->n_genres, &m->track_genre, err);
    if (rc == 0)
        rc = load_ages(f, m, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    snprintf(m->base.name, sizeof(m->base.name), "hybrid_deep");
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    *out = &m->base;
    return 0;
}

static void hd_free(tt_model *mm)
{
    hd_model *m = hdm(mm);

    if (!m)
        return;
    if (m->attached)
        tt__hybrid_set_release(&m->set);
    if (m->owns_parts)
        free_parts(m->part);
    free(m->owned_meta);
    free(m->owned_age);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops hd_ops = {
    .kind = "hybrid_deep",
    .recommend = hd_recommend,
    .save = hd_save,
    .free = hd_free,
};
