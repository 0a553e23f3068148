/*
 * modelfile.h - the versioned binary container every model file uses.
 *
 * Layout (little-endian): a 128-byte header {magic "TTMODEL1", format version, kind,
 * catalog checksum, creation time, section count, table offset, file size, payload CRC-32,
 * header CRC-32}, then each section's bytes starting on a 64-byte boundary (so float arrays
 * can be used in place, from memory or an mmap), then the section table {name, dtype, rows,
 * cols, offset, bytes} per section. Written under a temporary name and renamed; loaded whole
 * into aligned private memory (used in place afterwards) after checking magic, version,
 * sizes, table bounds and both checksums, so a truncated or corrupted file is refused whole
 * with a message naming the file and the problem.
 */
#ifndef TT_MODELFILE_H
#define TT_MODELFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "tt/err.h"

#define TT_MFILE_VERSION 1

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
