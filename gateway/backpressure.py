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

How it hooks in (checked by tests/integration/test_websocket_driver.py):
- engineio creates each socket's queue with `server.create_queue()`, its documented
  utility; `BackPressure.install` makes that return a `SendQueue`, which counts what it
  holds as packets are put and taken;
- gateway/websocket.py's driver tells the queue its transport, disables aiohttp's own
  unbounded drain (`writer_limit`) and drains with `SEND_TIMEOUT_SECONDS` instead.

The broadcast fast path (gateway/fastpath.py) writes prebuilt frames to idle websocket
transports without the queue. Its bound is the transport's own buffer: a socket whose
transport holds more than `MAX_PENDING_BYTES` is dropped (`buffer_full`) before the
write. It writes only while the transport is below asyncio's high-water mark; a write
that takes it over queues a drain request, so the socket's writer waits for the kernel
with the send timeout, and later emits to it are queued and bounded as above.

The fast path per packet is one integer addition and comparison when queued, one
subtraction when taken, and one boolean check after each websocket write.
"""

import asyncio
import contextlib
import logging
import socket as socket_module
import struct
from collections import deque
from enum import StrEnum
from typing import Any, Protocol

from gateway.transport_close import close_socket

logger = logging.getLogger(__name__)

MAX_PENDING_BYTES = 1024 * 1024
PACKET_OVERHEAD_BYTES = 1024
SEND_TIMEOUT_SECONDS = 10.0

_LINGER_RESET = struct.pack("ii", 1, 0)


class DropReason(StrEnum):
    BUFFER_FULL = "buffer_full"
    SEND_TIMEOUT = "send_timeout"


class DropObserver(Protocol):
    """Who is told about each drop (GatewayMetrics counts them)."""

    def slow_client_dropped(self, reason: str) -> None: ...


def packet_cost(packet: Any) -> int:
    """What one queued Engine.IO packet is charged: its payload's length plus the
    overhead. Control packets (ping, noop, close, open) have no str/bytes payload."""
    data = packet.data
    if isinstance(data, (str, bytes)):
        return len(data) + PACKET_OVERHEAD_BYTES
    return PACKET_OVERHEAD_BYTES


class SendQueue:
    """One connection's outgoing Engine.IO packets, with their cost counted.

    Putting a packet that takes the pending cost over the limit drops the client instead
    of queueing: it never blocks the emitter, unlike a `maxsize` queue, which would make a
    broadcast wait for its slowest recipient. After a drop only engineio's `None` (its
    "stop writing" sentinel) is still queued, so the writer or a waiting poll can end.

    It has the part of `asyncio.Queue`'s interface engineio uses (`put`, `put_nowait`,
    `get`, `get_nowait`, `task_done`, `join`, `empty`, `qsize`) and is lean on purpose:
    every idle connection holds one, and an `asyncio.Queue` costs four deques (3 KB) even
    empty. `get()` returns a future rather than a coroutine, so engineio's
    `asyncio.wait_for(queue.get(), ...)` does not wrap it in a task of its own (Python
    3.11 does that for coroutines: another 1.5 KB per idle connection). A packet put
    while a writer waits is handed to it at once, and the queue no longer counts that
    writer as waiting: `waiting and empty()` still means nobody holds a taken packet
    (gateway/fastpath.py writes directly only then).
    """

    __slots__ = (
        "_all_done", "_back_pressure", "_getters", "_items", "_limit", "_unfinished",
        "dropped", "pending_bytes", "socket", "transport", "websocket",
    )

    def __init__(self, back_pressure: "BackPressure") -> None:
        self._back_pressure = back_pressure
        self._limit = back_pressure.max_pending_bytes
        self._items: deque[Any] | None = None  # created when first needed
        self._getters: list[asyncio.Future[Any]] = []
        self._unfinished = 0
        self._all_done: asyncio.Future[None] | None = None
        self.pending_bytes = 0
        self.dropped = False
        # Set by the websocket driver; a long-polling socket is found when dropped.
        self.socket: Any = None
        self.transport: asyncio.Transport | None = None
        self.websocket: Any = None

    @property
    def waiting(self) -> int:
        """Getters parked on the empty queue: for a websocket, its writer task waiting
        for work, holding no packet. (A cancelled getter leaves the list a loop step
        later; it held no packet either.)"""
        return len(self._getters)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def put_nowait(self, item: Any) -> None:
        if item is not None:
            if self.dropped:
                return
            cost = packet_cost(item)
            self.pending_bytes += cost
            if self.pending_bytes > self._limit:
                self._back_pressure.drop(self, DropReason.BUFFER_FULL)
                return
        self._unfinished += 1
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                if item is not None:
                    self.pending_bytes -= cost
                getter.set_result(item)
                return
        if self._items is None:
            self._items = deque()
        self._items.append(item)

    def get(self) -> "asyncio.Future[Any]":
        getter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._items:
            getter.set_result(self._take())
        else:
            self._getters.append(getter)
            getter.add_done_callback(self._forget_getter)
        return getter

    def _forget_getter(self, getter: "asyncio.Future[Any]") -> None:
        if getter.cancelled() and getter in self._getters:
            self._getters.remove(getter)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._take()

    def _take(self) -> Any:
        assert self._items is not None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an empty deque still holds a 64-slot block
        if item is not None:
            self.pending_bytes -= packet_cost(item)
        return item

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._all_done is not None:
            if not self._all_done.done():
                self._all_done.set_result(None)
            self._all_done = None

    async def join(self) -> None:
        if self._unfinished:
            if self._all_done is None:
                self._all_done = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._all_done)

    def discard(self) -> int:
        """Empty the queue (marking each item done, so `join()` returns); returns the
        cost it held."""
        pending = self.pending_bytes
        while self._items:
            self._items.popleft()
            self.task_done()
        self.pending_bytes = 0
        return pending


class BackPressure:
    """The pod's limits for slow clients and what dropping one does; one per engineio
    server. The broadcast fast path (gateway/fastpath.py), which writes prebuilt frames
    to transports directly, compares each transport's write buffer with
    `max_pending_bytes` before writing and calls `drop(socket.queue,
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
        """Make the engineio server create every socket's queue as a `SendQueue`."""
        self.engineio_server.create_queue = self.create_queue

    def create_queue(self, *args: Any, **kwargs: Any) -> SendQueue:
        return SendQueue(self)

    def drop(self, queue: SendQueue, reason: DropReason) -> None:
        """Drop the client of `queue` now: discard its packets, reset its connection,
        close its Engine.IO session, count and log it. Idempotent; never blocks."""
        if queue.dropped:
            return
        queue.dropped = True
        pending = queue.discard()
        socket = queue.socket if queue.socket is not None else self._socket_of(queue)
        sid = getattr(socket, "sid", "?")
        transport = queue.transport
        where = (
            "polling" if transport is None else f"websocket {transport.get_extra_info('peername')}"
        )
        logger.warning(
            "dropping slow client %s (%s): %s with %d bytes pending", sid, where, reason, pending
        )
        if transport is not None:
            reset_transport(transport)
        if self.observer is not None:
            self.observer.slow_client_dropped(reason.value)
        if socket is not None:
            task = asyncio.get_running_loop().create_task(self._close_session(socket))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _socket_of(self, queue: SendQueue) -> Any:
        for socket in list(self.engineio_server.sockets.values()):
            if socket.queue is queue:
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


def reset_transport(transport: asyncio.Transport) -> None:
    """Close a connection at once with a TCP reset: SO_LINGER 0 makes the kernel free
    what it still holds to send instead of trying to deliver it to a client that does
    not read, and tells the client at once."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket_module.SOL_SOCKET, socket_module.SO_LINGER, _LINGER_RESET)
    transport.abort()
