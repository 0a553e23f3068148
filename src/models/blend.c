/*
 * The free tier's blend of ALS and EASE (tt/blend.h).
 *
 * Why blend at all: ALS ranks by a low-rank summary of everything a listener played, EASE by
 * the co-listening of each track they played; on play-count data the first is better at
 * breadth and the second at the obvious neighbours, and a listener's held-out tracks are a
 * mix of both. Why z-scores: an ALS dot product and an EASE row sum live on unrelated scales
 * that also drift from one listener to the next, so one weight only means something once each
 * part's scores are centred and scaled over the very candidates being ranked (as in the
 * hybrid model). Why one weight learned on validation rather than a constant: which part is
 * stronger depends on the data (play counts or bare plays, dense or sparse listeners), and the
 * free tier trains on whatever the customer has. Why a popularity term: both parts rank the
 * catalog's most played tracks high for nearly everyone (ALS's low-rank fit and EASE's
 * co-listening counts both grow with a track's listeners), while the tracks a listener goes
 * on to play are drawn from their own, less popular, tail as much as from the hits. How much
 * to lean against (or towards) popularity differs between data sets as much as the ALS
 * weight does, so it is learned the same way (docs/models.md).
 */
#include "hybrid_priv.h"
#include "tt/blend.h"
#include "tt/core.h"
#include "tt/ease.h"
#include "tt/kernels.h"
#include "tt/models.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The first two moments of an ALS model's track vectors: with them a listener's mean and
 * standard deviation of x.y over the whole catalog are x.mean and sqrt(x' cov x), O(k^2).
 */
struct moments {
    int k;
    double *mean; /* k */
    double *cov;  /* k x k */
};

typedef struct blend_model {
    tt_model base;
    tt_blend_params p;
    tt_blend_fit fit;
    tt_model *als, *ease; /* attached parts */
    struct moments mo;    /* of als */
    const float *pop;     /* n_pop tracks' popularity z-scores (the file's or @pop_own) */
    float *pop_own;
    int32_t n_pop;
    bool owns_parts;
    tt_mfile *file;
} blend_model;

static const struct tt_model_ops blend_ops;

static blend_model *bm(const tt_model *m)
{
    return m && m->ops == &blend_ops ? (blend_model *)(uintptr_t)m : NULL;
}

tt_blend_params tt_blend_params_default(void)
{
    tt_blend_params p;

    memset(&p, 0, sizeof(p));
    /*
     * Small, as the tuner's folds (src/pipeline/tune.c): the weights are then learned on
     * parts trained on nearly as much as the served ones, where the parts' relative strength
     * is theirs (20% moved Last.fm's play counts from 0.2985 to 0.2973 recall@20, the
     * generated sparse set from 0.2371 to 0.2350 NDCG@20; docs/models.md).
     */
    p.validation = 0.1;
    p.min_positives = 5;
    p.max_users = 5000;
    p.candidates = 100;
    p.k = 20;
    p.step = 0.05;
    p.folds = 3;
    p.popularity = true;
    p.seed = 42;
    return p;
}

static int check_params(const tt_blend_params *p, tt_err *err)
{
    if (!(p->validation > 0.0 && p->validation < 1.0))
        return tt_err_set_field(err, TT_EINVAL, "validation", "validation share must be in (0, 1)");
    if (p->min_positives < 2 || p->max_users < 1 || p->candidates < 1 || p->k < 1)
        return tt_err_set(err, TT_EINVAL, "blend: min_positives >= 2, max_users, candidates "
                                          "and k >= 1 are required");
    if (p->folds < 1 || p->folds > 8)
        return tt_err_set_field(err, TT_EINVAL, "folds", "folds must be in [1, 8]");
    if (!(p->step >= 0.01 && p->step <= 0.5))
        return tt_err_set_field(err, TT_EINVAL, "step", "step must be in [0.01, 0.5]");
    return 0;
}

static blend_model *model_new(void)
{
    blend_model *m = tt_calloc(1, sizeof(*m));

    m->base.ops = &blend_ops;
    snprintf(m->base.name, sizeof(m->base.name), "blend");
    return m;
}

/* ---- candidates and their scores ---- */

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * The union of both parts' top @n_each for @q (each honours the query's exclusions and
 * allow mask), ascending without duplicates, into *out (malloc'd, freed by the caller even
 * when 0 is returned). A part that cannot rank for the listener adds nothing.
 */
static int32_t candidates(tt_model *als, tt_model *ease, const tt_query *q, int n_each,
                          int32_t **out, tt_err *err)
{
    tt_model *part[2] = {als, ease};
    tt_scored *buf = tt_malloc((size_t)n_each * sizeof(tt_scored) + 1);
    int32_t *c = tt_malloc((size_t)2 * n_each * sizeof(int32_t) + 4), n = 0, w = 0;

    *out = c;
    for (int s = 0; s < 2; s++) {
        int got = 0, rc = tt_model_recommend(part[s], q, n_each, buf, &got, err);
        if (rc == TT_ENOTFOUND || rc == TT_ESTATE) {
            tt_err_clear(err);
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

static void moments_of(const tt_model *als, struct moments *mo)
{
    const float *inv_norm;
    const float *Y = tt_als_track_factors(als, &mo->k, &inv_norm);

    mo->mean = tt_malloc((size_t)mo->k * sizeof(double));
    mo->cov = tt_malloc((size_t)mo->k * mo->k * sizeof(double));
    tt_row_moments(Y, als->n_tracks, mo->k, NULL, mo->mean, mo->cov);
}

static void moments_release(struct moments *mo)
{
    free(mo->mean);
    free(mo->cov);
    memset(mo, 0, sizeof(*mo));
}

/* @v (@n entries, stride 2) as z-scores in place against @mean and @sd (0 when sd is 0). */
static void zscore(float *v, int32_t n, double mean, double sd)
{
    for (int32_t i = 0; i < n; i++)
        v[2 * i] = sd > 1e-12 ? (float)((v[2 * i] - mean) / sd) : 0.0f;
}

/*
 * Each track's popularity as a z-score of log(1 + listeners) over the tracks with listeners
 * in @ts, into @z (ts->conf.cols). A track nobody played counts as played once: the term
 * must not lift tracks the parts know nothing of above those they do.
 */
static void popularity_of(const tt_train_set *ts, float *z)
{
    int32_t n = ts->conf.cols, played = 0;
    double sum = 0.0, sq = 0.0, sd;

    memset(z, 0, (size_t)n * sizeof(float));
    for (int64_t e = 0; e < ts->conf.nnz; e++)
        if (ts->conf.data[e] > 0.0f)
            z[ts->conf.indices[e]] += 1.0f;
    for (int32_t t = 0; t < n; t++) {
        double v = log1p(z[t] > 1.0f ? z[t] : 1.0f);
        if (z[t] > 0.0f) {
            sum += v;
            sq += v * v;
            played++;
        }
        z[t] = (float)v;
    }
    if (played == 0)
        return;
    sum /= played;
    sd = sqrt(fmax(sq / played - sum * sum, 0.0));
    for (int32_t t = 0; t < n; t++)
        z[t] = sd > 1e-12 ? (float)((z[t] - sum) / sd) : 0.0f;
}

static float pop_at(const float *pop, int32_t n_pop, int32_t t)
{
    return pop && t >= 0 && t < n_pop ? pop[t] : 0.0f;
}

/*
 * ALS's raw score of each candidate into z[2i], and the listener's mean and standard
 * deviation over the whole catalog into @m: 0 everywhere when ALS cannot place @q.
 */
static int als_scores(tt_model *als, const struct moments *mo, const tt_query *q,
                      const int32_t *c, int32_t n, float *z, double m[2], tt_err *err)
{
    int k = tt_als_factors(als);
    float xbuf[1024];
    const float *x = NULL;
    int rc;

    m[0] = m[1] = 0.0;

    if (q->n_hist > 0 && k <= 1024) {
        if ((rc = tt_als_fold_in(als, q->hist, q->hist_conf, q->n_hist, xbuf, err)) < 0)
            return rc;
        x = xbuf;
    } else if (q->n_hist == 0) {
        x = tt_als_user_vector(als, q->user);
    }
    for (int32_t i = 0; i < n; i++) {
        const float *y = x ? tt_als_track_vector(als, c[i]) : NULL;
        z[2 * i] = y ? dot(x, y, k) : 0.0f;
    }
    if (x && mo->k == k) {
        double var = 0.0;
        for (int a = 0; a < k; a++) {
            double r = 0.0;
            m[0] += x[a] * mo->mean[a];
            for (int b = 0; b < k; b++)
                r += mo->cov[(size_t)a * k + b] * x[b];
            var += x[a] * r;
        }
        m[1] = sqrt(fmax(var, 0.0));
    }
    return 0;
}

/*
 * The z-scored (ALS, EASE) pair of each of the @n candidates @c of @q into @z (n x 2).
 * Each part's scores are centred and scaled by the listener's mean and deviation over the
 * whole catalog, not over the candidates: the candidates change with the request's
 * exclusions and length, and a listener's ranking must not (excluding a track moves the
 * rest up, it does not reorder them).
 */
static int features(tt_model *als, const struct moments *mo, tt_model *ease, const tt_query *q,
                    const int32_t *c, int32_t n, float *z, tt_err *err)
{
    float *e = tt_malloc((size_t)n * sizeof(float) + 4);
    double ma[2], me[2] = {0.0, 0.0};
    int rc = als_scores(als, mo, q, c, n, z, ma, err);

    if (rc == 0) {
        rc = tt_ease_score_tracks(ease, q, c, n, e, me, err);
        if (rc == TT_ENOTFOUND) { /* EASE does not know the listener: no opinion */
            tt_err_clear(err);
            memset(e, 0, (size_t)n * sizeof(float));
            me[0] = me[1] = 0.0;
            rc = 0;
        }
    }
    for (int32_t i = 0; rc == 0 && i < n; i++)
        z[2 * i + 1] = e[i];
    free(e);
    if (rc < 0)
        return rc;
    zscore(z, n, ma[0], ma[1]);
    zscore(z + 1, n, me[0], me[1]);
    return 0;
}

/* ---- serving ---- */

static int blend_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out,
                           int *n_out, tt_err *err)
{
    const blend_model *m = bm(mm);
    int32_t *c = NULL, n;
    float *z = NULL, w = m->fit.w_als, wp = m->fit.w_pop;
    tt_topk top;
    int rc = 0;

    *n_out = 0;
    if (!m->als || !m->ease)
        return tt_err_set(err, TT_ESTATE, "blend: its ALS and EASE parts are not loaded");
    n = candidates(m->als, m->ease, q, m->p.candidates > k ? m->p.candidates : k, &c, err);
    if (n < 0)
        rc = n;
    if (n > 0) {
        z = tt_malloc((size_t)n * 2 * sizeof(float));
        rc = features(m->als, &m->mo, m->ease, q, c, n, z, err);
    }
    if (rc == 0 && n > 0) {
        tt_topk_init(&top, out, k);
        for (int32_t i = 0; i < n; i++)
            tt_topk_push(&top, c[i], w * z[2 * i] + (1.0f - w) * z[2 * i + 1] +
                                         wp * pop_at(m->pop, m->n_pop, c[i]));
        *n_out = tt_topk_finish(&top);
    }
    free(c);
    free(z);
    return rc;
}

static bool blend_knows_user(const tt_model *mm, int32_t u)
{
    const blend_model *m = bm(mm);
    const tt_model *p[2] = {m->als, m->ease};

    for (int i = 0; i < 2; i++)
        if (p[i] && (!p[i]->ops->knows_user || p[i]->ops->knows_user(p[i], u)))
            return true;
    return false;
}

/* Similar tracks are ALS's: the blend's weight was learned for listeners, not tracks. */
static int blend_similar(const tt_model *mm, int32_t track, int k, tt_scored *out, int *n_out,
                         tt_err *err)
{
    const blend_model *m = bm(mm);

    if (!m->als)
        return tt_err_set(err, TT_ESTATE, "blend: its ALS part is not loaded");
    return tt_model_similar(m->als, track, k, out, n_out, err);
}

int tt_blend_attach(tt_model *mm, tt_model *als, tt_model *ease, bool take, tt_err *err)
{
    blend_model *m = bm(mm);

    if (!m)
        return tt_err_set(err, TT_EINVAL, "not a blend model");
    if (!als || !ease || strcmp(als->ops->kind, "als") != 0 ||
        strcmp(ease->ops->kind, "ease") != 0)
        return tt_err_set(err, TT_EINVAL, "blend: needs an ALS and an EASE part");
    if (als->catalog != mm->catalog || ease->catalog != mm->catalog)
        return tt_err_set(err, TT_EINVAL, "blend: its parts were trained on another catalog");
    m->als = als;
    m->ease = ease;
    m->owns_parts = take;
    moments_release(&m->mo);
    moments_of(als, &m->mo);
    return 0;
}

bool tt_blend_fit_of(const tt_model *mm, tt_blend_fit *fit)
{
    const blend_model *m = bm(mm);

    if (!m)
        return false;
    *fit = m->fit;
    return true;
}

/* ---- learning the weight ---- */

static double idcg_of(int32_t n_rel, int k)
{
    double idcg = 0.0;

    for (int r = 0; r < n_rel && r < k; r++)
        idcg += 1.0 / log2(r + 2.0);
    return idcg;
}

/* The users a search or a score looks at: all, only group @g of CV_GROUPS, or all but it. */
#define CV_GROUPS 3
enum { ALL_USERS, ONLY_GROUP, BUT_GROUP };
struct subset {
    int mode, g;
};

static bool in_subset(struct subset s, int32_t u)
{
    return s.mode == ALL_USERS || ((u % CV_GROUPS == s.g) == (s.mode == ONLY_GROUP));
}

/*
 * Mean NDCG@k and recall@k over @users in @s with ALS weight @w and popularity weight @wp;
 * returns how many counted. Only the held-out candidates' ranks matter, so each is ranked by
 * counting the candidates above it (ties: the earlier first) instead of sorting: a user has
 * a handful of held-out candidates among a few hundred. @buf holds the largest n_cand.
 */
static int32_t eval_weight(const tt_blend_vuser *users, int32_t n, struct subset s, int k,
                           float w, float wp, float *buf, double *ndcg, double *recall)
{
    double sn = 0.0, sr = 0.0;
    int32_t cnt = 0;

    for (int32_t u = 0; u < n; u++) {
        const tt_blend_vuser *v = &users[u];
        double dcg = 0.0;
        int hits = 0;
        if (v->n_rel == 0 || !in_subset(s, u))
            continue;
        cnt++;
        for (int32_t j = 0; j < v->n_cand; j++)
            buf[j] = w * v->z[2 * j] + (1.0f - w) * v->z[2 * j + 1] +
                     (v->pop ? wp * v->pop[j] : 0.0f);
        for (int32_t j = 0; j < v->n_cand; j++) {
            int32_t rank = 0;
            if (!v->rel[j])
                continue;
            for (int32_t i = 0; i < v->n_cand && rank < k; i++)
                rank += buf[i] > buf[j] || (buf[i] == buf[j] && i < j);
            if (rank < k) {
                dcg += 1.0 / log2(rank + 2.0);
                hits++;
            }
        }
        sn += dcg / idcg_of(v->n_rel, k);
        sr += (double)hits / (v->n_rel < k ? v->n_rel : k);
    }
    *ndcg = cnt ? sn / cnt : 0.0;
    *recall = cnt ? sr / cnt : 0.0;
    return cnt;
}

/* The ALS weight of the grid of @step best over the users in @s at popularity weight @wp. */
static float search_w(const tt_blend_vuser *users, int32_t n, struct subset s, int k,
                      double step, float wp, float *buf, tt_blend_fit *fit, double *best_nd,
                      double *best_rec)
{
    int steps = (int)lround(1.0 / step);
    double best = -1.0;
    float best_w = 0.5f;

    for (int i = 0; i <= steps; i++) {
        float w = i == steps ? 1.0f : (float)(i * step);
        double nd, rec;
        eval_weight(users, n, s, k, w, wp, buf, &nd, &rec);
        if (wp == 0.0f && i == 0)
            fit->ease_ndcg = nd;
        if (wp == 0.0f && i == steps)
            fit->als_ndcg = nd;
        /* Ties go to the even blend: neither part is preferred without evidence. */
        if (nd > best + 1e-12 ||
            (fabs(nd - best) <= 1e-12 && fabsf(w - 0.5f) < fabsf(best_w - 0.5f))) {
            best = nd;
            *best_rec = rec;
            best_w = w;
        }
    }
    *best_nd = best;
    return best_w;
}

/*
 * The popularity weight best over the users in @s at ALS weight @w: every other point of its
 * grid, then the two between which the best lies (the figure moves smoothly with the weight,
 * and each point costs a ranking of every validation listener).
 */
static float search_pop(const tt_blend_vuser *users, int32_t n, struct subset s, int k,
                        float w, float *buf, double *best_nd, double *best_rec)
{
    int lo = (int)lround(TT_BLEND_POP_MIN / TT_BLEND_POP_STEP);
    int hi = (int)lround(TT_BLEND_POP_MAX / TT_BLEND_POP_STEP);
    int best_i = 0;
    double best = -1.0;

    for (int pass = 0; pass < 2; pass++) {
        int from = pass == 0 ? lo : best_i - 1, to = pass == 0 ? hi : best_i + 1;
        for (int i = from; i <= to; i++) {
            float wp = (float)(i * TT_BLEND_POP_STEP);
            double nd, rec;
            if (i < lo || i > hi || (pass == 0 && i % 2 != 0) || (pass == 1 && i == best_i))
                continue;
            eval_weight(users, n, s, k, w, wp, buf, &nd, &rec);
            /* Ties go to the weight nearer 0: no popularity term without evidence. */
            if (nd > best + 1e-12 || (fabs(nd - best) <= 1e-12 && abs(i) < abs(best_i))) {
                best = nd;
                *best_rec = rec;
                best_i = i;
            }
        }
    }
    *best_nd = best;
    return (float)(best_i * TT_BLEND_POP_STEP);
}

/* What a search found before it tried the popularity term: its first step. */
struct no_pop {
    float w;
    double recall;
};

/*
 * The weights best over the users in @s: the ALS weight without popularity, then (when
 * @pop) each weight in turn at the other's value until neither moves, three rounds at most
 * (the figure only rises; on the data sets measured the second round moved nothing).
 */

static void search(const tt_blend_vuser *users, int32_t n, struct subset s, int k, double step,
                   bool pop, float *buf, tt_blend_fit *fit, struct no_pop *np)
{
    double nd, rec, nd2, rec2;
    float w = search_w(users, n, s, k, step, 0.0f, buf, fit, &nd, &rec), wp = 0.0f;

    fit->ndcg_no_pop = nd;
    np->w = w;
    np->recall = rec;
    for (int round = 0; pop && round < 3; round++) {
        float p2 = search_pop(users, n, s, k, w, buf, &nd2, &rec2);
        if (!(nd2 > nd + 1e-12))
            break;
        wp = p2;
        nd = nd2;
        rec = rec2;
        float w2 = search_w(users, n, s, k, step, wp, buf, fit, &nd2, &rec2);
        if (!(nd2 > nd + 1e-12))
            break;
        w = w2;
        nd = nd2;
        rec = rec2;
    }
    fit->w_als = w;
    fit->w_pop = wp;
    fit->ndcg = nd;
    fit->recall = rec;
}

/*
 * Each group scored at the weight the other groups choose, pooled over the users: what the
 * blend's procedure, not its best weight in hindsight, is worth on users it did not see
 * (*cv). When @pop, also each group at the weight the same search found before it tried the
 * popularity term, with none (*cv_no_pop; else the same as *cv): the search without the term
 * is the first step of the one with it, so both come from one search per group. NAN when
 * there are too few users. (A listener validated in two folds is two entries, with
 * different held-out tracks, and can fall in two groups: a small correlation the figure
 * keeps.)
 */
static void cross_fitted(const tt_blend_vuser *users, int32_t n, int k, double step, bool pop,
                         float *buf, double *cv, double *cv_no_pop)
{
    double sum = 0.0, sum_no_pop = 0.0;
    int32_t cnt = 0;

    *cv = *cv_no_pop = NAN;
    if (n < 2 * CV_GROUPS)
        return;
    for (int g = 0; g < CV_GROUPS; g++) {
        struct subset only = {ONLY_GROUP, g};
        tt_blend_fit part = {0};
        struct no_pop np;
        double nd, rec;
        int32_t c;
        search(users, n, (struct subset){BUT_GROUP, g}, k, step, pop, buf, &part, &np);
        c = eval_weight(users, n, only, k, part.w_als, part.w_pop, buf, &nd, &rec);
        sum += nd * c;
        cnt += c;
        if (pop) {
            eval_weight(users, n, only, k, np.w, 0.0f, buf, &nd, &rec);
            sum_no_pop += nd * c;
        }
    }
    if (cnt) {
        *cv = sum / cnt;
        *cv_no_pop = pop ? sum_no_pop / cnt : *cv;
    }
}

void tt_blend_search(const tt_blend_vuser *users, int32_t n, int k, double step, bool pop,
                     tt_blend_fit *fit)
{
    int32_t most = 1;
    struct no_pop np;
    float *buf;

    for (int32_t u = 0; u < n; u++)
        if (users[u].n_cand > most)
            most = users[u].n_cand;
    buf = tt_malloc((size_t)most * sizeof(float));
    search(users, n, (struct subset){ALL_USERS, 0}, k, step, pop, buf, fit, &np);
    cross_fitted(users, n, k, step, pop, buf, &fit->cv_ndcg, &fit->cv_ndcg_no_pop);
    if (pop && fit->w_pop != 0.0f && !(fit->cv_ndcg > fit->cv_ndcg_no_pop)) {
        /*
         * Searching the popularity weight too did not pay on listeners it was not chosen
         * on: its gain here was the search's luck, so the term is left out, and the weight
         * is the one the search found before it tried the term.
         */
        fit->w_als = np.w;
        fit->w_pop = 0.0f;
        fit->ndcg = fit->ndcg_no_pop;
        fit->recall = np.recall;
        fit->cv_ndcg = fit->cv_ndcg_no_pop;
    }
    fit->k = k;
    free(buf);
}

struct gather {
    tt_model *als, *ease;
    const struct moments *mo;
    const float *pop; /* the fold's popularity z-scores, per track */
    const tt__validation *v;
    const tt_blend_params *p;
    tt_blend_vuser *out;
};

/* One user's candidates, z-scores and relevance; an error leaves the user empty (NDCG 0). */
static void gather_range(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct gather *g = ctx;

    (void)thread;
    for (int64_t i = b; i < e; i++) {
        tt_blend_vuser *o = &g->out[i];
        int32_t *c = NULL, n, n_new;
        tt_err err = {0};
        tt_query q = tt__validation_query(g->v, g->v->users[i], &o->n_rel, &n_new);
        n = candidates(g->als, g->ease, &q, g->p->candidates, &c, &err);
        if (n > 0) {
            o->z = tt_malloc((size_t)n * 2 * sizeof(float));
            o->pop = tt_malloc((size_t)n * sizeof(float));
            o->rel = tt_malloc((size_t)n);
            if (features(g->als, g->mo, g->ease, &q, c, n, o->z, &err) < 0)
                n = 0;
            for (int32_t j = 0; j < n; j++)
                o->pop[j] = g->pop[c[j]];
            tt__validation_mark(g->v, g->v->users[i], c, n, o->rel);
        }
        o->n_cand = n > 0 ? n : 0;
        free(c);
    }
}

/* Fold @fold's validation split (the hybrid model's, without tracks held out whole). */
static void split_of(const tt_train_set *ts, const tt_blend_params *p, int fold,
                     tt__validation *v)
{
    tt_hybrid_params hp = tt_hybrid_params_default();

    hp.validation = p->validation;
    hp.new_share = 0.0;
    hp.min_positives = p->min_positives;
    hp.max_users = p->max_users;
    hp.seed = p->seed + (uint64_t)fold * 0x9E3779B97F4A7C15ull;
    tt__validation_build(ts, &hp, v);
}

/*
 * Fills @out (v->n_users entries) with each validation user's candidates, z-scores and
 * popularity on the fold's training part.
 */
static void gather_parts(tt_model *als, tt_model *ease, const tt__validation *v,
                         const tt_blend_params *p, int threads, tt_blend_vuser *out)
{
    struct moments mo;
    float *pop = tt_malloc((size_t)v->sub.conf.cols * sizeof(float) + 4);
    struct gather g = {als, ease, &mo, pop, v, p, out};

    moments_of(als, &mo);
    popularity_of(&v->sub, pop);
    tt__blas_single_threaded();
    tt_parallel_for(v->n_users, 8, threads, gather_range, &g);
    moments_release(&mo);
    free(pop);
}

/*
 * Past this many tracks in EASE the blend validates on one split: each further fold costs
 * a whole EASE solve, O(n^3) (about 10 s at 8,000 tracks, minutes at 20,000).
 */
#define FOLD_MAX_TRACKS 8000

/*
 * One fold: its split, its parts trained on the rest, its users appended to @all; *@big
 * is set when EASE is past FOLD_MAX_TRACKS.
 */
static int fold_users(const tt_train_set *ts, const tt_blend_params *p, const tt_model_opts *po,
                      int fold, tt_blend_vuser **all, int32_t *n_all, tt_blend_fit *fit,
                      bool *big, tt_err *err)
{
    tt_model *als = NULL, *ease = NULL;
    tt__validation v;
    int rc;

    split_of(ts, p, fold, &v);
    if (v.n_users == 0) {
        tt__validation_release(&v);
        return tt_err_set(err, TT_ESTATE, "blend: no listener has %d positive tracks to "
                                          "validate the blend on", p->min_positives);
    }
    rc = tt_models_train("als", &v.sub, po, &als, err);
    if (rc == 0)
        rc = tt_models_train("ease", &v.sub, po, &ease, err);
    if (rc == 0) {
        *all = tt_realloc(*all, ((size_t)*n_all + v.n_users) * sizeof(**all));
        memset(*all + *n_all, 0, (size_t)v.n_users * sizeof(**all));
        gather_parts(als, ease, &v, p, po->threads, *all + *n_all);
        *n_all += v.n_users;
        *big = tt_ease_tracks(ease) > FOLD_MAX_TRACKS;
        fit->folds++;
        fit->users += v.n_users;
        fit->pairs += v.held.nnz;
    }
    tt_model_free(als);
    tt_model_free(ease);
    tt__validation_release(&v);
    return rc;
}

int tt_blend_learn(const tt_train_set *ts, const tt_blend_params *p, const tt_model_opts *o,
                   tt_model **out, tt_err *err)
{
    tt_model_opts po = *o;
    tt_blend_vuser *all = NULL;
    tt_blend_fit fit = {0};
    int32_t n_all = 0;
    blend_model *m;
    double t0 = tt_now();
    bool big = false;
    int rc = check_params(p, err);

    if (rc < 0)
        return rc;
    po.als.precompute = 0;
    po.ease.precompute = 0;
    po.on_step = NULL;
    for (int f = 0; f < p->folds && rc == 0 && !big; f++)
        rc = fold_users(ts, p, &po, f, &all, &n_all, &fit, &big, err);
    if (rc == 0) {
        tt_blend_search(all, n_all, p->k, p->step, p->popularity, &fit);
        m = model_new();
        m->p = *p;
        m->n_pop = ts->conf.cols;
        m->pop_own = tt_malloc((size_t)m->n_pop * sizeof(float) + 4);
        popularity_of(ts, m->pop_own);
        m->pop = m->pop_own;
        m->p.folds = fit.folds;
        m->fit = fit;
        m->base.n_users = ts->conf.rows;
        m->base.n_tracks = ts->conf.cols;
        m->base.catalog = tt_catalog_checksum(ts->ds);
        m->base.trained_at = tt_unix_time();
        m->base.train_seconds = tt_now() - t0;
        *out = &m->base;
    }
    for (int32_t i = 0; i < n_all; i++) {
        free(all[i].z);
        free(all[i].pop);
        free(all[i].rel);
    }
    free(all);
    return rc;
}

/* ---- files ---- */

static const tt_mfield blend_fields[] = {
    {"w_als", TT_MF_F32, TT_MF_AT(blend_model, fit.w_als), .lo = 0, .hi = 1},
    {"w_pop", TT_MF_F32, TT_MF_AT(blend_model, fit.w_pop), .lo = TT_BLEND_POP_MIN,
     .hi = TT_BLEND_POP_MAX, .flags = TT_MF_OPTIONAL},
    {"ndcg_no_pop", TT_MF_F64, TT_MF_AT(blend_model, fit.ndcg_no_pop), .lo = 0, .hi = 1,
     .flags = TT_MF_OPTIONAL},
    {"candidates", TT_MF_I32, TT_MF_AT(blend_model, p.candidates), .lo = 1, .hi = 100000},
    {"validation", TT_MF_F64, TT_MF_AT(blend_model, p.validation), .lo = 0, .hi = 1},
    {"folds", TT_MF_I32, TT_MF_AT(blend_model, p.folds), .lo = 1, .hi = 8,
     .flags = TT_MF_OPTIONAL},
    {"ndcg", TT_MF_F64, TT_MF_AT(blend_model, fit.ndcg), .lo = 0, .hi = 1},
    {"recall", TT_MF_F64, TT_MF_AT(blend_model, fit.recall), .lo = 0, .hi = 1},
    {"als_ndcg", TT_MF_F64, TT_MF_AT(blend_model, fit.als_ndcg), .lo = 0, .hi = 1},
    {"ease_ndcg", TT_MF_F64, TT_MF_AT(blend_model, fit.ease_ndcg), .lo = 0, .hi = 1},
    {"cv_ndcg", TT_MF_F64, TT_MF_AT(blend_model, fit.cv_ndcg), .lo = 0, .hi = 1,
     .flags = TT_MF_OPTIONAL | TT_MF_NONFINITE},
    {"cv_ndcg_no_pop", TT_MF_F64, TT_MF_AT(blend_model, fit.cv_ndcg_no_pop), .lo = 0, .hi = 1,
     .flags = TT_MF_OPTIONAL | TT_MF_NONFINITE},
    {"users", TT_MF_I32, TT_MF_AT(blend_model, fit.users), .lo = 0, .hi = INT32_MAX},
    {"pairs", TT_MF_I64, TT_MF_AT(blend_model, fit.pairs), .lo = 0, .hi = (double)INT64_MAX},
    {"k", TT_MF_I32, TT_MF_AT(blend_model, fit.k), .lo = 1, .hi = 100000},
    TT_MODEL_MFIELDS(blend_model, base),
};
#define N_BLEND_FIELDS ((int)(sizeof(blend_fields) / sizeof(blend_fields[0])))

static int blend_save(const tt_model *mm, const char *path, tt_err *err)
{
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "blend", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, blend_fields, N_BLEND_FIELDS, bm(mm), err);
    if (rc == 0 && bm(mm)->pop)
        rc = tt_mfile_add(w, "popularity", TT_DT_F32, 1, bm(mm)->n_pop, bm(mm)->pop, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

int tt__blend_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    blend_model *m = model_new();
    int rc;

    m->p = tt_blend_params_default();
    m->p.folds = 1; /* a file without the field learned its weight on one split */
    m->fit.cv_ndcg = NAN;
    m->fit.cv_ndcg_no_pop = NAN;
    rc = tt_mfile_get_meta(f, blend_fields, N_BLEND_FIELDS, m, err);
    if (rc == 0 && !(m->fit.w_als >= 0.0f && m->fit.w_als <= 1.0f))
        rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad w_als", tt_mfile_path(f));
    if (rc == 0 && m->fit.w_pop != 0.0f) { /* files before the term have neither */
        int64_t rows = 1, cols = m->base.n_tracks;
        const void *data = NULL;
        rc = tt_mfile_get(f, "popularity", TT_DT_F32, &rows, &cols, &data, err);
        for (int64_t t = 0; rc == 0 && t < cols; t++)
            if (!isfinite(((const float *)data)[t]))
                rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: popularity of track "
                                "%lld is not finite", tt_mfile_path(f), (long long)t);
        m->pop = data;
        m->n_pop = (int32_t)cols;
    }
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->fit.folds = m->p.folds;
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    *out = &m->base;
    return 0;
}

static void blend_free(tt_model *mm)
{
    blend_model *m = bm(mm);

    if (m->owns_parts) {
        tt_model_free(m->als);
        tt_model_free(m->ease);
    }
    moments_release(&m->mo);
    tt_mfile_close(m->file);
    free(m->pop_own);
    free(m);
}

static const struct tt_model_ops blend_ops = {
    .kind = "blend",
    .knows_user = blend_knows_user,
    .recommend = blend_recommend,
    .similar = blend_similar,
    .save = blend_save,
    .free = blend_free,
};
