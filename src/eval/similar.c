/*
 * Offline quality of similar-track lists (tt_eval_similar): genre precision@k of exact
 * neighbours against a random baseline, and an approximate index's recall against exact.
 */
#include "tt/core.h"
#include "tt/eval.h"

#include <math.h>
#include <string.h>

#define CHUNK 1024

static int32_t first_genre(const tt_dataset *ds, int32_t t)
{
    return ds->track_genre_ptr[t] < ds->track_genre_ptr[t + 1]
               ? ds->track_genre[ds->track_genre_ptr[t]]
               : -1;
}

static bool nonzero(const float *v, int d)
{
    for (int j = 0; j < d; j++)
        if (v[j] != 0.0f)
            return true;
    return false;
}

/*
 * Neighbours of the @nq queries @q (dense tracks) from @ix, @k per query into @out (track ids,
 * -1 padded): the query itself and ids outside @cand_of (row -> candidate, -1 = not one) or
 * mapped by @row_to_track are skipped. Returns the seconds spent searching.
 */
static int neighbours(const tt_ann *ix, const float *vec, int d, const int32_t *q, int64_t nq,
                      const int32_t *row_to_track, const uint8_t *is_cand, int k, int32_t *out,
                      double *seconds, tt_err *err)
{
    int kq = 2 * k + 1;
    float *qv = tt_malloc((size_t)CHUNK * d * sizeof(float));
    float *sim = tt_malloc((size_t)CHUNK * kq * sizeof(float));
    int64_t *ids = tt_malloc((size_t)CHUNK * kq * sizeof(int64_t));
    int rc = 0;

    if (kq > tt_ann_size(ix))
        kq = (int)tt_ann_size(ix);
    for (int64_t b = 0; b < nq && rc == 0; b += CHUNK) {
        int64_t n = nq - b < CHUNK ? nq - b : CHUNK;
        double t0;
        for (int64_t i = 0; i < n; i++)
            memcpy(qv + i * d, vec + (size_t)q[b + i] * d, (size_t)d * sizeof(float));
        t0 = tt_now();
        rc = tt_ann_search(ix, qv, n, kq, sim, ids, err);
        *seconds += tt_now() - t0;
        for (int64_t i = 0; rc == 0 && i < n; i++) {
            int32_t *o = out + (b + i) * k;
            int w = 0;
            for (int j = 0; j < kq && w < k; j++) {
                int64_t r = ids[i * kq + j];
                int32_t t = r < 0 ? -1 : (row_to_track ? row_to_track[r] : (int32_t)r);
                if (t >= 0 && t != q[b + i] && is_cand[t])
                    o[w++] = t;
            }
            while (w < k)
                o[w++] = -1;
        }
    }
    free(qv);
    free(sim);
    free(ids);
    return rc;
}

static double genre_precision(const tt_dataset *ds, const int32_t *q, int64_t nq,
                              const int32_t *nb, int k)
{
    double sum = 0.0;

    for (int64_t i = 0; i < nq; i++) {
        int32_t g = first_genre(ds, q[i]), hits = 0;
        for (int j = 0; j < k; j++)
            hits += nb[i * k + j] >= 0 && first_genre(ds, nb[i * k + j]) == g;
        sum += (double)hits / k;
    }
    return nq ? sum / (double)nq : NAN;
}

static double recall(const int32_t *approx, const int32_t *exact, int64_t nq, int k)
{
    double sum = 0.0;

    for (int64_t i = 0; i < nq; i++) {
        int found = 0, want = 0;
        for (int j = 0; j < k; j++) {
            int32_t t = exact[i * k + j];
            if (t < 0)
                continue;
            want++;
            for (int l = 0; l < k; l++)
                if (approx[i * k + l] == t) {
                    found++;
                    break;
                }
        }
        sum += want ? (double)found / want : 1.0;
    }
    return nq ? sum / (double)nq : NAN;
}

int tt_eval_similar(const tt_dataset *ds, const float *vec, int d, const tt_ann *ix, int k,
                    int64_t max_queries, uint64_t seed, tt_similar_scores *out, tt_err *err)
{
    int32_t nt = tt_dataset_n_tracks(ds), ng = tt_dataset_n_genres(ds);
    uint8_t *is_cand = tt_calloc((size_t)nt + 1, 1);
    int32_t *cand = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    int32_t *q = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    int64_t *per_genre = tt_calloc((size_t)ng + 1, sizeof(int64_t));
    float *cv = NULL;
    int32_t *exact = NULL, *approx = NULL;
    int64_t nc = 0, nq = 0;
    tt_ann *flat = NULL;
    tt_ann_params fp = tt_ann_params_default();
    double rnd = 0.0, secs = 0.0;
    tt_rng rng;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->k = k;
    out->index_genre_precision = out->index_recall = NAN;
    if (k < 1 || d < 1)
        rc = tt_err_set(err, TT_EINVAL, "k and the dimension must be >= 1");
    if (rc == 0 && ix && (tt_ann_size(ix) != nt || tt_ann_dim(ix) != d))
        rc = tt_err_set(err, TT_EINVAL, "the index holds %lld x %d vectors, not %d x %d",
                        (long long)tt_ann_size(ix), tt_ann_dim(ix), nt, d);
    for (int32_t t = 0; rc == 0 && t < nt; t++) {
        if (!nonzero(vec + (size_t)t * d, d))
            continue;
        is_cand[t] = 1;
        cand[nc++] = t;
        if (first_genre(ds, t) >= 0) {
            q[nq++] = t;
            per_genre[first_genre(ds, t)]++;
        }
    }
    if (rc == 0 && (nq == 0 || nc <= k))
        rc = tt_err_set(err, TT_ESTATE, "genre precision needs more than %d tracks with content "
                        "vectors and some with a genre (found %lld and %lld)", k,
                        (long long)nc, (long long)nq);
    if (rc < 0)
        goto out;
    /* A seeded sample of the queries (partial Fisher-Yates). */
    tt_rng_seed(&rng, seed, 7);
    if (max_queries > 0 && nq > max_queries) {
        for (int64_t i = 0; i < max_queries; i++) {
            int64_t j = i + (int64_t)tt_rng_below(&rng, (uint64_t)(nq - i));
            int32_t x = q[i];
            q[i] = q[j];
            q[j] = x;
        }
        nq = max_queries;
    }
    for (int64_t i = 0; i < nq; i++)
        rnd += (double)(per_genre[first_genre(ds, q[i])] - 1) / (double)(nc - 1);
    /* Exact: a flat index over the candidates only. */
    cv = tt_malloc((size_t)nc * d * sizeof(float));
    for (int64_t i = 0; i < nc; i++)
        memcpy(cv + i * d, vec + (size_t)cand[i] * d, (size_t)d * sizeof(float));
    fp.type = TT_ANN_FLAT;
    rc = tt_ann_build(cv, nc, d, &fp, &flat, err);
    exact = tt_malloc((size_t)nq * k * sizeof(int32_t));
    if (rc == 0)
        rc = neighbours(flat, vec, d, q, nq, cand, is_cand, k, exact, &secs, err);
    if (rc < 0)
        goto out;
    out->queries = nq;
    out->candidates = nc;
    out->random_precision = rnd / (double)nq;
    out->genre_precision = genre_precision(ds, q, nq, exact, k);
    out->exact_ms = secs * 1e3 / (double)nq;
    if (ix) {
        secs = 0.0;
        approx = tt_malloc((size_t)nq * k * sizeof(int32_t));
        rc = neighbours(ix, vec, d, q, nq, NULL, is_cand, k, approx, &secs, err);
        if (rc < 0)
            goto out;
        out->index_genre_precision = genre_precision(ds, q, nq, approx, k);
        out->index_recall = recall(approx, exact, nq, k);
        out->index_ms = secs * 1e3 / (double)nq;
    }
out:
    tt_ann_free(flat);
    free(is_cand);
    free(cand);
    free(q);
    free(per_genre);
    free(cv);
    free(exact);
    free(approx);
    return rc;
}
