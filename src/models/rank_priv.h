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
 * Lists ranked at training time for some listeners (lists.c explains the choice): @n lists
 * of @k entries in @top, padded with track -1; list i is user @users[i]'s (ascending ids),
 * or user i's when @users is NULL (files of the earlier layout). Read-only once built.
 */
typedef struct tt__lists {
    int32_t k, n;
    const int32_t *users;
    const tt_scored *top;
    int32_t *owned_users; /* what tt__lists_rank allocated (NULL when loaded from a file) */
    tt_scored *owned_top;
} tt__lists;

/*
 * The users of @ts to rank ahead of time, ascending, into *@out (malloc'd, the caller
 * frees it); returns how many: every user when @days is 0, else those with a training
 * event in the @days before ts->now; when @cap > 0 only the @cap most recent (ties toward
 * the lower id) are kept. A train set built by hand without user_last counts every user as
 * active.
 */
int32_t tt__lists_select(const tt_train_set *ts, int days, int32_t cap, int32_t **out);

/*
 * Fills @l with each selected user's best @k unheard tracks (ts->seen excluded), ranked by
 * @m's batch operation. Nothing when @k <= 0. Release with tt__lists_release.
 */
void tt__lists_rank(tt__lists *l, const tt_model *m, const tt_train_set *ts, int k, int days,
                    int32_t cap);
void tt__lists_release(tt__lists *l);

/* Adds the sections "user_top" and "user_top_users" (nothing when @l has no lists). */
int tt__lists_save(const tt__lists *l, tt_mfile_writer *w, tt_err *err);

/*
 * Reads the lists of @f into @l (borrowed from @f), or none when the file has none. Every
 * track id and slot index is checked, since requests trust them: TT_ECORRUPT naming the
 * section for a bad shape, a track outside @n_tracks, a user outside @n_users or out of
 * order, or a slot index without lists.
 */
int tt__lists_load(tt__lists *l, const tt_mfile *f, int32_t n_users, int32_t n_tracks, tt_err *err);

/*
 * The list ranked for @q's user minus what @q excludes beyond training history, into @out.
 * False when it does not answer @q: no list for the user, fresh history, a query that does
 * not exclude the history, or fewer than @k left while the list was full (then the caller
 * scores the catalog).
 */
bool tt__lists_answer(const tt__lists *l, const tt_query *q, int k, tt_scored *out, int *n_out);

/*
 * Moves the @k best of @a (@n entries, higher score first, the lower track id on ties: the
 * order tt_topk keeps) to its front, in no order (Hoare's quickselect): linear time, where
 * offering @n candidates to a tt_topk of @k costs a sift for each that enters.
 */
void tt__select_best(tt_scored *a, int32_t n, int32_t k);

#endif
