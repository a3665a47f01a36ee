"""One finished BullMQ job, as read from Redis, into one row of the archive.

Lenient where the gateway's decoder is strict: an invalid notification is part of the
audit trail too (it failed, and its `failedReason` says why), so every readable job
becomes a row. What does not fit the columns is kept verbatim in `job_data`: the whole
job data whenever it is not an envelope of the contract's shape (not a JSON object, a
field of another type, a field the contract does not name). Only a job whose creation
or finish time is unreadable is not archived (the row's key needs them); it is left in
Redis and counted.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from archiver.keys import FinishedState
from archiver.trace import gateway_trace_id

# The job hash fields the archiver reads (HMGET): nothing else is needed.
JOB_FIELDS = (
    "name", "data", "timestamp", "processedOn", "returnvalue", "failedReason",
    "atm", "attemptsMade",
)
_ENVELOPE = frozenset({"namespace", "rooms", "id", "data", "metadata"})
# timestamptz holds years up to 294276; a job time past 9999 is a producer's mistake.
_MAX_EPOCH_MS = 253_402_300_799_999
_MAX_INT4 = 2**31 - 1

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FinishedJob:
    queue: str
    state: FinishedState
    job_id: str
    # The job's score in its finished set: BullMQ's finishedOn, in ms.
    finished_ms: int
    fields: Mapping[str, str | None]


class Unreadable(ValueError):
    """The job cannot be archived; it stays in Redis."""


def to_row(prefix: str, job: FinishedJob) -> Row:
    """The row for `job`, as the JSON object `archiver/database.py` inserts.
    Raises `Unreadable` when the job's times cannot be read."""
    fields = job.fields
    created_ms = _epoch_ms(fields.get("timestamp"))
    if created_ms is None:
        raise Unreadable(f"timestamp {fields.get('timestamp')!r} is not a time in ms")
    if not 0 <= job.finished_ms <= _MAX_EPOCH_MS:
        raise Unreadable(f"finishedOn {job.finished_ms} is not a time in ms")
    row: Row = {
        "prefix": prefix,
        "queue": job.queue,
        "job_id": job.job_id,
        "event": fields.get("name") or "",
        "state": job.state,
        "attempts_made": _attempts(fields.get("atm") or fields.get("attemptsMade")),
        "created_ms": created_ms,
        "processed_ms": _epoch_ms(fields.get("processedOn")),
        "finished_ms": job.finished_ms,
        "return_value": _json_or_text(fields.get("returnvalue")),
        "failed_reason": fields.get("failedReason"),
    }
    row.update(_envelope(fields.get("data")))
    metadata = row.get("metadata")
    trace_id = metadata.get("trace_id") if isinstance(metadata, dict) else None
    if not isinstance(trace_id, str) or not trace_id:
        trace_id = gateway_trace_id(prefix, job.queue, job.job_id, created_ms)
    row["trace_id"] = trace_id
    return {key: value for key, value in row.items() if value is not None}


def encode_rows(rows: Iterable[Row]) -> str:
    """The rows as one JSON array for `jsonb_to_recordset`. PostgreSQL's text and jsonb
    cannot hold U+0000, which JSON can: such characters become U+FFFD (the only change
    the archive makes to what it stores)."""
    rows = list(rows)
    encoded = orjson.dumps(rows)
    if b"\\u0000" in encoded:
        encoded = orjson.dumps(_without_nul(rows))
    return encoded.decode()


def _envelope(text: str | None) -> Row:
    if text is None:
        return {}
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"job_data": text}
    if not isinstance(body, dict):
        return {"job_data": text}
    namespace, rooms, resource_id = body.get("namespace"), body.get("rooms"), body.get("id")
    data, metadata = body.get("data"), body.get("metadata")
    columns: Row = {
        "namespace": namespace if isinstance(namespace, str) else None,
        "rooms": rooms if _strings(rooms) else None,
        "resource_id": _resource_id(resource_id),
        "data": data if isinstance(data, dict) else None,
        "metadata": metadata if isinstance(metadata, dict) else None,
    }
    fits = body.keys() <= _ENVELOPE and all(
        columns[column] is not None or body.get(key) is None
        for column, key in (("namespace", "namespace"), ("rooms", "rooms"),
                            ("resource_id", "id"), ("data", "data"), ("metadata", "metadata"))
    )
    if not fits:
        columns["job_data"] = text
    return columns


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _resource_id(value: object) -> str | None:
    """The resource id as text: an integer id as its digits (the contract's two types)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _epoch_ms(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        try:
            number = int(float(value))  # BullMQ writes ms as integers; tolerate "1.0e12"
        except (ValueError, OverflowError):
            return None
    return number if 0 <= number <= _MAX_EPOCH_MS else None


def _attempts(value: str | None) -> int:
    try:
        return max(0, min(int(value or 0), _MAX_INT4))
    except ValueError:
        return 0


def _json_or_text(value: str | None) -> Any:
    """A return value as the JSON it is; one that is not JSON as a JSON string."""
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(key): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    return value
