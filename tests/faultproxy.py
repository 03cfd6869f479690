#!/usr/bin/env python3
"""faultproxy.py: a fault-injecting TCP proxy for HTTP/1.1 tests (asyncio).

Sits between a client (vodq-upload, vodq-compose) and a server on 127.0.0.1
and forwards bytes unchanged, except that every exchange is made one request
per connection ("Connection: close" is set on the request sent upstream and
on the reply sent back), so that replies can be told apart without parsing
bodies. Then, for the replies to requests whose request line matches --match
(a regex, e.g. '^PUT .*partNumber=2&'), the --nth of them and the --count - 1
after it get the fault --mode:

  truncate  the reply is cut after its status line and --keep-headers header
            lines, ended there (Content-Length: 0, no body): e.g. an UploadPart
            reply without its ETag, an InitiateMultipartUpload reply without
            its UploadId. The server did the work; the client lost the reply.
  reset     the request reaches the server, then the client's connection is
            reset (RST) instead of the reply.
  stall     the request reaches the server; the reply is never sent and the
            connection stays open (a silent server).
  none      no fault (throttling or logging only).

--rate-bps N throttles the bytes sent to the server (all connections
together, a shared token bucket), as an uplink of N bytes/s would.
--log FILE gets one line per request: "<n> <unix time> <request line> -> <action>".

usage: faultproxy.py --listen PORT --upstream PORT [--mode M --match RE
                     --nth N --count C --keep-headers K] [--rate-bps N] [--log FILE]
Only 127.0.0.1 is used on both sides.
"""
import argparse
import asyncio
import re
import socket
import struct
import time

ap = argparse.ArgumentParser()
ap.add_argument("--listen", type=int, required=True)
ap.add_argument("--upstream", type=int, required=True)
ap.add_argument("--mode", default="none", choices=["none", "truncate", "reset", "stall"])
ap.add_argument("--match", default=".")
ap.add_argument("--nth", type=int, default=1)
ap.add_argument("--count", type=int, default=1)
ap.add_argument("--keep-headers", type=int, default=1)
ap.add_argument("--rate-bps", type=int, default=0)
ap.add_argument("--log", default=None)
A = ap.parse_args()
MATCH = re.compile(A.match.encode())
state = {"matched": 0, "requests": 0}


class Bucket:
    """A token bucket shared by all connections (bytes per second)."""

    def __init__(self, rate):
        self.rate = rate
        self.tokens = 0.0
        self.last = time.monotonic()

    async def take(self, n):
        if self.rate <= 0:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.rate * 0.05, self.tokens + (now - self.last) * self.rate)
            self.last = now
            if self.tokens >= n:
                self.tokens -= n
                return
            await asyncio.sleep(max((n - self.tokens) / self.rate, 0.001))


up_bucket = Bucket(A.rate_bps)


def log(line):
    if A.log:
        with open(A.log, "a") as f:
            f.write(line + "\n")


async def read_head(reader):
    """Reads up to and including the blank line; returns (head, rest) or None."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = await reader.read(65536)
        if not chunk:
            return None
        buf += chunk
        if len(buf) > 1 << 20:
            return None
    i = buf.index(b"\r\n\r\n") + 4
    return buf[:i], buf[i:]


def set_close(head):
    lines = head[:-4].split(b"\r\n")
    lines = [l for l in lines if not l.lower().startswith(b"connection:")]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def pump(reader, writer, throttle):
    try:
        while True:
            chunk = await reader.read(16384 if throttle else 65536)
            if not chunk:
                break
            if throttle:
                for i in range(0, len(chunk), 4096):
                    part = chunk[i:i + 4096]
                    await up_bucket.take(len(part))
                    writer.write(part)
                    await writer.drain()
            else:
                writer.write(chunk)
                await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass


def hard_reset(writer):
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def handle(creader, cwriter):
    uwriter = None
    try:
        got = await read_head(creader)
        if got is None:
            cwriter.close()
            return
        head, rest = got
        line = head.split(b"\r\n", 1)[0]
        state["requests"] += 1
        fault = "none"
        if A.mode != "none" and MATCH.search(line):
            state["matched"] += 1
            k = state["matched"]
            if A.nth <= k < A.nth + A.count:
                fault = A.mode
        log(f"{state['requests']} {time.time():.3f} {line.decode(errors='replace')} -> {fault}")
        ureader, uwriter = await asyncio.open_connection("127.0.0.1", A.upstream)
        out = set_close(head)
        await up_bucket.take(len(out))
        uwriter.write(out)
        if rest:
            await up_bucket.take(len(rest))
            uwriter.write(rest)
        await uwriter.drain()
        up = asyncio.ensure_future(pump(creader, uwriter, A.rate_bps > 0))
        got = await read_head(ureader)
        if got is None:
            up.cancel()
            cwriter.close()
            return
        rhead, rrest = got
        if fault == "reset":
            # let the server finish with the request, then drop the client hard
            up.cancel()
            hard_reset(cwriter)
            return
        if fault == "stall":
            up.cancel()
            await asyncio.sleep(3600)
            return
        if fault == "truncate":
            lines = rhead[:-4].split(b"\r\n")
            keep = [lines[0]] + [l for l in lines[1:A.keep_headers + 1]
                                 if not l.lower().startswith((b"content-length:", b"transfer-encoding:", b"connection:"))]
            keep += [b"Content-Length: 0", b"Connection: close"]
            cwriter.write(b"\r\n".join(keep) + b"\r\n\r\n")
            await cwriter.drain()
            up.cancel()
            cwriter.close()
            return
        cwriter.write(set_close(rhead))
        if rrest:
            cwriter.write(rrest)
        await cwriter.drain()
        await pump(ureader, cwriter, False)
        up.cancel()
        cwriter.close()
    except (ConnectionError, asyncio.CancelledError, OSError):
        try:
            cwriter.close()
        except Exception:
            pass
    finally:
        if uwriter is not None:
            try:
                uwriter.close()
            except Exception:
                pass


async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", A.listen)
    async with srv:
        await srv.serve_forever()


asyncio.run(main())
