from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    EMITTED = "emitted"
    THROTTLED = "throttled"
    TRAILING = "trailing"
    INVALID = "invalid"
    FAILED = "failed"


class ConsumerObserver(Protocol):
    """What the consumers report; the gateway turns it into Prometheus metrics."""

    def job_finished(self, queue: str, event: str, outcome: Outcome) -> None: ...

    def notification_emitted(self, queue: str, lag_seconds: float) -> None: ...
