/*
 * eval.h - offline evaluation: splitting the interaction log into training and test parts,
 * ranking metrics over a model's top-K lists, and the report `tunetrail evaluate` prints.
 *
 * A split marks every event of a dataset as training or test and names, per user, the
 * held-out relevant tracks a model should find. Models are trained on the training events
 * only (tt_train_set_build with the split's mask) and must rank the relevant tracks among
 * everything the user has not heard in training. docs/evaluation.md is the protocol.
 *
 * Positive pairs: a (user, track) pair is positive when the sum over its events of
 * weighting.action[a] * event weight is > 0 and the user never disliked the track, the
 * rule tt_train_set_build applies. Only positive pairs are ever relevant.
 */
#ifndef TT_EVAL_H
#define TT_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "tt/csr.h"
#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/ann.h"
#include "tt/model.h"

/* ---- splits ---------------------------------------------------------------------------- */

enum tt_split_kind {
    TT_SPLIT_RANDOM, /* per user, a random share of their positive tracks */
    TT_SPLIT_TIME,   /* one global cut in time */
    TT_SPLIT_LAST,   /* per user, the track of their latest positive event */
    TT_SPLIT_FILE,   /* every event trains; the test interactions come from a file */
    TT_SPLIT_COLD_TRACKS, /* every event of a random share of the tracks */
};

/* Users need this many distinct positive tracks to take part in a random split. */
#define TT_SPLIT_RANDOM_MIN_POSITIVES 5
/* Users need this many distinct positive tracks to take part in a leave-last-out split. */
#define TT_SPLIT_LAST_MIN_POSITIVES 2

typedef struct tt_split_params {
    enum tt_split_kind kind; /* TT_SPLIT_RANDOM, TT_SPLIT_TIME, TT_SPLIT_LAST or _COLD_TRACKS */
    double holdout;          /* share held out, in (0, 1); unused by TT_SPLIT_LAST */
    uint64_t seed;           /* random split: the tt_rng seed */
    tt_weighting weighting;  /* what makes a pair positive */
    /*
     * Random and leave-last splits: only the events whose byte is 1 take part (NULL = all);
     * the others are neither trained on nor held out. Tuning splits the training part of
     * an evaluation split this way, so it never sees the evaluation's held-out events.
     */
    const uint8_t *within;
} tt_split_params;

/* Random split, holdout 0.2, seed 42, tt_weighting_default(). */
tt_split_params tt_split_params_default(void);

/*
 * "random", "time", "last", "cold-tracks" -> kind; -1 for anything else ("file" is not a
 * split option).
 */
int tt_split_kind_parse(const char *s);
/* "random", "time", "last", "file", "cold-tracks". */
const char *tt_split_kind_name(enum tt_split_kind k);

/*
 * A split of one dataset. Owned by the caller; release with tt_split_release.
 * @mask:      n_events bytes, 1 = training event, 0 = test event; hand it to
 *             tt_train_set_build (which borrows it).
 * @relevant:  user x track (the dataset's dense ids); row u lists, sorted ascending, the
 *             held-out relevant tracks of user u, data 1. Rows of users not evaluated are
 *             empty.
 * @users:     the evaluated users (those with a non-empty row of @relevant), ascending.
 * File splits also count the rows of the test file they could not use.
 */
typedef struct tt_split {
    enum tt_split_kind kind;
    int64_t n_events;
    uint8_t *mask;
    tt_csr relevant;
    int32_t *users;
    int32_t n_users;
    int64_t n_train_events, n_test_events;
    int64_t cut_time;           /* time split: events at or before it train */
    int64_t file_rows;          /* file split: data rows read */
    int64_t file_unknown_user;  /* file split: rows skipped, user not in the dataset */
    int64_t file_unknown_track; /* file split: rows skipped, track not in the catalog */
    int32_t file_cold_users;    /* file split: users left out, no training positives */
    uint8_t *cold;              /* cold-tracks split: n_tracks bytes, 1 = held-out track */
    int32_t n_cold;             /* cold-tracks split: tracks held out */
} tt_split;

/*
 * Splits the events of @ds (a finished dataset) as @p says:
 * - TT_SPLIT_RANDOM: each user with at least TT_SPLIT_RANDOM_MIN_POSITIVES distinct
 *   positive tracks n has round(holdout * n) of them (at least 1, at most n - 1) drawn
 *   uniformly without replacement, using one tt_rng seeded with p->seed and visiting users
 *   in dense-id order. Every event of a held-out pair is a test event, so the pair is
 *   unseen in training. Other users stay entirely in training and are not evaluated.
 * - TT_SPLIT_TIME: with the event times sorted, the cut is the time of the event at rank
 *   ceil((1 - holdout) * n_events) (1-based); events at or before it train, later ones
 *   test. A user's relevant tracks are the positive pairs among their test events (judged
 *   on the test events alone) for tracks they have no training event with; users with at
 *   least one training positive and one relevant track are evaluated.
 * - TT_SPLIT_LAST: each user with at least TT_SPLIT_LAST_MIN_POSITIVES distinct positive
 *   tracks has the track of their latest event on a positive pair held out (latest by
 *   time, ties to the later event in dataset order), with all its events.
 * - TT_SPLIT_COLD_TRACKS: round(holdout * n) of the n tracks that have events (at least 1),
 *   drawn uniformly without replacement with one tt_rng seeded with p->seed, lose every
 *   event to the test side: to the models they are tracks nobody has played. A user's
 *   relevant tracks are their positive pairs on those tracks (judged on all events);
 *   users with at least one training positive and one relevant track are evaluated.
 *   @cold gets a mask of n_tracks bytes, 1 for the held-out tracks.
 * Errors: TT_EINVAL (NULL argument, holdout outside (0, 1), kind TT_SPLIT_FILE).
 * On error @out is left zeroed.
 */
int tt_split_build(const tt_dataset *ds, const tt_split_params *p, tt_split *out, tt_err *err);

/*
 * Test interactions from the CSV file at @path (the interactions import format: a header
 * naming user_id, track_id, action and timestamp, and optionally weight; other columns are
 * ignored). Every event of @ds trains (mask all 1). Rows whose user is not in @ds, or
 * whose track is not in its catalog, are skipped and counted. A user's relevant tracks are
 * the file's positive pairs under @w (summed over the file's rows, none a dislike) for
 * tracks the user has no event with in @ds; users with at least one training positive and
 * one relevant track are evaluated (users with none are counted in file_cold_users).
 * Errors: TT_EINVAL (NULL argument), TT_EIO (cannot read @path), TT_EPARSE (a missing
 * header column, an unknown action or a malformed weight; the message names file and line).
 */
int tt_split_from_file(const tt_dataset *ds, const char *path, const tt_weighting *w, tt_split *out,
                       tt_err *err);

/* Frees what @s holds and zeroes it. NULL does nothing. */
void tt_split_release(tt_split *s);

/* ---- metrics --------------------------------------------------------------------------- */

/*
 * Ranking metrics of one user's list, as defined by Liang et al. 2018 (recall, NDCG) and
 * docs/evaluation.md (all five). @ranked: the model's list, best first, @n entries; only
 * the first @k count, entries < 0 are empty slots, and a track repeated later in the list
 * counts once. @rel: the relevant tracks, sorted ascending, @n_rel entries. Every function
 * returns 0 when @k < 1, @n_rel is 0 or nothing relevant is ranked. Pure and thread-safe.
 */

/* hits@k / min(k, n_rel). */
double tt_metric_recall(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel);
/* DCG@k / IDCG@k with binary gains: sum over hits at 1-based rank i of 1 / log2(i + 1). */
double tt_metric_ndcg(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel);
/* 1 / rank of the first relevant track within the first k; 0 when there is none. */
double tt_metric_mrr(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel);
/* hits@k / k. */
double tt_metric_precision(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel);
/* Number of distinct relevant tracks within the first k entries. */
int tt_metric_hits(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel);

/*
 * Catalog coverage of @n_lists lists of @k entries each (row-major, entries < 0 ignored,
 * as are ids >= @n_tracks): distinct tracks listed / @n_tracks; 0 when @n_tracks < 1.
 */
double tt_metric_coverage(const int32_t *lists, int64_t n_lists, int k, int32_t n_tracks);

/*
 * Label agreement, for playlists (daily mixes): labels are small ids (genres, artists), < 0
 * for none, which agrees with nothing.
 * within:  the share of the n (n - 1) / 2 pairs of positions of @a agreeing (a playlist's
 *          coherence); 0 when n < 2.
 * between: the share of the na x nb pairs (one from each list) agreeing (how much two
 *          playlists overlap); 0 when either is empty.
 * distinct: distinct labels >= 0 / n (an artist label: the playlist's artist diversity);
 *          0 when n < 1.
 */
double tt_metric_label_within(const int32_t *a, int n);
double tt_metric_label_between(const int32_t *a, int na, const int32_t *b, int nb);
double tt_metric_label_distinct(const int32_t *a, int n);

/* One model's scores, averaged over the evaluated users. */
typedef struct tt_eval_scores {
    double recall, ndcg, mrr, precision; /* means over users */
    double coverage;                     /* distinct tracks in any top k / n_tracks */
    int32_t users;                       /* users evaluated */
    double score_seconds;                /* time spent ranking */
} tt_eval_scores;

/*
 * Ranks the top @k for every user of @split with @m (through tt_model_recommend_batch,
 * each user's row of @exclude left out; pass the training set's seen matrix) and averages
 * the metrics above into @out. @threads (0 = one per core) parallelises models that have
 * no batch operation. @m must be trained on the split's dataset. Errors: TT_EINVAL (NULL
 * argument, k < 1, a model whose catalog size differs from the split's), the model's own.
 */
int tt_eval_model(const tt_model *m, const tt_split *split, const tt_csr *exclude, int k,
                  int threads, tt_eval_scores *out, tt_err *err);

/*
 * The expected metrics of a uniformly random ranking (every ordering of the pool equally
 * likely) of @pool candidate tracks of which @n_rel are relevant: each of the first
 * min(k, pool) ranks holds a relevant track with probability n_rel / pool, so by linearity
 * E[DCG@k] = (n_rel / pool) sum_{r <= min(k, pool)} 1 / log2(r + 1), and recall and precision
 * follow from E[hits@k] = min(k, pool) n_rel / pool; E[MRR] sums 1/r times the probability
 * that the first hit is at rank r. NDCG and recall divide by constants (IDCG, min(k, n_rel)),
 * so they are exact expectations too. All 0 when pool, n_rel or k is < 1.
 */
void tt_metric_random(int k, int64_t pool, int32_t n_rel, double *recall, double *ndcg,
                      double *mrr, double *precision);

/*
 * The random-ranking baseline of @split: for each evaluated user, tt_metric_random over the
 * pool of tracks with a non-zero byte in @pool_mask (NULL: every catalog track) that the
 * user's row of @exclude does not hold, that is, the tracks the models choose from; the
 * user's relevant tracks outside the pool count as missed. Coverage is the expected share of
 * the catalog in any user's random top k. Errors: TT_EINVAL (NULL argument, k < 1).
 */
int tt_eval_random(const tt_split *split, const tt_csr *exclude, const uint8_t *pool_mask, int k,
                   tt_eval_scores *out, tt_err *err);

/* ---- daily mixes (mixes.c) ------------------------------------------------------------- */

struct tt_mix_space;
struct tt_catalog;

/*
 * What the day's mixes of the evaluated users of a split are worth (docs/evaluation.md):
 * held-out hits of the union of each user's mixes against ALS's top N of the same size N
 * (both leaving out what the user heard in training; familiar tracks, heard in training,
 * are never held out, so a mix's hits are all discoveries) and against ALS's top of the size
 * of the mixes' discoveries; genre coherence within a mix against the genre overlap
 * between two mixes of one user (first genres); artist diversity within a mix.
 * Rates are over users (hit rate: share of users with at least one held-out track listed;
 * recall: hits / min(N, relevant), averaged); mix measures over mixes (or pairs of mixes).
 */
typedef struct tt_mix_scores {
    int32_t users, fallback_users;          /* evaluated; of them with fallback mixes */
    double mixes, tracks, familiar_share;   /* per user, per user, over all tracks */
    /* Over the users with at least a third as many liked tracks as their mixes hold: the
     * familiar share where the history does not limit it. */
    int32_t rich_users;
    double rich_familiar_share;
    double hit_rate, recall;                /* the union of a user's mixes */
    double als_hit_rate, als_recall;        /* ALS's top N, N = the union's size */
    double als_disc_hit_rate, als_disc_recall; /* ALS's top of the discoveries' size */
    double genre_within, genre_between;     /* tt_metric_label_within / _between, means */
    double artist_diversity;                /* tt_metric_label_distinct of artists, mean */
    double ms_per_user;                     /* making the mixes (not ALS) */
} tt_mix_scores;

/*
 * Makes @mixes mixes of @tracks_per_mix tracks on day @day for every evaluated user of
 * @split from @space (built over @cat, the snapshot of the split's training events) and
 * scores them, with @als (trained on the same events) as the reference. Errors:
 * TT_EINVAL (NULL argument, catalog sizes that differ), the models' own.
 */
int tt_eval_mixes(const tt_split *split, const struct tt_catalog *cat,
                  const struct tt_mix_space *space, const tt_model *als, int mixes,
                  int tracks_per_mix, int64_t day, tt_mix_scores *out, tt_err *err);

/* ---- report ---------------------------------------------------------------------------- */

/* One row of a report: a model's scores, or why it could not be evaluated. */
typedef struct tt_eval_row {
    char model[32];
    tt_eval_scores scores;
    double train_seconds;
    char error[256]; /* "" when the model trained and was scored */
} tt_eval_row;

/*
 * What one evaluation run found. Plain data filled by the caller; strings are borrowed.
 * @holdout is unused for file and leave-last-out splits (reported as null).
 */
typedef struct tt_eval_report {
    enum tt_split_kind split;
    double holdout;
    int k;
    uint64_t seed;
    const char *test_file; /* file split only */
    const char *baseline;  /* model the others are compared with ("popularity"), or NULL */
    int32_t users_evaluated;
    int32_t n_users, n_tracks;
    int64_t train_events, test_events;
    tt_eval_row *rows;
    int n_rows;
} tt_eval_report;

/*
 * Writes @r to @f as an aligned table, one row per model: recall@K, ndcg@K, mrr,
 * precision@K, coverage, training seconds, users evaluated, and each model's NDCG@K and
 * Recall@K relative to the baseline row when there is one.
 */
void tt_eval_report_table(const tt_eval_report *r, FILE *f);

/*
 * @r as one JSON document (docs/evaluation.md has the schema), indented, with metric keys
 * spelled with the actual K ("recall@20"). Returns a string to release with free().
 */
char *tt_eval_report_json(const tt_eval_report *r);

/* ---- similar tracks (similar.c) ---- */

/*
 * How good a catalog's similar-track lists are, from its genre labels: for each query track
 * (a track with a genre and a content vector), the share of its k nearest other tracks whose
 * first genre is the query's first genre, against what k random tracks would give; and, for
 * an approximate index, how much of the exact top k it finds.
 */
typedef struct tt_similar_scores {
    int k;
    int64_t queries;             /* tracks evaluated */
    int64_t candidates;          /* tracks with a content vector */
    double genre_precision;      /* exact neighbours */
    double random_precision;     /* expected share of k random candidates */
    double index_genre_precision; /* neighbours from the index; NAN without one */
    double index_recall;         /* (tracks in both the index and the exact top k) / k; NAN without one */
    double exact_ms, index_ms;   /* mean wall milliseconds per query, batched search */
} tt_similar_scores;

/*
 * Scores @vec (n_tracks x @d unit vectors of @ds, rows of zeros = no content) at cut-off @k
 * over at most @max_queries query tracks (a seeded sample when there are more); @ix (may be
 * NULL) is an index over the same vectors.
 */
int tt_eval_similar(const tt_dataset *ds, const float *vec, int d, const tt_ann *ix, int k,
                    int64_t max_queries, uint64_t seed, tt_similar_scores *out, tt_err *err);

/* Leave-one-out with sampled negatives (src/eval/loo.c). */
typedef struct tt_loo_scores {
    int32_t users;   /* evaluated: users with a held-out track */
    double hr, ndcg; /* HR@k and NDCG@k against the sampled negatives */
    int k, negatives;
    double seconds;
} tt_loo_scores;

/*
 * The paper protocol of NeuMF (He et al. 2017): for each user of @s (a TT_SPLIT_LAST split),
 * their held-out track is ranked by @m among @n_neg tracks drawn (seeded by @seed) from those
 * they never touched in training (@seen) and are not held out; HR@k and NDCG@k over users.
 * A user the model cannot rank for counts as a miss. Errors: TT_EINVAL, the model's.
 */
int tt_eval_loo(const tt_model *m, const tt_split *s, const tt_csr *seen, int n_neg, int k,
                uint64_t seed, tt_loo_scores *out, tt_err *err);

#endif
