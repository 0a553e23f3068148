/*
 * The in-process cache backend.
 *
 * Sixteen shards, each a small LRU cache behind its own mutex: a call locks exactly one
 * shard, so request threads only meet when they touch the same shard, and nothing global is
 * locked on the hot path. A group's entries all live in the shard picked by the hash of the
 * group's name, which lets drop_group reach exactly the group's entries through a per-group
 * list instead of scanning the table.
 *
 * Each shard keeps max_bytes / 16 of the budget, so one group can use at most a sixteenth of
 * it. Groups are one user's or one track's answers, a few kilobytes, far below that; in
 * exchange a put never looks beyond its own shard. The bound counts keys, values, group names
 * and a fixed per-entry overhead (the entry header, malloc's slack and a bucket slot), so it
 * tracks the memory really held; it is exact, never exceeded.
 *
 * Expired entries are misses. A lookup that finds one frees it, and a put first frees expired
 * entries at the cold end of its shard's LRU list before evicting live ones, so entries that
 * outlived their TTL do not push fresh ones out. Only live entries pushed out for room count
 * as evictions.
 */
#include "backend.h"
#include "tt/core.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define SHARD_BITS 4
#define N_SHARDS (1 << SHARD_BITS)
#define MIN_BUCKETS 64
/* Expired entries a put frees from the cold end, at most: bounds the time a put holds a lock. */
#define REAP_MAX 8
/* What malloc adds to each block (header and rounding), so the bound tracks real memory. */
#define MALLOC_SLACK 16

/* Intrusive chained hash table: entries and groups embed an hnode as their first member. */
struct hnode {
    struct hnode *next;
    uint64_t hash;
};

struct htab {
    struct hnode **b;
    size_t mask; /* buckets - 1, a power of two minus one */
    size_t n;
};

struct mem_group;

struct mem_entry {
    struct hnode node;               /* in the shard's entry table */
    struct mem_entry *lprev, *lnext; /* shard LRU list: head is the most recently used */
    struct mem_entry *gprev, *gnext; /* the group's entries */
    struct mem_group *group;
    int64_t expires; /* tt__cache_now_ms() deadline */
    size_t klen, vlen;
    char data[]; /* key, NUL, value, NUL */
};

struct mem_group {
    struct hnode node; /* in the shard's group table */
    struct mem_entry *entries;
    size_t len;
    char name[];
};

struct shard {
    _Alignas(64) pthread_mutex_t lock; /* own cache line: shards do not share lines */
    struct htab entries, groups;
    struct mem_entry *lru_head, *lru_tail;
    int64_t bytes, budget;
    uint64_t evictions;
};

struct mem_cache {
    struct shard shards[N_SHARDS];
    uint64_t seed;
};

/* A lookup's key, hashed once. */
struct query {
    const char *group, *key;
    size_t glen, klen;
    uint64_t gh, eh; /* hash of the group; hash of (group, key) */
};

/* ---- hash table ---------------------------------------------------------------------- */

static void htab_init(struct htab *t)
{
    t->b = tt_calloc(MIN_BUCKETS, sizeof(*t->b));
    t->mask = MIN_BUCKETS - 1;
    t->n = 0;
}

static void htab_reset(struct htab *t)
{
    memset(t->b, 0, (t->mask + 1) * sizeof(*t->b));
    t->n = 0;
}

/* Doubles the buckets. Rare: the table only grows, and the cost is amortised over inserts. */
static void htab_grow(struct htab *t)
{
    size_t nb = (t->mask + 1) * 2;
    struct hnode **b = tt_calloc(nb, sizeof(*b));

    for (size_t i = 0; i <= t->mask; i++) {
        struct hnode *x = t->b[i], *next;
        for (; x; x = next) {
            next = x->next;
            x->next = b[x->hash & (nb - 1)];
            b[x->hash & (nb - 1)] = x;
        }
    }
    free(t->b);
    t->b = b;
    t->mask = nb - 1;
}

static struct hnode *htab_head(const struct htab *t, uint64_t hash)
{
    return t->b[hash & t->mask];
}

static void htab_insert(struct htab *t, struct hnode *x)
{
    struct hnode **slot;

    if (t->n > t->mask)
        htab_grow(t);
    slot = &t->b[x->hash & t->mask];
    x->next = *slot;
    *slot = x;
    t->n++;
}

static void htab_remove(struct htab *t, struct hnode *x)
{
    struct hnode **pp = &t->b[x->hash & t->mask];

    while (*pp != x)
        pp = &(*pp)->next;
    *pp = x->next;
    t->n--;
}

/* ---- sizes and hashing --------------------------------------------------------------- */

static int64_t entry_cost(size_t klen, size_t vlen)
{
    return (int64_t)(sizeof(struct mem_entry) + klen + vlen + 2 + MALLOC_SLACK +
                     sizeof(struct hnode *));
}

static int64_t group_cost(size_t len)
{
    return (int64_t)(sizeof(struct mem_group) + len + 1 + MALLOC_SLACK + sizeof(struct hnode *));
}

/* splitmix64's finaliser. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/*
 * Eight bytes per step (an xxhash-style round), then splitmix64's finaliser. Byte-at-a-time
 * FNV was 40% of a lookup. @seed is random per cache, so that user ids chosen to collide in
 * one run's tables cannot be prepared in advance.
 */
static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL), w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = rotl64(h ^ (w * 0xc2b2ae3d27d4eb4fULL), 31) * 0x9e3779b97f4a7c15ULL;
    }
    w = 0;
    memcpy(&w, s, n);
    h = rotl64(h ^ (w * 0xc2b2ae3d27d4eb4fULL), 31) * 0x9e3779b97f4a7c15ULL;
    return mix64(h);
}

static void query_init(struct query *q, const struct mem_cache *m, const char *group,
                       const char *key)
{
    q->group = group;
    q->key = key;
    q->glen = strlen(group);
    q->klen = strlen(key);
    q->gh = hash_bytes(group, q->glen, m->seed);
    q->eh = hash_bytes(key, q->klen, q->gh);
}

static struct shard *shard_of(struct mem_cache *m, const struct query *q)
{
    return &m->shards[q->gh >> (64 - SHARD_BITS)];
}

/* ---- lists --------------------------------------------------------------------------- */

static void lru_unlink(struct shard *s, struct mem_entry *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        s->lru_head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        s->lru_tail = e->lprev;
}

static void lru_push_front(struct shard *s, struct mem_entry *e)
{
    e->lprev = NULL;
    e->lnext = s->lru_head;
    if (s->lru_head)
        s->lru_head->lprev = e;
    else
        s->lru_tail = e;
    s->lru_head = e;
}

static void group_link(struct mem_group *g, struct mem_entry *e)
{
    e->group = g;
    e->gprev = NULL;
    e->gnext = g->entries;
    if (g->entries)
        g->entries->gprev = e;
    g->entries = e;
}

static void group_unlink(struct mem_group *g, struct mem_entry *e)
{
    if (e->gprev)
        e->gprev->gnext = e->gnext;
    else
        g->entries = e->gnext;
    if (e->gnext)
        e->gnext->gprev = e->gprev;
}

/* ---- groups and entries (shard lock held) -------------------------------------------- */

static struct mem_group *group_find(struct shard *s, const struct query *q)
{
    for (struct hnode *n = htab_head(&s->groups, q->gh); n; n = n->next) {
        struct mem_group *g = (struct mem_group *)n;
        if (n->hash == q->gh && g->len == q->glen && memcmp(g->name, q->group, q->glen) == 0)
            return g;
    }
    return NULL;
}

static struct mem_group *group_get(struct shard *s, const struct query *q)
{
    struct mem_group *g = group_find(s, q);

    if (g)
        return g;
    g = tt_malloc(sizeof(*g) + q->glen + 1);
    g->node.hash = q->gh;
    g->entries = NULL;
    g->len = q->glen;
    memcpy(g->name, q->group, q->glen + 1);
    htab_insert(&s->groups, &g->node);
    s->bytes += group_cost(g->len);
    return g;
}

static void group_free(struct shard *s, struct mem_group *g)
{
    htab_remove(&s->groups, &g->node);
    s->bytes -= group_cost(g->len);
    free(g);
}

static struct mem_entry *entry_find(struct shard *s, const struct query *q)
{
    for (struct hnode *n = htab_head(&s->entries, q->eh); n; n = n->next) {
        struct mem_entry *e = (struct mem_entry *)n;
        if (n->hash == q->eh && e->klen == q->klen && e->group->len == q->glen &&
            memcmp(e->data, q->key, q->klen) == 0 && memcmp(e->group->name, q->group, q->glen) == 0)
            return e;
    }
    return NULL;
}

/* Built outside the lock: the copies are the slow part of a put. */
static struct mem_entry *entry_new(const struct query *q, const void *val, size_t len,
                                   int64_t expires)
{
    struct mem_entry *e = tt_malloc(sizeof(*e) + q->klen + len + 2);

    e->node.hash = q->eh;
    e->expires = expires;
    e->klen = q->klen;
    e->vlen = len;
    memcpy(e->data, q->key, q->klen + 1);
    memcpy(e->data + q->klen + 1, val, len);
    e->data[q->klen + 1 + len] = '\0';
    return e;
}

static void entry_link(struct shard *s, struct mem_entry *e, struct mem_group *g)
{
    htab_insert(&s->entries, &e->node);
    lru_push_front(s, e);
    group_link(g, e);
    s->bytes += entry_cost(e->klen, e->vlen);
}

/* Frees @e without touching its group: the caller frees or keeps the group. */
static void entry_drop(struct shard *s, struct mem_entry *e)
{
    htab_remove(&s->entries, &e->node);
    lru_unlink(s, e);
    s->bytes -= entry_cost(e->klen, e->vlen);
    free(e);
}

/* Frees @e, and its group when @e was the group's last entry. */
static void entry_remove(struct shard *s, struct mem_entry *e)
{
    struct mem_group *g = e->group;

    group_unlink(g, e);
    entry_drop(s, e);
    if (!g->entries)
        group_free(s, g);
}

static void reap_expired(struct shard *s, int64_t now)
{
    for (int i = 0; i < REAP_MAX && s->lru_tail && s->lru_tail->expires <= now; i++)
        entry_remove(s, s->lru_tail);
}

/* Evicts from the cold end until @need more bytes fit the shard's budget. */
static void make_room(struct shard *s, int64_t need, int64_t now)
{
    while (s->lru_tail && s->bytes + need > s->budget) {
        if (s->lru_tail->expires > now)
            s->evictions++;
        entry_remove(s, s->lru_tail);
    }
}

static void shard_empty(struct shard *s)
{
    struct mem_entry *e = s->lru_head, *next;

    for (; e; e = next) {
        next = e->lnext;
        free(e);
    }
    for (size_t i = 0; i <= s->groups.mask; i++) {
        struct hnode *n = s->groups.b[i], *nn;
        for (; n; n = nn) {
            nn = n->next;
            free(n);
        }
    }
    htab_reset(&s->entries);
    htab_reset(&s->groups);
    s->lru_head = s->lru_tail = NULL;
    s->bytes = 0;
}

/* ---- operations ---------------------------------------------------------------------- */

static int mem_get(void *self, const char *group, const char *key, char **val, size_t *len,
                   tt_err *err)
{
    struct query q;
    struct shard *s;
    struct mem_entry *e;
    int64_t now = tt__cache_now_ms();
    int rc = TT_ENOTFOUND;

    (void)err;
    query_init(&q, self, group, key);
    s = shard_of(self, &q);
    pthread_mutex_lock(&s->lock);
    e = entry_find(s, &q);
    if (e && e->expires <= now) {
        entry_remove(s, e);
    } else if (e) {
        lru_unlink(s, e);
        lru_push_front(s, e);
        *val = tt_malloc(e->vlen + 1);
        memcpy(*val, e->data + e->klen + 1, e->vlen + 1);
        *len = e->vlen;
        rc = 0;
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static int mem_put(void *self, const char *group, const char *key, const void *val, size_t len,
                   int ttl_seconds, tt_err *err)
{
    struct query q;
    struct shard *s;
    struct mem_entry *e, *old;
    int64_t now = tt__cache_now_ms(), need;

    query_init(&q, self, group, key);
    s = shard_of(self, &q);
    /* Counting the group's header even when the group exists keeps the bound exact. */
    need = entry_cost(q.klen, len) + group_cost(q.glen);
    if (need > s->budget)
        return tt_err_set_field(err, TT_ETOOBIG, "value",
                                "cache entry of %zu bytes exceeds the %lld bytes a cache shard "
                                "holds (max_bytes / %d)",
                                len, (long long)s->budget, N_SHARDS);
    e = entry_new(&q, val, len, now + (int64_t)ttl_seconds * 1000);
    pthread_mutex_lock(&s->lock);
    old = entry_find(s, &q);
    if (old)
        entry_remove(s, old);
    reap_expired(s, now);
    make_room(s, need, now);
    entry_link(s, e, group_get(s, &q));
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int mem_drop_group(void *self, const char *group, tt_err *err)
{
    struct query q;
    struct shard *s;
    struct mem_group *g;

    (void)err;
    query_init(&q, self, group, "");
    s = shard_of(self, &q);
    pthread_mutex_lock(&s->lock);
    g = group_find(s, &q);
    if (g) {
        struct mem_entry *e = g->entries, *next;
        for (; e; e = next) {
            next = e->gnext;
            entry_drop(s, e);
        }
        group_free(s, g);
    }
    pthread_mutex_unlock(&s->lock);
    return 0;
}

static int mem_clear(void *self, tt_err *err)
{
    struct mem_cache *m = self;

    (void)err;
    for (int i = 0; i < N_SHARDS; i++) {
        pthread_mutex_lock(&m->shards[i].lock);
        shard_empty(&m->shards[i]);
        pthread_mutex_unlock(&m->shards[i].lock);
    }
    return 0;
}

static void mem_usage(void *self, tt_cache_stats *out)
{
    struct mem_cache *m = self;

    out->entries = out->bytes = 0;
    out->evictions = 0;
    for (int i = 0; i < N_SHARDS; i++) {
        struct shard *s = &m->shards[i];
        pthread_mutex_lock(&s->lock);
        out->entries += (int64_t)s->entries.n;
        out->bytes += s->bytes;
        out->evictions += s->evictions;
        pthread_mutex_unlock(&s->lock);
    }
}

static bool mem_healthy(void *self)
{
    (void)self;
    return true;
}

static void mem_close(void *self)
{
    struct mem_cache *m = self;

    for (int i = 0; i < N_SHARDS; i++) {
        struct shard *s = &m->shards[i];
        shard_empty(s);
        free(s->entries.b);
        free(s->groups.b);
        pthread_mutex_destroy(&s->lock);
    }
    free(m);
}

static const struct tt_cache_ops mem_ops = {
    .name = "memory",
    .close = mem_close,
    .get = mem_get,
    .put = mem_put,
    .drop_group = mem_drop_group,
    .clear = mem_clear,
    .usage = mem_usage,
    .healthy = mem_healthy,
};

int tt__cache_mem_open(const tt_cache_params *p, const struct tt_cache_ops **ops, void **self,
                       tt_err *err)
{
    /* Aligned so that each shard's lock really has a cache line of its own. */
    struct mem_cache *m = tt_aligned_alloc(sizeof(*m));

    (void)err;
    memset(m, 0, sizeof(*m));
    if (getrandom(&m->seed, sizeof(m->seed), GRND_NONBLOCK) != sizeof(m->seed))
        m->seed = (uint64_t)(uintptr_t)m ^ (uint64_t)tt__cache_now_ms();
    for (int i = 0; i < N_SHARDS; i++) {
        struct shard *s = &m->shards[i];
        pthread_mutex_init(&s->lock, NULL);
        htab_init(&s->entries);
        htab_init(&s->groups);
        s->budget = p->max_bytes / N_SHARDS;
    }
    *ops = &mem_ops;
    *self = m;
    return 0;
}
