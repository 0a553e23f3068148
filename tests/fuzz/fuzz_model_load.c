/*
 * Every loader of a model file the service reads: the models (tt_model_load over
 * src/models/: ALS, EASE, popularity, trending, genre, content, hybrid, NeuMF, deep
 * content, hybrid deep), the taste summary (src/models/taste.c) and the catalog snapshot
 * (src/models/catalog.c). Fuzzed bytes, checksums made right (support/fuzz_mfile.h), are
 * loaded from a file by each; a file must be refused cleanly or load into something that
 * works:
 * - a model is asked for recommendations (a known listener, a listener folded in from a
 *   history) and similar tracks, and every track it returns must be one of its own;
 * - a taste summary computes a profile over every track it knows;
 * - a catalog is read as the service reads it: every track's ids, names and genres, every
 *   listener's history and genres, lookups by id, every id in range.
 * The seeds hold a file of each kind.
 */
#include "support/fuzz_mfile.h"
#include "support/fuzz_support.h"

#include <stdlib.h>
#include <string.h>

#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/model.h"
#include "tt/taste.h"

#define K 10

static char path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("model_load");
    fz_path(path, sizeof(path), "input.ttm");
    return 0;
}

static void check_tracks(const tt_model *m, const char *what, const tt_scored *out, int n)
{
    if (n < 0 || n > K)
        fz_fail("%s %s: %d results for k = %d", m->name, what, n, K);
    for (int i = 0; i < n; i++)
        if (out[i].track < 0 || out[i].track >= m->n_tracks)
            fz_fail("%s %s: track %d of a model of %d tracks", m->name, what, out[i].track,
                    m->n_tracks);
}

static void recommend(const tt_model *m, const tt_query *q, const char *what)
{
    tt_scored out[K];
    int n = 0;

    if (tt_model_recommend(m, q, K, out, &n, NULL) == 0)
        check_tracks(m, what, out, n);
}

/* What the service asks of a served model, at the edges of its ids. */
static void use_model(const tt_model *m)
{
    int32_t hist[2] = {0, m->n_tracks - 1};
    float conf[2] = {1.0f, 3.0f};
    tt_query q = {.user = -1};
    tt_scored out[K];
    int n = 0;

    if (m->n_users > 0) {
        q.user = 0;
        recommend(m, &q, "recommend (first listener)");
        q.user = m->n_users - 1;
        recommend(m, &q, "recommend (last listener)");
    }
    if (m->n_tracks > 0) {
        q = (tt_query){.user = -1, .hist = hist, .hist_conf = conf, .n_hist = 2};
        recommend(m, &q, "recommend (folded in)");
        for (int i = 0; i < 2; i++)
            if (tt_model_similar(m, hist[i], K, out, &n, NULL) == 0)
                check_tracks(m, "similar", out, n);
    }
}

static void use_taste(const tt_taste *t)
{
    int32_t n = tt_taste_n_tracks(t);
    tt_taste_event *ev = tt_malloc((size_t)(n + 1) * sizeof(*ev));
    tt_taste_profile *p = tt_malloc(sizeof(*p));

    for (int32_t i = 0; i < n; i++)
        ev[i] = (tt_taste_event){i, TT_ACT_PLAY, 1.0f, INT64_C(1700000000) + 3600 * i};
    ev[n] = (tt_taste_event){-1, TT_ACT_PLAY, 1.0f, INT64_C(1700000000)};
    (void)tt_taste_profile_compute(t, ev, n + 1, NULL, p, NULL);
    for (int32_t i = 0; i < n; i++) {
        (void)tt_taste_genre_name(t, tt_taste_track_genre(t, i));
        (void)tt_taste_artist_name(t, tt_taste_track_artist(t, i));
    }
    free(p);
    free(ev);
}

static void ids_in(const int32_t *ids, int32_t n, int32_t bound, const char *what)
{
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= bound)
            fz_fail("%s: id %d of %d", what, ids[i], bound);
}

static void catalog_tracks(const tt_catalog *c)
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

static void catalog_users(const tt_catalog *c)
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
    tt_model *m = NULL;
    tt_taste *t = NULL;
    tt_catalog *c = NULL;

    fz_write_model_file(path, data, size);
    if (tt_model_load(path, 0, &m, NULL) == 0) {
        use_model(m);
        tt_model_free(m);
    }
    if (tt_taste_load(path, 0, &t, NULL) == 0) {
        use_taste(t);
        tt_taste_free(t);
    }
    if (tt_catalog_load(path, &c, NULL) == 0) {
        catalog_tracks(c);
        catalog_users(c);
        (void)tt_catalog_track_find(c, "no such track");
        tt_catalog_free(c);
    }
    return 0;
}
