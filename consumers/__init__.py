"""BullMQ consumers: decode each job once into a `Notification` (the job format,
`jobformat`) and hand it to a `Notifier`.

Holds: one worker per queue (`workers`) with our slot loop (`slots`), paced fetching
(`fetching`), unreadable jobs failed at once (`unreadable`), queue precedence
(`precedence`) and job counts per queue (`depth`); the job processor (`processor`),
throttled trailing emits (`trailing`), and the protocols it is served and observed
through (`protocols`, `observer`). May
import: `config`, `jobformat`, `throttling`, `auth` types; bullmq, redis. Never the
gateway: it emits through `Notifier`, reports through `ConsumerObserver`.
"""

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
