/*
 * Neural-network blocks: every layer's and loss's gradient against central finite
 * differences (dense, ReLU, sigmoid, BCE with logits, MSE, an embedding lookup with the GMF
 * element-wise product, a two-layer MLP), Adam (dense and lazy) on convex problems, and
 * deterministic initialisation.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "tt/core.h"
#include "tt/nn.h"

/* Relative-error bound of the gradient checks: float forward passes, double sums. */
#define TOL 2e-2
#define H 1e-2f

static void fill(float *x, int64_t n, float lo, float hi, uint64_t seed)
{
    tt_rng r;

    tt_rng_seed(&r, seed, 0);
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)tt_rng_uniform(&r);
}

/* Values away from zero, so a ReLU kink is never within a finite-difference step. */
static void fill_away_from_zero(float *x, int64_t n, uint64_t seed)
{
    fill(x, n, 0.1f, 1.0f, seed);
    for (int64_t i = 0; i < n; i += 2)
        x[i] = -x[i];
}

static double dot_d(const float *a, const float *b, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* ---- dense: loss = sum(Y .* R), so dY = R ---- */

#define N 6
#define IN 5
#define OUT 4

struct dense_case {
    float X[N * IN], W[OUT * IN], b[OUT], R[N * OUT], Y[N * OUT];
};

static double dense_loss(void *ctx)
{
    struct dense_case *c = ctx;
    tt_nn_dense_forward(c->X, N, IN, c->W, c->b, OUT, c->Y);
    return dot_d(c->Y, c->R, N * OUT);
}

Test(nn, dense_gradients_match_finite_differences)
{
    struct dense_case c;
    float dW[OUT * IN] = {0}, db[OUT] = {0}, dX[N * IN];

    fill(c.X, N * IN, -1, 1, 1);
    fill(c.W, OUT * IN, -1, 1, 2);
    fill(c.b, OUT, -1, 1, 3);
    fill(c.R, N * OUT, -1, 1, 4);
    tt_nn_dense_backward(c.X, N, IN, c.W, OUT, c.R, dW, db, dX);
    cr_assert_lt(tt_nn_gradcheck(dense_loss, &c, c.W, dW, OUT * IN, H, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(dense_loss, &c, c.b, db, OUT, H, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(dense_loss, &c, c.X, dX, N * IN, H, 1e-3), TOL);
}

Test(nn, dense_backward_accumulates_parameter_gradients)
{
    struct dense_case c;
    float dW1[OUT * IN] = {0}, db1[OUT] = {0}, dW2[OUT * IN] = {0}, db2[OUT] = {0};

    fill(c.X, N * IN, -1, 1, 1);
    fill(c.W, OUT * IN, -1, 1, 2);
    fill(c.R, N * OUT, -1, 1, 4);
    /* The whole batch at once equals its two halves summed. */
    tt_nn_dense_backward(c.X, N, IN, c.W, OUT, c.R, dW1, db1, NULL);
    tt_nn_dense_backward(c.X, N / 2, IN, c.W, OUT, c.R, dW2, db2, NULL);
    tt_nn_dense_backward(c.X + N / 2 * IN, N - N / 2, IN, c.W, OUT, c.R + N / 2 * OUT, dW2,
                         db2, NULL);
    for (int i = 0; i < OUT * IN; i++)
        cr_assert_float_eq(dW1[i], dW2[i], 1e-5);
    for (int i = 0; i < OUT; i++)
        cr_assert_float_eq(db1[i], db2[i], 1e-5);
}

/* ---- ReLU and sigmoid: loss = sum(f(X) .* R) ---- */

struct act_case {
    float X[N * IN], R[N * IN], Y[N * IN];
    int sigmoid;
};

static double act_loss(void *ctx)
{
    struct act_case *c = ctx;
    if (c->sigmoid) {
        tt_nn_sigmoid_forward(c->X, c->Y, N * IN);
    } else {
        memcpy(c->Y, c->X, sizeof(c->X));
        tt_nn_relu_forward(c->Y, N * IN);
    }
    return dot_d(c->Y, c->R, N * IN);
}

Test(nn, relu_gradient_matches_finite_differences)
{
    struct act_case c = {.sigmoid = 0};
    float d[N * IN];

    fill_away_from_zero(c.X, N * IN, 5);
    fill(c.R, N * IN, -1, 1, 6);
    act_loss(&c);
    memcpy(d, c.R, sizeof(d));
    tt_nn_relu_backward(c.Y, d, N * IN);
    for (int i = 0; i < N * IN; i++)
        cr_assert(c.X[i] > 0 ? d[i] == c.R[i] : d[i] == 0.0f);
    cr_assert_lt(tt_nn_gradcheck(act_loss, &c, c.X, d, N * IN, 1e-3f, 1e-3), TOL);
}

Test(nn, sigmoid_gradient_matches_finite_differences)
{
    struct act_case c = {.sigmoid = 1};
    float d[N * IN];

    fill(c.X, N * IN, -4, 4, 7);
    fill(c.R, N * IN, -1, 1, 8);
    act_loss(&c);
    tt_nn_sigmoid_backward(c.Y, c.R, d, N * IN);
    cr_assert_lt(tt_nn_gradcheck(act_loss, &c, c.X, d, N * IN, H, 1e-3), TOL);
    cr_assert_float_eq(tt_nn_sigmoid(0.0f), 0.5f, 1e-7);
    cr_assert_float_eq(tt_nn_sigmoid(-100.0f), 0.0f, 1e-30);
    cr_assert_float_eq(tt_nn_sigmoid(100.0f), 1.0f, 1e-7);
}

/* ---- losses ---- */

struct loss_case {
    float z[16], y[16], w[16];
    int mse;
};

static double loss_of(void *ctx)
{
    struct loss_case *c = ctx;
    return c->mse ? tt_nn_mse(c->z, c->y, 16, 1.0f, NULL)
                  : tt_nn_bce_logits(c->z, c->y, c->w, 16, 1.0f, NULL);
}

Test(nn, bce_with_logits_gradient_and_values)
{
    struct loss_case c = {.mse = 0};
    float dz[16];
    double l;

    fill(c.z, 16, -6, 6, 9);
    fill(c.w, 16, 0.5f, 2, 10);
    for (int i = 0; i < 16; i++)
        c.y[i] = (float)(i % 2);
    l = tt_nn_bce_logits(c.z, c.y, c.w, 16, 1.0f, dz);
    cr_assert_lt(tt_nn_gradcheck(loss_of, &c, c.z, dz, 16, H, 1e-3), TOL);
    /* Against the textbook form -y log p - (1 - y) log(1 - p). */
    double ref = 0.0;
    for (int i = 0; i < 16; i++) {
        double p = 1.0 / (1.0 + exp(-(double)c.z[i]));
        ref += c.w[i] * -(c.y[i] * log(p) + (1 - c.y[i]) * log(1 - p));
    }
    cr_assert_float_eq(l, ref, 1e-6 * fabs(ref));
    /* Huge logits stay finite. */
    float big[2] = {1000.0f, -1000.0f}, lab[2] = {0.0f, 1.0f};
    cr_assert_float_eq(tt_nn_bce_logits(big, lab, NULL, 2, 1.0f, NULL), 2000.0, 1e-6);
}

Test(nn, mse_gradient_and_values)
{
    struct loss_case c = {.mse = 1};
    float dp[16];

    fill(c.z, 16, -2, 2, 11);
    fill(c.y, 16, -2, 2, 12);
    double l = tt_nn_mse(c.z, c.y, 16, 0.5f, dp);
    double ref = 0.0;
    for (int i = 0; i < 16; i++)
        ref += ((double)c.z[i] - c.y[i]) * ((double)c.z[i] - c.y[i]);
    cr_assert_float_eq(l, ref, 1e-9);
    for (int i = 0; i < 16; i++)
        dp[i] *= 2.0f; /* scale 0.5 above: back to the gradient of the plain sum */
    cr_assert_lt(tt_nn_gradcheck(loss_of, &c, c.z, dp, 16, H, 1e-3), TOL);
}

/* ---- embedding lookup + GMF: z_i = h . (P[u_i] .* Q[t_i]) + c, BCE ---- */

#define NU 4
#define NT 5
#define K 3
#define B 8

struct gmf_case {
    float P[NU * K], Q[NT * K], h[K + 1];
    int32_t u[B], t[B];
    float y[B], z[B];
};

static void gmf_forward(struct gmf_case *c)
{
    for (int i = 0; i < B; i++) {
        const float *p = c->P + c->u[i] * K, *q = c->Q + c->t[i] * K;
        c->z[i] = c->h[K];
        for (int f = 0; f < K; f++)
            c->z[i] += c->h[f] * p[f] * q[f];
    }
}

static double gmf_loss(void *ctx)
{
    struct gmf_case *c = ctx;
    gmf_forward(c);
    return tt_nn_bce_logits(c->z, c->y, NULL, B, 1.0f, NULL);
}

Test(nn, embedding_gmf_gradients_match_finite_differences)
{
    static const int32_t us[B] = {0, 1, 1, 2, 3, 0, 2, 1}, ts[B] = {4, 0, 3, 3, 1, 4, 2, 0};
    struct gmf_case c;
    float dz[B], dP[NU * K] = {0}, dQ[NT * K] = {0}, dh[K + 1] = {0};

    memcpy(c.u, us, sizeof(us));
    memcpy(c.t, ts, sizeof(ts));
    fill(c.P, NU * K, -1, 1, 13);
    fill(c.Q, NT * K, -1, 1, 14);
    fill(c.h, K + 1, -1, 1, 15);
    for (int i = 0; i < B; i++)
        c.y[i] = (float)(i % 2);
    gmf_forward(&c);
    tt_nn_bce_logits(c.z, c.y, NULL, B, 1.0f, dz);
    /* Rows repeat within the batch: their gradients add up. */
    for (int i = 0; i < B; i++) {
        const float *p = c.P + c.u[i] * K, *q = c.Q + c.t[i] * K;
        for (int f = 0; f < K; f++) {
            dP[c.u[i] * K + f] += dz[i] * c.h[f] * q[f];
            dQ[c.t[i] * K + f] += dz[i] * c.h[f] * p[f];
            dh[f] += dz[i] * p[f] * q[f];
        }
        dh[K] += dz[i];
    }
    cr_assert_lt(tt_nn_gradcheck(gmf_loss, &c, c.P, dP, NU * K, H, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(gmf_loss, &c, c.Q, dQ, NT * K, H, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(gmf_loss, &c, c.h, dh, K + 1, H, 1e-3), TOL);
}

/* ---- a two-layer MLP: X -> dense -> ReLU -> dense(1) -> BCE ---- */

struct mlp_case {
    float X[N * IN], W1[OUT * IN], b1[OUT], W2[OUT], b2[1], y[N];
    float H1[N * OUT], z[N];
};

static double mlp_loss(void *ctx)
{
    struct mlp_case *c = ctx;
    tt_nn_dense_forward(c->X, N, IN, c->W1, c->b1, OUT, c->H1);
    tt_nn_relu_forward(c->H1, N * OUT);
    tt_nn_dense_forward(c->H1, N, OUT, c->W2, c->b2, 1, c->z);
    return tt_nn_bce_logits(c->z, c->y, NULL, N, 1.0f, NULL);
}

Test(nn, mlp_chain_gradients_match_finite_differences)
{
    struct mlp_case c;
    float dz[N], dH1[N * OUT], dW1[OUT * IN] = {0}, db1[OUT] = {0}, dW2[OUT] = {0}, db2 = 0;
    float dX[N * IN];

    fill(c.X, N * IN, -1, 1, 16);
    fill(c.W1, OUT * IN, -1, 1, 17);
    fill(c.b1, OUT, 0.2f, 0.5f, 18);
    fill(c.W2, OUT, -1, 1, 19);
    c.b2[0] = 0.1f;
    for (int i = 0; i < N; i++)
        c.y[i] = (float)(i % 2);
    mlp_loss(&c);
    tt_nn_bce_logits(c.z, c.y, NULL, N, 1.0f, dz);
    tt_nn_dense_backward(c.H1, N, OUT, c.W2, 1, dz, dW2, &db2, dH1);
    tt_nn_relu_backward(c.H1, dH1, N * OUT);
    tt_nn_dense_backward(c.X, N, IN, c.W1, OUT, dH1, dW1, db1, dX);
    cr_assert_lt(tt_nn_gradcheck(mlp_loss, &c, c.W1, dW1, OUT * IN, 1e-3f, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(mlp_loss, &c, c.b1, db1, OUT, 1e-3f, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(mlp_loss, &c, c.W2, dW2, OUT, 1e-3f, 1e-3), TOL);
    cr_assert_lt(tt_nn_gradcheck(mlp_loss, &c, c.X, dX, N * IN, 1e-3f, 1e-3), TOL);
}

Test(nn, gradcheck_detects_a_wrong_gradient)
{
    struct loss_case c = {.mse = 1};
    float dp[16];

    fill(c.z, 16, -2, 2, 20);
    fill(c.y, 16, -2, 2, 21);
    tt_nn_mse(c.z, c.y, 16, 1.0f, dp);
    dp[3] *= 1.5f;
    cr_assert_gt(tt_nn_gradcheck(loss_of, &c, c.z, dp, 16, H, 1e-3), 0.1);
}

/* ---- Adam ---- */

/* Least squares y = X w* + b*: a convex problem Adam must solve. */
Test(nn, adam_converges_on_linear_regression)
{
    enum { S = 64, D = 4 };
    static float X[S * D], y[S], p[S], dp[S];
    float w[D + 1] = {0}, g[D + 1], truth[D + 1] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f};
    tt_adam_params ap = tt_adam_params_default();
    tt_adam a;
    double first = 0.0, last = 0.0;

    fill(X, S * D, -1, 1, 22);
    tt_nn_dense_forward(X, S, D, truth, truth + D, 1, y);
    ap.lr = 0.05f;
    tt_adam_init(&a, D + 1, &ap);
    for (int it = 0; it < 2000; it++) {
        memset(g, 0, sizeof(g));
        tt_nn_dense_forward(X, S, D, w, w + D, 1, p);
        last = tt_nn_mse(p, y, S, 1.0f / S, dp) / S;
        if (it == 0)
            first = last;
        tt_nn_dense_backward(X, S, D, w, 1, dp, g, g + D, NULL);
        tt_adam_step(&a, w, g);
    }
    cr_assert_eq(a.t, 2000);
    cr_assert_lt(last, first * 1e-6, "mse %g after 2000 steps (from %g)", last, first);
    for (int i = 0; i <= D; i++)
        cr_assert_float_eq(w[i], truth[i], 1e-3, "w[%d] = %f, want %f", i, w[i], truth[i]);
    tt_adam_release(&a);
}

Test(nn, adam_weight_decay_shrinks_toward_zero)
{
    float w[1] = {0}, g[1];
    tt_adam_params ap = tt_adam_params_default();
    tt_adam a;

    /* Minimises (w - 1)^2 + l2/2 w^2: the solution is 2 / (2 + l2). */
    ap.lr = 0.01f;
    ap.l2 = 2.0f;
    tt_adam_init(&a, 1, &ap);
    for (int it = 0; it < 3000; it++) {
        g[0] = 2.0f * (w[0] - 1.0f);
        tt_adam_step(&a, w, g);
    }
    cr_assert_float_eq(w[0], 0.5f, 1e-2);
    tt_adam_release(&a);
}

Test(nn, lazy_adam_updates_only_touched_rows)
{
    enum { ROWS = 6, DIM = 3 };
    float W[ROWS * DIM], target[ROWS * DIM], before[ROWS * DIM], G[2 * DIM];
    tt_adam_params ap = tt_adam_params_default();
    tt_adam a;
    int32_t rows[2];

    fill(W, ROWS * DIM, -1, 1, 23);
    fill(target, ROWS * DIM, -1, 1, 24);
    memcpy(before, W, sizeof(W));
    ap.lr = 0.02f;
    tt_adam_init(&a, ROWS * DIM, &ap);
    /* Rows 0..3 take turns, two per step; rows 4 and 5 are never in a batch. */
    for (int it = 0; it < 3000; it++) {
        rows[0] = it % 4;
        rows[1] = (it + 1) % 4;
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < DIM; j++)
                G[r * DIM + j] = 2.0f * (W[rows[r] * DIM + j] - target[rows[r] * DIM + j]);
        tt_adam_begin(&a);
        tt_adam_update_rows(&a, W, DIM, rows, 2, G);
    }
    for (int i = 0; i < 4 * DIM; i++)
        cr_assert_float_eq(W[i], target[i], 1e-2);
    for (int i = 4 * DIM; i < ROWS * DIM; i++)
        cr_assert_eq(W[i], before[i]);
    for (int i = 4 * DIM; i < ROWS * DIM; i++)
        cr_assert_eq(a.m[i], 0.0f);
    tt_adam_release(&a);
}

/* ---- initialisation ---- */

Test(nn, init_is_deterministic_for_a_seed)
{
    enum { M = 4096 };
    static float a[M], b[M], c[M];
    tt_rng r1, r2, r3;
    double s2 = 0.0;

    tt_rng_seed(&r1, 42, 1);
    tt_rng_seed(&r2, 42, 1);
    tt_rng_seed(&r3, 43, 1);
    tt_nn_init_he(a, M, 64, &r1);
    tt_nn_init_he(b, M, 64, &r2);
    tt_nn_init_he(c, M, 64, &r3);
    cr_assert(memcmp(a, b, sizeof(a)) == 0, "same seed, same weights");
    cr_assert(memcmp(a, c, sizeof(a)) != 0, "another seed, other weights");
    for (int i = 0; i < M; i++)
        s2 += (double)a[i] * a[i];
    /* Variance 2 / fan_in = 1/32, within sampling noise. */
    cr_assert_float_eq(s2 / M, 2.0 / 64, 0.004);

    tt_rng_seed(&r1, 5, 0);
    tt_rng_seed(&r2, 5, 0);
    tt_nn_init_xavier(a, M, 30, 20, &r1);
    tt_nn_init_xavier(b, M, 30, 20, &r2);
    cr_assert(memcmp(a, b, sizeof(a)) == 0);
    for (int i = 0; i < M; i++)
        cr_assert(fabsf(a[i]) <= sqrtf(6.0f / 50.0f));
}
