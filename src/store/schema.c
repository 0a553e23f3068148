/*
 * The schema, as migrations. Both dialects describe the same tables and columns; only the
 * types that differ are spelled differently (BLOB/BYTEA, rowid/BIGSERIAL). Timestamps are
 * Unix seconds in BIGINT columns on both, so the TuneTrail API service writes the same
 * values whichever database it shares with us. Never edit a released migration: append.
 */
#include "backend.h"

#include <string.h>

#define ACTIONS "('play','like','skip','dislike','save','share','click','impression')"

#define V1_COMMON(EMB, SERIAL)                                                               \
    "CREATE TABLE artists ("                                                                 \
    " artist_id TEXT PRIMARY KEY,"                                                           \
    " name TEXT NOT NULL,"                                                                   \
    " genres TEXT NOT NULL DEFAULT '',"                                                      \
    " updated_at BIGINT NOT NULL);"                                                          \
    "CREATE TABLE tracks ("                                                                  \
    " track_id TEXT PRIMARY KEY,"                                                            \
    " title TEXT NOT NULL,"                                                                  \
    " artist_id TEXT NOT NULL,"                                                              \
    " artist TEXT NOT NULL,"                                                                 \
    " album TEXT,"                                                                           \
    " genres TEXT NOT NULL DEFAULT '',"                                                      \
    " duration_ms INTEGER,"                                                                  \
    " release_year INTEGER,"                                                                 \
    " danceability REAL, energy REAL, valence REAL, tempo REAL, acousticness REAL,"          \
    " instrumentalness REAL, speechiness REAL, liveness REAL, loudness REAL,"                \
    " key INTEGER, mode INTEGER,"                                                            \
    " embedding " EMB ","                                                                    \
    " updated_at BIGINT NOT NULL);"                                                          \
    "CREATE INDEX tracks_artist ON tracks(artist_id);"                                       \
    "CREATE TABLE users ("                                                                   \
    " user_id TEXT PRIMARY KEY,"                                                             \
    " plan_tier TEXT NOT NULL DEFAULT 'free',"                                               \
    " favorite_genres TEXT NOT NULL DEFAULT '',"                                             \
    " created_at BIGINT NOT NULL);"                                                          \
    "CREATE TABLE interactions ("                                                            \
    " id " SERIAL ","                                                                        \
    " user_id TEXT NOT NULL,"                                                                \
    " track_id TEXT NOT NULL,"                                                               \
    " action TEXT NOT NULL CHECK (action IN " ACTIONS "),"                                   \
    " weight REAL NOT NULL DEFAULT 1,"                                                       \
    " ms_played BIGINT,"                                                                     \
    " occurred_at BIGINT NOT NULL,"                                                          \
    " context TEXT,"                                                                         \
    " recommendation_id TEXT,"                                                               \
    " UNIQUE (user_id, track_id, action, occurred_at));"                                     \
    "CREATE INDEX interactions_recommendation ON interactions(recommendation_id)"            \
    " WHERE recommendation_id IS NOT NULL;"                                                  \
    "CREATE TABLE impressions ("                                                             \
    " recommendation_id TEXT PRIMARY KEY,"                                                   \
    " user_id TEXT NOT NULL,"                                                                \
    " model TEXT NOT NULL,"                                                                  \
    " track_ids TEXT NOT NULL,"                                                              \
    " created_at BIGINT NOT NULL);"

/*
 * Version 2, event identity: interactions lose their (user, track, action, second) key, which
 * merged two plays of one track in the same second into one row, and gain an optional
 * event_id, unique when present (an idempotency key: a retried event is stored once). Rows
 * keep their ids and values, so what training reads is unchanged. SQLite cannot drop a
 * constraint: the table is rebuilt in place. User scans keep an index on (user, time).
 */
#define INTERACTION_V1_COLS \
    "id, user_id, track_id, action, weight, ms_played, occurred_at, context, recommendation_id"

static const char v2_sqlite[] =
    "CREATE TABLE interactions_v2 ("
    " id INTEGER PRIMARY KEY,"
    " user_id TEXT NOT NULL,"
    " track_id TEXT NOT NULL,"
    " action TEXT NOT NULL CHECK (action IN " ACTIONS "),"
    " weight REAL NOT NULL DEFAULT 1,"
    " ms_played BIGINT,"
    " occurred_at BIGINT NOT NULL,"
    " context TEXT,"
    " recommendation_id TEXT,"
    " event_id TEXT UNIQUE CHECK (length(CAST(event_id AS BLOB)) BETWEEN 1 AND 128));"
    "INSERT INTO interactions_v2 (" INTERACTION_V1_COLS ") SELECT " INTERACTION_V1_COLS
    " FROM interactions ORDER BY id;"
    "DROP TABLE interactions;"
    "ALTER TABLE interactions_v2 RENAME TO interactions;"
    "CREATE INDEX interactions_user ON interactions(user_id, occurred_at);"
    "CREATE INDEX interactions_recommendation ON interactions(recommendation_id)"
    " WHERE recommendation_id IS NOT NULL;";

static const char v2_pg[] =
    "ALTER TABLE interactions ADD COLUMN event_id TEXT"
    " CHECK (octet_length(event_id) BETWEEN 1 AND 128);"
    "DO $$ DECLARE c text; BEGIN"
    " FOR c IN SELECT conname FROM pg_constraint"
    " WHERE conrelid = 'interactions'::regclass AND contype = 'u' LOOP"
    " EXECUTE format('ALTER TABLE interactions DROP CONSTRAINT %I', c);"
    " END LOOP; END $$;"
    "CREATE UNIQUE INDEX interactions_event ON interactions(event_id);"
    "CREATE INDEX interactions_user ON interactions(user_id, occurred_at);";

/*
 * Version 3, the training pipeline's queue: one row per training job (claimed oldest first,
 * hence the index on (state, created_at)) and one row per scheduled run that some replica
 * claimed, so each (tier, fire time) starts once however many replicas share the database.
 */
#define JOB_STATES "('queued','running','succeeded','failed','cancelled')"

#define V3_COMMON(BOOL, FALSE)                                                               \
    "CREATE TABLE training_jobs ("                                                           \
    " job_id TEXT PRIMARY KEY,"                                                              \
    " state TEXT NOT NULL CHECK (state IN " JOB_STATES "),"                                  \
    " request TEXT NOT NULL,"                                                                \
    " owner TEXT,"                                                                           \
    " created_at BIGINT NOT NULL,"                                                           \
    " started_at BIGINT,"                                                                    \
    " finished_at BIGINT,"                                                                   \
    " heartbeat_at BIGINT,"                                                                  \
    " cancel_requested " BOOL " NOT NULL DEFAULT " FALSE ","                                 \
    " progress TEXT,"                                                                        \
    " log_tail TEXT,"                                                                        \
    " metrics TEXT,"                                                                         \
    " result TEXT,"                                                                          \
    " error TEXT);"                                                                          \
    "CREATE INDEX training_jobs_claim ON training_jobs(state, created_at);"                  \
    "CREATE TABLE schedule_runs ("                                                           \
    " tier TEXT NOT NULL,"                                                                   \
    " fire_at BIGINT NOT NULL,"                                                              \
    " job_id TEXT,"                                                                          \
    " claimed_at BIGINT NOT NULL,"                                                           \
    " PRIMARY KEY (tier, fire_at));"

/*
 * Version 4, monthly partitions (PostgreSQL only). At 20M-100M interactions one heap and its
 * indexes make every maintenance job (vacuum, reindex, dropping old months) touch all of it;
 * interactions become a table partitioned by range of occurred_at, one partition per UTC
 * month (interactions_yYYYYmMM) and interactions_default for any time no month covers yet.
 *
 * A unique index of a partitioned table must contain the partition key, so event_id can no
 * longer be unique in interactions itself: a retried /feedback without a timestamp gets a
 * new occurred_at, and (event_id, occurred_at) would take it as a new event. The keys move
 * to interaction_events (event_id -> the row's id and occurred_at), which is not partitioned
 * and which every write of an event with an id goes through in the same statement.
 *
 * Indexes are what the reads need: the primary key (id, occurred_at) serves the scans in id
 * order (the snapshot, the replicas' poll of what came after an id) and updates of one row
 * located by its event; interactions_user(user_id, occurred_at) serves a user's history.
 * interactions_recommendation is dropped: nothing in the engine reads interactions by it.
 *
 * Rows keep their ids; the sequence stays the one version 1 made. The copy runs before the
 * indexes are built. tt_interactions_month(t) makes the month partition that holds Unix
 * second @t, moving its rows out of the default partition first, and is what imports and
 * store opens call (store_pg.c); times before 1970 or after 9999 stay in the default.
 *
 * SQLite is unchanged: it has no partitioning, and its scan in rowid order is already one
 * sequential pass over one B-tree.
 */
#define V4_MONTH_FN                                                                          \
    "CREATE FUNCTION tt_interactions_month(t BIGINT) RETURNS BOOLEAN LANGUAGE plpgsql AS $f$"  \
    " DECLARE m TIMESTAMP; lo BIGINT; hi BIGINT; part TEXT;"                                 \
    " BEGIN"                                                                                 \
    " IF t IS NULL OR t < 0 OR t >= 253402300800 THEN RETURN false; END IF;"                 \
    " m := date_trunc('month', to_timestamp(t) AT TIME ZONE 'UTC');"                         \
    " part := 'interactions_' || to_char(m, '\"y\"YYYY\"m\"MM');"                            \
    " IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;"                           \
    " PERFORM pg_advisory_xact_lock(hashtext(part));"                                        \
    " IF to_regclass(part) IS NOT NULL THEN RETURN false; END IF;"                           \
    " lo := extract(epoch FROM m)::BIGINT;"                                                  \
    " hi := extract(epoch FROM m + interval '1 month')::BIGINT;"                             \
    " EXECUTE format('CREATE TABLE %I (LIKE interactions INCLUDING DEFAULTS"                 \
    " INCLUDING CONSTRAINTS, CONSTRAINT %I CHECK (occurred_at >= %s AND occurred_at < %s))',"  \
    " part, part || '_range', lo, hi);"                                                      \
    " EXECUTE format('WITH moved AS (DELETE FROM interactions_default"                       \
    " WHERE occurred_at >= %s AND occurred_at < %s RETURNING *)"                             \
    " INSERT INTO %I SELECT * FROM moved ORDER BY id', lo, hi, part);"                       \
    " EXECUTE format('ALTER TABLE interactions ATTACH PARTITION %I"                          \
    " FOR VALUES FROM (%s) TO (%s)', part, lo, hi);"                                         \
    " RETURN true;"                                                                          \
    " END $f$;"

static const char v4_pg[] =
    "DROP INDEX IF EXISTS interactions_user;"
    "DROP INDEX IF EXISTS interactions_recommendation;"
    "DROP INDEX IF EXISTS interactions_event;"
    "ALTER TABLE interactions RENAME TO interactions_v3;"
    "ALTER INDEX IF EXISTS interactions_pkey RENAME TO interactions_v3_pkey;"
    "CREATE TABLE interactions ("
    " id BIGINT NOT NULL DEFAULT nextval('interactions_id_seq'),"
    " user_id TEXT NOT NULL,"
    " track_id TEXT NOT NULL,"
    " action TEXT NOT NULL CHECK (action IN " ACTIONS "),"
    " weight REAL NOT NULL DEFAULT 1,"
    " ms_played BIGINT,"
    " occurred_at BIGINT NOT NULL,"
    " context TEXT,"
    " recommendation_id TEXT,"
    " event_id TEXT CHECK (octet_length(event_id) BETWEEN 1 AND 128))"
    " PARTITION BY RANGE (occurred_at);"
    "ALTER SEQUENCE interactions_id_seq OWNED BY interactions.id;"
    "CREATE TABLE interactions_default PARTITION OF interactions DEFAULT;"
    V4_MONTH_FN
    "SELECT tt_interactions_month(m) FROM (SELECT DISTINCT extract(epoch FROM"
    " date_trunc('month', to_timestamp(occurred_at) AT TIME ZONE 'UTC'))::BIGINT AS m"
    " FROM interactions_v3 WHERE occurred_at >= 0 AND occurred_at < 253402300800) months;"
    "INSERT INTO interactions (id, user_id, track_id, action, weight, ms_played, occurred_at,"
    " context, recommendation_id, event_id) SELECT id, user_id, track_id, action, weight,"
    " ms_played, occurred_at, context, recommendation_id, event_id FROM interactions_v3"
    " ORDER BY id;"
    "CREATE TABLE interaction_events ("
    " event_id TEXT COLLATE \"C\" PRIMARY KEY,"
    " id BIGINT NOT NULL,"
    " occurred_at BIGINT NOT NULL);"
    "INSERT INTO interaction_events SELECT event_id, id, occurred_at FROM interactions_v3"
    " WHERE event_id IS NOT NULL;"
    "DROP TABLE interactions_v3;"
    "ALTER TABLE interactions ADD PRIMARY KEY (id, occurred_at);"
    "CREATE INDEX interactions_user ON interactions(user_id, occurred_at);"
    "ANALYZE interactions; ANALYZE interaction_events;";

/*
 * Version 5, what a training snapshot's cache of the interaction log checks the store against
 * (src/store/logcache.c). store_meta is one row: a random id made once per database (a cache
 * is only used with the database it was read from), and interaction_rewrites, a counter that
 * every transaction which updates or deletes interactions moves on. New rows only append
 * (ids grow), so a cache read up to some id stays right until the counter moves: an import
 * that upserts an event_id again, a row moved between month partitions, a manual DELETE.
 *
 * The counter moves once per transaction, not once per row, on PostgreSQL: a row trigger that
 * updated the meta row for each of a million rewritten rows would leave a million versions of
 * it in the transaction, each found by a scan past the previous ones. The first firing in a
 * transaction bumps it and notes the transaction in a transaction-local setting; the others
 * only read the setting. Row triggers of a partitioned table are cloned to every partition,
 * also to those attached later (tt_interactions_month). TRUNCATE fires no row trigger and has
 * its own. SQLite updates the row in place, a few microseconds a row, so its triggers are
 * plain; they also fire for an upsert's DO UPDATE.
 */
#define V5_META(ID)                                                                          \
    "CREATE TABLE store_meta ("                                                              \
    " id INTEGER PRIMARY KEY CHECK (id = 1),"                                                \
    " store_id TEXT NOT NULL,"                                                               \
    " interaction_rewrites BIGINT NOT NULL DEFAULT 0);"                                      \
    "INSERT INTO store_meta (id, store_id) VALUES (1, " ID ");"

#define V5_SQLITE_BUMP "UPDATE store_meta SET interaction_rewrites = interaction_rewrites + 1;"

static const char v5_sqlite[] =
    V5_META("lower(hex(randomblob(16)))")
    "CREATE TRIGGER interactions_rewritten AFTER UPDATE ON interactions"
    " BEGIN " V5_SQLITE_BUMP " END;"
    "CREATE TRIGGER interactions_deleted AFTER DELETE ON interactions"
    " BEGIN " V5_SQLITE_BUMP " END;";

static const char v5_pg[] =
    V5_META("replace(gen_random_uuid()::text, '-', '')")
    "CREATE FUNCTION tt_interactions_rewritten() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN"
    " IF current_setting('tt.rewrite_xact', true) IS DISTINCT FROM txid_current()::text THEN"
    " UPDATE store_meta SET interaction_rewrites = interaction_rewrites + 1;"
    " PERFORM set_config('tt.rewrite_xact', txid_current()::text, true);"
    " END IF;"
    " RETURN NULL;"
    " END $f$;"
    "CREATE TRIGGER interactions_rewritten AFTER UPDATE OR DELETE ON interactions"
    " FOR EACH ROW EXECUTE FUNCTION tt_interactions_rewritten();"
    "CREATE TRIGGER interactions_truncated AFTER TRUNCATE ON interactions"
    " FOR EACH STATEMENT EXECUTE FUNCTION tt_interactions_rewritten();";

const struct tt__migration tt__migrations[] = {
    {1, "tables for artists, tracks, users, interactions, impressions",
     V1_COMMON("BLOB", "INTEGER PRIMARY KEY"), V1_COMMON("BYTEA", "BIGSERIAL PRIMARY KEY")},
    {2, "event identity: every event kept, event_id stored once", v2_sqlite, v2_pg},
    {3, "training jobs and scheduled runs", V3_COMMON("INTEGER", "0"),
     V3_COMMON("BOOLEAN", "false")},
    {4, "interactions partitioned by month in PostgreSQL, event ids kept apart", "", v4_pg},
    {5, "store identity and a counter of rewritten interactions", v5_sqlite, v5_pg},
};
const int tt__n_migrations = (int)(sizeof(tt__migrations) / sizeof(tt__migrations[0]));

bool tt__store_table_ok(const char *table)
{
    static const char *ok[] = {"artists",     "tracks",       "users",
                               "interactions", "impressions", "training_jobs"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(table, ok[i]) == 0)
            return true;
    return false;
}
