"""One BullMQ Worker per configured queue, started and stopped together, the queues
taking precedence in the order they are listed (consumers/precedence.py).

What it relies on of bullmq beyond its public API (reading the Redis version on the
worker's connections) is listed, pinned by hash, in seams/register.py.
"""

import asyncio
import logging
import warnings
from collections.abc import Callable
from typing import Any

from config import ConsumerSettings, QueueSettings
from consumers.depth import QueueDepth
from consumers.fetching import PacedFetchWorker
from consumers.precedence import Precedence
from consumers.processor import NotificationProcessor
from consumers.protocols import RedisClientFactory
from consumers.slots import SlotWorker
from consumers.unreadable import FailUnreadableJobs, decode_tolerantly

logger = logging.getLogger(__name__)

# The reconnect step of docs/architecture.md; the Redis client backs off 0.5 s to 2 s per command.
RUN_RETRY_DELAY_MS = 500
# How long cancelled worker tasks get to end once the grace period is over.
STOP_CANCEL_SECONDS = 2.0

ProcessorFactory = Callable[[QueueSettings], NotificationProcessor]


class NotificationWorker(FailUnreadableJobs, PacedFetchWorker, SlotWorker):
    """Paced fetches, the next job fetched by the completing call, and a job whose hash
    cannot be read failing instead of looping."""


class QueueConsumers:
    def __init__(
        self,
        settings: ConsumerSettings,
        client_factory: RedisClientFactory,
        processor_factory: ProcessorFactory,
    ) -> None:
        self._settings = settings
        self._client_factory = client_factory
        self._processor_factory = processor_factory
        self._workers: list[NotificationWorker] = []
        self._runs: list[asyncio.Task[None]] = []
        self._stopping = False
        self._depth: QueueDepth | None = None

    async def start(self) -> None:
        """Start a worker per queue, or none: when Redis fails before every worker has
        read its version, the workers built so far are closed and the error raised, and
        `start` may be called again (the pod retries it while Redis is away)."""
        if self._runs:
            return
        # The order of the queues is precedence (consumers/precedence.py).
        precedence = Precedence(
            self._settings.min_share, self._settings.precedence_linger_ms / 1000
        )
        workers: list[NotificationWorker] = []
        try:
            for queue in self._settings.queues:
                worker = NotificationWorker(
                    queue.name, self._processor_factory(queue), self._options(queue)
                )
                workers.append(worker)
                worker.gate = precedence.gate(queue.name, queue.concurrency)
                worker.on("error", _log_worker_error(queue.name))
                # Without the version the blocking connection rounds sub-second delays up
                # to whole seconds (docs/dependencies.md); reading it first fixes that.
                # bullmq also warns about the eviction policy there; the gateway's own
                # check reports it.
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", "IMPORTANT! Eviction policy", UserWarning)
                    await worker.blockingRedisConnection.getRedisVersion()
                    await worker.redisConnection.getRedisVersion()
        except BaseException:
            await asyncio.gather(*(_close_unstarted(w) for w in workers), return_exceptions=True)
            raise
        for worker, queue in zip(workers, self._settings.queues, strict=True):
            self._workers.append(worker)
            self._runs.append(asyncio.create_task(worker.run(), name=f"worker:{queue.name}"))
            logger.info("consuming %s with concurrency %d", queue.name, queue.concurrency)
        self._depth = QueueDepth(
            (queue.name for queue in self._settings.queues),
            self._client_factory,
            self._settings.prefix,
        )

    @property
    def running(self) -> bool:
        """Every worker's loop is alive; false once stopping begins."""
        return (
            not self._stopping
            and bool(self._runs)
            and all(not run.done() for run in self._runs)
            and all(worker.running for worker in self._workers)
        )

    @property
    def yields(self) -> dict[str, int]:
        """Per queue, how often one of its slots stopped to let an earlier queue work."""
        return {worker.name: worker.gate.yields for worker in self._workers}

    @property
    def fetches(self) -> dict[str, int]:
        """`moveToActive` calls per queue so far (found a job or not)."""
        return {worker.name: worker.fetches for worker in self._workers}

    @property
    def fetched_with_completion(self) -> dict[str, int]:
        """Jobs per queue that completing the previous job fetched (no `moveToActive`)."""
        return {worker.name: worker.fetched_with_completion for worker in self._workers}

    async def job_counts(self) -> dict[str, dict[str, int]]:
        """Jobs per state of each consumed queue, read from Redis now (consumers/depth.py);
        empty before the workers started and once stopping."""
        if self._depth is None or self._stopping:
            return {}
        return await self._depth.counts()

    async def stop(self, grace_seconds: float) -> bool:
        """Stop taking jobs and wait for held ones; True when all finished in time.

        A job not finished in time keeps its lock until it lapses and another pod
        takes it over (stalled-job recovery): it is retried, never lost.
        """
        self._stopping = True
        if self._depth is not None:
            await self._depth.close()
        closing = [asyncio.create_task(worker.close()) for worker in self._workers]
        if not closing:
            return True
        _, pending = await asyncio.wait(closing, timeout=grace_seconds)
        for task in pending:
            task.cancel()
        for run in self._runs:
            if not run.done():
                run.cancel()
        # Bounded too: a worker task that does not end on cancellation must not keep the
        # pod from exiting (its jobs' locks lapse and another pod retries them).
        _, stuck = await asyncio.wait([*pending, *self._runs], timeout=STOP_CANCEL_SECONDS)
        if stuck:
            logger.error("%d worker tasks did not stop; exiting without them", len(stuck))
        return not pending

    def _options(self, queue: QueueSettings) -> dict[str, Any]:
        return {
            "connection": decode_tolerantly(self._client_factory()),
            "prefix": self._settings.prefix,
            "concurrency": queue.concurrency,
            "autorun": False,
            "lockDuration": self._settings.lock_duration_ms,
            "stalledInterval": self._settings.stalled_interval_ms,
            "maxStalledCount": 1,
            # bullmq waits this long before fetching again after a connection error
            # (15 s by default): a Redis restart or failover would stall delivery for it.
            "runRetryDelay": RUN_RETRY_DELAY_MS,
            "removeOnComplete": {"count": 1000},
            "removeOnFail": {"count": 5000},
        }


def _log_worker_error(queue: str) -> Callable[..., None]:
    def log(error: object, *_: object) -> None:
        logger.error("worker of %s: %s", queue, error)

    return log


async def _close_unstarted(worker: NotificationWorker) -> None:
    """Release the connections of a worker whose loop never ran."""
    await worker.blockingRedisConnection.close()
    await worker.redisConnection.close()
