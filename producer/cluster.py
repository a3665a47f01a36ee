"""The producer on a Redis Cluster: a plain client of the master serving the queue
prefix's slot, looked up again when that master is gone.

Every key of the queues carries the prefix's hash tag, so on a cluster they all live in
one slot, on one master: the producer talks to it alone, as the gateway's clients do
(gateway/redis_clients/slot_master.py), found with `CLUSTER SLOTS` of the start-up nodes
(then of the masters seen). Not redis-py's `RedisCluster`: measured with redis-py 7.4.1
and bullmq 3.4.4, after its slot's master was SIGKILLed and the replica promoted, every
`Queue.add` kept failing with `NoScriptError` (its node cache kept the promoted replica
as a replica, so the `SCRIPT LOAD` that follows a NOSCRIPT went to the other masters
only; re-initialising the cache did not help).

Built on public pieces: `roomcast.SlotMap` and a plain `redis.asyncio.Redis`.
"""

from collections.abc import Sequence

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    ReadOnlyError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from roomcast.slot_map import Address, ClusterUnavailable, SlotMap

# What an add meets when the slot's master is gone, moved or being replaced: the client
# is dropped and the master looked up again. (MovedError is an AskError.)
MASTER_GONE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    AskError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
)


def hash_tag(prefix: str) -> str:
    """The part of `prefix` Redis Cluster hashes (the text of its first non-empty `{...}`),
    or "" when it hashes the whole key (config.load's rule for QUEUE_PREFIX)."""
    start = prefix.find("{")
    end = prefix.find("}", start + 1)
    return prefix[start + 1 : end] if start >= 0 and end > start + 1 else ""


def untagged_prefix(prefix: str) -> str:
    """Why `prefix` is refused on a cluster (as the gateway says it for QUEUE_PREFIX)."""
    return (
        "must contain a hash tag such as {app-main} on a Redis Cluster "
        f"(every key of the queues, throttle and log in one slot), got {prefix!r}"
    )


def parse_nodes(nodes: "str | Sequence[Address]") -> list[Address]:
    """`host:port,host:port` (REDIS_CLUSTER_NODES' form) or (host, port) pairs."""
    if not isinstance(nodes, str):
        return [(str(host), int(port)) for host, port in nodes]
    parsed = []
    for item in (part.strip() for part in nodes.split(",")):
        if item:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"cluster nodes: expected host:port, got {item!r}")
            parsed.append((host.strip("[]"), int(port)))
    return parsed


class SlotMaster:
    """Where the slot of `prefix` is served, and a client of that master."""

    def __init__(
        self,
        nodes: Sequence[Address],
        prefix: str,
        *,
        password: str | None = None,
        timeout: float = 3.0,
    ) -> None:
        if not nodes:
            raise ValueError("cluster nodes: none given")
        if not hash_tag(prefix):
            raise ValueError(f"prefix: {untagged_prefix(prefix)}")
        self._startup = list(nodes)
        self._seen: list[Address] = []
        self._password = password
        self._timeout = timeout
        self.slot = key_slot(prefix.encode())

    async def client(self) -> Redis:
        """A new client (the caller closes it) of the slot's master, as the first node
        that answers `CLUSTER SLOTS` names it now. Its commands are single attempts: the
        caller looks the master up again instead of retrying a dead one."""
        try:
            slot_map = await SlotMap.fetch(
                [*self._startup, *self._seen], self._password, self._timeout
            )
        except ClusterUnavailable as error:
            raise RedisConnectionError(f"no Redis Cluster node answered: {error}") from None
        self._seen = [m for m in slot_map.masters if m not in self._startup]
        master = slot_map.master_for(self.slot)
        if master is None:
            raise RedisConnectionError(f"no master serves slot {self.slot}")
        host, port = master
        return Redis(
            host=host,
            port=port,
            password=self._password,
            decode_responses=True,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), retries=0),
        )
