#include "tt/csr.h"
#include "tt/core.h"

#include <string.h>

/* Counting sort by row, then sort each row's columns and merge duplicates in place. */
struct entry {
    int32_t c;
    float v;
};

static int cmp_entry(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->c > y->c) - (x->c < y->c);
}

static int64_t compact_row(struct entry *e, int64_t n)
{
    int64_t w = 0;
    bool sorted = true;

    for (int64_t i = 1; i < n && sorted; i++)
        sorted = e[i - 1].c < e[i].c;
    if (!sorted)
        qsort(e, (size_t)n, sizeof(*e), cmp_entry);
    for (int64_t i = 0; i < n; i++) {
        if (w > 0 && e[w - 1].c == e[i].c)
            e[w - 1].v += e[i].v;
        else
            e[w++] = e[i];
    }
    return w;
}

void tt_csr_from_coo(int32_t rows, int32_t cols, int64_t n, const int32_t *r, const int32_t *c,
                     const float *v, tt_csr *out)
{
    int64_t *ptr = tt_calloc((size_t)rows + 1, sizeof(int64_t));
    int64_t *fill;
    struct entry *e;
    int64_t total = 0, w = 0;

    for (int64_t i = 0; i < n; i++)
        if (r[i] >= 0 && r[i] < rows && c[i] >= 0 && c[i] < cols)
            ptr[r[i] + 1]++;
    for (int32_t i = 0; i < rows; i++)
        ptr[i + 1] += ptr[i];
    total = ptr[rows];
    e = tt_malloc((size_t)(total ? total : 1) * sizeof(*e));
    fill = tt_malloc(((size_t)rows + 1) * sizeof(int64_t));
    memcpy(fill, ptr, ((size_t)rows + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) {
        if (r[i] < 0 || r[i] >= rows || c[i] < 0 || c[i] >= cols)
            continue;
        e[fill[r[i]]++] = (struct entry){c[i], v ? v[i] : 1.0f};
    }
    out->rows = rows;
    out->cols = cols;
    out->indptr = tt_malloc(((size_t)rows + 1) * sizeof(int64_t));
    out->indptr[0] = 0;
    for (int32_t i = 0; i < rows; i++) {
        int64_t k = compact_row(e + ptr[i], ptr[i + 1] - ptr[i]);
        memmove(e + w, e + ptr[i], (size_t)k * sizeof(*e));
        w += k;
        out->indptr[i + 1] = w;
    }
    out->nnz = w;
    out->indices = tt_malloc((size_t)(w ? w : 1) * sizeof(int32_t));
    out->data = tt_malloc((size_t)(w ? w : 1) * sizeof(float));
    for (int64_t i = 0; i < w; i++) {
        out->indices[i] = e[i].c;
        out->data[i] = e[i].v;
    }
    free(e);
    free(fill);
    free(ptr);
}

void tt_csr_transpose(const tt_csr *m, tt_csr *out)
{
    int64_t *fill;

    out->rows = m->cols;
    out->cols = m->rows;
    out->nnz = m->nnz;
    out->indptr = tt_calloc((size_t)m->cols + 1, sizeof(int64_t));
    out->indices = tt_malloc((size_t)(m->nnz ? m->nnz : 1) * sizeof(int32_t));
    out->data = tt_malloc((size_t)(m->nnz ? m->nnz : 1) * sizeof(float));
    for (int64_t i = 0; i < m->nnz; i++)
        out->indptr[m->indices[i] + 1]++;
    for (int32_t i = 0; i < m->cols; i++)
        out->indptr[i + 1] += out->indptr[i];
    fill = tt_malloc(((size_t)m->cols + 1) * sizeof(int64_t));
    memcpy(fill, out->indptr, ((size_t)m->cols + 1) * sizeof(int64_t));
    /* Rows are visited in order, so each output row comes out sorted. */
    for (int32_t r = 0; r < m->rows; r++) {
        for (int64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++) {
            int64_t dst = fill[m->indices[k]]++;
            out->indices[dst] = r;
            out->data[dst] = m->data[k];
        }
    }
    free(fill);
}

void tt_csr_copy(const tt_csr *m, tt_csr *out)
{
    size_t nz = (size_t)(m->nnz ? m->nnz : 1);

    *out = *m;
    out->indptr = tt_malloc(((size_t)m->rows + 1) * sizeof(int64_t));
    memcpy(out->indptr, m->indptr, ((size_t)m->rows + 1) * sizeof(int64_t));
    out->indices = tt_malloc(nz * sizeof(int32_t));
    memcpy(out->indices, m->indices, (size_t)m->nnz * sizeof(int32_t));
    out->data = tt_malloc(nz * sizeof(float));
    memcpy(out->data, m->data, (size_t)m->nnz * sizeof(float));
}

void tt_csr_release(tt_csr *m)
{
    if (!m)
        return;
    free(m->indptr);
    free(m->indices);
    free(m->data);
    memset(m, 0, sizeof(*m));
}

void tt_csr_sum_duplicates(tt_csr *m)
{
    struct entry *e = NULL;
    size_t cap = 0;
    int64_t w = 0, start = 0;

    for (int32_t r = 0; r < m->rows; r++) {
        int64_t end = m->indptr[r + 1], n = end - start, k;
        TT_GROW(e, cap, (size_t)n + 1);
        for (int64_t i = 0; i < n; i++)
            e[i] = (struct entry){m->indices[start + i], m->data[start + i]};
        k = compact_row(e, n);
        for (int64_t i = 0; i < k; i++) {
            m->indices[w + i] = e[i].c;
            m->data[w + i] = e[i].v;
        }
        m->indptr[r] = w;
        w += k;
        start = end;
    }
    m->indptr[m->rows] = w;
    m->nnz = w;
    /* Shrinking a large block hands its tail back to the system (mremap). */
    m->indices = tt_realloc(m->indices, (size_t)(w ? w : 1) * sizeof(int32_t));
    m->data = tt_realloc(m->data, (size_t)(w ? w : 1) * sizeof(float));
    free(e);
}
