"""Back-pressure: a client that stops reading is dropped, never buffered for without end.

Why: engineio gives every connection an unbounded `asyncio.Queue` of outgoing packets,
and a socketio broadcast puts into it without waiting. When a client stops reading (a
frozen tab, a laptop lid closed mid-connection, a half-dead mobile link), its kernel
buffers fill, the socket's writer task blocks in aiohttp's drain for ever, and every
later notification to its rooms piles up in that queue: the pod's memory grows without
bound while the other clients, whose emits never wait, are served normally. A pod with
a few such clients in a busy department runs out of memory.

The rule, per connection (websocket or long-polling):

- **Pending bytes.** Each packet waiting in the queue is charged its size plus
  `PACKET_OVERHEAD_BYTES` against `MAX_PENDING_BYTES`: 1 MiB, so at most 1,024 packets,
  or 64 notifications of the largest size (`MAX_PAYLOAD_BYTES`, 16 KiB). The objects
  around a queued packet take about 170 bytes, but with the queue unbounded the process
  grew about 2.5 KB more than the payload per queued packet (allocator slack): 1 KiB is
  a middle figure, and it makes a flood of tiny packets count too. A healthy client's
  queue is empty again after every emit, since its writer runs meanwhile (measured for
  a client taking 10,000 events at 2,000 a second); 1 MiB is several seconds of a heavy
  stream at a slow mobile client's 100-200 KB/s, so only a client that has stopped
  keeping up reaches it.
- **Blocked write.** A websocket write that has waited `SEND_TIMEOUT_SECONDS` (10 s)
  for the kernel to take more data. This catches a stalled client that gets too little
  traffic to reach the byte bound, which would otherwise hold its writer task, its
  queue and its connection for ever (engineio's ping timeout marks the session closed
  but never unblocks the writer). 10 s is longer than a network hand-over or a few TCP
  retransmissions, shorter than Engine.IO's ping timeout (25 + 20 s), and well inside
  `GATEWAY_DRAIN_SECONDS`, so a stalled client cannot hold up a shutdown either.

Over either bound the client is dropped at once: what is queued for it is discarded,
its TCP connection is reset (SO_LINGER 0, so the kernel frees its send buffer too, and
the client sees the reset and reconnects, as after any transport close), its Engine.IO
session is closed with reason "transport error" (socketio's disconnect handlers run),
`gateway_slow_clients_dropped_total{reason}` counts it and one warning is logged. An
emit never waits for a slow client, so the others are not delayed. Memory per stalled
client is bounded by about twice `MAX_PENDING_BYTES` (the queue, plus the batch the
writer took from it before blocking) and asyncio's 64 KiB transport high-water mark,
plus the kernel's send buffer (up to `net.ipv4.tcp_wmem`'s maximum, 4 MiB by default)
until the drop.

Long-polling: the byte bound applies the same way (the queue is the same); the blocked
write does not, because a poll answer is an HTTP response written by aiohttp, which has
no write timeout. Such an answer holds at most one batch (bounded by the byte bound);
a client that stops polling is dropped by the byte bound or, when idle, by engineio's
ping timeout.

How it hooks in (seams/register.py; tests/gateway/transport/test_websocket.py):
- engineio creates each socket's queue with `server.create_queue()`, its documented
  utility; `BackPressure.install` makes that return the `SendQueue`
  (gateway/transport/send_queue.py) of a new `ClientConnection`
  (gateway/transport/connection.py), which counts what it holds as packets are put and
  taken;
- the websocket driver (gateway/transport/websocket.py) records the connection's
  transport in its `ClientConnection`, disables aiohttp's own unbounded drain
  (`writer_limit`) and drains with `SEND_TIMEOUT_SECONDS` instead.

The broadcast fast path (gateway/transport/fastpath.py) writes prebuilt frames to idle websocket
transports without the queue. Its bound is the transport's own buffer: a socket whose
transport holds more than `MAX_PENDING_BYTES` is dropped (`buffer_full`) before the
write. It writes only while the transport is below asyncio's high-water mark; a write
that takes it over queues a drain request, so the socket's writer waits for the kernel
with the send timeout, and later emits to it are queued and bounded as above.

The fast path per packet is one integer addition and comparison when queued, one
subtraction when taken, and one boolean check after each websocket write.
"""

import asyncio
import logging
from typing import Any

from gateway.transport.closing import close_socket
from gateway.transport.connection import ClientConnection
from gateway.transport.observer import DropObserver, DropReason
from gateway.transport.send_queue import SendQueue

logger = logging.getLogger(__name__)

MAX_PENDING_BYTES = 1024 * 1024
SEND_TIMEOUT_SECONDS = 10.0


class BackPressure:
    """The pod's limits for slow clients and what dropping one does; one per engineio
    server. The broadcast fast path (gateway/transport/fastpath.py), which writes
    prebuilt frames to transports directly, compares each transport's write buffer with
    `max_pending_bytes` before writing and calls `drop(connection,
    DropReason.BUFFER_FULL)` past it."""

    def __init__(
        self,
        engineio_server: Any,
        *,
        max_pending_bytes: int | None = None,
        send_timeout: float | None = None,
        observer: DropObserver | None = None,
    ) -> None:
        self.engineio_server = engineio_server
        # The module's constants are read here, not bound as defaults, so tests can patch them.
        self.max_pending_bytes = (
            MAX_PENDING_BYTES if max_pending_bytes is None else max_pending_bytes
        )
        self.send_timeout = SEND_TIMEOUT_SECONDS if send_timeout is None else send_timeout
        self.observer = observer
        self._closing: set[asyncio.Task[None]] = set()

    def install(self) -> None:
        """Make the engineio server create every socket's queue as the `SendQueue` of a
        new `ClientConnection` (an override of engineio's factory: seams/register.py)."""
        self.engineio_server.create_queue = self.create_queue

    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        queue = ClientConnection.with_queue(self.max_pending_bytes, self._overflowed).queue
        assert queue is not None
        return queue

    def _overflowed(self, connection: ClientConnection) -> None:
        self.drop(connection, DropReason.BUFFER_FULL)

    def drop(self, connection: ClientConnection, reason: DropReason) -> None:
        """Drop the client of `connection` now: discard its packets, reset its TCP
        connection, close its Engine.IO session, count and log it. Idempotent; never
        blocks."""
        if connection.dropped:
            return
        pending = connection.mark_dropped()
        socket = (
            connection.socket if connection.socket is not None else self._socket_of(connection)
        )
        sid = getattr(socket, "sid", "?")
        transport = connection.transport
        where = (
            "polling" if transport is None else f"websocket {transport.get_extra_info('peername')}"
        )
        logger.warning(
            "dropping slow client %s (%s): %s with %d bytes pending", sid, where, reason, pending
        )
        connection.reset()
        if self.observer is not None:
            self.observer.slow_client_dropped(reason.value)
        if socket is not None:
            task = asyncio.get_running_loop().create_task(self._close_session(socket))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _socket_of(self, connection: ClientConnection) -> Any:
        for socket in list(self.engineio_server.sockets.values()):
            if connection.queue is not None and socket.queue is connection.queue:
                return socket
        return None

    async def _close_session(self, socket: Any) -> None:
        """Run the session's disconnect handlers without a CLOSE packet (the client
        could not read it) and forget the session, so its next poll is refused."""
        try:
            # The transport is already reset and the queue emptied: no writer to end.
            await close_socket(
                self.engineio_server,
                socket,
                self.engineio_server.reason.TRANSPORT_ERROR,
                end_writer=False,
            )
        except Exception:
            logger.exception("closing the session of dropped client %s", socket.sid)
