#include "train_opts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int bad(const char *flag, const char *accepted)
{
    fprintf(stderr, "tunetrail: invalid %s: accepted %s\n", flag, accepted);
    return 2;
}

/*
 * Puts @o in the next of the TT_TRAIN_OPTS_MAX slots callers size their tables by; an option
 * added past them must raise TT_TRAIN_OPTS_MAX, and aborts here rather than write past them.
 */
static void add_slot(struct tt_opt *slots, int *i, struct tt_opt o)
{
    if (*i >= TT_TRAIN_OPTS_MAX) {
        fprintf(stderr, "tunetrail: more shared train options than TT_TRAIN_OPTS_MAX (%d)\n",
                TT_TRAIN_OPTS_MAX);
        abort();
    }
    slots[(*i)++] = o;
}

void tt_train_cli_init(struct tt_train_cli *tc, struct tt_opt *slots)
{
    const tt_als_params *a;
    int i = 0;

    memset(tc, 0, sizeof(*tc));
    tc->opts = tt_model_opts_default();
    a = &tc->opts.als;
    tc->scaling = tt_als_scaling_names[a->scaling];
    tc->regularization = a->regularization;
    tc->reg_exponent = a->reg_exponent;
    tc->alpha = a->alpha;
    tc->bm25_k1 = a->bm25_k1;
    tc->bm25_b = a->bm25_b;
    tc->log_eps = a->log_eps;
    tc->factors = a->factors;
    tc->restarts = a->restarts;
    tc->iterations = a->iterations;
    tc->cg_steps = a->cg_steps;
    tc->precompute_days = a->precompute_days;
    tc->precompute_users = a->precompute_users;
    tc->ease_scaling = tt_als_scaling_names[tc->opts.ease.scaling];
    tc->ease_lambda = tc->opts.ease.lambda;
    tc->ease_emphasis = tc->opts.ease.emphasis;
    tc->ease_no_user_norm = !tc->opts.ease.user_norm;
    tc->ease_min_listeners = tc->opts.ease.min_listeners;
    tc->half_life = tc->opts.trending_half_life_days;
    tc->seed = (int64_t)tc->opts.seed;
    tc->w_audio = tc->opts.content.w_audio;
    tc->w_key = tc->opts.content.w_key;
    tc->w_genre = tc->opts.content.w_genre;
    tc->w_embedding = tc->opts.content.w_embedding;
    tc->genre_dims = tc->opts.content.genre_dims;
    tc->centres = tc->opts.content.max_centres;
    tc->whiten = tc->opts.content.whiten;
    tc->augment_k = tc->opts.content.augment_k;
    tc->neumf_factors = tc->opts.neumf.factors;
    tc->neumf_epochs = tc->opts.neumf.epochs;
    tc->neumf_batch = tc->opts.neumf.batch;
    tc->neumf_negatives = tc->opts.neumf.negatives;
    tc->neumf_lr = tc->opts.neumf.lr;
    tc->neumf_l2 = tc->opts.neumf.l2;
    tc->neumf_pretrain = tc->opts.neumf.pretrain;
    add_slot(slots, &i, (struct tt_opt){"--factors", TT_OPT_INT, &tc->factors, "ALS factors"});
    add_slot(slots, &i,
             (struct tt_opt){"--restarts", TT_OPT_INT, &tc->restarts,
                             "ALS: seeded factorizations averaged (0 = 3 up to 2M pairs, else 1)"});
    add_slot(slots, &i,
             (struct tt_opt){"--regularization", TT_OPT_DOUBLE, &tc->regularization,
                             "ALS L2 regularization"});
    add_slot(slots, &i,
             (struct tt_opt){"--reg-exponent", TT_OPT_DOUBLE, &tc->reg_exponent,
                             "ALS frequency-scaled regularization: a user's or track's lambda "
                             "times (positives / mean)^E, 0..2"});
    add_slot(slots, &i,
             (struct tt_opt){"--alpha", TT_OPT_DOUBLE, &tc->alpha, "ALS confidence scale"});
    add_slot(slots, &i, (struct tt_opt){"--iterations", TT_OPT_INT, &tc->iterations, "ALS sweeps"});
    add_slot(slots, &i,
             (struct tt_opt){"--cg-steps", TT_OPT_INT, &tc->cg_steps,
                             "ALS conjugate-gradient steps per solve (0 = exact)"});
    add_slot(slots, &i,
             (struct tt_opt){"--precompute-days", TT_OPT_INT, &tc->precompute_days,
                             "ALS: rank lists ahead for users active in the last N days "
                             "(0 = all; default 30)"});
    add_slot(slots, &i,
             (struct tt_opt){"--precompute-users", TT_OPT_INT, &tc->precompute_users,
                             "ALS: at most this many lists, most recent users first "
                             "(0 = no cap; default 20000)"});
    add_slot(
        slots, &i,
        (struct tt_opt){"--scaling", TT_OPT_STR, &tc->scaling, "ALS confidence: linear|log|bm25"});
    add_slot(slots, &i, (struct tt_opt){"--bm25-k1", TT_OPT_DOUBLE, &tc->bm25_k1, "BM25 k1"});
    add_slot(slots, &i, (struct tt_opt){"--bm25-b", TT_OPT_DOUBLE, &tc->bm25_b, "BM25 b"});
    add_slot(
        slots, &i,
        (struct tt_opt){"--log-eps", TT_OPT_DOUBLE, &tc->log_eps, "eps of log(1 + r/eps) scaling"});
    add_slot(slots, &i,
             (struct tt_opt){"--ease-lambda", TT_OPT_DOUBLE, &tc->ease_lambda,
                             "EASE regularization lambda (default 50)"});
    add_slot(slots, &i,
             (struct tt_opt){"--ease-emphasis", TT_OPT_DOUBLE, &tc->ease_emphasis,
                             "EASE emphasised-denoising dropout share, 0..0.9 (default 0.5; "
                             "0 = plain EASE)"});
    add_slot(slots, &i,
             (struct tt_opt){"--ease-no-user-norm", TT_OPT_BOOL, &tc->ease_no_user_norm,
                             "EASE: count co-listening by raw rows, not each listener's row "
                             "at the same length"});
    add_slot(slots, &i,
             (struct tt_opt){"--ease-scaling", TT_OPT_STR, &tc->ease_scaling,
                             "EASE confidence: linear|log|bm25 (default log)"});
    add_slot(slots, &i,
             (struct tt_opt){"--ease-min-listeners", TT_OPT_INT, &tc->ease_min_listeners,
                             "EASE: tracks with fewer training listeners are left out (2)"});
    add_slot(slots, &i,
             (struct tt_opt){"--half-life", TT_OPT_DOUBLE, &tc->half_life,
                             "trending half-life in days"});
    add_slot(slots, &i,
             (struct tt_opt){"--threads", TT_OPT_INT, &tc->threads,
                             "training threads (0 = one per core)"});
    add_slot(slots, &i, (struct tt_opt){"--seed", TT_OPT_I64, &tc->seed, "random seed"});
    add_slot(slots, &i,
             (struct tt_opt){"--w-audio", TT_OPT_DOUBLE, &tc->w_audio,
                             "content: weight of the audio features"});
    add_slot(slots, &i,
             (struct tt_opt){"--w-key", TT_OPT_DOUBLE, &tc->w_key,
                             "content: weight of key inside the audio features"});
    add_slot(
        slots, &i,
        (struct tt_opt){"--w-genre", TT_OPT_DOUBLE, &tc->w_genre, "content: weight of the genres"});
    add_slot(slots, &i,
             (struct tt_opt){"--w-embedding", TT_OPT_DOUBLE, &tc->w_embedding,
                             "content: weight of the track embedding"});
    add_slot(slots, &i,
             (struct tt_opt){"--genre-dims", TT_OPT_INT, &tc->genre_dims,
                             "content: most common genres given a dimension"});
    add_slot(slots, &i,
             (struct tt_opt){"--centres", TT_OPT_INT, &tc->centres,
                             "content: most centres of a listener's profile"});
    add_slot(slots, &i,
             (struct tt_opt){"--whiten", TT_OPT_DOUBLE, &tc->whiten,
                             "content: embedding whitening shrinkage (1; 0 = none)"});
    add_slot(slots, &i,
             (struct tt_opt){"--augment-k", TT_OPT_INT, &tc->augment_k,
                             "content: neighbours each vector is averaged with (15; 0 = none)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-factors", TT_OPT_INT, &tc->neumf_factors,
                             "NeuMF embedding size f: GMF f, MLP 2f-f-f/2 (default 32)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-epochs", TT_OPT_INT, &tc->neumf_epochs,
                             "NeuMF epochs (default 20)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-lr", TT_OPT_DOUBLE, &tc->neumf_lr,
                             "NeuMF Adam learning rate (default 0.001)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-batch", TT_OPT_INT, &tc->neumf_batch,
                             "NeuMF samples per mini-batch (default 1024)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-negatives", TT_OPT_INT, &tc->neumf_negatives,
                             "NeuMF sampled negatives per positive (default 4)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-l2", TT_OPT_DOUBLE, &tc->neumf_l2,
                             "NeuMF L2 weight decay (default 0)"});
    add_slot(slots, &i,
             (struct tt_opt){"--neumf-pretrain", TT_OPT_BOOL, &tc->neumf_pretrain,
                             "NeuMF: pre-train the GMF and MLP towers first (3x the time)"});
    slots[i] = (struct tt_opt){0};
}

/* The NeuMF flags into tc->opts.neumf; 2 after printing why when one is out of range. */
static int neumf_finish(struct tt_train_cli *tc)
{
    tt_neumf_params *p = &tc->opts.neumf;
    tt_err err = {0};

    if (tc->neumf_factors < 2 || tc->neumf_factors > 1024)
        return bad("--neumf-factors", "2..1024");
    p->factors = tc->neumf_factors;
    p->layers[0] = 2 * tc->neumf_factors;
    p->layers[1] = tc->neumf_factors;
    p->layers[2] = tc->neumf_factors / 2;
    p->n_layers = 3;
    p->epochs = tc->neumf_epochs;
    p->batch = tc->neumf_batch;
    p->negatives = tc->neumf_negatives;
    p->lr = (float)tc->neumf_lr;
    p->l2 = (float)tc->neumf_l2;
    p->pretrain = tc->neumf_pretrain;
    if (tt_neumf_params_check(p, &err) < 0)
        return bad(err.field[0] ? err.field : "NeuMF options",
                   "--neumf-epochs 1..10000, --neumf-lr > 0, --neumf-batch 1..1048576, "
                   "--neumf-negatives 0..100, --neumf-l2 >= 0");
    return 0;
}

/* The EASE flags into tc->opts.ease; 2 after printing why when one is out of range. */
static int ease_finish(struct tt_train_cli *tc)
{
    tt_ease_params *p = &tc->opts.ease;
    size_t sc = 0;

    while (sc < TT_ALS_N_SCALINGS && strcmp(tc->ease_scaling, tt_als_scaling_names[sc]) != 0)
        sc++;
    if (sc == TT_ALS_N_SCALINGS)
        return bad("--ease-scaling", "linear, log or bm25");
    if (!(tc->ease_lambda > 0 && tc->ease_lambda <= 1e7))
        return bad("--ease-lambda", "> 0 and <= 1e7");
    if (tc->ease_min_listeners < 1 || tc->ease_min_listeners > 1000)
        return bad("--ease-min-listeners", "1..1000");
    if (!(tc->ease_emphasis >= 0 && tc->ease_emphasis <= 0.9))
        return bad("--ease-emphasis", "0..0.9");
    p->scaling = (enum tt_als_scaling)sc;
    p->lambda = (float)tc->ease_lambda;
    p->emphasis = (float)tc->ease_emphasis;
    p->user_norm = !tc->ease_no_user_norm;
    p->min_listeners = tc->ease_min_listeners;
    return 0;
}

int tt_train_cli_finish(struct tt_train_cli *tc)
{
    tt_als_params *a = &tc->opts.als;
    size_t sc = 0;

    while (sc < TT_ALS_N_SCALINGS && strcmp(tc->scaling, tt_als_scaling_names[sc]) != 0)
        sc++;
    if (sc == TT_ALS_N_SCALINGS)
        return bad("--scaling", "linear, log or bm25");
    a->scaling = (enum tt_als_scaling)sc;
    if (tc->factors < 1 || tc->factors > 1024)
        return bad("--factors", "1..1024");
    if (tc->restarts < 0 || tc->restarts > 1024)
        return bad("--restarts", "0..1024 (0 = 3 up to 2M positive pairs, else 1; as many "
                                 "are trained as fit in 1024 dimensions)");
    if (tc->iterations < 1 || tc->iterations > 1000)
        return bad("--iterations", "1..1000");
    if (tc->cg_steps < 0 || tc->cg_steps > 100)
        return bad("--cg-steps", "0..100 (0 = exact Cholesky solves)");
    if (tc->precompute_days < 0 || tc->precompute_days > 36500)
        return bad("--precompute-days", "0..36500 (0 = every user)");
    if (tc->precompute_users < 0)
        return bad("--precompute-users", ">= 0 (0 = no cap)");
    if (!(tc->regularization >= 0))
        return bad("--regularization", ">= 0");
    if (!(tc->reg_exponent >= 0 && tc->reg_exponent <= 2))
        return bad("--reg-exponent", "0..2");
    if (!(tc->alpha > 0))
        return bad("--alpha", "> 0");
    if (!(tc->bm25_k1 > 0) || !(tc->bm25_b >= 0 && tc->bm25_b <= 1))
        return bad("--bm25-k1/--bm25-b", "k1 > 0 and b in [0, 1]");
    if (!(tc->log_eps > 0))
        return bad("--log-eps", "> 0");
    if (!(tc->half_life > 0))
        return bad("--half-life", "> 0 days");
    if (tc->threads < 0 || tc->threads > 64)
        return bad("--threads", "0..64");
    a->factors = tc->factors;
    a->restarts = tc->restarts;
    a->iterations = tc->iterations;
    a->cg_steps = tc->cg_steps;
    a->precompute_days = tc->precompute_days;
    a->precompute_users = tc->precompute_users;
    a->regularization = (float)tc->regularization;
    a->reg_exponent = (float)tc->reg_exponent;
    a->alpha = (float)tc->alpha;
    a->bm25_k1 = (float)tc->bm25_k1;
    a->bm25_b = (float)tc->bm25_b;
    a->log_eps = (float)tc->log_eps;
    tc->opts.content.w_audio = (float)tc->w_audio;
    tc->opts.content.w_key = (float)tc->w_key;
    tc->opts.content.w_genre = (float)tc->w_genre;
    tc->opts.content.w_embedding = (float)tc->w_embedding;
    tc->opts.content.genre_dims = tc->genre_dims;
    tc->opts.content.max_centres = tc->centres;
    tc->opts.content.whiten = (float)tc->whiten;
    tc->opts.content.augment_k = tc->augment_k;
    {
        tt_err err = {0};
        if (tt_content_params_check(&tc->opts.content, &err) < 0)
            return bad(err.field[0] ? err.field : "content weights",
                       "finite weights >= 0, not all zero; --genre-dims 0..4096; "
                       "--centres 1..16; --whiten 0..1e6; --augment-k 0..1024");
    }
    if (neumf_finish(tc) != 0 || ease_finish(tc) != 0)
        return 2;
    tc->opts.trending_half_life_days = tc->half_life;
    tc->opts.threads = tc->threads;
    tc->opts.seed = (uint64_t)tc->seed;
    return 0;
}

void tt_ann_cli_init(struct tt_ann_cli *ac, struct tt_opt *slots)
{
    int i = 0;

    memset(ac, 0, sizeof(*ac));
    ac->params = tt_ann_params_default();
    ac->type = "auto";
    ac->m = ac->params.m;
    ac->ef_construction = ac->params.ef_construction;
    slots[i++] = (struct tt_opt){"--type", TT_OPT_STR, &ac->type,
                                 "index type: flat|ivf|hnsw|auto (default auto: exact up to "
                                 "20,000 tracks, HNSW up to 2 million, IVF beyond)"};
    slots[i++] = (struct tt_opt){"--nlist", TT_OPT_INT, &ac->nlist,
                                 "IVF inverted lists (default about 4 sqrt(tracks))"};
    slots[i++] = (struct tt_opt){"--m", TT_OPT_INT, &ac->m, "HNSW links per node (32)"};
    slots[i++] = (struct tt_opt){"--ef-construction", TT_OPT_INT, &ac->ef_construction,
                                 "HNSW candidate list while building (80)"};
    slots[i++] = (struct tt_opt){"--nprobe", TT_OPT_INT, &ac->nprobe,
                                 "IVF lists visited per query (default 32)"};
    slots[i++] = (struct tt_opt){"--ef-search", TT_OPT_INT, &ac->ef_search,
                                 "HNSW candidate list while searching (default 64)"};
    slots[i] = (struct tt_opt){0};
}

int tt_ann_cli_finish(struct tt_ann_cli *ac)
{
    int t = tt_ann_type_parse(ac->type);

    if (t < 0)
        return bad("--type", "flat, ivf, hnsw or auto");
    if (ac->nlist < 0 || ac->nlist > 1000000)
        return bad("--nlist", "1..1000000 (0 = automatic)");
    if (ac->nprobe < 0 || ac->nprobe > 1000000)
        return bad("--nprobe", "1..1000000 (0 = default)");
    if (ac->m < 2 || ac->m > 256)
        return bad("--m", "2..256");
    if (ac->ef_construction < 1 || ac->ef_construction > 100000)
        return bad("--ef-construction", "1..100000");
    if (ac->ef_search < 0 || ac->ef_search > 100000)
        return bad("--ef-search", "1..100000 (0 = default)");
    ac->params.type = (enum tt_ann_type)t;
    ac->params.nlist = ac->nlist;
    if (ac->nprobe)
        ac->params.nprobe = ac->nprobe;
    ac->params.m = ac->m;
    ac->params.ef_construction = ac->ef_construction;
    if (ac->ef_search)
        ac->params.ef_search = ac->ef_search;
    return 0;
}
