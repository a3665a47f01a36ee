"""When each connection's token expires, on one timer for all of them.

A `loop.call_later` per connection cost about 1.1 KB of memory per idle connection
(uvloop's timer handle, its context and arguments); a heap of `(deadline, sid)`
entries costs a tenth of that, and one timer armed for the earliest deadline keeps
the contract's "disconnected within a second" (deadlines are met to the loop's timer
precision). An entry whose connection has gone, or whose deadline changed, is skipped
when it comes up (removal is lazy: the heap keeps it until then).
"""

import asyncio
import heapq
from collections.abc import Callable


class ExpiryTimers:
    def __init__(self, on_expired: Callable[[str], None]) -> None:
        self._on_expired = on_expired
        self._deadlines: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None

    def __len__(self) -> int:
        return len(self._deadlines)

    def add(self, key: str, delay: float) -> None:
        """Call `on_expired(key)` in `delay` seconds unless `remove(key)` comes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, delay)
        self._deadlines[key] = deadline
        heapq.heappush(self._heap, (deadline, key))
        if self._armed_for is None or deadline < self._armed_for:
            self._arm(loop, deadline)

    def remove(self, key: str) -> bool:
        """Forget `key`; True if it was waiting."""
        if self._deadlines.pop(key, None) is None:
            return False
        if not self._deadlines:
            self._heap.clear()
            self._disarm()
        return True

    def close(self) -> None:
        self._deadlines.clear()
        self._heap.clear()
        self._disarm()

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self._disarm()
        self._armed_for = deadline
        self._timer = loop.call_at(deadline, self._fire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._armed_for = None

    def _fire(self) -> None:
        self._timer = None
        self._armed_for = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, key = heapq.heappop(heap)
            if self._deadlines.get(key) == deadline:
                del self._deadlines[key]
                self._on_expired(key)
        while heap and self._deadlines.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # stale: removed or re-added since
        if heap:
            self._arm(loop, heap[0][0])
