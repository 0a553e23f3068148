/*
 * Job specs (tt/pipeline.h): requests refused field by field (a table of invalid requests
 * with the field each must name), valid requests and the options they set, the spec's JSON
 * read back to an equal spec, and the data filters as an event mask over a hand-built
 * dataset.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/pipeline.h"

/* Parses @text (JSON) into @s, asserting the JSON itself is well-formed. */
static int parse(const char *text, tt_job_spec *s, tt_err *err)
{
    json_error_t jerr;
    json_t *req = json_loads(text, JSON_DECODE_ANY, &jerr);
    int rc;

    cr_assert_not_null(req, "bad JSON in the test: %s: %s", text, jerr.text);
    rc = tt_job_spec_parse(req, s, err);
    json_decref(req);
    return rc;
}

static void parse_ok(const char *text, tt_job_spec *s)
{
    tt_err err = {0};

    cr_assert_eq(parse(text, s, &err), 0, "%s refused: [%s] %s", text, err.field, err.message);
}

/* ---- invalid requests ------------------------------------------------------------------ */

struct invalid {
    const char *request;
    const char *field; /* what err.field must be; the message must name it too */
};

#define NAME48 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuv"
#define NAME49 NAME48 "w"

static const struct invalid invalid[] = {
    /* the request and its fields */
    {"{\"modle\": \"als\"}", "modle"},
    {"{\"model\": \"als\", \"priority\": 1}", "priority"},
    {"{\"evaluate\": \"yes\"}", "evaluate"},
    {"{\"evaluate\": 1}", "evaluate"},
    /* model and tier */
    {"{\"model\": \"svd\"}", "model"},
    {"{\"model\": 3}", "model"},
    {"{\"model\": \"ALS\"}", "model"},
    {"{\"tier\": \"gold\"}", "tier"},
    {"{\"tier\": 1}", "tier"},
    {"{\"model\": \"als\", \"tier\": \"pro\"}", "tier"},
    {"{\"model\": \"neumf\", \"tier\": \"free\"}", "tier"},
    {"{\"model\": \"content\", \"tier\": \"starter\", \"name\": null, \"x\": 0}", "x"},
    /* enterprise means a custom model, and a custom model a name and a base */
    {"{\"tier\": \"enterprise\"}", "name"},
    {"{\"model\": \"als\", \"tier\": \"enterprise\"}", "name"},
    {"{\"name\": \"mine\"}", "model"},
    {"{\"name\": \"mine\", \"tier\": \"enterprise\"}", "model"},
    {"{\"model\": \"hybrid\", \"name\": \"mine\"}", "model"},
    {"{\"model\": \"genre\", \"name\": \"mine\"}", "model"},
    {"{\"model\": \"content\", \"name\": \"mine\"}", "model"},
    {"{\"model\": \"als\", \"name\": \"mine\", \"tier\": \"free\"}", "tier"},
    {"{\"model\": \"als\", \"name\": \"mine\", \"tier\": \"all\"}", "tier"},
    /* names */
    {"{\"model\": \"als\", \"name\": \"\"}", "name"},
    {"{\"model\": \"als\", \"name\": 7}", "name"},
    {"{\"model\": \"als\", \"name\": \"My-Model\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"-mine\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"_mine\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"mi ne\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"mi.ne\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"../x\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"caf\\u00e9\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"" NAME49 "\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"als\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"neumf\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"hybrid_deep\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"logs\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"catalog\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"faiss_indexes\"}", "name"},
    {"{\"model\": \"als\", \"name\": \"history\"}", "name"},
    /* params: the object, unknown names, each range edge */
    {"{\"model\": \"als\", \"params\": []}", "params"},
    {"{\"model\": \"als\", \"params\": {\"factor\": 8}}", "params.factor"},
    {"{\"model\": \"als\", \"params\": {\"lr\": 0.1}}", "params.lr"},
    {"{\"model\": \"popularity\", \"params\": {\"factors\": 8}}", "params.factors"},
    {"{\"tier\": \"free\", \"params\": {\"factors\": 8}}", "params.factors"},
    {"{\"params\": {\"iterations\": 3}}", "params.iterations"},
    {"{\"model\": \"als\", \"params\": {\"factors\": 0}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"factors\": 1025}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"factors\": -1}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"factors\": 2.5}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"factors\": \"8\"}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"factors\": null}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"factors\": true}}", "params.factors"},
    {"{\"model\": \"als\", \"params\": {\"iterations\": 0}}", "params.iterations"},
    {"{\"model\": \"als\", \"params\": {\"iterations\": 1001}}", "params.iterations"},
    {"{\"model\": \"als\", \"params\": {\"cg_steps\": -1}}", "params.cg_steps"},
    {"{\"model\": \"als\", \"params\": {\"cg_steps\": 101}}", "params.cg_steps"},
    {"{\"model\": \"als\", \"params\": {\"regularization\": -0.001}}", "params.regularization"},
    {"{\"model\": \"als\", \"params\": {\"alpha\": 0}}", "params.alpha"},
    {"{\"model\": \"als\", \"params\": {\"alpha\": -2}}", "params.alpha"},
    {"{\"model\": \"als\", \"params\": {\"alpha\": 1000001}}", "params.alpha"},
    {"{\"model\": \"als\", \"params\": {\"alpha\": \"2\"}}", "params.alpha"},
    {"{\"model\": \"als\", \"params\": {\"scaling\": \"x\"}}", "params.scaling"},
    {"{\"model\": \"als\", \"params\": {\"scaling\": \"BM25\"}}", "params.scaling"},
    {"{\"model\": \"als\", \"params\": {\"scaling\": 2}}", "params.scaling"},
    {"{\"model\": \"als\", \"params\": {\"bm25_k1\": 0}}", "params.bm25_k1"},
    {"{\"model\": \"als\", \"params\": {\"bm25_b\": 1.01}}", "params.bm25_b"},
    {"{\"model\": \"als\", \"params\": {\"log_eps\": 0}}", "params.log_eps"},
    {"{\"model\": \"als\", \"params\": {\"reg_exponent\": 2.5}}", "params.reg_exponent"},
    {"{\"model\": \"als\", \"params\": {\"restarts\": -1}}", "params.restarts"},
    {"{\"model\": \"als\", \"params\": {\"restarts\": 1025}}", "params.restarts"},
    {"{\"model\": \"als\", \"params\": {\"reg_exponent\": -0.5}}", "params.reg_exponent"},
    {"{\"model\": \"als\", \"params\": {\"seed\": -1}}", "params.seed"},
    {"{\"model\": \"als\", \"params\": {\"seed\": 1.5}}", "params.seed"},
    {"{\"model\": \"als\", \"params\": {\"seed\": \"7\"}}", "params.seed"},
    {"{\"model\": \"als\", \"params\": {\"half_life_days\": 7}}", "params.half_life_days"},
    {"{\"model\": \"trending\", \"params\": {\"half_life_days\": 0}}", "params.half_life_days"},
    {"{\"model\": \"trending\", \"params\": {\"half_life_days\": 36501}}", "params.half_life_days"},
    {"{\"model\": \"neumf\", \"params\": {\"lr\": 0}}", "params.lr"},
    {"{\"model\": \"neumf\", \"params\": {\"lr\": 10.5}}", "params.lr"},
    {"{\"model\": \"neumf\", \"params\": {\"factors\": 1}}", "params.factors"},
    {"{\"model\": \"neumf\", \"params\": {\"epochs\": 0}}", "params.epochs"},
    {"{\"model\": \"neumf\", \"params\": {\"batch\": 0}}", "params.batch"},
    {"{\"model\": \"neumf\", \"params\": {\"negatives\": 101}}", "params.negatives"},
    {"{\"model\": \"neumf\", \"params\": {\"l2\": -1}}", "params.l2"},
    {"{\"model\": \"neumf\", \"params\": {\"pretrain\": 1}}", "params.pretrain"},
    {"{\"model\": \"content\", \"params\": {\"w_audio\": -1}}", "params.w_audio"},
    {"{\"model\": \"content\", \"params\": {\"centres\": 0}}", "params.centres"},
    {"{\"model\": \"content\", \"params\": {\"centres\": 17}}", "params.centres"},
    /* data filters */
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": 5}", "data"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"from\": \"2026-01-01\"}}", "data.from"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"yesterday\"}}", "data.since"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-02-30\"}}", "data.since"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"\"}}", "data.since"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": -5}}", "data.since"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": 1.5}}", "data.since"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": true}}", "data.since"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"until\": \"soon\"}}", "data.until"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-02-01\", "
     "\"until\": \"2026-01-01\"}}",
     "data.until"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-01-01\", "
     "\"until\": \"2026-01-01T00:00:00Z\"}}",
     "data.until"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": \"rock\"}}", "data.genres"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": []}}", "data.genres"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": [\"rock\", 3]}}", "data.genres"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": [\"\"]}}", "data.genres"},
    {"{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": {\"rock\": 1}}}", "data.genres"},
    /* filters make a custom model */
    {"{\"model\": \"als\", \"data\": {\"since\": \"2026-01-01\"}}", "data"},
    {"{\"model\": \"als\", \"data\": {\"genres\": [\"rock\"]}}", "data"},
    {"{\"tier\": \"free\", \"data\": {\"until\": 1767225600}}", "data"},
};

Test(jobspec, invalid_requests_name_the_field)
{
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        const struct invalid *c = &invalid[i];
        tt_job_spec s;
        tt_err err = {0};
        int rc = parse(c->request, &s, &err);

        cr_expect_eq(rc, TT_EINVAL, "%s: rc %d, want TT_EINVAL", c->request, rc);
        cr_expect_str_eq(err.field, c->field, "%s: field '%s', want '%s' (%s)", c->request,
                         err.field, c->field, err.message);
        cr_expect_not_null(strstr(err.message, c->field), "%s: message '%s' does not name %s",
                           c->request, err.message, c->field);
        cr_expect_null(s.params, "a refused spec is released");
        cr_expect_null(s.genres, "a refused spec is released");
    }
}

Test(jobspec, a_request_is_an_object)
{
    static const char *const bad[] = {"[]", "\"als\"", "3", "null"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tt_job_spec s;
        tt_err err = {0};
        cr_expect_eq(parse(bad[i], &s, &err), TT_EINVAL, "%s", bad[i]);
        cr_expect_neq(err.message[0], '\0');
    }
}

Test(jobspec, longest_name_is_accepted)
{
    tt_job_spec s;

    parse_ok("{\"model\": \"als\", \"name\": \"" NAME48 "\"}", &s);
    cr_assert_str_eq(s.name, NAME48);
    cr_assert_eq(strlen(s.name), TT_CUSTOM_NAME_MAX);
    tt_job_spec_release(&s);
}

/* ---- valid requests --------------------------------------------------------------------- */

Test(jobspec, empty_request_trains_everything_with_defaults)
{
    tt_model_opts def = tt_model_opts_default();
    tt_job_spec s;

    parse_ok("{}", &s);
    cr_assert_str_eq(s.model, "");
    cr_assert_str_eq(s.tier, "all");
    cr_assert_str_eq(s.name, "");
    cr_assert(s.evaluate);
    cr_assert_not(s.scheduled);
    cr_assert(json_is_object(s.params));
    cr_assert_eq(json_object_size(s.params), 0);
    cr_assert_null(s.genres);
    cr_assert_eq(s.since, 0);
    cr_assert_eq(s.until, 0);
    cr_assert_eq(s.opts.als.factors, def.als.factors);
    cr_assert_eq(s.opts.seed, def.seed);
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        cr_assert(tt_job_spec_wants(&s, i), "%s is not trained", i->name);
    tt_job_spec_release(&s);
}

Test(jobspec, nulls_are_absent_fields)
{
    tt_job_spec s;

    parse_ok("{\"model\": null, \"tier\": null, \"name\": null, \"data\": null}", &s);
    cr_assert_str_eq(s.tier, "all");
    cr_assert_str_eq(s.model, "");
    tt_job_spec_release(&s);
}

Test(jobspec, tier_defaults_to_the_models)
{
    static const char *const cases[][2] = {
        {"als", "free"},         {"trending", "free"},   {"genre", "free"},
        {"content", "starter"},  {"hybrid", "starter"},  {"neumf", "pro"},
        {"deep_content", "pro"}, {"hybrid_deep", "pro"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[96];
        tt_job_spec s;
        snprintf(req, sizeof(req), "{\"model\": \"%s\"}", cases[i][0]);
        parse_ok(req, &s);
        cr_expect_str_eq(s.model, cases[i][0]);
        cr_expect_str_eq(s.tier, cases[i][1], "%s", cases[i][0]);
        tt_job_spec_release(&s);
    }
}

Test(jobspec, a_model_and_its_tier_or_all)
{
    tt_job_spec s;

    parse_ok("{\"model\": \"als\", \"tier\": \"free\"}", &s);
    cr_assert_str_eq(s.tier, "free");
    tt_job_spec_release(&s);
    parse_ok("{\"model\": \"content\", \"tier\": \"all\"}", &s);
    cr_assert_str_eq(s.tier, "all");
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        cr_assert_eq(tt_job_spec_wants(&s, i), strcmp(i->name, "content") == 0, "%s", i->name);
    tt_job_spec_release(&s);
}

Test(jobspec, a_tier_wants_its_models)
{
    tt_job_spec s;

    parse_ok("{\"tier\": \"starter\", \"params\": {\"seed\": 3}}", &s);
    cr_assert_eq(s.opts.seed, 3);
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        cr_assert_eq(tt_job_spec_wants(&s, i), i->tier == TT_TIER_STARTER, "%s", i->name);
    tt_job_spec_release(&s);
}

Test(jobspec, als_params_set_the_options)
{
    tt_job_spec s;

    parse_ok("{\"model\": \"als\", \"params\": {\"factors\": 16, \"iterations\": 3, "
             "\"cg_steps\": 0, \"regularization\": 0, \"alpha\": 0.5, \"scaling\": \"bm25\", "
             "\"bm25_k1\": 50, \"bm25_b\": 1, \"reg_exponent\": 0.5, \"restarts\": 2, "
             "\"seed\": 9}}",
             &s);
    cr_assert_eq(s.opts.als.factors, 16);
    cr_assert_eq(s.opts.als.iterations, 3);
    cr_assert_eq(s.opts.als.cg_steps, 0);
    cr_assert_float_eq(s.opts.als.regularization, 0.0, 1e-9);
    cr_assert_float_eq(s.opts.als.alpha, 0.5, 1e-6);
    cr_assert_eq(s.opts.als.scaling, TT_ALS_BM25);
    cr_assert_float_eq(s.opts.als.bm25_k1, 50.0, 1e-6);
    cr_assert_float_eq(s.opts.als.bm25_b, 1.0, 1e-6);
    cr_assert_float_eq(s.opts.als.reg_exponent, 0.5, 1e-6);
    cr_assert_eq(s.opts.als.restarts, 2);
    cr_assert_eq(s.opts.seed, 9);
    cr_assert_eq(json_integer_value(json_object_get(s.params, "factors")), 16,
                 "the params as given are kept for the sidecar");
    tt_job_spec_release(&s);
}

Test(jobspec, range_edges_are_inclusive)
{
    static const char *const ok[] = {
        "{\"model\": \"als\", \"params\": {\"factors\": 1}}",
        "{\"model\": \"als\", \"params\": {\"factors\": 1024}}",
        "{\"model\": \"als\", \"params\": {\"factors\": 16.0}}",
        "{\"model\": \"als\", \"params\": {\"iterations\": 1000}}",
        "{\"model\": \"als\", \"params\": {\"alpha\": 1e-9}}",
        "{\"model\": \"als\", \"params\": {\"bm25_b\": 0}}",
        "{\"model\": \"als\", \"params\": {\"scaling\": \"linear\"}}",
        "{\"model\": \"als\", \"params\": {\"scaling\": \"log\"}}",
        "{\"model\": \"als\", \"params\": {\"seed\": 0}}",
        "{\"model\": \"trending\", \"params\": {\"half_life_days\": 36500}}",
        "{\"model\": \"neumf\", \"params\": {\"lr\": 10}}",
        "{\"model\": \"neumf\", \"params\": {\"pretrain\": false}}",
        "{\"model\": \"content\", \"params\": {\"centres\": 16}}",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        tt_job_spec s;
        parse_ok(ok[i], &s);
        tt_job_spec_release(&s);
    }
}

Test(jobspec, trending_half_life_and_neumf_layers)
{
    tt_job_spec s;

    parse_ok("{\"model\": \"trending\", \"params\": {\"half_life_days\": 3.5}}", &s);
    cr_assert_float_eq(s.opts.trending_half_life_days, 3.5, 1e-12);
    tt_job_spec_release(&s);
    parse_ok("{\"model\": \"neumf\", \"params\": {\"factors\": 8, \"lr\": 0.01, "
             "\"epochs\": 2, \"pretrain\": true}}",
             &s);
    cr_assert_eq(s.opts.neumf.factors, 8);
    cr_assert_eq(s.opts.neumf.epochs, 2);
    cr_assert(s.opts.neumf.pretrain);
    cr_assert_float_eq(s.opts.neumf.lr, 0.01, 1e-6);
    cr_assert_eq(s.opts.neumf.n_layers, 3);
    cr_assert_eq(s.opts.neumf.layers[0], 16);
    cr_assert_eq(s.opts.neumf.layers[1], 8);
    cr_assert_eq(s.opts.neumf.layers[2], 4);
    tt_job_spec_release(&s);
}

Test(jobspec, a_name_makes_an_enterprise_custom_model)
{
    tt_job_spec s;

    parse_ok("{\"model\": \"als\", \"name\": \"label-x-als\", \"params\": {\"factors\": 8}}", &s);
    cr_assert_str_eq(s.name, "label-x-als");
    cr_assert_str_eq(s.tier, "enterprise");
    cr_assert_str_eq(s.model, "als");
    cr_assert_eq(s.opts.als.factors, 8);
    tt_job_spec_release(&s);
    parse_ok("{\"model\": \"popularity\", \"name\": \"9_lives\", \"tier\": \"enterprise\"}", &s);
    cr_assert_str_eq(s.name, "9_lives");
    tt_job_spec_release(&s);
}

Test(jobspec, data_filters_read_dates_and_seconds)
{
    tt_job_spec s;

    parse_ok("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-01-01\", "
             "\"until\": \"2026-02-01T12:00:00Z\", \"genres\": [\"rock\", \"jazz\"]}}",
             &s);
    cr_assert_eq(s.since, INT64_C(1767225600));
    cr_assert_eq(s.until, INT64_C(1769947200));
    cr_assert_eq(json_array_size(s.genres), 2);
    cr_assert_str_eq(json_string_value(json_array_get(s.genres, 1)), "jazz");
    tt_job_spec_release(&s);
    parse_ok("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": 1767225600}}", &s);
    cr_assert_eq(s.since, INT64_C(1767225600));
    cr_assert_eq(s.until, 0);
    cr_assert_null(s.genres);
    tt_job_spec_release(&s);
}

Test(jobspec, evaluate_and_scheduled)
{
    tt_job_spec s;

    parse_ok("{\"evaluate\": false}", &s);
    cr_assert_not(s.evaluate);
    cr_assert_not(s.scheduled);
    tt_job_spec_release(&s);
    parse_ok("{\"data\": {}, \"evaluate\": true, \"params\": {}, \"scheduled\": true, "
             "\"tier\": \"free\"}",
             &s);
    cr_assert(s.evaluate);
    cr_assert(s.scheduled);
    cr_assert_str_eq(s.tier, "free");
    tt_job_spec_release(&s);
}

/* ---- JSON round trip -------------------------------------------------------------------- */

static void expect_same(const tt_job_spec *a, const tt_job_spec *b, const char *what)
{
    cr_assert_str_eq(a->model, b->model, "%s", what);
    cr_assert_str_eq(a->tier, b->tier, "%s", what);
    cr_assert_str_eq(a->name, b->name, "%s", what);
    cr_assert(json_equal(a->params, b->params), "%s: params differ", what);
    cr_assert_eq(a->since, b->since, "%s", what);
    cr_assert_eq(a->until, b->until, "%s", what);
    cr_assert_eq(a->genres == NULL, b->genres == NULL, "%s", what);
    if (a->genres)
        cr_assert(json_equal(a->genres, b->genres), "%s: genres differ", what);
    cr_assert_eq(a->evaluate, b->evaluate, "%s", what);
    cr_assert_eq(a->scheduled, b->scheduled, "%s", what);
    cr_assert_eq(a->opts.seed, b->opts.seed, "%s", what);
    cr_assert_eq(a->opts.als.factors, b->opts.als.factors, "%s", what);
    cr_assert_eq(a->opts.als.iterations, b->opts.als.iterations, "%s", what);
    cr_assert_eq(a->opts.als.scaling, b->opts.als.scaling, "%s", what);
    cr_assert_eq(a->opts.als.alpha, b->opts.als.alpha, "%s", what);
    cr_assert_eq(a->opts.neumf.factors, b->opts.neumf.factors, "%s", what);
    cr_assert_eq(a->opts.neumf.lr, b->opts.neumf.lr, "%s", what);
    cr_assert_eq(a->opts.trending_half_life_days, b->opts.trending_half_life_days, "%s", what);
}

Test(jobspec, json_reads_back_to_an_equal_spec)
{
    static const char *const reqs[] = {
        "{}",
        "{\"evaluate\": false}",
        "{\"tier\": \"pro\", \"params\": {\"seed\": 11}}",
        "{\"model\": \"als\", \"params\": {\"factors\": 16, \"alpha\": 0.25, "
        "\"scaling\": \"log\"}}",
        "{\"model\": \"neumf\", \"params\": {\"factors\": 8, \"lr\": 0.003}}",
        "{\"model\": \"trending\", \"params\": {\"half_life_days\": 2.5}}",
        "{\"model\": \"als\", \"name\": \"x\", \"params\": {\"factors\": 8}, \"data\": "
        "{\"since\": \"2026-01-01\", \"until\": \"2026-03-01\", \"genres\": [\"rock\"]}}",
        "{\"tier\": \"free\", \"scheduled\": true}",
    };

    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        tt_job_spec a, b;
        tt_err err = {0};
        json_t *j;
        parse_ok(reqs[i], &a);
        j = tt_job_spec_json(&a);
        cr_assert_not_null(j);
        cr_assert_eq(tt_job_spec_parse(j, &b, &err), 0, "%s: its JSON is refused: [%s] %s", reqs[i],
                     err.field, err.message);
        expect_same(&a, &b, reqs[i]);
        json_decref(j);
        tt_job_spec_release(&a);
        tt_job_spec_release(&b);
    }
}

/* ---- data filters as a mask ------------------------------------------------------------- */

#define DAY 86400
#define JAN1 INT64_C(1767225600) /* 2026-01-01 00:00:00 UTC */

/*
 * Three tracks ("rock|indie", "jazz", "pop|rock") and events one a day from Jan 1: event e
 * on track e % 3 at JAN1 + e days, ten in all.
 */
static tt_dataset *small_dataset(void)
{
    static const char *const tracks[] = {"t-rock", "t-jazz", "t-pop"};
    tt_dataset *ds = tt_dataset_new();

    fx_add_track(ds, "t-rock", "a1", "rock|indie");
    fx_add_track(ds, "t-jazz", "a2", "jazz");
    fx_add_track(ds, "t-pop", "a3", "pop|rock");
    fx_add_user(ds, "u1", NULL);
    fx_add_user(ds, "u2", NULL);
    for (int e = 0; e < 10; e++)
        fx_add_event(ds, e % 2 ? "u2" : "u1", tracks[e % 3], TT_ACT_PLAY, 1.0f, JAN1 + e * DAY);
    tt_dataset_finish(ds);
    return ds;
}

/* The mask of @request over the small dataset as a string of '0' and '1'. */
static void mask_of(const char *request, char out[16], int64_t *kept)
{
    tt_dataset *ds = small_dataset();
    tt_job_spec s;
    uint8_t *m;

    parse_ok(request, &s);
    m = tt_job_spec_mask(&s, ds, kept);
    if (!m) {
        snprintf(out, 16, "none");
    } else {
        for (int64_t e = 0; e < ds->n_events; e++)
            out[e] = m[e] ? '1' : '0';
        out[ds->n_events] = '\0';
    }
    free(m);
    tt_job_spec_release(&s);
    tt_dataset_free(ds);
}

Test(jobspec, mask_without_filters_is_null)
{
    char got[16];
    int64_t kept = -1;

    mask_of("{\"model\": \"als\", \"name\": \"x\"}", got, &kept);
    cr_assert_str_eq(got, "none");
    cr_assert_eq(kept, 10);
}

Test(jobspec, mask_since_until_is_half_open)
{
    char got[16];
    int64_t kept = -1;

    /* Jan 3 .. Jan 6: events 2, 3, 4 and 5 (until excludes Jan 7 00:00). */
    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-01-03\", "
            "\"until\": \"2026-01-07\"}}",
            got, &kept);
    cr_assert_str_eq(got, "0011110000");
    cr_assert_eq(kept, 4);
    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-01-09\"}}", got,
            &kept);
    cr_assert_str_eq(got, "0000000011");
    cr_assert_eq(kept, 2);
    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"until\": \"2026-01-02\"}}", got,
            &kept);
    cr_assert_str_eq(got, "1000000000");
    cr_assert_eq(kept, 1);
}

Test(jobspec, mask_genres_match_any_of_a_tracks_genres)
{
    char got[16];
    int64_t kept = -1;

    /* rock: tracks 0 (rock|indie) and 2 (pop|rock), events e % 3 != 1. */
    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": [\"rock\"]}}", got,
            &kept);
    cr_assert_str_eq(got, "1011011011");
    cr_assert_eq(kept, 7);
    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": [\"jazz\", "
            "\"indie\"]}}",
            got, &kept);
    cr_assert_str_eq(got, "1101101101");
    cr_assert_eq(kept, 7);
    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"genres\": [\"polka\"]}}", got,
            &kept);
    cr_assert_str_eq(got, "0000000000");
    cr_assert_eq(kept, 0);
}

Test(jobspec, mask_combines_time_and_genres)
{
    char got[16];
    int64_t kept = -1;

    mask_of("{\"model\": \"als\", \"name\": \"x\", \"data\": {\"since\": \"2026-01-02\", "
            "\"until\": \"2026-01-09\", \"genres\": [\"jazz\"]}}",
            got, &kept);
    cr_assert_str_eq(got, "0100100100");
    cr_assert_eq(kept, 3);
}
