"""A Redis Cluster seen as one master: the one serving the queue prefix's slot.

Every key the gateway writes (BullMQ's queues and jobs, the throttle keys and trailing
jobs, the notification log) starts with `QUEUE_PREFIX`, whose hash tag (`{app-main}`,
required on a cluster by config.load) puts them all in one slot. So on a cluster the
pod's clients talk to that slot's master only, found with `CLUSTER SLOTS` (the start-up
nodes first, then every master seen so far), exactly as behind Sentinel they talk to the
master the Sentinels name. Why not redis-py's `RedisCluster`: nothing is ever routed
elsewhere (no cross-slot command exists to route), the pipelined client (one connection,
gateway/redis_clients/pipelined.py) keeps working unchanged, and a job's completion and
its log append stay on one master, which replicates them in order: no `WAIT` is needed
for an acknowledged notification to survive a failover.

- `SlotMasterPool` is a redis-py `ConnectionPool` with `get_master_address()`, the shape
  of redis-py's `SentinelConnectionPool`, so `PipelinedRedis` looks its master up before
  each connect the same way.
- `SlotMasterConnection` looks the master up on every connect, a command's retries
  included (the reconnect of a retry goes through `connect_check_health`, which would
  dial the old address: the fault `MasterFollowingConnection` in factory.py fixes for
  Sentinel). A reply of `MOVED`/`ASK` (the slot moved, or is moving), `CLUSTERDOWN`/
  `TRYAGAIN` (a failover or migration in progress) or `READONLY` (the old master came
  back as a replica) drops the connection and raises a retryable `ConnectionError`, so
  the retry asks `CLUSTER SLOTS` again. None of these replies means the command ran.

What it overrides and relies on of redis-py is listed, pinned by hash, in
seams/register.py.
"""

import asyncio
import logging
import weakref
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ReadOnlyError,
    RedisError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from roomcast.slot_map import Address, SlotMap

logger = logging.getLogger(__name__)

# Replies that say the master serving the slot is elsewhere, or about to be: the command
# did not run, and the master is looked up again before it is retried. (MovedError is an
# AskError, MasterDownError a ClusterDownError.)
MASTER_MOVED_ERRORS: tuple[type[Exception], ...] = (
    AskError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
)
_REPLY_NAMES = {
    "MovedError": "MOVED",
    "AskError": "ASK",
    "ClusterDownError": "CLUSTERDOWN",
    "MasterDownError": "MASTERDOWN",
    "TryAgainError": "TRYAGAIN",
    "ReadOnlyError": "READONLY",
}
# Dialling a node to ask it `CLUSTER SLOTS`: one that does not accept within this long
# is passed over for the next.
LOOKUP_CONNECT_TIMEOUT = 2.0
# A node that has not answered `CLUSTER SLOTS` within this is not waited for before the
# next one is asked too.
LOOKUP_STAGGER_SECONDS = 0.2


@runtime_checkable
class MasterLookup(Protocol):
    """A connection pool that looks its master up before each connect: redis-py's
    `SentinelConnectionPool` (the master Sentinel names), or `SlotMasterPool`."""

    async def get_master_address(self) -> Any:
        """(host, port) of the master now."""


def master_moved(error: Exception) -> RedisConnectionError:
    """The retryable error a `MASTER_MOVED_ERRORS` reply becomes. It names the reply, not
    the address a `MOVED` carries: /readyz and the logs say no more than before."""
    name = _REPLY_NAMES.get(type(error).__name__, type(error).__name__)
    return RedisConnectionError(f"Redis answered {name}: looking the master up again")


def slot_of(prefix: str) -> int:
    """The slot of every key under `prefix`, which must carry a hash tag."""
    start = prefix.find("{")
    end = prefix.find("}", start + 1)
    if start < 0 or end <= start + 1:
        raise ValueError(f"a prefix without a hash tag spreads over every slot: {prefix!r}")
    return key_slot(prefix.encode())


class SlotMasterPool(ConnectionPool):
    """Connections to the master serving the slot of `prefix` (its hash tag)."""

    def __init__(
        self,
        startup_nodes: Sequence[Address],
        prefix: str,
        *,
        lookup_timeout: float,
        connection_class: type[Connection] | None = None,
        **connection_kwargs: Any,
    ) -> None:
        if not startup_nodes:
            raise ValueError("no start-up nodes")
        super().__init__(
            connection_class=connection_class or SlotMasterConnection, **connection_kwargs
        )
        # Each connection reaches its pool (a proxy: no cycle, as redis-py's Sentinel pool).
        self.connection_kwargs["connection_pool"] = weakref.proxy(self)
        self.startup_nodes: list[Address] = list(startup_nodes)
        self.slot = slot_of(prefix)
        self.lookup_timeout = lookup_timeout
        self.masters_seen: list[Address] = []
        self.master_address: Address | None = None

    async def get_master_address(self) -> Address:
        """The master serving the slot now, as the first node that names one says.
        Raises redis-py's `ConnectionError` when no node does."""
        slot_map = await self.slot_map(need_slot=True)
        address = slot_map.master_for(self.slot)
        assert address is not None  # need_slot
        self.master_address = address
        return address

    async def slot_map(self, need_slot: bool = False) -> SlotMap:
        """`CLUSTER SLOTS` of the first node that answers (with a master for this pool's
        slot when `need_slot`): the start-up nodes first, then every master seen.

        The nodes are asked one after another, but a node that has not answered within
        `LOOKUP_STAGGER_SECONDS` does not hold up the next: it is asked too, and the first
        good answer wins. A frozen or unreachable node (one that never answers, rather
        than refusing) otherwise cost every lookup its whole timeout, and a lookup runs
        on every reconnect, readiness probes included."""
        nodes = list(dict.fromkeys([*self.startup_nodes, *self.masters_seen]))
        errors: list[str] = []
        asking: set[asyncio.Task[tuple[Address, Any]]] = set()
        try:
            while nodes or asking:
                if nodes:
                    asking.add(asyncio.ensure_future(self._ask_slots(nodes.pop(0))))
                done, asking = await asyncio.wait(
                    asking,
                    timeout=LOOKUP_STAGGER_SECONDS if nodes else None,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                for task in done:
                    found = self._answer(task, need_slot, errors)
                    if found is not None:
                        return found
        finally:
            for task in asking:
                task.cancel()
            await asyncio.gather(*asking, return_exceptions=True)
        # One node's error, not every node's: /readyz shows this, and says no more about
        # the addresses than for one Redis.
        raise RedisConnectionError(
            f"no Redis Cluster node named the master of slot {self.slot} "
            f"({len(errors)} asked; the last: {errors[-1] if errors else 'none given'})"
        )

    async def _ask_slots(self, node: Address) -> tuple[Address, Any]:
        return node, await self.node_command(node, "CLUSTER SLOTS")

    def _answer(
        self, task: "asyncio.Task[tuple[Address, Any]]", need_slot: bool, errors: list[str]
    ) -> SlotMap | None:
        """The slot map a finished ask brought, if it will do; else its error noted."""
        try:
            node, reply = task.result()
        except (RedisError, OSError) as error:
            errors.append(f"{type(error).__name__}: {error}")
            return None
        slot_map = SlotMap.parse(reply, node)
        for master in slot_map.masters:
            if master not in self.masters_seen:
                self.masters_seen.append(master)
        if need_slot and slot_map.master_for(self.slot) is None:
            errors.append(f"a node knows no master of slot {self.slot}")
            return None
        return slot_map

    async def node_command(self, node: Address, *args: Any) -> Any:
        """One command to one node, on a connection of its own, without retries (the
        caller asks the next node)."""
        host, port = node
        client = Redis(
            host=host,
            port=port,
            password=self.connection_kwargs.get("password"),
            decode_responses=bool(self.connection_kwargs.get("decode_responses")),
            socket_timeout=self.lookup_timeout,
            socket_connect_timeout=min(LOOKUP_CONNECT_TIMEOUT, self.lookup_timeout),
            retry=Retry(NoBackoff(), retries=0),
        )
        try:
            return await client.execute_command(*args)  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()


class SlotMasterConnection(Connection):
    """A pool connection to the slot's master, looked up on every connect."""

    def __init__(self, **kwargs: Any) -> None:
        self.connection_pool: SlotMasterPool = kwargs.pop("connection_pool")
        super().__init__(**kwargs)

    async def connect(self) -> None:
        """Look the master up and dial it, again on each retry (the address may change
        between two attempts), backing off as the connection's `retry` says."""
        await self.retry.call_with_retry(self._dial_master, lambda error: asyncio.sleep(0))

    async def _dial_master(self) -> None:
        if self.is_connected:
            return
        self.host, self.port = await self.connection_pool.get_master_address()
        await super().connect_check_health(check_health=True, retry_socket_connect=False)

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        # A command on a lost connection (a retry) reconnects here; upstream would dial
        # the address the connection had, the old master: look it up instead.
        if self.is_connected:
            return
        await self.connect()

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109  (the overridden signature)
        *,
        disconnect_on_error: bool = True,
        push_request: bool | None = False,
    ) -> Any:
        try:
            return await super().read_response(
                disable_decoding=disable_decoding,
                timeout=timeout,
                disconnect_on_error=disconnect_on_error,
                push_request=push_request,
            )
        except MASTER_MOVED_ERRORS as error:
            await self.disconnect()
            raise master_moved(error) from None
