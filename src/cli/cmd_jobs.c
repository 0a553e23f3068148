/*
 * tunetrail jobs: list, show, follow, submit and cancel training jobs (the same rows the
 * HTTP API reads); tunetrail job-run: the worker process an engine starts for one job.
 */
#include "cli.h"
#include "tt/core.h"
#include "tt/pipeline.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define USAGE                                                                                      \
    "tunetrail jobs [list | show ID | follow ID | cancel ID | submit JSON]"
/* Heartbeat of a running job: the engine fails jobs silent for a minute. */
#define HEARTBEAT_SECONDS 2
#define LOG_LINES 40

/* ---- the worker ---- */

struct worker {
    tt_store *store; /* the heartbeat's connection (a tt_store is one thread's) */
    const char *id, *owner;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    json_t *progress;        /* stage, model, step, ETA */
    json_t *curves;          /* model -> {loss: [...], "hr@10": [...]} */
    char *lines[LOG_LINES];  /* the log tail, a ring */
    int n_lines;
    double t0, stage_t0;
};

static char *log_tail(struct worker *w)
{
    size_t cap = 1, n = 0;
    char *s;
    int first = w->n_lines > LOG_LINES ? w->n_lines - LOG_LINES : 0;

    for (int i = first; i < w->n_lines; i++)
        cap += strlen(w->lines[i % LOG_LINES]) + 1;
    s = tt_malloc(cap);
    s[0] = '\0';
    for (int i = first; i < w->n_lines; i++)
        n += (size_t)snprintf(s + n, cap - n, "%s\n", w->lines[i % LOG_LINES]);
    return s;
}

/* Sends progress, log tail and curves; stops the process when the job was cancelled. */
static void beat(struct worker *w)
{
    char *progress, *tail, *metrics;
    tt_err err = {0};
    bool cancel = false;
    int rc;

    pthread_mutex_lock(&w->lock);
    json_object_set_new(w->progress, "elapsed_seconds", json_real(round((tt_now() - w->t0) * 10) / 10));
    progress = json_dumps(w->progress, JSON_COMPACT);
    metrics = json_dumps(json_pack("{s:O}", "curves", w->curves), JSON_COMPACT);
    tail = log_tail(w);
    pthread_mutex_unlock(&w->lock);
    rc = tt_store_job_update(w->store, w->id, w->owner, tt_unix_time(), progress, tail, metrics,
                             &cancel, &err);
    free(progress);
    free(tail);
    free(metrics);
    if (rc == TT_ESTATE) {
        fprintf(stderr, "job %s: no longer ours (%s): stopping\n", w->id, err.message);
        _exit(3);
    }
    if (rc == 0 && cancel) {
        tt_store_job_finish(w->store, w->id, w->owner, TT_JOB_CANCELLED, tt_unix_time(), NULL,
                            NULL, "cancelled by request", NULL);
        fprintf(stderr, "job %s: cancelled\n", w->id);
        _exit(0);
    }
}

static void *heartbeat(void *arg)
{
    struct worker *w = arg;

    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        struct timespec ts;
        pthread_mutex_unlock(&w->lock);
        beat(w);
        pthread_mutex_lock(&w->lock);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += HEARTBEAT_SECONDS;
        if (!w->done)
            pthread_cond_timedwait(&w->cond, &w->lock, &ts);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void on_stage(void *ctx, const char *stage, const char *model, int index, int count)
{
    struct worker *w = ctx;

    json_t *old, *p;

    pthread_mutex_lock(&w->lock);
    old = w->progress;
    p = json_pack("{s:s, s:o, s:i, s:i}", "stage", stage, "model",
                  model ? json_string(model) : json_null(), "model_index", index + 1, "models",
                  count);
    /* The same model's last step stays shown through its later stages (publish). */
    if (model && json_equal(json_object_get(old, "model"), json_object_get(p, "model")) &&
        strcmp(stage, "train") != 0) {
        static const char *const keep[] = {"unit", "step", "steps", "loss", "eta_seconds", NULL};
        for (int i = 0; keep[i]; i++)
            if (json_object_get(old, keep[i]))
                json_object_set(p, keep[i], json_object_get(old, keep[i]));
    }
    json_decref(old);
    w->progress = p;
    w->stage_t0 = tt_now();
    pthread_mutex_unlock(&w->lock);
}

static void on_step(void *ctx, const char *model, int step, int steps, double loss,
                    double metric, double seconds)
{
    struct worker *w = ctx;
    json_t *c;
    const char *stage;
    bool tuning;

    pthread_mutex_lock(&w->lock);
    stage = json_string_value(json_object_get(w->progress, "stage"));
    tuning = stage && strcmp(stage, "tune") == 0;
    json_object_set_new(w->progress, "unit",
                        json_string(tuning                      ? "trial"
                                    : strcmp(model, "als") == 0 ? "iteration"
                                                                : "epoch"));
    json_object_set_new(w->progress, "step", json_integer(step));
    json_object_set_new(w->progress, "steps", json_integer(steps));
    json_object_set_new(w->progress, "eta_seconds",
                        json_real(round(seconds / step * (steps - step) * 10) / 10));
    if (isfinite(loss))
        json_object_set_new(w->progress, "loss", json_real(loss));
    /* Tuning trials are not the model's training curve. */
    if (tuning) {
        pthread_mutex_unlock(&w->lock);
        return;
    }
    c = json_object_get(w->curves, model);
    if (!c) {
        c = json_pack("{s:[]}", "loss");
        json_object_set_new(w->curves, model, c);
    }
    json_array_append_new(json_object_get(c, "loss"), isfinite(loss) ? json_real(loss) : json_null());
    if (isfinite(metric)) {
        if (!json_object_get(c, "hr@10"))
            json_object_set_new(c, "hr@10", json_array());
        json_array_append_new(json_object_get(c, "hr@10"), json_real(metric));
    }
    pthread_mutex_unlock(&w->lock);
}

static void on_log(void *ctx, const char *line)
{
    struct worker *w = ctx;

    pthread_mutex_lock(&w->lock);
    if (w->n_lines >= LOG_LINES)
        free(w->lines[w->n_lines % LOG_LINES]);
    w->lines[w->n_lines % LOG_LINES] = tt_strdup(line);
    w->n_lines++;
    pthread_mutex_unlock(&w->lock);
}

static int read_request(void *ctx, const tt_job_rec *j)
{
    *(json_t **)ctx = j->request ? json_loads(j->request, 0, NULL) : NULL;
    return 0;
}

/* Every model's held-out metrics, from the run's result. */
static char *final_metrics(json_t *result, json_t *curves)
{
    json_t *m = json_pack("{s:O}", "curves", curves), *models = json_object_get(result, "models");
    json_t *x;
    size_t i;
    char *s;

    json_array_foreach(models, i, x) {
        json_t *h = json_object_get(json_object_get(x, "metrics"), "holdout");
        if (h)
            json_object_set(m, json_string_value(json_object_get(x, "model")), h);
    }
    s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return s;
}

#define JOB_RUN_USAGE "tunetrail job-run JOB_ID --owner HOST:PID"

struct job_run_args {
    const char *owner;
};

static void bind_job_run(struct job_run_args *a, struct tt_opt *opts)
{
    a->owner = NULL;
    opts[0] = (struct tt_opt){"--owner", TT_OPT_STR, &a->owner, "the engine that claimed the job"};
    opts[1] = (struct tt_opt){0};
}

TT_CLI_DESCRIBE(struct job_run_args, bind_job_run)

static int job_run(int argc, char **argv)
{
    struct job_run_args a;
    const char *owner;
    struct tt_opt opts[2];
    struct worker w = {0};
    tt_run_hooks hooks = {on_stage, on_step, on_log, &w};
    tt_config cfg;
    char *pos[1], *metrics = NULL, *result_text = NULL;
    int npos, rc;
    tt_store *main_store = NULL;
    json_t *req = NULL, *result = NULL;
    tt_job_spec spec;
    tt_err err = {0};
    pthread_t hb;

    bind_job_run(&a, opts);
    tt_cli_parse(argc, argv, JOB_RUN_USAGE, opts, &cfg, pos, 1, &npos);
    owner = a.owner;
    if (npos != 1 || !owner) {
        fprintf(stderr, "usage: %s\n", JOB_RUN_USAGE);
        return 2;
    }
    w.id = pos[0];
    w.owner = owner;
    w.t0 = tt_now();
    w.progress = json_pack("{s:s}", "stage", "starting");
    w.curves = json_object();
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.cond, NULL);
    main_store = tt_cli_open_store(&cfg);
    w.store = tt_cli_open_store(&cfg);
    rc = tt_store_job_get(main_store, w.id, read_request, &req, &err);
    if (rc == 0 && (rc = tt_job_spec_parse(req, &spec, &err)) == 0) {
        spec.opts.threads = cfg.job_threads;
        pthread_create(&hb, NULL, heartbeat, &w);
        rc = tt_pipeline_run(&cfg, &spec, &hooks, &result, &err);
        pthread_mutex_lock(&w.lock);
        w.done = true;
        pthread_cond_signal(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(hb, NULL);
        beat(&w);
        tt_job_spec_release(&spec);
    }
    if (rc == 0) {
        metrics = final_metrics(result, w.curves);
        result_text = json_dumps(result, JSON_COMPACT);
    }
    rc = rc == 0 ? tt_store_job_finish(main_store, w.id, owner, TT_JOB_SUCCEEDED, tt_unix_time(),
                                       metrics, result_text, NULL, &err)
                 : (tt_store_job_finish(main_store, w.id, owner, TT_JOB_FAILED, tt_unix_time(),
                                        NULL, NULL, tt_err_msg(&err, rc), NULL),
                    rc);
    free(metrics);
    free(result_text);
    json_decref(result);
    json_decref(req);
    json_decref(w.progress);
    json_decref(w.curves);
    for (int i = 0; i < LOG_LINES && i < w.n_lines; i++)
        free(w.lines[i]);
    tt_store_close(main_store);
    tt_store_close(w.store);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    return 0;
}

/* ---- the jobs command ---- */

static int print_row(void *ctx, const tt_job_rec *j)
{
    json_t *req = j->request ? json_loads(j->request, 0, NULL) : NULL;
    json_t *prog = j->progress ? json_loads(j->progress, 0, NULL) : NULL;
    const char *name = json_string_value(json_object_get(req, "name"));
    const char *model = json_string_value(json_object_get(req, "model"));
    char what[96];

    (void)ctx;
    snprintf(what, sizeof(what), "%s%s%s", name ? name : model ? model : "tier ",
             name || model ? "" : json_string_value(json_object_get(req, "tier")),
             json_is_true(json_object_get(req, "scheduled")) ? " (scheduled)" : "");
    printf("%-34s %-9s %-28s %s\n", j->job_id, tt_job_state_name(j->state), what,
           j->state == TT_JOB_RUNNING && prog
               ? json_string_value(json_object_get(prog, "stage"))
               : j->error ? j->error : "");
    json_decref(req);
    json_decref(prog);
    return 0;
}

static int print_json(void *ctx, const tt_job_rec *j)
{
    json_t *o = json_pack("{s:s, s:s, s:s?, s:s?, s:I, s:I, s:I, s:s?, s:s?, s:s?, s:s?}",
                          "job_id", j->job_id, "state", tt_job_state_name(j->state), "request",
                          j->request, "worker", j->owner, "created_at",
                          (json_int_t)j->created_at, "started_at", (json_int_t)j->started_at,
                          "finished_at", (json_int_t)j->finished_at, "progress", j->progress,
                          "error", j->error, "result", j->result, "log_tail", j->log_tail);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

    (void)ctx;
    printf("%s\n", s);
    free(s);
    json_decref(o);
    return 0;
}

struct follow {
    enum tt_job_state state;
    char *progress;
    size_t log_printed;
    char *log;
};

static int follow_row(void *ctx, const tt_job_rec *j)
{
    struct follow *f = ctx;

    f->state = j->state;
    free(f->progress);
    free(f->log);
    f->progress = j->progress ? tt_strdup(j->progress) : NULL;
    f->log = j->log_tail ? tt_strdup(j->log_tail) : NULL;
    return 0;
}

/* Prints the job's log as it grows and its progress, until it ends. */
static int follow(tt_store *s, const char *id, tt_err *err)
{
    struct follow f = {0};
    char last[512] = "";
    int rc;

    for (;;) {
        if ((rc = tt_store_job_get(s, id, follow_row, &f, err)) < 0)
            break;
        if (f.log && strcmp(f.log, last) != 0) {
            const char *fresh = strstr(f.log, last[0] ? last : "\x01");
            printf("%s", fresh && last[0] ? fresh + strlen(last) : f.log);
            snprintf(last, sizeof(last), "%s", f.log + (strlen(f.log) > 200 ? strlen(f.log) - 200 : 0));
        }
        if (f.progress && f.state == TT_JOB_RUNNING && isatty(STDERR_FILENO))
            fprintf(stderr, "\r%-120.120s", f.progress);
        if (f.state != TT_JOB_QUEUED && f.state != TT_JOB_RUNNING) {
            printf("%s%s\n", isatty(STDERR_FILENO) ? "\n" : "", tt_job_state_name(f.state));
            rc = f.state == TT_JOB_SUCCEEDED ? 0 : 1;
            break;
        }
        fflush(stdout);
        sleep(1);
    }
    free(f.progress);
    free(f.log);
    return rc;
}

static int submit(tt_store *s, const char *text, tt_err *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    tt_job_spec spec;
    char id[TT_JOB_ID_MAX + 1] = "";
    int rc;

    if (!j)
        return tt_err_set(err, TT_EPARSE, "the job is not JSON: %s", jerr.text);
    rc = tt_job_spec_parse(j, &spec, err);
    json_decref(j);
    if (rc < 0)
        return rc;
    rc = tt_pipeline_job_queue(s, &spec, 0, id, NULL, err);
    if (rc == 0)
        printf("%s\n", id);
    tt_job_spec_release(&spec);
    return rc;
}

static int cmd_jobs(int argc, char **argv)
{
    struct tt_opt opts[] = {{0}};
    tt_config cfg;
    char *pos[2];
    int npos, rc;
    tt_store *s;
    tt_err err = {0};
    const char *verb;
    enum tt_job_state st;

    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 2, &npos);
    verb = npos > 0 ? pos[0] : "list";
    if ((strcmp(verb, "list") == 0) != (npos <= 1) || npos > 2) {
        fprintf(stderr, "usage: %s\n", USAGE);
        return 2;
    }
    s = tt_cli_open_store(&cfg);
    if (strcmp(verb, "list") == 0)
        rc = tt_store_job_list(s, 50, print_row, NULL, &err);
    else if (strcmp(verb, "show") == 0)
        rc = tt_store_job_get(s, pos[1], print_json, NULL, &err);
    else if (strcmp(verb, "follow") == 0)
        rc = follow(s, pos[1], &err);
    else if (strcmp(verb, "cancel") == 0) {
        rc = tt_store_job_cancel(s, pos[1], tt_unix_time(), &st, &err);
        if (rc == 0)
            printf("%s %s\n", pos[1], tt_job_state_name(st));
    } else if (strcmp(verb, "submit") == 0)
        rc = submit(s, pos[1], &err);
    else {
        fprintf(stderr, "tunetrail jobs: unknown action '%s'\nusage: %s\n", verb, USAGE);
        rc = 2;
    }
    tt_store_close(s);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    return rc;
}

const struct tt_cmd tt_cmd_jobs_def = {
    "jobs", cmd_jobs, "list, follow, submit or cancel training jobs", USAGE, NULL, 0,
    "list show follow cancel submit"};

const struct tt_cmd tt_cmd_job_run_def = {"job-run",
                                          job_run,
                                          "run one training job (the worker an engine starts)",
                                          JOB_RUN_USAGE,
                                          describe_options,
                                          TT_CMD_HIDDEN,
                                          NULL};
