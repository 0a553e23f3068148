/*
 * HetRec 2011 Last.fm 2K (GroupLens): who listened to which artist how often, and which tags
 * users gave artists. The dataset has no tracks, so each artist becomes one catalog item;
 * recommending artists is what the collaborative models are evaluated on.
 *
 * Files are tab-separated with a header and no quoting; tags.dat alone is ISO-8859-1. The
 * catalog tables are small (ids below 20,000), so they are held in arrays indexed by id.
 * The files are read in dependency order: tag names, tag events (genres and first-tag
 * dates), artist names, then listening rows, which write users and plays as they stream;
 * artists and their tracks are written last, once every referenced artist is known.
 */
#include "import_priv.h"
#include "tt/core.h"
#include "tt/ids.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 2011-05-01T00:00:00Z, the dataset's release: the time of plays no tag event dates. */
#define LASTFM_EPOCH INT64_C(1304208000)
/* Ids in the files are small positive integers; a larger one is a corrupt row. */
#define MAX_ID 10000000
/* Genres of an artist: its most used tags, each applied by at least this many users. */
#define TOP_TAGS 5
#define MIN_TAG_USERS 2

struct artist {
    char *name; /* from artists.dat, NULL if absent there */
    bool used;  /* referenced by user_artists.dat */
};

struct lastfm {
    int32_t *tag_canon; /* tag id -> dense id in tags, -1 unknown */
    size_t tag_cap;
    tt_ids *tags;          /* lower-cased tag names: tags differing only in case count as one */
    struct artist *artist; /* by artist id */
    size_t artist_cap;
    bool *user_seen;
    size_t user_cap;
    tt_ids *triples; /* (user, artist, tag) seen, so users are counted once per tag */
    tt_ids *pairs;   /* (artist, tag) */
    int64_t *pair_users;
    size_t pair_cap;
    tt_ids *listens;    /* (user, artist) with a tag event */
    int64_t *first_tag; /* its earliest tag day, Unix seconds */
    size_t first_cap;
    const struct tt__col *col; /* columns of the file being read */
    struct tt__sbuf sb;
};

/* Grows the id-indexed array *@p to hold index @id, zero-filling new slots. */
static void ensure_index(void **p, size_t *cap, size_t id, size_t elem)
{
    size_t old = *cap;

    if (id < old)
        return;
    tt_grow(p, cap, id + 1, elem);
    memset((char *)*p + old * elem, 0, (*cap - old) * elem);
}

/* Field of column @k of the file being read. */
static const char *col(const struct lastfm *L, const tt_csv *c, int k)
{
    return tt_csv_field(c, L->col[k].idx);
}

static int field_id(const struct lastfm *L, const tt_csv *c, int k, int64_t *out, tt_err *err)
{
    if (!tt__parse_int(col(L, c, k), 1, MAX_ID, out))
        return tt__import_bad(c, err, "%s '%.40s' is not a whole number 1..%d", L->col[k].name,
                              col(L, c, k), MAX_ID);
    return 0;
}

static struct artist *artist_at(struct lastfm *L, int64_t id)
{
    ensure_index((void **)&L->artist, &L->artist_cap, (size_t)id, sizeof(struct artist));
    return &L->artist[id];
}

static int32_t key_id(tt_ids *ids, const int32_t *key, int n, bool *fresh)
{
    int32_t before = tt_ids_count(ids);
    int32_t id = tt_ids_intern(ids, (const char *)key, (size_t)n * sizeof(int32_t));

    *fresh = tt_ids_count(ids) > before;
    return id;
}

/* ---- tags.dat: tagID, tagValue ---- */

static int tag_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct lastfm *L = ctx;
    int64_t id;
    int rc;

    (void)im;
    rc = field_id(L, c, 0, &id, err);
    if (rc < 0)
        return rc;
    ensure_index((void **)&L->tag_canon, &L->tag_cap, (size_t)id, sizeof(int32_t));
    if (L->tag_canon[id] != 0)
        return tt__import_bad(c, err, "tagID %lld appears twice", (long long)id);
    L->sb.len = 0;
    tt__genre_add(&L->sb, col(L, c, 1), strlen(col(L, c, 1)));
    /* Slots hold dense id + 1 so that zero-filled growth means "no such tag". */
    L->tag_canon[id] = L->sb.len ? tt_ids_intern(L->tags, L->sb.p, L->sb.len) + 1 : -1;
    return 0;
}

/* ---- user_taggedartists.dat: userID, artistID, tagID, day, month, year ---- */

static int tag_event_time(const struct lastfm *L, const tt_csv *c, int64_t *t, tt_err *err)
{
    int64_t d, m, y;

    if (!tt__parse_int(col(L, c, 3), 1, 31, &d) || !tt__parse_int(col(L, c, 4), 1, 12, &m) ||
        !tt__parse_int(col(L, c, 5), 1, 9999, &y) || !tt__civil_to_unix(y, (int)m, (int)d, t))
        return tt__import_bad(c, err, "day %.10s, month %.10s, year %.10s is not a date",
                              col(L, c, 3), col(L, c, 4), col(L, c, 5));
    return 0;
}

static void note_first_tag(struct lastfm *L, int32_t user, int32_t artist, int64_t t)
{
    int32_t key[2] = {user, artist};
    bool fresh;
    int32_t id = key_id(L->listens, key, 2, &fresh);

    ensure_index((void **)&L->first_tag, &L->first_cap, (size_t)id, sizeof(int64_t));
    if (fresh || t < L->first_tag[id])
        L->first_tag[id] = t;
}

static void count_tag_user(struct lastfm *L, int32_t user, int32_t artist, int32_t tag)
{
    int32_t triple[3] = {user, artist, tag}, pair[2] = {artist, tag};
    bool fresh;
    int32_t id;

    key_id(L->triples, triple, 3, &fresh);
    if (!fresh)
        return;
    id = key_id(L->pairs, pair, 2, &fresh);
    ensure_index((void **)&L->pair_users, &L->pair_cap, (size_t)id, sizeof(int64_t));
    L->pair_users[id]++;
}

static int tag_event_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct lastfm *L = ctx;
    int64_t user, artist, tag, t;
    int rc;

    (void)im;
    if ((rc = field_id(L, c, 0, &user, err)) < 0 || (rc = field_id(L, c, 1, &artist, err)) < 0 ||
        (rc = field_id(L, c, 2, &tag, err)) < 0 || (rc = tag_event_time(L, c, &t, err)) < 0)
        return rc;
    if ((size_t)tag >= L->tag_cap || L->tag_canon[tag] == 0)
        return tt__import_bad(c, err, "tagID %lld is not in tags.dat", (long long)tag);
    note_first_tag(L, (int32_t)user, (int32_t)artist, t);
    if (L->tag_canon[tag] > 0)
        count_tag_user(L, (int32_t)user, (int32_t)artist, L->tag_canon[tag] - 1);
    return 0;
}

/* ---- artists.dat: id, name, url, pictureURL ---- */

static int artist_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct lastfm *L = ctx;
    struct artist *a;
    const char *name;
    int64_t id;
    int rc;

    (void)im;
    rc = field_id(L, c, 0, &id, err);
    if (rc < 0)
        return rc;
    if (!(name = tt__import_text(c, L->col[1].idx, "name", err)))
        return TT_EPARSE;
    a = artist_at(L, id);
    if (a->name)
        return tt__import_bad(c, err, "artist id %lld appears twice", (long long)id);
    a->name = tt_strdup(name);
    return 0;
}

/* ---- user_artists.dat: userID, artistID, weight ---- */

/* Writes user @user, whose store id is @id, the first time it is seen. */
static int put_user_once(struct tt__import *im, struct lastfm *L, int64_t user, const char *id,
                         tt_err *err)
{
    tt_user_rec u = {
        .user_id = id, .plan_tier = "free", .favorite_genres = "", .created_at = LASTFM_EPOCH};

    ensure_index((void **)&L->user_seen, &L->user_cap, (size_t)user, sizeof(bool));
    if (L->user_seen[user])
        return 0;
    L->user_seen[user] = true;
    return tt__import_put_user(im, &u, err);
}

static int64_t play_time(const struct lastfm *L, int64_t user, int64_t artist)
{
    int32_t key[2] = {(int32_t)user, (int32_t)artist};
    int32_t id = tt_ids_find(L->listens, (const char *)key, sizeof(key));

    return id >= 0 ? L->first_tag[id] : LASTFM_EPOCH;
}

static int listen_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct lastfm *L = ctx;
    char uid[48], tid[48], eid[64];
    int64_t user, artist, plays;
    tt_interaction_rec r = {.user_id = uid,
                            .track_id = tid,
                            .action = TT_ACT_PLAY,
                            .ms_played = -1,
                            .event_id = eid};
    int rc;

    if ((rc = field_id(L, c, 0, &user, err)) < 0 || (rc = field_id(L, c, 1, &artist, err)) < 0)
        return rc;
    if (!tt__parse_int(col(L, c, 2), 0, INT64_C(1) << 40, &plays))
        return tt__import_bad(c, err, "weight '%.40s' is not a play count", col(L, c, 2));
    artist_at(L, artist)->used = true;
    snprintf(uid, sizeof(uid), "lastfm:user:%lld", (long long)user);
    rc = put_user_once(im, L, user, uid, err);
    if (rc < 0)
        return rc;
    snprintf(tid, sizeof(tid), "lastfm:artist:%lld", (long long)artist);
    /* One row per (user, artist) in the source: its key makes a re-import update it. */
    snprintf(eid, sizeof(eid), "lastfm:%lld:%lld", (long long)user, (long long)artist);
    r.weight = (float)plays;
    r.occurred_at = play_time(L, user, artist);
    return tt__import_put_interaction(im, &r, err);
}

/* ---- artists and tracks, with genres from tags ---- */

struct tag_count {
    int32_t artist, rank; /* rank: the tag's place in name order, for ties */
    int32_t tag;
    int64_t users;
};

struct tag_name {
    const char *name;
    int32_t tag;
};

static int cmp_tag_name(const void *a, const void *b)
{
    return strcmp(((const struct tag_name *)a)->name, ((const struct tag_name *)b)->name);
}

static int cmp_tag_count(const void *a, const void *b)
{
    const struct tag_count *x = a, *y = b;

    if (x->artist != y->artist)
        return x->artist < y->artist ? -1 : 1;
    if (x->users != y->users)
        return x->users > y->users ? -1 : 1;
    return (x->rank > y->rank) - (x->rank < y->rank);
}

/* Rank of each tag in name order, so equally used tags rank the same way on every run. */
static int32_t *tag_ranks(const tt_ids *tags)
{
    int32_t n = tt_ids_count(tags);
    struct tag_name *tn = tt_malloc(((size_t)n + 1) * sizeof(*tn));
    int32_t *rank = tt_malloc(((size_t)n + 1) * sizeof(*rank));

    for (int32_t i = 0; i < n; i++)
        tn[i] = (struct tag_name){tt_ids_name(tags, i), i};
    qsort(tn, (size_t)n, sizeof(*tn), cmp_tag_name);
    for (int32_t i = 0; i < n; i++)
        rank[tn[i].tag] = i;
    free(tn);
    return rank;
}

/* Every (artist, tag) applied by enough users, by artist, then most users, then name. */
static struct tag_count *ranked_tags(const struct lastfm *L, size_t *n)
{
    int32_t np = tt_ids_count(L->pairs);
    struct tag_count *tc = tt_malloc(((size_t)np + 1) * sizeof(*tc));
    int32_t *rank = tag_ranks(L->tags);

    *n = 0;
    for (int32_t i = 0; i < np; i++) {
        int32_t key[2];
        if (L->pair_users[i] < MIN_TAG_USERS)
            continue;
        memcpy(key, tt_ids_name(L->pairs, i), sizeof(key));
        tc[(*n)++] = (struct tag_count){key[0], rank[key[1]], key[1], L->pair_users[i]};
    }
    free(rank);
    qsort(tc, *n, sizeof(*tc), cmp_tag_count);
    return tc;
}

static int put_catalog_item(struct tt__import *im, struct lastfm *L, size_t id, tt_err *err)
{
    char aid[48], fallback[48];
    tt_track_rec t = tt_track_rec_empty();
    tt_artist_rec a;
    int rc;

    snprintf(aid, sizeof(aid), "lastfm:artist:%zu", id);
    snprintf(fallback, sizeof(fallback), "artist %zu", id);
    a.artist_id = aid;
    a.name = L->artist[id].name && *L->artist[id].name ? L->artist[id].name : fallback;
    a.genres = tt__sbuf_str(&L->sb);
    rc = tt__import_put_artist(im, &a, err);
    if (rc < 0)
        return rc;
    t.track_id = t.artist_id = aid;
    t.title = t.artist = a.name;
    t.genres = a.genres;
    return tt__import_put_track(im, &t, err);
}

static int write_catalog(struct tt__import *im, struct lastfm *L, tt_err *err)
{
    size_t n, k = 0;
    struct tag_count *tc = ranked_tags(L, &n);
    int rc = 0;

    for (size_t id = 1; id < L->artist_cap && rc == 0; id++) {
        int taken = 0;
        L->sb.len = 0;
        while (k < n && (size_t)tc[k].artist < id)
            k++;
        for (; k < n && (size_t)tc[k].artist == id; k++)
            if (taken++ < TOP_TAGS)
                tt__genre_add(&L->sb, tt_ids_name(L->tags, tc[k].tag),
                              strlen(tt_ids_name(L->tags, tc[k].tag)));
        if (L->artist[id].name || L->artist[id].used)
            rc = put_catalog_item(im, L, id, err);
    }
    free(tc);
    return rc;
}

/* ---- driver ---- */

struct lastfm_file {
    const char *name;
    unsigned flags;
    tt__row_fn fn;
    const char *cols[7];
};

static const struct lastfm_file lastfm_files[] = {
    {"tags.dat", TT_CSV_TAB | TT_CSV_LATIN1, tag_row, {"tagID", "tagValue"}},
    {"user_taggedartists.dat",
     TT_CSV_TAB,
     tag_event_row,
     {"userID", "artistID", "tagID", "day", "month", "year"}},
    {"artists.dat", TT_CSV_TAB, artist_row, {"id", "name"}},
    {"user_artists.dat", TT_CSV_TAB, listen_row, {"userID", "artistID", "weight"}},
};

static int read_file(struct tt__import *im, struct lastfm *L, const char *dir,
                     const struct lastfm_file *f, tt_err *err)
{
    struct tt__col cols[7];
    char *path = tt__path_join(dir, f->name);
    int n = 0, rc;

    for (; f->cols[n]; n++)
        cols[n] = (struct tt__col){f->cols[n], true, -1};
    L->col = cols;
    rc = tt__import_file(im, path, f->flags, cols, n, f->fn, L, err);
    free(path);
    return rc;
}

static void lastfm_release(struct lastfm *L)
{
    for (size_t i = 0; i < L->artist_cap; i++)
        free(L->artist[i].name);
    free(L->artist);
    free(L->tag_canon);
    free(L->user_seen);
    free(L->pair_users);
    free(L->first_tag);
    tt_ids_free(L->tags);
    tt_ids_free(L->triples);
    tt_ids_free(L->pairs);
    tt_ids_free(L->listens);
    tt__sbuf_release(&L->sb);
}

int tt_import_lastfm_hetrec(tt_store *s, const char *dir, const tt_import_opts *opts,
                            tt_import_stats *stats, tt_err *err)
{
    struct tt__import im;
    struct lastfm L = {0};
    int rc;

    if (!s || !dir)
        return tt_err_set(err, TT_EINVAL, "store and directory are required");
    rc = tt__import_begin(&im, s, opts, stats, err);
    if (rc < 0)
        return rc;
    L.tags = tt_ids_new();
    L.triples = tt_ids_new();
    L.pairs = tt_ids_new();
    L.listens = tt_ids_new();
    for (size_t i = 0; rc == 0 && i < sizeof(lastfm_files) / sizeof(lastfm_files[0]); i++)
        rc = read_file(&im, &L, dir, &lastfm_files[i], err);
    if (rc == 0)
        rc = write_catalog(&im, &L, err);
    rc = tt__import_end(&im, rc, err);
    lastfm_release(&L);
    return rc;
}
