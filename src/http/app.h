/*
 * app.h - the service's state shared by the HTTP handlers. Internal to src/http/.
 */
#ifndef TT_HTTP_APP_H
#define TT_HTTP_APP_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tt/cache.h"
#include "tt/catalog.h"
#include "tt/config.h"
#include "tt/model.h"
#include "tt/radio.h"
#include "tt/server.h"
#include "tt/store.h"

/* ---- served models ---- */

#define TT_SERVED_MAX 64

struct tt_served_model {
    tt_model *model;
    char name[64];
    char tier[16];
    char version[40];
    bool custom;     /* an enterprise custom model: served only when asked for by name */
    char file[1100];
    json_t *sidecar; /* the JSON written next to the model by train, or an empty object */
    json_t *index;   /* the content model's index: type, file, sizes, search parameters */
};

/*
 * One consistent set of loaded models and the catalog they were trained with. Requests
 * take a reference (tt__served_acquire) and keep using it even if a reload swaps in a new
 * set meanwhile; the last reference frees it.
 */
typedef struct tt_overlay tt_overlay;
struct tt_mix_space;
struct tt_taste;
struct tt_tz_cache;

typedef struct tt_served {
    int refs;
    tt_catalog *cat;
    tt_overlay *overlay; /* interactions stored after the catalog's watermark */
    struct tt_served_model m[TT_SERVED_MAX];
    int n;
    tt_radio *radio; /* stations over this snapshot's catalog and models */
    struct tt_mix_space *mix; /* daily mixes over content and/or ALS; NULL without either */
    struct tt_taste *taste;   /* pro: the population summary of taste profiles, or NULL */
    struct tt_tz_cache *tz;   /* time zones read for taste profiles */
    json_t *left_out;         /* published models not served, and why, or NULL */
    char free_main[8];        /* the free tier's recommender: "als" or "ease" */
    char free_why[400];       /* why (tt_registry_free_choice) */
    int64_t loaded_at;
} tt_served;

/*
 * Loads the snapshot under cfg->model_dir, and the content index when the content model is
 * loaded (search parameters from @p); *out is NULL (not an error) when there are no models.
 */
int tt__served_load(const tt_config *cfg, const tt_server_params *p, tt_served **out,
                    tt_err *err);
void tt__served_release(tt_served *s);
/* The loaded model named @name, or NULL. */
const struct tt_served_model *tt__served_find(const tt_served *s, const char *name);

/* ---- fresh feedback since the snapshot ---- */

tt_overlay *tt__overlay_new(void);
void tt__overlay_free(tt_overlay *o);
/*
 * Records one stored interaction on @track, its dense id in the snapshot's catalog (-1 when
 * the catalog does not know it: kept, never returned): its preference under the default
 * weighting (a dislike for good; impressions are not listening and are left out). @r->id,
 * its row id, or else its event_id names it: an event already held is not added twice, and
 * one held without a row id takes @r->id. Returns 1 when added, 0 when already held (or
 * when the map is full), -1 when left out.
 */
int tt__overlay_add_event(tt_overlay *o, int32_t track, const tt_interaction_rec *r);
/*
 * The stamp of @user's fresh history into @buf (@n >= 32): the newest row id of their events
 * on known tracks and how many of those have no row yet (acknowledged from the journal),
 * "0.0" when there is none. It changes exactly when the user's fresh history does, and is the
 * same on every replica holding the same stored events. Cached answers that read the fresh
 * history carry it in their key.
 */
void tt__overlay_stamp(tt_overlay *o, const char *user, char *buf, size_t n);
/* Reads every interaction stored after the one numbered @after_id into @o, for @cat. */
int tt__overlay_fill(tt_overlay *o, const tt_catalog *cat, tt_store *s, int64_t after_id,
                     tt_err *err);
/*
 * The user's events on tracks the catalog knows, as dense ids: *tracks and *r are malloc'd
 * (caller frees), *n their count.
 */
void tt__overlay_get(tt_overlay *o, const char *user, int32_t **tracks, float **r, int32_t *n);
/*
 * The skips and dislikes sent for radio station @station ("st-..." as its answers name it,
 * recorded from feedback whose context is "radio:<station>"), newest last: *ev is malloc'd
 * (caller frees), *n its count (at most the last 32).
 */
void tt__overlay_station_get(tt_overlay *o, const char *station, tt_radio_event **ev,
                             int32_t *n);
/*
 * Records @r for its station when it is a skip or dislike with context "radio:<station>" of
 * a known @track (dense id, -1 when unknown: left out); anything else is left out.
 */
void tt__overlay_station_add(tt_overlay *o, int32_t track, const tt_interaction_rec *r);

/* ---- feedback stored by other replicas (feed.c) ---- */

typedef struct tt_feed tt_feed;
struct tt_server;

/*
 * Starts following the feedback other engines store: a subscription to their messages when
 * the cache is Redis, and a thread reading the database every FEEDBACK_POLL_MS (unless 0).
 * Each event joins the served overlay once. Needs app->cache and the configuration.
 */
int tt__feed_start(struct tt_server *app, tt_feed **out, tt_err *err);
/*
 * Tells the other engines about an event this engine stored, @r->id its row id (nothing is
 * sent without one, nor without Redis). Waits at most the cache's timeout; a failure only
 * leaves the event to their next database read. NULL @f does nothing.
 */
void tt__feed_publish(tt_feed *f, const tt_interaction_rec *r);
/*
 * An event this engine stored outside a request (the journal's replayer), @r->id its new row
 * id: the served overlay, which holds it by its event_id, takes the id, and the other engines
 * are told. Call without feedback_lock. NULL @f does nothing.
 */
void tt__feed_stored(tt_feed *f, const tt_interaction_rec *r);
/* Stops both; NULL does nothing. */
void tt__feed_stop(tt_feed *f);
/* For /health: {"redis": live|down|off, "database": ok|failing|off, "poll_ms", counts}. */
json_t *tt__feed_status(tt_feed *f);

/* ---- the feedback journal's replayer (replay.c) ---- */

typedef struct tt_replay tt_replay;
struct tt_journal;

/* Starts the thread that writes journaled feedback into the database once it takes writes. */
int tt__replay_start(struct tt_server *app, struct tt_journal *journal, tt_replay **out,
                     tt_err *err);
/* Looks at the journal now rather than at the next tick. NULL does nothing. */
void tt__replay_wake(tt_replay *rp);
/* Events replayed into the database, and refused by it, since start. */
void tt__replay_counts(tt_replay *rp, uint64_t *replayed, uint64_t *refused);
void tt__replay_stop(tt_replay *rp);

/* ---- asynchronous impression log ---- */

typedef struct tt_implog tt_implog;

int tt__implog_start(const char *database_url, tt_implog **out, tt_err *err);
/* Queues one impression (copied); never blocks on the database. Drops when the queue is full. */
void tt__implog_add(tt_implog *l, const char *rec_id, const char *user, const char *model,
                    const char *track_ids);
/* Flushes what is queued and stops the writer thread. */
void tt__implog_stop(tt_implog *l);


/* ---- metrics ---- */

enum tt_endpoint {
    TT_EP_RECOMMEND_USER,
    TT_EP_RECOMMEND_SIMILAR,
    TT_EP_FEEDBACK,
    TT_EP_HEALTH,
    TT_EP_MODELS_INFO,
    TT_EP_MODELS_RELOAD,
    TT_EP_METRICS,
    TT_EP_RADIO,
    TT_EP_DAILY_MIX,
    TT_EP_TASTE_PROFILE,
    TT_EP_MODELS_TRAIN,
    TT_EP_MODELS_VERSIONS,
    TT_EP_DASHBOARD,
    TT_EP_DOCS, /* the OpenAPI document, Swagger UI and its files */
    TT_EP_OTHER,
    TT_EP_COUNT
};

typedef struct tt_metrics tt_metrics;

tt_metrics *tt__metrics_new(void);
void tt__metrics_free(tt_metrics *m);
void tt__metrics_request(tt_metrics *m, enum tt_endpoint ep, int status, double seconds);
void tt__metrics_feedback(tt_metrics *m, int action);
/* A list answered by @model (shown to the user: an impression). */
void tt__metrics_recommendation(tt_metrics *m, const char *model);
/* A click or play attributed to @model through a recommendation id. */
void tt__metrics_click(tt_metrics *m, const char *model);
/* Impressions and clicks of @model so far. */
void tt__metrics_ctr(tt_metrics *m, const char *model, uint64_t *impressions, uint64_t *clicks);
/* The Prometheus text exposition (malloc'd). */
char *tt__metrics_render(tt_metrics *m, const tt_served *s, tt_cache *cache);
const char *tt__endpoint_name(enum tt_endpoint ep);

#define TT_MODEL_SLOTS 32     /* models counted for CTR */
#define TT_LATENCY_BUCKETS 13 /* latency histogram: 12 upper bounds, then +Inf */

/* The counters of tt_metrics at one moment: two samples subtract into the events between. */
typedef struct tt_metrics_sample {
    uint64_t requests[TT_EP_COUNT]; /* answered, any status */
    uint64_t errors[TT_EP_COUNT];   /* answered 500 or 503 */
    uint64_t latency[TT_EP_COUNT][TT_LATENCY_BUCKETS];
    uint64_t feedback[TT_ACT_COUNT];
    uint64_t recs[TT_MODEL_SLOTS], clicks[TT_MODEL_SLOTS]; /* by slot: tt__metrics_model_name */
} tt_metrics_sample;

/* Reads every counter (relaxed atomic loads: no lock, the request path is not slowed). */
void tt__metrics_sample(tt_metrics *m, tt_metrics_sample *out);
/* The latency buckets' upper bounds in seconds, TT_LATENCY_BUCKETS - 1 of them, increasing. */
const double *tt__metrics_latency_bounds(void);
/* The model counted in slot @i, or NULL for a free slot. Borrowed: a slot's name never
 * changes once claimed and lives as long as @m. */
const char *tt__metrics_model_name(tt_metrics *m, int i);

typedef struct tt_ratelimit tt_ratelimit;

/* ---- the dashboard's time series (dashboard.c) ---- */

typedef struct tt_dash tt_dash;

/*
 * Starts the thread that samples the counters of @metrics and @cache at the start of every
 * minute (the last hour is kept), for GET /dashboard/data. Both must outlive the dashboard.
 */
int tt__dash_start(tt_metrics *metrics, tt_cache *cache, tt_dash **out, tt_err *err);
/* Stops the thread and frees @d. NULL does nothing. */
void tt__dash_stop(tt_dash *d);
/*
 * The per-minute series of the last hour (docs/dashboard.md, "series"): minutes (Unix
 * seconds of their start), seconds covered, and per minute the requests, rate, errors and
 * latency percentiles of each endpoint that answered, cache hits and misses, feedback, and
 * lists and clicks per model. The caller owns the result.
 */
json_t *tt__dash_series(tt_dash *d);
/*
 * The @q quantile (0..1), in milliseconds, of the request counts @c per latency bucket
 * (TT_LATENCY_BUCKETS of them); NAN when they are all 0. Beyond the last bound: that bound.
 */
double tt__dash_quantile_ms(const uint64_t *c, double q);

/* ---- the training pipeline's thread (jobs.c) ---- */

/*
 * One thread per engine: claims queued jobs and runs each in a worker process (`tunetrail
 * job-run`, niced, with JOB_THREADS threads), fails the jobs of engines that died, fires the
 * per-tier schedules, and reloads when a new version is published (MODEL_POLL_SECONDS).
 */
typedef struct tt_jobs tt_jobs;

int tt__jobs_start(struct tt_server *app, tt_jobs **out, tt_err *err);
/* Looks for a queued job now instead of at the next tick. NULL does nothing. */
void tt__jobs_wake(tt_jobs *j);
/* Waits (at most @seconds) until this engine's worker for @job_id, if any, has exited and
 * what it published is served: for answers that report the job ended. */
void tt__jobs_settle(tt_jobs *j, const char *job_id, double seconds);
/* Stops the thread; a worker still running is killed and its job failed. */
void tt__jobs_stop(tt_jobs *j);
/*
 * A signature of what is published under @model_dir (the catalog and every sidecar, by inode,
 * mtime and size): the poll reloads when it differs from the one the last reload loaded.
 */
uint64_t tt__published_sig(const char *model_dir);

/* ---- the application ---- */

struct tt_server {
    tt_config cfg;
    tt_server_params params;
    struct MHD_Daemon *daemon;
    _Atomic bool stopping;    /* set by tt_server_stop: new connections are refused */
    pthread_mutex_t served_lock;
    tt_served *served;        /* guarded by served_lock */
    pthread_mutex_t reload_lock; /* one reload at a time */
    /* tt__published_sig as the last reload found it before loading, so any reload (HTTP,
     * SIGHUP, a job's, the poll's) counts as the poll's: written under reload_lock. */
    _Atomic uint64_t loaded_sig;
    /* Handlers of slow routes running on threads of their own (server.c, offload). */
    pthread_mutex_t offload_lock;
    pthread_cond_t offload_done;
    int offloaded;
    tt_store *store;          /* the reload's connection, guarded by reload_lock */
    tt_store_pool *pool;      /* feedback writes and health checks, each within the budget */
    /*
     * Feedback holds it shared from its write until the event joins the served snapshot; a
     * reload holds it exclusive while it reads what was stored since the snapshot and swaps:
     * every event is then either read by the reload or added by its own request, never lost
     * between nor counted twice. Writers are preferred, so feedback cannot starve a reload.
     */
    pthread_rwlock_t feedback_lock;
    tt_cache *cache;
    tt_implog *implog;
    tt_feed *feed;            /* follows the feedback other replicas store */
    struct tt_journal *journal; /* feedback the database could not take yet, or NULL */
    tt_replay *replay;        /* writes the journal into the database */
    tt_jobs *jobs;            /* training jobs, schedules, new versions */
    tt_ratelimit *limiter;    /* RATE_LIMIT on the recommendation endpoints, or NULL */
    tt_metrics *metrics;
    tt_dash *dash;            /* per-minute series of the metrics, for the dashboard */
    double started;           /* tt_now() at start */
    uint64_t rec_counter;     /* recommendation ids */
    int64_t db_checked_us;    /* last database health check (monotonic microseconds) */
    uint8_t radio_key[32];    /* signs station cursors (tt_radio_key) */
    bool db_ok;
    char docs_dir[1100];      /* Swagger UI's files, served under /docs/ (tt__docs_locate) */
};

typedef struct tt_server tt_app;

/* A reference to the current models, or NULL when none are loaded. Release when done. */
tt_served *tt__app_models(tt_app *app);

/* ---- requests and answers ---- */

/* What a handler produces: a status and a body (JSON unless content_type says otherwise). */
typedef struct tt_reply {
    int status;
    char *body; /* malloc'd */
    size_t len;
    const char *content_type;
    const char *allow; /* Allow header for 405 */
    int retry_after;   /* Retry-After header in seconds, 0 for none */
    const char *www_authenticate; /* WWW-Authenticate header of a 401, or NULL */
} tt_reply;

/* ---- rate limiting (ratelimit.c) ---- */


/* Buckets of @rate requests per second, @burst at once (0: twice the rate); NULL when off. */
tt_ratelimit *tt__ratelimit_new(double rate, int burst);
void tt__ratelimit_free(tt_ratelimit *r);
struct MHD_Connection;
/*
 * Takes a token of the request's client; false, with @out a 429 in the JSON error shape and
 * its Retry-After, when the bucket is empty. A NULL limiter lets everything through.
 */
bool tt__ratelimit_take(tt_ratelimit *r, struct MHD_Connection *c, tt_reply *out);


/* A handler gets the parsed JSON body (NULL for GET). */
typedef void (*tt_handler)(tt_app *app, json_t *body, tt_reply *out);

void tt__h_recommend_user(tt_app *app, json_t *body, tt_reply *out);
void tt__h_recommend_similar(tt_app *app, json_t *body, tt_reply *out);
void tt__h_daily_mix(tt_app *app, json_t *body, tt_reply *out);
void tt__h_feedback(tt_app *app, json_t *body, tt_reply *out);
void tt__h_health(tt_app *app, json_t *body, tt_reply *out);
void tt__h_models_info(tt_app *app, json_t *body, tt_reply *out);
void tt__h_models_reload(tt_app *app, json_t *body, tt_reply *out);
void tt__h_metrics(tt_app *app, json_t *body, tt_reply *out);
void tt__h_radio_generate(tt_app *app, json_t *body, tt_reply *out);
/* @body has "user_id" from the path (/taste-profile/{user_id}). */
void tt__h_taste_profile(tt_app *app, json_t *body, tt_reply *out);
/* h_jobs.c: training jobs and model versions; "job_id" from the path where it has one. */
void tt__h_train_submit(tt_app *app, json_t *body, tt_reply *out);
void tt__h_train_list(tt_app *app, json_t *body, tt_reply *out);
void tt__h_train_get(tt_app *app, json_t *body, tt_reply *out);
void tt__h_train_cancel(tt_app *app, json_t *body, tt_reply *out);
void tt__h_versions(tt_app *app, json_t *body, tt_reply *out);
void tt__h_promote(tt_app *app, json_t *body, tt_reply *out);
void tt__h_rollback(tt_app *app, json_t *body, tt_reply *out);
/* dashboard.c: the page, its Chart.js and the data it plots. */
void tt__h_dashboard(tt_app *app, json_t *body, tt_reply *out);
void tt__h_dashboard_chart(tt_app *app, json_t *body, tt_reply *out);
void tt__h_dashboard_data(tt_app *app, json_t *body, tt_reply *out);
/* h_docs.c: GET /openapi.json, GET /docs (Swagger UI) and GET /docs/{file} (its files). */
void tt__h_openapi(tt_app *app, json_t *body, tt_reply *out);
void tt__h_docs(tt_app *app, json_t *body, tt_reply *out);
void tt__h_docs_asset(tt_app *app, json_t *body, tt_reply *out);
/*
 * The folder of Swagger UI's files into @dir (@n bytes): DOCS_ASSETS_DIR when set, else
 * web/node_modules/swagger-ui-dist of the tree the executable was built in (the first of
 * ../ and ../../ from its folder that has it; the first when neither does).
 */
void tt__docs_locate(const tt_config *cfg, char *dir, size_t n);


/* ---- errors.c: the only place codes become HTTP statuses ---- */

/* HTTP status of engine error @code, from the error table of tt/err.h (500 outside it). */
int tt__http_status(int code);
/*
 * Fills @out with the JSON error shape of @code (a TT_E* of the error table: its status and
 * snake_case name), naming @field when non-NULL, with the message @fmt. Errors worth a retry
 * (database over its budget, rate limit) also get a Retry-After.
 */
void tt__reply_error(tt_reply *out, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fills @out from an engine error: its code, field and message. */
void tt__reply_err(tt_reply *out, int rc, const tt_err *err);
/* Fills @out with @j serialised (steals @j). */
void tt__reply_json(tt_reply *out, int status, json_t *j);

/* ---- json.c: request field validation ---- */

/* Each returns 0 or fills @out with a 400 naming @field; @def when absent or null. */
int tt__json_string(json_t *body, const char *field, bool required, size_t max_len,
                    const char **val, tt_reply *out);
int tt__json_int(json_t *body, const char *field, int64_t min, int64_t max, int64_t def,
                 int64_t *val, tt_reply *out);
int tt__json_bool(json_t *body, const char *field, bool def, bool *val, tt_reply *out);
/* An array of strings (at most @max, each at most @max_len bytes); *arr NULL when absent. */
int tt__json_strings(json_t *body, const char *field, size_t max, size_t max_len,
                     json_t **arr, tt_reply *out);
/* One of @choices (NULL-terminated); *idx its index, @def when absent. */
int tt__json_enum(json_t *body, const char *field, const char *const *choices, int def,
                  int *idx, tt_reply *out);

/* ---- json.c: a minimal JSON writer for the answers served at high rates ---- */

typedef struct tt_jbuf {
    char *p; /* malloc'd, NUL-terminated */
    size_t n, cap;
} tt_jbuf;

void tt__jb_raw(tt_jbuf *b, const char *s, size_t n);
void tt__jb_lit(tt_jbuf *b, const char *s);
void tt__jb_str(tt_jbuf *b, const char *s);
void tt__jb_int(tt_jbuf *b, int64_t v);
void tt__jb_num(tt_jbuf *b, double v);
/* Writes "key": preceded by a comma unless it is the first member. */
void tt__jb_key(tt_jbuf *b, const char *key);
/* Writes "key": "val" (a member; a comma before it unless it is the first). */
void tt__jb_str_field(tt_jbuf *b, const char *key, const char *val);
/* "key":["v0","v1",...] of @n strings. */
void tt__jb_str_array(tt_jbuf *b, const char *key, const char *const *v, int n);

/*
 * Fills @out with the cached answer under @group/@key, marked "cached": true, when caching
 * is on and there is one; false otherwise (@out untouched).
 */
bool tt__answer_cached(tt_app *app, const char *group, const char *key, tt_reply *out);

/*
 * A new recommendation id "<surface>-<hex>" into @buf (@n >= 48): the prefix names the model
 * or list surface ("mix", "radio") that answered, so clicks are attributed without a lookup.
 */
void tt__rec_id_new(tt_app *app, const char *surface, char *buf, size_t n);
/* Appends track @t's platform id to the space-separated list @tl. */
void tt__track_list_add(tt_jbuf *tl, const tt_catalog *cat, int32_t t);
/* True when @prefix names what answered a list: a model, or the "mix" and "radio" surfaces. */
bool tt__rec_surface_known(const char *prefix);

/*
 * Admin access to a state-changing endpoint (src/http/admin.c): true when the request may
 * go on; else @out holds the 401 or 403 error.
 */
struct MHD_Connection;
bool tt__admin_allowed(tt_app *app, struct MHD_Connection *c, tt_reply *out);

#endif
