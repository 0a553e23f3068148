/*
 * Train/test splits on small hand-built datasets: who is held out, how much, which events go
 * where, and that disliked or merely skipped tracks are never relevant.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/core.h"
#include "tt/eval.h"

#define N_TRACKS 12

static void add_tracks(tt_dataset *d, int n)
{
    char id[16];

    for (int i = 0; i < n; i++) {
        tt_track_rec t = tt_track_rec_empty();
        snprintf(id, sizeof(id), "t%d", i);
        t.track_id = id;
        t.artist = "artist";
        cr_assert_eq(tt_dataset_add_track(d, &t), i);
    }
}

static void ev(tt_dataset *d, const char *user, int track, enum tt_action a, float w, int64_t t)
{
    char id[16];
    tt_interaction_rec r = {.user_id = user,
                            .track_id = id,
                            .action = a,
                            .weight = w,
                            .ms_played = -1,
                            .occurred_at = t};

    snprintf(id, sizeof(id), "t%d", track);
    cr_assert_eq(tt_dataset_add_event(d, &r), 0);
}

/* Plays user @u tracks first..first+n-1, each @reps times, at times from @t0 on. */
static void plays(tt_dataset *d, const char *u, int first, int n, int reps, int64_t t0)
{
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n; i++)
            ev(d, u, first + i, TT_ACT_PLAY, 1.0f, t0 + r * 100 + i);
}

/*
 * u0: 10 positive tracks (each played twice), plus a dislike of t11 and a skip of t10.
 * u1: 5 positive tracks, one of them also disliked (so 4 positives).
 * u2: 6 positive tracks.
 * u3: 3 positive tracks.
 */
static tt_dataset *build(void)
{
    tt_dataset *d = tt_dataset_new();

    add_tracks(d, N_TRACKS);
    plays(d, "u0", 0, 10, 2, 1000);
    ev(d, "u0", 11, TT_ACT_DISLIKE, 1.0f, 1500);
    ev(d, "u0", 10, TT_ACT_SKIP, 1.0f, 1501);
    plays(d, "u1", 2, 5, 1, 2000);
    ev(d, "u1", 4, TT_ACT_DISLIKE, 1.0f, 2100);
    plays(d, "u2", 0, 6, 1, 3000);
    plays(d, "u3", 5, 3, 1, 4000);
    tt_dataset_finish(d);
    return d;
}

static int32_t user(const tt_dataset *d, const char *name)
{
    return tt_ids_find(d->users, name, strlen(name));
}

static int64_t row_n(const tt_split *s, int32_t u)
{
    return tt_csr_row_nnz(&s->relevant, u);
}

static bool relevant(const tt_split *s, int32_t u, int32_t t)
{
    return tt_sorted_contains(s->relevant.indices + s->relevant.indptr[u], (int32_t)row_n(s, u), t);
}

/* Every event of a relevant pair is a test event, and every test event is of one. */
static void assert_pairs_whole(const tt_dataset *d, const tt_split *s)
{
    for (int64_t i = 0; i < d->n_events; i++)
        cr_assert_eq(s->mask[i], !relevant(s, d->ev_user[i], d->ev_track[i]),
                     "event %lld of user %d track %d is on the wrong side", (long long)i,
                     d->ev_user[i], d->ev_track[i]);
}

static tt_split split_of(const tt_dataset *d, enum tt_split_kind kind, double holdout,
                         uint64_t seed)
{
    tt_split_params p = tt_split_params_default();
    tt_split s;
    tt_err err = {0};

    p.kind = kind;
    p.holdout = holdout;
    p.seed = seed;
    cr_assert_eq(tt_split_build(d, &p, &s, &err), 0, "%s", err.message);
    return s;
}

/* ---- random ------------------------------------------------------------------------------ */

Test(split_random, holds_out_counts_only_for_users_with_five_positives)
{
    tt_dataset *d = build();
    tt_split s = split_of(d, TT_SPLIT_RANDOM, 0.2, 7);

    cr_assert_eq(row_n(&s, user(d, "u0")), 2); /* round(0.2 * 10) */
    cr_assert_eq(row_n(&s, user(d, "u1")), 0); /* 4 positives after the dislike */
    cr_assert_eq(row_n(&s, user(d, "u2")), 1); /* round(0.2 * 6) = 1 */
    cr_assert_eq(row_n(&s, user(d, "u3")), 0);
    cr_assert_eq(s.n_users, 2);
    cr_assert_eq(s.users[0], user(d, "u0"));
    cr_assert_eq(s.users[1], user(d, "u2"));
    cr_assert_eq(s.n_events, d->n_events);
    cr_assert_eq(s.n_test_events, 2 * 2 + 1); /* u0's pairs have two plays each */
    cr_assert_eq(s.n_train_events + s.n_test_events, d->n_events);
    assert_pairs_whole(d, &s);
    tt_split_release(&s);
    tt_dataset_free(d);
}

Test(split_random, large_holdout_keeps_one_training_positive)
{
    tt_dataset *d = build();
    tt_split s = split_of(d, TT_SPLIT_RANDOM, 0.95, 1);

    cr_assert_eq(row_n(&s, user(d, "u0")), 9);
    cr_assert_eq(row_n(&s, user(d, "u2")), 5);
    assert_pairs_whole(d, &s);
    tt_split_release(&s);
    tt_dataset_free(d);
}

Test(split_random, is_deterministic_per_seed)
{
    tt_dataset *d = build();
    tt_split a = split_of(d, TT_SPLIT_RANDOM, 0.5, 42);
    tt_split b = split_of(d, TT_SPLIT_RANDOM, 0.5, 42);
    bool differs = false;

    cr_assert_eq(a.relevant.nnz, b.relevant.nnz);
    cr_assert_eq(
        memcmp(a.relevant.indices, b.relevant.indices, (size_t)a.relevant.nnz * sizeof(int32_t)),
        0);
    cr_assert_eq(memcmp(a.mask, b.mask, (size_t)d->n_events), 0);
    /* Some other seed must pick another subset of u0's ten tracks (5 of 10: 252 subsets). */
    for (uint64_t seed = 1; seed <= 20 && !differs; seed++) {
        tt_split c = split_of(d, TT_SPLIT_RANDOM, 0.5, seed);
        differs = memcmp(a.mask, c.mask, (size_t)d->n_events) != 0;
        tt_split_release(&c);
    }
    cr_assert(differs, "twenty seeds all gave the same split");
    tt_split_release(&a);
    tt_split_release(&b);
    tt_dataset_free(d);
}

Test(split_random, disliked_and_skipped_tracks_are_never_relevant)
{
    tt_dataset *d = build();

    for (uint64_t seed = 0; seed < 50; seed++) {
        tt_split s = split_of(d, TT_SPLIT_RANDOM, 0.8, seed);
        cr_assert(!relevant(&s, user(d, "u0"), 11));
        cr_assert(!relevant(&s, user(d, "u0"), 10));
        assert_pairs_whole(d, &s);
        tt_split_release(&s);
    }
    tt_dataset_free(d);
}

/* ---- time -------------------------------------------------------------------------------- */

Test(split_time, respects_the_cut)
{
    tt_dataset *d = tt_dataset_new();
    tt_split s;

    add_tracks(d, N_TRACKS);
    /* Ten events at times 1..10: holdout 0.3 cuts after the 7th. */
    for (int i = 0; i < 7; i++)
        ev(d, "a", i, TT_ACT_PLAY, 1.0f, i + 1);
    ev(d, "a", 7, TT_ACT_PLAY, 1.0f, 8);  /* new track: relevant */
    ev(d, "a", 0, TT_ACT_PLAY, 1.0f, 9);  /* heard in training: not relevant */
    ev(d, "b", 9, TT_ACT_PLAY, 1.0f, 10); /* b has no training positive: not evaluated */
    tt_dataset_finish(d);
    s = split_of(d, TT_SPLIT_TIME, 0.3, 0);
    cr_assert_eq(s.cut_time, 7);
    for (int64_t i = 0; i < d->n_events; i++)
        cr_assert_eq(s.mask[i], tt_dataset_event_time(d, i) <= 7);
    cr_assert_eq(s.n_test_events, 3);
    cr_assert_eq(s.n_users, 1);
    cr_assert_eq(s.users[0], user(d, "a"));
    cr_assert_eq(row_n(&s, user(d, "a")), 1);
    cr_assert(relevant(&s, user(d, "a"), 7));
    cr_assert_eq(row_n(&s, user(d, "b")), 0);
    tt_split_release(&s);
    /* (1 - 0.7) * 10 is not exactly 3 in floating point; the cut is still the 3rd event. */
    s = split_of(d, TT_SPLIT_TIME, 0.7, 0);
    cr_assert_eq(s.cut_time, 3);
    cr_assert_eq(s.n_test_events, 7);
    tt_split_release(&s);
    tt_dataset_free(d);
}

Test(split_time, ties_at_the_cut_train_and_dislikes_are_not_relevant)
{
    tt_dataset *d = tt_dataset_new();
    tt_split s;

    add_tracks(d, N_TRACKS);
    ev(d, "a", 0, TT_ACT_PLAY, 1.0f, 5);
    ev(d, "a", 1, TT_ACT_PLAY, 1.0f, 5);
    ev(d, "a", 2, TT_ACT_PLAY, 1.0f, 5);
    ev(d, "a", 3, TT_ACT_PLAY, 1.0f, 9);
    ev(d, "a", 3, TT_ACT_DISLIKE, 1.0f, 9); /* played, then disliked: not relevant */
    ev(d, "a", 4, TT_ACT_SKIP, 1.0f, 9);    /* only skipped: not positive */
    ev(d, "a", 5, TT_ACT_LIKE, 1.0f, 9);
    tt_dataset_finish(d);
    /* Rank ceil(0.5 * 7) = 4 has time 9: everything trains, nobody is evaluated. */
    s = split_of(d, TT_SPLIT_TIME, 0.5, 0);
    cr_assert_eq(s.cut_time, 9);
    cr_assert_eq(s.n_test_events, 0);
    cr_assert_eq(s.n_users, 0);
    tt_split_release(&s);
    /* Rank ceil(0.4 * 7) = 3 has time 5: the four events at time 9 test. */
    s = split_of(d, TT_SPLIT_TIME, 0.6, 0);
    cr_assert_eq(s.cut_time, 5);
    cr_assert_eq(s.n_test_events, 4);
    cr_assert_eq(row_n(&s, user(d, "a")), 1);
    cr_assert(relevant(&s, user(d, "a"), 5));
    tt_split_release(&s);
    tt_dataset_free(d);
}

/* ---- leave last out ------------------------------------------------------------------------ */

Test(split_last, holds_out_the_latest_positive_track)
{
    tt_dataset *d = build();
    tt_split s = split_of(d, TT_SPLIT_LAST, 0.2, 0);

    /* u0's latest events are a dislike and a skip; its latest positive event is t9. */
    cr_assert_eq(row_n(&s, user(d, "u0")), 1);
    cr_assert(relevant(&s, user(d, "u0"), 9));
    /* u1's latest event is the dislike of t4; the play of t6 (2004) is its latest positive. */
    cr_assert(relevant(&s, user(d, "u1"), 6));
    cr_assert(relevant(&s, user(d, "u2"), 5));
    cr_assert(relevant(&s, user(d, "u3"), 7));
    cr_assert_eq(s.n_users, 4);
    cr_assert_eq(s.n_test_events, 2 + 1 + 1 + 1); /* u0's t9 was played twice */
    assert_pairs_whole(d, &s);
    tt_split_release(&s);
    tt_dataset_free(d);
}

Test(split_last, ties_go_to_the_later_event_and_single_track_users_stay)
{
    tt_dataset *d = tt_dataset_new();
    tt_split s;

    add_tracks(d, N_TRACKS);
    ev(d, "a", 3, TT_ACT_PLAY, 1.0f, 50);
    ev(d, "a", 1, TT_ACT_PLAY, 1.0f, 50);
    ev(d, "a", 2, TT_ACT_PLAY, 1.0f, 10);
    ev(d, "b", 4, TT_ACT_PLAY, 3.0f, 60); /* one distinct track: not evaluated */
    ev(d, "b", 4, TT_ACT_PLAY, 1.0f, 70);
    tt_dataset_finish(d);
    s = split_of(d, TT_SPLIT_LAST, 0.2, 0);
    cr_assert_eq(s.n_users, 1);
    cr_assert_eq(row_n(&s, user(d, "a")), 1);
    cr_assert(relevant(&s, user(d, "a"), 1));
    cr_assert_eq(row_n(&s, user(d, "b")), 0);
    tt_split_release(&s);
    tt_dataset_free(d);
}

/* ---- a subset of the events (within) ------------------------------------------------------ */

/*
 * The events of build() a tuning run may use: all but every event of u0's t0 and t9, u2's
 * t0 and t1 and u3's t5 and t6 (as if an evaluation split held those pairs out).
 */
static uint8_t *within_of(const tt_dataset *d)
{
    static const struct {
        const char *user;
        int track;
    } out[] = {{"u0", 0}, {"u0", 9}, {"u2", 0}, {"u2", 1}, {"u3", 5}, {"u3", 6}};
    uint8_t *w = malloc((size_t)d->n_events);

    cr_assert_not_null(w);
    for (int64_t i = 0; i < d->n_events; i++) {
        w[i] = 1;
        for (size_t k = 0; k < sizeof(out) / sizeof(out[0]); k++)
            if (d->ev_user[i] == user(d, out[k].user) && d->ev_track[i] == out[k].track)
                w[i] = 0;
    }
    return w;
}

static int split_within(const tt_dataset *d, enum tt_split_kind kind, uint64_t seed,
                        const uint8_t *within, tt_split *s, tt_err *err)
{
    tt_split_params p = tt_split_params_default();

    p.kind = kind;
    p.seed = seed;
    p.within = within;
    return tt_split_build(d, &p, s, err);
}

/* Events outside within neither train nor test anything; inside, held-out pairs are whole. */
static void assert_within_respected(const tt_dataset *d, const uint8_t *within, const tt_split *s)
{
    for (int64_t i = 0; i < d->n_events; i++) {
        if (within[i])
            cr_assert_eq(s->mask[i], !relevant(s, d->ev_user[i], d->ev_track[i]),
                         "event %lld is on the wrong side", (long long)i);
        else
            cr_assert(!s->mask[i] && !relevant(s, d->ev_user[i], d->ev_track[i]),
                      "event %lld outside the subset trains or is relevant", (long long)i);
    }
}

Test(split_within, random_splits_only_the_events_within)
{
    tt_dataset *d = build();
    uint8_t *w = within_of(d);
    int32_t u0 = user(d, "u0");
    int t0_relevant_without = 0;

    for (uint64_t seed = 0; seed < 50; seed++) {
        tt_split s, all = split_of(d, TT_SPLIT_RANDOM, 0.2, seed);
        tt_err err = {0};
        cr_assert_eq(split_within(d, TT_SPLIT_RANDOM, seed, w, &s, &err), 0, "%s", err.message);
        assert_within_respected(d, w, &s);
        /* u0 keeps 8 positives inside (2 held out); u2 only 4, too few to evaluate. */
        cr_assert_eq(row_n(&s, u0), 2);
        cr_assert_eq(row_n(&s, user(d, "u2")), 0);
        cr_assert_eq(s.n_users, 1);
        t0_relevant_without += relevant(&all, u0, 0);
        tt_split_release(&s);
        tt_split_release(&all);
    }
    cr_assert_gt(t0_relevant_without, 0, "without the subset u0's t0 is sometimes held out");
    free(w);
    tt_dataset_free(d);
}

Test(split_within, leave_last_holds_out_the_latest_event_within)
{
    tt_dataset *d = build();
    uint8_t *w = within_of(d);
    tt_split s;
    tt_err err = {0};

    cr_assert_eq(split_within(d, TT_SPLIT_LAST, 0, w, &s, &err), 0, "%s", err.message);
    assert_within_respected(d, w, &s);
    /* u0's latest positive (t9) is outside: t8 goes. u3 keeps one positive inside: stays. */
    cr_assert_eq(row_n(&s, user(d, "u0")), 1);
    cr_assert(relevant(&s, user(d, "u0"), 8));
    cr_assert(relevant(&s, user(d, "u1"), 6));
    cr_assert(relevant(&s, user(d, "u2"), 5));
    cr_assert_eq(row_n(&s, user(d, "u3")), 0);
    cr_assert_eq(s.n_users, 3);
    {
        int64_t held = 0;
        for (int64_t i = 0; i < d->n_events; i++)
            held += w[i] && !s.mask[i];
        cr_assert_eq(held, 2 + 1 + 1); /* u0's t8 was played twice */
    }
    tt_split_release(&s);
    free(w);
    tt_dataset_free(d);
}

Test(split_within, time_and_cold_track_splits_refuse_a_subset)
{
    tt_dataset *d = build();
    uint8_t *w = within_of(d);
    enum tt_split_kind kinds[] = {TT_SPLIT_TIME, TT_SPLIT_COLD_TRACKS};

    for (int k = 0; k < 2; k++) {
        tt_split s;
        tt_err err = {0};
        cr_assert_eq(split_within(d, kinds[k], 1, w, &s, &err), TT_EINVAL);
        cr_assert_str_eq(err.field, "split");
        cr_assert_null(s.mask, "a refused split is left zeroed");
    }
    free(w);
    tt_dataset_free(d);
}

/* ---- arguments ----------------------------------------------------------------------------- */

Test(split, rejects_bad_parameters)
{
    tt_dataset *d = build();
    tt_split_params p = tt_split_params_default();
    tt_split s;
    tt_err err = {0};

    p.holdout = 1.0;
    cr_assert_eq(tt_split_build(d, &p, &s, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "holdout");
    cr_assert_null(s.mask);
    tt_err_clear(&err);
    p.holdout = 0.0;
    cr_assert_eq(tt_split_build(d, &p, &s, &err), TT_EINVAL);
    tt_err_clear(&err);
    p = tt_split_params_default();
    p.kind = TT_SPLIT_FILE;
    cr_assert_eq(tt_split_build(d, &p, &s, &err), TT_EINVAL);
    cr_assert_eq(tt_split_build(NULL, &p, &s, NULL), TT_EINVAL);
    cr_assert_eq(tt_split_kind_parse("time"), TT_SPLIT_TIME);
    cr_assert_eq(tt_split_kind_parse("file"), -1);
    cr_assert_eq(tt_split_kind_parse("bogus"), -1);
    cr_assert_str_eq(tt_split_kind_name(TT_SPLIT_LAST), "last");
    tt_dataset_free(d);
}

/* ---- test file ----------------------------------------------------------------------------- */

static char csv_path[64];

static const char *write_csv(const char *text)
{
    int fd;

    snprintf(csv_path, sizeof(csv_path), "/tmp/tt_test_split_XXXXXX");
    fd = mkstemp(csv_path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return csv_path;
}

static int from_file(const tt_dataset *d, const char *text, tt_split *s, tt_err *err)
{
    tt_weighting w = tt_weighting_default();
    int rc = tt_split_from_file(d, write_csv(text), &w, s, err);

    unlink(csv_path);
    return rc;
}

Test(split_file, relevant_are_new_positive_tracks_of_known_users)
{
    tt_dataset *d = build();
    tt_split s;
    tt_err err = {0};
    int rc = from_file(d,
                       "timestamp,user_id,track_id,action,weight\n"
                       "2024-01-01T00:00:00Z,u0,t10,like,\n" /* skipped in the database */
                       "2024-01-01T00:00:00Z,u0,t0,play,3\n" /* already heard */
                       "2024-01-01T00:00:00Z,u3,t0,play,2\n" /* new positive */
                       "2024-01-01T00:00:00Z,u3,t1,play,1\n"
                       "2024-01-01T00:00:00Z,u3,t1,dislike,\n" /* disliked in the file */
                       "2024-01-01T00:00:00Z,u3,t2,skip,1\n"   /* not positive */
                       "2024-01-01T00:00:00Z,nobody,t0,play,1\n"
                       "2024-01-01T00:00:00Z,u2,t99,play,1\n"
                       "2024-01-01T00:00:00Z,newbie,t0,play,1\n",
                       &s, &err);

    cr_assert_eq(rc, 0, "%s", err.message);
    cr_assert_eq(s.kind, TT_SPLIT_FILE);
    cr_assert_eq(s.file_rows, 9);
    cr_assert_eq(s.file_unknown_user, 2);
    cr_assert_eq(s.file_unknown_track, 1);
    cr_assert_eq(s.n_train_events, d->n_events);
    cr_assert_eq(s.n_users, 1);
    cr_assert_eq(s.users[0], user(d, "u3"));
    cr_assert_eq(row_n(&s, user(d, "u3")), 1);
    cr_assert(relevant(&s, user(d, "u3"), 0));
    cr_assert_eq(row_n(&s, user(d, "u0")), 0); /* t10 was heard (skipped) in the database */
    tt_split_release(&s);
    tt_dataset_free(d);
}

Test(split_file, reports_malformed_files)
{
    tt_dataset *d = build();
    tt_split s;
    tt_err err = {0};
    tt_weighting w = tt_weighting_default();

    cr_assert_eq(from_file(d, "user_id,track_id,action\nu0,t1,play\n", &s, &err), TT_EPARSE);
    cr_assert(strstr(err.message, "timestamp"), "%s", err.message);
    cr_assert_null(s.mask);
    tt_err_clear(&err);
    cr_assert_eq(from_file(d, "user_id,track_id,action,timestamp\nu0,t1,hum,0\n", &s, &err),
                 TT_EPARSE);
    cr_assert(strstr(err.message, ":2: unknown action 'hum'"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(
        from_file(d, "user_id,track_id,action,timestamp,weight\nu0,t1,PLAY,0,x\n", &s, &err),
        TT_EPARSE);
    cr_assert(strstr(err.message, "weight 'x'"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(from_file(d, "", &s, &err), TT_EPARSE);
    tt_err_clear(&err);
    cr_assert_eq(tt_split_from_file(d, "/nonexistent/test.csv", &w, &s, &err), TT_EIO);
    tt_dataset_free(d);
}

/* ---- cold tracks ------------------------------------------------------------------------- */

Test(split_cold_tracks, holds_out_every_event_of_the_chosen_tracks_and_nothing_else)
{
    tt_dataset *d = build();
    tt_split s = split_of(d, TT_SPLIT_COLD_TRACKS, 0.25, 3);
    int32_t chosen = 0, played = 0;
    bool any[N_TRACKS] = {false};

    for (int64_t i = 0; i < d->n_events; i++)
        any[d->ev_track[i]] = true;
    for (int t = 0; t < N_TRACKS; t++) {
        chosen += s.cold[t];
        played += any[t];
    }
    /* round(0.25 x 12 played tracks) = 3 tracks. */
    cr_assert_eq(played, 12);
    cr_assert_eq(chosen, 3);
    cr_assert_eq(s.n_cold, 3);
    for (int64_t i = 0; i < d->n_events; i++)
        cr_assert_eq(s.mask[i], !s.cold[d->ev_track[i]],
                     "event %lld on track %d is on the wrong side", (long long)i, d->ev_track[i]);
    /* Relevant: positive pairs on chosen tracks, for users who keep a training positive. */
    for (int32_t u = 0; u < s.relevant.rows; u++)
        for (int64_t j = s.relevant.indptr[u]; j < s.relevant.indptr[u + 1]; j++)
            cr_assert(s.cold[s.relevant.indices[j]]);
    cr_assert_geq(s.n_users, 1);
    tt_split_release(&s);
    tt_dataset_free(d);
}

Test(split_cold_tracks, disliked_and_skipped_pairs_are_not_relevant)
{
    tt_dataset *d = build();

    /* Every seed: t11 (u0 disliked it) and t10 (u0 only skipped it) are never relevant to u0. */
    for (uint64_t seed = 1; seed <= 20; seed++) {
        tt_split s = split_of(d, TT_SPLIT_COLD_TRACKS, 0.5, seed);
        cr_assert(!relevant(&s, user(d, "u0"), 11));
        cr_assert(!relevant(&s, user(d, "u0"), 10));
        cr_assert(!relevant(&s, user(d, "u1"), 4));
        tt_split_release(&s);
    }
    tt_dataset_free(d);
}

Test(split_cold_tracks, is_deterministic_per_seed)
{
    tt_dataset *d = build();
    tt_split a = split_of(d, TT_SPLIT_COLD_TRACKS, 0.25, 9);
    tt_split b = split_of(d, TT_SPLIT_COLD_TRACKS, 0.25, 9);

    cr_assert_eq(memcmp(a.cold, b.cold, N_TRACKS), 0);
    cr_assert_eq(memcmp(a.mask, b.mask, (size_t)d->n_events), 0);
    cr_assert_str_eq(tt_split_kind_name(TT_SPLIT_COLD_TRACKS), "cold-tracks");
    cr_assert_eq(tt_split_kind_parse("cold-tracks"), TT_SPLIT_COLD_TRACKS);
    cr_assert_eq(tt_split_kind_parse("file"), -1);
    tt_split_release(&a);
    tt_split_release(&b);
    tt_dataset_free(d);
}
