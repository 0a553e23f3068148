/*
 * server.h - the HTTP service (`tunetrail serve`): libmicrohttpd with its own epoll thread
 * pool answering the endpoints of docs/API.md from a reference-counted snapshot of the
 * trained models, with an answer cache, durable feedback and Prometheus metrics.
 */
#ifndef TT_SERVER_H
#define TT_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/config.h"
#include "tt/err.h"

typedef struct tt_server_params {
    int threads;          /* HTTP worker threads (default one per core) */
    int connection_limit; /* concurrent connections (default 1024) */
    int timeout_seconds;  /* idle/slow client timeout (default 15) */
    int cache_ttl;        /* seconds an answer stays cached (default 300) */
    int64_t cache_bytes;  /* in-process cache bound (default 256 MiB) */
    bool access_log;      /* one line per request on stderr (default true) */
    float fresh_weight;   /* weight of feedback since training when folding in (default 10) */
    int nprobe;           /* content index: IVF lists visited per query (0 = as built) */
    int ef_search;        /* content index: HNSW candidate list (0 = as built) */
    int db_budget_ms;     /* longest a request waits for the database (default 300) */
} tt_server_params;

tt_server_params tt_server_params_default(void);

/* The version of libmicrohttpd this build is linked with ("0.9.75"). */
const char *tt_server_http_version(void);

typedef struct tt_server tt_server;

/*
 * Loads the models under cfg->model_dir (a missing model directory is not an error: the
 * service starts and answers 503 until a reload finds models), opens the store and the
 * cache, and starts listening on cfg->host:cfg->port. @cfg is copied.
 */
int tt_server_start(const tt_config *cfg, const tt_server_params *p, tt_server **out,
                    tt_err *err);
/* Swaps in the newest model files; on error the old models keep serving. Thread-safe. */
int tt_server_reload(tt_server *s, tt_err *err);
/* Stops accepting, lets requests in flight finish, flushes impressions, frees everything. */
void tt_server_stop(tt_server *s);

/* One route the service answers, as its routing table holds it. */
typedef struct tt_server_route {
    const char *method; /* "GET", "POST", "DELETE" */
    const char *path;   /* "/health"; a parameter is one segment: "/models/train/{job_id}" */
    bool admin;         /* needs the admin token (Authorization: Bearer $ADMIN_TOKEN) */
    bool rate_limited;  /* counted against RATE_LIMIT (a recommendation endpoint) */
} tt_server_route;

/* How many routes the routing table has. */
int tt_server_route_count(void);
/*
 * Route @i of the routing table (0 <= @i < tt_server_route_count()), in the order routes are
 * matched; its strings are static. docs/openapi.json documents every route (tests check).
 */
tt_server_route tt_server_route_at(int i);

/*
 * The OpenAPI 3.1 document served at GET /openapi.json (docs/openapi.json, embedded at build
 * time), *@len bytes of JSON followed by a NUL. Borrowed: static.
 */
const char *tt_server_openapi(size_t *len);

#endif
