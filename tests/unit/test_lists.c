/*
 * Lists ranked at training time for the recently active listeners only (src/models/lists.c):
 * which users get one, that everyone else is answered as a full ranking would answer them,
 * the round trip through a model file, and damaged slot indexes refused.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "../../src/models/rank_priv.h"
#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/model.h"

#define K 10
#define DAYS 10

static tt_dataset *ds;
static tt_train_set ts;

/*
 * The taste groups with a third of the listeners recent (their events moved back 0..3 days)
 * and the others silent for the last 40 days and more.
 */
static void setup(void)
{
    ds = fx_taste_groups(4, 30, 40, 15, 11);
    for (int64_t i = 0; i < ds->n_events; i++) {
        int32_t u = ds->ev_user[i];
        tt_dataset_set_event_time(ds, i,
                                  tt_dataset_event_time(ds, i) - (u % 3 == 0 ? 0 : 40 * FX_DAY) -
                                      (u % 4) * FX_DAY);
    }
    fx_train_set(ds, &ts);
}

static void teardown(void)
{
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

TestSuite(lists, .init = setup, .fini = teardown);

/* Each user's newest event, recomputed from the log. */
static int64_t last_event(int32_t u)
{
    int64_t last = INT64_MIN;

    for (int64_t i = 0; i < ds->n_events; i++)
        if (ds->ev_user[i] == u && tt_dataset_event_time(ds, i) > last)
            last = tt_dataset_event_time(ds, i);
    return last;
}

Test(lists, the_train_set_records_each_users_newest_event)
{
    for (int32_t u = 0; u < ts.conf.rows; u++)
        cr_assert_eq(ts.user_last[u], last_event(u), "user %d", u);
}

Test(lists, the_window_keeps_the_users_active_in_its_days)
{
    int32_t *users, n = tt__lists_select(&ts, DAYS, 0, &users), i = 0, outside = 0;

    for (int32_t u = 0; u < ts.conf.rows; u++) {
        bool recent = ts.user_last[u] >= ts.now - DAYS * FX_DAY;
        if (recent) {
            cr_assert_lt(i, n);
            cr_assert_eq(users[i++], u, "user %d should have a list", u);
        }
        outside += !recent;
    }
    cr_assert_eq(i, n);
    /* The fixture spreads events over 60 days: the window must leave some users out. */
    cr_assert_gt(outside, 0);
    cr_assert_gt(n, 0);
    free(users);
    n = tt__lists_select(&ts, 0, 0, &users);
    cr_assert_eq(n, ts.conf.rows, "no window: every user");
    free(users);
}

Test(lists, the_cap_keeps_the_most_recent_users_in_ascending_order)
{
    int32_t *all, *capped, n_all = tt__lists_select(&ts, DAYS, 0, &all);
    int32_t n = tt__lists_select(&ts, DAYS, 7, &capped);
    int64_t oldest_kept = INT64_MAX;

    cr_assert_eq(n, 7);
    for (int32_t i = 0; i < n; i++) {
        if (i > 0)
            cr_assert_lt(capped[i - 1], capped[i]);
        if (ts.user_last[capped[i]] < oldest_kept)
            oldest_kept = ts.user_last[capped[i]];
    }
    for (int32_t j = 0; j < n_all; j++) {
        bool kept = tt_sorted_contains(capped, n, all[j]);
        if (!kept)
            cr_assert_leq(ts.user_last[all[j]], oldest_kept, "user %d is newer", all[j]);
    }
    free(all);
    free(capped);
}

static tt_model *train(int days, int users)
{
    tt_als_params p = fx_als_params();
    tt_model *m = NULL;
    tt_err err = {0};
    int rc;

    p.precompute = 30;
    p.precompute_days = days;
    p.precompute_users = users;
    rc = tt_als_train(&ts, &p, &m, &err);
    cr_assert_eq(rc, 0, "training failed: %s", tt_err_msg(&err, rc));
    return m;
}

/* Top K for @u as served: the history excluded, lists used when the user has one. */
static int serve(const tt_model *m, int32_t u, tt_scored *out)
{
    tt_query q = {.user = u, .excludes_history = true};
    tt_err err = {0};
    int n = -1;

    q.n_exclude = fx_row(&ts.seen, u, &q.exclude, NULL);
    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, &err), 0, "%s", err.message);
    return n;
}

/* The same tracks in the same order; scores equal up to the rounding of another kernel. */
static void expect_same(const tt_scored *a, int na, const tt_scored *b, int nb, int32_t u)
{
    cr_assert_eq(na, nb, "user %d", u);
    for (int i = 0; i < na; i++) {
        cr_assert_eq(a[i].track, b[i].track, "user %d rank %d", u, i);
        cr_assert_float_eq(a[i].score, b[i].score, 1e-4, "user %d rank %d", u, i);
    }
}

Test(lists, users_outside_the_window_get_the_full_rankings_answer)
{
    tt_model *full = train(0, 0), *win = train(DAYS, 9);
    tt_als_stats st;
    int32_t *users, n = tt__lists_select(&ts, DAYS, 9, &users);

    cr_assert_eq(tt_als_stats_of(win, &st), 0);
    cr_assert_eq(st.ranked_users, n);
    cr_assert_eq(tt_als_stats_of(full, &st), 0);
    cr_assert_eq(st.ranked_users, ts.conf.rows);
    for (int32_t u = 0; u < ts.conf.rows; u++) {
        tt_scored a[K], b[K];
        int na = serve(full, u, a), nb = serve(win, u, b);
        expect_same(a, na, b, nb, u);
    }
    free(users);
    tt_model_free(full);
    tt_model_free(win);
}

static tt_model *load(const char *path)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_model_load(path, 0, &m, &err);

    cr_assert_eq(rc, 0, "load: %s", tt_err_msg(&err, rc));
    return m;
}

Test(lists, windowed_lists_survive_a_model_file)
{
    tt_model *m = train(DAYS, 9), *l;
    char dir[64], path[256];

    fx_tmpdir(dir);
    fx_save_model(m, fx_path(path, sizeof(path), dir, "als.ttm"));
    l = load(path);
    fx_rmtree(dir);
    for (int32_t u = 0; u < ts.conf.rows; u++) {
        tt_scored a[K], b[K];
        int na = serve(m, u, a), nb = serve(l, u, b);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(a, b, (size_t)na * sizeof(tt_scored)), 0, "user %d differs", u);
    }
    tt_model_free(l);
    tt_model_free(m);
}

Test(lists, damaged_slot_indexes_and_lists_are_refused)
{
    tt_model *m = train(DAYS, 9);
    int32_t *users, n = tt__lists_select(&ts, DAYS, 9, &users);
    int32_t dup = users[0], past = m->n_users, neg = -1, track = m->n_tracks;
    char dir[64], path[256];

    cr_assert_geq(n, 2);
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "als.ttm");
    /* Out of order (a repeated id), outside the users, negative. */
    fx_save_model(m, path);
    fx_section_overwrite(path, "user_top_users", sizeof(int32_t), &dup, sizeof(dup));
    fx_expect_model_refused(path, "user_top_users");
    fx_save_model(m, path);
    fx_section_overwrite(path, "user_top_users", (int64_t)(n - 1) * 4, &past, sizeof(past));
    fx_expect_model_refused(path, "user_top_users");
    fx_save_model(m, path);
    fx_section_overwrite(path, "user_top_users", 0, &neg, sizeof(neg));
    fx_expect_model_refused(path, "user_top_users");
    /* A listed track outside the catalog. */
    fx_save_model(m, path);
    fx_section_overwrite(path, "user_top", 0, &track, sizeof(track));
    fx_expect_model_refused(path, "user_top");
    /* The undamaged file still loads. */
    fx_save_model(m, path);
    tt_model_free(load(path));
    fx_rmtree(dir);
    free(users);
    tt_model_free(m);
}

/* Event times are kept as 32-bit offsets until one falls too far away: then as they came. */
Test(lists, event_times_far_apart_are_kept_exactly)
{
    static const int64_t when[] = {
        FX_T0,    FX_T0 - 3 * FX_DAY, 0, INT64_C(4102444800) * 8, -INT64_C(86400) * 365 * 200,
        FX_T0 + 1};
    tt_dataset *d = tt_dataset_new();
    tt_track_rec t = tt_track_rec_empty();
    int n = (int)(sizeof(when) / sizeof(when[0]));

    t.track_id = "t1";
    t.artist = "a1";
    tt_dataset_add_track(d, &t);
    for (int i = 0; i < n; i++) {
        fx_add_event(d, "u1", "t1", TT_ACT_PLAY, 1.0f, when[i]);
        cr_assert_eq(d->ev_time_wide != NULL, i >= 3, "after event %d", i);
    }
    tt_dataset_finish(d);
    for (int i = 0; i < n; i++)
        cr_assert_eq(tt_dataset_event_time(d, i), when[i], "event %d", i);
    tt_dataset_free(d);
}
