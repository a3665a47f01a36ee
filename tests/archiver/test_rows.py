"""A finished job's hash into a row: envelope columns, the job data kept verbatim when it
is not an envelope, the gateway's trace id, and what cannot be archived."""

import orjson
import pytest

from archiver.rows import FinishedJob, Unreadable, encode_rows, to_row
from archiver.trace import gateway_trace_id

CREATED, FINISHED = 1_764_000_000_000, 1_764_000_000_250


def job(data: object, **fields: str | None) -> FinishedJob:
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    base: dict[str, str | None] = {
        "name": "records:updated", "data": text, "timestamp": str(CREATED),
        "processedOn": str(CREATED + 100), "returnvalue": '{"emitted":true}', "atm": "1",
    }
    return FinishedJob("critical-events", "completed", "job-1", FINISHED, {**base, **fields})


def test_an_envelope_fills_the_columns_and_keeps_no_copy() -> None:
    row = to_row("bull", job({
        "namespace": "/data_owner", "rooms": ["user:42", "department:A"], "id": 7,
        "data": {"status": "ready"}, "metadata": {"trace_id": "t-1", "triggered_by": "u-7"},
    }))
    assert row == {
        "prefix": "bull", "queue": "critical-events", "job_id": "job-1",
        "event": "records:updated", "state": "completed", "attempts_made": 1,
        "created_ms": CREATED, "processed_ms": CREATED + 100, "finished_ms": FINISHED,
        "return_value": {"emitted": True}, "namespace": "/data_owner",
        "rooms": ["user:42", "department:A"], "resource_id": "7",
        "data": {"status": "ready"}, "metadata": {"trace_id": "t-1", "triggered_by": "u-7"},
        "trace_id": "t-1",
    }


def test_without_a_trace_id_the_row_gets_the_one_the_gateway_derives() -> None:
    row = to_row("bull", job({"namespace": "/data_owner", "rooms": ["user:1"], "id": "r"}))
    assert row["trace_id"] == gateway_trace_id("bull", "critical-events", "job-1", CREATED)
    assert row["trace_id"] != gateway_trace_id("bull", "critical-events", "job-1", CREATED + 1)


@pytest.mark.parametrize(
    "data",
    [
        '"just a string"',
        "not json at all",
        {"namespace": "/data_owner", "rooms": "user:1", "id": "r"},       # rooms not a list
        {"namespace": "/data_owner", "rooms": ["user:1"], "id": True},    # id a boolean
        {"namespace": "/data_owner", "rooms": ["user:1"], "id": "r", "extra": 1},
        {"namespace": 5, "rooms": ["user:1"], "id": "r"},
    ],
)
def test_job_data_that_is_no_envelope_is_kept_verbatim(data: object) -> None:
    finished = job(data)
    row = to_row("bull", finished)
    assert row["job_data"] == finished.fields["data"]


def test_an_invalid_notification_keeps_its_failed_reason() -> None:
    finished = FinishedJob("general-events", "failed", "9", FINISHED, {
        "name": "records:updated", "data": '{"rooms": []}', "timestamp": str(CREATED),
        "failedReason": "invalid notification: rooms must be a non-empty list, got a list",
        "attemptsMade": "1",
    })
    row = to_row("bull", finished)
    assert row["state"] == "failed" and row["attempts_made"] == 1
    assert row["failed_reason"].startswith("invalid notification: rooms")
    assert row["rooms"] == [] and "return_value" not in row


@pytest.mark.parametrize("timestamp", [None, "yesterday", "-5", str(10**16)])
def test_a_job_whose_creation_time_cannot_be_read_is_not_archived(timestamp: str | None) -> None:
    with pytest.raises(Unreadable, match="timestamp"):
        to_row("bull", job({"id": "r"}, timestamp=timestamp))


def test_nul_characters_become_replacement_characters_and_nothing_else_changes() -> None:
    row = to_row("bull", job({
        "namespace": "/data_owner", "rooms": ["user:1"], "id": "a\u0000b",
        "data": {"k\u0000": ["x\u0000y", 1, None, True]}, "metadata": {"m": "\\u0000"},
    }))
    decoded = orjson.loads(encode_rows([row]))[0]
    assert decoded["resource_id"] == "a\ufffdb"
    assert decoded["data"] == {"k\ufffd": ["x\ufffdy", 1, None, True]}
    assert decoded["metadata"] == {"m": "\\u0000"}  # an escaped backslash is text, kept
    assert "\\u0000" not in encode_rows([row]).replace("\\\\u0000", "")
