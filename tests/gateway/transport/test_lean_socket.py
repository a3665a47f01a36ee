"""An idle connection holds no ping task and no receive task of its own
(gateway/transport/lean_socket.py), and pings still keep it alive and catch a silent client."""

import asyncio
import hashlib
import inspect
from collections import Counter

from engineio.async_socket import AsyncSocket

from gateway.pod.state import SOCKETIO
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.stalled_client import wait_until
from tests.support.tokens import mint

# engineio 4.15.1's methods that gateway/transport/lean_socket.py replaces or copies.
ENGINEIO_SOURCES = {
    "_websocket_handler": "27f120df4d717a24478b7b0f7389ce19eea8a881dd07e2c81fb1cf2493e006a5",
    "schedule_ping": "fe316639159cd70d34cdb911a055fc1a0056ff15615b8460a1ab6593c95e9372",
    "_send_ping": "67db82a704ea49d0ad34e967728cec06020d036431d67c1612162a907526cb43",
}
# engineio's ping sleeper and receive task; `SendQueue.get` is the task Python 3.11's
# wait_for made around a coroutine `get()` (ours returns a future).
PER_CONNECTION_TASKS = ("_send_ping", "websocket_wait", "SendQueue.get")


def test_engineio_still_has_what_lean_socket_copies() -> None:
    for name, digest in ENGINEIO_SOURCES.items():
        source = inspect.getsource(getattr(AsyncSocket, name))
        assert hashlib.sha256(source.encode()).hexdigest() == digest, (
            f"engineio's AsyncSocket.{name} changed: review gateway/transport/lean_socket.py"
        )


def _server_tasks_named(names: tuple[str, ...]) -> list[str]:
    found = []
    for task in asyncio.all_tasks():
        qualname = getattr(task.get_coro(), "__qualname__", "")
        if any(name in qualname for name in names):
            found.append(qualname)
    return found


async def test_idle_connections_have_no_ping_or_receive_tasks_and_stay_alive(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(GATEWAY_PING_INTERVAL="0.2", GATEWAY_PING_TIMEOUT="0.5")
    server = gateway.app[SOCKETIO]
    pings: Counter[str] = Counter()
    send_ping = server._ping_timers._ping

    def counting_ping(sid: str) -> None:
        pings[sid] += 1
        send_ping(sid)

    server._ping_timers._due._on_expired = counting_ping
    clients = [
        await RecordingClient(gateway.url, "/data_owner", mint(str(n), None)).connect()
        for n in range(10)
    ]
    try:
        assert _server_tasks_named(PER_CONNECTION_TASKS) == []
        # Connected: no handshake timer is left waiting out its timeout.
        assert not server._handshake_timers
        sockets = list(server.eio.sockets.values())
        assert len(sockets) == 10
        # Three rounds each, longer than ping interval + timeout: every ping is sent,
        # answered (or the next would not be scheduled) and nobody is timed out.
        await wait_until(
            lambda: len(pings) == 10 and min(pings.values()) >= 3,
            timeout=10,
            what="three pings to every socket",
        )
        assert all(client.sio.connected for client in clients)
        assert all(not socket.closed for socket in sockets)
    finally:
        for client in clients:
            await client.close()
