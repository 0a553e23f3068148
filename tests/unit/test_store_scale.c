/*
 * The store at scale: the full interaction scan (PostgreSQL streams it with binary COPY)
 * against the cursor scan, value by value; PostgreSQL's monthly partitions of interactions
 * (migration from version 3 with rows in it, months made on import, the DEFAULT partition)
 * and event identity across them. Bodies run on both backends (support/store_fixture.h).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/store_fixture.h"
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/store.h"

#include "../../src/store/backend.h"

/* Values that each encoding could get wrong: escapes, UTF-8, NULLs, inexact floats. */
static void put_awkward(tt_store *s)
{
    tt_interaction_rec in[8] = {
        play("u\ttab", "t1", 1700000000, 0.1f),
        play("u\\back", "t\nnl", -5, 1e-8f),
        play("üsér ♫", "tråck", 4102444800LL, -2.5f),
        event("u1", "t1", 1700000001, 3.4028235e38f, "ev:ü"),
        play("u1", "t2", 0, 1),
        play("u2", "t3", 1700000002, 7),
        play("u2", "t3", 1700000002, 7),
        play("u3", "t4", INT64_C(253402300799), 0.3333333f),
    };

    in[0].context = "ctx\twith\\escapes\r";
    in[1].ms_played = INT64_C(31536000000);
    in[2].recommendation_id = "rec-1";
    in[3].action = TT_ACT_LIKE;
    in[4].action = TT_ACT_IMPRESSION;
    in[5].context = "";
    put_interactions(s, in, 8);
}

static void assert_same_rows(const struct rows *a, const struct rows *b)
{
    cr_assert_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        const tt_interaction_rec *x = &a->in[i], *y = &b->in[i];
        cr_assert_eq(x->id, y->id, "row %d", i);
        cr_assert(same_str(x->user_id, y->user_id), "row %d user", i);
        cr_assert(same_str(x->track_id, y->track_id), "row %d track", i);
        cr_assert(same_str(x->context, y->context), "row %d context", i);
        cr_assert(same_str(x->recommendation_id, y->recommendation_id), "row %d rec", i);
        cr_assert(same_str(x->event_id, y->event_id), "row %d event", i);
        cr_assert_eq(x->action, y->action, "row %d action", i);
        cr_assert(memcmp(&x->weight, &y->weight, sizeof(float)) == 0, "row %d weight %g %g", i,
                  (double)x->weight, (double)y->weight);
        cr_assert_eq(x->ms_played, y->ms_played, "row %d ms", i);
        cr_assert_eq(x->occurred_at, y->occurred_at, "row %d at", i);
    }
}

static const tt_interaction_rec *find(const struct rows *r, const char *user)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->in[i].user_id, user) == 0)
            return &r->in[i];
    cr_assert_fail("no row of %s", user);
    return NULL;
}

/* The full scan (binary COPY on PostgreSQL) reads what the cursor scan reads. */
STORE_TEST(full_scan_matches_cursor_scan)
{
    tt_store *s = open_store();
    struct rows *full = rows_new(), *after = rows_new();
    tt_err err = {0};

    put_awkward(s);
    ok(tt_store_scan_interactions(s, on_interaction, full, &err), &err, "full scan");
    ok(tt_store_scan_interactions_after(s, 0, on_interaction, after, &err), &err, "after scan");
    cr_assert_eq(full->n, 8);
    assert_same_rows(full, after);
    cr_assert_str_eq(find(full, "üsér ♫")->track_id, "tråck");
    cr_assert_str_eq(find(full, "u\ttab")->context, "ctx\twith\\escapes\r");
    cr_assert_null(find(full, "u\ttab")->event_id);
    cr_assert_eq(find(full, "u\ttab")->ms_played, -1, "NULL ms_played reads as -1");
    cr_assert_eq(find(full, "u\\back")->ms_played, INT64_C(31536000000));
    rows_free(full);
    rows_free(after);
    tt_store_close(s);
}

/* Inside a transaction the scan sees staged rows and, stopped early, leaves it usable. */
STORE_TEST(full_scan_stopped_inside_transaction)
{
    tt_store *s = open_store();
    struct rows *r = rows_new();
    tt_interaction_rec extra = play("u9", "t9", 1700000100, 1);
    tt_err err = {0};

    put_awkward(s);
    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_interaction(s, &extra, &err), &err, "put");
    r->stop_after = 3;
    cr_assert_eq(tt_store_scan_interactions(s, on_interaction, r, &err), -42);
    rows_free(r);
    r = rows_new();
    ok(tt_store_scan_interactions(s, on_interaction, r, &err), &err, "scan in transaction");
    cr_assert_eq(r->n, 9);
    cr_assert_str_eq(r->in[8].user_id, "u9");
    ok(tt_store_commit(s, &err), &err, "commit");
    cr_assert_eq(count(s, "interactions"), 9);
    rows_free(r);
    tt_store_close(s);
}

/* A dataset loaded through the full scan equals one built from the cursor scan. */
static int add_event(void *ctx, const tt_interaction_rec *r)
{
    tt_dataset_add_event(ctx, r);
    return 0;
}

STORE_TEST(dataset_same_through_either_scan)
{
    tt_store *s = open_store();
    tt_dataset *a = NULL, *b;
    tt_track_rec t = tt_track_rec_empty();
    const char *tracks[] = {"t1", "t2", "t3", "t\nnl"};
    tt_err err = {0};

    for (int i = 0; i < 4; i++) {
        t.track_id = t.title = tracks[i];
        t.artist = "a";
        ok(tt_store_put_track(s, &t, &err), &err, "track");
    }
    put_awkward(s);
    ok(tt_dataset_load(s, &a, &err), &err, "load");
    b = tt_dataset_new();
    for (int i = 0; i < 4; i++) {
        t.track_id = t.title = tracks[i];
        tt_dataset_add_track(b, &t);
    }
    ok(tt_store_scan_interactions_after(s, 0, add_event, b, &err), &err, "cursor scan");
    cr_assert_eq(a->n_events, b->n_events);
    cr_assert_eq(a->n_events, 6);
    cr_assert_eq(a->max_event_id, b->max_event_id);
    for (int64_t i = 0; i < a->n_events; i++) {
        cr_assert_str_eq(tt_ids_name(a->users, a->ev_user[i]), tt_ids_name(b->users, b->ev_user[i]));
        cr_assert_str_eq(tt_ids_name(a->tracks, a->ev_track[i]),
                         tt_ids_name(b->tracks, b->ev_track[i]));
        cr_assert_eq(a->ev_action[i], b->ev_action[i]);
        cr_assert_eq(a->ev_weight[i], b->ev_weight[i]);
        cr_assert_eq(tt_dataset_event_time(a, i), tt_dataset_event_time(b, i));
    }
    tt_dataset_free(a);
    tt_dataset_free(b);
    tt_store_close(s);
}

/* ---- monthly partitions (PostgreSQL), migration from version 3 ------------------------ */

#define JAN_2024 INT64_C(1704067200)
#define APR_2024 INT64_C(1711929600)
#define JUN_2024 INT64_C(1717200000)
#define JUL_2024 INT64_C(1719792000)
#define YEAR_10000 INT64_C(253402300800)

/* A growing text: the rows of a raw query, one line each. */
struct text {
    char *p;
    size_t len, cap;
};

static void text_row(void *ctx, const char *const *v)
{
    struct text *t = ctx;

    for (int i = 0; i < 10; i++) {
        const char *s = v[i] ? v[i] : "NULL";
        size_t n = strlen(s);
        TT_GROW(t->p, t->cap, t->len + n + 2);
        memcpy(t->p + t->len, s, n);
        t->len += n;
        t->p[t->len++] = i < 9 ? '|' : '\n';
        t->p[t->len] = '\0';
    }
}

static char *raw_interactions(void)
{
    struct text t = {0};

    raw_query("SELECT id, user_id, track_id, action, weight, ms_played, occurred_at, context,"
              " recommendation_id, event_id FROM interactions ORDER BY id",
              text_row, &t);
    return t.p;
}

/*
 * A database as version 3 left it: the three migrations' own SQL, then rows over four months,
 * a month boundary, times no month covers (before 1970, after 9999), event ids, and a gap.
 */
static void v3_build(void)
{
    static const int64_t at[] = {JAN_2024 + 86400 * 14, JAN_2024 + 86400 * 40, APR_2024 - 1,
                                 APR_2024,              -100,                  YEAR_10000 + 5,
                                 JAN_2024 + 3,          APR_2024 + 7200};
    char sql[512];

    raw_exec("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
             " applied_at BIGINT NOT NULL)");
    for (int v = 0; v < 3; v++) {
        cr_assert_eq(tt__migrations[v].version, v + 1);
        raw_exec(on_sqlite() ? tt__migrations[v].sqlite_sql : tt__migrations[v].pg_sql);
        snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, 1700000000)", v + 1);
        raw_exec(sql);
    }
    for (int i = 0; i < 8; i++) {
        snprintf(sql, sizeof(sql),
                 "INSERT INTO interactions (user_id, track_id, action, weight, ms_played,"
                 " occurred_at, context, recommendation_id, event_id) VALUES ('u%d', 't%d',"
                 " '%s', %g, %s, %lld, %s, NULL, %s)",
                 i % 3, i, i % 2 ? "like" : "play", 0.5 + i, i % 2 ? "NULL" : "30000",
                 (long long)at[i], i == 3 ? "'caf\xc3\xa9'" : "NULL",
                 i % 2 ? "NULL" : (i == 0 ? "'ev-0'" : i == 2 ? "'ev-2'" : "'ev-x'"));
        if (i == 6)
            memcpy(strstr(sql, "'ev-x'"), "'ev-6'", 6);
        if (i == 4)
            memcpy(strstr(sql, "'ev-x'"), "'ev-4'", 6);
        raw_exec(sql);
    }
    raw_exec("DELETE FROM interactions WHERE user_id = 'u1' AND track_id = 't7'");
}

static int64_t partition_rows(const char *part)
{
    char sql[160];

    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", part);
    return raw_int(sql);
}

static bool is_partition(const char *part)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_inherits WHERE inhparent = 'interactions'::regclass"
             " AND inhrelid = to_regclass('%s')",
             part);
    return raw_int(sql) == 1;
}

static void check_partitions(void)
{
    cr_assert_eq(raw_int("SELECT count(*) FROM pg_partitioned_table WHERE partrelid ="
                         " 'interactions'::regclass AND partstrat = 'r'"),
                 1, "interactions is partitioned by range");
    cr_assert(is_partition("interactions_default"));
    cr_assert(is_partition("interactions_y2024m01"));
    cr_assert(is_partition("interactions_y2024m02"));
    cr_assert(is_partition("interactions_y2024m03"));
    cr_assert(is_partition("interactions_y2024m04"));
    cr_assert_eq(partition_rows("interactions_y2024m01"), 2);
    cr_assert_eq(partition_rows("interactions_y2024m03"), 1, "the last second of March");
    cr_assert_eq(partition_rows("interactions_y2024m04"), 1, "midnight of 1 April");
    cr_assert_eq(partition_rows("interactions_default"), 2, "times no month covers");
    cr_assert_eq(raw_int("SELECT count(*) FROM interaction_events"), 4);
    cr_assert(raw_has("index", "interactions_pkey"));
    cr_assert(raw_has("index", "interactions_user"));
    cr_assert_eq(raw_int("SELECT count(*) FROM pg_indexes WHERE tablename = 'interactions'"), 2,
                 "only the indexes the engine reads by");
    cr_assert_not(raw_has_table("interactions_v3"));
}

STORE_TEST(migration_from_version_3_keeps_rows)
{
    char *before, *after;
    int64_t max_id, id = -1;
    tt_interaction_rec retry = event("u9", "t9", JUL_2024, 1, "ev-2"), fresh = play("u9", "t9",
                                                                                   JUL_2024, 1);
    tt_store *s;
    tt_err err = {0};

    v3_build();
    before = raw_interactions();
    max_id = raw_int("SELECT max(id) FROM interactions");
    s = open_store();
    cr_assert_eq(tt_store_schema_found(s), 3);
    after = raw_interactions();
    cr_assert_str_eq(after, before, "rows, ids and values are kept");
    if (!on_sqlite())
        check_partitions();
    /* Event identity holds across the move: a retry at another time is still a retry. */
    ok(tt_store_feedback_put_id(s, &retry, &id, &err), &err, "feedback retry");
    cr_assert_eq(id, 0, "a migrated event id is known");
    ok(tt_store_feedback_put_id(s, &fresh, &id, &err), &err, "feedback");
    cr_assert_gt(id, max_id, "the id sequence continues");
    cr_assert_eq(count(s, "interactions"), 8);
    if (!on_sqlite())
        cr_assert_eq(partition_rows("interactions_default"), 3, "July has no partition yet");
    free(before);
    free(after);
    tt_store_close(s);
}

/*
 * An import makes the partitions of its months, moving what the default partition held of
 * them; re-importing an event with a new time moves its row, keeping its id.
 */
STORE_TEST(import_makes_months_and_moves_events)
{
    tt_interaction_rec fb = play("u1", "t1", JUL_2024 + 60, 1),
                       in[2] = {event("u2", "t2", JUL_2024 + 120, 2, "imp-1"),
                                event("u3", "t3", JAN_2024, 1, "imp-2")};
    tt_store *s = open_store();
    struct rows *r;
    int64_t id = 0;
    tt_err err = {0};

    ok(tt_store_feedback_put_id(s, &fb, &id, &err), &err, "feedback");
    if (!on_sqlite())
        cr_assert_eq(partition_rows("interactions_default"), 1);
    put_interactions(s, in, 2);
    if (!on_sqlite()) {
        cr_assert(is_partition("interactions_y2024m07"));
        cr_assert_eq(partition_rows("interactions_y2024m07"), 2, "feedback row moved there");
        cr_assert_eq(partition_rows("interactions_default"), 0);
    }
    in[1].occurred_at = JUN_2024 + 5;
    in[1].weight = 4;
    put_interactions(s, &in[1], 1);
    cr_assert_eq(count(s, "interactions"), 3, "the event is updated, not added");
    if (!on_sqlite()) {
        cr_assert_eq(partition_rows("interactions_y2024m06"), 1);
        cr_assert_eq(partition_rows("interactions_y2024m01"), 0);
        cr_assert_eq(raw_int("SELECT occurred_at FROM interaction_events"
                             " WHERE event_id = 'imp-2'"),
                     JUN_2024 + 5);
    }
    r = scan_interactions(s);
    cr_assert_eq(r->n, 3);
    cr_assert_eq(r->in[0].id, id, "the feedback row keeps its id");
    cr_assert_str_eq(find(r, "u3")->event_id, "imp-2");
    cr_assert_eq(find(r, "u3")->occurred_at, JUN_2024 + 5);
    cr_assert_eq(find(r, "u3")->weight, 4.0f);
    ok(tt_store_feedback_put_id(s, &in[1], &id, &err), &err, "feedback retry");
    cr_assert_eq(id, 0);
    rows_free(r);
    tt_store_close(s);
}

/* Chunks bigger than one merge: some events known, some repeated within the chunk. */
STORE_TEST(import_upserts_events_over_months)
{
    enum { N = 2500 };
    static tt_interaction_rec in[N];
    static char ids[N][32], users[N][16];
    tt_store *s = open_store();
    struct rows *r;

    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "e%d", i % 1000);
        snprintf(users[i], sizeof(users[i]), "u%d", i);
        in[i] = event(users[i], "t1", JAN_2024 + (int64_t)i * 86400 * 3, (float)i, ids[i]);
    }
    put_interactions(s, in, 1000);
    put_interactions(s, in, N);
    cr_assert_eq(count(s, "interactions"), 1000);
    r = rows_new();
    r->stop_after = 1;
    cr_assert_eq(tt_store_scan_interactions(s, on_interaction, r, NULL), -42);
    cr_assert_str_eq(r->in[0].event_id, "e0");
    cr_assert_str_eq(r->in[0].user_id, "u2000", "the last put's values");
    cr_assert_eq(r->in[0].occurred_at, JAN_2024 + INT64_C(2000) * 86400 * 3);
    if (!on_sqlite())
        cr_assert_eq(raw_int("SELECT count(*) FROM interactions_default"), 0);
    rows_free(r);
    tt_store_close(s);
}
