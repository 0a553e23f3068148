/*
 * tunetrail serve: the HTTP service. Signals are handled here, synchronously: SIGHUP reloads
 * the models, SIGTERM and SIGINT stop accepting, finish what is in flight, flush and exit 0.
 */
#include "cli.h"
#include "tt/core.h"
#include "tt/server.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static pthread_t main_thread;

/*
 * Runs only in threads that do not block the signals: those a library started before
 * cmd_serve blocked them (OpenBLAS starts its pool from a constructor). Left at its
 * default action there, a SIGTERM arriving while the main thread is not yet in sigwait (the
 * models still loading) ended the process at once instead of stopping it cleanly. Handed to
 * the main thread, it waits there, blocked, for sigwait. (pthread_kill is async-signal-safe.)
 */
static void pass_to_main(int sig)
{
    pthread_kill(main_thread, sig);
}

static void route_signals(const sigset_t *set)
{
    struct sigaction sa = {0};

    main_thread = pthread_self();
    sa.sa_handler = pass_to_main;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++)
        if (sigismember(set, sig) == 1)
            sigaction(sig, &sa, NULL);
}


#define USAGE "tunetrail serve [--port N] [--host ADDR] [--threads N]"

struct serve_args {
    tt_server_params p;
    bool quiet;
    int cache_ttl;
    double fresh;
};

static void bind_opts(struct serve_args *a, struct tt_opt *opts)
{
    tt_server_params *p = &a->p;
    const struct tt_opt o[] = {
        {"--threads", TT_OPT_INT, &p->threads, "HTTP worker threads (default one per core)"},
        {"--connection-limit", TT_OPT_INT, &p->connection_limit, "concurrent connections"},
        {"--timeout", TT_OPT_INT, &p->timeout_seconds, "idle client timeout in seconds"},
        {"--cache-ttl", TT_OPT_INT, &a->cache_ttl, "seconds an answer stays cached (0: no cache)"},
        {"--no-access-log", TT_OPT_BOOL, &a->quiet, "do not log one line per request"},
        {"--fresh-weight", TT_OPT_DOUBLE, &a->fresh, "weight of feedback since training (10)"},
        {"--nprobe", TT_OPT_INT, &p->nprobe, "content IVF index: lists visited (default as built)"},
        {"--ef-search", TT_OPT_INT, &p->ef_search,
         "content HNSW index: search candidate list (default as built, 64)"},
        {"--db-budget-ms", TT_OPT_INT, &p->db_budget_ms,
         "longest a request waits for the database before a 503 (300)"},
        {0},
    };

    a->p = tt_server_params_default();
    a->quiet = false;
    a->cache_ttl = a->p.cache_ttl;
    a->fresh = a->p.fresh_weight;
    memcpy(opts, o, sizeof(o));
}

TT_CLI_DESCRIBE(struct serve_args, bind_opts)

static int cmd_serve(int argc, char **argv)
{
    struct serve_args a;
    tt_server_params p;
    struct tt_opt opts[10];
    int cache_ttl;
    double fresh;
    tt_config cfg;
    char *pos[1];
    int npos, sig, rc;
    sigset_t set;
    tt_server *srv = NULL;
    tt_err err = {0};

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    p = a.p;
    cache_ttl = a.cache_ttl;
    fresh = a.fresh;
    if (p.threads < 1 || p.threads > 256 || p.connection_limit < 1 || p.timeout_seconds < 1 ||
        cache_ttl < 0 || !(fresh > 0 && fresh <= 1000) || p.nprobe < 0 || p.nprobe > 1000000 ||
        p.ef_search < 0 || p.ef_search > 100000 || p.db_budget_ms < 10 ||
        p.db_budget_ms > 60000) {
        fprintf(stderr, "tunetrail: --threads 1..256, --connection-limit >= 1, --timeout >= 1,"
                        " --cache-ttl >= 0, --fresh-weight in (0, 1000], --nprobe 0..1000000,"
                        " --ef-search 0..100000, --db-budget-ms 10..60000\n");
        return 2;
    }
    p.cache_ttl = cache_ttl;
    p.fresh_weight = (float)fresh;
    p.access_log = !a.quiet;
    /* Blocked before any thread starts, so every thread inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    route_signals(&set);
    signal(SIGPIPE, SIG_IGN);
    rc = tt_server_start(&cfg, &p, &srv, &err);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    for (;;) {
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            tt_err rerr = {0};
            if (tt_server_reload(srv, &rerr) < 0)
                tt_error("reload failed, the old models keep serving: %s", rerr.message);
            continue;
        }
        break;
    }
    tt_info("stopping: finishing requests in flight");
    tt_server_stop(srv);
    return 0;
}

const struct tt_cmd tt_cmd_serve_def = {"serve", cmd_serve,
                                        "answer recommendation requests over HTTP (port 8001)",
                                        USAGE, describe_options, 0, NULL};
