/*
 * Daily mixes: the rules every day's mixes follow, checked as properties over every listener
 * of generated taste groups (no track twice, artists limited and spaced, nothing disliked or
 * skipped away, the familiar share), determinism for (user, day), fallback mixes, and the
 * space built from either model alone.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/models/rank_priv.h"
#include "support/fixtures.h"
#include "tt/als.h"
#include "tt/catalog.h"
#include "tt/content.h"
#include "tt/core.h"
#include "tt/mix.h"
#include "tt/popularity.h"

#define DAY INT64_C(20000)
#define MIXES 3
#define TRACKS 12

static tt_dataset *ds;
static tt_train_set ts;
static tt_catalog *cat;
static tt_model *als, *content, *pop;
static tt_mix_space *space;

static void setup(void)
{
    char dir[64], path[256];
    tt_als_params ap = fx_als_params();
    tt_content_params cp = tt_content_params_default();
    tt_mix_params mp = tt_mix_params_default();
    tt_err err = {0};
    int rc;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "catalog.ttm");
    ds = fx_sound_groups(4, 25, 60, 30, 41);
    fx_train_set(ds, &ts);
    cr_assert_eq(tt_catalog_save(ds, &ts, path, NULL), 0);
    cr_assert_eq(tt_catalog_load(path, &cat, NULL), 0);
    fx_rmtree(dir);
    cr_assert_eq(tt_als_train(&ts, &ap, &als, NULL), 0);
    cr_assert_eq(tt_content_train(&ts, &cp, &content, NULL), 0);
    cr_assert_eq(tt_popularity_train(&ts, TT_POP_ALL_TIME, 0.0, &pop, NULL), 0);
    rc = tt_mix_space_new(cat, content, als, pop, &mp, &space, &err);
    cr_assert_eq(rc, 0, "mix space: %s", tt_err_msg(&err, rc));
}

static void teardown(void)
{
    tt_mix_space_free(space);
    tt_model_free(als);
    tt_model_free(content);
    tt_model_free(pop);
    tt_catalog_free(cat);
    tt_train_set_release(&ts);
    tt_dataset_free(ds);
}

TestSuite(mix, .init = setup, .fini = teardown);

static void daily(const char *user, int64_t day, const int32_t *fresh, const float *fresh_r,
                  int32_t n_fresh, tt_mix_set *set)
{
    tt_mix_request r = {user, day, MIXES, TRACKS, fresh, fresh_r, n_fresh};
    tt_err err = {0};
    int rc = tt_mix_daily(space, &r, set, &err);

    cr_assert_eq(rc, 0, "%s: %s", user, tt_err_msg(&err, rc));
}

static const char *artist(int32_t t)
{
    return tt_catalog_track_artist(cat, t);
}

static float seen_value(int32_t u, int32_t t, bool *found)
{
    const int32_t *seen;
    const float *val;
    int32_t n;

    tt_catalog_user_seen(cat, u, &seen, &val, &n);
    for (int32_t i = 0; i < n; i++)
        if (seen[i] == t) {
            *found = true;
            return val[i];
        }
    *found = false;
    return 0;
}

static bool is_positive(int32_t u, int32_t t)
{
    const int32_t *pos;
    const float *val;
    int32_t n;

    tt_catalog_user_positives(cat, u, &pos, &val, &n);
    return fx_contains(pos, n, t);
}

/* The day-independent rules, for one listener's mixes. */
static void check_rules(int32_t u, const tt_mix_set *set)
{
    uint8_t *used = tt_calloc((size_t)tt_catalog_n_tracks(cat), 1);

    for (int m = 0; m < set->n; m++) {
        const tt_mix *x = &set->mixes[m];
        cr_assert_gt(x->n, 0);
        cr_assert_leq(x->n, TRACKS);
        cr_assert(x->name[0], "a mix without a name");
        for (int i = 0; i < x->n; i++) {
            int32_t t = x->tracks[i].track;
            int same = 0;
            bool heard;
            float v = seen_value(u, t, &heard);
            cr_assert_eq(used[t], 0, "track %d in two mixes of user %d", t, u);
            used[t] = 1;
            cr_assert(!heard || v > 0, "user %d's disliked track %d in a mix", u, t);
            cr_assert_eq(x->tracks[i].familiar, heard && is_positive(u, t),
                         "familiar flag wrong for track %d of user %d", t, u);
            for (int j = 0; j < x->n; j++)
                same += strcmp(artist(x->tracks[j].track), artist(t)) == 0;
            cr_assert_leq(same, 2, "artist %s %d times in one mix", artist(t), same);
            if (i > 0)
                cr_assert_str_neq(artist(x->tracks[i - 1].track), artist(t),
                                  "artist %s back to back", artist(t));
        }
    }
    free(used);
}

Test(mix, every_listener_s_mixes_follow_the_rules)
{
    int32_t nu = tt_catalog_n_users(cat);

    for (int32_t u = 0; u < nu; u++) {
        tt_mix_set set;
        daily(tt_catalog_user_id(cat, u), DAY, NULL, NULL, 0, &set);
        cr_assert(!set.fallback, "user %d with history got fallback mixes", u);
        cr_assert_geq(set.n, 1);
        cr_assert_leq(set.n, MIXES);
        check_rules(u, &set);
        tt_mix_set_release(&set);
    }
}

/* About a third of each day's tracks are familiar: listeners have ~30 positives, enough. */
Test(mix, the_familiar_share_is_near_the_documented_ratio)
{
    int32_t nu = tt_catalog_n_users(cat);
    int64_t fam = 0, all = 0;

    for (int32_t u = 0; u < nu; u++) {
        tt_mix_set set;
        daily(tt_catalog_user_id(cat, u), DAY, NULL, NULL, 0, &set);
        for (int m = 0; m < set.n; m++)
            for (int i = 0; i < set.mixes[m].n; i++, all++)
                fam += set.mixes[m].tracks[i].familiar;
        tt_mix_set_release(&set);
    }
    cr_assert_gt(all, 0);
    cr_expect_gt((double)fam / all, 0.25, "familiar share %.3f", (double)fam / all);
    cr_expect_lt((double)fam / all, 0.42, "familiar share %.3f", (double)fam / all);
}

/*
 * Every listener whose liked tracks could fill a third of their day's mixes gets close to a
 * third: a facet with fewer liked tracks than its share borrows spare ones (those other
 * facets do not need) nearest its centre, instead of filling up with discoveries.
 */
Test(mix, listeners_with_enough_liked_tracks_each_get_about_a_third_familiar)
{
    int32_t nu = tt_catalog_n_users(cat), checked = 0;

    for (int32_t u = 0; u < nu; u++) {
        const int32_t *pos;
        const float *val;
        int32_t n_pos, all = 0, fam = 0;
        tt_mix_set set;
        tt_catalog_user_positives(cat, u, &pos, &val, &n_pos);
        daily(tt_catalog_user_id(cat, u), DAY, NULL, NULL, 0, &set);
        for (int m = 0; m < set.n; m++)
            for (int i = 0; i < set.mixes[m].n; i++, all++)
                fam += set.mixes[m].tracks[i].familiar;
        if (!set.fallback && all > 0 && 3 * n_pos >= all) {
            checked++;
            cr_expect_geq(fam, (int32_t)(0.27 * all), "user %d: %d of %d familiar (%d liked)", u,
                          fam, all, n_pos);
        }
        tt_mix_set_release(&set);
    }
    cr_assert_gt(checked, nu / 4, "only %d listeners had liked tracks for a third", checked);
}

static bool same_mixes(const tt_mix_set *a, const tt_mix_set *b)
{
    if (a->n != b->n || a->fallback != b->fallback)
        return false;
    for (int m = 0; m < a->n; m++) {
        if (a->mixes[m].n != b->mixes[m].n || a->mixes[m].id != b->mixes[m].id ||
            strcmp(a->mixes[m].name, b->mixes[m].name) != 0)
            return false;
        for (int i = 0; i < a->mixes[m].n; i++)
            if (a->mixes[m].tracks[i].track != b->mixes[m].tracks[i].track ||
                a->mixes[m].tracks[i].familiar != b->mixes[m].tracks[i].familiar)
                return false;
    }
    return true;
}

Test(mix, the_same_user_and_day_give_the_same_mixes_and_other_days_differ)
{
    int32_t nu = tt_catalog_n_users(cat), differ = 0;

    for (int32_t u = 0; u < nu; u++) {
        tt_mix_set a, b, c;
        const char *id = tt_catalog_user_id(cat, u);
        daily(id, DAY, NULL, NULL, 0, &a);
        daily(id, DAY, NULL, NULL, 0, &b);
        daily(id, DAY + 1, NULL, NULL, 0, &c);
        cr_assert(same_mixes(&a, &b), "user %d got two different mixes the same day", u);
        differ += !same_mixes(&a, &c);
        for (int m = 0; m < a.n && m < c.n; m++)
            cr_assert_neq(a.mixes[m].id, c.mixes[m].id, "mix ids repeat across days");
        tt_mix_set_release(&a);
        tt_mix_set_release(&b);
        tt_mix_set_release(&c);
    }
    cr_assert_geq(differ, nu * 9 / 10, "only %d of %d listeners got new mixes the next day", differ,
                  nu);
}

/* Tracks by @name, at most @max, into @out; false when user @u liked any of them. */
static bool unliked_tracks_of(int32_t u, const char *name, int32_t *out, int32_t max, int32_t *n)
{
    *n = 0;
    for (int32_t t = 0; t < tt_catalog_n_tracks(cat); t++) {
        if (strcmp(artist(t), name) != 0)
            continue;
        if (is_positive(u, t))
            return false;
        if (*n < max)
            out[(*n)++] = t;
    }
    return true;
}

/* The artist of a discovery of @set by whom @u liked nothing, with two of their tracks. */
static const char *unliked_artist(int32_t u, const tt_mix_set *set, int32_t *two)
{
    for (int m = 0; m < set->n; m++)
        for (int i = 0; i < set->mixes[m].n; i++) {
            const char *a = artist(set->mixes[m].tracks[i].track);
            int32_t n;
            if (!set->mixes[m].tracks[i].familiar && unliked_tracks_of(u, a, two, 2, &n) && n == 2)
                return a;
        }
    return NULL;
}

/*
 * Fresh feedback: two skips of an artist the listener never liked make them skipped away,
 * and a fresh dislike bans the track; neither appears in any mix, whatever was planned.
 */
Test(mix, fresh_skips_and_dislikes_keep_artists_and_tracks_out)
{
    int32_t nu = tt_catalog_n_users(cat), tried = 0;

    for (int32_t u = 0; u < nu; u++) {
        const char *id = tt_catalog_user_id(cat, u), *victim;
        tt_mix_set before, after;
        int32_t fresh[3], victim_t = -1, n = 2;
        float r[3] = {-0.5f, -0.5f, NAN};
        daily(id, DAY, NULL, NULL, 0, &before);
        victim = unliked_artist(u, &before, fresh);
        for (int i = 0; i < before.mixes[0].n && victim_t < 0; i++)
            if (before.mixes[0].tracks[i].familiar)
                victim_t = before.mixes[0].tracks[i].track;
        if (victim_t >= 0)
            fresh[n++] = victim_t;
        tried += victim != NULL;
        daily(id, DAY, victim ? fresh : fresh + 2, victim ? r : r + 2, victim ? n : n - 2, &after);
        for (int m = 0; m < after.n; m++)
            for (int i = 0; i < after.mixes[m].n; i++) {
                int32_t t = after.mixes[m].tracks[i].track;
                cr_assert(!victim || strcmp(artist(t), victim) != 0,
                          "skipped-away artist %s back in a mix of user %d", victim, u);
                cr_assert_neq(t, victim_t, "freshly disliked track in a mix");
            }
        tt_mix_set_release(&before);
        tt_mix_set_release(&after);
    }
    cr_assert_geq(tried, nu / 2, "only %d listeners had an artist to skip away", tried);
}

Test(mix, an_unknown_listener_gets_genre_mixes_of_popular_tracks)
{
    tt_mix_set set;

    daily("nobody-at-all", DAY, NULL, NULL, 0, &set);
    cr_assert(set.fallback);
    cr_assert_eq(set.n, MIXES);
    for (int m = 0; m < set.n; m++) {
        cr_assert_eq(set.mixes[m].n, TRACKS);
        cr_assert_geq(set.mixes[m].n_genres, 1);
        for (int i = 0; i < set.mixes[m].n; i++)
            cr_assert(!set.mixes[m].tracks[i].familiar);
        /* The name is the genre's: "Rock Mix" for a mix of rock tracks. */
        cr_assert(strstr(set.mixes[m].name, " Mix") != NULL, "name %s", set.mixes[m].name);
    }
    check_rules(-1, &set);
    tt_mix_set_release(&set);
}

/* Fresh positives alone lift a listener out of the fallback. */
Test(mix, fresh_positives_make_personal_mixes_for_a_new_listener)
{
    int32_t fresh[10];
    float r[10];
    tt_mix_set set;

    for (int i = 0; i < 10; i++) {
        fresh[i] = i;
        r[i] = 2.0f;
    }
    daily("brand-new", DAY, fresh, r, 10, &set);
    cr_assert(!set.fallback);
    cr_assert_geq(set.n, 1);
    for (int m = 0; m < set.n; m++)
        for (int i = 0; i < set.mixes[m].n; i++)
            if (set.mixes[m].tracks[i].familiar)
                cr_assert_lt(set.mixes[m].tracks[i].track, 10);
    tt_mix_set_release(&set);
}

Test(mix, counts_out_of_range_are_refused_naming_the_field)
{
    tt_mix_request r = {"g00-u000", DAY, 0, TRACKS, NULL, NULL, 0};
    tt_mix_set set;
    tt_err err = {0};

    cr_assert_eq(tt_mix_daily(space, &r, &set, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "mixes");
    r.mixes = TT_MIX_MAX_MIXES;
    r.tracks_per_mix = TT_MIX_MAX_TRACKS + 1;
    tt_err_clear(&err);
    cr_assert_eq(tt_mix_daily(space, &r, &set, &err), TT_EINVAL);
    cr_assert_str_eq(err.field, "tracks_per_mix");
}

/* Either model alone builds a space; the rules hold the same. */
Test(mix, a_space_from_one_model_still_follows_the_rules)
{
    const tt_model *only[2][2] = {{content, NULL}, {NULL, als}};
    const char *names[2] = {"content", "als"};

    for (int k = 0; k < 2; k++) {
        tt_mix_space *s1 = NULL;
        tt_mix_params mp = tt_mix_params_default();
        cr_assert_eq(tt_mix_space_new(cat, only[k][0], only[k][1], pop, &mp, &s1, NULL), 0);
        cr_assert_str_eq(tt_mix_space_models(s1), names[k]);
        for (int32_t u = 0; u < tt_catalog_n_users(cat); u += 7) {
            tt_mix_request r = {tt_catalog_user_id(cat, u), DAY, MIXES, TRACKS, NULL, NULL, 0};
            tt_mix_set set;
            cr_assert_eq(tt_mix_daily(s1, &r, &set, NULL), 0);
            cr_assert(!set.fallback);
            check_rules(u, &set);
            tt_mix_set_release(&set);
        }
        tt_mix_space_free(s1);
    }
    cr_assert_eq(tt_mix_space_new(cat, NULL, NULL, pop, NULL, &(tt_mix_space *){NULL}, NULL),
                 TT_EINVAL);
}

/* A listener's facets are their taste groups: each mix is mostly one group's genre. */
Test(mix, each_mix_keeps_to_one_facet_of_the_listener)
{
    int32_t nu = tt_catalog_n_users(cat);
    int64_t coherent = 0, mixes = 0;

    for (int32_t u = 0; u < nu; u++) {
        tt_mix_set set;
        daily(tt_catalog_user_id(cat, u), DAY, NULL, NULL, 0, &set);
        for (int m = 0; m < set.n; m++) {
            const tt_mix *x = &set.mixes[m];
            int top = 0;
            for (int i = 0; i < x->n; i++) {
                int same = 0;
                for (int j = 0; j < x->n; j++)
                    same += strcmp(tt_catalog_track_genre(cat, x->tracks[i].track),
                                   tt_catalog_track_genre(cat, x->tracks[j].track)) == 0;
                top = same > top ? same : top;
            }
            coherent += 2 * top >= x->n;
            mixes++;
        }
        tt_mix_set_release(&set);
    }
    cr_assert_geq(coherent * 10, mixes * 8, "%lld of %lld mixes mostly one genre",
                  (long long)coherent, (long long)mixes);
}

/*
 * The facets a taste profile shows are the mixes' own: one per personal mix, heaviest first,
 * named, with shares of the listener's weight that add up to at most 1; none for an unknown
 * listener (whose mixes are genre mixes).
 */
Test(mix, facets_are_the_personal_mixes_clusters)
{
    int32_t nu = tt_catalog_n_users(cat);
    tt_mix_request unknown = {"nobody", DAY, MIXES, TRACKS, NULL, NULL, 0};
    tt_mix_facet f[TT_MIX_MAX_MIXES];
    int n = -1;

    for (int32_t u = 0; u < nu; u++) {
        tt_mix_request r = {tt_catalog_user_id(cat, u), DAY, MIXES, TRACKS, NULL, NULL, 0};
        tt_mix_set set;
        double total = 0;
        cr_assert_eq(tt_mix_facets(space, &r, f, &n, NULL), 0);
        daily(r.user_id, DAY, NULL, NULL, 0, &set);
        cr_expect_eq(n, set.n, "user %d: %d facets, %d mixes", u, n, set.n);
        for (int c = 0; c < n; c++) {
            cr_expect(f[c].name[0], "a facet without a name");
            cr_expect_geq(f[c].n_tracks, 2);
            cr_expect_gt(f[c].n_genres, 0);
            cr_expect_gt(f[c].n_seed_artists, 0);
            cr_expect(c == 0 || f[c].share <= f[c - 1].share, "not heaviest first");
            for (int d = 0; d < c; d++)
                cr_expect_str_neq(f[c].name, f[d].name);
            total += f[c].share;
        }
        cr_expect_leq(total, 1.0 + 1e-5);
        tt_mix_set_release(&set);
    }
    cr_assert_eq(tt_mix_facets(space, &unknown, f, &n, NULL), 0);
    cr_expect_eq(n, 0);
    unknown.mixes = 0;
    cr_expect_eq(tt_mix_facets(space, &unknown, f, &n, NULL), TT_EINVAL);
}

/* ---- recency ------------------------------------------------------------------------------- */

/*
 * One listener who played 20 tracks of group 0 ten months ago, 4 times each, and 20 of group 1
 * last week, 3 times each.
 */
static tt_dataset *old_and_new_taste(void)
{
    tt_dataset *d = tt_dataset_new();

    fx_add_sound_catalog(d, 2, 40, 5);
    fx_add_user(d, "listener", NULL);
    for (int i = 0; i < 20; i++) {
        char old[32], recent[32];
        snprintf(old, sizeof(old), "g00-t%03d", i);
        snprintf(recent, sizeof(recent), "g01-t%03d", i);
        fx_add_event(d, "listener", old, TT_ACT_PLAY, 4.0f, FX_T0 - 300 * FX_DAY + i);
        fx_add_event(d, "listener", recent, TT_ACT_PLAY, 3.0f, FX_T0 - 7 * FX_DAY + i);
    }
    tt_dataset_finish(d);
    return d;
}

/* Less listening to the recent group, yet it leads: recency doubles its weight. */
Test(mix_recency, recent_listening_leads_the_day_s_mixes)
{
    char dir[64], path[256];
    tt_dataset *d = old_and_new_taste();
    tt_content_params cp = tt_content_params_default();
    tt_mix_params mp = tt_mix_params_default();
    tt_train_set t;
    tt_catalog *c = NULL;
    tt_model *cm = NULL;
    tt_mix_space *sp = NULL;
    tt_mix_request r = {"listener", DAY, 2, 10, NULL, NULL, 0};
    tt_mix_set set;
    const int32_t *pos;
    const float *val, *age;
    int32_t n;

    fx_tmpdir(dir);
    fx_path(path, sizeof(path), dir, "catalog.ttm");
    fx_train_set(d, &t);
    cr_assert_eq(tt_catalog_save(d, &t, path, NULL), 0);
    cr_assert_eq(tt_catalog_load(path, &c, NULL), 0);
    fx_rmtree(dir);
    tt_catalog_user_positives(c, 0, &pos, &val, &n);
    age = tt_catalog_user_positive_ages(c, 0);
    cr_assert_not_null(age);
    cr_assert_eq(n, 40);
    for (int32_t i = 0; i < n; i++) {
        double want = fx_track_group(d, pos[i]) == 0 ? 293.0 : 0.0;
        cr_assert(fabs(age[i] - want) < 0.01, "age %g of track %d, expected %g", age[i], pos[i],
                  want);
    }
    cr_assert_eq(tt_content_train(&t, &cp, &cm, NULL), 0);
    cr_assert_eq(tt_mix_space_new(c, cm, NULL, NULL, &mp, &sp, NULL), 0);
    cr_assert_eq(tt_mix_daily(sp, &r, &set, NULL), 0);
    cr_assert_eq(set.n, 2);
    cr_assert_str_eq(set.mixes[0].genres[0], fx_group_genre(1), "first mix: %s", set.mixes[0].name);
    cr_assert_str_eq(set.mixes[1].genres[0], fx_group_genre(0), "second mix: %s",
                     set.mixes[1].name);
    tt_mix_set_release(&set);
    tt_mix_space_free(sp);
    tt_model_free(cm);
    tt_catalog_free(c);
    tt_train_set_release(&t);
    tt_dataset_free(d);
}

static int by_rank(const void *a, const void *b)
{
    const tt_scored *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->track > y->track) - (x->track < y->track);
}

/*
 * The selection the mixes' discoveries use keeps exactly the k entries a full ranking puts
 * first (ties to the lower track id), over many sizes, k and score distributions with ties.
 */
Test(mix, select_best_keeps_the_ranking_head)
{
    uint64_t seed = 88172645463325252ull;

    for (int round = 0; round < 400; round++) {
        int32_t n = 1 + round % 97 * 13, k;
        tt_scored *a = malloc((size_t)n * sizeof(*a)), *ref = malloc((size_t)n * sizeof(*a));
        int levels = round % 3 == 0 ? 4 : 1000000; /* few distinct scores: many ties */

        for (int32_t i = 0; i < n; i++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            a[i] = (tt_scored){(int32_t)((i * 7919) % n), (float)(seed % (uint64_t)levels)};
        }
        k = 1 + (int32_t)(seed % (uint64_t)n);
        memcpy(ref, a, (size_t)n * sizeof(*a));
        qsort(ref, (size_t)n, sizeof(*ref), by_rank);
        tt__select_best(a, n, k);
        qsort(a, (size_t)k, sizeof(*a), by_rank);
        for (int32_t i = 0; i < k; i++) {
            cr_assert_eq(a[i].track, ref[i].track, "n %d k %d position %d", n, k, i);
            cr_assert_eq(a[i].score, ref[i].score);
        }
        free(a);
        free(ref);
    }
}
