/*
 * The catalog snapshot loader (src/models/catalog.c): fuzzed bytes, checksums made right
 * (support/fuzz_mfile.h), loaded from a file. A catalog that loads is read the way the
 * service reads it: every track's ids, names and genres, every listener's history and
 * genres, lookups by id; every id it hands out must be in range.
 */
#include "support/fuzz_mfile.h"
#include "support/fuzz_support.h"

#include <string.h>

#include "tt/catalog.h"

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("catalog");
    fz_path(path, sizeof(path), "catalog.ttm");
    return 0;
}

static void ids_in(const int32_t *ids, int32_t n, int32_t bound, const char *what)
{
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= bound)
            fz_fail("%s: id %d of %d", what, ids[i], bound);
}

static void tracks(const tt_catalog *c)
{
    int32_t nt = tt_catalog_n_tracks(c), ng = tt_catalog_n_genres(c);

    for (int32_t t = 0; t < nt; t++) {
        const int32_t *g;
        int32_t n;
        const char *id = tt_catalog_track_id(c, t);
        if (tt_catalog_track_find(c, id) < 0)
            fz_fail("track %d (%s) is not found by its id", t, id);
        (void)strlen(tt_catalog_track_title(c, t));
        (void)strlen(tt_catalog_track_artist(c, t));
        (void)strlen(tt_catalog_track_artist_platform_id(c, t));
        (void)strlen(tt_catalog_track_genre(c, t));
        (void)tt_catalog_track_artist_id(c, t);
        tt_catalog_track_genres(c, t, &g, &n);
        ids_in(g, n, ng, "track genres");
        for (int32_t j = 0; j < n; j++)
            (void)strlen(tt_catalog_track_genre_at(c, t, j));
    }
}

static void users(const tt_catalog *c)
{
    int32_t nu = tt_catalog_n_users(c), nt = tt_catalog_n_tracks(c), ng = tt_catalog_n_genres(c);

    for (int32_t u = 0; u < nu; u++) {
        const int32_t *ids;
        const float *val;
        int32_t n;
        (void)tt_catalog_user_find(c, tt_catalog_user_id(c, u));
        tt_catalog_user_seen(c, u, &ids, &val, &n);
        ids_in(ids, n, nt, "seen tracks");
        tt_catalog_user_positives(c, u, &ids, &val, &n);
        ids_in(ids, n, nt, "positive tracks");
        (void)tt_catalog_user_positive_ages(c, u);
        tt_catalog_user_genres(c, u, &ids, &n);
        ids_in(ids, n, ng, "user genres");
    }
    for (int32_t g = 0; g < ng; g++)
        (void)tt_catalog_genre_find(c, tt_catalog_genre_name(c, g));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_catalog *c = NULL;

    fz_write_model_file(path, data, size);
    if (tt_catalog_load(path, &c, NULL) < 0)
        return 0;
    tracks(c);
    users(c);
    (void)tt_catalog_track_find(c, "no such track");
    tt_catalog_free(c);
    return 0;
}
