/*
 * PostgreSQL backend, through libpq. Behaves as the SQLite backend does (same upserts, same
 * NULL conventions, same errors); what differs is how rows travel.
 *
 * Bulk writes: a round trip per row would cap an import at a few thousand rows a second, so
 * put_* only append a line of COPY text to a per-table buffer. Full buffers stream with COPY
 * into TEMP staging tables (one COPY stays open while the same table keeps arriving, so the
 * server parses while we format). Every MERGE_ROWS rows, and at commit, a staging table is
 * merged into its real table with one INSERT ... SELECT (see enum merge_level). A key put
 * twice ends as SQLite leaves it: the last put's values at the first put's position (and,
 * for users, the first put's created_at, which SQLite's upsert never overwrites).
 * Scans and counts inside a transaction merge first, so a connection sees its own writes.
 *
 * Reads: the full interaction scan (the training snapshot) is one binary COPY, decoded in
 * place as rows arrive (pg_copy.c). Other scans run a cursor and FETCH a batch at a time, so
 * a 10M-row table streams through a bounded buffer; values are parsed in place from libpq's
 * text results, without per-row allocation.
 */
#include "store_pg.h"
#include "tt/core.h"

#include <errno.h>
#include <libpq-fe.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per FETCH: about a megabyte of interactions, few enough round trips to not matter. */
#define SCAN_BATCH 10000
/* Buffered COPY text per staging table before it is sent. */
#define STAGE_FLUSH (256 * 1024)
/*
 * Staged rows per merge. Merging in chunks keeps each merge's sort in memory and the
 * staging table small; the outcome is the same as one merge, since a later chunk's upsert
 * updates an earlier chunk's row in place, as SQLite's row-by-row upsert does.
 */
#define MERGE_ROWS 100000
/* How long making a month partition waits for the default partition's lock. */
#define PARTITION_LOCK_WAIT "1000"
/* pg_advisory_xact_lock key serialising migrations across processes ("ttschema"). */
#define MIGRATION_LOCK "7378790442478167405"

enum stage_id { SG_ARTISTS, SG_TRACKS, SG_USERS, SG_INTERACTIONS, SG_COUNT };

struct buf {
    char *p;
    size_t len, cap;
};

struct stage {
    struct buf rows; /* COPY text not yet sent */
    int64_t staged;  /* rows in the staging table or buffer, not merged yet */
    int level;       /* enum merge_level this transaction has needed so far */
};

struct pg {
    PGconn *conn;
    PGconn *side;       /* makes month partitions outside the caller's transaction, or NULL */
    char *url;
    bool months_blocked; /* a month partition could not be made in this transaction */
    bool in_tx;
    bool staging_ready; /* the staging tables exist in the current transaction */
    bool log_locked;    /* this transaction holds ROW EXCLUSIVE on interactions */
    bool prepared;      /* single-row statements prepared on this connection */
    int copying;        /* stage whose COPY is open, or -1 */
    int64_t seq;        /* staged rows in this transaction: orders the merge */
    int scan_depth;     /* nested scans each need their own cursor name */
    struct stage sg[SG_COUNT];
    struct buf emb;     /* decoded embedding of the track being scanned */
    int budget_ms;      /* bound on waits for the server, 0 for none (tt_store_set_budget) */
    bool pending;       /* a statement whose answer we stopped waiting for */
    int found_version;  /* schema version before this connection's migrations */
};

#define INTERACTION_COLS                                                                           \
    "user_id, track_id, action, weight, ms_played, occurred_at, context, recommendation_id,"      \
    " event_id"
#define TRACK_COLS                                                                                 \
    "track_id, title, artist_id, artist, album, genres, duration_ms, release_year,"                \
    " danceability, energy, valence, tempo, acousticness, instrumentalness, speechiness,"          \
    " liveness, loudness, key, mode, embedding"
#define ARTIST_COLS "artist_id, name, genres, updated_at"
#define USER_COLS "user_id, plan_tier, favorite_genres, created_at"

/* The key columns sort in "C" collation: bytewise compares make the merge's sort cheap. */
#define CREATE_STAGING                                                                             \
    "CREATE TEMP TABLE IF NOT EXISTS tt_stage_artists (seq BIGINT,"                                \
    " artist_id TEXT COLLATE \"C\", name TEXT, genres TEXT, updated_at BIGINT)"                    \
    " ON COMMIT DELETE ROWS;"                                                                      \
    "CREATE TEMP TABLE IF NOT EXISTS tt_stage_tracks (seq BIGINT, track_id TEXT COLLATE \"C\","    \
    " title TEXT, artist_id TEXT, artist TEXT, album TEXT, genres TEXT, duration_ms INTEGER,"      \
    " release_year INTEGER, danceability REAL, energy REAL, valence REAL, tempo REAL,"             \
    " acousticness REAL, instrumentalness REAL, speechiness REAL, liveness REAL,"                  \
    " loudness REAL, key INTEGER, mode INTEGER, embedding BYTEA, updated_at BIGINT)"               \
    " ON COMMIT DELETE ROWS;"                                                                      \
    "CREATE TEMP TABLE IF NOT EXISTS tt_stage_users (seq BIGINT, user_id TEXT COLLATE \"C\","      \
    " plan_tier TEXT, favorite_genres TEXT, created_at BIGINT) ON COMMIT DELETE ROWS;"             \
    "CREATE TEMP TABLE IF NOT EXISTS tt_stage_interactions (seq BIGINT,"                           \
    " user_id TEXT COLLATE \"C\", track_id TEXT COLLATE \"C\", action TEXT COLLATE \"C\","         \
    " weight REAL, ms_played BIGINT, occurred_at BIGINT, context TEXT,"                            \
    " recommendation_id TEXT, event_id TEXT COLLATE \"C\","                                        \
    " id BIGINT DEFAULT nextval('interactions_id_seq')) ON COMMIT DELETE ROWS"

/* Over all staged rows of one key, newest first: DISTINCT ON keeps the newest row. */
#define LATEST_FIRST(key)                                                                          \
    " OVER (PARTITION BY " key " ORDER BY seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND"           \
    " UNBOUNDED FOLLOWING)"
#define ARTIST_UPDATE                                                                              \
    " ON CONFLICT (artist_id) DO UPDATE SET name = EXCLUDED.name, genres = EXCLUDED.genres,"       \
    " updated_at = EXCLUDED.updated_at"
#define TRACK_UPDATE                                                                               \
    " ON CONFLICT (track_id) DO UPDATE SET title = EXCLUDED.title,"                                \
    " artist_id = EXCLUDED.artist_id, artist = EXCLUDED.artist, album = EXCLUDED.album,"           \
    " genres = EXCLUDED.genres, duration_ms = EXCLUDED.duration_ms,"                               \
    " release_year = EXCLUDED.release_year, danceability = EXCLUDED.danceability,"                 \
    " energy = EXCLUDED.energy, valence = EXCLUDED.valence, tempo = EXCLUDED.tempo,"               \
    " acousticness = EXCLUDED.acousticness, instrumentalness = EXCLUDED.instrumentalness,"         \
    " speechiness = EXCLUDED.speechiness, liveness = EXCLUDED.liveness,"                           \
    " loudness = EXCLUDED.loudness, key = EXCLUDED.key, mode = EXCLUDED.mode,"                     \
    " embedding = EXCLUDED.embedding, updated_at = EXCLUDED.updated_at"
/* As SQLite's upsert: a user's created_at is the first one ever put. */
#define USER_UPDATE                                                                                \
    " ON CONFLICT (user_id) DO UPDATE SET plan_tier = EXCLUDED.plan_tier,"                         \
    " favorite_genres = EXCLUDED.favorite_genres"
/*
 * Interactions (schema.c, version 4): event ids are unique through interaction_events, which
 * maps each to its row's (id, occurred_at), the partitioned table's key. A staged row takes
 * its id as the COPY stores it (the staging table's default), so ids follow the puts' order.
 * The plain merge registers the chunk's event ids, then inserts its rows; a key already
 * registered (or twice in the chunk) fails it with a unique violation, and the general merge
 * runs: each known event's row is updated in place from the chunk's last put of it (moving
 * partition when its month changes), new events are registered with their first put's id,
 * then the rows are inserted, an event put twice at its first put's id with its last put's
 * values. Rows without an event_id never conflict: every one is an event of its own.
 */
#define INTERACTION_INSERT                                                                         \
    "INSERT INTO interaction_events (event_id, id, occurred_at) SELECT event_id, id,"              \
    " occurred_at FROM tt_stage_interactions WHERE event_id IS NOT NULL;"                          \
    "INSERT INTO interactions (id, " INTERACTION_COLS ") SELECT id, " INTERACTION_COLS             \
    " FROM tt_stage_interactions"
#define STAGED_LAST_PUT                                                                            \
    "(SELECT DISTINCT ON (event_id) * FROM tt_stage_interactions WHERE event_id IS NOT NULL"       \
    " ORDER BY event_id, seq DESC)"
#define STAGED_COLS                                                                                \
    "t.user_id, t.track_id, t.action, t.weight, t.ms_played, t.occurred_at, t.context,"            \
    " t.recommendation_id, t.event_id"
#define INTERACTION_MERGE                                                                          \
    "UPDATE interactions i SET user_id = t.user_id, track_id = t.track_id, action = t.action,"     \
    " weight = t.weight, ms_played = t.ms_played, occurred_at = t.occurred_at,"                    \
    " context = t.context, recommendation_id = t.recommendation_id"                                \
    " FROM " STAGED_LAST_PUT " t, interaction_events e WHERE e.event_id = t.event_id"              \
    " AND i.id = e.id AND i.occurred_at = e.occurred_at;"                                          \
    "UPDATE interaction_events e SET occurred_at = t.occurred_at FROM " STAGED_LAST_PUT " t"        \
    " WHERE e.event_id = t.event_id AND e.occurred_at <> t.occurred_at;"                           \
    "INSERT INTO interaction_events (event_id, id, occurred_at) SELECT DISTINCT ON (event_id)"     \
    " event_id, min(id) OVER (PARTITION BY event_id), occurred_at FROM tt_stage_interactions t"    \
    " WHERE event_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM interaction_events e"               \
    " WHERE e.event_id = t.event_id) ORDER BY event_id, seq DESC;"                                 \
    "INSERT INTO interactions (id, " INTERACTION_COLS ") SELECT id, " INTERACTION_COLS " FROM"     \
    " (SELECT id, " INTERACTION_COLS " FROM tt_stage_interactions WHERE event_id IS NULL"          \
    " UNION ALL SELECT e.id, " STAGED_COLS " FROM " STAGED_LAST_PUT " t JOIN interaction_events e" \
    " ON e.event_id = t.event_id WHERE e.id IN (SELECT id FROM tt_stage_interactions)) x"          \
    " ORDER BY id"

/* The months of staged interactions that have no partition yet (see months_make). */
#define STAGED_MONTHS                                                                              \
    "SELECT extract(epoch FROM m)::BIGINT FROM (SELECT DISTINCT date_trunc('month',"               \
    " to_timestamp(occurred_at) AT TIME ZONE 'UTC') AS m FROM tt_stage_interactions"               \
    " WHERE occurred_at >= 0 AND occurred_at < 253402300800) d"                                    \
    " WHERE to_regclass('interactions_' || to_char(m, '\"y\"YYYY\"m\"MM')) IS NULL"

/*
 * How a chunk of staged rows reaches its table. A plain INSERT is the cheapest (an upsert
 * costs a third more: an extra index probe per row); it fails (unique violation) when a key
 * is already in the table, and the upsert runs instead. The upsert in turn fails
 * (cardinality violation) when a key appears twice in the chunk, and the deduplicating
 * upsert runs. A transaction that needed a level keeps it for its later chunks.
 */
enum merge_level { MERGE_INSERT, MERGE_UPSERT, MERGE_DEDUPE, MERGE_LEVELS };

/* The SQLSTATE that moves a merge from each level to the next. */
static const char *const merge_escalate[MERGE_DEDUPE] = {"23505", "21000"};

/* Per staging table: the COPY that fills it and its merges, by level. */
static const struct {
    const char *copy;
    const char *merge[MERGE_LEVELS];
    const char *table;
} stages[SG_COUNT] = {
    [SG_ARTISTS] =
        {
            "COPY tt_stage_artists (seq, " ARTIST_COLS ") FROM STDIN",
            {"INSERT INTO artists (" ARTIST_COLS ") SELECT " ARTIST_COLS " FROM tt_stage_artists",
             "INSERT INTO artists (" ARTIST_COLS ") SELECT " ARTIST_COLS
             " FROM tt_stage_artists" ARTIST_UPDATE,
             "INSERT INTO artists (" ARTIST_COLS ") SELECT DISTINCT ON (artist_id) " ARTIST_COLS
             " FROM tt_stage_artists ORDER BY artist_id, seq DESC" ARTIST_UPDATE},
            "tt_stage_artists",
        },
    [SG_TRACKS] =
        {
            "COPY tt_stage_tracks (seq, " TRACK_COLS ", updated_at) FROM STDIN",
            {"INSERT INTO tracks (" TRACK_COLS ", updated_at) SELECT " TRACK_COLS ", updated_at"
             " FROM tt_stage_tracks",
             "INSERT INTO tracks (" TRACK_COLS ", updated_at) SELECT " TRACK_COLS ", updated_at"
             " FROM tt_stage_tracks" TRACK_UPDATE,
             "INSERT INTO tracks (" TRACK_COLS
             ", updated_at) SELECT DISTINCT ON (track_id) " TRACK_COLS
             ", updated_at FROM tt_stage_tracks ORDER BY track_id, seq DESC" TRACK_UPDATE},
            "tt_stage_tracks",
        },
    [SG_USERS] =
        {
            "COPY tt_stage_users (seq, " USER_COLS ") FROM STDIN",
            {"INSERT INTO users (" USER_COLS ") SELECT " USER_COLS " FROM tt_stage_users",
             "INSERT INTO users (" USER_COLS ") SELECT " USER_COLS
             " FROM tt_stage_users" USER_UPDATE,
             "INSERT INTO users (" USER_COLS ") SELECT DISTINCT ON (user_id) user_id, plan_tier,"
             " favorite_genres, last_value(created_at)" LATEST_FIRST(
                 "user_id") " FROM tt_stage_users ORDER BY user_id, seq DESC" USER_UPDATE},
            "tt_stage_users",
        },
    [SG_INTERACTIONS] =
        {
            "COPY tt_stage_interactions (seq, " INTERACTION_COLS ") FROM STDIN",
            {INTERACTION_INSERT, INTERACTION_MERGE, INTERACTION_MERGE},
            "tt_stage_interactions",
        },
};

static const char *const prepared_sql[][2] = {
    /* A retried event (same event_id) is the same event: the first write stands. */
    /* Its key is registered first, in the same statement (see INTERACTION_MERGE). */
    {"tt_feedback",
     "WITH n AS (SELECT nextval('interactions_id_seq') AS id),"
     " k AS (INSERT INTO interaction_events (event_id, id, occurred_at)"
     " SELECT $9::text, n.id, $6::bigint FROM n WHERE $9::text IS NOT NULL"
     " ON CONFLICT (event_id) DO NOTHING RETURNING 1)"
     " INSERT INTO interactions (id, " INTERACTION_COLS ")"
     " SELECT n.id, $1::text, $2::text, $3::text, $4::real, $5::bigint, $6::bigint, $7::text,"
     " $8::text, $9::text FROM n WHERE $9::text IS NULL OR EXISTS (SELECT 1 FROM k)"
     " RETURNING id"},
    {"tt_impression", "INSERT INTO impressions (recommendation_id, user_id, model, track_ids,"
                      " created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (recommendation_id)"
                      " DO UPDATE SET user_id = EXCLUDED.user_id, model = EXCLUDED.model,"
                      " track_ids = EXCLUDED.track_ids, created_at = EXCLUDED.created_at"},
};

/* ---- errors and plain statements ---------------------------------------------------- */

/*
 * The engine's code for a failure: a lost connection is TT_EBACKEND; a statement or lock
 * timeout is the database over its budget (TT_EDBBUSY); a value the server refuses (data
 * exceptions, constraint violations: SQLSTATE classes 22 and 23) is the caller's (TT_EINVAL);
 * anything else the server refused is TT_EIO.
 */
static int pg_code(struct pg *p, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

    if (PQstatus(p->conn) == CONNECTION_BAD)
        return TT_EBACKEND;
    if (!state)
        return TT_EIO;
    if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0)
        return TT_EDBBUSY;
    if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
        return TT_EINVAL;
    return TT_EIO;
}

/* Records why @res (or the connection, when @res is NULL) failed; see pg_code. */
static int pg_fail(struct pg *p, const PGresult *res, tt_err *err, const char *what)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    int code = pg_code(p, res);
    size_t n;

    if (!msg || !*msg)
        msg = res ? PQresultErrorMessage(res) : "";
    if (!*msg)
        msg = PQerrorMessage(p->conn);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    return tt_err_set(err, code, "postgresql %s: %.*s", what, (int)n, n ? msg : "unknown error");
}

/* Checks and frees @res: 0 when it carries @want, else the error. */
static int pg_check(struct pg *p, PGresult *res, ExecStatusType want, tt_err *err, const char *what)
{
    int rc = 0;

    if (PQresultStatus(res) != want)
        rc = pg_fail(p, res, err, what);
    PQclear(res);
    return rc;
}

static int pg_exec(struct pg *p, const char *sql, tt_err *err, const char *what)
{
    return pg_check(p, PQexec(p->conn, sql), PGRES_COMMAND_OK, err, what);
}

/* Runs a query expected to return one value, copied into @out (@cap bytes). */
static int pg_query_value(struct pg *p, const char *sql, char *out, size_t cap, tt_err *err,
                          const char *what)
{
    PGresult *res = PQexec(p->conn, sql);
    int rc = 0;

    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 1)
        rc = PQresultStatus(res) == PGRES_TUPLES_OK
                 ? tt_err_set(err, TT_EIO, "postgresql %s: unexpected result", what)
                 : pg_fail(p, res, err, what);
    else
        snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

/* ---- COPY text formatting -------------------------------------------------------------- */

static void buf_add(struct buf *b, const char *s, size_t n)
{
    TT_GROW(b->p, b->cap, b->len + n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static size_t fmt_i64(char *out, int64_t v)
{
    char tmp[24];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    size_t n = 0, len = 0;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = tmp[--n];
    out[len] = '\0';
    return len;
}

/* Shortest text that reads back as the same float; integral weights skip printf. */
static size_t fmt_f32(char *out, float v)
{
    if (v == truncf(v) && fabsf(v) < 1e9f)
        return fmt_i64(out, (int64_t)v);
    return (size_t)snprintf(out, 32, "%.9g", (double)v);
}

/* Length of the well-formed UTF-8 sequence at @s (as PostgreSQL accepts it), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0], lo = 0x80, hi = 0xbf;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/*
 * Appends @s as one COPY text field and its tab, NULL as \N. Returns -1 for text that is
 * not UTF-8, which the server would refuse for the whole batch much later.
 */
static int col_text(struct buf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    if (!s) {
        buf_add(b, "\\N\t", 3);
        return 0;
    }
    TT_GROW(b->p, b->cap, b->len + 2 * strlen(s) + 1);
    while (*u) {
        size_t n = utf8_len(u);
        char esc = *u == '\\' ? '\\' : *u == '\t' ? 't' : *u == '\n' ? 'n' : *u == '\r' ? 'r' : 0;

        if (n == 0)
            return -1;
        if (esc) {
            b->p[b->len++] = '\\';
            b->p[b->len++] = esc;
        } else {
            memcpy(b->p + b->len, u, n);
            b->len += n;
        }
        u += n;
    }
    b->p[b->len++] = '\t';
    return 0;
}

static void col_i64(struct buf *b, int64_t v, bool null)
{
    char tmp[32];
    size_t n;

    if (null) {
        buf_add(b, "\\N\t", 3);
        return;
    }
    n = fmt_i64(tmp, v);
    tmp[n++] = '\t';
    buf_add(b, tmp, n);
}

static void col_f32(struct buf *b, float v)
{
    char tmp[40];
    size_t n;

    if (isnan(v)) {
        buf_add(b, "\\N\t", 3);
        return;
    }
    n = fmt_f32(tmp, v);
    tmp[n++] = '\t';
    buf_add(b, tmp, n);
}

/* BYTEA in hex form, little-endian float32 whatever the host's byte order. */
static void col_embedding(struct buf *b, const float *v, int dim)
{
    static const char hex[] = "0123456789abcdef";

    if (!v || dim <= 0) {
        buf_add(b, "\\N\t", 3);
        return;
    }
    TT_GROW(b->p, b->cap, b->len + 4 + 8 * (size_t)dim);
    b->p[b->len++] = '\\';
    b->p[b->len++] = '\\';
    b->p[b->len++] = 'x';
    for (int i = 0; i < dim; i++) {
        uint32_t w;
        memcpy(&w, &v[i], 4);
        for (int k = 0; k < 4; k++, w >>= 8) {
            b->p[b->len++] = hex[(w >> 4) & 0xf];
            b->p[b->len++] = hex[w & 0xf];
        }
    }
    b->p[b->len++] = '\t';
}

/* ---- month partitions ----------------------------------------------------------------- */

static PGconn *pg_connect(const char *url);

/*
 * Makes the month partition of Unix second @month on the side connection: its own short
 * transaction, waiting at most PARTITION_LOCK_WAIT for the default partition. Run on the
 * main connection, the DDL's locks (the default partition's exclusive one among them) would
 * last until the caller's import commits, and every reader of interactions would wait for
 * it; from the side they last a moment. When the lock cannot be had (a transaction still
 * writes to or reads the default partition, possibly our own) the rows go to the default
 * partition, where reads find them as well.
 */
static void month_make(struct pg *p, const char *month)
{
    PGresult *res;

    if (!p->side || PQstatus(p->side) != CONNECTION_OK) {
        PQfinish(p->side);
        p->side = pg_connect(p->url);
        res = PQexec(p->side, "SET lock_timeout = " PARTITION_LOCK_WAIT
                              "; SET client_min_messages = warning");
        PQclear(res);
    }
    res = PQexecParams(p->side, "SELECT tt_interactions_month($1::bigint)", 1, NULL, &month, NULL,
                       NULL, 0);
    /* What blocked it (likely this transaction's own writes) lasts until the commit. */
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        p->months_blocked = p->in_tx;
        tt_debug("postgresql: no partition for the month of %s yet: %s", month,
                 PQerrorMessage(p->side));
    }
    PQclear(res);
}

/* Partitions for the months of the staged interactions that have none. */
static int months_for_staged(struct pg *p, tt_err *err)
{
    PGresult *res;
    int rc = 0;

    if (p->months_blocked)
        return 0;
    res = PQexec(p->conn, STAGED_MONTHS);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        rc = pg_fail(p, res, err, "partition");
    for (int i = 0; rc == 0 && !p->months_blocked && i < PQntuples(res); i++)
        month_make(p, PQgetvalue(res, i, 0));
    PQclear(res);
    return rc;
}

/*
 * This month's and next month's partitions, so that feedback (one row a statement, which
 * makes no partitions) lands in its month rather than the default partition. Cheap when they
 * exist, which is every open but the first of a month; best effort like month_make.
 */
static void months_ahead(struct pg *p)
{
    PGresult *res = PQexec(p->conn, "BEGIN; SET LOCAL lock_timeout = " PARTITION_LOCK_WAIT ";"
                                    " SELECT tt_interactions_month(extract(epoch FROM now())"
                                    "::BIGINT), tt_interactions_month(extract(epoch FROM now()"
                                    " + interval '1 month')::BIGINT)");
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

    if (!ok)
        tt_debug("postgresql: no partitions made ahead: %s", PQerrorMessage(p->conn));
    PQclear(res);
    PQclear(PQexec(p->conn, ok ? "COMMIT" : "ROLLBACK"));
}

/* ---- staging ------------------------------------------------------------------------- */

/* Finishes the open COPY, if any; the server reports bad rows here. */
static int copy_end(struct pg *p, tt_err *err)
{
    PGresult *res;
    int rc = 0;

    if (p->copying < 0)
        return 0;
    p->copying = -1;
    if (PQputCopyEnd(p->conn, NULL) != 1)
        rc = pg_fail(p, NULL, err, "copy");
    while ((res = PQgetResult(p->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_fail(p, res, err, "copy");
        PQclear(res);
    }
    return rc;
}

static int copy_start(struct pg *p, int sg, tt_err *err)
{
    int rc;

    if (p->copying == sg)
        return 0;
    rc = copy_end(p, err);
    if (rc == 0 && !p->staging_ready) {
        rc = pg_exec(p, CREATE_STAGING, err, "create staging tables");
        p->staging_ready = rc == 0;
    }
    /*
     * Staged interactions take their ids now, from the sequence: the table's lock comes
     * first, so that a snapshot's SHARE lock waits for them (store_pg_log.c). ONLY the
     * partitioned table: locking its partitions too would keep months_make from the default
     * partition until the import ends.
     */
    if (rc == 0 && sg == SG_INTERACTIONS && !p->log_locked) {
        rc = pg_exec(p, "LOCK TABLE ONLY interactions IN ROW EXCLUSIVE MODE", err, "lock");
        p->log_locked = rc == 0;
    }
    if (rc < 0)
        return rc;
    rc = pg_check(p, PQexec(p->conn, stages[sg].copy), PGRES_COPY_IN, err, "copy");
    if (rc == 0)
        p->copying = sg;
    return rc;
}

/* Sends the buffered rows of stage @sg to its staging table. */
static int stage_send(struct pg *p, int sg, tt_err *err)
{
    struct stage *s = &p->sg[sg];
    int rc;

    if (s->rows.len == 0)
        return 0;
    rc = copy_start(p, sg, err);
    if (rc < 0)
        return rc;
    if (PQputCopyData(p->conn, s->rows.p, (int)s->rows.len) != 1)
        return pg_fail(p, NULL, err, "copy");
    s->rows.len = 0;
    return 0;
}

/*
 * Runs stage @sg's merge at its current level, under a savepoint so that a failure that
 * calls for the next level leaves the transaction usable. Returns 1 when the merge must run
 * again one level up.
 */
static int merge_try(struct pg *p, int sg, tt_err *err)
{
    struct stage *s = &p->sg[sg];
    const char *state;
    PGresult *res;
    int rc;

    if (s->level == MERGE_DEDUPE)
        return pg_exec(p, stages[sg].merge[MERGE_DEDUPE], err, "merge");
    rc = pg_exec(p, "SAVEPOINT tt_merge", err, "merge");
    if (rc < 0)
        return rc;
    res = PQexec(p->conn, stages[sg].merge[s->level]);
    if (PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        return pg_exec(p, "RELEASE SAVEPOINT tt_merge", err, "merge");
    }
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (!state || strcmp(state, merge_escalate[s->level]) != 0)
        return pg_check(p, res, PGRES_COMMAND_OK, err, "merge");
    PQclear(res);
    s->level++;
    rc = pg_exec(p, "ROLLBACK TO SAVEPOINT tt_merge; RELEASE SAVEPOINT tt_merge", err, "merge");
    return rc < 0 ? rc : 1;
}

static int merge_run(struct pg *p, int sg, tt_err *err)
{
    int rc;

    while ((rc = merge_try(p, sg, err)) == 1)
        ;
    return rc;
}

/*
 * Moves the rows staged for @sg into the real table and empties the staging table (unless
 * the transaction is about to commit, which empties it anyway). Leaves the transaction open.
 */
static int merge_stage(struct pg *p, int sg, bool committing, tt_err *err)
{
    char sql[64];
    int rc;

    if (p->sg[sg].staged == 0)
        return 0;
    rc = stage_send(p, sg, err);
    if (rc == 0)
        rc = copy_end(p, err);
    if (rc == 0 && sg == SG_INTERACTIONS)
        rc = months_for_staged(p, err);
    if (rc == 0)
        rc = merge_run(p, sg, err);
    snprintf(sql, sizeof(sql), "TRUNCATE %s", stages[sg].table);
    if (rc == 0 && !committing)
        rc = pg_exec(p, sql, err, "merge");
    if (rc == 0)
        p->sg[sg].staged = 0;
    return rc;
}

static int stage_merge(struct pg *p, bool committing, tt_err *err)
{
    int rc = 0;

    for (int i = 0; rc == 0 && i < SG_COUNT; i++)
        rc = merge_stage(p, i, committing, err);
    return rc < 0 ? rc : copy_end(p, err);
}

/* Starts a row of stage @sg: the sequence number that orders the merge. */
static struct buf *row_begin(struct pg *p, int sg, size_t *mark)
{
    struct buf *b = &p->sg[sg].rows;

    *mark = b->len;
    col_i64(b, ++p->seq, false);
    return b;
}

/* Ends the row begun at @mark (tab -> newline), or drops it when @bad names a bad field. */
static int row_end(struct pg *p, int sg, size_t mark, const char *bad, tt_err *err)
{
    struct buf *b = &p->sg[sg].rows;

    if (bad) {
        b->len = mark;
        return tt_err_set_field(err, TT_EINVAL, bad, "%s is not valid UTF-8", bad);
    }
    b->p[b->len - 1] = '\n';
    if (++p->sg[sg].staged >= MERGE_ROWS)
        return merge_stage(p, sg, false, err);
    return b->len >= STAGE_FLUSH ? stage_send(p, sg, err) : 0;
}

static void stage_reset(struct pg *p)
{
    for (int i = 0; i < SG_COUNT; i++) {
        p->sg[i].rows.len = 0;
        p->sg[i].staged = 0;
        p->sg[i].level = MERGE_INSERT;
    }
    p->seq = 0;
    p->staging_ready = false;
    p->log_locked = false;
    p->months_blocked = false;
}

/* ---- connection -------------------------------------------------------------------- */

static void pg_notice(void *arg, const char *msg)
{
    size_t n = strlen(msg);

    (void)arg;
    while (n > 0 && msg[n - 1] == '\n')
        n--;
    tt_debug("postgresql: %.*s", (int)n, msg);
}

/* The budget as the server's own statement and lock timeouts (0: none). */
static int pg_timeouts(struct pg *p, tt_err *err)
{
    char sql[96];

    snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET lock_timeout = %d", p->budget_ms,
             p->budget_ms);
    return pg_exec(p, sql, err, "session setup");
}

/*
 * Per-session settings our parsing relies on (hex BYTEA, shortest exact floats), whatever
 * the server's defaults. Feedback must be durable at return, so a server configured with
 * synchronous_commit=off gets it back on for this session.
 */
static int pg_session(struct pg *p, tt_err *err)
{
    char sync[32];
    int rc;

    PQsetNoticeProcessor(p->conn, pg_notice, NULL);
    p->prepared = false;
    rc = pg_exec(p,
                 "SET bytea_output = 'hex'; SET extra_float_digits = 3;"
                 " SET client_min_messages = warning",
                 err, "session setup");
    if (rc == 0)
        rc = pg_query_value(p, "SHOW synchronous_commit", sync, sizeof(sync), err, "session setup");
    if (rc == 0 && strcmp(sync, "off") == 0)
        rc = pg_exec(p, "SET synchronous_commit = on", err, "session setup");
    if (rc == 0)
        rc = pg_timeouts(p, err);
    return rc;
}

/* Milliseconds left until @deadline (tt_now() seconds), at least 0; -1 when unbounded. */
static int ms_left(double deadline)
{
    double left;

    if (deadline <= 0)
        return -1;
    left = (deadline - tt_now()) * 1000.0;
    return left > 0 ? (int)left + 1 : 0;
}

static double deadline_of(const struct pg *p)
{
    return p->budget_ms > 0 ? tt_now() + p->budget_ms / 1000.0 : 0;
}

/* Waits until the connection's socket is ready for @events, or the deadline: 1 ready, 0 not. */
static int wait_socket(struct pg *p, short events, double deadline)
{
    struct pollfd pfd = {PQsocket(p->conn), events, 0};
    int left = ms_left(deadline), n;

    if (pfd.fd < 0 || left == 0)
        return 0;
    do
        n = poll(&pfd, 1, left);
    while (n < 0 && errno == EINTR && (left = ms_left(deadline)) != 0);
    return n > 0;
}

static int pg_prepare(struct pg *p, tt_err *err);

/*
 * Re-establishes a dropped connection. With a budget the connection is made with libpq's
 * non-blocking calls and abandoned at the deadline: a server that accepts TCP but never
 * answers (stopped, swapping) must not hold the caller for libpq's connect_timeout.
 */
static int pg_reconnect(struct pg *p, tt_err *err)
{
    int rc;
    double deadline = deadline_of(p);
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    if (deadline <= 0) {
        PQreset(p->conn);
    } else if (PQresetStart(p->conn)) {
        while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
            if (!wait_socket(p, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline))
                return tt_err_set(err, TT_EDBBUSY, "postgresql: no connection within %d ms",
                                  p->budget_ms);
            st = PQresetPoll(p->conn);
        }
    }
    if (PQstatus(p->conn) != CONNECTION_OK)
        return pg_fail(p, NULL, err, "reconnect");
    tt_warn("postgresql: connection re-established");
    p->pending = false;
    rc = pg_session(p, err);
    return rc < 0 ? rc : pg_prepare(p, err);
}

/*
 * A statement we stopped waiting for (see pg_await) still owns the connection until its
 * answer arrives: read what has come; while it is still out the connection is busy.
 */
static int pg_settle(struct pg *p, tt_err *err)
{
    PGresult *res;

    if (!p->pending || PQstatus(p->conn) != CONNECTION_OK)
        return 0;
    if (!PQconsumeInput(p->conn))
        return 0; /* the connection broke: pg_ensure reconnects */
    if (PQisBusy(p->conn))
        return tt_err_set(err, TT_EDBBUSY,
                          "postgresql: still waiting for the answer to an earlier statement");
    while ((res = PQgetResult(p->conn)) != NULL)
        PQclear(res);
    p->pending = false;
    return 0;
}

/* Outside a transaction a dropped connection is re-established once before giving up. */
static int pg_ensure(struct pg *p, tt_err *err)
{
    int rc = pg_settle(p, err);

    if (rc < 0 || PQstatus(p->conn) == CONNECTION_OK)
        return rc;
    if (p->in_tx)
        return pg_fail(p, NULL, err, "connection lost");
    return pg_reconnect(p, err);
}

/*
 * Waits for the answer to the statement just sent, at most the budget. Past it the statement
 * is left to finish on its own (pg_settle collects it later) and TT_EDBBUSY returned: the
 * server's own statement_timeout cannot help when the server is stalled. *@out is the last
 * result (caller clears).
 */
static int pg_await(struct pg *p, PGresult **out, const char *what, tt_err *err)
{
    double deadline = deadline_of(p);
    PGresult *res, *last = NULL;

    for (;;) {
        if (!PQconsumeInput(p->conn)) {
            PQclear(last);
            return pg_fail(p, NULL, err, what);
        }
        while (!PQisBusy(p->conn)) {
            res = PQgetResult(p->conn);
            if (!res) {
                *out = last;
                return 0;
            }
            PQclear(last);
            last = res;
        }
        if (!wait_socket(p, POLLIN, deadline) && ms_left(deadline) == 0) {
            PQclear(last);
            p->pending = true;
            return tt_err_set(err, TT_EDBBUSY, "postgresql %s: no answer within %d ms", what,
                              p->budget_ms);
        }
    }
}

/*
 * Prepares the single-row statements. Done as soon as a connection is made, while the server
 * is known to answer: PQprepare has no deadline, so a connection first used during a stall
 * (a pooled one no request had taken yet) would wait for the server as long as it stalls.
 */
static int pg_prepare(struct pg *p, tt_err *err)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && !p->prepared && i < sizeof(prepared_sql) / sizeof(*prepared_sql);
         i++)
        rc = pg_check(p, PQprepare(p->conn, prepared_sql[i][0], prepared_sql[i][1], 0, NULL),
                      PGRES_COMMAND_OK, err, "prepare");
    if (rc == 0)
        p->prepared = true;
    return rc;
}

/* ---- migrations ---------------------------------------------------------------------- */

/* Databases made before version 2 recorded their migrations in schema_migrations. */
#define VERSION_TABLE                                                                              \
    "DO $$ BEGIN IF to_regclass('schema_migrations') IS NOT NULL AND"                              \
    " to_regclass('schema_version') IS NULL THEN"                                                  \
    " ALTER TABLE schema_migrations RENAME TO schema_version; END IF; END $$;"                     \
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"                      \
    " applied_at BIGINT NOT NULL)"

static int pg_schema_version(void *self, int *out, tt_err *err);

/*
 * Applies pending migrations in one transaction (PostgreSQL's DDL is transactional: a failure
 * leaves the database as it was). The advisory lock makes concurrent openers wait, and the
 * version read under it makes the later ones find nothing to do. A database newer than this
 * engine is refused before anything is written.
 */
static int pg_migrate(struct pg *p, tt_err *err)
{
    char sql[128];
    int rc, have = 0;

    rc = pg_exec(p, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK "); " VERSION_TABLE, err,
                 "migrate");
    if (rc == 0)
        rc = pg_schema_version(p, &have, err);
    if (rc == 0)
        rc = tt__store_check_version(have, err);
    p->found_version = have;
    for (int i = 0; rc == 0 && i < tt__n_migrations; i++) {
        const struct tt__migration *m = &tt__migrations[i];
        if (m->version <= have)
            continue;
        rc = pg_exec(p, m->pg_sql, err, "migrate");
        snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, %lld)", m->version,
                 (long long)tt_unix_time());
        if (rc == 0)
            rc = pg_exec(p, sql, err, "migrate");
    }
    if (rc == 0)
        rc = pg_exec(p, "COMMIT", err, "migrate");
    else
        PQclear(PQexec(p->conn, "ROLLBACK"));
    if (rc == 0)
        months_ahead(p);
    return rc;
}

/* ---- transactions ------------------------------------------------------------------ */

static int pg_begin(void *self, tt_err *err)
{
    struct pg *p = self;
    int rc;

    if (p->in_tx)
        return tt_err_set(err, TT_EIO, "postgresql: cannot begin: a transaction is already open");
    rc = pg_ensure(p, err);
    if (rc == 0)
        rc = pg_exec(p, "BEGIN", err, "begin");
    if (rc < 0)
        return rc;
    stage_reset(p);
    p->in_tx = true;
    return 0;
}

static void pg_rollback(void *self)
{
    struct pg *p = self;

    if (!p->in_tx)
        return;
    if (p->copying >= 0 && PQputCopyEnd(p->conn, "rolled back") == 1) {
        PGresult *res;
        while ((res = PQgetResult(p->conn)) != NULL)
            PQclear(res);
    }
    p->copying = -1;
    if (PQstatus(p->conn) == CONNECTION_OK)
        PQclear(PQexec(p->conn, "ROLLBACK"));
    stage_reset(p);
    p->in_tx = false;
}

/* A failed commit rolls back itself: the transaction is over either way. */
static int pg_commit(void *self, tt_err *err)
{
    struct pg *p = self;
    int rc;

    if (!p->in_tx)
        return tt_err_set(err, TT_EIO, "postgresql: cannot commit: no transaction is open");
    rc = stage_merge(p, true, err);
    if (rc == 0)
        rc = pg_exec(p, "COMMIT", err, "commit");
    if (rc < 0) {
        pg_rollback(p);
        return rc;
    }
    p->in_tx = false;
    stage_reset(p);
    return 0;
}

/* Runs @put inside the open transaction, or alone in one of its own, as SQLite's autocommit. */
static int put_auto(struct pg *p, int (*put)(struct pg *, const void *, tt_err *), const void *rec,
                    tt_err *err)
{
    int rc;

    if (p->in_tx)
        return put(p, rec, err);
    rc = pg_begin(p, err);
    if (rc == 0)
        rc = put(p, rec, err);
    if (rc == 0)
        return pg_commit(p, err);
    pg_rollback(p);
    return rc;
}

/* ---- bulk puts -------------------------------------------------------------------- */

static int stage_artist(struct pg *p, const void *rec, tt_err *err)
{
    const tt_artist_rec *a = rec;
    const char *bad = NULL;
    size_t mark;
    struct buf *b = row_begin(p, SG_ARTISTS, &mark);

    if (col_text(b, a->artist_id) < 0)
        bad = "artist_id";
    else if (col_text(b, a->name) < 0)
        bad = "name";
    else if (col_text(b, a->genres ? a->genres : "") < 0)
        bad = "genres";
    else
        col_i64(b, tt_unix_time(), false);
    return row_end(p, SG_ARTISTS, mark, bad, err);
}

static const char *track_strings(struct buf *b, const tt_track_rec *t)
{
    const char *v[6] = {t->track_id, t->title, t->artist_id ? t->artist_id : t->artist,
                        t->artist,   t->album, t->genres ? t->genres : ""};
    static const char *names[6] = {"track_id", "title", "artist_id", "artist", "album", "genres"};

    for (int i = 0; i < 6; i++)
        if (col_text(b, v[i]) < 0)
            return names[i];
    return NULL;
}

static int stage_track(struct pg *p, const void *rec, tt_err *err)
{
    const tt_track_rec *t = rec;
    size_t mark;
    struct buf *b = row_begin(p, SG_TRACKS, &mark);
    const char *bad = track_strings(b, t);
    int i;

    if (bad)
        return row_end(p, SG_TRACKS, mark, bad, err);
    col_i64(b, t->duration_ms, t->duration_ms < 0);
    col_i64(b, t->release_year, t->release_year <= 0);
    for (i = 0; i < TT_F_KEY; i++)
        col_f32(b, t->features[i]);
    for (; i < TT_N_FEATURES; i++)
        col_i64(b, lrintf(t->features[i]), isnan(t->features[i]));
    col_embedding(b, t->embedding, t->embedding_dim);
    col_i64(b, tt_unix_time(), false);
    return row_end(p, SG_TRACKS, mark, NULL, err);
}

static int stage_user(struct pg *p, const void *rec, tt_err *err)
{
    const tt_user_rec *u = rec;
    const char *bad = NULL;
    size_t mark;
    struct buf *b = row_begin(p, SG_USERS, &mark);

    if (col_text(b, u->user_id) < 0)
        bad = "user_id";
    else if (col_text(b, u->plan_tier ? u->plan_tier : "free") < 0)
        bad = "plan_tier";
    else if (col_text(b, u->favorite_genres ? u->favorite_genres : "") < 0)
        bad = "favorite_genres";
    else
        col_i64(b, u->created_at > 0 ? u->created_at : tt_unix_time(), false);
    return row_end(p, SG_USERS, mark, bad, err);
}

static int stage_interaction(struct pg *p, const void *rec, tt_err *err)
{
    const tt_interaction_rec *r = rec;
    const char *bad = NULL;
    size_t mark;
    struct buf *b = row_begin(p, SG_INTERACTIONS, &mark);

    if (col_text(b, r->user_id) < 0)
        bad = "user_id";
    else if (col_text(b, r->track_id) < 0)
        bad = "track_id";
    if (bad)
        return row_end(p, SG_INTERACTIONS, mark, bad, err);
    col_text(b, tt_action_name(r->action));
    col_f32(b, r->weight);
    col_i64(b, r->ms_played, r->ms_played < 0);
    col_i64(b, r->occurred_at, false);
    if (col_text(b, r->context) < 0)
        bad = "context";
    else if (col_text(b, r->recommendation_id) < 0)
        bad = "recommendation_id";
    else if (col_text(b, r->event_id) < 0)
        bad = "event_id";
    return row_end(p, SG_INTERACTIONS, mark, bad, err);
}

static int pg_put_artist(void *self, const tt_artist_rec *a, tt_err *err)
{
    return put_auto(self, stage_artist, a, err);
}

static int pg_put_track(void *self, const tt_track_rec *t, tt_err *err)
{
    return put_auto(self, stage_track, t, err);
}

static int pg_put_user(void *self, const tt_user_rec *u, tt_err *err)
{
    return put_auto(self, stage_user, u, err);
}

static int pg_put_interaction(void *self, const tt_interaction_rec *r, tt_err *err)
{
    return put_auto(self, stage_interaction, r, err);
}

/* ---- single-row writes ---------------------------------------------------------------- */

static int exec_prepared(struct pg *p, const char *name, int n, const char *const *vals,
                         tt_err *err, const char *what)
{
    return pg_check(p, PQexecPrepared(p->conn, name, n, vals, NULL, NULL, 0), PGRES_COMMAND_OK, err,
                    what);
}

/* A transaction of its own is required: the caller is told the row is durable at return. */
static int own_tx_ready(struct pg *p, const char *what, tt_err *err)
{
    int rc;

    if (p->in_tx)
        return tt_err_set(err, TT_EIO, "postgresql %s: not allowed inside a transaction", what);
    rc = pg_ensure(p, err);
    return rc < 0 ? rc : pg_prepare(p, err);
}

/*
 * Whether a failed call may simply run again: the connection died (a server restart, an idle
 * timeout) outside any transaction of the caller's, and the call is a read or an idempotent
 * upsert, so running it twice is harmless. The service then never sees the first failure.
 */
static bool retryable(struct pg *p, int rc)
{
    return rc == TT_EBACKEND && !p->in_tx && PQstatus(p->conn) == CONNECTION_BAD;
}

static int keep_first(tt_err *err, const tt_err *first, int rc)
{
    if (rc < 0 && err && !err->code)
        *err = *first;
    return rc;
}

/*
 * One statement outside BEGIN is its own transaction, synchronously committed; its answer is
 * awaited within the budget. *@id is the new row's, 0 for a retried event_id (no row back).
 */
static int feedback_once(struct pg *p, const tt_interaction_rec *r, int64_t *id, tt_err *err)
{
    char weight[40], ms[24], at[24];
    const char *vals[9] = {
        r->user_id, r->track_id, tt_action_name(r->action), weight, r->ms_played < 0 ? NULL : ms,
        at,         r->context,  r->recommendation_id,       r->event_id};
    PGresult *res = NULL;
    int rc = own_tx_ready(p, "feedback", err);

    if (rc < 0)
        return rc;
    fmt_f32(weight, r->weight);
    fmt_i64(ms, r->ms_played);
    fmt_i64(at, r->occurred_at);
    if (!PQsendQueryPrepared(p->conn, "tt_feedback", 9, vals, NULL, NULL, 0))
        return pg_fail(p, NULL, err, "feedback");
    rc = pg_await(p, &res, "feedback", err);
    if (rc < 0)
        return rc;
    *id = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)
              ? strtoll(PQgetvalue(res, 0, 0), NULL, 10)
              : 0;
    return pg_check(p, res, PGRES_TUPLES_OK, err, "feedback");
}

static int put_impression(struct pg *p, const tt_impression_rec *r, tt_err *err)
{
    char at[24];
    const char *vals[5] = {r->recommendation_id, r->user_id, r->model,
                           r->track_ids ? r->track_ids : "", at};

    fmt_i64(at, r->created_at > 0 ? r->created_at : tt_unix_time());
    return exec_prepared(p, "tt_impression", 5, vals, err, "impression");
}

static int pg_feedback_put(void *self, const tt_interaction_rec *r, int64_t *id, tt_err *err)
{
    tt_err first = {0};
    int rc = feedback_once(self, r, id, &first);

    return retryable(self, rc) ? feedback_once(self, r, id, err) : keep_first(err, &first, rc);
}

static int impressions_once(struct pg *p, const tt_impression_rec *recs, int n, tt_err *err)
{
    int rc = own_tx_ready(p, "impressions", err);

    if (rc == 0)
        rc = pg_exec(p, "BEGIN", err, "impressions");
    if (rc < 0)
        return rc;
    for (int i = 0; rc == 0 && i < n; i++)
        rc = put_impression(p, &recs[i], err);
    if (rc == 0)
        return pg_exec(p, "COMMIT", err, "impressions");
    if (PQstatus(p->conn) == CONNECTION_OK)
        PQclear(PQexec(p->conn, "ROLLBACK"));
    return rc;
}

static int pg_impressions_put(void *self, const tt_impression_rec *recs, int n, tt_err *err)
{
    tt_err first = {0};
    int rc = impressions_once(self, recs, n, &first);

    return retryable(self, rc) ? impressions_once(self, recs, n, err) : keep_first(err, &first, rc);
}

/* ---- reads ------------------------------------------------------------------------- */

static int64_t parse_i64(const char *s)
{
    bool neg = *s == '-';
    uint64_t v = 0;

    for (s += neg; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return neg ? (int64_t)(0 - v) : (int64_t)v;
}

static const char *get_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int64_t get_i64(const PGresult *res, int row, int col, int64_t null_value)
{
    return PQgetisnull(res, row, col) ? null_value : parse_i64(PQgetvalue(res, row, col));
}

static float get_f32(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NAN : strtof(PQgetvalue(res, row, col), NULL);
}

/* Value of hex digit @c; 0 for anything else (the server only sends lower-case hex). */
static uint32_t hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return (uint32_t)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (uint32_t)(c - 'a' + 10);
    return 0;
}

/* Decodes a hex BYTEA of little-endian float32 into @p->emb; returns the dimension. */
static int get_embedding(struct pg *p, const PGresult *res, int row, int col, const float **out)
{
    const char *s = PQgetvalue(res, row, col);
    int len = PQgetlength(res, row, col), dim;
    float *v;

    *out = NULL;
    if (PQgetisnull(res, row, col) || len < 2 || s[0] != '\\' || s[1] != 'x')
        return 0;
    dim = (len - 2) / 8;
    TT_GROW(p->emb.p, p->emb.cap, (size_t)dim * sizeof(float) + 1);
    v = (float *)(void *)p->emb.p;
    for (int i = 0; i < dim; i++) {
        uint32_t w = 0;
        for (int k = 3; k >= 0; k--) {
            const char *h = s + 2 + 8 * i + 2 * k;
            w = (w << 8) | (hex_val(h[0]) << 4) | hex_val(h[1]);
        }
        memcpy(&v[i], &w, 4);
    }
    *out = v;
    return dim;
}

typedef int (*row_fn)(struct pg *p, const PGresult *res, int row, void *fn, void *ctx);

static int row_artist(struct pg *p, const PGresult *res, int i, void *fn, void *ctx)
{
    tt_artist_rec a = {get_text(res, i, 0), get_text(res, i, 1), get_text(res, i, 2)};

    (void)p;
    return ((tt_artist_fn)fn)(ctx, &a);
}

static int row_track(struct pg *p, const PGresult *res, int i, void *fn, void *ctx)
{
    tt_track_rec t = tt_track_rec_empty();

    t.track_id = get_text(res, i, 0);
    t.title = get_text(res, i, 1);
    t.artist_id = get_text(res, i, 2);
    t.artist = get_text(res, i, 3);
    t.album = get_text(res, i, 4);
    t.genres = get_text(res, i, 5);
    t.duration_ms = (int32_t)get_i64(res, i, 6, -1);
    t.release_year = (int32_t)get_i64(res, i, 7, -1);
    for (int f = 0; f < TT_N_FEATURES; f++)
        t.features[f] = get_f32(res, i, 8 + f);
    t.embedding_dim = get_embedding(p, res, i, 19, &t.embedding);
    return ((tt_track_fn)fn)(ctx, &t);
}

static int row_user(struct pg *p, const PGresult *res, int i, void *fn, void *ctx)
{
    tt_user_rec u = {get_text(res, i, 0), get_text(res, i, 1), get_text(res, i, 2),
                     get_i64(res, i, 3, 0)};

    (void)p;
    return ((tt_user_fn)fn)(ctx, &u);
}

static int row_interaction(struct pg *p, const PGresult *res, int i, void *fn, void *ctx)
{
    int act = tt_action_parse(PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2));
    tt_interaction_rec r;

    (void)p;
    r.user_id = get_text(res, i, 0);
    r.track_id = get_text(res, i, 1);
    r.action = act < 0 ? TT_ACT_PLAY : (enum tt_action)act;
    r.weight = get_f32(res, i, 3);
    r.ms_played = get_i64(res, i, 4, -1);
    r.occurred_at = get_i64(res, i, 5, 0);
    r.context = get_text(res, i, 6);
    r.recommendation_id = get_text(res, i, 7);
    r.event_id = get_text(res, i, 8);
    r.id = get_i64(res, i, 9, 0);
    return ((tt_interaction_fn)fn)(ctx, &r);
}

/*
 * Readies the connection for a read: inside the caller's transaction the staged rows are
 * merged first; outside, a transaction of our own holds the cursor (@own says which).
 */
static int read_begin(struct pg *p, bool *own, tt_err *err)
{
    int rc;

    *own = !p->in_tx;
    if (p->in_tx)
        return stage_merge(p, false, err);
    rc = pg_ensure(p, err);
    return rc < 0 ? rc : pg_exec(p, "BEGIN", err, "scan");
}

static int read_end(struct pg *p, bool own, int rc, tt_err *err)
{
    int end;

    if (!own)
        return rc;
    /* A callback's stop leaves the transaction healthy; a failed statement aborts it. */
    if (rc >= 0 || PQtransactionStatus(p->conn) == PQTRANS_INTRANS) {
        end = pg_exec(p, "COMMIT", rc < 0 ? NULL : err, "scan");
        return rc < 0 ? rc : end;
    }
    if (PQstatus(p->conn) == CONNECTION_OK)
        PQclear(PQexec(p->conn, "ROLLBACK"));
    return rc;
}

/* FETCHes cursor @name batch by batch, calling @row per row until @row returns < 0. */
static int fetch_all(struct pg *p, const char *name, row_fn row, void *fn, void *ctx, tt_err *err)
{
    char sql[64];
    int rc = 0, n = SCAN_BATCH;

    snprintf(sql, sizeof(sql), "FETCH %d FROM %s", SCAN_BATCH, name);
    while (rc >= 0 && n == SCAN_BATCH) {
        PGresult *res = PQexec(p->conn, sql);

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = pg_fail(p, res, err, "scan");
            PQclear(res);
            return rc;
        }
        n = PQntuples(res);
        for (int i = 0; i < n && rc >= 0; i++)
            rc = row(p, res, i, fn, ctx);
        PQclear(res);
    }
    snprintf(sql, sizeof(sql), "CLOSE %s", name);
    if (pg_exec(p, sql, rc < 0 ? NULL : err, "scan") < 0 && rc >= 0)
        rc = TT_EIO;
    return rc;
}

/* Streams the rows of @select ($1 = @param when non-NULL) through @row. */
static int pg_scan(struct pg *p, const char *select, const char *param, row_fn row, void *fn,
                   void *ctx, tt_err *err)
{
    char name[32], sql[1024];
    bool own = false;
    int rc;

    rc = read_begin(p, &own, err);
    if (rc < 0)
        return own ? read_end(p, own, rc, err) : rc;
    snprintf(name, sizeof(name), "tt_scan_%d", p->scan_depth);
    snprintf(sql, sizeof(sql), "DECLARE %s NO SCROLL CURSOR FOR %s", name, select);
    rc = pg_check(p, PQexecParams(p->conn, sql, param ? 1 : 0, NULL, &param, NULL, NULL, 0),
                  PGRES_COMMAND_OK, err, "scan");
    if (rc == 0) {
        p->scan_depth++;
        rc = fetch_all(p, name, row, fn, ctx, err);
        p->scan_depth--;
    }
    return read_end(p, own, rc, err);
}

static int pg_scan_artists(void *self, tt_artist_fn fn, void *ctx, tt_err *err)
{
    return pg_scan(self,
                   "SELECT artist_id, name, genres FROM artists ORDER BY artist_id"
                   " COLLATE \"C\"",
                   NULL, row_artist, (void *)fn, ctx, err);
}

static int pg_scan_tracks(void *self, tt_track_fn fn, void *ctx, tt_err *err)
{
    return pg_scan(self, "SELECT " TRACK_COLS " FROM tracks ORDER BY track_id COLLATE \"C\"", NULL,
                   row_track, (void *)fn, ctx, err);
}

static int pg_scan_users(void *self, tt_user_fn fn, void *ctx, tt_err *err)
{
    return pg_scan(self, "SELECT " USER_COLS " FROM users ORDER BY user_id COLLATE \"C\"", NULL,
                   row_user, (void *)fn, ctx, err);
}

/* ---- binary COPY reads (the format: pg_copy.c) ---------------------------------------- */

/*
 * Ends a COPY whose reader stopped early. Outside a transaction the server is asked to cancel
 * it (the rest of a large table is not worth sending); inside the caller's a cancel would
 * abort the transaction, so the rest is read and dropped.
 */
static void copy_out_abandon(struct pg *p)
{
    char msg[256], *row;
    PGcancel *c;

    if (!p->in_tx && (c = PQgetCancel(p->conn)) != NULL) {
        PQcancel(c, msg, sizeof(msg));
        PQfreeCancel(c);
    }
    while (PQgetCopyData(p->conn, &row, 0) > 0)
        PQfreemem(row);
}

/* Decodes one COPY row (the first carries the header): 0, 1 for the trailer, or the error. */
static int copy_out_decode(uint8_t *row, size_t len, bool first, tt_interaction_rec *r,
                           tt_err *err)
{
    size_t skip = 0;
    int rc = first ? tt__pg_copy_header(row, len, &skip) : 0;

    if (rc == 0)
        rc = tt__pg_copy_interaction(row + skip, len - skip, r);
    return rc < 0 ? tt_err_set(err, rc, "postgresql scan: malformed binary COPY row") : rc;
}

/* Hands every row of the open COPY to @fn; stops at @fn's first negative return. */
static int copy_out_rows(struct pg *p, tt_interaction_fn fn, void *ctx, tt_err *err)
{
    tt_interaction_rec r;
    bool first = true;
    char *row;
    int n, rc = 0;

    while (rc >= 0 && (n = PQgetCopyData(p->conn, &row, 0)) > 0) {
        rc = copy_out_decode((uint8_t *)row, (size_t)n, first, &r, err);
        first = false;
        if (rc == 0)
            rc = fn(ctx, &r);
        else if (rc == 1)
            rc = 0;
        PQfreemem(row);
    }
    if (rc < 0)
        copy_out_abandon(p);
    else if (n == -2)
        rc = pg_fail(p, NULL, err, "scan");
    return rc;
}

/*
 * Streams the interactions @sql copies (binary, TT__PG_COPY_INTERACTION_COLS) through @fn.
 * One COPY statement reads one snapshot of the table, so no transaction is needed; inside
 * the caller's, its staged rows are merged first.
 */
static int copy_interactions(struct pg *p, const char *sql, tt_interaction_fn fn, void *ctx,
                             tt_err *err)
{
    PGresult *res;
    int rc = p->in_tx ? stage_merge(p, false, err) : pg_ensure(p, err);

    if (rc < 0)
        return rc;
    if (!PQsendQuery(p->conn, sql))
        return pg_fail(p, NULL, err, "scan");
    res = PQgetResult(p->conn);
    if (PQresultStatus(res) == PGRES_COPY_OUT)
        rc = copy_out_rows(p, fn, ctx, err);
    else
        rc = pg_fail(p, res, err, "scan");
    PQclear(res);
    /* The COPY's own result; after a stop, the cancel's error, which the stop outranks. */
    while ((res = PQgetResult(p->conn)) != NULL) {
        if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = pg_fail(p, res, err, "scan");
        PQclear(res);
    }
    return rc;
}

static int pg_scan_interactions(void *self, tt_interaction_fn fn, void *ctx, tt_err *err)
{
    return copy_interactions(self,
                             "COPY (SELECT " TT__PG_COPY_INTERACTION_COLS " FROM interactions"
                             " ORDER BY id) TO STDOUT (FORMAT binary)",
                             fn, ctx, err);
}

static int pg_scan_interactions_after(void *self, int64_t after_id, tt_interaction_fn fn,
                                      void *ctx, tt_err *err)
{
    char id[32];

    snprintf(id, sizeof(id), "%lld", (long long)after_id);
    return pg_scan(self,
                   "SELECT " INTERACTION_COLS ", id FROM interactions WHERE id > $1::bigint"
                   " ORDER BY id",
                   id, row_interaction, (void *)fn, ctx, err);
}

/* Without a bound where the range has none: a literal of INT64_MIN would be numeric. */
static int pg_scan_interactions_range(void *self, int64_t after_id, int64_t upto_id,
                                      tt_interaction_fn fn, void *ctx, tt_err *err)
{
    char lo[48] = "", hi[48] = "", sql[400];

    if (after_id > INT64_MIN)
        snprintf(lo, sizeof(lo), " AND id > %lld", (long long)after_id);
    if (upto_id < INT64_MAX)
        snprintf(hi, sizeof(hi), " AND id <= %lld", (long long)upto_id);
    snprintf(sql, sizeof(sql),
             "COPY (SELECT " TT__PG_COPY_INTERACTION_COLS " FROM interactions WHERE true%s%s"
             " ORDER BY id) TO STDOUT (FORMAT binary)", lo, hi);
    return copy_interactions(self, sql, fn, ctx, err);
}

static int pg_scan_user_interactions(void *self, const char *user_id, tt_interaction_fn fn,
                                     void *ctx, tt_err *err)
{
    return pg_scan(self,
                   "SELECT " INTERACTION_COLS ", id FROM interactions WHERE user_id = $1"
                   " ORDER BY occurred_at, id",
                   user_id, row_interaction, (void *)fn, ctx, err);
}

static int count_once(struct pg *p, const char *table, int64_t *out, tt_err *err)
{
    char sql[96], val[32];
    int rc = p->in_tx ? stage_merge(p, false, err) : pg_ensure(p, err);

    if (rc < 0)
        return rc;
    /* @table is one of the fixed names tt__store_table_ok() accepts. */
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    rc = pg_query_value(p, sql, val, sizeof(val), err, "count");
    if (rc == 0)
        *out = parse_i64(val);
    return rc;
}

static int pg_count(void *self, const char *table, int64_t *out, tt_err *err)
{
    tt_err first = {0};
    int rc = count_once(self, table, out, &first);

    return retryable(self, rc) ? count_once(self, table, out, err) : keep_first(err, &first, rc);
}

/* ---- one statement, for store_pg_jobs.c ----------------------------------------------- */

/* Hands each row of @res to @q->row, its values as text. */
static int run_rows(struct pg *p, PGresult *res, struct tt__pg_stmt *q, tt_err *err)
{
    const char *v[TT__PG_MAX_COLS];
    int rc = 0, cols = PQnfields(res);

    (void)p;
    if (!q->row || PQntuples(res) == 0)
        return 0;
    if (cols > TT__PG_MAX_COLS)
        return tt_err_set(err, TT_EINTERNAL, "postgresql %s: %d columns", q->what, cols);
    for (int i = 0; rc >= 0 && i < PQntuples(res); i++) {
        for (int c = 0; c < cols; c++)
            v[c] = get_text(res, i, c);
        rc = q->row(q->ctx, v, cols);
    }
    return rc;
}

static int run_once(struct pg *p, struct tt__pg_stmt *q, tt_err *err)
{
    PGresult *res = NULL;
    ExecStatusType st;
    int rc;

    if (p->in_tx && (q->flags & TT__PG_WRITE))
        return tt_err_set(err, TT_EIO, "postgresql %s: not allowed inside a transaction",
                          q->what);
    /* Inside the caller's transaction an open COPY would take the statement for data. */
    rc = p->in_tx ? copy_end(p, err) : pg_ensure(p, err);
    if (rc < 0)
        return rc;
    if (!PQsendQueryParams(p->conn, q->sql, q->n_params, NULL, q->params, NULL, NULL, 0))
        return pg_fail(p, NULL, err, q->what);
    rc = pg_await(p, &res, q->what, err);
    if (rc < 0)
        return rc;
    st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return pg_check(p, res, PGRES_COMMAND_OK, err, q->what);
    q->changed = parse_i64(PQcmdTuples(res));
    rc = run_rows(p, res, q, err);
    PQclear(res);
    return rc;
}

int tt__store_pg_run(void *self, struct tt__pg_stmt *q, tt_err *err)
{
    tt_err first = {0};
    int rc;

    q->changed = 0;
    if (!(q->flags & TT__PG_RETRY))
        return run_once(self, q, err);
    rc = run_once(self, q, &first);
    return retryable(self, rc) ? run_once(self, q, err) : keep_first(err, &first, rc);
}

static int pg_schema_version(void *self, int *out, tt_err *err)
{
    struct pg *p = self;
    char val[16];
    int rc = p->in_tx ? copy_end(p, err) : pg_ensure(p, err);

    if (rc == 0)
        rc = pg_query_value(p, "SELECT coalesce(max(version), 0) FROM schema_version", val,
                            sizeof(val), err, "schema version");
    if (rc == 0)
        *out = (int)parse_i64(val);
    return rc;
}

/* ---- open/close ------------------------------------------------------------------ */

static void pg_close(void *self)
{
    struct pg *p = self;

    if (!p)
        return;
    pg_rollback(p);
    PQfinish(p->conn);
    PQfinish(p->side);
    free(p->url);
    for (int i = 0; i < SG_COUNT; i++)
        free(p->sg[i].rows.p);
    free(p->emb.p);
    free(p);
}

static int pg_set_durable(void *self, bool durable, tt_err *err)
{
    struct pg *p = self;
    int rc = pg_ensure(p, err);

    return rc < 0 ? rc
                  : pg_exec(p, durable ? "SET synchronous_commit = on"
                                       : "SET synchronous_commit = off",
                            err, "durability");
}

static int pg_set_budget(void *self, int budget_ms, tt_err *err)
{
    struct pg *p = self;
    int rc = pg_ensure(p, err);

    p->budget_ms = budget_ms;
    return rc < 0 ? rc : pg_timeouts(p, err);
}

static int pg_ping(void *self, tt_err *err)
{
    struct pg *p = self;
    PGresult *res = NULL;
    int rc = p->in_tx ? 0 : pg_ensure(p, err);

    if (rc < 0)
        return rc;
    if (!PQsendQuery(p->conn, "SELECT 1"))
        return pg_fail(p, NULL, err, "ping");
    rc = pg_await(p, &res, "ping", err);
    return rc < 0 ? rc : pg_check(p, res, PGRES_TUPLES_OK, err, "ping");
}

static int pg_schema_found(void *self)
{
    return ((struct pg *)self)->found_version;
}

static const struct tt_store_ops pg_ops = {
    .name = "postgresql",
    .close = pg_close,
    .schema_version = pg_schema_version,
    .schema_found = pg_schema_found,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .put_artist = pg_put_artist,
    .put_track = pg_put_track,
    .put_user = pg_put_user,
    .put_interaction = pg_put_interaction,
    .feedback_put = pg_feedback_put,
    .impressions_put = pg_impressions_put,
    .scan_artists = pg_scan_artists,
    .scan_tracks = pg_scan_tracks,
    .scan_users = pg_scan_users,
    .scan_interactions = pg_scan_interactions,
    .scan_user_interactions = pg_scan_user_interactions,
    .scan_interactions_after = pg_scan_interactions_after,
    .scan_interactions_range = pg_scan_interactions_range,
    .log_state = tt__store_pg_log_state,
    .count = pg_count,
    .set_durable = pg_set_durable,
    .set_budget = pg_set_budget,
    .ping = pg_ping,
    .job_put = tt__store_pg_job_put,
    .job_get = tt__store_pg_job_get,
    .job_list = tt__store_pg_job_list,
    .job_claim = tt__store_pg_job_claim,
    .job_update = tt__store_pg_job_update,
    .job_finish = tt__store_pg_job_finish,
    .job_cancel = tt__store_pg_job_cancel,
    .job_reap = tt__store_pg_job_reap,
    .schedule_claim = tt__store_pg_schedule_claim,
    .schedule_last = tt__store_pg_schedule_last,
};

/* A URL libpq cannot even parse is a configuration error, not an unreachable server. */
static int check_url(const char *url, tt_err *err)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    int rc = 0;

    if (!opts) {
        size_t n = msg ? strlen(msg) : 0;
        while (n > 0 && msg[n - 1] == '\n')
            n--;
        rc = tt_err_set_field(err, TT_ECONFIG, "DATABASE_URL", "bad postgresql URL: %.*s", (int)n,
                              msg ? msg : "cannot parse");
    }
    PQfreemem(msg);
    PQconninfoFree(opts);
    return rc;
}

/*
 * Our defaults come before the URL, so parameters the URL spells out itself (say
 * ?connect_timeout=30) win.
 */
static PGconn *pg_connect(const char *url)
{
    /*
     * TCP keepalives notice a server (or a network path) that went away while the
     * connection idled; tcp_user_timeout gives up on data the server never acknowledges.
     */
    static const char *const keys[] = {"connect_timeout", "client_encoding", "application_name",
                                       "keepalives", "keepalives_idle", "keepalives_interval",
                                       "keepalives_count", "tcp_user_timeout", "dbname", NULL};
    const char *vals[] = {"5", "UTF8", "tunetrail", "1", "10", "5", "3", "10000", url, NULL};

    return PQconnectdbParams(keys, vals, 1);
}

int tt__store_pg_open(const char *url, const struct tt_store_ops **ops, void **self, tt_err *err)
{
    struct pg *p;
    int rc = check_url(url, err);

    if (rc < 0)
        return rc;
    p = tt_calloc(1, sizeof(*p));
    p->copying = -1;
    p->url = tt_strdup(url);
    p->conn = pg_connect(url);
    if (PQstatus(p->conn) != CONNECTION_OK)
        rc = pg_fail(p, NULL, err, "connect");
    if (rc == 0)
        rc = pg_session(p, err);
    if (rc == 0)
        rc = pg_migrate(p, err);
    if (rc == 0)
        rc = pg_prepare(p, err);
    if (rc < 0) {
        pg_close(p);
        return rc;
    }
    *ops = &pg_ops;
    *self = p;
    return 0;
}

int tt__pg_version(void)
{
    return PQlibVersion();
}
