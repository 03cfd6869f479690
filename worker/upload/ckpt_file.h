/* ckpt_file.h: a struct vodq_ckpt kept in a JSON file (the standalone
 * vodq-upload CLI's checkpoint; the worker keeps its own in Redis).
 *
 * The file holds one flat JSON object of string fields to string values.
 * Every save rewrites it whole to "<path>.tmp" and renames that over the
 * path, so a crash (kill -9) leaves either the old or the new content,
 * never a torn file. clear() deletes the file.
 *
 * Not thread-safe; one handle per file and process. */
#ifndef VODQ_UPLOAD_CKPT_FILE_H
#define VODQ_UPLOAD_CKPT_FILE_H

#include "shared/err.h"
#include "worker/executor.h"

struct vodq_ckpt_file;

/* Opens the checkpoint at path (copied): loads it when the file exists
 * (a file that is not a JSON object of strings is an error naming the
 * path), starts empty when it does not. Returns a new handle in *out;
 * free it with vodq_ckpt_file_free(). */
enum vodq_rc vodq_ckpt_file_open(const char *path, struct vodq_ckpt_file **out,
                                 struct vodq_err *err);

/* Returns the handle's struct vodq_ckpt (borrowed; valid until the handle is freed). */
struct vodq_ckpt *vodq_ckpt_file_ckpt(struct vodq_ckpt_file *f);

/* Number of fields currently held. */
size_t vodq_ckpt_file_count(const struct vodq_ckpt_file *f);

/* Frees the handle (the file stays as last saved). NULL is fine. */
void vodq_ckpt_file_free(struct vodq_ckpt_file *f);

#endif
