/*
 * ALS restarts: a model of several seeded factorizations scores their mean, folds new
 * listeners in restart by restart exactly as training solved its users, keeps its restarts
 * through a file and through factors exported and imported, and refuses what it cannot be.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/model.h"

#define R 3
#define F 8

static tt_dataset *ds;
static tt_train_set ts;

static void setup(void)
{
    ds = fx_taste_groups(4, 30, 40, 15, 11);
    fx_train_set(ds, &ts);
}

static void teardown(void)
{
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

TestSuite(als_restarts, .init = setup, .fini = teardown);

static tt_als_params params(int restarts)
{
    tt_als_params p = fx_als_params();

    p.factors = F;
    p.restarts = restarts;
    return p;
}

static tt_model *train(const tt_als_params *p)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_als_train(&ts, p, &m, &err);

    cr_assert_eq(rc, 0, "training failed: %s", tt_err_msg(&err, rc));
    return m;
}

static double dotd(const float *a, const float *b, int k)
{
    double s = 0.0;
    for (int i = 0; i < k; i++)
        s += (double)a[i] * b[i];
    return s;
}

/*
 * Restart r is the single factorization of seed + r, side by side with the others: its track
 * block bit for bit, its user block divided by R, so every score is the restarts' mean.
 */
Test(als_restarts, a_model_scores_the_mean_of_its_seeded_factorizations)
{
    tt_als_params p = params(R);
    tt_model *m = train(&p), *one[R];
    int32_t nu = tt_dataset_n_users(ds), nt = tt_dataset_n_tracks(ds);
    tt_als_params got;
    double worst = 0.0;

    cr_assert_eq(tt_als_factors(m), R * F);
    cr_assert_eq(tt_als_params_of(m, &got, NULL), 0);
    cr_assert_eq(got.factors, F);
    cr_assert_eq(got.restarts, R);
    for (int r = 0; r < R; r++) {
        tt_als_params q = params(1);
        q.seed = p.seed + (uint64_t)r;
        one[r] = train(&q);
        for (int32_t t = 0; t < nt; t++)
            cr_assert_eq(memcmp(tt_als_track_vector(m, t) + r * F, tt_als_track_vector(one[r], t),
                                F * sizeof(float)),
                         0, "restart %d, track %d: not the factorization of seed + %d", r, t, r);
    }
    /* Restarts differ: averaging them is not averaging one model three times. */
    cr_assert_neq(memcmp(tt_als_track_vector(one[0], 0), tt_als_track_vector(one[1], 0),
                         F * sizeof(float)),
                  0);
    for (int32_t u = 0; u < nu; u++)
        for (int32_t t = 0; t < nt; t++) {
            double mean = 0.0, s = dotd(tt_als_user_vector(m, u), tt_als_track_vector(m, t), R * F);
            for (int r = 0; r < R; r++)
                mean += dotd(tt_als_user_vector(one[r], u), tt_als_track_vector(one[r], t), F) / R;
            if (fabs(s - mean) > worst)
                worst = fabs(s - mean);
        }
    cr_assert(worst < 1e-6, "a score is %.2e away from the restarts' mean", worst);
    for (int r = 0; r < R; r++)
        tt_model_free(one[r]);
    tt_model_free(m);
}

/*
 * With exact solves and a converged model, folding a training user in from their own raw
 * positives lands on their stored vector: one solve per restart against that restart's
 * track factors and Gram matrix, divided by R as training divides.
 */
Test(als_restarts, fold_in_equals_the_training_solve_of_every_restart)
{
    tt_als_params p = params(R);
    tt_model *m;
    float x[R * F];
    double worst = 0.0;

    p.cg_steps = 0;
    p.iterations = 800;
    p.regularization = 0.5f;
    p.reg_exponent = 0.5f;
    m = train(&p);
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u++) {
        const int32_t *pos;
        const float *r;
        int32_t np = fx_row(&ts.conf, u, &pos, &r);
        const float *want = tt_als_user_vector(m, u);
        double d = 0.0, n = 0.0;
        tt_err err = {0};

        cr_assert_eq(tt_als_fold_in(m, pos, r, np, x, &err), 0, "%s", err.message);
        for (int i = 0; i < R * F; i++) {
            d += ((double)x[i] - want[i]) * ((double)x[i] - want[i]);
            n += (double)want[i] * want[i];
        }
        if (sqrt(d / n) > worst)
            worst = sqrt(d / n);
    }
    cr_assert(worst < 1e-3, "a user folds in %.2e away from the training solve", worst);
    tt_model_free(m);
}

static void fold_in(const tt_model *m, int32_t u, float *x)
{
    const int32_t *pos;
    const float *r;
    int32_t np = fx_row(&ts.conf, u, &pos, &r);

    cr_assert_eq(tt_als_fold_in(m, pos, r, np, x, NULL), 0);
}

Test(als_restarts, a_saved_model_keeps_its_restarts)
{
    tt_als_params p = params(R), got;
    tt_model *m = train(&p), *l = NULL;
    char dir[64], path[256];
    tt_err err = {0};
    float xa[R * F], xb[R * F];
    int rc;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "als.ttm");
    rc = tt_model_save(m, path, &err);
    if (rc == 0)
        rc = tt_model_load(path, tt_catalog_checksum(ds), &l, &err);
    fx_rmtree(dir);
    cr_assert_eq(rc, 0, "save and load: %s", tt_err_msg(&err, rc));
    cr_assert_eq(tt_als_factors(l), R * F);
    cr_assert_eq(tt_als_params_of(l, &got, NULL), 0);
    cr_assert_eq(got.restarts, R);
    cr_assert_eq(got.factors, F);
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u += 7) {
        fold_in(m, u, xa);
        fold_in(l, u, xb);
        cr_assert_eq(memcmp(xa, xb, sizeof(xa)), 0, "fold-in of user %d differs after loading", u);
    }
    tt_model_free(l);
    /* A file whose restarts do not divide its factors, or are out of range, is refused. */
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "als.ttm");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set(path, "restarts", 5);
    fx_expect_model_refused(path, "'restarts'");
    fx_meta_set(path, "restarts", 0);
    fx_expect_model_refused(path, "'restarts'");
    fx_rmtree(dir);
    tt_model_free(m);
}

/* Exported factors (user blocks already divided) imported with their restarts: the same model. */
Test(als_restarts, factors_imported_with_their_restarts_make_the_same_model)
{
    tt_als_params p = params(R);
    tt_model *m = train(&p), *f = NULL;
    int32_t nu = tt_dataset_n_users(ds), nt = tt_dataset_n_tracks(ds);
    float *X = tt_malloc((size_t)nu * R * F * sizeof(float));
    float *Y = tt_malloc((size_t)nt * R * F * sizeof(float)), xa[R * F], xb[R * F];
    tt_err err = {0};

    for (int32_t u = 0; u < nu; u++)
        memcpy(X + (size_t)u * R * F, tt_als_user_vector(m, u), R * F * sizeof(float));
    for (int32_t t = 0; t < nt; t++)
        memcpy(Y + (size_t)t * R * F, tt_als_track_vector(m, t), R * F * sizeof(float));
    cr_assert_eq(tt_als_from_factors(&ts, &p, X, Y, R * F, &f, &err), 0, "%s", err.message);
    for (int32_t u = 0; u < nu; u += 5) {
        fold_in(m, u, xa);
        fold_in(f, u, xb);
        cr_assert_eq(memcmp(xa, xb, sizeof(xa)), 0, "fold-in of user %d differs", u);
    }
    tt_model_free(f);
    f = NULL;
    /* 24 factors are not 5 restarts of equal size. */
    p.restarts = 5;
    cr_assert_eq(tt_als_from_factors(&ts, &p, X, Y, R * F, &f, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "restarts");
    cr_assert_null(f);
    free(X);
    free(Y);
    tt_model_free(m);
}

/* Restarts beyond 1024 dimensions are not trained, and the model says how many were. */
Test(als_restarts, a_model_averages_as_many_restarts_as_fit_in_1024_dimensions)
{
    tt_als_params p = params(3), got;
    tt_model *m;

    p.factors = 400;
    p.iterations = 1;
    m = train(&p);
    cr_assert_eq(tt_als_factors(m), 800);
    cr_assert_eq(tt_als_params_of(m, &got, NULL), 0);
    cr_assert_eq(got.restarts, 2);
    cr_assert_eq(got.factors, 400);
    tt_model_free(m);
}

/* 0, the default, is three restarts on data of up to 2M positive pairs and one above. */
Test(als_restarts, the_default_averages_three_on_small_data_and_one_on_large)
{
    tt_als_params p = tt_als_params_default(), got;
    tt_model *m;

    cr_assert_eq(p.restarts, 0);
    cr_assert_eq(tt_als_restarts_for(&p, TT_ALS_AUTO_RESTARTS_PAIRS), 3);
    cr_assert_eq(tt_als_restarts_for(&p, TT_ALS_AUTO_RESTARTS_PAIRS + 1), 1);
    p.factors = 512;
    cr_assert_eq(tt_als_restarts_for(&p, 1000), 2, "at most 1024 dimensions");
    p.restarts = 5;
    p.factors = 64;
    cr_assert_eq(tt_als_restarts_for(&p, INT64_C(100000000)), 5, "as asked, whatever the data");
    p = params(0);
    m = train(&p);
    cr_assert_eq(tt_als_params_of(m, &got, NULL), 0);
    cr_assert_eq(got.restarts, 3);
    cr_assert_eq(tt_als_factors(m), 3 * F);
    tt_model_free(m);
}

Test(als_restarts, what_restarts_cannot_be_is_refused)
{
    tt_als_params p = params(-1);
    tt_model *m = NULL, *out = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_als_train(&ts, &p, &m, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "restarts");
    p.restarts = 1025;
    cr_assert_eq(tt_als_train(&ts, &p, &m, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "restarts");
    cr_assert_null(m);
    /* Only a single factorization continues. */
    p = params(R);
    p.iterations = 2;
    m = train(&p);
    cr_assert_eq(tt_als_train_more(&ts, &p, m, &out, &err), TT_EINVAL);
    cr_assert_null(out);
    tt_model_free(m);
}
