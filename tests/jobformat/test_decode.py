import uuid
from datetime import UTC, datetime

import pytest

from jobformat import InvalidNotification, NotificationDecoder
from jobformat.decode import _TRACE_NAMESPACE, iso_timestamp, uuid5_text

DECODER = NotificationDecoder(["/data_owner"], 16384, "bull")
CREATED = 1_795_860_000_123  # 2026-11-28T...


def decode(body: object, job_id: str = "1", created: int = CREATED) -> object:
    return DECODER.decode("critical-events", job_id, "records:updated", body, created)


def test_fills_trace_id_stable_per_job_and_timestamp_from_creation() -> None:
    body = {"namespace": "/data_owner", "rooms": ["user:1", "user:1"], "id": 5}
    first, again = decode(body), decode(body)
    other_job = decode(body, job_id="2")
    assert first.payload["metadata"]["trace_id"] == again.payload["metadata"]["trace_id"]
    assert first.payload["metadata"]["trace_id"] != other_job.payload["metadata"]["trace_id"]
    assert first.payload["metadata"]["timestamp"] == iso_timestamp(CREATED)
    assert first.payload == {"id": 5, "data": {}, "metadata": first.payload["metadata"]}
    assert first.rooms == ("user:1",)


def test_keeps_producer_metadata() -> None:
    body = {"namespace": "/data_owner", "rooms": ["department:A"], "id": "r",
            "metadata": {"trace_id": "t", "timestamp": "2026-01-01T00:00:00.000Z", "x": 1}}
    assert decode(body).payload["metadata"] == {
        "trace_id": "t", "timestamp": "2026-01-01T00:00:00.000Z", "x": 1}


def test_iso_timestamp_is_utc_with_milliseconds() -> None:
    assert iso_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert iso_timestamp(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"


def test_deep_nesting_is_rejected_not_crashing() -> None:
    nested: object = {}
    for _ in range(300):
        nested = {"a": nested}
    body = {"namespace": "/data_owner", "rooms": ["user:1"], "id": 1, "data": nested}
    try:
        decode(body)
    except InvalidNotification as error:
        assert str(error).startswith("invalid notification: job data")
    else:
        raise AssertionError("accepted")


@pytest.mark.parametrize(
    "epoch_ms",
    [0, 1, 999, 1000, -1, -1500, 1_700_000_000_007, 253_402_300_799_999, -62_135_596_800_000],
)
def test_iso_timestamp_agrees_with_datetime(epoch_ms: int) -> None:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    # Milliseconds from the integer: the float division above may round them off.
    whole_seconds = moment.replace(microsecond=0, tzinfo=None).isoformat()
    expected = f"{whole_seconds}.{epoch_ms % 1000:03d}Z"
    assert iso_timestamp(epoch_ms) == expected


@pytest.mark.parametrize("epoch_ms", [253_402_300_800_000, -62_135_596_800_001, 10**20])
def test_iso_timestamp_refuses_what_datetime_refuses(epoch_ms: int) -> None:
    with pytest.raises((ValueError, OverflowError, OSError)):
        datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    with pytest.raises((ValueError, OverflowError, OSError)):
        iso_timestamp(epoch_ms)


@pytest.mark.parametrize("name", ["", "bull:critical-events:1:0", "é:ü:42", "x" * 1000])
def test_trace_id_is_uuid5(name: str) -> None:
    assert uuid5_text(name) == str(uuid.uuid5(_TRACE_NAMESPACE, name))
