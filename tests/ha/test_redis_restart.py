"""Redis goes away and comes back: the pods recover on their own and lose nothing.

Redis runs with AOF (`appendfsync always`, so the restart keeps every acknowledged job)
on a fixed port and directory, and is restarted in place.
"""

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env, wait_ready
from tests.support.jobs import Producer, notification
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint

AOF = ("--appendonly", "yes", "--appendfsync", "always")
JOBS = 100


async def test_queued_jobs_survive_a_restart_and_the_adapter_resubscribes(
    tmp_path: Path, gateway_processes: Callable[[dict[str, str]], GatewayProcess]
) -> None:
    redis = RedisProcess(tmp_path / "redis", *AOF).start()
    producer = Producer(redis.url)
    try:
        # Pod A consumes the queue; pod B consumes another one, so every emit a client on
        # B receives crossed the Redis adapter from A.
        pod_a = gateway_processes(base_env(redis.url, GATEWAY_QUEUES="critical-events=8"))
        pod_b = gateway_processes(base_env(redis.url, GATEWAY_QUEUES="general-events=2"))
        await pod_a.started()
        await pod_b.started()
        client = await RecordingClient(pod_b.url, "/data_owner", mint("9", None)).connect()
        queue = producer.queue("critical-events")
        await queue.pause()
        for n in range(JOBS):
            await producer.add("resources:created", notification(["user:9"], f"r-{n}"))

        redis.stop()
        await wait_ready(pod_a.url, expect=503)
        await wait_ready(pod_b.url, expect=503)
        redis.start()
        down_at = time.monotonic()
        await wait_ready(pod_a.url, timeout=30)
        await wait_ready(pod_b.url, timeout=30)
        await queue.resume()
        received = await client.events_until_quiet(JOBS, timeout=30)
        print(f"{JOBS} queued jobs delivered {time.monotonic() - down_at:.2f} s after Redis "
              "came back")
        assert sorted(payload["id"] for _, payload in received) == sorted(
            f"r-{n}" for n in range(JOBS)
        )
        assert pod_a.process is not None and pod_a.process.poll() is None
        assert pod_b.process is not None and pod_b.process.poll() is None
        await client.close()
    finally:
        await producer.close()
        redis.stop()


async def test_jobs_streamed_through_a_restart_are_all_delivered(
    tmp_path: Path, gateway_processes: Callable[[dict[str, str]], GatewayProcess]
) -> None:
    """Jobs keep coming while Redis restarts: every job the producer got acknowledged
    arrives (at least once); the producer retries the adds Redis refused."""
    redis = RedisProcess(tmp_path / "redis", *AOF).start()
    producer = Producer(redis.url)
    try:
        pod = gateway_processes(base_env(redis.url))
        await pod.started()
        client = await RecordingClient(pod.url, "/data_owner", mint("5", None)).connect()
        acknowledged: set[str] = set()

        async def stream() -> None:
            for n in range(150):
                while True:
                    try:
                        await producer.add("resources:created", notification(["user:5"], f"s-{n}"))
                        acknowledged.add(f"s-{n}")
                        break
                    except Exception:
                        await asyncio.sleep(0.1)  # Redis is down: back off and retry the add
                await asyncio.sleep(0.02)  # the stream's pace, ~50 jobs/s

        streaming = asyncio.create_task(stream())
        async with asyncio.timeout(10):
            while len(acknowledged) < 50:
                await asyncio.sleep(0.01)
        redis.stop()
        await wait_ready(pod.url, expect=503)
        redis.start()
        await asyncio.wait_for(streaming, 60)
        await wait_ready(pod.url, timeout=30)

        seen: set[str] = set()
        async with asyncio.timeout(30):
            while not acknowledged <= seen:
                _, payload = await client.next_event(timeout=30)
                seen.add(payload["id"])
        assert pod.process is not None and pod.process.poll() is None
        await client.close()
    finally:
        await producer.close()
        redis.stop()
