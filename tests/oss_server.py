#!/usr/bin/env python3
"""oss_server.py: a small OSS-protocol TEST SERVER of ours, for vodq's tests.

This is NOT Aliyun OSS and not derived from it: it speaks enough of the OSS
object API (as written up in shared/spec/upload-protocols.md) for the upload
engine's integration and fault tests, with fault injection and counters.
Python 3 standard library only; it listens on 127.0.0.1.

It checks every data request like OSS would:
  * OSS V4 (OSS4-HMAC-SHA256) and OSS V1 ("OSS AK:sig") header signatures,
    recomputed here with this file's own code (nothing shared with the C
    signer); the access key, and the STS token in x-oss-security-token;
  * path style (http://host:port/bucket/key) and virtual-host style (bucket
    = the first label of the Host header; an IP address or plain
    "localhost" means path style);
  * request time within 15 minutes (x-oss-date / Date).

Operations: PutObject, InitiateMultipartUpload (POST ?uploads), UploadPart,
CompleteMultipartUpload, AbortMultipartUpload, ListParts,
ListMultipartUploads (GET /bucket?uploads), GetObject (with Range),
HeadObject, DeleteObject. PutObject, UploadPart, Complete, Get and Head
answer x-oss-hash-crc64ecma (CRC-64/XZ, decimal); the ETag of a part or of
a PutObject is the quoted upper-case MD5 hex of its bytes; Content-MD5 is
checked when sent (InvalidDigest). Errors are OSS-style XML
(<Error><Code/><Message/><RequestId/><HostId/></Error>): AccessDenied,
InvalidAccessKeyId, SignatureDoesNotMatch, SecurityTokenExpired,
InvalidSecurityToken, RequestTimeTooSkewed, NoSuchUpload, NoSuchKey,
InvalidPart, InvalidPartOrder, EntityTooSmall, InvalidArgument,
InvalidDigest, MalformedXML, InternalError (injected).

Objects are stored as files under DIR/objects/<bucket>/<key>; parts under
DIR/parts/<uploadId>/<n>. Multipart state lives in memory: a restarted
server knows no upload ids (NoSuchUpload), as after a data loss.

Usage:
  python3 tests/oss_server.py --dir DIR [--port 0] --access-key AK --secret SK
                              [--token TOKEN] [--region R] [--verbose]
  python3 tests/oss_server.py --selftest   # its own signer/CRC vs the spec vectors
The port is written to DIR/port once the server listens.

Control endpoints (not signed, never counted):
  POST /__ctl/config  JSON object, any of:
     "expire_token_after_parts": N  after N more parts are accepted, the
                                    current token expires (SecurityTokenExpired)
     "fail_5xx": N                  the next N data requests get 503 InternalError
     "reset": N                     the next N data requests: body read, then
                                    the connection is reset (RST), no reply
     "slow_ms": N                   every data request waits N ms before its reply
                                    (after its bytes are stored)
     "token": "NEW"                 NEW becomes the only valid token; the old one
                                    is expired; disarms expire_token_after_parts
     "access_key": .., "secret": .. replace the credentials
  GET /__ctl/stats -> {"requests": n, "part_requests": n,
     "parts_by_upload": {uploadId: [part numbers accepted, in order, repeats kept]},
     "uploads_open": [uploadId...], "objects": {"bucket/key": size}}
  "requests" counts data requests received, "part_requests" UploadPart
  requests received (also those refused or failed); parts_by_upload holds
  only parts stored (answered 200).
"""

import argparse
import base64
import calendar
import email.utils
import hashlib
import hmac
import ipaddress
import json
import os
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIN_PART = 100 * 1024  # OSS: every part but the last >= 100 KB
MAX_SKEW_S = 15 * 60

# ---------------------------------------------------------------- CRC-64/XZ
# ECMA-182 polynomial, reflected, init and xorout all ones. Eight bytes per
# step with four 16-bit tables (pure Python is slow byte by byte).
POLY = 0xC96C5795D7870F42
MASK = 0xFFFFFFFFFFFFFFFF


def _tables():
    t0 = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ POLY if c & 1 else c >> 1
        t0.append(c)
    t = [t0]
    for k in range(1, 8):
        prev = t[k - 1]
        t.append([(prev[i] >> 8) ^ t0[prev[i] & 0xFF] for i in range(256)])
    # the byte at position j of an 8-byte word goes through table 7 - j
    w = []
    for j in (0, 2, 4, 6):
        lo, hi = t[7 - j], t[6 - j]
        w.append([lo[x & 0xFF] ^ hi[x >> 8] for x in range(65536)])
    return t0, w


_T0, _W = _tables()
_LE = sys.byteorder == "little"


def crc64(data, crc=0):
    """CRC-64/XZ of data, continuing from crc (0 to start)."""
    crc ^= MASK
    mv = memoryview(data).cast("B")
    n = len(mv)
    i = 0
    if _LE and n >= 8:
        w0, w1, w2, w3 = _W
        words = n // 8
        for v in mv[: words * 8].cast("Q"):
            c = crc ^ v
            crc = w0[c & 0xFFFF] ^ w1[(c >> 16) & 0xFFFF] ^ w2[(c >> 32) & 0xFFFF] ^ w3[c >> 48]
        i = words * 8
    t0 = _T0
    for b in mv[i:]:
        crc = t0[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ MASK


def _gf2_times(mat, vec):
    s = 0
    i = 0
    while vec:
        if vec & 1:
            s ^= mat[i]
        vec >>= 1
        i += 1
    return s


def _gf2_square(mat):
    return [_gf2_times(mat, mat[n]) for n in range(64)]


def crc64_combine(crc1, crc2, len2):
    """CRC of A||B from crc(A), crc(B), len(B) (zlib's method)."""
    if len2 == 0:
        return crc1
    op = [POLY] + [1 << n for n in range(63)]  # one zero bit into the register
    for _ in range(3):
        op = _gf2_square(op)  # 2, 4, then 8 zero bits: one zero byte
    while len2:
        if len2 & 1:
            crc1 = _gf2_times(op, crc1)
        len2 >>= 1
        if len2:
            op = _gf2_square(op)
    return crc1 ^ crc2


# ---------------------------------------------------------------- signatures
# V1 signed sub-resources (the OSS V1 rules: Go v2 SDK and C SDK lists).
V1_SUBRESOURCES = {
    "acl", "append", "bucketInfo", "callback", "callback-var", "cloudboxes", "comp",
    "continuation-token", "cors", "delete", "endTime", "lifecycle", "live", "location",
    "logging", "objectMeta", "partNumber", "position", "qos", "referer", "regionList",
    "resourceGroup", "response-cache-control", "response-content-disposition",
    "response-content-encoding", "response-content-language", "response-content-type",
    "response-expires", "restore", "security-token", "sequential", "startTime", "stat",
    "status", "symlink", "tagging", "uploadId", "uploads", "versionId", "versioning",
    "versions", "vod", "website", "x-oss-process",
}


def uri_encode(s, keep_slash):
    # quote() keeps A-Z a-z 0-9 _ . - ~ ; everything else %XX upper case, UTF-8
    return urllib.parse.quote(s, safe="/" if keep_slash else "")


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def hmac256(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


class SigError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_v4_auth(value):
    """'OSS4-HMAC-SHA256 Credential=AK/day/region/oss/aliyun_v4_request[,AdditionalHeaders=..],Signature=..'"""
    rest = value[len("OSS4-HMAC-SHA256"):].strip()
    fields = {}
    for part in rest.split(","):
        part = part.strip()
        if "=" not in part:
            raise SigError(400, "InvalidArgument", "Authorization: malformed OSS4-HMAC-SHA256 header")
        k, v = part.split("=", 1)
        fields[k.strip()] = v.strip()
    if "Credential" not in fields or "Signature" not in fields:
        raise SigError(400, "InvalidArgument", "Authorization: Credential or Signature missing")
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aliyun_v4_request":
        raise SigError(400, "InvalidArgument", "Authorization: bad Credential scope")
    return cred, fields.get("AdditionalHeaders", ""), fields["Signature"]


def v4_expected(secret, method, bucket, key, query_pairs, headers, additional, date, cred):
    """Returns (signature hex, canonical request) by the OSS V4 rules."""
    _, day, region, product, term = cred
    if bucket:
        uri = "/" + bucket + "/" + key
    else:
        uri = "/"
    enc = sorted((uri_encode(k, False), uri_encode(v, False)) for k, v in query_pairs)
    cquery = "&".join(k + ("=" + v if v != "" else "") for k, v in enc)
    add = sorted({h.strip().lower() for h in additional.split(";") if h.strip()})
    lines = []
    for name in sorted(headers):
        if name in ("content-type", "content-md5") or name.startswith("x-oss-") or name in add:
            lines.append(name + ":" + headers[name] + "\n")
    hashed = headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    canonical = "%s\n%s\n%s\n%s\n%s\n%s" % (
        method, uri_encode(uri, True), cquery, "".join(lines), ";".join(
            a for a in add if a in headers and not (a in ("content-type", "content-md5") or a.startswith("x-oss-"))),
        hashed)
    sts = "OSS4-HMAC-SHA256\n%s\n%s/%s/%s/%s\n%s" % (
        date, day, region, product, term, sha256_hex(canonical.encode()))
    k = hmac256(("aliyun_v4" + secret).encode(), day)
    for p in (region, product, term):
        k = hmac256(k, p)
    return hmac.new(k, sts.encode(), hashlib.sha256).hexdigest(), canonical


def v1_expected(secret, method, bucket, key, query_pairs, headers):
    """Returns (signature base64, string to sign) by the OSS V1 rules."""
    date = headers.get("date") or headers.get("x-oss-date", "")
    oss_headers = "".join(
        name + ":" + headers[name] + "\n" for name in sorted(headers) if name.startswith("x-oss-"))
    resource = "/" + (bucket + "/" + key if bucket else "")
    sub = sorted((k, v) for k, v in query_pairs if k in V1_SUBRESOURCES or k.startswith("x-oss-"))
    if sub:
        resource += "?" + "&".join(k + ("=" + v if v != "" else "") for k, v in sub)
    sts = "%s\n%s\n%s\n%s\n%s%s" % (
        method, headers.get("content-md5", ""), headers.get("content-type", ""), date,
        oss_headers, resource)
    mac = hmac.new(secret.encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode(), sts


# ---------------------------------------------------------------- state

class State:
    def __init__(self, root, access_key, secret, token, region, verbose):
        self.lock = threading.Lock()
        self.root = root
        self.access_key, self.secret, self.token = access_key, secret, token
        self.expired_tokens = set()
        self.region = region
        self.verbose = verbose
        self.expire_after = None  # parts left before the token expires
        self.fail_5xx = 0
        self.reset = 0
        self.slow_ms = 0
        self.requests = 0
        self.part_requests = 0
        self.parts_by_upload = {}
        self.uploads = {}  # id -> {"bucket","key","parts": {n: {...}}, "initiated"}
        self.objects = {}  # "bucket/key" -> {"size","crc","etag","mtime","ctype"}

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "part_requests": self.part_requests,
                "parts_by_upload": {k: list(v) for k, v in self.parts_by_upload.items()},
                "uploads_open": sorted(self.uploads),
                "objects": {k: v["size"] for k, v in sorted(self.objects.items())},
            }


def xml_doc(root, children):
    """<root><k>v</k>...</root>; children is a list of (tag, text or list)."""
    def build(parent, items):
        for tag, val in items:
            e = ET.SubElement(parent, tag)
            if isinstance(val, list):
                build(e, val)
            else:
                e.text = str(val)
    r = ET.Element(root)
    build(r, children)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(r, encoding="utf-8")


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def iso_ms(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


class Reset(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def version_string(self):
        return "vodq-oss-test-server"

    def log_message(self, fmt, *args):
        if self.server.state.verbose:
            sys.stderr.write("oss_server: " + (fmt % args) + "\n")

    # ---- plumbing

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te == "chunked":
            out = bytearray()
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("chunked body cut short")
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise ConnectionError("chunked body cut short")
                out += chunk
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if len(body) != n:
            raise ConnectionError("body cut short")
        return body

    def reply(self, status, body=b"", headers=None, length=None):
        # slow_ms delays the reply, not the work: a part counts as stored
        # from the moment its bytes arrived, as at a real server
        slow, self.slow_ms = getattr(self, "slow_ms", 0), 0
        if slow:
            time.sleep(slow / 1000.0)
        rid = uuid.uuid4().hex[:24].upper()
        self.send_response(status)
        self.send_header("x-oss-request-id", rid)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body and not any(k.lower() == "content-type" for k in (headers or {})):
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def error(self, status, code, message, extra=None):
        children = [("Code", code), ("Message", message),
                    ("RequestId", uuid.uuid4().hex[:24].upper()), ("HostId", self.headers.get("Host", ""))]
        children += extra or []
        self.reply(status, xml_doc("Error", children))

    def reset_connection(self):
        """Closes the connection with a TCP RST and no reply."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()
            self.wfile.close()
            self.connection.close()
        except OSError:
            pass

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    # ---- control

    def control(self, path):
        st = self.server.state
        if path == "/__ctl/stats" and self.command == "GET":
            body = json.dumps(st.stats()).encode()
            return self.reply(200, body, {"Content-Type": "application/json"})
        if path == "/__ctl/config" and self.command == "POST":
            try:
                cfg = json.loads(self.read_body() or b"{}")
                if not isinstance(cfg, dict):
                    raise ValueError("not an object")
            except ValueError as e:
                return self.reply(400, ("bad config JSON: %s\n" % e).encode(), {"Content-Type": "text/plain"})
            with st.lock:
                for k in ("fail_5xx", "reset", "slow_ms"):
                    if k in cfg:
                        setattr(st, k, int(cfg[k]))
                if "expire_token_after_parts" in cfg:
                    n = cfg["expire_token_after_parts"]
                    st.expire_after = None if n is None else int(n)
                if "token" in cfg:
                    if st.token:
                        st.expired_tokens.add(st.token)
                    st.token = cfg["token"] or None
                    st.expired_tokens.discard(st.token)
                    st.expire_after = None
                if "access_key" in cfg:
                    st.access_key = cfg["access_key"]
                if "secret" in cfg:
                    st.secret = cfg["secret"]
            return self.reply(200, b"{}", {"Content-Type": "application/json"})
        return self.reply(404, b"no such control endpoint\n", {"Content-Type": "text/plain"})

    # ---- addressing and auth

    def address(self, raw_path):
        """(bucket, key) from Host and path; key "" for bucket-level requests."""
        host = self.headers.get("Host", "")
        if host.startswith("["):
            hostname = host[1:host.find("]")]
        else:
            hostname = host.rsplit(":", 1)[0] if ":" in host else host
        path = urllib.parse.unquote(raw_path)
        virtual = True
        try:
            ipaddress.ip_address(hostname)
            virtual = False
        except ValueError:
            if hostname in ("localhost", "") or "." not in hostname:
                virtual = False
        self.virtual_host = virtual
        if virtual:
            return hostname.split(".", 1)[0], path[1:]
        rest = path[1:]
        if "/" in rest:
            b, k = rest.split("/", 1)
            return b, k
        return rest, ""

    def authenticate(self, bucket, key, query_pairs):
        st = self.server.state
        with st.lock:
            ak, secret, token, expired = st.access_key, st.secret, st.token, set(st.expired_tokens)
            region = st.region
        headers = {}
        for name, value in self.headers.items():
            n = name.lower()
            v = value.strip()
            headers[n] = headers[n] + "," + v if n in headers else v
        auth = headers.get("authorization", "")
        if not auth:
            raise SigError(403, "AccessDenied", "AccessDenied: no Authorization header (anonymous access is off)")
        if auth.startswith("OSS4-HMAC-SHA256"):
            cred, additional, sig = parse_v4_auth(auth)
            kind = "V4"
        elif auth.startswith("OSS "):
            try:
                cred_ak, sig = auth[4:].rsplit(":", 1)
            except ValueError:
                raise SigError(400, "InvalidArgument", "Authorization: malformed OSS V1 header")
            cred = [cred_ak]
            kind = "V1"
        else:
            raise SigError(400, "InvalidArgument", "Authorization: unknown scheme (want OSS4-HMAC-SHA256 or OSS)")
        if cred[0] != ak:
            raise SigError(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
        if token is not None or expired:
            sent = headers.get("x-oss-security-token")
            if sent is None:
                raise SigError(403, "InvalidSecurityToken", "The security token you provided is missing (x-oss-security-token).")
            if sent != token:
                if sent in expired:
                    raise SigError(403, "SecurityTokenExpired", "The security token you provided has expired.")
                raise SigError(403, "InvalidSecurityToken", "The security token you provided is invalid.")
        # time
        now = time.time()
        if kind == "V4":
            date = headers.get("x-oss-date", "")
            try:
                ts = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
            except ValueError:
                raise SigError(400, "InvalidArgument", "x-oss-date must be YYYYMMDDTHHMMSSZ")
            if cred[1] != date[:8]:
                raise SigError(403, "SignatureDoesNotMatch", "Credential date does not match x-oss-date.")
            if cred[3] != "oss":
                raise SigError(403, "SignatureDoesNotMatch", "Credential product must be oss.")
            if region and cred[2] != region:
                raise SigError(403, "SignatureDoesNotMatch", "Credential region %s is not %s." % (cred[2], region))
        else:
            date = headers.get("date") or headers.get("x-oss-date", "")
            try:
                ts = email.utils.parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                raise SigError(403, "AccessDenied", "Date header missing or not an RFC 1123 date.")
        if abs(now - ts) > MAX_SKEW_S:
            raise SigError(403, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large.")
        if kind == "V4":
            want, text = v4_expected(secret, self.command, bucket, key, query_pairs, headers, additional, date, cred)
        else:
            want, text = v1_expected(secret, self.command, bucket, key, query_pairs, headers)
        if not hmac.compare_digest(want, sig):
            if st.verbose:
                sys.stderr.write("oss_server: %s signature mismatch; expected over:\n%s\n" % (kind, text))
            raise SigError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature you provided (%s)." % kind)

    # ---- dispatch

    def do_any(self):
        st = self.server.state
        split = urllib.parse.urlsplit(self.path)
        if split.path.startswith("/__ctl/"):
            return self.control(split.path)
        query_pairs = []
        for item in split.query.split("&") if split.query else []:
            k, _, v = item.partition("=")
            query_pairs.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
        q = dict(query_pairs)
        is_part = self.command == "PUT" and "uploadId" in q and "partNumber" in q
        try:
            body = self.read_body()
        except (ConnectionError, ValueError, OSError):
            self.close_connection = True
            return
        with st.lock:
            st.requests += 1
            if is_part:
                st.part_requests += 1
            fault = None
            if st.reset > 0:
                st.reset -= 1
                fault = "reset"
            elif st.fail_5xx > 0:
                st.fail_5xx -= 1
                fault = "5xx"
            slow = st.slow_ms
        if fault == "reset":
            return self.reset_connection()
        self.slow_ms = slow
        if fault == "5xx":
            return self.error(503, "InternalError", "We encountered an internal error. Please try again. (injected)")
        bucket, key = self.address(split.path)
        try:
            self.authenticate(bucket, key, query_pairs)
        except SigError as e:
            return self.error(e.status, e.code, e.message)
        if not bucket:
            return self.error(400, "InvalidBucketName", "No bucket in the request.")
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and body is not None and self.command in ("PUT", "POST"):
            if base64.b64encode(hashlib.md5(body).digest()).decode() != md5.strip():
                return self.error(400, "InvalidDigest", "The Content-MD5 you specified did not match what we received.")
        m = self.command
        if key == "":
            if m == "GET" and "uploads" in q:
                return self.list_uploads(bucket)
            return self.error(400, "InvalidArgument", "Bucket-level %s is not supported by this test server." % m)
        if m == "PUT" and "uploadId" in q:
            return self.upload_part(bucket, key, q, body)
        if m == "PUT":
            return self.put_object(bucket, key, body)
        if m == "POST" and "uploads" in q:
            return self.initiate(bucket, key)
        if m == "POST" and "uploadId" in q:
            return self.complete(bucket, key, q["uploadId"], body)
        if m == "DELETE" and "uploadId" in q:
            return self.abort(bucket, key, q["uploadId"])
        if m == "DELETE":
            return self.delete_object(bucket, key)
        if m == "GET" and "uploadId" in q:
            return self.list_parts(bucket, key, q)
        if m in ("GET", "HEAD"):
            return self.get_object(bucket, key)
        return self.error(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_any

    # ---- operations

    def obj_path(self, bucket, key):
        root = os.path.join(self.server.state.root, "objects")
        p = os.path.normpath(os.path.join(root, bucket, key))
        if not p.startswith(os.path.join(root, bucket) + os.sep):
            raise SigError(400, "InvalidObjectName", "The object name is not valid here.")
        return p

    def store(self, path, chunks):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = "%s.tmp-%s" % (path, uuid.uuid4().hex)
        with open(tmp, "wb") as f:
            for c in chunks:
                f.write(c)
        os.replace(tmp, path)

    def put_object(self, bucket, key, body):
        st = self.server.state
        try:
            path = self.obj_path(bucket, key)
        except SigError as e:
            return self.error(e.status, e.code, e.message)
        crc = crc64(body)
        etag = '"%s"' % hashlib.md5(body).hexdigest().upper()
        self.store(path, [body])
        with st.lock:
            st.objects[bucket + "/" + key] = {"size": len(body), "crc": crc, "etag": etag,
                                              "mtime": time.time(),
                                              "ctype": self.headers.get("Content-Type", "application/octet-stream")}
        self.reply(200, b"", {"ETag": etag, "x-oss-hash-crc64ecma": str(crc)})

    def initiate(self, bucket, key):
        st = self.server.state
        uid = uuid.uuid4().hex.upper()
        with st.lock:
            st.uploads[uid] = {"bucket": bucket, "key": key, "parts": {}, "initiated": time.time(),
                               "ctype": self.headers.get("Content-Type", "application/octet-stream")}
        self.reply(200, xml_doc("InitiateMultipartUploadResult",
                                [("Bucket", bucket), ("Key", key), ("UploadId", uid)]))

    def find_upload(self, bucket, key, uid):
        st = self.server.state
        with st.lock:
            u = st.uploads.get(uid)
        if not u or u["bucket"] != bucket or u["key"] != key:
            self.error(404, "NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, "
                       "or the upload may have been aborted or completed.", [("UploadId", uid)])
            return None
        return u

    def upload_part(self, bucket, key, q, body):
        st = self.server.state
        try:
            n = int(q.get("partNumber", ""))
        except ValueError:
            n = 0
        if not 1 <= n <= 10000:
            return self.error(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.",
                              [("ArgumentName", "PartNumber"), ("ArgumentValue", q.get("partNumber", ""))])
        uid = q["uploadId"]
        u = self.find_upload(bucket, key, uid)
        if u is None:
            return
        crc = crc64(body)
        etag = '"%s"' % hashlib.md5(body).hexdigest().upper()
        path = os.path.join(st.root, "parts", uid, str(n))
        self.store(path, [body])
        with st.lock:
            if uid not in st.uploads:  # aborted meanwhile
                return self.error(404, "NoSuchUpload", "The specified upload does not exist.")
            u["parts"][n] = {"etag": etag, "size": len(body), "crc": crc, "path": path, "mtime": time.time()}
            st.parts_by_upload.setdefault(uid, []).append(n)
            if st.expire_after is not None:
                st.expire_after -= 1
                if st.expire_after <= 0:
                    st.expire_after = None
                    if st.token:
                        st.expired_tokens.add(st.token)
                    st.token = None
        self.reply(200, b"", {"ETag": etag, "x-oss-hash-crc64ecma": str(crc)})

    def complete(self, bucket, key, uid, body):
        st = self.server.state
        u = self.find_upload(bucket, key, uid)
        if u is None:
            return
        try:
            root = ET.fromstring(body)
            if root.tag != "CompleteMultipartUpload":
                raise ValueError("root is <%s>" % root.tag)
            listed = []
            for p in root.findall("Part"):
                listed.append((int(p.findtext("PartNumber")), (p.findtext("ETag") or "").strip()))
        except (ET.ParseError, ValueError, TypeError) as e:
            return self.error(400, "MalformedXML", "The XML you provided was not well-formed: %s" % e)
        if not listed:
            return self.error(400, "MalformedXML", "CompleteMultipartUpload lists no parts.")
        with st.lock:
            parts = dict(u["parts"])
        numbers = [n for n, _ in listed]
        if any(b <= a for a, b in zip(numbers, numbers[1:])):
            return self.error(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
        for n, etag in listed:
            p = parts.get(n)
            if p is None or p["etag"].strip('"').upper() != etag.strip('"').upper():
                return self.error(400, "InvalidPart", "One or more of the specified parts could not be found or "
                                  "the specified entity tag might not have matched the part's entity tag.",
                                  [("PartNumber", n), ("ETag", etag)])
        for n, _ in listed[:-1]:
            if parts[n]["size"] < MIN_PART:
                return self.error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed "
                                  "size (part %d: %d bytes)." % (n, parts[n]["size"]))

        def chunks():
            for n, _ in listed:
                with open(parts[n]["path"], "rb") as f:
                    while True:
                        b = f.read(1 << 20)
                        if not b:
                            break
                        yield b
        try:
            path = self.obj_path(bucket, key)
        except SigError as e:
            return self.error(e.status, e.code, e.message)
        self.store(path, chunks())
        crc, size = 0, 0
        md5s = b""
        for n, _ in listed:
            crc = crc64_combine(crc, parts[n]["crc"], parts[n]["size"])
            size += parts[n]["size"]
            md5s += bytes.fromhex(parts[n]["etag"].strip('"'))
        etag = '"%s-%d"' % (hashlib.md5(md5s).hexdigest().upper(), len(listed))
        with st.lock:
            st.uploads.pop(uid, None)
            st.objects[bucket + "/" + key] = {"size": size, "crc": crc, "etag": etag, "mtime": time.time(),
                                              "ctype": u["ctype"]}
        self.drop_parts(uid)
        host = self.headers.get("Host", "")
        where = key if getattr(self, "virtual_host", False) else bucket + "/" + key
        self.reply(200, xml_doc("CompleteMultipartUploadResult",
                                [("Location", "http://%s/%s" % (host, urllib.parse.quote(where))),
                                 ("Bucket", bucket), ("Key", key), ("ETag", etag)]),
                   {"x-oss-hash-crc64ecma": str(crc), "ETag": etag})

    def drop_parts(self, uid):
        d = os.path.join(self.server.state.root, "parts", uid)
        if os.path.isdir(d):
            for f in os.listdir(d):
                try:
                    os.unlink(os.path.join(d, f))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass

    def abort(self, bucket, key, uid):
        st = self.server.state
        if self.find_upload(bucket, key, uid) is None:
            return
        with st.lock:
            st.uploads.pop(uid, None)
        self.drop_parts(uid)
        self.reply(204)

    def list_parts(self, bucket, key, q):
        st = self.server.state
        uid = q["uploadId"]
        u = self.find_upload(bucket, key, uid)
        if u is None:
            return
        try:
            maxp = int(q.get("max-parts", "1000"))
            marker = int(q.get("part-number-marker", "0") or 0)
        except ValueError:
            return self.error(400, "InvalidArgument", "max-parts and part-number-marker must be integers.")
        with st.lock:
            nums = sorted(n for n in u["parts"] if n > marker)
            parts = dict(u["parts"])
        page, more = nums[:maxp], len(nums) > maxp
        items = [("Bucket", bucket), ("Key", key), ("UploadId", uid), ("PartNumberMarker", marker),
                 ("NextPartNumberMarker", page[-1] if page else marker), ("MaxParts", maxp),
                 ("IsTruncated", "true" if more else "false")]
        for n in page:
            p = parts[n]
            items.append(("Part", [("PartNumber", n), ("LastModified", iso_ms(p["mtime"])), ("ETag", p["etag"]),
                                   ("HashCrc64ecma", p["crc"]), ("Size", p["size"])]))
        self.reply(200, xml_doc("ListPartsResult", items))

    def list_uploads(self, bucket):
        st = self.server.state
        with st.lock:
            ups = sorted(((u["key"], uid, u["initiated"]) for uid, u in st.uploads.items() if u["bucket"] == bucket))
        items = [("Bucket", bucket), ("KeyMarker", ""), ("UploadIdMarker", ""), ("NextKeyMarker", ""),
                 ("NextUploadIdMarker", ""), ("Delimiter", ""), ("Prefix", ""), ("MaxUploads", 1000),
                 ("IsTruncated", "false")]
        for k, uid, t in ups:
            items.append(("Upload", [("Key", k), ("UploadId", uid), ("Initiated", iso_ms(t))]))
        self.reply(200, xml_doc("ListMultipartUploadsResult", items))

    def object_meta(self, bucket, key, path):
        st = self.server.state
        with st.lock:
            meta = st.objects.get(bucket + "/" + key)
        if meta is None and os.path.isfile(path):  # stored before a restart
            with open(path, "rb") as f:
                data = f.read()
            meta = {"size": len(data), "crc": crc64(data), "etag": '"%s"' % hashlib.md5(data).hexdigest().upper(),
                    "mtime": os.path.getmtime(path), "ctype": "application/octet-stream"}
            with st.lock:
                st.objects[bucket + "/" + key] = meta
        return meta

    def get_object(self, bucket, key):
        try:
            path = self.obj_path(bucket, key)
        except SigError as e:
            return self.error(e.status, e.code, e.message)
        meta = self.object_meta(bucket, key, path)
        if meta is None or not os.path.isfile(path):
            return self.error(404, "NoSuchKey", "The specified key does not exist.")
        headers = {"ETag": meta["etag"], "x-oss-hash-crc64ecma": str(meta["crc"]),
                   "Last-Modified": http_date(meta["mtime"]), "Content-Type": meta["ctype"],
                   "Accept-Ranges": "bytes"}
        size = meta["size"]
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and "," not in rng:
            a, _, b = rng[6:].partition("-")
            try:
                if a == "":
                    start, end = max(0, size - int(b)), size - 1
                else:
                    start, end = int(a), min(int(b), size - 1) if b else size - 1
                if start <= end < size:
                    status = 206
                    headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, size)
                else:
                    start, end = 0, size - 1
            except ValueError:
                pass
        if self.command == "HEAD":
            return self.reply(200, b"", headers, length=size)
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(end - start + 1) if size else b""
        self.reply(status, data, headers)

    def delete_object(self, bucket, key):
        st = self.server.state
        try:
            path = self.obj_path(bucket, key)
        except SigError as e:
            return self.error(e.status, e.code, e.message)
        with st.lock:
            st.objects.pop(bucket + "/" + key, None)
        try:
            os.unlink(path)
        except OSError:
            pass
        self.reply(204)


def selftest_server(check):
    """Starts this server on a free port (in a temporary directory) and
    drives every operation once with requests signed by v4_expected: the
    operations, their XML errors, CRC-64/ETag headers and /__ctl."""
    import http.client
    import re
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="oss-selftest.")
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(d, "AK", "SK", "T1", None, False)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    tok = ["T1"]

    def req(method, key, query="", body=b"", headers=None, sign=True, date=None):
        hdrs = {"Host": "bk.localhost:%d" % port}
        hdrs.update(headers or {})
        if sign:
            dt = date or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            hdrs.update({"x-oss-date": dt, "x-oss-content-sha256": "UNSIGNED-PAYLOAD", "x-oss-security-token": tok[0]})
            qp = [(urllib.parse.unquote(k), urllib.parse.unquote(v))
                  for k, _, v in (i.partition("=") for i in query.split("&") if i)]
            cred = ["AK", dt[:8], "cn-shanghai", "oss", "aliyun_v4_request"]
            sig = v4_expected("SK", method, "bk", key, qp, {k.lower(): v for k, v in hdrs.items()}, "", dt, cred)[0]
            hdrs["Authorization"] = ("OSS4-HMAC-SHA256 Credential=AK/%s/cn-shanghai/oss/aliyun_v4_request,"
                                     "Signature=%s" % (dt[:8], sig))
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request(method, "/" + urllib.parse.quote(key) + ("?" + query if query else ""), body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def code(data):
        m = re.search(rb"<Code>(.*?)</Code>", data)
        return m and m.group(1).decode()

    def upload_id(data):
        return re.search(rb"<UploadId>(.*?)</UploadId>", data).group(1).decode()

    def ctl(obj):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("POST", "/__ctl/config", body=json.dumps(obj).encode())
        c.getresponse().read()
        c.close()

    def complete_body(parts):
        return ("<CompleteMultipartUpload>" + "".join(
            "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>" % p for p in parts) +
            "</CompleteMultipartUpload>").encode()

    try:
        p1, p2 = os.urandom(150000), os.urandom(5000)
        uid = upload_id(req("POST", "v.mp4", "uploads")[2])
        s, h1, _ = req("PUT", "v.mp4", "partNumber=1&uploadId=" + uid, p1)
        check("part 1", (s, h1["ETag"], int(h1["x-oss-hash-crc64ecma"])),
              (200, '"%s"' % hashlib.md5(p1).hexdigest().upper(), crc64(p1)))
        md5 = base64.b64encode(hashlib.md5(p2).digest()).decode()
        s, h2, _ = req("PUT", "v.mp4", "partNumber=2&uploadId=" + uid, p2, {"Content-MD5": md5})
        check("part 2", s, 200)
        check("InvalidDigest", code(req("PUT", "v.mp4", "partNumber=3&uploadId=" + uid, p1, {"Content-MD5": md5})[2]),
              "InvalidDigest")
        check("part number range", code(req("PUT", "v.mp4", "partNumber=10001&uploadId=" + uid, p2)[2]),
              "InvalidArgument")
        d = req("GET", "v.mp4", "uploadId=" + uid)[2]
        check("ListParts", (d.count(b"<Part>"), b"<HashCrc64ecma>%d<" % crc64(p1) in d), (2, True))
        d = req("GET", "v.mp4", "max-parts=1&uploadId=" + uid)[2]
        check("ListParts page", (d.count(b"<Part>"), b"<IsTruncated>true<" in d), (1, True))
        check("ListMultipartUploads", uid.encode() in req("GET", "", "uploads")[2], True)
        e1, e2 = h1["ETag"], h2["ETag"]
        check("InvalidPart", code(req("POST", "v.mp4", "uploadId=" + uid, complete_body([(1, e1), (2, '"00"')]))[2]),
              "InvalidPart")
        check("InvalidPartOrder", code(req("POST", "v.mp4", "uploadId=" + uid,
                                           complete_body([(2, e2), (1, e1)]))[2]), "InvalidPartOrder")
        check("MalformedXML", code(req("POST", "v.mp4", "uploadId=" + uid, b"<bad")[2]), "MalformedXML")
        s, hc, _ = req("POST", "v.mp4", "uploadId=" + uid, complete_body([(1, e1), (2, e2)]))
        check("Complete", (s, int(hc["x-oss-hash-crc64ecma"])), (200, crc64(p1 + p2)))
        with open(os.path.join(srv.state.root, "objects", "bk", "v.mp4"), "rb") as f:
            check("stored object", f.read() == p1 + p2, True)
        s, hh, _ = req("HEAD", "v.mp4")
        check("HeadObject", (s, int(hh["Content-Length"]), int(hh["x-oss-hash-crc64ecma"])),
              (200, len(p1) + len(p2), crc64(p1 + p2)))
        s, _, body = req("GET", "v.mp4", headers={"Range": "bytes=10-19"})
        check("GetObject range", (s, body), (206, p1[10:20]))
        check("NoSuchUpload", code(req("DELETE", "v.mp4", "uploadId=" + uid)[2]), "NoSuchUpload")
        check("NoSuchKey", code(req("GET", "nope.mp4")[2]), "NoSuchKey")
        uid2 = upload_id(req("POST", "w.mp4", "uploads")[2])
        ha = req("PUT", "w.mp4", "partNumber=1&uploadId=" + uid2, p2)[1]
        hb = req("PUT", "w.mp4", "partNumber=2&uploadId=" + uid2, p2)[1]
        check("EntityTooSmall", code(req("POST", "w.mp4", "uploadId=" + uid2,
                                         complete_body([(1, ha["ETag"]), (2, hb["ETag"])]))[2]), "EntityTooSmall")
        check("AbortMultipartUpload", req("DELETE", "w.mp4", "uploadId=" + uid2)[0], 204)
        put = os.urandom(1000)
        s, hp, _ = req("PUT", "img.jpg", "", put)
        check("PutObject", (s, int(hp["x-oss-hash-crc64ecma"])), (200, crc64(put)))
        check("RequestTimeTooSkewed", code(req("GET", "v.mp4", date="20200101T000000Z")[2]), "RequestTimeTooSkewed")
        check("AccessDenied", code(req("GET", "v.mp4", sign=False)[2]), "AccessDenied")
        tok[0] = "T9"
        check("InvalidSecurityToken", code(req("GET", "v.mp4")[2]), "InvalidSecurityToken")
        ctl({"token": "T2"})
        tok[0] = "T1"
        check("SecurityTokenExpired", code(req("GET", "v.mp4")[2]), "SecurityTokenExpired")
        tok[0] = "T2"
        check("new token", req("GET", "v.mp4")[0], 200)
        ctl({"expire_token_after_parts": 1})
        uid3 = upload_id(req("POST", "x.mp4", "uploads")[2])
        check("part before expiry", req("PUT", "x.mp4", "partNumber=1&uploadId=" + uid3, p1)[0], 200)
        check("expiry after 1 part", code(req("PUT", "x.mp4", "partNumber=2&uploadId=" + uid3, p1)[2]),
              "SecurityTokenExpired")
        ctl({"fail_5xx": 1})
        check("fail_5xx", req("GET", "v.mp4")[0], 503)
        check("after fail_5xx", req("GET", "v.mp4")[0], 403)  # T2 expired above
        st = srv.state.stats()
        check("stats", (st["parts_by_upload"][uid], st["parts_by_upload"][uid3], st["uploads_open"],
                        st["objects"]),
              ([1, 2], [1], [uid3], {"bk/img.jpg": 1000, "bk/v.mp4": len(p1) + len(p2)}))
    finally:
        srv.shutdown()
        srv.server_close()
        shutil.rmtree(d, ignore_errors=True)


def selftest():
    """Checks this file's own signature and CRC code against the vectors of
    shared/spec/upload-protocols.md §7 (OSS V1 7.1, OSS V4 7.2/7.3, CRC 7.6,
    derived 7.7), then one round trip of every operation against a server
    started here. Exit status 0 when all match."""
    fails = []

    def check(name, got, want):
        if got != want:
            fails.append("%s: got %s, want %s" % (name, got, want))

    check("crc 123456789", crc64(b"123456789"), 0x995DC9BBDF1939FA)
    e = b"This is a test of the emergency broadcast system."
    check("crc emergency", crc64(e), 0x27DB187FC15BBC72)
    check("crc empty", crc64(b""), 0)
    for v in (b"123456789", e):
        h = (len(v) + 1) >> 1
        check("combine", crc64_combine(crc64(v[:h]), crc64(v[h:]), len(v) - h), crc64(v))
    d = "Wed, 28 Dec 2022 10:27:41 GMT"
    h1 = {"content-md5": "eB5eJF1ptWaXm4bijSPyxw==", "content-type": "text/html", "x-oss-meta-author": "alice",
          "x-oss-meta-magic": "abracadabra", "x-oss-date": d, "date": d}
    check("V1-1", v1_expected("sk", "PUT", "examplebucket", "nelson", [], h1)[0], "kSHKmLxlyEAKtZPkJhG9bZb5k7M=")
    check("V1-2", v1_expected("sk", "PUT", "examplebucket", "nelson", [("acl", "")], h1)[0],
          "/afkugFbmWDQ967j1vr6zygBLQk=")
    h3 = {"x-oss-date": d}
    check("V1-3", v1_expected("sk", "GET", "examplebucket", "", [("resourceGroup", ""), ("non-resousce", "null")],
                              h3)[0], "vkQmfuUDyi1uDi3bKt67oemssIs=")
    check("V1-4", v1_expected("sk", "GET", "examplebucket", "", [("resourceGroup", ""), ("acl", "")], h3)[0],
          "x3E5TgOvl/i7PN618s5mEvpJDYk=")
    tok = {"x-oss-security-token": "token", "date": d}
    check("D-V1-a", v1_expected("sk", "POST", "examplebucket", "video.mp4", [("uploads", "")], tok)[0],
          "OzB+atHaV293bg8x6xsIwNi5O7o=")
    check("D-V1-b", v1_expected("sk", "PUT", "examplebucket", "video.mp4",
                                [("partNumber", "1"), ("uploadId", "0004B9895DBBB6EC98E36")], tok)[0],
          "jtX5vYS3dzFf0DH030Q3ddbQj8E=")
    check("D-V1-c", v1_expected("sk", "POST", "examplebucket", "video.mp4", [("uploadId", "0004B9895DBBB6EC98E36")],
                                dict(tok, **{"content-type": "application/xml"}))[0], "MjZ7SiA+hWqleenB2Wp2ZZf47uM=")
    go_q = [("param1", "value1"), ("+param1", "value3"), ("|param1", "value4"), ("+param2", ""), ("|param2", ""),
            ("param2", "")]

    def go_h(date, **extra):
        h = {"x-oss-head1": "value", "abc": "value", "zabc": "value", "xyz": "value", "content-type": "text/plain",
             "x-oss-content-sha256": "UNSIGNED-PAYLOAD", "x-oss-date": date}
        h.update(extra)
        return h

    def v4(date, h, additional="", bucket="bucket", key="1234+-/123/1.txt", q=go_q, region="cn-hangzhou",
           product="oss", method="PUT"):
        cred = ["ak", date[:8], region, product, "aliyun_v4_request"]
        return v4_expected("sk", method, bucket, key, q, h, additional, date, cred)[0]

    check("V4-H1", v4("20231216T162057Z", go_h("20231216T162057Z")),
          "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe")
    check("V4-H2", v4("20231217T034736Z", go_h("20231217T034736Z", **{"x-oss-security-token": "token"})),
          "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea")
    check("V4-H3", v4("20231216T172512Z", go_h("20231216T172512Z"), "ZAbc;abc"),
          "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f")
    check("V4-H3b", v4("20231216T172512Z", go_h("20231216T172512Z"), "x-oss-no-exist;ZAbc;x-oss-head1;abc"),
          "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f")
    ckey = "test-sign-V4/-!@#$%^&*()/abcdefjhijklmnoqprstuvwxyz/123456789"
    c_q = [("param1", "value1"), ("|param1", "value4"), ("+param1", "value3"), ("+param2", ""), ("|param2", ""),
           ("param2", "")]

    def c_h(date):
        return {"x-oss-head1": "value", "abc": "value", "zabc": "value", "xyz": "value",
                "content-type": "application/octet-stream", "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
                "x-oss-date": date}
    check("C-1", v4("20221016T091431Z", c_h("20221016T091431Z"), bucket="oss-bucket-test", key=ckey, q=[]),
          "5028172a0a3806285979896982bee6e36e915cbf428ee7100a809e1f0ff43b64")
    check("C-2", v4("20221016T040719Z", c_h("20221016T040719Z"), bucket="oss-bucket-test", key=ckey, q=c_q),
          "16e58322c5aafb55edd82813b02d6521caab8194882c786bf0e77b7987a63979")
    check("C-3", v4("20221016T091831Z", c_h("20221016T091831Z"), bucket="oss-bucket-test", key=ckey, q=c_q,
                    region="cloudbox-id", product="oss-cloudbox"),
          "939eae7d5012d444c8d1dd8c68811275928f780a859e41ddbe52cf10a100adb4")
    dh = {"x-oss-content-sha256": "UNSIGNED-PAYLOAD", "x-oss-date": "20221228T102741Z",
          "x-oss-security-token": "token"}
    check("D-V4-a", v4("20221228T102741Z", dh, bucket="examplebucket", key="video.mp4", q=[("uploads", "")],
                       region="cn-shanghai", method="POST"),
          "f30e8732ec10ca49dd3184c027875db96c8ed7b554b8597257a4b63ffc33d992")
    check("D-V4-b", v4("20221228T102741Z", dh, bucket="examplebucket", key="video.mp4",
                       q=[("partNumber", "1"), ("uploadId", "0004B9895DBBB6EC98E36")], region="cn-shanghai"),
          "a1f77705cf481d0aa6784b9c63c3f2c87be9692bde3833da0bd975e806b78355")
    try:
        selftest_server(check)
    except Exception as e:  # noqa: BLE001 - any failure is a selftest failure
        fails.append("server round trip: %r" % e)
    for f in fails:
        sys.stderr.write("selftest: FAIL %s\n" % f)
    sys.stderr.write("selftest: %s\n" % ("%d failed" % len(fails) if fails else "all vectors match"))
    return 1 if fails else 0


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description="OSS-protocol test server (a test server of ours, not Aliyun OSS)")
    if "--selftest" in sys.argv[1:]:
        sys.exit(selftest())
    ap.add_argument("--selftest", action="store_true",
                    help="check this server's signature and CRC code against the spec vectors, then exit")
    ap.add_argument("--dir", required=True, help="data directory; the port is written to DIR/port")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--token", default=None, help="the STS token requests must carry (x-oss-security-token)")
    ap.add_argument("--region", default=None, help="require this region in V4 credentials (default: any)")
    ap.add_argument("--verbose", action="store_true", help="log requests and signature mismatches to stderr")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.state = State(os.path.abspath(a.dir), a.access_key, a.secret, a.token, a.region, a.verbose)
    port = srv.server_address[1]
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, os.path.join(a.dir, "port"))
    sys.stderr.write("oss_server: test server listening on 127.0.0.1:%d\n" % port)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
