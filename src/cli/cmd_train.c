/*
 * tunetrail train: read a snapshot, train each model of the chosen tier(s), write the
 * catalog and every model file atomically with a JSON sidecar describing it.
 */
#include "cli.h"
#include "train_opts.h"
#include "tt/ann.h"
#include "tt/catalog.h"
#include "tt/content.h"
#include "tt/eval.h"
#include "tt/core.h"
#include "tt/models.h"

#include <jansson.h>
#include <math.h>
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
    return json_pack("{s:o, s:o, s:{s:f, s:i, s:i, s:I, s:f, s:f, s:f, s:f}, s:i, s:i, s:f, s:I}",
                     "features", feat, "feature_importance", imp, "validation", "share",
                     o->hybrid_deep.split.validation, "train_users", fit.train_users,
                     "test_users", fit.test_users, "pairs", (json_int_t)fit.pairs, key, fit.ndcg,
                     "recall", fit.recall, akey, fit.als_ndcg, "als_recall", fit.als_recall,
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

static json_t *params_json(const char *name, const tt_model_opts *o, const tt_model *m)
{
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
        return json_pack("{s:i, s:f, s:f, s:i, s:i, s:s, s:f, s:f, s:f, s:I}", "factors",
                         p->factors, "regularization", (double)p->regularization, "alpha",
                         (double)p->alpha, "iterations", p->iterations, "cg_steps", p->cg_steps,
                         "scaling", tt_als_scaling_names[p->scaling], "bm25_k1", (double)p->bm25_k1,
                         "bm25_b", (double)p->bm25_b, "log_eps", (double)p->log_eps, "seed",
                         (json_int_t)o->seed);
    }
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

/*
 * Held-out quality of model @name: trained on a random 80% of each user's tracks, ranked
 * against the other 20% (docs/evaluation.md), so every model file says how good it is.
 */
static json_t *holdout_metrics(const tt_dataset *ds, const tt_split *split, const char *name,
                               const tt_model_opts *o)
{
    tt_weighting w = tt_weighting_default();
    tt_model_opts eo = *o;
    tt_train_set ts;
    tt_eval_scores sc;
    tt_model *m = NULL;
    tt_err err = {0};
    json_t *j = json_object();
    int rc;

    if (split->n_users == 0)
        return j;
    eo.als.precompute = 0; /* ranked in batches below, not served */
    eo.neumf.precompute = 0;
    eo.progress = false;
    tt_train_set_build(ds, split->mask, &w, &ts);
    rc = tt_models_train(name, &ts, &eo, &m, &err);
    if (rc == 0)
        rc = tt_eval_model(m, split, &ts.seen, 20, o->threads, &sc, &err);
    if (rc == 0)
        json_object_set_new(j, "holdout",
                            json_pack("{s:s, s:f, s:i, s:i, s:f, s:f, s:f, s:f, s:f}", "split",
                                      "random", "share", 0.2, "k", 20, "users", sc.users,
                                      "recall@20", sc.recall, "ndcg@20", sc.ndcg, "mrr", sc.mrr,
                                      "precision@20", sc.precision, "coverage", sc.coverage));
    else
        tt_warn("%s: held-out evaluation failed: %s", name, tt_err_msg(&err, rc));
    tt_model_free(m);
    tt_train_set_release(&ts);
    return j;
}

static int write_sidecar(const char *path, const char *name, const tt_model_info *info,
                         const tt_model *m, const tt_train_set *ts, const tt_model_opts *o,
                         const char *file, json_t *metrics, tt_err *err)
{
    char version[32], catalog[32];
    json_t *j;
    int rc;

    tt_cli_version_string(m->trained_at, version, sizeof(version));
    snprintf(catalog, sizeof(catalog), "%016llx", (unsigned long long)m->catalog);
    j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:s, s:o, s:{s:i, s:i, s:I, s:I}, s:o}", "model",
                  name, "tier", tt_tier_to_name(info->tier), "version", version, "file", file,
                  "trained_at", (json_int_t)m->trained_at, "train_seconds", m->train_seconds,
                  "catalog", catalog, "params", params_json(name, o, m), "data", "users",
                  m->n_users, "tracks", m->n_tracks, "interactions", (json_int_t)ts->n_events,
                  "positive_pairs", (json_int_t)ts->conf.nnz, "metrics",
                  metrics ? json_incref(metrics) : json_object());
    rc = tt_cli_write_json(path, j, err);
    json_decref(j);
    return rc;
}

/* The content model is served from its FAISS index: built now, with the automatic type. */
static int build_index(const tt_config *cfg, const tt_model *m, const tt_model_opts *o, tt_err *err)
{
    tt_ann_params p = tt_ann_params_default();
    int d;
    const float *vec = tt_content_model_vectors(m, &d);

    p.threads = o->threads;
    p.seed = o->seed;
    return tt_cli_write_index(cfg, vec, m->n_tracks, d, m->catalog, &p, err);
}

/*
 * Removes a skipped model's files (and the content model's index), so that no file trained
 * on other data is served beside the new ones.
 */
static void remove_model_files(const char *path, const char *side, const tt_config *cfg,
                               const char *name)
{
    static const char *const index_files[] = {"faiss_indexes/content.idx",
                                              "faiss_indexes/content.json"};
    char ix[1200];

    unlink(path);
    unlink(side);
    for (size_t i = 0; strcmp(name, "content") == 0 && i < 2; i++) {
        snprintf(ix, sizeof(ix), "%s/%s", cfg->model_dir, index_files[i]);
        unlink(ix);
    }
}

/*
 * The hybrid model's file holds only its blend: its parts are the model files trained
 * beside it on the same data, so only the blend is learned here.
 */
static int train_model(const char *name, const tt_train_set *ts, const tt_model_opts *o,
                       tt_model **out, tt_err *err)
{
    tt_hybrid_params hp = o->hybrid;

    if (strcmp(name, "hybrid_deep") == 0) {
        tt_hd_params dp = o->hybrid_deep;
        dp.split.seed = o->seed;
        return tt_hd_learn(ts, &dp, o, out, err);
    }
    if (strcmp(name, "hybrid") != 0)
        return tt_models_train(name, ts, o, out, err);
    hp.seed = o->seed;
    return tt_hybrid_learn(ts, &hp, o, out, err);
}

static int train_one(const tt_config *cfg, const tt_model_info *info, const tt_train_set *ts,
                     const tt_model_opts *o, const tt_split *split, tt_err *err)
{
    char path[1200], side[1200];
    json_t *metrics = split ? holdout_metrics(ts->ds, split, info->name, o) : NULL;
    tt_model *m = NULL;
    int rc;

    snprintf(path, sizeof(path), "%s/%s/%s.ttm", cfg->model_dir, tt_tier_to_name(info->tier),
             info->name);
    snprintf(side, sizeof(side), "%s/%s/%s.json", cfg->model_dir, tt_tier_to_name(info->tier),
             info->name);
    fprintf(stderr, "training %s (%s)\n", info->name, info->summary);
    rc = train_model(info->name, ts, o, &m, err);
    if (rc == TT_ESTATE &&
        (strcmp(info->name, "content") == 0 || strcmp(info->name, "hybrid") == 0 ||
         strcmp(info->name, "deep_content") == 0 || strcmp(info->name, "hybrid_deep") == 0)) {
        /*
         * Data this model cannot learn from (a catalog without content, no listener to
         * validate a blend on): the other models still train; no stale files stay.
         */
        printf("%-11s %-8s skipped: %s\n", info->name, tt_tier_to_name(info->tier), err->message);
        tt_err_clear(err);
        remove_model_files(path, side, cfg, info->name);
        json_decref(metrics);
        return 0;
    }
    if (rc == 0)
        rc = tt_model_save(m, path, err);
    if (rc == 0)
        rc = write_sidecar(side, info->name, info, m, ts, o, path, metrics, err);
    if (rc == 0)
        printf("%-11s %-8s %7.2f s  %s\n", info->name, tt_tier_to_name(info->tier),
               m->train_seconds, path);
    if (rc == 0 && strcmp(info->name, "content") == 0)
        rc = build_index(cfg, m, o, err);
    tt_model_free(m);
    json_decref(metrics);
    return rc;
}

static int make_split(const tt_dataset *ds, const tt_model_opts *o, tt_split *split, tt_err *err)
{
    tt_split_params sp = tt_split_params_default();

    sp.seed = o->seed;
    return tt_split_build(ds, &sp, split, err);
}

static bool wanted(const tt_model_info *i, const char *tier, const char *model)
{
    if (model)
        return strcmp(model, i->name) == 0;
    return strcmp(tier, "all") == 0 || strcmp(tier, tt_tier_to_name(i->tier)) == 0;
}

static int check_selection(const char *tier, const char *model)
{
    int n = 0;

    if (model && !tt_models_find(model)) {
        fprintf(stderr, "tunetrail: unknown model '%s' (see 'tunetrail train --help')\n", model);
        return 2;
    }
    if (!model && strcmp(tier, "all") != 0 && tt_tier_from_name(tier) < 0) {
        fprintf(stderr, "tunetrail: --tier must be free, starter, pro, enterprise or all\n");
        return 2;
    }
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        n += wanted(i, tier, model);
    if (n == 0) {
        fprintf(stderr, "tunetrail: tier %s has no trainable models in this build\n", tier);
        return 1;
    }
    return 0;
}

int tt_cmd_train(int argc, char **argv)
{
    const char *tier = "all", *model = NULL;
    struct tt_train_cli tc;
    bool no_eval = false;
    struct tt_opt opts[TT_TRAIN_OPTS_MAX + 4] = {
        {"--tier", TT_OPT_STR, &tier, "free|starter|pro|enterprise|all (default all)"},
        {"--model", TT_OPT_STR, &model, "train only this model"},
        {"--no-eval", TT_OPT_BOOL, &no_eval, "skip the held-out evaluation in the sidecars"},
    };
    tt_config cfg;
    char *pos[1], path[1200];
    int npos, rc;
    tt_store *s;
    tt_dataset *ds = NULL;
    tt_train_set ts;
    tt_split split = {0};
    tt_weighting w;
    tt_err err = {0};
    double t0 = tt_now();

    tt_train_cli_init(&tc, opts + 3);
    tt_cli_parse(argc, argv, "tunetrail train [--tier T] [--model NAME] [model options]", opts,
                 &cfg, pos, 0, &npos);
    if ((rc = tt_train_cli_finish(&tc)) != 0 || (rc = check_selection(tier, model)) != 0)
        return rc;
    tc.opts.progress = isatty(STDERR_FILENO);
    s = tt_cli_open_store(&cfg);
    rc = tt_dataset_load(s, &ds, &err);
    tt_store_close(s);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    fprintf(stderr, "snapshot: %d users, %d tracks, %lld interactions (%.2f s)\n",
            tt_dataset_n_users(ds), tt_dataset_n_tracks(ds), (long long)ds->n_events,
            tt_now() - t0);
    w = tt_weighting_default();
    tt_train_set_build(ds, NULL, &w, &ts);
    snprintf(path, sizeof(path), "%s/catalog.ttm", cfg.model_dir);
    rc = tt_catalog_save(ds, &ts, path, &err);
    if (rc == 0 && !no_eval)
        rc = make_split(ds, &tc.opts, &split, &err);
    for (const tt_model_info *i = tt_models_list(); rc == 0 && i->name; i++)
        if (wanted(i, tier, model))
            rc = train_one(&cfg, i, &ts, &tc.opts, no_eval ? NULL : &split, &err);
    if (rc == 0 && !model && (strcmp(tier, "all") == 0 || strcmp(tier, "pro") == 0))
        rc = tt_cli_train_taste(&cfg, ds, &err);
    tt_split_release(&split);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    printf("trained in %.2f s; models under %s\n", tt_now() - t0, cfg.model_dir);
    return 0;
}
