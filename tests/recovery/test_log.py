"""The notification log's Lua scripts on a real redis-server: offsets, completeness rules,
replay order, and that append and publish are one step."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio

from notification_log import NotificationLog, Offset, ReadStatus, parse_offset
from notification_log.keys import entries_key, room_key

NS = "/data_owner"
CHANNEL = "test-log"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


def log_of(client: redis.asyncio.Redis, retention: float = 60, max_entries: int = 1000) -> (
    NotificationLog
):
    return NotificationLog(client, "bull", CHANNEL, retention, max_entries)


async def test_offsets_increase_and_each_append_is_published(
    client: redis.asyncio.Redis,
) -> None:
    log = log_of(client)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(CHANNEL)
    offsets = [await log.append(NS, ["user:1"], f'["ev",{{"n":{n}}}') for n in range(50)]
    parsed = [parse_offset(o) for o in offsets]
    assert all(p is not None for p in parsed)
    assert parsed == sorted(parsed) and len(set(offsets)) == 50  # type: ignore[type-var]
    received = []
    async with asyncio.timeout(5):
        while len(received) < 50:
            message = await pubsub.get_message(timeout=1)
            if message is not None:
                received.append(message["data"])
    assert received[0] == f'{offsets[0]}\n{NS}\nuser:1\n["ev",{{"n":0}}'.encode()
    assert [r.split(b"\n", 1)[0].decode() for r in received] == offsets
    await pubsub.aclose()


async def test_read_returns_what_the_rooms_got_after_the_offset_in_order_once(
    client: redis.asyncio.Redis,
) -> None:
    log = log_of(client)
    epoch, start = await log.position()
    a = await log.append(NS, ["user:1"], '["ev",1')
    await log.append(NS, ["user:2"], '["ev",2')  # another user's
    b = await log.append(NS, ["user:1", "department:A"], '["ev",3')
    c = await log.append(NS, ["department:A"], '["ev",4')
    got = await log.read(NS, ["user:1", "department:A"], epoch, start, 100)
    assert got.status is ReadStatus.OK
    assert [m.offset_text for m in got.messages] == [a, b, c]  # b once, though in both rooms
    assert [m.args_open for m in got.messages] == ['["ev",1', '["ev",3', '["ev",4']
    assert got.messages[1].rooms == ("user:1", "department:A")
    after_a = await log.read(NS, ["user:1"], epoch, parse_offset(a) or start, 100)
    assert [m.offset_text for m in after_a.messages] == [b]
    other = await log.read(NS, ["user:3"], epoch, start, 100)
    assert other.status is ReadStatus.OK and other.messages == []


async def test_incomplete_reads_say_why_and_return_nothing(client: redis.asyncio.Redis) -> None:
    log = log_of(client, retention=60, max_entries=5)
    epoch, start = await log.position()
    offsets = [await log.append(NS, ["user:1"], f'["ev",{n}') for n in range(8)]
    # The count bound dropped the first three: a start before them can't be complete.
    trimmed = await log.read(NS, ["user:1"], epoch, start, 100)
    assert trimmed.status is ReadStatus.TRIMMED and trimmed.messages == []
    fine = await log.read(NS, ["user:1"], epoch, parse_offset(offsets[4]) or start, 100)
    assert fine.status is ReadStatus.OK and len(fine.messages) == 3
    too_many = await log.read(NS, ["user:1"], epoch, parse_offset(offsets[3]) or start, 2)
    assert too_many.status is ReadStatus.TOO_MANY
    reset = await log.read(NS, ["user:1"], "1-0", start, 100)
    assert reset.status is ReadStatus.RESET
    ahead = Offset(got_last(fine).ms + 10_000, 0)
    assert (await log.read(NS, ["user:1"], epoch, ahead, 100)).status is ReadStatus.AHEAD


def got_last(read: object) -> Offset:
    last = getattr(read, "last")  # noqa: B009
    assert isinstance(last, Offset)
    return last


async def test_a_lost_log_gets_a_new_epoch(client: redis.asyncio.Redis) -> None:
    log = log_of(client)
    await log.append(NS, ["user:1"], '["ev",1')
    epoch, start = await log.position()
    await client.flushall()  # a Redis that came back empty
    await log.append(NS, ["user:1"], '["ev",2')
    new_epoch, _ = await log.position()
    assert new_epoch != epoch
    assert (await log.read(NS, ["user:1"], epoch, start, 100)).status is ReadStatus.RESET


async def test_entries_expire_on_their_own(client: redis.asyncio.Redis) -> None:
    log = log_of(client, retention=60)
    await log.append(NS, ["user:1"], '["ev",1')
    assert 0 < await client.pttl(entries_key("bull", NS)) <= 60_000
    # A room's offsets: its newest is kept a day (a quiet room's clients still recover).
    assert 60_000 < await client.pttl(room_key("bull", NS, "user:1")) <= 24 * 3600 * 1000


async def test_recovery_off_publishes_without_keeping(client: redis.asyncio.Redis) -> None:
    log = log_of(client, retention=0)
    await log.append(NS, ["user:1"], '["ev",1')
    assert await client.exists(entries_key("bull", NS), room_key("bull", NS, "user:1")) == 0


async def test_a_quiet_rooms_start_recovers_however_old(client: redis.asyncio.Redis) -> None:
    log = log_of(client, retention=1)
    epoch, _ = await log.position()
    position = parse_offset(await log.append(NS, ["user:1"], '["ev",1')) or Offset(0, 0)
    await asyncio.sleep(1.2)  # the scenario: longer than the retention passes
    await log.append(NS, ["department:A"], '["ev",2')
    # user:1 got nothing after `position`: recoverable, however old the position...
    quiet = await log.read(NS, ["user:1"], epoch, position, 100)
    assert quiet.status is ReadStatus.OK and quiet.messages == []
    # ...and in a room never sent anything; and with a room that got something since,
    # still kept.
    never = await log.read(NS, ["user:99"], epoch, position, 100)
    assert never.status is ReadStatus.OK and never.messages == []
    both = await log.read(NS, ["user:1", "department:A"], epoch, position, 100)
    assert both.status is ReadStatus.OK and [m.args_open for m in both.messages] == [
        '["ev",2'
    ]
    day_old = Offset(position.ms - 25 * 3600 * 1000, 0)  # older than the rooms' records
    assert (await log.read(NS, ["user:99"], epoch, day_old, 100)).status is ReadStatus.EXPIRED


async def test_a_start_is_complete_until_something_after_it_ages_out(
    client: redis.asyncio.Redis,
) -> None:
    log = log_of(client, retention=1)
    epoch, _ = await log.position()
    first = parse_offset(await log.append(NS, ["user:1"], '["ev",1')) or Offset(0, 0)
    second = parse_offset(await log.append(NS, ["user:1"], '["ev",2')) or Offset(0, 0)
    await asyncio.sleep(1.2)  # the scenario: both age out of the retention
    third = await log.append(NS, ["user:1"], '["ev",3')
    # From `second` only `third` is needed, and it is kept: complete, however old.
    fine = await log.read(NS, ["user:1"], epoch, second, 100)
    assert fine.status is ReadStatus.OK and [m.offset_text for m in fine.messages] == [third]
    # From `first`, `second` would be needed, and it aged out.
    gone = await log.read(NS, ["user:1"], epoch, first, 100)
    assert gone.status is ReadStatus.EXPIRED and gone.messages == []
