/*
 * err.h - the engine's one error vocabulary.
 *
 * Every fallible function returns int: 0 on success or a negative TT_E* code from the
 * table below. Detail (a human sentence, the offending field, where it was raised) goes
 * into a caller-owned tt_err, which may be NULL. The first error set wins: later calls
 * to tt_err_set() on an already-set tt_err keep the original message but still return
 * their own code, so `return tt_err_set(err, ...)` is always safe.
 */
#ifndef TT_ERR_H
#define TT_ERR_H

#include <stdarg.h>

/*
 * X(name, snake_case code used in JSON error bodies, HTTP status, default message).
 * This is the one table of every error the engine can answer with: the HTTP service turns a
 * code into its status here and nowhere else, and docs/API.md lists every row (a test checks).
 */
#define TT_ERRORS(X)                                                                          \
    X(EINVAL, "invalid_argument", 400, "invalid argument")                                    \
    X(EPARSE, "parse_error", 400, "malformed input")                                          \
    X(EUNAUTHORIZED, "unauthorized", 401, "an admin token is required")                       \
    X(EFORBIDDEN, "tier_forbidden", 403, "tier does not include this feature")                \
    X(EDENIED, "forbidden", 403, "the admin token is wrong")                                  \
    X(ENOTFOUND, "not_found", 404, "not found")                                               \
    X(EMETHOD, "method_not_allowed", 405, "method not allowed")                               \
    X(EEXIST, "already_exists", 409, "already exists")                                        \
    X(ETOOBIG, "payload_too_large", 413, "payload too large")                                 \
    X(EMEDIA, "unsupported_media_type", 415, "unsupported media type")                        \
    X(ERATE, "rate_limited", 429, "too many requests")                                        \
    X(EHEADERS, "request_header_fields_too_large", 431, "request header fields too large")    \
    X(ENOMEM, "out_of_memory", 500, "out of memory")                                          \
    X(EIO, "io_error", 500, "input/output error")                                             \
    X(ECORRUPT, "corrupt_model", 500, "corrupt or incompatible model file")                   \
    X(ECONFIG, "invalid_config", 500, "invalid configuration")                                \
    X(EUNSUPPORTED, "unsupported", 500, "unsupported")                                        \
    X(EINTERNAL, "internal_error", 500, "internal error")                                     \
    X(ESTATE, "not_ready", 503, "not ready")                                                  \
    X(EBACKEND, "backend_unavailable", 503, "backend unavailable")                            \
    X(EDBBUSY, "database_unavailable", 503, "the database did not answer within its budget") \
    X(EFULL, "journal_full", 503, "no room to keep the event until the database is back")

enum tt_errcode {
    TT_OK = 0,
    TT__ERR_BASE = -1000,
#define TT__ERR_ENUM(name, code, status, msg) TT_##name,
    TT_ERRORS(TT__ERR_ENUM)
#undef TT__ERR_ENUM
    TT__ERR_END
};

typedef struct tt_err {
    int code;           /* 0 while unset */
    char message[512];  /* human sentence */
    char field[64];     /* offending field or parameter, "" if none */
    const char *source; /* __FILE__ where raised */
    int line;           /* __LINE__ where raised */
} tt_err;

/* Snake_case code name of @code ("invalid_argument"); "unknown_error" for unknown codes. */
const char *tt_err_name(int code);
/* Default human message of @code. */
const char *tt_strerror(int code);

/* Resets @err to unset. @err may be NULL. */
void tt_err_clear(tt_err *err);

/*
 * Records an error in @err (if non-NULL and not already set) and returns @code, so callers
 * can `return tt_err_set(err, TT_EINVAL, "limit must be 1..%d", max);`.
 */
int tt_err_set_at(tt_err *err, const char *src, int line, int code, const char *field,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#define tt_err_set(err, code, ...) tt_err_set_at((err), __FILE__, __LINE__, (code), NULL, __VA_ARGS__)
#define tt_err_set_field(err, code, field, ...) \
    tt_err_set_at((err), __FILE__, __LINE__, (code), (field), __VA_ARGS__)

/* The message of @err, or the default message of @code when @err is NULL or unset. */
const char *tt_err_msg(const tt_err *err, int code);

#endif
