#!/usr/bin/env python3
"""A small HTTP file server for the remote-source tests.

Serves the files of DIR with HEAD, GET, Range requests (206, one range),
ETag and Last-Modified, If-Match (412), and logs one line per request to
LOG (method, path with query, Range header, status) so that tests can
count requests and ranges.

Special paths:
  /stall/NAME   answers HEAD normally, then sends the headers of a GET and
                stalls forever without a body byte (a silent server)
  /getonly/NAME a URL signed for GET only (as presigned S3 URLs are): HEAD
                gets 403, GET works (no Accept-Ranges, no validator)
  /trunc/NAME   answers HEAD normally; a GET sends the bytes of the file's
                first half only and then closes the connection (a server that
                goes away mid-download)
  /halfstall/NAME  the same, but stalls forever instead of closing
  anything missing: 404

RATE (optional, bytes per second): all GET bodies together are sent at most
this fast (a shared token bucket), as over a slow link.

usage: http_source.py DIR PORT LOG [RATE]
"""
import hashlib
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT, PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3]
RATE = int(sys.argv[4]) if len(sys.argv) > 4 else 0
lock = threading.Lock()
bucket = {"next": 0.0}
bucket_lock = threading.Lock()


def throttle(n):
    """Waits until n more bytes may go out under RATE (shared by all connections)."""
    if RATE <= 0:
        return
    with bucket_lock:
        now = time.monotonic()
        start = max(now, bucket["next"])
        bucket["next"] = start + n / RATE
    if start > now:
        time.sleep(start - now)


def log(line):
    with lock, open(LOG, "a") as f:
        f.write(line + "\n")


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def target(self):
        path = self.path.split("?", 1)[0]
        stall = path.startswith("/stall/")
        if stall:
            path = path[len("/stall"):]
        self.trunc = self.halfstall = False
        if path.startswith("/trunc/"):
            self.trunc, path = True, path[len("/trunc"):]
        elif path.startswith("/halfstall/"):
            self.halfstall, path = True, path[len("/halfstall"):]
        self.getonly = path.startswith("/getonly/")
        if self.getonly:
            path = path[len("/getonly"):]
        full = os.path.realpath(os.path.join(ROOT, path.lstrip("/")))
        if not full.startswith(os.path.realpath(ROOT) + os.sep) or not os.path.isfile(full):
            return None, stall
        return full, stall

    def reply(self, head):
        full, stall = self.target()
        rng = self.headers.get("Range", "")
        if full is None:
            log(f"{self.command} {self.path} range={rng} status=404")
            body = b"not found\n"
            self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)
            return
        if self.getonly and head:
            log(f"{self.command} {self.path} range={rng} status=403")
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.getonly:
            log(f"{self.command} {self.path} range={rng} status=200")
            data = open(full, "rb").read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        st = os.stat(full)
        size = st.st_size
        etag = '"' + hashlib.md5(f"{full}{st.st_mtime_ns}{size}".encode()).hexdigest() + '"'
        im = self.headers.get("If-Match")
        if im and im != etag:
            log(f"{self.command} {self.path} range={rng} status=412")
            self.send_response(412)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start, end, status = 0, size - 1, 200
        if rng.startswith("bytes=") and not head:
            a, b = rng[6:].split("-", 1)
            start = int(a)
            end = min(int(b) if b else size - 1, size - 1)
            status = 206
        log(f"{self.command} {self.path} range={rng} status={status}")
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", self.date_time_string(int(st.st_mtime)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        if stall:
            time.sleep(3600)
            return
        stop = end + 1
        if self.trunc or self.halfstall:
            stop = min(stop, size // 2)
        with open(full, "rb") as f:
            f.seek(start)
            left = stop - start
            while left > 0:
                chunk = f.read(min(left, 65536))
                if not chunk:
                    break
                throttle(len(chunk))
                self.wfile.write(chunk)
                left -= len(chunk)
        if self.halfstall and stop <= end:
            self.wfile.flush()
            time.sleep(3600)
        if self.trunc and stop <= end:
            self.wfile.flush()
            self.close_connection = True

    def do_HEAD(self):
        self.reply(True)

    def do_GET(self):
        self.reply(False)


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
