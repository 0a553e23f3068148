/*
 * The MusicOSet import (src/ingest/import_musicoset.c): the input stands for the dataset's
 * directory, its parts separated by form feeds: musicoset_metadata/artists.csv,
 * musicoset_metadata/tracks.csv, musicoset_songfeatures/acoustic_features.csv,
 * musicoset_metadata/songs.csv (files past the last part are missing). Imported into an
 * empty SQLite database, strictly and then skipping bad rows, with the checks of
 * fz_import_both: a failed import leaves nothing behind, the two modes agree. Covers the
 * parsing of the Python literals in its fields (genre lists, artist dicts).
 */
#include "support/fuzz_import.h"
#include "support/fuzz_support.h"

static const char *const files[] = {
    "musicoset_metadata/artists.csv", "musicoset_metadata/tracks.csv",
    "musicoset_songfeatures/acoustic_features.csv", "musicoset_metadata/songs.csv", NULL};
static char dir[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("import_musicoset");
    fz_path(dir, sizeof(dir), "musicoset");
    return 0;
}

static int import(tt_store *s, const tt_import_opts *o, tt_import_stats *st, void *ctx)
{
    (void)ctx;
    return tt_import_musicoset(s, dir, o, st, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write_parts(dir, files, data, size);
    fz_import_both(import, NULL, "import musicoset");
    return 0;
}
