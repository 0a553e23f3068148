/*
 * The engine's own CSV imports (src/ingest/import.c, import_util.c): the input is written to
 * a file and imported as tracks, as users and as interactions, each into an empty SQLite
 * database, strictly and then skipping bad rows, with the checks of fz_import_both: a
 * failed import leaves nothing behind, the two modes agree, counts add up.
 */
#include "support/fuzz_import.h"
#include "support/fuzz_support.h"

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("import_csv");
    fz_path(path, sizeof(path), "input.csv");
    return 0;
}

static int import(tt_store *s, const tt_import_opts *o, tt_import_stats *st, void *ctx)
{
    return tt_import_csv(s, *(enum tt_import_kind *)ctx, path, o, st, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum tt_import_kind kinds[] = {TT_IMPORT_TRACKS, TT_IMPORT_USERS,
                                                TT_IMPORT_INTERACTIONS};
    static const char *const what[] = {"import tracks", "import users", "import interactions"};

    fz_write(path, data, size);
    for (int i = 0; i < 3; i++)
        fz_import_both(import, (void *)&kinds[i], what[i]);
    return 0;
}
