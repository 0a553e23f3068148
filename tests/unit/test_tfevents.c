/*
 * TensorBoard event files: CRC-32C test vectors, files decoded by a minimal TFRecord and
 * protobuf reader written here (framing, both masked CRCs, every field), damaged files
 * refused by that reader, the file name and its suffix when the name is taken.
 *
 * The `export` test writes a fixed series; with TT_TFEVENTS_OUT set it writes it into that
 * directory, where tests/tfevents/run decodes it with the protobuf library.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/fileio.h"
#include "tt/tfevents.h"

#define MAX_EVENTS 64

/* One decoded Event; absent fields keep proto3 defaults (0, ""). */
typedef struct event {
    double wall_time;
    int64_t step;
    char file_version[32];
    int values; /* Summary.Value count */
    char tag[64];
    float value;
} event;

/* A byte range being decoded. */
typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;

    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t masked(const uint8_t *p, size_t n)
{
    uint32_t c = tt_crc32c(p, n);

    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static int get_varint(cursor *c, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && c->p < c->end; shift += 7) {
        uint8_t b = *c->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -1;
}

/* The next field: its number, wire type and, for length-delimited ones, its bytes. */
static int get_field(cursor *c, uint32_t *field, int *wire, uint64_t *num, cursor *sub)
{
    uint64_t key, n;

    if (get_varint(c, &key) < 0)
        return -1;
    *field = (uint32_t)(key >> 3);
    *wire = (int)(key & 7);
    switch (*wire) {
    case 0:
        return get_varint(c, num);
    case 1:
    case 5:
        n = *wire == 1 ? 8 : 4;
        if ((uint64_t)(c->end - c->p) < n)
            return -1;
        *num = le(c->p, (int)n);
        c->p += n;
        return 0;
    case 2:
        if (get_varint(c, &n) < 0 || (uint64_t)(c->end - c->p) < n)
            return -1;
        sub->p = c->p;
        sub->end = c->p + n;
        c->p += n;
        return 0;
    }
    return -1;
}

static int decode_value(cursor c, event *e)
{
    uint32_t f, bits;
    int wire;
    uint64_t num;
    cursor sub;

    while (c.p < c.end) {
        if (get_field(&c, &f, &wire, &num, &sub) < 0)
            return -1;
        if (f == 1 && wire == 2 && (size_t)(sub.end - sub.p) < sizeof(e->tag)) {
            memcpy(e->tag, sub.p, (size_t)(sub.end - sub.p));
            e->tag[sub.end - sub.p] = '\0';
        } else if (f == 2 && wire == 5) {
            bits = (uint32_t)num;
            memcpy(&e->value, &bits, sizeof(bits));
        } else
            return -1;
    }
    return 0;
}

static int decode_summary(cursor c, event *e)
{
    uint32_t f;
    int wire;
    uint64_t num;
    cursor sub;

    while (c.p < c.end) {
        if (get_field(&c, &f, &wire, &num, &sub) < 0 || f != 1 || wire != 2)
            return -1;
        e->values++;
        if (decode_value(sub, e) < 0)
            return -1;
    }
    return 0;
}

static int decode_event(cursor c, event *e)
{
    uint32_t f;
    int wire;
    uint64_t num;
    cursor sub;

    memset(e, 0, sizeof(*e));
    while (c.p < c.end) {
        if (get_field(&c, &f, &wire, &num, &sub) < 0)
            return -1;
        if (f == 1 && wire == 1)
            memcpy(&e->wall_time, &num, sizeof(num));
        else if (f == 2 && wire == 0)
            e->step = (int64_t)num;
        else if (f == 3 && wire == 2 && (size_t)(sub.end - sub.p) < sizeof(e->file_version))
            memcpy(e->file_version, sub.p, (size_t)(sub.end - sub.p));
        else if (f == 5 && wire == 2) {
            if (decode_summary(sub, e) < 0)
                return -1;
        } else
            return -1;
    }
    return 0;
}

/*
 * Reads every record of the file at @path into @ev (at most MAX_EVENTS). Returns the count,
 * or -1 with @why set on a bad length CRC, bad payload CRC, truncation or undecodable payload.
 */
static int read_events(const char *path, event *ev, const char **why)
{
    tt_map m;
    const uint8_t *p, *end;
    int n = 0;

    cr_assert_eq(tt_map_open(&m, path, NULL), 0, "cannot read %s", path);
    p = m.data;
    end = p + m.size;
    *why = "";
    while (p < end && n < MAX_EVENTS) {
        uint64_t len;
        if (end - p < 12) {
            *why = "truncated header";
            break;
        }
        len = le(p, 8);
        if (le(p + 8, 4) != masked(p, 8)) {
            *why = "length crc";
            break;
        }
        if ((uint64_t)(end - p - 12) < len + 4) {
            *why = "truncated payload";
            break;
        }
        if (le(p + 12 + len, 4) != masked(p + 12, len)) {
            *why = "payload crc";
            break;
        }
        if (decode_event((cursor){p + 12, p + 12 + len}, &ev[n]) < 0) {
            *why = "payload";
            break;
        }
        p += 12 + len + 4;
        n++;
    }
    tt_map_close(&m);
    return (*why)[0] ? -1 : n;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static tt_tfevents *open_writer(const char *dir)
{
    tt_tfevents *w = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_tfevents_open(dir, &w, &err), 0, "%s", err.message);
    cr_assert_not_null(w);
    return w;
}

static void scalar(tt_tfevents *w, const char *tag, int64_t step, double v)
{
    tt_err err = {0};

    cr_assert_eq(tt_tfevents_scalar(w, tag, step, v, &err), 0, "%s", err.message);
}

Test(tfevents, crc32c_test_vectors)
{
    uint8_t zeros[32] = {0}, ones[32];

    memset(ones, 0xff, sizeof(ones));
    cr_assert_eq(tt_crc32c("123456789", 9), 0xe3069283u);
    cr_assert_eq(tt_crc32c("", 0), 0u);
    /* RFC 3720 (iSCSI), appendix B.4. */
    cr_assert_eq(tt_crc32c(zeros, sizeof(zeros)), 0x8a9136aau);
    cr_assert_eq(tt_crc32c(ones, sizeof(ones)), 0x62a8ab43u);
}

/* The first record of an empty TensorFlow event file, bytes after the 8-byte wall time aside. */
Test(tfevents, file_version_record_bytes)
{
    static const uint8_t want[] = {0x18, 0, 0, 0, 0, 0, 0, 0};
    static const char tail[] = "\x1a\x0d"
                               "brain.Event:2";
    char dir[64];
    tt_map m;
    tt_tfevents *w;
    const uint8_t *p;

    fx_tmpdir(dir);
    w = open_writer(dir);
    cr_assert_eq(tt_map_open(&m, tt_tfevents_path(w), NULL), 0);
    p = m.data;
    cr_assert_eq(m.size, 12 + 0x18 + 4);
    cr_assert_eq(memcmp(p, want, 8), 0);
    cr_assert_eq(p[12], 0x09, "wall_time is field 1, wire type 1");
    cr_assert_eq(memcmp(p + 21, tail, sizeof(tail) - 1), 0);
    tt_map_close(&m);
    tt_tfevents_close(w);
    fx_rmtree(dir);
}

Test(tfevents, scalars_decode_with_both_crcs)
{
    static const struct {
        const char *tag;
        int64_t step;
        double v;
    } in[] = {{"train/loss", 0, 0.693147}, {"train/loss", 1, 0.5},   {"eval/hr@10", 1, 0.0},
              {"train/loss", -3, -2.25},   {"big", INT64_MAX, 1e39}, {"small", INT64_MIN, -1e39}};
    const int n = (int)(sizeof(in) / sizeof(in[0]));
    event ev[MAX_EVENTS];
    const char *why;
    char dir[64];
    double t0 = now(), t1;
    tt_tfevents *w;
    int got;

    fx_tmpdir(dir);
    w = open_writer(dir);
    for (int i = 0; i < n; i++)
        scalar(w, in[i].tag, in[i].step, in[i].v);
    cr_assert_eq(tt_tfevents_flush(w, NULL), 0);
    t1 = now();
    got = read_events(tt_tfevents_path(w), ev, &why);
    cr_assert_eq(got, n + 1, "read %d records (%s)", got, why);
    cr_assert_str_eq(ev[0].file_version, "brain.Event:2");
    cr_assert_eq(ev[0].values, 0);
    for (int i = 0; i <= n; i++) {
        cr_assert(ev[i].wall_time >= t0 - 1e-6 && ev[i].wall_time <= t1 + 1e-6);
        cr_assert(i == 0 || ev[i].wall_time >= ev[i - 1].wall_time);
    }
    for (int i = 0; i < n; i++) {
        const event *e = &ev[i + 1];
        /* Beyond the float range the writer saturates to infinity. */
        float want = in[i].v > FLT_MAX ? INFINITY : in[i].v < -FLT_MAX ? -INFINITY : (float)in[i].v;
        cr_assert_eq(e->values, 1);
        cr_assert_str_eq(e->tag, in[i].tag);
        cr_assert_eq(e->step, in[i].step);
        cr_assert_str_eq(e->file_version, "");
        cr_assert(e->value == want, "record %d: %g, want %g", i, (double)e->value, (double)want);
    }
    tt_tfevents_close(w);
    fx_rmtree(dir);
}

static void copy_file(const char *from, const char *to)
{
    tt_map m;

    cr_assert_eq(tt_map_open(&m, from, NULL), 0);
    cr_assert_eq(tt_write_file_atomic(to, m.data, m.size, NULL), 0);
    tt_map_close(&m);
}

/* Flips one byte of a length, of its CRC, of a payload and of a payload CRC; truncates. */
Test(tfevents, reader_refuses_damaged_files)
{
    static const struct {
        int64_t offset; /* from the start of the second record; negative: from the end */
        const char *why;
    } cases[] = {{3, "length crc"}, {9, "length crc"}, {20, "payload crc"}, {-2, "payload crc"}};
    const int64_t second = 12 + 0x18 + 4;
    event ev[MAX_EVENTS];
    const char *why;
    char dir[64], path[1200], copy[128];
    tt_tfevents *w;
    int64_t size;

    fx_tmpdir(dir);
    w = open_writer(dir);
    scalar(w, "loss", 1, 0.25);
    scalar(w, "loss", 2, 0.125);
    snprintf(path, sizeof(path), "%s", tt_tfevents_path(w));
    tt_tfevents_close(w);
    fx_path(copy, sizeof(copy), dir, "copy");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        copy_file(path, copy);
        size = fx_file_size(copy);
        cr_assert_eq(read_events(copy, ev, &why), 3, "%s", why);
        fx_flip_byte(copy, cases[i].offset >= 0 ? second + cases[i].offset : size + cases[i].offset,
                     0x10);
        cr_assert_eq(read_events(copy, ev, &why), -1, "case %zu accepted", i);
        cr_assert_str_eq(why, cases[i].why, "case %zu", i);
    }
    copy_file(path, copy);
    fx_truncate(copy, fx_file_size(copy) - 3);
    cr_assert_eq(read_events(copy, ev, &why), -1);
    cr_assert_str_eq(why, "truncated payload");
    fx_rmtree(dir);
}

/* What the writer makes of gethostname. */
static void expected_host(char *buf, size_t cap)
{
    cr_assert_eq(gethostname(buf, cap), 0);
    buf[cap - 1] = '\0';
    for (char *c = buf; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
            *c = '_';
}

Test(tfevents, file_name_is_stamp_and_host)
{
    char dir[64], sub[128], host[256];
    const char *path, *base;
    long long stamp;
    time_t t0 = time(NULL), t1;
    tt_tfevents *w;
    int used = 0;

    fx_tmpdir(dir);
    fx_path(sub, sizeof(sub), dir, "a/b/logs");
    w = open_writer(sub);
    t1 = time(NULL);
    path = tt_tfevents_path(w);
    cr_assert_eq(strncmp(path, sub, strlen(sub)), 0);
    base = path + strlen(sub);
    cr_assert_eq(sscanf(base, "/events.out.tfevents.%lld.%n", &stamp, &used), 1, "%s", base);
    cr_assert(used > 0 && stamp >= (long long)t0 && stamp <= (long long)t1, "%s", base);
    expected_host(host, sizeof(host));
    cr_assert_str_eq(base + used, host);
    tt_tfevents_close(w);
    fx_rmtree(dir);
}

/*
 * Names for the next few seconds are taken: the writer must pick "<name>.1" and leave the
 * existing files alone.
 */
Test(tfevents, taken_name_gets_a_suffix)
{
    char dir[64], host[256], name[512], taken[640];
    time_t t0 = time(NULL);
    const char *path;
    tt_tfevents *w;
    size_t n;

    fx_tmpdir(dir);
    expected_host(host, sizeof(host));
    for (int s = 0; s < 3; s++) {
        snprintf(name, sizeof(name), "events.out.tfevents.%lld.%s", (long long)t0 + s, host);
        fx_path(taken, sizeof(taken), dir, name);
        cr_assert_eq(tt_write_file_atomic(taken, "x", 1, NULL), 0);
    }
    w = open_writer(dir);
    path = tt_tfevents_path(w);
    n = strlen(path);
    cr_assert(n > 2 && strcmp(path + n - 2, ".1") == 0, "%s", path);
    memcpy(taken, path, n - 2);
    taken[n - 2] = '\0';
    cr_assert_eq(fx_file_size(taken), 1, "%s was overwritten", taken);
    tt_tfevents_close(w);
    cr_assert_eq(fx_dir_count(dir), 4);
    fx_rmtree(dir);
}

Test(tfevents, bad_arguments_and_unwritable_directory)
{
    char dir[64], file[128], below[160];
    tt_tfevents *w = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_tfevents_open(NULL, &w, NULL), TT_EINVAL);
    cr_assert_eq(tt_tfevents_open("", &w, NULL), TT_EINVAL);
    cr_assert_eq(tt_tfevents_scalar(NULL, "x", 0, 1.0, NULL), TT_EINVAL);
    cr_assert_eq(tt_tfevents_flush(NULL, NULL), TT_EINVAL);
    cr_assert_null(tt_tfevents_path(NULL));
    tt_tfevents_close(NULL);
    fx_tmpdir(dir);
    fx_path(file, sizeof(file), dir, "plain");
    cr_assert_eq(tt_write_file_atomic(file, "x", 1, NULL), 0);
    fx_path(below, sizeof(below), file, "logs");
    cr_assert_eq(tt_tfevents_open(below, &w, &err), TT_EIO);
    cr_assert_null(w, "*out is set only on success");
    cr_assert(strstr(err.message, "plain") != NULL, "%s", err.message);
    w = open_writer(dir);
    cr_assert_eq(tt_tfevents_scalar(w, "", 0, 1.0, NULL), TT_EINVAL);
    cr_assert_eq(tt_tfevents_scalar(w, NULL, 0, 1.0, NULL), TT_EINVAL);
    tt_tfevents_close(w);
    fx_rmtree(dir);
}

/*
 * The series tests/tfevents/run expects back from the protobuf library, in two files (two
 * writers in one directory): every value is exact in a float.
 */
Test(tfevents, export)
{
    const char *out = getenv("TT_TFEVENTS_OUT");
    char tmp[64];
    const char *dir = out && out[0] ? out : tmp;
    event ev[MAX_EVENTS];
    const char *why;
    tt_tfevents *a, *b;

    if (dir == tmp)
        fx_tmpdir(tmp);
    a = open_writer(dir);
    b = open_writer(dir);
    for (int step = 0; step < 4; step++)
        scalar(a, "train/loss", step, 1.0 / (1 << step));
    scalar(a, "train/loss", -1, -2.5);
    scalar(b, "eval/hr@10", 1, 0.0);
    scalar(b, "eval/hr@10", 2, 1e6);
    cr_assert_eq(tt_tfevents_flush(a, NULL), 0);
    cr_assert_eq(tt_tfevents_flush(b, NULL), 0);
    cr_assert_str_neq(tt_tfevents_path(a), tt_tfevents_path(b));
    cr_assert_eq(read_events(tt_tfevents_path(a), ev, &why), 6, "%s", why);
    cr_assert_eq(read_events(tt_tfevents_path(b), ev, &why), 3, "%s", why);
    tt_tfevents_close(a);
    tt_tfevents_close(b);
    if (dir == tmp)
        fx_rmtree(tmp);
}
