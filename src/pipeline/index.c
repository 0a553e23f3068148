/*
 * The content model's FAISS index and its JSON sidecar, written under a model directory
 * (MODEL_DIR, or a version's directory) by `train` and `tunetrail index`.
 */
#include "tt/ann.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/fileio.h"
#include "tt/pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tt_pipeline_write_json(const char *path, const json_t *j, tt_err *err)
{
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc;

    if (!text)
        return tt_err_set(err, TT_EINTERNAL, "%s: the JSON could not be encoded", path);
    rc = tt_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}

static int write_sidecar(const char *dir, const tt_ann *ix, const tt_ann_meta *meta,
                         const char *path, tt_err *err)
{
    char side[1200], catalog[32];
    json_t *j;
    int rc;

    snprintf(side, sizeof(side), "%s/faiss_indexes/content.json", dir);
    snprintf(catalog, sizeof(catalog), "%016llx", (unsigned long long)meta->catalog);
    j = json_pack("{s:s, s:s, s:s, s:I, s:i, s:I, s:f, s:i, s:i, s:i, s:i, s:s}", "index",
                  "content", "type", tt_ann_type_name(tt_ann_type_of(ix)), "file", path,
                  "tracks", (json_int_t)meta->n, "dim", meta->d, "created_at",
                  (json_int_t)meta->created_at, "build_seconds", meta->build_seconds, "m",
                  tt_ann_m(ix), "ef_search", tt_ann_ef_search(ix), "nlist", tt_ann_nlist(ix),
                  "nprobe", tt_ann_nprobe(ix), "catalog", catalog);
    rc = tt_pipeline_write_json(side, j, err);
    json_decref(j);
    return rc;
}

int tt_pipeline_write_index(const char *dir, const float *vec, int64_t n, int d,
                            uint64_t catalog, const tt_ann_params *p, tt_err *err)
{
    char path[1200];
    tt_ann_meta meta = {catalog, tt_ann_vectors_checksum(vec, n, d), n, d, tt_unix_time(), 0};
    tt_ann *ix = NULL;
    double t0 = tt_now();
    struct stat st;
    int rc;

    tt_content_index_path(dir, path, sizeof(path));
    fprintf(stderr, "index: %lld tracks x %d dimensions, type %s\n", (long long)n, d,
            tt_ann_type_name(p->type == TT_ANN_AUTO ? tt_ann_auto_type(n) : p->type));
    rc = tt_ann_build(vec, n, d, p, &ix, err);
    if (rc < 0)
        return rc;
    meta.build_seconds = tt_now() - t0;
    rc = tt_ann_save(ix, &meta, path, err);
    if (rc == 0)
        rc = write_sidecar(dir, ix, &meta, path, err);
    if (rc == 0)
        printf("%-11s %-8s %7.2f s  %s (%s, %.1f MB)\n", "index", "starter", meta.build_seconds,
               path, tt_ann_type_name(tt_ann_type_of(ix)),
               stat(path, &st) == 0 ? (double)st.st_size / 1e6 : 0.0);
    tt_ann_free(ix);
    return rc;
}

