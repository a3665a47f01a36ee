"""The order of GATEWAY_QUEUES is precedence (consumers/precedence.py): a pod busy with
both queues serves the first one first, and the later one still gets its share."""

import asyncio
from functools import partial
from typing import Any

from bullmq import Job

from config import ConsumerSettings, QueueSettings, RedisSettings
from consumers import QueueConsumers
from gateway.pod.state import CONSUMERS
from gateway.redis_clients.factory import redis_client
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint

# Two critical slots against eight batch slots, of which one (0.125) is the batch
# queue's share while critical-events is busy. Without precedence, batch work goes
# twice as fast as critical work here; with it, critical goes twice as fast as batch.
QUEUES = "critical-events=2,general-events=8"


async def loaded_pod(
    start_gateway: StartGateway, producer: Producer, closing: list[Any], critical: int,
    batch: int,
) -> tuple[Any, RecordingClient]:
    """A pod whose two queues hold `critical` and `batch` jobs for user 1, all of them
    there before either queue is consumed; its client, connected."""
    queues = producer.queue("critical-events"), producer.queue("general-events")
    for queue in queues:
        await queue.pause()
    await queues[0].addBulk([
        {"name": "system:alert", "data": notification(["user:1"], f"c-{n}")}
        for n in range(critical)
    ])
    await queues[1].addBulk([
        {"name": "resources:created", "data": notification(["user:1"], f"b-{n}")}
        for n in range(batch)
    ])
    gateway = await start_gateway(GATEWAY_QUEUES=QUEUES, GATEWAY_QUEUE_MIN_SHARE="0.125")
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    closing.append(client)
    for queue in queues:
        await queue.resume()
    return gateway, client


async def test_a_critical_job_added_to_a_busy_pod_comes_before_later_batch_jobs(
    start_gateway: StartGateway, producer: Producer, closing: list[Any]
) -> None:
    gateway, client = await loaded_pod(
        start_gateway, producer, closing, critical=150, batch=300
    )
    # Both queues are being worked on: now one more critical job, then batch jobs.
    await producer.add("system:alert", notification(["user:1"], "urgent"))
    await producer.queue("general-events").addBulk([
        {"name": "resources:created", "data": notification(["user:1"], f"late-{n}")}
        for n in range(20)
    ])
    received = await client.events_until_quiet(150 + 300 + 1 + 20, timeout=30)
    order = [payload["id"] for _, payload in received]
    assert len(order) == len(set(order)) == 471
    first_late = min(order.index(f"late-{n}") for n in range(20))
    assert order.index("urgent") < first_late, (order.index("urgent"), first_late)
    # While critical-events was busy, batch slots stopped for it.
    assert gateway.app[CONSUMERS].yields["general-events"] > 0


async def test_batch_jobs_still_complete_while_critical_is_busy(
    start_gateway: StartGateway, producer: Producer, closing: list[Any]
) -> None:
    gateway, client = await loaded_pod(start_gateway, producer, closing, critical=400, batch=60)
    received = await client.events_until_quiet(460, timeout=30)
    order = [payload["id"] for _, payload in received]
    assert len(order) == len(set(order)) == 460
    last_critical = max(i for i, job_id in enumerate(order) if job_id.startswith("c-"))
    batch_meanwhile = sum(1 for job_id in order[:last_critical] if job_id.startswith("b-"))
    # The share (one slot) kept going: with critical twice as fast, all 60 batch jobs
    # are done while the 400 critical ones are; with strict precedence none would be.
    assert batch_meanwhile >= 40, batch_meanwhile
    assert gateway.app[CONSUMERS].yields["general-events"] > 0


class HeldProcessor:
    """Critical jobs, and the batch job `b-0`, wait for `release`: critical-events stays
    busy, and the batch queue's one working slot (its share) is held too."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.critical_started = asyncio.Event()
        self.batch_done = 0

    def for_queue(self, queue: QueueSettings) -> Any:
        return self.critical if queue.name == "critical-events" else self.batch

    async def critical(self, job: Job, token: str) -> None:
        self.critical_started.set()
        await self.release.wait()

    async def batch(self, job: Job, token: str) -> None:
        if job.data["id"] == "b-0":
            await self.release.wait()
        self.batch_done += 1


async def test_closing_runs_the_jobs_held_back_by_precedence_at_once(
    redis_url: str, producer: Producer
) -> None:
    """Batch slots that stopped for critical-events hold their jobs (fetched, locked).
    A close lets them finish those at once, while critical-events and the batch slot
    that kept working are still busy: the drain does not wait on precedence, and no job
    is left active, failed or lost."""
    critical, general = producer.queue("critical-events"), producer.queue("general-events")
    settings = ConsumerSettings(
        queues=(QueueSettings("critical-events", 1), QueueSettings("general-events", 8)),
        min_share=0.125,
    )
    processor = HeldProcessor()
    consumers = QueueConsumers(
        settings,
        partial(redis_client, RedisSettings(url=redis_url), decode_responses=True),
        processor.for_queue,
    )
    await consumers.start()
    stopping: asyncio.Task[bool] | None = None
    try:
        await critical.add("system:alert", notification(["user:1"], "held"))
        await asyncio.wait_for(processor.critical_started.wait(), 10)
        await general.addBulk([
            {"name": "resources:created", "data": notification(["user:1"], f"b-{n}")}
            for n in range(200)
        ])
        async with asyncio.timeout(10):  # b-0 runs; seven more are fetched and wait
            while (await general.getJobCounts("active"))["active"] < 8:
                await asyncio.sleep(0.01)
        assert processor.batch_done == 0
        stopping = asyncio.create_task(consumers.stop(grace_seconds=10))
        async with asyncio.timeout(5):
            while processor.batch_done < 7:
                await asyncio.sleep(0.01)
        assert not stopping.done()  # the critical job and b-0 are still running
    finally:
        processor.release.set()
        assert await (stopping or consumers.stop(grace_seconds=10))
    counts = await general.getJobCounts("active", "failed", "completed", "wait")
    assert counts == {"active": 0, "failed": 0, "completed": 8, "wait": 192}, counts


async def test_a_slot_completing_its_job_leaves_its_place_to_the_next_one(
    redis_url: str, producer: Producer
) -> None:
    """While critical-events is busy the batch queue works on one job at a time (its
    share), but a slot waiting for its completion's reply holds no place: another
    slot's job runs meanwhile. Held here: the first batch completion (the real
    `moveToFinished`, sent once released). The at-least-once order is unchanged: that
    job completes only after its processor returned."""
    critical, general = producer.queue("critical-events"), producer.queue("general-events")
    settings = ConsumerSettings(
        queues=(QueueSettings("critical-events", 1), QueueSettings("general-events", 8)),
        min_share=0.125,
    )
    critical_release = asyncio.Event()
    critical_started = asyncio.Event()
    processed: list[str] = []
    # Batch slots working (holding a place) as each batch job runs: never over the share.
    working: list[int] = []

    async def hold_critical(job: Job, token: str) -> None:
        critical_started.set()
        await critical_release.wait()

    async def batch(job: Job, token: str) -> None:
        processed.append(job.data["id"])
        working.append(consumers._workers[1].gate.working)

    def for_queue(queue: QueueSettings) -> Any:
        return hold_critical if queue.name == "critical-events" else batch

    consumers = QueueConsumers(
        settings,
        partial(redis_client, RedisSettings(url=redis_url), decode_responses=True),
        for_queue,
    )
    await consumers.start()
    completion_open = asyncio.Event()
    held: list[str] = []
    backend = consumers._workers[1].backend
    complete = backend.moveToCompleted

    async def first_completion_held(job: Job, *args: Any, **kwargs: Any) -> Any:
        if not held:
            held.append(job.data["id"])
            await completion_open.wait()
        return await complete(job, *args, **kwargs)

    backend.moveToCompleted = first_completion_held
    try:
        await critical.add("system:alert", notification(["user:1"], "held"))
        await asyncio.wait_for(critical_started.wait(), 10)
        await general.addBulk(
            [
                {"name": "resources:created", "data": notification(["user:1"], f"b-{n}")}
                for n in range(20)
            ]
        )
        async with asyncio.timeout(10):  # the first completion is held: others go on
            while len(processed) < 5:
                await asyncio.sleep(0.01)
        assert held and held[0] == processed[0]
        assert (await general.getJobCounts("completed"))["completed"] < len(processed)
        assert consumers._workers[1].gate.yielding and max(working) == 1, working
        completion_open.set()
        async with asyncio.timeout(10):
            while (await general.getJobCounts("completed"))["completed"] < 20:
                await asyncio.sleep(0.01)
    finally:
        completion_open.set()
        critical_release.set()
        assert await consumers.stop(grace_seconds=10)
    counts = await general.getJobCounts("active", "failed", "completed", "wait")
    assert counts == {"active": 0, "failed": 0, "completed": 20, "wait": 0}, counts
    assert sorted(processed) == sorted(f"b-{n}" for n in range(20))
