"""Every Redis client of the pod is built here, from `RedisSettings`, so the queue
consumers, the adapter and readiness all follow the same master: the URL's, the one
Sentinel names, or on a Redis Cluster the one serving the queue prefix's slot
(gateway/redis_clients/slot_master.py). They are `PipelinedRedis` clients: one pipelined
connection for ordinary commands (gateway/redis_clients/pipelined.py), the pool for
blocking ones, pipelines and pub/sub.

What it overrides and relies on of redis-py (the Sentinel connection's reconnect path,
the Sentinels a master's pool holds) is listed, pinned by hash, in seams/register.py.
"""

from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelManagedConnection
from redis.backoff import AbstractBackoff, NoBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from config import RedisSettings
from gateway.redis_clients.pipelined import PipelinedRedis
from gateway.redis_clients.slot_master import SlotMasterPool

_RETRY_ERRORS: list[type[Exception]] = [ConnectionError, TimeoutError, BusyLoadingError]
# A command retries for about 5 s (0.1 + 0.2 + 0.3 + 0.4, then 8 x 0.5), long enough
# to ride out a Sentinel failover; callers (BullMQ's worker loop, the adapter) keep
# trying after that.
COMMAND_RETRIES = 12
# bullmq's longest blocking wait for a job (`maximumBlockTimeout`, seconds): the pool's
# read timeout must be longer, or an idle worker's BZPOPMIN is cut and its retry
# backoff delays the next pickup (redis-py 8's 5 s default did that).
BLOCKING_WAIT_SECONDS = 10.0


class SteppedBackoff(AbstractBackoff):
    """Reconnect after 0.1 s, 0.2 s, 0.3 s, 0.4 s, then every 0.5 s
    (`min(attempt * 100 ms, 500 ms)`), so the new master of a failover is found within
    half a second of the Sentinels naming it (steps of up to 2 s made the first job after
    a failover wait up to that long)."""

    def __init__(self, step: float = 0.1, cap: float = 0.5) -> None:
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
        # as nobody publishes, reads in steps instead (gateway/redis_clients/pipelined.py).
        "socket_timeout": BLOCKING_WAIT_SECONDS + settings.command_timeout_seconds,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }
    if settings.password is not None:
        options["password"] = settings.password.reveal()
    return options


class MasterFollowingConnection(SentinelManagedConnection):
    """A Sentinel-managed pool connection that asks the Sentinels for the master on
    every connect, a command's retries included.

    redis-py 7.4 looks the master up only in `connect()`; a command's retry reconnects
    through `send_packed_command` -> `connect_check_health`, which dials the address the
    connection had before (open upstream: "SentinelConnectionPool does not retrieve
    updated master address from Sentinel on connection retries"). After a failover that is
    the dead master: a worker's blocking fetch dialled it for its whole retry budget and
    the first job after the switch waited 2.8 s. Overrides `connect_to` and
    `connect_check_health` (redis-py internals, 7.4) only to send that reconnect through
    `connect()`; tests/ha/test_sentinel_failover.py fails without it.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._dialling = False

    async def connect_to(self, address: tuple[str, int]) -> None:
        self._dialling = True  # the master was just looked up: dial it
        try:
            await super().connect_to(address)  # type: ignore[no-untyped-call]
        finally:
            self._dialling = False

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if self._dialling or self.is_connected:
            await super().connect_check_health(check_health, retry_socket_connect)
        else:
            await self.connect()  # type: ignore[no-untyped-call]  # looks the master up, dials it


class SentinelMasterClient(PipelinedRedis):
    """The master of a Sentinel set; closing it also closes the connections to the
    Sentinels it asked (redis-py leaves those open)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        for sentinel in getattr(manager, "sentinels", ()):
            await sentinel.aclose()


def redis_client(
    settings: RedisSettings,
    *,
    decode_responses: bool,
    retries: bool = True,
    prefix: str | None = None,
) -> "Redis":
    """A new client with its own connection pool; `retries=False` for one whose every
    command is a single attempt (readiness: the probe itself is the retry).

    On a Redis Cluster (REDIS_CLUSTER_NODES) `prefix`, the queue prefix, is required: its
    hash tag names the slot whose master the client talks to."""
    options = _common_options(settings, retries)
    if settings.is_cluster:
        if prefix is None:
            raise ValueError("a client on a Redis Cluster needs the queue prefix (its slot)")
        pool = SlotMasterPool(
            settings.cluster_nodes,
            prefix,
            lookup_timeout=settings.command_timeout_seconds,
            decode_responses=decode_responses,
            **options,
        )
        on_cluster = cast(PipelinedRedis, PipelinedRedis.from_pool(pool))
        on_cluster.command_timeout = settings.command_timeout_seconds
        return on_cluster
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
                # A Sentinel that does not answer is passed over for the next one at
                # once; redis-py's default retries it with seconds of backoff first, so
                # with the first-listed Sentinel down (the master's host lost) readiness
                # timed out on every probe and the pods never turned ready again.
                "retry": Retry(NoBackoff(), retries=1),
            },
            **options,
        )
        master: PipelinedRedis = sentinel.master_for(
            settings.sentinel_master,
            redis_class=SentinelMasterClient,
            connection_class=MasterFollowingConnection,
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
