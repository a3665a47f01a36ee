"""BullMQ consumers: decode each job once into a `Notification` and hand it to a `Notifier`."""

from consumers.decode import InvalidNotification, NotificationDecoder
from consumers.notification import Notification
from consumers.observer import ConsumerObserver, Outcome
from consumers.processor import NotificationProcessor, Throttling
from consumers.protocols import Notifier, RedisClientFactory
from consumers.trailing import TRAILING_JOB_NAME, TrailingScheduler
from consumers.workers import QueueConsumers

__all__ = [
    "TRAILING_JOB_NAME",
    "ConsumerObserver",
    "InvalidNotification",
    "Notification",
    "NotificationDecoder",
    "NotificationProcessor",
    "Notifier",
    "Outcome",
    "QueueConsumers",
    "RedisClientFactory",
    "Throttling",
    "TrailingScheduler",
]
