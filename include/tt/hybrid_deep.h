/*
 * hybrid_deep.h - the pro tier's main model: a learned ranker over the candidates of ALS,
 * NeuMF, the deep content model, content similarity and trending.
 *
 * For one listener the candidates are the union of those parts' top N. Each candidate gets
 * TT_HD_FEATURES features: every part's score as a z-score over the listener's candidates
 * (ALS, content, popularity, trending, NeuMF, deep content), whether nobody has played the
 * track yet, the listener's affinity to its artist and its genre (the share of their liked
 * tracks by that artist, of that first genre), the candidate's rank by ALS and by NeuMF, and
 * the track's age (days since its first play). A small network (one ReLU layer of
 * TT_HD_HIDDEN units, a linear output) scores them; it is trained at `train` time with a
 * listwise softmax loss on a validation split (the hybrid model's: held-out positives of
 * sampled listeners plus every event of a share of the tracks, standing in for new
 * releases), the parts trained on the rest, on played tracks only; a track nobody has played
 * then gets a bonus learned on the same split. Feature importances are measured on validation
 * listeners the network did not learn from: the NDCG@k lost when one feature is shuffled
 * among each listener's candidates.
 *
 * The model file holds the network, the feature scaling, the importances, the validation
 * figures and each track's artist and first genre; the parts are the model files trained
 * beside it, attached by the caller with the listeners' training history
 * (tt_hybrid_deep_attach).
 */
#ifndef TT_HYBRID_DEEP_H
#define TT_HYBRID_DEEP_H

#include "tt/hybrid.h"
#include "tt/model.h"
#include "tt/modelfile.h"

enum tt_hd_part {
    TT_HD_ALS,
    TT_HD_CONTENT,
    TT_HD_POPULARITY,
    TT_HD_TRENDING,
    TT_HD_NEUMF,
    TT_HD_DEEP,
    TT_HD_PARTS
};

#define TT_HD_FEATURES 12
#define TT_HD_HIDDEN 16

/* "als", ..., "deep_content": each part's model name, in enum order. */
extern const char *const tt_hd_part_names[TT_HD_PARTS];
/* Each feature's name, in column order. */
extern const char *const tt_hd_feature_names[TT_HD_FEATURES];

typedef struct tt_hd_params {
    tt_hybrid_params split; /* the validation split and candidate count (hybrid's defaults) */
    int epochs;             /* passes over the validation listeners (default 40) */
    float lr;               /* Adam step size (default 0.005) */
} tt_hd_params;

tt_hd_params tt_hd_params_default(void);

/* What training measured, on validation listeners the ranker did not learn from. */
typedef struct tt_hd_fit {
    double ndcg, recall;         /* the ranker's NDCG@k and recall@k, every held-out pair */
    double als_ndcg, als_recall; /* ALS alone over the same candidates */
    double known_ndcg, als_known_ndcg; /* NDCG@k on the pairs of played tracks only */
    float new_bonus;             /* added to a new release's score */
    double importance[TT_HD_FEATURES]; /* NDCG@k lost with the feature shuffled */
    int32_t train_users, test_users;
    int64_t pairs;
    int k;
} tt_hd_fit;

/*
 * The positives of dense user @u at training time (tracks ascending, r values), for the
 * artist and genre affinities; 0 entries for an unknown user.
 */
typedef void (*tt_hd_history_fn)(const void *ctx, int32_t u, const int32_t **tracks,
                                 const float **r, int32_t *n);

struct tt_model_opts;

/*
 * Learns the ranker on @ts as the header says (parts trained with @o on the split) and
 * trains the parts on all of @ts, attached to the result, which owns them and borrows @ts's
 * positives for the affinities (@ts must outlive it). Errors: TT_EINVAL, TT_ESTATE (no
 * listener to validate on, no part left), the parts'.
 */
int tt_hd_train(const tt_train_set *ts, const tt_hd_params *p, const struct tt_model_opts *o,
                tt_model **out, tt_err *err);

/*
 * Only the learning: the returned model has the network but no parts (attach the parts
 * trained beside it, as a loaded model's). `tunetrail train` uses it: the parts are the
 * model files of the same run.
 */
int tt_hd_learn(const tt_train_set *ts, const tt_hd_params *p, const struct tt_model_opts *o,
                tt_model **out, tt_err *err);

/*
 * Gives a loaded model its parts (borrowed; content, NeuMF and deep content may be NULL:
 * their features are then 0) and the listeners' training history (@hist with @ctx).
 * Errors: TT_EINVAL (not this kind, ALS or popularity or trending missing, a part of the
 * wrong kind or catalog).
 */
int tt_hybrid_deep_attach(tt_model *m, tt_model *const parts[TT_HD_PARTS], tt_hd_history_fn hist,
                          const void *ctx, tt_err *err);

/* The validation figures and importances of @m; false when not this kind. */
bool tt_hd_fit_of(const tt_model *m, tt_hd_fit *fit);

/* Loader used by tt_model_load for kind "hybrid_deep" (nothing attached). */
int tt__hybrid_deep_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
