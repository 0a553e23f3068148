/*
 * The answer cache (tt/cache.h). The behavioural tests run once per backend: in-process, and
 * Redis when TT_TEST_REDIS_URL names one (scripts/test-services provides it). Without it the
 * Redis variants are skipped, except under CI=true, where they fail: CI must exercise Redis.
 * Redis tests write only groups under a prefix unique to the test process, with a short TTL,
 * so runs in parallel (and other users of that Redis) do not see each other.
 *
 * Tests that need a Redis of their own (clear, which deletes every tt:* key; outages;
 * passwords and databases) start redis-server on a free port and kill it at the end.
 */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tt/cache.h"
#include "tt/core.h"

/* ---- fixtures ---------------------------------------------------------------------- */

static char cache_url[512];
static char group_prefix[64];
static bool on_redis;

static bool in_ci(void)
{
    const char *ci = getenv("CI");
    return ci && strcmp(ci, "true") == 0;
}

static void prefix_init(void)
{
    snprintf(group_prefix, sizeof(group_prefix), "test:%ld.%lld:", (long)getpid(),
             (long long)time(NULL));
}

static void mem_setup(void)
{
    cache_url[0] = '\0';
    on_redis = false;
    prefix_init();
}

/* Called from the test body, so that a missing server reads as a failure, not a crash. */
static void redis_setup(void)
{
    const char *url = getenv("TT_TEST_REDIS_URL");

    if (!url || !*url) {
        if (in_ci())
            cr_assert_fail("TT_TEST_REDIS_URL is not set but CI=true: Redis must be tested in "
                           "CI (run scripts/test-services)");
        cr_skip_test("TT_TEST_REDIS_URL is not set: Redis cache tests skipped "
                     "(eval \"$(scripts/test-services)\" provides one)");
    }
    snprintf(cache_url, sizeof(cache_url), "%s", url);
    on_redis = true;
    prefix_init();
}

/* Each body runs once per backend: Test(cache_mem, name) and Test(cache_redis, name). */
#define CACHE_TEST(name)                                                                           \
    static void body_##name(void);                                                                 \
    Test(cache_mem, name, .timeout = 30)                                                           \
    {                                                                                              \
        mem_setup();                                                                               \
        body_##name();                                                                             \
    }                                                                                              \
    Test(cache_redis, name, .timeout = 30)                                                         \
    {                                                                                              \
        redis_setup();                                                                             \
        body_##name();                                                                             \
    }                                                                                              \
    static void body_##name(void)

/* ---- helpers ----------------------------------------------------------------------- */

/* @name under this process's prefix. Returned buffers rotate: up to 8 are live at once. */
static const char *grp(const char *name)
{
    static char bufs[8][160];
    static int next;
    char *b = bufs[next++ % 8];

    snprintf(b, sizeof(bufs[0]), "%s%s", group_prefix, name);
    return b;
}

static tt_cache *open_url(const char *url, int64_t max_bytes, int timeout_ms, int retry_ms)
{
    tt_cache_params p = tt_cache_params_default();
    tt_err err = {0};
    tt_cache *c = NULL;
    int rc;

    p.url = url;
    if (max_bytes > 0)
        p.max_bytes = max_bytes;
    /* Leftovers in a shared Redis expire soon. */
    p.ttl_seconds = 60;
    p.timeout_ms = timeout_ms;
    p.retry_ms = retry_ms;
    rc = tt_cache_open(&p, &c, &err);
    cr_assert_eq(rc, 0, "open '%s': %s", url ? url : "", tt_err_msg(&err, rc));
    cr_assert_not_null(c);
    return c;
}

/* The backend under test, with generous timeouts: correctness here, not outages. */
static tt_cache *open_cache(int64_t max_bytes)
{
    return open_url(cache_url, max_bytes, 1000, 1000);
}

static void put(tt_cache *c, const char *group, const char *key, const char *val, int ttl)
{
    tt_err err = {0};
    int rc = tt_cache_put(c, group, key, val, strlen(val), ttl, &err);

    cr_assert_eq(rc, 0, "put %s/%s: %s", group, key, tt_err_msg(&err, rc));
}

static void expect_hit(tt_cache *c, const char *group, const char *key, const char *want)
{
    tt_err err = {0};
    char *val = NULL;
    size_t len = 0;
    int rc = tt_cache_get(c, group, key, &val, &len, &err);

    cr_assert_eq(rc, 0, "get %s/%s: want a hit, got %s (%s)", group, key, tt_err_name(rc),
                 tt_err_msg(&err, rc));
    cr_assert_eq(len, strlen(want), "get %s/%s: length %zu, want %zu", group, key, len,
                 strlen(want));
    cr_assert_eq(memcmp(val, want, len), 0, "get %s/%s: wrong value", group, key);
    cr_assert_eq(val[len], '\0', "values are NUL-terminated");
    free(val);
}

static void expect_miss(tt_cache *c, const char *group, const char *key)
{
    tt_err err = {0};
    char *val = NULL;
    size_t len = 0;
    int rc = tt_cache_get(c, group, key, &val, &len, &err);

    cr_assert_eq(rc, TT_ENOTFOUND, "get %s/%s: want a miss, got %s (%s)", group, key,
                 tt_err_name(rc), tt_err_msg(&err, rc));
    cr_assert_eq(err.code, 0, "a miss leaves err unset");
    cr_assert_null(val);
}

static tt_cache_stats stats(tt_cache *c)
{
    tt_cache_stats st;

    tt_cache_stats_get(c, &st);
    return st;
}

static double now_s(void)
{
    return tt_now();
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- behaviour, both backends ------------------------------------------------------- */

CACHE_TEST(round_trip)
{
    tt_cache *c = open_cache(0);
    const char bin[] = {'a', '\0', 'b', '\xff', '\0'};
    tt_err err = {0};
    char *val = NULL;
    size_t len = 0;

    cr_assert_str_eq(tt_cache_backend(c), on_redis ? "redis" : "memory");
    cr_assert(tt_cache_healthy(c));
    put(c, grp("u:1"), "recommend:limit=20:model=als:v3", "{\"items\":[1,2,3]}", 0);
    expect_hit(c, grp("u:1"), "recommend:limit=20:model=als:v3", "{\"items\":[1,2,3]}");
    /* A put replaces; keys of one group and groups of one key are independent. */
    put(c, grp("u:1"), "recommend:limit=20:model=als:v3", "{\"items\":[4]}", 0);
    put(c, grp("u:1"), "other", "second", 0);
    put(c, grp("u:2"), "other", "third", 0);
    expect_hit(c, grp("u:1"), "recommend:limit=20:model=als:v3", "{\"items\":[4]}");
    expect_hit(c, grp("u:1"), "other", "second");
    expect_hit(c, grp("u:2"), "other", "third");
    /* Values are bytes: embedded NULs survive, and so does an empty value. */
    cr_assert_eq(tt_cache_put(c, grp("u:3"), "bin", bin, sizeof(bin), 0, &err), 0);
    cr_assert_eq(tt_cache_get(c, grp("u:3"), "bin", &val, &len, &err), 0);
    cr_assert_eq(len, sizeof(bin));
    cr_assert_eq(memcmp(val, bin, len), 0);
    free(val);
    put(c, grp("u:3"), "empty", "", 0);
    expect_hit(c, grp("u:3"), "empty", "");
    tt_cache_close(c);
}

CACHE_TEST(miss)
{
    tt_cache *c = open_cache(0);

    expect_miss(c, grp("u:nobody"), "k");
    put(c, grp("u:1"), "k1", "v1", 0);
    expect_miss(c, grp("u:1"), "k2");
    expect_miss(c, grp("u:2"), "k1");
    tt_cache_close(c);
}

CACHE_TEST(ttl_expiry)
{
    tt_cache *c = open_cache(0);

    put(c, grp("u:short"), "k", "soon gone", 1);
    put(c, grp("u:long"), "k", "still here", 0);
    expect_hit(c, grp("u:short"), "k", "soon gone");
    sleep_ms(1300);
    expect_miss(c, grp("u:short"), "k");
    expect_hit(c, grp("u:long"), "k", "still here");
    if (!on_redis)
        cr_assert_eq(stats(c).entries, 1, "the expired entry was reclaimed");
    tt_cache_close(c);
}

CACHE_TEST(drop_group)
{
    tt_cache *c = open_cache(0);
    tt_err err = {0};

    put(c, grp("u:1"), "a", "1a", 0);
    put(c, grp("u:1"), "b", "1b", 0);
    put(c, grp("u:2"), "a", "2a", 0);
    put(c, grp("t:1"), "a", "t1a", 0);
    cr_assert_eq(tt_cache_drop_group(c, grp("u:1"), &err), 0, "%s", err.message);
    expect_miss(c, grp("u:1"), "a");
    expect_miss(c, grp("u:1"), "b");
    expect_hit(c, grp("u:2"), "a", "2a");
    expect_hit(c, grp("t:1"), "a", "t1a");
    /* Dropping a group that does not exist is fine; a dropped group can be filled again. */
    cr_assert_eq(tt_cache_drop_group(c, grp("u:never"), &err), 0);
    put(c, grp("u:1"), "a", "again", 0);
    expect_hit(c, grp("u:1"), "a", "again");
    tt_cache_close(c);
}

CACHE_TEST(stats_count)
{
    tt_cache *c = open_cache(0);
    tt_cache_stats st;

    put(c, grp("u:1"), "a", "1a", 0);
    put(c, grp("u:1"), "b", "1b", 0);
    expect_hit(c, grp("u:1"), "a", "1a");
    expect_hit(c, grp("u:1"), "b", "1b");
    expect_hit(c, grp("u:1"), "a", "1a");
    expect_miss(c, grp("u:1"), "c");
    expect_miss(c, grp("u:9"), "a");
    st = stats(c);
    cr_assert_eq(st.hits, 3);
    cr_assert_eq(st.misses, 2);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(st.evictions, 0);
    if (on_redis) {
        cr_assert_eq(st.entries, -1);
        cr_assert_eq(st.bytes, -1);
    } else {
        cr_assert_eq(st.entries, 2);
        cr_assert_gt(st.bytes, 0);
        cr_assert_eq(tt_cache_drop_group(c, grp("u:1"), NULL), 0);
        st = stats(c);
        cr_assert_eq(st.entries, 0);
        cr_assert_eq(st.bytes, 0, "every byte accounted for is given back");
    }
    tt_cache_close(c);
}

/* ---- concurrency ------------------------------------------------------------------- */

#define CC_THREADS 8
#define CC_GROUPS 32
#define CC_KEYS 16

struct worker {
    tt_cache *c;
    int id;
    bool may_clear;
    atomic_bool *stop;
    uint64_t gets, bad;
    char why[300];
};

/* The value every put of (g, k) writes: readers can check any hit byte for byte. */
static size_t cc_value(char *buf, size_t cap, int g, int k)
{
    int n = snprintf(buf, cap, "value of %d/%d:", g, k);
    size_t len = (size_t)n + (size_t)((g * 31 + k * 7) % 300);

    for (size_t i = (size_t)n; i < len && i < cap; i++)
        buf[i] = (char)('a' + (g + k + (int)i) % 26);
    return len;
}

static void cc_fail(struct worker *w, const char *what, int rc, const tt_err *err)
{
    if (w->bad++ == 0)
        snprintf(w->why, sizeof(w->why), "thread %d: %s: %s (%s)", w->id, what, tt_err_name(rc),
                 tt_err_msg(err, rc));
}

static void cc_get(struct worker *w, const char *group, int g, int k, char *key, char *want)
{
    tt_err err = {0};
    char *val = NULL;
    size_t len = 0, wlen = cc_value(want, 512, g, k);
    int rc = tt_cache_get(w->c, group, key, &val, &len, &err);

    w->gets++;
    if (rc == 0 && (len != wlen || memcmp(val, want, len) != 0))
        cc_fail(w, "a hit returned the wrong value", TT_EINTERNAL, NULL);
    else if (rc != 0 && rc != TT_ENOTFOUND)
        cc_fail(w, "get", rc, &err);
    free(val);
}

static void cc_step(struct worker *w, tt_rng *rng)
{
    char key[32], want[512];
    int g = (int)tt_rng_below(rng, CC_GROUPS), k = (int)tt_rng_below(rng, CC_KEYS);
    int op = (int)tt_rng_below(rng, 1000), rc = 0;
    char group[128];
    tt_err err = {0};

    /* Not grp(): its buffers are not the threads' own. */
    snprintf(group, sizeof(group), "%su:%d", group_prefix, g);
    snprintf(key, sizeof(key), "k%d", k);
    if (op < 600) {
        cc_get(w, group, g, k, key, want);
        return;
    }
    if (op < 980)
        rc = tt_cache_put(w->c, group, key, want, cc_value(want, sizeof(want), g, k), 0, &err);
    else if (op < 999)
        rc = tt_cache_drop_group(w->c, group, &err);
    else if (w->may_clear)
        rc = tt_cache_clear(w->c, &err);
    if (rc != 0)
        cc_fail(w, "put/drop/clear", rc, &err);
}

static void *cc_run(void *arg)
{
    struct worker *w = arg;
    tt_rng rng;

    tt_rng_seed(&rng, 42, (uint64_t)w->id);
    while (!atomic_load_explicit(w->stop, memory_order_relaxed))
        cc_step(w, &rng);
    return NULL;
}

/*
 * Eight threads read, write, drop and (in-process only: Redis's clear is not ours alone)
 * clear overlapping groups for half a second. Every hit must be the exact value, nothing
 * may fail, the stats must add up, and a small bound forces eviction all along.
 */
CACHE_TEST(concurrent)
{
    tt_cache *c = open_cache(64 * 1024);
    struct worker w[CC_THREADS];
    pthread_t th[CC_THREADS];
    atomic_bool stop = false;
    uint64_t gets = 0;
    tt_cache_stats st;

    for (int i = 0; i < CC_THREADS; i++) {
        w[i] = (struct worker){.c = c, .id = i, .may_clear = !on_redis, .stop = &stop};
        cr_assert_eq(pthread_create(&th[i], NULL, cc_run, &w[i]), 0);
    }
    sleep_ms(500);
    atomic_store(&stop, true);
    for (int i = 0; i < CC_THREADS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].bad, 0, "%s", w[i].why);
        gets += w[i].gets;
    }
    st = stats(c);
    cr_assert_gt(gets, 100, "the threads ran (%llu gets)", (unsigned long long)gets);
    cr_assert_eq(st.hits + st.misses, gets);
    cr_assert_gt(st.hits, 0);
    cr_assert_eq(st.errors, 0);
    if (!on_redis) {
        cr_assert_leq(st.bytes, 64 * 1024);
        cr_assert_gt(st.evictions, 0, "the bound was hit");
    }
    tt_cache_close(c);
}

/* ---- in-process only --------------------------------------------------------------- */

/*
 * The bound holds and the least recently used entries go first. One group lives in one
 * shard, which holds a sixteenth of max_bytes: 2 KiB here, room for about a dozen entries.
 */
Test(cache_mem, lru_eviction)
{
    tt_cache *c;
    char key[16], val[101];
    tt_cache_stats st;

    mem_setup();
    c = open_cache(32 * 1024);
    memset(val, 'x', 100);
    val[100] = '\0';
    put(c, grp("u:1"), "hot", "kept warm", 0);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%03d", i);
        put(c, grp("u:1"), key, val, 0);
        expect_hit(c, grp("u:1"), "hot", "kept warm");
    }
    st = stats(c);
    cr_assert_gt(st.evictions, 0);
    cr_assert_leq(st.bytes, 32 * 1024);
    cr_assert_lt(st.entries, 100);
    cr_assert_gt(st.entries, 5, "a shard holds more than a handful (%lld)", (long long)st.entries);
    expect_hit(c, grp("u:1"), "hot", "kept warm");
    expect_hit(c, grp("u:1"), "k099", val);
    expect_hit(c, grp("u:1"), "k098", val);
    expect_miss(c, grp("u:1"), "k000");
    expect_miss(c, grp("u:1"), "k050");
    tt_cache_close(c);
}

Test(cache_mem, entry_larger_than_a_shard)
{
    tt_cache *c;
    char *big = calloc(1, 4096);
    tt_err err = {0};
    int rc;

    mem_setup();
    c = open_cache(16 * 1024);
    rc = tt_cache_put(c, grp("u:1"), "k", big, 4096, 0, &err);
    cr_assert_eq(rc, TT_ETOOBIG, "got %s", tt_err_name(rc));
    cr_assert_eq(stats(c).entries, 0);
    free(big);
    tt_cache_close(c);
}

Test(cache_mem, clear)
{
    tt_cache *c;
    char name[16];
    tt_err err = {0};

    mem_setup();
    c = open_cache(0);
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "u:%d", i);
        put(c, grp(name), "a", "x", 0);
        put(c, grp(name), "b", "y", 0);
    }
    cr_assert_eq(stats(c).entries, 100);
    cr_assert_eq(tt_cache_clear(c, &err), 0);
    cr_assert_eq(stats(c).entries, 0);
    cr_assert_eq(stats(c).bytes, 0);
    expect_miss(c, grp("u:7"), "a");
    put(c, grp("u:7"), "a", "after", 0);
    expect_hit(c, grp("u:7"), "a", "after");
    tt_cache_close(c);
}

Test(cache_mem, bad_arguments)
{
    tt_cache_params p = tt_cache_params_default();
    tt_cache *c, *none = NULL;
    tt_err err = {0};
    char *val = NULL;
    size_t len;

    mem_setup();
    c = open_cache(0);
    cr_assert_eq(tt_cache_get(c, NULL, "k", &val, &len, NULL), TT_EINVAL);
    cr_assert_eq(tt_cache_get(c, "", "k", &val, &len, NULL), TT_EINVAL);
    cr_assert_eq(tt_cache_get(c, "g", NULL, &val, &len, NULL), TT_EINVAL);
    cr_assert_eq(tt_cache_put(c, "g", "k", NULL, 3, 0, &err), TT_EINVAL);
    cr_assert_eq(tt_cache_drop_group(c, "", NULL), TT_EINVAL);
    cr_assert_eq(tt_cache_get(NULL, "g", "k", &val, &len, NULL), TT_EINVAL);
    p.url = "memcached://host";
    tt_err_clear(&err);
    cr_assert_eq(tt_cache_open(&p, &none, &err), TT_ECONFIG);
    cr_assert_str_eq(err.field, "REDIS_URL");
    cr_assert_null(none);
    tt_cache_close(NULL);
    tt_cache_close(c);
}

Test(cache_mem, zeroed_params_take_defaults)
{
    tt_cache_params p;
    tt_cache *c = NULL;

    memset(&p, 0, sizeof(p));
    cr_assert_eq(tt_cache_open(&p, &c, NULL), 0);
    cr_assert_str_eq(tt_cache_backend(c), "memory");
    put(c, "g", "k", "v", 0);
    expect_hit(c, "g", "k", "v");
    tt_cache_close(c);
}

/* ---- a Redis of the test's own ------------------------------------------------------- */

static pid_t server_pid = -1;

static bool find_redis_server(char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096], *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/local/bin", path ? path : "");
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/redis-server", d);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

/* The redis-server binary, or the test skips (fails under CI). */
static void need_redis_server(char *path, size_t cap)
{
    if (find_redis_server(path, cap))
        return;
    if (in_ci())
        cr_assert_fail("redis-server not found but CI=true: install it (scripts/install-deps)");
    cr_skip_test("redis-server not found: tests that need a Redis of their own skipped");
}

/* A port nobody listens on, as the kernel hands them out. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* True once something on @port answers a PING (even with -NOAUTH). */
static bool server_answers(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    char buf[64];
    bool ok = false;

    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        write(fd, "PING\r\n", 6) == 6)
        ok = read(fd, buf, sizeof(buf)) > 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/*
 * Starts redis-server on @port and waits for it; with a password when @pass is set, and also
 * on the unix socket @sock when that is set.
 */
static void server_start(const char *bin, int port, const char *pass, const char *sock)
{
    char portarg[16];
    const char *argv[16] = {bin, "--port",       portarg, "--bind",      "127.0.0.1", "--save",
                            "",  "--appendonly", "no",    "--daemonize", "no"};
    int argc = 11;
    pid_t pid;

    snprintf(portarg, sizeof(portarg), "%d", port);
    if (pass) {
        argv[argc++] = "--requirepass";
        argv[argc++] = pass;
    }
    if (sock) {
        argv[argc++] = "--unixsocket";
        argv[argc++] = sock;
    }
    pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        /* Dies with the test process, whatever way that ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    server_pid = pid;
    for (int i = 0; i < 500 && !server_answers(port); i++)
        sleep_ms(10);
    cr_assert(server_answers(port), "redis-server did not come up on port %d", port);
}

static void server_stop(void)
{
    if (server_pid <= 0)
        return;
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    server_pid = -1;
}

static void own_server_fini(void)
{
    server_stop();
}

/* Clear deletes every tt:* key, so it runs on a server nobody else uses. */
Test(cache_redis, clear, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], url[64], name[16];
    tt_cache *c;
    tt_err err = {0};
    int port;

    need_redis_server(bin, sizeof(bin));
    port = free_port();
    server_start(bin, port, NULL, NULL);
    prefix_init();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    c = open_url(url, 0, 1000, 1000);
    /* More keys than one SCAN batch, so clear has to follow the cursor. */
    for (int i = 0; i < 2500; i++) {
        snprintf(name, sizeof(name), "u:%d", i);
        put(c, grp(name), "a", "x", 0);
    }
    cr_assert_eq(tt_cache_clear(c, &err), 0, "%s", err.message);
    for (int i = 0; i < 2500; i += 97) {
        snprintf(name, sizeof(name), "u:%d", i);
        expect_miss(c, grp(name), "a");
    }
    put(c, grp("u:7"), "a", "after", 0);
    expect_hit(c, grp("u:7"), "a", "after");
    tt_cache_close(c);
}

/* The password (with an escaped '@') is sent, and each database number is its own space. */
Test(cache_redis, auth_and_select, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], url[128];
    tt_cache *db1, *db2, *wrong;
    int port;

    need_redis_server(bin, sizeof(bin));
    port = free_port();
    server_start(bin, port, "s3cr@t", NULL);
    prefix_init();
    snprintf(url, sizeof(url), "redis://:s3cr%%40t@127.0.0.1:%d/1", port);
    db1 = open_url(url, 0, 1000, 1000);
    snprintf(url, sizeof(url), "redis://:s3cr%%40t@127.0.0.1:%d/2", port);
    db2 = open_url(url, 0, 1000, 1000);
    snprintf(url, sizeof(url), "redis://:nope@127.0.0.1:%d/1", port);
    wrong = open_url(url, 0, 1000, 60000);
    cr_assert(tt_cache_healthy(db1));
    put(db1, grp("u:1"), "k", "in db 1", 0);
    expect_hit(db1, grp("u:1"), "k", "in db 1");
    expect_miss(db2, grp("u:1"), "k");
    cr_assert_not(tt_cache_healthy(wrong), "a refused password leaves the cache down");
    tt_cache_close(db1);
    tt_cache_close(db2);
    tt_cache_close(wrong);
}

/* REDIS_URL may name a unix socket, as the configuration allows. */
Test(cache_redis, unix_socket, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], sock[64], url[80];
    tt_cache *c;

    need_redis_server(bin, sizeof(bin));
    snprintf(sock, sizeof(sock), "/tmp/tt_test_cache_%ld.sock", (long)getpid());
    server_start(bin, free_port(), NULL, sock);
    prefix_init();
    snprintf(url, sizeof(url), "unix://%s", sock);
    c = open_url(url, 0, 1000, 1000);
    cr_assert(tt_cache_healthy(c));
    put(c, grp("u:1"), "k", "over a unix socket", 0);
    expect_hit(c, grp("u:1"), "k", "over a unix socket");
    tt_cache_close(c);
    server_stop();
    unlink(sock);
}

Test(cache_redis, malformed_urls)
{
    static const char *bad[] = {
        "redis://",           "redis://:pw@",        "redis://host:0",   "redis://host:70000",
        "redis://host:abc",   "redis://secret@host", "redis://host/abc", "redis://[::1",
        "redis://:p%zz@host", "unix://relative",     "rediss://host",
    };
    tt_cache_params p = tt_cache_params_default();

    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        tt_err err = {0};
        tt_cache *c = NULL;
        int rc;

        p.url = bad[i];
        rc = tt_cache_open(&p, &c, &err);
        cr_assert_eq(rc, TT_ECONFIG, "%s: got %s", bad[i], tt_err_name(rc));
        cr_assert_null(c);
        cr_assert_null(strstr(err.message, "secret"), "the password stays out of messages");
    }
}

/*
 * Time limits of the outage tests, which use timeout_ms 50: a call that must not touch the
 * network, and one allowed its 2 x timeout_ms, each with slack for a loaded test machine.
 */
#define FAST_MS 10
#define SLOW_MS 125

/* Elapsed milliseconds of one get, which must fail with TT_EBACKEND. */
static double failing_get_ms(tt_cache *c)
{
    tt_err err = {0};
    char *val = NULL;
    size_t len;
    double t0 = now_s();
    int rc = tt_cache_get(c, "u:1", "k", &val, &len, &err);
    double ms = (now_s() - t0) * 1000;

    cr_assert_eq(rc, TT_EBACKEND, "want backend_unavailable, got %s", tt_err_name(rc));
    cr_assert_neq(err.message[0], '\0', "the failure is explained");
    return ms;
}

Test(cache_redis, unreachable)
{
    tt_cache *c;
    double t0 = now_s(), ms;

    c = open_url("redis://127.0.0.1:1/0", 0, 50, 1000);
    cr_assert_lt((now_s() - t0) * 1000, 100, "open does not hang on an unreachable Redis");
    cr_assert_str_eq(tt_cache_backend(c), "redis");
    ms = failing_get_ms(c);
    cr_assert_lt(ms, SLOW_MS, "get took %.1f ms, more than 2 x timeout_ms", ms);
    cr_assert_not(tt_cache_healthy(c));
    cr_assert_eq(tt_cache_put(c, "u:1", "k", "v", 1, 0, NULL), TT_EBACKEND);
    cr_assert_eq(tt_cache_drop_group(c, "u:1", NULL), TT_EBACKEND);
    cr_assert_eq(stats(c).errors, 3);
    tt_cache_close(c);
}

/* A listener that accepts connections (the kernel does) but never answers. */
static int silent_listener(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 64), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A server that hangs costs a call timeout_ms, then nothing until retry_ms has passed. */
Test(cache_redis, unresponsive, .timeout = 30)
{
    char url[64];
    tt_cache *c;
    int port, fd = silent_listener(&port);
    double t0 = now_s(), ms;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    c = open_url(url, 0, 50, 200);
    ms = (now_s() - t0) * 1000;
    cr_assert_lt(ms, 150, "open took %.1f ms", ms);
    cr_assert_not(tt_cache_healthy(c));
    ms = failing_get_ms(c);
    cr_assert_lt(ms, FAST_MS, "while down, calls fail at once (%.1f ms)", ms);
    sleep_ms(250);
    ms = failing_get_ms(c);
    cr_assert_geq(ms, 40, "the probe waited for its reply (%.1f ms)", ms);
    cr_assert_lt(ms, SLOW_MS, "get took %.1f ms, more than 2 x timeout_ms", ms);
    ms = failing_get_ms(c);
    cr_assert_lt(ms, FAST_MS, "the failed probe put the backend down again (%.1f ms)", ms);
    tt_cache_close(c);
    close(fd);
}

/* Polls with puts and gets until the cache works again; returns the seconds it took. */
static double wait_recovery(tt_cache *c, double limit_s)
{
    double t0 = now_s();
    char *val = NULL;
    size_t len;

    while (now_s() - t0 < limit_s) {
        if (tt_cache_put(c, grp("u:1"), "k", "back", 4, 0, NULL) == 0 &&
            tt_cache_get(c, grp("u:1"), "k", &val, &len, NULL) == 0) {
            free(val);
            return now_s() - t0;
        }
        sleep_ms(10);
    }
    cr_assert_fail("the cache did not recover within %.1f s", limit_s);
    return limit_s;
}

/* Redis goes away and comes back: detected, fails fast meanwhile, resumes after retry_ms. */
Test(cache_redis, outage_and_recovery, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], url[64];
    tt_cache *c;
    int port;
    double ms, took;

    need_redis_server(bin, sizeof(bin));
    port = free_port();
    server_start(bin, port, NULL, NULL);
    prefix_init();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    c = open_url(url, 0, 50, 300);
    put(c, grp("u:1"), "k", "before", 0);
    expect_hit(c, grp("u:1"), "k", "before");

    server_stop();
    ms = failing_get_ms(c);
    cr_assert_lt(ms, SLOW_MS, "noticing the outage took %.1f ms", ms);
    cr_assert_not(tt_cache_healthy(c));
    for (int i = 0; i < 100; i++) {
        ms = failing_get_ms(c);
        cr_assert_lt(ms, FAST_MS, "while down, calls fail at once (%.1f ms)", ms);
    }

    server_start(bin, port, NULL, NULL);
    took = wait_recovery(c, 3.0);
    cr_assert_lt(took, 1.0, "recovery took %.2f s with retry_ms 300", took);
    cr_assert(tt_cache_healthy(c));
    expect_hit(c, grp("u:1"), "k", "back");
    cr_assert_gt(stats(c).errors, 100);
    tt_cache_close(c);
}

/*
 * Redis restarts while the cache sits idle: the pooled connections are stale, and the next
 * call reconnects at once instead of reporting an outage.
 */
Test(cache_redis, restart_while_idle, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], url[64];
    tt_cache *c;
    int port;

    need_redis_server(bin, sizeof(bin));
    port = free_port();
    server_start(bin, port, NULL, NULL);
    prefix_init();
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    c = open_url(url, 0, 50, 60000);
    put(c, grp("u:1"), "k", "before", 0);
    server_stop();
    server_start(bin, port, NULL, NULL);
    expect_miss(c, grp("u:1"), "k");
    cr_assert(tt_cache_healthy(c));
    cr_assert_eq(stats(c).errors, 0);
    tt_cache_close(c);
}

/* ---- messages between engines ---------------------------------------------------------- */

/* What a subscription received, for the test thread to look at. */
struct inbox {
    pthread_mutex_t lock;
    int n;
    char msg[16][64];
    size_t len[16];
};

static void inbox_init(struct inbox *in)
{
    memset(in, 0, sizeof(*in));
    pthread_mutex_init(&in->lock, NULL);
}

static void on_msg(void *ctx, const char *msg, size_t len)
{
    struct inbox *in = ctx;

    pthread_mutex_lock(&in->lock);
    if (in->n < 16 && len <= sizeof(in->msg[0])) {
        memcpy(in->msg[in->n], msg, len);
        in->len[in->n++] = len;
    }
    pthread_mutex_unlock(&in->lock);
}

static int inbox_count(struct inbox *in)
{
    int n;

    pthread_mutex_lock(&in->lock);
    n = in->n;
    pthread_mutex_unlock(&in->lock);
    return n;
}

/* Waits up to @limit_s for @in to hold @n messages. */
static void inbox_wait(struct inbox *in, int n, double limit_s)
{
    double t0 = now_s();

    while (inbox_count(in) < n && now_s() - t0 < limit_s)
        sleep_ms(2);
    cr_assert_eq(inbox_count(in), n, "messages after %.1f s", limit_s);
}

static void wait_live(tt_cache_sub *s, bool live, double limit_s)
{
    double t0 = now_s();

    while (tt_cache_sub_live(s) != live && now_s() - t0 < limit_s)
        sleep_ms(2);
    cr_assert_eq(tt_cache_sub_live(s), live, "subscription %s within %.1f s",
                 live ? "live" : "down", limit_s);
}

static void publish(tt_cache *c, const char *channel, const char *msg, size_t len)
{
    tt_err err = {0};
    int rc = tt_cache_publish(c, channel, msg, len, &err);

    cr_assert_eq(rc, 0, "publish: %s", tt_err_msg(&err, rc));
}

/* The in-process cache is this process's own: it carries no message to other engines. */
Test(cache_mem, messages_need_redis)
{
    tt_cache *c = open_url(NULL, 0, 0, 0);
    tt_cache_sub *s = NULL;
    struct inbox in;

    inbox_init(&in);
    cr_assert_not(tt_cache_shared(c));
    cr_assert_eq(tt_cache_publish(c, "ch", "x", 1, NULL), TT_EUNSUPPORTED);
    cr_assert_eq(tt_cache_subscribe(c, "ch", on_msg, &in, &s, NULL), TT_EUNSUPPORTED);
    cr_assert_null(s);
    cr_assert_not(tt_cache_sub_live(NULL));
    tt_cache_sub_close(NULL);
    tt_cache_close(c);
}

/* Two engines on one Redis: what one publishes reaches the other's subscription, in order. */
Test(cache_redis, messages_reach_subscribers, .timeout = 30)
{
    tt_cache *a, *b;
    tt_cache_sub *s = NULL;
    struct inbox in;
    tt_err err = {0};
    const char *ch;

    redis_setup();
    ch = grp("feedback");
    a = open_url(cache_url, 0, 1000, 1000);
    b = open_url(cache_url, 0, 1000, 1000);
    cr_assert(tt_cache_shared(a));
    inbox_init(&in);
    cr_assert_eq(tt_cache_subscribe(b, ch, on_msg, &in, &s, &err), 0, "%s", err.message);
    wait_live(s, true, 5);
    publish(a, ch, "first", 5);
    publish(a, ch, "with\0nul", 8);
    publish(a, ch, "", 0);
    publish(a, grp("elsewhere"), "not for us", 10);
    inbox_wait(&in, 3, 5);
    cr_assert_eq(in.len[0], 5);
    cr_assert(memcmp(in.msg[0], "first", 5) == 0);
    cr_assert_eq(in.len[1], 8, "binary-safe");
    cr_assert(memcmp(in.msg[1], "with\0nul", 8) == 0);
    cr_assert_eq(in.len[2], 0);
    sleep_ms(50);
    cr_assert_eq(inbox_count(&in), 3, "another channel's message is not delivered");
    tt_cache_sub_close(s);
    publish(a, ch, "after", 5);
    sleep_ms(50);
    cr_assert_eq(inbox_count(&in), 3, "nothing after close");
    tt_cache_close(b);
    tt_cache_close(a);
}

/* Redis restarts under a subscription: it is reported down, then subscribes again. */
Test(cache_redis, subscription_survives_restart, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], url[64];
    tt_cache *c;
    tt_cache_sub *s = NULL;
    struct inbox in;
    int port;

    need_redis_server(bin, sizeof(bin));
    port = free_port();
    server_start(bin, port, NULL, NULL);
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", port);
    c = open_url(url, 0, 200, 100);
    inbox_init(&in);
    cr_assert_eq(tt_cache_subscribe(c, "ch", on_msg, &in, &s, NULL), 0);
    wait_live(s, true, 5);
    server_stop();
    wait_live(s, false, 2);
    cr_assert_neq(tt_cache_publish(c, "ch", "lost", 4, NULL), 0, "no Redis, nothing sent");
    server_start(bin, port, NULL, NULL);
    wait_live(s, true, 3);
    /* The pool retries on its own schedule (retry_ms); a publish may fail until then. */
    for (int i = 0; i < 100 && tt_cache_publish(c, "ch", "back", 4, NULL) != 0; i++)
        sleep_ms(20);
    inbox_wait(&in, 1, 3);
    cr_assert(memcmp(in.msg[0], "back", 4) == 0);
    tt_cache_sub_close(s);
    tt_cache_close(c);
}

/* A subscription to a Redis that is not there is no error; closing it does not wait. */
Test(cache_redis, subscription_to_nothing_closes_at_once, .timeout = 30)
{
    char url[64];
    tt_cache *c;
    tt_cache_sub *s = NULL;
    struct inbox in;
    double t0;

    snprintf(url, sizeof(url), "redis://127.0.0.1:%d/0", free_port());
    c = open_url(url, 0, 50, 60000);
    inbox_init(&in);
    cr_assert_eq(tt_cache_subscribe(c, "ch", on_msg, &in, &s, NULL), 0);
    sleep_ms(100);
    cr_assert_not(tt_cache_sub_live(s));
    t0 = now_s();
    tt_cache_sub_close(s);
    cr_assert_lt(now_s() - t0, 0.5, "close took %.2f s", now_s() - t0);
    tt_cache_close(c);
}

/* Channels belong to the URL's database, as keys do: another database does not hear them. */
Test(cache_redis, channels_belong_to_the_database, .fini = own_server_fini, .timeout = 30)
{
    char bin[512], url1[64], url2[64];
    tt_cache *a, *b1, *b2;
    tt_cache_sub *s1 = NULL, *s2 = NULL;
    struct inbox in1, in2;
    int port;

    need_redis_server(bin, sizeof(bin));
    port = free_port();
    server_start(bin, port, NULL, NULL);
    snprintf(url1, sizeof(url1), "redis://127.0.0.1:%d/1", port);
    snprintf(url2, sizeof(url2), "redis://127.0.0.1:%d/2", port);
    a = open_url(url1, 0, 1000, 1000);
    b1 = open_url(url1, 0, 1000, 1000);
    b2 = open_url(url2, 0, 1000, 1000);
    inbox_init(&in1);
    inbox_init(&in2);
    cr_assert_eq(tt_cache_subscribe(b1, "ch", on_msg, &in1, &s1, NULL), 0);
    cr_assert_eq(tt_cache_subscribe(b2, "ch", on_msg, &in2, &s2, NULL), 0);
    wait_live(s1, true, 5);
    wait_live(s2, true, 5);
    publish(a, "ch", "db1", 3);
    inbox_wait(&in1, 1, 5);
    sleep_ms(50);
    cr_assert_eq(inbox_count(&in2), 0, "database 2 heard database 1's message");
    tt_cache_sub_close(s1);
    tt_cache_sub_close(s2);
    tt_cache_close(b2);
    tt_cache_close(b1);
    tt_cache_close(a);
}
