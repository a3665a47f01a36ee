"""Finished jobs made the real way: our producer adds them, a real pod completes them."""

import asyncio

import redis.asyncio as aioredis

from archiver import keys
from producer import NotificationProducer
from tests.conftest import StartGateway

# Finished jobs stay in Redis until the archiver takes them (BullMQ would trim them).
KEEP = {"removeOnComplete": False, "removeOnFail": False}


async def finished_jobs(
    start_gateway: StartGateway, redis_url: str, count: int, queue: str = "critical-events"
) -> set[str]:
    """`count` jobs completed by a pod on `queue`; their ids."""
    await start_gateway()
    async with NotificationProducer(
        redis_url, namespaces=["/data_owner"], job_options=KEEP
    ) as producer:
        ids = {
            (await producer.notify(
                "records:created", namespace="/data_owner", rooms=["user:1"], id=f"r-{n}",
                queue=queue, job_id=f"records:r-{n}:1",
            )).job_id
            for n in range(count)
        }
    async with asyncio.timeout(20):
        while await finished_count(redis_url, queue) < count:
            await asyncio.sleep(0.05)
    return ids


async def finished_count(redis_url: str, queue: str = "critical-events") -> int:
    client = aioredis.Redis.from_url(redis_url)
    try:
        return int(await client.zcard(keys.finished_set("bull", queue, "completed")))
    finally:
        await client.aclose()
