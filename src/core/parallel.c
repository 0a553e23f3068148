#include "tt/core.h"

#include <pthread.h>
#include <unistd.h>

int tt_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int tt_threads_resolve(int threads)
{
    return threads > 0 ? threads : tt_ncpu();
}

struct job {
    int64_t n, chunk, next;
    tt_range_fn fn;
    void *ctx;
};

struct worker {
    struct job *job;
    int index;
};

static void run_chunks(struct job *j, int index)
{
    for (;;) {
        int64_t b = __atomic_fetch_add(&j->next, j->chunk, __ATOMIC_RELAXED);
        if (b >= j->n)
            return;
        j->fn(j->ctx, b, b + j->chunk < j->n ? b + j->chunk : j->n, index);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    run_chunks(w->job, w->index);
    return NULL;
}

void tt_parallel_for(int64_t n, int64_t chunk, int threads, tt_range_fn fn, void *ctx)
{
    struct job j = {n, chunk > 0 ? chunk : 1, 0, fn, ctx};
    pthread_t tid[64];
    struct worker w[64];
    int t = tt_threads_resolve(threads), started = 0;

    if (t > 64)
        t = 64;
    if (t > 1 && n > j.chunk) {
        for (int i = 1; i < t; i++) {
            w[i] = (struct worker){&j, i};
            if (pthread_create(&tid[i], NULL, worker_main, &w[i]) != 0)
                break;
            started = i;
        }
    }
    run_chunks(&j, 0);
    for (int i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
}
