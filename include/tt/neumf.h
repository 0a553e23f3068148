/*
 * neumf.h - neural collaborative filtering (He, Liao, Zhang, Nie, Hu & Chua, WWW 2017):
 * NeuMF fuses two towers over separate user and track embeddings,
 *   GMF:  p_u (.) q_t                          (element-wise product, @factors wide)
 *   MLP:  ReLU layers over [p'_u ; q'_t]       (@layers[0] = 2 x the MLP embedding size)
 * with one linear layer on [GMF ; last MLP layer] giving a logit, trained with binary
 * cross-entropy on the listener's positive tracks and sampled unheard tracks, by Adam.
 * docs/models.md describes the defaults and the measured speed.
 */
#ifndef TT_NEUMF_H
#define TT_NEUMF_H

#include "tt/model.h"
#include "tt/modelfile.h"

#define TT_NEUMF_MAX_LAYERS 8

typedef struct tt_neumf_params {
    int factors;   /* GMF embedding size (default 32) */
    /*
     * MLP widths, input first: layers[0] is the concatenated [user ; track] MLP embedding
     * (so each side has layers[0] / 2 dimensions, layers[0] even), then one ReLU layer per
     * further entry. Default 64-32-16: embeddings of 32, layers of 32 and 16. 2..8 entries.
     */
    int layers[TT_NEUMF_MAX_LAYERS];
    int n_layers;
    float lr;       /* Adam step size (default 0.001, the paper's) */
    int batch;      /* samples per mini-batch (default 1024) */
    int epochs;     /* passes over the positives (default 20) */
    float l2;       /* L2 weight decay on every parameter, embeddings lazily (default 0) */
    int negatives;  /* sampled unheard tracks per positive, resampled each epoch (default 4) */
    /*
     * Pre-train the GMF and MLP towers alone (@epochs each) and start NeuMF from them, the
     * fusion layer halved (the paper's alpha = 0.5). Triples training time for a gain of a
     * point or two of HR@10 in the paper; default off.
     */
    bool pretrain;
    /*
     * Users whose one positive is held out of training to measure HR@10 after each epoch
     * (ranked against 100 sampled unheard tracks, the paper's protocol); at most a tenth of
     * the users, 0 = no validation metric. Default 1000.
     */
    int validation_users;
    int threads;    /* 0 = one per core; results are identical for a given seed and count */
    uint64_t seed;
    int precompute; /* each user's best @precompute unheard tracks kept, as ALS (default 200) */
    /* Fold-in of a listener from their history: Adam steps on a fresh user (default 10). */
    int fold_steps;
    /* Called after each epoch: loss is the mean BCE, hr10 NAN when not measured. */
    void (*progress)(void *ctx, int epoch, double loss, double hr10, double seconds);
    void *progress_ctx;
} tt_neumf_params;

tt_neumf_params tt_neumf_params_default(void);
/* TT_EINVAL naming the field when @p is out of range. */
int tt_neumf_params_check(const tt_neumf_params *p, tt_err *err);

/*
 * Trains on @ts (positives ts->conf, negatives never in ts->seen). The returned model is a
 * tt_model (kind "neumf"); free with tt_model_free. Deterministic for a given seed and
 * thread count.
 */
int tt_neumf_train(const tt_train_set *ts, const tt_neumf_params *p, tt_model **out,
                   tt_err *err);

/* One epoch of training, as recorded in the model (and its file). */
typedef struct tt_neumf_epoch {
    float loss;    /* mean binary cross-entropy over the epoch's samples */
    float hr10;    /* HR@10 of the held-out positives after the epoch; NAN when off */
    float seconds; /* since training started */
} tt_neumf_epoch;

/*
 * The per-epoch history of a NeuMF model: *out points at the model's array (borrowed,
 * valid while @m lives). Returns the number of epochs (pre-training epochs not included),
 * 0 when @m is not a NeuMF model.
 */
int tt_neumf_history(const tt_model *m, const tt_neumf_epoch **out);

/*
 * The model's score (a logit: higher is better) of each of the @n @tracks for the listener
 * of @q: folded in from q->hist when q->n_hist > 0, else the stored user q->user. Scores
 * the candidates as one batch through the MLP. @out has n entries. Thread-safe.
 * Errors: TT_EINVAL (not a NeuMF model, a track out of range), TT_ENOTFOUND (no history and
 * no stored user).
 */
int tt_neumf_score(const tt_model *m, const tt_query *q, const int32_t *tracks, int32_t n,
                   float *out, tt_err *err);

/* Loader used by tt_model_load for kind "neumf". */
int tt__neumf_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
