/*
 * tunetrail recommend: one user's list, or a batch from a file, from the trained models.
 */
#include "cli.h"
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/models.h"
#include "tt/recommend.h"
#include "tt/registry.h"

#include <stdio.h>
#include <unistd.h>
#include <string.h>

struct loaded {
    tt_catalog *cat;
    tt_model *model, *fallback;
};

static int load_model(const tt_config *cfg, const char *name, uint64_t catalog, tt_model **out,
                      tt_err *err)
{
    const tt_model_info *info = tt_models_find(name);
    char path[1200];

    if (!info)
        return tt_err_set_field(err, TT_EINVAL, "model", "unknown model '%s'", name);
    snprintf(path, sizeof(path), "%s/%s/%s.ttm", cfg->model_dir, tt_tier_to_name(info->tier),
             name);
    return tt_model_load(path, catalog, out, err);
}

/* The hybrid model blends the model files trained beside it: loaded here, owned by it. */
static int load_parts(const tt_config *cfg, uint64_t catalog, tt_model *hybrid, tt_err *err)
{
    tt_model *part[TT_HYBRID_PARTS] = {0};
    int rc = 0;

    for (int i = 0; rc == 0 && i < TT_HYBRID_PARTS; i++) {
        rc = load_model(cfg, tt_hybrid_part_names[i], catalog, &part[i], err);
        if (rc == TT_ENOTFOUND && i == TT_HYBRID_CONTENT) {
            tt_err_clear(err); /* a catalog without content: the other three blend */
            rc = 0;
        }
    }
    if (rc == 0)
        rc = tt_hybrid_attach(hybrid, part, true, err);
    if (rc < 0)
        for (int i = 0; i < TT_HYBRID_PARTS; i++)
            tt_model_free(part[i]);
    return rc;
}

/* The blend ranks with the ALS and EASE model files trained beside it: loaded, owned by it. */
static int load_blend_parts(const tt_config *cfg, uint64_t catalog, tt_model *blend, tt_err *err)
{
    tt_model *als = NULL, *ease = NULL;
    int rc = load_model(cfg, "als", catalog, &als, err);

    if (rc == 0)
        rc = load_model(cfg, "ease", catalog, &ease, err);
    if (rc == 0)
        rc = tt_blend_attach(blend, als, ease, true, err);
    if (rc < 0) {
        tt_model_free(als);
        tt_model_free(ease);
    }
    return rc;
}

/* Whether @tier/@name was trained on @catalog (the engine leaves out one trained on
 * another, so does this check). */
static bool same_catalog(const tt_config *cfg, enum tt_tier tier, const char *name,
                         uint64_t catalog)
{
    json_t *side = tt_registry_sidecar(cfg->model_dir, tt_tier_to_name(tier), name);
    bool same = tt_registry_same_catalog(side, catalog);

    json_decref(side);
    return same;
}

/*
 * Every other published model of @tier is checked too (loaded and freed): the engine refuses
 * a snapshot with a damaged file, so an answer here must not come from one.
 */
static int check_tier(const tt_config *cfg, enum tt_tier tier, const char *skip,
                      uint64_t catalog, tt_err *err)
{
    char path[1200];
    int rc = 0;

    for (const tt_model_info *i = tt_models_list(); rc == 0 && i->name; i++) {
        tt_model *m = NULL;
        if (i->tier != tier || strcmp(i->name, skip) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s/%s.ttm", cfg->model_dir, tt_tier_to_name(tier),
                 i->name);
        if (access(path, F_OK) != 0 || !same_catalog(cfg, tier, i->name, catalog))
            continue;
        rc = tt_model_load(path, catalog, &m, err);
        tt_model_free(m);
    }
    return rc;
}

static int load_all(const tt_config *cfg, const char *model, struct loaded *l, tt_err *err)
{
    char path[1200];
    int rc;

    memset(l, 0, sizeof(*l));
    snprintf(path, sizeof(path), "%s/catalog.ttm", cfg->model_dir);
    rc = tt_catalog_load(path, &l->cat, err);
    if (rc == TT_ENOTFOUND)
        return tt_err_set(err, rc, "no trained models under %s: run 'tunetrail train' first",
                          cfg->model_dir);
    if (rc == 0)
        rc = load_model(cfg, model, tt_catalog_id(l->cat), &l->model, err);
    if (rc == 0 && strcmp(model, "hybrid") == 0)
        rc = load_parts(cfg, tt_catalog_id(l->cat), l->model, err);
    if (rc == 0 && strcmp(model, "blend") == 0)
        rc = load_blend_parts(cfg, tt_catalog_id(l->cat), l->model, err);
    if (rc == 0 && tt_models_find(model))
        rc = check_tier(cfg, tt_models_find(model)->tier, model, tt_catalog_id(l->cat), err);
    /* Users without history get the genre model's picks. */
    if (rc == 0 && strcmp(model, "genre") != 0)
        rc = load_model(cfg, "genre", tt_catalog_id(l->cat), &l->fallback, err);
    return rc;
}

static void loaded_release(struct loaded *l)
{
    tt_model_free(l->model);
    tt_model_free(l->fallback);
    tt_catalog_free(l->cat);
}

static int one_user(const struct loaded *l, const char *user, int k, bool heard, bool csv,
                    tt_err *err)
{
    tt_rec_ctx ctx = {l->cat, l->model, l->fallback ? l->fallback : l->model, 1, 1.0f};
    tt_rec_request req = {.user_id = user, .k = k, .include_heard = heard};
    tt_scored *out = tt_malloc((size_t)k * sizeof(tt_scored));
    tt_rec_result res;
    int rc = tt_recommend_user(&ctx, &req, out, &res, err);

    if (rc == 0 && !csv)
        printf("# user %s: %d tracks from %s%s\n", user, res.n, res.model->name,
               res.fallback ? " (fallback: no usable history)" : "");
    for (int i = 0; rc == 0 && i < res.n; i++) {
        int32_t t = out[i].track;
        if (csv)
            printf("%s,%d,%s,%.6f\n", user, i + 1, tt_catalog_track_id(l->cat, t), out[i].score);
        else
            printf("%3d  %-24s %9.5f  %s - %s [%s]\n", i + 1, tt_catalog_track_id(l->cat, t),
                   out[i].score, tt_catalog_track_artist(l->cat, t),
                   tt_catalog_track_title(l->cat, t), tt_catalog_track_genre(l->cat, t));
    }
    free(out);
    return rc;
}

/* One user id per line; a first line "user_id" is a header. Output is CSV. */
static int users_file(const struct loaded *l, const char *path, int k, bool heard, tt_err *err)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int64_t n = 0;
    int rc = 0;

    if (!f)
        return tt_err_set(err, TT_ENOTFOUND, "cannot open %s", path);
    printf("user_id,rank,track_id,score\n");
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        size_t len = strcspn(line, "\r\n,");
        line[len] = '\0';
        if (len == 0 || (n++ == 0 && strcmp(line, "user_id") == 0))
            continue;
        rc = one_user(l, line, k, heard, true, err);
    }
    fclose(f);
    return rc;
}

#define USAGE "tunetrail recommend USER_ID | --users-file F [--k N] [--model M]"

struct recommend_args {
    const char *model, *file;
    int k;
    bool heard;
};

static void bind_opts(struct recommend_args *a, struct tt_opt *opts)
{
    const struct tt_opt o[] = {
        {"--k", TT_OPT_INT, &a->k, "how many tracks (default 20)"},
        {"--model", TT_OPT_STR, &a->model, "model to use (default: the free tier's, ALS or EASE)"},
        {"--users-file", TT_OPT_STR, &a->file,
         "recommend for every user id in this file (CSV out)"},
        {"--include-heard", TT_OPT_BOOL, &a->heard, "allow tracks the user already heard"},
        {0},
    };

    *a = (struct recommend_args){NULL, NULL, 20, false};
    memcpy(opts, o, sizeof(o));
}

TT_CLI_DESCRIBE(struct recommend_args, bind_opts)

static int cmd_recommend(int argc, char **argv)
{
    struct recommend_args a;
    struct tt_opt opts[5];
    const char *model, *file;
    int k;
    bool heard;
    tt_config cfg;
    char *pos[1];
    int npos, rc;
    struct loaded l;
    tt_err err = {0};

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 1, &npos);
    model = a.model;
    file = a.file;
    k = a.k;
    heard = a.heard;
    if (k < 1 || k > 10000 || (npos == 0) == (file == NULL)) {
        fprintf(stderr, "tunetrail: give one USER_ID or --users-file, and --k in 1..10000\n");
        return 2;
    }
    if (!model)
        model = tt_registry_free_choice(cfg.model_dir, NULL, 0);
    rc = load_all(&cfg, model, &l, &err);
    if (rc == 0)
        rc = file ? users_file(&l, file, k, heard, &err)
                  : one_user(&l, pos[0], k, heard, false, &err);
    loaded_release(&l);
    return rc < 0 ? tt_cli_fail(&err, rc) : 0;
}

const struct tt_cmd tt_cmd_recommend_def = {
    "recommend", cmd_recommend, "print recommendations for a user or a file of users", USAGE,
    describe_options, 0, NULL};
