from gateway.server import GatewayServer
from jobformat import Notification


class SocketIONotifier:
    """The consumers' `Notifier`: one emit to all of a notification's rooms at once, so a
    socket in several of them gets it once; it is encoded once for all recipients.
    `RedisAdapter` raises when the publish to other pods fails."""

    def __init__(self, server: GatewayServer) -> None:
        self._server = server

    async def notify(self, notification: Notification) -> None:
        await self._server.emit(
            notification.event,
            notification.payload,
            to=list(notification.rooms),
            namespace=notification.namespace,
        )
