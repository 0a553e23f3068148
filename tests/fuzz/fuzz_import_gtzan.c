/*
 * The GTZAN feature-table import (src/ingest/import_gtzan.c): the input is written to a file
 * and imported into an empty SQLite database, strictly and then skipping bad rows, with the
 * checks of fz_import_both: a failed import leaves nothing behind, the two modes agree.
 */
#include "support/fuzz_import.h"
#include "support/fuzz_support.h"

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("import_gtzan");
    fz_path(path, sizeof(path), "features_30_sec.csv");
    return 0;
}

static int import(tt_store *s, const tt_import_opts *o, tt_import_stats *st, void *ctx)
{
    (void)ctx;
    return tt_import_gtzan(s, path, o, st, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write(path, data, size);
    fz_import_both(import, NULL, "import gtzan");
    return 0;
}
