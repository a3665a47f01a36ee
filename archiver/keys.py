"""BullMQ's Redis key names as the archiver reads them; the only place they are spelled.

BullMQ keeps a queue's finished jobs in two sorted sets scored by `finishedOn` (ms), and
each job in a hash next to a few companion keys; the names follow its `QueueKeys`.
"""

from typing import Literal

FinishedState = Literal["completed", "failed"]
FINISHED_STATES: tuple[FinishedState, ...] = ("completed", "failed")
# Keys BullMQ deletes with a job (its removeJobKeys): the hash and these suffixes.
JOB_KEY_SUFFIXES = ("", ":logs", ":dependencies", ":processed", ":failed", ":unsuccessful")


def queue_key_prefix(prefix: str, queue: str) -> str:
    """`<prefix>:<queue>:`; a job's hash is this followed by its id."""
    return f"{prefix}:{queue}:"


def finished_set(prefix: str, queue: str, state: FinishedState) -> str:
    return f"{queue_key_prefix(prefix, queue)}{state}"


def job_key(prefix: str, queue: str, job_id: str) -> str:
    return f"{queue_key_prefix(prefix, queue)}{job_id}"
