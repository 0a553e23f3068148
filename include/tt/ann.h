/*
 * ann.h - nearest-neighbour search over dense float vectors by inner product (cosine on
 * unit vectors), built on FAISS: exact (flat), inverted lists (IVF) or a graph (HNSW).
 *
 * FAISS is a C++ library; src/ann/faiss_shim.cpp is the only C++ in the tree and turns
 * every exception into a TT_E* code with FAISS's message in the tt_err. Index files
 * (src/ann/ann_file.c) wrap the FAISS serialisation in the checksummed model container
 * with the catalog checksum and a checksum of the vectors the index was built from, so an
 * index is refused for another catalog or other content vectors.
 *
 * Ids are row numbers of the vectors given to tt_ann_build (dense track ids). Searching is
 * thread-safe; changing search parameters is not (do it before serving).
 */
#ifndef TT_ANN_H
#define TT_ANN_H

#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"
#include "tt/progress.h"

typedef struct tt_ann tt_ann;

enum tt_ann_type { TT_ANN_AUTO, TT_ANN_FLAT, TT_ANN_IVF, TT_ANN_HNSW };

typedef struct tt_ann_params {
    enum tt_ann_type type; /* TT_ANN_AUTO: tt_ann_auto_type(n) */
    int nlist;             /* IVF: inverted lists; 0 = about 4 sqrt(n) */
    int nprobe;            /* IVF: lists visited per query (default 32) */
    int m;                 /* HNSW: links per node (default 32) */
    int ef_construction;   /* HNSW: candidate list while building (default 80) */
    int ef_search;         /* HNSW: candidate list while searching (default 64) */
    uint64_t seed;         /* IVF k-means */
    int threads;           /* building; 0 = one per core */
    /* NULL, or told of the build: stage "train" (IVF k-means, no total) and then "add",
     * vectors added of n, reported as each slice of about 2% of them is in. */
    tt_progress_fn progress;
    void *progress_ctx;
} tt_ann_params;

tt_ann_params tt_ann_params_default(void);

/* The index library this build is linked with: "faiss 1.7.3". */
const char *tt_ann_backend_version(void);

/* Exact search for catalogs up to 20,000 vectors, HNSW up to 2 million, IVF beyond. */
enum tt_ann_type tt_ann_auto_type(int64_t n);
#define TT_ANN_N_TYPES 4
/* "auto", "flat", "ivf", "hnsw": the name of each type, as --type and index files spell it. */
extern const char *const tt_ann_type_names[TT_ANN_N_TYPES];
/* The name of @t ("auto" for anything else); parse returns -1 for a name not in the table. */
const char *tt_ann_type_name(enum tt_ann_type t);
int tt_ann_type_parse(const char *s);

/*
 * Builds an index over @n row-major vectors of dimension @d (@x is not kept). Errors:
 * TT_EINVAL (bad sizes or parameters), TT_ENOMEM, TT_EINTERNAL (FAISS's message).
 */
int tt_ann_build(const float *x, int64_t n, int d, const tt_ann_params *p, tt_ann **out,
                 tt_err *err);

/*
 * The @k most similar vectors to each of the @nq queries (row-major, the index's
 * dimension): @sim and @ids are nq x k, caller-allocated, best first; missing entries get
 * id -1. Single queries run on the calling thread (a serving thread), batches on every core.
 */
int tt_ann_search(const tt_ann *ix, const float *q, int64_t nq, int k, float *sim,
                  int64_t *ids, tt_err *err);

/* Sets IVF nprobe / HNSW efSearch; 0 keeps the current value, others ignore theirs. */
int tt_ann_set_search(tt_ann *ix, int nprobe, int ef_search, tt_err *err);

enum tt_ann_type tt_ann_type_of(const tt_ann *ix);
int tt_ann_dim(const tt_ann *ix);
int64_t tt_ann_size(const tt_ann *ix);
/* Current IVF nprobe / HNSW efSearch / HNSW M / IVF nlist (0 when not applicable). */
int tt_ann_nprobe(const tt_ann *ix);
int tt_ann_ef_search(const tt_ann *ix);
int tt_ann_m(const tt_ann *ix);
int tt_ann_nlist(const tt_ann *ix);

/* FAISS's own serialisation into a malloc'd buffer, and back (TT_ECORRUPT when unreadable). */
int tt_ann_serialize(const tt_ann *ix, uint8_t **buf, size_t *len, tt_err *err);
int tt_ann_deserialize(const uint8_t *buf, size_t len, tt_ann **out, tt_err *err);

void tt_ann_free(tt_ann *ix);

/* ---- index files (ann_file.c) ---- */

/* What an index file says about the vectors it indexes. */
typedef struct tt_ann_meta {
    uint64_t catalog;  /* tt_catalog_checksum of the catalog the vectors describe */
    uint64_t vectors;  /* tt_ann_vectors_checksum of the vectors */
    int64_t n;
    int d;
    int64_t created_at;
    double build_seconds;
} tt_ann_meta;

/* A checksum of @n x @d vectors, recorded in index files and checked when loading. */
uint64_t tt_ann_vectors_checksum(const float *x, int64_t n, int d);

/* Writes @ix with @meta to @path (temporary name, fsync, rename). */
int tt_ann_save(const tt_ann *ix, const tt_ann_meta *meta, const char *path, tt_err *err);

/*
 * TT_ECORRUPT (message naming @path, what differs and how to rebuild) when an index
 * described by @got was not built for @want (fields of @want that are zero are not checked).
 */
int tt_ann_meta_check(const char *path, const tt_ann_meta *got, const tt_ann_meta *want,
                      tt_err *err);

/*
 * Loads @path, checking the container, then that it was built for @expect (fields that are
 * zero are not checked): another catalog, other vectors or another dimension is
 * TT_ECORRUPT with a message saying which and how to rebuild. *meta may be NULL.
 */
int tt_ann_load(const char *path, const tt_ann_meta *expect, tt_ann **out, tt_ann_meta *meta,
                tt_err *err);

#endif
