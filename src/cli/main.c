/*
 * tunetrail: one binary, subcommands dispatched from one table (git's builtin/ pattern; the
 * table is commands.c).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const struct tt_cmd *cmd;

    if (argc < 2)
        return tt_cmd_help_def.run(1, argv) == 0 ? 2 : 2;
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return tt_cmd_help_def.run(1, argv);
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return tt_cmd_version_def.run(argc - 1, argv + 1);
    cmd = tt_cli_command_find(argv[1]);
    if (cmd)
        return cmd->run(argc - 1, argv + 1);
    fprintf(stderr, "tunetrail: unknown command '%s' (see 'tunetrail help')\n", argv[1]);
    return 2;
}
