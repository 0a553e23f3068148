/*
 * Synthetic listening data (docs/synthetic-data.md). The model in brief: genres have audio-
 * feature centres; artists have one or two genres and a popularity; a track takes its
 * artist's genres, features near its genre's centre, and a Zipf-like weight by its
 * popularity rank within its genre. Users mix one to four genres; each listening event
 * picks a genre from the taste and a track by popularity, or revisits earlier listening.
 *
 * Determinism: everything per user comes from a random stream keyed by (seed, user), so a
 * user's profile can be re-derived when its events are written instead of being stored,
 * and no draw depends on the clock, on the batch size or on what the store returns.
 */
#include "tt/generate.h"
#include "tt/core.h"
#include "tt/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_GENRES 20
#define N_AUDIO 9 /* the continuous features, TT_F_DANCEABILITY .. TT_F_LOUDNESS */
#define MAX_TASTE 4
#define N_SCENES 8 /* circles of artists inside a genre that share listeners */
#define NO_GENRE 0xff
#define DAY 86400
#define PROGRESS_EVERY 8192

/* Zipf-Mandelbrot rank weights (rank + Q)^-S inside each genre. */
#define ZIPF_S 1.3
#define ZIPF_Q 1.0

struct genre_def {
    const char *name;
    double share;          /* relative size in the catalog and in tastes */
    float centre[N_AUDIO]; /* dance energy valence tempo acoustic instr speech live loud */
    double major;          /* P(mode = 1) */
    int key;               /* favoured key, 0 = C .. 11 = B */
    int duration_s;        /* typical track length */
};

static const struct genre_def genres[N_GENRES] = {
    {"rock", 10, {.50f, .76f, .48f, 126, .10f, .08f, .05f, .20f, -6.5f}, .70, 4, 235},
    {"pop", 14, {.68f, .66f, .58f, 118, .18f, .02f, .07f, .16f, -6.0f}, .65, 0, 205},
    {"hip hop", 12, {.79f, .64f, .50f, 96, .13f, .01f, .29f, .19f, -6.6f}, .52, 1, 215},
    {"electronic", 8, {.68f, .82f, .40f, 128, .05f, .62f, .06f, .18f, -5.6f}, .48, 9, 260},
    {"jazz", 4, {.54f, .36f, .55f, 112, .74f, .48f, .05f, .24f, -12.5f}, .55, 5, 330},
    {"classical", 4, {.27f, .16f, .26f, 98, .93f, .88f, .04f, .13f, -21.0f}, .62, 2, 420},
    {"metal", 5, {.41f, .94f, .30f, 140, .02f, .16f, .09f, .22f, -4.4f}, .45, 4, 290},
    {"country", 5, {.60f, .62f, .63f, 116, .33f, .01f, .04f, .17f, -6.8f}, .86, 7, 200},
    {"r&b", 6, {.67f, .55f, .49f, 102, .26f, .02f, .10f, .15f, -7.2f}, .50, 10, 220},
    {"folk", 4, {.50f, .36f, .47f, 108, .80f, .10f, .04f, .13f, -10.8f}, .72, 7, 225},
    {"indie", 6, {.56f, .60f, .44f, 120, .30f, .14f, .05f, .15f, -7.6f}, .60, 2, 230},
    {"latin", 5, {.76f, .74f, .72f, 100, .20f, .01f, .09f, .20f, -5.3f}, .58, 11, 210},
    {"reggae", 2, {.79f, .58f, .76f, 86, .17f, .05f, .12f, .19f, -7.8f}, .55, 9, 225},
    {"blues", 2, {.52f, .50f, .55f, 104, .56f, .10f, .05f, .27f, -9.6f}, .60, 4, 260},
    {"punk", 2, {.44f, .91f, .47f, 164, .03f, .03f, .07f, .30f, -4.7f}, .70, 2, 155},
    {"soul", 3, {.60f, .52f, .63f, 100, .40f, .03f, .06f, .18f, -8.6f}, .60, 3, 210},
    {"ambient", 2, {.28f, .20f, .18f, 84, .72f, .90f, .04f, .10f, -20.5f}, .48, 0, 380},
    {"k-pop", 4, {.71f, .80f, .61f, 122, .11f, .01f, .08f, .17f, -4.1f}, .60, 1, 200},
    {"funk", 2, {.81f, .70f, .79f, 108, .14f, .12f, .08f, .21f, -7.0f}, .55, 9, 240},
    {"house", 4, {.79f, .77f, .51f, 124, .04f, .58f, .06f, .12f, -6.2f}, .45, 8, 300},
};

/* Artist names in a genre's own style: prefix + name + suffix ("DJ Kai", "Iris Quartet"). */
static const char *const act_style[N_GENRES][2] = {
    {"The ", ""},              /* rock */
    {"", ""},                  /* pop */
    {"Lil ", ""},              /* hip hop */
    {"DJ ", ""},               /* electronic */
    {"", " Quartet"},          /* jazz */
    {"", " Ensemble"},         /* classical */
    {"", ""},                  /* metal */
    {"", " Band"},             /* country */
    {"", ""},                  /* r&b */
    {"", " & the Travellers"}, /* folk */
    {"The ", ""},              /* indie */
    {"", ""},                  /* latin */
    {"", ""},                  /* reggae */
    {"", " Blues Band"},       /* blues */
    {"The ", ""},              /* punk */
    {"", ""},                  /* soul */
    {"", ""},                  /* ambient */
    {"", ""},                  /* k-pop */
    {"", ""},                  /* funk */
    {"DJ ", ""},               /* house */
};

/* Spread of an artist's sound around its genre, and of a track around its artist. */
static const float artist_sd[N_AUDIO] = {.08f, .08f, .10f, 8, .09f, .10f, .04f, .05f, 1.6f};
static const float track_sd[N_AUDIO] = {.10f, .10f, .14f, 12, .12f, .14f, .04f, .09f, 2.2f};

/* Listening by hour of day (UTC): quiet at night, a commute bump, the evening peak. */
static const double hour_weight[24] = {2.0, 1.2, 0.7, 0.5, 0.4, 0.5, 1.0, 2.2, 3.4, 3.6, 3.4, 3.5,
                                       3.8, 3.8, 3.6, 3.7, 4.2, 5.0, 5.8, 6.4, 6.8, 6.5, 5.2, 3.4};

static const char *const adjectives[] = {
    "Golden",   "Silent", "Electric", "Broken",  "Velvet", "Midnight", "Crimson", "Wild",
    "Hollow",   "Neon",   "Lonely",   "Burning", "Frozen", "Distant",  "Sweet",   "Secret",
    "Faded",    "Bright", "Empty",    "Paper",   "Silver", "Blue",     "Endless", "Little",
    "Sacred",   "Quiet",  "Heavy",    "Lucky",   "Purple", "Fragile",  "Gentle",  "Cosmic",
    "Northern", "Sunny",  "Bitter",   "Rusty",   "Hidden", "Restless", "Painted", "Wandering"};
/* Nouns whose plural is a plain -s. */
static const char *const nouns[] = {
    "Heart",   "River",   "Dream",  "Fire",    "Shadow", "Light",   "Road",      "Ghost",
    "Star",    "Summer",  "Window", "Ocean",   "Mirror", "Garden",  "Tower",     "Signal",
    "Wave",    "Storm",   "Falcon", "Machine", "Flower", "Diamond", "Tiger",     "Letter",
    "Horizon", "Island",  "Engine", "Rose",    "Moon",   "Angel",   "Pocket",    "Planet",
    "Highway", "Feather", "Canyon", "Lantern", "Harbor", "Bird",    "Satellite", "Comet"};
static const char *const first_names[] = {
    "Maya", "Leo",    "Ava",   "Noah",  "Zara",  "Elias", "Nina",  "Omar",  "Lena",  "Kai",
    "Ruby", "Felix",  "Iris",  "Mateo", "Sofia", "Jonas", "Amara", "Theo",  "Chloe", "Diego",
    "Hana", "Marcus", "Elena", "Yuki",  "Priya", "Sam",   "Isla",  "Oscar", "Luna",  "Ravi"};
static const char *const last_names[] = {
    "Ortiz", "Bennett",  "Kim",    "Novak",  "Silva", "Hayes",  "Moreau",    "Tanaka",
    "Reyes", "Fischer",  "Okafor", "Larsen", "Costa", "Walsh",  "Petrov",    "Nguyen",
    "Rossi", "Adler",    "Mendez", "Brooks", "Park",  "Haddad", "Lindqvist", "Quinn",
    "Sato",  "Kowalski", "Duarte", "Shah",   "Wilde", "Baker"};

#define PICK(r, list) ((list)[tt_rng_below((r), sizeof(list) / sizeof((list)[0]))])

/* Plan tiers 0..3 as tt_tier_name() names them, by cumulative share. */
static const double tier_cum[] = {0.72, 0.86, 0.97, 1.0};

/* Random streams: catalog passes are sequential; users and albums are keyed by index. */
enum stream_kind { S_ARTISTS = 1, S_ARTIST_NAME, S_TRACKS, S_PROFILE, S_EVENTS, S_ALBUM };

struct artist {
    uint8_t g1, g2;     /* main and second genre (NO_GENRE: none) */
    uint8_t scene;      /* 0..N_SCENES-1, the same in both genres */
    int16_t start_year; /* first release */
    float pop;          /* log popularity */
    int32_t n_tracks;   /* tracks assigned so far: the album of the next one */
    float off[N_AUDIO]; /* the artist's own sound, added to the genre centre */
};

struct track {
    int32_t artist;
    int32_t duration_ms;
    uint8_t g1, g2; /* primary genre (used for popularity and taste) and the other, if any */
    uint8_t scene;  /* the artist's */
};

struct profile {
    double activity; /* relative number of events, log-normal */
    int tier;
    int64_t created_at;
    int n_taste;
    uint8_t taste[MAX_TASTE]; /* by decreasing weight */
    double w[MAX_TASTE];      /* sums to 1 */
    uint8_t scene[MAX_TASTE]; /* the scene the user follows in each taste genre */
    double p_scene;           /* a fresh pick stays inside that scene */
    double p_repeat;          /* replay something already heard */
    double p_artist;          /* another track by an artist already heard */
    double p_niche;           /* ignore popularity inside the genre */
    double p_explore;         /* a genre outside the taste */
};

/*
 * Tracks grouped into pools (a genre, or a genre's scene), each pool by decreasing
 * popularity: pool k is track[off[k] .. off[k + 1]) with cumulative weights cum[].
 */
struct pools {
    int n;
    int32_t *off;
    int32_t *track;
    double *cum;
};

/* One user's events before they are written; grown to the busiest user. */
struct events {
    int32_t *track;
    uint8_t *action;
    int32_t *ms;
    int64_t *ts;
    int64_t *start;
    size_t cap;
};

struct writer {
    tt_store *s;
    const tt_generate_params *p;
    int64_t in_batch;
    bool open;
};

struct gen {
    const tt_generate_params *p;
    struct writer w;
    int32_t n_artists, n_tracks, n_users;
    struct artist *artists;
    struct track *tracks;
    double *artist_cum; /* cumulative artist weights: who gets the tracks beyond the first */
    int32_t *art_off;   /* tracks of artist a: art_tracks[art_off[a] .. art_off[a + 1]) */
    int32_t *art_tracks;
    struct pools by_genre;      /* pool g: genre g */
    struct pools by_scene;      /* pool g * N_SCENES + s: scene s of genre g */
    float *rank_score;          /* while ranking: the score that orders a genre */
    double genre_cum[N_GENRES]; /* cumulative share over genres that have tracks */
    int32_t *user_events;       /* events per user */
    double hour_cum[24];        /* cumulative hour_weight */
    struct events ev;
};

tt_generate_params tt_generate_params_default(void)
{
    tt_generate_params p;

    memset(&p, 0, sizeof(p));
    p.seed = 42;
    p.batch_rows = 500000;
    return p;
}

int tt_generate_genre_count(void)
{
    return N_GENRES;
}

const char *tt_generate_genre_name(int g)
{
    return g >= 0 && g < N_GENRES ? genres[g].name : NULL;
}

static int check_range(const char *field, int64_t v, int64_t lo, int64_t hi, tt_err *err)
{
    if (v < lo || v > hi)
        return tt_err_set_field(err, TT_EINVAL, field,
                                "%s must be between %lld and %lld (got %lld)", field, (long long)lo,
                                (long long)hi, (long long)v);
    return 0;
}

int tt_generate_check(const tt_generate_params *p, tt_err *err)
{
    int64_t most;

    if (!p)
        return tt_err_set(err, TT_EINVAL, "parameters are required");
    if (check_range("users", p->users, 1, TT_GENERATE_MAX_USERS, err) < 0 ||
        check_range("tracks", p->tracks, 1, TT_GENERATE_MAX_TRACKS, err) < 0)
        return TT_EINVAL;
    most = p->users * TT_GENERATE_MAX_PER_USER;
    if (most > TT_GENERATE_MAX_INTERACTIONS)
        most = TT_GENERATE_MAX_INTERACTIONS;
    if (p->interactions < p->users)
        return tt_err_set_field(err, TT_EINVAL, "interactions",
                                "interactions must be at least users (%lld), so that every user "
                                "has listened to something (got %lld)",
                                (long long)p->users, (long long)p->interactions);
    if (check_range("interactions", p->interactions, p->users, most, err) < 0)
        return TT_EINVAL;
    if (p->batch_rows < 1)
        return tt_err_set_field(err, TT_EINVAL, "batch_rows", "batch_rows must be positive");
    return 0;
}

/* ---- random helpers ---- */

static void stream(const struct gen *g, tt_rng *r, enum stream_kind kind, uint64_t index)
{
    tt_rng_seed(r, g->p->seed, ((uint64_t)kind << 56) ^ index);
}

static double exp1(tt_rng *r)
{
    return -log(1.0 - tt_rng_uniform(r));
}

static float clampf(double v, double lo, double hi)
{
    return (float)(v < lo ? lo : v > hi ? hi : v);
}

/* Index of the first entry of the non-decreasing @cum[0..n) above @x (the last if none). */
static int64_t search_cum(const double *cum, int64_t n, double x)
{
    int64_t lo = 0, hi = n - 1;

    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int pick_genre_by_share(const struct gen *g, tt_rng *r)
{
    return (int)search_cum(g->genre_cum, N_GENRES, tt_rng_uniform(r) * g->genre_cum[N_GENRES - 1]);
}

/* "t0000042": a prefix and seven zero-padded digits. */
static void format_id(char *buf, char prefix, int64_t i)
{
    buf[0] = prefix;
    for (int k = 7; k >= 1; k--) {
        buf[k] = (char)('0' + i % 10);
        i /= 10;
    }
    buf[8] = '\0';
}

static void format_genres(char *buf, size_t n, uint8_t a, uint8_t b)
{
    if (b == NO_GENRE)
        snprintf(buf, n, "%s", genres[a].name);
    else
        snprintf(buf, n, "%s|%s", genres[a].name, genres[b].name);
}

/* ---- batched writes ---- */

static void progress(const struct gen *g, const char *phase, int64_t done, int64_t total)
{
    if (g->p->progress)
        g->p->progress(g->p->progress_ctx, phase, done, total);
}

static int writer_ready(struct writer *w, tt_err *err)
{
    int rc;

    if (w->open)
        return 0;
    rc = tt_store_begin(w->s, err);
    if (rc == 0)
        w->open = true;
    return rc;
}

/* A failed commit leaves the transaction open, for writer_abort to roll back. */
static int writer_commit(struct writer *w, tt_err *err)
{
    int rc = tt_store_commit(w->s, err);

    if (rc == 0) {
        w->open = false;
        w->in_batch = 0;
    }
    return rc;
}

/* Counts a written row; a full batch is committed so the journal stays bounded. */
static int writer_done(struct writer *w, tt_err *err)
{
    if (++w->in_batch < w->p->batch_rows)
        return 0;
    return writer_commit(w, err);
}

static int writer_finish(struct writer *w, tt_err *err)
{
    return w->open ? writer_commit(w, err) : 0;
}

static void writer_abort(struct writer *w)
{
    if (w->open)
        tt_store_rollback(w->s);
    w->open = false;
}

/* ---- artists ---- */

/* Names come from a stream keyed by the artist, so a track can repeat its artist's name. */
static void artist_name(const struct gen *g, int32_t i, char *buf, size_t n)
{
    const char *const *style = act_style[g->artists[i].g1];
    tt_rng r;
    double u;

    stream(g, &r, S_ARTIST_NAME, (uint64_t)i);
    u = tt_rng_uniform(&r);
    if (u < 0.30)
        snprintf(buf, n, "%s %s", PICK(&r, first_names), PICK(&r, last_names));
    else if (u < 0.52)
        snprintf(buf, n, "The %s %ss", PICK(&r, adjectives), PICK(&r, nouns));
    else if (u < 0.70)
        snprintf(buf, n, "%s %s", PICK(&r, adjectives), PICK(&r, nouns));
    else if (u < 0.82)
        snprintf(buf, n, "%s & the %ss", PICK(&r, first_names), PICK(&r, nouns));
    else if (strcmp(style[0], "The ") == 0)
        snprintf(buf, n, "The %ss%s", PICK(&r, nouns), style[1]);
    else
        snprintf(buf, n, "%s%s%s", style[0], PICK(&r, first_names), style[1]);
}

/* A second genre is drawn by share too: catalogs and tastes overlap the same way. */
static void make_artist(const struct gen *g, tt_rng *r, struct artist *a)
{
    a->g1 = (uint8_t)pick_genre_by_share(g, r);
    a->g2 = NO_GENRE;
    if (tt_rng_uniform(r) < 0.35) {
        int g2 = pick_genre_by_share(g, r);
        if (g2 != a->g1)
            a->g2 = (uint8_t)g2;
    }
    a->scene = (uint8_t)tt_rng_below(r, N_SCENES);
    a->start_year = (int16_t)(2025 - (int)fmin(exp1(r) * 10.0, 70.0));
    a->pop = (float)tt_rng_normal(r);
    a->n_tracks = 0;
    for (int f = 0; f < N_AUDIO; f++)
        a->off[f] = (float)(tt_rng_normal(r) * artist_sd[f]);
}

static int put_artist(struct gen *g, int32_t i, tt_err *err)
{
    char id[16], name[128], gbuf[64];
    tt_artist_rec rec = {id, name, gbuf};
    int rc;

    format_id(id, 'a', i);
    artist_name(g, i, name, sizeof(name));
    format_genres(gbuf, sizeof(gbuf), g->artists[i].g1, g->artists[i].g2);
    if ((rc = writer_ready(&g->w, err)) < 0 || (rc = tt_store_put_artist(g->w.s, &rec, err)) < 0)
        return rc;
    return writer_done(&g->w, err);
}

static int write_artists(struct gen *g, tt_err *err)
{
    double sum = 0;
    tt_rng r;
    int rc;

    stream(g, &r, S_ARTISTS, 0);
    progress(g, "artists", 0, g->n_artists);
    for (int32_t i = 0; i < g->n_artists; i++) {
        make_artist(g, &r, &g->artists[i]);
        /* Popular artists release more: they get more of the tracks beyond one each. */
        sum += exp(0.6 * g->artists[i].pop);
        g->artist_cum[i] = sum;
        if ((rc = put_artist(g, i, err)) < 0)
            return rc;
        if ((i + 1) % PROGRESS_EVERY == 0)
            progress(g, "artists", i + 1, g->n_artists);
    }
    progress(g, "artists", g->n_artists, g->n_artists);
    return 0;
}

/* ---- tracks ---- */

static void track_title(char *buf, size_t n, tt_rng *r)
{
    double u = tt_rng_uniform(r);

    if (u < 0.35)
        snprintf(buf, n, "%s %s", PICK(r, adjectives), PICK(r, nouns));
    else if (u < 0.55)
        snprintf(buf, n, "%s", PICK(r, nouns));
    else if (u < 0.72)
        snprintf(buf, n, "%s of %ss", PICK(r, nouns), PICK(r, nouns));
    else if (u < 0.87)
        snprintf(buf, n, "%s %ss", PICK(r, adjectives), PICK(r, nouns));
    else
        snprintf(buf, n, "%s %s", PICK(r, nouns), PICK(r, nouns));
}

/*
 * Albums hold ten tracks, in the order an artist's tracks are made. Title and year come
 * from a stream keyed by (artist, album), so all tracks of an album agree without storage.
 * Returns the album's release year.
 */
static int album_of(const struct gen *g, int32_t artist, int32_t album, char *buf, size_t n)
{
    tt_rng r;
    int year;

    stream(g, &r, S_ALBUM, ((uint64_t)artist << 24) ^ (uint64_t)album);
    if (tt_rng_uniform(&r) < 0.5)
        snprintf(buf, n, "%s %ss", PICK(&r, adjectives), PICK(&r, nouns));
    else
        snprintf(buf, n, "%s", PICK(&r, nouns));
    year = g->artists[artist].start_year + 2 * album + (int)tt_rng_below(&r, 2);
    return year > 2025 ? 2025 : year;
}

static void track_features(const struct artist *a, int genre, tt_rng *r, float *f)
{
    static const double lo[N_AUDIO] = {0, 0, 0, 50, 0, 0, 0, 0, -60};
    static const double hi[N_AUDIO] = {1, 1, 1, 220, 1, 1, 1, 1, 0};
    const struct genre_def *gd = &genres[genre];

    for (int i = 0; i < N_AUDIO; i++)
        f[i] = clampf(gd->centre[i] + a->off[i] + tt_rng_normal(r) * track_sd[i], lo[i], hi[i]);
    f[TT_F_KEY] = (float)(tt_rng_uniform(r) < 0.3 ? gd->key : (int)tt_rng_below(r, 12));
    f[TT_F_MODE] = tt_rng_uniform(r) < gd->major ? 1.0f : 0.0f;
}

/* Assigns track @i its artist, genres, length, features and rank score. */
static void make_track(struct gen *g, tt_rng *r, int32_t i, tt_track_rec *rec)
{
    struct track *t = &g->tracks[i];
    const struct artist *a;
    double secs;

    /* Every artist gets one track first, so none is empty. */
    if (i < g->n_artists)
        t->artist = i;
    else
        t->artist = (int32_t)search_cum(g->artist_cum, g->n_artists,
                                        tt_rng_uniform(r) * g->artist_cum[g->n_artists - 1]);
    a = &g->artists[t->artist];
    t->g1 = a->g1;
    t->g2 = a->g2;
    t->scene = a->scene;
    if (a->g2 != NO_GENRE && tt_rng_uniform(r) < 0.3) {
        t->g1 = a->g2;
        t->g2 = a->g1;
    }
    secs = genres[t->g1].duration_s * exp(tt_rng_normal(r) * 0.25);
    t->duration_ms = (int32_t)(clampf(secs, 30, 1200) * 1000) + (int32_t)tt_rng_below(r, 1000);
    rec->duration_ms = t->duration_ms;
    track_features(a, t->g1, r, rec->features);
    /* Popular artists' tracks rank high, with enough noise for hits by unknown artists. */
    g->rank_score[i] = a->pop + (float)(tt_rng_normal(r) * 0.8);
}

static int put_track(struct gen *g, tt_rng *r, int32_t i, tt_err *err)
{
    char id[16], aid[16], title[128], artist[128], album[128], gbuf[64];
    tt_track_rec rec = tt_track_rec_empty();
    const struct track *t = &g->tracks[i];
    int rc;

    make_track(g, r, i, &rec);
    format_id(id, 't', i);
    format_id(aid, 'a', t->artist);
    format_genres(gbuf, sizeof(gbuf), t->g1, t->g2);
    track_title(title, sizeof(title), r);
    artist_name(g, t->artist, artist, sizeof(artist));
    rec.release_year =
        album_of(g, t->artist, g->artists[t->artist].n_tracks++ / 10, album, sizeof(album));
    rec.track_id = id;
    rec.title = title;
    rec.artist_id = aid;
    rec.artist = artist;
    rec.album = album;
    rec.genres = gbuf;
    if ((rc = writer_ready(&g->w, err)) < 0 || (rc = tt_store_put_track(g->w.s, &rec, err)) < 0)
        return rc;
    return writer_done(&g->w, err);
}

static int write_tracks(struct gen *g, tt_err *err)
{
    tt_rng r;
    int rc;

    stream(g, &r, S_TRACKS, 0);
    progress(g, "tracks", 0, g->n_tracks);
    for (int32_t i = 0; i < g->n_tracks; i++) {
        if ((rc = put_track(g, &r, i, err)) < 0)
            return rc;
        if ((i + 1) % PROGRESS_EVERY == 0)
            progress(g, "tracks", i + 1, g->n_tracks);
    }
    progress(g, "tracks", g->n_tracks, g->n_tracks);
    return 0;
}

/* ---- popularity and lookup tables ---- */

struct ranked {
    int32_t genre;
    float score;
    int32_t track;
};

/*
 * By genre, then highest score first; the track index breaks ties so the order never
 * depends on qsort.
 */
static int cmp_ranked(const void *pa, const void *pb)
{
    const struct ranked *a = pa, *b = pb;

    if (a->genre != b->genre)
        return a->genre - b->genre;
    if (a->score != b->score)
        return a->score > b->score ? -1 : 1;
    return (a->track > b->track) - (a->track < b->track);
}

static void pools_init(struct pools *pl, int n, int32_t n_tracks)
{
    pl->n = n;
    pl->off = tt_calloc((size_t)n + 1, sizeof(*pl->off));
    pl->track = tt_malloc((size_t)n_tracks * sizeof(*pl->track));
    pl->cum = tt_malloc((size_t)n_tracks * sizeof(*pl->cum));
}

static void pools_release(struct pools *pl)
{
    free(pl->off);
    free(pl->track);
    free(pl->cum);
}

static int pool_of(const struct track *t, bool by_scene)
{
    return by_scene ? t->g1 * N_SCENES + t->scene : t->g1;
}

/* Distributes @order (most popular first) into pools, keeping the order inside each. */
static void pools_fill(struct pools *pl, const struct gen *g, const int32_t *order,
                       const double *weight, bool by_scene)
{
    int32_t *fill = tt_malloc((size_t)pl->n * sizeof(*fill));

    for (int32_t i = 0; i < g->n_tracks; i++)
        pl->off[pool_of(&g->tracks[i], by_scene) + 1]++;
    for (int k = 0; k < pl->n; k++)
        pl->off[k + 1] += pl->off[k];
    memcpy(fill, pl->off, (size_t)pl->n * sizeof(*fill));
    for (int32_t j = 0; j < g->n_tracks; j++)
        pl->track[fill[pool_of(&g->tracks[order[j]], by_scene)]++] = order[j];
    for (int k = 0; k < pl->n; k++) {
        double sum = 0;
        for (int32_t j = pl->off[k]; j < pl->off[k + 1]; j++)
            pl->cum[j] = (sum += weight[pl->track[j]]);
    }
    free(fill);
}

/*
 * Orders each genre's tracks by score and gives rank k the weight (k + Q)^-S: the Zipf-
 * Mandelbrot law of play counts, whose head is a few hits and whose tail is long. A scene
 * keeps its tracks' genre-wide weights, so its hits are the genre's hits.
 */
static void build_popularity(struct gen *g)
{
    struct ranked *rk = tt_malloc((size_t)g->n_tracks * sizeof(*rk));
    int32_t *order = tt_malloc((size_t)g->n_tracks * sizeof(*order));
    double *weight = tt_malloc((size_t)g->n_tracks * sizeof(*weight));
    int32_t rank = 0;

    for (int32_t i = 0; i < g->n_tracks; i++)
        rk[i] = (struct ranked){g->tracks[i].g1, g->rank_score[i], i};
    qsort(rk, (size_t)g->n_tracks, sizeof(*rk), cmp_ranked);
    for (int32_t j = 0; j < g->n_tracks; j++) {
        rank = j > 0 && rk[j].genre == rk[j - 1].genre ? rank + 1 : 0;
        order[j] = rk[j].track;
        weight[rk[j].track] = pow(rank + ZIPF_Q, -ZIPF_S);
    }
    pools_fill(&g->by_genre, g, order, weight, false);
    pools_fill(&g->by_scene, g, order, weight, true);
    free(rk);
    free(order);
    free(weight);
    free(g->rank_score);
    g->rank_score = NULL;
}

/* Users only draw genres that have tracks (a tiny catalog may leave some empty). */
static void restrict_genres(struct gen *g)
{
    double sum = 0;

    for (int k = 0; k < N_GENRES; k++) {
        if (g->by_genre.off[k + 1] > g->by_genre.off[k])
            sum += genres[k].share;
        g->genre_cum[k] = sum;
    }
}

static void build_artist_index(struct gen *g)
{
    int32_t *fill = tt_calloc((size_t)g->n_artists, sizeof(*fill));

    for (int32_t i = 0; i < g->n_tracks; i++)
        g->art_off[g->tracks[i].artist + 1]++;
    for (int32_t a = 0; a < g->n_artists; a++)
        g->art_off[a + 1] += g->art_off[a];
    for (int32_t i = 0; i < g->n_tracks; i++) {
        int32_t a = g->tracks[i].artist;
        g->art_tracks[g->art_off[a] + fill[a]++] = i;
    }
    free(fill);
}

/* ---- users ---- */

static int taste_size(const struct gen *g, tt_rng *r)
{
    static const double cum[MAX_TASTE] = {0.20, 0.55, 0.85, 1.0};
    int nonempty = 0, k = 0;
    double u = tt_rng_uniform(r);

    for (int i = 0; i < N_GENRES; i++)
        nonempty += g->by_genre.off[i + 1] > g->by_genre.off[i];
    while (k < MAX_TASTE - 1 && u >= cum[k])
        k++;
    return k + 1 < nonempty ? k + 1 : nonempty;
}

/* Insertion sort of at most MAX_TASTE genres by decreasing weight. */
static void sort_taste(struct profile *p)
{
    for (int k = 1; k < p->n_taste; k++)
        for (int j = k; j > 0 && p->w[j] > p->w[j - 1]; j--) {
            double tw = p->w[j];
            uint8_t tg = p->taste[j];

            p->w[j] = p->w[j - 1];
            p->taste[j] = p->taste[j - 1];
            p->w[j - 1] = tw;
            p->taste[j - 1] = tg;
        }
}

/*
 * Taste: distinct genres drawn by share, with weights from a flat Dirichlet (normalised
 * exponentials), sorted by weight so taste[0] is the user's main genre.
 */
static void make_taste(const struct gen *g, tt_rng *r, struct profile *p)
{
    double sum = 0;

    p->n_taste = taste_size(g, r);
    for (int k = 0; k < p->n_taste; k++) {
        int x, dup;
        do {
            x = pick_genre_by_share(g, r);
            dup = 0;
            for (int j = 0; j < k; j++)
                dup |= p->taste[j] == x;
        } while (dup);
        p->taste[k] = (uint8_t)x;
        p->w[k] = exp1(r);
        sum += p->w[k];
    }
    for (int k = 0; k < p->n_taste; k++)
        p->w[k] /= sum;
    sort_taste(p);
}

/* Everything about user @u, re-derivable at any time from (seed, u). */
static void make_profile(const struct gen *g, int32_t u, struct profile *p)
{
    const int64_t span = TT_GENERATE_WINDOW_END - TT_GENERATE_WINDOW_START;
    tt_rng r;
    double t;

    stream(g, &r, S_PROFILE, (uint64_t)u);
    p->activity = exp(1.1 * tt_rng_normal(&r));
    t = tt_rng_uniform(&r);
    for (p->tier = 0; p->tier < 3 && t >= tier_cum[p->tier]; p->tier++)
        ;
    /* Most accounts predate the window; the rest join during it, at least 30 days early. */
    if (tt_rng_uniform(&r) < 0.8)
        p->created_at = TT_GENERATE_WINDOW_START - 1 - (int64_t)tt_rng_below(&r, 3 * 365 * DAY);
    else
        p->created_at = TT_GENERATE_WINDOW_START + (int64_t)tt_rng_below(&r, span - 30 * DAY);
    make_taste(g, &r, p);
    p->p_repeat = 0.10 + 0.35 * tt_rng_uniform(&r);
    p->p_artist = 0.05 + 0.15 * tt_rng_uniform(&r);
    t = tt_rng_uniform(&r);
    p->p_niche = 0.05 + 0.25 * t * t;
    p->p_explore = 0.02 + 0.06 * tt_rng_uniform(&r);
    p->p_scene = 0.4 + 0.4 * tt_rng_uniform(&r);
    for (int k = 0; k < p->n_taste; k++)
        p->scene[k] = (uint8_t)tt_rng_below(&r, N_SCENES);
}

/* Declared favourites: the genres carrying at least 15% of the taste, at most three. */
static void favorite_genres(const struct profile *p, char *buf, size_t n)
{
    size_t len = 0;

    buf[0] = '\0';
    for (int k = 0; k < p->n_taste && k < 3; k++) {
        if (k > 0 && p->w[k] < 0.15)
            break;
        len += (size_t)snprintf(buf + len, n - len, "%s%s", k ? "|" : "", genres[p->taste[k]].name);
    }
}

static int put_user(struct gen *g, int32_t u, const struct profile *p, tt_err *err)
{
    char id[16], fav[96];
    tt_user_rec rec = {id, tt_tier_name(p->tier), fav, p->created_at};
    int rc;

    format_id(id, 'u', u);
    favorite_genres(p, fav, sizeof(fav));
    if ((rc = writer_ready(&g->w, err)) < 0 || (rc = tt_store_put_user(g->w.s, &rec, err)) < 0)
        return rc;
    return writer_done(&g->w, err);
}

/* Writes the users and returns each one's activity weight in @activity. */
static int write_users(struct gen *g, double *activity, tt_err *err)
{
    struct profile p;
    int rc;

    progress(g, "users", 0, g->n_users);
    for (int32_t u = 0; u < g->n_users; u++) {
        make_profile(g, u, &p);
        activity[u] = p.activity;
        if ((rc = put_user(g, u, &p, err)) < 0)
            return rc;
        if ((u + 1) % PROGRESS_EVERY == 0)
            progress(g, "users", u + 1, g->n_users);
    }
    progress(g, "users", g->n_users, g->n_users);
    return 0;
}

/* ---- how many events each user gets ---- */

/* Events all users get at scale @lambda; each user's count goes to @out when non-NULL. */
static int64_t events_at(const double *w, int32_t n, int64_t base, double lambda, int64_t *out)
{
    int64_t total = 0;

    for (int32_t u = 0; u < n; u++) {
        double v = base + floor(lambda * w[u]);
        int64_t c = v > TT_GENERATE_MAX_PER_USER ? TT_GENERATE_MAX_PER_USER : (int64_t)v;
        if (out)
            out[u] = c;
        total += c;
    }
    return total;
}

/*
 * Splits exactly K events over the users: everyone gets a floor of min(5, K/N), the rest
 * goes in proportion to the heavy-tailed activity weights, capped per user. The scale is
 * found by bisection (the count is monotone in it); the few events rounding leaves over go
 * one each to users in index order.
 */
static void allocate_events(struct gen *g, const double *w)
{
    const int64_t K = g->p->interactions, N = g->n_users;
    int64_t base = K / N < 5 ? K / N : 5, left, *c = tt_malloc((size_t)N * sizeof(*c));
    double lo = 0, hi = 1;

    while (events_at(w, g->n_users, base, hi, NULL) < K)
        hi *= 2;
    for (int it = 0; it < 80; it++) {
        double mid = 0.5 * (lo + hi);
        if (events_at(w, g->n_users, base, mid, NULL) <= K)
            lo = mid;
        else
            hi = mid;
    }
    left = K - events_at(w, g->n_users, base, lo, c);
    for (int32_t u = 0; left > 0; u = (u + 1) % g->n_users)
        if (c[u] < TT_GENERATE_MAX_PER_USER) {
            c[u]++;
            left--;
        }
    for (int32_t u = 0; u < g->n_users; u++)
        g->user_events[u] = (int32_t)c[u];
    free(c);
}

/* ---- one user's listening ---- */

static void events_reserve(struct events *e, size_t n)
{
    if (n <= e->cap)
        return;
    e->track = tt_realloc(e->track, n * sizeof(*e->track));
    e->action = tt_realloc(e->action, n * sizeof(*e->action));
    e->ms = tt_realloc(e->ms, n * sizeof(*e->ms));
    e->ts = tt_realloc(e->ts, n * sizeof(*e->ts));
    e->start = tt_realloc(e->start, n * sizeof(*e->start));
    e->cap = n;
}

/* A track of pool @k by popularity, or uniformly; -1 when the pool is empty. */
static int32_t pick_in_pool(const struct pools *pl, int k, tt_rng *r, bool by_popularity)
{
    int32_t lo = pl->off[k], n = pl->off[k + 1] - lo;
    const double *cum = pl->cum + lo;

    if (n == 0)
        return -1;
    if (!by_popularity)
        return pl->track[lo + (int32_t)tt_rng_below(r, (uint64_t)n)];
    return pl->track[lo + search_cum(cum, n, tt_rng_uniform(r) * cum[n - 1])];
}

/* Index into the taste of a genre drawn by taste weight. */
static int pick_taste(const struct profile *p, tt_rng *r)
{
    double u = tt_rng_uniform(r);

    for (int k = 0; k < p->n_taste - 1; k++) {
        if (u < p->w[k])
            return k;
        u -= p->w[k];
    }
    return p->n_taste - 1;
}

/*
 * A track the user has not necessarily met: from a taste genre, usually inside the scene
 * the user follows there (the co-listening that collaborative filtering can learn and a
 * genre model cannot), now and then from any genre; by popularity, now and then uniformly.
 */
static int32_t pick_fresh(const struct gen *g, tt_rng *r, const struct profile *p)
{
    bool by_popularity = tt_rng_uniform(r) >= p->p_niche;
    int32_t t;
    int k;

    if (tt_rng_uniform(r) < p->p_explore)
        return pick_in_pool(&g->by_genre, pick_genre_by_share(g, r), r, by_popularity);
    k = pick_taste(p, r);
    if (tt_rng_uniform(r) < p->p_scene) {
        t = pick_in_pool(&g->by_scene, p->taste[k] * N_SCENES + p->scene[k], r, by_popularity);
        if (t >= 0)
            return t;
    }
    return pick_in_pool(&g->by_genre, p->taste[k], r, by_popularity);
}

/*
 * The track of event @i: a replay of an earlier event (so favourites accumulate plays, as
 * in a Polya urn), another track by an artist heard before, or a fresh pick. Earlier skips
 * and dislikes are not replayed. Sets *@replay when the track is a replay.
 */
static int32_t pick_track(const struct gen *g, tt_rng *r, const struct profile *p, int64_t i,
                          bool *replay)
{
    const struct events *e = &g->ev;
    double x = tt_rng_uniform(r);

    *replay = false;
    if (i > 0 && x < p->p_repeat + p->p_artist) {
        int64_t prev = (int64_t)tt_rng_below(r, (uint64_t)i);
        if (e->action[prev] != TT_ACT_SKIP && e->action[prev] != TT_ACT_DISLIKE) {
            int32_t a = g->tracks[e->track[prev]].artist, n = g->art_off[a + 1] - g->art_off[a];
            if (x < p->p_repeat) {
                *replay = true;
                return e->track[prev];
            }
            return g->art_tracks[g->art_off[a] + (int32_t)tt_rng_below(r, (uint64_t)n)];
        }
    }
    return pick_fresh(g, r, p);
}

/* How well a track suits the taste, 0..1: 1 in the main genre, 0 outside the taste. */
static double taste_fit(const struct profile *p, const struct track *t)
{
    double w = 0;

    for (int k = 0; k < p->n_taste; k++) {
        if (p->taste[k] == t->g1)
            w += p->w[k];
        else if (p->taste[k] == t->g2)
            w += 0.5 * p->w[k];
    }
    return fmin(1.0, sqrt(w / p->w[0]));
}

/* Skips and dislikes grow as the fit falls; likes, saves and shares grow with it. */
static enum tt_action pick_action(tt_rng *r, double fit)
{
    double miss = 1.0 - fit, u = tt_rng_uniform(r);
    const double p[] = {
        0.012 + 0.060 * fit,         /* like */
        0.080 + 0.300 * miss,        /* skip */
        0.005 + 0.045 * miss * miss, /* dislike */
        0.006 + 0.035 * fit,         /* save */
        0.002 + 0.010 * fit,         /* share */
    };
    static const enum tt_action act[] = {TT_ACT_LIKE, TT_ACT_SKIP, TT_ACT_DISLIKE, TT_ACT_SAVE,
                                         TT_ACT_SHARE};

    for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); k++) {
        if (u < p[k])
            return act[k];
        u -= p[k];
    }
    return TT_ACT_PLAY;
}

/*
 * Skips end within 30 s, dislikes within a minute; plays mostly run to the end. Tracks last
 * at least 30 s, so every range here lies inside the track.
 */
static int32_t played_ms(tt_rng *r, enum tt_action a, int32_t duration)
{
    int32_t ms;

    switch (a) {
    case TT_ACT_SKIP:
        return 1000 + (int32_t)tt_rng_below(r, 29000);
    case TT_ACT_DISLIKE:
        ms = duration < 60000 ? duration : 60000;
        return 3000 + (int32_t)tt_rng_below(r, (uint64_t)(ms - 3000));
    case TT_ACT_PLAY:
        if (tt_rng_uniform(r) < 0.55)
            return duration;
        ms = (int32_t)(duration * (0.5 + 0.5 * tt_rng_uniform(r)));
        return ms < 30000 ? 30000 : ms;
    default:
        return (int32_t)(duration * (0.3 + 0.7 * tt_rng_uniform(r)));
    }
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* A start time in [t0, t1): a uniform day, an hour by the daily rhythm, a uniform second. */
static int64_t session_start(const struct gen *g, tt_rng *r, int64_t t0, int64_t t1)
{
    int64_t d0 = t0 / DAY, days = (t1 - 1) / DAY - d0 + 1, t;
    double u = tt_rng_uniform(r) * g->hour_cum[23];
    int h = 0;

    while (h < 23 && u >= g->hour_cum[h])
        h++;
    t = (d0 + (int64_t)tt_rng_below(r, (uint64_t)days)) * DAY + h * 3600 +
        (int64_t)tt_rng_below(r, 3600);
    return t < t0 ? t0 : t >= t1 ? t1 - 1 : t;
}

/*
 * Listening comes in sessions (geometric length, mean 8) that start at rhythm-drawn times;
 * inside one, each event follows the previous one's listening time plus a short gap. Then
 * times are forced strictly increasing (at least 1 s apart, so the store's key (user,
 * track, action, occurred_at) never collides) and pulled back inside the window from the
 * end. The window holds far more seconds than TT_GENERATE_MAX_PER_USER events, so both
 * passes leave every time in [t0, t1).
 */
static void make_times(struct gen *g, tt_rng *r, const struct profile *p, int64_t n)
{
    struct events *e = &g->ev;
    int64_t t0 = p->created_at + 60, t1 = TT_GENERATE_WINDOW_END, k = 0, prev, t = 0, hi;

    if (t0 < TT_GENERATE_WINDOW_START)
        t0 = TT_GENERATE_WINDOW_START;
    for (int64_t i = 0; i < n; k++) {
        int64_t len = 1 + (int64_t)(exp1(r) * 7.49); /* geometric, p = 1/8 */
        for (int64_t j = 0; j < len && i < n; j++, i++)
            e->ts[i] = j == 0; /* marks a session's first event until times are set */
        e->start[k] = session_start(g, r, t0, t1);
    }
    qsort(e->start, (size_t)k, sizeof(*e->start), cmp_i64);
    prev = t0 - 1;
    k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (e->ts[i])
            t = e->start[k++];
        if (t <= prev)
            t = prev + 1;
        e->ts[i] = prev = t;
        t += e->ms[i] / 1000 + 1 + (int64_t)tt_rng_below(r, 4);
    }
    hi = t1 - 1;
    for (int64_t i = n - 1; i >= 0; i--) {
        if (e->ts[i] > hi)
            e->ts[i] = hi;
        hi = e->ts[i] - 1;
    }
}

static void make_events(struct gen *g, int32_t u, const struct profile *p, int64_t n)
{
    struct events *e = &g->ev;
    tt_rng r;

    events_reserve(e, (size_t)n);
    stream(g, &r, S_EVENTS, (uint64_t)u);
    for (int64_t i = 0; i < n; i++) {
        bool replay;
        int32_t t = pick_track(g, &r, p, i, &replay);
        double fit = taste_fit(p, &g->tracks[t]);
        enum tt_action a = pick_action(&r, replay ? fmin(1.0, fit + 0.3) : fit);

        e->track[i] = t;
        e->action[i] = (uint8_t)a;
        e->ms[i] = played_ms(&r, a, g->tracks[t].duration_ms);
    }
    make_times(g, &r, p, n);
}

static int put_events(struct gen *g, int32_t u, int64_t n, tt_err *err)
{
    const struct events *e = &g->ev;
    char uid[16], tid[16], eid[64];
    tt_interaction_rec rec = {.user_id = uid, .track_id = tid, .weight = 1.0f, .event_id = eid};
    int rc;

    format_id(uid, 'u', u);
    for (int64_t i = 0; i < n; i++) {
        format_id(tid, 't', e->track[i]);
        /* Event ids from (seed, user, index): running the same generation again updates. */
        snprintf(eid, sizeof(eid), "g%llu:%s:%lld", (unsigned long long)g->p->seed, uid,
                 (long long)i);
        rec.action = (enum tt_action)e->action[i];
        rec.ms_played = e->ms[i];
        rec.occurred_at = e->ts[i];
        if ((rc = writer_ready(&g->w, err)) < 0 ||
            (rc = tt_store_put_interaction(g->w.s, &rec, err)) < 0 ||
            (rc = writer_done(&g->w, err)) < 0)
            return rc;
    }
    return 0;
}

static int write_interactions(struct gen *g, tt_err *err)
{
    const int64_t total = g->p->interactions;
    int64_t done = 0, shown = 0;
    struct profile p;
    int rc;

    progress(g, "interactions", 0, total);
    for (int32_t u = 0; u < g->n_users; u++) {
        int64_t n = g->user_events[u];

        make_profile(g, u, &p);
        make_events(g, u, &p, n);
        if ((rc = put_events(g, u, n, err)) < 0)
            return rc;
        done += n;
        if (done - shown >= PROGRESS_EVERY) {
            progress(g, "interactions", done, total);
            shown = done;
        }
    }
    progress(g, "interactions", done, total);
    return 0;
}

/* ---- the run ---- */

static void gen_init(struct gen *g, tt_store *s, const tt_generate_params *p)
{
    double sum = 0;

    memset(g, 0, sizeof(*g));
    g->p = p;
    g->w.s = s;
    g->w.p = p;
    g->n_tracks = (int32_t)p->tracks;
    g->n_users = (int32_t)p->users;
    g->n_artists = (int32_t)((p->tracks + 7) / 8);
    g->artists = tt_calloc((size_t)g->n_artists, sizeof(*g->artists));
    g->artist_cum = tt_malloc((size_t)g->n_artists * sizeof(*g->artist_cum));
    g->tracks = tt_calloc((size_t)g->n_tracks, sizeof(*g->tracks));
    g->rank_score = tt_malloc((size_t)g->n_tracks * sizeof(*g->rank_score));
    pools_init(&g->by_genre, N_GENRES, g->n_tracks);
    pools_init(&g->by_scene, N_GENRES * N_SCENES, g->n_tracks);
    g->art_off = tt_calloc((size_t)g->n_artists + 1, sizeof(*g->art_off));
    g->art_tracks = tt_malloc((size_t)g->n_tracks * sizeof(*g->art_tracks));
    g->user_events = tt_malloc((size_t)g->n_users * sizeof(*g->user_events));
    for (int k = 0; k < N_GENRES; k++)
        g->genre_cum[k] = (sum += genres[k].share);
    sum = 0;
    for (int h = 0; h < 24; h++)
        g->hour_cum[h] = (sum += hour_weight[h]);
}

static void gen_release(struct gen *g)
{
    free(g->artists);
    free(g->artist_cum);
    free(g->tracks);
    free(g->rank_score);
    pools_release(&g->by_genre);
    pools_release(&g->by_scene);
    free(g->art_off);
    free(g->art_tracks);
    free(g->user_events);
    free(g->ev.track);
    free(g->ev.action);
    free(g->ev.ms);
    free(g->ev.ts);
    free(g->ev.start);
}

/* The phases in order; each may need the tables the ones before it built. */
static int generate(struct gen *g, tt_err *err)
{
    double *activity;
    int rc;

    if ((rc = write_artists(g, err)) < 0 || (rc = write_tracks(g, err)) < 0)
        return rc;
    free(g->artist_cum);
    g->artist_cum = NULL;
    build_popularity(g);
    restrict_genres(g);
    build_artist_index(g);
    activity = tt_malloc((size_t)g->n_users * sizeof(*activity));
    rc = write_users(g, activity, err);
    if (rc == 0)
        allocate_events(g, activity);
    free(activity);
    if (rc < 0 || (rc = write_interactions(g, err)) < 0)
        return rc;
    return writer_finish(&g->w, err);
}

int tt_generate_run(tt_store *s, const tt_generate_params *p, tt_generate_stats *stats, tt_err *err)
{
    double t0 = tt_now();
    struct gen g;
    int rc;

    if (!s)
        return tt_err_set(err, TT_EINVAL, "a store is required");
    if ((rc = tt_generate_check(p, err)) < 0)
        return rc;
    gen_init(&g, s, p);
    rc = generate(&g, err);
    if (rc < 0)
        writer_abort(&g.w);
    else if (stats) {
        stats->artists = g.n_artists;
        stats->tracks = g.n_tracks;
        stats->users = g.n_users;
        stats->interactions = p->interactions;
        stats->seconds = tt_now() - t0;
    }
    gen_release(&g);
    return rc;
}
