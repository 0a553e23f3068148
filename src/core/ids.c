/*
 * Open-addressing hash table (linear probing, power-of-two capacity, load <= 0.5) whose
 * slots hold dense ids; strings live in large arena blocks so interning millions of UUIDs
 * costs two allocations per block rather than one per id.
 */
#include "tt/ids.h"
#include "tt/core.h"

#include <string.h>

#define ARENA_BLOCK (1 << 20)

struct tt_ids {
    char **names;      /* dense id -> string */
    uint32_t *lens;    /* dense id -> length */
    size_t ncap;
    int32_t n;
    int32_t *slots;    /* -1 = empty */
    uint64_t mask;
    char **blocks;     /* arena blocks */
    size_t nblocks, bcap;
    size_t bused, bsize;
};

tt_ids *tt_ids_new(void)
{
    tt_ids *ids = tt_calloc(1, sizeof(*ids));
    ids->mask = 1023;
    ids->slots = tt_malloc((ids->mask + 1) * sizeof(int32_t));
    memset(ids->slots, 0xff, (ids->mask + 1) * sizeof(int32_t));
    return ids;
}

void tt_ids_free(tt_ids *ids)
{
    if (!ids)
        return;
    for (size_t i = 0; i < ids->nblocks; i++)
        free(ids->blocks[i]);
    free(ids->blocks);
    free(ids->names);
    free(ids->lens);
    free(ids->slots);
    free(ids);
}

static char *arena_copy(tt_ids *ids, const char *s, size_t len)
{
    char *p;

    if (ids->nblocks == 0 || ids->bused + len + 1 > ids->bsize) {
        size_t sz = len + 1 > ARENA_BLOCK ? len + 1 : ARENA_BLOCK;
        TT_GROW(ids->blocks, ids->bcap, ids->nblocks + 1);
        ids->blocks[ids->nblocks++] = tt_malloc(sz);
        ids->bsize = sz;
        ids->bused = 0;
    }
    p = ids->blocks[ids->nblocks - 1] + ids->bused;
    memcpy(p, s, len);
    p[len] = '\0';
    ids->bused += len + 1;
    return p;
}

static void rehash(tt_ids *ids)
{
    uint64_t mask = ids->mask * 2 + 1;
    int32_t *slots = tt_malloc((mask + 1) * sizeof(int32_t));

    memset(slots, 0xff, (mask + 1) * sizeof(int32_t));
    for (int32_t i = 0; i < ids->n; i++) {
        uint64_t h = tt_hash64(ids->names[i], ids->lens[i]) & mask;
        while (slots[h] >= 0)
            h = (h + 1) & mask;
        slots[h] = i;
    }
    free(ids->slots);
    ids->slots = slots;
    ids->mask = mask;
}

static uint64_t probe(const tt_ids *ids, const char *s, size_t len)
{
    uint64_t h = tt_hash64(s, len) & ids->mask;

    for (;;) {
        int32_t id = ids->slots[h];
        if (id < 0 || (ids->lens[id] == len && memcmp(ids->names[id], s, len) == 0))
            return h;
        h = (h + 1) & ids->mask;
    }
}

int32_t tt_ids_find(const tt_ids *ids, const char *s, size_t len)
{
    return ids->slots[probe(ids, s, len)];
}

int32_t tt_ids_intern(tt_ids *ids, const char *s, size_t len)
{
    uint64_t h = probe(ids, s, len);
    int32_t id = ids->slots[h];

    if (id >= 0)
        return id;
    id = ids->n++;
    if ((size_t)ids->n > ids->ncap) {
        TT_GROW(ids->names, ids->ncap, (size_t)ids->n);
        ids->lens = tt_realloc(ids->lens, ids->ncap * sizeof(uint32_t));
    }
    ids->names[id] = arena_copy(ids, s, len);
    ids->lens[id] = (uint32_t)len;
    ids->slots[h] = id;
    if ((uint64_t)ids->n * 2 > ids->mask)
        rehash(ids);
    return id;
}

const char *tt_ids_name(const tt_ids *ids, int32_t i)
{
    return (i >= 0 && i < ids->n) ? ids->names[i] : NULL;
}

int32_t tt_ids_count(const tt_ids *ids)
{
    return ids->n;
}
