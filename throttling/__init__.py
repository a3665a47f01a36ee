"""The cross-pod per-resource throttle (the contract's section 3).

Holds: the throttle's Lua scripts and their client (`throttle`), its decisions
(`decision`), and its Redis key names and trailing job ids (`keys`). May import:
`config`, redis, the standard library.
"""

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
