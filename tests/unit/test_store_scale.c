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
        cr_assert_eq(a->ev_time[i], b->ev_time[i]);
    }
    tt_dataset_free(a);
    tt_dataset_free(b);
    tt_store_close(s);
}
