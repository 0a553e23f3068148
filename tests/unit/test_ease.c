/*
 * EASE: the item-item weights against a dense reference solve, serving (stored users, fold-in,
 * batch, exclusions), the track limits, and model files.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/ease.h"
#include "tt/model.h"

#define USERS 40
#define TRACKS 25
#define PLAYS 8

static tt_dataset *ds;
static tt_train_set ts;

/* A dataset of @n tracks "t0000", "t0001", ... */
static tt_dataset *with_tracks(int n)
{
    tt_dataset *d = tt_dataset_new();
    char t[16];

    for (int i = 0; i < n; i++) {
        snprintf(t, sizeof(t), "t%04d", i);
        fx_add_track(d, t, "artist", NULL);
    }
    return d;
}

/* Listener @u (a number) plays track number @track @r times, @ago seconds before FX_T0. */
static void play(tt_dataset *d, int u, int32_t track, float r, int ago)
{
    char us[16], t[16];

    snprintf(us, sizeof(us), "u%03d", u);
    snprintf(t, sizeof(t), "t%04d", (int)track);
    fx_add_event(d, us, t, TT_ACT_PLAY, r, FX_T0 - ago);
}

/* 40 users, each playing 8 random tracks of 25 a few times; one more user with one track. */
static void setup(void)
{
    tt_rng rng;

    ds = with_tracks(TRACKS);
    fx_add_track(ds, "lonely", "artist", NULL);
    tt_rng_seed(&rng, 7, 1);
    for (int i = 0; i < USERS; i++)
        for (int j = 0; j < PLAYS; j++) {
            int32_t t = (int32_t)tt_rng_below(&rng, TRACKS);
            play(ds, i, t, (float)(1 + tt_rng_below(&rng, 5)), j);
        }
    /* The only listener of "lonely", which has no other track. */
    fx_add_event(ds, "solo", "lonely", TT_ACT_PLAY, 3.0f, FX_T0);
    tt_dataset_finish(ds);
    fx_train_set(ds, &ts);
}

static void teardown(void)
{
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

TestSuite(ease, .init = setup, .fini = teardown);

static tt_ease_params params(enum tt_als_scaling s)
{
    tt_ease_params p = tt_ease_params_default();

    p.scaling = s;
    p.lambda = 5.0f;
    p.min_listeners = 1;
    p.threads = 2;
    return p;
}

static tt_model *train(const tt_ease_params *p)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_ease_train(&ts, p, &m, &err);

    cr_assert_eq(rc, 0, "train: %s", tt_err_msg(&err, rc));
    return m;
}

/* Linear confidences as training scales them: r divided by the mean r over all pairs. */
static double linear_scale(void)
{
    double sum = 0.0;

    for (int64_t i = 0; i < ts.conf.nnz; i++)
        sum += ts.conf.data[i];
    return (double)ts.conf.nnz / sum;
}

/* Inverse of the n x n @a in place, Gauss-Jordan with partial pivoting. */
static void gauss_jordan(double *a, int n)
{
    double *inv = calloc((size_t)n * n, sizeof(double));

    for (int i = 0; i < n; i++)
        inv[i * n + i] = 1.0;
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        for (int j = 0; j < n; j++) {
            double x = a[c * n + j], y = inv[c * n + j];
            a[c * n + j] = a[piv * n + j], inv[c * n + j] = inv[piv * n + j];
            a[piv * n + j] = x, inv[piv * n + j] = y;
        }
        double d = a[c * n + c];
        for (int j = 0; j < n; j++)
            a[c * n + j] /= d, inv[c * n + j] /= d;
        for (int r = 0; r < n; r++) {
            double f = a[r * n + c];
            if (r == c || f == 0.0)
                continue;
            for (int j = 0; j < n; j++)
                a[r * n + j] -= f * a[c * n + j], inv[r * n + j] -= f * inv[c * n + j];
        }
    }
    memcpy(a, inv, (size_t)n * n * sizeof(double));
    free(inv);
}

/*
 * The reference B over all tracks of the catalog (linear confidences, min_listeners 1),
 * from dense X; @X gets the users x tracks confidences. Every track has a listener. The
 * Gram matrix weighs each user's row by mean |x|^2 / |x_u|^2 when p->user_norm, and its
 * diagonal is G_ii (1 + e/(1-e)) + lambda for p->emphasis e (tt/ease.h).
 */
static void reference(const tt_ease_params *p, double *X, double *B)
{
    const int nt = ts.conf.cols, nu = ts.conf.rows;
    double s = linear_scale(), *G = calloc((size_t)nt * nt, sizeof(double));
    double *w = calloc((size_t)nu, sizeof(double)), mean = 0.0;
    int active = 0;

    memset(X, 0, (size_t)nu * nt * sizeof(double));
    for (int u = 0; u < nu; u++)
        for (int64_t i = ts.conf.indptr[u]; i < ts.conf.indptr[u + 1]; i++)
            X[u * nt + ts.conf.indices[i]] = ts.conf.data[i] * s;
    for (int u = 0; u < nu; u++) {
        for (int i = 0; i < nt; i++)
            w[u] += X[u * nt + i] * X[u * nt + i];
        mean += w[u];
        active += w[u] > 0.0;
    }
    mean /= active;
    for (int u = 0; u < nu; u++)
        w[u] = !p->user_norm ? 1.0 : w[u] > 0.0 ? mean / w[u] : 0.0;
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nt; j++) {
            for (int u = 0; u < nu; u++)
                G[i * nt + j] += w[u] * X[u * nt + i] * X[u * nt + j];
            if (i == j)
                G[i * nt + j] = G[i * nt + j] * (1.0 + p->emphasis / (1.0 - p->emphasis)) +
                                p->lambda;
        }
    gauss_jordan(G, nt);
    for (int i = 0; i < nt; i++)
        for (int j = 0; j < nt; j++)
            B[i * nt + j] = i == j ? 0.0 : -G[i * nt + j] / G[j * nt + j];
    free(G);
    free(w);
}

/* Every kept track's score for @q, by track id, into @scores (NAN for tracks not returned). */
static void all_scores(const tt_model *m, const tt_query *q, float *scores)
{
    tt_scored out[64];
    tt_err err = {0};
    int n = 0, rc = tt_model_recommend(m, q, 64, out, &n, &err);

    cr_assert_eq(rc, 0, "recommend: %s", tt_err_msg(&err, rc));
    for (int32_t t = 0; t < m->n_tracks; t++)
        scores[t] = NAN;
    for (int i = 0; i < n; i++)
        scores[out[i].track] = out[i].score;
}

static void expect_close(double got, double want, double span, const char *what, int a, int b)
{
    cr_assert(fabs(got - want) <= 1e-3 * span + 1e-6, "%s (%d, %d): %g, reference %g", what, a,
              b, got, want);
}

/* B against the reference for @p, row by row through one-track histories. */
static void expect_reference_weights(const tt_ease_params *p);

Test(ease, weights_match_a_dense_reference_solve_with_a_zero_diagonal)
{
    tt_ease_params p = params(TT_ALS_LINEAR);

    cr_assert(p.emphasis > 0.0f && p.user_norm, "the defaults are the refined EASE");
    expect_reference_weights(&p);
}

Test(ease, plain_ease_without_emphasis_or_row_lengths_matches_its_reference)
{
    tt_ease_params p = params(TT_ALS_LINEAR);

    p.emphasis = 0.0f;
    p.user_norm = false;
    expect_reference_weights(&p);
}

Test(ease, emphasis_and_row_lengths_each_change_the_weights)
{
    tt_ease_params a = params(TT_ALS_LINEAR), b = a, c = a;
    tt_model *ma, *mb, *mc;
    float sa[TRACKS + 1], sb[TRACKS + 1], sc[TRACKS + 1];
    int32_t t = 0;
    float r = 1.0f;
    tt_query q = {.user = -1, .hist = &t, .hist_conf = &r, .n_hist = 1};
    double db = 0.0, dc = 0.0;

    b.emphasis = 0.0f;
    c.user_norm = false;
    ma = train(&a);
    mb = train(&b);
    mc = train(&c);
    all_scores(ma, &q, sa);
    all_scores(mb, &q, sb);
    all_scores(mc, &q, sc);
    for (int j = 1; j < ts.conf.cols; j++) {
        db = fmax(db, fabs((double)sa[j] - sb[j]));
        dc = fmax(dc, fabs((double)sa[j] - sc[j]));
    }
    cr_assert(db > 1e-4, "emphasis 0.5 and 0 gave the same weights");
    cr_assert(dc > 1e-4, "row lengths on and off gave the same weights");
    tt_model_free(ma);
    tt_model_free(mb);
    tt_model_free(mc);
}

static void expect_reference_weights(const tt_ease_params *pp)
{
    tt_ease_params p = *pp;
    tt_model *m = train(&p);
    const int nt = ts.conf.cols;
    double *X = malloc(sizeof(double) * ts.conf.rows * nt), *B = malloc(sizeof(double) * nt * nt);
    double s = linear_scale(), span = 0.0;
    float scores[TRACKS + 1];

    cr_assert_eq(tt_ease_tracks(m), nt);
    reference(&p, X, B);
    for (int i = 0; i < nt * nt; i++)
        span = fmax(span, fabs(B[i]));
    /* A history of one track scores its row of B, times that track's confidence. */
    for (int32_t i = 0; i < nt; i++) {
        float r = 2.0f;
        tt_query q = {.user = -1, .hist = &i, .hist_conf = &r, .n_hist = 1};
        all_scores(m, &q, scores);
        cr_assert_eq(scores[i], 0.0f, "B[%d][%d] = %g, not 0", i, i, scores[i] / (r * s));
        for (int32_t j = 0; j < nt; j++)
            expect_close(scores[j] / (r * s), B[i * nt + j], span, "B", i, j);
    }
    free(X);
    free(B);
    tt_model_free(m);
}

Test(ease, a_users_scores_are_their_row_times_the_reference_weights)
{
    tt_ease_params p = params(TT_ALS_LINEAR);
    tt_model *m = train(&p);
    const int nt = ts.conf.cols;
    double *X = malloc(sizeof(double) * ts.conf.rows * nt), *B = malloc(sizeof(double) * nt * nt);
    float scores[TRACKS + 1];

    reference(&p, X, B);
    for (int32_t u = 0; u < USERS; u++) {
        tt_query q = {.user = u};
        double want[TRACKS + 1] = {0}, span = 0.0;
        for (int j = 0; j < nt; j++) {
            for (int i = 0; i < nt; i++)
                want[j] += X[u * nt + i] * B[i * nt + j];
            span = fmax(span, fabs(want[j]));
        }
        all_scores(m, &q, scores);
        for (int j = 0; j < nt; j++)
            expect_close(scores[j], want[j], span, "score of user, track", u, j);
    }
    free(X);
    free(B);
    tt_model_free(m);
}

/* @u's top @k, excluding their training history, from the precomputed list or scoring. */
static int top(const tt_model *m, int32_t u, int k, bool history, tt_scored *out)
{
    tt_query q = {.user = u, .excludes_history = true};
    tt_err err = {0};
    int n = 0, rc;

    q.n_exclude = fx_row(&ts.seen, u, &q.exclude, NULL);
    if (history)
        q.n_hist = fx_row(&ts.conf, u, &q.hist, &q.hist_conf);
    rc = tt_model_recommend(m, &q, k, out, &n, &err);
    cr_assert_eq(rc, 0, "recommend: %s", tt_err_msg(&err, rc));
    return n;
}

Test(ease, top_k_never_holds_heard_tracks)
{
    tt_ease_params p = params(TT_ALS_LOG);
    tt_model *m = train(&p);
    tt_scored out[10];

    for (int32_t u = 0; u < USERS; u++) {
        const int32_t *seen;
        int32_t ns = fx_row(&ts.seen, u, &seen, NULL);
        for (int pass = 0; pass < 2; pass++) {
            int n = top(m, u, 10, pass == 1, out);
            cr_assert_eq(n, 10 < ts.conf.cols - ns ? 10 : ts.conf.cols - ns);
            for (int i = 0; i < n; i++) {
                cr_assert(!fx_contains(seen, ns, out[i].track), "user %d got heard %d", u,
                          out[i].track);
                cr_assert(i == 0 || out[i].score <= out[i - 1].score);
            }
        }
    }
    tt_model_free(m);
}

/* Folding a user in from their training row gives the stored user's answer. */
static void fold_in_equals_stored(enum tt_als_scaling s)
{
    tt_ease_params p = params(s);
    tt_model *m = train(&p);
    float a[TRACKS + 2], b[TRACKS + 2];

    for (int32_t u = 0; u < USERS; u++) {
        tt_query stored = {.user = u}, fresh = {.user = u};
        fresh.n_hist = fx_row(&ts.conf, u, &fresh.hist, &fresh.hist_conf);
        all_scores(m, &stored, a);
        all_scores(m, &fresh, b);
        for (int32_t t = 0; t < m->n_tracks; t++)
            cr_assert(isnan(a[t]) ? isnan(b[t]) : fabsf(a[t] - b[t]) <= 1e-5f * (1 + fabsf(a[t])),
                      "user %d track %d: stored %g, folded in %g", u, t, a[t], b[t]);
    }
    tt_model_free(m);
}

Test(ease, fold_in_equals_the_stored_user_linear)
{
    fold_in_equals_stored(TT_ALS_LINEAR);
}

Test(ease, fold_in_equals_the_stored_user_log)
{
    fold_in_equals_stored(TT_ALS_LOG);
}

Test(ease, fold_in_equals_the_stored_user_bm25)
{
    fold_in_equals_stored(TT_ALS_BM25);
}

Test(ease, tracks_with_too_few_listeners_are_left_out)
{
    tt_ease_params p = params(TT_ALS_LOG);
    int32_t listeners[TRACKS + 2] = {0}, kept = 0, lonely = tt_ids_find(ds->tracks, "lonely", 6);
    int32_t solo = tt_ids_find(ds->users, "solo", 4);
    tt_scored out[TRACKS + 2];
    tt_model *m;
    int n = 0;

    for (int64_t i = 0; i < ts.conf.nnz; i++)
        listeners[ts.conf.indices[i]]++;
    p.min_listeners = 12;
    for (int32_t t = 0; t < ts.conf.cols; t++)
        kept += listeners[t] >= p.min_listeners;
    cr_assert(kept > 2 && kept < TRACKS, "the fixture keeps some tracks (%d)", kept);
    m = train(&p);
    cr_assert_eq(tt_ease_tracks(m), kept);
    for (int32_t u = 0; u < USERS; u++) {
        tt_query q = {.user = u};
        if (tt_model_recommend(m, &q, TRACKS + 2, out, &n, NULL) != 0)
            continue; /* none of the user's tracks is kept */
        for (int i = 0; i < n; i++)
            cr_assert(listeners[out[i].track] >= p.min_listeners, "track %d recommended",
                      out[i].track);
    }
    cr_assert(tt_model_similar(m, lonely, 5, out, &n, NULL) == 0 && n == 0);
    /* "solo" heard only a track left out: the model knows nothing of them. */
    cr_assert(!m->ops->knows_user(m, solo));
    cr_assert(m->ops->knows_user(m, 0));
    cr_assert_eq(tt_model_recommend(m, &(tt_query){.user = solo}, 5, out, &n, NULL), TT_ESTATE);
    tt_model_free(m);
}

Test(ease, catalogs_above_max_tracks_are_refused_with_a_state_error)
{
    tt_ease_params p = params(TT_ALS_LOG);
    tt_model *m = NULL;
    tt_err err = {0};

    p.max_tracks = TRACKS - 1;
    cr_assert_eq(tt_ease_train(&ts, &p, &m, &err), TT_ESTATE);
    cr_assert_null(m);
    cr_assert(strstr(err.message, "too many tracks for EASE"), "%s", err.message);
    p = params(TT_ALS_LOG);
    p.lambda = 0.0f;
    cr_assert_eq(tt_ease_train(&ts, &p, &m, NULL), TT_EINVAL);
}

Test(ease, batch_equals_single_recommendations)
{
    tt_ease_params p = params(TT_ALS_BM25);
    tt_model *m;
    int32_t users[USERS + 3];
    tt_scored *batch = malloc(sizeof(tt_scored) * (USERS + 3) * 10), one[10];

    p.precompute = 0;
    m = train(&p);
    for (int i = 0; i < USERS + 1; i++)
        users[i] = i;
    users[USERS + 1] = -1;
    users[USERS + 2] = USERS + 7;
    cr_assert_eq(tt_model_recommend_batch(m, users, USERS + 3, &ts.seen, 10, batch, NULL), 0);
    for (int32_t u = 0; u < USERS; u++) {
        int n = top(m, u, 10, false, one);
        for (int i = 0; i < 10; i++) {
            const tt_scored *b = &batch[u * 10 + i];
            cr_assert_eq(b->track, i < n ? one[i].track : -1, "user %d rank %d", u, i);
            if (i < n)
                cr_assert(fabsf(b->score - one[i].score) <= 1e-5f * (1 + fabsf(one[i].score)));
        }
    }
    for (int i = 0; i < 10; i++)
        cr_assert_eq(batch[(USERS + 2) * 10 + i].track, -1);
    free(batch);
    tt_model_free(m);
}

/*
 * Listeners of 3 tracks among 1,000: rows far shorter than n / 30, so the batch scores them
 * as sums of rows of B, not by sgemm (ease.c, SPARSE_RATE): the same lists as one by one.
 */
Test(ease, batch_by_rows_on_short_histories_equals_single_recommendations)
{
    tt_dataset *fixture_ds = ds;
    tt_train_set fixture_ts = ts;
    tt_ease_params p = params(TT_ALS_LOG);
    enum { N_USERS = 100, N_TRACKS = 1000 };
    int32_t users[N_USERS];
    tt_scored *batch = malloc(sizeof(tt_scored) * N_USERS * 10), one[10];
    tt_model *m;
    tt_rng rng;

    ds = with_tracks(N_TRACKS);
    tt_rng_seed(&rng, 11, 1);
    for (int i = 0; i < N_USERS; i++)
        for (int j = 0; j < 3; j++) {
            /* The first from a head of 40 tracks: rows of B shared by listeners. */
            int32_t t = (int32_t)tt_rng_below(&rng, j == 0 ? 40 : N_TRACKS);
            play(ds, i, t, (float)(1 + tt_rng_below(&rng, 9)), j);
        }
    tt_dataset_finish(ds);
    fx_train_set(ds, &ts);
    p.precompute = 0;
    m = train(&p);
    cr_assert(ts.conf.nnz * 60 < (int64_t)ts.conf.rows * tt_ease_tracks(m),
              "rows short enough for the by-rows path: %lld pairs, %d users, %d tracks",
              (long long)ts.conf.nnz, ts.conf.rows, tt_ease_tracks(m));
    for (int i = 0; i < N_USERS; i++)
        users[i] = i;
    cr_assert_eq(tt_model_recommend_batch(m, users, N_USERS, &ts.seen, 10, batch, NULL), 0);
    for (int32_t v = 0; v < N_USERS; v++) {
        int n = top(m, v, 10, false, one);
        cr_assert_eq(n, 10, "user %d", v);
        for (int i = 0; i < 10; i++) {
            const tt_scored *b = &batch[v * 10 + i];
            cr_assert_eq(b->track, one[i].track, "user %d rank %d", v, i);
            cr_assert(fabsf(b->score - one[i].score) <= 1e-5f * (1 + fabsf(one[i].score)));
        }
    }
    free(batch);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
    ds = fixture_ds;
    ts = fixture_ts;
}

Test(ease, save_and_load_give_identical_answers)
{
    tt_ease_params p = params(TT_ALS_BM25);
    tt_model *m = train(&p), *l = NULL;
    char dir[64], path[256];
    tt_scored a[10], b[10];
    tt_err err = {0};
    int rc;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "ease.ttm");
    rc = tt_model_save(m, path, &err);
    if (rc == 0)
        rc = tt_model_load(path, tt_catalog_checksum(ds), &l, &err);
    fx_rmtree(dir);
    cr_assert_eq(rc, 0, "save and load: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(l->name, "ease");
    cr_assert_eq(tt_ease_tracks(l), tt_ease_tracks(m));
    {
        tt_ease_stats st;
        cr_assert_eq(tt_ease_stats_of(m, &st), 0);
        cr_assert_eq(st.ranked_users, m->n_users, "every listener's list ranked at training");
        cr_assert(st.gram_seconds > 0 && st.inverse_seconds > 0 && st.rank_seconds > 0,
                  "stage times %g %g %g", st.gram_seconds, st.inverse_seconds, st.rank_seconds);
        cr_assert_eq(tt_ease_stats_of(l, &st), 0);
        cr_assert(st.gram_seconds == 0 && st.inverse_seconds == 0 && st.ranked_users == 0,
                  "a loaded model has no training stages");
        cr_assert_eq(tt_ease_stats_of(NULL, &st), TT_EINVAL);
    }
    for (int32_t u = 0; u < USERS + 1; u++) {
        for (int pass = 0; pass < 3; pass++) {
            int na = 0, nb = 0;
            if (pass < 2) {
                na = top(m, u, 10, pass == 1, a);
                nb = top(l, u, 10, pass == 1, b);
            } else {
                tt_model_similar(m, u % TRACKS, 10, a, &na, NULL);
                tt_model_similar(l, u % TRACKS, 10, b, &nb, NULL);
            }
            cr_assert_eq(na, nb);
            cr_assert(memcmp(a, b, sizeof(tt_scored) * (size_t)na) == 0, "user %d pass %d", u,
                      pass);
        }
        cr_assert_eq(m->ops->knows_user(m, u), l->ops->knows_user(l, u));
    }
    tt_model_free(l);
    tt_model_free(m);
}

Test(ease, damaged_files_and_bad_metadata_are_refused)
{
    tt_ease_params p = params(TT_ALS_LOG);
    tt_model *m = train(&p);
    char dir[64], path[256], missing[256];

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "ease.ttm");
    fx_path(missing, sizeof(missing), dir, "none.ttm");
    fx_expect_damaged_files_refused(m, path, missing);
    fx_save_model(m, path);
    fx_meta_set(path, "n_kept", 0);
    fx_expect_model_refused(path, "'n_kept'");
    fx_save_model(m, path);
    fx_meta_set(path, "n_kept", TRACKS + 5);
    fx_expect_model_refused(path, path);
    fx_save_model(m, path);
    fx_meta_set_f64(path, "lambda", -1.0);
    fx_expect_model_refused(path, "'lambda'");
    fx_rmtree(dir);
    tt_model_free(m);
}
