"""Redis Cluster readiness of the key layout: with a hash-tagged `QUEUE_PREFIX` every key
the gateway and BullMQ write (queues, jobs, throttle state, trailing jobs) hashes to one
slot, so every multi-key Lua script stays on one node (docs/reliability.md, Cluster)."""

from redis.crc import key_slot

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint

PREFIX = "{app-main}"


async def test_every_key_of_a_hash_tagged_prefix_is_in_one_slot(
    redis_url: str, redis_proc: RedisProcess, start_gateway: StartGateway
) -> None:
    # Concurrency 1: the two updates of "b" are decided in order (leading, then held).
    gateway = await start_gateway(
        QUEUE_PREFIX=PREFIX,
        THROTTLE_RULES="records:updated=1",
        GATEWAY_QUEUES="critical-events=1,general-events=1",
    )
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    producer = Producer(redis_url, prefix=PREFIX)
    try:
        jobs = [
            await producer.add("resources:created", notification(["user:1"], "a")),
            await producer.add("records:updated", notification(["user:1"], "b")),
            await producer.add("records:updated", notification(["user:1"], "b")),
            await producer.add("records:updated", {"namespace": 1}),
        ]
        for job in jobs:
            await producer.finished("critical-events", str(job.id))
        # leading, created, trailing: the trailing emit ran through its delayed job.
        await client.events_until_quiet(3, timeout=10)
    finally:
        await producer.close()
        await client.close()
    admin = redis_proc.client()
    keys = list(admin.scan_iter(count=1000))
    admin.close()
    assert any(":throttle:" in key for key in keys), keys
    assert any(key.endswith(":critical-events:failed") for key in keys), keys
    slots = {key: key_slot(key.encode()) for key in keys}
    assert set(slots.values()) == {key_slot(PREFIX.encode())}, slots
