/* test_upload_xml.c: the OSS/S3 XML replies (Error, InitiateMultipartUpload,
 * CompleteMultipartUpload, ListParts) and the Complete body, escaping
 * included (checked by parsing the body back with libxml2). */
#include "worker/upload/xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define S(x) x, strlen(x)

static void test_error(void **state)
{
    (void)state;
    char code[32] = "untouched", msg[64] = "untouched";
    const char *e = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n"
                    "  <Code>SecurityTokenExpired</Code>\n"
                    "  <Message>The security token you provided has expired.</Message>\n"
                    "  <RequestId>5C3D9175B6FC201293AD****</RequestId><HostId>h</HostId>\n"
                    "</Error>";
    assert_true(vodq_xml_error(S(e), code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "SecurityTokenExpired");
    assert_string_equal(msg, "The security token you provided has expired.");
    char rid[32] = "untouched";
    assert_true(vodq_xml_error_rid(S(e), code, sizeof(code), msg, sizeof(msg), rid, sizeof(rid)));
    assert_string_equal(rid, "5C3D9175B6FC201293AD****");
    assert_string_equal(code, "SecurityTokenExpired");
    assert_true(vodq_xml_error_rid(S("<Error><Code>X</Code></Error>"), NULL, 0, NULL, 0, rid,
                                   sizeof(rid)));
    assert_string_equal(rid, ""); /* absent */
    strcpy(rid, "keep");
    assert_false(vodq_xml_error_rid(S("<ListPartsResult/>"), code, sizeof(code), msg,
                                    sizeof(msg), rid, sizeof(rid)));
    assert_string_equal(rid, "keep");
    /* truncated to the caps */
    char c4[5], m4[4];
    assert_true(vodq_xml_error(S(e), c4, sizeof(c4), m4, sizeof(m4)));
    assert_string_equal(c4, "Secu");
    assert_string_equal(m4, "The");
    /* an S3-namespaced error, a missing Message */
    assert_true(vodq_xml_error(S("<Error xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                                 "<Code>ExpiredToken</Code></Error>"),
                               code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "ExpiredToken");
    assert_string_equal(msg, "");
    /* not errors */
    strcpy(code, "keep");
    assert_false(vodq_xml_error(S("<InitiateMultipartUploadResult/>"), code, sizeof(code), msg,
                                sizeof(msg)));
    assert_false(vodq_xml_error(S("not xml <"), code, sizeof(code), msg, sizeof(msg)));
    assert_false(vodq_xml_error("", 0, code, sizeof(code), msg, sizeof(msg)));
    assert_false(vodq_xml_error(NULL, 0, code, sizeof(code), msg, sizeof(msg)));
    assert_string_equal(code, "keep");
    /* no network, no external entities */
    strcpy(code, "keep");
    vodq_xml_error(S("<!DOCTYPE Error [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                     "<Error><Code>&x;</Code></Error>"),
                   code, sizeof(code), msg, sizeof(msg));
    assert_null(strstr(code, "root"));
}

static void test_upload_id(void **state)
{
    (void)state;
    char *id = NULL;
    struct vodq_err err = {0};
    assert_int_equal(
        vodq_xml_upload_id(
            S("<?xml version=\"1.0\"?><InitiateMultipartUploadResult "
              "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
              "<Bucket>b</Bucket><Key>k</Key><UploadId>0004B9894A22E5B1888A1E29F823****"
              "</UploadId></InitiateMultipartUploadResult>"),
            &id, &err),
        VODQ_OK);
    assert_string_equal(id, "0004B9894A22E5B1888A1E29F823****");
    free(id);
    assert_int_equal(vodq_xml_upload_id(S("<InitiateMultipartUploadResult><UploadId></UploadId>"
                                          "</InitiateMultipartUploadResult>"),
                                        &id, &err),
                     VODQ_ERR_PROTOCOL);
    assert_null(id);
    assert_non_null(strstr(err.msg, "UploadId"));
    assert_int_equal(vodq_xml_upload_id(S("<InitiateMultipartUploadResult><Bucket>b</Bucket>"
                                          "</InitiateMultipartUploadResult>"),
                                        &id, &err),
                     VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "UploadId missing"));
    assert_int_equal(
        vodq_xml_upload_id(S("<Error><Code>x</Code><UploadId>u</UploadId></Error>"), &id, &err),
        VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "<Error>"));
    assert_int_equal(vodq_xml_upload_id(S("{\"UploadId\":1}"), &id, &err), VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "not XML"));
    assert_null(id);
}

static void test_complete_result(void **state)
{
    (void)state;
    char *loc, *etag;
    struct vodq_err err = {0};
    assert_int_equal(vodq_xml_complete_result(
                         S("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                           "<CompleteMultipartUploadResult><Location>http://b.oss/k</Location>"
                           "<Bucket>b</Bucket><Key>k</Key>"
                           "<ETag>\"21000000000000000000000000000000-2\"</ETag>"
                           "</CompleteMultipartUploadResult>"),
                         &loc, &etag, &err),
                     VODQ_OK);
    assert_string_equal(loc, "http://b.oss/k");
    assert_string_equal(etag, "\"21000000000000000000000000000000-2\"");
    free(loc);
    free(etag);
    /* S3 whitespace-then-result, and a 200 that carries an Error */
    assert_int_equal(vodq_xml_complete_result(S("\n\n<CompleteMultipartUploadResult>"
                                                "<ETag>&quot;x&quot;</ETag>"
                                                "</CompleteMultipartUploadResult>"),
                                              &loc, &etag, &err),
                     VODQ_OK);
    assert_null(loc);
    assert_string_equal(etag, "\"x\"");
    free(etag);
    assert_int_equal(vodq_xml_complete_result(S("<Error><Code>InternalError</Code><Message>We "
                                                "encountered an internal error.</Message></Error>"),
                                              &loc, &etag, &err),
                     VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "InternalError"));
    assert_null(loc);
    assert_null(etag);
    assert_int_equal(vodq_xml_complete_result(S("garbage"), &loc, &etag, &err), VODQ_ERR_PROTOCOL);
}

/* Builds a Complete body and reads it back with libxml2. */
static void test_complete_body(void **state)
{
    (void)state;
    const char *etags[] = {"\"3349DC700140D7F86A0784842780****\"", "\"a&b<c>d'e\"",
                           "\"8EFDA8BE206636A695359836FE0A****\""};
    char *body = vodq_xml_complete_body(etags, 3);
    assert_non_null(body);
    assert_non_null(strstr(body, "<CompleteMultipartUpload>"));
    assert_null(strstr(body, "a&b<c")); /* escaped */
    assert_non_null(strstr(body, "a&amp;b&lt;c&gt;d"));
    xmlDoc *d = xmlReadMemory(body, (int)strlen(body), NULL, NULL, XML_PARSE_NONET);
    assert_non_null(d);
    xmlNode *root = xmlDocGetRootElement(d);
    assert_string_equal((const char *)root->name, "CompleteMultipartUpload");
    int i = 0;
    for (xmlNode *p = root->children; p; p = p->next) {
        if (p->type != XML_ELEMENT_NODE)
            continue;
        assert_string_equal((const char *)p->name, "Part");
        xmlNode *num = p->children, *tag = num->next;
        assert_string_equal((const char *)num->name, "PartNumber");
        assert_string_equal((const char *)tag->name, "ETag");
        xmlChar *n = xmlNodeGetContent(num), *t = xmlNodeGetContent(tag);
        char want[16];
        snprintf(want, sizeof(want), "%d", i + 1);
        assert_string_equal((const char *)n, want);
        assert_string_equal((const char *)t, etags[i]);
        xmlFree(n);
        xmlFree(t);
        i++;
    }
    assert_int_equal(i, 3);
    xmlFreeDoc(d);
    free(body);
    body = vodq_xml_complete_body(NULL, 0);
    assert_non_null(strstr(body, "<CompleteMultipartUpload/>"));
    free(body);
}

static void test_list_parts(void **state)
{
    (void)state;
    struct vodq_xml_parts p;
    struct vodq_err err = {0};
    const char *ok = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult>"
                     "<Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>"
                     "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>5"
                     "</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>true"
                     "</IsTruncated>"
                     "<Part><PartNumber>1</PartNumber><LastModified>2012-02-23T07:01:34.000Z"
                     "</LastModified><ETag>\"3349DC700140D7F86A078484278075A9\"</ETag>"
                     "<HashCrc64ecma>15248619871383844432</HashCrc64ecma><Size>6291456</Size>"
                     "</Part>"
                     "<Part><PartNumber>5</PartNumber><ETag>\"AB\"</ETag><Size>1024</Size></Part>"
                     "</ListPartsResult>";
    assert_int_equal(vodq_xml_list_parts(S(ok), &p, &err), VODQ_OK);
    assert_int_equal(p.n, 2);
    assert_true(p.truncated);
    assert_int_equal(p.next_marker, 5);
    assert_int_equal(p.parts[0].number, 1);
    assert_int_equal(p.parts[0].size, 6291456);
    assert_string_equal(p.parts[0].etag, "\"3349DC700140D7F86A078484278075A9\"");
    assert_true(p.parts[0].has_crc64);
    assert_true(p.parts[0].crc64 == UINT64_C(15248619871383844432));
    assert_int_equal(p.parts[1].number, 5);
    assert_false(p.parts[1].has_crc64);
    vodq_xml_parts_cleanup(&p);
    assert_null(p.parts);

    assert_int_equal(vodq_xml_list_parts(S("<ListPartsResult><IsTruncated>false</IsTruncated>"
                                           "</ListPartsResult>"),
                                         &p, &err),
                     VODQ_OK);
    assert_int_equal(p.n, 0);
    assert_false(p.truncated);
    vodq_xml_parts_cleanup(&p);

    struct {
        const char *xml, *want;
    } bad[] = {
        {"<ListPartsResult><Part><Size>1</Size><ETag>e</ETag></Part></ListPartsResult>",
         "PartNumber"},
        {"<ListPartsResult><Part><PartNumber>0</PartNumber><Size>1</Size><ETag>e</ETag></Part>"
         "</ListPartsResult>",
         "PartNumber \"0\""},
        {"<ListPartsResult><Part><PartNumber>10001</PartNumber><Size>1</Size><ETag>e</ETag>"
         "</Part></ListPartsResult>",
         "1..10000"},
        {"<ListPartsResult><Part><PartNumber>2</PartNumber><Size>-1</Size><ETag>e</ETag></Part>"
         "</ListPartsResult>",
         "Part 2: Size"},
        {"<ListPartsResult><Part><PartNumber>2</PartNumber><Size>1</Size></Part>"
         "</ListPartsResult>",
         "Part 2: ETag"},
        {"<ListPartsResult><Part><PartNumber>3</PartNumber><Size>1</Size><ETag>e</ETag>"
         "<HashCrc64ecma>18446744073709551616</HashCrc64ecma></Part></ListPartsResult>",
         "HashCrc64ecma"},
        {"<Error><Code>NoSuchUpload</Code></Error>", "<Error>"},
        {"nope", "not XML"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&p, 0x5a, sizeof(p));
        assert_int_equal(vodq_xml_list_parts(S(bad[i].xml), &p, &err), VODQ_ERR_PROTOCOL);
        if (!strstr(err.msg, bad[i].want))
            fail_msg("case %zu: got \"%s\", wanted \"%s\"", i, err.msg, bad[i].want);
        assert_null(p.parts);
    }
}

/* ListMultipartUploadsResult as OSS documents it (namespace-free) and as S3
 * sends it (with xmlns): entries in order, markers, truncation; bad ones named */
static void test_list_uploads(void **state)
{
    (void)state;
    static const char oss[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>"
        "<Bucket>outin-x</Bucket><KeyMarker></KeyMarker><NextKeyMarker>sv/b.mp4</NextKeyMarker>"
        "<NextUploadIdMarker>U2</NextUploadIdMarker><IsTruncated>true</IsTruncated>"
        "<Upload><Key>sv/a &amp; b.mp4</Key><UploadId>U1</UploadId>"
        "<Initiated>2022-12-28T10:27:41.000Z</Initiated></Upload>"
        "<Upload><Key>sv/b.mp4</Key><UploadId>U2</UploadId></Upload>"
        "</ListMultipartUploadsResult>";
    struct vodq_xml_uploads u;
    struct vodq_err err = {0};
    assert_int_equal(vodq_xml_list_uploads(oss, sizeof(oss) - 1, &u, &err), VODQ_OK);
    assert_int_equal(u.n, 2);
    assert_true(u.truncated);
    assert_string_equal(u.uploads[0].key, "sv/a & b.mp4");
    assert_string_equal(u.uploads[0].upload_id, "U1");
    assert_string_equal(u.uploads[0].initiated, "2022-12-28T10:27:41.000Z");
    assert_string_equal(u.uploads[1].key, "sv/b.mp4");
    assert_null(u.uploads[1].initiated);
    assert_string_equal(u.next_key_marker, "sv/b.mp4");
    assert_string_equal(u.next_upload_id_marker, "U2");
    vodq_xml_uploads_cleanup(&u);
    assert_null(u.uploads);
    assert_int_equal(u.n, 0);

    static const char s3[] =
        "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
    assert_int_equal(vodq_xml_list_uploads(s3, sizeof(s3) - 1, &u, &err), VODQ_OK);
    assert_int_equal(u.n, 0);
    assert_false(u.truncated);
    assert_null(u.next_key_marker);
    vodq_xml_uploads_cleanup(&u);

    static const char bad[] = "<ListMultipartUploadsResult><Upload><Key>k</Key></Upload>"
                              "<Upload><UploadId>U</UploadId></Upload>"
                              "</ListMultipartUploadsResult>";
    assert_int_equal(vodq_xml_list_uploads(bad, sizeof(bad) - 1, &u, &err), VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "ListMultipartUploads reply: Upload 1: UploadId missing"));
    assert_null(u.uploads);
    static const char bad2[] = "<ListMultipartUploadsResult><Upload><UploadId>U</UploadId>"
                               "</Upload></ListMultipartUploadsResult>";
    assert_int_equal(vodq_xml_list_uploads(bad2, sizeof(bad2) - 1, &u, &err), VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "Upload 1: Key missing"));
    static const char other[] = "<ListPartsResult/>";
    assert_int_equal(vodq_xml_list_uploads(other, sizeof(other) - 1, &u, &err),
                     VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "root element is <ListPartsResult>"));
    static const char e[] = "<Error><Code>AccessDenied</Code><Message>no</Message></Error>";
    assert_int_equal(vodq_xml_list_uploads(e, sizeof(e) - 1, &u, &err), VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "<Error> AccessDenied: no"));
    assert_int_equal(vodq_xml_list_uploads("nope", 4, &u, &err), VODQ_ERR_PROTOCOL);
    assert_non_null(strstr(err.msg, "not XML"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error),           cmocka_unit_test(test_upload_id),
        cmocka_unit_test(test_complete_result), cmocka_unit_test(test_complete_body),
        cmocka_unit_test(test_list_parts),      cmocka_unit_test(test_list_uploads),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    xmlCleanupParser();
    return rc;
}
