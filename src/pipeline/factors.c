/*
 * ALS factors trained elsewhere, in and out (include/tt/pipeline.h; docs/pipeline.md,
 * "Factors trained elsewhere").
 *
 * An import is a training run whose sweeps happened on another system: it takes the same
 * snapshot of the database (tt__pipeline_snapshot), publishes the same catalog, ends the
 * model with the step training ends with (tt_als_from_factors), and writes, publishes and
 * prunes versions through the registry. So everything that serves a trained model serves an
 * imported one, and a rollback returns to the trained version before it.
 *
 * Everything is read and checked before the draft version is begun: a bad row leaves
 * MODEL_DIR as it was.
 */
#include "pipeline_priv.h"
#include "tt/catalog.h"
#include "tt/core.h"
#include "tt/factors.h"
#include "tt/fileio.h"
#include "tt/pipeline.h"
#include "tt/registry.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

tt_factor_import tt_factor_import_default(void)
{
    tt_factor_import im;

    memset(&im, 0, sizeof(im));
    im.tier = "free";
    im.name = "als";
    im.als = tt_als_params_default();
    im.als.restarts = 1; /* factors from elsewhere are one factorization unless told */
    return im;
}

/* One side of the import: its table, and where its rows went. */
struct side {
    const char *what; /* "user", "track" */
    tt_factors t;
    float *F;        /* database rows x k, zero where no row */
    int64_t unknown; /* rows skipped: ids the database lacks */
    int32_t without; /* database rows no table row named */
};

struct import {
    const tt_config *cfg;
    const tt_factor_import *im;
    struct side users, tracks;
    tt_dataset *ds;
    tt_train_set ts;
    bool have_ts;
    tt_model *m;
    tt_draft d;
};

/*
 * Only the free tier's "als" and the enterprise tier's custom models serve an ALS model.
 * The parameters are checked here too, before any file is read (factors come later, from
 * the tables).
 */
static int check_target(const tt_factor_import *im, tt_err *err)
{
    tt_als_params p = im->als;

    p.factors = 1;
    if (!im->users || !im->tracks)
        return tt_err_set(err, TT_EINVAL, "both factor tables are needed: users and tracks");
    if (tt_als_params_check(&p, err) < 0)
        return TT_EINVAL;
    if (strcmp(im->tier, "free") == 0 && strcmp(im->name, "als") != 0)
        return tt_err_set_field(err, TT_EINVAL, "name",
                                "the free tier serves its ALS model as 'als', not '%s'; a model "
                                "of another name is a custom model of the enterprise tier",
                                im->name);
    if (strcmp(im->tier, "enterprise") == 0)
        return tt_job_spec_check_name(im->name, err);
    if (strcmp(im->tier, "free") != 0)
        return tt_err_set_field(err, TT_EINVAL, "tier",
                                "ALS factors are served by the free tier (as 'als') or as a "
                                "custom model of the enterprise tier, not by tier '%s'",
                                im->tier);
    return 0;
}

static int read_tables(struct import *x, tt_err *err)
{
    const tt_factors *u = &x->users.t, *t = &x->tracks.t;
    int rc = tt_factors_read(x->im->users, x->im->user_ids, &x->users.t, err);

    if (rc == 0)
        rc = tt_factors_read(x->im->tracks, x->im->track_ids, &x->tracks.t, err);
    if (rc == 0 && u->k != t->k)
        rc = tt_err_set(err, TT_EINVAL,
                        "%s has %d factors per row, %s has %d: user and track factors must "
                        "come from one model",
                        u->path, u->k, t->path, t->k);
    return rc;
}

/*
 * Places each row of @s's table at its id's dense row of @ids, in a zeroed array. A row
 * whose id the database lacks is an error naming its file and line, unless @skip; a table
 * none of whose ids the database knows is an error either way (a wrong file, most likely).
 */
static int place_rows(struct side *s, const tt_ids *ids, bool skip, tt_err *err)
{
    const tt_factors *t = &s->t;
    int32_t n = tt_ids_count(ids);
    uint8_t *has = tt_calloc((size_t)n + 1, 1);
    char at[1200];
    int rc = 0;

    s->F = tt_calloc((size_t)n * t->k + 1, sizeof(float));
    for (int64_t i = 0; rc == 0 && i < t->rows; i++) {
        const char *id = tt_ids_name(t->ids, (int32_t)i);
        int32_t d = tt_ids_find(ids, id, strlen(id));
        if (d < 0 && !skip)
            rc = tt_err_set_field(err, TT_EPARSE, "skip_unknown",
                                  "%s: unknown %s id '%.80s': not in the database",
                                  tt_factors_where(t, i, at, sizeof(at)), s->what, id);
        else if (d < 0)
            s->unknown++;
        else {
            memcpy(s->F + (size_t)d * t->k, t->v + (size_t)i * t->k, (size_t)t->k * sizeof(float));
            has[d] = 1;
        }
    }
    for (int32_t d = 0; d < n; d++)
        s->without += !has[d];
    free(has);
    if (rc == 0 && s->unknown == t->rows)
        rc = tt_err_set(err, TT_EINVAL, "%s: none of its %lld ids is a %s of the database", t->path,
                        (long long)t->rows, s->what);
    return rc;
}

/* A path as absolute as it can be made, for the sidecar. */
static json_t *path_json(const char *path)
{
    char *abs = realpath(path, NULL);
    json_t *j = json_string(abs ? abs : path);

    free(abs);
    return j;
}

static json_t *side_json(const struct side *s)
{
    json_t *j = json_pack("{s:o, s:s, s:I, s:I, s:i}", "file", path_json(s->t.path), "format",
                          tt_factors_layout_name(s->t.layout), "rows", (json_int_t)s->t.rows,
                          "skipped_unknown", (json_int_t)s->unknown, "without_factors", s->without);

    if (s->t.layout == TT_FACTORS_NPY) {
        json_object_set_new(j, "dtype", json_string(s->t.dtype));
        json_object_set_new(j, "ids_file", path_json(s->t.where));
    }
    return j;
}

/* The version's sidecar: a training sidecar's fields, with "source" and "import". */
static json_t *sidecar(const struct import *x, const char *file)
{
    const tt_als_params *p = &x->im->als;
    char catalog[32];
    json_t *j;

    snprintf(catalog, sizeof(catalog), "%016llx", (unsigned long long)x->m->catalog);
    j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:f, s:s, s:{s:i, s:i, s:f, s:f, s:f, s:s, s:f, s:f, s:f}, "
        "s:{s:i, s:i, s:I, s:I}, s:{}, s:{s:b, s:s}, s:{s:b}, s:{s:I, s:i, s:o, s:o}}",
        "model", x->im->name, "tier", x->im->tier, "version", x->d.version, "file", file, "source",
        "imported", "trained_at", (json_int_t)x->m->trained_at, "train_seconds",
        x->m->train_seconds, "catalog", catalog, "params", "factors", x->users.t.k / p->restarts,
        "restarts", p->restarts,
        "regularization", (double)p->regularization, "reg_exponent", (double)p->reg_exponent,
        "alpha", (double)p->alpha, "scaling",
        tt_als_scaling_names[p->scaling], "bm25_k1", (double)p->bm25_k1, "bm25_b",
        (double)p->bm25_b, "log_eps", (double)p->log_eps, "data", "users", x->m->n_users, "tracks",
        x->m->n_tracks, "interactions", (json_int_t)x->ts.n_events, "positive_pairs",
        (json_int_t)x->ts.conf.nnz, "metrics", "promotion", "promoted", true, "reason",
        "imported factors are published as given (nothing held out to compare them on)", "tuning",
        "tuned", false, "import", "imported_at", (json_int_t)tt_unix_time(), "factors",
        x->users.t.k, "users", side_json(&x->users), "tracks", side_json(&x->tracks));
    if (strcmp(x->im->tier, "enterprise") == 0)
        json_object_set_new(j, "base_model", json_string("als"));
    return j;
}

/* The draft's files: the model, the catalog of the same snapshot, the sidecar. */
static int write_version(struct import *x, tt_err *err)
{
    char path[1300], cat[1300], side[1300];
    json_t *j;
    int rc;

    snprintf(path, sizeof(path), "%s/%s.ttm", x->d.dir, x->im->name);
    snprintf(cat, sizeof(cat), "%s/catalog.ttm", x->d.dir);
    snprintf(side, sizeof(side), "%s/%s.json", x->d.dir, x->im->name);
    rc = tt_model_save(x->m, path, err);
    if (rc == 0)
        rc = tt_catalog_save(x->ds, &x->ts, cat, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/%s/%s.ttm", x->cfg->model_dir, x->im->tier, x->im->name);
    j = sidecar(x, path);
    rc = tt_pipeline_write_json(side, j, err);
    json_decref(j);
    return rc;
}

static int publish(struct import *x, tt_err *err)
{
    const tt_config *cfg = x->cfg;
    int rc = tt_draft_begin(cfg->model_dir, x->im->tier, x->im->name, tt_unix_time(), &x->d, err);

    if (rc < 0)
        return rc;
    rc = write_version(x, err);
    if (rc == 0)
        rc = tt_draft_commit(&x->d, err);
    if (rc < 0) {
        if (access(x->d.dir, F_OK) == 0)
            tt_draft_abandon(&x->d);
        return rc;
    }
    rc = tt_registry_publish(cfg->model_dir, x->im->tier, x->im->name, x->d.version, err);
    if (rc == 0)
        rc = tt_registry_prune(cfg->model_dir, x->im->tier, x->im->name, cfg->keep_versions, NULL,
                               err);
    return rc;
}

static void report(const struct import *x, double t0, tt_factor_import_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    snprintf(rep->version, sizeof(rep->version), "%s", x->d.version);
    rep->k = x->users.t.k;
    rep->users = x->m->n_users;
    rep->tracks = x->m->n_tracks;
    rep->user_rows = x->users.t.rows;
    rep->track_rows = x->tracks.t.rows;
    rep->unknown_users = x->users.unknown;
    rep->unknown_tracks = x->tracks.unknown;
    rep->users_without = x->users.without;
    rep->tracks_without = x->tracks.without;
    rep->seconds = tt_now() - t0;
}

static void import_release(struct import *x)
{
    tt_model_free(x->m);
    if (x->have_ts)
        tt_train_set_release(&x->ts);
    tt_dataset_free(x->ds);
    tt_factors_release(&x->users.t);
    tt_factors_release(&x->tracks.t);
    free(x->users.F);
    free(x->tracks.F);
}

int tt_pipeline_import_factors(const tt_config *cfg, const tt_factor_import *im,
                               tt_factor_import_report *rep, tt_err *err)
{
    struct import x;
    double t0 = tt_now();
    int rc;

    memset(&x, 0, sizeof(x));
    x.cfg = cfg;
    x.im = im;
    x.users.what = "user";
    x.tracks.what = "track";
    rc = check_target(im, err);
    if (rc == 0)
        rc = read_tables(&x, err);
    if (rc == 0)
        rc = tt__pipeline_snapshot(cfg, &x.ds, &x.ts, err);
    x.have_ts = rc == 0;
    if (rc == 0)
        rc = place_rows(&x.users, x.ds->users, im->skip_unknown, err);
    if (rc == 0)
        rc = place_rows(&x.tracks, x.ds->tracks, im->skip_unknown, err);
    if (rc == 0)
        rc = tt_als_from_factors(&x.ts, &im->als, x.users.F, x.tracks.F, x.users.t.k, &x.m, err);
    if (rc == 0)
        rc = publish(&x, err);
    if (rc == 0 && rep)
        report(&x, t0, rep);
    import_release(&x);
    return rc;
}

/* ---- export ---- */

struct exporter {
    tt_catalog *cat;
    tt_model *m;
    const char **uid, **tid;
    float *X;
};

/* The published catalog and model @tier/@name, which must be ALS and made on that catalog. */
static int load_published(const tt_config *cfg, const char *tier, const char *name,
                          struct exporter *e, tt_err *err)
{
    char path[1200];
    int rc;

    snprintf(path, sizeof(path), "%s/catalog.ttm", cfg->model_dir);
    rc = tt_catalog_load(path, &e->cat, err);
    if (rc == TT_ENOTFOUND)
        return tt_err_set(err, rc,
                          "no published catalog under %s: nothing was trained or "
                          "imported there",
                          cfg->model_dir);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof(path), "%s/%s/%s.ttm", cfg->model_dir, tier, name);
    if (access(path, F_OK) != 0)
        return tt_err_set_field(err, TT_ENOTFOUND, "model", "no published model %s/%s (%s)", tier,
                                name, path);
    rc = tt_model_load(path, tt_catalog_id(e->cat), &e->m, err);
    if (rc == 0 && (e->m->n_users != tt_catalog_n_users(e->cat) ||
                    e->m->n_tracks != tt_catalog_n_tracks(e->cat)))
        rc = tt_err_set(err, TT_ECORRUPT,
                        "%s: %d users x %d tracks, the published catalog has "
                        "%d x %d",
                        path, e->m->n_users, e->m->n_tracks, tt_catalog_n_users(e->cat),
                        tt_catalog_n_tracks(e->cat));
    if (rc == 0 && tt_als_factors(e->m) == 0)
        rc = tt_err_set_field(err, TT_EINVAL, "model",
                              "%s/%s is a %s model: only ALS models "
                              "have factors to export",
                              tier, name, e->m->ops->kind);
    return rc;
}

/* Ids from the catalog and the user factors copied row by row (the model's own order). */
static void gather(struct exporter *e)
{
    int32_t nu = e->m->n_users, nt = e->m->n_tracks;
    int k = tt_als_factors(e->m);

    e->uid = tt_malloc(((size_t)nu + 1) * sizeof(char *));
    e->tid = tt_malloc(((size_t)nt + 1) * sizeof(char *));
    e->X = tt_malloc(((size_t)nu * k + 1) * sizeof(float));
    for (int32_t u = 0; u < nu; u++) {
        e->uid[u] = tt_catalog_user_id(e->cat, u);
        memcpy(e->X + (size_t)u * k, tt_als_user_vector(e->m, u), (size_t)k * sizeof(float));
    }
    for (int32_t t = 0; t < nt; t++)
        e->tid[t] = tt_catalog_track_id(e->cat, t);
}

static int write_tables(const struct exporter *e, enum tt_factors_format format, const char *dir,
                        tt_factor_export_report *rep, tt_err *err)
{
    const float *inv, *Y;
    int k = 0, rc;
    char(*f)[1200] = rep->files;

    Y = tt_als_track_factors(e->m, &k, &inv);
    if (format == TT_FACTORS_FORMAT_CSV) {
        snprintf(f[0], sizeof(f[0]), "%s/users.csv", dir);
        snprintf(f[1], sizeof(f[1]), "%s/tracks.csv", dir);
        rc = tt_factors_write_csv(f[0], e->uid, e->X, e->m->n_users, k, err);
        if (rc == 0)
            rc = tt_factors_write_csv(f[1], e->tid, Y, e->m->n_tracks, k, err);
        return rc;
    }
    snprintf(f[0], sizeof(f[0]), "%s/users.npy", dir);
    snprintf(f[1], sizeof(f[1]), "%s/user_ids.txt", dir);
    snprintf(f[2], sizeof(f[2]), "%s/tracks.npy", dir);
    snprintf(f[3], sizeof(f[3]), "%s/track_ids.txt", dir);
    rc = tt_factors_write_npy(f[0], f[1], e->uid, e->X, e->m->n_users, k, err);
    if (rc == 0)
        rc = tt_factors_write_npy(f[2], f[3], e->tid, Y, e->m->n_tracks, k, err);
    return rc;
}

int tt_pipeline_export_factors(const tt_config *cfg, const char *tier, const char *name,
                               enum tt_factors_format format, const char *dir,
                               tt_factor_export_report *rep, tt_err *err)
{
    struct exporter e;
    tt_factor_export_report scratch;
    int rc;

    memset(&e, 0, sizeof(e));
    rep = rep ? rep : &scratch;
    memset(rep, 0, sizeof(*rep));
    rc = load_published(cfg, tier, name, &e, err);
    if (rc == 0 && (rc = tt_mkdirs(dir, err)) == 0) {
        gather(&e);
        rc = write_tables(&e, format, dir, rep, err);
    }
    if (rc == 0) {
        tt_registry_published(cfg->model_dir, tier, name, rep->version);
        tt_als_params_of(e.m, &rep->als, NULL);
        rep->k = tt_als_factors(e.m);
        rep->users = e.m->n_users;
        rep->tracks = e.m->n_tracks;
    }
    free(e.uid);
    free(e.tid);
    free(e.X);
    tt_model_free(e.m);
    tt_catalog_free(e.cat);
    return rc;
}
