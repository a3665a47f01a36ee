"""The archiver's Redis client, from the gateway's `RedisSettings` (URL or Sentinel).

Plain redis-py (no pipelined client, no BullMQ): the archiver makes a few commands per
batch of 1,000 jobs. Bytes, not `decode_responses`: job data is decoded here, with
invalid UTF-8 replaced instead of failing the whole batch.
"""

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from config.settings import RedisSettings


def redis_client(settings: RedisSettings) -> "Redis":
    options: dict[str, Any] = {
        # A command rides out a short blip (a Sentinel failover); the run loop's back-off
        # takes over after that.
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.25), retries=3),
        "retry_on_error": [ConnectionError, TimeoutError, BusyLoadingError],
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "socket_keepalive": True,
        "health_check_interval": 10,
        "client_name": "notification-archiver",
    }
    if settings.password is not None:
        options["password"] = settings.password.reveal()
    if settings.sentinels:
        sentinel_password = settings.password_for_sentinels
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(settings.sentinels),
            sentinel_kwargs={
                "socket_connect_timeout": 2,
                **({"password": sentinel_password.reveal()} if sentinel_password else {}),
            },
            **options,
        )
        master: Redis = sentinel.master_for(settings.sentinel_master)
        return master
    client: Redis = Redis.from_url(settings.url, **options)
    return client
