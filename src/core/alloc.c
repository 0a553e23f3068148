#include "tt/core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "tunetrail: out of memory allocating %zu bytes\n", n);
    abort();
}

void *tt_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *tt_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *tt_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

void *tt_aligned_alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0)
        oom(n);
    return p;
}

char *tt_strdup(const char *s)
{
    return tt_strndup(s, strlen(s));
}

char *tt_strndup(const char *s, size_t n)
{
    char *p = tt_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void tt_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap;

    if (need <= c)
        return;
    c = c ? c : 16;
    while (c < need)
        c += c / 2 + 16;
    *p = tt_realloc(*p, c * elem);
    *cap = c;
}
