/*
 * What all models share: interaction weighting into a training set, top-k selection,
 * the batch fallback and the loader registry.
 */
#include "rank_priv.h"
#include "tt/model.h"
#include "tt/core.h"
#include "tt/als.h"
#include "tt/modelfile.h"

#include <pthread.h>
#include <string.h>

tt_weighting tt_weighting_default(void)
{
    tt_weighting w;

    memset(&w, 0, sizeof(w));
    /* Per event; a play's event weight is its play count, so heavy listening counts more. */
    w.action[TT_ACT_PLAY] = 1.0f;
    w.action[TT_ACT_LIKE] = 4.0f;
    w.action[TT_ACT_SAVE] = 3.0f;
    w.action[TT_ACT_SHARE] = 3.0f;
    w.action[TT_ACT_CLICK] = 0.5f;
    w.action[TT_ACT_SKIP] = -0.5f;
    w.action[TT_ACT_DISLIKE] = 0.0f; /* handled apart: the pair is excluded for good */
    w.action[TT_ACT_IMPRESSION] = 0.0f;
    return w;
}

/*
 * The positives of @all (summed r per pair, duplicates merged) whose value is > 0 and
 * whose pair is not in @neg, into new arrays of exactly their size.
 */
static void keep_positive(const tt_csr *all, const tt_csr *neg, tt_csr *out)
{
    int64_t n = 0, w = 0;

    for (int64_t k = 0; k < all->nnz; k++)
        n += all->data[k] > 0.0f;
    *out = (tt_csr){all->rows, all->cols, 0, tt_malloc(((size_t)all->rows + 1) * sizeof(int64_t)),
                    tt_malloc((size_t)(n ? n : 1) * sizeof(int32_t)),
                    tt_malloc((size_t)(n ? n : 1) * sizeof(float))};
    for (int32_t r = 0; r < all->rows; r++) {
        int64_t nb = neg->indptr[r], ne = neg->indptr[r + 1];
        out->indptr[r] = w;
        for (int64_t k = all->indptr[r]; k < all->indptr[r + 1]; k++) {
            int32_t c = all->indices[k];
            while (nb < ne && neg->indices[nb] < c)
                nb++;
            if (all->data[k] <= 0.0f || (nb < ne && neg->indices[nb] == c))
                continue;
            out->indices[w] = c;
            out->data[w++] = all->data[k];
        }
    }
    out->indptr[all->rows] = w;
    out->nnz = w;
}

/* Marks disliked pairs of @seen with -1, the rest 1. */
static void mark_seen(tt_csr *seen, const tt_csr *neg)
{
    for (int32_t r = 0; r < seen->rows; r++) {
        int64_t nb = neg->indptr[r], ne = neg->indptr[r + 1];
        for (int64_t k = seen->indptr[r]; k < seen->indptr[r + 1]; k++) {
            while (nb < ne && neg->indices[nb] < seen->indices[k])
                nb++;
            seen->data[k] = (nb < ne && neg->indices[nb] == seen->indices[k]) ? -1.0f : 1.0f;
        }
    }
}

/*
 * First pass over the events: each user's count of training events (into all->indptr,
 * shifted by one), the newest time overall and per user, and the disliked pairs.
 */
static void count_events(const tt_dataset *ds, const uint8_t *mask, tt_train_set *out,
                         tt_csr *all, tt_csr *neg)
{
    int32_t nu = all->rows, *du = NULL, *dt = NULL;
    size_t dcap = 0, dcap2 = 0;
    int64_t nd = 0;

    for (int32_t u = 0; u < nu; u++)
        out->user_last[u] = INT64_MIN;
    for (int64_t i = 0; i < ds->n_events; i++) {
        int32_t u = ds->ev_user[i];
        int64_t t;
        if (mask && !mask[i])
            continue;
        all->indptr[u + 1]++;
        t = tt_dataset_event_time(ds, i);
        if (t > out->now)
            out->now = t;
        if (t > out->user_last[u])
            out->user_last[u] = t;
        if (ds->ev_action[i] == TT_ACT_DISLIKE) {
            TT_GROW(du, dcap, (size_t)nd + 1);
            TT_GROW(dt, dcap2, (size_t)nd + 1);
            du[nd] = u;
            dt[nd++] = ds->ev_track[i];
        }
    }
    tt_csr_from_coo(nu, all->cols, nd, du, dt, NULL, neg);
    free(du);
    free(dt);
}

/*
 * The matrix is filled straight from the event log by a counting sort on the user, then
 * each row sorted and merged in place: no coordinate copy of the log is made, so building
 * needs 8 bytes per training event beyond the dataset, and the result is shrunk to the
 * distinct pairs before the positives are copied out of it.
 */
void tt_train_set_build(const tt_dataset *ds, const uint8_t *mask, const tt_weighting *w,
                        tt_train_set *out)
{
    int32_t nu = tt_dataset_n_users(ds), nt = tt_dataset_n_tracks(ds);
    tt_csr all = {nu, nt, 0, tt_calloc((size_t)nu + 2, sizeof(int64_t)), NULL, NULL}, neg;
    int64_t *fill;

    memset(out, 0, sizeof(*out));
    out->ds = ds;
    out->mask = mask;
    out->user_last = tt_malloc(((size_t)nu + 1) * sizeof(int64_t));
    count_events(ds, mask, out, &all, &neg);
    for (int32_t u = 0; u < nu; u++)
        all.indptr[u + 1] += all.indptr[u];
    out->n_events = all.nnz = all.indptr[nu];
    all.indices = tt_malloc((size_t)(all.nnz ? all.nnz : 1) * sizeof(int32_t));
    all.data = tt_malloc((size_t)(all.nnz ? all.nnz : 1) * sizeof(float));
    fill = tt_malloc(((size_t)nu + 1) * sizeof(int64_t));
    memcpy(fill, all.indptr, ((size_t)nu + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < ds->n_events; i++) {
        int64_t at;
        if (mask && !mask[i])
            continue;
        at = fill[ds->ev_user[i]]++;
        all.indices[at] = ds->ev_track[i];
        all.data[at] = w->action[ds->ev_action[i]] * ds->ev_weight[i];
    }
    free(fill);
    tt_csr_sum_duplicates(&all);
    keep_positive(&all, &neg, &out->conf);
    out->seen = all;
    mark_seen(&out->seen, &neg);
    tt_csr_release(&neg);
}

void tt_train_set_release(tt_train_set *t)
{
    if (!t)
        return;
    tt_csr_release(&t->conf);
    tt_csr_release(&t->seen);
    free(t->user_last);
    t->user_last = NULL;
}

void tt_topk_init(tt_topk *t, tt_scored *buf, int k)
{
    t->heap = buf;
    t->k = k;
    t->n = 0;
}

/* Min-heap on score, ties broken toward the lower track id so results are deterministic. */
static inline bool worse(const tt_scored *a, const tt_scored *b)
{
    return a->score < b->score || (a->score == b->score && a->track > b->track);
}

static void sift_down(tt_scored *h, int n, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        tt_scored tmp = h[i];
        h[i] = h[m];
        h[m] = tmp;
        i = m;
    }
}

void tt__topk_sift(tt_topk *t, int32_t track, float score)
{
    tt_scored e = {track, score};

    if (t->k <= 0)
        return;
    if (t->n < t->k) {
        int i = t->n++;
        t->heap[i] = e;
        while (i > 0 && worse(&t->heap[i], &t->heap[(i - 1) / 2])) {
            tt_scored tmp = t->heap[i];
            t->heap[i] = t->heap[(i - 1) / 2];
            t->heap[(i - 1) / 2] = tmp;
            i = (i - 1) / 2;
        }
        return;
    }
    if (!worse(&t->heap[0], &e))
        return;
    t->heap[0] = e;
    sift_down(t->heap, t->n, 0);
}

int tt_topk_finish(tt_topk *t)
{
    int n = t->n;

    /* Heap sort: repeatedly move the worst to the end, leaving the best first. */
    for (int end = n - 1; end > 0; end--) {
        tt_scored tmp = t->heap[0];
        t->heap[0] = t->heap[end];
        t->heap[end] = tmp;
        sift_down(t->heap, end, 0);
    }
    return n;
}

/* The total order of a ranking: higher score first, the lower track id on ties. */
static inline bool better(const tt_scored *a, const tt_scored *b)
{
    return a->score > b->score || (a->score == b->score && a->track < b->track);
}

void tt__select_best(tt_scored *a, int32_t n, int32_t k)
{
    int32_t lo = 0, hi = n - 1;

    while (hi > lo) {
        tt_scored pivot = a[lo + (hi - lo) / 2];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (better(&a[i], &pivot))
                i++;
            while (better(&pivot, &a[j]))
                j--;
            if (i <= j) {
                tt_scored t = a[i];
                a[i++] = a[j];
                a[j--] = t;
            }
        }
        if (k - 1 <= j)
            hi = j;
        else if (k - 1 >= i)
            lo = i;
        else
            return;
    }
}

bool tt_sorted_contains(const int32_t *a, int32_t n, int32_t x)
{
    int32_t lo = 0, hi = n;

    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo] == x;
}

struct batch_each {
    const tt_model *m;
    const int32_t *users;
    const tt_csr *exclude;
    int k;
    tt_scored *out;
    int rc;              /* the first error other than "cannot rank this user", or 0 */
    tt_err err;
    int64_t n_state;     /* users answered TT_ESTATE */
    tt_err state_err;
    pthread_mutex_t lock;
};

static void batch_each_range(void *ctx, int64_t b, int64_t e, int thread)
{
    struct batch_each *bt = ctx;

    (void)thread;
    for (int64_t i = b; i < e; i++) {
        tt_query q = {.user = bt->users[i], .excludes_history = bt->exclude != NULL};
        tt_scored *row = bt->out + (size_t)i * (size_t)bt->k;
        tt_err err = {0};
        int got = 0, rc;
        if (bt->exclude && q.user >= 0 && q.user < bt->exclude->rows) {
            q.exclude = bt->exclude->indices + bt->exclude->indptr[q.user];
            q.n_exclude = (int32_t)tt_csr_row_nnz(bt->exclude, q.user);
        }
        rc = bt->m->ops->recommend(bt->m, &q, bt->k, row, &got, &err);
        if (rc < 0) {
            got = 0;
            pthread_mutex_lock(&bt->lock);
            if (rc == TT_ESTATE && bt->n_state++ == 0)
                bt->state_err = err;
            if (rc != TT_ESTATE && rc != TT_ENOTFOUND && bt->rc == 0) {
                bt->rc = rc;
                bt->err = err;
            }
            pthread_mutex_unlock(&bt->lock);
        }
        for (int j = got; j < bt->k; j++)
            row[j] = (tt_scored){-1, 0.0f};
    }
}

/*
 * Without a batch operation, every user's recommend() in parallel (the models without one
 * rank each listener from candidates, with no shared matrix product to batch). A user the
 * model cannot rank for (TT_ESTATE, TT_ENOTFOUND) gets an empty row; another error is
 * returned once every row is written, and so is TT_ESTATE when the model could rank nobody
 * (a model missing its parts, say).
 */
int tt_model_recommend_batch(const tt_model *m, const int32_t *users, int32_t n,
                             const tt_csr *exclude, int k, tt_scored *out, tt_err *err)
{
    struct batch_each bt = {.m = m, .users = users, .exclude = exclude, .k = k, .out = out,
                            .lock = PTHREAD_MUTEX_INITIALIZER};

    if (m->ops->recommend_batch)
        return m->ops->recommend_batch(m, users, n, exclude, k, out, err);
    tt__blas_single_threaded();
    tt_parallel_for(n, 16, 0, batch_each_range, &bt);
    pthread_mutex_destroy(&bt.lock);
    if (bt.rc < 0)
        return tt_err_set(err, bt.rc, "%s", bt.err.message);
    if (n > 0 && bt.n_state == n)
        return tt_err_set(err, TT_ESTATE, "%s", bt.state_err.message);
    return 0;
}

int tt_model_similar(const tt_model *m, int32_t track, int k, tt_scored *out, int *n_out,
                     tt_err *err)
{
    if (!m->ops->similar)
        return tt_err_set(err, TT_EUNSUPPORTED, "model %s has no similar-tracks operation",
                          m->name);
    if (track < 0 || track >= m->n_tracks)
        return tt_err_set_field(err, TT_ENOTFOUND, "track_id", "unknown track");
    return m->ops->similar(m, track, k, out, n_out, err);
}

void tt_model_free(tt_model *m)
{
    if (m)
        m->ops->free(m);
}

/*
 * Tracks and listeners in dense-id order: a model's rows and columns mean the same tracks
 * and users as the catalog's only when both lists match.
 */
uint64_t tt_catalog_checksum(const tt_dataset *ds)
{
    uint64_t h = 0x7474636174616c67ULL;
    int32_t n = tt_dataset_n_tracks(ds), nu = tt_dataset_n_users(ds);

    for (int32_t i = 0; i < n; i++) {
        const char *s = tt_ids_name(ds->tracks, i);
        h = (h ^ tt_hash64(s, strlen(s))) * 0x100000001b3ULL;
    }
    h ^= (uint64_t)n;
    for (int32_t u = 0; u < nu; u++) {
        const char *s = tt_ids_name(ds->users, u);
        h = (h ^ tt_hash64(s, strlen(s))) * 0x100000001b3ULL;
    }
    return h ^ ((uint64_t)nu << 32);
}

int tt__select_top(const float *scores, int32_t n, const int32_t *excl, int32_t n_excl,
                   const uint8_t *allow, int k, tt_scored *out)
{
    tt_topk top;
    int32_t t = 0;

    tt_topk_init(&top, out, k);
    for (; t < n && top.n < k; t++)
        if ((!allow || allow[t]) && (n_excl == 0 || !tt_sorted_contains(excl, n_excl, t)))
            tt_topk_push(&top, t, scores[t]);
    for (float floor = top.n ? top.heap[0].score : 0.0f; t < n; t++) {
        if (scores[t] <= floor || (allow && !allow[t]))
            continue;
        if (n_excl > 0 && tt_sorted_contains(excl, n_excl, t))
            continue;
        tt_topk_push(&top, t, scores[t]);
        floor = top.heap[0].score;
    }
    return tt_topk_finish(&top);
}
