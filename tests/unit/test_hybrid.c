/*
 * The hybrid model: the blend search finds the part that predicts the held-out tracks,
 * tracks nobody has played reach listeners, dislikes never come back, fresh feedback changes
 * the list, and model files round-trip and are refused when damaged.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/hybrid.h"
#include "tt/modelfile.h"
#include "tt/models.h"
#include "tt/popularity.h"

#define K 10

static char dir[64];
static char path[256];

static void setup_dir(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "hybrid.ttm");
}

static void teardown_dir(void)
{
    fx_rmtree(dir);
}

/* ---- the weight search on planted data ---------------------------------------------------- */

/*
 * @n users of 100 candidates each, 5 relevant; part @best ranks the relevant ones first
 * (z 2 against noise), the other parts are noise. Deterministic.
 */
static tt_hybrid_vuser *planted(int n, int best)
{
    tt_hybrid_vuser *u = calloc((size_t)n, sizeof(*u));
    tt_rng rng;

    tt_rng_seed(&rng, 11, (uint64_t)best);
    for (int i = 0; i < n; i++) {
        u[i].n_cand = 100;
        u[i].n_rel = 5;
        u[i].z = calloc(100 * TT_HYBRID_COLS, sizeof(float));
        u[i].rel = calloc(100, 1);
        for (int j = 0; j < 100; j++) {
            u[i].rel[j] = j % 20 == 3;
            for (int p = 0; p < TT_HYBRID_PARTS; p++)
                u[i].z[j * TT_HYBRID_COLS + p] = (float)tt_rng_normal(&rng);
            if (u[i].rel[j])
                u[i].z[j * TT_HYBRID_COLS + best] += 2.5f;
        }
    }
    return u;
}

static void planted_free(tt_hybrid_vuser *u, int n)
{
    for (int i = 0; i < n; i++) {
        free(u[i].z);
        free(u[i].rel);
    }
    free(u);
}

static void expect_dominant(int best)
{
    tt_hybrid_vuser *u = planted(200, best);
    tt_hybrid_fit fit;
    float sum = 0.0f;

    memset(&fit, 0, sizeof(fit));
    tt_hybrid_search(u, 200, 20, 0.1, 0.005, NULL, &fit);
    for (int p = 0; p < TT_HYBRID_PARTS; p++) {
        sum += fit.weight[p];
        cr_assert(fit.weight[p] >= 0.0f);
        if (p != best)
            cr_assert_gt(fit.weight[best], fit.weight[p], "part %d: %g vs %d: %g", best,
                         fit.weight[best], p, fit.weight[p]);
    }
    cr_assert_gt(fit.weight[best], 0.5f, "planted part %d got only %g", best, fit.weight[best]);
    cr_assert_float_eq(sum, 1.0f, 1e-4);
    cr_assert_gt(fit.ndcg, fit.part_ndcg[(best + 1) % TT_HYBRID_PARTS]);
    cr_assert(fit.ndcg >= fit.part_ndcg[best] - 1e-9);
    planted_free(u, 200);
}

Test(hybrid_search, content_dominates_when_content_predicts)
{
    expect_dominant(TT_HYBRID_CONTENT);
}

Test(hybrid_search, als_dominates_when_als_predicts)
{
    expect_dominant(TT_HYBRID_ALS);
}

Test(hybrid_search, new_releases_may_not_cost_the_known_ranking_more_than_allowed)
{
    tt_hybrid_vuser *u = planted(100, TT_HYBRID_ALS);
    tt_hybrid_fit free_fit, bound_fit;

    /*
     * Odd listeners' relevant tracks are new releases, among 15 other new candidates; even
     * listeners' are known (ALS finds them) and they have 3 new candidates. A large bonus finds
     * the odd listeners' tracks but pushes the even listeners' hits down their lists.
     */
    for (int i = 0; i < 100; i++) {
        u[i].n_rel_new = i % 2 == 1 ? u[i].n_rel : 0;
        for (int j = 0; j < 100; j++) {
            bool fresh = i % 2 == 1 && u[i].rel[j];
            bool decoy = i % 2 == 1 ? j % 5 == 1 && j < 75 : j % 33 == 7;
            if (fresh || decoy) {
                u[i].z[j * TT_HYBRID_COLS + TT_HYBRID_ALS] = 0.0f;
                u[i].z[j * TT_HYBRID_COLS + TT_HYBRID_NEW] = 1.0f;
            }
            if (fresh)
                u[i].rel[j] = 2;
        }
    }
    memset(&free_fit, 0, sizeof(free_fit));
    memset(&bound_fit, 0, sizeof(bound_fit));
    tt_hybrid_search(u, 100, 20, 0.1, 1.0, NULL, &free_fit);
    tt_hybrid_search(u, 100, 20, 0.1, 0.0, NULL, &bound_fit);
    cr_assert_gt(free_fit.new_bonus, bound_fit.new_bonus, "bonus %g free, %g bound",
                 free_fit.new_bonus, bound_fit.new_bonus);
    cr_assert_gt(free_fit.ndcg, bound_fit.ndcg);
    cr_assert_lt(free_fit.known_ndcg, bound_fit.known_ndcg);
    planted_free(u, 100);
}

Test(hybrid_search, an_absent_part_gets_no_weight)
{
    tt_hybrid_vuser *u = planted(100, TT_HYBRID_CONTENT);
    bool present[TT_HYBRID_PARTS] = {true, false, true, true};
    tt_hybrid_fit fit;

    memset(&fit, 0, sizeof(fit));
    tt_hybrid_search(u, 100, 20, 0.1, 0.005, present, &fit);
    cr_assert_eq(fit.weight[TT_HYBRID_CONTENT], 0.0f);
    planted_free(u, 100);
}

Test(hybrid_search, new_release_bonus_is_learned_when_new_tracks_are_the_hits)
{
    tt_hybrid_vuser *u = planted(100, TT_HYBRID_ALS);
    tt_hybrid_fit fit;

    /* The relevant tracks are new releases: flagged, and ALS knows nothing of them. */
    for (int i = 0; i < 100; i++) {
        u[i].n_rel_new = u[i].n_rel;
        for (int j = 0; j < 100; j++)
            if (u[i].rel[j]) {
                u[i].rel[j] = 2;
                u[i].z[j * TT_HYBRID_COLS + TT_HYBRID_ALS] = 0.0f;
                u[i].z[j * TT_HYBRID_COLS + TT_HYBRID_NEW] = 1.0f;
            }
    }
    memset(&fit, 0, sizeof(fit));
    tt_hybrid_search(u, 100, 20, 0.1, 0.005, NULL, &fit);
    cr_assert_gt(fit.new_bonus, 0.0f);
    cr_assert_gt(fit.ndcg, 0.9);
    planted_free(u, 100);
}

/* ---- trained on fixture listeners --------------------------------------------------------- */

static tt_model_opts opts(void)
{
    tt_model_opts o = tt_model_opts_default();

    o.als = fx_als_params();
    o.threads = 2;
    o.seed = 7;
    o.hybrid.candidates = 60;
    return o;
}

static tt_model *train(const tt_train_set *ts)
{
    tt_model_opts o = opts();
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_models_train("hybrid", ts, &o, &m, &err);

    cr_assert_eq(rc, 0, "hybrid training failed: %s", tt_err_msg(&err, rc));
    return m;
}

/* The query serving builds for user @u: everything they touched excluded. */
static tt_query query_for(const tt_train_set *ts, int32_t u)
{
    tt_query q = {.user = u, .excludes_history = true};

    q.exclude = ts->seen.indices + ts->seen.indptr[u];
    q.n_exclude = (int32_t)tt_csr_row_nnz(&ts->seen, u);
    return q;
}

static int recommend(const tt_model *m, const tt_query *q, int k, tt_scored *out)
{
    tt_err err = {0};
    int n = 0, rc = tt_model_recommend(m, q, k, out, &n, &err);

    cr_assert_eq(rc, 0, "recommend failed: %s", tt_err_msg(&err, rc));
    return n;
}

Test(hybrid_model, recommends_tracks_nobody_played_by_sound)
{
    tt_dataset *ds = fx_sound_groups(4, 30, 60, 20, 7);
    tt_weighting w = tt_weighting_default();
    uint8_t *mask = malloc((size_t)ds->n_events + 1);
    tt_train_set ts;
    tt_model *m, *pop;
    tt_model_opts o = opts();
    tt_err err = {0};
    int32_t *excl = malloc((size_t)tt_dataset_n_tracks(ds) * sizeof(int32_t)), n_excl = 0;
    int32_t n_cold = 0;
    tt_scored out[K];

    /* Every event of one track in five is dropped: new releases, in the catalog, unplayed. */
    for (int64_t i = 0; i < ds->n_events; i++)
        mask[i] = ds->ev_track[i] % 5 != 2;
    tt_train_set_build(ds, mask, &w, &ts);
    m = train(&ts);
    cr_assert_eq(tt_models_train("popularity", &ts, &o, &pop, &err), 0);
    /* Exclude every played track: only tracks nobody has played are left to recommend. */
    for (int32_t t = 0; t < tt_dataset_n_tracks(ds); t++) {
        if (tt_popularity_score(pop, t) > 0.0f)
            excl[n_excl++] = t;
        else
            n_cold++;
    }
    cr_assert_geq(n_cold, 2 * K, "the fixture should leave tracks unplayed (%d)", n_cold);
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u += 17) {
        tt_query q = {.user = u, .exclude = excl, .n_exclude = n_excl, .excludes_history = true};
        int n = recommend(m, &q, K, out), same = 0;
        cr_assert_eq(n, K, "user %d got %d new tracks", u, n);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(tt_popularity_score(pop, out[i].track), 0.0f);
            same += fx_track_group(ds, out[i].track) == fx_user_group(ds, u);
        }
        /* Their sound matches the listener's group, so most of the list is from it. */
        cr_assert_geq(same, K * 7 / 10, "user %d: %d of %d new tracks from their group", u,
                      same, n);
    }
    tt_model_free(pop);
    tt_model_free(m);
    free(excl);
    free(mask);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_model, never_returns_a_disliked_or_heard_track)
{
    tt_dataset *ds = fx_sound_groups(3, 20, 50, 15, 3);
    tt_train_set ts;
    tt_model *m;
    tt_scored out[60];
    int disliked = 0;

    fx_train_set(ds, &ts);
    m = train(&ts);
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u++) {
        tt_query q = query_for(&ts, u);
        const int32_t *idx;
        const float *val;
        int32_t n_seen = fx_row(&ts.seen, u, &idx, &val);
        int n = recommend(m, &q, 60, out);
        for (int32_t j = 0; j < n_seen; j++)
            disliked += val[j] < 0.0f;
        for (int i = 0; i < n; i++)
            cr_assert(!fx_contains(idx, n_seen, out[i].track),
                      "user %d got track %d they already heard or disliked", u, out[i].track);
    }
    cr_assert_gt(disliked, 0, "the fixture has dislikes");
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_model, fresh_feedback_changes_the_list)
{
    tt_dataset *ds = fx_sound_groups(4, 25, 50, 15, 5);
    tt_train_set ts;
    tt_model *m;
    tt_scored before[K], after[K];
    int32_t u = 0, hist[40], n_hist = 0, moved = 0, other = 0;
    float r[40];
    const int32_t *idx;
    const float *val;
    int32_t n_pos;

    fx_train_set(ds, &ts);
    m = train(&ts);
    n_pos = fx_row(&ts.conf, u, &idx, &val);
    for (int32_t j = 0; j < n_pos && n_hist < 20; j++, n_hist++)
        hist[n_hist] = idx[j], r[n_hist] = val[j];
    /* Ten likes, weighted as serving weighs fresh feedback, for another group's tracks. */
    for (int32_t t = 0; t < tt_dataset_n_tracks(ds) && n_hist < 30; t++)
        if (fx_track_group(ds, t) == (fx_user_group(ds, u) + 2) % 4)
            hist[n_hist] = t, r[n_hist++] = 40.0f;
    {
        tt_query q = query_for(&ts, u);
        int nb = recommend(m, &q, K, before), na;
        q.hist = hist, q.hist_conf = r, q.n_hist = n_hist;
        na = recommend(m, &q, K, after);
        cr_assert_eq(nb, K);
        cr_assert_eq(na, K);
        for (int i = 0; i < K; i++) {
            moved += !fx_scored_contains(before, K, after[i].track);
            other += fx_track_group(ds, after[i].track) == (fx_user_group(ds, u) + 2) % 4;
        }
    }
    cr_assert_gt(moved, 0, "the list did not change");
    cr_assert_gt(other, 0, "nothing of the newly liked group entered the list");
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- files ------------------------------------------------------------------------------- */

static void parts_of(const tt_train_set *ts, tt_model *part[TT_HYBRID_PARTS])
{
    tt_model_opts o = opts();
    tt_err err = {0};

    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        cr_assert_eq(tt_models_train(tt_hybrid_part_names[i], ts, &o, &part[i], &err), 0);
}

Test(hybrid_file, round_trips_weights_and_answers, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_sound_groups(3, 20, 40, 12, 9);
    tt_train_set ts;
    tt_model *m, *loaded = NULL, *part[TT_HYBRID_PARTS];
    tt_hybrid_fit a, b;
    tt_scored x[K], y[K];
    tt_err err = {0};
    int rc;

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert_eq(tt_model_save(m, path, &err), 0, "%s", err.message);
    rc = tt_model_load(path, tt_catalog_checksum(ds), &loaded, &err);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_str_eq(loaded->ops->kind, "hybrid");
    cr_assert(tt_hybrid_fit_of(m, &a));
    cr_assert(tt_hybrid_fit_of(loaded, &b));
    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        cr_assert_eq(a.weight[i], b.weight[i]);
    cr_assert_eq(a.new_bonus, b.new_bonus);
    cr_assert_eq(a.ndcg, b.ndcg);
    cr_assert_eq(a.users, b.users);
    {
        tt_query q = query_for(&ts, 4);
        int n = 0;
        /* Without parts the loaded model cannot rank, and says so. */
        cr_assert_eq(tt_model_recommend(loaded, &q, K, y, &n, &err), TT_ESTATE);
        parts_of(&ts, part);
        cr_assert_eq(tt_hybrid_attach(loaded, part, true, &err), 0, "%s", err.message);
        cr_assert_eq(recommend(m, &q, K, x), recommend(loaded, &q, K, y));
        for (int i = 0; i < K; i++)
            cr_assert_eq(x[i].track, y[i].track, "rank %d: %d vs %d", i, x[i].track, y[i].track);
    }
    tt_model_free(loaded);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_file, refuses_parts_of_the_wrong_kind)
{
    tt_dataset *ds = fx_sound_groups(2, 15, 30, 10, 2);
    tt_train_set ts;
    tt_model *m, *part[TT_HYBRID_PARTS], *swapped[TT_HYBRID_PARTS];
    tt_err err = {0};

    fx_train_set(ds, &ts);
    m = train(&ts);
    parts_of(&ts, part);
    memcpy(swapped, part, sizeof(swapped));
    swapped[TT_HYBRID_POPULARITY] = part[TT_HYBRID_TRENDING];
    cr_assert_eq(tt_hybrid_attach(m, swapped, false, &err), TT_EINVAL);
    for (int i = 0; i < TT_HYBRID_PARTS; i++)
        tt_model_free(part[i]);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_file, refuses_a_damaged_file, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_sound_groups(2, 15, 30, 10, 4);
    tt_train_set ts;
    tt_model *m, *loaded = NULL;
    tt_err err = {0};
    int64_t size;

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert_eq(tt_model_save(m, path, &err), 0);
    size = fx_file_size(path);
    fx_flip_byte(path, size / 2, 0x40);
    cr_assert_eq(tt_model_load(path, 0, &loaded, &err), TT_ECORRUPT);
    cr_assert_null(loaded);
    cr_assert(strstr(err.message, path) != NULL, "message should name the file: %s",
              err.message);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* Rewrites the saved model with its w_als moved by 0.5, everything else kept byte for byte. */
static void write_skewed(const char *from, const char *to)
{
    tt_mfile *f = NULL;
    tt_mfile_writer *w = NULL;
    const void *meta, *artists;
    int64_t rows = -1, cols = -1, arows = -1, acols = -1;
    tt_err err = {0};
    uint8_t *bytes, *at;
    double v;

    cr_assert_eq(tt_mfile_open(from, &f, &err), 0);
    cr_assert_eq(tt_mfile_get(f, "meta", TT_DT_META, &rows, &cols, &meta, &err), 0);
    cr_assert_eq(tt_mfile_get(f, "track_artist", TT_DT_I32, &arows, &acols, &artists, &err), 0);
    bytes = malloc((size_t)(rows * cols));
    memcpy(bytes, meta, (size_t)(rows * cols));
    at = memmem(bytes, (size_t)(rows * cols), "w_als", 5);
    cr_assert_not_null(at);
    at += 5 + 1; /* the name, then the type byte: the value's 8 bytes follow */
    memcpy(&v, at, 8);
    v = v > 0.5 ? v - 0.5 : v + 0.5;
    memcpy(at, &v, 8);
    cr_assert_eq(tt_mfile_create(to, "hybrid", tt_mfile_catalog(f), &w, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_META, rows, cols, bytes, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "track_artist", TT_DT_I32, arows, acols, artists, &err), 0);
    cr_assert_eq(tt_mfile_commit(w, &err), 0, "%s", err.message);
    free(bytes);
    tt_mfile_close(f);
}

Test(hybrid_file, refuses_weights_that_do_not_sum_to_one, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_sound_groups(2, 15, 30, 10, 6);
    tt_train_set ts;
    tt_model *m, *loaded = NULL;
    tt_err err = {0};
    char skewed[300];

    fx_train_set(ds, &ts);
    m = train(&ts);
    cr_assert_eq(tt_model_save(m, path, &err), 0);
    fx_path(skewed, sizeof(skewed), dir, "skewed.ttm");
    write_skewed(path, skewed);
    cr_assert_eq(tt_model_load(skewed, 0, &loaded, &err), TT_ECORRUPT);
    cr_assert_null(loaded);
    cr_assert(strstr(err.message, "sum") && strstr(err.message, skewed), "%s", err.message);
    /* The untouched file still loads. */
    cr_assert_eq(tt_model_load(path, 0, &loaded, &err), 0, "%s", err.message);
    tt_model_free(loaded);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}
