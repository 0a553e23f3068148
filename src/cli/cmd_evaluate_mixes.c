/*
 * tunetrail evaluate --mixes: the daily mixes of every evaluated user of the split, made from
 * ALS, content and popularity models trained on the training events, scored against ALS's own
 * lists of the same length (docs/evaluation.md).
 */
#include "cli.h"
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/eval.h"
#include "tt/mix.h"
#include "tt/models.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define MIXES 6
#define TRACKS_PER_MIX 50

static tt_model *train(const char *name, const tt_train_set *ts, const tt_model_opts *mo,
                       bool required, int *code)
{
    tt_model *m = NULL;
    tt_err err = {0};
    int rc;

    fprintf(stderr, "evaluate: training %s\n", name);
    rc = tt_models_train(name, ts, mo, &m, &err);
    if (rc < 0 && required)
        *code = tt_cli_fail(&err, rc);
    else if (rc < 0)
        fprintf(stderr, "evaluate: %s left out: %s\n", name, tt_err_msg(&err, rc));
    return rc < 0 ? NULL : m;
}

/* The serving snapshot of the training events, through a scratch file as `train` writes it. */
static int snapshot(const tt_dataset *ds, const tt_train_set *ts, tt_catalog **cat)
{
    char dir[] = "/tmp/tt-evaluate-XXXXXX", path[64];
    tt_err err = {0};
    int rc;

    if (!mkdtemp(dir)) {
        perror("tunetrail: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof(path), "%s/catalog.ttm", dir);
    rc = tt_catalog_save(ds, ts, path, &err);
    if (rc == 0)
        rc = tt_catalog_load(path, cat, &err);
    unlink(path);
    rmdir(dir);
    return rc < 0 ? tt_cli_fail(&err, rc) : 0;
}

static void print_table(const tt_mix_scores *s, const char *models)
{
    printf("daily mixes (%d x %d tracks, %s): %d users, %d of them with fallback mixes\n", MIXES,
           TRACKS_PER_MIX, models, s->users, s->fallback_users);
    printf("  %.2f mixes and %.1f tracks per user, %.3f of them familiar, %.2f ms per user\n",
           s->mixes, s->tracks, s->familiar_share, s->ms_per_user);
    printf("  familiar share for the %d users with liked tracks for a third of their mixes: "
           "%.3f\n", s->rich_users, s->rich_familiar_share);
    printf("  %-38s %10s %10s\n", "held-out tracks", "hit rate", "recall");
    printf("  %-38s %10.4f %10.4f\n", "union of the mixes", s->hit_rate, s->recall);
    printf("  %-38s %10.4f %10.4f\n", "ALS top N (N = the union's size)", s->als_hit_rate,
           s->als_recall);
    printf("  %-38s %10.4f %10.4f\n", "ALS top N (N = the discoveries)", s->als_disc_hit_rate,
           s->als_disc_recall);
    printf("  genre agreement of two tracks: within a mix %.4f, between two mixes %.4f\n",
           s->genre_within, s->genre_between);
    printf("  artist diversity (distinct artists / tracks of a mix): %.4f\n", s->artist_diversity);
}

static void print_json(const tt_mix_scores *s, const char *models)
{
    json_t *j = json_pack(
        "{s:i, s:i, s:s, s:i, s:i, s:f, s:f, s:f, s:{s:i, s:f}, s:f, s:{s:f, s:f}, "
        "s:{s:f, s:f}, s:{s:f, s:f}, s:f, s:f, s:f}",
        "mixes", MIXES, "tracks_per_mix", TRACKS_PER_MIX, "models", models, "users", s->users,
        "fallback_users", s->fallback_users, "mixes_per_user", s->mixes, "tracks_per_user",
        s->tracks, "familiar_share", s->familiar_share, "familiar_share_unlimited", "users",
        s->rich_users, "familiar_share", s->rich_familiar_share, "ms_per_user", s->ms_per_user, "union",
        "hit_rate", s->hit_rate, "recall", s->recall, "als_same_size", "hit_rate", s->als_hit_rate,
        "recall", s->als_recall, "als_discoveries_size", "hit_rate", s->als_disc_hit_rate, "recall",
        s->als_disc_recall, "genre_within", s->genre_within, "genre_between", s->genre_between,
        "artist_diversity", s->artist_diversity);
    char *text = json_dumps(j, JSON_INDENT(2));

    printf("%s\n", text);
    free(text);
    json_decref(j);
}

int tt_cli_evaluate_mixes(const tt_dataset *ds, const tt_split *s, const tt_train_set *ts,
                          const tt_model_opts *mo, bool json)
{
    int code = 0;
    tt_model *als = train("als", ts, mo, true, &code), *content = NULL, *pop = NULL;
    tt_catalog *cat = NULL;
    tt_mix_space *space = NULL;
    tt_mix_params mp = tt_mix_params_default();
    tt_mix_scores sc;
    tt_err err = {0};
    int rc;

    if (code == 0)
        content = train("content", ts, mo, false, &code);
    if (code == 0)
        pop = train("popularity", ts, mo, true, &code);
    if (code == 0)
        code = snapshot(ds, ts, &cat);
    if (code == 0 && (rc = tt_mix_space_new(cat, content, als, pop, &mp, &space, &err)) < 0)
        code = tt_cli_fail(&err, rc);
    if (code == 0 && (rc = tt_eval_mixes(s, cat, space, als, MIXES, TRACKS_PER_MIX,
                                         ts->now / 86400 + 1, &sc, &err)) < 0)
        code = tt_cli_fail(&err, rc);
    if (code == 0)
        (json ? print_json : print_table)(&sc, tt_mix_space_models(space));
    tt_mix_space_free(space);
    tt_catalog_free(cat);
    tt_model_free(als);
    tt_model_free(content);
    tt_model_free(pop);
    return code;
}
