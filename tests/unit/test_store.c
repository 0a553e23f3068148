/*
 * The store interface (tt/store.h): round trips, upserts and event identity, transactions,
 * feedback, impressions, counts and scans, with the same test bodies run against both
 * backends (support/store_fixture.h). Schema migrations and bounded waits are in
 * test_store_schema.c.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/store_fixture.h"
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/store.h"

/* ---- round trips ------------------------------------------------------------------- */

STORE_TEST(artist_round_trip)
{
    tt_store *s = open_store();
    tt_artist_rec a1 = {"a1", "Nina Simone", "jazz|soul"}, a2 = {"a2", "Plain", NULL};
    struct rows *r = rows_new();
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_artist(s, &a1, &err), &err, "put artist");
    ok(tt_store_put_artist(s, &a2, &err), &err, "put artist");
    ok(tt_store_commit(s, &err), &err, "commit");
    ok(tt_store_scan_artists(s, on_artist, r, &err), &err, "scan artists");
    cr_assert_eq(r->n, 2);
    cr_assert_str_eq(r->ar[0].artist_id, "a1");
    cr_assert_str_eq(r->ar[0].name, "Nina Simone");
    cr_assert_str_eq(r->ar[0].genres, "jazz|soul");
    cr_assert_str_eq(r->ar[1].artist_id, "a2");
    cr_assert_str_eq(r->ar[1].genres, "", "NULL genres are stored as \"\"");
    rows_free(r);
    tt_store_close(s);
}

static tt_track_rec full_track(const float *emb)
{
    tt_track_rec t = tt_track_rec_empty();

    t.track_id = "t1";
    t.title = "Tab\there, new\nline, back\\slash, \\N, caf\xc3\xa9 \xe2\x99\xab";
    t.artist_id = "a1";
    t.artist = "Some Artist";
    t.album = "An Album";
    t.genres = "rock|indie";
    t.duration_ms = 215000;
    t.release_year = 1999;
    for (int i = 0; i < TT_F_KEY; i++)
        t.features[i] = 0.1f * (float)(i + 1) + 0.003f;
    t.features[TT_F_TEMPO] = 121.5f;
    t.features[TT_F_LOUDNESS] = -7.25f;
    t.features[TT_F_KEY] = 4.6f; /* stored as INTEGER: rounds to 5 */
    t.features[TT_F_MODE] = 1.0f;
    t.embedding = emb;
    t.embedding_dim = 4;
    return t;
}

static void check_full_track(const tt_track_rec *got, const float *emb)
{
    tt_track_rec want = full_track(emb);

    cr_assert_str_eq(got->track_id, want.track_id);
    cr_assert_str_eq(got->title, want.title);
    cr_assert_str_eq(got->artist_id, "a1");
    cr_assert_str_eq(got->artist, "Some Artist");
    cr_assert_str_eq(got->album, "An Album");
    cr_assert_str_eq(got->genres, "rock|indie");
    cr_assert_eq(got->duration_ms, 215000);
    cr_assert_eq(got->release_year, 1999);
    for (int i = 0; i < TT_F_KEY; i++)
        cr_assert_float_eq(got->features[i], want.features[i], 1e-6, "feature %d", i);
    cr_assert_float_eq(got->features[TT_F_KEY], 5.0f, 1e-6);
    cr_assert_float_eq(got->features[TT_F_MODE], 1.0f, 1e-6);
    cr_assert_eq(got->embedding_dim, 4);
    cr_assert_not_null(got->embedding);
    cr_assert_eq(memcmp(got->embedding, emb, 4 * sizeof(float)), 0, "embedding bits differ");
}

static void check_bare_track(const tt_track_rec *got)
{
    cr_assert_str_eq(got->track_id, "t2");
    cr_assert_str_eq(got->title, "Bare");
    cr_assert_str_eq(got->artist_id, "Nobody", "artist_id defaults to the artist name");
    cr_assert_str_eq(got->artist, "Nobody");
    cr_assert_null(got->album);
    cr_assert_str_eq(got->genres, "");
    cr_assert_lt(got->duration_ms, 0);
    cr_assert_leq(got->release_year, 0);
    for (int i = 0; i < TT_N_FEATURES; i++)
        cr_assert(isnan(got->features[i]), "feature %d should be unset", i);
    cr_assert_null(got->embedding);
    cr_assert_eq(got->embedding_dim, 0);
}

STORE_TEST(track_round_trip)
{
    tt_store *s = open_store();
    const float emb[4] = {1.0f, -0.5f, 3.25e-8f, 12345.678f};
    tt_track_rec full = full_track(emb), bare = tt_track_rec_empty();
    struct rows *r = rows_new();
    tt_err err = {0};

    bare.track_id = "t2";
    bare.title = "Bare";
    bare.artist = "Nobody";
    bare.release_year = 0;
    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_track(s, &full, &err), &err, "put track");
    ok(tt_store_put_track(s, &bare, &err), &err, "put track");
    ok(tt_store_commit(s, &err), &err, "commit");
    ok(tt_store_scan_tracks(s, on_track, r, &err), &err, "scan tracks");
    cr_assert_eq(r->n, 2);
    check_full_track(&r->tr[0], emb);
    check_bare_track(&r->tr[1]);
    rows_free(r);
    tt_store_close(s);
}

STORE_TEST(user_round_trip)
{
    tt_store *s = open_store();
    tt_user_rec u1 = {"u1", "pro", "jazz|blues", 1600000000}, u2 = {"u2", NULL, NULL, 0};
    tt_user_rec u1a = {"u1", "basic", "pop", 1650000000};
    tt_user_rec u1b = {"u1", "starter", "metal", 1700000000};
    struct rows *r = rows_new();
    int64_t before = tt_unix_time();
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_user(s, &u1, &err), &err, "put user");
    ok(tt_store_put_user(s, &u2, &err), &err, "put user");
    ok(tt_store_put_user(s, &u1a, &err), &err, "put user twice in one transaction");
    ok(tt_store_commit(s, &err), &err, "commit");
    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_user(s, &u1b, &err), &err, "put user again");
    ok(tt_store_commit(s, &err), &err, "commit");
    ok(tt_store_scan_users(s, on_user, r, &err), &err, "scan users");
    cr_assert_eq(r->n, 2);
    cr_assert_str_eq(r->us[0].user_id, "u1");
    cr_assert_str_eq(r->us[0].plan_tier, "starter", "upsert updates the plan");
    cr_assert_str_eq(r->us[0].favorite_genres, "metal");
    cr_assert_eq(r->us[0].created_at, 1600000000, "upsert keeps created_at");
    cr_assert_str_eq(r->us[1].user_id, "u2");
    cr_assert_str_eq(r->us[1].plan_tier, "free");
    cr_assert_str_eq(r->us[1].favorite_genres, "");
    cr_assert(r->us[1].created_at >= before && r->us[1].created_at <= tt_unix_time() + 1,
              "created_at <= 0 means now, got %lld", (long long)r->us[1].created_at);
    rows_free(r);
    tt_store_close(s);
}

STORE_TEST(interaction_round_trip)
{
    tt_store *s = open_store();
    tt_interaction_rec in[2] = {
        {"user \xc3\xa9", "t\\1", TT_ACT_SKIP, 0.375f, 15000, 1700000000,
         "ctx\twith\ttabs\nand \\N", "rec-1", 0, NULL},
        {"u2", "t2", TT_ACT_IMPRESSION, 1, -1, -5, NULL, NULL, 0, NULL},
    };
    struct rows *r;

    put_interactions(s, in, 2);
    r = scan_interactions(s);
    cr_assert_eq(r->n, 2);
    for (int k = 0; k < 2; k++) {
        /* Either order: the store chooses the order of one transaction's rows. */
        int i = strcmp(r->in[k].user_id, in[0].user_id) == 0 ? 0 : 1;
        cr_assert_str_eq(r->in[k].user_id, in[i].user_id);
        cr_assert_str_eq(r->in[k].track_id, in[i].track_id);
        cr_assert_eq(r->in[k].action, in[i].action);
        cr_assert_eq(r->in[k].weight, in[i].weight);
        cr_assert_eq(r->in[k].ms_played, in[i].ms_played);
        cr_assert_eq(r->in[k].occurred_at, in[i].occurred_at);
        cr_assert(same_str(r->in[k].context, in[i].context), "context %d", i);
        cr_assert(same_str(r->in[k].recommendation_id, in[i].recommendation_id), "rec %d", i);
    }
    rows_free(r);
    tt_store_close(s);
}

/* ---- upserts and transactions ----------------------------------------------------- */

/* Index of the scanned row whose event_id is @event_id (NULL: the first without one), or -1. */
static int row_of(const struct rows *r, const char *event_id)
{
    for (int i = 0; i < r->n; i++)
        if (same_str(r->in[i].event_id, event_id))
            return i;
    return -1;
}

STORE_TEST(interaction_upsert)
{
    tt_store *s = open_store();
    tt_interaction_rec batch[3] = {event("u1", "t1", 100, 1, "e-1"),
                                   event("u1", "t2", 100, 1, "e-2"),
                                   event("u1", "t1", 100, 3, "e-1")};
    tt_interaction_rec later[3] = {event("u1", "t2", 150, 7, "e-2"),
                                   event("u1", "t3", 100, 1, "e-3"), play("u1", "t1", 100, 3)};
    struct rows *r;
    int64_t id1, id2;
    int a, b;

    batch[2].context = "radio";
    /* One event_id twice in one transaction: one row, with the last put's values. */
    put_interactions(s, batch, 3);
    r = scan_interactions(s);
    cr_assert_eq(r->n, 2);
    a = row_of(r, "e-1");
    b = row_of(r, "e-2");
    cr_assert(a >= 0 && b >= 0, "event ids come back from scans");
    cr_assert_eq(r->in[a].weight, 3.0f, "the last put wins");
    cr_assert_str_eq(r->in[a].context, "radio");
    cr_assert_eq(r->in[b].weight, 1.0f);
    id1 = r->in[a].id;
    id2 = r->in[b].id;
    rows_free(r);
    /* In a later transaction: updated where it stands; the new events come after it. */
    put_interactions(s, later, 3);
    r = scan_interactions(s);
    cr_assert_eq(r->n, 4, "e-1, e-2, e-3 and the event without an id");
    cr_assert_eq(count(s, "interactions"), 4);
    b = row_of(r, "e-2");
    cr_assert_eq(r->in[b].id, id2, "the row keeps its first id");
    cr_assert_lt(b, 2, "and its place in id order");
    cr_assert_eq(r->in[b].weight, 7.0f, "the last put wins");
    cr_assert_eq(r->in[b].occurred_at, 150);
    cr_assert_eq(r->in[row_of(r, "e-1")].id, id1);
    cr_assert_eq(r->in[row_of(r, "e-1")].weight, 3.0f, "other events are untouched");
    cr_assert_geq(row_of(r, "e-3"), 2);
    cr_assert_geq(row_of(r, NULL), 2, "without an event_id the same values are a new row");
    for (int i = 2; i < 4; i++)
        cr_assert_gt(r->in[i].id, id1 > id2 ? id1 : id2, "row %d", i);
    rows_free(r);
    tt_store_close(s);
}

STORE_TEST(track_upsert)
{
    tt_store *s = open_store();
    tt_track_rec t = tt_track_rec_empty();
    struct rows *r = rows_new();
    tt_err err = {0};

    t.track_id = "t1";
    t.title = "Old";
    t.artist = "A";
    for (int round = 0; round < 2; round++) {
        ok(tt_store_begin(s, &err), &err, "begin");
        ok(tt_store_put_track(s, &t, &err), &err, "put track");
        t.title = round == 0 ? "Middle" : "New";
        ok(tt_store_put_track(s, &t, &err), &err, "put track again");
        ok(tt_store_commit(s, &err), &err, "commit");
    }
    ok(tt_store_scan_tracks(s, on_track, r, &err), &err, "scan tracks");
    cr_assert_eq(r->n, 1);
    cr_assert_eq(count(s, "tracks"), 1);
    cr_assert_str_eq(r->tr[0].title, "New");
    rows_free(r);
    tt_store_close(s);
}

STORE_TEST(rollback_leaves_nothing)
{
    tt_store *s = open_store();
    tt_interaction_rec r = play("u1", "t1", 100, 1);
    tt_artist_rec a = {"a1", "A", NULL};
    tt_user_rec u = {"u1", NULL, NULL, 0};
    tt_track_rec t = tt_track_rec_empty();
    tt_err err = {0};

    t.track_id = "t1";
    t.title = "T";
    t.artist = "A";
    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_artist(s, &a, &err), &err, "put artist");
    ok(tt_store_put_track(s, &t, &err), &err, "put track");
    ok(tt_store_put_user(s, &u, &err), &err, "put user");
    ok(tt_store_put_interaction(s, &r, &err), &err, "put interaction");
    tt_store_rollback(s);
    cr_assert_eq(count(s, "artists"), 0);
    cr_assert_eq(count(s, "tracks"), 0);
    cr_assert_eq(count(s, "users"), 0);
    cr_assert_eq(count(s, "interactions"), 0);
    /* The connection is still usable afterwards. */
    put_interactions(s, &r, 1);
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}

STORE_TEST(uncommitted_invisible_then_visible)
{
    tt_store *s = open_store(), *other = open_store();
    tt_interaction_rec r = play("u1", "t1", 100, 1);
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_interaction(s, &r, &err), &err, "put interaction");
    cr_assert_eq(count(s, "interactions"), 1, "a connection sees its own writes");
    cr_assert_eq(count(other, "interactions"), 0, "others see nothing before commit");
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(other, "interactions"), 1);
    tt_store_close(other);
    tt_store_close(s);
}

/*
 * Rows of one bulk transaction may come back in any order (store.h): each row is
 * identified by its time and checked against what was put, each exactly once.
 */
struct order_check {
    int n;
    int bad; /* first wrong row + 1, 0 when all are right */
    uint8_t seen[25000];
};

/* Rows of interleaved_bulk_puts: row i is track-<i> at 1000 + i with weight i % 7 + 0.5. */
static int check_order(void *ctx, const tt_interaction_rec *r)
{
    struct order_check *c = ctx;
    int64_t i = r->occurred_at - 1000;
    char track[32], user[32];

    snprintf(track, sizeof(track), "track-%05d", (int)i);
    snprintf(user, sizeof(user), "user-%05d", (int)(i % 997));
    if (!c->bad && (i < 0 || i >= 25000 || c->seen[i] || strcmp(r->track_id, track) != 0 ||
                    strcmp(r->user_id, user) != 0 || r->weight != (float)(i % 7) + 0.5f ||
                    r->ms_played != -1))
        c->bad = c->n + 1;
    if (i >= 0 && i < 25000)
        c->seen[i] = 1;
    c->n++;
    return 0;
}

/* Enough rows to cross every internal batch boundary, with other tables interleaved. */
STORE_TEST(interleaved_bulk_puts)
{
    tt_store *s = open_store();
    enum { N = 25000 };
    char user[32], track[32];
    static struct order_check c;
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    for (int i = 0; i < N; i++) {
        tt_interaction_rec x = play(user, track, 1000 + i, (float)(i % 7) + 0.5f);
        tt_user_rec u = {user, NULL, NULL, 0};
        tt_track_rec t = tt_track_rec_empty();

        snprintf(user, sizeof(user), "user-%05d", i % 997);
        snprintf(track, sizeof(track), "track-%05d", i);
        t.track_id = track;
        t.title = "T";
        t.artist = "A";
        ok(tt_store_put_interaction(s, &x, &err), &err, "put interaction");
        if (i % 100 == 0)
            ok(tt_store_put_track(s, &t, &err), &err, "put track");
        if (i % 50 == 0)
            ok(tt_store_put_user(s, &u, &err), &err, "put user");
    }
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(s, "interactions"), N);
    cr_assert_eq(count(s, "tracks"), N / 100);
    cr_assert_eq(count(s, "users"), 500);
    ok(tt_store_scan_interactions(s, check_order, &c, &err), &err, "scan interactions");
    cr_assert_eq(c.n, N);
    cr_assert_eq(c.bad, 0, "row %d changed or repeated", c.bad - 1);
    tt_store_close(s);
}

/* Rows of upsert_across_large_batches: event ev-<i> at time i, each once. */
struct large_check {
    int64_t n, first_id;
    int bad; /* first wrong row + 1 */
    float first_weight;
    int64_t first_at;
    uint8_t seen[100100];
};

static int check_large(void *ctx, const tt_interaction_rec *r)
{
    struct large_check *c = ctx;
    int64_t i = r->occurred_at;
    float want = (i == 0 || i == 100100 - 50) ? 9.0f : 1.0f;
    char id[32];

    snprintf(id, sizeof(id), "ev-%lld", (long long)i);
    if (c->n == 0) {
        c->first_weight = r->weight;
        c->first_at = r->occurred_at;
    }
    if (!c->bad &&
        (i < 0 || i >= 100100 || c->seen[i] || r->weight != want || !same_str(r->event_id, id)))
        c->bad = (int)c->n + 1;
    if (i >= 0 && i < 100100)
        c->seen[i] = 1;
    c->n++;
    return 0;
}

/*
 * Past 100,000 rows a bulk write is applied in parts; upserts must not notice, even when an
 * event of the first part comes again twice in the last one.
 */
STORE_TEST(upsert_across_large_batches)
{
    tt_store *s = open_store();
    enum { N = 100100 };
    static struct large_check c;
    char id[32];
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    for (int i = 0; i < N; i++) {
        tt_interaction_rec x = event("u", "t", i, 1, id);
        snprintf(id, sizeof(id), "ev-%d", i);
        ok(tt_store_put_interaction(s, &x, &err), &err, "put");
    }
    for (int i = 0; i < N; i += N - 50) {
        tt_interaction_rec again = event("u", "t", i, 9, id);
        snprintf(id, sizeof(id), "ev-%d", i);
        ok(tt_store_put_interaction(s, &again, &err), &err, "put again");
        ok(tt_store_put_interaction(s, &again, &err), &err, "put a third time");
    }
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(s, "interactions"), N);
    ok(tt_store_scan_interactions(s, check_large, &c, &err), &err, "scan");
    cr_assert_eq(c.n, N);
    cr_assert_eq(c.bad, 0, "row %d is wrong or repeated", c.bad - 1);
    cr_assert_eq(c.first_at, 0, "the first row keeps its place");
    cr_assert_eq(c.first_weight, 9.0f, "and takes the last values");
    tt_store_close(s);
}

STORE_TEST(scan_inside_transaction_sees_own_writes)
{
    tt_store *s = open_store();
    tt_interaction_rec in[2] = {play("u1", "t1", 1, 1), play("u1", "t2", 2, 1)};
    struct rows *r = rows_new();
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_interaction(s, &in[0], &err), &err, "put");
    ok(tt_store_scan_interactions(s, on_interaction, r, &err), &err, "scan");
    cr_assert_eq(r->n, 1);
    ok(tt_store_put_interaction(s, &in[1], &err), &err, "put after scan");
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(s, "interactions"), 2);
    rows_free(r);
    tt_store_close(s);
}

/* ---- feedback, impressions, counts -------------------------------------------------- */

STORE_TEST(feedback_visible_immediately)
{
    tt_store *s = open_store(), *other = open_store();
    tt_interaction_rec fb = {"u1",       "t9",   TT_ACT_LIKE, 1, 30000,
                             1700000100, "home", "rec-7",     0, "app:5f0c-11"};
    bool inserted = false;
    struct rows *r;
    tt_err err = {0};

    ok(tt_store_feedback_put(s, &fb, &inserted, &err), &err, "feedback");
    cr_assert(inserted);
    r = scan_interactions(other);
    cr_assert_eq(r->n, 1);
    cr_assert_str_eq(r->in[0].user_id, "u1");
    cr_assert_str_eq(r->in[0].track_id, "t9");
    cr_assert_eq(r->in[0].action, TT_ACT_LIKE);
    cr_assert_eq(r->in[0].weight, 1.0f);
    cr_assert_eq(r->in[0].ms_played, 30000);
    cr_assert_eq(r->in[0].occurred_at, 1700000100);
    cr_assert_str_eq(r->in[0].context, "home");
    cr_assert_str_eq(r->in[0].recommendation_id, "rec-7");
    cr_assert_str_eq(r->in[0].event_id, "app:5f0c-11");
    rows_free(r);
    tt_store_close(other);
    tt_store_close(s);
}

/* A client that retries an event it is not sure arrived: stored once, the first write stands. */
STORE_TEST(feedback_retry_keeps_first_write)
{
    tt_store *s = open_store();
    tt_interaction_rec fb = {"u1",       "t9",   TT_ACT_LIKE, 1, 30000,
                             1700000100, "home", "rec-7",     0, "app:5f0c-11"};
    tt_interaction_rec retry = fb, bulk = fb, other = fb;
    bool inserted = false;
    struct rows *r;
    tt_err err = {0};

    ok(tt_store_feedback_put(s, &fb, &inserted, &err), &err, "feedback");
    cr_assert(inserted, "the first write inserts");
    retry.weight = 4;
    retry.context = "radio";
    retry.occurred_at = 1700000160;
    inserted = true;
    ok(tt_store_feedback_put(s, &retry, &inserted, &err), &err, "the same event again");
    cr_assert_not(inserted, "a retry writes nothing");
    ok(tt_store_feedback_put(s, &retry, NULL, &err), &err, "inserted may be NULL");
    r = scan_interactions(s);
    cr_assert_eq(r->n, 1);
    cr_assert_eq(r->in[0].weight, 1.0f, "the first write's values stand");
    cr_assert_str_eq(r->in[0].context, "home");
    cr_assert_eq(r->in[0].occurred_at, 1700000100);
    rows_free(r);
    /* A bulk put of the same event_id is an update, not a retry; feedback still sees a retry. */
    bulk.weight = 5;
    put_interactions(s, &bulk, 1);
    ok(tt_store_feedback_put(s, &retry, &inserted, &err), &err, "retry after the update");
    cr_assert_not(inserted);
    other.event_id = "app:5f0c-12";
    ok(tt_store_feedback_put(s, &other, &inserted, &err), &err, "another event");
    cr_assert(inserted, "an identical event with its own id is another event");
    r = scan_interactions(s);
    cr_assert_eq(r->n, 2);
    cr_assert_str_eq(r->in[0].event_id, "app:5f0c-11");
    cr_assert_eq(r->in[0].weight, 5.0f);
    cr_assert_str_eq(r->in[1].event_id, "app:5f0c-12");
    cr_assert_gt(r->in[1].id, r->in[0].id);
    rows_free(r);
    tt_store_close(s);
}

/* Feedback names the row it stored, as scans number it; a retry names none. */
STORE_TEST(feedback_put_id_names_the_row)
{
    tt_store *s = open_store();
    tt_interaction_rec fb = {"u1", "t9", TT_ACT_DISLIKE, 1, -1, 1700000100, NULL, NULL, 0, "e-1"};
    tt_interaction_rec next = fb;
    int64_t id1 = -1, id2 = -1, again = -1;
    struct rows *r;
    tt_err err = {0};

    ok(tt_store_feedback_put_id(s, &fb, &id1, &err), &err, "feedback");
    cr_assert_gt(id1, 0);
    ok(tt_store_feedback_put_id(s, &fb, &again, &err), &err, "the same event again");
    cr_assert_eq(again, 0, "a retried event_id stores no row");
    next.event_id = "e-2";
    ok(tt_store_feedback_put_id(s, &next, &id2, &err), &err, "another event");
    ok(tt_store_feedback_put_id(s, &next, NULL, &err), &err, "id may be NULL");
    cr_assert_gt(id2, id1);
    r = rows_new();
    ok(tt_store_scan_interactions_after(s, id1, on_interaction, r, &err), &err, "scan after");
    cr_assert_eq(r->n, 1, "only the row after the first");
    cr_assert_eq(r->in[0].id, id2);
    cr_assert_str_eq(r->in[0].event_id, "e-2");
    rows_free(r);
    r = scan_interactions(s);
    cr_assert_eq(r->n, 2);
    cr_assert_eq(r->in[0].id, id1);
    rows_free(r);
    tt_store_close(s);
}

/* Two plays of one track in the same second are two plays, whichever way they arrive. */
STORE_TEST(identical_events_all_stored)
{
    tt_store *s = open_store();
    tt_interaction_rec x = {"u1", "t1", TT_ACT_PLAY, 1, 215000, 1700000000, "home", NULL, 0, NULL};
    tt_interaction_rec two[2] = {x, x};
    bool inserted = false;
    struct rows *r;
    tt_err err = {0};

    put_interactions(s, two, 2);
    for (int i = 0; i < 2; i++) {
        ok(tt_store_feedback_put(s, &x, &inserted, &err), &err, "feedback");
        cr_assert(inserted, "feedback %d", i);
    }
    cr_assert_eq(count(s, "interactions"), 4);
    r = scan_interactions(s);
    cr_assert_eq(r->n, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(r->in[i].user_id, "u1");
        cr_assert_str_eq(r->in[i].track_id, "t1");
        cr_assert_eq(r->in[i].action, TT_ACT_PLAY);
        cr_assert_eq(r->in[i].occurred_at, 1700000000);
        cr_assert_eq(r->in[i].ms_played, 215000);
        cr_assert_null(r->in[i].event_id);
        if (i > 0)
            cr_assert_gt(r->in[i].id, r->in[i - 1].id, "each its own row");
    }
    rows_free(r);
    r = rows_new();
    ok(tt_store_scan_user_interactions(s, "u1", on_interaction, r, &err), &err, "scan user");
    cr_assert_eq(r->n, 4);
    rows_free(r);
    tt_store_close(s);
}

/* event_id holds at most TT_EVENT_ID_MAX bytes (not characters), on every write path. */
STORE_TEST(event_id_length)
{
    tt_store *s = open_store();
    char longest[TT_EVENT_ID_MAX + 1] = "", too_long[TT_EVENT_ID_MAX + 2];
    tt_interaction_rec x = event("u1", "t1", 1700000000, 1, too_long);
    bool inserted = true;
    struct rows *r;
    tt_err err = {0};

    for (int i = 0; i < TT_EVENT_ID_MAX / 2; i++)
        strcat(longest, "\xc3\xa9"); /* two bytes, one character */
    memset(too_long, 'e', TT_EVENT_ID_MAX + 1);
    too_long[TT_EVENT_ID_MAX + 1] = '\0';
    cr_assert_eq(tt_store_feedback_put(s, &x, &inserted, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "event_id");
    cr_assert_not(inserted);
    tt_err_clear(&err);
    ok(tt_store_begin(s, &err), &err, "begin");
    cr_assert_eq(tt_store_put_interaction(s, &x, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "event_id");
    tt_err_clear(&err);
    x.event_id = "";
    cr_assert_eq(tt_store_put_interaction(s, &x, &err), TT_EINVAL, "an empty event_id");
    cr_assert_str_eq(err.field, "event_id");
    tt_err_clear(&err);
    x.event_id = longest;
    ok(tt_store_put_interaction(s, &x, &err), &err, "a refused put leaves the batch usable");
    ok(tt_store_commit(s, &err), &err, "commit");
    x.occurred_at++;
    ok(tt_store_feedback_put(s, &x, &inserted, &err), &err, "feedback with 128 bytes");
    cr_assert_not(inserted, "the same 128-byte event");
    r = scan_interactions(s);
    cr_assert_eq(r->n, 1);
    cr_assert_str_eq(r->in[0].event_id, longest);
    cr_assert_eq(r->in[0].occurred_at, 1700000000);
    rows_free(r);
    tt_store_close(s);
}

/* Every interaction scan carries event_id, NULL where the event has none. */
STORE_TEST(scans_return_event_id)
{
    tt_store *s = open_store();
    tt_interaction_rec in[3] = {event("u1", "t1", 10, 1, "ios:1"), play("u1", "t2", 20, 1),
                                event("u2", "t1", 30, 1, "ios:2")};
    struct rows *r = rows_new();
    int64_t first;
    tt_err err = {0};

    put_interactions(s, in, 1);
    put_interactions(s, in + 1, 2);
    ok(tt_store_scan_user_interactions(s, "u1", on_interaction, r, &err), &err, "scan user");
    cr_assert_eq(r->n, 2);
    cr_assert_str_eq(r->in[0].event_id, "ios:1");
    cr_assert_null(r->in[1].event_id);
    first = r->in[0].id;
    rows_free(r);
    r = rows_new();
    ok(tt_store_scan_interactions_after(s, first, on_interaction, r, &err), &err, "scan after");
    cr_assert_eq(r->n, 2);
    cr_assert_neq(row_of(r, "ios:2"), -1);
    cr_assert_neq(row_of(r, NULL), -1);
    rows_free(r);
    tt_store_close(s);
}

STORE_TEST(feedback_refused_inside_transaction)
{
    tt_store *s = open_store();
    tt_interaction_rec fb = play("u1", "t1", 5, 1);
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    cr_assert_lt(tt_store_feedback_put(s, &fb, NULL, &err), 0);
    tt_store_rollback(s);
    tt_err_clear(&err);
    ok(tt_store_feedback_put(s, &fb, NULL, &err), &err, "feedback after rollback");
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}

STORE_TEST(impressions)
{
    tt_store *s = open_store();
    tt_impression_rec imp[2] = {{"rec-1", "u1", "als", "t1 t2 t3", 1700000000},
                                {"rec-2", "u2", "popularity", NULL, 0}};
    tt_impression_rec again = {"rec-1", "u1", "hybrid", "t4", 1700000001};
    tt_err err = {0};

    ok(tt_store_impressions_put(s, imp, 2, &err), &err, "impressions");
    cr_assert_eq(count(s, "impressions"), 2);
    ok(tt_store_impressions_put(s, &again, 1, &err), &err, "impression again");
    cr_assert_eq(count(s, "impressions"), 2, "impressions upsert by recommendation_id");
    ok(tt_store_impressions_put(s, NULL, 0, &err), &err, "empty batch");
    tt_store_close(s);
}

STORE_TEST(count_checks_table)
{
    tt_store *s = open_store();
    tt_err err = {0};
    int64_t n = 7;

    cr_assert_eq(tt_store_count(s, "users; DROP TABLE users", &n, &err), TT_EINVAL);
    cr_assert_eq(n, 7);
    cr_assert_eq(count(s, "users"), 0);
    tt_store_close(s);
}

/* ---- scans -------------------------------------------------------------------------- */

STORE_TEST(scan_user_interactions_order)
{
    tt_store *s = open_store();
    tt_interaction_rec in[5] = {play("u1", "late", 300, 1), play("u2", "other", 50, 1),
                                play("u1", "early", 100, 1), play("u1", "tie-a", 200, 1),
                                play("u1", "tie-b", 200, 1)};
    const char *want[4] = {"early", "tie-a", "tie-b", "late"};
    struct rows *r = rows_new();
    tt_err err = {0};

    put_interactions(s, in, 5);
    ok(tt_store_scan_user_interactions(s, "u1", on_interaction, r, &err), &err, "scan user");
    cr_assert_eq(r->n, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(r->in[i].track_id, want[i], "row %d", i);
    rows_free(r);
    r = rows_new();
    ok(tt_store_scan_user_interactions(s, "nobody", on_interaction, r, &err), &err, "scan");
    cr_assert_eq(r->n, 0);
    rows_free(r);
    tt_store_close(s);
}

STORE_TEST(scan_stops_on_negative)
{
    tt_store *s = open_store();
    tt_interaction_rec in[4] = {play("u1", "t1", 1, 1), play("u1", "t2", 2, 1),
                                play("u1", "t3", 3, 1), play("u1", "t4", 4, 1)};
    struct rows *r = rows_new();
    tt_err err = {0};

    put_interactions(s, in, 4);
    r->stop_after = 2;
    cr_assert_eq(tt_store_scan_interactions(s, on_interaction, r, &err), -42);
    cr_assert_eq(r->n, 2);
    rows_free(r);
    r = rows_new();
    r->stop_after = 1;
    cr_assert_eq(tt_store_scan_user_interactions(s, "u1", on_interaction, r, &err), -42);
    cr_assert_eq(r->n, 1);
    /* The store is usable after an interrupted scan: the event is stored a second time. */
    put_interactions(s, in, 1);
    cr_assert_eq(count(s, "interactions"), 5);
    rows_free(r);
    tt_store_close(s);
}


/* ---- training jobs and scheduled runs ------------------------------------------------ */

Test(store_jobs, state_names_round_trip)
{
    for (int i = 0; i < TT_JOB_STATE_COUNT; i++)
        cr_assert_eq(tt_job_state_parse(tt_job_state_name((enum tt_job_state)i)), i, "state %d",
                     i);
    cr_assert_str_eq(tt_job_state_name(TT_JOB_CANCELLED), "cancelled");
    cr_assert_str_eq(tt_job_state_name(TT_JOB_STATE_COUNT), "unknown");
    cr_assert_eq(tt_job_state_parse("Queued"), -1);
    cr_assert_eq(tt_job_state_parse(""), -1);
    cr_assert_eq(tt_job_state_parse(NULL), -1);
}

/* Jobs read back, copied out of the callback whose strings are borrowed. */
#define MAX_JOBS 24
struct jobs {
    int n;
    struct job_copy {
        tt_job_rec rec;
        char *s[9];
    } j[MAX_JOBS];
};

static int on_job(void *ctx, const tt_job_rec *j)
{
    struct jobs *js = ctx;
    struct job_copy *c = &js->j[js->n++];
    const char *src[9] = {j->job_id, j->request,  j->owner,  j->progress, j->log_tail,
                          j->metrics, j->result, j->error, NULL};

    cr_assert_leq(js->n, MAX_JOBS);
    c->rec = *j;
    for (int i = 0; i < 8; i++)
        c->s[i] = dup_or_null(src[i]);
    c->rec.job_id = c->s[0];
    c->rec.request = c->s[1];
    c->rec.owner = c->s[2];
    c->rec.progress = c->s[3];
    c->rec.log_tail = c->s[4];
    c->rec.metrics = c->s[5];
    c->rec.result = c->s[6];
    c->rec.error = c->s[7];
    return 0;
}

static void jobs_free(struct jobs *js)
{
    for (int i = 0; i < js->n; i++)
        for (int k = 0; k < 8; k++)
            free(js->j[i].s[k]);
    free(js);
}

/* Job @id as stored now (caller frees with jobs_free). */
static struct jobs *job_of(tt_store *s, const char *id)
{
    struct jobs *js = tt_calloc(1, sizeof(*js));
    tt_err err = {0};

    ok(tt_store_job_get(s, id, on_job, js, &err), &err, "job get");
    cr_assert_eq(js->n, 1);
    return js;
}

static enum tt_job_state state_of(tt_store *s, const char *id)
{
    struct jobs *js = job_of(s, id);
    enum tt_job_state st = js->j[0].rec.state;

    jobs_free(js);
    return st;
}

static void put_job(tt_store *s, const char *id, int64_t created_at)
{
    tt_job_rec j = {.job_id = id, .request = "{\"model\":\"als\"}", .created_at = created_at};
    tt_err err = {0};

    ok(tt_store_job_put(s, &j, &err), &err, "job put");
}

/* Claims the next job for @owner at @now; returns its id in @id ("" when none). */
static int claim(tt_store *s, const char *owner, int64_t now, char id[TT_JOB_ID_MAX + 1])
{
    tt_err err = {0};
    int rc = tt_store_job_claim(s, owner, now, id, TT_JOB_ID_MAX + 1, &err);

    cr_assert_geq(rc, 0, "claim: %s", tt_err_msg(&err, rc));
    return rc;
}

STORE_TEST(job_put_get_list)
{
    tt_store *s = open_store();
    tt_job_rec dup = {.job_id = "j1", .request = "{}"}, now = {.job_id = "j-now", .request = "{}"};
    struct jobs *js;
    int64_t before = tt_unix_time();
    tt_err err = {0};

    put_job(s, "j1", 100);
    put_job(s, "j2", 200);
    put_job(s, "j3", 200);
    cr_assert_eq(tt_store_job_put(s, &dup, &err), TT_EEXIST, "a taken id");
    cr_assert_eq(count(s, "training_jobs"), 3);
    js = job_of(s, "j1");
    cr_assert_str_eq(js->j[0].rec.job_id, "j1");
    cr_assert_eq(js->j[0].rec.state, TT_JOB_QUEUED);
    cr_assert_str_eq(js->j[0].rec.request, "{\"model\":\"als\"}");
    cr_assert_eq(js->j[0].rec.created_at, 100);
    cr_assert_null(js->j[0].rec.owner);
    cr_assert_eq(js->j[0].rec.started_at + js->j[0].rec.finished_at + js->j[0].rec.heartbeat_at, 0);
    cr_assert_not(js->j[0].rec.cancel_requested);
    cr_assert(!js->j[0].rec.progress && !js->j[0].rec.log_tail && !js->j[0].rec.metrics &&
              !js->j[0].rec.result && !js->j[0].rec.error);
    jobs_free(js);
    tt_err_clear(&err);
    cr_assert_eq(tt_store_job_get(s, "nope", on_job, NULL, &err), TT_ENOTFOUND);
    /* Newest first; of two created in the same second, the greater id first. */
    js = tt_calloc(1, sizeof(*js));
    ok(tt_store_job_list(s, 10, on_job, js, &err), &err, "job list");
    cr_assert_eq(js->n, 3);
    cr_assert_str_eq(js->j[0].rec.job_id, "j3");
    cr_assert_str_eq(js->j[1].rec.job_id, "j2");
    cr_assert_str_eq(js->j[2].rec.job_id, "j1");
    jobs_free(js);
    js = tt_calloc(1, sizeof(*js));
    ok(tt_store_job_list(s, 2, on_job, js, &err), &err, "job list");
    cr_assert_eq(js->n, 2, "at most @limit");
    jobs_free(js);
    ok(tt_store_job_put(s, &now, &err), &err, "job put");
    js = job_of(s, "j-now");
    cr_assert_geq(js->j[0].rec.created_at, before, "created_at 0 means now");
    jobs_free(js);
    tt_store_close(s);
}

STORE_TEST(job_claim_order)
{
    tt_store *s = open_store();
    char id[TT_JOB_ID_MAX + 1], small[8];
    struct jobs *js;
    tt_err err = {0};

    put_job(s, "j-b", 100);
    put_job(s, "j-a", 100);
    put_job(s, "j-c", 50);
    cr_assert_eq(claim(s, "host:1", 1000, id), 1);
    cr_assert_str_eq(id, "j-c", "the oldest first");
    cr_assert_eq(claim(s, "host:1", 1001, id), 1);
    cr_assert_str_eq(id, "j-a", "then by id");
    cr_assert_eq(claim(s, "host:2", 1002, id), 1);
    cr_assert_str_eq(id, "j-b");
    cr_assert_eq(claim(s, "host:2", 1003, id), 0, "nothing left");
    cr_assert_str_eq(id, "");
    js = job_of(s, "j-a");
    cr_assert_eq(js->j[0].rec.state, TT_JOB_RUNNING);
    cr_assert_str_eq(js->j[0].rec.owner, "host:1");
    cr_assert_eq(js->j[0].rec.started_at, 1001);
    cr_assert_eq(js->j[0].rec.heartbeat_at, 1001);
    jobs_free(js);
    cr_assert_eq(tt_store_job_claim(s, "host:1", 1, small, sizeof(small), &err), TT_EINVAL,
                 "a buffer too small for some id");
    tt_store_close(s);
}

/* Claims until none is left; writes each id claimed as a line to @fd. */
static int claim_all(int fd, int go)
{
    char id[TT_JOB_ID_MAX + 1], owner[32], line[TT_JOB_ID_MAX + 2], c;
    tt_store *s = NULL;
    tt_err err = {0};
    int rc;

    if (read(go, &c, 1) < 0 || tt_store_open(db_url, &s, &err) < 0)
        return 1;
    snprintf(owner, sizeof(owner), "test:%d", (int)getpid());
    while ((rc = tt_store_job_claim(s, owner, 1000, id, sizeof(id), &err)) == 1) {
        int n = snprintf(line, sizeof(line), "%s\n", id);
        if (write(fd, line, (size_t)n) != n)
            return 1;
    }
    tt_store_close(s);
    if (rc < 0)
        fprintf(stderr, "claim: %s\n", err.message);
    return rc < 0 ? 1 : 0;
}

/* Two processes race for 20 queued jobs: each job is claimed exactly once. */
STORE_TEST(job_claimed_by_exactly_one)
{
    enum { N = 20, P = 2 };
    tt_store *s = open_store();
    int out[2], go[2], status, seen[N] = {0}, total = 0;
    char buf[4096], id[24];
    pid_t pid[P];
    ssize_t len = 0, n;

    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "race-%02d", i);
        put_job(s, id, 1000 + i % 3);
    }
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(pipe(go), 0);
    for (int p = 0; p < P; p++) {
        pid[p] = fork();
        cr_assert_geq(pid[p], 0);
        if (pid[p] == 0) {
            close(out[0]);
            close(go[1]);
            _exit(claim_all(out[1], go[0]));
        }
    }
    close(out[1]);
    close(go[0]);
    close(go[1]); /* both start now */
    while ((n = read(out[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
        len += n;
    buf[len] = '\0';
    for (int p = 0; p < P; p++) {
        cr_assert_eq(waitpid(pid[p], &status, 0), pid[p]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "claimer %d failed", p);
    }
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        int i = atoi(line + strlen("race-"));
        cr_assert(i >= 0 && i < N, "claimed %s", line);
        seen[i]++;
        total++;
    }
    cr_assert_eq(total, N, "%d claims for %d jobs", total, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "race-%02d claimed %d times", i, seen[i]);
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof(id), "race-%02d", i);
        cr_assert_eq(state_of(s, id), TT_JOB_RUNNING);
    }
    tt_store_close(s);
}

STORE_TEST(job_update_needs_owner)
{
    tt_store *s = open_store();
    char id[TT_JOB_ID_MAX + 1];
    bool cancel = true;
    struct jobs *js;
    tt_err err = {0};

    put_job(s, "j1", 100);
    put_job(s, "j2", 200);
    cr_assert_eq(tt_store_job_update(s, "j2", "host:1", 150, NULL, NULL, NULL, NULL, &err),
                 TT_ESTATE, "a queued job");
    cr_assert_not_null(strstr(err.message, "queued"), "%s", err.message);
    cr_assert_eq(claim(s, "host:1", 1000, id), 1);
    ok(tt_store_job_update(s, "j1", "host:1", 1010, "{\"step\":1}", "line 1", NULL, &cancel,
                           &err),
       &err, "heartbeat");
    cr_assert_not(cancel);
    ok(tt_store_job_update(s, "j1", "host:1", 1020, NULL, "line 2", "{\"ndcg\":0.1}", NULL, &err),
       &err, "heartbeat");
    tt_err_clear(&err);
    cr_assert_eq(tt_store_job_update(s, "j1", "host:2", 1030, "{\"step\":9}", NULL, NULL,
                                     &cancel, &err),
                 TT_ESTATE, "another engine's job");
    cr_assert_not_null(strstr(err.message, "running under host:1"), "%s", err.message);
    cr_assert_not(cancel);
    tt_err_clear(&err);
    cr_assert_eq(tt_store_job_update(s, "none", "host:1", 1030, NULL, NULL, NULL, NULL, &err),
                 TT_ESTATE);
    js = job_of(s, "j1");
    cr_assert_eq(js->j[0].rec.heartbeat_at, 1020, "the refused update wrote nothing");
    cr_assert_str_eq(js->j[0].rec.progress, "{\"step\":1}", "NULL keeps the stored value");
    cr_assert_str_eq(js->j[0].rec.log_tail, "line 2");
    cr_assert_str_eq(js->j[0].rec.metrics, "{\"ndcg\":0.1}");
    jobs_free(js);
    tt_store_close(s);
}

STORE_TEST(job_finish)
{
    tt_store *s = open_store();
    char id[TT_JOB_ID_MAX + 1];
    struct jobs *js;
    tt_err err = {0};

    put_job(s, "j1", 100);
    cr_assert_eq(claim(s, "host:1", 1000, id), 1);
    cr_assert_eq(tt_store_job_finish(s, "j1", "host:1", TT_JOB_RUNNING, 1100, NULL, NULL, NULL,
                                     &err),
                 TT_EINVAL, "running is no end");
    tt_err_clear(&err);
    cr_assert_eq(tt_store_job_finish(s, "j1", "host:2", TT_JOB_SUCCEEDED, 1100, NULL, NULL, NULL,
                                     &err),
                 TT_ESTATE, "another engine's job");
    ok(tt_store_job_finish(s, "j1", "host:1", TT_JOB_SUCCEEDED, 1100, "{\"ndcg\":0.3}",
                           "{\"version\":\"v7\"}", NULL, &err),
       &err, "finish");
    js = job_of(s, "j1");
    cr_assert_eq(js->j[0].rec.state, TT_JOB_SUCCEEDED);
    cr_assert_eq(js->j[0].rec.finished_at, 1100);
    cr_assert_str_eq(js->j[0].rec.metrics, "{\"ndcg\":0.3}");
    cr_assert_str_eq(js->j[0].rec.result, "{\"version\":\"v7\"}");
    cr_assert_null(js->j[0].rec.error);
    jobs_free(js);
    tt_err_clear(&err);
    cr_assert_eq(tt_store_job_finish(s, "j1", "host:1", TT_JOB_FAILED, 1200, NULL, NULL, "late",
                                     &err),
                 TT_ESTATE, "an ended job stays ended");
    cr_assert_not_null(strstr(err.message, "succeeded"), "%s", err.message);
    cr_assert_eq(state_of(s, "j1"), TT_JOB_SUCCEEDED);
    tt_store_close(s);
}

STORE_TEST(job_cancel_each_state)
{
    tt_store *s = open_store();
    char id[TT_JOB_ID_MAX + 1];
    enum tt_job_state st = TT_JOB_FAILED;
    bool cancel = false;
    struct jobs *js;
    tt_err err = {0};

    put_job(s, "queued", 200);
    put_job(s, "running", 100);
    ok(tt_store_job_cancel(s, "queued", 500, &st, &err), &err, "cancel queued");
    cr_assert_eq(st, TT_JOB_CANCELLED);
    js = job_of(s, "queued");
    cr_assert_eq(js->j[0].rec.state, TT_JOB_CANCELLED);
    cr_assert_eq(js->j[0].rec.finished_at, 500);
    cr_assert_str_eq(js->j[0].rec.error, "cancelled before it started");
    jobs_free(js);
    cr_assert_eq(claim(s, "host:1", 600, id), 1);
    cr_assert_str_eq(id, "running", "a cancelled job is never claimed");
    ok(tt_store_job_cancel(s, "running", 700, &st, &err), &err, "cancel running");
    cr_assert_eq(st, TT_JOB_RUNNING, "its worker ends it");
    ok(tt_store_job_update(s, "running", "host:1", 710, NULL, NULL, NULL, &cancel, &err), &err,
       "heartbeat");
    cr_assert(cancel, "the worker hears of the cancel");
    ok(tt_store_job_finish(s, "running", "host:1", TT_JOB_CANCELLED, 720, NULL, NULL,
                           "cancelled", &err),
       &err, "finish cancelled");
    ok(tt_store_job_cancel(s, "running", 800, &st, &err), &err, "cancel ended");
    cr_assert_eq(st, TT_JOB_CANCELLED);
    js = job_of(s, "running");
    cr_assert_eq(js->j[0].rec.finished_at, 720, "an ended job is left as it is");
    jobs_free(js);
    ok(tt_store_job_cancel(s, "queued", 900, NULL, &err), &err, "state may be NULL");
    cr_assert_eq(tt_store_job_cancel(s, "none", 900, &st, &err), TT_ENOTFOUND);
    tt_store_close(s);
}

STORE_TEST(job_reap)
{
    tt_store *s = open_store();
    char id[TT_JOB_ID_MAX + 1];
    struct jobs *js;
    tt_err err = {0};
    int n = -1;

    put_job(s, "stale", 1);
    put_job(s, "alive", 2);
    put_job(s, "queued", 3);
    cr_assert_eq(claim(s, "host:dead", 100, id), 1);
    cr_assert_eq(claim(s, "host:live", 100, id), 1);
    ok(tt_store_job_update(s, "alive", "host:live", 500, NULL, NULL, NULL, NULL, &err), &err,
       "heartbeat");
    ok(tt_store_job_reap(s, 300, 600, "no heartbeat for 5 minutes", &n, &err), &err, "reap");
    cr_assert_eq(n, 1);
    js = job_of(s, "stale");
    cr_assert_eq(js->j[0].rec.state, TT_JOB_FAILED);
    cr_assert_eq(js->j[0].rec.finished_at, 600);
    cr_assert_str_eq(js->j[0].rec.error, "no heartbeat for 5 minutes");
    jobs_free(js);
    cr_assert_eq(state_of(s, "alive"), TT_JOB_RUNNING);
    cr_assert_eq(state_of(s, "queued"), TT_JOB_QUEUED, "a queued job has no heartbeat to miss");
    cr_assert_eq(tt_store_job_finish(s, "stale", "host:dead", TT_JOB_SUCCEEDED, 700, NULL, NULL,
                                     NULL, &err),
                 TT_ESTATE, "a reaped job stays failed");
    ok(tt_store_job_reap(s, 300, 800, "again", NULL, &err), &err, "n may be NULL");
    tt_store_close(s);
}

STORE_TEST(schedule_claimed_once)
{
    tt_store *s = open_store(), *other = open_store();
    bool claimed = false;
    int64_t last = -1;
    tt_err err = {0};

    ok(tt_store_schedule_last(s, "pro", &last, &err), &err, "schedule last");
    cr_assert_eq(last, 0, "none claimed yet");
    ok(tt_store_schedule_claim(s, "pro", 1000, "j1", &claimed, &err), &err, "claim");
    cr_assert(claimed);
    ok(tt_store_schedule_claim(other, "pro", 1000, "j2", &claimed, &err), &err, "claim again");
    cr_assert_not(claimed, "another replica leaves it");
    ok(tt_store_schedule_claim(s, "pro", 1000, NULL, &claimed, &err), &err, "claim again");
    cr_assert_not(claimed);
    ok(tt_store_schedule_claim(other, "pro", 2000, NULL, &claimed, &err), &err, "next time");
    cr_assert(claimed);
    ok(tt_store_schedule_claim(other, "free", 1000, "j3", NULL, &err), &err, "another tier");
    ok(tt_store_schedule_last(s, "pro", &last, &err), &err, "schedule last");
    cr_assert_eq(last, 2000);
    ok(tt_store_schedule_last(s, "free", &last, &err), &err, "schedule last");
    cr_assert_eq(last, 1000);
    tt_store_close(other);
    tt_store_close(s);
}

/* A job write must be durable on return: it cannot join a bulk transaction. */
STORE_TEST(job_writes_refused_inside_transaction)
{
    tt_store *s = open_store();
    tt_job_rec j = {.job_id = "j1", .request = "{}"};
    char id[TT_JOB_ID_MAX + 1];
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    cr_assert_lt(tt_store_job_put(s, &j, &err), 0);
    cr_assert_lt(tt_store_job_claim(s, "host:1", 1, id, sizeof(id), &err), 0);
    tt_store_rollback(s);
    tt_err_clear(&err);
    ok(tt_store_job_put(s, &j, &err), &err, "job put after rollback");
    cr_assert_eq(count(s, "training_jobs"), 1);
    tt_store_close(s);
}
