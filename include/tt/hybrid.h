/*
 * hybrid.h - the starter tier's main model: a learned blend of collaborative filtering
 * (ALS), content similarity to the listener (the content model's centres and track
 * vectors), all-time popularity and trending.
 *
 * For one listener the candidates are the union of each part's own top N (ALS, content and
 * trending), so tracks nobody has played yet reach listeners through the content part.
 * Every candidate is then scored by every part; a new release (a track nobody has played)
 * gets ALS, popularity and trending scores from its artist's played tracks. Each part's
 * scores are turned into z-scores over the listener's candidates (a track a part knows
 * nothing about gets the candidates' mean, 0), and the blend is sum_i w_i z_i with weights
 * w_i >= 0 summing to 1, plus, for new releases, a bonus and extra content weight: all
 * learned at training time on a validation split to maximise NDCG@k. docs/models.md gives
 * the method and its reasons.
 *
 * The model file holds the weights, the validation figures, the part names and each track's
 * artist: the parts are the ALS, content, popularity and trending model files trained beside
 * it, which the caller loads and attaches (tt_hybrid_attach) before the model can recommend.
 */
#ifndef TT_HYBRID_H
#define TT_HYBRID_H

#include "tt/model.h"
#include "tt/modelfile.h"

enum tt_hybrid_part {
    TT_HYBRID_ALS,
    TT_HYBRID_CONTENT,
    TT_HYBRID_POPULARITY,
    TT_HYBRID_TRENDING,
    TT_HYBRID_PARTS
};

/*
 * Columns of a candidate's features: each part's z-score, then the new-release flag (1 for a
 * track nobody has played in the training data, else 0).
 */
#define TT_HYBRID_NEW TT_HYBRID_PARTS
#define TT_HYBRID_COLS (TT_HYBRID_PARTS + 1)

/* "als", "content", "popularity", "trending": each part's model name, in enum order. */
extern const char *const tt_hybrid_part_names[TT_HYBRID_PARTS];

typedef struct tt_hybrid_params {
    double validation; /* share of each validation user's positives held out (default 0.1) */
    double new_share;  /* share of the played tracks held out whole, as new releases (0.02) */
    double new_cost;   /* most relative NDCG on played tracks new releases may cost (0.02) */
    int min_positives; /* users with fewer positives are not validated on (default 5) */
    int max_users;     /* validation users, a seeded sample when more qualify (3000) */
    int candidates;    /* each part's top N per listener (default 200) */
    int k;             /* the NDCG cut-off the weights maximise (default 20) */
    double step;       /* grid step of the weight search on the simplex (default 0.1) */
    uint64_t seed;     /* the validation sample */
} tt_hybrid_params;

tt_hybrid_params tt_hybrid_params_default(void);

/* What learning found: the weights and the validation figures behind them. */
typedef struct tt_hybrid_fit {
    float weight[TT_HYBRID_PARTS];      /* >= 0, sum 1 */
    float new_bonus;                    /* added to the blend of a track nobody has played */
    float new_content;                  /* extra weight of its content z-score */
    double ndcg;                        /* validation NDCG@k of the blend */
    double recall;                      /* validation Recall@k of the blend */
    double known_ndcg;                  /* validation NDCG@k on pairs of played tracks */
    double part_ndcg[TT_HYBRID_PARTS];  /* validation NDCG@k of each part's z-score alone */
    int32_t users;                      /* validation users */
    int64_t pairs;                      /* held-out (user, track) pairs */
    int64_t new_pairs;                  /* of which on tracks held out whole */
    int k;
} tt_hybrid_fit;

/*
 * Blend learning on prepared validation data: each user's candidates, the features of each
 * (n_cand x TT_HYBRID_COLS, row-major: z-scores and new-release flag), which candidates are
 * held-out positives, and how many held-out positives the user has in all (for the ideal DCG).
 * Exposed so tests can plant a best part.
 */
typedef struct tt_hybrid_vuser {
    int32_t n_cand;
    float *z;        /* n_cand x TT_HYBRID_COLS */
    uint8_t *rel;    /* n_cand: 0 not held out, 1 a held-out pair, 2 one on a new release */
    int32_t n_rel;   /* held-out positives, in the candidates or not */
    int32_t n_rel_new; /* of which on new releases (tracks held out whole) */
} tt_hybrid_vuser;

/*
 * Searches the weights maximising mean NDCG@k over @users (@n entries) of their held-out
 * pairs on played tracks (rel 1): every point of a grid of step @step on the simplex (parts
 * not @present keep weight 0; NULL = all present), then a local refinement moving a quarter
 * of the step between parts. Then, the weights fixed, the new-release terms: a track nobody
 * has played scores new_bonus + (w_content + new_content) z_content on top of the blend,
 * new_bonus in [-2, 4] and new_content in [0, 3] by steps of 0.25, the pair with the best
 * NDCG@k over every held-out pair among those that lower the NDCG on played tracks by at most
 * the share @new_cost. Ties go to the point tried first (the grid starts from all weight on
 * ALS; the new-release terms from 0). Fills every field of @fit but users and pairs.
 */
void tt_hybrid_search(const tt_hybrid_vuser *users, int32_t n, int k, double step,
                      double new_cost, const bool present[TT_HYBRID_PARTS], tt_hybrid_fit *fit);

struct tt_model_opts;

/*
 * Learns the blend on @ts: holds out p->validation of the positives of up to p->max_users
 * users and every event of p->new_share of the played tracks (seeded), trains the four parts
 * on the rest with @o (tt_models_train), gathers the validation users' candidates and
 * searches the weights; a validation user's relevant tracks are their held-out positives and
 * their positives on the held-out tracks. The returned model (kind
 * "hybrid") has the weights but no parts: attach the parts trained on all of @ts.
 * Errors: TT_EINVAL (bad parameters), TT_ESTATE (no user can be validated on), the parts'.
 */
int tt_hybrid_learn(const tt_train_set *ts, const tt_hybrid_params *p,
                    const struct tt_model_opts *o, tt_model **out, tt_err *err);

/*
 * Gives the hybrid model @m its parts (indexed by enum tt_hybrid_part; content may be
 * NULL, which leaves content out of candidates and blend), trained on the same catalog.
 * With @take the model frees them; otherwise they are borrowed and must outlive @m.
 * Errors: TT_EINVAL when @m is not a hybrid model, a part is missing (other than content)
 * or of the wrong kind, or its catalog differs.
 */
int tt_hybrid_attach(tt_model *m, tt_model *const parts[TT_HYBRID_PARTS], bool take,
                     tt_err *err);

/* The learned weights and validation figures of hybrid model @m; false when not one. */
bool tt_hybrid_fit_of(const tt_model *m, tt_hybrid_fit *fit);

/* Loader used by tt_model_load for kind "hybrid" (parts not attached). */
int tt__hybrid_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
