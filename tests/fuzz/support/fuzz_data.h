/*
 * fuzz_data.h - small trained data: a generated SQLite database and models trained on it
 * with few factors and epochs, untuned and unevaluated, so they are made in seconds. The
 * service of the HTTP harnesses (fuzz_app.h) is built on them, and so are the seed files of
 * the model-file harnesses (tools/make_seeds.c). Every function aborts (fz_fail) on error.
 */
#ifndef TT_FUZZ_DATA_H
#define TT_FUZZ_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/ann.h"
#include "tt/config.h"
#include "tt/modelfile.h"

/* Generates @users, @tracks and @interactions from @seed into cfg->database_url. */
void fz_data_generate(const tt_config *cfg, int users, int tracks, int interactions, uint64_t seed);

/* Runs the training job @request (its JSON) with small models into cfg->model_dir. */
void fz_data_train(const tt_config *cfg, const char *request);

/*
 * Builds an index of type @type over the trained content model's vectors and writes it to
 * @path, or where the service looks for it when @path is NULL (as `tunetrail index`).
 */
void fz_data_index(const tt_config *cfg, enum tt_ann_type type, const char *path);

/*
 * A metadata record with a field of every type of the model-file codec (tt_mfile_put_meta),
 * one of them optional and one that takes NaN: what fuzz_modelfile decodes, and what the
 * container seed holds.
 */
typedef struct fz_meta {
    int32_t i32;
    int64_t i64;
    uint64_t u64;
    float f32;
    double f64;
    bool flag;
    int kind; /* an enum: "zero", "one", "two" */
    const char *name;
    int32_t optional;
    double any; /* NaN and infinities accepted */
} fz_meta;

extern const tt_mfield fz_meta_fields[];
extern const int fz_meta_n_fields;
/* A record every field of which is in range. */
fz_meta fz_meta_example(void);

/* Sends stdout (training prints a line per model) to /dev/null until fz_restore_stdout. */
int fz_mute_stdout(void);
void fz_restore_stdout(int saved);

#endif
