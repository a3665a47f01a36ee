"""Queue precedence (consumers/precedence.py): the gates alone, on a real event loop."""

import asyncio

import pytest

from consumers.precedence import Permit, Precedence, QueueGate


async def settle() -> None:
    """Let every task that can run, run (a few loop turns; nothing here sleeps)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def working_slot(permit: Permit, steps: int, done: asyncio.Event) -> None:
    """A slot that passes `steps` checkpoints, waiting on `done` between them."""
    for _ in range(steps):
        await permit.checkpoint()
        await done.wait()
    permit.release()


def two_queues(share: float = 0.125, linger: float = 0.0) -> tuple[QueueGate, QueueGate]:
    precedence = Precedence(share, linger)
    return precedence.gate("critical", 32), precedence.gate("batch", 8)


def test_the_share_is_rounded_down_but_never_below_one() -> None:
    precedence = Precedence(0.125)
    assert precedence.gate("a", 8).share == 1
    assert precedence.gate("b", 3).share == 1
    assert precedence.gate("c", 32).share == 4
    assert Precedence(1.0).gate("d", 8).share == 8
    with pytest.raises(ValueError, match="min_share"):
        Precedence(0.0)


async def test_a_later_queue_keeps_only_its_share_while_an_earlier_one_is_busy() -> None:
    critical, batch = two_queues()
    assert batch.limit == 8
    critical.set_busy(True)
    assert batch.yielding and batch.limit == 1
    assert not critical.yielding and critical.limit == 32
    critical.set_busy(False)
    assert not batch.yielding and batch.limit == 8


async def test_working_slots_stop_at_their_next_step_and_resume_when_it_is_idle() -> None:
    critical, batch = two_queues()
    step = asyncio.Event()
    permits = [batch.permit() for _ in range(4)]
    slots = [asyncio.create_task(working_slot(p, 3, step)) for p in permits]
    await settle()
    assert batch.working == 4  # all took a place at their first step
    critical.set_busy(True)
    step.set()  # each finishes its step and reaches its next checkpoint
    step.clear()
    await settle()
    assert batch.working == 1, "over the share, slots give their place back"
    assert batch.yields == 3
    assert sum(p.held for p in permits) == 1
    critical.set_busy(False)
    await settle()
    assert batch.working == 4
    step.set()
    await asyncio.wait_for(asyncio.gather(*slots), 5)
    assert batch.working == 0


async def test_a_slot_without_a_place_waits_and_one_that_ends_passes_its_place_on() -> None:
    critical, batch = two_queues()
    critical.set_busy(True)
    first, second = batch.permit(), batch.permit()
    await first.checkpoint()
    waiting = asyncio.create_task(second.checkpoint())
    await settle()
    assert not waiting.done() and not second.held
    first.release()  # its chain of jobs ended: the queue it waits on drained
    await asyncio.wait_for(waiting, 5)
    assert second.held and batch.working == 1


async def test_a_queue_stays_busy_for_the_linger_after_its_last_job() -> None:
    critical, batch = two_queues(linger=0.05)
    critical.set_busy(True)
    critical.set_busy(False)
    assert critical.busy and batch.yielding  # between two jobs of a steady stream
    critical.set_busy(True)  # the next one came within the linger
    critical.set_busy(False)
    async with asyncio.timeout(5):
        while batch.yielding:
            await asyncio.sleep(0.01)
    assert not critical.busy


async def test_the_third_queue_yields_to_either_of_the_first_two() -> None:
    precedence = Precedence(0.25)
    first, second, third = (precedence.gate(name, 8) for name in ("a", "b", "c"))
    second.set_busy(True)
    assert not first.yielding and second.yielding is False and third.limit == 2
    second.set_busy(False)
    first.set_busy(True)
    assert second.limit == 2 and third.limit == 2
    first.set_busy(False)
    assert third.limit == 8


async def test_closing_lets_every_waiting_slot_through() -> None:
    critical, batch = two_queues()
    critical.set_busy(True)
    holder = batch.permit()
    await holder.checkpoint()
    waiters = [asyncio.create_task(batch.permit().checkpoint()) for _ in range(3)]
    await settle()
    assert not any(w.done() for w in waiters)
    batch.open_all()
    await asyncio.wait_for(asyncio.gather(*waiters), 5)
    await batch.permit().checkpoint()  # and every later one


async def test_a_cancelled_waiter_leaves_no_place_taken() -> None:
    critical, batch = two_queues()
    critical.set_busy(True)
    holder, other = batch.permit(), batch.permit()
    await holder.checkpoint()
    cancelled = asyncio.create_task(batch.permit().checkpoint())
    waiting = asyncio.create_task(other.checkpoint())
    await settle()
    cancelled.cancel()
    holder.release()  # hands the place to the first in line, which is being cancelled
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await asyncio.wait_for(waiting, 5)
    assert batch.working == 1 and other.held
