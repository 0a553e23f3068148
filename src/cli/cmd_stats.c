/*
 * tunetrail stats: what the database holds, and how long a training snapshot takes to load.
 */
#include "cli.h"
#include "tt/core.h"
#include "tt/dataset.h"

#include <stdio.h>

static void print_counts(tt_store *s)
{
    static const char *tables[] = {"tracks", "artists", "users", "interactions", "impressions"};
    tt_err err = {0};

    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int64_t n = 0;
        if (tt_store_count(s, tables[i], &n, &err) == 0)
            printf("  %-13s %lld\n", tables[i], (long long)n);
    }
}

static void print_actions(const tt_dataset *d)
{
    int64_t per[TT_ACT_COUNT] = {0};

    for (int64_t i = 0; i < d->n_events; i++)
        per[d->ev_action[i]]++;
    printf("  actions      ");
    for (int a = 0; a < TT_ACT_COUNT; a++)
        if (per[a])
            printf(" %s=%lld", tt_action_name((enum tt_action)a), (long long)per[a]);
    printf("\n");
}

#define USAGE "tunetrail stats [--snapshot]"

struct stats_args {
    bool snapshot;
};

static void bind_opts(struct stats_args *a, struct tt_opt *opts)
{
    opts[0] = (struct tt_opt){"--snapshot", TT_OPT_BOOL, &a->snapshot,
                              "also load a training snapshot and time it"};
    opts[1] = (struct tt_opt){0};
}

TT_CLI_DESCRIBE(struct stats_args, bind_opts)

static int cmd_stats(int argc, char **argv)
{
    struct stats_args a = {0};
    struct tt_opt opts[2];
    tt_config cfg;
    char *pos[1];
    int npos, rc;
    tt_store *s;
    tt_dataset *d = NULL;
    tt_err err = {0};
    double t0;

    bind_opts(&a, opts);
    tt_cli_parse(argc, argv, USAGE, opts, &cfg, pos, 0, &npos);
    s = tt_cli_open_store(&cfg);
    printf("database %s (%s)\n", cfg.database_url, tt_store_backend(s));
    print_counts(s);
    if (!a.snapshot) {
        tt_store_close(s);
        return 0;
    }
    t0 = tt_now();
    rc = tt_dataset_load(s, &d, &err);
    tt_store_close(s);
    if (rc < 0)
        return tt_cli_fail(&err, rc);
    printf("snapshot: %d users, %d tracks, %d artists, %d genres, %lld interactions"
           " (%lld with unknown tracks left out) in %.2f s\n",
           tt_dataset_n_users(d), tt_dataset_n_tracks(d), tt_dataset_n_artists(d),
           tt_dataset_n_genres(d), (long long)d->n_events, (long long)d->n_unknown_track_events,
           tt_now() - t0);
    print_actions(d);
    tt_dataset_free(d);
    return 0;
}

const struct tt_cmd tt_cmd_stats_def = {"stats", cmd_stats, "print what the database holds",
                                        USAGE, describe_options, 0, NULL};
