"""Job ids and trace ids of produced notifications.

A deterministic job id (e.g. `records:res-123:1700000000`) makes a producer's retry
idempotent: BullMQ keeps one job per id. The trace id derived from it is the same on
every retry too, so clients that de-duplicate on `metadata.trace_id` drop a repeat.
"""

import uuid

from jobformat.decode import InvalidNotification

MAX_JOB_ID_LENGTH = 256
# Not the decoder's namespace: the decoder derives per-attempt-stable ids from the job's
# creation time; these are derived from the producer's job id alone.
_TRACE_NAMESPACE = uuid.UUID("0b3e6f52-8a4d-4c1e-b7a9-5d2f6c8e1a47")


def check_job_id(job_id: object) -> str:
    """The rules npm `bullmq` enforces too, so an id works from Node and Python alike:
    not an integer (those collide with BullMQ's own counter), and a `:` only in ids of
    exactly three parts (`process:{orderId}:{timestamp}`)."""
    if not isinstance(job_id, str) or not 0 < len(job_id) <= MAX_JOB_ID_LENGTH:
        raise InvalidNotification(f"job_id must be a string of 1 to {MAX_JOB_ID_LENGTH} characters")
    if str(_leading_int(job_id)) == job_id:
        raise InvalidNotification(f"job_id must not be an integer, got {job_id!r}")
    if ":" in job_id and job_id.count(":") != 2:
        raise InvalidNotification(
            f"job_id may contain ':' only as in 'a:b:c' (three parts), got {job_id!r}"
        )
    return job_id


def trace_id_for(prefix: str, queue: str, job_id: str | None) -> str:
    if job_id is None:
        return str(uuid.uuid4())
    return str(uuid.uuid5(_TRACE_NAMESPACE, f"{prefix}:{queue}:{job_id}"))


def _leading_int(text: str) -> int | None:
    """What JavaScript's `parseInt(text, 10)` reads, as npm bullmq checks with it."""
    digits = text.strip()
    sign = ""
    if digits[:1] in ("+", "-"):
        sign, digits = digits[0], digits[1:]
    count = len(digits) - len(digits.lstrip("0123456789"))
    if count == 0:
        return None
    return int(sign + digits[:count])
