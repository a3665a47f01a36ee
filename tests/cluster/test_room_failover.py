"""Room subscriptions across a master's SIGKILL and a slot migration, with the log's
catch-up: the append (log + SPUBLISH) is one Lua call on the room's master, and a
subscriber that catches up from the log whenever a channel is (re)established ends up
with every acknowledged notification."""

import asyncio
import time
from collections.abc import Callable

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster as AsyncCluster
from redis.exceptions import RedisError, ResponseError

from roomcast import RoomSubscriber, channel_slot, room_channel, room_tag
from roomcast.channels import bare_prefix
from tests.cluster.test_room_subscriber import NS, PREFIX, Recorder, rooms_on
from tests.support.redis_cluster import RedisCluster

# The shape of the per-room append (docs/cluster.md): the room's log and its channel share
# the room's hash tag, so one script on the room's master logs and publishes.
APPEND = """
local n = redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('SPUBLISH', ARGV[1], ARGV[2])
return n
"""


def log_key(room: str) -> str:
    return f"{bare_prefix(PREFIX)}:log:{room_tag(NS, room)}"


def channel(room: str) -> str:
    return room_channel(PREFIX, NS, room)


def subscriber_on(cluster: RedisCluster, recorder: Recorder, **options: float) -> RoomSubscriber:
    subscriber = RoomSubscriber(
        [("127.0.0.1", port) for port in cluster.ports],
        recorder.message,
        on_established=recorder.up,
        on_interrupted=recorder.down,
        **options,
    )
    subscriber.start()
    return subscriber


async def test_the_append_publishes_in_its_script_only_on_the_rooms_slot(
    cluster: RedisCluster,
) -> None:
    client = AsyncCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=2)
    try:
        room = "user:1"
        assert channel_slot(log_key(room)) == channel_slot(channel(room))
        assert await client.eval(APPEND, 1, log_key(room), channel(room), "a") == 1
        other = next(f"user:{n}" for n in range(2, 100) if
                     cluster.master_of(channel(f"user:{n}")) != cluster.master_of(channel(room)))
        with pytest.raises(ResponseError):
            await client.eval(APPEND, 1, log_key(room), channel(other), "b")
    finally:
        await client.aclose()


class Room:
    """One room's appends (acknowledged: the script returned and a replica has it) and
    what a subscribing pod got: live, and from the log when (re)established."""

    def __init__(self, cluster: RedisCluster, room: str) -> None:
        self.cluster = cluster
        self.room = room
        self.acknowledged: set[bytes] = set()
        self.live: set[bytes] = set()
        self.caught_up: set[bytes] = set()
        self.catch_ups = 0

    async def append_until(self, stop: asyncio.Event) -> None:
        n = 0
        client: Redis | None = None
        while not stop.is_set():
            data = b"%d" % n
            try:
                if client is None:
                    port = await asyncio.to_thread(self.cluster.master_of, log_key(self.room))
                    client = Redis(port=port, socket_timeout=1, single_connection_client=True)
                await client.eval(APPEND, 1, log_key(self.room), channel(self.room), data)
                if await client.execute_command("WAIT", 1, 1000) >= 1:
                    self.acknowledged.add(data)
                n += 1
            except (RedisError, OSError):
                if client is not None:
                    await client.aclose()
                client = None
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.01)
        if client is not None:
            await client.aclose()

    async def catch_up(self) -> None:
        """What `on_established` asks for: the room's log, read where it is now."""
        self.catch_ups += 1
        reader = AsyncCluster(host="127.0.0.1", port=self.cluster.living()[0].port)
        try:
            entries = await reader.lrange(log_key(self.room), 0, -1)
        finally:
            await reader.aclose()
        self.caught_up.update(entries)


async def test_a_masters_sigkill_loses_no_acknowledged_notification(
    new_cluster: Callable[..., RedisCluster],
) -> None:
    cluster = new_cluster()
    victim = cluster.masters()[0]
    room = Room(cluster, rooms_on(cluster, victim, 1)[0])
    steady = rooms_on(cluster, cluster.masters()[1], 1)[0]
    recorder = Recorder()
    tasks: set[asyncio.Task[None]] = set()

    def established(channels: list[bytes]) -> None:
        recorder.up(channels)
        if channel(room.room).encode() in channels:
            task = asyncio.create_task(room.catch_up())
            tasks.add(task)

    def message(name: bytes, data: bytes) -> None:
        recorder.message(name, data)
        if name == channel(room.room).encode():
            room.live.add(data)

    subscriber = RoomSubscriber(
        [("127.0.0.1", port) for port in cluster.ports], message,
        on_established=established, on_interrupted=recorder.down,
    )
    subscriber.start()
    stop = asyncio.Event()
    appending = asyncio.create_task(room.append_until(stop))
    try:
        subscriber.add([channel(room.room), channel(steady)])
        async with asyncio.timeout(10):
            await subscriber.wait_established([channel(room.room), channel(steady)])
            while len(room.live) < 20:
                await recorder.until(lambda: len(room.live) >= 20)
        killed = time.monotonic()
        await asyncio.to_thread(cluster.kill_master, victim)
        promoted = time.monotonic() - killed
        await recorder.until(lambda: [channel(room.room).encode()] in recorder.interrupted)
        async with asyncio.timeout(15):
            await subscriber.wait_established([channel(room.room)])
        back = time.monotonic() - killed
        # A master without a replica acknowledges nothing (WAIT 1 answers 0): the killed
        # node comes back as the new master's replica.
        await asyncio.to_thread(cluster.restart, victim)
        acknowledged_before = len(room.acknowledged)
        await recorder.until(lambda: len(room.acknowledged) > acknowledged_before + 20, 15)
    finally:
        stop.set()
        await appending
        await asyncio.gather(*tasks)
    last = max(room.acknowledged, key=int)
    await recorder.until(lambda: last in room.live | room.caught_up)
    await subscriber.close()
    # The steady master's channel was never interrupted.
    assert all(channel(steady).encode() not in batch for batch in recorder.interrupted)
    assert room.catch_ups == 2
    missing = room.acknowledged - (room.live | room.caught_up)
    assert not missing, sorted(missing, key=int)
    print(f"failover: promoted {promoted:.1f} s, resubscribed {back:.1f} s after the kill; "
          f"{len(room.acknowledged)} acknowledged, {len(room.acknowledged - room.live)} "
          "only from the log")


async def test_a_migrated_slot_is_followed_to_its_new_master(
    new_cluster: Callable[..., RedisCluster],
) -> None:
    cluster = new_cluster()
    source, target = cluster.masters()[0], cluster.masters()[1]
    room = rooms_on(cluster, source, 1)[0]
    recorder = Recorder()
    subscriber = subscriber_on(cluster, recorder)
    publisher = AsyncCluster(host="127.0.0.1", port=target, socket_timeout=2)
    try:
        subscriber.add([channel(room)])
        async with asyncio.timeout(10):
            await subscriber.wait_established([channel(room)])
        await publisher.eval(APPEND, 1, log_key(room), channel(room), "before")
        await recorder.until(lambda: recorder.data() == [b"before"])
        await asyncio.to_thread(cluster.move_slot, channel_slot(channel(room)), target)
        # The old master unsubscribed the channel when it gave the slot away.
        await recorder.until(lambda: [channel(room).encode()] in recorder.interrupted)
        async with asyncio.timeout(10):
            await subscriber.wait_established([channel(room)])
        assert len(recorder.established) == 2
        assert cluster.master_of(channel(room)) == target
        # The log moved with the slot; the publisher follows MOVED.
        await publisher.eval(APPEND, 1, log_key(room), channel(room), "after")
        await recorder.until(lambda: recorder.data() == [b"before", b"after"])
        assert await publisher.lrange(log_key(room), 0, -1) == [b"before", b"after"]
    finally:
        await publisher.aclose()
        await subscriber.close()


async def test_a_subscription_made_late_catches_up_from_the_log(
    cluster: RedisCluster,
) -> None:
    """Appends made before the channel was established are not delivered live: the
    hook is where they are read, so the two together have every one of them."""
    room = Room(cluster, "department:late")
    recorder = Recorder()
    pending: list[asyncio.Task[None]] = []

    def established(channels: list[bytes]) -> None:
        recorder.up(channels)
        pending.append(asyncio.create_task(room.catch_up()))

    def message(name: bytes, data: bytes) -> None:
        room.live.add(data)
        recorder.message(name, data)

    subscriber = RoomSubscriber(
        [("127.0.0.1", cluster.ports[0])], message, on_established=established
    )
    subscriber.start()
    publisher = AsyncCluster(host="127.0.0.1", port=cluster.ports[0], socket_timeout=2)
    try:
        for n in range(5):
            await publisher.eval(APPEND, 1, log_key(room.room), channel(room.room), n)
        subscriber.add([channel(room.room)])
        async with asyncio.timeout(10):
            await subscriber.wait_established([channel(room.room)])
            await asyncio.gather(*pending)
        for n in range(5, 10):
            await publisher.eval(APPEND, 1, log_key(room.room), channel(room.room), n)
        await recorder.until(lambda: len(room.live) == 5)
    finally:
        await publisher.aclose()
        await subscriber.close()
    assert room.live == {b"%d" % n for n in range(5, 10)}
    assert room.caught_up | room.live == {b"%d" % n for n in range(10)}
