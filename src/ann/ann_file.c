/*
 * Index files: FAISS's serialisation of the index in one section of the checksummed model
 * container (kind "faiss"), with what it was built for in the metadata: catalog (header),
 * vectors, sizes and type, the type checked against the index FAISS reads back.
 */
#include "tt/ann.h"
#include "tt/core.h"
#include "tt/modelfile.h"

#include <string.h>

/* Index files store the type by these names too. */
const char *const tt_ann_type_names[TT_ANN_N_TYPES] = {"auto", "flat", "ivf", "hnsw"};

const char *tt_ann_type_name(enum tt_ann_type t)
{
    return (unsigned)t < TT_ANN_N_TYPES ? tt_ann_type_names[t] : tt_ann_type_names[TT_ANN_AUTO];
}

int tt_ann_type_parse(const char *s)
{
    for (int i = 0; s && i < TT_ANN_N_TYPES; i++)
        if (strcmp(s, tt_ann_type_names[i]) == 0)
            return i;
    return -1;
}

/* What an index file records; catalog and creation time are the container header's. */
struct index_meta {
    tt_ann_meta m;
    enum tt_ann_type type;
};

/* A built index is never "auto": the type is one of flat, ivf, hnsw. */
static const tt_mfield index_fields[] = {
    {"n", TT_MF_I64, TT_MF_AT(struct index_meta, m.n), .lo = 1, .hi = INT32_MAX},
    {"d", TT_MF_I32, TT_MF_AT(struct index_meta, m.d), .lo = 1, .hi = INT32_MAX},
    {"vectors", TT_MF_U64, TT_MF_AT(struct index_meta, m.vectors)},
    {"type", TT_MF_ENUM, TT_MF_AT(struct index_meta, type), .names = tt_ann_type_names,
     .n_names = TT_ANN_N_TYPES, .lo = TT_ANN_FLAT, .hi = TT_ANN_HNSW},
    {"build_seconds", TT_MF_F64, TT_MF_AT(struct index_meta, m.build_seconds), .lo = 0,
     .hi = 1e9},
};
#define N_INDEX_FIELDS ((int)(sizeof(index_fields) / sizeof(index_fields[0])))

uint64_t tt_ann_vectors_checksum(const float *x, int64_t n, int d)
{
    uint64_t h = tt_hash64(x, (size_t)n * (size_t)d * sizeof(float));

    return h ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)d;
}

int tt_ann_save(const tt_ann *ix, const tt_ann_meta *meta, const char *path, tt_err *err)
{
    struct index_meta im = {*meta, tt_ann_type_of(ix)};
    tt_mfile_writer *w;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    im.m.n = tt_ann_size(ix);
    im.m.d = tt_ann_dim(ix);
    rc = tt_ann_serialize(ix, &buf, &len, err);
    if (rc == 0)
        rc = tt_mfile_create(path, "faiss", meta->catalog, &w, err);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    rc = tt_mfile_put_meta(w, index_fields, N_INDEX_FIELDS, &im, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "faiss", TT_DT_U8, 1, (int64_t)len, buf, err);
    free(buf);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

int tt_ann_meta_check(const char *path, const tt_ann_meta *got, const tt_ann_meta *want,
                      tt_err *err)
{
    if (!want)
        return 0;
    if (want->catalog && want->catalog != got->catalog)
        return tt_err_set(err, TT_ECORRUPT,
                          "%s was built for catalog %016llx, not the current %016llx: "
                          "rebuild it with 'tunetrail index'", path,
                          (unsigned long long)got->catalog, (unsigned long long)want->catalog);
    if (want->d && want->d != got->d)
        return tt_err_set(err, TT_ECORRUPT,
                          "%s holds %d-dimensional vectors, the current content vectors have %d: "
                          "rebuild it with 'tunetrail index'", path, got->d, want->d);
    if (want->n && want->n != got->n)
        return tt_err_set(err, TT_ECORRUPT,
                          "%s indexes %lld tracks, the catalog has %lld: rebuild it with "
                          "'tunetrail index'", path, (long long)got->n, (long long)want->n);
    if (want->vectors && want->vectors != got->vectors)
        return tt_err_set(err, TT_ECORRUPT,
                          "%s was built from other content vectors (other features or "
                          "weights): rebuild it with 'tunetrail index'", path);
    return 0;
}

/* The index FAISS read back must be the one the metadata describes. */
static int check_index(const char *path, const tt_ann *ix, const struct index_meta *im,
                       tt_err *err)
{
    if (tt_ann_dim(ix) != im->m.d || tt_ann_size(ix) != im->m.n)
        return tt_err_set(err, TT_ECORRUPT, "%s: the index holds %lld x %d vectors, its header "
                          "says %lld x %d", path, (long long)tt_ann_size(ix), tt_ann_dim(ix),
                          (long long)im->m.n, im->m.d);
    if (tt_ann_type_of(ix) != im->type)
        return tt_err_set(err, TT_ECORRUPT, "%s: the index is %s, its header says %s", path,
                          tt_ann_type_name(tt_ann_type_of(ix)), tt_ann_type_name(im->type));
    return 0;
}

int tt_ann_load(const char *path, const tt_ann_meta *expect, tt_ann **out, tt_ann_meta *meta,
                tt_err *err)
{
    tt_mfile *f = NULL;
    const uint8_t *bytes;
    int64_t blen = -1, one = 1;
    struct index_meta im;
    tt_ann *ix = NULL;
    int rc;

    *out = NULL;
    rc = tt_mfile_open(path, &f, err);
    if (rc < 0)
        return rc;
    if (strcmp(tt_mfile_kind(f), "faiss") != 0) {
        rc = tt_err_set(err, TT_ECORRUPT, "%s is a '%s' model file, not an index", path,
                        tt_mfile_kind(f));
        goto out;
    }
    memset(&im, 0, sizeof(im));
    rc = tt_mfile_get_meta(f, index_fields, N_INDEX_FIELDS, &im, err);
    if (rc == 0)
        rc = tt_mfile_get(f, "faiss", TT_DT_U8, &one, &blen, (const void **)&bytes, err);
    if (rc < 0)
        goto out;
    im.m.catalog = tt_mfile_catalog(f);
    im.m.created_at = tt_mfile_created_at(f);
    rc = tt_ann_meta_check(path, &im.m, expect, err);
    if (rc == 0)
        rc = tt_ann_deserialize(bytes, (size_t)blen, &ix, err);
    if (rc == 0)
        rc = check_index(path, ix, &im, err);
    if (rc < 0) {
        tt_ann_free(ix);
        goto out;
    }
    *out = ix;
    if (meta)
        *meta = im.m;
out:
    tt_mfile_close(f);
    return rc;
}
