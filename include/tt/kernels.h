/*
 * kernels.h - the small dense kernels the engine shares (models, nearest-neighbour search).
 *
 * Functions marked TT_CLONES are compiled for AVX2+FMA and plain x86-64, picked at load.
 * Kernels are TT_KERNEL (always inlined) into those functions: a call per 64-float vector
 * would cost as much as the arithmetic.
 */
#ifndef TT_KERNELS_H
#define TT_KERNELS_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
/* "avx2" (and not "arch=haswell", which the resolver matches by CPU model, not features). */
#define TT_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define TT_CLONES
#endif

#define TT_KERNEL static inline __attribute__((always_inline))


/* Eight partial sums: vectorises without -ffast-math, deterministic for a given k. */
TT_KERNEL float dot(const float *restrict a, const float *restrict b, int k)
{
    float s[8] = {0};
    int i = 0;

    for (; i + 8 <= k; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    for (; i < k; i++)
        s[0] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

#endif
