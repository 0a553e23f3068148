/*
 * Station cursors: the state of radio.h in a fixed little-endian layout, followed by an
 * HMAC-SHA256 (RFC 2104) of it, in base64url without padding (RFC 4648, section 5). The MAC
 * makes a cursor tamper-evident: the engine only ever resumes states it wrote itself. The
 * decoder also refuses non-canonical base64 (stray low bits in the last character), so no two
 * cursor strings mean the same state and every altered character is refused, not only those
 * that change a decoded byte.
 *
 * OpenSSL's libcrypto supplies HMAC and SHA-256: a maintained, constant-time-compare
 * implementation (CRYPTO_memcmp) that Debian ships as libssl-dev.
 */
#include "tt/radio.h"
#include "tt/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define VERSION 1
#define MAC_LEN 32
/* The longest payload: the fixed fields and every string at its longest. */
#define PAYLOAD_MAX                                                                                \
    (64 + TT_RADIO_RINGS + 4 * (TT_RADIO_ARTIST_GAP + TT_RADIO_STEER_MAX) +                        \
     3 * (TT_RADIO_ID_MAX + 2) + TT_RADIO_GENRE_MAX + 2)

_Static_assert((PAYLOAD_MAX + MAC_LEN + 2) / 3 * 4 <= TT_RADIO_CURSOR_MAX,
               "TT_RADIO_CURSOR_MAX must hold the longest cursor");

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct wbuf {
    uint8_t p[PAYLOAD_MAX + MAC_LEN];
    size_t n;
};

static void put(struct wbuf *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void put_str(struct wbuf *w, const char *s)
{
    size_t n = strlen(s);

    put(w, n, 2);
    memcpy(w->p + w->n, s, n);
    w->n += n;
}

static void serialise(const tt_radio_state *st, struct wbuf *w)
{
    put(w, VERSION, 1);
    put(w, st->station, 8);
    put(w, st->catalog, 8);
    put(w, st->flags, 4);
    put(w, st->page, 4);
    put(w, st->played, 4);
    put(w, st->cycle, 4);
    put(w, st->pos, 2);
    put(w, st->width, 2);
    memcpy(w->p + w->n, st->ring_plays, TT_RADIO_RINGS);
    w->n += TT_RADIO_RINGS;
    put(w, st->n_recent, 1);
    for (int i = 0; i < st->n_recent; i++)
        put(w, (uint32_t)st->recent[i], 4);
    put(w, st->n_steer, 1);
    for (int i = 0; i < st->n_steer; i++)
        put(w, (uint32_t)st->steer[i], 4);
    put(w, (uint64_t)st->steer_t, 8);
    put_str(w, st->track_id);
    put_str(w, st->artist);
    put_str(w, st->genre);
    put_str(w, st->user_id);
}

static void mac(const uint8_t key[32], const uint8_t *p, size_t n, uint8_t out[MAC_LEN])
{
    unsigned int len = MAC_LEN;

    HMAC(EVP_sha256(), key, 32, p, n, out, &len);
}

size_t tt_radio_cursor_encode(const tt_radio_state *st, const uint8_t key[32], char *buf)
{
    struct wbuf w = {.n = 0};
    size_t o = 0, i;

    serialise(st, &w);
    mac(key, w.p, w.n, w.p + w.n);
    w.n += MAC_LEN;
    for (i = 0; i + 2 < w.n; i += 3) {
        uint32_t v = (uint32_t)w.p[i] << 16 | (uint32_t)w.p[i + 1] << 8 | w.p[i + 2];
        buf[o++] = b64[v >> 18];
        buf[o++] = b64[(v >> 12) & 63];
        buf[o++] = b64[(v >> 6) & 63];
        buf[o++] = b64[v & 63];
    }
    if (i < w.n) {
        uint32_t v = (uint32_t)w.p[i] << 16 | (i + 1 < w.n ? (uint32_t)w.p[i + 1] << 8 : 0);
        buf[o++] = b64[v >> 18];
        buf[o++] = b64[(v >> 12) & 63];
        if (i + 1 < w.n)
            buf[o++] = b64[(v >> 6) & 63];
    }
    buf[o] = '\0';
    return o;
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Strict base64url: no padding, no stray bits; -1 when @s is not canonical. */
static int64_t b64_decode(const char *s, size_t len, uint8_t *out, size_t cap)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value(s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return acc != 0 ? -1 : (int64_t)o;
}

struct rbuf {
    const uint8_t *p;
    size_t n, at;
    bool bad;
};

static uint64_t get(struct rbuf *r, int bytes)
{
    uint64_t v = 0;

    if (r->at + (size_t)bytes > r->n) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[r->at++] << (8 * i);
    return v;
}

static void get_str(struct rbuf *r, char *s, size_t max)
{
    size_t n = (size_t)get(r, 2);

    if (r->bad || n > max || r->at + n > r->n || memchr(r->p + r->at, '\0', n)) {
        r->bad = true;
        s[0] = '\0';
        return;
    }
    memcpy(s, r->p + r->at, n);
    s[n] = '\0';
    r->at += n;
}

static void get_ids(struct rbuf *r, int32_t *ids, uint8_t *n, int max)
{
    *n = (uint8_t)get(r, 1);
    if (*n > max) {
        r->bad = true;
        *n = 0;
    }
    for (int i = 0; i < *n; i++)
        ids[i] = (int32_t)(uint32_t)get(r, 4);
}

static bool parse(struct rbuf *r, tt_radio_state *st)
{
    memset(st, 0, sizeof(*st));
    if (get(r, 1) != VERSION)
        return false;
    st->station = get(r, 8);
    st->catalog = get(r, 8);
    st->flags = (uint32_t)get(r, 4);
    st->page = (uint32_t)get(r, 4);
    st->played = (uint32_t)get(r, 4);
    st->cycle = (uint32_t)get(r, 4);
    st->pos = (uint16_t)get(r, 2);
    st->width = (uint16_t)get(r, 2);
    for (int i = 0; i < TT_RADIO_RINGS; i++)
        st->ring_plays[i] = (uint8_t)get(r, 1);
    get_ids(r, st->recent, &st->n_recent, TT_RADIO_ARTIST_GAP);
    get_ids(r, st->steer, &st->n_steer, TT_RADIO_STEER_MAX);
    st->steer_t = (int64_t)get(r, 8);
    get_str(r, st->track_id, TT_RADIO_ID_MAX);
    get_str(r, st->artist, TT_RADIO_ID_MAX);
    get_str(r, st->genre, TT_RADIO_GENRE_MAX);
    get_str(r, st->user_id, TT_RADIO_ID_MAX);
    return !r->bad && r->at == r->n && st->width <= TT_RADIO_POOL_MAX &&
           (st->width == 0 ? st->pos == 0 : st->pos < st->width);
}

int tt_radio_cursor_decode(const char *s, size_t len, const uint8_t key[32], tt_radio_state *st,
                           tt_err *err)
{
    uint8_t raw[PAYLOAD_MAX + MAC_LEN], want[MAC_LEN];
    int64_t n = len <= TT_RADIO_CURSOR_MAX ? b64_decode(s, len, raw, sizeof(raw)) : -1;
    struct rbuf r;

    if (n < MAC_LEN + 1)
        return tt_err_set_field(err, TT_EINVAL, "cursor", "cursor is not one this engine made");
    mac(key, raw, (size_t)n - MAC_LEN, want);
    if (CRYPTO_memcmp(want, raw + n - MAC_LEN, MAC_LEN) != 0)
        return tt_err_set_field(err, TT_EINVAL, "cursor",
                                "cursor was altered, truncated or signed by another engine");
    r = (struct rbuf){raw, (size_t)n - MAC_LEN, 0, false};
    if (!parse(&r, st))
        return tt_err_set_field(err, TT_EINVAL, "cursor", "cursor has an unknown layout");
    return 0;
}

/* Reads exactly 32 bytes of @path into @secret: 0, 1 when absent, or an error. */
static int read_secret(const char *path, uint8_t secret[32], tt_err *err)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (!f && errno == ENOENT)
        return 1;
    if (!f)
        return tt_err_set(err, TT_EIO, "cannot read %s: %s", path, strerror(errno));
    n = fread(secret, 1, 32, f);
    fclose(f);
    if (n != 32)
        return tt_err_set(err, TT_EIO, "%s must hold 32 bytes", path);
    return 0;
}

/*
 * Writes a fresh secret to a private temporary file and links it into place: link() fails
 * on an existing name, so of two engines starting at once one wins and both read its file.
 */
static int create_secret(const char *path, tt_err *err)
{
    char tmp[1200];
    uint8_t secret[32];
    int fd, rc = 0;

    if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
        return tt_err_set(err, TT_EIO, "no random bytes for the radio secret");
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return tt_err_set(err, TT_EIO, "cannot create %s: %s", tmp, strerror(errno));
    if (write(fd, secret, sizeof(secret)) != (ssize_t)sizeof(secret) || fsync(fd) != 0)
        rc = tt_err_set(err, TT_EIO, "cannot write %s: %s", tmp, strerror(errno));
    close(fd);
    if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST)
        rc = tt_err_set(err, TT_EIO, "cannot create %s: %s", path, strerror(errno));
    unlink(tmp);
    return rc;
}

int tt_radio_key(const char *model_dir, uint8_t key[32], tt_err *err)
{
    const char *env = getenv("RADIO_SECRET");
    char path[1100];
    uint8_t secret[32];
    int rc;

    if (env && env[0]) {
        SHA256((const unsigned char *)env, strlen(env), key);
        return 0;
    }
    rc = tt_mkdirs(model_dir, err);
    snprintf(path, sizeof(path), "%s/radio.secret", model_dir);
    if (rc == 0)
        rc = read_secret(path, secret, err);
    if (rc == 1) {
        rc = create_secret(path, err);
        if (rc == 0)
            rc = read_secret(path, secret, err);
    }
    if (rc != 0)
        return rc < 0 ? rc : tt_err_set(err, TT_EIO, "cannot create %s", path);
    SHA256(secret, sizeof(secret), key);
    return 0;
}
