/*
 * The content model: track vectors (unit length or zero, key on the circle, weights that
 * change the space), similar tracks, listener centres, the fallback for listeners whose
 * history has no content, model files, and answers from an attached FAISS index.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fixtures.h"
#include "tt/ann.h"
#include "tt/catalog.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/modelfile.h"
#include "tt/popularity.h"
#include "tt/recommend.h"

#define K 10
/* Audio part: ten standardised scalars and key as (cos, sin). */
#define D_AUDIO 12

static char dir[64];
static char path[256];

static void setup_dir(void)
{
    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "content.ttm");
}

static void teardown_dir(void)
{
    fx_rmtree(dir);
}

/* ---- helpers ------------------------------------------------------------------------------ */

static tt_model *train(const tt_dataset *ds, const tt_content_params *p)
{
    tt_train_set ts;
    tt_model *m = NULL;
    tt_err err = {0};
    int rc;

    fx_train_set(ds, &ts);
    rc = tt_content_train(&ts, p, &m, &err);
    tt_train_set_release(&ts);
    cr_assert_eq(rc, 0, "content training failed: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(m);
    return m;
}

static float *vectors(const tt_dataset *ds, const tt_content_params *p, int *d)
{
    float *vec = NULL;
    tt_err err = {0};
    int rc = tt_content_vectors(ds, p, &vec, d, &err);

    cr_assert_eq(rc, 0, "content vectors: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(vec);
    return vec;
}

static int32_t track(const tt_dataset *ds, const char *id)
{
    int32_t t = tt_ids_find(ds->tracks, id, strlen(id));
    cr_assert(t >= 0, "no track %s", id);
    return t;
}

static int32_t user(const tt_dataset *ds, const char *id)
{
    int32_t u = tt_ids_find(ds->users, id, strlen(id));
    cr_assert(u >= 0, "no user %s", id);
    return u;
}

static double dotd(const float *a, const float *b, int d)
{
    double s = 0.0;
    for (int j = 0; j < d; j++)
        s += (double)a[j] * b[j];
    return s;
}

static bool all_zero(const float *v, int d)
{
    for (int j = 0; j < d; j++)
        if (v[j] != 0.0f)
            return false;
    return true;
}

static int vector_count(const float *vec, int32_t n, int d)
{
    int c = 0;
    for (int32_t t = 0; t < n; t++)
        c += !all_zero(vec + (size_t)t * d, d);
    return c;
}

static int similar(const tt_model *m, int32_t t, int k, tt_scored *out)
{
    tt_err err = {0};
    int n = -1, rc = tt_model_similar(m, t, k, out, &n, &err);

    cr_assert_eq(rc, 0, "similar to %d: %s", t, tt_err_msg(&err, rc));
    cr_assert(n >= 0 && n <= k);
    return n;
}

/*
 * The content model's list for user @u from their stored centres or, with @hist, folded in
 * from row @u of @hist as an unknown user would be.
 */
static int recommend(const tt_model *m, int32_t u, const tt_csr *hist, const int32_t *excl,
                     int32_t n_excl, const uint8_t *allow, int k, tt_scored *out)
{
    tt_query q = {.user = u, .exclude = excl, .n_exclude = n_excl, .allow = allow};
    tt_err err = {0};
    int n = -1, rc;

    if (hist) {
        q.user = -1;
        q.n_hist = fx_row(hist, u, &q.hist, &q.hist_conf);
        cr_assert(q.n_hist > 0, "user %d has no history to fold in", u);
    }
    rc = tt_model_recommend(m, &q, k, out, &n, &err);
    cr_assert_eq(rc, 0, "recommend for user %d: %s", u, tt_err_msg(&err, rc));
    cr_assert(n >= 0 && n <= k);
    return n;
}

static int count_group(const tt_dataset *ds, const tt_scored *out, int n, int g)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += fx_track_group(ds, out[i].track) == g;
    return c;
}

static bool same_tracks(const tt_scored *a, int na, const tt_scored *b, int nb)
{
    if (na != nb)
        return false;
    for (int i = 0; i < na; i++)
        if (a[i].track != b[i].track)
            return false;
    return true;
}

/* Share of @b's tracks found in @a (lists of the same length). */
static double overlap(const tt_scored *a, int na, const tt_scored *b, int nb)
{
    int hit = 0;
    for (int i = 0; i < nb; i++)
        hit += fx_scored_contains(a, na, b[i].track);
    return nb ? (double)hit / nb : 1.0;
}

static void add_plays(tt_dataset *ds, const char *u, int g, int from, int n, float w)
{
    char id[32];
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "g%02d-t%03d", g, from + i);
        fx_add_event(ds, u, id, TT_ACT_PLAY, w, FX_T0 - (i + 1) * 3600);
    }
}

/*
 * A sound catalog (fx_add_sound_catalog) of @groups x @tpg tracks plus three tracks with no
 * content at all ("bare-0".."bare-2"), and listeners: "mix" played 15 tracks of group 0 and
 * 15 of group 2, "lopsided" 24 of group 0 and 10 of group 2 (all as much), "solo" 20 of
 * group 1, "bare" only the bare tracks, and three listeners per group ("g03-u001") 12 tracks
 * of their group each.
 */
static tt_dataset *listeners_dataset(int groups, int tpg, uint64_t seed)
{
    tt_dataset *ds = tt_dataset_new();
    char id[32];

    fx_add_sound_catalog(ds, groups, tpg, seed);
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "bare-%d", i);
        fx_add_track(ds, id, "bare-artist", NULL);
    }
    fx_add_user(ds, "mix", NULL);
    add_plays(ds, "mix", 0, 0, 15, 3.0f);
    add_plays(ds, "mix", 2, 0, 15, 3.0f);
    fx_add_user(ds, "lopsided", NULL);
    add_plays(ds, "lopsided", 0, 15, 24, 3.0f);
    add_plays(ds, "lopsided", 2, 15, 10, 3.0f);
    fx_add_user(ds, "solo", NULL);
    add_plays(ds, "solo", 1, 0, 20, 2.0f);
    fx_add_user(ds, "bare", NULL);
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "bare-%d", i);
        fx_add_event(ds, "bare", id, TT_ACT_PLAY, 4.0f, FX_T0 - (i + 1) * 60);
    }
    for (int g = 0; g < groups; g++) {
        for (int i = 0; i < 3; i++) {
            snprintf(id, sizeof(id), "g%02d-u%03d", g, i);
            fx_add_user(ds, id, fx_group_genre(g));
            add_plays(ds, id, g, 5 * i, 12, 1.0f + (float)i);
        }
    }
    tt_dataset_finish(ds);
    return ds;
}

/* ---- vectors ------------------------------------------------------------------------------ */

/*
 * Every kind of track: full features with genres, only a tempo, only a genre, only an
 * embedding, everything, and nothing at all.
 */
static tt_dataset *mixed_dataset(void)
{
    tt_dataset *ds = tt_dataset_new();
    float f[TT_N_FEATURES];
    const float emb[4][3] = {{0, 1, 0}, {1, 0, 0.5f}, {2, -1, 1}, {2, -1, 0}};
    char id[32];

    for (int i = 0; i < 6; i++) {
        snprintf(id, sizeof(id), "full-%d", i);
        fx_track_sound(i % 3, i, 5, f);
        fx_add_track_content(ds, id, "artist-a", i % 2 ? "rock" : "jazz|bebop", f, NULL, 0);
    }
    for (int j = 0; j < TT_N_FEATURES; j++)
        f[j] = NAN;
    f[TT_F_TEMPO] = 150.0f;
    fx_add_track_content(ds, "partial", "artist-b", NULL, f, NULL, 0);
    fx_add_track(ds, "genre-only", "artist-b", "folk");
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "emb-%d", i);
        fx_add_track_content(ds, id, "artist-c", NULL, NULL, emb[i], 3);
    }
    fx_track_sound(1, 9, 5, f);
    fx_add_track_content(ds, "all", "artist-c", "rock", f, emb[3], 3);
    fx_add_track(ds, "nothing", "artist-d", NULL);
    fx_add_user(ds, "listener", NULL);
    fx_add_event(ds, "listener", "full-0", TT_ACT_PLAY, 3.0f, FX_T0 - 300);
    fx_add_event(ds, "listener", "full-1", TT_ACT_PLAY, 1.0f, FX_T0 - 200);
    fx_add_event(ds, "listener", "nothing", TT_ACT_PLAY, 5.0f, FX_T0 - 100);
    tt_dataset_finish(ds);
    return ds;
}

Test(content, vectors_are_unit_length_or_zero_for_a_track_without_content)
{
    tt_dataset *ds = mixed_dataset();
    tt_content_params p = tt_content_params_default();
    int32_t nt = tt_dataset_n_tracks(ds), nothing = track(ds, "nothing");
    int32_t genre_only = track(ds, "genre-only"), emb0 = track(ds, "emb-0");
    int d = 0, dm = 0;
    float *vec = vectors(ds, &p, &d);
    tt_model *m;
    const float *mv;

    /* [audio 12 | jazz bebop rock folk | embedding 3] */
    cr_assert_eq(d, D_AUDIO + 4 + 3, "dimension %d", d);
    for (int32_t t = 0; t < nt; t++) {
        const float *v = vec + (size_t)t * d;
        if (t == nothing) {
            cr_assert(all_zero(v, d), "a track with no features, genre or embedding is zeros");
            continue;
        }
        cr_assert_float_eq(sqrt(dotd(v, v, d)), 1.0, 1e-5, "track %s has length %f",
                           tt_ids_name(ds->tracks, t), sqrt(dotd(v, v, d)));
    }
    /* Unknown features sit at the mean: a genre-only track has nothing in the other parts. */
    cr_assert(all_zero(vec + (size_t)genre_only * d, D_AUDIO));
    cr_assert(all_zero(vec + (size_t)genre_only * d + D_AUDIO + 4, 3));
    cr_assert(all_zero(vec + (size_t)emb0 * d, D_AUDIO + 4));

    m = train(ds, &p);
    mv = tt_content_model_vectors(m, &dm);
    cr_assert_eq(dm, d);
    cr_assert_eq(memcmp(mv, vec, (size_t)nt * d * sizeof(float)), 0,
                 "the model's vectors are tt_content_vectors'");
    for (int32_t t = 0; t < nt; t++)
        cr_assert_eq(tt_content_has_vector(m, t), t != nothing, "has_vector of %s",
                     tt_ids_name(ds->tracks, t));
    cr_assert_not(tt_content_has_vector(m, -1));
    cr_assert_not(tt_content_has_vector(m, nt));
    cr_assert_eq(tt_content_similarity(m, nothing, track(ds, "full-0")), 0.0f);
    tt_model_free(m);
    free(vec);
    tt_dataset_free(ds);
}

Test(content, embedding_weight_zero_drops_the_embedding_part)
{
    tt_dataset *ds = mixed_dataset();
    tt_content_params p = tt_content_params_default();
    int32_t nt = tt_dataset_n_tracks(ds);
    int d;
    float *vec;

    p.w_embedding = 0.0f;
    vec = vectors(ds, &p, &d);
    cr_assert_eq(d, D_AUDIO + 4, "no embedding dimensions");
    for (int i = 0; i < 3; i++) {
        char id[16];
        snprintf(id, sizeof(id), "emb-%d", i);
        cr_assert(all_zero(vec + (size_t)track(ds, id) * d, d), "%s has nothing left", id);
    }
    cr_assert_eq(vector_count(vec, nt, d), nt - 4);
    free(vec);
    tt_dataset_free(ds);
}

Test(content, similar_never_returns_the_track_itself_nor_tracks_without_content)
{
    tt_dataset *ds = mixed_dataset();
    tt_content_params p = tt_content_params_default();
    int32_t nt = tt_dataset_n_tracks(ds), nothing = track(ds, "nothing");
    tt_model *m = train(ds, &p);
    tt_scored out[32];
    tt_err err = {0};
    int n = -1;

    for (int32_t t = 0; t < nt; t++) {
        if (t == nothing)
            continue;
        n = similar(m, t, nt, out);
        /* Everything else with content, and nothing more. */
        cr_assert_eq(n, nt - 2, "similar to %s: %d tracks", tt_ids_name(ds->tracks, t), n);
        for (int i = 0; i < n; i++) {
            cr_assert_neq(out[i].track, t, "track %d is among its own similar tracks", t);
            cr_assert_neq(out[i].track, nothing, "a track without content was returned");
            cr_assert_float_eq(out[i].score, tt_content_similarity(m, t, out[i].track), 1e-5);
            if (i > 0)
                cr_assert(out[i].score <= out[i - 1].score, "scores descend");
        }
    }
    cr_assert_eq(tt_model_similar(m, nothing, K, out, &n, &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "track_id");
    cr_assert_eq(n, 0);
    cr_assert_eq(tt_model_similar(m, -1, K, out, &n, NULL), TT_ENOTFOUND);
    cr_assert_eq(tt_model_similar(m, nt, K, out, &n, NULL), TT_ENOTFOUND);

    /* The listener heard "nothing" (most of all); the whole ranking still leaves it out. */
    n = recommend(m, user(ds, "listener"), NULL, NULL, 0, NULL, nt, out);
    cr_assert_eq(n, nt - 1);
    cr_assert_not(fx_scored_contains(out, n, nothing));
    tt_model_free(m);
    tt_dataset_free(ds);
}

/* Tracks alike in everything but key (C, C#, D, F#, B), among tracks that vary. */
static tt_dataset *keys_dataset(void)
{
    static const int keys[] = {0, 1, 2, 6, 11};
    tt_dataset *ds = tt_dataset_new();
    float f[TT_N_FEATURES], base[TT_N_FEATURES];
    char id[32];

    for (int i = 0; i < 12; i++) {
        snprintf(id, sizeof(id), "bg-%d", i);
        fx_track_sound(i % 4, i, 9, f);
        fx_add_track_content(ds, id, "artist-bg", "pop", f, NULL, 0);
    }
    fx_track_sound(2, 50, 9, base);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        memcpy(f, base, sizeof(f));
        f[TT_F_KEY] = (float)keys[i];
        snprintf(id, sizeof(id), "key-%d", keys[i]);
        fx_add_track_content(ds, id, "artist-k", "pop", f, NULL, 0);
    }
    tt_dataset_finish(ds);
    return ds;
}

static double key_sim(const tt_dataset *ds, const float *vec, int d, int a, int b)
{
    char ia[16], ib[16];

    snprintf(ia, sizeof(ia), "key-%d", a);
    snprintf(ib, sizeof(ib), "key-%d", b);
    return dotd(vec + (size_t)track(ds, ia) * d, vec + (size_t)track(ds, ib) * d, d);
}

Test(content, key_is_a_point_on_the_circle_of_pitch_classes)
{
    tt_dataset *ds = keys_dataset();
    tt_content_params p = tt_content_params_default();
    int d;
    float *vec = vectors(ds, &p, &d);
    double s1 = key_sim(ds, vec, d, 0, 1), s11 = key_sim(ds, vec, d, 0, 11);
    double s6 = key_sim(ds, vec, d, 0, 6);

    cr_assert(s1 < 1.0 - 1e-4, "key counts: sim(C, C#) = %f", s1);
    cr_assert_float_eq(s11, s1, 1e-6, "B is as close to C as C# is: %f vs %f", s11, s1);
    cr_assert(s6 < s1 - 1e-3, "the tritone is farther than a semitone: %f vs %f", s6, s1);
    /* Two semitones either way round the circle: B to C# as C to D. */
    cr_assert_float_eq(key_sim(ds, vec, d, 11, 1), key_sim(ds, vec, d, 0, 2), 1e-6);
    cr_assert(key_sim(ds, vec, d, 0, 2) < s1 && key_sim(ds, vec, d, 0, 2) > s6);
    free(vec);

    p.w_key = 0.0f;
    vec = vectors(ds, &p, &d);
    cr_assert_float_eq(key_sim(ds, vec, d, 0, 6), 1.0, 1e-6, "w_key 0 ignores the key");
    free(vec);
    tt_dataset_free(ds);
}

/* ---- similar tracks ----------------------------------------------------------------------- */

Test(content, a_planted_near_duplicate_is_the_top_similar_track)
{
    tt_dataset *ds = tt_dataset_new();
    tt_content_params p = tt_content_params_default(), audio = p;
    float f[TT_N_FEATURES];
    tt_rng rng;
    tt_scored out[K];
    tt_model *m[2];

    fx_add_sound_catalog(ds, 6, 40, 31);
    fx_track_sound(2, 17, 31, f);
    tt_rng_seed(&rng, 3, 0);
    for (int j = 0; j < TT_N_FEATURES; j++)
        if (j != TT_F_KEY)
            f[j] *= 1.0f + 0.002f * (float)(tt_rng_uniform(&rng) - 0.5);
    fx_add_track_content(ds, "dup", "someone-else", "hiphop|trap", f, NULL, 0);
    tt_dataset_finish(ds);
    audio.w_genre = 0.0f;
    m[0] = train(ds, &p);
    m[1] = train(ds, &audio);
    for (int i = 0; i < 2; i++) {
        int32_t orig = track(ds, "g02-t017"), dup = track(ds, "dup");
        cr_assert_eq(similar(m[i], orig, K, out), K);
        cr_assert_eq(out[0].track, dup, "model %d: top similar to g02-t017 is %s", i,
                     tt_ids_name(ds->tracks, out[0].track));
        cr_assert(out[0].score > 0.999f, "near-duplicate similarity %f", out[0].score);
        cr_assert_eq(similar(m[i], dup, K, out), K);
        cr_assert_eq(out[0].track, orig);
        tt_model_free(m[i]);
    }
    tt_dataset_free(ds);
}

/* Genre precision of each track's top K from similar(), first genre against first genre. */
static double precision_by_hand(const tt_dataset *ds, const tt_model *m)
{
    int32_t nt = tt_dataset_n_tracks(ds);
    tt_scored out[K];
    double sum = 0.0;

    for (int32_t t = 0; t < nt; t++) {
        int n = similar(m, t, K, out);
        cr_assert_eq(n, K);
        sum += (double)count_group(ds, out, n, fx_track_group(ds, t)) / K;
    }
    return sum / nt;
}

Test(content, same_genre_tracks_dominate_when_genres_sound_distinct)
{
    const int groups = 8, tpg = 50;
    tt_dataset *ds = fx_sound_groups(groups, 2, tpg, 10, 37);
    tt_content_params p = tt_content_params_default();
    double chance = (double)(tpg - 1) / (groups * tpg - 1), by_hand;
    tt_similar_scores sc;
    tt_err err = {0};
    tt_model *m;
    float *vec;
    int d, rc;

    /* Audio alone: the genre labels are not in the vectors, only in the judging. */
    p.w_genre = 0.0f;
    vec = vectors(ds, &p, &d);
    cr_assert_eq(d, D_AUDIO);
    rc = tt_eval_similar(ds, vec, d, NULL, K, 0, 1, &sc, &err);
    cr_assert_eq(rc, 0, "tt_eval_similar: %s", tt_err_msg(&err, rc));
    cr_assert_eq(sc.k, K);
    cr_assert_eq(sc.queries, groups * tpg);
    cr_assert_eq(sc.candidates, groups * tpg);
    cr_assert_float_eq(sc.random_precision, chance, 1e-9, "random precision %f, expected %f",
                       sc.random_precision, chance);
    cr_assert(sc.genre_precision > 0.9, "genre precision %f by sound alone", sc.genre_precision);
    cr_assert(isnan(sc.index_recall) && isnan(sc.index_genre_precision), "no index, no recall");
    m = train(ds, &p);
    by_hand = precision_by_hand(ds, m);
    cr_assert_float_eq(by_hand, sc.genre_precision, 0.01, "similar() %f vs tt_eval_similar %f",
                       by_hand, sc.genre_precision);
    tt_model_free(m);
    free(vec);

    /* A sample of queries is a sample: same chance, similar precision. */
    rc = tt_eval_similar(ds, (vec = vectors(ds, &p, &d)), d, NULL, K, 100, 5, &sc, NULL);
    cr_assert_eq(rc, 0);
    cr_assert_eq(sc.queries, 100);
    cr_assert_float_eq(sc.random_precision, chance, 1e-9);
    cr_assert(sc.genre_precision > 0.85);
    free(vec);
    tt_dataset_free(ds);
}

Test(content, genres_that_do_not_sound_distinct_give_chance_precision)
{
    const int groups = 8, tpg = 50;
    tt_dataset *ds = tt_dataset_new();
    tt_content_params p = tt_content_params_default();
    float f[TT_N_FEATURES];
    char id[32], list[64];
    tt_similar_scores sc;
    tt_rng rng;
    float *vec;
    int d;

    /* The same catalog shape, every track's sound drawn from one group's centre at random. */
    tt_rng_seed(&rng, 41, 0);
    for (int g = 0; g < groups; g++) {
        snprintf(list, sizeof(list), "%s|%s", fx_group_genre(g), fx_group_subgenre(g));
        for (int i = 0; i < tpg; i++) {
            snprintf(id, sizeof(id), "g%02d-t%03d", g, i);
            fx_track_sound((int)tt_rng_below(&rng, groups), i * groups + g, 41, f);
            fx_add_track_content(ds, id, "artist", list, f, NULL, 0);
        }
    }
    tt_dataset_finish(ds);
    p.w_genre = 0.0f;
    vec = vectors(ds, &p, &d);
    cr_assert_eq(tt_eval_similar(ds, vec, d, NULL, K, 0, 1, &sc, NULL), 0);
    cr_assert(sc.genre_precision < 2.0 * sc.random_precision,
              "precision %f without genre-specific sound, chance %f", sc.genre_precision,
              sc.random_precision);
    free(vec);

    /* With the genre part (default weight: a fifth of the squared length), the labels are
     * back in the vectors; weighted like the audio, they decide. */
    p.w_genre = 0.5f;
    vec = vectors(ds, &p, &d);
    cr_assert_eq(tt_eval_similar(ds, vec, d, NULL, K, 0, 1, &sc, NULL), 0);
    cr_assert(sc.genre_precision > 4.0 * sc.random_precision, "precision %f with genres",
              sc.genre_precision);
    free(vec);
    p.w_genre = 1.0f;
    vec = vectors(ds, &p, &d);
    cr_assert_eq(tt_eval_similar(ds, vec, d, NULL, K, 0, 1, &sc, NULL), 0);
    cr_assert(sc.genre_precision > 0.9, "precision %f with genres weighted 1", sc.genre_precision);
    free(vec);
    tt_dataset_free(ds);
}

/* ---- weights ------------------------------------------------------------------------------ */

/* Four sound groups and a crossover track: group 0's sound, group 1's genres. */
static tt_dataset *crossover_dataset(void)
{
    tt_dataset *ds = tt_dataset_new();
    float f[TT_N_FEATURES];

    fx_add_sound_catalog(ds, 4, 30, 13);
    fx_track_sound(0, 99, 13, f);
    fx_add_track_content(ds, "crossover", "someone", "jazz|bebop", f, NULL, 0);
    tt_dataset_finish(ds);
    return ds;
}

Test(content, genre_weight_changes_the_dimension_and_the_neighbours)
{
    tt_dataset *ds = crossover_dataset();
    int32_t nt = tt_dataset_n_tracks(ds), x = track(ds, "crossover");
    tt_content_params audio = tt_content_params_default(), genre = audio, p = audio;
    tt_scored a[K], g[K];
    tt_model *ma, *mg;
    float *vec;
    int d;

    audio.w_genre = 0.0f;
    genre.w_audio = 0.2f;
    genre.w_genre = 2.0f;
    free(vectors(ds, &audio, &d));
    cr_assert_eq(d, D_AUDIO, "w_genre 0: audio only");
    free(vectors(ds, &p, &d));
    cr_assert_eq(d, D_AUDIO + 8, "default: audio and the 8 genres");
    p.genre_dims = 3;
    free(vectors(ds, &p, &d));
    cr_assert_eq(d, D_AUDIO + 3, "genre_dims 3");
    /* Genres alone, only the two most common (jazz and bebop: 31 tracks each) kept. */
    p.w_audio = 0.0f;
    p.genre_dims = 2;
    vec = vectors(ds, &p, &d);
    cr_assert_eq(d, 2);
    cr_assert_eq(vector_count(vec, nt, d), 31, "only jazz|bebop tracks have a vector");
    free(vec);

    ma = train(ds, &audio);
    mg = train(ds, &genre);
    cr_assert_eq(similar(ma, x, K, a), K);
    cr_assert_eq(similar(mg, x, K, g), K);
    cr_assert_eq(count_group(ds, a, K, 0), K, "by sound the crossover is group 0's");
    cr_assert_eq(count_group(ds, g, K, 1), K, "by genre it is group 1's");
    tt_model_free(ma);
    tt_model_free(mg);
    tt_dataset_free(ds);
}

Test(content, key_weight_changes_the_vectors_but_not_the_dimension)
{
    tt_dataset *ds = crossover_dataset();
    int32_t nt = tt_dataset_n_tracks(ds);
    tt_content_params p = tt_content_params_default(), q = p;
    int da, db;
    float *a, *b;

    q.w_key = 1.0f;
    a = vectors(ds, &p, &da);
    b = vectors(ds, &q, &db);
    cr_assert_eq(da, db);
    cr_assert_neq(tt_ann_vectors_checksum(a, nt, da), tt_ann_vectors_checksum(b, nt, db));
    free(b);
    b = vectors(ds, &p, &db);
    cr_assert_eq(memcmp(a, b, (size_t)nt * da * sizeof(float)), 0, "vectors are deterministic");
    free(a);
    free(b);
    tt_dataset_free(ds);
}

static void expect_refused(const tt_content_params *p, const char *field)
{
    tt_dataset *ds = crossover_dataset();
    tt_train_set ts;
    tt_err err = {0};
    tt_model *m = NULL;
    float *vec = NULL;
    int d = 7;

    cr_assert_eq(tt_content_params_check(p, &err), TT_EINVAL, "%s accepted", field);
    cr_assert_str_eq(err.field, field);
    tt_err_clear(&err);
    cr_assert_eq(tt_content_vectors(ds, p, &vec, &d, &err), TT_EINVAL);
    cr_assert_null(vec);
    cr_assert_str_eq(err.field, field);
    fx_train_set(ds, &ts);
    cr_assert_eq(tt_content_train(&ts, p, &m, NULL), TT_EINVAL);
    cr_assert_null(m);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

static float *weight(tt_content_params *p, int i)
{
    float *w[] = {&p->w_audio, &p->w_key, &p->w_genre, &p->w_embedding};
    return w[i];
}

Test(content, params_check_refuses_bad_weights_and_sizes)
{
    tt_content_params d = tt_content_params_default(), p;
    const char *names[] = {"w_audio", "w_key", "w_genre", "w_embedding"};
    const float bad[] = {-0.5f, NAN, INFINITY, -INFINITY};

    cr_assert_float_eq(d.w_audio, 1.0f, 0.0f);
    cr_assert_float_eq(d.w_key, 0.5f, 0.0f);
    cr_assert_float_eq(d.w_genre, 0.5f, 0.0f);
    cr_assert_float_eq(d.w_embedding, 1.0f, 0.0f);
    cr_assert_eq(d.genre_dims, 64);
    cr_assert_eq(d.max_centres, 3);
    cr_assert_eq(d.tracks_per_centre, 20);
    cr_assert_eq(tt_content_params_check(&d, NULL), 0);
    for (int i = 0; i < 4; i++) {
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            p = d;
            *weight(&p, i) = bad[j];
            expect_refused(&p, names[i]);
        }
    }
    p = d;
    p.w_audio = p.w_genre = p.w_embedding = 0.0f;
    cr_assert_eq(tt_content_params_check(&p, NULL), TT_EINVAL, "all weights zero");
    p.w_key = 3.0f;
    cr_assert_eq(tt_content_params_check(&p, NULL), TT_EINVAL, "key alone is not a space");
    p = d;
    p.w_audio = p.w_embedding = 0.0f;
    cr_assert_eq(tt_content_params_check(&p, NULL), 0, "genres alone are");
    p = d;
    p.max_centres = 0;
    expect_refused(&p, "max_centres");
    p.max_centres = 17;
    expect_refused(&p, "max_centres");
    p = d;
    p.tracks_per_centre = 0;
    expect_refused(&p, "tracks_per_centre");
    p = d;
    p.genre_dims = -1;
    expect_refused(&p, "genre_dims");
}

Test(content, a_catalog_with_nothing_to_build_vectors_from_is_refused)
{
    tt_dataset *ds = tt_dataset_new();
    tt_content_params p = tt_content_params_default();
    float *vec = NULL;
    int d = 0;

    fx_add_track(ds, "a", "x", NULL);
    fx_add_track(ds, "b", "x", "rock");
    tt_dataset_finish(ds);
    cr_assert_eq(tt_content_vectors(ds, &p, &vec, &d, NULL), 0, "a genre is content");
    free(vec);
    p.w_genre = 0.0f;
    vec = NULL;
    cr_assert_eq(tt_content_vectors(ds, &p, &vec, &d, NULL), TT_ESTATE,
                 "no features, no embeddings and genres weighted 0");
    cr_assert_null(vec);
    tt_dataset_free(ds);
}

/* ---- listeners ---------------------------------------------------------------------------- */

static tt_dataset *lds;
static tt_train_set lts;

static void setup_listeners(void)
{
    lds = listeners_dataset(4, 40, 17);
    fx_train_set(lds, &lts);
}

static void teardown_listeners(void)
{
    tt_train_set_release(&lts);
    tt_dataset_free(lds);
}

Test(content, log_dims_are_the_positive_right_skewed_ones)
{
    /* Two columns interleaved (stride 2): variance-like (long right tail) and symmetric. */
    float x[2 * 200];
    uint8_t use[200];

    for (int i = 0; i < 200; i++) {
        x[2 * i] = expf((float)(i % 20) * 0.4f); /* log-uniform: skewness well above 1 */
        x[2 * i + 1] = (float)(i % 20) - 9.5f;  /* symmetric: skewness 0 */
        use[i] = 1;
    }
    cr_expect_eq(tt_content_log_dim(x, 200, 2, NULL), 1, "positive and right-skewed");
    cr_expect_eq(tt_content_log_dim(x + 1, 200, 2, NULL), 0, "symmetric");
    for (int i = 0; i < 200; i++)
        x[2 * i + 1] = expf((float)(i % 20) * 0.4f);
    x[2 * 7 + 1] = 0.0f;
    cr_expect_eq(tt_content_log_dim(x + 1, 200, 2, NULL), 0, "a zero has no log");
    use[7] = 0;
    cr_expect_eq(tt_content_log_dim(x + 1, 200, 2, use), 1, "tracks left out do not count");
    cr_expect_eq(tt_content_log_dim(x, 2, 2, NULL), 0, "too few values to judge");
}

Test(content, sound_only_params_have_no_genre_part)
{
    tt_content_params p = tt_content_params_default(), q;

    p.w_audio = 0.7f;
    p.genre_dims = 12;
    q = tt_content_params_sound_only(&p);
    cr_expect_eq(q.w_genre, 0.0f, "the headline of evaluate --similar reads no genre");
    cr_expect_eq(q.w_audio, 0.7f);
    cr_expect_eq(q.w_embedding, p.w_embedding);
    cr_expect_eq(q.w_key, p.w_key);
    cr_expect_eq(q.genre_dims, 12);
    cr_expect_eq(tt_content_params_check(&q, NULL), 0);
}

TestSuite(listeners, .init = setup_listeners, .fini = teardown_listeners);

static tt_model *train_l(const tt_content_params *p)
{
    tt_model *m = NULL;
    int rc = tt_content_train(&lts, p, &m, NULL);

    cr_assert_eq(rc, 0);
    return m;
}

/* User @u's list with their history excluded: stored centres, or folded in (@fold). */
static int heard_out(const tt_model *m, int32_t u, bool fold, const uint8_t *allow, int k,
                     tt_scored *out)
{
    const int32_t *seen;
    int32_t n_seen = fx_row(&lts.seen, u, &seen, NULL);

    return recommend(m, u, fold ? &lts.conf : NULL, seen, n_seen, allow, k, out);
}

Test(listeners, a_two_genre_listener_gets_both_and_a_one_genre_listener_one)
{
    tt_content_params p = tt_content_params_default();
    tt_model *m = train_l(&p);
    int32_t mix = user(lds, "mix"), lop = user(lds, "lopsided"), solo = user(lds, "solo");
    tt_scored out[20];

    for (int fold = 0; fold < 2; fold++) {
        int n = heard_out(m, mix, fold, NULL, 20, out);

        /* 30 positives: two centres (tracks_per_centre 20), one per genre, equal weights. */
        cr_assert_eq(n, 20);
        cr_assert(count_group(lds, out, n, 0) == 10 && count_group(lds, out, n, 2) == 10,
                  "fold %d: the listener of groups 0 and 2 got %d and %d of 20", fold,
                  count_group(lds, out, n, 0), count_group(lds, out, n, 2));
        /* Interleaved, not one centre's list after the other's. */
        cr_assert(count_group(lds, out, 2, 0) == 1 && count_group(lds, out, 2, 2) == 1,
                  "fold %d: the first two hold both genres", fold);

        /* Weights 24:10: Sainte-Lague gives 20 slots as 14 and 6. */
        n = heard_out(m, lop, fold, NULL, 20, out);
        cr_assert_eq(n, 20);
        cr_assert(count_group(lds, out, n, 0) == 14 && count_group(lds, out, n, 2) == 6,
                  "fold %d: the 24:10 listener got %d and %d of 20", fold,
                  count_group(lds, out, n, 0), count_group(lds, out, n, 2));

        n = heard_out(m, solo, fold, NULL, 20, out);
        cr_assert_eq(n, 20);
        cr_assert_eq(count_group(lds, out, n, 1), 20, "fold %d: one-genre listener", fold);
    }
    tt_model_free(m);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

Test(listeners, recommend_leaves_out_exclusions_and_keeps_to_the_allowed_tracks)
{
    tt_content_params one = tt_content_params_default(), p = one;
    int32_t solo = user(lds, "solo"), nt = tt_dataset_n_tracks(lds);
    const int32_t *seen;
    int32_t n_seen = fx_row(&lts.seen, solo, &seen, NULL), excl[64];
    uint8_t *allow = tt_calloc((size_t)nt, 1);
    tt_scored first[K], out[K];
    tt_model *m[2];
    int n;

    one.max_centres = 1;
    m[0] = train_l(&one);
    m[1] = train_l(&p);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(heard_out(m[i], solo, false, NULL, K, first), K);
        for (int j = 0; j < K; j++)
            cr_assert_not(fx_contains(seen, n_seen, first[j].track), "a heard track came back");
        memcpy(excl, seen, (size_t)n_seen * sizeof(int32_t));
        for (int j = 0; j < 5; j++)
            excl[n_seen + j] = first[j].track;
        qsort(excl, (size_t)n_seen + 5, sizeof(int32_t), cmp_i32);
        n = recommend(m[i], solo, NULL, excl, n_seen + 5, NULL, K, out);
        cr_assert_eq(n, K, "exclusions do not shorten the list");
        for (int j = 0; j < n; j++)
            cr_assert_not(fx_contains(excl, n_seen + 5, out[j].track), "an excluded track");
        if (i == 0)
            for (int j = 0; j < 5; j++)
                cr_assert_eq(out[j].track, first[5 + j].track,
                             "one centre: the list moves up past the excluded tracks");

        /* Only group 3 allowed: a group the listener never played, and a full list of it. */
        memset(allow, 0, (size_t)nt);
        for (int32_t t = 0; t < nt; t++)
            allow[t] = fx_track_group(lds, t) == 3;
        n = recommend(m[i], solo, NULL, excl, n_seen + 5, allow, K, out);
        cr_assert_eq(n, K);
        cr_assert_eq(count_group(lds, out, n, 3), K, "only allowed tracks");

        /* Allowed but without content: never. */
        memset(allow, 0, (size_t)nt);
        for (int b = 0; b < 3; b++)
            allow[track(lds, b == 0 ? "bare-0" : b == 1 ? "bare-1" : "bare-2")] = 1;
        cr_assert_eq(recommend(m[i], solo, NULL, NULL, 0, allow, K, out), 0);
        tt_model_free(m[i]);
    }
    free(allow);
}

Test(listeners, a_listener_who_heard_nothing_with_content_falls_back)
{
    tt_content_params p = tt_content_params_default();
    tt_model *m = train_l(&p), *pop = NULL;
    int32_t bare = user(lds, "bare"), solo = user(lds, "solo");
    tt_query q = {.user = bare};
    tt_scored out[K];
    tt_err err = {0};
    tt_catalog *cat = NULL;
    tt_rec_ctx ctx;
    tt_rec_request req = {.k = K};
    tt_rec_result res;
    int32_t fresh;
    float fresh_r = 3.0f;
    int n = -1;

    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, &err), TT_ESTATE, "stored centres");
    cr_assert_eq(n, 0);
    q.user = -1;
    q.n_hist = fx_row(&lts.conf, bare, &q.hist, &q.hist_conf);
    cr_assert_eq(q.n_hist, 3);
    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, NULL), TT_ESTATE, "folded in");
    q = (tt_query){.user = -1};
    cr_assert_eq(tt_model_recommend(m, &q, K, out, &n, NULL), TT_ESTATE, "unknown, no history");

    setup_dir();
    cr_assert_eq(tt_catalog_save(lds, &lts, path, NULL), 0);
    cr_assert_eq(tt_catalog_load(path, &cat, NULL), 0);
    teardown_dir();
    cr_assert_eq(tt_popularity_train(&lts, TT_POP_ALL_TIME, 0.0, &pop, NULL), 0);
    ctx = (tt_rec_ctx){.cat = cat, .model = m, .fallback = pop, .min_history = 1};

    req.user_id = "bare";
    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, &err), 0, "%s", err.message);
    cr_assert(res.fallback, "the listener with no content history gets the fallback");
    cr_assert_eq(res.model, pop);
    cr_assert_eq(res.n, K);
    for (int i = 0; i < res.n; i++)
        cr_assert_not(fx_contains(lts.seen.indices + lts.seen.indptr[bare],
                                  (int32_t)tt_csr_row_nnz(&lts.seen, bare), out[i].track),
                      "the fallback still leaves out heard tracks");

    /* One fresh play of a track with content and the content model can describe them. */
    fresh = track(lds, "g01-t030");
    req.fresh = &fresh;
    req.fresh_r = &fresh_r;
    req.n_fresh = 1;
    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, NULL), 0);
    cr_assert_not(res.fallback);
    cr_assert_eq(res.model, m);
    cr_assert_eq(count_group(lds, out, res.n, 1), K);
    cr_assert_not(fx_scored_contains(out, res.n, fresh));

    req = (tt_rec_request){.user_id = "solo", .k = K};
    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, NULL), 0);
    cr_assert_not(res.fallback);
    cr_assert_eq(res.model, m);
    for (int i = 0; i < res.n; i++)
        cr_assert_not(fx_contains(lts.seen.indices + lts.seen.indptr[solo],
                                  (int32_t)tt_csr_row_nnz(&lts.seen, solo), out[i].track));

    /* Without a fallback the service says it cannot serve them. */
    ctx.fallback = NULL;
    req = (tt_rec_request){.user_id = "bare", .k = K};
    cr_assert_eq(tt_recommend_user(&ctx, &req, out, &res, NULL), TT_ESTATE);
    tt_model_free(pop);
    tt_model_free(m);
    tt_catalog_free(cat);
}

/* ---- files -------------------------------------------------------------------------------- */

static tt_dataset *fds;
static tt_model *fm;

static void setup_files(void)
{
    tt_content_params p = tt_content_params_default();

    setup_dir();
    fds = fx_sound_groups(4, 8, 40, 15, 23);
    fm = train(fds, &p);
}

static void teardown_files(void)
{
    tt_model_free(fm);
    tt_dataset_free(fds);
    teardown_dir();
}

TestSuite(files, .init = setup_files, .fini = teardown_files);

static tt_model *load_ok(const char *p)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc = tt_model_load(p, tt_catalog_checksum(fds), &m, &err);

    cr_assert_eq(rc, 0, "load: %s", tt_err_msg(&err, rc));
    cr_assert_not_null(m);
    return m;
}

/* Same vectors, similar lists and recommendations, score for score. */
static void expect_same_model(const tt_model *a, const tt_model *b)
{
    tt_train_set ts;
    tt_ann_meta ea = tt_content_index_expect(a), eb = tt_content_index_expect(b);
    int da, db;
    const float *va = tt_content_model_vectors(a, &da), *vb = tt_content_model_vectors(b, &db);
    tt_scored x[K], y[K];

    cr_assert_str_eq(b->ops->kind, "content");
    cr_assert_str_eq(b->name, "content");
    cr_assert_eq(b->catalog, a->catalog);
    cr_assert_eq(b->n_users, a->n_users);
    cr_assert_eq(b->n_tracks, a->n_tracks);
    cr_assert_eq(da, db);
    cr_assert_eq(memcmp(va, vb, (size_t)a->n_tracks * da * sizeof(float)), 0, "vectors");
    cr_assert(ea.catalog == eb.catalog && ea.vectors == eb.vectors && ea.n == eb.n && ea.d == eb.d,
              "an index built for one fits the other");
    for (int32_t t = 0; t < a->n_tracks; t++) {
        int na = similar(a, t, K, x), nb = similar(b, t, K, y);
        cr_assert_eq(tt_content_has_vector(a, t), tt_content_has_vector(b, t));
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(x, y, (size_t)na * sizeof(tt_scored)), 0, "similar to %d", t);
    }
    fx_train_set(fds, &ts);
    for (int32_t u = 0; u < a->n_users; u++) {
        const int32_t *seen;
        int32_t ns = fx_row(&ts.seen, u, &seen, NULL);
        for (int fold = 0; fold < 2; fold++) {
            const tt_csr *h = fold ? &ts.conf : NULL;
            int na = recommend(a, u, h, seen, ns, NULL, K, x);
            int nb = recommend(b, u, h, seen, ns, NULL, K, y);
            cr_assert_eq(na, K);
            cr_assert_eq(na, nb);
            cr_assert_eq(memcmp(x, y, (size_t)na * sizeof(tt_scored)), 0, "user %d fold %d", u,
                         fold);
        }
    }
    tt_train_set_release(&ts);
}

Test(files, round_trip_gives_identical_vectors_similar_and_recommend)
{
    tt_model *m;
    tt_err err = {0};
    char again[256];

    fx_save_model(fm, path);
    m = load_ok(path);
    expect_same_model(fm, m);
    cr_assert_eq(m->trained_at, fm->trained_at);

    /* A loaded model saves what it loaded. */
    fx_save_model(m, fx_path(again, sizeof(again), dir, "again.ttm"));
    tt_model_free(m);
    m = load_ok(again);
    expect_same_model(fm, m);
    tt_model_free(m);

    m = NULL;
    cr_assert_eq(tt_model_load(path, tt_catalog_checksum(fds) ^ 1, &m, &err), TT_ECORRUPT,
                 "another catalog");
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
}

Test(files, damaged_files_are_refused)
{
    char missing[300];

    fx_path(missing, sizeof(missing), dir, "missing.ttm");
    fx_expect_damaged_files_refused(fm, path, missing);
}

/*
 * Files whose container is sound (checksums right) but whose content sections disagree:
 * each section copied from a good file, one of them changed by @mutate.
 */
static const struct {
    const char *name;
    enum tt_dtype dt;
    size_t size;
} sections[] = {
    {"meta", TT_DT_META, 1},      {"audio_mean", TT_DT_F32, 4}, {"audio_sd", TT_DT_F32, 4},
    {"genre_dim", TT_DT_I32, 4},  {"vectors", TT_DT_F32, 4},    {"has_vector", TT_DT_U8, 1},
    {"centre_ptr", TT_DT_I64, 8}, {"centres", TT_DT_F32, 4},    {"centre_weight", TT_DT_F32, 4},
};

typedef void (*mutate_fn)(const char *section, void *data, int64_t *rows, int64_t cols);

static void rewrite(const char *src, const char *dst, mutate_fn mutate)
{
    tt_mfile *f = NULL;
    tt_mfile_writer *w = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_mfile_open(src, &f, &err), 0, "%s", err.message);
    cr_assert_eq(tt_mfile_create(dst, tt_mfile_kind(f), tt_mfile_catalog(f), &w, &err), 0);
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        int64_t rows = -1, cols = -1;
        const void *data;
        void *copy;
        cr_assert_eq(tt_mfile_get(f, sections[i].name, sections[i].dt, &rows, &cols, &data, &err),
                     0, "%s", err.message);
        copy = tt_malloc((size_t)(rows * cols) * sections[i].size + 1);
        memcpy(copy, data, (size_t)(rows * cols) * sections[i].size);
        if (mutate)
            mutate(sections[i].name, copy, &rows, cols);
        cr_assert_eq(tt_mfile_add(w, sections[i].name, sections[i].dt, rows, cols, copy, &err), 0);
        free(copy);
    }
    cr_assert_eq(tt_mfile_commit(w, &err), 0, "%s", err.message);
    tt_mfile_close(f);
}

static void centres_out_of_order(const char *s, void *d, int64_t *rows, int64_t cols)
{
    int64_t *ptr = d;
    (void)cols;
    if (strcmp(s, "centre_ptr") == 0 && *rows > 3)
        ptr[1] = ptr[2] + 1;
}

static void genre_dim_out_of_range(const char *s, void *d, int64_t *rows, int64_t cols)
{
    (void)rows, (void)cols;
    if (strcmp(s, "genre_dim") == 0)
        ((int32_t *)d)[0] = 9999;
}

static void one_vector_short(const char *s, void *d, int64_t *rows, int64_t cols)
{
    (void)d, (void)cols;
    if (strcmp(s, "vectors") == 0)
        (*rows)--;
}

static void one_centre_short(const char *s, void *d, int64_t *rows, int64_t cols)
{
    (void)d, (void)cols;
    if (strcmp(s, "centres") == 0 || strcmp(s, "centre_weight") == 0)
        (*rows)--;
}

Test(files, inconsistent_sections_are_refused)
{
    const mutate_fn bad[] = {centres_out_of_order, genre_dim_out_of_range, one_vector_short,
                             one_centre_short};
    char good[256];
    tt_model *m = NULL;
    tt_err err = {0};

    fx_save_model(fm, fx_path(good, sizeof(good), dir, "good.ttm"));
    rewrite(good, path, NULL);
    m = load_ok(path);
    expect_same_model(fm, m);
    tt_model_free(m);
    m = NULL;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        rewrite(good, path, bad[i]);
        tt_err_clear(&err);
        cr_assert_eq(tt_model_load(path, 0, &m, &err), TT_ECORRUPT, "mutation %zu accepted", i);
        cr_assert_null(m);
        cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    }
}

/* Expects the model file at @path to be refused, the message naming it and @needle. */
static void expect_load_refused_with(const char *needle)
{
    fx_expect_model_refused(path, needle);
}

Test(files, bad_metadata_is_refused_naming_the_field)
{
    const struct {
        const char *field;
        uint64_t v;
    } bad_int[] = {
        {"max_centres", 0},  {"max_centres", 17}, {"genre_dims", 5000},
        {"tracks_per_centre", 0}, {"d", 0}, {"n_tracks", (uint64_t)-1},
    };
    char quoted[64];

    for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
        fx_save_model(fm, path);
        fx_meta_set(path, bad_int[i].field, bad_int[i].v);
        snprintf(quoted, sizeof(quoted), "'%s'", bad_int[i].field);
        expect_load_refused_with(quoted);
    }
    fx_save_model(fm, path);
    fx_meta_set_f64(path, "w_audio", -1.0);
    expect_load_refused_with("'w_audio'");
    fx_save_model(fm, path);
    fx_meta_set_f64(path, "w_genre", NAN);
    expect_load_refused_with("'w_genre'");
    /* Each size in range, but the parts no longer add up to the whole. */
    fx_save_model(fm, path);
    fx_meta_set(path, "d_audio", 1);
    expect_load_refused_with("bad content sizes");
}

/* ---- an attached index -------------------------------------------------------------------- */

static tt_dataset *ids;
static tt_train_set its;
static tt_model *im;

static void setup_index(void)
{
    tt_content_params p = tt_content_params_default();

    setup_dir();
    ids = listeners_dataset(6, 60, 43);
    fx_train_set(ids, &its);
    cr_assert_eq(tt_content_train(&its, &p, &im, NULL), 0);
}

static void teardown_index(void)
{
    tt_model_free(im);
    tt_train_set_release(&its);
    tt_dataset_free(ids);
    teardown_dir();
}

TestSuite(index, .init = setup_index, .fini = teardown_index);

static tt_ann *build_over(const float *vec, int64_t n, int d, enum tt_ann_type type)
{
    tt_ann_params p = tt_ann_params_default();
    tt_ann *ix = NULL;
    tt_err err = {0};
    int rc;

    p.type = type;
    p.threads = 2;
    rc = tt_ann_build(vec, n, d, &p, &ix, &err);
    cr_assert_eq(rc, 0, "index build: %s", tt_err_msg(&err, rc));
    return ix;
}

static tt_ann *build_for(const tt_model *m, enum tt_ann_type type)
{
    int d;
    const float *vec = tt_content_model_vectors(m, &d);

    return build_over(vec, m->n_tracks, d, type);
}

/* Every answer of the model as it stands: similar for each track, then each user's list. */
struct answers {
    tt_scored *lists;
    int *n;
    int rows;
};

static void answers_of(const tt_model *m, struct answers *a)
{
    int32_t nt = m->n_tracks, nu = m->n_users, bare = track(ids, "bare-0");

    a->rows = nt + nu;
    a->lists = tt_calloc((size_t)a->rows * K, sizeof(tt_scored));
    a->n = tt_calloc((size_t)a->rows, sizeof(int));
    for (int32_t t = 0; t < nt; t++) {
        tt_scored *out = a->lists + (size_t)t * K;
        if (!tt_content_has_vector(m, t))
            continue;
        a->n[t] = similar(m, t, K, out);
        cr_assert_not(fx_scored_contains(out, a->n[t], t), "never the track itself");
        cr_assert_not(fx_scored_contains(out, a->n[t], bare), "never a track without content");
    }
    for (int32_t u = 0; u < nu; u++) {
        const int32_t *seen;
        int32_t ns = fx_row(&its.seen, u, &seen, NULL);
        tt_scored *out = a->lists + (size_t)(nt + u) * K;
        if (u == user(ids, "bare"))
            continue;
        a->n[nt + u] = recommend(m, u, NULL, seen, ns, NULL, K, out);
        for (int i = 0; i < a->n[nt + u]; i++)
            cr_assert_not(fx_contains(seen, ns, out[i].track), "never a heard track");
    }
}

static void answers_release(struct answers *a)
{
    free(a->lists);
    free(a->n);
}

/* Mean overlap of the lists of @a and @b; asserts equal lengths. */
static double answers_overlap(const struct answers *a, const struct answers *b, bool *same)
{
    double sum = 0.0;

    *same = true;
    for (int r = 0; r < a->rows; r++) {
        const tt_scored *x = a->lists + (size_t)r * K, *y = b->lists + (size_t)r * K;
        cr_assert_eq(a->n[r], b->n[r], "row %d: %d vs %d answers", r, a->n[r], b->n[r]);
        sum += overlap(x, a->n[r], y, b->n[r]);
        if (!same_tracks(x, a->n[r], y, b->n[r]))
            *same = false;
        for (int i = 0; *same && i < a->n[r]; i++)
            cr_assert_float_eq(x[i].score, y[i].score, 1e-5, "row %d rank %d", r, i);
    }
    return sum / a->rows;
}

Test(index, a_flat_index_answers_exactly_like_the_scan)
{
    struct answers scan, flat, back;
    tt_ann *ix = build_for(im, TT_ANN_FLAT);
    bool same;

    answers_of(im, &scan);
    cr_assert_null(tt_content_index(im));
    tt_content_attach_index(im, ix);
    cr_assert_eq(tt_content_index(im), ix);
    answers_of(im, &flat);
    answers_overlap(&scan, &flat, &same);
    cr_assert(same, "a flat index gives the scan's answers");

    tt_content_attach_index(im, NULL);
    cr_assert_null(tt_content_index(im));
    answers_of(im, &back);
    answers_overlap(&scan, &back, &same);
    cr_assert(same);
    answers_release(&scan);
    answers_release(&flat);
    answers_release(&back);
}

Test(index, the_attached_index_is_what_answers)
{
    int d;
    const float *vec = tt_content_model_vectors(im, &d);
    int32_t nt = im->n_tracks;
    float *shifted = tt_malloc((size_t)nt * d * sizeof(float));
    tt_scored scan[K], via[K];
    int32_t t = track(ids, "g02-t010");
    int n;

    /* Row i holds track i + 1's vector: answers through it name other tracks. */
    for (int32_t r = 0; r < nt; r++)
        memcpy(shifted + (size_t)r * d, vec + (size_t)((r + 1) % nt) * d,
               (size_t)d * sizeof(float));
    n = similar(im, t, K, scan);
    tt_content_attach_index(im, build_over(shifted, nt, d, TT_ANN_HNSW));
    cr_assert_eq(similar(im, t, K, via), n);
    cr_assert_not(same_tracks(scan, n, via, n), "the HNSW index was not consulted");
    /* Exact search is the engine's own scan: an exact index is never what answers. */
    tt_content_attach_index(im, build_over(shifted, nt, d, TT_ANN_FLAT));
    cr_assert_eq(similar(im, t, K, via), n);
    cr_assert(same_tracks(scan, n, via, n), "a flat index answered instead of the scan");
    tt_content_attach_index(im, NULL);
    free(shifted);
}

Test(index, an_hnsw_index_answers_nearly_like_the_scan)
{
    struct answers scan, hnsw;
    tt_ann *ix = build_for(im, TT_ANN_HNSW);
    double ov;
    bool same;

    cr_assert_eq(tt_ann_type_of(ix), TT_ANN_HNSW);
    answers_of(im, &scan);
    tt_content_attach_index(im, ix);
    answers_of(im, &hnsw);
    ov = answers_overlap(&scan, &hnsw, &same);
    cr_assert(ov >= 0.95, "HNSW answers share %.3f of the scan's", ov);
    answers_release(&scan);
    answers_release(&hnsw);
}

Test(index, eval_similar_measures_the_index_recall)
{
    int d;
    const float *vec = tt_content_model_vectors(im, &d);
    tt_ann *flat = build_for(im, TT_ANN_FLAT), *hnsw = build_for(im, TT_ANN_HNSW);
    tt_similar_scores sc;
    tt_err err = {0};
    int rc;

    rc = tt_eval_similar(ids, vec, d, flat, K, 0, 1, &sc, &err);
    cr_assert_eq(rc, 0, "%s", tt_err_msg(&err, rc));
    cr_assert_eq(sc.candidates, im->n_tracks - 3, "the bare tracks are no candidates");
    cr_assert_eq(sc.queries, im->n_tracks - 3);
    cr_assert_float_eq(sc.index_recall, 1.0, 1e-9);
    cr_assert_float_eq(sc.index_genre_precision, sc.genre_precision, 1e-9);
    cr_assert(sc.genre_precision > 0.9, "genre precision %f", sc.genre_precision);
    rc = tt_eval_similar(ids, vec, d, hnsw, K, 0, 1, &sc, &err);
    cr_assert_eq(rc, 0, "%s", tt_err_msg(&err, rc));
    cr_assert(sc.index_recall >= 0.95 && sc.index_recall <= 1.0, "recall %f", sc.index_recall);
    tt_ann_free(flat);
    tt_ann_free(hnsw);
}

static void expect_load_refused(const char *p, const tt_ann_meta *want, const char *needle)
{
    tt_ann *ix = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_ann_load(p, want, &ix, NULL, &err), TT_ECORRUPT, "index accepted");
    cr_assert_null(ix);
    cr_assert_not_null(strstr(err.message, needle), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, p), "message: %s", err.message);
}

Test(index, index_expect_fits_its_vectors_and_refuses_other_weights_and_catalogs)
{
    tt_ann_meta e = tt_content_index_expect(im), got;
    tt_content_params p = tt_content_params_default();
    int d;
    const float *vec = tt_content_model_vectors(im, &d);
    tt_ann *ix = build_for(im, TT_ANN_FLAT), *back = NULL;
    tt_model *other_w, *other_c, *pop = NULL;
    tt_dataset *ds2;
    tt_ann_meta meta = e;
    tt_err err = {0};
    tt_scored a[K], b[K];
    int rc;

    cr_assert_eq(e.catalog, tt_catalog_checksum(ids));
    cr_assert_eq(e.catalog, im->catalog);
    cr_assert_eq(e.n, im->n_tracks);
    cr_assert_eq(e.d, d);
    cr_assert_eq(e.vectors, tt_ann_vectors_checksum(vec, im->n_tracks, d));
    cr_assert_eq(tt_popularity_train(&its, TT_POP_ALL_TIME, 0.0, &pop, NULL), 0);
    got = tt_content_index_expect(pop);
    cr_assert(got.catalog == 0 && got.vectors == 0 && got.n == 0 && got.d == 0,
              "not a content model: nothing to expect");
    tt_model_free(pop);

    meta.build_seconds = 0.25;
    cr_assert_eq(tt_ann_save(ix, &meta, path, &err), 0, "%s", err.message);
    rc = tt_ann_load(path, &e, &back, &got, &err);
    cr_assert_eq(rc, 0, "%s", tt_err_msg(&err, rc));
    cr_assert(got.catalog == e.catalog && got.vectors == e.vectors && got.n == e.n && got.d == e.d);
    tt_content_attach_index(im, back);
    cr_assert_eq(similar(im, 5, K, a), K);
    tt_content_attach_index(im, NULL);
    cr_assert_eq(similar(im, 5, K, b), K);
    cr_assert(same_tracks(a, K, b, K), "the loaded index answers like the scan");

    /* Other weights: same catalog, same dimension, other vectors. */
    p.w_key = 1.0f;
    cr_assert_eq(tt_content_train(&its, &p, &other_w, NULL), 0);
    cr_assert_eq(tt_content_index_expect(other_w).d, e.d);
    cr_assert_eq(tt_content_index_expect(other_w).catalog, e.catalog);
    got = tt_content_index_expect(other_w);
    expect_load_refused(path, &got, "other content vectors");

    /* Another catalog: one more track. */
    ds2 = listeners_dataset(6, 61, 43);
    p = tt_content_params_default();
    other_c = train(ds2, &p);
    got = tt_content_index_expect(other_c);
    cr_assert_neq(got.catalog, e.catalog);
    expect_load_refused(path, &got, "catalog");

    tt_model_free(other_w);
    tt_model_free(other_c);
    tt_dataset_free(ds2);
    tt_ann_free(ix);
}
