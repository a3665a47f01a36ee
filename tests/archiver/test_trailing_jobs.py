"""The throttle's trailing-edge jobs are never archived nor removed: they carry no
notification of their own, and a delayed one is still to emit the held notification."""

from typing import Any

import pytest
import redis.asyncio as aioredis

from archiver import keys
from archiver.exclusions import TRAILING_JOB_NAME, is_throttle_trailing
from consumers import TRAILING_JOB_NAME as GATEWAY_TRAILING_JOB_NAME
from tests.conftest import StartGateway
from tests.support.archiver import archived_rows, archiver_env, run_archiver
from tests.support.clients import RecordingClient
from tests.support.node import node_produce
from tests.support.tokens import mint
from throttling import throttle_key, trailing_job_id

KEEP = {"removeOnComplete": False, "removeOnFail": False}


def test_the_archiver_spells_trailing_jobs_as_the_gateway_does() -> None:
    assert TRAILING_JOB_NAME == GATEWAY_TRAILING_JOB_NAME
    key = throttle_key("bull", "/data_owner", "records:updated", "res-1")
    assert is_throttle_trailing(None, trailing_job_id(key, 1_764_000_000_000))
    assert is_throttle_trailing(GATEWAY_TRAILING_JOB_NAME, "42")
    assert not is_throttle_trailing("records:updated", "throttle-report-1")
    assert not is_throttle_trailing("records:updated", "records:res-1:1")


@pytest.mark.node
async def test_trailing_jobs_are_left_alone_and_still_emit(
    redis_url: str, database_url: str, start_gateway: StartGateway, closing: list[Any]
) -> None:
    # One job at a time, so the three updates are decided in the order they were added
    # (with more, a later one can take the leading edge and there is nothing to hold).
    gateway = await start_gateway(
        THROTTLE_RULES="records:updated=5", GATEWAY_QUEUES="critical-events=1"
    )
    client = await RecordingClient(gateway.url, "/data_owner", mint("42", "A")).connect()
    closing.append(client)
    updates = [
        {"name": "records:updated", "opts": KEEP, "data": {
            "namespace": "/data_owner", "rooms": ["user:42"], "id": "res-t",
            "data": {"version": version}}}
        for version in (1, 2, 3)
    ]
    # A trailing job left finished (as an older release, or changed options, would leave
    # one): the pod runs it, finds nothing held, and it stays in the completed set.
    idle_key = throttle_key("bull", "/data_owner", "records:updated", "idle")
    leftover = {"name": TRAILING_JOB_NAME, "opts": KEEP,
                "data": {"key": idle_key, "window_ms": 5000}}
    produced = await node_produce({
        "redis": redis_url, "queue": "critical-events", "jobs": [*updates, leftover],
        "wait": True,
    })
    assert [job["returnvalue"] for job in produced] == [
        {"emitted": True}, {"throttled": True}, {"throttled": True}, {"emitted": False},
    ]
    event, payload = await client.next_event()
    assert (event, payload["data"]) == ("records:updated", {"version": 1})
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        delayed = await redis.zrange("bull:critical-events:delayed", 0, -1)
        assert [await redis.hget(keys.job_key("bull", "critical-events", job_id), "name")
                for job_id in delayed] == [TRAILING_JOB_NAME]

        status, output = await run_archiver(archiver_env(redis_url, database_url), "--once")
        assert status == 0, output
        rows = await archived_rows(database_url)
        assert sorted(row["job_id"] for row in rows) == sorted(job["id"] for job in produced[:3])
        assert all(row["event"] == "records:updated" for row in rows)
        completed = keys.finished_set("bull", "critical-events", "completed")
        assert await redis.zrange(completed, 0, -1) == [produced[3]["id"]]
        assert await redis.exists(keys.job_key("bull", "critical-events", produced[3]["id"]))
        assert await redis.zrange("bull:critical-events:delayed", 0, -1) == delayed
    finally:
        await redis.aclose()

    # The trailing emit still comes, with the newest held state.
    event, payload = await client.next_event(timeout=10)
    assert (event, payload["data"]) == ("records:updated", {"version": 3})
