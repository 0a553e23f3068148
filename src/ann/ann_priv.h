/*
 * ann_priv.h - what the FAISS shim shows the rest of src/ann/. Internal.
 *
 * FAISS builds, stores and serialises HNSW graphs; the engine searches them itself
 * (hnsw.c) with its own AVX2 kernel, since Debian's libfaiss.a is compiled for baseline
 * x86-64 and computes distances with scalar loops.
 */
#ifndef TT_ANN_PRIV_H
#define TT_ANN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/ann.h"

/* A read-only view of an HNSW index's graph and vectors (borrowed from the index). */
typedef struct tt__hnsw_graph {
    const float *x;           /* n x d vectors */
    const int32_t *neighbors; /* every node's lists, all layers, -1 after the last */
    const size_t *offsets;    /* node i's lists start at neighbors[offsets[i]] */
    const int32_t *levels;    /* node i is in layers 0 .. levels[i] - 1 */
    const int32_t *cum;       /* layer l's list of a node: [cum[l], cum[l + 1]) past its offset */
    size_t n_neighbors;       /* entries of neighbors */
    int32_t n_cum;            /* entries of cum */
    int32_t entry, max_level;
    int64_t n;
    int d, ef_search;
} tt__hnsw_graph;

/* Fills @g for an HNSW index; false for other types. */
bool tt__ann_hnsw_graph(const tt_ann *ix, tt__hnsw_graph *g);

/* FAISS's own search (flat, IVF; HNSW as FAISS does it). */
int tt__faiss_search(const tt_ann *ix, const float *q, int64_t nq, int k, float *sim,
                     int64_t *ids, tt_err *err);

/* One query against @g: the @k most similar, best first, -1 padded. */
void tt__hnsw_search(const tt__hnsw_graph *g, const float *q, int k, float *sim, int64_t *ids);

#endif
