/*
 * Radio stations: the properties radio.h promises, checked over many seeds and 1,000-track
 * runs that go through the cursor after every page, as a client does: no track twice within
 * 1,000 tracks, no artist twice within 10, a cursor that stays small, a station that moves yet
 * stays near its seed; cursors refused when altered in any way; skips steering the next
 * pages; the rules relaxing in their order on a catalog too small for them; the fallback for
 * a seed without neighbours.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/catalog.h"
#include "tt/content.h"
#include "tt/popularity.h"
#include "tt/radio.h"

#define GROUPS 4
#define TRACKS_PER_GROUP 1200
#define RUN 1000
#define PAGE 25

static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

struct world {
    char dir[64];
    tt_dataset *ds;
    tt_catalog *cat;
    tt_model *als, *content, *pop;
    tt_radio *radio;
};

static struct world W;

/* Catalog, ALS, content and genre popularity over @ds, and a radio over them. */
static void world_open(tt_dataset *ds)
{
    tt_train_set ts;
    tt_content_params cp = tt_content_params_default();
    tt_als_params ap = fx_als_params();
    char path[256];

    W.ds = ds;
    fx_tmpdir(W.dir);
    fx_train_set(ds, &ts);
    fx_path(path, sizeof(path), W.dir, "catalog.ttm");
    cr_assert_eq(tt_catalog_save(ds, &ts, path, NULL), 0);
    cr_assert_eq(tt_catalog_load(path, &W.cat, NULL), 0);
    cr_assert_eq(tt_als_train(&ts, &ap, &W.als, NULL), 0);
    cr_assert_eq(tt_content_train(&ts, &cp, &W.content, NULL), 0);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_GENRE, 0.0, &W.pop, NULL), 0);
    tt_train_set_release(&ts);
    tt_radio_sources src = {W.cat, W.als, W.content, W.pop};
    cr_assert_eq(tt_radio_new(&src, &W.radio, NULL), 0);
}

static void setup(void)
{
    world_open(fx_sound_groups(GROUPS, 40, TRACKS_PER_GROUP, 80, 42));
}

static void teardown(void)
{
    tt_radio_free(W.radio);
    tt_model_free(W.als);
    tt_model_free(W.content);
    tt_model_free(W.pop);
    tt_catalog_free(W.cat);
    tt_dataset_free(W.ds);
    fx_rmtree(W.dir);
    memset(&W, 0, sizeof(W));
}

static void start(tt_radio_state *st, const char *track, const char *artist, const char *genre,
                  uint32_t flags, uint64_t station)
{
    tt_err err = {0};

    memset(st, 0, sizeof(*st));
    snprintf(st->track_id, sizeof(st->track_id), "%s", track ? track : "");
    snprintf(st->artist, sizeof(st->artist), "%s", artist ? artist : "");
    snprintf(st->genre, sizeof(st->genre), "%s", genre ? genre : "");
    cr_assert_eq(tt_radio_start(W.radio, station, flags, st, &err), 0, "%s", err.message);
}

/*
 * Plays @n tracks of the station in @st into @out, a page of @page at a time, each page read
 * back from the previous page's cursor. Returns the longest cursor seen.
 */
static size_t play(tt_radio_state *st, const tt_radio_listener *lis, int n, int page, int32_t *out)
{
    char cursor[TT_RADIO_CURSOR_MAX + 1];
    tt_scored items[100];
    size_t longest = 0;
    int got = 0;

    while (got < n) {
        int k = 0, want = n - got < page ? n - got : page;
        tt_err err = {0};
        cr_assert_eq(tt_radio_next(W.radio, st, lis, want, items, &k, &err), 0, "%s", err.message);
        cr_assert_eq(k, want, "a page came back short: %d of %d", k, want);
        for (int i = 0; i < k; i++)
            out[got++] = items[i].track;
        size_t len = tt_radio_cursor_encode(st, key, cursor);
        longest = len > longest ? len : longest;
        cr_assert_eq(tt_radio_cursor_decode(cursor, len, key, st, &err), 0, "%s", err.message);
    }
    return longest;
}

static void assert_no_repeat(const int32_t *t, int n, int window)
{
    for (int i = 0; i < n; i++)
        for (int j = i - 1; j >= 0 && j >= i - window + 1; j--)
            cr_assert_neq(t[i], t[j], "track %d played at %d and again at %d", t[i], j, i);
}

static void assert_artist_gap(const int32_t *t, int n, int gap)
{
    for (int i = 0; i < n; i++)
        for (int j = i - 1; j >= 0 && j >= i - gap; j--)
            cr_assert_str_neq(
                tt_catalog_track_artist(W.cat, t[i]), tt_catalog_track_artist(W.cat, t[j]),
                "artist %s at %d and again at %d", tt_catalog_track_artist(W.cat, t[i]), j, i);
}

TestSuite(radio, .init = setup, .fini = teardown, .timeout = 120);

Test(radio, thousand_tracks_without_repeats_or_bunched_artists_over_many_seeds)
{
    int32_t t[RUN];
    char id[32];

    for (int s = 0; s < 12; s++) {
        tt_radio_state st;
        uint32_t flags = s % 2 ? TT_RADIO_CONTENT : 0;
        snprintf(id, sizeof(id), "g%02d-t%03d", s % GROUPS, (s * 37) % TRACKS_PER_GROUP);
        start(&st, id, NULL, NULL, flags, 1000 + (uint64_t)s);
        size_t longest = play(&st, NULL, RUN, PAGE, t);
        assert_no_repeat(t, RUN, RUN);
        assert_artist_gap(t, RUN, TT_RADIO_ARTIST_GAP);
        cr_assert_lt(longest, 1024, "cursor grew to %zu bytes", longest);
    }
}

Test(radio, artist_and_genre_seeds_keep_the_same_rules)
{
    int32_t t[RUN];
    tt_radio_state st;

    start(&st, NULL, "g02-a05", NULL, TT_RADIO_CONTENT, 7);
    play(&st, NULL, RUN, 50, t);
    assert_no_repeat(t, RUN, RUN);
    assert_artist_gap(t, RUN, TT_RADIO_ARTIST_GAP);
    start(&st, NULL, NULL, fx_group_genre(1), 0, 8);
    play(&st, NULL, RUN, 50, t);
    assert_no_repeat(t, RUN, RUN);
    assert_artist_gap(t, RUN, TT_RADIO_ARTIST_GAP);
    cr_assert_eq(fx_track_group(W.ds, t[0]), 1, "a genre station opens in its genre");
}

/* The cursor does not grow with the station's age: its size after 1,000 and 5,000 tracks. */
Test(radio, cursor_size_is_bounded_however_long_the_station_plays)
{
    static int32_t t[5000];
    tt_radio_state st;

    start(&st, "g01-t010", NULL, NULL, TT_RADIO_CONTENT, 9);
    size_t first = play(&st, NULL, RUN, 100, t);
    size_t later = play(&st, NULL, 4000, 100, t);
    cr_assert_leq(later, first + 8, "cursor %zu bytes after 1,000 tracks, %zu after 5,000", first,
                  later);
    cr_assert_lt(later, 1024);
}

static double mean_similarity(tt_radio_state *st, const int32_t *t, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += tt_radio_seed_similarity(W.radio, st, t[i]);
    return s / n;
}

/*
 * Near: every 100-track stretch of a 1,000-track run is much closer to the seed than the
 * catalog is on average, and nearly all of it comes from the seed's own taste group (1,200
 * tracks, the seed's natural neighbourhood). Moving: consecutive
 * stretches share no track.
 */
Test(radio, stays_near_its_seed_while_moving)
{
    int32_t t[RUN], all[GROUPS * TRACKS_PER_GROUP];
    tt_radio_state st;

    for (int i = 0; i < GROUPS * TRACKS_PER_GROUP; i++)
        all[i] = i;
    start(&st, "g03-t005", NULL, NULL, TT_RADIO_CONTENT, 11);
    play(&st, NULL, RUN, PAGE, t);
    double catalog = mean_similarity(&st, all, GROUPS * TRACKS_PER_GROUP);
    for (int w = 0; w < RUN; w += 100) {
        double near = mean_similarity(&st, t + w, 100);
        int own = 0;
        for (int i = w; i < w + 100; i++)
            own += fx_track_group(W.ds, t[i]) == 3;
        cr_log_info("tracks %d-%d: similarity %.3f (catalog %.3f), own group %d%%", w, w + 99, near,
                    catalog, own);
        cr_assert_gt(near, catalog + 0.3, "tracks %d-%d drifted: %.3f vs catalog %.3f", w, w + 99,
                     near, catalog);
        cr_assert_geq(own, 90, "tracks %d-%d: only %d%% from the seed's group", w, w + 99, own);
    }
}

/* Every one-character change and every truncation of a cursor is refused. */
Test(radio, altered_or_truncated_cursors_are_refused)
{
    char cursor[TT_RADIO_CURSOR_MAX + 1], bad[TT_RADIO_CURSOR_MAX + 1];
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.";
    int32_t t[60];
    tt_radio_state st, back;
    static const uint8_t other[32] = {9, 9, 9};

    start(&st, "g00-t001", NULL, NULL, TT_RADIO_CONTENT, 12);
    snprintf(st.user_id, sizeof(st.user_id), "g00-u001");
    play(&st, NULL, 60, 30, t);
    size_t len = tt_radio_cursor_encode(&st, key, cursor);
    cr_assert_eq(tt_radio_cursor_decode(cursor, len, key, &back, NULL), 0);
    cr_assert_eq(memcmp(&back, &st, offsetof(tt_radio_state, track_id)), 0);
    cr_assert_str_eq(back.user_id, "g00-u001");
    for (size_t i = 0; i < len; i++) {
        for (const char *c = alphabet; *c; c++) {
            if (*c == cursor[i])
                continue;
            memcpy(bad, cursor, len + 1);
            bad[i] = *c;
            tt_err err = {0};
            cr_assert_eq(tt_radio_cursor_decode(bad, len, key, &back, &err), TT_EINVAL,
                         "position %zu changed to '%c' was accepted", i, *c);
            cr_assert_str_eq(err.field, "cursor");
        }
        cr_assert_eq(tt_radio_cursor_decode(cursor, i, key, &back, NULL), TT_EINVAL,
                     "cursor truncated to %zu characters was accepted", i);
    }
    memcpy(bad, cursor, len);
    memcpy(bad + len, "AAAA", 5);
    cr_assert_eq(tt_radio_cursor_decode(bad, len + 4, key, &back, NULL), TT_EINVAL);
    cr_assert_eq(tt_radio_cursor_decode(cursor, len, other, &back, NULL), TT_EINVAL,
                 "a cursor signed with another key was accepted");
}

/*
 * A skipped track's artist never comes back, and the station leans away from the skipped
 * track: fewer of the next tracks are nearer to it than to the seed than without the skip.
 */
Test(radio, skips_steer_the_following_pages)
{
    int32_t before[PAGE], plain[300], steered[300];
    tt_radio_state st, copy;

    start(&st, "g02-t020", NULL, NULL, TT_RADIO_CONTENT, 13);
    play(&st, NULL, PAGE, PAGE, before);
    int32_t skipped = before[3];
    copy = st;
    tt_radio_event ev = {skipped, 1700000000};
    tt_radio_listener lis = {.events = &ev, .n_events = 1};
    play(&copy, NULL, 300, PAGE, plain);
    play(&st, &lis, 300, PAGE, steered);
    cr_assert_eq(st.n_steer, 1);
    const char *artist = tt_catalog_track_artist(W.cat, skipped);
    int near_plain = 0, near_steered = 0, same_plain = 0;
    for (int i = 0; i < 300; i++) {
        cr_assert_str_neq(tt_catalog_track_artist(W.cat, steered[i]), artist,
                          "the skipped artist came back at %d", i);
        same_plain += strcmp(tt_catalog_track_artist(W.cat, plain[i]), artist) == 0;
        near_plain += tt_content_similarity(W.content, plain[i], skipped) >
                      tt_radio_seed_similarity(W.radio, &copy, plain[i]);
        near_steered += tt_content_similarity(W.content, steered[i], skipped) >
                        tt_radio_seed_similarity(W.radio, &st, steered[i]);
    }
    cr_log_info("near the skipped track: %d unsteered, %d steered; its artist %d unsteered",
                near_plain, near_steered, same_plain);
    cr_assert_lt(near_steered, near_plain);
    /* The same skip fed again is not taken twice. */
    play(&st, &lis, PAGE, PAGE, before);
    cr_assert_eq(st.n_steer, 1);
}

Test(radio, disliked_tracks_never_play)
{
    int32_t t[RUN], avoid[200];
    tt_radio_state st;

    for (int i = 0; i < 200; i++)
        avoid[i] = tt_catalog_track_find(W.cat, "g03-t000") + i; /* group 6's first 200 */
    tt_radio_listener lis = {.avoid = avoid, .n_avoid = 200};
    start(&st, "g03-t100", NULL, NULL, TT_RADIO_CONTENT, 14);
    play(&st, &lis, RUN, PAGE, t);
    for (int i = 0; i < RUN; i++)
        cr_assert_not(tt_sorted_contains(avoid, 200, t[i]), "disliked track %d played", t[i]);
}

/*
 * Half the seed's group disliked: a pass over the first rings plays fewer than 1,000 tracks,
 * so a track coming round again would repeat too soon. The ring counts refuse it, the pool
 * widens, and 1,000 tracks still pass without a repeat.
 */
Test(radio, many_dislikes_widen_the_pool_rather_than_repeat)
{
    int32_t t[RUN], avoid[TRACKS_PER_GROUP / 2];
    int32_t first = tt_catalog_track_find(W.cat, "g03-t000");
    tt_radio_state st;

    for (int i = 0; i < TRACKS_PER_GROUP / 2; i++)
        avoid[i] = first + 2 * i;
    tt_radio_listener lis = {.avoid = avoid, .n_avoid = TRACKS_PER_GROUP / 2};
    start(&st, "g03-t101", NULL, NULL, TT_RADIO_CONTENT, 15);
    play(&st, &lis, RUN, PAGE, t);
    assert_no_repeat(t, RUN, RUN);
    assert_artist_gap(t, RUN, TT_RADIO_ARTIST_GAP);
    cr_assert_gt(st.width, TT_RADIO_POOL_START, "the pool did not widen");
}

static double mean_affinity(int32_t user, const int32_t *t, int n)
{
    const float *x = tt_als_user_vector(W.als, user);
    const float *inv, *Y;
    int k;
    double s = 0, xx = 0;

    Y = tt_als_track_factors(W.als, &k, &inv);
    for (int j = 0; j < k; j++)
        xx += (double)x[j] * x[j];
    for (int i = 0; i < n; i++) {
        double d = 0;
        for (int j = 0; j < k; j++)
            d += (double)x[j] * Y[(size_t)t[i] * k + j];
        s += d * inv[t[i]] / sqrt(xx);
    }
    return s / n;
}

/* A listener's station leans to their taste: nearer their ALS vector than the anonymous one. */
Test(radio, a_listener_station_leans_to_their_taste)
{
    int32_t anon[200], mine[200];
    tt_radio_state st;
    int32_t u = tt_catalog_user_find(W.cat, "g01-u003");

    cr_assert_geq(u, 0);
    start(&st, "g01-t050", NULL, NULL, 0, 16);
    play(&st, NULL, 200, 50, anon);
    start(&st, "g01-t050", NULL, NULL, 0, 16);
    snprintf(st.user_id, sizeof(st.user_id), "g01-u003");
    play(&st, NULL, 200, 50, mine);
    double a = mean_affinity(u, anon, 200), m = mean_affinity(u, mine, 200);
    cr_log_info("listener affinity of the first 200 tracks: %.3f anonymous, %.3f theirs", a, m);
    cr_assert_gt(m, a + 0.02);
}

Test(radio, unknown_seeds_are_named)
{
    tt_radio_state st = {0};
    tt_err err = {0};

    snprintf(st.track_id, sizeof(st.track_id), "no-such-track");
    cr_assert_eq(tt_radio_start(W.radio, 1, 0, &st, &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "track_id");
    memset(&st, 0, sizeof(st));
    tt_err_clear(&err);
    snprintf(st.artist, sizeof(st.artist), "Nobody At All");
    cr_assert_eq(tt_radio_start(W.radio, 1, 0, &st, &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "artist");
    memset(&st, 0, sizeof(st));
    tt_err_clear(&err);
    snprintf(st.genre, sizeof(st.genre), "polka-core");
    cr_assert_eq(tt_radio_start(W.radio, 1, 0, &st, &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "genre");
    memset(&st, 0, sizeof(st));
    cr_assert_eq(tt_radio_start(W.radio, 1, 0, &st, NULL), TT_EINVAL);
}

/* ---- small catalogs: relaxing, the whole catalog, the fallback ---------------------------- */

static void small_world(int artists, int per_artist, bool lonely)
{
    tt_dataset *ds = tt_dataset_new();
    char id[32], artist[32], user[32];

    for (int a = 0; a < artists; a++) {
        for (int i = 0; i < per_artist; i++) {
            float f[TT_N_FEATURES];
            fx_track_sound(a % 2, i, 5, f);
            snprintf(id, sizeof(id), "s-%02d-%02d", a, i);
            snprintf(artist, sizeof(artist), "Artist %d", a);
            fx_add_track_content(ds, id, artist, a % 2 ? "jazz" : "rock", f, NULL, 0);
        }
    }
    if (lonely)
        fx_add_track(ds, "lonely", "Hermit", "jazz");
    for (int u = 0; u < 40; u++) {
        snprintf(user, sizeof(user), "u%02d", u);
        fx_add_user(ds, user, NULL);
        for (int k = 0; k < 12; k++) {
            int a = (u + k) % artists, i = (u * 7 + k * 3) % per_artist;
            snprintf(id, sizeof(id), "s-%02d-%02d", a, i);
            /* Jazz listeners play the first jazz tracks most: a popularity to fall back on. */
            fx_add_event(ds, user, id, TT_ACT_PLAY, 1.0f + (float)(i < 3) * 4, FX_T0 - k * 60);
        }
    }
    tt_dataset_finish(ds);
    world_open(ds);
}

/*
 * Three artists cannot be spaced 10 apart: the spacing relaxes (10, 5, 2) to the widest that
 * works, pages stay full, and no track comes back before every reachable track was
 * considered.
 */
Test(radio_small, artist_spacing_relaxes_first_and_pages_stay_full, .fini = teardown)
{
    int32_t t[300];
    tt_radio_state st;

    small_world(3, 20, false);
    start(&st, "s-00-01", NULL, NULL, TT_RADIO_CONTENT, 21);
    play(&st, NULL, 300, PAGE, t);
    assert_artist_gap(t, 300, 2);
    assert_no_repeat(t, 300, 20);
    int gap1 = 0;
    for (int i = 1; i < 300; i++)
        gap1 += strcmp(tt_catalog_track_artist(W.cat, t[i]),
                       tt_catalog_track_artist(W.cat, t[i - 1])) == 0;
    cr_assert_eq(gap1, 0, "an artist played back to back though two others were left");
}

/* With one artist only, even spacing 1 cannot hold: the station still plays. */
Test(radio_small, one_artist_still_plays_every_track_once_per_cycle, .fini = teardown)
{
    int32_t t[90];
    tt_radio_state st;

    small_world(1, 30, false);
    start(&st, "s-00-04", NULL, NULL, 0, 22);
    play(&st, NULL, 90, 10, t);
    assert_no_repeat(t, 90, 30);
}

Test(radio_small, a_seed_without_neighbours_falls_back_to_its_genre, .fini = teardown)
{
    int32_t t[20];
    tt_radio_state st;

    small_world(4, 20, true);
    start(&st, "lonely", NULL, NULL, 0, 23);
    play(&st, NULL, 20, 20, t);
    cr_assert(st.flags & TT_RADIO_FALLBACK);
    for (int i = 0; i < 20; i++)
        cr_assert_str_eq(tt_catalog_track_genre(W.cat, t[i]), "jazz", "track %d: %s", i,
                         tt_catalog_track_genre(W.cat, t[i]));
    /* A played seed has neighbours. */
    start(&st, "s-01-03", NULL, NULL, 0, 24); /* user u00's second play */
    play(&st, NULL, 20, 20, t);
    cr_assert_not(st.flags & TT_RADIO_FALLBACK);
}

/* ---- the key ------------------------------------------------------------------------------ */

Test(radio_key, created_once_private_and_shared, .fini = teardown)
{
    uint8_t a[32], b[32], c[32];
    char path[256];
    struct stat sb;

    fx_tmpdir(W.dir);
    unsetenv("RADIO_SECRET");
    fx_path(path, sizeof(path), W.dir, "models");
    cr_assert_eq(tt_radio_key(path, a, NULL), 0);
    cr_assert_eq(tt_radio_key(path, b, NULL), 0);
    cr_assert_eq(memcmp(a, b, 32), 0, "a second engine on the same MODEL_DIR got another key");
    fx_path(path, sizeof(path), W.dir, "models/radio.secret");
    cr_assert_eq(stat(path, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(sb.st_size, 32);
    setenv("RADIO_SECRET", "shared by every replica", 1);
    cr_assert_eq(tt_radio_key("/nonexistent/dir", c, NULL), 0);
    cr_assert_neq(memcmp(a, c, 32), 0);
    unsetenv("RADIO_SECRET");
}
