/*
 * MusicOSet (Silva, Rocha & Moro, 2019): Billboard songs with Spotify metadata and audio
 * features. Files are tab-separated with a header, UTF-8, CRLF, and no quoting; two columns
 * hold Python literals as written by pandas (songs.artists a dict of id -> name,
 * artists.genres a list of strings), parsed here with Python's own string-literal rules.
 *
 * Artists come first (they carry the genres), then the per-song tables are loaded into
 * memory keyed by Spotify song id, and songs.csv is streamed last to write the joined tracks.
 */
#include "import_priv.h"
#include "tt/core.h"
#include "tt/ids.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct song {
    int32_t year;        /* <= 0: unknown */
    int32_t duration_ms; /* < 0: unknown */
    float features[TT_N_FEATURES];
};

struct musicoset {
    tt_ids *artists; /* Spotify ids of artists written so far */
    char **genres;   /* by dense artist id: '|'-joined genres */
    size_t genres_cap;
    tt_ids *songs; /* Spotify song ids met in tracks.csv or acoustic_features.csv */
    struct song *song;
    size_t song_cap;
    const struct tt__col *col; /* columns of the file being read */
    struct tt__sbuf sb, key, val;
};

/* ---- Python literals ---- */

static void skip_ws(const char **p)
{
    while (**p == ' ')
        (*p)++;
}

static bool hex_value(const char **p, int n, uint32_t *out)
{
    uint32_t v = 0;

    for (int i = 0; i < n; i++) {
        char ch = (*p)[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            return false;
        v = v * 16 + (uint32_t)d;
    }
    *p += n;
    *out = v;
    return true;
}

static bool put_code_point(struct tt__sbuf *out, uint32_t cp)
{
    char u[4];
    size_t n;

    /* NUL would cut the name short; surrogates and beyond U+10FFFF are not UTF-8. */
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)), n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), n = 4;
    }
    tt__sbuf_add(out, u, n);
    return true;
}

/* The escape after a backslash at *@p. Unknown escapes stay as written, as in Python. */
static bool py_escape(const char **p, struct tt__sbuf *out)
{
    char ch = **p, lit = ch;
    uint32_t cp;

    if (ch == '\0')
        return false;
    (*p)++;
    switch (ch) {
    case '\\':
    case '\'':
    case '"':
        break;
    case 'n':
        lit = '\n';
        break;
    case 't':
        lit = '\t';
        break;
    case 'r':
        lit = '\r';
        break;
    case 'x':
        return hex_value(p, 2, &cp) && put_code_point(out, cp);
    case 'u':
        return hex_value(p, 4, &cp) && put_code_point(out, cp);
    case 'U':
        return hex_value(p, 8, &cp) && put_code_point(out, cp);
    default:
        tt__sbuf_add(out, "\\", 1);
        break;
    }
    tt__sbuf_add(out, &lit, 1);
    return true;
}

/*
 * A str literal ('...' or "...") at *@p; its value is appended to @out. Python 2 wrote
 * unicode strings as u"...", and some rows of the dataset were written that way.
 */
static bool py_string(const char **p, struct tt__sbuf *out)
{
    const char *s = *p;
    char q;

    if (*s == 'u' || *s == 'U')
        s++;
    q = *s++;
    if (q != '\'' && q != '"')
        return false;
    for (;;) {
        const char *run = s;
        while (*s && *s != q && *s != '\\')
            s++;
        tt__sbuf_add(out, run, (size_t)(s - run));
        if (*s == '\0')
            return false;
        if (*s == q) {
            *p = s + 1;
            return true;
        }
        s++;
        if (!py_escape(&s, out))
            return false;
    }
}

/* ['a', "b"]: each item is added to @genres; @tmp is scratch. */
static bool py_list_genres(const char *s, struct tt__sbuf *tmp, struct tt__sbuf *genres)
{
    skip_ws(&s);
    if (*s++ != '[')
        return false;
    skip_ws(&s);
    while (*s != ']') {
        tmp->len = 0;
        if (!py_string(&s, tmp))
            return false;
        tt__genre_add(genres, tt__sbuf_str(tmp), tmp->len);
        skip_ws(&s);
        if (*s == ',')
            s++, skip_ws(&s);
        else if (*s != ']')
            return false;
    }
    s++;
    skip_ws(&s);
    return *s == '\0';
}

/* 'key': 'value' at *@p, the values appended to @key and @val. */
static bool py_pair(const char **p, struct tt__sbuf *key, struct tt__sbuf *val)
{
    if (!py_string(p, key))
        return false;
    skip_ws(p);
    if (**p != ':')
        return false;
    (*p)++;
    skip_ws(p);
    return py_string(p, val);
}

/* {'id': 'name', ...}: the first pair into @key and @val; false if malformed or empty. */
static bool py_dict_first(const char *s, struct tt__sbuf *key, struct tt__sbuf *val)
{
    int pairs = 0;

    key->len = val->len = 0;
    skip_ws(&s);
    if (*s++ != '{')
        return false;
    skip_ws(&s);
    while (*s != '}') {
        size_t klen = key->len, vlen = val->len;
        if (!py_pair(&s, key, val))
            return false;
        /* Later pairs are parsed to validate the text but only the first is kept. */
        if (pairs++ > 0)
            key->len = klen, val->len = vlen;
        skip_ws(&s);
        if (*s == ',')
            s++, skip_ws(&s);
        else if (*s != '}')
            return false;
    }
    s++;
    skip_ws(&s);
    tt__sbuf_str(key);
    tt__sbuf_str(val);
    return *s == '\0' && pairs > 0;
}

/* ---- artists.csv: artist_id, name, main_genre, genres ---- */

enum { AC_ID, AC_NAME, AC_MAIN, AC_GENRES, AC_N };

static int write_artist(struct tt__import *im, struct musicoset *M, const tt_artist_rec *a,
                        tt_err *err)
{
    int32_t id = tt_ids_intern(M->artists, a->artist_id, strlen(a->artist_id));

    tt_grow((void **)&M->genres, &M->genres_cap, (size_t)id + 1, sizeof(char *));
    M->genres[id] = tt_strdup(a->genres);
    return tt__import_put_artist(im, a, err);
}

static int artist_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct musicoset *M = ctx;
    const struct tt__col *col = M->col;
    tt_artist_rec a;
    const char *main;

    if (!(a.artist_id = tt__import_id(c, col[AC_ID].idx, "artist_id", err)) ||
        !(a.name = tt__import_text(c, col[AC_NAME].idx, "name", err)) ||
        !(main = tt__import_text(c, col[AC_MAIN].idx, "main_genre", err)) ||
        !tt__import_text(c, col[AC_GENRES].idx, "genres", err))
        return TT_EPARSE;
    if (tt_ids_find(M->artists, a.artist_id, strlen(a.artist_id)) >= 0)
        return tt__import_bad(c, err, "artist_id %s appears twice", a.artist_id);
    M->sb.len = 0;
    /* "-" is the dataset's "no main genre". */
    if (strcmp(main, "-") != 0)
        tt__genre_add(&M->sb, main, strlen(main));
    if (!py_list_genres(tt_csv_field(c, col[AC_GENRES].idx), &M->key, &M->sb))
        return tt__import_bad(c, err, "genres is not a Python list of strings: %.60s",
                              tt_csv_field(c, col[AC_GENRES].idx));
    a.genres = tt__sbuf_str(&M->sb);
    return write_artist(im, M, &a, err);
}

/* ---- tracks.csv and acoustic_features.csv, keyed by song_id ---- */

static struct song *song_at(struct musicoset *M, const char *song_id)
{
    int32_t before = tt_ids_count(M->songs);
    int32_t id = tt_ids_intern(M->songs, song_id, strlen(song_id));

    if (id >= before) {
        tt_grow((void **)&M->song, &M->song_cap, (size_t)id + 1, sizeof(struct song));
        M->song[id].year = -1;
        M->song[id].duration_ms = -1;
        for (int f = 0; f < TT_N_FEATURES; f++)
            M->song[id].features[f] = NAN;
    }
    return &M->song[id];
}

/* "YYYY", "YYYY-MM" or "YYYY-MM-DD", as release_date_precision says; year 0 is unknown. */
static bool release_year(const char *s, int32_t *year)
{
    size_t n = strlen(s);
    int64_t y, m, unused;
    char buf[11];

    if ((n != 4 && n != 7 && n != 10) || strspn(s, "0123456789") != 4)
        return false;
    memcpy(buf, s, n + 1);
    buf[4] = '\0';
    if (!tt__parse_int(buf, 0, 9999, &y))
        return false;
    if (n >= 7) {
        buf[7] = '\0';
        if (s[4] != '-' || strspn(buf + 5, "0123456789") != 2 || !tt__parse_int(buf + 5, 1, 12, &m))
            return false;
    }
    if (n == 10 && (y == 0 || !tt__parse_time(s, &unused)))
        return false;
    *year = y > 0 ? (int32_t)y : -1;
    return true;
}

enum { RC_SONG, RC_DATE, RC_N };

static int release_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct musicoset *M = ctx;
    const char *id = tt__import_id(c, M->col[RC_SONG].idx, "song_id", err);
    const char *date = tt_csv_field(c, M->col[RC_DATE].idx);
    int32_t year = -1;

    (void)im;
    if (!id)
        return TT_EPARSE;
    if (*date && !release_year(date, &year))
        return tt__import_bad(c, err, "release_date '%.40s' is not YYYY, YYYY-MM or YYYY-MM-DD",
                              date);
    song_at(M, id)->year = year;
    return 0;
}

enum { FC_SONG, FC_DURATION, FC_FEATURE0, FC_N = FC_FEATURE0 + TT_N_FEATURES };

static int features_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct musicoset *M = ctx;
    const char *id = tt__import_id(c, M->col[FC_SONG].idx, "song_id", err), *s;
    struct song *song;
    int64_t ms;

    (void)im;
    if (!id)
        return TT_EPARSE;
    s = tt_csv_field(c, M->col[FC_DURATION].idx);
    if (*s && !tt__parse_int(s, 0, INT32_MAX, &ms))
        return tt__import_bad(c, err, "duration_ms '%.40s' is not a whole number >= 0", s);
    song = song_at(M, id);
    song->duration_ms = *s ? (int32_t)ms : -1;
    return tt__import_features(c, M->col + FC_FEATURE0, song->features, err);
}

/* ---- songs.csv: song_id, song_name, artists ---- */

enum { SC_SONG, SC_NAME, SC_ARTISTS, SC_N };

/* The song's first artist, written as an artist (without genres) if artists.csv lacks it. */
static int first_artist(struct tt__import *im, struct musicoset *M, const tt_csv *c,
                        const char **genres, tt_err *err)
{
    const char *s = tt_csv_field(c, M->col[SC_ARTISTS].idx);
    tt_artist_rec a;
    int32_t id;

    if (!py_dict_first(s, &M->key, &M->val))
        return tt__import_bad(c, err, "artists is not a Python dict of id to name: %.60s", s);
    if (M->key.len == 0 || M->key.len > TT__IMPORT_MAX_ID ||
        !tt__utf8_valid(M->key.p, M->key.len) || !tt__utf8_valid(M->val.p, M->val.len))
        return tt__import_bad(c, err, "artists holds a bad artist id or name: %.60s", s);
    id = tt_ids_find(M->artists, M->key.p, M->key.len);
    if (id >= 0) {
        *genres = M->genres[id];
        return 0;
    }
    a = (tt_artist_rec){M->key.p, M->val.p, ""};
    *genres = "";
    return write_artist(im, M, &a, err);
}

static void song_details(const struct musicoset *M, const char *song_id, tt_track_rec *t)
{
    int32_t id = tt_ids_find(M->songs, song_id, strlen(song_id));

    if (id < 0)
        return;
    t->release_year = M->song[id].year;
    t->duration_ms = M->song[id].duration_ms;
    memcpy(t->features, M->song[id].features, sizeof(t->features));
}

static int song_row(struct tt__import *im, tt_csv *c, void *ctx, tt_err *err)
{
    struct musicoset *M = ctx;
    tt_track_rec t = tt_track_rec_empty();
    int rc;

    if (!(t.track_id = tt__import_id(c, M->col[SC_SONG].idx, "song_id", err)) ||
        !(t.title = tt__import_text(c, M->col[SC_NAME].idx, "song_name", err)))
        return TT_EPARSE;
    rc = first_artist(im, M, c, &t.genres, err);
    if (rc < 0)
        return rc;
    t.artist_id = M->key.p;
    t.artist = M->val.p;
    song_details(M, t.track_id, &t);
    return tt__import_put_track(im, &t, err);
}

/* ---- driver ---- */

static int read_file(struct tt__import *im, struct musicoset *M, const char *dir, const char *name,
                     struct tt__col *cols, int n, tt__row_fn fn, tt_err *err)
{
    char *path = tt__path_join(dir, name);
    int rc;

    M->col = cols;
    rc = tt__import_file(im, path, TT_CSV_TAB, cols, n, fn, M, err);
    free(path);
    return rc;
}

static int read_all(struct tt__import *im, struct musicoset *M, const char *dir, tt_err *err)
{
    struct tt__col ac[AC_N] = {{"artist_id", true, -1},
                               {"name", true, -1},
                               {"main_genre", true, -1},
                               {"genres", true, -1}};
    struct tt__col rc_[RC_N] = {{"song_id", true, -1}, {"release_date", true, -1}};
    struct tt__col fc[FC_N] = {{"song_id", true, -1}, {"duration_ms", false, -1}};
    struct tt__col sc[SC_N] = {
        {"song_id", true, -1}, {"song_name", true, -1}, {"artists", true, -1}};
    int rc;

    for (int f = 0; f < TT_N_FEATURES; f++)
        fc[FC_FEATURE0 + f] = (struct tt__col){tt_feature_name(f), false, -1};
    rc = read_file(im, M, dir, "musicoset_metadata/artists.csv", ac, AC_N, artist_row, err);
    if (rc == 0)
        rc = read_file(im, M, dir, "musicoset_metadata/tracks.csv", rc_, RC_N, release_row, err);
    if (rc == 0)
        rc = read_file(im, M, dir, "musicoset_songfeatures/acoustic_features.csv", fc, FC_N,
                       features_row, err);
    if (rc == 0)
        rc = read_file(im, M, dir, "musicoset_metadata/songs.csv", sc, SC_N, song_row, err);
    return rc;
}

int tt_import_musicoset(tt_store *s, const char *dir, const tt_import_opts *opts,
                        tt_import_stats *stats, tt_err *err)
{
    struct tt__import im;
    struct musicoset M = {0};
    int rc;

    if (!s || !dir)
        return tt_err_set(err, TT_EINVAL, "store and directory are required");
    rc = tt__import_begin(&im, s, opts, stats, err);
    if (rc < 0)
        return rc;
    M.artists = tt_ids_new();
    M.songs = tt_ids_new();
    rc = read_all(&im, &M, dir, err);
    rc = tt__import_end(&im, rc, err);
    for (int32_t i = 0; i < tt_ids_count(M.artists); i++)
        free(M.genres[i]);
    free(M.genres);
    free(M.song);
    tt_ids_free(M.artists);
    tt_ids_free(M.songs);
    tt__sbuf_release(&M.sb);
    tt__sbuf_release(&M.key);
    tt__sbuf_release(&M.val);
    return rc;
}
