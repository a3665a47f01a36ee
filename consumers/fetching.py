"""A bullmq Worker that doesn't probe an empty queue `concurrency` times per job.

bullmq's Python worker, once a job arrives on an empty queue, starts `concurrency`
fetches (`moveToActive`, a Lua call each) at the same moment; all but one find nothing.
With the contract's `critical-events=32`, a job on a quiet queue cost dozens of wasted
round trips: at 100 jobs/s a pod burned 85% of a core (py-spy: two thirds of the
samples in `moveToActive`; 83 fetches per job measured).

Here the number of fetches in flight works like TCP's slow start: one after a fetch
that found nothing, doubling (up to `concurrency`) with every further fetch that found
a job after the first. A quiet queue costs about two fetches per job; a backlog
reaches full concurrency within a few fetches. Jobs themselves still run `concurrency` at a time.

Relies on bullmq 3.4's `Worker.getNextJob`, `moveToActive`, `closing` and `paused`;
tests/integration/test_fetching.py fails if the saving disappears or a cancelled fetch
does not stay cancelled.

What it overrides of bullmq is listed, pinned by hash, in seams/register.py.
"""

import asyncio
import contextlib
from collections import deque
from typing import Any

from bullmq import Worker


class PacedFetchWorker(Worker):  # type: ignore[misc]
    def __init__(self, name: str, processor: Any, opts: dict[str, Any]) -> None:
        super().__init__(name, processor, opts)
        self._max_fetches = max(1, int(opts.get("concurrency", 1)))
        self._allowed = 1
        self._found_in_row = 0
        self._in_flight = 0
        # Fetchers waiting for a turn, woken only as many as may fetch: waking all of
        # them on every fetch (a Condition's notify_all) cost a task step per idle slot,
        # 31 per fetch at concurrency 32, most of a quiet pod's CPU.
        self._turns: deque[asyncio.Future[None]] = deque()
        self.fetches = 0

    def _fetch_limit(self) -> int:
        # A drained queue gets one fetch at a time: bullmq's `getNextJob` blocks for a job
        # only in the first; any other fetch in flight would be an empty `moveToActive`.
        return 1 if self.drained else self._allowed

    def _may_fetch(self) -> bool:
        return self._in_flight < self._fetch_limit() or self.closing or self.paused

    def _hand_out_turns(self) -> None:
        if self.closing or self.paused:
            free = len(self._turns)  # all of them, to see it and return
        else:
            free = self._fetch_limit() - self._in_flight
        while free > 0 and self._turns:
            turn = self._turns.popleft()
            if not turn.done():
                turn.set_result(None)
                free -= 1

    def _leave_line(self, turn: "asyncio.Future[None]") -> None:
        # A cancelled turn may already be gone: handing out turns drops cancelled ones
        # in passing. `remove` would then raise ValueError in place of the
        # CancelledError, and bullmq's `retryIfFailed` swallows a ValueError.
        with contextlib.suppress(ValueError):
            self._turns.remove(turn)

    async def getNextJob(self, token: str) -> Any:
        while not self._may_fetch():
            turn = asyncio.get_running_loop().create_future()
            self._turns.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._hand_out_turns()  # handed a turn it won't take: pass it on
                else:
                    self._leave_line(turn)
                raise
        if self.closing or self.paused:
            self._hand_out_turns()
            return None
        self._in_flight += 1
        job = None
        try:
            job = await super().getNextJob(token)
            return job
        finally:
            self._in_flight -= 1
            if job is None:
                self._allowed, self._found_in_row = 1, 0
            else:
                # Widen only from the second job found in a row: one job on a
                # quiet queue then costs one empty probe, not two.
                self._found_in_row += 1
                if self._found_in_row > 1:
                    self._allowed = min(self._max_fetches, self._allowed * 2)
            self._hand_out_turns()

    async def moveToActive(self, token: str) -> Any:
        self.fetches += 1
        return await super().moveToActive(token)
