/*
 * The hybrid deep ranker: on listeners whose taste is carried by the artist alone, the
 * network learns to rank by artist affinity where ALS cannot; serving honours exclusions,
 * allow masks and dislikes; model files round-trip and are refused when damaged; the same
 * seed gives the same model.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/hybrid_deep.h"
#include "tt/modelfile.h"
#include "tt/models.h"

#define K 10
#define F TT_HD_FEATURES
#define F_ARTIST 7
#define F_ALS_RANK 9

static char dir[64];
static char path[256];

static void setup_dir(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "hybrid_deep.ttm");
}

static void teardown_dir(void)
{
    fx_rmtree(dir);
}

/* ---- the planted dataset ------------------------------------------------------------------ */

/*
 * @n_artists artists of @tpa tracks each and @fans fans per artist. A fan plays @plays
 * distinct tracks of their artist (1..3 times) and @noise tracks drawn from the whole
 * catalog, so each track has a couple of listeners at most: too little overlap for the
 * collaborative parts to tell the artists apart, while the share of a listener's tracks by a
 * candidate's artist says it all. Every other fan also likes the next artist a little.
 * With @shuffle the artist labels are a random permutation of the tracks: the same listening,
 * but the artist says nothing. With @dislikes every third fan dislikes the last track of
 * their artist, which they never played. No genres or audio features. Deterministic.
 */
static tt_dataset *planted(int n_artists, int tpa, int fans, int plays, int noise, bool shuffle,
                           bool dislikes, uint64_t seed)
{
    int nt = n_artists * tpa;
    int *label = malloc((size_t)nt * sizeof(int)), *pick = malloc((size_t)tpa * sizeof(int));
    tt_dataset *ds = tt_dataset_new();
    char tid[32], aid[32], uid[32];
    tt_rng rng;

    tt_rng_seed(&rng, seed, 1);
    for (int t = 0; t < nt; t++)
        label[t] = t / tpa;
    for (int t = nt - 1; shuffle && t > 0; t--) {
        int j = (int)tt_rng_below(&rng, (uint64_t)t + 1), x = label[t];
        label[t] = label[j];
        label[j] = x;
    }
    for (int t = 0; t < nt; t++) {
        snprintf(tid, sizeof(tid), "t%04d", t);
        snprintf(aid, sizeof(aid), "a%03d", label[t]);
        fx_add_track(ds, tid, aid, NULL);
    }
    for (int u = 0; u < n_artists * fans; u++) {
        int a = u % n_artists;
        int64_t when = FX_T0 - 60 * FX_DAY + (int64_t)u * 97;
        snprintf(uid, sizeof(uid), "u%04d", u);
        for (int i = 0; i < tpa; i++)
            pick[i] = i;
        for (int i = 0; i < plays; i++) {
            int j = i + (int)tt_rng_below(&rng, (uint64_t)(tpa - i)), x = pick[i];
            pick[i] = pick[j];
            pick[j] = x;
            snprintf(tid, sizeof(tid), "t%04d", a * tpa + pick[i]);
            fx_add_event(ds, uid, tid, TT_ACT_PLAY, 1.0f + (float)tt_rng_below(&rng, 3),
                         when + i * 3600);
        }
        if (u % 2 == 1) {
            snprintf(tid, sizeof(tid), "t%04d", ((a + 1) % n_artists) * tpa +
                                                    (int)tt_rng_below(&rng, (uint64_t)tpa));
            fx_add_event(ds, uid, tid, TT_ACT_LIKE, 1.0f, when + 50 * 3600);
        }
        if (dislikes && u % 3 == 0) {
            snprintf(tid, sizeof(tid), "t%04d", a * tpa + pick[tpa - 1]);
            fx_add_event(ds, uid, tid, TT_ACT_DISLIKE, 1.0f, when + 60 * 3600);
        }
        for (int i = 0; i < noise; i++) {
            snprintf(tid, sizeof(tid), "t%04d", (int)tt_rng_below(&rng, (uint64_t)nt));
            fx_add_event(ds, uid, tid, TT_ACT_PLAY, 1.0f, when + (100 + i) * 3600);
        }
    }
    tt_dataset_finish(ds);
    free(label);
    free(pick);
    return ds;
}

static tt_model_opts opts(void)
{
    tt_model_opts o = tt_model_opts_default();

    o.als = fx_als_params();
    o.threads = 2;
    o.seed = 7;
    o.neumf.epochs = 3;
    o.neumf.validation_users = 0;
    o.neumf.precompute = 0;
    o.deep_content.epochs = 5;
    o.hybrid_deep.split.candidates = 80;
    o.hybrid_deep.split.validation = 0.2;
    o.hybrid_deep.epochs = 20;
    return o;
}

static tt_model *learn(const tt_train_set *ts, const tt_model_opts *o)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_hd_learn(ts, &o->hybrid_deep, o, &m, &err);

    cr_assert_eq(rc, 0, "hybrid_deep learning failed: %s", tt_err_msg(&err, rc));
    return m;
}

static tt_model *train(const tt_train_set *ts)
{
    tt_model_opts o = opts();
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_models_train("hybrid_deep", ts, &o, &m, &err);

    cr_assert_eq(rc, 0, "hybrid_deep training failed: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(m->ops->kind, "hybrid_deep");
    return m;
}

static tt_dataset *signal_data(void)
{
    return planted(30, 40, 8, 8, 2, false, true, 3);
}

static int most_important(const tt_hd_fit *fit)
{
    int best = 0;

    for (int j = 1; j < F; j++)
        if (fit->importance[j] > fit->importance[best])
            best = j;
    return best;
}

static void print_fit(const char *what, const tt_hd_fit *f)
{
    fprintf(stderr, "%s: ndcg %.3f (als %.3f) recall %.3f (als %.3f), %d+%d users, %lld pairs,"
                    " importance", what, f->ndcg, f->als_ndcg, f->recall, f->als_recall,
            f->train_users, f->test_users, (long long)f->pairs);
    for (int j = 0; j < F; j++)
        fprintf(stderr, " %s %.3f", tt_hd_feature_names[j], f->importance[j]);
    fprintf(stderr, "\n");
}

/* The fit of the ranker learned on planted(30, 40, 8, 8, 2, @shuffle, no dislikes, @seed). */
static tt_hd_fit fit_on_planted(bool shuffle, uint64_t seed)
{
    tt_dataset *ds = planted(30, 40, 8, 8, 2, shuffle, false, seed);
    tt_model_opts o = opts();
    tt_train_set ts;
    tt_model *m;
    tt_hd_fit fit;

    fx_train_set(ds, &ts);
    m = learn(&ts, &o);
    cr_assert(tt_hd_fit_of(m, &fit));
    print_fit(shuffle ? "shuffled" : "planted", &fit);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
    return fit;
}

Test(hybrid_deep_learn, finds_the_artist_signal_als_misses)
{
    tt_model_opts o = opts();
    tt_hd_fit fit = fit_on_planted(false, 3);

    cr_assert_gt(fit.test_users, 0);
    cr_assert_eq(fit.train_users + fit.test_users, 240, "every fan has enough positives");
    cr_assert_eq(fit.k, o.hybrid_deep.split.k);
    cr_assert_gt(fit.pairs, fit.test_users);
    /* Over the same candidates, the artist lifts the ranker well above ALS alone. */
    cr_assert_gt(fit.ndcg, 1.25 * fit.als_ndcg, "ranker %.3f vs ALS %.3f", fit.ndcg,
                 fit.als_ndcg);
    cr_assert_gt(fit.recall, fit.als_recall, "ranker %.3f vs ALS %.3f", fit.recall,
                 fit.als_recall);
    cr_assert_eq(most_important(&fit), F_ARTIST, "most important: %s",
                 tt_hd_feature_names[most_important(&fit)]);
    cr_assert_gt(fit.importance[F_ARTIST], 0.1);
    for (int j = 0; j < F; j++)
        if (j != F_ARTIST)
            cr_assert_lt(fit.importance[j], fit.importance[F_ARTIST] / 3, "%s: %.3f",
                         tt_hd_feature_names[j], fit.importance[j]);
    /* No genres and no content: those features are 0 everywhere and cannot matter. */
    cr_assert_eq(fit.importance[8], 0.0);
    cr_assert_eq(fit.importance[1], 0.0);
}

/*
 * Over four seeds of shuffled data: the artist says nothing on each, and ALS (its score and
 * its rank, two features that share what ALS found, so a permutation of one alone can read
 * as nothing) carries what the ranker learned on average. One seed's split between the two
 * ALS features moves with the floating-point details of the machine.
 */
Test(hybrid_deep_learn, shuffled_artists_carry_no_importance)
{
    double als = 0.0;

    cr_assert_str_eq(tt_hd_feature_names[F_ALS_RANK], "als_rank");
    for (uint64_t seed = 1; seed <= 4; seed++) {
        tt_hd_fit fit = fit_on_planted(true, seed);
        /* The same listening: the artist now says nothing. */
        cr_assert_lt(fabs(fit.importance[F_ARTIST]), 0.04, "seed %d: artist importance %.3f",
                     (int)seed, fit.importance[F_ARTIST]);
        cr_assert_neq(most_important(&fit), F_ARTIST);
        als += (fit.importance[0] + fit.importance[F_ALS_RANK]) / 4.0;
    }
    cr_assert_gt(als, 0.05, "ALS importance (score and rank), mean of 4 seeds %.3f", als);
}

/* ---- serving ------------------------------------------------------------------------------ */

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

static int artist_of(const tt_dataset *ds, int32_t t)
{
    return atoi(tt_ids_name(ds->artists, ds->track_artist[t]) + 1);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

Test(hybrid_deep_serve, honours_exclusions_allow_masks_and_dislikes)
{
    tt_dataset *ds = signal_data();
    int32_t nt = tt_dataset_n_tracks(ds), *excl = malloc((size_t)(nt + K) * sizeof(int32_t));
    uint8_t *allow = calloc((size_t)nt, 1);
    tt_train_set ts;
    tt_model *m;
    tt_scored out[K], first[K];
    int disliked = 0, own = 0, listed = 0;

    fx_train_set(ds, &ts);
    m = train(&ts);
    for (int32_t t = 0; t < nt; t += 3)
        allow[t] = 1;
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u += 7) {
        tt_query q = query_for(&ts, u);
        const int32_t *idx;
        const float *val;
        int32_t n_seen = fx_row(&ts.seen, u, &idx, &val), n_excl;
        int n = recommend(m, &q, K, first);
        cr_assert_eq(n, K, "user %d got %d", u, n);
        for (int32_t j = 0; j < n_seen; j++)
            disliked += val[j] < 0.0f;
        for (int i = 0; i < n; i++) {
            cr_assert(!fx_contains(idx, n_seen, first[i].track),
                      "user %d got track %d they heard or disliked", u, first[i].track);
            cr_assert(i == 0 || first[i].score <= first[i - 1].score);
            own += artist_of(ds, first[i].track) == (int)u % 30;
            listed++;
        }
        /* Excluding their top three as well: none of them comes back. */
        memcpy(excl, idx, (size_t)n_seen * sizeof(int32_t));
        n_excl = n_seen;
        for (int i = 0; i < 3; i++)
            excl[n_excl++] = first[i].track;
        qsort(excl, (size_t)n_excl, sizeof(int32_t), cmp_i32);
        q.exclude = excl;
        q.n_exclude = n_excl;
        n = recommend(m, &q, K, out);
        cr_assert_eq(n, K);
        for (int i = 0; i < n; i++)
            cr_assert(!fx_contains(excl, n_excl, out[i].track), "user %d: excluded %d listed",
                      u, out[i].track);
        /* Only allowed tracks. */
        q.allow = allow;
        n = recommend(m, &q, K, out);
        cr_assert_gt(n, 0);
        for (int i = 0; i < n; i++) {
            cr_assert(allow[out[i].track], "user %d got %d outside the mask", u, out[i].track);
            cr_assert(!fx_contains(excl, n_excl, out[i].track));
        }
    }
    cr_assert_gt(disliked, 0, "the fixture has dislikes");
    /* Each listener's artist fills most of their list. */
    cr_assert_gt(own, listed * 6 / 10, "%d of %d from the listener's artist", own, listed);
    tt_model_free(m);
    free(excl);
    free(allow);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_deep_serve, an_unknown_listener_with_history_gets_a_list)
{
    tt_dataset *ds = signal_data();
    tt_train_set ts;
    tt_model *m;
    tt_scored out[K];
    const int32_t *idx;
    const float *val;
    int32_t u = 5, n_pos;
    int n, own = 0;

    fx_train_set(ds, &ts);
    m = train(&ts);
    n_pos = fx_row(&ts.conf, u, &idx, &val);
    {
        tt_query q = {.user = -1, .hist = idx, .hist_conf = val, .n_hist = n_pos,
                      .exclude = idx, .n_exclude = n_pos};
        n = recommend(m, &q, K, out);
    }
    cr_assert_eq(n, K);
    for (int i = 0; i < n; i++) {
        cr_assert(!fx_contains(idx, n_pos, out[i].track));
        own += artist_of(ds, out[i].track) == (int)u % 30;
    }
    /* Their history alone points at their artist. */
    cr_assert_geq(own, K / 2, "%d of %d by the artist of the history", own, K);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_deep_serve, batch_rows_equal_single_requests)
{
    tt_dataset *ds = signal_data();
    tt_train_set ts;
    tt_model *m;
    int32_t users[12];
    tt_scored rows[12 * K], one[K];
    tt_err err = {0};

    fx_train_set(ds, &ts);
    m = train(&ts);
    for (int i = 0; i < 12; i++)
        users[i] = i * 19;
    cr_assert_eq(tt_model_recommend_batch(m, users, 12, &ts.seen, K, rows, &err), 0, "%s",
                 err.message);
    for (int i = 0; i < 12; i++) {
        tt_query q = query_for(&ts, users[i]);
        int n = recommend(m, &q, K, one);
        cr_assert_eq(n, K);
        for (int j = 0; j < K; j++) {
            cr_assert_eq(rows[i * K + j].track, one[j].track, "user %d rank %d", users[i], j);
            cr_assert_eq(rows[i * K + j].score, one[j].score);
        }
    }
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_deep_serve, without_parts_it_cannot_rank)
{
    tt_dataset *ds = signal_data();
    tt_model_opts o = opts();
    tt_train_set ts;
    tt_model *m;
    tt_scored out[2 * K]; /* a batch of 2 users fills 2 rows */
    int32_t users[2] = {0, 1};
    tt_err err = {0};
    int n = 5;

    fx_train_set(ds, &ts);
    m = learn(&ts, &o);
    {
        tt_query q = query_for(&ts, 0);
        cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, &err), TT_ESTATE);
        cr_assert_eq(n, 0);
    }
    cr_assert_eq(tt_model_recommend_batch(m, users, 2, &ts.seen, K, out, &err), TT_ESTATE);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- files and attaching ------------------------------------------------------------------ */

static void conf_history(const void *ctx, int32_t u, const int32_t **t, const float **r,
                         int32_t *n)
{
    const tt_csr *c = ctx;

    *n = 0;
    if (u < 0 || u >= c->rows)
        return;
    *t = c->indices + c->indptr[u];
    *r = c->data + c->indptr[u];
    *n = (int32_t)tt_csr_row_nnz(c, u);
}

/* The parts as tunetrail train makes them beside the ranker (NULL: no content to learn). */
static void parts_of(const tt_train_set *ts, tt_model *part[TT_HD_PARTS])
{
    tt_model_opts o = opts();
    tt_err err = {0};

    for (int i = 0; i < TT_HD_PARTS; i++) {
        int rc = tt_models_train(tt_hd_part_names[i], ts, &o, &part[i], &err);
        if (rc == TT_ESTATE && (i == TT_HD_CONTENT || i == TT_HD_DEEP)) {
            tt_err_clear(&err);
            part[i] = NULL;
            continue;
        }
        cr_assert_eq(rc, 0, "%s: %s", tt_hd_part_names[i], tt_err_msg(&err, rc));
    }
}

static void free_parts(tt_model *part[TT_HD_PARTS])
{
    for (int i = 0; i < TT_HD_PARTS; i++)
        tt_model_free(part[i]);
}

Test(hybrid_deep_file, round_trips_and_answers_alike, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = signal_data();
    tt_model_opts o = opts();
    tt_train_set ts;
    tt_model *m, *loaded = NULL, *part[TT_HD_PARTS];
    tt_hd_fit a, b;
    tt_scored x[K], y[K];
    tt_err err = {0};
    int rc;

    fx_train_set(ds, &ts);
    m = learn(&ts, &o);
    parts_of(&ts, part);
    cr_assert_eq(tt_hybrid_deep_attach(m, part, conf_history, &ts.conf, &err), 0, "%s",
                 err.message);
    cr_assert_eq(tt_model_save(m, path, &err), 0, "%s", err.message);
    rc = tt_model_load(path, tt_catalog_checksum(ds), &loaded, &err);
    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_str_eq(loaded->ops->kind, "hybrid_deep");
    cr_assert_eq(loaded->n_tracks, m->n_tracks);
    cr_assert(tt_hd_fit_of(m, &a));
    cr_assert(tt_hd_fit_of(loaded, &b));
    cr_assert_eq(a.ndcg, b.ndcg);
    cr_assert_eq(a.als_ndcg, b.als_ndcg);
    cr_assert_eq(a.recall, b.recall);
    cr_assert_eq(a.train_users, b.train_users);
    cr_assert_eq(a.test_users, b.test_users);
    cr_assert_eq(a.pairs, b.pairs);
    cr_assert_eq(a.k, b.k);
    for (int j = 0; j < F; j++)
        cr_assert_eq((float)a.importance[j], (float)b.importance[j], "%s",
                     tt_hd_feature_names[j]);
    cr_assert_eq(tt_hybrid_deep_attach(loaded, part, conf_history, &ts.conf, &err), 0, "%s",
                 err.message);
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u += 23) {
        tt_query q = query_for(&ts, u);
        int n = recommend(m, &q, K, x);
        cr_assert_eq(recommend(loaded, &q, K, y), n);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(x[i].track, y[i].track, "user %d rank %d: %d vs %d", u, i, x[i].track,
                         y[i].track);
            cr_assert_eq(x[i].score, y[i].score, "user %d rank %d", u, i);
        }
    }
    tt_model_free(loaded);
    tt_model_free(m);
    free_parts(part);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(hybrid_deep_file, attach_refuses_missing_wrong_or_foreign_parts)
{
    tt_dataset *ds = signal_data(), *other = planted(30, 41, 8, 8, 2, false, false, 3);
    tt_model_opts o = opts();
    tt_train_set ts, ots;
    tt_model *m, *part[TT_HD_PARTS], *bad[TT_HD_PARTS], *foreign = NULL;
    tt_err err = {0};
    const int required[3] = {TT_HD_ALS, TT_HD_POPULARITY, TT_HD_TRENDING};

    fx_train_set(ds, &ts);
    fx_train_set(other, &ots);
    m = learn(&ts, &o);
    parts_of(&ts, part);
    cr_assert_eq(tt_models_train("als", &ots, &o, &foreign, &err), 0);
    for (int i = 0; i < 3; i++) {
        memcpy(bad, part, sizeof(bad));
        bad[required[i]] = NULL;
        cr_assert_eq(tt_hybrid_deep_attach(m, bad, conf_history, &ts.conf, &err), TT_EINVAL,
                     "without %s", tt_hd_part_names[required[i]]);
        tt_err_clear(&err);
    }
    /* A part of the wrong kind: ALS where popularity goes, popularity where ALS goes. */
    memcpy(bad, part, sizeof(bad));
    bad[TT_HD_POPULARITY] = part[TT_HD_ALS];
    cr_assert_eq(tt_hybrid_deep_attach(m, bad, conf_history, &ts.conf, &err), TT_EINVAL);
    memcpy(bad, part, sizeof(bad));
    bad[TT_HD_ALS] = part[TT_HD_TRENDING];
    cr_assert_eq(tt_hybrid_deep_attach(m, bad, conf_history, &ts.conf, &err), TT_EINVAL);
    /* Popularity and trending are both popularity models: the mode tells them apart. */
    memcpy(bad, part, sizeof(bad));
    bad[TT_HD_POPULARITY] = part[TT_HD_TRENDING];
    bad[TT_HD_TRENDING] = part[TT_HD_POPULARITY];
    cr_assert_eq(tt_hybrid_deep_attach(m, bad, conf_history, &ts.conf, &err), TT_EINVAL,
                 "popularity and trending swapped");
    memcpy(bad, part, sizeof(bad));
    bad[TT_HD_NEUMF] = part[TT_HD_ALS];
    cr_assert_eq(tt_hybrid_deep_attach(m, bad, conf_history, &ts.conf, &err), TT_EINVAL);
    /* ALS of another catalog. */
    memcpy(bad, part, sizeof(bad));
    bad[TT_HD_ALS] = foreign;
    cr_assert_eq(tt_hybrid_deep_attach(m, bad, conf_history, &ts.conf, &err), TT_EINVAL);
    /* Not a hybrid deep model at all. */
    cr_assert_eq(tt_hybrid_deep_attach(part[TT_HD_ALS], part, conf_history, &ts.conf, &err),
                 TT_EINVAL);
    /* The refusals left the model unattached: the right parts still go on, once. */
    cr_assert_eq(tt_hybrid_deep_attach(m, part, conf_history, &ts.conf, &err), 0, "%s",
                 err.message);
    cr_assert_eq(tt_hybrid_deep_attach(m, part, conf_history, &ts.conf, &err), TT_EINVAL);
    {
        tt_query q = query_for(&ts, 3);
        tt_scored out[K];
        cr_assert_eq(recommend(m, &q, K, out), K);
    }
    tt_model_free(m);
    tt_model_free(foreign);
    free_parts(part);
    tt_train_set_release(&ots);
    tt_train_set_release(&ts);
    tt_dataset_free(other);
    tt_dataset_free(ds);
}

/* Copies model file @from to @to with feature @j's name replaced by @name. */
static void write_renamed(const char *from, const char *to, int j, const char *name)
{
    static const char *const arrays[5] = {"net", "importance", "track_artist", "track_genre",
                                          "track_age"};
    tt_mfile *f = NULL;
    tt_mfile_writer *w = NULL;
    const char *names[F];
    const void *p;
    int64_t rows = -1, cols = -1;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_open(from, &f, &err), 0, "%s", err.message);
    cr_assert_eq(tt_mfile_create(to, "hybrid_deep", tt_mfile_catalog(f), &w, &err), 0);
    cr_assert_eq(tt_mfile_get(f, "meta", TT_DT_META, &rows, &cols, &p, &err), 0);
    cr_assert_eq(tt_mfile_add(w, "meta", TT_DT_META, rows, cols, p, &err), 0);
    for (int i = 0; i < 5; i++) {
        enum tt_dtype dt = i < 2 || i == 4 ? TT_DT_F32 : TT_DT_I32;
        rows = cols = -1;
        cr_assert_eq(tt_mfile_get(f, arrays[i], dt, &rows, &cols, &p, &err), 0, "%s",
                     err.message);
        cr_assert_eq(tt_mfile_add(w, arrays[i], dt, rows, cols, p, &err), 0);
    }
    cr_assert_eq(tt_mfile_strings(f, "features", F, names, &err), 0, "%s", err.message);
    names[j] = name;
    cr_assert_eq(tt_mfile_add_strings(w, "features", names, F, &err), 0);
    cr_assert_eq(tt_mfile_commit(w, &err), 0, "%s", err.message);
    tt_mfile_close(f);
}

Test(hybrid_deep_file, refuses_damaged_files, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = signal_data();
    tt_model_opts o = opts();
    tt_train_set ts;
    tt_model *m, *loaded = NULL;
    tt_err err = {0};
    char copy[300], renamed[300];
    int64_t size;

    fx_train_set(ds, &ts);
    m = learn(&ts, &o);
    cr_assert_eq(tt_model_save(m, path, &err), 0, "%s", err.message);
    size = fx_file_size(path);
    fx_path(copy, sizeof(copy), dir, "copy.ttm");
    fx_path(renamed, sizeof(renamed), dir, "renamed.ttm");

    /* A faithful copy loads: the rewriting below changes only what it says. */
    write_renamed(path, copy, F_ARTIST, "artist_affinity");
    cr_assert_eq(tt_model_load(copy, 0, &loaded, &err), 0, "%s", err.message);
    tt_model_free(loaded);
    loaded = NULL;
    /* A feature this engine does not compute in that column. */
    write_renamed(path, renamed, F_ARTIST, "artist_affinitx");
    fx_expect_model_refused(renamed, "artist_affinitx");
    write_renamed(path, renamed, 0, "neumf");
    fx_expect_model_refused(renamed, "feature 0");

    /* Metadata out of range, checksums made right again. */
    write_renamed(path, copy, F_ARTIST, "artist_affinity");
    fx_meta_set(copy, "candidates", 0);
    fx_expect_model_refused(copy, "candidates");
    write_renamed(path, copy, F_ARTIST, "artist_affinity");
    fx_meta_set_f64(copy, "validation_ndcg", 1.5);
    fx_expect_model_refused(copy, "validation_ndcg");
    /* Fewer artists than the tracks' artist ids. */
    write_renamed(path, copy, F_ARTIST, "artist_affinity");
    fx_meta_set(copy, "n_artists", 2);
    fx_expect_model_refused(copy, "track_artist");
    write_renamed(path, copy, F_ARTIST, "artist_affinity");
    fx_meta_set(copy, "n_tracks", (uint64_t)ts.conf.cols + 1);
    cr_assert_eq(tt_model_load(copy, 0, &loaded, &err), TT_ECORRUPT, "n_tracks off by one");
    cr_assert_null(loaded);

    /* A flipped byte, then a truncated file. */
    write_renamed(path, copy, F_ARTIST, "artist_affinity");
    fx_flip_byte(copy, size / 2, 0x40);
    cr_assert_eq(tt_model_load(copy, 0, &loaded, &err), TT_ECORRUPT);
    cr_assert_null(loaded);
    cr_assert(strstr(err.message, copy) != NULL, "message should name the file: %s",
              err.message);
    tt_err_clear(&err);
    fx_truncate(path, size - 17);
    cr_assert_eq(tt_model_load(path, 0, &loaded, &err), TT_ECORRUPT);
    cr_assert_null(loaded);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- determinism -------------------------------------------------------------------------- */

Test(hybrid_deep_learn, the_same_seed_gives_the_same_model)
{
    tt_dataset *ds = signal_data();
    tt_train_set ts;
    tt_model *a, *b;
    tt_hd_fit fa, fb;
    tt_scored x[K], y[K];

    fx_train_set(ds, &ts);
    a = train(&ts);
    b = train(&ts);
    cr_assert(tt_hd_fit_of(a, &fa));
    cr_assert(tt_hd_fit_of(b, &fb));
    cr_assert_eq(fa.ndcg, fb.ndcg);
    cr_assert_eq(fa.recall, fb.recall);
    cr_assert_eq(fa.als_ndcg, fb.als_ndcg);
    cr_assert_eq(fa.pairs, fb.pairs);
    cr_assert_eq(fa.test_users, fb.test_users);
    for (int j = 0; j < F; j++)
        cr_assert_eq(fa.importance[j], fb.importance[j], "%s", tt_hd_feature_names[j]);
    for (int32_t u = 0; u < tt_dataset_n_users(ds); u += 29) {
        tt_query q = query_for(&ts, u);
        int n = recommend(a, &q, K, x);
        cr_assert_eq(recommend(b, &q, K, y), n);
        for (int i = 0; i < n; i++) {
            cr_assert_eq(x[i].track, y[i].track, "user %d rank %d", u, i);
            cr_assert_eq(x[i].score, y[i].score);
        }
    }
    tt_model_free(a);
    tt_model_free(b);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}
