/*
 * csr.h - compressed sparse row matrices of float values (user x track interactions).
 */
#ifndef TT_CSR_H
#define TT_CSR_H

#include <stdint.h>

typedef struct tt_csr {
    int32_t rows, cols;
    int64_t nnz;
    int64_t *indptr;  /* rows + 1 */
    int32_t *indices; /* nnz, sorted ascending within each row */
    float *data;      /* nnz */
} tt_csr;

/*
 * Builds @out (caller-owned, release with tt_csr_release) from @n coordinate triples;
 * duplicates are summed. @v may be NULL for all-ones. Entries with r/c out of range are
 * ignored. O(n + rows) time, two passes of counting sort.
 */
void tt_csr_from_coo(int32_t rows, int32_t cols, int64_t n, const int32_t *r, const int32_t *c,
                     const float *v, tt_csr *out);
/*
 * Sorts each row of @m by column and sums entries of the same column, in place (rows may
 * arrive unsorted and with duplicates, as filled straight from an event log); the arrays
 * are then shrunk to the new nnz. Same sums, in the same order, as tt_csr_from_coo.
 */
void tt_csr_sum_duplicates(tt_csr *m);
/* @out = transpose of @m. */
void tt_csr_transpose(const tt_csr *m, tt_csr *out);
/* Deep copy. */
void tt_csr_copy(const tt_csr *m, tt_csr *out);
void tt_csr_release(tt_csr *m);

/* Number of stored entries of row @r. */
static inline int64_t tt_csr_row_nnz(const tt_csr *m, int32_t r)
{
    return m->indptr[r + 1] - m->indptr[r];
}

#endif
