/*
 * The importers against a scratch SQLite database: the engine's CSV files and the three
 * dataset formats on small fixtures (tests/data/import/), good and malformed, with and
 * without --skip-bad; and the built binary once, for its exit codes and stderr format.
 * Run from the repository root, as scripts/run-tests does.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tt/import.h"
#include "tt/store.h"

#define FIX "tests/data/import/"

static char dir[64];
static char url[128];
static tt_store *store;

static void setup(void)
{
    strcpy(dir, "/tmp/tt_test_import_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(url, sizeof(url), "sqlite:///%s/t.db", dir);
    cr_assert_eq(tt_store_open(url, &store, NULL), 0);
}

static void teardown(void)
{
    char cmd[128];

    tt_store_close(store);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(import, .init = setup, .fini = teardown);

static int64_t count(const char *table)
{
    int64_t n = -1;

    cr_assert_eq(tt_store_count(store, table, &n, NULL), 0);
    return n;
}

/* Rows of all four tables, to show a failed import changed nothing. */
static int64_t total_rows(void)
{
    return count("artists") + count("tracks") + count("users") + count("interactions");
}

/* ---- copies of stored rows ---- */

struct track {
    const char *want;
    bool found;
    char title[128], artist_id[64], artist[128], album[64], genres[128];
    int32_t duration_ms, release_year;
    float f[TT_N_FEATURES];
    float emb[64];
    int dim;
};

static void copy_str(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "(null)");
}

static int track_cb(void *ctx, const tt_track_rec *t)
{
    struct track *o = ctx;

    if (strcmp(t->track_id, o->want) != 0)
        return 0;
    o->found = true;
    copy_str(o->title, sizeof(o->title), t->title);
    copy_str(o->artist_id, sizeof(o->artist_id), t->artist_id);
    copy_str(o->artist, sizeof(o->artist), t->artist);
    copy_str(o->album, sizeof(o->album), t->album);
    copy_str(o->genres, sizeof(o->genres), t->genres);
    o->duration_ms = t->duration_ms;
    o->release_year = t->release_year;
    memcpy(o->f, t->features, sizeof(o->f));
    o->dim = t->embedding_dim;
    if (t->embedding_dim > 0 && t->embedding_dim <= 64)
        memcpy(o->emb, t->embedding, (size_t)t->embedding_dim * sizeof(float));
    return 0;
}

static struct track get_track(const char *id)
{
    struct track t = {.want = id};

    cr_assert_eq(tt_store_scan_tracks(store, track_cb, &t, NULL), 0);
    cr_assert(t.found, "track %s not stored", id);
    return t;
}

struct user {
    const char *want;
    bool found;
    char tier[32], genres[128];
    int64_t created_at;
};

static int user_cb(void *ctx, const tt_user_rec *u)
{
    struct user *o = ctx;

    if (strcmp(u->user_id, o->want) != 0)
        return 0;
    o->found = true;
    copy_str(o->tier, sizeof(o->tier), u->plan_tier);
    copy_str(o->genres, sizeof(o->genres), u->favorite_genres);
    o->created_at = u->created_at;
    return 0;
}

static struct user get_user(const char *id)
{
    struct user u = {.want = id};

    cr_assert_eq(tt_store_scan_users(store, user_cb, &u, NULL), 0);
    cr_assert(u.found, "user %s not stored", id);
    return u;
}

struct event {
    const char *track;
    enum tt_action action;
    bool found;
    float weight;
    int64_t ms_played, occurred_at;
    char context[64], rec[64];
};

static int event_cb(void *ctx, const tt_interaction_rec *r)
{
    struct event *o = ctx;

    if (strcmp(r->track_id, o->track) != 0 || r->action != o->action)
        return 0;
    o->found = true;
    o->weight = r->weight;
    o->ms_played = r->ms_played;
    o->occurred_at = r->occurred_at;
    copy_str(o->context, sizeof(o->context), r->context);
    copy_str(o->rec, sizeof(o->rec), r->recommendation_id);
    return 0;
}

static struct event get_event(const char *user, const char *track, enum tt_action a)
{
    struct event e = {.track = track, .action = a};

    cr_assert_eq(tt_store_scan_user_interactions(store, user, event_cb, &e, NULL), 0);
    cr_assert(e.found, "no %s of %s by %s", tt_action_name(a), track, user);
    return e;
}

struct artist {
    const char *want;
    bool found;
    char name[128], genres[128];
};

static int artist_cb(void *ctx, const tt_artist_rec *a)
{
    struct artist *o = ctx;

    if (strcmp(a->artist_id, o->want) != 0)
        return 0;
    o->found = true;
    copy_str(o->name, sizeof(o->name), a->name);
    copy_str(o->genres, sizeof(o->genres), a->genres);
    return 0;
}

static struct artist get_artist(const char *id)
{
    struct artist a = {.want = id};

    cr_assert_eq(tt_store_scan_artists(store, artist_cb, &a, NULL), 0);
    cr_assert(a.found, "artist %s not stored", id);
    return a;
}

/* ---- skipped-row reports ---- */

struct reports {
    int n;
    char msg[8][512];
};

static void collect(void *ctx, const char *message)
{
    struct reports *r = ctx;

    if (r->n < 8)
        snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", message);
    r->n++;
}

static int import_csv(enum tt_import_kind kind, const char *path, struct reports *rep,
                      tt_import_stats *st, tt_err *err)
{
    tt_import_opts o = tt_import_opts_default();

    if (rep) {
        o.flags = TT_IMPORT_SKIP_BAD;
        o.report = collect;
        o.report_ctx = rep;
    }
    return tt_import_csv(store, kind, path, &o, st, err);
}

static void expect_prefix(const char *msg, const char *prefix)
{
    cr_expect(strncmp(msg, prefix, strlen(prefix)) == 0, "'%s' does not start with '%s'", msg,
              prefix);
}

/* 2024-01-02T03:04:05Z */
#define T_2024_01_02_030405 INT64_C(1704164645)

/* ---- interactions ---- */

Test(import, interactions_land_with_every_field)
{
    tt_import_stats st;
    tt_err err = {0};
    struct event e;

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions.csv", NULL, &st, &err), 0,
                 "%s", err.message);
    cr_expect_eq(st.interactions, 7);
    cr_expect_eq(st.rows, 7);
    cr_expect_eq(st.skipped, 0);
    cr_expect_geq(st.seconds, 0.0);
    cr_expect_eq(count("interactions"), 7);
    e = get_event("u1", "t1", TT_ACT_PLAY);
    cr_expect_float_eq(e.weight, 3.0f, 1e-6);
    cr_expect_eq(e.ms_played, 215000);
    cr_expect_eq(e.occurred_at, T_2024_01_02_030405);
    cr_expect_str_eq(e.context, "home");
    cr_expect_str_eq(e.rec, "rec-1");
    e = get_event("u1", "t2", TT_ACT_LIKE);
    cr_expect_eq(e.occurred_at, T_2024_01_02_030405, "fractional seconds are dropped");
    cr_expect_float_eq(e.weight, 1.0f, 1e-6);
    cr_expect_eq(e.ms_played, -1);
    cr_expect_str_eq(e.context, "(null)");
    cr_expect_eq(get_event("u2", "t1", TT_ACT_SKIP).occurred_at, T_2024_01_02_030405,
                 "+02:00 is converted to UTC");
    cr_expect_eq(get_event("u2", "t3", TT_ACT_SAVE).occurred_at, INT64_C(1704153600));
    cr_expect_float_eq(get_event("u3", "t3", TT_ACT_SHARE).weight, 2.5f, 1e-6);
    e = get_event("u3", "t2", TT_ACT_CLICK);
    cr_expect_str_eq(e.context, "search, top");
    cr_expect_eq(e.occurred_at, T_2024_01_02_030405);
    cr_expect_eq(get_event("u3", "t1", TT_ACT_IMPRESSION).occurred_at, T_2024_01_02_030405);
}

/*
 * Without event_ids nothing tells a repeated event from a new one: two plays of a track in the
 * same second are two plays. Importing such a file twice stores every row twice.
 */
Test(import, reimport_without_event_ids_stores_every_row_again)
{
    tt_import_stats st;

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions.csv", NULL, &st, NULL), 0);
    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions.csv", NULL, &st, NULL), 0);
    cr_expect_eq(st.interactions, 7);
    cr_expect_eq(count("interactions"), 14);
}

/* Interaction rows copied out of a scan, with their ids and event ids. */
struct stored {
    int n;
    struct {
        int64_t id;
        char user[64], track[64], event_id[TT_EVENT_ID_MAX + 1], context[64];
        enum tt_action action;
        float weight;
        int64_t ms_played;
    } r[16];
};

static int stored_cb(void *ctx, const tt_interaction_rec *r)
{
    struct stored *o = ctx;

    cr_assert_lt(o->n, 16);
    o->r[o->n].id = r->id;
    copy_str(o->r[o->n].user, sizeof(o->r[0].user), r->user_id);
    copy_str(o->r[o->n].track, sizeof(o->r[0].track), r->track_id);
    copy_str(o->r[o->n].event_id, sizeof(o->r[0].event_id), r->event_id);
    copy_str(o->r[o->n].context, sizeof(o->r[0].context), r->context);
    o->r[o->n].action = r->action;
    o->r[o->n].weight = r->weight;
    o->r[o->n].ms_played = r->ms_played;
    o->n++;
    return 0;
}

static void stored_read(struct stored *o)
{
    o->n = 0;
    cr_assert_eq(tt_store_scan_interactions(store, stored_cb, o, NULL), 0);
}

/* Index of the row with @event_id ("(null)" for none), or -1. */
static int stored_find(const struct stored *o, const char *event_id)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->r[i].event_id, event_id) == 0)
            return i;
    return -1;
}

/*
 * With event_ids a re-import updates: each event stays one row, at its first id. A row of
 * such a file without an event_id is still a new event each time.
 */
Test(import, reimport_with_event_ids_counts_each_event_once)
{
    static struct stored first, again;
    tt_import_stats st;
    tt_err err = {0};
    int i, plays = 0;

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_ids.csv", NULL, &st, &err), 0,
                 "%s", err.message);
    cr_expect_eq(st.rows, 7);
    cr_expect_eq(count("interactions"), 6, "line 8 sends line 4's event again");
    stored_read(&first);
    i = stored_find(&first, "web:9f1c2a7e-0003");
    cr_assert_geq(i, 0);
    cr_expect_str_eq(first.r[i].context, "playlist \"late night\"", "the later line wins");
    i = stored_find(&first, "android:4411,session=7");
    cr_assert_geq(i, 0, "a quoted event_id keeps its comma");
    cr_expect_eq(first.r[i].action, TT_ACT_SKIP);
    cr_expect_eq(first.r[i].ms_played, 12000);
    for (i = 0; i < first.n; i++)
        plays += strcmp(first.r[i].user, "u1") == 0 && strcmp(first.r[i].track, "t1") == 0;
    cr_expect_eq(plays, 2, "two plays in one second, each with its own event_id");
    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_ids.csv", NULL, &st, &err), 0,
                 "%s", err.message);
    cr_expect_eq(count("interactions"), 7, "only the row without an event_id is stored again");
    stored_read(&again);
    cr_assert_eq(again.n, 7);
    for (i = 0; i < first.n; i++) {
        int k = stored_find(&again, first.r[i].event_id);
        if (strcmp(first.r[i].event_id, "(null)") == 0)
            continue;
        cr_assert_geq(k, 0, "%s", first.r[i].event_id);
        cr_expect_eq(again.r[k].id, first.r[i].id, "%s keeps its id", first.r[i].event_id);
        cr_expect_eq(again.r[k].weight, first.r[i].weight);
    }
    cr_expect_str_eq(again.r[6].event_id, "(null)", "the new row comes last");
    cr_expect_gt(again.r[6].id, again.r[5].id);
}

Test(import, event_id_longer_than_128_bytes_refused)
{
    struct reports rep = {0};
    tt_import_stats st;
    tt_err err = {0};
    int64_t before;

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions.csv", NULL, NULL, NULL), 0);
    before = total_rows();
    cr_assert_eq(
        import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_long_event_id.csv", NULL, &st, &err),
        TT_EPARSE);
    cr_expect_str_eq(err.message,
                     FIX "interactions_long_event_id.csv:3: event_id is longer than 128 bytes");
    cr_expect_eq(total_rows(), before, "nothing was written");
    cr_assert_eq(
        import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_long_event_id.csv", &rep, &st, NULL),
        0);
    cr_expect_eq(st.skipped, 1);
    cr_assert_eq(rep.n, 1);
    expect_prefix(rep.msg[0], FIX "interactions_long_event_id.csv:3: event_id is longer");
    cr_expect_eq(count("interactions"), before + 2, "128 bytes is the longest event_id");
}

Test(import, reimport_updates_catalog_without_duplicating)
{
    tt_import_stats st;

    cr_assert_eq(import_csv(TT_IMPORT_TRACKS, FIX "tracks.csv", NULL, &st, NULL), 0);
    cr_assert_eq(import_csv(TT_IMPORT_TRACKS, FIX "tracks.csv", NULL, &st, NULL), 0);
    cr_expect_eq(count("tracks"), 3);
    cr_assert_eq(import_csv(TT_IMPORT_USERS, FIX "users.csv", NULL, &st, NULL), 0);
    cr_assert_eq(import_csv(TT_IMPORT_USERS, FIX "users.csv", NULL, &st, NULL), 0);
    cr_expect_eq(count("users"), 3);
}

Test(import, columns_in_any_order_and_defaults)
{
    struct event e;

    cr_assert_eq(
        import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_minimal.csv", NULL, NULL, NULL), 0);
    e = get_event("u9", "t9", TT_ACT_DISLIKE);
    cr_expect_float_eq(e.weight, 1.0f, 1e-6);
    cr_expect_eq(e.ms_played, -1);
    cr_expect_eq(e.occurred_at, INT64_C(1709251200));
}

Test(import, malformed_row_stops_and_changes_nothing)
{
    tt_import_stats st;
    tt_err err = {0};
    int64_t before;

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions.csv", NULL, NULL, NULL), 0);
    before = total_rows();
    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_bad.csv", NULL, &st, &err),
                 TT_EPARSE);
    expect_prefix(err.message, FIX "interactions_bad.csv:3: action 'listen' is not one of");
    cr_expect_eq(total_rows(), before, "the failed import was rolled back");
}

Test(import, skip_bad_reports_each_bad_line_and_imports_the_rest)
{
    struct reports rep = {0};
    tt_import_stats st;
    tt_err err = {0};

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_bad.csv", &rep, &st, &err), 0,
                 "%s", err.message);
    cr_expect_eq(st.skipped, 3);
    cr_expect_eq(st.interactions, 3);
    cr_expect_eq(count("interactions"), 3);
    cr_assert_eq(rep.n, 3);
    expect_prefix(rep.msg[0], FIX "interactions_bad.csv:3: action 'listen'");
    /* Line 4's quoted track id spans two lines, so the short row is on line 6. */
    cr_expect_str_eq(rep.msg[1],
                     FIX "interactions_bad.csv:6: expected 4 fields as in the header, found 2");
    expect_prefix(rep.msg[2], FIX "interactions_bad.csv:7: timestamp '2024-02-30'");
    get_event("u2", "t\n3", TT_ACT_LIKE);
    get_event("u3", "t6", TT_ACT_PLAY);
}

Test(import, missing_required_column_names_it)
{
    tt_err err = {0};

    cr_assert_eq(
        import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions_no_action.csv", NULL, NULL, &err),
        TT_EPARSE);
    cr_expect_str_eq(err.message, FIX "interactions_no_action.csv:1: the header lacks the "
                                      "required column 'action'");
    cr_expect_str_eq(err.field, "action");
    cr_expect_eq(count("interactions"), 0);
}

Test(import, empty_and_missing_files)
{
    tt_err err = {0};

    cr_expect_eq(import_csv(TT_IMPORT_USERS, FIX "empty.csv", NULL, NULL, &err), TT_EPARSE);
    expect_prefix(err.message, FIX "empty.csv:1: the file is empty");
    tt_err_clear(&err);
    cr_expect_eq(import_csv(TT_IMPORT_USERS, FIX "nonexistent.csv", NULL, NULL, &err), TT_EIO);
    cr_expect(strstr(err.message, "nonexistent.csv") != NULL);
    cr_expect_eq(tt_import_csv(store, (enum tt_import_kind)7, FIX "users.csv", NULL, NULL, NULL),
                 TT_EINVAL);
}

/* ---- tracks ---- */

Test(import, tracks_land_with_features_genres_and_embeddings)
{
    tt_import_stats st;
    tt_err err = {0};
    struct track t;

    cr_assert_eq(import_csv(TT_IMPORT_TRACKS, FIX "tracks.csv", NULL, &st, &err), 0, "%s",
                 err.message);
    cr_expect_eq(st.tracks, 3);
    t = get_track("t1");
    cr_expect_str_eq(t.title, "Hello, \"World\"");
    cr_expect_str_eq(t.artist, "The Band");
    cr_expect_str_eq(t.artist_id, "a1");
    cr_expect_str_eq(t.album, "First");
    cr_expect_str_eq(t.genres, "rock|indie");
    cr_expect_eq(t.duration_ms, 215000);
    cr_expect_eq(t.release_year, 2019);
    cr_expect_float_eq(t.f[TT_F_DANCEABILITY], 0.5f, 1e-6);
    cr_expect_float_eq(t.f[TT_F_TEMPO], 120.5f, 1e-4);
    cr_expect_float_eq(t.f[TT_F_LOUDNESS], -6.2f, 1e-5);
    cr_expect_float_eq(t.f[TT_F_KEY], 5.0f, 1e-6);
    cr_expect(isnan(t.f[TT_F_VALENCE]), "a feature without a column is unknown");
    cr_assert_eq(t.dim, 3);
    cr_expect_float_eq(t.emb[2], 0.3f, 1e-6);
    t = get_track("t2");
    cr_expect_str_eq(t.artist_id, "Solo Artist", "the artist name stands in for its id");
    cr_expect_str_eq(t.album, "Two\nLines");
    cr_expect_str_eq(t.genres, "");
    cr_expect_eq(t.duration_ms, -1);
    cr_expect(isnan(t.f[TT_F_ENERGY]));
    cr_expect_eq(t.dim, 0);
    t = get_track("t3");
    cr_expect_str_eq(t.genres, "pop|rock", "genres are lower-cased and repeats dropped");
    cr_expect_float_eq(t.f[TT_F_KEY], -1.0f, 1e-6);
    cr_expect_float_eq(t.f[TT_F_MODE], 0.0f, 1e-6);
    cr_expect_float_eq(t.emb[0], 1e-3f, 1e-9);
}

Test(import, track_validation_with_and_without_skip_bad)
{
    struct reports rep = {0};
    tt_import_stats st;
    tt_err err = {0};

    cr_assert_eq(import_csv(TT_IMPORT_TRACKS, FIX "tracks_bad.csv", NULL, &st, &err), TT_EPARSE);
    cr_expect_str_eq(err.message, FIX "tracks_bad.csv:3: danceability 1.5 must be between 0 and 1");
    cr_expect_eq(count("tracks"), 0);
    cr_assert_eq(import_csv(TT_IMPORT_TRACKS, FIX "tracks_bad.csv", &rep, &st, NULL), 0);
    cr_expect_eq(st.skipped, 4);
    cr_expect_eq(count("tracks"), 2);
    cr_assert_eq(rep.n, 4);
    cr_expect_str_eq(rep.msg[1],
                     FIX "tracks_bad.csv:4: key 12 must be a whole number from -1 (no key) to "
                         "11 (B)");
    expect_prefix(rep.msg[2], FIX "tracks_bad.csv:5: embedding has 3 values but the one on "
                                  "line 2 has 2");
    expect_prefix(rep.msg[3], FIX "tracks_bad.csv:6: danceability 'nan' is not a number");
    cr_expect_eq(get_track("t6").dim, 2);
}

/* ---- users ---- */

Test(import, users_land_with_tiers_genres_and_times)
{
    tt_import_stats st;
    struct user u;

    cr_assert_eq(import_csv(TT_IMPORT_USERS, FIX "users.csv", NULL, &st, NULL), 0);
    cr_expect_eq(st.users, 3);
    u = get_user("u1");
    cr_expect_str_eq(u.tier, "pro");
    cr_expect_str_eq(u.genres, "jazz|blues");
    cr_expect_eq(u.created_at, T_2024_01_02_030405);
    u = get_user("u2");
    cr_expect_str_eq(u.tier, "free");
    cr_expect_gt(u.created_at, T_2024_01_02_030405, "no created_at means now");
    u = get_user("u3");
    cr_expect_str_eq(u.tier, "enterprise");
    cr_expect_str_eq(u.genres, "hip hop");
}

Test(import, bad_plan_tier)
{
    tt_err err = {0};

    cr_assert_eq(import_csv(TT_IMPORT_USERS, FIX "users_bad.csv", NULL, NULL, &err), TT_EPARSE);
    cr_expect_str_eq(err.message, FIX "users_bad.csv:3: plan_tier 'platinum' is not one of free, "
                                      "starter, pro, enterprise");
    cr_expect_eq(count("users"), 0);
}

/* ---- HetRec Last.fm ---- */

Test(import, lastfm_hetrec_fixture)
{
    tt_import_stats st;
    tt_err err = {0};
    struct track t;
    struct event e;

    cr_assert_eq(tt_import_lastfm_hetrec(store, FIX "lastfm", NULL, &st, &err), 0, "%s",
                 err.message);
    cr_expect_eq(st.interactions, 5);
    cr_expect_eq(st.users, 3);
    cr_expect_eq(st.tracks, 4);
    cr_expect_eq(st.artists, 4);
    cr_expect_eq(st.rows, 16);
    t = get_track("lastfm:artist:1");
    cr_expect_str_eq(t.title, "MALICE MIZER");
    cr_expect_str_eq(t.artist, "MALICE MIZER");
    cr_expect_str_eq(t.artist_id, "lastfm:artist:1");
    /* Most users first, ties by name; "Rock"/"rock" merge; one-user tags are dropped. */
    cr_expect_str_eq(t.genres, "j-rock|visual kei|gothic|japanese|metal");
    t = get_track("lastfm:artist:2");
    cr_expect_str_eq(t.title, "\"Weird Al\" Yankovic");
    cr_expect_str_eq(t.genres, "");
    cr_expect_str_eq(get_track("lastfm:artist:3").genres, "tropic\xC3\xA1lia",
                     "latin-1 tags arrive as UTF-8");
    cr_expect_str_eq(get_track("lastfm:artist:3").title, "Sigur R\xC3\xB3s");
    cr_expect_str_eq(get_track("lastfm:artist:4").title, "artist 4");
    cr_expect_str_eq(get_artist("lastfm:artist:1").genres,
                     "j-rock|visual kei|gothic|japanese|metal");
    cr_expect_str_eq(get_artist("lastfm:artist:4").name, "artist 4");
    cr_expect_str_eq(get_user("lastfm:user:5").tier, "free");
    e = get_event("lastfm:user:2", "lastfm:artist:1", TT_ACT_PLAY);
    cr_expect_float_eq(e.weight, 13883.0f, 1e-3);
    cr_expect_eq(e.occurred_at, INT64_C(1238544000), "2009-04-01, the user's first tag");
    cr_expect_eq(get_event("lastfm:user:3", "lastfm:artist:1", TT_ACT_PLAY).occurred_at,
                 INT64_C(1204329600), "2008-03-01");
    cr_expect_eq(get_event("lastfm:user:3", "lastfm:artist:4", TT_ACT_PLAY).occurred_at,
                 INT64_C(1304208000), "untagged: the dataset's release, 2011-05-01");
    cr_assert_eq(tt_import_lastfm_hetrec(store, FIX "lastfm/", NULL, &st, &err), 0);
    cr_expect_eq(count("interactions"), 5);
    cr_expect_eq(count("tracks"), 4);
    cr_expect_eq(count("users"), 3);
    cr_expect_eq(count("artists"), 4);
}

/* Each (user, artist) of the dataset is one event: a re-import updates it in place. */
Test(import, lastfm_reimport_keeps_one_row_per_listen)
{
    static struct stored first, again;
    tt_err err = {0};

    cr_assert_eq(tt_import_lastfm_hetrec(store, FIX "lastfm", NULL, NULL, &err), 0, "%s",
                 err.message);
    stored_read(&first);
    cr_assert_eq(first.n, 5);
    for (int i = 0; i < first.n; i++) {
        char want[64];
        long long user = -1, artist = -1;

        cr_assert_eq(sscanf(first.r[i].user, "lastfm:user:%lld", &user), 1);
        cr_assert_eq(sscanf(first.r[i].track, "lastfm:artist:%lld", &artist), 1);
        snprintf(want, sizeof(want), "lastfm:%lld:%lld", user, artist);
        cr_expect_str_eq(first.r[i].event_id, want);
    }
    cr_assert_eq(tt_import_lastfm_hetrec(store, FIX "lastfm", NULL, NULL, &err), 0, "%s",
                 err.message);
    stored_read(&again);
    cr_assert_eq(again.n, 5);
    for (int i = 0; i < 5; i++) {
        cr_expect_eq(again.r[i].id, first.r[i].id);
        cr_expect_str_eq(again.r[i].event_id, first.r[i].event_id);
        cr_expect_eq(again.r[i].weight, first.r[i].weight);
    }
}

Test(import, lastfm_hetrec_malformed)
{
    tt_err err = {0};
    struct reports rep = {0};
    tt_import_opts o = {TT_IMPORT_SKIP_BAD, collect, &rep, NULL, NULL};
    tt_import_stats st;

    cr_assert_eq(tt_import_lastfm_hetrec(store, FIX "lastfm_bad", NULL, NULL, &err), TT_EPARSE);
    cr_expect_str_eq(err.message, FIX "lastfm_bad/user_artists.dat:4: weight 'many' is not a "
                                      "play count");
    cr_expect_eq(total_rows(), 0);
    cr_assert_eq(tt_import_lastfm_hetrec(store, FIX "lastfm_bad", &o, &st, NULL), 0);
    cr_expect_eq(st.skipped, 1);
    cr_expect_eq(rep.n, 1);
    cr_expect_eq(count("interactions"), 3);
    tt_err_clear(&err);
    cr_expect_eq(tt_import_lastfm_hetrec(store, FIX "nonexistent", NULL, NULL, &err), TT_EIO);
    cr_expect(strstr(err.message, FIX "nonexistent/tags.dat") != NULL, "%s", err.message);
}

/* ---- MusicOSet ---- */

Test(import, musicoset_fixture)
{
    tt_import_stats st;
    tt_err err = {0};
    struct track t;

    cr_assert_eq(tt_import_musicoset(store, FIX "musicoset", NULL, &st, &err), 0, "%s",
                 err.message);
    cr_expect_eq(st.tracks, 4);
    cr_expect_eq(st.artists, 4, "three from artists.csv, one first artist missing there");
    cr_expect_eq(st.interactions, 0);
    cr_expect_str_eq(get_artist("66CXWjxzNUsdJxJ2JdwvnR").genres, "dance pop|pop|post-teen pop");
    cr_expect_str_eq(get_artist("6DVipHzYsPlIoA0DW8Gmns").genres, "children's music|hip hop",
                     "main_genre '-' means none");
    cr_expect_str_eq(get_artist("1SuG5iUNABfgum7OpWYvFi").name, "Mark \"Exit\" Goodchild");
    t = get_track("3e9HZxeyfWwjeyPAMmWSSQ");
    cr_expect_str_eq(t.title, "thank u, next");
    cr_expect_str_eq(t.artist, "Ariana Grande");
    cr_expect_str_eq(t.artist_id, "66CXWjxzNUsdJxJ2JdwvnR");
    cr_expect_str_eq(t.genres, "dance pop|pop|post-teen pop");
    cr_expect_eq(t.release_year, 2019);
    cr_expect_eq(t.duration_ms, 207320);
    cr_expect_float_eq(t.f[TT_F_DANCEABILITY], 0.717f, 1e-6);
    cr_expect_float_eq(t.f[TT_F_TEMPO], 106.966f, 1e-4);
    cr_expect_float_eq(t.f[TT_F_KEY], 1.0f, 1e-6);
    t = get_track("7euU41rMLcoBG5gVUQUEz8");
    cr_expect_str_eq(t.artist, "The Check'm Girls", "u\"...\" literals");
    cr_expect_str_eq(t.artist_id, "7euU41rMLcoBG5gVUQUEz9");
    cr_expect_str_eq(t.genres, "");
    cr_expect_eq(t.release_year, 1995);
    cr_expect_float_eq(t.f[TT_F_INSTRUMENTALNESS], 9.11e-06f, 1e-10);
    cr_expect_float_eq(t.f[TT_F_MODE], 0.0f, 1e-6);
    t = get_track("5hslUAKq9I9CG2bAulFkHN");
    cr_expect_str_eq(t.artist, "Royce Da 5'9\"");
    cr_expect_eq(t.release_year, 1961);
    cr_expect_float_eq(t.f[TT_F_ACOUSTICNESS], 1.34e-06f, 1e-10);
    cr_expect_float_eq(t.f[TT_F_KEY], -1.0f, 1e-6);
    t = get_track("0noFeatures00000000000");
    cr_expect_str_eq(t.title, "Caf\xC3\xA9 Tune");
    cr_expect_str_eq(t.artist, "Mark \"Exit\" Goodchild");
    cr_expect(isnan(t.f[TT_F_ENERGY]));
    cr_expect_leq(t.release_year, 0);
    cr_assert_eq(tt_import_musicoset(store, FIX "musicoset", NULL, &st, NULL), 0);
    cr_expect_eq(count("tracks"), 4);
    cr_expect_eq(count("artists"), 4);
}

Test(import, musicoset_malformed)
{
    tt_err err = {0};

    cr_assert_eq(tt_import_musicoset(store, FIX "musicoset_bad", NULL, NULL, &err), TT_EPARSE);
    expect_prefix(err.message, FIX "musicoset_bad/musicoset_metadata/songs.csv:3: artists is "
                                   "not a Python dict");
    cr_expect_eq(total_rows(), 0);
}

/* ---- GTZAN ---- */

Test(import, gtzan_fixture)
{
    tt_import_stats st;
    tt_err err = {0};
    struct track t;

    cr_assert_eq(tt_import_gtzan(store, FIX "gtzan/features_30_sec.csv", NULL, &st, &err), 0, "%s",
                 err.message);
    cr_expect_eq(st.tracks, 3);
    t = get_track("gtzan:blues.00000.wav");
    cr_expect_str_eq(t.title, "blues.00000");
    cr_expect_str_eq(t.artist, "gtzan-blues.00000");
    cr_expect_str_eq(t.genres, "blues");
    cr_expect_eq(t.duration_ms, 30013, "661794 samples at 22050 Hz");
    cr_assert_eq(t.dim, 57);
    cr_expect_float_eq(t.emb[0], 1.5e-05f, 1e-10);
    cr_expect_float_eq(t.emb[16], 123.046875f, 1e-4, "tempo stays in the embedding");
    cr_expect_float_eq(t.f[TT_F_TEMPO], 123.046875f, 1e-4);
    cr_expect_float_eq(t.emb[56], 1.0f + 56 * 0.5f - 7.0f, 1e-4);
    cr_expect_str_eq(get_track("gtzan:jazz.00042.wav").genres, "jazz");
    cr_assert_eq(tt_import_gtzan(store, FIX "gtzan/features_30_sec.csv", NULL, &st, NULL), 0);
    cr_expect_eq(count("tracks"), 3);
}

Test(import, gtzan_malformed)
{
    tt_err err = {0};

    cr_assert_eq(tt_import_gtzan(store, FIX "gtzan/features_bad.csv", NULL, NULL, &err), TT_EPARSE);
    cr_expect_str_eq(err.message, FIX "gtzan/features_bad.csv:3: mfcc1_var 'n/a' is not a "
                                      "finite number");
    cr_expect_eq(count("tracks"), 0);
}

/* ---- the binary ---- */

/* build/tunetrail beside this test's build/tests/ directory (build/asan/... under make asan). */
static void binary_path(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    cr_assert_gt(n, 0);
    exe[n] = '\0';
    for (int i = 0; i < 2 && (slash = strrchr(exe, '/')) != NULL; i++)
        *slash = '\0';
    snprintf(out, cap, "%s/tunetrail", exe);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 8192);

    cr_assert_not_null(f);
    cr_assert_not_null(buf);
    (void)fread(buf, 1, 8191, f);
    fclose(f);
    return buf;
}

static int run_cli(const char *args, char **out, char **errout)
{
    char bin[PATH_MAX + 16], cmd[2 * PATH_MAX + 512], o[128], e[128];
    int status;

    binary_path(bin, sizeof(bin));
    cr_assert_eq(access(bin, X_OK), 0, "%s is not built", bin);
    snprintf(o, sizeof(o), "%s/out.txt", dir);
    snprintf(e, sizeof(e), "%s/err.txt", dir);
    snprintf(cmd, sizeof(cmd), "DATABASE_URL='%s' '%s' import %s >'%s' 2>'%s'", url, bin, args, o,
             e);
    status = system(cmd);
    *out = slurp(o);
    *errout = slurp(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(import, cli_exit_codes_and_messages)
{
    char *out, *err;
    int64_t before;

    cr_assert_eq(import_csv(TT_IMPORT_INTERACTIONS, FIX "interactions.csv", NULL, NULL, NULL), 0);
    before = count("interactions");
    cr_expect_eq(run_cli("interactions " FIX "interactions_bad.csv", &out, &err), 1);
    expect_prefix(err, FIX "interactions_bad.csv:3: action 'listen'");
    cr_expect(strstr(err, "nothing was written") != NULL, "%s", err);
    cr_expect_str_eq(out, "");
    cr_expect_eq(count("interactions"), before);
    free(out);
    free(err);
    cr_expect_eq(run_cli("interactions " FIX "interactions_bad.csv --skip-bad", &out, &err), 0);
    expect_prefix(err, FIX "interactions_bad.csv:3: ");
    cr_expect(strstr(err, "\n" FIX "interactions_bad.csv:6: ") != NULL, "%s", err);
    cr_expect(strstr(err, "\n" FIX "interactions_bad.csv:7: ") != NULL, "%s", err);
    expect_prefix(out, "imported 3 rows (3 interactions), skipped 3, ");
    cr_expect(strstr(out, " rows/s\n") != NULL, "%s", out);
    /* Line 2 repeats an interaction already stored, without an event_id: a new row too. */
    cr_expect_eq(count("interactions"), before + 3);
    free(out);
    free(err);
    cr_expect_eq(run_cli("songs " FIX "interactions.csv", &out, &err), 2);
    cr_expect(strstr(err, "unknown import source 'songs'") != NULL, "%s", err);
    free(out);
    free(err);
}

/* ---- progress ---- */

struct progress_seen {
    int calls;
    char stage[64];
    int64_t done, total;
};

static void on_progress(void *ctx, const char *stage, int64_t done, int64_t total)
{
    struct progress_seen *p = ctx;

    p->calls++;
    snprintf(p->stage, sizeof(p->stage), "%s", stage);
    p->done = done;
    p->total = total;
}

Test(import, progress_reports_the_bytes_of_the_file_to_its_end)
{
    tt_import_opts o = tt_import_opts_default();
    struct progress_seen seen = {0};
    tt_import_stats st;
    tt_err err = {0};
    struct stat sb;

    o.progress = on_progress;
    o.progress_ctx = &seen;
    cr_assert_eq(stat(FIX "interactions.csv", &sb), 0);
    cr_assert_eq(tt_import_csv(store, TT_IMPORT_INTERACTIONS, FIX "interactions.csv", &o, &st,
                               &err),
                 0, "%s", err.message);
    cr_expect_geq(seen.calls, 1);
    cr_expect_str_eq(seen.stage, "interactions.csv", "the file's name, without its folder");
    cr_expect_eq(seen.total, (int64_t)sb.st_size);
    cr_expect_eq(seen.done, (int64_t)sb.st_size, "the last report is the whole file");
}
