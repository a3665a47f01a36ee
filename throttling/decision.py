from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    EMIT = 1
    HOLD = 0
    DROP = -1


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one notification. On HOLD, the trailing emit is due at
    `window_end_ms` (Redis clock) and must be scheduled under `trailing_job_id`."""

    verdict: Verdict
    key: str
    window_end_ms: int
    superseded: bool
    now_ms: int

    @property
    def delay_ms(self) -> int:
        return max(0, self.window_end_ms - self.now_ms)


@dataclass(frozen=True, slots=True)
class Held:
    """The notification held for a key's trailing edge, as stored, and its version."""

    encoded: bytes
    version: str


@dataclass(frozen=True, slots=True)
class NotYet:
    """Something is held but its window is still open: this trailing job came early
    (a duplicate of an earlier window's id, or a retry after the window moved on).
    The trailing job of `window_end_ms` must exist; scheduling it again is harmless."""

    window_end_ms: int
    now_ms: int

    @property
    def delay_ms(self) -> int:
        return max(0, self.window_end_ms - self.now_ms)


@dataclass(frozen=True, slots=True)
class Flushed:
    """After a trailing emit: whether a newer notification is already held for the
    window that just opened, and when that window ends."""

    newer_pending: bool
    window_end_ms: int
    now_ms: int

    @property
    def delay_ms(self) -> int:
        return max(0, self.window_end_ms - self.now_ms)
