/*
 * Engine error codes -> HTTP statuses and the JSON error shape of docs/API.md:
 * {"error": {"code": "...", "message": "...", "field": "..."}}. The status of each code is
 * the one in the error table of tt/err.h; handlers name an error, never a status.
 */
#include "app.h"
#include "tt/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tt__http_status(int code)
{
    switch (code) {
#define TT__ERR_STATUS(name, snake, status, msg) \
    case TT_##name:                             \
        return status;
        TT_ERRORS(TT__ERR_STATUS)
#undef TT__ERR_STATUS
    default:
        return 500;
    }
}

/* Seconds a client should wait before retrying, for the errors that are worth a retry. */
static int retry_after(int code)
{
    return code == TT_EDBBUSY || code == TT_ERATE ? 1 : code == TT_EFULL ? 5 : 0;
}

void tt__reply_json(tt_reply *out, int status, json_t *j)
{
    out->status = status;
    out->body = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(7));
    out->len = out->body ? strlen(out->body) : 0;
    out->content_type = "application/json";
    json_decref(j);
    if (!out->body) {
        /* Only reachable with invalid UTF-8 in a string we built: answer, never crash. */
        out->status = 500;
        out->body = tt_strdup("{\"error\":{\"code\":\"internal_error\","
                              "\"message\":\"the answer could not be encoded\"}}");
        out->len = strlen(out->body);
    }
}

void tt__reply_error(tt_reply *out, int code, const char *field, const char *fmt, ...)
{
    char msg[512];
    json_t *e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages can quote client input: make sure they are valid UTF-8 for the encoder. */
    e = json_pack("{s:s, s:s}", "code", tt_err_name(code), "message", msg);
    if (!e)
        e = json_pack("{s:s, s:s}", "code", tt_err_name(code), "message", "invalid input");
    if (field && *field) {
        json_t *f = json_string(field);
        json_object_set_new(e, "field", f ? f : json_string("?"));
    }
    tt__reply_json(out, tt__http_status(code), json_pack("{s:o}", "error", e));
    out->retry_after = retry_after(code);
}

void tt__reply_err(tt_reply *out, int rc, const tt_err *err)
{
    tt__reply_error(out, rc, err ? err->field : NULL, "%s", tt_err_msg(err, rc));
}
