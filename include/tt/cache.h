/*
 * cache.h - the answer cache: one interface, two backends chosen from REDIS_URL (unset: an
 * in-process cache; redis://...: Redis through hiredis). Entries live in groups (one per
 * user, "u:<user_id>", or per track, "t:<track_id>") so that feedback can drop everything
 * cached for a user in one call; within a group an entry has a key (the request's
 * parameters, model and model version). Values are opaque bytes (serialised answers).
 *
 * A cache is shared by all request threads: every function is thread-safe. A backend that
 * is down never fails a request: get answers TT_EBACKEND quickly (short timeouts), callers
 * serve uncached, and the cache reconnects by itself when the backend returns.
 */
#ifndef TT_CACHE_H
#define TT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"

typedef struct tt_cache tt_cache;

/* Fields left at 0 take their defaults. */
typedef struct tt_cache_params {
    const char *url;      /* NULL or "" = in-process; "redis://[:pass@]host[:port][/db]" or
                             "unix:///path" */
    int64_t max_bytes;    /* in-process: bound on keys + values (default 256 MiB) */
    int ttl_seconds;      /* default time to live of entries (default 300) */
    int pool_size;        /* Redis: connections kept (default 4) */
    int timeout_ms;       /* Redis: connect/command timeout (default 50) */
    int retry_ms;         /* Redis: after a failure, wait this long before reconnecting (1000) */
} tt_cache_params;

tt_cache_params tt_cache_params_default(void);

/*
 * Opens the cache. An unreachable Redis is not an error here (the cache starts degraded and
 * keeps trying); a malformed URL is TT_ECONFIG.
 */
int tt_cache_open(const tt_cache_params *p, tt_cache **out, tt_err *err);
void tt_cache_close(tt_cache *c);

/*
 * Looks up (@group, @key). On a hit returns 0 and *@val (malloc'd, NUL-terminated after
 * *@len bytes; the caller frees it). Returns TT_ENOTFOUND on a miss (without touching
 * @err), TT_EBACKEND when the backend is unavailable.
 */
int tt_cache_get(tt_cache *c, const char *group, const char *key, char **val, size_t *len,
                 tt_err *err);
/*
 * Stores a copy of @val under (@group, @key) for @ttl_seconds (<= 0: the default). On Redis
 * the whole group expires ttl after its last write (Redis 7.0 has no per-field expiry).
 * TT_ETOOBIG when one group would exceed a sixteenth of max_bytes.
 */
int tt_cache_put(tt_cache *c, const char *group, const char *key, const void *val, size_t len,
                 int ttl_seconds, tt_err *err);
/* Drops every entry of @group. */
int tt_cache_drop_group(tt_cache *c, const char *group, tt_err *err);
/* Drops everything (after a model reload). */
int tt_cache_clear(tt_cache *c, tt_err *err);

typedef struct tt_cache_stats {
    uint64_t hits, misses, errors, evictions; /* evictions: live entries pushed out for room */
    int64_t entries, bytes; /* in-process only; -1 for Redis */
} tt_cache_stats;

void tt_cache_stats_get(tt_cache *c, tt_cache_stats *out);
/* "memory" or "redis". */
const char *tt_cache_backend(const tt_cache *c);
/* The Redis client library this build is linked with: "redis (hiredis 0.14.1)". */
const char *tt_cache_redis_version(void);
/* False while the backend is unreachable. */
bool tt_cache_healthy(tt_cache *c);

#endif
