/*
 * A fixed pool of store connections for the service's request threads. A request that finds
 * every connection busy waits on a condition variable, never longer than the budget: a stalled
 * database then costs each request its budget and a 503, instead of holding a request thread
 * (and, with one HTTP thread per core, the whole service) until the database comes back.
 */
#include "tt/core.h"
#include "tt/store.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

struct tt_store_pool {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    tt_store **all;
    tt_store **idle; /* stack of free connections */
    int n, n_idle;
    int budget_ms;
};

static void pool_free(tt_store_pool *p)
{
    for (int i = 0; i < p->n; i++)
        tt_store_close(p->all[i]);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->lock);
    free(p->all);
    free(p->idle);
    free(p);
}

int tt_store_pool_open(const char *url, int size, int budget_ms, tt_store_pool **out,
                       tt_err *err)
{
    tt_store_pool *p;
    pthread_condattr_t ca;
    int rc = 0;

    if (!url || size < 1 || budget_ms < 1)
        return tt_err_set(err, TT_EINVAL, "a pool needs a URL, a size and a budget");
    p = tt_calloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    p->all = tt_calloc((size_t)size, sizeof(*p->all));
    p->idle = tt_calloc((size_t)size, sizeof(*p->idle));
    p->budget_ms = budget_ms;
    while (rc == 0 && p->n < size) {
        tt_store *c = NULL;
        rc = tt_store_open(url, &c, err);
        if (rc == 0)
            rc = tt_store_set_budget(c, budget_ms, err);
        if (rc < 0) {
            tt_store_close(c);
            break;
        }
        p->all[p->n++] = c;
        p->idle[p->n_idle++] = c;
        if (strcmp(tt_store_backend(c), "sqlite") == 0)
            break; /* one writer at a time: more connections would only wait on each other */
    }
    if (rc < 0) {
        pool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void tt_store_pool_close(tt_store_pool *p)
{
    if (p)
        pool_free(p);
}

int tt_store_pool_get(tt_store_pool *p, tt_store **out, tt_err *err)
{
    struct timespec until;
    tt_store *s = NULL;
    int wait = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += p->budget_ms / 1000;
    until.tv_nsec += (long)(p->budget_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (p->n_idle == 0 && wait == 0)
        wait = pthread_cond_timedwait(&p->freed, &p->lock, &until);
    if (p->n_idle > 0)
        s = p->idle[--p->n_idle];
    pthread_mutex_unlock(&p->lock);
    if (!s)
        return tt_err_set(err, TT_EDBBUSY, "every database connection stayed busy for %d ms",
                          p->budget_ms);
    *out = s;
    return 0;
}

void tt_store_pool_put(tt_store_pool *p, tt_store *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&p->lock);
    p->idle[p->n_idle++] = s;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->lock);
}

const char *tt_store_pool_backend(const tt_store_pool *p)
{
    return tt_store_backend(p->all[0]);
}

int tt_store_pool_budget(const tt_store_pool *p)
{
    return p->budget_ms;
}
