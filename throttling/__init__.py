"""The cross-pod per-resource throttle (CONTRACT §3)."""

from throttling.decision import Decision, Flushed, Held, NotYet, Verdict
from throttling.keys import throttle_key, trailing_job_id
from throttling.throttle import Throttle

__all__ = [
    "Decision",
    "Flushed",
    "Held",
    "NotYet",
    "Throttle",
    "Verdict",
    "throttle_key",
    "trailing_job_id",
]
