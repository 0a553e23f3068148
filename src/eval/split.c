/*
 * Train/test splits. Positive pairs come from a training set built over every event, so a
 * split and the models trained on it agree on what "positive" means. Held-out pairs take
 * all their events to the test side: a pair split across both sides would leak the answer
 * into training (the model would see the user play the very track it must predict).
 */
#include "tt/eval.h"
#include "tt/core.h"
#include "tt/csv.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

tt_split_params tt_split_params_default(void)
{
    tt_split_params p;

    memset(&p, 0, sizeof(p));
    p.kind = TT_SPLIT_RANDOM;
    p.holdout = 0.2;
    p.seed = 42;
    p.weighting = tt_weighting_default();
    return p;
}

static const char *const kind_names[] = {"random", "time", "last", "file", "cold-tracks"};

int tt_split_kind_parse(const char *s)
{
    for (int i = TT_SPLIT_RANDOM; s && i <= TT_SPLIT_COLD_TRACKS; i++)
        if (i != TT_SPLIT_FILE && strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *tt_split_kind_name(enum tt_split_kind k)
{
    return (k >= TT_SPLIT_RANDOM && k <= TT_SPLIT_COLD_TRACKS) ? kind_names[k] : "unknown";
}

void tt_split_release(tt_split *s)
{
    if (!s)
        return;
    free(s->mask);
    free(s->users);
    free(s->cold);
    tt_csr_release(&s->relevant);
    memset(s, 0, sizeof(*s));
}

/* ---- shared pieces ---------------------------------------------------------------------- */

/* Held-out (user, track) pairs, gathered before they become the relevant matrix. */
struct pairs {
    int32_t *u, *t;
    size_t ucap, tcap;
    int64_t n;
};

static void pairs_push(struct pairs *p, int32_t u, int32_t t)
{
    TT_GROW(p->u, p->ucap, (size_t)p->n + 1);
    TT_GROW(p->t, p->tcap, (size_t)p->n + 1);
    p->u[p->n] = u;
    p->t[p->n++] = t;
}

/* Builds the relevant matrix of @s from @p (consumed); duplicate pairs collapse to one. */
static void pairs_to_relevant(struct pairs *p, const tt_dataset *ds, tt_split *s)
{
    tt_csr_from_coo(tt_dataset_n_users(ds), tt_dataset_n_tracks(ds), p->n, p->u, p->t, NULL,
                    &s->relevant);
    for (int64_t i = 0; i < s->relevant.nnz; i++)
        s->relevant.data[i] = 1.0f;
    free(p->u);
    free(p->t);
    memset(p, 0, sizeof(*p));
}

static const int32_t *row_of(const tt_csr *m, int32_t r, int32_t *n)
{
    *n = (int32_t)tt_csr_row_nnz(m, r);
    return m->indices + m->indptr[r];
}

static bool csr_has(const tt_csr *m, int32_t r, int32_t c)
{
    int32_t n;
    const int32_t *row;

    if (r < 0 || r >= m->rows)
        return false;
    row = row_of(m, r, &n);
    return tt_sorted_contains(row, n, c);
}

/* The evaluated users: every non-empty row of the relevant matrix. */
static void list_users(tt_split *s)
{
    const tt_csr *rel = &s->relevant;

    s->users = tt_malloc(((size_t)rel->rows + 1) * sizeof(int32_t));
    s->n_users = 0;
    for (int32_t u = 0; u < rel->rows; u++)
        if (tt_csr_row_nnz(rel, u) > 0)
            s->users[s->n_users++] = u;
}

/* Training events, and test events: the rest of those taking part (@within, NULL: all). */
static void count_events(tt_split *s, const uint8_t *within)
{
    s->n_train_events = s->n_test_events = 0;
    for (int64_t i = 0; i < s->n_events; i++) {
        s->n_train_events += s->mask[i];
        s->n_test_events += !s->mask[i] && (!within || within[i]);
    }
}

/*
 * Every event of a held-out pair is a test event; everything else of @within (NULL: all)
 * trains; events outside it do neither.
 */
static void mask_held_out(const tt_dataset *ds, const uint8_t *within, tt_split *s)
{
    for (int64_t i = 0; i < ds->n_events; i++)
        s->mask[i] = (!within || within[i]) &&
                     !csr_has(&s->relevant, ds->ev_user[i], ds->ev_track[i]);
}

static void split_init(const tt_dataset *ds, enum tt_split_kind kind, tt_split *s)
{
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->n_events = ds->n_events;
    s->mask = tt_malloc((size_t)ds->n_events + 1);
    memset(s->mask, 1, (size_t)ds->n_events + 1);
}

/* ---- random ----------------------------------------------------------------------------- */

/* round(holdout * n), kept to 1..n-1 so the user keeps a training positive. */
static int32_t holdout_count(int32_t n, double holdout)
{
    int32_t h = (int32_t)llround(holdout * (double)n);

    if (h < 1)
        h = 1;
    if (h > n - 1)
        h = n - 1;
    return h;
}

static void pick_random(const tt_csr *pos, const tt_split_params *p, struct pairs *out)
{
    int32_t *buf = tt_malloc(((size_t)pos->cols + 1) * sizeof(int32_t));
    tt_rng rng;

    tt_rng_seed(&rng, p->seed, 0);
    for (int32_t u = 0; u < pos->rows; u++) {
        int32_t n, h;
        const int32_t *row = row_of(pos, u, &n);
        if (n < TT_SPLIT_RANDOM_MIN_POSITIVES)
            continue;
        memcpy(buf, row, (size_t)n * sizeof(int32_t));
        h = holdout_count(n, p->holdout);
        /* A partial Fisher-Yates shuffle: the first h slots are a uniform h-subset. */
        for (int32_t i = 0; i < h; i++) {
            int32_t j = i + (int32_t)tt_rng_below(&rng, (uint64_t)(n - i));
            int32_t tmp = buf[i];
            buf[i] = buf[j];
            buf[j] = tmp;
            pairs_push(out, u, buf[i]);
        }
    }
    free(buf);
}

/* ---- leave last out --------------------------------------------------------------------- */

static void pick_last(const tt_dataset *ds, const uint8_t *within, const tt_csr *pos,
                      struct pairs *out)
{
    int32_t nu = tt_dataset_n_users(ds);
    int64_t *latest = tt_malloc(((size_t)nu + 1) * sizeof(int64_t));

    for (int32_t u = 0; u < nu; u++)
        latest[u] = -1;
    /* ">=" hands ties in time to the later event in dataset order. */
    for (int64_t i = 0; i < ds->n_events; i++) {
        int32_t u = ds->ev_user[i];
        int64_t b = latest[u];
        if ((within && !within[i]) || !csr_has(pos, u, ds->ev_track[i]))
            continue;
        if (b < 0 || tt_dataset_event_time(ds, i) >= tt_dataset_event_time(ds, b))
            latest[u] = i;
    }
    for (int32_t u = 0; u < nu; u++)
        if (latest[u] >= 0 && tt_csr_row_nnz(pos, u) >= TT_SPLIT_LAST_MIN_POSITIVES)
            pairs_push(out, u, ds->ev_track[latest[u]]);
    free(latest);
}

/* ---- time -------------------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The time of the event at rank ceil((1 - holdout) * n) in time order. */
static int64_t time_cut(const tt_dataset *ds, double holdout)
{
    int64_t n = ds->n_events, r, cut;
    int64_t *t;

    if (n == 0)
        return 0;
    t = tt_malloc((size_t)n * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++)
        t[i] = tt_dataset_event_time(ds, i);
    qsort(t, (size_t)n, sizeof(int64_t), cmp_i64);
    /* (1 - 0.7) * 10 is 3.0000000000000004 in doubles: the epsilon keeps its ceiling at 3. */
    r = (int64_t)ceil((1.0 - holdout) * (double)n - 1e-9);
    r = r < 1 ? 1 : (r > n ? n : r);
    cut = t[r - 1];
    free(t);
    return cut;
}

/*
 * Relevant pairs of a time split: positive on the test side, never touched on the training
 * side, for users who keep a training positive.
 */
static void pick_time(const tt_dataset *ds, const tt_split *s, const tt_weighting *w,
                      struct pairs *out)
{
    uint8_t *test_mask = tt_malloc((size_t)ds->n_events + 1);
    tt_train_set train, test;

    for (int64_t i = 0; i < ds->n_events; i++)
        test_mask[i] = !s->mask[i];
    tt_train_set_build(ds, s->mask, w, &train);
    tt_train_set_build(ds, test_mask, w, &test);
    for (int32_t u = 0; u < test.conf.rows; u++) {
        int32_t n;
        const int32_t *row = row_of(&test.conf, u, &n);
        if (tt_csr_row_nnz(&train.conf, u) == 0)
            continue;
        for (int32_t j = 0; j < n; j++)
            if (!csr_has(&train.seen, u, row[j]))
                pairs_push(out, u, row[j]);
    }
    tt_train_set_release(&train);
    tt_train_set_release(&test);
    free(test_mask);
}

/* ---- cold tracks ------------------------------------------------------------------------- */

/* A uniform round(holdout * n) of the n tracks with events, marked in s->cold. */
static void pick_cold_tracks(const tt_dataset *ds, const tt_split_params *p, tt_split *s)
{
    int32_t nt = tt_dataset_n_tracks(ds), n = 0, h;
    int32_t *list = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));
    uint8_t *played = tt_calloc((size_t)nt + 1, 1);
    tt_rng rng;

    for (int64_t i = 0; i < ds->n_events; i++)
        played[ds->ev_track[i]] = 1;
    for (int32_t t = 0; t < nt; t++)
        if (played[t])
            list[n++] = t;
    h = (int32_t)llround(p->holdout * (double)n);
    h = h < 1 && n > 0 ? 1 : h;
    tt_rng_seed(&rng, p->seed, 0);
    s->cold = tt_calloc((size_t)nt + 1, 1);
    for (int32_t i = 0; i < h; i++) {
        int32_t j = i + (int32_t)tt_rng_below(&rng, (uint64_t)(n - i)), tmp = list[i];
        list[i] = list[j];
        list[j] = tmp;
        s->cold[list[i]] = 1;
    }
    s->n_cold = h;
    free(list);
    free(played);
}

/*
 * Every event of a held-out track tests; the relevant pairs are the positive ones on those
 * tracks of users who keep a training positive.
 */
static void split_cold(const tt_dataset *ds, const tt_split_params *p, tt_split *s,
                       struct pairs *out)
{
    tt_train_set all, train;

    pick_cold_tracks(ds, p, s);
    for (int64_t i = 0; i < ds->n_events; i++)
        s->mask[i] = !s->cold[ds->ev_track[i]];
    tt_train_set_build(ds, NULL, &p->weighting, &all);
    tt_train_set_build(ds, s->mask, &p->weighting, &train);
    for (int32_t u = 0; u < all.conf.rows; u++) {
        int32_t n;
        const int32_t *row = row_of(&all.conf, u, &n);
        if (tt_csr_row_nnz(&train.conf, u) == 0)
            continue;
        for (int32_t j = 0; j < n; j++)
            if (s->cold[row[j]])
                pairs_push(out, u, row[j]);
    }
    tt_train_set_release(&all);
    tt_train_set_release(&train);
}

/* ---- building ---------------------------------------------------------------------------- */

static int check_params(const tt_dataset *ds, const tt_split_params *p, tt_split *out, tt_err *err)
{
    if (!ds || !p || !out)
        return tt_err_set(err, TT_EINVAL, "dataset, parameters and split are required");
    if (p->kind != TT_SPLIT_RANDOM && p->kind != TT_SPLIT_TIME && p->kind != TT_SPLIT_LAST &&
        p->kind != TT_SPLIT_COLD_TRACKS)
        return tt_err_set_field(err, TT_EINVAL, "split",
                                "split must be random, time, last or cold-tracks");
    if (p->within && p->kind != TT_SPLIT_RANDOM && p->kind != TT_SPLIT_LAST)
        return tt_err_set_field(err, TT_EINVAL, "split",
                                "only random and leave-last splits take a subset of events");
    if (p->kind != TT_SPLIT_LAST && !(p->holdout > 0.0 && p->holdout < 1.0))
        return tt_err_set_field(err, TT_EINVAL, "holdout",
                                "holdout must be between 0 and 1 (exclusive)");
    return 0;
}

int tt_split_build(const tt_dataset *ds, const tt_split_params *p, tt_split *out, tt_err *err)
{
    struct pairs held = {0};
    tt_train_set all;
    int rc = check_params(ds, p, out, err);

    if (out)
        memset(out, 0, sizeof(*out));
    if (rc < 0)
        return rc;
    split_init(ds, p->kind, out);
    if (p->kind == TT_SPLIT_TIME) {
        out->cut_time = time_cut(ds, p->holdout);
        for (int64_t i = 0; i < ds->n_events; i++)
            out->mask[i] = tt_dataset_event_time(ds, i) <= out->cut_time;
        pick_time(ds, out, &p->weighting, &held);
        pairs_to_relevant(&held, ds, out);
    } else if (p->kind == TT_SPLIT_COLD_TRACKS) {
        split_cold(ds, p, out, &held);
        pairs_to_relevant(&held, ds, out);
    } else {
        tt_train_set_build(ds, p->within, &p->weighting, &all);
        if (p->kind == TT_SPLIT_RANDOM)
            pick_random(&all.conf, p, &held);
        else
            pick_last(ds, p->within, &all.conf, &held);
        tt_train_set_release(&all);
        pairs_to_relevant(&held, ds, out);
        mask_held_out(ds, p->within, out);
    }
    list_users(out);
    count_events(out, p->within);
    return 0;
}

/* ---- test file --------------------------------------------------------------------------- */

/* Column positions of the interactions CSV header. */
struct columns {
    int user, track, action, timestamp, weight;
    int need; /* fields a data row must have */
};

static int find_columns(tt_csv *c, struct columns *col, tt_err *err)
{
    static const char *required[] = {"user_id", "track_id", "action", "timestamp"};
    int *slot[] = {&col->user, &col->track, &col->action, &col->timestamp};
    int rc = tt_csv_next(c, err);

    if (rc < 0)
        return rc;
    if (rc == 0)
        return tt_err_set(err, TT_EPARSE, "%s: empty file (a header row is required)",
                          tt_csv_name(c));
    col->need = 0;
    for (int i = 0; i < 4; i++) {
        *slot[i] = tt_csv_find(c, required[i]);
        if (*slot[i] < 0)
            return tt_err_set(err, TT_EPARSE,
                              "%s: header has no %s column (required: "
                              "user_id,track_id,action,timestamp; optional: weight)",
                              tt_csv_name(c), required[i]);
        if (*slot[i] + 1 > col->need)
            col->need = *slot[i] + 1;
    }
    col->weight = tt_csv_find(c, "weight");
    return 0;
}

/* Action names are matched as the importer writes them, then case-insensitively. */
static int parse_action(const char *s, size_t len)
{
    char low[32];
    int a = tt_action_parse(s, len);

    if (a >= 0 || len >= sizeof(low))
        return a;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)tolower((unsigned char)s[i]);
    return tt_action_parse(low, len);
}

static int parse_weight(const tt_csv *c, const struct columns *col, float *out, tt_err *err)
{
    const char *s;
    char *end;

    *out = 1.0f;
    if (col->weight < 0 || tt_csv_field_len(c, col->weight) == 0)
        return 0;
    s = tt_csv_field(c, col->weight);
    *out = strtof(s, &end);
    if (end == s || *end || !isfinite(*out) || *out < 0.0f)
        return tt_err_set(err, TT_EPARSE, "%s:%lld: weight '%s' is not a number >= 0",
                          tt_csv_name(c), (long long)tt_csv_line(c), s);
    return 0;
}

/* Test-file events of known users and tracks, before aggregation. */
struct file_events {
    struct pairs all, disliked;
    float *v;
    size_t vcap;
};

static int read_row(const tt_dataset *ds, tt_csv *c, const struct columns *col,
                    const tt_weighting *w, struct file_events *fe, tt_split *s, tt_err *err)
{
    const char *uid = tt_csv_field(c, col->user), *tid = tt_csv_field(c, col->track);
    int32_t u, t;
    int a;
    float weight;

    if (tt_csv_nfields(c) < col->need)
        return tt_err_set(err, TT_EPARSE, "%s:%lld: %d fields, the header needs %d", tt_csv_name(c),
                          (long long)tt_csv_line(c), tt_csv_nfields(c), col->need);
    a = parse_action(tt_csv_field(c, col->action), tt_csv_field_len(c, col->action));
    if (a < 0)
        return tt_err_set(err, TT_EPARSE, "%s:%lld: unknown action '%s'", tt_csv_name(c),
                          (long long)tt_csv_line(c), tt_csv_field(c, col->action));
    if (parse_weight(c, col, &weight, err) < 0)
        return TT_EPARSE;
    s->file_rows++;
    u = tt_ids_find(ds->users, uid, strlen(uid));
    t = tt_ids_find(ds->tracks, tid, strlen(tid));
    if (u < 0 || t < 0) {
        s->file_unknown_user += u < 0;
        s->file_unknown_track += u >= 0 && t < 0;
        return 0;
    }
    TT_GROW(fe->v, fe->vcap, (size_t)fe->all.n + 1);
    fe->v[fe->all.n] = w->action[a] * weight;
    pairs_push(&fe->all, u, t);
    if (a == TT_ACT_DISLIKE)
        pairs_push(&fe->disliked, u, t);
    return 0;
}

static int read_file(const tt_dataset *ds, const char *path, const tt_weighting *w,
                     struct file_events *fe, tt_split *s, tt_err *err)
{
    struct columns col;
    tt_csv *c = NULL;
    int rc = tt_csv_open(path, TT_CSV_TRIM, &c, err);

    if (rc < 0)
        return rc;
    rc = find_columns(c, &col, err);
    while (rc == 0 && (rc = tt_csv_next(c, err)) == 1)
        rc = read_row(ds, c, &col, w, fe, s, err);
    tt_csv_close(c);
    return rc < 0 ? rc : 0;
}

/*
 * Relevant pairs of a file split: positive in the file, not disliked there, not heard in the
 * database, for users with a training positive.
 */
static void pick_file(const tt_dataset *ds, const tt_train_set *all, struct file_events *fe,
                      tt_split *s, struct pairs *out)
{
    int32_t nu = tt_dataset_n_users(ds), nt = tt_dataset_n_tracks(ds);
    tt_csr sum, neg;

    tt_csr_from_coo(nu, nt, fe->all.n, fe->all.u, fe->all.t, fe->v, &sum);
    tt_csr_from_coo(nu, nt, fe->disliked.n, fe->disliked.u, fe->disliked.t, NULL, &neg);
    for (int32_t u = 0; u < nu; u++) {
        bool cold = tt_csr_row_nnz(&all->conf, u) == 0, any = false;
        for (int64_t k = sum.indptr[u]; k < sum.indptr[u + 1]; k++) {
            int32_t t = sum.indices[k];
            if (sum.data[k] <= 0.0f || csr_has(&neg, u, t) || csr_has(&all->seen, u, t))
                continue;
            any = true;
            if (!cold)
                pairs_push(out, u, t);
        }
        s->file_cold_users += cold && any;
    }
    tt_csr_release(&sum);
    tt_csr_release(&neg);
}

int tt_split_from_file(const tt_dataset *ds, const char *path, const tt_weighting *w, tt_split *out,
                       tt_err *err)
{
    struct file_events fe = {0};
    struct pairs held = {0};
    tt_train_set all;
    int rc;

    if (out)
        memset(out, 0, sizeof(*out));
    if (!ds || !path || !w || !out)
        return tt_err_set(err, TT_EINVAL, "dataset, path, weighting and split are required");
    split_init(ds, TT_SPLIT_FILE, out);
    rc = read_file(ds, path, w, &fe, out, err);
    if (rc < 0)
        goto out;
    tt_train_set_build(ds, NULL, w, &all);
    pick_file(ds, &all, &fe, out, &held);
    tt_train_set_release(&all);
    pairs_to_relevant(&held, ds, out);
    list_users(out);
    count_events(out, NULL);
    out->n_test_events = fe.all.n;
out:
    free(fe.all.u);
    free(fe.all.t);
    free(fe.disliked.u);
    free(fe.disliked.t);
    free(fe.v);
    free(held.u);
    free(held.t);
    if (rc < 0)
        tt_split_release(out);
    return rc;
}
