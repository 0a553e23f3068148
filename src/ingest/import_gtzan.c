/*
 * GTZAN genre collection, as the librosa feature table (features_30_sec.csv): one row per
 * 30-second clip, comma-separated with a header. The clips have no titles or artists, so
 * both are made from the file name; the genre label goes only into genres, which the
 * content models must predict rather than read.
 *
 * Every numeric column but length is kept, raw and in file order, as the track's embedding;
 * scaling them is the content model's job, since it must scale unseen tracks the same way.
 */
#include "import_priv.h"
#include "tt/core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* GTZAN clips are 22,050 Hz mono: length counts samples. */
#define GTZAN_SAMPLE_RATE 22050.0

enum { GC_FILE, GC_LABEL, GC_TEMPO, GC_LENGTH, GC_N };

struct gtzan {
    struct tt__col col[GC_N];
    int *emb_col;    /* field index of each embedding dimension */
    char **emb_name; /* and its column name, for messages */
    int dim;
    float *emb;
    struct tt__sbuf id, title, artist, genre;
};

/* Embedding columns: all but the file name, its length and the label, in header order. */
static void embedding_columns(struct gtzan *g, const tt_csv *c)
{
    int n = tt_csv_nfields(c);

    g->emb_col = tt_malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    g->emb_name = tt_malloc((size_t)(n > 0 ? n : 1) * sizeof(char *));
    for (int i = 0; i < n; i++) {
        if (i == g->col[GC_FILE].idx || i == g->col[GC_LABEL].idx || i == g->col[GC_LENGTH].idx)
            continue;
        g->emb_name[g->dim] = tt_strdup(tt_csv_field(c, i));
        g->emb_col[g->dim++] = i;
    }
    g->emb = tt_malloc((size_t)(g->dim > 0 ? g->dim : 1) * sizeof(float));
}

/* "blues.00000.wav" -> "blues.00000"; only audio extensions are dropped. */
static size_t stem_len(const char *name)
{
    size_t n = strlen(name);

    if (n > 4 && strcasecmp(name + n - 4, ".wav") == 0)
        return n - 4;
    if (n > 3 && strcasecmp(name + n - 3, ".au") == 0)
        return n - 3;
    return n;
}

static void names_for(struct gtzan *g, const char *file, tt_track_rec *t)
{
    size_t stem = stem_len(file);

    g->id.len = g->title.len = g->artist.len = 0;
    tt__sbuf_add(&g->id, "gtzan:", 6);
    tt__sbuf_add(&g->id, file, strlen(file));
    tt__sbuf_add(&g->title, file, stem);
    tt__sbuf_add(&g->artist, "gtzan-", 6);
    tt__sbuf_add(&g->artist, file, stem);
    t->track_id = tt__sbuf_str(&g->id);
    t->title = tt__sbuf_str(&g->title);
    t->artist = tt__sbuf_str(&g->artist);
}

static int row_numbers(struct gtzan *g, const tt_csv *c, tt_track_rec *t, tt_err *err)
{
    const char *s;
    double v;
    int64_t samples;

    for (int k = 0; k < g->dim; k++) {
        s = tt_csv_field(c, g->emb_col[k]);
        if (!tt__parse_double(s, &v) || !isfinite((float)v))
            return tt__import_bad(c, err, "%.60s '%.40s' is not a finite number", g->emb_name[k],
                                  s);
        g->emb[k] = (float)v;
    }
    s = tt_csv_field(c, g->col[GC_TEMPO].idx);
    if (!tt__parse_double(s, &v) || tt__feature_check(TT_F_TEMPO, v))
        return tt__import_bad(c, err, "tempo '%.40s' is not a number >= 0", s);
    t->features[TT_F_TEMPO] = (float)v;
    s = tt_csv_field(c, g->col[GC_LENGTH].idx);
    if (*s && !tt__parse_int(s, 0, INT32_MAX, &samples))
        return tt__import_bad(c, err, "length '%.40s' is not a whole number of samples", s);
    if (*s)
        t->duration_ms = (int32_t)llround((double)samples * 1000.0 / GTZAN_SAMPLE_RATE);
    t->embedding = g->emb;
    t->embedding_dim = g->dim;
    return 0;
}

static int gtzan_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct gtzan *g = ctx;
    tt_track_rec t = tt_track_rec_empty();
    const char *file, *label;
    int rc;

    if (!(file = tt__import_id(c, g->col[GC_FILE].idx, "filename", err)) ||
        !(label = tt__import_text(c, g->col[GC_LABEL].idx, "label", err)))
        return TT_EPARSE;
    if (!*label)
        return tt__import_bad(c, err, "label is empty");
    rc = row_numbers(g, c, &t, err);
    if (rc < 0)
        return rc;
    names_for(g, file, &t);
    g->genre.len = 0;
    tt__genre_add(&g->genre, label, strlen(label));
    t.genres = tt__sbuf_str(&g->genre);
    return tt__import_put_track(im, &t, err);
}

static int read_table(struct tt__import *im, struct gtzan *g, const char *path, tt_err *err)
{
    tt_csv *c = NULL;
    int nfields, rc;

    rc = tt_csv_open(path, TT_CSV_TRIM, &c, err);
    if (rc < 0)
        return rc;
    rc = tt__import_header(c, g->col, GC_N, &nfields, err);
    if (rc == 0) {
        embedding_columns(g, c);
        if (g->dim == 0)
            rc = tt_err_set(err, TT_EPARSE, "%s:1: the header names no feature columns", path);
    }
    if (rc == 0)
        rc = tt__import_rows(im, c, nfields, gtzan_row, g, err);
    tt_csv_close(c);
    return rc;
}

int tt_import_gtzan(tt_store *s, const char *path, const tt_import_opts *opts,
                    tt_import_stats *stats, tt_err *err)
{
    struct tt__import im;
    struct gtzan g = {.col = {{"filename", true, -1},
                              {"label", true, -1},
                              {"tempo", true, -1},
                              {"length", false, -1}}};
    int rc;

    if (!s || !path)
        return tt_err_set(err, TT_EINVAL, "store and path are required");
    rc = tt__import_begin(&im, s, opts, stats, err);
    if (rc < 0)
        return rc;
    rc = read_table(&im, &g, path, err);
    rc = tt__import_end(&im, rc, err);
    for (int k = 0; k < g.dim; k++)
        free(g.emb_name[k]);
    free(g.emb_name);
    free(g.emb_col);
    free(g.emb);
    tt__sbuf_release(&g.id);
    tt__sbuf_release(&g.title);
    tt__sbuf_release(&g.artist);
    tt__sbuf_release(&g.genre);
    return rc;
}
