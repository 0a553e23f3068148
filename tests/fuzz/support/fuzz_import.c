/*
 * Import harness helpers: see fuzz_import.h.
 */
#include "fuzz_import.h"
#include "fuzz_support.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tt/core.h"

static uint8_t *template;
static size_t template_len;
static tt_store *current; /* the database of the last import */
static bool dirty;        /* which that import wrote to */

static void must(int rc, const tt_err *err, const char *what)
{
    if (rc < 0)
        fz_fail("%s: %s", what, tt_err_msg(err, rc));
}

static void db_url(char *url, size_t cap, const char *file)
{
    char path[512];
    snprintf(url, cap, "sqlite:///%s", fz_path(path, sizeof(path), file));
}

/* A migrated, empty database, kept in memory: closing it checkpoints it into one file. */
static void make_template(void)
{
    char url[600], path[512];
    tt_store *s = NULL;
    tt_err err = {0};
    FILE *f;
    long n;

    db_url(url, sizeof(url), "template.db");
    must(tt_store_open(url, &s, &err), &err, "create the template database");
    tt_store_close(s);
    f = fopen(fz_path(path, sizeof(path), "template.db"), "rb");
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) != 0)
        fz_fail("read the template database");
    template_len = (size_t)n;
    template = tt_malloc(template_len);
    if (fread(template, 1, template_len, f) != template_len)
        fz_fail("read the template database");
    fclose(f);
}

/* An empty database: the last one when no import wrote to it, else a fresh copy. */
static tt_store *store_fresh(void)
{
    static const char *const files[] = {"import.db", "import.db-wal", "import.db-shm",
                                        "import.db-journal"};
    char url[600], path[512];
    tt_err err = {0};

    if (!template)
        make_template();
    if (current && !dirty)
        return current;
    tt_store_close(current);
    current = NULL;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (unlink(fz_path(path, sizeof(path), files[i])) != 0 && errno != ENOENT)
            fz_fail("remove %s", path);
    fz_write(fz_path(path, sizeof(path), "import.db"), template, template_len);
    db_url(url, sizeof(url), "import.db");
    must(tt_store_open(url, &current, &err), &err, "open a fresh database");
    dirty = false;
    return current;
}

static const char *const tables[] = {"artists", "tracks", "users", "interactions"};

static void count_rows(tt_store *s, int64_t n[4])
{
    tt_err err = {0};

    for (int i = 0; i < 4; i++)
        must(tt_store_count(s, tables[i], &n[i], &err), &err, "count");
}

/* What any import that returned @rc must have left in the database it started on empty. */
static void check_one(tt_store *s, int rc, const tt_import_stats *st, const char *what)
{
    int64_t n[4], wrote[4] = {st->artists, st->tracks, st->users, st->interactions};

    count_rows(s, n);
    if (rc >= 0 && st->rows != st->artists + st->tracks + st->users + st->interactions)
        fz_fail("%s: %lld rows is not the sum of its kinds", what, (long long)st->rows);
    for (int i = 0; i < 4; i++) {
        if (rc < 0 && n[i] != 0)
            fz_fail("%s failed (%s) but left %lld rows in %s", what, tt_strerror(rc),
                    (long long)n[i], tables[i]);
        if (rc >= 0 && n[i] > wrote[i])
            fz_fail("%s: %lld rows in %s, it says it wrote %lld", what, (long long)n[i], tables[i],
                    (long long)wrote[i]);
    }
}

/*
 * After importing again what is already stored: keyed rows are updated, never added; only
 * interactions without an event_id, events of their own, are stored again.
 */
static bool same_rows(const int64_t before[4], const int64_t after[4], const tt_import_stats *st)
{
    return before[0] == after[0] && before[1] == after[1] && before[2] == after[2] &&
           after[3] >= before[3] && after[3] <= before[3] + st->interactions;
}

static void count_report(void *ctx, const char *message)
{
    if (!message || !*message)
        fz_fail("a skipped row reported without a message");
    ++*(int64_t *)ctx;
}

void fz_import_both(fz_import_fn fn, void *ctx, const char *what)
{
    tt_import_opts strict = tt_import_opts_default(), skip = tt_import_opts_default();
    tt_import_stats st1 = {0}, st2 = {0};
    tt_store *s = store_fresh();
    int64_t before[4], after[4], reported = 0;
    int rc1, rc2;

    rc1 = fn(s, &strict, &st1, ctx);
    check_one(s, rc1, &st1, what);
    count_rows(s, before);
    skip.flags = TT_IMPORT_SKIP_BAD;
    skip.report = count_report;
    skip.report_ctx = &reported;
    rc2 = fn(s, &skip, &st2, ctx);
    count_rows(s, after);
    if (rc1 >= 0 &&
        (rc2 < 0 || st2.skipped != 0 || st2.rows != st1.rows || !same_rows(before, after, &st2)))
        fz_fail("%s: strict import wrote %lld rows; skipping bad rows then returned %d, "
                "wrote %lld, skipped %lld",
                what, (long long)st1.rows, rc2, (long long)st2.rows, (long long)st2.skipped);
    if (rc1 == TT_EPARSE && rc2 >= 0 && st2.skipped == 0)
        fz_fail("%s: a bad row stopped the strict import, but skipping bad rows skipped none",
                what);
    if (rc2 >= 0 && reported != st2.skipped)
        fz_fail("%s: %lld rows reported skipped, %lld counted", what, (long long)reported,
                (long long)st2.skipped);
    if (rc1 < 0)
        check_one(s, rc2, &st2, what);
    dirty = (rc1 >= 0 && st1.rows > 0) || (rc2 >= 0 && st2.rows > 0);
}

static void make_parents(const char *path)
{
    char buf[1024], *p;

    snprintf(buf, sizeof(buf), "%s", path);
    for (p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            fz_fail("mkdir %s", buf);
        *p = '/';
    }
}

void fz_write_parts(const char *dir, const char *const *names, const uint8_t *data, size_t size)
{
    const uint8_t *at = data, *end = data + size;
    char path[1024];

    fz_rmtree(dir);
    if (mkdir(dir, 0700) != 0)
        fz_fail("mkdir %s", dir);
    for (int i = 0; names[i] && at <= end; i++) {
        const uint8_t *ff = memchr(at, '\f', (size_t)(end - at));
        size_t n = ff ? (size_t)(ff - at) : (size_t)(end - at);
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        make_parents(path);
        fz_write(path, at, n);
        if (!ff)
            break;
        at = ff + 1;
    }
}
