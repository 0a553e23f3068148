/*
 * The metadata codec of model files (see include/tt/modelfile.h for the encoding): one
 * writer and one reader of typed, named fields, both driven by the caller's table, so each
 * model describes its parameters once and no model carries codec code of its own.
 *
 * The reader trusts nothing in the section: every length is checked against the bytes
 * left before it is used, names must be printable, and every value is checked against the
 * table (type, range, finiteness, enum names) before any member of the destination is
 * written, so a refused section leaves the caller's struct as it was. The writer applies
 * the same value checks, so the engine never writes a file it would refuse to read.
 */
#include "tt/modelfile.h"
#include "tt/core.h"

#include "tt/byteorder.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SECTION "meta"
/* Types 1..63 carry 8 value bytes, 64..127 a length-prefixed string. */
#define STRING_TYPES 64
#define TYPE_LIMIT 128
/* The smallest encoded field: name length, a 1-byte name, type, empty string and its NUL. */
#define MIN_FIELD_BYTES (4 + 1 + 1 + 4 + 1)

_Static_assert(sizeof(bool) == 1, "bool members are read as one byte");

/* A field's value on its way between a member and the file. */
union value {
    int64_t i;     /* I32, I64, BOOL; ENUM: the index of its name */
    uint64_t u;    /* U64 */
    double d;      /* F32, F64 */
    const char *s; /* STR */
};

/* A field as found in the file; names and strings point into the loaded section. */
struct entry {
    const char *name;
    uint32_t name_len;
    uint8_t type;
    uint64_t bits;   /* types below STRING_TYPES */
    const char *str; /* the others: str_len bytes then a NUL */
    uint32_t str_len;
};

static size_t member_size(enum tt_mfield_type t)
{
    switch (t) {
    case TT_MF_I32: return sizeof(int32_t);
    case TT_MF_I64: return sizeof(int64_t);
    case TT_MF_U64: return sizeof(uint64_t);
    case TT_MF_F32: return sizeof(float);
    case TT_MF_F64: return sizeof(double);
    case TT_MF_BOOL: return sizeof(bool);
    case TT_MF_ENUM: return sizeof(int);
    case TT_MF_STR: return sizeof(const char *);
    }
    return 0;
}

static const char *type_name(unsigned t)
{
    switch (t) {
    case TT_MF_I32: return "i32";
    case TT_MF_I64: return "i64";
    case TT_MF_U64: return "u64";
    case TT_MF_F32: return "f32";
    case TT_MF_F64: return "f64";
    case TT_MF_BOOL: return "bool";
    case TT_MF_ENUM: return "enum";
    case TT_MF_STR: return "string";
    default: return "unknown";
    }
}

/* Printable ASCII without spaces: names from a file are safe to quote in messages. */
static bool name_valid(const char *s, size_t n)
{
    if (n < 1 || n > TT_MFIELD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

static int field_check(const tt_mfield *fd, int i, tt_err *err)
{
    if (!fd->name || !name_valid(fd->name, strlen(fd->name)))
        return tt_err_set(err, TT_EINVAL, "metadata field %d has no valid name", i);
    if (member_size(fd->type) == 0 || member_size(fd->type) != fd->size)
        return tt_err_set_field(err, TT_EINVAL, fd->name,
                                "metadata field '%s' binds %zu bytes, a %s needs %zu", fd->name,
                                fd->size, type_name(fd->type), member_size(fd->type));
    if (fd->type != TT_MF_ENUM)
        return 0;
    if (!fd->names || fd->n_names < 1)
        return tt_err_set_field(err, TT_EINVAL, fd->name, "enum field '%s' has no names",
                                fd->name);
    for (int k = 0; k < fd->n_names; k++)
        if (!fd->names[k])
            return tt_err_set_field(err, TT_EINVAL, fd->name, "enum field '%s' lacks name %d",
                                    fd->name, k);
    return 0;
}

/* A table is the program's own: anything wrong with it is TT_EINVAL. */
static int table_check(const tt_mfield *fields, int n, tt_err *err)
{
    int rc;

    if (n < 0 || n > TT_MFIELD_MAX || (n > 0 && !fields))
        return tt_err_set(err, TT_EINVAL, "metadata table of %d fields", n);
    for (int i = 0; i < n; i++) {
        rc = field_check(&fields[i], i, err);
        if (rc < 0)
            return rc;
        for (int j = 0; j < i; j++)
            if (strcmp(fields[j].name, fields[i].name) == 0)
                return tt_err_set_field(err, TT_EINVAL, fields[i].name,
                                        "metadata field '%s' listed twice", fields[i].name);
    }
    return 0;
}

/* ---- values: members, checks, text ---- */

static void member_load(const tt_mfield *fd, const void *base, union value *v)
{
    const char *p = (const char *)base + fd->offset;
    int32_t i32;
    float f;
    unsigned char b;
    int e;

    switch (fd->type) {
    case TT_MF_I32:
        memcpy(&i32, p, sizeof(i32));
        v->i = i32;
        break;
    case TT_MF_I64: memcpy(&v->i, p, sizeof(v->i)); break;
    case TT_MF_U64: memcpy(&v->u, p, sizeof(v->u)); break;
    case TT_MF_F32:
        memcpy(&f, p, sizeof(f));
        v->d = f;
        break;
    case TT_MF_F64: memcpy(&v->d, p, sizeof(v->d)); break;
    case TT_MF_BOOL:
        memcpy(&b, p, 1); /* as a byte: a stray 2 is refused rather than undefined */
        v->i = b;
        break;
    case TT_MF_ENUM:
        memcpy(&e, p, sizeof(e));
        v->i = e;
        break;
    case TT_MF_STR: memcpy(&v->s, p, sizeof(v->s)); break;
    }
}

/* Conversions happen in their own case: @v holds only the member of its field's type. */
static void member_store(const tt_mfield *fd, const union value *v, void *base)
{
    char *p = (char *)base + fd->offset;
    int32_t i32;
    float f;
    bool b;
    int e;

    switch (fd->type) {
    case TT_MF_I32:
        i32 = (int32_t)v->i;
        memcpy(p, &i32, sizeof(i32));
        break;
    case TT_MF_I64: memcpy(p, &v->i, sizeof(v->i)); break;
    case TT_MF_U64: memcpy(p, &v->u, sizeof(v->u)); break;
    case TT_MF_F32:
        f = (float)v->d;
        memcpy(p, &f, sizeof(f));
        break;
    case TT_MF_F64: memcpy(p, &v->d, sizeof(v->d)); break;
    case TT_MF_BOOL:
        b = v->i != 0;
        memcpy(p, &b, sizeof(b));
        break;
    case TT_MF_ENUM:
        e = (int)v->i;
        memcpy(p, &e, sizeof(e));
        break;
    case TT_MF_STR: memcpy(p, &v->s, sizeof(v->s)); break;
    }
}

static bool in_range(const tt_mfield *fd, double x)
{
    return (fd->lo == 0.0 && fd->hi == 0.0) || (x >= fd->lo && x <= fd->hi);
}

/* Why @v is not a value of @fd, or NULL when it is. */
static const char *value_problem(const tt_mfield *fd, const union value *v)
{
    switch (fd->type) {
    case TT_MF_I32:
        if (v->i < INT32_MIN || v->i > INT32_MAX)
            return "out of range for an i32";
        return in_range(fd, (double)v->i) ? NULL : "out of range";
    case TT_MF_I64: return in_range(fd, (double)v->i) ? NULL : "out of range";
    case TT_MF_U64: return in_range(fd, (double)v->u) ? NULL : "out of range";
    case TT_MF_F32:
    case TT_MF_F64:
        if (!isfinite(v->d))
            return (fd->flags & TT_MF_NONFINITE) ? NULL : "not a finite number";
        if (fd->type == TT_MF_F32 && fabs(v->d) > FLT_MAX)
            return "out of range for an f32";
        return in_range(fd, v->d) ? NULL : "out of range";
    case TT_MF_BOOL: return v->i == 0 || v->i == 1 ? NULL : "not a bool (0 or 1)";
    case TT_MF_ENUM:
        if (v->i < 0 || v->i >= fd->n_names)
            return "not one of its names";
        return in_range(fd, (double)v->i) ? NULL : "not an accepted value";
    case TT_MF_STR: return v->s ? NULL : "a null string";
    }
    return "of an unknown type";
}

/* "= <value> is <problem> (accepted lo..hi)" for messages. */
static void describe(const tt_mfield *fd, const union value *v, const char *problem, char *buf,
                     size_t n)
{
    char val[96], range[96] = "";

    switch (fd->type) {
    case TT_MF_U64: snprintf(val, sizeof(val), "= %" PRIu64 " ", v->u); break;
    case TT_MF_F32:
    case TT_MF_F64: snprintf(val, sizeof(val), "= %.17g ", v->d); break;
    case TT_MF_STR: val[0] = '\0'; break;
    case TT_MF_ENUM:
        if (v->i >= 0 && v->i < fd->n_names) {
            snprintf(val, sizeof(val), "= '%s' ", fd->names[v->i]);
            break;
        }
        /* fall through */
    default: snprintf(val, sizeof(val), "= %" PRId64 " ", v->i); break;
    }
    if (fd->type != TT_MF_ENUM && !(fd->lo == 0.0 && fd->hi == 0.0))
        snprintf(range, sizeof(range), " (accepted %g..%g)", fd->lo, fd->hi);
    snprintf(buf, n, "%sis %s%s", val, problem, range);
}

/* ---- the writer ---- */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static uint8_t *buf_room(struct buf *b, size_t n)
{
    uint8_t *at;

    TT_GROW(b->p, b->cap, b->n + n);
    at = b->p + b->n;
    b->n += n;
    return at;
}

static void buf_u32(struct buf *b, uint32_t v)
{
    tt__put_u32(buf_room(b, 4), v);
}

static void buf_bytes(struct buf *b, const void *p, size_t n)
{
    if (n > 0)
        memcpy(buf_room(b, n), p, n);
}

static uint64_t value_bits(const tt_mfield *fd, const union value *v)
{
    uint64_t bits;

    if (fd->type == TT_MF_U64)
        return v->u;
    if (fd->type != TT_MF_F32 && fd->type != TT_MF_F64)
        return (uint64_t)v->i;
    memcpy(&bits, &v->d, sizeof(bits));
    return bits;
}

static int encode_field(struct buf *b, const tt_mfield *fd, const union value *v, tt_err *err)
{
    size_t len = strlen(fd->name);
    const char *s;

    buf_u32(b, (uint32_t)len);
    buf_bytes(b, fd->name, len);
    *buf_room(b, 1) = (uint8_t)fd->type;
    if (fd->type < STRING_TYPES) {
        tt__put_u64(buf_room(b, 8), value_bits(fd, v));
        return 0;
    }
    s = fd->type == TT_MF_ENUM ? fd->names[v->i] : v->s;
    len = strlen(s);
    if (len >= UINT32_MAX)
        return tt_err_set_field(err, TT_EINVAL, fd->name, "metadata field '%s' is too long",
                                fd->name);
    buf_u32(b, (uint32_t)len);
    buf_bytes(b, s, len + 1);
    return 0;
}

int tt_mfile_put_meta(tt_mfile_writer *w, const tt_mfield *fields, int n, const void *src,
                      tt_err *err)
{
    struct buf b = {0};
    int rc = table_check(fields, n, err);

    if (rc < 0)
        return rc;
    buf_u32(&b, (uint32_t)n);
    for (int i = 0; i < n && rc == 0; i++) {
        const tt_mfield *fd = &fields[i];
        const char *problem;
        char why[256];
        union value v;
        member_load(fd, src, &v);
        problem = value_problem(fd, &v);
        if (problem) {
            describe(fd, &v, problem, why, sizeof(why));
            rc = tt_err_set_field(err, TT_EINVAL, fd->name,
                                  "metadata field '%s' %s: not written", fd->name, why);
        } else {
            rc = encode_field(&b, fd, &v, err);
        }
    }
    if (rc == 0)
        rc = tt_mfile_add(w, SECTION, TT_DT_META, 1, (int64_t)b.n, b.p, err);
    free(b.p);
    return rc;
}

/* ---- the reader ---- */

/* The unread part of the section, and where refusals go. */
struct cursor {
    const tt_mfile *f;
    const uint8_t *p, *end;
    tt_err *err;
};

static bool take(struct cursor *c, size_t n, const uint8_t **out)
{
    if ((size_t)(c->end - c->p) < n)
        return false;
    *out = c->p;
    c->p += n;
    return true;
}

static bool take_u32(struct cursor *c, uint32_t *v)
{
    const uint8_t *q;

    if (!take(c, 4, &q))
        return false;
    *v = tt__get_u32(q);
    return true;
}

static int refuse_nth(const struct cursor *c, uint32_t i, const char *why)
{
    return tt_err_set(c->err, TT_ECORRUPT, "model file %s refused: metadata field #%u %s",
                      tt_mfile_path(c->f), (unsigned)i + 1, why);
}

static int refuse_entry(const struct cursor *c, const struct entry *e, const char *why)
{
    char name[TT_MFIELD_NAME_MAX + 1];

    snprintf(name, sizeof(name), "%.*s", (int)e->name_len, e->name);
    return tt_err_set_field(c->err, TT_ECORRUPT, name,
                            "model file %s refused: metadata field '%s' %s",
                            tt_mfile_path(c->f), name, why);
}

/* The string of a string-typed entry: length, bytes, a NUL and no NUL before it. */
static int parse_string(struct cursor *c, struct entry *e)
{
    const uint8_t *q;

    if (!take_u32(c, &e->str_len) || e->str_len >= (size_t)(c->end - c->p) ||
        !take(c, (size_t)e->str_len + 1, &q))
        return refuse_entry(c, e, "has a string running past the end of the section");
    if (q[e->str_len] != 0 || memchr(q, 0, e->str_len) != NULL)
        return refuse_entry(c, e, "has a string that is not NUL-terminated once");
    e->str = (const char *)q;
    return 0;
}

/* Field @i at the cursor: every length checked against what is left. */
static int parse_entry(struct cursor *c, uint32_t i, struct entry *e)
{
    const uint8_t *q;

    if (!take_u32(c, &e->name_len) || e->name_len < 1 || e->name_len > TT_MFIELD_NAME_MAX ||
        !take(c, e->name_len, &q))
        return refuse_nth(c, i, "has a name length out of bounds or past the end");
    e->name = (const char *)q;
    if (!name_valid(e->name, e->name_len))
        return refuse_nth(c, i, "has a name that is not printable ASCII");
    if (!take(c, 1, &q))
        return refuse_entry(c, e, "is truncated before its type");
    e->type = q[0];
    if (e->type == 0 || e->type >= TYPE_LIMIT)
        return refuse_entry(c, e, "has a type outside the known classes");
    if (e->type >= STRING_TYPES)
        return parse_string(c, e);
    if (!take(c, 8, &q))
        return refuse_entry(c, e, "is truncated in its value");
    e->bits = tt__get_u64(q);
    return 0;
}

static const struct entry *find_entry(const struct entry *e, uint32_t n, const char *name)
{
    size_t len = strlen(name);

    for (uint32_t i = 0; i < n; i++)
        if (e[i].name_len == len && memcmp(e[i].name, name, len) == 0)
            return &e[i];
    return NULL;
}

/* Every field of the section into *out (caller frees), checked for structure only. */
static int parse_all(struct cursor *c, struct entry **out, uint32_t *count)
{
    uint32_t n;
    int rc = 0;

    if (!take_u32(c, &n))
        return tt_err_set(c->err, TT_ECORRUPT, "model file %s refused: metadata section "
                          "truncated", tt_mfile_path(c->f));
    if (n > TT_MFIELD_MAX || n > (size_t)(c->end - c->p) / MIN_FIELD_BYTES)
        return tt_err_set(c->err, TT_ECORRUPT, "model file %s refused: metadata section "
                          "claims %u fields in %zu bytes", tt_mfile_path(c->f), (unsigned)n,
                          (size_t)(c->end - c->p));
    *out = tt_calloc(n ? n : 1, sizeof(**out));
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        rc = parse_entry(c, i, &(*out)[i]);
        for (uint32_t j = 0; j < i && rc == 0; j++)
            if ((*out)[j].name_len == (*out)[i].name_len &&
                memcmp((*out)[j].name, (*out)[i].name, (*out)[i].name_len) == 0)
                rc = refuse_entry(c, &(*out)[i], "appears twice");
    }
    if (rc == 0 && c->p != c->end)
        rc = tt_err_set(c->err, TT_ECORRUPT, "model file %s refused: metadata section has "
                        "%zu bytes after its last field", tt_mfile_path(c->f),
                        (size_t)(c->end - c->p));
    *count = n;
    return rc;
}

/* The value of @e as field @fd: its type, and for enums the name looked up. */
static int decode_value(const struct cursor *c, const tt_mfield *fd, const struct entry *e,
                        union value *v)
{
    char why[160];

    if (e->type != fd->type) {
        snprintf(why, sizeof(why), "has type %s, not %s", type_name(e->type),
                 type_name(fd->type));
        return refuse_entry(c, e, why);
    }
    switch (fd->type) {
    case TT_MF_U64: v->u = e->bits; return 0;
    case TT_MF_F32:
    case TT_MF_F64: memcpy(&v->d, &e->bits, sizeof(v->d)); return 0;
    case TT_MF_STR: v->s = e->str; return 0;
    case TT_MF_ENUM: break;
    default: v->i = tt__i64_of_bits(e->bits); return 0;
    }
    for (int k = 0; k < fd->n_names; k++) {
        if (strlen(fd->names[k]) == e->str_len && memcmp(fd->names[k], e->str, e->str_len) == 0) {
            v->i = k;
            return 0;
        }
    }
    snprintf(why, sizeof(why), "has a value that is not one of its %d names", fd->n_names);
    return refuse_entry(c, e, why);
}

static int read_field(const struct cursor *c, const tt_mfield *fd, const struct entry *e,
                      union value *v)
{
    char why[256];
    const char *problem;
    int rc = decode_value(c, fd, e, v);

    if (rc < 0)
        return rc;
    problem = value_problem(fd, v);
    if (!problem)
        return 0;
    describe(fd, v, problem, why, sizeof(why));
    return refuse_entry(c, e, why);
}

/* Every field of the table decoded into @vals (found[i] false for an absent optional one). */
static int read_fields(const struct cursor *c, const tt_mfield *fields, int n,
                       const struct entry *e, uint32_t count, union value *vals, bool *found)
{
    for (int i = 0; i < n; i++) {
        const struct entry *x = find_entry(e, count, fields[i].name);
        int rc;
        found[i] = x != NULL;
        if (!x && !(fields[i].flags & TT_MF_OPTIONAL))
            return tt_err_set_field(c->err, TT_ECORRUPT, fields[i].name,
                                    "model file %s refused: metadata field '%s' missing",
                                    tt_mfile_path(c->f), fields[i].name);
        rc = x ? read_field(c, &fields[i], x, &vals[i]) : 0;
        if (rc < 0)
            return rc;
    }
    return 0;
}

int tt_mfile_get_meta(const tt_mfile *f, const tt_mfield *fields, int n, void *dst,
                      tt_err *err)
{
    struct cursor c = {f, NULL, NULL, err};
    struct entry *e = NULL;
    union value *vals = NULL;
    bool *found = NULL;
    int64_t rows = 1, cols = -1;
    const void *data;
    uint32_t count = 0;
    int rc = table_check(fields, n, err);

    if (rc == 0)
        rc = tt_mfile_get(f, SECTION, TT_DT_META, &rows, &cols, &data, err);
    if (rc < 0)
        return rc;
    c.p = data;
    c.end = c.p + cols;
    rc = parse_all(&c, &e, &count);
    if (rc == 0) {
        vals = tt_calloc((size_t)n + 1, sizeof(*vals));
        found = tt_calloc((size_t)n + 1, sizeof(*found));
        rc = read_fields(&c, fields, n, e, count, vals, found);
    }
    for (int i = 0; i < n && rc == 0; i++)
        if (found[i])
            member_store(&fields[i], &vals[i], dst);
    free(e);
    free(vals);
    free(found);
    return rc;
}
