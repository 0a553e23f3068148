/*
 * tz.h - time zones without the C library's global TZ state: UTC offsets of instants in a
 * fixed offset ("+05:30", "-0800") or an IANA zone ("Europe/Paris") read from the system's
 * tz database (TZif files under /usr/share/zoneinfo, RFC 8536).
 *
 * localtime_r after setenv("TZ") is process-wide and not thread-safe, so zones are parsed
 * here: the transitions of the file's 64-bit section, then its POSIX TZ footer rule
 * ("CET-1CEST,M3.5.0,M10.5.0/3") for instants past the last transition. A loaded zone is
 * immutable: any number of threads may read it.
 */
#ifndef TT_TZ_H
#define TT_TZ_H

#include <stdint.h>

#include "tt/err.h"

typedef struct tt_tz tt_tz;

/*
 * Parses @spec: "UTC", "Z", an offset [+-]HH, [+-]HHMM or [+-]HH:MM (at most 14:00 either
 * way), or an IANA zone name whose TZif file is under @dir (NULL: /usr/share/zoneinfo).
 * Errors: TT_EINVAL, field "timezone", for anything else (unknown name, a name with "..",
 * a file that is not TZif).
 */
int tt_tz_open(const char *spec, const char *dir, tt_tz **out, tt_err *err);
void tt_tz_free(tt_tz *z);

/* The zone's name as given ("Europe/Paris", "+05:30"). Borrowed, valid while @z lives. */
const char *tt_tz_name(const tt_tz *z);

/* Seconds east of UTC in zone @z (NULL: UTC) at Unix time @t. */
int32_t tt_tz_offset(const tt_tz *z, int64_t t);

/*
 * The local hour (0..23) and ISO day of week (0 Monday .. 6 Sunday) of Unix time @t in @z
 * (NULL: UTC).
 */
void tt_tz_local(const tt_tz *z, int64_t t, int *hour, int *weekday);

/*
 * A thread-safe cache of zones by spec, so each IANA file is read once per cache. It holds
 * at most one entry per distinct valid spec (bounded by the tz database's size and 64
 * offsets): invalid specs are never kept.
 */
typedef struct tt_tz_cache tt_tz_cache;

/* @dir: the tz database (NULL: /usr/share/zoneinfo); copied. */
tt_tz_cache *tt_tz_cache_new(const char *dir);
void tt_tz_cache_free(tt_tz_cache *c);
/*
 * The zone of @spec, opened on first use. *out is borrowed: valid while @c lives.
 * Errors: those of tt_tz_open.
 */
int tt_tz_cache_get(tt_tz_cache *c, const char *spec, const tt_tz **out, tt_err *err);

#endif
