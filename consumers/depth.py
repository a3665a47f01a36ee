"""How many jobs each consumed queue holds, by state, for `gateway_queue_jobs`.

Read from Redis when asked (bullmq's `Queue.getJobCounts`: one Lua call per queue), so
a scrape of /metrics sees the numbers of that moment. They are the queue's own, the
same on every pod that consumes it, not this pod's share: autoscale on their maximum
across pods (docs/operations.md).
"""

from collections.abc import Iterable

from bullmq import Queue

from consumers.protocols import RedisClientFactory

# bullmq's names: ready to run (`wait`, and `prioritized` for jobs with a priority),
# held by a worker (`active`), and waiting for their time (`delayed`, which includes
# the throttle's trailing emits).
STATES = ("wait", "prioritized", "active", "delayed")


class QueueDepth:
    def __init__(
        self, names: Iterable[str], client_factory: RedisClientFactory, prefix: str
    ) -> None:
        client = client_factory()
        self._queues = [Queue(name, {"connection": client, "prefix": prefix}) for name in names]

    async def counts(self) -> dict[str, dict[str, int]]:
        """{queue: {state: jobs}}; raises what the Redis client raises."""
        return {
            queue.name: {state: int(n) for state, n in (await queue.getJobCounts(*STATES)).items()}
            for queue in self._queues
        }

    async def close(self) -> None:
        # The queues share one client; each close closes it (idempotent).
        for queue in self._queues:
            await queue.close()
