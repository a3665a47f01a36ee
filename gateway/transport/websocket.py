"""engineio's aiohttp websocket driver, with permessage-deflate and back-pressure under
our control.

Deflate: engineio builds aiohttp's WebSocketResponse without `compress=`, so deflate is
negotiated whenever a client offers it (every browser does): about 20% more CPU and 4x
the memory per connection (docs/dependencies.md).

Back-pressure (gateway/transport/backpressure.py): aiohttp's websocket writer waits for
the transport to drain, without a timeout, once it has written 64 KiB while the transport
is over its high-water mark; a client that stops reading blocks the socket's writer task
there for ever. We turn that wait off (`writer_limit`) and drain ourselves after each
write, only when the transport is paused (the one check on the fast path), for at most
`BackPressure.send_timeout`; past it the client is dropped. The driver records the
websocket in the socket's `ClientConnection` (gateway/transport/connection.py), where the
fast path and back-pressure find its response, protocol and transport.

Prebuilt frames (gateway/transport/fastpath.py): a broadcast's packet encodes to a
`PrebuiltMessage`, the Engine.IO text that also carries its complete websocket frame;
on a socket without deflate the driver writes that frame as it is, so a queued broadcast
costs no frame building either.

We subclass engineio's driver class and swap it into the server's driver table: the
overrides and what they rely on of engineio and aiohttp are in seams/register.py.
"""

import asyncio
import sys
from typing import Any

from aiohttp.abc import AbstractStreamWriter
from aiohttp.web import WebSocketResponse
from engineio.async_drivers import aiohttp as engineio_aiohttp

from gateway.transport.backpressure import SEND_TIMEOUT_SECONDS, BackPressure
from gateway.transport.connection import ClientConnection, reset_transport
from gateway.transport.fastpath import PrebuiltMessage
from gateway.transport.observer import DropReason

# Never reached, so aiohttp's writer never drains (unbounded) on its own.
NO_WRITER_DRAIN = sys.maxsize


class GatewayWebSocket(engineio_aiohttp.WebSocket):  # type: ignore[misc]
    """engineio's driver for one websocket connection; `websocket_driver` makes the
    subclass that carries the server's settings."""

    compress: bool = False
    back_pressure: BackPressure | None = None
    _stream: AbstractStreamWriter
    # The socket's delivery state; a stand-in without a queue when the socket's queue is
    # not a `SendQueue` (back-pressure not installed).
    connection: ClientConnection

    async def __call__(self, environ: dict[str, Any]) -> WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size,
            compress=self.compress,
            writer_limit=NO_WRITER_DRAIN,
        )
        self._stream = await self._sock.prepare(request)
        # engineio passes the socket's bound `_websocket_handler` as `handler`.
        socket = getattr(self.handler, "__self__", None)
        connection = getattr(getattr(socket, "queue", None), "connection", None)
        if not isinstance(connection, ClientConnection):
            connection = ClientConnection()  # the socket's queue is not a SendQueue
        connection.attach_websocket(socket, self._sock, request.protocol, request.transport)
        self.connection = connection
        self.environ = environ
        await self.handler(self)
        return self._sock

    @property
    def send_timeout(self) -> float:
        bound = self.back_pressure
        return SEND_TIMEOUT_SECONDS if bound is None else bound.send_timeout

    async def send(self, message: str | bytes) -> None:
        if type(message) is PrebuiltMessage:
            if self.connection.raw_frames:
                self._write_frame(message.frame)
            elif message:  # deflate: aiohttp compresses it; an empty one is a drain request
                await self._sock.send_str(message)
        elif isinstance(message, str):
            await self._sock.send_str(message)
        else:
            await self._sock.send_bytes(message)
        if self.connection.writing_paused:
            await self._drain()

    def _write_frame(self, frame: bytes) -> None:
        """One whole frame in one `transport.write`, as aiohttp writes its own; raises
        like aiohttp's writer once closing, which ends engineio's writer task."""
        transport = self.connection.transport
        if self._sock.closed or transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        if frame:
            transport.write(frame)

    async def _drain(self) -> None:
        timeout = self.send_timeout
        try:
            async with asyncio.timeout(timeout):
                await self._stream.drain()
        except TimeoutError:
            if self.back_pressure is not None and self.connection.queue is not None:
                self.back_pressure.drop(self.connection, DropReason.SEND_TIMEOUT)
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
        protocol = self.connection.protocol
        transport = protocol.transport if protocol is not None else None
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
    """Swap our driver into this server's copy of engineio's driver table
    (seams/register.py)."""
    driver = websocket_driver(compress, back_pressure)
    engineio_server._async = dict(engineio_server._async, websocket=driver)
