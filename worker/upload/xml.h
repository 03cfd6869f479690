/* xml.h: the OSS/S3 XML replies the uploader reads, and the one body it
 * writes (CompleteMultipartUpload). The only user of libxml2.
 *
 * Nothing here logs; documents are parsed with XML_PARSE_NONET and no
 * entity expansion. */
#ifndef VODQ_UPLOAD_XML_H
#define VODQ_UPLOAD_XML_H

#include "shared/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when body[0..len) is an <Error> document; then fills code (its
 * <Code>) and msg (its <Message>), each truncated to its cap and
 * NUL-terminated ("" when absent). False for anything else (not XML,
 * empty, another root), code/msg untouched. */
bool vodq_xml_error(const char *body, size_t len, char *code, size_t ccap, char *msg, size_t mcap);

/* As vodq_xml_error, and also fills rid with the <RequestId> ("" when
 * absent; not a secret: OSS support asks for it). */
bool vodq_xml_error_rid(const char *body, size_t len, char *code, size_t ccap, char *msg,
                        size_t mcap, char *rid, size_t rcap);

/* The <UploadId> of an InitiateMultipartUploadResult, in a new string
 * (*out, caller frees). VODQ_ERR_PROTOCOL when not XML or when the
 * element is missing or empty (*out = NULL then). */
enum vodq_rc vodq_xml_upload_id(const char *body, size_t len, char **out, struct vodq_err *err);

/* The <Location> and <ETag> of a CompleteMultipartUploadResult, each a new
 * string or NULL when absent (caller frees). VODQ_ERR_PROTOCOL when body is
 * not XML, or is an <Error> document (message names its Code). */
enum vodq_rc vodq_xml_complete_result(const char *body, size_t len, char **location, char **etag,
                                      struct vodq_err *err);

/* A new <CompleteMultipartUpload> body (UTF-8, with an XML declaration)
 * listing parts 1..n with etags[i] as part i+1's ETag, text escaped
 * (the quotes around an ETag become &quot;). NULL on OOM. Caller frees. */
char *vodq_xml_complete_body(const char **etags, size_t n);

/* One part of a ListParts reply. */
struct vodq_xml_part {
    int number;     /* PartNumber */
    int64_t size;   /* Size in bytes */
    char etag[80];  /* ETag as sent, quotes included */
    uint64_t crc64; /* HashCrc64ecma; 0 when absent */
    bool has_crc64;
};

/* A parsed ListPartsResult page. */
struct vodq_xml_parts {
    struct vodq_xml_part *parts; /* in document order */
    size_t n;
    bool truncated;  /* IsTruncated */
    int next_marker; /* NextPartNumberMarker; 0 when absent */
};

/* Parses a ListPartsResult into *out (zeroed first). VODQ_ERR_PROTOCOL
 * naming the element when not XML, not a ListPartsResult, or a Part with a
 * missing/bad PartNumber, Size or ETag. Free with vodq_xml_parts_cleanup(). */
enum vodq_rc vodq_xml_list_parts(const char *body, size_t len, struct vodq_xml_parts *out,
                                 struct vodq_err *err);

/* Frees what p owns and zeroes it. NULL is fine. */
void vodq_xml_parts_cleanup(struct vodq_xml_parts *p);

/* One <Upload> of a ListMultipartUploads reply. */
struct vodq_xml_upload {
    char *key;       /* Key (raw object key) */
    char *upload_id; /* UploadId */
    char *initiated; /* Initiated as sent (ISO-8601), or NULL when absent */
};

/* A parsed ListMultipartUploadsResult page. */
struct vodq_xml_uploads {
    struct vodq_xml_upload *uploads; /* in document order */
    size_t n;
    bool truncated;              /* IsTruncated */
    char *next_key_marker;       /* NextKeyMarker ("" when empty), or NULL when absent */
    char *next_upload_id_marker; /* NextUploadIdMarker, likewise */
};

/* Parses a ListMultipartUploadsResult into *out (zeroed first), e.g. to
 * find an upload of our key left open by an earlier run. VODQ_ERR_PROTOCOL
 * naming the element when not XML, not that root, or an Upload without Key
 * or UploadId. Free with vodq_xml_uploads_cleanup(). */
enum vodq_rc vodq_xml_list_uploads(const char *body, size_t len, struct vodq_xml_uploads *out,
                                   struct vodq_err *err);

/* Frees what u owns and zeroes it. NULL is fine. */
void vodq_xml_uploads_cleanup(struct vodq_xml_uploads *u);

#endif
