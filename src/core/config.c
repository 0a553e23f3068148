#include "tt/config.h"
#include "tt/cron.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *tier_names[] = {"basic", "full", "enterprise"};

const char *tt_tier_set_name(enum tt_tier_set t)
{
    return (unsigned)t < 3 ? tier_names[t] : "?";
}

static int set_str(char *dst, size_t cap, const char *var, const char *v, tt_err *err)
{
    if (strlen(v) >= cap)
        return tt_err_set_field(err, TT_ECONFIG, var, "%s is longer than %zu bytes", var, cap - 1);
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int set_db_url(tt_config *c, const char *var, const char *v, tt_err *err)
{
    if (strncmp(v, "sqlite://", 9) != 0 && strncmp(v, "postgresql://", 13) != 0 &&
        strncmp(v, "postgres://", 11) != 0)
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: accepted are sqlite:///RELATIVE/PATH, "
                                "sqlite:////ABSOLUTE/PATH or postgresql://USER:PASS@HOST:PORT/DB",
                                var, v);
    return set_str(c->database_url, sizeof(c->database_url), var, v, err);
}

static int set_redis_url(tt_config *c, const char *var, const char *v, tt_err *err)
{
    if (*v && strncmp(v, "redis://", 8) != 0 && strncmp(v, "unix://", 7) != 0)
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: accepted are redis://[:PASSWORD@]HOST[:PORT][/DB], "
                                "unix:///PATH, or empty for the in-process cache", var, v);
    return set_str(c->redis_url, sizeof(c->redis_url), var, v, err);
}

static int set_tiers(tt_config *c, const char *var, const char *v, tt_err *err)
{
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(v, tier_names[i]) == 0) {
            c->tiers = (enum tt_tier_set)i;
            return 0;
        }
    }
    return tt_err_set_field(err, TT_ECONFIG, var,
                            "%s='%s' is invalid: accepted are basic, full, enterprise", var, v);
}

static int set_bool(bool *dst, const char *var, const char *v, tt_err *err)
{
    if (!strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "yes")) {
        *dst = true;
        return 0;
    }
    if (!strcasecmp(v, "false") || !strcmp(v, "0") || !strcasecmp(v, "no") || !*v) {
        *dst = false;
        return 0;
    }
    return tt_err_set_field(err, TT_ECONFIG, var,
                            "%s='%s' is invalid: accepted are true or false", var, v);
}

static int set_port(int *dst, const char *var, const char *v, tt_err *err)
{
    char *end;
    long p;

    errno = 0;
    p = strtol(v, &end, 10);
    if (errno || end == v || *end || p < 1 || p > 65535)
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: accepted is a port number 1..65535", var, v);
    *dst = (int)p;
    return 0;
}

static int set_model_dir(tt_config *c, const char *var, const char *v, tt_err *err)
{
    if (!*v)
        return tt_err_set_field(err, TT_ECONFIG, var, "%s is empty: accepted is a directory path",
                                var);
    return set_str(c->model_dir, sizeof(c->model_dir), var, v, err);
}

static int set_host(tt_config *c, const char *var, const char *v, tt_err *err)
{
    if (!*v)
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s is empty: accepted is an IP address or host name", var);
    return set_str(c->host, sizeof(c->host), var, v, err);
}

/* 16 to 255 bytes of printable ASCII without spaces: what fits a Bearer header. */
static int set_token(tt_config *c, const char *var, const char *v, tt_err *err)
{
    size_t n = strlen(v);

    for (size_t i = 0; i < n; i++)
        if (v[i] <= ' ' || v[i] > '~')
            n = 0;
    if (*v && (n < 16 || n >= sizeof(c->admin_token)))
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s is invalid: accepted are 16 to 255 printable characters "
                                "without spaces (or unset)", var);
    return set_str(c->admin_token, sizeof(c->admin_token), var, v, err);
}

/* An integer in [@lo, @hi]. */
static int set_int(int *dst, const char *var, const char *v, long lo, long hi, tt_err *err)
{
    char *end;
    long x;

    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: accepted is an integer %ld..%ld", var, v, lo,
                                hi);
    *dst = (int)x;
    return 0;
}

static int set_margin(double *dst, const char *var, const char *v, tt_err *err)
{
    char *end;
    double x;

    errno = 0;
    x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0 && x <= 1))
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: accepted is a share 0..1 (0.05 = 5%%)", var, v);
    *dst = x;
    return 0;
}

/* Requests per second, 0 (off) to a million. */
static int set_rate(double *dst, const char *var, const char *v, tt_err *err)
{
    char *end;
    double x;

    errno = 0;
    x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= 0 && x <= 1e6))
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: accepted is requests per second, 0 (off) "
                                "to 1000000", var, v);
    *dst = x;
    return 0;
}

/* A cron expression (checked by tt_cron_parse), or "off". */
static int set_schedule(char *dst, size_t cap, const char *var, const char *v, tt_err *err)
{
    tt_cron cron;
    tt_err why = {0};

    if (strcasecmp(v, "off") != 0 && tt_cron_parse(v, &cron, &why) < 0)
        return tt_err_set_field(err, TT_ECONFIG, var,
                                "%s='%s' is invalid: %s (accepted is a cron expression such as "
                                "\"0 4 * * *\", or off)", var, v, why.message);
    return set_str(dst, cap, var, v, err);
}

/* One row per setting: environment variable, flag (NULL: environment only), setter. */
enum setting {
    S_DB,
    S_REDIS,
    S_TIER,
    S_DIR,
    S_GPU,
    S_PORT,
    S_HOST,
    S_TOKEN,
    S_LOOPBACK,
    S_SCHED_FREE,
    S_SCHED_STARTER,
    S_SCHED_PRO,
    S_KEEP,
    S_MARGIN,
    S_POLL,
    S_JOB_THREADS,
    S_JOB_NICE,
    S_RATE,
    S_BURST,
    S_FEEDBACK_POLL,
    S_JOURNAL,
    S_JOURNAL_MB,
    S_DOCS,
    S_N
};
static const struct {
    const char *env, *flag;
} settings[S_N] = {
    {"DATABASE_URL", "--database-url"}, {"REDIS_URL", "--redis-url"},
    {"MODEL_TIER", "--model-tier"},     {"MODEL_DIR", "--model-dir"},
    {"ENABLE_GPU", "--enable-gpu"},     {"PORT", "--port"},
    {"HOST", "--host"},                 {"ADMIN_TOKEN", NULL},
    {"ADMIN_ALLOW_LOOPBACK", "--admin-allow-loopback"},
    {"TRAIN_SCHEDULE_FREE", "--train-schedule-free"},
    {"TRAIN_SCHEDULE_STARTER", "--train-schedule-starter"},
    {"TRAIN_SCHEDULE_PRO", "--train-schedule-pro"},
    {"MODEL_KEEP_VERSIONS", "--keep-versions"},
    {"PROMOTE_MARGIN", "--promote-margin"},
    {"MODEL_POLL_SECONDS", "--poll-seconds"},
    {"JOB_THREADS", "--job-threads"},
    {"JOB_NICE", "--job-nice"},
    {"RATE_LIMIT", "--rate-limit"},
    {"RATE_BURST", "--rate-burst"},
    {"FEEDBACK_POLL_MS", "--feedback-poll-ms"},
    {"FEEDBACK_JOURNAL", "--feedback-journal"},
    {"FEEDBACK_JOURNAL_MB", "--feedback-journal-mb"},
    {"DOCS_ASSETS_DIR", "--docs-assets-dir"},
};

static int apply(tt_config *c, enum setting s, const char *var, const char *v, tt_err *err)
{
    switch (s) {
    case S_DB: return set_db_url(c, var, v, err);
    case S_REDIS: return set_redis_url(c, var, v, err);
    case S_TIER: return set_tiers(c, var, v, err);
    case S_DIR: return set_model_dir(c, var, v, err);
    case S_GPU: return set_bool(&c->enable_gpu, var, v, err);
    case S_PORT: return set_port(&c->port, var, v, err);
    case S_HOST: return set_host(c, var, v, err);
    case S_TOKEN: return set_token(c, var, v, err);
    case S_LOOPBACK: return set_bool(&c->admin_allow_loopback, var, v, err);
    case S_SCHED_FREE:
    case S_SCHED_STARTER:
    case S_SCHED_PRO:
        return set_schedule(c->schedule[s - S_SCHED_FREE], sizeof(c->schedule[0]), var, v, err);
    case S_KEEP: return set_int(&c->keep_versions, var, v, 1, 1000, err);
    case S_MARGIN: return set_margin(&c->promote_margin, var, v, err);
    case S_POLL: return set_int(&c->poll_seconds, var, v, 0, 86400, err);
    case S_JOB_THREADS: return set_int(&c->job_threads, var, v, 0, 64, err);
    case S_JOB_NICE: return set_int(&c->job_nice, var, v, 0, 19, err);
    case S_RATE: return set_rate(&c->rate_limit, var, v, err);
    case S_BURST: return set_int(&c->rate_burst, var, v, 0, 1000000, err);
    case S_FEEDBACK_POLL: return set_int(&c->feedback_poll_ms, var, v, 0, 60000, err);
    case S_JOURNAL: return set_str(c->feedback_journal, sizeof(c->feedback_journal), var, v, err);
    case S_JOURNAL_MB: return set_int(&c->journal_mb, var, v, 1, 1048576, err);
    case S_DOCS: return set_str(c->docs_dir, sizeof(c->docs_dir), var, v, err);
    default: return tt_err_set(err, TT_EINVAL, "unknown setting");
    }
}

int tt_config_load_env(tt_config *c, tt_err *err)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->database_url, sizeof(c->database_url), "sqlite:///./var/tunetrail.db");
    snprintf(c->model_dir, sizeof(c->model_dir), "./models");
    snprintf(c->host, sizeof(c->host), "0.0.0.0");
    c->port = 8001;
    c->tiers = TT_TIERS_FULL;
    snprintf(c->schedule[0], sizeof(c->schedule[0]), "0 4 * * *");
    snprintf(c->schedule[1], sizeof(c->schedule[1]), "0 5 * * *");
    snprintf(c->schedule[2], sizeof(c->schedule[2]), "0 7 * * *");
    c->keep_versions = 5;
    c->promote_margin = 0.05;
    c->poll_seconds = 10;
    c->job_threads = 1;
    c->job_nice = 10;
    c->feedback_poll_ms = 100;
    c->journal_mb = 64;
    for (int s = 0; s < S_N; s++) {
        const char *v = getenv(settings[s].env);
        int rc;
        if (!v)
            continue;
        rc = apply(c, (enum setting)s, settings[s].env, v, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

const char *tt_config_flag(int i, const char **env)
{
    for (int s = 0; s < S_N; s++) {
        if (!settings[s].flag || i-- > 0)
            continue;
        if (env)
            *env = settings[s].env;
        return settings[s].flag;
    }
    return NULL;
}

int tt_config_apply_flag(tt_config *c, const char *name, const char *value, tt_err *err)
{
    for (int s = 0; s < S_N; s++) {
        if (settings[s].flag && strcmp(name, settings[s].flag) == 0) {
            int rc = apply(c, (enum setting)s, settings[s].flag, value ? value : "", err);
            return rc < 0 ? rc : 1;
        }
    }
    return 0;
}
