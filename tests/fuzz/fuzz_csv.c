/*
 * The delimited-text reader (src/core/csv.c): any bytes, read to the end under every
 * combination of flags (comma or tab, latin-1, trimming), malformed records included (the
 * reader must go on after each). Each record is checked: fields NUL-terminated at their
 * length, lines never going back, latin-1 input coming out as UTF-8.
 *
 * The reader keeps its state across buffer refills of 1 MiB, which inputs this small never
 * reach from a file. So one input in eight is also read through a pipe in packet mode (O_DIRECT),
 * written beforehand a few bytes per write: each read gets one write, so the pieces the
 * reader sees are the same on every run. Its records must be exactly those of the
 * in-memory reader: a record or byte order mark split across reads changes nothing.
 */
#include "support/fuzz_support.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/csv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("csv");
    return 0;
}

/* FNV-1a over everything the reader hands out, to compare two readings. */
static void mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = s[i] < 0x80             ? 0
                   : (s[i] & 0xE0) == 0xC0 ? 1
                   : (s[i] & 0xF0) == 0xE0 ? 2
                   : (s[i] & 0xF8) == 0xF0 ? 3
                                           : 9;
        if (k == 9 || i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        i += k + 1;
    }
    return true;
}

static void check_record(const tt_csv *c, unsigned flags, int64_t *line)
{
    if (tt_csv_line(c) < *line)
        fz_fail("record line %lld after line %lld", (long long)tt_csv_line(c), (long long)*line);
    *line = tt_csv_line(c);
    for (int i = 0; i < tt_csv_nfields(c); i++) {
        const char *f = tt_csv_field(c, i);
        size_t n = tt_csv_field_len(c, i);
        if (strlen(f) != n)
            fz_fail("field %d: length %zu, strlen %zu", i, n, strlen(f));
        if ((flags & TT_CSV_LATIN1) && !valid_utf8((const uint8_t *)f, n))
            fz_fail("field %d of latin-1 input is not UTF-8", i);
    }
    if (tt_csv_nfields(c) > 0)
        (void)tt_csv_find(c, tt_csv_field(c, 0));
}

/* Reads @c to its end; returns a digest of records, errors and line numbers. */
static uint64_t read_all(tt_csv *c, unsigned flags, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    int64_t line = 0;
    tt_err err = {0};
    int rc;

    /* Every call consumes at least one line or ends the input. */
    for (size_t calls = 0;; calls++) {
        if (calls > size + 2)
            fz_fail("the reader does not advance (%zu calls for %zu bytes)", calls, size);
        memset(&err, 0, sizeof(err));
        rc = tt_csv_next(c, &err);
        mix(&h, &rc, sizeof(rc));
        if (rc == 0 || rc == TT_EIO)
            break;
        if (rc == TT_EPARSE) {
            size_t skip = strlen(tt_csv_name(c));
            if (tt_csv_nfields(c) != 0)
                fz_fail("a malformed record has fields");
            if (strncmp(err.message, tt_csv_name(c), skip) != 0)
                fz_fail("the message does not start with the input's name: %s", err.message);
            mix(&h, err.message + skip, strlen(err.message + skip));
            continue;
        }
        if (rc != 1)
            fz_fail("tt_csv_next returned %d", rc);
        check_record(c, flags, &line);
        mix(&h, &line, sizeof(line));
        for (int i = 0; i < tt_csv_nfields(c); i++)
            mix(&h, tt_csv_field(c, i), tt_csv_field_len(c, i) + 1);
    }
    if (rc == TT_EIO)
        fz_fail("read error: %s", err.message);
    return h;
}

/*
 * Writes @size bytes of @data into the packet-mode pipe @fd as pieces of 1, 2, 3, 5, 1, 2, ...
 * bytes, the last piece taking what is left when the pipe runs short of room for packets.
 */
static void feed_pipe(int fd, const uint8_t *data, size_t size)
{
    static const size_t piece[] = {1, 2, 3, 5};
    int room = fcntl(fd, F_SETPIPE_SZ, 1 << 20);
    /* A packet takes a page of the pipe whatever its size; keep one page spare. */
    size_t packets = (size_t)(room > 0 ? room : fcntl(fd, F_GETPIPE_SZ)) / 4096 - 1;

    for (size_t at = 0, k = 0; at < size; k++) {
        size_t n = k + 1 < packets && piece[k % 4] < size - at ? piece[k % 4] : size - at;
        if (write(fd, data + at, n) != (ssize_t)n)
            fz_fail("write to the pipe");
        at += n;
    }
    close(fd);
}

static uint64_t read_pipe(const uint8_t *data, size_t size, unsigned flags)
{
    char path[64];
    int fds[2];
    tt_csv *c = NULL;
    tt_err err = {0};
    uint64_t h;

    /* Non-blocking writes: filling the pipe must never wait for the reader. */
    if (pipe2(fds, O_DIRECT) != 0 || fcntl(fds[1], F_SETFL, O_NONBLOCK | O_DIRECT) != 0)
        fz_fail("pipe2(O_DIRECT)");
    feed_pipe(fds[1], data, size);
    /* Opened by name, as an import opens its file. */
    snprintf(path, sizeof(path), "/dev/fd/%d", fds[0]);
    if (tt_csv_open(path, flags, &c, &err) < 0)
        fz_fail("open %s: %s", path, err.message);
    h = read_all(c, flags, size);
    tt_csv_close(c);
    close(fds[0]);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned piped[] = {0, TT_CSV_TAB | TT_CSV_LATIN1, TT_CSV_TRIM};
    uint64_t h = 0xcbf29ce484222325ULL, want = 0;
    unsigned pipe_flags;

    /*
     * A file reader allocates its 1 MiB buffer, which under ASan costs milliseconds: one
     * input in eight, chosen by its bytes (the same input always is), is also read through
     * the pipe, with one of three flag sets.
     */
    mix(&h, data, size);
    pipe_flags = h % 8 == 0 ? piped[(h >> 3) % 3] : ~0u;
    for (unsigned flags = 0; flags < 8; flags++) {
        tt_csv *c = tt_csv_open_mem("input.csv", (const char *)data, size, flags);
        uint64_t got = read_all(c, flags, size);

        tt_csv_close(c);
        if (flags == pipe_flags)
            want = got;
    }
    if (pipe_flags != ~0u && read_pipe(data, size, pipe_flags) != want)
        fz_fail("reading through a pipe in pieces differs from reading memory (flags %u)",
                pipe_flags);
    return 0;
}
