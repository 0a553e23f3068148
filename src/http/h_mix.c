/*
 * POST /daily-mix: the listener's mixes of the UTC day (tt/mix.h), starter tier and above.
 *
 * Stable for the day: the mixes are a function of (history, day), and the answer is cached
 * until the next UTC midnight in the group "mix:<user_id>", which /feedback does not drop
 * (it drops "u:<user_id>"). So feedback given today changes tomorrow's mixes, not the ones
 * the listener already has; "refresh": true recomputes today's from the history as it is
 * now (fresh feedback included) and replaces the cached ones.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/mix.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const tier_names[] = {"free", "starter", "pro", "enterprise", NULL};
enum { STARTER = 1 };

struct mix_req {
    const char *user;
    int64_t mixes, tracks;
    int tier;
    bool refresh;
};

static int parse(json_t *body, struct mix_req *r, tt_reply *out)
{
    if (tt__json_string(body, "user_id", true, 256, &r->user, out) < 0 ||
        tt__json_int(body, "mixes", 1, TT_MIX_MAX_MIXES, 6, &r->mixes, out) < 0 ||
        tt__json_int(body, "tracks_per_mix", 1, TT_MIX_MAX_TRACKS, 50, &r->tracks, out) < 0 ||
        tt__json_enum(body, "model_tier", tier_names, 0, &r->tier, out) < 0 ||
        tt__json_bool(body, "refresh", false, &r->refresh, out) < 0)
        return -1;
    if (r->tier < STARTER) {
        tt__reply_error(out, TT_EFORBIDDEN, "model_tier",
                        "daily mixes need the starter tier or above (asked: %s)",
                        tier_names[r->tier]);
        return -1;
    }
    return 0;
}

static const char *version_of(const tt_served *s, const char *name)
{
    const struct tt_served_model *m = tt__served_find(s, name);
    return m ? m->version : "-";
}

static void cache_key(const tt_served *s, const struct mix_req *r, const char *date, char *key,
                      size_t n)
{
    snprintf(key, n, "mix|%s|%lld|%lld|%s|%s|%s", date, (long long)r->mixes, (long long)r->tracks,
             version_of(s, "content"), version_of(s, "als"), version_of(s, "popularity"));
}

/* Kept until the next UTC midnight, when the day's mixes change. */
static void cache_put(tt_app *app, const char *group, const char *key, int64_t now,
                      const tt_reply *out)
{
    int ttl = (int)(86400 - now % 86400);

    if (app->params.cache_ttl != 0)
        tt_cache_put(app->cache, group, key, out->body, out->len, ttl > 0 ? ttl : 1, NULL);
}

static void write_track(tt_jbuf *b, const tt_catalog *cat, const tt_mix_track *t, bool first)
{
    tt__jb_lit(b, first ? "{" : ",{");
    tt__jb_str_field(b, "track_id", tt_catalog_track_id(cat, t->track));
    tt__jb_str_field(b, "title", tt_catalog_track_title(cat, t->track));
    tt__jb_str_field(b, "artist", tt_catalog_track_artist(cat, t->track));
    tt__jb_str_field(b, "genre", tt_catalog_track_genre(cat, t->track));
    tt__jb_key(b, "familiar");
    tt__jb_lit(b, t->familiar ? "true}" : "false}");
}

static void mix_id_string(const tt_mix *m, char *buf, size_t n)
{
    snprintf(buf, n, "mix-%016llx", (unsigned long long)m->id);
}

static void write_mix(tt_jbuf *b, const tt_catalog *cat, const tt_mix *m, bool first)
{
    char id[32];

    mix_id_string(m, id, sizeof(id));
    tt__jb_lit(b, first ? "{" : ",{");
    tt__jb_str_field(b, "mix_id", id);
    tt__jb_str_field(b, "name", m->name);
    tt__jb_str_array(b, "genres", m->genres, m->n_genres);
    tt__jb_str_array(b, "seed_artists", m->seed_artists, m->n_seed_artists);
    tt__jb_key(b, "tracks");
    tt__jb_lit(b, "[");
    for (int i = 0; i < m->n; i++)
        write_track(b, cat, &m->tracks[i], i == 0);
    tt__jb_lit(b, "]}");
}

static void answer(const tt_served *s, const struct mix_req *r, const char *date,
                   const tt_mix_set *set, tt_reply *out)
{
    tt_jbuf b = {0};

    /* "cached" comes first: a cache hit flips it in place (same length: "true "). */
    tt__jb_lit(&b, "{\"cached\":false");
    tt__jb_str_field(&b, "user_id", r->user);
    tt__jb_str_field(&b, "model", set->fallback ? "popularity" : tt_mix_space_models(s->mix));
    tt__jb_str_field(&b, "tier", tier_names[STARTER]);
    tt__jb_str_field(&b, "date", date);
    tt__jb_key(&b, "fallback");
    tt__jb_lit(&b, set->fallback ? "true" : "false");
    tt__jb_key(&b, "mixes");
    tt__jb_lit(&b, "[");
    for (int i = 0; i < set->n; i++)
        write_mix(&b, s->cat, &set->mixes[i], i == 0);
    tt__jb_lit(&b, "]}");
    out->status = 200;
    out->body = b.p;
    out->len = b.n;
    out->content_type = "application/json";
}

static int compute(const tt_served *s, const struct mix_req *r, int64_t day, tt_mix_set *set,
                   tt_err *err)
{
    tt_mix_request q = {
        .user_id = r->user, .day = day, .mixes = (int)r->mixes, .tracks_per_mix = (int)r->tracks};
    int32_t *fresh = NULL;
    float *fresh_r = NULL;
    int rc;

    tt__overlay_get(s->overlay, r->user, &fresh, &fresh_r, &q.n_fresh);
    q.fresh = fresh;
    q.fresh_r = fresh_r;
    rc = tt_mix_daily(s->mix, &q, set, err);
    free(fresh);
    free(fresh_r);
    return rc;
}

/*
 * Each mix is one impression, its mix_id the recommendation id ("mix-..."): a play sent with
 * it counts as a click of the "mix" surface. Made once a day (and on refresh), so a cached
 * answer is not another impression.
 */
static void log_impressions(tt_app *app, const tt_served *s, const char *user,
                            const tt_mix_set *set)
{
    for (int m = 0; m < set->n; m++) {
        char id[32];
        tt_jbuf tl = {0};
        tt__jb_lit(&tl, "");
        mix_id_string(&set->mixes[m], id, sizeof(id));
        for (int i = 0; i < set->mixes[m].n; i++)
            tt__track_list_add(&tl, s->cat, set->mixes[m].tracks[i].track);
        tt__implog_add(app->implog, id, user, "mix", tl.p);
        tt__metrics_recommendation(app->metrics, "mix");
        free(tl.p);
    }
}

void tt__h_daily_mix(tt_app *app, json_t *body, tt_reply *out)
{
    struct mix_req r;
    char key[512], group[300], date[16];
    int64_t now = tt_unix_time();
    time_t tnow = (time_t)now;
    struct tm tm;
    tt_served *s;
    tt_mix_set set = {0};
    tt_err err = {0};
    int rc;

    if (parse(body, &r, out) < 0)
        return;
    s = tt__app_models(app);
    if (!s || !s->mix) {
        tt__reply_error(out, TT_ESTATE, NULL, "daily mixes need the ALS or content model loaded");
        goto out;
    }
    gmtime_r(&tnow, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);
    snprintf(group, sizeof(group), "mix:%s", r.user);
    cache_key(s, &r, date, key, sizeof(key));
    if (!r.refresh && tt__answer_cached(app, group, key, out))
        goto out;
    rc = compute(s, &r, now / 86400, &set, &err);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        goto out;
    }
    answer(s, &r, date, &set, out);
    cache_put(app, group, key, now, out);
    log_impressions(app, s, r.user, &set);
out:
    tt_mix_set_release(&set);
    tt__served_release(s);
}
