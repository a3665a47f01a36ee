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
tests/integration/test_fetching.py fails if the saving disappears.
"""

import asyncio
from typing import Any

from bullmq import Worker


class PacedFetchWorker(Worker):  # type: ignore[misc]
    def __init__(self, name: str, processor: Any, opts: dict[str, Any]) -> None:
        super().__init__(name, processor, opts)
        self._max_fetches = max(1, int(opts.get("concurrency", 1)))
        self._allowed = 1
        self._found_in_row = 0
        self._in_flight = 0
        self._turn = asyncio.Condition()
        self.fetches = 0

    def _may_fetch(self) -> bool:
        # A drained queue gets one fetch at a time: bullmq's `getNextJob` blocks for a job
        # only in the first; any other fetch in flight would be an empty `moveToActive`.
        allowed = 1 if self.drained else self._allowed
        return self._in_flight < allowed or self.closing or self.paused

    async def getNextJob(self, token: str) -> Any:
        async with self._turn:
            await self._turn.wait_for(self._may_fetch)
            if self.closing or self.paused:
                # Pass it on, so no waiter sleeps through the close.
                self._turn.notify_all()
                return None
            self._in_flight += 1
        job = None
        try:
            job = await super().getNextJob(token)
            return job
        finally:
            async with self._turn:
                self._in_flight -= 1
                if job is None:
                    self._allowed, self._found_in_row = 1, 0
                else:
                    # Widen only from the second job found in a row: one job on a
                    # quiet queue then costs one empty probe, not two.
                    self._found_in_row += 1
                    if self._found_in_row > 1:
                        self._allowed = min(self._max_fetches, self._allowed * 2)
                # All of them: a waiter woken alone and then cancelled (close) would
                # leave the others waiting for a turn that never comes.
                self._turn.notify_all()

    async def moveToActive(self, token: str) -> Any:
        self.fetches += 1
        return await super().moveToActive(token)

