/*
 * TensorBoard event files: TFRecord framing around protobuf-encoded tensorflow.Event
 * messages, with the few protobuf rules they need written out here rather than pulling in a
 * protobuf library for three messages.
 *
 * The messages and field numbers are those of tensorflow/core/util/event.proto and
 * tensorflow/core/framework/summary.proto (tests/proto/tfevent.proto is the subset):
 *   Event         1 wall_time double, 2 step int64, 3 file_version string, 5 summary Summary
 *   Summary       1 value repeated Summary.Value
 *   Summary.Value 1 tag string, 2 simple_value float (a member of oneof value)
 * Fields are written in field-number order and proto3 defaults are left out (step 0 is
 * absent; simple_value, being in a oneof, is always present), which is what the protobuf
 * library itself produces for the same message.
 *
 * Each record goes to the file in one write(), so TensorBoard, which reads files while they
 * grow, sees whole records or a partial last one, which it waits on.
 */
#include "tt/tfevents.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tt/byteorder.h"
#include "tt/core.h"
#include "tt/fileio.h"

/* Protobuf wire types. */
enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };

/* A growable byte buffer; the writer keeps its buffers and reuses them for every record. */
typedef struct pbuf {
    uint8_t *p;
    size_t n, cap;
} pbuf;

struct tt_tfevents {
    int fd;
    int failed; /* a write failed: the file may end mid-record, so nothing more is appended */
    char path[1200];
    pbuf value, summary, event, record;
};

/* CRC-32C */

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0x82f63b78u ^ (c >> 1) : c >> 1;
        crc32c_table[i] = c;
    }
}

uint32_t tt_crc32c(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t c = 0xffffffffu;

    pthread_once(&crc32c_once, crc32c_init);
    for (size_t i = 0; i < n; i++)
        c = crc32c_table[(c ^ b[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

/*
 * TFRecord stores CRCs masked, because a CRC computed over data that itself contains CRCs
 * is weak (the TensorFlow comment: "it is problematic to compute the CRC of a string that
 * contains embedded CRCs").
 */
static uint32_t crc_masked(const void *p, size_t n)
{
    uint32_t c = tt_crc32c(p, n);

    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* Protobuf encoding */

static uint8_t *pb_reserve(pbuf *b, size_t n)
{
    TT_GROW(b->p, b->cap, b->n + n);
    b->n += n;
    return b->p + b->n - n;
}

static void pb_bytes(pbuf *b, const void *p, size_t n)
{
    if (n > 0)
        memcpy(pb_reserve(b, n), p, n);
}

static void pb_varint(pbuf *b, uint64_t v)
{
    while (v >= 0x80) {
        *pb_reserve(b, 1) = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *pb_reserve(b, 1) = (uint8_t)v;
}

static void pb_key(pbuf *b, uint32_t field, int wire)
{
    pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

static void pb_double(pbuf *b, uint32_t field, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    pb_key(b, field, WIRE_FIXED64);
    tt__put_u64(pb_reserve(b, 8), bits);
}

static void pb_float(pbuf *b, uint32_t field, float v)
{
    uint32_t bits;

    memcpy(&bits, &v, sizeof(bits));
    pb_key(b, field, WIRE_FIXED32);
    tt__put_u32(pb_reserve(b, 4), bits);
}

/* A string, bytes or embedded message: key, length, then the bytes. */
static void pb_len(pbuf *b, uint32_t field, const void *p, size_t n)
{
    pb_key(b, field, WIRE_LEN);
    pb_varint(b, n);
    pb_bytes(b, p, n);
}

/* Records */

/* Seconds since the epoch, to the microsecond, as TensorFlow's writers stamp events. */
static double wall_time(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)(ts.tv_nsec / 1000) / 1e6;
}

/* The start of every Event: wall_time, and step unless it is proto3's default 0. */
static void event_begin(pbuf *e, int64_t step)
{
    e->n = 0;
    pb_double(e, 1, wall_time());
    if (step != 0) {
        pb_key(e, 2, WIRE_VARINT);
        /* int64 is two's complement in 10 varint bytes when negative. */
        pb_varint(e, (uint64_t)step);
    }
}

static int write_all(tt_tfevents *w, const uint8_t *p, size_t n, tt_err *err)
{
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->failed = 1;
            return tt_err_set(err, TT_EIO, "cannot write %s: %s", w->path,
                              k < 0 ? strerror(errno) : "no progress");
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Frames w->event as one TFRecord and appends it to the file. */
static int record_write(tt_tfevents *w, tt_err *err)
{
    pbuf *r = &w->record;
    uint8_t *len;

    if (w->failed)
        return tt_err_set(err, TT_EIO, "%s: an earlier write failed; not appending", w->path);
    r->n = 0;
    len = pb_reserve(r, 8);
    tt__put_u64(len, (uint64_t)w->event.n);
    tt__put_u32(pb_reserve(r, 4), crc_masked(r->p, 8));
    pb_bytes(r, w->event.p, w->event.n);
    tt__put_u32(pb_reserve(r, 4), crc_masked(w->event.p, w->event.n));
    return write_all(w, r->p, r->n, err);
}

int tt_tfevents_scalar(tt_tfevents *w, const char *tag, int64_t step, double value, tt_err *err)
{
    /* Converting a double beyond the float range is undefined behaviour in C; saturate. */
    float v = value > FLT_MAX ? INFINITY : value < -FLT_MAX ? -INFINITY : (float)value;

    if (!w || !tag || !tag[0])
        return tt_err_set(err, TT_EINVAL, "a writer and a non-empty tag are required");
    w->value.n = 0;
    pb_len(&w->value, 1, tag, strlen(tag));
    pb_float(&w->value, 2, v);
    w->summary.n = 0;
    pb_len(&w->summary, 1, w->value.p, w->value.n);
    event_begin(&w->event, step);
    pb_len(&w->event, 5, w->summary.p, w->summary.n);
    return record_write(w, err);
}

/* Files */

/* gethostname with every character outside [A-Za-z0-9._-] replaced, so it fits a file name. */
static void host_name(char *buf, size_t cap)
{
    if (gethostname(buf, cap) != 0 || !buf[0])
        snprintf(buf, cap, "localhost");
    buf[cap - 1] = '\0';
    for (char *c = buf; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                 *c == '.' || *c == '_' || *c == '-';
        if (!ok)
            *c = '_';
    }
}

/*
 * Creates the file with O_EXCL, so two writers starting in the same second (or a name left
 * by an earlier run) never share a file: a taken name gets ".1", ".2", ... appended.
 */
static int file_create(tt_tfevents *w, const char *dir, tt_err *err)
{
    char host[256];
    int n;

    host_name(host, sizeof(host));
    n = snprintf(w->path, sizeof(w->path), "%s/events.out.tfevents.%lld.%s", dir,
                 (long long)time(NULL), host);
    /* Room for the longest suffix, ".999". */
    if (n < 0 || (size_t)n + 5 > sizeof(w->path))
        return tt_err_set(err, TT_EINVAL, "event file path too long in %s", dir);
    for (int i = 0; i < 1000; i++) {
        if (i > 0)
            snprintf(w->path + n, sizeof(w->path) - (size_t)n, ".%d", i);
        w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
        if (w->fd >= 0)
            return 0;
        if (errno != EEXIST)
            return tt_err_set(err, TT_EIO, "cannot create %s: %s", w->path, strerror(errno));
    }
    return tt_err_set(err, TT_EIO, "cannot create an event file in %s: every name is taken", dir);
}

static void writer_free(tt_tfevents *w)
{
    if (w->fd >= 0)
        close(w->fd);
    free(w->value.p);
    free(w->summary.p);
    free(w->event.p);
    free(w->record.p);
    free(w);
}

int tt_tfevents_open(const char *dir, tt_tfevents **out, tt_err *err)
{
    static const char version[] = "brain.Event:2";
    tt_tfevents *w;
    int rc;

    if (!dir || !dir[0] || !out)
        return tt_err_set(err, TT_EINVAL, "a directory and an output handle are required");
    rc = tt_mkdirs(dir, err);
    if (rc < 0)
        return rc;
    w = tt_calloc(1, sizeof(*w));
    w->fd = -1;
    rc = file_create(w, dir, err);
    if (rc == 0) {
        event_begin(&w->event, 0);
        pb_len(&w->event, 3, version, sizeof(version) - 1);
        rc = record_write(w, err);
        if (rc < 0)
            unlink(w->path);
    }
    if (rc < 0) {
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int tt_tfevents_flush(tt_tfevents *w, tt_err *err)
{
    if (!w)
        return tt_err_set(err, TT_EINVAL, "a writer is required");
    if (fsync(w->fd) != 0)
        return tt_err_set(err, TT_EIO, "cannot sync %s: %s", w->path, strerror(errno));
    return 0;
}

const char *tt_tfevents_path(const tt_tfevents *w)
{
    return w ? w->path : NULL;
}

void tt_tfevents_close(tt_tfevents *w)
{
    if (!w)
        return;
    tt_tfevents_flush(w, NULL);
    writer_free(w);
}
