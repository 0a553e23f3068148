/*
 * The HTTP server: libmicrohttpd with an internal epoll thread pool. Each request's body is
 * collected (at most 64 KiB), parsed with jansson and handed to its handler; every answer,
 * errors included, is JSON (metrics and the documentation pages excepted). Reload swaps a
 * reference-counted snapshot.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/journal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MAX_BODY 65536
/* Bodies announced larger than this are refused before reading them. */
#define MAX_DRAIN (1 << 20)
/*
 * Request headers (names and values) larger than this get the engine's JSON 431. Up to the
 * connection's memory (POOL_BYTES, less the request line and buffers) libmicrohttpd parses
 * them and lets us answer; beyond that it answers 431 itself, with its own HTML body.
 */
#define MAX_HEADERS (16 * 1024)
/* Statement timeout of the reload's own connection. */
#define RELOAD_BUDGET_MS 60000
#define POOL_BYTES (64 * 1024)

struct route {
    const char *path;
    const char *method;
    tt_handler fn;
    enum tt_endpoint ep;
    bool needs_body;
    bool admin; /* changes the service's state: needs the admin token (admin.c) */
    bool limited; /* a recommendation endpoint: under RATE_LIMIT */
    bool slow;    /* loads models for seconds: runs off the HTTP thread (see offload) */
};

static const struct route routes[] = {
    {"/recommend/user", "POST", tt__h_recommend_user, TT_EP_RECOMMEND_USER, true, false, true, false},
    {"/recommend/similar", "POST", tt__h_recommend_similar, TT_EP_RECOMMEND_SIMILAR, true, false, true, false},
    {"/feedback", "POST", tt__h_feedback, TT_EP_FEEDBACK, true, false, false, false},
    {"/health", "GET", tt__h_health, TT_EP_HEALTH, false, false, false, false},
    {"/models/info", "GET", tt__h_models_info, TT_EP_MODELS_INFO, false, false, false, false},
    {"/models/reload", "POST", tt__h_models_reload, TT_EP_MODELS_RELOAD, false, true, false, true},
    {"/metrics", "GET", tt__h_metrics, TT_EP_METRICS, false, false, false, false},
    {"/radio/generate", "POST", tt__h_radio_generate, TT_EP_RADIO, true, false, true, false},
    {"/daily-mix", "POST", tt__h_daily_mix, TT_EP_DAILY_MIX, true, false, true, false},
    {"/taste-profile/{user_id}", "POST", tt__h_taste_profile, TT_EP_TASTE_PROFILE, false, false, true, false},
    {"/models/train", "POST", tt__h_train_submit, TT_EP_MODELS_TRAIN, true, true, false, false},
    {"/models/train", "GET", tt__h_train_list, TT_EP_MODELS_TRAIN, false, true, false, false},
    {"/models/train/{job_id}", "GET", tt__h_train_get, TT_EP_MODELS_TRAIN, false, true, false, false},
    {"/models/train/{job_id}", "DELETE", tt__h_train_cancel, TT_EP_MODELS_TRAIN, false, true, false, false},
    {"/models/versions", "GET", tt__h_versions, TT_EP_MODELS_VERSIONS, false, false, false, false},
    {"/models/promote", "POST", tt__h_promote, TT_EP_MODELS_VERSIONS, true, true, false, true},
    {"/models/rollback", "POST", tt__h_rollback, TT_EP_MODELS_VERSIONS, true, true, false, true},
    {"/dashboard", "GET", tt__h_dashboard, TT_EP_DASHBOARD, false, false, false, false},
    {"/dashboard/chart.js", "GET", tt__h_dashboard_chart, TT_EP_DASHBOARD, false, false, false, false},
    {"/dashboard/data", "GET", tt__h_dashboard_data, TT_EP_DASHBOARD, false, false, false, false},
    {"/openapi.json", "GET", tt__h_openapi, TT_EP_DOCS, false, false, false, false},
    {"/docs", "GET", tt__h_docs, TT_EP_DOCS, false, false, false, false},
    {"/docs/{file}", "GET", tt__h_docs_asset, TT_EP_DOCS, false, false, false, false},
};

#define N_ROUTES ((int)(sizeof(routes) / sizeof(routes[0])))

int tt_server_route_count(void)
{
    return N_ROUTES;
}

tt_server_route tt_server_route_at(int i)
{
    const struct route *rt = &routes[i >= 0 && i < N_ROUTES ? i : 0];

    return (tt_server_route){rt->method, rt->path, rt->admin, rt->limited};
}

struct req {
    const struct route *route;
    char *body;
    size_t len;
    bool too_big;
    double start;
    int status;
    const char *method;
    char path[128]; /* for the access log, truncated */
    char *param;    /* the path's parameter, for a route with one (malloc'd) */
    char allow[64]; /* the methods of a path asked with another one */
    tt_app *app;
    /* A slow route's handler on its own thread: its connection, body and answer. */
    struct MHD_Connection *conn;
    json_t *json;
    tt_reply out;
    bool offloaded, done;
};

tt_server_params tt_server_params_default(void)
{
    /* One HTTP thread per core: more only adds context switches between them. */
    return (tt_server_params){tt_ncpu(), 1024, 15, 300, 256LL << 20, true, 10.0f, 0, 0, 300};
}

tt_served *tt__app_models(tt_app *app)
{
    tt_served *s;

    pthread_mutex_lock(&app->served_lock);
    s = app->served;
    if (s)
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
    pthread_mutex_unlock(&app->served_lock);
    return s;
}

/* Where a route's path parameter starts ("/taste-profile/{user_id}"), or NULL. */
static const char *param_of(const struct route *rt)
{
    return strchr(rt->path, '{');
}

static bool path_matches(const struct route *rt, const char *url)
{
    const char *p = param_of(rt);

    /* A parameter is one path segment (empty: the handler names the missing field). */
    if (p)
        return strncmp(url, rt->path, (size_t)(p - rt->path)) == 0 &&
               !strchr(url + (p - rt->path), '/');
    return strcmp(url, rt->path) == 0;
}

/*
 * The route of @url and @method. When the path exists only for other methods, returns
 * NULL with those methods in @allow ("GET, POST"), else @allow is empty.
 */
static const struct route *find_route(const char *url, const char *method, char *allow,
                                      size_t cap)
{
    allow[0] = '\0';
    for (int i = 0; i < N_ROUTES; i++) {
        if (!path_matches(&routes[i], url))
            continue;
        if (strcmp(method, routes[i].method) == 0)
            return &routes[i];
        snprintf(allow + strlen(allow), cap - strlen(allow), "%s%s", allow[0] ? ", " : "",
                 routes[i].method);
    }
    return NULL;
}

/*
 * The path parameter becomes the body member it names ("{user_id}": "user_id"), replacing
 * any the body has: handlers validate it as any other field. Returns the body (created when
 * the request had none).
 */
static json_t *with_param(const struct route *rt, const char *param, json_t *body)
{
    const char *p = param_of(rt);
    char name[64];
    size_t n = strcspn(p + 1, "}");

    snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1), p + 1);
    if (!body)
        body = json_object();
    json_object_set_new(body, name, json_string(param));
    return body;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct req *r, tt_reply *out)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(out->len, out->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(out->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type",
                            out->content_type ? out->content_type : "application/json");
    if (out->allow)
        MHD_add_response_header(resp, "Allow", out->allow);
    if (out->www_authenticate)
        MHD_add_response_header(resp, "WWW-Authenticate", out->www_authenticate);
    if (out->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%d", out->retry_after);
        MHD_add_response_header(resp, "Retry-After", secs);
    }
    if (atomic_load_explicit(&r->app->stopping, memory_order_relaxed))
        MHD_add_response_header(resp, "Connection", "close"); /* no next request on it */
    r->status = out->status;
    ret = MHD_queue_response(c, (unsigned)out->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static bool is_json(struct MHD_Connection *c)
{
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    return ct && strncasecmp(ct, "application/json", 16) == 0 &&
           (ct[16] == '\0' || ct[16] == ';' || ct[16] == ' ');
}

/*
 * Validates the request as a whole: true with its body (NULL when it has none) in *@body,
 * or false with the refusal in @out.
 */
static bool admit(tt_app *app, struct MHD_Connection *c, struct req *r, json_t **body,
                  tt_reply *out)
{
    json_error_t jerr;

    *body = NULL;
    if (r->route->admin && !tt__admin_allowed(app, c, out))
        return false;
    if (r->route->limited && !tt__ratelimit_take(app->limiter, c, out))
        return false;
    if (r->too_big) {
        tt__reply_error(out, TT_ETOOBIG, NULL,
                        "the request body is larger than %d bytes", MAX_BODY);
        return false;
    }
    if (r->len > 0 && !is_json(c)) {
        tt__reply_error(out, TT_EMEDIA, NULL,
                        "send the body as application/json");
        return false;
    }
    if (r->route->needs_body || r->len > 0) {
        /* Integers as reals: an out-of-range number is then a range error naming its field,
         * not a parse error (json.c accepts whole reals as integers). */
        *body = r->len ? json_loadb(r->body, r->len,
                                    JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr)
                       : NULL;
        if (!json_is_object(*body)) {
            tt__reply_error(out, TT_EPARSE, NULL, "%s",
                            *body ? "the body must be a JSON object"
                                  : r->len ? jerr.text : "a JSON object body is required");
            json_decref(*body);
            *body = NULL;
            return false;
        }
    }
    if (r->param)
        *body = with_param(r->route, r->param, *body);
    return true;
}

static void *run_offloaded(void *arg)
{
    struct req *r = arg;
    tt_app *app = r->app;

    r->route->fn(app, r->json, &r->out);
    json_decref(r->json);
    r->json = NULL;
    pthread_mutex_lock(&app->offload_lock);
    r->done = true;
    /* From here the connection's thread owns @r again (and may free it). */
    MHD_resume_connection(r->conn);
    app->offloaded--;
    pthread_cond_broadcast(&app->offload_done);
    pthread_mutex_unlock(&app->offload_lock);
    return NULL;
}

/*
 * Runs a slow route's handler (a reload loads every model: seconds on a large catalog) on a
 * thread of its own, the connection suspended meanwhile. Each HTTP thread serves many
 * connections; a handler that held it would stall every other request on it as long. Returns
 * false when no thread could be started (the caller runs the handler itself).
 */
static bool offload(tt_app *app, struct MHD_Connection *c, struct req *r, json_t *body)
{
    pthread_attr_t attr;
    pthread_t t;
    int rc;

    r->conn = c;
    r->json = body;
    r->offloaded = true;
    pthread_mutex_lock(&app->offload_lock);
    MHD_suspend_connection(c);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &attr, run_offloaded, r);
    pthread_attr_destroy(&attr);
    if (rc == 0)
        app->offloaded++;
    else
        MHD_resume_connection(c);
    pthread_mutex_unlock(&app->offload_lock);
    r->offloaded = rc == 0;
    return rc == 0;
}

/* Validates the request as a whole and runs its handler; false when the answer will come
 * later (offloaded: on_request is called again once it is ready). */
static bool dispatch(tt_app *app, struct MHD_Connection *c, struct req *r, tt_reply *out)
{
    json_t *body;

    if (!admit(app, c, r, &body, out))
        return true;
    if (r->route->slow && offload(app, c, r, body))
        return false;
    r->route->fn(app, body, out);
    json_decref(body);
    return true;
}

/*
 * Acknowledges the request's headers at once. Clients that send headers and body in two
 * writes without TCP_NODELAY (Python's httpx among them) otherwise hold the body back until
 * our delayed ACK fires, 40 ms later, on every request of a keep-alive connection.
 */
static void quick_ack(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int one = 1;

    if (ci)
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    size_t *n = cls;

    (void)kind;
    *n += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

static size_t header_bytes(struct MHD_Connection *c)
{
    size_t n = 0;

    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header_bytes, &n);
    return n;
}

/* The first call for a request: route it and refuse what can be refused before its body. */
static enum MHD_Result begin(tt_app *app, struct MHD_Connection *c, const char *url,
                             const char *method, void **con_cls)
{
    struct req *r = tt_calloc(1, sizeof(*r));
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    tt_reply out = {0};

    r->start = tt_now();
    r->app = app;
    r->method = method;
    quick_ack(c);
    snprintf(r->path, sizeof(r->path), "%s", url);
    /* Client bytes go to the log: no control characters, so one request is one line. */
    for (char *p = r->path; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    r->route = find_route(url, method, r->allow, sizeof(r->allow));
    if (r->route && param_of(r->route))
        r->param = tt_strdup(url + (param_of(r->route) - r->route->path));
    *con_cls = r;
    if (header_bytes(c) > MAX_HEADERS) {
        tt__reply_error(&out, TT_EHEADERS, NULL, "the request headers are larger than %d bytes",
                        MAX_HEADERS);
        return send_reply(c, r, &out);
    }
    if (!r->route && r->allow[0]) {
        tt__reply_error(&out, TT_EMETHOD, NULL, "use %s for %s", r->allow, r->path);
        out.allow = r->allow;
        return send_reply(c, r, &out);
    }
    if (!r->route) {
        tt__reply_error(&out, TT_ENOTFOUND, NULL, "no such endpoint");
        return send_reply(c, r, &out);
    }
    if (cl && strtoll(cl, NULL, 10) > MAX_DRAIN) {
        tt__reply_error(&out, TT_ETOOBIG, NULL,
                        "the request body is larger than %d bytes", MAX_BODY);
        return send_reply(c, r, &out);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **con_cls)
{
    tt_app *app = cls;
    struct req *r = *con_cls;
    tt_reply out = {0};

    (void)version;
    if (!r)
        return begin(app, c, url, method, con_cls);
    if (r->status)
        return MHD_YES; /* already answered; let the rest of the body pass */
    if (r->offloaded)
        return r->done ? send_reply(c, r, &r->out) : MHD_YES;
    if (*upload_size > 0) {
        if (r->len + *upload_size > MAX_BODY) {
            r->too_big = true;
        } else {
            r->body = tt_realloc(r->body, r->len + *upload_size);
            memcpy(r->body + r->len, upload, *upload_size);
            r->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!dispatch(app, c, r, &out))
        return MHD_YES;
    return send_reply(c, r, &out);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    tt_app *app = cls;
    struct req *r = *con_cls;
    double secs;

    (void)c;
    if (!r)
        return;
    secs = tt_now() - r->start;
    /* A request the client abandoned before its answer (any @toe) is counted with status 0. */
    (void)toe;
    tt__metrics_request(app->metrics, r->route ? r->route->ep : TT_EP_OTHER, r->status, secs);
    if (app->params.access_log)
        fprintf(stderr, "access: %s %s %d %.0fus\n", r->method, r->path, r->status, secs * 1e6);
    free(r->body);
    free(r->param);
    free(r);
    *con_cls = NULL;
}

static int overlay_add_journaled(const tt_interaction_rec *r, void *ctx)
{
    tt_served *s = ctx;

    tt__overlay_add_event(s->overlay, tt_catalog_track_find(s->cat, r->track_id), r);
    return 0;
}

int tt_server_reload(tt_server *app, tt_err *err)
{
    tt_served *fresh = NULL, *old = NULL;
    uint64_t sig;
    int rc;

    pthread_mutex_lock(&app->reload_lock);
    /* Taken before the load: files published during it make the next poll load again. */
    sig = tt__published_sig(app->cfg.model_dir);
    rc = tt__served_load(&app->cfg, &app->params, &fresh, err);
    if (rc == 0 && !fresh)
        rc = tt_err_set(err, TT_ESTATE, "no trained models under %s", app->cfg.model_dir);
    if (rc < 0) {
        pthread_mutex_unlock(&app->reload_lock);
        return rc;
    }
    /*
     * Interactions stored after the snapshot was read, so they count at once (and survive a
     * restart). Feedback is held back until the swap (see feedback_lock).
     */
    pthread_rwlock_wrlock(&app->feedback_lock);
    rc = tt__overlay_fill(fresh->overlay, fresh->cat, app->store,
                          tt_catalog_watermark(fresh->cat), err);
    /* And those acknowledged from the journal, not in the database yet. */
    if (rc == 0 && app->journal)
        rc = tt_journal_each(app->journal, overlay_add_journaled, fresh, err);
    if (rc == 0) {
        pthread_mutex_lock(&app->served_lock);
        old = app->served;
        app->served = fresh;
        pthread_mutex_unlock(&app->served_lock);
    }
    pthread_rwlock_unlock(&app->feedback_lock);
    if (rc < 0) {
        tt__served_release(fresh);
        pthread_mutex_unlock(&app->reload_lock);
        return rc;
    }
    tt__served_release(old);
    app->loaded_sig = sig;
    pthread_mutex_unlock(&app->reload_lock);
    tt_info("models loaded: %d from %s", fresh->n, app->cfg.model_dir);
    return 0;
}

static int listen_addr(const tt_config *cfg, struct sockaddr_storage *sa, tt_err *err)
{
    struct addrinfo hints = {0}, *res = NULL;
    char port[16];

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%d", cfg->port);
    if (getaddrinfo(cfg->host, port, &hints, &res) != 0 || !res)
        return tt_err_set_field(err, TT_ECONFIG, "HOST", "cannot resolve HOST '%s'", cfg->host);
    memcpy(sa, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/*
 * Station cursors are signed with a key every replica shares (RADIO_SECRET, or a file under
 * MODEL_DIR). Without either, this process signs with a key of its own: its stations then
 * end with it, which beats not serving at all.
 */
static void radio_key(tt_app *app)
{
    tt_err err = {0};

    if (tt_radio_key(app->cfg.model_dir, app->radio_key, &err) == 0)
        return;
    tt_warn("radio cursors will not survive a restart: %s", err.message);
    for (size_t i = 0; i < sizeof(app->radio_key); i += 8) {
        uint64_t x = tt_hash64(&app, sizeof(app)) ^ (uint64_t)(tt_now() * 1e9) ^ i;
        x = tt_hash64(&x, sizeof(x));
        memcpy(app->radio_key + i, &x, 8);
    }
}

/*
 * The feedback journal (FEEDBACK_JOURNAL, default MODEL_DIR/journal/feedback-<PORT>.wal:
 * replicas on one machine each have their own) and its replayer, which starts on what a
 * previous run left.
 */
static int open_journal(tt_app *app, tt_err *err)
{
    char path[1200];
    int rc;

    if (strcmp(app->cfg.feedback_journal, "off") == 0)
        return 0;
    if (app->cfg.feedback_journal[0])
        snprintf(path, sizeof(path), "%s", app->cfg.feedback_journal);
    else
        snprintf(path, sizeof(path), "%s/journal/feedback-%d.wal", app->cfg.model_dir,
                 app->cfg.port);
    rc = tt_journal_open(path, (int64_t)app->cfg.journal_mb << 20, &app->journal, err);
    if (rc == 0)
        rc = tt__replay_start(app, app->journal, &app->replay, err);
    return rc;
}

static int open_parts(tt_app *app, tt_err *err)
{
    tt_cache_params cp = tt_cache_params_default();
    int rc;

    cp.url = app->cfg.redis_url;
    cp.ttl_seconds = app->params.cache_ttl;
    cp.max_bytes = app->params.cache_bytes;
    rc = tt_store_open(app->cfg.database_url, &app->store, err);
    /* Reading a day of feedback at a reload may take longer than a request's budget. */
    if (rc == 0)
        rc = tt_store_set_budget(app->store, RELOAD_BUDGET_MS, err);
    if (rc == 0)
        rc = tt_store_pool_open(app->cfg.database_url, app->params.threads + 1,
                                app->params.db_budget_ms, &app->pool, err);
    if (rc == 0)
        rc = tt_cache_open(&cp, &app->cache, err);
    if (rc == 0)
        rc = tt__implog_start(app->cfg.database_url, &app->implog, err);
    if (rc == 0)
        radio_key(app);
    if (rc == 0)
        rc = tt__feed_start(app, &app->feed, err);
    /* After the feed and the cache: the replayer hands what it stores to both. */
    if (rc == 0)
        rc = open_journal(app, err);
    if (rc == 0)
        rc = tt__dash_start(app->metrics, app->cache, &app->dash, err);
    return rc;
}

static void free_parts(tt_app *app)
{
    tt__jobs_stop(app->jobs);
    tt__dash_stop(app->dash);
    tt__ratelimit_free(app->limiter);
    tt__replay_stop(app->replay);
    tt_journal_close(app->journal);
    tt__feed_stop(app->feed);
    tt__implog_stop(app->implog);
    tt_cache_close(app->cache);
    tt_store_pool_close(app->pool);
    tt_store_close(app->store);
    tt__metrics_free(app->metrics);
    tt__served_release(app->served);
    pthread_mutex_destroy(&app->served_lock);
    pthread_mutex_destroy(&app->reload_lock);
    pthread_mutex_destroy(&app->offload_lock);
    pthread_cond_destroy(&app->offload_done);
    pthread_rwlock_destroy(&app->feedback_lock);
    free(app);
}

/* Accept policy: once stopping, a new connection is closed as soon as it is accepted. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    tt_app *app = cls;

    (void)addr;
    (void)len;
    return atomic_load_explicit(&app->stopping, memory_order_relaxed) ? MHD_NO : MHD_YES;
}

static int start_daemon(tt_app *app, tt_err *err)
{
    struct sockaddr_storage sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME;
    int rc = listen_addr(&app->cfg, &sa, err);

    if (rc < 0)
        return rc;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    app->daemon = MHD_start_daemon(
        flags, (uint16_t)app->cfg.port, on_accept, app, on_request, app, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)app->params.threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)app->params.connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)app->params.timeout_seconds,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)POOL_BYTES, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, app, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!app->daemon)
        return tt_err_set(err, TT_EIO, "cannot listen on %s:%d (in use, or not allowed?)",
                          app->cfg.host, app->cfg.port);
    return 0;
}

static void init_feedback_lock(tt_app *app)
{
    pthread_rwlockattr_t a;

    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&app->feedback_lock, &a);
    pthread_rwlockattr_destroy(&a);
}

int tt_server_start(const tt_config *cfg, const tt_server_params *p, tt_server **out,
                    tt_err *err)
{
    tt_app *app = tt_calloc(1, sizeof(*app));
    tt_err lerr = {0};
    int rc;

    app->cfg = *cfg;
    app->params = *p;
    app->started = tt_now();
    pthread_mutex_init(&app->served_lock, NULL);
    pthread_mutex_init(&app->reload_lock, NULL);
    pthread_mutex_init(&app->offload_lock, NULL);
    pthread_cond_init(&app->offload_done, NULL);
    init_feedback_lock(app);
    app->metrics = tt__metrics_new();
    app->limiter = tt__ratelimit_new(cfg->rate_limit, cfg->rate_burst);
    tt__docs_locate(cfg, app->docs_dir, sizeof(app->docs_dir));
    /* Said before the daemon answers anything, so a client that reads /health finds it logged. */
    if (cfg->enable_gpu)
        tt_warn("ENABLE_GPU=true: this build has no GPU code path; everything runs on the CPU");
    rc = open_parts(app, err);
    if (rc == 0 && tt_server_reload(app, &lerr) < 0)
        tt_warn("starting without models: %s", lerr.message);
    if (rc == 0)
        rc = start_daemon(app, err);
    if (rc == 0)
        rc = tt__jobs_start(app, &app->jobs, err);
    if (rc < 0) {
        if (app->daemon)
            MHD_stop_daemon(app->daemon);
        free_parts(app);
        return rc;
    }
    tt_info("serving on %s:%d (%d threads, cache %s, database %s, budget %d ms)", cfg->host,
            cfg->port, p->threads, tt_cache_backend(app->cache), tt_store_backend(app->store),
            p->db_budget_ms);
    *out = app;
    return 0;
}

void tt_server_stop(tt_server *app)
{
    if (!app)
        return;
    /*
     * Stop taking connections, then let the pool finish the ones it has. Not by
     * MHD_quiesce_daemon(): on an epoll thread pool libmicrohttpd 0.9.75 can abort the process
     * there (a worker and the quiescing thread race to take the listen socket out of the epoll
     * set, and the loser panics on ENOENT). The accept policy refuses instead, and answers
     * given from here on close their connection.
     */
    atomic_store(&app->stopping, true);
    /* Offloaded handlers first: they use the parts freed below and resume connections. */
    pthread_mutex_lock(&app->offload_lock);
    while (app->offloaded > 0)
        pthread_cond_wait(&app->offload_done, &app->offload_lock);
    pthread_mutex_unlock(&app->offload_lock);
    for (int i = 0; i < 100; i++) {
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(app->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!info || info->num_connections == 0)
            break;
        usleep(50000);
    }
    MHD_stop_daemon(app->daemon);
    free_parts(app);
}

const char *tt_server_http_version(void)
{
    return MHD_get_version();
}
