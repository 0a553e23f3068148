/*
 * Lists ranked at training time, for the models that score the whole catalog (ALS, EASE,
 * NeuMF). Ranking every listener's list costs users x tracks x factors at the end of each
 * training and users x list length of memory (200,000 users x 100,000 tracks: 2.6 TFLOP and
 * 320 MB), while the requests that read a list come from the listeners who are active: a
 * listener silent for months is served rarely, and the serving kernel answers them from the
 * catalog on demand. So lists are kept only for the listeners with an event in the last
 * @days of the snapshot, the most recent first, at most @cap of them; each list sits in a
 * slot, and an ascending array of user ids maps a listener to their slot.
 *
 * Files keep the lists as "user_top" (slots x 2k int32: the tt_scored pairs) beside
 * "user_top_users" (slots x 1 int32, strictly ascending dense ids). A file without the
 * second section is the earlier layout, one list per user in dense-id order.
 */
#include "rank_priv.h"
#include "tt/core.h"

#include <stdlib.h>
#include <string.h>

struct recent {
    int32_t user;
    int64_t last;
};

/* Newest first; ties toward the lower id, so the selection is deterministic. */
static int cmp_recent(const void *a, const void *b)
{
    const struct recent *x = a, *y = b;

    if (x->last != y->last)
        return x->last < y->last ? 1 : -1;
    return (x->user > y->user) - (x->user < y->user);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

    return (x > y) - (x < y);
}

int32_t tt__lists_select(const tt_train_set *ts, int days, int32_t cap, int32_t **out)
{
    int32_t nu = ts->conf.rows, n = 0;
    int64_t since = days > 0 ? ts->now - (int64_t)days * 86400 : INT64_MIN;
    struct recent *r = tt_malloc(((size_t)nu + 1) * sizeof(*r));
    int32_t *users;

    for (int32_t u = 0; u < nu; u++)
        if (days == 0 || !ts->user_last || ts->user_last[u] >= since)
            r[n++] = (struct recent){u, ts->user_last ? ts->user_last[u] : 0};
    if (cap > 0 && n > cap) {
        qsort(r, (size_t)n, sizeof(*r), cmp_recent);
        n = cap;
    }
    users = tt_malloc(((size_t)n + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < n; i++)
        users[i] = r[i].user;
    qsort(users, (size_t)n, sizeof(int32_t), cmp_i32);
    free(r);
    *out = users;
    return n;
}

void tt__lists_rank(tt__lists *l, const tt_model *m, const tt_train_set *ts, int k, int days,
                    int32_t cap)
{
    int32_t *users, n;

    memset(l, 0, sizeof(*l));
    if (k > m->n_tracks)
        k = m->n_tracks;
    if (k <= 0 || m->n_users == 0)
        return;
    n = tt__lists_select(ts, days, cap, &users);
    l->owned_top = tt_malloc(((size_t)n * (size_t)k + 1) * sizeof(tt_scored));
    tt_model_recommend_batch(m, users, n, &ts->seen, k, l->owned_top, NULL);
    l->top = l->owned_top;
    l->users = l->owned_users = users;
    l->n = n;
    l->k = k;
}

void tt__lists_release(tt__lists *l)
{
    free(l->owned_users);
    free(l->owned_top);
    memset(l, 0, sizeof(*l));
}

int tt__lists_save(const tt__lists *l, tt_mfile_writer *w, tt_err *err)
{
    int rc;

    if (!l->top)
        return 0;
    /* tt_scored is two 4-byte fields: stored as n x (2 * k) int32 pairs. */
    rc = tt_mfile_add(w, "user_top", TT_DT_I32, l->n, 2 * (int64_t)l->k, l->top, err);
    if (rc == 0 && l->users)
        rc = tt_mfile_add(w, "user_top_users", TT_DT_I32, l->n, 1, l->users, err);
    return rc;
}

static int refuse(const tt_mfile *f, const char *what, tt_err *err)
{
    return tt_err_set(err, TT_ECORRUPT, "model file %s refused: bad %s", tt_mfile_path(f), what);
}

/* The slot index: strictly ascending ids of known users, one per list. */
static int load_users(tt__lists *l, const tt_mfile *f, int64_t slots, int32_t n_users, tt_err *err)
{
    int64_t rows = -1, cols = -1;
    const void *p;
    const int32_t *u;

    if (tt_mfile_get(f, "user_top_users", TT_DT_I32, &rows, &cols, &p, NULL) < 0) {
        /* The earlier layout: one list per user, in dense-id order. */
        if (slots != n_users)
            return refuse(f, "user_top", err);
        return 0;
    }
    if (rows != slots || cols != 1)
        return refuse(f, "user_top_users", err);
    u = p;
    for (int64_t i = 0; i < rows; i++)
        if (u[i] < 0 || u[i] >= n_users || (i > 0 && u[i] <= u[i - 1]))
            return refuse(f, "user_top_users", err);
    l->users = u;
    return 0;
}

int tt__lists_load(tt__lists *l, const tt_mfile *f, int32_t n_users, int32_t n_tracks, tt_err *err)
{
    int64_t rows = -1, cols = -1;
    const void *p;
    const tt_scored *s;
    int rc;

    memset(l, 0, sizeof(*l));
    if (tt_mfile_get(f, "user_top", TT_DT_I32, &rows, &cols, &p, NULL) < 0) {
        /* Trained without lists, unless a slot index says otherwise. */
        if (tt_mfile_get(f, "user_top_users", TT_DT_I32, &rows, &cols, &p, NULL) == 0)
            return refuse(f, "user_top_users", err);
        return 0;
    }
    if (cols <= 0 || cols % 2 != 0 || cols / 2 > INT32_MAX || rows > INT32_MAX)
        return refuse(f, "user_top", err);
    if ((rc = load_users(l, f, rows, n_users, err)) < 0)
        return rc;
    s = p;
    for (int64_t i = 0; i < rows * (cols / 2); i++)
        if (s[i].track < -1 || s[i].track >= n_tracks)
            return refuse(f, "user_top", err);
    l->top = s;
    l->n = (int32_t)rows;
    l->k = (int32_t)(cols / 2);
    return 0;
}

/* The slot of user @u, or -1 when no list was ranked for them. */
static int64_t slot_of(const tt__lists *l, int32_t u)
{
    int32_t lo = 0, hi = l->n;

    if (!l->users)
        return u < l->n ? u : -1;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (l->users[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < l->n && l->users[lo] == u ? lo : -1;
}

bool tt__lists_answer(const tt__lists *l, const tt_query *q, int k, tt_scored *out, int *n_out)
{
    const tt_scored *row;
    int64_t slot;
    int got = 0;

    if (!l->top || !q->excludes_history || q->n_hist > 0 || q->user < 0 || k > l->k)
        return false;
    if ((slot = slot_of(l, q->user)) < 0)
        return false;
    row = l->top + (size_t)slot * (size_t)l->k;
    for (int i = 0; i < l->k && got < k && row[i].track >= 0; i++) {
        if ((q->allow && !q->allow[row[i].track]) ||
            (q->n_exclude > 0 && tt_sorted_contains(q->exclude, q->n_exclude, row[i].track)))
            continue;
        out[got++] = row[i];
    }
    /* A short list is exact only when the catalog itself ran out. */
    if (got < k && row[l->k - 1].track >= 0)
        return false;
    *n_out = got;
    return true;
}
