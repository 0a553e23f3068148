/*
 * The deep content model (tt/deep_content.h): content vector -> ALS track factors, learned by
 * an MLP of two ReLU layers and a linear output, MSE loss, Adam, on the tracks that have
 * enough listeners for ALS's factors to mean something.
 *
 * Why the targets are scaled: ALS factors of popular tracks are long and those of rarely
 * played ones short, and a regression on raw factors spends itself on the lengths. The net
 * learns the factors divided by their RMS over the training tracks (one scalar), and the
 * prediction is scaled back, so its scores sit on ALS's scale.
 */
#include "tt/deep_content.h"
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct dc_model {
    tt_model base;
    tt_deep_content_params p;
    int d, k, h1, h2;   /* content dims, factors, hidden units */
    float scale;        /* target RMS the net's outputs are multiplied by */
    uint64_t als_print; /* fingerprint of the ALS track factors trained against */
    double cosine;      /* validation: mean cosine(predicted, ALS) on held-out tracks */
    int32_t n_train;    /* tracks learned from */
    const float *Y;     /* n_tracks x k predicted factors (file or owned) */
    float *owned_Y;
    const float *W[3], *b[3]; /* the network, for the record: file or owned */
    float *owned_w;
    const tt_model *als;
    tt_model *owned_als;
    tt_mfile *file;
} dc_model;

static const struct tt_model_ops dc_ops;

static dc_model *dm(const tt_model *m)
{
    return m && m->ops == &dc_ops ? (dc_model *)(uintptr_t)m : NULL;
}

tt_deep_content_params tt_deep_content_params_default(void)
{
    return (tt_deep_content_params){.hidden = 256,
                                    .epochs = 40,
                                    .batch = 128,
                                    .lr = 0.001f,
                                    .l2 = 1e-5f,
                                    .min_listeners = 3,
                                    .seed = 42};
}

static uint64_t factors_print(const tt_model *als)
{
    int k = 0;
    const float *inv;
    const float *y = tt_als_track_factors(als, &k, &inv);

    return y ? tt_hash64(y, (size_t)als->n_tracks * k * sizeof(float)) ^ (uint64_t)k : 0;
}

/* ---- the network ---- */

struct net {
    int d, h1, h2, k;
    float *w;          /* all parameters, contiguous: W1 b1 W2 b2 W3 b3 */
    float *W[3], *b[3];
    int64_t n;         /* parameter count */
};

static void net_layout(struct net *nt, float *w)
{
    int in[3] = {nt->d, nt->h1, nt->h2}, out[3] = {nt->h1, nt->h2, nt->k};
    int64_t o = 0;

    nt->w = w;
    for (int l = 0; l < 3; l++) {
        nt->W[l] = w + o;
        o += (int64_t)in[l] * out[l];
        nt->b[l] = w + o;
        o += out[l];
    }
    nt->n = o;
}

static int64_t net_size(int d, int h1, int h2, int k)
{
    return (int64_t)d * h1 + h1 + (int64_t)h1 * h2 + h2 + (int64_t)h2 * k + k;
}

/* Activations of a batch of @n rows: A1 (n x h1), A2 (n x h2), P (n x k). */
struct acts {
    float *A1, *A2, *P;
};

static void forward(const struct net *nt, const float *X, int64_t n, struct acts *a)
{
    tt_nn_dense_forward(X, n, nt->d, nt->W[0], nt->b[0], nt->h1, a->A1);
    tt_nn_relu_forward(a->A1, n * nt->h1);
    tt_nn_dense_forward(a->A1, n, nt->h1, nt->W[1], nt->b[1], nt->h2, a->A2);
    tt_nn_relu_forward(a->A2, n * nt->h2);
    tt_nn_dense_forward(a->A2, n, nt->h2, nt->W[2], nt->b[2], nt->k, a->P);
}

/* Gradients into @g (laid out as the parameters) of the loss whose dP is given. */
static void backward(const struct net *nt, const float *X, int64_t n, const struct acts *a,
                     float *dP, float *d2, float *d1, struct net *g)
{
    tt_nn_dense_backward(a->A2, n, nt->h2, nt->W[2], nt->k, dP, g->W[2], g->b[2], d2);
    tt_nn_relu_backward(a->A2, d2, n * nt->h2);
    tt_nn_dense_backward(a->A1, n, nt->h1, nt->W[1], nt->h2, d2, g->W[1], g->b[1], d1);
    tt_nn_relu_backward(a->A1, d1, n * nt->h1);
    tt_nn_dense_backward(X, n, nt->d, nt->W[0], nt->h1, d1, g->W[0], g->b[0], NULL);
}

/* ---- training ---- */

struct fitdata {
    const float *X;  /* n_tracks x d content vectors */
    float *T;        /* n_tracks x k scaled targets */
    int32_t *train, *hold;
    int32_t n_train, n_hold;
};

/* Tracks with enough listeners and a content vector, split 90/10 (seeded). */
static void pick_tracks(const tt_train_set *ts, const tt_deep_content_params *p, const float *X,
                        int d, tt_rng *rng, struct fitdata *fd)
{
    int32_t nt = ts->conf.cols, n = 0, *cnt = tt_calloc((size_t)nt + 1, sizeof(int32_t));
    int32_t *all = tt_malloc(((size_t)nt + 1) * sizeof(int32_t));

    for (int64_t i = 0; i < ts->conf.nnz; i++)
        cnt[ts->conf.indices[i]]++;
    for (int32_t t = 0; t < nt; t++) {
        const float *x = X + (size_t)t * d;
        float s = 0;
        for (int j = 0; j < d; j++)
            s += x[j] * x[j];
        if (cnt[t] >= p->min_listeners && s > 0)
            all[n++] = t;
    }
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)tt_rng_below(rng, (uint64_t)i + 1), tmp = all[i];
        all[i] = all[j];
        all[j] = tmp;
    }
    fd->n_hold = n / 10;
    fd->hold = all;
    fd->train = all + fd->n_hold;
    fd->n_train = n - fd->n_hold;
    free(cnt);
}

static void gather_rows(const float *src, int dim, const int32_t *idx, int64_t n, float *dst)
{
    for (int64_t i = 0; i < n; i++)
        memcpy(dst + i * dim, src + (size_t)idx[i] * dim, (size_t)dim * sizeof(float));
}

static double cosine(const float *a, const float *b, int k)
{
    double ab = 0, aa = 0, bb = 0;

    for (int j = 0; j < k; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 0.0;
}

/* Mean cosine of the net's predictions and the targets of tracks @idx. */
static double mean_cosine(const struct net *nt, const struct fitdata *fd, const int32_t *idx,
                          int32_t n, struct acts *a, float *Xb, int batch)
{
    double sum = 0;

    for (int32_t b = 0; b < n; b += batch) {
        int32_t m = n - b < batch ? n - b : batch;
        gather_rows(fd->X, nt->d, idx + b, m, Xb);
        forward(nt, Xb, m, a);
        for (int32_t i = 0; i < m; i++)
            sum += cosine(a->P + (size_t)i * nt->k, fd->T + (size_t)idx[b + i] * nt->k, nt->k);
    }
    return n > 0 ? sum / n : 0.0;
}

/* Epochs of Adam over shuffled mini-batches of the training tracks. */
static void fit(struct net *nt, const struct fitdata *fd, const tt_deep_content_params *p,
                tt_rng *rng)
{
    int bs = p->batch;
    struct acts a = {tt_malloc((size_t)bs * nt->h1 * sizeof(float)),
                     tt_malloc((size_t)bs * nt->h2 * sizeof(float)),
                     tt_malloc((size_t)bs * nt->k * sizeof(float))};
    float *Xb = tt_malloc((size_t)bs * nt->d * sizeof(float));
    float *Tb = tt_malloc((size_t)bs * nt->k * sizeof(float));
    float *dP = tt_malloc((size_t)bs * nt->k * sizeof(float));
    float *d2 = tt_malloc((size_t)bs * nt->h2 * sizeof(float));
    float *d1 = tt_malloc((size_t)bs * nt->h1 * sizeof(float));
    float *gw = tt_malloc((size_t)nt->n * sizeof(float));
    int32_t *order = tt_malloc(((size_t)fd->n_train + 1) * sizeof(int32_t));
    tt_adam_params ap = tt_adam_params_default();
    struct net g = *nt;
    tt_adam adam;

    ap.lr = p->lr;
    ap.l2 = p->l2;
    tt_adam_init(&adam, nt->n, &ap);
    net_layout(&g, gw);
    memcpy(order, fd->train, (size_t)fd->n_train * sizeof(int32_t));
    for (int e = 0; e < p->epochs; e++) {
        for (int32_t i = fd->n_train - 1; i > 0; i--) {
            int32_t j = (int32_t)tt_rng_below(rng, (uint64_t)i + 1), tmp = order[i];
            order[i] = order[j];
            order[j] = tmp;
        }
        for (int32_t b = 0; b < fd->n_train; b += bs) {
            int32_t m = fd->n_train - b < bs ? fd->n_train - b : bs;
            gather_rows(fd->X, nt->d, order + b, m, Xb);
            gather_rows(fd->T, nt->k, order + b, m, Tb);
            forward(nt, Xb, m, &a);
            tt_nn_mse(a.P, Tb, (int64_t)m * nt->k, 1.0f / (float)m, dP);
            memset(gw, 0, (size_t)nt->n * sizeof(float));
            backward(nt, Xb, m, &a, dP, d2, d1, &g);
            tt_adam_step(&adam, nt->w, gw);
        }
    }
    tt_adam_release(&adam);
    free(a.A1);
    free(a.A2);
    free(a.P);
    free(Xb);
    free(Tb);
    free(dP);
    free(d2);
    free(d1);
    free(gw);
    free(order);
}

/* Predicted factors of every track, scaled back to ALS's scale. */
static float *predict_all(const struct net *nt, const float *X, int32_t n_tracks, float scale)
{
    int bs = 512;
    float *Y = tt_malloc(((size_t)n_tracks * nt->k + 1) * sizeof(float));
    struct acts a = {tt_malloc((size_t)bs * nt->h1 * sizeof(float)),
                     tt_malloc((size_t)bs * nt->h2 * sizeof(float)), NULL};

    for (int32_t b = 0; b < n_tracks; b += bs) {
        int32_t m = n_tracks - b < bs ? n_tracks - b : bs;
        a.P = Y + (size_t)b * nt->k;
        forward(nt, X + (size_t)b * nt->d, m, &a);
    }
    for (int64_t i = 0; i < (int64_t)n_tracks * nt->k; i++)
        Y[i] *= scale;
    free(a.A1);
    free(a.A2);
    return Y;
}

static int check_params(const tt_deep_content_params *p, tt_err *err)
{
    if (p->hidden < 2 || p->hidden > 4096 || p->epochs < 1 || p->batch < 1 || p->batch > 65536 ||
        !(p->lr > 0) || !(p->l2 >= 0) || p->min_listeners < 1)
        return tt_err_set(err, TT_EINVAL,
                          "deep_content: hidden in 2..4096, epochs >= 1, batch in 1..65536, "
                          "lr > 0, l2 >= 0 and min_listeners >= 1 are required");
    return 0;
}

int tt_deep_content_train(const tt_train_set *ts, const tt_deep_content_params *p,
                          tt_model *als, bool take_als, const tt_model *content, tt_model **out,
                          tt_err *err)
{
    int d = 0, k = 0, rc = check_params(p, err);
    const float *inv, *X = content ? tt_content_model_vectors(content, &d) : NULL;
    const float *Yals = als ? tt_als_track_factors(als, &k, &inv) : NULL;
    double t0 = tt_now(), ss = 0;
    struct fitdata fd = {0};
    struct net nt = {0};
    dc_model *m;
    tt_rng rng;

    if (rc < 0)
        return rc;
    if (!X || !Yals || als->n_tracks != ts->conf.cols || content->n_tracks != ts->conf.cols)
        return tt_err_set(err, TT_EINVAL,
                          "deep_content: an ALS and a content model of this catalog are needed");
    tt_rng_seed(&rng, p->seed, 0x6463);
    fd.X = X;
    pick_tracks(ts, p, X, d, &rng, &fd);
    if (fd.n_train < 20) {
        free(fd.hold);
        return tt_err_set(err, TT_ESTATE, "deep_content: only %d tracks have %d listeners and "
                                          "content to learn from (20 needed)",
                          fd.n_train, p->min_listeners);
    }
    for (int32_t i = 0; i < fd.n_train; i++)
        for (int j = 0; j < k; j++) {
            float y = Yals[(size_t)fd.train[i] * k + j];
            ss += (double)y * y;
        }
    m = tt_calloc(1, sizeof(*m));
    m->scale = (float)sqrt(ss / ((double)fd.n_train * k));
    m->scale = m->scale > 0 ? m->scale : 1.0f;
    fd.T = tt_malloc(((size_t)ts->conf.cols * k + 1) * sizeof(float));
    for (int64_t i = 0; i < (int64_t)ts->conf.cols * k; i++)
        fd.T[i] = Yals[i] / m->scale;
    nt = (struct net){.d = d, .h1 = p->hidden, .h2 = p->hidden / 2, .k = k};
    m->owned_w = tt_malloc((size_t)net_size(d, nt.h1, nt.h2, k) * sizeof(float));
    net_layout(&nt, m->owned_w);
    tt_nn_init_he(nt.W[0], (int64_t)nt.h1 * d, d, &rng);
    tt_nn_init_he(nt.W[1], (int64_t)nt.h2 * nt.h1, nt.h1, &rng);
    tt_nn_init_xavier(nt.W[2], (int64_t)k * nt.h2, nt.h2, k, &rng);
    memset(nt.b[0], 0, (size_t)nt.h1 * sizeof(float));
    memset(nt.b[1], 0, (size_t)nt.h2 * sizeof(float));
    memset(nt.b[2], 0, (size_t)k * sizeof(float));
    tt__blas_single_threaded();
    fit(&nt, &fd, p, &rng);
    {
        int bs = p->batch;
        struct acts a = {tt_malloc((size_t)bs * nt.h1 * sizeof(float)),
                         tt_malloc((size_t)bs * nt.h2 * sizeof(float)),
                         tt_malloc((size_t)bs * k * sizeof(float))};
        float *Xb = tt_malloc((size_t)bs * d * sizeof(float));
        m->cosine = mean_cosine(&nt, &fd, fd.hold, fd.n_hold, &a, Xb, bs);
        free(a.A1);
        free(a.A2);
        free(a.P);
        free(Xb);
    }
    m->base.ops = &dc_ops;
    snprintf(m->base.name, sizeof(m->base.name), "deep_content");
    m->base.catalog = tt_catalog_checksum(ts->ds);
    m->base.n_users = ts->conf.rows;
    m->base.n_tracks = ts->conf.cols;
    m->base.trained_at = tt_unix_time();
    m->p = *p;
    m->d = d;
    m->k = k;
    m->h1 = nt.h1;
    m->h2 = nt.h2;
    m->n_train = fd.n_train;
    m->als_print = factors_print(als);
    for (int l = 0; l < 3; l++) {
        m->W[l] = nt.W[l];
        m->b[l] = nt.b[l];
    }
    m->owned_Y = predict_all(&nt, X, ts->conf.cols, m->scale);
    m->Y = m->owned_Y;
    m->als = als;
    m->owned_als = take_als ? als : NULL;
    m->base.train_seconds = tt_now() - t0;
    free(fd.T);
    free(fd.hold);
    *out = &m->base;
    return 0;
}

int tt_deep_content_attach(tt_model *mm, const tt_model *als, tt_err *err)
{
    dc_model *m = dm(mm);

    if (!m)
        return tt_err_set(err, TT_EINVAL, "not a deep content model");
    if (tt_als_factors(als) != m->k || als->n_tracks != mm->n_tracks)
        return tt_err_set(err, TT_EINVAL, "deep_content needs an ALS model of %d factors over "
                                          "its catalog", m->k);
    if (factors_print(als) != m->als_print)
        return tt_err_set(err, TT_EINVAL, "deep_content was trained against other ALS factors: "
                                          "train the pro tier and ALS together");
    m->als = als;
    return 0;
}

const float *tt_deep_content_factors(const tt_model *mm, int *k)
{
    const dc_model *m = dm(mm);

    if (!m)
        return NULL;
    *k = m->k;
    return m->Y;
}

bool tt_deep_content_fit_of(const tt_model *mm, double *cos, int32_t *tracks)
{
    const dc_model *m = dm(mm);

    if (!m)
        return false;
    *cos = m->cosine;
    *tracks = m->n_train;
    return true;
}

/* The listener's ALS vector into @buf (k floats): folded in, or as trained. */
static int listener(const dc_model *m, const tt_query *q, float *buf, tt_err *err)
{
    const float *x;

    if (!m->als)
        return tt_err_set(err, TT_ESTATE, "the deep content model has no ALS model attached");
    if (q->n_hist > 0)
        return tt_als_fold_in(m->als, q->hist, q->hist_conf, q->n_hist, buf, err);
    x = tt_als_user_vector(m->als, q->user);
    if (!x)
        return tt_err_set_field(err, TT_ENOTFOUND, "user_id", "no history for this listener");
    memcpy(buf, x, (size_t)m->k * sizeof(float));
    return 0;
}

static float dotk(const float *a, const float *b, int k)
{
    float s = 0;

    for (int j = 0; j < k; j++)
        s += a[j] * b[j];
    return s;
}

int tt_deep_content_score(const tt_model *mm, const tt_query *q, const int32_t *tracks, int32_t n,
                          float *out, tt_err *err)
{
    const dc_model *m = dm(mm);
    float x[1024];
    int rc;

    if (!m)
        return tt_err_set(err, TT_EINVAL, "not a deep content model");
    if ((rc = listener(m, q, x, err)) < 0)
        return rc;
    for (int32_t i = 0; i < n; i++)
        out[i] = tracks[i] >= 0 && tracks[i] < mm->n_tracks
                     ? dotk(x, m->Y + (size_t)tracks[i] * m->k, m->k)
                     : -INFINITY;
    return 0;
}

static int dc_recommend(const tt_model *mm, const tt_query *q, int k, tt_scored *out, int *n_out,
                        tt_err *err)
{
    const dc_model *m = dm(mm);
    float x[1024];
    tt_topk top;
    int rc;

    *n_out = 0;
    if ((rc = listener(m, q, x, err)) < 0)
        return rc;
    tt_topk_init(&top, out, k);
    for (int32_t t = 0, e = 0; t < mm->n_tracks; t++) {
        while (e < q->n_exclude && q->exclude[e] < t)
            e++;
        if ((e < q->n_exclude && q->exclude[e] == t) || (q->allow && !q->allow[t]))
            continue;
        tt_topk_push(&top, t, dotk(x, m->Y + (size_t)t * m->k, m->k));
    }
    *n_out = tt_topk_finish(&top);
    return 0;
}

/* ---- files ---- */

#define DF(name, type, member, ...) {name, type, TT_MF_AT(dc_model, member), __VA_ARGS__}

static const tt_mfield dc_fields[] = {
    DF("hidden", TT_MF_I32, p.hidden, .lo = 2, .hi = 4096),
    DF("epochs", TT_MF_I32, p.epochs, .lo = 1, .hi = 1e6),
    DF("batch", TT_MF_I32, p.batch, .lo = 1, .hi = 65536),
    DF("lr", TT_MF_F32, p.lr, .lo = 0, .hi = 10),
    DF("l2", TT_MF_F32, p.l2, .lo = 0, .hi = 10),
    DF("min_listeners", TT_MF_I32, p.min_listeners, .lo = 1, .hi = INT32_MAX),
    DF("seed", TT_MF_U64, p.seed),
    DF("content_dims", TT_MF_I32, d, .lo = 1, .hi = 65536),
    DF("factors", TT_MF_I32, k, .lo = 1, .hi = 1024),
    DF("hidden1", TT_MF_I32, h1, .lo = 2, .hi = 4096),
    DF("hidden2", TT_MF_I32, h2, .lo = 1, .hi = 4096),
    DF("scale", TT_MF_F32, scale, .lo = 0, .hi = 1e9),
    DF("als_fingerprint", TT_MF_U64, als_print),
    DF("validation_cosine", TT_MF_F64, cosine, .lo = -1, .hi = 1),
    DF("train_tracks", TT_MF_I32, n_train, .lo = 0, .hi = INT32_MAX),
    TT_MODEL_MFIELDS(dc_model, base),
};
#define N_DC_FIELDS ((int)(sizeof(dc_fields) / sizeof(dc_fields[0])))

static const char *const layer_names[3][2] = {{"w1", "b1"}, {"w2", "b2"}, {"w3", "b3"}};

static void layer_shape(const dc_model *m, int l, int64_t *out, int64_t *in)
{
    int ins[3] = {m->d, m->h1, m->h2}, outs[3] = {m->h1, m->h2, m->k};

    *out = outs[l];
    *in = ins[l];
}

static int dc_save(const tt_model *mm, const char *path, tt_err *err)
{
    const dc_model *m = dm(mm);
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "deep_content", mm->catalog, &w, err);

    if (rc < 0)
        return rc;
    rc = tt_mfile_put_meta(w, dc_fields, N_DC_FIELDS, m, err);
    for (int l = 0; rc == 0 && l < 3; l++) {
        int64_t o, i;
        layer_shape(m, l, &o, &i);
        rc = tt_mfile_add(w, layer_names[l][0], TT_DT_F32, o, i, m->W[l], err);
        if (rc == 0)
            rc = tt_mfile_add(w, layer_names[l][1], TT_DT_F32, o, 1, m->b[l], err);
    }
    if (rc == 0)
        rc = tt_mfile_add(w, "factors", TT_DT_F32, mm->n_tracks, m->k, m->Y, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

int tt__deep_content_load(tt_mfile *f, tt_model **out, tt_err *err)
{
    dc_model *m = tt_calloc(1, sizeof(*m));
    int64_t rows, cols;
    const void *p;
    int rc;

    m->base.ops = &dc_ops;
    rc = tt_mfile_get_meta(f, dc_fields, N_DC_FIELDS, m, err);
    for (int l = 0; rc == 0 && l < 3; l++) {
        layer_shape(m, l, &rows, &cols);
        rc = tt_mfile_get(f, layer_names[l][0], TT_DT_F32, &rows, &cols, &p, err);
        m->W[l] = p;
        cols = 1;
        if (rc == 0)
            rc = tt_mfile_get(f, layer_names[l][1], TT_DT_F32, &rows, &cols, &p, err);
        m->b[l] = p;
    }
    rows = m->base.n_tracks;
    cols = m->k;
    if (rc == 0)
        rc = tt_mfile_get(f, "factors", TT_DT_F32, &rows, &cols, &p, err);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->Y = p;
    for (int64_t i = 0; i < rows * cols; i++)
        if (!isfinite(m->Y[i])) {
            free(m);
            return tt_err_set(err, TT_ECORRUPT, "model file %s refused: non-finite factors",
                              tt_mfile_path(f));
        }
    snprintf(m->base.name, sizeof(m->base.name), "deep_content");
    m->base.catalog = tt_mfile_catalog(f);
    m->file = f;
    *out = &m->base;
    return 0;
}

static void dc_free(tt_model *mm)
{
    dc_model *m = dm(mm);

    tt_model_free(m->owned_als);
    free(m->owned_Y);
    free(m->owned_w);
    tt_mfile_close(m->file);
    free(m);
}

static const struct tt_model_ops dc_ops = {
    .kind = "deep_content",
    .recommend = dc_recommend,
    .save = dc_save,
    .free = dc_free,
};
