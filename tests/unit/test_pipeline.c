/*
 * The training run end to end (tt_pipeline_run) on a small generated SQLite database: a
 * version is written, evaluated, published as hard links and logged for TensorBoard; a
 * version that lost to the served one by more than the margin is kept but not published;
 * a named job makes an enterprise custom model.
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
    /* The training curve: one loss per iteration, and the version's sidecar is this one. */
    cr_assert_str_eq(str(json_object_get(side, "curves"), "unit"), "iteration");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(side, "curves"), "loss")), 2);
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
