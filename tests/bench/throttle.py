#!/usr/bin/env python3
"""tests/bench/throttle.py: a throttling TCP proxy for the benchmarks.

Listens on 127.0.0.1 and forwards every connection to --to HOST:PORT. The
client-to-server direction of all connections together is held to
--rate-bps bits per second (one token bucket, a 64 KiB burst), like an
uplink; replies pass unthrottled. Writes the port it listens on to
--port-file once ready.

  python3 tests/bench/throttle.py --to 127.0.0.1:8080 --rate-bps 40000000 \
      --port-file /tmp/port
"""
import argparse
import asyncio
import os
import time

CHUNK = 16384


class Bucket:
    def __init__(self, rate_bytes):
        self.rate = rate_bytes
        self.burst = 65536
        self.tokens = self.burst
        self.t = time.monotonic()
        self.lock = asyncio.Lock()

    async def take(self, n):
        async with self.lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
                self.t = now
                if self.tokens >= n:
                    self.tokens -= n
                    return
                await asyncio.sleep((n - self.tokens) / self.rate)


async def pipe(reader, writer, bucket):
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            if bucket:
                await bucket.take(len(data))
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--to", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--rate-bps", type=float, required=True,
                    help="client-to-server rate of all connections, bits/s")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    ap.add_argument("--port-file", help="write the listening port here")
    a = ap.parse_args()
    host, port = a.to.rsplit(":", 1)
    bucket = Bucket(a.rate_bps / 8)

    async def handle(cr, cw):
        try:
            sr, sw = await asyncio.open_connection(host, int(port))
        except OSError:
            cw.close()
            return
        await asyncio.gather(pipe(cr, sw, bucket), pipe(sr, cw, None))

    srv = await asyncio.start_server(handle, "127.0.0.1", a.port)
    p = srv.sockets[0].getsockname()[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(p))
        os.replace(tmp, a.port_file)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
