/*
 * The incremental training snapshot (include/tt/logcache.h), on both backends: after new
 * users, new tracks, events on tracks not in the catalog and a catalog import that makes one
 * known, the cached log plus the new interactions is the dataset a full read gives, field by
 * field; a rewritten row, another store, a damaged or truncated cache each mean a full read
 * with its reason; and in PostgreSQL the watermark waits out a writer in flight.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/store_fixture.h"
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/generate.h"
#include "tt/logcache.h"
#include "tt/store.h"

/* The cache file of the running test, in a scratch directory of its own. */
static char cache_dir[128], cache_path[400];

static void cache_done(void)
{
    char cmd[200];

    if (cache_dir[0]) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cache_dir);
        cr_assert_eq(system(cmd), 0);
    }
    cache_dir[0] = '\0';
}

/* A new cache path (the old scratch directory removed). */
static void cache_at(void)
{
    cache_done();
    snprintf(cache_dir, sizeof(cache_dir), "/tmp/tt_test_snapshot_XXXXXX");
    cr_assert_not_null(mkdtemp(cache_dir));
    snprintf(cache_path, sizeof(cache_path), "%s/snapshot/interactions.tts", cache_dir);
}

static void generate(tt_store *s, int64_t users, int64_t tracks, int64_t events, uint64_t seed)
{
    tt_generate_params p = tt_generate_params_default();
    tt_err err = {0};

    p.users = users;
    p.tracks = tracks;
    p.interactions = events;
    p.seed = seed;
    ok(tt_generate_run(s, &p, NULL, &err), &err, "generate");
}

static void same_ids(const tt_ids *a, const tt_ids *b, const char *what)
{
    cr_assert_eq(tt_ids_count(a), tt_ids_count(b), "%s: %d vs %d", what, tt_ids_count(a),
                 tt_ids_count(b));
    for (int32_t i = 0; i < tt_ids_count(a); i++)
        cr_assert_str_eq(tt_ids_name(a, i), tt_ids_name(b, i), "%s %d", what, i);
}

/* @a is @b, field by field. */
static void same_dataset(const tt_dataset *a, const tt_dataset *b)
{
    int32_t nu = tt_dataset_n_users(a);

    same_ids(a->users, b->users, "users");
    same_ids(a->tracks, b->tracks, "tracks");
    same_ids(a->artists, b->artists, "artists");
    same_ids(a->genres, b->genres, "genres");
    for (int32_t u = 0; u <= nu; u++)
        cr_assert_eq(a->user_genre_ptr[u], b->user_genre_ptr[u], "user_genre_ptr %d", u);
    for (int32_t u = 0; u < nu; u++)
        cr_assert_eq(a->user_tier[u], b->user_tier[u], "user_tier %d", u);
    cr_assert_eq(a->n_events, b->n_events, "n_events %lld vs %lld", (long long)a->n_events,
                 (long long)b->n_events);
    cr_assert_eq(a->n_unknown_track_events, b->n_unknown_track_events,
                 "unknown-track events %lld vs %lld", (long long)a->n_unknown_track_events,
                 (long long)b->n_unknown_track_events);
    cr_assert_eq(a->max_event_id, b->max_event_id, "max_event_id %lld vs %lld",
                 (long long)a->max_event_id, (long long)b->max_event_id);
    cr_assert_eq(a->ev_time_base, b->ev_time_base);
    cr_assert_eq(a->ev_time_wide == NULL, b->ev_time_wide == NULL);
    for (int64_t e = 0; e < a->n_events; e++) {
        cr_assert_eq(a->ev_user[e], b->ev_user[e], "ev_user %lld", (long long)e);
        cr_assert_eq(a->ev_track[e], b->ev_track[e], "ev_track %lld", (long long)e);
        cr_assert_eq(a->ev_action[e], b->ev_action[e], "ev_action %lld", (long long)e);
        cr_assert_eq(a->ev_weight[e], b->ev_weight[e], "ev_weight %lld", (long long)e);
        cr_assert_eq(tt_dataset_event_time(a, e), tt_dataset_event_time(b, e), "time %lld",
                     (long long)e);
    }
}

/* Loads through the cache and checks the result against a full tt_dataset_load. */
static tt_logcache_report load_and_compare(tt_store *s, unsigned flags)
{
    tt_logcache_report rep;
    tt_dataset *cached = NULL, *full = NULL;
    tt_err err = {0};

    ok(tt_logcache_load(s, cache_path, flags, &cached, &rep, &err), &err, "logcache load");
    ok(tt_dataset_load(s, &full, &err), &err, "full load");
    same_dataset(cached, full);
    cr_assert_eq(rep.cached + rep.fresh, full->n_events + full->n_unknown_track_events,
                 "%lld cached + %lld fresh", (long long)rep.cached, (long long)rep.fresh);
    tt_dataset_free(cached);
    tt_dataset_free(full);
    return rep;
}

static void put_user(tt_store *s, const char *id, const char *tier, const char *genres)
{
    tt_user_rec u = {id, tier, genres, 1700000000};
    tt_err err = {0};

    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_user(s, &u, &err), &err, "put user");
    ok(tt_store_commit(s, &err), &err, "commit");
}

static void put_track(tt_store *s, const char *id, const char *artist)
{
    tt_track_rec t = tt_track_rec_empty();
    tt_err err = {0};

    t.track_id = id;
    t.title = id;
    t.artist = artist;
    t.genres = "rock|ghost";
    ok(tt_store_begin(s, &err), &err, "begin");
    ok(tt_store_put_track(s, &t, &err), &err, "put track");
    ok(tt_store_commit(s, &err), &err, "commit");
}

static void feedback(tt_store *s, tt_interaction_rec r)
{
    bool inserted = false;
    tt_err err = {0};

    ok(tt_store_feedback_put(s, &r, &inserted, &err), &err, "feedback");
    cr_assert(inserted);
}

STORE_TEST(incremental_matches_full)
{
    tt_store *s = open_store();
    tt_logcache_report rep;
    const int64_t at = 1765000000;

    cache_at();
    generate(s, 60, 400, 3000, 7);
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental);
    cr_assert_str_eq(rep.why_full, "no cache");
    cr_assert(rep.written, "%s", rep.why_not_written);
    cr_assert_eq(rep.fresh, 3000);

    /*
     * New users (one, the phantom, only ever on a track not in the catalog, so a full read
     * gives it no dense id), a new catalog user, and ghost tracks.
     */
    {
        tt_interaction_rec rs[] = {
            play("u0000003", "t0000010", at, 2),       play("newcomer-1", "t0000011", at + 1, 1),
            play("newcomer-2", "ghost-1", at + 2, 1),  play("ghost-fan", "ghost-1", at + 3, 4),
            play("ghost-fan", "ghost-2", at + 4, 1),   play("newcomer-1", "t0000012", at + 5, 3),
            play("u0000004", "ghost-2", at + 6, 1),    play("phantom", "ghost-3", at + 7, 1),
            play("newcomer-3", "t0000001", at + 8, 1),
        };
        put_interactions(s, rs, (int)(sizeof(rs) / sizeof(rs[0])));
    }
    put_user(s, "signed-up-late", "pro", "jazz|soul");
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "full read: %s", rep.why_full);
    cr_assert_eq(rep.cached, 3000);
    cr_assert_eq(rep.fresh, 9);

    /* The catalog learns ghost-1; the ghost fan plays a known track; feedback arrives. */
    put_track(s, "ghost-1", "a-ghost");
    feedback(s, play("ghost-fan", "t0000020", at + 10, 1));
    feedback(s, play("newcomer-2", "ghost-2", at + 11, 1));
    feedback(s, play("u0000001", "ghost-1", at + 12, 1));
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "full read: %s", rep.why_full);
    cr_assert_eq(rep.cached, 3009);
    cr_assert_eq(rep.fresh, 3);

    /* Nothing new: the cache alone. */
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental);
    cr_assert_eq(rep.fresh, 0);

    /* A second generation (another seed): many new events on known users and tracks. */
    generate(s, 80, 400, 2000, 8);
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "full read: %s", rep.why_full);
    cr_assert_eq(rep.fresh, 2000);

    /* Asked for a full read: everything again, and the cache still refreshed. */
    rep = load_and_compare(s, TT_LOGCACHE_FULL);
    cr_assert_not(rep.incremental);
    cr_assert(rep.written);
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental);
    tt_store_close(s);
    cache_done();
}

STORE_TEST(rewritten_row_means_full_read)
{
    tt_store *s = open_store();
    tt_interaction_rec first = event("u0000001", "t0000002", 1765000000, 1, "ext:1");
    tt_interaction_rec again = event("u0000001", "t0000002", 1765000000, 5, "ext:1");
    tt_logcache_report rep;

    cache_at();
    generate(s, 30, 200, 1000, 3);
    put_interactions(s, &first, 1);
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental);

    /* An import that upserts an event id already stored: its row changes in place. */
    put_interactions(s, &again, 1);
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental, "a rewritten row was taken from the cache");
    cr_assert_not_null(strstr(rep.why_full, "rows rewritten"), "%s", rep.why_full);
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "%s", rep.why_full);

    /* A deleted row. */
    raw_exec("DELETE FROM interactions WHERE id = (SELECT min(id) FROM interactions)");
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental);
    cr_assert_not_null(strstr(rep.why_full, "rows rewritten"), "%s", rep.why_full);

    /* Regenerating the same rows upserts every one of them. */
    generate(s, 30, 200, 1000, 3);
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental);
    cr_assert_not_null(strstr(rep.why_full, "rows rewritten"), "%s", rep.why_full);
    tt_store_close(s);
    cache_done();
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

STORE_TEST(cache_of_another_store)
{
    tt_store *s = open_store();
    tt_log_state a, b;
    tt_logcache_report rep;
    tt_err err = {0};

    cache_at();
    generate(s, 30, 200, 1000, 3);
    ok(tt_store_log_state(s, 0, &a, &err), &err, "log state");
    cr_assert_eq(strlen(a.store_id), 32, "%s", a.store_id);
    rep = load_and_compare(s, 0);
    tt_store_close(s);

    /* The same rows, with the same ids, in a new database. */
    wipe_database();
    s = open_store();
    generate(s, 30, 200, 1000, 3);
    ok(tt_store_log_state(s, 0, &b, &err), &err, "log state");
    cr_assert_str_neq(a.store_id, b.store_id);
    cr_assert_eq(a.max_id, b.max_id);
    cr_assert_eq(a.rewrites, b.rewrites);
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental);
    cr_assert_not_null(strstr(rep.why_full, "store changed"), "%s", rep.why_full);
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "%s", rep.why_full);
    tt_store_close(s);
    cache_done();
}

/* ---- damaged caches -------------------------------------------------------------------- */

static off_t file_size(const char *path)
{
    struct stat sb;

    cr_assert_eq(stat(path, &sb), 0, "%s", path);
    return sb.st_size;
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    unsigned char c;

    cr_assert_geq(fd, 0);
    cr_assert_eq(pread(fd, &c, 1, at), 1);
    c ^= 0x5a;
    cr_assert_eq(pwrite(fd, &c, 1, at), 1);
    close(fd);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

/* The cache damaged by @damage reads in full, saying @why, and is whole again afterwards. */
static void damaged(tt_store *s, void (*damage)(void), const char *why)
{
    tt_logcache_report rep;

    rep = load_and_compare(s, 0);
    cr_assert(rep.written);
    damage();
    rep = load_and_compare(s, 0);
    cr_assert_not(rep.incremental, "a damaged cache was used (%s)", why);
    cr_assert_not_null(strstr(rep.why_full, why), "'%s' is not '%s'", rep.why_full, why);
    cr_assert(rep.written, "%s", rep.why_not_written);
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "%s", rep.why_full);
}

static void flip_event(void)
{
    flip_byte(cache_path, 128 + 21 * 500 + 10); /* the weight of event 500 */
}

static void flip_event_index(void)
{
    flip_byte(cache_path, 128 + 21 * 17 + 3); /* the user index of event 17: out of range */
}

static void flip_table(void)
{
    flip_byte(cache_path, file_size(cache_path) - 3); /* in the track table */
}

static void flip_header(void)
{
    flip_byte(cache_path, 70); /* the watermark */
}

static void cut_events(void)
{
    cr_assert_eq(truncate(cache_path, 128 + 21 * 300 + 7), 0);
}

static void cut_header(void)
{
    cr_assert_eq(truncate(cache_path, 60), 0);
}

static void empty_file(void)
{
    cr_assert_eq(truncate(cache_path, 0), 0);
}

static void foreign_file(void)
{
    char junk[4096];

    memset(junk, 'x', sizeof(junk));
    write_bytes(cache_path, junk, sizeof(junk));
}

/* A well-formed header of format version 99: a cache from a later engine. */
static void later_format(void)
{
    unsigned char h[128] = "TTLOGC\r\n";
    uint32_t crc;

    h[8] = 99;
    crc = tt_crc32(0, h, 124);
    for (int i = 0; i < 4; i++)
        h[124 + i] = (unsigned char)(crc >> (8 * i));
    write_bytes(cache_path, h, sizeof(h));
}

STORE_TEST(damaged_cache_means_full_read)
{
    tt_store *s = open_store();
    const int64_t at = 1765000000;
    tt_interaction_rec ghost = play("u0000002", "ghost-1", at, 1);

    cache_at();
    generate(s, 40, 300, 2000, 11);
    put_interactions(s, &ghost, 1);
    damaged(s, flip_event, "cache damaged: checksum");
    damaged(s, flip_event_index, "cache damaged");
    damaged(s, flip_table, "cache damaged");
    damaged(s, flip_header, "cache damaged: header checksum");
    damaged(s, cut_events, "cache damaged");
    damaged(s, cut_header, "cache damaged: shorter than its header");
    damaged(s, empty_file, "cache damaged: shorter than its header");
    damaged(s, foreign_file, "cache damaged: not a snapshot cache");
    damaged(s, later_format, "cache of another format");
    tt_store_close(s);
    cache_done();
}

/* ---- where the cache cannot be written --------------------------------------------------- */

STORE_TEST(unwritable_cache_dir)
{
    tt_store *s = open_store();
    tt_logcache_report rep;
    tt_dataset *d = NULL;
    tt_err err = {0};

    generate(s, 20, 100, 500, 2);
    /* A regular file where the directory should be. */
    cache_at();
    {
        char dir[400];
        snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(cache_path, '/') - cache_path),
                 cache_path);
        write_bytes(dir, "x", 1);
    }
    ok(tt_logcache_load(s, cache_path, 0, &d, &rep, &err), &err, "load");
    cr_assert_not(rep.written);
    cr_assert_neq(rep.why_not_written[0], '\0');
    cr_assert_eq(d->n_events + d->n_unknown_track_events, 500);
    tt_dataset_free(d);
    /* Told not to write. */
    cache_at();
    ok(tt_logcache_load(s, cache_path, TT_LOGCACHE_NO_WRITE, &d, &rep, &err), &err, "load");
    cr_assert_not(rep.written);
    cr_assert_eq(access(cache_path, F_OK), -1);
    tt_dataset_free(d);
    tt_store_close(s);
    cache_done();
}

/* ---- the watermark while a writer is in flight ------------------------------------------ */

/*
 * An import holds staged rows (ids taken from the sequence in PostgreSQL) and has not
 * committed: PostgreSQL has no safe watermark then, so the read is full and the cache kept
 * as it was; once the import commits, the next read takes its rows, whose ids are below rows
 * that committed earlier. SQLite's readers never wait for its writer.
 */
STORE_TEST(writer_in_flight)
{
    tt_store *s = open_store(), *w = open_store();
    tt_interaction_rec slow = play("u0000001", "t0000003", 1765000000, 1);
    tt_interaction_rec quick = play("u0000002", "t0000004", 1765000001, 1);
    tt_logcache_report rep;
    tt_log_state st;
    tt_err err = {0};
    int rc;

    cache_at();
    generate(s, 20, 100, 500, 2);
    rep = load_and_compare(s, 0);
    if (!on_sqlite()) {
        ok(tt_store_begin(w, &err), &err, "begin");
        ok(tt_store_put_interaction(w, &slow, &err), &err, "put");
        cr_assert_eq(count(w, "interactions"), 501, "the staged row is merged, its id taken");
        rc = tt_store_log_state(s, 100, &st, &err);
        cr_assert_eq(rc, TT_EDBBUSY, "%s", err.message);
        tt_err_clear(&err);
        feedback(s, quick); /* a later id, committed first */
        rep = load_and_compare(s, 0);
        cr_assert_not(rep.incremental);
        cr_assert_not(rep.written);
        cr_assert_not_null(strstr(rep.why_full, "no watermark"), "%s", rep.why_full);
        ok(tt_store_commit(w, &err), &err, "commit");
    } else {
        ok(tt_store_begin(w, &err), &err, "begin");
        ok(tt_store_put_interaction(w, &slow, &err), &err, "put");
        ok(tt_store_log_state(s, 100, &st, &err), &err, "log state beside a writer");
        ok(tt_store_commit(w, &err), &err, "commit");
        feedback(s, quick);
    }
    rep = load_and_compare(s, 0);
    cr_assert(rep.incremental, "%s", rep.why_full);
    cr_assert_eq(rep.fresh, 2);
    tt_store_close(w);
    tt_store_close(s);
    cache_done();
}
