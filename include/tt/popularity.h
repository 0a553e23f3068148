/*
 * popularity.h - non-personalised baselines and fallbacks.
 *
 * "popularity": all-time, a track's score is the number of distinct users with a positive
 * interaction with it (so one heavy listener cannot make a track popular).
 * "trending": every positive event counts its weight times 2^(-age / half_life), age
 * measured from the newest training event, so recent listening dominates.
 * "genre": a user's genre affinities (the genres of the tracks they like, or their declared
 * favourites when they have no history) turned into a list that mixes the best tracks of
 * each genre in proportion to the affinity (Sainte-Lague apportionment of the slots).
 * All keep every track ranked (and, per genre, the tracks of that genre ranked) at
 * training time, so a request walks a precomputed order: O(k + excluded).
 */
#ifndef TT_POPULARITY_H
#define TT_POPULARITY_H

#include "tt/model.h"
#include "tt/modelfile.h"

enum tt_pop_mode { TT_POP_ALL_TIME, TT_POP_TRENDING, TT_POP_GENRE };

/* Genres kept per user by the genre model. */
#define TT_GENRE_MAX_PER_USER 8

int tt_popularity_train(const tt_train_set *ts, enum tt_pop_mode mode, double half_life_days,
                        tt_model **out, tt_err *err);

/*
 * The tracks of genre @g, most popular first (borrowed, valid while @m lives); *n gets
 * their count. @m must be a popularity model; NULL for an unknown genre.
 */
const int32_t *tt_popularity_genre_ranking(const tt_model *m, int32_t g, int32_t *n);
/* Score of track @t (0 for unknown). */
float tt_popularity_score(const tt_model *m, int32_t t);

int tt__popularity_load(tt_mfile *f, tt_model **out, tt_err *err);

#endif
