/*
 * Engine error codes -> HTTP statuses and the JSON error shape of docs/API.md:
 * {"error": {"code": "...", "message": "...", "field": "..."}}.
 */
#include "app.h"
#include "tt/core.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int tt__http_status(int code)
{
    switch (code) {
    case TT_EINVAL:
    case TT_EPARSE:
        return 400;
    case TT_EFORBIDDEN:
        return 403;
    case TT_ENOTFOUND:
        return 404;
    case TT_ETOOBIG:
        return 413;
    case TT_ESTATE:
    case TT_EBACKEND:
        return 503;
    default:
        return 500;
    }
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

void tt__reply_error(tt_reply *out, int status, const char *code, const char *field,
                     const char *fmt, ...)
{
    char msg[512];
    json_t *e;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages can quote client input: make sure they are valid UTF-8 for the encoder. */
    e = json_pack("{s:s, s:s}", "code", code, "message", msg);
    if (!e)
        e = json_pack("{s:s, s:s}", "code", code, "message", "invalid input");
    if (field && *field) {
        json_t *f = json_string(field);
        json_object_set_new(e, "field", f ? f : json_string("?"));
    }
    tt__reply_json(out, status, json_pack("{s:o}", "error", e));
}

void tt__reply_err(tt_reply *out, int rc, const tt_err *err)
{
    int status = tt__http_status(rc);
    const char *code = tt_err_name(rc);

    if (rc == TT_ESTATE)
        code = "not_ready";
    tt__reply_error(out, status, code, err ? err->field : NULL, "%s", tt_err_msg(err, rc));
}
