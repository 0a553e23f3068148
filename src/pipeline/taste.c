/*
 * The taste summary (tt/taste.h) written when `tunetrail train` trains the pro tier: not a
 * recommender, so not in the model table, but served with the pro tier's files.
 */
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/pipeline.h"
#include "tt/registry.h"
#include "tt/taste.h"

#include <stdio.h>
#include <string.h>

static json_t *sidecar(const tt_taste *t, const tt_dataset *ds, const char *file, double secs)
{
    char version[32], catalog[32];
    json_t *pop = json_object(), *j;

    tt_registry_version_name(tt_taste_created_at(t), version, sizeof(version));
    for (int s = 0; s < TT_TASTE_N_STATS; s++)
        json_object_set_new(pop, tt_taste_stat_name(s),
                            json_integer((json_int_t)tt_taste_population(t, s)));
    j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:f, s:{s:i, s:i, s:I}, s:{s:i, s:i, s:i, s:o}}",
                     "model", "taste", "tier", "pro", "version", version, "file", file,
                     "trained_at", (json_int_t)tt_taste_created_at(t), "train_seconds", secs,
                     "data", "users", tt_dataset_n_users(ds), "tracks", tt_dataset_n_tracks(ds),
                     "interactions", (json_int_t)ds->n_events, "params", "quantiles",
                     TT_TASTE_QUANTILES, "sparse_plays", TT_TASTE_SPARSE_PLAYS, "window_days",
                     TT_TASTE_WINDOW_DAYS, "population", pop);
    snprintf(catalog, sizeof(catalog), "%016llx", (unsigned long long)tt_catalog_checksum(ds));
    json_object_set_new(j, "catalog", json_string(catalog));
    return j;
}

int tt_pipeline_train_taste(const tt_config *cfg, const tt_dataset *ds, tt_err *err)
{
    char path[1200], side[1200];
    double t0 = tt_now();
    tt_taste *t = NULL;
    json_t *j;
    int rc;

    snprintf(path, sizeof(path), "%s/pro/taste.ttm", cfg->model_dir);
    snprintf(side, sizeof(side), "%s/pro/taste.json", cfg->model_dir);
    fprintf(stderr, "training taste (population summary for taste profiles)\n");
    rc = tt_taste_build(ds, tt_catalog_checksum(ds), &t, err);
    if (rc == 0)
        rc = tt_taste_save(t, path, err);
    if (rc == 0) {
        j = sidecar(t, ds, path, tt_now() - t0);
        rc = tt_pipeline_write_json(side, j, err);
        json_decref(j);
    }
    if (rc == 0)
        printf("%-11s %-8s %7.2f s  %s\n", "taste", "pro", tt_now() - t0, path);
    tt_taste_free(t);
    return rc;
}
