/*
 * Request field validation: each helper accepts an absent or null field as its default,
 * and anything else of the wrong type or range as a 400 naming the field.
 */
#include "app.h"
#include "tt/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int bad(tt_reply *out, const char *field, const char *what)
{
    tt__reply_error(out, TT_EINVAL, field, "%s %s", field, what);
    return -1;
}

static json_t *field_of(json_t *body, const char *field)
{
    json_t *v = body ? json_object_get(body, field) : NULL;
    return (v && json_is_null(v)) ? NULL : v;
}

int tt__json_string(json_t *body, const char *field, bool required, size_t max_len,
                    const char **val, tt_reply *out)
{
    json_t *v = field_of(body, field);

    *val = NULL;
    if (!v)
        return required ? bad(out, field, "is required") : 0;
    if (!json_is_string(v))
        return bad(out, field, "must be a string");
    if (json_string_length(v) == 0 || json_string_length(v) > max_len) {
        tt__reply_error(out, TT_EINVAL, field, "%s must be 1..%zu bytes", field,
                        max_len);
        return -1;
    }
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(out, field, "must not contain NUL characters");
    *val = json_string_value(v);
    return 0;
}

int tt__json_int(json_t *body, const char *field, int64_t min, int64_t max, int64_t def,
                 int64_t *val, tt_reply *out)
{
    json_t *v = field_of(body, field);

    *val = def;
    if (!v)
        return 0;
    if (!json_is_integer(v)) {
        /* 20.0 is an integer in JSON's eyes; 20.5 and "20" are not. */
        double d = json_is_real(v) ? json_real_value(v) : NAN;
        if (!(d == floor(d)) || d < (double)min || d > (double)max) {
            tt__reply_error(out, TT_EINVAL, field,
                            "%s must be an integer in %lld..%lld", field, (long long)min,
                            (long long)max);
            return -1;
        }
        *val = (int64_t)d;
        return 0;
    }
    if (json_integer_value(v) < min || json_integer_value(v) > max) {
        tt__reply_error(out, TT_EINVAL, field, "%s must be in %lld..%lld", field,
                        (long long)min, (long long)max);
        return -1;
    }
    *val = json_integer_value(v);
    return 0;
}

int tt__json_bool(json_t *body, const char *field, bool def, bool *val, tt_reply *out)
{
    json_t *v = field_of(body, field);

    *val = def;
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bad(out, field, "must be true or false");
    *val = json_is_true(v);
    return 0;
}

int tt__json_strings(json_t *body, const char *field, size_t max, size_t max_len,
                     json_t **arr, tt_reply *out)
{
    json_t *v = field_of(body, field), *s;
    size_t i;

    *arr = NULL;
    if (!v)
        return 0;
    if (!json_is_array(v))
        return bad(out, field, "must be an array of strings");
    if (json_array_size(v) > max) {
        tt__reply_error(out, TT_EINVAL, field, "%s holds at most %zu entries",
                        field, max);
        return -1;
    }
    json_array_foreach(v, i, s) {
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > max_len)
            return bad(out, field, "must hold non-empty strings");
    }
    *arr = v;
    return 0;
}

int tt__json_enum(json_t *body, const char *field, const char *const *choices, int def,
                  int *idx, tt_reply *out)
{
    json_t *v = field_of(body, field);
    char list[256] = "";

    *idx = def;
    if (!v)
        return 0;
    for (int i = 0; json_is_string(v) && choices[i]; i++) {
        if (strcmp(json_string_value(v), choices[i]) == 0) {
            *idx = i;
            return 0;
        }
    }
    for (int i = 0; choices[i]; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, choices[i], sizeof(list) - strlen(list) - 1);
    }
    tt__reply_error(out, TT_EINVAL, field, "%s must be one of: %s", field, list);
    return -1;
}

/* ---- a small writer for the hot answers ---- */

void tt__jb_raw(tt_jbuf *b, const char *s, size_t n)
{
    TT_GROW(b->p, b->cap, b->n + n + 1);
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void tt__jb_lit(tt_jbuf *b, const char *s)
{
    tt__jb_raw(b, s, strlen(s));
}

/*
 * A JSON string. Ids and titles come from our own validated data, so bytes are UTF-8 and
 * only quotes, backslashes and control characters need escaping.
 */
void tt__jb_str(tt_jbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);

    TT_GROW(b->p, b->cap, b->n + n * 6 + 3);
    b->p[b->n++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            b->p[b->n++] = '\\';
            b->p[b->n++] = (char)c;
        } else if (c < 0x20) {
            memcpy(b->p + b->n, "\\u00", 4);
            b->p[b->n + 4] = hex[c >> 4];
            b->p[b->n + 5] = hex[c & 15];
            b->n += 6;
        } else {
            b->p[b->n++] = (char)c;
        }
    }
    b->p[b->n++] = '"';
    b->p[b->n] = '\0';
}

void tt__jb_int(tt_jbuf *b, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    TT_GROW(b->p, b->cap, b->n + (size_t)n + 1);
    while (n)
        b->p[b->n++] = tmp[--n];
    b->p[b->n] = '\0';
}

void tt__jb_num(tt_jbuf *b, double v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof(tmp), "%.7g", isfinite(v) ? v : 0.0);

    tt__jb_raw(b, tmp, (size_t)n);
}

/* "key": with the separator before it unless it opens the object. */
void tt__jb_key(tt_jbuf *b, const char *key)
{
    if (b->n > 0 && b->p[b->n - 1] != '{' && b->p[b->n - 1] != '[')
        tt__jb_raw(b, ",", 1);
    tt__jb_str(b, key);
    tt__jb_raw(b, ":", 1);
}

void tt__jb_str_field(tt_jbuf *b, const char *key, const char *val)
{
    tt__jb_key(b, key);
    tt__jb_str(b, val);
}

void tt__jb_str_array(tt_jbuf *b, const char *key, const char *const *v, int n)
{
    tt__jb_key(b, key);
    tt__jb_lit(b, "[");
    for (int i = 0; i < n; i++) {
        if (i)
            tt__jb_lit(b, ",");
        tt__jb_str(b, v[i]);
    }
    tt__jb_lit(b, "]");
}
