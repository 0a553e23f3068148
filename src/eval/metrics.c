/*
 * Ranking metrics. Recall@K and NDCG@K follow Liang, Krishnan, Hoffman & Jebara, "Variational
 * Autoencoders for Collaborative Filtering" (WWW 2018), section 4.2: recall is normalised by
 * min(K, |relevant|) rather than |relevant|, so a user with more relevant tracks than K can
 * still reach 1, and NDCG uses binary gains with the ideal list of min(K, |relevant|) hits.
 */
#include "tt/eval.h"
#include "tt/core.h"

#include <math.h>
#include <string.h>

/* True when @ranked[i] also appears earlier in the list: a repeat earns nothing twice. */
static bool repeated(const int32_t *ranked, int i)
{
    for (int j = 0; j < i; j++)
        if (ranked[j] == ranked[i])
            return true;
    return false;
}

/* Whether the entry at @i is a hit: relevant, and its first occurrence in the list. */
static bool is_hit(const int32_t *ranked, int i, const int32_t *rel, int32_t n_rel)
{
    return ranked[i] >= 0 && tt_sorted_contains(rel, n_rel, ranked[i]) && !repeated(ranked, i);
}

static int cutoff(int n, int k)
{
    return n < k ? n : k;
}

int tt_metric_hits(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel)
{
    int hits = 0, m = cutoff(n, k);

    if (!ranked || !rel || n_rel <= 0)
        return 0;
    for (int i = 0; i < m; i++)
        hits += is_hit(ranked, i, rel, n_rel);
    return hits;
}

double tt_metric_recall(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel)
{
    int hits = tt_metric_hits(ranked, n, k, rel, n_rel);

    if (hits == 0)
        return 0.0;
    return (double)hits / (double)cutoff(n_rel, k);
}

double tt_metric_ndcg(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel)
{
    double dcg = 0.0, idcg = 0.0;
    int m = cutoff(n, k), ideal = cutoff(n_rel, k);

    if (!ranked || !rel || n_rel <= 0 || k < 1)
        return 0.0;
    for (int i = 0; i < m; i++)
        if (is_hit(ranked, i, rel, n_rel))
            dcg += 1.0 / log2((double)i + 2.0);
    if (dcg == 0.0)
        return 0.0;
    for (int i = 0; i < ideal; i++)
        idcg += 1.0 / log2((double)i + 2.0);
    return dcg / idcg;
}

double tt_metric_mrr(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel)
{
    int m = cutoff(n, k);

    if (!ranked || !rel || n_rel <= 0)
        return 0.0;
    for (int i = 0; i < m; i++)
        if (ranked[i] >= 0 && tt_sorted_contains(rel, n_rel, ranked[i]))
            return 1.0 / (double)(i + 1);
    return 0.0;
}

double tt_metric_precision(const int32_t *ranked, int n, int k, const int32_t *rel, int32_t n_rel)
{
    int hits = tt_metric_hits(ranked, n, k, rel, n_rel);

    return hits == 0 ? 0.0 : (double)hits / (double)k;
}

/* Marks the tracks of @n_lists lists in @covered; returns how many were new. */
static int64_t mark_covered(const int32_t *lists, int64_t n_lists, int k, int32_t n_tracks,
                            uint8_t *covered)
{
    int64_t fresh = 0;

    for (int64_t i = 0; i < n_lists * (int64_t)k; i++) {
        int32_t t = lists[i];
        if (t < 0 || t >= n_tracks || covered[t])
            continue;
        covered[t] = 1;
        fresh++;
    }
    return fresh;
}

double tt_metric_coverage(const int32_t *lists, int64_t n_lists, int k, int32_t n_tracks)
{
    uint8_t *covered;
    int64_t n;

    if (n_tracks < 1 || !lists || n_lists < 1 || k < 1)
        return 0.0;
    covered = tt_calloc((size_t)n_tracks, 1);
    n = mark_covered(lists, n_lists, k, n_tracks, covered);
    free(covered);
    return (double)n / (double)n_tracks;
}

/* ---- playlists: label agreement ------------------------------------------------------------ */

double tt_metric_label_within(const int32_t *a, int n)
{
    int64_t agree = 0, pairs = (int64_t)n * (n - 1) / 2;

    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            agree += a[i] >= 0 && a[i] == a[j];
    return pairs > 0 ? (double)agree / (double)pairs : 0.0;
}

double tt_metric_label_between(const int32_t *a, int na, const int32_t *b, int nb)
{
    int64_t agree = 0;

    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++)
            agree += a[i] >= 0 && a[i] == b[j];
    return na > 0 && nb > 0 ? (double)agree / ((double)na * nb) : 0.0;
}

double tt_metric_label_distinct(const int32_t *a, int n)
{
    int distinct = 0;

    for (int i = 0; i < n; i++) {
        bool seen = a[i] < 0;
        for (int j = 0; j < i && !seen; j++)
            seen = a[j] == a[i];
        distinct += !seen;
    }
    return n > 0 ? (double)distinct / n : 0.0;
}

/* ---- one model over a split ------------------------------------------------------------ */

/* Users ranked per round, and list entries held at once: bound the result buffer. */
#define EVAL_BLOCK 4096
#define EVAL_ENTRIES (1 << 22)

struct eval_run {
    const tt_model *m;
    const tt_split *split;
    const tt_csr *exclude;
    int k;
    const int32_t *users; /* this block's users */
    tt_scored *top;       /* this block's lists, block x k */
    tt_err *errs;         /* per thread */
    int *rcs;             /* per thread, first failure */
};

/* Models without a batch operation rank user by user; their recommend() is thread-safe. */
static void rank_range(void *ctx, int64_t b, int64_t e, int thread)
{
    struct eval_run *r = ctx;
    int rc;

    if (r->rcs[thread] < 0)
        return;
    rc = tt_model_recommend_batch(r->m, r->users + b, (int32_t)(e - b), r->exclude, r->k,
                                  r->top + b * r->k, &r->errs[thread]);
    if (rc < 0)
        r->rcs[thread] = rc;
}

static int rank_block(struct eval_run *r, int32_t n, int threads, tt_err *err)
{
    int nt = tt_threads_resolve(threads), rc = 0;

    if (r->m->ops->recommend_batch)
        return tt_model_recommend_batch(r->m, r->users, n, r->exclude, r->k, r->top, err);
    r->errs = tt_calloc((size_t)nt, sizeof(tt_err));
    r->rcs = tt_calloc((size_t)nt, sizeof(int));
    tt_parallel_for(n, 16, nt, rank_range, r);
    for (int t = 0; t < nt && rc == 0; t++) {
        if (r->rcs[t] < 0)
            rc = tt_err_set(err, r->rcs[t], "%s", tt_err_msg(&r->errs[t], r->rcs[t]));
    }
    free(r->errs);
    free(r->rcs);
    return rc;
}

/*
 * Adds the metrics of the block's @n ranked users to the sums in @s and marks their tracks
 * in @covered; @ids is k ints of scratch.
 */
static void accumulate(const struct eval_run *r, int32_t n, int32_t *ids, uint8_t *covered,
                       int64_t *n_covered, tt_eval_scores *s)
{
    const tt_csr *rel = &r->split->relevant;

    for (int32_t i = 0; i < n; i++) {
        int32_t u = r->users[i];
        const int32_t *ru = rel->indices + rel->indptr[u];
        int32_t nr = (int32_t)tt_csr_row_nnz(rel, u);
        for (int j = 0; j < r->k; j++)
            ids[j] = r->top[(size_t)i * r->k + j].track;
        s->recall += tt_metric_recall(ids, r->k, r->k, ru, nr);
        s->ndcg += tt_metric_ndcg(ids, r->k, r->k, ru, nr);
        s->mrr += tt_metric_mrr(ids, r->k, r->k, ru, nr);
        s->precision += tt_metric_precision(ids, r->k, r->k, ru, nr);
        *n_covered += mark_covered(ids, 1, r->k, rel->cols, covered);
    }
}

static int check_eval_args(const tt_model *m, const tt_split *split, int k, tt_eval_scores *out,
                           tt_err *err)
{
    if (!m || !split || !out)
        return tt_err_set(err, TT_EINVAL, "model, split and result are required");
    if (k < 1)
        return tt_err_set_field(err, TT_EINVAL, "k", "k must be at least 1");
    if (m->n_tracks != split->relevant.cols)
        return tt_err_set(err, TT_EINVAL, "model %s knows %d tracks but the split has %d", m->name,
                          m->n_tracks, split->relevant.cols);
    return 0;
}

int tt_eval_model(const tt_model *m, const tt_split *split, const tt_csr *exclude, int k,
                  int threads, tt_eval_scores *out, tt_err *err)
{
    struct eval_run r = {m, split, exclude, k, NULL, NULL, NULL, NULL};
    int32_t block = k > 0 && EVAL_ENTRIES / k < EVAL_BLOCK ? EVAL_ENTRIES / k : EVAL_BLOCK;
    int32_t *ids = NULL;
    uint8_t *covered = NULL;
    int64_t n_covered = 0;
    double t0 = tt_now();
    int rc = check_eval_args(m, split, k, out, err);

    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    if (block < 1)
        block = 1;
    if (split->n_users < block)
        block = split->n_users;
    r.top = tt_malloc(((size_t)block * k + 1) * sizeof(tt_scored));
    ids = tt_malloc((size_t)k * sizeof(int32_t));
    covered = tt_calloc((size_t)split->relevant.cols + 1, 1);
    for (int32_t first = 0; first < split->n_users; first += block) {
        int32_t n = split->n_users - first < block ? split->n_users - first : block;
        r.users = split->users + first;
        rc = rank_block(&r, n, threads, err);
        if (rc < 0)
            goto out;
        accumulate(&r, n, ids, covered, &n_covered, out);
    }
    out->users = split->n_users;
    if (out->users > 0) {
        out->recall /= out->users;
        out->ndcg /= out->users;
        out->mrr /= out->users;
        out->precision /= out->users;
    }
    if (split->relevant.cols > 0)
        out->coverage = (double)n_covered / (double)split->relevant.cols;
    out->score_seconds = tt_now() - t0;
out:
    if (rc < 0)
        memset(out, 0, sizeof(*out));
    free(r.top);
    free(ids);
    free(covered);
    return rc;
}

/* ---- the random-ranking baseline ---- */

/*
 * tt_metric_random for a user with @n_rel relevant tracks of which only @n_in are in the
 * pool: the others can never be ranked and count as misses.
 */
static void random_metrics(int k, int64_t pool, int32_t n_in, int32_t n_rel, double *recall,
                           double *ndcg, double *mrr, double *precision)
{
    int64_t top = k < pool ? k : pool, lim = k < n_rel ? k : n_rel;
    double p, dcg = 0.0, idcg = 0.0, none = 1.0, rr = 0.0;

    *recall = *ndcg = *mrr = *precision = 0.0;
    if (k < 1 || pool < 1 || n_in < 1)
        return;
    p = (double)(n_in < pool ? n_in : pool) / (double)pool;
    for (int64_t r = 1; r <= top; r++) {
        dcg += p / log2((double)r + 1.0);
        /* First hit at r: no hit among the r - 1 before, then one of the rest relevant. */
        rr += none * (double)n_in / (double)(pool - r + 1) / (double)r;
        none = none > 0.0 ? none * (double)(pool - n_in - (r - 1)) / (double)(pool - (r - 1)) : 0.0;
    }
    for (int64_t r = 1; r <= lim; r++)
        idcg += 1.0 / log2((double)r + 1.0);
    *recall = (double)top * p / (double)lim;
    *ndcg = dcg / idcg;
    *mrr = rr;
    *precision = (double)top * p / (double)k;
}

void tt_metric_random(int k, int64_t pool, int32_t n_rel, double *recall, double *ndcg,
                      double *mrr, double *precision)
{
    random_metrics(k, pool, n_rel, n_rel, recall, ndcg, mrr, precision);
}

/* The user's pool: tracks of @pool_mask (all when NULL) minus those of @excl (sorted). */
static int64_t pool_size(const uint8_t *pool_mask, int32_t n_tracks, int64_t n_pool,
                         const int32_t *excl, int32_t n_excl)
{
    int64_t n = n_pool;

    for (int32_t i = 0; i < n_excl; i++)
        n -= excl[i] >= 0 && excl[i] < n_tracks && (!pool_mask || pool_mask[excl[i]]);
    return n;
}

/* Relevant tracks of the user inside the pool: those outside it can never be ranked. */
static int32_t rel_in_pool(const uint8_t *pool_mask, const int32_t *rel, int32_t n_rel)
{
    int32_t n = 0;

    for (int32_t i = 0; i < n_rel; i++)
        n += !pool_mask || pool_mask[rel[i]];
    return n;
}

int tt_eval_random(const tt_split *split, const tt_csr *exclude, const uint8_t *pool_mask, int k,
                   tt_eval_scores *out, tt_err *err)
{
    const tt_csr *rel;
    int32_t nt;
    int64_t n_pool = 0;
    double *logmiss, total = 0.0, cov = 0.0, t0 = tt_now();

    if (!split || !exclude || !out)
        return tt_err_set(err, TT_EINVAL, "split, exclusions and result are required");
    if (k < 1)
        return tt_err_set_field(err, TT_EINVAL, "k", "k must be at least 1");
    memset(out, 0, sizeof(*out));
    rel = &split->relevant;
    nt = rel->cols;
    for (int32_t t = 0; t < nt; t++)
        n_pool += !pool_mask || pool_mask[t];
    /* log P(track t in no user's top k), accumulated over users, minus users who exclude t. */
    logmiss = tt_calloc((size_t)nt + 1, sizeof(double));
    for (int32_t i = 0; i < split->n_users; i++) {
        int32_t u = split->users[i], n_ex = 0, n_rel = (int32_t)tt_csr_row_nnz(rel, u);
        const int32_t *ex = NULL, *ru = rel->indices + rel->indptr[u];
        int64_t pool;
        double r, n, m, p, miss;
        if (u < exclude->rows) {
            ex = exclude->indices + exclude->indptr[u];
            n_ex = (int32_t)tt_csr_row_nnz(exclude, u);
        }
        pool = pool_size(pool_mask, nt, n_pool, ex, n_ex);
        random_metrics(k, pool, rel_in_pool(pool_mask, ru, n_rel), n_rel, &r, &n, &m, &p);
        out->recall += r, out->ndcg += n, out->mrr += m, out->precision += p;
        miss = pool > 0 ? log1p(-(double)(k < pool ? k : pool) / (double)pool) : 0.0;
        if (!isfinite(miss))
            miss = -1e300;
        total += miss;
        for (int32_t j = 0; j < n_ex; j++)
            if (ex[j] >= 0 && ex[j] < nt)
                logmiss[ex[j]] -= miss;
    }
    for (int32_t t = 0; t < nt; t++)
        if (!pool_mask || pool_mask[t])
            cov += 1.0 - exp(total + logmiss[t]);
    free(logmiss);
    out->users = split->n_users;
    if (out->users > 0) {
        out->recall /= out->users;
        out->ndcg /= out->users;
        out->mrr /= out->users;
        out->precision /= out->users;
    }
    out->coverage = nt > 0 ? cov / nt : 0.0;
    out->score_seconds = tt_now() - t0;
    return 0;
}
