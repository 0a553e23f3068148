/*
 * Compressed sparse rows: building from coordinates (sorting, summing duplicates, dropping
 * out-of-range entries), transposes, copies and empty matrices.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "tt/core.h"
#include "tt/csr.h"

#define N(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

/* The dense value at (r, c), 0 when not stored; asserts rows are strictly sorted. */
static float at(const tt_csr *m, int32_t r, int32_t c)
{
    for (int64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++) {
        if (k > m->indptr[r])
            cr_assert(m->indices[k - 1] < m->indices[k], "row %d unsorted", r);
        if (m->indices[k] == c)
            return m->data[k];
    }
    return 0.0f;
}

static void expect_equal(const tt_csr *a, const tt_csr *b)
{
    cr_assert_eq(a->rows, b->rows);
    cr_assert_eq(a->cols, b->cols);
    cr_assert_eq(a->nnz, b->nnz);
    cr_assert_eq(memcmp(a->indptr, b->indptr, ((size_t)a->rows + 1) * sizeof(int64_t)), 0);
    cr_assert_eq(memcmp(a->indices, b->indices, (size_t)a->nnz * sizeof(int32_t)), 0);
    cr_assert_eq(memcmp(a->data, b->data, (size_t)a->nnz * sizeof(float)), 0);
}

Test(csr, from_coo_sorts_rows_and_sums_duplicates)
{
    /* Row 0: (0,3) twice, (0,1); row 1 empty; row 2: (2,0), (2,2) three times. */
    const int32_t r[] = {2, 0, 2, 0, 2, 0, 2};
    const int32_t c[] = {2, 3, 0, 1, 2, 3, 2};
    const float v[] = {1.0f, 0.5f, 7.0f, 2.0f, 10.0f, 0.25f, 100.0f};
    tt_csr m;

    tt_csr_from_coo(3, 4, N(r), r, c, v, &m);
    cr_assert_eq(m.rows, 3);
    cr_assert_eq(m.cols, 4);
    cr_assert_eq(m.nnz, 4);
    cr_assert_eq(m.indptr[0], 0);
    cr_assert_eq(m.indptr[1], 2);
    cr_assert_eq(m.indptr[2], 2);
    cr_assert_eq(m.indptr[3], 4);
    cr_assert_eq(m.indices[0], 1);
    cr_assert_eq(m.indices[1], 3);
    cr_assert_eq(m.indices[2], 0);
    cr_assert_eq(m.indices[3], 2);
    cr_assert_float_eq(m.data[0], 2.0f, 0.0f);
    cr_assert_float_eq(m.data[1], 0.75f, 0.0f);
    cr_assert_float_eq(m.data[2], 7.0f, 0.0f);
    cr_assert_float_eq(m.data[3], 111.0f, 0.0f);
    cr_assert_eq(tt_csr_row_nnz(&m, 0), 2);
    cr_assert_eq(tt_csr_row_nnz(&m, 1), 0);
    cr_assert_eq(tt_csr_row_nnz(&m, 2), 2);
    tt_csr_release(&m);
    cr_assert_null(m.indptr, "release clears the struct");
    cr_assert_eq(m.nnz, 0);
    tt_csr_release(&m);
    tt_csr_release(NULL);
}

Test(csr, null_values_mean_ones_and_duplicates_count)
{
    const int32_t r[] = {1, 1, 1, 0};
    const int32_t c[] = {4, 4, 0, 4};
    tt_csr m;

    tt_csr_from_coo(2, 5, N(r), r, c, NULL, &m);
    cr_assert_eq(m.nnz, 3);
    cr_assert_float_eq(at(&m, 0, 4), 1.0f, 0.0f);
    cr_assert_float_eq(at(&m, 1, 0), 1.0f, 0.0f);
    cr_assert_float_eq(at(&m, 1, 4), 2.0f, 0.0f);
    tt_csr_release(&m);
}

Test(csr, out_of_range_entries_are_ignored)
{
    const int32_t r[] = {0, -1, 3, 1, 0, 1, 2};
    const int32_t c[] = {0, 0, 0, 2, -5, 3, 1};
    const float v[] = {1, 2, 3, 4, 5, 6, 7};
    tt_csr m;

    /* 3 x 3: row -1, row 3, column -5 and column 3 are outside. */
    tt_csr_from_coo(3, 3, N(r), r, c, v, &m);
    cr_assert_eq(m.nnz, 3);
    cr_assert_float_eq(at(&m, 0, 0), 1.0f, 0.0f);
    cr_assert_float_eq(at(&m, 1, 2), 4.0f, 0.0f);
    cr_assert_float_eq(at(&m, 2, 1), 7.0f, 0.0f);
    tt_csr_release(&m);
}

Test(csr, empty_matrices)
{
    tt_csr m, t, c;

    tt_csr_from_coo(0, 0, 0, NULL, NULL, NULL, &m);
    cr_assert(m.rows == 0 && m.cols == 0 && m.nnz == 0);
    cr_assert_eq(m.indptr[0], 0);
    tt_csr_transpose(&m, &t);
    cr_assert(t.rows == 0 && t.cols == 0 && t.nnz == 0);
    tt_csr_release(&t);
    tt_csr_release(&m);

    /* Rows and columns but no entries. */
    tt_csr_from_coo(4, 7, 0, NULL, NULL, NULL, &m);
    cr_assert_eq(m.nnz, 0);
    for (int32_t r = 0; r <= 4; r++)
        cr_assert_eq(m.indptr[r], 0);
    tt_csr_transpose(&m, &t);
    cr_assert(t.rows == 7 && t.cols == 4 && t.nnz == 0);
    for (int32_t r = 0; r <= 7; r++)
        cr_assert_eq(t.indptr[r], 0);
    tt_csr_copy(&m, &c);
    expect_equal(&m, &c);
    tt_csr_release(&c);
    tt_csr_release(&t);
    tt_csr_release(&m);

    /* Every entry out of range. */
    {
        const int32_t r[] = {5, 6}, col[] = {0, 0};
        tt_csr_from_coo(2, 2, 2, r, col, NULL, &m);
        cr_assert_eq(m.nnz, 0);
        tt_csr_release(&m);
    }
}

/* A random sparse matrix with duplicates. */
static void random_matrix(int32_t rows, int32_t cols, int64_t n, uint64_t seed, tt_csr *out)
{
    int32_t *r = tt_malloc((size_t)n * sizeof(int32_t)),
            *c = tt_malloc((size_t)n * sizeof(int32_t));
    float *v = tt_malloc((size_t)n * sizeof(float));
    tt_rng rng;

    tt_rng_seed(&rng, seed, 0);
    for (int64_t i = 0; i < n; i++) {
        r[i] = (int32_t)tt_rng_below(&rng, (uint64_t)rows);
        c[i] = (int32_t)tt_rng_below(&rng, (uint64_t)cols);
        v[i] = (float)(1 + tt_rng_below(&rng, 8));
    }
    tt_csr_from_coo(rows, cols, n, r, c, v, out);
    free(r);
    free(c);
    free(v);
}

Test(csr, transpose_swaps_entries_and_twice_is_identity)
{
    tt_csr m, t, tt;

    random_matrix(37, 53, 600, 9, &m);
    tt_csr_transpose(&m, &t);
    cr_assert_eq(t.rows, 53);
    cr_assert_eq(t.cols, 37);
    cr_assert_eq(t.nnz, m.nnz);
    for (int32_t r = 0; r < m.rows; r++)
        for (int32_t c = 0; c < m.cols; c++)
            cr_assert_float_eq(at(&t, c, r), at(&m, r, c), 0.0f, "(%d, %d)", r, c);
    tt_csr_transpose(&t, &tt);
    expect_equal(&m, &tt);
    tt_csr_release(&tt);
    tt_csr_release(&t);
    tt_csr_release(&m);
}

Test(csr, from_coo_matches_a_dense_sum)
{
    enum { R = 20, C = 30, NE = 900 };
    static float dense[R][C];
    int32_t r[NE], c[NE];
    float v[NE];
    tt_rng rng;
    tt_csr m;
    int64_t nz = 0;

    tt_rng_seed(&rng, 4, 1);
    for (int i = 0; i < NE; i++) {
        r[i] = (int32_t)tt_rng_below(&rng, R);
        c[i] = (int32_t)tt_rng_below(&rng, C);
        v[i] = (float)tt_rng_below(&rng, 5) + 1.0f;
        dense[r[i]][c[i]] += v[i];
    }
    tt_csr_from_coo(R, C, NE, r, c, v, &m);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) {
            cr_assert_float_eq(at(&m, i, j), dense[i][j], 0.0f);
            nz += dense[i][j] != 0.0f;
        }
    cr_assert_eq(m.nnz, nz);
    tt_csr_release(&m);
}

Test(csr, copy_is_deep)
{
    tt_csr m, c;

    random_matrix(10, 10, 40, 2, &m);
    tt_csr_copy(&m, &c);
    expect_equal(&m, &c);
    cr_assert_neq(c.indptr, m.indptr);
    cr_assert_neq(c.indices, m.indices);
    cr_assert_neq(c.data, m.data);
    c.data[0] += 1.0f;
    cr_assert_neq(c.data[0], m.data[0]);
    tt_csr_release(&c);
    tt_csr_release(&m);
}

/* Rows filled in arrival order, then merged in place, equal the coordinate build exactly. */
Test(csr, summing_duplicates_in_place_equals_the_coordinate_build)
{
    enum { R = 25, C = 40, NE = 1200 };
    int32_t r[NE], c[NE];
    float v[NE];
    int64_t fill[R + 1];
    tt_rng rng;
    tt_csr a, b = {R, C, NE, tt_calloc(R + 1, sizeof(int64_t)), tt_malloc(NE * sizeof(int32_t)),
                   tt_malloc(NE * sizeof(float))};

    tt_rng_seed(&rng, 9, 2);
    for (int i = 0; i < NE; i++) {
        r[i] = (int32_t)tt_rng_below(&rng, R - 1); /* the last row stays empty */
        c[i] = (int32_t)tt_rng_below(&rng, C);
        v[i] = (float)tt_rng_uniform(&rng) * 3.0f - 0.5f;
        b.indptr[r[i] + 1]++;
    }
    for (int i = 0; i < R; i++)
        b.indptr[i + 1] += b.indptr[i];
    memcpy(fill, b.indptr, sizeof(fill));
    for (int i = 0; i < NE; i++) {
        b.indices[fill[r[i]]] = c[i];
        b.data[fill[r[i]]++] = v[i];
    }
    tt_csr_from_coo(R, C, NE, r, c, v, &a);
    tt_csr_sum_duplicates(&b);
    expect_equal(&a, &b);
    tt_csr_release(&a);
    tt_csr_release(&b);
}
