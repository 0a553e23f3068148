/*
 * Shared harness helpers: see fuzz_support.h.
 */
#include "fuzz_support.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];
static pid_t owner;

static void cleanup(void)
{
    /* Only the process that made it: libFuzzer may fork, and a child must not remove it. */
    if (scratch[0] && getpid() == owner)
        fz_rmtree(scratch);
}

const char *fz_init(const char *harness)
{
    const char *base = getenv("TMPDIR");
    struct stat st;

    setenv("TT_LOG_LEVEL", "error", 0);
    /*
     * One thread for OpenMP (FAISS) and OpenBLAS, which idle threads would keep spinning:
     * an input is run on one core, and two harnesses share a machine of two.
     */
    setenv("OMP_NUM_THREADS", "1", 0);
    setenv("KMP_BLOCKTIME", "0", 0);
    setenv("OPENBLAS_NUM_THREADS", "1", 0);
    if ((!base || !*base) && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    snprintf(scratch, sizeof(scratch), "%s/tt-%s-XXXXXX", base && *base ? base : "/tmp", harness);
    if (!mkdtemp(scratch))
        fz_fail("cannot make a scratch directory %s", scratch);
    owner = getpid();
    atexit(cleanup);
    return scratch;
}

const char *fz_dir(void)
{
    return scratch;
}

char *fz_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", scratch, name);
    return buf;
}

void fz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");

    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        fz_fail("cannot write %s", path);
}

void fz_rmtree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char sub[1024];

    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        fz_rmtree(sub);
    }
    closedir(d);
    rmdir(path);
}

bool fz_verbose(void)
{
    const char *v = getenv("FZ_VERBOSE");
    return v && *v && strcmp(v, "0") != 0;
}

void fz_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz: invariant broken: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
