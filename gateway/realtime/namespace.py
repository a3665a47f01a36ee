"""One Socket.IO namespace per service: JWT at connect, fixed rooms, expiry."""

import logging
import time
from typing import Any

import socketio

from auth import AuthError, VerificationKeys, verify
from gateway.realtime.observer import RealtimeObserver
from gateway.realtime.room_routing import RoomsUnavailable
from gateway.transport.closing import close_transport
from gateway.transport.expiry import ExpiryTimers

logger = logging.getLogger(__name__)

_BEARER = "bearer "
# How long a connect waits for its rooms' subscriptions (routing by room) before the
# transport is closed; the client then reconnects.
ROOMS_WAIT_SECONDS = 5.0


class NotificationNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    """Clients only listen here: there are no client event handlers, so a client can
    neither join rooms nor emit to others; its rooms come from its verified token."""

    def __init__(self, namespace: str, keys: VerificationKeys, observer: RealtimeObserver) -> None:
        super().__init__(namespace)
        self._keys = keys
        self._observer = observer
        self._expiry = ExpiryTimers(self._expire)
        # Who is connected, apart from expiry deadlines (a fired deadline is forgotten
        # before the socket's disconnect runs).
        self._connected: set[str] = set()

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        try:
            principal = verify(bearer_token(auth, environ), self._keys, time.time())
        except AuthError as error:
            self._observer.auth_failed(error.reason)
            raise socketio.exceptions.ConnectionRefusedError(error.message) from None
        server = self.server
        recovery = server.recovery
        if recovery is not None:
            eio_sid = server.manager.eio_sid_from_sid(sid, self.namespace)
            recovery.prepare(sid, eio_sid, auth)
        for room in principal.rooms:
            await self.enter_room(sid, room)
        try:
            # Routing by room: its rooms' subscriptions confirmed before the reply.
            position = await server.manager.wait_rooms(
                self.namespace, principal.rooms, ROOMS_WAIT_SECONDS
            )
        except RoomsUnavailable as error:
            logger.warning("closing a connect on %s: %s", self.namespace, error)
            if recovery is not None:
                recovery.forget(sid)
            eio_sid = server.manager.eio_sid_from_sid(sid, self.namespace)
            if eio_sid is not None:  # the client reconnects on its own, and recovers
                await close_transport(server.eio, eio_sid)
            return
        self._expiry.add(sid, principal.expires_at - time.time())
        self._connected.add(sid)
        self._observer.client_connected(self.namespace)
        if recovery is not None:
            try:
                pid = await recovery.finish(sid, self.namespace, principal.rooms, position)
            except BaseException:
                recovery.forget(sid)
                raise
            if pid is not None:
                server.connect_pids[sid] = pid

    async def on_disconnect(self, sid: str, reason: str | None = None) -> None:
        self._expiry.remove(sid)
        self.server.connect_pids.pop(sid, None)
        if self.server.recovery is not None:
            self.server.recovery.forget(sid)
        if sid in self._connected:
            self._connected.discard(sid)
            self._observer.client_disconnected(self.namespace)

    def _expire(self, sid: str) -> None:
        self.server.start_background_task(self._close_expired, sid)

    async def _close_expired(self, sid: str) -> None:
        """Close the transport, not just the namespace: Socket.IO clients reconnect on
        their own after a transport close (calling their auth callback for a fresh
        token), but not after a server-side namespace disconnect."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        if eio_sid is not None:
            logger.info("token of %s on %s expired; closing", sid, self.namespace)
            await close_transport(self.server.eio, eio_sid)


def bearer_token(auth: Any, environ: dict[str, Any]) -> object:
    """The token from `auth: {token}`, else from an `Authorization: Bearer` header."""
    if isinstance(auth, dict) and auth.get("token") not in (None, ""):
        return auth["token"]
    header = environ.get("HTTP_AUTHORIZATION", "")
    if isinstance(header, str) and header[: len(_BEARER)].lower() == _BEARER:
        return header[len(_BEARER) :].strip() or None
    return None
