/*
 * REDIS_URL -> backend dispatch, argument checks, and the statistics both backends share.
 *
 * Parameters left at zero (or negative) take their defaults, so a caller may start from
 * `tt_cache_params p = {0}` as well as from tt_cache_params_default().
 *
 * A miss is an answer, not an error: get returns TT_ENOTFOUND without writing to @err, so a
 * tt_err reused across lookups still reports the first real failure (the first error wins).
 */
#include "backend.h"
#include "tt/core.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

/*
 * Every lookup from every request thread bumps a counter. One shared counter would bounce
 * its cache line between cores on each lookup, the very contention the sharded memory
 * backend exists to avoid, so each thread counts into one of a few stripes, each on its own
 * cache line, and tt_cache_stats_get sums them.
 */
#define N_STRIPES 16

struct stripe {
    _Alignas(64) _Atomic uint64_t hits;
    _Atomic uint64_t misses, errors;
};

struct tt_cache {
    struct stripe stripes[N_STRIPES];
    const struct tt_cache_ops *ops;
    void *self;
    int ttl_seconds;
};

/*
 * The coarse clock costs a few nanoseconds where the precise one costs tens, a measurable
 * share of a lookup; its resolution (a scheduler tick, 1-4 ms) is far below any TTL.
 */
int64_t tt__cache_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

tt_cache_params tt_cache_params_default(void)
{
    tt_cache_params p = {
        .url = NULL,
        .max_bytes = INT64_C(256) << 20,
        .ttl_seconds = 300,
        .pool_size = 4,
        .timeout_ms = 50,
        .retry_ms = 1000,
    };
    return p;
}

static tt_cache_params params_resolve(const tt_cache_params *p)
{
    tt_cache_params r = tt_cache_params_default();

    if (!p)
        return r;
    r.url = p->url;
    if (p->max_bytes > 0)
        r.max_bytes = p->max_bytes;
    if (p->ttl_seconds > 0)
        r.ttl_seconds = p->ttl_seconds;
    if (p->pool_size > 0)
        r.pool_size = p->pool_size;
    if (p->timeout_ms > 0)
        r.timeout_ms = p->timeout_ms;
    if (p->retry_ms > 0)
        r.retry_ms = p->retry_ms;
    return r;
}

static bool is_redis_url(const char *url)
{
    return strncmp(url, "redis://", 8) == 0 || strncmp(url, "unix://", 7) == 0;
}

int tt_cache_open(const tt_cache_params *p, tt_cache **out, tt_err *err)
{
    tt_cache_params r = params_resolve(p);
    const struct tt_cache_ops *ops = NULL;
    void *self = NULL;
    tt_cache *c;
    int rc;

    if (!out)
        return tt_err_set(err, TT_EINVAL, "out is required");
    if (!r.url || !*r.url)
        rc = tt__cache_mem_open(&r, &ops, &self, err);
    else if (is_redis_url(r.url))
        rc = tt__cache_redis_open(&r, &ops, &self, err);
    else /* only the scheme is quoted: the rest of the URL may hold a password */
        return tt_err_set_field(err, TT_ECONFIG, "REDIS_URL",
                                "unsupported cache URL scheme '%.*s': use redis://[:PASSWORD@]"
                                "HOST[:PORT][/DB], unix:///PATH, or nothing for the in-process "
                                "cache",
                                (int)strcspn(r.url, ":/@"), r.url);
    if (rc < 0)
        return rc;
    /* Aligned so that each stripe really has a cache line of its own. */
    c = tt_aligned_alloc(sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->self = self;
    c->ttl_seconds = r.ttl_seconds;
    *out = c;
    return 0;
}

void tt_cache_close(tt_cache *c)
{
    if (!c)
        return;
    c->ops->close(c->self);
    free(c);
}

/* This thread's stripe: threads are dealt stripes round-robin on their first call. */
static struct stripe *my_stripe(tt_cache *c)
{
    static _Atomic unsigned next_slot;
    static _Thread_local unsigned slot; /* stripe index + 1; 0 until assigned */

    if (!slot)
        slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) % N_STRIPES + 1;
    return &c->stripes[slot - 1];
}

static void count(tt_cache *c, int rc, bool lookup)
{
    struct stripe *s;

    if (rc == 0 && !lookup)
        return;
    s = my_stripe(c);
    if (rc == 0)
        atomic_fetch_add_explicit(&s->hits, 1, memory_order_relaxed);
    else if (rc == TT_ENOTFOUND && lookup)
        atomic_fetch_add_explicit(&s->misses, 1, memory_order_relaxed);
    else if (rc == TT_EBACKEND)
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
}

static int check_group(const tt_cache *c, const char *group, tt_err *err)
{
    if (!c)
        return tt_err_set(err, TT_EINVAL, "cache is required");
    if (!group || !*group)
        return tt_err_set_field(err, TT_EINVAL, "group", "cache group must be a non-empty string");
    return 0;
}

int tt_cache_get(tt_cache *c, const char *group, const char *key, char **val, size_t *len,
                 tt_err *err)
{
    int rc = check_group(c, group, err);

    if (rc < 0)
        return rc;
    if (!key || !val || !len)
        return tt_err_set(err, TT_EINVAL, "cache key, val and len are required");
    rc = c->ops->get(c->self, group, key, val, len, err);
    count(c, rc, true);
    return rc;
}

int tt_cache_put(tt_cache *c, const char *group, const char *key, const void *val, size_t len,
                 int ttl_seconds, tt_err *err)
{
    int rc = check_group(c, group, err);

    if (rc < 0)
        return rc;
    if (!key)
        return tt_err_set_field(err, TT_EINVAL, "key", "cache key is required");
    if (!val && len > 0)
        return tt_err_set(err, TT_EINVAL, "cache value is NULL but its length is %zu", len);
    if (ttl_seconds <= 0)
        ttl_seconds = c->ttl_seconds;
    rc = c->ops->put(c->self, group, key, val ? val : "", len, ttl_seconds, err);
    count(c, rc, false);
    return rc;
}

int tt_cache_drop_group(tt_cache *c, const char *group, tt_err *err)
{
    int rc = check_group(c, group, err);

    if (rc < 0)
        return rc;
    rc = c->ops->drop_group(c->self, group, err);
    count(c, rc, false);
    return rc;
}

int tt_cache_clear(tt_cache *c, tt_err *err)
{
    int rc;

    if (!c)
        return tt_err_set(err, TT_EINVAL, "cache is required");
    rc = c->ops->clear(c->self, err);
    count(c, rc, false);
    return rc;
}

void tt_cache_stats_get(tt_cache *c, tt_cache_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!c)
        return;
    for (int i = 0; i < N_STRIPES; i++) {
        out->hits += atomic_load_explicit(&c->stripes[i].hits, memory_order_relaxed);
        out->misses += atomic_load_explicit(&c->stripes[i].misses, memory_order_relaxed);
        out->errors += atomic_load_explicit(&c->stripes[i].errors, memory_order_relaxed);
    }
    c->ops->usage(c->self, out);
}

const char *tt_cache_backend(const tt_cache *c)
{
    return c ? c->ops->name : "none";
}

bool tt_cache_healthy(tt_cache *c)
{
    return c && c->ops->healthy(c->self);
}

bool tt_cache_shared(const tt_cache *c)
{
    return c && c->ops->shared;
}

/* ---- messages ------------------------------------------------------------------------ */

struct tt_cache_sub {
    const struct tt_cache_ops *ops;
    void *self;
};

static int check_channel(const tt_cache *c, const char *channel, tt_err *err)
{
    if (!c)
        return tt_err_set(err, TT_EINVAL, "cache is required");
    if (!channel || !*channel)
        return tt_err_set_field(err, TT_EINVAL, "channel", "channel must be a non-empty string");
    if (!c->ops->publish)
        return tt_err_set(err, TT_EUNSUPPORTED,
                          "the %s cache reaches no other engine: messages need Redis",
                          c->ops->name);
    return 0;
}

int tt_cache_publish(tt_cache *c, const char *channel, const void *msg, size_t len, tt_err *err)
{
    int rc = check_channel(c, channel, err);

    if (rc < 0)
        return rc;
    if (!msg && len > 0)
        return tt_err_set(err, TT_EINVAL, "message is NULL but its length is %zu", len);
    return c->ops->publish(c->self, channel, msg ? msg : "", len, err);
}

int tt_cache_subscribe(tt_cache *c, const char *channel, tt_cache_msg_fn fn, void *ctx,
                       tt_cache_sub **out, tt_err *err)
{
    void *self = NULL;
    int rc = check_channel(c, channel, err);

    if (rc < 0)
        return rc;
    if (!fn || !out)
        return tt_err_set(err, TT_EINVAL, "a message function and out are required");
    rc = c->ops->subscribe(c->self, channel, fn, ctx, &self, err);
    if (rc < 0)
        return rc;
    *out = tt_malloc(sizeof(**out));
    (*out)->ops = c->ops;
    (*out)->self = self;
    return 0;
}

bool tt_cache_sub_live(const tt_cache_sub *s)
{
    return s && s->ops->sub_live(s->self);
}

void tt_cache_sub_close(tt_cache_sub *s)
{
    if (!s)
        return;
    s->ops->sub_close(s->self);
    free(s);
}
