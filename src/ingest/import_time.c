/*
 * The import's time syntax, for the other layers that accept the same timestamps (feedback).
 */
#include "import_priv.h"
#include "tt/import.h"

bool tt_import_parse_time(const char *s, int64_t *out)
{
    return tt__parse_time(s, out);
}
