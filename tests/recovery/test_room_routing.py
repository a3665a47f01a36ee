"""Routing by room (GATEWAY_ADAPTER_ROUTING=room) on one Redis: a pod subscribes to the
sharded channel of each room it holds a socket in, and only to those; the log's catch-up
covers a lost subscription; a connect gets a position a later recovery can start from."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio

import gateway.pod.routing
from notification_log.keys import room_channel
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer, notification
from tests.support.raw_client import RawClient
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
