"""Routing by room: the pod receives only the notifications of the rooms it holds.

With `GATEWAY_ADAPTER_ROUTING=room` the log's append publishes each notification on the
sharded channel (`SPUBLISH`) of every target room (`notification_log.keys.room_channel`),
and a pod subscribes (`SSUBSCRIBE`, through `roomcast.RoomSubscriber`) to a room's channel
from the moment its first local socket enters the room until the last one leaves it (a
few seconds later, so a reconnect storm does not unsubscribe and subscribe again).

Every room channel carries the queue prefix, so on a Redis Cluster they all live in the
log's slot, on one master, and reach the pod over one connection in the order the appends
ran: the pod's deliveries stay in offset order and one offset still says where a client
is (docs/cluster.md). What this module keeps exact:

- **No window on a new room.** A connect waits until its rooms' subscriptions are
  confirmed (`wait_rooms`); a room subscribed just now has delivered nothing here before,
  so the connection's position is then read from the log, not taken from the pod's
  watermark, and a later recovery starts no earlier than what the socket could have got.
- **No window on a lost subscription.** When subscriptions are interrupted (the master's
  connection lost or stalled, a failover, a slot moved), live messages are held back from
  then on; once every wanted channel is confirmed again, the pod catches up from the log
  for its local rooms after its watermark (the adapter's `catch_up`, as after the one
  channel's resubscribe), then delivers what was held, dropping what the log already had.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from redis.exceptions import RedisError

from notification_log import Offset
from roomcast import RoomSubscriber

logger = logging.getLogger(__name__)

# Live messages held back while the pod catches up; past this the pod stops holding and
# sends its clients away (they reconnect and recover from the log).
MAX_HELD_MESSAGES = 100_000
# A catch-up that fails (Redis not answering) is tried again after this, while the
# subscriptions stay established.
CATCH_UP_RETRY_SECONDS = 0.5

# (on_message, on_established, on_interrupted, on_released) -> the subscriber
SubscriberFactory = Callable[
    [
        Callable[[bytes, bytes], None],
        Callable[[list[bytes]], None],
        Callable[[list[bytes]], None],
        Callable[[list[bytes]], None],
    ],
    RoomSubscriber,
]


class RoomsUnavailable(RuntimeError):
    """A connection's rooms could not be subscribed within the deadline."""


class RoomRouting:
    def __init__(
        self,
        subscriber_factory: SubscriberFactory,
        deliver: Callable[[bytes], None],
        catch_up: Callable[[], Awaitable[None]],
        position: Callable[[], Awaitable[Offset]],
        send_clients_away: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        """`deliver(message)` hands a live message on (dropping what the watermark has);
        `catch_up()` reads what the pod's local rooms got after its watermark and
        delivers it; `position()` is the log's newest offset."""
        self.subscriber = subscriber_factory(
            self._on_message, self._on_established, self._on_interrupted, self._on_released
        )
        self._deliver = deliver
        self._catch_up = catch_up
        self._position = position
        self._send_clients_away = send_clients_away
        # Not None while the pod catches up: the live messages that wait meanwhile.
        self._held: list[bytes] | None = None
        # The channels whose subscription was lost since the last catch-up began: the
        # next one runs once each is established again or no longer wanted. Channels
        # subscribed for the first time meanwhile need none (their sockets start from
        # the log's position), so they do not hold it up.
        self._interrupted: set[bytes] = set()
        self._catching_up: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Set while nothing is interrupted (readiness).
        self.intact = asyncio.Event()
        self.intact.set()

    def start(self) -> None:
        self.subscriber.start()

    # -- what the pod holds ---------------------------------------------------------------

    def hold(self, channel: bytes) -> None:
        self.subscriber.add((channel,))

    def release(self, channel: bytes) -> None:
        self.subscriber.discard((channel,))

    async def wait_rooms(self, channels: Iterable[bytes], within: float) -> Offset | None:
        """Until the subscriptions of `channels` (held by the caller) are confirmed and
        any catch-up is done; then, if one of them was subscribed just now, the log's
        newest offset (the connection's position), else None. Raises `RoomsUnavailable`.

        The position is read, then a `PING` goes down the subscription's connection:
        once it is answered, every message up to the position has been handed on here
        (so the socket has it queued, before its CONNECT reply) or was published before
        the room was subscribed; a recovery from the position then misses nothing."""
        wanted = set(channels)
        fresh = not wanted <= self.subscriber.established
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.subscriber.wait_established(wanted)
                    await self.intact.wait()
                    if not fresh:
                        return None
                    position = await self._position()
                    try:
                        await self.subscriber.barrier(wanted)
                    except OSError:
                        continue  # lost meanwhile: established again, then once more
                    if self.intact.is_set():
                        return position
        except (TimeoutError, RedisError, OSError) as error:
            raise RoomsUnavailable(f"room subscriptions not confirmed: {error!r}") from error

    # -- what the subscriber reports --------------------------------------------------------

    def _on_message(self, channel: bytes, data: bytes) -> None:
        held = self._held
        if held is None:
            self._deliver(data)
        elif len(held) < MAX_HELD_MESSAGES:
            held.append(data)
        else:
            logger.warning("too many notifications held while catching up; clients resync")
            self._held = []
            self._spawn(self._send_clients_away())

    def _on_interrupted(self, channels: list[bytes]) -> None:
        self._interrupted.update(channels)
        if self._held is None:
            logger.warning("%d room subscriptions interrupted; holding back", len(channels))
            self._held = []
            self.intact.clear()

    def _on_established(self, channels: list[bytes]) -> None:
        self._maybe_catch_up()

    def _on_released(self, channels: list[bytes]) -> None:
        self._maybe_catch_up()  # the last one it waited for may be no longer wanted

    def _awaiting(self) -> bool:
        """Some lost subscription is still wanted and not established again."""
        subscriber = self.subscriber
        return any(
            subscriber.wanted(name) and name not in subscriber.established
            for name in self._interrupted
        )

    def _maybe_catch_up(self) -> None:
        if self._held is not None and self._catching_up is None and not self._awaiting():
            self._catching_up = self._spawn(self._resume())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> "asyncio.Task[None]":
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _resume(self) -> None:
        self._interrupted = set()  # all back (or unwanted); a loss from now on adds anew
        try:
            while True:
                try:
                    await self._catch_up()
                    break
                except Exception as error:  # Redis away, or a bug: never stay held
                    if not isinstance(error, RedisError | OSError):
                        logger.exception("catching up from the log failed; retrying")
                    logger.warning("catching up from the log failed (%s); retrying", error)
                    await asyncio.sleep(CATCH_UP_RETRY_SECONDS)
            held, self._held = self._held or [], None
            for data in held:
                self._deliver(data)
            logger.info("room subscriptions resumed; %d held notifications", len(held))
        finally:
            self._catching_up = None
        if self._interrupted:  # lost again meanwhile: hold from here, catch up once more
            self._held = []
            self._maybe_catch_up()
        else:
            self.intact.set()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.subscriber.close()
