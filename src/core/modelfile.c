/*
 * The model file container (see include/tt/modelfile.h for the layout).
 *
 * The header and the section table are encoded field by field into byte buffers and decoded
 * the same way into native structs: no struct is ever written or read as raw bytes, so the
 * file never depends on how a compiler lays out or pads a struct. Sections themselves are
 * arrays used in place, which is only correct when the host is little-endian, as the file is.
 */
#include "tt/modelfile.h"
#include "tt/core.h"
#include "tt/fileio.h"

#include "tt/byteorder.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "model file sections (F32, I32, I64 arrays) are little-endian and used in place, \
which is only correct on a little-endian host: this engine does not support big-endian hosts"
#endif

/* The family of files, unchanged across format versions (the version field tells them apart). */
#define MAGIC "TTMODEL1"
#define ALIGN 64
#define KIND_MAX 24
#define SECTION_NAME_MAX 32
/* Far above any model's count; bounds the reader's duplicate check on a hostile table. */
#define SECTIONS_MAX 4096

/* Byte offsets in the 128-byte header, as documented in modelfile.h. */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_NSEC = 12,
    H_KIND = 16,
    H_CATALOG = 40,
    H_CREATED = 48,
    H_TABLE = 56,
    H_SIZE = 64,
    H_PAYLOAD_CRC = 72,
    H_HEADER_CRC = 76,
    HEADER_SIZE = 128
};

/* Byte offsets in a 72-byte section table entry (bytes 36..39 are reserved, zero). */
enum {
    S_NAME = 0,
    S_DTYPE = 32,
    S_ROWS = 40,
    S_COLS = 48,
    S_OFFSET = 56,
    S_BYTES = 64,
    SECTION_SIZE = 72
};

/* The decoded header. */
struct header {
    uint32_t version, n_sections;
    char kind[KIND_MAX];
    uint64_t catalog;
    int64_t created_at, table_offset, file_size;
    uint32_t payload_crc; /* CRC-32 of bytes [HEADER_SIZE, file_size) */
    uint32_t header_crc;  /* CRC-32 of the encoded header with these 4 bytes zero */
};

/* A decoded section table entry. */
struct section {
    char name[SECTION_NAME_MAX];
    uint32_t dtype;
    int64_t rows, cols, offset, bytes;
};

struct tt_mfile_writer {
    tt_atomic_file f;
    struct header h;
    struct section *sec;
    size_t nsec, cap;
    uint32_t crc;
};

struct tt_mfile {
    tt_map map;
    struct header h;
    struct section *sec;
    char path[1024];
};

static void header_encode(const struct header *h, uint8_t b[HEADER_SIZE])
{
    memset(b, 0, HEADER_SIZE);
    memcpy(b + H_MAGIC, MAGIC, 8);
    tt__put_u32(b + H_VERSION, h->version);
    tt__put_u32(b + H_NSEC, h->n_sections);
    memcpy(b + H_KIND, h->kind, KIND_MAX);
    tt__put_u64(b + H_CATALOG, h->catalog);
    tt__put_i64(b + H_CREATED, h->created_at);
    tt__put_i64(b + H_TABLE, h->table_offset);
    tt__put_i64(b + H_SIZE, h->file_size);
    tt__put_u32(b + H_PAYLOAD_CRC, h->payload_crc);
    tt__put_u32(b + H_HEADER_CRC, h->header_crc);
}

static void header_decode(const uint8_t b[HEADER_SIZE], struct header *h)
{
    h->version = tt__get_u32(b + H_VERSION);
    h->n_sections = tt__get_u32(b + H_NSEC);
    memcpy(h->kind, b + H_KIND, KIND_MAX);
    h->catalog = tt__get_u64(b + H_CATALOG);
    h->created_at = tt__get_i64(b + H_CREATED);
    h->table_offset = tt__get_i64(b + H_TABLE);
    h->file_size = tt__get_i64(b + H_SIZE);
    h->payload_crc = tt__get_u32(b + H_PAYLOAD_CRC);
    h->header_crc = tt__get_u32(b + H_HEADER_CRC);
}

static void section_encode(const struct section *s, uint8_t b[SECTION_SIZE])
{
    memset(b, 0, SECTION_SIZE);
    memcpy(b + S_NAME, s->name, SECTION_NAME_MAX);
    tt__put_u32(b + S_DTYPE, s->dtype);
    tt__put_i64(b + S_ROWS, s->rows);
    tt__put_i64(b + S_COLS, s->cols);
    tt__put_i64(b + S_OFFSET, s->offset);
    tt__put_i64(b + S_BYTES, s->bytes);
}

static void section_decode(const uint8_t b[SECTION_SIZE], struct section *s)
{
    memcpy(s->name, b + S_NAME, SECTION_NAME_MAX);
    s->dtype = tt__get_u32(b + S_DTYPE);
    s->rows = tt__get_i64(b + S_ROWS);
    s->cols = tt__get_i64(b + S_COLS);
    s->offset = tt__get_i64(b + S_OFFSET);
    s->bytes = tt__get_i64(b + S_BYTES);
}

static size_t dtype_size(uint32_t dt)
{
    switch (dt) {
    case TT_DT_F32: case TT_DT_I32: return 4;
    case TT_DT_I64: return 8;
    case TT_DT_U8: case TT_DT_STR: case TT_DT_META: return 1;
    default: return 0;
    }
}

/* *bytes = rows x cols elements of @es bytes; false when a size is negative or overflows. */
static bool shape_bytes(int64_t rows, int64_t cols, size_t es, int64_t *bytes)
{
    return rows >= 0 && cols >= 0 && !__builtin_mul_overflow(rows, cols, bytes) &&
           !__builtin_mul_overflow(*bytes, (int64_t)es, bytes);
}

/* Writes and checksums payload bytes. */
static int w_write(tt_mfile_writer *w, const void *p, size_t n, tt_err *err)
{
    w->crc = tt_crc32(w->crc, p, n);
    return tt_atomic_write(&w->f, p, n, err);
}

static int w_pad(tt_mfile_writer *w, tt_err *err)
{
    static const char zeros[ALIGN];
    size_t rem = (size_t)(w->f.written % ALIGN);
    return rem ? w_write(w, zeros, ALIGN - rem, err) : 0;
}

int tt_mfile_create(const char *path, const char *kind, uint64_t catalog, tt_mfile_writer **out,
                    tt_err *err)
{
    static const uint8_t placeholder[HEADER_SIZE];
    tt_mfile_writer *w;
    int rc;

    if (strlen(kind) >= KIND_MAX)
        return tt_err_set(err, TT_EINVAL, "model kind '%s' too long", kind);
    w = tt_calloc(1, sizeof(*w));
    rc = tt_atomic_open(&w->f, path, err);
    if (rc < 0) {
        free(w);
        return rc;
    }
    w->h.version = TT_MFILE_VERSION;
    snprintf(w->h.kind, sizeof(w->h.kind), "%s", kind);
    w->h.catalog = catalog;
    w->h.created_at = tt_unix_time();
    /* The real header is written last; reserve its bytes now. */
    rc = tt_atomic_write(&w->f, placeholder, sizeof(placeholder), err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int add_section(tt_mfile_writer *w, const char *name, uint32_t dt, int64_t rows,
                       int64_t cols, const void *data, int64_t bytes, tt_err *err)
{
    struct section *s;
    int rc;

    if (strlen(name) >= sizeof(s->name))
        return tt_err_set(err, TT_EINVAL, "section name '%s' too long", name);
    if (w->nsec == SECTIONS_MAX)
        return tt_err_set(err, TT_EINVAL, "section '%s': more than %d sections", name,
                          SECTIONS_MAX);
    for (size_t i = 0; i < w->nsec; i++)
        if (strcmp(w->sec[i].name, name) == 0)
            return tt_err_set(err, TT_EINVAL, "duplicate section '%s'", name);
    rc = w_pad(w, err);
    if (rc < 0)
        return rc;
    TT_GROW(w->sec, w->cap, w->nsec + 1);
    s = &w->sec[w->nsec++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->dtype = dt;
    s->rows = rows;
    s->cols = cols;
    s->offset = w->f.written;
    s->bytes = bytes;
    return bytes > 0 ? w_write(w, data, (size_t)bytes, err) : 0;
}

int tt_mfile_add(tt_mfile_writer *w, const char *name, enum tt_dtype dt, int64_t rows, int64_t cols,
                 const void *data, tt_err *err)
{
    size_t es = dtype_size(dt);
    int64_t bytes;

    if (es == 0 || dt == TT_DT_STR || !shape_bytes(rows, cols, es, &bytes) || (bytes > 0 && !data))
        return tt_err_set(err, TT_EINVAL, "bad section '%s'", name);
    return add_section(w, name, dt, rows, cols, data, bytes, err);
}

int tt_mfile_add_strings(tt_mfile_writer *w, const char *name, const char *const *s, int64_t n,
                         tt_err *err)
{
    int64_t bytes = 0;
    char *buf, *p;
    int rc;

    for (int64_t i = 0; i < n; i++)
        bytes += (int64_t)strlen(s[i]) + 1;
    buf = tt_malloc((size_t)(bytes ? bytes : 1));
    p = buf;
    for (int64_t i = 0; i < n; i++) {
        size_t len = strlen(s[i]) + 1;
        memcpy(p, s[i], len);
        p += len;
    }
    rc = add_section(w, name, TT_DT_STR, n, 1, buf, bytes, err);
    free(buf);
    return rc;
}

/* The section table, encoded entry by entry after the last section. */
static int write_table(tt_mfile_writer *w, tt_err *err)
{
    uint8_t *buf = tt_calloc(w->nsec ? w->nsec : 1, SECTION_SIZE);
    int rc;

    for (size_t i = 0; i < w->nsec; i++)
        section_encode(&w->sec[i], buf + i * SECTION_SIZE);
    rc = w_write(w, buf, w->nsec * SECTION_SIZE, err);
    free(buf);
    return rc;
}

int tt_mfile_commit(tt_mfile_writer *w, tt_err *err)
{
    uint8_t hb[HEADER_SIZE];
    int rc = w_pad(w, err);

    w->h.table_offset = w->f.written;
    w->h.n_sections = (uint32_t)w->nsec;
    if (rc == 0)
        rc = write_table(w, err);
    w->h.file_size = w->f.written;
    w->h.payload_crc = w->crc;
    w->h.header_crc = 0;
    header_encode(&w->h, hb);
    tt__put_u32(hb + H_HEADER_CRC, tt_crc32(0, hb, sizeof(hb)));
    if (rc == 0)
        rc = tt_atomic_pwrite(&w->f, hb, sizeof(hb), 0, err);
    if (rc == 0)
        rc = tt_atomic_commit(&w->f, err);
    else
        tt_atomic_abort(&w->f);
    free(w->sec);
    free(w);
    return rc;
}

void tt_mfile_abort(tt_mfile_writer *w)
{
    if (!w)
        return;
    tt_atomic_abort(&w->f);
    free(w->sec);
    free(w);
}

static int corrupt(tt_err *err, const char *path, const char *what)
{
    return tt_err_set(err, TT_ECORRUPT, "model file %s refused: %s", path, what);
}

/* Files of another format version are refused with what to do about them. */
static int check_version(const tt_mfile *f, uint32_t version, tt_err *err)
{
    if (version == TT_MFILE_VERSION)
        return 0;
    if (version == 1)
        return tt_err_set(err, TT_ECORRUPT,
                          "model file %s has format version 1, written by an older engine: "
                          "retrain with 'tunetrail train' (indexes: 'tunetrail index')",
                          f->path);
    if (version > TT_MFILE_VERSION)
        return tt_err_set(err, TT_ECORRUPT,
                          "model file %s has format version %u, newer than this engine reads "
                          "(%d): upgrade the engine, or retrain with 'tunetrail train'",
                          f->path, (unsigned)version, TT_MFILE_VERSION);
    return tt_err_set(err, TT_ECORRUPT, "model file %s refused: unknown format version %u", f->path,
                      (unsigned)version);
}

/* Magic, version, header checksum, sizes; fills f->h. */
static int check_header(tt_mfile *f, tt_err *err)
{
    uint8_t hb[HEADER_SIZE];
    struct header *h = &f->h;
    int64_t size = (int64_t)f->map.size;
    int rc;

    if (f->map.size < HEADER_SIZE)
        return corrupt(err, f->path, "truncated (shorter than its header)");
    memcpy(hb, f->map.data, HEADER_SIZE);
    if (memcmp(hb + H_MAGIC, MAGIC, 8) != 0)
        return corrupt(err, f->path, "not a TuneTrail model file (bad magic)");
    header_decode(hb, h);
    rc = check_version(f, h->version, err);
    if (rc < 0)
        return rc;
    tt__put_u32(hb + H_HEADER_CRC, 0);
    if (tt_crc32(0, hb, HEADER_SIZE) != h->header_crc)
        return corrupt(err, f->path, "header checksum mismatch");
    if (memchr(h->kind, '\0', KIND_MAX) == NULL)
        return corrupt(err, f->path, "model kind not terminated");
    if (h->file_size != size)
        return corrupt(err, f->path, size < h->file_size ? "truncated" : "trailing bytes");
    if (h->n_sections > SECTIONS_MAX || h->table_offset < HEADER_SIZE ||
        h->table_offset > size ||
        (size - h->table_offset) / SECTION_SIZE != (int64_t)h->n_sections ||
        (size - h->table_offset) % SECTION_SIZE != 0)
        return corrupt(err, f->path, "bad section table");
    return 0;
}

static bool section_valid(const tt_mfile *f, const struct section *s)
{
    size_t es = dtype_size(s->dtype);
    int64_t n;

    return es != 0 && shape_bytes(s->rows, s->cols, es, &n) && s->offset >= HEADER_SIZE &&
           s->offset % ALIGN == 0 && s->bytes >= 0 && s->offset <= f->h.table_offset &&
           s->bytes <= f->h.table_offset - s->offset &&
           (s->dtype == TT_DT_STR ? s->bytes >= s->rows : n == s->bytes) &&
           memchr(s->name, '\0', SECTION_NAME_MAX) != NULL;
}

/* Decodes the section table into f->sec and checks every entry's bounds and shape. */
static int load_sections(tt_mfile *f, tt_err *err)
{
    const uint8_t *table = (const uint8_t *)f->map.data + f->h.table_offset;

    f->sec = tt_calloc(f->h.n_sections ? f->h.n_sections : 1, sizeof(*f->sec));
    for (uint32_t i = 0; i < f->h.n_sections; i++) {
        section_decode(table + (size_t)i * SECTION_SIZE, &f->sec[i]);
        if (!section_valid(f, &f->sec[i]))
            return corrupt(err, f->path, "section out of bounds");
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(f->sec[j].name, f->sec[i].name) == 0)
                return corrupt(err, f->path, "duplicate section");
    }
    return 0;
}

int tt_mfile_open(const char *path, tt_mfile **out, tt_err *err)
{
    tt_mfile *f = tt_calloc(1, sizeof(*f));
    int rc;

    snprintf(f->path, sizeof(f->path), "%s", path);
    rc = tt_map_open(&f->map, path, err);
    if (rc < 0)
        goto fail;
    rc = check_header(f, err);
    if (rc < 0)
        goto fail;
    if (tt_crc32(0, (const char *)f->map.data + HEADER_SIZE, f->map.size - HEADER_SIZE) !=
        f->h.payload_crc) {
        rc = corrupt(err, path, "checksum mismatch (the file is damaged)");
        goto fail;
    }
    rc = load_sections(f, err);
    if (rc < 0)
        goto fail;
    *out = f;
    return 0;
fail:
    tt_mfile_close(f);
    return rc;
}

void tt_mfile_close(tt_mfile *f)
{
    if (!f)
        return;
    tt_map_close(&f->map);
    free(f->sec);
    free(f);
}

const char *tt_mfile_kind(const tt_mfile *f) { return f->h.kind; }
const char *tt_mfile_path(const tt_mfile *f) { return f->path; }
uint64_t tt_mfile_catalog(const tt_mfile *f) { return f->h.catalog; }
int64_t tt_mfile_created_at(const tt_mfile *f) { return f->h.created_at; }

static const struct section *find(const tt_mfile *f, const char *name)
{
    for (uint32_t i = 0; i < f->h.n_sections; i++)
        if (strcmp(f->sec[i].name, name) == 0)
            return &f->sec[i];
    return NULL;
}

int tt_mfile_get(const tt_mfile *f, const char *name, enum tt_dtype dt, int64_t *rows,
                 int64_t *cols, const void **data, tt_err *err)
{
    const struct section *s = find(f, name);
    char what[128];

    if (!s || s->dtype != (uint32_t)dt || (*rows >= 0 && *rows != s->rows) ||
        (*cols >= 0 && *cols != s->cols)) {
        snprintf(what, sizeof(what), "section '%s' %s", name,
                 !s ? "missing" : "has the wrong type or shape");
        return corrupt(err, f->path, what);
    }
    *rows = s->rows;
    *cols = s->cols;
    *data = (const char *)f->map.data + s->offset;
    return 0;
}

int64_t tt_mfile_strings_count(const tt_mfile *f, const char *name)
{
    const struct section *s = find(f, name);
    return (s && s->dtype == TT_DT_STR) ? s->rows : -1;
}

static int strings_refused(const tt_mfile *f, const char *name, const char *why, tt_err *err)
{
    char what[128];

    snprintf(what, sizeof(what), "string section '%s' %s", name, why);
    return corrupt(err, f->path, what);
}

int tt_mfile_strings(const tt_mfile *f, const char *name, int64_t n, const char **out,
                     tt_err *err)
{
    const struct section *s = find(f, name);
    const char *p, *end;

    if (!s || s->dtype != TT_DT_STR || s->rows != n)
        return strings_refused(f, name, "missing or of the wrong size", err);
    p = (const char *)f->map.data + s->offset;
    end = p + s->bytes;
    for (int64_t i = 0; i < n; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z)
            return strings_refused(f, name, "is malformed", err);
        out[i] = p;
        p = z + 1;
    }
    return 0;
}

int tt_mfile_strings_new(const tt_mfile *f, const char *name, int64_t n, const char ***out,
                         tt_err *err)
{
    int rc;

    *out = NULL;
    if (tt_mfile_strings_count(f, name) != n)
        return strings_refused(f, name, "missing or of the wrong size", err);
    *out = tt_malloc(((size_t)n + 1) * sizeof(char *));
    rc = tt_mfile_strings(f, name, n, *out, err);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

bool tt_mfile_offsets_valid(const int64_t *ptr, int32_t rows, int64_t n)
{
    if (ptr[0] != 0 || ptr[rows] != n)
        return false;
    for (int32_t i = 0; i < rows; i++)
        if (ptr[i] > ptr[i + 1])
            return false;
    return true;
}

bool tt_mfile_ids_valid(const int32_t *ids, int64_t n, int32_t bound)
{
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= bound)
            return false;
    return true;
}
