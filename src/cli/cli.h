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
#include "tt/core.h"
#include "tt/err.h"
#include "tt/progress.h"
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

/* The option every command with a progress display takes. */
#define TT_CLI_QUIET_OPT(dst)                                                                      \
    {"--quiet", TT_OPT_BOOL, (dst), "no progress on stderr (results still go to stdout)"}

/*
 * The progress display of a command, on stderr: a bar redrawn in place on a terminal, one
 * line per finished stage otherwise (logs, pipes), nothing with @quiet. Free it with
 * tt_progress_free before printing results that follow the last stage.
 */
tt_progress *tt_cli_progress_new(bool quiet);

/* A tt_progress_fn that shows a library's stages as "@prefix STAGE" on @p. */
struct tt_cli_stages {
    tt_progress *p;
    const char *prefix;
};
void tt_cli_stage_report(void *ctx, const char *stage, int64_t done, int64_t total);

/* Most options one command takes, its terminating zero entry included. */
#define TT_CLI_OPTS_MAX 64

enum tt_cmd_flags {
    TT_CMD_HIDDEN = 1 << 0, /* left out of help, the man page and completion */
};

/*
 * A subcommand, as the command table (commands.c) lists it: the one place `help`, the man
 * page and shell completion read commands and their options from.
 */
struct tt_cmd {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is the command's name */
    const char *summary;               /* one line */
    const char *usage;                 /* the synopsis --help prints (lines without "usage: ") */
    /*
     * Fills @opts (room for TT_CLI_OPTS_MAX entries) with the very table the command parses
     * its arguments with, bound to storage allocated here and returned (the caller frees
     * it). NULL: the command has no options of its own.
     */
    void *(*options)(struct tt_opt *opts);
    unsigned flags;                    /* enum tt_cmd_flags */
    const char *words;                 /* its first argument's choices, space-separated, or NULL */
};

/*
 * Defines describe_options() for a command whose options @bind(type *, struct tt_opt *)
 * binds to a struct @type: what tt_cmd.options points at.
 */
#define TT_CLI_DESCRIBE(type, bind)                                                                \
    static void *describe_options(struct tt_opt *opts)                                            \
    {                                                                                              \
        type *a = tt_calloc(1, sizeof(type));                                                      \
        bind(a, opts);                                                                             \
        return a;                                                                                  \
    }

/* The command table, in the order help lists it, ending with an entry whose name is NULL. */
const struct tt_cmd *const *tt_cli_commands(void);
/* The command named @name, or NULL. */
const struct tt_cmd *tt_cli_command_find(const char *name);

/* The global flags every command takes (the configuration's, and --help): @i-th, or NULL. */
const char *tt_cli_global_flag(int i, const char **env);

/* The subcommands, one file each. */
extern const struct tt_cmd tt_cmd_help_def, tt_cmd_version_def, tt_cmd_doctor_def;
extern const struct tt_cmd tt_cmd_import_def, tt_cmd_generate_def, tt_cmd_stats_def;
extern const struct tt_cmd tt_cmd_migrate_def, tt_cmd_train_def, tt_cmd_recommend_def;
extern const struct tt_cmd tt_cmd_evaluate_def, tt_cmd_serve_def, tt_cmd_index_def;
extern const struct tt_cmd tt_cmd_jobs_def, tt_cmd_job_run_def;
extern const struct tt_cmd tt_cmd_routes_def, tt_cmd_export_def;
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
