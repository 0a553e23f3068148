/*
 * The synthetic data generator, run on temporary SQLite stores: exact counts, determinism,
 * and the statistical shape the models rely on (heavy-tailed popularity, genre-dependent
 * audio features, tastes, skips, the daily window).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/core.h"
#include "tt/generate.h"
#include "tt/store.h"

#define USERS 200
#define TRACKS 2000
#define EVENTS 20000

static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tt_test_generate.XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void remove_tmpdir(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(generate, .init = make_tmpdir, .fini = remove_tmpdir);

static tt_generate_params params(int64_t users, int64_t tracks, int64_t events, uint64_t seed)
{
    tt_generate_params p = tt_generate_params_default();

    p.users = users;
    p.tracks = tracks;
    p.interactions = events;
    p.seed = seed;
    return p;
}

static tt_store *open_store(const char *name)
{
    char url[256];
    tt_store *s = NULL;
    tt_err err = {0};

    snprintf(url, sizeof(url), "sqlite:///%s/%s.db", tmpdir, name);
    cr_assert_eq(tt_store_open(url, &s, &err), 0, "open: %s", err.message);
    return s;
}

static tt_store *generate(const char *name, const tt_generate_params *p)
{
    tt_store *s = open_store(name);
    tt_generate_stats st;
    tt_err err = {0};

    cr_assert_eq(tt_generate_run(s, p, &st, &err), 0, "generate: %s", err.message);
    cr_assert_eq(st.interactions, p->interactions);
    return s;
}

static tt_store *generate_default(const char *name)
{
    tt_generate_params p = params(USERS, TRACKS, EVENTS, 11);
    return generate(name, &p);
}

static int64_t count(tt_store *s, const char *table)
{
    int64_t n = -1;
    cr_assert_eq(tt_store_count(s, table, &n, NULL), 0);
    return n;
}

/* Ids are a letter and seven digits, 0-based. */
static int id_index(const char *id)
{
    return atoi(id + 1);
}

static int genre_index(const char *name, size_t len)
{
    for (int g = 0; g < tt_generate_genre_count(); g++) {
        const char *gn = tt_generate_genre_name(g);
        if (strlen(gn) == len && memcmp(gn, name, len) == 0)
            return g;
    }
    return -1;
}

/* Bit g set for every genre named in a '|'-separated list; *first gets the first one. */
static uint32_t genre_mask(const char *list, int *first)
{
    uint32_t mask = 0;
    const char *p = list;

    if (first)
        *first = -1;
    while (*p) {
        size_t len = strcspn(p, "|");
        int g = genre_index(p, len);
        cr_assert_geq(g, 0, "unknown genre in '%s'", list);
        if (first && *first < 0)
            *first = g;
        mask |= 1u << g;
        p += len + (p[len] == '|');
    }
    return mask;
}

/* ---- hashing whole tables ---- */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    return (h ^ tt_hash64(p, n)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

static uint64_t mix_str(uint64_t h, const char *s)
{
    return s ? mix(h, s, strlen(s) + 1) : mix(h, "\xff", 1);
}

/*
 * Interactions hash as a multiset: the store chooses the order of rows written in one
 * transaction (SQLite sorts them by key), so only the rows themselves must be identical.
 */
static int hash_interaction(void *ctx, const tt_interaction_rec *r)
{
    uint64_t *h = ctx, x = 7;
    int32_t action = r->action;

    x = mix_str(x, r->user_id);
    x = mix_str(x, r->track_id);
    x = mix(x, &action, sizeof(action));
    x = mix(x, &r->weight, sizeof(r->weight));
    x = mix(x, &r->ms_played, sizeof(r->ms_played));
    x = mix(x, &r->occurred_at, sizeof(r->occurred_at));
    x = mix_str(x, r->context);
    x = mix_str(x, r->recommendation_id);
    *h += x * 0x9e3779b97f4a7c15ULL + (x >> 29);
    return 0;
}

static int hash_track(void *ctx, const tt_track_rec *t)
{
    uint64_t *h = ctx;

    *h = mix_str(*h, t->track_id);
    *h = mix_str(*h, t->title);
    *h = mix_str(*h, t->artist_id);
    *h = mix_str(*h, t->artist);
    *h = mix_str(*h, t->album);
    *h = mix_str(*h, t->genres);
    *h = mix(*h, &t->duration_ms, sizeof(t->duration_ms));
    *h = mix(*h, &t->release_year, sizeof(t->release_year));
    *h = mix(*h, t->features, sizeof(t->features));
    return 0;
}

static int hash_user(void *ctx, const tt_user_rec *u)
{
    uint64_t *h = ctx;

    *h = mix_str(*h, u->user_id);
    *h = mix_str(*h, u->plan_tier);
    *h = mix_str(*h, u->favorite_genres);
    *h = mix(*h, &u->created_at, sizeof(u->created_at));
    return 0;
}

static int hash_artist(void *ctx, const tt_artist_rec *a)
{
    uint64_t *h = ctx;

    *h = mix_str(*h, a->artist_id);
    *h = mix_str(*h, a->name);
    *h = mix_str(*h, a->genres);
    return 0;
}

struct hashes {
    uint64_t interactions, tracks, users, artists;
};

static struct hashes hash_store(tt_store *s)
{
    struct hashes h = {1, 2, 3, 4};

    cr_assert_eq(tt_store_scan_interactions(s, hash_interaction, &h.interactions, NULL), 0);
    cr_assert_eq(tt_store_scan_tracks(s, hash_track, &h.tracks, NULL), 0);
    cr_assert_eq(tt_store_scan_users(s, hash_user, &h.users, NULL), 0);
    cr_assert_eq(tt_store_scan_artists(s, hash_artist, &h.artists, NULL), 0);
    return h;
}

/* ---- loading what the tests look at ---- */

struct data {
    int n_tracks, n_users;
    int *track_genre;       /* first genre of each track */
    uint32_t *track_genres; /* all genres of each track */
    float (*feat)[TT_N_FEATURES];
    uint32_t *user_fav; /* declared favourite genres */
    int64_t *user_created;
    int64_t *user_events;
    int64_t *plays; /* play events per track */
    int64_t action[TT_ACT_COUNT];
    int64_t fav_plays, plays_total, skips_in, events_in, skips_out, events_out;
    int64_t *last_ts; /* per user, the latest occurred_at so far */
    int64_t order_violations, outside_window, before_signup, short_plays, long_skips;
    int64_t time_checked; /* events visited by check_user_times */
};

static int load_track(void *ctx, const tt_track_rec *t)
{
    struct data *d = ctx;
    int i = id_index(t->track_id);

    cr_assert(i >= 0 && i < d->n_tracks);
    d->track_genres[i] = genre_mask(t->genres, &d->track_genre[i]);
    memcpy(d->feat[i], t->features, sizeof(t->features));
    return 0;
}

static int load_user(void *ctx, const tt_user_rec *u)
{
    struct data *d = ctx;
    int i = id_index(u->user_id);

    cr_assert(i >= 0 && i < d->n_users);
    d->user_fav[i] = genre_mask(u->favorite_genres, NULL);
    d->user_created[i] = u->created_at;
    return 0;
}

static void tally_taste(struct data *d, const tt_interaction_rec *r, int u, int t)
{
    bool fav = (d->track_genres[t] & d->user_fav[u]) != 0;

    if (r->action == TT_ACT_PLAY) {
        d->plays[t]++;
        d->plays_total++;
        d->fav_plays += fav;
    }
    if (fav) {
        d->events_in++;
        d->skips_in += r->action == TT_ACT_SKIP;
    } else {
        d->events_out++;
        d->skips_out += r->action == TT_ACT_SKIP;
    }
}

/* Counts, for user @r's events in time order, those not strictly later than the previous. */
static int time_step(void *ctx, const tt_interaction_rec *r)
{
    struct data *d = ctx;
    int u = id_index(r->user_id);

    d->order_violations += d->last_ts[u] != INT64_MIN && r->occurred_at <= d->last_ts[u];
    d->time_checked++;
    d->last_ts[u] = r->occurred_at;
    return 0;
}

/* Each user's events must have strictly increasing, hence distinct, times. */
static void check_user_times(tt_store *s, struct data *d)
{
    char id[32];
    int64_t total = 0;

    for (int u = 0; u < d->n_users; u++) {
        d->last_ts[u] = INT64_MIN;
        snprintf(id, sizeof(id), "u%07d", u);
        cr_assert_eq(tt_store_scan_user_interactions(s, id, time_step, d, NULL), 0);
    }
    for (int u = 0; u < d->n_users; u++)
        total += d->user_events[u];
    cr_assert_eq(d->time_checked, total, "every event's time was checked");
}

static int load_interaction(void *ctx, const tt_interaction_rec *r)
{
    struct data *d = ctx;
    int u = id_index(r->user_id), t = id_index(r->track_id);

    cr_assert(u >= 0 && u < d->n_users && t >= 0 && t < d->n_tracks);
    d->action[r->action]++;
    d->user_events[u]++;
    d->outside_window +=
        r->occurred_at < TT_GENERATE_WINDOW_START || r->occurred_at >= TT_GENERATE_WINDOW_END;
    d->before_signup += r->occurred_at < d->user_created[u];
    d->short_plays += r->action == TT_ACT_PLAY && r->ms_played < 30000;
    d->long_skips += r->action == TT_ACT_SKIP && (r->ms_played >= 30000 || r->ms_played <= 0);
    tally_taste(d, r, u, t);
    return 0;
}

static void load(tt_store *s, int users, int tracks, struct data *d)
{
    memset(d, 0, sizeof(*d));
    d->n_tracks = tracks;
    d->n_users = users;
    d->track_genre = tt_calloc((size_t)tracks, sizeof(*d->track_genre));
    d->track_genres = tt_calloc((size_t)tracks, sizeof(*d->track_genres));
    d->feat = tt_calloc((size_t)tracks, sizeof(*d->feat));
    d->plays = tt_calloc((size_t)tracks, sizeof(*d->plays));
    d->user_fav = tt_calloc((size_t)users, sizeof(*d->user_fav));
    d->user_created = tt_calloc((size_t)users, sizeof(*d->user_created));
    d->user_events = tt_calloc((size_t)users, sizeof(*d->user_events));
    d->last_ts = tt_calloc((size_t)users, sizeof(*d->last_ts));
    cr_assert_eq(tt_store_scan_tracks(s, load_track, d, NULL), 0);
    cr_assert_eq(tt_store_scan_users(s, load_user, d, NULL), 0);
    cr_assert_eq(tt_store_scan_interactions(s, load_interaction, d, NULL), 0);
}

static void unload(struct data *d)
{
    free(d->track_genre);
    free(d->track_genres);
    free(d->feat);
    free(d->plays);
    free(d->user_fav);
    free(d->user_created);
    free(d->user_events);
    free(d->last_ts);
}

static int cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x < y) - (x > y);
}

/* ---- tests ---- */

Test(generate, exact_counts)
{
    tt_store *s = generate_default("a");

    cr_expect_eq(count(s, "interactions"), EVENTS);
    cr_expect_eq(count(s, "users"), USERS);
    cr_expect_eq(count(s, "tracks"), TRACKS);
    cr_expect_eq(count(s, "artists"), TRACKS / 8);
    tt_store_close(s);
}

Test(generate, same_seed_same_rows_other_seed_other_rows)
{
    tt_store *a = generate_default("a"), *b = generate_default("b");
    tt_generate_params p = params(USERS, TRACKS, EVENTS, 12);
    tt_store *c = generate("c", &p);
    struct hashes ha = hash_store(a), hb = hash_store(b), hc = hash_store(c);

    cr_expect_eq(ha.interactions, hb.interactions);
    cr_expect_eq(ha.tracks, hb.tracks);
    cr_expect_eq(ha.users, hb.users);
    cr_expect_eq(ha.artists, hb.artists);
    cr_expect_neq(ha.interactions, hc.interactions);
    cr_expect_neq(ha.tracks, hc.tracks);
    cr_expect_eq(count(c, "interactions"), EVENTS);
    tt_store_close(a);
    tt_store_close(b);
    tt_store_close(c);
}

Test(generate, batch_size_and_rerun_do_not_change_rows)
{
    tt_store *a = generate_default("a");
    tt_generate_params p = params(USERS, TRACKS, EVENTS, 11);
    tt_store *b;
    tt_err err = {0};

    p.batch_rows = 777;
    b = generate("b", &p);
    cr_expect_eq(hash_store(a).interactions, hash_store(b).interactions);
    cr_expect_eq(hash_store(a).tracks, hash_store(b).tracks);
    /* A second run over the same database updates the same keys instead of adding rows. */
    cr_assert_eq(tt_generate_run(b, &p, NULL, &err), 0, "%s", err.message);
    cr_expect_eq(count(b, "interactions"), EVENTS);
    cr_expect_eq(hash_store(a).interactions, hash_store(b).interactions);
    tt_store_close(a);
    tt_store_close(b);
}

Test(generate, every_action_with_plausible_shares_and_durations)
{
    static const enum tt_action want[] = {TT_ACT_PLAY,    TT_ACT_LIKE, TT_ACT_SKIP,
                                          TT_ACT_DISLIKE, TT_ACT_SAVE, TT_ACT_SHARE};
    tt_store *s = generate_default("a");
    struct data d;

    load(s, USERS, TRACKS, &d);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect_gt(d.action[want[i]], 0, "no %s", tt_action_name(want[i]));
    cr_expect_gt(d.action[TT_ACT_PLAY], EVENTS * 65 / 100);
    cr_expect_lt(d.action[TT_ACT_PLAY], EVENTS * 85 / 100);
    cr_expect_lt(d.action[TT_ACT_DISLIKE], d.action[TT_ACT_LIKE]);
    cr_expect_lt(d.action[TT_ACT_SHARE], d.action[TT_ACT_SAVE]);
    cr_expect_eq(d.short_plays, 0, "plays under 30 s");
    cr_expect_eq(d.long_skips, 0, "skips of 30 s or more");
    unload(&d);
    tt_store_close(s);
}

Test(generate, popularity_is_heavy_tailed)
{
    tt_store *s = generate_default("a");
    struct data d;
    int64_t top = 0;

    load(s, USERS, TRACKS, &d);
    qsort(d.plays, TRACKS, sizeof(*d.plays), cmp_desc);
    for (int i = 0; i < TRACKS / 100; i++)
        top += d.plays[i];
    cr_expect_gt((double)top / d.plays_total, 0.10, "top 1%% of tracks hold %.3f of plays",
                 (double)top / d.plays_total);
    /* ... while the long tail is still heard. */
    cr_expect_gt(d.plays[TRACKS / 2], 0);
    unload(&d);
    tt_store_close(s);
}

/* Share of the variance of feature @f explained by the track's genre (eta squared). */
static double genre_eta2(const struct data *d, int f)
{
    double sum[32] = {0}, n[32] = {0}, all = 0, ss_tot = 0, ss_between = 0;

    for (int i = 0; i < d->n_tracks; i++) {
        sum[d->track_genre[i]] += d->feat[i][f];
        n[d->track_genre[i]]++;
        all += d->feat[i][f];
    }
    all /= d->n_tracks;
    for (int i = 0; i < d->n_tracks; i++)
        ss_tot += (d->feat[i][f] - all) * (d->feat[i][f] - all);
    for (int g = 0; g < 32; g++)
        if (n[g] > 0)
            ss_between += n[g] * (sum[g] / n[g] - all) * (sum[g] / n[g] - all);
    return ss_between / ss_tot;
}

/* Accuracy of assigning each track to the genre whose (standardised) centroid is nearest. */
static double centroid_accuracy(const struct data *d)
{
    enum { F = TT_F_LOUDNESS + 1, G = 32 };
    double mean[F] = {0}, sd[F] = {0}, cen[G][F] = {{0}}, n[G] = {0};
    int hits = 0;

    for (int i = 0; i < d->n_tracks; i++)
        for (int f = 0; f < F; f++)
            mean[f] += d->feat[i][f] / d->n_tracks;
    for (int i = 0; i < d->n_tracks; i++)
        for (int f = 0; f < F; f++)
            sd[f] += pow(d->feat[i][f] - mean[f], 2) / d->n_tracks;
    for (int i = 0; i < d->n_tracks; i++) {
        n[d->track_genre[i]]++;
        for (int f = 0; f < F; f++)
            cen[d->track_genre[i]][f] += (d->feat[i][f] - mean[f]) / sqrt(sd[f]);
    }
    for (int i = 0; i < d->n_tracks; i++) {
        int best = -1;
        double best_d = INFINITY;
        for (int g = 0; g < G; g++) {
            double dist = 0;
            if (n[g] == 0)
                continue;
            for (int f = 0; f < F; f++)
                dist += pow((d->feat[i][f] - mean[f]) / sqrt(sd[f]) - cen[g][f] / n[g], 2);
            if (dist < best_d) {
                best_d = dist;
                best = g;
            }
        }
        hits += best == d->track_genre[i];
    }
    return (double)hits / d->n_tracks;
}

Test(generate, audio_features_depend_on_genre)
{
    tt_store *s = generate_default("a");
    struct data d;
    double acc;

    load(s, USERS, TRACKS, &d);
    /* Random assignment to 20 genres would explain about 19/1999 of the variance. */
    cr_expect_gt(genre_eta2(&d, TT_F_ENERGY), 0.5, "energy eta2 %.3f", genre_eta2(&d, TT_F_ENERGY));
    cr_expect_gt(genre_eta2(&d, TT_F_DANCEABILITY), 0.3);
    cr_expect_gt(genre_eta2(&d, TT_F_ACOUSTICNESS), 0.5);
    acc = centroid_accuracy(&d);
    cr_expect_gt(acc, 0.30, "nearest-centroid accuracy %.3f against chance 0.05", acc);
    for (int i = 0; i < TRACKS; i++) {
        cr_assert(d.feat[i][TT_F_ENERGY] >= 0 && d.feat[i][TT_F_ENERGY] <= 1);
        cr_assert(d.feat[i][TT_F_TEMPO] >= 50 && d.feat[i][TT_F_TEMPO] <= 220);
        cr_assert(d.feat[i][TT_F_LOUDNESS] >= -60 && d.feat[i][TT_F_LOUDNESS] <= 0);
        cr_assert(d.feat[i][TT_F_KEY] >= 0 && d.feat[i][TT_F_KEY] <= 11);
        cr_assert(d.feat[i][TT_F_MODE] == 0 || d.feat[i][TT_F_MODE] == 1);
    }
    unload(&d);
    tt_store_close(s);
}

/* Expected share of plays in favourite genres if users picked tracks at random. */
static double random_fav_share(const struct data *d)
{
    double share = 0;

    for (int u = 0; u < d->n_users; u++) {
        int64_t in = 0;
        for (int t = 0; t < d->n_tracks; t++)
            in += (d->track_genres[t] & d->user_fav[u]) != 0;
        share += (double)in / d->n_tracks * d->user_events[u] / EVENTS;
    }
    return share;
}

Test(generate, plays_follow_taste_and_skips_do_not)
{
    tt_store *s = generate_default("a");
    struct data d;
    double fav, base, skip_in, skip_out;

    load(s, USERS, TRACKS, &d);
    fav = (double)d.fav_plays / d.plays_total;
    base = random_fav_share(&d);
    cr_expect_gt(fav, 0.7, "%.3f of plays in favourite genres", fav);
    cr_expect_gt(fav, 2 * base, "favourite share %.3f vs %.3f at random", fav, base);
    skip_in = (double)d.skips_in / d.events_in;
    skip_out = (double)d.skips_out / d.events_out;
    cr_expect_gt(skip_out, 1.5 * skip_in, "skip rate %.3f outside taste, %.3f inside", skip_out,
                 skip_in);
    unload(&d);
    tt_store_close(s);
}

Test(generate, users_active_and_times_increasing_in_window)
{
    tt_store *s = generate_default("a");
    struct data d;
    int64_t most = 0;

    load(s, USERS, TRACKS, &d);
    check_user_times(s, &d);
    cr_expect_eq(d.order_violations, 0);
    cr_expect_eq(d.outside_window, 0);
    cr_expect_eq(d.before_signup, 0);
    for (int u = 0; u < USERS; u++) {
        cr_expect_geq(d.user_events[u], 5, "user %d has %lld events", u,
                      (long long)d.user_events[u]);
        most = d.user_events[u] > most ? d.user_events[u] : most;
    }
    /* Activity is heavy-tailed: the busiest user far exceeds the mean of 100. */
    cr_expect_gt(most, 4 * EVENTS / USERS);
    unload(&d);
    tt_store_close(s);
}

static int hour_of(void *ctx, const tt_interaction_rec *r)
{
    int64_t *hours = ctx;
    hours[(r->occurred_at % 86400) / 3600]++;
    return 0;
}

Test(generate, evenings_busier_than_nights)
{
    tt_store *s = generate_default("a");
    int64_t hours[24] = {0};

    cr_assert_eq(tt_store_scan_interactions(s, hour_of, hours, NULL), 0);
    cr_expect_gt(hours[20], 3 * hours[4], "20h %lld vs 4h %lld", (long long)hours[20],
                 (long long)hours[4]);
    tt_store_close(s);
}

Test(generate, small_and_tiny_shapes_keep_exact_counts)
{
    tt_generate_params p = params(50, 3, 120, 5);
    tt_store *s = generate("tiny", &p);
    struct data d;

    cr_expect_eq(count(s, "interactions"), 120);
    cr_expect_eq(count(s, "artists"), 1);
    load(s, 50, 3, &d);
    for (int u = 0; u < 50; u++)
        cr_expect_geq(d.user_events[u], 2);
    check_user_times(s, &d);
    cr_expect_eq(d.order_violations, 0);
    unload(&d);
    tt_store_close(s);
    p = params(1, 1, 1, 0);
    s = generate("one", &p);
    cr_expect_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}

struct seen {
    int calls;
    int64_t last_done, last_total;
    char last_phase[32];
};

static void on_progress(void *ctx, const char *phase, int64_t done, int64_t total)
{
    struct seen *s = ctx;

    s->calls++;
    s->last_done = done;
    s->last_total = total;
    snprintf(s->last_phase, sizeof(s->last_phase), "%s", phase);
}

Test(generate, reports_progress_to_the_end)
{
    tt_generate_params p = params(USERS, TRACKS, EVENTS, 3);
    struct seen seen = {0};
    tt_store *s;

    p.progress = on_progress;
    p.progress_ctx = &seen;
    s = generate("a", &p);
    cr_expect_geq(seen.calls, 4);
    cr_expect_str_eq(seen.last_phase, "interactions");
    cr_expect_eq(seen.last_done, EVENTS);
    cr_expect_eq(seen.last_total, EVENTS);
    tt_store_close(s);
}

/* Each case changes one size of a valid request (10 users, 10 tracks, 10 interactions). */
static const struct bad_case {
    const char *field;
    int64_t users, tracks, interactions, batch_rows;
} bad_cases[] = {
    {"users", 0, 10, 10, 1},
    {"users", -5, 10, 10, 1},
    {"users", TT_GENERATE_MAX_USERS + 1, 10, 10, 1},
    {"tracks", 10, 0, 10, 1},
    {"tracks", 10, TT_GENERATE_MAX_TRACKS + 1, 10, 1},
    {"interactions", 10, 10, 9, 1},
    {"interactions", 10, 10, 10 * TT_GENERATE_MAX_PER_USER + 1, 1},
    {"interactions", 100000, 10, TT_GENERATE_MAX_INTERACTIONS + 1, 1},
    {"batch_rows", 10, 10, 10, 0},
};

Test(generate, refuses_bad_sizes_naming_the_parameter)
{
    tt_generate_params ok = params(10, 10, 10, 1);
    tt_store *s;
    tt_err err = {0};

    cr_expect_eq(tt_generate_check(&ok, NULL), 0);
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        const struct bad_case *c = &bad_cases[i];
        tt_generate_params p = params(c->users, c->tracks, c->interactions, 1);

        p.batch_rows = c->batch_rows;
        tt_err_clear(&err);
        cr_expect_eq(tt_generate_check(&p, &err), TT_EINVAL, "case %zu accepted", i);
        cr_expect_str_eq(err.field, c->field, "case %zu", i);
        cr_expect_neq(strstr(err.message, c->field), NULL, "message '%s' does not name %s",
                      err.message, c->field);
    }
    /* Refused before anything is written. */
    s = open_store("refused");
    ok.users = 0;
    tt_err_clear(&err);
    cr_expect_eq(tt_generate_run(s, &ok, NULL, &err), TT_EINVAL);
    cr_expect_eq(count(s, "tracks"), 0);
    tt_store_close(s);
}

Test(generate, genre_names)
{
    cr_expect_eq(tt_generate_genre_count(), 20);
    cr_expect_str_eq(tt_generate_genre_name(0), "rock");
    cr_expect_null(tt_generate_genre_name(-1));
    cr_expect_null(tt_generate_genre_name(20));
    for (int g = 0; g < 20; g++)
        cr_expect_null(strchr(tt_generate_genre_name(g), '|'));
}
