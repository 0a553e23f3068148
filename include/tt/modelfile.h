/*
 * modelfile.h - the versioned binary container every model, catalog and index file uses
 * (a core module: src/models and src/ann both build on it).
 *
 * Format version 2, all integers little-endian, encoded and decoded field by field (no
 * struct is ever written as raw bytes):
 *
 *   header, 128 bytes at offset 0
 *     0  magic "TTMODEL1" (8 bytes; the family of files, the same in every version)
 *     8  u32 format version (2)          12  u32 section count
 *    16  kind, NUL-terminated (24 bytes) 40  u64 catalog checksum
 *    48  i64 creation time (Unix s)      56  i64 section table offset
 *    64  i64 file size                   72  u32 CRC-32 of bytes [128, file size)
 *    76  u32 CRC-32 of these 128 bytes with bytes 76..79 zero
 *    80  48 reserved bytes, zero
 *   sections, each starting on a 64-byte boundary, so arrays are used in place
 *   section table at the table offset (the end of the file), 72 bytes per section
 *     0  name, NUL-terminated (32 bytes)  32  u32 dtype   36  u32 reserved, zero
 *    40  i64 rows   48  i64 cols   56  i64 offset of the data   64  i64 bytes of data
 *
 * F32, I32 and I64 sections are used in place, which is why the engine only builds on
 * little-endian hosts. Model parameters (sizes, hyper-parameters, enums) go in one "meta"
 * section of typed, named fields written by tt_mfile_put_meta and read by tt_mfile_get_meta.
 *
 * Written under a temporary name and renamed; loaded whole into aligned private memory
 * (used in place afterwards) after checking magic, version, sizes, table bounds and both
 * checksums, so a truncated or corrupted file is refused whole with a message naming the
 * file and the problem. Files of format version 1 (raw structs, engines before this one)
 * are refused with a message that says to retrain.
 */
#ifndef TT_MODELFILE_H
#define TT_MODELFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/err.h"

#define TT_MFILE_VERSION 2

enum tt_dtype { TT_DT_F32 = 1, TT_DT_I32 = 2, TT_DT_I64 = 3, TT_DT_U8 = 4, TT_DT_STR = 5 };

typedef struct tt_mfile_writer tt_mfile_writer;

/* Starts a model file of @kind ("als", ...) trained on catalog @catalog. */
int tt_mfile_create(const char *path, const char *kind, uint64_t catalog, tt_mfile_writer **out,
                    tt_err *err);
/* Adds a rows x cols array of @dt (TT_DT_STR not allowed here). Data is copied out now. */
int tt_mfile_add(tt_mfile_writer *w, const char *name, enum tt_dtype dt, int64_t rows,
                 int64_t cols, const void *data, tt_err *err);
/* Adds @n NUL-terminated strings (ids, names), readable back with tt_mfile_strings. */
int tt_mfile_add_strings(tt_mfile_writer *w, const char *name, const char *const *s, int64_t n,
                         tt_err *err);
/* Finishes the file: table, checksums, fsync, rename. Frees @w either way. */
int tt_mfile_commit(tt_mfile_writer *w, tt_err *err);
/* Drops an unfinished file. */
void tt_mfile_abort(tt_mfile_writer *w);

typedef struct tt_mfile tt_mfile;

/* Maps and verifies @path. Errors: TT_ENOTFOUND, TT_EIO, TT_ECORRUPT. */
int tt_mfile_open(const char *path, tt_mfile **out, tt_err *err);
void tt_mfile_close(tt_mfile *f);

const char *tt_mfile_kind(const tt_mfile *f);
const char *tt_mfile_path(const tt_mfile *f);
uint64_t tt_mfile_catalog(const tt_mfile *f);
int64_t tt_mfile_created_at(const tt_mfile *f);

/*
 * Section @name of type @dt. When *rows / *cols are >= 0 on entry they must match (else
 * TT_ECORRUPT); on return they hold the section's shape. *data points into the loaded file:
 * borrowed, valid until tt_mfile_close.
 */
int tt_mfile_get(const tt_mfile *f, const char *name, enum tt_dtype dt, int64_t *rows,
                 int64_t *cols, const void **data, tt_err *err);
/*
 * String section @name: fills @out (caller-allocated, @n entries, n must match the section)
 * with pointers into the loaded file.
 */
int tt_mfile_strings(const tt_mfile *f, const char *name, int64_t n, const char **out,
                     tt_err *err);
/* Number of entries of string section @name, or -1 when missing. */
int64_t tt_mfile_strings_count(const tt_mfile *f, const char *name);

/*
 * Checks of arrays read from a file, for loaders to word their own error.
 * tt_mfile_offsets_valid: @rows + 1 offsets that start at 0, never decrease and end at @n.
 * tt_mfile_ids_valid: @n ids, each in [0, @bound).
 */
bool tt_mfile_offsets_valid(const int64_t *ptr, int32_t rows, int64_t n);
bool tt_mfile_ids_valid(const int32_t *ids, int64_t n, int32_t bound);

#endif
