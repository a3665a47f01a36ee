"""Decode and validate a job's thin payload (CONTRACT §2) into a `Notification`.

Every check names the field it rejects, because the reason becomes the job's
`failedReason` and is what a producer's developer reads first.
"""

import functools
import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

import orjson

from jobformat.notification import Notification

REASON_PREFIX = "invalid notification: "
MAX_EVENT_NAME_LENGTH = 128
MAX_ROOMS = 1000
MAX_ID_LENGTH = 256
# Names the Socket.IO client reserves for itself; emitting them would confuse every client.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
# Matched with fullmatch: `$` alone also matches before a final "\n" ("user:1\n").
_ROOM = re.compile(r"(user|department):[^\s:][^\s]{0,255}")
# The metrics label of a job whose name is not a valid event name: a producer's junk
# must not become label values (unbounded series, or text /metrics cannot encode).
INVALID_EVENT_LABEL = "<invalid>"
# Stable across attempts of the same job: derived from where the job lives, never random.
_TRACE_NAMESPACE = uuid.UUID("6f1d0c3e-2b5a-4c8e-9f47-1a2b3c4d5e6f")
_TRACE_HASH = hashlib.sha1(_TRACE_NAMESPACE.bytes, usedforsecurity=False)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class InvalidNotification(ValueError):
    """The job can never succeed; it is failed without retry."""

    def __init__(self, problem: str) -> None:
        super().__init__(REASON_PREFIX + problem)


@dataclass(frozen=True, slots=True)
class UnreadableJob:
    """Stands in for the data of a job whose hash BullMQ could not read (data or opts
    that are not JSON, a timestamp that is not an integer): decoding it fails, so the job
    fails at once, without retry (consumers/unreadable.py)."""

    problem: str


class PayloadTooLarge(InvalidNotification):
    """The job data, encoded as JSON, is larger than MAX_PAYLOAD_BYTES."""

    def __init__(self, size: int, limit: int, detail: str = "") -> None:
        super().__init__(
            f"job data is {size} bytes, more than MAX_PAYLOAD_BYTES ({limit}){detail}"
        )
        self.size = size
        self.limit = limit


class _Checked(NamedTuple):
    event: str
    namespace: str
    resource_id: str | int
    data: dict[str, Any]
    metadata: dict[str, Any]
    rooms: tuple[str, ...]


class NotificationDecoder:
    def __init__(self, namespaces: Iterable[str], max_payload_bytes: int, prefix: str) -> None:
        self._namespaces = frozenset(namespaces)
        self._max_payload_bytes = max_payload_bytes
        self._prefix = prefix

    def decode(
        self, queue: str, job_id: str, event: object, body: object, created_at_ms: int
    ) -> Notification:
        checked = self._check(event, body)
        metadata = checked.metadata
        if "trace_id" not in metadata:
            metadata["trace_id"] = self.trace_id(queue, job_id, created_at_ms)
        if "timestamp" not in metadata:
            metadata["timestamp"] = _creation_time(created_at_ms)
        return Notification(
            queue=queue,
            event=checked.event,
            namespace=checked.namespace,
            rooms=checked.rooms,
            resource_id=checked.resource_id,
            payload={"id": checked.resource_id, "data": checked.data, "metadata": metadata},
            created_at_ms=created_at_ms,
        )

    def validate(self, event: object, body: object) -> None:
        """The checks of `decode`, without a job: producers run them before adding one."""
        self._check(event, body)

    def _check(self, event: object, body: object) -> _Checked:
        if isinstance(body, UnreadableJob):
            raise InvalidNotification(body.problem)
        event_name = _event_name(event)
        if not isinstance(body, dict):
            raise InvalidNotification(f"job data must be a JSON object, got {_kind(body)}")
        self._check_size(body)
        namespace = body.get("namespace")
        # isinstance first: a list or an object is unhashable, `in` would raise TypeError.
        if not isinstance(namespace, str) or namespace not in self._namespaces:
            raise InvalidNotification(
                f"namespace {_short(namespace)} is not one of {sorted(self._namespaces)}"
            )
        resource_id = _resource_id(body.get("id"))
        data = _optional_object(body, "data")
        metadata = dict(_optional_object(body, "metadata"))
        _optional_string(metadata, "trace_id")
        _optional_string(metadata, "timestamp")
        return _Checked(
            event_name, namespace, resource_id, data, metadata, _rooms(body.get("rooms"))
        )

    def trace_id(self, queue: str, job_id: str, created_at_ms: int) -> str:
        return uuid5_text(f"{self._prefix}:{queue}:{job_id}:{created_at_ms}")

    def _check_size(self, body: dict[Any, Any]) -> None:
        try:
            size = len(orjson.dumps(body))
        except (orjson.JSONEncodeError, TypeError) as error:
            raise InvalidNotification(f"job data cannot be encoded as JSON ({error})") from None
        if size > self._max_payload_bytes:
            raise PayloadTooLarge(size, self._max_payload_bytes)


def uuid5_text(name: str) -> str:
    """`str(uuid.uuid5(_TRACE_NAMESPACE, name))` at a third of the cost (once per job)."""
    digest = _TRACE_HASH.copy()
    digest.update(name.encode())
    raw = bytearray(digest.digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_ = raw.hex()
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


def iso_timestamp(epoch_ms: int) -> str:
    """ISO 8601 UTC with milliseconds; ValueError outside years 1 to 9999 (as datetime).
    The date is computed once per day: `strftime` cost as much as the rest of decoding."""
    seconds, millis = divmod(epoch_ms, 1000)
    days, second_of_day = divmod(seconds, 86400)
    hours, rest = divmod(second_of_day, 3600)
    minutes, second = divmod(rest, 60)
    return f"{_iso_date(days)}T{hours:02d}:{minutes:02d}:{second:02d}.{millis:03d}Z"


@functools.lru_cache(maxsize=8)
def _iso_date(days_since_epoch: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + days_since_epoch).isoformat()


def _creation_time(created_at_ms: int) -> str:
    """The job's creation time (BullMQ's `timestamp`, which a producer may set)."""
    try:
        return iso_timestamp(created_at_ms)
    except (ValueError, OverflowError, OSError):
        raise InvalidNotification(
            f"job timestamp {created_at_ms} (its creation time, in ms) is out of range"
        ) from None


def event_label(event: object) -> str:
    """The job name as a metrics label: the name itself only when it is a valid event."""
    try:
        return _event_name(event)
    except InvalidNotification:
        return INVALID_EVENT_LABEL


def _event_name(event: object) -> str:
    if not isinstance(event, str) or not event:
        raise InvalidNotification("job name (the event) must be a non-empty string")
    if len(event) > MAX_EVENT_NAME_LENGTH or not event.isprintable():
        raise InvalidNotification(
            f"job name (the event) must be printable and at most {MAX_EVENT_NAME_LENGTH} characters"
        )
    if event in RESERVED_EVENTS:
        raise InvalidNotification(f"job name {event!r} is reserved by Socket.IO")
    return event


def _resource_id(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidNotification(f"id must be a string or an integer, got {_kind(value)}")
    if isinstance(value, str) and not 0 < len(value) <= MAX_ID_LENGTH:
        raise InvalidNotification(f"id must be 1 to {MAX_ID_LENGTH} characters")
    return value


def _rooms(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidNotification(f"rooms must be a non-empty list, got {_kind(value)}")
    if len(value) > MAX_ROOMS:
        raise InvalidNotification(f"rooms has {len(value)} entries, more than {MAX_ROOMS}")
    for index, room in enumerate(value):
        if not isinstance(room, str) or not _ROOM.fullmatch(room):
            raise InvalidNotification(
                f"rooms[{index}] must look like user:<id> or department:<code>, got {_short(room)}"
            )
    return tuple(dict.fromkeys(value))


def _optional_object(body: dict[Any, Any], field: str) -> dict[str, Any]:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidNotification(f"{field} must be an object, got {_kind(value)}")
    return value


def _optional_string(metadata: dict[str, Any], field: str) -> None:
    value = metadata.get(field)
    if value is None:
        metadata.pop(field, None)
    elif not isinstance(value, str) or not value:
        raise InvalidNotification(
            f"metadata.{field} must be a non-empty string, got {_kind(value)}"
        )


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "nothing"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
