"""One timer for every connection's token expiry (gateway/transport/expiry.py)."""

import asyncio

from gateway.transport.expiry import ExpiryTimers


async def test_fires_each_key_once_in_deadline_order_unless_removed() -> None:
    fired: list[str] = []
    all_fired = asyncio.Event()

    def expired(key: str) -> None:
        fired.append(key)
        if len(fired) == 3:
            all_fired.set()

    timers = ExpiryTimers(expired)
    timers.add("late", 0.15)
    timers.add("gone", 0.05)
    timers.add("early", 0.02)
    timers.add("moved", 0.01)
    timers.add("moved", 0.1)  # re-added: only the new deadline counts
    assert timers.remove("gone") and not timers.remove("never-added")
    await asyncio.wait_for(all_fired.wait(), 2)
    assert fired == ["early", "moved", "late"]
    assert len(timers) == 0


async def test_an_earlier_deadline_rearms_the_timer() -> None:
    fired = asyncio.get_running_loop().create_future()
    timers = ExpiryTimers(fired.set_result)
    timers.add("in-an-hour", 3600)
    timers.add("soon", 0.01)
    assert await asyncio.wait_for(fired, 2) == "soon"
    assert len(timers) == 1
    timers.close()
    assert len(timers) == 0
