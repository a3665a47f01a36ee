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

Precedence between the pod's queues (consumers/precedence.py): the worker tells its
queue's gate whether it has jobs waiting or running, and each slot passes the gate's
checkpoint before running a job and gives its place back before completing it.

This loop is ours, not a patch of bullmq's (docs/architecture.md, "Patch or own"): `run`
starts it, `run_job` does what bullmq's `processJob` does (never called here), on the
worker's pieces that stay bullmq's. What it overrides and relies on of bullmq 3.4 (the
run state `processing`, `jobs`, `lockManager`, `stalledCheckTimer`, `closing`, `paused`,
`resume_event`, `forceClosing`, `drained`; `backend.moveToCompleted(..., fetch_next)`
returning `{"result": next job data}`; `nextJobFromJobData`, `getNextJob`, `waitForJob`)
is listed, pinned by hash, in seams/register.py; tests/integration/test_fetching.py
fails if the single call per job disappears, tests/integration/test_slots.py if a job is
lost, run twice or left active by a close, tests/integration/test_precedence.py if a
later queue's work is not held back while an earlier queue is busy.
"""

import asyncio
import time
from typing import Any

from bullmq import Job, Worker
from bullmq.custom_errors import DelayedError, UnrecoverableError, WaitingChildrenError
from bullmq.timer import Timer

from consumers.precedence import Permit, QueueGate, ungated


class SlotWorker(Worker):  # type: ignore[misc]
    running: bool

    def __init__(self, name: str, processor: Any, opts: dict[str, Any]) -> None:
        super().__init__(name, processor, opts)
        self.fetched_with_completion = 0
        # Replaced by the pod's precedence gate of this queue before `run`.
        self.gate: QueueGate = ungated(name, max(1, int(self.opts["concurrency"])))
        self._waking = False

    async def close(self, force: bool = False) -> None:
        # Set before bullmq's close sets it, so slots let through by the gate see it.
        self.closing = True
        self.gate.open_all()
        await super().close(force)

    async def getNextJob(self, token: str) -> Any:
        try:
            return await super().getNextJob(token)
        finally:
            if self._waking:  # woken, but nothing was fetched (a delayed job not due yet)
                self._waking = False
                self._report_busy()

    async def waitForJob(self) -> int:
        block_until: int = await super().waitForJob()
        # Woken from the blocking wait: a fetch follows at once, and the queue counts
        # as busy until it has answered (earlier, later queues would start a job more).
        self._waking = True
        self._report_busy()
        return block_until

    async def nextJobFromJobData(
        self,
        job_data: dict[str, Any] | None = None,
        job_id: str | None = None,
        limit_until: int = 0,
        delay_until: int = 0,
        token: str | None = None,
    ) -> Job | None:
        try:
            job: Job | None = await super().nextJobFromJobData(
                job_data, job_id, limit_until, delay_until, token
            )
            return job
        finally:
            self._waking = False
            self._report_busy()

    def _report_busy(self) -> None:
        """Jobs waiting or running, as far as this pod knows: one in hand, a fetch that
        found one since bullmq last saw the queue drained, or a wake-up about to fetch."""
        self.gate.set_busy(bool(self.jobs) or not self.drained or self._waking)

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
        retry = {"delay_in_ms": self.opts["runRetryDelay"], "only_emit_error": True}
        while not self.closing:
            if self.paused:
                await self.resume_event.wait()
                continue
            serial += 1
            token = f"{self.id}:{index}:{serial}"

            async def fetch(token: str = token) -> Any:
                return await self.getNextJob(token)

            job: Job | None = await self.retryIfFailed(fetch, retry)
            # Taken before each job of the chain that its completions fetch runs, given
            # back once it has run and when the chain ends (consumers/precedence.py).
            permit = self.gate.permit()
            try:
                # A job in hand is run even once closing: a completion sent before
                # `close()` may have fetched and locked it (as in Node's worker). Dropped,
                # it would sit active until its lock lapsed and come back as stalled.
                while job is not None:
                    job = await self.run_job(job, job.token, permit)
            finally:
                permit.release()

    async def run_job(self, job: Job, token: str, permit: Permit | None = None) -> Job | None:
        """Run `job`; returns the next job when completing it fetched one. With a
        `permit`, each step waits its turn while an earlier queue has precedence.

        In place of bullmq's `processJob` (owned, seams/register.py): its steps, with the
        completion fetching the next job and the precedence checkpoint; no abort
        signal, since our processor takes none."""
        self._apply_default_removal(job)
        self.jobs.add((job, token))
        self._report_busy()
        self.lockManager.track_job(job.id, token, int(time.time() * 1000))
        next_job: Job | None = None
        try:
            if job.deferredFailure:
                failure = UnrecoverableError(job.deferredFailure)
                await job.moveToFailed(failure, token)
                self.emit("failed", job, failure)
                return None
            # Precedence: while an earlier queue is busy, wait here (job in hand, lock
            # renewed) rather than add to the event loop's work.
            if permit is not None:
                await permit.checkpoint()
            result = await self.processor(job, token)
            if permit is not None:
                # The completion is a Redis call: while this slot waits for its reply,
                # the place goes to the next slot's job, whose processing then overlaps
                # this completion instead of following it.
                permit.release()
            if not self.forceClosing:
                fetch_next = not (self.closing or self.paused)
                completed = await self.backend.moveToCompleted(
                    job,
                    result,
                    job.opts.get("removeOnComplete", False),
                    token,
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
            self._report_busy()
        return next_job

    def _apply_default_removal(self, job: Job) -> None:
        """The worker's removeOnComplete/removeOnFail for a job that sets none."""
        for option in ("removeOnComplete", "removeOnFail"):
            if option not in job.opts and option in self.opts:
                job.opts[option] = self.opts[option]

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
