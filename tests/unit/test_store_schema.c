/*
 * The store's schema and waits: migrations on a fresh database, from a version-1 database as
 * the engine before event identity left it (every row, id and training weight kept), a
 * database newer than the engine refused, concurrent openers; budgets, pings and pools, and
 * a SQLite database locked by another connection. Same fixtures as test_store.c.
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

#include "support/store_fixture.h"
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/store.h"

/* The migrations themselves, to build a database as an older engine left it. */
#include "../../src/store/backend.h"

/* ---- migrations ---------------------------------------------------------------------- */

STORE_TEST(migrations_fresh)
{
    tt_store *s = open_store();
    const char *tables[] = {"artists",     "tracks",       "users",
                            "interactions", "impressions", "training_jobs"};
    tt_err err = {0};
    int v = -1;

    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 5, "version 5 is the store's identity and rewrite counter");
    cr_assert_eq(tt_store_schema_latest(), 5);
    cr_assert_eq(tt_store_schema_found(s), 0, "an empty database has no schema");
    cr_assert_not_null(tt_store_migration_name(1));
    cr_assert_not_null(strstr(tt_store_migration_name(2), "event"));
    cr_assert_not_null(strstr(tt_store_migration_name(3), "training jobs"));
    cr_assert_not_null(strstr(tt_store_migration_name(4), "partitioned"));
    cr_assert_not_null(strstr(tt_store_migration_name(5), "rewritten"));
    cr_assert_null(tt_store_migration_name(6));
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
    cr_assert_eq(v, 5);
    cr_assert_eq(tt_store_schema_found(s2), 5, "nothing left to migrate");
    tt_store_close(s2);
    tt_store_close(s);
    s = open_store();
    v = -1;
    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 5);
    cr_assert_eq(tt_store_schema_found(s), 5);
    cr_assert_eq(count(s, "interactions"), 1);
    tt_store_close(s);
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
    cr_assert_eq(v, tt_store_schema_latest());
    cr_assert_not(raw_has_table("schema_migrations"), "schema_migrations is renamed");
    cr_assert(raw_has_table("schema_version"));
    cr_assert_eq(raw_int("SELECT count(*) FROM schema_version"), tt_store_schema_latest());
    cr_assert(raw_has_table("training_jobs"));
    cr_assert(raw_has_table("schedule_runs"));
    cr_assert(raw_has("index", "training_jobs_claim"));
    cr_assert_eq(raw_int("SELECT applied_at FROM schema_version WHERE version = 1"), 1700000000,
                 "version 1's record is kept");
    cr_assert(raw_has("index", "interactions_user"), "user scans keep an index");
    /* PostgreSQL keeps only the indexes the engine reads by (schema.c, version 4). */
    cr_assert_eq(raw_has("index", "interactions_recommendation"), on_sqlite());
    if (!on_sqlite())
        cr_assert_eq(raw_int("SELECT count(*) FROM pg_inherits WHERE inhparent ="
                             " 'interactions'::regclass AND inhrelid ="
                             " 'interactions_y2023m11'::regclass"),
                     1, "the version-1 rows' month has its partition");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(count(s, all_tables[i]), counts[i], "%s", all_tables[i]);
    ok(tt_store_scan_interactions(s, compare_row, &cmp, &err), &err, "scan");
    cr_assert_eq(cmp.n, before.n);
    v1_check_dataset(s, N, max_id);
    v1_check_writes(s, &before.r[before.n / 2], max_id);
    tt_store_close(s);
    s = open_store();
    cr_assert_eq(tt_store_schema_found(s), tt_store_schema_latest(), "migrated once");
    cr_assert_eq(count(s, "interactions"), counts[3] + 3);
    tt_store_close(s);
    raw_rows_release(&before);
}

/* ---- a version-4 database: the store's identity and rewrite counter arrive --------------- */

/* Migrations 1 to 4 as the engine before version 5 applied them, with rows of the test's own. */
static void v4_build(int n_events)
{
    struct sql b = {0};

    cr_assert_eq(tt__migrations[3].version, 4);
    sql_add(&b, "BEGIN;");
    for (int i = 0; i < 4; i++)
        sql_add(&b, "%s;", on_sqlite() ? tt__migrations[i].sqlite_sql : tt__migrations[i].pg_sql);
    sql_add(&b, "CREATE TABLE schema_version(version INTEGER PRIMARY KEY,"
                " applied_at BIGINT NOT NULL);"
                "INSERT INTO schema_version VALUES (1, 1700000000), (2, 1700000000),"
                " (3, 1700000000), (4, 1700000000);");
    v1_catalog(&b);
    v1_events(&b, n_events);
    /* Its imports made the month partition of their rows (all in November 2023). */
    if (!on_sqlite())
        sql_add(&b, "SELECT tt_interactions_month(%lld);", (long long)V1_T0);
    sql_add(&b, "COMMIT;");
    raw_exec(b.p);
    free(b.p);
}

static int add_event(void *ctx, const tt_interaction_rec *r)
{
    tt_dataset_add_event(ctx, r);
    return 0;
}

static int64_t rewrites(void)
{
    return raw_int("SELECT interaction_rewrites FROM store_meta");
}

STORE_TEST(migration_5_from_version_4)
{
    enum { N = 600 };
    tt_store *s;
    tt_log_state st;
    tt_dataset *a = NULL, *b = NULL;
    tt_err err = {0};
    int64_t rows, max_id;
    int v = -1;

    v4_build(N);
    rows = raw_count("interactions");
    max_id = raw_int("SELECT max(id) FROM interactions");
    cr_assert_eq(rows, v1_kept(N));
    if (!on_sqlite())
        cr_assert_eq(raw_int("SELECT count(*) FROM interactions_default"), 0);
    s = open_store();
    cr_assert_eq(tt_store_schema_found(s), 4);
    ok(tt_store_schema_version(s, &v, &err), &err, "schema version");
    cr_assert_eq(v, 5);
    cr_assert_eq(raw_count("store_meta"), 1);
    cr_assert_eq(raw_count("interactions"), rows, "the rows are kept");
    ok(tt_store_log_state(s, 0, &st, &err), &err, "log state");
    cr_assert_eq(strlen(st.store_id), 32, "%s", st.store_id);
    cr_assert_eq(strspn(st.store_id, "0123456789abcdef"), 32, "%s", st.store_id);
    cr_assert_eq(st.rewrites, 0);
    cr_assert_eq(st.max_id, max_id);

    /* Inserts leave the counter; updates and deletes move it (once a transaction in PG). */
    {
        tt_interaction_rec x = play("user-01", "trk-001", V1_T0 + 99999, 1);
        put_interactions(s, &x, 1);
    }
    cr_assert_eq(rewrites(), 0);
    raw_exec("UPDATE interactions SET weight = weight + 1 WHERE id IN"
             " (SELECT id FROM interactions ORDER BY id LIMIT 3)");
    cr_assert_eq(rewrites(), on_sqlite() ? 3 : 1);
    raw_exec("DELETE FROM interactions WHERE id = (SELECT max(id) FROM interactions)");
    cr_assert_eq(rewrites(), on_sqlite() ? 4 : 2);
    ok(tt_store_log_state(s, 0, &st, &err), &err, "log state");
    cr_assert_eq(st.rewrites, rewrites());
    cr_assert_eq(st.max_id, max_id, "the appended row is deleted again");
    /* The bounded scan of the snapshot reads the rows the plain one does. */
    ok(tt_dataset_load(s, &a, &err), &err, "load");
    cr_assert_eq(a->n_events + a->n_unknown_track_events, rows);
    b = tt_dataset_new();
    ok(tt_store_scan_interactions_range(s, INT64_MIN, st.max_id,
                                        add_event, b, &err),
       &err, "range");
    cr_assert_eq(b->n_unknown_track_events, rows, "no catalog: every event is unknown");
    cr_assert_eq(b->max_event_id, a->max_event_id);
    tt_dataset_free(a);
    tt_dataset_free(b);
    tt_store_close(s);
    s = open_store();
    cr_assert_eq(tt_store_schema_found(s), 5, "migrated once");
    ok(tt_store_log_state(s, 0, &st, &err), &err, "log state");
    cr_assert_eq(st.rewrites, rewrites(), "the store keeps its counter");
    tt_store_close(s);
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

