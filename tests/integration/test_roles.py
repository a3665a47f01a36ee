"""GATEWAY_ROLE, with real pods as subprocesses on one Redis: `edge` pods hold the client
connections and consume nothing, `consumer` pods consume and publish through the adapter
and hold no connections; a notification consumed by a consumer pod reaches clients on
every edge pod, throttled, recoverable and at least once as with one kind of pod."""

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import socketio

from tests.support.balancer import Balancer
from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env, get_text
from tests.support.jobs import Producer, notification
from tests.support.recovery import JobStream, NodeClients, assert_each_once_in_order
from tests.support.tokens import mint

pytestmark = pytest.mark.slow

StartProcess = Callable[[dict[str, str]], GatewayProcess]
NS = "/data_owner"
CLIENTS = 6


def metric(text: str, name: str, *labels: str) -> float:
    """The sum of the samples of `name` whose labels contain all of `labels`."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and all(label in line for label in labels)
    )


async def metrics(pod: GatewayProcess) -> str:
    status, text = await get_text(f"{pod.url}/metrics")
    assert status == 200
    return text


@pytest.fixture
async def balancer() -> AsyncIterator[Balancer]:
    balancer = Balancer([])
    await balancer.start()
    yield balancer
    await balancer.close()


async def test_an_edge_pod_consumes_nothing_and_delivers_what_a_consumer_pod_does(
    redis_url: str, producer: Producer, gateway_processes: StartProcess
) -> None:
    edge = await gateway_processes(base_env(redis_url, GATEWAY_ROLE="edge")).started()
    client = await RecordingClient(edge.url, NS, mint("42", "A")).connect()
    try:
        job = await producer.add("records:created", notification(["department:A"], "r-1"))
        # The edge pod is ready and holds a client; the job stays where it is (watched
        # for a while: long enough for any worker on it to have taken the job).
        loop = asyncio.get_running_loop()
        until = loop.time() + 1.5
        while loop.time() < until:
            assert await producer.queue("critical-events").getJobState(job.id) == "waiting"
            await asyncio.sleep(0.1)
        consumer = gateway_processes(base_env(
            redis_url, GATEWAY_ROLE="consumer", THROTTLE_RULES="records:updated=1"
        ))
        await consumer.started()
        event, payload = await client.next_event(timeout=10)
        assert (event, payload["id"]) == ("records:created", "r-1")
        assert (await producer.finished("critical-events", job.id)).returnvalue == {
            "emitted": True
        }
        # Throttled on the consumer pod: the first update at once, the last one when the
        # window ends (a trailing job the consumer pod runs), the middle one never.
        for status in ("one", "two", "three"):  # one after the other (concurrency 8)
            update = await producer.add(
                "records:updated", notification(["department:A"], "r-2", data={"s": status})
            )
            await producer.finished("critical-events", update.id)
        received = await client.events_until_quiet(2, timeout=10, quiet=1.5)
        assert [(e, p["data"]["s"]) for e, p in received] == [
            ("records:updated", "one"), ("records:updated", "three")
        ]
        edge_metrics, consumer_metrics = await metrics(edge), await metrics(consumer)
        assert metric(edge_metrics, "gateway_notifications_total") == 0
        assert metric(edge_metrics, "gateway_queue_jobs") == 0  # consumes nothing
        assert metric(consumer_metrics, "gateway_notifications_total", 'outcome="emitted"') == 2
        assert metric(consumer_metrics, "gateway_notifications_total", 'outcome="trailing"') == 1
        assert metric(consumer_metrics, "gateway_queue_jobs", 'queue="general-events"') == 0
        assert 'gateway_queue_jobs{queue="critical-events",state="wait"}' in consumer_metrics
        assert "consuming" not in edge.log()
    finally:
        await client.close()


async def test_a_consumer_pod_holds_no_client_connections(
    redis_url: str, gateway_processes: StartProcess
) -> None:
    consumer = await gateway_processes(base_env(redis_url, GATEWAY_ROLE="consumer")).started()
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(consumer.url, namespaces=[NS], auth={"token": mint("1", "A")},
                          transports=["websocket"], wait_timeout=5)
    await sio.disconnect()
    async with aiohttp.ClientSession() as session, session.get(
        f"{consumer.url}/socket.io/", params={"EIO": "4", "transport": "polling"}
    ) as response:
        assert response.status == 404
        assert await response.json() == {
            "message": "this pod holds no client connections (GATEWAY_ROLE=consumer)"
        }
    text = await metrics(consumer)
    assert metric(text, "gateway_connections_refused_total", 'reason="role"') == 2
    assert metric(text, "gateway_connected_clients") == 0


async def test_clients_on_two_edge_pods_get_everything_a_consumer_pod_sends_and_recover(
    redis_url: str, producer: Producer, gateway_processes: StartProcess, balancer: Balancer
) -> None:
    """The recovery scenario of tests/recovery with the work split: a consumer pod
    consumes the stream, two edge pods behind a balancer hold the clients, half of which
    lose their transport mid-stream and reconnect (round-robin: to either edge)."""
    consumer = gateway_processes(base_env(redis_url, GATEWAY_ROLE="consumer"))
    edges = [gateway_processes(base_env(redis_url, GATEWAY_ROLE="edge")) for _ in range(2)]
    await asyncio.gather(consumer.started(), *(edge.started() for edge in edges))
    balancer.backends.extend(edge.port for edge in edges)
    tokens = [mint(f"u{n}", "A") for n in range(CLIENTS)]
    clients = await NodeClients(f"{balancer.url}{NS}", tokens).start()
    try:
        for edge in edges:  # every edge pod holds some of them
            assert metric(await metrics(edge), "gateway_connected_clients") > 0
        stream = JobStream(producer, ["department:A"]).start()
        await clients.until(lambda: all(len(c.events) >= 5 for c in clients.clients), "events")
        half = list(range(0, CLIENTS, 2))
        await clients.command(blip=half)
        await clients.until(
            lambda: all(len(clients.clients[i].connects) >= 2 for i in half), "reconnects"
        )
        await asyncio.sleep(0.3)  # the scenario: the stream goes on after the blip
        await stream.stop()
        acknowledged = await stream.acknowledged()
        await clients.until(
            lambda: all(set(acknowledged) <= set(c.ids) for c in clients.clients),
            "every acknowledged notification at every client",
        )
        await asyncio.sleep(0.3)  # a duplicate right behind the last one would show now
        assert_each_once_in_order(clients, acknowledged)
        for index in half:
            assert all(c["recovered"] for c in clients.clients[index].connects[1:])
        consumed = metric(await metrics(consumer), "gateway_notifications_total")
        assert consumed == len(stream.added)
    finally:
        await clients.close()
