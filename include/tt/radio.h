/*
 * radio.h - endless stations grown from a seed (a track, an artist, a genre, or several),
 * optionally leaning to one listener's taste, continued page after page through a small
 * signed cursor.
 *
 * How a station plays. Its pool is the seed's TT_RADIO_POOL_MAX nearest tracks (the mean of
 * the cosine similarity of collaborative factors and of content vectors to the seed tracks'
 * centre, plus a lean to the listener's ALS vector), ranked and cut into rings of
 * TT_RADIO_BLOCK tracks. The station walks the rings in order, nearest first, and the tracks
 * of a ring in an order drawn from (station, ring); after the last ring it starts over in
 * the same order (a new cycle). Each position is considered once per
 * cycle, played or passed over; the cursor keeps only the walk position, how many tracks
 * each ring played on its latest pass, the last TT_RADIO_ARTIST_GAP artists and a few
 * skipped tracks. It never lists what was played.
 *
 * No repeats with bounded state: a track considered again one cycle later is played only if
 * the rings other than its own played at least TT_RADIO_NO_REPEAT tracks on their latest
 * passes, which all happened after its previous consideration: so at least that many tracks
 * separate two plays of it. When the pool is the whole reachable catalog and at most
 * TT_RADIO_NO_REPEAT tracks, every other reachable track is considered before a repeat.
 *
 * When no candidate passes, the rules relax in this order, for that one track (the next
 * one starts strict again): the artist gap 10 -> 5 -> 2 -> 1; then the pool widens by eight
 * rings (kept for the rest of the station) and the artist gap starts again at 10; then
 * repeats older than 500, 200, then 0 tracks (still never two considerations of a track
 * within one cycle); last the steering away from skipped tracks is dropped. Disliked tracks
 * are never played.
 *
 * Steering: a skip or dislike of a station's track (fed through tt_radio_next's events)
 * keeps the station off that track's artist and off every candidate closer to the skipped
 * track than to the seed, for the next TT_RADIO_STEER_MAX skips.
 *
 * A seed without neighbours (no plays in the CF model and no content vector) gets the most
 * popular tracks of its genres instead (of the catalog when it has none), and the state says
 * so (fallback).
 */
#ifndef TT_RADIO_H
#define TT_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/catalog.h"
#include "tt/err.h"
#include "tt/model.h"

#define TT_RADIO_NO_REPEAT 1000  /* tracks between two plays of one track */
#define TT_RADIO_ARTIST_GAP 10   /* tracks between two plays of one artist */
#define TT_RADIO_POOL_MAX 3072   /* nearest tracks a station may reach */
#define TT_RADIO_POOL_START 1536 /* of which the walk covers at first */
#define TT_RADIO_BLOCK 64        /* tracks per ring */
#define TT_RADIO_RINGS (TT_RADIO_POOL_MAX / TT_RADIO_BLOCK)
#define TT_RADIO_STEER_MAX 8     /* skipped tracks a station remembers */
#define TT_RADIO_SEEDS_MAX 8     /* seed tracks (an artist's or genre's best) */
#define TT_RADIO_ID_MAX 256      /* bytes of a seed id, artist or user id */
#define TT_RADIO_GENRE_MAX 128   /* bytes of a genre name */
#define TT_RADIO_CURSOR_MAX 2400 /* characters of the longest cursor (all ids at their max) */

/* What a station reads: borrowed, must outlive the tt_radio. Any model may be NULL. */
typedef struct tt_radio_sources {
    const tt_catalog *cat;      /* required */
    const tt_model *als;        /* collaborative factors (similarity, the listener's lean) */
    const tt_model *content;    /* content vectors */
    const tt_model *popularity; /* "genre" or "popularity": fallback pools */
} tt_radio_sources;

typedef struct tt_radio tt_radio;

/* A station engine over @src, with a cache of recent pools. Thread-safe once made. */
int tt_radio_new(const tt_radio_sources *src, tt_radio **out, tt_err *err);
void tt_radio_free(tt_radio *r);

enum tt_radio_flags {
    TT_RADIO_CONTENT = 1 << 0,  /* use content vectors (starter tier and above) */
    TT_RADIO_FALLBACK = 1 << 1, /* the pool is genre popularity: the seed had no neighbours */
};

/*
 * A station's whole state, as its cursor carries it. The seed strings are kept (not dense
 * ids) so a station outlives a retrain: against another catalog the seed is resolved again
 * and the walk starts over.
 */
typedef struct tt_radio_state {
    uint64_t station; /* random id drawn at creation */
    uint64_t catalog; /* tt_catalog_id the walk positions refer to */
    uint32_t flags;   /* enum tt_radio_flags */
    uint32_t page;    /* pages served */
    uint32_t played;  /* tracks served */
    uint32_t cycle;   /* complete passes over the pool */
    uint16_t pos;     /* next walk position, < width */
    uint16_t width;   /* walk positions in use (rings * TT_RADIO_BLOCK), grows on relaxing */
    uint8_t ring_plays[TT_RADIO_RINGS];  /* plays of each ring's latest pass; 255 = never */
    int32_t recent[TT_RADIO_ARTIST_GAP]; /* last artists, newest first */
    uint8_t n_recent;
    int32_t steer[TT_RADIO_STEER_MAX]; /* skipped tracks, newest first */
    uint8_t n_steer;
    int64_t steer_t; /* newest steering event taken in (Unix seconds) */
    char track_id[TT_RADIO_ID_MAX + 1], artist[TT_RADIO_ID_MAX + 1], genre[TT_RADIO_GENRE_MAX + 1],
        user_id[TT_RADIO_ID_MAX + 1]; /* "" = none */
} tt_radio_state;

/*
 * Starts a station in @st from the seed fields already copied into it (track_id, artist as
 * the catalog names it, genre; any non-empty ones combine) and @flags (TT_RADIO_CONTENT),
 * with id @station. Errors: TT_EINVAL (field "track_id") when no seed is given;
 * TT_ENOTFOUND naming "track_id", "artist" or "genre" for an unknown one.
 */
int tt_radio_start(const tt_radio *r, uint64_t station, uint32_t flags, tt_radio_state *st,
                   tt_err *err);

/* A skip or dislike of a station track (dense id), fed back to steer the station. */
typedef struct tt_radio_event {
    int32_t track;
    int64_t t; /* Unix seconds */
} tt_radio_event;

/* What the listener brings to the next page: all borrowed, any may be empty. */
typedef struct tt_radio_listener {
    const int32_t *avoid; /* tracks never to play (disliked), sorted ascending */
    int32_t n_avoid;
    const tt_radio_event *events; /* skips and dislikes sent for this station */
    int32_t n_events;
} tt_radio_listener;

/*
 * The next up to @limit tracks of the station into @out (caller-allocated, @limit entries,
 * score = similarity to the seed, or popularity for a fallback), *n their count, advancing
 * @st. Takes in @lis's events newer than the state's. Fewer than @limit only when the pool
 * has nothing left that is not disliked. A state made for another catalog is restarted
 * from its seed (TT_ENOTFOUND when the seed no longer exists). Thread-safe.
 */
int tt_radio_next(tt_radio *r, tt_radio_state *st, const tt_radio_listener *lis, int limit,
                  tt_scored *out, int *n, tt_err *err);

/* Similarity of track @t to the station's seed (the measure its pool is ranked by). */
float tt_radio_seed_similarity(tt_radio *r, const tt_radio_state *st, int32_t t);

/*
 * The cursor of @st: base64url (no padding) of the state and an HMAC-SHA256 of it under
 * @key (32 bytes). @buf holds at least TT_RADIO_CURSOR_MAX + 1 bytes; returns the length.
 */
size_t tt_radio_cursor_encode(const tt_radio_state *st, const uint8_t key[32], char *buf);

/*
 * Reads a cursor back into @st. TT_EINVAL (field "cursor") for anything not made by
 * tt_radio_cursor_encode under @key: altered, truncated, extended, another key.
 */
int tt_radio_cursor_decode(const char *s, size_t len, const uint8_t key[32], tt_radio_state *st,
                           tt_err *err);

/*
 * The stations' signing key: SHA-256 of the environment variable RADIO_SECRET when set,
 * else of the file @model_dir/radio.secret, created once (32 random bytes, mode 0600,
 * atomically: concurrent first starts agree on one file). Every replica sharing MODEL_DIR
 * (or RADIO_SECRET) accepts the others' cursors. Errors: TT_EIO.
 */
int tt_radio_key(const char *model_dir, uint8_t key[32], tt_err *err);

#endif
