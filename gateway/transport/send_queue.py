"""One connection's outgoing Engine.IO packets, counted in bytes (gateway/transport/
backpressure.py says why and what the bound is).

engineio gives every socket a queue from `server.create_queue()`; with back-pressure
installed it is this one. It has only the part of `asyncio.Queue`'s interface engineio's
socket uses; seams/register.py pins that (engineio's `AsyncSocket`).
"""

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.transport.connection import ClientConnection

PACKET_OVERHEAD_BYTES = 1024


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
    of queueing (`on_overflow`, which drops its connection): it never blocks the
    emitter, unlike a `maxsize` queue, which would make a broadcast wait for its slowest
    recipient. Once its connection is dropped only engineio's `None` (its "stop writing"
    sentinel) is still queued, so the writer or a waiting poll can end.

    It has the part of `asyncio.Queue`'s interface engineio uses (`put`, `put_nowait`,
    `get`, `get_nowait`, `task_done`, `join`, `empty`, `qsize`) and is lean on purpose:
    every idle connection holds one, and an `asyncio.Queue` costs four deques (3 KB) even
    empty. `get()` returns a future rather than a coroutine, so engineio's
    `asyncio.wait_for(queue.get(), ...)` does not wrap it in a task of its own (Python
    3.11 does that for coroutines: another 1.5 KB per idle connection). A packet put
    while a writer waits is handed to it at once, and the queue no longer counts that
    writer as waiting: `waiting and empty()` still means nobody holds a taken packet
    (gateway/transport/fastpath.py writes directly only then).
    """

    __slots__ = (
        "_all_done", "_getters", "_items", "_limit", "_on_overflow", "_unfinished",
        "connection", "pending_bytes",
    )

    def __init__(
        self,
        connection: "ClientConnection",
        limit: int,
        on_overflow: Callable[["ClientConnection"], None],
    ) -> None:
        self.connection = connection
        self._limit = limit
        self._on_overflow = on_overflow
        self._items: deque[Any] | None = None  # created when first needed
        self._getters: list[asyncio.Future[Any]] = []
        self._unfinished = 0
        self._all_done: asyncio.Future[None] | None = None
        self.pending_bytes = 0

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
            if self.connection.dropped:
                return
            cost = packet_cost(item)
            self.pending_bytes += cost
            if self.pending_bytes > self._limit:
                self._on_overflow(self.connection)
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
