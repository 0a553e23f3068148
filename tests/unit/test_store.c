/*
 * The store interface (tt/store.h), with the same test bodies run against both backends:
 * SQLite in a fresh temporary file, and PostgreSQL when TT_TEST_PG_URL names a database
 * (scripts/test-services provides one). Every PostgreSQL test starts from an empty public
 * schema, so the suite needs a database of its own and must not run in parallel with itself.
 * Without TT_TEST_PG_URL the PostgreSQL variants are skipped, except under CI=true, where
 * they fail: CI must exercise PostgreSQL for real.
 *
 * Some tests also reach the database beside the store, through the sqlite3 API or libpq: to
 * build a database as an older engine left it, to hold a lock, or to read what is stored.
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
#include <unistd.h>

#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/store.h"

/* The migrations themselves, to build a database as an older engine left it. */
#include "../../src/store/backend.h"

/* ---- fixtures ---------------------------------------------------------------------- */

static char db_dir[256];
static char db_url[1200];

static void sqlite_setup(void)
{
    snprintf(db_dir, sizeof(db_dir), "/tmp/tt_test_store_XXXXXX");
    cr_assert_not_null(mkdtemp(db_dir), "mkdtemp failed");
    snprintf(db_url, sizeof(db_url), "sqlite:///%s/store.db", db_dir);
}

static void sqlite_teardown(void)
{
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[400];

    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(path, sizeof(path), "%s/store.db%s", db_dir, suffix[i]);
        unlink(path);
    }
    rmdir(db_dir);
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Runs @sql on a connection of the test's own, beside the store's. */
static void pg_admin(const char *sql)
{
    PGconn *c = PQconnectdb(db_url);
    PGresult *res;

    cr_assert_eq(PQstatus(c), CONNECTION_OK, "cannot connect to TT_TEST_PG_URL: %s",
                 PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    res = PQexec(c, sql);
    cr_assert(PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK,
              "%.300s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
}

/*
 * The PostgreSQL database to test against, wiped. Skips the test (fails it under CI) when
 * there is none; called from the test body so a failure reads as one, not as a crash.
 */
static void pg_setup(void)
{
    const char *url = getenv("TT_TEST_PG_URL"), *ci = getenv("CI");

    if (!url || !*url) {
        if (ci && strcmp(ci, "true") == 0)
            cr_assert_fail("TT_TEST_PG_URL is not set but CI=true: PostgreSQL must be tested in CI "
                           "(run scripts/test-services)");
        cr_skip_test("TT_TEST_PG_URL is not set: PostgreSQL store tests skipped "
                     "(eval \"$(scripts/test-services)\" provides one)");
    }
    snprintf(db_url, sizeof(db_url), "%s", url);
    pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
}

/* Each body runs once per backend: Test(store_sqlite, name) and Test(store_pg, name). */
#define STORE_TEST(name)                                                                           \
    static void body_##name(void);                                                                 \
    Test(store_sqlite, name, .init = sqlite_setup, .fini = sqlite_teardown)                        \
    {                                                                                              \
        body_##name();                                                                             \
    }                                                                                              \
    Test(store_pg, name)                                                                           \
    {                                                                                              \
        pg_setup();                                                                                \
        body_##name();                                                                             \
    }                                                                                              \
    static void body_##name(void)

/* ---- helpers ----------------------------------------------------------------------- */

static tt_store *open_store(void)
{
    tt_err err = {0};
    tt_store *s = NULL;
    int rc = tt_store_open(db_url, &s, &err);

    cr_assert_eq(rc, 0, "open: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(s);
    return s;
}

static int64_t count(tt_store *s, const char *table)
{
    tt_err err = {0};
    int64_t n = -1;
    int rc = tt_store_count(s, table, &n, &err);

    cr_assert_eq(rc, 0, "count %s: %s", table, tt_err_msg(&err, rc));
    return n;
}

static void ok(int rc, const tt_err *err, const char *what)
{
    cr_assert_eq(rc, 0, "%s failed: %s (%s)", what, tt_err_msg(err, rc), tt_err_name(rc));
}

static tt_interaction_rec play(const char *user, const char *track, int64_t at, float weight)
{
    tt_interaction_rec r = {user, track, TT_ACT_PLAY, weight, -1, at, NULL, NULL, 0, NULL};
    return r;
}

/* A play carrying the idempotency key @event_id. */
static tt_interaction_rec event(const char *user, const char *track, int64_t at, float weight,
                                const char *event_id)
{
    tt_interaction_rec r = play(user, track, at, weight);

    r.event_id = event_id;
    return r;
}

static void put_interactions(tt_store *s, const tt_interaction_rec *rs, int n)
{
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    for (int i = 0; i < n; i++)
        ok(tt_store_put_interaction(s, &rs[i], &err), &err, "put interaction");
    ok(tt_store_commit(s, &err), &err, "commit");
}

static char *dup_or_null(const char *s)
{
    return s ? tt_strdup(s) : NULL;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Scan results copied out of the callbacks, whose strings are borrowed. */
#define MAX_ROWS 64
struct rows {
    int n;
    int stop_after; /* 0: never stop; else return -42 after this many rows */
    tt_interaction_rec in[MAX_ROWS];
    tt_track_rec tr[MAX_ROWS];
    float emb[MAX_ROWS][8];
    tt_user_rec us[MAX_ROWS];
    tt_artist_rec ar[MAX_ROWS];
};

static int stop_check(struct rows *r)
{
    r->n++;
    return r->stop_after && r->n >= r->stop_after ? -42 : 0;
}

static int on_interaction(void *ctx, const tt_interaction_rec *x)
{
    struct rows *r = ctx;
    tt_interaction_rec *c = &r->in[r->n];

    cr_assert_lt(r->n, MAX_ROWS);
    *c = *x;
    c->user_id = dup_or_null(x->user_id);
    c->track_id = dup_or_null(x->track_id);
    c->context = dup_or_null(x->context);
    c->recommendation_id = dup_or_null(x->recommendation_id);
    c->event_id = dup_or_null(x->event_id);
    return stop_check(r);
}

static int on_track(void *ctx, const tt_track_rec *t)
{
    struct rows *r = ctx;
    tt_track_rec *c = &r->tr[r->n];

    cr_assert_lt(r->n, MAX_ROWS);
    cr_assert_leq(t->embedding_dim, 8);
    *c = *t;
    c->track_id = dup_or_null(t->track_id);
    c->title = dup_or_null(t->title);
    c->artist_id = dup_or_null(t->artist_id);
    c->artist = dup_or_null(t->artist);
    c->album = dup_or_null(t->album);
    c->genres = dup_or_null(t->genres);
    if (t->embedding) {
        memcpy(r->emb[r->n], t->embedding, (size_t)t->embedding_dim * sizeof(float));
        c->embedding = r->emb[r->n];
    }
    return stop_check(r);
}

static int on_user(void *ctx, const tt_user_rec *u)
{
    struct rows *r = ctx;
    tt_user_rec *c = &r->us[r->n];

    cr_assert_lt(r->n, MAX_ROWS);
    *c = *u;
    c->user_id = dup_or_null(u->user_id);
    c->plan_tier = dup_or_null(u->plan_tier);
    c->favorite_genres = dup_or_null(u->favorite_genres);
    return stop_check(r);
}

static int on_artist(void *ctx, const tt_artist_rec *a)
{
    struct rows *r = ctx;
    tt_artist_rec *c = &r->ar[r->n];

    cr_assert_lt(r->n, MAX_ROWS);
    c->artist_id = dup_or_null(a->artist_id);
    c->name = dup_or_null(a->name);
    c->genres = dup_or_null(a->genres);
    return stop_check(r);
}

static void rows_free(struct rows *r)
{
    for (int i = 0; i < r->n && i < MAX_ROWS; i++) {
        void *p[] = {(void *)r->in[i].user_id,
                     (void *)r->in[i].track_id,
                     (void *)r->in[i].context,
                     (void *)r->in[i].recommendation_id,
                     (void *)r->in[i].event_id,
                     (void *)r->tr[i].track_id,
                     (void *)r->tr[i].title,
                     (void *)r->tr[i].artist_id,
                     (void *)r->tr[i].artist,
                     (void *)r->tr[i].album,
                     (void *)r->tr[i].genres,
                     (void *)r->us[i].user_id,
                     (void *)r->us[i].plan_tier,
                     (void *)r->us[i].favorite_genres,
                     (void *)r->ar[i].artist_id,
                     (void *)r->ar[i].name,
                     (void *)r->ar[i].genres};
        for (size_t k = 0; k < sizeof(p) / sizeof(*p); k++)
            free(p[k]);
    }
    free(r);
}

static struct rows *rows_new(void)
{
    return tt_calloc(1, sizeof(struct rows));
}

static struct rows *scan_interactions(tt_store *s)
{
    struct rows *r = rows_new();
    tt_err err = {0};

    ok(tt_store_scan_interactions(s, on_interaction, r, &err), &err, "scan interactions");
    return r;
}

/* ---- migrations ---------------------------------------------------------------------- */

STORE_TEST(migrations_fresh)
{
    tt_store *s = open_store();
    const char *tables[] = {"artists", "tracks", "users", "interactions", "impressions"};
    tt_err err = {0};
    int v = -1;

    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 2, "version 2 is event identity");
    cr_assert_eq(tt_store_schema_latest(), 2);
    cr_assert_eq(tt_store_schema_found(s), 0, "an empty database has no schema");
    cr_assert_not_null(tt_store_migration_name(1));
    cr_assert_not_null(strstr(tt_store_migration_name(2), "event"));
    cr_assert_null(tt_store_migration_name(3));
    cr_assert_null(tt_store_migration_name(0));
    for (size_t i = 0; i < sizeof(tables) / sizeof(*tables); i++)
        cr_assert_eq(count(s, tables[i]), 0, "%s not empty", tables[i]);
    cr_assert(strcmp(tt_store_backend(s), "sqlite") == 0 ||
              strcmp(tt_store_backend(s), "postgresql") == 0);
    cr_assert_eq(strncmp(tt_store_backend(s), db_url, 6), 0, "wrong backend %s",
                 tt_store_backend(s));
    tt_store_close(s);
}

STORE_TEST(migrations_existing)
{
    tt_store *s = open_store(), *s2;
    tt_interaction_rec r = play("u1", "t1", 100, 2);
    tt_err err = {0};
    int v = -1;

    put_interactions(s, &r, 1);
    /* A second opener while the first is still connected, then a reopen after close. */
    s2 = open_store();
    ok(tt_store_schema_version(s2, &v, &err), &err, "schema version");
    cr_assert_eq(v, 2);
    cr_assert_eq(tt_store_schema_found(s2), 2, "nothing left to migrate");
    tt_store_close(s2);
    tt_store_close(s);
    s = open_store();
    v = -1;
    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 2);
    cr_assert_eq(tt_store_schema_found(s), 2);
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}

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

/* ---- raw access, beside the store ------------------------------------------------------ */

static bool on_sqlite(void)
{
    return strncmp(db_url, "sqlite:", 7) == 0;
}

/* The test's own connection to the SQLite file of db_url (sqlite:////tmp/.../store.db). */
static sqlite3 *sqlite_raw(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(db_url + strlen("sqlite:///"), &db), SQLITE_OK, "open %s", db_url);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* Runs the statements of @sql on a connection of the test's own. */
static void raw_exec(const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    if (!on_sqlite()) {
        pg_admin(sql);
        return;
    }
    db = sqlite_raw();
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, &msg), SQLITE_OK, "%.300s: %s", sql,
                 msg ? msg : "");
    sqlite3_close(db);
}

/* Called with each result row of raw_query, its values as text (NULL for SQL NULL). */
typedef void (*raw_row_fn)(void *ctx, const char *const *v);
#define RAW_MAX_COLS 16

static void raw_query_sqlite(const char *sql, raw_row_fn fn, void *ctx)
{
    sqlite3 *db = sqlite_raw();
    sqlite3_stmt *st = NULL;
    const char *v[RAW_MAX_COLS];
    int step;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_leq(sqlite3_column_count(st), RAW_MAX_COLS);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++)
            v[i] = (const char *)sqlite3_column_text(st, i);
        fn(ctx, v);
    }
    cr_assert_eq(step, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void raw_query_pg(const char *sql, raw_row_fn fn, void *ctx)
{
    PGconn *c = PQconnectdb(db_url);
    const char *v[RAW_MAX_COLS];
    PGresult *res;

    cr_assert_eq(PQstatus(c), CONNECTION_OK, "connect: %s", PQerrorMessage(c));
    res = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(res));
    cr_assert_leq(PQnfields(res), RAW_MAX_COLS);
    for (int r = 0; r < PQntuples(res); r++) {
        for (int i = 0; i < PQnfields(res); i++)
            v[i] = PQgetisnull(res, r, i) ? NULL : PQgetvalue(res, r, i);
        fn(ctx, v);
    }
    PQclear(res);
    PQfinish(c);
}

static void raw_query(const char *sql, raw_row_fn fn, void *ctx)
{
    if (on_sqlite())
        raw_query_sqlite(sql, fn, ctx);
    else
        raw_query_pg(sql, fn, ctx);
}

static void first_value(void *ctx, const char *const *v)
{
    int64_t *out = ctx;

    *out = v[0] ? strtoll(v[0], NULL, 10) : -1;
}

/* The number @sql answers (the first value of its first row; -1 for NULL). */
static int64_t raw_int(const char *sql)
{
    int64_t v = INT64_MIN;

    raw_query(sql, first_value, &v);
    cr_assert_neq(v, INT64_MIN, "%s returned no row", sql);
    return v;
}

static int64_t raw_count(const char *table)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return raw_int(sql);
}

/* Whether the schema has a table (@kind "table") or an index ("index") named @name. */
static bool raw_has(const char *kind, const char *name)
{
    char sql[200];

    if (on_sqlite())
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_master WHERE type = '%s' AND name = '%s'", kind,
                 name);
    else if (strcmp(kind, "table") == 0)
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = '%s'",
                 name);
    else
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND indexname = '%s'",
                 name);
    return raw_int(sql) > 0;
}

static bool raw_has_table(const char *name)
{
    return raw_has("table", name);
}

/* ---- a version-1 database, as the engine before event identity left it ------------------- */

/* A growing SQL script. */
struct sql {
    char *p;
    size_t len, cap;
};

__attribute__((format(printf, 2, 3))) static void sql_add(struct sql *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    TT_GROW(b->p, b->cap, b->len + (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* @s as an SQL literal ('it''s'), or NULL. */
static void sql_str(struct sql *b, const char *s)
{
    if (!s) {
        sql_add(b, "NULL");
        return;
    }
    sql_add(b, "'");
    for (const char *q; (q = strchr(s, '\'')) != NULL; s = q + 1)
        sql_add(b, "%.*s''", (int)(q - s), s);
    sql_add(b, "%s'", s);
}

enum { V1_USERS = 12, V1_TRACKS = 48, V1_CATALOG = 40, V1_ARTISTS = 8, V1_RECS = 30 };
#define V1_T0 INT64_C(1700000000)

/* Event i of a version-1 database: listening history of 12 users over 48 tracks. */
struct v1_event {
    int user, track, rec; /* rec: rec-%04d, -1 for none */
    enum tt_action action;
    float weight;
    int64_t ms_played, at; /* ms_played -1: NULL */
    const char *context;
    bool deleted; /* removed before the migration, leaving a gap in the ids */
};

static struct v1_event v1_event(int i)
{
    static const enum tt_action acts[10] = {
        TT_ACT_PLAY, TT_ACT_PLAY,       TT_ACT_SKIP, TT_ACT_PLAY, TT_ACT_LIKE,
        TT_ACT_PLAY, TT_ACT_IMPRESSION, TT_ACT_SAVE, TT_ACT_PLAY, TT_ACT_CLICK};
    static const char *contexts[6] = {
        "home", "radio", "search, top", "playlist:it's late", "caf\xc3\xa9 mix", NULL};
    struct v1_event e = {.user = (i * 7) % V1_USERS, .track = (i * 13 + i / 12) % V1_TRACKS};

    e.action = i % 101 == 7 ? TT_ACT_DISLIKE : i % 89 == 3 ? TT_ACT_SHARE : acts[i % 10];
    e.weight = e.action == TT_ACT_PLAY         ? (float)(1 + (i * 31) % 97) /* play count */
               : e.action == TT_ACT_IMPRESSION ? 0.5f
               : e.action == TT_ACT_SHARE      ? 2.5f
                                               : 1.0f;
    e.ms_played = e.action == TT_ACT_PLAY && i % 3 ? 30000 + (i * 7919) % 240000
                  : e.action == TT_ACT_SKIP        ? 1000 + (i * 37) % 29000
                                                   : -1;
    e.at = V1_T0 + (int64_t)i * 37; /* distinct, so the version-1 unique key holds */
    e.context = contexts[i % 6];
    e.rec = i % 5 == 0 ? (i / 5) % V1_RECS : -1;
    e.deleted = i % 97 == 5;
    return e;
}

static void v1_catalog(struct sql *b)
{
    sql_add(b, "INSERT INTO artists (artist_id, name, genres, updated_at) VALUES ");
    for (int a = 0; a < V1_ARTISTS; a++)
        sql_add(b, "%s('art-%d', 'Artist %d', '%s', 1699990000)", a ? ", " : "", a, a,
                a % 3 ? "rock|indie" : "");
    sql_add(b, ";INSERT INTO tracks (track_id, title, artist_id, artist, album, genres,"
               " duration_ms, release_year, danceability, energy, tempo, key, mode, updated_at)"
               " VALUES ");
    for (int t = 0; t < V1_CATALOG; t++) {
        sql_add(b, "%s('trk-%03d', 'Song %d', 'art-%d', 'Artist %d', ", t ? ", " : "", t, t,
                t % V1_ARTISTS, t % V1_ARTISTS);
        sql_str(b, t % 4 ? "An Album" : NULL);
        sql_add(b, ", '%s', %d, %s, %s, 0.5, 120.25, %d, 1, 1699990000)", t % 2 ? "pop" : "",
                180000 + t * 1000, t % 5 ? "2015" : "NULL", t % 6 ? "0.75" : "NULL", t % 12);
    }
    sql_add(b, ";INSERT INTO users (user_id, plan_tier, favorite_genres, created_at) VALUES ");
    for (int u = 0; u < V1_USERS; u++)
        sql_add(b, "%s('user-%02d', '%s', '%s', %lld)", u ? ", " : "", u,
                u % 4 == 0 ? "pro" : "free", u % 3 ? "jazz|blues" : "",
                (long long)(V1_T0 - 86400 * (u + 1)));
    sql_add(b, ";INSERT INTO impressions (recommendation_id, user_id, model, track_ids,"
               " created_at) VALUES ");
    for (int r = 0; r < V1_RECS; r++)
        sql_add(b, "%s('rec-%04d', 'user-%02d', 'als', 'trk-%03d trk-%03d', %lld)", r ? ", " : "",
                r, r % V1_USERS, r, r + 1, (long long)(V1_T0 + r));
    sql_add(b, ";");
}

static void v1_events(struct sql *b, int n)
{
    for (int i = 0; i < n; i++) {
        struct v1_event e = v1_event(i);
        char rec[16];

        snprintf(rec, sizeof(rec), "rec-%04d", e.rec);
        if (i % 250 == 0)
            sql_add(b,
                    "%sINSERT INTO interactions (user_id, track_id, action, weight, ms_played,"
                    " occurred_at, context, recommendation_id) VALUES ",
                    i ? ";" : "");
        else
            sql_add(b, ", ");
        sql_add(b, "('user-%02d', 'trk-%03d', '%s', %.9g, ", e.user, e.track,
                tt_action_name(e.action), (double)e.weight);
        if (e.ms_played < 0)
            sql_add(b, "NULL, ");
        else
            sql_add(b, "%lld, ", (long long)e.ms_played);
        sql_add(b, "%lld, ", (long long)e.at);
        sql_str(b, e.context);
        sql_add(b, ", ");
        sql_str(b, e.rec < 0 ? NULL : rec);
        sql_add(b, ")");
    }
    /* Rows removed since (a user who asked to be forgotten, say) leave gaps in the ids. */
    sql_add(b, ";DELETE FROM interactions WHERE (occurred_at - %lld) / 37 %% 97 = 5;",
            (long long)V1_T0);
}

/*
 * Creates the tables exactly as migration 1 does, records version 1 in schema_migrations as
 * that engine did, and fills them with SQL of the test's own.
 */
static void v1_build(int n_events)
{
    struct sql b = {0};

    cr_assert_eq(tt__migrations[0].version, 1);
    /* That engine, too, put its SQLite databases in WAL mode, which the file remembers. */
    if (on_sqlite())
        sql_add(&b, "PRAGMA journal_mode=WAL;");
    sql_add(&b, "BEGIN;%s", on_sqlite() ? tt__migrations[0].sqlite_sql : tt__migrations[0].pg_sql);
    sql_add(&b, "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY,"
                " applied_at BIGINT NOT NULL);"
                "INSERT INTO schema_migrations VALUES (1, 1700000000);");
    v1_catalog(&b);
    v1_events(&b, n_events);
    sql_add(&b, "COMMIT;");
    raw_exec(b.p);
    free(b.p);
}

static int v1_kept(int n_events)
{
    int n = 0;

    for (int i = 0; i < n_events; i++)
        n += !v1_event(i).deleted;
    return n;
}

/* Interaction rows read with SQL, every column. */
struct raw_row {
    int64_t id, ms_played, at;
    char *user, *track, *action, *context, *rec;
    float weight;
};

struct raw_rows {
    int n;
    struct raw_row r[3000];
};

static void raw_row_add(void *ctx, const char *const *v)
{
    struct raw_rows *rr = ctx;
    struct raw_row *r = &rr->r[rr->n++];

    cr_assert_leq(rr->n, 3000);
    r->id = strtoll(v[0], NULL, 10);
    r->user = tt_strdup(v[1]);
    r->track = tt_strdup(v[2]);
    r->action = tt_strdup(v[3]);
    r->weight = strtof(v[4], NULL);
    r->ms_played = v[5] ? strtoll(v[5], NULL, 10) : -1;
    r->at = strtoll(v[6], NULL, 10);
    r->context = dup_or_null(v[7]);
    r->rec = dup_or_null(v[8]);
}

static void raw_rows_read(struct raw_rows *rr)
{
    rr->n = 0;
    raw_query("SELECT id, user_id, track_id, action, weight, ms_played, occurred_at, context,"
              " recommendation_id FROM interactions ORDER BY id",
              raw_row_add, rr);
}

static void raw_rows_release(struct raw_rows *rr)
{
    for (int i = 0; i < rr->n; i++) {
        free(rr->r[i].user);
        free(rr->r[i].track);
        free(rr->r[i].action);
        free(rr->r[i].context);
        free(rr->r[i].rec);
    }
    rr->n = 0;
}

/* The rows read back are the rows v1_build wrote: the fixture is what the test thinks it is. */
static void v1_check_raw(const struct raw_rows *rr, int n_events)
{
    cr_assert_eq(rr->n, v1_kept(n_events));
    for (int k = 0; k < rr->n; k++) {
        const struct raw_row *r = &rr->r[k];
        struct v1_event e = v1_event((int)((r->at - V1_T0) / 37));
        char user[16], track[16], rec[16];

        snprintf(user, sizeof(user), "user-%02d", e.user);
        snprintf(track, sizeof(track), "trk-%03d", e.track);
        snprintf(rec, sizeof(rec), "rec-%04d", e.rec);
        cr_assert(k == 0 || r->id > rr->r[k - 1].id);
        cr_assert_not(e.deleted);
        cr_assert_str_eq(r->user, user);
        cr_assert_str_eq(r->track, track);
        cr_assert_str_eq(r->action, tt_action_name(e.action));
        cr_assert_eq(r->weight, e.weight);
        cr_assert_eq(r->ms_played, e.ms_played);
        cr_assert(same_str(r->context, e.context), "row %d context %s", k, r->context);
        cr_assert(same_str(r->rec, e.rec < 0 ? NULL : rec));
    }
}

/* tt_store_scan_interactions against rows read before the migration: same ids, same values. */
struct scan_compare {
    const struct raw_rows *want;
    int n;
};

static int compare_row(void *ctx, const tt_interaction_rec *r)
{
    struct scan_compare *c = ctx;
    const struct raw_row *w = &c->want->r[c->n];

    cr_assert_lt(c->n, c->want->n, "more rows than before the migration");
    cr_assert_eq(r->id, w->id, "row %d: id %lld became %lld", c->n, (long long)w->id,
                 (long long)r->id);
    cr_assert_str_eq(r->user_id, w->user, "row %d", c->n);
    cr_assert_str_eq(r->track_id, w->track, "row %d", c->n);
    cr_assert_str_eq(tt_action_name(r->action), w->action, "row %d", c->n);
    cr_assert_eq(r->weight, w->weight, "row %d", c->n);
    cr_assert_eq(r->ms_played, w->ms_played, "row %d", c->n);
    cr_assert_eq(r->occurred_at, w->at, "row %d", c->n);
    cr_assert(same_str(r->context, w->context), "row %d: context %s", c->n, r->context);
    cr_assert(same_str(r->recommendation_id, w->rec), "row %d", c->n);
    cr_assert_null(r->event_id, "row %d: migrated rows have no event_id", c->n);
    c->n++;
    return 0;
}

static int index_of(const char *name, const char *prefix)
{
    int v = -1;

    cr_assert_eq(sscanf(name, prefix, &v), 1, "unexpected id %s", name);
    return v;
}

/*
 * The training snapshot of the migrated store: per (user, track) the sum of the stored weights
 * (the dataset keeps each event's raw weight and action; models weigh actions later), over
 * events of catalog tracks; the others are counted apart.
 */
static void v1_check_dataset(tt_store *s, int n_events, int64_t max_id)
{
    static double want[V1_USERS][V1_TRACKS], got[V1_USERS][V1_TRACKS];
    int64_t known = 0, unknown = 0;
    tt_dataset *d = NULL;
    tt_err err = {0};

    memset(want, 0, sizeof(want));
    memset(got, 0, sizeof(got));
    for (int i = 0; i < n_events; i++) {
        struct v1_event e = v1_event(i);
        if (e.deleted)
            continue;
        if (e.track < V1_CATALOG) {
            want[e.user][e.track] += e.weight;
            known++;
        } else {
            unknown++;
        }
    }
    ok(tt_dataset_load(s, &d, &err), &err, "dataset");
    cr_assert_eq(tt_dataset_n_tracks(d), V1_CATALOG);
    cr_assert_eq(tt_dataset_n_users(d), V1_USERS);
    cr_assert_eq(d->n_events, known);
    cr_assert_eq(d->n_unknown_track_events, unknown);
    cr_assert_eq(d->max_event_id, max_id);
    for (int64_t k = 0; k < d->n_events; k++) {
        int u = index_of(tt_ids_name(d->users, d->ev_user[k]), "user-%d");
        int t = index_of(tt_ids_name(d->tracks, d->ev_track[k]), "trk-%d");
        got[u][t] += d->ev_weight[k];
    }
    for (int u = 0; u < V1_USERS; u++)
        for (int t = 0; t < V1_TRACKS; t++)
            cr_assert_eq(got[u][t], want[u][t], "user-%02d trk-%03d: %g, want %g", u, t, got[u][t],
                         want[u][t]);
    tt_dataset_free(d);
}

static const char *const all_tables[5] = {"artists", "tracks", "users", "interactions",
                                          "impressions"};

/* After the migration the old key is gone and event ids work. */
static void v1_check_writes(tt_store *s, const struct raw_row *old, int64_t max_id)
{
    tt_interaction_rec same = {old->user, old->track,   TT_ACT_PLAY, old->weight, old->ms_played,
                               old->at,   old->context, old->rec,    0,           NULL};
    tt_interaction_rec ev = event("user-03", "trk-007", V1_T0 + 999999, 2, "web:after-v2");
    int64_t n = count(s, "interactions");
    bool inserted = false;
    struct rows *r;
    tt_err err = {0};

    same.action = (enum tt_action)tt_action_parse(old->action, strlen(old->action));
    put_interactions(s, &same, 1);
    ok(tt_store_feedback_put(s, &same, &inserted, &err), &err, "feedback");
    cr_assert(inserted);
    cr_assert_eq(count(s, "interactions"), n + 2, "the version-1 key no longer merges events");
    put_interactions(s, &ev, 1);
    ev.weight = 6;
    put_interactions(s, &ev, 1);
    ok(tt_store_feedback_put(s, &ev, &inserted, &err), &err, "feedback retry");
    cr_assert_not(inserted);
    cr_assert_eq(count(s, "interactions"), n + 3);
    r = rows_new();
    ok(tt_store_scan_interactions_after(s, max_id, on_interaction, r, &err), &err, "scan");
    cr_assert_eq(r->n, 3, "new rows come after every migrated one");
    cr_assert_str_eq(r->in[2].event_id, "web:after-v2");
    cr_assert_eq(r->in[2].weight, 6.0f);
    rows_free(r);
}

STORE_TEST(migration_from_version_1)
{
    enum { N = 3000 };
    static struct raw_rows before;
    struct scan_compare cmp = {&before, 0};
    int64_t counts[5], max_id;
    tt_store *s;
    tt_err err = {0};
    int v = -1;

    v1_build(N);
    raw_rows_read(&before);
    v1_check_raw(&before, N);
    max_id = before.r[before.n - 1].id;
    for (int i = 0; i < 5; i++)
        counts[i] = raw_count(all_tables[i]);
    s = open_store();
    cr_assert_eq(tt_store_schema_found(s), 1);
    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 2);
    cr_assert_not(raw_has_table("schema_migrations"), "schema_migrations is renamed");
    cr_assert(raw_has_table("schema_version"));
    cr_assert_eq(raw_int("SELECT count(*) FROM schema_version"), 2);
    cr_assert_eq(raw_int("SELECT applied_at FROM schema_version WHERE version = 1"), 1700000000,
                 "version 1's record is kept");
    cr_assert(raw_has("index", "interactions_user"), "user scans keep an index");
    cr_assert(raw_has("index", "interactions_recommendation"));
    for (int i = 0; i < 5; i++)
        cr_assert_eq(count(s, all_tables[i]), counts[i], "%s", all_tables[i]);
    ok(tt_store_scan_interactions(s, compare_row, &cmp, &err), &err, "scan");
    cr_assert_eq(cmp.n, before.n);
    v1_check_dataset(s, N, max_id);
    v1_check_writes(s, &before.r[before.n / 2], max_id);
    tt_store_close(s);
    s = open_store();
    cr_assert_eq(tt_store_schema_found(s), 2, "migrated once");
    cr_assert_eq(count(s, "interactions"), counts[3] + 3);
    tt_store_close(s);
    raw_rows_release(&before);
}

STORE_TEST(newer_database_refused)
{
    tt_store *s = open_store(), *s2 = NULL;
    tt_store_pool *p = NULL;
    tt_interaction_rec x = event("u1", "t1", 1700000000, 3, "web:1");
    int64_t versions, rows;
    char sql[128];
    tt_err err = {0};

    put_interactions(s, &x, 1);
    tt_store_close(s);
    snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, 1900000000)",
             tt_store_schema_latest() + 1);
    raw_exec(sql);
    versions = raw_count("schema_version");
    rows = raw_count("interactions");
    cr_assert_eq(tt_store_open(db_url, &s2, &err), TT_EUNSUPPORTED, "%s", err.message);
    cr_assert_null(s2);
    cr_assert_not_null(strstr(err.message, "newer"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "upgrade"), "%s", err.message);
    tt_err_clear(&err);
    cr_assert_eq(tt_store_pool_open(db_url, 2, 500, &p, &err), TT_EUNSUPPORTED, "%s", err.message);
    cr_assert_null(p);
    /* Nothing changed. */
    cr_assert_eq(raw_count("schema_version"), versions);
    cr_assert_eq(raw_int("SELECT max(version) FROM schema_version"), tt_store_schema_latest() + 1);
    cr_assert_eq(raw_count("interactions"), rows);
    cr_assert_eq(raw_int("SELECT weight FROM interactions WHERE event_id = 'web:1'"), 3);
}

/* Openers that start together: one migrates, the others find the work done. */
struct opener {
    pthread_barrier_t *go;
    int rc, found;
    char message[512];
};

static void *open_together(void *arg)
{
    struct opener *o = arg;
    tt_store *s = NULL;
    tt_err err = {0};

    pthread_barrier_wait(o->go);
    o->rc = tt_store_open(db_url, &s, &err);
    o->found = o->rc == 0 ? tt_store_schema_found(s) : -1;
    snprintf(o->message, sizeof(o->message), "%s", err.message);
    tt_store_close(s);
    return NULL;
}

/* Opens db_url from twelve threads at once; returns how many found the database at @version. */
static int open_from_threads(int version)
{
    enum { N = 12 };
    pthread_barrier_t go;
    pthread_t th[N];
    struct opener o[N];
    int found = 0;

    pthread_barrier_init(&go, NULL, N);
    for (int i = 0; i < N; i++) {
        o[i] = (struct opener){.go = &go};
        cr_assert_eq(pthread_create(&th[i], NULL, open_together, &o[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(o[i].rc, 0, "opener %d: %s", i, o[i].message);
        cr_assert(o[i].found == version || o[i].found == tt_store_schema_latest(),
                  "opener %d found version %d", i, o[i].found);
        found += o[i].found == version;
    }
    return found;
}

/* Empties the test database: a new SQLite file, an empty PostgreSQL schema. */
static void wipe_database(void)
{
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    char path[400];

    if (!on_sqlite()) {
        pg_admin("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
        return;
    }
    for (size_t i = 0; i < sizeof(suffix) / sizeof(*suffix); i++) {
        snprintf(path, sizeof(path), "%s/store.db%s", db_dir, suffix[i]);
        unlink(path);
    }
}

/*
 * Services starting together on a new database. A race lasts a few milliseconds, so the
 * start is repeated: often on SQLite, where a round costs little; PostgreSQL's rounds are
 * slower (a schema dropped and twelve connections made) and its advisory lock serialises them.
 */
STORE_TEST(concurrent_openers_migrate_once)
{
    int rounds = on_sqlite() ? 50 : 3;

    for (int round = 0; round < rounds; round++) {
        wipe_database();
        cr_assert_eq(open_from_threads(0), 1, "round %d: exactly one opener created the schema",
                     round);
        cr_assert_eq(raw_count("schema_version"), tt_store_schema_latest(), "each version once");
    }
}

STORE_TEST(concurrent_openers_migrate_version_1_once)
{
    v1_build(300);
    cr_assert_eq(open_from_threads(1), 1, "exactly one opener migrated");
    cr_assert_eq(raw_count("schema_version"), tt_store_schema_latest());
    cr_assert_eq(raw_count("interactions"), v1_kept(300));
    cr_assert_not(raw_has_table("schema_migrations"));
}

/* ---- budgets and pools ---------------------------------------------------------------- */

STORE_TEST(ping_and_budget)
{
    tt_store *s = open_store();
    tt_interaction_rec x = play("u1", "t1", 1700000000, 1);
    bool inserted = false;
    tt_err err = {0};

    ok(tt_store_ping(s, &err), &err, "ping");
    ok(tt_store_set_budget(s, 200, &err), &err, "budget");
    ok(tt_store_ping(s, &err), &err, "ping within a budget");
    ok(tt_store_feedback_put(s, &x, &inserted, &err), &err, "feedback within a budget");
    cr_assert(inserted);
    ok(tt_store_set_budget(s, 0, &err), &err, "back to the default");
    ok(tt_store_ping(s, &err), &err, "ping");
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}

struct getter {
    tt_store_pool *p;
    tt_store *got;
    int rc;
    double seconds;
};

static void *get_in_thread(void *arg)
{
    struct getter *g = arg;
    double t0 = tt_now();

    g->rc = tt_store_pool_get(g->p, &g->got, NULL);
    g->seconds = tt_now() - t0;
    return NULL;
}

/* Asserts that a get finds every connection busy and gives up, well within 2 s. */
static void get_times_out(tt_store_pool *p)
{
    struct getter g = {p, NULL, 0, 0};
    pthread_t th;
    tt_err err = {0};
    tt_store *none = NULL;
    double t0 = tt_now();

    cr_assert_eq(tt_store_pool_get(p, &none, &err), TT_EDBBUSY);
    cr_assert_lt(tt_now() - t0, 2.0, "the wait is bounded by the budget");
    cr_assert_null(none);
    cr_assert_not_null(strstr(err.message, "busy"), "%s", err.message);
    cr_assert_eq(pthread_create(&th, NULL, get_in_thread, &g), 0);
    pthread_join(th, NULL);
    cr_assert_eq(g.rc, TT_EDBBUSY, "from another thread too");
    cr_assert_lt(g.seconds, 2.0);
}

STORE_TEST(pool_waits_at_most_its_budget)
{
    tt_store_pool *p = NULL;
    tt_store *a = NULL, *b = NULL;
    tt_interaction_rec x = play("u1", "t1", 1700000000, 1);
    tt_err err = {0};

    cr_assert_eq(tt_store_pool_open(db_url, 0, 150, &p, NULL), TT_EINVAL);
    cr_assert_eq(tt_store_pool_open(db_url, 1, 0, &p, NULL), TT_EINVAL);
    cr_assert_null(p);
    ok(tt_store_pool_open(db_url, 1, 150, &p, &err), &err, "pool");
    cr_assert_str_eq(tt_store_pool_backend(p), on_sqlite() ? "sqlite" : "postgresql");
    cr_assert_eq(tt_store_pool_budget(p), 150);
    ok(tt_store_pool_get(p, &a, &err), &err, "get");
    get_times_out(p);
    tt_store_pool_put(p, a);
    ok(tt_store_pool_get(p, &b, &err), &err, "get after put");
    cr_assert_eq(b, a, "the connection given back");
    ok(tt_store_feedback_put(b, &x, NULL, &err), &err, "feedback through the pool");
    tt_store_pool_put(p, b);
    tt_store_pool_close(p);
    tt_store_pool_close(NULL);
}

/* ---- SQLite budgets ----------------------------------------------------------------------- */

TestSuite(store_sqlite_budget, .init = sqlite_setup, .fini = sqlite_teardown);

Test(store_sqlite_budget, locked_database_write_returns_busy)
{
    tt_store *s = open_store();
    sqlite3 *other = sqlite_raw();
    tt_interaction_rec x = play("u1", "t1", 1700000000, 1);
    bool inserted = true;
    tt_err err = {0};
    double t0;
    int rc;

    ok(tt_store_set_budget(s, 200, &err), &err, "budget");
    cr_assert_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    t0 = tt_now();
    rc = tt_store_feedback_put(s, &x, &inserted, &err);
    cr_assert_eq(rc, TT_EDBBUSY, "%s (%s)", err.message, tt_err_name(rc));
    cr_assert_lt(tt_now() - t0, 2.0, "the wait is bounded by the budget");
    cr_assert_not(inserted);
    tt_err_clear(&err);
    cr_assert_eq(tt_store_begin(s, &err), TT_EDBBUSY, "bulk writes too");
    tt_err_clear(&err);
    ok(tt_store_ping(s, &err), &err, "reads are not blocked by a writer (WAL)");
    cr_assert_eq(sqlite3_exec(other,
                              "INSERT INTO interactions (user_id, track_id, action,"
                              " occurred_at) VALUES ('u2', 't2', 'like', 1700000001);"
                              "COMMIT",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    ok(tt_store_feedback_put(s, &x, &inserted, &err), &err, "feedback once the lock is gone");
    cr_assert(inserted);
    cr_assert_eq(count(s, "interactions"), 2);
    sqlite3_close(other);
    tt_store_close(s);
}

static void *commit_later(void *arg)
{
    usleep(300000);
    sqlite3_exec(arg, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

/*
 * The database is shared with a program that keeps SQLite's default rollback journal (the
 * API service through its ORM, say) and is writing when the engine starts: the open waits for
 * the lock, as every other statement does, instead of failing at once.
 */
Test(store_sqlite_budget, open_waits_for_a_writer_without_wal)
{
    sqlite3 *other = sqlite_raw();
    tt_store *s = NULL;
    pthread_t th;
    tt_err err = {0};
    int rc;

    cr_assert_eq(sqlite3_exec(other,
                              "CREATE TABLE api_sessions (token TEXT PRIMARY KEY, user_id TEXT);"
                              "BEGIN IMMEDIATE;"
                              "INSERT INTO api_sessions VALUES ('c2f1', 'u1')",
                              NULL, NULL, NULL),
                 SQLITE_OK);
    cr_assert_eq(pthread_create(&th, NULL, commit_later, other), 0);
    rc = tt_store_open(db_url, &s, &err);
    pthread_join(th, NULL);
    sqlite3_close(other);
    cr_assert_eq(rc, 0, "%s (%s)", err.message, tt_err_name(rc));
    cr_assert_eq(count(s, "interactions"), 0);
    tt_store_close(s);
}

/* SQLite has one writer at a time: the pool holds one connection, whatever size is asked. */
Test(store_sqlite_budget, pool_holds_one_connection)
{
    tt_store_pool *p = NULL;
    tt_store *a = NULL;
    sqlite3 *other;
    tt_interaction_rec x = play("u1", "t1", 1700000000, 1);
    tt_err err = {0};
    double t0;

    ok(tt_store_pool_open(db_url, 4, 150, &p, &err), &err, "pool");
    ok(tt_store_pool_get(p, &a, &err), &err, "get");
    get_times_out(p);
    /* The pool's connection carries the budget. */
    other = sqlite_raw();
    cr_assert_eq(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    t0 = tt_now();
    cr_assert_eq(tt_store_feedback_put(a, &x, NULL, &err), TT_EDBBUSY, "%s", err.message);
    cr_assert_lt(tt_now() - t0, 2.0);
    sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(other);
    tt_store_pool_put(p, a);
    tt_store_pool_close(p);
}

Test(store_sqlite_budget, pool_get_wakes_when_a_connection_returns)
{
    tt_store_pool *p = NULL;
    tt_store *a = NULL;
    struct getter g = {0};
    pthread_t th;
    tt_err err = {0};

    ok(tt_store_pool_open(db_url, 1, 5000, &p, &err), &err, "pool");
    ok(tt_store_pool_get(p, &a, &err), &err, "get");
    g.p = p;
    cr_assert_eq(pthread_create(&th, NULL, get_in_thread, &g), 0);
    usleep(50000);
    tt_store_pool_put(p, a);
    pthread_join(th, NULL);
    cr_assert_eq(g.rc, 0, "the waiting get takes the connection given back");
    cr_assert_eq(g.got, a);
    tt_store_pool_put(p, g.got);
    tt_store_pool_close(p);
}

/* ---- opening ---------------------------------------------------------------------- */

static int open_fails(const char *url, tt_err *err)
{
    tt_store *s = NULL;
    int rc = tt_store_open(url, &s, err);

    cr_assert_null(s, "no store on failure");
    cr_assert_lt(rc, 0, "%s opened", url);
    return rc;
}

Test(store_url, unsupported_scheme)
{
    tt_err err = {0};

    cr_assert_eq(open_fails("mysql://u:p@localhost/db", &err), TT_ECONFIG);
    cr_assert_str_eq(err.field, "DATABASE_URL");
}

Test(store_url, sqlite_empty_path)
{
    tt_err err = {0};

    cr_assert_eq(open_fails("sqlite://", &err), TT_ECONFIG);
}

Test(store_url, pg_unreachable)
{
    tt_err err = {0};
    size_t n;

    cr_assert_eq(open_fails("postgresql://nobody:secret@127.0.0.1:1/none", &err), TT_EBACKEND);
    n = strlen(err.message);
    cr_assert_gt(n, 0);
    cr_assert_neq(err.message[n - 1], '\n', "message ends in a newline: %s", err.message);
    cr_assert_null(strstr(err.message, "secret"), "message shows the password");
}

Test(store_url, pg_malformed)
{
    tt_err err = {0};

    cr_assert_eq(open_fails("postgres://host/db?no_such_option=1", &err), TT_ECONFIG);
    cr_assert_eq(open_fails("postgresql://[::1/db", NULL), TT_ECONFIG);
}

/* ---- PostgreSQL only ---------------------------------------------------------------- */

Test(store_pg, invalid_utf8_refused_at_put)
{
    tt_store *s;
    tt_interaction_rec bad = play("u\xff", "t1", 1, 1), good = play("u1", "t1", 1, 1);
    tt_err err = {0};

    pg_setup();
    s = open_store();
    ok(tt_store_begin(s, &err), &err, "begin");
    cr_assert_eq(tt_store_put_interaction(s, &bad, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "user_id");
    tt_err_clear(&err);
    ok(tt_store_put_interaction(s, &good, &err), &err, "put after a refused row");
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}

Test(store_pg, reconnects_after_connection_loss)
{
    tt_store *s;
    tt_interaction_rec fb = play("u1", "t1", 1, 1);
    tt_err err = {0};

    pg_setup();
    s = open_store();
    ok(tt_store_feedback_put(s, &fb, NULL, &err), &err, "feedback");
    pg_admin("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
             " WHERE application_name = 'tunetrail' AND datname = current_database()"
             " AND pid <> pg_backend_pid()");
    /* The next calls find the connection dead, reconnect and succeed. */
    fb.occurred_at = 2;
    ok(tt_store_feedback_put(s, &fb, NULL, &err), &err, "feedback after the connection died");
    fb.occurred_at = 3;
    ok(tt_store_feedback_put(s, &fb, NULL, &err), &err, "feedback");
    cr_assert_eq(count(s, "interactions"), 3);
    tt_store_close(s);
}

/*
 * A statement that waits for a lock past the budget gives up with TT_EDBBUSY, writes nothing,
 * and leaves the connection usable once the server has answered the abandoned statement.
 */
Test(store_pg, locked_table_write_returns_busy)
{
    tt_interaction_rec x = play("u1", "t1", 1700000000, 1);
    bool inserted = true;
    tt_store *s;
    PGconn *locker;
    PGresult *res;
    tt_err err = {0};
    double t0;
    int rc;

    pg_setup();
    s = open_store();
    ok(tt_store_set_budget(s, 200, &err), &err, "budget");
    locker = PQconnectdb(db_url);
    cr_assert_eq(PQstatus(locker), CONNECTION_OK, "%s", PQerrorMessage(locker));
    res = PQexec(locker, "BEGIN; LOCK TABLE interactions IN ACCESS EXCLUSIVE MODE");
    cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
    PQclear(res);
    t0 = tt_now();
    rc = tt_store_feedback_put(s, &x, &inserted, &err);
    cr_assert_eq(rc, TT_EDBBUSY, "%s (%s)", err.message, tt_err_name(rc));
    cr_assert_lt(tt_now() - t0, 2.0, "the wait is bounded by the budget");
    cr_assert_not(inserted);
    /* The server cancels the statement at its lock timeout; until then the store says busy. */
    t0 = tt_now();
    while (tt_store_ping(s, NULL) == TT_EDBBUSY && tt_now() - t0 < 2.0)
        usleep(10000);
    ok(tt_store_ping(s, &err), &err, "ping after the abandoned statement");
    PQclear(PQexec(locker, "ROLLBACK"));
    PQfinish(locker);
    cr_assert_eq(count(s, "interactions"), 0, "the write that timed out was not stored");
    ok(tt_store_feedback_put(s, &x, &inserted, &err), &err, "feedback once the lock is gone");
    cr_assert(inserted);
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
}
