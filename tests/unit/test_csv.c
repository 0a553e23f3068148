/*
 * The CSV reader: RFC 4180 quoting, line endings, BOM, latin-1, line numbers, errors, and
 * records that straddle the reader's read buffer.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt/core.h"
#include "tt/csv.h"

/* Renders every record as "LINE:[f1|f2]" joined by spaces; a bad record as "LINE:!". */
static char *render(tt_csv *c)
{
    size_t cap = 4096, n = 0;
    char *out = tt_calloc(1, cap);
    tt_err err = {0};
    int rc;

    while ((rc = tt_csv_next(c, &err)) != 0) {
        char piece[1024];
        int k;
        if (rc < 0) {
            k = snprintf(piece, sizeof(piece), "%s%lld:!", n ? " " : "", (long long)tt_csv_line(c));
            tt_err_clear(&err);
        } else {
            k = snprintf(piece, sizeof(piece), "%s%lld:[", n ? " " : "", (long long)tt_csv_line(c));
            for (int i = 0; i < tt_csv_nfields(c); i++)
                k += snprintf(piece + k, sizeof(piece) - (size_t)k, "%s%s", i ? "|" : "",
                              tt_csv_field(c, i));
            k += snprintf(piece + k, sizeof(piece) - (size_t)k, "]");
        }
        cr_assert_lt((size_t)k, sizeof(piece));
        if (n + (size_t)k + 1 > cap) {
            while (n + (size_t)k + 1 > cap)
                cap *= 2;
            out = tt_realloc(out, cap);
        }
        memcpy(out + n, piece, (size_t)k + 1);
        n += (size_t)k;
    }
    return out;
}

static void expect(const char *input, unsigned flags, const char *want)
{
    tt_csv *c = tt_csv_open_mem("t.csv", input, strlen(input), flags);
    char *got = render(c);

    cr_expect_str_eq(got, want, "input %s", input);
    free(got);
    tt_csv_close(c);
}

Test(csv, plain_records_with_lf)
{
    expect("a,b,c\n1,2,3\n", 0, "1:[a|b|c] 2:[1|2|3]");
}

Test(csv, crlf_line_ends)
{
    expect("a,b\r\n1,2\r\n", 0, "1:[a|b] 2:[1|2]");
}

Test(csv, missing_final_newline)
{
    expect("a,b\n1,2", 0, "1:[a|b] 2:[1|2]");
    expect("a,b\r\n1,", 0, "1:[a|b] 2:[1|]");
    expect("a,b\n\"x\"", 0, "1:[a|b] 2:[x]");
}

Test(csv, empty_fields)
{
    tt_csv *c = tt_csv_open_mem("t.csv", ",a,,\n", 5, 0);

    cr_assert_eq(tt_csv_next(c, NULL), 1);
    cr_assert_eq(tt_csv_nfields(c), 4);
    cr_expect_str_eq(tt_csv_field(c, 0), "");
    cr_expect_str_eq(tt_csv_field(c, 1), "a");
    cr_expect_str_eq(tt_csv_field(c, 3), "");
    cr_expect_eq(tt_csv_field_len(c, 2), 0);
    cr_expect_str_eq(tt_csv_field(c, 9), "");
    cr_expect_eq(tt_csv_next(c, NULL), 0);
    tt_csv_close(c);
    expect("\"\",x\n", 0, "1:[|x]");
}

Test(csv, quoted_fields_with_commas_and_doubled_quotes)
{
    expect("\"a,b\",\"say \"\"hi\"\"\",\"\"\"\"\n", 0, "1:[a,b|say \"hi\"|\"]");
}

Test(csv, quote_inside_unquoted_field_is_data)
{
    expect("Royce da 5'9\",x\n", 0, "1:[Royce da 5'9\"|x]");
}

Test(csv, embedded_newlines_advance_line_numbers)
{
    expect("h\n\"one\ntwo\r\nthree\"\nnext\n", 0, "1:[h] 2:[one\ntwo\r\nthree] 5:[next]");
}

Test(csv, bom_is_skipped)
{
    expect("\xEF\xBB\xBFid,name\n1,x\n", 0, "1:[id|name] 2:[1|x]");
}

Test(csv, blank_lines_are_skipped_but_counted)
{
    expect("a\n\n\r\nb\n\n", 0, "1:[a] 4:[b]");
    expect("", 0, "");
    expect("\n\n", 0, "");
}

Test(csv, lone_cr_is_data)
{
    expect("a\rb,c\n", 0, "1:[a\rb|c]");
}

Test(csv, text_after_closing_quote_is_an_error_and_reading_resumes)
{
    tt_csv *c = tt_csv_open_mem("bad.csv", "a\n\"x\"y,z\nb\n", 11, 0);
    tt_err err = {0};

    cr_assert_eq(tt_csv_next(c, &err), 1);
    cr_assert_eq(tt_csv_next(c, &err), TT_EPARSE);
    cr_expect_str_eq(err.message,
                     "bad.csv:2: text after a closing quote (quote the whole field and double "
                     "any quote inside it)");
    cr_expect_eq(tt_csv_nfields(c), 0);
    cr_assert_eq(tt_csv_next(c, NULL), 1);
    cr_expect_str_eq(tt_csv_field(c, 0), "b");
    cr_expect_eq(tt_csv_line(c), 3);
    tt_csv_close(c);
}

Test(csv, unclosed_quote_names_its_first_line)
{
    tt_csv *c = tt_csv_open_mem("u.csv", "a\n\"open\nmore\n", 13, 0);
    tt_err err = {0};

    cr_assert_eq(tt_csv_next(c, &err), 1);
    cr_assert_eq(tt_csv_next(c, &err), TT_EPARSE);
    cr_expect_str_eq(err.message, "u.csv:2: quoted field is never closed");
    cr_expect_eq(tt_csv_next(c, NULL), 0);
    tt_csv_close(c);
}

Test(csv, nul_byte_is_an_error)
{
    static const char in[] = "a\nx\0y\nz\n";

    tt_csv *c = tt_csv_open_mem("n.csv", in, sizeof(in) - 1, 0);
    char *got = render(c);
    cr_expect_str_eq(got, "1:[a] 2:! 3:[z]");
    free(got);
    tt_csv_close(c);
}

Test(csv, tab_mode_has_no_quoting)
{
    expect("id\tname\r\n1686\t\"Weird Al\" Yankovic\r\n2\ta,b\r\n", TT_CSV_TAB,
           "1:[id|name] 2:[1686|\"Weird Al\" Yankovic] 3:[2|a,b]");
}

Test(csv, latin1_becomes_utf8)
{
    expect("1\ttropic\xE1lia\r\n2\tfu\xDF"
           "ball\r\n",
           TT_CSV_TAB | TT_CSV_LATIN1,
           "1:[1|tropic\xC3\xA1lia] 2:[2|fu\xC3\x9F"
           "ball]");
    /* Latin-1 has no byte order mark: those bytes are three characters. */
    expect("\xEF\xBB\xBFx\n", TT_CSV_LATIN1, "1:[\xC3\xAF\xC2\xBB\xC2\xBFx]");
}

Test(csv, trim_drops_surrounding_spaces)
{
    expect(" a , \"b, c\" ,  \n", TT_CSV_TRIM, "1:[a|b, c|]");
    expect(" a \t b \n", TT_CSV_TAB | TT_CSV_TRIM, "1:[a|b]");
    expect(" a ,b\n", 0, "1:[ a |b]");
}

Test(csv, find_matches_header_names)
{
    tt_csv *c = tt_csv_open_mem("h.csv", "User_ID, track_id ,x\n", 21, 0);

    cr_assert_eq(tt_csv_next(c, NULL), 1);
    cr_expect_eq(tt_csv_find(c, "user_id"), 0);
    cr_expect_eq(tt_csv_find(c, "track_id"), 1);
    cr_expect_eq(tt_csv_find(c, "action"), -1);
    cr_expect_str_eq(tt_csv_name(c), "h.csv");
    tt_csv_close(c);
}

Test(csv, missing_file_is_an_io_error)
{
    tt_csv *c = NULL;
    tt_err err = {0};

    cr_expect_eq(tt_csv_open("/nonexistent/x.csv", 0, &c, &err), TT_EIO);
    cr_expect_null(c);
    cr_expect(strstr(err.message, "/nonexistent/x.csv") != NULL);
}

/* Reads @a and @b in lockstep, asserting the same records; returns how many there were. */
static int same_records(tt_csv *a, tt_csv *b)
{
    int ra, rb, n = 0;

    do {
        ra = tt_csv_next(a, NULL);
        rb = tt_csv_next(b, NULL);
        cr_assert_eq(ra, rb, "record %d", n);
        cr_assert_eq(tt_csv_line(a), tt_csv_line(b), "record %d", n);
        cr_assert_eq(tt_csv_nfields(a), tt_csv_nfields(b), "record %d", n);
        for (int i = 0; i < tt_csv_nfields(a); i++)
            cr_assert_str_eq(tt_csv_field(a, i), tt_csv_field(b, i), "record %d", n);
        n += ra > 0;
    } while (ra != 0);
    return n;
}

/*
 * A file several read buffers long whose quoted fields, CRLFs and latin-1 bytes fall across
 * buffer boundaries must read exactly as the same bytes held in memory.
 */
Test(csv, file_records_straddle_read_buffers)
{
    char path[] = "/tmp/tt_test_csv_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    size_t len;
    char *data;
    tt_csv *fc = NULL, *mc;
    int rows = 0;

    cr_assert_not_null(f);
    fputs("\xEF\xBB\xBFid,text,n\r\n", f);
    for (int i = 0; i < 60000; i++)
        fprintf(f, "%d,\"line %d, with \"\"quotes\"\"\nand a break\",%d\r\n", i, i, i * 7);
    fclose(f);
    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    rewind(f);
    data = tt_malloc(len);
    cr_assert_eq(fread(data, 1, len, f), len);
    fclose(f);
    cr_assert_gt(len, 3u << 20);
    cr_assert_eq(tt_csv_open(path, 0, &fc, NULL), 0);
    mc = tt_csv_open_mem(path, data, len, 0);
    cr_expect_eq(same_records(fc, mc), 60001);
    free(data);
    tt_csv_close(mc);
    /* The last records, read from the file again, carry the right text and line numbers. */
    tt_csv_close(fc);
    cr_assert_eq(tt_csv_open(path, 0, &fc, NULL), 0);
    while (tt_csv_next(fc, NULL) > 0 && strcmp(tt_csv_field(fc, 0), "59998") != 0)
        rows++;
    cr_expect_eq(rows, 59999);
    cr_expect_eq(tt_csv_line(fc), 119998);
    cr_expect_str_eq(tt_csv_field(fc, 1), "line 59998, with \"quotes\"\nand a break");
    cr_expect_str_eq(tt_csv_field(fc, 2), "419986");
    tt_csv_close(fc);
    unlink(path);
}

/*
 * Shifting the same rows by 0..15 bytes puts every byte of a line (a doubled quote, the
 * closing quote, the CR and LF) on the last byte of the first read buffer in one of the runs.
 */
Test(csv, every_construct_across_the_buffer_edge)
{
    static const char line[] = "\"q\"\"x\",\"\",z\r\n";
    size_t linelen = strlen(line), len = (1u << 20) + 4096, n;
    char *data = tt_malloc(len);

    for (int shift = 0; shift < 16; shift++) {
        char path[] = "/tmp/tt_test_csv_XXXXXX";
        int fd = mkstemp(path);
        tt_csv *fc = NULL, *mc;

        n = 0;
        memset(data, 'p', (size_t)shift);
        n += (size_t)shift;
        memcpy(data + n, "\r\n", 2);
        n += 2;
        while (n + linelen <= len) {
            memcpy(data + n, line, linelen);
            n += linelen;
        }
        cr_assert_eq(write(fd, data, n), (ssize_t)n);
        close(fd);
        cr_assert_eq(tt_csv_open(path, 0, &fc, NULL), 0);
        mc = tt_csv_open_mem(path, data, n, 0);
        /* With no padding the first line is empty and is skipped. */
        cr_expect_eq(same_records(fc, mc), (shift > 0) + (int)((n - (size_t)shift - 2) / linelen),
                     "shift %d", shift);
        tt_csv_close(fc);
        tt_csv_close(mc);
        unlink(path);
    }
    free(data);
}

/* ---- position and size, for progress reports ---- */

Test(csv, offset_follows_the_records_and_size_is_the_input)
{
    static const char text[] = "a,b\n1,2\n333,4\n";
    tt_csv *c = tt_csv_open_mem("t.csv", text, strlen(text), 0);
    tt_err err = {0};

    cr_expect_eq(tt_csv_size(c), (int64_t)strlen(text));
    cr_expect_eq(tt_csv_offset(c), 0);
    cr_assert_eq(tt_csv_next(c, &err), 1);
    cr_expect_eq(tt_csv_offset(c), 4);
    cr_assert_eq(tt_csv_next(c, &err), 1);
    cr_expect_eq(tt_csv_offset(c), 8);
    cr_assert_eq(tt_csv_next(c, &err), 1);
    cr_assert_eq(tt_csv_next(c, &err), 0);
    cr_expect_eq(tt_csv_offset(c), (int64_t)strlen(text));
    tt_csv_close(c);
}

Test(csv, offset_counts_every_chunk_read_from_a_file)
{
    char path[] = "/tmp/tt-csv-offset-XXXXXX";
    int fd = mkstemp(path), rows = 0;
    FILE *f = fdopen(fd, "w");
    tt_csv *c = NULL;
    tt_err err = {0};
    long size;

    cr_assert_not_null(f);
    for (int i = 0; i < 200000; i++) /* several read chunks */
        fprintf(f, "%d,row %d\n", i, i);
    size = ftell(f);
    fclose(f);
    cr_assert_eq(tt_csv_open(path, 0, &c, &err), 0, "%s", err.message);
    cr_expect_eq(tt_csv_size(c), size);
    while (tt_csv_next(c, &err) == 1) {
        rows++;
        cr_assert_leq(tt_csv_offset(c), size);
    }
    cr_expect_eq(rows, 200000);
    cr_expect_eq(tt_csv_offset(c), size);
    tt_csv_close(c);
    unlink(path);
}
