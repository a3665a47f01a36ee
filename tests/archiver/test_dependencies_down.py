"""PostgreSQL or Redis unreachable: the archiver logs, retries with back-off and never
exits; nothing leaves Redis that is not committed; it catches up once they are back."""

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archiver.finished import finished_count, finished_jobs
from tests.conftest import StartGateway
from tests.support.archiver import (
    ArchiverProcess,
    HeldLock,
    archived_rows,
    archiver_env,
    eventually,
)
from tests.support.ports import free_port
from tests.support.postgres import PostgresProcess
from tests.support.redis_proc import RedisProcess


@pytest.fixture
def own_postgres() -> Iterator[PostgresProcess]:
    """A PostgreSQL of this test's own: it is stopped in the middle of a pass."""
    server = PostgresProcess().start()
    yield server
    server.remove()


async def test_postgresql_down_during_a_pass_removes_nothing_and_the_next_pass_archives(
    redis_url: str, own_postgres: PostgresProcess, start_gateway: StartGateway, tmp_path: Path
) -> None:
    ids = await finished_jobs(start_gateway, redis_url, 30)
    database_url = own_postgres.url()
    env = archiver_env(
        redis_url, database_url, ARCHIVE_BATCH="10", ARCHIVE_HOLD_AFTER_COMMIT_LOCK="77"
    )
    archiver = await ArchiverProcess(env, tmp_path).start()  # the run loop, not --once
    try:
        async with HeldLock(database_url, 77) as lock:

            async def holding() -> bool:
                return await lock.waiting() == 1

            await eventually(holding, 20, "the archiver committed a batch and waits", archiver)
            own_postgres.stop()  # mid-pass: its first batch committed, not yet removed

        async def failed_twice() -> bool:
            failures = await archiver.metric(
                "archive_pass_failures_total", dependency="postgresql"
            )
            return failures is not None and failures >= 2

        await eventually(failed_twice, 20, "two passes failed on PostgreSQL", archiver)
        assert archiver.running(), archiver.log()
        assert await finished_count(redis_url) == 30  # nothing removed from Redis
        assert "pass failed: postgresql unavailable" in archiver.log()

        own_postgres.start()

        async def caught_up() -> bool:
            return await finished_count(redis_url) == 0

        await eventually(caught_up, 30, "everything archived once PostgreSQL is back", archiver)
        rows = await archived_rows(database_url)
        assert Counter(row["job_id"] for row in rows) == Counter(ids)
        archived = await archiver.metric(
            "archive_jobs_archived_total", queue="critical-events", state="completed"
        )
        assert archived == 30
        assert (await archiver.metric("archive_last_success_timestamp_seconds") or 0) > 0
        assert archiver.running()
        assert archiver.process is not None
        archiver.process.terminate()
        assert await archiver.exit_code(15) == 0, archiver.log()
    finally:
        await archiver.kill()


async def test_redis_unreachable_at_start_is_waited_for(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    redis = RedisProcess(tmp_path / "redis", port=port)
    env = archiver_env(f"redis://127.0.0.1:{port}/0", database_url)
    archiver = await ArchiverProcess(env, tmp_path).start()
    try:
        async def failed_on_redis() -> bool:
            failures = await archiver.metric("archive_pass_failures_total", dependency="redis")
            return failures is not None and failures >= 1

        await eventually(failed_on_redis, 20, "a pass failed on Redis", archiver)
        assert archiver.running(), archiver.log()
        redis.start()

        async def succeeded() -> bool:
            return (await archiver.metric("archive_last_success_timestamp_seconds") or 0) > 0

        await eventually(succeeded, 20, "a pass went through once Redis answers", archiver)
        assert archiver.running()
    finally:
        await archiver.kill()
        redis.stop()
