/*
 * Popularity, trending and genre models: what counts as popular, time decay, per-genre
 * rankings, proportional genre mixing, declared genres for unknown users, save/load.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/popularity.h"

static tt_model *train(const tt_train_set *ts, enum tt_pop_mode mode, double half_life)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_popularity_train(ts, mode, half_life, &m, &err);

    cr_assert_eq(rc, 0, "training failed: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(m);
    return m;
}

static int32_t track(const tt_dataset *ds, const char *id)
{
    int32_t t = tt_ids_find(ds->tracks, id, strlen(id));
    cr_assert(t >= 0, "no track %s", id);
    return t;
}

static int32_t genre(const tt_dataset *ds, const char *name)
{
    int32_t g = tt_ids_find(ds->genres, name, strlen(name));
    cr_assert(g >= 0, "no genre %s", name);
    return g;
}

static int rank_of(const tt_scored *out, int n, int32_t t)
{
    for (int i = 0; i < n; i++)
        if (out[i].track == t)
            return i;
    return -1;
}

/* The whole ranking of @m for a query with nothing excluded. */
static int rank_all(const tt_model *m, tt_scored *out)
{
    tt_query q = {.user = -1};
    int n = 0;

    cr_assert_eq(tt_model_recommend(m, &q, m->n_tracks, out, &n, NULL), 0);
    cr_assert_eq(n, m->n_tracks);
    return n;
}

/* ---- all-time popularity ----------------------------------------------------------------- */

/*
 * "heavy" is played 100 times by one listener, "shared" once by each of five, "pair" by two;
 * "hated" is only skipped and disliked, by many.
 */
static tt_dataset *listeners_dataset(void)
{
    tt_dataset *ds = tt_dataset_new();
    char uid[16];

    fx_add_track(ds, "heavy", "a1", "rock");
    fx_add_track(ds, "shared", "a2", "rock");
    fx_add_track(ds, "pair", "a3", "jazz");
    fx_add_track(ds, "hated", "a4", "jazz");
    fx_add_track(ds, "silent", "a5", "pop");
    for (int i = 0; i < 100; i++)
        fx_add_event(ds, "u0", "heavy", TT_ACT_PLAY, 1.0f, FX_T0 - i * 60);
    fx_add_event(ds, "u0", "heavy", TT_ACT_PLAY, 100.0f, FX_T0);
    for (int u = 1; u <= 5; u++) {
        snprintf(uid, sizeof(uid), "u%d", u);
        fx_add_event(ds, uid, "shared", TT_ACT_PLAY, 1.0f, FX_T0 - u * 3600);
        if (u <= 2)
            fx_add_event(ds, uid, "pair", TT_ACT_PLAY, 1.0f, FX_T0 - u * 3600);
    }
    for (int u = 6; u < 16; u++) {
        snprintf(uid, sizeof(uid), "u%d", u);
        fx_add_event(ds, uid, "hated", u % 2 ? TT_ACT_SKIP : TT_ACT_DISLIKE, 1.0f, FX_T0 - u);
    }
    tt_dataset_finish(ds);
    return ds;
}

Test(popularity, ranks_by_distinct_positive_listeners)
{
    tt_dataset *ds = listeners_dataset();
    tt_train_set ts;
    tt_model *m;
    tt_scored out[5];

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_ALL_TIME, 0.0);
    cr_assert_str_eq(m->name, "popularity");
    cr_assert_float_eq(tt_popularity_score(m, track(ds, "shared")), 5.0f, 1e-6);
    cr_assert_float_eq(tt_popularity_score(m, track(ds, "pair")), 2.0f, 1e-6);
    cr_assert_float_eq(tt_popularity_score(m, track(ds, "heavy")), 1.0f, 1e-6);
    cr_assert_float_eq(tt_popularity_score(m, track(ds, "hated")), 0.0f, 1e-6);
    cr_assert_float_eq(tt_popularity_score(m, -1), 0.0f, 1e-6);
    cr_assert_float_eq(tt_popularity_score(m, 99), 0.0f, 1e-6);
    rank_all(m, out);
    cr_assert_eq(out[0].track, track(ds, "shared"));
    cr_assert_eq(out[1].track, track(ds, "pair"));
    cr_assert_eq(out[2].track, track(ds, "heavy"));
    cr_assert_float_eq(out[0].score, 5.0f, 1e-6);
    /* Ties at zero keep catalog order. */
    cr_assert_eq(out[3].track, track(ds, "hated"));
    cr_assert_eq(out[4].track, track(ds, "silent"));
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(popularity, excluded_tracks_are_skipped_and_short_catalogs_end_early)
{
    tt_dataset *ds = listeners_dataset();
    tt_train_set ts;
    tt_model *m;
    int32_t excl[2];
    tt_scored out[10];
    tt_query q = {.user = 0, .exclude = excl, .n_exclude = 2};
    int n = 0;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_ALL_TIME, 0.0);
    excl[0] = track(ds, "heavy");
    excl[1] = track(ds, "shared");
    cr_assert(excl[0] < excl[1], "exclusion lists are sorted");
    cr_assert_eq(tt_model_recommend(m, &q, 10, out, &n, NULL), 0);
    cr_assert_eq(n, 3, "five tracks, two excluded");
    cr_assert_eq(out[0].track, track(ds, "pair"));
    cr_assert_eq(rank_of(out, n, excl[0]), -1);
    cr_assert_eq(rank_of(out, n, excl[1]), -1);
    cr_assert_eq(tt_model_recommend(m, &q, 1, out, &n, NULL), 0);
    cr_assert_eq(n, 1);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- trending ---------------------------------------------------------------------------- */

/*
 * "old_hit": 20 listeners two months before the newest event; "new_hit": 5 listeners in the
 * last two days; "probe": one like (action weight 4) exactly one half-life old; "fresh": the
 * newest event, defining now.
 */
static tt_dataset *trending_dataset(void)
{
    tt_dataset *ds = tt_dataset_new();
    char uid[16];

    fx_add_track(ds, "old_hit", "a1", "rock");
    fx_add_track(ds, "new_hit", "a2", "rock");
    fx_add_track(ds, "probe", "a3", "jazz");
    fx_add_track(ds, "fresh", "a4", "jazz");
    for (int u = 0; u < 20; u++) {
        snprintf(uid, sizeof(uid), "u%d", u);
        fx_add_event(ds, uid, "old_hit", TT_ACT_PLAY, 1.0f, FX_T0 - 60 * FX_DAY - u * 3600);
        if (u < 5)
            fx_add_event(ds, uid, "new_hit", TT_ACT_PLAY, 1.0f, FX_T0 - 2 * FX_DAY + u * 3600);
    }
    fx_add_event(ds, "u0", "probe", TT_ACT_LIKE, 1.0f, FX_T0 - 7 * FX_DAY);
    fx_add_event(ds, "u1", "fresh", TT_ACT_PLAY, 0.5f, FX_T0);
    tt_dataset_finish(ds);
    return ds;
}

Test(popularity, trending_decays_old_listening)
{
    tt_dataset *ds = trending_dataset();
    tt_train_set ts;
    tt_model *all, *trend;
    tt_scored out[4];
    int32_t old_hit, new_hit;
    double expect_new = 0.0;

    fx_train_set(ds, &ts);
    cr_assert_eq(ts.now, FX_T0);
    old_hit = track(ds, "old_hit");
    new_hit = track(ds, "new_hit");
    all = train(&ts, TT_POP_ALL_TIME, 0.0);
    trend = train(&ts, TT_POP_TRENDING, 7.0);
    cr_assert_str_eq(trend->name, "trending");

    rank_all(all, out);
    cr_assert_eq(out[0].track, old_hit, "all time, the old hit leads");
    rank_all(trend, out);
    cr_assert_eq(out[0].track, new_hit, "trending, the recent hit leads");
    cr_assert(rank_of(out, 4, old_hit) > rank_of(out, 4, new_hit));

    /* score = sum of weight * 2^(-age / half-life), age from the newest event. */
    for (int u = 0; u < 5; u++)
        expect_new += exp2(-(2.0 * FX_DAY - u * 3600.0) / (7.0 * FX_DAY));
    cr_assert_float_eq(tt_popularity_score(trend, new_hit), expect_new, 1e-4);
    cr_assert_float_eq(tt_popularity_score(trend, track(ds, "probe")), 2.0, 1e-4,
                       "a like weighs 4, halved after one half-life");
    cr_assert_float_eq(tt_popularity_score(trend, track(ds, "fresh")), 0.5, 1e-6);
    cr_assert(tt_popularity_score(trend, old_hit) < 0.1f);
    tt_model_free(all);
    tt_model_free(trend);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(popularity, trending_needs_a_positive_half_life)
{
    tt_dataset *ds = trending_dataset();
    tt_train_set ts;
    tt_model *m = NULL;
    tt_err err = {0};

    fx_train_set(ds, &ts);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_TRENDING, 0.0, &m, &err), TT_EINVAL);
    cr_assert_null(m);
    cr_assert_str_eq(err.field, "half_life_days");
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_TRENDING, -3.0, &m, NULL), TT_EINVAL);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_TRENDING, NAN, &m, NULL), TT_EINVAL);
    cr_assert_null(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- per-genre rankings ------------------------------------------------------------------ */

static bool track_has_genre(const tt_dataset *ds, int32_t t, int32_t g)
{
    for (int64_t j = ds->track_genre_ptr[t]; j < ds->track_genre_ptr[t + 1]; j++)
        if (ds->track_genre[j] == g)
            return true;
    return false;
}

Test(popularity, genre_rankings_are_sorted_and_hold_only_their_genre)
{
    tt_dataset *ds = fx_taste_groups(3, 20, 30, 12, 5);
    tt_train_set ts;
    tt_model *m;
    int32_t ng = tt_dataset_n_genres(ds), nt = tt_dataset_n_tracks(ds), n = -1;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_ALL_TIME, 0.0);
    cr_assert_eq(ng, 6, "three groups of two genres each");
    for (int32_t g = 0; g < ng; g++) {
        const int32_t *r = tt_popularity_genre_ranking(m, g, &n);
        int32_t members = 0;

        cr_assert_not_null(r);
        for (int32_t t = 0; t < nt; t++)
            members += track_has_genre(ds, t, g);
        cr_assert_eq(n, members, "genre %d ranks each of its tracks once", g);
        for (int32_t i = 0; i < n; i++) {
            cr_assert(track_has_genre(ds, r[i], g), "track %d is not of genre %d", r[i], g);
            for (int32_t j = 0; j < i; j++)
                cr_assert_neq(r[i], r[j]);
            if (i > 0) {
                float a = tt_popularity_score(m, r[i - 1]), b = tt_popularity_score(m, r[i]);
                cr_assert(a > b || (a == b && r[i - 1] < r[i]), "genre %d unsorted at %d", g, i);
            }
        }
        /* Skewed listening: the group's first track is its genres' favourite. */
        cr_assert(tt_popularity_score(m, r[0]) > tt_popularity_score(m, r[n - 1]));
    }
    cr_assert_null(tt_popularity_genre_ranking(m, ng, &n));
    cr_assert_eq(n, 0);
    cr_assert_null(tt_popularity_genre_ranking(m, -1, &n));
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- genre model ------------------------------------------------------------------------- */

static const char *const mix_genres[] = {"rock", "jazz", "pop"};

/*
 * 20 single-genre tracks per genre with a popularity gradient from 30 background listeners,
 * a "fan" who played 6 rock and 2 jazz tracks, and a "newbie" who only declared pop.
 */
static tt_dataset *mix_dataset(void)
{
    tt_dataset *ds = tt_dataset_new();
    char id[32], uid[16], artist[16];
    tt_rng rng;

    tt_rng_seed(&rng, 3, 0);
    for (int g = 0; g < 3; g++) {
        for (int i = 0; i < 20; i++) {
            snprintf(id, sizeof(id), "%s-%02d", mix_genres[g], i);
            snprintf(artist, sizeof(artist), "%s-a%d", mix_genres[g], i / 5);
            fx_add_track(ds, id, artist, mix_genres[g]);
        }
    }
    fx_add_user(ds, "fan", "pop");
    fx_add_user(ds, "newbie", "pop");
    for (int u = 0; u < 30; u++) {
        snprintf(uid, sizeof(uid), "bg%02d", u);
        for (int e = 0; e < 12; e++) {
            double x = tt_rng_uniform(&rng);
            snprintf(id, sizeof(id), "%s-%02d", mix_genres[tt_rng_below(&rng, 3)],
                     (int)(x * x * 20));
            fx_add_event(ds, uid, id, TT_ACT_PLAY, 1.0f, FX_T0 - e * 3600);
        }
    }
    /* The fan heard the two most popular tracks of rock (and more), so those are out. */
    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "rock-%02d", i);
        fx_add_event(ds, "fan", id, TT_ACT_PLAY, 3.0f, FX_T0 - i * 60);
    }
    for (int i = 0; i < 2; i++) {
        snprintf(id, sizeof(id), "jazz-%02d", i);
        fx_add_event(ds, "fan", id, TT_ACT_PLAY, 3.0f, FX_T0 - i * 60);
    }
    fx_add_event(ds, "fan", "pop-00", TT_ACT_DISLIKE, 1.0f, FX_T0);
    tt_dataset_finish(ds);
    return ds;
}

static int count_genre(const tt_dataset *ds, const tt_scored *out, int n, const char *name)
{
    int32_t g = genre(ds, name);
    int c = 0;

    for (int i = 0; i < n; i++)
        c += track_has_genre(ds, out[i].track, g);
    return c;
}

Test(popularity, genre_model_mixes_in_proportion_to_affinity)
{
    tt_dataset *ds = mix_dataset();
    tt_train_set ts;
    tt_model *m;
    int32_t fan = tt_ids_find(ds->users, "fan", 3);
    tt_query q = {.user = fan};
    tt_scored out[8];
    int n = 0, rock, jazz;
    const int32_t *seen, *rock_rank;
    int32_t ns, nr;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_GENRE, 0.0);
    cr_assert_str_eq(m->name, "genre");
    ns = fx_row(&ts.seen, fan, &seen, NULL);
    cr_assert_eq(ns, 9);
    q.exclude = seen;
    q.n_exclude = ns;
    cr_assert_eq(tt_model_recommend(m, &q, 8, out, &n, NULL), 0);
    cr_assert_eq(n, 8);
    rock = count_genre(ds, out, n, "rock");
    jazz = count_genre(ds, out, n, "jazz");
    cr_assert(rock >= 5 && rock <= 7, "75%% rock taste got %d of 8 rock", rock);
    cr_assert(jazz >= 1 && jazz <= 3, "25%% jazz taste got %d of 8 jazz", jazz);
    cr_assert_eq(rock + jazz, 8, "declared pop does not count once there is history");
    for (int i = 0; i < n; i++) {
        cr_assert(!fx_contains(seen, ns, out[i].track), "heard track %d served", out[i].track);
        for (int j = 0; j < i; j++)
            cr_assert_neq(out[i].track, out[j].track, "duplicate track in the list");
    }
    /* Each genre serves its most popular unheard tracks first. */
    rock_rank = tt_popularity_genre_ranking(m, genre(ds, "rock"), &nr);
    for (int32_t i = 0; i < nr; i++) {
        if (fx_contains(seen, ns, rock_rank[i]))
            continue;
        cr_assert(fx_scored_contains(out, n, rock_rank[i]), "best unheard rock track missing");
        break;
    }
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(popularity, declared_genres_serve_users_the_model_does_not_know)
{
    tt_dataset *ds = mix_dataset();
    tt_train_set ts;
    tt_model *m;
    int32_t jazz = genre(ds, "jazz"), two[2] = {genre(ds, "jazz"), genre(ds, "pop")};
    tt_query q = {.user = -1, .genres = &jazz, .n_genres = 1};
    tt_scored out[8];
    int n = 0;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_GENRE, 0.0);
    cr_assert_eq(tt_model_recommend(m, &q, 8, out, &n, NULL), 0);
    cr_assert_eq(n, 8);
    cr_assert_eq(count_genre(ds, out, n, "jazz"), 8);

    q.genres = two;
    q.n_genres = 2;
    cr_assert_eq(tt_model_recommend(m, &q, 8, out, &n, NULL), 0);
    cr_assert_eq(count_genre(ds, out, n, "jazz"), 4);
    cr_assert_eq(count_genre(ds, out, n, "pop"), 4);

    /* Known to the dataset without history: their declared favourite (pop). */
    q = (tt_query){.user = tt_ids_find(ds->users, "newbie", 6)};
    cr_assert_eq(tt_model_recommend(m, &q, 8, out, &n, NULL), 0);
    cr_assert_eq(count_genre(ds, out, n, "pop"), 8);

    /* Out-of-range genres are ignored: plain popularity. */
    jazz = 999;
    q = (tt_query){.user = -1, .genres = &jazz, .n_genres = 1};
    cr_assert_eq(tt_model_recommend(m, &q, 8, out, &n, NULL), 0);
    cr_assert_eq(n, 8);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(popularity, genre_lists_run_over_into_overall_popularity)
{
    tt_dataset *ds = mix_dataset();
    tt_train_set ts;
    tt_model *m;
    int32_t jazz = genre(ds, "jazz");
    tt_query q = {.user = -1, .genres = &jazz, .n_genres = 1};
    tt_scored out[60];
    int n = 0;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_GENRE, 0.0);
    cr_assert_eq(tt_model_recommend(m, &q, 30, out, &n, NULL), 0);
    cr_assert_eq(n, 30);
    cr_assert_eq(count_genre(ds, out, 20, "jazz"), 20, "all of jazz first");
    cr_assert_eq(count_genre(ds, out, n, "jazz"), 20, "then other genres, once each");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            cr_assert_neq(out[i].track, out[j].track);
    cr_assert_eq(tt_model_recommend(m, &q, 60, out, &n, NULL), 0);
    cr_assert_eq(n, 60, "the whole catalog, each track once");
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* Popularity has no batch operation: the generic one ranks user by user with their rows. */
Test(popularity, batch_recommendations_fall_back_to_single_ones)
{
    tt_dataset *ds = mix_dataset();
    tt_train_set ts;
    tt_model *m;
    int32_t users[] = {1, 0, 5, 99};
    tt_scored batch[4 * 6], one[6];
    int n = 0;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_GENRE, 0.0);
    cr_assert_eq(tt_model_recommend_batch(m, users, 4, &ts.seen, 6, batch, NULL), 0);
    for (int i = 0; i < 4; i++) {
        tt_query q = {.user = users[i]};
        q.n_exclude = fx_row(&ts.seen, users[i], &q.exclude, NULL);
        cr_assert_eq(tt_model_recommend(m, &q, 6, one, &n, NULL), 0);
        cr_assert_eq(n, 6);
        cr_assert_eq(memcmp(batch + i * 6, one, sizeof(one)), 0, "user %d", users[i]);
    }
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(popularity, no_similar_tracks)
{
    tt_dataset *ds = listeners_dataset();
    tt_train_set ts;
    tt_model *m;
    tt_scored out[3];
    tt_err err = {0};
    int n = 0;

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_ALL_TIME, 0.0);
    cr_assert_eq(tt_model_similar(m, 0, 3, out, &n, &err), TT_EUNSUPPORTED);
    cr_assert_not_null(strstr(err.message, "popularity"), "message: %s", err.message);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- files ------------------------------------------------------------------------------- */

static void expect_same_lists(const tt_model *a, const tt_model *b, const tt_query *q)
{
    tt_scored x[20], y[20];
    int nx = 0, ny = 0;

    cr_assert_eq(tt_model_recommend(a, q, 20, x, &nx, NULL), 0);
    cr_assert_eq(tt_model_recommend(b, q, 20, y, &ny, NULL), 0);
    cr_assert_eq(nx, ny);
    cr_assert_eq(memcmp(x, y, (size_t)nx * sizeof(tt_scored)), 0, "lists differ for user %d",
                 q->user);
}

static void round_trip(enum tt_pop_mode mode, const char *name)
{
    tt_dataset *ds = mix_dataset();
    tt_train_set ts;
    tt_model *m, *l = NULL;
    char dir[64], path[256];
    int32_t ng = tt_dataset_n_genres(ds), pop = genre(ds, "pop");
    tt_err err = {0};
    int rc;

    fx_train_set(ds, &ts);
    m = train(&ts, mode, 7.0);
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "pop.ttm");
    rc = tt_model_save(m, path, &err);
    if (rc == 0)
        rc = tt_model_load(path, tt_catalog_checksum(ds), &l, &err);
    /* The loaded model maps the file: it can go now, whatever the assertions below say. */
    fx_rmtree(dir);
    cr_assert_eq(rc, 0, "save and load: %s", tt_err_msg(&err, rc));
    cr_assert_str_eq(l->name, name);
    cr_assert_eq(l->n_users, m->n_users);
    cr_assert_eq(l->n_tracks, m->n_tracks);
    cr_assert_eq(l->catalog, m->catalog);
    for (int32_t t = 0; t < m->n_tracks; t++)
        cr_assert_eq(tt_popularity_score(l, t), tt_popularity_score(m, t));
    for (int32_t g = 0; g < ng; g++) {
        int32_t na, nb;
        const int32_t *ra = tt_popularity_genre_ranking(m, g, &na);
        const int32_t *rb = tt_popularity_genre_ranking(l, g, &nb);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(ra, rb, (size_t)na * sizeof(int32_t)), 0);
    }
    for (int32_t u = 0; u < m->n_users; u++) {
        tt_query q = {.user = u};
        q.n_exclude = fx_row(&ts.seen, u, &q.exclude, NULL);
        expect_same_lists(m, l, &q);
    }
    expect_same_lists(m, l, &(tt_query){.user = -1, .genres = &pop, .n_genres = 1});
    tt_model_free(l);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(popularity, popularity_round_trips_through_a_file)
{
    round_trip(TT_POP_ALL_TIME, "popularity");
}

Test(popularity, trending_round_trips_through_a_file)
{
    round_trip(TT_POP_TRENDING, "trending");
}

Test(popularity, genre_round_trips_through_a_file)
{
    round_trip(TT_POP_GENRE, "genre");
}

/* Expects the model file at @path to be refused, the message naming it and field @field. */
static void expect_refused(const char *path, const char *field)
{
    char quoted[64];

    snprintf(quoted, sizeof(quoted), "'%s'", field);
    fx_expect_model_refused(path, quoted);
}

Test(popularity, files_with_bad_metadata_are_refused_naming_the_field)
{
    tt_dataset *ds = mix_dataset();
    tt_train_set ts;
    tt_model *m;
    char dir[64], path[256];

    fx_train_set(ds, &ts);
    m = train(&ts, TT_POP_GENRE, 0.0);
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "pop.ttm");
    /* The mode is stored by name: an unknown one is refused, not cast. */
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set_str(path, "mode", "genrx");
    expect_refused(path, "mode");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set(path, "n_genres", (uint64_t)-1);
    expect_refused(path, "n_genres");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set(path, "n_users", UINT64_C(1) << 31);
    expect_refused(path, "n_users");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set_f64(path, "half_life_days", NAN);
    expect_refused(path, "half_life_days");
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    fx_meta_set_f64(path, "train_seconds", -1.0);
    expect_refused(path, "train_seconds");
    fx_rmtree(dir);
    tt_model_free(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}
