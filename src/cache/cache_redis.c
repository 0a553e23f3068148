/*
 * The Redis backend, through hiredis: one Redis hash per group.
 *
 * Layout. Group G is the hash "tt:G" and each key is a field of it: get is HGET, put is
 * HSET, and dropping everything cached for a user after feedback is one DEL however many
 * answers were cached. Redis 7.0 (Debian 12) cannot expire single hash fields (HEXPIRE came
 * with 7.4), so every put re-arms EXPIRE on the whole hash, in the same round trip: a group
 * lives until ttl seconds after its last write, and an entry can outlive its own ttl while
 * its group keeps being written. Answers carry the model version in their key, so a late
 * entry is stale but never wrong. Evictions are Redis's own (maxmemory-policy), not counted.
 *
 * Connections. Up to pool_size blocking connections, each used by one thread at a time and
 * kept for reuse. Connecting and each command are bounded by timeout_ms (connect timeout,
 * then socket timeouts). A connection that fails is closed, never reused: after a timeout
 * its late reply would be read as the answer to the next command.
 *
 * Health. An I/O failure marks the backend down. While down, calls fail at once with
 * TT_EBACKEND without touching a socket, so a dead Redis costs requests nothing; once
 * retry_ms has passed, one caller at a time probes with a fresh connection, and success
 * brings the backend back. An error reply (a refusal such as OOM or WRONGTYPE) fails that
 * call only: the connection is still in step and the server is up.
 *
 * A pooled connection may have been closed behind our back: by the server's `timeout`
 * setting, by a proxy, or by a restart. When one fails at once with end-of-file or a reset,
 * the call drops the idle connections (they are likely just as stale) and retries once on a
 * fresh one, instead of declaring Redis down.
 *
 * Messages. Redis's channels belong to the server, not to one of its databases; the engine's
 * belong to the database of the URL, as its keys do, named "tt:<db>:<channel>": engines of
 * two deployments that share a server on different databases do not hear each other.
 * PUBLISH goes through the pool like any command. A subscription needs a
 * connection of its own (a subscribed connection takes no other command), read by a thread
 * of its own: it waits in poll(2) on the socket and on a pipe that closing writes to, so it
 * neither spins nor keeps the closer waiting, and reads with hiredis's buffer functions
 * only once the socket is readable (the connection's short timeout then never fires). A
 * lost connection is retried every retry_ms. Its health is the subscription's own: the pool
 * may be down while the subscription is live, and the other way round.
 */
#include "backend.h"
#include "tt/core.h"

#include <hiredis/hiredis.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* SCAN batch of clear: large enough for few round trips, small enough for short commands. */
#define SCAN_COUNT "1000"
#define KEY_PREFIX "tt:"
#define KEY_PREFIX_LEN 3
#define MAX_ARGS 6
/* Wait for a subscription's confirmation (see sub_open). */
#define SUB_TIMEOUT_MS 1000

struct redis_addr {
    char *host; /* NULL for a unix socket */
    int port;
    char *path; /* unix socket path, or NULL */
    char *user; /* ACL user, or NULL for AUTH with the password alone */
    char *pass; /* NULL: no AUTH */
    int db;
    char where[300]; /* host:port or path, for messages; never the password */
};

struct rcache {
    struct redis_addr addr;
    struct timeval tv;
    int timeout_ms, retry_ms, pool_size;
    bool guard_sigpipe;

    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t freed; /* a connection went back to the pool, or was closed */
    redisContext **idle;  /* pool_size slots */
    int nidle;
    int nconn; /* idle + in use + being opened */
    bool healthy;
    bool probing;     /* a caller is reconnecting after a failure */
    int64_t retry_at; /* while down: when the next probe may run */
    char reason[256]; /* while down: why */
};

/* One command: argv with binary-safe lengths. */
struct cmd {
    int argc;
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
};

/* One call's connection. */
struct call {
    struct rcache *r;
    redisContext *ctx;
    bool reused;  /* came from the pool rather than freshly connected */
    bool probe;   /* the one call that tests whether a down backend is back */
    int io_errno; /* errno of the I/O failure, when ctx->err is set */
};

typedef int (*redis_op)(struct call *k, void *arg, tt_err *err);

static void cmd_add(struct cmd *c, const char *s, size_t len)
{
    c->argv[c->argc] = s;
    c->len[c->argc++] = len;
}

static void cmd_str(struct cmd *c, const char *s)
{
    cmd_add(c, s, strlen(s));
}

/* ---- SIGPIPE ------------------------------------------------------------------------- */

/*
 * hiredis writes with write(2), and a write to a socket the server has reset raises SIGPIPE,
 * whose default action kills the process. Unless the process ignored SIGPIPE when the cache
 * opened (as a server should), each exchange blocks SIGPIPE in the calling thread and
 * swallows the one its own failed write raised.
 */
static bool sigpipe_ignored(void)
{
    struct sigaction sa;

    return sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN;
}

static void sigpipe_block(sigset_t *old)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

static void sigpipe_restore(const sigset_t *old, bool failed)
{
    sigset_t set, pending;
    struct timespec zero = {0, 0};

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    /* Only a failed write raises it, and one pending before we blocked it is not ours. */
    if (failed && !sigismember(old, SIGPIPE) && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE))
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* ---- commands ------------------------------------------------------------------------ */

static void replies_free(redisReply **rep, int n)
{
    for (int i = 0; i < n; i++) {
        if (rep[i])
            freeReplyObject(rep[i]);
        rep[i] = NULL;
    }
}

/*
 * Writes the commands appended to the connection and reads @n replies into @rep. TT_EBACKEND
 * on an I/O failure (ctx->err is then set and the connection is done for); error replies
 * are returned as replies, for the caller to judge.
 */
static int roundtrip(struct call *k, int n, redisReply **rep, tt_err *err)
{
    sigset_t old;
    int got = 0;

    memset(rep, 0, (size_t)n * sizeof(*rep));
    if (k->r->guard_sigpipe)
        sigpipe_block(&old);
    while (got < n && redisGetReply(k->ctx, (void **)&rep[got]) == REDIS_OK)
        got++;
    k->io_errno = errno;
    if (k->r->guard_sigpipe)
        sigpipe_restore(&old, got < n);
    if (got == n)
        return 0;
    replies_free(rep, got);
    if (k->ctx->err == REDIS_ERR_IO && (k->io_errno == EAGAIN || k->io_errno == EWOULDBLOCK))
        snprintf(k->ctx->errstr, sizeof(k->ctx->errstr), "no reply within %d ms", k->r->timeout_ms);
    return tt_err_set(err, TT_EBACKEND, "Redis at %s: %s", k->r->addr.where,
                      k->ctx->errstr[0] ? k->ctx->errstr : "connection failed");
}

/* Sends @n commands in one write and reads their replies: see roundtrip. */
static int exchange(struct call *k, struct cmd *cmds, int n, redisReply **rep, tt_err *err)
{
    for (int i = 0; i < n; i++)
        redisAppendCommandArgv(k->ctx, cmds[i].argc, cmds[i].argv, cmds[i].len);
    return roundtrip(k, n, rep, err);
}

static int command(struct call *k, struct cmd *c, redisReply **rep, tt_err *err)
{
    return exchange(k, c, 1, rep, err);
}

/* TT_EBACKEND for an error reply (or a reply of an unexpected type), else 0. */
static int reply_check(struct call *k, const redisReply *rep, int want, const char *what,
                       tt_err *err)
{
    if (rep->type == REDIS_REPLY_ERROR)
        return tt_err_set(err, TT_EBACKEND, "Redis at %s refused %s: %.*s", k->r->addr.where, what,
                          (int)rep->len, rep->str);
    if (rep->type != want)
        return tt_err_set(err, TT_EBACKEND, "Redis at %s answered %s with reply type %d",
                          k->r->addr.where, what, rep->type);
    return 0;
}

/* ---- connections --------------------------------------------------------------------- */

/* AUTH and SELECT, pipelined: one round trip. */
static int conn_session(struct call *k, tt_err *err)
{
    const struct redis_addr *a = &k->r->addr;
    struct cmd cmds[2] = {{0}};
    redisReply *rep[2];
    char db[16];
    int n = 0, rc;

    if (a->pass) {
        cmd_str(&cmds[n], "AUTH");
        if (a->user)
            cmd_str(&cmds[n], a->user);
        cmd_str(&cmds[n++], a->pass);
    }
    if (a->db != 0) {
        snprintf(db, sizeof(db), "%d", a->db);
        cmd_str(&cmds[n], "SELECT");
        cmd_str(&cmds[n++], db);
    }
    if (n == 0)
        return 0;
    rc = exchange(k, cmds, n, rep, err);
    for (int i = 0; rc == 0 && i < n; i++)
        rc = reply_check(k, rep[i], REDIS_REPLY_STATUS, cmds[i].argv[0], err);
    replies_free(rep, n);
    return rc;
}

static int conn_open(struct rcache *r, redisContext **out, tt_err *err)
{
    struct call k = {r, NULL, false, false, 0};
    int rc = 0;

    k.ctx = r->addr.path ? redisConnectUnixWithTimeout(r->addr.path, r->tv)
                         : redisConnectWithTimeout(r->addr.host, r->addr.port, r->tv);
    if (!k.ctx)
        return tt_err_set(err, TT_EBACKEND, "cannot allocate a Redis connection");
    if (k.ctx->err) {
        rc = tt_err_set(err, TT_EBACKEND, "cannot connect to Redis at %s: %s", r->addr.where,
                        k.ctx->errstr);
        goto out;
    }
    if (redisSetTimeout(k.ctx, r->tv) != REDIS_OK) {
        rc = tt_err_set(err, TT_EBACKEND, "cannot set Redis timeouts: %s", k.ctx->errstr);
        goto out;
    }
    /* Keepalive notices a peer that vanished without a reset while the connection idles. */
    if (!r->addr.path)
        redisEnableKeepAlive(k.ctx);
    rc = conn_session(&k, err);
out:
    if (rc < 0)
        redisFree(k.ctx);
    else
        *out = k.ctx;
    return rc;
}

/* ---- pool ---------------------------------------------------------------------------- */

/* Closes the idle connections (lock held). */
static void pool_flush(struct rcache *r)
{
    while (r->nidle > 0) {
        redisFree(r->idle[--r->nidle]);
        r->nconn--;
    }
    pthread_cond_broadcast(&r->freed);
}

/* Marks the backend down (lock held). A failure while already down keeps the schedule. */
static void mark_down(struct rcache *r, const char *why)
{
    if (r->healthy) {
        tt_warn("cache: Redis at %s unavailable, serving uncached, retrying every %d ms: %s",
                r->addr.where, r->retry_ms, why);
        r->retry_at = tt__cache_now_ms() + r->retry_ms;
        snprintf(r->reason, sizeof(r->reason), "%.255s", why);
    }
    r->healthy = false;
    pool_flush(r);
}

/* Opens a connection in a free slot (lock held; released while connecting). */
static int acquire_new(struct rcache *r, struct call *k, tt_err *err)
{
    tt_err e = {0};
    int rc;

    r->nconn++;
    pthread_mutex_unlock(&r->lock);
    rc = conn_open(r, &k->ctx, &e);
    pthread_mutex_lock(&r->lock);
    if (rc == 0)
        return 0;
    r->nconn--;
    mark_down(r, e.message);
    return tt_err_set(err, rc, "%s", e.message);
}

/* A failed probe: stay down, try again retry_ms from now (lock held). */
static void probe_failed(struct rcache *r, const char *why)
{
    r->probing = false;
    r->retry_at = tt__cache_now_ms() + r->retry_ms;
    snprintf(r->reason, sizeof(r->reason), "%.255s", why);
}

/*
 * While down: fails at once, except for the one caller that finds the retry time passed,
 * which becomes the probe: it connects afresh (lock held; released while connecting) and
 * runs its command, and only the command's success brings the backend back, since a server
 * that accepts connections may still not answer.
 */
static int acquire_while_down(struct rcache *r, struct call *k, tt_err *err)
{
    tt_err e = {0};
    int64_t now = tt__cache_now_ms();
    int rc;

    if (r->probing || now < r->retry_at || r->nconn >= r->pool_size)
        return tt_err_set(err, TT_EBACKEND, "Redis at %s unavailable (%s); next retry in %lld ms",
                          r->addr.where, r->reason,
                          (long long)(r->retry_at > now ? r->retry_at - now : 0));
    r->probing = true;
    r->nconn++;
    pthread_mutex_unlock(&r->lock);
    rc = conn_open(r, &k->ctx, &e);
    pthread_mutex_lock(&r->lock);
    if (rc < 0) {
        r->nconn--;
        probe_failed(r, e.message);
        return tt_err_set(err, rc, "%s", e.message);
    }
    k->probe = true;
    return 0;
}

static struct timespec deadline_after(int ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    return ts;
}

/* A connection for one call: an idle one, a new one, or after waiting up to timeout_ms. */
static int pool_acquire(struct rcache *r, struct call *k, tt_err *err)
{
    struct timespec deadline = deadline_after(r->timeout_ms);
    int rc = 0;

    k->reused = false;
    k->probe = false;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        if (!r->healthy) {
            rc = acquire_while_down(r, k, err);
            break;
        }
        if (r->nidle > 0) {
            k->ctx = r->idle[--r->nidle];
            k->reused = true;
            break;
        }
        if (r->nconn < r->pool_size) {
            rc = acquire_new(r, k, err);
            break;
        }
        if (pthread_cond_timedwait(&r->freed, &r->lock, &deadline) == ETIMEDOUT) {
            rc = tt_err_set(err, TT_EBACKEND, "all %d Redis connections stayed busy for %d ms",
                            r->pool_size, r->timeout_ms);
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* The probe's verdict (lock held). An error reply counts as an answer: the server is up. */
static void probe_done(struct rcache *r, const redisContext *ctx)
{
    if (ctx->err) {
        probe_failed(r, ctx->errstr);
        return;
    }
    r->probing = false;
    r->healthy = true;
    tt_info("cache: Redis at %s reachable again", r->addr.where);
}

/*
 * Returns a connection after its call. A broken one is closed and marks the backend down.
 * A sound one is closed too while the backend is down, so that the probe finds a free slot.
 */
static void pool_release(struct rcache *r, const struct call *k)
{
    redisContext *ctx = k->ctx;
    bool broken = ctx->err != 0;

    pthread_mutex_lock(&r->lock);
    if (k->probe)
        probe_done(r, ctx);
    else if (broken)
        mark_down(r, ctx->errstr);
    if (!broken && r->healthy) {
        r->idle[r->nidle++] = ctx;
        ctx = NULL;
    } else {
        r->nconn--;
    }
    pthread_cond_signal(&r->freed);
    pthread_mutex_unlock(&r->lock);
    if (ctx)
        redisFree(ctx);
}

/* Closes a pooled connection found stale, and the idle ones with it; the backend stays up. */
static void pool_discard_stale(struct rcache *r, redisContext *ctx)
{
    pthread_mutex_lock(&r->lock);
    r->nconn--;
    pool_flush(r);
    pthread_mutex_unlock(&r->lock);
    redisFree(ctx);
}

static bool stale_failure(const struct call *k)
{
    return k->reused &&
           (k->ctx->err == REDIS_ERR_EOF ||
            (k->ctx->err == REDIS_ERR_IO && (k->io_errno == ECONNRESET || k->io_errno == EPIPE)));
}

/* Passes the error recorded in @from on to @err, with the code @rc. */
static int err_forward(tt_err *err, const tt_err *from, int rc)
{
    if (from->code == 0)
        return rc;
    return tt_err_set_at(err, from->source, from->line, rc, from->field[0] ? from->field : NULL,
                         "%s", from->message);
}

/* Runs @op on a pooled connection: the one place calls meet the pool and health rules. */
static int run(struct rcache *r, redis_op op, void *arg, tt_err *err)
{
    struct call k = {r, NULL, false, false, 0};
    tt_err first = {0};
    int rc = pool_acquire(r, &k, err);

    if (rc < 0)
        return rc;
    /* A stale connection's error is only reported if the retry is not made. */
    rc = op(&k, arg, &first);
    if (rc < 0 && stale_failure(&k)) {
        pool_discard_stale(r, k.ctx);
        rc = pool_acquire(r, &k, err);
        if (rc < 0)
            return rc;
        rc = op(&k, arg, err);
    } else {
        rc = err_forward(err, &first, rc);
    }
    pool_release(r, &k);
    return rc;
}

/* ---- operations ---------------------------------------------------------------------- */

struct get_arg {
    char *hkey;
    const char *key;
    size_t hlen;
    char **val;
    size_t *len;
};

struct group_arg {
    char *hkey;
    size_t hlen;
};

struct put_arg {
    char *hkey;
    const char *key, *val;
    size_t hlen, vlen;
    char ttl[16];
};

/* "tt:<group>", the hash holding @group's entries; free() it. */
static char *hash_key(const char *group, size_t *len)
{
    size_t glen = strlen(group);
    char *k = tt_malloc(KEY_PREFIX_LEN + glen + 1);

    memcpy(k, KEY_PREFIX, KEY_PREFIX_LEN);
    memcpy(k + KEY_PREFIX_LEN, group, glen + 1);
    *len = KEY_PREFIX_LEN + glen;
    return k;
}

static int op_get(struct call *k, void *arg, tt_err *err)
{
    struct get_arg *a = arg;
    struct cmd c = {0};
    redisReply *rep;
    int rc;

    cmd_str(&c, "HGET");
    cmd_add(&c, a->hkey, a->hlen);
    cmd_str(&c, a->key);
    rc = command(k, &c, &rep, err);
    if (rc < 0)
        return rc;
    if (rep->type == REDIS_REPLY_NIL) {
        rc = TT_ENOTFOUND;
    } else {
        rc = reply_check(k, rep, REDIS_REPLY_STRING, "HGET", err);
        if (rc == 0) {
            *a->val = tt_malloc(rep->len + 1);
            memcpy(*a->val, rep->str, rep->len);
            (*a->val)[rep->len] = '\0';
            *a->len = rep->len;
        }
    }
    freeReplyObject(rep);
    return rc;
}

/* HSET and EXPIRE in one round trip. */
static int op_put(struct call *k, void *arg, tt_err *err)
{
    struct put_arg *a = arg;
    struct cmd c[2] = {{0}};
    redisReply *rep[2];
    int rc;

    cmd_str(&c[0], "HSET");
    cmd_add(&c[0], a->hkey, a->hlen);
    cmd_str(&c[0], a->key);
    cmd_add(&c[0], a->val, a->vlen);
    cmd_str(&c[1], "EXPIRE");
    cmd_add(&c[1], a->hkey, a->hlen);
    cmd_str(&c[1], a->ttl);
    rc = exchange(k, c, 2, rep, err);
    if (rc < 0)
        return rc;
    rc = reply_check(k, rep[0], REDIS_REPLY_INTEGER, "HSET", err);
    if (rc == 0)
        rc = reply_check(k, rep[1], REDIS_REPLY_INTEGER, "EXPIRE", err);
    replies_free(rep, 2);
    return rc;
}

/* Runs @c and checks that its reply has type @want; the reply itself is not needed. */
static int command_check(struct call *k, struct cmd *c, int want, tt_err *err)
{
    redisReply *rep;
    int rc = command(k, c, &rep, err);

    if (rc < 0)
        return rc;
    rc = reply_check(k, rep, want, c->argv[0], err);
    freeReplyObject(rep);
    return rc;
}

static int op_del(struct call *k, void *arg, tt_err *err)
{
    struct group_arg *a = arg;
    struct cmd c = {0};

    cmd_str(&c, "DEL");
    cmd_add(&c, a->hkey, a->hlen);
    return command_check(k, &c, REDIS_REPLY_INTEGER, err);
}

static int op_ping(struct call *k, void *arg, tt_err *err)
{
    struct cmd c = {0};

    (void)arg;
    cmd_str(&c, "PING");
    return command_check(k, &c, REDIS_REPLY_STATUS, err);
}

/* UNLINK frees the keys' memory off Redis's main thread, so clearing stays cheap for it. */
static int unlink_keys(struct call *k, const redisReply *keys, tt_err *err)
{
    size_t n = keys->elements;
    const char **argv = tt_malloc((n + 1) * sizeof(*argv));
    size_t *lens = tt_malloc((n + 1) * sizeof(*lens));
    redisReply *rep = NULL;
    int rc = 0;

    argv[0] = "UNLINK";
    lens[0] = 6;
    for (size_t i = 0; i < n; i++) {
        if (keys->element[i]->type != REDIS_REPLY_STRING) {
            rc = tt_err_set(err, TT_EBACKEND, "Redis at %s: SCAN returned a non-string key",
                            k->r->addr.where);
            goto out;
        }
        argv[i + 1] = keys->element[i]->str;
        lens[i + 1] = keys->element[i]->len;
    }
    redisAppendCommandArgv(k->ctx, (int)n + 1, argv, lens);
    rc = roundtrip(k, 1, &rep, err);
    if (rc == 0)
        rc = reply_check(k, rep, REDIS_REPLY_INTEGER, "UNLINK", err);
out:
    if (rep)
        freeReplyObject(rep);
    free(argv);
    free(lens);
    return rc;
}

/* One SCAN step: unlinks a batch of tt:* keys and advances @cursor ("0" when done). */
static int clear_step(struct call *k, char *cursor, size_t cap, tt_err *err)
{
    struct cmd c = {0};
    redisReply *rep, *next, *keys;
    int rc;

    cmd_str(&c, "SCAN");
    cmd_str(&c, cursor);
    cmd_str(&c, "MATCH");
    cmd_str(&c, KEY_PREFIX "*");
    cmd_str(&c, "COUNT");
    cmd_str(&c, SCAN_COUNT);
    rc = command(k, &c, &rep, err);
    if (rc < 0)
        return rc;
    rc = reply_check(k, rep, REDIS_REPLY_ARRAY, "SCAN", err);
    if (rc == 0 && (rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_STRING ||
                    rep->element[0]->len >= cap || rep->element[1]->type != REDIS_REPLY_ARRAY))
        rc = tt_err_set(err, TT_EBACKEND, "Redis at %s: malformed SCAN reply", k->r->addr.where);
    if (rc == 0) {
        next = rep->element[0];
        keys = rep->element[1];
        memcpy(cursor, next->str, next->len + 1);
        if (keys->elements > 0)
            rc = unlink_keys(k, keys, err);
    }
    freeReplyObject(rep);
    return rc;
}

/* SCAN + UNLINK rather than KEYS or FLUSHDB: other data may share the database. */
static int op_clear(struct call *k, void *arg, tt_err *err)
{
    char cursor[32] = "0";
    int rc;

    (void)arg;
    do
        rc = clear_step(k, cursor, sizeof(cursor), err);
    while (rc == 0 && strcmp(cursor, "0") != 0);
    return rc;
}

static int redis_get(void *self, const char *group, const char *key, char **val, size_t *len,
                     tt_err *err)
{
    struct get_arg a = {NULL, key, 0, val, len};
    int rc;

    a.hkey = hash_key(group, &a.hlen);
    rc = run(self, op_get, &a, err);
    free(a.hkey);
    return rc;
}

static int redis_put(void *self, const char *group, const char *key, const void *val, size_t len,
                     int ttl_seconds, tt_err *err)
{
    struct put_arg a = {NULL, key, val, 0, len, {0}};
    int rc;

    a.hkey = hash_key(group, &a.hlen);
    snprintf(a.ttl, sizeof(a.ttl), "%d", ttl_seconds);
    rc = run(self, op_put, &a, err);
    free(a.hkey);
    return rc;
}

static int redis_drop_group(void *self, const char *group, tt_err *err)
{
    struct group_arg a;
    int rc;

    a.hkey = hash_key(group, &a.hlen);
    rc = run(self, op_del, &a, err);
    free(a.hkey);
    return rc;
}

static int redis_clear(void *self, tt_err *err)
{
    return run(self, op_clear, NULL, err);
}

static void redis_usage(void *self, tt_cache_stats *out)
{
    (void)self;
    out->evictions = 0;
    out->entries = -1;
    out->bytes = -1;
}

/* While down and due for a retry, probes: /health then notices a recovery without traffic. */
static bool redis_healthy(void *self)
{
    struct rcache *r = self;
    bool up, due;

    pthread_mutex_lock(&r->lock);
    up = r->healthy;
    due = !up && !r->probing && tt__cache_now_ms() >= r->retry_at;
    pthread_mutex_unlock(&r->lock);
    if (up || !due)
        return up;
    return run(r, op_ping, NULL, NULL) == 0;
}

/* ---- messages ------------------------------------------------------------------------ */

struct publish_arg {
    char channel[300];
    const char *msg;
    size_t len;
};

/* The Redis channel of @channel: scoped to the URL's database (see the header). */
static void channel_name(const struct rcache *r, const char *channel, char *out, size_t cap)
{
    snprintf(out, cap, "%s%d:%s", KEY_PREFIX, r->addr.db, channel);
}

static int op_publish(struct call *k, void *arg, tt_err *err)
{
    struct publish_arg *a = arg;
    struct cmd c = {0};

    cmd_str(&c, "PUBLISH");
    cmd_str(&c, a->channel);
    cmd_add(&c, a->msg, a->len);
    return command_check(k, &c, REDIS_REPLY_INTEGER, err);
}

static int redis_publish(void *self, const char *channel, const void *msg, size_t len, tt_err *err)
{
    struct publish_arg a = {{0}, msg, len};

    channel_name(self, channel, a.channel, sizeof(a.channel));
    return run(self, op_publish, &a, err);
}

struct rsub {
    struct rcache *r; /* borrowed: the address and timeouts */
    char *channel;
    tt_cache_msg_fn fn;
    void *ctx;
    int wake[2]; /* closing writes a byte to wake[1] */
    pthread_t thread;
    atomic_bool stop, live;
    bool failing; /* the last attempt failed: reported once per outage */
};

/*
 * Connects and subscribes. No request waits on this connection, so the confirmation may take
 * up to SUB_TIMEOUT_MS, not the requests' short timeout: a busy engine starting up would
 * otherwise give up on it and stay unsubscribed until the next retry.
 */
static int sub_open(struct rsub *s, redisContext **out, tt_err *err)
{
    struct call k = {s->r, NULL, false, false, 0};
    struct timeval tv = {SUB_TIMEOUT_MS / 1000, (SUB_TIMEOUT_MS % 1000) * 1000};
    struct cmd c = {0};
    redisReply *rep;
    int rc = conn_open(s->r, &k.ctx, err);

    if (rc < 0)
        return rc;
    if (redisSetTimeout(k.ctx, tv) != REDIS_OK) {
        redisFree(k.ctx);
        return tt_err_set(err, TT_EBACKEND, "cannot set Redis timeouts");
    }
    cmd_str(&c, "SUBSCRIBE");
    cmd_str(&c, s->channel);
    rc = command(&k, &c, &rep, err);
    if (rc == 0) {
        rc = reply_check(&k, rep, REDIS_REPLY_ARRAY, "SUBSCRIBE", err);
        freeReplyObject(rep);
    }
    if (rc < 0)
        redisFree(k.ctx);
    else
        *out = k.ctx;
    return rc;
}

/* Hands one reply to the subscriber when it is a message ("message", channel, payload). */
static void sub_deliver(struct rsub *s, const redisReply *rep)
{
    const redisReply *kind, *body;

    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3)
        return;
    kind = rep->element[0];
    body = rep->element[2];
    if (kind->type == REDIS_REPLY_STRING && kind->len == 7 &&
        memcmp(kind->str, "message", 7) == 0 && body->type == REDIS_REPLY_STRING)
        s->fn(s->ctx, body->str, body->len);
}

/* Waits until the socket is readable (true) or closing asked to stop (false). */
static bool sub_wait(struct rsub *s, int fd, int timeout_ms)
{
    struct pollfd p[2] = {{fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
    int n = fd >= 0 ? 2 : 1;
    struct pollfd *ps = fd >= 0 ? p : p + 1;

    while (!atomic_load(&s->stop)) {
        int rc = poll(ps, (nfds_t)n, timeout_ms);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return false;
        return !atomic_load(&s->stop) && fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR));
    }
    return false;
}

/* Reads messages until the connection fails or closing asks to stop. */
static void sub_listen(struct rsub *s, redisContext *ctx)
{
    for (;;) {
        void *rep = NULL;
        while (redisGetReplyFromReader(ctx, &rep) == REDIS_OK && rep) {
            sub_deliver(s, rep);
            freeReplyObject(rep);
            rep = NULL;
        }
        if (ctx->err || !sub_wait(s, ctx->fd, -1) || redisBufferRead(ctx) != REDIS_OK)
            return;
    }
}

static void sub_report(struct rsub *s, bool up, const char *why)
{
    if (up && s->failing)
        tt_info("cache: subscribed to %s on Redis at %s again", s->channel, s->r->addr.where);
    else if (!up && !s->failing)
        tt_warn("cache: subscription to %s on Redis at %s lost, retrying every %d ms: %s",
                s->channel, s->r->addr.where, s->r->retry_ms, why);
    s->failing = !up;
}

static void *sub_main(void *arg)
{
    struct rsub *s = arg;
    sigset_t old;

    /* The thread's own writes (SUBSCRIBE) to a reset socket must not kill the process. */
    sigpipe_block(&old);
    while (!atomic_load(&s->stop)) {
        redisContext *ctx = NULL;
        tt_err err = {0};
        if (sub_open(s, &ctx, &err) < 0) {
            sub_report(s, false, err.message);
            sub_wait(s, -1, s->r->retry_ms);
            continue;
        }
        sub_report(s, true, NULL);
        atomic_store(&s->live, true);
        sub_listen(s, ctx);
        atomic_store(&s->live, false);
        if (!atomic_load(&s->stop))
            sub_report(s, false, ctx->errstr[0] ? ctx->errstr : "connection closed");
        redisFree(ctx);
    }
    return NULL;
}

static void rsub_free(struct rsub *s)
{
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    free(s->channel);
    free(s);
}

static int redis_subscribe(void *self, const char *channel, tt_cache_msg_fn fn, void *ctx,
                           void **out, tt_err *err)
{
    struct rsub *s = tt_calloc(1, sizeof(*s));
    char name[300];

    channel_name(self, channel, name, sizeof(name));
    s->r = self;
    s->channel = tt_strdup(name);
    s->fn = fn;
    s->ctx = ctx;
    s->wake[0] = s->wake[1] = -1;
    atomic_init(&s->stop, false);
    atomic_init(&s->live, false);
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rsub_free(s);
        return tt_err_set(err, TT_EINTERNAL, "cannot make a pipe: %s", strerror(errno));
    }
    if (pthread_create(&s->thread, NULL, sub_main, s) != 0) {
        rsub_free(s);
        return tt_err_set(err, TT_EINTERNAL, "cannot start the subscription thread");
    }
    *out = s;
    return 0;
}

static bool redis_sub_live(const void *sub)
{
    struct rsub *s = (struct rsub *)sub;

    return atomic_load(&s->live);
}

static void redis_sub_close(void *sub)
{
    struct rsub *s = sub;
    ssize_t n;

    atomic_store(&s->stop, true);
    n = write(s->wake[1], "x", 1);
    (void)n; /* a full pipe already wakes the thread */
    pthread_join(s->thread, NULL);
    rsub_free(s);
}

static void addr_release(struct redis_addr *a)
{
    free(a->host);
    free(a->path);
    free(a->user);
    free(a->pass);
}

static void redis_close(void *self)
{
    struct rcache *r = self;

    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    pool_flush(r);
    pthread_mutex_unlock(&r->lock);
    pthread_cond_destroy(&r->freed);
    pthread_mutex_destroy(&r->lock);
    free(r->idle);
    addr_release(&r->addr);
    free(r);
}

static const struct tt_cache_ops redis_ops = {
    .name = "redis",
    .shared = true,
    .close = redis_close,
    .get = redis_get,
    .put = redis_put,
    .drop_group = redis_drop_group,
    .clear = redis_clear,
    .usage = redis_usage,
    .healthy = redis_healthy,
    .publish = redis_publish,
    .subscribe = redis_subscribe,
    .sub_live = redis_sub_live,
    .sub_close = redis_sub_close,
};

/* ---- URL ----------------------------------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes @n bytes of @s into *@out (NULL when @n is 0): passwords may be encoded. */
static int pct_decode(const char *s, size_t n, char **out, tt_err *err)
{
    char *d;
    size_t j = 0;

    *out = NULL;
    if (n == 0)
        return 0;
    d = tt_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
            if (lo < 0) {
                free(d);
                return tt_err_set_field(err, TT_ECONFIG, "REDIS_URL",
                                        "REDIS_URL has a malformed %%-escape in its user info");
            }
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[j++] = s[i];
        }
    }
    d[j] = '\0';
    *out = d;
    return 0;
}

/* "[user]:password" between @s and @end. */
static int parse_userinfo(const char *s, const char *end, struct redis_addr *a, tt_err *err)
{
    const char *colon = memchr(s, ':', (size_t)(end - s));
    int rc;

    if (!colon)
        return tt_err_set_field(err, TT_ECONFIG, "REDIS_URL",
                                "REDIS_URL: write the password after a colon, "
                                "redis://:PASSWORD@HOST or redis://USER:PASSWORD@HOST");
    rc = pct_decode(s, (size_t)(colon - s), &a->user, err);
    if (rc == 0)
        rc = pct_decode(colon + 1, (size_t)(end - colon - 1), &a->pass, err);
    if (rc == 0 && !a->pass)
        a->pass = tt_strdup("");
    return rc;
}

/* Digits only, in [lo, hi]. */
static int parse_num(const char *s, const char *end, long lo, long hi, long *out)
{
    long v = 0;

    if (s == end || end - s > 9)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* "host[:port]" or "[v6]:port" between @s and @end. */
static int parse_hostport(const char *s, const char *end, struct redis_addr *a, tt_err *err)
{
    const char *h = s, *hend, *rest;
    long port = 6379;

    if (*s == '[') {
        h = s + 1;
        hend = memchr(h, ']', (size_t)(end - h));
        rest = hend ? hend + 1 : end;
    } else {
        hend = memchr(s, ':', (size_t)(end - s));
        hend = hend ? hend : end;
        rest = hend;
    }
    if (!hend || hend == h)
        return tt_err_set_field(err, TT_ECONFIG, "REDIS_URL", "REDIS_URL has no host");
    if (rest < end && (*rest != ':' || parse_num(rest + 1, end, 1, 65535, &port) < 0))
        return tt_err_set_field(err, TT_ECONFIG, "REDIS_URL",
                                "REDIS_URL has a bad port: expected 1..65535 after the host");
    a->host = tt_strndup(h, (size_t)(hend - h));
    a->port = (int)port;
    snprintf(a->where, sizeof(a->where), "%s%s%s:%d", *s == '[' ? "[" : "", a->host,
             *s == '[' ? "]" : "", a->port);
    return 0;
}

/* redis://[[user]:password@]host[:port][/db] */
static int parse_tcp(const char *s, struct redis_addr *a, tt_err *err)
{
    const char *end = s + strlen(s), *slash = strchr(s, '/');
    const char *auth_end = slash ? slash : end;
    const char *at = memrchr(s, '@', (size_t)(auth_end - s));
    long db = 0;
    int rc = 0;

    if (at)
        rc = parse_userinfo(s, at, a, err);
    if (rc == 0)
        rc = parse_hostport(at ? at + 1 : s, auth_end, a, err);
    if (rc == 0 && slash && slash + 1 < end && parse_num(slash + 1, end, 0, 1 << 20, &db) < 0)
        rc = tt_err_set_field(err, TT_ECONFIG, "REDIS_URL",
                              "REDIS_URL has a bad database: expected a number after the '/'");
    a->db = (int)db;
    return rc;
}

static int parse_url(const char *url, struct redis_addr *a, tt_err *err)
{
    if (strncmp(url, "unix://", 7) == 0) {
        if (url[7] != '/')
            return tt_err_set_field(err, TT_ECONFIG, "REDIS_URL",
                                    "REDIS_URL: a unix socket is unix:///ABSOLUTE/PATH");
        a->path = tt_strdup(url + 7);
        snprintf(a->where, sizeof(a->where), "%s", a->path);
        return 0;
    }
    return parse_tcp(url + strlen("redis://"), a, err);
}

/* ---- open ---------------------------------------------------------------------------- */

static void rcache_init(struct rcache *r, const tt_cache_params *p)
{
    pthread_condattr_t ca;

    r->timeout_ms = p->timeout_ms;
    r->retry_ms = p->retry_ms;
    r->pool_size = p->pool_size;
    r->tv.tv_sec = p->timeout_ms / 1000;
    r->tv.tv_usec = (p->timeout_ms % 1000) * 1000;
    r->guard_sigpipe = !sigpipe_ignored();
    r->idle = tt_calloc((size_t)p->pool_size, sizeof(*r->idle));
    r->healthy = true;
    pthread_mutex_init(&r->lock, NULL);
    /* Pool waits use the monotonic clock, so a wall-clock step cannot stretch them. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->freed, &ca);
    pthread_condattr_destroy(&ca);
}

int tt__cache_redis_open(const tt_cache_params *p, const struct tt_cache_ops **ops, void **self,
                         tt_err *err)
{
    struct rcache *r = tt_calloc(1, sizeof(*r));
    int rc = parse_url(p->url, &r->addr, err);

    if (rc < 0) {
        addr_release(&r->addr);
        free(r);
        return rc;
    }
    rcache_init(r, p);
    /*
     * Connect now, so a reachable Redis is ready for the first request and an unreachable
     * one is reported at startup. Failing is not an error: the cache starts down and retries.
     */
    run(r, op_ping, NULL, NULL);
    *ops = &redis_ops;
    *self = r;
    return 0;
}

const char *tt_cache_redis_version(void)
{
#define TT_STR_(x) #x
#define TT_STR(x) TT_STR_(x)
    return "redis (hiredis " TT_STR(HIREDIS_MAJOR) "." TT_STR(HIREDIS_MINOR) "." TT_STR(
        HIREDIS_PATCH) ")";
#undef TT_STR
#undef TT_STR_
}
