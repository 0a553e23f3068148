/*
 * The catalog-wide steps of the content space: shrunk whitening of the embedding, the exact
 * neighbour pass and database-side augmentation, an audio feature that repeats an embedding
 * column, and model files holding a whitening.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/modelfile.h"

/* ---- whitening ---------------------------------------------------------------------------- */

/*
 * @n rows of three columns: a, a + small noise (the same measurement twice), and an
 * independent b; each column centred exactly.
 */
static float *correlated_rows(int64_t n)
{
    float *z = tt_malloc((size_t)n * 3 * sizeof(float));
    double mean[3] = {0, 0, 0};
    tt_rng rng;

    tt_rng_seed(&rng, 11, 0);
    for (int64_t i = 0; i < n; i++) {
        float a = (float)tt_rng_normal(&rng);
        z[i * 3 + 0] = a;
        z[i * 3 + 1] = a + 0.1f * (float)tt_rng_normal(&rng);
        z[i * 3 + 2] = (float)tt_rng_normal(&rng);
    }
    for (int64_t i = 0; i < n * 3; i++)
        mean[i % 3] += z[i] / (double)n;
    for (int64_t i = 0; i < n * 3; i++)
        z[i] -= (float)mean[i % 3];
    return z;
}

/* Covariance entry (a, b) of the rows of @z times @W (both 3 columns). */
static double whitened_cov(const float *z, int64_t n, const float *W, int a, int b)
{
    double s = 0.0;

    for (int64_t i = 0; i < n; i++) {
        double x = 0.0, y = 0.0;
        for (int j = 0; j < 3; j++) {
            x += z[i * 3 + j] * W[j * 3 + a];
            y += z[i * 3 + j] * W[j * 3 + b];
        }
        s += x * y;
    }
    return s / (double)(n - 1);
}

Test(whitening, with_almost_no_shrinkage_correlated_columns_come_out_uncorrelated)
{
    const int64_t n = 2000;
    float *z = correlated_rows(n), W[9];
    tt_err err = {0};

    cr_assert_eq(tt_content_whiten_fit(z, n, 3, NULL, 1e-6f, W, &err), 0, "%s", err.message);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            cr_expect(fabs(whitened_cov(z, n, W, a, b) - (a == b)) < 0.01,
                      "cov(%d, %d) = %f", a, b, whitened_cov(z, n, W, a, b));
    free(z);
}

Test(whitening, shrinkage_damps_the_shared_direction_and_keeps_the_expected_length)
{
    const int64_t n = 2000;
    float *z = correlated_rows(n), W[9];
    double len = 0.0;
    tt_err err = {0};

    cr_assert_eq(tt_content_whiten_fit(z, n, 3, NULL, 1.0f, W, &err), 0, "%s", err.message);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            cr_expect_float_eq(W[a * 3 + b], W[b * 3 + a], 1e-5f, "zero-phase: symmetric");
    for (int j = 0; j < 3; j++)
        len += whitened_cov(z, n, W, j, j);
    cr_expect(fabs(len - 3.0) < 1e-3, "expected squared length %f, want 3", len);
    /* The doubled column a shares one direction: after whitening it weighs less than the
     * independent b, which alone had the same variance per column before. */
    cr_expect(whitened_cov(z, n, W, 0, 0) < whitened_cov(z, n, W, 2, 2));
    free(z);
}

Test(whitening, rows_not_taking_part_are_left_out_and_bad_input_refused)
{
    const int64_t n = 400;
    float *z = correlated_rows(n + 1), W[9], W2[9];
    uint8_t *use = tt_malloc((size_t)n + 1);
    tt_err err = {0};

    memset(use, 1, (size_t)n + 1);
    z[n * 3] = z[n * 3 + 1] = z[n * 3 + 2] = 1e6f; /* a wild row that takes no part */
    use[n] = 0;
    cr_assert_eq(tt_content_whiten_fit(z, n + 1, 3, use, 1.0f, W, &err), 0);
    cr_assert_eq(tt_content_whiten_fit(z, n + 1, 3, NULL, 1.0f, W2, &err), 0);
    cr_expect(fabsf(W[0] - W2[0]) > 1e-3f, "the wild row changes the fit only when used");
    cr_expect_eq(tt_content_whiten_fit(z, n, 3, NULL, 0.0f, W, &err), TT_EINVAL, "shrink 0");
    cr_expect_eq(tt_content_whiten_fit(z, 1, 3, NULL, 1.0f, W, &err), TT_EINVAL, "one row");
    memset(z, 0, (size_t)n * 3 * sizeof(float));
    cr_expect_eq(tt_content_whiten_fit(z, n, 3, NULL, 1.0f, W, &err), TT_EINVAL, "constant");
    free(use);
    free(z);
}

/* ---- neighbours and augmentation ---------------------------------------------------------- */

/* Unit row @i of @x: direction @c (0..d-1) plus @noise in every coordinate. */
static void noisy_axis(float *x, int d, int c, float noise, tt_rng *rng)
{
    double norm = 0.0;

    for (int j = 0; j < d; j++) {
        x[j] = (j == c ? 1.0f : 0.0f) + noise * (float)tt_rng_normal(rng);
        norm += (double)x[j] * x[j];
    }
    for (int j = 0; j < d; j++)
        x[j] = (float)(x[j] / sqrt(norm));
}

Test(neighbours, planted_near_duplicates_find_each_other_and_short_lists_are_padded)
{
    enum { M = 40, D = 8 };
    float x[M * D], sim[M * 3];
    int32_t nbr[M * 3];
    tt_rng rng;
    tt_err err = {0};

    tt_rng_seed(&rng, 5, 0);
    /* Row i and row i + M/2 are the same random direction, slightly moved. */
    for (int i = 0; i < M / 2; i++) {
        float base[D];
        noisy_axis(base, D, 0, 10.0f, &rng);
        for (int h = 0; h < 2; h++) {
            float *r = x + (size_t)(i + h * M / 2) * D;
            double norm = 0.0;
            for (int j = 0; j < D; j++) {
                r[j] = base[j] + 0.01f * (float)tt_rng_normal(&rng);
                norm += (double)r[j] * r[j];
            }
            for (int j = 0; j < D; j++)
                r[j] = (float)(r[j] / sqrt(norm));
        }
    }
    cr_assert_eq(tt_content_neighbours(x, M, D, 2, nbr, sim, &err), 0, "%s", err.message);
    for (int i = 0; i < M; i++) {
        cr_expect_eq(nbr[i * 2], i, "row %d: itself first", i);
        cr_expect_eq(nbr[i * 2 + 1], (i + M / 2) % M, "row %d: its twin second", i);
        cr_expect(sim[i * 2] >= sim[i * 2 + 1]);
    }
    /* The graph search finds the same twins. */
    memset(nbr, 0, sizeof(nbr));
    cr_assert_eq(tt_content_neighbours_hnsw(x, M, D, 2, nbr, sim, &err), 0, "%s", err.message);
    for (int i = 0; i < M; i++)
        cr_expect(nbr[i * 2] == i && nbr[i * 2 + 1] == (i + M / 2) % M, "hnsw: row %d", i);
    cr_assert_eq(tt_content_neighbours(x, 2, D, 3, nbr, sim, &err), 0);
    cr_expect(nbr[2] == -1 && nbr[5] == -1 && sim[2] == 0.0f, "fewer rows than k: padded");
    cr_expect_eq(tt_content_neighbours(x, M, D, 0, nbr, sim, &err), TT_EINVAL);
}

/* Mean cosine of the rows of each planted cluster (row i in cluster i % C) to its axis. */
static double mean_cosine_to_axis(const float *x, int m, int d, int stride, int clusters)
{
    double s = 0.0;

    for (int i = 0; i < m; i++) {
        const float *r = x + (size_t)i * stride;
        double norm = 0.0;
        for (int j = 0; j < d; j++)
            norm += (double)r[j] * r[j];
        s += r[i % clusters] / sqrt(norm);
    }
    return s / m;
}

Test(augment, noisy_clusters_tighten_and_lengths_are_kept)
{
    enum { M = 200, D = 8, C = 4, STRIDE = D + 1, K = 5 };
    float *x = tt_calloc((size_t)(M + 1) * STRIDE, sizeof(float));
    double before, after;
    tt_rng rng;
    tt_err err = {0};

    tt_rng_seed(&rng, 9, 0);
    for (int i = 0; i < M; i++) {
        noisy_axis(x + (size_t)i * STRIDE, D, i % C, 0.35f, &rng);
        for (int j = 0; j < D; j++)
            x[(size_t)i * STRIDE + j] *= 3.0f; /* rows of length 3 */
        x[(size_t)i * STRIDE + D] = 42.0f;    /* outside the part: untouched */
    }
    /* Row M has length 0: no content, no part, stays 0. */
    before = mean_cosine_to_axis(x, M, D, STRIDE, C);
    cr_assert_eq(tt_content_augment(x, M + 1, D, STRIDE, K, &err), 0, "%s", err.message);
    after = mean_cosine_to_axis(x, M, D, STRIDE, C);
    cr_expect(after > before + 0.05, "closer to the cluster's axis: %f -> %f", before, after);
    for (int i = 0; i < M; i++) {
        double norm = 0.0;
        for (int j = 0; j < D; j++)
            norm += (double)x[(size_t)i * STRIDE + j] * x[(size_t)i * STRIDE + j];
        cr_expect(fabs(sqrt(norm) - 3.0) < 1e-4, "row %d length %f", i, sqrt(norm));
        cr_expect_eq(x[(size_t)i * STRIDE + D], 42.0f);
    }
    for (int j = 0; j < STRIDE; j++)
        cr_expect_eq(x[(size_t)M * STRIDE + j], 0.0f, "an empty row stays empty");
    free(x);
}

Test(augment, a_catalog_too_small_for_its_neighbourhoods_is_left_alone)
{
    enum { M = 49, D = 4, K = 5 }; /* fewer than TT_CONTENT_AUGMENT_MIN x K rows */
    float x[M * D], copy[M * D];
    tt_rng rng;
    tt_err err = {0};

    tt_rng_seed(&rng, 3, 0);
    for (int i = 0; i < M; i++)
        noisy_axis(x + i * D, D, i % D, 0.5f, &rng);
    memcpy(copy, x, sizeof(x));
    cr_assert_eq(tt_content_augment(x, M, D, D, K, &err), 0);
    cr_expect_eq(memcmp(x, copy, sizeof(x)), 0);
    cr_assert_eq(tt_content_augment(x, M, D, D, 1, &err), 0);
    cr_expect_eq(memcmp(x, copy, sizeof(x)), 0, "k 1: nothing to average with");
    cr_expect_eq(tt_content_augment(x, M, D, D - 1, K, &err), TT_EINVAL, "stride < d");
}

/* ---- the content space -------------------------------------------------------------------- */

#define N_PLANTED 60
#define E_PLANTED 4

/*
 * 60 tracks in three sounds (track i in sound i % 3): a tempo, and a 4-float embedding
 * whose column 1 is the tempo times @tempo_factor (1: the same measurement) and whose other
 * columns place the sound; with @tempo_only_track, last, one more with a tempo and no
 * embedding; one listener who played the first six.
 */
static tt_dataset *planted_catalog_with(float tempo_factor, bool tempo_only_track)
{
    tt_dataset *ds = tt_dataset_new();
    float f[TT_N_FEATURES], e[E_PLANTED];
    char id[32];
    tt_rng rng;

    tt_rng_seed(&rng, 17, 0);
    for (int i = 0; i < N_PLANTED; i++) {
        int s = i % 3;
        for (int j = 0; j < TT_N_FEATURES; j++)
            f[j] = NAN;
        f[TT_F_TEMPO] = 90.0f + 20.0f * s + 5.0f * (float)tt_rng_normal(&rng);
        e[0] = (float)(s == 0) + 0.3f * (float)tt_rng_normal(&rng);
        e[1] = f[TT_F_TEMPO] * tempo_factor;
        e[2] = (float)(s == 1) + 0.3f * (float)tt_rng_normal(&rng);
        e[3] = (float)(s == 2) + 0.3f * (float)tt_rng_normal(&rng);
        snprintf(id, sizeof(id), "t%02d", i);
        fx_add_track_content(ds, id, "artist", NULL, f, e, E_PLANTED);
    }
    if (tempo_only_track) {
        for (int j = 0; j < TT_N_FEATURES; j++)
            f[j] = NAN;
        f[TT_F_TEMPO] = 100.0f;
        fx_add_track_content(ds, "tempo-only", "artist", NULL, f, NULL, 0);
    }
    fx_add_user(ds, "listener", NULL);
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "t%02d", i);
        fx_add_event(ds, "listener", id, TT_ACT_PLAY, 2.0f, FX_T0 - 100 + i);
    }
    tt_dataset_finish(ds);
    return ds;
}

static tt_dataset *planted_catalog(float tempo_factor)
{
    return planted_catalog_with(tempo_factor, false);
}

static float *vectors_of(const tt_dataset *ds, const tt_content_params *p, int *d)
{
    float *vec = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_content_vectors(ds, p, &vec, d, &err), 0, "%s", err.message);
    return vec;
}

Test(space, an_audio_feature_repeating_an_embedding_column_gets_no_dimension)
{
    tt_dataset *same = planted_catalog(1.0f), *other = planted_catalog(2.0f);
    tt_content_params p = tt_content_params_default(), emb_only;
    int d1, d2, d3;
    float *v1, *v2, *v3;

    v1 = vectors_of(same, &p, &d1);
    emb_only = p;
    emb_only.w_audio = 0.0f;
    v2 = vectors_of(same, &emb_only, &d2);
    cr_expect_eq(d1, E_PLANTED, "tempo is embedding column 1: no audio part");
    cr_expect_eq(d1, d2);
    cr_expect_eq(memcmp(v1, v2, (size_t)N_PLANTED * d1 * sizeof(float)), 0,
                 "the same vectors as without audio");
    v3 = vectors_of(other, &p, &d3);
    cr_expect_eq(d3, 12 + E_PLANTED, "a tempo no column repeats keeps the audio part");
    free(v3);
    tt_dataset_free(other);
    other = planted_catalog_with(1.0f, true);
    v3 = vectors_of(other, &p, &d3);
    cr_expect_eq(d3, 12 + E_PLANTED, "a track with only a tempo keeps the audio part");
    free(v1);
    free(v2);
    free(v3);
    tt_dataset_free(same);
    tt_dataset_free(other);
}

Test(space, whitening_and_augmentation_change_the_vectors_only_when_asked)
{
    tt_dataset *ds = planted_catalog(1.0f);
    tt_content_params p = tt_content_params_default(), q;
    int d, dq;
    float *v = NULL, *w = NULL;

    q = p;
    q.augment_k = 3; /* 60 tracks allow 6 */
    v = vectors_of(ds, &q, &d);
    q.whiten = 0.0f;
    q.augment_k = 0;
    w = vectors_of(ds, &q, &dq);
    cr_assert_eq(d, dq);
    cr_expect_neq(memcmp(v, w, (size_t)N_PLANTED * d * sizeof(float)), 0);
    for (int i = 0; i < N_PLANTED; i++) {
        double n = 0.0;
        for (int j = 0; j < d; j++)
            n += (double)v[(size_t)i * d + j] * v[(size_t)i * d + j];
        cr_expect(fabs(n - 1.0) < 1e-5, "track %d unit length", i);
    }
    /* The planted sounds are found: each track's nearest other track shares its sound. */
    for (int i = 0; i < N_PLANTED; i++) {
        int best = -1;
        float bs = -2.0f;
        for (int t = 0; t < N_PLANTED; t++) {
            float s = 0.0f;
            for (int j = 0; j < d && t != i; j++)
                s += v[(size_t)i * d + j] * v[(size_t)t * d + j];
            if (t != i && s > bs)
                bs = s, best = t;
        }
        cr_expect_eq(best % 3, i % 3, "track %d: nearest %d", i, best);
    }
    p.whiten = -1.0f;
    cr_expect_eq(tt_content_params_check(&p, NULL), TT_EINVAL);
    p.whiten = 1.0f;
    p.augment_k = 5000;
    cr_expect_eq(tt_content_params_check(&p, NULL), TT_EINVAL);
    free(v);
    free(w);
    tt_dataset_free(ds);
}

/* ---- files -------------------------------------------------------------------------------- */

static char dir[64];
static char path[256];

static tt_model *train_planted(const tt_dataset *ds)
{
    tt_content_params p = tt_content_params_default();
    tt_train_set ts;
    tt_model *m = NULL;
    tt_err err = {0};

    p.augment_k = 3;
    fx_train_set(ds, &ts);
    cr_assert_eq(tt_content_train(&ts, &p, &m, &err), 0, "%s", err.message);
    tt_train_set_release(&ts);
    return m;
}

static const struct {
    const char *name;
    enum tt_dtype dt;
    size_t size;
} sections[] = {
    {"meta", TT_DT_META, 1},         {"audio_mean", TT_DT_F32, 4},
    {"audio_sd", TT_DT_F32, 4},      {"genre_dim", TT_DT_I32, 4},
    {"embedding_mean", TT_DT_F32, 4}, {"embedding_sd", TT_DT_F32, 4},
    {"embedding_log", TT_DT_U8, 1},  {"embedding_whiten", TT_DT_F32, 4},
    {"vectors", TT_DT_F32, 4},       {"has_vector", TT_DT_U8, 1},
    {"centre_ptr", TT_DT_I64, 8},    {"centres", TT_DT_F32, 4},
    {"centre_weight", TT_DT_F32, 4},
};

/* Copies @src to @dst section by section; "embedding_whiten" poisoned or dropped. */
static void rewrite(const char *src, const char *dst, bool nan_whiten, bool drop_whiten)
{
    tt_mfile *f = NULL;
    tt_mfile_writer *w = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_open(src, &f, &err), 0, "%s", err.message);
    cr_assert_eq(tt_mfile_create(dst, tt_mfile_kind(f), tt_mfile_catalog(f), &w, &err), 0);
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        int64_t rows = -1, cols = -1;
        const void *data;
        void *copy;
        bool whiten = strcmp(sections[i].name, "embedding_whiten") == 0;
        cr_assert_eq(tt_mfile_get(f, sections[i].name, sections[i].dt, &rows, &cols, &data, &err),
                     0, "%s", err.message);
        if (whiten && drop_whiten)
            continue;
        copy = tt_malloc((size_t)(rows * cols) * sections[i].size + 1);
        memcpy(copy, data, (size_t)(rows * cols) * sections[i].size);
        if (whiten && nan_whiten)
            ((float *)copy)[rows * cols - 1] = NAN;
        cr_assert_eq(tt_mfile_add(w, sections[i].name, sections[i].dt, rows, cols, copy, &err), 0);
        free(copy);
    }
    cr_assert_eq(tt_mfile_commit(w, &err), 0, "%s", err.message);
    tt_mfile_close(f);
}

Test(files, a_whitened_augmented_model_round_trips_and_a_bad_whitening_is_refused)
{
    tt_dataset *ds = planted_catalog(1.0f);
    tt_model *m = train_planted(ds), *l = NULL;
    tt_err err = {0};
    int d, dl;
    const float *v, *vl;
    char good[256];
    tt_scored a[5], b[5];
    int na = 0, nb = 0;

    fx_tmpdir(dir);
    fx_path(good, sizeof(good), dir, "good.ttm");
    fx_path(path, sizeof(path), dir, "content.ttm");
    fx_save_model(m, good);
    cr_assert_eq(tt_model_load(good, tt_catalog_checksum(ds), &l, &err), 0, "%s", err.message);
    v = tt_content_model_vectors(m, &d);
    vl = tt_content_model_vectors(l, &dl);
    cr_assert_eq(d, dl);
    cr_expect_eq(memcmp(v, vl, (size_t)N_PLANTED * d * sizeof(float)), 0, "same vectors");
    cr_expect_eq(tt_content_model_params(l).augment_k, 3);
    cr_expect_float_eq(tt_content_model_params(l).whiten, 1.0f, 0.0f);
    cr_assert_eq(m->ops->similar(m, 0, 5, a, &na, &err), 0);
    cr_assert_eq(l->ops->similar(l, 0, 5, b, &nb, &err), 0);
    cr_expect(na == nb && memcmp(a, b, (size_t)na * sizeof(*a)) == 0, "same similar list");
    tt_model_free(l);

    rewrite(good, path, false, false);
    l = NULL;
    cr_expect_eq(tt_model_load(path, 0, &l, &err), 0, "an untouched copy loads: %s",
                 err.message);
    tt_model_free(l);
    rewrite(good, path, true, false);
    fx_expect_model_refused(path, "embedding_whiten");
    rewrite(good, path, false, true);
    fx_expect_model_refused(path, "embedding_whiten");
    rewrite(good, path, false, false);
    fx_meta_set(path, "whitened", 2);
    fx_expect_model_refused(path, "whitened");
    tt_model_free(m);
    tt_dataset_free(ds);
    fx_rmtree(dir);
}
