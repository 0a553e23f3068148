/*
 * Model versions on disk: drafts that appear whole, publication by hard links renamed into
 * the served names, history, rollback and pruning (include/tt/registry.h).
 */
#include "tt/core.h"
#include "tt/fileio.h"
#include "tt/registry.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const tiers[] = {"free", "starter", "pro", "enterprise", NULL};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* rm -rf @path: best effort. */
static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A model name that is one plain path segment: [a-z0-9_-], 1..63 bytes. */
static bool model_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* A version name: digits, 'T', 'Z' and a "-n" suffix; never "history" nor a draft. */
static bool version_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n < 16 || n >= TT_VERSION_MAX || s[8] != 'T' || s[15] != 'Z')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (i == 8 && s[i] == 'T') ||
              (i == 15 && s[i] == 'Z') || (i == 16 && s[i] == '-')))
            return false;
    return true;
}

static void owner_string(char *buf, size_t cap)
{
    char host[256] = "localhost";

    gethostname(host, sizeof(host) - 1);
    snprintf(buf, cap, "%s %ld", host, (long)getpid());
}

/* A draft left by a process of this host that is gone: its run died before committing. */
static bool draft_abandoned(const char *dir)
{
    char path[1400], buf[300], host[256] = "", me[300];
    long pid = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/.owner", dir);
    f = fopen(path, "r");
    if (!f)
        return false;
    if (fscanf(f, "%255s %ld", host, &pid) != 2)
        pid = 0;
    fclose(f);
    owner_string(me, sizeof(me));
    snprintf(buf, sizeof(buf), "%s ", host);
    return pid > 0 && strncmp(me, buf, strlen(buf)) == 0 && kill((pid_t)pid, 0) != 0 &&
           errno == ESRCH;
}

static void clean_drafts(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    char path[1300];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".part"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        if (draft_abandoned(path))
            remove_tree(path);
    }
    closedir(d);
}

void tt_registry_version_name(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, n, "%Y%m%dT%H%M%SZ", &tm);
}

int tt_draft_begin(const char *model_dir, const char *tier, const char *model,
                   int64_t trained_at, tt_draft *d, tt_err *err)
{
    char base[1000], stem[24], owner[300], path[1200];
    int rc;

    memset(d, 0, sizeof(*d));
    snprintf(d->tier, sizeof(d->tier), "%s", tier);
    snprintf(d->model, sizeof(d->model), "%s", model);
    snprintf(base, sizeof(base), "%s/%s/%s", model_dir, tier, model);
    if ((rc = tt_mkdirs(base, err)) < 0)
        return rc;
    clean_drafts(base);
    tt_registry_version_name(trained_at, stem, sizeof(stem));
    for (int n = 1; n < 1000; n++) {
        if (n == 1)
            snprintf(d->version, sizeof(d->version), "%s", stem);
        else
            snprintf(d->version, sizeof(d->version), "%s-%d", stem, n);
        snprintf(d->final, sizeof(d->final), "%s/%s", base, d->version);
        snprintf(d->dir, sizeof(d->dir), "%s/%s.part", base, d->version);
        if (is_dir(d->final))
            continue;
        if (mkdir(d->dir, 0755) == 0) {
            FILE *f;
            tt_registry_log_dir(model_dir, tier, model, d->version, d->log, sizeof(d->log));
            owner_string(owner, sizeof(owner));
            snprintf(path, sizeof(path), "%s/.owner", d->dir);
            f = fopen(path, "w");
            if (f) {
                fprintf(f, "%s\n", owner);
                fclose(f);
            }
            return 0;
        }
        if (errno != EEXIST)
            return tt_err_set(err, TT_EIO, "%s: %s", d->dir, strerror(errno));
    }
    return tt_err_set(err, TT_EIO, "%s: no free version name for %s", base, stem);
}

static int sync_path(const char *path, tt_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return tt_err_set(err, TT_EIO, "%s: %s", path, strerror(errno));
    if (fsync(fd) != 0 && errno != EINVAL) {
        int e = errno;
        close(fd);
        return tt_err_set(err, TT_EIO, "%s: fsync: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

static int sync_tree(const char *dir, tt_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1300];
    int rc = 0;

    if (!d)
        return tt_err_set(err, TT_EIO, "%s: %s", dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        rc = is_dir(path) ? sync_tree(path, err) : sync_path(path, err);
    }
    closedir(d);
    return rc == 0 ? sync_path(dir, err) : rc;
}

static void parent_of(const char *path, char *buf, size_t cap)
{
    char *slash;

    snprintf(buf, cap, "%s", path);
    slash = strrchr(buf, '/');
    if (slash && slash != buf)
        *slash = '\0';
}

int tt_draft_commit(tt_draft *d, tt_err *err)
{
    char owner[1200], parent[1100];
    int rc;

    if ((rc = sync_tree(d->dir, err)) < 0)
        return rc;
    if (rename(d->dir, d->final) != 0)
        return tt_err_set(err, TT_EIO, "%s: %s", d->final, strerror(errno));
    /* The owner mark goes once the version is in place: a draft that stays keeps it. */
    snprintf(owner, sizeof(owner), "%s/.owner", d->final);
    unlink(owner);
    parent_of(d->final, parent, sizeof(parent));
    return sync_path(parent, err);
}

void tt_draft_abandon(tt_draft *d)
{
    if (d->dir[0])
        remove_tree(d->dir);
    if (d->log[0])
        remove_tree(d->log);
}

/* Replaces @dst by a hard link to @src (a copy where links are refused), atomically. */
static int link_into_place(const char *src, const char *dst, tt_err *err)
{
    char tmp[1300], parent[1300];
    struct stat a, b;
    int rc;

    /* Already in place (rename would do nothing between two links of one file). */
    if (stat(src, &a) == 0 && stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.publish-%ld", dst, (long)getpid());
    unlink(tmp);
    parent_of(dst, parent, sizeof(parent));
    if ((rc = tt_mkdirs(parent, err)) < 0)
        return rc;
    if (link(src, tmp) != 0) {
        tt_map m;
        if (errno != EXDEV && errno != EPERM && errno != EMLINK)
            return tt_err_set(err, TT_EIO, "%s: link: %s", dst, strerror(errno));
        if ((rc = tt_map_open(&m, src, err)) < 0)
            return rc;
        rc = tt_write_file_atomic(dst, m.data, m.size, err);
        tt_map_close(&m);
        return rc;
    }
    if (rename(tmp, dst) != 0) {
        rc = tt_err_set(err, TT_EIO, "%s: %s", dst, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return sync_path(parent, err);
}

static int append_history(const char *base, const char *version, tt_err *err)
{
    char path[1200], line[128];
    int fd, n;

    snprintf(path, sizeof(path), "%s/history", base);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return tt_err_set(err, TT_EIO, "%s: %s", path, strerror(errno));
    n = snprintf(line, sizeof(line), "%s %lld\n", version, (long long)time(NULL));
    if (write(fd, line, (size_t)n) != n || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return tt_err_set(err, TT_EIO, "%s: %s", path, strerror(e));
    }
    close(fd);
    return 0;
}

int tt_registry_publish(const char *model_dir, const char *tier, const char *model,
                        const char *version, tt_err *err)
{
    static const char *const index_files[] = {"content.idx", "content.json"};
    char base[1000], vdir[1100], src[1300], dst[1300];
    int rc = 0;

    snprintf(base, sizeof(base), "%s/%s/%s", model_dir, tier, model);
    snprintf(vdir, sizeof(vdir), "%s/%s", base, version);
    if (!model_name_ok(model))
        return tt_err_set_field(err, TT_ENOTFOUND, "model", "no model '%s'", model);
    if (!version_name_ok(version) || !is_dir(vdir))
        return tt_err_set_field(err, TT_ENOTFOUND, "version", "%s has no version '%s'", model,
                                version);
    snprintf(src, sizeof(src), "%s/catalog.ttm", vdir);
    snprintf(dst, sizeof(dst), "%s/catalog.ttm", model_dir);
    if (access(src, F_OK) == 0)
        rc = link_into_place(src, dst, err);
    snprintf(src, sizeof(src), "%s/%s.ttm", vdir, model);
    snprintf(dst, sizeof(dst), "%s/%s/%s.ttm", model_dir, tier, model);
    if (rc == 0)
        rc = link_into_place(src, dst, err);
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        snprintf(src, sizeof(src), "%s/faiss_indexes/%s", vdir, index_files[i]);
        snprintf(dst, sizeof(dst), "%s/faiss_indexes/%s", model_dir, index_files[i]);
        if (access(src, F_OK) == 0)
            rc = link_into_place(src, dst, err);
    }
    snprintf(src, sizeof(src), "%s/%s.json", vdir, model);
    snprintf(dst, sizeof(dst), "%s/%s/%s.json", model_dir, tier, model);
    if (rc == 0)
        rc = link_into_place(src, dst, err);
    return rc == 0 ? append_history(base, version, err) : rc;
}

json_t *tt_registry_sidecar(const char *model_dir, const char *tier, const char *model)
{
    char path[1200];
    json_t *j;

    snprintf(path, sizeof(path), "%s/%s/%s.json", model_dir, tier, model);
    j = json_load_file(path, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

bool tt_registry_same_catalog(const json_t *sidecar, uint64_t catalog)
{
    const char *on = json_string_value(json_object_get(sidecar, "catalog"));
    char want[32];

    snprintf(want, sizeof(want), "%016llx", (unsigned long long)catalog);
    return !on || strcmp(on, want) == 0;
}

void tt_registry_published(const char *model_dir, const char *tier, const char *model,
                           char *version)
{
    json_t *j = tt_registry_sidecar(model_dir, tier, model), *v;

    version[0] = '\0';
    v = json_object_get(j, "version");
    if (json_is_string(v) && strlen(json_string_value(v)) < TT_VERSION_MAX)
        snprintf(version, TT_VERSION_MAX, "%s", json_string_value(v));
    json_decref(j);
}

void tt_registry_previous(const char *model_dir, const char *tier, const char *model,
                          char *version)
{
    char path[1200], cur[TT_VERSION_MAX], line[256], v[TT_VERSION_MAX], dir[1300];
    FILE *f;

    version[0] = '\0';
    tt_registry_published(model_dir, tier, model, cur);
    snprintf(path, sizeof(path), "%s/%s/%s/history", model_dir, tier, model);
    f = fopen(path, "r");
    if (!f)
        return;
    /* The last version published that is not the current one and is still on disk. */
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%39s", v) != 1 || strcmp(v, cur) == 0 || !version_name_ok(v))
            continue;
        snprintf(dir, sizeof(dir), "%s/%s/%s/%s", model_dir, tier, model, v);
        if (is_dir(dir))
            snprintf(version, TT_VERSION_MAX, "%s", v);
    }
    fclose(f);
}

int tt_registry_rollback(const char *model_dir, const char *tier, const char *model,
                         char *version, tt_err *err)
{
    char prev[TT_VERSION_MAX];
    int rc;

    tt_registry_previous(model_dir, tier, model, prev);
    if (!prev[0])
        return tt_err_set_field(err, TT_ENOTFOUND, "model",
                                "%s has no earlier published version to roll back to", model);
    rc = tt_registry_publish(model_dir, tier, model, prev, err);
    if (rc == 0 && version)
        snprintf(version, TT_VERSION_MAX, "%s", prev);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The version names of @tier/@model, oldest first (malloc'd, free each and the array). */
static int list_versions(const char *model_dir, const char *tier, const char *model,
                         char ***out)
{
    char base[1000];
    DIR *d;
    struct dirent *e;
    char **v = NULL;
    int n = 0, cap = 0;

    *out = NULL;
    snprintf(base, sizeof(base), "%s/%s/%s", model_dir, tier, model);
    d = opendir(base);
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[1300];
        snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        if (!version_name_ok(e->d_name) || !is_dir(path))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = tt_realloc(v, (size_t)cap * sizeof(*v));
        }
        v[n++] = tt_strdup(e->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof(*v), cmp_str);
    *out = v;
    return n;
}

static void free_list(char **v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void tt_registry_log_dir(const char *model_dir, const char *tier, const char *model,
                         const char *version, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/logs/%s/%s/%s", model_dir, tier, model, version);
}

int tt_registry_prune(const char *model_dir, const char *tier, const char *model, int keep,
                      int *removed, tt_err *err)
{
    char cur[TT_VERSION_MAX], prev[TT_VERSION_MAX], path[1300];
    char **v;
    int n = list_versions(model_dir, tier, model, &v), gone = 0;

    (void)err;
    tt_registry_published(model_dir, tier, model, cur);
    tt_registry_previous(model_dir, tier, model, prev);
    for (int i = 0; i < n - (keep > 0 ? keep : 1); i++) {
        if (strcmp(v[i], cur) == 0 || strcmp(v[i], prev) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s/%s/%s", model_dir, tier, model, v[i]);
        remove_tree(path);
        tt_registry_log_dir(model_dir, tier, model, v[i], path, sizeof(path));
        remove_tree(path);
        gone++;
    }
    free_list(v, n);
    if (removed)
        *removed = gone;
    return 0;
}

const char *tt_registry_tier_of(const char *model_dir, const char *model)
{
    char path[1200];

    if (!model_name_ok(model))
        return NULL;

    for (int i = 0; tiers[i]; i++) {
        snprintf(path, sizeof(path), "%s/%s/%s", model_dir, tiers[i], model);
        if (is_dir(path))
            return tiers[i];
    }
    return NULL;
}

static double holdout_ndcg(const json_t *sidecar)
{
    json_t *v = json_object_get(json_object_get(json_object_get(sidecar, "metrics"), "holdout"),
                                "ndcg@20");
    return json_is_number(v) ? json_number_value(v) : NAN;
}

bool tt_registry_gate(const json_t *next, const json_t *current, double margin, char *why,
                      size_t cap)
{
    double a = holdout_ndcg(next), b = holdout_ndcg(current);

    if (!current) {
        snprintf(why, cap, "nothing was served");
        return true;
    }
    if (!isfinite(a) || !isfinite(b)) {
        snprintf(why, cap, "no held-out NDCG@20 to compare (%s)",
                 !isfinite(a) ? "the new version was trained without evaluation"
                              : "the served version has none");
        return true;
    }
    if (a < b * (1.0 - margin)) {
        snprintf(why, cap,
                 "held-out NDCG@20 %.4f is below the served version's %.4f by more than the "
                 "%.0f%% margin: trained, not promoted",
                 a, b, margin * 100);
        return false;
    }
    snprintf(why, cap, "held-out NDCG@20 %.4f vs %.4f served (margin %.0f%%)", a, b,
             margin * 100);
    return true;
}

json_t *tt_registry_version_sidecar(const char *model_dir, const char *tier, const char *model,
                                    const char *version)
{
    char path[1300];
    json_t *j;

    if (!model_name_ok(tier) || !model_name_ok(model) || !version_name_ok(version))
        return NULL;
    snprintf(path, sizeof(path), "%s/%s/%s/%s/%s.json", model_dir, tier, model, version, model);
    j = json_load_file(path, 0, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static json_t *version_json(const char *model_dir, const char *tier, const char *model,
                            const char *version, const char *cur)
{
    json_t *side = tt_registry_version_sidecar(model_dir, tier, model, version), *j;

    j = json_pack("{s:s, s:b}", "version", version, "published", strcmp(version, cur) == 0);
    if (json_is_object(side)) {
        static const char *const keys[] = {"trained_at", "train_seconds", "metrics",
                                           "promotion", "base_model", "data_filter",
                                           "source", NULL};
        for (int i = 0; keys[i]; i++) {
            json_t *v = json_object_get(side, keys[i]);
            if (v)
                json_object_set(j, keys[i], v);
        }
    }
    json_decref(side);
    return j;
}

json_t *tt_registry_list(const char *model_dir)
{
    json_t *out = json_array();

    for (int t = 0; tiers[t]; t++) {
        char base[1000];
        DIR *d;
        struct dirent *e;

        snprintf(base, sizeof(base), "%s/%s", model_dir, tiers[t]);
        d = opendir(base);
        if (!d)
            continue;
        while ((e = readdir(d)) != NULL) {
            char cur[TT_VERSION_MAX], prev[TT_VERSION_MAX], **v;
            json_t *arr, *m;
            int n;
            if (e->d_name[0] == '.')
                continue;
            n = list_versions(model_dir, tiers[t], e->d_name, &v);
            if (n == 0)
                continue;
            tt_registry_published(model_dir, tiers[t], e->d_name, cur);
            tt_registry_previous(model_dir, tiers[t], e->d_name, prev);
            arr = json_array();
            for (int i = n - 1; i >= 0; i--)
                json_array_append_new(arr, version_json(model_dir, tiers[t], e->d_name, v[i], cur));
            m = json_pack("{s:s, s:s, s:o, s:o, s:o}", "model", e->d_name, "tier", tiers[t],
                          "published", cur[0] ? json_string(cur) : json_null(), "previous",
                          prev[0] ? json_string(prev) : json_null(), "versions", arr);
            json_array_append_new(out, m);
            free_list(v, n);
        }
        closedir(d);
    }
    return out;
}

static double tuned_ndcg(const json_t *side)
{
    json_t *v = json_object_get(json_object_get(side, "tuning"), "best_ndcg@20");
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *single_choice(const char *model_dir, char *why, size_t cap)
{
    json_t *als = tt_registry_sidecar(model_dir, "free", "als");
    json_t *ease = tt_registry_sidecar(model_dir, "free", "ease");
    const char *pick = "als", *basis = "validation NDCG@20 from tuning";
    double a = tuned_ndcg(als), e = tuned_ndcg(ease);
    char scratch[8];

    if (!why) {
        why = scratch;
        cap = sizeof(scratch);
    }
    if (!ease) {
        snprintf(why, cap, "no EASE model is published");
        goto out;
    }
    if (!als) {
        snprintf(why, cap, "no ALS model is published");
        pick = "ease";
        goto out;
    }
    if (!isfinite(a) || !isfinite(e)) {
        a = holdout_ndcg(als);
        e = holdout_ndcg(ease);
        basis = "held-out NDCG@20";
    }
    if (!isfinite(a) || !isfinite(e)) {
        snprintf(why, cap, "no comparable figures for ALS and EASE: ALS, the default");
        goto out;
    }
    if (e > a)
        pick = "ease";
    snprintf(why, cap, "%s: ALS %.4f, EASE %.4f", basis, a, e);
out:
    json_decref(als);
    json_decref(ease);
    return pick;
}

/*
 * A blend sidecar without a cross-fitted figure (written before there was one) must beat the
 * better of its parts on its own validation split by this share: its figure is the best
 * weight's in hindsight, optimistic by the choice of the weight.
 */
#define BLEND_MIN_GAIN 0.005

/*
 * Whether the published blend won on its validation split: its cross-fitted NDCG@20 (each
 * third of the users at the weight the other two chose) above both of its parts' on the same
 * users and candidates. @why gets the figures.
 */
static bool blend_wins(const json_t *blend, char *why, size_t cap)
{
    const json_t *v = json_object_get(json_object_get(blend, "params"), "validation");
    const json_t *cv = json_object_get(v, "cv_ndcg");
    double b = json_number_value(json_object_get(v, "ndcg"));
    double a = json_number_value(json_object_get(v, "als_ndcg"));
    double e = json_number_value(json_object_get(v, "ease_ndcg"));
    double w = json_number_value(json_object_get(json_object_get(blend, "params"), "w_als"));
    double wp =
        json_number_value(json_object_get(json_object_get(blend, "params"), "w_popularity"));
    char cvs[40] = "";

    if (!json_is_number(json_object_get(v, "ndcg")))
        return false;
    if (json_is_number(cv))
        snprintf(cvs, sizeof(cvs), "; cross-fitted %.4f", json_number_value(cv));
    snprintf(why, cap, "blend validation NDCG@20 %.4f (ALS weight %.2f, popularity weight %.1f%s), "
             "ALS alone %.4f, EASE alone %.4f", b, w, wp, cvs, a, e);
    if (json_is_number(cv))
        return json_number_value(cv) > fmax(a, e);
    return b > fmax(a, e) * (1.0 + BLEND_MIN_GAIN);
}

const char *tt_registry_free_choice(const char *model_dir, char *why, size_t cap)
{
    json_t *blend = tt_registry_sidecar(model_dir, "free", "blend");
    json_t *als = tt_registry_sidecar(model_dir, "free", "als");
    json_t *ease = tt_registry_sidecar(model_dir, "free", "ease");
    char scratch[8], fig[200] = "", part[200];
    const char *pick;
    bool pick_blend = blend && als && ease && blend_wins(blend, fig, sizeof(fig));

    json_decref(blend);
    json_decref(als);
    json_decref(ease);
    if (!why) {
        why = scratch;
        cap = sizeof(scratch);
    }
    if (pick_blend) {
        snprintf(why, cap, "%s", fig);
        return "blend";
    }
    pick = single_choice(model_dir, part, sizeof(part));
    if (fig[0])
        snprintf(why, cap, "%s; not the blend: %s", part, fig);
    else
        snprintf(why, cap, "%s", part);
    return pick;
}
