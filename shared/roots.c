/* roots.c: realpath-based containment of job paths in the worker's roots. */
#include "shared/roots.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void vodq_roots_cleanup(struct vodq_roots *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->dirs[i]);
    free(r->dirs);
    free(r->shown);
    r->dirs = NULL;
    r->shown = NULL;
    r->n = 0;
}

enum vodq_rc vodq_roots_parse(struct vodq_roots *r, const char *list, struct vodq_err *err)
{
    memset(r, 0, sizeof(*r));
    const char *p = list ? list : "";
    size_t shown_len = 0;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && isspace((unsigned char)t[-1]))
            t--;
        if (t > p) {
            char given[PATH_MAX];
            if ((size_t)(t - p) >= sizeof(given))
                return vodq_err_set(err, VODQ_ERR_INVALID, 0, "roots: a path is too long");
            snprintf(given, sizeof(given), "%.*s", (int)(t - p), p);
            char *real = realpath(given, NULL);
            struct stat st;
            if (!real || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
                int e2 = errno;
                free(real);
                return vodq_err_set(err, VODQ_ERR_INVALID, e2, "roots: %s: %s", given,
                                    real ? "not a folder" : strerror(e2));
            }
            char **nd = realloc(r->dirs, (r->n + 1) * sizeof(*nd));
            if (!nd) {
                free(real);
                return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
            }
            r->dirs = nd;
            r->dirs[r->n++] = real;
            shown_len += strlen(real) + 2;
        }
        p = e;
    }
    if (r->n) {
        r->shown = malloc(shown_len + 1);
        if (!r->shown)
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        size_t o = 0;
        for (size_t i = 0; i < r->n; i++)
            o += (size_t)snprintf(r->shown + o, shown_len + 1 - o, "%s%s", i ? ", " : "",
                                  r->dirs[i]);
    }
    return VODQ_OK;
}

static bool inside(const struct vodq_roots *r, const char *real)
{
    for (size_t i = 0; i < r->n; i++) {
        const char *d = r->dirs[i];
        size_t n = strlen(d);
        if (!strcmp(d, "/"))
            return true;
        if (!strncmp(real, d, n) && (real[n] == '\0' || real[n] == '/'))
            return true;
    }
    return false;
}

static enum vodq_rc outside(const struct vodq_roots *r, const char *what, const char *path,
                            struct vodq_err *err)
{
    enum vodq_rc rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                   "%s: %.100s is outside the worker's path roots (%.100s)", what,
                                   path, r->shown ? r->shown : "");
    if (err)
        err->permanent = true;
    return rc;
}

/* realpath of the folder of path + "/" + its last component. */
static char *resolve_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (!*base || !strcmp(base, ".") || !strcmp(base, ".."))
        return NULL;
    char dir[PATH_MAX];
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if ((size_t)(slash - path) < sizeof(dir))
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        return NULL;
    char *rd = realpath(dir, NULL);
    if (!rd)
        return NULL;
    size_t n = strlen(rd) + strlen(base) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s%s%s", rd, strcmp(rd, "/") ? "/" : "", base);
    free(rd);
    return out;
}

enum vodq_rc vodq_roots_check(const struct vodq_roots *r, const char *what, const char *path,
                              enum vodq_roots_kind kind, char *resolved, size_t cap,
                              struct vodq_err *err)
{
    if (!path || !*path) {
        enum vodq_rc rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: empty path", what);
        if (err)
            err->permanent = true;
        return rc;
    }
    if (!r || r->n == 0) {
        if (resolved && cap)
            snprintf(resolved, cap, "%s", path);
        return VODQ_OK;
    }
    /* "scheme:..." before any '/': a URL or an FFmpeg protocol */
    const char *colon = strchr(path, ':'), *slash = strchr(path, '/');
    if (colon && (!slash || colon < slash)) {
        if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8)) {
            if (resolved && cap)
                snprintf(resolved, cap, "%s", path);
            return VODQ_OK;
        }
        enum vodq_rc rc = vodq_err_set(err, VODQ_ERR_INVALID, 0,
                                       "%s: %.100s: only local paths and http(s) URLs are "
                                       "allowed while path roots are set",
                                       what, path);
        if (err)
            err->permanent = true;
        return rc;
    }
    char *real = realpath(path, NULL);
    if (!real && kind == VODQ_ROOTS_DIR) {
        int e = errno;
        enum vodq_rc rc = vodq_err_set(err, VODQ_ERR_INVALID, e, "%s: %.100s: %s", what, path,
                                       strerror(e));
        if (err)
            err->permanent = true;
        return rc;
    }
    struct stat lst;
    if (!real && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
        return outside(r, what, path, err); /* a dangling symlink: would write through it */
    if (!real) /* a file still to be written, or missing (the opener says so) */
        real = resolve_parent(path);
    if (!real) {
        /* its folder does not resolve either: nothing can be inside */
        return outside(r, what, path, err);
    }
    enum vodq_rc rc = VODQ_OK;
    if (!inside(r, real))
        rc = outside(r, what, path, err);
    else if (resolved && cap && strlen(real) >= cap)
        rc = vodq_err_set(err, VODQ_ERR_INVALID, 0, "%s: path too long", what);
    else if (resolved && cap)
        snprintf(resolved, cap, "%s", real);
    free(real);
    return rc;
}
