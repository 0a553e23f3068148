/*
 * tfevents.h - training curves as TensorBoard event files, written without TensorFlow.
 *
 * A file is a sequence of TFRecords, each holding one serialized tensorflow.Event:
 *
 *   u64 LE payload length | u32 LE masked CRC-32C of those 8 bytes | payload |
 *   u32 LE masked CRC-32C of the payload
 *
 * where mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8. The first record is
 * Event {wall_time, file_version: "brain.Event:2"}; each scalar is
 * Event {wall_time, step, summary {value {tag, simple_value}}}. `tensorboard --logdir DIR`
 * shows them. docs/pipeline.md describes the files; tests/tools/tfevents_check.py decodes
 * them with the protobuf library.
 *
 * A writer is not thread-safe: use it from one thread at a time.
 */
#ifndef TT_TFEVENTS_H
#define TT_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "tt/err.h"

typedef struct tt_tfevents tt_tfevents;

/*
 * Creates directory @dir (and its parents) and, in it, the file
 * "events.out.tfevents.<unix seconds>.<hostname>", whose first record is the file-version
 * Event. Characters of the hostname other than [A-Za-z0-9._-] become '_'. Never opens an
 * existing file: when the name is taken (two writers in one second), ".1", ".2", ... is
 * appended. On success *@out is a new writer, to be closed with tt_tfevents_close.
 *
 * Errors: TT_EINVAL (NULL or empty @dir, NULL @out), TT_EIO (directory or file cannot be
 * created or written).
 */
int tt_tfevents_open(const char *dir, tt_tfevents **out, tt_err *err);

/*
 * Appends Event {wall_time: now, step: @step, summary {value {tag: @tag, simple_value}}}.
 * TensorBoard stores @value as a 32-bit float: it is rounded, and magnitudes beyond the float
 * range become +-infinity. The record reaches the file (the kernel) before this returns;
 * tt_tfevents_flush makes it durable.
 *
 * Errors: TT_EINVAL (NULL @w or @tag, empty @tag), TT_EIO (write failed; the file may end in
 * a partial record, which TensorBoard ignores, and every later call fails with TT_EIO).
 */
int tt_tfevents_scalar(tt_tfevents *w, const char *tag, int64_t step, double value, tt_err *err);

/* Flushes and fsyncs the file. Errors: TT_EINVAL (NULL @w), TT_EIO. */
int tt_tfevents_flush(tt_tfevents *w, tt_err *err);

/* The path of the file. Borrowed: valid until tt_tfevents_close(@w). */
const char *tt_tfevents_path(const tt_tfevents *w);

/* Flushes (errors are dropped: call tt_tfevents_flush first to see them) and frees @w. NULL
 * does nothing. */
void tt_tfevents_close(tt_tfevents *w);

/* CRC-32C (Castagnoli, reflected 0x82F63B78) of @n bytes; crc32c("123456789") = 0xE3069283. */
uint32_t tt_crc32c(const void *p, size_t n);

#endif
