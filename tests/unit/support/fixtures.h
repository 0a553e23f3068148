/*
 * fixtures.h - shared helpers for the unit tests: small realistic datasets built in memory,
 * scratch directories under /tmp, and file surgery for corruption tests.
 *
 * Every builder is deterministic: the same arguments give the same dataset, byte for byte.
 * Datasets come back finished (tt_dataset_finish) and are released with tt_dataset_free.
 */
#ifndef TT_TEST_FIXTURES_H
#define TT_TEST_FIXTURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt/als.h"
#include "tt/dataset.h"
#include "tt/model.h"

/* The reference time of the fixtures: 2023-11-14 22:13:20 UTC. */
#define FX_T0 INT64_C(1700000000)
#define FX_DAY INT64_C(86400)

/*
 * Listeners in @groups taste groups. Group g owns @tracks_per_group tracks whose genres are
 * "<primary g>|<secondary g>" ("rock|indie", "jazz|bebop", ...), by artists of four tracks
 * each; its @users_per_group users declare the primary genre as their favourite.
 *
 * Each user plays @plays_per_user distinct tracks (plays_per_user < tracks_per_group), 90%
 * of them from their own group with a skew toward the group's first tracks, the rest from
 * other groups; play counts 1..5, a like on about one play in five, one skip of another
 * group's track and one dislike of an own-group track they never played. Events fall in the
 * 60 days before FX_T0.
 *
 * Ids encode the group: tracks "g03-t017", users "g03-u004", artists "g03-a04"; see
 * fx_id_group. Groups are limited to 1..8.
 */
tt_dataset *fx_taste_groups(int groups, int users_per_group, int tracks_per_group,
                            int plays_per_user, uint64_t seed);

/*
 * fx_taste_groups whose tracks also sound like their group: every track gets the audio
 * features of fx_track_sound (genres are the same), so a content model can tell the groups
 * apart by sound alone. The listeners are exactly those of fx_taste_groups with the same
 * arguments.
 */
tt_dataset *fx_sound_groups(int groups, int users_per_group, int tracks_per_group,
                            int plays_per_user, uint64_t seed);

/*
 * The audio features (TT_N_FEATURES values, enum tt_feature order) of track @i of group @g:
 * the group's centre (fx_group_sound) plus small noise drawn from (@seed, @g, @i), clipped to
 * each feature's range. The key is uniform over 0..11 (noise: groups share keys).
 */
void fx_track_sound(int g, int i, uint64_t seed, float features[TT_N_FEATURES]);
/*
 * Group @g's centre: the 0..1 features and mode spread over 0.1..0.9, tempo over 70..170 BPM,
 * loudness over -18..-4 dB, different for each group (a fixed draw); key NAN.
 */
void fx_group_sound(int g, float centre[TT_N_FEATURES]);
/*
 * Adds the catalog of fx_sound_groups to @ds (not finished): "g03-t017" by "g03-a04" with
 * genres "<primary>|<secondary>" and fx_track_sound features.
 */
void fx_add_sound_catalog(tt_dataset *ds, int groups, int tracks_per_group, uint64_t seed);

/* Primary and secondary genre names of group @g (0..7). */
const char *fx_group_genre(int g);
const char *fx_group_subgenre(int g);

/* The group encoded in a fixture id ("g03-..." -> 3), or -1. */
int fx_id_group(const char *id);
int fx_track_group(const tt_dataset *ds, int32_t t);
int fx_user_group(const tt_dataset *ds, int32_t u);

/* Hand-built datasets: start with tt_dataset_new, add, then tt_dataset_finish. */
int32_t fx_add_track(tt_dataset *ds, const char *id, const char *artist, const char *genres);
int32_t fx_add_user(tt_dataset *ds, const char *id, const char *favorite_genres);
/*
 * A track with content: @features (TT_N_FEATURES values, NAN unknown; NULL = none known),
 * @embedding (@dim floats; NULL = none), @genre_list (NULL = none).
 */
int32_t fx_add_track_content(tt_dataset *ds, const char *id, const char *artist,
                             const char *genre_list, const float *features, const float *embedding,
                             int32_t dim);
/* Asserts that the track is in the catalog. */
void fx_add_event(tt_dataset *ds, const char *user, const char *track, enum tt_action a,
                  float weight, int64_t when);

/* The train set of every event of @ds with the default weighting. */
void fx_train_set(const tt_dataset *ds, tt_train_set *out);

/*
 * ALS parameters suited to the fixture datasets (a few hundred listeners, dense taste
 * groups), pinned here rather than taken from tt_als_params_default, whose values are tuned
 * for catalogs thousands of times larger: 16 factors, lambda 0.1, alpha 2, BM25 (k1 100,
 * b 0.8), 12 sweeps of 3 CG steps, 2 threads, seed 7.
 */
tt_als_params fx_als_params(void);

/* Row @r of @m: its column indices (sorted) and values; returns the entry count. */
int32_t fx_row(const tt_csr *m, int32_t r, const int32_t **idx, const float **val);
/* True when @x is among the @n entries of @a (any order). */
bool fx_contains(const int32_t *a, int32_t n, int32_t x);
/* True when @t is among the first @n entries of @out. */
bool fx_scored_contains(const tt_scored *out, int n, int32_t t);

/* A fresh directory under /tmp (mkdtemp) written into @dir; asserts on failure. */
void fx_tmpdir(char dir[64]);
/* Removes @dir and everything below it. */
void fx_rmtree(const char *dir);
struct tt_config;
/*
 * A fresh directory in @dir holding a generated SQLite database (150 users, 200 tracks,
 * 6,000 interactions, seed 3), and @cfg (the defaults, TZ unset) pointed at it and at
 * <dir>/models: the small data the pipeline's tests train on.
 */
void fx_pipeline_data(char dir[64], struct tt_config *cfg);
/* Writes "<dir>/<name>" into @buf (@cap bytes) and returns @buf. */
char *fx_path(char *buf, size_t cap, const char *dir, const char *name);
/* Entries of @dir other than "." and "..". */
int fx_dir_count(const char *dir);
/* Size of the file at @path, or -1. */
int64_t fx_file_size(const char *path);
/* XORs the byte at @offset of the file at @path with @mask. */
void fx_flip_byte(const char *path, int64_t offset, uint8_t mask);
/* Truncates the file at @path to @size bytes. */
void fx_truncate(const char *path, int64_t size);
/* Overwrites @n bytes at @offset. */
void fx_overwrite(const char *path, int64_t offset, const void *p, size_t n);
/*
 * Changes field @name of the metadata section of the model file at @path in place and makes
 * both checksums right again, so only the loader's own checks can refuse the file: its 8
 * value bytes become @bits (numbers: the integer, or the bits of a double), or its string
 * (an enum's name) becomes @value, which must have the same length.
 */
void fx_meta_set(const char *path, const char *name, uint64_t bits);
void fx_meta_set_f64(const char *path, const char *name, double v);
void fx_meta_set_str(const char *path, const char *name, const char *value);
/*
 * Overwrites @n bytes at @offset inside section @name of the model file at @path and makes
 * both checksums right again, so only the loader's own checks can refuse the file.
 */
void fx_section_overwrite(const char *path, const char *name, int64_t offset, const void *p,
                          size_t n);
/*
 * Asserts that tt_model_load refuses the model file at @path as corrupt, with a message that
 * names the file and contains @needle (a field name in quotes, say).
 */
void fx_expect_model_refused(const char *path, const char *needle);

/*
 * Limits the test's address space to what it maps now plus @extra bytes, so that an
 * allocation sized by a damaged file makes the test fail here, not only on a machine short
 * of memory. Returns false, limiting nothing, under AddressSanitizer (its shadow memory
 * needs address space of its own). Each test runs in its own process: the limit ends with it.
 */
bool fx_limit_address_space(size_t extra);

/* Saves @m to @path, asserting it succeeds. */
void fx_save_model(const tt_model *m, const char *path);

/*
 * Saves @m to @path and checks that damaged copies are refused: a flipped byte (the message
 * names the file), a truncated and an empty file (TT_ECORRUPT), and @missing (TT_ENOTFOUND).
 */
void fx_expect_damaged_files_refused(const tt_model *m, const char *path, const char *missing);

#endif
