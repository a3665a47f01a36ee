"""Local delivery of logged notifications: each one, as it arrives on the adapter channel
(or from the log, when catching up), goes to this pod's sockets in its rooms, with its
offset as the event's last argument (Socket.IO connection state recovery).

Every pod, the one that appended included, delivers from the channel, where Redis hands
out messages in offset order: so this pod's deliveries are in offset order, and
`watermark` (the newest offset delivered) says that everything older has been seen
here. A new connection's position is the watermark; a reconnecting one is replayed from
the log while live deliveries to it are held back (`Held`), then merged by offset.

Per recipient the common case costs one dict lookup beyond the fast path's own work
(is it held back or without offsets?), and the frame is built once per notification.

What it relies on of python-socketio's manager (its rooms, `get_participants`) is
listed, pinned by hash, in seams/register.py.
"""

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.transport.fastpath import BroadcastFastPath, BroadcastPacket
from notification_log import LogMessage, Offset

logger = logging.getLogger(__name__)

# Live notifications held back for one recovering socket at most; past this the socket
# is closed (it reconnects and recovers from the log once more).
MAX_HELD = 10_000


def event_text(message: LogMessage, with_offset: bool) -> str:
    """The Socket.IO EVENT packet of a notification (python-socketio's encoding)."""
    namespace = "" if message.namespace == "/" else f"{message.namespace},"
    if with_offset:
        return f'2{namespace}{message.args_open},"{message.offset_text}"]'
    return f"2{namespace}{message.args_open}]"


def merge_replay(
    replayed: Iterable[LogMessage], waiting: Iterable[LogMessage], floor: Offset | None
) -> tuple[list[LogMessage], Offset | None]:
    """What a recovering socket is sent, in order: the replay (offset order, read from
    the log up to `floor`), then the live notifications that waited meanwhile, without
    those the replay had; and the offset up to which later live ones are skipped."""
    to_send = list(replayed)
    last = floor
    for message in to_send:
        if last is None or message.offset > last:
            last = message.offset
    for message in waiting:
        if last is None or message.offset > last:
            to_send.append(message)
            last = message.offset
    return to_send, last


@dataclass(slots=True)
class Held:
    """A recovering socket: live notifications wait in `buffer` until its replay is
    queued; then, until the pod has delivered everything up to `floor` (the log's newest
    offset when the replay was read), live ones at or before `floor` are skipped, since
    the replay had them. Only a client that presented a pid is held, so its events always
    carry offsets."""

    eio_sid: str
    buffer: list[LogMessage] | None = field(default_factory=list)
    floor: Offset | None = None


class LocalDelivery:
    def __init__(
        self, engineio_server: Any, manager: Any, close: Callable[[str], None]
    ) -> None:
        """`close(eio_sid)` sends a client away (it reconnects), e.g. one held back too
        long."""
        self._eio = engineio_server
        self._manager = manager
        self._close = close
        self.fast_path: BroadcastFastPath | None = None
        # False when recovery is off: no event carries an offset.
        self.with_offsets = True
        self.watermark: Offset | None = None
        self.epoch: str | None = None
        # Keyed by Socket.IO sid (one per namespace of a connection).
        self.held: dict[str, Held] = {}
        # (floor, sid) of held sockets whose replay is queued, earliest floor first: each
        # goes live once the watermark reaches its floor (a heap: one comparison per
        # delivered notification, not a scan of every held socket).
        self._settling: list[tuple[Offset, str]] = []
        self.without_offsets: set[str] = set()

    def deliver(self, message: LogMessage) -> None:
        """Hand `message` to its local recipients now (no await: nothing interleaves)."""
        if message.namespace in self._manager.rooms:
            participants = self._manager.get_participants(message.namespace, message.rooms)
            plain: list[str] = []
            packet = BroadcastPacket(event_text(message, self.with_offsets))
            recipients = self._live(participants, message, plain)
            if self.fast_path is not None:
                self.fast_path.deliver(recipients, packet)
            else:
                self._queue_all(recipients, packet)
            if plain:
                self._queue_all(plain, BroadcastPacket(event_text(message, False)))
        self.watermark = message.offset
        settling = self._settling
        while settling and settling[0][0] <= message.offset:
            _, sid = heapq.heappop(settling)
            state = self.held.get(sid)
            if state is not None and state.buffer is None:
                del self.held[sid]

    def _live(
        self, participants: Iterable[tuple[str, str]], message: LogMessage, plain: list[str]
    ) -> Iterator[str]:
        held, without_offsets = self.held, self.without_offsets
        for sid, eio_sid in participants:
            if held and sid in held:
                self._offer(held[sid], message)
            elif without_offsets and sid in without_offsets:
                plain.append(eio_sid)
            else:
                yield eio_sid

    def _queue_all(self, eio_sids: Iterable[str], packet: BroadcastPacket) -> None:
        sockets = self._eio.sockets
        for eio_sid in eio_sids:
            socket = sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                socket.queue.put_nowait(packet)

    def _offer(self, state: Held, message: LogMessage) -> None:
        if state.buffer is not None:
            if len(state.buffer) >= MAX_HELD:
                logger.warning("too many notifications held for a recovering client; closing")
                self._close(state.eio_sid)
                return
            state.buffer.append(message)
        elif state.floor is None or message.offset > state.floor:
            self._queue(state, message)

    def _queue(self, state: Held, message: LogMessage) -> None:
        socket = self._eio.sockets.get(state.eio_sid)
        if socket is not None and not socket.closed:
            socket.queue.put_nowait(BroadcastPacket(event_text(message, True)))

    def hold(self, sid: str, eio_sid: str) -> None:
        """From now on, live notifications to `sid` wait for its replay."""
        self.held[sid] = Held(eio_sid)

    def replay(self, sid: str, messages: Iterable[LogMessage], floor: Offset | None) -> None:
        """Queue `messages` (the replay, in offset order; none when it failed) to `sid`,
        then the live ones that waited, without those the replay had (at or before
        `floor`); then `sid` goes live once the pod has delivered past `floor`."""
        state = self.held.get(sid)
        if state is None:
            return
        to_send, state.floor = merge_replay(messages, state.buffer or [], floor)
        state.buffer = None
        for message in to_send:
            self._queue(state, message)
        if state.floor is None or (self.watermark is not None and self.watermark >= state.floor):
            del self.held[sid]
        else:
            heapq.heappush(self._settling, (state.floor, sid))

    def forget(self, sid: str) -> None:
        self.held.pop(sid, None)
        self.without_offsets.discard(sid)
