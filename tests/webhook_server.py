#!/usr/bin/env python3
"""A webhook receiver for tests (loopback only): records every POST as one JSON line
(path, headers, body) in LOG and answers 500 to the first FAIL requests, then 200.

    webhook_server.py PORTFILE LOG [FAIL]

Writes the port it listens on into PORTFILE. verify(secret, header, body) checks a
vodq X-Vodq-Signature header the way docs/protocol.md tells a receiver to."""
import hashlib
import hmac
import http.server
import json
import sys
import threading


def verify(secret, header, body, now=None, tolerance=300):
    parts = dict(p.split("=", 1) for p in header.split(","))
    t, v1 = parts["t"], parts["v1"]
    mac = hmac.new(secret.encode(), (t + ".").encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, v1):
        return False
    return now is None or abs(now - int(t)) <= tolerance


def main():
    portfile, log = sys.argv[1], sys.argv[2]
    fail = [int(sys.argv[3]) if len(sys.argv) > 3 else 0]
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(n)
            with lock:
                status = 500 if fail[0] > 0 else 200
                fail[0] -= 1
                with open(log, "a") as f:
                    f.write(json.dumps({"path": self.path, "status": status,
                                        "headers": dict(self.headers.items()),
                                        "body": body.decode()}) + "\n")
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
