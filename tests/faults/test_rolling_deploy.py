"""A rolling deploy: one of two pods gets SIGTERM while jobs stream in and clients are
connected to both through a load balancer. No job is lost or left active, the pod exits
0, and its clients reconnect to the surviving pod on their own."""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.balancer import Balancer
from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env
from tests.support.jobs import Producer, notification
from tests.support.node import NodeListener
from tests.support.tokens import mint

pytestmark = pytest.mark.slow

StartProcess = Callable[[dict[str, str]], GatewayProcess]
JOBS = 300
CLIENTS = 10


@pytest.fixture
async def balancer() -> AsyncIterator[Balancer]:
    balancer = Balancer([])
    await balancer.start()
    yield balancer
    await balancer.close()


async def test_sigterm_during_a_stream_loses_no_job_and_clients_move_over(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer
) -> None:
    env = base_env(redis_url, GATEWAY_DISCONNECT_SPREAD_SECONDS="1", GATEWAY_DRAIN_SECONDS="10")
    leaving = gateway_processes(env)
    staying = gateway_processes(env)
    await leaving.started()
    await staying.started()
    balancer.backends = [leaving.port, staying.port]
    clients = [
        await RecordingClient(
            balancer.url, "/data_owner", mint("6", None), reconnection=True
        ).connect()
        for _ in range(CLIENTS)
    ]
    assert balancer.connections[leaving.port] == CLIENTS // 2
    # A browser's view: socket.io-client from npm, on the leaving pod (the next in turn).
    browser = await NodeListener(
        balancer.url + "/data_owner", mint("6", None), reconnect=True
    ).start()
    assert (await browser.next_line())["type"] == "connect"
    assert balancer.connections[leaving.port] == CLIENTS // 2 + 1

    acknowledged: list[str] = []

    async def stream() -> None:
        for n in range(JOBS):
            await producer.add("resources:created", notification(["user:6"], f"d-{n}"))
            acknowledged.append(f"d-{n}")
            await asyncio.sleep(0.01)  # the stream's pace, ~100 jobs/s

    streaming = asyncio.create_task(stream())
    async with asyncio.timeout(20):
        while len(acknowledged) < JOBS // 3:
            await asyncio.sleep(0.01)
    # What Kubernetes does: take the pod out of the Service, then send SIGTERM.
    balancer.remove(leaving.port)
    leaving.signal_term()
    terminated_at = time.monotonic()
    assert await leaving.exit_code(timeout=15) == 0
    exited_after = time.monotonic() - terminated_at
    await asyncio.wait_for(streaming, 30)

    queue = producer.queue("critical-events")
    async with asyncio.timeout(20):
        while (await queue.getJobCounts("completed"))["completed"] < JOBS:
            await asyncio.sleep(0.05)
    assert await queue.getJobCountByTypes("active", "wait", "failed", "delayed") == 0

    # Every client is connected again (half of them to the surviving pod, anew) and
    # receives what is emitted now.
    final = await producer.add("resources:created", notification(["user:6"], "after"))
    await producer.finished("critical-events", str(final.id))
    for client in clients:
        await until_event(client, "after")
    reconnected = sum(1 for client in clients if client.connects == 2)
    assert reconnected == CLIENTS // 2
    browser_story = await story_until_event(browser, "after")
    assert [line["type"] for line in browser_story] == ["disconnect", "connect", "event"]
    assert browser_story[0]["reason"] == "transport close"
    assert balancer.connections[staying.port] == CLIENTS + 1
    await browser.close()
    print(f"pod exited 0 {exited_after:.2f} s after SIGTERM; {reconnected} clients "
          f"reconnected to the surviving pod; {JOBS} jobs completed, none active")
    for client in clients:
        await client.close()


async def until_event(client: RecordingClient, resource_id: str) -> None:
    async with asyncio.timeout(10):
        while (await client.next_event(timeout=10))[1]["id"] != resource_id:
            pass


async def story_until_event(browser: NodeListener, resource_id: str) -> list[dict[str, Any]]:
    """The browser's connects and disconnects, and the event about `resource_id`."""
    story: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while True:
            line = await browser.next_line()
            if line["type"] != "event":
                story.append(line)
            elif line["args"][0]["id"] == resource_id:
                story.append(line)
                return story
