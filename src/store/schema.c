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

const struct tt__migration tt__migrations[] = {
    {1, "tables for artists, tracks, users, interactions, impressions",
     V1_COMMON("BLOB", "INTEGER PRIMARY KEY"), V1_COMMON("BYTEA", "BIGSERIAL PRIMARY KEY")},
    {2, "event identity: every event kept, event_id stored once", v2_sqlite, v2_pg},
    {3, "training jobs and scheduled runs", V3_COMMON("INTEGER", "0"),
     V3_COMMON("BOOLEAN", "false")},
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
