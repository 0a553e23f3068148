/*
 * tunetrail migrate: brings the database's schema to this engine's version. Every command
 * that opens the database migrates it too; this one says what it did, and is the command to
 * run (or to run first, from a deployment script) after upgrading the engine.
 */
#include "cli.h"

#include <stdio.h>

const struct tt_cmd tt_cmd_migrate_def;

static int cmd_migrate(int argc, char **argv)
{
    const struct tt_opt opts[] = {{0}};
    tt_config cfg;
    char *pos[1];
    int npos, found, now = 0, rc;
    tt_store *s;
    tt_err err = {0};

    tt_cli_parse(argc, argv, tt_cmd_migrate_def.usage, opts, &cfg, pos, 0, &npos);
    s = tt_cli_open_store(&cfg);
    found = tt_store_schema_found(s);
    rc = tt_store_schema_version(s, &now, &err);
    tt_store_close(s);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    printf("database %s: schema version %d", cfg.database_url, now);
    if (found == now) {
        printf(", up to date\n");
        return 0;
    }
    printf(" (was %d)\n", found);
    for (int v = found + 1; v <= now; v++)
        printf("  applied %d: %s\n", v, tt_store_migration_name(v));
    return 0;
}

const struct tt_cmd tt_cmd_migrate_def = {
    "migrate", cmd_migrate, "bring the database schema up to this engine's version",
    "tunetrail migrate", NULL, 0, NULL};
