/*
 * dataset_priv.h - what the snapshot readers of src/store/ (dataset.c, logcache.c) share
 * beyond include/tt/dataset.h: the catalog read alone, and events appended by dense id.
 */
#ifndef TT_STORE_DATASET_PRIV_H
#define TT_STORE_DATASET_PRIV_H

#include "tt/dataset.h"

/* Reads artists, tracks and users of @s into @d, as tt_dataset_load does before the log. */
int tt__dataset_load_catalog(tt_store *s, tt_dataset *d, tt_err *err);

/*
 * Appends one event of dense user @user and catalog track @track, exactly as
 * tt_dataset_add_event does once it has found them (@t in Unix seconds). max_event_id and
 * n_unknown_track_events are the caller's.
 */
void tt__dataset_push_event(tt_dataset *d, int32_t user, int32_t track, uint8_t action,
                            float weight, int64_t t);

/* Sizes the event arrays for @n events now, so that a known count is allocated once. */
void tt__dataset_reserve_events(tt_dataset *d, int64_t n);

#endif
