/*
 * registry.h - model versions on disk (docs/pipeline.md).
 *
 * Every training run writes a new version directory, complete before it appears:
 *
 *   MODEL_DIR/{tier}/{model}/{version}/{model}.ttm    the model file
 *   MODEL_DIR/{tier}/{model}/{version}/{model}.json   its sidecar (params, data, metrics)
 *   MODEL_DIR/{tier}/{model}/{version}/catalog.ttm    the catalog it was trained with
 *   MODEL_DIR/{tier}/{model}/{version}/faiss_indexes/ the content model's index
 *
 * The engine serves the published version: the files at the seed's places,
 * MODEL_DIR/{tier}/{model}.ttm and .json, MODEL_DIR/catalog.ttm and
 * MODEL_DIR/faiss_indexes/, are hard links to one version's files, each replaced by a
 * rename (atomic), the sidecar last. MODEL_DIR/{tier}/{model}/history lists the versions
 * published, oldest first; rollback publishes the one before the current.
 *
 * Version names are the training time, "20261202T040000Z" (a suffix "-2", "-3" when two
 * runs finish in the same second), so names sort by age.
 */
#ifndef TT_REGISTRY_H
#define TT_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tt/err.h"

#define TT_VERSION_MAX 40

/* A version being written: its directory exists under a temporary name until committed. */
typedef struct tt_draft {
    char dir[1100];     /* write the version's files here */
    char final[1100];   /* where it appears on commit */
    char version[TT_VERSION_MAX];
    char tier[16];
    char model[64];
    char log[1200];     /* its TensorBoard log directory (tt_registry_log_dir) */
} tt_draft;

/*
 * Starts version of @tier/@model trained at @trained_at (Unix seconds): creates the
 * temporary directory d->dir. Leftovers of runs that died before committing are removed.
 */
int tt_draft_begin(const char *model_dir, const char *tier, const char *model,
                   int64_t trained_at, tt_draft *d, tt_err *err);
/* Syncs every file of the draft and renames its directory to its final name. */
int tt_draft_commit(tt_draft *d, tt_err *err);
/* Removes the draft's directory and its TensorBoard log, and everything in them. */
void tt_draft_abandon(tt_draft *d);

/*
 * Publishes version @version of @tier/@model: links its files to the served names (see
 * above) and appends it to the history. TT_ENOTFOUND for an unknown version.
 */
int tt_registry_publish(const char *model_dir, const char *tier, const char *model,
                        const char *version, tt_err *err);
/*
 * Publishes the version published before the current one (copied to @version, which may
 * be NULL). TT_ENOTFOUND when there is none left on disk.
 */
int tt_registry_rollback(const char *model_dir, const char *tier, const char *model,
                         char *version, tt_err *err);
/* The published sidecar of @tier/@model (MODEL_DIR/{tier}/{model}.json), or NULL. */
json_t *tt_registry_sidecar(const char *model_dir, const char *tier, const char *model);
/*
 * The sidecar of version @version of @tier/@model
 * (MODEL_DIR/{tier}/{model}/{version}/{model}.json), or NULL when missing, unreadable or
 * not an object, or when a name is not a plain name of its kind. The caller owns it.
 */
json_t *tt_registry_version_sidecar(const char *model_dir, const char *tier, const char *model,
                                    const char *version);
/*
 * Whether @sidecar says its model was trained on catalog @catalog; a sidecar that does not
 * say (older files, NULL) is taken at its word that it was.
 */
bool tt_registry_same_catalog(const json_t *sidecar, uint64_t catalog);

/* The published version of @tier/@model ("" when none), from its served sidecar. */
void tt_registry_published(const char *model_dir, const char *tier, const char *model,
                           char *version);
/* The version a rollback would publish ("" when none). */
void tt_registry_previous(const char *model_dir, const char *tier, const char *model,
                          char *version);
/*
 * Keeps the newest @keep versions of @tier/@model plus the published one and the rollback
 * target; deletes the others (and their TensorBoard logs). *@removed (may be NULL): how many.
 */
int tt_registry_prune(const char *model_dir, const char *tier, const char *model, int keep,
                      int *removed, tt_err *err);
/* The tier of the model named @model on disk (the first tier holding it), or NULL (also
 * for a name that is not one plain path segment of [a-z0-9_-]). */
const char *tt_registry_tier_of(const char *model_dir, const char *model);

/*
 * Whether a new version with sidecar @next replaces the served one (@current, NULL when
 * nothing is served): not when its held-out NDCG@20 is below the served one's by more than
 * @margin (relative: 0.05 = 5%). @why (at least 200 bytes) says why, either way.
 */
bool tt_registry_gate(const json_t *next, const json_t *current, double margin, char *why,
                      size_t cap);

/*
 * Every model's versions, for GET /models/versions: [{model, tier, published, previous,
 * versions: [{version, trained_at, published, metrics, promotion}]}], newest first.
 */
json_t *tt_registry_list(const char *model_dir);

/*
 * The free tier's recommender among its published ALS, EASE and blend models: the blend
 * when it and both its parts are published and its validation NDCG@20 beats the better of
 * ALS and EASE alone on the same split by 0.5%; else the one of ALS and EASE with the
 * higher validation NDCG@20 from tuning (both tune on the same validation split), else
 * the higher held-out NDCG@20, else ALS; EASE only when it is published. Returns "als",
 * "ease" or "blend"; @why (may be NULL; @cap bytes) says why.
 */
const char *tt_registry_free_choice(const char *model_dir, char *why, size_t cap);

/* "20261126T162100Z" for Unix time @t. */
void tt_registry_version_name(int64_t t, char *buf, size_t n);

/* The directory of the TensorBoard logs of one version: MODEL_DIR/logs/{tier}/{model}/{v}. */
void tt_registry_log_dir(const char *model_dir, const char *tier, const char *model,
                         const char *version, char *buf, size_t cap);

#endif
