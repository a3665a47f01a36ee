"""What the transport reports, and to whom: `TransportObserver`, implemented by the
pod's metrics (gateway/web/metrics.py); the transport itself knows nothing of them."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class DropReason(StrEnum):
    """Why a slow client was dropped (gateway/transport/backpressure.py)."""

    BUFFER_FULL = "buffer_full"
    SEND_TIMEOUT = "send_timeout"


@dataclass(slots=True)
class Delivery:
    """How one broadcast reached its local recipients (gateway/transport/fastpath.py)."""

    written: int = 0
    queued: int = 0
    normal: int = 0
    dropped: int = 0


class DropObserver(Protocol):
    def slow_client_dropped(self, reason: str) -> None:
        """A client that stopped reading was dropped, for `reason` (a `DropReason`)."""


class FastPathObserver(Protocol):
    def broadcast_delivered(self, delivery: Delivery) -> None:
        """Once per broadcast, not per recipient."""


class TransportObserver(DropObserver, FastPathObserver, Protocol):
    """Everything the transport reports."""
