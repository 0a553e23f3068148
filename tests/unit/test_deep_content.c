/*
 * The deep content model: the network learns ALS's track factors from content (the held-out
 * cosine is high and tracks of one sound group get neighbouring factors), tracks nobody played
 * reach the listeners whose taste they sound like, recommend keeps to its query, model files
 * round-trip and are refused when damaged or paired with another ALS model, and training is
 * repeatable and refuses what it cannot learn from.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/deep_content.h"
#include "tt/modelfile.h"
#include "tt/models.h"

#define K 10
#define GROUPS 4

static char dir[64];
static char path[256];

/* One trained model per test process: the sound-groups fixture with every event kept. */
static tt_dataset *fds;
static tt_train_set fts;
static tt_model *fals, *fcontent, *fm;

/* ---- helpers ------------------------------------------------------------------------------ */

static tt_model *train_als(const tt_train_set *ts, uint64_t seed)
{
    tt_als_params p = fx_als_params();
    tt_model *m = NULL;
    tt_err err = {0};
    int rc;

    p.seed = seed;
    rc = tt_als_train(ts, &p, &m, &err);
    cr_assert_eq(rc, 0, "als: %s", tt_err_msg(&err, rc));
    return m;
}

static tt_model *train_content(const tt_train_set *ts)
{
    tt_content_params p = tt_content_params_default();
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_content_train(ts, &p, &m, &err);

    cr_assert_eq(rc, 0, "content: %s", tt_err_msg(&err, rc));
    return m;
}

static tt_model *train_dc(const tt_train_set *ts, const tt_deep_content_params *p, tt_model *als,
                          const tt_model *content)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_deep_content_train(ts, p, als, false, content, &m, &err);

    cr_assert_eq(rc, 0, "deep_content: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(m);
    cr_assert_str_eq(m->ops->kind, "deep_content");
    return m;
}

static void setup_model(void)
{
    tt_deep_content_params p = tt_deep_content_params_default();

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "deep_content.ttm");
    fds = fx_sound_groups(GROUPS, 30, 60, 20, 7);
    fx_train_set(fds, &fts);
    fals = train_als(&fts, 7);
    fcontent = train_content(&fts);
    fm = train_dc(&fts, &p, fals, fcontent);
}

static void teardown_model(void)
{
    tt_model_free(fm);
    tt_model_free(fcontent);
    tt_model_free(fals);
    tt_train_set_release(&fts);
    tt_dataset_free(fds);
    fx_rmtree(dir);
}

static const float *factors(const tt_model *m, int *k)
{
    const float *y = tt_deep_content_factors(m, k);

    cr_assert_not_null(y);
    cr_assert(*k > 0);
    return y;
}

static double cosine(const float *a, const float *b, int k)
{
    double ab = 0, aa = 0, bb = 0;

    for (int j = 0; j < k; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

static int recommend(const tt_model *m, const tt_query *q, int k, tt_scored *out)
{
    tt_err err = {0};
    int n = -1, rc = tt_model_recommend(m, q, k, out, &n, &err);

    cr_assert_eq(rc, 0, "recommend failed: %s", tt_err_msg(&err, rc));
    cr_assert(n >= 0 && n <= k);
    return n;
}

static void expect_same_factors(const tt_model *a, const tt_model *b)
{
    int ka = 0, kb = 0;
    const float *ya = factors(a, &ka), *yb = factors(b, &kb);

    cr_assert_eq(ka, kb);
    cr_assert_eq(a->n_tracks, b->n_tracks);
    cr_assert_eq(memcmp(ya, yb, (size_t)a->n_tracks * ka * sizeof(float)), 0, "the factors differ");
}

/* ---- what the network learns -------------------------------------------------------------- */

Test(fit, the_held_out_cosine_is_clearly_positive, .init = setup_model, .fini = teardown_model)
{
    double cos = -2;
    int32_t n = -1;

    cr_assert(tt_deep_content_fit_of(fm, &cos, &n));
    /* Every track has 20+ listeners on average; nearly all of them are learned from. */
    cr_assert_gt(n, 150, "learned from %d tracks", n);
    cr_assert_leq(n, fm->n_tracks);
    /* Content tells the group, not the track within it: well above chance (0), not near 1. */
    cr_assert_gt(cos, 0.4, "validation cosine %g", cos);
    cr_assert_leq(cos, 1.0);
    cr_assert_not(tt_deep_content_fit_of(fals, &cos, &n), "ALS is not a deep content model");
    cr_assert_null(tt_deep_content_factors(fcontent, &(int){0}));
}

Test(fit, tracks_of_one_sound_group_get_neighbouring_factors, .init = setup_model,
     .fini = teardown_model)
{
    int k = 0;
    const float *y = factors(fm, &k);
    double within = 0, across = 0;
    int64_t n_within = 0, n_across = 0;

    for (int32_t a = 0; a < fm->n_tracks; a++) {
        for (int32_t b = a + 1; b < fm->n_tracks; b++) {
            double c = cosine(y + (size_t)a * k, y + (size_t)b * k, k);
            if (fx_track_group(fds, a) == fx_track_group(fds, b))
                within += c, n_within++;
            else
                across += c, n_across++;
        }
    }
    within /= (double)n_within;
    across /= (double)n_across;
    cr_assert_gt(within, 0.8, "mean cosine within a group %g", within);
    cr_assert_gt(within, across + 0.8, "within %g, across %g", within, across);
}

Test(fit, predicted_factors_point_where_als_put_the_track, .init = setup_model,
     .fini = teardown_model)
{
    int k = 0, ka = 0;
    const float *inv, *y = factors(fm, &k), *ya = tt_als_track_factors(fals, &ka, &inv);
    int closest_own = 0;

    cr_assert_eq(k, ka);
    cr_assert_eq(k, fx_als_params().factors);
    /*
     * Each predicted vector is nearer ALS's own vector of the track than, on average, ALS's
     * vectors of the other groups' tracks.
     */
    for (int32_t t = 0; t < fm->n_tracks; t++) {
        double own = cosine(y + (size_t)t * k, ya + (size_t)t * k, k), other = 0;
        int n_other = 0;
        for (int32_t s = 0; s < fm->n_tracks; s++)
            if (fx_track_group(fds, s) != fx_track_group(fds, t))
                other += cosine(y + (size_t)t * k, ya + (size_t)s * k, k), n_other++;
        closest_own += own > other / n_other + 0.2;
    }
    cr_assert_gt(closest_own, fm->n_tracks * 9 / 10, "%d of %d tracks", closest_own, fm->n_tracks);
}

/* ---- tracks nobody has played -------------------------------------------------------------- */

static bool is_cold(int32_t t)
{
    return t % 6 == 1;
}

Test(cold, held_out_tracks_reach_listeners_of_their_sound)
{
    tt_dataset *ds = fx_sound_groups(GROUPS, 30, 60, 20, 11);
    tt_weighting w = tt_weighting_default();
    uint8_t *mask = malloc((size_t)ds->n_events + 1);
    int32_t nt = tt_dataset_n_tracks(ds), nu = tt_dataset_n_users(ds);
    int32_t *cold = malloc((size_t)nt * sizeof(int32_t)), n_cold = 0;
    int32_t *warm = malloc((size_t)nt * sizeof(int32_t)), n_warm = 0;
    float *s = malloc((size_t)nt * sizeof(float));
    tt_model_opts o = tt_model_opts_default();
    tt_train_set ts;
    tt_model *m = NULL;
    tt_err err = {0};
    tt_scored out[K];
    double ordered = 0, pairs = 0;
    int rc, own_top = 0, lists = 0;

    /* Every event of one track in six is held out: in the catalog, with content, unplayed. */
    for (int64_t i = 0; i < ds->n_events; i++)
        mask[i] = !is_cold(ds->ev_track[i]);
    tt_train_set_build(ds, mask, &w, &ts);
    for (int32_t t = 0; t < nt; t++) {
        if (is_cold(t))
            cold[n_cold++] = t;
        else
            warm[n_warm++] = t;
    }
    cr_assert_eq(ts.conf.nnz > 0, true);
    for (int64_t i = 0; i < ts.conf.nnz; i++)
        cr_assert(!is_cold(ts.conf.indices[i]), "a held-out track has a positive");

    /* Through the model table, as `tunetrail train` does: ALS, content, then the network. */
    o.als = fx_als_params();
    o.threads = 2;
    o.seed = 7;
    rc = tt_models_train("deep_content", &ts, &o, &m, &err);
    cr_assert_eq(rc, 0, "deep_content: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(m->name, "deep_content");
    cr_assert_gt(m->train_seconds, 0.0);

    for (int32_t u = 0; u < nu; u++) {
        tt_query q = {.user = u};
        int g = fx_user_group(ds, u), n_own = 0;
        double uo = 0, up = 0;
        rc = tt_deep_content_score(m, &q, cold, n_cold, s, &err);
        cr_assert_eq(rc, 0, "user %d: %s", u, tt_err_msg(&err, rc));
        /* Every (own group's cold track, another group's cold track) pair, in order or not. */
        for (int32_t i = 0; i < n_cold; i++) {
            if (fx_track_group(ds, cold[i]) != g)
                continue;
            for (int32_t j = 0; j < n_cold; j++)
                if (fx_track_group(ds, cold[j]) != g)
                    uo += s[i] > s[j], up++;
        }
        cr_assert_gt(uo / up, 0.8, "user %d ranks own-group new tracks first in %g of pairs", u,
                     uo / up);
        ordered += uo, pairs += up;

        /* With only the new tracks left to recommend, the list is the listener's sound. */
        if (u % 7 == 0) {
            int n;
            q.exclude = warm, q.n_exclude = n_warm;
            n = recommend(m, &q, K, out);
            cr_assert_eq(n, K);
            for (int i = 0; i < n; i++) {
                cr_assert(is_cold(out[i].track));
                n_own += fx_track_group(ds, out[i].track) == g;
            }
            own_top += n_own;
            lists++;
        }
    }
    cr_assert_gt(ordered / pairs, 0.95, "own-group new tracks first in %g of pairs",
                 ordered / pairs);
    cr_assert_geq(own_top, lists * K * 9 / 10, "%d of %d new tracks from the own group", own_top,
                  lists * K);
    tt_model_free(m);
    free(s);
    free(warm);
    free(cold);
    free(mask);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- recommend and score ------------------------------------------------------------------- */

Test(query, recommend_honours_exclude_and_allow, .init = setup_model, .fini = teardown_model)
{
    int32_t nt = fm->n_tracks, excl[400], n_excl = 0, allowed = 0;
    uint8_t *allow = calloc((size_t)nt, 1);
    tt_scored out[60];
    float s[60];
    int32_t tr[60];
    tt_err err = {0};

    cr_assert_leq(nt, 400);
    /* Group 1 allowed; every third track excluded (ascending, as the contract asks). */
    for (int32_t t = 0; t < nt; t++) {
        allow[t] = fx_track_group(fds, t) == 1;
        if (t % 3 == 0)
            excl[n_excl++] = t;
        allowed += allow[t] && t % 3 != 0;
    }
    for (int32_t u = 0; u < fm->n_users; u += 13) {
        tt_query q = {.user = u, .exclude = excl, .n_exclude = n_excl, .allow = allow};
        int n = recommend(fm, &q, 60, out);
        /* 60 asked, fewer allowed and not excluded: all of them come back. */
        cr_assert_eq(n, allowed, "user %d: %d of %d", u, n, allowed);
        for (int i = 0; i < n; i++) {
            cr_assert(allow[out[i].track], "user %d got disallowed track %d", u, out[i].track);
            cr_assert_neq(out[i].track % 3, 0, "user %d got excluded track %d", u, out[i].track);
            if (i > 0)
                cr_assert_geq(out[i - 1].score, out[i].score, "not best first");
            tr[i] = out[i].track;
        }
        /* The scores are tt_deep_content_score's, bit for bit. */
        cr_assert_eq(tt_deep_content_score(fm, &q, tr, n, s, &err), 0);
        for (int i = 0; i < n; i++)
            cr_assert_eq(s[i], out[i].score, "rank %d", i);
    }
    free(allow);
}

Test(query, score_agrees_with_the_order_of_recommend, .init = setup_model, .fini = teardown_model)
{
    int32_t nt = fm->n_tracks, *all = malloc((size_t)nt * sizeof(int32_t));
    float *s = malloc((size_t)nt * sizeof(float));
    tt_scored out[K];
    tt_err err = {0};

    for (int32_t t = 0; t < nt; t++)
        all[t] = t;
    for (int32_t u = 0; u < fm->n_users; u += 11) {
        tt_query q = {.user = u};
        int n = recommend(fm, &q, K, out);
        cr_assert_eq(n, K);
        cr_assert_eq(tt_deep_content_score(fm, &q, all, nt, s, &err), 0);
        /* The list is exactly the top K of the scores: nothing outside it scores higher. */
        for (int i = 0; i < n; i++)
            cr_assert_eq(s[out[i].track], out[i].score);
        for (int32_t t = 0; t < nt; t++)
            if (!fx_scored_contains(out, n, t))
                cr_assert_leq(s[t], out[n - 1].score, "user %d: track %d beats the list", u, t);
    }
    /* Track ids outside the catalog score -inf rather than read out of bounds. */
    {
        tt_query q = {.user = 0};
        int32_t bad[2] = {-1, nt};
        cr_assert_eq(tt_deep_content_score(fm, &q, bad, 2, s, &err), 0);
        cr_assert(isinf(s[0]) && s[0] < 0);
        cr_assert(isinf(s[1]) && s[1] < 0);
    }
    free(s);
    free(all);
}

Test(query, a_new_listener_is_folded_in_from_history, .init = setup_model, .fini = teardown_model)
{
    int32_t u = 5, g = fx_user_group(fds, u), tr[K];
    const int32_t *idx;
    const float *val;
    int32_t n_pos = fx_row(&fts.conf, u, &idx, &val);
    tt_query q = {.user = -1, .hist = idx, .hist_conf = val, .n_hist = n_pos};
    tt_scored out[K];
    float s[K], x[64], y;
    tt_err err = {0};
    int k = 0, n, own = 0;
    const float *Y = factors(fm, &k);

    cr_assert_gt(n_pos, 5);
    q.exclude = fts.seen.indices + fts.seen.indptr[u];
    q.n_exclude = (int32_t)tt_csr_row_nnz(&fts.seen, u);
    n = recommend(fm, &q, K, out);
    cr_assert_eq(n, K);
    for (int i = 0; i < n; i++) {
        own += fx_track_group(fds, out[i].track) == g;
        tr[i] = out[i].track;
    }
    cr_assert_geq(own, 8, "%d of %d from the listener's group", own, n);
    /* The listener's vector is ALS's fold-in, scored against the predicted factors. */
    cr_assert_eq(tt_als_fold_in(fals, idx, val, n_pos, x, &err), 0);
    cr_assert_eq(tt_deep_content_score(fm, &q, tr, n, s, &err), 0);
    for (int i = 0; i < n; i++) {
        y = 0;
        for (int j = 0; j < k; j++)
            y += x[j] * Y[(size_t)tr[i] * k + j];
        cr_assert_float_eq(s[i], y, 1e-4f * (1 + fabsf(y)), "rank %d", i);
        cr_assert_eq(s[i], out[i].score);
    }
}

Test(query, an_unknown_listener_without_history_is_not_found, .init = setup_model,
     .fini = teardown_model)
{
    tt_query q = {.user = -1};
    tt_scored out[K];
    int32_t t = 0;
    float s;
    int n = 7;
    tt_err err = {0};

    cr_assert_eq(tt_model_recommend(fm, &q, K, out, &n, &err), TT_ENOTFOUND);
    cr_assert_eq(n, 0);
    tt_err_clear(&err);
    cr_assert_eq(tt_deep_content_score(fm, &q, &t, 1, &s, &err), TT_ENOTFOUND);
    q.user = fm->n_users;
    cr_assert_eq(tt_model_recommend(fm, &q, K, out, &n, NULL), TT_ENOTFOUND);
    /* Not a deep content model. */
    q.user = 0;
    cr_assert_eq(tt_deep_content_score(fals, &q, &t, 1, &s, NULL), TT_EINVAL);
}

/* ---- files ------------------------------------------------------------------------------- */

static tt_model *load_ok(const char *p)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_model_load(p, tt_catalog_checksum(fds), &m, &err);

    cr_assert_eq(rc, 0, "load: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(m->ops->kind, "deep_content");
    return m;
}

Test(files, round_trip_gives_identical_factors_and_answers, .init = setup_model,
     .fini = teardown_model)
{
    tt_model *m;
    tt_scored a[K], b[K];
    tt_query q = {.user = 3};
    double ca, cb;
    int32_t na, nb;
    int n = 0;
    tt_err err = {0};
    char again[256];

    fx_save_model(fm, path);
    m = load_ok(path);
    expect_same_factors(fm, m);
    cr_assert(tt_deep_content_fit_of(m, &cb, &nb));
    cr_assert(tt_deep_content_fit_of(fm, &ca, &na));
    cr_assert_eq(ca, cb);
    cr_assert_eq(na, nb);
    cr_assert_eq(m->n_users, fm->n_users);
    cr_assert_eq(m->trained_at, fm->trained_at);

    /* Without its ALS model the loaded model cannot rank, and says so. */
    cr_assert_eq(tt_model_recommend(m, &q, K, b, &n, &err), TT_ESTATE);
    cr_assert_eq(n, 0);
    cr_assert_eq(tt_deep_content_score(m, &q, &(int32_t){0}, 1, &(float){0}, NULL), TT_ESTATE);
    tt_err_clear(&err);
    cr_assert_eq(tt_deep_content_attach(m, fals, &err), 0, "%s", err.message);
    cr_assert_eq(recommend(fm, &q, K, a), K);
    cr_assert_eq(recommend(m, &q, K, b), K);
    for (int i = 0; i < K; i++) {
        cr_assert_eq(a[i].track, b[i].track, "rank %d", i);
        cr_assert_eq(a[i].score, b[i].score, "rank %d", i);
    }

    /* A loaded model saves what it loaded. */
    fx_save_model(m, fx_path(again, sizeof(again), dir, "again.ttm"));
    tt_model_free(m);
    m = load_ok(again);
    expect_same_factors(fm, m);
    tt_model_free(m);

    m = NULL;
    cr_assert_eq(tt_model_load(path, tt_catalog_checksum(fds) ^ 1, &m, &err), TT_ECORRUPT);
    cr_assert_null(m);
}

Test(files, attach_refuses_an_als_model_it_was_not_trained_against, .init = setup_model,
     .fini = teardown_model)
{
    tt_model *m, *other = train_als(&fts, 8);
    tt_query q = {.user = 0};
    tt_scored out[K];
    tt_err err = {0};
    int n = 0;

    fx_save_model(fm, path);
    m = load_ok(path);
    /* Same shape, other factors: the fingerprint tells them apart. */
    cr_assert_eq(tt_als_factors(other), tt_als_factors(fals));
    cr_assert_eq(tt_deep_content_attach(m, other, &err), TT_EINVAL);
    cr_assert_not_null(strstr(err.message, "other ALS factors"), "%s", err.message);
    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, NULL), TT_ESTATE, "still unattached");
    /* Not ALS at all, or not a deep content model. */
    cr_assert_eq(tt_deep_content_attach(m, fcontent, NULL), TT_EINVAL);
    cr_assert_eq(tt_deep_content_attach(fcontent, fals, NULL), TT_EINVAL);
    cr_assert_eq(tt_deep_content_attach(m, fals, NULL), 0);
    cr_assert_eq(recommend(m, &q, K, out), K);
    tt_model_free(m);
    tt_model_free(other);
}

Test(files, damaged_files_are_refused, .init = setup_model, .fini = teardown_model)
{
    char missing[300];

    fx_path(missing, sizeof(missing), dir, "missing.ttm");
    fx_expect_damaged_files_refused(fm, path, missing);
}

Test(files, bad_metadata_is_refused_naming_the_field, .init = setup_model, .fini = teardown_model)
{
    const struct {
        const char *field;
        uint64_t v;
    } bad_int[] = {
        {"factors", 0}, {"factors", 5000}, {"hidden1", 1},       {"content_dims", 0},
        {"batch", 0},   {"epochs", 0},     {"min_listeners", 0}, {"n_tracks", (uint64_t)-1},
    };
    char quoted[64];

    for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
        fx_save_model(fm, path);
        fx_meta_set(path, bad_int[i].field, bad_int[i].v);
        snprintf(quoted, sizeof(quoted), "'%s'", bad_int[i].field);
        fx_expect_model_refused(path, quoted);
    }
    fx_save_model(fm, path);
    fx_meta_set_f64(path, "validation_cosine", 2.0);
    fx_expect_model_refused(path, "'validation_cosine'");
    fx_save_model(fm, path);
    fx_meta_set_f64(path, "validation_cosine", NAN);
    fx_expect_model_refused(path, "'validation_cosine'");
}

/* The saved sections, in order, so a file can be rewritten with one of them changed. */
static const char *const sections[] = {"w1", "b1", "w2", "b2", "w3", "b3", "factors"};

typedef void (*mutate_fn)(const char *section, float *data, int64_t *rows, int64_t cols);

static void rewrite(const char *src, const char *dst, mutate_fn mutate)
{
    tt_mfile *f = NULL;
    tt_mfile_writer *w = NULL;
    int64_t rows = -1, cols = -1;
    const void *data;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_open(src, &f, &err), 0, "%s", err.message);
    cr_assert_eq(tt_mfile_create(dst, tt_mfile_kind(f), tt_mfile_catalog(f), &w, &err), 0);
    cr_assert_eq(tt_mfile_get(f, "meta", TT_DT_META, &rows, &cols, &data, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_META, rows, cols, data, &err), 0);
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        float *copy;
        rows = cols = -1;
        cr_assert_eq(tt_mfile_get(f, sections[i], TT_DT_F32, &rows, &cols, &data, &err), 0,
                     "%s: %s", sections[i], err.message);
        copy = tt_malloc((size_t)(rows * cols) * sizeof(float) + 1);
        memcpy(copy, data, (size_t)(rows * cols) * sizeof(float));
        if (mutate)
            mutate(sections[i], copy, &rows, cols);
        cr_assert_eq(tt_mfile_add(w, sections[i], TT_DT_F32, rows, cols, copy, &err), 0);
        free(copy);
    }
    cr_assert_eq(tt_mfile_commit(w, &err), 0, "%s", err.message);
    tt_mfile_close(f);
}

static void nan_factor(const char *s, float *d, int64_t *rows, int64_t cols)
{
    if (strcmp(s, "factors") == 0)
        d[(*rows / 2) * cols + 1] = NAN;
}

static void one_factor_row_short(const char *s, float *d, int64_t *rows, int64_t cols)
{
    (void)d, (void)cols;
    if (strcmp(s, "factors") == 0)
        (*rows)--;
}

static void w2_short(const char *s, float *d, int64_t *rows, int64_t cols)
{
    (void)d, (void)cols;
    if (strcmp(s, "w2") == 0)
        (*rows)--;
}

Test(files, inconsistent_sections_are_refused, .init = setup_model, .fini = teardown_model)
{
    const mutate_fn bad[] = {nan_factor, one_factor_row_short, w2_short};
    char good[256];
    tt_model *m = NULL;
    tt_err err = {0};

    fx_save_model(fm, fx_path(good, sizeof(good), dir, "good.ttm"));
    rewrite(good, path, NULL);
    m = load_ok(path);
    expect_same_factors(fm, m);
    tt_model_free(m);
    m = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rewrite(good, path, bad[i]);
        tt_err_clear(&err);
        cr_assert_eq(tt_model_load(path, 0, &m, &err), TT_ECORRUPT, "mutation %zu accepted", i);
        cr_assert_null(m);
        cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    }
    rewrite(good, path, nan_factor);
    fx_expect_model_refused(path, "non-finite");
}

/* ---- training ------------------------------------------------------------------------------ */

Test(train, the_same_seed_gives_identical_factors, .init = setup_model, .fini = teardown_model)
{
    tt_deep_content_params p = tt_deep_content_params_default();
    tt_model *a = train_dc(&fts, &p, fals, fcontent), *b;
    int k = 0;
    const float *ya, *yb;
    double ca, cb;
    int32_t na, nb;

    expect_same_factors(fm, a);
    cr_assert(tt_deep_content_fit_of(fm, &ca, &na));
    cr_assert(tt_deep_content_fit_of(a, &cb, &nb));
    cr_assert_eq(ca, cb);
    cr_assert_eq(na, nb);
    p.seed++;
    b = train_dc(&fts, &p, fals, fcontent);
    ya = factors(a, &k);
    yb = factors(b, &k);
    cr_assert_neq(memcmp(ya, yb, (size_t)a->n_tracks * k * sizeof(float)), 0,
                  "another seed should start and shuffle differently");
    tt_model_free(b);
    tt_model_free(a);
}

Test(train, bad_parameters_are_refused, .init = setup_model, .fini = teardown_model)
{
    tt_deep_content_params bad[10];
    int n = 0;

    for (int i = 0; i < 10; i++)
        bad[i] = tt_deep_content_params_default();
    bad[n++].hidden = 1;
    bad[n++].hidden = 5000;
    bad[n++].epochs = 0;
    bad[n++].batch = 0;
    bad[n++].batch = 70000;
    bad[n++].lr = 0.0f;
    bad[n++].lr = NAN;
    bad[n++].l2 = -1e-5f;
    bad[n++].l2 = NAN;
    bad[n++].min_listeners = 0;
    for (int i = 0; i < n; i++) {
        tt_model *m = NULL;
        tt_err err = {0};
        cr_assert_eq(tt_deep_content_train(&fts, &bad[i], fals, false, fcontent, &m, &err),
                     TT_EINVAL, "case %d accepted", i);
        cr_assert_null(m, "case %d", i);
        cr_assert_not_null(strstr(err.message, "deep_content"), "%s", err.message);
    }
}

Test(train, models_of_another_kind_or_catalog_are_refused, .init = setup_model,
     .fini = teardown_model)
{
    tt_deep_content_params p = tt_deep_content_params_default();
    tt_dataset *ds = fx_sound_groups(2, 10, 30, 10, 3);
    tt_train_set ts;
    tt_model *m = NULL, *other;

    fx_train_set(ds, &ts);
    other = train_content(&ts);
    cr_assert_eq(tt_deep_content_train(&fts, &p, NULL, false, fcontent, &m, NULL), TT_EINVAL);
    cr_assert_eq(tt_deep_content_train(&fts, &p, fals, false, NULL, &m, NULL), TT_EINVAL);
    cr_assert_eq(tt_deep_content_train(&fts, &p, fcontent, false, fals, &m, NULL), TT_EINVAL);
    cr_assert_eq(tt_deep_content_train(&fts, &p, fals, false, other, &m, NULL), TT_EINVAL);
    cr_assert_null(m);
    tt_model_free(other);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(train, too_few_tracks_with_listeners_is_a_state_error, .init = setup_model,
     .fini = teardown_model)
{
    tt_deep_content_params p = tt_deep_content_params_default();
    tt_model *m = NULL;
    tt_err err = {0};

    /* No track has 10,000 listeners. */
    p.min_listeners = 10000;
    cr_assert_eq(tt_deep_content_train(&fts, &p, fals, false, fcontent, &m, &err), TT_ESTATE);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.message, "20 needed"), "%s", err.message);
}

Test(train, a_small_catalog_is_a_state_error_through_the_model_table)
{
    /* 2 groups of 8 tracks: 16 tracks at most to learn from. */
    tt_dataset *ds = fx_sound_groups(2, 10, 8, 4, 5);
    tt_model_opts o = tt_model_opts_default();
    tt_train_set ts;
    tt_model *m = NULL;
    tt_err err = {0};

    o.als = fx_als_params();
    o.threads = 2;
    fx_train_set(ds, &ts);
    cr_assert_eq(tt_models_train("deep_content", &ts, &o, &m, &err), TT_ESTATE, "%s", err.message);
    cr_assert_null(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}
