"""Bad input, nothing lost: a job whose hash cannot be read stays in Redis (logged and
counted) while the rest of its batch is archived; U+0000, which PostgreSQL cannot store,
becomes U+FFFD and nothing else changes."""

from typing import Any

import pytest
import redis.asyncio as aioredis

from archiver import keys
from tests.archiver.finished import KEEP, finished_jobs
from tests.conftest import StartGateway
from tests.support.archiver import archived_rows, archiver_env, run_archiver
from tests.support.node import node_produce


async def test_a_job_with_an_unreadable_time_stays_in_redis(
    redis_url: str, database_url: str, start_gateway: StartGateway
) -> None:
    ids = await finished_jobs(start_gateway, redis_url, 3)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        # As a hand-written or corrupted hash would be: BullMQ never writes this.
        broken = keys.job_key("bull", "critical-events", "broken-1")
        await redis.hset(broken, mapping={"name": "records:updated", "data": "{}",
                                          "timestamp": "yesterday", "finishedOn": "1"})
        completed = keys.finished_set("bull", "critical-events", "completed")
        await redis.zadd(completed, {"broken-1": 1})

        status, output = await run_archiver(
            archiver_env(redis_url, database_url, ARCHIVE_BATCH="2"), "--once"
        )
        assert status == 0, output
        assert "left in Redis: job broken-1 of critical-events: timestamp 'yesterday'" in output
        assert "3 jobs archived" in output and "1 left (unreadable)" in output
        assert {row["job_id"] for row in await archived_rows(database_url)} == ids
        assert await redis.zrange(completed, 0, -1) == ["broken-1"]
        assert await redis.hget(broken, "timestamp") == "yesterday"
    finally:
        await redis.aclose()


@pytest.mark.node
async def test_nul_characters_are_archived_as_replacement_characters(
    redis_url: str, database_url: str, start_gateway: StartGateway
) -> None:
    await start_gateway()
    data: dict[str, Any] = {"note": "before\u0000after", "nested": ["\u0000"]}
    produced = await node_produce({"redis": redis_url, "queue": "critical-events", "wait": True,
                                   "jobs": [{"name": "records:updated", "opts": KEEP, "data": {
                                       "namespace": "/data_owner", "rooms": ["user:1"],
                                       "id": "nul-1", "data": data}}]})
    assert produced[0]["state"] == "completed"
    status, output = await run_archiver(archiver_env(redis_url, database_url), "--once")
    assert status == 0, output
    [row] = await archived_rows(database_url)
    assert row["data"] == {"note": "before\ufffdafter", "nested": ["\ufffd"]}
    assert row["resource_id"] == "nul-1" and row["job_data"] is None
