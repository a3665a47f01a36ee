"""`python -m gateway` as real processes: several pods on one Redis, start-up failures,
and SIGTERM (CONTRACT §1, §6, §7)."""

import asyncio
from collections import Counter
from collections.abc import Callable

import pytest

from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env, get_text, run_module
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint

pytestmark = pytest.mark.slow

StartProcess = Callable[[dict[str, str]], GatewayProcess]


async def test_client_on_pod_a_receives_job_consumed_by_pod_b(
    redis_url: str, producer: Producer, gateway_processes: StartProcess
) -> None:
    pod_a = gateway_processes(base_env(redis_url, GATEWAY_QUEUES="only-on-a=1"))
    pod_b = gateway_processes(base_env(redis_url, GATEWAY_QUEUES="critical-events=4"))
    await asyncio.gather(pod_a.started(), pod_b.started())
    client = await RecordingClient(pod_a.url, "/data_owner", mint("42", "A")).connect()
    try:
        job = await producer.add("records:updated", notification(["department:A"], "r-9"))
        event, payload = await client.next_event()
        assert (event, payload["id"]) == ("records:updated", "r-9")
        finished = await producer.finished("critical-events", job.id)
        assert finished.returnvalue == {"emitted": True}
        assert "critical-events" in pod_b.log() and "only-on-a" in pod_a.log()
    finally:
        await client.close()


async def test_each_job_is_delivered_once_per_client_across_pods(
    redis_url: str, producer: Producer, gateway_processes: StartProcess
) -> None:
    pods = [gateway_processes(base_env(redis_url)) for _ in range(2)]
    await asyncio.gather(*(pod.started() for pod in pods))
    clients = [
        await RecordingClient(pod.url, "/data_owner", mint(f"u{i}", "A")).connect()
        for i, pod in enumerate(pods)
    ]
    try:
        total = 60
        for number in range(total):
            await producer.add("records:updated", notification(["department:A"], f"r-{number}"))
        for client in clients:
            received = await client.events_until_quiet(total, timeout=20)
            counts = Counter(payload["id"] for _, payload in received)
            assert len(counts) == total and set(counts.values()) == {1}
        # Both pods consumed a share of the jobs (the work is spread, not duplicated).
        _, metrics_a = await get_text(f"{pods[0].url}/metrics")
        _, metrics_b = await get_text(f"{pods[1].url}/metrics")
        emitted = [_emitted(metrics_a), _emitted(metrics_b)]
        assert sum(emitted) == total
    finally:
        await asyncio.gather(*(client.close() for client in clients))


def _emitted(metrics: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("gateway_notifications_total") and 'outcome="emitted"' in line
    )


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"JWT_SECRET": ""}, "JWT_SECRET"),
        ({"GATEWAY_QUEUES": "critical-events"}, "GATEWAY_QUEUES"),
        ({"GATEWAY_QUEUES": "critical-events=zero"}, "GATEWAY_QUEUES"),
        ({"GATEWAY_NAMESPACES": "data_owner"}, "GATEWAY_NAMESPACES"),
        ({"GATEWAY_PORT": "http"}, "GATEWAY_PORT"),
        ({"JWT_ALGORITHMS": "none"}, "JWT_ALGORITHMS"),
        ({"JWT_ALGORITHMS": "RS256"}, "JWT_PUBLIC_KEY"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"THROTTLE_RULES": "records:updated=soon"}, "THROTTLE_RULES"),
        ({"MAX_PAYLOAD_BYTES": "-1"}, "MAX_PAYLOAD_BYTES"),
        ({"REDIS_SENTINELS": "host-without-port"}, "REDIS_SENTINELS"),
    ],
)
def test_bad_setting_stops_start_up_with_one_line(
    redis_url: str, overrides: dict[str, str], variable: str
) -> None:
    result = run_module(base_env(redis_url, **overrides))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr


async def test_sigterm_turns_readyz_503_and_exits_0(
    redis_url: str, gateway_processes: StartProcess
) -> None:
    pod = gateway_processes(base_env(redis_url, GATEWAY_SHUTDOWN_DELAY="2"))
    await pod.started()
    client = await RecordingClient(pod.url, "/data_owner", mint()).connect()
    pod.signal_term()
    async with asyncio.timeout(5):
        while (await get_text(f"{pod.url}/readyz"))[0] != 503:
            await asyncio.sleep(0.05)
    status, _ = await get_text(f"{pod.url}/healthz")
    assert status == 200, "the process still serves while draining"
    await asyncio.wait_for(client.disconnected.wait(), 10)
    assert await pod.exit_code() == 0
