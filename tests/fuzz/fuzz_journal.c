/*
 * The feedback journal's reader: arbitrary bytes as a journal file (opened, scanned, every
 * pending record replayed and marked done, the file reopened) and as one record (decoded).
 * A damaged file must be refused or cut at its first bad record, never crash or loop.
 */
#include "tt/journal.h"

#include <glob.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static int count(const tt_interaction_rec *r, void *ctx)
{
    (void)r;
    (*(int64_t *)ctx)++;
    return 0;
}

static void remove_all(const char *path)
{
    char pattern[128];
    glob_t g;

    unlink(path);
    /* The cut-off tail of a damaged file is kept beside it: clear those too. */
    snprintf(pattern, sizeof(pattern), "%s/j.wal.damaged-*", dir);
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
    globfree(&g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tt_journal_rec *rec = malloc(sizeof(*rec));
    char path[96];
    tt_journal *j = NULL;
    tt_err err = {0};
    size_t used;
    FILE *f;

    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/tt-fuzz-journal.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    if (tt_journal_decode(data, size, &used, rec) == 0 && (used > size || !rec->r.user_id))
        abort();
    snprintf(path, sizeof(path), "%s/j.wal", dir);
    f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    if (tt_journal_open(path, 1 << 20, &j, &err) == 0) {
        int64_t pending = tt_journal_pending(j), seen = 0, pos;
        if (tt_journal_each(j, count, &seen, &err) < 0 || seen != pending)
            abort();
        while (tt_journal_next(j, rec, &pos, &err) == 1)
            if (tt_journal_done(j, pos, &err) < 0)
                abort();
        if (tt_journal_pending(j) != 0 || tt_journal_bytes(j) != 16)
            abort();
        tt_journal_close(j);
    }
    remove_all(path);
    free(rec);
    return 0;
}
