"""A bullmq Worker run as `concurrency` slots, each completing a job and fetching the
next one in a single Lua call, as Node's worker does.

bullmq 3.4's Python run loop costs, per job: a task for the fetch, a task for the
processing, an `asyncio.wait(FIRST_COMPLETED)` over every task in flight (a callback
added to and removed from each of up to 2 x concurrency tasks), and two Lua calls,
because it completes a job with `fetch_next=False` and then fetches the next one with
`moveToActive`. Node's worker completes a job with `fetchNext` set: `moveToFinished`
takes the next waiting job and locks it with the same token, in the same round trip.

Here each slot is one long-lived task that loops: fetch a job (`getNextJob`, paced by
consumers/fetching.py), run the processor, complete it with `fetch_next` while the
worker is neither closing nor paused, and go on with the job that call returned under
the token it was locked with. Retries, `UnrecoverableError`, delays, lock renewal,
stalled-job checks and `close()` are bullmq's own: `close()` waits for
`self.processing`, which holds the slots, and each slot ends once it holds no job.
A completion sent just before `close()` may still bring back a job, fetched and locked:
the slot runs it too (its own completion then fetches nothing), as Node's worker does.

Relies on bullmq 3.4's `Worker.run` attributes (`processing`, `jobs`, `lockManager`,
`stalledCheckTimer`, `closing`, `paused`, `resume_event`, `forceClosing`), its
`backend.moveToCompleted(..., fetch_next)` returning `{"result": next job data}` and
`nextJobFromJobData`; tests/integration/test_fetching.py fails if the single call per
job disappears, tests/integration/test_slots.py if a job is lost, run twice or left
active by a close.
"""

import asyncio
import time
from typing import Any

from bullmq import Job, Worker
from bullmq.custom_errors import DelayedError, UnrecoverableError, WaitingChildrenError
from bullmq.timer import Timer


class SlotWorker(Worker):  # type: ignore[misc]
    running: bool

    def __init__(self, name: str, processor: Any, opts: dict[str, Any]) -> None:
        super().__init__(name, processor, opts)
        self.fetched_with_completion = 0

    async def run(self) -> None:
        if self.running:
            raise RuntimeError("Worker is already running")
        await self._ensure_client_names()
        self.lockManager.start()
        self.stalledCheckTimer = Timer(
            self.opts["stalledInterval"] / 1000, self.runStalledJobsCheck, self.emit
        )
        self.running = True
        slots = {
            asyncio.ensure_future(self._slot(index))
            for index in range(max(1, int(self.opts["concurrency"])))
        }
        self.processing = slots
        try:
            await asyncio.gather(*slots)
        finally:
            self.running = False
            if not self.closing:
                # Cancelled from outside: nothing else will stop the slots.
                for slot in slots:
                    slot.cancel()
                if self.waiting is not None and not self.waiting.done():
                    self.waiting.cancel()
                await asyncio.gather(*slots, return_exceptions=True)
            self.stalledCheckTimer.stop()
            await self.lockManager.close()

    async def _slot(self, index: int) -> None:
        serial = 0
        job: Job | None = None
        retry = {"delay_in_ms": self.opts["runRetryDelay"], "only_emit_error": True}
        # A job in hand is run even once closing: a completion sent before `close()`
        # may have fetched and locked it (as in Node's worker). Dropped, it would sit
        # active until its lock lapsed and come back as stalled.
        while job is not None or not self.closing:
            if job is None:
                if self.paused:
                    await self.resume_event.wait()
                    continue
                serial += 1
                token = f"{self.id}:{index}:{serial}"

                async def fetch(token: str = token) -> Any:
                    return await self.getNextJob(token)

                job = await self.retryIfFailed(fetch, retry)
                if job is None:
                    continue
            job = await self.processJob(job, job.token)

    async def processJob(self, job: Job, token: str) -> Job | None:
        """Run `job`; returns the next job when completing it fetched one."""
        if "removeOnComplete" not in job.opts and "removeOnComplete" in self.opts:
            job.opts["removeOnComplete"] = self.opts["removeOnComplete"]
        if "removeOnFail" not in job.opts and "removeOnFail" in self.opts:
            job.opts["removeOnFail"] = self.opts["removeOnFail"]
        self.jobs.add((job, token))
        self.lockManager.track_job(job.id, token, int(time.time() * 1000))
        next_job: Job | None = None
        try:
            if job.deferredFailure:
                failure = UnrecoverableError(job.deferredFailure)
                await job.moveToFailed(failure, token)
                self.emit("failed", job, failure)
                return None
            result = await self.processor(job, token)
            if not self.forceClosing:
                fetch_next = not (self.closing or self.paused)
                completed = await self.backend.moveToCompleted(
                    job, result, job.opts.get("removeOnComplete", False), token,
                    fetch_next=fetch_next,
                )
                job.returnvalue = result
                job.attemptsMade = job.attemptsMade + 1
                if fetch_next:
                    next_job = await self._next_from(completed["result"], token)
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

    async def _next_from(self, raw: list[Any] | None, token: str) -> Job | None:
        """The job `moveToFinished` fetched (locked with `token`), if any. An empty answer
        marks the queue drained as an empty `moveToActive` would, so the slot's next
        fetch blocks for a job instead of probing again."""
        data, job_id, limit_until, delay_until = raw or (None, None, 0, 0)
        job: Job | None = await self.nextJobFromJobData(
            data, job_id, limit_until or 0, delay_until or 0, token
        )
        if job is not None:
            self.fetched_with_completion += 1
        return job
