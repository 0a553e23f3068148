/*
 * tunetrail doctor: checks a setup the way the engine will use it, and says how to fix what
 * is wrong. One line per check, "ok", "warn" or "FAIL", what was checked and, unless it is
 * fine, what to do; exit 0 when nothing failed, 1 otherwise.
 *
 * The checks reuse the engine's own code paths: the configuration as every command parses
 * it, the store's open (which applies pending migrations, as every command does), the cache's
 * open, the model loader with its checksums and the registry's catalog check, so doctor
 * passes exactly when `serve` and `train` would find what they need.
 */
#include "cli.h"
#include "tt/cache.h"
#include "tt/catalog.h"
#include "tt/dataset.h"
#include "tt/model.h"
#include "tt/models.h"
#include "tt/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USAGE "tunetrail doctor"

enum verdict { OK, WARN, FAIL };

struct doctor {
    const tt_config *cfg;
    int failed, warned;
    bool have_db_catalog;
    uint64_t db_catalog; /* tt_catalog_checksum of what the database holds */
};

/* Prints one check: @what, then " — " and @fix unless it passed. */
static void report(struct doctor *d, enum verdict v, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(struct doctor *d, enum verdict v, const char *fix, const char *fmt, ...)
{
    static const char *const names[] = {"ok", "warn", "FAIL"};
    char what[2048];
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    /* One line per check: a library's multi-line message (libpq's) is folded. */
    for (char *c = what; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    n = strlen(what);
    while (n > 0 && what[n - 1] == ' ')
        what[--n] = '\0';
    printf("%-4s  %s", names[v], what);
    if (v != OK && fix)
        printf("  — %s", fix);
    printf("\n");
    d->failed += v == FAIL;
    d->warned += v == WARN;
}

static void check_config(struct doctor *d)
{
    const tt_config *c = d->cfg;

    report(d, OK, NULL, "config: DATABASE_URL %s, MODEL_DIR %s, MODEL_TIER %s, REDIS_URL %s",
           c->database_url, c->model_dir, tt_tier_set_name(c->tiers),
           c->redis_url[0] ? c->redis_url : "unset (in-process cache)");
    if (c->enable_gpu)
        report(d, WARN, "set ENABLE_GPU=false, or leave it: everything runs on the CPU",
               "config: ENABLE_GPU=true, but this build has no GPU code path");
    if (!c->admin_token[0] && !c->admin_allow_loopback)
        report(d, WARN, "set ADMIN_TOKEN (16 to 255 printable characters) to use them",
               "config: ADMIN_TOKEN is unset: /models/reload, /models/train, promote and "
               "rollback are refused");
}

/* The file a sqlite:/// URL names, or NULL for another backend. */
static const char *sqlite_path(const char *url)
{
    return strncmp(url, "sqlite:///", 10) == 0 ? url + 10 : NULL;
}

static void check_counts(struct doctor *d, tt_store *s)
{
    int64_t tracks = 0, interactions = 0;
    tt_err err = {0};

    if (tt_store_count(s, "tracks", &tracks, &err) < 0 ||
        tt_store_count(s, "interactions", &interactions, &err) < 0) {
        report(d, FAIL, "check the database's permissions and logs", "database: cannot count "
               "rows: %s", err.message);
        return;
    }
    if (tracks == 0 || interactions == 0)
        report(d, WARN, "import data ('tunetrail import') or generate some ('tunetrail generate')",
               "database: %lld tracks, %lld interactions: nothing to train on",
               (long long)tracks, (long long)interactions);
    else
        report(d, OK, NULL, "database: %lld tracks, %lld interactions", (long long)tracks,
               (long long)interactions);
}

/* The catalog the models must have been trained on: that of the data in the database. */
static void load_db_catalog(struct doctor *d, tt_store *s)
{
    tt_dataset *ds = NULL;
    tt_err err = {0};

    if (tt_dataset_load(s, &ds, &err) < 0) {
        report(d, FAIL, "check the database (tunetrail stats --snapshot)",
               "database: the training snapshot does not load: %s", err.message);
        return;
    }
    d->db_catalog = tt_catalog_checksum(ds);
    d->have_db_catalog = true;
    tt_dataset_free(ds);
}

static void check_database(struct doctor *d)
{
    const char *path = sqlite_path(d->cfg->database_url);
    tt_store *s = NULL;
    tt_err err = {0};
    int found, now = 0;

    if (path && access(path, F_OK) != 0) {
        report(d, FAIL, "run 'tunetrail migrate' to create it, then import or generate data",
               "database: %s does not exist", path);
        return;
    }
    if (tt_store_open(d->cfg->database_url, &s, &err) < 0) {
        report(d, FAIL,
               path ? "check the file's permissions and that it is an SQLite database"
                    : "check DATABASE_URL and that PostgreSQL runs and accepts this user "
                      "(pg_isready)",
               "database: %s unreachable: %s", d->cfg->database_url, err.message);
        return;
    }
    found = tt_store_schema_found(s);
    if (tt_store_schema_version(s, &now, &err) < 0)
        report(d, FAIL, "run 'tunetrail migrate' and read what it says", "database: schema "
               "version unknown: %s", err.message);
    else if (found != now)
        report(d, WARN, "nothing to do: every command migrates the schema when it opens it",
               "database: schema migrated from version %d to %d just now", found, now);
    else
        report(d, OK, NULL, "database: %s (%s), schema version %d, up to date",
               d->cfg->database_url, tt_store_backend(s), now);
    check_counts(d, s);
    load_db_catalog(d, s);
    tt_store_close(s);
}

static void check_redis(struct doctor *d)
{
    tt_cache_params p = tt_cache_params_default();
    tt_cache *c = NULL;
    tt_err err = {0};
    char *val = NULL;
    size_t len;
    int rc;

    if (!d->cfg->redis_url[0])
        return;
    p.url = d->cfg->redis_url;
    p.timeout_ms = 1000;
    if (tt_cache_open(&p, &c, &err) < 0) {
        report(d, FAIL, "fix REDIS_URL, or unset it for the in-process cache",
               "redis: %s", err.message);
        return;
    }
    rc = tt_cache_get(c, "doctor", "ping", &val, &len, &err);
    free(val);
    if ((rc < 0 && rc != TT_ENOTFOUND) || !tt_cache_healthy(c))
        report(d, FAIL, "start redis-server (check with redis-cli ping) or unset REDIS_URL",
               "redis: %s unreachable%s%s", d->cfg->redis_url, err.message[0] ? ": " : "",
               err.message);
    else
        report(d, OK, NULL, "redis: %s answers", d->cfg->redis_url);
    tt_cache_close(c);
}

/* Whether the engine writes into MODEL_DIR: a file created and removed there. */
static bool dir_writable(const char *dir, char *why, size_t cap)
{
    char path[1200];
    int fd;

    snprintf(path, sizeof(path), "%s/.doctor-XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0) {
        snprintf(why, cap, "%s", strerror(errno));
        return false;
    }
    close(fd);
    unlink(path);
    return true;
}

/* MODEL_DIR itself; false when there is no point looking for models in it. */
static bool check_model_dir(struct doctor *d)
{
    const char *dir = d->cfg->model_dir;
    struct stat st;
    char why[256], fix[1300];

    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(fix, sizeof(fix), "create it (mkdir -p %s) and run 'tunetrail train'", dir);
        report(d, FAIL, fix, "model dir: %s %s", dir,
               stat(dir, &st) == 0 ? "is not a directory" : "does not exist");
        return false;
    }
    if (!dir_writable(dir, why, sizeof(why))) {
        snprintf(fix, sizeof(fix),
                 "let the engine's user write there (chown or chmod %s): train writes new "
                 "versions into it", dir);
        report(d, FAIL, fix, "model dir: %s is not writable: %s", dir, why);
    } else {
        report(d, OK, NULL, "model dir: %s is writable", dir);
    }
    return true;
}

/* The catalog file the models were trained with, against the database's. */
static void check_catalog(struct doctor *d)
{
    char path[1200];
    tt_catalog *cat = NULL;
    tt_err err = {0};
    int rc;

    snprintf(path, sizeof(path), "%s/catalog.ttm", d->cfg->model_dir);
    rc = tt_catalog_load(path, &cat, &err);
    if (rc == TT_ENOTFOUND) {
        report(d, FAIL, "run 'tunetrail train'", "catalog: %s is missing: no models trained",
               path);
        return;
    }
    if (rc < 0) {
        report(d, FAIL, "run 'tunetrail train' to write it anew", "catalog: %s", err.message);
        return;
    }
    if (d->have_db_catalog && tt_catalog_id(cat) != d->db_catalog)
        report(d, FAIL, "run 'tunetrail train' so the models learn what the database holds now",
               "catalog: the models were trained on another catalog than the database holds "
               "(%016llx, database %016llx)",
               (unsigned long long)tt_catalog_id(cat), (unsigned long long)d->db_catalog);
    else
        report(d, OK, NULL, "catalog: %d tracks, %d users%s", tt_catalog_n_tracks(cat),
               tt_catalog_n_users(cat),
               d->have_db_catalog ? ", the database's" : " (database not compared)");
    tt_catalog_free(cat);
}

static bool tier_loaded(enum tt_tier_set set, enum tt_tier t)
{
    if (t == TT_TIER_ENTERPRISE)
        return false; /* custom models: named by their jobs, listed by /models/versions */
    return set != TT_TIERS_BASIC || t == TT_TIER_FREE;
}

/* One published model: present, loads (magic, sizes, checksum), of the database's catalog. */
static void check_model(struct doctor *d, const tt_model_info *info)
{
    const char *tier = tt_tier_to_name(info->tier);
    char path[1200], fix[160];
    tt_model *m = NULL;
    tt_err err = {0};
    json_t *side;

    snprintf(path, sizeof(path), "%s/%s/%s.ttm", d->cfg->model_dir, tier, info->name);
    snprintf(fix, sizeof(fix), "run 'tunetrail train --model %s'", info->name);
    if (access(path, F_OK) != 0) {
        report(d, WARN, fix, "model %s/%s: not trained (%s is missing)", tier, info->name, path);
        return;
    }
    if (tt_model_load(path, 0, &m, &err) < 0) {
        report(d, FAIL, fix, "model %s/%s: does not load: %s", tier, info->name, err.message);
        return;
    }
    side = tt_registry_sidecar(d->cfg->model_dir, tier, info->name);
    if (d->have_db_catalog && !tt_registry_same_catalog(side, d->db_catalog))
        report(d, FAIL, fix, "model %s/%s: trained on another catalog than the database holds "
               "(the engine leaves it out)", tier, info->name);
    else
        report(d, OK, NULL, "model %s/%s: loads, checksum good%s", tier, info->name,
               d->have_db_catalog ? ", the database's catalog" : "");
    json_decref(side);
    tt_model_free(m);
}

static void check_models(struct doctor *d)
{
    if (!check_model_dir(d))
        return;
    check_catalog(d);
    for (const tt_model_info *i = tt_models_list(); i->name; i++)
        if (tier_loaded(d->cfg->tiers, i->tier))
            check_model(d, i);
}

static int cmd_doctor(int argc, char **argv)
{
    const struct tt_opt opts[] = {{0}};
    struct doctor d = {0};
    tt_config cfg;
    tt_err err = {0};
    char *pos[1];
    int npos;

    /* A bad variable is a failed check here, not a usage error. */
    if (tt_config_load_env(&cfg, &err) < 0) {
        report(&d, FAIL, "fix the variable (accepted values are in the README)", "config: %s",
               err.message);
        return 1;
    }
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    d.cfg = &cfg;
    check_config(&d);
    check_database(&d);
    check_redis(&d);
    check_models(&d);
    printf("%d failed, %d warnings\n", d.failed, d.warned);
    return d.failed ? 1 : 0;
}

const struct tt_cmd tt_cmd_doctor_def = {
    "doctor", cmd_doctor, "check the configuration, database, cache and model files", USAGE,
    NULL, 0, NULL};
