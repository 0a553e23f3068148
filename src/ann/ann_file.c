/*
 * Index files: FAISS's serialisation of the index in one section of the checksummed model
 * container (kind "faiss"), with what it was built for: catalog, vectors, sizes.
 */
#include "tt/ann.h"
#include "tt/core.h"
#include "tt/modelfile.h"

#include <string.h>

enum { META_N, META_D, META_VECTORS, META_TYPE, META_BUILD_US, META_COUNT };

uint64_t tt_ann_vectors_checksum(const float *x, int64_t n, int d)
{
    uint64_t h = tt_hash64(x, (size_t)n * (size_t)d * sizeof(float));

    return h ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL) ^ (uint64_t)d;
}

int tt_ann_save(const tt_ann *ix, const tt_ann_meta *meta, const char *path, tt_err *err)
{
    int64_t m[META_COUNT] = {tt_ann_size(ix), tt_ann_dim(ix), (int64_t)meta->vectors,
                             tt_ann_type_of(ix), (int64_t)(meta->build_seconds * 1e6)};
    tt_mfile_writer *w;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    rc = tt_ann_serialize(ix, &buf, &len, err);
    if (rc == 0)
        rc = tt_mfile_create(path, "faiss", meta->catalog, &w, err);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    rc = tt_mfile_add(w, "meta", TT_DT_I64, 1, META_COUNT, m, err);
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

int tt_ann_load(const char *path, const tt_ann_meta *expect, tt_ann **out, tt_ann_meta *meta,
                tt_err *err)
{
    tt_mfile *f = NULL;
    const int64_t *m;
    const uint8_t *bytes;
    int64_t rows = 1, cols = META_COUNT, blen = -1, one = 1;
    tt_ann_meta got;
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
    rc = tt_mfile_get(f, "meta", TT_DT_I64, &rows, &cols, (const void **)&m, err);
    if (rc == 0)
        rc = tt_mfile_get(f, "faiss", TT_DT_U8, &one, &blen, (const void **)&bytes, err);
    if (rc < 0)
        goto out;
    memset(&got, 0, sizeof(got));
    got.catalog = tt_mfile_catalog(f);
    got.vectors = (uint64_t)m[META_VECTORS];
    got.n = m[META_N];
    got.d = (int)m[META_D];
    got.created_at = tt_mfile_created_at(f);
    got.build_seconds = (double)m[META_BUILD_US] / 1e6;
    rc = tt_ann_meta_check(path, &got, expect, err);
    if (rc == 0)
        rc = tt_ann_deserialize(bytes, (size_t)blen, &ix, err);
    if (rc == 0 && (tt_ann_dim(ix) != got.d || tt_ann_size(ix) != got.n))
        rc = tt_err_set(err, TT_ECORRUPT, "%s: the index holds %lld x %d vectors, its header "
                        "says %lld x %d", path, (long long)tt_ann_size(ix), tt_ann_dim(ix),
                        (long long)got.n, got.d);
    if (rc < 0) {
        tt_ann_free(ix);
        goto out;
    }
    *out = ix;
    if (meta)
        *meta = got;
out:
    tt_mfile_close(f);
    return rc;
}
