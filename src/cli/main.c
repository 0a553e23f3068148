/*
 * tunetrail: one binary, subcommands dispatched from one table (git's builtin/ pattern).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct cmd commands[] = {
    {"import", tt_cmd_import, "import tracks, users, interactions, a public dataset, or ALS "
                              "factors trained elsewhere"},
    {"export", tt_cmd_export, "write a published ALS model's factors (export factors)"},
    {"generate", tt_cmd_generate, "fill the database with deterministic synthetic data"},
    {"stats", tt_cmd_stats, "print what the database holds"},
    {"migrate", tt_cmd_migrate, "bring the database schema up to this engine's version"},
    {"train", tt_cmd_train, "train the models of a tier and write them to MODEL_DIR"},
    {"index", tt_cmd_index, "build the FAISS content-similarity index into MODEL_DIR"},
    {"evaluate", tt_cmd_evaluate, "compare models offline (Recall@K, NDCG@K, MRR, coverage)"},
    {"serve", tt_cmd_serve, "answer recommendation requests over HTTP (port 8001)"},
    {"recommend", tt_cmd_recommend, "print recommendations for a user or a file of users"},
    {"jobs", tt_cmd_jobs, "list, follow, submit or cancel training jobs"},
    {"job-run", tt_cmd_job_run, "run one training job (the worker an engine starts)"},
    {"routes", tt_cmd_routes, "list the HTTP routes `serve` answers"},
    {"help", tt_cmd_help, "list the commands"},
};

int tt_cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("usage: tunetrail COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  %-10s %s\n", commands[i].name, commands[i].summary);
    printf("\nRun 'tunetrail COMMAND --help' for a command's options.\n"
           "Environment: DATABASE_URL REDIS_URL MODEL_TIER MODEL_DIR ENABLE_GPU PORT HOST\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return tt_cmd_help(argc, argv) == 0 && argc >= 2 ? 0 : 2;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tunetrail: unknown command '%s' (see 'tunetrail help')\n", argv[1]);
    return 2;
}
