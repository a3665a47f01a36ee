"""Every Redis client of the pod is built here, from `RedisSettings`, so the queue
consumers, the adapter and readiness all follow the same master (URL or Sentinel).
They are `PipelinedRedis` clients: one pipelined connection for ordinary commands
(gateway/pipelined_redis.py), the pool for blocking ones, pipelines and pub/sub."""

from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import AbstractBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from config import RedisSettings
from gateway.pipelined_redis import PipelinedRedis

_RETRY_ERRORS: list[type[Exception]] = [ConnectionError, TimeoutError, BusyLoadingError]
# A command retries for about 5 s (0.5 + 1 + 1.5 + 2), long enough to ride out a
# Sentinel failover; callers (BullMQ's worker loop, the adapter) keep trying after that.
COMMAND_RETRIES = 4
# bullmq's longest blocking wait for a job (`maximumBlockTimeout`, seconds): the pool's
# read timeout must be longer, or an idle worker's BZPOPMIN is cut and its retry
# backoff delays the next pickup (redis-py 8's 5 s default did that).
BLOCKING_WAIT_SECONDS = 10.0


class SteppedBackoff(AbstractBackoff):
    """Reconnect after 0.5 s, 1 s, 1.5 s, then every 2 s, as docs/architecture.md says
    (`min(attempt * 500 ms, 2 s)`), so a failover is followed within a step."""

    def __init__(self, step: float = 0.5, cap: float = 2.0) -> None:
        self._step = step
        self._cap = cap

    def compute(self, failures: int) -> float:
        return min(self._cap, self._step * max(failures, 1))


def _common_options(settings: RedisSettings, retries: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "retry": Retry(SteppedBackoff(), retries=COMMAND_RETRIES if retries else 0),
        "retry_on_error": _RETRY_ERRORS,
        "socket_connect_timeout": 5,
        # Pool connections (blocking commands, pipelines, pub/sub): a reply may take
        # the longest blocking wait plus the command deadline. Pub/sub, quiet for as long
        # as nobody publishes, reads in steps instead (gateway/pipelined_redis.py).
        "socket_timeout": BLOCKING_WAIT_SECONDS + settings.command_timeout_seconds,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
    if settings.password is not None:
        options["password"] = settings.password.reveal()
    return options


class SentinelMasterClient(PipelinedRedis):
    """The master of a Sentinel set; closing it also closes the connections to the
    Sentinels it asked (redis-py leaves those open)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


def redis_client(
    settings: RedisSettings, *, decode_responses: bool, retries: bool = True
) -> "Redis":
    """A new client with its own connection pool; `retries=False` for one whose every
    command is a single attempt (readiness: the probe itself is the retry)."""
    options = _common_options(settings, retries)
    if settings.sentinels:
        sentinel_password = settings.password_for_sentinels
        sentinel_options = (
            {"password": sentinel_password.reveal()} if sentinel_password is not None else {}
        )
        sentinel = Sentinel(  # type: ignore[no-untyped-call]
            list(settings.sentinels),
            sentinel_kwargs={
                **sentinel_options,
                "socket_connect_timeout": 2,
                "socket_timeout": settings.command_timeout_seconds,
            },
            **options,
        )
        master: PipelinedRedis = sentinel.master_for(
            settings.sentinel_master,
            redis_class=SentinelMasterClient,
            decode_responses=decode_responses,
        )
        master.command_timeout = settings.command_timeout_seconds
        return master
    client = cast(
        PipelinedRedis,
        PipelinedRedis.from_url(settings.url, decode_responses=decode_responses, **options),
    )
    client.command_timeout = settings.command_timeout_seconds
    return client
