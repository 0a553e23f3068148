/*
 * tunetrail export factors: a published ALS model's user and track factors, in the layouts
 * `tunetrail import factors` reads (docs/pipeline.md, "Factors trained elsewhere"), for
 * another system to start from or for a round trip.
 */
#include "cli.h"
#include "tt/pipeline.h"
#include "tt/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "tunetrail export factors --model NAME [--tier T] --format csv|npy --out DIR";

/*
 * @f as the import's option parser (strtod, then float) reads it back: %g when that is
 * exact (0.8 rather than 0.800000012), else all nine digits.
 */
static const char *float_arg(float f, char *buf, size_t cap)
{
    snprintf(buf, cap, "%g", (double)f);
    if ((float)strtod(buf, NULL) != f)
        snprintf(buf, cap, "%.9g", (double)f);
    return buf;
}

/* The import command that gives the same model back from what was written. */
static void print_import_line(const tt_factor_export_report *r, const char *tier, const char *name,
                              bool npy)
{
    const tt_als_params *p = &r->als;
    char a[32], b[32];

    printf("import them back with:\n  tunetrail import factors --users %s --tracks %s", r->files[0],
           npy ? r->files[2] : r->files[1]);
    if (npy)
        printf(" --user-ids %s --track-ids %s", r->files[1], r->files[3]);
    if (strcmp(tier, "free") != 0 || strcmp(name, "als") != 0)
        printf(" --tier %s --name %s", tier, name);
    printf(" --alpha %s", float_arg(p->alpha, a, sizeof(a)));
    printf(" --regularization %s --scaling %s", float_arg(p->regularization, a, sizeof(a)),
           tt_als_scaling_names[p->scaling]);
    if (p->reg_exponent != 0.0f)
        printf(" --reg-exponent %s", float_arg(p->reg_exponent, a, sizeof(a)));
    if (p->restarts > 1)
        printf(" --restarts %d", p->restarts);
    if (p->scaling == TT_ALS_BM25)
        printf(" --bm25-k1 %s --bm25-b %s", float_arg(p->bm25_k1, a, sizeof(a)),
               float_arg(p->bm25_b, b, sizeof(b)));
    if (p->scaling == TT_ALS_LOG)
        printf(" --log-eps %s", float_arg(p->log_eps, a, sizeof(a)));
    printf("\n");
}

struct export_args {
    const char *model, *tier, *format, *out;
};

static void bind_opts(struct export_args *a, struct tt_opt *opts)
{
    const struct tt_opt o[] = {
        {"--model", TT_OPT_STR, &a->model, "the ALS model: als, or a custom model's name"},
        {"--tier", TT_OPT_STR, &a->tier, "its tier (default: the tier holding it, else free)"},
        {"--format", TT_OPT_STR, &a->format, "csv (users.csv, tracks.csv) or npy (.npy + ids)"},
        {"--out", TT_OPT_STR, &a->out, "directory to write into (created if missing)"},
        {0},
    };

    memcpy(opts, o, sizeof(o));
}

TT_CLI_DESCRIBE(struct export_args, bind_opts)

static int export_factors(int argc, char **argv)
{
    struct export_args a = {0};
    struct tt_opt opts[5];
    tt_factor_export_report rep;
    tt_err err = {0};
    tt_config cfg;
    bool npy;
    int npos, rc;

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, usage, opts, &cfg, NULL, 0, &npos);
    if (!a.model || !a.format || !a.out ||
        (strcmp(a.format, "csv") != 0 && strcmp(a.format, "npy") != 0)) {
        fprintf(stderr,
                "tunetrail: --model, --format csv|npy and --out are required\n"
                "usage: %s\n",
                usage);
        return 2;
    }
    npy = strcmp(a.format, "npy") == 0;
    if (!a.tier)
        a.tier = tt_registry_tier_of(cfg.model_dir, a.model);
    if (!a.tier)
        a.tier = "free";
    rc = tt_pipeline_export_factors(
        &cfg, a.tier, a.model, npy ? TT_FACTORS_FORMAT_NPY : TT_FACTORS_FORMAT_CSV, a.out, &rep,
        &err);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    printf("exported %s/%s version %s: %d users and %d tracks x %d factors\n", a.tier, a.model,
           rep.version[0] ? rep.version : "(unversioned)", rep.users, rep.tracks, rep.k);
    for (int i = 0; i < 4 && rep.files[i][0]; i++)
        printf("  %s\n", rep.files[i]);
    print_import_line(&rep, a.tier, a.model, npy);
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "factors") == 0)
        return export_factors(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", usage);
        return 0;
    }
    fprintf(stderr, "tunetrail: export what? (exports: factors)\nusage: %s\n", usage);
    return 2;
}

const struct tt_cmd tt_cmd_export_def = {
    "export", cmd_export, "write a published ALS model's factors (export factors)", usage,
    describe_options, 0, "factors"};
