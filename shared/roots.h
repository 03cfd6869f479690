/* roots.h: path roots, the folders a worker may read and write on behalf
 * of a job (worker --roots DIR,...).
 *
 * Every local path a job names (compose sources, timeline files, outputs,
 * covers, upload files, and the fetch cache folder) is resolved with
 * realpath(3), symlinks followed, and must then lie inside one root; for a
 * file still to be written (an output) its folder is resolved instead.
 * A path outside every root fails VODQ_ERR_INVALID with err->permanent set,
 * naming the path and the roots. With no roots configured every path is
 * allowed (the worker warns once at start).
 *
 * Hook for the fetch cache: where the cache folder is configured, call
 * vodq_roots_check(roots, "cache", dir, VODQ_ROOTS_DIR, ...) once at start
 * and refuse to start when it fails. */
#ifndef VODQ_ROOTS_H
#define VODQ_ROOTS_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>

struct vodq_roots {
    char **dirs; /* realpath of each root; owned */
    size_t n;    /* 0 = no restriction */
    char *shown; /* "dir1, dir2" for messages; owned */
};

enum vodq_roots_kind {
    VODQ_ROOTS_READ,  /* an existing file that is read */
    VODQ_ROOTS_WRITE, /* a file that is (re)written: its folder must be inside,
                       * and the file itself when it exists (a symlink) */
    VODQ_ROOTS_DIR,   /* a folder that must exist inside a root */
};

/* Parses "DIR,DIR,..." (spaces around commas ignored; "" = no roots) into
 * *r, resolving each root with realpath. A root that does not exist or is
 * not a folder fails VODQ_ERR_INVALID naming it. Clean up with
 * vodq_roots_cleanup(), also after a failure. */
enum vodq_rc vodq_roots_parse(struct vodq_roots *r, const char *list, struct vodq_err *err);
void vodq_roots_cleanup(struct vodq_roots *r);

/* Checks path (named `what` in the message: "upload.file",
 * "compose.output", ...) against r. On success writes the resolved path
 * into resolved (cap bytes; may be NULL) so that the caller opens exactly
 * what was checked. r NULL or without roots: VODQ_OK, resolved = path.
 * A path like "scheme:..." other than an http(s) URL is refused while roots
 * are set (FFmpeg would read it through a protocol); http(s) URLs pass
 * unchanged (remote inputs are the fetcher's business). */
enum vodq_rc vodq_roots_check(const struct vodq_roots *r, const char *what, const char *path,
                              enum vodq_roots_kind kind, char *resolved, size_t cap,
                              struct vodq_err *err);

#endif
