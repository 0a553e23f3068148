#include "cli.h"
#include "tt/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage_exit(const char *usage, const struct tt_opt *opts, int code)
{
    FILE *f = code == 0 ? stdout : stderr;

    const char *env;
    int col = 0;

    fprintf(f, "usage: %s\n", usage);
    for (const struct tt_opt *o = opts; o && o->name; o++)
        fprintf(f, "  %-22s %s\n", o->name, o->help ? o->help : "");
    fprintf(f, "global flags (each overrides its environment variable):\n ");
    for (int i = 0; tt_config_flag(i, &env); i++) {
        const char *flag = tt_config_flag(i, NULL);
        if (col + strlen(flag) + 7 > 90) {
            fprintf(f, "\n ");
            col = 0;
        }
        col += fprintf(f, " %s VALUE", flag);
    }
    fprintf(f, "\n");
    exit(code);
}

static int set_value(const struct tt_opt *o, const char *v)
{
    char *end;

    errno = 0;
    switch (o->kind) {
    case TT_OPT_STR:
        *(const char **)o->dst = v;
        return 0;
    case TT_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < -2147483647L || x > 2147483647L)
            return -1;
        *(int *)o->dst = (int)x;
        return 0;
    }
    case TT_OPT_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end)
            return -1;
        *(int64_t *)o->dst = x;
        return 0;
    }
    case TT_OPT_DOUBLE: {
        double x = strtod(v, &end);
        if (errno || end == v || *end)
            return -1;
        *(double *)o->dst = x;
        return 0;
    }
    case TT_OPT_BOOL:
        *(bool *)o->dst = true;
        return 0;
    }
    return -1;
}

static const struct tt_opt *find_opt(const struct tt_opt *opts, const char *name, size_t len)
{
    for (const struct tt_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static void config_fail(const tt_err *err)
{
    fprintf(stderr, "tunetrail: %s\n", err->message);
    exit(2);
}

void tt_cli_parse(int argc, char **argv, const char *usage, const struct tt_opt *opts,
                  tt_config *cfg, char **pos, int maxpos, int *npos)
{
    tt_err err = {0};

    *npos = 0;
    if (tt_config_load_env(cfg, &err) < 0)
        config_fail(&err);
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *eq, name[128];
        const char *val = NULL;
        const struct tt_opt *o;
        size_t len;
        int rc;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            usage_exit(usage, opts, 0);
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*npos >= maxpos) {
                fprintf(stderr, "tunetrail: unexpected argument '%s'\n", a);
                usage_exit(usage, opts, 2);
            }
            pos[(*npos)++] = a;
            continue;
        }
        eq = strchr(a, '=');
        len = eq ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof(name)) {
            fprintf(stderr, "tunetrail: unknown option '%s'\n", a);
            usage_exit(usage, opts, 2);
        }
        memcpy(name, a, len);
        name[len] = '\0';
        o = find_opt(opts, name, len);
        if (o && o->kind == TT_OPT_BOOL && !eq) {
            set_value(o, "1");
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "tunetrail: option %s needs a value\n", name);
            usage_exit(usage, opts, 2);
        }
        if (o) {
            if (set_value(o, val) < 0) {
                fprintf(stderr, "tunetrail: invalid value '%s' for %s\n", val, name);
                usage_exit(usage, opts, 2);
            }
            continue;
        }
        rc = tt_config_apply_flag(cfg, name, val, &err);
        if (rc < 0)
            config_fail(&err);
        if (rc == 0) {
            fprintf(stderr, "tunetrail: unknown option '%s'\n", name);
            usage_exit(usage, opts, 2);
        }
    }
}

int tt_cli_fail(const tt_err *err, int rc)
{
    fprintf(stderr, "tunetrail: %s\n", tt_err_msg(err, rc));
    return 1;
}

tt_store *tt_cli_open_store(const tt_config *cfg)
{
    tt_store *s = NULL;
    tt_err err = {0};
    int rc = tt_store_open(cfg->database_url, &s, &err);

    if (rc < 0) {
        tt_cli_fail(&err, rc);
        exit(rc == TT_ECONFIG ? 2 : 1);
    }
    return s;
}


tt_progress *tt_cli_progress_new(bool quiet)
{
    return tt_progress_new(stderr, tt_progress_mode_for(STDERR_FILENO, quiet));
}

void tt_cli_stage_report(void *ctx, const char *stage, int64_t done, int64_t total)
{
    const struct tt_cli_stages *s = ctx;
    char label[128];

    snprintf(label, sizeof(label), "%s %s", s->prefix, stage);
    tt_progress_report(s->p, label, done, total);
}
