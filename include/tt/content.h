/*
 * content.h - content-based similarity: each track as a unit vector built from what it
 * sounds like (audio features, its embedding when the catalog has one) and its genres, so
 * tracks nobody has played yet have neighbours too; and each listener as up to a few
 * weighted centres of the vectors of what they played and liked.
 *
 * A track's vector is [audio | genres | embedding], then scaled to unit length:
 *   audio:     the ten scalar audio features standardised by the catalog's mean and
 *              standard deviation (unknown = the mean), and key as a point on the circle
 *              of the twelve pitch classes (cos, sin of 2 pi key / 12) times w_key, so
 *              B (11) is as close to C (0) as C# (1) is;
 *   genres:    one dimension per genre among the catalog's genre_dims most common (but
 *              none for a genre every track has), the track's genres sharing unit length;
 *   embedding: each dimension standardised over the tracks that have one, in logs when
 *              its values are all positive and right-skewed (tt_content_log_dim), then
 *              whitened with shrinkage (tt_content_whiten_fit) when the catalog has at
 *              least TT_CONTENT_WHITEN_MIN tracks with an embedding per dimension.
 * An audio feature whose values repeat an embedding column (GTZAN's tempo is both) gets no
 * dimension: it would count twice.
 * Each part is multiplied by its weight / sqrt(its dimensions), so a part's expected share
 * of the squared length is its weight squared whatever its size. Cosine similarity of two
 * vectors is then their inner product, which the FAISS index (tt/ann.h) searches.
 * Before that, the embedding part's direction becomes the weighted mean of those of its
 * augment_k nearest embeddings (tt_content_augment), when the catalog has at least
 * TT_CONTENT_AUGMENT_MIN x augment_k tracks with an embedding.
 * docs/models.md documents the parameters and their defaults.
 */
#ifndef TT_CONTENT_H
#define TT_CONTENT_H

#include <stddef.h>
#include <stdint.h>

#include "tt/ann.h"
#include "tt/dataset.h"
#include "tt/model.h"

typedef struct tt_content_params {
    float w_audio;          /* weight of the audio features (default 1) */
    float w_key;            /* key's weight inside the audio part (default 0.5) */
    float w_genre;          /* weight of the genres (default 0.5) */
    float w_embedding;      /* weight of the embedding (default 1) */
    int genre_dims;         /* genres with their own dimension, most common first (64) */
    float whiten;           /* embedding whitening shrinkage, x the mean eigenvalue (1);
                               0 = standardised only */
    int augment_k;          /* neighbours each embedding is averaged with, itself included
                               (default 15); 0 or 1 = none */
    int max_centres;        /* centres of a listener's profile (default 3) */
    int tracks_per_centre;  /* positives needed for each further centre (default 20) */
    uint64_t seed;          /* k-means of the listener centres */
} tt_content_params;

tt_content_params tt_content_params_default(void);

/* TT_EINVAL (field named) when a weight is negative or not finite, or all are zero. */
int tt_content_params_check(const tt_content_params *p, tt_err *err);

/*
 * The content vectors of @ds's tracks: *vec gets n_tracks x *d floats (malloc'd), each row
 * of unit length, or all zeros for a track with no features, genre or embedding.
 * TT_ESTATE when the catalog has nothing (with a positive weight) to build them from.
 */
int tt_content_vectors(const tt_dataset *ds, const tt_content_params *p, float **vec, int *d,
                       tt_err *err);

/*
 * Trains the content model on @ts: the track vectors and every listener's centres
 * (weighted spherical k-means over their positives, weights log(1 + r)).
 */
int tt_content_train(const tt_train_set *ts, const tt_content_params *p, tt_model **out,
                     tt_err *err);

/*
 * The parameters to measure genre precision with when genre is what is predicted: @p with
 * the genre part off (w_genre 0), so the vectors cannot read the answer from the labels.
 */
tt_content_params tt_content_params_sound_only(const tt_content_params *p);

/*
 * Whether an embedding dimension (x[i * stride] for the @n tracks with use[i], all when @use
 * is NULL) is standardised in logs: 1 when every finite value is positive and their sample
 * skewness exceeds 1 (variances, energies, rates have such long right tails), else 0.
 * Reads only the values, never a label.
 */
int tt_content_log_dim(const float *x, int64_t n, int64_t stride, const uint8_t *use);

/* Tracks with an embedding per embedding dimension needed to whiten it. */
#define TT_CONTENT_WHITEN_MIN 4
/* Tracks with content per neighbour of augment_k needed to augment the vectors. */
#define TT_CONTENT_AUGMENT_MIN 10
/* Tracks with an embedding up to which augmentation's neighbours are exact; HNSW beyond. */
#define TT_CONTENT_AUGMENT_EXACT_MAX 300000

/*
 * Shrunk whitening of the @n rows of @z (n x e, row-major; only rows with use[i], all when
 * @use is NULL): @W (e x e, caller-allocated) gets V diag(1 / sqrt(lambda + shrink x mean
 * lambda)) V^T for the eigenpairs (lambda, V) of the rows' covariance, scaled so that a
 * whitened row z W has the expected squared length e. Reads only the values.
 * TT_EINVAL: fewer than two rows, e < 1, shrink not > 0, or rows that do not vary;
 * TT_EINTERNAL: LAPACK did not converge.
 */
int tt_content_whiten_fit(const float *z, int64_t n, int e, const uint8_t *use, float shrink,
                          float *W, tt_err *err);

/*
 * The @k nearest rows (by inner product, the row itself included) of each of the @m rows of
 * @x (m x d): @nbr and @sim (m x k, caller-allocated) get their row numbers and inner
 * products, best first; -1 and 0 where there are fewer than k rows. Exact: sgemm over
 * blocks of rows (about 16 MB of scores each) on every core, O(m^2 d) work. TT_EINVAL on
 * bad sizes.
 */
int tt_content_neighbours(const float *x, int64_t m, int d, int k, int32_t *nbr, float *sim,
                          tt_err *err);

/*
 * The same as tt_content_neighbours, approximately, from an HNSW graph built over @x
 * (tt/ann.h: M 32, efConstruction 80, efSearch max(64, 2k)), searched with every row:
 * near O(m log m) work for catalogs too large for the exact pass. Errors of tt_ann_build.
 */
int tt_content_neighbours_hnsw(const float *x, int64_t m, int d, int k, int32_t *nbr,
                               float *sim, tt_err *err);

/*
 * Database-side augmentation, in place: the @n rows of @vec (each @d floats, @stride floats
 * apart) keep their lengths, and each row's direction becomes that of the sum of its @k
 * nearest rows by cosine, itself included, each weighted by the cosine when positive. Rows
 * of length 0 take no part and stay 0. Leaves @vec as it is when k < 2 or fewer than
 * TT_CONTENT_AUGMENT_MIN x k rows take part. The neighbours are exact up to
 * TT_CONTENT_AUGMENT_EXACT_MAX rows taking part, from tt_content_neighbours_hnsw beyond.
 * TT_EINVAL on bad sizes; the index's errors.
 */
int tt_content_augment(float *vec, int64_t n, int d, int64_t stride, int k, tt_err *err);

/* The parameters the model was trained with. */
tt_content_params tt_content_model_params(const tt_model *m);

/* The model's vectors (n_tracks x *d, borrowed) and whether track @t has one. */
const float *tt_content_model_vectors(const tt_model *m, int *d);
int tt_content_has_vector(const tt_model *m, int32_t t);

/*
 * The listener's centres for @q, as content recommendations use them: profiled from q->hist
 * when it has entries (fresh feedback), else the ones stored for q->user. @centres gets up
 * to max_centres x d floats (caller-allocated), @w their weights, heaviest first. Returns
 * how many (0: nothing the listener played has content, or @m is not a content model).
 * Thread-safe.
 */
int tt_content_centres(const tt_model *m, const tt_query *q, float *centres, float *w);

/*
 * Hands @ix (built over this model's vectors) to the model, which then answers similar
 * tracks and listener recommendations from it instead of scanning the catalog; the model
 * frees it. @ix NULL detaches (and frees) the current one.
 */
void tt_content_attach_index(tt_model *m, tt_ann *ix);
const tt_ann *tt_content_index(const tt_model *m);

/* What an index over this model's vectors must have been built for (tt_ann_load). */
tt_ann_meta tt_content_index_expect(const tt_model *m);

/* Where the content index lives: MODEL_DIR/faiss_indexes/content.idx (and content.json). */
void tt_content_index_path(const char *model_dir, char *buf, size_t n);

/* Cosine similarity of tracks @a and @b in the model's space. */
float tt_content_similarity(const tt_model *m, int32_t a, int32_t b);

/* Loader for the model registry (models.c). */
struct tt_mfile;
int tt__content_load(struct tt_mfile *f, tt_model **out, tt_err *err);

#endif
