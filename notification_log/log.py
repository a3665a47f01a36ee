"""Append to and read from the notification log (one Lua call each), and the message the
append publishes to every pod."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib.resources import files
from typing import Any, NamedTuple

from redis.asyncio import Redis

from notification_log.keys import (
    entries_key,
    epoch_key,
    floor_key,
    last_id_key,
    room_channel_start,
    room_key,
)
from notification_log.offsets import Offset, parse_offset

# How long a room's newest offset is kept: a client whose rooms got nothing since its
# position recovers from a position up to this old (notification_log/keys.py).
ROOM_LAST_MS = 24 * 3600 * 1000


def _script(name: str) -> str:
    return (files("notification_log") / "lua" / f"{name}.lua").read_text()


class ReadStatus(StrEnum):
    OK = "ok"
    RESET = "reset"
    AHEAD = "ahead"
    EXPIRED = "expired"
    TRIMMED = "trimmed"
    TOO_MANY = "too_many"


@dataclass(frozen=True, slots=True)
class LogMessage:
    """One notification as the log and the adapter channel carry it: the Socket.IO
    arguments are already JSON (`args_open`, without the closing bracket), so a pod
    adds the offset and frames it without decoding the payload."""

    offset: Offset
    offset_text: str
    namespace: str
    rooms: tuple[str, ...]
    args_open: str

    @classmethod
    def parse(cls, data: bytes) -> "LogMessage | None":
        """A message from the channel, or None if it is not one of ours."""
        try:
            offset_text, namespace, rooms, args_open = data.decode().split("\n", 3)
        except ValueError:  # too few parts, or not UTF-8
            return None
        offset = parse_offset(offset_text)
        if offset is None:
            return None
        return cls(offset, offset_text, namespace, tuple(rooms.split(" ")), args_open)


class Position(NamedTuple):
    epoch: str
    last: Offset


@dataclass(frozen=True, slots=True)
class LogRead:
    status: ReadStatus
    last: Offset
    epoch: str
    messages: Sequence[LogMessage] = ()


def is_log_message(data: bytes) -> bool:
    """Ours start with an offset's digit; python-socketio's own messages are JSON."""
    return data[:1].isdigit()


class NotificationLog:
    def __init__(
        self,
        client: "Redis",
        prefix: str,
        channel: str,
        retention_seconds: float,
        max_entries: int,
        by_room: bool = False,
    ) -> None:
        """`by_room`: publish each notification on its rooms' sharded channels
        (`keys.room_channel`) instead of on `channel`."""
        self._client = client
        self._by_room = by_room
        self._prefix = prefix
        self._channel = channel
        self.retention_ms = round(retention_seconds * 1000)
        self._max_entries = max_entries
        self._append = client.register_script(_script("append"))
        self._position = client.register_script(_script("position"))
        self._read = client.register_script(_script("read"))
        self._head = (last_id_key(prefix), epoch_key(prefix))

    def _keys(self, namespace: str, rooms: Sequence[str]) -> list[str]:
        return [
            *self._head,
            entries_key(self._prefix, namespace),
            floor_key(self._prefix, namespace),
            *(room_key(self._prefix, namespace, room) for room in rooms),
        ]

    async def append(self, namespace: str, rooms: Sequence[str], args_open: str) -> str:
        """Log and publish one notification; its offset. Raises RedisError when Redis
        can't be reached (nothing was published then, or everything was)."""
        # With recovery off the script touches only the head; the head's keys stand in
        # for the others, so every key is in the prefix's slot on a cluster.
        keys = self._keys(namespace, rooms) if self.retention_ms else [*self._head, *self._head]
        offset: Any = await self._append(
            keys,
            [
                self.retention_ms,
                self._max_entries,
                self._channel,
                namespace,
                " ".join(rooms),
                args_open,
                ROOM_LAST_MS,
                room_channel_start(self._prefix, namespace) if self._by_room else "",
            ],
        )
        return offset.decode() if isinstance(offset, bytes) else str(offset)

    async def position(self) -> Position:
        epoch, last = await self._position(list(self._head), [])
        return Position(_text(epoch), parse_offset(_text(last)) or Offset(0, 0))

    async def read(
        self,
        namespace: str,
        rooms: Sequence[str],
        epoch: str,
        start: Offset,
        max_entries: int,
    ) -> LogRead:
        """Every notification of `namespace` sent to any of `rooms` after `start`, each
        once and in offset order, if the log still holds all of them."""
        reply = await self._read(
            self._keys(namespace, rooms),
            [epoch, str(start), max_entries, ROOM_LAST_MS],
        )
        status, last, current_epoch = (_text(item) for item in reply[:3])
        messages = [
            LogMessage(
                parse_offset(offset_text) or Offset(0, 0),
                offset_text,
                namespace,
                tuple(_text(reply[i + 1]).split(" ")),
                _text(reply[i + 2]),
            )
            for i in range(3, len(reply), 3)
            for offset_text in (_text(reply[i]),)
        ]
        return LogRead(
            ReadStatus(status), parse_offset(last) or Offset(0, 0), current_epoch, messages
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
