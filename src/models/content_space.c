/*
 * The catalog-wide steps of the content space (tt/content.h): shrunk whitening of the
 * embedding, and database-side augmentation of the finished vectors by their nearest
 * neighbours. Both are unsupervised: they read the vectors, never a label.
 *
 * Whitening (ZCA with shrinkage). Standardising makes every embedding column count alike,
 * but correlated columns (the thirteen MFCC means move together, as do a clip's spectral
 * centroid, bandwidth and rolloff) still count their shared direction many times over. Full
 * whitening (Mahalanobis distance) fixes that but hands the many low-variance, noisy
 * directions as much say as the few strong ones, and measures worse than no whitening. The
 * middle way scales each principal direction by 1 / sqrt(lambda + s * mean lambda), the
 * Ledoit-Wolf-style shrinkage of the covariance towards a multiple of the identity
 * (Ledoit and Wolf, "A well-conditioned estimator for large-dimensional covariance
 * matrices", 2004): strong directions are damped, weak ones not blown up. The transform is
 * W = V diag(1 / sqrt(lambda + s mean lambda)) V^T (zero-phase, so a column stays near its
 * own axis and the eigenvectors' arbitrary signs cancel), scaled so that the expected
 * squared length of a whitened row is e, as it was standardised: the part's weight keeps
 * its meaning.
 *
 * Augmentation (database-side augmentation, Arandjelovic and Zisserman, "Three things
 * everyone should know to improve object retrieval", CVPR 2012; Gordo et al., "End-to-end
 * learning of deep visual representations for image retrieval", IJCV 2017). Each vector's
 * direction is replaced by that of the sum of its k nearest vectors (itself included), each
 * weighted by max(0, cosine); its length is kept. Two tracks are then close when their
 * neighbourhoods are, which smooths away the noise of a single clip's measurement. The
 * content model augments only the embedding part (a many-dimensional measurement of the
 * signal, where this denoising is known to help): on MusicOSet, augmenting whole vectors
 * (eleven Spotify features and the genres) made the genre precision worse. It needs the k nearest neighbours of every
 * track, found once at training time by exact search in blocks (sgemm of a block of rows
 * against the catalog, then a bounded heap per row): O(n^2 d) work in O(block x n) memory,
 * 66 to 88 s for 100,000 tracks on two busy cores (bench/bench_augment). Past
 * TT_CONTENT_AUGMENT_EXACT_MAX rows, where the quadratic pass heads for hours, an HNSW graph
 * (FAISS through tt/ann.h) answers instead: near O(n log n), slower than the exact pass at
 * 100,000 (157 s) and 3% of the neighbours missed there, but growing far more slowly.
 */
#include "tt/als.h"
#include "tt/ann.h"
#include "tt/content.h"
#include "tt/core.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* LAPACK (Fortran symbols; linked through OpenBLAS and -llapack, as ease.c does). */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a,
                   const int *lda, double *w, double *work, const int *lwork, int *info);

/* ---- whitening ---- */

/* Covariance (e x e, double) of the rows of @z with use[i] (all when NULL); returns rows. */
static int64_t row_covariance(const float *z, int64_t n, int e, const uint8_t *use, double *C)
{
    double *mean = tt_malloc((size_t)e * sizeof(double));
    int64_t c = tt_row_moments(z, n, e, use, mean, C);

    free(mean);
    return c;
}

/* Eigenvalues into @w (ascending) and eigenvectors into the columns of @C (LAPACK dsyev). */
static int eigen(double *C, int e, double *w, tt_err *err)
{
    int n = e, lwork = -1, info = 0;
    double q = 0.0, *work;

    dsyev_("V", "U", &n, C, &n, w, &q, &lwork, &info);
    lwork = info == 0 && q >= 1.0 ? (int)q : 3 * e;
    work = tt_malloc((size_t)lwork * sizeof(double));
    dsyev_("V", "U", &n, C, &n, w, work, &lwork, &info);
    free(work);
    if (info != 0)
        return tt_err_set(err, TT_EINTERNAL,
                          "whitening: the eigendecomposition did not converge (LAPACK info %d)",
                          info);
    return 0;
}

int tt_content_whiten_fit(const float *z, int64_t n, int e, const uint8_t *use, float shrink,
                          float *W, tt_err *err)
{
    double *C, *lam, mean = 0.0, kept = 0.0, scale;
    int rc;

    if (!z || !W || n < 2 || e < 1 || !(shrink > 0.0f) || !isfinite(shrink))
        return tt_err_set(err, TT_EINVAL, "whitening needs rows, a dimension and a shrinkage > 0");
    C = tt_malloc((size_t)e * e * sizeof(double));
    lam = tt_malloc((size_t)e * sizeof(double));
    if (row_covariance(z, n, e, use, C) < 2) {
        rc = tt_err_set(err, TT_EINVAL, "whitening needs at least two rows");
        goto out;
    }
    rc = eigen(C, e, lam, err);
    if (rc < 0)
        goto out;
    for (int j = 0; j < e; j++) {
        lam[j] = lam[j] > 0.0 ? lam[j] : 0.0; /* rounding can leave tiny negative ones */
        mean += lam[j] / e;
    }
    if (!(mean > 0.0)) {
        rc = tt_err_set(err, TT_EINVAL, "whitening: the rows do not vary");
        goto out;
    }
    /* The scale that keeps a whitened row's expected squared length at e. */
    for (int j = 0; j < e; j++)
        kept += lam[j] / (lam[j] + shrink * mean);
    scale = sqrt(e / kept);
    for (int a = 0; a < e; a++)
        for (int b = 0; b < e; b++) {
            double s = 0.0;
            for (int j = 0; j < e; j++) /* column j of C (column-major) is eigenvector j */
                s += C[(size_t)j * e + a] * C[(size_t)j * e + b] / sqrt(lam[j] + shrink * mean);
            W[(size_t)a * e + b] = (float)(s * scale);
        }
out:
    free(C);
    free(lam);
    return rc;
}

/* ---- augmentation ---- */

/* Rows per block of the neighbour search, so a block's scores stay near 16 MB. */
static int64_t block_rows(int64_t m)
{
    int64_t b = ((int64_t)1 << 22) / (m > 0 ? m : 1);

    return b < 1 ? 1 : b > 256 ? 256 : b;
}

struct knn_job {
    const float *x; /* m x d, the vectors that take part */
    int64_t m;
    int d, k;
    int32_t *nbr; /* m x k: row numbers in x, best first */
    float *sim;   /* m x k */
};

static void knn_block(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct knn_job *j = ctx;
    int64_t rows = e - b;
    float *S = tt_malloc((size_t)rows * j->m * sizeof(float));
    tt_scored *top = tt_malloc((size_t)j->k * sizeof(tt_scored));

    (void)thread;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)j->m, j->d, 1.0f,
                j->x + (size_t)b * j->d, j->d, j->x, j->d, 0.0f, S, (int)j->m);
    for (int64_t i = 0; i < rows; i++) {
        const float *s = S + (size_t)i * j->m;
        tt_topk h;
        int n;
        tt_topk_init(&h, top, j->k);
        for (int64_t t = 0; t < j->m; t++)
            tt_topk_push(&h, (int32_t)t, s[t]);
        n = tt_topk_finish(&h);
        for (int c = 0; c < j->k; c++) {
            j->nbr[(size_t)(b + i) * j->k + c] = c < n ? top[c].track : -1;
            j->sim[(size_t)(b + i) * j->k + c] = c < n ? top[c].score : 0.0f;
        }
    }
    free(S);
    free(top);
}

int tt_content_neighbours(const float *x, int64_t m, int d, int k, int32_t *nbr, float *sim,
                          tt_err *err)
{
    struct knn_job j = {x, m, d, k, nbr, sim};

    if (!x || !nbr || !sim || m < 1 || d < 1 || k < 1 || m > INT32_MAX)
        return tt_err_set(err, TT_EINVAL, "neighbour search needs vectors, sizes and k >= 1");
    tt__blas_single_threaded();
    tt_parallel_for(m, block_rows(m), 0, knn_block, &j);
    return 0;
}

int tt_content_neighbours_hnsw(const float *x, int64_t m, int d, int k, int32_t *nbr,
                               float *sim, tt_err *err)
{
    tt_ann_params p = tt_ann_params_default();
    tt_ann *ix = NULL;
    int64_t *ids;
    int rc;

    if (!x || !nbr || !sim || m < 1 || d < 1 || k < 1 || m > INT32_MAX)
        return tt_err_set(err, TT_EINVAL, "neighbour search needs vectors, sizes and k >= 1");
    p.type = TT_ANN_HNSW;
    p.ef_search = k > p.ef_search ? 2 * k : p.ef_search;
    rc = tt_ann_build(x, m, d, &p, &ix, err);
    if (rc < 0)
        return rc;
    ids = tt_malloc((size_t)m * k * sizeof(int64_t));
    rc = tt_ann_set_search(ix, 0, p.ef_search, err);
    if (rc == 0)
        rc = tt_ann_search(ix, x, m, k, sim, ids, err);
    for (int64_t i = 0; rc == 0 && i < m * k; i++) {
        nbr[i] = ids[i] >= 0 && ids[i] < m ? (int32_t)ids[i] : -1;
        if (nbr[i] < 0)
            sim[i] = 0.0f;
    }
    free(ids);
    tt_ann_free(ix);
    return rc;
}

/* Row @i of the augmented vectors: the weighted sum of its neighbours, unit length. */
static void augmented_row(const float *x, int64_t i, int d, const int32_t *nbr,
                          const float *sim, int k, float *out)
{
    double norm = 0.0;

    memset(out, 0, (size_t)d * sizeof(float));
    for (int c = 0; c < k; c++) {
        float w = sim[c];
        if (nbr[c] < 0 || !(w > 0.0f))
            continue;
        for (int j = 0; j < d; j++)
            out[j] += w * x[(size_t)nbr[c] * d + j];
    }
    for (int j = 0; j < d; j++)
        norm += (double)out[j] * out[j];
    if (!(norm > 1e-12)) { /* only when the row itself fell out of its own list */
        memcpy(out, x + (size_t)i * d, (size_t)d * sizeof(float));
        return;
    }
    for (int j = 0; j < d; j++)
        out[j] = (float)(out[j] / sqrt(norm));
}

/* Row @i's length, and the row as unit vector into @out (zeros when it has none). */
static double unit_row(const float *v, int d, float *out)
{
    double norm = 0.0;

    for (int j = 0; j < d; j++)
        norm += (double)v[j] * v[j];
    norm = sqrt(norm);
    for (int j = 0; j < d; j++)
        out[j] = norm > 1e-12 ? (float)(v[j] / norm) : 0.0f;
    return norm;
}

int tt_content_augment(float *vec, int64_t n, int d, int64_t stride, int k, tt_err *err)
{
    int64_t m = 0, *row;
    float *x = NULL, *sim = NULL, *len = NULL;
    int32_t *nbr = NULL;
    int rc = 0;

    if (!vec || d < 1 || n < 0 || stride < d || k < 0)
        return tt_err_set(err, TT_EINVAL, "augmentation needs vectors, sizes and k >= 0");
    row = tt_malloc(((size_t)n + 1) * sizeof(int64_t));
    x = tt_malloc(((size_t)n + 1) * d * sizeof(float));
    len = tt_malloc(((size_t)n + 1) * sizeof(float));
    for (int64_t t = 0; t < n; t++) {
        len[m] = (float)unit_row(vec + (size_t)t * stride, d, x + (size_t)m * d);
        if (len[m] > 1e-12f)
            row[m++] = t;
    }
    /* With neighbourhoods not much smaller than the catalog, every vector would drift to the
     * catalog's mean: a small catalog keeps its vectors. */
    if (k < 2 || m < (int64_t)TT_CONTENT_AUGMENT_MIN * k)
        goto out;
    nbr = tt_malloc((size_t)m * k * sizeof(int32_t));
    sim = tt_malloc((size_t)m * k * sizeof(float));
    if (m > TT_CONTENT_AUGMENT_EXACT_MAX)
        rc = tt_content_neighbours_hnsw(x, m, d, k, nbr, sim, err);
    else
        rc = tt_content_neighbours(x, m, d, k, nbr, sim, err);
    for (int64_t i = 0; rc == 0 && i < m; i++) {
        float *v = vec + (size_t)row[i] * stride;
        augmented_row(x, i, d, nbr + (size_t)i * k, sim + (size_t)i * k, k, v);
        for (int j = 0; j < d; j++)
            v[j] *= len[i];
    }
out:
    free(row);
    free(x);
    free(len);
    free(nbr);
    free(sim);
    return rc;
}
