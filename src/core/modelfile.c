/*
 * The model file container (see include/tt/modelfile.h for the layout).
 */
#include "tt/modelfile.h"
#include "tt/core.h"
#include "tt/fileio.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAGIC "TTMODEL1"
#define ALIGN 64

struct header {
    char magic[8];
    uint32_t version;
    uint32_t n_sections;
    char kind[24];
    uint64_t catalog;
    int64_t created_at;
    int64_t table_offset;
    int64_t file_size;
    uint32_t payload_crc; /* CRC-32 of bytes [sizeof(header), file_size) */
    uint32_t header_crc;  /* CRC-32 of this header with header_crc = 0 */
    char reserved[128 - 8 - 8 - 24 - 8 - 8 - 8 - 8 - 8];
};
_Static_assert(sizeof(struct header) == 128, "model file header is 128 bytes");

struct section {
    char name[32];
    uint32_t dtype;
    uint32_t reserved;
    int64_t rows, cols;
    int64_t offset, bytes;
};
_Static_assert(sizeof(struct section) == 72, "section entry is 72 bytes");

struct tt_mfile_writer {
    tt_atomic_file f;
    struct header h;
    struct section *sec;
    size_t nsec, cap;
    uint32_t crc;
};

struct tt_mfile {
    tt_map map;
    const struct header *h;
    const struct section *sec;
    char path[1024];
};

static size_t dtype_size(uint32_t dt)
{
    switch (dt) {
    case TT_DT_F32: case TT_DT_I32: return 4;
    case TT_DT_I64: return 8;
    case TT_DT_U8: case TT_DT_STR: return 1;
    default: return 0;
    }
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
    tt_mfile_writer *w;
    int rc;

    if (strlen(kind) >= sizeof(w->h.kind))
        return tt_err_set(err, TT_EINVAL, "model kind '%s' too long", kind);
    w = tt_calloc(1, sizeof(*w));
    rc = tt_atomic_open(&w->f, path, err);
    if (rc < 0) {
        free(w);
        return rc;
    }
    memcpy(w->h.magic, MAGIC, 8);
    w->h.version = TT_MFILE_VERSION;
    snprintf(w->h.kind, sizeof(w->h.kind), "%s", kind);
    w->h.catalog = catalog;
    w->h.created_at = tt_unix_time();
    /* The real header is written last; reserve its bytes now. */
    rc = tt_atomic_write(&w->f, &w->h, sizeof(w->h), err);
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

int tt_mfile_add(tt_mfile_writer *w, const char *name, enum tt_dtype dt, int64_t rows,
                 int64_t cols, const void *data, tt_err *err)
{
    size_t es = dtype_size(dt);

    if (es == 0 || dt == TT_DT_STR || rows < 0 || cols < 0 || (rows * cols > 0 && !data))
        return tt_err_set(err, TT_EINVAL, "bad section '%s'", name);
    return add_section(w, name, dt, rows, cols, data, rows * cols * (int64_t)es, err);
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

int tt_mfile_commit(tt_mfile_writer *w, tt_err *err)
{
    int rc = w_pad(w, err);

    w->h.table_offset = w->f.written;
    w->h.n_sections = (uint32_t)w->nsec;
    if (rc == 0)
        rc = w_write(w, w->sec, w->nsec * sizeof(struct section), err);
    w->h.file_size = w->f.written;
    w->h.payload_crc = w->crc;
    w->h.header_crc = 0;
    w->h.header_crc = tt_crc32(0, &w->h, sizeof(w->h));
    if (rc == 0)
        rc = tt_atomic_pwrite(&w->f, &w->h, sizeof(w->h), 0, err);
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

static int check_header(const tt_mfile *f, tt_err *err)
{
    struct header h;
    size_t size = f->map.size;

    if (size < sizeof(h))
        return corrupt(err, f->path, "truncated (shorter than its header)");
    memcpy(&h, f->map.data, sizeof(h));
    if (memcmp(h.magic, MAGIC, 8) != 0)
        return corrupt(err, f->path, "not a TuneTrail model file (bad magic)");
    if (h.version != TT_MFILE_VERSION)
        return corrupt(err, f->path, "unsupported format version");
    h.header_crc = 0;
    if (tt_crc32(0, &h, sizeof(h)) != f->h->header_crc)
        return corrupt(err, f->path, "header checksum mismatch");
    if (h.file_size != (int64_t)size)
        return corrupt(err, f->path, (int64_t)size < h.file_size ? "truncated" : "trailing bytes");
    if (h.table_offset < (int64_t)sizeof(h) ||
        h.table_offset + (int64_t)h.n_sections * (int64_t)sizeof(struct section) != h.file_size)
        return corrupt(err, f->path, "bad section table");
    return 0;
}

static int check_sections(const tt_mfile *f, tt_err *err)
{
    for (uint32_t i = 0; i < f->h->n_sections; i++) {
        const struct section *s = &f->sec[i];
        size_t es = dtype_size(s->dtype);
        if (es == 0 || s->rows < 0 || s->cols < 0 || s->offset < (int64_t)sizeof(struct header) ||
            s->offset % ALIGN != 0 || s->bytes < 0 || s->offset + s->bytes > f->h->table_offset ||
            (s->dtype != TT_DT_STR && s->bytes != s->rows * s->cols * (int64_t)es) ||
            memchr(s->name, '\0', sizeof(s->name)) == NULL)
            return corrupt(err, f->path, "section out of bounds");
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
    f->h = f->map.data;
    rc = check_header(f, err);
    if (rc < 0)
        goto fail;
    if (tt_crc32(0, (const char *)f->map.data + sizeof(struct header),
                 f->map.size - sizeof(struct header)) != f->h->payload_crc) {
        rc = corrupt(err, path, "checksum mismatch (the file is damaged)");
        goto fail;
    }
    f->sec = (const struct section *)((const char *)f->map.data + f->h->table_offset);
    rc = check_sections(f, err);
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
    free(f);
}

const char *tt_mfile_kind(const tt_mfile *f) { return f->h->kind; }
const char *tt_mfile_path(const tt_mfile *f) { return f->path; }
uint64_t tt_mfile_catalog(const tt_mfile *f) { return f->h->catalog; }
int64_t tt_mfile_created_at(const tt_mfile *f) { return f->h->created_at; }

static const struct section *find(const tt_mfile *f, const char *name)
{
    for (uint32_t i = 0; i < f->h->n_sections; i++)
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

int tt_mfile_strings(const tt_mfile *f, const char *name, int64_t n, const char **out,
                     tt_err *err)
{
    const struct section *s = find(f, name);
    const char *p, *end;
    char what[128];

    if (!s || s->dtype != TT_DT_STR || s->rows != n) {
        snprintf(what, sizeof(what), "string section '%s' missing or of the wrong size", name);
        return corrupt(err, f->path, what);
    }
    p = (const char *)f->map.data + s->offset;
    end = p + s->bytes;
    for (int64_t i = 0; i < n; i++) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z) {
            snprintf(what, sizeof(what), "string section '%s' is malformed", name);
            return corrupt(err, f->path, what);
        }
        out[i] = p;
        p = z + 1;
    }
    return 0;
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
