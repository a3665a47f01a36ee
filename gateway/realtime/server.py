"""The python-socketio server: our namespaces only, orjson, the Redis adapter,
websocket compression as configured, the broadcast fast path, and what a client may
cost the pod.

What it overrides and relies on of python-socketio and engineio is listed, pinned by
hash, in seams/register.py.
"""

import asyncio
import logging
from typing import Any

import socketio
from engineio.async_socket import AsyncSocket

from config import ServerSettings
from gateway.realtime import jsonshim
from gateway.realtime.adapter import RedisAdapter
from gateway.realtime.client_limits import MessageRateLimiter
from gateway.realtime.delivery import LocalDelivery
from gateway.realtime.observer import RealtimeObserver
from gateway.realtime.recovery import ConnectionRecovery
from gateway.transport.backpressure import BackPressure
from gateway.transport.closing import close_transport
from gateway.transport.fastpath import BroadcastFastPath
from gateway.transport.lean_socket import LeanSocket, PingTimers
from gateway.transport.websocket import install_websocket_driver
from notification_log import PidSigner

logger = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
INVALID_NAMESPACE = {"message": "Invalid namespace"}
AT_CAPACITY = {"message": "Server at capacity"}
# Events clients may send; later features add theirs here. Anything else is ignored.
CLIENT_EVENTS: frozenset[str] = frozenset()


class GatewayServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server with the gateway's rules for clients.

    - An unknown namespace is answered the way Node's socket.io does (`Invalid
      namespace`), not with python-socketio's string that JS clients can't read.
    - Client events outside `CLIENT_EVENTS` and client acks never reach a handler: they
      are counted and dropped. (python-socketio would dispatch a client-sent event
      named `disconnect` or `connect` to the namespace's own handlers.)
    - Every Socket.IO packet a client sends passes a per-connection rate limit; a
      client over it is disconnected.
    - Connections beyond `max_connections` are refused at the handshake with
      `Server at capacity`; a connection that joins no namespace in time is closed.
    - Connection state recovery (gateway/realtime/recovery.py): the namespace CONNECT reply
      carries the `pid` the connect handler chose, and a recovered socket's replay is
      queued right after that reply.
    """

    # Set by build_socketio_server when recovery is on.
    recovery: ConnectionRecovery | None = None

    def __init__(
        self, settings: ServerSettings, observer: RealtimeObserver, **options: Any
    ) -> None:
        super().__init__(**options)
        self._observer = observer
        self._max_connections = settings.max_connections
        self._handshake_timeout = settings.handshake_timeout_seconds
        self._limiter = MessageRateLimiter(
            settings.client_message_rate, settings.client_message_burst
        )
        self._handshake_timers: dict[str, asyncio.TimerHandle] = {}
        self._ping_timers = PingTimers(self.eio)
        self._socket_class = type("LeanSocket", (LeanSocket,), {"ping_timers": self._ping_timers})
        # The pid of each namespace CONNECT reply about to be sent, by Socket.IO sid.
        self.connect_pids: dict[str, str] = {}

    def start_manager(self) -> None:
        """Start the client manager (the adapter's listener) now, from the pod's cleanup
        context, rather than at the first connect as python-socketio would; its
        `manager_initialized` flag tells it that is done (seams/register.py)."""
        self.manager_initialized = True
        self.manager.initialize()

    async def _handle_eio_connect(self, eio_sid: str, environ: dict[str, Any]) -> Any:
        # engineio has already counted this socket in `sockets`.
        if self._max_connections and len(self.eio.sockets) > self._max_connections:
            self._observer.connection_refused("capacity")
            return AT_CAPACITY
        self._handshake_timers[eio_sid] = asyncio.get_running_loop().call_later(
            self._handshake_timeout, self._check_handshake, eio_sid
        )
        socket = self.eio.sockets.get(eio_sid)
        if socket is not None and type(socket) is AsyncSocket:
            # Before engineio schedules its first ping (gateway/transport/lean_socket.py).
            socket.__class__ = self._socket_class
        return await super()._handle_eio_connect(eio_sid, environ)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        if not self._limiter.allow(eio_sid):
            self._observer.client_message_ignored("rate_limited")
            await self._drop(eio_sid, "rate_limited")
            return
        await super()._handle_eio_message(eio_sid, data)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        self._limiter.forget(eio_sid)
        self._ping_timers.forget(eio_sid)
        timer = self._handshake_timers.pop(eio_sid, None)
        if timer is not None:
            timer.cancel()
        await super()._handle_eio_disconnect(eio_sid, reason)

    async def _handle_connect(self, eio_sid: str, namespace: str | None, data: Any) -> None:
        if (namespace or "/") not in self.namespace_handlers:
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    socketio.packet.CONNECT_ERROR, data=INVALID_NAMESPACE, namespace=namespace
                ),
            )
            return
        await super()._handle_connect(eio_sid, namespace, data)
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        if sid is not None:
            # Connected: the handshake timer has nothing left to check (and would hold
            # its handle for the rest of the timeout).
            timer = self._handshake_timers.pop(eio_sid, None)
            if timer is not None:
                timer.cancel()
            if eio_sid not in self.eio.sockets:
                # It went away while the connect handler awaited the log: python-socketio
                # skipped its disconnect then (the sid was still connecting); run it now.
                await self._handle_disconnect(eio_sid, namespace, self.reason.TRANSPORT_CLOSE)
            elif self.recovery is not None:
                self.recovery.connected(sid)

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        if (
            self.connect_pids
            and pkt.packet_type == socketio.packet.CONNECT
            and isinstance(pkt.data, dict)
        ):
            pid = self.connect_pids.pop(str(pkt.data.get("sid")), None)
            if pid is not None:
                pkt.data = {**pkt.data, "pid": pid}
        await super()._send_packet(eio_sid, pkt)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        event = data[0] if isinstance(data, list) and data else None
        if event not in CLIENT_EVENTS:
            self._observer.client_message_ignored("ignored")
            return
        await super()._handle_event(eio_sid, namespace, id, data)  # pragma: no cover

    async def _handle_ack(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        self._observer.client_message_ignored("ignored")

    def _check_handshake(self, eio_sid: str) -> None:
        self._handshake_timers.pop(eio_sid, None)
        if eio_sid not in self.eio.sockets:
            return
        if any(
            self.manager.sid_from_eio_sid(eio_sid, namespace) is not None
            for namespace in self.namespace_handlers
        ):
            return
        self.start_background_task(self._drop, eio_sid, "handshake_timeout")

    async def _drop(self, eio_sid: str, reason: str) -> None:
        logger.info("dropping client %s: %s", eio_sid, reason)
        self._observer.client_dropped(reason)
        await close_transport(self.eio, eio_sid)


def build_socketio_server(
    settings: ServerSettings,
    adapter: RedisAdapter,
    observer: RealtimeObserver,
    signer: PidSigner | None = None,
) -> GatewayServer:
    """`signer` given: connection state recovery on (gateway/realtime/recovery.py)."""
    origins: str | list[str] | None
    if "*" in settings.cors_allowed_origins:
        origins = "*"
    elif settings.cors_allowed_origins:
        origins = list(settings.cors_allowed_origins)
    else:
        origins = None  # python-socketio: same origin only
    server = GatewayServer(
        settings,
        observer,
        async_mode="aiohttp",
        client_manager=adapter,
        json=jsonshim,
        namespaces=list(settings.namespaces),
        cors_allowed_origins=origins,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_timeout_seconds,
        max_http_buffer_size=MAX_CLIENT_MESSAGE_BYTES,
        # No client event handlers run, so no task per client message.
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )
    # Clients that stop reading are dropped, not buffered for (gateway/transport/backpressure.py).
    back_pressure = BackPressure(
        server.eio,
        max_pending_bytes=settings.max_pending_bytes,
        send_timeout=settings.send_timeout_seconds,
        observer=observer,
    )
    back_pressure.install()
    install_websocket_driver(
        server.eio, compress=settings.websocket_compression, back_pressure=back_pressure
    )
    # Local delivery of broadcasts, this pod's and other pods', with one prebuilt frame.
    adapter.broadcast = (
        BroadcastFastPath(server.eio, back_pressure, observer=observer)
        if settings.broadcast_fast_path
        else None
    )
    delivery = LocalDelivery(
        server.eio,
        adapter,
        lambda eio_sid: server.start_background_task(close_transport, server.eio, eio_sid),
    )
    delivery.fast_path = adapter.broadcast
    delivery.with_offsets = signer is not None
    adapter.delivery = delivery
    if signer is not None:
        server.recovery = ConnectionRecovery(adapter.log, signer, delivery, observer)
    return server
