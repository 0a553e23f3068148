/*
 * store_fixture.h - what the store tests share. Each STORE_TEST body runs twice: against a
 * fresh SQLite file and against the PostgreSQL database named by TT_TEST_PG_URL, wiped first
 * (skipped without it, failed under CI=true). db_url is the database of the running test.
 */
#ifndef TT_TEST_STORE_FIXTURE_H
#define TT_TEST_STORE_FIXTURE_H

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "tt/store.h"

extern char db_dir[256];
extern char db_url[1200];

/* Each body runs once per backend: Test(store_sqlite, name) and Test(store_pg, name). */
#define STORE_TEST(name)                                                                           \
    static void body_##name(void);                                                                 \
    Test(store_sqlite, name, .init = sqlite_setup, .fini = sqlite_teardown)                        \
    {                                                                                              \
        body_##name();                                                                             \
    }                                                                                              \
    Test(store_pg, name)                                                                           \
    {                                                                                              \
        pg_setup();                                                                                \
        body_##name();                                                                             \
    }                                                                                              \
    static void body_##name(void)

/* Scan results copied out of the callbacks, whose strings are borrowed. */
#define MAX_ROWS 64
struct rows {
    int n;
    int stop_after; /* 0: never stop; else return -42 after this many rows */
    tt_interaction_rec in[MAX_ROWS];
    tt_track_rec tr[MAX_ROWS];
    float emb[MAX_ROWS][8];
    tt_user_rec us[MAX_ROWS];
    tt_artist_rec ar[MAX_ROWS];
};

/* Called with each result row of raw_query, its values as text (NULL for SQL NULL). */
typedef void (*raw_row_fn)(void *ctx, const char *const *v);
#define RAW_MAX_COLS 16

void sqlite_setup(void);
void sqlite_teardown(void);
void pg_admin(const char *sql);
void pg_setup(void);
tt_store *open_store(void);
int64_t count(tt_store *s, const char *table);
void ok(int rc, const tt_err *err, const char *what);
tt_interaction_rec play(const char *user, const char *track, int64_t at, float weight);
tt_interaction_rec event(const char *user, const char *track, int64_t at, float weight, const char *event_id);
void put_interactions(tt_store *s, const tt_interaction_rec *rs, int n);
/* A malloc'd copy of @s, or NULL for NULL. */
char *dup_or_null(const char *s);
bool same_str(const char *a, const char *b);
int on_interaction(void *ctx, const tt_interaction_rec *x);
int on_track(void *ctx, const tt_track_rec *t);
int on_user(void *ctx, const tt_user_rec *u);
int on_artist(void *ctx, const tt_artist_rec *a);
void rows_free(struct rows *r);
struct rows *rows_new(void);
struct rows *scan_interactions(tt_store *s);
bool on_sqlite(void);
sqlite3 *sqlite_raw(void);
void raw_exec(const char *sql);
void raw_query(const char *sql, raw_row_fn fn, void *ctx);
int64_t raw_int(const char *sql);
int64_t raw_count(const char *table);
bool raw_has(const char *kind, const char *name);
bool raw_has_table(const char *name);

#endif
