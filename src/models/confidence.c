/*
 * Confidence scaling shared by ALS and EASE (confidence_priv.h). BM25 follows its use on
 * play counts in implicit-feedback recommenders: the track x user matrix is weighted as
 * documents (tracks) x terms (users).
 */
#include "confidence_priv.h"
#include "tt/core.h"

#include <math.h>
#include <string.h>

/*
 * BM25 weighting of the track x user matrix, as commonly applied to play counts: each
 * user's weight on a track is damped by saturation (k1), normalised by the track's total
 * (b), and scaled by the user's inverse document frequency over tracks. Computed in the
 * user x track orientation so no transposed copy is needed; @norm gets each track's length
 * normalisation.
 */
static void bm25(const tt_csr *ut, float k1, float b, float *data, float *norm)
{
    const tt__conf_scaling s = {TT_ALS_BM25, k1, b, 1.0f};
    double *len = tt_calloc((size_t)ut->cols + 1, sizeof(double)), avg = 0.0;

    for (int64_t i = 0; i < ut->nnz; i++)
        len[ut->indices[i]] += ut->data[i];
    for (int32_t t = 0; t < ut->cols; t++)
        avg += len[t];
    avg = ut->cols ? avg / ut->cols : 1.0;
    if (avg <= 0.0)
        avg = 1.0;
    for (int32_t t = 0; t < ut->cols; t++)
        norm[t] = (float)((1.0 - b) + b * len[t] / avg);
    for (int32_t u = 0; u < ut->rows; u++)
        for (int64_t i = ut->indptr[u]; i < ut->indptr[u + 1]; i++)
            data[i] = tt__conf_scale_one(&s, ut->data[i], norm[ut->indices[i]],
                                         (int32_t)tt_csr_row_nnz(ut, u), ut->cols, 1.0f);
    free(len);
}

float *tt__conf_scale_all(const tt__conf_scaling *s, const tt_csr *conf, float mult,
                          float *norm, float *scale)
{
    float *data = tt_malloc((size_t)(conf->nnz + 1) * sizeof(float));
    double sum = 0.0;

    for (int32_t t = 0; t < conf->cols; t++)
        norm[t] = 1.0f;
    if (s->scaling == TT_ALS_BM25)
        bm25(conf, s->bm25_k1, s->bm25_b, data, norm);
    else
        for (int64_t i = 0; i < conf->nnz; i++)
            data[i] = tt__conf_scale_one(s, conf->data[i], 1.0f, 0, conf->cols, 1.0f);
    for (int64_t i = 0; i < conf->nnz; i++)
        sum += data[i];
    *scale = (float)(sum > 0.0 ? mult * (double)conf->nnz / sum : mult);
    for (int64_t i = 0; i < conf->nnz; i++)
        data[i] *= *scale;
    return data;
}

float tt__conf_scale_one(const tt__conf_scaling *s, float r, float norm_t, int32_t n_pos,
                         int32_t n_tracks, float scale)
{
    float v = r;

    if (s->scaling == TT_ALS_LOG) {
        v = log1pf(r / s->log_eps);
    } else if (s->scaling == TT_ALS_BM25) {
        double idf = log((double)n_tracks) - log1p((double)n_pos);
        v = (float)(r * (s->bm25_k1 + 1.0) / (s->bm25_k1 * norm_t + (double)r) * idf);
    }
    /* BM25 gives a user who heard nearly every track a zero or negative idf. */
    return scale * (v > 0.0f ? v : 0.0f);
}
