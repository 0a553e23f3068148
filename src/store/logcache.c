/*
 * The incremental training snapshot (include/tt/logcache.h has the file format).
 *
 * One pass, bounded memory: the old cache is streamed in chunks; each chunk is appended to
 * the new cache file as it is (its local indices stay valid: the new file's tables begin
 * with the old ones) and decoded into the dataset; then the store's new interactions are
 * scanned, appended to both, and the tables written last. Neither the cache nor a second
 * copy of the log is ever held in memory, only the id tables (a few bytes per user and
 * track).
 *
 * Remapping: a local index is mapped to the dataset's dense id the first time an event uses
 * it, by interning its string exactly as tt_dataset_add_event would at that event, so users
 * first seen in interactions get the dense ids, in the order, that a full read gives them.
 * After that, one array lookup per event. The full read looks a track up in the catalog
 * (unknown: the event is counted and skipped) before it interns the user, so a user seen
 * only on unknown tracks gets no dense id here either: such users and such tracks are kept
 * in tables of their own (unk_*), only so that new events on them find their local index.
 *
 * Why the cache is trusted: a store's interactions only grow by ids above the watermark
 * (tt_log_state says why this holds in PostgreSQL too) unless a row is updated or deleted,
 * which the store's rewrite counter records; the counter and the watermark are read before
 * anything is scanned, so a change during the read shows next time rather than being missed.
 * The file itself is checked by size and CRC-32; a damaged body is only noticed once it has
 * been decoded, so the dataset is then dropped and everything read again.
 */
#include "tt/logcache.h"
#include "dataset_priv.h"
#include "tt/byteorder.h"
#include "tt/core.h"
#include "tt/fileio.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "TTLOGC\r\n"
#define FORMAT_VERSION 1
#define HEADER_SIZE 128
#define REC_SIZE 21
/* Events per chunk read from the old cache, and bytes buffered before a write. */
#define CHUNK_EVENTS 65536
#define OUT_BUFFER (1 << 20)
/* How long the PostgreSQL watermark may wait for writers in flight (tt_store_log_state). */
#define LOCK_MS 2000

enum header_field {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_HEADER_SIZE = 12,
    H_STORE_ID = 16,
    H_REWRITES = 56,
    H_WATERMARK = 64,
    H_EVENTS = 72,
    H_USERS = 80,
    H_TRACKS = 84,
    H_USER_BYTES = 88,
    H_TRACK_BYTES = 96,
    H_BODY_CRC = 104,
    H_HEADER_CRC = 124,
};

/* A local index not mapped yet, and one whose track (or user) has no dense id. */
#define UNMAPPED INT32_MIN
#define UNKNOWN (-1)

/* The cache being read: its header and its id tables; the events stay in the file. */
struct old_cache {
    int fd;
    int64_t watermark, n_events;
    uint32_t n_users, n_tracks;
    uint64_t user_bytes, track_bytes;
    uint32_t body_crc;
    char *strings;              /* the user table, then the track table */
    const char **user, **track; /* each local index's string, into @strings */
};

/* A table of local indices: names of those given in this run, and reverse maps. */
struct locals {
    int32_t n;          /* indices given so far, the old table's first */
    const char **added; /* names of the indices this run gave, in order (borrowed) */
    size_t added_n, added_cap;
    int32_t *of_dense; /* per dense id: its local index, or -1 */
    size_t dense_cap;
    tt_ids *unk;     /* strings without a dense id */
    int32_t *of_unk; /* per unk id: its local index, or -1 */
    size_t unk_cap;
    int32_t *dense_of; /* per old local index: UNMAPPED, UNKNOWN or its dense id */
};

/* The new cache file, written as the snapshot is read. */
struct out {
    bool on;
    tt_atomic_file f;
    uint8_t *buf;
    size_t len;
    uint32_t crc;
    int64_t n_events;
    char why_not[512];
};

struct build {
    tt_dataset *d;
    struct locals users, tracks;
    struct out out;
    int64_t fresh, cached;
};

/* ---- the new file ---------------------------------------------------------------------- */

static void out_stop(struct out *o, const char *why)
{
    if (!o->on)
        return;
    snprintf(o->why_not, sizeof(o->why_not), "%s", why);
    tt_atomic_abort(&o->f);
    o->on = false;
}

static void out_write(struct out *o, const void *p, size_t n)
{
    tt_err err = {0};

    o->crc = tt_crc32(o->crc, p, n);
    if (tt_atomic_write(&o->f, p, n, &err) < 0)
        out_stop(o, err.message);
}

static void out_flush(struct out *o)
{
    if (o->on && o->len > 0)
        out_write(o, o->buf, o->len);
    o->len = 0;
}

/* Appends @n bytes to the file (CRC'd), buffered; large blocks go straight from @p. */
static void out_bytes(struct out *o, const void *p, size_t n)
{
    if (!o->on || n == 0)
        return;
    if (o->len + n > OUT_BUFFER)
        out_flush(o);
    if (n >= OUT_BUFFER) {
        if (o->on)
            out_write(o, p, n);
        return;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_open(struct out *o, const char *path)
{
    uint8_t zero[HEADER_SIZE] = {0};
    tt_err err = {0};

    memset(o, 0, sizeof(*o));
    if (tt_atomic_open(&o->f, path, &err) < 0) {
        snprintf(o->why_not, sizeof(o->why_not), "%s", err.message);
        return;
    }
    o->on = true;
    o->buf = tt_malloc(OUT_BUFFER);
    if (tt_atomic_write(&o->f, zero, sizeof(zero), &err) < 0)
        out_stop(o, err.message);
}

static void out_event(struct out *o, int32_t lu, int32_t lt, uint8_t action, float weight,
                      int64_t t)
{
    uint8_t r[REC_SIZE];
    uint32_t w;

    if (!o->on)
        return;
    memcpy(&w, &weight, sizeof(w));
    tt__put_u32(r, (uint32_t)lu);
    tt__put_u32(r + 4, (uint32_t)lt);
    r[8] = action;
    tt__put_u32(r + 9, w);
    tt__put_i64(r + 13, t);
    out_bytes(o, r, sizeof(r));
    o->n_events++;
}

/* The names a table gave in this run, after the old table's bytes (@old, @old_bytes). */
static uint64_t out_table(struct out *o, const struct locals *l, const char *old,
                          uint64_t old_bytes)
{
    uint64_t bytes = old_bytes;

    out_bytes(o, old, old_bytes);
    for (size_t i = 0; i < l->added_n; i++) {
        size_t n = strlen(l->added[i]) + 1;
        out_bytes(o, l->added[i], n);
        bytes += n;
    }
    return bytes;
}

/* The tables, then the header; fsync and rename. */
static void out_finish(struct build *b, const struct old_cache *old, const tt_log_state *st)
{
    struct out *o = &b->out;
    uint8_t h[HEADER_SIZE] = {0};
    uint64_t ub, tb;
    tt_err err = {0};

    if (!o->on)
        return;
    ub = out_table(o, &b->users, old ? old->strings : NULL, old ? old->user_bytes : 0);
    tb = out_table(o, &b->tracks, old ? old->strings + old->user_bytes : NULL,
                   old ? old->track_bytes : 0);
    out_flush(o);
    if (!o->on)
        return;
    memcpy(h + H_MAGIC, MAGIC, 8);
    tt__put_u32(h + H_VERSION, FORMAT_VERSION);
    tt__put_u32(h + H_HEADER_SIZE, HEADER_SIZE);
    memcpy(h + H_STORE_ID, st->store_id, strnlen(st->store_id, TT_STORE_ID_MAX - 1));
    tt__put_i64(h + H_REWRITES, st->rewrites);
    tt__put_i64(h + H_WATERMARK, st->max_id);
    tt__put_i64(h + H_EVENTS, o->n_events);
    tt__put_u32(h + H_USERS, (uint32_t)b->users.n);
    tt__put_u32(h + H_TRACKS, (uint32_t)b->tracks.n);
    tt__put_u64(h + H_USER_BYTES, ub);
    tt__put_u64(h + H_TRACK_BYTES, tb);
    tt__put_u32(h + H_BODY_CRC, o->crc);
    tt__put_u32(h + H_HEADER_CRC, tt_crc32(0, h, H_HEADER_CRC));
    if (tt_atomic_pwrite(&o->f, h, sizeof(h), 0, &err) < 0 || tt_atomic_commit(&o->f, &err) < 0) {
        snprintf(o->why_not, sizeof(o->why_not), "%s", err.message);
        tt_atomic_abort(&o->f);
    }
    o->on = false;
}

/* ---- local indices ------------------------------------------------------------------- */

static void locals_init(struct locals *l, int32_t n_old)
{
    memset(l, 0, sizeof(*l));
    l->n = n_old;
    l->unk = tt_ids_new();
    l->dense_of = tt_malloc(((size_t)n_old + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < n_old; i++)
        l->dense_of[i] = UNMAPPED;
}

static void locals_release(struct locals *l)
{
    free(l->added);
    free(l->of_dense);
    free(l->of_unk);
    free(l->dense_of);
    tt_ids_free(l->unk);
}

/* Entry @i of a table grown as needed, new entries -1. */
static int32_t *slot(int32_t **arr, size_t *cap, int32_t i)
{
    size_t old = *cap;

    if ((size_t)i >= old) {
        TT_GROW(*arr, *cap, (size_t)i + 1);
        for (size_t k = old; k < *cap; k++)
            (*arr)[k] = -1;
    }
    return &(*arr)[i];
}

/* A new local index named @name (borrowed from a tt_ids that outlives the build). */
static int32_t local_add(struct locals *l, const char *name)
{
    TT_GROW(l->added, l->added_cap, l->added_n + 1);
    l->added[l->added_n++] = name;
    return l->n++;
}

/*
 * The local index of a new event's id @s: @dense is its dense id, or -1 when it has none
 * (@ids: the dataset's table it would be in).
 */
static int32_t local_of(struct locals *l, const tt_ids *ids, int32_t dense, const char *s,
                        size_t len)
{
    int32_t *loc, k;

    if (dense >= 0) {
        loc = slot(&l->of_dense, &l->dense_cap, dense);
        if (*loc < 0) {
            /* Seen before without a dense id (a user of unknown tracks only)? */
            k = tt_ids_count(l->unk) ? tt_ids_find(l->unk, s, len) : -1;
            *loc = k >= 0 && (size_t)k < l->unk_cap && l->of_unk[k] >= 0
                       ? l->of_unk[k]
                       : local_add(l, tt_ids_name(ids, dense));
        }
        return *loc;
    }
    k = tt_ids_intern(l->unk, s, len);
    loc = slot(&l->of_unk, &l->unk_cap, k);
    if (*loc < 0)
        *loc = local_add(l, tt_ids_name(l->unk, k));
    return *loc;
}

/* Old local index @i has dense id @dense: new events with that id reuse @i. */
static void local_note_dense(struct locals *l, int32_t i, int32_t dense)
{
    int32_t *loc = slot(&l->of_dense, &l->dense_cap, dense);

    l->dense_of[i] = dense;
    if (*loc < 0)
        *loc = i;
}

/* Old local index @i, string @s, has no dense id: new events with @s reuse @i. */
static void local_note_unknown(struct locals *l, int32_t i, const char *s)
{
    int32_t *loc = slot(&l->of_unk, &l->unk_cap, tt_ids_intern(l->unk, s, strlen(s)));

    l->dense_of[i] = UNKNOWN;
    if (*loc < 0)
        *loc = i;
}

/* ---- the store's new interactions --------------------------------------------------- */

static int add_fresh(void *ctx, const tt_interaction_rec *r)
{
    struct build *b = ctx;
    tt_dataset *d = b->d;
    size_t ulen = strlen(r->user_id), tlen = strlen(r->track_id);
    int32_t t = tt_ids_find(d->tracks, r->track_id, tlen), u, lu, lt;

    if (r->id > d->max_event_id)
        d->max_event_id = r->id;
    b->fresh++;
    if (t < 0) {
        d->n_unknown_track_events++;
        u = tt_ids_find(d->users, r->user_id, ulen);
    } else {
        u = tt_ids_intern(d->users, r->user_id, ulen);
        tt__dataset_push_event(d, u, t, (uint8_t)r->action, r->weight, r->occurred_at);
    }
    if (b->out.on) {
        lu = local_of(&b->users, d->users, u, r->user_id, ulen);
        lt = local_of(&b->tracks, d->tracks, t, r->track_id, tlen);
        out_event(&b->out, lu, lt, (uint8_t)r->action, r->weight, r->occurred_at);
    }
    return 0;
}

/* ---- the old cache ------------------------------------------------------------------- */

static void old_close(struct old_cache *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->strings);
    free(c->user);
    free(c->track);
    free(c);
}

/* Writes why the cache cannot be used into @why (@cap bytes); returns false. */
__attribute__((format(printf, 3, 4))) static bool refuse(char *why, size_t cap, const char *fmt,
                                                         ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
    return false;
}

static bool read_at(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *b = p;

    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return true;
}

/* Points @out[0..n) at the @n NUL-terminated strings of @p (@bytes); false if they are not. */
static bool split_table(const char *p, uint64_t bytes, uint32_t n, const char **out)
{
    uint64_t at = 0;

    for (uint32_t i = 0; i < n; i++) {
        const char *e = at < bytes ? memchr(p + at, '\0', bytes - at) : NULL;
        if (!e)
            return false;
        out[i] = p + at;
        at = (uint64_t)(e - p) + 1;
    }
    return at == bytes;
}

/* The header at @h, checked against itself and the file's @size: false and why not. */
static bool old_header(struct old_cache *c, const uint8_t *h, uint64_t size, char *why, size_t cap)
{
    uint64_t body;

    if (memcmp(h + H_MAGIC, MAGIC, 8) != 0)
        return refuse(why, cap, "cache damaged: not a snapshot cache");
    if (tt__get_u32(h + H_HEADER_CRC) != tt_crc32(0, h, H_HEADER_CRC))
        return refuse(why, cap, "cache damaged: header checksum");
    if (tt__get_u32(h + H_VERSION) != FORMAT_VERSION ||
        tt__get_u32(h + H_HEADER_SIZE) != HEADER_SIZE)
        return refuse(why, cap, "cache of another format (version %u)", tt__get_u32(h + H_VERSION));
    c->watermark = tt__get_i64(h + H_WATERMARK);
    c->n_events = tt__get_i64(h + H_EVENTS);
    c->n_users = tt__get_u32(h + H_USERS);
    c->n_tracks = tt__get_u32(h + H_TRACKS);
    c->user_bytes = tt__get_u64(h + H_USER_BYTES);
    c->track_bytes = tt__get_u64(h + H_TRACK_BYTES);
    c->body_crc = tt__get_u32(h + H_BODY_CRC);
    if (c->n_events < 0 || c->n_events > (int64_t)(size / REC_SIZE) || c->n_users > INT32_MAX ||
        c->n_tracks > INT32_MAX || c->user_bytes > size || c->track_bytes > size)
        return refuse(why, cap, "cache damaged: impossible sizes");
    body = (uint64_t)c->n_events * REC_SIZE + c->user_bytes + c->track_bytes;
    if (HEADER_SIZE + body != size)
        return refuse(why, cap, "cache damaged: %llu bytes, the header says %llu",
                      (unsigned long long)size, (unsigned long long)(HEADER_SIZE + body));
    return true;
}

/* Whether the cache describes the store of @st as it is now: false and why not. */
static bool old_matches(const struct old_cache *c, const uint8_t *h, const tt_log_state *st,
                        char *why, size_t cap)
{
    char id[TT_STORE_ID_MAX] = {0};
    int64_t rewrites = tt__get_i64(h + H_REWRITES);

    memcpy(id, h + H_STORE_ID, TT_STORE_ID_MAX - 1);
    if (strcmp(id, st->store_id) != 0)
        return refuse(why, cap, "store changed (the cache was read from another database)");
    if (rewrites != st->rewrites)
        return refuse(why, cap,
                      "rows rewritten (%lld transactions updated or deleted"
                      " interactions since the cache)",
                      (long long)(st->rewrites - rewrites));
    if (c->watermark > st->max_id)
        return refuse(why, cap, "store changed (it has fewer interactions than the cache)");
    return true;
}

static bool old_tables(struct old_cache *c, char *why, size_t cap)
{
    uint64_t bytes = c->user_bytes + c->track_bytes;

    c->strings = tt_malloc(bytes + 1);
    c->user = tt_malloc(((size_t)c->n_users + 1) * sizeof(char *));
    c->track = tt_malloc(((size_t)c->n_tracks + 1) * sizeof(char *));
    if (!read_at(c->fd, c->strings, bytes, HEADER_SIZE + (uint64_t)c->n_events * REC_SIZE))
        return refuse(why, cap, "cache damaged: unreadable");
    if (!split_table(c->strings, c->user_bytes, c->n_users, c->user) ||
        !split_table(c->strings + c->user_bytes, c->track_bytes, c->n_tracks, c->track))
        return refuse(why, cap, "cache damaged: id tables");
    return true;
}

/* Opens the cache at @path for the store of @st: *@out, or NULL and why not in @why. */
static void old_open(const char *path, const tt_log_state *st, struct old_cache **out, char *why,
                     size_t cap)
{
    struct old_cache *c = tt_calloc(1, sizeof(*c));
    uint8_t h[HEADER_SIZE];
    struct stat sb;
    bool good;

    *out = NULL;
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0)
        good = refuse(why, cap, "%s", errno == ENOENT ? "no cache" : "cache unreadable");
    else if (fstat(c->fd, &sb) != 0 || sb.st_size < HEADER_SIZE || !read_at(c->fd, h, sizeof(h), 0))
        good = refuse(why, cap, "cache damaged: shorter than its header");
    else
        good = old_header(c, h, (uint64_t)sb.st_size, why, cap) &&
               old_matches(c, h, st, why, cap) && old_tables(c, why, cap);
    if (!good) {
        old_close(c);
        return;
    }
    *out = c;
}

/* The dense track of old local track @lt, mapped at its first use. */
static int32_t old_track(struct build *b, const struct old_cache *c, int32_t lt)
{
    const char *s = c->track[lt];
    int32_t t = tt_ids_find(b->d->tracks, s, strlen(s));

    if (t >= 0)
        local_note_dense(&b->tracks, lt, t);
    else
        local_note_unknown(&b->tracks, lt, s);
    return t >= 0 ? t : UNKNOWN;
}

/* Decodes @n records of @p into the dataset: false at the first impossible one. */
static bool replay_chunk(struct build *b, const struct old_cache *c, const uint8_t *p, size_t n)
{
    tt_dataset *d = b->d;
    struct locals *U = &b->users, *T = &b->tracks;

    for (size_t i = 0; i < n; i++, p += REC_SIZE) {
        uint32_t lu = tt__get_u32(p), lt = tt__get_u32(p + 4), wbits = tt__get_u32(p + 9);
        int32_t u, t;
        float w;

        if (lu >= c->n_users || lt >= c->n_tracks || p[8] >= TT_ACT_COUNT)
            return false;
        t = T->dense_of[lt];
        if (t == UNMAPPED)
            t = old_track(b, c, (int32_t)lt);
        if (t == UNKNOWN) {
            d->n_unknown_track_events++;
            if (U->dense_of[lu] == UNMAPPED)
                local_note_unknown(U, (int32_t)lu, c->user[lu]);
            continue;
        }
        u = U->dense_of[lu];
        if (u < 0) {
            u = tt_ids_intern(d->users, c->user[lu], strlen(c->user[lu]));
            local_note_dense(U, (int32_t)lu, u);
        }
        memcpy(&w, &wbits, sizeof(w));
        tt__dataset_push_event(d, u, t, p[8], w, tt__get_i64(p + 13));
    }
    return true;
}

/* Every event of the cache into the dataset and the new file: NULL, or why it failed. */
static const char *replay(struct build *b, const struct old_cache *c)
{
    uint8_t *chunk = tt_malloc((size_t)CHUNK_EVENTS * REC_SIZE);
    uint64_t off = HEADER_SIZE;
    uint32_t crc = 0;
    const char *bad = NULL;

    b->d->max_event_id = c->watermark;
    for (int64_t done = 0; done < c->n_events && !bad;) {
        size_t n = (size_t)(c->n_events - done < CHUNK_EVENTS ? c->n_events - done : CHUNK_EVENTS);
        if (!read_at(c->fd, chunk, n * REC_SIZE, off)) {
            bad = "cache damaged: unreadable";
            break;
        }
        crc = tt_crc32(crc, chunk, n * REC_SIZE);
        out_bytes(&b->out, chunk, n * REC_SIZE);
        if (!replay_chunk(b, c, chunk, n))
            bad = "cache damaged: an event out of range";
        done += (int64_t)n;
        off += n * REC_SIZE;
    }
    b->out.n_events += c->n_events;
    b->cached = c->n_events;
    crc = tt_crc32(crc, c->strings, c->user_bytes + c->track_bytes);
    if (!bad && crc != c->body_crc)
        bad = "cache damaged: checksum";
    free(chunk);
    return bad;
}

/* ---- one attempt ---------------------------------------------------------------------- */

static void build_release(struct build *b)
{
    locals_release(&b->users);
    locals_release(&b->tracks);
    if (b->out.on)
        tt_atomic_abort(&b->out.f);
    free(b->out.buf);
    tt_dataset_free(b->d);
}

/*
 * Reads the snapshot once: from @old (may be NULL) and the store above its watermark, or the
 * whole log. @st NULL: no watermark could be had, so no bound and no cache written.
 * *@damaged (with @why) when @old turned out damaged: nothing is returned, read again.
 */
static int attempt(tt_store *s, const tt_log_state *st, struct old_cache *old, const char *path,
                   unsigned flags, tt_logcache_report *rep, bool *damaged, tt_dataset **out,
                   tt_err *err)
{
    struct build b;
    const char *bad = NULL;
    int rc;

    memset(&b, 0, sizeof(b));
    b.d = tt_dataset_new();
    locals_init(&b.users, old ? (int32_t)old->n_users : 0);
    locals_init(&b.tracks, old ? (int32_t)old->n_tracks : 0);
    if (st && !(flags & TT_LOGCACHE_NO_WRITE))
        out_open(&b.out, path);
    rc = tt__dataset_load_catalog(s, b.d, err);
    if (rc == 0 && old) {
        int64_t gap = st->max_id - old->watermark;
        tt__dataset_reserve_events(
            b.d, old->n_events + (gap < old->n_events / 4 + 1024 ? gap : old->n_events / 4 + 1024));
        bad = replay(&b, old);
    }
    if (bad) {
        *damaged = true;
        snprintf(rep->why_full, sizeof(rep->why_full), "%s", bad);
        build_release(&b);
        return 0;
    }
    if (rc == 0)
        rc = tt_store_scan_interactions_range(s, old ? old->watermark : INT64_MIN,
                                              st ? st->max_id : INT64_MAX, add_fresh, &b, err);
    if (rc < 0) {
        build_release(&b);
        return rc;
    }
    tt_dataset_finish(b.d);
    out_finish(&b, old, st);
    rep->incremental = old != NULL;
    rep->cached = b.cached;
    rep->fresh = b.fresh;
    rep->written = st && !(flags & TT_LOGCACHE_NO_WRITE) && !b.out.why_not[0];
    if (b.out.why_not[0])
        snprintf(rep->why_not_written, sizeof(rep->why_not_written), "%s", b.out.why_not);
    *out = b.d;
    b.d = NULL;
    build_release(&b);
    return 0;
}

int tt_logcache_load(tt_store *s, const char *path, unsigned flags, tt_dataset **out,
                     tt_logcache_report *rep, tt_err *err)
{
    tt_logcache_report local;
    struct old_cache *old = NULL;
    tt_log_state st;
    tt_err busy = {0};
    double t0 = tt_now();
    bool damaged = false, have_state = true;
    int rc;

    if (!s || !path || !out)
        return tt_err_set(err, TT_EINVAL, "store, cache path and output are required");
    rep = rep ? rep : &local;
    memset(rep, 0, sizeof(*rep));
    rc = tt_store_log_state(s, LOCK_MS, &st, &busy);
    if (rc == TT_EDBBUSY) {
        have_state = false;
        snprintf(rep->why_full, sizeof(rep->why_full), "no watermark: %s", busy.message);
        snprintf(rep->why_not_written, sizeof(rep->why_not_written), "no watermark");
    } else if (rc < 0) {
        if (err && !err->code)
            *err = busy;
        return rc;
    } else if (flags & TT_LOGCACHE_FULL) {
        snprintf(rep->why_full, sizeof(rep->why_full), "asked for");
    } else {
        old_open(path, &st, &old, rep->why_full, sizeof(rep->why_full));
    }
    rc = attempt(s, have_state ? &st : NULL, old, path, flags, rep, &damaged, out, err);
    if (rc == 0 && damaged)
        rc = attempt(s, &st, NULL, path, flags, rep, &damaged, out, err);
    old_close(old);
    rep->seconds = tt_now() - t0;
    return rc;
}
