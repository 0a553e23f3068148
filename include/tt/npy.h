/*
 * npy.h - NumPy's .npy array files (numpy.save): 2-D float arrays read row by row, float32
 * arrays written. A core module, like the model file container: factor tables trained
 * elsewhere arrive in it (docs/pipeline.md, "Factors trained elsewhere").
 *
 * The format (numpy.lib.format): the magic "\x93NUMPY", a major and a minor version byte,
 * the header length (u16 little-endian in version 1.0, u32 in 2.0 and 3.0), the header (a
 * Python dict literal, ASCII in 1.0 and 2.0, UTF-8 in 3.0, padded with spaces and ended by
 * '\n'), then the array's bytes:
 *
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (1000, 64), }
 *
 * Read: versions 1.0, 2.0 and 3.0; descr '<f4' (float32) or '<f8' (float64), little-endian
 * (a big-endian or any other dtype is refused, naming it); fortran_order False (C order:
 * row after row); a 2-D shape. The file must hold exactly the bytes the shape needs, so a
 * truncated file is refused at open, before anything is read. Written: version 1.0, '<f4',
 * C order, the header padded so the data starts on a 64-byte boundary, as numpy.save does.
 *
 * A tt_npy is not thread-safe.
 */
#ifndef TT_NPY_H
#define TT_NPY_H

#include <stdint.h>

#include "tt/err.h"

typedef struct tt_npy tt_npy;

/*
 * Opens the .npy file at @path and checks its header and size (above). On success *@out is
 * set; close it with tt_npy_close. Errors: TT_ENOTFOUND (no such file), TT_EIO (cannot
 * read), TT_EPARSE (not a .npy file, an unsupported version, dtype, order or shape, a
 * malformed header, a file shorter or longer than its shape needs): messages begin with
 * @path.
 */
int tt_npy_open(const char *path, tt_npy **out, tt_err *err);
/* Closes @f. NULL does nothing. */
void tt_npy_close(tt_npy *f);

/* The array's shape, and its dtype as the header spells it ("<f4" or "<f8"). */
int64_t tt_npy_rows(const tt_npy *f);
int64_t tt_npy_cols(const tt_npy *f);
const char *tt_npy_dtype(const tt_npy *f);

/*
 * Reads the next row: tt_npy_cols values into @row (caller-allocated), widened to double
 * exactly. Errors: TT_EIO (the read failed, or the file shrank since it was opened),
 * TT_EPARSE (no row left).
 */
int tt_npy_read_row(tt_npy *f, double *row, tt_err *err);

/*
 * Whether the file at @path begins with the .npy magic: 1 when it does, 0 when it does not
 * (shorter files included), or TT_ENOTFOUND / TT_EIO.
 */
int tt_npy_sniff(const char *path, tt_err *err);

/*
 * Writes the @rows x @cols float32 array @a (row-major) to @path as a .npy file (above),
 * atomically (temporary name, fsync, rename). Errors: TT_EINVAL (negative shape), TT_EIO.
 */
int tt_npy_write_f32(const char *path, const float *a, int64_t rows, int64_t cols, tt_err *err);

#endif
