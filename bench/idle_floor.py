"""The floor under the gateway's memory per idle connection: a bare aiohttp websocket
server (uvloop, no compression, a handler that only reads) holding N idle websocket
connections, RSS per connection. Whatever Engine.IO, Socket.IO and the gateway keep
per connection comes on top of this.

    .venv/bin/python bench/idle_floor.py --connections 5000
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.ports import free_port  # noqa: E402

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


def serve(port: int) -> None:
    import uvloop

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        async for _ in socket:
            pass
        return socket

    app = web.Application()
    app.router.add_get("/ws", websocket)
    uvloop.install()
    web.run_app(app, host="127.0.0.1", port=port, print=lambda *_: print("ready", flush=True))


async def hold(port: int, count: int) -> None:
    """Opens `count` websockets, 100 at a time; says so; holds them until stdin closes."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = []
        for start in range(0, count, 100):
            sockets += await asyncio.gather(*(
                session.ws_connect(f"http://127.0.0.1:{port}/ws")
                for _ in range(min(100, count - start))
            ))
        print("connected", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for socket in sockets:
            await socket.close()


def main(connections: int) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)],
                              stdout=subprocess.PIPE, text=True)
    clients = None
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # settle after start-up before reading RSS
        before = rss_bytes(server.pid)
        clients = subprocess.Popen(
            [sys.executable, __file__, "--hold", str(port), str(connections)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert clients.stdout is not None and clients.stdout.readline().strip() == "connected"
        time.sleep(2.0)  # as bench/compare.py's idle step
        after = rss_bytes(server.pid)
        print(json.dumps({"bare_aiohttp_idle": {
            "connections": connections,
            "rss_before_mb": round(before / 2**20, 1),
            "rss_after_mb": round(after / 2**20, 1),
            "rss_per_connection_kb": round((after - before) / connections / 1024, 1),
        }}))
    finally:
        if clients is not None:
            clients.communicate(timeout=60)
        server.kill()
        server.wait(10)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--hold"]:
        asyncio.run(hold(int(sys.argv[2]), int(sys.argv[3])))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--connections", type=int, default=5000)
        main(parser.parse_args().connections)
