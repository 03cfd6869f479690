/* config.h: table-driven configuration from defaults, a file, the
 * environment and flags (in that order; later wins).
 *
 * A program declares a table of struct vodq_opt pointing at its own
 * variables and calls vodq_config_load(). The file, named by --config FILE
 * or $VODQ_CONFIG, is INI (libinih): "name = value" lines, '#' or ';'
 * comments. [vodq] (or [common]) is shared: each program takes the names it
 * knows and skips the rest. [scheduler], [worker], [vodqctl]... (argv[0]'s
 * base name without "vodq-") belong to one program, and so do lines before
 * any section (the older one-file-per-program form): there an unknown name
 * is an error. Other programs' sections are skipped. */
#ifndef VODQ_CONFIG_H
#define VODQ_CONFIG_H

#include "shared/err.h"

#include <stdbool.h>
#include <stdio.h>

enum vodq_opt_type {
    VODQ_OPT_STR,  /* dst is char ** (malloc'd; free with vodq_config_free) */
    VODQ_OPT_INT,  /* dst is long long *, checked against min..max */
    VODQ_OPT_BOOL, /* dst is bool *; a flag without value sets true */
};

struct vodq_opt {
    const char *name;        /* flag "--name" and file key "name" */
    const char *env;         /* environment variable, or NULL */
    enum vodq_opt_type type; /* kind of dst */
    const char *def;         /* default, as text (NULL = empty/0/false) */
    const char *help;        /* one line for --help */
    void *dst;               /* where the value goes */
    long long min, max;      /* range for VODQ_OPT_INT (both 0 = any) */
};

/* Loads defaults, then the config file, then the environment, then flags
 * from argv[1..argc-1]. Non-flag arguments are moved to the front of
 * argv[1..] in order and their count is stored in *npos. "--help"/"-h"
 * sets *help (no error). Unknown flags, bad numbers and out-of-range
 * values fail with VODQ_ERR_INVALID naming the option and where it came
 * from. */
enum vodq_rc vodq_config_load(const struct vodq_opt *opts, int n, int argc, char **argv,
                              int *npos, bool *help, struct vodq_err *err);

/* Prints "Usage: prog synopsis", the description, and every option with
 * its environment variable and default. */
void vodq_config_usage(FILE *f, const char *prog, const char *synopsis, const char *desc,
                       const struct vodq_opt *opts, int n);

/* The start of every program's main(): loads the options, prints --help
 * (to stdout) or an error (to stderr, prefixed with prog). Returns -1 when
 * the program should go on, else the exit status (0 after --help, 2 on a
 * bad option or, when max_pos >= 0, more than max_pos positional args). */
int vodq_config_main(const struct vodq_opt *opts, int n, int argc, char **argv, int *npos,
                     int max_pos, const char *prog, const char *synopsis, const char *desc);

/* Reads a file of secrets (HTTP tokens, a keyring, a webhook secret), one
 * entry per line of whitespace-separated words ('#' lines and blank lines
 * skipped). When the file's mode has any bit of `mask` (e.g. 007: others may
 * read it), writes "<what> <path> is readable by other users (mode 644);
 * chmod 600 it" into warn (else warn = ""). Calls each(ctx, lineno, words,
 * nwords, err) for every entry with up to 2 words stored (nwords may be more);
 * each returns false with err set to stop. The line buffer is wiped.
 * Returns the number of entries (0: none, for the caller to refuse), or -1
 * with err set (VODQ_ERR_INVALID naming what and path when the file cannot be
 * read). */
int vodq_config_secret_lines(const char *what, const char *path, unsigned mask, char *warn,
                             size_t warn_cap,
                             bool (*each)(void *ctx, int lineno, char **w, int nw,
                                          struct vodq_err *err),
                             void *ctx, struct vodq_err *err);

/* Splits a line of whitespace-separated words in place (each word gets a
 * NUL). A blank line or one starting with '#' has 0 words. Stores up to
 * max word pointers and returns how many words the line has (which may be
 * more than max). */
int vodq_config_words(char *line, char **words, int max);

/* Frees the strings that vodq_config_load() allocated for STR options. */
void vodq_config_free(const struct vodq_opt *opts, int n);

#endif
