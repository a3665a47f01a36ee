"""The notification job format (CONTRACT §2): what a job holds, its decoding and
validation into a `Notification`, and the job ids and trace ids producers give jobs.

Shared by the consumers (which decode jobs), the producer API (which checks a payload
with the same decoder before adding it) and the gateway (which emits and stores
`Notification`s). It may import only `config`, the standard library and orjson, so
importing it loads no worker, no Redis client and no web server: pyproject.toml's
import contracts and tests/jobformat/test_imports.py hold it to that.
"""

from jobformat.decode import (
    INVALID_EVENT_LABEL,
    InvalidNotification,
    NotificationDecoder,
    PayloadTooLarge,
    UnreadableJob,
    event_label,
    iso_timestamp,
)
from jobformat.job_ids import MAX_JOB_ID_LENGTH, check_job_id, trace_id_for
from jobformat.notification import Notification

__all__ = [
    "INVALID_EVENT_LABEL",
    "MAX_JOB_ID_LENGTH",
    "InvalidNotification",
    "Notification",
    "NotificationDecoder",
    "PayloadTooLarge",
    "UnreadableJob",
    "check_job_id",
    "event_label",
    "iso_timestamp",
    "trace_id_for",
]
