/*
 * core.h - memory, logging, random numbers, timing: the small things every module uses.
 */
#ifndef TT_CORE_H
#define TT_CORE_H

#include <stddef.h>
#include <stdlib.h> /* free() releases what tt_malloc and friends return */
#include <stdint.h>
#include <stdbool.h>

/*
 * Allocation. Out of memory aborts the process with a message (as redis does): no caller
 * can do anything useful about it, and checking every small allocation hides real errors.
 * Loaders that read untrusted sizes check them before allocating.
 */
void *tt_malloc(size_t n);
void *tt_calloc(size_t n, size_t size);
void *tt_realloc(void *p, size_t n);
/* 64-byte aligned memory for float arrays fed to BLAS; release with free(). */
void *tt_aligned_alloc(size_t n);
char *tt_strdup(const char *s);
char *tt_strndup(const char *s, size_t n);

/* Growable array helper: ensures capacity for @need elements of @elem bytes in *@p. */
void tt_grow(void **p, size_t *cap, size_t need, size_t elem);
#define TT_GROW(p, cap, need) tt_grow((void **)&(p), &(cap), (need), sizeof(*(p)))

/* Logging to stderr with a level prefix. TT_LOG_LEVEL=debug|info|warn|error (default info). */
enum tt_log_level { TT_LOG_DEBUG, TT_LOG_INFO, TT_LOG_WARN, TT_LOG_ERROR };
void tt_log(enum tt_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define tt_debug(...) tt_log(TT_LOG_DEBUG, __VA_ARGS__)
#define tt_info(...) tt_log(TT_LOG_INFO, __VA_ARGS__)
#define tt_warn(...) tt_log(TT_LOG_WARN, __VA_ARGS__)
#define tt_error(...) tt_log(TT_LOG_ERROR, __VA_ARGS__)

/* Monotonic seconds, for durations. */
double tt_now(void);
/* Wall-clock Unix seconds. */
int64_t tt_unix_time(void);

/*
 * This process's resident memory now and its peak so far, in MB (Linux's VmRSS and VmHWM).
 * Returns 0, or -1 (both left 0) where /proc/self/status cannot be read.
 */
int tt_mem_resident(double *now_mb, double *peak_mb);

/*
 * Deterministic random numbers: xoshiro256** seeded through splitmix64. Not thread-safe;
 * give each thread its own state (tt_rng_seed with a per-thread stream number).
 */
typedef struct tt_rng {
    uint64_t s[4];
} tt_rng;

void tt_rng_seed(tt_rng *r, uint64_t seed, uint64_t stream);
uint64_t tt_rng_next(tt_rng *r);
/* Uniform in [0, 1). */
double tt_rng_uniform(tt_rng *r);
/* Uniform integer in [0, n). n > 0. */
uint64_t tt_rng_below(tt_rng *r, uint64_t n);
/* Standard normal (Box-Muller). */
double tt_rng_normal(tt_rng *r);

/* FNV-1a 64-bit hash of @n bytes. */
uint64_t tt_hash64(const void *p, size_t n);
/* CRC-32C-free plain CRC-32 (IEEE) of @n bytes, continuing from @crc (start with 0). */
uint32_t tt_crc32(uint32_t crc, const void *p, size_t n);

/*
 * The mean (@e doubles) and covariance (@e x @e, row-major, divided by rows - 1) of the rows
 * of the @n x @e matrix @z that have use[i] non-zero (every row when @use is NULL); returns
 * how many rows counted.
 */
int64_t tt_row_moments(const float *z, int64_t n, int e, const uint8_t *use, double *mean,
                       double *C);

/* Number of online CPUs (at least 1). */
int tt_ncpu(void);

/*
 * Runs @fn over [0, n) in chunks of @chunk on @threads threads (0 = one per core), handing
 * chunks out dynamically so uneven work balances. @fn gets the thread's index 0..threads-1
 * for per-thread scratch space. Returns when all chunks are done.
 */
typedef void (*tt_range_fn)(void *ctx, int64_t begin, int64_t end, int thread);
void tt_parallel_for(int64_t n, int64_t chunk, int threads, tt_range_fn fn, void *ctx);
/* The thread count tt_parallel_for uses for @threads (resolves 0). */
int tt_threads_resolve(int threads);

#endif
