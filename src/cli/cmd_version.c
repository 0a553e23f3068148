/*
 * tunetrail version (and tunetrail --version): the engine's version, then how it was built
 * and which libraries serve each backend, so a bug report says what ran.
 */
#include "cli.h"
#include "tt/ann.h"
#include "tt/cache.h"
#include "tt/server.h"
#include "tt/version.h"

#include <jansson.h>
#include <stdio.h>

static int cmd_version(int argc, char **argv)
{
    char store[200];

    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: %s\n", tt_cmd_version_def.usage);
        return 2;
    }
    tt_store_versions(store, sizeof(store));
    printf("tunetrail %s\n", tt_version());
    printf("compiler:  %s\n", tt_version_compiler());
    printf("database:  %s\n", store);
    printf("cache:     in-process, %s\n", tt_cache_redis_version());
    printf("index:     %s\n", tt_ann_backend_version());
    printf("http:      libmicrohttpd %s\n", tt_server_http_version());
    printf("json:      jansson %s\n", JANSSON_VERSION);
    printf("gpu:       none (no GPU code path: everything runs on the CPU)\n");
    return 0;
}

const struct tt_cmd tt_cmd_version_def = {
    "version", cmd_version, "print the version and what this build includes",
    "tunetrail version | tunetrail --version", NULL, 0, NULL};
