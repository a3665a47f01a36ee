"""Every Redis client of the pod is built here, from `RedisSettings`, so the queue
consumers, the adapter and readiness all follow the same master (URL or Sentinel)."""

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from config import RedisSettings

# Reconnect in steps of 0.5 s capped at 2 s; commands retry briefly, callers retry longer.
_RETRY_ERRORS: list[type[Exception]] = [ConnectionError, TimeoutError, BusyLoadingError]


def _common_options(settings: RedisSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "retry": Retry(ExponentialBackoff(cap=2.0, base=0.5), retries=3),
        "retry_on_error": _RETRY_ERRORS,
        "socket_connect_timeout": 5,
        # None: a blocking BZPOPMIN must not be cut by a read timeout (FACTS.md).
        "socket_timeout": None,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
    if settings.password is not None:
        options["password"] = settings.password.reveal()
    return options


def redis_client(settings: RedisSettings, *, decode_responses: bool) -> "Redis":
    """A new client with its own connection pool."""
    options = _common_options(settings)
    if settings.sentinels:
        sentinel_options = (
            {"password": settings.password.reveal()} if settings.password is not None else {}
        )
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(settings.sentinels),
            sentinel_kwargs={**sentinel_options, "socket_connect_timeout": 2},
            **options,
        )
        master: Redis = sentinel.master_for(
            settings.sentinel_master, decode_responses=decode_responses
        )
        return master
    return Redis.from_url(settings.url, decode_responses=decode_responses, **options)
