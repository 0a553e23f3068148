/*
 * fuzz_support.h - what every libFuzzer harness of tests/fuzz/ shares: a scratch directory in
 * memory, file writing, and the one way a harness reports a broken invariant.
 *
 * Harnesses run under ASan and UBSan; a crash, a leak or undefined behaviour is a finding.
 * A harness that checks something beyond "no crash" (a failed import left nothing behind,
 * an answer is valid JSON) calls fz_fail, which aborts: libFuzzer saves the input as a crash.
 */
#ifndef TT_FUZZ_SUPPORT_H
#define TT_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Quiets the engine's log (TT_LOG_LEVEL=error unless set), keeps OpenMP and OpenBLAS to one
 * thread (unless their variables are set), and makes a scratch directory for
 * this process under $TMPDIR, else /dev/shm when it exists (no disk syncs), else /tmp;
 * removed at a normal exit (scripts/run-fuzz points TMPDIR at a directory of its own and
 * removes it, which covers crashes too). Call first in LLVMFuzzerInitialize. Returns its path
 * (static storage).
 */
const char *fz_init(const char *harness);
/* The scratch directory of fz_init. */
const char *fz_dir(void);
/* "<scratch>/<name>" into @buf (@cap bytes); returns @buf. */
char *fz_path(char *buf, size_t cap, const char *name);
/* Writes @size bytes of @data to @path, replacing it; aborts when it cannot. */
void fz_write(const char *path, const uint8_t *data, size_t size);
/* Removes @path and everything below it (nothing when missing). */
void fz_rmtree(const char *path);
/* True when FZ_VERBOSE is set: harnesses then print what the engine answered. */
bool fz_verbose(void);
/* Reports a broken invariant on stderr and aborts, so libFuzzer keeps the input. */
void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
