"""The producer API against a real redis-server and a real in-process gateway."""

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bullmq import Job
from redis.asyncio import Redis

from producer import InvalidNotification, NotificationProducer, PayloadTooLarge
from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer
from tests.support.redis_proc import RedisProcess
from tests.support.tokens import mint

NAMESPACES = ("/data_owner", "/billing")  # tests.support.gateway.base_env's
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
async def notifier(redis_url: str) -> AsyncIterator[NotificationProducer]:
    async with NotificationProducer(
        redis_url, namespaces=NAMESPACES, max_payload_bytes=1024
    ) as notifier:
        yield notifier


async def test_notify_is_delivered_with_trace_id_timestamp_and_retry_options(
    start_gateway: StartGateway, notifier: NotificationProducer, producer: Producer
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    try:
        queued = await notifier.notify(
            "records:updated", namespace="/data_owner", rooms=["user:42"], id="res-1",
            data={"status": "ready"}, metadata={"triggered_by": "u-7"},
        )
        event, payload = await client.next_event()
    finally:
        await client.close()
    assert event == "records:updated"
    assert payload == {
        "id": "res-1",
        "data": {"status": "ready"},
        "metadata": {
            "triggered_by": "u-7", "trace_id": queued.trace_id, "timestamp": queued.timestamp,
        },
    }
    assert len(queued.trace_id) == 36 and ISO_UTC.match(queued.timestamp)
    job = await Job.fromId(producer.queue("critical-events"), queued.job_id)
    assert job is not None
    assert job.opts["attempts"] == 3
    assert job.opts["backoff"] == {"type": "exponential", "delay": 1000}
    assert (job.opts["removeOnComplete"], job.opts["removeOnFail"]) == (1000, 5000)


async def test_options_queue_and_own_trace_id_are_kept(
    notifier: NotificationProducer, producer: Producer
) -> None:
    queued = await notifier.notify(
        "system:alert", namespace="/billing", rooms=["department:B"], id=7,
        metadata={"trace_id": "mine"}, queue="general-events",
        options={"attempts": 5, "removeOnComplete": 10},
    )
    assert queued.trace_id == "mine" and queued.queue == "general-events"
    job = await Job.fromId(producer.queue("general-events"), queued.job_id)
    assert job is not None and job.data["metadata"]["trace_id"] == "mine"
    assert (job.opts["attempts"], job.opts["removeOnComplete"]) == (5, 10)
    assert job.opts["removeOnFail"] == 5000


@pytest.mark.parametrize(
    ("event", "fields", "job_id", "reason"),
    [
        ("records:updated", {"rooms": ["admins"]}, None, r"rooms\[0\] must look like user:<id>"),
        ("records:updated", {"namespace": "/nope"}, None, r"namespace '/nope' is not one of"),
        ("records:updated", {"id": True}, None, r"id must be a string or an integer"),
        ("records:updated", {"rooms": "user:42"}, None, r"rooms must be a non-empty list"),
        ("records:updated", {"metadata": {"trace_id": 5}}, None, r"metadata\.trace_id must be"),
        ("records:updated", {"data": {"x": float("nan")}}, None, r"job data cannot be encoded"),
        ("connect", {}, None, r"job name 'connect' is reserved"),
        ("records:updated", {}, "123", r"job_id must not be an integer"),
        ("records:updated", {}, "a:b", r"job_id may contain ':' only as in"),
    ],
)
async def test_an_invalid_notification_raises_before_anything_reaches_redis(
    notifier: NotificationProducer, redis_proc: RedisProcess,
    event: str, fields: dict[str, object], job_id: str | None, reason: str,
) -> None:
    notification: dict[str, Any] = {
        "namespace": "/data_owner", "rooms": ["user:42"], "id": "res-1", **fields
    }
    with pytest.raises(InvalidNotification, match="^invalid notification: " + reason):
        await notifier.notify(event, job_id=job_id, **notification)
    assert redis_proc.client().dbsize() == 0


async def test_a_fat_payload_is_rejected_naming_the_field(
    notifier: NotificationProducer, redis_proc: RedisProcess
) -> None:
    with pytest.raises(PayloadTooLarge) as raised:
        await notifier.notify(
            "records:updated", namespace="/data_owner", rooms=["user:42"], id="res-1",
            data={"status": "ready", "attachment": "x" * 2000},
        )
    assert raised.value.limit == 1024 and raised.value.size > 2000
    assert str(raised.value).startswith(
        f"invalid notification: job data is {raised.value.size} bytes, "
        "more than MAX_PAYLOAD_BYTES (1024); the largest field is data.attachment (2002 bytes)"
    )
    assert redis_proc.client().dbsize() == 0


async def test_a_deterministic_job_id_sent_twice_is_delivered_once(
    start_gateway: StartGateway, notifier: NotificationProducer, producer: Producer
) -> None:
    # One job at a time: the marker sent last is emitted last.
    gateway = await start_gateway(GATEWAY_QUEUES="critical-events=1")
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    send: dict[str, Any] = {"namespace": "/data_owner", "rooms": ["user:42"]}
    try:
        first = await notifier.notify("records:updated", id="res-7", job_id="records:res-7:1",
                                      **send)
        again = await notifier.notify("records:updated", id="res-7", job_id="records:res-7:1",
                                      **send)
        await notifier.notify("records:updated", id="marker", **send)
        received = await client.events_until_quiet(2)
    finally:
        await client.close()
    assert (again.job_id, again.trace_id) == (first.job_id, first.trace_id)
    assert [payload["id"] for _, payload in received] == ["res-7", "marker"]
    counts = await producer.queue("critical-events").getJobCounts()
    assert sum(counts.values()) == 2, counts


async def test_a_shared_client_must_decode_responses(redis_url: str) -> None:
    raw = Redis.from_url(redis_url)
    try:
        with pytest.raises(ValueError, match="decode_responses=True"):
            NotificationProducer(raw)
    finally:
        await raw.aclose()
    shared = Redis.from_url(redis_url, decode_responses=True)
    async with NotificationProducer(shared, namespaces=NAMESPACES) as notifier:
        await notifier.notify("records:updated", namespace="/billing", rooms=["user:1"], id=1)
    assert await shared.ping()  # type: ignore[misc]  # a client it was given stays open
    await shared.aclose()
