/*
 * Model versions on disk (tt/registry.h): drafts that appear whole under distinct names and
 * whose leftovers are cleaned, publication by hard links with the sidecar's version and a
 * history, rollback back and forth, pruning that spares the published version and the
 * rollback target, the promotion gate, and the JSON of GET /models/versions.
 *
 * The registry never parses model files, so versions here hold small files of known bytes
 * and sidecars written by hand.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/fixtures.h"
#include "tt/core.h"
#include "tt/fileio.h"
#include "tt/registry.h"

/* 2026-12-02 04:00:00 UTC: versions of the tests are trained an hour apart from here. */
#define T0 INT64_C(1796184000)
#define HOUR 3600

static char dir[64];

static void setup(void)
{
    fx_tmpdir(dir);
}

static void teardown(void)
{
    fx_rmtree(dir);
}

TestSuite(registry, .init = setup, .fini = teardown);

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static ino_t inode(const char *path)
{
    struct stat st;

    cr_assert_eq(stat(path, &st), 0, "%s is missing", path);
    return st.st_ino;
}

/*
 * A committed version of @tier/@model trained at @t: "<model>.ttm" holding @t in text,
 * a catalog, and a sidecar with the version's name and (unless negative) a held-out
 * NDCG@20 of @ndcg. Its name goes into @version.
 */
static void make_version(const char *tier, const char *model, int64_t t, double ndcg,
                         char version[TT_VERSION_MAX])
{
    char path[1300], text[64];
    json_t *side;
    tt_draft d;
    tt_err err = {0};

    cr_assert_eq(tt_draft_begin(dir, tier, model, t, &d, &err), 0, "begin: %s", err.message);
    snprintf(text, sizeof(text), "model trained at %lld\n", (long long)t);
    snprintf(path, sizeof(path), "%s/%s.ttm", d.dir, model);
    write_text(path, text);
    snprintf(path, sizeof(path), "%s/catalog.ttm", d.dir);
    write_text(path, "catalog\n");
    side =
        json_pack("{s:s, s:I, s:{}}", "version", d.version, "trained_at", (json_int_t)t, "metrics");
    if (ndcg >= 0)
        json_object_set_new(json_object_get(side, "metrics"), "holdout",
                            json_pack("{s:f}", "ndcg@20", ndcg));
    snprintf(path, sizeof(path), "%s/%s.json", d.dir, model);
    cr_assert_eq(json_dump_file(side, path, 0), 0);
    json_decref(side);
    cr_assert_eq(tt_draft_commit(&d, &err), 0, "commit: %s", err.message);
    snprintf(version, TT_VERSION_MAX, "%s", d.version);
}

static void publish(const char *tier, const char *model, const char *version)
{
    tt_err err = {0};

    cr_assert_eq(tt_registry_publish(dir, tier, model, version, &err), 0, "publish %s: %s", version,
                 err.message);
}

static void expect_published(const char *tier, const char *model, const char *version)
{
    char got[TT_VERSION_MAX];

    tt_registry_published(dir, tier, model, got);
    cr_assert_str_eq(got, version);
}

/* ---- drafts ---------------------------------------------------------------------------- */

Test(registry, version_names_are_utc_times)
{
    char name[TT_VERSION_MAX];

    tt_registry_version_name(T0, name, sizeof(name));
    cr_assert_str_eq(name, "20261202T040000Z");
    tt_registry_version_name(T0 + 86399, name, sizeof(name));
    cr_assert_str_eq(name, "20261203T035959Z");
}

Test(registry, draft_appears_on_commit_only)
{
    char final[1000], part[1100], path[1300];
    tt_draft d;
    tt_err err = {0};

    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0, &d, &err), 0, "%s", err.message);
    cr_assert_str_eq(d.version, "20261202T040000Z");
    snprintf(final, sizeof(final), "%s/free/als/20261202T040000Z", dir);
    snprintf(part, sizeof(part), "%s.part", final);
    cr_assert_str_eq(d.dir, part);
    cr_assert_str_eq(d.final, final);
    cr_assert(exists(part));
    cr_assert_not(exists(final), "the version appears before it is complete");
    snprintf(path, sizeof(path), "%s/als.ttm", d.dir);
    write_text(path, "m");
    cr_assert_eq(tt_draft_commit(&d, &err), 0, "%s", err.message);
    cr_assert_not(exists(part));
    snprintf(path, sizeof(path), "%s/als.ttm", final);
    cr_assert(exists(path));
    snprintf(path, sizeof(path), "%s/.owner", final);
    cr_assert_not(exists(path), "a committed version keeps its draft's owner file");
}

Test(registry, abandon_removes_the_draft)
{
    char path[1300];
    tt_draft d;
    tt_err err = {0};

    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0, &d, &err), 0, "%s", err.message);
    cr_assert_eq(mkdir(fx_path(path, sizeof(path), d.dir, "faiss_indexes"), 0755), 0);
    write_text(fx_path(path, sizeof(path), d.dir, "faiss_indexes/content.idx"), "ix");
    tt_draft_abandon(&d);
    cr_assert_not(exists(d.dir));
    cr_assert_not(exists(d.final));
    snprintf(path, sizeof(path), "%s/free/als", dir);
    cr_assert_eq(fx_dir_count(path), 0);
}

Test(registry, drafts_of_one_second_get_distinct_names)
{
    tt_draft a, b, c;
    tt_err err = {0};

    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0, &a, &err), 0, "%s", err.message);
    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0, &b, &err), 0, "%s", err.message);
    cr_assert_str_eq(a.version, "20261202T040000Z");
    cr_assert_str_eq(b.version, "20261202T040000Z-2");
    cr_assert_eq(tt_draft_commit(&a, &err), 0, "%s", err.message);
    cr_assert_eq(tt_draft_commit(&b, &err), 0, "%s", err.message);
    /* Committed names are taken as well. */
    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0, &c, &err), 0, "%s", err.message);
    cr_assert_str_eq(c.version, "20261202T040000Z-3");
    tt_draft_abandon(&c);
}

/* The pid of a process that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();

    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    return pid;
}

Test(registry, next_begin_cleans_drafts_of_dead_processes)
{
    char dead[1300], live[1300], path[1400], host[256] = "localhost", owner[320];
    tt_draft d;
    tt_err err = {0};

    gethostname(host, sizeof(host) - 1);
    snprintf(dead, sizeof(dead), "%s/free/als/20261201T040000Z.part", dir);
    snprintf(live, sizeof(live), "%s/free/als/20261201T050000Z.part", dir);
    cr_assert_eq(tt_mkdirs(dead, &err), 0, "%s", err.message);
    cr_assert_eq(tt_mkdirs(live, &err), 0, "%s", err.message);
    snprintf(owner, sizeof(owner), "%s %ld\n", host, (long)dead_pid());
    write_text(fx_path(path, sizeof(path), dead, ".owner"), owner);
    write_text(fx_path(path, sizeof(path), dead, "als.ttm"), "half a model");
    /* A draft of a process still running (this one) is somebody's work in progress. */
    snprintf(owner, sizeof(owner), "%s %ld\n", host, (long)getpid());
    write_text(fx_path(path, sizeof(path), live, ".owner"), owner);

    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0, &d, &err), 0, "%s", err.message);
    cr_assert_not(exists(dead), "the dead process's draft is still there");
    cr_assert(exists(live), "a live process's draft was removed");
    tt_draft_abandon(&d);
}

/* ---- publish, history, rollback --------------------------------------------------------- */

Test(registry, publish_links_the_served_files)
{
    char v[TT_VERSION_MAX], src[1300], dst[1300], line[128], name[64];
    long long when;
    FILE *f;

    make_version("free", "als", T0, 0.2, v);
    snprintf(src, sizeof(src), "%s/free/als/%s/faiss_indexes", dir, v);
    cr_assert_eq(mkdir(src, 0755), 0);
    write_text(fx_path(dst, sizeof(dst), src, "content.idx"), "index");
    publish("free", "als", v);

    static const char *const pairs[][2] = {
        {"als.ttm", "free/als.ttm"},
        {"als.json", "free/als.json"},
        {"catalog.ttm", "catalog.ttm"},
        {"faiss_indexes/content.idx", "faiss_indexes/content.idx"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        snprintf(src, sizeof(src), "%s/free/als/%s/%s", dir, v, pairs[i][0]);
        snprintf(dst, sizeof(dst), "%s/%s", dir, pairs[i][1]);
        cr_assert_eq(inode(src), inode(dst), "%s is not a hard link of the version's %s",
                     pairs[i][1], pairs[i][0]);
    }
    snprintf(dst, sizeof(dst), "%s/faiss_indexes/content.json", dir);
    cr_assert_not(exists(dst), "a file the version lacks was published");
    expect_published("free", "als", v);

    snprintf(dst, sizeof(dst), "%s/free/als/history", dir);
    f = fopen(dst, "r");
    cr_assert_not_null(f, "no history");
    cr_assert_not_null(fgets(line, sizeof(line), f));
    cr_assert_eq(sscanf(line, "%63s %lld", name, &when), 2, "history line '%s'", line);
    cr_assert_str_eq(name, v);
    cr_assert_gt(when, 1700000000LL, "the history records when it was published");
    cr_assert_null(fgets(line, sizeof(line), f), "one publication, one line");
    fclose(f);
}

Test(registry, publish_again_replaces_links_and_appends_history)
{
    char a[TT_VERSION_MAX], b[TT_VERSION_MAX], src[1300], dst[1300], line[128];
    int lines = 0;
    FILE *f;

    make_version("free", "als", T0, 0.2, a);
    make_version("free", "als", T0 + HOUR, 0.2, b);
    publish("free", "als", a);
    publish("free", "als", b);
    snprintf(src, sizeof(src), "%s/free/als/%s/als.ttm", dir, b);
    snprintf(dst, sizeof(dst), "%s/free/als.ttm", dir);
    cr_assert_eq(inode(src), inode(dst));
    expect_published("free", "als", b);
    snprintf(dst, sizeof(dst), "%s/free/als/history", dir);
    f = fopen(dst, "r");
    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f)) {
        cr_assert_eq(strncmp(line, lines == 0 ? a : b, strlen(a)), 0, "history line %d: %s", lines,
                     line);
        lines++;
    }
    fclose(f);
    cr_assert_eq(lines, 2);
}

Test(registry, publish_of_an_unknown_version_is_not_found)
{
    char v[TT_VERSION_MAX];
    tt_err err = {0};

    make_version("free", "als", T0, 0.2, v);
    cr_assert_eq(tt_registry_publish(dir, "free", "als", "20991231T000000Z", &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "version");
    tt_err_clear(&err);
    /* Not a version name at all: never a path outside the model's directory. */
    cr_assert_eq(tt_registry_publish(dir, "free", "als", "../als", &err), TT_ENOTFOUND);
    cr_assert_str_eq(err.field, "version");
    tt_err_clear(&err);
    cr_assert_eq(tt_registry_publish(dir, "free", "popularity", v, &err), TT_ENOTFOUND);
    expect_published("free", "als", "");
}

Test(registry, rollback_toggles_between_the_last_two)
{
    char a[TT_VERSION_MAX], b[TT_VERSION_MAX], c[TT_VERSION_MAX], got[TT_VERSION_MAX];
    tt_err err = {0};

    make_version("free", "als", T0, 0.2, a);
    make_version("free", "als", T0 + HOUR, 0.2, b);
    make_version("free", "als", T0 + 2 * HOUR, 0.2, c);
    publish("free", "als", a);
    publish("free", "als", b);
    tt_registry_previous(dir, "free", "als", got);
    cr_assert_str_eq(got, a);

    cr_assert_eq(tt_registry_rollback(dir, "free", "als", got, &err), 0, "%s", err.message);
    cr_assert_str_eq(got, a);
    expect_published("free", "als", a);
    tt_registry_previous(dir, "free", "als", got);
    cr_assert_str_eq(got, b);

    cr_assert_eq(tt_registry_rollback(dir, "free", "als", NULL, &err), 0, "%s", err.message);
    expect_published("free", "als", b);
    tt_registry_previous(dir, "free", "als", got);
    cr_assert_str_eq(got, a, "a never-published version %s is no rollback target", c);
}

Test(registry, rollback_skips_versions_gone_from_disk)
{
    char a[TT_VERSION_MAX], b[TT_VERSION_MAX], c[TT_VERSION_MAX], got[TT_VERSION_MAX];
    char path[1300];
    tt_err err = {0};

    make_version("free", "als", T0, 0.2, a);
    make_version("free", "als", T0 + HOUR, 0.2, b);
    make_version("free", "als", T0 + 2 * HOUR, 0.2, c);
    publish("free", "als", a);
    publish("free", "als", b);
    publish("free", "als", c);
    snprintf(path, sizeof(path), "%s/free/als/%s", dir, b);
    fx_rmtree(path);
    cr_assert_eq(tt_registry_rollback(dir, "free", "als", got, &err), 0, "%s", err.message);
    cr_assert_str_eq(got, a);
}

Test(registry, rollback_without_history_is_not_found)
{
    char v[TT_VERSION_MAX], got[TT_VERSION_MAX] = "unchanged";
    tt_err err = {0};

    cr_assert_eq(tt_registry_rollback(dir, "free", "als", got, &err), TT_ENOTFOUND);
    cr_assert_str_eq(got, "unchanged");
    tt_err_clear(&err);
    make_version("free", "als", T0, 0.2, v);
    publish("free", "als", v);
    cr_assert_eq(tt_registry_rollback(dir, "free", "als", got, &err), TT_ENOTFOUND,
                 "one publication has nothing before it");
    cr_assert_str_eq(err.field, "model");
    expect_published("free", "als", v);
}

/* ---- prune ------------------------------------------------------------------------------ */

Test(registry, prune_keeps_newest_published_and_rollback_target)
{
    char v[8][TT_VERSION_MAX], path[1300], file[1400];
    bool kept[8] = {false, true, true, false, false, true, true, true};
    tt_draft live;
    int removed = -1;
    tt_err err = {0};

    for (int i = 0; i < 8; i++) {
        make_version("free", "als", T0 + i * HOUR, 0.2, v[i]);
        tt_registry_log_dir(dir, "free", "als", v[i], path, sizeof(path));
        cr_assert_eq(tt_mkdirs(path, &err), 0, "%s", err.message);
        write_text(fx_path(file, sizeof(file), path, "events.out.tfevents"), "loss");
    }
    publish("free", "als", v[1]);
    publish("free", "als", v[2]); /* served: v2; rollback target: v1 */
    cr_assert_eq(tt_draft_begin(dir, "free", "als", T0 + 9 * HOUR, &live, &err), 0, "%s",
                 err.message);

    cr_assert_eq(tt_registry_prune(dir, "free", "als", 3, &removed, &err), 0, "%s", err.message);
    cr_assert_eq(removed, 3);
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof(path), "%s/free/als/%s", dir, v[i]);
        cr_assert_eq(exists(path), kept[i], "version %d (%s) %s", i, v[i],
                     kept[i] ? "was removed" : "was kept");
        tt_registry_log_dir(dir, "free", "als", v[i], path, sizeof(path));
        cr_assert_eq(exists(path), kept[i], "log of version %d %s", i,
                     kept[i] ? "was removed" : "was kept");
    }
    cr_assert(exists(live.dir), "prune removed a draft in progress");
    snprintf(path, sizeof(path), "%s/free/als/history", dir);
    cr_assert(exists(path), "prune removed the history");
    expect_published("free", "als", v[2]);
    tt_draft_abandon(&live);

    /* Nothing more to remove. */
    cr_assert_eq(tt_registry_prune(dir, "free", "als", 3, &removed, &err), 0);
    cr_assert_eq(removed, 0);
}

Test(registry, prune_of_an_unknown_model_removes_nothing)
{
    int removed = -1;
    tt_err err = {0};

    cr_assert_eq(tt_registry_prune(dir, "free", "als", 3, &removed, &err), 0);
    cr_assert_eq(removed, 0);
}

/* ---- gate ------------------------------------------------------------------------------- */

static json_t *sidecar(double ndcg)
{
    return json_pack("{s:{s:{s:f}}}", "metrics", "holdout", "ndcg@20", ndcg);
}

Test(registry, gate_promotes_when_nothing_is_served)
{
    json_t *next = sidecar(0.1);
    char why[200];

    cr_assert(tt_registry_gate(next, NULL, 0.05, why, sizeof(why)));
    cr_assert_str_eq(why, "nothing was served");
    json_decref(next);
}

Test(registry, gate_promotes_without_metrics_and_says_which)
{
    json_t *cur = sidecar(0.3), *bare = json_pack("{s:{}}", "metrics");
    char why[200];

    cr_assert(tt_registry_gate(bare, cur, 0.05, why, sizeof(why)));
    cr_assert_not_null(strstr(why, "without evaluation"), "%s", why);
    cr_assert(tt_registry_gate(cur, bare, 0.05, why, sizeof(why)));
    cr_assert_not_null(strstr(why, "served version has none"), "%s", why);
    json_decref(cur);
    json_decref(bare);
}

Test(registry, gate_refuses_a_loss_beyond_the_margin)
{
    json_t *cur = sidecar(0.25), *next = sidecar(0.2);
    char why[200];

    cr_assert_not(tt_registry_gate(next, cur, 0.05, why, sizeof(why)));
    cr_assert_not_null(strstr(why, "0.2000"), "%s", why);
    cr_assert_not_null(strstr(why, "0.2500"), "%s", why);
    cr_assert_not_null(strstr(why, "5%"), "%s", why);
    /* A wider margin lets the same loss through (0.2 >= 0.25 * 0.7). */
    cr_assert(tt_registry_gate(next, cur, 0.3, why, sizeof(why)), "%s", why);
    json_decref(cur);
    json_decref(next);
}

Test(registry, gate_promotes_within_the_margin_or_better)
{
    json_t *cur = sidecar(0.25), *close = sidecar(0.24), *better = sidecar(0.3);
    char why[200];

    cr_assert(tt_registry_gate(close, cur, 0.05, why, sizeof(why)), "%s", why);
    cr_assert_not_null(strstr(why, "0.2400"), "%s", why);
    cr_assert(tt_registry_gate(better, cur, 0.05, why, sizeof(why)), "%s", why);
    cr_assert(tt_registry_gate(close, close, 0.0, why, sizeof(why)), "equal is no loss");
    cr_assert_not(tt_registry_gate(close, cur, 0.0, why, sizeof(why)), "%s", why);
    json_decref(cur);
    json_decref(close);
    json_decref(better);
}

/* ---- tier and list ---------------------------------------------------------------------- */

Test(registry, tier_of_finds_the_directory)
{
    char v[TT_VERSION_MAX];

    cr_assert_null(tt_registry_tier_of(dir, "x"));
    make_version("enterprise", "x", T0, 0.2, v);
    cr_assert_str_eq(tt_registry_tier_of(dir, "x"), "enterprise");
    make_version("free", "als", T0, 0.2, v);
    cr_assert_str_eq(tt_registry_tier_of(dir, "als"), "free");
}

static json_t *find_model(json_t *list, const char *model)
{
    size_t i;
    json_t *m;

    json_array_foreach(list, i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "model")), model) == 0)
            return m;
    }
    return NULL;
}

Test(registry, list_shows_every_model_newest_first)
{
    char v[3][TT_VERSION_MAX], x[TT_VERSION_MAX];
    json_t *list, *als, *ent, *vs, *e;

    for (int i = 0; i < 3; i++)
        make_version("free", "als", T0 + i * HOUR, 0.1 * (i + 1), v[i]);
    make_version("enterprise", "x", T0, -1, x);
    publish("free", "als", v[0]);
    publish("free", "als", v[1]);

    list = tt_registry_list(dir);
    cr_assert(json_is_array(list));
    cr_assert_eq(json_array_size(list), 2);
    als = find_model(list, "als");
    ent = find_model(list, "x");
    cr_assert_not_null(als);
    cr_assert_not_null(ent);
    cr_assert_str_eq(json_string_value(json_object_get(als, "tier")), "free");
    cr_assert_str_eq(json_string_value(json_object_get(als, "published")), v[1]);
    cr_assert_str_eq(json_string_value(json_object_get(als, "previous")), v[0]);
    vs = json_object_get(als, "versions");
    cr_assert_eq(json_array_size(vs), 3);
    for (int i = 0; i < 3; i++) {
        e = json_array_get(vs, (size_t)i);
        cr_assert_str_eq(json_string_value(json_object_get(e, "version")), v[2 - i],
                         "versions are newest first");
        cr_assert_eq(json_is_true(json_object_get(e, "published")), 2 - i == 1);
        cr_assert_eq(json_integer_value(json_object_get(e, "trained_at")), T0 + (2 - i) * HOUR);
        cr_assert_float_eq(
            json_real_value(json_object_get(
                json_object_get(json_object_get(e, "metrics"), "holdout"), "ndcg@20")),
            0.1 * (3 - i), 1e-9);
    }
    cr_assert_str_eq(json_string_value(json_object_get(ent, "tier")), "enterprise");
    cr_assert(json_is_null(json_object_get(ent, "published")));
    cr_assert(json_is_null(json_object_get(ent, "previous")));
    cr_assert_eq(json_array_size(json_object_get(ent, "versions")), 1);
    e = json_array_get(json_object_get(ent, "versions"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "version")), x);
    cr_assert_not_null(json_object_get(e, "metrics"));
    json_decref(list);
}

Test(registry, list_of_an_empty_directory_is_empty)
{
    json_t *list = tt_registry_list(dir);

    cr_assert(json_is_array(list));
    cr_assert_eq(json_array_size(list), 0);
    json_decref(list);
}

/* ---- the free tier's choice ---- */

/* A published free-tier sidecar @name.json with @json as its content. */
static void free_sidecar(const char *name, const char *json)
{
    char path[300];

    snprintf(path, sizeof(path), "%s/free", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/free/%s.json", dir, name);
    write_text(path, json);
}

static void free_parts(void)
{
    free_sidecar("als", "{\"tuning\": {\"best_ndcg@20\": 0.20}}");
    free_sidecar("ease", "{\"tuning\": {\"best_ndcg@20\": 0.19}}");
}

static void blend_sidecar(double ndcg, double als, double ease)
{
    char text[300];

    snprintf(text, sizeof(text),
             "{\"params\": {\"w_als\": 0.6, \"validation\": {\"ndcg\": %g, \"als_ndcg\": %g, "
             "\"ease_ndcg\": %g}}}",
             ndcg, als, ease);
    free_sidecar("blend", text);
}

Test(registry, free_tier_serves_the_blend_when_it_beats_both_parts)
{
    char why[400];

    free_parts();
    blend_sidecar(0.230, 0.220, 0.210);
    cr_assert_str_eq(tt_registry_free_choice(dir, why, sizeof(why)), "blend");
    cr_assert(strstr(why, "0.2300") && strstr(why, "0.2200"), "%s", why);
}

Test(registry, free_tier_keeps_a_part_when_the_blend_gains_only_noise)
{
    char why[400];

    free_parts();
    blend_sidecar(0.2205, 0.2200, 0.2100);
    cr_assert_str_eq(tt_registry_free_choice(dir, why, sizeof(why)), "als");
    cr_assert(strstr(why, "not the blend"), "%s", why);
}

/* With a cross-fitted figure (each third of the users at the weight the others chose), that
 * figure decides, with no margin: it carries none of the weight choice's optimism. */
static void blend_sidecar_cv(double ndcg, double cv, double als, double ease)
{
    char text[300];

    snprintf(text, sizeof(text),
             "{\"params\": {\"w_als\": 0.6, \"validation\": {\"ndcg\": %g, \"cv_ndcg\": %g, "
             "\"als_ndcg\": %g, \"ease_ndcg\": %g}}}",
             ndcg, cv, als, ease);
    free_sidecar("blend", text);
}

Test(registry, free_tier_serves_the_blend_when_its_cross_fitted_figure_wins)
{
    char why[400];

    free_parts();
    blend_sidecar_cv(0.2210, 0.2208, 0.2200, 0.2100);
    cr_assert_str_eq(tt_registry_free_choice(dir, why, sizeof(why)), "blend");
    cr_assert(strstr(why, "cross-fitted 0.2208"), "%s", why);
}

Test(registry, free_tier_keeps_a_part_when_the_cross_fitted_figure_loses)
{
    char why[400];

    free_parts();
    blend_sidecar_cv(0.2300, 0.2195, 0.2200, 0.2100);
    cr_assert_str_eq(tt_registry_free_choice(dir, why, sizeof(why)), "als");
    cr_assert(strstr(why, "not the blend") && strstr(why, "cross-fitted 0.2195"), "%s", why);
}

Test(registry, free_tier_needs_both_parts_to_serve_the_blend)
{
    blend_sidecar(0.30, 0.20, 0.20);
    free_sidecar("ease", "{\"tuning\": {\"best_ndcg@20\": 0.19}}");
    cr_assert_str_eq(tt_registry_free_choice(dir, NULL, 0), "ease");
}
