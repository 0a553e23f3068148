/*
 * tunetrail generate: fills the configured database with deterministic synthetic data
 * (docs/synthetic-data.md). Progress goes to stderr (a bar on a terminal, a line per table
 * otherwise, nothing with --quiet); one summary line goes to stdout.
 */
#include "cli.h"
#include "tt/core.h"
#include "tt/generate.h"

#include <stdio.h>
#include <string.h>

#define USAGE                                                                                      \
    "tunetrail generate --users N --tracks M --interactions K [--seed S] [--batch-rows B] [--quiet]"
#define UNSET INT64_MIN

static int missing(const char *flag)
{
    fprintf(stderr, "tunetrail: %s is required\nusage: %s\n", flag, USAGE);
    return 2;
}

/* Exit code 2 with the offending flag named, as for any other usage error. */
static int check_params(const tt_generate_params *p)
{
    tt_err err = {0};
    char flag[sizeof(err.field) + 2];

    if (p->users == UNSET)
        return missing("--users");
    if (p->tracks == UNSET)
        return missing("--tracks");
    if (p->interactions == UNSET)
        return missing("--interactions");
    if (tt_generate_check(p, &err) == 0)
        return 0;
    snprintf(flag, sizeof(flag), "--%s", err.field);
    for (char *c = flag; *c; c++)
        if (*c == '_')
            *c = '-';
    fprintf(stderr, "tunetrail: invalid %s: %s\n", flag, err.message);
    return 2;
}

/* Generated ids overwrite earlier generated rows; anything else already there stays. */
static void warn_if_not_empty(tt_store *s)
{
    int64_t n = 0;

    if (tt_store_count(s, "interactions", &n, NULL) == 0 && n > 0)
        fprintf(stderr,
                "tunetrail: note: the database already holds %lld interactions; "
                "generated rows are added to them (rows with the same ids are "
                "replaced)\n",
                (long long)n);
}

static void print_summary(const tt_generate_params *p, const tt_generate_stats *st)
{
    int64_t rows = st->artists + st->tracks + st->users + st->interactions;
    double secs = st->seconds > 1e-9 ? st->seconds : 1e-9;

    printf("generated %lld artists, %lld tracks, %lld users, %lld interactions (seed %llu) "
           "in %.2f s: %.0f rows/s\n",
           (long long)st->artists, (long long)st->tracks, (long long)st->users,
           (long long)st->interactions, (unsigned long long)p->seed, st->seconds,
           (double)rows / secs);
}

struct generate_args {
    tt_generate_params p;
    int64_t seed;
    bool quiet;
};

static void bind_opts(struct generate_args *a, struct tt_opt *opts)
{
    tt_generate_params *p = &a->p;
    const struct tt_opt o[] = {
        {"--users", TT_OPT_I64, &p->users, "number of users (1..10000000)"},
        {"--tracks", TT_OPT_I64, &p->tracks, "number of tracks (1..10000000); artists ~ tracks/8"},
        {"--interactions", TT_OPT_I64, &p->interactions, "exact number of interactions (>= users)"},
        {"--seed", TT_OPT_I64, &a->seed, "random seed: the same seed gives the same rows (42)"},
        {"--batch-rows", TT_OPT_I64, &p->batch_rows, "rows per transaction (500000)"},
        TT_CLI_QUIET_OPT(&a->quiet),
        {0},
    };

    a->p = tt_generate_params_default();
    a->seed = (int64_t)a->p.seed;
    a->quiet = false;
    a->p.users = a->p.tracks = a->p.interactions = UNSET;
    memcpy(opts, o, sizeof(o));
}

TT_CLI_DESCRIBE(struct generate_args, bind_opts)

static int cmd_generate(int argc, char **argv)
{
    struct generate_args a;
    tt_generate_params *pp = &a.p;
    struct tt_opt opts[7];
    struct tt_cli_stages stages = {NULL, "generate"};
    tt_generate_stats st;
    tt_err err = {0};
    tt_config cfg;
    char *pos[1];
    int npos, rc;
    tt_store *s;

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    pp->seed = (uint64_t)a.seed;
    if ((rc = check_params(pp)) != 0)
        return rc;
    s = tt_cli_open_store(&cfg);
    warn_if_not_empty(s);
    stages.p = tt_cli_progress_new(a.quiet);
    tt_progress_set_unit(stages.p, "rows");
    pp->progress = tt_cli_stage_report;
    pp->progress_ctx = &stages;
    rc = tt_generate_run(s, pp, &st, &err);
    tt_progress_free(stages.p);
    tt_store_close(s);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    print_summary(pp, &st);
    return 0;
}

const struct tt_cmd tt_cmd_generate_def = {
    "generate", cmd_generate, "fill the database with deterministic synthetic data", USAGE,
    describe_options, 0, NULL};
