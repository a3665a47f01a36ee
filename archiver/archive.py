"""One pass of the archiver: every queue's completed and failed jobs that finished before
the cut-off go to PostgreSQL, a batch at a time, and only then leave Redis.

Per batch: read the oldest jobs; commit their rows; remove from Redis exactly those
whose rows are committed and which are still finished with the same score. A crash or
an outage between the commit and the removal leaves the jobs in Redis with their rows
already in PostgreSQL: the next pass finds them again, inserts nothing twice (the
table's unique job-and-outcome key), and removes them. Two archivers at once read the
same jobs and the same happens. Jobs waiting, delayed or active are in other keys and
never read; the throttle's trailing jobs are skipped (archiver/exclusions.py).
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from archiver.database import Database
from archiver.exclusions import is_throttle_trailing
from archiver.keys import FINISHED_STATES, FinishedState
from archiver.observer import ArchiveObserver, NoObserver
from archiver.rows import FinishedJob, Row, Unreadable, to_row
from archiver.source import FinishedJobs

logger = logging.getLogger("archiver")


@dataclass(slots=True)
class PassResult:
    archived: int = 0
    left: dict[str, int] = field(default_factory=dict)
    # False when a stop request ended the pass early (between batches).
    complete: bool = True


class Archiver:
    def __init__(
        self,
        *,
        source: FinishedJobs,
        database: Database,
        prefix: str,
        queues: tuple[str, ...],
        min_age_seconds: float,
        batch: int,
        observer: ArchiveObserver | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._database = database
        self._prefix = prefix
        self._queues = queues
        self._min_age_ms = int(min_age_seconds * 1000)
        self._batch = batch
        self._observer = observer or NoObserver()
        self._clock = clock

    async def run_pass(self, stop: asyncio.Event | None = None) -> PassResult:
        """Raises `DependencyUnavailable` when Redis or PostgreSQL fails it; whatever was
        committed and removed before that stays done."""
        result = PassResult()
        cutoff_ms = int(self._clock() * 1000) - self._min_age_ms
        for queue in self._queues:
            for state in FINISHED_STATES:
                await self._drain(queue, state, cutoff_ms, result, stop)
                if stop is not None and stop.is_set():
                    result.complete = False
                    return result
                self._observer.finished_in_redis(
                    queue, state, await self._source.count(queue, state)
                )
        return result

    async def _drain(
        self,
        queue: str,
        state: FinishedState,
        cutoff_ms: int,
        result: PassResult,
        stop: asyncio.Event | None,
    ) -> None:
        # The scan reads the oldest jobs first and steps over those it leaves in the set
        # (skipped, refused, or not removed). Before each read it counts how many of them
        # are still there, up to the cut-off: whatever another archiver, or BullMQ's own
        # trimming, removed meanwhile then shifts nothing, so one pass reaches every job
        # that finished before it began. (Jobs only leave that range during a pass: one
        # that finishes again gets a newer score.)
        left: list[str] = []
        while stop is None or not stop.is_set():
            left = await self._source.still_in_range(queue, state, left, cutoff_ms)
            jobs = await self._source.read(queue, state, cutoff_ms, len(left), self._batch)
            if not jobs:
                return
            rows, archivable = self._rows(queue, jobs, result)
            tried = {job.job_id for job in archivable}
            left += [job_id for job_id in map(_job_id, jobs) if job_id not in tried]
            if rows:
                left += await self._archive(queue, state, rows, archivable, result)
            if len(jobs) < self._batch:
                return

    async def _archive(
        self,
        queue: str,
        state: FinishedState,
        rows: list[Row],
        archivable: list[FinishedJob],
        result: PassResult,
    ) -> list[str]:
        """Commit the rows, then remove their jobs; the ids of those left in Redis."""
        stored = await self._database.store(rows)
        if stored.refused:
            self._refused(queue, stored.refused, result)
        await self._database.hold_after_commit()
        committed = {row["job_id"] for row in stored.rows}
        removal = await self._source.remove(
            queue, state, [job for job in archivable if job.job_id in committed]
        )
        result.archived += removal.removed
        self._observer.archived(queue, state, removal.removed)
        return [row["job_id"] for row, _ in stored.refused] + removal.kept

    def _rows(
        self, queue: str, jobs: list[FinishedJob | str], result: PassResult
    ) -> tuple[list[Row], list[FinishedJob]]:
        rows: list[Row] = []
        archivable: list[FinishedJob] = []
        unreadable = 0
        for job in jobs:
            if isinstance(job, str):  # its hash is gone: removed by someone else meanwhile
                continue
            if is_throttle_trailing(job.fields.get("name"), job.job_id):
                continue
            try:
                rows.append(to_row(self._prefix, job))
            except Unreadable as error:
                unreadable += 1
                logger.warning("left in Redis: job %s of %s: %s", job.job_id, queue, error)
                continue
            archivable.append(job)
        if unreadable:
            self._left(queue, "unreadable", unreadable, result)
        return rows, archivable

    def _refused(self, queue: str, refused: list[tuple[Row, str]], result: PassResult) -> None:
        for row, reason in refused:
            logger.warning(
                "left in Redis: job %s of %s: PostgreSQL refused it: %s",
                row["job_id"], queue, reason,
            )
        self._left(queue, "refused", len(refused), result)

    def _left(self, queue: str, reason: str, count: int, result: PassResult) -> None:
        result.left[reason] = result.left.get(reason, 0) + count
        self._observer.left(queue, reason, count)


def _job_id(job: FinishedJob | str) -> str:
    return job if isinstance(job, str) else job.job_id
