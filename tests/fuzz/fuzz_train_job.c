/*
 * POST /models/train (src/http/h_jobs.c, src/pipeline/jobspec.c): any body, through the
 * handler of a small real service (support/fuzz_app.h), which checks the job spec and queues
 * the job in SQLite (the fixture runs no job thread: nothing is trained). A spec that parses
 * is also applied as a training run would apply it: the models it selects and the mask of
 * its data filters over the fixture's events.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

#include <stdlib.h>

#include "tt/dataset.h"
#include "tt/pipeline.h"

static tt_dataset *ds;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tt_err err = {0};

    (void)argc;
    (void)argv;
    fz_init("train_job");
    if (tt_dataset_load(fz_app()->store, &ds, &err) < 0)
        fz_fail("load the dataset: %s", err.message);
    return 0;
}

/* What a run does with the spec before training anything. */
static void apply(const json_t *body)
{
    tt_job_spec spec;
    uint8_t *mask;
    int64_t kept = -1, n = 0;

    if (tt_job_spec_parse(body, &spec, NULL) < 0)
        return;
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        n += tt_job_spec_wants(&spec, i);
    mask = tt_job_spec_mask(&spec, ds, &kept);
    if (kept < 0 || kept > ds->n_events || (!mask && kept != ds->n_events))
        fz_fail("the data filters kept %lld of %lld events", (long long)kept,
                (long long)ds->n_events);
    if (fz_verbose())
        fprintf(stderr, "fuzz: %lld models, %lld events kept\n", (long long)n, (long long)kept);
    free(mask);
    tt_job_spec_release(&spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_body(data, size);

    if (!body)
        return 0;
    if (fz_handle(tt__h_train_submit, body) == 202)
        apply(body);
    json_decref(body);
    return 0;
}
