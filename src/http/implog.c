/*
 * The impression log: answers are queued here on the request path (a copy under a mutex,
 * nothing else) and a writer thread stores them in batches on its own store connection,
 * so a slow database never slows an answer. Flushed on shutdown. When the queue is full
 * impressions are dropped and counted: they are analytics, not user data.
 */
#include "app.h"
#include "tt/core.h"
#include "tt/models.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <time.h>

#define QUEUE_MAX 100000
#define BATCH 2000

struct imp {
    char *rec_id, *user, *model, *tracks;
    int64_t t;
};

struct tt_implog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct imp *q;
    size_t n, cap;
    bool stop;
    uint64_t dropped;
    tt_store *store;
};

static void imp_free(struct imp *i)
{
    free(i->rec_id);
    free(i->user);
    free(i->model);
    free(i->tracks);
}

static void write_batch(tt_implog *l, struct imp *b, size_t n)
{
    tt_impression_rec *recs = tt_malloc((n + 1) * sizeof(*recs));
    tt_err err = {0};

    for (size_t i = 0; i < n; i++)
        recs[i] = (tt_impression_rec){b[i].rec_id, b[i].user, b[i].model, b[i].tracks, b[i].t};
    if (tt_store_impressions_put(l->store, recs, (int)n, &err) < 0)
        tt_warn("impressions: %zu not stored: %s", n, err.message);
    for (size_t i = 0; i < n; i++)
        imp_free(&b[i]);
    free(recs);
}

/*
 * Takes the whole queue at once (the request path never waits behind a copy of it) and
 * stores it in batches. The thread runs at a lower priority (nice 10): on a busy machine the
 * requests come first and the queue absorbs the difference, up to QUEUE_MAX.
 */
static void *writer(void *arg)
{
    tt_implog *l = arg;

    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) != 0)
        tt_warn("impressions: the writer keeps the service's priority");
    pthread_mutex_lock(&l->lock);
    for (;;) {
        struct imp *q;
        size_t n;
        while (l->n == 0 && !l->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&l->cond, &l->lock, &ts);
        }
        if (l->n == 0 && l->stop)
            break;
        q = l->q;
        n = l->n;
        l->q = NULL;
        l->n = l->cap = 0;
        pthread_mutex_unlock(&l->lock);
        for (size_t b = 0; b < n; b += BATCH)
            write_batch(l, q + b, n - b < BATCH ? n - b : BATCH);
        free(q);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

int tt__implog_start(const char *database_url, tt_implog **out, tt_err *err)
{
    tt_implog *l = tt_calloc(1, sizeof(*l));
    int rc = tt_store_open(database_url, &l->store, err);

    /* Analytics: a crash may lose the last second of impressions, never a user's feedback. */
    if (rc == 0)
        rc = tt_store_set_durable(l->store, false, err);
    if (rc < 0) {
        tt_store_close(l->store);
        free(l);
        return rc;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->cond, NULL);
    if (pthread_create(&l->thread, NULL, writer, l) != 0) {
        tt_store_close(l->store);
        free(l);
        return tt_err_set(err, TT_EINTERNAL, "cannot start the impression writer");
    }
    *out = l;
    return 0;
}

void tt__implog_add(tt_implog *l, const char *rec_id, const char *user, const char *model,
                    const char *track_ids)
{
    struct imp i;

    if (!l)
        return;
    i = (struct imp){tt_strdup(rec_id), tt_strdup(user), tt_strdup(model), tt_strdup(track_ids),
                     tt_unix_time()};
    pthread_mutex_lock(&l->lock);
    if (l->n >= QUEUE_MAX) {
        l->dropped++;
        pthread_mutex_unlock(&l->lock);
        imp_free(&i);
        return;
    }
    TT_GROW(l->q, l->cap, l->n + 1);
    l->q[l->n++] = i;
    if (l->n >= BATCH)
        pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
}

void tt__implog_stop(tt_implog *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->stop = true;
    pthread_cond_signal(&l->cond);
    pthread_mutex_unlock(&l->lock);
    pthread_join(l->thread, NULL);
    if (l->dropped)
        tt_warn("impressions: %llu dropped while the queue was full",
                (unsigned long long)l->dropped);
    tt_store_close(l->store);
    free(l->q);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/*
 * Time first (milliseconds, then a counter), then a hash of the counter, clock and engine,
 * so ids of one engine are unique and those of replicas do not collide; time-ordered ids are
 * appended at the end of the impressions table's key index instead of scattered through it.
 */
void tt__rec_id_new(tt_app *app, const char *surface, char *buf, size_t n)
{
    uint64_t c = __atomic_fetch_add(&app->rec_counter, 1, __ATOMIC_RELAXED), ms, h, x[3];
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    x[0] = c;
    x[1] = ms;
    x[2] = (uint64_t)(uintptr_t)app; /* differs between processes (address randomisation) */
    h = tt_hash64(x, sizeof(x));
    snprintf(buf, n, "%s-%011llx%05llx%08llx", surface, (unsigned long long)(ms & 0xfffffffffffULL),
             (unsigned long long)(c & 0xfffffULL), (unsigned long long)(h & 0xffffffffULL));
}

void tt__track_list_add(tt_jbuf *tl, const tt_catalog *cat, int32_t t)
{
    if (tl->n)
        tt__jb_raw(tl, " ", 1);
    tt__jb_lit(tl, tt_catalog_track_id(cat, t));
}

bool tt__rec_surface_known(const char *prefix)
{
    return tt_models_find(prefix) || strcmp(prefix, "mix") == 0 || strcmp(prefix, "radio") == 0;
}
