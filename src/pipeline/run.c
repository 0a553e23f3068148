/*
 * A training run (include/tt/pipeline.h): read a snapshot, then for each model of the spec
 * measure it on a held-out split, train it on all the data, write a new version with its
 * sidecar, catalog and TensorBoard log, and publish it unless it got worse than the served
 * one. `tunetrail train` and the job worker run exactly this.
 */
#include "pipeline_priv.h"
#include "tt/ann.h"
#include "tt/catalog.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/fileio.h"
#include "tt/logcache.h"
#include "tt/pipeline.h"
#include "tt/registry.h"
#include "tt/store.h"
#include "tt/tfevents.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The learned blend: weights, the validation figures behind them and the parts blended. */
static json_t *hybrid_json(const tt_model *m, const tt_model_opts *o)
{
    json_t *w = json_object(), *parts = json_array(), *by_part = json_object();
    tt_hybrid_fit fit;
    char key[32];

    tt_hybrid_fit_of(m, &fit);
    for (int i = 0; i < TT_HYBRID_PARTS; i++) {
        json_object_set_new(w, tt_hybrid_part_names[i],
                            json_real(round(fit.weight[i] * 1e4) / 1e4));
        json_object_set_new(by_part, tt_hybrid_part_names[i], json_real(fit.part_ndcg[i]));
        json_array_append_new(parts, json_string(tt_hybrid_part_names[i]));
    }
    snprintf(key, sizeof(key), "ndcg@%d", fit.k);
    return json_pack(
        "{s:o, s:f, s:f, s:o, s:{s:f, s:f, s:f, s:i, s:I, s:I, s:i, s:f, s:f, s:f, s:o}, s:i, "
        "s:f, s:I}",
        "weights", w, "new_bonus", fit.new_bonus, "new_content", fit.new_content, "parts", parts,
        "validation", "share", o->hybrid.validation, "new_share", o->hybrid.new_share, "new_cost",
        o->hybrid.new_cost, "users", fit.users, "pairs", (json_int_t)fit.pairs, "new_pairs",
        (json_int_t)fit.new_pairs, "k", fit.k, key, fit.ndcg, "recall", fit.recall, "ndcg_known",
        fit.known_ndcg, "ndcg_by_part", by_part, "candidates", o->hybrid.candidates, "step",
        o->hybrid.step, "seed", (json_int_t)o->seed);
}

/* The ranker's validation figures beside ALS's, and what each feature is worth. */
static json_t *hybrid_deep_json(const tt_model *m, const tt_model_opts *o)
{
    json_t *imp = json_object(), *feat = json_array();
    char key[32], akey[40];
    tt_hd_fit fit;

    tt_hd_fit_of(m, &fit);
    for (int i = 0; i < TT_HD_FEATURES; i++) {
        json_object_set_new(imp, tt_hd_feature_names[i], json_real(round(fit.importance[i] * 1e5) / 1e5));
        json_array_append_new(feat, json_string(tt_hd_feature_names[i]));
    }
    snprintf(key, sizeof(key), "ndcg@%d", fit.k);
    snprintf(akey, sizeof(akey), "als_ndcg@%d", fit.k);
    return json_pack("{s:o, s:o, s:f, s:{s:f, s:i, s:i, s:I, s:f, s:f, s:f, s:f, s:f, s:f}, s:i, "
                     "s:i, s:f, s:I}",
                     "features", feat, "feature_importance", imp, "new_bonus",
                     (double)fit.new_bonus, "validation", "share",
                     o->hybrid_deep.split.validation, "train_users", fit.train_users,
                     "test_users", fit.test_users, "pairs", (json_int_t)fit.pairs, key, fit.ndcg,
                     "recall", fit.recall, akey, fit.als_ndcg, "als_recall", fit.als_recall,
                     "ndcg_known", fit.known_ndcg, "als_ndcg_known", fit.als_known_ndcg,
                     "candidates", o->hybrid_deep.split.candidates, "epochs",
                     o->hybrid_deep.epochs, "lr", (double)o->hybrid_deep.lr, "seed",
                     (json_int_t)o->seed);
}

/* A JSON number, or null for NAN (a metric not measured). */
static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* NeuMF's parameters and its training history: loss and HR@10 after each epoch. */
static json_t *neumf_json(const tt_model *m, const tt_model_opts *o)
{
    const tt_neumf_params *p = &o->neumf;
    const tt_neumf_epoch *h;
    int n = tt_neumf_history(m, &h);
    json_t *layers = json_array(), *loss = json_array(), *hr = json_array(), *sec = json_array();

    for (int l = 0; l < p->n_layers; l++)
        json_array_append_new(layers, json_integer(p->layers[l]));
    for (int e = 0; e < n; e++) {
        json_array_append_new(loss, real_or_null(h[e].loss));
        json_array_append_new(hr, real_or_null(h[e].hr10));
        json_array_append_new(sec, real_or_null(h[e].seconds));
    }
    return json_pack("{s:i, s:o, s:f, s:i, s:i, s:f, s:i, s:b, s:i, s:I, s:{s:o, s:o, s:o}}",
                     "factors", p->factors, "layers", layers, "lr", (double)p->lr, "batch",
                     p->batch, "epochs", p->epochs, "l2", (double)p->l2, "negatives",
                     p->negatives, "pretrain", p->pretrain, "validation_users",
                     p->validation_users, "seed", (json_int_t)o->seed, "history", "loss", loss,
                     "hr@10", hr, "seconds", sec);
}

/* The blend's weight and the validation figures behind it, each part's alone beside it. */
static json_t *blend_json(const tt_model *m, const tt_model_opts *o)
{
    tt_blend_fit fit = {0};

    tt_blend_fit_of(m, &fit);
    json_t *j = json_pack(
        "{s:f, s:f, s:f, s:{s:f, s:i, s:i, s:I, s:i, s:f, s:f, s:f, s:f, s:f}, s:i, s:I}",
        "w_als", round(fit.w_als * 1e4) / 1e4, "w_ease", round((1.0 - fit.w_als) * 1e4) / 1e4,
        "w_popularity", round(fit.w_pop * 1e4) / 1e4, "validation", "share",
        o->blend.validation, "folds", fit.folds, "users", fit.users, "pairs",
        (json_int_t)fit.pairs, "k", fit.k, "ndcg", fit.ndcg, "recall", fit.recall, "als_ndcg",
        fit.als_ndcg, "ease_ndcg", fit.ease_ndcg, "ndcg_no_popularity", fit.ndcg_no_pop,
        "candidates", o->blend.candidates, "seed", (json_int_t)o->seed);

    if (j && isfinite(fit.cv_ndcg))
        json_object_set_new(json_object_get(j, "validation"), "cv_ndcg",
                            json_real(fit.cv_ndcg));
    if (j && isfinite(fit.cv_ndcg_no_pop))
        json_object_set_new(json_object_get(j, "validation"), "cv_ndcg_no_popularity",
                            json_real(fit.cv_ndcg_no_pop));
    return j;
}

static json_t *params_json(const char *name, const tt_model_opts *o, const tt_model *m)
{
    if (strcmp(name, "blend") == 0)
        return blend_json(m, o);
    if (strcmp(name, "hybrid_deep") == 0)
        return hybrid_deep_json(m, o);
    if (strcmp(name, "deep_content") == 0) {
        const tt_deep_content_params *p = &o->deep_content;
        double cosv = 0;
        int32_t tracks = 0;
        tt_deep_content_fit_of(m, &cosv, &tracks);
        return json_pack("{s:i, s:i, s:i, s:f, s:f, s:i, s:{s:f, s:i}}", "hidden", p->hidden,
                         "epochs", p->epochs, "batch", p->batch, "lr", (double)p->lr, "l2",
                         (double)p->l2, "min_listeners", p->min_listeners, "validation",
                         "cosine", cosv, "train_tracks", tracks);
    }
    if (strcmp(name, "hybrid") == 0)
        return hybrid_json(m, o);
    if (strcmp(name, "neumf") == 0)
        return neumf_json(m, o);
    if (strcmp(name, "als") == 0) {
        const tt_als_params *p = &o->als;
        tt_als_params trained;
        /* The restarts the model averaged: the option may be 0 (automatic). */
        int restarts =
            tt_als_params_of(m, &trained, NULL) == 0 ? trained.restarts : p->restarts;
        return json_pack("{s:i, s:i, s:f, s:f, s:f, s:i, s:i, s:s, s:f, s:f, s:f, s:I}",
                         "factors", p->factors, "restarts", restarts, "regularization", (double)p->regularization,
                         "reg_exponent", (double)p->reg_exponent, "alpha",
                         (double)p->alpha, "iterations", p->iterations, "cg_steps", p->cg_steps,
                         "scaling", tt_als_scaling_names[p->scaling], "bm25_k1", (double)p->bm25_k1,
                         "bm25_b", (double)p->bm25_b, "log_eps", (double)p->log_eps, "seed",
                         (json_int_t)o->seed);
    }
    if (strcmp(name, "ease") == 0)
        return json_pack("{s:f, s:f, s:b, s:s, s:i, s:i}", "lambda", (double)o->ease.lambda,
                         "emphasis", (double)o->ease.emphasis, "user_norm", o->ease.user_norm,
                         "scaling",
                         tt_als_scaling_names[o->ease.scaling], "min_listeners",
                         o->ease.min_listeners, "max_tracks", o->ease.max_tracks);
    if (strcmp(name, "trending") == 0)
        return json_pack("{s:f}", "half_life_days", o->trending_half_life_days);
    if (strcmp(name, "content") == 0) {
        const tt_content_params *c = &o->content;
        return json_pack("{s:f, s:f, s:f, s:f, s:i, s:i, s:i}", "w_audio", (double)c->w_audio,
                         "w_key", (double)c->w_key, "w_genre", (double)c->w_genre, "w_embedding",
                         (double)c->w_embedding, "genre_dims", c->genre_dims, "max_centres",
                         c->max_centres, "tracks_per_centre", c->tracks_per_centre);
    }
    return json_object();
}


struct run {
    const tt_config *cfg;
    const tt_job_spec *spec;
    tt_model_opts opts;    /* the spec's, with what tuning chose (later models use it too) */
    const tt_run_hooks *h;
    tt_dataset *ds;
    int64_t n_events;      /* the snapshot's interactions (the log may be dropped: below) */
    tt_train_set ts;       /* what the models learn from (the spec's data filters applied) */
    uint8_t *filter;       /* the filters' event mask, or NULL */
    tt_split split;        /* held-out evaluation (spec->evaluate) */
    uint8_t *split_mask;   /* the split's training events under the filters */
    char catalog[1100];    /* the run's catalog file, linked into every version */
    tt_tfevents *tb;       /* the TensorBoard log of the model in training */
    const char *kind;      /* the model in training, whose steps make its curve */
    json_t *curve;         /* its sidecar's "curves", NULL when it reports no steps */
    json_t *models;        /* what each model's run gave */
};

static void say(const struct run *r, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("%s\n", line);
    fflush(stdout);
    if (r->h && r->h->log)
        r->h->log(r->h->ctx, line);
}

static void stage(const struct run *r, const char *what, const char *model, int i, int n)
{
    if (r->h && r->h->stage)
        r->h->stage(r->h->ctx, what, model, i, n);
}

/* "memory after STAGE: N MB resident, peak M MB": where the run's peak is, stage by stage. */
static void say_memory(const struct run *r, const char *after)
{
    double now, peak;

    if (tt_mem_resident(&now, &peak) == 0)
        say(r, "memory after %s: %.0f MB resident, peak %.0f MB", after, now, peak);
}

static void tb_scalar(struct run *r, const char *tag, int64_t step, double v)
{
    tt_err err = {0};

    if (r->tb && isfinite(v) && tt_tfevents_scalar(r->tb, tag, step, v, &err) < 0) {
        tt_warn("TensorBoard log left incomplete: %s", err.message);
        tt_tfevents_close(r->tb);
        r->tb = NULL;
    }
}

/*
 * The sidecar's training curve: loss per iteration (ALS) or epoch (NeuMF), with NeuMF's
 * validation HR@10 per epoch. Only the steps of the model being trained count: a blend
 * trains its parts (ALS among them) inside, and their losses are not its own.
 */
static void curve_add(struct run *r, const char *model, int step, double loss, double metric)
{
    json_t *val;

    if (!r->kind || strcmp(model, r->kind) != 0)
        return;
    /* Steps count from 1: a first step starts the curve afresh. */
    if (step == 1) {
        json_decref(r->curve);
        r->curve = NULL;
    }
    if (!r->curve)
        r->curve = json_pack("{s:s, s:[], s:{}}", "unit",
                             strcmp(model, "als") == 0 ? "iteration" : "epoch", "loss",
                             "validation");
    json_array_append_new(json_object_get(r->curve, "loss"), real_or_null(loss));
    if (strcmp(model, "neumf") != 0)
        return;
    val = json_object_get(json_object_get(r->curve, "validation"), "hr@10");
    if (!val) {
        val = json_array();
        json_object_set_new(json_object_get(r->curve, "validation"), "hr@10", val);
    }
    json_array_append_new(val, real_or_null(metric));
}

/* Each iteration or epoch: the TensorBoard curve and the sidecar's, then the caller's hook. */
static void on_step(void *ctx, const char *model, int step, int steps, double loss,
                    double metric, double seconds)
{
    struct run *r = ctx;

    tb_scalar(r, "loss", step, loss);
    if (strcmp(model, "neumf") == 0)
        tb_scalar(r, "validation/hr@10", step, metric);
    curve_add(r, model, step, loss, metric);
    if (r->h && r->h->step)
        r->h->step(r->h->ctx, model, step, steps, loss, metric, seconds);
}

/*
 * Held-out quality of model @kind: trained on a random 80% of each user's tracks, ranked
 * against the other 20% (docs/evaluation.md), so every model file says how good it is.
 */
static json_t *holdout_metrics(struct run *r, const char *kind)
{
    tt_weighting w = tt_weighting_default();
    tt_model_opts eo = r->opts;
    tt_train_set ts;
    tt_eval_scores sc;
    tt_model *m = NULL;
    tt_err err = {0};
    json_t *j = json_object();
    int rc;

    if (r->split.n_users == 0)
        return j;
    eo.als.precompute = 0; /* ranked in batches below, not served */
    eo.neumf.precompute = 0;
    eo.on_step = NULL;
    tt_train_set_build(r->ds, r->split_mask, &w, &ts);
    rc = tt_models_train(kind, &ts, &eo, &m, &err);
    if (rc == 0)
        rc = tt_eval_model(m, &r->split, &ts.seen, 20, eo.threads, &sc, &err);
    if (rc == 0)
        json_object_set_new(j, "holdout",
                            json_pack("{s:s, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "split",
                                      "random", "share", 0.2, "k", 20, "users", sc.users,
                                      "recall@20", sc.recall, "ndcg@20", sc.ndcg, "mrr", sc.mrr,
                                      "precision@20", sc.precision, "coverage", sc.coverage));
    else
        tt_warn("%s: held-out evaluation failed: %s", kind, tt_err_msg(&err, rc));
    tt_model_free(m);
    tt_train_set_release(&ts);
    return j;
}

static json_t *sidecar(const struct run *r, const char *name, const char *tier, const char *kind,
                       const tt_draft *d, const tt_model *m, const char *file, json_t *metrics,
                       json_t *promotion)
{
    char catalog[32];
    json_t *j;

    snprintf(catalog, sizeof(catalog), "%016llx", (unsigned long long)m->catalog);
    j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:f, s:s, s:o, s:{s:i, s:i, s:I, s:I}, s:O, "
                  "s:O}",
                  "model", name, "tier", tier, "version", d->version, "file", file, "source",
                  "trained",
                  "trained_at", (json_int_t)m->trained_at, "train_seconds", m->train_seconds,
                  "catalog", catalog, "params", params_json(kind, &r->opts, m), "data",
                  "users", m->n_users, "tracks", m->n_tracks, "interactions",
                  (json_int_t)r->ts.n_events, "positive_pairs", (json_int_t)r->ts.conf.nnz,
                  "metrics", metrics, "promotion", promotion);
    if (r->spec->name[0]) {
        json_t *spec = tt_job_spec_json(r->spec);
        json_object_set_new(j, "base_model", json_string(kind));
        json_object_set(j, "data_filter", json_object_get(spec, "data"));
        json_object_set(j, "requested_params", r->spec->params);
        json_decref(spec);
    }
    return j;
}

/* The content model is served from its FAISS index: built now, with the automatic type. */
static int build_index(const char *dir, const tt_model *m, const tt_model_opts *o, tt_err *err)
{
    tt_ann_params p = tt_ann_params_default();
    int d;
    const float *vec = tt_content_model_vectors(m, &d);

    p.threads = o->threads;
    p.seed = o->seed;
    return tt_pipeline_write_index(dir, vec, m->n_tracks, d, m->catalog, &p, err);
}

/*
 * Unpublishes a model that could not be trained on this data: no file trained on other
 * data stays served beside the new ones. Its versions stay on disk.
 */
static void unpublish(const tt_config *cfg, const char *tier, const char *name)
{
    static const char *const index_files[] = {"faiss_indexes/content.idx",
                                              "faiss_indexes/content.json"};
    char path[1200];

    snprintf(path, sizeof(path), "%s/%s/%s.ttm", cfg->model_dir, tier, name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s/%s.json", cfg->model_dir, tier, name);
    unlink(path);
    for (size_t i = 0; strcmp(name, "content") == 0 && i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", cfg->model_dir, index_files[i]);
        unlink(path);
    }
}

/*
 * The hybrid and blend models' files hold only their weights: their parts are the model
 * files trained beside them on the same data, so only the weights are learned here.
 */
static int train_model(const char *kind, const tt_train_set *ts, const tt_model_opts *o,
                       tt_model **out, tt_err *err)
{
    tt_hybrid_params hp = o->hybrid;

    if (strcmp(kind, "hybrid_deep") == 0) {
        tt_hd_params dp = o->hybrid_deep;
        dp.split.seed = o->seed;
        return tt_hd_learn(ts, &dp, o, out, err);
    }
    if (strcmp(kind, "blend") == 0) {
        tt_blend_params bp = o->blend;
        bp.seed = o->seed;
        return tt_blend_learn(ts, &bp, o, out, err);
    }
    if (strcmp(kind, "hybrid") != 0)
        return tt_models_train(kind, ts, o, out, err);
    hp.seed = o->seed;
    return tt_hybrid_learn(ts, &hp, o, out, err);
}

/* Writes the draft's files: model, sidecar, catalog link and the content index. */
static int write_version(struct run *r, const tt_draft *d, const char *name, const char *tier,
                         const char *kind, const tt_model *m, json_t *metrics, json_t *promo,
                         json_t *tuning, tt_err *err)
{
    char path[1300], side[1300], cat[1300];
    json_t *j;
    int rc;

    snprintf(path, sizeof(path), "%s/%s.ttm", d->dir, name);
    snprintf(side, sizeof(side), "%s/%s.json", d->dir, name);
    snprintf(cat, sizeof(cat), "%s/catalog.ttm", d->dir);
    rc = tt_model_save(m, path, err);
    if (rc == 0 && link(r->catalog, cat) != 0)
        rc = tt_err_set(err, TT_EIO, "%s: %s", cat, strerror(errno));
    if (rc == 0 && strcmp(kind, "content") == 0)
        rc = build_index(d->dir, m, &r->opts, err);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/%s/%s.ttm", r->cfg->model_dir, tier, name);
        j = sidecar(r, name, tier, kind, d, m, path, metrics, promo);
        json_object_set_new(j, "tuning", tuning ? json_incref(tuning)
                                                : json_pack("{s:b}", "tuned", false));
        if (r->curve)
            json_object_set(j, "curves", r->curve);
        rc = tt_pipeline_write_json(side, j, err);
        json_decref(j);
    }
    return rc;
}

static void log_final_scalars(struct run *r, const char *kind, const tt_model *m,
                              const json_t *metrics)
{
    const json_t *h = json_object_get(metrics, "holdout");
    tt_als_params trained;
    int64_t step = tt_als_params_of(m, &trained, NULL) == 0 ? trained.iterations * trained.restarts
                   : strcmp(kind, "neumf") == 0 ? r->opts.neumf.epochs
                                                : 1;

    tb_scalar(r, "validation/recall@20", step, json_number_value(json_object_get(h, "recall@20")));
    tb_scalar(r, "validation/ndcg@20", step, json_number_value(json_object_get(h, "ndcg@20")));
    tb_scalar(r, "validation/mrr", step, json_number_value(json_object_get(h, "mrr")));
    tb_scalar(r, "train_seconds", step, m->train_seconds);
    if (!json_object_get(h, "ndcg@20") && strcmp(kind, "als") != 0 && strcmp(kind, "neumf") != 0)
        tb_scalar(r, "loss", step, NAN);
}

static bool skippable(const char *kind)
{
    return strcmp(kind, "content") == 0 || strcmp(kind, "hybrid") == 0 ||
           strcmp(kind, "ease") == 0 || strcmp(kind, "blend") == 0 ||
           strcmp(kind, "deep_content") == 0 || strcmp(kind, "hybrid_deep") == 0;
}

/* Whether the new version replaces the served one, and why (the sidecar's "promotion"). */
static json_t *decide(const struct run *r, const char *tier, const char *name, json_t *metrics,
                      bool *promote)
{
    json_t *cur = tt_registry_sidecar(r->cfg->model_dir, tier, name), *next = json_pack("{s:O}", "metrics", metrics);
    char why[300];

    *promote = tt_registry_gate(next, cur, r->cfg->promote_margin, why, sizeof(why));
    json_decref(cur);
    json_decref(next);
    return json_pack("{s:b, s:s, s:f}", "promoted", *promote, "reason", why, "margin",
                     r->cfg->promote_margin);
}

/* Whether the spec sets a model parameter (its seed aside). */
static bool names_params(const tt_job_spec *spec)
{
    const char *key;
    json_t *v;

    json_object_foreach(spec->params, key, v) {
        (void)v;
        if (strcmp(key, "seed") != 0)
            return true;
    }
    return false;
}

/*
 * Tunes @kind on the events the run trains on (the evaluation split's training part when
 * the run evaluates: tuning never sees the held-out events), and keeps the choice in
 * r->opts for this model and the ones trained after it (the hybrid's ALS parts).
 */
static int tune(struct run *r, const char *kind, json_t **report, tt_err *err)
{
    const uint8_t *within = r->spec->evaluate ? r->split_mask : r->filter;
    tt_model_opts base = r->opts, best;
    int rc;

    say(r, "tuning %s (budget %s)", kind, r->spec->tune_budget > 0 ? "given" : "automatic");
    /* Each trial reaches the caller's step hook (the tune stage's progress). */
    base.on_step = on_step;
    base.step_ctx = r;
    rc = tt_tune_model(kind, r->ds, within, &base, r->spec->tune_budget, &best, report, err);
    best.on_step = NULL;
    best.step_ctx = NULL;
    if (rc == TT_ESTATE) {
        say(r, "  not tuned: %s", err->message);
        tt_err_clear(err);
        *report = json_pack("{s:b, s:s}", "tuned", false, "reason", "too little data to validate on");
        return 0;
    }
    if (rc < 0)
        return rc;
    r->opts = best;
    {
        char *chosen = json_dumps(json_object_get(*report, "chosen"), JSON_COMPACT | JSON_SORT_KEYS);
        say(r, "  chose %s: validation NDCG@20 %.4f (defaults %.4f), %d trials in %.1f s",
            chosen, json_number_value(json_object_get(*report, "best_ndcg@20")),
            json_number_value(json_object_get(*report, "default_ndcg@20")),
            (int)json_array_size(json_object_get(*report, "trials")),
            json_number_value(json_object_get(*report, "seconds")));
        free(chosen);
    }
    return 0;
}

/* Where an ALS or EASE training's time went: the fit's stages, and the lists ranked ahead. */
static void say_train_stages(const struct run *r, const char *name, const tt_model *m)
{
    tt_als_stats st;
    tt_als_params p;
    tt_ease_stats es;

    if (tt_als_stats_of(m, &st) == 0 && tt_als_params_of(m, &p, NULL) == 0)
        say(r, "%s: %d restarts x %d iterations (%.2f s), %d lists ranked ahead (%.2f s)", name,
            p.restarts, p.iterations, st.sweep_seconds, st.ranked_users, st.rank_seconds);
    if (tt_ease_stats_of(m, &es) == 0)
        say(r, "%s: %d tracks, Gram matrix (%.2f s), inverse (%.2f s), %d lists ranked ahead "
               "(%.2f s)", name, tt_ease_tracks(m), es.gram_seconds, es.inverse_seconds,
            es.ranked_users, es.rank_seconds);
}

/*
 * One model: evaluated, trained, written as a new version, published unless it lost to
 * the served one by more than the margin, old versions pruned. A model the data cannot
 * train (no content, no listener to validate a blend on) is skipped and unpublished.
 */
static int run_model(struct run *r, const tt_model_info *info, int index, int count, tt_err *err)
{
    const char *kind = info->name;
    const char *name = r->spec->name[0] ? r->spec->name : kind;
    const char *tier = r->spec->name[0] ? "enterprise" : tt_tier_to_name(info->tier);
    tt_model_opts o;
    json_t *metrics, *promo = NULL, *tuning = NULL;
    tt_draft d;
    tt_model *m = NULL;
    bool promote = false;
    int pruned = 0, rc;

    /* Parameters a job names are the caller's choice: such a model trains with them. */
    if (r->spec->tune && tt_tune_supported(kind) && !names_params(r->spec)) {
        stage(r, "tune", name, index, count);
        if ((rc = tune(r, kind, &tuning, err)) < 0)
            return rc;
    }
    o = r->opts;
    if (r->spec->evaluate)
        stage(r, "evaluate", name, index, count);
    metrics = r->spec->evaluate ? holdout_metrics(r, kind) : json_object();
    stage(r, "train", name, index, count);
    if ((rc = tt_draft_begin(r->cfg->model_dir, tier, name, tt_unix_time(), &d, err)) < 0) {
        json_decref(metrics);
        return rc;
    }
    if (tt_tfevents_open(d.log, &r->tb, err) < 0) {
        tt_warn("no TensorBoard log for %s: %s", name, err->message);
        tt_err_clear(err);
    }
    say(r, "training %s (%s)", name, info->summary);
    o.on_step = on_step;
    o.step_ctx = r;
    r->kind = kind;
    rc = train_model(kind, &r->ts, &o, &m, err);
    r->kind = NULL;
    if (rc == TT_ESTATE && skippable(kind)) {
        say(r, "%-11s %-8s skipped: %s", name, tier, err->message);
        tt_err_clear(err);
        unpublish(r->cfg, tier, name);
        json_array_append_new(r->models, json_pack("{s:s, s:s, s:s}", "model", name, "tier",
                                                   tier, "skipped", "no data it can learn from"));
        rc = 1;
        goto out;
    }
    if (rc == 0) {
        double t0;
        say_train_stages(r, name, m);
        say_memory(r, name);
        promo = decide(r, tier, name, metrics, &promote);
        log_final_scalars(r, kind, m, metrics);
        t0 = tt_now();
        rc = write_version(r, &d, name, tier, kind, m, metrics, promo, tuning, err);
        if (rc == 0)
            say(r, "%s: written (%.2f s)", name, tt_now() - t0);
    }
    if (rc == 0 && r->tb)
        rc = tt_tfevents_flush(r->tb, err);
    if (rc == 0)
        rc = tt_draft_commit(&d, err);
    if (rc == 0 && promote) {
        stage(r, "publish", name, index, count);
        rc = tt_registry_publish(r->cfg->model_dir, tier, name, d.version, err);
    }
    if (rc == 0)
        rc = tt_registry_prune(r->cfg->model_dir, tier, name, r->cfg->keep_versions, &pruned, err);
    if (rc == 0) {
        say(r, "%-11s %-8s %7.2f s  version %s%s", name, tier, m->train_seconds, d.version,
            promote ? " published" : " kept, not published");
        if (!promote)
            say(r, "  %s", json_string_value(json_object_get(promo, "reason")));
        json_array_append_new(
            r->models, json_pack("{s:s, s:s, s:s, s:s, s:b, s:O, s:O, s:f, s:s, s:i}", "model",
                                 name, "kind", kind, "tier", tier, "version", d.version,
                                 "published", promote, "promotion", promo, "metrics", metrics,
                                 "train_seconds", m->train_seconds, "log_dir", d.log, "pruned",
                                 pruned));
    }
out:
    tt_tfevents_close(r->tb);
    r->tb = NULL;
    json_decref(r->curve);
    r->curve = NULL;
    if (rc != 0 && access(d.dir, F_OK) == 0)
        tt_draft_abandon(&d);
    tt_model_free(m);
    json_decref(metrics);
    json_decref(promo);
    json_decref(tuning);
    return rc > 0 ? 0 : rc;
}

int tt__pipeline_snapshot(const tt_config *cfg, tt_dataset **ds, tt_train_set *ts, tt_err *err)
{
    tt_weighting w = tt_weighting_default();
    tt_store *s = NULL;
    int rc;

    *ds = NULL;
    rc = tt_store_open(cfg->database_url, &s, err);
    if (rc == 0)
        rc = tt_dataset_load(s, ds, err);
    tt_store_close(s);
    if (rc == 0)
        tt_train_set_build(*ds, NULL, &w, ts);
    return rc;
}

/* @n with a comma between groups of three digits ("19,800,000") into @buf. */
static const char *grouped(int64_t n, char *buf, size_t cap)
{
    char digits[32];
    size_t len, at = 0;

    len = (size_t)snprintf(digits, sizeof(digits), "%lld", (long long)n);
    for (size_t i = 0; i < len && at + 2 < cap; i++) {
        if (i > 0 && digits[i - 1] != '-' && (len - i) % 3 == 0)
            buf[at++] = ',';
        buf[at++] = digits[i];
    }
    buf[at] = '\0';
    return buf;
}

/* How the log was read (logcache.h), and why the cache was not used or not written. */
static void say_log_read(const struct run *r, const tt_logcache_report *rep)
{
    char a[32], b[32];

    if (rep->incremental)
        say(r, "snapshot: %s cached + %s new interactions (incremental, %.2f s)",
            grouped(rep->cached, a, sizeof(a)), grouped(rep->fresh, b, sizeof(b)),
            rep->seconds);
    else
        say(r, "snapshot: full read (%s), %s interactions (%.2f s)", rep->why_full,
            grouped(rep->fresh, a, sizeof(a)), rep->seconds);
    if (rep->why_not_written[0])
        say(r, "snapshot: cache not written: %s", rep->why_not_written);
}

/*
 * The dataset, then the training matrices built from it, each stage timed in the log. The
 * interaction log comes through the cache under MODEL_DIR unless the spec asks for a full
 * read (which still refreshes the cache).
 */
static int read_snapshot(struct run *r, tt_err *err)
{
    tt_weighting w = tt_weighting_default();
    tt_logcache_report rep;
    tt_store *s = NULL;
    char cache[1200];
    double t0 = tt_now(), t1;
    int rc;

    snprintf(cache, sizeof(cache), "%s/%s", r->cfg->model_dir, TT_LOGCACHE_FILE);
    rc = tt_store_open(r->cfg->database_url, &s, err);
    if (rc == 0)
        rc = tt_logcache_load(s, cache, r->spec->full_snapshot ? TT_LOGCACHE_FULL : 0, &r->ds,
                              &rep, err);
    tt_store_close(s);
    if (rc < 0)
        return rc;
    say_log_read(r, &rep);
    r->n_events = r->ds->n_events;
    t1 = tt_now();
    say(r, "snapshot: %d users, %d tracks, %lld interactions (%.2f s)",
        tt_dataset_n_users(r->ds), tt_dataset_n_tracks(r->ds), (long long)r->ds->n_events,
        t1 - t0);
    say_memory(r, "snapshot");
    tt_train_set_build(r->ds, NULL, &w, &r->ts);
    say(r, "matrix: %lld pairs seen, %lld positive (%.2f s)", (long long)r->ts.seen.nnz,
        (long long)r->ts.conf.nnz, tt_now() - t1);
    say_memory(r, "matrix");
    return 0;
}

static int load_snapshot(struct run *r, tt_err *err)
{
    tt_weighting w = tt_weighting_default();
    double t0;
    int64_t kept;
    int rc;

    stage(r, "snapshot", NULL, 0, 0);
    /* The catalog (every listener's history, for serving) is always the whole data's. */
    if ((rc = read_snapshot(r, err)) < 0)
        return rc;
    r->filter = tt_job_spec_mask(r->spec, r->ds, &kept);
    if (r->filter)
        say(r, "data filters keep %lld of %lld interactions", (long long)kept,
            (long long)r->ds->n_events);
    if (r->filter && kept == 0)
        return tt_err_set_field(err, TT_EINVAL, "data",
                                "the data filters leave no interaction to train on");
    snprintf(r->catalog, sizeof(r->catalog), "%s/.catalog-%ld.ttm", r->cfg->model_dir,
             (long)getpid());
    t0 = tt_now();
    if ((rc = tt_mkdirs(r->cfg->model_dir, err)) < 0 ||
        (rc = tt_catalog_save(r->ds, &r->ts, r->catalog, err)) < 0)
        return rc;
    say(r, "catalog: written (%.2f s)", tt_now() - t0);
    say_memory(r, "catalog");
    if (r->filter) {
        tt_train_set_release(&r->ts);
        tt_train_set_build(r->ds, r->filter, &w, &r->ts);
    }
    return 0;
}

static int make_split(struct run *r, tt_err *err)
{
    tt_split_params sp = tt_split_params_default();
    int rc;

    sp.seed = r->opts.seed;
    if ((rc = tt_split_build(r->ds, &sp, &r->split, err)) < 0)
        return rc;
    r->split_mask = tt_malloc((size_t)r->ds->n_events + 1);
    for (int64_t e = 0; e < r->ds->n_events; e++)
        r->split_mask[e] = r->split.mask[e] && (!r->filter || r->filter[e]);
    return 0;
}

/* Models whose training reads only the train set's matrices, never the event log. */
static bool reads_matrices_only(const char *kind)
{
    return strcmp(kind, "als") == 0 || strcmp(kind, "ease") == 0 || strcmp(kind, "neumf") == 0;
}

/*
 * Whether anything after the snapshot reads the event log itself: the evaluation split,
 * tuning, the data filters of a later stage, the taste profiles of a whole-tier run, and
 * the models that weigh events by time (trending, the blends). When nothing does, the log
 * (17 bytes an event: 340 MB at 20M events) is dropped once the catalog is written, so it
 * never sits beside the training of the model.
 */
static bool needs_event_log(const struct run *r)
{
    if (r->spec->evaluate || !r->spec->model[0] || r->spec->name[0])
        return true;
    for (const tt_model_info *i = tt_models_list(); i->name; i++) {
        if (!tt_job_spec_wants(r->spec, i))
            continue;
        if (!reads_matrices_only(i->name) ||
            (r->spec->tune && tt_tune_supported(i->name) && !names_params(r->spec)))
            return true;
    }
    return false;
}

int tt_pipeline_run(const tt_config *cfg, const tt_job_spec *spec, const tt_run_hooks *hooks,
                    json_t **result, tt_err *err)
{
    struct run r = {cfg, spec, spec->opts, hooks, NULL, 0, {0}, NULL, {0}, NULL, "", NULL,
                    NULL, NULL, json_array()};
    const tt_model_info *list = tt_models_list();
    double t0 = tt_now();
    int count = 0, index = 0, rc;

    if (result)
        *result = NULL;
    for (const tt_model_info *i = list; i->name; i++)
        count += tt_job_spec_wants(spec, i);
    rc = load_snapshot(&r, err);
    if (rc == 0 && !needs_event_log(&r))
        tt_dataset_drop_events(r.ds);
    if (rc == 0 && spec->evaluate)
        rc = make_split(&r, err);
    for (const tt_model_info *i = list; rc == 0 && i->name; i++)
        if (tt_job_spec_wants(spec, i))
            rc = run_model(&r, i, index++, count, err);
    if (rc == 0 && !spec->name[0] &&
        (strcmp(spec->model, "als") == 0 || strcmp(spec->model, "ease") == 0 ||
         strcmp(spec->model, "blend") == 0 ||
         (!spec->model[0] && (strcmp(spec->tier, "all") == 0 || strcmp(spec->tier, "free") == 0)))) {
        char why[400];
        const char *pick = tt_registry_free_choice(cfg->model_dir, why, sizeof(why));
        say(&r, "the free tier serves %s (%s)", pick, why);
    }
    if (rc == 0 && !spec->model[0] && !spec->name[0] &&
        (strcmp(spec->tier, "all") == 0 || strcmp(spec->tier, "pro") == 0)) {
        stage(&r, "train", "taste", index, count);
        rc = tt_pipeline_train_taste(cfg, r.ds, err);
    }
    if (rc == 0 && result)
        *result = json_pack("{s:O, s:f, s:{s:i, s:i, s:I, s:I}}", "models", r.models, "seconds",
                            tt_now() - t0, "snapshot", "users", tt_dataset_n_users(r.ds),
                            "tracks", tt_dataset_n_tracks(r.ds), "interactions",
                            (json_int_t)r.n_events, "training_interactions",
                            (json_int_t)r.ts.n_events);
    if (r.catalog[0])
        unlink(r.catalog);
    free(r.split_mask);
    free(r.filter);
    tt_split_release(&r.split);
    tt_train_set_release(&r.ts);
    tt_dataset_free(r.ds);
    json_decref(r.models);
    return rc;
}
