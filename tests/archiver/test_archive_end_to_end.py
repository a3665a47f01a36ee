"""Jobs from npm bullmq and from our producer, consumed by a real pod, archived by a real
`python -m archiver --once`: every row matches its job, Redis no longer holds them, and
jobs still waiting, active or delayed are untouched."""

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from bullmq import Job, Worker

from archiver import keys
from producer import NotificationProducer
from tests.conftest import StartGateway
from tests.support.archiver import archived_rows, archiver_env, run_archiver
from tests.support.clients import RecordingClient
from tests.support.jobs import Producer
from tests.support.node import node_produce
from tests.support.tokens import mint

pytestmark = pytest.mark.node
KEEP = {"removeOnComplete": False, "removeOnFail": False}
PARKED = "parked-events"  # consumed by a test worker that holds its first job


def envelope(resource_id: Any, rooms: list[str], **extra: Any) -> dict[str, Any]:
    return {"namespace": "/data_owner", "rooms": rooms, "id": resource_id, **extra}


NODE_JOBS = [
    {"name": "records:updated", "opts": KEEP, "data": envelope(
        "node-1", ["user:42"], data={"status": "ready"}, metadata={"trace_id": "trace-node-1"})},
    {"name": "resources:created", "opts": KEEP, "data": envelope(17, ["department:A"])},
    {"name": "system:alert", "opts": KEEP, "data": envelope(
        "node-3", ["user:42", "department:A"], metadata={"triggered_by": "u-7"})},
    # Invalid (a malformed room): fails at once, and is part of the audit trail too.
    {"name": "records:updated", "opts": KEEP, "data": envelope("node-bad", ["admins"])},
]


JobHashes = dict[tuple[str, str], dict[str, str]]


async def finished_hashes(redis_url: str, queues: list[str]) -> JobHashes:
    """Every finished job's hash, by (queue, job id)."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        found = {}
        for queue in queues:
            for state in keys.FINISHED_STATES:
                finished = keys.finished_set("bull", queue, state)
                for job_id in await client.zrange(finished, 0, -1):
                    job_key = keys.job_key("bull", queue, job_id)
                    found[(queue, job_id)] = await client.hgetall(job_key)
        return found
    finally:
        await client.aclose()


def ms(moment: datetime | None) -> int | None:
    return None if moment is None else round(moment.timestamp() * 1000)


def assert_row_matches_job(row: dict[str, Any], job: dict[str, str]) -> None:
    body = json.loads(job["data"])
    assert row["event"] == job["name"]
    assert row["namespace"] == body["namespace"]
    assert row["rooms"] == body["rooms"]
    assert row["resource_id"] == str(body["id"])
    assert row["data"] == body.get("data")
    assert row["metadata"] == body.get("metadata")
    assert ms(row["created_at"]) == int(job["timestamp"])
    assert ms(row["processed_at"]) == int(job["processedOn"])
    assert ms(row["finished_at"]) == int(job["finishedOn"])
    assert row["attempts_made"] == int(job.get("atm") or job.get("attemptsMade") or 0)
    if "returnvalue" in job and job["returnvalue"] != "null":
        assert row["state"] == "completed"
        assert row["return_value"] == json.loads(job["returnvalue"])
    else:
        assert row["state"] == "failed"
        assert row["failed_reason"] == job["failedReason"]


async def park_jobs(producer: Producer) -> tuple[Worker, asyncio.Event, list[str]]:
    """Three jobs in PARKED: the first active (its worker waits), two waiting."""
    release = asyncio.Event()

    async def hold(job: Job, token: str) -> dict[str, bool]:
        await release.wait()
        return {"emitted": True}

    ids = [
        (await producer.add("records:updated", envelope(f"p{n}", ["user:1"]), PARKED, **KEEP)).id
        for n in range(3)
    ]
    worker = Worker(PARKED, hold, {"connection": producer.redis_url, "concurrency": 1})
    async with asyncio.timeout(10):
        while await producer.queue(PARKED).getJobState(ids[0]) != "active":
            await asyncio.sleep(0.02)
    return worker, release, ids


async def test_finished_jobs_move_to_postgresql_and_leave_redis(
    redis_url: str,
    database_url: str,
    start_gateway: StartGateway,
    producer: Producer,
    closing: list[Any],
) -> None:
    gateway = await start_gateway()
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    closing.append(client)

    produced = await node_produce(
        {"redis": redis_url, "queue": "critical-events", "jobs": NODE_JOBS, "wait": True}
    )
    assert [job["state"] for job in produced] == ["completed"] * 3 + ["failed"]
    async with NotificationProducer(
        redis_url, namespaces=["/data_owner"], job_options=KEEP
    ) as ours:
        queued = [
            await ours.notify("records:created", namespace="/data_owner", rooms=["user:42"],
                              id=f"py-{n}", data={"n": n}, queue="general-events",
                              job_id=f"records:py-{n}:1")
            for n in range(2)
        ]
    for item in queued:
        await producer.finished("general-events", item.job_id)
    received = {payload["id"]: payload for _, payload in await client.events_until_quiet(5)}
    delayed = await producer.add("records:updated", envelope("later", ["user:42"]), delay=60_000)
    worker, release, parked = await park_jobs(producer)
    try:
        await _archive_and_check(redis_url, database_url, producer, delayed.id, parked, received,
                                 queued_trace_ids={item.trace_id for item in queued},
                                 node_job_id=produced[0]["id"])
    finally:
        release.set()
        await worker.close()


async def _archive_and_check(
    redis_url: str,
    database_url: str,
    producer: Producer,
    delayed_id: str,
    parked: list[str],
    received: dict[Any, Any],
    *,
    queued_trace_ids: set[str],
    node_job_id: str,
) -> None:
    first = await Job.fromId(producer.queue("critical-events"), node_job_id)
    await first.log("kept with the job until it is archived")
    queues = ["critical-events", "general-events"]
    jobs = await finished_hashes(redis_url, queues)
    assert len(jobs) == 6

    # The queues as the pods list them; the archiver takes only the names.
    env = archiver_env(redis_url, database_url,
                       GATEWAY_QUEUES=f"critical-events=8,general-events=2,{PARKED}=1")
    status, output = await run_archiver({**env, "ARCHIVE_MIN_AGE_SECONDS": "3600"}, "--once")
    assert status == 0, output
    assert await archived_rows(database_url) == []
    assert await finished_hashes(redis_url, queues) == jobs  # too young: all still there

    status, output = await run_archiver(env, "--once")
    assert status == 0, output
    assert "6 jobs archived" in output
    rows = await archived_rows(database_url)
    assert sorted((row["queue"], row["job_id"]) for row in rows) == sorted(jobs)
    for row in rows:
        assert_row_matches_job(row, jobs[(row["queue"], row["job_id"])])
        if row["state"] == "completed":  # what the client saw is what the audit says
            assert row["trace_id"] == received[_resource(row)]["metadata"]["trace_id"]
    bad = next(row for row in rows if row["state"] == "failed")
    assert bad["failed_reason"].startswith("invalid notification: rooms[0]")
    assert {row["trace_id"] for row in rows if row["queue"] == "general-events"} == (
        queued_trace_ids
    )

    check = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for queue in queues:
            for state in keys.FINISHED_STATES:
                assert await check.zcard(keys.finished_set("bull", queue, state)) == 0
        for queue, job_id in jobs:
            for suffix in keys.JOB_KEY_SUFFIXES:
                assert not await check.exists(keys.job_key("bull", queue, job_id) + suffix)
        for job_id in [delayed_id, *parked]:
            queue = "critical-events" if job_id == delayed_id else PARKED
            assert await check.exists(keys.job_key("bull", queue, job_id))
    finally:
        await check.aclose()
    assert await producer.queue("critical-events").getJobState(delayed_id) == "delayed"
    states = [await producer.queue(PARKED).getJobState(job_id) for job_id in parked]
    assert states == ["active", "waiting", "waiting"]

    await _find_answers(env, rows, received)


def _resource(row: dict[str, Any]) -> Any:
    return int(row["resource_id"]) if row["resource_id"].isdigit() else row["resource_id"]


async def _find_answers(
    env: dict[str, str], rows: list[dict[str, Any]], received: dict[Any, Any]
) -> None:
    trace_id = received["node-3"]["metadata"]["trace_id"]
    status, output = await run_archiver(env, "find", "--trace-id", trace_id, "--json")
    assert status == 0, output
    found = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [(row["event"], row["resource_id"]) for row in found] == [("system:alert", "node-3")]
    assert datetime.fromisoformat(found[0]["finished_at"]) <= datetime.now(UTC)

    status, output = await run_archiver(env, "find", "--room", "user:42", "--since", "1h")
    assert status == 0, output
    to_user_42 = [row for row in rows if "user:42" in row["rooms"]]
    assert f"({len(to_user_42)} rows)" in output
    for row in to_user_42:
        assert row["trace_id"] in output

    status, output = await run_archiver(env, "find", "--resource", "17", "--json")
    assert status == 0, output
    found = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [row["event"] for row in found] == ["resources:created"]

