/*
 * cli.h - what every subcommand shares: configuration from the environment plus global
 * flags, a small option parser, and exit codes (0 ok, 1 failure, 2 usage/configuration).
 */
#ifndef TT_CLI_H
#define TT_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tt/config.h"
#include "tt/err.h"
#include "tt/store.h"

enum tt_opt_kind { TT_OPT_STR, TT_OPT_INT, TT_OPT_I64, TT_OPT_DOUBLE, TT_OPT_BOOL };

/* One command-line option: --name VALUE (or --name=VALUE); TT_OPT_BOOL takes no value. */
struct tt_opt {
    const char *name; /* with the leading "--" */
    enum tt_opt_kind kind;
    void *dst; /* const char **, int *, int64_t *, double *, bool * */
    const char *help;
};

/*
 * Loads the configuration from the environment, then parses @argv (argv[0] is the command
 * name): global flags (see tt_config_apply_flag) and @opts. Positional arguments are
 * returned in @pos (pointers into argv, at most @maxpos). On a bad option or value it
 * prints the reason and the usage and exits with code 2; "--help" prints usage, exits 0.
 */
void tt_cli_parse(int argc, char **argv, const char *usage, const struct tt_opt *opts,
                  tt_config *cfg, char **pos, int maxpos, int *npos);

/* Prints "tunetrail: <message>" from @err/@rc to stderr and returns exit code 1. */
int tt_cli_fail(const tt_err *err, int rc);

/* Opens the configured store, or prints why not and exits 1. */
tt_store *tt_cli_open_store(const tt_config *cfg);

/* The subcommands, one file each. */
int tt_cmd_help(int argc, char **argv);
int tt_cmd_import(int argc, char **argv);
int tt_cmd_generate(int argc, char **argv);
int tt_cmd_stats(int argc, char **argv);
int tt_cmd_migrate(int argc, char **argv);
int tt_cmd_train(int argc, char **argv);
int tt_cmd_recommend(int argc, char **argv);
int tt_cmd_evaluate(int argc, char **argv);
int tt_cmd_serve(int argc, char **argv);
int tt_cmd_index(int argc, char **argv);
int tt_cmd_jobs(int argc, char **argv);
int tt_cmd_job_run(int argc, char **argv);
int tt_cmd_routes(int argc, char **argv);
int tt_cmd_export(int argc, char **argv);
/* import factors (cmd_import_factors.c), called by import with argv[0] "factors". */
int tt_cmd_import_factors(int argc, char **argv);

struct tt_ann_cli;
struct tt_content_params;
struct tt_dataset;
/* evaluate --similar (cmd_evaluate_similar.c); returns the exit code. */
int tt_cli_evaluate_similar(const tt_config *cfg, const struct tt_dataset *ds,
                            const struct tt_content_params *cp, const struct tt_ann_cli *ac,
                            bool build_index, int k, int64_t max_queries, uint64_t seed,
                            bool json);

struct tt_split;
struct tt_train_set;
struct tt_model_opts;
/* evaluate --mixes (cmd_evaluate_mixes.c) on a split and its training set; the exit code. */
int tt_cli_evaluate_mixes(const struct tt_dataset *ds, const struct tt_split *s,
                          const struct tt_train_set *ts, const struct tt_model_opts *mo,
                          bool json);

#endif
