"""Nothing lost, nothing twice: an archiver SIGKILLed between its commit and the removal
from Redis, then run again; two archivers on the same jobs at once."""

import re
from collections import Counter
from pathlib import Path

from tests.archiver.finished import finished_count, finished_jobs
from tests.conftest import StartGateway
from tests.support.archiver import (
    ArchiverProcess,
    HeldLock,
    archived_rows,
    archiver_env,
    eventually,
    run_archiver,
)

LOCK = "4242"


async def test_a_crash_after_the_commit_then_a_rerun_archives_each_job_once(
    redis_url: str, database_url: str, start_gateway: StartGateway, tmp_path: Path
) -> None:
    ids = await finished_jobs(start_gateway, redis_url, 30)
    env = archiver_env(redis_url, database_url, ARCHIVE_BATCH="10")
    async with HeldLock(database_url, int(LOCK)) as lock:
        archiver = await ArchiverProcess(
            {**env, "ARCHIVE_HOLD_AFTER_COMMIT_LOCK": LOCK}, tmp_path, "--once"
        ).start()

        async def holding() -> bool:
            assert archiver.running(), archiver.log()
            return await lock.waiting() == 1

        await eventually(holding, 20, "the archiver committed a batch and waits", archiver)
        assert len(await archived_rows(database_url)) == 10
        assert await finished_count(redis_url) == 30  # committed, not yet removed
        await archiver.kill()

    status, output = await run_archiver(env, "--once")
    assert status == 0, output
    rows = await archived_rows(database_url)
    assert Counter(row["job_id"] for row in rows) == Counter(ids)  # each exactly once
    assert await finished_count(redis_url) == 0


async def test_two_archivers_at_once_archive_each_job_once(
    redis_url: str, database_url: str, start_gateway: StartGateway, tmp_path: Path
) -> None:
    ids = await finished_jobs(start_gateway, redis_url, 60)
    env = archiver_env(
        redis_url, database_url, ARCHIVE_BATCH="10", ARCHIVE_HOLD_AFTER_COMMIT_LOCK=LOCK
    )
    async with HeldLock(database_url, int(LOCK)) as lock:
        archivers = [await ArchiverProcess(env, tmp_path, "--once").start() for _ in range(2)]

        async def both_holding() -> bool:
            return await lock.waiting() == 2

        # Both read the same oldest batch and committed it; the second inserted nothing.
        await eventually(both_holding, 20, "both archivers committed a batch and wait", *archivers)
        assert len(await archived_rows(database_url)) == 10
        await lock.release()
        for archiver in archivers:
            assert await archiver.exit_code() == 0, archiver.log()

    rows = await archived_rows(database_url)
    assert Counter(row["job_id"] for row in rows) == Counter(ids)
    assert await finished_count(redis_url) == 0
    removed = [
        sum(int(n) for n in re.findall(r"(\d+) jobs archived", archiver.log()))
        for archiver in archivers
    ]
    assert sum(removed) == 60, removed  # each job removed from Redis by exactly one
