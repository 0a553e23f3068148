/*
 * The feedback journal (tt/journal.h): records come back in order and whole, survive a
 * reopen, get event ids, and a damaged file (torn tail, flipped byte) loses only what is
 * damaged, kept aside. The bound refuses without touching the file; the lock keeps a second
 * process out; a drained journal is its header again.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/journal.h"

#define HEADER 16

static char dir[64];
static char path[256];

static void setup(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "feedback.wal");
}

static void teardown(void)
{
    fx_rmtree(dir);
}

TestSuite(journal, .init = setup, .fini = teardown);

static tt_journal *open_ok(int64_t max_bytes)
{
    tt_journal *j = NULL;
    tt_err err = {0};
    int rc = tt_journal_open(path, max_bytes, &j, &err);

    cr_assert_eq(rc, 0, "open %s: %s", path, tt_err_msg(&err, rc));
    cr_assert_not_null(j);
    return j;
}

/* Event @i: every field set, and varied (NULL strings, odd weights) so a mix-up shows. */
static tt_interaction_rec event(int i, char *user, char *track, char *eid)
{
    tt_interaction_rec r = {0};

    sprintf(user, "user-%03d", i);
    sprintf(track, "track-%05d", 1000 + i * 7);
    sprintf(eid, "ev-%d", i);
    r.user_id = user;
    r.track_id = track;
    r.action = (enum tt_action)(i % TT_ACT_COUNT);
    r.weight = 1.0f + 0.25f * (float)i;
    r.ms_played = i % 3 == 0 ? -1 : 1000 * i;
    r.occurred_at = INT64_C(1767323045) + i;
    r.context = i % 2 ? "playlist:road trip \xe2\x99\xab" : NULL;
    r.recommendation_id = i % 4 == 1 ? "als-0123456789abcdef" : NULL;
    r.event_id = eid;
    return r;
}

static void append_ok(tt_journal *j, int i)
{
    char user[32], track[32], eid[32];
    tt_interaction_rec r = event(i, user, track, eid);
    tt_err err = {0};
    int rc = tt_journal_append(j, &r, NULL, 0, &err);

    cr_assert_eq(rc, 0, "append %d: %s", i, tt_err_msg(&err, rc));
}

static void assert_str(const char *got, const char *want, const char *what, int i)
{
    if (!want) {
        cr_assert_null(got, "record %d %s: expected none, got \"%s\"", i, what, got);
        return;
    }
    cr_assert_not_null(got, "record %d %s: expected \"%s\", got none", i, what, want);
    cr_assert_str_eq(got, want, "record %d %s", i, what);
}

static void assert_event(const tt_interaction_rec *got, int i)
{
    char user[32], track[32], eid[32];
    tt_interaction_rec want = event(i, user, track, eid);

    assert_str(got->user_id, want.user_id, "user_id", i);
    assert_str(got->track_id, want.track_id, "track_id", i);
    assert_str(got->context, want.context, "context", i);
    assert_str(got->recommendation_id, want.recommendation_id, "recommendation_id", i);
    assert_str(got->event_id, want.event_id, "event_id", i);
    cr_assert_eq(got->action, want.action, "record %d action", i);
    cr_assert_eq(got->weight, want.weight, "record %d weight", i);
    cr_assert_eq(got->ms_played, want.ms_played, "record %d ms_played", i);
    cr_assert_eq(got->occurred_at, want.occurred_at, "record %d occurred_at", i);
}

/* Takes the oldest pending record, checks it is event @i, marks it done. */
static void next_is(tt_journal *j, int i)
{
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    tt_err err = {0};
    int64_t pos = -1;
    int rc = tt_journal_next(j, rec, &pos, &err);

    cr_assert_eq(rc, 1, "next (expecting event %d): %d %s", i, rc, tt_err_msg(&err, rc));
    assert_event(&rec->r, i);
    rc = tt_journal_done(j, pos, &err);
    cr_assert_eq(rc, 0, "done %d: %s", i, tt_err_msg(&err, rc));
    free(rec);
}

static void none_left(tt_journal *j)
{
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    tt_err err = {0};
    int64_t pos;

    cr_assert_eq(tt_journal_next(j, rec, &pos, &err), 0, "a record left: %s", err.message);
    cr_assert_eq(tt_journal_pending(j), 0);
    free(rec);
}

static uint8_t *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    uint8_t *buf;
    long len;

    cr_assert_not_null(f, "cannot open %s", p);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = tt_malloc((size_t)len + 1);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return buf;
}

/* Offsets of the records in the journal file: a record is 12 bytes of head + its length. */
static int record_offsets(int64_t *at, int cap)
{
    size_t n, off = HEADER;
    uint8_t *b = slurp(path, &n);
    int k = 0;

    while (off + 12 <= n && k < cap) {
        uint32_t len = (uint32_t)b[off + 4] | (uint32_t)b[off + 5] << 8 |
                       (uint32_t)b[off + 6] << 16 | (uint32_t)b[off + 7] << 24;
        at[k++] = (int64_t)off;
        off += 12 + len;
    }
    free(b);
    return k;
}

/* The one "<path>.damaged-*" file next to the journal; its name into @out. */
static int damaged_files(char out[][512], int cap)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int k = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "feedback.wal.damaged-", 21) == 0 && k < cap)
            snprintf(out[k++], 512, "%s/%s", dir, e->d_name);
    closedir(d);
    return k;
}

Test(journal, round_trip_in_order)
{
    tt_journal *j = open_ok(1 << 20);

    cr_assert_eq(tt_journal_pending(j), 0);
    cr_assert_eq(tt_journal_bytes(j), HEADER);
    for (int i = 0; i < 9; i++)
        append_ok(j, i);
    cr_assert_eq(tt_journal_pending(j), 9);
    cr_assert_eq(tt_journal_bytes(j), fx_file_size(path));
    for (int i = 0; i < 9; i++) {
        next_is(j, i);
        cr_assert_eq(tt_journal_pending(j), 8 - i);
    }
    none_left(j);
    tt_journal_close(j);
}

Test(journal, next_without_done_gives_the_same_record)
{
    tt_journal *j = open_ok(1 << 20);
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    int64_t p1, p2;

    append_ok(j, 0);
    append_ok(j, 1);
    cr_assert_eq(tt_journal_next(j, rec, &p1, NULL), 1);
    cr_assert_eq(tt_journal_next(j, rec, &p2, NULL), 1);
    cr_assert_eq(p1, p2);
    assert_event(&rec->r, 0);
    cr_assert_eq(tt_journal_pending(j), 2);
    free(rec);
    tt_journal_close(j);
}

Test(journal, done_out_of_order_refused)
{
    tt_journal *j = open_ok(1 << 20);
    int64_t at[4];
    tt_err err = {0};

    append_ok(j, 0);
    append_ok(j, 1);
    cr_assert_eq(record_offsets(at, 4), 2);
    cr_assert_eq(tt_journal_done(j, at[1], &err), TT_ESTATE);
    cr_assert_eq(tt_journal_pending(j), 2);
    next_is(j, 0);
    next_is(j, 1);
    tt_journal_close(j);
}

Test(journal, event_ids_given_when_none)
{
    tt_journal *j = open_ok(1 << 20);
    char ids[3][TT_EVENT_ID_MAX + 1];
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    tt_err err = {0};
    int64_t pos;

    for (int i = 0; i < 3; i++) {
        tt_interaction_rec r = {.user_id = "u1",
                                .track_id = "t1",
                                .action = TT_ACT_LIKE,
                                .weight = 1,
                                .ms_played = -1,
                                .occurred_at = 1767323045};
        ids[i][0] = '\0';
        cr_assert_eq(tt_journal_append(j, &r, ids[i], sizeof(ids[i]), &err), 0, "%s", err.message);
        cr_assert(ids[i][0], "append %d returned no event id", i);
        cr_assert_leq(strlen(ids[i]), TT_EVENT_ID_MAX);
        for (int k = 0; k < i; k++)
            cr_assert_str_neq(ids[i], ids[k], "ids %d and %d are the same", k, i);
    }
    /* One given by the client is kept and returned as it is; NULL @id is fine too. */
    {
        tt_interaction_rec r = {.user_id = "u1",
                                .track_id = "t2",
                                .action = TT_ACT_PLAY,
                                .weight = 1,
                                .ms_played = 5,
                                .occurred_at = 1767323046,
                                .event_id = "client-1"};
        char id[TT_EVENT_ID_MAX + 1] = "";
        cr_assert_eq(tt_journal_append(j, &r, id, sizeof(id), &err), 0);
        cr_assert_str_eq(id, "client-1");
        r.event_id = NULL;
        cr_assert_eq(tt_journal_append(j, &r, NULL, 0, &err), 0);
    }
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(tt_journal_next(j, rec, &pos, &err), 1);
        cr_assert_not_null(rec->r.event_id, "record %d has no event id", i);
        if (i < 3)
            cr_assert_str_eq(rec->r.event_id, ids[i], "record %d keeps the id returned", i);
        if (i == 3)
            cr_assert_str_eq(rec->r.event_id, "client-1");
        if (i == 4)
            for (int k = 0; k < 3; k++)
                cr_assert_str_neq(rec->r.event_id, ids[k]);
        cr_assert_eq(tt_journal_done(j, pos, &err), 0);
    }
    free(rec);
    tt_journal_close(j);
}

Test(journal, new_event_id_never_repeats_an_appended_one)
{
    tt_journal *j = open_ok(1 << 20);
    tt_interaction_rec r = {.user_id = "u1",
                            .track_id = "t1",
                            .action = TT_ACT_PLAY,
                            .weight = 1,
                            .ms_played = -1,
                            .occurred_at = 1767323045};
    char a[64], b[TT_EVENT_ID_MAX + 1], c[64];

    tt_journal_new_event_id(j, a, sizeof(a));
    cr_assert_eq(tt_journal_append(j, &r, b, sizeof(b), NULL), 0);
    tt_journal_new_event_id(j, c, sizeof(c));
    cr_assert(a[0] && c[0]);
    cr_assert_str_neq(a, b);
    cr_assert_str_neq(b, c);
    cr_assert_str_neq(a, c);
    /* An id given beforehand is the event's: appending with it keeps it. */
    r.event_id = c;
    cr_assert_eq(tt_journal_append(j, &r, b, sizeof(b), NULL), 0);
    cr_assert_str_eq(b, c);
    tt_journal_close(j);
}

Test(journal, event_ids_unique_across_opens)
{
    char a[TT_EVENT_ID_MAX + 1], b[TT_EVENT_ID_MAX + 1];
    tt_interaction_rec r = {.user_id = "u1",
                            .track_id = "t1",
                            .action = TT_ACT_LIKE,
                            .weight = 1,
                            .ms_played = -1,
                            .occurred_at = 1767323045};
    tt_journal *j = open_ok(1 << 20);

    cr_assert_eq(tt_journal_append(j, &r, a, sizeof(a), NULL), 0);
    tt_journal_close(j);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_append(j, &r, b, sizeof(b), NULL), 0);
    /* A restarted process must not give an id the previous one gave. */
    cr_assert_str_neq(a, b);
    tt_journal_close(j);
}

Test(journal, invalid_event_refused_and_not_written)
{
    tt_journal *j = open_ok(1 << 20);
    tt_interaction_rec r = {.user_id = "", .track_id = "t1", .action = TT_ACT_LIKE, .weight = 1};
    char big[TT_EVENT_ID_MAX + 2];
    tt_err err = {0};

    cr_assert_eq(tt_journal_append(j, &r, NULL, 0, &err), TT_EINVAL);
    r.user_id = "u1";
    memset(big, 'e', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    r.event_id = big;
    cr_assert_eq(tt_journal_append(j, &r, NULL, 0, NULL), TT_EINVAL);
    cr_assert_eq(tt_journal_pending(j), 0);
    cr_assert_eq(fx_file_size(path), HEADER);
    tt_journal_close(j);
}

Test(journal, reopen_keeps_pending_records)
{
    tt_journal *j = open_ok(1 << 20);

    for (int i = 0; i < 6; i++)
        append_ok(j, i);
    tt_journal_close(j);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 6);
    cr_assert_eq(tt_journal_bytes(j), fx_file_size(path));
    append_ok(j, 6);
    for (int i = 0; i < 7; i++)
        next_is(j, i);
    none_left(j);
    tt_journal_close(j);
}

Test(journal, done_records_come_again_after_a_crash)
{
    /* Marking done is not on disk until the whole journal is replayed: a restart replays
     * the records done so far again, which their event ids make harmless. */
    tt_journal *j = open_ok(1 << 20);

    for (int i = 0; i < 3; i++)
        append_ok(j, i);
    next_is(j, 0);
    tt_journal_close(j);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 3);
    for (int i = 0; i < 3; i++)
        next_is(j, i);
    tt_journal_close(j);
}

Test(journal, torn_tail_cut_and_kept_aside)
{
    tt_journal *j = open_ok(1 << 20);
    int64_t at[8], size;
    size_t n, kept_n;
    uint8_t *whole, *kept;
    char damaged[4][512];

    for (int i = 0; i < 4; i++)
        append_ok(j, i);
    tt_journal_close(j);
    cr_assert_eq(record_offsets(at, 8), 4);
    whole = slurp(path, &n);
    /* A crash in the middle of writing the last record. */
    size = at[3] + 20;
    fx_truncate(path, size);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 3);
    cr_assert_eq(fx_file_size(path), at[3], "the torn record is cut off");
    cr_assert_eq(damaged_files(damaged, 4), 1);
    kept = slurp(damaged[0], &kept_n);
    cr_assert_eq(kept_n, (size_t)(size - at[3]));
    cr_assert(memcmp(kept, whole + at[3], kept_n) == 0, "the cut bytes are kept as they were");
    for (int i = 0; i < 3; i++)
        next_is(j, i);
    none_left(j);
    free(kept);
    free(whole);
    tt_journal_close(j);
}

Test(journal, torn_record_head_cut)
{
    tt_journal *j = open_ok(1 << 20);
    int64_t at[4];

    append_ok(j, 0);
    append_ok(j, 1);
    tt_journal_close(j);
    cr_assert_eq(record_offsets(at, 4), 2);
    fx_truncate(path, at[1] + 5); /* not even the record's head */
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 1);
    cr_assert_eq(fx_file_size(path), at[1]);
    next_is(j, 0);
    tt_journal_close(j);
}

Test(journal, flipped_byte_detected_and_cut)
{
    tt_journal *j = open_ok(1 << 20);
    int64_t at[8];
    size_t n, kept_n;
    uint8_t *whole, *kept;
    char damaged[4][512];

    for (int i = 0; i < 4; i++)
        append_ok(j, i);
    tt_journal_close(j);
    cr_assert_eq(record_offsets(at, 8), 4);
    whole = slurp(path, &n);
    /* One bit of record 2's payload (its user id): only the CRC can tell. */
    fx_flip_byte(path, at[2] + 12 + 21 + 2 + 3, 0x01);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 2);
    cr_assert_eq(fx_file_size(path), at[2]);
    cr_assert_eq(damaged_files(damaged, 4), 1);
    kept = slurp(damaged[0], &kept_n);
    cr_assert_eq(kept_n, n - (size_t)at[2], "records 2 and 3 are kept aside");
    cr_assert_eq(kept[12 + 21 + 2 + 3], whole[at[2] + 12 + 21 + 2 + 3] ^ 0x01);
    next_is(j, 0);
    next_is(j, 1);
    none_left(j);
    free(kept);
    free(whole);
    tt_journal_close(j);
}

Test(journal, each_damage_kept_in_its_own_file)
{
    /* Two damaged tails found in the same second must not overwrite each other. */
    tt_journal *j;
    int64_t at[4];
    char damaged[4][512];

    for (int round = 0; round < 2; round++) {
        j = open_ok(1 << 20);
        append_ok(j, 0);
        append_ok(j, 1);
        tt_journal_close(j);
        cr_assert_eq(record_offsets(at, 4), 2 + round);
        fx_truncate(path, fx_file_size(path) - 3);
        j = open_ok(1 << 20);
        tt_journal_close(j);
    }
    cr_assert_eq(damaged_files(damaged, 4), 2);
}

Test(journal, bound_refuses_and_leaves_the_file_as_it_was)
{
    tt_journal *j = open_ok(4096); /* the smallest bound */
    char user[32], track[32], eid[32];
    tt_interaction_rec r = event(5, user, track, eid);
    size_t n0, n1;
    uint8_t *before, *after;
    tt_err err = {0};
    int appended = 0, rc;

    while ((rc = tt_journal_append(j, &r, NULL, 0, &err)) == 0)
        cr_assert_lt(++appended, 1000, "the bound never refused");
    cr_assert_eq(rc, TT_EFULL, "%s", tt_err_msg(&err, rc));
    cr_assert_gt(appended, 10);
    cr_assert_leq(fx_file_size(path), 4096);
    before = slurp(path, &n0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(tt_journal_append(j, &r, NULL, 0, NULL), TT_EFULL);
    after = slurp(path, &n1);
    cr_assert_eq(n1, n0);
    cr_assert(memcmp(before, after, n0) == 0, "a refused append changed the file");
    cr_assert_eq(tt_journal_pending(j), appended);
    /* Drained, it takes events again. */
    {
        tt_journal_rec *rec = tt_malloc(sizeof(*rec));
        int64_t pos;
        while (tt_journal_next(j, rec, &pos, NULL) == 1)
            cr_assert_eq(tt_journal_done(j, pos, NULL), 0);
        free(rec);
    }
    cr_assert_eq(tt_journal_append(j, &r, NULL, 0, NULL), 0);
    free(before);
    free(after);
    tt_journal_close(j);
}

Test(journal, second_open_refused_by_the_lock)
{
    tt_journal *j = open_ok(1 << 20), *k = (tt_journal *)&k;
    tt_err err = {0};

    append_ok(j, 0);
    cr_assert_eq(tt_journal_open(path, 1 << 20, &k, &err), TT_EBACKEND);
    cr_assert_null(k);
    cr_assert_not_null(strstr(err.message, path), "message names the file: %s", err.message);
    /* The refused open did not disturb the owner. */
    append_ok(j, 1);
    cr_assert_eq(tt_journal_pending(j), 2);
    tt_journal_close(j);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 2);
    tt_journal_close(j);
}

Test(journal, drained_journal_is_its_header_again)
{
    tt_journal *j = open_ok(1 << 20);
    size_t n;
    uint8_t *b;

    for (int i = 0; i < 5; i++)
        append_ok(j, i);
    cr_assert_gt(fx_file_size(path), HEADER);
    for (int i = 0; i < 5; i++)
        next_is(j, i);
    cr_assert_eq(fx_file_size(path), HEADER);
    cr_assert_eq(tt_journal_bytes(j), HEADER);
    b = slurp(path, &n);
    cr_assert(memcmp(b, "TTJRNL01", 8) == 0, "header kept");
    free(b);
    /* And goes on from there. */
    append_ok(j, 7);
    tt_journal_close(j);
    j = open_ok(1 << 20);
    cr_assert_eq(tt_journal_pending(j), 1);
    next_is(j, 7);
    tt_journal_close(j);
}

struct visits {
    int n, stop_at;
    char users[16][32];
};

static int visit(const tt_interaction_rec *r, void *ctx)
{
    struct visits *v = ctx;

    snprintf(v->users[v->n++], 32, "%s", r->user_id);
    return v->n == v->stop_at;
}

Test(journal, each_visits_pending_in_order)
{
    tt_journal *j = open_ok(1 << 20);
    struct visits v = {0};

    for (int i = 0; i < 6; i++)
        append_ok(j, i);
    next_is(j, 0);
    next_is(j, 1);
    cr_assert_eq(tt_journal_each(j, visit, &v, NULL), 0);
    cr_assert_eq(v.n, 4);
    for (int i = 0; i < 4; i++) {
        char want[32];
        sprintf(want, "user-%03d", i + 2);
        cr_assert_str_eq(v.users[i], want);
    }
    memset(&v, 0, sizeof(v));
    v.stop_at = 2;
    cr_assert_eq(tt_journal_each(j, visit, &v, NULL), 0);
    cr_assert_eq(v.n, 2, "each stops when the callback says so");
    cr_assert_eq(tt_journal_pending(j), 4, "each does not replay anything");
    tt_journal_close(j);
}

Test(journal, decode_refuses_garbage_and_partial_input)
{
    tt_journal *j = open_ok(1 << 20);
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    int64_t at[4];
    size_t n, len, used;
    uint8_t *b, junk[256];

    append_ok(j, 1);
    append_ok(j, 2);
    tt_journal_close(j);
    cr_assert_eq(record_offsets(at, 4), 2);
    b = slurp(path, &n);
    len = (size_t)(at[1] - at[0]);
    cr_assert_eq(tt_journal_decode(b + at[0], len, &used, rec), 0);
    cr_assert_eq(used, len);
    assert_event(&rec->r, 1);
    /* Two records back to back: one at a time. */
    cr_assert_eq(tt_journal_decode(b + at[0], n - (size_t)at[0], &used, rec), 0);
    cr_assert_eq(used, len);
    /* Every prefix of a record is "partial", never a record nor garbage. */
    for (size_t k = 0; k < len; k++)
        cr_assert_eq(tt_journal_decode(b + at[0], k, &used, rec), 1, "prefix of %zu bytes", k);
    /* The header is not a record; nor are random bytes. */
    cr_assert_eq(tt_journal_decode(b, n, &used, rec), TT_ECORRUPT);
    for (size_t k = 0; k < sizeof(junk); k++)
        junk[k] = (uint8_t)(k * 131 + 17);
    cr_assert_eq(tt_journal_decode(junk, sizeof(junk), &used, rec), TT_ECORRUPT);
    /* A record's magic with an absurd length, and one with a bad CRC. */
    {
        uint8_t copy[TT_JOURNAL_REC_MAX];
        memcpy(copy, b + at[0], len);
        copy[7] = 0x7f;
        cr_assert_eq(tt_journal_decode(copy, len, &used, rec), TT_ECORRUPT);
        memcpy(copy, b + at[0], len);
        copy[len - 1] ^= 0x40;
        cr_assert_eq(tt_journal_decode(copy, len, &used, rec), TT_ECORRUPT);
        /* A right CRC over a payload whose strings overrun it. */
        memcpy(copy, b + at[0], len);
        copy[12 + 21] = 0xF0;
        copy[12 + 21 + 1] = 0x03;
        {
            uint32_t crc = tt_crc32(0, copy + 12, len - 12);
            for (int k = 0; k < 4; k++)
                copy[8 + k] = (uint8_t)(crc >> (8 * k));
        }
        cr_assert_eq(tt_journal_decode(copy, len, &used, rec), TT_ECORRUPT);
    }
    free(b);
    free(rec);
}

Test(journal, not_a_journal_refused)
{
    static const char csv[] = "user,track,action\nu1,t1,play\n";
    FILE *f = fopen(path, "wb");
    tt_journal *j = (tt_journal *)&j;
    tt_err err = {0};

    cr_assert_not_null(f);
    fputs(csv, f);
    fclose(f);
    cr_assert_eq(tt_journal_open(path, 1 << 20, &j, &err), TT_ECORRUPT);
    cr_assert_null(j);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    cr_assert_eq(fx_file_size(path), (int64_t)strlen(csv),
                 "a file that is not a journal is left alone");
}

Test(journal, creates_its_directory)
{
    tt_journal *j = NULL;

    fx_path(path, sizeof(path), dir, "a/b/feedback.wal");
    cr_assert_eq(tt_journal_open(path, 1 << 20, &j, NULL), 0);
    cr_assert_eq(fx_file_size(path), HEADER);
    tt_journal_close(j);
    fx_path(path, sizeof(path), dir, "feedback.wal");
}
