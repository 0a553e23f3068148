/*
 * journal.c - the feedback write-ahead journal (tt/journal.h).
 *
 * File: a 16-byte header ("TTJRNL01", u32 format version 1, u32 zero), then records:
 *   u32 magic "TJR1", u32 payload length, u32 CRC-32 of the payload, the payload:
 *   i64 occurred_at, i64 ms_played, u32 weight (IEEE bits), u8 action, then five strings
 *   (user, track, context, recommendation id, event id), each a u16 length (0xFFFF: none)
 *   and its bytes. Little-endian throughout.
 * Each record goes out in one pwrite and is fdatasync'd before the append returns; a failed
 * write is cut back off, so the file holds whole records only, or a torn tail after a crash.
 */
#include "tt/journal.h"
#include "tt/core.h"
#include "tt/fileio.h"

#include "tt/byteorder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_LEN 16
#define REC_HEAD 12
#define REC_MAGIC 0x31524A54u /* "TJR1" */
#define FIXED_LEN 21          /* occurred_at, ms_played, weight, action */
#define STR_NONE 0xFFFFu
#define STR_MAX 1024
#define N_STR 5

static const char header_magic[8] = {'T', 'T', 'J', 'R', 'N', 'L', '0', '1'};

struct tt_journal {
    pthread_mutex_t lock;
    int fd;
    char path[1100];
    int64_t max_bytes;
    int64_t end;      /* bytes of whole records, header included */
    int64_t replayed; /* records before this offset are in the database */
    int64_t pending;
    uint64_t instance; /* names the event ids this process gives */
    uint64_t seq;
};

static const char **str_slot(tt_interaction_rec *r, int i)
{
    switch (i) {
    case 0: return &r->user_id;
    case 1: return &r->track_id;
    case 2: return &r->context;
    case 3: return &r->recommendation_id;
    default: return &r->event_id;
    }
}

/* Encodes @r into @p (room for TT_JOURNAL_REC_MAX bytes): the record's length, or -1. */
static long encode(const tt_interaction_rec *r, uint8_t *p)
{
    tt_interaction_rec c = *r;
    size_t off = REC_HEAD;
    uint32_t wbits;

    tt__put_i64(p + off, r->occurred_at);
    tt__put_i64(p + off + 8, r->ms_played);
    memcpy(&wbits, &r->weight, 4);
    tt__put_u32(p + off + 16, wbits);
    p[off + 20] = (uint8_t)r->action;
    off += FIXED_LEN;
    for (int i = 0; i < N_STR; i++) {
        const char *s = *str_slot(&c, i);
        size_t n = s ? strlen(s) : 0;
        if (n > STR_MAX)
            return -1;
        p[off] = (uint8_t)((s ? n : STR_NONE) & 0xFF);
        p[off + 1] = (uint8_t)((s ? n : STR_NONE) >> 8);
        off += 2;
        memcpy(p + off, s ? s : "", n);
        off += n;
    }
    tt__put_u32(p, REC_MAGIC);
    tt__put_u32(p + 4, (uint32_t)(off - REC_HEAD));
    tt__put_u32(p + 8, tt_crc32(0, p + REC_HEAD, off - REC_HEAD));
    return (long)off;
}

int tt_journal_decode(const uint8_t *p, size_t n, size_t *used, tt_journal_rec *out)
{
    uint32_t len, wbits;
    size_t off, b = 0;
    const uint8_t *q;

    if (n < REC_HEAD)
        return 1;
    len = tt__get_u32(p + 4);
    if (tt__get_u32(p) != REC_MAGIC || len < FIXED_LEN + 2 * N_STR ||
        len > TT_JOURNAL_REC_MAX - REC_HEAD)
        return TT_ECORRUPT;
    if (n - REC_HEAD < len)
        return 1;
    q = p + REC_HEAD;
    if (tt_crc32(0, q, len) != tt__get_u32(p + 8))
        return TT_ECORRUPT;
    memset(&out->r, 0, sizeof(out->r));
    out->r.occurred_at = tt__get_i64(q);
    out->r.ms_played = tt__get_i64(q + 8);
    wbits = tt__get_u32(q + 16);
    memcpy(&out->r.weight, &wbits, 4);
    if (q[20] >= TT_ACT_COUNT)
        return TT_ECORRUPT;
    out->r.action = (enum tt_action)q[20];
    off = FIXED_LEN;
    for (int i = 0; i < N_STR; i++) {
        unsigned sl;
        if (len - off < 2)
            return TT_ECORRUPT;
        sl = (unsigned)q[off] | ((unsigned)q[off + 1] << 8);
        off += 2;
        if (sl == STR_NONE) {
            *str_slot(&out->r, i) = NULL;
            continue;
        }
        if (sl > STR_MAX || len - off < sl || memchr(q + off, '\0', sl) ||
            b + sl + 1 > sizeof(out->buf))
            return TT_ECORRUPT;
        memcpy(out->buf + b, q + off, sl);
        out->buf[b + sl] = '\0';
        *str_slot(&out->r, i) = out->buf + b;
        b += sl + 1;
        off += sl;
    }
    if (off != len || !out->r.user_id || !out->r.track_id)
        return TT_ECORRUPT;
    *used = REC_HEAD + len;
    return 0;
}

static int read_at(int fd, uint8_t *buf, size_t n, int64_t off, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t k = pread(fd, buf + *got, n - *got, (off_t)(off + (int64_t)*got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return 0;
}

/* Reads the record at @off: 0 with *used, 1 at a (possibly torn) end, TT_ECORRUPT. */
static int read_rec(tt_journal *j, int64_t off, int64_t limit, tt_journal_rec *out,
                    size_t *used, tt_err *err)
{
    uint8_t buf[TT_JOURNAL_REC_MAX];
    size_t want = (size_t)(limit - off < TT_JOURNAL_REC_MAX ? limit - off : TT_JOURNAL_REC_MAX);
    size_t got;

    if (read_at(j->fd, buf, want, off, &got) < 0)
        return tt_err_set(err, TT_EIO, "%s: read: %s", j->path, strerror(errno));
    return tt_journal_decode(buf, got, used, out);
}

/*
 * Creates "<journal>.damaged-<unix time>" for damaged bytes, never over an earlier one: two
 * damaged tails met within a second (a crash loop) are each kept. The fd, or -1 with errno.
 */
static int create_aside(const tt_journal *j, char *aside, size_t cap)
{
    long long now = (long long)tt_unix_time();
    int fd = -1;

    for (int k = 0; k < 1000 && fd < 0; k++) {
        if (k == 0)
            snprintf(aside, cap, "%s.damaged-%lld", j->path, now);
        else
            snprintf(aside, cap, "%s.damaged-%lld-%d", j->path, now, k);
        fd = open(aside, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    return fd;
}

/* Keeps the bytes from @off on in a file of their own, then cuts the journal there. */
static int cut_tail(tt_journal *j, int64_t off, int64_t size, tt_err *err)
{
    char aside[1200];
    uint8_t buf[65536];
    int out = create_aside(j, aside, sizeof(aside));

    if (out < 0)
        return tt_err_set(err, TT_EIO, "%s: %s", aside, strerror(errno));
    for (int64_t at = off; at < size;) {
        size_t got;
        if (read_at(j->fd, buf, sizeof(buf), at, &got) < 0 || got == 0 ||
            write(out, buf, got) != (ssize_t)got) {
            close(out);
            return tt_err_set(err, TT_EIO, "%s: %s", aside, strerror(errno));
        }
        at += (int64_t)got;
    }
    if (fsync(out) < 0 || close(out) < 0)
        return tt_err_set(err, TT_EIO, "%s: %s", aside, strerror(errno));
    tt_warn("feedback journal %s: %lld damaged bytes at offset %lld cut off (kept in %s)",
            j->path, (long long)(size - off), (long long)off, aside);
    if (ftruncate(j->fd, (off_t)off) < 0 || fdatasync(j->fd) < 0)
        return tt_err_set(err, TT_EIO, "%s: truncate: %s", j->path, strerror(errno));
    return 0;
}

static int write_all(int fd, const void *p, size_t n, int64_t off)
{
    size_t done = 0;

    while (done < n) {
        ssize_t k = pwrite(fd, (const char *)p + done, n - done, (off_t)(off + (int64_t)done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        done += (size_t)k;
    }
    return 0;
}

static int init_header(tt_journal *j, tt_err *err)
{
    uint8_t h[HEADER_LEN] = {0};

    memcpy(h, header_magic, 8);
    tt__put_u32(h + 8, 1);
    if (ftruncate(j->fd, 0) < 0 || write_all(j->fd, h, sizeof(h), 0) < 0 ||
        fdatasync(j->fd) < 0)
        return tt_err_set(err, errno == ENOSPC ? TT_EFULL : TT_EIO, "%s: %s", j->path,
                          strerror(errno));
    j->end = j->replayed = HEADER_LEN;
    return 0;
}

/* Reads the header and every whole record; cuts off what follows the last good one. */
static int scan(tt_journal *j, tt_err *err)
{
    struct stat st;
    uint8_t h[HEADER_LEN];
    size_t got;
    int64_t off = HEADER_LEN;
    tt_journal_rec *rec;
    int rc = 0;

    if (fstat(j->fd, &st) < 0)
        return tt_err_set(err, TT_EIO, "%s: %s", j->path, strerror(errno));
    if (st.st_size == 0)
        return init_header(j, err);
    if (read_at(j->fd, h, sizeof(h), 0, &got) < 0 || got < sizeof(h) ||
        memcmp(h, header_magic, 8) != 0 || tt__get_u32(h + 8) != 1)
        return tt_err_set(err, TT_ECORRUPT,
                          "%s is not a feedback journal of this version (move it away to "
                          "start a new one; its events are not replayed)",
                          j->path);
    rec = tt_malloc(sizeof(*rec));
    while (off < (int64_t)st.st_size) {
        size_t used;
        rc = read_rec(j, off, (int64_t)st.st_size, rec, &used, err);
        if (rc != 0)
            break;
        off += (int64_t)used;
        j->pending++;
    }
    free(rec);
    if (rc < 0 && rc != TT_ECORRUPT)
        return rc;
    if (off < (int64_t)st.st_size && (rc = cut_tail(j, off, (int64_t)st.st_size, err)) < 0)
        return rc;
    j->end = off;
    j->replayed = HEADER_LEN;
    return 0;
}

int tt_journal_open(const char *path, int64_t max_bytes, tt_journal **out, tt_err *err)
{
    tt_journal *j;
    char dir[1100];
    char *slash;
    int rc;

    *out = NULL;
    if (strlen(path) >= sizeof(j->path) - 32)
        return tt_err_set(err, TT_ECONFIG, "journal path too long: %s", path);
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if ((rc = tt_mkdirs(dir, err)) < 0)
            return rc;
    }
    j = tt_calloc(1, sizeof(*j));
    snprintf(j->path, sizeof(j->path), "%s", path);
    j->max_bytes = max_bytes < 4096 ? 4096 : max_bytes;
    j->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        rc = tt_err_set(err, TT_EIO, "cannot open the feedback journal %s: %s", path,
                        strerror(errno));
        free(j);
        return rc;
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
        rc = tt_err_set(err, TT_EBACKEND,
                        "the feedback journal %s is in use by another process (give each "
                        "engine its own FEEDBACK_JOURNAL)",
                        path);
        close(j->fd);
        free(j);
        return rc;
    }
    rc = scan(j, err);
    if (rc < 0) {
        close(j->fd);
        free(j);
        return rc;
    }
    {
        uint64_t seed[3] = {(uint64_t)getpid(), (uint64_t)(tt_now() * 1e9), (uint64_t)(uintptr_t)j};
        j->instance = tt_hash64(seed, sizeof(seed));
    }
    pthread_mutex_init(&j->lock, NULL);
    *out = j;
    return 0;
}

void tt_journal_close(tt_journal *j)
{
    if (!j)
        return;
    close(j->fd); /* releases the lock */
    pthread_mutex_destroy(&j->lock);
    free(j);
}

/* Caller holds j->lock. */
static void next_event_id(tt_journal *j, char *id, size_t cap)
{
    snprintf(id, cap, "tt-j-%016llx-%llu", (unsigned long long)j->instance,
             (unsigned long long)++j->seq);
}

void tt_journal_new_event_id(tt_journal *j, char *id, size_t cap)
{
    pthread_mutex_lock(&j->lock);
    next_event_id(j, id, cap);
    pthread_mutex_unlock(&j->lock);
}

int tt_journal_append(tt_journal *j, const tt_interaction_rec *r, char *id, size_t cap,
                      tt_err *err)
{
    uint8_t buf[TT_JOURNAL_REC_MAX];
    tt_interaction_rec c = *r;
    char gen[64];
    long n;
    int rc = 0;

    if ((rc = tt_store_check_interaction(r, err)) < 0)
        return rc;
    pthread_mutex_lock(&j->lock);
    if (!c.event_id) {
        next_event_id(j, gen, sizeof(gen));
        c.event_id = gen;
    }
    n = encode(&c, buf);
    if (n < 0)
        rc = tt_err_set(err, TT_EINVAL, "event too large for the journal");
    else if (j->end + n > j->max_bytes)
        rc = tt_err_set(err, TT_EFULL,
                        "the feedback journal is full (%lld bytes, FEEDBACK_JOURNAL_MB) while "
                        "the database is unavailable",
                        (long long)j->end);
    else if (write_all(j->fd, buf, (size_t)n, j->end) < 0 || fdatasync(j->fd) < 0) {
        int e = errno;
        /* Nothing of a failed record stays: the file keeps whole records only. */
        if (ftruncate(j->fd, (off_t)j->end) < 0)
            tt_warn("feedback journal %s: cannot cut a failed write: %s", j->path,
                    strerror(errno));
        rc = tt_err_set(err, e == ENOSPC || e == EDQUOT ? TT_EFULL : TT_EIO,
                        "cannot write the feedback journal %s: %s", j->path, strerror(e));
    } else {
        j->end += n;
        j->pending++;
    }
    if (rc == 0 && id && cap)
        snprintf(id, cap, "%s", c.event_id);
    pthread_mutex_unlock(&j->lock);
    return rc;
}

int64_t tt_journal_pending(tt_journal *j)
{
    int64_t n;

    pthread_mutex_lock(&j->lock);
    n = j->pending;
    pthread_mutex_unlock(&j->lock);
    return n;
}

int64_t tt_journal_bytes(tt_journal *j)
{
    int64_t n;

    pthread_mutex_lock(&j->lock);
    n = j->end;
    pthread_mutex_unlock(&j->lock);
    return n;
}

int tt_journal_next(tt_journal *j, tt_journal_rec *out, int64_t *pos, tt_err *err)
{
    size_t used;
    int rc;

    pthread_mutex_lock(&j->lock);
    if (j->replayed >= j->end) {
        pthread_mutex_unlock(&j->lock);
        return 0;
    }
    *pos = j->replayed;
    rc = read_rec(j, j->replayed, j->end, out, &used, err);
    pthread_mutex_unlock(&j->lock);
    if (rc == 1 || rc == TT_ECORRUPT)
        return tt_err_set(err, TT_ECORRUPT, "%s: record at %lld unreadable", j->path,
                          (long long)*pos);
    return rc < 0 ? rc : 1;
}

int tt_journal_done(tt_journal *j, int64_t pos, tt_err *err)
{
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    size_t used;
    int rc = 0;

    pthread_mutex_lock(&j->lock);
    if (pos != j->replayed) {
        rc = tt_err_set(err, TT_ESTATE, "journal records must be replayed in order");
    } else if ((rc = read_rec(j, pos, j->end, rec, &used, err)) == 0) {
        j->replayed += (int64_t)used;
        j->pending--;
        /* Everything is in the database: start the file over. */
        if (j->replayed == j->end) {
            if (ftruncate(j->fd, HEADER_LEN) < 0 || fdatasync(j->fd) < 0)
                rc = tt_err_set(err, TT_EIO, "%s: truncate: %s", j->path, strerror(errno));
            else
                j->end = j->replayed = HEADER_LEN;
        }
    } else if (rc > 0) {
        rc = tt_err_set(err, TT_ECORRUPT, "%s: record at %lld unreadable", j->path,
                        (long long)pos);
    }
    pthread_mutex_unlock(&j->lock);
    free(rec);
    return rc;
}

int tt_journal_each(tt_journal *j, tt_journal_fn fn, void *ctx, tt_err *err)
{
    tt_journal_rec *rec = tt_malloc(sizeof(*rec));
    int rc = 0;

    pthread_mutex_lock(&j->lock);
    for (int64_t off = j->replayed; off < j->end;) {
        size_t used;
        rc = read_rec(j, off, j->end, rec, &used, err);
        if (rc != 0) {
            if (rc > 0)
                rc = tt_err_set(err, TT_ECORRUPT, "%s: record at %lld unreadable", j->path,
                                (long long)off);
            break;
        }
        off += (int64_t)used;
        if (fn(&rec->r, ctx) != 0)
            break;
    }
    pthread_mutex_unlock(&j->lock);
    free(rec);
    return rc;
}
