"""A job whose notification could not be logged and published is not completed: it fails,
nobody received it (every pod, this one too, delivers from the channel), BullMQ retries
it, and the retry reaches the client once, with the job's own trace_id (contract §2)."""

import asyncio

from bullmq import Job

from jobformat import NotificationDecoder
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
        queue = producer.queue("critical-events")
        async with asyncio.timeout(5):
            while True:
                current = await Job.fromId(queue, job.id)
                if current is not None and current.failedReason:
                    break
                await asyncio.sleep(0.02)
        assert "cannot publish" in current.failedReason
        assert await queue.getJobState(job.id) in ("delayed", "wait", "active")
        client.assert_nothing_received()
        admin.execute_command("ACL", "SETUSER", "gw", "+publish")

        finished = await producer.finished("critical-events", job.id)
        assert finished.returnvalue == {"emitted": True}
        assert finished.attemptsMade == 2
        [(_, delivered)] = await client.events_until_quiet(1)
        decoder = NotificationDecoder(["/data_owner"], 16384, "bull")
        assert delivered["metadata"]["trace_id"] == decoder.trace_id(
            "critical-events", str(job.id), int(job.timestamp)
        )
        await client.close()
    finally:
        admin.execute_command("ACL", "DELUSER", "gw")
        admin.close()
