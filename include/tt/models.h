/*
 * models.h - the model catalogue: which models exist, which tier owns each, and training
 * any of them by name with one set of options. `tunetrail train` and `tunetrail evaluate`
 * go through here, so a model added to the table is trained, saved and evaluated everywhere.
 */
#ifndef TT_MODELS_H
#define TT_MODELS_H

#include "tt/als.h"
#include "tt/blend.h"
#include "tt/content.h"
#include "tt/deep_content.h"
#include "tt/ease.h"
#include "tt/hybrid.h"
#include "tt/hybrid_deep.h"
#include "tt/model.h"
#include "tt/neumf.h"

enum tt_tier { TT_TIER_FREE, TT_TIER_STARTER, TT_TIER_PRO, TT_TIER_ENTERPRISE };

/* Options for every model; each model reads its own part. */
typedef struct tt_model_opts {
    tt_als_params als;
    tt_ease_params ease;
    tt_blend_params blend;
    tt_content_params content;
    tt_hybrid_params hybrid;
    tt_neumf_params neumf;
    tt_deep_content_params deep_content;
    tt_hd_params hybrid_deep;
    double trending_half_life_days; /* time decay of the trending model */
    uint64_t seed;
    int threads;                    /* 0 = one per core */
    /*
     * Called after each ALS iteration and NeuMF epoch when set: the training loss, NeuMF's
     * validation HR@10 (@metric, NAN for ALS) and the seconds since training started.
     * Models never write progress anywhere themselves: this hook is the only report.
     */
    void (*on_step)(void *ctx, const char *model, int step, int steps, double loss,
                    double metric, double seconds);
    void *step_ctx;
} tt_model_opts;

tt_model_opts tt_model_opts_default(void);

typedef struct tt_model_info {
    const char *name;  /* "als", "ease", "popularity", "trending", "genre", "content", ... */
    enum tt_tier tier;
    const char *summary;
} tt_model_info;

/* The table of models, terminated by an entry with name NULL. */
const tt_model_info *tt_models_list(void);
/* The entry for @name, or NULL. */
const tt_model_info *tt_models_find(const char *name);

/*
 * Trains model @name on @ts. "hybrid" learns its blend (tt_hybrid_learn) and then trains
 * its parts on all of @ts, which the returned model owns. Errors: TT_ENOTFOUND for an
 * unknown name, the model's own.
 */
int tt_models_train(const char *name, const tt_train_set *ts, const tt_model_opts *o,
                    tt_model **out, tt_err *err);

/* Tier name <-> enum ("free", "starter", "pro", "enterprise"); -1 when unknown. */
int tt_tier_from_name(const char *s);
const char *tt_tier_to_name(enum tt_tier t);

#endif
