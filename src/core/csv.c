/*
 * The reader is a byte-level state machine whose state survives buffer refills, so a record
 * may straddle any number of reads. Unquoted runs are copied with one table lookup per byte
 * and one memcpy per run; fields are unquoted into a separate record buffer, which keeps the
 * input buffer read-only (memory input is never copied) and needs no second pass.
 */
#include "tt/csv.h"
#include "tt/core.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)

enum state {
    S_START,      /* at the start of a field */
    S_PLAIN,      /* inside an unquoted field */
    S_QUOTED,     /* inside a quoted field */
    S_QUOTE_SEEN, /* a quote inside a quoted field: closing, or the first of '""' */
    S_AFTER,      /* after the closing quote */
    S_SKIP,       /* record is malformed: discarding up to its end */
};

/* Bits of the byte class table. */
enum { C_PLAIN_STOP = 1, C_QUOTED_STOP = 2 };

struct field {
    uint32_t off, len;
};

struct tt_csv {
    int fd; /* -1 for memory input */
    const unsigned char *in;
    size_t len, pos;
    int64_t before;     /* bytes of the input ahead of in[0] (read in earlier chunks) */
    int64_t size;       /* of the whole input; 0 when unknown (a pipe) */
    unsigned char *buf; /* read buffer, NULL for memory input */
    bool eof;
    unsigned flags;
    unsigned char delim;
    unsigned char cls[256];
    char *rec; /* current record: fields back to back, each NUL-terminated */
    size_t rlen, rcap;
    size_t fstart; /* where the field being read starts in rec */
    struct field *f;
    int nf;
    size_t fcap;
    int64_t line;     /* physical line of the next unread byte */
    int64_t rec_line; /* first line of the current record */
    enum state st;
    bool started;    /* the current record has begun */
    bool pending_cr; /* an unquoted CR whose meaning depends on the next byte */
    const char *bad; /* why the current record is malformed, or NULL */
    char *name;
};

static void init_classes(tt_csv *c)
{
    memset(c->cls, 0, sizeof(c->cls));
    c->cls[c->delim] |= C_PLAIN_STOP;
    c->cls['\n'] |= C_PLAIN_STOP | C_QUOTED_STOP;
    c->cls['\r'] |= C_PLAIN_STOP;
    c->cls[0] |= C_PLAIN_STOP | C_QUOTED_STOP;
    c->cls['"'] |= C_QUOTED_STOP;
    if (c->flags & TT_CSV_LATIN1)
        for (int b = 0x80; b < 0x100; b++)
            c->cls[b] |= C_PLAIN_STOP | C_QUOTED_STOP;
}

static tt_csv *reader_new(const char *name, unsigned flags)
{
    tt_csv *c = tt_calloc(1, sizeof(*c));

    c->fd = -1;
    c->flags = flags;
    c->delim = (flags & TT_CSV_TAB) ? '\t' : ',';
    c->name = tt_strdup(name ? name : "(input)");
    c->line = 1;
    c->rcap = 4096;
    c->rec = tt_malloc(c->rcap);
    c->fcap = 32;
    c->f = tt_malloc(c->fcap * sizeof(*c->f));
    init_classes(c);
    return c;
}

/* Only UTF-8 input can carry a UTF-8 byte order mark; in latin-1 those bytes are text. */
static void skip_bom(tt_csv *c)
{
    if (!(c->flags & TT_CSV_LATIN1) && c->len - c->pos >= 3 &&
        memcmp(c->in + c->pos, "\xEF\xBB\xBF", 3) == 0)
        c->pos += 3;
}

static int read_more(tt_csv *c, size_t at, tt_err *err)
{
    ssize_t n;

    do
        n = read(c->fd, c->buf + at, READ_CHUNK - at);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return tt_err_set(err, TT_EIO, "%s: read failed: %s", c->name, strerror(errno));
    if (n == 0)
        c->eof = true;
    if (at == 0)
        c->before += (int64_t)c->len;
    c->len = at + (size_t)n;
    return (int)(n > 0);
}

int tt_csv_open(const char *path, unsigned flags, tt_csv **out, tt_err *err)
{
    struct stat st;
    tt_csv *c;
    int rc = 0;

    if (!path || !out)
        return tt_err_set(err, TT_EINVAL, "path and out are required");
    c = reader_new(path, flags);
    c->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
        rc = tt_err_set(err, TT_EIO, "cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    posix_fadvise(c->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (fstat(c->fd, &st) == 0 && S_ISREG(st.st_mode))
        c->size = st.st_size;
    c->buf = tt_malloc(READ_CHUNK);
    c->in = c->buf;
    /* A pipe may deliver fewer bytes than a byte order mark has: read until it cannot hide. */
    while (!c->eof && c->len < 3 && (rc = read_more(c, c->len, err)) >= 0)
        rc = 0;
    if (rc < 0)
        goto out;
    skip_bom(c);
out:
    if (rc < 0) {
        tt_csv_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

tt_csv *tt_csv_open_mem(const char *name, const char *data, size_t len, unsigned flags)
{
    tt_csv *c = reader_new(name, flags);

    c->in = (const unsigned char *)data;
    c->len = data ? len : 0;
    c->size = (int64_t)c->len;
    c->eof = true;
    skip_bom(c);
    return c;
}

void tt_csv_close(tt_csv *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c->rec);
    free(c->f);
    free(c->name);
    free(c);
}

/* Returns 1 when input is available, 0 at its end, or TT_EIO. */
static int refill(tt_csv *c, tt_err *err)
{
    if (c->pos < c->len)
        return 1;
    if (c->eof)
        return 0;
    c->pos = 0;
    return read_more(c, 0, err);
}

static void mark_bad(tt_csv *c, const char *why)
{
    if (!c->bad)
        c->bad = why;
    c->st = S_SKIP;
}

/* Makes room for @n more bytes plus a terminator; false past the record size limit. */
static bool reserve(tt_csv *c, size_t n)
{
    size_t cap = c->rcap;

    if (c->rlen + n + 1 > TT_CSV_MAX_RECORD) {
        mark_bad(c, "record is longer than the 64 MiB limit (an unclosed quote?)");
        return false;
    }
    if (c->rlen + n + 1 <= cap)
        return true;
    while (cap < c->rlen + n + 1)
        cap *= 2;
    c->rec = tt_realloc(c->rec, cap);
    c->rcap = cap;
    return true;
}

static void put(tt_csv *c, const void *p, size_t n)
{
    if (!reserve(c, n))
        return;
    memcpy(c->rec + c->rlen, p, n);
    c->rlen += n;
}

/* ISO-8859-1 maps each byte to the code point of the same value: two UTF-8 bytes above 0x7F. */
static void put_latin1(tt_csv *c, unsigned char b)
{
    unsigned char u[2] = {(unsigned char)(0xC0 | (b >> 6)), (unsigned char)(0x80 | (b & 0x3F))};
    put(c, u, 2);
}

static bool is_pad(const tt_csv *c, unsigned char b)
{
    return b == ' ' || (b == '\t' && c->delim != '\t');
}

static void end_field(tt_csv *c)
{
    uint32_t off = (uint32_t)c->fstart, len = (uint32_t)(c->rlen - c->fstart);

    if (!reserve(c, 0))
        return;
    if (c->flags & TT_CSV_TRIM) {
        while (len > 0 && is_pad(c, (unsigned char)c->rec[off + len - 1]))
            len--;
        while (len > 0 && is_pad(c, (unsigned char)c->rec[off])) {
            off++;
            len--;
        }
    }
    if ((size_t)c->nf + 1 > c->fcap) {
        c->fcap *= 2;
        c->f = tt_realloc(c->f, c->fcap * sizeof(*c->f));
    }
    c->f[c->nf].off = off;
    c->f[c->nf].len = len;
    c->nf++;
    c->rec[c->rlen] = '\0';
    c->rec[off + len] = '\0';
    c->rlen++;
    c->fstart = c->rlen;
}

static void begin_record(tt_csv *c)
{
    if (!c->started) {
        c->started = true;
        c->rec_line = c->line;
    }
}

/* Copies the run of ordinary bytes at the read position; returns the byte that ended it. */
static int scan_run(tt_csv *c, int stop_class)
{
    const unsigned char *p = c->in + c->pos, *end = c->in + c->len, *q = p;

    while (q < end && !(c->cls[*q] & stop_class))
        q++;
    if (q > p)
        put(c, p, (size_t)(q - p));
    c->pos = (size_t)(q - c->in);
    return q < end ? *q : -1;
}

/* An LF outside quotes: true when it completes a record, false for an empty line. */
static bool line_end(tt_csv *c)
{
    c->pos++;
    c->line++;
    if (!c->started)
        return false;
    end_field(c);
    return true;
}

static void end_of_field(tt_csv *c)
{
    c->pos++;
    end_field(c);
    c->st = S_START;
}

static bool step_start(tt_csv *c, unsigned char b)
{
    if (b == '\n')
        return line_end(c);
    if (b == '\r') {
        c->pos++;
        c->pending_cr = true;
        return false;
    }
    begin_record(c);
    if (b == c->delim) {
        end_of_field(c);
    } else if (b == '"' && !(c->flags & TT_CSV_TAB)) {
        c->pos++;
        c->st = S_QUOTED;
    } else if ((c->flags & TT_CSV_TRIM) && is_pad(c, b)) {
        c->pos++;
    } else {
        c->st = S_PLAIN;
    }
    return false;
}

static bool step_plain(tt_csv *c)
{
    int b = scan_run(c, C_PLAIN_STOP);

    if (b < 0 || c->st == S_SKIP)
        return false;
    if (b == c->delim) {
        end_of_field(c);
        return false;
    }
    if (b == '\n')
        return line_end(c);
    c->pos++;
    if (b == '\r')
        c->pending_cr = true;
    else if (b == '\0')
        mark_bad(c, "NUL byte in field");
    else
        put_latin1(c, (unsigned char)b);
    return false;
}

static void step_quoted(tt_csv *c)
{
    int b = scan_run(c, C_QUOTED_STOP);

    if (b < 0 || c->st == S_SKIP)
        return;
    c->pos++;
    if (b == '"') {
        c->st = S_QUOTE_SEEN;
    } else if (b == '\n') {
        c->line++;
        put(c, "\n", 1);
    } else if (b == '\0') {
        mark_bad(c, "NUL byte in field");
    } else {
        put_latin1(c, (unsigned char)b);
    }
}

static void step_quote_seen(tt_csv *c, unsigned char b)
{
    if (b != '"') {
        c->st = S_AFTER;
        return;
    }
    c->pos++;
    c->st = S_QUOTED;
    put(c, "\"", 1);
}

static bool step_after(tt_csv *c, unsigned char b)
{
    if (b == c->delim) {
        end_of_field(c);
        return false;
    }
    if (b == '\n')
        return line_end(c);
    c->pos++;
    if (b == '\r')
        c->pending_cr = true;
    else if (!((c->flags & TT_CSV_TRIM) && is_pad(c, b)))
        mark_bad(c, "text after a closing quote (quote the whole field and double any quote "
                    "inside it)");
    return false;
}

static bool step_skip(tt_csv *c)
{
    const unsigned char *p = c->in + c->pos;
    const unsigned char *nl = memchr(p, '\n', c->len - c->pos);

    if (!nl) {
        c->pos = c->len;
        return false;
    }
    c->pos = (size_t)(nl - c->in) + 1;
    c->line++;
    return true;
}

/* A CR outside quotes ends the line when an LF follows; otherwise it is data. */
static void resolve_cr(tt_csv *c, unsigned char next)
{
    c->pending_cr = false;
    if (next == '\n' || c->st == S_SKIP)
        return;
    if (c->st == S_AFTER) {
        mark_bad(c, "text after a closing quote");
        return;
    }
    begin_record(c);
    put(c, "\r", 1);
    if (c->st == S_START)
        c->st = S_PLAIN;
}

/* Advances over available input; true when a record, good or malformed, is complete. */
static bool step(tt_csv *c)
{
    unsigned char b = c->in[c->pos];

    if (c->pending_cr)
        resolve_cr(c, b);
    switch (c->st) {
    case S_START:
        return step_start(c, b);
    case S_PLAIN:
        return step_plain(c);
    case S_QUOTED:
        step_quoted(c);
        return false;
    case S_QUOTE_SEEN:
        step_quote_seen(c, b);
        return false;
    case S_AFTER:
        return step_after(c, b);
    case S_SKIP:
        return step_skip(c);
    }
    return false;
}

static int fail_record(tt_csv *c, tt_err *err, const char *why)
{
    c->nf = 0;
    return tt_err_set(err, TT_EPARSE, "%s:%lld: %s", c->name, (long long)c->rec_line, why);
}

/* End of input: a record without a final line break is still a record. */
static int finish(tt_csv *c, tt_err *err)
{
    if (c->bad)
        return fail_record(c, err, c->bad);
    if (c->st == S_QUOTED)
        return fail_record(c, err, "quoted field is never closed");
    if (!c->started)
        return 0;
    end_field(c);
    return c->bad ? fail_record(c, err, c->bad) : 1;
}

int tt_csv_next(tt_csv *c, tt_err *err)
{
    int rc;

    c->rlen = c->fstart = 0;
    c->nf = 0;
    c->st = S_START;
    c->started = false;
    c->bad = NULL;
    c->pending_cr = false;
    for (;;) {
        rc = refill(c, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return finish(c, err);
        if (step(c))
            return c->bad ? fail_record(c, err, c->bad) : 1;
    }
}

int tt_csv_nfields(const tt_csv *c)
{
    return c->nf;
}

const char *tt_csv_field(const tt_csv *c, int i)
{
    return (i >= 0 && i < c->nf) ? c->rec + c->f[i].off : "";
}

size_t tt_csv_field_len(const tt_csv *c, int i)
{
    return (i >= 0 && i < c->nf) ? c->f[i].len : 0;
}

int tt_csv_find(const tt_csv *c, const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < c->nf; i++) {
        const char *s = c->rec + c->f[i].off;
        size_t len = c->f[i].len;
        while (len > 0 && *s == ' ') {
            s++;
            len--;
        }
        while (len > 0 && s[len - 1] == ' ')
            len--;
        if (len == n && strncasecmp(s, name, n) == 0)
            return i;
    }
    return -1;
}

int64_t tt_csv_offset(const tt_csv *c)
{
    return c->before + (int64_t)c->pos;
}

int64_t tt_csv_size(const tt_csv *c)
{
    return c->size;
}

int64_t tt_csv_line(const tt_csv *c)
{
    return c->rec_line;
}

const char *tt_csv_name(const tt_csv *c)
{
    return c->name;
}
