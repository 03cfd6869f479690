/* config.c: table-driven config loader (defaults, file, environment, flags). */
#include "shared/config.h"

#include <ini.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static enum vodq_rc set_value(const struct vodq_opt *o, const char *val, const char *from,
                              struct vodq_err *err)
{
    switch (o->type) {
    case VODQ_OPT_STR: {
        char **dst = o->dst;
        char *copy = strdup(val ? val : "");
        if (!copy)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        free(*dst);
        *dst = copy;
        return VODQ_OK;
    }
    case VODQ_OPT_INT: {
        long long *dst = o->dst;
        if (!val || (!*val && !strcmp(from, "default"))) {
            *dst = 0;
            return VODQ_OK;
        }
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || *end)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s (%s): '%s' is not an integer",
                                o->name, from, val);
        if ((o->min || o->max) && (v < o->min || v > o->max))
            return vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                "%s (%s): %lld is out of range %lld..%lld", o->name, from, v,
                                o->min, o->max);
        *dst = v;
        return VODQ_OK;
    }
    case VODQ_OPT_BOOL: {
        bool *dst = o->dst;
        if (!val || !*val || !strcmp(val, "0") || !strcasecmp(val, "false") ||
            !strcasecmp(val, "no") || !strcasecmp(val, "off")) {
            *dst = false;
            return VODQ_OK;
        }
        if (!strcmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
            !strcasecmp(val, "on")) {
            *dst = true;
            return VODQ_OK;
        }
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s (%s): '%s' is not a boolean", o->name,
                            from, val);
    }
    }
    return VODQ_ERR_INVALID;
}

static const struct vodq_opt *find(const struct vodq_opt *opts, int n, const char *name,
                                   size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

/* ---- The config file (INI through libinih) ----
 *
 * name = value lines; '#' or ';' at the start of a line, or after a space,
 * starts a comment. Lines before any [section] and lines in the program's
 * own section ([scheduler], [worker], [vodqctl], [compose], [upload]: the
 * program name without "vodq-") must name options the program knows.
 * Lines in [vodq] (or [common]) are shared by every program: each takes the
 * options it knows and skips the others. Other sections belong to other
 * programs and are skipped, so one file (VODQ_CONFIG) can serve them all. */

#define LINE_MAX_BYTES 199 /* libinih's INI_MAX_LINE (200) less the NUL */

struct ini_ctx {
    const struct vodq_opt *opts;
    int n;
    const char *path;
    const char *section; /* this program's section */
    FILE *f;
    int lineno;          /* of the line being parsed */
    int err_line;        /* first line our handler or reader refused, 0 if none */
    enum vodq_rc rc;
    struct vodq_err *err;
};

/* libinih's reader: one line per call; leading blanks are dropped so that
 * an indented line is never a continuation of the previous value. */
static char *ini_read(char *str, int num, void *stream)
{
    struct ini_ctx *c = stream;
    char line[4096];
    if (c->rc != VODQ_OK || !fgets(line, sizeof(line), c->f))
        return NULL;
    c->lineno++;
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t len = strcspn(s, "\r\n");
    if (len >= (size_t)num || len > LINE_MAX_BYTES) {
        c->err_line = c->lineno;
        c->rc = vodq_err_set(c->err, VODQ_ERR_INVALID, 0, "%s:%d: line longer than %d bytes",
                             c->path, c->lineno, LINE_MAX_BYTES);
        return NULL;
    }
    memcpy(str, s, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    return str;
}

static int ini_handle(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *c = user;
    if (c->rc != VODQ_OK)
        return 0;
    bool shared = !strcmp(section, "vodq") || !strcmp(section, "common");
    bool own = !*section || !strcmp(section, c->section);
    if (!shared && !own)
        return 1;
    /* a '#' comment after the value (libinih itself only knows ';') */
    char val[LINE_MAX_BYTES + 1];
    snprintf(val, sizeof(val), "%s", value);
    for (char *h = val; (h = strchr(h, '#')); h++)
        if (h == val || h[-1] == ' ' || h[-1] == '\t') {
            *h = '\0';
            break;
        }
    size_t e = strlen(val);
    while (e > 0 && (val[e - 1] == ' ' || val[e - 1] == '\t'))
        val[--e] = '\0';
    const struct vodq_opt *o = find(c->opts, c->n, name, strlen(name));
    if (!o) {
        if (shared)
            return 1;
        c->err_line = c->lineno;
        c->rc = vodq_err_set(c->err, VODQ_ERR_INVALID, 0, "%s:%d: unknown option '%s'%s%s%s",
                             c->path, c->lineno, name, *section ? " in [" : "", section,
                             *section ? "]" : "");
        return 0;
    }
    char from[300];
    snprintf(from, sizeof(from), "%s:%d", c->path, c->lineno);
    if ((c->rc = set_value(o, val, from, c->err)) != VODQ_OK) {
        c->err_line = c->lineno;
        return 0;
    }
    return 1;
}

static enum vodq_rc load_file(const struct vodq_opt *opts, int n, const char *path,
                              const char *section, struct vodq_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "config file %s: %s", path, strerror(errno));
    struct ini_ctx c = {opts, n, path, section, f, 0, 0, VODQ_OK, err};
    int bad = ini_parse_stream(ini_read, &c, ini_handle, &c);
    fclose(f);
    if (c.rc != VODQ_OK && (bad == 0 || bad >= c.err_line))
        return c.rc;
    if (bad > 0)
        return vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s:%d: expected 'name = value'", path, bad);
    if (bad < 0)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "config file %s: out of memory", path);
    return VODQ_OK;
}

/* The program's own section: argv[0]'s base name without "vodq-". */
static const char *own_section(int argc, char **argv)
{
    const char *p = argc > 0 && argv[0] ? argv[0] : "";
    const char *slash = strrchr(p, '/');
    p = slash ? slash + 1 : p;
    return strncmp(p, "vodq-", 5) == 0 ? p + 5 : p;
}

enum vodq_rc vodq_config_load(const struct vodq_opt *opts, int n, int argc, char **argv,
                              int *npos, bool *help, struct vodq_err *err)
{
    enum vodq_rc rc;
    *npos = 0;
    *help = false;
    for (int i = 0; i < n; i++)
        if ((rc = set_value(&opts[i], opts[i].def ? opts[i].def : "", "default", err)) != VODQ_OK)
            return rc;
    /* the config file: --config FILE or $VODQ_CONFIG */
    const char *cfg = getenv("VODQ_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            cfg = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            cfg = argv[i] + 9;
    }
    if (cfg && *cfg && (rc = load_file(opts, n, cfg, own_section(argc, argv), err)) != VODQ_OK)
        return rc;
    for (int i = 0; i < n; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v && (rc = set_value(&opts[i], v, opts[i].env, err)) != VODQ_OK)
            return rc;
    }
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || !a[1]) {
            argv[1 + (*npos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            *help = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "unknown flag '%s' (try --help)", a);
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 6 && !strncmp(name, "config", 6)) {
            if (!eq)
                i++;
            continue;
        }
        const struct vodq_opt *o = find(opts, n, name, len);
        bool negated = false;
        if (!o && len > 3 && !strncmp(name, "no-", 3)) {
            o = find(opts, n, name + 3, len - 3);
            negated = o && o->type == VODQ_OPT_BOOL;
            if (!negated)
                o = NULL;
        }
        if (!o)
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "unknown flag '--%.*s' (try --help)",
                                (int)len, name);
        const char *val;
        if (eq)
            val = eq + 1;
        else if (o->type == VODQ_OPT_BOOL)
            val = negated ? "false" : "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return vodq_err_set(err, VODQ_ERR_INVALID, 0, "--%s needs a value", o->name);
        if ((rc = set_value(o, val, "flag", err)) != VODQ_OK)
            return rc;
    }
    return VODQ_OK;
}

void vodq_config_usage(FILE *f, const char *prog, const char *synopsis, const char *desc,
                       const struct vodq_opt *opts, int n)
{
    fprintf(f, "Usage: %s %s\n\n%s\n\nOptions (flag, environment, default):\n", prog, synopsis,
            desc);
    for (int i = 0; i < n; i++) {
        const struct vodq_opt *o = &opts[i];
        char flag[64];
        snprintf(flag, sizeof(flag), "--%s%s", o->name,
                 o->type == VODQ_OPT_BOOL ? "" : (o->type == VODQ_OPT_INT ? " N" : " VALUE"));
        fprintf(f, "  %-26s %s\n", flag, o->help);
        fprintf(f, "  %-26s   [%s%s%sdefault: %s]\n", "", o->env ? "env " : "",
                o->env ? o->env : "", o->env ? "; " : "",
                o->def && *o->def ? o->def : (o->type == VODQ_OPT_BOOL ? "off" : "none"));
    }
    fprintf(f, "  %-26s %s\n", "--config FILE",
            "read 'name = value' lines first: [vodq] and this program's section [env VODQ_CONFIG]");
    fprintf(f, "  %-26s %s\n", "--help", "show this help");
    fprintf(f, "  %-26s %s\n", "--version", "print the version and exit");
}

void vodq_config_free(const struct vodq_opt *opts, int n)
{
    for (int i = 0; i < n; i++) {
        if (opts[i].type == VODQ_OPT_STR) {
            char **dst = opts[i].dst;
            free(*dst);
            *dst = NULL;
        }
    }
}

int vodq_config_main(const struct vodq_opt *opts, int n, int argc, char **argv, int *npos,
                     int max_pos, const char *prog, const char *synopsis, const char *desc)
{
    bool help = false;
    struct vodq_err err = {0};
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--version")) {
            printf("%s %s\n", prog, VODQ_VERSION);
            return 0;
        }
    }
    if (vodq_config_load(opts, n, argc, argv, npos, &help, &err) != VODQ_OK) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 2;
    }
    if (help) {
        vodq_config_usage(stdout, prog, synopsis, desc, opts, n);
        return 0;
    }
    if (max_pos >= 0 && *npos > max_pos) {
        fprintf(stderr, "%s: unexpected argument '%s' (try --help)\n", prog, argv[1 + max_pos]);
        return 2;
    }
    return -1;
}

int vodq_config_secret_lines(const char *what, const char *path, unsigned mask, char *warn,
                             size_t warn_cap,
                             bool (*each)(void *ctx, int lineno, char **w, int nw,
                                          struct vodq_err *err),
                             void *ctx, struct vodq_err *err)
{
    if (warn_cap)
        warn[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        vodq_err_set(err, VODQ_ERR_INVALID, errno, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & mask))
        snprintf(warn, warn_cap, "%s %s is readable by other users (mode %03o); chmod 600 it",
                 what, path, (unsigned)(st.st_mode & 0777));
    char line[1024];
    int lineno = 0, n = 0;
    while (n >= 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *w[2];
        int nw = vodq_config_words(line, w, 2);
        if (nw == 0)
            continue;
        if (!each(ctx, lineno, w, nw, err))
            n = -1;
        else
            n++;
    }
    /* wipe what the buffer held (a secret's last line) before it goes */
    volatile char *vl = line;
    for (size_t i = 0; i < sizeof(line); i++)
        vl[i] = 0;
    fclose(f);
    return n;
}

int vodq_config_words(char *line, char **words, int max)
{
    char *s = line;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '#')
        return 0;
    int n = 0;
    while (*s) {
        if (n < max)
            words[n] = s;
        n++;
        while (*s && !isspace((unsigned char)*s))
            s++;
        if (*s)
            *s++ = '\0';
        while (isspace((unsigned char)*s))
            s++;
    }
    return n;
}
