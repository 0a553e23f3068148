/*
 * The free tier's blend of ALS and EASE: the weight search recovers a planted weight (and a
 * planted popularity weight, and gives popularity that says nothing no weight), the
 * learned model ranks from both parts with fresh feedback folded in, model files round-trip
 * and are refused when damaged or given the wrong parts.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/blend.h"
#include "tt/core.h"
#include "tt/models.h"

#define K 10

static char dir[64];
static char path[256];

static void setup_dir(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "blend.ttm");
}

static void teardown_dir(void)
{
    fx_rmtree(dir);
}

/* ---- the weight search on planted data ---- */

/* Marks in @rel (60 candidates) the 5 of the highest score @s. */
static void mark_best(uint8_t *rel, const float *s)
{
    for (int r = 0; r < 5; r++) {
        int best = -1;
        for (int j = 0; j < 60; j++)
            if (!rel[j] && (best < 0 || s[j] > s[best]))
                best = j;
        rel[best] = 1;
    }
}

/* Marks 5 of each user's 60 candidates as relevant at random, apart from every score. */
static void draw_relevance(tt_blend_vuser *u, int n, tt_rng *rng)
{
    for (int i = 0; i < n; i++) {
        memset(u[i].rel, 0, 60);
        for (int r = 0; r < 5;) {
            int j = (int)tt_rng_below(rng, 60);
            if (!u[i].rel[j]) {
                u[i].rel[j] = 1;
                r++;
            }
        }
    }
}

/*
 * @n users of 60 candidates with random (z_als, z_ease); each user's relevant candidates are
 * the 5 best under @w z_als + (1 - @w) z_ease. Deterministic.
 */
static tt_blend_vuser *planted(int n, float w)
{
    tt_blend_vuser *u = calloc((size_t)n, sizeof(*u));
    tt_rng rng;

    tt_rng_seed(&rng, 5, 3);
    for (int i = 0; i < n; i++) {
        float s[60];
        u[i].n_cand = 60;
        u[i].n_rel = 5;
        u[i].z = calloc(120, sizeof(float));
        u[i].rel = calloc(60, 1);
        for (int j = 0; j < 60; j++) {
            u[i].z[2 * j] = (float)tt_rng_normal(&rng);
            u[i].z[2 * j + 1] = (float)tt_rng_normal(&rng);
            s[j] = w * u[i].z[2 * j] + (1.0f - w) * u[i].z[2 * j + 1];
        }
        mark_best(u[i].rel, s);
    }
    return u;
}

static void free_planted(tt_blend_vuser *u, int n)
{
    for (int i = 0; i < n; i++) {
        free(u[i].z);
        free(u[i].rel);
    }
    free(u);
}

static void recovers(float w)
{
    tt_blend_vuser *u = planted(300, w);
    tt_blend_fit fit = {0};

    tt_blend_search(u, 300, 5, 0.05, false, &fit);
    cr_assert(fabsf(fit.w_als - w) <= 0.1f + 1e-6f, "planted %.2f, found %.2f", w, fit.w_als);
    cr_assert_gt(fit.ndcg, 0.9, "the planted blend ranks its relevant tracks: %f", fit.ndcg);
    cr_assert_geq(fit.ndcg, fit.als_ndcg);
    cr_assert_geq(fit.ndcg, fit.ease_ndcg);
    cr_assert_eq(fit.k, 5);
    free_planted(u, 300);
}

Test(blend_search, recovers_a_planted_weight_mostly_ease)
{
    recovers(0.3f);
}

Test(blend_search, recovers_a_planted_weight_mostly_als)
{
    recovers(0.75f);
}

/*
 * The cross-fitted figure: with a real planted weight it is close to the in-hindsight one and
 * above either part alone; when nothing links the scores to the held-out tracks, the best
 * weight in hindsight is a lucky draw that the cross-fitted figure does not repeat.
 */
Test(blend_search, cross_fitted_figure_keeps_real_gains_and_drops_lucky_ones)
{
    tt_blend_vuser *u = planted(300, 0.5f);
    tt_blend_fit fit = {0};
    tt_rng rng;

    tt_blend_search(u, 300, 5, 0.05, false, &fit);
    cr_assert(isfinite(fit.cv_ndcg));
    cr_assert(fit.cv_ndcg > fmax(fit.als_ndcg, fit.ease_ndcg) + 0.1, "cv %f, ALS %f, EASE %f",
              fit.cv_ndcg, fit.als_ndcg, fit.ease_ndcg);
    cr_assert(fabs(fit.cv_ndcg - fit.ndcg) < 0.02, "cv %f vs %f", fit.cv_ndcg, fit.ndcg);

    tt_rng_seed(&rng, 9, 1);
    draw_relevance(u, 300, &rng);
    tt_blend_search(u, 300, 5, 0.05, false, &fit);
    cr_assert_lt(fit.cv_ndcg, fit.ndcg, "cv %f, in hindsight %f", fit.cv_ndcg, fit.ndcg);
    free_planted(u, 300);
}

Test(blend_search, too_few_users_to_cross_fit)
{
    tt_blend_vuser *u = planted(5, 0.5f);
    tt_blend_fit fit = {0};

    tt_blend_search(u, 5, 5, 0.05, false, &fit);
    cr_assert(isnan(fit.cv_ndcg));
    free_planted(u, 5);
}

Test(blend_search, recovers_each_part_alone)
{
    recovers(0.0f);
    recovers(1.0f);
}

/*
 * @n users of 60 candidates with random (z_als, z_ease, popularity); each user's relevant
 * candidates are the 5 best under @w z_als + (1 - @w) z_ease + @wp popularity, or, when
 * @wp is 0, under the parts alone with a popularity that has nothing to do with them.
 */
static tt_blend_vuser *planted_pop(int n, float w, float wp)
{
    tt_blend_vuser *u = planted(n, 0.5f);
    tt_rng rng;

    tt_rng_seed(&rng, 11, 4);
    for (int i = 0; i < n; i++) {
        float s[60];
        u[i].pop = calloc(60, sizeof(float));
        memset(u[i].rel, 0, 60);
        for (int j = 0; j < 60; j++) {
            u[i].pop[j] = (float)tt_rng_normal(&rng);
            s[j] = w * u[i].z[2 * j] + (1.0f - w) * u[i].z[2 * j + 1] + wp * u[i].pop[j];
        }
        mark_best(u[i].rel, s);
    }
    return u;
}

static void free_planted_pop(tt_blend_vuser *u, int n)
{
    for (int i = 0; i < n; i++)
        free(u[i].pop);
    free_planted(u, n);
}

Test(blend_search, recovers_a_planted_popularity_weight)
{
    tt_blend_vuser *u = planted_pop(300, 0.6f, -0.5f);
    tt_blend_fit fit = {0};

    tt_blend_search(u, 300, 5, 0.05, true, &fit);
    cr_assert(fabsf(fit.w_pop + 0.5f) <= 0.2f + 1e-6f, "planted -0.5, found %.2f", fit.w_pop);
    cr_assert(fabsf(fit.w_als - 0.6f) <= 0.1f + 1e-6f, "planted 0.6, found %.2f", fit.w_als);
    cr_assert_gt(fit.ndcg, fit.ndcg_no_pop + 0.05, "with %f, without %f", fit.ndcg,
                 fit.ndcg_no_pop);
    cr_assert_gt(fit.cv_ndcg, fit.ndcg_no_pop + 0.05, "cross-fitted %f", fit.cv_ndcg);
    cr_assert_gt(fit.cv_ndcg, fit.cv_ndcg_no_pop + 0.05, "cross-fitted %f, without the term %f",
                 fit.cv_ndcg, fit.cv_ndcg_no_pop);
    /* The parts alone are judged without the term: it is the blend's. */
    cr_assert_lt(fit.als_ndcg, fit.ndcg_no_pop + 1e-9);
    cr_assert_lt(fit.ease_ndcg, fit.ndcg_no_pop + 1e-9);

    /* Asked not to, the search leaves popularity out. */
    tt_blend_search(u, 300, 5, 0.05, false, &fit);
    cr_assert_eq(fit.w_pop, 0.0f);
    cr_assert_eq(fit.ndcg, fit.ndcg_no_pop);
    free_planted_pop(u, 300);
}

Test(blend_search, popularity_that_says_nothing_gets_no_weight)
{
    tt_blend_vuser *u = planted_pop(300, 0.3f, 0.0f);
    tt_blend_fit fit = {0};

    tt_blend_search(u, 300, 5, 0.05, true, &fit);
    cr_assert_eq(fit.w_pop, 0.0f, "found %.2f for a popularity of noise", fit.w_pop);
    cr_assert_eq(fit.ndcg, fit.ndcg_no_pop);
    cr_assert(fabsf(fit.w_als - 0.3f) <= 0.1f + 1e-6f, "planted 0.3, found %.2f", fit.w_als);
    cr_assert(fit.cv_ndcg <= fit.ndcg + 1e-9);
    free_planted_pop(u, 300);
}

/*
 * When nothing links the scores or the popularity to the held-out tracks, whatever
 * popularity weight the search finds in hindsight is luck: it is kept only if the search
 * with it also wins on listeners it was not chosen on, which luck rarely does.
 */
Test(blend_search, a_lucky_popularity_weight_is_dropped)
{
    int dropped = 0;

    for (uint64_t seed = 1; seed <= 8; seed++) {
        tt_blend_vuser *u = planted_pop(120, 0.5f, 0.0f);
        tt_blend_fit fit = {0};
        tt_rng rng;

        tt_rng_seed(&rng, seed, 2);
        draw_relevance(u, 120, &rng);
        tt_blend_search(u, 120, 5, 0.05, true, &fit);
        cr_assert(fit.w_pop == 0.0f || fit.cv_ndcg > fit.cv_ndcg_no_pop,
                  "seed %d: kept %.1f with cross-fitted %f against %f without", (int)seed,
                  fit.w_pop, fit.cv_ndcg, fit.cv_ndcg_no_pop);
        if (fit.w_pop == 0.0f && fit.ndcg == fit.ndcg_no_pop)
            dropped++;
        free_planted_pop(u, 120);
    }
    cr_assert_geq(dropped, 4, "the popularity term was left out %d times of 8", dropped);
}

/* ---- the learned model ---- */

static tt_model_opts opts(void)
{
    tt_model_opts o = tt_model_opts_default();

    o.threads = 2;
    o.als.factors = 8;
    o.als.iterations = 6;
    o.ease.lambda = 10.0f;
    o.ease.min_listeners = 1;
    return o;
}

static tt_model *train(const tt_train_set *ts)
{
    tt_model_opts o = opts();
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_models_train("blend", ts, &o, &m, &err);

    cr_assert_eq(rc, 0, "train: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(m->ops->kind, "blend");
    return m;
}

/* User @u's query, their training history excluded. */
static tt_query query_for(const tt_train_set *ts, int32_t u)
{
    tt_query q = {.user = u, .excludes_history = true};

    q.exclude = ts->seen.indices + ts->seen.indptr[u];
    q.n_exclude = (int32_t)tt_csr_row_nnz(&ts->seen, u);
    return q;
}

static int recommend(const tt_model *m, const tt_query *q, int k, tt_scored *out)
{
    tt_err err = {0};
    int n = 0, rc = tt_model_recommend(m, q, k, out, &n, &err);

    cr_assert_eq(rc, 0, "recommend: %s", tt_err_msg(&err, rc));
    return n;
}

Test(blend, learns_a_weight_in_range_and_ranks_unheard_tracks)
{
    tt_dataset *ds = fx_taste_groups(3, 20, 30, 12, 4);
    tt_train_set ts;
    tt_model *m;
    tt_blend_fit fit;
    tt_scored out[K];

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert(tt_blend_fit_of(m, &fit));
    cr_assert(fit.w_als >= 0.0f && fit.w_als <= 1.0f);
    cr_assert_gt(fit.users, 0);
    cr_assert_eq(fit.folds, 3, "a small catalog validates on every fold: %d", fit.folds);
    cr_assert_geq(fit.ndcg, fit.als_ndcg);
    cr_assert_geq(fit.ndcg, fit.ease_ndcg);
    for (int32_t u = 0; u < ts.conf.rows; u++) {
        tt_query q = query_for(&ts, u);
        int n = recommend(m, &q, K, out);
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++)
            cr_assert(!fx_contains(q.exclude, q.n_exclude, out[i].track),
                      "user %d got heard track %d", u, out[i].track);
    }
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

/*
 * A listener's ranking is one ordering, whatever the request: excluding the first tracks of
 * a list moves the rest up in the same order, and a shorter list is a prefix of a longer one
 * (each part is scaled by the listener's moments over the whole catalog, not over the
 * request's candidates, which the exclusions and the length change).
 */
Test(blend, exclusions_and_lengths_do_not_reorder_a_listener)
{
    tt_dataset *ds = fx_taste_groups(3, 20, 30, 12, 4);
    tt_train_set ts;
    tt_model *m;
    tt_scored full[40], shifted[40], shorter[10];
    int32_t excl[256];

    fx_train_set(ds, &ts);
    m = train(&ts);
    for (int32_t u = 0; u < ts.conf.rows; u++) {
        tt_query q = query_for(&ts, u);
        int n = recommend(m, &q, 20, full), ns, nk, ne = 0;
        cr_assert_eq(n, 20);
        nk = recommend(m, &q, 10, shorter);
        for (int i = 0; i < nk; i++)
            cr_assert_eq(shorter[i].track, full[i].track, "user %d: top 10 is not the top 20's "
                         "prefix at %d", u, i);
        cr_assert_lt(q.n_exclude + 5, 256);
        for (int32_t i = 0; i < q.n_exclude; i++)
            excl[ne++] = q.exclude[i];
        for (int i = 0; i < 5; i++)
            excl[ne++] = full[i].track;
        qsort(excl, (size_t)ne, sizeof(int32_t), cmp_i32);
        q.exclude = excl;
        q.n_exclude = ne;
        ns = recommend(m, &q, 15, shifted);
        cr_assert_eq(ns, 15);
        for (int i = 0; i < ns; i++)
            cr_assert_eq(shifted[i].track, full[i + 5].track,
                         "user %d: with the top 5 excluded, place %d is %d, not %d", u, i,
                         shifted[i].track, full[i + 5].track);
    }
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* A listener of one group who just played three tracks of another gets that group's tracks. */
Test(blend, folds_in_fresh_feedback)
{
    tt_dataset *ds = fx_taste_groups(3, 20, 30, 12, 8);
    tt_train_set ts;
    tt_model *m;
    tt_scored out[K];
    int32_t hist[3], u = 0;
    float conf[3] = {4.0f, 4.0f, 4.0f};
    int g_user, other, n, same = 0;
    tt_query q = {.user = -1, .hist = hist, .hist_conf = conf, .n_hist = 3};

    fx_train_set(ds, &ts);
    m = train(&ts);
    g_user = fx_user_group(ds, u);
    other = (g_user + 1) % 3;
    for (int32_t t = 0, c = 0; t < ts.conf.cols && c < 3; t++)
        if (fx_track_group(ds, t) == other)
            hist[c++] = t;
    q.exclude = hist;
    q.n_exclude = 3;
    n = recommend(m, &q, K, out);
    cr_assert_eq(n, K);
    for (int i = 0; i < n; i++)
        same += fx_track_group(ds, out[i].track) == other;
    cr_assert_geq(same, K * 7 / 10, "only %d of %d from the fresh history's group", same, K);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- files ---- */

static void parts_of(const tt_train_set *ts, tt_model **als, tt_model **ease)
{
    tt_model_opts o = opts();
    tt_err err = {0};

    cr_assert_eq(tt_models_train("als", ts, &o, als, &err), 0, "%s", err.message);
    cr_assert_eq(tt_models_train("ease", ts, &o, ease, &err), 0, "%s", err.message);
}

Test(blend_file, round_trips_the_weight_and_answers, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_taste_groups(3, 20, 30, 12, 9);
    tt_train_set ts;
    tt_model *m, *loaded = NULL, *als, *ease;
    tt_blend_fit a, b;
    tt_scored x[K], y[K];
    tt_err err = {0};
    tt_query q;
    int n = 0;

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert_eq(tt_model_save(m, path, &err), 0, "%s", err.message);
    cr_assert_eq(tt_model_load(path, tt_catalog_checksum(ds), &loaded, &err), 0, "%s",
                 err.message);
    cr_assert_str_eq(loaded->ops->kind, "blend");
    cr_assert(tt_blend_fit_of(m, &a));
    cr_assert(tt_blend_fit_of(loaded, &b));
    cr_assert_eq(a.w_als, b.w_als);
    cr_assert_eq(a.w_pop, b.w_pop);
    cr_assert_eq(a.ndcg_no_pop, b.ndcg_no_pop);
    cr_assert_eq(a.ndcg, b.ndcg);
    cr_assert_eq(a.als_ndcg, b.als_ndcg);
    cr_assert(a.cv_ndcg == b.cv_ndcg || (isnan(a.cv_ndcg) && isnan(b.cv_ndcg)));
    cr_assert(a.cv_ndcg_no_pop == b.cv_ndcg_no_pop ||
              (isnan(a.cv_ndcg_no_pop) && isnan(b.cv_ndcg_no_pop)));
    cr_assert_eq(a.users, b.users);
    q = query_for(&ts, 5);
    /* Without parts the loaded model cannot rank, and says so. */
    cr_assert_eq(tt_model_recommend(loaded, &q, K, y, &n, &err), TT_ESTATE);
    parts_of(&ts, &als, &ease);
    cr_assert_eq(tt_blend_attach(loaded, als, ease, true, &err), 0, "%s", err.message);
    cr_assert_eq(recommend(m, &q, K, x), recommend(loaded, &q, K, y));
    for (int i = 0; i < K; i++)
        cr_assert_eq(x[i].track, y[i].track, "rank %d: %d vs %d", i, x[i].track, y[i].track);
    tt_model_free(loaded);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* How many times the tracks of @out were played in @ts, summed: a list's popularity. */
static int64_t plays_of(const tt_train_set *ts, const tt_scored *out, int n)
{
    int64_t sum = 0;

    for (int i = 0; i < n; i++)
        for (int64_t e = 0; e < ts->conf.nnz; e++)
            sum += ts->conf.indices[e] == out[i].track;
    return sum;
}

/*
 * The popularity the file holds is the one served: the same file with its popularity
 * weight set to the grid's ends ranks the catalog's less played tracks higher at the low
 * end than at the high end, for every listener together.
 */
Test(blend_file, serves_the_popularity_weight_it_holds, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_taste_groups(3, 20, 30, 12, 9);
    tt_train_set ts;
    tt_model *m, *low = NULL, *high = NULL, *als, *ease, *als2, *ease2;
    tt_blend_fit fit;
    tt_err err = {0};
    char other[300];
    int64_t low_plays = 0, high_plays = 0;

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert_eq(tt_model_save(m, path, &err), 0, "%s", err.message);
    fx_path(other, sizeof(other), dir, "blend-high.ttm");
    cr_assert_eq(tt_model_save(m, other, &err), 0, "%s", err.message);
    fx_meta_set_f64(path, "w_pop", TT_BLEND_POP_MIN);
    fx_meta_set_f64(other, "w_pop", TT_BLEND_POP_MAX);
    cr_assert_eq(tt_model_load(path, tt_catalog_checksum(ds), &low, &err), 0, "%s", err.message);
    cr_assert_eq(tt_model_load(other, tt_catalog_checksum(ds), &high, &err), 0, "%s",
                 err.message);
    cr_assert(tt_blend_fit_of(low, &fit));
    cr_assert_eq(fit.w_pop, (float)TT_BLEND_POP_MIN);
    parts_of(&ts, &als, &ease);
    parts_of(&ts, &als2, &ease2);
    cr_assert_eq(tt_blend_attach(low, als, ease, true, &err), 0, "%s", err.message);
    cr_assert_eq(tt_blend_attach(high, als2, ease2, true, &err), 0, "%s", err.message);
    for (int32_t u = 0; u < ts.conf.rows; u++) {
        tt_query q = query_for(&ts, u);
        tt_scored x[K], y[K];
        low_plays += plays_of(&ts, x, recommend(low, &q, K, x));
        high_plays += plays_of(&ts, y, recommend(high, &q, K, y));
    }
    cr_assert_lt(low_plays, high_plays, "lists' plays: %lld leaning against popularity, %lld "
                 "towards it", (long long)low_plays, (long long)high_plays);

    /* Out of range is refused, naming the file. */
    tt_model_free(low);
    low = NULL;
    fx_meta_set_f64(path, "w_pop", -5.0);
    cr_assert_eq(tt_model_load(path, 0, &low, &err), TT_ECORRUPT);
    cr_assert(strstr(err.message, path) != NULL, "%s", err.message);
    tt_model_free(high);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(blend_file, refuses_parts_of_the_wrong_kind)
{
    tt_dataset *ds = fx_taste_groups(2, 15, 20, 10, 2);
    tt_train_set ts;
    tt_model *m, *als, *ease;
    tt_err err = {0};

    fx_train_set(ds, &ts);
    m = train(&ts);
    parts_of(&ts, &als, &ease);
    cr_assert_eq(tt_blend_attach(m, ease, als, false, &err), TT_EINVAL);
    cr_assert_eq(tt_blend_attach(m, als, NULL, false, &err), TT_EINVAL);
    cr_assert_eq(tt_blend_attach(als, als, ease, false, &err), TT_EINVAL);
    tt_model_free(als);
    tt_model_free(ease);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(blend_file, refuses_a_damaged_file, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_taste_groups(2, 15, 20, 10, 4);
    tt_train_set ts;
    tt_model *m, *loaded = NULL;
    tt_err err = {0};
    int64_t size;

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert_eq(tt_model_save(m, path, &err), 0);
    size = fx_file_size(path);
    fx_flip_byte(path, size / 2, 0x40);
    cr_assert_eq(tt_model_load(path, 0, &loaded, &err), TT_ECORRUPT);
    cr_assert_null(loaded);
    cr_assert(strstr(err.message, path) != NULL, "message should name the file: %s",
              err.message);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}
