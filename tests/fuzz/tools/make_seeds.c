/*
 * make_seeds - writes the binary seeds of the model-file harnesses into CORPUS_DIR (make
 * fuzz-seeds): every model kind, the taste summary and the catalog trained on tiny generated
 * data (24 listeners, 32 tracks), a content index of each type, and a container with one
 * metadata field of every type. Each file is as the engine writes it.
 *
 * usage: make_seeds CORPUS_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/fuzz_data.h"
#include "../support/fuzz_support.h"
#include "tt/core.h"
#include "tt/modelfile.h"
#include "tt/models.h"

static void copy(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out;
    char buf[65536];
    size_t n;

    if (!in)
        fz_fail("cannot read %s", from);
    out = fopen(to, "wb");
    if (!out)
        fz_fail("cannot write %s", to);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            fz_fail("cannot write %s", to);
    fclose(in);
    if (fclose(out) != 0)
        fz_fail("cannot write %s", to);
    printf("%s\n", to);
}

static void dir_of(const char *corpus, const char *name, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", corpus, name);
    mkdir(buf, 0755);
}

/* Every trained model of the engine, its taste summary, and the catalog: fuzz_model_load's. */
static void model_seeds(const tt_config *cfg, const char *corpus)
{
    char dir[600], from[1200], to[1200];

    dir_of(corpus, "model_load", dir, sizeof(dir));
    for (const tt_model_info *i = tt_models_list(); i->name; i++) {
        snprintf(from, sizeof(from), "%s/%s/%s.ttm", cfg->model_dir, tt_tier_to_name(i->tier),
                 i->name);
        snprintf(to, sizeof(to), "%s/%s.ttm", dir, i->name);
        if (access(from, F_OK) != 0)
            fz_fail("%s was not trained: more data in main() may be needed", from);
        copy(from, to);
    }
    snprintf(from, sizeof(from), "%s/pro/taste.ttm", cfg->model_dir);
    snprintf(to, sizeof(to), "%s/taste.ttm", dir);
    copy(from, to);
    snprintf(from, sizeof(from), "%s/catalog.ttm", cfg->model_dir);
    snprintf(to, sizeof(to), "%s/catalog.ttm", dir);
    copy(from, to);
}

static void index_seeds(const tt_config *cfg, const char *corpus)
{
    static const enum tt_ann_type types[] = {TT_ANN_FLAT, TT_ANN_IVF, TT_ANN_HNSW};
    char dir[600], to[1200];

    dir_of(corpus, "ann", dir, sizeof(dir));
    for (int i = 0; i < 3; i++) {
        snprintf(to, sizeof(to), "%s/%s.idx", dir, tt_ann_type_name(types[i]));
        fz_data_index(cfg, types[i], to);
        printf("%s\n", to);
    }
}

/* A container with a metadata field of each type (fz_meta_fields) and a section of each. */
static void container_seed(const char *corpus)
{
    static const float f[4] = {0.5f, -1.0f, 2.0f, 0.0f};
    static const int32_t i32[3] = {0, 1, 2};
    static const int64_t i64[3] = {0, 2, 3};
    static const uint8_t u8[2] = {1, 0};
    static const char *const s[2] = {"t1", "t2"};
    char dir[600], path[1200];
    fz_meta m = fz_meta_example();
    tt_mfile_writer *w = NULL;
    tt_err err = {0};
    int rc;

    dir_of(corpus, "modelfile", dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/all_types.ttm", dir);
    rc = tt_mfile_create(path, "fuzz", 0x1234, &w, &err);
    if (rc == 0)
        rc = tt_mfile_put_meta(w, fz_meta_fields, fz_meta_n_fields, &m, &err);
    if (rc == 0)
        rc = tt_mfile_add(w, "f32", TT_DT_F32, 2, 2, f, &err);
    if (rc == 0)
        rc = tt_mfile_add(w, "i32", TT_DT_I32, 3, 1, i32, &err);
    if (rc == 0)
        rc = tt_mfile_add(w, "i64", TT_DT_I64, 3, 1, i64, &err);
    if (rc == 0)
        rc = tt_mfile_add(w, "u8", TT_DT_U8, 1, 2, u8, &err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "str", s, 2, &err);
    if (rc == 0)
        rc = tt_mfile_commit(w, &err);
    else
        tt_mfile_abort(w);
    if (rc < 0)
        fz_fail("write %s: %s", path, err.message);
    printf("%s\n", path);
}

int main(int argc, char **argv)
{
    tt_config cfg;
    tt_err err = {0};
    int quiet;

    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
        return 2;
    }
    fz_init("seeds");
    unsetenv("TZ");
    if (tt_config_load_env(&cfg, &err) < 0)
        fz_fail("config: %s", err.message);
    snprintf(cfg.database_url, sizeof(cfg.database_url), "sqlite:///%s/tt.db", fz_dir());
    snprintf(cfg.model_dir, sizeof(cfg.model_dir), "%s/models", fz_dir());
    quiet = fz_mute_stdout();
    fz_data_generate(&cfg, 24, 32, 600, 5);
    fz_data_train(&cfg, "{\"tier\": \"all\"}");
    fz_restore_stdout(quiet);
    model_seeds(&cfg, argv[1]);
    index_seeds(&cfg, argv[1]);
    container_seed(argv[1]);
    return 0;
}
