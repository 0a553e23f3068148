/*
 * Self-tuning training (docs/pipeline.md): a bounded search over a model's hyperparameters,
 * each trial trained on a validation split cut from the events the run trains on and scored
 * by NDCG@20 on the held-out part.
 *
 * Why the budget is counted in work and not in seconds: a timed search runs fewer trials on
 * a loaded machine, so the same data gave different models from one run to the next. Each
 * trial's cost is estimated from the data's shape, its factors and iterations, in units of
 * the defaults' full training with its scoring; the automatic budget is a number of such
 * units, so the same data always runs the same trials. A budget in seconds given by the
 * caller is a wall-clock cap on top of that plan.
 */
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/pipeline.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A trial must beat the best by this share to count: smaller gains are noise. */
#define MIN_GAIN 0.003
/*
 * The share of each listener's positives a fold holds out. Small, so that trials train on
 * nearly as much as the final model: the best regularization falls and more factors pay as
 * the training data grows (docs/evaluation.md), and a search on much less data than the
 * final training over-regularizes it. The folds' mean makes up for the noisier figures.
 */
#define VALIDATION_SHARE 0.1
/* Validation users scored per trial at most (a random sample beyond). */
#define MAX_USERS 5000
/*
 * The halving's share of a budget: the rest is kept for the refinement at full strength,
 * twice the factors first (the step that gained most on every data set measured,
 * docs/evaluation.md), which the halving would otherwise leave no room for.
 */
#define HALVING_SHARE 0.7
/*
 * Validation folds the finalists are scored on (the halving runs on the first): one split's
 * NDCG@20 moves by 1 to 2% from one random holdout to the next on Last.fm, more than most
 * differences between good settings, and their mean over three moves half as much.
 */
#define FOLDS 3
/* Above this many interactions the search is reduced to the two strongest knobs. */
#define FULL_SEARCH_EVENTS 2000000LL
/* Automatic budgets, in full default trainings: ALS's whole plan, reduced, EASE's. */
#define ALS_UNITS 75.0
#define ALS_REDUCED_UNITS 12.0
#define EASE_UNITS 5.0
/*
 * Factor tables the halving keeps to continue its survivors, at most (bytes): beyond, a
 * survivor is retrained from the start to the rung's iterations, which gives the same model
 * (tt_als_train_more) at more cost, so the choice never depends on memory.
 */
#define WARM_BYTES (512.0 * 1024 * 1024)

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
    {"als", "reg_exponent", K_FLOAT, O(als.reg_exponent)},
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

/* A validation split and the training set of its training part. */
struct fold {
    tt_split split;
    tt_train_set ts;
};

struct search {
    const char *model;
    const tt_model_opts *base; /* its on_step hears of each trial */
    int trials_run, trials_planned;
    const tt_dataset *ds;
    const uint8_t *within;
    struct fold fold[FOLDS]; /* fold 0 always; the others built when first needed */
    int n_folds;             /* built */
    int folds;               /* the choice's figures are means over the first @folds */
    int iterations;      /* of the last trial */
    double seconds_cap;  /* wall clock, given by the caller; 0 = none */
    double units_cap;    /* work, in units of the defaults' full training */
    double unit;         /* the estimated cost of one unit (model-specific scale) */
    double units;        /* spent so far */
    double unit_seconds; /* measured on the defaults, to foresee a trial's seconds */
    double t0, trial_seconds;
    json_t *trials;
    double best;
    tt_model_opts best_opts;
    int threads;
};

/*
 * The seed of validation fold @fold's split: fold 0's is the documented one (not the
 * evaluation split's), the others follow from it.
 */
static uint64_t fold_seed(uint64_t seed, int fold)
{
    return (seed ^ 0x74756e65ULL) + (uint64_t)fold * 0x9e3779b97f4a7c15ULL;
}

/*
 * Validation fold @fold: a random split of the events s->within (NULL: all), at most
 * MAX_USERS users scored, and the training set of its training part.
 */
static int make_fold(struct search *s, int fold, uint64_t seed, tt_err *err)
{
    tt_split_params sp = tt_split_params_default();
    tt_weighting w = tt_weighting_default();
    tt_split *split = &s->fold[fold].split;
    tt_rng rng;
    int rc;

    sp.seed = fold_seed(seed, fold);
    sp.holdout = VALIDATION_SHARE;
    sp.within = s->within;
    if ((rc = tt_split_build(s->ds, &sp, split, err)) < 0)
        return rc;
    if (split->n_users == 0) {
        tt_split_release(split);
        return tt_err_set(err, TT_ESTATE, "no listener has enough tracks to validate on");
    }
    tt_rng_seed(&rng, seed, 7 + (uint64_t)fold);
    if (split->n_users > MAX_USERS) {
        for (int32_t i = 0; i < MAX_USERS; i++) {
            int32_t j = i + (int32_t)tt_rng_below(&rng, (uint64_t)(split->n_users - i));
            int32_t t = split->users[i];
            split->users[i] = split->users[j];
            split->users[j] = t;
        }
        split->n_users = MAX_USERS;
    }
    tt_train_set_build(s->ds, split->mask, &w, &s->fold[fold].ts);
    s->n_folds = fold + 1;
    return 0;
}

static void release_folds(struct search *s)
{
    for (int f = 0; f < s->n_folds; f++) {
        tt_train_set_release(&s->fold[f].ts);
        tt_split_release(&s->fold[f].split);
    }
    s->n_folds = 0;
}

/*
 * Estimated cost of an ALS trial, in arithmetic operations: each sweep solves every user and
 * track with a few CG steps from its previous vector (a k x k product per step, two k-vector
 * operations per positive) and forms two Gram matrices; scoring multiplies each validation
 * user's vector with every track's and keeps the best 20. EASE's trials all cost one unit.
 */
static double als_cost(const struct search *s, int factors, int sweeps)
{
    const tt_train_set *ts = &s->fold[0].ts;
    double k = factors, nnz = (double)ts->conf.nnz;
    double n = (double)ts->conf.rows + ts->conf.cols, cg = s->base->als.cg_steps;
    double sweep = cg > 0 ? (cg + 1) * (n * k * k + 2 * nnz * k) + n * k * k
                          : nnz * k * k + n * k * k * k / 3;
    double score = (double)s->fold[0].split.n_users * ts->conf.cols * (k / 4 + 4);

    return sweeps * sweep + score;
}

static double trial_units(const struct search *s, const tt_model_opts *o, int sweeps)
{
    if (strcmp(s->model, "ease") == 0)
        return 1.0;
    return als_cost(s, o->als.factors, sweeps) / s->unit;
}

/*
 * Whether a trial of @units fits what is left of the budget, within @share of it: the work
 * cap always (the same data gives the same answer), and the caller's wall-clock cap when
 * given (its seconds foreseen from the defaults' trial).
 */
static bool fits(const struct search *s, double units, double share)
{
    if (s->units + units > s->units_cap * share + 1e-9)
        return false;
    return s->seconds_cap <= 0 ||
           tt_now() - s->t0 + units * s->unit_seconds <= s->seconds_cap * share;
}

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

/* A model a halving rung may continue, and the sweeps it has had. */
struct warm {
    tt_model *m;
    int iterations;
};

/*
 * Trains @o to @iterations (ALS; EASE ignores them), from @w's model when it has one, and
 * keeps the result in @w when given. Both ways give the same model (tt_als_train_more).
 */
static int train_to(struct search *s, const tt_train_set *ts, const tt_model_opts *o,
                    int iterations, struct warm *w, tt_model **out, tt_err *err)
{
    tt_model_opts t = *o;

    t.als.iterations = iterations;
    t.als.precompute = 0;
    /*
     * Trials compare single factorizations (restart 0 of the model they stand for, so a
     * halving rung can continue one): averaging restarts lifts every setting alike, and
     * the retraining on all the data averages as many as the options ask for.
     */
    t.als.restarts = 1;
    t.ease.precompute = 0;
    t.on_step = NULL;
    if (w && w->m && strcmp(s->model, "als") == 0 && w->iterations < iterations) {
        t.als.iterations = iterations - w->iterations;
        t.als.threads = t.threads;
        t.als.seed = t.seed;
        return tt_als_train_more(ts, &t.als, w->m, out, err);
    }
    return tt_models_train(s->model, ts, &t, out, err);
}

/*
 * Trains @o to @iterations on the training part of validation fold @fold (continuing @w's
 * model when there is one, and leaving the new one there when @w is given); its NDCG@20
 * on the fold, or -1 on failure.
 */
static double trial_on(struct search *s, int fold, const tt_model_opts *o, const char *what,
                       int iterations, struct warm *w)
{
    struct fold *f = &s->fold[fold];
    tt_model *m = NULL;
    tt_eval_scores sc;
    tt_err err = {0};
    double t0 = tt_now();
    int swept = w && w->m ? iterations - w->iterations : iterations;
    int rc;

    s->units += trial_units(s, o, swept);
    s->iterations = iterations;
    rc = train_to(s, &f->ts, o, iterations, w, &m, &err);
    if (rc == 0)
        rc = tt_eval_model(m, &f->split, &f->ts.seen, 20, s->threads, &sc, &err);
    if (w && rc == 0) {
        tt_model_free(w->m);
        w->m = m;
        w->iterations = iterations;
    } else {
        tt_model_free(m);
    }
    s->trial_seconds = tt_now() - t0;
    report_trial(s, rc < 0 ? NAN : sc.ndcg);
    if (rc < 0) {
        tt_warn("tuning %s: trial %s failed: %s", s->model, what, tt_err_msg(&err, rc));
        return -1;
    }
    json_array_append_new(s->trials,
                          json_pack("{s:s, s:o, s:i, s:i, s:f, s:f, s:f}", "change", what,
                                    "values", values_json(s->model, o), "fold", fold,
                                    "iterations", iterations,
                                    "ndcg@20", round(sc.ndcg * 1e5) / 1e5, "recall@20",
                                    round(sc.recall * 1e5) / 1e5, "seconds",
                                    round(s->trial_seconds * 100) / 100));
    return sc.ndcg;
}

/* A trial on the first fold, where the halving and EASE's line search run. */
static double trial(struct search *s, const tt_model_opts *o, const char *what, int iterations,
                    struct warm *w)
{
    return trial_on(s, 0, o, what, iterations, w);
}

/* One configuration of the grid, its latest score and, while it survives, its model. */
struct config {
    tt_model_opts o;
    double score;
    int id; /* the grid order: ties rank by it, so equal scores sort the same every time */
    struct warm w;
    char what[160];
};

/*
 * Grid values per knob, as multiples of the default (scaling: every kind). With the
 * shipped defaults: regularization 1, 5, 20, 50 and 100, confidence scale 1, 3 and 10.
 * Good settings lie on a ridge of about constant regularization / scale (docs/evaluation.md:
 * binary plays want 50 / 10, play counts 20 / 3), which the grid crosses; the refinement
 * moves along it.
 */
static const double reg_steps[] = {0.05, 0.25, 1.0, 2.5, 5.0};
static const double alpha_steps[] = {1.0 / 3.0, 1.0, 10.0 / 3.0};
/*
 * Frequency-scaled regularization (tt/als.h) is searched at exponent FREQ_EXPONENT with the
 * linear and log confidences (BM25's length normalisation already discounts popular tracks
 * and gained nothing from it, docs/evaluation.md), its regularization steps taken from the
 * default times FREQ_REG_SHIFT: with the exponent, the best regularization falls about
 * fourfold on every data set measured.
 */
#define FREQ_EXPONENT 1.0f
#define FREQ_REG_SHIFT 0.25
/* Grid kinds: every scaling at exponent 0 (the scaling's index), then linear and log at it. */
enum { NR = 5, NA = 3, NS = TT_ALS_N_SCALINGS, NK = NS + 2 };

static enum tt_als_scaling kind_scaling(int kind)
{
    return kind < NS ? (enum tt_als_scaling)kind : kind == NS ? TT_ALS_LINEAR : TT_ALS_LOG;
}

/* Names @c's values in its trace line. */
static void describe(struct config *c)
{
    snprintf(c->what, sizeof(c->what),
             "regularization=%g reg_exponent=%g alpha=%g scaling=%s factors=%d",
             c->o.als.regularization, c->o.als.reg_exponent, c->o.als.alpha,
             tt_als_scaling_names[c->o.als.scaling], c->o.als.factors);
}

/*
 * Grid point (@ri, @ai, @kind) into @c. With @own_exponent (a reduced search) the point
 * keeps the defaults' exponent and takes its regularization steps from the default's.
 */
static void config_of(const tt_model_opts *base, int ri, int ai, int kind, bool own_exponent,
                      struct config *c)
{
    bool freq = kind >= NS && !own_exponent;

    memset(c, 0, sizeof(*c));
    c->o = *base;
    c->o.als.regularization = base->als.regularization *
                              (float)(reg_steps[ri] * (freq ? FREQ_REG_SHIFT : 1.0));
    c->o.als.alpha = base->als.alpha * (float)alpha_steps[ai];
    c->o.als.scaling = kind_scaling(kind);
    c->o.als.reg_exponent = own_exponent ? base->als.reg_exponent : freq ? FREQ_EXPONENT : 0.0f;
    describe(c);
    c->score = -1;
}

static int cmp_config(const void *a, const void *b)
{
    const struct config *x = a, *y = b;

    if (x->score != y->score)
        return (x->score < y->score) - (x->score > y->score);
    return (x->id > y->id) - (x->id < y->id);
}

/*
 * When every training value is the same (bare plays), log(1 + r) is a constant multiple of
 * r and confidence is normalised by its mean (confidence.c): log and linear scaling train
 * the same model, and only one of them is worth a trial.
 */
static bool all_values_equal(const tt_csr *m)
{
    for (int64_t i = 1; i < m->nnz; i++)
        if (m->data[i] != m->data[0])
            return false;
    return true;
}

/*
 * The grid's configurations into @all (NR * NA * NK), the defaults first; their count. A
 * reduced search keeps the defaults' scaling and exponent.
 */
static int grid(const struct search *s, const tt_model_opts *base, bool reduced,
                struct config *all)
{
    enum tt_als_scaling twin = base->als.scaling == TT_ALS_LOG ? TT_ALS_LINEAR : TT_ALS_LOG;
    bool same = all_values_equal(&s->fold[0].ts.conf);
    int n = 0;

    for (int ri = 0; ri < NR; ri++)
        for (int ai = 0; ai < NA; ai++)
            for (int kind = 0; kind < NK; kind++) {
                /* Reduced: the defaults' scaling, made with their own exponent. */
                if (reduced && kind != (int)base->als.scaling)
                    continue;
                if (same && kind_scaling(kind) == twin)
                    continue;
                config_of(base, ri, ai, kind, reduced, &all[n++]);
            }
    for (int i = 0; i < n; i++)
        if (all[i].o.als.regularization == base->als.regularization &&
            all[i].o.als.reg_exponent == base->als.reg_exponent &&
            all[i].o.als.alpha == base->als.alpha && all[i].o.als.scaling == base->als.scaling) {
            struct config t = all[0];
            all[0] = all[i];
            all[i] = t;
        }
    for (int i = 0; i < n; i++)
        all[i].id = i;
    return n;
}

/* The survivors of each rung: a third of the configurations, at least two. */
static int survivors(int n)
{
    int k = (n + 2) / 3;
    return k < 2 ? (n < 2 ? n : 2) : k;
}

/*
 * Frees the models of the configurations scored so far that rank below the @keep best of
 * them: only the best can go on to the next rung.
 */
static void drop_losers(struct config *all, int n, int keep)
{
    for (int i = 0; i < n; i++) {
        int better = 0;
        if (!all[i].w.m)
            continue;
        for (int j = 0; j < n; j++)
            better += j != i && cmp_config(&all[j], &all[i]) < 0;
        if (better >= keep) {
            tt_model_free(all[i].w.m);
            all[i].w.m = NULL;
        }
    }
}

/* Whether the halving can keep @keep models of @o's shape to continue them. */
static bool can_keep(const struct search *s, const tt_model_opts *o, int keep)
{
    double rows = (double)s->fold[0].ts.conf.rows + s->fold[0].ts.conf.cols;

    return keep * rows * (o->als.factors * sizeof(float) + 2 * sizeof(void *)) <= WARM_BYTES;
}

/*
 * One rung: the first @n configurations of @all (all scored, in rank order, unless @first)
 * trained on to @iterations, each continuing its model from the rung before when it has
 * one; the models of the @keep best are kept for the next rung, the others freed as the
 * rung goes. Then sorted; a configuration the budget cuts out ranks last.
 */
static void rung(struct search *s, struct config *all, int n, int iterations, int keep,
                 bool first)
{
    bool warm = can_keep(s, &all[0].o, keep);

    for (int i = 0; i < n; i++) {
        struct config *c = &all[i];
        int sweeps = iterations - (c->w.m ? c->w.iterations : 0);
        if ((!first && c->score < 0) ||
            (i > 0 && !fits(s, trial_units(s, &c->o, sweeps), HALVING_SHARE))) {
            c->score = -1;
            tt_model_free(c->w.m);
            c->w.m = NULL;
            continue;
        }
        c->score = trial(s, &c->o, c->what, iterations, &c->w);
        if (!warm) {
            tt_model_free(c->w.m);
            c->w.m = NULL;
        }
        drop_losers(all, i + 1, keep);
    }
    qsort(all, (size_t)n, sizeof(*all), cmp_config);
}

/*
 * Successive halving over the grid (Jamieson & Talwalkar 2016) on the first fold: every
 * configuration trained a third of the iterations, the best third continued to two thirds,
 * the best third of those to the full count. Continuing rather than restarting is what lets
 * a rung afford iterations at which well-regularized settings have converged (they lag at 3
 * sweeps from the random start: docs/evaluation.md). The best @max of the last rung go to
 * @fin (their models freed); their count.
 */
static int halving(struct search *s, const tt_model_opts *base, bool reduced,
                   struct config *fin, int max)
{
    struct config *all = tt_calloc(NR * NA * NK, sizeof(*all));
    int full = base->als.iterations, n = grid(s, base, reduced, all), cur = n, k = 0;

    for (int r = 0; r < 3; r++) {
        int its = r == 2 ? full : (full * (r + 1) + 2) / 3, next = r < 2 ? survivors(cur) : 0;
        rung(s, all, cur, its < 1 ? 1 : its, next, r == 0);
        if (r < 2)
            cur = next;
    }
    for (int i = 0; i < n; i++) {
        tt_model_free(all[i].w.m);
        all[i].w.m = NULL;
    }
    for (int i = 0; i < cur && k < max; i++)
        if (all[i].score > 0)
            fin[k++] = all[i];
    free(all);
    return k;
}

/*
 * The mean NDCG@20 of @o at full strength over the folds the choice is made on, given
 * @first, its figure on the first fold; -1 when a trial fails.
 */
static double fold_mean(struct search *s, const tt_model_opts *o, const char *what, double first)
{
    double sum = first;

    if (first < 0)
        return -1;
    for (int f = 1; f < s->folds; f++) {
        double v = trial_on(s, f, o, what, s->base->als.iterations, NULL);
        if (v < 0)
            return -1;
        sum += v;
    }
    return sum / s->folds;
}

static bool same_als(const tt_model_opts *a, const tt_model_opts *b)
{
    return a->als.regularization == b->als.regularization &&
           a->als.reg_exponent == b->als.reg_exponent && a->als.alpha == b->als.alpha &&
           a->als.scaling == b->als.scaling && a->als.factors == b->als.factors;
}

/*
 * Chooses among the halving's finalists @fin and the defaults (*@base_ndcg: their first
 * fold's figure, replaced by their mean) by the mean over every fold when the budget has
 * room for it (else the first fold alone).
 */
static void choose(struct search *s, const tt_model_opts *base, const struct config *fin,
                   int n, double *base_ndcg)
{
    double units = (n + 1) * (FOLDS - 1) * trial_units(s, base, base->als.iterations);

    s->folds = 1;
    if (fits(s, units, 1.0)) {
        while (s->n_folds < FOLDS && make_fold(s, s->n_folds, base->seed, NULL) == 0)
            ;
        s->folds = s->n_folds;
    }
    *base_ndcg = fold_mean(s, base, "defaults, full iterations", *base_ndcg);
    s->best = *base_ndcg;
    s->best_opts = *base;
    for (int i = 0; i < n; i++) {
        double v = same_als(&fin[i].o, base) ? *base_ndcg
                                             : fold_mean(s, &fin[i].o, fin[i].what, fin[i].score);
        if (v > s->best) {
            s->best = v;
            s->best_opts = fin[i].o;
            s->best_opts.als.iterations = base->als.iterations;
        }
    }
}

/* One refinement step: @o at full strength over the choice's folds, kept if it wins. */
static bool step(struct search *s, const tt_model_opts *o, const char *what)
{
    const int full = s->base->als.iterations;
    double got;

    if (!fits(s, s->folds * trial_units(s, o, full), 1.0))
        return false;
    got = fold_mean(s, o, what, trial(s, o, what, full, NULL));
    if (got > s->best * (1.0 + MIN_GAIN)) {
        s->best = got;
        s->best_opts = *o;
    }
    return true;
}

/* Refinement steps (refine): twice the factors, then along the ridge both ways. */
enum { REFINE_STEPS = 3, FINALISTS = 3 };

/*
 * The most trials a search runs: the defaults, the halving's three rungs, the finalists and
 * the defaults on the other folds and the refinement's steps on every fold (ALS); EASE's
 * line search has no fixed length, so its plan is a typical one (the defaults and four
 * steps), stretched when it goes on.
 */
static int planned_trials(const struct search *s, const tt_model_opts *base, bool reduced)
{
    struct config *all;
    int n, a, b;

    if (strcmp(s->model, "ease") == 0)
        return 5;
    all = tt_calloc(NR * NA * NK, sizeof(*all));
    n = grid(s, base, reduced, all);
    free(all);
    a = survivors(n);
    b = survivors(a);
    return 1 + n + a + b + (FINALISTS + 1) * (FOLDS - 1) +
           FOLDS * (REFINE_STEPS - (reduced ? 1 : 0));
}

/*
 * Finer steps around the choice, at full strength, each kept when it wins by more than
 * noise: twice the factors (not in a reduced search), then regularization and confidence
 * scale together by 1.6 and by 0.6, along the ridge the grid found.
 */
static void refine(struct search *s, bool reduced)
{
    static const double along[] = {1.6, 0.6};

    if (!reduced && s->best_opts.als.factors <= 256) {
        tt_model_opts o = s->best_opts;
        char what[64];
        o.als.factors *= 2;
        snprintf(what, sizeof(what), "factors=%d", o.als.factors);
        step(s, &o, what);
    }
    for (size_t i = 0; i < sizeof(along) / sizeof(along[0]); i++) {
        tt_model_opts o = s->best_opts;
        char what[96];
        o.als.regularization *= (float)along[i];
        o.als.alpha *= (float)along[i];
        snprintf(what, sizeof(what), "regularization=%g alpha=%g", o.als.regularization,
                 o.als.alpha);
        if (!step(s, &o, what))
            return;
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
            if (!fits(s, 1.0, 1.0))
                return;
            o.ease.lambda *= (float)steps[d];
            if (o.ease.lambda < 0.1f || o.ease.lambda > 1e6f)
                break;
            snprintf(what, sizeof(what), "lambda=%g", o.ease.lambda);
            got = trial(s, &o, what, 0, NULL);
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

bool tt_tune_supported(const char *model)
{
    for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++)
        if (strcmp(knobs[i].model, model) == 0)
            return true;
    return false;
}

/* The report of a search (tt_tune_model's *report). */
static json_t *report_of(const struct search *s, const tt_model_opts *base, double base_ndcg,
                         bool reduced)
{
    return json_pack("{s:b, s:s, s:f, s:f, s:f, s:f, s:{s:s, s:f, s:i, s:I, s:i}, s:i, s:o, s:o, "
                     "s:f, s:f, s:O, s:b}",
                     "tuned", true, "objective", "ndcg@20", "budget_seconds",
                     round(s->seconds_cap * 10) / 10, "budget_units",
                     isfinite(s->units_cap) ? round(s->units_cap * 10) / 10 : 0.0, "units",
                     round(s->units * 10) / 10, "seconds", round((tt_now() - s->t0) * 10) / 10,
                     "validation", "split", "random", "share", VALIDATION_SHARE, "users", s->fold[0].split.n_users,
                     "seed", (json_int_t)fold_seed(base->seed, 0), "folds", s->folds,
                     "trial_iterations",
                     s->iterations, "defaults", values_json(s->model, base), "chosen",
                     values_json(s->model, &s->best_opts), "default_ndcg@20",
                     round(base_ndcg * 1e5) / 1e5, "best_ndcg@20", round(s->best * 1e5) / 1e5,
                     "trials", s->trials, "reduced_search", reduced);
}

/*
 * The budget: @seconds > 0 is the caller's wall-clock cap and the plan runs until it; else
 * the automatic budget in units of work, the same on the same data.
 */
static void set_budget(struct search *s, const tt_model_opts *base, double seconds,
                       bool reduced)
{
    bool ease = strcmp(s->model, "ease") == 0;

    s->unit = ease ? 1.0 : als_cost(s, base->als.factors, base->als.iterations);
    s->seconds_cap = seconds > 0 ? seconds : 0;
    if (seconds > 0)
        s->units_cap = INFINITY;
    else
        s->units_cap = ease ? EASE_UNITS : reduced ? ALS_REDUCED_UNITS : ALS_UNITS;
}

int tt_tune_model(const char *model, const tt_dataset *ds, const uint8_t *within,
                  const tt_model_opts *base, double budget, tt_model_opts *best, json_t **report,
                  tt_err *err)
{
    struct search s = {0};
    struct config *fin;
    double base_ndcg;
    bool reduced;
    int rc, n_fin;

    *best = *base;
    *report = NULL;
    s.model = model;
    s.base = base;
    s.ds = ds;
    s.t0 = tt_now();
    s.threads = base->threads;
    s.trials = json_array();
    s.best_opts = *base;
    s.within = within;
    s.folds = 1;
    if ((rc = make_fold(&s, 0, base->seed, err)) < 0) {
        json_decref(s.trials);
        return rc;
    }
    reduced = ds->n_events > FULL_SEARCH_EVENTS && budget <= 0;
    set_budget(&s, base, budget, reduced);
    s.trials_planned = planned_trials(&s, base, reduced);
    /* The defaults at full strength: the figure tuning has to beat, and a unit's seconds. */
    base_ndcg = trial(&s, base, "defaults, full iterations", base->als.iterations, NULL);
    s.unit_seconds = s.trial_seconds;
    if (base_ndcg < 0) {
        json_decref(s.trials);
        release_folds(&s);
        return tt_err_set(err, TT_ESTATE, "%s cannot be trained on the validation split", model);
    }
    s.best = base_ndcg;
    if (strcmp(model, "ease") == 0) {
        line_search_lambda(&s);
        goto done;
    }
    fin = tt_calloc(FINALISTS, sizeof(*fin));
    n_fin = halving(&s, base, reduced, fin, FINALISTS);
    choose(&s, base, fin, n_fin, &base_ndcg);
    free(fin);
    if (base_ndcg < 0) {
        s.best = -1;
        goto done;
    }
    refine(&s, reduced);
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
    *report = report_of(&s, base, base_ndcg, reduced);
    json_decref(s.trials);
    release_folds(&s);
    return s.best >= 0 ? 0 : tt_err_set(err, TT_EINTERNAL, "every tuning trial failed");
}
