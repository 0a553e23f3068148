/*
 * rank_priv.h - what the models that score the whole catalog share when they turn scores
 * into a list (ALS, NeuMF, radio, daily mixes). Internal to src/models/; model.c has the code.
 */
#ifndef TT_MODELS_RANK_PRIV_H
#define TT_MODELS_RANK_PRIV_H

#include "tt/model.h"

/*
 * Top @k of @scores (@n entries) into @out, skipping tracks in sorted @excl (@n_excl) and
 * those @allow forbids (may be NULL); returns how many. Once the heap is full almost every
 * score loses to its minimum, so that comparison comes first and the exclusion list is only
 * searched for the few candidates that would enter.
 */
int tt__select_top(const float *scores, int32_t n, const int32_t *excl, int32_t n_excl,
                   const uint8_t *allow, int k, tt_scored *out);

/*
 * The list ranked at training time for @q's user (@pre: @n_users rows of @pre_k entries,
 * padded with track -1), minus what @q excludes beyond training history, into @out. False
 * when it does not answer @q: no list, fresh history, a query that does not exclude the
 * history, or fewer than @k left while the list was full (then the catalog is scored).
 */
bool tt__from_precomputed(const tt_scored *pre, int pre_k, int32_t n_users, const tt_query *q,
                          int k, tt_scored *out, int *n_out);

/*
 * Moves the @k best of @a (@n entries, higher score first, the lower track id on ties: the
 * order tt_topk keeps) to its front, in no order (Hoare's quickselect): linear time, where
 * offering @n candidates to a tt_topk of @k costs a sift for each that enters.
 */
void tt__select_best(tt_scored *a, int32_t n, int32_t k);

#endif
