"""A pod SIGKILLed while it holds jobs: another pod takes them over (BullMQ stalled-job
recovery) and every job reaches its client at least once."""

import asyncio
import os
import signal
import time
from collections.abc import Callable

import pytest

from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint

pytestmark = pytest.mark.slow

StartProcess = Callable[[dict[str, str]], GatewayProcess]
JOBS = 300


async def test_jobs_held_by_a_killed_pod_are_taken_over_and_delivered(
    redis_url: str, producer: Producer, gateway_processes: StartProcess
) -> None:
    # Pod "host" only holds the client (it consumes another queue); pod "victim"
    # consumes critical-events and is frozen (SIGSTOP) with jobs active, then killed.
    host = gateway_processes(base_env(redis_url, GATEWAY_QUEUES="general-events=1"))
    victim = gateway_processes(base_env(redis_url, GATEWAY_QUEUES="critical-events=8"))
    await host.started()
    await victim.started()
    client = await RecordingClient(host.url, "/data_owner", mint("4", None)).connect()
    queue = producer.queue("critical-events")
    assert victim.process is not None

    added = 0
    active = 0
    async with asyncio.timeout(30):
        while not active:
            for _ in range(JOBS // 3):
                await producer.add("resources:created", notification(["user:4"], f"c-{added}"))
                added += 1
            os.kill(victim.process.pid, signal.SIGSTOP)
            active = await queue.getJobCountByTypes("active")
            if not active:  # it was faster than us: let it go on and try again
                os.kill(victim.process.pid, signal.SIGCONT)
    victim.kill()  # SIGKILL: its locks are never released
    killed_at = time.monotonic()

    # The survivor: its stalled-job check finds the dead pod's jobs once their locks
    # lapse (QUEUE_LOCK_DURATION_MS 4000 here) and puts them back to wait.
    survivor = gateway_processes(base_env(redis_url, GATEWAY_QUEUES="critical-events=8"))
    await survivor.started()
    wanted = {f"c-{n}" for n in range(added)}
    seen: set[str] = set()
    async with asyncio.timeout(30):
        while not wanted <= seen:
            _, payload = await client.next_event(timeout=30)
            seen.add(payload["id"])
    delivered_after = time.monotonic() - killed_at
    # ...and the jobs it held are finished by the survivor, none left active.
    async with asyncio.timeout(30):
        while (await queue.getJobCounts("completed"))["completed"] < added:
            await asyncio.sleep(0.05)
    taken_over_after = time.monotonic() - killed_at
    assert await queue.getJobCountByTypes("active", "wait", "failed") == 0
    print(f"{active} jobs active in the killed pod; all {added} delivered "
          f"{delivered_after:.2f} s and all completed {taken_over_after:.2f} s after the kill")
    await client.close()
