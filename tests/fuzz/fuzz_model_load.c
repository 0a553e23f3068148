/*
 * Every model loader (tt_model_load over src/models/: ALS, EASE, popularity, trending,
 * genre, content, hybrid, NeuMF, deep content, hybrid deep) and the taste summary's
 * (src/models/taste.c): fuzzed bytes, checksums made right (support/fuzz_mfile.h), loaded
 * from a file. A file must be refused cleanly or load into a model that works: one that
 * loads is asked for recommendations (a known listener, a listener folded in from a
 * history) and similar tracks, and every track it returns must be one of its own; a taste
 * summary that loads computes a profile over every track it knows.
 */
#include "support/fuzz_mfile.h"
#include "support/fuzz_support.h"

#include <stdlib.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_model *m = NULL;
    tt_taste *t = NULL;

    fz_write_model_file(path, data, size);
    if (tt_model_load(path, 0, &m, NULL) == 0) {
        use_model(m);
        tt_model_free(m);
    }
    if (tt_taste_load(path, 0, &t, NULL) == 0) {
        use_taste(t);
        tt_taste_free(t);
    }
    return 0;
}
