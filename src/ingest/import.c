/*
 * The engine's own CSV formats: tracks, users and interactions, each a header row naming its
 * columns followed by one record per row (docs/data-formats.md).
 *
 * Interaction files are the large ones, so their row path allocates nothing: fields are read
 * in place from the reader's record buffer and handed to the store's prepared statement.
 */
#include "import_priv.h"
#include "tt/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Beyond this an "embedding" column is more likely a mistake than a vector. */
#define MAX_EMBEDDING_DIM 65536

static const char *kind_names[] = {"tracks", "users", "interactions"};

const char *tt_import_kind_name(enum tt_import_kind kind)
{
    return (unsigned)kind < 3 ? kind_names[kind] : NULL;
}

int tt_import_kind_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

/* Field @i, or NULL when the column is absent or the field empty. */
static const char *opt_field(const tt_csv *c, int i)
{
    const char *s = tt_csv_field(c, i);
    return *s ? s : NULL;
}

/* ---- interactions ---- */

enum {
    IC_USER,
    IC_TRACK,
    IC_ACTION,
    IC_TIME,
    IC_WEIGHT,
    IC_MS,
    IC_CONTEXT,
    IC_REC,
    IC_EVENT,
    IC_N
};

static int parse_action(const tt_csv *c, int i, enum tt_action *out, tt_err *err)
{
    int a = tt_action_parse(tt_csv_field(c, i), tt_csv_field_len(c, i));

    if (a < 0)
        return tt__import_bad(c, err,
                              "action '%.40s' is not one of play, like, skip, dislike, save, "
                              "share, click, impression",
                              tt_csv_field(c, i));
    *out = (enum tt_action)a;
    return 0;
}

static int interaction_numbers(const tt_csv *c, const struct tt__col *col, tt_interaction_rec *r,
                               tt_err *err)
{
    const char *s;
    double w;

    s = tt_csv_field(c, col[IC_TIME].idx);
    if (!tt__parse_time(s, &r->occurred_at))
        return tt__import_bad(c, err,
                              "timestamp '%.40s' is neither ISO 8601 (2024-01-02T03:04:05Z) "
                              "nor Unix seconds",
                              s);
    if ((s = opt_field(c, col[IC_WEIGHT].idx)) != NULL) {
        if (!tt__parse_double(s, &w) || w < 0 || !isfinite((float)w))
            return tt__import_bad(c, err, "weight '%.40s' is not a finite number >= 0", s);
        r->weight = (float)w;
    }
    if ((s = opt_field(c, col[IC_MS].idx)) != NULL &&
        !tt__parse_int(s, 0, INT64_C(1) << 53, &r->ms_played))
        return tt__import_bad(c, err, "ms_played '%.40s' is not a whole number >= 0", s);
    return 0;
}

/* An event_id, the idempotency key of its row: re-importing the file then stores it once. */
static const char *event_id(tt_csv *c, int i, tt_err *err)
{
    if (tt_csv_field_len(c, i) > TT_EVENT_ID_MAX) {
        tt__import_bad(c, err, "event_id is longer than %d bytes", TT_EVENT_ID_MAX);
        return NULL;
    }
    return tt__import_text(c, i, "event_id", err);
}

static int interaction_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    const struct tt__col *col = ctx;
    tt_interaction_rec r = {.weight = 1, .ms_played = -1};
    int rc;

    r.user_id = tt__import_id(c, col[IC_USER].idx, "user_id", err);
    if (!r.user_id)
        return TT_EPARSE;
    r.track_id = tt__import_id(c, col[IC_TRACK].idx, "track_id", err);
    if (!r.track_id)
        return TT_EPARSE;
    rc = parse_action(c, col[IC_ACTION].idx, &r.action, err);
    if (rc == 0)
        rc = interaction_numbers(c, col, &r, err);
    if (rc < 0)
        return rc;
    if (opt_field(c, col[IC_CONTEXT].idx) &&
        !(r.context = tt__import_text(c, col[IC_CONTEXT].idx, "context", err)))
        return TT_EPARSE;
    if (opt_field(c, col[IC_REC].idx) &&
        !(r.recommendation_id = tt__import_id(c, col[IC_REC].idx, "recommendation_id", err)))
        return TT_EPARSE;
    if (opt_field(c, col[IC_EVENT].idx) && !(r.event_id = event_id(c, col[IC_EVENT].idx, err)))
        return TT_EPARSE;
    return tt__import_put_interaction(im, &r, err);
}

/* ---- users ---- */

enum { UC_USER, UC_TIER, UC_GENRES, UC_CREATED, UC_N };

struct user_ctx {
    struct tt__col col[UC_N];
    struct tt__sbuf genres;
};

static const char *canonical_tier(const char *s)
{
    static const char *tiers[] = {"free", "starter", "pro", "enterprise"};

    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, tiers[i]) == 0)
            return tiers[i];
    return NULL;
}

static int user_row(struct tt__import *im, tt_csv *c, void *vctx, tt_err *err)
{
    struct user_ctx *u = vctx;
    tt_user_rec r = {0};
    const char *s;

    r.user_id = tt__import_id(c, u->col[UC_USER].idx, "user_id", err);
    if (!r.user_id)
        return TT_EPARSE;
    if ((s = opt_field(c, u->col[UC_TIER].idx)) && !(r.plan_tier = canonical_tier(s)))
        return tt__import_bad(c, err,
                              "plan_tier '%.40s' is not one of free, starter, pro, enterprise", s);
    if ((s = opt_field(c, u->col[UC_CREATED].idx)) &&
        (!tt__parse_time(s, &r.created_at) || r.created_at <= 0))
        return tt__import_bad(c, err,
                              "created_at '%.40s' is not an ISO 8601 time after 1970 or Unix "
                              "seconds",
                              s);
    if (!tt__import_text(c, u->col[UC_GENRES].idx, "favorite_genres", err))
        return TT_EPARSE;
    u->genres.len = 0;
    tt__genres_add_list(&u->genres, tt_csv_field(c, u->col[UC_GENRES].idx), '|');
    r.favorite_genres = tt__sbuf_str(&u->genres);
    return tt__import_put_user(im, &r, err);
}

/* ---- tracks ---- */

enum {
    TC_TRACK,
    TC_TITLE,
    TC_ARTIST,
    TC_ARTIST_ID,
    TC_ALBUM,
    TC_GENRES,
    TC_DURATION,
    TC_YEAR,
    TC_EMBEDDING,
    TC_FEATURE0,
    TC_N = TC_FEATURE0 + TT_N_FEATURES
};

struct track_ctx {
    struct tt__col col[TC_N];
    struct tt__sbuf genres;
    float *emb;
    size_t emb_cap;
    int dim;          /* embedding dimension of this import, 0 until the first one */
    int64_t dim_line; /* line that fixed it */
};

static int parse_embedding(struct track_ctx *t, const tt_csv *c, const char *s, int *n, tt_err *err)
{
    char *end;

    *n = 0;
    for (;;) {
        float v;
        while (*s == ' ')
            s++;
        if (!*s)
            return 0;
        v = strtof(s, &end);
        if (end == s || !isfinite(v) || (*end && *end != ' '))
            return tt__import_bad(c, err, "embedding value %d is not a finite number", *n + 1);
        if (*n >= MAX_EMBEDDING_DIM)
            return tt__import_bad(c, err, "embedding has more than %d values", MAX_EMBEDDING_DIM);
        TT_GROW(t->emb, t->emb_cap, (size_t)*n + 1);
        t->emb[(*n)++] = v;
        s = end;
    }
}

static int track_embedding(struct track_ctx *t, const tt_csv *c, tt_track_rec *r, tt_err *err)
{
    const char *s = opt_field(c, t->col[TC_EMBEDDING].idx);
    int n, rc;

    if (!s)
        return 0;
    rc = parse_embedding(t, c, s, &n, err);
    if (rc < 0 || n == 0)
        return rc;
    if (t->dim == 0) {
        t->dim = n;
        t->dim_line = tt_csv_line(c);
    } else if (n != t->dim) {
        return tt__import_bad(c, err,
                              "embedding has %d values but the one on line %lld has %d; every "
                              "embedding of an import must have the same dimension",
                              n, (long long)t->dim_line, t->dim);
    }
    r->embedding = t->emb;
    r->embedding_dim = n;
    return 0;
}

static int track_numbers(const struct track_ctx *t, const tt_csv *c, tt_track_rec *r, tt_err *err)
{
    const char *s;
    int64_t v;

    if ((s = opt_field(c, t->col[TC_DURATION].idx)) != NULL) {
        if (!tt__parse_int(s, 0, INT32_MAX, &v))
            return tt__import_bad(c, err, "duration_ms '%.40s' is not a whole number >= 0", s);
        r->duration_ms = (int32_t)v;
    }
    if ((s = opt_field(c, t->col[TC_YEAR].idx)) != NULL) {
        if (!tt__parse_int(s, 1000, 9999, &v))
            return tt__import_bad(c, err, "release_year '%.40s' is not a year 1000..9999", s);
        r->release_year = (int32_t)v;
    }
    return tt__import_features(c, t->col + TC_FEATURE0, r->features, err);
}

static int track_texts(struct track_ctx *t, const tt_csv *c, tt_track_rec *r, tt_err *err)
{
    const struct tt__col *col = t->col;

    if (!(r->track_id = tt__import_id(c, col[TC_TRACK].idx, "track_id", err)) ||
        !(r->title = tt__import_text(c, col[TC_TITLE].idx, "title", err)) ||
        !(r->artist = tt__import_text(c, col[TC_ARTIST].idx, "artist", err)) ||
        !tt__import_text(c, col[TC_ALBUM].idx, "album", err) ||
        !tt__import_text(c, col[TC_GENRES].idx, "genres", err))
        return TT_EPARSE;
    if (!*r->title || !*r->artist)
        return tt__import_bad(c, err, "%s is empty", *r->title ? "artist" : "title");
    if (opt_field(c, col[TC_ARTIST_ID].idx) &&
        !(r->artist_id = tt__import_id(c, col[TC_ARTIST_ID].idx, "artist_id", err)))
        return TT_EPARSE;
    r->album = opt_field(c, col[TC_ALBUM].idx);
    t->genres.len = 0;
    tt__genres_add_list(&t->genres, tt_csv_field(c, col[TC_GENRES].idx), '|');
    r->genres = tt__sbuf_str(&t->genres);
    return 0;
}

static int track_row(struct tt__import *im, tt_csv *c, void *vctx, tt_err *err)
{
    struct track_ctx *t = vctx;
    tt_track_rec r = tt_track_rec_empty();
    int rc;

    rc = track_texts(t, c, &r, err);
    if (rc == 0)
        rc = track_numbers(t, c, &r, err);
    if (rc == 0)
        rc = track_embedding(t, c, &r, err);
    return rc < 0 ? rc : tt__import_put_track(im, &r, err);
}

/* ---- driver ---- */

static void init_cols(enum tt_import_kind kind, struct tt__col *col)
{
    static const struct tt__col inter[IC_N] = {
        {"user_id", true, -1},   {"track_id", true, -1},          {"action", true, -1},
        {"timestamp", true, -1}, {"weight", false, -1},           {"ms_played", false, -1},
        {"context", false, -1},  {"recommendation_id", false, -1}, {"event_id", false, -1}};
    static const struct tt__col user[UC_N] = {{"user_id", true, -1},
                                              {"plan_tier", false, -1},
                                              {"favorite_genres", false, -1},
                                              {"created_at", false, -1}};
    static const struct tt__col track[TC_FEATURE0] = {
        {"track_id", true, -1},     {"title", true, -1},         {"artist", true, -1},
        {"artist_id", false, -1},   {"album", false, -1},        {"genres", false, -1},
        {"duration_ms", false, -1}, {"release_year", false, -1}, {"embedding", false, -1}};

    if (kind == TT_IMPORT_INTERACTIONS) {
        memcpy(col, inter, sizeof(inter));
    } else if (kind == TT_IMPORT_USERS) {
        memcpy(col, user, sizeof(user));
    } else {
        memcpy(col, track, sizeof(track));
        for (int f = 0; f < TT_N_FEATURES; f++)
            col[TC_FEATURE0 + f] = (struct tt__col){tt_feature_name(f), false, -1};
    }
}

/* The columns, row handler and state of one kind of file. */
struct csv_job {
    struct tt__col *col;
    int ncol;
    tt__row_fn fn;
    void *ctx;
};

int tt_import_csv(tt_store *s, enum tt_import_kind kind, const char *path,
                  const tt_import_opts *opts, tt_import_stats *stats, tt_err *err)
{
    struct tt__import im;
    struct tt__col icol[IC_N];
    struct user_ctx u = {0};
    struct track_ctx t = {0};
    struct csv_job job = {icol, IC_N, interaction_row, icol};
    int rc;

    if (!s || !path || !tt_import_kind_name(kind))
        return tt_err_set(err, TT_EINVAL, "store, path and a known kind are required");
    if (kind == TT_IMPORT_USERS)
        job = (struct csv_job){u.col, UC_N, user_row, &u};
    else if (kind == TT_IMPORT_TRACKS)
        job = (struct csv_job){t.col, TC_N, track_row, &t};
    init_cols(kind, job.col);
    rc = tt__import_begin(&im, s, opts, stats, err);
    if (rc < 0)
        return rc;
    rc = tt__import_file(&im, path, 0, job.col, job.ncol, job.fn, job.ctx, err);
    rc = tt__import_end(&im, rc, err);
    tt__sbuf_release(&u.genres);
    tt__sbuf_release(&t.genres);
    free(t.emb);
    return rc;
}
