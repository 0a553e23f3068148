/*
 * Test fixtures: in-memory datasets with planted structure and file helpers.
 */
#include "fixtures.h"

#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt/config.h"
#include "tt/core.h"
#include "tt/generate.h"
#include "tt/store.h"

#define FX_MAX_GROUPS 8

static const char *const genres[FX_MAX_GROUPS] = {
    "rock", "jazz", "hiphop", "classical", "electronic", "folk", "metal", "reggae",
};
static const char *const subgenres[FX_MAX_GROUPS] = {
    "indie", "bebop", "trap", "baroque", "house", "acoustic", "doom", "dub",
};

const char *fx_group_genre(int g)
{
    return (g >= 0 && g < FX_MAX_GROUPS) ? genres[g] : "";
}

const char *fx_group_subgenre(int g)
{
    return (g >= 0 && g < FX_MAX_GROUPS) ? subgenres[g] : "";
}

int fx_id_group(const char *id)
{
    int g;

    if (!id || sscanf(id, "g%d-", &g) != 1)
        return -1;
    return g;
}

int fx_track_group(const tt_dataset *ds, int32_t t)
{
    return fx_id_group(tt_ids_name(ds->tracks, t));
}

int fx_user_group(const tt_dataset *ds, int32_t u)
{
    return fx_id_group(tt_ids_name(ds->users, u));
}

int32_t fx_add_track(tt_dataset *ds, const char *id, const char *artist, const char *genre_list)
{
    return fx_add_track_content(ds, id, artist, genre_list, NULL, NULL, 0);
}

int32_t fx_add_track_content(tt_dataset *ds, const char *id, const char *artist,
                             const char *genre_list, const float *features, const float *embedding,
                             int32_t dim)
{
    tt_track_rec t = tt_track_rec_empty();
    char title[96];

    snprintf(title, sizeof(title), "Title of %s", id);
    t.track_id = id;
    t.title = title;
    t.artist_id = artist;
    t.artist = artist;
    t.genres = genre_list;
    t.duration_ms = 180000;
    t.release_year = 2001;
    if (features)
        memcpy(t.features, features, sizeof(t.features));
    t.embedding = embedding;
    t.embedding_dim = embedding ? dim : 0;
    return tt_dataset_add_track(ds, &t);
}

int32_t fx_add_user(tt_dataset *ds, const char *id, const char *favorite_genres)
{
    tt_user_rec u = {.user_id = id,
                     .plan_tier = "free",
                     .favorite_genres = favorite_genres,
                     .created_at = FX_T0 - 400 * FX_DAY};
    return tt_dataset_add_user(ds, &u);
}

void fx_add_event(tt_dataset *ds, const char *user, const char *track, enum tt_action a,
                  float weight, int64_t when)
{
    tt_interaction_rec r = {.user_id = user,
                            .track_id = track,
                            .action = a,
                            .weight = weight,
                            .ms_played = -1,
                            .occurred_at = when};
    int rc = tt_dataset_add_event(ds, &r);

    cr_assert_eq(rc, 0, "fixture event on unknown track %s", track);
}

/* ---- sound: audio features around a centre per group ---- */

/* Range of each feature (enum tt_feature order) the centres are spread over, and the noise. */
static const struct {
    float lo, hi, noise;
} sound_range[TT_N_FEATURES] = {
    [TT_F_DANCEABILITY] = {0.1f, 0.9f, 0.04f}, [TT_F_ENERGY] = {0.1f, 0.9f, 0.04f},
    [TT_F_VALENCE] = {0.1f, 0.9f, 0.04f},      [TT_F_TEMPO] = {70.0f, 170.0f, 4.0f},
    [TT_F_ACOUSTICNESS] = {0.1f, 0.9f, 0.04f}, [TT_F_INSTRUMENTALNESS] = {0.1f, 0.9f, 0.04f},
    [TT_F_SPEECHINESS] = {0.1f, 0.9f, 0.04f},  [TT_F_LIVENESS] = {0.1f, 0.9f, 0.04f},
    [TT_F_LOUDNESS] = {-18.0f, -4.0f, 0.6f},   [TT_F_KEY] = {0.0f, 11.0f, 0.0f},
    [TT_F_MODE] = {0.1f, 0.9f, 0.04f},
};

void fx_group_sound(int g, float centre[TT_N_FEATURES])
{
    tt_rng rng;

    /* A fixed draw per group: the same centres whatever seed the tracks use. */
    tt_rng_seed(&rng, UINT64_C(0x50d5ce27e5), (uint64_t)g);
    for (int f = 0; f < TT_N_FEATURES; f++)
        centre[f] = sound_range[f].lo +
                    (float)tt_rng_uniform(&rng) * (sound_range[f].hi - sound_range[f].lo);
    centre[TT_F_KEY] = NAN;
}

void fx_track_sound(int g, int i, uint64_t seed, float features[TT_N_FEATURES])
{
    tt_rng rng;

    fx_group_sound(g, features);
    /* Streams apart from the listeners' draws, which use the same seed. */
    tt_rng_seed(&rng, seed ^ UINT64_C(0x9e3779b97f4a7c15), (uint64_t)g * 100003u + (uint64_t)i);
    for (int f = 0; f < TT_N_FEATURES; f++) {
        float span = sound_range[f].hi - sound_range[f].lo, v;
        if (f == TT_F_KEY)
            continue;
        v = features[f] + (float)tt_rng_normal(&rng) * sound_range[f].noise;
        features[f] =
            fminf(fmaxf(v, sound_range[f].lo - 0.1f * span), sound_range[f].hi + 0.1f * span);
    }
    features[TT_F_KEY] = (float)tt_rng_below(&rng, 12);
}

/* The fixture catalog; with @sound, tracks get fx_track_sound features (seed @seed). */
static void add_catalog(tt_dataset *ds, int groups, int tracks_per_group, bool sound, uint64_t seed)
{
    char id[32], artist[32], list[64];
    float f[TT_N_FEATURES];

    for (int g = 0; g < groups; g++) {
        snprintf(list, sizeof(list), "%s|%s", genres[g], subgenres[g]);
        for (int i = 0; i < tracks_per_group; i++) {
            snprintf(id, sizeof(id), "g%02d-t%03d", g, i);
            snprintf(artist, sizeof(artist), "g%02d-a%02d", g, i / 4);
            if (sound) {
                fx_track_sound(g, i, seed, f);
                fx_add_track_content(ds, id, artist, list, f, NULL, 0);
            } else {
                fx_add_track(ds, id, artist, list);
            }
        }
    }
}

void fx_add_sound_catalog(tt_dataset *ds, int groups, int tracks_per_group, uint64_t seed)
{
    cr_assert(groups >= 1 && groups <= FX_MAX_GROUPS, "1..8 groups");
    add_catalog(ds, groups, tracks_per_group, true, seed);
}

/* Own-group track index skewed toward low indices (a few hits, a long tail). */
static int skewed(tt_rng *rng, int n)
{
    double u = tt_rng_uniform(rng);
    return (int)(u * u * n);
}

/* A track @u has not used yet: own group with probability @own, else another group's. */
static int pick_track(tt_rng *rng, int g, int groups, int tpg, double own, const uint8_t *used)
{
    for (;;) {
        int grp = g, idx;
        if (groups > 1 && tt_rng_uniform(rng) >= own)
            grp = (g + 1 + (int)tt_rng_below(rng, (uint64_t)groups - 1)) % groups;
        idx = grp == g ? skewed(rng, tpg) : (int)tt_rng_below(rng, (uint64_t)tpg);
        if (!used[grp * tpg + idx])
            return grp * tpg + idx;
    }
}

static void track_id(char *buf, size_t cap, int flat, int tpg)
{
    snprintf(buf, cap, "g%02d-t%03d", flat / tpg, flat % tpg);
}

static void add_listener(tt_dataset *ds, tt_rng *rng, const char *user, int g, int groups, int tpg,
                         int plays, uint8_t *used)
{
    char tid[32];
    int flat;

    memset(used, 0, (size_t)groups * tpg);
    for (int i = 0; i < plays; i++) {
        int64_t when = FX_T0 - 60 * FX_DAY + (int64_t)tt_rng_below(rng, 59 * FX_DAY);
        flat = pick_track(rng, g, groups, tpg, 0.9, used);
        used[flat] = 1;
        track_id(tid, sizeof(tid), flat, tpg);
        fx_add_event(ds, user, tid, TT_ACT_PLAY, (float)(1 + tt_rng_below(rng, 5)), when);
        if (tt_rng_below(rng, 5) == 0)
            fx_add_event(ds, user, tid, TT_ACT_LIKE, 1.0f, when + 60);
    }
    if (groups > 1) {
        flat = pick_track(rng, g, groups, tpg, 0.0, used);
        used[flat] = 1;
        track_id(tid, sizeof(tid), flat, tpg);
        fx_add_event(ds, user, tid, TT_ACT_SKIP, 1.0f, FX_T0 - 2 * FX_DAY);
    }
    flat = pick_track(rng, g, groups, tpg, 1.0, used);
    used[flat] = 1;
    track_id(tid, sizeof(tid), flat, tpg);
    fx_add_event(ds, user, tid, TT_ACT_DISLIKE, 1.0f, FX_T0 - FX_DAY);
}

static tt_dataset *groups_dataset(int groups, int users_per_group, int tracks_per_group,
                                  int plays_per_user, uint64_t seed, bool sound)
{
    tt_dataset *ds = tt_dataset_new();
    uint8_t *used;
    tt_rng rng;
    char uid[32];

    cr_assert(groups >= 1 && groups <= FX_MAX_GROUPS, "1..8 groups");
    cr_assert(plays_per_user + 2 < tracks_per_group, "users need unplayed tracks");
    tt_rng_seed(&rng, seed, 0);
    add_catalog(ds, groups, tracks_per_group, sound, seed);
    for (int g = 0; g < groups; g++) {
        for (int i = 0; i < users_per_group; i++) {
            snprintf(uid, sizeof(uid), "g%02d-u%03d", g, i);
            fx_add_user(ds, uid, genres[g]);
        }
    }
    used = tt_malloc((size_t)groups * tracks_per_group);
    for (int g = 0; g < groups; g++) {
        for (int i = 0; i < users_per_group; i++) {
            snprintf(uid, sizeof(uid), "g%02d-u%03d", g, i);
            add_listener(ds, &rng, uid, g, groups, tracks_per_group, plays_per_user, used);
        }
    }
    free(used);
    tt_dataset_finish(ds);
    return ds;
}

tt_dataset *fx_taste_groups(int groups, int users_per_group, int tracks_per_group,
                            int plays_per_user, uint64_t seed)
{
    return groups_dataset(groups, users_per_group, tracks_per_group, plays_per_user, seed, false);
}

tt_dataset *fx_sound_groups(int groups, int users_per_group, int tracks_per_group,
                            int plays_per_user, uint64_t seed)
{
    return groups_dataset(groups, users_per_group, tracks_per_group, plays_per_user, seed, true);
}

void fx_train_set(const tt_dataset *ds, tt_train_set *out)
{
    tt_weighting w = tt_weighting_default();
    tt_train_set_build(ds, NULL, &w, out);
}

tt_als_params fx_als_params(void)
{
    tt_als_params p = tt_als_params_default();

    /* Small data: fewer factors and lighter regularization than the shipped defaults. */
    p.factors = 16;
    p.regularization = 0.1f;
    p.alpha = 2.0f;
    p.iterations = 12;
    p.threads = 2;
    p.seed = 7;
    p.restarts = 1; /* one factorization: tests of restarts ask for them */
    return p;
}

int32_t fx_row(const tt_csr *m, int32_t r, const int32_t **idx, const float **val)
{
    if (r < 0 || r >= m->rows) {
        if (idx)
            *idx = NULL;
        if (val)
            *val = NULL;
        return 0;
    }
    if (idx)
        *idx = m->indices + m->indptr[r];
    if (val)
        *val = m->data + m->indptr[r];
    return (int32_t)tt_csr_row_nnz(m, r);
}

bool fx_contains(const int32_t *a, int32_t n, int32_t x)
{
    for (int32_t i = 0; i < n; i++)
        if (a[i] == x)
            return true;
    return false;
}

bool fx_scored_contains(const tt_scored *out, int n, int32_t t)
{
    for (int i = 0; i < n; i++)
        if (out[i].track == t)
            return true;
    return false;
}

/* ---- files ---- */

void fx_tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/tt-test-XXXXXX");
    cr_assert_not_null(mkdtemp(dir), "mkdtemp failed");
}

void fx_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    struct stat st;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            fx_rmtree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

char *fx_path(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

int fx_dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    cr_assert_not_null(d, "cannot open %s", dir);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

int64_t fx_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

void fx_overwrite(const char *path, int64_t offset, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY);

    cr_assert(fd >= 0, "cannot open %s", path);
    cr_assert_eq(pwrite(fd, p, n, offset), (ssize_t)n, "cannot write %s", path);
    close(fd);
}

void fx_flip_byte(const char *path, int64_t offset, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    uint8_t b;

    cr_assert(fd >= 0, "cannot open %s", path);
    cr_assert_eq(pread(fd, &b, 1, offset), 1, "cannot read %s at %lld", path, (long long)offset);
    b ^= mask;
    cr_assert_eq(pwrite(fd, &b, 1, offset), 1, "cannot write %s", path);
    close(fd);
}

void fx_truncate(const char *path, int64_t size)
{
    cr_assert_eq(truncate(path, size), 0, "cannot truncate %s", path);
}

/* ---- model file metadata, edited in place (the layout of include/tt/modelfile.h) ---- */

static uint8_t *read_whole(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf;

    cr_assert_not_null(fp, "cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    buf = malloc(*n + 1);
    cr_assert_eq(fread(buf, 1, *n, fp), *n, "cannot read %s", path);
    fclose(fp);
    return buf;
}

static void put_le(uint8_t *p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* The first byte after field @name's type byte @type (searching the sections), or 0. */
static size_t find_field(const uint8_t *b, size_t n, const char *name, uint8_t type)
{
    uint8_t pat[4 + 64 + 1];
    size_t len = strlen(name);

    put_le(pat, len, 4);
    memcpy(pat + 4, name, len);
    pat[4 + len] = type;
    for (size_t at = 128; at + 4 + len + 1 <= n; at++)
        if (memcmp(b + at, pat, 4 + len + 1) == 0)
            return at + 4 + len + 1;
    return 0;
}

/* Payload CRC (bytes 72..75) and header CRC (76..79) recomputed, then the file rewritten. */
static void write_with_checksums(const char *path, uint8_t *b, size_t n)
{
    FILE *fp;

    put_le(b + 72, tt_crc32(0, b + 128, n - 128), 4);
    memset(b + 76, 0, 4);
    put_le(b + 76, tt_crc32(0, b, 128), 4);
    fp = fopen(path, "wb");
    cr_assert_not_null(fp, "cannot write %s", path);
    cr_assert_eq(fwrite(b, 1, n, fp), n);
    fclose(fp);
}

static uint64_t get_le(const uint8_t *p, int width)
{
    uint64_t v = 0;

    for (int i = width - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

void fx_section_overwrite(const char *path, const char *name, int64_t offset, const void *p,
                          size_t n)
{
    size_t size;
    uint8_t *b = read_whole(path, &size);
    uint64_t table = get_le(b + 56, 8), count = get_le(b + 12, 4);

    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *e = b + table + i * 72;
        if (strncmp((const char *)e, name, 32) != 0)
            continue;
        cr_assert_leq((uint64_t)offset + n, get_le(e + 64, 8), "%s: write past section %s",
                      path, name);
        memcpy(b + get_le(e + 56, 8) + (uint64_t)offset, p, n);
        write_with_checksums(path, b, size);
        free(b);
        return;
    }
    cr_assert_fail("%s has no section %s", path, name);
}

void fx_meta_set(const char *path, const char *name, uint64_t bits)
{
    size_t n, at = 0;
    uint8_t *b = read_whole(path, &n);

    /* Types 1..6 carry 8 value bytes: find whichever the field has. */
    for (uint8_t t = 1; t <= 6 && at == 0; t++)
        at = find_field(b, n, name, t);
    cr_assert_neq(at, 0, "%s has no numeric metadata field '%s'", path, name);
    put_le(b + at, bits, 8);
    write_with_checksums(path, b, n);
    free(b);
}

void fx_meta_set_f64(const char *path, const char *name, double v)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof(bits));
    fx_meta_set(path, name, bits);
}

void fx_meta_set_str(const char *path, const char *name, const char *value)
{
    size_t n, len = strlen(value);
    uint8_t *b = read_whole(path, &n);
    size_t at = find_field(b, n, name, 64); /* TT_MF_ENUM */

    cr_assert_neq(at, 0, "%s has no enum metadata field '%s'", path, name);
    cr_assert_eq(b[at] | b[at + 1] << 8 | b[at + 2] << 16 | (size_t)b[at + 3] << 24, len,
                 "'%s' replaces a string of another length", value);
    memcpy(b + at + 4, value, len);
    write_with_checksums(path, b, n);
    free(b);
}

void fx_expect_model_refused(const char *path, const char *needle)
{
    tt_model *m = NULL;
    tt_err err = {0};

    cr_assert_eq(tt_model_load(path, 0, &m, &err), TT_ECORRUPT, "%s: %s", needle, err.message);
    cr_assert_null(m);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    cr_assert_not_null(strstr(err.message, needle), "message: %s", err.message);
}

#if defined(__SANITIZE_ADDRESS__)
#define FX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FX_ASAN 1
#endif
#endif

bool fx_limit_address_space(size_t extra)
{
#ifdef FX_ASAN
    (void)extra;
    return false;
#else
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    struct rlimit r;

    cr_assert_not_null(f, "cannot read /proc/self/statm");
    cr_assert_eq(fscanf(f, "%lu", &pages), 1);
    fclose(f);
    r.rlim_cur = r.rlim_max = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + extra;
    cr_assert_eq(setrlimit(RLIMIT_AS, &r), 0, "cannot limit the address space");
    return true;
#endif
}

void fx_save_model(const tt_model *m, const char *path)
{
    tt_err err = {0};
    int rc = tt_model_save(m, path, &err);

    cr_assert_eq(rc, 0, "save: %s", tt_err_msg(&err, rc));
}

void fx_expect_damaged_files_refused(const tt_model *m, const char *path, const char *missing)
{
    tt_model *l = NULL;
    tt_err err = {0};
    int64_t size;

    fx_save_model(m, path);
    size = fx_file_size(path);
    fx_flip_byte(path, size / 2, 0x10);
    cr_assert_eq(tt_model_load(path, 0, &l, &err), TT_ECORRUPT);
    cr_assert_null(l);
    cr_assert_not_null(strstr(err.message, path), "message: %s", err.message);
    fx_save_model(m, path);
    fx_truncate(path, size - 100);
    cr_assert_eq(tt_model_load(path, 0, &l, NULL), TT_ECORRUPT);
    fx_truncate(path, 0);
    cr_assert_eq(tt_model_load(path, 0, &l, NULL), TT_ECORRUPT);
    cr_assert_null(l);
    cr_assert_eq(tt_model_load(missing, 0, &l, NULL), TT_ENOTFOUND);
}

void fx_pipeline_data(char dir[64], struct tt_config *cfg)
{
    tt_generate_params p = tt_generate_params_default();
    tt_store *s = NULL;
    tt_err err = {0};

    fx_tmpdir(dir);
    unsetenv("TZ");
    cr_assert_eq(tt_config_load_env(cfg, &err), 0, "%s", err.message);
    snprintf(cfg->database_url, sizeof(cfg->database_url), "sqlite:///%s/tt.db", dir);
    snprintf(cfg->model_dir, sizeof(cfg->model_dir), "%s/models", dir);
    p.users = 150;
    p.tracks = 200;
    p.interactions = 6000;
    p.seed = 3;
    cr_assert_eq(tt_store_open(cfg->database_url, &s, &err), 0, "%s", err.message);
    cr_assert_eq(tt_generate_run(s, &p, NULL, &err), 0, "%s", err.message);
    tt_store_close(s);
}
