/*
 * The leave-one-out protocol of He et al. (WWW 2017, "Neural Collaborative Filtering"),
 * tt_eval_loo: each evaluated user's latest positive is held out (a TT_SPLIT_LAST split),
 * ranked by the model among n_neg tracks the user never touched, drawn at random; HR@k is
 * the share of users whose held-out track ranks in the top k, NDCG@k the mean of
 * 1 / log2(rank + 2) for those. The sampled candidates make the figures far higher than
 * full-catalog ranking and, as Krichene and Rendle (KDD 2020) show, can even order models
 * differently: they are reported for comparison with the paper, beside the full ranking.
 */
#include "tt/core.h"
#include "tt/eval.h"

#include <math.h>
#include <string.h>

int tt_eval_loo(const tt_model *m, const tt_split *s, const tt_csr *seen, int n_neg, int k,
                uint64_t seed, tt_loo_scores *out, tt_err *err)
{
    int32_t nt = m->n_tracks, cap = n_neg + 1;
    uint8_t *allow = tt_calloc((size_t)nt + 1, 1);
    int32_t *cand = tt_malloc(((size_t)cap + 1) * sizeof(int32_t));
    tt_scored *buf = tt_malloc(((size_t)cap + 1) * sizeof(tt_scored));
    double t0 = tt_now();
    tt_rng rng;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (s->kind != TT_SPLIT_LAST || n_neg < 1 || k < 1 || n_neg >= nt)
        rc = tt_err_set(err, TT_EINVAL, "leave-one-out needs a last split, 1 <= negatives < "
                                        "tracks and k >= 1");
    tt_rng_seed(&rng, seed, 0x6c6f6f);
    for (int32_t i = 0; rc == 0 && i < s->n_users; i++) {
        int32_t u = s->users[i], n = 0, tries = 0, held, got = 0, rank = -1;
        const int32_t *row = seen->indices + seen->indptr[u];
        int32_t n_seen = (int32_t)tt_csr_row_nnz(seen, u);
        tt_query q = {.user = u, .exclude = row, .n_exclude = n_seen, .allow = allow,
                      .excludes_history = true};
        if (tt_csr_row_nnz(&s->relevant, u) < 1)
            continue;
        held = s->relevant.indices[s->relevant.indptr[u]];
        cand[n++] = held;
        allow[held] = 1;
        while (n < cap && tries++ < 100 * cap) {
            int32_t t = (int32_t)tt_rng_below(&rng, (uint64_t)nt);
            if (allow[t] || tt_sorted_contains(row, n_seen, t) ||
                tt_sorted_contains(s->relevant.indices + s->relevant.indptr[u],
                                   (int32_t)tt_csr_row_nnz(&s->relevant, u), t))
                continue;
            allow[t] = 1;
            cand[n++] = t;
        }
        rc = tt_model_recommend(m, &q, n, buf, &got, err);
        if (rc == TT_ENOTFOUND || rc == TT_ESTATE) {
            tt_err_clear(err); /* the model cannot rank for this user: a miss */
            rc = 0;
            got = 0;
        }
        for (int j = 0; j < got && rank < 0; j++)
            if (buf[j].track == held)
                rank = j;
        out->users++;
        if (rank >= 0 && rank < k) {
            out->hr += 1;
            out->ndcg += 1.0 / log2(rank + 2.0);
        }
        for (int32_t j = 0; j < n; j++)
            allow[cand[j]] = 0;
    }
    if (out->users > 0) {
        out->hr /= out->users;
        out->ndcg /= out->users;
    }
    out->k = k;
    out->negatives = n_neg;
    out->seconds = tt_now() - t0;
    free(allow);
    free(cand);
    free(buf);
    return rc;
}
