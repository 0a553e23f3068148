/*
 * fileio.h - durable file writes (temporary name, fsync, rename) and whole-file loads.
 */
#ifndef TT_FILEIO_H
#define TT_FILEIO_H

#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"

/* A file being written under "<path>.tmp.<pid>"; it appears at @path only on commit. */
typedef struct tt_atomic_file {
    int fd;
    char path[1024];
    char tmp[1100];
    int64_t written;
} tt_atomic_file;

/* Creates parent directories as needed and opens the temporary file. */
int tt_atomic_open(tt_atomic_file *f, const char *path, tt_err *err);
/* Writes all @n bytes. */
int tt_atomic_write(tt_atomic_file *f, const void *p, size_t n, tt_err *err);
/* Pads with zero bytes up to the next multiple of @align bytes from the file start. */
int tt_atomic_pad(tt_atomic_file *f, size_t align, tt_err *err);
/* Writes @n bytes at absolute @offset (for headers filled in last). */
int tt_atomic_pwrite(tt_atomic_file *f, const void *p, size_t n, int64_t offset, tt_err *err);
/* fsync, rename over the final path, fsync the directory. Closes @f either way. */
int tt_atomic_commit(tt_atomic_file *f, tt_err *err);
/* Closes and deletes the temporary file. Safe after a failed commit. */
void tt_atomic_abort(tt_atomic_file *f);

/* Writes a whole small file (sidecars) atomically. */
int tt_write_file_atomic(const char *path, const void *p, size_t n, tt_err *err);

/* mkdir -p. */
int tt_mkdirs(const char *path, tt_err *err);

/*
 * A whole file in private, 64-byte aligned memory (see fileio.c for why not mmap): stable
 * whatever happens to the file afterwards.
 */
typedef struct tt_map {
    void *data;
    size_t size;
} tt_map;

int tt_map_open(tt_map *m, const char *path, tt_err *err);
void tt_map_close(tt_map *m);

#endif
