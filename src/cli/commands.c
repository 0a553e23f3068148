/*
 * The command table: every subcommand, in the order `tunetrail help` lists them. help, the
 * man page and the bash completion all read it (and each command's own option table through
 * its options()), so a command or option added to a command appears in all three.
 */
#include "cli.h"

#include <string.h>

static const struct tt_cmd *const commands[] = {
    &tt_cmd_import_def,    &tt_cmd_export_def,   &tt_cmd_generate_def, &tt_cmd_stats_def,
    &tt_cmd_migrate_def,   &tt_cmd_train_def,    &tt_cmd_index_def,    &tt_cmd_evaluate_def,
    &tt_cmd_serve_def,     &tt_cmd_recommend_def, &tt_cmd_jobs_def,    &tt_cmd_job_run_def,
    &tt_cmd_doctor_def,    &tt_cmd_routes_def,   &tt_cmd_version_def,  &tt_cmd_help_def,
    NULL,
};

const struct tt_cmd *const *tt_cli_commands(void)
{
    return commands;
}

const struct tt_cmd *tt_cli_command_find(const char *name)
{
    for (const struct tt_cmd *const *c = commands; name && *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

const char *tt_cli_global_flag(int i, const char **env)
{
    const char *f = tt_config_flag(i, env);

    if (f)
        return f;
    for (int n = 0; tt_config_flag(n, NULL); n++)
        i--;
    if (i == 0 && env)
        *env = NULL;
    return i == 0 ? "--help" : NULL;
}
