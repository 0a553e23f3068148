/*
 * tunetrail evaluate: offline comparison of models (docs/evaluation.md). The interaction log
 * is split once, every model is trained on the same training events and ranks for the same
 * users, so the rows of the report differ only by model. The report goes to stdout; progress
 * goes to stderr, so `--json > out.json` stays parseable.
 */
#include "cli.h"
#include "train_opts.h"
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/eval.h"
#include "tt/models.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define USAGE                                                                                      \
    "tunetrail evaluate [--split random|time|last|cold-tracks] [--holdout F] [--k K] [--seed S]\n" \
    "       [--models a,b|all] [--json] [--test-file FILE.csv] [--threads N] [--quiet]\n"          \
    "       tunetrail evaluate --protocol loo-99 [--models a,b] [--json] (HR@10, NDCG@10)\n"   \
    "       tunetrail evaluate --similar [--k 10] [--queries N] [--json]\n"                          \
    "       tunetrail evaluate --mixes [--split random|time|last] [--holdout F] [--json]\n"          \
    "       [--type flat|ivf|hnsw --nlist N --nprobe N --m M --ef-search N] [content options]\n"   \
    "       [model options: --factors N --regularization X --alpha X --iterations N\n"             \
    "        --scaling linear|log|bm25 --bm25-k1 X --bm25-b X ...]"

#define BASELINE "popularity"
#define MAX_K 100000
#define MAX_MODELS 64
#define COLD_HOLDOUT 0.1 /* cold-tracks split: the default share of tracks held out */

/* The evaluation's own options; the model options (and --seed, --threads) are train's. */
struct eval_args {
    const char *split, *models, *test_file, *protocol;
    double holdout;
    int k;
    bool json, similar, mixes, quiet;
    tt_progress *progress; /* stderr: a stage per model trained and ranked */
    int64_t queries;
    struct tt_train_cli train;
    struct tt_ann_cli ann;
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tunetrail: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 2;
}

/* ---- options ---------------------------------------------------------------------------- */

static int check_split(const struct eval_args *a, tt_split_params *sp)
{
    int kind = a->split ? tt_split_kind_parse(a->split) : TT_SPLIT_RANDOM;

    if (kind < 0)
        return usage_error("invalid --split '%s': use random, time, last or cold-tracks", a->split);
    if (a->test_file && a->split)
        return usage_error("--split does not apply with --test-file (the file is the test set)");
    if (a->test_file && !isnan(a->holdout))
        return usage_error("--holdout does not apply with --test-file (the file is the test set)");
    if (!isnan(a->holdout) && !(a->holdout > 0.0 && a->holdout < 1.0))
        return usage_error("invalid --holdout %g: must be between 0 and 1 (exclusive)", a->holdout);
    if (a->k < 1 || a->k > MAX_K)
        return usage_error("invalid --k %d: must be 1..%d", a->k, MAX_K);
    *sp = tt_split_params_default();
    sp->kind = a->test_file ? TT_SPLIT_FILE : (enum tt_split_kind)kind;
    if (!isnan(a->holdout))
        sp->holdout = a->holdout;
    else if (sp->kind == TT_SPLIT_COLD_TRACKS)
        sp->holdout = COLD_HOLDOUT;
    sp->seed = (uint64_t)a->train.seed;
    return 0;
}

static void add_model(const char *name, const char **names, int *n)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(names[i], name) == 0)
            return;
    if (*n < MAX_MODELS)
        names[(*n)++] = name;
}

/* Adds the model named by the @len bytes at @tok ("all" = every model); 2 when unknown. */
static int add_token(const char *tok, size_t len, const char **names, int *n)
{
    char buf[64];
    const tt_model_info *info;

    if (len >= sizeof(buf))
        return usage_error("unknown model '%.*s' in --models", (int)len, tok);
    memcpy(buf, tok, len);
    buf[len] = '\0';
    if (strcmp(buf, "all") == 0) {
        for (info = tt_models_list(); info->name; info++)
            add_model(info->name, names, n);
        return 0;
    }
    info = tt_models_find(buf);
    if (!info) {
        fprintf(stderr, "tunetrail: unknown model '%s' in --models; known:", buf);
        for (info = tt_models_list(); info->name; info++)
            fprintf(stderr, " %s", info->name);
        fprintf(stderr, ", all\n");
        return 2;
    }
    add_model(info->name, names, n);
    return 0;
}

/*
 * The models to evaluate: the comma-separated @spec, or by default every free-tier model and
 * hybrid (the starter tier's main model, to compare with ALS); on a cold-tracks split ALS,
 * popularity, content and hybrid. The popularity baseline is always among them so every
 * report has its reference row.
 */
static int parse_models(const char *spec, bool cold, const char **names, int *n)
{
    static const char *const cold_models[] = {"als", "popularity", "content", "hybrid"};

    *n = 0;
    for (size_t i = 0; !spec && cold && i < sizeof(cold_models) / sizeof(cold_models[0]); i++)
        add_model(cold_models[i], names, n);
    if (!spec && !cold) {
        for (const tt_model_info *info = tt_models_list(); info->name; info++)
            if (info->tier == TT_TIER_FREE)
                add_model(info->name, names, n);
        add_model("hybrid", names, n);
    }
    for (const char *p = spec; p && *p;) {
        size_t len = strcspn(p, ",");
        const char *tok = p;
        p += len + (p[len] == ',');
        while (len > 0 && *tok == ' ') {
            tok++;
            len--;
        }
        while (len > 0 && tok[len - 1] == ' ')
            len--;
        if (len > 0 && add_token(tok, len, names, n) != 0)
            return 2;
    }
    if (*n == 0)
        return usage_error("--models names no model");
    if (tt_models_find(BASELINE))
        add_model(BASELINE, names, n);
    return 0;
}

/* ---- running ---------------------------------------------------------------------------- */

static int no_users(const tt_split *s, const tt_split_params *sp)
{
    fprintf(stderr, "tunetrail: no evaluable users: ");
    switch (s->kind) {
    case TT_SPLIT_RANDOM:
        fprintf(stderr, "no user has %d or more distinct positive tracks\n",
                TT_SPLIT_RANDOM_MIN_POSITIVES);
        break;
    case TT_SPLIT_TIME:
        fprintf(stderr,
                "no user has both a training positive and a new positive track after "
                "the cut at %lld (holdout %.2f; are the event times all equal?)\n",
                (long long)s->cut_time, sp->holdout);
        break;
    case TT_SPLIT_LAST:
        fprintf(stderr, "no user has %d or more distinct positive tracks\n",
                TT_SPLIT_LAST_MIN_POSITIVES);
        break;
    case TT_SPLIT_COLD_TRACKS:
        fprintf(stderr, "no user with a training positive liked one of the %d held-out tracks "
                        "(holdout %.2f)\n", s->n_cold, sp->holdout);
        break;
    case TT_SPLIT_FILE:
        fprintf(stderr,
                "no user of the test file has a training history and a new positive "
                "track (%lld rows: %lld with unknown users, %lld with unknown tracks, "
                "%d users without history)\n",
                (long long)s->file_rows, (long long)s->file_unknown_user,
                (long long)s->file_unknown_track, s->file_cold_users);
        break;
    }
    return 1;
}

static int make_split(const tt_dataset *ds, const struct eval_args *a, const tt_split_params *sp,
                      tt_split *s)
{
    tt_err err = {0};
    int rc = a->test_file ? tt_split_from_file(ds, a->test_file, &sp->weighting, s, &err)
                          : tt_split_build(ds, sp, s, &err);

    if (rc < 0)
        return tt_cli_fail(&err, rc);
    if (s->kind == TT_SPLIT_FILE)
        fprintf(stderr,
                "evaluate: %s: %lld rows, %lld skipped for unknown users, %lld for "
                "unknown tracks\n",
                a->test_file, (long long)s->file_rows, (long long)s->file_unknown_user,
                (long long)s->file_unknown_track);
    fprintf(stderr,
            "evaluate: split %s: %d users evaluated, %lld relevant tracks held out, "
            "%lld training events\n",
            tt_split_kind_name(s->kind), s->n_users, (long long)s->relevant.nnz,
            (long long)s->n_train_events);
    return s->n_users == 0 ? no_users(s, sp) : 0;
}

/* The display and the model being trained (the parts a blend trains are not its steps). */
struct shown {
    tt_progress *p;
    const char *model;
};

static void on_step(void *ctx, const char *model, int step, int steps, double loss,
                    double metric, double seconds)
{
    const struct shown *s = ctx;

    (void)loss;
    (void)metric;
    (void)seconds;
    if (strcmp(model, s->model) == 0)
        tt_progress_update(s->p, step, steps);
}

/*
 * Trains model @name on @ts with its iterations or epochs shown on @p: a stage "train
 * NAME", then "rank NAME" for what the caller does with it.
 */
static int train_shown(const char *name, const tt_train_set *ts, const tt_model_opts *mo,
                       tt_progress *p, tt_model **m, tt_err *err)
{
    tt_model_opts o = *mo;
    struct shown shown = {p, name};
    char label[96];
    int rc;

    snprintf(label, sizeof(label), "train %s", name);
    tt_progress_set_unit(p, "it");
    tt_progress_begin(p, label, 0);
    o.on_step = on_step;
    o.step_ctx = &shown;
    rc = tt_models_train(name, ts, &o, m, err);
    snprintf(label, sizeof(label), "rank %s", name);
    tt_progress_begin(p, label, 0);
    return rc;
}

/* Trains and scores one model into @row; a failure is recorded in the row, not fatal. */
static void run_model(const char *name, const tt_train_set *ts, const tt_split *s,
                      const tt_model_opts *mo, int k, tt_progress *p, tt_eval_row *row)
{
    tt_model *m = NULL;
    tt_err err = {0};
    double t0 = tt_now();
    int rc;

    snprintf(row->model, sizeof(row->model), "%s", name);
    rc = train_shown(name, ts, mo, p, &m, &err);
    row->train_seconds = tt_now() - t0;
    if (rc == 0)
        rc = tt_eval_model(m, s, &ts->seen, k, mo->threads, &row->scores, &err);
    tt_progress_end(p);
    if (rc < 0) {
        snprintf(row->error, sizeof(row->error), "%s", tt_err_msg(&err, rc));
        tt_progress_note(p, "evaluate: %s failed: %s", name, row->error);
    } else {
        tt_progress_note(p, "evaluate: %s trained in %.2f s, ranked %d users in %.2f s", name,
                         row->train_seconds, row->scores.users, row->scores.score_seconds);
    }
    tt_model_free(m);
}

/*
 * The random-ranking rows of a cold-tracks split: "random" draws from every track the user
 * has not heard (what the models choose from), "random-new" from the held-out tracks alone
 * (a ranking told which tracks are new): the figures "10x random" is checked against.
 */
static int random_rows(const tt_split *s, const tt_train_set *ts, int k, tt_eval_row *rows)
{
    static const char *const names[] = {"random", "random-new"};
    tt_err err = {0};

    for (int i = 0; i < 2; i++) {
        snprintf(rows[i].model, sizeof(rows[i].model), "%s", names[i]);
        if (tt_eval_random(s, &ts->seen, i ? s->cold : NULL, k, &rows[i].scores, &err) < 0) {
            snprintf(rows[i].error, sizeof(rows[i].error), "%.200s", err.message);
            return 1;
        }
    }
    return 0;
}

static void print_report(const tt_eval_report *r, bool json)
{
    char *s;

    if (!json) {
        tt_eval_report_table(r, stdout);
        return;
    }
    s = tt_eval_report_json(r);
    printf("%s\n", s);
    free(s);
}

/* Trains, scores and reports every model; returns the exit code. */
static int evaluate(const tt_dataset *ds, const struct eval_args *a, const tt_split_params *sp,
                    const tt_model_opts *mo, const char **names, int n_names)
{
    tt_split s;
    tt_train_set ts;
    tt_eval_report r = {0};
    int code = make_split(ds, a, sp, &s), failed = 0;

    if (code != 0)
        goto out;
    tt_train_set_build(ds, s.mask, &sp->weighting, &ts);
    r = (tt_eval_report){.split = sp->kind,
                         .holdout = sp->holdout,
                         .k = a->k,
                         .seed = sp->seed,
                         .test_file = a->test_file,
                         .baseline = BASELINE,
                         .users_evaluated = s.n_users,
                         .n_users = tt_dataset_n_users(ds),
                         .n_tracks = tt_dataset_n_tracks(ds),
                         .train_events = s.n_train_events,
                         .test_events = s.n_test_events,
                         .n_rows = n_names};
    r.rows = tt_calloc((size_t)n_names + 2, sizeof(tt_eval_row));
    for (int i = 0; i < n_names; i++) {
        run_model(names[i], &ts, &s, mo, a->k, a->progress, &r.rows[i]);
        failed += r.rows[i].error[0] != '\0';
    }
    if (s.kind == TT_SPLIT_COLD_TRACKS) {
        failed += random_rows(&s, &ts, a->k, r.rows + n_names);
        r.n_rows += 2;
    }
    print_report(&r, a->json);
    code = failed ? 1 : 0;
    free(r.rows);
    tt_train_set_release(&ts);
out:
    tt_split_release(&s);
    return code;
}

/*
 * The NeuMF paper's protocol: each user's latest positive held out (the last split), ranked
 * among 99 sampled tracks they never touched; HR@10 and NDCG@10 per model.
 */
static int evaluate_loo(const tt_dataset *ds, const struct eval_args *a, const tt_split_params *sp,
                        const tt_model_opts *mo, const char **names, int n_names)
{
    tt_split s;
    tt_train_set ts;
    json_t *rows = json_array();
    int code = make_split(ds, a, sp, &s), failed = 0;

    if (code != 0)
        goto out;
    tt_train_set_build(ds, s.mask, &sp->weighting, &ts);
    if (!a->json)
        printf("protocol loo-99 (He et al. 2017): %d users, latest positive held out, ranked "
               "among 99 sampled unplayed tracks, seed %llu\n\n%-14s %8s %8s %8s %9s\n",
               s.n_users, (unsigned long long)sp->seed, "model", "hr@10", "ndcg@10", "users",
               "train_s");
    for (int i = 0; i < n_names; i++) {
        tt_model *m = NULL;
        tt_loo_scores sc = {0};
        tt_err err = {0};
        double t0 = tt_now();
        int rc;
        rc = train_shown(names[i], &ts, mo, a->progress, &m, &err);
        double ts_s = tt_now() - t0;
        if (rc == 0)
            rc = tt_eval_loo(m, &s, &ts.seen, 99, 10, sp->seed, &sc, &err);
        tt_progress_end(a->progress);
        tt_model_free(m);
        if (rc < 0) {
            tt_progress_note(a->progress, "evaluate: %s failed: %s", names[i],
                             tt_err_msg(&err, rc));
            failed++;
            continue;
        }
        if (!a->json)
            printf("%-14s %8.4f %8.4f %8d %9.2f\n", names[i], sc.hr, sc.ndcg, sc.users, ts_s);
        json_array_append_new(rows, json_pack("{s:s, s:f, s:f, s:i, s:f, s:f}", "model", names[i],
                                              "hr@10", sc.hr, "ndcg@10", sc.ndcg, "users",
                                              sc.users, "train_seconds", ts_s, "rank_seconds",
                                              sc.seconds));
    }
    if (a->json) {
        json_t *j = json_pack("{s:s, s:i, s:i, s:I, s:i, s:O}", "protocol", "loo-99", "k", 10,
                              "negatives", 99, "seed", (json_int_t)sp->seed, "users", s.n_users,
                              "models", rows);
        char *text = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
        json_decref(j);
    }
    code = failed ? 1 : 0;
    tt_train_set_release(&ts);
out:
    json_decref(rows);
    tt_split_release(&s);
    return code;
}

/* Daily mixes on the split's training events (cmd_evaluate_mixes.c). */
static int evaluate_mixes(const tt_dataset *ds, const struct eval_args *a,
                          const tt_split_params *sp, const tt_model_opts *mo)
{
    tt_split s;
    tt_train_set ts;
    int code = make_split(ds, a, sp, &s);

    if (code == 0) {
        tt_train_set_build(ds, s.mask, &sp->weighting, &ts);
        code = tt_cli_evaluate_mixes(ds, &s, &ts, mo, a->json);
        tt_train_set_release(&ts);
    }
    tt_split_release(&s);
    return code;
}

/* Binds the evaluation's options to @a, followed by the shared model options. */
static void bind_opts(struct eval_args *a, struct tt_opt *opts)
{
    int i = 0;

    memset(a, 0, sizeof(*a));
    a->holdout = NAN;
    a->k = 0; /* 20 for recommendations, 10 for similar tracks */
    a->queries = 10000;
    opts[i++] = (struct tt_opt){"--split", TT_OPT_STR, &a->split, "random (default), time or last"};
    opts[i++] = (struct tt_opt){"--holdout", TT_OPT_DOUBLE, &a->holdout,
                                "share held out for testing, in (0, 1) (default 0.2)"};
    opts[i++] =
        (struct tt_opt){"--k", TT_OPT_INT, &a->k, "cut-off of the ranked lists (default 20)"};
    opts[i++] = (struct tt_opt){"--models", TT_OPT_STR, &a->models,
                                "comma-separated models, or all (default: the free tier)"};
    opts[i++] = (struct tt_opt){"--json", TT_OPT_BOOL, &a->json,
                                "print one JSON document instead of a table"};
    opts[i++] = (struct tt_opt){"--test-file", TT_OPT_STR, &a->test_file,
                                "no split: evaluate against this interactions CSV"};
    opts[i++] = (struct tt_opt){"--similar", TT_OPT_BOOL, &a->similar,
                                "judge similar tracks (content vectors, index) by genre labels"};
    opts[i++] = (struct tt_opt){"--protocol", TT_OPT_STR, &a->protocol,
                                "loo-99: leave-one-out against 99 sampled tracks (HR@10, NDCG@10)"};
    opts[i++] = (struct tt_opt){"--mixes", TT_OPT_BOOL, &a->mixes,
                                "judge daily mixes against ALS lists of the same length"};
    opts[i++] = (struct tt_opt){"--queries", TT_OPT_I64, &a->queries,
                                "--similar: most query tracks, a seeded sample (10000)"};
    opts[i++] = (struct tt_opt)TT_CLI_QUIET_OPT(&a->quiet);
    tt_ann_cli_init(&a->ann, opts + i);
    i += TT_ANN_OPTS_MAX;
    tt_train_cli_init(&a->train, opts + i);
}

static int evaluate_similar(struct eval_args *a, const tt_config *cfg)
{
    tt_dataset *ds = NULL;
    tt_store *store;
    tt_err err = {0};
    int rc;

    if ((rc = tt_train_cli_finish(&a->train)) != 0 || (rc = tt_ann_cli_finish(&a->ann)) != 0)
        return rc;
    if (a->split || a->test_file || a->models || !isnan(a->holdout))
        return usage_error("--similar takes no --split, --holdout, --test-file or --models");
    if (a->k < 1 || a->k > 1000)
        return usage_error("invalid --k %d: must be 1..1000 with --similar", a->k);
    if (a->queries < 1)
        return usage_error("invalid --queries %lld: must be >= 1", (long long)a->queries);
    a->ann.params.threads = a->train.opts.threads;
    a->ann.params.seed = a->train.opts.seed;
    store = tt_cli_open_store(cfg);
    rc = tt_dataset_load(store, &ds, &err);
    tt_store_close(store);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    rc = tt_cli_evaluate_similar(cfg, ds, &a->train.opts.content, &a->ann,
                                 strcmp(a->ann.type, "auto") != 0, a->k, a->queries,
                                 a->train.opts.seed, a->json);
    tt_dataset_free(ds);
    return rc;
}

TT_CLI_DESCRIBE(struct eval_args, bind_opts)

static int cmd_evaluate(int argc, char **argv)
{
    struct eval_args a;
    struct tt_opt opts[11 + TT_ANN_OPTS_MAX + TT_TRAIN_OPTS_MAX + 1];
    const char *names[MAX_MODELS];
    tt_split_params sp;
    tt_config cfg;
    tt_dataset *ds = NULL;
    tt_store *store;
    tt_err err = {0};
    char *pos[1];
    int npos, n_names, rc;

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    if (a.k == 0)
        a.k = a.similar ? 10 : 20;
    if (a.similar)
        return evaluate_similar(&a, &cfg);
    if (a.protocol && strcmp(a.protocol, "loo-99") != 0)
        return usage_error("--protocol must be loo-99");
    if (a.protocol && a.split && strcmp(a.split, "last") != 0)
        return usage_error("--protocol loo-99 holds out each user's latest positive: --split "
                           "last or none");
    if (a.protocol)
        a.split = "last";
    if ((rc = tt_train_cli_finish(&a.train)) != 0 || (rc = check_split(&a, &sp)) != 0 ||
        (rc = parse_models(a.models, sp.kind == TT_SPLIT_COLD_TRACKS, names, &n_names)) != 0)
        return rc;
    if (a.mixes && (a.models || a.test_file))
        return usage_error("--mixes takes no --models or --test-file");
    /* Evaluation ranks in batches: lists precomputed for serving would be wasted work. */
    a.train.opts.als.precompute = 0;
    store = tt_cli_open_store(&cfg);
    fprintf(stderr, "evaluate: loading the dataset (%s)\n", tt_store_backend(store));
    rc = tt_dataset_load(store, &ds, &err);
    tt_store_close(store);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    a.progress = tt_cli_progress_new(a.quiet);
    rc = a.mixes      ? evaluate_mixes(ds, &a, &sp, &a.train.opts)
         : a.protocol ? evaluate_loo(ds, &a, &sp, &a.train.opts, names, n_names)
                      : evaluate(ds, &a, &sp, &a.train.opts, names, n_names);
    tt_progress_free(a.progress);
    tt_dataset_free(ds);
    return rc;
}

const struct tt_cmd tt_cmd_evaluate_def = {
    "evaluate", cmd_evaluate, "compare models offline (Recall@K, NDCG@K, MRR, coverage)", USAGE,
    describe_options, 0, NULL};
