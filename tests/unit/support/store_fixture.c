/*
 * Fixtures shared by the store test files (test_store.c, test_store_schema.c): a scratch
 * SQLite file or the wiped PostgreSQL test database, helpers that put and scan through the
 * store, and raw access to the same database beside the store. See store_fixture.h.
 */
#include "store_fixture.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/core.h"

/* ---- fixtures ---------------------------------------------------------------------- */

char db_dir[256];
char db_url[1200];

void sqlite_setup(void)
{
    snprintf(db_dir, sizeof(db_dir), "/tmp/tt_test_store_XXXXXX");
    cr_assert_not_null(mkdtemp(db_dir), "mkdtemp failed");
    snprintf(db_url, sizeof(db_url), "sqlite:///%s/store.db", db_dir);
}

void sqlite_teardown(void)
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
void pg_admin(const char *sql)
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
void pg_setup(void)
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


/* ---- helpers ----------------------------------------------------------------------- */

tt_store *open_store(void)
{
    tt_err err = {0};
    tt_store *s = NULL;
    int rc = tt_store_open(db_url, &s, &err);

    cr_assert_eq(rc, 0, "open: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(s);
    return s;
}

int64_t count(tt_store *s, const char *table)
{
    tt_err err = {0};
    int64_t n = -1;
    int rc = tt_store_count(s, table, &n, &err);

    cr_assert_eq(rc, 0, "count %s: %s", table, tt_err_msg(&err, rc));
    return n;
}

void ok(int rc, const tt_err *err, const char *what)
{
    cr_assert_eq(rc, 0, "%s failed: %s (%s)", what, tt_err_msg(err, rc), tt_err_name(rc));
}

tt_interaction_rec play(const char *user, const char *track, int64_t at, float weight)
{
    tt_interaction_rec r = {user, track, TT_ACT_PLAY, weight, -1, at, NULL, NULL, 0, NULL};
    return r;
}

/* A play carrying the idempotency key @event_id. */
tt_interaction_rec event(const char *user, const char *track, int64_t at, float weight,
                                const char *event_id)
{
    tt_interaction_rec r = play(user, track, at, weight);

    r.event_id = event_id;
    return r;
}

void put_interactions(tt_store *s, const tt_interaction_rec *rs, int n)
{
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    for (int i = 0; i < n; i++)
        ok(tt_store_put_interaction(s, &rs[i], &err), &err, "put interaction");
    ok(tt_store_commit(s, &err), &err, "commit");
}

char *dup_or_null(const char *s)
{
    return s ? tt_strdup(s) : NULL;
}

bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}


static int stop_check(struct rows *r)
{
    r->n++;
    return r->stop_after && r->n >= r->stop_after ? -42 : 0;
}

int on_interaction(void *ctx, const tt_interaction_rec *x)
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

int on_track(void *ctx, const tt_track_rec *t)
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

int on_user(void *ctx, const tt_user_rec *u)
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

int on_artist(void *ctx, const tt_artist_rec *a)
{
    struct rows *r = ctx;
    tt_artist_rec *c = &r->ar[r->n];

    cr_assert_lt(r->n, MAX_ROWS);
    c->artist_id = dup_or_null(a->artist_id);
    c->name = dup_or_null(a->name);
    c->genres = dup_or_null(a->genres);
    return stop_check(r);
}

void rows_free(struct rows *r)
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

struct rows *rows_new(void)
{
    return tt_calloc(1, sizeof(struct rows));
}

struct rows *scan_interactions(tt_store *s)
{
    struct rows *r = rows_new();
    tt_err err = {0};

    ok(tt_store_scan_interactions(s, on_interaction, r, &err), &err, "scan interactions");
    return r;
}


/* ---- raw access, beside the store ------------------------------------------------------ */

bool on_sqlite(void)
{
    return strncmp(db_url, "sqlite:", 7) == 0;
}

/* The test's own connection to the SQLite file of db_url (sqlite:////tmp/.../store.db). */
sqlite3 *sqlite_raw(void)
{
    sqlite3 *db = NULL;

    cr_assert_eq(sqlite3_open(db_url + strlen("sqlite:///"), &db), SQLITE_OK, "open %s", db_url);
    sqlite3_busy_timeout(db, 10000);
    return db;
}

/* Runs the statements of @sql on a connection of the test's own. */
void raw_exec(const char *sql)
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

void raw_query(const char *sql, raw_row_fn fn, void *ctx)
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
int64_t raw_int(const char *sql)
{
    int64_t v = INT64_MIN;

    raw_query(sql, first_value, &v);
    cr_assert_neq(v, INT64_MIN, "%s returned no row", sql);
    return v;
}

int64_t raw_count(const char *table)
{
    char sql[128];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return raw_int(sql);
}

/* Whether the schema has a table (@kind "table") or an index ("index") named @name. */
bool raw_has(const char *kind, const char *name)
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

bool raw_has_table(const char *name)
{
    return raw_has("table", name);
}
