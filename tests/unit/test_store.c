/*
 * The store interface (tt/store.h), with the same test bodies run against both backends:
 * SQLite in a fresh temporary file, and PostgreSQL when TT_TEST_PG_URL names a database
 * (scripts/test-services provides one). Every PostgreSQL test starts from an empty public
 * schema, so the suite needs a database of its own and must not run in parallel with itself.
 * Without TT_TEST_PG_URL the PostgreSQL variants are skipped, except under CI=true, where
 * they fail: CI must exercise PostgreSQL for real.
 */
#include <criterion/criterion.h>
#include <libpq-fe.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/core.h"
#include "tt/store.h"

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
              "%s: %s", sql, PQresultErrorMessage(res));
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
    cr_assert_eq(v, 1);
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
    cr_assert_eq(v, 1);
    tt_store_close(s2);
    tt_store_close(s);
    s = open_store();
    v = -1;
    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 1);
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

STORE_TEST(interaction_upsert)
{
    tt_store *s = open_store();
    tt_interaction_rec batch[3] = {play("u1", "t1", 100, 1), play("u1", "t2", 100, 1),
                                   play("u1", "t1", 100, 3)};
    tt_interaction_rec later = play("u1", "t2", 100, 7);
    struct rows *r;

    batch[2].context = "radio";
    /* The same key twice in one transaction, then again in another. */
    put_interactions(s, batch, 3);
    put_interactions(s, &later, 1);
    r = scan_interactions(s);
    cr_assert_eq(r->n, 2);
    cr_assert_eq(count(s, "interactions"), 2);
    cr_assert_str_eq(r->in[0].track_id, "t1", "the row keeps its first position");
    cr_assert_eq(r->in[0].weight, 3.0f, "the last put wins");
    cr_assert_str_eq(r->in[0].context, "radio");
    cr_assert_str_eq(r->in[1].track_id, "t2");
    cr_assert_eq(r->in[1].weight, 7.0f);
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

static int first_row(void *ctx, const tt_interaction_rec *r)
{
    tt_interaction_rec *out = ctx;

    out->weight = r->weight;
    out->occurred_at = r->occurred_at;
    return -1;
}

/* Past 100,000 rows a bulk write is applied in parts; upserts must not notice. */
STORE_TEST(upsert_across_large_batches)
{
    tt_store *s = open_store();
    enum { N = 100100 };
    tt_interaction_rec got = {0};
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    for (int i = 0; i < N; i++) {
        tt_interaction_rec x = play("u", "t", i, 1);
        ok(tt_store_put_interaction(s, &x, &err), &err, "put");
    }
    for (int i = 0; i < N; i += N - 50) {
        tt_interaction_rec again = play("u", "t", i, 9);
        ok(tt_store_put_interaction(s, &again, &err), &err, "put again");
        ok(tt_store_put_interaction(s, &again, &err), &err, "put a third time");
    }
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(s, "interactions"), N);
    cr_assert_eq(tt_store_scan_interactions(s, first_row, &got, &err), -1);
    cr_assert_eq(got.occurred_at, 0, "the first row keeps its place");
    cr_assert_eq(got.weight, 9.0f, "and takes the last values");
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
    tt_interaction_rec fb = {"u1", "t9", TT_ACT_LIKE, 1, 30000, 1700000100, "home", "rec-7", 0, NULL};
    struct rows *r;
    tt_err err = {0};

    ok(tt_store_feedback_put(s, &fb, NULL, &err), &err, "feedback");
    r = scan_interactions(other);
    cr_assert_eq(r->n, 1);
    cr_assert_str_eq(r->in[0].track_id, "t9");
    cr_assert_eq(r->in[0].action, TT_ACT_LIKE);
    cr_assert_eq(r->in[0].ms_played, 30000);
    cr_assert_str_eq(r->in[0].recommendation_id, "rec-7");
    rows_free(r);
    fb.weight = 4;
    ok(tt_store_feedback_put(s, &fb, NULL, &err), &err, "feedback again");
    r = scan_interactions(other);
    cr_assert_eq(r->n, 1, "feedback upserts");
    cr_assert_eq(r->in[0].weight, 4.0f);
    rows_free(r);
    tt_store_close(other);
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
    /* The store is usable after an interrupted scan. */
    put_interactions(s, in, 1);
    cr_assert_eq(count(s, "interactions"), 4);
    rows_free(r);
    tt_store_close(s);
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
