"""Routing by room (GATEWAY_ADAPTER_ROUTING=room) on one Redis: a pod subscribes to the
sharded channel of each room it holds a socket in, and only to those; the log's catch-up
covers a lost subscription; a connect gets a position a later recovery can start from."""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio

import gateway.pod.routing
from gateway.pod.state import ADAPTER
from gateway.realtime.room_routing import RoomRouting
from notification_log import LogMessage, NotificationLog, Offset
from notification_log.keys import room_channel
from roomcast import RoomSubscriber, SlotMap
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import InProcessGateway, base_env, wait_ready
from tests.support.jobs import Producer, notification
from tests.support.node import ROOT
from tests.support.raw_client import RawClient
from tests.support.sentinel import MASTER_SET, SentinelCluster
from tests.support.tokens import mint

NS = "/data_owner"
ROOM = {"GATEWAY_ADAPTER_ROUTING": "room"}


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def _subscribers(admin: "redis.asyncio.Redis", room: str) -> int:
    reply: Any = await admin.execute_command(
        "PUBSUB", "SHARDNUMSUB", room_channel("bull", NS, room)
    )
    return int(reply[1])


@pytest.fixture
def quick_linger(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.pod.routing, "ROOM_LINGER_SECONDS", 0.2)


async def test_each_pod_subscribes_to_the_rooms_it_holds_and_only_those(
    start_gateway: StartGateway, producer: Producer, redis_url: str, quick_linger: None
) -> None:
    first, second = await start_gateway(**ROOM), await start_gateway(**ROOM)
    admin = redis.asyncio.Redis.from_url(redis_url)
    one = await RecordingClient(first.url, NS, mint("1", "A")).connect()
    two = await RecordingClient(second.url, NS, mint("2", "A")).connect()
    try:
        # The connect returned after its rooms' subscriptions were confirmed.
        assert await _subscribers(admin, "user:1") == 1
        assert await _subscribers(admin, "user:2") == 1
        assert await _subscribers(admin, "department:A") == 2
        assert await _subscribers(admin, "user:3") == 0
        # The one adapter channel carries no notifications in this mode.
        ordinary = admin.pubsub()
        await ordinary.subscribe("socketio")
        await producer.add("records:created", notification(["user:2"], "to-2"))
        await producer.add("records:created", notification(["department:A"], "to-A"))
        # (two pods consume: the jobs may complete in either order)
        assert sorted(p["id"] for _, p in await two.events_until_quiet(2)) == ["to-2", "to-A"]
        assert [p["id"] for _, p in await one.events_until_quiet(1)] == ["to-A"]
        assert await ordinary.get_message(ignore_subscribe_messages=True, timeout=0.2) is None
        await ordinary.aclose()
        # The last socket of a room leaving unsubscribes it (after the linger).
        await two.close()
        await _until(lambda: _count_is(admin, "department:A", 1))
        await _until(lambda: _count_is(admin, "user:2", 0))
    finally:
        await admin.aclose()
        await one.close()


async def _count_is(admin: "redis.asyncio.Redis", room: str, count: int) -> bool:
    return await _subscribers(admin, room) == count


async def test_a_notification_to_two_rooms_of_one_socket_arrives_once(
    start_gateway: StartGateway, producer: Producer
) -> None:
    pod = await start_gateway(**ROOM)
    client = await RecordingClient(pod.url, NS, mint("5", "B")).connect()
    try:
        await producer.add("records:created", notification(["user:5", "department:B"], "both"))
        await producer.add("records:created", notification(["user:5"], "after"))
        events = await client.events_until_quiet(2)
        assert [p["id"] for _, p in events] == ["both", "after"]
    finally:
        await client.close()


async def test_a_lost_room_subscription_is_caught_up_from_the_log(
    start_gateway: StartGateway, producer: Producer, redis_url: str
) -> None:
    pod = await start_gateway(**ROOM)
    client = await RecordingClient(pod.url, NS, mint("7", None)).connect()
    admin = redis.asyncio.Redis.from_url(redis_url)
    try:
        await producer.add("records:created", notification(["user:7"], "before"))
        assert (await client.next_event())[1]["id"] == "before"
        # Cut every subscription (the room's link with the one channel's) and keep the
        # pod from subscribing again (new connections are refused: a password now, which
        # connections already open don't need), and publish while it is away.
        await admin.config_set("requirepass", "away")
        killed = await admin.client_kill_filter(_type="pubsub")
        assert killed == 2
        ids = [f"away-{n}" for n in range(20)]
        for job_id in ids:
            await producer.add("records:created", notification(["user:7"], job_id), jobId=job_id)
        for job_id in ids:
            await producer.finished("critical-events", job_id)
        client.assert_nothing_received()
        await admin.config_set("requirepass", "")
        events = await client.events_until_quiet(20, timeout=15)
        assert [payload["id"] for _, payload in events] == ids
    finally:
        await admin.aclose()
        await client.close()


async def test_a_socket_alone_in_a_new_room_recovers_from_its_connect(
    start_gateway: StartGateway, producer: Producer
) -> None:
    """The pod's watermark is old (nothing for its rooms since it started), the socket's
    room is subscribed just now: its pid starts at the log's newest offset, so a
    notification the room got before the socket connected is not replayed to it later
    (and does not make its recovery look incomplete once it ages out)."""
    pod = await start_gateway(**ROOM)
    await producer.add("records:created", notification(["user:8"], "before"), jobId="before")
    await producer.finished("critical-events", "before")
    raw = RawClient(pod.url)
    await raw.open()
    answer = await raw.join(NS, mint("8", None))
    pid = json.loads(answer.split(",", 1)[1])["pid"]
    await raw.close()
    await producer.add("records:created", notification(["user:8"], "missed"), jobId="missed")
    await producer.finished("critical-events", "missed")
    again = RawClient(pod.url)
    await again.open()
    try:
        await again.send(f"40{NS},{json.dumps({'token': mint('8', None), 'pid': pid})}")
        reply = json.loads((await again.receive_text()).split(",", 1)[1])
        assert reply["pid"] == pid  # recovered
        event = json.loads((await again.receive_text()).split(",", 1)[1])
        assert event[1]["id"] == "missed"
        with pytest.raises(TimeoutError):
            await again.receive_text(timeout=0.5)
    finally:
        await again.close()


async def test_a_pod_whose_lost_rooms_all_lingered_out_becomes_ready_again(
    start_gateway: StartGateway, redis_url: str, quick_linger: None
) -> None:
    """Subscriptions lost; the pod's only socket leaves while they are away and its room
    lingers out before Redis lets the pod back: nothing is left to confirm, and the pod
    must not wait for it (it stayed 503 until some new connect came)."""
    pod = await start_gateway(**ROOM)
    client = await RecordingClient(pod.url, NS, mint("7", None)).connect()
    admin = redis.asyncio.Redis.from_url(redis_url)
    routing = pod.app[ADAPTER].room_routing
    assert routing is not None
    try:
        await admin.config_set("requirepass", "away")
        assert await admin.client_kill_filter(_type="pubsub") == 2
        await wait_ready(pod.url, expect=503, timeout=5)
        await client.close()
        channel = room_channel("bull", NS, "user:7").encode()
        await _until(lambda: _not_wanted(routing.subscriber, channel))  # lingered out
        await admin.config_set("requirepass", "")
        await wait_ready(pod.url, expect=200, timeout=10)
    finally:
        await admin.config_set("requirepass", "")
        await admin.aclose()


async def _not_wanted(subscriber: RoomSubscriber, channel: bytes) -> bool:
    return not subscriber.wanted(channel)


WRITER = """
import asyncio, sys
from redis.asyncio import Redis
from notification_log import NotificationLog

async def main(url, rooms):
    log = NotificationLog(Redis.from_url(url), "bull", "socketio", 120, 100_000, by_room=True)
    payload = '["records:created",{"id":"' + "x" * 2000 + '"}'
    async def one(n):
        while True:
            await log.append("/data_owner", (f"user:n{n % rooms}",), payload)
            n += 7
    await asyncio.gather(*(one(n) for n in range(16)))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_a_new_rooms_position_covers_only_what_was_handed_on_before_it(
    redis_url: str,
) -> None:
    """Appends stream into 40 rooms from another process while a routing subscribes to
    them one by one: every message of a room at or before the position its connect got
    was handed on before `wait_rooms` returned (so it precedes the CONNECT reply), else a
    recovery from that position would skip it. Read right after the confirmation
    without the barrier, 4 of 40 positions covered messages still on their way."""
    rooms = 40
    address = (urlparse(redis_url).hostname or "127.0.0.1", urlparse(redis_url).port or 6379)
    client = redis.asyncio.Redis.from_url(redis_url)
    log = NotificationLog(client, "bull", "socketio", 120, 100_000, by_room=True)
    delivered: list[LogMessage] = []

    async def one_redis(known: list[tuple[str, int]]) -> SlotMap:
        return SlotMap.single(address)

    def subscriber(*callbacks: Any) -> RoomSubscriber:
        on_message, on_established, on_interrupted, on_released = callbacks
        return RoomSubscriber(
            [], on_message, on_established=on_established, on_interrupted=on_interrupted,
            on_released=on_released, map_source=one_redis,
        )

    def deliver(data: bytes) -> None:
        message = LogMessage.parse(data)
        assert message is not None
        delivered.append(message)

    async def nothing() -> None:
        return None

    async def position() -> Offset:
        return (await log.position()).last

    routing = RoomRouting(subscriber, deliver, nothing, position, nothing)
    routing.start()
    writer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, redis_url, str(rooms), cwd=ROOT
    )
    late: list[tuple[str, Offset, Offset]] = []
    try:
        async with asyncio.timeout(10):
            while (await log.position()).last == Offset(0, 0):
                await asyncio.sleep(0.01)  # until the writer is under way
            first = (await log.position()).last
            while (await log.position()).last.ms - first.ms < 1000:
                await asyncio.sleep(0.05)  # and at full speed (its 16 appenders started)
        for n in range(rooms):
            room = f"user:n{n}"
            channel = room_channel("bull", NS, room).encode()
            routing.hold(channel)
            at = await routing.wait_rooms([channel], 5)
            assert at is not None
            handed_on = len(delivered)
            await routing.subscriber.barrier([channel])  # what was on its way has come
            late += [
                (room, at, m.offset)
                for m in delivered[handed_on:]
                if m.rooms == (room,) and m.offset <= at
            ]
    finally:
        writer.kill()
        await writer.wait()
        await routing.close()
        await client.aclose()
    assert not late, late


async def test_behind_sentinel_the_room_subscriber_leaves_no_connection_to_the_sentinels(
    tmp_path: Path,
) -> None:
    """Routing by room behind Sentinel asks the Sentinels for the master before it
    subscribes; once the pod has closed, none of its connections to them is left open."""
    cluster = SentinelCluster(tmp_path / "sentinel", replicas=0, sentinels=1).start()
    sentinel = cluster.client(cluster.sentinel_ports[0])
    try:
        before = _client_count(sentinel)
        pod = InProcessGateway(base_env(
            "redis://unused:1/0", REDIS_SENTINELS=cluster.sentinels_setting,
            REDIS_SENTINEL_MASTER=MASTER_SET, REDIS_PASSWORD=cluster.password, **ROOM,
        ))
        await pod.start()
        client = await RecordingClient(pod.url, NS, mint("7", None)).connect()
        await client.close()
        await pod.close()
        assert _client_count(sentinel) == before
    finally:
        sentinel.close()
        cluster.stop()


def _client_count(sentinel: Any) -> int:
    """Connections to the Sentinel, other than this one."""
    return len(sentinel.client_list()) - 1
