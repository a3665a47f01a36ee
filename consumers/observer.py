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

    def notification_coalesced(self, queue: str, event: str) -> None:
        """A held notification was replaced by a newer one before its trailing emit."""
