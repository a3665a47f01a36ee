"""Decode and validate a job's thin payload (CONTRACT §2) into a `Notification`.

Every check names the field it rejects, because the reason becomes the job's
`failedReason` and is what a producer's developer reads first.
"""

import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.notification import Notification

REASON_PREFIX = "invalid notification: "
MAX_EVENT_NAME_LENGTH = 128
MAX_ROOMS = 1000
MAX_ID_LENGTH = 256
# Names the Socket.IO client reserves for itself; emitting them would confuse every client.
RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
_ROOM = re.compile(r"^(user|department):[^\s:][^\s]{0,255}$")
# Stable across attempts of the same job: derived from where the job lives, never random.
_TRACE_NAMESPACE = uuid.UUID("6f1d0c3e-2b5a-4c8e-9f47-1a2b3c4d5e6f")


class InvalidNotification(ValueError):
    """The job can never succeed; it is failed without retry."""

    def __init__(self, problem: str) -> None:
        super().__init__(REASON_PREFIX + problem)


class NotificationDecoder:
    def __init__(self, namespaces: Iterable[str], max_payload_bytes: int, prefix: str) -> None:
        self._namespaces = frozenset(namespaces)
        self._max_payload_bytes = max_payload_bytes
        self._prefix = prefix

    def decode(
        self, queue: str, job_id: str, event: object, body: object, created_at_ms: int
    ) -> Notification:
        event_name = _event_name(event)
        if not isinstance(body, dict):
            raise InvalidNotification(f"job data must be a JSON object, got {_kind(body)}")
        self._check_size(body)
        namespace = body.get("namespace")
        if namespace not in self._namespaces:
            raise InvalidNotification(
                f"namespace {_short(namespace)} is not one of {sorted(self._namespaces)}"
            )
        resource_id = _resource_id(body.get("id"))
        data = _optional_object(body, "data")
        metadata = dict(_optional_object(body, "metadata"))
        _optional_string(metadata, "trace_id")
        _optional_string(metadata, "timestamp")
        if "trace_id" not in metadata:
            metadata["trace_id"] = self.trace_id(queue, job_id, created_at_ms)
        if "timestamp" not in metadata:
            metadata["timestamp"] = iso_timestamp(created_at_ms)
        return Notification(
            queue=queue,
            event=event_name,
            namespace=namespace,
            rooms=_rooms(body.get("rooms")),
            resource_id=resource_id,
            payload={"id": resource_id, "data": data, "metadata": metadata},
            created_at_ms=created_at_ms,
        )

    def trace_id(self, queue: str, job_id: str, created_at_ms: int) -> str:
        return str(uuid.uuid5(_TRACE_NAMESPACE, f"{self._prefix}:{queue}:{job_id}:{created_at_ms}"))

    def _check_size(self, body: dict[Any, Any]) -> None:
        try:
            size = len(orjson.dumps(body))
        except (orjson.JSONEncodeError, TypeError) as error:
            raise InvalidNotification(f"job data cannot be encoded as JSON ({error})") from None
        if size > self._max_payload_bytes:
            raise InvalidNotification(
                f"job data is {size} bytes, more than MAX_PAYLOAD_BYTES ({self._max_payload_bytes})"
            )


def iso_timestamp(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


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
        if not isinstance(room, str) or not _ROOM.match(room):
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
