/*
 * NeuMF training (He et al., WWW 2017, section 3): binary cross-entropy on each positive
 * pair and @negatives unheard tracks drawn for it, resampled every epoch, minimised by Adam
 * over mini-batches.
 *
 * Determinism without locks. A team of threads walks the same batches in lockstep, with two
 * barriers per batch:
 *   1. each thread draws the samples of its fixed slice of the batch (every positive's
 *      negatives come from a generator seeded by the epoch and the positive's position, so
 *      the draw does not depend on which thread makes it), runs the forward and backward
 *      passes (sgemm with the slice as M) and leaves its dense gradients in its own buffer
 *      and each sample's embedding gradients in that sample's row;
 *   2. thread 0 sums the dense gradients in thread order and takes the Adam step; every
 *      thread takes the lazy Adam step (only the rows in the batch) of the user and track
 *      rows whose id is its index modulo the thread count, each row's gradient summed in
 *      sample order.
 * Every sum has a fixed order for a given thread count, so a seed gives bit-identical models.
 *
 * A batch holds batch / (1 + negatives) positives, each with its negatives beside it, so a
 * shuffle of the positives is enough and no epoch-sized sample array is ever built (at
 * 2 million positives that array would be 80 MB).
 */
#include "neumf_internal.h"
#include "tt/als.h"
#include "tt/core.h"
#include "tt/kernels.h"
#include "tt/nn.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

enum tower { TOWER_GMF = 1, TOWER_MLP = 2, TOWER_BOTH = 3 };

#define VAL_CANDIDATES 101 /* the held-out positive and 100 unheard tracks */

struct net {
    struct tt__neumf_layout L;
    float *U, *T, *D;
    tt_adam aU, aT, aD;
};

/* One thread's scratch for a slice of at most @cap samples. */
struct slice {
    float *X0;                       /* cap x 2d: [user MLP ; track MLP] */
    float *H[TT_NEUMF_MAX_LAYERS];   /* cap x width[l], l >= 1 */
    float *dA, *dB;                  /* cap x the widest layer: gradients, ping-pong */
    float *G;                        /* cap x f: GMF products */
    float *z, *dz;                   /* cap */
    float *grad;                     /* the dense gradients, L.n */
    int32_t *rows;                   /* batch: the table rows this thread steps */
    float *g;                        /* batch x e: their summed gradients */
    double loss, weight;             /* this epoch's sums */
};

struct trainer {
    const tt_train_set *ts;
    const tt_neumf_params *p;
    struct net *net;
    int tower, threads, epochs;
    int32_t nu, nt;
    int64_t np, gper;      /* training positives, positives per batch */
    int32_t *pu, *pt;      /* np training positives */
    int32_t *perm;         /* np: this epoch's order */
    int32_t *su, *st;      /* batch samples */
    float *sy, *sw;        /* labels and weights (0 for a negative that could not be drawn) */
    float *dUe, *dTe;      /* per sample: gradient of its user row and its track row */
    int32_t *slot_u, *slot_t;
    struct slice *sl;
    int64_t cap;
    pthread_barrier_t bar;
    uint64_t run;          /* epochs begun in this process's training, for random streams */
    /* validation: nval users x VAL_CANDIDATES tracks, the held-out positive first */
    int32_t nval, *val_u, *val_t;
    uint8_t *val_hit;
    tt_neumf_epoch *hist;  /* non-NULL: record each epoch */
    double t0;
};

void tt__neumf_layout(const tt_neumf_params *p, struct tt__neumf_layout *L)
{
    int64_t o = 0;

    memset(L, 0, sizeof(*L));
    L->f = p->factors;
    L->nl = p->n_layers;
    for (int l = 0; l < p->n_layers; l++)
        L->width[l] = p->layers[l];
    L->d = L->width[0] / 2;
    L->e = L->f + L->d;
    for (int l = 1; l < L->nl; l++) {
        L->w[l] = o;
        o += (int64_t)L->width[l] * L->width[l - 1];
        L->b[l] = o;
        o += L->width[l];
    }
    L->h = o;
    o += L->f + L->width[L->nl - 1];
    L->hb = o;
    L->n = o + 1;
}

/* ---- forward and backward over a slice ---- */

TT_CLONES static void gather(const struct trainer *tr, struct slice *s, const int32_t *su,
                             const int32_t *st, int64_t n)
{
    const struct tt__neumf_layout *L = &tr->net->L;
    const int f = L->f, d = L->d, e = L->e;

    for (int64_t i = 0; i < n; i++) {
        const float *pu = tr->net->U + (size_t)su[i] * e, *qt = tr->net->T + (size_t)st[i] * e;
        float *g = s->G + (size_t)i * f, *x = s->X0 + (size_t)i * 2 * d;
        /* Scattered rows: start fetching a later sample's track row now (users repeat). */
        if (i + 8 < n)
            for (int j = 0; j < e; j += 16)
                __builtin_prefetch(tr->net->T + (size_t)st[i + 8] * e + j);
        for (int j = 0; j < f; j++)
            g[j] = pu[j] * qt[j];
        memcpy(x, pu + f, (size_t)d * sizeof(float));
        memcpy(x + d, qt + f, (size_t)d * sizeof(float));
    }
}

/* Logits of @n (user, track) samples into s->z. */
static void forward(const struct trainer *tr, struct slice *s, const int32_t *su,
                    const int32_t *st, int64_t n)
{
    const struct tt__neumf_layout *L = &tr->net->L;
    const float *D = tr->net->D;
    const int last = L->nl - 1;

    gather(tr, s, su, st, n);
    if (tr->tower & TOWER_MLP) {
        for (int l = 1; l < L->nl; l++) {
            const float *in = l == 1 ? s->X0 : s->H[l - 1];
            tt_nn_dense_forward(in, n, L->width[l - 1], D + L->w[l], D + L->b[l], L->width[l],
                                s->H[l]);
            tt_nn_relu_forward(s->H[l], n * L->width[l]);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        float z = D[L->hb];
        if (tr->tower & TOWER_GMF)
            z += dot(s->G + (size_t)i * L->f, D + L->h, L->f);
        if (tr->tower & TOWER_MLP)
            z += dot(s->H[last] + (size_t)i * L->width[last], D + L->h + L->f, L->width[last]);
        s->z[i] = z;
    }
}

/* Gradients of the fusion layer, and of the last MLP layer's output into s->dA. */
static void backward_fusion(const struct trainer *tr, struct slice *s, int64_t n)
{
    const struct tt__neumf_layout *L = &tr->net->L;
    const float *hm = tr->net->D + L->h + L->f;
    const int last = L->nl - 1, wl = L->width[last];
    float *g = s->grad;

    for (int64_t i = 0; i < n; i++) {
        const float dz = s->dz[i];
        g[L->hb] += dz;
        if (tr->tower & TOWER_GMF)
            for (int j = 0; j < L->f; j++)
                g[L->h + j] += dz * s->G[(size_t)i * L->f + j];
        if (tr->tower & TOWER_MLP) {
            const float *hl = s->H[last] + (size_t)i * wl;
            float *da = s->dA + (size_t)i * wl;
            for (int j = 0; j < wl; j++) {
                g[L->h + L->f + j] += dz * hl[j];
                da[j] = hl[j] > 0.0f ? dz * hm[j] : 0.0f;
            }
        }
    }
}

/* Back through the MLP layers; leaves the gradient of X0 in s->dA. */
static void backward_mlp(const struct trainer *tr, struct slice *s, int64_t n)
{
    const struct tt__neumf_layout *L = &tr->net->L;
    const float *D = tr->net->D;

    for (int l = L->nl - 1; l >= 1; l--) {
        const float *in = l == 1 ? s->X0 : s->H[l - 1];
        float *tmp;
        tt_nn_dense_backward(in, n, L->width[l - 1], D + L->w[l], L->width[l], s->dA,
                             s->grad + L->w[l], s->grad + L->b[l], s->dB);
        if (l > 1)
            tt_nn_relu_backward(s->H[l - 1], s->dB, n * L->width[l - 1]);
        tmp = s->dA, s->dA = s->dB, s->dB = tmp;
    }
}

/* Each sample's gradients of its user row and its track row, [GMF | MLP]. */
TT_CLONES static void embedding_grads(const struct trainer *tr, struct slice *s,
                                      const int32_t *su, const int32_t *st, int64_t n,
                                      float *dU, float *dT)
{
    const struct tt__neumf_layout *L = &tr->net->L;
    const int f = L->f, d = L->d, e = L->e;
    const float *hg = tr->net->D + L->h;

    for (int64_t i = 0; i < n; i++) {
        const float *pu = tr->net->U + (size_t)su[i] * e, *qt = tr->net->T + (size_t)st[i] * e;
        float *du = dU + (size_t)i * e, *dt = dT + (size_t)i * e;
        const float dz = s->dz[i];
        if (tr->tower & TOWER_GMF) {
            for (int j = 0; j < f; j++) {
                du[j] = dz * hg[j] * qt[j];
                dt[j] = dz * hg[j] * pu[j];
            }
        } else {
            memset(du, 0, (size_t)f * sizeof(float));
            memset(dt, 0, (size_t)f * sizeof(float));
        }
        if (tr->tower & TOWER_MLP) {
            memcpy(du + f, s->dA + (size_t)i * 2 * d, (size_t)d * sizeof(float));
            memcpy(dt + f, s->dA + (size_t)i * 2 * d + d, (size_t)d * sizeof(float));
        } else {
            memset(du + f, 0, (size_t)d * sizeof(float));
            memset(dt + f, 0, (size_t)d * sizeof(float));
        }
    }
}

/* Forward and backward of samples [b, b + n) of the batch; @scale = 1 / batch samples. */
static void slice_step(const struct trainer *tr, struct slice *s, int64_t b, int64_t n,
                       float scale)
{
    const int32_t *su = tr->su + b, *st = tr->st + b;

    memset(s->grad, 0, (size_t)tr->net->L.n * sizeof(float));
    if (n <= 0)
        return;
    forward(tr, s, su, st, n);
    s->loss += tt_nn_bce_logits(s->z, tr->sy + b, tr->sw + b, n, scale, s->dz);
    for (int64_t i = 0; i < n; i++)
        s->weight += tr->sw[b + i];
    backward_fusion(tr, s, n);
    if (tr->tower & TOWER_MLP)
        backward_mlp(tr, s, n);
    embedding_grads(tr, s, su, st, n, tr->dUe + (size_t)b * tr->net->L.e,
                    tr->dTe + (size_t)b * tr->net->L.e);
}

/* ---- sampling ---- */

/*
 * A track @u has not seen, uniformly: a few rejection draws, then (for a listener who heard
 * most of the catalog) the exact r-th unseen track. -1 when they heard everything.
 */
static int32_t draw_negative(const tt_csr *seen, int32_t u, int32_t nt, tt_rng *r)
{
    const int32_t *s = seen->indices + seen->indptr[u];
    int32_t ns = (int32_t)tt_csr_row_nnz(seen, u), t;

    if (ns >= nt)
        return -1;
    for (int tries = 0; tries < 16; tries++) {
        t = (int32_t)tt_rng_below(r, (uint64_t)nt);
        if (!tt_sorted_contains(s, ns, t))
            return t;
    }
    t = (int32_t)tt_rng_below(r, (uint64_t)(nt - ns));
    for (int32_t j = 0; j < ns && s[j] <= t; j++)
        t++;
    return t;
}

/* The samples of positives [g0, g1) of the batch starting at positive @gb. */
static void draw_samples(struct trainer *tr, int64_t gb, int64_t g0, int64_t g1)
{
    const int per = 1 + tr->p->negatives;

    for (int64_t g = g0; g < g1; g++) {
        int64_t idx = tr->perm[g], o = (g - gb) * per;
        int32_t u = tr->pu[idx];
        tt_rng r;
        tt_rng_seed(&r, tr->p->seed ^ (tr->run * 0x9e3779b97f4a7c15ULL), (uint64_t)g);
        tr->su[o] = u, tr->st[o] = tr->pt[idx], tr->sy[o] = 1.0f, tr->sw[o] = 1.0f;
        for (int j = 1; j < per; j++) {
            int32_t t = draw_negative(&tr->ts->seen, u, tr->nt, &r);
            tr->su[o + j] = u;
            tr->st[o + j] = t < 0 ? 0 : t;
            tr->sy[o + j] = 0.0f;
            tr->sw[o + j] = t < 0 ? 0.0f : 1.0f;
        }
    }
}

/* ---- the optimiser step ---- */

/*
 * Thread @tid's part of the lazy Adam step of one table: the rows whose id is @tid modulo
 * the thread count. Their per-sample gradients @dE are summed by row in sample order (so a
 * row's sum does not depend on the thread count), then stepped; only rows in the batch
 * move. @slot (one entry per id, all -1, shared: the threads' ids are disjoint) is left all
 * -1 again. Adam's step count was advanced before the batch.
 */
static void step_rows(const struct trainer *tr, int tid, tt_adam *a, float *W,
                      const int32_t *ids, const float *dE, int64_t n, int32_t *slot,
                      int32_t *rows, float *g)
{
    const int e = tr->net->L.e, T = tr->threads;
    int64_t nr = 0;

    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i], sidx;
        float *dst;
        if (id % T != tid)
            continue;
        sidx = slot[id];
        if (sidx < 0) {
            sidx = slot[id] = (int32_t)nr;
            rows[nr] = id;
            memset(g + (size_t)nr * e, 0, (size_t)e * sizeof(float));
            nr++;
        }
        dst = g + (size_t)sidx * e;
        for (int j = 0; j < e; j++)
            dst[j] += dE[(size_t)i * e + j];
    }
    tt_adam_update_rows(a, W, e, rows, nr, g);
    for (int64_t r = 0; r < nr; r++)
        slot[rows[r]] = -1;
}

static void step_dense(struct trainer *tr)
{
    float *g = tr->sl[0].grad;
    const int64_t n = tr->net->L.n;

    for (int t = 1; t < tr->threads; t++)
        for (int64_t i = 0; i < n; i++)
            g[i] += tr->sl[t].grad[i];
    tt_adam_step(&tr->net->aD, tr->net->D, g);
}

/* ---- epochs ---- */

static void shuffle(struct trainer *tr)
{
    tt_rng r;

    tt_rng_seed(&r, tr->p->seed, 0x5eed0000ULL + tr->run);
    for (int64_t i = tr->np - 1; i > 0; i--) {
        int64_t j = (int64_t)tt_rng_below(&r, (uint64_t)i + 1);
        int32_t tmp = tr->perm[i];
        tr->perm[i] = tr->perm[j], tr->perm[j] = tmp;
    }
}

static void run_batch(struct trainer *tr, int tid, int64_t gb)
{
    const int per = 1 + tr->p->negatives;
    int64_t gn = tr->np - gb < tr->gper ? tr->np - gb : tr->gper;
    int64_t g0 = gb + gn * tid / tr->threads, g1 = gb + gn * (tid + 1) / tr->threads;

    struct slice *s = &tr->sl[tid];

    draw_samples(tr, gb, g0, g1);
    slice_step(tr, s, (g0 - gb) * per, (g1 - g0) * per, 1.0f / (float)(gn * per));
    if (tid == 0) {
        /* Nobody reads the step counts before the barrier. */
        tt_adam_begin(&tr->net->aU);
        tt_adam_begin(&tr->net->aT);
    }
    pthread_barrier_wait(&tr->bar);
    if (tid == 0)
        step_dense(tr);
    step_rows(tr, tid, &tr->net->aU, tr->net->U, tr->su, tr->dUe, gn * per, tr->slot_u, s->rows,
              s->g);
    step_rows(tr, tid, &tr->net->aT, tr->net->T, tr->st, tr->dTe, gn * per, tr->slot_t, s->rows,
              s->g);
    pthread_barrier_wait(&tr->bar);
}

/* Whether each validation user's held-out positive ranks in the top 10 of its candidates. */
static void validate(struct trainer *tr, int tid)
{
    int32_t b = (int32_t)((int64_t)tr->nval * tid / tr->threads);
    int32_t e = (int32_t)((int64_t)tr->nval * (tid + 1) / tr->threads);
    struct slice *s = &tr->sl[tid];
    int32_t users[VAL_CANDIDATES];

    for (int32_t v = b; v < e; v++) {
        int above = 0;
        for (int j = 0; j < VAL_CANDIDATES; j++)
            users[j] = tr->val_u[v];
        forward(tr, s, users, tr->val_t + (size_t)v * VAL_CANDIDATES, VAL_CANDIDATES);
        for (int j = 1; j < VAL_CANDIDATES; j++)
            above += s->z[j] >= s->z[0]; /* ties count against */
        tr->val_hit[v] = above < 10;
    }
}

static void finish_epoch(struct trainer *tr, int epoch)
{
    double loss = 0.0, w = 0.0, hr = NAN;

    for (int t = 0; t < tr->threads; t++) {
        loss += tr->sl[t].loss, w += tr->sl[t].weight;
        tr->sl[t].loss = tr->sl[t].weight = 0.0;
    }
    loss = w > 0 ? loss / w : 0.0;
    if (tr->nval > 0) {
        int64_t hits = 0;
        for (int32_t v = 0; v < tr->nval; v++)
            hits += tr->val_hit[v];
        hr = (double)hits / tr->nval;
    }
    if (!tr->hist)
        return;
    tr->hist[epoch] = (tt_neumf_epoch){(float)loss, (float)hr, (float)(tt_now() - tr->t0)};
    if (tr->p->progress)
        tr->p->progress(tr->p->progress_ctx, epoch + 1, loss, hr, tt_now() - tr->t0);
}

struct worker {
    struct trainer *tr;
    int tid;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    struct trainer *tr = w->tr;

    for (int ep = 0; ep < tr->epochs; ep++) {
        if (w->tid == 0) {
            tr->run++;
            shuffle(tr);
        }
        pthread_barrier_wait(&tr->bar);
        for (int64_t gb = 0; gb < tr->np; gb += tr->gper)
            run_batch(tr, w->tid, gb);
        if (tr->hist)
            validate(tr, w->tid);
        pthread_barrier_wait(&tr->bar);
        if (w->tid == 0)
            finish_epoch(tr, ep);
    }
    return NULL;
}

/* Trains @tr->net for @epochs with the towers @tower, on tr->threads threads. */
static void run_epochs(struct trainer *tr, int tower, int epochs, tt_neumf_epoch *hist)
{
    pthread_t tid[64];
    struct worker w[64];
    int started = 1;

    tr->tower = tower;
    tr->epochs = epochs;
    tr->hist = hist;
    pthread_barrier_init(&tr->bar, NULL, (unsigned)tr->threads);
    for (int t = 0; t < tr->threads; t++)
        w[t] = (struct worker){tr, t};
    for (int t = 1; t < tr->threads; t++) {
        /* Without the thread the barrier would never open: out of threads is fatal. */
        if (pthread_create(&tid[t], NULL, work, &w[t]) != 0)
            abort();
        started++;
    }
    work(&w[0]);
    for (int t = 1; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&tr->bar);
}

/* ---- setup ---- */

static float *table(int64_t rows, int cols)
{
    return tt_aligned_alloc(((size_t)rows + 1) * (size_t)cols * sizeof(float));
}

/*
 * Embeddings N(0, 0.01^2) as in the paper; ReLU layers He-initialised, the fusion layer
 * Xavier; biases zero.
 */
static void net_init(struct net *n, const tt_neumf_params *p, int32_t nu, int32_t nt,
                     uint64_t stream)
{
    const struct tt__neumf_layout *L = &n->L;
    tt_adam_params ap = tt_adam_params_default();
    tt_rng r;

    tt__neumf_layout(p, &n->L);
    n->U = table(nu, L->e);
    n->T = table(nt, L->e);
    n->D = table(L->n, 1);
    memset(n->D, 0, (size_t)L->n * sizeof(float));
    tt_rng_seed(&r, p->seed, stream + 1);
    tt_nn_init_normal(n->U, (int64_t)nu * L->e, 0.01f, &r);
    tt_rng_seed(&r, p->seed, stream + 2);
    tt_nn_init_normal(n->T, (int64_t)nt * L->e, 0.01f, &r);
    tt_rng_seed(&r, p->seed, stream + 3);
    for (int l = 1; l < L->nl; l++)
        tt_nn_init_he(n->D + L->w[l], (int64_t)L->width[l] * L->width[l - 1], L->width[l - 1],
                      &r);
    tt_nn_init_xavier(n->D + L->h, L->f + L->width[L->nl - 1], L->f + L->width[L->nl - 1], 1,
                      &r);
    ap.lr = p->lr;
    ap.l2 = p->l2;
    tt_adam_init(&n->aU, (int64_t)nu * L->e, &ap);
    tt_adam_init(&n->aT, (int64_t)nt * L->e, &ap);
    tt_adam_init(&n->aD, L->n, &ap);
}

static void net_adam_release(struct net *n)
{
    tt_adam_release(&n->aU);
    tt_adam_release(&n->aT);
    tt_adam_release(&n->aD);
}

static void net_free(struct net *n)
{
    net_adam_release(n);
    free(n->U);
    free(n->T);
    free(n->D);
}

/*
 * Held-out validation pairs: up to p->validation_users users with two positives or more,
 * at most a tenth of all users, each giving one positive (not trained on) and 100 unheard
 * tracks. @held (n_users) gets each user's held-out track or -1.
 */
static void pick_validation(struct trainer *tr, int32_t *held)
{
    const tt_csr *c = &tr->ts->conf;
    int32_t *cand = tt_malloc(((size_t)tr->nu + 1) * sizeof(int32_t)), nc = 0, want;
    tt_rng r;

    for (int32_t u = 0; u < tr->nu; u++) {
        held[u] = -1;
        if (tt_csr_row_nnz(c, u) >= 2)
            cand[nc++] = u;
    }
    want = tr->p->validation_users < tr->nu / 10 ? tr->p->validation_users : tr->nu / 10;
    want = want < nc ? want : nc;
    tt_rng_seed(&r, tr->p->seed, 7);
    tr->nval = want;
    tr->val_u = tt_malloc(((size_t)want + 1) * sizeof(int32_t));
    tr->val_t = tt_malloc(((size_t)want + 1) * VAL_CANDIDATES * sizeof(int32_t));
    tr->val_hit = tt_calloc((size_t)want + 1, 1);
    for (int32_t v = 0; v < want; v++) {
        int32_t j = v + (int32_t)tt_rng_below(&r, (uint64_t)(nc - v)), u = cand[j], *row;
        cand[j] = cand[v], cand[v] = u;
        row = tr->val_t + (size_t)v * VAL_CANDIDATES;
        row[0] = held[u] = c->indices[c->indptr[u] +
                                      (int64_t)tt_rng_below(&r, (uint64_t)tt_csr_row_nnz(c, u))];
        for (int k = 1; k < VAL_CANDIDATES; k++) {
            int32_t t = draw_negative(&tr->ts->seen, u, tr->nt, &r);
            row[k] = t < 0 ? row[0] : t;
        }
        tr->val_u[v] = u;
    }
    free(cand);
}

/* The training positives: every positive pair but the held-out ones. */
static void collect_positives(struct trainer *tr, const int32_t *held)
{
    const tt_csr *c = &tr->ts->conf;

    tr->pu = tt_malloc(((size_t)c->nnz + 1) * sizeof(int32_t));
    tr->pt = tt_malloc(((size_t)c->nnz + 1) * sizeof(int32_t));
    tr->perm = tt_malloc(((size_t)c->nnz + 1) * sizeof(int32_t));
    tr->np = 0;
    for (int32_t u = 0; u < c->rows; u++)
        for (int64_t i = c->indptr[u]; i < c->indptr[u + 1]; i++) {
            if (c->indices[i] == held[u] || !(c->data[i] > 0.0f))
                continue;
            tr->pu[tr->np] = u;
            tr->pt[tr->np] = c->indices[i];
            tr->perm[tr->np] = (int32_t)tr->np;
            tr->np++;
        }
}

static void slice_alloc(struct slice *s, const struct tt__neumf_layout *L, int64_t cap,
                        int64_t batch)
{
    int wmax = L->width[0];

    memset(s, 0, sizeof(*s));
    for (int l = 1; l < L->nl; l++) {
        s->H[l] = table(cap, L->width[l]);
        wmax = L->width[l] > wmax ? L->width[l] : wmax;
    }
    s->X0 = table(cap, L->width[0]);
    s->dA = table(cap, wmax);
    s->dB = table(cap, wmax);
    s->G = table(cap, L->f);
    s->z = table(cap, 1);
    s->dz = table(cap, 1);
    s->grad = table(L->n, 1);
    s->rows = tt_malloc((size_t)batch * sizeof(int32_t));
    s->g = table(batch, L->e);
}

static void slice_free(struct slice *s, const struct tt__neumf_layout *L)
{
    for (int l = 1; l < L->nl; l++)
        free(s->H[l]);
    free(s->X0);
    free(s->dA);
    free(s->dB);
    free(s->G);
    free(s->z);
    free(s->dz);
    free(s->grad);
    free(s->rows);
    free(s->g);
}

static void trainer_init(struct trainer *tr, const tt_train_set *ts, const tt_neumf_params *p,
                         struct net *net)
{
    const int per = 1 + p->negatives, e = net->L.e;
    int32_t *held;
    int64_t batch;

    memset(tr, 0, sizeof(*tr));
    tr->ts = ts, tr->p = p, tr->net = net;
    tr->nu = ts->conf.rows, tr->nt = ts->conf.cols;
    tr->threads = tt_threads_resolve(p->threads);
    tr->threads = tr->threads > 64 ? 64 : tr->threads;
    held = tt_malloc(((size_t)tr->nu + 1) * sizeof(int32_t));
    pick_validation(tr, held);
    collect_positives(tr, held);
    free(held);
    tr->gper = p->batch / per > 0 ? p->batch / per : 1;
    batch = tr->gper * per;
    tr->cap = (tr->gper + tr->threads - 1) / tr->threads * per;
    tr->cap = tr->cap < VAL_CANDIDATES ? VAL_CANDIDATES : tr->cap;
    tr->su = tt_malloc((size_t)batch * sizeof(int32_t));
    tr->st = tt_malloc((size_t)batch * sizeof(int32_t));
    tr->sy = tt_malloc((size_t)batch * sizeof(float));
    tr->sw = tt_malloc((size_t)batch * sizeof(float));
    tr->dUe = table(batch, e);
    tr->dTe = table(batch, e);
    tr->slot_u = tt_malloc(((size_t)tr->nu + 1) * sizeof(int32_t));
    tr->slot_t = tt_malloc(((size_t)tr->nt + 1) * sizeof(int32_t));
    memset(tr->slot_u, 0xff, ((size_t)tr->nu + 1) * sizeof(int32_t));
    memset(tr->slot_t, 0xff, ((size_t)tr->nt + 1) * sizeof(int32_t));
    tr->sl = tt_malloc((size_t)tr->threads * sizeof(struct slice));
    for (int t = 0; t < tr->threads; t++)
        slice_alloc(&tr->sl[t], &net->L, tr->cap, batch);
}

static void trainer_release(struct trainer *tr)
{
    for (int t = 0; t < tr->threads; t++)
        slice_free(&tr->sl[t], &tr->net->L);
    free(tr->sl);
    free(tr->pu), free(tr->pt), free(tr->perm);
    free(tr->su), free(tr->st), free(tr->sy), free(tr->sw);
    free(tr->dUe), free(tr->dTe), free(tr->slot_u), free(tr->slot_t);
    free(tr->val_u), free(tr->val_t), free(tr->val_hit);
}

/*
 * Pre-training (the paper's section 3.4.1): GMF alone in @n, the MLP alone in a second net,
 * then NeuMF starts from both, the fusion layer [alpha h_GMF ; (1 - alpha) h_MLP] with
 * alpha = 0.5 and the biases averaged. The optimiser starts afresh.
 */
static void pretrain(struct trainer *tr, struct net *n, const tt_neumf_params *p)
{
    const struct tt__neumf_layout *L = &n->L;
    struct net m;

    run_epochs(tr, TOWER_GMF, p->epochs, NULL);
    net_init(&m, p, tr->nu, tr->nt, 100);
    tr->net = &m;
    run_epochs(tr, TOWER_MLP, p->epochs, NULL);
    tr->net = n;
    for (int64_t u = 0; u < tr->nu; u++)
        memcpy(n->U + u * L->e + L->f, m.U + u * L->e + L->f, (size_t)L->d * sizeof(float));
    for (int64_t t = 0; t < tr->nt; t++)
        memcpy(n->T + t * L->e + L->f, m.T + t * L->e + L->f, (size_t)L->d * sizeof(float));
    memcpy(n->D, m.D, (size_t)L->h * sizeof(float));
    for (int j = 0; j < L->f; j++)
        n->D[L->h + j] *= 0.5f;
    for (int j = 0; j < L->width[L->nl - 1]; j++)
        n->D[L->h + L->f + j] = 0.5f * m.D[L->h + L->f + j];
    n->D[L->hb] = 0.5f * (n->D[L->hb] + m.D[L->hb]);
    net_free(&m);
    net_adam_release(n);
    {
        tt_adam_params ap = tt_adam_params_default();
        ap.lr = p->lr;
        ap.l2 = p->l2;
        tt_adam_init(&n->aU, (int64_t)tr->nu * L->e, &ap);
        tt_adam_init(&n->aT, (int64_t)tr->nt * L->e, &ap);
        tt_adam_init(&n->aD, L->n, &ap);
    }
}

static void set_user_ids(tt_neumf_model *m, const tt_dataset *ds)
{
    m->owned_ids = tt_malloc(((size_t)m->base.n_users + 1) * sizeof(char *));
    for (int32_t u = 0; u < m->base.n_users; u++)
        m->owned_ids[u] = ds ? tt_ids_name(ds->users, u) : "";
    m->user_ids = m->owned_ids;
}

int tt_neumf_train(const tt_train_set *ts, const tt_neumf_params *p, tt_model **out,
                   tt_err *err)
{
    struct trainer tr;
    struct net n;
    tt_neumf_epoch *hist;
    tt_neumf_model *m;
    double t0 = tt_now();
    int rc = tt_neumf_params_check(p, err);

    if (rc < 0)
        return rc;
    if (ts->conf.rows < 1 || ts->conf.cols < 1)
        return tt_err_set(err, TT_EINVAL, "NeuMF needs at least one user and one track");
    tt__blas_single_threaded();
    net_init(&n, p, ts->conf.rows, ts->conf.cols, 0);
    trainer_init(&tr, ts, p, &n);
    tr.t0 = t0;
    hist = tt_malloc((size_t)p->epochs * sizeof(*hist));
    if (p->pretrain)
        pretrain(&tr, &n, p);
    run_epochs(&tr, TOWER_BOTH, p->epochs, hist);
    trainer_release(&tr);
    net_adam_release(&n);
    m = tt__neumf_model_new(p, ts->conf.rows, ts->conf.cols, n.U, n.T, n.D);
    m->owned_hist = hist;
    m->hist = hist;
    m->n_epochs = p->epochs;
    m->base.catalog = ts->ds ? tt_catalog_checksum(ts->ds) : 0;
    set_user_ids(m, ts->ds);
    tt__neumf_precompute(m, &ts->seen);
    m->base.train_seconds = tt_now() - t0;
    m->base.trained_at = tt_unix_time();
    *out = &m->base;
    return 0;
}
