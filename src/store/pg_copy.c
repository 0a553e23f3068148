/*
 * PostgreSQL's binary COPY format, decoded for the interaction scan (store_pg.c streams it).
 *
 * Why binary: the training snapshot reads every interaction. The text protocol makes the
 * server format each integer and float as digits and us parse them back, and a cursor adds
 * a round trip per batch; binary COPY sends each value as its fixed-width network-order
 * bytes in one stream. Text columns arrive as their UTF-8 bytes with a length in front;
 * they are NUL-terminated in place, inside libpq's row buffer, so nothing is copied.
 *
 * Layout (PostgreSQL "COPY" reference, binary format): an 11-byte signature, a 32-bit flags
 * word, a 32-bit header extension length and that many bytes; then per tuple a 16-bit field
 * count, and per field a 32-bit length (-1 for NULL) and the value; a field count of -1 ends
 * the data. libpq hands the header together with the first tuple.
 */
#include "store_pg.h"
#include "tt/byteorder.h"

#include <math.h>
#include <string.h>

static const uint8_t signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};

/* Columns of the interaction COPY, in the order of TT__PG_COPY_INTERACTIONS' select list. */
enum { C_USER, C_TRACK, C_ACTION, C_WEIGHT, C_MS, C_AT, C_CONTEXT, C_REC, C_EVENT, C_ID, N_COLS };

struct field {
    uint8_t *p; /* NULL for SQL NULL */
    int32_t len;
};

int tt__pg_copy_header(const uint8_t *buf, size_t len, size_t *skip)
{
    uint32_t flags, ext;

    if (len < 19 || memcmp(buf, signature, sizeof(signature)) != 0)
        return TT_ECORRUPT;
    flags = tt__get_be32(buf + 11);
    ext = tt__get_be32(buf + 15);
    /* Bit 16 says OIDs are included; bits 17-31 must be zero for a reader of this version. */
    if ((flags & 0xffff0000u) != 0 || ext > len - 19)
        return TT_ECORRUPT;
    *skip = 19 + ext;
    return 0;
}

/* Splits one tuple into its fields; 0, 1 for the trailer, or TT_ECORRUPT. */
static int split(uint8_t *buf, size_t len, struct field *f)
{
    size_t at = 2;
    int16_t n;

    if (len < 2)
        return TT_ECORRUPT;
    n = (int16_t)(uint16_t)(buf[0] << 8 | buf[1]);
    if (n == -1)
        return 1;
    if (n != N_COLS)
        return TT_ECORRUPT;
    for (int i = 0; i < N_COLS; i++) {
        int32_t flen;

        if (len - at < 4)
            return TT_ECORRUPT;
        flen = (int32_t)tt__get_be32(buf + at);
        at += 4;
        if (flen < -1 || (flen > 0 && (size_t)flen > len - at))
            return TT_ECORRUPT;
        f[i].p = flen < 0 ? NULL : buf + at;
        f[i].len = flen;
        at += flen < 0 ? 0 : (size_t)flen;
    }
    return at == len ? 0 : TT_ECORRUPT;
}

/*
 * A text field as a C string. The byte after it is the next field's length, already read by
 * split(), or the terminator libpq puts after every row.
 */
static const char *text(struct field *f)
{
    if (!f->p)
        return NULL;
    f->p[f->len] = '\0';
    return (const char *)f->p;
}

static int int8(const struct field *f, int64_t null_value, int64_t *out)
{
    if (!f->p) {
        *out = null_value;
        return 0;
    }
    if (f->len != 8)
        return TT_ECORRUPT;
    *out = tt__i64_of_bits(tt__get_be64(f->p));
    return 0;
}

static int float4(const struct field *f, float *out)
{
    uint32_t w;

    if (!f->p) {
        *out = NAN;
        return 0;
    }
    if (f->len != 4)
        return TT_ECORRUPT;
    w = tt__get_be32(f->p);
    memcpy(out, &w, sizeof(*out));
    return 0;
}

int tt__pg_copy_interaction(uint8_t *buf, size_t len, tt_interaction_rec *r)
{
    struct field f[N_COLS];
    int rc = split(buf, len, f), act;

    if (rc != 0)
        return rc;
    if (!f[C_USER].p || !f[C_TRACK].p || !f[C_ACTION].p)
        return TT_ECORRUPT;
    act = tt_action_parse((const char *)f[C_ACTION].p, (size_t)f[C_ACTION].len);
    r->action = act < 0 ? TT_ACT_PLAY : (enum tt_action)act;
    rc = float4(&f[C_WEIGHT], &r->weight);
    if (rc == 0)
        rc = int8(&f[C_MS], -1, &r->ms_played);
    if (rc == 0)
        rc = int8(&f[C_AT], 0, &r->occurred_at);
    if (rc == 0)
        rc = int8(&f[C_ID], 0, &r->id);
    if (rc < 0)
        return rc;
    /* Last: terminating a field overwrites the first byte of the next one's length. */
    r->user_id = text(&f[C_USER]);
    r->track_id = text(&f[C_TRACK]);
    r->context = text(&f[C_CONTEXT]);
    r->recommendation_id = text(&f[C_REC]);
    r->event_id = text(&f[C_EVENT]);
    return 0;
}
