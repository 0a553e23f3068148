/*
 * The Last.fm HetRec 2011 import (src/ingest/import_lastfm.c): the input stands for the
 * dataset's directory, its parts separated by form feeds: tags.dat, user_taggedartists.dat,
 * artists.dat, user_artists.dat (files past the last part are missing). Imported into an
 * empty SQLite database, strictly and then skipping bad rows, with the checks of
 * fz_import_both: a failed import leaves nothing behind, the two modes agree.
 */
#include "support/fuzz_import.h"
#include "support/fuzz_support.h"

static const char *const files[] = {"tags.dat", "user_taggedartists.dat", "artists.dat",
                                    "user_artists.dat", NULL};
static char dir[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("import_lastfm");
    fz_path(dir, sizeof(dir), "lastfm");
    return 0;
}

static int import(tt_store *s, const tt_import_opts *o, tt_import_stats *st, void *ctx)
{
    (void)ctx;
    return tt_import_lastfm_hetrec(s, dir, o, st, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write_parts(dir, files, data, size);
    fz_import_both(import, NULL, "import lastfm");
    return 0;
}
