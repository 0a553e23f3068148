/*
 * config.h - the service's configuration: environment variables (DESIGN.md), overridden
 * by command-line flags. An invalid value is an error naming the variable and the values
 * it accepts; the CLI turns it into exit code 2.
 */
#ifndef TT_CONFIG_H
#define TT_CONFIG_H

#include <stdbool.h>

#include "tt/err.h"

/* MODEL_TIER: which tiers an instance loads. */
enum tt_tier_set {
    TT_TIERS_BASIC,      /* free */
    TT_TIERS_FULL,       /* free + starter + pro */
    TT_TIERS_ENTERPRISE, /* all */
};

typedef struct tt_config {
    char database_url[1024]; /* DATABASE_URL, default sqlite:///./var/tunetrail.db */
    char redis_url[1024];    /* REDIS_URL, "" = in-process cache */
    enum tt_tier_set tiers;  /* MODEL_TIER */
    char model_dir[1024];    /* MODEL_DIR, default ./models */
    bool enable_gpu;         /* ENABLE_GPU */
    int port;                /* PORT, default 8001 */
    char host[256];          /* HOST, default 0.0.0.0 */
    /* ADMIN_TOKEN (environment only: a flag would show in `ps`), "" = none: the bearer
     * token the endpoints that change the service's state ask for (docs/API.md). */
    char admin_token[256];
    bool admin_allow_loopback; /* ADMIN_ALLOW_LOOPBACK: those endpoints open to 127.0.0.1/::1 */

    /* The training pipeline (docs/pipeline.md). */
    char schedule[3][128];   /* TRAIN_SCHEDULE_FREE/_STARTER/_PRO: cron expression or "off" */
    int keep_versions;       /* MODEL_KEEP_VERSIONS: versions kept per model (default 5) */
    double promote_margin;   /* PROMOTE_MARGIN: NDCG@20 loss that blocks auto-promotion (0.05) */
    int poll_seconds;        /* MODEL_POLL_SECONDS: how often engines look for new versions (10; 0 off) */
    int job_threads;         /* JOB_THREADS: threads of a training job (default 1) */
    int job_nice;            /* JOB_NICE: the job worker's nice value (default 10) */
    /* RATE_LIMIT: recommendation requests per second per client (API key, else address);
     * 0 = off, the default. RATE_BURST: how many may come at once (default 2 x the rate). */
    double rate_limit;
    int rate_burst;
    /* FEEDBACK_POLL_MS: how often an engine reads the feedback other replicas stored in the
     * shared database (100; 0 off), besides hearing of it through Redis (docs/scaling.md). */
    int feedback_poll_ms;
    /* FEEDBACK_JOURNAL: where feedback waits while the database cannot take it ("" = the
     * default, MODEL_DIR/journal/feedback-<PORT>.wal; "off" = answer 503 instead).
     * FEEDBACK_JOURNAL_MB: its bound (default 64). */
    char feedback_journal[1024];
    int journal_mb;
    /* DOCS_ASSETS_DIR: the swagger-ui-dist folder served at /docs/; "" = the one of the tree
     * the executable was built in (web/node_modules/swagger-ui-dist). */
    char docs_dir[1024];
} tt_config;

/* Defaults, then the environment. Returns 0 or TT_ECONFIG with the variable in err->field. */
int tt_config_load_env(tt_config *c, tt_err *err);

/*
 * Applies one global flag (--database-url, --redis-url, --model-tier, --model-dir,
 * --enable-gpu, --port, --host, --admin-allow-loopback) with @value. Returns 1 when @name is a global flag and
 * was applied, 0 when it is not a global flag, or TT_ECONFIG for a bad value.
 */
int tt_config_apply_flag(tt_config *c, const char *name, const char *value, tt_err *err);

/*
 * The @i-th global flag (0-based; "--database-url", ...) and, in *@env (may be NULL), the
 * variable it overrides; NULL past the last. For help texts, man pages and completion.
 */
const char *tt_config_flag(int i, const char **env);

/* Name of a tier set ("basic", "full", "enterprise"). */
const char *tt_tier_set_name(enum tt_tier_set t);

#endif
