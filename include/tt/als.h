/*
 * als.h - implicit-feedback matrix factorization (Hu, Koren & Volinsky 2008) trained by
 * alternating least squares, each user's and track's least-squares problem solved by a few
 * conjugate-gradient steps warm-started from its previous vector (Takacs, Pilaszy & Tikk
 * 2011). Confidence c(u,t) = 1 + alpha * f(r(u,t)), preference 1 for every positive pair,
 * where f is the identity, log(1 + r/eps), or BM25 weighting of the track x user matrix.
 */
#ifndef TT_ALS_H
#define TT_ALS_H

#include "tt/model.h"
#include "tt/modelfile.h"

enum tt_als_scaling { TT_ALS_LINEAR, TT_ALS_LOG, TT_ALS_BM25 };

/* restarts 0: this many restarts on data of up to TT_ALS_AUTO_RESTARTS_PAIRS positive pairs. */
#define TT_ALS_AUTO_RESTARTS 3
#define TT_ALS_AUTO_RESTARTS_PAIRS 2000000

#define TT_ALS_N_SCALINGS 3
/* "linear", "log", "bm25": the name of each scaling, as --scaling and model files spell it. */
extern const char *const tt_als_scaling_names[TT_ALS_N_SCALINGS];

typedef struct tt_als_params {
    int factors;          /* latent dimensions (default 64) */
    float regularization; /* L2 weight lambda */
    /*
     * Frequency-scaled regularization (Zhou et al. 2008; Rendle et al. 2022): a row with n
     * positives is regularized by lambda (n / mean n)^reg_exponent, the mean over the rows
     * of its side that have any. 0 (the default) is one lambda for every row; above 0,
     * popular tracks are held closer to zero and rare ones freer, which keeps popularity
     * from crowding the factors.
     */
    float reg_exponent;
    float alpha;          /* confidence scale */
    /*
     * Independently seeded factorizations averaged into the model: restart r is trained
     * from seed + r and the model's scores are the mean of the restarts'. One alternation
     * lands in one of many local optima, and their average ranks better than any one of
     * them (docs/models.md). The model stores them side by side as one factorization of
     * factors x restarts dimensions, user vectors divided by restarts, so a dot product is
     * the average; fold-in solves each restart's own system. 0 (the default) is
     * TT_ALS_AUTO_RESTARTS up to TT_ALS_AUTO_RESTARTS_PAIRS positive pairs and 1 above, where
     * a training takes minutes. Training averages as many as fit in 1024 dimensions
     * (factors x restarts), and the model records how many it averaged.
     */
    int restarts;
    int iterations;       /* alternating sweeps */
    int cg_steps;         /* conjugate-gradient steps per solve (default 3) */
    int threads;          /* 0 = one per core */
    uint64_t seed;
    enum tt_als_scaling scaling;
    float bm25_k1, bm25_b; /* BM25 saturation and length normalisation */
    float log_eps;         /* the eps of log(1 + r/eps) */
    bool calc_loss;        /* compute the training loss after each sweep (costs ~10%) */
    /*
     * The best @precompute unheard tracks of the active training users, ranked at training
     * time and kept in the model, so a request for such a user without fresh feedback reads
     * a list instead of scoring the catalog (0 = off). Default 200. Active: an event in the
     * @precompute_days before the newest training event (0 = every user; default 30), at most the @precompute_users most recent of them (0 = no cap; default
     * 20000). Every other user is scored on demand, with the same answer.
     */
    int precompute;
    int precompute_days;
    int precompute_users;
    /* Called after each sweep when set; loss is NAN unless calc_loss. */
    void (*progress)(void *ctx, int iteration, double loss, double seconds);
    void *progress_ctx;
} tt_als_params;

/* The shipped defaults, tuned on real listening data (docs/evaluation.md). */
tt_als_params tt_als_params_default(void);

/*
 * Checks @p as tt_als_train does: factors 1..1024, restarts 0..1024, alpha > 0, regularization >= 0, reg_exponent in [0, 2],
 * iterations >= 1, cg_steps >= 0, precompute* >= 0, a known scaling, bm25_k1 > 0, bm25_b in [0, 1],
 * log_eps > 0 (all finite). TT_EINVAL naming the parameter in err->field.
 */
int tt_als_params_check(const tt_als_params *p, tt_err *err);

typedef struct tt_als_model tt_als_model;

/* Where training time went, for the training log. */
typedef struct tt_als_stats {
    double sweep_seconds; /* the alternating sweeps */
    double rank_seconds;  /* the lists ranked ahead of time */
    int32_t ranked_users; /* how many lists */
} tt_als_stats;

/* The stats of ALS model @m as trained (zeros for one loaded from a file); TT_EINVAL else. */
int tt_als_stats_of(const tt_model *m, tt_als_stats *out);

/*
 * The restarts a training with @p averages on data of @positive_pairs: p->restarts, or the
 * automatic count when it is 0, at most 1024 / p->factors. @p must pass tt_als_params_check.
 */
int tt_als_restarts_for(const tt_als_params *p, int64_t positive_pairs);

/* Trains on @ts. The returned model is a tt_model (kind "als"); free with tt_model_free. */
int tt_als_train(const tt_train_set *ts, const tt_als_params *p, tt_model **out, tt_err *err);

/*
 * Continues training: @p->iterations more sweeps on @ts from the factors of @from (borrowed,
 * an ALS model trained on the same @ts with the same factors, scaling and constants: the
 * caller keeps them equal). The result is the model tt_als_train would return with the
 * iterations of both summed, bit for bit: the alternation's whole state is the two factor
 * tables. The self-tuner's successive halving continues its survivors this way. Errors:
 * TT_EINVAL (a missing argument, @from not ALS or of another shape, @p out of range).
 * Thread-safe; @from is only read.
 */
int tt_als_train_more(const tt_train_set *ts, const tt_als_params *p, const tt_model *from,
                      tt_model **out, tt_err *err);

/*
 * An ALS model of @ts made of factors learned elsewhere: @X (ts->conf.rows users x @k) and
 * @Y (ts->conf.cols tracks x @k), row-major, in the dense ids of ts->ds, both copied. With
 * p->restarts R above 1 they are R factorizations of @k / R dimensions side by side, the user
 * vectors already divided by R, as a model with restarts stores and exports them. What
 * serving needs besides them (the Gram matrix for fold-in, track norms, the confidence
 * scaling of @ts under @p, user ids, the lists ranked ahead of time from ts->seen) is
 * computed by the same code training runs after its last sweep, so the model is exactly the
 * one tt_als_train would return had it arrived at these factors. @p is checked as by
 * tt_als_train with factors = @k / R (@k must be a multiple of R); iterations and cg_steps
 * are only recorded. A zero row
 * stands for a user or track without factors (as training leaves one without positives).
 * Errors: TT_EINVAL (a missing argument, a parameter out of range, naming it in err->field,
 * or a factor that is NaN or infinite). Thread-safe for distinct outputs.
 */
int tt_als_from_factors(const tt_train_set *ts, const tt_als_params *p, const float *X,
                        const float *Y, int k, tt_model **out, tt_err *err);

/*
 * Exact user vector for the tracks @hist with raw preference values @r (n entries), track
 * factors fixed: solves (YtY + lambda_u I + Y' (C - I) Y) x = Y' C p with a Cholesky
 * factorization, lambda_u the regularization of a training user with as many positives;
 * one such solve per restart, each divided by the restarts as training's user vectors are.
 * @x has tt_als_factors(m) entries. Thread-safe.
 */
int tt_als_fold_in(const tt_model *m, const int32_t *hist, const float *r, int32_t n, float *x,
                   tt_err *err);

/*
 * The parameters @m was made with (factors per restart, restarts, regularization, alpha,
 * scaling and its constants as in its file; progress unset) into *@p. TT_EINVAL when @m
 * is not ALS.
 */
int tt_als_params_of(const tt_model *m, tt_als_params *p, tt_err *err);
/*
 * The length of an ALS model's user and track vectors (factors x restarts); 0 when @m is not
 * one.
 */
int tt_als_factors(const tt_model *m);
/* User @u's factors (borrowed), or NULL. */
const float *tt_als_user_vector(const tt_model *m, int32_t u);
/* Track @t's factors (borrowed, factors floats, valid while @m lives), or NULL. */
const float *tt_als_track_vector(const tt_model *m, int32_t t);
/* Cosine similarity of the factor vectors of tracks @a and @b (0 for a zero vector). */
float tt_als_track_similarity(const tt_model *m, int32_t a, int32_t b);
/*
 * The track factors (n_tracks x *k, row-major, borrowed while @m lives) and, in *inv_norm,
 * 1 / |y_t| per track (0 for a zero vector, a track nobody played); NULL when @m is not ALS.
 */
const float *tt_als_track_factors(const tt_model *m, int *k, const float **inv_norm);
/* Scores of all tracks for user vector @x into @scores (n_tracks). */
void tt_als_score_all(const tt_model *m, const float *x, float *scores);

/*
 * Makes OpenBLAS single-threaded, once per process: the models thread their own loops and
 * the service runs many requests at once.
 */
void tt__blas_single_threaded(void);

/* Loader used by tt_model_load for kind "als". */
int tt__als_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
