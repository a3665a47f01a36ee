"""Hostile jobs against a real gateway (in-process), real redis-server and the real Python
bullmq producer: each fails at once, without retry, with a failedReason that starts
"invalid notification:"; the worker never dies, and a valid job sent after them is
delivered. Jobs a foreign producer might leave (data that is not JSON, bytes that are
not UTF-8) are written into the job hash directly, the way BullMQ stores a job."""

import asyncio
import json
from typing import Any

import pytest
from bullmq import Job
from redis.asyncio import Redis

from tests.conftest import StartGateway
from tests.support.clients import RecordingClient
from tests.support.gateway import get_text
from tests.support.jobs import Producer, notification
from tests.support.node import NODE_TOOLS, ROOT, require_node
from tests.support.tokens import mint

QUEUE = "critical-events"
FINDINGS = "docs/fuzz-findings.md"
RETRIES = {"attempts": 3, "backoff": {"type": "fixed", "delay": 10}}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


ROOM = ["user:1"]
# (case, job name, job data, what the failedReason must name), all through the producer.
HOSTILE_JOBS: list[tuple[str, str, Any, str]] = [
    ("event with a newline", "records:\nupdated", notification(ROOM), "job name"),
    ("event NUL", "\x00", notification(ROOM), "job name"),
    ("event of 129 characters", "e" * 129, notification(ROOM), "job name"),
    ("event reserved", "disconnect", notification(ROOM), "job name"),
    ("data a string", "records:updated", "just a string", "job data must be a JSON object"),
    ("data null", "records:updated", None, "job data must be a JSON object"),
    ("data a number", "records:updated", 42, "job data must be a JSON object"),
    ("data a list", "records:updated", [notification(ROOM)], "job data must be a JSON object"),
    ("nested 300 deep", "records:updated", notification(ROOM, data=_nested(300)),
     "job data cannot be encoded as JSON"),
    ("huge string", "records:updated", notification(ROOM, data={"blob": "x" * 200_000}),
     "MAX_PAYLOAD_BYTES"),
    ("lone surrogate", "records:updated", notification(ROOM, data={"text": "\ud800"}),
     "job data cannot be encoded as JSON"),
    ("id beyond 64 bits", "records:updated", notification(ROOM, 2**64),
     "job data cannot be encoded as JSON"),
    ("namespace true", "records:updated", notification(ROOM, namespace=True), "namespace"),
    ("namespace 1", "records:updated", notification(ROOM, namespace=1), "namespace"),
    ("rooms a string", "records:updated", notification("user:1"), "rooms must"),
    ("room true", "records:updated", notification([True]), "rooms[0]"),
    ("room 1", "records:updated", notification(["user:1", 1]), "rooms[1]"),
    ("room ideographic space", "records:updated", notification(["user:\u3000x"]), "rooms[0]"),
    ("room with a leading colon", "records:updated", notification(["user::1"]), "rooms[0]"),
    ("1001 rooms", "records:updated", notification([f"user:{n}" for n in range(1001)]),
     "rooms has 1001 entries"),
    ("id true", "records:updated", notification(ROOM, True), "id must"),
    ("id false", "records:updated", notification(ROOM, False), "id must"),
    ("id 1.5", "records:updated", notification(ROOM, 1.5), "id must"),
    ("id null", "records:updated", notification(ROOM, None), "id must"),
    ("id a list", "records:updated", notification(ROOM, [1]), "id must"),
    ("id an object", "records:updated", notification(ROOM, {"id": 1}), "id must"),
    ("id empty", "records:updated", notification(ROOM, ""), "id must"),
    ("id of 257 characters", "records:updated", notification(ROOM, "i" * 257), "id must"),
    ("data false", "records:updated", notification(ROOM, data=False), "data must"),
    ("metadata a list", "records:updated", notification(ROOM, metadata=[1]), "metadata must"),
    ("metadata.timestamp 5", "records:updated", notification(ROOM, metadata={"timestamp": 5}),
     "metadata.timestamp"),
    ("metadata.trace_id empty", "records:updated", notification(ROOM, metadata={"trace_id": ""}),
     "metadata.trace_id"),
]

# Raw job data, as a foreign producer might write it, that json.loads still parses.
PARSEABLE_RAW: list[tuple[str, bytes, str]] = [
    ("id NaN", b'{"namespace":"/data_owner","rooms":["user:1"],"id":NaN}', "id must"),
    ("data Infinity", b'{"namespace":"/data_owner","rooms":["user:1"],"id":1,"data":Infinity}',
     "data must"),
    ("id of 3000 digits",
     b'{"namespace":"/data_owner","rooms":["user:1"],"id":' + b"9" * 3000 + b"}",
     "job data cannot be encoded as JSON"),
    ("escaped lone surrogate in rooms",
     b'{"namespace":"/data_owner","rooms":["user:\\udc80"],"id":1}',
     "job data cannot be encoded as JSON"),
]
# Job hash fields that bullmq's Job.fromJSON cannot parse at all (finding F9).
UNPARSEABLE_RAW: list[tuple[str, str, bytes]] = [
    ("data not JSON", "data", b"not json{"),
    ("data empty", "data", b""),
    ("data not UTF-8", "data", b'{"namespace":"\xff\xfe"}'),
    ("data nested 3000 deep", "data", b"[" * 3000 + b"]" * 3000),
    ("data with a 5000-digit number", "data", b'{"id":' + b"9" * 5000 + b"}"),
    ("opts not JSON", "opts", b"{attempts: 3}"),
    ("timestamp not a number", "timestamp", b"soon"),
    ("name not UTF-8", "name", b"records:\xff"),
]


async def _failed_at_once(producer: Producer, job_id: str, timeout: float = 10.0) -> Job:
    job = await producer.finished(QUEUE, job_id, timeout)
    assert await producer.queue(QUEUE).getJobState(job_id) == "failed"
    assert job.attemptsMade == 1, f"retried: attemptsMade={job.attemptsMade}"
    assert job.failedReason.startswith("invalid notification: "), job.failedReason
    return job


async def _invalid_count(url: str) -> float:
    _, metrics = await get_text(f"{url}/metrics")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("gateway_notifications_total{") and 'outcome="invalid"' in line
    )


async def _delivered_after(client: RecordingClient, producer: Producer, url: str) -> None:
    """A valid job sent now reaches the client, and every consumer still runs."""
    await producer.add("records:updated", notification(["user:1"], "after-hostile"))
    event, payload = await client.next_event(timeout=10)
    assert (event, payload["id"]) == ("records:updated", "after-hostile")
    status, body = await get_text(f"{url}/readyz")
    assert status == 200, body


async def test_hostile_jobs_fail_at_once_and_the_worker_delivers_on(
    start_gateway: StartGateway, producer: Producer
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    unicode_client = RecordingClient(gateway.url, "/data_owner", mint("ünï-1", None))
    try:
        await unicode_client.connect()
        jobs = [
            (case, await producer.add(event, data, **RETRIES), names)
            for case, event, data, names in HOSTILE_JOBS
        ]
        # Rooms with unicode are valid: this one must arrive, and only to its user.
        await producer.add("records:updated", notification(["user:ünï-1"], "unicode"))
        event, payload = await unicode_client.next_event(timeout=10)
        assert (event, payload["id"]) == ("records:updated", "unicode")
        await _delivered_after(client, producer, gateway.url)
        for case, job, names in jobs:
            failed = await _failed_at_once(producer, job.id)
            assert names in failed.failedReason, (case, failed.failedReason)
        client.assert_nothing_received()
        unicode_client.assert_nothing_received()
        assert await _invalid_count(gateway.url) == len(HOSTILE_JOBS)
    finally:
        await client.close()
        await unicode_client.close()


async def _add_then_overwrite(
    producer: Producer, redis_url: str, fields: list[tuple[str, bytes]]
) -> list[str]:
    """Add valid jobs with the queue paused, then overwrite one field of each job's hash
    (bullmq keeps a job as hash `<prefix>:<queue>:<id>` with name, data, opts,
    timestamp...), as a producer that is not bullmq might have written it; resume."""
    queue = producer.queue(QUEUE)
    await queue.pause()
    raw = Redis.from_url(redis_url)  # bytes in, bytes out: no decoding on our side
    try:
        ids = []
        for field, value in fields:
            job = await producer.add("records:updated", notification(["user:1"]), **RETRIES)
            await raw.hset(f"{producer.prefix}:{QUEUE}:{job.id}", field, value)
            ids.append(job.id)
    finally:
        await raw.aclose()
    await queue.resume()
    return ids


async def test_foreign_jobs_do_not_stop_the_worker(
    start_gateway: StartGateway, producer: Producer, redis_url: str
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("1", None)).connect()
    try:
        parseable = await _add_then_overwrite(
            producer, redis_url, [("data", data) for _, data, _ in PARSEABLE_RAW]
        )
        await _add_then_overwrite(
            producer, redis_url, [(field, value) for _, field, value in UNPARSEABLE_RAW]
        )
        await _delivered_after(client, producer, gateway.url)
        for (case, _, names), job_id in zip(PARSEABLE_RAW, parseable, strict=True):
            failed = await _failed_at_once(producer, job_id)
            assert names in failed.failedReason, (case, failed.failedReason)
        client.assert_nothing_received()
    finally:
        await client.close()


# --- Findings, now fixed: regression tests (see FINDINGS) ---


async def test_foreign_jobs_that_are_not_json_fail_at_once(
    start_gateway: StartGateway, producer: Producer, redis_url: str
) -> None:
    await start_gateway()
    ids = await _add_then_overwrite(
        producer, redis_url, [(field, value) for _, field, value in UNPARSEABLE_RAW]
    )
    # "At once": well within one lock period (4 s here), so never via stalled-job recovery.
    async with asyncio.timeout(3):
        reasons = await asyncio.gather(
            *(_failed_at_once_raw(producer, redis_url, job_id) for job_id in ids)
        )
    for (case, field, _), reason in zip(UNPARSEABLE_RAW, reasons, strict=True):
        assert field in reason, (case, reason)


async def _failed_at_once_raw(producer: Producer, redis_url: str, job_id: str) -> str:
    """Like _failed_at_once, reading the hash itself: bullmq's Job.fromId would raise on
    these jobs just as the worker does. Returns the failedReason."""
    queue = producer.queue(QUEUE)
    while await queue.getJobState(job_id) not in ("completed", "failed"):
        await asyncio.sleep(0.02)  # polling the job's state, bounded by the caller
    assert await queue.getJobState(job_id) == "failed"
    raw = Redis.from_url(redis_url, decode_responses=True, encoding_errors="replace")
    try:
        key = f"{producer.prefix}:{QUEUE}:{job_id}"
        atm, attempts_made, reason = await raw.hmget(key, "atm", "attemptsMade", "failedReason")
    finally:
        await raw.aclose()
    assert int(attempts_made or atm or 0) == 1, f"retried: atm={atm or attempts_made}"
    assert reason is not None and reason.startswith("invalid notification: "), reason
    return str(reason)


@pytest.mark.parametrize(
    ("case", "data", "opts"),
    [
        ("namespace a list", notification(ROOM, namespace=["/data_owner"]), {}),
        ("namespace an object", notification(ROOM, namespace={"n": "/data_owner"}), {}),
        ("created in the year 10000", notification(ROOM), {"timestamp": 253_402_300_800_000}),
    ],
    ids=["namespace-list", "namespace-object", "timestamp-year-10000"],
)
async def test_job_the_decoder_chokes_on_fails_without_retry(
    start_gateway: StartGateway, producer: Producer, case: str, data: Any, opts: dict[str, Any]
) -> None:
    await start_gateway()
    job = await producer.add("records:updated", data, **RETRIES, **opts)
    await _failed_at_once(producer, job.id)


class StillLooping(Exception):
    """The job is still active long after it should have failed: F9's symptom."""


@pytest.mark.node
async def test_node_job_nested_deeper_than_python_reads_fails_at_once(
    start_gateway: StartGateway, redis_url: str
) -> None:
    """Not only foreign writers: a job from the real npm bullmq producer whose data is a
    JSON object nested 1,200 deep (fine for V8's JSON.stringify, past Python's
    json.loads recursion limit) poisons the worker the same way."""
    node = require_node()
    await start_gateway()
    deep = '{"a":' * 1_200 + "1" + "}" * 1_200  # built as text: Python's json can't either
    spec = (
        f'{{"redis": "{redis_url}", "prefix": "bull", "queue": "{QUEUE}", "wait": true,'
        f' "timeout_ms": 3000, "jobs": [{{"name": "records:updated", "opts": {{"attempts": 3}},'
        f' "data": {{"namespace": "/data_owner", "rooms": ["user:1"], "id": 1, "data": {deep}}}'
        "}]}"
    )
    process = await asyncio.create_subprocess_exec(
        node, str(NODE_TOOLS / "produce.mjs"), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(spec.encode()), 30)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout.decode().splitlines()[0])
    if result["state"] == "active":
        raise StillLooping(result)
    assert result["state"] == "failed" and result["attemptsMade"] == 1, result
    assert result["failedReason"].startswith("invalid notification: job data"), result
