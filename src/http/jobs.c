/*
 * The engine's pipeline thread (app.h): every second it looks at the job its worker
 * process runs, claims the next queued job when idle, fires the schedules, fails the jobs
 * of engines that died, and reloads when a new model version was published.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/pipeline.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Database waits of this thread: it never serves a request. */
#define JOBS_BUDGET_MS 5000
/* A running job whose heartbeat is older than this has lost its engine. */
#define STALE_SECONDS 60

extern char **environ;

struct tt_jobs {
    tt_app *app;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_cond_t ticked; /* after each tick: "current" is up to date */
    bool stop, wake;
    char current[TT_JOB_ID_MAX + 1]; /* the job of the worker, under lock for other threads */
    tt_store *store;
    char owner[300];       /* "host:pid" of this engine */
    char host[256];
    pid_t worker;          /* the worker process, 0 when idle */
    char job[TT_JOB_ID_MAX + 1];
    tt_schedule sched;
    uint64_t seen_sig, refused_sig; /* published files: last polled, last failed to load */
    double next_poll, next_reap;
};

/* ---- new versions ---- */

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    return (h ^ tt_hash64(p, n)) * 0x100000001b3ULL;
}

static uint64_t file_sig(uint64_t h, const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0)
        return mix(h, path, strlen(path));
    h = mix(h, &st.st_ino, sizeof(st.st_ino));
    h = mix(h, &st.st_mtim, sizeof(st.st_mtim));
    return mix(h, &st.st_size, sizeof(st.st_size));
}

/* The catalog and every sidecar (a sidecar is published last, so it marks the end). */
uint64_t tt__published_sig(const char *model_dir)
{
    static const char *const tiers[] = {"free", "starter", "pro", "enterprise"};
    char path[1300];
    uint64_t h = 0x70756273ULL;

    snprintf(path, sizeof(path), "%s/catalog.ttm", model_dir);
    h = file_sig(h, path);
    for (int t = 0; t < 4; t++) {
        struct dirent **list = NULL;
        int n;
        snprintf(path, sizeof(path), "%s/%s", model_dir, tiers[t]);
        n = scandir(path, &list, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            size_t len = strlen(list[i]->d_name);
            if (len > 5 && strcmp(list[i]->d_name + len - 5, ".json") == 0) {
                snprintf(path, sizeof(path), "%s/%s/%s", model_dir, tiers[t], list[i]->d_name);
                h = file_sig(h, path);
            }
            free(list[i]);
        }
        free(list);
    }
    return h;
}

/*
 * Reloads once the published files changed and then held still for one poll: a run that
 * publishes several models is picked up whole, not model by model.
 */
static void poll_versions(struct tt_jobs *j)
{
    uint64_t sig = tt__published_sig(j->app->cfg.model_dir);
    tt_err err = {0};

    if (sig != j->refused_sig && sig != j->app->loaded_sig && sig == j->seen_sig) {
        if (tt_server_reload(j->app, &err) == 0) {
            tt_info("new model versions published: reloaded");
        } else {
            tt_warn("new model versions published, reload refused: %s", err.message);
            j->refused_sig = sig; /* not again until something else is published */
        }
    }
    j->seen_sig = sig;
}

/* After this engine's own run: everything it published is in place, no need to wait. */
static void reload_now(struct tt_jobs *j)
{
    uint64_t sig = tt__published_sig(j->app->cfg.model_dir);
    tt_err err = {0};

    j->seen_sig = sig;
    if (sig == j->app->loaded_sig || sig == j->refused_sig)
        return;
    if (tt_server_reload(j->app, &err) == 0) {
        tt_info("the job's versions are published: reloaded");
    } else {
        tt_warn("the job's versions are published, reload refused: %s", err.message);
        j->refused_sig = sig;
    }
}

/* ---- workers ---- */

static char *env_entry(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *env_entry(const char *name, const char *fmt, ...)
{
    char value[1200], *s;
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(value, sizeof(value), fmt, ap);
    va_end(ap);
    n = strlen(name) + strlen(value) + 2;
    s = tt_malloc(n);
    snprintf(s, n, "%s=%s", name, value);
    return s;
}

/* The worker's environment: the engine's, with the settings it runs under made explicit. */
static char **worker_env(const tt_config *cfg)
{
    static const char *const set[] = {"DATABASE_URL", "MODEL_DIR", "MODEL_KEEP_VERSIONS",
                                      "PROMOTE_MARGIN", "JOB_THREADS", "OPENBLAS_NUM_THREADS",
                                      "OMP_NUM_THREADS", NULL};
    size_t n = 0, k = 0;
    char **env;
    int threads = cfg->job_threads > 0 ? cfg->job_threads : 1;

    while (environ[n])
        n++;
    env = tt_calloc(n + 8, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        bool replaced = false;
        for (int s = 0; set[s]; s++)
            if (strncmp(environ[i], set[s], strlen(set[s])) == 0 &&
                environ[i][strlen(set[s])] == '=')
                replaced = true;
        if (!replaced)
            env[k++] = tt_strdup(environ[i]);
    }
    env[k++] = env_entry("DATABASE_URL", "%s", cfg->database_url);
    env[k++] = env_entry("MODEL_DIR", "%s", cfg->model_dir);
    env[k++] = env_entry("MODEL_KEEP_VERSIONS", "%d", cfg->keep_versions);
    env[k++] = env_entry("PROMOTE_MARGIN", "%g", cfg->promote_margin);
    env[k++] = env_entry("JOB_THREADS", "%d", threads);
    env[k++] = env_entry("OPENBLAS_NUM_THREADS", "%d", 1);
    env[k++] = env_entry("OMP_NUM_THREADS", "%d", 1);
    return env;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

/*
 * Starts `tunetrail job-run ID --owner OWNER`, niced, dying with the engine. The worker is
 * this very executable (/proc/self/exe), even when the file was replaced since it started.
 */
static int spawn(struct tt_jobs *j, tt_err *err)
{
    char **env = worker_env(&j->app->cfg);
    char *argv[] = {"tunetrail", "job-run", j->job, "--owner", j->owner, NULL};
    int nice_value = j->app->cfg.job_nice;
    pid_t parent = getpid(), pid;

    pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpriority(PRIO_PROCESS, 0, nice_value);
        execve("/proc/self/exe", argv, env);
        _exit(127);
    }
    free_env(env);
    if (pid < 0)
        return tt_err_set(err, TT_EIO, "cannot start a worker: %s", strerror(errno));
    j->worker = pid;
    tt_info("job %s: worker %ld started (nice %d, %d threads)", j->job, (long)pid, nice_value,
            j->app->cfg.job_threads);
    return 0;
}

/* Ends the job of a worker that exited without ending it (killed, crashed). */
static void worker_exited(struct tt_jobs *j, int status)
{
    char why[200];
    tt_err err = {0};
    int rc;

    if (WIFSIGNALED(status))
        snprintf(why, sizeof(why), "the worker process was killed by signal %d (%s)",
                 WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, sizeof(why), "the worker process exited with status %d",
                 WEXITSTATUS(status));
    rc = tt_store_job_finish(j->store, j->job, j->owner, TT_JOB_FAILED, tt_unix_time(), NULL,
                             NULL, why, &err);
    if (rc == 0)
        tt_warn("job %s failed: %s", j->job, why);
    else if (rc != TT_ESTATE)
        tt_warn("job %s: cannot record its end: %s", j->job, err.message);
    j->worker = 0;
    j->job[0] = '\0';
    reload_now(j);
}

static void watch_worker(struct tt_jobs *j)
{
    int status;
    pid_t pid = waitpid(j->worker, &status, WNOHANG);

    if (pid == j->worker)
        worker_exited(j, status);
}

static void claim_next(struct tt_jobs *j)
{
    tt_err err = {0};
    int rc = tt_store_job_claim(j->store, j->owner, tt_unix_time(), j->job, sizeof(j->job), &err);

    if (rc < 0) {
        tt_warn("cannot look for training jobs: %s", err.message);
        return;
    }
    if (rc == 1 && spawn(j, &err) < 0) {
        tt_store_job_finish(j->store, j->job, j->owner, TT_JOB_FAILED, tt_unix_time(), NULL, NULL,
                            err.message, NULL);
        j->job[0] = '\0';
    }
}

/* ---- engines that died ---- */

struct dead {
    const struct tt_jobs *j;
    char ids[64][TT_JOB_ID_MAX + 1];
    char owners[64][300];
    int n;
};

/* A running job of an engine of this host whose process is gone. */
static int find_dead(void *ctx, const tt_job_rec *r)
{
    struct dead *d = ctx;
    size_t hl = strlen(d->j->host);
    long pid;

    if (r->state != TT_JOB_RUNNING || !r->owner || strncmp(r->owner, d->j->host, hl) != 0 ||
        r->owner[hl] != ':' || d->n == 64)
        return 0;
    pid = strtol(r->owner + hl + 1, NULL, 10);
    if (pid <= 0 || (pid != (long)getpid() && kill((pid_t)pid, 0) == 0) ||
        (pid != (long)getpid() && errno != ESRCH))
        return 0;
    if (pid == (long)getpid() && strcmp(r->job_id, d->j->job) == 0)
        return 0;
    snprintf(d->ids[d->n], sizeof(d->ids[0]), "%s", r->job_id);
    snprintf(d->owners[d->n], sizeof(d->owners[0]), "%s", r->owner);
    d->n++;
    return 0;
}

static void reap(struct tt_jobs *j)
{
    int64_t now = tt_unix_time();
    struct dead *d = tt_calloc(1, sizeof(*d));
    tt_err err = {0};
    int n = 0;

    d->j = j;
    if (tt_store_job_list(j->store, 200, find_dead, d, &err) == 0) {
        for (int i = 0; i < d->n; i++)
            if (tt_store_job_finish(j->store, d->ids[i], d->owners[i], TT_JOB_FAILED, now, NULL,
                                    NULL, "the engine running it stopped while it ran", NULL) == 0)
                tt_warn("job %s failed: the engine %s stopped while it ran", d->ids[i],
                        d->owners[i]);
    }
    free(d);
    if (tt_store_job_reap(j->store, now - STALE_SECONDS, now,
                          "no heartbeat for a minute: the engine running it stopped", &n,
                          &err) == 0 &&
        n > 0)
        tt_warn("%d training job(s) failed: their engine stopped", n);
}

/* ---- the thread ---- */

static void tick(struct tt_jobs *j)
{
    double now = tt_now();
    tt_err err = {0};

    if (j->worker)
        watch_worker(j);
    if (now >= j->next_reap) {
        reap(j);
        j->next_reap = now + 15;
    }
    if (tt_schedule_tick(&j->sched, j->store, tt_unix_time(), NULL, &err) < 0)
        tt_warn("training schedule: %s", err.message);
    if (!j->worker)
        claim_next(j);
    if (j->app->cfg.poll_seconds > 0 && now >= j->next_poll) {
        poll_versions(j);
        j->next_poll = now + j->app->cfg.poll_seconds;
    }
}

static void *run(void *arg)
{
    struct tt_jobs *j = arg;

    pthread_mutex_lock(&j->lock);
    while (!j->stop) {
        struct timespec ts;
        pthread_mutex_unlock(&j->lock);
        tick(j);
        pthread_mutex_lock(&j->lock);
        memcpy(j->current, j->job, sizeof(j->current));
        pthread_cond_broadcast(&j->ticked);
        if (j->stop || j->wake) {
            j->wake = false;
            continue;
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
        j->wake = false;
    }
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

int tt__jobs_start(tt_app *app, tt_jobs **out, tt_err *err)
{
    struct tt_jobs *j = tt_calloc(1, sizeof(*j));
    int rc;

    j->app = app;
    gethostname(j->host, sizeof(j->host) - 1);
    snprintf(j->owner, sizeof(j->owner), "%s:%ld", j->host, (long)getpid());
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    pthread_cond_init(&j->ticked, NULL);
    rc = tt_schedule_init(&j->sched, &app->cfg, err);
    if (rc == 0)
        rc = tt_store_open(app->cfg.database_url, &j->store, err);
    if (rc == 0)
        rc = tt_store_set_budget(j->store, JOBS_BUDGET_MS, err);
    if (rc < 0) {
        tt_store_close(j->store);
        tt_schedule_release(&j->sched);
        free(j);
        return rc;
    }
    j->seen_sig = tt__published_sig(app->cfg.model_dir);
    j->next_poll = tt_now() + app->cfg.poll_seconds;
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        tt_store_close(j->store);
        tt_schedule_release(&j->sched);
        free(j);
        return tt_err_set(err, TT_EINTERNAL, "cannot start the pipeline thread");
    }
    *out = j;
    return 0;
}

void tt__jobs_wake(tt_jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->wake = true;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

/*
 * A worker records its job's end just before it exits; until this thread has seen it exit
 * and reloaded, the engine does not serve what it published. Waits (ticking every 20 ms) for
 * that, at most @seconds, so that a job this engine reports ended is also served by it.
 */
void tt__jobs_settle(tt_jobs *j, const char *job_id, double seconds)
{
    double deadline = tt_now() + seconds;

    if (!j || !job_id)
        return;
    pthread_mutex_lock(&j->lock);
    while (!j->stop && strcmp(j->current, job_id) == 0 && tt_now() < deadline) {
        struct timespec ts;
        j->wake = true;
        pthread_cond_signal(&j->cond);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->ticked, &j->lock, &ts);
    }
    pthread_mutex_unlock(&j->lock);
}

void tt__jobs_stop(tt_jobs *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->lock);
    j->stop = true;
    pthread_cond_signal(&j->cond);
    pthread_mutex_unlock(&j->lock);
    pthread_join(j->thread, NULL);
    if (j->worker) {
        int status;
        kill(j->worker, SIGTERM);
        for (int i = 0; i < 50 && waitpid(j->worker, &status, WNOHANG) == 0; i++)
            usleep(100000);
        if (waitpid(j->worker, &status, WNOHANG) == 0) {
            kill(j->worker, SIGKILL);
            waitpid(j->worker, &status, 0);
        }
        tt_store_job_finish(j->store, j->job, j->owner, TT_JOB_FAILED, tt_unix_time(), NULL, NULL,
                            "the engine stopped while it ran", NULL);
    }
    tt_store_close(j->store);
    tt_schedule_release(&j->sched);
    pthread_cond_destroy(&j->cond);
    pthread_cond_destroy(&j->ticked);
    pthread_mutex_destroy(&j->lock);
    free(j);
}
