/*
 * String id <-> dense id maps: first-seen order, stability across table growth, lengths
 * rather than NUL terminators deciding identity.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "tt/core.h"
#include "tt/ids.h"

static int32_t intern(tt_ids *ids, const char *s)
{
    return tt_ids_intern(ids, s, strlen(s));
}

static int32_t find(const tt_ids *ids, const char *s)
{
    return tt_ids_find(ids, s, strlen(s));
}

/* A UUID-like id for @i, as the platform uses. */
static void uuid(char *buf, size_t cap, int i)
{
    uint64_t h = tt_hash64(&i, sizeof(i));
    snprintf(buf, cap, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(h >> 32),
             (unsigned)(h >> 16) & 0xffff, (unsigned)i & 0xfff, (unsigned)(h >> 4) & 0xfff,
             (unsigned long long)i);
}

Test(ids, a_hundred_thousand_ids_survive_rehashing)
{
    enum { N = 100000 };
    tt_ids *ids = tt_ids_new();
    char buf[64];

    cr_assert_eq(tt_ids_count(ids), 0);
    for (int i = 0; i < N; i++) {
        uuid(buf, sizeof(buf), i);
        cr_assert_eq(intern(ids, buf), i, "first-seen order");
        /* Look back at an early id while the table grows through many rehashes. */
        if ((i & (i - 1)) == 0) {
            uuid(buf, sizeof(buf), i / 2);
            cr_assert_eq(find(ids, buf), i / 2);
        }
    }
    cr_assert_eq(tt_ids_count(ids), N);
    for (int i = 0; i < N; i++) {
        uuid(buf, sizeof(buf), i);
        cr_assert_eq(find(ids, buf), i);
        cr_assert_eq(intern(ids, buf), i, "interning again returns the same id");
        cr_assert_str_eq(tt_ids_name(ids, i), buf);
    }
    cr_assert_eq(tt_ids_count(ids), N, "re-interning adds nothing");
    uuid(buf, sizeof(buf), N);
    cr_assert_eq(find(ids, buf), -1);
    tt_ids_free(ids);
}

Test(ids, short_sequential_ids)
{
    enum { N = 100000 };
    tt_ids *ids = tt_ids_new();
    char buf[32];

    for (int i = 0; i < N; i++) {
        snprintf(buf, sizeof(buf), "%d", i);
        cr_assert_eq(intern(ids, buf), i);
    }
    for (int i = N - 1; i >= 0; i--) {
        snprintf(buf, sizeof(buf), "%d", i);
        cr_assert_eq(find(ids, buf), i);
    }
    cr_assert_eq(find(ids, "100000"), -1);
    cr_assert_eq(find(ids, "-1"), -1);
    tt_ids_free(ids);
}

Test(ids, empty_string_is_an_id)
{
    tt_ids *ids = tt_ids_new();

    cr_assert_eq(find(ids, ""), -1);
    cr_assert_eq(intern(ids, "a"), 0);
    cr_assert_eq(intern(ids, ""), 1);
    cr_assert_eq(intern(ids, ""), 1);
    cr_assert_eq(find(ids, ""), 1);
    cr_assert_str_eq(tt_ids_name(ids, 1), "");
    cr_assert_eq(tt_ids_count(ids), 2);
    tt_ids_free(ids);
}

Test(ids, ids_that_are_prefixes_of_each_other_stay_apart)
{
    const char *names[] = {"track1", "track10", "track100", "track", "t", "track1 ", "Track1"};
    const int n = (int)(sizeof(names) / sizeof(names[0]));
    tt_ids *ids = tt_ids_new();

    for (int i = 0; i < n; i++)
        cr_assert_eq(intern(ids, names[i]), i, "%s", names[i]);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(find(ids, names[i]), i, "%s", names[i]);
        cr_assert_str_eq(tt_ids_name(ids, i), names[i]);
    }
    /* Lengths decide: a slice of a longer buffer is its own id. */
    cr_assert_eq(tt_ids_find(ids, "track100", 6), 0);
    cr_assert_eq(tt_ids_find(ids, "track100", 7), 1);
    cr_assert_eq(tt_ids_find(ids, "track100", 5), 3);
    cr_assert_eq(tt_ids_find(ids, "track100", 0), -1);
    cr_assert_eq(tt_ids_find(ids, "track1000", 9), -1);
    tt_ids_free(ids);
}

Test(ids, slices_of_a_buffer_are_copied)
{
    char line[] = "u1,u22,u333";
    tt_ids *ids = tt_ids_new();

    cr_assert_eq(tt_ids_intern(ids, line, 2), 0);
    cr_assert_eq(tt_ids_intern(ids, line + 3, 3), 1);
    cr_assert_eq(tt_ids_intern(ids, line + 7, 4), 2);
    /* The map keeps its own NUL-terminated copies. */
    memset(line, 'x', sizeof(line) - 1);
    cr_assert_str_eq(tt_ids_name(ids, 0), "u1");
    cr_assert_str_eq(tt_ids_name(ids, 1), "u22");
    cr_assert_str_eq(tt_ids_name(ids, 2), "u333");
    cr_assert_eq(find(ids, "u22"), 1);
    tt_ids_free(ids);
}

Test(ids, embedded_nul_bytes_are_part_of_the_id)
{
    tt_ids *ids = tt_ids_new();

    cr_assert_eq(tt_ids_intern(ids, "ab\0c", 4), 0);
    cr_assert_eq(tt_ids_intern(ids, "ab\0d", 4), 1);
    cr_assert_eq(tt_ids_intern(ids, "ab", 2), 2);
    cr_assert_eq(tt_ids_find(ids, "ab\0c", 4), 0);
    cr_assert_eq(tt_ids_find(ids, "ab\0d", 4), 1);
    cr_assert_eq(tt_ids_count(ids), 3);
    tt_ids_free(ids);
}

Test(ids, long_ids_and_bad_dense_ids)
{
    tt_ids *ids = tt_ids_new();
    size_t len = (size_t)3 << 20; /* longer than an arena block */
    char *big = tt_malloc(len + 1);

    memset(big, 'q', len);
    big[len] = '\0';
    cr_assert_eq(intern(ids, "before"), 0);
    cr_assert_eq(tt_ids_intern(ids, big, len), 1);
    cr_assert_eq(intern(ids, "after"), 2);
    cr_assert_eq(tt_ids_find(ids, big, len), 1);
    cr_assert_eq(strlen(tt_ids_name(ids, 1)), len);
    cr_assert_str_eq(tt_ids_name(ids, 0), "before");
    cr_assert_str_eq(tt_ids_name(ids, 2), "after");
    cr_assert_null(tt_ids_name(ids, 3));
    cr_assert_null(tt_ids_name(ids, -1));
    free(big);
    tt_ids_free(ids);
    tt_ids_free(NULL);
}
