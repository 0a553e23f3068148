/*
 * bench_augment: the content model's training-time neighbour pass (tt_content_augment: the
 * exact k nearest of every row by blocked sgemm, then each row averaged with them) on a
 * seeded Gaussian mixture of --n unit vectors in --dim dimensions, against the same exact
 * k-nearest search through a FAISS flat index (tt_ann_build TT_ANN_FLAT, one batched
 * tt_ann_search over every row), the baseline; and the approximate pass used past
 * TT_CONTENT_AUGMENT_EXACT_MAX rows (tt_content_neighbours_hnsw), with its recall of the
 * exact neighbours.
 *
 *   build/bench/bench_augment [--n 100000] [--dim 57] [--k 15] [--clusters 100] [--seed 1]
 *                             [--hnsw 1]
 *
 * Prints the data, the command, both wall times and their ratio, and the peak memory.
 */
#include "tt/ann.h"
#include "tt/content.h"
#include "tt/core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double peak_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* Rows around @clusters random centres, each scaled to unit length. */
static float *mixture(int64_t n, int d, int clusters, uint64_t seed)
{
    float *c = malloc((size_t)clusters * d * sizeof(float));
    float *x = malloc((size_t)n * d * sizeof(float));
    tt_rng rng;

    tt_rng_seed(&rng, seed, 1);
    for (int64_t i = 0; i < (int64_t)clusters * d; i++)
        c[i] = (float)tt_rng_normal(&rng);
    for (int64_t i = 0; i < n; i++) {
        const float *ci = c + (size_t)tt_rng_below(&rng, (uint64_t)clusters) * d;
        double norm = 0.0;
        for (int j = 0; j < d; j++) {
            float v = ci[j] + 1.5f * (float)tt_rng_normal(&rng);
            x[(size_t)i * d + j] = v;
            norm += (double)v * v;
        }
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = (float)(x[(size_t)i * d + j] / sqrt(norm));
    }
    free(c);
    return x;
}

/* Seconds of the exact k-nearest search of every row through a FAISS flat index. */
static double flat_baseline(const float *x, int64_t n, int d, int k)
{
    tt_ann_params p = tt_ann_params_default();
    tt_ann *ix = NULL;
    float *sim = malloc((size_t)n * k * sizeof(float));
    int64_t *ids = malloc((size_t)n * k * sizeof(int64_t));
    tt_err err = {0};
    double t0 = now_s();

    p.type = TT_ANN_FLAT;
    if (tt_ann_build(x, n, d, &p, &ix, &err) < 0 || tt_ann_search(ix, x, n, k, sim, ids, &err) < 0)
        fprintf(stderr, "bench_augment: flat baseline: %s\n", err.message);
    t0 = now_s() - t0;
    tt_ann_free(ix);
    free(sim);
    free(ids);
    return t0;
}

/* Seconds of the HNSW neighbour pass, and its recall@k of the exact pass's neighbours. */
static double hnsw_pass(const float *x, int64_t n, int d, int k, double *recall)
{
    int32_t *a = malloc((size_t)n * k * sizeof(int32_t)), *b = malloc((size_t)n * k * sizeof(int32_t));
    float *sim = malloc((size_t)n * k * sizeof(float));
    int64_t hit = 0;
    tt_err err = {0};
    double t;

    if (tt_content_neighbours(x, n, d, k, a, sim, &err) < 0)
        fprintf(stderr, "bench_augment: exact: %s\n", err.message);
    t = now_s();
    if (tt_content_neighbours_hnsw(x, n, d, k, b, sim, &err) < 0)
        fprintf(stderr, "bench_augment: hnsw: %s\n", err.message);
    t = now_s() - t;
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++)
            for (int e = 0; e < k; e++)
                hit += b[i * k + c] >= 0 && b[i * k + c] == a[i * k + e];
    *recall = (double)hit / (double)(n * k);
    free(a);
    free(b);
    free(sim);
    return t;
}

int main(int argc, char **argv)
{
    int64_t n = 100000;
    int d = 57, k = 15, clusters = 100;
    uint64_t seed = 1;
    float *x;
    double t_aug, t_flat, t_hnsw = 0.0, recall = 0.0;
    int hnsw = 0;
    tt_err err = {0};

    for (int i = 1; i + 1 < argc; i += 2) {
        long long v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "--n"))
            n = v;
        else if (!strcmp(argv[i], "--dim"))
            d = (int)v;
        else if (!strcmp(argv[i], "--k"))
            k = (int)v;
        else if (!strcmp(argv[i], "--clusters"))
            clusters = (int)v;
        else if (!strcmp(argv[i], "--seed"))
            seed = (uint64_t)v;
        else if (!strcmp(argv[i], "--hnsw"))
            hnsw = (int)v;
    }
    x = mixture(n, d, clusters, seed);
    printf("data: %lld unit vectors, %d dimensions, %d clusters, seed %llu; k %d; %d threads\n",
           (long long)n, d, clusters, (unsigned long long)seed, k, tt_threads_resolve(0));
    printf("command: build/bench/bench_augment --n %lld --dim %d --k %d --clusters %d\n",
           (long long)n, d, k, clusters);
    if (hnsw)
        t_hnsw = hnsw_pass(x, n, d, k, &recall);
    t_flat = flat_baseline(x, n, d, k);
    t_aug = now_s();
    if (tt_content_augment(x, n, d, d, k, &err) < 0) {
        fprintf(stderr, "bench_augment: %s\n", err.message);
        return 1;
    }
    t_aug = now_s() - t_aug;
    printf("augmentation (blocked sgemm + top-k, then averaging): %.2f s\n", t_aug);
    printf("baseline: FAISS flat index, the same exact search: %.2f s (ratio %.2f)\n", t_flat,
           t_aug / t_flat);
    if (hnsw)
        printf("HNSW neighbour pass (used past %d rows): %.2f s, recall@%d of the exact %.4f\n",
               TT_CONTENT_AUGMENT_EXACT_MAX, t_hnsw, k, recall);
    printf("peak memory: %.0f MB\n", peak_mb());
    free(x);
    return 0;
}
