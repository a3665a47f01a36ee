"""The cross-pod Socket.IO client manager on Redis pub/sub, with the notification log.

Notifications are appended to the log and published to every pod in one Lua call
(`publish_notification`); a failure raises `AdapterPublishError`, so the job that
asked for the emit fails and BullMQ retries it. Every pod, this one included, delivers
them from the channel in offset order (gateway/realtime/delivery.py). When the subscription is
re-established (a Redis restart or failover), the pod first catches up from the log,
by offset, for the rooms of its local sockets, so nothing published meanwhile is
missed; if the log can't say (it was lost, or the gap is too old), the pod's clients
are sent away to reconnect, and their recovery tells them to reload.

Other messages on the channel are python-socketio's own JSON (its write-only emitters,
`server.emit`), filtered by `host_id` and delivered through `FastPathManager.emit`
(gateway/realtime/local_emit.py), the next class in `RedisAdapter`'s MRO; binary ones take
python-socketio's own path, since the fast path encodes JSON only.

What it overrides and relies on of python-socketio's pub/sub manager is listed, pinned
by hash, in seams/register.py.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError
from socketio.async_pubsub_manager import AsyncPubSubManager

from config import RecoverySettings
from gateway.realtime.delivery import LocalDelivery
from gateway.realtime.local_emit import ORDINARY_PATH, FastPathManager
from gateway.realtime.room_routing import RoomRouting, SubscriberFactory
from gateway.transport.closing import close_transport, open_sessions
from jobformat import Notification
from notification_log import LogMessage, NotificationLog, Offset, ReadStatus, is_log_message
from notification_log.keys import room_channel

logger = logging.getLogger(__name__)

DEFAULT_CHANNEL = "socketio"
# The rooms notifications go to (a socket's others are python-socketio's sid rooms).
_JOB_ROOMS = ("user:", "department:")
# Rooms read from the log in one call when catching up.
_CATCH_UP_ROOMS = 200
_CATCH_UP_MAX = 100_000
# A lost subscription is tried again after 0.1 s, doubling to every 0.5 s: the steps of
# the pod's Redis clients, so a failover's new master is subscribed to within 0.5 s.
_RESUBSCRIBE_FIRST_DELAY = 0.1
_RESUBSCRIBE_MAX_DELAY = 0.5


class AdapterPublishError(RuntimeError):
    """The emit reached local sockets but could not be published to the other pods."""


class RedisAdapter(AsyncPubSubManager, FastPathManager):  # type: ignore[misc]
    name = "gateway-redis"

    def __init__(
        self,
        client_factory: Callable[[], "Redis"],
        prefix: str,
        recovery: RecoverySettings,
        channel: str = DEFAULT_CHANNEL,
        subscriber_factory: Callable[[], "Redis"] | None = None,
        *,
        by_room: bool = False,
        room_subscriber_factory: SubscriberFactory | None = None,
    ) -> None:
        """`subscriber_factory` makes the subscription's client: one without retries,
        so a lost connection reaches `_listen` (which catches up from the log) instead
        of redis-py resubscribing silently and skipping what was published meanwhile.

        `by_room`: notifications are published on their rooms' sharded channels
        (GATEWAY_ADAPTER_ROUTING=room, the same on every pod); a pod that holds clients
        then subscribes to its rooms' channels with `room_subscriber_factory`
        (gateway/realtime/room_routing.py). The one channel still carries
        python-socketio's own messages."""
        super().__init__(channel=channel)
        self._client_factory = client_factory
        self._subscriber_factory = subscriber_factory or client_factory
        self._publisher: Redis = client_factory()
        self._prefix = prefix
        self.log = NotificationLog(
            self._publisher,
            prefix,
            channel,
            recovery.retention_seconds,
            recovery.max_entries,
            by_room=by_room,
        )
        # Set by gateway.realtime.server.build_socketio_server, which has the engineio server.
        self.delivery: LocalDelivery | None = None
        self.subscribed = asyncio.Event()
        self.room_routing: RoomRouting | None = None
        if by_room and room_subscriber_factory is not None:
            self.room_routing = RoomRouting(
                room_subscriber_factory,
                self._deliver,
                self._catch_up,
                self._log_last,
                self._send_clients_away,
            )

    @property
    def delivering(self) -> bool:
        """Every subscription this pod needs is established (readiness)."""
        routing = self.room_routing
        return self.subscribed.is_set() and (routing is None or routing.intact.is_set())

    def room_channel(self, namespace: str, room: str) -> bytes | None:
        """The sharded channel of a notification room (None for others: sid rooms)."""
        if isinstance(room, str) and room.startswith(_JOB_ROOMS):
            return room_channel(self._prefix, namespace, room).encode()
        return None

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        """python-socketio's, and with routing by room, the room's channel is held from
        its first local socket on."""
        routing = self.room_routing
        known = routing is not None and room in self.rooms.get(namespace, ())
        super().basic_enter_room(sid, namespace, room, eio_sid)
        if routing is not None and not known:
            channel = self.room_channel(namespace, room)
            if channel is not None:
                routing.hold(channel)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        """python-socketio's (also called for each room on a disconnect), and with
        routing by room, the room's channel is released with its last local socket."""
        routing = self.room_routing
        known = routing is not None and room in self.rooms.get(namespace, ())
        super().basic_leave_room(sid, namespace, room)
        if routing is not None and known and room not in self.rooms.get(namespace, ()):
            channel = self.room_channel(namespace, room)
            if channel is not None:
                routing.release(channel)

    async def wait_rooms(
        self, namespace: str, rooms: tuple[str, ...], within: float
    ) -> Offset | None:
        """With routing by room: until the rooms' subscriptions are confirmed; the log's
        newest offset when one was subscribed just now (see RoomRouting.wait_rooms).
        Raises `RoomsUnavailable`. Without: None at once."""
        routing = self.room_routing
        if routing is None:
            return None
        channels = [c for room in rooms if (c := self.room_channel(namespace, room))]
        return await routing.wait_rooms(channels, within)

    async def _log_last(self) -> Offset:
        return (await self.log.position()).last

    async def publish_notification(self, notification: Notification) -> None:
        """Log and publish `notification`; every pod's sockets in its rooms get it."""
        args_open = orjson.dumps([notification.event, notification.payload])[:-1].decode()
        try:
            await self.log.append(notification.namespace, notification.rooms, args_open)
        except (RedisError, OSError) as error:
            raise AdapterPublishError(f"cannot publish to the adapter channel: {error}") from error

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        if message.get("binary"):
            # python-socketio rebuilt the bytes; its own path encodes them as
            # attachments (the fast path's JSON can't).
            token = ORDINARY_PATH.set(True)
            try:
                await super()._handle_emit(message)
            finally:
                ORDINARY_PATH.reset(token)
        else:
            await super()._handle_emit(message)

    async def _publish(self, data: Any) -> None:
        try:
            await self._publisher.publish(self.channel, self.json.dumps(data))
        except (RedisError, OSError) as error:
            raise AdapterPublishError(f"cannot publish to the adapter channel: {error}") from error

    def _own_emit_marks(self) -> tuple[bytes, bytes]:
        """How this pod's own published emits begin and end, in the JSON `_publish` writes
        (python-socketio's message dict: `method` first, `host_id` last)."""
        start = self.json.dumps({"method": "emit"})[:-1]
        end = self.json.dumps({"host_id": self.host_id})[1:]
        return start.encode(), end.encode()

    async def _listen(self) -> AsyncIterator[bytes]:
        # Notifications (ours: they start with their offset) are delivered here, this
        # pod's own included, in the channel's order. python-socketio's own messages go
        # on to its listener, except this pod's own emits, which it already delivered
        # locally: python-socketio would decode each only to drop it for its host_id, so
        # they are recognised by their bytes instead. Callbacks and other methods still
        # go through.
        own_start, own_end = self._own_emit_marks()
        delay = _RESUBSCRIBE_FIRST_DELAY
        while True:
            client = self._subscriber_factory()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                if self.room_routing is None:
                    await self._catch_up()
                else:
                    await self._start_room_routing(self.room_routing)
                self.subscribed.set()
                delay = _RESUBSCRIBE_FIRST_DELAY
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    data = message["data"]
                    if is_log_message(data):
                        self._deliver(data)
                    elif not (data.endswith(own_end) and data.startswith(own_start)):
                        yield data
            except Exception as error:
                self.subscribed.clear()
                if not isinstance(error, RedisError | OSError):
                    logger.exception("adapter listener failed; resubscribing")
                logger.error("adapter subscription lost (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RESUBSCRIBE_MAX_DELAY)
            finally:
                await _close_quietly(pubsub, client)

    async def _start_room_routing(self, routing: RoomRouting) -> None:
        """Once: the log's position, then the room subscriptions (none can have
        delivered anything yet, so the watermark starts at the log's newest offset)."""
        delivery = self.delivery
        if delivery is None:
            return
        if delivery.epoch is None:
            delivery.epoch, delivery.watermark = await self.log.position()
        routing.start()

    def _deliver(self, data: bytes) -> None:
        delivery = self.delivery
        message = LogMessage.parse(data)
        if delivery is None or message is None:
            return
        watermark = delivery.watermark
        if watermark is None or message.offset > watermark:  # else: had it from the log
            delivery.deliver(message)

    async def _catch_up(self) -> None:
        """Right after (re)subscribing, before reading the channel (or, routing by room,
        once every room channel is confirmed again, live messages held back meanwhile):
        what was published while this pod was not subscribed, from the log, for its
        local rooms."""
        delivery = self.delivery
        if delivery is None:
            return
        position = await self.log.position()
        if delivery.watermark is None or delivery.epoch is None:
            delivery.epoch, delivery.watermark = position  # the first subscription
            return
        if position.epoch != delivery.epoch:
            logger.warning("the notification log was lost; clients reconnect to resync")
            delivery.epoch, delivery.watermark = position
            await self._send_clients_away()
            return
        if not self.log.retention_ms or position.last <= delivery.watermark:
            delivery.watermark = max(position.last, delivery.watermark)
            return
        await self._replay_missed(delivery, position.last)

    async def _replay_missed(self, delivery: LocalDelivery, last: Offset) -> None:
        start, epoch = delivery.watermark, delivery.epoch
        assert start is not None and epoch is not None
        missed: dict[Offset, LogMessage] = {}
        for namespace, rooms in self._local_rooms().items():
            for i in range(0, len(rooms), _CATCH_UP_ROOMS):
                read = await self.log.read(
                    namespace, rooms[i : i + _CATCH_UP_ROOMS], epoch, start, _CATCH_UP_MAX
                )
                if read.status is not ReadStatus.OK:
                    logger.warning("cannot catch up from the log (%s); clients resync", read.status)
                    delivery.watermark = max(last, read.last)
                    await self._send_clients_away()
                    return
                last = min(last, read.last)
                missed.update((m.offset, m) for m in read.messages)
        for offset in sorted(missed):
            if offset <= last:
                delivery.deliver(missed[offset])
        logger.info("caught up %d notifications from the log", len(missed))
        delivery.watermark = max(last, delivery.watermark or last)

    def _local_rooms(self) -> dict[str, list[str]]:
        return {
            namespace: [
                room for room in rooms if isinstance(room, str) and room.startswith(_JOB_ROOMS)
            ]
            for namespace, rooms in self.rooms.items()
        }

    async def _send_clients_away(self) -> None:
        eio = self.server.eio
        for eio_sid in open_sessions(eio):
            await close_transport(eio, eio_sid)

    async def close(self) -> None:
        """Stop listening and release the clients; idempotent."""
        thread = getattr(self, "thread", None)
        if thread is not None and not thread.done():
            thread.cancel()
            await asyncio.gather(thread, return_exceptions=True)
        self.subscribed.clear()
        if self.room_routing is not None:
            await self.room_routing.close()
        await self._publisher.aclose()


async def _close_quietly(pubsub: Any, client: "Redis") -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (RedisError, OSError) as error:
        logger.debug("closing the adapter subscription: %s", error)
