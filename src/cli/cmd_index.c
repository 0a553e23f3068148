/*
 * tunetrail index: build the FAISS index of the catalog's content vectors into
 * MODEL_DIR/faiss_indexes/ (also run by `train --tier starter`).
 */
#include "cli.h"
#include "train_opts.h"
#include "tt/ann.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/pipeline.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE                                                                                      \
    "tunetrail index [--type flat|ivf|hnsw|auto] [--nlist N] [--nprobe N] [--m M]\n"               \
    "       [--ef-construction N] [--ef-search N] [--threads N] [--quiet]\n"                       \
    "       [content options: --w-audio X --w-key X --w-genre X --w-embedding X --genre-dims N\n" \
    "        --whiten X --augment-k N]"

static bool same_weights(const tt_content_params *a, const tt_content_params *b)
{
    return a->w_audio == b->w_audio && a->w_key == b->w_key && a->w_genre == b->w_genre &&
           a->w_embedding == b->w_embedding && a->genre_dims == b->genre_dims &&
           a->whiten == b->whiten && a->augment_k == b->augment_k;
}

/*
 * The index must cover exactly the vectors the service will search: those of the content
 * model trained for this catalog when there is one (*model set), else vectors built now
 * from the store (*model NULL). Content options that contradict the trained model are
 * refused rather than silently producing an index the service would refuse.
 */
static int trained_vectors(const tt_config *cfg, const tt_dataset *ds,
                           const tt_content_params *asked, tt_model **model, tt_err *err)
{
    char path[1200];
    tt_content_params def = tt_content_params_default(), had;
    tt_err lerr = {0};

    *model = NULL;
    snprintf(path, sizeof(path), "%s/starter/content.ttm", cfg->model_dir);
    if (access(path, F_OK) != 0 ||
        tt_model_load(path, tt_catalog_checksum(ds), model, &lerr) < 0) {
        if (lerr.code)
            fprintf(stderr, "index: not using %s: %s\n", path, lerr.message);
        return 0;
    }
    had = tt_content_model_params(*model);
    if (!same_weights(asked, &def) && !same_weights(asked, &had)) {
        tt_model_free(*model);
        *model = NULL;
        return tt_err_set(err, TT_EINVAL,
                          "the content model in %s was trained with other content weights; "
                          "retrain it with these (tunetrail train --model content ...) first",
                          path);
    }
    return 0;
}

struct index_args {
    struct tt_train_cli tc;
    struct tt_ann_cli ac;
    bool quiet;
};

static void bind_opts(struct index_args *a, struct tt_opt *opts)
{
    a->quiet = false;
    opts[0] = (struct tt_opt)TT_CLI_QUIET_OPT(&a->quiet);
    tt_ann_cli_init(&a->ac, opts + 1);
    tt_train_cli_init(&a->tc, opts + 1 + TT_ANN_OPTS_MAX);
}

TT_CLI_DESCRIBE(struct index_args, bind_opts)

static int cmd_index(int argc, char **argv)
{
    struct index_args a;
    struct tt_opt opts[1 + TT_ANN_OPTS_MAX + TT_TRAIN_OPTS_MAX + 1];
    struct tt_cli_stages stages = {NULL, "index"};
    tt_config cfg;
    char *pos[1];
    int npos, rc, d = 0;
    tt_store *s;
    tt_dataset *ds = NULL;
    tt_model *model = NULL;
    float *vec = NULL;
    tt_err err = {0};

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    if ((rc = tt_ann_cli_finish(&a.ac)) != 0 || (rc = tt_train_cli_finish(&a.tc)) != 0)
        return rc;
    a.ac.params.threads = a.tc.opts.threads;
    a.ac.params.seed = a.tc.opts.seed;
    stages.p = tt_cli_progress_new(a.quiet);
    tt_progress_set_unit(stages.p, "vectors");
    a.ac.params.progress = tt_cli_stage_report;
    a.ac.params.progress_ctx = &stages;
    s = tt_cli_open_store(&cfg);
    rc = tt_dataset_load(s, &ds, &err);
    tt_store_close(s);
    if (rc == 0 && tt_dataset_n_tracks(ds) == 0)
        rc = tt_err_set(&err, TT_ESTATE, "the catalog is empty: import tracks first");
    if (rc == 0)
        rc = trained_vectors(&cfg, ds, &a.tc.opts.content, &model, &err);
    if (rc == 0 && model) {
        const float *mv = tt_content_model_vectors(model, &d);
        fprintf(stderr, "index: the vectors of the trained content model\n");
        rc = tt_pipeline_write_index(cfg.model_dir, mv, model->n_tracks, d, model->catalog, &a.ac.params, &err);
    } else if (rc == 0) {
        tt_progress_begin(stages.p, "index content vectors", 0);
        rc = tt_content_vectors(ds, &a.tc.opts.content, &vec, &d, &err);
        tt_progress_end(stages.p);
        if (rc == 0)
            rc = tt_pipeline_write_index(cfg.model_dir, vec, tt_dataset_n_tracks(ds), d,
                                    tt_catalog_checksum(ds), &a.ac.params, &err);
    }
    tt_progress_free(stages.p);
    tt_model_free(model);
    free(vec);
    tt_dataset_free(ds);
    return rc < 0 ? tt_cli_fail(&err, rc) : 0;
}

const struct tt_cmd tt_cmd_index_def = {
    "index", cmd_index, "build the FAISS content-similarity index into MODEL_DIR", USAGE,
    describe_options, 0, NULL};
