/*
 * model.h - what every recommendation model shares: the training input built from a
 * dataset (interaction weighting), queries, scored results, and the model handle with its
 * operations (recommend, batch recommend, similar tracks, save). Each model kind lives in
 * one file in src/models/ and has its own header for training and parameters.
 *
 * Dense ids: users and tracks are the dense ids of the tt_dataset the model was trained on.
 * A saved model records the catalog checksum it was trained against (tt_catalog_checksum)
 * and is refused against another catalog.
 */
#ifndef TT_MODEL_H
#define TT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/csr.h"
#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/modelfile.h"

/*
 * How interactions become implicit-feedback preferences. Each event contributes
 * action[a] * event weight (a play's weight is its play count) to r(u,t). A user's dislike
 * of a track excludes that pair from the positives for good and the track is never
 * recommended to them; pairs whose r ends <= 0 (only skips, say) are seen but not
 * positive. docs/models.md documents the defaults.
 */
typedef struct tt_weighting {
    float action[TT_ACT_COUNT];
} tt_weighting;

tt_weighting tt_weighting_default(void);

/*
 * Training input: the positives matrix and what each user has already seen.
 * @conf: user x track, r(u,t) > 0 for positive pairs only (raw, before any model's
 *        confidence scaling).
 * @seen: user x track, every pair the user interacted with; data 1, or -1 if disliked.
 * @now:  the newest training event's time (the reference for time decay).
 * @user_last: per user, the time of their newest training event (INT64_MIN for none): which
 *        listeners are active, for the lists ranked at training time.
 */
typedef struct tt_train_set {
    const tt_dataset *ds;
    tt_csr conf;
    tt_csr seen;
    int64_t now;
    int64_t n_events;      /* training events used */
    const uint8_t *mask;   /* borrowed: 1 = training event, NULL = all */
    int64_t *user_last;    /* n_users */
} tt_train_set;

/*
 * Builds @out from the events of @ds whose @mask byte is 1 (@mask NULL = all events).
 * @mask is borrowed and must outlive @out. Release with tt_train_set_release.
 */
void tt_train_set_build(const tt_dataset *ds, const uint8_t *mask, const tt_weighting *w,
                        tt_train_set *out);
void tt_train_set_release(tt_train_set *t);

/* One recommended track. */
typedef struct tt_scored {
    int32_t track;
    float score;
} tt_scored;

/*
 * A recommendation request, in the model's dense ids.
 * @user:     the user, or -1 when the model does not know them.
 * @hist, @hist_conf, @n_hist: the user's current positive tracks and their r values; when
 *            n_hist > 0, models that can (ALS) fold the user in from them instead of
 *            using the stored user vector (new users, fresh feedback).
 * @exclude, @n_exclude: tracks never to return, sorted ascending (already heard,
 *            disliked, explicitly excluded).
 * @genres, @n_genres: genre preferences for models that use them (declared favourites).
 * @allow:    when non-NULL, a mask of n_tracks bytes: only tracks whose byte is non-zero
 *            may be returned (a genre filter).
 * @excludes_history: @exclude holds every track the user touched in the training data
 *            (at least), so lists ranked at training time without them are valid answers.
 */
typedef struct tt_query {
    int32_t user;
    const int32_t *hist;
    const float *hist_conf;
    int32_t n_hist;
    const int32_t *exclude;
    int32_t n_exclude;
    const int32_t *genres;
    int32_t n_genres;
    const uint8_t *allow;
    bool excludes_history;
} tt_query;

typedef struct tt_model tt_model;

struct tt_model_ops {
    const char *kind; /* "als", "popularity", "trending", "genre", ... */
    /*
     * Top @k tracks for @q, best first, into @out (caller-allocated, k entries); *n_out gets
     * how many were found (fewer than k when the catalog runs out). Thread-safe: a model
     * is read-only once trained or loaded.
     */
    int (*recommend)(const tt_model *m, const tt_query *q, int k, tt_scored *out, int *n_out,
                     tt_err *err);
    /*
     * Top @k for each of @n users (dense ids), excluding each user's row of @exclude
     * (user x track, may be NULL). @out is n x k, rows padded with track -1. May be NULL:
     * tt_model_recommend_batch then runs recommend() per user, in parallel.
     */
    int (*recommend_batch)(const tt_model *m, const int32_t *users, int32_t n,
                           const tt_csr *exclude, int k, tt_scored *out, tt_err *err);
    /* Top @k tracks most similar to @track (never itself). May be NULL. */
    int (*similar)(const tt_model *m, int32_t track, int k, tt_scored *out, int *n_out,
                   tt_err *err);
    /* Writes the model to @path atomically. */
    int (*save)(const tt_model *m, const char *path, tt_err *err);
    void (*free)(tt_model *m);
    /*
     * Whether user @u (a dense id below n_users) learned anything in training. May be NULL
     * (every such user counts). A user it does not know is folded in from their history,
     * like a new one: a model trained on part of the data (a custom model's filters) knows
     * only the listeners of that part.
     */
    bool (*knows_user)(const tt_model *m, int32_t u);
};

/* The common head of every model; each kind embeds it first in its own struct. */
struct tt_model {
    const struct tt_model_ops *ops;
    char name[32];          /* "als", "popularity", ... as selected by users */
    uint64_t catalog;       /* tt_catalog_checksum of the training catalog */
    int32_t n_users, n_tracks;
    double train_seconds;
    int64_t trained_at;     /* Unix seconds */
};

/*
 * The metadata fields (tt_mfile_put_meta) every model file carries, bound to the tt_model
 * head @base of model struct @type: entries for the model's own field table.
 */
#define TT_MODEL_MFIELDS(type, base)                                                          \
    {"n_users", TT_MF_I32, TT_MF_AT(type, base.n_users), .lo = 0, .hi = INT32_MAX},            \
    {"n_tracks", TT_MF_I32, TT_MF_AT(type, base.n_tracks), .lo = 0, .hi = INT32_MAX},          \
    {"train_seconds", TT_MF_F64, TT_MF_AT(type, base.train_seconds), .lo = 0, .hi = 1e9},      \
    {"trained_at", TT_MF_I64, TT_MF_AT(type, base.trained_at), .lo = 0, .hi = (double)INT64_MAX}

static inline int tt_model_recommend(const tt_model *m, const tt_query *q, int k, tt_scored *out,
                                     int *n_out, tt_err *err)
{
    return m->ops->recommend(m, q, k, out, n_out, err);
}

/*
 * Batch recommendation, through the model's batch operation when it has one, else
 * recommend() for each user in parallel threads (with excludes_history set when @exclude is
 * given); a user the model cannot rank for (TT_ESTATE, TT_ENOTFOUND) gets an empty row.
 */
int tt_model_recommend_batch(const tt_model *m, const int32_t *users, int32_t n,
                             const tt_csr *exclude, int k, tt_scored *out, tt_err *err);

/* TT_EUNSUPPORTED when the model has no similar-tracks operation. */
int tt_model_similar(const tt_model *m, int32_t track, int k, tt_scored *out, int *n_out,
                     tt_err *err);

static inline int tt_model_save(const tt_model *m, const char *path, tt_err *err)
{
    return m->ops->save(m, path, err);
}

void tt_model_free(tt_model *m);

/*
 * Loads any model file written by a model's save (the kind is in its header), checking
 * magic, version, sizes and checksum. @catalog: the expected catalog checksum, or 0 to
 * accept any. Errors: TT_ENOTFOUND, TT_ECORRUPT (message names the file and the problem).
 */
int tt_model_load(const char *path, uint64_t catalog, tt_model **out, tt_err *err);

/* A checksum identifying a catalog (track ids in dense order). */
uint64_t tt_catalog_checksum(const tt_dataset *ds);

/* Selection of the k best by partial selection (a bounded min-heap): O(n log k). */
typedef struct tt_topk {
    tt_scored *heap;
    int k, n;
} tt_topk;

/* @buf holds k entries and is owned by the caller. */
void tt_topk_init(tt_topk *t, tt_scored *buf, int k);
/* Offers one candidate. */
static inline void tt_topk_push(tt_topk *t, int32_t track, float score);
/* Sorts the kept entries best first (in place in the buffer); returns how many. */
int tt_topk_finish(tt_topk *t);

void tt__topk_sift(tt_topk *t, int32_t track, float score);

static inline void tt_topk_push(tt_topk *t, int32_t track, float score)
{
    if (t->n < t->k || score > t->heap[0].score)
        tt__topk_sift(t, track, score);
}

/* True when sorted @a (n entries) contains @x. */
bool tt_sorted_contains(const int32_t *a, int32_t n, int32_t x);

#endif
