/*
 * Learning the hybrid model's blend weights (tt/hybrid.h).
 *
 * A validation split is cut from the training data itself: a seeded sample of listeners
 * with enough positives each lose a share of them (all their events), the four parts are
 * trained on what is left, and the weights are the point of the simplex that ranks the
 * held-out tracks best (mean NDCG@k) among each listener's candidates. NDCG is piecewise
 * constant in the weights, so gradients say nothing; with four parts a grid of step 0.1 is
 * 286 points, a few seconds over thousands of listeners, and a local search at a quarter
 * of the step refines the best of them. The final model blends parts trained on all data:
 * the weights transfer because every part's scores enter the blend as z-scores, whose
 * scale does not depend on how much data trained the part.
 */
#include "hybrid_priv.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/models.h"

#include <math.h>
#include <string.h>

/* ---- the search ---- */

static const float no_new[2] = {0.0f, 0.0f};

/* What a blend scores on the validation listeners. */
struct figures {
    double ndcg, recall; /* every held-out pair */
    double known;        /* NDCG@k of the held-out pairs on played tracks alone */
};

/* One listener's DCG over relevance class @cls (0: any) of their top @got in @buf. */
static double dcg_of(const tt_hybrid_vuser *v, const tt_scored *buf, int got, int cls, int *hits)
{
    double dcg = 0.0;

    for (int r = 0; r < got; r++) {
        uint8_t rel = v->rel[buf[r].track];
        if (rel && (cls == 0 || rel == cls)) {
            dcg += 1.0 / log2(r + 2.0);
            (*hits)++;
        }
    }
    return dcg;
}

static double idcg_of(int32_t n_rel, int k)
{
    double idcg = 0.0;

    for (int r = 0; r < n_rel && r < k; r++)
        idcg += 1.0 / log2(r + 2.0);
    return idcg;
}

/* Top @k of listener @v under the blend @w, new releases given @nw[0] and @nw[1] on content. */
static int rank_user(const tt_hybrid_vuser *v, int k, const float *w, const float nw[2],
                     tt_scored *buf)
{
    tt_topk top;

    tt_topk_init(&top, buf, k);
    for (int32_t j = 0; j < v->n_cand; j++) {
        const float *z = v->z + (size_t)j * TT_HYBRID_COLS;
        float s = w[0] * z[0] + w[1] * z[1] + w[2] * z[2] + w[3] * z[3] +
                  z[TT_HYBRID_NEW] * (nw[0] + nw[1] * z[TT_HYBRID_CONTENT]);
        tt_topk_push(&top, j, s);
    }
    return tt_topk_finish(&top);
}

/* Mean NDCG@k and recall over @users, and NDCG@k over their pairs on played tracks. */
static struct figures blend_eval(const tt_hybrid_vuser *users, int32_t n, int k, const float *w,
                                 const float nw[2], tt_scored *buf)
{
    struct figures f = {0};
    int32_t n_known = 0;

    for (int32_t u = 0; u < n; u++) {
        const tt_hybrid_vuser *v = &users[u];
        int got = rank_user(v, k, w, nw, buf), hits = 0, known_hits = 0;
        int32_t lim = v->n_rel < k ? v->n_rel : k, nk = v->n_rel - v->n_rel_new;
        double idcg = idcg_of(v->n_rel, k);
        f.ndcg += idcg > 0.0 ? dcg_of(v, buf, got, 0, &hits) / idcg : 0.0;
        f.recall += lim > 0 ? (double)hits / lim : 0.0;
        if (nk > 0) {
            f.known += dcg_of(v, buf, got, 1, &known_hits) / idcg_of(nk, k);
            n_known++;
        }
    }
    f.ndcg = n ? f.ndcg / n : 0.0;
    f.recall = n ? f.recall / n : 0.0;
    f.known = n_known ? f.known / n_known : 0.0;
    return f;
}

struct search {
    const tt_hybrid_vuser *users;
    int32_t n;
    int k;
    const bool *present;
    tt_scored *buf;
    float best[TT_HYBRID_PARTS];
    double best_ndcg;
};

/* Scores @w and keeps it when strictly better, so ties go to the point tried first. */
static bool try_point(struct search *s, const float *w)
{
    double v;

    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        if (w[i] > 0.0f && !s->present[i])
            return false;
    v = blend_eval(s->users, s->n, s->k, w, no_new, s->buf).known;
    if (!(v > s->best_ndcg))
        return false;
    s->best_ndcg = v;
    memcpy(s->best, w, sizeof(s->best));
    return true;
}

/* Every point of the simplex whose coordinates are multiples of 1/@m. */
static void grid(struct search *s, int m)
{
    for (int a = m; a >= 0; a--)
        for (int b = m - a; b >= 0; b--)
            for (int c = m - a - b; c >= 0; c--) {
                float w[TT_HYBRID_PARTS] = {(float)a / m, (float)b / m, (float)c / m,
                                            (float)(m - a - b - c) / m};
                try_point(s, w);
            }
}

/* Moves @delta of weight from one part to another while that improves NDCG. */
static void refine(struct search *s, float delta)
{
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        for (int i = 0; i < TT_HYBRID_PARTS; i++)
            for (int j = 0; j < TT_HYBRID_PARTS; j++) {
                float w[TT_HYBRID_PARTS];
                if (i == j || s->best[i] < delta - 1e-6f)
                    continue;
                memcpy(w, s->best, sizeof(w));
                w[i] = w[i] - delta < 0.0f ? 0.0f : w[i] - delta;
                w[j] += delta;
                moved |= try_point(s, w);
            }
        if (!moved)
            break;
    }
}

/*
 * The new-release terms for fixed weights: the best NDCG over every held-out pair among those
 * that cost the ranking of played tracks at most @cost of its NDCG. The validation listeners
 * hold out more pairs on new releases than listening brings (a share of whole tracks on top of
 * their own held-out pairs), so an unbounded search would trade known taste for new releases
 * the test of time does not reward.
 */
static void search_new(struct search *s, const float *w, double cost, float nw[2])
{
    struct figures base = blend_eval(s->users, s->n, s->k, w, no_new, s->buf);
    double best = base.ndcg;

    nw[0] = nw[1] = 0.0f;
    for (int c = 0; c <= 12 && s->present[TT_HYBRID_CONTENT]; c++)
        for (int b = -8; b <= 16; b++) {
            float t[2] = {0.25f * b, 0.25f * c};
            struct figures f = blend_eval(s->users, s->n, s->k, w, t, s->buf);
            if (f.ndcg > best && f.known >= base.known * (1.0 - cost)) {
                best = f.ndcg;
                nw[0] = t[0], nw[1] = t[1];
            }
        }
}

void tt_hybrid_search(const tt_hybrid_vuser *users, int32_t n, int k, double step,
                      double new_cost, const bool present[TT_HYBRID_PARTS], tt_hybrid_fit *fit)
{
    static const bool all[TT_HYBRID_PARTS] = {true, true, true, true};
    struct search s = {users, n, k, present ? present : all, tt_malloc((size_t)k * sizeof(tt_scored)),
                       {0}, -1.0};
    int m = (int)lround(1.0 / step);
    double sum = 0.0;

    grid(&s, m < 1 ? 1 : m);
    refine(&s, (float)(step / 4.0));
    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        sum += s.best[i];
    for (int i = 0; i < TT_HYBRID_PARTS; i++) {
        float unit[TT_HYBRID_PARTS] = {0};
        unit[i] = 1.0f;
        fit->weight[i] = (float)(s.best[i] / sum);
        fit->part_ndcg[i] = s.present[i] ? blend_eval(users, n, k, unit, no_new, s.buf).ndcg : 0.0;
    }
    {
        float nw[2];
        struct figures f;
        search_new(&s, fit->weight, new_cost, nw);
        fit->new_bonus = nw[0];
        fit->new_content = nw[1];
        f = blend_eval(users, n, k, fit->weight, nw, s.buf);
        fit->ndcg = f.ndcg;
        fit->recall = f.recall;
        fit->known_ndcg = f.known;
    }
    fit->k = k;
    free(s.buf);
}

/* ---- the validation split ---- */


/* A seeded sample of at most p->max_users of the users with enough positives, ascending. */
static void pick_users(const tt_csr *pos, const tt_hybrid_params *p, tt_rng *rng,
                       tt__validation *v)
{
    v->users = tt_malloc(((size_t)pos->rows + 1) * sizeof(int32_t));
    for (int32_t u = 0; u < pos->rows; u++)
        if (tt_csr_row_nnz(pos, u) >= p->min_positives)
            v->users[v->n_users++] = u;
    if (v->n_users <= p->max_users)
        return;
    for (int32_t i = 0; i < p->max_users; i++) {
        int32_t j = i + (int32_t)tt_rng_below(rng, (uint64_t)(v->n_users - i));
        int32_t tmp = v->users[i];
        v->users[i] = v->users[j];
        v->users[j] = tmp;
    }
    v->n_users = p->max_users;
    for (int32_t i = 1; i < v->n_users; i++) /* insertion sort keeps the order seeded-stable */
        for (int32_t j = i; j > 0 && v->users[j] < v->users[j - 1]; j--) {
            int32_t tmp = v->users[j];
            v->users[j] = v->users[j - 1];
            v->users[j - 1] = tmp;
        }
}

/* round(share * n) of the n tracks with a positive, marked in v->gone. */
static void pick_gone(const tt_csr *pos, double share, tt_rng *rng, tt__validation *v)
{
    int32_t nt = pos->cols, n = 0, h;
    int32_t *list = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    uint8_t *played = tt_calloc((size_t)nt + 1, 1);

    for (int64_t i = 0; i < pos->nnz; i++)
        played[pos->indices[i]] = 1;
    for (int32_t t = 0; t < nt; t++)
        if (played[t])
            list[n++] = t;
    h = (int32_t)llround(share * n);
    v->gone = played; /* reused: cleared, then the chosen tracks set */
    memset(v->gone, 0, (size_t)nt + 1);
    for (int32_t i = 0; i < h; i++) {
        int32_t j = i + (int32_t)tt_rng_below(rng, (uint64_t)(n - i)), tmp = list[i];
        list[i] = list[j];
        list[j] = tmp;
        v->gone[list[i]] = 1;
    }
    free(list);
}

/*
 * Each user's positives on gone tracks, and round(share * n) of the n others (at least 1,
 * at most n - 1 so the user keeps a training positive).
 */
static void pick_pairs(const tt_csr *pos, double share, tt_rng *rng, tt__validation *v)
{
    int64_t cap = 0, n = 0;
    int32_t *pu, *pt, *buf = tt_malloc(((size_t)pos->cols + 1) * sizeof(int32_t));

    for (int32_t i = 0; i < v->n_users; i++)
        cap += (int64_t)tt_csr_row_nnz(pos, v->users[i]);
    pu = tt_malloc((size_t)cap * sizeof(int32_t) + 4);
    pt = tt_malloc((size_t)cap * sizeof(int32_t) + 4);
    for (int32_t i = 0; i < v->n_users; i++) {
        int32_t u = v->users[i], nn = 0, h;
        const int32_t *row = pos->indices + pos->indptr[u];
        for (int64_t j = 0; j < tt_csr_row_nnz(pos, u); j++) {
            if (!v->gone[row[j]]) {
                buf[nn++] = row[j];
                continue;
            }
            pu[n] = u;
            pt[n++] = row[j];
            v->n_new++;
        }
        if (nn < 2)
            continue;
        h = (int32_t)llround(share * nn);
        h = h < 1 ? 1 : (h > nn - 1 ? nn - 1 : h);
        for (int32_t j = 0; j < h; j++) {
            int32_t r = j + (int32_t)tt_rng_below(rng, (uint64_t)(nn - j)), tmp = buf[j];
            buf[j] = buf[r];
            buf[r] = tmp;
            pu[n] = u;
            pt[n++] = buf[j];
        }
    }
    tt_csr_from_coo(pos->rows, pos->cols, n, pu, pt, NULL, &v->held);
    free(pu);
    free(pt);
    free(buf);
}

bool tt__held_contains(const tt_csr *held, int32_t u, int32_t t)
{
    return u >= 0 && u < held->rows &&
           tt_sorted_contains(held->indices + held->indptr[u], (int32_t)tt_csr_row_nnz(held, u), t);
}

void tt__validation_build(const tt_train_set *ts, const tt_hybrid_params *p,
                             tt__validation *v)
{
    const tt_dataset *ds = ts->ds;
    tt_weighting w = tt_weighting_default();
    tt_rng rng;

    memset(v, 0, sizeof(*v));
    tt_rng_seed(&rng, p->seed, 0x6879);
    pick_users(&ts->conf, p, &rng, v);
    pick_gone(&ts->conf, p->new_share, &rng, v);
    pick_pairs(&ts->conf, p->validation, &rng, v);
    v->mask = tt_malloc((size_t)ds->n_events + 1);
    for (int64_t i = 0; i < ds->n_events; i++)
        v->mask[i] = (!ts->mask || ts->mask[i]) && !v->gone[ds->ev_track[i]] &&
                     !tt__held_contains(&v->held, ds->ev_user[i], ds->ev_track[i]);
    tt_train_set_build(ds, v->mask, &w, &v->sub);
}

tt_query tt__validation_query(const tt__validation *v, int32_t u, int32_t *n_rel,
                              int32_t *n_rel_new)
{
    const tt_csr *seen = &v->sub.seen, *held = &v->held;
    tt_query q = {.user = u, .excludes_history = true};

    q.exclude = seen->indices + seen->indptr[u];
    q.n_exclude = (int32_t)tt_csr_row_nnz(seen, u);
    *n_rel = (int32_t)tt_csr_row_nnz(held, u);
    *n_rel_new = 0;
    for (int64_t j = held->indptr[u]; j < held->indptr[u + 1]; j++)
        *n_rel_new += v->gone[held->indices[j]];
    return q;
}

void tt__validation_mark(const tt__validation *v, int32_t u, const int32_t *c, int32_t n,
                         uint8_t *rel)
{
    for (int32_t j = 0; j < n; j++)
        rel[j] = tt__held_contains(&v->held, u, c[j]) ? (v->gone[c[j]] ? 2 : 1) : 0;
}

void tt__validation_release(tt__validation *v)
{
    free(v->users);
    free(v->gone);
    tt_csr_release(&v->held);
    tt_train_set_release(&v->sub);
    free(v->mask);
}

/* ---- gathering each validation user's candidates ---- */

struct gather {
    const tt__hybrid_set *set;
    const tt__validation *v;
    const tt_hybrid_params *p;
    tt_hybrid_vuser *out;
};

/* One user's candidates, z-scores and relevance; an error leaves the user empty (NDCG 0). */
static void gather_one(const struct gather *g, int32_t i)
{
    int32_t u = g->v->users[i], *c = NULL, n;
    tt_query q;
    tt_hybrid_vuser *o = &g->out[i];
    tt_err err = {0};

    q = tt__validation_query(g->v, u, &o->n_rel, &o->n_rel_new);
    n = tt__hybrid_candidates(g->set->part, &q, g->p->candidates, &c, &err);
    if (n > 0) {
        o->z = tt_malloc((size_t)n * TT_HYBRID_COLS * sizeof(float));
        o->rel = tt_malloc((size_t)n);
        if (tt__hybrid_features(g->set, &q, c, n, o->z, &err) < 0)
            n = 0;
        tt__validation_mark(g->v, u, c, n, o->rel);
    }
    o->n_cand = n > 0 ? n : 0;
    free(c);
}

static void gather_range(void *ctx, int64_t b, int64_t e, int thread)
{
    (void)thread;
    for (int64_t i = b; i < e; i++)
        gather_one(ctx, (int32_t)i);
}

/* ---- learning ---- */

static int check_params(const tt_hybrid_params *p, tt_err *err)
{
    if (!(p->validation > 0.0 && p->validation < 1.0))
        return tt_err_set_field(err, TT_EINVAL, "validation", "validation share must be in (0, 1)");
    if (!(p->new_cost >= 0.0 && p->new_cost <= 1.0))
        return tt_err_set_field(err, TT_EINVAL, "new_cost", "new_cost must be in [0, 1]");
    if (!(p->new_share >= 0.0 && p->new_share < 1.0))
        return tt_err_set_field(err, TT_EINVAL, "new_share", "new_share must be in [0, 1)");
    if (p->min_positives < 2 || p->max_users < 1 || p->candidates < 1 || p->k < 1)
        return tt_err_set(err, TT_EINVAL, "hybrid: min_positives >= 2, max_users, candidates "
                                          "and k >= 1 are required");
    if (!(p->step >= 1e-3 && p->step <= 1.0))
        return tt_err_set_field(err, TT_EINVAL, "step", "step must be in [0.001, 1]");
    return 0;
}

/* The four parts trained on the validation split's training side. */
int tt__hybrid_train_parts(const tt__validation *v, const tt_model_opts *o,
                       tt_model *part[TT_HYBRID_PARTS], tt_err *err)
{
    tt_model_opts po = *o;
    int rc = 0;

    po.als.precompute = 0;
    for (int i = 0; rc == 0 && i < TT_HYBRID_PARTS; i++) {
        rc = tt_models_train(tt_hybrid_part_names[i], &v->sub, &po, &part[i], err);
        if (rc == TT_ESTATE && i == TT_HYBRID_CONTENT) {
            tt_err_clear(err); /* a catalog without content: blend the other three */
            part[i] = NULL;
            rc = 0;
        }
    }
    return rc;
}

int tt_hybrid_learn(const tt_train_set *ts, const tt_hybrid_params *p,
                    const struct tt_model_opts *o, tt_model **out, tt_err *err)
{
    tt__validation v;
    tt_model *part[TT_HYBRID_PARTS] = {0};
    tt_hybrid_vuser *vu = NULL;
    tt_hybrid_fit fit = {0};
    bool present[TT_HYBRID_PARTS];
    double t0 = tt_now();
    int rc = check_params(p, err);

    if (rc < 0)
        return rc;
    tt__validation_build(ts, p, &v);
    if (v.n_users == 0) {
        tt__validation_release(&v);
        return tt_err_set(err, TT_ESTATE, "hybrid: no listener has %d positive tracks to "
                                          "validate the blend on", p->min_positives);
    }
    rc = tt__hybrid_train_parts(&v, o, part, err);
    if (rc == 0) {
        tt__hybrid_set set;
        struct gather g = {&set, &v, p, tt_calloc((size_t)v.n_users, sizeof(tt_hybrid_vuser))};
        vu = g.out;
        tt__hybrid_set_init(&set, part, ts->ds->track_artist, tt_dataset_n_artists(ts->ds));
        tt__blas_single_threaded();
        tt_parallel_for(v.n_users, 8, o->threads, gather_range, &g);
        tt__hybrid_set_release(&set);
        for (int i = 0; i < TT_HYBRID_PARTS; i++)
            present[i] = part[i] != NULL;
        tt_hybrid_search(vu, v.n_users, p->k, p->step, p->new_cost, present, &fit);
        fit.users = v.n_users;
        fit.pairs = v.held.nnz;
        fit.new_pairs = v.n_new;
        *out = tt__hybrid_new(ts, p, &fit);
        (*out)->train_seconds = tt_now() - t0;
    }
    for (int32_t i = 0; vu && i < v.n_users; i++) {
        free(vu[i].z);
        free(vu[i].rel);
    }
    free(vu);
    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        tt_model_free(part[i]);
    tt__validation_release(&v);
    return rc;
}
