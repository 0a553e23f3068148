/*
 * journal.h - the feedback write-ahead journal: events acknowledged while the database could
 * not take them within its budget, kept durably on local disk and replayed into the database
 * in order once it can (docs/reliability.md).
 *
 * One process owns a journal file at a time (an exclusive lock). Every record is checksummed
 * and on disk (fdatasync) before an append returns; the file is bounded in size. Records are
 * replayed oldest first; once every record is replayed the file is cut back to its header. A
 * crash in between leaves records that are replayed again: each carries an event id, so the
 * database stores it once however often it is replayed.
 */
#ifndef TT_JOURNAL_H
#define TT_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"
#include "tt/store.h"

typedef struct tt_journal tt_journal;

/* Largest encoded record: the fixed part and five strings of at most 1 KiB each. */
#define TT_JOURNAL_REC_MAX 5200

/* One decoded record: @r's strings point into @buf. */
typedef struct tt_journal_rec {
    tt_interaction_rec r;
    char buf[TT_JOURNAL_REC_MAX];
} tt_journal_rec;

/*
 * Opens (creating it and its directory) the journal at @path, bounded to @max_bytes, and
 * takes its lock: TT_EBACKEND when another process holds it. Scans what is there: records
 * not yet replayed become pending; a torn or damaged tail (a crash mid-write, a bad disk) is
 * cut off, its bytes kept in "@path.damaged-<unix time>" (with "-N" added when
 * that name is taken), with a warning.
 */
int tt_journal_open(const char *path, int64_t max_bytes, tt_journal **out, tt_err *err);
void tt_journal_close(tt_journal *j);

/*
 * Appends @r durably. An event without an event id gets one (written to @id, @cap bytes,
 * when @id is not NULL; else @id gets r->event_id), so replays cannot store it twice.
 * TT_EINVAL for an event the store would refuse, TT_EFULL when the journal has no room
 * (its bound, or the disk: nothing of the record stays), TT_EIO for other write errors.
 */
int tt_journal_append(tt_journal *j, const tt_interaction_rec *r, char *id, size_t cap,
                      tt_err *err);

/*
 * Writes into @id (@cap bytes; 64 are enough) a new event id, unique to this journal's
 * process run: the ids tt_journal_append gives. For a caller that must name an event before
 * it tries the database: a write abandoned at its deadline may still commit, and the journal
 * copy taken then must be the same event so a replay stores it once. Thread-safe.
 */
void tt_journal_new_event_id(tt_journal *j, char *id, size_t cap);

/* Records appended and not yet replayed. */
int64_t tt_journal_pending(tt_journal *j);
/* Bytes in the file, header included. */
int64_t tt_journal_bytes(tt_journal *j);

/*
 * The oldest record not yet replayed: 1 with *out and its position *pos, 0 when there is
 * none. Pass *pos to tt_journal_done once the database holds it.
 */
int tt_journal_next(tt_journal *j, tt_journal_rec *out, int64_t *pos, tt_err *err);
/*
 * The record at @pos (from tt_journal_next) is in the database. When it was the last one
 * pending, the file is cut back to its header.
 */
int tt_journal_done(tt_journal *j, int64_t pos, tt_err *err);

/* Calls @fn on every pending record, oldest first; stops early when @fn returns non-zero. */
typedef int (*tt_journal_fn)(const tt_interaction_rec *r, void *ctx);
int tt_journal_each(tt_journal *j, tt_journal_fn fn, void *ctx, tt_err *err);

/*
 * Decodes one record from the @n bytes at @p: 0 with *used bytes taken, 1 when @p holds
 * only part of a record, TT_ECORRUPT when the bytes are not a record.
 */
int tt_journal_decode(const uint8_t *p, size_t n, size_t *used, tt_journal_rec *out);

#endif
