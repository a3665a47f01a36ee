"""The trace id the gateway gives a job whose metadata has none.

The gateway derives it from where the job lives (prefix, queue, job id, creation time)
so that it is the same on every attempt; clients see it in `metadata.trace_id`. The
archive stores the same value, so `find --trace-id` finds what a client reported.
tests/archiver/test_archive_end_to_end.py checks it against what a real pod emitted.
"""

import uuid

# The decoder's namespace for these ids (consumers' job format): not the producer API's.
_GATEWAY_TRACE_NAMESPACE = uuid.UUID("6f1d0c3e-2b5a-4c8e-9f47-1a2b3c4d5e6f")


def gateway_trace_id(prefix: str, queue: str, job_id: str, created_at_ms: int) -> str:
    return str(uuid.uuid5(_GATEWAY_TRACE_NAMESPACE, f"{prefix}:{queue}:{job_id}:{created_at_ms}"))
