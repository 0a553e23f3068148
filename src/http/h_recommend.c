/*
 * POST /recommend/user and POST /recommend/similar.
 */
#include "app.h"
#include "tt/als.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/models.h"
#include "tt/recommend.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const tier_names[] = {"free", "starter", "pro", "enterprise", NULL};
static const char *const model_names[] = {"als",     "popularity", "trending", "genre",
                                          "ease",    "content",    "hybrid",   "neumf",
                                          "deep_content", "hybrid_deep", NULL};
/* The tier each selectable model needs. */
static const int model_tiers[] = {TT_TIER_FREE, TT_TIER_FREE,    TT_TIER_FREE,    TT_TIER_FREE,
                                  TT_TIER_FREE, TT_TIER_STARTER, TT_TIER_STARTER, TT_TIER_PRO,
                                  TT_TIER_PRO,  TT_TIER_PRO};
static const char *const methods[] = {"auto", "cf", "content", "hybrid", NULL};

/* The tier's main model and its fallback for users without history. */
struct plan {
    int tier;
    const struct tt_served_model *main, *fallback;
};

/*
 * The best loaded tier at or below the requested one: each tier answers with its own
 * models when they are loaded, else with the tier below (and says so in "tier").
 */
static void plan_for(const tt_served *s, int requested, int model_idx, const char *custom,
                     struct plan *p)
{
    /* The starter tier's main model is hybrid, pro's (and enterprise's) hybrid_deep. */
    const struct tt_served_model *deep =
        requested >= TT_TIER_PRO ? tt__served_find(s, "hybrid_deep") : NULL;
    const struct tt_served_model *hybrid =
        requested >= TT_TIER_STARTER ? tt__served_find(s, "hybrid") : NULL;

    p->tier = model_idx >= 0 ? model_tiers[model_idx]
              : deep         ? TT_TIER_PRO
              : hybrid       ? TT_TIER_STARTER
                             : TT_TIER_FREE;
    p->main = model_idx >= 0 ? tt__served_find(s, model_names[model_idx])
              : deep         ? deep
              : hybrid       ? hybrid
                             : tt__served_find(s, s->free_main);
    if (custom) {
        const struct tt_served_model *c = tt__served_find(s, custom);
        p->tier = TT_TIER_ENTERPRISE;
        p->main = c && c->custom ? c : NULL;
        /* A custom model that is not loaded is refused, not answered by the fallback. */
        if (!p->main) {
            p->fallback = NULL;
            return;
        }
    }
    p->fallback = tt__served_find(s, "genre");
    if (!p->fallback)
        p->fallback = tt__served_find(s, "popularity");
    if (!p->main) {
        p->main = p->fallback;
        p->fallback = NULL;
    }
    if (p->main == p->fallback)
        p->fallback = NULL;
}

static uint64_t hash_strings(json_t *arr)
{
    uint64_t h = 0;
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) {
        h = (h ^ tt_hash64(json_string_value(v), json_string_length(v))) * 0x100000001b3ULL;
    }
    return h;
}

/* Dense ids of the known tracks of @arr. */
static int32_t dense_tracks(const tt_catalog *cat, json_t *arr, int32_t **out)
{
    int32_t n = 0;
    size_t i;
    json_t *v;

    *out = tt_malloc((json_array_size(arr) + 1) * sizeof(int32_t));
    json_array_foreach(arr, i, v) {
        int32_t t = tt_catalog_track_find(cat, json_string_value(v));
        if (t >= 0)
            (*out)[n++] = t;
    }
    return n;
}

/*
 * The tracks any of whose genres (not only the first) is one of @genres, as a mask over the
 * catalog: the models select within it, so a filtered list is as long as the unfiltered one
 * whenever the genres have enough unheard tracks.
 */
static uint8_t *genre_mask(const tt_catalog *cat, json_t *genres)
{
    int32_t ng = tt_catalog_n_genres(cat), nt = tt_catalog_n_tracks(cat);
    uint8_t *want = tt_calloc((size_t)ng + 1, 1), *mask = tt_calloc((size_t)nt + 1, 1);
    size_t i;
    json_t *v;

    json_array_foreach(genres, i, v) {
        int32_t g = tt_catalog_genre_find(cat, json_string_value(v));
        if (g >= 0)
            want[g] = 1;
    }
    for (int32_t t = 0; t < nt; t++) {
        const int32_t *g;
        int32_t n;
        tt_catalog_track_genres(cat, t, &g, &n);
        for (int32_t j = 0; j < n && !mask[t]; j++)
            mask[t] = want[g[j]];
    }
    free(want);
    return mask;
}

/* One item: {"track_id", "score", "rank", "title", "artist", "genre"}. */
static void write_item(tt_jbuf *b, const tt_catalog *cat, const tt_scored *s, int rank)
{
    tt__jb_lit(b, b->p[b->n - 1] == '[' ? "{" : ",{");
    tt__jb_key(b, "track_id");
    tt__jb_str(b, tt_catalog_track_id(cat, s->track));
    tt__jb_key(b, "score");
    tt__jb_num(b, s->score);
    tt__jb_key(b, "rank");
    tt__jb_int(b, rank);
    tt__jb_key(b, "title");
    tt__jb_str(b, tt_catalog_track_title(cat, s->track));
    tt__jb_key(b, "artist");
    tt__jb_str(b, tt_catalog_track_artist(cat, s->track));
    tt__jb_key(b, "genre");
    tt__jb_str(b, tt_catalog_track_genre(cat, s->track));
    tt__jb_lit(b, "}");
}


/* Answers are written directly rather than built as jansson trees: this is the hot path. */
static void reply_buf(tt_reply *out, tt_jbuf *b)
{
    out->status = 200;
    out->body = b->p;
    out->len = b->n;
    out->content_type = "application/json";
}

struct user_req {
    const char *user;
    int64_t limit, offset;
    int tier, model;
    const char *custom; /* an enterprise custom model asked for by name, or NULL */
    json_t *exclude, *genres;
};

static int parse_user(json_t *body, struct user_req *r, tt_reply *out)
{
    if (tt__json_string(body, "user_id", true, 256, &r->user, out) < 0 ||
        tt__json_int(body, "limit", 1, 500, 20, &r->limit, out) < 0 ||
        tt__json_int(body, "offset", 0, 10000, 0, &r->offset, out) < 0 ||
        tt__json_enum(body, "model_tier", tier_names, 0, &r->tier, out) < 0 ||
        tt__json_string(body, "model", false, 64, &r->custom, out) < 0 ||
        tt__json_strings(body, "exclude_track_ids", 1000, 256, &r->exclude, out) < 0 ||
        tt__json_strings(body, "genres", 50, 128, &r->genres, out) < 0)
        return -1;
    /* A model of the engine by its index; any other name is a custom model's. */
    r->model = -1;
    for (int i = 0; r->custom && model_names[i]; i++)
        if (strcmp(r->custom, model_names[i]) == 0) {
            r->model = i;
            r->custom = NULL;
        }
    /* An empty list restricts nothing, exactly like an absent one. */
    if (r->genres && json_array_size(r->genres) == 0)
        r->genres = NULL;
    if (r->exclude && json_array_size(r->exclude) == 0)
        r->exclude = NULL;
    return 0;
}

/* Computes the list: the model's top offset + limit, then the page. */
static int compute(const tt_app *app, const tt_served *s, const struct plan *p,
                   const struct user_req *r, tt_scored **items, int *n, tt_rec_result *res,
                   tt_err *err)
{
    tt_rec_ctx ctx = {s->cat, p->main->model, p->fallback ? p->fallback->model : NULL, 1,
                      app->params.fresh_weight};
    tt_rec_request req = {.user_id = r->user};
    int32_t *fresh = NULL, *excl = NULL;
    float *fresh_r = NULL;
    uint8_t *mask = r->genres ? genre_mask(s->cat, r->genres) : NULL;
    int k = (int)(r->offset + r->limit), rc;

    if (k > tt_catalog_n_tracks(s->cat))
        k = tt_catalog_n_tracks(s->cat);
    req.k = k > 0 ? k : 1;
    req.allow = mask;
    tt__overlay_get(s->overlay, r->user, &fresh, &fresh_r, &req.n_fresh);
    req.fresh = fresh;
    req.fresh_r = fresh_r;
    if (r->exclude)
        req.n_exclude = dense_tracks(s->cat, r->exclude, &excl);
    req.exclude = excl;
    *items = tt_malloc((size_t)req.k * sizeof(tt_scored));
    rc = tt_recommend_user(&ctx, &req, *items, res, err);
    *n = rc == 0 ? res->n : 0;
    free(fresh);
    free(fresh_r);
    free(excl);
    free(mask);
    return rc;
}

static void answer(tt_app *app, const tt_served *s, const struct plan *p,
                   const struct user_req *r, const tt_scored *items, int n,
                   const tt_rec_result *res, char *rec_id, size_t rec_len, char **track_list,
                   tt_reply *out)
{
    const struct tt_served_model *sm = res->model == p->main->model ? p->main : p->fallback;
    tt_jbuf b = {0}, tl = {0};

    tt__jb_lit(&tl, "");
    tt__rec_id_new(app, sm->name, rec_id, rec_len);
    /* "cached" comes first: a cache hit flips it in place (same length: "true "). */
    tt__jb_lit(&b, "{\"cached\":false");
    tt__jb_str_field(&b, "user_id", r->user);
    tt__jb_str_field(&b, "model", sm->name);
    tt__jb_str_field(&b, "model_version", sm->version);
    tt__jb_str_field(&b, "tier", tier_names[p->tier]);
    tt__jb_str_field(&b, "requested_tier", tier_names[r->tier]);
    tt__jb_str_field(&b, "recommendation_id", rec_id);
    tt__jb_key(&b, "fallback");
    tt__jb_lit(&b, res->fallback ? "true" : "false");
    tt__jb_key(&b, "items");
    tt__jb_lit(&b, "[");
    for (int i = (int)r->offset; i < n && i < r->offset + r->limit; i++) {
        write_item(&b, s->cat, &items[i], i + 1);
        tt__track_list_add(&tl, s->cat, items[i].track);
    }
    tt__jb_lit(&b, "]}");
    *track_list = tl.p;
    reply_buf(out, &b);
}

/*
 * The request's parameters, the models' versions and the user's overlay stamp: an answer
 * cached before the user's latest event (by this replica or, in a shared Redis, by another
 * that had not heard of it yet) is never found by a replica that holds the event.
 */
static void cache_key(const tt_served *s, const struct plan *p, const struct user_req *r, char *key,
                      size_t n)
{
    char stamp[48];

    tt__overlay_stamp(s->overlay, r->user, stamp, sizeof(stamp));
    snprintf(key, n, "rec|%s|%s|%s|%s|%lld|%lld|%016llx|%016llx|%s", tier_names[r->tier],
             p->main->name, p->main->version, p->fallback ? p->fallback->version : "-",
             (long long)r->limit, (long long)r->offset,
             (unsigned long long)(r->exclude ? hash_strings(r->exclude) : 0),
             (unsigned long long)(r->genres ? hash_strings(r->genres) : 0), stamp);
}

bool tt__answer_cached(tt_app *app, const char *group, const char *key, tt_reply *out)
{
    char *val = NULL, *flag;
    size_t len = 0;

    if (app->params.cache_ttl == 0 || tt_cache_get(app->cache, group, key, &val, &len, NULL) != 0)
        return false;
    flag = strstr(val, "\"cached\":false");
    if (flag)
        memcpy(flag, "\"cached\":true ", 14);
    out->status = 200;
    out->body = val;
    out->len = len;
    out->content_type = "application/json";
    return true;
}

static void cache_put(tt_app *app, const char *group, const char *key, const tt_reply *out)
{
    if (app->params.cache_ttl > 0)
        tt_cache_put(app->cache, group, key, out->body, out->len, app->params.cache_ttl, NULL);
}

void tt__h_recommend_user(tt_app *app, json_t *body, tt_reply *out)
{
    struct user_req r;
    struct plan p;
    char key[512], group[300], rec_id[96], *track_list = NULL;
    tt_served *s;
    tt_scored *items = NULL;
    tt_rec_result res;
    tt_err err = {0};
    int n = 0, rc;

    if (parse_user(body, &r, out) < 0)
        return;
    if (r.custom && r.tier != TT_TIER_ENTERPRISE) {
        tt__reply_error(out, TT_EINVAL, "model",
                        "model %s is not a model of the engine (one of als, ease, popularity, "
                        "trending, genre, content, hybrid, neumf, deep_content, hybrid_deep; a "
                        "custom model needs model_tier \"enterprise\")", r.custom);
        return;
    }
    if (r.model >= 0 && model_tiers[r.model] > r.tier) {
        tt__reply_error(out, TT_EFORBIDDEN, "model", "model %s needs the %s tier or above",
                        model_names[r.model], tier_names[model_tiers[r.model]]);
        return;
    }
    s = tt__app_models(app);
    if (!s) {
        tt__reply_error(out, TT_ESTATE, NULL, "no models are loaded yet");
        return;
    }
    plan_for(s, r.tier, r.model, r.custom, &p);
    if (r.custom && !p.main) {
        tt__reply_error(out, TT_EINVAL, "model",
                        "model %s is neither a model of the engine nor a loaded custom model",
                        r.custom);
        goto out;
    }
    if (!p.main || (r.model >= 0 && strcmp(p.main->name, model_names[r.model]) != 0)) {
        tt__reply_error(out, TT_EINVAL, "model", "model %s is not loaded",
                        r.model >= 0 ? model_names[r.model] : "als");
        goto out;
    }
    snprintf(group, sizeof(group), "u:%s", r.user);
    cache_key(s, &p, &r, key, sizeof(key));
    if (tt__answer_cached(app, group, key, out))
        goto out;
    rc = compute(app, s, &p, &r, &items, &n, &res, &err);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        goto out;
    }
    answer(app, s, &p, &r, items, n, &res, rec_id, sizeof(rec_id), &track_list, out);
    cache_put(app, group, key, out);
    tt__implog_add(app->implog, rec_id, r.user, res.model->name, track_list);
    tt__metrics_recommendation(app->metrics, res.model->name);
out:
    free(items);
    free(track_list);
    tt__served_release(s);
}

struct similar_req {
    const char *track;
    int64_t limit;
    int tier, method;
    bool same_artist_out;
};

enum { M_AUTO, M_CF, M_CONTENT, M_HYBRID };

/* Which models answer a similar-tracks request, and as which method. */
struct similar_plan {
    int method;                                /* M_CF, M_CONTENT or M_HYBRID */
    const struct tt_served_model *cf, *content; /* as the method needs them */
};

/*
 * The method a request gets: auto is content from the starter tier up and cf below; a method
 * whose model is not loaded, or content for a track without content features, is answered
 * by the best loaded one (the answer's "method" says which). -1 when no model can answer.
 */
static int similar_plan_for(const tt_served *s, const struct similar_req *r, int32_t t,
                            struct similar_plan *p)
{
    const struct tt_served_model *cf = tt__served_find(s, "als");
    const struct tt_served_model *ct = r->tier >= TT_TIER_STARTER ? tt__served_find(s, "content")
                                                                  : NULL;
    int m = r->method == M_AUTO ? (r->tier >= TT_TIER_STARTER ? M_CONTENT : M_CF) : r->method;

    if (ct && !tt_content_has_vector(ct->model, t))
        ct = NULL;
    if (m == M_HYBRID && !(cf && ct))
        m = ct ? M_CONTENT : M_CF;
    if (m == M_CONTENT && !ct)
        m = M_CF;
    if (m == M_CF && !cf)
        m = ct ? M_CONTENT : -1;
    p->method = m;
    p->cf = m == M_CF || m == M_HYBRID ? cf : NULL;
    p->content = m == M_CONTENT || m == M_HYBRID ? ct : NULL;
    return m;
}

static int cmp_score_desc(const void *a, const void *b)
{
    const tt_scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->track > y->track) - (x->track < y->track);
}

static int cmp_track_asc(const void *a, const void *b)
{
    int32_t x = ((const tt_scored *)a)->track, y = ((const tt_scored *)b)->track;
    return (x > y) - (x < y);
}

/*
 * Hybrid: the union of both models' top @k, each candidate scored by the mean of its cosine
 * similarity in both spaces (computed exactly for both, whichever list it came from).
 */
static int hybrid_items(const struct similar_plan *p, int32_t t, int k, tt_scored *out, int *n,
                        tt_err *err)
{
    tt_scored *a = tt_malloc((size_t)k * 2 * sizeof(tt_scored));
    int na = 0, nb = 0, rc, w = 0;

    rc = tt_model_similar(p->cf->model, t, k, a, &na, err);
    if (rc == 0)
        rc = tt_model_similar(p->content->model, t, k, a + na, &nb, err);
    /* Union by track id (sorted, so a track both lists hold is scored once). */
    if (rc == 0)
        qsort(a, (size_t)(na + nb), sizeof(tt_scored), cmp_track_asc);
    for (int i = 0; rc == 0 && i < na + nb; i++) {
        int32_t c = a[i].track;
        if (w > 0 && a[w - 1].track == c)
            continue;
        a[w].track = c;
        a[w++].score = 0.5f * tt_als_track_similarity(p->cf->model, t, c) +
                       0.5f * tt_content_similarity(p->content->model, t, c);
    }
    if (rc == 0) {
        qsort(a, (size_t)w, sizeof(tt_scored), cmp_score_desc);
        *n = w < k ? w : k;
        memcpy(out, a, (size_t)*n * sizeof(tt_scored));
    }
    free(a);
    return rc;
}

static int similar_items(const tt_served *s, const struct similar_plan *p, int32_t t,
                         const struct similar_req *r, tt_scored **items, int *n, tt_err *err)
{
    int k = (int)r->limit, w = 0, rc;
    int32_t artist = tt_catalog_track_artist_id(s->cat, t);

    if (r->same_artist_out)
        k = k * 4 + 50;
    if (k > tt_catalog_n_tracks(s->cat))
        k = tt_catalog_n_tracks(s->cat);
    *items = tt_malloc((size_t)(k > 0 ? k : 1) * sizeof(tt_scored));
    if (p->method == M_HYBRID)
        rc = hybrid_items(p, t, k, *items, n, err);
    else
        rc = tt_model_similar((p->cf ? p->cf : p->content)->model, t, k, *items, n, err);
    for (int i = 0; rc == 0 && i < *n && w < r->limit; i++)
        if (!r->same_artist_out || tt_catalog_track_artist_id(s->cat, (*items)[i].track) != artist)
            (*items)[w++] = (*items)[i];
    *n = w;
    return rc;
}

static void similar_cache_key(const struct similar_plan *p, const struct similar_req *r,
                              char *key, size_t n)
{
    json_t *built = p->content ? json_object_get(p->content->index, "created_at") : NULL;

    /* requested_tier is in the answer; the index can be rebuilt without retraining. */
    snprintf(key, n, "sim|%s|%s|%s|%s|%lld|%lld|%d", tier_names[r->tier], methods[p->method],
             p->cf ? p->cf->version : "-", p->content ? p->content->version : "-",
             (long long)json_integer_value(built), (long long)r->limit,
             (int)r->same_artist_out);
}

static void similar_answer(const tt_served *s, const struct similar_plan *p,
                           const struct similar_req *r, const tt_scored *items, int n,
                           tt_reply *out)
{
    const struct tt_served_model *main = p->content ? p->content : p->cf;
    tt_jbuf b = {0};

    tt__jb_lit(&b, "{\"cached\":false");
    tt__jb_str_field(&b, "track_id", r->track);
    tt__jb_str_field(&b, "model", p->method == M_HYBRID ? "als+content" : main->name);
    tt__jb_str_field(&b, "model_version", main->version);
    tt__jb_str_field(&b, "method", methods[p->method]);
    tt__jb_str_field(&b, "tier", tier_names[p->content ? TT_TIER_STARTER : TT_TIER_FREE]);
    tt__jb_str_field(&b, "requested_tier", tier_names[r->tier]);
    tt__jb_key(&b, "items");
    tt__jb_lit(&b, "[");
    for (int i = 0; i < n; i++)
        write_item(&b, s->cat, &items[i], i + 1);
    tt__jb_lit(&b, "]}");
    reply_buf(out, &b);
}

void tt__h_recommend_similar(tt_app *app, json_t *body, tt_reply *out)
{
    struct similar_req r;
    struct similar_plan p;
    char key[512], group[300];
    tt_served *s = NULL;
    tt_scored *items = NULL;
    tt_err err = {0};
    int32_t t;
    int n = 0, rc;

    if (tt__json_string(body, "track_id", true, 256, &r.track, out) < 0 ||
        tt__json_int(body, "limit", 1, 500, 20, &r.limit, out) < 0 ||
        tt__json_enum(body, "model_tier", tier_names, 0, &r.tier, out) < 0 ||
        tt__json_enum(body, "method", methods, 0, &r.method, out) < 0 ||
        tt__json_bool(body, "exclude_same_artist", false, &r.same_artist_out, out) < 0)
        return;
    if (r.tier == TT_TIER_FREE && r.method >= M_CONTENT) {
        tt__reply_error(out, TT_EFORBIDDEN, "method",
                        "method %s needs the starter tier or above", methods[r.method]);
        return;
    }
    s = tt__app_models(app);
    if (!s || (!tt__served_find(s, "als") && !tt__served_find(s, "content"))) {
        tt__reply_error(out, TT_ESTATE, NULL, "no similarity model is loaded yet");
        goto out;
    }
    t = tt_catalog_track_find(s->cat, r.track);
    if (t < 0) {
        tt__reply_error(out, TT_ENOTFOUND, "track_id", "unknown track");
        goto out;
    }
    if (similar_plan_for(s, &r, t, &p) < 0) {
        tt__reply_error(out, TT_ENOTFOUND, "track_id",
                        "no loaded model knows this track: it has no content features and "
                        "collaborative filtering is not loaded");
        goto out;
    }
    snprintf(group, sizeof(group), "t:%s", r.track);
    similar_cache_key(&p, &r, key, sizeof(key));
    if (tt__answer_cached(app, group, key, out))
        goto out;
    rc = similar_items(s, &p, t, &r, &items, &n, &err);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        goto out;
    }
    similar_answer(s, &p, &r, items, n, out);
    cache_put(app, group, key, out);
out:
    free(items);
    tt__served_release(s);
}
