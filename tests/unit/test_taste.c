/*
 * Taste profiles: every figure of a hand-built fixture checked against values worked out by
 * hand (below, beside each assertion), time zones around midnight and both DST changes of
 * Europe/Paris, offsets, the population's quantiles and percentiles, sparse listeners, and
 * the summary's file: round trip, corrupt and foreign files refused.
 *
 * The fixture (T = FX_T0, the newest play of alice; D = one day):
 *   tracks  r1 (artist A, rock, energy 0.8, tempo 120)   r2 (A, rock, tempo 130)
 *           j1 (B, jazz, energy 0.2, tempo 90)            p1 (C, pop, energy 0.6, tempo 100)
 *           x1 (D, no genre, tempo 140)                   e1 (E, jazz, tempo 100)
 *           every track: key 5, liveness unknown
 *   alice   r1 x10 at T-40D, j1 x5 at T-30D (exactly the window's edge: before), r1 x5 at
 *           T-1D, p1 x15 at T-2D, x1 x5 at T; a like and a skip (not plays): 40 plays
 *   bob     r2 x30 at T-5D: 30 plays
 *   carol   p1 x2 at T-3D: sparse
 *   dave    a like only: no plays
 *   erin    e1 once at each of six instants around DST changes and midnights: sparse
 * Population (>= 20 plays): alice and bob.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/taste.h"
#include "tt/tz.h"

#define T FX_T0
#define D FX_DAY
#define EPS 1e-4

static tt_dataset *ds;
static tt_taste *taste;

static void track(const char *id, const char *artist, const char *genre, float energy, float tempo)
{
    float f[TT_N_FEATURES];

    for (int i = 0; i < TT_N_FEATURES; i++)
        f[i] = NAN;
    f[TT_F_ENERGY] = energy;
    f[TT_F_TEMPO] = tempo;
    f[TT_F_KEY] = 5;
    fx_add_track_content(ds, id, artist, genre, f, NULL, 0);
}

/* Erin's six plays (Unix times worked out with Python's datetime, UTC). */
static const int64_t erin_times[6] = {
    1679790600, /* 2023-03-26 00:30 UTC Sun: Paris 01:30 CET (DST starts at 01:00 UTC) */
    1679794200, /* 2023-03-26 01:30 UTC Sun: Paris 03:30 CEST */
    1698535800, /* 2023-10-28 23:30 UTC Sat: Paris 01:30 CEST Sun (DST ends at 01:00 UTC) */
    1698543000, /* 2023-10-29 01:30 UTC Sun: Paris 02:30 CET */
    1704065400, /* 2023-12-31 23:30 UTC Sun: Paris 2024-01-01 00:30 Mon */
    1688212800, /* 2023-07-01 12:00 UTC Sat: Paris 14:00 CEST */
};

static void build_dataset(void)
{
    ds = tt_dataset_new();
    track("r1", "A", "rock", 0.8f, 120);
    track("r2", "A", "rock", NAN, 130);
    track("j1", "B", "jazz", 0.2f, 90);
    track("p1", "C", "pop", 0.6f, 100);
    track("x1", "D", NULL, NAN, 140);
    track("e1", "E", "jazz", NAN, 100);
    for (const char *const *u =
             (const char *const[]){"alice", "bob", "carol", "dave", "erin", NULL};
         *u; u++)
        fx_add_user(ds, *u, NULL);
    fx_add_event(ds, "alice", "r1", TT_ACT_PLAY, 10, T - 40 * D);
    fx_add_event(ds, "alice", "j1", TT_ACT_PLAY, 5, T - 30 * D);
    fx_add_event(ds, "alice", "r1", TT_ACT_PLAY, 5, T - 1 * D);
    fx_add_event(ds, "alice", "p1", TT_ACT_PLAY, 15, T - 2 * D);
    fx_add_event(ds, "alice", "x1", TT_ACT_PLAY, 5, T);
    fx_add_event(ds, "alice", "e1", TT_ACT_LIKE, 1, T - 3 * D);
    fx_add_event(ds, "alice", "r2", TT_ACT_SKIP, 1, T - 3 * D);
    fx_add_event(ds, "bob", "r2", TT_ACT_PLAY, 30, T - 5 * D);
    fx_add_event(ds, "carol", "p1", TT_ACT_PLAY, 2, T - 3 * D);
    fx_add_event(ds, "dave", "p1", TT_ACT_LIKE, 1, T - 3 * D);
    for (int i = 0; i < 6; i++)
        fx_add_event(ds, "erin", "e1", TT_ACT_PLAY, 1, erin_times[i]);
    tt_dataset_finish(ds);
}

static void setup(void)
{
    tt_err err = {0};
    int rc;

    build_dataset();
    rc = tt_taste_build(ds, tt_catalog_checksum(ds), &taste, &err);
    cr_assert_eq(rc, 0, "build: %s", tt_err_msg(&err, rc));
}

static void teardown(void)
{
    tt_taste_free(taste);
    tt_dataset_free(ds);
}

TestSuite(taste, .init = setup, .fini = teardown);

/* The user's events as the service reads them, in dense ids. */
static int64_t events_of(const char *user, tt_taste_event *ev)
{
    int32_t u = tt_ids_find(ds->users, user, strlen(user));
    int64_t n = 0;

    for (int64_t i = 0; i < ds->n_events; i++)
        if (ds->ev_user[i] == u)
            ev[n++] = (tt_taste_event){ds->ev_track[i], (enum tt_action)ds->ev_action[i],
                                       ds->ev_weight[i], tt_dataset_event_time(ds, i)};
    return n;
}

static void profile_in(const tt_taste *t, const char *user, const tt_tz *tz, tt_taste_profile *p)
{
    tt_taste_event ev[32];
    int64_t n = events_of(user, ev);
    tt_err err = {0};
    int rc = tt_taste_profile_compute(t, ev, n, tz, p, &err);

    cr_assert_eq(rc, 0, "%s: %s", user, tt_err_msg(&err, rc));
}

static void profile(const char *user, const tt_tz *tz, tt_taste_profile *p)
{
    profile_in(taste, user, tz, p);
}

static void expect_share(const tt_taste_share *s, const char *name, bool artist, double plays,
                         double share)
{
    const char *got =
        artist ? tt_taste_artist_name(taste, s->id) : tt_taste_genre_name(taste, s->id);

    cr_expect_str_eq(got, name);
    cr_expect_float_eq(s->plays, plays, EPS, "%s plays", name);
    cr_expect_float_eq(s->share, share, EPS, "%s share", name);
}

Test(taste, plays_and_the_window_end_at_the_newest_play)
{
    tt_taste_profile p;

    profile("alice", NULL, &p);
    cr_expect_float_eq(p.plays, 40, EPS);
    cr_expect_float_eq(p.plays_recent, 25, EPS); /* r1 5 + p1 15 + x1 5 */
    cr_expect_float_eq(p.plays_before, 15, EPS); /* r1 10 + j1 5 (at the edge: before) */
    cr_expect_eq(p.last_play, T);
    cr_expect_eq(p.first_play, T - 40 * D);
    cr_expect_eq(p.window_start, T - 30 * D);
    cr_expect_not(p.sparse);
    cr_expect_eq(p.unknown_plays, 0);
}

Test(taste, top_genres_and_artists_all_time_and_recent)
{
    tt_taste_profile p;

    profile("alice", NULL, &p);
    /* Genre plays: rock 15, pop 15, jazz 5 of 35 with a genre (x1 has none); ties by id. */
    cr_assert_eq(p.n_genres, 3);
    expect_share(&p.genres[0], "rock", false, 15, 15.0 / 35);
    expect_share(&p.genres[1], "pop", false, 15, 15.0 / 35);
    expect_share(&p.genres[2], "jazz", false, 5, 5.0 / 35);
    /* Recent: pop 15, rock 5 of 20. */
    cr_assert_eq(p.n_genres_recent, 2);
    expect_share(&p.genres_recent[0], "pop", false, 15, 0.75);
    expect_share(&p.genres_recent[1], "rock", false, 5, 0.25);
    /* Artists over all 40 plays: A 15, C 15, B 5, D 5. */
    cr_assert_eq(p.n_artists, 4);
    expect_share(&p.artists[0], "A", true, 15, 0.375);
    expect_share(&p.artists[1], "C", true, 15, 0.375);
    expect_share(&p.artists[2], "B", true, 5, 0.125);
    expect_share(&p.artists[3], "D", true, 5, 0.125);
    /* Recent, of 25: C 15, A 5, D 5. */
    cr_assert_eq(p.n_artists_recent, 3);
    expect_share(&p.artists_recent[0], "C", true, 15, 0.6);
    expect_share(&p.artists_recent[1], "A", true, 5, 0.2);
    expect_share(&p.artists_recent[2], "D", true, 5, 0.2);
    cr_expect_eq(p.distinct_artists, 4);
    cr_expect_eq(p.distinct_genres, 3);
}

static double popularity(const char *track)
{
    return tt_taste_track_popularity(taste, tt_ids_find(ds->tracks, track, strlen(track)));
}

Test(taste, diversity_discovery_and_mainstream)
{
    tt_taste_profile p;
    /* Shares 3/7, 3/7, 1/7 over the catalog's 3 genres. */
    double h = -(2 * (3.0 / 7) * log(3.0 / 7) + (1.0 / 7) * log(1.0 / 7)) / log(3.0);

    profile("alice", NULL, &p);
    cr_expect_float_eq(p.value[TT_TASTE_ENTROPY], h, EPS);
    cr_expect_float_eq(p.value[TT_TASTE_ENTROPY], 0.914100, 1e-5);
    cr_expect_float_eq(p.value[TT_TASTE_ARTISTS_PER_100], 10.0, EPS); /* 4 artists / 40 plays */
    /* C and D first played in the window: (15 + 5) of 25 recent plays; A was heard before. */
    cr_expect_float_eq(p.value[TT_TASTE_DISCOVERY], 0.8, EPS);
    /*
     * Catalog plays: r1 15, r2 30, j1 5, p1 17, x1 5, e1 6; mid-ranks over 6 tracks: j1 and
     * x1 100 (0 + 2/2) / 6 = 16.667, e1 41.667, r1 58.333, p1 75, r2 91.667.
     */
    cr_expect_float_eq(popularity("j1"), 100.0 / 6, EPS);
    cr_expect_float_eq(popularity("p1"), 75, EPS);
    cr_expect_float_eq(popularity("r2"), 550.0 / 6, EPS);
    /* (15 x 58.333 + 5 x 16.667 + 15 x 75 + 5 x 16.667) / 40 */
    cr_expect_float_eq(p.value[TT_TASTE_MAINSTREAM], 2166.6667 / 40, 1e-3);
}

Test(taste, audio_features_are_play_weighted_means)
{
    tt_taste_profile p;

    profile("alice", NULL, &p);
    /* Energy known on r1, j1, p1: (15 x 0.8 + 5 x 0.2 + 15 x 0.6) / 35. */
    cr_expect_float_eq(p.value[TT_TASTE_FEATURE + TT_F_ENERGY], 22.0 / 35, EPS);
    cr_expect_float_eq(p.feature_recent[TT_F_ENERGY], 0.65, EPS); /* (4 + 9) / 20 */
    cr_expect_float_eq(p.feature_before[TT_F_ENERGY], 0.6, EPS);  /* (8 + 1) / 15 */
    /* Tempo on every play: (1800 + 450 + 1500 + 700) / 40. */
    cr_expect_float_eq(p.value[TT_TASTE_FEATURE + TT_F_TEMPO], 111.25, EPS);
    cr_expect(isnan(p.value[TT_TASTE_FEATURE + TT_F_LIVENESS]), "liveness is unknown");
    cr_expect(isnan(p.percentile[TT_TASTE_FEATURE + TT_F_LIVENESS]));
}

Test(taste, trend_compares_the_window_with_before)
{
    tt_taste_profile p;

    profile("alice", NULL, &p);
    /* Before: rock 2/3, jazz 1/3. Recent: pop 3/4, rock 1/4. */
    cr_assert_eq(p.n_rising, 1);
    cr_expect_str_eq(tt_taste_genre_name(taste, p.rising[0].genre), "pop");
    cr_expect_float_eq(p.rising[0].delta, 0.75, EPS);
    cr_expect_float_eq(p.rising[0].before, 0, EPS);
    cr_assert_eq(p.n_falling, 2);
    cr_expect_str_eq(tt_taste_genre_name(taste, p.falling[0].genre), "rock");
    cr_expect_float_eq(p.falling[0].delta, 0.25 - 2.0 / 3, EPS);
    cr_expect_str_eq(tt_taste_genre_name(taste, p.falling[1].genre), "jazz");
    cr_expect_float_eq(p.falling[1].delta, -1.0 / 3, EPS);
}

Test(taste, population_quantiles_and_percentiles)
{
    tt_taste_profile a, b;
    const float *q = tt_taste_quantiles(taste, TT_TASTE_FEATURE + TT_F_TEMPO);

    profile("alice", NULL, &a);
    profile("bob", NULL, &b);
    /* Two listeners: quantile i is alice + i/100 of the way to bob. */
    cr_expect_eq(tt_taste_population(taste, TT_TASTE_MAINSTREAM), 2);
    cr_expect_float_eq(q[0], 111.25, EPS);
    cr_expect_float_eq(q[50], (111.25 + 130) / 2, EPS);
    cr_expect_float_eq(q[100], 130, EPS);
    cr_expect_float_eq(a.percentile[TT_TASTE_FEATURE + TT_F_TEMPO], 0, EPS);
    cr_expect_float_eq(b.percentile[TT_TASTE_FEATURE + TT_F_TEMPO], 100, EPS);
    cr_expect_float_eq(tt_taste_percentile(taste, TT_TASTE_FEATURE + TT_F_TEMPO, 125.3125), 75,
                       1e-3);
    cr_expect_float_eq(tt_taste_percentile(taste, TT_TASTE_FEATURE + TT_F_TEMPO, 50), 0, EPS);
    cr_expect_float_eq(tt_taste_percentile(taste, TT_TASTE_FEATURE + TT_F_TEMPO, 500), 100, EPS);
    /* Mainstream: alice 54.167, bob 91.667; the midpoint is the 50th percentile. */
    cr_expect_float_eq(
        tt_taste_percentile(taste, TT_TASTE_MAINSTREAM, (2166.6667 / 40 + 550.0 / 6) / 2), 50,
        1e-3);
    /* Key 5 for everyone: every quantile is 5, and 5 sits in the middle of the run. */
    cr_expect_float_eq(a.percentile[TT_TASTE_FEATURE + TT_F_KEY], 50, EPS);
    /* Bob heard only A, all in his window: discovery 1; alice's 0.8 is the lowest. */
    cr_expect_float_eq(b.value[TT_TASTE_DISCOVERY], 1, EPS);
    cr_expect_float_eq(a.percentile[TT_TASTE_DISCOVERY], 0, EPS);
    /* Nobody has liveness: no quantiles, no percentile. */
    cr_expect_eq(tt_taste_population(taste, TT_TASTE_FEATURE + TT_F_LIVENESS), 0);
    cr_expect(isnan(tt_taste_percentile(taste, TT_TASTE_FEATURE + TT_F_LIVENESS, 0.5)));
    cr_expect(isnan(tt_taste_percentile(taste, TT_TASTE_MAINSTREAM, NAN)));
}

Test(taste, sparse_listeners_get_what_can_be_computed)
{
    tt_taste_profile c, d;

    profile("carol", NULL, &c);
    cr_expect(c.sparse);
    cr_expect_float_eq(c.plays, 2, EPS);
    cr_assert_eq(c.n_genres, 1);
    expect_share(&c.genres[0], "pop", false, 2, 1);
    cr_expect_float_eq(c.value[TT_TASTE_ENTROPY], 0, EPS);
    cr_expect_float_eq(c.value[TT_TASTE_ARTISTS_PER_100], 50, EPS);
    cr_expect_eq(c.n_rising + c.n_falling, 0, "no plays before the window: no trend");
    profile("dave", NULL, &d);
    cr_expect(d.sparse);
    cr_expect_float_eq(d.plays, 0, EPS);
    cr_expect_eq(d.n_genres + d.n_artists, 0);
    cr_expect(isnan(d.value[TT_TASTE_MAINSTREAM]) && isnan(d.value[TT_TASTE_ENTROPY]));
    cr_expect(isnan(d.value[TT_TASTE_DISCOVERY]) && isnan(d.percentile[TT_TASTE_DISCOVERY]));
    cr_expect_eq(d.last_play, 0);
}

Test(taste, plays_of_tracks_outside_the_catalog_are_counted_apart)
{
    tt_taste_event ev[2] = {{-1, TT_ACT_PLAY, 1, T}, {0, TT_ACT_PLAY, 0, T}};
    tt_taste_profile p;

    cr_assert_eq(tt_taste_profile_compute(taste, ev, 2, NULL, &p, NULL), 0);
    cr_expect_eq(p.unknown_plays, 1);
    cr_expect_float_eq(p.plays, 1, EPS, "a weight <= 0 counts one play");
    cr_expect_eq(tt_taste_profile_compute(taste, NULL, 1, NULL, &p, NULL), TT_EINVAL);
}

/* Erin's hours and weekdays in @spec: one play at each listed (hour, weekday). */
static void expect_clock(const char *spec, const int hours[6], const int days[6])
{
    tt_taste_profile p;
    double want_h[24] = {0}, want_d[7] = {0};
    tt_tz *z = NULL;
    tt_err err = {0};
    int rc = tt_tz_open(spec, NULL, &z, &err);

    cr_assert_eq(rc, 0, "%s: %s", spec, tt_err_msg(&err, rc));
    profile("erin", z, &p);
    for (int i = 0; i < 6; i++) {
        want_h[hours[i]]++;
        want_d[days[i]]++;
    }
    for (int h = 0; h < 24; h++)
        cr_expect_float_eq(p.hours[h], want_h[h], EPS, "%s hour %d", spec, h);
    for (int d = 0; d < 7; d++)
        cr_expect_float_eq(p.weekdays[d], want_d[d], EPS, "%s weekday %d", spec, d);
    tt_tz_free(z);
}

Test(taste, hours_and_weekdays_in_the_asked_time_zone)
{
    /* Weekdays: 0 Monday .. 6 Sunday. UTC first, then the same instants elsewhere. */
    expect_clock("UTC", (int[]){0, 1, 23, 1, 23, 12}, (int[]){6, 6, 5, 6, 6, 5});
    /* Paris: CET before 2023-03-26 01:00 UTC, CEST until 2023-10-29 01:00 UTC. */
    expect_clock("Europe/Paris", (int[]){1, 3, 1, 2, 0, 14}, (int[]){6, 6, 6, 6, 0, 5});
    /* +05:30 all year: 06:00, 07:00 Sun; 05:00 Sun; 07:00 Sun; 05:00 Mon; 17:30 Sat. */
    expect_clock("+05:30", (int[]){6, 7, 5, 7, 5, 17}, (int[]){6, 6, 6, 6, 0, 5});
    /* -0800: 16:30, 17:30 Sat; 15:30 Sat; 17:30 Sat; 15:30 Sun; 04:00 Sat. */
    expect_clock("-0800", (int[]){16, 17, 15, 17, 15, 4}, (int[]){5, 5, 5, 5, 6, 5});
}

Test(taste, tz_offsets_from_transitions_and_footer_rules)
{
    tt_tz *paris = NULL, *sydney = NULL, *ny = NULL, *kolkata = NULL;

    cr_assert_eq(tt_tz_open("Europe/Paris", NULL, &paris, NULL), 0);
    cr_assert_eq(tt_tz_open("Australia/Sydney", NULL, &sydney, NULL), 0);
    cr_assert_eq(tt_tz_open("America/New_York", NULL, &ny, NULL), 0);
    cr_assert_eq(tt_tz_open("Asia/Kolkata", NULL, &kolkata, NULL), 0);
    cr_expect_eq(tt_tz_offset(paris, 1679794200 - 3601), 3600); /* just before the change */
    cr_expect_eq(tt_tz_offset(paris, 1679794200 - 1800), 7200); /* 01:00 UTC exactly */
    cr_expect_eq(tt_tz_offset(ny, 1688212800), -4 * 3600);
    cr_expect_eq(tt_tz_offset(ny, 1704065400), -5 * 3600);
    cr_expect_eq(tt_tz_offset(kolkata, 1704065400), 19800);
    /* 2100 is past any file's transitions: the POSIX footer rule decides, both hemispheres. */
    cr_expect_eq(tt_tz_offset(paris, 4118083200), 7200);   /* 2100-07-01 */
    cr_expect_eq(tt_tz_offset(paris, 4102444800), 3600);   /* 2100-01-01 */
    cr_expect_eq(tt_tz_offset(sydney, 4118083200), 36000); /* winter: AEST */
    cr_expect_eq(tt_tz_offset(sydney, 4102444800), 39600); /* summer: AEDT */
    cr_expect_eq(tt_tz_offset(NULL, 4102444800), 0);
    tt_tz_free(paris);
    tt_tz_free(sydney);
    tt_tz_free(ny);
    tt_tz_free(kolkata);
}

Test(taste, bad_time_zones_are_refused_naming_the_field)
{
    static const char *const bad[] = {
        "Mars/Base", "../etc/passwd", "/etc/passwd",   "+15:00", "+05:60", "+5", "0530",
        "",          "Europe",        "Europe//Paris", "+05:3",  NULL};

    for (const char *const *s = bad; *s; s++) {
        tt_tz *z = NULL;
        tt_err err = {0};
        cr_expect_eq(tt_tz_open(*s, NULL, &z, &err), TT_EINVAL, "'%s' accepted", *s);
        cr_expect_str_eq(err.field, "timezone");
        cr_expect_null(z);
    }
}

Test(taste, tz_cache_returns_one_zone_per_spec)
{
    tt_tz_cache *c = tt_tz_cache_new(NULL);
    const tt_tz *a = NULL, *b = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_tz_cache_get(c, "Europe/Paris", &a, NULL), 0);
    cr_assert_eq(tt_tz_cache_get(c, "Europe/Paris", &b, NULL), 0);
    cr_expect_eq(a, b);
    cr_expect_str_eq(tt_tz_name(a), "Europe/Paris");
    cr_expect_eq(tt_tz_cache_get(c, "Nowhere/Land", &b, &err), TT_EINVAL);
    cr_expect_str_eq(err.field, "timezone");
    tt_tz_cache_free(c);
}

Test(taste, summary_round_trip)
{
    char dir[64], path[256];
    tt_taste *back = NULL;
    tt_taste_profile a, b;
    tt_err err = {0};
    int rc;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "taste.ttm");
    cr_assert_eq(tt_taste_save(taste, path, NULL), 0);
    rc = tt_taste_load(path, tt_catalog_checksum(ds), &back, &err);
    cr_assert_eq(rc, 0, "%s", tt_err_msg(&err, rc));
    cr_expect_eq(tt_taste_n_tracks(back), 6);
    cr_expect_eq(tt_taste_n_genres(back), 3);
    for (int s = 0; s < TT_TASTE_N_STATS; s++) {
        cr_expect_eq(tt_taste_population(back, s), tt_taste_population(taste, s));
        cr_expect_eq(memcmp(tt_taste_quantiles(back, s), tt_taste_quantiles(taste, s),
                            TT_TASTE_QUANTILES * sizeof(float)),
                     0, "quantiles of %d", s);
    }
    profile("alice", NULL, &a);
    profile_in(back, "alice", NULL, &b);
    for (int s = 0; s < TT_TASTE_N_STATS; s++) {
        cr_expect(a.value[s] == b.value[s] || (isnan(a.value[s]) && isnan(b.value[s])));
        cr_expect(a.percentile[s] == b.percentile[s] ||
                  (isnan(a.percentile[s]) && isnan(b.percentile[s])));
    }
    cr_expect_str_eq(tt_taste_artist_name(back, b.artists[0].id), "A");
    tt_taste_free(back);
    fx_rmtree(dir);
}

static void expect_refused(const char *path, uint64_t catalog, const char *needle)
{
    tt_taste *t = NULL;
    tt_err err = {0};
    int rc = tt_taste_load(path, catalog, &t, &err);

    cr_expect_eq(rc, TT_ECORRUPT, "rc %d: %s", rc, err.message);
    cr_expect_null(t);
    cr_expect(strstr(err.message, path) != NULL, "message names the file: %s", err.message);
    cr_expect(strstr(err.message, needle) != NULL, "message says '%s': %s", needle, err.message);
}

Test(taste, corrupt_foreign_and_stale_files_are_refused)
{
    char dir[64], path[256], other[256];
    tt_train_set ts;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "taste.ttm");
    fx_path(other, sizeof(other), dir, "catalog.ttm");
    cr_assert_eq(tt_taste_save(taste, path, NULL), 0);
    expect_refused(path, tt_catalog_checksum(ds) ^ 1, "another catalog");
    fx_meta_set(path, "n_stats", 3);
    expect_refused(path, 0, "not this engine's");
    cr_assert_eq(tt_taste_save(taste, path, NULL), 0);
    fx_flip_byte(path, fx_file_size(path) / 2, 0x40);
    expect_refused(path, 0, "");
    cr_assert_eq(tt_taste_save(taste, path, NULL), 0);
    fx_truncate(path, fx_file_size(path) - 100);
    expect_refused(path, 0, "");
    fx_train_set(ds, &ts);
    cr_assert_eq(tt_catalog_save(ds, &ts, other, NULL), 0);
    expect_refused(other, 0, "not a taste summary");
    tt_train_set_release(&ts);
    fx_rmtree(dir);
}

/* A genre or artist count of 2^31 - 1 in the metadata is refused, not allocated for. */
Test(taste, a_huge_name_count_is_refused_before_anything_is_allocated)
{
    static const char *const fields[] = {"n_genres", "n_artists"};
    char dir[64], path[2][256];

    fx_tmpdir(dir);
    for (int i = 0; i < 2; i++) {
        fx_path(path[i], sizeof(path[i]), dir, fields[i]);
        cr_assert_eq(tt_taste_save(taste, path[i], NULL), 0);
        fx_meta_set(path[i], fields[i], INT32_MAX);
    }
    fx_limit_address_space(1ULL << 30);
    for (int i = 0; i < 2; i++)
        expect_refused(path[i], 0, "_names' missing or of the wrong size");
    fx_rmtree(dir);
}

/* A "slim" TZif file (RFC 8536 version 2): no transitions, the rules in its footer alone. */
static void write_slim_zone(const char *path, const char *footer)
{
    uint8_t header[44] = {'T', 'Z', 'i', 'f', '2'};
    static const uint8_t block[10] = {0, 0, 0, 0, 0, 0, 'U', 'T', 'C', 0}; /* 1 type, 4 chars */
    FILE *f = fopen(path, "wb");

    cr_assert_not_null(f);
    header[20 + 4 * 4 + 3] = 1; /* typecnt */
    header[20 + 5 * 4 + 3] = 4; /* charcnt */
    for (int v = 0; v < 2; v++) {
        fwrite(header, 1, sizeof(header), f);
        fwrite(block, 1, sizeof(block), f);
    }
    fprintf(f, "\n%s\n", footer);
    fclose(f);
}

Test(taste, slim_zones_follow_their_footer_rule)
{
    char dir[64], path[256];
    tt_tz *z = NULL;
    tt_err err = {0};
    int rc;

    fx_tmpdir(dir);
    write_slim_zone(fx_path(path, sizeof(path), dir, "Slim"), "CET-1CEST,M3.5.0,M10.5.0/3");
    rc = tt_tz_open("Slim", dir, &z, &err);
    cr_assert_eq(rc, 0, "%s", tt_err_msg(&err, rc));
    cr_expect_eq(tt_tz_offset(z, 1688212800), 7200);        /* 2023-07-01 */
    cr_expect_eq(tt_tz_offset(z, 1704065400), 3600);        /* 2023-12-31 */
    cr_expect_eq(tt_tz_offset(z, 1679794200 - 3601), 3600); /* 2023-03-26 00:59:59 UTC */
    cr_expect_eq(tt_tz_offset(z, 1679794200 - 1800), 7200); /* 01:00 UTC: CEST */
    cr_expect_eq(tt_tz_offset(z, 1698543000 - 1801), 7200); /* 2023-10-29 00:59:59 UTC */
    cr_expect_eq(tt_tz_offset(z, 1698543000 - 1800), 3600); /* 01:00 UTC: CET again */
    tt_tz_free(z);
    /* A quoted name and no DST: +03:30 all year, as Asia/Tehran's footer says now. */
    write_slim_zone(path, "<+0330>-3:30");
    cr_assert_eq(tt_tz_open("Slim", dir, &z, NULL), 0);
    cr_expect_eq(tt_tz_offset(z, 1688212800), 12600);
    tt_tz_free(z);
    /* Julian-day rules (day 60 = March 1, day 300 = October 27) and an explicit DST offset. */
    write_slim_zone(path, "AAA3BBB2,J60/0,J300/0");
    cr_assert_eq(tt_tz_open("Slim", dir, &z, NULL), 0);
    cr_expect_eq(tt_tz_offset(z, 1688212800), -7200); /* July: in DST (UTC-2) */
    cr_expect_eq(tt_tz_offset(z, 1704065400), -10800);
    tt_tz_free(z);
    fx_rmtree(dir);
}

/* Every truncation and many flipped bytes of a real zone file: refused or read, never a crash. */
Test(taste, damaged_zone_files_never_crash)
{
    char dir[64], path[256];
    FILE *in = fopen("/usr/share/zoneinfo/Europe/Paris", "rb");
    uint8_t buf[8192];
    size_t n;

    cr_assert_not_null(in);
    n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "Zone");
    for (size_t len = 0; len <= n; len += len < 64 ? 1 : 13) {
        FILE *f = fopen(path, "wb");
        tt_tz *z = NULL;
        fwrite(buf, 1, len, f);
        fclose(f);
        if (tt_tz_open("Zone", dir, &z, NULL) == 0)
            (void)tt_tz_offset(z, 1688212800);
        tt_tz_free(z);
    }
    for (size_t at = 0; at < n; at += 5) {
        FILE *f = fopen(path, "wb");
        tt_tz *z = NULL;
        buf[at] ^= 0xa5;
        fwrite(buf, 1, n, f);
        fclose(f);
        buf[at] ^= 0xa5;
        if (tt_tz_open("Zone", dir, &z, NULL) == 0)
            for (int64_t t = -4000000000LL; t < 5000000000LL; t += 300000000)
                (void)tt_tz_offset(z, t);
        tt_tz_free(z);
    }
    fx_rmtree(dir);
}
