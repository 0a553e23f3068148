/*
 * Self-tuning (tt_tune_model): on data built so that one setting is clearly right, the
 * search finds it and never reports a choice worse than the defaults on its own validation
 * split, which it cuts from the events it is given and nothing else: poisoning the held-out
 * events of an evaluation split changes nothing it does. EASE's line search moves the right
 * way; the halving continues the best of each rung; the same data gives the same search
 * (the automatic budget counts work, not seconds) and a budget in seconds caps it; the
 * report has its documented fields; a job that names parameters trains with them untuned.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/generate.h"
#include "tt/pipeline.h"
#include "tt/store.h"

TestSuite(tune, .timeout = 60);

#define GROUPS 8
#define TRACKS_PER_GROUP 25
#define OWN_PLAYS 12

/*
 * Listeners in taste groups: each of @per_group users of a group plays OWN_PLAYS
 * distinct tracks of its group's TRACKS_PER_GROUP and two tracks of other groups. With
 * @obsessions the two stray tracks are played 10^4..10^5 times and the group's tracks
 * 1..3 times, so raw play counts (linear scaling) weigh noise above taste; without, every
 * play counts once (binary weights).
 */
static tt_dataset *taste_data(int per_group, bool obsessions)
{
    tt_dataset *ds = tt_dataset_new();
    char u[32], t[32];
    tt_rng rng;

    for (int i = 0; i < GROUPS * TRACKS_PER_GROUP; i++) {
        snprintf(t, sizeof(t), "t%03d", i);
        fx_add_track(ds, t, "artist", NULL);
    }
    tt_rng_seed(&rng, 1, 3);
    for (int g = 0; g < GROUPS; g++)
        for (int k = 0; k < per_group; k++) {
            int order[TRACKS_PER_GROUP];
            snprintf(u, sizeof(u), "g%d-u%03d", g, k);
            for (int i = 0; i < TRACKS_PER_GROUP; i++)
                order[i] = i;
            for (int i = 0; i < OWN_PLAYS; i++) {
                int j = i + (int)tt_rng_below(&rng, (uint64_t)(TRACKS_PER_GROUP - i));
                int x = order[i];
                float w = obsessions ? (float)(1 + tt_rng_below(&rng, 3)) : 1.0f;
                order[i] = order[j];
                order[j] = x;
                snprintf(t, sizeof(t), "t%03d", g * TRACKS_PER_GROUP + order[i]);
                fx_add_event(ds, u, t, TT_ACT_PLAY, w, FX_T0 - 100 * k - i);
            }
            for (int i = 0; i < 2; i++) {
                int og = (g + 1 + (int)tt_rng_below(&rng, GROUPS - 1)) % GROUPS;
                float w = obsessions ? (float)(10000 + tt_rng_below(&rng, 90001)) : 1.0f;
                snprintf(t, sizeof(t), "t%03d",
                         og * TRACKS_PER_GROUP + (int)tt_rng_below(&rng, TRACKS_PER_GROUP));
                fx_add_event(ds, u, t, TT_ACT_PLAY, w, FX_T0 - 100 * k - 50 - i);
            }
        }
    tt_dataset_finish(ds);
    return ds;
}

/* Defaults for small data, one thread so that every run repeats exactly. */
static tt_model_opts small_opts(void)
{
    tt_model_opts o = tt_model_opts_default();

    o.als.factors = 16;
    o.threads = 1;
    o.seed = 5;
    return o;
}

/* The validation folds of tune.c (make_fold): 10% of each listener's positives held out. */
#define FOLDS 3
#define SHARE 0.1

/* Validation fold @fold tt_tune_model cuts (tune.c make_fold) from the events @within. */
static void validation_fold(const tt_dataset *ds, const uint8_t *within, uint64_t seed, int fold,
                            tt_split *out)
{
    tt_split_params sp = tt_split_params_default();
    tt_err err = {0};

    sp.seed = (seed ^ 0x74756e65ULL) + (uint64_t)fold * 0x9e3779b97f4a7c15ULL;
    sp.holdout = SHARE;
    sp.within = within;
    cr_assert_eq(tt_split_build(ds, &sp, out, &err), 0, "%s", err.message);
}

static void validation_split(const tt_dataset *ds, const uint8_t *within, uint64_t seed,
                             tt_split *out)
{
    validation_fold(ds, within, seed, 0, out);
}

/* NDCG@20 on @split of @model trained with @o on the split's training part (a trial). */
static double validation_ndcg(const char *model, const tt_dataset *ds, const tt_split *split,
                              const tt_model_opts *o)
{
    tt_weighting w = tt_weighting_default();
    tt_model_opts t = *o;
    tt_train_set ts;
    tt_eval_scores sc;
    tt_model *m = NULL;
    tt_err err = {0};

    t.als.precompute = 0;
    t.ease.precompute = 0;
    t.als.restarts = 1; /* as the tuner's trials: one factorization each */
    tt_train_set_build(ds, split->mask, &w, &ts);
    cr_assert_eq(tt_models_train(model, &ts, &t, &m, &err), 0, "%s", err.message);
    cr_assert_eq(tt_eval_model(m, split, &ts.seen, 20, 1, &sc, &err), 0, "%s", err.message);
    tt_model_free(m);
    tt_train_set_release(&ts);
    return sc.ndcg;
}

/*
 * What a report's figures are: NDCG@20 of @model trained with @o, averaged over the first
 * @folds validation folds (tune.c chooses on that mean).
 */
static double validation_mean(const char *model, const tt_dataset *ds, const uint8_t *within,
                              uint64_t seed, int folds, const tt_model_opts *o)
{
    double sum = 0;

    for (int f = 0; f < folds; f++) {
        tt_split sp;
        validation_fold(ds, within, seed, f, &sp);
        sum += validation_ndcg(model, ds, &sp, o);
        tt_split_release(&sp);
    }
    return sum / folds;
}

static json_t *tune(const char *model, const tt_dataset *ds, const uint8_t *within,
                    const tt_model_opts *base, double budget, tt_model_opts *best)
{
    json_t *report = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_tune_model(model, ds, within, base, budget, best, &report, &err), 0, "%s",
                 err.message);
    cr_assert_not_null(report);
    return report;
}

static double num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    cr_assert(json_is_number(v), "no number '%s'", key);
    return json_number_value(v);
}

/* The choice never scores below the defaults, and differs only when it beats them. */
static void check_choice(const json_t *report)
{
    double def = num(report, "default_ndcg@20"), best = num(report, "best_ndcg@20");

    cr_assert_geq(best, def, "chosen %g below defaults %g", best, def);
    if (!json_equal(json_object_get(report, "chosen"), json_object_get(report, "defaults")))
        cr_assert_gt(best, def * 1.003 - 1e-5, "a choice within noise of the defaults (%g, %g)",
                     best, def);
}

/* The report without its timings: what must repeat exactly on the same data. */
static json_t *search_of(const json_t *report)
{
    json_t *j = json_deep_copy(report), *trial;
    size_t i;

    json_object_del(j, "seconds");
    json_array_foreach(json_object_get(j, "trials"), i, trial)
        json_object_del(trial, "seconds");
    return j;
}

/* The grid of tune.c halving(): regularization and alpha as multiples of the defaults. */
static const double reg_steps[] = {0.05, 0.25, 1.0, 2.5, 5.0};
static const double alpha_steps[] = {1.0 / 3.0, 1.0, 10.0 / 3.0};
#define NR (int)(sizeof(reg_steps) / sizeof(reg_steps[0]))
#define NA (int)(sizeof(alpha_steps) / sizeof(alpha_steps[0]))

static int folds_of(const json_t *report)
{
    return (int)json_integer_value(json_object_get(json_object_get(report, "validation"),
                                                   "folds"));
}

/*
 * The best validation NDCG@20 over the whole search grid trained at full strength (a brute
 * force), and the best among the configurations with scaling @only (-1: any).
 */
static double grid_best(const tt_dataset *ds, const tt_split *sp, const tt_model_opts *base,
                        int only)
{
    double best = 0;

    for (int ri = 0; ri < NR; ri++)
        for (int ai = 0; ai < NA; ai++)
            for (int si = 0; si < TT_ALS_N_SCALINGS; si++) {
                tt_model_opts o = *base;
                double v;
                if (only >= 0 && si != only)
                    continue;
                o.als.regularization = base->als.regularization * (float)reg_steps[ri];
                o.als.alpha = base->als.alpha * (float)alpha_steps[ai];
                o.als.scaling = (enum tt_als_scaling)si;
                v = validation_ndcg("als", ds, sp, &o);
                best = fmax(best, v);
            }
    return best;
}

static const char *chosen_str(const json_t *report, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(report, "chosen"), key));

    cr_assert_not_null(s, "no chosen %s", key);
    return s;
}

/*
 * Two stray tracks per listener played tens of thousands of times: raw counts make them
 * the listener's taste. From linear scaling the search must move to one that tames them,
 * and what it reports is what a trial on the same validation split measures.
 */
Test(tune, leaves_linear_scaling_when_play_counts_span_five_decades)
{
    tt_dataset *ds = taste_data(40, true);
    tt_model_opts base = small_opts(), best;
    tt_split sp;
    json_t *r;
    double def, got, linear, all;

    base.als.scaling = TT_ALS_LINEAR;
    r = tune("als", ds, NULL, &base, 30, &best);
    check_choice(r);
    cr_assert_neq(best.als.scaling, TT_ALS_LINEAR);
    cr_assert_str_neq(chosen_str(r, "scaling"), "linear");
    cr_assert_eq(best.als.iterations, base.als.iterations, "trial iterations leaked out");
    cr_assert_eq(best.als.restarts, base.als.restarts, "the trials' single restart leaked out");

    validation_split(ds, NULL, base.seed, &sp);
    cr_assert_eq(num(json_object_get(r, "validation"), "users"), sp.n_users);
    cr_assert_eq(folds_of(r), FOLDS);
    def = validation_mean("als", ds, NULL, base.seed, FOLDS, &base);
    got = validation_mean("als", ds, NULL, base.seed, FOLDS, &best);
    cr_assert_float_eq(def, num(r, "default_ndcg@20"), 2e-5, "defaults %g, report %g", def,
                       num(r, "default_ndcg@20"));
    cr_assert_float_eq(got, num(r, "best_ndcg@20"), 2e-5, "choice %g, report %g", got,
                       num(r, "best_ndcg@20"));
    cr_assert_gt(got, 2 * def, "choice %g, linear defaults %g", got, def);
    got = validation_ndcg("als", ds, &sp, &best);
    linear = grid_best(ds, &sp, &base, TT_ALS_LINEAR);
    all = grid_best(ds, &sp, &base, -1);
    cr_log_info("defaults %g, choice %g, best linear %g, grid best %g", def, got, linear, all);
    cr_assert_gt(got, linear, "choice %g, best linear configuration %g", got, linear);
    cr_assert_geq(got, 0.95 * all, "choice %g, best of the grid %g", got, all);
    tt_split_release(&sp);
    json_decref(r);
    tt_dataset_free(ds);
}

/* Binary plays of clean taste groups: a hundred times the default regularization smothers
 * every factor, and the search must come down. */
Test(tune, lowers_a_smothering_regularization)
{
    tt_dataset *ds = taste_data(40, false);
    tt_model_opts base = small_opts(), best;
    tt_split sp;
    json_t *r;
    double def, got, all;

    base.als.regularization *= 100;
    r = tune("als", ds, NULL, &base, 30, &best);
    check_choice(r);
    cr_assert_lt(best.als.regularization, base.als.regularization / 10);
    cr_assert_lt(num(json_object_get(r, "chosen"), "regularization"),
                 base.als.regularization / 10);

    validation_split(ds, NULL, base.seed, &sp);
    def = validation_mean("als", ds, NULL, base.seed, folds_of(r), &base);
    got = validation_mean("als", ds, NULL, base.seed, folds_of(r), &best);
    cr_assert_float_eq(got, num(r, "best_ndcg@20"), 2e-5);
    cr_assert_gt(got, 3 * def, "choice %g, defaults %g", got, def);
    got = validation_ndcg("als", ds, &sp, &best);
    all = grid_best(ds, &sp, &base, -1);
    cr_log_info("defaults %g, choice %g, grid best %g", def, got, all);
    cr_assert_geq(got, 0.95 * all, "choice %g, best of the grid %g", got, all);
    tt_split_release(&sp);
    json_decref(r);
    tt_dataset_free(ds);
}

/*
 * Defaults that are already right stay: the report's choice is the defaults unless a
 * configuration beat them by more than noise, and never scores below them.
 */
Test(tune, keeps_defaults_that_nothing_beats_by_more_than_noise)
{
    tt_dataset *ds = taste_data(40, false);
    tt_model_opts base = small_opts(), best;
    json_t *r;

    base.als.regularization = 5.0f;
    r = tune("als", ds, NULL, &base, 30, &best);
    check_choice(r);
    if (json_equal(json_object_get(r, "chosen"), json_object_get(r, "defaults")))
        cr_assert_eq(memcmp(&best.als, &base.als, sizeof(best.als)), 0);
    json_decref(r);
    tt_dataset_free(ds);
}

/* ---- the evaluation split stays unseen ---- */

/*
 * Poisons the events outside @within (@n events): each becomes a play of another group's
 * track, 10^5 times over, or a dislike. Whatever a search saw of them would change it.
 */
static void poison(tt_dataset *ds, const uint8_t *within)
{
    int32_t nt = tt_dataset_n_tracks(ds);

    for (int64_t i = 0; i < ds->n_events; i++) {
        if (within[i])
            continue;
        ds->ev_track[i] = (ds->ev_track[i] + 3 * TRACKS_PER_GROUP) % nt;
        ds->ev_weight[i] = 100000.0f;
        ds->ev_action[i] = i % 3 == 0 ? TT_ACT_DISLIKE : TT_ACT_PLAY;
    }
}

static void check_same_search(const json_t *a, const json_t *b)
{
    json_t *x = search_of(a), *y = search_of(b);
    char *sx = json_dumps(x, JSON_SORT_KEYS | JSON_COMPACT);
    char *sy = json_dumps(y, JSON_SORT_KEYS | JSON_COMPACT);

    cr_assert_str_eq(sx, sy);
    free(sx);
    free(sy);
    json_decref(x);
    json_decref(y);
}

Test(tune, never_sees_the_held_out_events_of_the_evaluation)
{
    tt_dataset *ds = taste_data(40, true);
    tt_split_params ep = tt_split_params_default();
    tt_model_opts base = small_opts(), best1, best2, best3;
    tt_split eval;
    tt_err err = {0};
    json_t *clean, *poisoned, *open;

    ep.seed = 99;
    cr_assert_eq(tt_split_build(ds, &ep, &eval, &err), 0, "%s", err.message);
    cr_assert_gt(eval.n_test_events, 100);
    clean = tune("als", ds, eval.mask, &base, 30, &best1);
    poison(ds, eval.mask);
    poisoned = tune("als", ds, eval.mask, &base, 30, &best2);
    check_same_search(clean, poisoned);
    cr_assert_eq(memcmp(&best1.als, &best2.als, sizeof(best1.als)), 0);
    cr_assert_gt(json_array_size(json_object_get(clean, "trials")), 20, "the plan was cut short");

    /* The poison is strong: a search that may see every event finds other figures. */
    open = tune("als", ds, NULL, &base, 30, &best3);
    cr_assert_float_neq(num(open, "default_ndcg@20"), num(clean, "default_ndcg@20"), 1e-4);
    json_decref(clean);
    json_decref(poisoned);
    json_decref(open);
    tt_split_release(&eval);
    tt_dataset_free(ds);
}

/*
 * The tuner's validation split (reproduced: its figures match the report) lies inside the
 * evaluation's training part: no event outside it trains or is relevant.
 */
Test(tune, validates_inside_the_training_part_only)
{
    tt_dataset *ds = taste_data(40, false);
    tt_split_params ep = tt_split_params_default();
    tt_model_opts base = small_opts(), best;
    tt_split eval, val;
    tt_err err = {0};
    json_t *r;

    ep.seed = 7;
    cr_assert_eq(tt_split_build(ds, &ep, &eval, &err), 0, "%s", err.message);
    r = tune("als", ds, eval.mask, &base, 30, &best);
    validation_split(ds, eval.mask, base.seed, &val);
    cr_assert_eq(num(json_object_get(r, "validation"), "users"), val.n_users);
    tt_split_release(&val);
    cr_assert_eq((uint64_t)json_integer_value(
                     json_object_get(json_object_get(r, "validation"), "seed")),
                 base.seed ^ 0x74756e65ULL);
    cr_assert_float_eq(num(json_object_get(r, "validation"), "share"), SHARE, 1e-9);
    cr_assert_float_eq(validation_mean("als", ds, eval.mask, base.seed, folds_of(r), &base),
                       num(r, "default_ndcg@20"), 2e-5);
    for (int f = 0; f < folds_of(r); f++) {
        int64_t inside = 0;
        validation_fold(ds, eval.mask, base.seed, f, &val);
        for (int64_t i = 0; i < ds->n_events; i++) {
            int32_t u = ds->ev_user[i], t = ds->ev_track[i];
            const int32_t *vrow = val.relevant.indices + val.relevant.indptr[u];
            int32_t nv = (int32_t)tt_csr_row_nnz(&val.relevant, u);
            if (eval.mask[i]) {
                inside += !val.mask[i];
                continue;
            }
            cr_assert_eq(val.mask[i], 0, "fold %d: event %lld of the evaluation's test trains",
                         f, (long long)i);
            for (int32_t j = 0; j < nv; j++)
                cr_assert_neq(vrow[j], t, "fold %d: an evaluation test pair validates", f);
        }
        cr_assert_gt(inside, 0, "fold %d: no validation events at all", f);
        tt_split_release(&val);
    }
    tt_split_release(&eval);
    json_decref(r);
    tt_dataset_free(ds);
}

/* ---- EASE's line search ---- */

/*
 * On binary taste groups plain EASE (no emphasis, raw rows: lambda is its only
 * regularization) gains with lambda up to about 100 (listeners of a track): from lambda 1
 * the search doubles while it wins and ends on a larger lambda.
 */
Test(tune, ease_line_search_climbs_toward_a_larger_lambda)
{
    tt_dataset *ds = taste_data(40, false);
    tt_model_opts base = small_opts(), best;
    json_t *r, *trials, *t;
    size_t i;

    base.ease.lambda = 1.0f;
    base.ease.emphasis = 0.0f;
    base.ease.user_norm = false;
    r = tune("ease", ds, NULL, &base, 30, &best);
    check_choice(r);
    cr_assert_geq(best.ease.lambda, 16.0f, "lambda %g", best.ease.lambda);
    cr_assert_float_eq(num(json_object_get(r, "chosen"), "lambda"), best.ease.lambda, 1e-3);
    cr_assert_gt(num(r, "best_ndcg@20"), 1.2 * num(r, "default_ndcg@20"));
    trials = json_object_get(r, "trials");
    /* The defaults, halving once (it loses), then doubling up to the first loss. */
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(trials, 1), "change")),
                     "lambda=0.5");
    json_array_foreach(trials, i, t) {
        if (i < 2)
            continue;
        cr_assert_float_eq(num(json_object_get(t, "values"), "lambda"), (double)(1 << (i - 1)),
                           1e-3);
    }
    json_decref(r);
    tt_dataset_free(ds);
}

Test(tune, ease_with_no_budget_left_keeps_the_defaults)
{
    tt_dataset *ds = taste_data(40, false);
    tt_model_opts base = small_opts(), best;
    json_t *r;

    base.ease.lambda = 1.0f;
    r = tune("ease", ds, NULL, &base, 1e-6, &best);
    cr_assert_eq(json_array_size(json_object_get(r, "trials")), 1);
    cr_assert_eq(best.ease.lambda, base.ease.lambda);
    cr_assert(json_equal(json_object_get(r, "chosen"), json_object_get(r, "defaults")));
    cr_assert_eq(num(r, "best_ndcg@20"), num(r, "default_ndcg@20"));
    json_decref(r);
    tt_dataset_free(ds);
}

/* ---- budget and report ---- */

static void check_report_fields(const json_t *r, double budget)
{
    const json_t *v = json_object_get(r, "validation"), *t;
    size_t i;

    cr_assert(json_is_true(json_object_get(r, "tuned")));
    cr_assert_str_eq(json_string_value(json_object_get(r, "objective")), "ndcg@20");
    cr_assert_float_eq(num(r, "budget_seconds"), budget, 0.051);
    num(r, "seconds");
    num(r, "units");
    num(r, "budget_units");
    cr_assert_geq(folds_of(r), 1);
    cr_assert(json_is_object(v));
    cr_assert_str_eq(json_string_value(json_object_get(v, "split")), "random");
    cr_assert_float_eq(num(v, "share"), SHARE, 1e-9);
    cr_assert_gt(num(v, "users"), 0);
    cr_assert(json_is_integer(json_object_get(v, "seed")));
    cr_assert(json_is_object(json_object_get(r, "defaults")));
    cr_assert(json_is_object(json_object_get(r, "chosen")));
    num(r, "default_ndcg@20");
    num(r, "best_ndcg@20");
    cr_assert(json_is_boolean(json_object_get(r, "reduced_search")));
    cr_assert_geq(json_array_size(json_object_get(r, "trials")), 1);
    json_array_foreach(json_object_get(r, "trials"), i, t) {
        cr_assert(json_is_string(json_object_get(t, "change")));
        cr_assert(json_is_object(json_object_get(t, "values")));
        num(t, "ndcg@20");
        num(t, "recall@20");
        num(t, "seconds");
    }
    check_choice(r);
}

/*
 * The automatic budget is work, not time: the same data runs the same trials and makes the
 * same choice, whatever the machine's load, within the budget's units.
 */
Test(tune, the_same_data_gives_the_same_search)
{
    tt_dataset *ds = taste_data(40, true);
    tt_model_opts base = small_opts(), best1, best2;
    json_t *a, *b;

    base.als.scaling = TT_ALS_LINEAR;
    a = tune("als", ds, NULL, &base, 0, &best1);
    b = tune("als", ds, NULL, &base, 0, &best2);
    check_same_search(a, b);
    cr_assert_eq(memcmp(&best1.als, &best2.als, sizeof(best1.als)), 0);
    check_choice(a);
    cr_assert_eq(num(a, "budget_seconds"), 0);
    cr_assert_gt(num(a, "budget_units"), 0);
    cr_assert_leq(num(a, "units"), num(a, "budget_units"));
    cr_assert_gt(json_array_size(json_object_get(a, "trials")), 20, "the plan was cut short");
    json_decref(a);
    json_decref(b);
    tt_dataset_free(ds);
}

/*
 * The rungs of a trace: the fold-0 trials after the defaults at @its iterations, in order,
 * up to the first trial on another fold (the halving is over then).
 */
static int rung_of(const json_t *trials, int its, const json_t **out, int cap)
{
    size_t i;
    json_t *t;
    int n = 0;

    json_array_foreach(trials, i, t) {
        if (i == 0)
            continue;
        if (json_integer_value(json_object_get(t, "fold")) != 0)
            break;
        if ((int)num(t, "iterations") == its && n < cap)
            out[n++] = t;
    }
    return n;
}

/* Whether @t's configuration was among the @keep best of rung @r (@n trials). */
static bool among_best(const json_t *t, const json_t **r, int n, int keep)
{
    const json_t *same = NULL;
    int better = 0;

    for (int i = 0; i < n; i++)
        if (json_equal(json_object_get(r[i], "values"), json_object_get(t, "values")))
            same = r[i];
    if (!same)
        return false;
    for (int i = 0; i < n; i++)
        better += num(r[i], "ndcg@20") > num(same, "ndcg@20");
    return better < keep;
}

/*
 * Successive halving: every configuration at a third of the iterations, the best third of
 * them at two thirds, the best third of those at the full count.
 */
Test(tune, each_rung_continues_the_best_third_of_the_one_before)
{
    tt_dataset *ds = taste_data(40, false);
    tt_model_opts base = small_opts(), best;
    json_t *r = tune("als", ds, NULL, &base, 0, &best), *trials = json_object_get(r, "trials");
    const json_t *r0[96], *r1[96], *r2[96];
    int n0 = rung_of(trials, 5, r0, 96), n1 = rung_of(trials, 10, r1, 96);
    int n2 = rung_of(trials, 15, r2, 64);

    cr_assert_gt(n0, 10);
    cr_assert_eq(n1, (n0 + 2) / 3, "%d configurations, %d continued", n0, n1);
    cr_assert_eq(n2, (n1 + 2) / 3, "%d continued, %d to the full count", n1, n2);
    for (int i = 0; i < n1; i++)
        cr_assert(among_best(r1[i], r0, n0, n1), "rung 1 trial %d was not among the best", i);
    for (int i = 0; i < n2; i++)
        cr_assert(among_best(r2[i], r1, n1, n2), "rung 2 trial %d was not among the best", i);
    json_decref(r);
    tt_dataset_free(ds);
}

/* 2,400 listeners at 64 factors: the whole plan takes several times the wall-clock cap. */
Test(tune, a_budget_in_seconds_caps_the_search)
{
    tt_dataset *ds = taste_data(300, true);
    tt_model_opts base = small_opts(), best;
    double t0, took, trial;
    size_t n_trials;
    json_t *r;

    base.als.factors = 64;
    t0 = tt_now();
    r = tune("als", ds, NULL, &base, 0.5, &best);
    took = tt_now() - t0;
    check_report_fields(r, 0.5);
    trial = num(json_array_get(json_object_get(r, "trials"), 0), "seconds");
    cr_log_info("%.2f s, %zu trials, defaults trial %.2f s", took,
                json_array_size(json_object_get(r, "trials")), trial);
    n_trials = json_array_size(json_object_get(r, "trials"));
    json_decref(r);
    tt_dataset_free(ds);
    /* The plan's first rung alone: the defaults and every configuration of the grid. */
    cr_assert_lt(n_trials, 1 + NR * NA * TT_ALS_N_SCALINGS, "the plan was not cut");
    /* Wall time, with room for a loaded machine or a sanitizer build: the trial count above
     * is the real check that the budget cut the plan. */
    cr_assert_leq(took, 0.5 + 4 * trial + 2.0, "%.2f s for a budget of 0.5 s", took);
}

/* ---- jobs: named parameters train untuned ---- */

static char dir[64];
static tt_config cfg;

static void job_setup(void)
{
    fx_pipeline_data(dir, &cfg);
}

static void job_teardown(void)
{
    fx_rmtree(dir);
}

/* Runs @request and returns its ALS version's sidecar's @key (caller frees). */
static json_t *sidecar_after(const char *request, const char *key)
{
    json_t *req = json_loads(request, 0, NULL), *result = NULL, *side, *v;
    tt_job_spec spec;
    tt_err err = {0};
    char path[1200];

    cr_assert_not_null(req, "%s", request);
    cr_assert_eq(tt_job_spec_parse(req, &spec, &err), 0, "[%s] %s", err.field, err.message);
    cr_assert_eq(tt_pipeline_run(&cfg, &spec, NULL, &result, &err), 0, "run: %s", err.message);
    snprintf(path, sizeof(path), "%s/free/als/%s/als.json", cfg.model_dir,
             json_string_value(json_object_get(
                 json_array_get(json_object_get(result, "models"), 0), "version")));
    side = json_load_file(path, 0, NULL);
    cr_assert_not_null(side, "%s: no JSON", path);
    v = json_incref(json_object_get(side, key));
    cr_assert_not_null(v, "no %s in the sidecar", key);
    json_decref(side);
    json_decref(result);
    tt_job_spec_release(&spec);
    json_decref(req);
    return v;
}

Test(tune_job, named_parameters_train_untuned, .init = job_setup, .fini = job_teardown,
     .timeout = 120)
{
    json_t *tuning, *params;

    tuning = sidecar_after("{\"model\": \"als\", \"params\": {\"factors\": 8}, "
                           "\"tune_budget\": 1}",
                           "tuning");
    cr_assert(json_is_false(json_object_get(tuning, "tuned")));
    json_decref(tuning);
    params = sidecar_after("{\"model\": \"als\", \"params\": {\"factors\": 8}, "
                           "\"tune_budget\": 1}",
                           "params");
    cr_assert_eq(json_integer_value(json_object_get(params, "factors")), 8);
    json_decref(params);

    tuning = sidecar_after("{\"model\": \"als\", \"tune_budget\": 1}", "tuning");
    cr_assert(json_is_true(json_object_get(tuning, "tuned")), "a job without params is tuned");
    check_report_fields(tuning, 1);
    json_decref(tuning);
    /* A seed alone is not a choice of hyperparameters. */
    tuning = sidecar_after("{\"model\": \"als\", \"params\": {\"seed\": 9}, \"tune_budget\": 1}",
                           "tuning");
    cr_assert(json_is_true(json_object_get(tuning, "tuned")));
    json_decref(tuning);
}

/* ---- progress: each trial reaches the step hook, the last one closes the stage ---- */

struct trials_seen {
    int calls, last_step, last_steps, max_steps;
    bool monotone, done_early;
};

static void on_trial(void *ctx, const char *model, int step, int steps, double loss,
                     double metric, double seconds)
{
    struct trials_seen *t = ctx;

    (void)model;
    (void)loss;
    (void)metric;
    (void)seconds;
    t->monotone = t->monotone && step >= t->last_step;
    /* A report short of the last one never claims the search is over. */
    if (t->calls > 0 && t->last_step == t->last_steps)
        t->done_early = true;
    t->calls++;
    t->last_step = step;
    t->last_steps = steps;
}

Test(tune, reports_each_trial_and_ends_with_the_search)
{
    tt_dataset *ds = taste_data(40, false);
    tt_model_opts base = small_opts(), best;
    struct trials_seen seen = {0, 0, 0, 0, true, false};
    json_t *r;

    base.on_step = on_trial;
    base.step_ctx = &seen;
    r = tune("als", ds, NULL, &base, 5, &best);
    cr_expect_geq(seen.calls, 2);
    cr_expect(seen.monotone);
    cr_expect_not(seen.done_early, "a report said done before the last");
    cr_expect_eq(seen.last_step, seen.last_steps, "the last report completes the stage");
    cr_expect_eq(seen.last_step, (int)json_array_size(json_object_get(r, "trials")),
                 "one step per trial");
    json_decref(r);
    tt_dataset_free(ds);
}
