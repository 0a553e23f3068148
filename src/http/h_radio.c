/*
 * POST /radio/generate: starts a station from a seed, or continues one from its cursor.
 * The station's whole state travels in the signed cursor (tt/radio.h), so any replica
 * sharing the key serves the next page; the only per-station data kept here are the skips
 * sent to /feedback for it, which the overlay holds until a page takes them into the cursor.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/models.h"
#include "tt/radio.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT_MAX 100

static const char *const tier_names[] = {"free", "starter", "pro", "enterprise", NULL};
static const char *const seed_fields[] = {"track_id", "artist", "genre"};

struct radio_req {
    const char *cursor, *seed[3], *user;
    int64_t limit;
    int tier;
};

static int parse(json_t *body, struct radio_req *r, tt_reply *out)
{
    static const size_t max[] = {TT_RADIO_ID_MAX, TT_RADIO_ID_MAX, TT_RADIO_GENRE_MAX};

    if (tt__json_string(body, "cursor", false, TT_RADIO_CURSOR_MAX, &r->cursor, out) < 0 ||
        tt__json_string(body, "user_id", false, TT_RADIO_ID_MAX, &r->user, out) < 0 ||
        tt__json_int(body, "limit", 1, LIMIT_MAX, 25, &r->limit, out) < 0 ||
        tt__json_enum(body, "model_tier", tier_names, 0, &r->tier, out) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        if (tt__json_string(body, seed_fields[i], false, max[i], &r->seed[i], out) < 0)
            return -1;
    for (int i = 0; i < 3; i++) {
        if (r->cursor && r->seed[i]) {
            tt__reply_error(out, TT_EINVAL, seed_fields[i],
                            "a cursor continues its own station: send either a cursor or a seed");
            return -1;
        }
        if (r->seed[i] && !r->seed[i][0]) {
            tt__reply_error(out, TT_EINVAL, seed_fields[i], "%s must not be empty", seed_fields[i]);
            return -1;
        }
    }
    if (!r->cursor && !r->seed[0] && !r->seed[1] && !r->seed[2]) {
        tt__reply_error(out, TT_EINVAL, "track_id",
                        "a seed is required: track_id, artist or genre (or a cursor)");
        return -1;
    }
    return 0;
}

static uint64_t new_station_id(tt_app *app)
{
    uint64_t c = __atomic_fetch_add(&app->rec_counter, 1, __ATOMIC_RELAXED);
    uint64_t x[3] = {c, (uint64_t)(tt_now() * 1e9), (uint64_t)(uintptr_t)app};

    return tt_hash64(x, sizeof(x));
}

/* The station of @r: decoded from its cursor, or started from its seed. */
static int station(tt_app *app, const tt_served *s, const struct radio_req *r, tt_radio_state *st,
                   tt_err *err)
{
    uint32_t flags = 0;

    if (r->cursor) {
        int rc = tt_radio_cursor_decode(r->cursor, strlen(r->cursor), app->radio_key, st, err);
        if (rc == 0 && r->user && strcmp(r->user, st->user_id) != 0)
            return tt_err_set_field(err, TT_EINVAL, "user_id",
                                    "user_id differs from the station's listener");
        return rc;
    }
    memset(st, 0, sizeof(*st));
    snprintf(st->track_id, sizeof(st->track_id), "%s", r->seed[0] ? r->seed[0] : "");
    snprintf(st->artist, sizeof(st->artist), "%s", r->seed[1] ? r->seed[1] : "");
    snprintf(st->genre, sizeof(st->genre), "%s", r->seed[2] ? r->seed[2] : "");
    snprintf(st->user_id, sizeof(st->user_id), "%s", r->user ? r->user : "");
    if (r->tier >= TT_TIER_STARTER && tt__served_find(s, "content"))
        flags |= TT_RADIO_CONTENT;
    return tt_radio_start(s->radio, new_station_id(app), flags, st, err);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The listener's disliked tracks (training history and fresh feedback), sorted: malloc'd. */
static int32_t disliked(const tt_served *s, const char *user, int32_t **out)
{
    int32_t u = user[0] ? tt_catalog_user_find(s->cat, user) : -1, n_seen = 0, n_new = 0, n = 0;
    const int32_t *seen = NULL;
    const float *val = NULL;
    int32_t *fresh = NULL;
    float *fresh_r = NULL;

    if (u >= 0)
        tt_catalog_user_seen(s->cat, u, &seen, &val, &n_seen);
    if (user[0])
        tt__overlay_get(s->overlay, user, &fresh, &fresh_r, &n_new);
    *out = tt_malloc((size_t)(n_seen + n_new + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < n_seen; i++)
        if (val[i] < 0)
            (*out)[n++] = seen[i];
    for (int32_t i = 0; i < n_new; i++)
        if (isnan(fresh_r[i]))
            (*out)[n++] = fresh[i];
    qsort(*out, (size_t)n, sizeof(int32_t), cmp_i32);
    free(fresh);
    free(fresh_r);
    return n;
}

static void station_name(const tt_radio_state *st, char *buf, size_t n)
{
    snprintf(buf, n, "st-%016llx", (unsigned long long)st->station);
}

static int next_page(const tt_served *s, tt_radio_state *st, int limit, tt_scored *items, int *n,
                     tt_err *err)
{
    tt_radio_listener lis = {0};
    int32_t *avoid = NULL;
    tt_radio_event *ev = NULL;
    char name[32];
    int rc;

    station_name(st, name, sizeof(name));
    lis.n_avoid = disliked(s, st->user_id, &avoid);
    lis.avoid = avoid;
    tt__overlay_station_get(s->overlay, name, &ev, &lis.n_events);
    lis.events = ev;
    rc = tt_radio_next(s->radio, st, &lis, limit, items, n, err);
    free(avoid);
    free(ev);
    return rc;
}

/* The model that ranked the station's pool, as the answer names it. */
static const char *model_name(const tt_served *s, const tt_radio_state *st)
{
    bool cf = tt__served_find(s, "als") != NULL;

    if (st->flags & TT_RADIO_FALLBACK)
        return tt__served_find(s, "genre") ? "genre" : "popularity";
    if (st->flags & TT_RADIO_CONTENT)
        return cf ? "als+content" : "content";
    return "als";
}

static void write_track(tt_jbuf *b, const tt_catalog *cat, const tt_scored *it, uint32_t pos)
{
    tt__jb_lit(b, b->p[b->n - 1] == '[' ? "{" : ",{");
    tt__jb_key(b, "track_id");
    tt__jb_str(b, tt_catalog_track_id(cat, it->track));
    tt__jb_key(b, "title");
    tt__jb_str(b, tt_catalog_track_title(cat, it->track));
    tt__jb_key(b, "artist");
    tt__jb_str(b, tt_catalog_track_artist(cat, it->track));
    tt__jb_key(b, "genre");
    tt__jb_str(b, tt_catalog_track_genre(cat, it->track));
    tt__jb_key(b, "score");
    tt__jb_num(b, isfinite(it->score) ? it->score : 0.0);
    tt__jb_key(b, "position");
    tt__jb_int(b, pos);
    tt__jb_lit(b, "}");
}

/*
 * Each page is one impression of the "radio" surface, under the page's recommendation id
 * (a play sent with it counts as a click of radio), for the station's listener ("" when
 * the station is not personal).
 */
static void answer(tt_app *app, const tt_served *s, const tt_radio_state *st,
                   const tt_scored *items, int n, tt_reply *out)
{
    char name[32], cursor[TT_RADIO_CURSOR_MAX + 1], rec_id[64];
    tt_jbuf b = {0}, tl = {0};

    tt__jb_lit(&tl, "");
    tt__rec_id_new(app, "radio", rec_id, sizeof(rec_id));
    station_name(st, name, sizeof(name));
    tt_radio_cursor_encode(st, app->radio_key, cursor);
    tt__jb_lit(&b, "{\"station_id\":");
    tt__jb_str(&b, name);
    tt__jb_key(&b, "model");
    tt__jb_str(&b, model_name(s, st));
    tt__jb_key(&b, "tier");
    tt__jb_str(&b, tier_names[st->flags & TT_RADIO_CONTENT ? TT_TIER_STARTER : TT_TIER_FREE]);
    tt__jb_key(&b, "fallback");
    tt__jb_lit(&b, st->flags & TT_RADIO_FALLBACK ? "true" : "false");
    tt__jb_key(&b, "page");
    tt__jb_int(&b, st->page);
    tt__jb_str_field(&b, "recommendation_id", rec_id);
    tt__jb_key(&b, "tracks");
    tt__jb_lit(&b, "[");
    for (int i = 0; i < n; i++) {
        write_track(&b, s->cat, &items[i], st->played - (uint32_t)(n - i) + 1);
        tt__track_list_add(&tl, s->cat, items[i].track);
    }
    tt__jb_lit(&b, "]");
    tt__jb_key(&b, "cursor");
    tt__jb_str(&b, cursor);
    tt__jb_lit(&b, "}");
    out->status = 200;
    out->body = b.p;
    out->len = b.n;
    out->content_type = "application/json";
    tt__implog_add(app->implog, rec_id, st->user_id, "radio", tl.p);
    tt__metrics_recommendation(app->metrics, "radio");
    free(tl.p);
}

void tt__h_radio_generate(tt_app *app, json_t *body, tt_reply *out)
{
    struct radio_req r = {0};
    tt_radio_state st;
    tt_scored items[LIMIT_MAX];
    tt_served *s = NULL;
    tt_err err = {0};
    int n = 0, rc;

    if (parse(body, &r, out) < 0)
        return;
    s = tt__app_models(app);
    if (!s || !s->radio) {
        tt__reply_error(out, TT_ESTATE, NULL, "no models are loaded yet");
        goto out;
    }
    rc = station(app, s, &r, &st, &err);
    if (rc == 0)
        rc = next_page(s, &st, (int)r.limit, items, &n, &err);
    if (rc < 0) {
        tt__reply_err(out, rc, &err);
        goto out;
    }
    answer(app, s, &st, items, n, out);
out:
    tt__served_release(s);
}
