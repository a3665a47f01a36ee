"""What the archiver reports, as a protocol: archiver/metrics.py turns it into Prometheus
metrics, tests can record it, and the pass logic knows neither."""

from typing import Protocol

from archiver.keys import FinishedState


class ArchiveObserver(Protocol):
    def archived(self, queue: str, state: FinishedState, count: int) -> None:
        """`count` jobs were committed to PostgreSQL and then removed from Redis."""

    def left(self, queue: str, reason: str, count: int) -> None:
        """`count` finished jobs were left in Redis: `unreadable` (their times cannot be
        read) or `refused` (PostgreSQL refused the row); logged with their ids."""

    def finished_in_redis(self, queue: str, state: FinishedState, count: int) -> None:
        """After a pass: how many finished jobs the queue still holds in Redis."""

    def pass_finished(self, seconds: float, succeeded: bool, dependency: str | None) -> None:
        """A pass ended; `dependency` names what failed it (`redis`, `postgresql`)."""


class NoObserver:
    def archived(self, queue: str, state: FinishedState, count: int) -> None:
        pass

    def left(self, queue: str, reason: str, count: int) -> None:
        pass

    def finished_in_redis(self, queue: str, state: FinishedState, count: int) -> None:
        pass

    def pass_finished(self, seconds: float, succeeded: bool, dependency: str | None) -> None:
        pass
