/*
 * csv.h - a streaming reader for delimited text: RFC 4180 CSV, and the tab-separated files
 * public music datasets ship.
 *
 * The reader holds one record at a time, so a file of any size streams in constant memory
 * (bounded by the longest record). Fields are handed out as NUL-terminated strings inside the
 * reader's record buffer: no allocation per field or per record once the buffers have grown.
 *
 * Format rules:
 * - Records end at LF or CRLF. A CR not followed by LF is data.
 * - Comma-separated mode follows RFC 4180: a field that starts with '"' is quoted; inside it
 *   commas, CR and LF are data and '""' is one quote. After the closing quote only the
 *   delimiter or the end of the line may follow. A quote inside an unquoted field is data.
 * - Tab-separated mode (TT_CSV_TAB) has no quoting at all: every byte other than TAB, LF and
 *   the CR of a CRLF is data, quotes included, as in the HetRec and MusicOSet files.
 * - A UTF-8 byte order mark at the start of the input is skipped. TT_CSV_LATIN1 decodes
 *   ISO-8859-1 input into UTF-8.
 * - Empty lines are skipped; they never form a record.
 * - A NUL byte is an error for its record; so is a record longer than TT_CSV_MAX_RECORD.
 *
 * Line numbers are physical and 1-based: a record whose quoted field holds two line breaks
 * spans three lines, and the next record starts three lines further on.
 *
 * A tt_csv is not thread-safe.
 */
#ifndef TT_CSV_H
#define TT_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"

/* Longest record accepted, in bytes after unquoting: a guard against an unclosed quote. */
#define TT_CSV_MAX_RECORD (64u << 20)

enum tt_csv_flags {
    TT_CSV_TAB = 1 << 0,    /* tab-separated, no quoting */
    TT_CSV_LATIN1 = 1 << 1, /* input is ISO-8859-1; fields come out as UTF-8 */
    TT_CSV_TRIM = 1 << 2,   /* drop spaces (and tabs, unless TAB-separated) around fields */
};

typedef struct tt_csv tt_csv;

/*
 * Opens the file at @path for reading with @flags (enum tt_csv_flags). @path is copied and
 * is the name used in error messages. On success *@out is set; free it with tt_csv_close().
 * Errors: TT_EINVAL (NULL argument), TT_EIO (cannot open or read; the message names @path).
 */
int tt_csv_open(const char *path, unsigned flags, tt_csv **out, tt_err *err);

/*
 * Reads from the @len bytes at @data, which stay borrowed and must outlive the reader.
 * @name (copied) stands for the file in error messages. Never fails.
 */
tt_csv *tt_csv_open_mem(const char *name, const char *data, size_t len, unsigned flags);

/* Closes the file and frees the reader. NULL does nothing. */
void tt_csv_close(tt_csv *c);

/*
 * Reads the next record. Returns 1 when a record was read, 0 at the end of the input, or a
 * negative code:
 * - TT_EPARSE: the record is malformed (text after a closing quote, a NUL byte, an over-long
 *   record, a quote still open at the end of the input). The message reads
 *   "NAME:LINE: reason" with the record's first line. The malformed record has been consumed
 *   up to its end, so calling again continues with the next record.
 * - TT_EIO: reading failed; the reader is unusable.
 * After a TT_EPARSE the current record is empty (no fields).
 */
int tt_csv_next(tt_csv *c, tt_err *err);

/* Number of fields in the current record (0 before the first tt_csv_next). */
int tt_csv_nfields(const tt_csv *c);

/*
 * Field @i (0-based) of the current record, NUL-terminated, unquoted and, with TT_CSV_LATIN1,
 * in UTF-8. Out of range gives "". Borrowed: valid until the next tt_csv_next or close.
 */
const char *tt_csv_field(const tt_csv *c, int i);

/* Byte length of field @i (0 when out of range). */
size_t tt_csv_field_len(const tt_csv *c, int i);

/*
 * Index of the field of the current record equal to @name, compared ASCII case-insensitively
 * and ignoring surrounding spaces, or -1. Meant for header rows.
 */
int tt_csv_find(const tt_csv *c, const char *name);

/* Physical line (1-based) on which the current record starts. */
int64_t tt_csv_line(const tt_csv *c);

/* Bytes of the input consumed so far (records read, and the byte order mark). */
int64_t tt_csv_offset(const tt_csv *c);
/* Size of the whole input in bytes; 0 when it is not known in advance (a pipe). */
int64_t tt_csv_size(const tt_csv *c);

/* The name given at open, for messages. Borrowed: valid until close. */
const char *tt_csv_name(const tt_csv *c);

#endif
