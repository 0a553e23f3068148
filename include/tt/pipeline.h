/*
 * pipeline.h - the training pipeline (docs/pipeline.md): what a training run is asked to do
 * (a job spec, parsed and checked up front from the JSON of POST /models/train or from the
 * command line), and the run itself: snapshot, train, evaluate, write a version of each
 * model with its TensorBoard log, publish it unless it got worse, prune old versions.
 * `tunetrail train`, the job worker and the scheduler all go through tt_pipeline_run.
 */
#ifndef TT_PIPELINE_H
#define TT_PIPELINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tt/config.h"
#include "tt/cron.h"
#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/models.h"
#include "tt/registry.h"

/* Longest custom model name ("label-x-als"): [a-z0-9][a-z0-9_-]*. */
#define TT_CUSTOM_NAME_MAX 48

typedef struct tt_job_spec {
    char model[32];   /* one model; "" = every model of @tier */
    char tier[16];    /* "free", "starter", "pro", "enterprise" or "all" */
    char name[TT_CUSTOM_NAME_MAX + 1]; /* custom model name (enterprise), "" = none */
    tt_model_opts opts;
    json_t *params;   /* the parameters as given (for sidecars), an object */
    int64_t since;    /* data filter: events at or after (Unix seconds), 0 = no bound */
    int64_t until;    /* events before, 0 = no bound */
    json_t *genres;   /* data filter: events on tracks of one of these genres, or NULL */
    bool evaluate;    /* held-out metrics in the sidecar (default true) */
    bool tune;        /* tune hyperparameters on a validation split first (default true) */
    double tune_budget; /* seconds per tuned model, a wall-clock cap; 0 = automatic (work) */
    bool scheduled;   /* started by the scheduler */
    bool full_snapshot; /* read the whole interaction log, not the cache (logcache.h) */
} tt_job_spec;

/* A spec that trains every model of every tier with the default options. */
void tt_job_spec_init(tt_job_spec *s);
void tt_job_spec_release(tt_job_spec *s);

/*
 * Reads and checks a job request: {"model", "tier", "name", "params": {...}, "data":
 * {"since", "until", "genres"}, "evaluate"}. Everything is checked before anything runs:
 * an unknown model, tier or parameter, a value out of range, a bad date or a custom name
 * that is taken: TT_EINVAL with err->field naming it ("params.factors", "data.since").
 */
int tt_job_spec_parse(const json_t *req, tt_job_spec *out, tt_err *err);
/*
 * Whether @name may name a custom model: [a-z0-9][a-z0-9_-]*, at most TT_CUSTOM_NAME_MAX
 * characters, neither a model of the engine nor a directory of MODEL_DIR. TT_EINVAL with
 * err->field "name" otherwise.
 */
int tt_job_spec_check_name(const char *name, tt_err *err);
/* The spec as JSON (what a job row stores and a sidecar's data filter shows). */
json_t *tt_job_spec_json(const tt_job_spec *s);
/* Whether model @info is part of the run of @s. */
bool tt_job_spec_wants(const tt_job_spec *s, const tt_model_info *info);

/*
 * The training events of @ds under the spec's data filters: a mask of ds->n_events bytes
 * (malloc'd), or NULL when the spec filters nothing. *@kept: events left.
 */
uint8_t *tt_job_spec_mask(const tt_job_spec *s, const tt_dataset *ds, int64_t *kept);

/* What a run reports as it goes. Every callback may be NULL. */
typedef struct tt_run_hooks {
    /* A new stage ("snapshot", "train", "evaluate", "publish") of @model (NULL: whole run). */
    void (*stage)(void *ctx, const char *stage, const char *model, int index, int count);
    /*
     * An iteration (ALS) or epoch (NeuMF) finished; NAN for what is not measured. In the
     * "tune" stage a step is a tuning trial (@metric its validation NDCG@20); its last
     * report has @step == @steps.
     */
    void (*step)(void *ctx, const char *model, int step, int steps, double loss,
                 double metric, double seconds);
    /* A line of the run's log (no newline). */
    void (*log)(void *ctx, const char *line);
    void *ctx;
} tt_run_hooks;

/*
 * Runs @spec against the store and MODEL_DIR of @cfg. *@result (may be NULL; caller frees)
 * gets {"models": [{model, tier, version, published, promotion, metrics, train_seconds,
 * log_dir}], "seconds", "snapshot": {users, tracks, interactions}}.
 */
int tt_pipeline_run(const tt_config *cfg, const tt_job_spec *spec, const tt_run_hooks *hooks,
                    json_t **result, tt_err *err);

/* Writes @j (borrowed) to @path as indented JSON with sorted keys, atomically. */
int tt_pipeline_write_json(const char *path, const json_t *j, tt_err *err);

struct tt_ann_params;
/*
 * Builds the index of @n x @d content vectors of catalog @catalog with @p and writes it
 * under @dir/faiss_indexes/ (temporary name, rename) with a JSON sidecar; prints one line.
 */
int tt_pipeline_write_index(const char *dir, const float *vec, int64_t n, int d,
                            uint64_t catalog, const struct tt_ann_params *p, tt_err *err);

/*
 * The taste summary of @ds for taste profiles: MODEL_DIR/pro/taste.ttm and its sidecar,
 * written when the pro tier is trained.
 */
int tt_pipeline_train_taste(const tt_config *cfg, const tt_dataset *ds, tt_err *err);

/* ---- factors trained elsewhere (factors.c) ---- */

/*
 * An import of ALS factors learned by another system (docs/pipeline.md, "Factors trained
 * elsewhere"). The tables are read by tt_factors_read (include/tt/factors.h); their ids are
 * the database's user ids (tracks: the tracks table's track_id, users: the users table's and
 * the interactions' user_id).
 */
typedef struct tt_factor_import {
    const char *users, *tracks;       /* factor tables: CSV or .npy */
    const char *user_ids, *track_ids; /* the ids files of .npy tables, else NULL */
    const char *tier, *name;          /* "free" and "als", or "enterprise" and a custom name */
    /*
     * How serving folds listeners in and ranks (regularization, alpha, scaling and its
     * constants); factors is set from the tables, iterations and cg_steps are not used.
     */
    tt_als_params als;
    bool skip_unknown;                /* rows of ids the database lacks are left out */
} tt_factor_import;

/* Tier free, name als, the ALS defaults, nothing skipped; the files still to be set. */
tt_factor_import tt_factor_import_default(void);

/* What an import did (each count also in the version's sidecar under "import"). */
typedef struct tt_factor_import_report {
    char version[TT_VERSION_MAX];     /* the version written and published */
    int k;                            /* factors per row */
    int32_t users, tracks;            /* of the database (the model's rows) */
    int64_t user_rows, track_rows;    /* rows read from the tables */
    int64_t unknown_users, unknown_tracks; /* rows skipped (skip_unknown) */
    int32_t users_without, tracks_without; /* of the database, no row: zero vectors */
    double seconds;
} tt_factor_import_report;

/*
 * Makes an ALS model of the database of @cfg as it is now from the factor tables of @im,
 * and writes and publishes it as a new version of @im->tier / @im->name in MODEL_DIR
 * (include/tt/registry.h): the model file (tt_als_from_factors), the catalog written from
 * the same snapshot a training run writes (so the served snapshot's catalog check passes),
 * and a sidecar with "source": "imported". Old versions are pruned as after training.
 *
 * Users and tracks of the database without a row get a zero vector: such a listener is
 * folded in from their history at serving time, such a track scores 0 for everyone.
 * Nothing is written unless every check passes. Errors: TT_EINVAL (a tier or name that
 * cannot serve an ALS model, a parameter out of range, tables of different k, no row of a
 * table naming a user or track of the database), TT_EPARSE ("FILE:LINE: reason": a table's
 * own errors, an id the database does not know unless skip_unknown), TT_ENOTFOUND and
 * TT_EIO (files), the store's errors. @rep may be NULL.
 */
int tt_pipeline_import_factors(const tt_config *cfg, const tt_factor_import *im,
                               tt_factor_import_report *rep, tt_err *err);

enum tt_factors_format { TT_FACTORS_FORMAT_CSV, TT_FACTORS_FORMAT_NPY };

/* What an export wrote. */
typedef struct tt_factor_export_report {
    char version[TT_VERSION_MAX];     /* the published version exported */
    int k;
    int32_t users, tracks;            /* rows written */
    tt_als_params als;                /* the model's fold-in parameters, for the import */
    char files[4][1200];              /* the files written, "" past the last */
} tt_factor_export_report;

/*
 * Writes the factors of the published ALS model @tier / @name of @cfg into directory @dir
 * (created if missing), every user and track of its catalog, in the layouts
 * tt_pipeline_import_factors reads: users.csv and tracks.csv (id,f0,...), or users.npy,
 * user_ids.txt, tracks.npy and track_ids.txt. Importing them back into the same database
 * gives the same model. Errors: TT_ENOTFOUND (no such published model, or no catalog),
 * TT_EINVAL (not an ALS model), TT_ECORRUPT (a damaged file, or a model trained on another
 * catalog than the published one), TT_EIO. @rep may be NULL.
 */
int tt_pipeline_export_factors(const tt_config *cfg, const char *tier, const char *name,
                               enum tt_factors_format format, const char *dir,
                               tt_factor_export_report *rep, tt_err *err);

/* ---- self-tuning (tune.c) ---- */

/* Whether @model has hyperparameters the tuner searches (ALS, EASE). */
bool tt_tune_supported(const char *model);

/*
 * Tunes @model: a search over its hyperparameters from @base, each trial trained on a
 * random 90% of each user's positives among the events @within (NULL: all; pass the
 * training part of an evaluation split, never its held-out events) and scored by NDCG@20
 * on the other 10%. ALS: successive halving over a grid, each rung continuing the models of
 * the one before, its finalists and the defaults then compared by their mean over three such
 * folds, then a refinement (docs/pipeline.md); EASE: a line search on lambda on one fold.
 * @budget: 0 (automatic) counts work, not time: each trial's cost is estimated from the
 * data's shape, factors and iterations, in units of the defaults' full training, and the
 * search stops where the next trial would pass the automatic number of units, so the same
 * data always runs the same trials and makes the same choice (above 2M interactions only
 * regularization and confidence scale are searched); > 0: a wall-clock cap in seconds on
 * the whole plan. *@best gets @base with the chosen values; *@report (caller frees) the
 * trace: every trial (fold, iterations, figures), the validation, the defaults, the choice,
 * the budget and the units spent.
 */
int tt_tune_model(const char *model, const tt_dataset *ds, const uint8_t *within,
                  const tt_model_opts *base, double budget, tt_model_opts *best,
                  json_t **report, tt_err *err);

/*
 * Queues @spec as a new training job on @st, created at @now (Unix seconds; 0: now). @id
 * (TT_JOB_ID_MAX + 1 bytes) is its id, made here when empty; the request stored
 * (tt_job_spec_json) goes to *@request when not NULL (caller frees).
 */
int tt_pipeline_job_queue(struct tt_store *st, const tt_job_spec *spec, int64_t now, char *id,
                          json_t **request, tt_err *err);

/* "job-20261202T040000Z-1a2b3c4d": time-ordered, unique across replicas. */
void tt_pipeline_job_id(char *buf, size_t cap);

/* ---- schedules: one cron expression per tier (TRAIN_SCHEDULE_FREE, ...) ---- */

typedef struct tt_schedule {
    tt_cron cron[3];       /* free, starter, pro */
    bool on[3];
    int64_t last[3];       /* the latest fire time known claimed, per tier */
    struct tt_tz *tz;      /* TZ, or NULL for UTC */
} tt_schedule;

/* The schedules of @cfg in the zone named by TZ (UTC when unset). */
int tt_schedule_init(tt_schedule *s, const tt_config *cfg, tt_err *err);
void tt_schedule_release(tt_schedule *s);

/*
 * What a tier whose latest claimed fire time is @last (0: never) does at @now: returns the
 * fire time to claim, or 0 when nothing is due. Only the latest fire time at or before @now
 * counts, so runs missed while no engine was up are run once, not once each. A tier never
 * claimed before records a baseline (*@run false): turning a schedule on does not train at
 * once.
 */
int64_t tt_schedule_due(const tt_schedule *s, int tier, int64_t now, int64_t last, bool *run);

/*
 * One tick of the scheduler at @now (Unix seconds): for each tier due, claims its fire time
 * in the database (exactly one replica wins it) and queues a training job of the tier.
 * *@queued (may be NULL): how many jobs this call queued.
 */
int tt_schedule_tick(tt_schedule *s, struct tt_store *st, int64_t now, int *queued,
                     tt_err *err);

#endif
