"""Fail, at once and without retry, a job whose hash bullmq cannot read.

bullmq 3.4 parses a job's hash in `Worker.nextJobFromJobData` (`Job.fromJSON`:
`json.loads` of `data` and `opts`, `int()` of `timestamp`), after the `moveToActive`
script has already made the job active and locked it. When that raises (data that is
not JSON, JSON nested deeper than the recursion limit, a number of more than 4300
digits, a timestamp that is not an integer), `Worker.retryIfFailed` only emits an
"error": the job is never handed to the processor, its lock lapses, stalled-job
recovery moves it back to wait (and, past `maxStalledCount`, marks it to be failed,
which `processJob` would do, but never gets the job), and the next fetch raises again.
The job loops between wait and active for ever and never fails.

`FailUnreadableJobs` builds such a job from a copy of its hash with the unreadable
fields replaced, and `UnreadableJob` as its data, so the processor rejects it as an
invalid notification naming the field. Bytes that are not UTF-8 fail even earlier,
inside redis-py's reply decoding, where the job id is not known: `decode_tolerantly`
makes the worker's client decode them with surrogateescape, so they reach the same
path (and, encoded back the same way, still name the same Redis keys).

What it overrides and relies on of bullmq and redis-py is listed, pinned by hash, in
seams/register.py.
"""

import json
import logging
from typing import Any

from bullmq import Job, Worker
from redis.asyncio import Redis

from jobformat import UnreadableJob

logger = logging.getLogger(__name__)

_JSON_FIELDS = {"data": "null", "opts": "{}"}
_MAX_DETAIL = 120


class FailUnreadableJobs(Worker):  # type: ignore[misc]
    """Mixin for a bullmq Worker (put it first among the bases)."""

    async def nextJobFromJobData(
        self,
        job_data: dict[str, Any] | None = None,
        job_id: str | None = None,
        limit_until: int = 0,
        delay_until: int = 0,
        token: str | None = None,
    ) -> Job | None:
        try:
            return await super().nextJobFromJobData(
                job_data, job_id, limit_until, delay_until, token
            )
        except Exception:
            if not job_data:
                raise
            readable, problems = _readable(job_data)
            if not problems:
                raise
            problem = "; ".join(problems)
            logger.warning("job %s of %s cannot be read: %s", job_id, self.name, problem)
            job = await super().nextJobFromJobData(
                readable, job_id, limit_until, delay_until, token
            )
            job.data = UnreadableJob(problem)
            return job


def decode_tolerantly(client: Redis) -> Redis:
    """Have `client` (not yet connected) decode replies with surrogateescape: UTF-8 is
    decoded as before; other bytes become lone surrogates instead of an exception."""
    client.connection_pool.connection_kwargs["encoding_errors"] = "surrogateescape"
    return client


def _readable(job_data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    readable = dict(job_data)
    problems = []
    for field, stand_in in _JSON_FIELDS.items():
        if field not in readable:
            continue
        try:
            value = json.loads(readable[field])
            if field == "opts" and not isinstance(value, dict):
                raise ValueError("not an object")
        except RecursionError:
            readable[field] = stand_in
            problems.append(f"job {field} is nested too deeply to be read")
        except ValueError as error:
            readable[field] = stand_in
            problems.append(f"job {field} is not valid JSON ({_brief(str(error))})")
    timestamp = readable.get("timestamp")
    if timestamp is not None:
        try:
            int(timestamp)
        except ValueError:
            readable["timestamp"] = "0"
            problems.append(f"job timestamp {_brief(repr(timestamp))} is not an integer")
    return readable, problems


def _brief(text: str) -> str:
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."
