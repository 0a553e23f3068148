/*
 * bench_neumf: NeuMF training speed and memory on synthetic listening data shaped like real
 * logs (heavy-tailed users and tracks, taste clusters), through tt_neumf_train itself: the
 * negative sampling, the forward and backward passes, Adam and the per-epoch validation.
 *
 *   build/bench/bench_neumf [--users 100000] [--tracks 50000] [--nnz 2000000] [--factors 32]
 *                           [--negatives 4] [--batch 1024] [--epochs 1] [--threads 2]
 *
 * Baseline in the same run: the same epoch on one thread. Also times tt_neumf_score on 500
 * candidates, the learned ranker's request.
 */
#include "tt/core.h"
#include "tt/model.h"
#include "tt/neumf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "synth.h"

struct args {
    int32_t users, tracks;
    int64_t nnz;
    int factors, negatives, batch, epochs, threads;
};

/* CPU seconds (user + system) of the process so far: wall time is only fair on a quiet box. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

/* /proc/loadavg, to tell a busy machine's figures from a quiet one's. */
static const char *load_average(void)
{
    static char buf[128] = "unknown\n";
    FILE *f = fopen("/proc/loadavg", "r");

    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            snprintf(buf, sizeof(buf), "unknown\n");
        fclose(f);
    }
    return buf;
}

static void parse(int argc, char **argv, struct args *a)
{
    *a = (struct args){100000, 50000, 2000000, 32, 4, 1024, 1, 2};
    for (int i = 1; i + 1 < argc; i += 2) {
        long long v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "--users")) a->users = (int32_t)v;
        else if (!strcmp(argv[i], "--tracks")) a->tracks = (int32_t)v;
        else if (!strcmp(argv[i], "--nnz")) a->nnz = v;
        else if (!strcmp(argv[i], "--factors")) a->factors = (int)v;
        else if (!strcmp(argv[i], "--negatives")) a->negatives = (int)v;
        else if (!strcmp(argv[i], "--batch")) a->batch = (int)v;
        else if (!strcmp(argv[i], "--epochs")) a->epochs = (int)v;
        else if (!strcmp(argv[i], "--threads")) a->threads = (int)v;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            exit(2);
        }
    }
}

/*
 * Seconds per epoch of training with @threads threads; the model into *out, CPU seconds per
 * epoch into *cpu.
 */
static double epoch_seconds(const tt_train_set *ts, const struct args *a, int threads,
                            tt_model **out, double *cpu)
{
    tt_neumf_params p = tt_neumf_params_default();
    tt_err err = {0};
    double t0 = tt_now(), c0 = cpu_seconds();

    p.factors = a->factors;
    p.layers[0] = 2 * a->factors, p.layers[1] = a->factors, p.layers[2] = a->factors / 2;
    p.negatives = a->negatives;
    p.batch = a->batch;
    p.epochs = a->epochs;
    p.threads = threads;
    p.precompute = 0; /* ranking 100,000 users' lists is serving work, not an epoch */
    if (tt_neumf_train(ts, &p, out, &err) < 0) {
        fprintf(stderr, "train failed: %s\n", err.message);
        exit(1);
    }
    *cpu = (cpu_seconds() - c0) / a->epochs;
    return (tt_now() - t0) / a->epochs;
}

/* Microseconds per tt_neumf_score call on 500 random candidates. */
static double score_us(const tt_model *m, int32_t users, int32_t tracks)
{
    enum { CAND = 500, CALLS = 2000 };
    int32_t cand[CAND];
    float out[CAND];
    tt_rng r;
    double t0;

    tt_rng_seed(&r, 3, 0);
    t0 = tt_now();
    for (int c = 0; c < CALLS; c++) {
        tt_query q = {.user = (int32_t)tt_rng_below(&r, (uint64_t)users)};
        for (int i = 0; i < CAND; i++)
            cand[i] = (int32_t)tt_rng_below(&r, (uint64_t)tracks);
        tt_neumf_score(m, &q, cand, CAND, out, NULL);
    }
    return (tt_now() - t0) / CALLS * 1e6;
}

int main(int argc, char **argv)
{
    struct args a;
    tt_train_set ts;
    tt_model *m = NULL, *one = NULL;
    const tt_neumf_epoch *h;
    double t_gen, t2, t1, c2, c1, rss0, peak;
    int64_t samples;

    parse(argc, argv, &a);
    t_gen = tt_now();
    memset(&ts, 0, sizeof(ts));
    bench_synth(a.users, a.tracks, a.nnz, false, &ts.conf);
    ts.seen = ts.conf; /* every pair is positive: no skips or dislikes in this data */
    t_gen = tt_now() - t_gen;
    rss0 = rss_mb();
    samples = ts.conf.nnz * (1 + a.negatives);
    printf("bench_neumf: %d users x %d tracks, %lld positives x (1 + %d negatives) = %lld "
           "samples per epoch (synthetic, built in %.1f s); embeddings %d, MLP %d-%d-%d, "
           "batch %d\n", a.users, a.tracks, (long long)ts.conf.nnz, a.negatives,
           (long long)samples, t_gen, a.factors, 2 * a.factors, a.factors, a.factors / 2,
           a.batch);
    printf("command: build/bench/bench_neumf --users %d --tracks %d --nnz %lld --factors %d "
           "--negatives %d --batch %d --epochs %d --threads %d\n", a.users, a.tracks,
           (long long)a.nnz, a.factors, a.negatives, a.batch, a.epochs, a.threads);
    t2 = epoch_seconds(&ts, &a, a.threads, &m, &c2);
    peak = peak_mb();
    tt_neumf_history(m, &h);
    printf("neumf, %d threads: %.2f s/epoch (%.2f CPU s), %.0f samples/s; peak RSS %.0f MB "
           "(input data %.0f MB); last epoch loss %.4f, HR@10 %.3f\n", a.threads, t2, c2,
           samples / t2, peak, rss0, h[a.epochs - 1].loss, h[a.epochs - 1].hr10);
    t1 = epoch_seconds(&ts, &a, 1, &one, &c1);
    printf("baseline, 1 thread: %.2f s/epoch (%.2f CPU s), %.0f samples/s -> %d threads are "
           "%.2fx faster\n", t1, c1, samples / t1, a.threads, t1 / t2);
    printf("load average while running: %s", load_average());
    printf("tt_neumf_score, 500 candidates: %.0f us per call (1 thread)\n",
           score_us(m, a.users, a.tracks));
    printf("reference (not measured here): PyTorch 1.13 on the same shapes, 79-113 s/epoch "
           "and 1.0-1.3 GB on machines of this kind\n");
    tt_model_free(m);
    tt_model_free(one);
    tt_csr_release(&ts.conf);
    return 0;
}
