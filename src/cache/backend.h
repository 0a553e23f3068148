/*
 * backend.h - what a cache backend implements. Internal to src/cache/.
 *
 * cache.c checks arguments, resolves default parameters and counts hits, misses and errors;
 * a backend only stores. Every operation may be called from many threads at once.
 */
#ifndef TT_CACHE_BACKEND_H
#define TT_CACHE_BACKEND_H

#include "tt/cache.h"

struct tt_cache_ops {
    const char *name; /* "memory" or "redis" */
    bool shared;      /* every engine on the same URL sees the same entries */
    void (*close)(void *self);
    /*
     * 0 with *val (malloc'd, NUL-terminated past @len for convenience) and *len on a hit;
     * TT_ENOTFOUND on a miss, without touching @err; TT_EBACKEND when unavailable.
     * @group and @key are NUL-terminated, @group is not empty.
     */
    int (*get)(void *self, const char *group, const char *key, char **val, size_t *len,
               tt_err *err);
    /* @ttl_seconds is already resolved (> 0). */
    int (*put)(void *self, const char *group, const char *key, const void *val, size_t len,
               int ttl_seconds, tt_err *err);
    int (*drop_group)(void *self, const char *group, tt_err *err);
    int (*clear)(void *self, tt_err *err);
    /* Fills evictions, entries and bytes of @out; cache.c fills the rest. */
    void (*usage)(void *self, tt_cache_stats *out);
    bool (*healthy)(void *self);
    /* Messages between engines; NULL when the backend reaches no other engine. */
    int (*publish)(void *self, const char *channel, const void *msg, size_t len, tt_err *err);
    /* Starts a subscription; *sub is the backend's handle, given back to the two below. */
    int (*subscribe)(void *self, const char *channel, tt_cache_msg_fn fn, void *ctx,
                     void **sub, tt_err *err);
    bool (*sub_live)(const void *sub);
    void (*sub_close)(void *sub);
};

/*
 * The constructors. @p is resolved: every numeric field holds a usable value. Each fills
 * *ops and *self on success.
 */
int tt__cache_mem_open(const tt_cache_params *p, const struct tt_cache_ops **ops, void **self,
                       tt_err *err);
int tt__cache_redis_open(const tt_cache_params *p, const struct tt_cache_ops **ops, void **self,
                         tt_err *err);

/* Monotonic milliseconds, shared by the backends' expiry and retry clocks. */
int64_t tt__cache_now_ms(void);

#endif
