"""The producer API: add notification jobs that the gateway accepts (the contract's
section 2). May import: `config`, `jobformat`; bullmq (when the first job is added) and
redis.

    async with NotificationProducer("redis://127.0.0.1:6379/0") as notifier:
        await notifier.notify("records:updated", namespace="/data_owner",
                              rooms=["department:A"], id="res-123", data={"status": "ready"})
"""

from jobformat import InvalidNotification, PayloadTooLarge
from producer.producer import (
    DEFAULT_JOB_OPTIONS,
    DEFAULT_QUEUE,
    NotificationProducer,
    QueuedNotification,
)

__all__ = [
    "DEFAULT_JOB_OPTIONS",
    "DEFAULT_QUEUE",
    "InvalidNotification",
    "NotificationProducer",
    "PayloadTooLarge",
    "QueuedNotification",
]
