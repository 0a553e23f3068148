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
/*
 * True when every engine opened on the same URL sees the same entries (Redis): an entry one
 * engine drops is gone for all. False for the in-process cache, which is this process's own.
 */
bool tt_cache_shared(const tt_cache *c);
/* False while the backend is unreachable. */
bool tt_cache_healthy(tt_cache *c);

/* ---- messages between the engines sharing a cache ---------------------------------------- */

/*
 * A Redis cache also carries short messages between the engines that share it (Redis
 * pub/sub): at most once, in order per publisher, to the subscribers connected at the time
 * of publishing. A message sent while a subscriber is disconnected is lost to it, so a
 * subscriber needs another way to catch up (the engine reads the database: docs/scaling.md).
 * Channels belong to the database the URL names, as entries do (Redis's own channels are
 * server-wide): engines on another database of the same server do not hear them.
 * The in-process cache reaches no other engine: both calls answer TT_EUNSUPPORTED.
 */
typedef struct tt_cache_sub tt_cache_sub;

/* Called on the subscription's own thread with one message; @msg is valid during the call. */
typedef void (*tt_cache_msg_fn)(void *ctx, const char *msg, size_t len);

/*
 * Sends @msg (@len bytes, binary-safe) to the subscribers of @channel, on a pooled
 * connection and within the cache's timeout. Errors: TT_EBACKEND (Redis unreachable: nothing
 * sent), TT_EUNSUPPORTED (in-process cache), TT_EINVAL.
 */
int tt_cache_publish(tt_cache *c, const char *channel, const void *msg, size_t len, tt_err *err);

/*
 * Subscribes to @channel on a connection of its own, read by a thread of its own that calls
 * @fn(@ctx, ...) for every message until tt_cache_sub_close. An unreachable Redis is not an
 * error: the thread retries every retry_ms, and tt_cache_sub_live says whether it is
 * subscribed now. *@out is set on success; @c must outlive it. Errors: TT_EUNSUPPORTED
 * (in-process cache), TT_EINVAL, TT_EINTERNAL (no thread).
 */
int tt_cache_subscribe(tt_cache *c, const char *channel, tt_cache_msg_fn fn, void *ctx,
                       tt_cache_sub **out, tt_err *err);
/* True while subscribed: a message published now reaches @s. False for NULL. */
bool tt_cache_sub_live(const tt_cache_sub *s);
/* Unsubscribes and joins the thread: once it returns, @fn is not running and never will. */
void tt_cache_sub_close(tt_cache_sub *s);

#endif
