/*
 * tunetrail train: the training pipeline (tt_pipeline_run) run once from the command line:
 * each model of the chosen tier(s) becomes a new version, published unless it got worse.
 * The run's log goes to stdout; its stages and steps (the hooks a training job reports its
 * progress through) drive the progress display on stderr.
 */
#include "cli.h"
#include "train_opts.h"
#include "tt/ann.h"
#include "tt/catalog.h"
#include "tt/content.h"
#include "tt/eval.h"
#include "tt/core.h"
#include "tt/models.h"
#include "tt/pipeline.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_selection(const char *tier, const char *model)
{
    int n = 0;

    if (model && !tt_models_find(model)) {
        fprintf(stderr, "tunetrail: unknown model '%s' (see 'tunetrail train --help')\n", model);
        return 2;
    }
    if (!model && strcmp(tier, "all") != 0 && tt_tier_from_name(tier) < 0) {
        fprintf(stderr, "tunetrail: --tier must be free, starter, pro, enterprise or all\n");
        return 2;
    }
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        n += model ? strcmp(model, i->name) == 0
                   : strcmp(tier, "all") == 0 || strcmp(tier, tt_tier_to_name(i->tier)) == 0;
    if (n == 0) {
        fprintf(stderr, "tunetrail: tier %s has no trainable models in this build\n", tier);
        return 1;
    }
    return 0;
}

/* The display and the model of the stage it shows. */
struct shown {
    tt_progress *p;
    char model[64];
};

/* A stage of the run begins: "snapshot", "tune als", "evaluate als", "train als". */
static void on_stage(void *ctx, const char *stage, const char *model, int index, int count)
{
    struct shown *s = ctx;
    char label[96];

    (void)index;
    (void)count;
    if (strcmp(stage, "publish") == 0) {
        tt_progress_end(s->p); /* a rename: nothing to watch */
        return;
    }
    snprintf(s->model, sizeof(s->model), "%s", model ? model : "");
    snprintf(label, sizeof(label), "%s%s%s", stage, model ? " " : "", model ? model : "");
    tt_progress_set_unit(s->p, strcmp(stage, "tune") == 0 ? "trials" : "it");
    tt_progress_begin(s->p, label, 0);
}

/*
 * An iteration, epoch or tuning trial of the current stage. The parts a blend trains inside
 * its stage (the hybrid's ALS) report too: they are not the stage's steps. A custom model
 * (its name not a model's) reports under its base model's name.
 */
static void on_step(void *ctx, const char *model, int step, int steps, double loss,
                    double metric, double seconds)
{
    struct shown *s = ctx;

    (void)loss;
    (void)metric;
    (void)seconds;
    if (strcmp(model, s->model) == 0 || !tt_models_find(s->model))
        tt_progress_update(s->p, step, steps);
}

#define USAGE "tunetrail train [--tier T] [--model NAME] [--quiet] [model options]"

struct train_args {
    const char *tier, *model;
    struct tt_train_cli tc;
    bool no_eval, no_tune, quiet, full_snapshot;
    double budget;
};

static void bind_opts(struct train_args *a, struct tt_opt *opts)
{
    const struct tt_opt o[] = {
        {"--tier", TT_OPT_STR, &a->tier, "free|starter|pro|enterprise|all (default all)"},
        {"--model", TT_OPT_STR, &a->model, "train only this model"},
        {"--no-eval", TT_OPT_BOOL, &a->no_eval, "skip the held-out evaluation in the sidecars"},
        {"--no-tune", TT_OPT_BOOL, &a->no_tune,
         "train with the given (or default) values, untuned"},
        {"--tune-budget", TT_OPT_DOUBLE, &a->budget,
         "cap tuning at S seconds per tuned model (default: a fixed amount of work)"},
        {"--full-snapshot", TT_OPT_BOOL, &a->full_snapshot,
         "read every interaction from the database, not only those added since the cached "
         "snapshot (MODEL_DIR/snapshot/)"},
        TT_CLI_QUIET_OPT(&a->quiet),
    };
    size_t n = sizeof(o) / sizeof(o[0]);

    a->tier = "all";
    a->model = NULL;
    a->no_eval = a->no_tune = a->quiet = a->full_snapshot = false;
    a->budget = 0;
    memcpy(opts, o, sizeof(o));
    tt_train_cli_init(&a->tc, opts + n);
}

TT_CLI_DESCRIBE(struct train_args, bind_opts)

static int cmd_train(int argc, char **argv)
{
    struct train_args args, *a = &args;
    const char *tier, *model;
    struct tt_train_cli *tc = &a->tc;
    bool no_eval, no_tune;
    double budget;
    struct tt_opt opts[TT_TRAIN_OPTS_MAX + 8];
    struct shown shown = {NULL, ""};
    tt_run_hooks hooks = {on_stage, on_step, NULL, &shown};
    tt_config cfg;
    char *pos[1];
    int npos, rc;
    tt_job_spec spec;
    tt_err err = {0};
    double t0 = tt_now();

    bind_opts(a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    tier = a->tier;
    model = a->model;
    no_eval = a->no_eval;
    no_tune = a->no_tune;
    budget = a->budget;
    if ((rc = tt_train_cli_finish(tc)) != 0 || (rc = check_selection(tier, model)) != 0)
        return rc;
    if (!(budget >= 0 && budget <= 86400)) {
        fprintf(stderr, "tunetrail: --tune-budget must be 0..86400 seconds\n");
        return 2;
    }
    if (cfg.enable_gpu)
        tt_warn("ENABLE_GPU=true: this build has no GPU code path; training runs on the CPU");
    tt_job_spec_init(&spec);
    spec.opts = tc->opts;
    spec.evaluate = !no_eval;
    spec.tune = !no_tune;
    spec.tune_budget = budget;
    spec.full_snapshot = a->full_snapshot;
    snprintf(spec.tier, sizeof(spec.tier), "%s", model ? tt_tier_to_name(tt_models_find(model)->tier) : tier);
    snprintf(spec.model, sizeof(spec.model), "%s", model ? model : "");
    shown.p = tt_cli_progress_new(a->quiet);
    rc = tt_pipeline_run(&cfg, &spec, &hooks, NULL, &err);
    tt_progress_free(shown.p);
    tt_job_spec_release(&spec);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    printf("trained in %.2f s; models under %s\n", tt_now() - t0, cfg.model_dir);
    return 0;
}

const struct tt_cmd tt_cmd_train_def = {
    "train", cmd_train, "train the models of a tier and write them to MODEL_DIR", USAGE,
    describe_options, 0, NULL};
