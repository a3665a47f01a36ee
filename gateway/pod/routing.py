"""The room subscriber of a pod that routes by room, built from `RedisSettings`.

On a Redis Cluster the subscriber asks the cluster where the slots are (`CLUSTER SLOTS`,
start-up nodes first). On one Redis (a URL, or the master Sentinel names) every slot is
that master's: the subscriber then keeps one connection to it, looked up again after
each loss, so a Sentinel failover moves the room subscriptions to the new master.
"""

from collections.abc import Callable
from typing import Any

from redis.asyncio.connection import parse_url
from redis.exceptions import RedisError

from config import RedisSettings
from gateway.realtime.room_routing import SubscriberFactory
from gateway.redis_clients.factory import redis_client
from roomcast import ClusterUnavailable, RoomSubscriber, SlotMap
from roomcast.slot_map import Address

# A room whose last local socket left stays subscribed this long: a reconnect storm
# (a deploy, a network blip) does not unsubscribe and subscribe every room again.
ROOM_LINGER_SECONDS = 5.0


def room_subscriber_factory(settings: RedisSettings) -> SubscriberFactory:
    password = settings.password.reveal() if settings.password is not None else None

    def build(
        on_message: Callable[[bytes, bytes], None],
        on_established: Callable[[list[bytes]], None],
        on_interrupted: Callable[[list[bytes]], None],
        on_released: Callable[[list[bytes]], None],
    ) -> RoomSubscriber:
        options: dict[str, Any] = {
            "on_established": on_established,
            "on_interrupted": on_interrupted,
            "on_released": on_released,
            "password": password,
            "reply_timeout": settings.command_timeout_seconds,
            "unsubscribe_delay": ROOM_LINGER_SECONDS,
        }
        if settings.is_cluster:
            return RoomSubscriber(settings.cluster_nodes, on_message, **options)
        return RoomSubscriber([], on_message, map_source=_single_master(settings), **options)

    return build


def _single_master(settings: RedisSettings) -> Callable[[list[Address]], Any]:
    """A map source for one Redis: every slot on the master (asked of the Sentinels each
    time, when there are Sentinels)."""
    if not settings.sentinels:
        url = parse_url(settings.url)
        address = (str(url.get("host", "localhost")), int(url.get("port", 6379)))

        async def fixed(known: list[Address]) -> SlotMap:
            return SlotMap.single(address)

        return fixed

    async def from_sentinels(known: list[Address]) -> SlotMap:
        # A client per lookup (only after a lost subscription), closed with the
        # connections to the Sentinels it asked.
        client = redis_client(settings, decode_responses=False, retries=False)
        try:
            host, port = await client.connection_pool.get_master_address()  # type: ignore[attr-defined]
        except (RedisError, OSError) as error:
            raise ClusterUnavailable(f"no master from the Sentinels: {error}") from error
        finally:
            await client.aclose()
        return SlotMap.single((str(host), int(port)))

    return from_sentinels
