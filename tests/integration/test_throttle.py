"""CONTRACT §3 end to end: leading edge at once, the newest held update on the trailing
edge, across pods, surviving the death of the pod that held it."""

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env, get_text
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint

StartProcess = Callable[[dict[str, str]], GatewayProcess]


def update(resource: str, seq: int) -> dict[str, Any]:
    return notification(["department:A"], resource, data={"seq": seq})


async def test_burst_gives_leading_and_newest_trailing_only(
    start_gateway: StartGateway, producer: Producer
) -> None:
    # One job at a time, so "first" is the first added. With more concurrency a burst
    # added within milliseconds is processed in any order; the throttle then emits
    # whichever it decides first and drops anything older than what it has seen.
    gateway = await start_gateway(
        THROTTLE_RULES="records:updated=2", GATEWAY_QUEUES="critical-events=1"
    )
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    try:
        started = time.monotonic()
        jobs = []
        for seq in range(1, 6):
            jobs.append(await producer.add("records:updated", update("res-1", seq)))
        assert time.monotonic() - started < 0.5

        _, first = await client.next_event(timeout=2)
        assert first["data"] == {"seq": 1}
        _, trailing = await client.next_event(timeout=4)
        assert trailing["data"] == {"seq": 5}
        assert time.monotonic() - started <= 2 + 1

        results = [(await producer.finished("critical-events", job.id)).returnvalue
                   for job in jobs]
        assert results == [{"emitted": True}] + [{"throttled": True}] * 4
        # Nothing else is on its way: an unthrottled marker sent now arrives next.
        await producer.add("marker", update("res-1", 99))
        event, _ = await client.next_event()
        assert event == "marker"
        client.assert_nothing_received()

        _, metrics = await get_text(f"{gateway.url}/metrics")
        assert ('gateway_notifications_total{event="records:updated",outcome="trailing",'
                'queue="critical-events"} 1.0') in metrics
        assert ('gateway_notifications_total{event="records:updated",outcome="throttled",'
                'queue="critical-events"} 4.0') in metrics
        assert ('gateway_throttle_coalesced_total{event="records:updated",'
                'queue="critical-events"} 3.0') in metrics
    finally:
        await client.close()


async def test_other_ids_and_unthrottled_events_pass(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway(THROTTLE_RULES="records:updated=30")
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    try:
        for resource in ("a", "b", "c"):
            await producer.add("records:updated", update(resource, 1))
        for seq in range(3):
            await producer.add("resources:created", update("a", seq))
        received = await client.events_until_quiet(6, timeout=5)
        assert sorted(payload["id"] for event, payload in received
                      if event == "records:updated") == ["a", "b", "c"]
        assert sorted(payload["data"]["seq"] for event, payload in received
                      if event == "resources:created") == [0, 1, 2]
    finally:
        await client.close()


@pytest.mark.slow
async def test_two_pods_burst_at_most_one_emit_per_window_and_last_state_last(
    redis_url: str, producer: Producer, gateway_processes: StartProcess
) -> None:
    window = 1.0
    env = base_env(redis_url, THROTTLE_RULES=f"records:updated={window:g}",
                   GATEWAY_QUEUES="critical-events=8")
    pods = [gateway_processes(env), gateway_processes(env)]
    await asyncio.gather(*(pod.started() for pod in pods))
    client = await RecordingClient(pods[0].url, "/data_owner", mint("42", "A")).connect()
    ids = [f"res-{n}" for n in range(10)]
    last_sent: dict[str, int] = {}
    try:
        for seq in range(200):  # about 1.5 windows of updates, interleaved across ids
            resource = ids[seq % len(ids)]
            last_sent[resource] = seq
            await producer.add("records:updated", update(resource, seq))
            if seq % 20 == 19:
                await asyncio.sleep(0.075)  # pacing the producer, not synchronising
        latest: dict[str, int] = {}
        async with asyncio.timeout(15):
            while any(latest.get(r) != last_sent[r] for r in ids):
                _, payload = await client.events.get()
                latest[payload["id"]] = payload["data"]["seq"]
        arrivals: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for at, _, payload in client.arrivals:
            arrivals[payload["id"]].append((at, payload["data"]["seq"]))
        for resource in ids:
            times = [at for at, _ in arrivals[resource]]
            gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
            assert all(gap >= window * 0.8 for gap in gaps), (resource, gaps, arrivals[resource])
            seqs = [seq for _, seq in arrivals[resource]]
            assert seqs == sorted(seqs) and seqs[-1] == last_sent[resource]
            assert 2 <= len(seqs) <= 4, (resource, seqs)
        # Both pods did part of the work.
        for pod in pods:
            _, metrics = await get_text(f"{pod.url}/metrics")
            assert 'outcome="throttled"' in metrics
        await producer.add("marker", update("res-0", 999))
        assert (await client.next_event(timeout=5))[0] == "marker"
    finally:
        await client.close()


@pytest.mark.slow
async def test_trailing_update_survives_sigkill_of_the_pod_that_held_it(
    redis_url: str, producer: Producer, gateway_processes: StartProcess
) -> None:
    env = base_env(redis_url, THROTTLE_RULES="records:updated=3")
    pod_a = await gateway_processes(env).started()
    first = await producer.add("records:updated", update("res-k", 1))
    assert (await producer.finished("critical-events", first.id)).returnvalue == {"emitted": True}
    for seq in (2, 3):
        job = await producer.add("records:updated", update("res-k", seq))
        finished = await producer.finished("critical-events", job.id)
        assert finished.returnvalue == {"throttled": True}

    pod_b = gateway_processes(env)
    pod_a.kill()  # SIGKILL: nothing of pod A's memory survives
    await pod_b.started()
    client = await RecordingClient(pod_b.url, "/data_owner", mint("42", "A")).connect()
    try:
        _, payload = await client.next_event(timeout=15)
        assert payload["data"] == {"seq": 3}
    finally:
        await client.close()
