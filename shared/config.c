/* config.c: table-driven config loader (defaults, file, environment, flags). */
#include "shared/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static enum vodq_rc load_file(const struct vodq_opt *opts, int n, const char *path,
                              struct vodq_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "config file %s: %s", path, strerror(errno));
    char line[4096];
    int lineno = 0;
    enum vodq_rc rc = VODQ_OK;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s:%d: expected 'name = value'", path,
                              lineno);
            break;
        }
        *eq = '\0';
        char *key = trim(s), *val = trim(eq + 1);
        const struct vodq_opt *o = find(opts, n, key, strlen(key));
        if (!o) {
            rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s:%d: unknown option '%s'", path, lineno,
                              key);
            break;
        }
        char from[300];
        snprintf(from, sizeof(from), "%s:%d", path, lineno);
        if ((rc = set_value(o, val, from, err)) != VODQ_OK)
            break;
    }
    fclose(f);
    return rc;
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
    if (cfg && *cfg && (rc = load_file(opts, n, cfg, err)) != VODQ_OK)
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
    fprintf(f, "  %-26s %s\n", "--config FILE", "read 'name = value' lines first [env VODQ_CONFIG]");
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
