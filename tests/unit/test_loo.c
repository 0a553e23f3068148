/*
 * Leave-one-out with sampled negatives (tt_eval_loo, He et al. 2017): the figures of a model
 * that ranks the held-out track first, a cut-off past the candidates, which tracks are drawn
 * as negatives, the arguments refused, and listeners the model cannot rank for.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/popularity.h"

#define N_TRACKS 40
#define N_EVAL 8

static void track_id(char *buf, size_t cap, int t)
{
    snprintf(buf, cap, "t%02d", t);
}

static void play(tt_dataset *ds, const char *user, int t, enum tt_action a, int64_t when)
{
    char id[16];

    track_id(id, sizeof(id), t);
    fx_add_event(ds, user, id, a, 1.0f, when);
}

/*
 * N_EVAL listeners "e0".."e7" play five tracks of 1..39 once each (their own stretch), skip
 * one and dislike another, and last of all play t00. Twelve more listeners play t00 alone
 * (one positive: they stay in training), which makes it by far the most played track in
 * training, where the evaluated listeners' t00 is held out.
 */
static tt_dataset *latest_is_popular(void)
{
    tt_dataset *ds = tt_dataset_new();
    char id[16];

    for (int t = 0; t < N_TRACKS; t++) {
        track_id(id, sizeof(id), t);
        fx_add_track(ds, id, "artist", NULL);
    }
    for (int u = 0; u < N_EVAL; u++) {
        int64_t when = FX_T0 - 30 * FX_DAY + u * 1000;
        snprintf(id, sizeof(id), "e%d", u);
        for (int i = 0; i < 5; i++)
            play(ds, id, 1 + (u * 4 + i) % (N_TRACKS - 1), TT_ACT_PLAY, when + i);
        play(ds, id, 1 + (u * 4 + 7) % (N_TRACKS - 1), TT_ACT_SKIP, when + 10);
        play(ds, id, 1 + (u * 4 + 9) % (N_TRACKS - 1), TT_ACT_DISLIKE, when + 11);
        play(ds, id, 0, TT_ACT_PLAY, when + 100);
    }
    for (int u = 0; u < 12; u++) {
        snprintf(id, sizeof(id), "f%d", u);
        play(ds, id, 0, TT_ACT_PLAY, FX_T0 - 40 * FX_DAY + u);
    }
    tt_dataset_finish(ds);
    return ds;
}

struct fixture {
    tt_dataset *ds;
    tt_split split;
    tt_train_set ts;
};

static void fixture_init(struct fixture *fx)
{
    tt_split_params p = tt_split_params_default();
    tt_weighting w = tt_weighting_default();
    tt_err err = {0};

    fx->ds = latest_is_popular();
    p.kind = TT_SPLIT_LAST;
    cr_assert_eq(tt_split_build(fx->ds, &p, &fx->split, &err), 0, "%s", err.message);
    cr_assert_eq(fx->split.n_users, N_EVAL);
    tt_train_set_build(fx->ds, fx->split.mask, &w, &fx->ts);
}

static void fixture_release(struct fixture *fx)
{
    tt_train_set_release(&fx->ts);
    tt_split_release(&fx->split);
    tt_dataset_free(fx->ds);
}

/* ---- a fake model: ranks every allowed track by id and records the candidates ------------ */

struct call {
    int32_t user;
    int32_t n_allowed;
    int32_t cand[64];
};

typedef struct fake_model {
    tt_model base;
    int fail_odd;    /* 0, or the error returned for odd users */
    bool descending; /* rank by descending id instead */
    struct call calls[64];
    int n_calls;
} fake_model;

static int fake_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out, int *n_out,
                          tt_err *err)
{
    fake_model *m = (fake_model *)(uintptr_t)mm;
    struct call *c = &m->calls[m->n_calls++];

    *n_out = 0;
    cr_assert_not_null(q->allow, "the candidates come as an allow mask");
    c->user = q->user;
    c->n_allowed = 0;
    for (int32_t t = 0; t < mm->n_tracks; t++)
        if (q->allow[t]) {
            cr_assert_lt(c->n_allowed, 64);
            c->cand[c->n_allowed++] = t;
        }
    if (m->fail_odd && q->user % 2 == 1)
        return tt_err_set(err, m->fail_odd, "cannot rank for user %d", q->user);
    for (int32_t i = 0; i < c->n_allowed && *n_out < k; i++) {
        int32_t t = c->cand[m->descending ? c->n_allowed - 1 - i : i];
        if (tt_sorted_contains(q->exclude, q->n_exclude, t))
            continue;
        out[*n_out] = (tt_scored){t, m->descending ? (float)t : -(float)t};
        (*n_out)++;
    }
    return 0;
}

static void fake_free(tt_model *m)
{
    free(m);
}

static const struct tt_model_ops fake_ops = {
    .kind = "fake",
    .recommend = fake_recommend,
    .free = fake_free,
};

static fake_model *fake_new(const tt_dataset *ds, int fail_odd)
{
    fake_model *m = calloc(1, sizeof(*m));

    m->base.ops = &fake_ops;
    m->base.n_users = tt_dataset_n_users(ds);
    m->base.n_tracks = tt_dataset_n_tracks(ds);
    m->base.catalog = tt_catalog_checksum(ds);
    m->fail_odd = fail_odd;
    return m;
}

/* The held-out track of evaluated user @u. */
static int32_t held_of(const tt_split *s, int32_t u)
{
    cr_assert_eq(tt_csr_row_nnz(&s->relevant, u), 1);
    return s->relevant.indices[s->relevant.indptr[u]];
}

/* True when user @u has any event, in training or not, with track @t. */
static bool touched(const tt_dataset *ds, int32_t u, int32_t t)
{
    for (int64_t i = 0; i < ds->n_events; i++)
        if (ds->ev_user[i] == u && ds->ev_track[i] == t)
            return true;
    return false;
}

/* ---- figures ----------------------------------------------------------------------------- */

Test(loo, popularity_finds_a_popular_latest_track_first)
{
    struct fixture fx;
    tt_model *pop = NULL;
    tt_loo_scores s;
    tt_err err = {0};

    fixture_init(&fx);
    for (int32_t i = 0; i < fx.split.n_users; i++)
        cr_assert_eq(held_of(&fx.split, fx.split.users[i]), 0, "t00 is everyone's latest");
    cr_assert_eq(tt_popularity_train(&fx.ts, TT_POP_ALL_TIME, 0.0, &pop, &err), 0, "%s",
                 err.message);
    cr_assert_eq(tt_eval_loo(pop, &fx.split, &fx.ts.seen, 20, 10, 1, &s, &err), 0, "%s",
                 err.message);
    cr_assert_eq(s.users, N_EVAL);
    cr_assert_eq(s.hr, 1.0);
    cr_assert_eq(s.ndcg, 1.0);
    cr_assert_eq(s.k, 10);
    cr_assert_eq(s.negatives, 20);
    cr_assert_geq(s.seconds, 0.0);
    tt_model_free(pop);
    fixture_release(&fx);
}

/*
 * The fake ranking by descending id puts t00, the held-out track, last of the n_neg + 1
 * candidates: a cut-off of 100 still holds it, at NDCG 1 / log2(n_neg + 2); a cut-off of
 * n_neg just misses it.
 */
Test(loo, a_cut_off_past_the_candidates_hits_every_user)
{
    struct fixture fx;
    fake_model *m;
    tt_loo_scores s;
    tt_err err = {0};

    fixture_init(&fx);
    m = fake_new(fx.ds, 0);
    m->descending = true;
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 30, 100, 5, &s, &err), 0, "%s",
                 err.message);
    cr_assert_eq(s.users, N_EVAL);
    cr_assert_eq(s.hr, 1.0);
    cr_assert_float_eq(s.ndcg, 1.0 / log2(32.0), 1e-12);
    m->n_calls = 0;
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 30, 30, 5, &s, &err), 0);
    cr_assert_eq(s.hr, 0.0);
    cr_assert_eq(s.ndcg, 0.0);
    /* Ranked first (ascending ids), the held-out track gives HR and NDCG 1 at k 1. */
    m->n_calls = 0;
    m->descending = false;
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 30, 1, 5, &s, &err), 0);
    cr_assert_eq(s.hr, 1.0);
    cr_assert_eq(s.ndcg, 1.0);
    tt_model_free(&m->base);
    fixture_release(&fx);
}

Test(loo, negatives_are_untouched_distinct_and_as_many_as_asked)
{
    struct fixture fx;
    fake_model *m;
    tt_loo_scores s;
    tt_err err = {0};

    fixture_init(&fx);
    m = fake_new(fx.ds, 0);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 25, 10, 9, &s, &err), 0);
    cr_assert_eq(m->n_calls, N_EVAL);
    for (int c = 0; c < m->n_calls; c++) {
        const struct call *cl = &m->calls[c];
        int32_t u = cl->user, held = held_of(&fx.split, u);
        bool has_held = false;
        cr_assert_eq(cl->n_allowed, 26, "user %d: %d candidates", u, cl->n_allowed);
        for (int32_t i = 0; i < cl->n_allowed; i++) {
            if (cl->cand[i] == held) {
                has_held = true;
                continue;
            }
            cr_assert(!touched(fx.ds, u, cl->cand[i]), "user %d: negative %d was touched", u,
                      cl->cand[i]);
        }
        cr_assert(has_held, "user %d: held-out track %d not among the candidates", u, held);
    }
    tt_model_free(&m->base);
    fixture_release(&fx);
}

/* ---- refusals and misses ----------------------------------------------------------------- */

Test(loo, refuses_other_splits_and_too_many_negatives)
{
    struct fixture fx;
    fake_model *m;
    tt_split random;
    tt_split_params p = tt_split_params_default();
    tt_loo_scores s;
    tt_err err = {0};

    fixture_init(&fx);
    m = fake_new(fx.ds, 0);
    cr_assert_eq(tt_split_build(fx.ds, &p, &random, &err), 0);
    cr_assert_eq(tt_eval_loo(&m->base, &random, &fx.ts.seen, 10, 10, 1, &s, &err), TT_EINVAL);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, N_TRACKS, 10, 1, &s, NULL),
                 TT_EINVAL);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, N_TRACKS + 5, 10, 1, &s, NULL),
                 TT_EINVAL);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 0, 10, 1, &s, NULL), TT_EINVAL);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 10, 0, 1, &s, NULL), TT_EINVAL);
    cr_assert_eq(m->n_calls, 0, "a refused evaluation ranks nothing");
    cr_assert_eq(s.users, 0);
    tt_split_release(&random);
    tt_model_free(&m->base);
    fixture_release(&fx);
}

Test(loo, users_the_model_cannot_rank_for_are_misses)
{
    struct fixture fx;
    fake_model *m;
    tt_loo_scores s;
    tt_err err = {0};
    int odd = 0;

    fixture_init(&fx);
    for (int32_t i = 0; i < fx.split.n_users; i++)
        odd += fx.split.users[i] % 2 == 1;
    cr_assert(odd > 0 && odd < N_EVAL);
    m = fake_new(fx.ds, TT_ENOTFOUND);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 10, 10, 3, &s, &err), 0, "%s",
                 err.message);
    cr_assert_eq(s.users, N_EVAL);
    cr_assert_float_eq(s.hr, (double)(N_EVAL - odd) / N_EVAL, 1e-12);
    cr_assert_float_eq(s.ndcg, (double)(N_EVAL - odd) / N_EVAL, 1e-12);
    tt_model_free(&m->base);
    /* TT_ESTATE too; any other error is the model's and ends the evaluation. */
    m = fake_new(fx.ds, TT_ESTATE);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 10, 10, 3, &s, &err), 0);
    cr_assert_float_eq(s.hr, (double)(N_EVAL - odd) / N_EVAL, 1e-12);
    tt_model_free(&m->base);
    m = fake_new(fx.ds, TT_EIO);
    cr_assert_eq(tt_eval_loo(&m->base, &fx.split, &fx.ts.seen, 10, 10, 3, &s, &err), TT_EIO);
    tt_model_free(&m->base);
    fixture_release(&fx);
}
