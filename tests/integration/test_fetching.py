"""A quiet queue with high concurrency costs about two fetches per job, not dozens
(consumers/fetching.py), a backlog still runs its jobs concurrently, and a cancelled
fetcher stays cancelled."""

import asyncio

import pytest

from consumers.fetching import PacedFetchWorker
from gateway.pod.state import CONSUMERS
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification, paused_backlog
from tests.support.tokens import mint

JOBS = 30


async def test_one_job_at_a_time_costs_few_fetches(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=32")
    consumers = gateway.app[CONSUMERS]
    before = consumers.fetches["critical-events"]
    for n in range(JOBS):
        job = await producer.add("resources:created", notification(["user:1"], f"q-{n}"))
        await producer.finished("critical-events", str(job.id))
    per_job = (consumers.fetches["critical-events"] - before) / JOBS
    # bullmq alone: 83 measured (several per concurrency slot, all but one empty).
    assert per_job <= 3, per_job


async def test_a_backlog_is_still_processed_concurrently(
    start_gateway: StartGateway, producer: Producer
) -> None:
    queue = await paused_backlog(producer, 200, "b")
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=32")
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    await queue.resume()
    received = await client.events_until_quiet(200, timeout=20)
    assert len({payload["id"] for _, payload in received}) == 200
    assert gateway.app[CONSUMERS].fetches["critical-events"] <= 2 * 200
    await client.close()


async def test_a_cancelled_waiter_stays_cancelled_when_its_turn_was_dropped(
    redis_url: str, producer: Producer
) -> None:
    """A fetcher waiting for a turn is cancelled just as the fetch in flight finds a job
    and hands out turns, which drops the cancelled turn from the line. The waiter must
    still end with its CancelledError: anything else is swallowed by bullmq's
    `retryIfFailed`, and a slot told to stop would go on fetching."""
    worker = PacedFetchWorker(
        "critical-events", None, {"connection": redis_url, "concurrency": 4, "autorun": False}
    )
    worker.drained = True  # one fetch at a time; the first blocks waiting for a job
    in_flight = asyncio.create_task(worker.getNextJob("first"))
    waiter = asyncio.create_task(worker.getNextJob("second"))
    # bullmq emits "active" when the fetch in flight has its job, in the same step as
    # our fetch then ends and hands out turns.
    worker.on("active", lambda *_: waiter.cancel())
    try:
        async with asyncio.timeout(5):
            while not worker._turns:  # the waiter is in line
                await asyncio.sleep(0.01)
        await producer.add("resources:created", notification(["user:1"], "w-1"))
        job = await asyncio.wait_for(in_flight, 10)
        assert job is not None and job.data["id"] == "w-1"
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, 5)
        assert not worker._turns
    finally:
        await worker.close()
