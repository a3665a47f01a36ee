"""Back-pressure (gateway/transport/backpressure.py): a client that stops reading is dropped, and
neither grows the pod's memory nor delays the other clients.

The stalled client is a hand-driven websocket with a 4 KiB receive buffer that does the
Engine.IO/Socket.IO handshake, reads one real BullMQ notification and then reads
nothing more. The 10,000 events go through the real emit path (`server.emit`: the
adapter's local delivery, then its Redis publish); each carries 2 KiB of padding so
that they add up to more than loopback's kernel buffers can absorb (about 3 MB here),
otherwise the kernel, not the pod, would be holding the backlog.
"""

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import engineio
import pytest
import socketio
from engineio import packet as eio_packet

import gateway.transport.backpressure as backpressure
from gateway.pod.state import SOCKETIO
from gateway.transport.backpressure import BackPressure
from gateway.transport.send_queue import SendQueue
from tests.conftest import StartGateway
from tests.support.gateway import GatewayProcess, InProcessGateway, base_env, get_text
from tests.support.jobs import Producer, notification
from tests.support.stalled_client import StalledClient, wait_until
from tests.support.tokens import mint

NAMESPACE = "/data_owner"
ROOM = "department:A"
EVENTS = 10_000
JOBS = 3_000
PADDING = "x" * 2048


class LatencyClient:
    """A well-behaved python-socketio client. It keeps only the latency of each bulk
    event (so the process' memory measures the pod, not this client) and the other
    events whole."""

    def __init__(self, base_url: str, token: str, bulk_expected: int = 0) -> None:
        self.base_url = base_url
        self.token = token
        self.sio = socketio.AsyncClient(reconnection=False)
        self.latencies: list[float] = []
        self.bulk_expected = bulk_expected
        self.all_bulk = asyncio.Event()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.sio.on("*", self._on_event, namespace=NAMESPACE)

    async def _on_event(self, event: str, payload: Any, *offset: str) -> None:
        if event == "bulk":
            # `sent` is in the payload of a direct emit, in `data` of a BullMQ notification.
            sent = payload["sent"] if "sent" in payload else payload["data"]["sent"]
            self.latencies.append(time.monotonic() - sent)
            if len(self.latencies) >= self.bulk_expected:
                self.all_bulk.set()
        else:
            await self.events.put((event, payload))

    async def connect(self) -> "LatencyClient":
        await self.sio.connect(
            self.base_url,
            namespaces=[NAMESPACE],
            auth={"token": self.token},
            transports=["websocket"],
            wait_timeout=5,
        )
        return self

    async def next_event(self, timeout: float = 10.0) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]

    async def close(self) -> None:
        await self.sio.disconnect()


async def dropped_counts(base_url: str) -> dict[str, float]:
    """gateway_slow_clients_dropped_total by reason, as /metrics shows it."""
    status, text = await get_text(f"{base_url}/metrics")
    assert status == 200
    counts = {}
    for line in text.splitlines():
        if line.startswith("gateway_slow_clients_dropped_total{"):
            labels, value = line.rsplit(" ", 1)
            counts[labels.split('"')[1]] = float(value)
    return counts


def assert_released(queue: SendQueue) -> None:
    """Nothing is pending for a dropped client: at most engineio's `None`, which its
    websocket handler queues on the way out to stop the writer, is left."""
    assert queue.connection.dropped
    assert queue.pending_bytes == 0
    assert queue.qsize() <= 1


def rss_bytes() -> int:
    """This process' resident memory (the pod runs in it)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def emit_bulk(
    gateway: InProcessGateway, index: int, room: str = ROOM, padding: str = PADDING
) -> None:
    await gateway.app[SOCKETIO].emit(
        "bulk", {"i": index, "sent": time.monotonic(), "pad": padding}, to=room, namespace=NAMESPACE
    )


async def test_stalled_client_is_dropped_and_others_are_served(
    start_gateway: StartGateway, producer: Producer, closing: list[Any]
) -> None:
    gateway = await start_gateway()
    server = gateway.app[SOCKETIO]
    good = LatencyClient(gateway.url, mint("good", "A"), bulk_expected=EVENTS)
    closing.append(await good.connect())
    slow = StalledClient(gateway.url)
    closing.append(await slow.join(NAMESPACE, mint("slow", "A")))
    slow_queue = server.eio.sockets[slow.eio_sid].queue
    assert isinstance(slow_queue, SendQueue)

    # A real BullMQ job reaches both: the stalled client is in the room.
    await producer.add("records:updated", notification([ROOM], "res-1"))
    assert (await good.next_event())[0] == "records:updated"
    assert (await slow.next_event())[0] == "records:updated"

    # From here the slow client reads nothing.
    rss_before = rss_bytes()
    started = time.monotonic()
    blocked_at = dropped_at = None
    for index in range(EVENTS):
        await emit_bulk(gateway, index)
        if blocked_at is None and slow_queue.pending_bytes:
            blocked_at = time.monotonic()
        if dropped_at is None and slow_queue.connection.dropped:
            dropped_at = (time.monotonic(), index + 1)
    emitted = time.monotonic()
    await asyncio.wait_for(good.all_bulk.wait(), 60)
    delivered = time.monotonic()

    # Dropped for its backlog, long before the 10,000 were out, within a bounded time.
    assert blocked_at is not None and dropped_at is not None, "the slow client was never dropped"
    drop_time, events_before_drop = dropped_at
    assert drop_time - blocked_at < 5.0
    assert await dropped_counts(gateway.url) == {"buffer_full": 1.0, "send_timeout": 0.0}
    # Its session is gone and what was pending for it is released.
    await wait_until(lambda: slow.eio_sid not in server.eio.sockets, 5, "session forgotten")
    assert_released(slow_queue)
    limit = backpressure.MAX_PENDING_BYTES
    assert all(other.queue.pending_bytes <= limit for other in server.eio.sockets.values())
    # The client sees its connection end after what its buffers held.
    frames, ending = await slow.read_until_closed()
    assert frames < events_before_drop

    # The good client got everything, promptly.
    assert len(good.latencies) == EVENTS
    p99 = good.percentile(0.99)
    assert p99 < 2.0, f"p99 latency {p99:.3f} s"
    assert delivered - started < 60
    rss_growth = rss_bytes() - rss_before
    print(
        f"\nslow client: writer blocked {blocked_at - started:.2f} s into the burst, dropped"
        f" {drop_time - blocked_at:.3f} s later after {events_before_drop} events; read"
        f" {frames} buffered frames then {ending.name}\ngood client: {EVENTS} events,"
        f" emitted in {emitted - started:.2f} s, delivered in {delivered - started:.2f} s,"
        f" latency p50 {good.percentile(0.5) * 1000:.1f} ms p99 {p99 * 1000:.1f} ms"
        f" max {max(good.latencies) * 1000:.1f} ms\nRSS growth {rss_growth / 2**20:.1f} MiB"
    )
    # Generous: measured 1.5-2.5 MiB; without the bound the backlog took +38 MiB here.
    assert rss_growth < 24 * 2**20

    # The pod still serves: a new client gets the next real notification.
    late = LatencyClient(gateway.url, mint("late", "A"))
    closing.append(await late.connect())
    await producer.add("records:updated", notification([ROOM], "res-2"))
    for client in (good, late):
        event, payload = await client.next_event()
        assert (event, payload["id"]) == ("records:updated", "res-2")


async def test_stalled_client_with_little_traffic_is_dropped_after_the_send_timeout(
    start_gateway: StartGateway, closing: list[Any]
) -> None:
    """Too little traffic to reach the byte bound: the blocked write times out instead."""
    gateway = await start_gateway(GATEWAY_SEND_TIMEOUT_SECONDS="1")
    server = gateway.app[SOCKETIO]
    slow = StalledClient(gateway.url)
    closing.append(await slow.join(NAMESPACE, mint("slow", "A")))
    queue = server.eio.sockets[slow.eio_sid].queue
    assert isinstance(queue, SendQueue) and queue.connection.transport is not None
    transport = queue.connection.transport

    # Emit until the pod's transport is over its high-water mark: the kernel takes no
    # more, so the socket's writer now waits in drain. Then nothing more is sent.
    for index in range(2_000):
        await emit_bulk(gateway, index, room="user:slow", padding="x" * 16384)
        if transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]:
            break
    blocked_at = time.monotonic()
    assert not queue.connection.dropped and queue.pending_bytes < backpressure.MAX_PENDING_BYTES

    await wait_until(lambda: queue.connection.dropped, 10, "dropped after the send timeout")
    waited = time.monotonic() - blocked_at
    assert 0.5 < waited < 5, f"dropped {waited:.2f} s after its writer blocked"
    await wait_until(lambda: slow.eio_sid not in server.eio.sockets, 5, "session forgotten")
    assert await dropped_counts(gateway.url) == {"buffer_full": 0.0, "send_timeout": 1.0}
    assert_released(queue)
    await slow.read_until_closed()
    print(
        f"\nsend timeout 1 s: dropped {waited:.2f} s after its writer blocked ({index + 1} events)"
    )


async def test_polling_client_that_stops_polling_is_dropped(
    start_gateway: StartGateway,
) -> None:
    """Long-polling has the same queue and the same byte bound."""
    gateway = await start_gateway()
    server = gateway.app[SOCKETIO]
    url = f"{gateway.url}/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            opening = await response.text()
        sid = json.loads(opening[1:])["sid"]
        join = f"40{NAMESPACE},{json.dumps({'token': mint('poller', 'A')})}"
        async with http.post(f"{url}&sid={sid}", data=join) as response:
            assert response.status == 200
        async with http.get(f"{url}&sid={sid}") as response:
            assert f"40{NAMESPACE}," in await response.text()
        queue = server.eio.sockets[sid].queue
        assert isinstance(queue, SendQueue) and queue.connection.transport is None

        # The client polls no more; its notifications wait in the queue until the bound.
        for index in range(2_000):
            await emit_bulk(gateway, index, room="user:poller")
            if queue.connection.dropped:
                break
        assert queue.connection.dropped, "the polling client was never dropped"
        await wait_until(lambda: sid not in server.eio.sockets, 5, "session forgotten")
        assert await dropped_counts(gateway.url) == {"buffer_full": 1.0, "send_timeout": 0.0}
        assert_released(queue)
        # Its next poll is refused, so a socket.io client reconnects.
        async with http.get(f"{url}&sid={sid}") as response:
            assert response.status == 400
    print(f"\npolling client dropped after {index + 1} events")


@pytest.mark.slow
async def test_pod_process_drops_a_stalled_client_of_real_jobs(
    gateway_processes: Callable[..., GatewayProcess],
    redis_url: str,
    producer: Producer,
    closing: list[Any],
) -> None:
    """The same under `python -m gateway`, which runs on uvloop (whose transports are not
    asyncio's), with every event a real BullMQ job."""
    pod = await gateway_processes(base_env(redis_url)).started()
    good = LatencyClient(pod.url, mint("good", "A"), bulk_expected=JOBS)
    closing.append(await good.connect())
    slow = StalledClient(pod.url)
    closing.append(await slow.join(NAMESPACE, mint("slow", "A")))
    await producer.add("records:updated", notification([ROOM], "res-1"))
    assert (await good.next_event())[0] == "records:updated"
    assert (await slow.next_event())[0] == "records:updated"

    started = time.monotonic()
    padding = "x" * 4096
    for first in range(0, JOBS, 100):
        await asyncio.gather(
            *(
                producer.add(
                    "bulk",
                    notification(
                        [ROOM], f"bulk-{index}", data={"sent": time.monotonic(), "pad": padding}
                    ),
                )
                for index in range(first, first + 100)
            )
        )
    await asyncio.wait_for(good.all_bulk.wait(), 60)
    delivered = time.monotonic()

    async with asyncio.timeout(10):
        while await dropped_counts(pod.url) != {"buffer_full": 1.0, "send_timeout": 0.0}:
            await asyncio.sleep(0.05)
    frames, _ = await slow.read_until_closed()
    assert frames < JOBS
    _, text = await get_text(f"{pod.url}/metrics")
    assert f'gateway_connected_clients{{namespace="{NAMESPACE}"}} 1.0' in text
    # Latency here is mostly the jobs' wait in their queue (they are added faster than
    # one pod takes them), so only the delivery of all of them within 60 s is asserted.
    print(
        f"\npod process: {JOBS} jobs delivered to the good client in {delivered - started:.2f} s,"
        f" latency p50 {good.percentile(0.5) * 1000:.0f} ms"
        f" p99 {good.percentile(0.99) * 1000:.0f} ms;"
        f" the stalled client read {frames} buffered frames, then its connection ended"
    )


async def test_send_queue_drops_at_once_and_still_passes_the_stop_sentinel() -> None:
    """The queue on its own: a burst that overflows before the writer runs drops the
    client at once (no waiting), `join()` does not hang on discarded packets, and
    engineio's `None` still gets through so the writer or a waiting poll can end."""
    reasons: list[str] = []

    class Observer:
        def slow_client_dropped(self, reason: str) -> None:
            reasons.append(reason)

    back_pressure = BackPressure(
        engineio.AsyncServer(async_mode="aiohttp"), max_pending_bytes=8 * 1024, observer=Observer()
    )
    queue = back_pressure.create_queue()
    packet = eio_packet.Packet(eio_packet.MESSAGE, "x" * 1000)
    for _ in range(10):  # 10 x (1000 + 1024) > 8 KiB, all before any writer runs
        queue.put_nowait(packet)
    assert queue.connection.dropped and reasons == ["buffer_full"]
    assert queue.pending_bytes == 0 and queue.qsize() == 0
    await asyncio.wait_for(queue.join(), 1)
    queue.put_nowait(packet)  # ignored once dropped
    assert queue.qsize() == 0
    await queue.put(None)  # what engineio's websocket handler does on its way out
    assert await asyncio.wait_for(queue.get(), 1) is None
    assert reasons == ["buffer_full"]
