/*
 * fuzz_import.h - what the import harnesses share: an empty SQLite database for every import
 * (a copy of one migrated when the harness starts, so no schema is built per input), the
 * check that a failed import left nothing behind, and inputs that stand for a directory of
 * files.
 *
 * Opening a database costs more than most imports, and a failed import must leave its
 * database exactly as it was: so a database is used again until an import writes to it,
 * the checks after each import making sure it is still empty.
 */
#ifndef TT_FUZZ_IMPORT_H
#define TT_FUZZ_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "tt/import.h"
#include "tt/store.h"

/* One import of the harness's input into @s with @opts; returns its code. */
typedef int (*fz_import_fn)(tt_store *s, const tt_import_opts *opts, tt_import_stats *stats,
                            void *ctx);

/*
 * Runs @fn twice on an empty database: strictly, then skipping bad rows (TT_IMPORT_SKIP_BAD)
 * on the same database, and checks what import.h promises (@what names the import in a
 * failure):
 * - a failed import leaves the database empty (it is one transaction);
 * - one that succeeds holds no more rows of each kind than it says it wrote, and its rows
 *   add up;
 * - the same input skipping bad rows: when the strict import succeeded, succeeds too with
 *   nothing skipped, the same counts and no new rows but interactions without an event_id
 *   (the others are upserts); when it failed on a
 *   bad row, succeeds only by skipping one at least; every skipped row is reported once.
 */
void fz_import_both(fz_import_fn fn, void *ctx, const char *what);

/*
 * Writes the files @names (NULL-terminated, paths relative to @dir, directories made as
 * needed) from @data, whose parts are separated by form feeds ('\f'): part i is file i.
 * Files past the last part are not written (an import then meets a missing file). @dir is
 * emptied first.
 */
void fz_write_parts(const char *dir, const char *const *names, const uint8_t *data, size_t size);

#endif
