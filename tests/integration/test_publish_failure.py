"""A job whose emit could not be published to the other pods is not completed: it fails,
BullMQ retries it, and the retry carries the same trace_id (CONTRACT §2)."""

import asyncio

from bullmq import Job

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint


async def test_failed_publish_fails_the_job_and_the_retry_delivers(
    start_gateway: StartGateway, producer: Producer, redis_proc: RedisProcess
) -> None:
    admin = redis_proc.client()
    # A real Redis refusing PUBLISH to the gateway's user: the adapter's publish fails
    # while everything else (queues, subscription) works.
    admin.execute_command("ACL", "SETUSER", "gw", "on", ">pw", "~*", "&*", "+@all", "-publish")
    try:
        gateway = await start_gateway(
            redis=f"redis://gw:pw@127.0.0.1:{redis_proc.port}/0"
        )
        client = await RecordingClient(gateway.url, "/data_owner", mint("7", None)).connect()
        job = await producer.add(
            "records:updated",
            notification(["user:7"], "r-1"),
            attempts=3,
            backoff={"type": "fixed", "delay": 300},
        )
        _, first = await client.next_event()  # local sockets got it before the publish
        queue = producer.queue("critical-events")
        async with asyncio.timeout(5):
            while True:
                current = await Job.fromId(queue, job.id)
                if current is not None and current.failedReason:
                    break
                await asyncio.sleep(0.02)
        assert "cannot publish" in current.failedReason
        assert await queue.getJobState(job.id) in ("delayed", "wait", "active")
        admin.execute_command("ACL", "SETUSER", "gw", "+publish")

        finished = await producer.finished("critical-events", job.id)
        assert finished.returnvalue == {"emitted": True}
        assert finished.attemptsMade == 2
        _, second = await client.next_event()
        assert second["metadata"]["trace_id"] == first["metadata"]["trace_id"]
        await client.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "gw")
        admin.close()
