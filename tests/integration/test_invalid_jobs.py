"""Each invalid job of CONTRACT §2 fails at once, without retry, naming the field;
the gateway stays ready and keeps delivering."""

from typing import Any

import pytest

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import get_text
from tests.support.jobs import Producer, notification
from tests.support.tokens import mint

CASES: list[tuple[str, str, Any, str]] = [
    ("not an object", "records:updated", ["a", "list"], "job data must be a JSON object"),
    ("missing namespace", "records:updated", {"rooms": ["user:1"], "id": "x"}, "namespace"),
    ("unknown namespace", "records:updated", notification(["user:1"], namespace="/other"),
     "namespace '/other'"),
    ("missing rooms", "records:updated", {"namespace": "/data_owner", "id": "x"}, "rooms"),
    ("empty rooms", "records:updated", notification([]), "rooms must be a non-empty list"),
    ("malformed room", "records:updated", notification(["admins"]), "rooms[0]"),
    ("room with a space", "records:updated", notification(["user:1", "user:a b"]), "rooms[1]"),
    ("missing id", "records:updated", {"namespace": "/data_owner", "rooms": ["user:1"]}, "id"),
    ("id of wrong type", "records:updated", notification(["user:1"], resource_id=1.5), "id"),
    ("id boolean", "records:updated", notification(["user:1"], resource_id=True), "id"),
    ("data not an object", "records:updated", notification(["user:1"], data=[1]), "data"),
    ("metadata not an object", "records:updated", notification(["user:1"], metadata="m"),
     "metadata"),
    ("trace_id not a string", "records:updated",
     notification(["user:1"], metadata={"trace_id": 7}), "metadata.trace_id"),
    ("too large", "records:updated", notification(["user:1"], data={"blob": "x" * 20000}),
     "MAX_PAYLOAD_BYTES"),
    ("reserved event", "connect", notification(["user:1"]), "job name 'connect'"),
]


@pytest.mark.parametrize(("case", "event", "data", "names"), CASES, ids=[c[0] for c in CASES])
async def test_invalid_job_fails_without_retry(
    start_gateway: StartGateway, producer: Producer, case: str, event: str, data: Any, names: str
) -> None:
    await start_gateway()
    job = await producer.add(event, data, attempts=3, backoff={"type": "fixed", "delay": 10})
    failed = await producer.finished("critical-events", job.id)
    assert await producer.queue("critical-events").getJobState(job.id) == "failed"
    assert failed.failedReason.startswith("invalid notification: "), failed.failedReason
    assert names in failed.failedReason
    assert failed.attemptsMade == 1, "an invalid job must not be retried"


async def test_gateway_keeps_serving_after_invalid_jobs(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    try:
        for _, event, data, _ in CASES:
            await producer.add(event, data)
        await producer.add("records:updated", notification(["user:1"], "after"))
        event, payload = await client.next_event()
        assert (event, payload["id"]) == ("records:updated", "after")
        status, _ = await get_text(f"{gateway.url}/readyz")
        assert status == 200
        _, metrics = await get_text(f"{gateway.url}/metrics")
        invalid = [
            line for line in metrics.splitlines()
            if line.startswith("gateway_notifications_total") and 'outcome="invalid"' in line
        ]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in invalid) == len(CASES)
        assert (
            'gateway_notifications_total{event="records:updated",outcome="emitted",'
            'queue="critical-events"} 1.0' in metrics
        )
        assert 'gateway_notification_lag_seconds_count{queue="critical-events"} 1.0' in metrics
        assert 'gateway_connected_clients{namespace="/data_owner"} 1.0' in metrics
    finally:
        await client.close()
