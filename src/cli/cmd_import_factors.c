/*
 * tunetrail import factors: an ALS model made of user and track factors trained elsewhere
 * (Spark MLlib's ALS, ...), published as a new version of the free tier's als or of an
 * enterprise custom model (docs/pipeline.md, "Factors trained elsewhere"). Errors in a
 * table read "FILE:LINE: reason"; the summary goes to stdout.
 */
#include "cli.h"
#include "tt/pipeline.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "tunetrail import factors --users FILE --tracks FILE [--user-ids FILE --track-ids FILE]\n"
    "       [--tier free|enterprise] [--name als|NAME] [--skip-unknown]\n"
    "       [--alpha A] [--regularization R] [--scaling linear|log|bm25]\n"
    "       [--bm25-k1 K] [--bm25-b B] [--log-eps E] [--reg-exponent E] [--restarts N]";

/* The flags' values before they become the import's parameters. */
struct flags {
    const char *scaling;
    double alpha, regularization, bm25_k1, bm25_b, log_eps, reg_exponent;
    int restarts;
};

static int scaling_of(const char *s)
{
    for (int i = 0; i < TT_ALS_N_SCALINGS; i++)
        if (strcmp(s, tt_als_scaling_names[i]) == 0)
            return i;
    return -1;
}

/* Sets @im->als from @f; 2 after printing why when a value is out of range. */
static int apply_flags(const struct flags *f, tt_factor_import *im)
{
    tt_als_params *p = &im->als;
    int s = scaling_of(f->scaling);
    tt_err err = {0};

    if (s < 0) {
        fprintf(stderr, "tunetrail: --scaling must be linear, log or bm25\n");
        return 2;
    }
    p->scaling = (enum tt_als_scaling)s;
    p->alpha = (float)f->alpha;
    p->regularization = (float)f->regularization;
    p->bm25_k1 = (float)f->bm25_k1;
    p->bm25_b = (float)f->bm25_b;
    p->log_eps = (float)f->log_eps;
    p->reg_exponent = (float)f->reg_exponent;
    p->restarts = f->restarts;
    p->factors = 1; /* the tables give the factors; tt_als_from_factors checks them */
    if (tt_als_params_check(p, &err) < 0) {
        fprintf(stderr, "tunetrail: --%s: %s\n", err.field, err.message);
        return 2;
    }
    return 0;
}

static void print_report(const tt_config *cfg, const tt_factor_import *im,
                         const tt_factor_import_report *r)
{
    printf("imported %d factors: %lld user rows, %lld track rows", r->k, (long long)r->user_rows,
           (long long)r->track_rows);
    if (r->unknown_users || r->unknown_tracks)
        printf("; skipped %lld user and %lld track rows of ids the database does not know",
               (long long)r->unknown_users, (long long)r->unknown_tracks);
    printf("\nusers: %d of %d have factors", r->users - r->users_without, r->users);
    if (r->users_without)
        printf(" (%d without: folded in from their history when they ask)", r->users_without);
    printf("\ntracks: %d of %d have factors", r->tracks - r->tracks_without, r->tracks);
    if (r->tracks_without)
        printf(" (%d without: zero vectors, scored 0 for every listener, so ranked after every "
               "track scored above 0)",
               r->tracks_without);
    printf("\n%s/%s version %s published: %s/%s/%s.ttm (%.2f s)\n", im->tier, im->name, r->version,
           cfg->model_dir, im->tier, im->name, r->seconds);
}

static int report_failure(const tt_err *err, int rc)
{
    /* Table errors already read "FILE:LINE: reason". */
    if (rc == TT_EPARSE)
        fprintf(stderr, "%s\n", tt_err_msg(err, rc));
    else
        fprintf(stderr, "tunetrail: %s\n", tt_err_msg(err, rc));
    fprintf(stderr, "tunetrail: import failed; nothing was written%s\n",
            strcmp(err->field, "skip_unknown") == 0
                ? " (--skip-unknown leaves rows of unknown ids out)"
                : "");
    return 1;
}

int tt_cmd_import_factors(int argc, char **argv)
{
    tt_factor_import im = tt_factor_import_default();
    struct flags f = {tt_als_scaling_names[im.als.scaling],
                      im.als.alpha,
                      im.als.regularization,
                      im.als.bm25_k1,
                      im.als.bm25_b,
                      im.als.log_eps,
                      im.als.reg_exponent,
                      im.als.restarts};
    const struct tt_opt opts[] = {
        {"--users", TT_OPT_STR, &im.users, "user factors: CSV, or .npy with --user-ids"},
        {"--tracks", TT_OPT_STR, &im.tracks, "track factors: CSV, or .npy with --track-ids"},
        {"--user-ids", TT_OPT_STR, &im.user_ids, "ids of the rows of a .npy --users, one a line"},
        {"--track-ids", TT_OPT_STR, &im.track_ids, "ids of the rows of a .npy --tracks"},
        {"--tier", TT_OPT_STR, &im.tier, "free (default) or enterprise (a custom model)"},
        {"--name", TT_OPT_STR, &im.name, "als (default; the free tier's) or a custom name"},
        {"--skip-unknown", TT_OPT_BOOL, &im.skip_unknown,
         "leave out rows of ids the database does not know (and count them)"},
        {"--alpha", TT_OPT_DOUBLE, &f.alpha, "confidence scale used for fold-in (default 3)"},
        {"--regularization", TT_OPT_DOUBLE, &f.regularization,
         "L2 weight used for fold-in (default 20)"},
        {"--scaling", TT_OPT_STR, &f.scaling, "confidence: linear|log|bm25 (default bm25)"},
        {"--bm25-k1", TT_OPT_DOUBLE, &f.bm25_k1, "BM25 k1 (default 100)"},
        {"--bm25-b", TT_OPT_DOUBLE, &f.bm25_b, "BM25 b (default 0.8)"},
        {"--log-eps", TT_OPT_DOUBLE, &f.log_eps, "eps of log(1 + r/eps) (default 1)"},
        {"--reg-exponent", TT_OPT_DOUBLE, &f.reg_exponent,
         "frequency-scaled regularization exponent used for fold-in (as trained)"},
        {"--restarts", TT_OPT_INT, &f.restarts,
         "the tables hold N factorizations side by side, user vectors divided by N, as "
         "`tunetrail export` writes a model of N restarts (default 1)"},
        {NULL, TT_OPT_BOOL, NULL, NULL},
    };
    tt_factor_import_report rep;
    tt_err err = {0};
    tt_config cfg;
    int npos, rc;

    tt_cli_parse(argc, argv, usage, opts, &cfg, NULL, 0, &npos);
    if (!im.users || !im.tracks) {
        fprintf(stderr, "tunetrail: --users and --tracks are required\nusage: %s\n", usage);
        return 2;
    }
    if ((rc = apply_flags(&f, &im)) != 0)
        return rc;
    rc = tt_pipeline_import_factors(&cfg, &im, &rep, &err);
    if (rc < 0)
        return report_failure(&err, rc);
    print_report(&cfg, &im, &rep);
    return 0;
}
