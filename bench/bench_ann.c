/*
 * bench_ann: approximate nearest-neighbour search (FAISS HNSW and IVF through tt/ann.h)
 * against exact search, on two kinds of data (--data):
 *   catalog  (default) the content vectors the engine builds (tt_content_vectors, default
 *            weights) for a catalog of --n tracks from the synthetic generator: audio features
 *            around genre and artist centres, 20 genres (32 dimensions);
 *   mixture  a seeded Gaussian mixture of unit vectors in --dim dimensions whose clusters
 *            overlap, so that a point's nearest neighbours often belong to other clusters:
 *            harder than a catalog, a stress test.
 *
 *   build/bench/bench_ann [--data catalog|mixture] [--n 200000] [--dim 64] [--clusters 200]
 *                         [--spread 1.75] [--queries 2000] [--m 32] [--ef-construction 80]
 *                         [--nlist 0] [--threads 0] [--seed 1]
 *
 * Each query is a row of the data; its neighbours are the top 10 other rows (k = 11 and the
 * row's own id dropped, as the service answers /recommend/similar). Every search is one query
 * per call on the calling thread, as a serving thread asks, timed with CLOCK_MONOTONIC. The
 * baseline runs in the same process on the same queries: exact search (TT_ANN_FLAT), whose
 * answers are the ground truth for recall@10. HNSW is measured at efSearch 16..128, IVF at
 * nprobe 8..64 (nlist 0 = tt_ann's default, about 4 sqrt(n)). --threads is for building only
 * (0 = one per core). At efSearch 64 the same graph is also searched by FAISS's own code
 * (scalar distances in Debian's build), the baseline of the engine's walk (src/ann/search.c).
 */
#include "../src/ann/ann_priv.h" /* FAISS's own HNSW search, the baseline of the engine's */
#include "tt/ann.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/generate.h"
#include "tt/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define K 10
#define WARMUP 50

struct args {
    const char *data;
    int64_t n;
    int dim, clusters, queries, m, ef_construction, nlist, threads;
    double spread;
    uint64_t seed;
};

/* What one configuration measured. */
struct run {
    double recall, p50_ms, p99_ms;
};

static void parse(int argc, char **argv, struct args *a)
{
    *a = (struct args){"catalog", 200000, 64, 200, 2000, 32, 80, 0, 0, 1.75, 1};
    for (int i = 1; i + 1 < argc; i += 2) {
        long long v = atoll(argv[i + 1]);
        if (!strcmp(argv[i], "--data"))
            a->data = argv[i + 1];
        else if (!strcmp(argv[i], "--n"))
            a->n = v;
        else if (!strcmp(argv[i], "--dim"))
            a->dim = (int)v;
        else if (!strcmp(argv[i], "--clusters"))
            a->clusters = (int)v;
        else if (!strcmp(argv[i], "--spread"))
            a->spread = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries"))
            a->queries = (int)v;
        else if (!strcmp(argv[i], "--m"))
            a->m = (int)v;
        else if (!strcmp(argv[i], "--ef-construction"))
            a->ef_construction = (int)v;
        else if (!strcmp(argv[i], "--nlist"))
            a->nlist = (int)v;
        else if (!strcmp(argv[i], "--threads"))
            a->threads = (int)v;
        else if (!strcmp(argv[i], "--seed"))
            a->seed = (uint64_t)v;
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            exit(2);
        }
    }
    if (argc % 2 == 0) {
        fprintf(stderr, "option %s needs a value\n", argv[argc - 1]);
        exit(2);
    }
    if (a->n < K + 1 || a->dim < 1 || a->clusters < 1 || a->queries < 1 || a->spread < 0) {
        fprintf(stderr, "need --n > %d, --dim, --clusters, --queries >= 1, --spread >= 0\n", K);
        exit(2);
    }
    if (strcmp(a->data, "catalog") != 0 && strcmp(a->data, "mixture") != 0) {
        fprintf(stderr, "--data is catalog or mixture\n");
        exit(2);
    }
    if (a->queries > a->n)
        a->queries = (int)a->n;
}

/*
 * The engine's content vectors for a generated catalog of a->n tracks (a few listeners, whom
 * the content vectors ignore), through a scratch SQLite database; labels are first genres.
 * Sets a->dim.
 */
static float *catalog(struct args *a, int32_t **label)
{
    char dir[] = "/tmp/bench_ann.XXXXXX", url[192], path[128];
    tt_generate_params gp = tt_generate_params_default();
    tt_content_params cp = tt_content_params_default();
    tt_store *s = NULL;
    tt_dataset *ds = NULL;
    tt_err err = {0};
    float *x = NULL;
    int rc;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/tt.db", dir);
    snprintf(url, sizeof(url), "sqlite:///%s", path);
    gp.users = 100;
    gp.tracks = a->n;
    gp.interactions = 100;
    gp.seed = a->seed;
    rc = tt_store_open(url, &s, &err);
    if (rc == 0)
        rc = tt_generate_run(s, &gp, NULL, &err);
    if (rc == 0)
        rc = tt_dataset_load(s, &ds, &err);
    if (rc == 0)
        rc = tt_content_vectors(ds, &cp, &x, &a->dim, &err);
    if (rc < 0) {
        fprintf(stderr, "bench_ann: catalog: %s\n", tt_err_msg(&err, rc));
        exit(1);
    }
    *label = tt_malloc((size_t)a->n * sizeof(int32_t));
    for (int64_t t = 0; t < a->n; t++)
        (*label)[t] = ds->track_genre_ptr[t] < ds->track_genre_ptr[t + 1]
                          ? ds->track_genre[ds->track_genre_ptr[t]]
                          : -1;
    tt_dataset_free(ds);
    tt_store_close(s);
    unlink(path);
    rmdir(dir);
    return x;
}

static void normalise(float *v, int d)
{
    double s = 0.0;

    for (int j = 0; j < d; j++)
        s += (double)v[j] * v[j];
    s = s > 0.0 ? 1.0 / sqrt(s) : 0.0;
    for (int j = 0; j < d; j++)
        v[j] = (float)(v[j] * s);
}

/*
 * n unit vectors: a random unit centre per cluster, plus Gaussian noise of norm about
 * @spread (standard deviation spread / sqrt(dim) per dimension), renormalised. Two vectors
 * of one cluster have cosine about 1 / (1 + spread^2); random centres in 64 dimensions have
 * cosines of about +-0.125. At the default 1.75 (200 clusters, 200,000 vectors) about a third
 * of the exact top-10 neighbours belong to another cluster than the query (at 1.0 almost
 * none do, at 2.5 most), so the clusters blur into one another as real catalogs' do.
 */
static float *synth(const struct args *a, int32_t **labelp)
{
    int32_t *label = *labelp = tt_malloc((size_t)a->n * sizeof(int32_t));
    float *c = tt_malloc((size_t)a->clusters * a->dim * sizeof(float));
    float *x = tt_malloc((size_t)a->n * a->dim * sizeof(float));
    double sd = a->spread / sqrt((double)a->dim);
    tt_rng r;

    tt_rng_seed(&r, a->seed, 0);
    for (int i = 0; i < a->clusters; i++) {
        for (int j = 0; j < a->dim; j++)
            c[(size_t)i * a->dim + j] = (float)tt_rng_normal(&r);
        normalise(c + (size_t)i * a->dim, a->dim);
    }
    for (int64_t i = 0; i < a->n; i++) {
        float *xi = x + (size_t)i * a->dim;
        label[i] = (int32_t)tt_rng_below(&r, (uint64_t)a->clusters);
        for (int j = 0; j < a->dim; j++)
            xi[j] = c[(size_t)label[i] * a->dim + j] + (float)(sd * tt_rng_normal(&r));
        normalise(xi, a->dim);
    }
    free(c);
    return x;
}

/* @q distinct random rows (partial Fisher-Yates). */
static int64_t *pick_rows(const struct args *a)
{
    int64_t *all = tt_malloc((size_t)a->n * sizeof(int64_t));
    int64_t *rows = tt_malloc((size_t)a->queries * sizeof(int64_t));
    tt_rng r;

    tt_rng_seed(&r, a->seed, 1);
    for (int64_t i = 0; i < a->n; i++)
        all[i] = i;
    for (int i = 0; i < a->queries; i++) {
        int64_t j = i + (int64_t)tt_rng_below(&r, (uint64_t)(a->n - i)), t = all[i];
        all[i] = all[j];
        all[j] = t;
        rows[i] = all[i];
    }
    free(all);
    return rows;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The @p-th percentile (0..100) of @n sorted values, nearest rank. */
static double percentile(const double *sorted, int n, double p)
{
    int i = (int)ceil(p / 100.0 * n) - 1;
    return sorted[i < 0 ? 0 : i >= n ? n - 1 : i];
}

/* The K best ids of an answer of K + 1, without @self (or the last when @self is absent). */
static void drop_self(const int64_t *ids, int64_t self, int64_t *out)
{
    int w = 0;

    for (int i = 0; i < K + 1 && w < K; i++)
        if (ids[i] != self)
            out[w++] = ids[i];
}

/* Search through FAISS's own code instead of the engine's HNSW walk. */
static bool faiss_search;

static void search_one(const tt_ann *ix, const float *q, float *sim, int64_t *ids)
{
    tt_err err = {0};
    int rc = faiss_search ? tt__faiss_search(ix, q, 1, K + 1, sim, ids, &err)
                          : tt_ann_search(ix, q, 1, K + 1, sim, ids, &err);

    if (rc < 0) {
        fprintf(stderr, "search failed: %s\n", tt_err_msg(&err, rc));
        exit(1);
    }
}

/*
 * Runs every query through @ix one at a time, timing each call; fills @nb (queries x K)
 * with the neighbours and, against @truth (when not NULL), measures recall@K.
 */
static struct run measure(const tt_ann *ix, const float *x, const struct args *a,
                          const int64_t *rows, const int64_t *truth, int64_t *nb)
{
    double *lat = tt_malloc((size_t)a->queries * sizeof(double));
    float sim[K + 1];
    int64_t ids[K + 1], hits = 0;
    struct run out;

    for (int i = 0; i < WARMUP && i < a->queries; i++)
        search_one(ix, x + (size_t)rows[i] * a->dim, sim, ids);
    for (int i = 0; i < a->queries; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        search_one(ix, x + (size_t)rows[i] * a->dim, sim, ids);
        lat[i] = ms_since(&t0);
        drop_self(ids, rows[i], nb + (size_t)i * K);
    }
    for (int i = 0; truth && i < a->queries; i++) {
        const int64_t *got = nb + (size_t)i * K, *want = truth + (size_t)i * K;
        for (int r = 0; r < K; r++)
            for (int s = 0; s < K; s++)
                hits += got[r] >= 0 && got[r] == want[s];
    }
    qsort(lat, (size_t)a->queries, sizeof(double), cmp_double);
    out.recall = (double)hits / ((double)a->queries * K);
    out.p50_ms = percentile(lat, a->queries, 50.0);
    out.p99_ms = percentile(lat, a->queries, 99.0);
    free(lat);
    return out;
}

static tt_ann *build(const float *x, const struct args *a, const tt_ann_params *p, double *seconds)
{
    tt_ann *ix = NULL;
    tt_err err = {0};
    double t0 = tt_now();
    int rc = tt_ann_build(x, a->n, a->dim, p, &ix, &err);

    if (rc < 0) {
        fprintf(stderr, "building %s failed: %s\n", tt_ann_type_name(p->type),
                tt_err_msg(&err, rc));
        exit(1);
    }
    *seconds = tt_now() - t0;
    return ix;
}

/* How clustered the neighbourhoods are: the share of true neighbours in another cluster. */
static void describe_truth(const float *x, const int32_t *label, const struct args *a,
                           const int64_t *rows, const int64_t *truth)
{
    int64_t cross = 0, all = 0;
    double s1 = 0.0, s10 = 0.0;

    for (int i = 0; i < a->queries; i++) {
        const float *q = x + (size_t)rows[i] * a->dim;
        for (int r = 0; r < K; r++) {
            int64_t id = truth[(size_t)i * K + r];
            double s = 0.0;
            if (id < 0)
                continue;
            for (int j = 0; j < a->dim; j++)
                s += (double)q[j] * x[(size_t)id * a->dim + j];
            s1 += r == 0 ? s : 0.0;
            s10 += r == K - 1 ? s : 0.0;
            cross += label[id] != label[rows[i]];
            all++;
        }
    }
    printf("bench_ann: neighbourhoods: %.1f%% of the exact top-%d neighbours lie in another "
           "%s than the query; mean cosine of the 1st neighbour %.3f, of the 10th %.3f\n",
           100.0 * (double)cross / (double)(all ? all : 1), K,
           strcmp(a->data, "catalog") == 0 ? "genre" : "cluster", s1 / a->queries, s10 / a->queries);
}

static void print_run(const char *what, const struct run *r, const struct run *exact)
{
    printf("bench_ann: %-22s recall@%d %.4f  p50 %.4f ms  p99 %.4f ms  p50 %.4f of exact's "
           "(%.0fx faster)\n",
           what, K, r->recall, r->p50_ms, r->p99_ms, r->p50_ms / exact->p50_ms,
           exact->p50_ms / r->p50_ms);
}

static struct run bench_hnsw(const float *x, const struct args *a, const int64_t *rows,
                             const int64_t *truth, const struct run *exact, int64_t *nb)
{
    static const int efs[] = {16, 32, 64, 128};
    tt_ann_params p = tt_ann_params_default();
    struct run target = {0};
    double secs;
    tt_ann *ix;

    p.type = TT_ANN_HNSW;
    p.m = a->m;
    p.ef_construction = a->ef_construction;
    p.threads = a->threads;
    ix = build(x, a, &p, &secs);
    printf("bench_ann: hnsw M %d efConstruction %d: built in %.1f s (%d threads)\n", tt_ann_m(ix),
           a->ef_construction, secs, tt_threads_resolve(a->threads));
    for (size_t i = 0; i < sizeof(efs) / sizeof(efs[0]); i++) {
        char what[64];
        struct run r;
        tt_ann_set_search(ix, 0, efs[i], NULL);
        r = measure(ix, x, a, rows, truth, nb);
        snprintf(what, sizeof(what), "hnsw efSearch %d:", tt_ann_ef_search(ix));
        print_run(what, &r, exact);
        if (efs[i] == 64) {
            struct run f;
            target = r;
            faiss_search = true;
            f = measure(ix, x, a, rows, truth, nb);
            faiss_search = false;
            print_run("  same, FAISS's search:", &f, exact);
            printf("bench_ann:   the engine's HNSW walk (AVX2) vs FAISS's own search of the same "
                   "graph: p50 %.2fx faster\n", f.p50_ms / r.p50_ms);
        }
    }
    tt_ann_free(ix);
    return target;
}

static void bench_ivf(const float *x, const struct args *a, const int64_t *rows,
                      const int64_t *truth, const struct run *exact, int64_t *nb)
{
    static const int nprobes[] = {8, 16, 32, 64};
    tt_ann_params p = tt_ann_params_default();
    double secs;
    tt_ann *ix;

    p.type = TT_ANN_IVF;
    p.nlist = a->nlist;
    p.seed = a->seed;
    p.threads = a->threads;
    ix = build(x, a, &p, &secs);
    printf("bench_ann: ivf nlist %d%s: trained and built in %.1f s (%d threads)\n",
           tt_ann_nlist(ix), a->nlist ? "" : " (default, about 4 sqrt(n))", secs,
           tt_threads_resolve(a->threads));
    for (size_t i = 0; i < sizeof(nprobes) / sizeof(nprobes[0]); i++) {
        char what[64];
        struct run r;
        tt_ann_set_search(ix, nprobes[i], 0, NULL);
        r = measure(ix, x, a, rows, truth, nb);
        snprintf(what, sizeof(what), "ivf nprobe %d:", tt_ann_nprobe(ix));
        print_run(what, &r, exact);
    }
    tt_ann_free(ix);
}

/* Exact search over every row: the latency baseline, and its answers are the ground truth. */
static struct run bench_exact(const float *x, const struct args *a, const int64_t *rows,
                              int64_t *truth)
{
    tt_ann_params p = tt_ann_params_default();
    struct run r;
    double secs;
    tt_ann *ix;

    p.type = TT_ANN_FLAT;
    p.threads = a->threads;
    ix = build(x, a, &p, &secs);
    r = measure(ix, x, a, rows, NULL, truth);
    r.recall = 1.0;
    printf("bench_ann: %-22s recall@%d 1 (ground truth)  p50 %.4f ms  p99 %.4f ms\n",
           "exact (flat):", K, r.p50_ms, r.p99_ms);
    tt_ann_free(ix);
    return r;
}

int main(int argc, char **argv)
{
    struct args a;
    int32_t *label;
    int64_t *rows, *truth, *nb;
    struct run exact, target;
    double t0;
    float *x;
    int holds;

    parse(argc, argv, &a);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows while the slow parts run */
    t0 = tt_now();
    if (strcmp(a.data, "catalog") == 0) {
        x = catalog(&a, &label);
        printf("bench_ann: data: the content vectors of a generated catalog of %lld tracks "
               "(tt_content_vectors, default weights: audio features and genres), %d "
               "dimensions, seed %llu, made in %.1f s\n",
               (long long)a.n, a.dim, (unsigned long long)a.seed, tt_now() - t0);
    } else {
        x = synth(&a, &label);
        printf("bench_ann: data: %lld x %d unit vectors, Gaussian mixture of %d clusters, "
               "noise norm %.2f around random unit centres (same-cluster cosine about %.2f), "
               "seed %llu, generated in %.1f s\n",
               (long long)a.n, a.dim, a.clusters, a.spread, 1.0 / (1.0 + a.spread * a.spread),
               (unsigned long long)a.seed, tt_now() - t0);
    }
    rows = pick_rows(&a);
    printf("bench_ann: queries: %d random rows, neighbours = top %d other rows (k %d, own id "
           "dropped); one query per call on the calling thread, %d warm-up calls untimed; "
           "%d cores\n",
           a.queries, K, K + 1, WARMUP, tt_ncpu());
    truth = tt_malloc((size_t)a.queries * K * sizeof(int64_t));
    nb = tt_malloc((size_t)a.queries * K * sizeof(int64_t));
    exact = bench_exact(x, &a, rows, truth);
    describe_truth(x, label, &a, rows, truth);
    target = bench_hnsw(x, &a, rows, truth, &exact, nb);
    bench_ivf(x, &a, rows, truth, &exact, nb);
    holds = target.recall >= 0.98 && target.p50_ms < 0.2;
    printf("bench_ann: target %s: hnsw efSearch 64 recall@%d %.4f (>= 0.98 wanted), p50 %.4f ms "
           "(< 0.2 ms wanted)\n",
           holds ? "HOLDS" : "DOES NOT HOLD", K, target.recall, target.p50_ms);
    printf("reproduce: build/bench/bench_ann --data %s --n %lld --dim %d --clusters %d --spread %g "
           "--queries %d --m %d --ef-construction %d --nlist %d --threads %d --seed %llu\n",
           a.data, (long long)a.n, a.dim, a.clusters, a.spread, a.queries, a.m, a.ef_construction, a.nlist,
           a.threads, (unsigned long long)a.seed);
    free(label);
    free(x);
    free(rows);
    free(truth);
    free(nb);
    return 0;
}
