"""BullMQ consumers: decode each job once into a `Notification` (the job format,
`jobformat`) and hand it to a `Notifier`."""

from consumers.observer import ConsumerObserver, Outcome
from consumers.processor import NotificationProcessor, Throttling
from consumers.protocols import Notifier, RedisClientFactory
from consumers.trailing import TRAILING_JOB_NAME, TrailingScheduler
from consumers.workers import QueueConsumers

__all__ = [
    "TRAILING_JOB_NAME",
    "ConsumerObserver",
    "NotificationProcessor",
    "Notifier",
    "Outcome",
    "QueueConsumers",
    "RedisClientFactory",
    "Throttling",
    "TrailingScheduler",
]
