from gateway.realtime.adapter import RedisAdapter
from jobformat import Notification


class SocketIONotifier:
    """The consumers' `Notifier`: a notification is appended to the log and published to
    every pod in one call, for all its rooms at once (a socket in several of them gets it
    once); `RedisAdapter` raises when that fails, so the job is retried."""

    def __init__(self, adapter: RedisAdapter) -> None:
        self._adapter = adapter

    async def notify(self, notification: Notification) -> None:
        await self._adapter.publish_notification(notification)
