/*
 * Implicit ALS: recovery of planted taste groups, exclusions, fold-in against the training
 * solve for every confidence scaling, determinism, batch and single recommendations,
 * similar tracks, save/load, parameter checks, and models made of given factors.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/popularity.h"

#define GROUPS 4
#define USERS_PER_GROUP 30
#define TRACKS_PER_GROUP 40
#define PLAYS 15
#define K 10

static tt_dataset *ds;
static tt_train_set ts;
static uint8_t *mask; /* when a test trains on part of the events: ts borrows it */

static void setup(void)
{
    ds = fx_taste_groups(GROUPS, USERS_PER_GROUP, TRACKS_PER_GROUP, PLAYS, 11);
    fx_train_set(ds, &ts);
}

static void teardown(void)
{
    tt_train_set_release(&ts);
    free(mask);
    mask = NULL;
    tt_dataset_free(ds);
}

TestSuite(als, .init = setup, .fini = teardown);

static tt_model *train(const tt_als_params *p)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_als_train(&ts, p, &m, &err);

    cr_assert_eq(rc, 0, "training failed: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(m);
    return m;
}

/* Top K for stored user @u, excluding everything they have seen. */
static int recommend_user(const tt_model *m, int32_t u, tt_scored *out)
{
    tt_query q = {.user = u};
    tt_err err = {0};
    int n = -1, rc;

    q.n_exclude = fx_row(&ts.seen, u, &q.exclude, NULL);
    rc = tt_model_recommend(m, &q, K, out, &n, &err);
    cr_assert_eq(rc, 0, "recommend failed: %s", tt_err_msg(&err, rc));
    return n;
}

Test(als, recovers_planted_taste_groups)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    tt_scored out[K];
    int32_t nu = tt_dataset_n_users(ds);
    double share = 0.0;
    int weak_users = 0;

    cr_assert_eq(m->n_users, nu);
    cr_assert_eq(m->n_tracks, tt_dataset_n_tracks(ds));
    cr_assert_eq(tt_als_factors(m), 16);
    cr_assert_str_eq(m->name, "als");
    for (int32_t u = 0; u < nu; u++) {
        int n = recommend_user(m, u, out), own = 0;
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++) {
            own += fx_track_group(ds, out[i].track) == fx_user_group(ds, u);
            if (i > 0)
                cr_assert(out[i - 1].score >= out[i].score, "results are sorted best first");
        }
        share += (double)own / n;
        weak_users += own < K / 2;
    }
    share /= nu;
    /* A random list would give 1/GROUPS = 25%. */
    cr_assert(share >= 0.8, "own-group share of the top %d is %.3f", K, share);
    cr_assert(weak_users <= nu / 20, "%d users get mostly other groups", weak_users);
    tt_model_free(m);
}

Test(als, never_recommends_heard_or_disliked_tracks)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    int32_t nu = tt_dataset_n_users(ds), disliked_seen = 0;
    tt_scored out[K];

    for (int32_t u = 0; u < nu; u++) {
        const int32_t *seen;
        const float *val;
        int32_t ns = fx_row(&ts.seen, u, &seen, &val);
        int n = recommend_user(m, u, out);
        for (int i = 0; i < n; i++)
            cr_assert(!fx_contains(seen, ns, out[i].track), "user %d got heard track %d", u,
                      out[i].track);
        for (int32_t j = 0; j < ns; j++)
            disliked_seen += val[j] < 0;
    }
    /* Every fixture user disliked one track: the seen rows mark each with -1. */
    cr_assert_eq(disliked_seen, nu);
    tt_model_free(m);
}

/*
 * A disliked own-group track is just the kind of track the model likes for this user: it
 * must be kept out by the exclusion even when we ask for every remaining track.
 */
Test(als, disliked_tracks_are_excluded_even_from_the_full_ranking)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    int32_t nt = tt_dataset_n_tracks(ds);
    tt_scored *out = tt_malloc((size_t)nt * sizeof(*out));
    int32_t excl[8], nex = 0, disliked = -1;

    for (int32_t u = 0; u < 5; u++) {
        const int32_t *seen;
        const float *val;
        int32_t ns = fx_row(&ts.seen, u, &seen, &val);
        tt_query q = {.user = u};
        int n = 0;

        nex = 0;
        for (int32_t j = 0; j < ns; j++)
            if (val[j] < 0)
                excl[nex++] = disliked = seen[j];
        cr_assert_eq(nex, 1);
        cr_assert_eq(fx_track_group(ds, disliked), fx_user_group(ds, u));
        /* Disliked: seen, never positive. */
        const int32_t *pos;
        int32_t np = fx_row(&ts.conf, u, &pos, NULL);
        cr_assert(!fx_contains(pos, np, disliked));
        q.exclude = excl;
        q.n_exclude = nex;
        cr_assert_eq(tt_model_recommend(m, &q, nt, out, &n, NULL), 0);
        cr_assert_eq(n, nt - 1);
        cr_assert(!fx_scored_contains(out, n, disliked));
    }
    free(out);
    tt_model_free(m);
}

/* Relative distance |a - b| / |b|. */
static double rel_dist(const float *a, const float *b, int k)
{
    double d = 0.0, nb = 0.0;

    for (int i = 0; i < k; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        nb += (double)b[i] * b[i];
    }
    return sqrt(d) / (sqrt(nb) > 0 ? sqrt(nb) : 1.0);
}

/*
 * Exact solves converge to a fixed point where each stored user vector is the exact solve
 * against the final track factors; this small problem gets there (to float precision,
 * ~1e-6) in well under a thousand sweeps with 8 factors.
 */
#define FOLD_K 8
#define FOLD_IT 800
#define FOLD_REG 0.5f

/*
 * With exact solves and a converged model, folding a training user in from their own raw
 * positives must land on their stored vector: the fold-in has to rebuild exactly the
 * confidences training used, whatever the scaling.
 */
static void fold_in_matches_training_at(enum tt_als_scaling scaling, float reg_exponent)
{
    tt_als_params p = fx_als_params();
    tt_model *m;
    float x[FOLD_K];
    int32_t nu = tt_dataset_n_users(ds);
    double worst = 0.0;
    int32_t worst_u = -1;

    p.scaling = scaling;
    p.factors = FOLD_K;
    p.cg_steps = 0;
    p.iterations = FOLD_IT;
    p.regularization = FOLD_REG;
    p.reg_exponent = reg_exponent;
    m = train(&p);
    for (int32_t u = 0; u < nu; u++) {
        const int32_t *pos;
        const float *r;
        int32_t np = fx_row(&ts.conf, u, &pos, &r);
        tt_err err = {0};
        int rc = tt_als_fold_in(m, pos, r, np, x, &err);
        double d;

        cr_assert_eq(rc, 0, "fold-in failed: %s", tt_err_msg(&err, rc));
        d = rel_dist(x, tt_als_user_vector(m, u), FOLD_K);
        if (d > worst)
            worst = d, worst_u = u;
    }
    cr_assert(worst < 1e-3,
              "scaling %d, reg_exponent %g: user %d folds in %.2e away from the training solve",
              (int)scaling, (double)reg_exponent, worst_u, worst);
    tt_model_free(m);
}

static void fold_in_matches_training(enum tt_als_scaling scaling)
{
    fold_in_matches_training_at(scaling, 0.0f);
}

/*
 * Every seventh event left out, so that listeners differ in how many tracks they have and
 * each needs its own lambda.
 */
Test(als, fold_in_equals_training_solve_with_frequency_scaled_regularization)
{
    tt_weighting w = tt_weighting_default();
    int64_t lo = INT64_MAX, hi = 0, n = ds->n_events;

    tt_train_set_release(&ts);
    mask = malloc((size_t)n + 1);
    for (int64_t e = 0; e < n; e++)
        mask[e] = e % 7 != 3;
    tt_train_set_build(ds, mask, &w, &ts);
    for (int32_t u = 0; u < ts.conf.rows; u++) {
        int64_t n = tt_csr_row_nnz(&ts.conf, u);
        lo = n < lo ? n : lo;
        hi = n > hi ? n : hi;
    }
    cr_assert_lt(lo, hi, "every listener has %lld tracks", (long long)lo);
    fold_in_matches_training_at(TT_ALS_LOG, 1.0f);
}

/*
 * |A y - b| / |b| for track @t's normal equations against the user factors of @m, linear
 * confidence c - 1 = alpha r / mean r, and regularization @lambda.
 */
static double track_residual(const tt_model *m, const tt_csr *tu, int32_t t, float alpha,
                             double mean_r, double lambda)
{
    const int k = FOLD_K;
    int32_t nu = tt_dataset_n_users(ds);
    double A[FOLD_K][FOLD_K] = {{0}}, b[FOLD_K] = {0}, r2 = 0.0, b2 = 0.0;
    const float *y = tt_als_track_vector(m, t);

    for (int32_t u = 0; u < nu; u++) {
        const float *x = tt_als_user_vector(m, u);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
                A[i][j] += (double)x[i] * x[j];
    }
    for (int i = 0; i < k; i++)
        A[i][i] += lambda;
    for (int64_t e = tu->indptr[t]; e < tu->indptr[t + 1]; e++) {
        const float *x = tt_als_user_vector(m, tu->indices[e]);
        double cm1 = alpha * tu->data[e] / mean_r;
        for (int i = 0; i < k; i++) {
            b[i] += (cm1 + 1.0) * x[i];
            for (int j = 0; j < k; j++)
                A[i][j] += cm1 * x[i] * x[j];
        }
    }
    for (int i = 0; i < k; i++) {
        double ay = 0.0;
        for (int j = 0; j < k; j++)
            ay += A[i][j] * y[j];
        r2 += (ay - b[i]) * (ay - b[i]);
        b2 += b[i] * b[i];
    }
    return sqrt(r2 / b2);
}

/*
 * Frequency-scaled regularization against a dense solve: with exact solves the tracks are
 * solved last against the final user factors, so each track vector must satisfy its normal
 * equations with lambda (n_t / mean n)^e, n_t its listeners and the mean over the tracks
 * that have any; with plain lambda the same vectors must not (the scaling took effect).
 */
Test(als, reg_exponent_gives_each_track_its_own_lambda)
{
    tt_als_params p = fx_als_params();
    tt_csr tu;
    double mean_r = 0.0, mean_n;
    int32_t nt = tt_dataset_n_tracks(ds), with = 0, checked = 0;
    double worst = 0.0, plain_worst = 0.0;
    tt_model *m;

    p.scaling = TT_ALS_LINEAR;
    p.factors = FOLD_K;
    p.cg_steps = 0;
    p.iterations = 6;
    p.regularization = 2.0f;
    p.reg_exponent = 1.0f;
    m = train(&p);
    tt_csr_transpose(&ts.conf, &tu);
    for (int64_t e = 0; e < tu.nnz; e++)
        mean_r += tu.data[e];
    mean_r /= (double)tu.nnz;
    for (int32_t t = 0; t < nt; t++)
        with += tu.indptr[t + 1] > tu.indptr[t];
    mean_n = (double)tu.nnz / with;
    for (int32_t t = 0; t < nt; t++) {
        int64_t n = tu.indptr[t + 1] - tu.indptr[t];
        double lt = p.regularization * pow((double)n / mean_n, p.reg_exponent), d;
        if (n == 0 || fabs(n - mean_n) < 2.0)
            continue;
        d = track_residual(m, &tu, t, p.alpha, mean_r, lt);
        worst = d > worst ? d : worst;
        d = track_residual(m, &tu, t, p.alpha, mean_r, p.regularization);
        plain_worst = d > plain_worst ? d : plain_worst;
        checked++;
    }
    cr_assert_gt(checked, 20, "too few tracks away from the mean listener count: %d", checked);
    cr_assert_lt(worst, 1e-4, "a track misses its normal equations by %.2e", worst);
    cr_assert_gt(plain_worst, 1e-2, "plain lambda fits as well (%.2e): no scaling applied",
                 plain_worst);
    tt_csr_release(&tu);
    tt_model_free(m);
}

/* Exponent 0 is the plain model, bit for bit (the scaling costs nothing when unused). */
Test(als, reg_exponent_zero_is_plain_lambda)
{
    tt_als_params p = fx_als_params();
    tt_model *a, *b;
    int32_t nt = tt_dataset_n_tracks(ds);

    p.threads = 1;
    a = train(&p);
    p.reg_exponent = 0.0f;
    b = train(&p);
    for (int32_t t = 0; t < nt; t++)
        cr_assert_eq(memcmp(tt_als_track_vector(a, t), tt_als_track_vector(b, t),
                            (size_t)p.factors * sizeof(float)),
                     0);
    tt_model_free(a);
    tt_model_free(b);
}

Test(als, fold_in_equals_training_solve_linear)
{
    fold_in_matches_training(TT_ALS_LINEAR);
}

Test(als, fold_in_equals_training_solve_log)
{
    fold_in_matches_training(TT_ALS_LOG);
}

Test(als, fold_in_equals_training_solve_bm25)
{
    fold_in_matches_training(TT_ALS_BM25);
}

Test(als, fold_in_of_a_new_listener_follows_their_group)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);

    for (int g = 0; g < GROUPS; g++) {
        int32_t hist[6];
        float r[6];
        tt_query q = {.user = -1, .hist = hist, .hist_conf = r, .n_hist = 6};
        tt_scored out[K];
        int n = 0, own = 0;
        char id[32];

        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof(id), "g%02d-t%03d", g, i);
            hist[i] = tt_ids_find(ds->tracks, id, strlen(id));
            r[i] = 4.0f;
        }
        q.exclude = hist;
        q.n_exclude = 6;
        cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, NULL), 0);
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++) {
            cr_assert(!fx_contains(hist, 6, out[i].track));
            own += fx_track_group(ds, out[i].track) == g;
        }
        cr_assert(own >= 8, "group %d: only %d of %d from the group", g, own, K);
    }
    tt_model_free(m);
}

Test(als, unknown_user_without_history_is_not_found)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    tt_query q = {.user = -1};
    tt_scored out[K];
    tt_err err = {0};
    int n = 0;

    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "user_id");
    q.user = m->n_users;
    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, NULL), TT_ENOTFOUND);
    tt_model_free(m);
}

Test(als, training_is_deterministic_for_a_seed_and_thread_count)
{
    tt_als_params p = fx_als_params();
    tt_model *a = train(&p), *b = train(&p);
    int32_t nu = tt_dataset_n_users(ds);
    size_t bytes = 16 * sizeof(float);

    for (int32_t u = 0; u < nu; u++)
        cr_assert_eq(memcmp(tt_als_user_vector(a, u), tt_als_user_vector(b, u), bytes), 0,
                     "user %d differs between two trainings", u);
    tt_model_free(b);
    p.seed = 8;
    b = train(&p);
    cr_assert_neq(memcmp(tt_als_user_vector(a, 0), tt_als_user_vector(b, 0), bytes), 0,
                  "another seed gives another model");
    tt_model_free(a);
    tt_model_free(b);
}

/*
 * Continuing a training is exact: 4 sweeps and then 5 more give, bit for bit, the factors of
 * 9 sweeps in one go, for every scaling and with several threads (the tuner's halving
 * relies on it). A model of another shape cannot be continued.
 */
Test(als, continuing_a_training_equals_training_longer)
{
    for (int sc = 0; sc < TT_ALS_N_SCALINGS; sc++) {
        tt_als_params p = fx_als_params();
        tt_model *whole, *first, *more = NULL;
        tt_err err = {0};
        size_t bytes = 16 * sizeof(float);

        p.scaling = (enum tt_als_scaling)sc;
        p.threads = 3;
        p.iterations = 9;
        whole = train(&p);
        p.iterations = 4;
        first = train(&p);
        p.iterations = 5;
        cr_assert_eq(tt_als_train_more(&ts, &p, first, &more, &err), 0, "%s", err.message);
        for (int32_t u = 0; u < tt_dataset_n_users(ds); u++)
            cr_assert_eq(memcmp(tt_als_user_vector(whole, u), tt_als_user_vector(more, u), bytes),
                         0, "%s: user %d differs", tt_als_scaling_names[sc], u);
        for (int32_t t = 0; t < tt_dataset_n_tracks(ds); t++)
            cr_assert_eq(
                memcmp(tt_als_track_vector(whole, t), tt_als_track_vector(more, t), bytes), 0,
                "%s: track %d differs", tt_als_scaling_names[sc], t);
        cr_assert_neq(memcmp(tt_als_user_vector(first, 0), tt_als_user_vector(more, 0), bytes),
                      0, "the continued model did not move");
        tt_model_free(whole);
        tt_model_free(first);
        tt_model_free(more);
    }
}

Test(als, only_a_model_of_the_same_shape_can_be_continued)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p), *pop = NULL, *out = NULL;
    tt_err err = {0};

    p.factors = 8;
    cr_assert_eq(tt_als_train_more(&ts, &p, m, &out, &err), TT_EINVAL);
    cr_assert_null(out);
    p.factors = 16;
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_ALL_TIME, 0.0, &pop, &err), 0);
    cr_assert_eq(tt_als_train_more(&ts, &p, pop, &out, &err), TT_EINVAL);
    cr_assert_eq(tt_als_train_more(&ts, &p, NULL, &out, &err), TT_EINVAL);
    cr_assert_null(out);
    tt_model_free(pop);
    tt_model_free(m);
}

Test(als, batch_equals_single_recommendations)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    int32_t nu = tt_dataset_n_users(ds);
    /* Users in a scrambled order, an unknown one among them. */
    int32_t n = nu + 1, *users = tt_malloc((size_t)n * sizeof(int32_t));
    tt_scored *batch = tt_malloc((size_t)n * K * sizeof(tt_scored)), one[K];

    for (int32_t i = 0; i < nu; i++)
        users[i] = (int32_t)((i * 37 + 5) % nu);
    users[nu] = nu + 3;
    cr_assert_eq(tt_model_recommend_batch(m, users, n, &ts.seen, K, batch, NULL), 0);
    for (int32_t i = 0; i < nu; i++) {
        int got = recommend_user(m, users[i], one);
        const tt_scored *row = batch + (size_t)i * K;
        for (int j = 0; j < got; j++) {
            cr_assert_eq(row[j].track, one[j].track, "user %d rank %d: batch %d, single %d",
                         users[i], j, row[j].track, one[j].track);
            cr_assert_float_eq(row[j].score, one[j].score, 1e-4);
        }
    }
    for (int j = 0; j < K; j++)
        cr_assert_eq(batch[(size_t)nu * K + j].track, -1, "unknown users get padding");
    free(users);
    free(batch);
    tt_model_free(m);
}

/*
 * Tracks with a handful of listeners have noisy factors, so the share is checked overall
 * (random: 1/GROUPS) and, tighter, for tracks with enough listeners to be placed.
 */
Test(als, similar_tracks_come_from_the_same_group)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    int32_t nt = tt_dataset_n_tracks(ds);
    tt_scored out[K];
    double share = 0.0, share_known = 0.0;
    int n_known = 0;
    tt_csr tu;

    tt_csr_transpose(&ts.conf, &tu);
    for (int32_t t = 0; t < nt; t++) {
        int n = 0, own = 0;
        cr_assert_eq(tt_model_similar(m, t, K, out, &n, NULL), 0);
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++) {
            cr_assert_neq(out[i].track, t, "track %d is not similar to itself", t);
            cr_assert(out[i].score <= 1.0f + 1e-4f, "cosine similarity is at most 1");
            if (i > 0)
                cr_assert(out[i - 1].score >= out[i].score);
            own += fx_track_group(ds, out[i].track) == fx_track_group(ds, t);
        }
        share += (double)own / n;
        if (tt_csr_row_nnz(&tu, t) >= 8) {
            share_known += (double)own / n;
            n_known++;
        }
    }
    share /= nt;
    share_known /= n_known > 0 ? n_known : 1;
    cr_assert(n_known >= nt / 2, "most tracks have 8 listeners or more (%d)", n_known);
    cr_assert(share >= 0.7, "own-group share of similar tracks is %.3f", share);
    cr_assert(share_known >= 0.75, "own-group share for well-known tracks is %.3f", share_known);
    cr_assert_eq(tt_model_similar(m, nt, K, out, &(int){0}, NULL), TT_ENOTFOUND);
    cr_assert_eq(tt_model_similar(m, -1, K, out, &(int){0}, NULL), TT_ENOTFOUND);
    tt_csr_release(&tu);
    tt_model_free(m);
}

/* Expects the model file at @path to be refused, the message naming it and field @field. */
static void expect_refused(const char *path, const char *field)
{
    char quoted[64];

    snprintf(quoted, sizeof(quoted), "'%s'", field);
    fx_expect_model_refused(path, quoted);
}

Test(als, files_with_bad_metadata_are_refused_naming_the_field)
{
    const struct {
        const char *field;
        uint64_t v;
    } bad_int[] = {
        {"k", 0}, {"k", 2000}, {"n_users", (uint64_t)-1}, {"n_tracks", UINT64_C(1) << 40},
        {"iterations", 0},
    };
    const struct {
        const char *field;
        double v;
    } bad_float[] = {
        {"alpha", NAN}, {"alpha", -1.0}, {"bm25_b", 1.5}, {"scale", INFINITY}, {"log_eps", 0.0},
    };
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);
    char dir[64], path[256], name[8];

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "als.ttm");
    for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
        cr_assert_eq(tt_model_save(m, path, NULL), 0);
        fx_meta_set(path, bad_int[i].field, bad_int[i].v);
        expect_refused(path, bad_int[i].field);
    }
    for (size_t i = 0; i < sizeof(bad_float) / sizeof(bad_float[0]); i++) {
        cr_assert_eq(tt_model_save(m, path, NULL), 0);
        fx_meta_set_f64(path, bad_float[i].field, bad_float[i].v);
        expect_refused(path, bad_float[i].field);
    }
    /* The scaling is stored by name: an unknown one is refused, not cast. */
    snprintf(name, sizeof(name), "%s", tt_als_scaling_names[p.scaling]);
    name[0] = '#';
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set_str(path, "scaling", name);
    expect_refused(path, "scaling");
    fx_rmtree(dir);
    tt_model_free(m);
}

Test(als, save_and_load_give_identical_recommendations)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p), *l = NULL;
    int32_t nu = tt_dataset_n_users(ds), nt = tt_dataset_n_tracks(ds);
    char dir[64], path[256];
    tt_err err = {0};
    int rc;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "models/als.ttm");
    rc = tt_model_save(m, path, &err);
    if (rc == 0)
        rc = tt_model_load(path, tt_catalog_checksum(ds), &l, &err);
    /* The loaded model maps the file: it can go now, whatever the assertions below say. */
    fx_rmtree(dir);
    cr_assert_eq(rc, 0, "save and load: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(l->name, "als");
    cr_assert_eq(l->n_users, nu);
    cr_assert_eq(l->n_tracks, nt);
    cr_assert_eq(l->catalog, m->catalog);
    cr_assert_eq(tt_als_factors(l), 16);
    for (int32_t u = 0; u < nu; u++) {
        tt_scored a[K], b[K];
        int na = recommend_user(m, u, a), nb = recommend_user(l, u, b);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(a, b, (size_t)na * sizeof(tt_scored)), 0, "user %d differs", u);
        const float *xm = tt_als_user_vector(m, u), *xl = tt_als_user_vector(l, u);
        cr_assert_eq(memcmp(xm, xl, 16 * sizeof(float)), 0, "user %d vector differs", u);
    }
    for (int32_t t = 0; t < nt; t += 7) {
        tt_scored a[K], b[K];
        int na = 0, nb = 0;
        cr_assert_eq(tt_model_similar(m, t, K, a, &na, NULL), 0);
        cr_assert_eq(tt_model_similar(l, t, K, b, &nb, NULL), 0);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(a, b, (size_t)na * sizeof(tt_scored)), 0, "track %d differs", t);
    }
    /* Fold-in on the loaded model uses the saved Gram matrix and scaling. */
    {
        const int32_t *pos;
        const float *r;
        int32_t np = fx_row(&ts.conf, 3, &pos, &r);
        float xa[16], xb[16];
        cr_assert_eq(tt_als_fold_in(m, pos, r, np, xa, NULL), 0);
        cr_assert_eq(tt_als_fold_in(l, pos, r, np, xb, NULL), 0);
        cr_assert_eq(memcmp(xa, xb, sizeof(xa)), 0);
    }
    tt_model_free(l);
    tt_model_free(m);
}

/* Each row breaks one parameter of otherwise valid settings (log scaling, so log_eps counts). */
static const struct {
    const char *what, *field;
    int factors, iterations, cg_steps;
    float alpha, regularization, log_eps;
} bad_params[] = {
    {"factors 0", "factors", 0, 12, 3, 2.0f, 0.1f, 1.0f},
    {"negative factors", "factors", -3, 12, 3, 2.0f, 0.1f, 1.0f},
    {"too many factors", "factors", 1025, 12, 3, 2.0f, 0.1f, 1.0f},
    {"alpha 0", "alpha", 16, 12, 3, 0.0f, 0.1f, 1.0f},
    {"negative alpha", "alpha", 16, 12, 3, -1.0f, 0.1f, 1.0f},
    {"alpha NaN", "alpha", 16, 12, 3, NAN, 0.1f, 1.0f},
    {"negative regularization", "regularization", 16, 12, 3, 2.0f, -0.1f, 1.0f},
    {"regularization NaN", "regularization", 16, 12, 3, 2.0f, NAN, 1.0f},
    {"no iterations", "iterations", 16, 0, 3, 2.0f, 0.1f, 1.0f},
    {"negative cg steps", "cg_steps", 16, 12, -1, 2.0f, 0.1f, 1.0f},
    {"log_eps 0", "log_eps", 16, 12, 3, 2.0f, 0.1f, 0.0f},
    {"log_eps infinite", "log_eps", 16, 12, 3, 2.0f, 0.1f, INFINITY},
};

#define N_BAD ((int)(sizeof(bad_params) / sizeof(bad_params[0])))

static tt_als_params broken(int i)
{
    tt_als_params p = fx_als_params();

    p.scaling = TT_ALS_LOG;
    p.factors = bad_params[i].factors;
    p.iterations = bad_params[i].iterations;
    p.cg_steps = bad_params[i].cg_steps;
    p.alpha = bad_params[i].alpha;
    p.regularization = bad_params[i].regularization;
    p.log_eps = bad_params[i].log_eps;
    return p;
}

Test(als, invalid_parameters_are_refused)
{
    for (int i = 0; i < N_BAD; i++) {
        tt_als_params p = broken(i);
        tt_model *m = NULL;
        tt_err err = {0};

        cr_assert_eq(tt_als_train(&ts, &p, &m, &err), TT_EINVAL, "%s accepted", bad_params[i].what);
        cr_assert_null(m, "%s: no model on failure", bad_params[i].what);
        cr_assert_eq(err.code, TT_EINVAL);
        cr_assert_neq(err.message[0], '\0');
    }
}

/* Model files record BM25's k1 and b and the scaling by name, so all are checked always. */
Test(als, bm25_settings_and_the_scaling_are_checked_whatever_the_scaling)
{
    const float k1[] = {0.0f, -1.0f, INFINITY, 100.0f}, b[] = {0.8f, 0.8f, 0.8f, 1.5f};

    for (size_t i = 0; i < sizeof(k1) / sizeof(k1[0]); i++) {
        tt_als_params p = fx_als_params();
        tt_err err = {0};
        tt_model *m = NULL;
        p.scaling = TT_ALS_LINEAR;
        p.bm25_k1 = k1[i];
        p.bm25_b = b[i];
        cr_assert_eq(tt_als_train(&ts, &p, &m, &err), TT_EINVAL, "k1 %g b %g", k1[i], b[i]);
        cr_assert_null(m);
        cr_assert_str_eq(err.field, "bm25_k1");
    }
    {
        tt_als_params p = fx_als_params();
        tt_err err = {0};
        tt_model *m = NULL;
        p.scaling = (enum tt_als_scaling)TT_ALS_N_SCALINGS;
        cr_assert_eq(tt_als_train(&ts, &p, &m, &err), TT_EINVAL);
        cr_assert_str_eq(err.field, "scaling");
    }
}

/* err.field reaches API error bodies: it must name the parameter that is wrong. */
Test(als, invalid_parameters_name_the_offending_field)
{
    for (int i = 0; i < N_BAD; i++) {
        tt_als_params p = broken(i);
        tt_model *m = NULL;
        tt_err err = {0};

        tt_als_train(&ts, &p, &m, &err);
        cr_expect_str_eq(err.field, bad_params[i].field, "%s: field '%s', expected '%s'",
                         bad_params[i].what, err.field, bad_params[i].field);
        tt_model_free(m);
    }
}

Test(als, als_accessors_refuse_other_models)
{
    tt_model *pop = NULL;
    int32_t t = 0;
    float r = 1.0f, x[16];

    cr_assert_eq(tt_popularity_train(&ts, TT_POP_ALL_TIME, 0.0, &pop, NULL), 0);
    cr_assert_eq(tt_als_fold_in(pop, &t, &r, 1, x, NULL), TT_EINVAL);
    cr_assert_eq(tt_als_factors(pop), 0);
    cr_assert_null(tt_als_user_vector(pop, 0));
    tt_model_free(pop);
}

Test(als, user_vector_bounds)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p);

    cr_assert_not_null(tt_als_user_vector(m, 0));
    cr_assert_not_null(tt_als_user_vector(m, m->n_users - 1));
    cr_assert_null(tt_als_user_vector(m, m->n_users));
    cr_assert_null(tt_als_user_vector(m, -1));
    tt_model_free(m);
}

/* Top @k for user @u through the precomputed lists (@history) or by scoring the catalog. */
static int ranked(const tt_model *m, int32_t u, bool history, const int32_t *extra, int k,
                  tt_scored *out)
{
    int32_t excl[512];
    tt_query q = {.user = u, .excludes_history = history};
    const int32_t *seen;
    int32_t n = fx_row(&ts.seen, u, &seen, NULL);
    tt_err err = {0};
    int got = -1;

    memcpy(excl, seen, (size_t)n * sizeof(int32_t));
    if (extra) {
        /* One more exclusion, kept sorted. */
        int32_t i = n++;
        while (i > 0 && excl[i - 1] > *extra) {
            excl[i] = excl[i - 1];
            i--;
        }
        excl[i] = *extra;
    }
    q.exclude = excl;
    q.n_exclude = n;
    cr_assert_eq(tt_model_recommend(m, &q, k, out, &got, &err), 0, "%s", err.message);
    return got;
}

Test(als, precomputed_lists_equal_scoring_the_catalog)
{
    tt_als_params p = fx_als_params();
    tt_model *m;
    int32_t nu = tt_dataset_n_users(ds);

    p.precompute = 30;
    m = train(&p);
    for (int32_t u = 0; u < nu; u++) {
        tt_scored a[K], b[K], c[40], d[40];
        int na = ranked(m, u, true, NULL, K, a), nb = ranked(m, u, false, NULL, K, b);
        cr_assert_eq(na, nb);
        for (int i = 0; i < na; i++)
            cr_assert_eq(a[i].track, b[i].track, "user %d rank %d", u, i);
        /* A request excluding one of the listed tracks still gets a full, right list. */
        na = ranked(m, u, true, &a[0].track, K, a);
        nb = ranked(m, u, false, &b[0].track, K, b);
        cr_assert_eq(na, nb);
        for (int i = 0; i < na; i++)
            cr_assert_eq(a[i].track, b[i].track, "user %d rank %d after exclusion", u, i);
        /* Longer than the precomputed lists: the catalog is scored instead. */
        na = ranked(m, u, true, NULL, 40, c);
        nb = ranked(m, u, false, NULL, 40, d);
        cr_assert_eq(na, nb);
        for (int i = 0; i < na; i++)
            cr_assert_eq(c[i].track, d[i].track, "user %d rank %d of 40", u, i);
    }
    tt_model_free(m);
}

/* The factors of @m copied out: users x 16 into *X, tracks x 16 into *Y (caller frees). */
static void factors_of(const tt_model *m, float **X, float **Y)
{
    int32_t nu = m->n_users, nt = m->n_tracks;

    *X = tt_malloc((size_t)nu * 16 * sizeof(float));
    *Y = tt_malloc((size_t)nt * 16 * sizeof(float));
    for (int32_t u = 0; u < nu; u++)
        memcpy(*X + (size_t)u * 16, tt_als_user_vector(m, u), 16 * sizeof(float));
    for (int32_t t = 0; t < nt; t++)
        memcpy(*Y + (size_t)t * 16, tt_als_track_vector(m, t), 16 * sizeof(float));
}

static tt_model *from_factors(const tt_als_params *p, const float *X, const float *Y)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_als_from_factors(&ts, p, X, Y, 16, &m, &err);

    cr_assert_eq(rc, 0, "from factors: %s", tt_err_msg(&err, rc));
    return m;
}

/*
 * A trained model's own factors give the model training returned, byte for byte: lists
 * (the precomputed ones and scoring the catalog), similar tracks, fold-in, track norms.
 */
Test(als, a_model_from_trained_factors_equals_the_trained_model)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p), *f;
    int32_t nu = tt_dataset_n_users(ds), nt = tt_dataset_n_tracks(ds);
    const float *na, *nb;
    float *X, *Y;
    int ka, kb;

    factors_of(m, &X, &Y);
    f = from_factors(&p, X, Y);
    cr_assert_eq(f->catalog, m->catalog);
    cr_assert_eq(f->n_users, nu);
    cr_assert_eq(f->n_tracks, nt);
    cr_assert_eq(tt_als_factors(f), 16);
    for (int32_t u = 0; u < nu; u++) {
        tt_scored a[K], b[K], c[40], d[40];
        int n1 = ranked(m, u, true, NULL, K, a), n2 = ranked(f, u, true, NULL, K, b);
        cr_assert_eq(n1, n2);
        cr_assert_eq(memcmp(a, b, (size_t)n1 * sizeof(tt_scored)), 0, "user %d differs", u);
        n1 = ranked(m, u, false, NULL, 40, c);
        n2 = ranked(f, u, false, NULL, 40, d);
        cr_assert_eq(n1, n2);
        cr_assert_eq(memcmp(c, d, (size_t)n1 * sizeof(tt_scored)), 0, "user %d (40) differs", u);
    }
    for (int32_t t = 0; t < nt; t += 5) {
        tt_scored a[K], b[K];
        int n1 = 0, n2 = 0;
        cr_assert_eq(tt_model_similar(m, t, K, a, &n1, NULL), 0);
        cr_assert_eq(tt_model_similar(f, t, K, b, &n2, NULL), 0);
        cr_assert_eq(n1, n2);
        cr_assert_eq(memcmp(a, b, (size_t)n1 * sizeof(tt_scored)), 0, "track %d differs", t);
    }
    tt_als_track_factors(m, &ka, &na);
    tt_als_track_factors(f, &kb, &nb);
    cr_assert_eq(memcmp(na, nb, (size_t)nt * sizeof(float)), 0, "track norms differ");
    for (int32_t u = 0; u < nu; u += 11) {
        const int32_t *pos;
        const float *r;
        int32_t n = fx_row(&ts.conf, u, &pos, &r);
        float xa[16], xb[16];
        cr_assert_eq(tt_als_fold_in(m, pos, r, n, xa, NULL), 0);
        cr_assert_eq(tt_als_fold_in(f, pos, r, n, xb, NULL), 0);
        cr_assert_eq(memcmp(xa, xb, sizeof(xa)), 0, "fold-in of user %d differs", u);
    }
    free(X);
    free(Y);
    tt_model_free(f);
    tt_model_free(m);
}

/* Users without factors (zero rows) are folded in from their history, as new listeners are. */
Test(als, a_user_without_factors_is_folded_in)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p), *f;
    tt_scored a[K], b[K];
    tt_query q = {.user = 5};
    int n1 = 0, n2 = 0;
    float *X, *Y;

    factors_of(m, &X, &Y);
    memset(X + 5 * 16, 0, 16 * sizeof(float));
    f = from_factors(&p, X, Y);
    cr_assert(f->ops->knows_user != NULL);
    cr_assert_not(f->ops->knows_user(f, 5), "a zero row is not a known user");
    cr_assert(f->ops->knows_user(f, 6));
    q.n_hist = fx_row(&ts.conf, 5, &q.hist, &q.hist_conf);
    q.n_exclude = fx_row(&ts.seen, 5, &q.exclude, NULL);
    cr_assert_eq(tt_model_recommend(m, &q, K, a, &n1, NULL), 0);
    cr_assert_eq(tt_model_recommend(f, &q, K, b, &n2, NULL), 0);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(a, b, (size_t)n1 * sizeof(tt_scored)), 0,
                 "fold-in uses the track factors only");
    free(X);
    free(Y);
    tt_model_free(f);
    tt_model_free(m);
}

Test(als, factors_that_are_not_finite_or_out_of_range_are_refused)
{
    tt_als_params p = fx_als_params();
    tt_model *m = train(&p), *f = NULL;
    tt_err err = {0};
    float *X, *Y;

    factors_of(m, &X, &Y);
    Y[7 * 16 + 3] = NAN;
    cr_assert_eq(tt_als_from_factors(&ts, &p, X, Y, 16, &f, &err), TT_EINVAL);
    cr_assert_null(f);
    cr_assert(strstr(err.message, "finite"), "%s", err.message);
    Y[7 * 16 + 3] = 0.5f;
    X[2] = INFINITY;
    cr_assert_eq(tt_als_from_factors(&ts, &p, X, Y, 16, &f, NULL), TT_EINVAL);
    X[2] = 0.5f;
    tt_err_clear(&err);
    cr_assert_eq(tt_als_from_factors(&ts, &p, X, Y, 0, &f, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "factors");
    tt_err_clear(&err);
    p.alpha = -1.0f;
    cr_assert_eq(tt_als_from_factors(&ts, &p, X, Y, 16, &f, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "alpha");
    cr_assert_null(f);
    free(X);
    free(Y);
    tt_model_free(m);
}
