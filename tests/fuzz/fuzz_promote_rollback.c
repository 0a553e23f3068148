/*
 * POST /models/promote and POST /models/rollback (src/http/h_jobs.c, src/pipeline/registry.c):
 * each body goes to both handlers of a small real service (support/fuzz_app.h), which has two
 * ALS versions on disk. Version names are times of the fixture's training, unknown to a seed
 * corpus, so a "version" of the form "@N" is replaced by the Nth newest version of the named
 * model (as GET /models/versions lists them) before the handlers see it. A promotion or
 * rollback that succeeds publishes, then reloads every model of the service.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

#include <stdlib.h>
#include <string.h>

#include "tt/registry.h"

static json_t *versions; /* tt_registry_list of the fixture, read once: nothing trains */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("promote_rollback");
    versions = tt_registry_list(fz_app()->cfg.model_dir);
    return 0;
}

/* Version @n (newest first) of @model, or NULL. */
static const char *nth_version(const char *model, long n)
{
    size_t i;
    json_t *m;

    json_array_foreach(versions, i, m) {
        const char *name = json_string_value(json_object_get(m, "model"));
        json_t *v = json_array_get(json_object_get(m, "versions"), (size_t)n);
        if (name && strcmp(name, model) == 0 && v)
            return json_string_value(json_object_get(v, "version"));
    }
    return NULL;
}

static void resolve_version(json_t *body)
{
    const char *model = json_string_value(json_object_get(body, "model"));
    const char *v = json_string_value(json_object_get(body, "version"));
    const char *real;
    char *end;
    long n;

    if (!model || !v || v[0] != '@' || !v[1])
        return;
    n = strtol(v + 1, &end, 10);
    if (*end || n < 0 || !(real = nth_version(model, n)))
        return;
    json_object_set_new(body, "version", json_string(real));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *body = fz_body(data, size);

    if (!body)
        return 0;
    resolve_version(body);
    fz_handle(tt__h_promote, body);
    fz_handle(tt__h_rollback, body);
    json_decref(body);
    return 0;
}
