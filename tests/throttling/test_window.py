"""The window logic of the throttle's Lua scripts, on a real Redis, with an injected clock."""

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from config import ThrottleRule
from throttling import Held, NotYet, Throttle, Verdict

W = 2000
T0 = 1_000_000


@pytest.fixture
async def throttle(redis_url: str) -> AsyncIterator[Throttle]:
    client = Redis.from_url(redis_url)
    yield Throttle(client, [ThrottleRule("records:updated", W / 1000)], "bull")
    await client.aclose()


def key(throttle: Throttle, resource: str = "r1") -> str:
    return throttle.key("/data_owner", "records:updated", resource)


async def test_leading_edge_then_held_then_newest_taken(throttle: Throttle) -> None:
    k = key(throttle)
    first = await throttle.decide(k, W, b"v1", created_at_ms=1, now_ms=T0)
    assert (first.verdict, first.window_end_ms, first.superseded) == (Verdict.EMIT, T0 + W, False)

    second = await throttle.decide(k, W, b"v2", created_at_ms=2, now_ms=T0 + 100)
    assert (second.verdict, second.window_end_ms) == (Verdict.HOLD, T0 + W)
    assert not second.superseded
    assert second.delay_ms == W - 100

    third = await throttle.decide(k, W, b"v3", created_at_ms=3, now_ms=T0 + 200)
    assert (third.verdict, third.superseded) == (Verdict.HOLD, True)

    held = await throttle.take(k, now_ms=T0 + W)
    assert isinstance(held, Held) and held.encoded == b"v3"
    flushed = await throttle.flushed(k, held.version, W, now_ms=T0 + W)
    assert (flushed.newer_pending, flushed.window_end_ms) == (False, T0 + 2 * W)
    assert await throttle.take(k, now_ms=T0 + W) is None

    # The trailing emit opened a window: the next one inside it is held again...
    inside = await throttle.decide(k, W, b"v4", created_at_ms=4, now_ms=T0 + W + 10)
    assert (inside.verdict, inside.window_end_ms) == (Verdict.HOLD, T0 + 2 * W)


async def test_after_a_quiet_window_the_next_is_a_leading_edge(throttle: Throttle) -> None:
    k = key(throttle)
    assert (await throttle.decide(k, W, b"a", 1, now_ms=T0)).verdict is Verdict.EMIT
    late = await throttle.decide(k, W, b"b", 2, now_ms=T0 + W)
    assert (late.verdict, late.window_end_ms) == (Verdict.EMIT, T0 + 2 * W)


async def test_held_state_blocks_leading_edge_until_flushed(throttle: Throttle) -> None:
    """A late trailing job must not be overtaken: while something is held, newer ones
    replace it rather than jumping ahead (the last state arrives last)."""
    k = key(throttle)
    await throttle.decide(k, W, b"a", 1, now_ms=T0)
    await throttle.decide(k, W, b"b", 2, now_ms=T0 + 10)
    overdue = await throttle.decide(k, W, b"c", 3, now_ms=T0 + W + 500)
    assert (overdue.verdict, overdue.window_end_ms, overdue.delay_ms) == (Verdict.HOLD, T0 + W, 0)
    held = await throttle.take(k, now_ms=T0 + W + 500)
    assert isinstance(held, Held) and held.encoded == b"c"


async def test_newer_held_during_trailing_emit_needs_the_next_window(throttle: Throttle) -> None:
    k = key(throttle)
    await throttle.decide(k, W, b"a", 1, now_ms=T0)
    await throttle.decide(k, W, b"b", 2, now_ms=T0 + 10)
    held = await throttle.take(k, now_ms=T0 + W)
    assert isinstance(held, Held)
    await throttle.decide(k, W, b"c", 3, now_ms=T0 + W + 1)  # arrives while "b" is emitted
    flushed = await throttle.flushed(k, held.version, W, now_ms=T0 + W + 2)
    assert (flushed.newer_pending, flushed.window_end_ms) == (True, T0 + 2 * W + 2)
    assert isinstance(await throttle.take(k, now_ms=T0 + W + 3), NotYet)
    again = await throttle.take(k, now_ms=T0 + 2 * W + 2)
    assert isinstance(again, Held) and again.encoded == b"c"


async def test_older_notification_than_seen_is_dropped(throttle: Throttle) -> None:
    k = key(throttle)
    await throttle.decide(k, W, b"new", created_at_ms=50, now_ms=T0)
    stale = await throttle.decide(k, W, b"old", created_at_ms=40, now_ms=T0 + 10)
    assert stale.verdict is Verdict.DROP
    assert await throttle.take(k, now_ms=T0 + W) is None


async def test_ids_and_events_are_independent(throttle: Throttle) -> None:
    assert (await throttle.decide(key(throttle, "a"), W, b"", 1, now_ms=T0)).verdict is Verdict.EMIT
    assert (await throttle.decide(key(throttle, "b"), W, b"", 1, now_ms=T0)).verdict is Verdict.EMIT
    assert throttle.key("/data_owner", "records:updated", 1) != key(throttle, "1")
    assert throttle.window_ms("records:updated") == W
    assert throttle.window_ms("resources:created") is None


async def test_keys_expire_on_their_own(throttle: Throttle, redis_url: str) -> None:
    client = Redis.from_url(redis_url)
    k = key(throttle)
    await throttle.decide(k, W, b"a", 1)  # Redis' own clock
    assert 0 < await client.pttl(k) <= W + 1000
    hold = await throttle.decide(k, W, b"b", 2)
    assert W < await client.pttl(k)  # a held notification outlives its window
    held = await throttle.take(k, now_ms=hold.window_end_ms)
    assert isinstance(held, Held)
    await throttle.flushed(k, held.version, W)
    assert 0 < await client.pttl(k) <= W + 1000
    await client.aclose()


async def test_trailing_job_before_its_window_ends_finds_not_yet(throttle: Throttle) -> None:
    k = key(throttle)
    await throttle.decide(k, W, b"a", 1, now_ms=T0)
    await throttle.decide(k, W, b"b", 2, now_ms=T0 + 10)
    early = await throttle.take(k, now_ms=T0 + W - 30)
    assert early == NotYet(T0 + W, T0 + W - 30) and early.delay_ms == 30
    held = await throttle.take(k, now_ms=T0 + W)
    assert isinstance(held, Held) and held.encoded == b"b"
