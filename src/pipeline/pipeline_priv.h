/*
 * pipeline_priv.h - what the files of src/pipeline share beyond include/tt/pipeline.h.
 */
#ifndef TT_PIPELINE_PRIV_H
#define TT_PIPELINE_PRIV_H

#include "tt/config.h"
#include "tt/dataset.h"
#include "tt/err.h"
#include "tt/model.h"

/*
 * The snapshot every served model is made against: the whole database of @cfg read into
 * *@ds (caller frees with tt_dataset_free, also on error), and @ts built from all its events
 * with the default weighting (caller releases; built only on success). The catalog written
 * from the two (tt_catalog_save) is the one a training run and a factor import publish, so
 * the served snapshot's catalog check passes for both. Errors are the store's.
 */
int tt__pipeline_snapshot(const tt_config *cfg, tt_dataset **ds, tt_train_set *ts, tt_err *err);

#endif
