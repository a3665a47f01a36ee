"""What the Socket.IO layer reports, and to whom: `RealtimeObserver`, implemented by the
pod's metrics (gateway/web/metrics.py); this package knows nothing of Prometheus."""

from typing import Protocol

from gateway.transport.observer import TransportObserver


class RecoveryObserver(Protocol):
    def recovery_finished(self, outcome: str) -> None:
        """A connect's recovery decided, with its `RecoveryOutcome`."""


class RealtimeObserver(RecoveryObserver, TransportObserver, Protocol):
    """Everything the Socket.IO layer and the transport under it report."""

    def client_connected(self, namespace: str) -> None: ...

    def client_disconnected(self, namespace: str) -> None:
        """Only for a client that `client_connected` reported."""

    def auth_failed(self, reason: str) -> None:
        """A connect refused for its token (`AuthError.reason`)."""

    def connection_refused(self, reason: str) -> None:
        """An Engine.IO handshake refused (`capacity`)."""

    def client_message_ignored(self, outcome: str) -> None:
        """A packet from a client not acted on: `ignored` (not an event clients may send)
        or `rate_limited` (over its rate)."""

    def client_dropped(self, reason: str) -> None:
        """A connection closed for misbehaving: `rate_limited`, `handshake_timeout`."""
