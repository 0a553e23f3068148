#include "train_opts.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

void tt_train_cli_init(struct tt_train_cli *tc, struct tt_opt *slots)
{
    const tt_als_params *a;
    static const char *scal[] = {"linear", "log", "bm25"};
    int i = 0;

    memset(tc, 0, sizeof(*tc));
    tc->opts = tt_model_opts_default();
    a = &tc->opts.als;
    tc->scaling = scal[a->scaling];
    tc->regularization = a->regularization;
    tc->alpha = a->alpha;
    tc->bm25_k1 = a->bm25_k1;
    tc->bm25_b = a->bm25_b;
    tc->log_eps = a->log_eps;
    tc->factors = a->factors;
    tc->iterations = a->iterations;
    tc->cg_steps = a->cg_steps;
    tc->half_life = tc->opts.trending_half_life_days;
    tc->seed = (int64_t)tc->opts.seed;
    slots[i++] = (struct tt_opt){"--factors", TT_OPT_INT, &tc->factors, "ALS factors"};
    slots[i++] = (struct tt_opt){"--regularization", TT_OPT_DOUBLE, &tc->regularization,
                                 "ALS L2 regularization"};
    slots[i++] = (struct tt_opt){"--alpha", TT_OPT_DOUBLE, &tc->alpha, "ALS confidence scale"};
    slots[i++] = (struct tt_opt){"--iterations", TT_OPT_INT, &tc->iterations, "ALS sweeps"};
    slots[i++] = (struct tt_opt){"--cg-steps", TT_OPT_INT, &tc->cg_steps,
                                 "ALS conjugate-gradient steps per solve (0 = exact)"};
    slots[i++] = (struct tt_opt){"--scaling", TT_OPT_STR, &tc->scaling,
                                 "ALS confidence: linear|log|bm25"};
    slots[i++] = (struct tt_opt){"--bm25-k1", TT_OPT_DOUBLE, &tc->bm25_k1, "BM25 k1"};
    slots[i++] = (struct tt_opt){"--bm25-b", TT_OPT_DOUBLE, &tc->bm25_b, "BM25 b"};
    slots[i++] = (struct tt_opt){"--log-eps", TT_OPT_DOUBLE, &tc->log_eps,
                                 "eps of log(1 + r/eps) scaling"};
    slots[i++] = (struct tt_opt){"--half-life", TT_OPT_DOUBLE, &tc->half_life,
                                 "trending half-life in days"};
    slots[i++] = (struct tt_opt){"--threads", TT_OPT_INT, &tc->threads,
                                 "training threads (0 = one per core)"};
    slots[i++] = (struct tt_opt){"--seed", TT_OPT_I64, &tc->seed, "random seed"};
    slots[i] = (struct tt_opt){0};
}

static int bad(const char *flag, const char *accepted)
{
    fprintf(stderr, "tunetrail: invalid %s: accepted %s\n", flag, accepted);
    return 2;
}

int tt_train_cli_finish(struct tt_train_cli *tc)
{
    tt_als_params *a = &tc->opts.als;

    if (strcmp(tc->scaling, "linear") == 0)
        a->scaling = TT_ALS_LINEAR;
    else if (strcmp(tc->scaling, "log") == 0)
        a->scaling = TT_ALS_LOG;
    else if (strcmp(tc->scaling, "bm25") == 0)
        a->scaling = TT_ALS_BM25;
    else
        return bad("--scaling", "linear, log or bm25");
    if (tc->factors < 1 || tc->factors > 1024)
        return bad("--factors", "1..1024");
    if (tc->iterations < 1 || tc->iterations > 1000)
        return bad("--iterations", "1..1000");
    if (tc->cg_steps < 0 || tc->cg_steps > 100)
        return bad("--cg-steps", "0..100 (0 = exact Cholesky solves)");
    if (!(tc->regularization >= 0))
        return bad("--regularization", ">= 0");
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
    a->iterations = tc->iterations;
    a->cg_steps = tc->cg_steps;
    a->regularization = (float)tc->regularization;
    a->alpha = (float)tc->alpha;
    a->bm25_k1 = (float)tc->bm25_k1;
    a->bm25_b = (float)tc->bm25_b;
    a->log_eps = (float)tc->log_eps;
    tc->opts.trending_half_life_days = tc->half_life;
    tc->opts.threads = tc->threads;
    tc->opts.seed = (uint64_t)tc->seed;
    return 0;
}

void tt_cli_version_string(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y%m%dT%H%M%SZ", &tm);
}
