/*
 * Per-client token buckets on the recommendation endpoints (RATE_LIMIT, RATE_BURST): a
 * client is its X-API-Key when it sends one, else its address. Buckets live in a fixed
 * table (4-way sets, the least recently used way replaced), so memory stays bounded however
 * many clients come; a client pushed out starts again with a full bucket.
 */
#include "app.h"
#include "tt/core.h"

#include <arpa/inet.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <string.h>

#define SETS 4096
#define WAYS 4
#define STRIPES 64

struct bucket {
    uint64_t key;  /* 0: empty */
    double tokens;
    double last;   /* tt_now() of the last refill */
};

struct tt_ratelimit {
    double rate, burst;
    pthread_mutex_t lock[STRIPES];
    struct bucket b[SETS][WAYS];
};

tt_ratelimit *tt__ratelimit_new(double rate, int burst)
{
    tt_ratelimit *r;

    if (!(rate > 0))
        return NULL;
    r = tt_calloc(1, sizeof(*r));
    r->rate = rate;
    r->burst = burst > 0 ? burst : fmax(1.0, ceil(2.0 * rate));
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&r->lock[i], NULL);
    return r;
}

void tt__ratelimit_free(tt_ratelimit *r)
{
    if (!r)
        return;
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&r->lock[i]);
    free(r);
}

/* The client: "k:" + its API key, or "a:" + its address. */
static uint64_t client_key(struct MHD_Connection *c)
{
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
    const union MHD_ConnectionInfo *ci;
    const struct sockaddr *sa;
    uint64_t h;

    if (key && *key) {
        h = tt_hash64(key, strlen(key)) ^ 0x6b6579ULL;
        return h ? h : 1;
    }
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        h = tt_hash64(&((const struct sockaddr_in *)sa)->sin_addr, sizeof(struct in_addr));
    else if (sa && sa->sa_family == AF_INET6)
        h = tt_hash64(&((const struct sockaddr_in6 *)sa)->sin6_addr, sizeof(struct in6_addr));
    else
        h = 0x616e6f6eULL; /* no address: one shared bucket */
    h ^= 0x61646472ULL;
    return h ? h : 1;
}

bool tt__ratelimit_take(tt_ratelimit *r, struct MHD_Connection *c, tt_reply *out)
{
    uint64_t key;
    struct bucket *set, *b = NULL;
    double now, wait;
    bool ok;

    if (!r)
        return true;
    key = client_key(c);
    now = tt_now();
    set = r->b[key % SETS];
    pthread_mutex_lock(&r->lock[(key % SETS) % STRIPES]);
    for (int w = 0; w < WAYS && !b; w++)
        if (set[w].key == key)
            b = &set[w];
    if (!b) {
        b = &set[0];
        for (int w = 1; w < WAYS; w++)
            if (set[w].key == 0 || set[w].last < b->last)
                b = &set[w];
        b->key = key;
        b->tokens = r->burst;
        b->last = now;
    }
    b->tokens = fmin(r->burst, b->tokens + (now - b->last) * r->rate);
    b->last = now;
    ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    wait = ok ? 0 : (1.0 - b->tokens) / r->rate;
    pthread_mutex_unlock(&r->lock[(key % SETS) % STRIPES]);
    if (!ok) {
        tt__reply_error(out, TT_ERATE, NULL,
                        "more than %g requests per second from this client (burst %g): retry "
                        "in %.1f s", r->rate, r->burst, wait);
        out->retry_after = (int)ceil(wait);
    }
    return ok;
}
