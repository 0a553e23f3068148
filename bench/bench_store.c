/*
 * bench_store: interaction import speed and training-snapshot load speed.
 *
 *   build/bench/bench_store [--rows 2000000] [--users 50000] [--tracks 20000] [--dir /tmp]
 *   TT_BENCH_PG_URL=postgresql://... build/bench/bench_store   (also the PostgreSQL backend)
 *
 * Writes a CSV of interactions, imports it with `tt_import_csv` (one transaction, upserts on
 * the unique key), then loads the training snapshot with `tt_dataset_load`. Baselines run in
 * the same process on the same rows: for import, SQLite's floor, a prepared plain INSERT
 * into a table with no index in one transaction; for the snapshot, a bare SELECT stepping
 * through the same rows without building anything. The full interaction scan is then timed
 * against the cursor scan of the same rows (scan_compare).
 */
#include "tt/core.h"
#include "tt/dataset.h"
#include "tt/import.h"
#include "tt/store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static const char *actions[] = {"play", "play", "play", "like", "skip", "save"};

static void write_csv(const char *path, int64_t rows, int users, int tracks)
{
    FILE *f = fopen(path, "w");
    tt_rng r;

    if (!f) {
        perror(path);
        exit(1);
    }
    tt_rng_seed(&r, 3, 0);
    fprintf(f, "user_id,track_id,action,timestamp,weight\n");
    for (int64_t i = 0; i < rows; i++)
        fprintf(f, "u%07d,t%07d,%s,%lld,1\n", (int)tt_rng_below(&r, (uint64_t)users),
                (int)tt_rng_below(&r, (uint64_t)tracks), actions[tt_rng_below(&r, 6)],
                (long long)(1700000000 + i));
    fclose(f);
}

static double sqlite_floor(const char *dir, const char *csv)
{
    char path[1100], line[256];
    sqlite3 *db;
    sqlite3_stmt *st;
    FILE *f = fopen(csv, "r");
    double t0 = tt_now();

    snprintf(path, sizeof(path), "%s/floor.db", dir);
    unlink(path);
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(u TEXT, t TEXT, a TEXT, ts BIGINT,"
                     " w REAL); BEGIN", NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT INTO t VALUES (?,?,?,?,?)", -1, &st, NULL);
    if (!fgets(line, sizeof(line), f))
        exit(1);
    while (fgets(line, sizeof(line), f)) {
        char *u = strtok(line, ","), *tr = strtok(NULL, ","), *a = strtok(NULL, ",");
        char *ts = strtok(NULL, ","), *w = strtok(NULL, ",\n");
        sqlite3_bind_text(st, 1, u, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, tr, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, atoll(ts));
        sqlite3_bind_double(st, 5, atof(w));
        sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);
    fclose(f);
    unlink(path);
    return tt_now() - t0;
}

static double sqlite_scan_floor(const char *dbpath)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    double t0 = tt_now();
    int64_t n = 0;

    sqlite3_open(dbpath, &db);
    sqlite3_prepare_v2(db, "SELECT user_id, track_id, action, weight, ms_played, occurred_at"
                           " FROM interactions ORDER BY id", -1, &st, NULL);
    while (sqlite3_step(st) == SQLITE_ROW)
        n += sqlite3_column_bytes(st, 0) > 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n > 0 ? tt_now() - t0 : -1.0;
}

/* Catalog rows so the snapshot keeps every interaction (unknown tracks are left out). */
static void add_tracks(tt_store *s, int tracks)
{
    char id[32];
    tt_err err = {0};

    tt_store_begin(s, &err);
    for (int t = 0; t < tracks; t++) {
        tt_track_rec r = tt_track_rec_empty();
        snprintf(id, sizeof(id), "t%07d", t);
        r.track_id = r.title = id;
        r.artist = "artist";
        tt_store_put_track(s, &r, &err);
    }
    if (tt_store_commit(s, &err) < 0) {
        fprintf(stderr, "tracks: %s\n", err.message);
        exit(1);
    }
}

static int count_row(void *ctx, const tt_interaction_rec *r)
{
    *(int64_t *)ctx += r->user_id[0] != 0;
    return 0;
}

/*
 * The full interaction scan (tt_store_scan_interactions: binary COPY on PostgreSQL) against
 * the cursor scan of the same rows in the same order (tt_store_scan_interactions_after from
 * 0: FETCH batches of text, the path every full scan took before), alternated three times
 * each; the best of each is printed.
 */
static void scan_compare(const char *label, tt_store *s)
{
    double best[2] = {1e30, 1e30};
    int64_t n[2] = {0, 0};
    tt_err err = {0};

    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 2; k++) {
            double t0 = tt_now();
            int rc;
            n[k] = 0;
            rc = k == 0 ? tt_store_scan_interactions(s, count_row, &n[k], &err)
                        : tt_store_scan_interactions_after(s, 0, count_row, &n[k], &err);
            if (rc < 0) {
                fprintf(stderr, "%s scan: %s\n", label, err.message);
                exit(1);
            }
            t0 = tt_now() - t0;
            best[k] = t0 < best[k] ? t0 : best[k];
        }
    }
    printf("%s scan of %lld interactions (best of 3): full scan %.2f s = %.0f rows/s, cursor "
           "scan %.2f s = %.0f rows/s (%.2fx)\n", label, (long long)n[0], best[0],
           n[0] / best[0], best[1], n[1] / best[1], best[1] / best[0]);
}

static void run(const char *label, const char *url, const char *csv, int64_t rows, int tracks,
                const char *sqlite_path, double floor_s)
{
    tt_store *s;
    tt_dataset *d = NULL;
    tt_import_stats st;
    tt_err err = {0};
    double t0;

    if (tt_store_open(url, &s, &err) < 0) {
        fprintf(stderr, "%s: %s\n", label, err.message);
        return;
    }
    add_tracks(s, tracks);
    if (tt_import_csv(s, TT_IMPORT_INTERACTIONS, csv, NULL, &st, &err) < 0) {
        fprintf(stderr, "%s import: %s\n", label, err.message);
        exit(1);
    }
    printf("%s import: %lld rows in %.2f s = %.0f rows/s", label, (long long)rows, st.seconds,
           rows / st.seconds);
    if (floor_s > 0)
        printf(" (%.2fx the time of SQLite's floor, a bare INSERT without indexes: %.0f rows/s)",
               st.seconds / floor_s, rows / floor_s);
    printf("\n");
    t0 = tt_now();
    if (tt_dataset_load(s, &d, &err) < 0) {
        fprintf(stderr, "%s snapshot: %s\n", label, err.message);
        exit(1);
    }
    t0 = tt_now() - t0;
    printf("%s snapshot: %lld interactions, %d users into memory in %.2f s = %.0f rows/s",
           label, (long long)d->n_events, tt_dataset_n_users(d), t0, d->n_events / t0);
    if (sqlite_path) {
        double bare = sqlite_scan_floor(sqlite_path);
        printf(" (%.2fx the time of a bare SELECT over the same rows: %.2f s)", t0 / bare, bare);
    }
    printf("\n");
    tt_dataset_free(d);
    scan_compare(label, s);
    tt_store_close(s);
}

int main(int argc, char **argv)
{
    int64_t rows = 2000000;
    int users = 50000, tracks = 20000;
    const char *dir = "/tmp", *pg = getenv("TT_BENCH_PG_URL");
    char tmp[1024], csv[1100], db[1100], url[1200];
    double floor_s;
    struct rusage ru;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows")) rows = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--users")) users = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--tracks")) tracks = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
    }
    snprintf(tmp, sizeof(tmp), "%s/bench_store.XXXXXX", dir);
    if (!mkdtemp(tmp))
        return 1;
    snprintf(csv, sizeof(csv), "%s/interactions.csv", tmp);
    snprintf(db, sizeof(db), "%s/tt.db", tmp);
    snprintf(url, sizeof(url), "sqlite:///%s", db);
    printf("bench_store: %lld interactions (%d users x %d tracks, random actions), CSV import "
           "then snapshot load\ncommand: build/bench/bench_store --rows %lld --users %d "
           "--tracks %d%s\n", (long long)rows, users, tracks, (long long)rows, users, tracks,
           pg ? " (with TT_BENCH_PG_URL)" : "");
    write_csv(csv, rows, users, tracks);
    floor_s = sqlite_floor(tmp, csv);
    run("sqlite", url, csv, rows, tracks, db, floor_s);
    if (pg)
        run("postgresql", pg, csv, rows, tracks, NULL, 0);
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.0f MB\n", ru.ru_maxrss / 1024.0);
    unlink(csv);
    unlink(db);
    snprintf(url, sizeof(url), "%s-wal", db);
    unlink(url);
    snprintf(url, sizeof(url), "%s-shm", db);
    unlink(url);
    rmdir(tmp);
    return 0;
}
