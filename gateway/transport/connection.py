"""One client connection's delivery state, in one object.

What the fast path, back-pressure and the websocket driver need to know about a
connection lives on its `ClientConnection`: the engineio socket, the transport, aiohttp's
websocket response and request protocol, whether its frames go out prebuilt (no
permessage-deflate), and whether it was dropped. It is made together with the
connection's `SendQueue` (engineio's per-socket queue, `BackPressure.create_queue`), so
`socket.queue.connection` finds it from the socket.

Only this module writes its fields: the driver calls `attach_websocket` once the
websocket is open; back-pressure calls `mark_dropped` and `reset`. Everyone else reads.
A long-polling connection has no transport of its own (each poll is an HTTP response),
so only its queue and `dropped` mean anything.
"""

import asyncio
import contextlib
import socket as socket_module
import struct
from collections.abc import Callable
from typing import Any

from aiohttp.web import WebSocketResponse
from aiohttp.web_protocol import RequestHandler

from gateway.transport.send_queue import SendQueue

_LINGER_RESET = struct.pack("ii", 1, 0)


class ClientConnection:
    __slots__ = ("dropped", "protocol", "queue", "raw_frames", "response", "socket", "transport")

    def __init__(self) -> None:
        # The connection's send queue (None for a driver's stand-in, see `with_queue`).
        self.queue: SendQueue | None = None
        # The engineio socket: set for a websocket; a polling one is found when dropped.
        self.socket: Any = None
        self.transport: asyncio.Transport | None = None
        self.response: WebSocketResponse | None = None
        self.protocol: RequestHandler | None = None
        # True when this websocket did not negotiate permessage-deflate: broadcast frames
        # go out prebuilt (gateway/transport/fastpath.py).
        self.raw_frames = False
        self.dropped = False

    @classmethod
    def with_queue(
        cls, limit: int, on_overflow: Callable[["ClientConnection"], None]
    ) -> "ClientConnection":
        """A connection and its `SendQueue`, which calls `on_overflow(connection)` when
        putting a packet would take it over `limit` bytes."""
        connection = cls()
        connection.queue = SendQueue(connection, limit, on_overflow)
        return connection

    def attach_websocket(
        self,
        socket: Any,
        response: WebSocketResponse,
        protocol: RequestHandler,
        transport: asyncio.Transport,
    ) -> None:
        """The connection is (now) a websocket, `response` prepared on `transport`."""
        self.socket = socket
        self.response = response
        self.protocol = protocol
        self.transport = transport
        self.raw_frames = not response.compress

    @property
    def writing_paused(self) -> bool:
        """The transport is over asyncio's high-water mark: the client is behind."""
        return self.protocol is not None and self.protocol.writing_paused

    def mark_dropped(self) -> int:
        """From now on nothing more is queued or written; what was queued is discarded.
        Returns what it held (bytes, as the queue counts them)."""
        self.dropped = True
        return self.queue.discard() if self.queue is not None else 0

    def reset(self) -> None:
        """Close the websocket's TCP connection at once, if it has one."""
        if self.transport is not None:
            reset_transport(self.transport)


def reset_transport(transport: asyncio.Transport) -> None:
    """Close a connection at once with a TCP reset: SO_LINGER 0 makes the kernel free
    what it still holds to send instead of trying to deliver it to a client that does
    not read, and tells the client at once."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_LINGER, _LINGER_RESET)
    transport.abort()
