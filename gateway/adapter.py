"""The cross-pod Socket.IO client manager on Redis pub/sub.

python-socketio's own `AsyncRedisManager` logs and drops a publish that fails; ours
raises `AdapterPublishError`, so the job that asked for the emit fails and BullMQ
retries it. The wire format (JSON on channel `socketio`, filtered by `host_id`) is
python-socketio's, so its write-only emitters and other pods interoperate.

Local delivery, of this pod's emits and of those other pods publish, goes through
`FastPathManager.emit` (gateway/fastpath.py): `AsyncPubSubManager` hands both to
`super().emit(...)`, which is the next class in `RedisAdapter`'s MRO.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from socketio.async_pubsub_manager import AsyncPubSubManager

from gateway.fastpath import FastPathManager

logger = logging.getLogger(__name__)

DEFAULT_CHANNEL = "socketio"
_RESUBSCRIBE_FIRST_DELAY = 0.5
_RESUBSCRIBE_MAX_DELAY = 2.0


class AdapterPublishError(RuntimeError):
    """The emit reached local sockets but could not be published to the other pods."""


class RedisAdapter(AsyncPubSubManager, FastPathManager):  # type: ignore[misc]
    name = "gateway-redis"

    def __init__(
        self, client_factory: Callable[[], "Redis"], channel: str = DEFAULT_CHANNEL
    ) -> None:
        super().__init__(channel=channel)
        self._client_factory = client_factory
        self._publisher: Redis = client_factory()
        self.subscribed = asyncio.Event()

    async def _publish(self, data: Any) -> None:
        try:
            await self._publisher.publish(self.channel, self.json.dumps(data))
        except (RedisError, OSError) as error:
            raise AdapterPublishError(f"cannot publish to the adapter channel: {error}") from error

    def _own_emit_marks(self) -> tuple[bytes, bytes]:
        """How this pod's own published emits begin and end, in the JSON `_publish` writes
        (python-socketio's message dict: `method` first, `host_id` last)."""
        start = self.json.dumps({"method": "emit"})[:-1]
        end = self.json.dumps({"host_id": self.host_id})[1:]
        return start.encode(), end.encode()

    async def _listen(self) -> AsyncIterator[bytes]:
        # Every pod receives its own publishes back. python-socketio would parse each
        # one only to drop it for its host_id (it already delivered the emit locally),
        # a JSON decode per job; they are recognised here by their bytes instead.
        # Callbacks and other methods still go through.
        own_start, own_end = self._own_emit_marks()
        delay = _RESUBSCRIBE_FIRST_DELAY
        while True:
            client = self._client_factory()
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.subscribed.set()
                delay = _RESUBSCRIBE_FIRST_DELAY
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        data = message["data"]
                        if data.endswith(own_end) and data.startswith(own_start):
                            continue
                        yield data
            except (RedisError, OSError) as error:
                self.subscribed.clear()
                logger.error("adapter subscription lost (%s); retrying in %.1fs", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RESUBSCRIBE_MAX_DELAY)
            finally:
                await _close_quietly(pubsub, client)

    async def close(self) -> None:
        """Stop listening and release the clients; idempotent."""
        thread = getattr(self, "thread", None)
        if thread is not None and not thread.done():
            thread.cancel()
            await asyncio.gather(thread, return_exceptions=True)
        self.subscribed.clear()
        await self._publisher.aclose()


async def _close_quietly(pubsub: Any, client: "Redis") -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (RedisError, OSError) as error:
        logger.debug("closing the adapter subscription: %s", error)
