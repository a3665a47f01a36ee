"""Finished jobs in Redis: read them a batch at a time, remove those archived.

Reading is two round trips per batch (the ids with their scores, then the fields of
every job in one pipeline) and blocks Redis for neither. Removal is one Lua script per
batch (lua/remove_finished.lua): atomic, and it removes a job only while it is still in
its finished set with the score that was archived.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis
from redis.exceptions import RedisError

from archiver import keys
from archiver.errors import RedisUnavailable
from archiver.keys import FinishedState
from archiver.rows import JOB_FIELDS, FinishedJob

_REMOVE = resources.files("archiver").joinpath("lua/remove_finished.lua").read_text("utf-8")


@dataclass(frozen=True, slots=True)
class Removal:
    removed: int
    # Ids not removed: gone meanwhile, or finished again since they were read.
    kept: list[str]


class FinishedJobs:
    def __init__(self, redis: "Redis", prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._remove = redis.register_script(_REMOVE)

    async def read(
        self, queue: str, state: FinishedState, cutoff_ms: int, offset: int, count: int
    ) -> list[FinishedJob | str]:
        """Up to `count` jobs that finished at or before `cutoff_ms`, oldest first, from
        position `offset`; a job whose hash is gone meanwhile comes back as its bare id."""
        finished = keys.finished_set(self._prefix, queue, state)
        try:
            members = await self._redis.zrangebyscore(
                finished, "-inf", cutoff_ms, start=offset, num=count, withscores=True
            )
            if not members:
                return []
            async with self._redis.pipeline(transaction=False) as pipe:
                for member, _ in members:
                    pipe.hmget(keys.job_key(self._prefix, queue, _text(member)), list(JOB_FIELDS))
                values = await pipe.execute()
        except RedisError as error:
            raise RedisUnavailable(f"{type(error).__name__}: {error}") from error
        jobs: list[FinishedJob | str] = []
        for (member, score), fields in zip(members, values, strict=True):
            job_id = _text(member)
            if all(value is None for value in fields):
                jobs.append(job_id)
                continue
            decoded = {
                name: None if value is None else _text(value)
                for name, value in zip(JOB_FIELDS, fields, strict=True)
            }
            jobs.append(FinishedJob(queue, state, job_id, int(score), decoded))
        return jobs

    async def remove(
        self, queue: str, state: FinishedState, jobs: Sequence[FinishedJob]
    ) -> Removal:
        if not jobs:
            return Removal(0, [])
        args: list[str | int] = [keys.queue_key_prefix(self._prefix, queue)]
        for job in jobs:
            args += [job.job_id, job.finished_ms]
        try:
            reply = await self._remove(
                keys=[keys.finished_set(self._prefix, queue, state)], args=args
            )
        except RedisError as error:
            raise RedisUnavailable(f"{type(error).__name__}: {error}") from error
        return Removal(int(reply[0]), [_text(job_id) for job_id in reply[1:]])

    async def still_in_range(
        self, queue: str, state: FinishedState, job_ids: Sequence[str], cutoff_ms: int
    ) -> list[str]:
        """Those of `job_ids` still in the finished set with a score up to `cutoff_ms`."""
        if not job_ids:
            return []
        try:
            scores = await self._redis.zmscore(
                keys.finished_set(self._prefix, queue, state), list(job_ids)
            )
        except RedisError as error:
            raise RedisUnavailable(f"{type(error).__name__}: {error}") from error
        return [
            job_id for job_id, score in zip(job_ids, scores, strict=True)
            if score is not None and score <= cutoff_ms
        ]

    async def count(self, queue: str, state: FinishedState) -> int:
        """How many finished jobs of this state the queue holds (archivable or not yet)."""
        try:
            return int(await self._redis.zcard(keys.finished_set(self._prefix, queue, state)))
        except RedisError as error:
            raise RedisUnavailable(f"{type(error).__name__}: {error}") from error


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
