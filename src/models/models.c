/*
 * The model table: names, tiers, how to train each, and how to load any saved model.
 */
#include "tt/models.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/neumf.h"
#include "tt/popularity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const tt_model_info table[] = {
    {"als", TT_TIER_FREE, "implicit ALS matrix factorization (conjugate gradient)"},
    {"ease", TT_TIER_FREE, "EASE item-item model (closed form, one regularization constant)"},
    {"blend", TT_TIER_FREE, "ALS and EASE blended with a weight learned on validation"},
    {"popularity", TT_TIER_FREE, "all-time most popular tracks"},
    {"trending", TT_TIER_FREE, "popularity with exponential time decay"},
    {"genre", TT_TIER_FREE, "best tracks of the user's genres, mixed in proportion"},
    {"content", TT_TIER_STARTER, "content similarity: audio features, genres, embeddings"},
    {"hybrid", TT_TIER_STARTER, "learned blend of ALS, content similarity and popularity"},
    {"neumf", TT_TIER_PRO, "neural collaborative filtering (GMF + MLP, He et al. 2017)"},
    {"deep_content", TT_TIER_PRO, "MLP from content to ALS factors (van den Oord et al. 2013)"},
    {"hybrid_deep", TT_TIER_PRO, "learned ranker over ALS, NeuMF, deep content, content, trending"},
    {NULL, TT_TIER_FREE, NULL},
};

tt_model_opts tt_model_opts_default(void)
{
    tt_model_opts o;

    memset(&o, 0, sizeof(o));
    o.als = tt_als_params_default();
    o.ease = tt_ease_params_default();
    o.blend = tt_blend_params_default();
    o.content = tt_content_params_default();
    o.hybrid = tt_hybrid_params_default();
    o.neumf = tt_neumf_params_default();
    o.deep_content = tt_deep_content_params_default();
    o.hybrid_deep = tt_hd_params_default();
    o.trending_half_life_days = 7.0;
    o.seed = 42;
    return o;
}

const tt_model_info *tt_models_list(void)
{
    return table;
}

const tt_model_info *tt_models_find(const char *name)
{
    for (const tt_model_info *i = table; name && i->name; i++)
        if (strcmp(i->name, name) == 0)
            return i;
    return NULL;
}

/* Where ALS and NeuMF report their iterations: the caller's hook (models never print). */
struct step_report {
    const tt_model_opts *o;
    const char *model;
    int steps;
};

static void report_step(const struct step_report *r, int step, double loss, double metric,
                        double seconds)
{
    r->o->on_step(r->o->step_ctx, r->model, step, r->steps, loss, metric, seconds);
}

static void als_progress(void *ctx, int iteration, double loss, double seconds)
{
    report_step(ctx, iteration, loss, NAN, seconds);
}

static void neumf_progress(void *ctx, int epoch, double loss, double hr10, double seconds)
{
    report_step(ctx, epoch, loss, hr10, seconds);
}

/* The blend learned on a validation split, then its parts trained on all of @ts. */
static int train_hybrid(const tt_train_set *ts, const tt_model_opts *o, tt_model **out,
                        tt_err *err)
{
    tt_hybrid_params hp = o->hybrid;
    tt_model *part[TT_HYBRID_PARTS] = {0}, *m = NULL;
    double t0 = tt_now();
    int rc;

    hp.seed = o->seed;
    rc = tt_hybrid_learn(ts, &hp, o, &m, err);
    for (int i = 0; rc == 0 && i < TT_HYBRID_PARTS; i++) {
        rc = tt_models_train(tt_hybrid_part_names[i], ts, o, &part[i], err);
        if (rc == TT_ESTATE && i == TT_HYBRID_CONTENT) {
            tt_err_clear(err);
            rc = 0;
        }
    }
    if (rc == 0)
        rc = tt_hybrid_attach(m, part, true, err);
    if (rc < 0) {
        for (int i = 0; i < TT_HYBRID_PARTS; i++)
            tt_model_free(part[i]);
        tt_model_free(m);
        return rc;
    }
    m->train_seconds = tt_now() - t0;
    *out = m;
    return 0;
}

/* The weight learned on a validation split, then ALS and EASE trained on all of @ts. */
static int train_blend(const tt_train_set *ts, const tt_model_opts *o, tt_model **out,
                       tt_err *err)
{
    tt_blend_params bp = o->blend;
    tt_model *als = NULL, *ease = NULL, *m = NULL;
    double t0 = tt_now();
    int rc;

    bp.seed = o->seed;
    rc = tt_blend_learn(ts, &bp, o, &m, err);
    if (rc == 0)
        rc = tt_models_train("als", ts, o, &als, err);
    if (rc == 0)
        rc = tt_models_train("ease", ts, o, &ease, err);
    if (rc == 0)
        rc = tt_blend_attach(m, als, ease, true, err);
    if (rc < 0) {
        tt_model_free(als);
        tt_model_free(ease);
        tt_model_free(m);
        return rc;
    }
    m->train_seconds = tt_now() - t0;
    *out = m;
    return 0;
}

/*
 * The deep content model learns from an ALS and a content model trained on the same data;
 * it keeps the ALS model (its listener side) and drops the content model.
 */
static int train_deep_content(const tt_train_set *ts, const tt_model_opts *o, tt_model **out,
                              tt_err *err)
{
    tt_deep_content_params p = o->deep_content;
    tt_model_opts po = *o;
    tt_model *als = NULL, *content = NULL;
    double t0 = tt_now();
    int rc;

    po.als.precompute = 0;
    p.seed = o->seed;
    p.threads = o->threads;
    rc = tt_models_train("als", ts, &po, &als, err);
    if (rc == 0)
        rc = tt_models_train("content", ts, &po, &content, err);
    if (rc == 0)
        rc = tt_deep_content_train(ts, &p, als, true, content, out, err);
    tt_model_free(content);
    if (rc < 0) {
        tt_model_free(als);
        return rc;
    }
    (*out)->train_seconds = tt_now() - t0;
    return 0;
}

int tt_models_train(const char *name, const tt_train_set *ts, const tt_model_opts *o,
                    tt_model **out, tt_err *err)
{
    if (!tt_models_find(name))
        return tt_err_set_field(err, TT_ENOTFOUND, "model", "unknown model '%s'", name);
    if (strcmp(name, "als") == 0) {
        tt_als_params p = o->als;
        /* Each restart sweeps p.iterations times; the steps count on across them. */
        struct step_report r = {o, "als", p.iterations * tt_als_restarts_for(&p, ts->conf.nnz)};
        p.threads = o->threads;
        p.seed = o->seed;
        if (o->on_step) {
            p.calc_loss = true;
            p.progress = als_progress;
            p.progress_ctx = &r;
        }
        return tt_als_train(ts, &p, out, err);
    }
    if (strcmp(name, "ease") == 0) {
        tt_ease_params p = o->ease;
        p.threads = o->threads;
        p.seed = o->seed;
        return tt_ease_train(ts, &p, out, err);
    }
    if (strcmp(name, "blend") == 0)
        return train_blend(ts, o, out, err);
    if (strcmp(name, "popularity") == 0)
        return tt_popularity_train(ts, TT_POP_ALL_TIME, 0.0, out, err);
    if (strcmp(name, "trending") == 0)
        return tt_popularity_train(ts, TT_POP_TRENDING, o->trending_half_life_days, out, err);
    if (strcmp(name, "content") == 0) {
        tt_content_params p = o->content;
        p.seed = o->seed;
        return tt_content_train(ts, &p, out, err);
    }
    if (strcmp(name, "hybrid") == 0)
        return train_hybrid(ts, o, out, err);
    if (strcmp(name, "neumf") == 0) {
        tt_neumf_params p = o->neumf;
        struct step_report r = {o, "neumf", p.epochs};
        p.threads = o->threads;
        p.seed = o->seed;
        if (o->on_step) {
            p.progress = neumf_progress;
            p.progress_ctx = &r;
        }
        return tt_neumf_train(ts, &p, out, err);
    }
    if (strcmp(name, "deep_content") == 0)
        return train_deep_content(ts, o, out, err);
    if (strcmp(name, "hybrid_deep") == 0) {
        tt_hd_params p = o->hybrid_deep;
        p.split.seed = o->seed;
        return tt_hd_train(ts, &p, o, out, err);
    }
    return tt_popularity_train(ts, TT_POP_GENRE, 0.0, out, err);
}

static const char *tier_names[] = {"free", "starter", "pro", "enterprise"};

int tt_tier_from_name(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcasecmp(s, tier_names[i]) == 0)
            return i;
    return -1;
}

const char *tt_tier_to_name(enum tt_tier t)
{
    return (unsigned)t < 4 ? tier_names[t] : "unknown";
}

/* Loaders by file kind. */
static const struct {
    const char *kind;
    int (*load)(tt_mfile *f, tt_model **out, tt_err *err);
} loaders[] = {
    {"als", tt__als_load},
    {"ease", tt__ease_load},
    {"blend", tt__blend_load},
    {"popularity", tt__popularity_load},
    {"content", tt__content_load},
    {"hybrid", tt__hybrid_load},
    {"neumf", tt__neumf_load},
    {"deep_content", tt__deep_content_load},
    {"hybrid_deep", tt__hybrid_deep_load},
};

int tt_model_load(const char *path, uint64_t catalog, tt_model **out, tt_err *err)
{
    tt_mfile *f = NULL;
    int rc = tt_mfile_open(path, &f, err);

    if (rc < 0)
        return rc;
    if (catalog != 0 && tt_mfile_catalog(f) != catalog) {
        rc = tt_err_set(err, TT_ECORRUPT,
                        "model file %s refused: trained on another catalog version", path);
        goto fail;
    }
    for (size_t i = 0; i < sizeof(loaders) / sizeof(loaders[0]); i++) {
        if (strcmp(loaders[i].kind, tt_mfile_kind(f)) == 0) {
            rc = loaders[i].load(f, out, err);
            if (rc < 0)
                goto fail;
            return 0;
        }
    }
    rc = tt_err_set(err, TT_ECORRUPT, "model file %s refused: unknown model kind '%s'", path,
                    tt_mfile_kind(f));
fail:
    tt_mfile_close(f);
    return rc;
}
