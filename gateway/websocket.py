"""engineio's aiohttp websocket driver, with permessage-deflate and back-pressure under
our control.

Deflate: engineio builds aiohttp's WebSocketResponse without `compress=`, so deflate is
negotiated whenever a client offers it (every browser does): about 20% more CPU and 4x
the memory per connection (docs/dependencies.md).

Back-pressure (gateway/backpressure.py): aiohttp's websocket writer waits for the
transport to drain, without a timeout, once it has written 64 KiB while the transport
is over its high-water mark; a client that stops reading blocks the socket's writer
task there for ever. We turn that wait off (`writer_limit`) and drain ourselves after
each write, only when the transport is paused (the one check on the fast path), for at
most `BackPressure.send_timeout`; past it the client is dropped. The driver also tells
the socket's `SendQueue` its transport, so a drop for too many pending bytes can reset
the connection.

Prebuilt frames (gateway/fastpath.py): a broadcast's packet encodes to a
`PrebuiltMessage`, the Engine.IO text that also carries its complete websocket frame;
on a socket without deflate the driver writes that frame as it is, so a queued broadcast
costs no frame building either. The driver also exposes what the fast path checks before
writing to the transport directly (`raw_frames`, `response`, `protocol`, `transport`).

We subclass the driver class and swap it into the server's driver table;
tests/integration/test_websocket_driver.py fails loudly if an engineio or aiohttp
upgrade moves what this relies on.
"""

import asyncio
import sys
from typing import Any

from aiohttp.abc import AbstractStreamWriter
from aiohttp.web import Request, WebSocketResponse
from aiohttp.web_protocol import RequestHandler
from engineio.async_drivers import aiohttp as engineio_aiohttp

from gateway.backpressure import (
    SEND_TIMEOUT_SECONDS,
    BackPressure,
    DropReason,
    SendQueue,
    reset_transport,
)
from gateway.fastpath import PrebuiltMessage

# Never reached, so aiohttp's writer never drains (unbounded) on its own.
NO_WRITER_DRAIN = sys.maxsize


class GatewayWebSocket(engineio_aiohttp.WebSocket):  # type: ignore[misc]
    """engineio's driver for one websocket connection; `websocket_driver` makes the
    subclass that carries the server's settings."""

    compress: bool = False
    back_pressure: BackPressure | None = None
    _stream: AbstractStreamWriter
    _queue: SendQueue | None
    # What the fast path reads directly (gateway/fastpath.py).
    response: WebSocketResponse
    protocol: RequestHandler
    transport: asyncio.Transport
    # True when this connection did not negotiate permessage-deflate: frames go out as
    # prebuilt (gateway/fastpath.py).
    raw_frames: bool = False

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size,
            compress=self.compress,
            writer_limit=NO_WRITER_DRAIN,
        )
        self.response = self._sock
        self._stream = await self._sock.prepare(request)
        self.protocol = request.protocol
        self.transport = request.transport
        self.raw_frames = not self._sock.compress
        self._queue = self._bind_queue(request)
        self.environ = environ
        await self.handler(self)
        return self._sock

    def _bind_queue(self, request: Request) -> SendQueue | None:
        """engineio passes the socket's bound `_websocket_handler` as `handler`."""
        socket = getattr(self.handler, "__self__", None)
        queue = getattr(socket, "queue", None)
        if not isinstance(queue, SendQueue):
            return None
        queue.socket = socket
        queue.transport = request.transport
        queue.websocket = self
        return queue


    @property
    def send_timeout(self) -> float:
        bound = self.back_pressure
        return SEND_TIMEOUT_SECONDS if bound is None else bound.send_timeout

    async def send(self, message: str | bytes) -> None:
        if type(message) is PrebuiltMessage:
            if self.raw_frames:
                self._write_frame(message.frame)
            elif message:  # deflate: aiohttp compresses it; an empty one is a drain request
                await self._sock.send_str(message)
        elif isinstance(message, str):
            await self._sock.send_str(message)
        else:
            await self._sock.send_bytes(message)
        if self.protocol.writing_paused:
            await self._drain()

    def _write_frame(self, frame: bytes) -> None:
        """One whole frame in one `transport.write`, as aiohttp writes its own; raises
        like aiohttp's writer once closing, which ends engineio's writer task."""
        if self._sock.closed or self.transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        if frame:
            self.transport.write(frame)

    async def _drain(self) -> None:
        timeout = self.send_timeout
        try:
            async with asyncio.timeout(timeout):
                await self._stream.drain()
        except TimeoutError:
            if self.back_pressure is not None and self._queue is not None:
                self.back_pressure.drop(self._queue, DropReason.SEND_TIMEOUT)
            else:
                self._reset()
            # engineio's writer task ends on any exception from send().
            raise ConnectionResetError(f"client read nothing for {timeout:g} s") from None

    async def close(self) -> None:
        """aiohttp's close drains without a timeout too; bound it the same way."""
        try:
            async with asyncio.timeout(self.send_timeout):
                await self._sock.close()
        except TimeoutError:
            self._reset()

    def _reset(self) -> None:
        transport = self.protocol.transport
        if transport is not None:
            reset_transport(transport)


def websocket_driver(
    compress: bool, back_pressure: BackPressure | None = None
) -> type[GatewayWebSocket]:
    attributes = {"compress": compress, "back_pressure": back_pressure}
    return type("GatewayWebSocket", (GatewayWebSocket,), attributes)


def install_websocket_driver(
    engineio_server: Any, compress: bool, back_pressure: BackPressure | None = None
) -> None:
    driver = websocket_driver(compress, back_pressure)
    engineio_server._async = dict(engineio_server._async, websocket=driver)
