/*
 * The service fixture of the HTTP harnesses: see fuzz_app.h. The data are small so a
 * harness starts in seconds: 60 listeners, 90 tracks, 2,400 events and the small models of
 * fuzz_data.h.
 */
#include "fuzz_app.h"
#include "fuzz_data.h"
#include "fuzz_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt/core.h"

static void must(int rc, const tt_err *err, const char *what)
{
    if (rc < 0)
        fz_fail("fixture: %s: %s", what, tt_err_msg(err, rc));
}

static void open_app(tt_app *app)
{
    tt_cache_params cp = tt_cache_params_default();
    tt_err err = {0};

    app->params = tt_server_params_default();
    app->params.threads = 1;
    app->params.cache_ttl = 0;
    app->params.access_log = false;
    app->started = tt_now();
    pthread_mutex_init(&app->served_lock, NULL);
    pthread_mutex_init(&app->reload_lock, NULL);
    pthread_rwlock_init(&app->feedback_lock, NULL);
    app->metrics = tt__metrics_new();
    must(tt_store_open(app->cfg.database_url, &app->store, &err), &err, "open the store");
    must(tt_store_pool_open(app->cfg.database_url, 2, app->params.db_budget_ms, &app->pool, &err),
         &err, "open the pool");
    cp.ttl_seconds = 0;
    cp.max_bytes = 16 << 20;
    must(tt_cache_open(&cp, &app->cache, &err), &err, "open the cache");
    must(tt_radio_key(app->cfg.model_dir, app->radio_key, &err), &err, "radio key");
    must(tt_server_reload(app, &err), &err, "load the models");
}

tt_app *fz_app(void)
{
    static tt_app *app;
    double t0 = tt_now();
    tt_config *cfg;
    tt_err err = {0};
    int quiet;

    if (app)
        return app;
    app = tt_calloc(1, sizeof(*app));
    cfg = &app->cfg;
    setenv("RADIO_SECRET", FZ_RADIO_SECRET, 1);
    unsetenv("TZ");
    must(tt_config_load_env(cfg, &err), &err, "config");
    snprintf(cfg->database_url, sizeof(cfg->database_url), "sqlite:///%s/tt.db", fz_dir());
    snprintf(cfg->model_dir, sizeof(cfg->model_dir), "%s/models", fz_dir());
    cfg->tiers = TT_TIERS_ENTERPRISE;
    quiet = fz_verbose() ? -1 : fz_mute_stdout();
    fz_data_generate(cfg, 60, 90, 2400, 11);
    fz_data_train(cfg, "{\"tier\": \"all\"}");
    /* A second version: promote and rollback have a choice. */
    fz_data_train(cfg, "{\"model\": \"als\"}");
    fz_data_train(cfg, "{\"model\": \"als\", \"tier\": \"enterprise\", \"name\": \"fz-custom\"}");
    fz_data_index(cfg, TT_ANN_FLAT, NULL);
    fz_restore_stdout(quiet);
    open_app(app);
    if (fz_verbose())
        fprintf(stderr, "fuzz: service ready in %.1f s (%d models)\n", tt_now() - t0,
                app->served ? app->served->n : 0);
    return app;
}

/* An error answer is {"error": {"code": "...", "message": "..."}} (docs/API.md). */
static void check_error_shape(const json_t *j, const tt_reply *r)
{
    json_t *e = json_object_get(j, "error");

    if (!json_is_object(e) || !json_is_string(json_object_get(e, "code")) ||
        !json_is_string(json_object_get(e, "message")))
        fz_fail("status %d without the error shape: %.*s", r->status, (int)r->len, r->body);
}

static void check_reply(const tt_reply *r)
{
    json_error_t jerr;
    json_t *j;

    if (r->status < 200 || r->status > 599)
        fz_fail("status %d", r->status);
    if (!r->body)
        fz_fail("status %d without a body", r->status);
    if (r->content_type && strcmp(r->content_type, "application/json") != 0)
        return;
    j = json_loadb(r->body, r->len, 0, &jerr);
    if (!j)
        fz_fail("status %d, the body is not JSON (%s): %.*s", r->status, jerr.text, (int)r->len,
                r->body);
    if (r->status >= 400)
        check_error_shape(j, r);
    json_decref(j);
}

json_t *fz_body(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body;

    /* The server answers 413 beyond MAX_BODY (64 KiB) and 400 to an empty body. */
    if (size == 0 || size > 65536)
        return NULL;
    /* As dispatch() in src/http/server.c. */
    body = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                      &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int fz_handle(tt_handler fn, json_t *body)
{
    tt_reply out = {0};

    fn(fz_app(), body, &out);
    check_reply(&out);
    if (fz_verbose())
        fprintf(stderr, "fuzz: %d %.*s\n", out.status, (int)out.len, out.body);
    free(out.body);
    return out.status;
}

int fz_request(tt_handler fn, const uint8_t *data, size_t size)
{
    json_t *body = fz_body(data, size);
    int status = body ? fz_handle(fn, body) : 0;

    json_decref(body);
    return status;
}
