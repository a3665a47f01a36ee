"""Finished jobs the archiver never touches: the throttle's trailing-edge jobs.

A trailing job (consumers' trailing scheduler) carries no notification of its own: it
points at the held notification in the throttle's Redis key, whose job is archived on
its own. The scheduler names it `gateway:throttle-trailing` and gives it the id
`throttle-<32 hex digits>-<window end, ms>` (throttling's `trailing_job_id`); it is
removed when done, but one left finished (an older release, a changed option) stays
where BullMQ put it. Both spellings are pinned against the gateway's own in
tests/archiver/test_trailing_jobs.py, because the archiver must not import consumers.
"""

import re

TRAILING_JOB_NAME = "gateway:throttle-trailing"
_TRAILING_JOB_ID = re.compile(r"throttle-[0-9a-f]{32}-[0-9]+")


def is_throttle_trailing(name: str | None, job_id: str) -> bool:
    return name == TRAILING_JOB_NAME or _TRAILING_JOB_ID.fullmatch(job_id) is not None
