/*
 * tunetrail routes: the HTTP service's routing table, as `tunetrail serve` matches it: one
 * line per route (method, path, and whether it needs the admin token or is rate limited), or
 * a JSON array with --json. Tests compare it with docs/openapi.json, so the document's
 * completeness is checked against the server itself rather than against a copy of its table.
 */
#include "cli.h"
#include "tt/server.h"

#include <stdio.h>
#include <stdlib.h>

static void print_json(void)
{
    json_t *arr = json_array();
    char *s;

    for (int i = 0; i < tt_server_route_count(); i++) {
        tt_server_route r = tt_server_route_at(i);
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:b, s:b}", "method", r.method, "path", r.path,
                                        "admin", r.admin, "rate_limited", r.rate_limited));
    }
    s = json_dumps(arr, JSON_INDENT(2));
    printf("%s\n", s ? s : "[]");
    free(s);
    json_decref(arr);
}

#define USAGE "tunetrail routes [--json]"

struct routes_args {
    bool as_json;
};

static void bind_opts(struct routes_args *a, struct tt_opt *opts)
{
    opts[0] = (struct tt_opt){"--json", TT_OPT_BOOL, &a->as_json,
                              "a JSON array of {method, path, admin, rate_limited}"};
    opts[1] = (struct tt_opt){0};
}

TT_CLI_DESCRIBE(struct routes_args, bind_opts)

static int cmd_routes(int argc, char **argv)
{
    struct routes_args a = {0};
    struct tt_opt opts[2];
    tt_config cfg;
    char *pos[1];
    int npos;

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    if (a.as_json) {
        print_json();
        return 0;
    }
    for (int i = 0; i < tt_server_route_count(); i++) {
        tt_server_route r = tt_server_route_at(i);
        printf("%-6s %s%s%s\n", r.method, r.path, r.admin ? "  (admin)" : "",
               r.rate_limited ? "  (rate limited)" : "");
    }
    return 0;
}

const struct tt_cmd tt_cmd_routes_def = {
    "routes", cmd_routes, "list the HTTP routes `serve` answers", USAGE, describe_options, 0,
    NULL};
