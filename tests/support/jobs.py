"""A real Python bullmq producer, and waiting on a job's state."""

import asyncio
from typing import Any

from bullmq import Job, Queue


class Producer:
    def __init__(self, redis_url: str, prefix: str = "bull") -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, {"connection": self.redis_url, "prefix": self.prefix})
        return self._queues[name]

    async def add(
        self, event: str, data: Any, queue: str = "critical-events", **opts: Any
    ) -> Job:
        return await self.queue(queue).add(event, data, opts)

    async def finished(self, queue: str, job_id: str, timeout: float = 10.0) -> Job:
        """The job once it is completed or failed (polls its state, bounded in time)."""
        async with asyncio.timeout(timeout):
            while True:
                state = await self.queue(queue).getJobState(job_id)
                if state in ("completed", "failed"):
                    job = await Job.fromId(self.queue(queue), job_id)
                    assert job is not None
                    return job
                await asyncio.sleep(0.02)

    async def close(self) -> None:
        for queue in self._queues.values():
            await queue.close()


def notification(
    rooms: list[str], resource_id: Any = "res-1", namespace: str = "/data_owner", **extra: Any
) -> dict[str, Any]:
    return {"namespace": namespace, "rooms": rooms, "id": resource_id, **extra}


async def paused_backlog(producer: Producer, count: int, prefix: str) -> Queue:
    """`critical-events`, paused, holding `count` jobs for `user:1` with ids
    `<prefix>-0` ...: a backlog that is there in full before any worker sees it."""
    queue = producer.queue("critical-events")
    await queue.pause()
    await queue.addBulk([
        {"name": "resources:created", "data": notification(["user:1"], f"{prefix}-{n}")}
        for n in range(count)
    ])
    return queue
