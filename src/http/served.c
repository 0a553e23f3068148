/*
 * The served snapshot: the catalog plus every model file of the tiers this instance loads
 * (MODEL_TIER), loaded together so that every answer comes from one consistent set.
 */
#include "app.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/deep_content.h"
#include "tt/hybrid.h"
#include "tt/hybrid_deep.h"
#include "tt/mix.h"
#include "tt/registry.h"
#include "tt/models.h"
#include "tt/taste.h"
#include "tt/tz.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static bool tier_loaded(const tt_config *cfg, enum tt_tier t)
{
    switch (cfg->tiers) {
    case TT_TIERS_BASIC: return t == TT_TIER_FREE;
    case TT_TIERS_FULL: return t != TT_TIER_ENTERPRISE;
    default: return true;
    }
}

static void version_of(struct tt_served_model *sm)
{
    json_t *v = json_object_get(sm->sidecar, "version");
    time_t t = (time_t)sm->model->trained_at;
    struct tm tm;

    if (json_is_string(v)) {
        snprintf(sm->version, sizeof(sm->version), "%s", json_string_value(v));
        return;
    }
    gmtime_r(&t, &tm);
    strftime(sm->version, sizeof(sm->version), "%Y%m%dT%H%M%SZ", &tm);
}

/* The published sidecar of @tier/@name: an object (empty when missing or unreadable). */
static json_t *load_sidecar(const tt_config *cfg, const char *tier, const char *name)
{
    json_t *j = tt_registry_sidecar(cfg->model_dir, tier, name);
    return j ? j : json_object();
}

/* Records why a published model is not served (listed by /models/info). */
static void left_out(tt_served *s, const char *name, const char *tier, const char *why)
{
    tt_warn("%s model left out: %s", name, why);
    if (!s->left_out)
        s->left_out = json_array();
    json_array_append_new(s->left_out, json_pack("{s:s, s:s, s:s}", "name", name, "tier", tier,
                                                 "reason", why));
}

/*
 * Loads the published model @name of @tier. A model whose sidecar says it was trained on
 * another catalog than the published one (another tier was retrained on newer data since)
 * is left out with a warning, returning 1, as a model not trained at all; a file that
 * fails its own checks refuses the snapshot.
 */
static int load_model(const tt_config *cfg, tt_served *s, const char *tier, const char *name,
                      struct tt_served_model *sm, tt_err *err)
{
    json_t *side;
    int rc;

    snprintf(sm->file, sizeof(sm->file), "%s/%s/%s.ttm", cfg->model_dir, tier, name);
    if (access(sm->file, F_OK) != 0)
        return 1; /* not trained: not an error */
    side = load_sidecar(cfg, tier, name);
    if (!tt_registry_same_catalog(side, tt_catalog_id(s->cat))) {
        char why[200];
        snprintf(why, sizeof(why),
                 "trained on catalog %s, the published catalog is %016llx: retrain its tier",
                 json_string_value(json_object_get(side, "catalog")),
                 (unsigned long long)tt_catalog_id(s->cat));
        left_out(s, name, tier, why);
        json_decref(side);
        return 1;
    }
    rc = tt_model_load(sm->file, tt_catalog_id(s->cat), &sm->model, err);
    if (rc < 0) {
        json_decref(side);
        return rc;
    }
    snprintf(sm->name, sizeof(sm->name), "%s", name);
    snprintf(sm->tier, sizeof(sm->tier), "%s", tier);
    sm->sidecar = side;
    sm->custom = json_is_string(json_object_get(side, "base_model"));
    version_of(sm);
    return 0;
}

/*
 * The content model answers from the FAISS index built for its vectors. A damaged index
 * file refuses the whole snapshot, like any damaged model file. An intact index built for
 * another catalog or other vectors (the catalog was retrained, the index not rebuilt) is
 * left aside with a warning, and so is a missing one: the model then scans the catalog,
 * which gives the same answers, only slower on big catalogs.
 */
static int attach_index(const tt_config *cfg, const tt_server_params *p,
                        struct tt_served_model *sm, tt_err *err)
{
    char path[1100];
    tt_ann_meta want = tt_content_index_expect(sm->model), meta;
    tt_err why = {0};
    tt_ann *ix = NULL;
    int rc;

    tt_content_index_path(cfg->model_dir, path, sizeof(path));
    if (access(path, F_OK) != 0) {
        tt_warn("no content index at %s: content answers scan the catalog "
                "(build one with 'tunetrail index')", path);
        sm->index = json_pack("{s:s}", "type", "scan");
        return 0;
    }
    rc = tt_ann_load(path, NULL, &ix, &meta, err);
    if (rc == 0 && tt_ann_meta_check(path, &meta, &want, &why) < 0) {
        tt_warn("content index left aside, content answers scan the catalog: %s", why.message);
        sm->index = json_pack("{s:s, s:s}", "type", "scan", "index_refused", why.message);
        tt_ann_free(ix);
        return 0;
    }
    if (rc == 0)
        rc = tt_ann_set_search(ix, p ? p->nprobe : 0, p ? p->ef_search : 0, err);
    if (rc < 0) {
        tt_ann_free(ix);
        return rc;
    }
    sm->index = json_pack("{s:s, s:s, s:I, s:i, s:f, s:I}", "type",
                          tt_ann_type_name(tt_ann_type_of(ix)), "file", path, "tracks",
                          (json_int_t)meta.n, "dim", meta.d, "build_seconds",
                          meta.build_seconds, "created_at", (json_int_t)meta.created_at);
    if (tt_ann_ef_search(ix))
        json_object_set_new(sm->index, "ef_search", json_integer(tt_ann_ef_search(ix)));
    if (tt_ann_nprobe(ix)) {
        json_object_set_new(sm->index, "nprobe", json_integer(tt_ann_nprobe(ix)));
        json_object_set_new(sm->index, "nlist", json_integer(tt_ann_nlist(ix)));
    }
    tt_content_attach_index(sm->model, ix);
    return 0;
}

static const tt_model *model_of(const tt_served *s, const char *name)
{
    const struct tt_served_model *sm = tt__served_find(s, name);
    return sm ? sm->model : NULL;
}

/* Stations read the snapshot's collaborative, content and popularity models. */
static int radio_new(tt_served *s, tt_err *err)
{
    tt_radio_sources src = {s->cat, model_of(s, "als"), model_of(s, "content"),
                            model_of(s, "genre")};

    if (!src.popularity)
        src.popularity = model_of(s, "popularity");
    return tt_radio_new(&src, &s->radio, err);
}

/*
 * The hybrid model blends the ALS, content, popularity and trending models of the same
 * snapshot (borrowed: the snapshot frees them). Without ALS, popularity or trending it
 * cannot rank: it is left out with a warning and requests fall back as before it existed.
 * Returns 1 when left out.
 */
static int attach_parts(tt_served *s, struct tt_served_model *sm)
{
    tt_model *part[TT_HYBRID_PARTS] = {0};
    tt_err why = {0};

    for (int i = 0; i < TT_HYBRID_PARTS; i++) {
        const struct tt_served_model *p = tt__served_find(s, tt_hybrid_part_names[i]);
        part[i] = p ? p->model : NULL;
    }
    if (!part[TT_HYBRID_CONTENT])
        tt_warn("hybrid: no content model loaded: it blends ALS and popularity only");
    if (tt_hybrid_attach(sm->model, part, false, &why) == 0)
        return 0;
    tt_warn("hybrid model left out: %s", why.message);
    tt_model_free(sm->model);
    json_decref(sm->sidecar);
    memset(sm, 0, sizeof(*sm));
    return 1;
}

/*
 * The blend ranks with the ALS and EASE models of the same snapshot (borrowed). Without
 * either it cannot rank: it is left out with a warning. Returns 1 when left out.
 */
static int attach_blend(tt_served *s, struct tt_served_model *sm)
{
    const struct tt_served_model *als = tt__served_find(s, "als");
    const struct tt_served_model *ease = tt__served_find(s, "ease");
    tt_err why = {0};

    if (tt_blend_attach(sm->model, als ? als->model : NULL, ease ? ease->model : NULL, false,
                        &why) == 0)
        return 0;
    tt_warn("blend model left out: %s", why.message);
    tt_model_free(sm->model);
    json_decref(sm->sidecar);
    memset(sm, 0, sizeof(*sm));
    return 1;
}

/* The listeners' training positives, from the catalog, for the hybrid deep ranker. */
static void catalog_history(const void *ctx, int32_t u, const int32_t **t, const float **r,
                            int32_t *n)
{
    *n = 0;
    if (u >= 0 && u < tt_catalog_n_users(ctx))
        tt_catalog_user_positives(ctx, u, t, r, n);
}

static int leave_out(struct tt_served_model *sm, const tt_err *why)
{
    tt_warn("%s model left out: %s", sm->name, why->message);
    tt_model_free(sm->model);
    json_decref(sm->sidecar);
    memset(sm, 0, sizeof(*sm));
    return 1;
}

/*
 * The pro tier's models that are served through others: the deep content model scores with
 * the ALS model it was trained against, and the hybrid deep ranker ranks the candidates of
 * the ALS, content, popularity, trending, NeuMF and deep content models of the snapshot.
 * One that cannot be attached is left out with a warning (returns 1).
 */
static int attach_pro(tt_served *s, struct tt_served_model *sm)
{
    const struct tt_served_model *als = tt__served_find(s, "als");
    tt_err why = {0};

    if (strcmp(sm->name, "deep_content") == 0) {
        if (!als)
            tt_err_set(&why, TT_ESTATE, "no ALS model loaded");
        else if (tt_deep_content_attach(sm->model, als->model, &why) == 0)
            return 0;
        return leave_out(sm, &why);
    }
    if (strcmp(sm->name, "hybrid_deep") == 0) {
        tt_model *part[TT_HD_PARTS];
        for (int i = 0; i < TT_HD_PARTS; i++) {
            const struct tt_served_model *p = tt__served_find(s, tt_hd_part_names[i]);
            part[i] = p ? p->model : NULL;
        }
        if (tt_hybrid_deep_attach(sm->model, part, catalog_history, s->cat, &why) == 0)
            return 0;
        return leave_out(sm, &why);
    }
    return 0;
}

/* The daily-mix space over the loaded content and ALS models (neither: no mixes). */
static int build_mix_space(tt_served *s, tt_err *err)
{
    const struct tt_served_model *content = tt__served_find(s, "content");
    const struct tt_served_model *als = tt__served_find(s, "als");
    const struct tt_served_model *pop = tt__served_find(s, "popularity");
    tt_mix_params p = tt_mix_params_default();

    if (!content && !als)
        return 0;
    return tt_mix_space_new(s->cat, content ? content->model : NULL, als ? als->model : NULL,
                            pop ? pop->model : NULL, &p, &s->mix, err);
}

/*
 * The taste summary, with the pro tier: a missing file only leaves taste profiles out (they
 * answer 503 until the pro tier is trained); a damaged one refuses the snapshot like any
 * damaged model file.
 */
static int load_taste(const tt_config *cfg, tt_served *s, tt_err *err)
{
    char path[1200];

    if (!tier_loaded(cfg, TT_TIER_PRO))
        return 0;
    snprintf(path, sizeof(path), "%s/pro/taste.ttm", cfg->model_dir);
    if (access(path, F_OK) != 0)
        return 0;
    {
        json_t *side = tt_registry_sidecar(cfg->model_dir, "pro", "taste");
        bool same = tt_registry_same_catalog(side, tt_catalog_id(s->cat));
        json_decref(side);
        if (!same) {
            left_out(s, "taste", "pro", "trained on another catalog than the published one: "
                                        "retrain the pro tier");
            return 0;
        }
    }
    s->tz = tt_tz_cache_new(NULL);
    return tt_taste_load(path, tt_catalog_id(s->cat), &s->taste, err);
}

/*
 * The enterprise tier's custom models: every published MODEL_DIR/enterprise/{name}.ttm whose
 * sidecar names the model it is made of ("base_model"), served under its own name.
 */
static int load_custom(const tt_config *cfg, tt_served *s, tt_err *err)
{
    char dir[1100];
    struct dirent **list = NULL;
    int n, rc = 0;

    if (!tier_loaded(cfg, TT_TIER_ENTERPRISE))
        return 0;
    snprintf(dir, sizeof(dir), "%s/enterprise", cfg->model_dir);
    n = scandir(dir, &list, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        char name[64];
        size_t len = strlen(list[i]->d_name);
        if (rc == 0 && len > 4 && len - 4 < sizeof(name) &&
            strcmp(list[i]->d_name + len - 4, ".ttm") == 0) {
            snprintf(name, sizeof(name), "%.*s", (int)(len - 4), list[i]->d_name);
            if (tt__served_find(s, name))
                ;
            else if (s->n == TT_SERVED_MAX)
                left_out(s, name, "enterprise", "too many models loaded");
            else if ((rc = load_model(cfg, s, "enterprise", name, &s->m[s->n], err)) == 0)
                s->n++;
            if (rc > 0)
                rc = 0;
        }
        free(list[i]);
    }
    free(list);
    return rc;
}

int tt__served_load(const tt_config *cfg, const tt_server_params *p, tt_served **out,
                    tt_err *err)
{
    char path[1200];
    tt_served *s;
    int rc;

    *out = NULL;
    snprintf(path, sizeof(path), "%s/catalog.ttm", cfg->model_dir);
    if (access(path, F_OK) != 0)
        return 0;
    s = tt_calloc(1, sizeof(*s));
    s->refs = 1;
    s->overlay = tt__overlay_new();
    rc = tt_catalog_load(path, &s->cat, err);
    for (const tt_model_info *i = tt_models_list(); rc == 0 && i->name; i++) {
        if (!tier_loaded(cfg, i->tier) || s->n == TT_SERVED_MAX)
            continue;
        rc = load_model(cfg, s, tt_tier_to_name(i->tier), i->name, &s->m[s->n], err);
        if (rc == 0 && strcmp(i->name, "content") == 0)
            rc = attach_index(cfg, p, &s->m[s->n], err);
        if (rc == 0 && strcmp(i->name, "hybrid") == 0)
            rc = attach_parts(s, &s->m[s->n]);
        if (rc == 0 && strcmp(i->name, "blend") == 0)
            rc = attach_blend(s, &s->m[s->n]);
        if (rc == 0 && i->tier == TT_TIER_PRO)
            rc = attach_pro(s, &s->m[s->n]);
        if (rc == 0)
            s->n++;
        else if (rc > 0)
            rc = 0;
    }
    if (rc == 0)
        rc = load_custom(cfg, s, err);
    snprintf(s->free_main, sizeof(s->free_main), "%s",
             tt_registry_free_choice(cfg->model_dir, s->free_why, sizeof(s->free_why)));
    if (!tt__served_find(s, s->free_main))
        snprintf(s->free_main, sizeof(s->free_main), "%s",
                 tt__served_find(s, "ease") && !tt__served_find(s, "als") ? "ease" : "als");
    if (rc == 0 && s->n > 0)
        rc = radio_new(s, err);
    if (rc == 0 && s->n > 0)
        rc = build_mix_space(s, err);
    if (rc == 0 && s->n > 0)
        rc = load_taste(cfg, s, err);
    if (rc < 0 || s->n == 0) {
        tt__served_release(s);
        return rc;
    }
    s->loaded_at = tt_unix_time();
    *out = s;
    return 0;
}

void tt__served_release(tt_served *s)
{
    if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int i = 0; i < TT_SERVED_MAX; i++) {
        tt_model_free(s->m[i].model);
        json_decref(s->m[i].sidecar);
        json_decref(s->m[i].index);
    }
    tt_radio_free(s->radio);
    tt_mix_space_free(s->mix);
    tt_taste_free(s->taste);
    json_decref(s->left_out);
    tt_tz_cache_free(s->tz);
    tt_catalog_free(s->cat);
    tt__overlay_free(s->overlay);
    free(s);
#ifdef __GLIBC__
    /*
     * A snapshot is hundreds of megabytes freed at once, in whichever thread let go of it
     * last, into arenas fragmented by the requests meanwhile: glibc keeps most of it. Handing
     * the free pages back here keeps a server that reloads often near one snapshot's size
     * (24 reloads under bench/wrk_soak.lua load grew RSS by 53% without this, 12% with it).
     */
    malloc_trim(0);
#endif
}

const struct tt_served_model *tt__served_find(const tt_served *s, const char *name)
{
    for (int i = 0; s && i < s->n; i++)
        if (strcmp(s->m[i].name, name) == 0)
            return &s->m[i];
    return NULL;
}
