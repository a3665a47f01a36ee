"""Each worker slot completes a job and fetches the next one in one call
(consumers/slots.py), without losing a job or running one twice."""

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any

import pytest
from bullmq import Job

from config import ConsumerSettings, QueueSettings, RedisSettings
from consumers import QueueConsumers
from gateway.pod.state import CONSUMERS
from gateway.redis_clients.factory import redis_client
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification, paused_backlog
from tests.support.tokens import mint

BACKLOG = 300
STREAM = 400


async def test_a_backlog_costs_one_call_per_job(
    start_gateway: StartGateway, producer: Producer
) -> None:
    queue = await paused_backlog(producer, BACKLOG, "b")
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=8")
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    await queue.resume()
    received = await client.events_until_quiet(BACKLOG, timeout=20)
    assert sorted(payload["id"] for _, payload in received) == sorted(
        f"b-{n}" for n in range(BACKLOG)
    )
    consumers = gateway.app[CONSUMERS]
    # Most jobs come with the completion of the one before; bullmq alone: none.
    assert consumers.fetched_with_completion["critical-events"] >= BACKLOG * 0.9
    assert consumers.fetches["critical-events"] <= BACKLOG * 0.1
    await client.close()


async def test_a_stream_runs_every_job_once_with_short_locks(
    start_gateway: StartGateway, producer: Producer, caplog: pytest.LogCaptureFixture
) -> None:
    """Jobs arrive while others are in flight, locks lapse within a second and the
    stalled-job check runs every 500 ms: a job fetched with a completion but not locked
    or renewed under its token would be taken back and emitted twice, or fail to
    complete with "Missing lock" / "Lock mismatch"."""
    caplog.set_level(logging.WARNING)
    gateway = await start_gateway(
        GATEWAY_QUEUES="critical-events=8",
        QUEUE_LOCK_DURATION_MS="1000",
        QUEUE_STALLED_INTERVAL_MS="500",
    )
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    queue = producer.queue("critical-events")
    for start in range(0, STREAM, 4):
        await queue.addBulk([
            {"name": "resources:created", "data": notification(["user:1"], f"s-{n}")}
            for n in range(start, start + 4)
        ])
        await asyncio.sleep(0.005)  # the stream's pace, not a wait for an outcome
    received = await client.events_until_quiet(STREAM, timeout=30)
    assert sorted(payload["id"] for _, payload in received) == sorted(
        f"s-{n}" for n in range(STREAM)
    )
    async with asyncio.timeout(10):  # the last emits come just before their completion
        while (counts := await queue.getJobCounts("completed", "failed"))["completed"] < STREAM:
            assert not counts["failed"], counts
            await asyncio.sleep(0.02)
    # Nothing more arrives: no job is run a second time once its lock would have lapsed
    # and the stalled-job check run.
    with pytest.raises(TimeoutError):
        await client.next_event(timeout=2.5)
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not problems, problems
    assert gateway.app[CONSUMERS].fetched_with_completion["critical-events"] > 0
    await client.close()


ROUNDS = 12
BEFORE_CLOSE = 40


class CountingProcessor:
    """A processor that does nothing but count, so slots spend their time completing
    jobs (and fetching the next); `enough` is set after `count` jobs."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.enough = asyncio.Event()

    def for_queue(self, queue: QueueSettings) -> Any:
        return self

    async def __call__(self, job: Job, token: str) -> None:
        self.count -= 1
        if self.count <= 0:
            self.enough.set()


async def test_closing_under_a_stream_leaves_no_job_active(
    redis_url: str, producer: Producer
) -> None:
    """`close()` arrives while completions that fetch the next job are in flight: a job
    such a call fetched and locked must still be run and completed. Left behind, it
    sits active until its lock lapses and comes back as stalled, late and with its one
    allowed stall used up. Closed many times under a steady stream, no job may stay
    active once the worker has closed (nothing else holds a lock on this queue)."""
    queue = producer.queue("critical-events")
    settings = ConsumerSettings(queues=(QueueSettings("critical-events", 8),))
    client_factory = partial(redis_client, RedisSettings(url=redis_url), decode_responses=True)
    added = 0

    async def stream() -> None:
        nonlocal added
        while True:
            batch = [
                {"name": "resources:created", "data": notification(["user:1"], f"c-{n}")}
                for n in range(added, added + 20)
            ]
            await queue.addBulk(batch)
            added += len(batch)
            await asyncio.sleep(0.002)  # the stream's pace, not a wait for an outcome

    abandoned: list[tuple[int, int]] = []
    left_active = 0
    for round_ in range(ROUNDS):
        processor = CountingProcessor(BEFORE_CLOSE)
        consumers = QueueConsumers(settings, client_factory, processor.for_queue)
        feeding = asyncio.create_task(stream())
        try:
            await consumers.start()
            await asyncio.wait_for(processor.enough.wait(), 20)
            assert await consumers.stop(grace_seconds=10)
        finally:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding
        active = (await queue.getJobCounts("active"))["active"]
        if active > left_active:
            abandoned.append((round_, active - left_active))
        left_active = active
    assert not abandoned, f"(round, jobs it left active after close): {abandoned}"
    counts = await queue.getJobCounts("completed", "waiting", "active", "failed")
    assert counts["failed"] == 0, counts
