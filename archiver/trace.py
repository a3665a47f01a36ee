"""The trace id the gateway gives a job whose metadata has none.

The gateway derives it from where the job lives (prefix, queue, job id, creation time)
so that it is the same on every attempt; clients see it in `metadata.trace_id`. The
archive stores the same value, computed by the job format's own decoder, so
`find --trace-id` finds what a client reported (tests/archiver/test_archive_end_to_end.py
checks it against what a real pod emitted).
"""

import functools

from jobformat import NotificationDecoder


@functools.lru_cache(maxsize=16)
def _decoder(prefix: str) -> NotificationDecoder:
    # Only its trace ids are used: namespaces and the size limit play no part in them.
    return NotificationDecoder((), 1, prefix)


def gateway_trace_id(prefix: str, queue: str, job_id: str, created_at_ms: int) -> str:
    return _decoder(prefix).trace_id(queue, job_id, created_at_ms)
