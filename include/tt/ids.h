/*
 * ids.h - maps the platform's opaque string ids (users, tracks, artists, genres) to dense
 * int32 ids 0..n-1 in first-seen order, and back. Strings are copied into an arena.
 * Not thread-safe for writers; concurrent readers are fine once building is done.
 */
#ifndef TT_IDS_H
#define TT_IDS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tt_ids tt_ids;

tt_ids *tt_ids_new(void);
void tt_ids_free(tt_ids *ids);

/* Dense id of @s (@len bytes), adding it if new. */
int32_t tt_ids_intern(tt_ids *ids, const char *s, size_t len);
/* Dense id of @s, or -1 when unknown. */
int32_t tt_ids_find(const tt_ids *ids, const char *s, size_t len);
/* NUL-terminated string of dense id @i. Borrowed: valid while @ids lives. */
const char *tt_ids_name(const tt_ids *ids, int32_t i);
int32_t tt_ids_count(const tt_ids *ids);

#endif
