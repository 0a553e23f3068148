/*
 * tunetrail import: the engine's CSV files and the public datasets (docs/data-formats.md);
 * `import factors` (cmd_import_factors.c) makes a model of factors trained elsewhere.
 * Row errors go to stderr as "FILE:LINE: reason" so editors and scripts can jump to them;
 * the one-line summary goes to stdout.
 */
#include "cli.h"
#include "tt/import.h"

#include <stdio.h>
#include <string.h>

static const char usage[] = "tunetrail import tracks|users|interactions FILE.csv [--skip-bad]\n"
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

static void print_skipped(void *ctx, const char *message)
{
    (void)ctx;
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

int tt_cmd_import(int argc, char **argv)
{
    bool skip_bad = false;
    const struct tt_opt opts[] = {
        {"--skip-bad", TT_OPT_BOOL, &skip_bad, "report malformed rows, import the others"},
        {NULL, TT_OPT_BOOL, NULL, NULL},
    };
    tt_import_opts io = tt_import_opts_default();
    tt_import_stats st;
    tt_err err = {0};
    tt_config cfg;
    char *pos[2];
    int npos, rc;
    tt_store *s;

    if (argc >= 2 && strcmp(argv[1], "factors") == 0)
        return tt_cmd_import_factors(argc - 1, argv + 1);
    tt_cli_parse(argc, argv, usage, opts, &cfg, pos, 2, &npos);
    if (npos != 2 || !known(pos[0])) {
        if (npos >= 1 && !known(pos[0]))
            fprintf(stderr, "tunetrail: unknown import source '%s'\n", pos[0]);
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    io.flags = skip_bad ? TT_IMPORT_SKIP_BAD : 0;
    io.report = print_skipped;
    s = tt_cli_open_store(&cfg);
    rc = run(s, pos[0], pos[1], &io, &st, &err);
    tt_store_close(s);
    if (rc < 0)
        return report_failure(&err, rc, skip_bad);
    print_summary(&st);
    return 0;
}
