/*
 * The serving snapshot (catalog file) and request-level recommendation on top of it: the
 * main model for users with history, the fallback for the rest, heard and disliked tracks
 * kept out, fresh feedback folded in.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/popularity.h"
#include "tt/recommend.h"

static char dir[64];
static char path[256];

static void setup_dir(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "catalog.ttm");
}

static void teardown_dir(void)
{
    fx_rmtree(dir);
}

/* ---- the catalog file -------------------------------------------------------------------- */

/*
 * A hand-made snapshot: a track without genres, a user who played then disliked a track,
 * one who only skipped, one seen only in interactions, and declared favourites.
 */
static tt_dataset *small_dataset(void)
{
    tt_dataset *ds = tt_dataset_new();

    fx_add_track(ds, "t-rock", "Band A", "rock|indie");
    fx_add_track(ds, "t-jazz", "Trio B", "jazz");
    fx_add_track(ds, "t-none", "Band A", NULL);
    fx_add_track(ds, "t-pop", "Singer C", "pop|rock");
    fx_add_user(ds, "alice", "jazz|rock");
    fx_add_user(ds, "bob", NULL);
    fx_add_user(ds, "carol", "pop");
    fx_add_event(ds, "alice", "t-rock", TT_ACT_PLAY, 3.0f, FX_T0 - 300);
    fx_add_event(ds, "alice", "t-rock", TT_ACT_LIKE, 1.0f, FX_T0 - 200);
    fx_add_event(ds, "alice", "t-pop", TT_ACT_PLAY, 2.0f, FX_T0 - 100);
    fx_add_event(ds, "alice", "t-pop", TT_ACT_DISLIKE, 1.0f, FX_T0 - 50);
    fx_add_event(ds, "alice", "t-jazz", TT_ACT_DISLIKE, 1.0f, FX_T0 - 40);
    fx_add_event(ds, "bob", "t-none", TT_ACT_SKIP, 1.0f, FX_T0 - 30);
    fx_add_event(ds, "dave", "t-jazz", TT_ACT_PLAY, 1.0f, FX_T0 - 20);
    tt_dataset_finish(ds);
    return ds;
}

static tt_catalog *load_ok(const char *p)
{
    tt_catalog *c = NULL;
    tt_err err = {0};
    int rc = tt_catalog_load(p, &c, &err);

    cr_assert_eq(rc, 0, "catalog load: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(c);
    return c;
}

static void save_ok(const tt_dataset *ds, const tt_train_set *ts, const char *p)
{
    tt_err err = {0};
    int rc = tt_catalog_save(ds, ts, p, &err);

    cr_assert_eq(rc, 0, "catalog save: %s", tt_err_msg(&err, rc));
}

static void expect_row(const tt_csr *m, int32_t u, const int32_t *idx, const float *val, int32_t n,
                       const char *what)
{
    const int32_t *ei;
    const float *ev;
    int32_t en = fx_row(m, u, &ei, &ev);

    cr_assert_eq(n, en, "user %d %s: %d entries, expected %d", u, what, n, en);
    if (n > 0) {
        cr_assert_eq(memcmp(idx, ei, (size_t)n * sizeof(int32_t)), 0, "user %d %s", u, what);
        cr_assert_eq(memcmp(val, ev, (size_t)n * sizeof(float)), 0, "user %d %s values", u, what);
    }
}

/* Everything the catalog holds agrees with the dataset and train set it was saved from. */
static void expect_same(const tt_catalog *c, const tt_dataset *ds, const tt_train_set *ts)
{
    int32_t nt = tt_dataset_n_tracks(ds), nu = tt_dataset_n_users(ds);

    cr_assert_eq(tt_catalog_id(c), tt_catalog_checksum(ds));
    cr_assert_eq(tt_catalog_n_tracks(c), nt);
    cr_assert_eq(tt_catalog_n_users(c), nu);
    cr_assert_eq(tt_catalog_n_genres(c), tt_dataset_n_genres(ds));
    cr_assert_eq(tt_catalog_watermark(c), ds->max_event_id);
    for (int32_t t = 0; t < nt; t++) {
        const char *id = tt_ids_name(ds->tracks, t);
        int64_t g0 = ds->track_genre_ptr[t], g1 = ds->track_genre_ptr[t + 1];
        cr_assert_str_eq(tt_catalog_track_id(c, t), id);
        cr_assert_eq(tt_catalog_track_find(c, id), t);
        cr_assert_str_eq(tt_catalog_track_title(c, t), ds->titles[t]);
        cr_assert_eq(tt_catalog_track_artist_id(c, t), ds->track_artist[t]);
        cr_assert_str_eq(tt_catalog_track_artist(c, t), ds->artist_names[ds->track_artist[t]]);
        cr_assert_str_eq(tt_catalog_track_genre(c, t),
                         g1 > g0 ? tt_ids_name(ds->genres, ds->track_genre[g0]) : "");
    }
    for (int32_t g = 0; g < tt_dataset_n_genres(ds); g++) {
        cr_assert_str_eq(tt_catalog_genre_name(c, g), tt_ids_name(ds->genres, g));
        cr_assert_eq(tt_catalog_genre_find(c, tt_ids_name(ds->genres, g)), g);
    }
    for (int32_t u = 0; u < nu; u++) {
        const int32_t *idx, *g;
        const float *val;
        int32_t n;
        const char *id = tt_ids_name(ds->users, u);
        int64_t d0 = ds->user_genre_ptr[u], d1 = ds->user_genre_ptr[u + 1];

        cr_assert_str_eq(tt_catalog_user_id(c, u), id);
        cr_assert_eq(tt_catalog_user_find(c, id), u);
        tt_catalog_user_seen(c, u, &idx, &val, &n);
        expect_row(&ts->seen, u, idx, val, n, "seen");
        tt_catalog_user_positives(c, u, &idx, &val, &n);
        expect_row(&ts->conf, u, idx, val, n, "positives");
        tt_catalog_user_genres(c, u, &g, &n);
        cr_assert_eq(n, d1 - d0);
        if (n > 0)
            cr_assert_eq(memcmp(g, ds->user_genre + d0, (size_t)n * sizeof(int32_t)), 0);
    }
}

Test(catalog, round_trips_a_hand_made_snapshot, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = small_dataset();
    tt_train_set ts;
    tt_catalog *c;
    const int32_t *idx, *g;
    const float *val;
    int32_t n, alice, rock, pop, jazz;
    int64_t before = tt_unix_time();

    fx_train_set(ds, &ts);
    save_ok(ds, &ts, path);
    c = load_ok(path);
    expect_same(c, ds, &ts);
    cr_assert(tt_catalog_created_at(c) >= before - 1);

    cr_assert_eq(tt_catalog_n_tracks(c), 4);
    cr_assert_eq(tt_catalog_n_users(c), 4, "dave came only from an interaction");
    cr_assert_str_eq(tt_catalog_track_title(c, tt_catalog_track_find(c, "t-jazz")),
                     "Title of t-jazz");
    cr_assert_str_eq(tt_catalog_track_artist(c, tt_catalog_track_find(c, "t-none")), "Band A");
    cr_assert_str_eq(tt_catalog_track_genre(c, tt_catalog_track_find(c, "t-none")), "");
    cr_assert_str_eq(tt_catalog_track_genre(c, tt_catalog_track_find(c, "t-pop")), "pop");

    /* alice: t-rock liked (3 plays + a like = 3 + 4), t-pop played then disliked, t-jazz
     * disliked outright. */
    alice = tt_catalog_user_find(c, "alice");
    rock = tt_catalog_track_find(c, "t-rock");
    pop = tt_catalog_track_find(c, "t-pop");
    jazz = tt_catalog_track_find(c, "t-jazz");
    tt_catalog_user_seen(c, alice, &idx, &val, &n);
    cr_assert_eq(n, 3);
    for (int32_t i = 0; i < n; i++) {
        cr_assert(i == 0 || idx[i - 1] < idx[i], "seen tracks are sorted");
        cr_assert_float_eq(val[i], idx[i] == rock ? 1.0f : -1.0f, 0.0f);
    }
    tt_catalog_user_positives(c, alice, &idx, &val, &n);
    cr_assert_eq(n, 1);
    cr_assert_eq(idx[0], rock);
    cr_assert_float_eq(val[0], 7.0f, 1e-6);
    cr_assert(!fx_contains(idx, n, pop) && !fx_contains(idx, n, jazz));
    tt_catalog_user_genres(c, alice, &g, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(tt_catalog_genre_name(c, g[0]), "jazz");
    cr_assert_str_eq(tt_catalog_genre_name(c, g[1]), "rock");

    /* bob only skipped: seen, not positive; no declared genres. */
    tt_catalog_user_seen(c, tt_catalog_user_find(c, "bob"), &idx, &val, &n);
    cr_assert(n == 1 && val[0] == 1.0f);
    tt_catalog_user_positives(c, tt_catalog_user_find(c, "bob"), &idx, &val, &n);
    cr_assert_eq(n, 0);
    tt_catalog_user_genres(c, tt_catalog_user_find(c, "bob"), &g, &n);
    cr_assert_eq(n, 0);

    /* Unknown ids and out-of-range dense ids. */
    cr_assert_eq(tt_catalog_track_find(c, "t-nope"), -1);
    cr_assert_eq(tt_catalog_user_find(c, ""), -1);
    cr_assert_eq(tt_catalog_genre_find(c, "polka"), -1);
    cr_assert_str_eq(tt_catalog_track_id(c, 4), "");
    cr_assert_str_eq(tt_catalog_track_genre(c, -1), "");
    cr_assert_eq(tt_catalog_track_artist_id(c, 99), -1);
    cr_assert_str_eq(tt_catalog_user_id(c, -1), "");
    tt_catalog_user_seen(c, 99, &idx, &val, &n);
    cr_assert(n == 0 && idx == NULL);
    tt_catalog_user_positives(c, -1, &idx, &val, &n);
    cr_assert(n == 0 && idx == NULL);
    tt_catalog_user_genres(c, 4, &g, &n);
    cr_assert(n == 0 && g == NULL);

    tt_catalog_free(c);
    tt_catalog_free(NULL);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(catalog, round_trips_a_generated_snapshot, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = fx_taste_groups(3, 12, 20, 8, 4);
    tt_train_set ts;
    tt_catalog *c;

    fx_train_set(ds, &ts);
    save_ok(ds, &ts, path);
    c = load_ok(path);
    expect_same(c, ds, &ts);
    tt_catalog_free(c);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(catalog, damaged_or_foreign_files_are_refused, .init = setup_dir, .fini = teardown_dir)
{
    tt_dataset *ds = small_dataset();
    tt_train_set ts;
    tt_catalog *c = NULL;
    tt_model *m;
    tt_err err = {0};
    int64_t size;

    fx_train_set(ds, &ts);
    save_ok(ds, &ts, path);
    size = fx_file_size(path);
    fx_flip_byte(path, size / 2, 0x40);
    cr_assert_eq(tt_catalog_load(path, &c, &err), TT_ECORRUPT);
    cr_assert_null(c);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);

    save_ok(ds, &ts, path);
    fx_truncate(path, size - 8);
    cr_assert_eq(tt_catalog_load(path, &c, NULL), TT_ECORRUPT);

    /* A model file is not a catalog. */
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_ALL_TIME, 0.0, &m, NULL), 0);
    cr_assert_eq(tt_model_save(m, path, NULL), 0);
    tt_err_clear(&err);
    cr_assert_eq(tt_catalog_load(path, &c, &err), TT_ECORRUPT);
    cr_assert_null(c);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    tt_model_free(m);

    fx_path(path, sizeof(path), dir, "missing.ttm");
    cr_assert_eq(tt_catalog_load(path, &c, NULL), TT_ENOTFOUND);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

Test(catalog, bad_metadata_is_refused_naming_the_field, .init = setup_dir,
     .fini = teardown_dir)
{
    const struct {
        const char *field;
        uint64_t v;
    } bad[] = {
        {"n_tracks", (uint64_t)-1}, {"n_users", UINT64_C(1) << 31}, {"n_artists", (uint64_t)-7},
        {"watermark", (uint64_t)-1},
    };
    tt_dataset *ds = small_dataset();
    tt_train_set ts;

    fx_train_set(ds, &ts);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tt_catalog *c = NULL;
        tt_err err = {0};
        char quoted[64];
        save_ok(ds, &ts, path);
        fx_meta_set(path, bad[i].field, bad[i].v);
        snprintf(quoted, sizeof(quoted), "'%s'", bad[i].field);
        cr_assert_eq(tt_catalog_load(path, &c, &err), TT_ECORRUPT, "%s accepted", quoted);
        cr_assert_null(c);
        cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
        cr_assert_not_null(strstr(err.message, quoted), "message: %s", err.message);
    }
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/*
 * A count the metadata gives sizes nothing before the section it counts agrees: a damaged
 * file claiming 2^31 - 1 tracks, listeners, genres or artists is refused, not allocated for
 * (16 GiB of string pointers each).
 */
Test(catalog, a_huge_count_is_refused_before_anything_is_allocated, .init = setup_dir,
     .fini = teardown_dir)
{
    static const char *const fields[] = {"n_tracks", "n_users", "n_genres", "n_artists"};
    tt_dataset *ds = small_dataset();
    tt_train_set ts;

    fx_train_set(ds, &ts);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char copy[300];
        snprintf(copy, sizeof(copy), "%s.%zu", path, i);
        save_ok(ds, &ts, copy);
        fx_meta_set(copy, fields[i], INT32_MAX);
    }
    fx_limit_address_space(1ULL << 30);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        tt_catalog *c = NULL;
        tt_err err = {0};
        char copy[300];
        snprintf(copy, sizeof(copy), "%s.%zu", path, i);
        cr_assert_eq(tt_catalog_load(copy, &c, &err), TT_ECORRUPT, "%s accepted", fields[i]);
        cr_assert_null(c);
        cr_assert_not_null(strstr(err.message, copy), "message: %s", err.message);
    }
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

/* ---- tt_recommend_user ------------------------------------------------------------------- */

#define K 10

static tt_dataset *ds;
static tt_train_set ts;
static tt_catalog *cat;
static tt_model *als, *genre_model;
static tt_rec_ctx ctx;

static void setup_service(void)
{
    tt_als_params p = fx_als_params();

    setup_dir();
    ds = fx_taste_groups(4, 30, 40, 15, 21);
    fx_train_set(ds, &ts);
    save_ok(ds, &ts, path);
    cat = load_ok(path);
    /* The catalog maps the file; removing it now leaves nothing behind even if a test dies. */
    teardown_dir();
    cr_assert_eq(tt_als_train(&ts, &p, &als, NULL), 0);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_GENRE, 0.0, &genre_model, NULL), 0);
    ctx = (tt_rec_ctx){.cat = cat, .model = als, .fallback = genre_model, .min_history = 1};
}

static void teardown_service(void)
{
    tt_model_free(als);
    tt_model_free(genre_model);
    tt_catalog_free(cat);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

TestSuite(recommend, .init = setup_service, .fini = teardown_service);

static int recommend(const tt_rec_request *req, tt_scored *out, tt_rec_result *res)
{
    tt_err err = {0};
    int rc = tt_recommend_user(&ctx, req, out, res, &err);

    cr_assert_eq(rc, 0, "recommend %s: %s", req->user_id ? req->user_id : "(null)",
                 tt_err_msg(&err, rc));
    return res->n;
}

static int32_t user(const char *id)
{
    int32_t u = tt_catalog_user_find(cat, id);
    cr_assert(u >= 0, "no user %s", id);
    return u;
}

/* What the main model alone returns for @u with @excl (sorted) excluded. */
static int model_list(int32_t u, const int32_t *hist, const float *r, int32_t n_hist,
                      const int32_t *excl, int32_t n_excl, int k, tt_scored *out)
{
    tt_query q = {.user = u,
                  .hist = hist,
                  .hist_conf = r,
                  .n_hist = n_hist,
                  .exclude = excl,
                  .n_exclude = n_excl};
    int n = 0;

    cr_assert_eq(tt_model_recommend(als, &q, k, out, &n, NULL), 0);
    return n;
}

static bool same_list(const tt_scored *a, int na, const tt_scored *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (a[i].track != b[i].track)
            return false;
    return true;
}

/* Same tracks in the same order with the same scores (to float rounding). */
static bool same_scores(const tt_scored *a, int na, const tt_scored *b, int nb)
{
    if (!same_list(a, na, b, nb))
        return false;
    for (int i = 0; i < na; i++)
        if (fabsf(a[i].score - b[i].score) > 1e-5f * (1.0f + fabsf(b[i].score)))
            return false;
    return true;
}

Test(recommend, known_users_get_the_main_model_without_heard_tracks)
{
    tt_scored out[K], direct[K];
    tt_rec_result res;
    double own = 0.0;

    for (int32_t u = 0; u < tt_catalog_n_users(cat); u += 3) {
        const char *id = tt_catalog_user_id(cat, u);
        tt_rec_request req = {.user_id = id, .k = K};
        const int32_t *seen;
        const float *val;
        int32_t ns;
        int n = recommend(&req, out, &res), nd;

        cr_assert_eq(res.model, als, "user %s", id);
        cr_assert(!res.fallback);
        cr_assert_eq(n, K);
        tt_catalog_user_seen(cat, u, &seen, &val, &ns);
        for (int i = 0; i < n; i++) {
            cr_assert(!fx_contains(seen, ns, out[i].track), "user %s got heard track %s", id,
                      tt_catalog_track_id(cat, out[i].track));
            own += fx_id_group(tt_catalog_track_id(cat, out[i].track)) == fx_id_group(id);
        }
        /* The stored vector answers: the model's own list with the seen row excluded. */
        nd = model_list(u, NULL, NULL, 0, seen, ns, K, direct);
        cr_assert(same_list(out, n, direct, nd), "user %s: list differs from the model's", id);
    }
    own /= K * ((tt_catalog_n_users(cat) + 2) / 3);
    cr_assert(own >= 0.8, "own-group share %.3f", own);
}

Test(recommend, unknown_users_get_the_fallback)
{
    tt_scored out[K];
    tt_rec_result res;
    int32_t jazz = tt_catalog_genre_find(cat, "jazz");
    tt_rec_request req = {.user_id = "somebody-new", .k = K, .genres = &jazz, .n_genres = 1};
    int n;

    cr_assert(jazz >= 0);
    n = recommend(&req, out, &res);
    cr_assert(res.fallback);
    cr_assert_eq(res.model, genre_model);
    cr_assert_eq(n, K);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(tt_catalog_track_genre(cat, out[i].track), "jazz");

    /* No genres either: still a full list (overall popularity). */
    req.genres = NULL;
    req.n_genres = 0;
    n = recommend(&req, out, &res);
    cr_assert(res.fallback);
    cr_assert_eq(n, K);
    req.user_id = NULL;
    n = recommend(&req, out, &res);
    cr_assert(res.fallback);
    cr_assert_eq(n, K);
}

Test(recommend, without_a_fallback_unknown_users_are_refused)
{
    tt_scored out[K];
    tt_rec_result res;
    tt_rec_request req = {.user_id = "somebody-new", .k = K};
    tt_err err = {0};

    ctx.fallback = NULL;
    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, &err), TT_ESTATE);
    req.user_id = "g00-u000";
    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, NULL), 0, "known users still served");
}

Test(recommend, users_below_min_history_get_the_fallback_without_heard_tracks)
{
    tt_scored out[K];
    tt_rec_result res;
    tt_rec_request req = {.user_id = "g02-u007", .k = K};
    const int32_t *seen;
    const float *val;
    int32_t ns;
    int n, own = 0;

    ctx.min_history = 1000;
    n = recommend(&req, out, &res);
    cr_assert(res.fallback);
    cr_assert_eq(res.model, genre_model);
    tt_catalog_user_seen(cat, user("g02-u007"), &seen, &val, &ns);
    for (int i = 0; i < n; i++) {
        cr_assert(!fx_contains(seen, ns, out[i].track));
        own += fx_id_group(tt_catalog_track_id(cat, out[i].track)) == 2;
    }
    cr_assert(own >= 8, "the genre fallback follows the user's history (%d of %d)", own, n);
}

Test(recommend, a_zero_limit_is_invalid)
{
    tt_scored out[1];
    tt_rec_result res;
    tt_rec_request req = {.user_id = "g00-u000", .k = 0};
    tt_err err = {0};

    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "limit");
}

Test(recommend, fresh_feedback_excludes_the_track_and_changes_the_list)
{
    tt_scored before[K], after[K];
    tt_rec_result res;
    tt_rec_request req = {.user_id = "g01-u004", .k = K};
    int32_t fresh;
    float r = 5.0f;
    int nb = recommend(&req, before, &res), na;

    fresh = before[0].track;
    req.fresh = &fresh;
    req.fresh_r = &r;
    req.n_fresh = 1;
    na = recommend(&req, after, &res);
    cr_assert_eq(res.model, als);
    cr_assert(!res.fallback);
    cr_assert_eq(na, K);
    cr_assert(!fx_scored_contains(after, na, fresh), "the fresh track is now heard");
    cr_assert(!same_list(before, nb, after, na));
}

Test(recommend, fresh_plays_move_the_list_toward_their_group)
{
    tt_scored out[K];
    tt_rec_result res;
    int32_t fresh[8];
    float r[8];
    char id[32];
    tt_rec_request req = {
        .user_id = "g00-u002", .k = K, .fresh = fresh, .fresh_r = r, .n_fresh = 8};
    int n, g3 = 0;

    /* A rock listener binges eight tracks of group 3. */
    for (int i = 0; i < 8; i++) {
        snprintf(id, sizeof(id), "g03-t%03d", i);
        fresh[i] = tt_catalog_track_find(cat, id);
        r[i] = 20.0f;
    }
    n = recommend(&req, out, &res);
    for (int i = 0; i < n; i++) {
        cr_assert(!fx_contains(fresh, 8, out[i].track));
        g3 += fx_id_group(tt_catalog_track_id(cat, out[i].track)) == 3;
    }
    cr_assert(g3 >= 3, "only %d of %d from the binged group", g3, n);
}

Test(recommend, new_users_with_fresh_feedback_are_folded_in)
{
    tt_scored out[K];
    tt_rec_result res;
    int32_t fresh[6];
    float r[6];
    char id[32];
    tt_rec_request req = {
        .user_id = "brand-new", .k = K, .fresh = fresh, .fresh_r = r, .n_fresh = 6};
    int n, own = 0;

    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "g02-t%03d", i);
        fresh[i] = tt_catalog_track_find(cat, id);
        r[i] = 3.0f;
    }
    n = recommend(&req, out, &res);
    cr_assert_eq(res.model, als);
    cr_assert(!res.fallback);
    for (int i = 0; i < n; i++) {
        cr_assert(!fx_contains(fresh, 6, out[i].track));
        own += fx_id_group(tt_catalog_track_id(cat, out[i].track)) == 2;
    }
    cr_assert(own >= 8, "%d of %d from the group", own, n);
}

Test(recommend, fresh_dislikes_and_caller_exclusions_are_never_served)
{
    tt_scored before[K], after[K];
    tt_rec_result res;
    tt_rec_request req = {.user_id = "g03-u010", .k = K};
    int32_t fresh[2], excl[3];
    float r[2] = {NAN, -0.5f};
    int n;

    recommend(&req, before, &res);
    fresh[0] = before[0].track; /* disliked just now */
    fresh[1] = before[1].track; /* skipped just now */
    excl[0] = before[4].track;  /* unsorted on purpose */
    excl[1] = before[2].track;
    excl[2] = before[3].track;
    req.fresh = fresh;
    req.fresh_r = r;
    req.n_fresh = 2;
    req.exclude = excl;
    req.n_exclude = 3;
    n = recommend(&req, after, &res);
    cr_assert_eq(n, K);
    for (int i = 0; i < 2; i++)
        cr_assert(!fx_scored_contains(after, n, fresh[i]));
    for (int i = 0; i < 3; i++)
        cr_assert(!fx_scored_contains(after, n, excl[i]));
}

Test(recommend, include_heard_allows_heard_but_never_disliked_tracks)
{
    int32_t nt = tt_catalog_n_tracks(cat), u = user("g01-u011");
    tt_scored *out = tt_malloc((size_t)nt * sizeof(tt_scored));
    tt_rec_result res;
    tt_rec_request req = {.user_id = "g01-u011", .k = nt, .include_heard = true};
    const int32_t *seen;
    const float *val;
    int32_t ns, disliked = 0, heard_in_top = 0;
    int n;

    tt_catalog_user_seen(cat, u, &seen, &val, &ns);
    for (int32_t j = 0; j < ns; j++)
        disliked += val[j] < 0;
    cr_assert_eq(disliked, 1);
    n = recommend(&req, out, &res);
    cr_assert_eq(res.model, als);
    cr_assert_eq(n, nt - disliked, "every track but the disliked one");
    for (int32_t j = 0; j < ns; j++)
        cr_assert_eq(fx_scored_contains(out, n, seen[j]), val[j] > 0, "track %d (seen value %g)",
                     seen[j], val[j]);
    for (int i = 0; i < K; i++)
        heard_in_top += fx_contains(seen, ns, out[i].track);
    cr_assert(heard_in_top > 0, "a listener's own favourites rank high when allowed");

    /* A fresh dislike is never served either; a fresh play is. */
    {
        int32_t fresh[2] = {out[0].track, out[1].track};
        float r[2] = {NAN, 1.0f};
        req.fresh = fresh;
        req.fresh_r = r;
        req.n_fresh = 2;
        n = recommend(&req, out, &res);
        cr_assert(!fx_scored_contains(out, n, fresh[0]));
        cr_assert(fx_scored_contains(out, n, fresh[1]));
    }
    free(out);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* @a (n entries) plus @x, sorted, into @out; returns the count. */
static int32_t sorted_with(const int32_t *a, int32_t n, int32_t x, int32_t *out)
{
    memcpy(out, a, (size_t)n * sizeof(int32_t));
    out[n] = x;
    qsort(out, (size_t)n + 1, sizeof(int32_t), cmp_i32);
    return n + 1;
}

/* Fresh plays of new tracks fold in together with the stored positives. */
Test(recommend, fresh_plays_fold_in_with_the_stored_history)
{
    int32_t u = user("g01-u009"), np, ns;
    const int32_t *pos, *seen;
    const float *pv, *sv;
    int32_t hist[64], excl[64], fresh = -1;
    float r[64], fresh_r = 6.0f;
    tt_scored got[K], want[K];
    tt_rec_result res;
    tt_rec_request req = {
        .user_id = "g01-u009", .k = K, .fresh = &fresh, .fresh_r = &fresh_r, .n_fresh = 1};
    int n, nw, ne;

    tt_catalog_user_positives(cat, u, &pos, &pv, &np);
    tt_catalog_user_seen(cat, u, &seen, &sv, &ns);
    cr_assert(np >= 1 && np < 63 && ns < 63);
    /* The first own-group track the user never saw. */
    for (int32_t t = 0; t < tt_catalog_n_tracks(cat) && fresh < 0; t++)
        if (fx_id_group(tt_catalog_track_id(cat, t)) == 1 && !fx_contains(seen, ns, t))
            fresh = t;
    memcpy(hist, pos, (size_t)np * sizeof(int32_t));
    memcpy(r, pv, (size_t)np * sizeof(float));
    hist[np] = fresh;
    r[np] = fresh_r;
    ne = sorted_with(seen, ns, fresh, excl);
    n = recommend(&req, got, &res);
    nw = model_list(u, hist, r, np + 1, excl, ne, K, want);
    cr_assert(same_scores(got, n, want, nw), "fresh history differs from a direct fold-in");
}

/*
 * Fresh feedback means interactions newer than the snapshot. They must change the user the
 * way training would have: a dislike takes the track out of the positives for good, and more
 * plays of a track the user already liked add to its preference (training sums r over events).
 */
static int32_t without(const int32_t *pos, const float *val, int32_t n, int32_t drop, int32_t *hist,
                       float *r)
{
    int32_t m = 0;

    for (int32_t i = 0; i < n; i++) {
        if (pos[i] == drop)
            continue;
        hist[m] = pos[i];
        r[m++] = val[i];
    }
    return m;
}

Test(recommend, a_fresh_dislike_removes_the_track_from_the_folded_history)
{
    int32_t u = user("g00-u005"), np, ns, nh;
    const int32_t *pos, *seen;
    const float *pv, *sv;
    int32_t hist[64], dropped;
    float r[64], nan_r = NAN;
    tt_scored got[K], want[K];
    tt_rec_result res;
    tt_rec_request req = {
        .user_id = "g00-u005", .k = K, .fresh = &dropped, .fresh_r = &nan_r, .n_fresh = 1};
    int n, nw;

    tt_catalog_user_positives(cat, u, &pos, &pv, &np);
    tt_catalog_user_seen(cat, u, &seen, &sv, &ns);
    cr_assert(np >= 4 && np < 64 && ns < 64);
    dropped = pos[0];
    nh = without(pos, pv, np, dropped, hist, r);
    n = recommend(&req, got, &res);
    /* The track is already among the seen ones: the exclusions do not change. */
    nw = model_list(u, hist, r, nh, seen, ns, K, want);
    cr_assert(same_scores(got, n, want, nw),
              "a track disliked just now is still folded in as a positive");
}

Test(recommend, fresh_plays_of_a_liked_track_add_to_its_preference)
{
    int32_t u = user("g02-u003"), np, ns;
    const int32_t *pos, *seen;
    const float *pv, *sv;
    int32_t hist[64], again;
    float r[64], more = 2.0f;
    tt_scored got[K], want[K];
    tt_rec_result res;
    tt_rec_request req = {
        .user_id = "g02-u003", .k = K, .fresh = &again, .fresh_r = &more, .n_fresh = 1};
    int n, nw;

    tt_catalog_user_positives(cat, u, &pos, &pv, &np);
    tt_catalog_user_seen(cat, u, &seen, &sv, &ns);
    cr_assert(np >= 1 && np < 64);
    again = pos[0];
    memcpy(hist, pos, (size_t)np * sizeof(int32_t));
    memcpy(r, pv, (size_t)np * sizeof(float));
    r[0] += more;
    n = recommend(&req, got, &res);
    nw = model_list(u, hist, r, np, seen, ns, K, want);
    cr_assert(same_scores(got, n, want, nw),
              "a replay is folded in as a second, separate positive of the same track");
}

/* A dislike recorded at training time holds: playing the track again does not make it liked. */
Test(recommend, a_fresh_play_of_a_disliked_track_stays_out_of_the_positives)
{
    int32_t u = user("g03-u002"), np, ns, disliked = -1;
    const int32_t *pos, *seen;
    const float *pv, *sv;
    float again = 4.0f;
    tt_scored got[K], want[K];
    tt_rec_result res;
    tt_rec_request req = {
        .user_id = "g03-u002", .k = K, .fresh = &disliked, .fresh_r = &again, .n_fresh = 1};
    int n, nw;

    tt_catalog_user_positives(cat, u, &pos, &pv, &np);
    tt_catalog_user_seen(cat, u, &seen, &sv, &ns);
    for (int32_t i = 0; i < ns; i++)
        if (sv[i] < 0)
            disliked = seen[i];
    cr_assert(disliked >= 0);
    n = recommend(&req, got, &res);
    nw = model_list(u, pos, pv, np, seen, ns, K, want);
    cr_assert(!fx_scored_contains(got, n, disliked));
    cr_assert(same_scores(got, n, want, nw),
              "a play after a training-time dislike is folded in as a positive");
}
