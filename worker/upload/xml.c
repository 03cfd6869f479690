/* xml.c: OSS/S3 XML replies and the Complete body (see xml.h). */
#include "worker/upload/xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses body without network access or entity expansion; NULL when it is
 * not well-formed XML. */
static pthread_once_t parser_once = PTHREAD_ONCE_INIT;

static void parser_init(void)
{
    xmlInitParser(); /* once per process, before threads parse (libxml2 2.9) */
}

static xmlDoc *xml_read(const char *body, size_t len)
{
    pthread_once(&parser_once, parser_init);
    if (!body || len == 0 || len > INT_MAX)
        return NULL;
    return xmlReadMemory(body, (int)len, NULL, NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool is(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The first child element of n named name, or NULL. */
static xmlNode *child(const xmlNode *n, const char *name)
{
    for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (is(c, name))
            return c;
    return NULL;
}

/* The text of n's child element name, as a new string, or NULL when absent. */
static char *child_text(const xmlNode *n, const char *name)
{
    xmlNode *c = child(n, name);
    if (!c)
        return NULL;
    xmlChar *t = xmlNodeGetContent(c);
    char *r = strdup(t ? (const char *)t : "");
    xmlFree(t);
    return r;
}

/* Parses a reply that must be a <root_name> document. On error fills err
 * naming what ("ListParts reply: ..."), with the Code and Message of an
 * <Error> document (S3 can send one with status 200). */
static enum vodq_rc read_reply(const char *body, size_t len, const char *what,
                               const char *root_name, xmlDoc **doc, xmlNode **root,
                               struct vodq_err *err)
{
    *doc = xml_read(body, len);
    if (!*doc) {
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "%s reply: not XML (%zu bytes)", what, len);
        return VODQ_ERR_PROTOCOL;
    }
    *root = xmlDocGetRootElement(*doc);
    if (is(*root, root_name))
        return VODQ_OK;
    if (is(*root, "Error")) {
        char *c = child_text(*root, "Code"), *m = child_text(*root, "Message");
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "%s reply: <Error> %.60s: %.120s", what, c ? c : "",
                     m ? m : "");
        free(c);
        free(m);
    } else {
        vodq_err_set(err, VODQ_ERR_PROTOCOL, 0, "%s reply: root element is <%.40s>, not <%s>", what,
                     *root ? (const char *)(*root)->name : "", root_name);
    }
    xmlFreeDoc(*doc);
    *doc = NULL;
    *root = NULL;
    return VODQ_ERR_PROTOCOL;
}

/* Copies n's child element name's text (or "") into out[0..cap). */
static void copy_child(const xmlNode *n, const char *name, char *out, size_t cap)
{
    if (!out || !cap)
        return;
    char *t = child_text(n, name);
    snprintf(out, cap, "%s", t ? t : "");
    free(t);
}

bool vodq_xml_error_rid(const char *body, size_t len, char *code, size_t ccap, char *msg,
                        size_t mcap, char *rid, size_t rcap)
{
    xmlDoc *d = xml_read(body, len);
    if (!d)
        return false;
    xmlNode *r = xmlDocGetRootElement(d);
    bool is_err = is(r, "Error");
    if (is_err) {
        copy_child(r, "Code", code, ccap);
        copy_child(r, "Message", msg, mcap);
        copy_child(r, "RequestId", rid, rcap);
    }
    xmlFreeDoc(d);
    return is_err;
}

bool vodq_xml_error(const char *body, size_t len, char *code, size_t ccap, char *msg, size_t mcap)
{
    return vodq_xml_error_rid(body, len, code, ccap, msg, mcap, NULL, 0);
}

enum vodq_rc vodq_xml_upload_id(const char *body, size_t len, char **out, struct vodq_err *err)
{
    xmlDoc *d = NULL;
    xmlNode *r = NULL;
    *out = NULL;
    enum vodq_rc rc = read_reply(body, len, "InitiateMultipartUpload",
                                 "InitiateMultipartUploadResult", &d, &r, err);
    if (rc != VODQ_OK)
        return rc;
    *out = child_text(r, "UploadId");
    if (!*out || !**out) {
        free(*out);
        *out = NULL;
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "InitiateMultipartUpload reply: UploadId missing or empty");
    }
    xmlFreeDoc(d);
    return rc;
}

enum vodq_rc vodq_xml_complete_result(const char *body, size_t len, char **location, char **etag,
                                      struct vodq_err *err)
{
    xmlDoc *d = NULL;
    xmlNode *r = NULL;
    *location = NULL;
    *etag = NULL;
    enum vodq_rc rc = read_reply(body, len, "CompleteMultipartUpload",
                                 "CompleteMultipartUploadResult", &d, &r, err);
    if (rc != VODQ_OK)
        return rc;
    *location = child_text(r, "Location");
    *etag = child_text(r, "ETag");
    xmlFreeDoc(d);
    return VODQ_OK;
}

char *vodq_xml_complete_body(const char **etags, size_t n)
{
    xmlDoc *d = xmlNewDoc(BAD_CAST "1.0");
    xmlNode *root = d ? xmlNewNode(NULL, BAD_CAST "CompleteMultipartUpload") : NULL;
    char *s = NULL;
    if (!root)
        goto done;
    xmlDocSetRootElement(d, root);
    for (size_t i = 0; i < n; i++) {
        char num[24];
        snprintf(num, sizeof(num), "%zu", i + 1);
        xmlNode *p = xmlNewChild(root, NULL, BAD_CAST "Part", NULL);
        /* xmlNewTextChild escapes &, <, > and " in the text */
        if (!p || !xmlNewTextChild(p, NULL, BAD_CAST "PartNumber", BAD_CAST num) ||
            !xmlNewTextChild(p, NULL, BAD_CAST "ETag", BAD_CAST(etags[i] ? etags[i] : "")))
            goto done;
    }
    xmlChar *out = NULL;
    int len = 0;
    xmlDocDumpMemoryEnc(d, &out, &len, "UTF-8");
    if (out)
        s = strdup((const char *)out);
    xmlFree(out);
done:
    xmlFreeDoc(d);
    return s;
}

/* Parses a non-negative decimal integer; false when s is not one. */
static bool parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* A zeroed array with room for one entry per child element of r named
 * name (at least one), or NULL on OOM. */
static void *alloc_children(const xmlNode *r, const char *name, size_t each)
{
    size_t n = 0;
    for (const xmlNode *c = r->children; c; c = c->next)
        n += is(c, name);
    return calloc(n ? n : 1, each);
}

/* One <Part> of a ListParts reply; idx (1-based) names it until its
 * PartNumber is known. */
static enum vodq_rc parse_part(const xmlNode *c, struct vodq_xml_part *p, size_t idx,
                               struct vodq_err *err)
{
    enum vodq_rc rc = VODQ_OK;
    uint64_t v;
    char *num = child_text(c, "PartNumber"), *size = child_text(c, "Size");
    char *etag = child_text(c, "ETag"), *crc = child_text(c, "HashCrc64ecma");
    if (!parse_u64(num, &v) || v < 1 || v > 10000) {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "ListParts reply: Part %zu: PartNumber \"%.20s\" is not 1..10000", idx,
                          num ? num : "(missing)");
        goto done;
    }
    p->number = (int)v;
    if (!parse_u64(size, &v) || v > INT64_MAX) {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "ListParts reply: Part %d: Size \"%.20s\" is not a byte count", p->number,
                          size ? size : "(missing)");
        goto done;
    }
    p->size = (int64_t)v;
    if (!etag || !*etag || strlen(etag) >= sizeof(p->etag)) {
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "ListParts reply: Part %d: ETag missing, empty or too long", p->number);
        goto done;
    }
    snprintf(p->etag, sizeof(p->etag), "%s", etag);
    p->has_crc64 = crc != NULL;
    if (crc && !parse_u64(crc, &p->crc64))
        rc = vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                          "ListParts reply: Part %d: HashCrc64ecma \"%.24s\" is not an unsigned "
                          "64-bit decimal",
                          p->number, crc);
done:
    free(num);
    free(size);
    free(etag);
    free(crc);
    return rc;
}

void vodq_xml_parts_cleanup(struct vodq_xml_parts *p)
{
    if (!p)
        return;
    free(p->parts);
    memset(p, 0, sizeof(*p));
}

enum vodq_rc vodq_xml_list_parts(const char *body, size_t len, struct vodq_xml_parts *out,
                                 struct vodq_err *err)
{
    memset(out, 0, sizeof(*out));
    xmlDoc *d = NULL;
    xmlNode *r = NULL;
    char *t = NULL;
    enum vodq_rc rc = read_reply(body, len, "ListParts", "ListPartsResult", &d, &r, err);
    if (rc != VODQ_OK)
        return rc;
    out->parts = alloc_children(r, "Part", sizeof(*out->parts));
    if (!out->parts) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    t = child_text(r, "IsTruncated");
    out->truncated = t && strcmp(t, "true") == 0;
    free(t);
    t = child_text(r, "NextPartNumberMarker");
    uint64_t v;
    if (t && *t && parse_u64(t, &v) && v <= 10000)
        out->next_marker = (int)v;
    free(t);
    t = NULL;
    for (xmlNode *c = r->children; c && rc == VODQ_OK; c = c->next) {
        if (!is(c, "Part"))
            continue;
        rc = parse_part(c, &out->parts[out->n], out->n + 1, err);
        if (rc == VODQ_OK)
            out->n++;
    }
done:
    free(t);
    xmlFreeDoc(d);
    if (rc != VODQ_OK)
        vodq_xml_parts_cleanup(out);
    return rc;
}

void vodq_xml_uploads_cleanup(struct vodq_xml_uploads *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n; i++) {
        free(u->uploads[i].key);
        free(u->uploads[i].upload_id);
        free(u->uploads[i].initiated);
    }
    free(u->uploads);
    free(u->next_key_marker);
    free(u->next_upload_id_marker);
    memset(u, 0, sizeof(*u));
}

/* One <Upload> of a ListMultipartUploads reply; idx is 1-based. */
static enum vodq_rc parse_upload(const xmlNode *c, struct vodq_xml_upload *u, size_t idx,
                                 struct vodq_err *err)
{
    u->key = child_text(c, "Key");
    u->upload_id = child_text(c, "UploadId");
    u->initiated = child_text(c, "Initiated");
    if (u->key && *u->key && u->upload_id && *u->upload_id)
        return VODQ_OK;
    return vodq_err_set(err, VODQ_ERR_PROTOCOL, 0,
                        "ListMultipartUploads reply: Upload %zu: %s missing or empty", idx,
                        u->key && *u->key ? "UploadId" : "Key");
}

enum vodq_rc vodq_xml_list_uploads(const char *body, size_t len, struct vodq_xml_uploads *out,
                                   struct vodq_err *err)
{
    memset(out, 0, sizeof(*out));
    xmlDoc *d = NULL;
    xmlNode *r = NULL;
    enum vodq_rc rc = read_reply(body, len, "ListMultipartUploads", "ListMultipartUploadsResult",
                                 &d, &r, err);
    if (rc != VODQ_OK)
        return rc;
    out->uploads = alloc_children(r, "Upload", sizeof(*out->uploads));
    if (!out->uploads) {
        rc = vodq_err_set(err, VODQ_ERR_OOM, 0, "out of memory");
        goto done;
    }
    char *t = child_text(r, "IsTruncated");
    out->truncated = t && strcmp(t, "true") == 0;
    free(t);
    out->next_key_marker = child_text(r, "NextKeyMarker");
    out->next_upload_id_marker = child_text(r, "NextUploadIdMarker");
    for (xmlNode *c = r->children; c && rc == VODQ_OK; c = c->next) {
        if (!is(c, "Upload"))
            continue;
        /* counted before parsing so a half-filled entry is freed on error */
        size_t i = out->n++;
        rc = parse_upload(c, &out->uploads[i], i + 1, err);
    }
done:
    xmlFreeDoc(d);
    if (rc != VODQ_OK)
        vodq_xml_uploads_cleanup(out);
    return rc;
}
