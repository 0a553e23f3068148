/*
 * tunetrail evaluate --similar: how good similar-track lists are on a catalog with genre
 * labels (docs/evaluation.md): genre precision@k of exact neighbours against random, the
 * headline from vectors without the genre part (genre is what is predicted, so vectors that
 * hold it would read the answer), the configured vectors with genres only as a labelled upper
 * bound, and the approximate index's recall@k against exact search.
 */
#include "cli.h"
#include "train_opts.h"
#include "tt/ann.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/eval.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static json_t *num_or_null(double v)
{
    return isnan(v) ? json_null() : json_real(v);
}

/* The index to judge: built now when a type was asked for, else the one in MODEL_DIR. */
static int get_index(const tt_config *cfg, const struct tt_ann_cli *ac, bool build,
                     const float *vec, int64_t n, int d, uint64_t catalog, tt_ann **ix,
                     const char **source, tt_err *err)
{
    char path[1200];
    tt_ann_meta want = {catalog, tt_ann_vectors_checksum(vec, n, d), n, d, 0, 0};
    int rc;

    *ix = NULL;
    *source = "none";
    if (build) {
        *source = "built";
        fprintf(stderr, "evaluate: building a %s index\n", tt_ann_type_name(ac->params.type));
        return tt_ann_build(vec, n, d, &ac->params, ix, err);
    }
    tt_content_index_path(cfg->model_dir, path, sizeof(path));
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "evaluate: no index at %s (run 'tunetrail index'): exact search only\n",
                path);
        return 0;
    }
    rc = tt_ann_load(path, &want, ix, NULL, err);
    if (rc == 0) {
        *source = "file";
        rc = tt_ann_set_search(*ix, ac->nprobe, ac->ef_search, err);
    }
    return rc;
}

static json_t *weights_json(const tt_content_params *p)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:i, s:f, s:i}", "audio", (double)p->w_audio, "key",
                     (double)p->w_key, "genre", (double)p->w_genre, "embedding",
                     (double)p->w_embedding, "genre_dims", p->genre_dims, "whiten",
                     (double)p->whiten, "augment_k", p->augment_k);
}

/*
 * @s: the headline (vectors without genres); @labelled: the configured vectors with their
 * genre part, or NULL; @ix's figures are over the configured vectors.
 */
static void print_table(const tt_similar_scores *s, const tt_similar_scores *labelled,
                        const tt_ann *ix, const char *source)
{
    int k = s->k;

    printf("similar tracks: %lld query tracks with a genre, %lld tracks with content vectors\n",
           (long long)s->queries, (long long)s->candidates);
    printf("  %-34s genre precision@%d\n", "", k);
    printf("  %-34s %.4f\n", "random tracks (baseline)", s->random_precision);
    printf("  %-34s %.4f  (%.1fx random)\n", "content vectors (no genres), exact",
           s->genre_precision, s->genre_precision / s->random_precision);
    if (labelled)
        printf("  %-34s %.4f  (reads the label: upper bound, not a measurement)\n",
               "with the genre part, exact", labelled->genre_precision);
    if (ix)
        printf("  %-34s %.4f  recall@%d vs exact %.4f  (%s index from %s)\n",
               "configured vectors, index", s->index_genre_precision, k, s->index_recall,
               tt_ann_type_name(tt_ann_type_of(ix)), source);
    printf("  search: exact %.4f ms/query", s->exact_ms);
    if (ix)
        printf(", index %.4f ms/query", s->index_ms);
    printf(" (batched, all cores)\n");
}

static json_t *report_json(const tt_dataset *ds, const tt_content_params *p,
                           const tt_similar_scores *s, const tt_similar_scores *labelled,
                           const tt_ann *ix, const char *source)
{
    char key[32], rkey[32];
    json_t *j = json_object(), *o;

    snprintf(key, sizeof(key), "genre_precision@%d", s->k);
    snprintf(rkey, sizeof(rkey), "recall@%d", s->k);
    json_object_set_new(j, "k", json_integer(s->k));
    json_object_set_new(j, "tracks", json_integer(tt_dataset_n_tracks(ds)));
    json_object_set_new(j, "tracks_with_vectors", json_integer(s->candidates));
    json_object_set_new(j, "queries", json_integer(s->queries));
    json_object_set_new(j, "weights", weights_json(p));
    json_object_set_new(j, "headline_weights", weights_json(&(tt_content_params){
                                                   .w_audio = p->w_audio, .w_key = p->w_key,
                                                   .w_embedding = p->w_embedding,
                                                   .genre_dims = p->genre_dims,
                                                   .whiten = p->whiten,
                                                   .augment_k = p->augment_k}));
    o = json_object();
    json_object_set_new(o, key, json_real(s->random_precision));
    json_object_set_new(j, "random_baseline", o);
    o = json_object();
    json_object_set_new(o, key, json_real(s->genre_precision));
    json_object_set_new(o, "lift_over_random", json_real(s->genre_precision / s->random_precision));
    json_object_set_new(o, "ms_per_query", json_real(s->exact_ms));
    json_object_set_new(j, "exact", o);
    if (labelled) {
        o = json_object();
        json_object_set_new(o, key, json_real(labelled->genre_precision));
        json_object_set_new(o, "note", json_string("reads the label: upper bound, not a "
                                                   "measurement"));
        json_object_set_new(j, "with_genre_part_upper_bound", o);
    }
    if (ix) {
        o = json_object();
        json_object_set_new(o, "type", json_string(tt_ann_type_name(tt_ann_type_of(ix))));
        json_object_set_new(o, "source", json_string(source));
        json_object_set_new(o, key, num_or_null(s->index_genre_precision));
        json_object_set_new(o, rkey, num_or_null(s->index_recall));
        json_object_set_new(o, "ms_per_query", json_real(s->index_ms));
        if (tt_ann_ef_search(ix))
            json_object_set_new(o, "ef_search", json_integer(tt_ann_ef_search(ix)));
        if (tt_ann_nprobe(ix)) {
            json_object_set_new(o, "nprobe", json_integer(tt_ann_nprobe(ix)));
            json_object_set_new(o, "nlist", json_integer(tt_ann_nlist(ix)));
        }
        json_object_set_new(j, "index", o);
    } else {
        json_object_set_new(j, "index", json_null());
    }
    return j;
}

int tt_cli_evaluate_similar(const tt_config *cfg, const tt_dataset *ds,
                            const tt_content_params *cp, const struct tt_ann_cli *ac,
                            bool build_index, int k, int64_t max_queries, uint64_t seed,
                            bool json)
{
    tt_content_params nog = tt_content_params_sound_only(cp);
    tt_similar_scores s, labelled,
        with_ix = {.index_genre_precision = NAN, .index_recall = NAN};
    float *vec = NULL, *vec2 = NULL;
    int d = 0, d2 = 0, rc;
    tt_ann *ix = NULL;
    const char *source = "none";
    bool with_labels = cp->w_genre > 0.0f && tt_dataset_n_genres(ds) > 0;
    tt_err err = {0};

    /* The headline: genre is what is predicted, so the vectors hold no genre. */
    rc = tt_content_params_check(&nog, &err);
    if (rc == 0)
        rc = tt_content_vectors(ds, &nog, &vec, &d, &err);
    if (rc == 0)
        rc = tt_eval_similar(ds, vec, d, NULL, k, max_queries, seed, &s, &err);
    /* The configured vectors, over which the index is built: genres in them read the label. */
    if (rc == 0)
        rc = tt_content_vectors(ds, cp, &vec2, &d2, &err);
    if (rc == 0)
        rc = get_index(cfg, ac, build_index, vec2, tt_dataset_n_tracks(ds), d2,
                       tt_catalog_checksum(ds), &ix, &source, &err);
    if (rc == 0 && (ix || with_labels))
        rc = tt_eval_similar(ds, vec2, d2, ix, k, max_queries, seed, &with_ix, &err);
    if (rc == 0) {
        labelled = with_ix;
        s.index_genre_precision = with_ix.index_genre_precision;
        s.index_recall = with_ix.index_recall;
        s.index_ms = with_ix.index_ms;
        if (json) {
            json_t *j = report_json(ds, cp, &s, with_labels ? &labelled : NULL, ix, source);
            char *text = json_dumps(j, JSON_INDENT(2));
            printf("%s\n", text);
            free(text);
            json_decref(j);
        } else {
            print_table(&s, with_labels ? &labelled : NULL, ix, source);
        }
    }
    free(vec);
    free(vec2);
    tt_ann_free(ix);
    return rc < 0 ? tt_cli_fail(&err, rc) : 0;
}
