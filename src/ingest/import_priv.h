/*
 * import_priv.h - what the importers (import*.c) share: the transaction and bad-row driver,
 * header resolution, and parsers for the values the formats have in common. Internal to
 * src/store/.
 */
#ifndef TT_STORE_IMPORT_PRIV_H
#define TT_STORE_IMPORT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/csv.h"
#include "tt/import.h"

/* Longest id (user, track, artist, recommendation) accepted, in bytes. */
#define TT__IMPORT_MAX_ID 255

/* One running import: its store, options and counters. */
struct tt__import {
    tt_store *store;
    tt_import_opts opts;
    tt_import_stats *stats; /* the caller's, or local when the caller passed none */
    tt_import_stats local;
    double t0;
};

/*
 * Starts an import: resets @stats (may be NULL), remembers the options and opens the store
 * transaction. On success tt__import_end must follow.
 */
int tt__import_begin(struct tt__import *im, tt_store *s, const tt_import_opts *opts,
                     tt_import_stats *stats, tt_err *err);

/* Commits when @rc is 0, else rolls back; records the elapsed time. Returns the final code. */
int tt__import_end(struct tt__import *im, int rc, tt_err *err);

/* A column an importer looks for in a header row. */
struct tt__col {
    const char *name;
    bool required;
    int idx; /* out: its field index, or -1 when absent */
};

/*
 * Reads the header record of @c and resolves @cols (@n of them); *@nfields gets the header's
 * field count. Errors, TT_EPARSE "NAME:1: ...": empty input, a required column missing, a
 * wanted column named twice.
 */
int tt__import_header(tt_csv *c, struct tt__col *cols, int n, int *nfields, tt_err *err);

/*
 * Handles one data row of @c: returns 0 or a negative code. TT_EPARSE means the row is bad
 * (message "NAME:LINE: reason", see tt__import_bad); any other code stops the import.
 */
typedef int (*tt__row_fn)(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err);

/*
 * Calls @fn for every remaining record of @c that has exactly @nfields fields. Bad rows
 * (malformed CSV, wrong field count, TT_EPARSE from @fn) are reported and skipped under
 * TT_IMPORT_SKIP_BAD and are otherwise returned. Other errors get the row's "NAME:LINE: "
 * in front of their message and stop the import.
 */
int tt__import_rows(struct tt__import *im, tt_csv *c, int nfields, tt__row_fn fn, void *ctx,
                    tt_err *err);

/*
 * Opens @path with @flags (TT_CSV_TRIM is always added), resolves its header against @cols
 * and runs @fn over every data row as tt__import_rows does.
 */
int tt__import_file(struct tt__import *im, const char *path, unsigned flags, struct tt__col *cols,
                    int ncol, tt__row_fn fn, void *ctx, tt_err *err);

/* "DIR/NAME", without doubling a slash that ends @dir. Release with free(). */
char *tt__path_join(const char *dir, const char *name);

/* Sets TT_EPARSE "NAME:LINE: <formatted reason>" for the current record of @c. */
int tt__import_bad(const tt_csv *c, tt_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Store writes that count what they wrote in the import's statistics. */
int tt__import_put_artist(struct tt__import *im, const tt_artist_rec *a, tt_err *err);
int tt__import_put_track(struct tt__import *im, const tt_track_rec *t, tt_err *err);
int tt__import_put_user(struct tt__import *im, const tt_user_rec *u, tt_err *err);
int tt__import_put_interaction(struct tt__import *im, const tt_interaction_rec *r, tt_err *err);

/*
 * Field @i of the current record as an id: NULL (with the bad-row error set) when it is
 * empty, longer than TT__IMPORT_MAX_ID or not UTF-8. @what names the column in the message.
 */
const char *tt__import_id(const tt_csv *c, int i, const char *what, tt_err *err);

/* Field @i as text, which must be UTF-8; NULL with the bad-row error set otherwise. */
const char *tt__import_text(const tt_csv *c, int i, const char *what, tt_err *err);

/* True when the @len bytes at @s are well-formed UTF-8. */
bool tt__utf8_valid(const char *s, size_t len);

/* Parses all of @s as a finite number. */
bool tt__parse_double(const char *s, double *out);

/* Parses all of @s as a whole number in [@lo, @hi] ("12" or "12.0"). */
bool tt__parse_int(const char *s, int64_t lo, int64_t hi, int64_t *out);

/*
 * Parses a time into Unix seconds: ISO 8601 "YYYY-MM-DD", optionally followed by "T" or a
 * space and "HH:MM[:SS[.fraction]]", optionally followed by "Z" or an offset "+HH:MM",
 * "+HHMM", "+HH" (a time without zone is UTC), or a plain non-negative integer of Unix
 * seconds. Fractions of a second are dropped.
 */
bool tt__parse_time(const char *s, int64_t *out);

/* Unix seconds of 00:00 UTC on the given day; false when the date does not exist. */
bool tt__civil_to_unix(int64_t year, int month, int day, int64_t *out);

/*
 * Checks value @v of audio feature @f (enum tt_feature): NULL when valid, else a reason
 * such as "must be between 0 and 1".
 */
const char *tt__feature_check(int f, double v);

/*
 * Reads the audio features of the current record of @c from the columns @cols (TT_N_FEATURES
 * of them, in enum tt_feature order) into @out; empty fields leave their value as it was.
 * TT_EPARSE for a value that is not a number or not valid for its feature.
 */
int tt__import_features(const tt_csv *c, const struct tt__col *cols, float *out, tt_err *err);

/* A growable string buffer; cleared for reuse by setting len to 0. */
struct tt__sbuf {
    char *p;
    size_t len, cap;
};

void tt__sbuf_add(struct tt__sbuf *b, const char *s, size_t n);
/* The contents, NUL-terminated ("" when empty). Borrowed until the next change. */
const char *tt__sbuf_str(struct tt__sbuf *b);
void tt__sbuf_release(struct tt__sbuf *b);

/*
 * Appends one genre to the '|'-separated list in @b: surrounding spaces dropped, ASCII
 * lower-cased, any '|' inside it turned into '/'; empty genres and ones already in the list
 * are left out.
 */
void tt__genre_add(struct tt__sbuf *b, const char *g, size_t n);

/* Appends every genre of the @sep-separated list @s (as tt__genre_add). */
void tt__genres_add_list(struct tt__sbuf *b, const char *s, char sep);

#endif
