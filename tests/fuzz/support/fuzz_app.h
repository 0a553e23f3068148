/*
 * fuzz_app.h - a small real service for the HTTP harnesses: a generated SQLite database in
 * the scratch directory, every tier trained on it (an enterprise custom model, a second ALS
 * version and the content index included), loaded by tt_server_reload as `tunetrail serve`
 * loads it. What the handlers use is real (store pool, in-process cache, metrics, radio key,
 * served snapshot); left out are the HTTP daemon, the job thread (a queued job is never run),
 * the impression writer and the station follower, none of which reads a request. Answers are
 * not cached (cache_ttl 0), so the same input always takes the same path.
 */
#ifndef TT_FUZZ_APP_H
#define TT_FUZZ_APP_H

#include <stddef.h>
#include <stdint.h>

#include "../../../src/http/app.h"

/* The secret the service signs radio cursors with (RADIO_SECRET), fixed so seeds stay valid. */
#define FZ_RADIO_SECRET "tunetrail-fuzz-radio-secret"

/* The service, built on the first call (a few seconds) and kept until exit. */
tt_app *fz_app(void);

/*
 * @size bytes of @data parsed as the server parses a request body (jansson, integers as
 * reals, duplicate keys refused); NULL when the server would refuse it before any handler
 * (not a JSON object; an empty body of an endpoint that needs one). Caller owns the result.
 */
json_t *fz_body(const uint8_t *data, size_t size);

/*
 * Runs handler @fn on @body (borrowed) and checks the reply: a status of 200..599 and a body
 * that is valid JSON, an error in the documented shape ({"error": {"code", "message"}});
 * anything else fails the run. Returns the status. FZ_VERBOSE prints the reply.
 */
int fz_handle(tt_handler fn, json_t *body);

/* fz_body, then fz_handle when the body gets that far; the status, or 0. */
int fz_request(tt_handler fn, const uint8_t *data, size_t size);

#endif
