/*
 * The OpenAPI document the binary serves at /openapi.json (docs/openapi.json, embedded at
 * build time): it is JSON, it is OpenAPI 3.1 with a relative server, and it documents every
 * route of the routing table with its method, the admin routes with the admin token. The API
 * suite (tests/api/test_openapi.py) checks the rest against a running server.
 */
#include <criterion/criterion.h>

#include <ctype.h>
#include <jansson.h>
#include <string.h>

#include "tt/server.h"

static json_t *document(void)
{
    size_t len = 0;
    const char *text = tt_server_openapi(&len);
    json_error_t jerr;
    json_t *doc;

    cr_assert(text && len > 0, "no document embedded");
    cr_assert_eq(text[len], '\0', "the embedded document ends with a NUL");
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    cr_assert(doc, "docs/openapi.json is not JSON: line %d: %s", jerr.line, jerr.text);
    return doc;
}

Test(openapi, is_openapi_3_1_with_a_relative_server)
{
    json_t *doc = document();
    json_t *server = json_array_get(json_object_get(doc, "servers"), 0);

    cr_assert_str_eq(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
    cr_assert_str_eq(json_string_value(json_object_get(server, "url")), "/",
                     "Try it out must call the engine that serves the page");
    json_decref(doc);
}

static void lower(const char *s, char *out, size_t n)
{
    size_t i = 0;

    for (; s[i] && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

Test(openapi, documents_every_route)
{
    json_t *doc = document(), *paths = json_object_get(doc, "paths");

    cr_assert(tt_server_route_count() > 0);
    for (int i = 0; i < tt_server_route_count(); i++) {
        tt_server_route r = tt_server_route_at(i);
        char method[16];
        json_t *op, *security;

        lower(r.method, method, sizeof(method));
        op = json_object_get(json_object_get(paths, r.path), method);
        cr_expect(json_is_object(op), "%s %s is not in docs/openapi.json", r.method, r.path);
        security = json_object_get(op, "security");
        cr_expect_eq(json_array_size(security) > 0, r.admin,
                     "%s %s: security says %s, the route %s the admin token", r.method, r.path,
                     json_array_size(security) ? "a token" : "none",
                     r.admin ? "needs" : "does not need");
    }
    json_decref(doc);
}
