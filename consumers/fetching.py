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
import time
from typing import Any

from bullmq import DelayedError, Job, UnrecoverableError, WaitingChildrenError, Worker


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
        return self._in_flight < self._allowed or self.closing or self.paused

    async def getNextJob(self, token: str) -> Any:
        async with self._turn:
            await self._turn.wait_for(self._may_fetch)
            if self.closing or self.paused:
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
                self._turn.notify_all()

    async def moveToActive(self, token: str) -> Any:
        self.fetches += 1
        return await super().moveToActive(token)


class FetchNextOnComplete(Worker):  # type: ignore[misc]
    """Completes a job and fetches the next in one Lua call, as Node's worker does.

    bullmq's Python worker passes `fetch_next=False` to `moveToFinished`, so every job
    costs two round trips (`moveToActive`, then `moveToFinished`). This is its
    `processJob` with `fetch_next` on while the worker runs: the next job comes back
    from the completing call (locked with the same token, as in Node) and is returned
    to the run loop, which processes it like any fetched job. Failures keep bullmq's
    own path. Mirrors bullmq 3.4's `Worker.processJob`; tests/integration/
    test_fetching.py counts the round trips.
    """

    async def processJob(self, job: Job, token: str) -> Job | None:
        next_job: Job | None = None
        try:
            if "removeOnComplete" not in job.opts and "removeOnComplete" in self.opts:
                job.opts["removeOnComplete"] = self.opts["removeOnComplete"]
            if "removeOnFail" not in job.opts and "removeOnFail" in self.opts:
                job.opts["removeOnFail"] = self.opts["removeOnFail"]
            self.jobs.add((job, token))
            self.lockManager.track_job(job.id, token, int(time.time() * 1000))
            if job.deferredFailure:
                await job.moveToFailed(UnrecoverableError(job.deferredFailure), token)
                self.emit("failed", job, UnrecoverableError(job.deferredFailure))
                return None
            result = await self.processor(job, token)
            if not self.forceClosing:
                next_job = await self._complete(job, result, token)
            self.emit("completed", job, result)
        except (DelayedError, WaitingChildrenError):
            return None
        except Exception as error:
            try:
                if not self.forceClosing:
                    await job.moveToFailed(error, token)
                self.emit("failed", job, error)
            except Exception as failure:
                self.emit("error", failure, job)
        finally:
            self.jobs.discard((job, token))
            self.lockManager.untrack_job(job.id)
        return next_job

    async def _complete(self, job: Job, result: Any, token: str) -> Job | None:
        """Marks `job` completed and, while running, takes the next job in the same call."""
        fetch_next = not (self.closing or self.paused)
        completed = await self.backend.moveToCompleted(
            job, result, job.opts.get("removeOnComplete", False), token, fetch_next=fetch_next
        )
        job.returnvalue = result
        job.attemptsMade = job.attemptsMade + 1
        if not fetch_next:
            return None
        self.completions_with_fetch += 1
        next_data = completed.get("result") if completed else None
        if not next_data:
            return None
        next_job: Job | None = await self.nextJobFromJobData(*next_data, token=token)
        return next_job

    completions_with_fetch = 0
