/*
 * byteorder.h - fixed-width integers to and from little-endian bytes, one byte at a time, so
 * what reaches a file never depends on the host's struct layout or byte order. Internal to
 * the engine's file formats (the model file container, its metadata codec, the feedback
 * journal). The big-endian readers decode network byte order (PostgreSQL's binary COPY).
 */
#ifndef TT_BYTEORDER_H
#define TT_BYTEORDER_H

#include <stdint.h>

static inline void tt__put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void tt__put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Two's complement, whatever the host's signed representation. */
static inline void tt__put_i64(uint8_t *p, int64_t v)
{
    tt__put_u64(p, (uint64_t)v);
}

static inline uint32_t tt__get_u32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

static inline uint64_t tt__get_u64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Two's complement bits back to a signed value, without an implementation-defined cast. */
static inline int64_t tt__i64_of_bits(uint64_t u)
{
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

static inline int64_t tt__get_i64(const uint8_t *p)
{
    return tt__i64_of_bits(tt__get_u64(p));
}

/* Network byte order (big-endian), as PostgreSQL's binary formats send it. */
static inline uint32_t tt__get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t tt__get_be64(const uint8_t *p)
{
    return (uint64_t)tt__get_be32(p) << 32 | tt__get_be32(p + 4);
}

#endif
