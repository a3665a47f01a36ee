"""permessage-deflate is off unless GATEWAY_WEBSOCKET_COMPRESSION turns it on, and the
engineio and aiohttp behaviour that back-pressure relies on is still there.

We replace engineio's aiohttp websocket driver and its sockets' queues
(gateway/transport/websocket.py, gateway/transport/backpressure.py); if an upgrade renames
what we rely on, these tests fail loudly instead of compression silently coming back or slow clients
silently growing the pod's memory again.
"""

import inspect
import json
import re

import aiohttp
import engineio.async_socket
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web import WebSocketResponse
from engineio.async_drivers import aiohttp as engineio_aiohttp

from gateway.pod.state import SOCKETIO
from gateway.transport.send_queue import SendQueue
from gateway.transport.websocket import GatewayWebSocket
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.tokens import mint


async def _negotiated_compression(base_url: str) -> int:
    url = f"{base_url}/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, compress=15) as ws:
        opening = await ws.receive_str()
        assert opening.startswith("0{")  # Engine.IO OPEN packet
        return ws.compress


async def test_deflate_is_refused_by_default(start_gateway: StartGateway) -> None:
    gateway = await start_gateway()
    assert await _negotiated_compression(gateway.url) == 0


async def test_deflate_can_be_turned_on(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_WEBSOCKET_COMPRESSION="true")
    assert await _negotiated_compression(gateway.url) == 15
    # Such a connection gets no prebuilt (uncompressed) frames: tests/integration/
    # test_fastpath.py::test_deflate_sockets_take_the_normal_path.


async def test_websocket_connections_are_served_by_our_driver(
    start_gateway: StartGateway,
) -> None:
    """engineio still ships its aiohttp driver under the `_async["websocket"]` entry we
    replace, and still builds each websocket connection's driver from its server's copy
    of that table: a live connection is driven by the class the gateway installed, with
    the gateway's settings. If engineio looked its driver up anywhere else, the swap
    would silently do nothing (deflate back on, no back-pressure)."""
    assert engineio_aiohttp._async["websocket"] is engineio_aiohttp.WebSocket
    gateway = await start_gateway()
    installed = gateway.app[SOCKETIO].eio._async["websocket"]
    assert installed is not engineio_aiohttp.WebSocket
    client = await RecordingClient(gateway.url, "/data_owner", mint("ws", "A")).connect()
    try:
        socket = gateway.app[SOCKETIO].eio.sockets[client.sio.eio.sid]
        connection = socket.queue.connection
        # Only the installed driver fills in a connection's websocket state.
        assert issubclass(installed, GatewayWebSocket) and connection.response is not None
        assert installed.back_pressure is not None
        assert installed.compress is False and connection.response.compress == 0
    finally:
        await client.close()


# Back-pressure (gateway/transport/backpressure.py) relies on the following; each check names what
# breaks if it stops being true.


def test_engineio_sockets_call_only_what_the_send_queue_has() -> None:
    """SendQueue is not an asyncio.Queue: it has only the part of that interface engineio
    uses. A socket calling anything else would raise AttributeError on a live
    connection (its packets never sent)."""
    source = inspect.getsource(engineio.async_socket)
    called = set(re.findall(r"\bself\.queue\.(\w+)", source))
    assert {"put", "get", "get_nowait", "put_nowait", "task_done", "join"} <= called, called
    missing = {name for name in called if not callable(getattr(SendQueue, name, None))}
    assert not missing, f"engineio calls SendQueue.{sorted(missing)}, which it lacks"


def test_aiohttp_still_lets_us_drain_websocket_writes_ourselves() -> None:
    """The driver turns aiohttp's own drain off with `writer_limit`, checks the
    protocol's `writing_paused` after each write and drains the stream writer that
    `prepare()` returns, with a timeout."""
    assert "writer_limit" in inspect.signature(WebSocketResponse).parameters
    assert isinstance(inspect.getattr_static(BaseProtocol, "writing_paused"), property)
    assert inspect.iscoroutinefunction(AbstractStreamWriter.drain)
    assert "AbstractStreamWriter" in str(inspect.signature(WebSocketResponse.prepare))


async def test_engineio_sockets_use_the_bounded_send_queue(start_gateway: StartGateway) -> None:
    """engineio creates each socket's queue with `server.create_queue()`, and hands its
    websocket driver the socket's bound `_websocket_handler`: so every connection's
    queue is a SendQueue, and a websocket one knows its socket and transport."""
    gateway = await start_gateway()
    sockets = gateway.app[SOCKETIO].eio.sockets
    websocket = await RecordingClient(gateway.url, "/data_owner", mint("ws", "A")).connect()
    try:
        ws_sid = websocket.sio.eio.sid
        ws_queue = sockets[ws_sid].queue
        assert isinstance(ws_queue, SendQueue)
        connection = ws_queue.connection
        assert connection.socket is sockets[ws_sid] and connection.queue is ws_queue
        assert connection.transport is not None and not connection.transport.is_closing()
        # The fast path (gateway/transport/fastpath.py) finds its state through the queue.
        assert connection.response is not None and connection.raw_frames
        # A long-polling session (opened by hand: python-socketio's polling client
        # takes 30 s to disconnect).
        url = f"{gateway.url}/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            opening = await response.text()
        poll_queue = sockets[json.loads(opening[1:])["sid"]].queue
        assert isinstance(poll_queue, SendQueue) and poll_queue.connection.transport is None
        assert poll_queue.connection.response is None
    finally:
        await websocket.close()
