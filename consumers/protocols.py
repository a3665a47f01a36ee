from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

from jobformat import Notification


class Notifier(Protocol):
    """Emits a notification to its rooms on every pod.

    Returns only once the emit has been handed to the cross-pod adapter; raises when it
    could not be, so the job fails and BullMQ retries it.
    """

    async def notify(self, notification: Notification) -> None: ...


RedisClientFactory = Callable[[], "Redis"]
"""Builds a new pooled client (decode_responses=True) for one worker; the worker owns it."""
