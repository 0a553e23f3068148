/*
 * nn.h - small neural-network building blocks for the models that learn by gradient descent
 * (NeuMF now; a content-to-factors regressor and a learned ranker later).
 *
 * Conventions: row-major float arrays, one sample per row of a mini-batch of @n rows. A dense
 * layer of @in inputs and @out outputs has weights W (out x in, row-major) and bias b (out),
 * and computes Y = X W' + b. Backward functions ACCUMULATE parameter gradients (dW += ...,
 * db += ...), so the caller zeroes them once per step and may sum several slices of a batch
 * into them; input gradients (dX) are overwritten. Losses return the SUM of per-element
 * losses (in double) and write the gradient of @scale times that sum, so a mean over a batch
 * split across threads is scale = 1 / batch in every slice.
 *
 * Every function here is pure arithmetic on caller-owned memory: thread-safe on disjoint
 * outputs, and deterministic (the same inputs give bit-identical outputs).
 */
#ifndef TT_NN_H
#define TT_NN_H

#include <stdint.h>

#include "tt/core.h"

/* ---- layers ---------------------------------------------------------------------------- */

/* Y (n x out) = X (n x in) W' + b, with one sgemm. @b may be NULL (no bias). */
void tt_nn_dense_forward(const float *X, int64_t n, int in, const float *W, const float *b,
                         int out, float *Y);
/*
 * Gradients of a dense layer given dY (n x out): dW (out x in) += dY' X, db (out) += the
 * column sums of dY, dX (n x in) = dY W. Any of @dW, @db, @dX may be NULL to skip it.
 */
void tt_nn_dense_backward(const float *X, int64_t n, int in, const float *W, int out,
                          const float *dY, float *dW, float *db, float *dX);

/* Y = max(Y, 0) in place over @n values. */
void tt_nn_relu_forward(float *Y, int64_t n);
/* dY *= (Y > 0), with Y the ReLU's output: the gradient through it, in place. */
void tt_nn_relu_backward(const float *Y, float *dY, int64_t n);

/* The logistic function, stable for large |x|. */
float tt_nn_sigmoid(float x);
/* y = sigmoid(x) over @n values (@y may be @x). */
void tt_nn_sigmoid_forward(const float *x, float *y, int64_t n);
/* dx = dy * y (1 - y), with y the sigmoid's output. */
void tt_nn_sigmoid_backward(const float *y, const float *dy, float *dx, int64_t n);

/* ---- losses ---------------------------------------------------------------------------- */

/*
 * Binary cross-entropy of logits @z against labels @y (0..1), @n values, computed as
 * max(z, 0) - z y + log(1 + exp(-|z|)) so no exp overflows. @w: per-value weights, or NULL
 * for all ones. Returns sum w (loss); @dz (may be NULL) gets scale * w (sigmoid(z) - y).
 */
double tt_nn_bce_logits(const float *z, const float *y, const float *w, int64_t n, float scale,
                        float *dz);
/* Squared error sum (p - y)^2 over @n values; @dp (may be NULL) gets scale * 2 (p - y). */
double tt_nn_mse(const float *p, const float *y, int64_t n, float scale, float *dp);

/* ---- initialisation -------------------------------------------------------------------- */

/* He et al. (2015) normal init for ReLU layers: N(0, 2 / fan_in), @n values. */
void tt_nn_init_he(float *W, int64_t n, int fan_in, tt_rng *r);
/* Glorot & Bengio (2010) uniform init: U(-a, a), a = sqrt(6 / (fan_in + fan_out)). */
void tt_nn_init_xavier(float *W, int64_t n, int fan_in, int fan_out, tt_rng *r);
/* N(0, std^2), the usual init of embedding tables. */
void tt_nn_init_normal(float *W, int64_t n, float std, tt_rng *r);

/* ---- Adam (Kingma & Ba 2015) ----------------------------------------------------------- */

typedef struct tt_adam_params {
    float lr;           /* step size (default 0.001) */
    float beta1, beta2; /* moment decay rates (0.9, 0.999) */
    float eps;          /* denominator guard (1e-8) */
    float l2;           /* L2 weight decay: lambda w is added to the gradient (default 0) */
} tt_adam_params;

tt_adam_params tt_adam_params_default(void);

/*
 * Optimiser state of one parameter block of @n floats: first and second moments and the
 * step count. Initialise with tt_adam_init, release with tt_adam_release.
 */
typedef struct tt_adam {
    tt_adam_params p;
    int64_t n;
    int64_t t; /* steps taken */
    float *m, *v;
} tt_adam;

void tt_adam_init(tt_adam *a, int64_t n, const tt_adam_params *p);
void tt_adam_release(tt_adam *a);

/* One step over the whole block: w (n) -= update from gradient g (n). */
void tt_adam_step(tt_adam *a, float *w, const float *g);

/*
 * Starts a step of the lazy (sparse) variant: counts the step for the bias corrections.
 * Then tt_adam_update_rows updates the rows touched in this step, possibly from several
 * threads on disjoint rows.
 */
void tt_adam_begin(tt_adam *a);
/*
 * The lazy update of a table of rows x @dim floats (the block of @a): row rows[i] of @w
 * moves by the gradient row i of @G (n x dim). Only those rows and their moments change;
 * untouched rows keep stale moments, as TensorFlow's LazyAdam does, so a step costs the
 * batch, not the table. Rows must be distinct.
 */
void tt_adam_update_rows(const tt_adam *a, float *w, int dim, const int32_t *rows, int64_t n,
                         const float *G);

/* ---- gradient check -------------------------------------------------------------------- */

/* A scalar loss of the parameters it closes over (through @ctx). */
typedef double (*tt_nn_loss_fn)(void *ctx);

/*
 * Compares the analytic gradient @grad of loss @f with respect to the @n floats of @x with
 * central finite differences of step @h: returns the largest relative error
 * |g - fd| / max(|g| + |fd|, @floor) over the @n entries. @x is perturbed and restored.
 */
double tt_nn_gradcheck(tt_nn_loss_fn f, void *ctx, float *x, const float *grad, int64_t n,
                       float h, double floor);

#endif
