/*
 * Self-tuning training (docs/pipeline.md): a bounded coordinate search over a model's
 * hyperparameters, each trial trained on a validation split cut from the events the run
 * trains on and scored by NDCG@20 on the held-out part, within a time budget.
 */
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A trial must beat the best by this share to count: smaller gains are noise. */
#define MIN_GAIN 0.003
/* Validation users scored per trial at most (a random sample beyond). */
#define MAX_USERS 5000
/*
 * The halving's share of the budget: the rest is kept for the winner at full strength and
 * its refinement, twice the factors first (the step that gained most on every data set
 * measured, docs/evaluation.md), which the halving would otherwise leave no time for.
 */
#define HALVING_SHARE 0.6
/* Above this many interactions the search is reduced to the two strongest knobs. */
#define FULL_SEARCH_EVENTS 2000000LL

/* One hyperparameter the search sets: where it lives in the options (for the trace). */
enum knob_kind { K_FLOAT, K_INT, K_SCALING };
struct knob {
    const char *model;
    const char *name;
    enum knob_kind kind;
    size_t off;
};

#define O(f) offsetof(tt_model_opts, f)
static const struct knob knobs[] = {
    {"als", "regularization", K_FLOAT, O(als.regularization)},
    {"als", "alpha", K_FLOAT, O(als.alpha)},
    {"als", "scaling", K_SCALING, O(als.scaling)},
    {"als", "factors", K_INT, O(als.factors)},
    {"ease", "lambda", K_FLOAT, O(ease.lambda)},
};
#undef O

static double get(const tt_model_opts *o, const struct knob *k)
{
    const char *p = (const char *)o + k->off;

    switch (k->kind) {
    case K_FLOAT: return *(const float *)p;
    case K_INT: return *(const int *)p;
    default: return *(const enum tt_als_scaling *)p;
    }
}

static json_t *knob_json(const tt_model_opts *o, const struct knob *k)
{
    double v = get(o, k);

    if (k->kind == K_SCALING)
        return json_string(tt_als_scaling_names[(int)v]);
    if (k->kind == K_INT)
        return json_integer((json_int_t)v);
    return json_real(round(v * 1e4) / 1e4);
}

static json_t *values_json(const char *model, const tt_model_opts *o)
{
    json_t *j = json_object();

    for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
        if (strcmp(knobs[i].model, model) == 0)
            json_object_set_new(j, knobs[i].name, knob_json(o, &knobs[i]));
    return j;
}

struct search {
    const char *model;
    const tt_model_opts *base; /* its on_step hears of each trial */
    int trials_run, trials_planned;
    const tt_dataset *ds;
    tt_split split;
    tt_train_set ts;
    int iterations;     /* of each trial (the final training runs the full count) */
    double budget, t0, trial_seconds;
    json_t *trials;
    double best;
    tt_model_opts best_opts;
    int threads;
};

/*
 * Tells the caller's step hook that a trial finished: step = trials run, steps = the plan's
 * most trials (never reached while trials remain: the budget or an early stop ends a search
 * before its plan, and the final report then says done), metric = the trial's NDCG@20.
 */
static void report_trial(struct search *s, double ndcg)
{
    int steps;

    s->trials_run++;
    steps = s->trials_planned > s->trials_run ? s->trials_planned : s->trials_run + 1;
    if (s->base->on_step)
        s->base->on_step(s->base->step_ctx, s->model, s->trials_run, steps, NAN, ndcg,
                         tt_now() - s->t0);
}

/* Trains @o on the validation split's training part; its NDCG@20, or -1 on failure. */
static double trial(struct search *s, const tt_model_opts *o, const char *what)
{
    tt_model_opts t = *o;
    tt_model *m = NULL;
    tt_eval_scores sc;
    tt_err err = {0};
    double t0 = tt_now();
    int rc;

    t.als.iterations = s->iterations;
    t.als.precompute = 0;
    t.ease.precompute = 0;
    t.on_step = NULL;
    rc = tt_models_train(s->model, &s->ts, &t, &m, &err);
    if (rc == 0)
        rc = tt_eval_model(m, &s->split, &s->ts.seen, 20, s->threads, &sc, &err);
    tt_model_free(m);
    s->trial_seconds = tt_now() - t0;
    report_trial(s, rc < 0 ? NAN : sc.ndcg);
    if (rc < 0) {
        tt_warn("tuning %s: trial %s failed: %s", s->model, what, tt_err_msg(&err, rc));
        return -1;
    }
    json_array_append_new(s->trials,
                          json_pack("{s:s, s:o, s:f, s:f, s:f}", "change", what, "values",
                                    values_json(s->model, o), "ndcg@20",
                                    round(sc.ndcg * 1e5) / 1e5, "recall@20",
                                    round(sc.recall * 1e5) / 1e5, "seconds",
                                    round(s->trial_seconds * 100) / 100));
    return sc.ndcg;
}

/* One configuration of the grid: a value index per knob. */
struct config {
    tt_model_opts o;
    double score;
    char what[160];
};

/* Grid values per knob, as multiples of the default (scaling: every kind). */
static const double reg_steps[] = {0.015, 0.25, 1.0, 3.0};
static const double alpha_steps[] = {1.0 / 3.0, 1.0, 3.0};

static void config_of(const tt_model_opts *base, int ri, int ai, int si, struct config *c)
{
    c->o = *base;
    c->o.als.regularization = base->als.regularization * (float)reg_steps[ri];
    c->o.als.alpha = base->als.alpha * (float)alpha_steps[ai];
    c->o.als.scaling = (enum tt_als_scaling)si;
    snprintf(c->what, sizeof(c->what), "regularization=%g alpha=%g scaling=%s factors=%d",
             c->o.als.regularization, c->o.als.alpha, tt_als_scaling_names[si], c->o.als.factors);
    c->score = -1;
}

static int cmp_config(const void *a, const void *b)
{
    double x = ((const struct config *)a)->score, y = ((const struct config *)b)->score;
    return (x < y) - (x > y);
}

/*
 * Successive halving over a seeded sample of 18 of the grid's regularization x confidence
 * scale x scaling configurations (the defaults always among them): each trained with 3
 * iterations, the best third again with 6, the best two with 10.
 */
enum { NR = 4, NA = 3, NS = TT_ALS_N_SCALINGS, SAMPLE = 18 };

static void halving(struct search *s, const tt_model_opts *base, bool reduced, uint64_t seed)
{
    static const int rung_iterations[] = {3, 6, 10};
    struct config *all = tt_calloc(NR * NA * NS, sizeof(*all));
    int n = 0, keep;
    tt_rng rng;

    for (int ri = 0; ri < NR; ri++)
        for (int ai = 0; ai < NA; ai++)
            for (int si = 0; si < NS; si++) {
                if (reduced && si != (int)base->als.scaling)
                    continue;
                config_of(base, ri, ai, si, &all[n++]);
            }
    /* The defaults first, then a seeded shuffle of the rest. */
    tt_rng_seed(&rng, seed, 11);
    for (int i = 0; i < n; i++)
        if (all[i].o.als.regularization == base->als.regularization &&
            all[i].o.als.alpha == base->als.alpha && all[i].o.als.scaling == base->als.scaling &&
            all[i].o.als.factors == base->als.factors) {
            struct config t = all[0];
            all[0] = all[i];
            all[i] = t;
        }
    for (int i = n - 1; i > 1; i--) {
        int j = 1 + (int)tt_rng_below(&rng, (uint64_t)i);
        struct config t = all[i];
        all[i] = all[j];
        all[j] = t;
    }
    /* A fixed plan (the same choices on the same data), cut short only by the budget. */
    keep = n < SAMPLE ? n : SAMPLE;
    s->iterations = rung_iterations[0];
    for (int i = 0; i < keep; i++) {
        if (i > 0 && tt_now() - s->t0 + s->trial_seconds > s->budget * HALVING_SHARE)
            break;
        all[i].score = trial(s, &all[i].o, all[i].what);
    }
    qsort(all, (size_t)keep, sizeof(*all), cmp_config);
    for (int r = 1; r < 3; r++) {
        int next = r == 1 ? (keep + 2) / 3 : 2;
        if (next > keep)
            next = keep;
        s->iterations = rung_iterations[r];
        for (int i = 0; i < next; i++) {
            if (all[i].score < 0 || tt_now() - s->t0 > s->budget * HALVING_SHARE)
                continue;
            all[i].score = trial(s, &all[i].o, all[i].what);
        }
        keep = next;
        qsort(all, (size_t)keep, sizeof(*all), cmp_config);
    }
    if (all[0].score > 0) {
        s->best_opts = all[0].o;
        s->best = all[0].score;
        s->best_opts.als.iterations = base->als.iterations;
    }
    free(all);
}

/*
 * The most trials a search runs: the defaults, the halving's three rungs, the winner at full
 * strength and the refinement's steps (ALS); EASE's line search has no fixed length, so its
 * plan is a typical one (the defaults and four steps), stretched when it goes on.
 */
static int planned_trials(const char *model, bool reduced)
{
    int grid = reduced ? NR * NA : NR * NA * NS, keep = grid < SAMPLE ? grid : SAMPLE;

    if (strcmp(model, "ease") == 0)
        return 5;
    return 1 + keep + (keep + 2) / 3 + 2 + 1 + (reduced ? 4 : 5);
}

/*
 * Finer steps around the grid's winner, at full strength: twice the factors (when a trial at
 * twice the cost fits the budget), then regularization and confidence scale by 0.6 and 1.6,
 * each kept when it wins by more than noise.
 */
static void refine(struct search *s, bool reduced)
{
    static const double steps[] = {0.6, 1.6};
    static const int order[] = {2, 0, 1};

    for (int o_i = 0; o_i < 3; o_i++) {
        int knob = order[o_i];
        for (int i = 0; i < (knob == 2 ? 1 : 2); i++) {
            tt_model_opts o = s->best_opts;
            char what[96];
            double got, left = s->budget - (tt_now() - s->t0);
            if (knob == 2 && (reduced || o.als.factors > 256 || s->trial_seconds * 2.0 > left))
                continue;
            if (s->trial_seconds > left)
                return;
            if (knob == 0)
                o.als.regularization *= (float)steps[i];
            else if (knob == 1)
                o.als.alpha *= (float)steps[i];
            else
                o.als.factors *= 2;
            snprintf(what, sizeof(what), "%s=%g",
                     knob == 0 ? "regularization" : knob == 1 ? "alpha" : "factors",
                     knob == 0 ? o.als.regularization : knob == 1 ? o.als.alpha : o.als.factors);
            got = trial(s, &o, what);
            if (got > s->best * (1.0 + MIN_GAIN)) {
                s->best = got;
                s->best_opts = o;
            }
        }
    }
}

/*
 * EASE has one constant: a line search on lambda from the default, halving or doubling
 * while it wins (each trial is a whole closed-form solve, so few fit the budget).
 */
static void line_search_lambda(struct search *s)
{
    static const double steps[] = {0.5, 2.0};

    for (int d = 0; d < 2; d++) {
        bool moved = false;
        for (;;) {
            tt_model_opts o = s->best_opts;
            char what[64];
            double got;
            if (tt_now() - s->t0 + s->trial_seconds > s->budget)
                return;
            o.ease.lambda *= (float)steps[d];
            if (o.ease.lambda < 0.1f || o.ease.lambda > 1e6f)
                break;
            snprintf(what, sizeof(what), "lambda=%g", o.ease.lambda);
            got = trial(s, &o, what);
            if (!(got > s->best * (1.0 + MIN_GAIN)))
                break;
            s->best = got;
            s->best_opts = o;
            moved = true;
        }
        if (moved)
            return; /* the other direction lost already at the first step */
    }
}

/* A validation split of the events @within (NULL: all), at most MAX_USERS users scored. */
static int make_split(struct search *s, const uint8_t *within, uint64_t seed, tt_err *err)
{
    tt_split_params sp = tt_split_params_default();
    tt_weighting w = tt_weighting_default();
    tt_rng rng;
    int rc;

    sp.seed = seed ^ 0x74756e65ULL; /* not the evaluation split's seed */
    sp.within = within;
    if ((rc = tt_split_build(s->ds, &sp, &s->split, err)) < 0)
        return rc;
    if (s->split.n_users == 0)
        return tt_err_set(err, TT_ESTATE, "no listener has enough tracks to validate on");
    tt_rng_seed(&rng, seed, 7);
    if (s->split.n_users > MAX_USERS) {
        for (int32_t i = 0; i < MAX_USERS; i++) {
            int32_t j = i + (int32_t)tt_rng_below(&rng, (uint64_t)(s->split.n_users - i));
            int32_t t = s->split.users[i];
            s->split.users[i] = s->split.users[j];
            s->split.users[j] = t;
        }
        s->split.n_users = MAX_USERS;
    }
    tt_train_set_build(s->ds, s->split.mask, &w, &s->ts);
    return 0;
}

bool tt_tune_supported(const char *model)
{
    for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
        if (strcmp(knobs[i].model, model) == 0)
            return true;
    return false;
}

int tt_tune_model(const char *model, const tt_dataset *ds, const uint8_t *within,
                  const tt_model_opts *base, double budget, tt_model_opts *best, json_t **report,
                  tt_err *err)
{
    struct search s = {0};
    int64_t events = ds->n_events;
    double t_full, base_ndcg;
    bool reduced;
    int rc;

    *best = *base;
    *report = NULL;
    s.model = model;
    s.base = base;
    s.ds = ds;
    s.t0 = tt_now();
    s.threads = base->threads;
    s.trials = json_array();
    s.best_opts = *base;
    if ((rc = make_split(&s, within, base->seed, err)) < 0) {
        json_decref(s.trials);
        tt_split_release(&s.split);
        return rc;
    }
    reduced = events > FULL_SEARCH_EVENTS && budget <= 0;
    s.trials_planned = planned_trials(model, reduced);
    /* The defaults at full strength: the figure tuning has to beat, and the budget's unit. */
    s.budget = 1e9;
    s.iterations = base->als.iterations;
    base_ndcg = trial(&s, base, "defaults, full iterations");
    t_full = s.trial_seconds;
    s.budget = budget > 0 ? budget : fmax(5.0 * t_full, 10.0);
    if (base_ndcg < 0) {
        json_decref(s.trials);
        tt_train_set_release(&s.ts);
        tt_split_release(&s.split);
        return tt_err_set(err, TT_ESTATE, "%s cannot be trained on the validation split", model);
    }
    if (strcmp(model, "ease") == 0) {
        s.best = base_ndcg;
        if (s.best >= 0)
            line_search_lambda(&s);
        goto done;
    }
    s.best = -1;
    halving(&s, base, reduced, base->seed);
    /* The winner at full strength, then finer steps around it while the budget lasts. */
    if (s.best >= 0) {
        s.iterations = base->als.iterations;
        s.best = trial(&s, &s.best_opts, "chosen, full iterations");
        refine(&s, reduced);
    }
    if (s.best < base_ndcg * (1.0 + MIN_GAIN)) {
        s.best_opts = *base;
        s.best = base_ndcg;
    }
done:
    /* The search is over, whatever its plan said: the last report completes the stage. */
    s.trials_planned = s.trials_run;
    if (base->on_step)
        base->on_step(base->step_ctx, model, s.trials_run, s.trials_run, NAN, s.best,
                      tt_now() - s.t0);
    *best = s.best_opts;
    *report = json_pack("{s:b, s:s, s:f, s:f, s:{s:s, s:f, s:i, s:I}, s:i, s:o, s:o, s:f, "
                        "s:f, s:o, s:b}",
                        "tuned", true, "objective", "ndcg@20", "budget_seconds",
                        round(s.budget * 10) / 10, "seconds", round((tt_now() - s.t0) * 10) / 10,
                        "validation", "split", "random", "share", 0.2, "users",
                        s.split.n_users, "seed", (json_int_t)(base->seed ^ 0x74756e65ULL),
                        "trial_iterations", s.iterations, "defaults", values_json(model, base),
                        "chosen", values_json(model, best), "default_ndcg@20",
                        round(base_ndcg * 1e5) / 1e5, "best_ndcg@20", round(s.best * 1e5) / 1e5,
                        "trials", s.trials, "reduced_search", reduced);
    tt_train_set_release(&s.ts);
    tt_split_release(&s.split);
    return s.best >= 0 ? 0 : tt_err_set(err, TT_EINTERNAL, "every tuning trial failed");
}
