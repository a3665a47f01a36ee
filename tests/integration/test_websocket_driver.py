"""permessage-deflate is off unless GATEWAY_WEBSOCKET_COMPRESSION turns it on, and the
engineio/aiohttp/asyncio behaviour that back-pressure relies on is still there.

We replace engineio's aiohttp websocket driver and its sockets' queues
(gateway/websocket.py, gateway/backpressure.py); if an upgrade renames what we rely on,
these tests fail loudly instead of compression silently coming back or slow clients
silently growing the pod's memory again.
"""

import asyncio
import inspect
import json

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web import WebSocketResponse
from engineio.async_drivers import aiohttp as engineio_aiohttp

from gateway.backpressure import SendQueue
from gateway.state import SOCKETIO
from gateway.websocket import websocket_driver
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


async def test_engineio_still_has_the_driver_we_replace(start_gateway: StartGateway) -> None:
    assert callable(engineio_aiohttp.WebSocket.__call__)
    assert engineio_aiohttp._async["websocket"] is engineio_aiohttp.WebSocket
    gateway = await start_gateway()
    installed = gateway.app[SOCKETIO].eio._async["websocket"]
    assert issubclass(installed, engineio_aiohttp.WebSocket)
    assert installed.__name__ == websocket_driver(False).__name__


# Back-pressure (gateway/backpressure.py) relies on the following; each check names what
# breaks if it stops being true.


async def test_asyncio_queue_put_and_get_go_through_the_nowait_methods() -> None:
    """SendQueue counts what it holds in put_nowait/get_nowait; engineio calls put/get."""
    calls: list[str] = []

    class Recording(asyncio.Queue[int]):
        def put_nowait(self, item: int) -> None:
            calls.append("put_nowait")
            super().put_nowait(item)

        def get_nowait(self) -> int:
            calls.append("get_nowait")
            return super().get_nowait()

    queue = Recording()
    await queue.put(1)
    waiting = asyncio.ensure_future(queue.get())
    assert await queue.get() == 1
    await queue.put(2)
    assert await waiting == 2
    assert calls == ["put_nowait", "get_nowait", "put_nowait", "get_nowait"]


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
        assert ws_queue.socket is sockets[ws_sid]
        assert ws_queue.transport is not None and not ws_queue.transport.is_closing()
        # The fast path (gateway/fastpath.py) finds the driver through the queue.
        assert ws_queue.websocket is not None and ws_queue.websocket.raw_frames
        assert ws_queue.websocket.transport is ws_queue.transport
        # A long-polling session (opened by hand: python-socketio's polling client
        # takes 30 s to disconnect).
        url = f"{gateway.url}/socket.io/?EIO=4&transport=polling"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            opening = await response.text()
        poll_queue = sockets[json.loads(opening[1:])["sid"]].queue
        assert isinstance(poll_queue, SendQueue) and poll_queue.transport is None
        assert poll_queue.websocket is None
    finally:
        await websocket.close()
