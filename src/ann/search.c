/*
 * Searching: FAISS for flat and IVF indexes; HNSW graphs (built and stored by FAISS) walked
 * here with the engine's AVX2 inner product, since Debian's libfaiss.a computes distances
 * with scalar loops. The walk is the usual one (Malkov & Yashunin 2018): greedy descent
 * through the upper layers from the entry point, then a best-first beam search of width
 * max(efSearch, k) in layer 0.
 */
#include "ann_priv.h"
#include "tt/core.h"
#include "tt/kernels.h"

#include <string.h>

typedef struct cand {
    float s;
    int32_t id;
} cand;

/* A binary heap of candidates: best (highest s) on top when @max, worst when not. */
typedef struct heap {
    cand *a;
    int32_t n, cap;
    bool max;
} heap;

static inline bool above(const heap *h, const cand *x, const cand *y)
{
    return h->max ? x->s > y->s : x->s < y->s;
}

static void heap_push(heap *h, float s, int32_t id)
{
    int32_t i;

    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->a = tt_realloc(h->a, (size_t)h->cap * sizeof(cand));
    }
    i = h->n++;
    h->a[i] = (cand){s, id};
    while (i > 0 && above(h, &h->a[i], &h->a[(i - 1) / 2])) {
        cand t = h->a[i];
        h->a[i] = h->a[(i - 1) / 2];
        h->a[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static cand heap_pop(heap *h)
{
    cand top = h->a[0];
    int32_t i = 0;

    h->a[0] = h->a[--h->n];
    for (;;) {
        int32_t l = 2 * i + 1, r = l + 1, b = i;
        if (l < h->n && above(h, &h->a[l], &h->a[b]))
            b = l;
        if (r < h->n && above(h, &h->a[r], &h->a[b]))
            b = r;
        if (b == i)
            break;
        cand t = h->a[i];
        h->a[i] = h->a[b];
        h->a[b] = t;
        i = b;
    }
    return top;
}

/* Visited nodes: open addressing over id + 1 (0 = empty), grown at half load. */
typedef struct visited {
    uint32_t *slot;
    uint32_t mask, n;
} visited;

static void visited_init(visited *v, uint32_t cap)
{
    v->slot = tt_calloc(cap, sizeof(uint32_t));
    v->mask = cap - 1;
    v->n = 0;
}

/* Marks @id; false when it was marked already. */
static bool visit(visited *v, int32_t id)
{
    uint32_t key = (uint32_t)id + 1, i;

    if (2 * (v->n + 1) > v->mask + 1) {
        visited bigger;
        visited_init(&bigger, 2 * (v->mask + 1));
        for (uint32_t j = 0; j <= v->mask; j++)
            if (v->slot[j])
                visit(&bigger, (int32_t)(v->slot[j] - 1));
        free(v->slot);
        *v = bigger;
    }
    for (i = (key * 2654435761u) & v->mask; v->slot[i]; i = (i + 1) & v->mask)
        if (v->slot[i] == key)
            return false;
    v->slot[i] = key;
    v->n++;
    return true;
}

/* Node @id's neighbour list in layer @l as [*b, *e) of g->neighbors; false when out of bounds. */
static inline bool layer_list(const tt__hnsw_graph *g, int32_t id, int l, size_t *b, size_t *e)
{
    if (l + 1 >= g->n_cum)
        return false;
    *b = g->offsets[id] + (size_t)g->cum[l];
    *e = g->offsets[id] + (size_t)g->cum[l + 1];
    return *e <= g->n_neighbors;
}

TT_CLONES void tt__hnsw_search(const tt__hnsw_graph *g, const float *q, int k, float *sim,
                               int64_t *ids)
{
    const int d = g->d;
    const int ef = g->ef_search > k ? g->ef_search : k;
    int32_t cur = g->entry;
    float cs = dot(q, g->x + (size_t)cur * d, d);
    heap cands = {NULL, 0, 0, true}, best = {NULL, 0, 0, false};
    visited v;
    size_t b, e;
    int n;

    /* Upper layers: move to the best neighbour while one is better. */
    for (int l = g->max_level; l > 0; l--) {
        for (bool moved = true; moved;) {
            moved = false;
            if (!layer_list(g, cur, l, &b, &e))
                break;
            for (size_t j = b; j < e && g->neighbors[j] >= 0; j++) {
                int32_t nb = g->neighbors[j];
                float s;
                if (nb >= g->n)
                    continue;
                s = dot(q, g->x + (size_t)nb * d, d);
                if (s > cs)
                    cs = s, cur = nb, moved = true;
            }
        }
    }
    /* Layer 0: best-first beam of width ef. */
    visited_init(&v, 1024);
    visit(&v, cur);
    heap_push(&cands, cs, cur);
    heap_push(&best, cs, cur);
    while (cands.n > 0) {
        cand c = heap_pop(&cands);
        if (best.n >= ef && c.s < best.a[0].s)
            break;
        if (!layer_list(g, c.id, 0, &b, &e))
            continue;
        for (size_t j = b; j < e && g->neighbors[j] >= 0; j++) {
            int32_t nb = g->neighbors[j];
            float s;
            if (nb >= g->n || !visit(&v, nb))
                continue;
            s = dot(q, g->x + (size_t)nb * d, d);
            if (best.n < ef || s > best.a[0].s) {
                heap_push(&cands, s, nb);
                heap_push(&best, s, nb);
                if (best.n > ef)
                    heap_pop(&best);
            }
        }
    }
    /* The best k, best first: pop the worst off the result heap into place. */
    while (best.n > k)
        heap_pop(&best);
    n = best.n;
    for (int i = n - 1; i >= 0; i--) {
        cand c = heap_pop(&best);
        sim[i] = c.s;
        ids[i] = c.id;
    }
    for (int i = n; i < k; i++) {
        sim[i] = -1e30f;
        ids[i] = -1;
    }
    free(cands.a);
    free(best.a);
    free(v.slot);
}

struct batch {
    const tt__hnsw_graph *g;
    const float *q;
    int k;
    float *sim;
    int64_t *ids;
};

static void batch_range(void *ctx, int64_t b, int64_t e, int thread)
{
    const struct batch *bt = ctx;

    (void)thread;
    for (int64_t i = b; i < e; i++)
        tt__hnsw_search(bt->g, bt->q + (size_t)i * bt->g->d, bt->k, bt->sim + (size_t)i * bt->k,
                        bt->ids + (size_t)i * bt->k);
}

int tt_ann_search(const tt_ann *ix, const float *q, int64_t nq, int k, float *sim,
                  int64_t *ids, tt_err *err)
{
    tt__hnsw_graph g;

    if (!ix || nq < 0 || k < 1)
        return tt_err_set(err, TT_EINVAL, "search needs an index, nq >= 0 and k >= 1");
    if (nq == 0)
        return 0;
    if (!tt__ann_hnsw_graph(ix, &g))
        return tt__faiss_search(ix, q, nq, k, sim, ids, err);
    if (nq < 8) { /* a request: on the calling thread */
        for (int64_t i = 0; i < nq; i++)
            tt__hnsw_search(&g, q + (size_t)i * g.d, k, sim + (size_t)i * k, ids + (size_t)i * k);
        return 0;
    }
    tt_parallel_for(nq, 16, 0, batch_range, &(struct batch){&g, q, k, sim, ids});
    return 0;
}
