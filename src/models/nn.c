/*
 * Neural-network building blocks: dense layers on sgemm, activations, losses, initialisers,
 * Adam, and a finite-difference gradient check. See nn.h for the conventions (row-major,
 * parameter gradients accumulate, losses return sums).
 */
#include "tt/nn.h"
#include "tt/kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void tt_nn_dense_forward(const float *X, int64_t n, int in, const float *W, const float *b,
                         int out, float *Y)
{
    if (n <= 0)
        return;
    if (b) {
        for (int64_t i = 0; i < n; i++)
            memcpy(Y + (size_t)i * out, b, (size_t)out * sizeof(float));
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, out, in, 1.0f, X, in, W, in,
                b ? 1.0f : 0.0f, Y, out);
}

static void column_sums(const float *dY, int64_t n, int out, float *db)
{
    for (int64_t i = 0; i < n; i++) {
        const float *r = dY + (size_t)i * out;
        for (int j = 0; j < out; j++)
            db[j] += r[j];
    }
}

void tt_nn_dense_backward(const float *X, int64_t n, int in, const float *W, int out,
                          const float *dY, float *dW, float *db, float *dX)
{
    if (n <= 0)
        return;
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, (int)n, 1.0f, dY, out, X,
                    in, 1.0f, dW, in);
    if (db)
        column_sums(dY, n, out, db);
    if (dX)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, out, 1.0f, dY, out, W,
                    in, 0.0f, dX, in);
}

void tt_nn_relu_forward(float *Y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        Y[i] = Y[i] > 0.0f ? Y[i] : 0.0f;
}

void tt_nn_relu_backward(const float *Y, float *dY, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dY[i] = Y[i] > 0.0f ? dY[i] : 0.0f;
}

float tt_nn_sigmoid(float x)
{
    if (x >= 0.0f)
        return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}

void tt_nn_sigmoid_forward(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tt_nn_sigmoid(x[i]);
}

void tt_nn_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

double tt_nn_bce_logits(const float *z, const float *y, const float *w, int64_t n, float scale,
                        float *dz)
{
    double sum = 0.0;

    for (int64_t i = 0; i < n; i++) {
        double zi = z[i], wi = w ? w[i] : 1.0;
        sum += wi * ((zi > 0.0 ? zi : 0.0) - zi * y[i] + log1p(exp(-fabs(zi))));
        if (dz)
            dz[i] = scale * (float)wi * (tt_nn_sigmoid(z[i]) - y[i]);
    }
    return sum;
}

double tt_nn_mse(const float *p, const float *y, int64_t n, float scale, float *dp)
{
    double sum = 0.0;

    for (int64_t i = 0; i < n; i++) {
        double d = (double)p[i] - y[i];
        sum += d * d;
        if (dp)
            dp[i] = scale * 2.0f * (p[i] - y[i]);
    }
    return sum;
}

void tt_nn_init_he(float *W, int64_t n, int fan_in, tt_rng *r)
{
    tt_nn_init_normal(W, n, (float)sqrt(2.0 / (fan_in > 0 ? fan_in : 1)), r);
}

void tt_nn_init_xavier(float *W, int64_t n, int fan_in, int fan_out, tt_rng *r)
{
    double a = sqrt(6.0 / (fan_in + fan_out > 0 ? fan_in + fan_out : 1));

    for (int64_t i = 0; i < n; i++)
        W[i] = (float)((2.0 * tt_rng_uniform(r) - 1.0) * a);
}

void tt_nn_init_normal(float *W, int64_t n, float std, tt_rng *r)
{
    for (int64_t i = 0; i < n; i++)
        W[i] = (float)(tt_rng_normal(r) * std);
}

/* ---- Adam ---- */

tt_adam_params tt_adam_params_default(void)
{
    return (tt_adam_params){.lr = 0.001f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
}

void tt_adam_init(tt_adam *a, int64_t n, const tt_adam_params *p)
{
    a->p = *p;
    a->n = n;
    a->t = 0;
    a->m = tt_calloc((size_t)n + 1, sizeof(float));
    a->v = tt_calloc((size_t)n + 1, sizeof(float));
}

void tt_adam_release(tt_adam *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
}

/*
 * The step size with both bias corrections folded in (Kingma & Ba, end of section 2):
 * lr sqrt(1 - beta2^t) / (1 - beta1^t).
 */
static float step_size(const tt_adam *a)
{
    double t = (double)a->t;
    return (float)(a->p.lr * sqrt(1.0 - pow(a->p.beta2, t)) / (1.0 - pow(a->p.beta1, t)));
}

/*
 * The Adam update of @n parameters at @w with moments @m, @v (all contiguous). Cloned for
 * AVX2: the lazy embedding updates are the largest serial part of NeuMF's training step.
 */
TT_CLONES static void adam_span(const tt_adam_params *p, float lr_t, float *restrict w, float *restrict m,
                      float *restrict v, const float *restrict g, int64_t n)
{
    const float b1 = p->beta1, b2 = p->beta2, l2 = p->l2, eps = p->eps;

    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + l2 * w[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        w[i] -= lr_t * m[i] / (sqrtf(v[i]) + eps);
    }
}

void tt_adam_step(tt_adam *a, float *w, const float *g)
{
    a->t++;
    adam_span(&a->p, step_size(a), w, a->m, a->v, g, a->n);
}

void tt_adam_begin(tt_adam *a)
{
    a->t++;
}

#define PREFETCH_ROWS 4

static inline void prefetch_row(const tt_adam *a, const float *w, size_t o, int dim)
{
    for (int j = 0; j < dim; j += 16) {
        __builtin_prefetch(w + o + j, 1);
        __builtin_prefetch(a->m + o + j, 1);
        __builtin_prefetch(a->v + o + j, 1);
    }
}

void tt_adam_update_rows(const tt_adam *a, float *w, int dim, const int32_t *rows, int64_t n,
                         const float *G)
{
    float lr_t = step_size(a);

    for (int64_t i = 0; i < n; i++) {
        size_t o = (size_t)rows[i] * dim;
        /*
         * Rows are scattered over tables far larger than the caches: fetching a few rows
         * ahead overlaps their misses with this row's arithmetic.
         */
        if (i + PREFETCH_ROWS < n)
            prefetch_row(a, w, (size_t)rows[i + PREFETCH_ROWS] * dim, dim);
        adam_span(&a->p, lr_t, w + o, a->m + o, a->v + o, G + (size_t)i * dim, dim);
    }
}

/* ---- gradient check ---- */

double tt_nn_gradcheck(tt_nn_loss_fn f, void *ctx, float *x, const float *grad, int64_t n,
                       float h, double floor)
{
    double worst = 0.0;

    for (int64_t i = 0; i < n; i++) {
        float keep = x[i];
        double up, down, fd, e;
        x[i] = keep + h;
        up = f(ctx);
        x[i] = keep - h;
        down = f(ctx);
        x[i] = keep;
        /* The step actually taken in float, not the nominal h. */
        fd = (up - down) / ((double)(keep + h) - (double)(keep - h));
        e = fabs(grad[i] - fd) / fmax(fabs(grad[i]) + fabs(fd), floor);
        if (e > worst)
            worst = e;
    }
    return worst;
}
