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
 *   section table at the table offset (the end of the file), 72 bytes per section, at most
 *   4096 sections
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
#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"

#define TT_MFILE_VERSION 2

/* Section types; the numbers are stored in files. TT_DT_META: a metadata section (below). */
enum tt_dtype {
    TT_DT_F32 = 1,
    TT_DT_I32 = 2,
    TT_DT_I64 = 3,
    TT_DT_U8 = 4,
    TT_DT_STR = 5,
    TT_DT_META = 6
};

typedef struct tt_mfile_writer tt_mfile_writer;

/* Starts a model file of @kind ("als", ...) trained on catalog @catalog. */
int tt_mfile_create(const char *path, const char *kind, uint64_t catalog, tt_mfile_writer **out,
                    tt_err *err);
/*
 * Adds a rows x cols array of @dt (TT_DT_STR not allowed here). Data is copied out now.
 * TT_DT_META sections are written by tt_mfile_put_meta; adding one here copies bytes that
 * are already encoded (1 x bytes, e.g. from tt_mfile_get of another file) as they are.
 */
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
 * tt_mfile_strings into an array it allocates (*out: @n + 1 entries, malloc'd, the caller
 * frees it; the strings are borrowed as above), only once the section is known to hold @n
 * strings: @n usually comes from the file's metadata, and a damaged count must be refused,
 * not allocated (a section's strings each take a byte, so a matching @n is bounded by the
 * file's size). *out is NULL on error.
 */
int tt_mfile_strings_new(const tt_mfile *f, const char *name, int64_t n, const char ***out,
                         tt_err *err);

/* ---- metadata: typed, named fields ------------------------------------------------------- */

/*
 * A model's parameters (sizes, hyper-parameters, enums) live in one section named "meta"
 * (TT_DT_META, 1 x bytes), written and read through a table of tt_mfield that binds each
 * field to a member of the caller's struct, so saving and loading share one description.
 *
 * Encoding, little-endian: u32 field count, then per field
 *   u32 name length (1..TT_MFIELD_NAME_MAX), the name (printable ASCII, no NUL), u8 type,
 *   then for types 1..63: 8 value bytes (integers in two's complement, floats as the bits
 *   of an IEEE-754 double, bool 0 or 1); for types 64..127: u32 length n, n bytes and one
 *   zero byte (enums stored by the name of their value, strings).
 * Fields a reader does not know are skipped (the two type classes tell how), so a newer
 * engine can add fields without a new format version.
 */

/* Field types, as stored in files: never renumber. */
enum tt_mfield_type {
    TT_MF_I32 = 1,   /* int32_t (or int) */
    TT_MF_I64 = 2,   /* int64_t */
    TT_MF_U64 = 3,   /* uint64_t */
    TT_MF_F32 = 4,   /* float (stored as a double, exact) */
    TT_MF_F64 = 5,   /* double */
    TT_MF_BOOL = 6,  /* bool */
    TT_MF_ENUM = 64, /* an enum (int-sized), stored by name */
    TT_MF_STR = 65   /* const char *; read back pointing into the file */
};

enum tt_mfield_flags {
    TT_MF_OPTIONAL = 1 << 0,  /* may be absent from a file: the member keeps its value */
    TT_MF_NONFINITE = 1 << 1, /* F32/F64: NaN and infinities accepted (outside the range) */
};

#define TT_MFIELD_NAME_MAX 64
#define TT_MFIELD_MAX 1024 /* fields in one metadata section */

typedef struct tt_mfield {
    const char *name;         /* the field's name in the file */
    enum tt_mfield_type type;
    size_t offset, size;      /* the member it binds: TT_MF_AT(struct type, member) */
    /*
     * Accepted values, inclusive, for every type but BOOL and STR (for ENUM: the value's
     * index in @names). Both 0: the whole range of the type. Integers are compared as
     * doubles, so bounds beyond 2^53 are approximate.
     */
    double lo, hi;
    const char *const *names; /* ENUM: the name of each value 0 .. n_names - 1 */
    int n_names;
    unsigned flags;           /* enum tt_mfield_flags */
} tt_mfield;

/*
 * Designated initializers of .offset and .size for @member of struct @type, so a table entry
 * reads {"k", TT_MF_I32, TT_MF_AT(struct my_meta, k), .lo = 1, .hi = 1024}.
 */
#define TT_MF_AT(type, member) \
    .offset = offsetof(type, member), .size = sizeof(((type *)0)->member)

/*
 * Writes the section "meta": @n fields of @fields, each read from its member of @src.
 * Errors: TT_EINVAL, naming the field (in err->field too), for a table that is wrong
 * (member size not that of the type, a duplicate or bad name, an ENUM without names) or a
 * value the reader would refuse (out of range, not finite, an enum value without a name),
 * so a file that is written can be read back.
 */
int tt_mfile_put_meta(tt_mfile_writer *w, const tt_mfield *fields, int n, const void *src,
                      tt_err *err);

/*
 * Reads the section "meta" of @f into the members of @dst that @fields bind. Every field
 * of the table must be in the file unless TT_MF_OPTIONAL (then its member is left as it
 * is: set defaults first); fields of the file not in the table are ignored. TT_MF_STR
 * members get pointers into @f (borrowed, valid until tt_mfile_close).
 * Errors: TT_ECORRUPT with a message naming the file and the field (also in err->field):
 * a missing section, a truncated or overlong section, a name or string running past the
 * end, a duplicate field, a type other than the table's, a missing required field, a value
 * out of range, not finite, or not a bool, an enum name not in @names; TT_EINVAL for a
 * wrong table. On error @dst is unchanged.
 */
int tt_mfile_get_meta(const tt_mfile *f, const tt_mfield *fields, int n, void *dst,
                      tt_err *err);

/*
 * Checks of arrays read from a file, for loaders to word their own error.
 * tt_mfile_offsets_valid: @rows + 1 offsets that start at 0, never decrease and end at @n.
 * tt_mfile_ids_valid: @n ids, each in [0, @bound).
 */
bool tt_mfile_offsets_valid(const int64_t *ptr, int32_t rows, int64_t n);
bool tt_mfile_ids_valid(const int32_t *ids, int64_t n, int32_t bound);

#endif
