"""The python-socketio server: our namespaces only, orjson, the Redis adapter, and
websocket compression as configured."""

from typing import Any

import socketio

from config import ServerSettings
from gateway import jsonshim
from gateway.adapter import RedisAdapter
from gateway.websocket import install_websocket_driver

MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
INVALID_NAMESPACE = {"message": "Invalid namespace"}


class GatewayServer(socketio.AsyncServer):  # type: ignore[misc]
    """Answers an unknown namespace the way Node's socket.io does (`Invalid namespace`)
    instead of python-socketio's `Unable to connect` string, which JS clients can't read."""

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


def build_socketio_server(settings: ServerSettings, adapter: RedisAdapter) -> GatewayServer:
    origins: str | list[str] | None
    if "*" in settings.cors_allowed_origins:
        origins = "*"
    elif settings.cors_allowed_origins:
        origins = list(settings.cors_allowed_origins)
    else:
        origins = None  # python-socketio: same origin only
    server = GatewayServer(
        async_mode="aiohttp",
        client_manager=adapter,
        json=jsonshim,
        namespaces=list(settings.namespaces),
        cors_allowed_origins=origins,
        ping_interval=settings.ping_interval_seconds,
        ping_timeout=settings.ping_timeout_seconds,
        max_http_buffer_size=MAX_CLIENT_MESSAGE_BYTES,
        logger=False,
        engineio_logger=False,
    )
    install_websocket_driver(server.eio, compress=settings.websocket_compression)
    return server
