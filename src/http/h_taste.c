/*
 * POST /taste-profile/{user_id}: one listener's taste (tt/taste.h), pro tier and above. The
 * router hands the path's user id over as the body member "user_id".
 *
 * A request reads only this listener's events, through the store (so feedback sent a moment
 * ago counts), and places their figures among everyone's through the population summary
 * the pro tier's training wrote; the taste clusters are the daily mixes' facets
 * (tt_mix_facets).
 *
 * Answers are cached (when caching is on) in the group "u:<user_id>", which /feedback drops:
 * a profile is a function of the listener's events and the loaded models alone (its window
 * ends at their newest play, not at the request's time), so a cached one stays right until
 * the listener's next event or a reload (the key names the models' versions). The key also
 * carries the listener's overlay stamp, so no replica serves a profile older than the
 * events it holds, even one another replica cached while the event was on its way.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/mix.h"
#include "tt/taste.h"
#include "tt/tz.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const tier_names[] = {"free", "starter", "pro", "enterprise", NULL};
enum { PRO = 2, MAX_USER = 256, MAX_TZ = 64, CLUSTERS = 6 };

static const char *const weekday_names[7] = {"monday", "tuesday",  "wednesday", "thursday",
                                             "friday", "saturday", "sunday"};

struct taste_req {
    const char *user, *tz;
    int tier;
};

static int parse(json_t *body, struct taste_req *r, tt_reply *out)
{
    if (tt__json_string(body, "user_id", true, MAX_USER, &r->user, out) < 0 ||
        tt__json_enum(body, "model_tier", tier_names, 0, &r->tier, out) < 0 ||
        tt__json_string(body, "timezone", false, MAX_TZ, &r->tz, out) < 0)
        return -1;
    if (r->tier < PRO) {
        tt__reply_error(out, TT_EFORBIDDEN, "model_tier",
                        "taste profiles need the pro tier or above (asked: %s)",
                        tier_names[r->tier]);
        return -1;
    }
    if (!r->tz)
        r->tz = "UTC";
    return 0;
}

/* ---- the listener's events ---- */

struct events {
    const tt_catalog *cat;
    tt_taste_event *ev;
    int64_t n, cap;
};

static int add_event(void *ctx, const tt_interaction_rec *rec)
{
    struct events *e = ctx;

    if (e->n == e->cap) {
        e->cap = e->cap ? 2 * e->cap : 256;
        e->ev = tt_realloc(e->ev, (size_t)e->cap * sizeof(*e->ev));
    }
    e->ev[e->n++] = (tt_taste_event){tt_catalog_track_find(e->cat, rec->track_id), rec->action,
                                     rec->weight, rec->occurred_at};
    return 0;
}

static int read_events(tt_app *app, const tt_served *s, const char *user, struct events *e,
                       tt_err *err)
{
    tt_store *st;
    int rc = tt_store_pool_get(app->pool, &st, err);

    if (rc < 0)
        return rc;
    e->cat = s->cat;
    rc = tt_store_scan_user_interactions(st, user, add_event, e, err);
    tt_store_pool_put(app->pool, st);
    return rc;
}

/* ---- the answer ---- */

/* Whole numbers (play counts, most histogram bins) skip printf's float formatting. */
static void num(tt_jbuf *b, double v)
{
    if (!isfinite(v))
        tt__jb_lit(b, "null");
    else if (v == floor(v) && fabs(v) < 1e15)
        tt__jb_int(b, (int64_t)v);
    else
        tt__jb_num(b, v);
}

static void num_field(tt_jbuf *b, const char *key, double v)
{
    tt__jb_key(b, key);
    num(b, v);
}

static void time_field(tt_jbuf *b, const char *key, int64_t t, bool known)
{
    tt__jb_key(b, key);
    if (known)
        tt__jb_int(b, t);
    else
        tt__jb_lit(b, "null");
}

/* {"value": v, "percentile": p} */
static void figure(tt_jbuf *b, const char *key, const tt_taste_profile *p, int stat)
{
    tt__jb_key(b, key);
    tt__jb_lit(b, "{");
    num_field(b, "value", p->value[stat]);
    num_field(b, "percentile", p->percentile[stat]);
    tt__jb_lit(b, "}");
}

static void shares(tt_jbuf *b, const char *key, const char *name_key, const tt_taste *t,
                   bool artist, const tt_taste_share *v, int n)
{
    tt__jb_key(b, key);
    tt__jb_lit(b, "[");
    for (int i = 0; i < n; i++) {
        tt__jb_lit(b, i ? ",{" : "{");
        tt__jb_str_field(b, name_key,
                         artist ? tt_taste_artist_name(t, v[i].id)
                                : tt_taste_genre_name(t, v[i].id));
        num_field(b, "plays", v[i].plays);
        num_field(b, "share", v[i].share);
        tt__jb_lit(b, "}");
    }
    tt__jb_lit(b, "]");
}

static void tops(tt_jbuf *b, const tt_taste *t, const tt_taste_profile *p)
{
    tt__jb_key(b, "top_genres");
    tt__jb_lit(b, "{");
    shares(b, "all_time", "genre", t, false, p->genres, p->n_genres);
    shares(b, "last_30_days", "genre", t, false, p->genres_recent, p->n_genres_recent);
    tt__jb_lit(b, "}");
    tt__jb_key(b, "top_artists");
    tt__jb_lit(b, "{");
    shares(b, "all_time", "artist", t, true, p->artists, p->n_artists);
    shares(b, "last_30_days", "artist", t, true, p->artists_recent, p->n_artists_recent);
    tt__jb_lit(b, "}");
}

static void plays(tt_jbuf *b, const tt_taste_profile *p)
{
    bool any = p->plays > 0;

    tt__jb_key(b, "plays");
    tt__jb_lit(b, "{");
    num_field(b, "total", p->plays);
    num_field(b, "last_30_days", p->plays_recent);
    num_field(b, "before", p->plays_before);
    tt__jb_key(b, "unknown_tracks");
    tt__jb_int(b, p->unknown_plays);
    time_field(b, "first_played_at", p->first_play, any);
    time_field(b, "last_played_at", p->last_play, any);
    tt__jb_lit(b, "}");
    tt__jb_key(b, "window");
    tt__jb_lit(b, "{");
    tt__jb_key(b, "days");
    tt__jb_int(b, TT_TASTE_WINDOW_DAYS);
    time_field(b, "start", p->window_start, any);
    time_field(b, "end", p->last_play, any);
    tt__jb_str_field(b, "ends_at", "newest_play");
    tt__jb_lit(b, "}");
}

static void features(tt_jbuf *b, const tt_taste_profile *p)
{
    tt__jb_key(b, "audio_features");
    tt__jb_lit(b, "{");
    for (int f = 0; f < TT_N_FEATURES; f++) {
        tt__jb_key(b, tt_feature_name(f));
        tt__jb_lit(b, "{");
        num_field(b, "mean", p->value[TT_TASTE_FEATURE + f]);
        num_field(b, "percentile", p->percentile[TT_TASTE_FEATURE + f]);
        tt__jb_lit(b, "}");
    }
    tt__jb_lit(b, "}");
}

static void diversity(tt_jbuf *b, const tt_taste_profile *p)
{
    tt__jb_key(b, "diversity");
    tt__jb_lit(b, "{");
    figure(b, "genre_entropy", p, TT_TASTE_ENTROPY);
    figure(b, "artists_per_100_plays", p, TT_TASTE_ARTISTS_PER_100);
    tt__jb_key(b, "distinct_artists");
    tt__jb_int(b, p->distinct_artists);
    tt__jb_key(b, "distinct_genres");
    tt__jb_int(b, p->distinct_genres);
    tt__jb_lit(b, "}");
    figure(b, "mainstream", p, TT_TASTE_MAINSTREAM);
    figure(b, "discovery_rate", p, TT_TASTE_DISCOVERY);
}

static void clusters(tt_jbuf *b, const tt_mix_facet *f, int n)
{
    tt__jb_key(b, "taste_clusters");
    tt__jb_lit(b, "[");
    for (int i = 0; i < n; i++) {
        tt__jb_lit(b, i ? ",{" : "{");
        tt__jb_str_field(b, "name", f[i].name);
        tt__jb_str_array(b, "genres", f[i].genres, f[i].n_genres);
        tt__jb_str_array(b, "seed_artists", f[i].seed_artists, f[i].n_seed_artists);
        tt__jb_key(b, "tracks");
        tt__jb_int(b, f[i].n_tracks);
        num_field(b, "share", f[i].share);
        tt__jb_lit(b, "}");
    }
    tt__jb_lit(b, "]");
}

static void histogram(tt_jbuf *b, const char *key, const double *v, int n)
{
    tt__jb_key(b, key);
    tt__jb_lit(b, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            tt__jb_lit(b, ",");
        num(b, v[i]);
    }
    tt__jb_lit(b, "]");
}

static void listening_time(tt_jbuf *b, const tt_taste_profile *p, const tt_tz *tz)
{
    tt__jb_key(b, "listening_time");
    tt__jb_lit(b, "{");
    tt__jb_str_field(b, "timezone", tt_tz_name(tz));
    histogram(b, "by_hour", p->hours, 24);
    histogram(b, "by_weekday", p->weekdays, 7);
    tt__jb_str_array(b, "weekdays", weekday_names, 7);
    tt__jb_lit(b, "}");
}

static void deltas(tt_jbuf *b, const char *key, const tt_taste *t, const tt_taste_delta *d, int n)
{
    tt__jb_key(b, key);
    tt__jb_lit(b, "[");
    for (int i = 0; i < n; i++) {
        tt__jb_lit(b, i ? ",{" : "{");
        tt__jb_str_field(b, "genre", tt_taste_genre_name(t, d[i].genre));
        num_field(b, "before", d[i].before);
        num_field(b, "recent", d[i].recent);
        num_field(b, "delta", d[i].delta);
        tt__jb_lit(b, "}");
    }
    tt__jb_lit(b, "]");
}

static void trend(tt_jbuf *b, const tt_taste *t, const tt_taste_profile *p)
{
    tt__jb_key(b, "trend");
    tt__jb_lit(b, "{");
    deltas(b, "genres_rising", t, p->rising, p->n_rising);
    deltas(b, "genres_falling", t, p->falling, p->n_falling);
    tt__jb_key(b, "audio_features");
    tt__jb_lit(b, "{");
    for (int f = 0; f < TT_N_FEATURES; f++) {
        tt__jb_key(b, tt_feature_name(f));
        tt__jb_lit(b, "{");
        num_field(b, "before", p->feature_before[f]);
        num_field(b, "recent", p->feature_recent[f]);
        num_field(b, "delta", p->feature_recent[f] - p->feature_before[f]);
        tt__jb_lit(b, "}");
    }
    tt__jb_lit(b, "}}");
}

struct answer_in {
    const char *user;
    const tt_taste *taste;
    const tt_taste_profile *p;
    const tt_tz *tz;
    const tt_mix_facet *facets;
    int n_facets;
};

static void answer(const struct answer_in *a, tt_reply *out)
{
    tt_jbuf b = {0};
    char version[32];
    time_t t = (time_t)tt_taste_created_at(a->taste);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(version, sizeof(version), "%Y%m%dT%H%M%SZ", &tm);
    /* "cached" comes first: a cache hit flips it in place (same length: "true "). */
    tt__jb_lit(&b, "{\"cached\":false");
    tt__jb_str_field(&b, "user_id", a->user);
    tt__jb_str_field(&b, "model", "taste");
    tt__jb_str_field(&b, "model_version", version);
    tt__jb_str_field(&b, "tier", tier_names[PRO]);
    tt__jb_key(&b, "sparse");
    tt__jb_lit(&b, a->p->sparse ? "true" : "false");
    tt__jb_key(&b, "sparse_below_plays");
    tt__jb_int(&b, TT_TASTE_SPARSE_PLAYS);
    tt__jb_key(&b, "population");
    tt__jb_int(&b, tt_taste_population(a->taste, TT_TASTE_ENTROPY));
    plays(&b, a->p);
    tops(&b, a->taste, a->p);
    features(&b, a->p);
    diversity(&b, a->p);
    clusters(&b, a->facets, a->n_facets);
    listening_time(&b, a->p, a->tz);
    trend(&b, a->taste, a->p);
    tt__jb_lit(&b, "}");
    out->status = 200;
    out->body = b.p;
    out->len = b.n;
    out->content_type = "application/json";
}

/* The daily mixes' facets of the listener, fresh feedback included; none without a space. */
static int facets_of(const tt_served *s, const char *user, tt_mix_facet *f, int *n, tt_err *err)
{
    tt_mix_request q = {
        .user_id = user, .day = tt_unix_time() / 86400, .mixes = CLUSTERS, .tracks_per_mix = 50};
    int32_t *fresh = NULL;
    float *fresh_r = NULL;
    int rc;

    *n = 0;
    if (!s->mix)
        return 0;
    tt__overlay_get(s->overlay, user, &fresh, &fresh_r, &q.n_fresh);
    q.fresh = fresh;
    q.fresh_r = fresh_r;
    rc = tt_mix_facets(s->mix, &q, f, n, err);
    free(fresh);
    free(fresh_r);
    return rc;
}

static void profile(tt_app *app, const tt_served *s, const struct taste_req *r, tt_reply *out)
{
    struct events e = {0};
    tt_taste_profile *p = tt_malloc(sizeof(*p));
    tt_mix_facet f[TT_MIX_MAX_MIXES];
    const tt_tz *tz = NULL;
    tt_err err = {0};
    int nf = 0, rc = tt_tz_cache_get(s->tz, r->tz, &tz, &err);

    if (rc == 0)
        rc = read_events(app, s, r->user, &e, &err);
    if (rc == 0 && e.n == 0 && tt_catalog_user_find(s->cat, r->user) < 0)
        rc = tt_err_set_field(&err, TT_ENOTFOUND, "user_id", "unknown user '%s'", r->user);
    if (rc == 0)
        rc = tt_taste_profile_compute(s->taste, e.ev, e.n, tz, p, &err);
    if (rc == 0)
        rc = facets_of(s, r->user, f, &nf, &err);
    if (rc == 0)
        answer(&(struct answer_in){r->user, s->taste, p, tz, f, nf}, out);
    else
        tt__reply_err(out, rc, &err);
    free(e.ev);
    free(p);
}

static const char *version_of(const tt_served *s, const char *name)
{
    const struct tt_served_model *m = tt__served_find(s, name);
    return m ? m->version : "-";
}

static void cache_key(const tt_served *s, const struct taste_req *r, char *key, size_t n)
{
    char stamp[48];

    tt__overlay_stamp(s->overlay, r->user, stamp, sizeof(stamp));
    snprintf(key, n, "taste|%s|%016llx|%lld|%s|%s|%s", r->tz,
             (unsigned long long)tt_catalog_id(s->cat), (long long)tt_taste_created_at(s->taste),
             version_of(s, "content"), version_of(s, "als"), stamp);
}

void tt__h_taste_profile(tt_app *app, json_t *body, tt_reply *out)
{
    struct taste_req r;
    char key[256], group[300];
    tt_served *s;

    if (parse(body, &r, out) < 0)
        return;
    s = tt__app_models(app);
    if (!s || !s->taste) {
        tt__reply_error(out, TT_ESTATE, NULL,
                        "taste profiles need the pro tier trained and loaded (pro/taste.ttm)");
        goto out;
    }
    snprintf(group, sizeof(group), "u:%s", r.user);
    cache_key(s, &r, key, sizeof(key));
    if (tt__answer_cached(app, group, key, out))
        goto out;
    profile(app, s, &r, out);
    if (out->status == 200 && app->params.cache_ttl > 0)
        tt_cache_put(app->cache, group, key, out->body, out->len, app->params.cache_ttl, NULL);
out:
    tt__served_release(s);
}
