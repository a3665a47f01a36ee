"""A pod started while Redis is unreachable serves, reports why it is not ready, and
becomes ready (and delivers) once Redis answers; a refusal to run on an evicting Redis
still stops it with exit status 2, once that Redis answers."""

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env
from tests.support.jobs import Producer, notification
from tests.support.ports import free_port
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint


async def wait_serving(pod: GatewayProcess, timeout: float = 20.0) -> None:
    """Until /healthz answers 200 (the process serves), whatever /readyz says."""
    async with aiohttp.ClientSession() as session, asyncio.timeout(timeout):
        while True:
            assert pod.process is not None
            if pod.process.poll() is not None:
                raise AssertionError(f"gateway exited {pod.process.returncode}:\n{pod.log()}")
            try:
                async with session.get(f"{pod.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def readiness(pod: GatewayProcess) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as session, session.get(f"{pod.url}/readyz") as response:
        return response.status, await response.json()


async def test_a_pod_started_before_redis_waits_for_it_and_then_delivers(
    tmp_path: Path, gateway_processes: Callable[[dict[str, str]], GatewayProcess]
) -> None:
    port = free_port()  # nothing listens here yet
    pod = gateway_processes(base_env(f"redis://127.0.0.1:{port}/0"))
    await wait_serving(pod)
    status, body = await readiness(pod)
    assert status == 503
    problems = body["problems"]
    assert isinstance(problems, list)
    assert any("redis" in problem and str(port) in problem for problem in problems), problems

    redis = RedisProcess(tmp_path / "redis", port=port).start()
    producer = Producer(redis.url)
    try:
        await pod.started(timeout=30)
        client = await RecordingClient(pod.url, "/data_owner", mint("7", None)).connect()
        try:
            await producer.add("resources:created", notification(["user:7"], "after-start"))
            event, payload = await client.next_event(timeout=15)
            assert (event, payload["id"]) == ("resources:created", "after-start")
        finally:
            await client.close()
        assert pod.process is not None and pod.process.poll() is None
        assert "Traceback" not in pod.log()
    finally:
        await producer.close()
        redis.stop()


async def test_strict_eviction_check_refuses_once_a_late_redis_answers(
    tmp_path: Path, gateway_processes: Callable[[dict[str, str]], GatewayProcess]
) -> None:
    port = free_port()
    pod = gateway_processes(
        base_env(f"redis://127.0.0.1:{port}/0", REDIS_REQUIRE_NOEVICTION="true")
    )
    await wait_serving(pod)
    redis = RedisProcess(
        tmp_path / "redis", "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
        port=port,
    ).start()
    try:
        assert await pod.exit_code(timeout=30) == 2
    finally:
        redis.stop()
    last = pod.log().strip().splitlines()[-1]
    assert "REDIS_REQUIRE_NOEVICTION" in last and "allkeys-lru" in last, pod.log()
    assert "Traceback" not in pod.log()



async def test_consumers_that_cannot_start_are_tried_again_and_the_pod_stays_up(
    tmp_path: Path, gateway_processes: Callable[[dict[str, str]], GatewayProcess]
) -> None:
    """Redis answers the start-up check but refuses what the workers need first (their
    version read: `INFO`, denied to the pod's user here, as a Redis going away again
    right after the check would fail it): the pod keeps serving, says its consumers are
    not running, and starts them once Redis lets it, instead of exiting."""
    redis = RedisProcess(tmp_path / "redis").start()
    admin = redis.client()
    admin.execute_command(
        "ACL", "SETUSER", "gw", "on", ">gw-password", "~*", "&*", "+@all", "-info"
    )
    producer = Producer(redis.url)
    url = redis.url.replace("redis://", "redis://gw@")
    pod = gateway_processes(base_env(url, REDIS_PASSWORD="gw-password"))
    try:
        await wait_serving(pod)
        async with asyncio.timeout(20):
            while "could not start" not in pod.log():
                await asyncio.sleep(0.05)  # until the first attempt failed
        status, body = await readiness(pod)
        assert status == 503
        assert "queue consumers not running" in str(body["problems"]), body
        admin.execute_command("ACL", "SETUSER", "gw", "+info")
        await pod.started(timeout=30)
        client = await RecordingClient(pod.url, "/data_owner", mint("7", None)).connect()
        try:
            await producer.add("resources:created", notification(["user:7"], "once-started"))
            event, payload = await client.next_event(timeout=15)
            assert (event, payload["id"]) == ("resources:created", "once-started")
        finally:
            await client.close()
        assert pod.process is not None and pod.process.poll() is None
        assert "Traceback" not in pod.log()
    finally:
        admin.close()
        await producer.close()
        redis.stop()
