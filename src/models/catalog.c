/*
 * The serving snapshot file (kind "catalog"). Strings and CSR arrays are used straight from
 * the mapping; only the id -> dense lookups are rebuilt at load (hash tables), which costs
 * a fraction of a second per million ids.
 */
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/modelfile.h"

#include <stdio.h>
#include <string.h>

struct tt_catalog {
    tt_mfile *f;
    int32_t n_tracks, n_users, n_genres, n_artists;
    const char **track_ids, **titles, **artist_names, **user_ids, **genre_names;
    const char **artist_ids; /* NULL in snapshots written before they were kept */
    const int32_t *track_artist;
    const int64_t *tg_ptr, *seen_ptr, *pos_ptr, *ug_ptr;
    const int32_t *tg, *seen_idx, *pos_idx, *ug;
    const float *seen_val, *pos_val;
    const float *pos_age; /* aligned with pos_idx; NULL in catalogs written without it */
    int64_t watermark;
    tt_ids *track_map, *user_map, *genre_map;
};

/* The sizes of the arrays, and the last interaction the snapshot includes. */
static const tt_mfield catalog_fields[] = {
    {"n_tracks", TT_MF_I32, TT_MF_AT(struct tt_catalog, n_tracks), .lo = 0, .hi = INT32_MAX},
    {"n_users", TT_MF_I32, TT_MF_AT(struct tt_catalog, n_users), .lo = 0, .hi = INT32_MAX},
    {"n_genres", TT_MF_I32, TT_MF_AT(struct tt_catalog, n_genres), .lo = 0, .hi = INT32_MAX},
    {"n_artists", TT_MF_I32, TT_MF_AT(struct tt_catalog, n_artists), .lo = 0, .hi = INT32_MAX},
    {"watermark", TT_MF_I64, TT_MF_AT(struct tt_catalog, watermark), .lo = 0,
     .hi = (double)INT64_MAX},
};
#define N_CATALOG_FIELDS ((int)(sizeof(catalog_fields) / sizeof(catalog_fields[0])))

static int add_csr(tt_mfile_writer *w, const char *name, const tt_csr *m, tt_err *err)
{
    char n1[32], n2[32], n3[32];
    int rc;

    snprintf(n1, sizeof(n1), "%s_ptr", name);
    snprintf(n2, sizeof(n2), "%s_idx", name);
    snprintf(n3, sizeof(n3), "%s_val", name);
    rc = tt_mfile_add(w, n1, TT_DT_I64, (int64_t)m->rows + 1, 1, m->indptr, err);
    if (rc == 0)
        rc = tt_mfile_add(w, n2, TT_DT_I32, m->nnz, 1, m->indices, err);
    if (rc == 0)
        rc = tt_mfile_add(w, n3, TT_DT_F32, m->nnz, 1, m->data, err);
    return rc;
}

static int add_names(tt_mfile_writer *w, const char *name, const tt_ids *ids, tt_err *err)
{
    int32_t n = tt_ids_count(ids);
    const char **s = tt_malloc(((size_t)n + 1) * sizeof(char *));
    int rc;

    for (int32_t i = 0; i < n; i++)
        s[i] = tt_ids_name(ids, i);
    rc = tt_mfile_add_strings(w, name, s, n, err);
    free(s);
    return rc;
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/*
 * Days from each positive pair's latest training event to the newest training event, aligned
 * with the positives' CSR: how recent each liked track's listening is. One 4-byte array:
 * each pair's youngest age in seconds (saturated at UINT32_MAX, 136 years), then the same
 * slots turned into days, so the pass costs 4 bytes a pair beside the event log.
 */
static int add_positive_ages(const tt_dataset *ds, const tt_train_set *ts, tt_mfile_writer *w,
                             tt_err *err)
{
    const tt_csr *pos = &ts->conf;
    union age {
        uint32_t secs;
        float days;
    } *age = tt_malloc(((size_t)pos->nnz + 1) * sizeof(union age));
    int rc;

    for (int64_t j = 0; j < pos->nnz; j++)
        age[j].secs = UINT32_MAX;
    for (int64_t i = 0; i < ds->n_events; i++) {
        int32_t u = ds->ev_user[i], *row, *hit;
        int64_t d = ts->now - tt_dataset_event_time(ds, i);
        uint32_t secs = d <= 0 ? 0 : d >= UINT32_MAX ? UINT32_MAX - 1 : (uint32_t)d;
        if (ts->mask && !ts->mask[i])
            continue;
        row = pos->indices + pos->indptr[u];
        hit = bsearch(&ds->ev_track[i], row, (size_t)(pos->indptr[u + 1] - pos->indptr[u]),
                      sizeof(int32_t), cmp_i32);
        if (hit && secs < age[hit - pos->indices].secs)
            age[hit - pos->indices].secs = secs;
    }
    for (int64_t j = 0; j < pos->nnz; j++) {
        uint32_t secs = age[j].secs;
        age[j].days = secs == UINT32_MAX ? 0.0f : (float)((double)secs / 86400.0);
    }
    rc = tt_mfile_add(w, "pos_age_days", TT_DT_F32, pos->nnz, 1, age, err);
    free(age);
    return rc;
}

static int save_sections(const tt_dataset *ds, const tt_train_set *ts, tt_mfile_writer *w,
                         tt_err *err)
{
    int32_t nt = tt_dataset_n_tracks(ds), nu = tt_dataset_n_users(ds);
    const struct tt_catalog sizes = {.n_tracks = nt,
                                     .n_users = nu,
                                     .n_genres = tt_dataset_n_genres(ds),
                                     .n_artists = tt_dataset_n_artists(ds),
                                     .watermark = ds->max_event_id};
    int rc = tt_mfile_put_meta(w, catalog_fields, N_CATALOG_FIELDS, &sizes, err);

    if (rc == 0)
        rc = add_names(w, "track_ids", ds->tracks, err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "titles", ds->titles, nt, err);
    if (rc == 0)
        rc = tt_mfile_add_strings(w, "artist_names", ds->artist_names, sizes.n_artists, err);
    if (rc == 0)
        rc = add_names(w, "artist_ids", ds->artists, err);
    if (rc == 0)
        rc = add_names(w, "user_ids", ds->users, err);
    if (rc == 0)
        rc = add_names(w, "genre_names", ds->genres, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_artist", TT_DT_I32, nt, 1, ds->track_artist, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_genre_ptr", TT_DT_I64, (int64_t)nt + 1, 1,
                          ds->track_genre_ptr, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "track_genre", TT_DT_I32, ds->track_genre_ptr[nt], 1,
                          ds->track_genre, err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_genre_ptr", TT_DT_I64, (int64_t)nu + 1, 1, ds->user_genre_ptr,
                          err);
    if (rc == 0)
        rc = tt_mfile_add(w, "user_genre", TT_DT_I32, ds->user_genre_ptr[nu], 1, ds->user_genre,
                          err);
    if (rc == 0)
        rc = add_csr(w, "seen", &ts->seen, err);
    if (rc == 0)
        rc = add_csr(w, "pos", &ts->conf, err);
    if (rc == 0)
        rc = add_positive_ages(ds, ts, w, err);
    return rc;
}

int tt_catalog_save(const tt_dataset *ds, const tt_train_set *ts, const char *path, tt_err *err)
{
    tt_mfile_writer *w;
    int rc = tt_mfile_create(path, "catalog", tt_catalog_checksum(ds), &w, err);

    if (rc < 0)
        return rc;
    rc = save_sections(ds, ts, w, err);
    if (rc < 0) {
        tt_mfile_abort(w);
        return rc;
    }
    return tt_mfile_commit(w, err);
}

static int corrupt(const tt_catalog *c, const char *what, tt_err *err)
{
    return tt_err_set(err, TT_ECORRUPT, "catalog file %s refused: %s", tt_mfile_path(c->f), what);
}

static int get_strings(tt_catalog *c, const char *name, int32_t n, const char ***out, tt_err *err)
{
    return tt_mfile_strings_new(c->f, name, n, out, err);
}

/* Loads an offsets/indices(/values) triple of @rows rows whose indices must be < @bound. */
static int get_csr(tt_catalog *c, const char *ptr_name, const char *idx_name,
                   const char *val_name, int32_t rows, int32_t bound, const int64_t **ptr,
                   const int32_t **idx, const float **val, tt_err *err)
{
    int64_t r = (int64_t)rows + 1, cols = 1, nnz = -1;
    const void *p;
    int rc = tt_mfile_get(c->f, ptr_name, TT_DT_I64, &r, &cols, &p, err);

    if (rc < 0)
        return rc;
    *ptr = p;
    rc = tt_mfile_get(c->f, idx_name, TT_DT_I32, &nnz, &cols, &p, err);
    if (rc < 0)
        return rc;
    *idx = p;
    if (!tt_mfile_offsets_valid(*ptr, rows, nnz))
        return corrupt(c, "bad offsets", err);
    if (!tt_mfile_ids_valid(*idx, nnz, bound))
        return corrupt(c, "index out of range", err);
    if (!val_name)
        return 0;
    rc = tt_mfile_get(c->f, val_name, TT_DT_F32, &nnz, &cols, &p, err);
    *val = p;
    return rc;
}

static tt_ids *index_names(const char **names, int32_t n)
{
    tt_ids *ids = tt_ids_new();

    for (int32_t i = 0; i < n; i++)
        tt_ids_intern(ids, names[i], strlen(names[i]));
    return ids;
}

/* The positives' ages are optional: catalogs written before them load without. */
static void load_positive_ages(tt_catalog *c)
{
    int64_t rows = c->pos_ptr[c->n_users], cols = 1;
    const void *p = NULL;

    if (tt_mfile_get(c->f, "pos_age_days", TT_DT_F32, &rows, &cols, &p, NULL) == 0)
        c->pos_age = p;
}

static int load_sections(tt_catalog *c, tt_err *err)
{
    int64_t rows, cols = 1;
    const void *p = NULL;
    int rc = tt_mfile_get_meta(c->f, catalog_fields, N_CATALOG_FIELDS, c, err);

    if (rc < 0)
        return rc;
    rc = get_strings(c, "track_ids", c->n_tracks, &c->track_ids, err);
    if (rc == 0)
        rc = get_strings(c, "titles", c->n_tracks, &c->titles, err);
    if (rc == 0)
        rc = get_strings(c, "artist_names", c->n_artists, &c->artist_names, err);
    /* Optional: snapshots written before artist ids were kept still load. */
    if (rc == 0 && tt_mfile_strings_count(c->f, "artist_ids") >= 0)
        rc = get_strings(c, "artist_ids", c->n_artists, &c->artist_ids, err);
    if (rc == 0)
        rc = get_strings(c, "user_ids", c->n_users, &c->user_ids, err);
    if (rc == 0)
        rc = get_strings(c, "genre_names", c->n_genres, &c->genre_names, err);
    rows = c->n_tracks;
    if (rc == 0)
        rc = tt_mfile_get(c->f, "track_artist", TT_DT_I32, &rows, &cols, &p, err);
    c->track_artist = p;
    if (rc == 0 && !tt_mfile_ids_valid(c->track_artist, c->n_tracks, c->n_artists))
        rc = corrupt(c, "bad track artist", err);
    if (rc == 0)
        rc = get_csr(c, "track_genre_ptr", "track_genre", NULL, c->n_tracks, c->n_genres,
                     &c->tg_ptr, &c->tg, NULL, err);
    if (rc == 0)
        rc = get_csr(c, "user_genre_ptr", "user_genre", NULL, c->n_users, c->n_genres,
                     &c->ug_ptr, &c->ug, NULL, err);
    if (rc == 0)
        rc = get_csr(c, "seen_ptr", "seen_idx", "seen_val", c->n_users, c->n_tracks,
                     &c->seen_ptr, &c->seen_idx, &c->seen_val, err);
    if (rc == 0)
        rc = get_csr(c, "pos_ptr", "pos_idx", "pos_val", c->n_users, c->n_tracks, &c->pos_ptr,
                     &c->pos_idx, &c->pos_val, err);
    if (rc == 0)
        load_positive_ages(c);
    return rc;
}

int tt_catalog_load(const char *path, tt_catalog **out, tt_err *err)
{
    tt_catalog *c = tt_calloc(1, sizeof(*c));
    int rc = tt_mfile_open(path, &c->f, err);

    if (rc == 0 && strcmp(tt_mfile_kind(c->f), "catalog") != 0)
        rc = corrupt(c, "not a catalog file", err);
    if (rc == 0)
        rc = load_sections(c, err);
    if (rc < 0) {
        tt_catalog_free(c);
        return rc;
    }
    c->track_map = index_names(c->track_ids, c->n_tracks);
    c->user_map = index_names(c->user_ids, c->n_users);
    c->genre_map = index_names(c->genre_names, c->n_genres);
    *out = c;
    return 0;
}

void tt_catalog_free(tt_catalog *c)
{
    if (!c)
        return;
    free(c->track_ids);
    free(c->titles);
    free(c->artist_names);
    free(c->artist_ids);
    free(c->user_ids);
    free(c->genre_names);
    tt_ids_free(c->track_map);
    tt_ids_free(c->user_map);
    tt_ids_free(c->genre_map);
    tt_mfile_close(c->f);
    free(c);
}

uint64_t tt_catalog_id(const tt_catalog *c) { return tt_mfile_catalog(c->f); }
int64_t tt_catalog_created_at(const tt_catalog *c) { return tt_mfile_created_at(c->f); }
int64_t tt_catalog_watermark(const tt_catalog *c) { return c->watermark; }
int32_t tt_catalog_n_tracks(const tt_catalog *c) { return c->n_tracks; }
int32_t tt_catalog_n_users(const tt_catalog *c) { return c->n_users; }
int32_t tt_catalog_n_genres(const tt_catalog *c) { return c->n_genres; }

int32_t tt_catalog_track_find(const tt_catalog *c, const char *id)
{
    return tt_ids_find(c->track_map, id, strlen(id));
}

int32_t tt_catalog_user_find(const tt_catalog *c, const char *id)
{
    return tt_ids_find(c->user_map, id, strlen(id));
}

int32_t tt_catalog_genre_find(const tt_catalog *c, const char *name)
{
    return tt_ids_find(c->genre_map, name, strlen(name));
}

const char *tt_catalog_track_id(const tt_catalog *c, int32_t t)
{
    return (t >= 0 && t < c->n_tracks) ? c->track_ids[t] : "";
}

const char *tt_catalog_track_title(const tt_catalog *c, int32_t t)
{
    return (t >= 0 && t < c->n_tracks) ? c->titles[t] : "";
}

int32_t tt_catalog_track_artist_id(const tt_catalog *c, int32_t t)
{
    return (t >= 0 && t < c->n_tracks) ? c->track_artist[t] : -1;
}

const char *tt_catalog_track_artist_platform_id(const tt_catalog *c, int32_t t)
{
    return (t >= 0 && t < c->n_tracks && c->artist_ids) ? c->artist_ids[c->track_artist[t]]
                                                         : "";
}

const char *tt_catalog_track_artist(const tt_catalog *c, int32_t t)
{
    return (t >= 0 && t < c->n_tracks) ? c->artist_names[c->track_artist[t]] : "";
}

const char *tt_catalog_track_genre(const tt_catalog *c, int32_t t)
{
    if (t < 0 || t >= c->n_tracks || c->tg_ptr[t] == c->tg_ptr[t + 1])
        return "";
    return c->genre_names[c->tg[c->tg_ptr[t]]];
}

void tt_catalog_track_genres(const tt_catalog *c, int32_t t, const int32_t **g, int32_t *n)
{
    if (t < 0 || t >= c->n_tracks) {
        *g = NULL, *n = 0;
        return;
    }
    *g = c->tg + c->tg_ptr[t];
    *n = (int32_t)(c->tg_ptr[t + 1] - c->tg_ptr[t]);
}

const char *tt_catalog_track_genre_at(const tt_catalog *c, int32_t t, int32_t j)
{
    if (t < 0 || t >= c->n_tracks || j < 0 || c->tg_ptr[t] + j >= c->tg_ptr[t + 1])
        return NULL;
    return c->genre_names[c->tg[c->tg_ptr[t] + j]];
}

const char *tt_catalog_user_id(const tt_catalog *c, int32_t u)
{
    return (u >= 0 && u < c->n_users) ? c->user_ids[u] : "";
}

const char *tt_catalog_genre_name(const tt_catalog *c, int32_t g)
{
    return (g >= 0 && g < c->n_genres) ? c->genre_names[g] : "";
}

void tt_catalog_user_seen(const tt_catalog *c, int32_t u, const int32_t **seen,
                          const float **seen_val, int32_t *n_seen)
{
    if (u < 0 || u >= c->n_users) {
        *seen = NULL, *seen_val = NULL, *n_seen = 0;
        return;
    }
    *seen = c->seen_idx + c->seen_ptr[u];
    *seen_val = c->seen_val + c->seen_ptr[u];
    *n_seen = (int32_t)(c->seen_ptr[u + 1] - c->seen_ptr[u]);
}

void tt_catalog_user_positives(const tt_catalog *c, int32_t u, const int32_t **pos,
                               const float **pos_val, int32_t *n_pos)
{
    if (u < 0 || u >= c->n_users) {
        *pos = NULL, *pos_val = NULL, *n_pos = 0;
        return;
    }
    *pos = c->pos_idx + c->pos_ptr[u];
    *pos_val = c->pos_val + c->pos_ptr[u];
    *n_pos = (int32_t)(c->pos_ptr[u + 1] - c->pos_ptr[u]);
}

const float *tt_catalog_user_positive_ages(const tt_catalog *c, int32_t u)
{
    return c->pos_age && u >= 0 && u < c->n_users ? c->pos_age + c->pos_ptr[u] : NULL;
}

void tt_catalog_user_genres(const tt_catalog *c, int32_t u, const int32_t **g, int32_t *n)
{
    if (u < 0 || u >= c->n_users) {
        *g = NULL, *n = 0;
        return;
    }
    *g = c->ug + c->ug_ptr[u];
    *n = (int32_t)(c->ug_ptr[u + 1] - c->ug_ptr[u]);
}
