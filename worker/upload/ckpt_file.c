/* ckpt_file.c: a JSON-file checkpoint store (see ckpt_file.h). */
#include "worker/upload/ckpt_file.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct vodq_ckpt_file {
    struct vodq_ckpt ckpt; /* callbacks pointing back at this handle */
    char *path;            /* the checkpoint file */
    cJSON *obj;            /* current fields (an object of strings) */
};

static enum vodq_rc load(void *opaque, void (*fn)(void *arg, const char *field, const char *value),
                         void *arg, struct vodq_err *err)
{
    struct vodq_ckpt_file *f = opaque;
    (void)err;
    const cJSON *it;
    cJSON_ArrayForEach(it, f->obj)
    {
        fn(arg, it->string, it->valuestring);
    }
    return VODQ_OK;
}

/* Writes the object to path.tmp and renames it over path. */
static enum vodq_rc write_file(struct vodq_ckpt_file *f, struct vodq_err *err)
{
    char *text = cJSON_PrintUnformatted(f->obj);
    if (!text)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    size_t tlen = strlen(f->path) + 8;
    char *tmp = malloc(tlen);
    enum vodq_rc rc = VODQ_OK;
    int fd = -1;
    if (!tmp) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    snprintf(tmp, tlen, "%s.tmp", f->path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "checkpoint %s: %s", tmp, strerror(errno));
        goto fail;
    }
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = vodq_err_set(err, VODQ_ERR_IO, errno, "checkpoint %s: %s", tmp, strerror(errno));
            goto fail;
        }
        off += (size_t)n;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "checkpoint %s: %s", tmp, strerror(errno));
        goto fail;
    }
    fd = -1;
    if (rename(tmp, f->path) != 0) {
        rc = vodq_err_set(err, VODQ_ERR_IO, errno, "checkpoint %s: %s", f->path, strerror(errno));
        goto fail;
    }
fail:
    if (fd >= 0)
        close(fd);
    if (rc != VODQ_OK && tmp)
        unlink(tmp);
    free(tmp);
    free(text);
    return rc;
}

static enum vodq_rc save(void *opaque, const char *const *fields, const char *const *values,
                         size_t n, struct vodq_err *err)
{
    struct vodq_ckpt_file *f = opaque;
    /* Work on a copy so that a failure leaves the held fields unchanged. */
    cJSON *next = cJSON_Duplicate(f->obj, 1);
    if (!next)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        cJSON *v = cJSON_CreateString(values[i]);
        if (!v) {
            cJSON_Delete(next);
            return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        }
        if (cJSON_GetObjectItemCaseSensitive(next, fields[i]))
            cJSON_ReplaceItemInObjectCaseSensitive(next, fields[i], v);
        else
            cJSON_AddItemToObject(next, fields[i], v);
    }
    cJSON *old = f->obj;
    f->obj = next;
    enum vodq_rc rc = write_file(f, err);
    if (rc != VODQ_OK) {
        f->obj = old;
        cJSON_Delete(next);
        return rc;
    }
    cJSON_Delete(old);
    return VODQ_OK;
}

static enum vodq_rc clear(void *opaque, struct vodq_err *err)
{
    struct vodq_ckpt_file *f = opaque;
    cJSON *empty = cJSON_CreateObject();
    if (!empty)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    cJSON_Delete(f->obj);
    f->obj = empty;
    if (unlink(f->path) != 0 && errno != ENOENT)
        return vodq_err_set(err, VODQ_ERR_IO, errno, "checkpoint %s: %s", f->path,
                            strerror(errno));
    return VODQ_OK;
}

/* Reads the whole file into a new string; *out = NULL when it does not exist. */
static enum vodq_rc slurp(const char *path, char **out, struct vodq_err *err)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (errno == ENOENT)
            return VODQ_OK;
        return vodq_err_set(err, VODQ_ERR_IO, errno, "checkpoint %s: %s", path, strerror(errno));
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (len < cap - 1)
            break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int rerr = ferror(fp);
    fclose(fp);
    if (!buf)
        return vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
    if (rerr) {
        free(buf);
        return vodq_err_set(err, VODQ_ERR_IO, EIO, "checkpoint %s: read error", path);
    }
    buf[len] = '\0';
    *out = buf;
    return VODQ_OK;
}

enum vodq_rc vodq_ckpt_file_open(const char *path, struct vodq_ckpt_file **out,
                                 struct vodq_err *err)
{
    *out = NULL;
    char *text = NULL;
    struct vodq_ckpt_file *f = calloc(1, sizeof(*f));
    enum vodq_rc rc;
    if (!f || !(f->path = strdup(path))) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto fail;
    }
    rc = slurp(path, &text, err);
    if (rc != VODQ_OK)
        goto fail;
    f->obj = text ? cJSON_Parse(text) : cJSON_CreateObject();
    if (!f->obj || !cJSON_IsObject(f->obj)) {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "checkpoint %s: not a JSON object (delete the file to start over)",
                          path);
        goto fail;
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, f->obj)
    {
        if (!cJSON_IsString(it)) {
            rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                              "checkpoint %s: field \"%s\" is not a string", path, it->string);
            goto fail;
        }
    }
    f->ckpt.opaque = f;
    f->ckpt.load = load;
    f->ckpt.save = save;
    f->ckpt.clear = clear;
    free(text);
    *out = f;
    return VODQ_OK;
fail:
    free(text);
    vodq_ckpt_file_free(f);
    return rc;
}

struct vodq_ckpt *vodq_ckpt_file_ckpt(struct vodq_ckpt_file *f)
{
    return &f->ckpt;
}

size_t vodq_ckpt_file_count(const struct vodq_ckpt_file *f)
{
    return (size_t)cJSON_GetArraySize(f->obj);
}

void vodq_ckpt_file_free(struct vodq_ckpt_file *f)
{
    if (!f)
        return;
    cJSON_Delete(f->obj);
    free(f->path);
    free(f);
}
