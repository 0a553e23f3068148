/*
 * NeuMF: fitting planted taste groups, the per-epoch history, determinism for a seed and
 * thread count, save/load, corrupt files, exclusions and the allow mask, fold-in of an
 * unknown listener, batch against single recommendations, tt_neumf_score against the
 * ranking, and parameter checks.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/models.h"
#include "tt/neumf.h"

#define GROUPS 4
#define USERS_PER_GROUP 30
#define TRACKS_PER_GROUP 40
#define PLAYS 15
#define K 10

static tt_dataset *ds;
static tt_train_set ts;

static void setup(void)
{
    ds = fx_taste_groups(GROUPS, USERS_PER_GROUP, TRACKS_PER_GROUP, PLAYS, 11);
    fx_train_set(ds, &ts);
}

static void teardown(void)
{
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

TestSuite(neumf, .init = setup, .fini = teardown);

/*
 * Small towers, a larger step and fewer epochs than the defaults, which are sized for real
 * catalogs: 120 listeners of 15 tracks are memorised (training loss under 0.1) within 25
 * epochs, and then the unheard tracks of their group lose ground.
 */
static tt_neumf_params params(void)
{
    tt_neumf_params p = tt_neumf_params_default();

    p.factors = 8;
    p.layers[0] = 16, p.layers[1] = 8, p.layers[2] = 4;
    p.n_layers = 3;
    p.lr = 0.01f;
    p.batch = 128;
    p.epochs = 10;
    p.threads = 2;
    p.seed = 7;
    return p;
}

static tt_model *train(const tt_neumf_params *p)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_neumf_train(&ts, p, &m, &err);

    cr_assert_eq(rc, 0, "training failed: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(m);
    return m;
}

/* Top @k for stored user @u excluding everything they have seen. */
static int recommend_user(const tt_model *m, int32_t u, bool from_lists, int k, tt_scored *out)
{
    tt_query q = {.user = u, .excludes_history = from_lists};
    tt_err err = {0};
    int n = -1, rc;

    q.n_exclude = fx_row(&ts.seen, u, &q.exclude, NULL);
    rc = tt_model_recommend(m, &q, k, out, &n, &err);
    cr_assert_eq(rc, 0, "recommend failed: %s", tt_err_msg(&err, rc));
    return n;
}

static double own_group_share(const tt_model *m, bool from_lists)
{
    int32_t nu = tt_dataset_n_users(ds);
    tt_scored out[K];
    double share = 0.0;

    for (int32_t u = 0; u < nu; u++) {
        int n = recommend_user(m, u, from_lists, K, out), own = 0;
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++) {
            own += fx_track_group(ds, out[i].track) == fx_user_group(ds, u);
            if (i > 0)
                cr_assert(out[i - 1].score >= out[i].score, "sorted best first");
        }
        share += (double)own / n;
    }
    return share / nu;
}

Test(neumf, fits_planted_taste_groups)
{
    tt_neumf_params p = params();
    tt_model *m = train(&p);
    const tt_neumf_epoch *h;
    int n = tt_neumf_history(m, &h);
    double share = own_group_share(m, false);

    cr_assert_str_eq(m->name, "neumf");
    cr_assert_eq(m->n_users, tt_dataset_n_users(ds));
    cr_assert_eq(m->n_tracks, tt_dataset_n_tracks(ds));
    /* A random list would give 1/GROUPS = 25%; unheard own-group tracks are plenty. */
    cr_assert(share >= 0.8, "own-group share of the top %d is %.3f", K, share);
    cr_assert_float_eq(own_group_share(m, true), share, 1e-9, "the lists rank the same");
    cr_assert_eq(n, p.epochs);
    cr_assert(h[n - 1].loss < 0.8 * h[0].loss, "loss %f -> %f", h[0].loss, h[n - 1].loss);
    for (int i = 0; i < n; i++) {
        cr_assert(isfinite(h[i].hr10) && h[i].hr10 >= 0 && h[i].hr10 <= 1);
        cr_assert(i == 0 || h[i].seconds >= h[i - 1].seconds);
    }
    /* Held-out positives against 100 unheard tracks, three quarters of other groups. */
    cr_assert(h[n - 1].hr10 >= 0.5, "HR@10 %f", h[n - 1].hr10);
    tt_model_free(m);
}

Test(neumf, pretraining_runs_and_fits)
{
    tt_neumf_params p = params();
    tt_model *m;

    p.pretrain = true;
    p.epochs = 8;
    m = train(&p);
    cr_assert_eq(tt_neumf_history(m, NULL), 8, "pre-training epochs are not in the history");
    cr_assert(own_group_share(m, false) >= 0.8);
    tt_model_free(m);
}

/* Every track's score for users 0, 37, 119, concatenated. */
static void all_scores(const tt_model *m, float *out)
{
    static const int32_t users[] = {0, 37, 119};
    int32_t nt = m->n_tracks, *tracks = tt_malloc((size_t)nt * sizeof(int32_t));

    for (int32_t t = 0; t < nt; t++)
        tracks[t] = t;
    for (int i = 0; i < 3; i++) {
        tt_query q = {.user = users[i]};
        cr_assert_eq(tt_neumf_score(m, &q, tracks, nt, out + (size_t)i * nt, NULL), 0);
    }
    free(tracks);
}

Test(neumf, same_seed_and_threads_give_identical_models)
{
    tt_neumf_params p = params();
    int32_t nt = tt_dataset_n_tracks(ds);
    float *a = tt_malloc(3 * (size_t)nt * sizeof(float)), *b = tt_malloc(3 * (size_t)nt * 4);
    const tt_neumf_epoch *ha, *hb;
    tt_model *m1, *m2, *m3, *m4;

    p.epochs = 5;
    m1 = train(&p);
    m2 = train(&p);
    all_scores(m1, a);
    all_scores(m2, b);
    cr_assert(memcmp(a, b, 3 * (size_t)nt * sizeof(float)) == 0, "bit-identical scores");
    cr_assert_eq(tt_neumf_history(m1, &ha), tt_neumf_history(m2, &hb));
    cr_assert(memcmp(ha, hb, 5 * sizeof(*ha) - sizeof(float)) == 0 || ha[4].loss == hb[4].loss);
    for (int i = 0; i < 5; i++)
        cr_assert(ha[i].loss == hb[i].loss && ha[i].hr10 == hb[i].hr10);
    p.seed = 8;
    m3 = train(&p);
    all_scores(m3, b);
    cr_assert(memcmp(a, b, 3 * (size_t)nt * sizeof(float)) != 0, "another seed differs");
    /* One thread is deterministic too (its sums have another order, so its own model). */
    p.seed = 7;
    p.threads = 1;
    m4 = train(&p);
    all_scores(m4, b);
    tt_model_free(m4);
    m4 = train(&p);
    all_scores(m4, a);
    cr_assert(memcmp(a, b, 3 * (size_t)nt * sizeof(float)) == 0);
    tt_model_free(m1);
    tt_model_free(m2);
    tt_model_free(m3);
    tt_model_free(m4);
    free(a);
    free(b);
}

Test(neumf, save_load_round_trip_scores_identically)
{
    tt_neumf_params p = params();
    int32_t nt = tt_dataset_n_tracks(ds);
    float *a = tt_malloc(3 * (size_t)nt * sizeof(float)), *b = tt_malloc(3 * (size_t)nt * 4);
    tt_model *m, *l = NULL;
    const tt_neumf_epoch *ha, *hb;
    tt_scored r1[K], r2[K];
    char dir[64], path[256];
    tt_err err = {0};

    p.epochs = 5;
    m = train(&p);
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "neumf.ttm");
    cr_assert_eq(tt_model_save(m, path, &err), 0, "%s", err.message);
    cr_assert_eq(tt_model_load(path, m->catalog, &l, &err), 0, "%s", err.message);
    cr_assert_str_eq(l->ops->kind, "neumf");
    cr_assert_eq(l->n_users, m->n_users);
    all_scores(m, a);
    all_scores(l, b);
    cr_assert(memcmp(a, b, 3 * (size_t)nt * sizeof(float)) == 0);
    for (int32_t u = 0; u < m->n_users; u += 7) {
        for (int lists = 0; lists < 2; lists++) {
            int n1 = recommend_user(m, u, lists, K, r1), n2 = recommend_user(l, u, lists, K, r2);
            cr_assert_eq(n1, n2);
            cr_assert(memcmp(r1, r2, (size_t)n1 * sizeof(tt_scored)) == 0);
        }
    }
    cr_assert_eq(tt_neumf_history(l, &hb), tt_neumf_history(m, &ha));
    cr_assert(memcmp(ha, hb, 5 * sizeof(*ha)) == 0);
    tt_model_free(l);
    tt_model_free(m);
    fx_rmtree(dir);
    free(a);
    free(b);
}

Test(neumf, corrupt_and_truncated_files_are_refused)
{
    tt_neumf_params p = params();
    tt_model *m, *l = NULL;
    char dir[64], path[256];
    tt_err err = {0};
    int64_t size;

    p.epochs = 2;
    m = train(&p);
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "neumf.ttm");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    size = fx_file_size(path);
    fx_meta_set(path, "layer0", 15);
    fx_expect_model_refused(path, "even");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set(path, "k", 9);
    fx_expect_model_refused(path, "user_emb");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set(path, "n_layers", 9);
    fx_expect_model_refused(path, "n_layers");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_flip_byte(path, size / 2, 0x40);
    fx_expect_model_refused(path, "");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_truncate(path, size - 100);
    cr_assert_lt(tt_model_load(path, 0, &l, &err), 0);
    cr_assert_null(l);
    cr_assert_not_null(strstr(err.message, path), "%s", err.message);
    tt_model_free(m);
    fx_rmtree(dir);
}

Test(neumf, heard_and_disliked_tracks_are_never_recommended)
{
    tt_neumf_params p = params();
    tt_model *m = train(&p);
    int32_t nt = m->n_tracks;
    tt_scored *out = tt_malloc((size_t)nt * sizeof(*out));

    for (int32_t u = 0; u < m->n_users; u += 3) {
        const int32_t *seen;
        const float *val;
        int32_t ns = fx_row(&ts.seen, u, &seen, &val), disliked = -1;
        for (int32_t j = 0; j < ns; j++)
            disliked = val[j] < 0 ? seen[j] : disliked;
        cr_assert_geq(disliked, 0, "every fixture user disliked one track");
        for (int lists = 0; lists < 2; lists++) {
            int n = recommend_user(m, u, lists, K, out);
            for (int i = 0; i < n; i++)
                cr_assert(!fx_contains(seen, ns, out[i].track));
        }
        /* The whole ranking: everything but what they saw, the disliked track never. */
        cr_assert_eq(recommend_user(m, u, false, nt, out), nt - ns);
        cr_assert(!fx_scored_contains(out, nt - ns, disliked));
    }
    free(out);
    tt_model_free(m);
}

Test(neumf, allow_mask_is_honoured)
{
    tt_neumf_params p = params();
    tt_model *m = train(&p);
    int32_t nt = m->n_tracks, allowed = 0;
    uint8_t *allow = tt_calloc((size_t)nt, 1);
    tt_scored *out = tt_malloc((size_t)nt * sizeof(*out));

    /* Only group 2's tracks, for a user of group 0 (not their taste) and one of group 2. */
    for (int32_t t = 0; t < nt; t++)
        allowed += allow[t] = fx_track_group(ds, t) == 2;
    for (int32_t u = 0; u < m->n_users; u += USERS_PER_GROUP * 2) {
        for (int lists = 0; lists < 2; lists++) {
            const int32_t *seen;
            int32_t ns = fx_row(&ts.seen, u, &seen, NULL), heard_allowed = 0;
            tt_query q = {.user = u, .exclude = seen, .n_exclude = ns, .allow = allow,
                          .excludes_history = lists};
            int n = 0;
            for (int32_t j = 0; j < ns; j++)
                heard_allowed += allow[seen[j]];
            cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, NULL), 0);
            cr_assert_eq(n, K);
            for (int i = 0; i < n; i++)
                cr_assert(allow[out[i].track]);
            cr_assert_eq(tt_model_recommend(m, &q, nt, out, &n, NULL), 0);
            cr_assert_eq(n, allowed - heard_allowed);
        }
    }
    free(allow);
    free(out);
    tt_model_free(m);
}

Test(neumf, fold_in_ranks_the_history_group_first)
{
    tt_neumf_params p = params();
    tt_model *m = train(&p);
    tt_scored out[K];

    for (int g = 0; g < GROUPS; g++) {
        int32_t hist[12];
        float conf[12];
        int nh = 0, n = 0, own = 0;
        for (int32_t t = 0; t < m->n_tracks && nh < 12; t++)
            if (fx_track_group(ds, t) == g)
                hist[nh] = t, conf[nh] = 1.0f + (float)(nh % 3), nh++;
        tt_query q = {.user = -1, .hist = hist, .hist_conf = conf, .n_hist = nh,
                      .exclude = hist, .n_exclude = nh};
        tt_err err = {0};
        int rc = tt_model_recommend(m, &q, K, out, &n, &err);
        cr_assert_eq(rc, 0, "%s", err.message);
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++) {
            own += fx_track_group(ds, out[i].track) == g;
            cr_assert(!fx_contains(hist, nh, out[i].track));
        }
        cr_assert_geq(own, 8, "group %d: %d of %d from the history's group", g, own, K);
        /* The same history folds in to the same list. */
        tt_scored again[K];
        cr_assert_eq(tt_model_recommend(m, &q, K, again, &n, NULL), 0);
        cr_assert(memcmp(out, again, sizeof(out)) == 0);
    }
    /* No history and no stored user: not found. */
    tt_query none = {.user = -1};
    int n = 0;
    cr_assert_eq(tt_model_recommend(m, &none, K, out, &n, NULL), TT_ENOTFOUND);
    tt_model_free(m);
}

Test(neumf, batch_matches_single_recommendations)
{
    tt_neumf_params p = params();
    tt_model *m;
    int32_t nu = tt_dataset_n_users(ds), *users = tt_malloc((size_t)(nu + 1) * sizeof(int32_t));
    tt_scored *batch = tt_malloc((size_t)(nu + 1) * K * sizeof(tt_scored)), one[K];

    p.precompute = 0;
    m = train(&p);
    for (int32_t u = 0; u < nu; u++)
        users[u] = u;
    users[nu] = -1; /* unknown users get empty rows */
    cr_assert_eq(tt_model_recommend_batch(m, users, nu + 1, &ts.seen, K, batch, NULL), 0);
    for (int32_t u = 0; u < nu; u++) {
        int n = recommend_user(m, u, false, K, one);
        cr_assert_eq(n, K);
        for (int i = 0; i < K; i++) {
            cr_assert_eq(batch[(size_t)u * K + i].track, one[i].track, "user %d rank %d", u, i);
            cr_assert_eq(batch[(size_t)u * K + i].score, one[i].score);
        }
    }
    for (int i = 0; i < K; i++)
        cr_assert_eq(batch[(size_t)nu * K + i].track, -1);
    free(users);
    free(batch);
    tt_model_free(m);
}

Test(neumf, score_agrees_with_the_ranking)
{
    tt_neumf_params p = params();
    tt_model *m = train(&p);
    tt_scored out[20];
    int32_t tracks[20], rev[20];
    float s[20], sr[20];

    for (int32_t u = 0; u < m->n_users; u += 11) {
        int n = recommend_user(m, u, false, 20, out);
        tt_query q = {.user = u};
        for (int i = 0; i < n; i++)
            tracks[i] = out[i].track, rev[n - 1 - i] = out[i].track;
        cr_assert_eq(tt_neumf_score(m, &q, tracks, n, s, NULL), 0);
        cr_assert_eq(tt_neumf_score(m, &q, rev, n, sr, NULL), 0);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(s[i], out[i].score, "user %d rank %d: %f vs %f", u, i, s[i],
                         out[i].score);
            cr_assert_eq(sr[n - 1 - i], s[i], "order of candidates does not matter");
        }
    }
    /* Fold-in: the same scores through both paths. */
    int32_t hist[3] = {0, 1, 2};
    float conf[3] = {1, 1, 1};
    tt_query q = {.user = -1, .hist = hist, .hist_conf = conf, .n_hist = 3, .exclude = hist,
                  .n_exclude = 3};
    int n = 0;
    cr_assert_eq(tt_model_recommend(m, &q, 20, out, &n, NULL), 0);
    for (int i = 0; i < n; i++)
        tracks[i] = out[i].track;
    cr_assert_eq(tt_neumf_score(m, &q, tracks, n, s, NULL), 0);
    for (int i = 0; i < n; i++)
        cr_assert_eq(s[i], out[i].score);
    int32_t bad = m->n_tracks;
    tt_err err = {0};
    cr_assert_eq(tt_neumf_score(m, &q, &bad, 1, s, &err), TT_EINVAL);
    tt_model_free(m);
}

Test(neumf, trained_through_the_model_table)
{
    tt_model_opts o = tt_model_opts_default();
    tt_model *m = NULL;
    tt_err err = {0};

    cr_assert_not_null(tt_models_find("neumf"));
    cr_assert_eq(tt_models_find("neumf")->tier, TT_TIER_PRO);
    o.neumf = params();
    o.neumf.epochs = 2;
    o.threads = 2;
    cr_assert_eq(tt_models_train("neumf", &ts, &o, &m, &err), 0, "%s", err.message);
    cr_assert_str_eq(m->ops->kind, "neumf");
    cr_assert_eq(tt_neumf_history(m, NULL), 2);
    tt_model_free(m);
}

Test(neumf, bad_parameters_are_refused)
{
    tt_neumf_params p = params();
    tt_model *m = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_neumf_params_check(&p, NULL), 0);
    p.layers[0] = 15;
    cr_assert_eq(tt_neumf_train(&ts, &p, &m, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "layers");
    cr_assert_null(m);
    p = params();
    p.n_layers = 1;
    cr_assert_eq(tt_neumf_params_check(&p, NULL), TT_EINVAL);
    p = params();
    p.epochs = 0;
    cr_assert_eq(tt_neumf_params_check(&p, NULL), TT_EINVAL);
    p = params();
    p.lr = NAN;
    cr_assert_eq(tt_neumf_params_check(&p, NULL), TT_EINVAL);
    p = params();
    p.negatives = -1;
    cr_assert_eq(tt_neumf_params_check(&p, NULL), TT_EINVAL);
}
