"""Trailing emits of the throttle, scheduled as BullMQ delayed jobs.

The job lives in the queue of the notification it stands for, so it survives the pod
that scheduled it; its id is derived from (key, window end), so every pod that holds a
notification in the same window schedules the same single job.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from bullmq import Queue

from consumers.protocols import RedisClientFactory
from throttling import trailing_job_id

TRAILING_JOB_NAME = "gateway:throttle-trailing"
# Retried generously: while it fails, the held notification waits in Redis.
_TRAILING_JOB_OPTIONS: dict[str, Any] = {
    "attempts": 10,
    "backoff": {"type": "exponential", "delay": 500},
    # Removed when done either way, so a later window can reuse nothing stale and a
    # failed one is scheduled anew by the next held notification.
    "removeOnComplete": True,
    "removeOnFail": True,
}


class TrailingScheduler:
    def __init__(self, queues: Mapping[str, Queue]) -> None:
        self._queues = queues

    @classmethod
    def for_queues(
        cls, names: Iterable[str], client_factory: RedisClientFactory, prefix: str
    ) -> "TrailingScheduler":
        return cls({
            name: Queue(name, {"connection": client_factory(), "prefix": prefix})
            for name in names
        })

    async def schedule(
        self, queue: str, key: str, window_ms: int, window_end_ms: int, delay_ms: int
    ) -> None:
        await self._queues[queue].add(
            TRAILING_JOB_NAME,
            {"key": key, "window_ms": window_ms},
            {**_TRAILING_JOB_OPTIONS, "jobId": trailing_job_id(key, window_end_ms),
             "delay": delay_ms},
        )

    async def close(self) -> None:
        for queue in self._queues.values():
            await queue.close()
