#include "tt/core.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_threshold(void)
{
    static int level = -1;
    const char *s;

    if (level >= 0)
        return level;
    s = getenv("TT_LOG_LEVEL");
    level = TT_LOG_INFO;
    if (s && strcmp(s, "debug") == 0)
        level = TT_LOG_DEBUG;
    else if (s && strcmp(s, "warn") == 0)
        level = TT_LOG_WARN;
    else if (s && strcmp(s, "error") == 0)
        level = TT_LOG_ERROR;
    return level;
}

void tt_log(enum tt_log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    char buf[2048];
    va_list ap;

    if ((int)lvl < log_threshold())
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* One write per line keeps lines from concurrent threads whole. */
    fprintf(stderr, "tunetrail %s: %s\n", names[lvl], buf);
}

double tt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int64_t tt_unix_time(void)
{
    return (int64_t)time(NULL);
}

int tt_mem_resident(double *now_mb, double *peak_mb)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb;
    int found = 0;

    *now_mb = *peak_mb = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            *now_mb = kb / 1024.0, found |= 1;
        else if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            *peak_mb = kb / 1024.0, found |= 2;
    }
    fclose(f);
    return found == 3 ? 0 : -1;
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tt_rng_seed(tt_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tt_rng_next(tt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double tt_rng_uniform(tt_rng *r)
{
    return (double)(tt_rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t tt_rng_below(tt_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant for sampling here. */
    return (uint64_t)(((unsigned __int128)tt_rng_next(r) * n) >> 64);
}

double tt_rng_normal(tt_rng *r)
{
    double u1 = tt_rng_uniform(r), u2 = tt_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t tt_hash64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint32_t tt_crc32(uint32_t crc, const void *p, size_t n)
{
    static uint32_t table[8][256];
    static int ready;
    const unsigned char *b = p;

    if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[0][i] = c;
        }
        for (uint32_t i = 0; i < 256; i++)
            for (int t = 1; t < 8; t++)
                table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
        __atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
    }
    crc = ~crc;
    /* Slicing-by-8: model files are hundreds of MB, so checksumming must run near memory speed. */
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, b, 4);
        memcpy(&hi, b + 4, 4);
        lo ^= crc;
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        crc = table[0][(crc ^ *b++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* ---- statistics ---- */

int64_t tt_row_moments(const float *z, int64_t n, int e, const uint8_t *use, double *mean,
                       double *C)
{
    int64_t c = 0;

    memset(mean, 0, (size_t)e * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        if (use && !use[i])
            continue;
        for (int j = 0; j < e; j++)
            mean[j] += z[(size_t)i * e + j];
        c++;
    }
    for (int j = 0; j < e && c > 0; j++)
        mean[j] /= (double)c;
    memset(C, 0, (size_t)e * e * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        const float *r = z + (size_t)i * e;
        if (use && !use[i])
            continue;
        for (int a = 0; a < e; a++)
            for (int b = a; b < e; b++)
                C[(size_t)a * e + b] += (r[a] - mean[a]) * (r[b] - mean[b]);
    }
    for (int a = 0; a < e; a++)
        for (int b = a; b < e; b++) {
            C[(size_t)a * e + b] /= (double)(c > 1 ? c - 1 : 1);
            C[(size_t)b * e + a] = C[(size_t)a * e + b];
        }
    return c;
}
