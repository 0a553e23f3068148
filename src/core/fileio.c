#include "tt/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int tt_mkdirs(const char *path, tt_err *err)
{
    char buf[1024];
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(buf))
        return tt_err_set(err, TT_EINVAL, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return tt_err_set(err, TT_EIO, "cannot create directory %s: %s", buf, strerror(errno));
        buf[i] = (i == n) ? '\0' : '/';
    }
    return 0;
}

static int parent_dir(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 1;

    if (n >= cap)
        return -1;
    if (!slash)
        memcpy(dir, ".", 2);
    else if (n == 0)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return 0;
}

static unsigned tmp_counter;

int tt_atomic_open(tt_atomic_file *f, const char *path, tt_err *err)
{
    char dir[1024];
    int rc;

    memset(f, 0, sizeof(*f));
    f->fd = -1;
    if (strlen(path) >= sizeof(f->path) || parent_dir(path, dir, sizeof(dir)) < 0)
        return tt_err_set(err, TT_EINVAL, "path too long: %s", path);
    rc = tt_mkdirs(dir, err);
    if (rc < 0)
        return rc;
    snprintf(f->path, sizeof(f->path), "%s", path);
    /* Unique per process and per call, so concurrent writers never share a temporary. */
    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.%ld.%u", path, (long)getpid(),
             __atomic_fetch_add(&tmp_counter, 1u, __ATOMIC_RELAXED));
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return tt_err_set(err, TT_EIO, "cannot create %s: %s", f->tmp, strerror(errno));
    return 0;
}

int tt_atomic_write(tt_atomic_file *f, const void *p, size_t n, tt_err *err)
{
    const char *b = p;

    while (n > 0) {
        ssize_t w = write(f->fd, b, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return tt_err_set(err, TT_EIO, "cannot write %s: %s", f->tmp, strerror(errno));
        }
        b += w;
        n -= (size_t)w;
        f->written += w;
    }
    return 0;
}

int tt_atomic_pad(tt_atomic_file *f, size_t align, tt_err *err)
{
    static const char zeros[256];
    size_t rem = (size_t)(f->written % (int64_t)align);

    if (rem == 0)
        return 0;
    rem = align - rem;
    while (rem > 0) {
        size_t k = rem > sizeof(zeros) ? sizeof(zeros) : rem;
        int rc = tt_atomic_write(f, zeros, k, err);
        if (rc < 0)
            return rc;
        rem -= k;
    }
    return 0;
}

int tt_atomic_pwrite(tt_atomic_file *f, const void *p, size_t n, int64_t offset, tt_err *err)
{
    ssize_t w = pwrite(f->fd, p, n, offset);
    if (w != (ssize_t)n)
        return tt_err_set(err, TT_EIO, "cannot write %s: %s", f->tmp, strerror(errno));
    return 0;
}

int tt_atomic_commit(tt_atomic_file *f, tt_err *err)
{
    char dir[1024];
    int dfd;

    if (fsync(f->fd) != 0) {
        int rc = tt_err_set(err, TT_EIO, "cannot sync %s: %s", f->tmp, strerror(errno));
        tt_atomic_abort(f);
        return rc;
    }
    close(f->fd);
    f->fd = -1;
    if (rename(f->tmp, f->path) != 0) {
        int rc = tt_err_set(err, TT_EIO, "cannot rename %s: %s", f->tmp, strerror(errno));
        unlink(f->tmp);
        return rc;
    }
    /* The rename itself is durable only once the directory entry is synced. */
    if (parent_dir(f->path, dir, sizeof(dir)) == 0) {
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return 0;
}

void tt_atomic_abort(tt_atomic_file *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
    if (f->tmp[0])
        unlink(f->tmp);
}

int tt_write_file_atomic(const char *path, const void *p, size_t n, tt_err *err)
{
    tt_atomic_file f;
    int rc = tt_atomic_open(&f, path, err);

    if (rc == 0)
        rc = tt_atomic_write(&f, p, n, err);
    if (rc == 0)
        return tt_atomic_commit(&f, err);
    tt_atomic_abort(&f);
    return rc;
}

/*
 * Model files are read into private memory rather than mapped: a file mapped by a running
 * service that someone overwrites in place (cp over it, truncate) would kill the service with
 * SIGBUS on the next access, and the checksum check reads every byte at load anyway.
 * `train` replaces files by rename, so the old inode a service still uses is never touched;
 * private memory makes in-place accidents safe too.
 */
int tt_map_open(tt_map *m, const char *path, tt_err *err)
{
    struct stat st;
    size_t done = 0;
    int fd;

    memset(m, 0, sizeof(*m));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tt_err_set(err, errno == ENOENT ? TT_ENOTFOUND : TT_EIO, "cannot open %s: %s", path,
                          strerror(errno));
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        return tt_err_set(err, TT_ECORRUPT, "%s: empty or unreadable file", path);
    }
    if (posix_memalign(&m->data, 64, (size_t)st.st_size) != 0) {
        close(fd);
        return tt_err_set(err, TT_ENOMEM, "%s: cannot allocate %lld bytes", path,
                          (long long)st.st_size);
    }
    while (done < (size_t)st.st_size) {
        ssize_t r = read(fd, (char *)m->data + done, (size_t)st.st_size - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
    /* A file that shrank while being read is as truncated as one that was short. */
    m->size = done;
    return 0;
}

void tt_map_close(tt_map *m)
{
    free(m->data);
    m->data = NULL;
    m->size = 0;
}
