"""roomcast.RoomSubscriber on a real Redis Cluster: a pod receives exactly the rooms it
holds, subscriptions are batched and coalesced, and they come back after a master's
SIGKILL, a slot migration and a frozen master, each time telling its user which
channels to catch up on."""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio.cluster import RedisCluster as AsyncCluster

from roomcast import RoomSubscriber, channel_slot, room_channel
from tests.support.redis_cluster import RedisCluster

PREFIX = "{app-main}"
NS = "/data_owner"


def channel(room: str) -> str:
    return room_channel(PREFIX, NS, room)


def rooms_on(cluster: RedisCluster, port: int, count: int) -> list[str]:
    """`count` user rooms whose channels a given master serves."""
    shard = next(shard for shard in cluster.shards() if shard.master == port)
    found, n = [], 0
    while len(found) < count:
        room = f"user:{n}"
        if shard.holds(channel_slot(channel(room))):
            found.append(room)
        n += 1
    return found


async def spublish(client: AsyncCluster, name: str, data: bytes) -> int:
    """redis-py 7.4's asyncio cluster client has no `spublish` method; it routes the
    command by its channel all the same."""
    return int(await client.execute_command("SPUBLISH", name, data))


class Recorder:
    """What a subscriber reported, with a way to wait for it."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bytes]] = []
        self.established: list[list[bytes]] = []
        self.interrupted: list[list[bytes]] = []
        self._changed = asyncio.Event()

    def message(self, channel: bytes, data: bytes) -> None:
        self.messages.append((channel, data))
        self._changed.set()

    def up(self, channels: list[bytes]) -> None:
        self.established.append(channels)
        self._changed.set()

    def down(self, channels: list[bytes]) -> None:
        self.interrupted.append(channels)
        self._changed.set()

    async def until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    def data(self) -> list[bytes]:
        return [data for _, data in self.messages]


Subscribe = Callable[..., tuple[RoomSubscriber, Recorder]]


@pytest.fixture
async def subscribers(cluster: RedisCluster) -> AsyncIterator[Subscribe]:
    made: list[RoomSubscriber] = []

    def make(on: RedisCluster | None = None, **options: float) -> tuple[RoomSubscriber, Recorder]:
        target = on or cluster
        recorder = Recorder()
        subscriber = RoomSubscriber(
            [("127.0.0.1", port) for port in target.ports[:2]],
            recorder.message,
            on_established=recorder.up,
            on_interrupted=recorder.down,
            **options,
        )
        subscriber.start()
        made.append(subscriber)
        return subscriber, recorder

    yield make
    for subscriber in made:
        await subscriber.close()


@pytest.fixture
async def publisher(cluster: RedisCluster) -> AsyncIterator[AsyncCluster]:
    client = AsyncCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=2)
    await client.initialize()  # before any test freezes a node
    yield client
    await client.aclose()


async def test_a_pod_receives_only_the_rooms_it_holds(
    cluster: RedisCluster, subscribers: Subscribe, publisher: AsyncCluster
) -> None:
    rooms = [f"user:{n}" for n in range(60)]
    pod_a, seen_a = subscribers()
    pod_b, seen_b = subscribers()
    pod_a.add(channel(room) for room in rooms[:30])
    pod_b.add(channel(room) for room in rooms[20:])
    async with asyncio.timeout(10):
        await pod_a.wait_established(channel(room) for room in rooms[:30])
        await pod_b.wait_established(channel(room) for room in rooms[20:])
    # Spread over every master: the rooms' tags choose the slots, not the prefix's.
    assert {cluster.master_of(channel(room)) for room in rooms} == set(cluster.masters())
    for room in rooms:
        await spublish(publisher, channel(room), room.encode())
    await seen_a.until(lambda: len(seen_a.messages) == 30)
    await seen_b.until(lambda: len(seen_b.messages) == 40)
    await spublish(publisher, channel(rooms[0]), b"last")
    await seen_a.until(lambda: seen_a.data()[-1] == b"last")
    assert sorted(seen_a.data()[:30]) == sorted(room.encode() for room in rooms[:30])
    assert sorted(seen_b.data()) == sorted(room.encode() for room in rooms[20:])


async def test_the_last_holder_leaving_unsubscribes(
    cluster: RedisCluster, subscribers: Subscribe, publisher: AsyncCluster
) -> None:
    pod, seen = subscribers()
    name = channel("department:A")
    pod.add([name])
    pod.add([name])
    async with asyncio.timeout(10):
        await pod.wait_established([name])
    master = cluster.master_of(name)
    pod.discard([name])
    await asyncio.sleep(0)  # one loop iteration: nothing changes while a holder is left
    assert name.encode() in pod.established
    pod.discard([name])
    async with asyncio.timeout(10):
        while True:
            with cluster.client(master) as admin:
                counts = admin.execute_command("PUBSUB", "SHARDNUMSUB", name)
            if counts[1] == 0:
                break
            await asyncio.sleep(0.02)  # polling the server's state, bounded
    assert await spublish(publisher, name, b"to nobody") == 0
    assert seen.messages == []


async def test_churn_within_a_loop_iteration_sends_one_command_per_slot(
    cluster: RedisCluster, subscribers: Subscribe
) -> None:
    pod, seen = subscribers()
    names = [channel(f"user:{n}") for n in range(1000)]
    # Joined and left in the same iteration: nothing to send.
    pod.add(names[:500])
    pod.discard(names[:500])
    pod.add(names)
    async with asyncio.timeout(10):
        await pod.wait_established(names)
    slots = {channel_slot(name) for name in names}
    assert pod.commands_sent == len(slots)
    # One batch per master's write: every confirmation of a master's slots together.
    assert len(seen.established) <= 3 * 4, [len(batch) for batch in seen.established]
    assert sorted(n for batch in seen.established for n in batch) == sorted(
        n.encode() for n in names
    )


async def test_a_lingering_unsubscribe_is_cancelled_by_a_rejoin(
    subscribers: Subscribe, publisher: AsyncCluster
) -> None:
    pod, seen = subscribers(unsubscribe_delay=5.0)
    name = channel("user:7")
    pod.add([name])
    async with asyncio.timeout(10):
        await pod.wait_established([name])
    sent = pod.commands_sent
    pod.discard([name])
    pod.add([name])
    await spublish(publisher, name, b"still here")
    await seen.until(lambda: seen.data() == [b"still here"])
    assert pod.commands_sent == sent
    assert len(seen.established) == 1


async def test_a_frozen_master_delays_no_other_masters_delivery(
    new_cluster: Callable[..., RedisCluster], subscribers: Subscribe
) -> None:
    """A cluster of its own: the freeze may outlast the node timeout, and the frozen
    master's replica then takes over."""
    cluster = new_cluster()
    publisher = AsyncCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=2)
    await publisher.initialize()
    try:
        await frozen_master_case(cluster, subscribers, publisher)
    finally:
        await publisher.aclose()


async def frozen_master_case(
    cluster: RedisCluster, subscribers: Subscribe, publisher: AsyncCluster
) -> None:
    masters = cluster.masters()
    sick, healthy = masters[0], masters[1]
    sick_room, healthy_room = rooms_on(cluster, sick, 1)[0], rooms_on(cluster, healthy, 1)[0]
    pod, seen = subscribers(on=cluster, ping_interval=0.2, reply_timeout=1.0)
    pod.add([channel(sick_room), channel(healthy_room)])
    async with asyncio.timeout(10):
        await pod.wait_established([channel(sick_room), channel(healthy_room)])
    process = cluster.node(sick).process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        delays = []
        for n in range(5):
            started = time.monotonic()
            await spublish(publisher, channel(healthy_room), b"%d" % n)
            await seen.until(lambda n=n: seen.data()[-1:] == [b"%d" % n], timeout=2)
            delays.append(time.monotonic() - started)
        # The frozen master's channel is reported down after the reply deadline.
        await seen.until(lambda: [channel(sick_room).encode()] in seen.interrupted, timeout=5)
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert max(delays) < 0.5, delays
    # Thawed: subscribed again, on the same master or on its promoted replica.
    async with asyncio.timeout(15):
        await pod.wait_established([channel(sick_room)])
