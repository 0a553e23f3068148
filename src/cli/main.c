/*
 * tunetrail: one binary, subcommands dispatched from one table (git's builtin/ pattern; the
 * table is commands.c).
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

int main(int argc, char **argv)
{
    const struct tt_cmd *cmd;

#ifdef __GLIBC__
    /*
     * Blocks of 4 MiB and more are mapped and unmapped on their own. Left to itself glibc
     * raises this threshold each time such a block is freed (up to 32 MiB); the self-tuner's
     * per-trial factor tables and score buffers are then carved from the heap between
     * longer-lived blocks, and the heap only grows: `train --model als` on Last.fm, run again
     * on the same model directory, reached 2.1 GB resident with 165 MB in use
     * (docs/performance.md, "The heap during tuning").
     */
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
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
