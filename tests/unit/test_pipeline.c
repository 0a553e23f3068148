/*
 * The training run end to end (tt_pipeline_run) on a small generated SQLite database: a
 * version is written, evaluated, published as hard links and logged for TensorBoard; a
 * version that lost to the served one by more than the margin is kept but not published;
 * a named job makes an enterprise custom model; exported factors import back as a model
 * with the same factors and lists, and a refused import writes nothing.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/generate.h"
#include "tt/pipeline.h"
#include "tt/registry.h"
#include "tt/store.h"

static char dir[64];
static tt_config cfg;

static void setup(void)
{
    fx_pipeline_data(dir, &cfg);
    cfg.keep_versions = 5;
    cfg.promote_margin = 0.05;
}

static void teardown(void)
{
    fx_rmtree(dir);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 120);

/* Runs the job @request; returns the run's result (caller frees). */
static json_t *run(const char *request)
{
    json_t *req = json_loads(request, 0, NULL), *result = NULL;
    tt_job_spec spec;
    tt_err err = {0};

    cr_assert_not_null(req, "%s", request);
    cr_assert_eq(tt_job_spec_parse(req, &spec, &err), 0, "[%s] %s", err.field, err.message);
    cr_assert_eq(tt_pipeline_run(&cfg, &spec, NULL, &result, &err), 0, "run: %s", err.message);
    cr_assert_not_null(result);
    tt_job_spec_release(&spec);
    json_decref(req);
    return result;
}

/* The one model entry of a run's result. */
static json_t *only_model(json_t *result)
{
    json_t *models = json_object_get(result, "models");

    cr_assert_eq(json_array_size(models), 1, "one model was asked for");
    return json_array_get(models, 0);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    cr_assert_not_null(s, "no string '%s'", key);
    return s;
}

static void same_file(const char *a, const char *b)
{
    struct stat sa, sb;

    cr_assert_eq(stat(a, &sa), 0, "%s is missing", a);
    cr_assert_eq(stat(b, &sb), 0, "%s is missing", b);
    cr_assert(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino, "%s is not a link of %s", b, a);
}

static json_t *load(const char *path)
{
    json_t *j = json_load_file(path, 0, NULL);

    cr_assert_not_null(j, "%s: no JSON", path);
    return j;
}

/* Whether some file of @logdir holds the bytes of @needle. */
static bool log_holds(const char *logdir, const char *needle)
{
    DIR *d = opendir(logdir);
    struct dirent *e;
    bool found = false;

    cr_assert_not_null(d, "no log directory %s", logdir);
    while (!found && (e = readdir(d)) != NULL) {
        char path[1400], buf[65536];
        size_t n;
        FILE *f;
        if (strncmp(e->d_name, "events.out.tfevents", 19) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", logdir, e->d_name);
        f = fopen(path, "rb");
        cr_assert_not_null(f);
        n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        cr_assert_gt(n, 0, "%s is empty", path);
        found = memmem(buf, n, needle, strlen(needle)) != NULL;
    }
    closedir(d);
    return found;
}

Test(pipeline, a_run_publishes_links_and_logs_its_version)
{
    json_t *result = run("{\"model\": \"als\", \"params\": {\"factors\": 8, \"iterations\": 2}}");
    json_t *m = only_model(result), *side, *promo;
    char vdir[1200], a[1400], b[1400], logdir[1300], version[TT_VERSION_MAX];

    cr_assert_str_eq(str(m, "model"), "als");
    cr_assert_str_eq(str(m, "tier"), "free");
    cr_assert(json_is_true(json_object_get(m, "published")));
    snprintf(version, sizeof(version), "%s", str(m, "version"));
    snprintf(vdir, sizeof(vdir), "%s/free/als/%s", cfg.model_dir, version);
    snprintf(a, sizeof(a), "%s/als.ttm", vdir);
    snprintf(b, sizeof(b), "%s/free/als.ttm", cfg.model_dir);
    same_file(a, b);
    snprintf(a, sizeof(a), "%s/als.json", vdir);
    snprintf(b, sizeof(b), "%s/free/als.json", cfg.model_dir);
    same_file(a, b);
    snprintf(a, sizeof(a), "%s/catalog.ttm", vdir);
    snprintf(b, sizeof(b), "%s/catalog.ttm", cfg.model_dir);
    same_file(a, b);

    snprintf(a, sizeof(a), "%s/free/als.json", cfg.model_dir);
    side = load(a);
    cr_assert_str_eq(str(side, "version"), version);
    promo = json_object_get(side, "promotion");
    cr_assert(json_is_true(json_object_get(promo, "promoted")), "%s",
              json_string_value(json_object_get(promo, "reason")));
    cr_assert(json_is_number(
        json_object_get(json_object_get(json_object_get(side, "metrics"), "holdout"), "ndcg@20")));
    cr_assert_null(json_object_get(side, "base_model"));
    /*
     * The training curve: one loss per iteration of each restart (2 x the default 3), and
     * the version's sidecar is this one.
     */
    cr_assert_str_eq(str(json_object_get(side, "curves"), "unit"), "iteration");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(side, "curves"), "loss")), 6);
    {
        json_t *vs = tt_registry_version_sidecar(cfg.model_dir, "free", "als", version);
        cr_assert(json_equal(vs, side), "the version's sidecar differs from the served one");
        json_decref(vs);
        cr_assert_null(tt_registry_version_sidecar(cfg.model_dir, "free", "als", "../../x"));
    }

    tt_registry_log_dir(cfg.model_dir, "free", "als", version, logdir, sizeof(logdir));
    cr_assert_str_eq(str(m, "log_dir"), logdir);
    cr_assert(log_holds(logdir, "loss"), "no loss scalar in %s", logdir);
    json_decref(side);
    json_decref(result);
}

Test(pipeline, a_worse_version_is_kept_but_not_published)
{
    json_t *first = run("{\"model\": \"als\", \"params\": {\"factors\": 8, \"iterations\": 2}}");
    json_t *second, *m, *side, *promo, *list;
    char v1[TT_VERSION_MAX], v2[TT_VERSION_MAX], path[1400], got[TT_VERSION_MAX];

    snprintf(v1, sizeof(v1), "%s", str(only_model(first), "version"));
    /* The served version claims a held-out NDCG@20 no new version comes near. */
    snprintf(path, sizeof(path), "%s/free/als.json", cfg.model_dir);
    side = load(path);
    json_object_set_new(json_object_get(json_object_get(side, "metrics"), "holdout"), "ndcg@20",
                        json_real(0.99));
    cr_assert_eq(json_dump_file(side, path, JSON_INDENT(2)), 0);
    json_decref(side);

    second = run("{\"model\": \"als\", \"params\": {\"factors\": 8, \"iterations\": 2}}");
    m = only_model(second);
    snprintf(v2, sizeof(v2), "%s", str(m, "version"));
    cr_assert_str_neq(v1, v2);
    cr_assert(json_is_false(json_object_get(m, "published")));
    snprintf(path, sizeof(path), "%s/free/als/%s/als.json", cfg.model_dir, v2);
    side = load(path);
    promo = json_object_get(side, "promotion");
    cr_assert(json_is_false(json_object_get(promo, "promoted")));
    cr_assert_not_null(strstr(json_string_value(json_object_get(promo, "reason")), "0.9900"), "%s",
                       json_string_value(json_object_get(promo, "reason")));
    json_decref(side);

    tt_registry_published(cfg.model_dir, "free", "als", got);
    cr_assert_str_eq(got, v1, "the served version changed");
    list = tt_registry_list(cfg.model_dir);
    cr_assert_eq(json_array_size(json_object_get(json_array_get(list, 0), "versions")), 2);
    json_decref(list);
    json_decref(first);
    json_decref(second);
}

Test(pipeline, a_named_job_makes_a_custom_model)
{
    json_t *result = run("{\"model\": \"als\", \"name\": \"x\", \"tier\": \"enterprise\", "
                         "\"params\": {\"factors\": 8, \"iterations\": 2}}");
    json_t *m = only_model(result), *side;
    char path[1300];

    cr_assert_str_eq(str(m, "model"), "x");
    cr_assert_str_eq(str(m, "tier"), "enterprise");
    cr_assert(json_is_true(json_object_get(m, "published")));
    snprintf(path, sizeof(path), "%s/enterprise/x.ttm", cfg.model_dir);
    cr_assert_eq(access(path, F_OK), 0, "%s is missing", path);
    snprintf(path, sizeof(path), "%s/enterprise/x.json", cfg.model_dir);
    side = load(path);
    cr_assert_str_eq(str(side, "base_model"), "als");
    cr_assert_str_eq(str(side, "tier"), "enterprise");
    cr_assert_eq(
        json_integer_value(json_object_get(json_object_get(side, "requested_params"), "factors")),
        8);
    cr_assert_str_eq(tt_registry_tier_of(cfg.model_dir, "x"), "enterprise");
    snprintf(path, sizeof(path), "%s/free/als.ttm", cfg.model_dir);
    cr_assert_neq(access(path, F_OK), 0, "a custom model published the built-in one");
    json_decref(side);
    json_decref(result);
}

/* Exports the published free/als as CSV into <dir>/@sub; the report into @rep. */
static void export_als(const char *sub, tt_factor_export_report *rep)
{
    char out[256];
    tt_err err = {0};
    int rc;

    fx_path(out, sizeof(out), dir, sub);
    rc = tt_pipeline_export_factors(&cfg, "free", "als", TT_FACTORS_FORMAT_CSV, out, rep, &err);
    cr_assert_eq(rc, 0, "export: %s", tt_err_msg(&err, rc));
}

static tt_model *load_model(const char *rel)
{
    char path[1300];
    tt_model *m = NULL;
    tt_err err = {0};

    snprintf(path, sizeof(path), "%s/%s", cfg.model_dir, rel);
    cr_assert_eq(tt_model_load(path, 0, &m, &err), 0, "%s: %s", path, err.message);
    return m;
}

/*
 * The published ALS model's factors, exported and imported as an enterprise custom model,
 * make that model: same catalog, same factors, same lists; the free tier is left alone.
 */
Test(pipeline, exported_factors_import_as_a_custom_model)
{
    json_t *result = run("{\"model\": \"als\", \"evaluate\": false, \"params\": {\"factors\": 8, "
                         "\"iterations\": 2}}");
    tt_factor_import im = tt_factor_import_default();
    tt_factor_import_report rep;
    tt_factor_export_report ex;
    char before[TT_VERSION_MAX], after[TT_VERSION_MAX], path[1300];
    json_t *side, *als_side;
    tt_model *a, *b;
    tt_err err = {0};
    int rc;

    tt_registry_published(cfg.model_dir, "free", "als", before);
    export_als("exp", &ex);
    cr_assert_eq(ex.k, 24); /* 8 factors x the default 3 restarts, side by side */
    cr_assert_eq(ex.als.restarts, 3);
    cr_assert_str_eq(ex.version, before);
    im.users = ex.files[0];
    im.tracks = ex.files[1];
    im.tier = "enterprise";
    im.name = "spark-als";
    im.als = ex.als;
    rc = tt_pipeline_import_factors(&cfg, &im, &rep, &err);
    cr_assert_eq(rc, 0, "import: %s", tt_err_msg(&err, rc));
    cr_assert_eq(rep.k, 24);
    cr_assert_eq(rep.users_without + rep.tracks_without + rep.unknown_users, 0);
    tt_registry_published(cfg.model_dir, "free", "als", after);
    cr_assert_str_eq(after, before, "a custom import published the free tier's ALS");
    cr_assert_str_eq(tt_registry_tier_of(cfg.model_dir, "spark-als"), "enterprise");

    snprintf(path, sizeof(path), "%s/enterprise/spark-als.json", cfg.model_dir);
    side = load(path);
    snprintf(path, sizeof(path), "%s/free/als.json", cfg.model_dir);
    als_side = load(path);
    cr_assert_str_eq(str(side, "source"), "imported");
    cr_assert_str_eq(str(als_side, "source"), "trained");
    cr_assert_str_eq(str(side, "base_model"), "als");
    cr_assert_str_eq(str(side, "version"), rep.version);
    cr_assert_str_eq(str(side, "catalog"), str(als_side, "catalog"));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(side, "import"), "factors")),
                 24);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(side, "params"), "factors")), 8);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(side, "params"), "restarts")),
                 3);

    a = load_model("free/als.ttm");
    b = load_model("enterprise/spark-als.ttm");
    cr_assert_eq(a->catalog, b->catalog);
    for (int32_t t = 0; t < a->n_tracks; t++)
        cr_assert_eq(memcmp(tt_als_track_vector(a, t), tt_als_track_vector(b, t),
                            24 * sizeof(float)), 0, "track %d", t);
    for (int32_t u = 0; u < a->n_users; u += 7) {
        tt_scored x[10], y[10];
        tt_query q = {.user = u};
        int nx = 0, ny = 0;
        cr_assert_eq(tt_model_recommend(a, &q, 10, x, &nx, NULL), 0);
        cr_assert_eq(tt_model_recommend(b, &q, 10, y, &ny, NULL), 0);
        cr_assert_eq(nx, ny);
        cr_assert_eq(memcmp(x, y, (size_t)nx * sizeof(tt_scored)), 0, "user %d", u);
    }
    tt_model_free(a);
    tt_model_free(b);
    json_decref(side);
    json_decref(als_side);
    json_decref(result);
}

/* A row of an id the database lacks: refused, nothing written; skipped and counted on asking. */
Test(pipeline, an_import_with_an_unknown_id_writes_nothing_unless_told_to_skip)
{
    json_t *result = run("{\"model\": \"als\", \"evaluate\": false, \"params\": {\"factors\": 8, "
                         "\"restarts\": 1, \"iterations\": 2}}");
    tt_factor_import im = tt_factor_import_default();
    tt_factor_import_report rep;
    tt_factor_export_report ex;
    char before[TT_VERSION_MAX], after[TT_VERSION_MAX], base[1300];
    tt_err err = {0};
    int entries, rc;
    FILE *f;

    export_als("exp", &ex);
    f = fopen(ex.files[1], "a");
    cr_assert_not_null(f);
    fprintf(f, "nobody,1,2,3,4,5,6,7,8\n");
    fclose(f);
    im.users = ex.files[0];
    im.tracks = ex.files[1];
    tt_registry_published(cfg.model_dir, "free", "als", before);
    snprintf(base, sizeof(base), "%s/free/als", cfg.model_dir);
    entries = fx_dir_count(base);
    rc = tt_pipeline_import_factors(&cfg, &im, &rep, &err);
    cr_assert_eq(rc, TT_EPARSE);
    cr_assert_str_eq(err.field, "skip_unknown");
    cr_assert(strstr(err.message, "tracks.csv:202: unknown track id 'nobody'"), "%s",
              err.message);
    tt_registry_published(cfg.model_dir, "free", "als", after);
    cr_assert_str_eq(after, before);
    cr_assert_eq(fx_dir_count(base), entries, "a refused import left something behind");

    im.skip_unknown = true;
    tt_err_clear(&err);
    rc = tt_pipeline_import_factors(&cfg, &im, &rep, &err);
    cr_assert_eq(rc, 0, "%s", tt_err_msg(&err, rc));
    cr_assert_eq(rep.unknown_tracks, 1);
    cr_assert_eq(rep.track_rows, 201);
    tt_registry_published(cfg.model_dir, "free", "als", after);
    cr_assert_str_eq(after, rep.version);
    cr_assert_str_neq(after, before);
    json_decref(result);
}
