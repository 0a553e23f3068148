/*
 * tunetrail import: the engine's CSV files and the public datasets (docs/data-formats.md);
 * `import factors` (cmd_import_factors.c) makes a model of factors trained elsewhere.
 * Row errors go to stderr as "FILE:LINE: reason" so editors and scripts can jump to them;
 * the one-line summary goes to stdout. Progress (bytes of each file read) goes to stderr.
 */
#include "cli.h"
#include "tt/import.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "tunetrail import tracks|users|interactions FILE.csv [--skip-bad] [--quiet]\n"
                            "       tunetrail import lastfm-hetrec DIR [--skip-bad]\n"
                            "       tunetrail import musicoset DIR [--skip-bad]\n"
                            "       tunetrail import gtzan-features FILE.csv [--skip-bad]\n"
                            "       tunetrail import factors --users FILE --tracks FILE ... "
                            "(tunetrail import factors --help)";

typedef int (*dataset_fn)(tt_store *s, const char *path, const tt_import_opts *opts,
                          tt_import_stats *stats, tt_err *err);

static const struct {
    const char *name;
    dataset_fn fn;
} datasets[] = {
    {"lastfm-hetrec", tt_import_lastfm_hetrec},
    {"musicoset", tt_import_musicoset},
    {"gtzan-features", tt_import_gtzan},
};

/* A skipped row's "FILE:LINE: reason", above the bar when there is one. */
static void print_skipped(void *ctx, const char *message)
{
    if (ctx)
        tt_progress_note(ctx, "%s", message);
    else
        fprintf(stderr, "%s\n", message);
}

static dataset_fn find_dataset(const char *what)
{
    for (size_t i = 0; i < sizeof(datasets) / sizeof(datasets[0]); i++)
        if (strcmp(what, datasets[i].name) == 0)
            return datasets[i].fn;
    return NULL;
}

/* @what is known(): a CSV kind or a dataset. */
static int run(tt_store *s, const char *what, const char *path, const tt_import_opts *opts,
               tt_import_stats *st, tt_err *err)
{
    int kind = tt_import_kind_parse(what);

    if (kind >= 0)
        return tt_import_csv(s, (enum tt_import_kind)kind, path, opts, st, err);
    return find_dataset(what)(s, path, opts, st, err);
}

static bool known(const char *what)
{
    return find_dataset(what) || tt_import_kind_parse(what) >= 0;
}

static void print_summary(const tt_import_stats *st)
{
    const char *names[] = {"artists", "tracks", "users", "interactions"};
    int64_t counts[] = {st->artists, st->tracks, st->users, st->interactions};
    char parts[256] = "";
    size_t n = 0;

    for (int i = 0; i < 4; i++)
        if (counts[i] > 0 && n < sizeof(parts))
            n += (size_t)snprintf(parts + n, sizeof(parts) - n, "%s%lld %s", n ? ", " : "",
                                  (long long)counts[i], names[i]);
    printf("imported %lld rows%s%s%s, skipped %lld, %.2f s, %.0f rows/s\n", (long long)st->rows,
           n ? " (" : "", parts, n ? ")" : "", (long long)st->skipped, st->seconds,
           st->seconds > 0 ? (double)st->rows / st->seconds : 0.0);
}

static int report_failure(const tt_err *err, int rc, bool skip_bad)
{
    /* Row errors already read "FILE:LINE: reason"; other errors get the program's name. */
    if (rc == TT_EPARSE)
        fprintf(stderr, "%s\n", tt_err_msg(err, rc));
    else
        fprintf(stderr, "tunetrail: %s\n", tt_err_msg(err, rc));
    fprintf(stderr, "tunetrail: import failed; nothing was written%s\n",
            rc == TT_EPARSE && !skip_bad ? " (--skip-bad imports the other rows)" : "");
    return 1;
}

struct import_args {
    bool skip_bad, quiet;
};

static void bind_opts(struct import_args *a, struct tt_opt *opts)
{
    opts[0] = (struct tt_opt){"--skip-bad", TT_OPT_BOOL, &a->skip_bad,
                              "report malformed rows, import the others"};
    opts[1] = (struct tt_opt)TT_CLI_QUIET_OPT(&a->quiet);
    opts[2] = (struct tt_opt){0};
}

TT_CLI_DESCRIBE(struct import_args, bind_opts)

static int cmd_import(int argc, char **argv)
{
    struct import_args a = {0};
    struct tt_opt opts[3];
    struct tt_cli_stages stages = {NULL, "import"};
    tt_import_opts io = tt_import_opts_default();
    tt_import_stats st;
    tt_err err = {0};
    tt_config cfg;
    char *pos[2];
    int npos, rc;
    tt_store *s;

    if (argc >= 2 && strcmp(argv[1], "factors") == 0)
        return tt_cmd_import_factors(argc - 1, argv + 1);
    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, usage, opts, &cfg, pos, 2, &npos);
    if (npos != 2 || !known(pos[0])) {
        if (npos >= 1 && !known(pos[0]))
            fprintf(stderr, "tunetrail: unknown import source '%s'\n", pos[0]);
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    io.flags = a.skip_bad ? TT_IMPORT_SKIP_BAD : 0;
    s = tt_cli_open_store(&cfg);
    stages.p = tt_cli_progress_new(a.quiet);
    tt_progress_set_unit(stages.p, "bytes");
    io.report = print_skipped;
    io.report_ctx = stages.p;
    io.progress = tt_cli_stage_report;
    io.progress_ctx = &stages;
    rc = run(s, pos[0], pos[1], &io, &st, &err);
    tt_progress_free(stages.p);
    tt_store_close(s);
    if (rc < 0)
        return report_failure(&err, rc, a.skip_bad);
    print_summary(&st);
    return 0;
}

const struct tt_cmd tt_cmd_import_def = {
    "import", cmd_import, "import tracks, users, interactions, a public dataset, or ALS factors trained elsewhere",
    usage,
    describe_options, 0, "tracks users interactions lastfm-hetrec musicoset gtzan-features factors"};
