/*
 * train_opts.h - the model options `train` and `evaluate` share (--factors, --alpha, ...),
 * so a setting tuned with evaluate is passed to train with the same flag.
 */
#ifndef TT_CLI_TRAIN_OPTS_H
#define TT_CLI_TRAIN_OPTS_H

#include "cli.h"
#include "tt/ann.h"
#include "tt/models.h"

/* Room for the shared options; tt_train_cli_init aborts rather than write past it. */
#define TT_TRAIN_OPTS_MAX 48

struct tt_train_cli {
    tt_model_opts opts; /* the result, valid after tt_train_cli_finish */
    const char *scaling, *ease_scaling;
    double ease_lambda, ease_emphasis;
    bool ease_no_user_norm;
    int ease_min_listeners;
    double regularization, reg_exponent, alpha, bm25_k1, bm25_b, half_life, log_eps;
    int factors, restarts, iterations, cg_steps, threads;
    int precompute_days, precompute_users;
    int64_t seed;
    double w_audio, w_key, w_genre, w_embedding, whiten;
    int genre_dims, centres, augment_k;
    int neumf_factors, neumf_epochs, neumf_batch, neumf_negatives;
    double neumf_lr, neumf_l2;
    bool neumf_pretrain;
};

/*
 * Fills @slots (room for TT_TRAIN_OPTS_MAX entries plus a terminating zero entry) with the
 * shared options bound to @tc, defaults from tt_model_opts_default().
 */
void tt_train_cli_init(struct tt_train_cli *tc, struct tt_opt *slots);
/* Validates the parsed values into tc->opts. Returns 0, or 2 after printing why. */
int tt_train_cli_finish(struct tt_train_cli *tc);

/* The index options `index` and `evaluate --similar` share. */
#define TT_ANN_OPTS_MAX 6

struct tt_ann_cli {
    tt_ann_params params; /* the result, valid after tt_ann_cli_finish */
    const char *type;
    int nlist, nprobe, m, ef_construction, ef_search;
};

/*
 * Fills @slots (room for TT_ANN_OPTS_MAX entries plus a terminating zero entry) with the
 * index options.
 */
void tt_ann_cli_init(struct tt_ann_cli *ac, struct tt_opt *slots);
/* Validates into ac->params. Returns 0, or 2 after printing why. */
int tt_ann_cli_finish(struct tt_ann_cli *ac);

#endif
