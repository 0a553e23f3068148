/*
 * Job specs: the JSON of POST /models/train checked field by field before a job is queued,
 * so that a job either runs with values its models accept or is refused naming the field.
 */
#include "tt/core.h"
#include "tt/import.h"
#include "tt/pipeline.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Models a custom (named) model can be: those that rank on their own. */
static const char *const custom_bases[] = {"als", "popularity", "trending", "neumf", NULL};
/* Names a custom model cannot take: they are directories of MODEL_DIR or of a tier. */
static const char *const reserved[] = {"catalog", "logs", "faiss_indexes", "history", NULL};

void tt_job_spec_init(tt_job_spec *s)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->tier, sizeof(s->tier), "all");
    s->opts = tt_model_opts_default();
    s->params = json_object();
    s->evaluate = true;
    s->tune = true;
}

void tt_job_spec_release(tt_job_spec *s)
{
    json_decref(s->params);
    json_decref(s->genres);
    s->params = s->genres = NULL;
}

static bool in_list(const char *const *list, const char *s)
{
    for (int i = 0; list[i]; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/* One numeric parameter: its name, the model it belongs to, its range and where it goes. */
enum pkind { P_INT, P_NUM, P_BOOL, P_SCALING };
struct param {
    const char *model;
    const char *name;
    enum pkind kind;
    double lo, hi; /* inclusive; for P_NUM with lo_open the low end is excluded */
    bool lo_open;
    size_t off; /* into tt_model_opts */
};

#define O(f) offsetof(tt_model_opts, f)
static const struct param params[] = {
    {"als", "factors", P_INT, 1, 1024, false, O(als.factors)},
    {"als", "restarts", P_INT, 0, 1024, false, O(als.restarts)},
    {"als", "iterations", P_INT, 1, 1000, false, O(als.iterations)},
    {"als", "cg_steps", P_INT, 0, 100, false, O(als.cg_steps)},
    {"als", "regularization", P_NUM, 0, 1e6, false, O(als.regularization)},
    {"als", "reg_exponent", P_NUM, 0, 2, false, O(als.reg_exponent)},
    {"als", "alpha", P_NUM, 0, 1e6, true, O(als.alpha)},
    {"als", "scaling", P_SCALING, 0, 0, false, O(als.scaling)},
    {"als", "bm25_k1", P_NUM, 0, 1e3, true, O(als.bm25_k1)},
    {"als", "bm25_b", P_NUM, 0, 1, false, O(als.bm25_b)},
    {"als", "log_eps", P_NUM, 0, 1e6, true, O(als.log_eps)},
    {"ease", "lambda", P_NUM, 0, 1e7, true, O(ease.lambda)},
    {"ease", "emphasis", P_NUM, 0, 0.9, false, O(ease.emphasis)},
    {"ease", "user_norm", P_BOOL, 0, 1, false, O(ease.user_norm)},
    {"ease", "scaling", P_SCALING, 0, 0, false, O(ease.scaling)},
    {"ease", "min_listeners", P_INT, 1, 1000, false, O(ease.min_listeners)},
    {"neumf", "factors", P_INT, 2, 1024, false, O(neumf.factors)},
    {"neumf", "epochs", P_INT, 1, 10000, false, O(neumf.epochs)},
    {"neumf", "batch", P_INT, 1, 1048576, false, O(neumf.batch)},
    {"neumf", "negatives", P_INT, 0, 100, false, O(neumf.negatives)},
    {"neumf", "lr", P_NUM, 0, 10, true, O(neumf.lr)},
    {"neumf", "l2", P_NUM, 0, 10, false, O(neumf.l2)},
    {"neumf", "pretrain", P_BOOL, 0, 1, false, O(neumf.pretrain)},
    {"content", "w_audio", P_NUM, 0, 1e3, false, O(content.w_audio)},
    {"content", "w_key", P_NUM, 0, 1e3, false, O(content.w_key)},
    {"content", "w_genre", P_NUM, 0, 1e3, false, O(content.w_genre)},
    {"content", "w_embedding", P_NUM, 0, 1e3, false, O(content.w_embedding)},
    {"content", "genre_dims", P_INT, 0, 4096, false, O(content.genre_dims)},
    {"content", "centres", P_INT, 1, 16, false, O(content.max_centres)},
    {"content", "whiten", P_NUM, 0, 1e6, false, O(content.whiten)},
    {"content", "augment_k", P_INT, 0, 1024, false, O(content.augment_k)},
};
#undef O

static int bad(tt_err *err, const char *field, const char *fmt, const char *detail)
{
    tt_err_set_field(err, TT_EINVAL, field, fmt, field, detail);
    return TT_EINVAL;
}

static int set_param(tt_model_opts *o, const struct param *p, const json_t *v, tt_err *err)
{
    char field[96], range[96];
    char *dst = (char *)o + p->off;
    double x;

    snprintf(field, sizeof(field), "params.%s", p->name);
    if (p->kind == P_BOOL) {
        if (!json_is_boolean(v))
            return bad(err, field, "%s must be %s", "true or false");
        *(bool *)dst = json_is_true(v);
        return 0;
    }
    if (p->kind == P_SCALING) {
        for (int i = 0; json_is_string(v) && i < TT_ALS_N_SCALINGS; i++)
            if (strcmp(json_string_value(v), tt_als_scaling_names[i]) == 0) {
                *(enum tt_als_scaling *)dst = (enum tt_als_scaling)i;
                return 0;
            }
        return bad(err, field, "%s must be %s", "one of linear, log, bm25");
    }
    x = json_is_number(v) ? json_number_value(v) : NAN;
    if (p->kind == P_INT && (x != floor(x) || x < p->lo || x > p->hi)) {
        snprintf(range, sizeof(range), "an integer %.0f..%.0f", p->lo, p->hi);
        return bad(err, field, "%s must be %s", range);
    }
    if (p->kind == P_NUM && (!isfinite(x) || (p->lo_open ? x <= p->lo : x < p->lo) || x > p->hi)) {
        snprintf(range, sizeof(range), "a number %s %g and <= %g", p->lo_open ? ">" : ">=", p->lo,
                 p->hi);
        return bad(err, field, "%s must be %s", range);
    }
    if (p->kind == P_INT)
        *(int *)dst = (int)x;
    else
        *(float *)dst = (float)x;
    return 0;
}

/* The parameters of model @model (the params object, every key checked). */
static int parse_params(const json_t *obj, const char *model, tt_job_spec *s, tt_err *err)
{
    const char *key;
    json_t *v;

    if (!obj)
        return 0;
    if (!json_is_object(obj))
        return bad(err, "params", "%s must be %s", "an object");
    json_object_foreach((json_t *)obj, key, v) {
        const struct param *p = NULL;
        char field[96];
        int rc;
        snprintf(field, sizeof(field), "params.%.80s", key);
        if (strcmp(key, "seed") == 0) {
            double x = json_is_number(v) ? json_number_value(v) : -1;
            if (!(x >= 0 && x <= 9007199254740992.0) || x != floor(x))
                return bad(err, field, "%s must be %s", "a non-negative integer");
            s->opts.seed = (uint64_t)x;
            continue;
        }
        if (strcmp(key, "half_life_days") == 0 && strcmp(model, "trending") == 0) {
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            if (!(x > 0 && x <= 36500))
                return bad(err, field, "%s must be %s", "a number of days > 0 and <= 36500");
            s->opts.trending_half_life_days = x;
            continue;
        }
        for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
            if (strcmp(params[i].model, model) == 0 && strcmp(params[i].name, key) == 0)
                p = &params[i];
        if (!p) {
            tt_err_set_field(err, TT_EINVAL, field, "%s: unknown parameter of model %s%s",
                             field, model[0] ? model : "(a whole tier takes only seed)",
                             model[0] ? " (docs/pipeline.md lists them)" : "");
            return TT_EINVAL;
        }
        if ((rc = set_param(&s->opts, p, v, err)) < 0)
            return rc;
    }
    json_decref(s->params);
    s->params = json_deep_copy(obj);
    return 0;
}

/* NeuMF's layers follow its factors, as with --neumf-factors; then each model's own check. */
static int finish_params(tt_job_spec *s, tt_err *err)
{
    tt_neumf_params *n = &s->opts.neumf;
    tt_err why = {0};

    n->layers[0] = 2 * n->factors;
    n->layers[1] = n->factors;
    n->layers[2] = n->factors / 2;
    n->n_layers = 3;
    if (tt_neumf_params_check(n, &why) < 0 || tt_content_params_check(&s->opts.content, &why) < 0)
        return tt_err_set_field(err, TT_EINVAL, "params", "params: %s", why.message);
    return 0;
}

int tt_job_spec_check_name(const char *n, tt_err *err)
{
    size_t len = n ? strlen(n) : 0;

    if (!n || len == 0 || len > TT_CUSTOM_NAME_MAX || !(islower((unsigned char)n[0]) ||
                                                       isdigit((unsigned char)n[0])))
        goto invalid;
    for (size_t i = 0; i < len; i++)
        if (!(islower((unsigned char)n[i]) || isdigit((unsigned char)n[i]) || n[i] == '-' ||
              n[i] == '_'))
            goto invalid;
    if (tt_models_find(n) || in_list(reserved, n))
        return tt_err_set_field(err, TT_EINVAL, "name",
                                "name: '%s' is taken by the engine; choose another", n);
    return 0;
invalid:
    return bad(err, "name", "%s must be %s",
               "1 to 48 characters: lower-case letters, digits, '-' and '_', starting with a "
               "letter or digit");
}

static int parse_name(const json_t *v, tt_job_spec *s, tt_err *err)
{
    const char *n;
    int rc;

    if (!v || json_is_null(v))
        return 0;
    n = json_string_value(v);
    if ((rc = tt_job_spec_check_name(n, err)) < 0)
        return rc;
    memcpy(s->name, n, strlen(n) + 1);
    return 0;
}

static int parse_time_field(const json_t *obj, const char *key, int64_t *out, tt_err *err)
{
    const json_t *v = json_object_get(obj, key);
    char field[32], buf[32];

    snprintf(field, sizeof(field), "data.%s", key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) < 1e11 &&
        json_number_value(v) == floor(json_number_value(v))) {
        *out = (int64_t)json_number_value(v);
        return 0;
    }
    if (json_is_string(v) && tt_import_parse_time(json_string_value(v), out))
        return 0;
    snprintf(buf, sizeof(buf), "%s", "a date");
    return bad(err, field, "%s must be %s",
               "an ISO 8601 date or time (\"2026-01-31\", \"2026-01-31T12:00:00Z\") or Unix "
               "seconds");
}

static int parse_data(const json_t *d, tt_job_spec *s, tt_err *err)
{
    const char *key;
    json_t *v, *g;
    int rc;

    if (!d || json_is_null(d))
        return 0;
    if (!json_is_object(d))
        return bad(err, "data", "%s must be %s", "an object");
    json_object_foreach((json_t *)d, key, v) {
        if (strcmp(key, "since") != 0 && strcmp(key, "until") != 0 && strcmp(key, "genres") != 0) {
            char field[96];
            snprintf(field, sizeof(field), "data.%.80s", key);
            return bad(err, field, "%s is %s", "not a data filter (since, until, genres)");
        }
    }
    if ((rc = parse_time_field(d, "since", &s->since, err)) < 0 ||
        (rc = parse_time_field(d, "until", &s->until, err)) < 0)
        return rc;
    if (s->since && s->until && s->until <= s->since)
        return bad(err, "data.until", "%s must be %s", "after data.since");
    g = json_object_get(d, "genres");
    if (g && !json_is_null(g)) {
        size_t i;
        json_t *x;
        if (!json_is_array(g) || json_array_size(g) == 0 || json_array_size(g) > 50)
            return bad(err, "data.genres", "%s must be %s", "a list of 1 to 50 genre names");
        json_array_foreach(g, i, x) {
            if (!json_is_string(x) || json_string_length(x) == 0 || json_string_length(x) > 128)
                return bad(err, "data.genres", "%s must be %s",
                           "a list of genre names (1 to 128 characters each)");
        }
        s->genres = json_deep_copy(g);
    }
    return 0;
}

static const char *const tier_names[] = {"free", "starter", "pro", "enterprise", "all", NULL};

/* Which models run: model and tier must agree; a name makes an enterprise custom model. */
static int parse_selection(const json_t *req, tt_job_spec *s, tt_err *err)
{
    const json_t *m = json_object_get(req, "model"), *t = json_object_get(req, "tier");
    const tt_model_info *info = NULL;

    if (m && !json_is_null(m)) {
        info = json_is_string(m) ? tt_models_find(json_string_value(m)) : NULL;
        if (!info)
            return bad(err, "model", "%s must be %s",
                       "one of als, ease, popularity, trending, genre, content, hybrid, "
                       "neumf, deep_content, hybrid_deep");
        snprintf(s->model, sizeof(s->model), "%s", info->name);
    }
    if (t && !json_is_null(t)) {
        if (!json_is_string(t) || !in_list(tier_names, json_string_value(t)))
            return bad(err, "tier", "%s must be %s", "one of free, starter, pro, enterprise, all");
        snprintf(s->tier, sizeof(s->tier), "%s", json_string_value(t));
    } else if (info) {
        snprintf(s->tier, sizeof(s->tier), "%s",
                 s->name[0] ? "enterprise" : tt_tier_to_name(info->tier));
    }
    if (s->name[0]) {
        if (!info)
            return bad(err, "model", "%s %s", "a custom model needs the model it is made of");
        if (!in_list(custom_bases, info->name))
            return bad(err, "model", "%s must be %s for a custom model",
                       "one of als, popularity, trending, neumf");
        if (strcmp(s->tier, "enterprise") != 0)
            return bad(err, "tier", "%s must be %s", "enterprise for a named (custom) model");
        return 0;
    }
    if (strcmp(s->tier, "enterprise") == 0)
        return bad(err, "name", "%s %s",
                   "an enterprise job trains a custom model: give it a name");
    if (info && strcmp(s->tier, "all") != 0 && strcmp(s->tier, tt_tier_to_name(info->tier)) != 0)
        return tt_err_set_field(err, TT_EINVAL, "tier", "tier: model %s belongs to the %s tier",
                                info->name, tt_tier_to_name(info->tier));
    return 0;
}

int tt_job_spec_parse(const json_t *req, tt_job_spec *out, tt_err *err)
{
    static const char *const keys[] = {"model", "tier", "name", "params", "data", "evaluate",
                                       "scheduled", "tune", "tune_budget", NULL};
    const char *key;
    json_t *v;
    int rc;

    tt_job_spec_init(out);
    if (!json_is_object(req)) {
        rc = tt_err_set(err, TT_EINVAL, "a training job is a JSON object");
        goto fail;
    }
    json_object_foreach((json_t *)req, key, v) {
        if (!in_list(keys, key)) {
            rc = tt_err_set_field(err, TT_EINVAL, key,
                                  "%.80s: unknown field (accepted: model, tier, name, params, "
                                  "data, evaluate, tune, tune_budget, scheduled)", key);
            goto fail;
        }
    }
    v = json_object_get(req, "evaluate");
    if (v && !json_is_boolean(v)) {
        rc = bad(err, "evaluate", "%s must be %s", "true or false");
        goto fail;
    }
    out->evaluate = !v || json_is_true(v);
    v = json_object_get(req, "scheduled");
    if (v && !json_is_boolean(v)) {
        rc = bad(err, "scheduled", "%s must be %s", "true or false");
        goto fail;
    }
    out->scheduled = json_is_true(v);
    v = json_object_get(req, "tune");
    if (v && !json_is_boolean(v)) {
        rc = bad(err, "tune", "%s must be %s", "true or false");
        goto fail;
    }
    out->tune = !v || json_is_true(v);
    v = json_object_get(req, "tune_budget");
    if (v && !(json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= 86400)) {
        rc = bad(err, "tune_budget", "%s must be %s", "seconds, 0..86400 (0: automatic)");
        goto fail;
    }
    out->tune_budget = v ? json_number_value(v) : 0;
    if ((rc = parse_name(json_object_get(req, "name"), out, err)) < 0 ||
        (rc = parse_selection(req, out, err)) < 0 ||
        (rc = parse_params(json_object_get(req, "params"), out->model, out, err)) < 0 ||
        (rc = finish_params(out, err)) < 0 ||
        (rc = parse_data(json_object_get(req, "data"), out, err)) < 0)
        goto fail;
    if (!out->name[0] && (out->since || out->until || out->genres)) {
        rc = bad(err, "data", "%s %s",
                 "filters make a custom model: give the job a name (and tier enterprise)");
        goto fail;
    }
    return 0;
fail:
    tt_job_spec_release(out);
    return rc;
}

json_t *tt_job_spec_json(const tt_job_spec *s)
{
    json_t *j = json_pack("{s:s, s:O, s:b, s:b}", "tier", s->tier, "params", s->params,
                          "evaluate", s->evaluate, "tune", s->tune);
    json_t *d = json_object();

    if (s->model[0])
        json_object_set_new(j, "model", json_string(s->model));
    if (s->name[0])
        json_object_set_new(j, "name", json_string(s->name));
    if (s->scheduled)
        json_object_set_new(j, "scheduled", json_true());
    if (s->tune_budget > 0)
        json_object_set_new(j, "tune_budget", json_real(s->tune_budget));
    if (s->since)
        json_object_set_new(d, "since", json_integer(s->since));
    if (s->until)
        json_object_set_new(d, "until", json_integer(s->until));
    if (s->genres)
        json_object_set(d, "genres", s->genres);
    json_object_set_new(j, "data", d);
    return j;
}

bool tt_job_spec_wants(const tt_job_spec *s, const tt_model_info *info)
{
    if (s->model[0])
        return strcmp(s->model, info->name) == 0;
    return strcmp(s->tier, "all") == 0 || strcmp(s->tier, tt_tier_to_name(info->tier)) == 0;
}

/* Tracks with one of the spec's genres: n_tracks bytes. */
static uint8_t *genre_tracks(const tt_job_spec *s, const tt_dataset *ds)
{
    int32_t nt = tt_dataset_n_tracks(ds), ng = tt_dataset_n_genres(ds);
    uint8_t *want = tt_calloc((size_t)ng + 1, 1), *ok = tt_calloc((size_t)nt + 1, 1);
    size_t i;
    json_t *g;

    json_array_foreach(s->genres, i, g) {
        int32_t id = tt_ids_find(ds->genres, json_string_value(g), json_string_length(g));
        if (id >= 0)
            want[id] = 1;
    }
    for (int32_t t = 0; t < nt; t++)
        for (int64_t k = ds->track_genre_ptr[t]; k < ds->track_genre_ptr[t + 1]; k++)
            if (want[ds->track_genre[k]])
                ok[t] = 1;
    free(want);
    return ok;
}

uint8_t *tt_job_spec_mask(const tt_job_spec *s, const tt_dataset *ds, int64_t *kept)
{
    uint8_t *mask, *tracks;
    int64_t n = 0;

    *kept = ds->n_events;
    if (!s->since && !s->until && !s->genres)
        return NULL;
    mask = tt_malloc((size_t)ds->n_events + 1);
    tracks = s->genres ? genre_tracks(s, ds) : NULL;
    for (int64_t e = 0; e < ds->n_events; e++) {
        int64_t t = tt_dataset_event_time(ds, e);
        bool in = (!s->since || t >= s->since) && (!s->until || t < s->until) && (!tracks || tracks[ds->ev_track[e]]);
        mask[e] = in;
        n += in;
    }
    free(tracks);
    *kept = n;
    return mask;
}
