#include "tt/err.h"

#include <stdio.h>
#include <string.h>

struct err_entry {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_entry err_table[] = {
#define TT__ERR_ROW(name, code, status, msg) {TT_##name, code, msg},
    TT_ERRORS(TT__ERR_ROW)
#undef TT__ERR_ROW
};

static const struct err_entry *err_lookup(int code)
{
    for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return NULL;
}

const char *tt_err_name(int code)
{
    const struct err_entry *e = err_lookup(code);
    return e ? e->name : "unknown_error";
}

const char *tt_strerror(int code)
{
    const struct err_entry *e;

    if (code == 0)
        return "success";
    e = err_lookup(code);
    return e ? e->msg : "unknown error";
}

void tt_err_clear(tt_err *err)
{
    if (err)
        memset(err, 0, sizeof(*err));
}

int tt_err_set_at(tt_err *err, const char *src, int line, int code, const char *field,
                  const char *fmt, ...)
{
    va_list ap;

    if (!err || err->code != 0)
        return code;
    err->code = code;
    err->source = src;
    err->line = line;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return code;
}

const char *tt_err_msg(const tt_err *err, int code)
{
    if (err && err->code != 0 && err->message[0])
        return err->message;
    return tt_strerror(code);
}
