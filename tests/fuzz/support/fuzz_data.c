/*
 * Small trained data for the harnesses: see fuzz_data.h.
 */
#include "fuzz_data.h"
#include "fuzz_support.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "tt/content.h"
#include "tt/core.h"
#include "tt/generate.h"
#include "tt/model.h"
#include "tt/pipeline.h"
#include "tt/store.h"

static void must(int rc, const tt_err *err, const char *what)
{
    if (rc < 0)
        fz_fail("%s: %s", what, tt_err_msg(err, rc));
}

void fz_data_generate(const tt_config *cfg, int users, int tracks, int interactions, uint64_t seed)
{
    tt_generate_params p = tt_generate_params_default();
    tt_store *s = NULL;
    tt_err err = {0};

    p.users = users;
    p.tracks = tracks;
    p.interactions = interactions;
    p.seed = seed;
    must(tt_store_open(cfg->database_url, &s, &err), &err, "open the database");
    must(tt_generate_run(s, &p, NULL, &err), &err, "generate");
    tt_store_close(s);
}

void fz_data_train(const tt_config *cfg, const char *request)
{
    json_t *req = json_loads(request, 0, NULL);
    tt_job_spec spec;
    tt_model_opts *o = &spec.opts;
    tt_err err = {0};

    must(tt_job_spec_parse(req, &spec, &err), &err, request);
    spec.tune = false;
    spec.evaluate = false;
    o->threads = 1;
    o->als.factors = 8;
    o->als.iterations = 3;
    o->neumf.factors = 8;
    o->neumf.layers[0] = 16;
    o->neumf.layers[1] = 8;
    o->neumf.layers[2] = 4;
    o->neumf.epochs = 2;
    o->neumf.validation_users = 0;
    o->deep_content.hidden = 16;
    o->deep_content.epochs = 2;
    o->hybrid_deep.epochs = 2;
    must(tt_pipeline_run(cfg, &spec, NULL, NULL, &err), &err, request);
    tt_job_spec_release(&spec);
    json_decref(req);
}

void fz_data_index(const tt_config *cfg, enum tt_ann_type type, const char *path)
{
    char file[1200];
    tt_ann_params p = tt_ann_params_default();
    tt_model *m = NULL;
    tt_ann *ix = NULL;
    tt_err err = {0};
    const float *v;
    int d = 0;

    snprintf(file, sizeof(file), "%s/starter/content.ttm", cfg->model_dir);
    must(tt_model_load(file, 0, &m, &err), &err, "load the content model");
    v = tt_content_model_vectors(m, &d);
    p.type = type;
    p.threads = 1;
    p.m = 4;
    p.ef_construction = 8;
    if (!path) {
        must(tt_pipeline_write_index(cfg->model_dir, v, m->n_tracks, d, m->catalog, &p, &err), &err,
             "build the index");
    } else {
        tt_ann_meta meta = {m->catalog,     tt_ann_vectors_checksum(v, m->n_tracks, d),
                            m->n_tracks,    d,
                            tt_unix_time(), 0};
        must(tt_ann_build(v, m->n_tracks, d, &p, &ix, &err), &err, "build the index");
        must(tt_ann_save(ix, &meta, path, &err), &err, "save the index");
        tt_ann_free(ix);
    }
    tt_model_free(m);
}

static const char *const kind_names[] = {"zero", "one", "two"};

const tt_mfield fz_meta_fields[] = {
    {"i32", TT_MF_I32, TT_MF_AT(fz_meta, i32), .lo = -5, .hi = 1000},
    {"i64", TT_MF_I64, TT_MF_AT(fz_meta, i64)},
    {"u64", TT_MF_U64, TT_MF_AT(fz_meta, u64)},
    {"f32", TT_MF_F32, TT_MF_AT(fz_meta, f32), .lo = 0, .hi = 1},
    {"f64", TT_MF_F64, TT_MF_AT(fz_meta, f64)},
    {"flag", TT_MF_BOOL, TT_MF_AT(fz_meta, flag)},
    {"kind", TT_MF_ENUM, TT_MF_AT(fz_meta, kind), .names = kind_names, .n_names = 3},
    {"name", TT_MF_STR, TT_MF_AT(fz_meta, name)},
    {"optional", TT_MF_I32, TT_MF_AT(fz_meta, optional), .flags = TT_MF_OPTIONAL},
    {"any", TT_MF_F64, TT_MF_AT(fz_meta, any), .flags = TT_MF_NONFINITE | TT_MF_OPTIONAL},
};
const int fz_meta_n_fields = (int)(sizeof(fz_meta_fields) / sizeof(fz_meta_fields[0]));

fz_meta fz_meta_example(void)
{
    return (fz_meta){7, -3, UINT64_C(0xfeedface), 0.25f, 1e-3, true, 2, "example", 4, NAN};
}

int fz_mute_stdout(void)
{
    int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);

    fflush(stdout);
    if (saved < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0)
        fz_fail("cannot silence stdout");
    close(null);
    return saved;
}

void fz_restore_stdout(int saved)
{
    if (saved < 0)
        return;
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}
