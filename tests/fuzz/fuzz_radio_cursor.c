/*
 * Radio station cursors (src/models/radio_cursor.c) and the stations they continue
 * (src/models/radio.c), on the small real service of support/fuzz_app.h. Each input is
 * used twice:
 * - as a cursor string, decoded under the service's key: refused unless it is one the
 *   engine made (the seeds hold a few), and then re-encoded to the same string;
 * - as a cursor's payload, signed here with the service's key (as only the engine can),
 *   so that the decoder's parsing is reached behind the MAC: a payload it accepts must
 *   re-encode to the very same cursor (one string per state), and the station it
 *   describes must play its next page, tracks of the catalog only, whatever its walk
 *   position, rings, recent artists and steering tracks say. A payload whose catalog is 0
 *   stands for the service's catalog, so that seeds reach the walk itself.
 */
#include "support/fuzz_app.h"
#include "support/fuzz_support.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tt/core.h"
#include "tt/radio.h"

#define LIMIT 10
#define MAC_LEN 32

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_init("radio_cursor");
    fz_app();
    return 0;
}

/* base64url without padding (RFC 4648, section 5) of @n bytes into @out; returns its length. */
static size_t b64url(const uint8_t *p, size_t n, char *out)
{
    size_t o = 0, i;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = b64[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

/* The cursor string of payload @p: base64url of the payload and its HMAC-SHA256. */
static char *sign(const uint8_t key[32], const uint8_t *p, size_t n, size_t *len)
{
    uint8_t *raw = tt_malloc(n + MAC_LEN);
    char *s = tt_malloc((n + MAC_LEN + 2) / 3 * 4 + 1);
    unsigned int mac_len = MAC_LEN;

    memcpy(raw, p, n);
    HMAC(EVP_sha256(), key, 32, p, n, raw + n, &mac_len);
    *len = b64url(raw, n + MAC_LEN, s);
    free(raw);
    return s;
}

static void expect_same_cursor(const tt_radio_state *st, const uint8_t key[32], const char *s,
                               size_t len, const char *what)
{
    char again[TT_RADIO_CURSOR_MAX + 1];
    size_t n = tt_radio_cursor_encode(st, key, again);

    if (n != len || memcmp(again, s, len) != 0)
        fz_fail("%s: the state decoded re-encodes to another cursor", what);
}

static void check_page(const tt_served *s, const tt_scored *items, int n)
{
    if (n < 0 || n > LIMIT)
        fz_fail("a page of %d tracks for a limit of %d", n, LIMIT);
    for (int i = 0; i < n; i++)
        if (items[i].track < 0 || items[i].track >= tt_catalog_n_tracks(s->cat))
            fz_fail("the station played track %d of %d", items[i].track,
                    tt_catalog_n_tracks(s->cat));
}

/* The next page of the station @st describes, then its cursor read back. */
static void play(tt_app *app, tt_radio_state *st)
{
    tt_served *s = tt__app_models(app);
    tt_radio_listener lis = {0};
    tt_scored items[LIMIT];
    char cursor[TT_RADIO_CURSOR_MAX + 1];
    tt_radio_state back;
    size_t len;
    int n = 0;

    if (st->catalog == 0)
        st->catalog = tt_catalog_id(s->cat);
    if (tt_radio_next(s->radio, st, &lis, LIMIT, items, &n, NULL) == 0) {
        check_page(s, items, n);
        if (fz_verbose())
            fprintf(stderr, "fuzz: page %u of station %016llx: %d tracks\n", st->page,
                    (unsigned long long)st->station, n);
        len = tt_radio_cursor_encode(st, app->radio_key, cursor);
        if (tt_radio_cursor_decode(cursor, len, app->radio_key, &back, NULL) < 0)
            fz_fail("the cursor of a station's next page is refused");
    }
    tt__served_release(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_app *app = fz_app();
    tt_radio_state st;
    size_t len;
    char *s;

    if (tt_radio_cursor_decode((const char *)data, size, app->radio_key, &st, NULL) == 0) {
        expect_same_cursor(&st, app->radio_key, (const char *)data, size, "cursor");
        if (fz_verbose())
            fprintf(stderr, "fuzz: a cursor of the engine\n");
    }
    s = sign(app->radio_key, data, size, &len);
    if (tt_radio_cursor_decode(s, len, app->radio_key, &st, NULL) == 0) {
        expect_same_cursor(&st, app->radio_key, s, len, "signed payload");
        play(app, &st);
    }
    free(s);
    return 0;
}
