/*
 * synth.h - what the training benchmarks share: the generated user x track matrix they train
 * on (seeded, the same for the same sizes) and memory readings. Included by one bench file
 * each; every function is static.
 */
#ifndef TT_BENCH_SYNTH_H
#define TT_BENCH_SYNTH_H

#include "tt/core.h"
#include "tt/csr.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

static double peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;

    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * 4096.0 / (1024.0 * 1024.0);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Zipf-like draw in [0, n): inverse CDF of a continuous power law with exponent ~1. */
static int32_t zipf(tt_rng *r, int32_t n)
{
    double u = tt_rng_uniform(r);
    int32_t i = (int32_t)(exp(u * log((double)n + 1.0)) - 1.0);
    return i < n ? i : n - 1;
}

/*
 * The user x track matrix built row by row (no coordinate list, so construction peaks
 * below training). 50 taste clusters; 80% of a user's tracks come from their cluster;
 * lognormal activity with mean nnz / users. Values: play counts (geometric, mean about 3.5)
 * with @counts, else 1.
 */
static void bench_synth(int32_t users, int32_t tracks, int64_t nnz, bool counts, tt_csr *m)
{
    const int clusters = 50;
    int32_t per = tracks / clusters;
    double mean = (double)nnz / users;
    tt_rng r;
    size_t icap = 0, dcap = 0;
    int64_t w = 0;

    tt_rng_seed(&r, 7, 0);
    m->rows = users;
    m->cols = tracks;
    m->indptr = tt_malloc(((size_t)users + 1) * sizeof(int64_t));
    m->indices = NULL;
    m->data = NULL;
    m->indptr[0] = 0;
    for (int32_t u = 0; u < users; u++) {
        int32_t c = (int32_t)tt_rng_below(&r, clusters), n, k = 0, draws;
        /* Lognormal activity with the requested mean. */
        n = (int32_t)(mean * exp(0.8 * tt_rng_normal(&r) - 0.32));
        n = n < 1 ? 1 : n > tracks / 4 ? tracks / 4 : n;
        draws = 3 * n;
        TT_GROW(m->indices, icap, (size_t)(w + draws));
        TT_GROW(m->data, dcap, (size_t)(w + draws));
        for (int32_t j = 0; j < draws; j++) {
            int32_t t = tt_rng_uniform(&r) < 0.8 ? c * per + zipf(&r, per) : zipf(&r, tracks);
            m->indices[w + j] = t;
        }
        qsort(m->indices + w, (size_t)draws, sizeof(int32_t), cmp_i32);
        for (int32_t j = 0; j < draws; j++)
            if (k == 0 || m->indices[w + k - 1] != m->indices[w + j])
                m->indices[w + k++] = m->indices[w + j];
        /* Keep n of the k distinct tracks, chosen uniformly, in sorted order. */
        for (int32_t j = 0; j < k && j < n; j++) {
            int32_t pick = j + (int32_t)tt_rng_below(&r, (uint64_t)(k - j)), tmp;
            tmp = m->indices[w + j], m->indices[w + j] = m->indices[w + pick];
            m->indices[w + pick] = tmp;
        }
        k = k < n ? k : n;
        qsort(m->indices + w, (size_t)k, sizeof(int32_t), cmp_i32);
        for (int32_t j = 0; j < k; j++)
            m->data[w + j] =
                counts ? (float)(1 + (int)(-log(tt_rng_uniform(&r) + 1e-12) * 3.0)) : 1.0f;
        w += k;
        m->indptr[u + 1] = w;
    }
    m->nnz = w;
    /* Drop the slack so it does not count as the training's memory. */
    m->indices = tt_realloc(m->indices, (size_t)(w + 1) * sizeof(int32_t));
    m->data = tt_realloc(m->data, (size_t)(w + 1) * sizeof(float));
}

#endif
