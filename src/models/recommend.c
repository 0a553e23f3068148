/*
 * Request-level recommendation: assemble the user's history (training snapshot plus fresh
 * feedback), pick the model, and build the exclusion set.
 */
#include "tt/recommend.h"
#include "tt/core.h"

#include <math.h>
#include <string.h>

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts and deduplicates @a in place; returns the new length. */
static int32_t sort_unique(int32_t *a, int32_t n)
{
    int32_t w = 0;

    qsort(a, (size_t)n, sizeof(int32_t), cmp_i32);
    for (int32_t i = 0; i < n; i++)
        if (w == 0 || a[w - 1] != a[i])
            a[w++] = a[i];
    return w;
}

struct history {
    int32_t *excl, *pos;
    float *pos_r;
    int32_t n_excl, n_pos;
};

/*
 * Adds one fresh event to the positives: its preference sums with what the track already
 * has; a dislike (NAN) removes the track for good.
 */
static void merge_fresh(struct history *h, int32_t t, float r)
{
    for (int32_t j = 0; j < h->n_pos; j++) {
        if (h->pos[j] == t) {
            h->pos_r[j] = isnan(r) || isnan(h->pos_r[j]) ? NAN : h->pos_r[j] + r;
            return;
        }
    }
    h->pos[h->n_pos] = t;
    h->pos_r[h->n_pos++] = r;
}

/* Drops pairs that ended disliked or without positive preference. */
static void compact_positives(struct history *h)
{
    int32_t w = 0;

    for (int32_t j = 0; j < h->n_pos; j++) {
        if (!(h->pos_r[j] > 0.0f))
            continue;
        h->pos[w] = h->pos[j];
        h->pos_r[w++] = h->pos_r[j];
    }
    h->n_pos = w;
}

static void history_build(const tt_rec_ctx *ctx, const tt_rec_request *req, int32_t u,
                          struct history *h)
{
    const float fresh_weight = ctx->fresh_weight > 0.0f ? ctx->fresh_weight : 1.0f;
    const int32_t *seen = NULL, *pos = NULL;
    const float *seen_v = NULL, *pos_v = NULL;
    int32_t n_seen = 0, n_pos = 0;

    tt_catalog_user_seen(ctx->cat, u, &seen, &seen_v, &n_seen);
    tt_catalog_user_positives(ctx->cat, u, &pos, &pos_v, &n_pos);
    h->excl = tt_malloc(((size_t)n_seen + req->n_fresh + req->n_exclude + 1) * sizeof(int32_t));
    h->pos = tt_malloc(((size_t)n_pos + n_seen + req->n_fresh + 1) * sizeof(int32_t));
    h->pos_r = tt_malloc(((size_t)n_pos + n_seen + req->n_fresh + 1) * sizeof(float));
    h->n_excl = h->n_pos = 0;
    for (int32_t i = 0; i < n_seen; i++)
        if (!req->include_heard || seen_v[i] < 0)
            h->excl[h->n_excl++] = seen[i];
    if (n_pos > 0) {
        memcpy(h->pos, pos, (size_t)n_pos * sizeof(int32_t));
        memcpy(h->pos_r, pos_v, (size_t)n_pos * sizeof(float));
    }
    h->n_pos = n_pos;
    /* Disliked at training time stays disliked whatever fresh events say. */
    for (int32_t i = 0; req->n_fresh > 0 && i < n_seen; i++)
        if (seen_v[i] < 0)
            merge_fresh(h, seen[i], NAN);
    for (int32_t i = 0; i < req->n_fresh; i++) {
        float r = req->fresh_r[i];
        if (!req->include_heard || isnan(r))
            h->excl[h->n_excl++] = req->fresh[i];
        merge_fresh(h, req->fresh[i], r > 0.0f ? r * fresh_weight : r);
    }
    compact_positives(h);
    for (int32_t i = 0; i < req->n_exclude; i++)
        h->excl[h->n_excl++] = req->exclude[i];
    h->n_excl = sort_unique(h->excl, h->n_excl);
}

static void history_release(struct history *h)
{
    free(h->excl);
    free(h->pos);
    free(h->pos_r);
}

/* Hands the whole current history to the model, to fold the user in from it. */
static void query_history(tt_query *q, const struct history *h)
{
    q->hist = h->pos;
    q->hist_conf = h->pos_r;
    q->n_hist = h->n_pos;
}

int tt_recommend_user(const tt_rec_ctx *ctx, const tt_rec_request *req, tt_scored *out,
                      tt_rec_result *res, tt_err *err)
{
    int32_t u = req->user_id ? tt_catalog_user_find(ctx->cat, req->user_id) : -1;
    const int32_t *decl = NULL;
    int32_t n_decl = 0;
    struct history h;
    tt_query q;
    int rc;

    memset(res, 0, sizeof(*res));
    if (req->k < 1)
        return tt_err_set_field(err, TT_EINVAL, "limit", "limit must be at least 1");
    history_build(ctx, req, u, &h);
    tt_catalog_user_genres(ctx->cat, u, &decl, &n_decl);
    memset(&q, 0, sizeof(q));
    q.exclude = h.excl;
    q.n_exclude = h.n_excl;
    q.allow = req->allow;
    q.excludes_history = !req->include_heard;
    q.genres = req->n_genres > 0 ? req->genres : decl;
    q.n_genres = req->n_genres > 0 ? req->n_genres : n_decl;
    q.user = u;
    if (ctx->model && h.n_pos >= (ctx->min_history > 0 ? ctx->min_history : 1)) {
        /* Fresh feedback changes the user: fold them in from the whole history. */
        if (req->n_fresh > 0 || u < 0 || u >= ctx->model->n_users ||
            (ctx->model->ops->knows_user && !ctx->model->ops->knows_user(ctx->model, u)))
            query_history(&q, &h);
        res->model = ctx->model;
    } else {
        query_history(&q, &h);
        res->model = ctx->fallback;
        res->fallback = true;
    }
    if (!res->model) {
        history_release(&h);
        return tt_err_set(err, TT_ESTATE, "no model can serve this user");
    }
    rc = tt_model_recommend(res->model, &q, req->k, out, &res->n, err);
    /* The main model cannot describe this user (content: nothing heard has features). */
    if (rc == TT_ESTATE && !res->fallback && ctx->fallback) {
        tt_err_clear(err);
        query_history(&q, &h);
        res->model = ctx->fallback;
        res->fallback = true;
        rc = tt_model_recommend(res->model, &q, req->k, out, &res->n, err);
    }
    history_release(&h);
    return rc;
}
