"""Queue precedence inside one pod: the order of GATEWAY_QUEUES.

While a queue is busy in this pod, every queue after it in the list works on at most
its minimum share of jobs at a time (GATEWAY_QUEUE_MIN_SHARE of its concurrency, rounded
down, at least one). A flood of batch jobs then cannot fill the event loop while
critical ones are being handled, and it never stops either: its share keeps going, and
all of its slots go back to work once the earlier queues are idle.

A queue is busy while it has jobs waiting or running as far as its worker can tell (a
job in hand, a fetch that found one since bullmq last saw the queue drained, a wake-up
from its blocking wait about to fetch one), and for GATEWAY_QUEUE_PRECEDENCE_LINGER_MS
after that: a steady stream of critical jobs (50/s: 20 ms apart) leaves its queue idle
between jobs, long enough for a batch queue to fill the event loop again just before
the next one arrives.

A slot takes a place among its queue's working slots before running a job (a
checkpoint) and gives it back once the job has run: its completion, a Redis call that
also fetches the slot's next job, holds no place, so the next slot's job runs while it
is in flight (one place then drains about one job per round trip, not one per two).
While its queue is over its limit, a slot at a checkpoint waits for a place, job in hand
(bullmq keeps renewing the job's lock). So a later queue's slots stop before their next
job when an earlier queue becomes busy, without giving a job back or fetching one again:
precedence adds no Redis call. A slot waiting for a job to arrive holds no place.

Pure asyncio: no Redis, no bullmq.
"""

import asyncio
import contextlib
import math
from collections import deque


class Precedence:
    """The gates of one pod's queues, in precedence order (first = highest)."""

    def __init__(self, min_share: float, linger_seconds: float = 0.0) -> None:
        if not 0 < min_share <= 1:
            raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
        self.min_share = min_share
        self.linger_seconds = linger_seconds
        self._gates: list[QueueGate] = []

    def gate(self, queue: str, concurrency: int) -> "QueueGate":
        """The gate of the next queue in precedence order."""
        share = max(1, math.floor(concurrency * self.min_share + 1e-9))
        gate = QueueGate(self, queue, concurrency, min(share, concurrency))
        self._gates.append(gate)
        self._busy_changed()
        return gate

    @property
    def gates(self) -> tuple["QueueGate", ...]:
        return tuple(self._gates)

    def _busy_changed(self) -> None:
        earlier_busy = False
        for gate in self._gates:
            gate._set_yielding(earlier_busy)
            earlier_busy = earlier_busy or gate.busy


class QueueGate:
    """How many of one queue's slots may work now: its concurrency, or its share while
    an earlier queue is busy (`yielding`)."""

    def __init__(self, precedence: Precedence, queue: str, concurrency: int, share: int) -> None:
        self._precedence = precedence
        self.queue = queue
        self.concurrency = concurrency
        self.share = share
        # Busy as precedence sees it (lingering included); `has_work` as its worker said.
        self.busy = False
        self.has_work = False
        self.yielding = False
        self.working = 0
        self._line: deque[asyncio.Future[None]] = deque()
        self._open = False
        self._linger: asyncio.TimerHandle | None = None
        # How many times one of this queue's slots waited for an earlier queue.
        self.yields = 0

    @property
    def limit(self) -> int:
        return self.share if self.yielding else self.concurrency

    def set_busy(self, has_work: bool) -> None:
        """Its worker's word: jobs waiting or running here, or none any more (busy
        then ends after the linger). Called on every change of the worker's state, so
        the common case is one comparison."""
        if has_work == self.has_work:
            return
        self.has_work = has_work
        if has_work:
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None
            self._set_busy(True)
        elif self._precedence.linger_seconds > 0:
            self._linger = asyncio.get_running_loop().call_later(
                self._precedence.linger_seconds, self._lingered
            )
        else:
            self._set_busy(False)

    def _lingered(self) -> None:
        self._linger = None
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            self._precedence._busy_changed()

    def permit(self) -> "Permit":
        """One slot's place among the working ones, taken at its first checkpoint."""
        return Permit(self)

    def open_all(self) -> None:
        """Let every waiting slot through, now and later (the worker is closing: its
        slots finish the jobs they hold and end)."""
        self._open = True
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        while self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)

    async def _wait_in_line(self) -> None:
        turn = asyncio.get_running_loop().create_future()
        self._line.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._wake()  # handed a place it won't take: pass it on
            else:
                with contextlib.suppress(ValueError):  # already dropped in passing
                    self._line.remove(turn)
            raise

    def _set_yielding(self, yielding: bool) -> None:
        if yielding != self.yielding:
            self.yielding = yielding
            if not yielding:
                self._wake()

    def _wake(self) -> None:
        # Woken slots take their place when they run; until then more may be woken
        # than there are places, and those line up again.
        free = self.limit - self.working
        while free > 0 and self._line:
            turn = self._line.popleft()
            if not turn.done():
                turn.set_result(None)
                free -= 1


class Permit:
    """A slot's place among its queue's working slots: taken at a checkpoint, kept while
    the queue is within its limit, given back at a checkpoint while it is over it, and
    once the slot's job has run (`release`: its completion holds no place)."""

    __slots__ = ("_gate", "held")

    def __init__(self, gate: QueueGate) -> None:
        self._gate = gate
        self.held = False

    async def checkpoint(self) -> None:
        """Before the slot's job runs. Returns without suspending (no event-loop turn)
        while the queue is within its limit."""
        gate = self._gate
        if self.held:
            if gate.working <= gate.limit or gate._open:
                return
            self.release()
        elif gate.working < gate.limit or gate._open:
            self.held = True
            gate.working += 1
            return
        gate.yields += 1
        while gate.working >= gate.limit and not gate._open:
            await gate._wait_in_line()
        self.held = True
        gate.working += 1

    def release(self) -> None:
        if self.held:
            self.held = False
            self._gate.working -= 1
            self._gate._wake()


def ungated(queue: str, concurrency: int) -> QueueGate:
    """The gate of a queue on its own: it never holds a slot back."""
    return Precedence(1.0).gate(queue, concurrency)
