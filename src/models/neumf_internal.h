/*
 * neumf_internal.h - what neumf.c (the model: serving, fold-in, files) and neumf_train.c
 * (training) share: the parameter layout and the model struct.
 */
#ifndef TT_MODELS_NEUMF_INTERNAL_H
#define TT_MODELS_NEUMF_INTERNAL_H

#include "tt/neumf.h"
#include "rank_priv.h"

/*
 * Where every parameter lives. A user (or track) row of its table is [GMF f | MLP d], so one
 * lookup fetches both towers' embeddings. The dense parameters are one flat array: for each
 * MLP layer l (1 .. nl - 1) its weights W_l (width[l] x width[l - 1]) and bias b_l, then the
 * fusion weights h (f + width[nl - 1]: GMF part first) and the fusion bias.
 */
struct tt__neumf_layout {
    int f, d, e;        /* GMF size, MLP embedding size per side (width[0] / 2), f + d */
    int nl;             /* entries of width: the MLP input plus one per layer */
    int width[TT_NEUMF_MAX_LAYERS];
    int64_t w[TT_NEUMF_MAX_LAYERS], b[TT_NEUMF_MAX_LAYERS]; /* offsets, index 1 .. nl - 1 */
    int64_t h, hb, n;   /* fusion weights, fusion bias, total dense parameters */
};

void tt__neumf_layout(const tt_neumf_params *p, struct tt__neumf_layout *L);

typedef struct tt_neumf_model {
    tt_model base;
    tt_neumf_params p; /* progress callback cleared */
    struct tt__neumf_layout L;
    int32_t k;             /* = L.f, as the file records it */
    const float *U;        /* n_users x e */
    const float *T;        /* n_tracks x e */
    const float *dense;    /* L.n */
    float *A;              /* n_tracks x width[1]: each track's share of the first MLP layer */
    tt__lists lists;       /* every user's list, ranked at training time */
    const tt_neumf_epoch *hist;
    int32_t n_epochs;
    const char **user_ids; /* n_users */
    float *owned[3];       /* U, T, dense when trained here */
    tt_neumf_epoch *owned_hist;
    const char **owned_ids;
    tt_mfile *file;        /* when loaded from disk */
} tt_neumf_model;

/*
 * A model around trained arrays (taken: the model frees them): computes the derived track
 * table A and, when p->precompute > 0, the precomputed lists against @seen (may be NULL).
 */
tt_neumf_model *tt__neumf_model_new(const tt_neumf_params *p, int32_t n_users, int32_t n_tracks,
                                    float *U, float *T, float *dense);
void tt__neumf_precompute(tt_neumf_model *m, const tt_csr *seen);

#endif
