/*
 * Offline quality of daily mixes (tt_eval_mixes): do a user's mixes hold the tracks they went
 * on to like, compared with ALS's own list of the same length; is each mix one facet (its
 * genres agree) and are the facets different (two mixes' genres agree less); how many
 * artists a mix spans.
 */
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/mix.h"

#include <string.h>

/* Sums over users and mixes, turned into means at the end. */
struct acc {
    int64_t users, fallback, mixes, tracks, familiar;
    int64_t rich_users, rich_tracks, rich_familiar; /* users with liked tracks for a third */
    double hit, recall, als_hit, als_recall, als_dhit, als_drecall;
    double within, between, artists;
    int64_t n_mixes, n_pairs;
    double seconds;
};

static void score_list(const int32_t *list, int n, const int32_t *rel, int32_t n_rel, double *hit,
                       double *recall)
{
    int hits = n > 0 ? tt_metric_hits(list, n, n, rel, n_rel) : 0;
    int32_t denom = n < n_rel ? n : n_rel;

    *hit += hits > 0;
    *recall += denom > 0 ? (double)hits / denom : 0.0;
}

static int32_t first_genre(const tt_catalog *cat, int32_t t)
{
    const int32_t *g;
    int32_t n;

    tt_catalog_track_genres(cat, t, &g, &n);
    return n > 0 ? g[0] : -1;
}

/* Genre coherence, overlap between mixes and artist diversity of one user's mixes. */
static void score_mixes(const tt_catalog *cat, const tt_mix_set *set, struct acc *a)
{
    int32_t *genres[TT_MIX_MAX_MIXES], artists[TT_MIX_MAX_TRACKS];

    for (int m = 0; m < set->n; m++) {
        const tt_mix *x = &set->mixes[m];
        genres[m] = tt_malloc(((size_t)x->n + 1) * sizeof(int32_t));
        for (int i = 0; i < x->n; i++) {
            genres[m][i] = first_genre(cat, x->tracks[i].track);
            artists[i] = tt_catalog_track_artist_id(cat, x->tracks[i].track);
        }
        a->within += tt_metric_label_within(genres[m], x->n);
        a->artists += tt_metric_label_distinct(artists, x->n);
        a->n_mixes++;
        for (int o = 0; o < m; o++, a->n_pairs++)
            a->between += tt_metric_label_between(genres[o], set->mixes[o].n, genres[m], x->n);
    }
    for (int m = 0; m < set->n; m++)
        free(genres[m]);
}

/* The union of the mixes (mix after mix) and its discoveries; returns the union's size. */
static int flatten(const tt_mix_set *set, int32_t *all, int32_t *disc, int *n_disc,
                   int64_t *familiar)
{
    int n = 0;

    *n_disc = 0;
    for (int m = 0; m < set->n; m++)
        for (int i = 0; i < set->mixes[m].n; i++) {
            const tt_mix_track *t = &set->mixes[m].tracks[i];
            all[n++] = t->track;
            if (t->familiar)
                (*familiar)++;
            else
                disc[(*n_disc)++] = t->track;
        }
    return n;
}

/* ALS's top @k for dense user @u, leaving out what they heard in training. */
static int als_top(const tt_catalog *cat, const tt_model *als, int32_t u, int k, tt_scored *buf,
                   int32_t *out, tt_err *err)
{
    const int32_t *seen;
    const float *val;
    int32_t n_seen;
    tt_query q = {.user = u, .excludes_history = true};
    int n = 0, rc;

    tt_catalog_user_seen(cat, u, &seen, &val, &n_seen);
    q.exclude = seen;
    q.n_exclude = n_seen;
    rc = tt_model_recommend(als, &q, k, buf, &n, err);
    for (int i = 0; rc == 0 && i < n; i++)
        out[i] = buf[i].track;
    return rc < 0 ? rc : n;
}

static int score_user(const tt_split *split, const tt_catalog *cat, const tt_mix_space *space,
                      const tt_model *als, const tt_mix_request *r, int32_t u, struct acc *a,
                      tt_err *err)
{
    int cap = TT_MIX_MAX_MIXES * TT_MIX_MAX_TRACKS;
    int32_t *all = tt_malloc((size_t)cap * 3 * sizeof(int32_t)), *disc = all + cap,
            *ref = all + 2 * cap;
    tt_scored *buf = tt_malloc((size_t)cap * sizeof(tt_scored));
    const int32_t *rel = split->relevant.indices + split->relevant.indptr[u];
    int32_t n_rel = (int32_t)(split->relevant.indptr[u + 1] - split->relevant.indptr[u]);
    tt_mix_set set;
    double t0 = tt_now();
    int n, n_disc, n_ref, rc = tt_mix_daily(space, r, &set, err);

    a->seconds += tt_now() - t0;
    if (rc == 0) {
        int64_t fam = 0;
        const int32_t *pos;
        const float *pos_v;
        int32_t n_pos;
        n = flatten(&set, all, disc, &n_disc, &fam);
        a->familiar += fam;
        tt_catalog_user_positives(cat, u, &pos, &pos_v, &n_pos);
        if (!set.fallback && n > 0 && 3 * (int64_t)n_pos >= n) {
            a->rich_users++;
            a->rich_tracks += n;
            a->rich_familiar += fam;
        }
        a->users++;
        a->fallback += set.fallback;
        a->mixes += set.n;
        a->tracks += n;
        score_list(all, n, rel, n_rel, &a->hit, &a->recall);
        score_mixes(cat, &set, a);
        n_ref = n > 0 ? als_top(cat, als, u, n, buf, ref, err) : 0;
        rc = n_ref < 0 ? n_ref : 0;
        if (rc == 0) {
            score_list(ref, n_ref, rel, n_rel, &a->als_hit, &a->als_recall);
            score_list(ref, n_disc < n_ref ? n_disc : n_ref, rel, n_rel, &a->als_dhit,
                       &a->als_drecall);
        }
    }
    tt_mix_set_release(&set);
    free(all);
    free(buf);
    return rc;
}

static double per(double x, int64_t n)
{
    return n > 0 ? x / (double)n : 0.0;
}

static void finish(const struct acc *a, tt_mix_scores *out)
{
    out->users = (int32_t)a->users;
    out->fallback_users = (int32_t)a->fallback;
    out->mixes = per((double)a->mixes, a->users);
    out->tracks = per((double)a->tracks, a->users);
    out->familiar_share = per((double)a->familiar, a->tracks);
    out->rich_users = (int32_t)a->rich_users;
    out->rich_familiar_share = per((double)a->rich_familiar, a->rich_tracks);
    out->hit_rate = per(a->hit, a->users);
    out->recall = per(a->recall, a->users);
    out->als_hit_rate = per(a->als_hit, a->users);
    out->als_recall = per(a->als_recall, a->users);
    out->als_disc_hit_rate = per(a->als_dhit, a->users);
    out->als_disc_recall = per(a->als_drecall, a->users);
    out->genre_within = per(a->within, a->n_mixes);
    out->genre_between = per(a->between, a->n_pairs);
    out->artist_diversity = per(a->artists, a->n_mixes);
    out->ms_per_user = per(a->seconds * 1e3, a->users);
}

int tt_eval_mixes(const tt_split *split, const tt_catalog *cat, const tt_mix_space *space,
                  const tt_model *als, int mixes, int tracks_per_mix, int64_t day,
                  tt_mix_scores *out, tt_err *err)
{
    struct acc a;
    int rc = 0;

    if (!split || !cat || !space || !als || !out)
        return tt_err_set(err, TT_EINVAL, "a split, catalog, mix space and ALS model are needed");
    if (als->n_tracks != tt_catalog_n_tracks(cat) || split->relevant.cols != als->n_tracks)
        return tt_err_set(err, TT_EINVAL, "the models were not trained on the split's catalog");
    memset(&a, 0, sizeof(a));
    memset(out, 0, sizeof(*out));
    for (int32_t i = 0; rc == 0 && i < split->n_users; i++) {
        int32_t u = split->users[i];
        tt_mix_request r = {tt_catalog_user_id(cat, u), day, mixes, tracks_per_mix, NULL, NULL, 0};
        rc = score_user(split, cat, space, als, &r, u, &a, err);
    }
    finish(&a, out);
    return rc;
}
