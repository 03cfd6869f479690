#!/usr/bin/env python3
"""A TCP proxy between a Redis client and Redis that loses replies on purpose.

usage: redisproxy.py PORT_FILE TARGET_PORT [--cut-every N] [--match WORD]

Listens on 127.0.0.1 (a free port, written to PORT_FILE once listening) and forwards to
127.0.0.1:TARGET_PORT. Every Nth request that contains WORD (default FCALL) is
forwarded to Redis, and the connection is then cut the moment Redis's reply arrives,
before the client sees it: the request ran, its answer was lost. The number of cuts is
written to PORT_FILE.cuts after each one.
"""
import asyncio
import sys


def main():
    port_file, target = sys.argv[1], int(sys.argv[2])
    every, word = 0, b"FCALL"
    args = sys.argv[3:]
    while args:
        if args[0] == "--cut-every":
            every = int(args[1])
        elif args[0] == "--match":
            word = args[1].encode()
        else:
            sys.exit("redisproxy.py: unknown argument " + args[0])
        args = args[2:]
    state = {"seen": 0, "cuts": 0}

    async def handle(cr, cw):
        try:
            rr, rw = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cw.close()
            return
        cut = asyncio.Event()
        armed = {"on": False}

        async def up():
            try:
                while not cut.is_set():
                    data = await cr.read(65536)
                    if not data:
                        break
                    if every and word in data:
                        state["seen"] += 1
                        if state["seen"] % every == 0:
                            armed["on"] = True
                    rw.write(data)
                    await rw.drain()
            except (ConnectionError, OSError):
                pass
            cut.set()

        async def down():
            try:
                while not cut.is_set():
                    data = await rr.read(65536)
                    if not data:
                        break
                    if armed["on"]:
                        state["cuts"] += 1
                        with open(port_file + ".cuts", "w") as f:
                            f.write(str(state["cuts"]))
                        # the reply is dropped with the connection, closed at once
                        cw.close()
                        rw.close()
                        break
                    cw.write(data)
                    await cw.drain()
            except (ConnectionError, OSError):
                pass
            cut.set()

        await asyncio.gather(up(), down())
        for w in (cw, rw):
            try:
                w.close()
            except OSError:
                pass

    async def run():
        srv = await asyncio.start_server(handle, "127.0.0.1", 0)
        with open(port_file + ".tmp", "w") as f:
            f.write(str(srv.sockets[0].getsockname()[1]))
        import os
        os.replace(port_file + ".tmp", port_file)
        async with srv:
            await srv.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
