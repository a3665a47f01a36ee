"""The gateway's clients on a Redis Cluster (gateway/redis_clients/slot_master.py): every
path (the pipelined link, pool connections) talks to the master of the queue prefix's
slot, follows the slot when it moves or fails over, never cuts a worker's blocking wait,
and the eviction check reads every master."""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from config import RedisSettings
from gateway.redis_clients.eviction import maxmemory_policy
from gateway.redis_clients.factory import redis_client
from gateway.redis_clients.slot_master import SlotMasterPool
from tests.support.ports import free_port
from tests.support.redis_cluster import RedisCluster

PREFIX = "{app-main}"
SLOT = key_slot(PREFIX.encode())


def settings_for(cluster: RedisCluster) -> RedisSettings:
    """Start-up nodes with the slot's master last: a client that talked to the first
    node it was given would talk to the wrong one."""
    master = cluster.master_of(PREFIX)
    nodes = sorted(cluster.ports, key=lambda port: port == master)
    return RedisSettings(cluster_nodes=tuple(("127.0.0.1", port) for port in nodes), password=None)


@pytest.fixture
async def open_clients() -> AsyncIterator[list[Redis]]:
    clients: list[Redis] = []
    yield clients
    for client in clients:
        await client.aclose()


async def port_on_link(client: Redis) -> int:
    """The port of the node that answers on the client's pipelined connection."""
    answer = await client.config_get("port")
    return int(answer["port"])


async def port_on_pool(client: Redis) -> int:
    """The same through a pool connection (a pipeline never uses the pipelined link)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.config_get("port")
        [answer] = await pipe.execute()
    return int(answer["port"])


async def test_the_link_and_the_pool_talk_to_the_master_of_the_prefix_slot(
    cluster: RedisCluster, open_clients: list[Redis]
) -> None:
    client = redis_client(settings_for(cluster), decode_responses=True, prefix=PREFIX)
    open_clients.append(client)
    master = cluster.master_of(PREFIX)
    assert settings_for(cluster).cluster_nodes[0][1] != master
    assert await port_on_link(client) == master
    assert await port_on_pool(client) == master
    # A keyed script (BullMQ's, the throttle's) runs there, with every key in the slot.
    script = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])"
    keys = [f"{PREFIX}:a", f"{PREFIX}:b"]
    await client.set(keys[1], "b")
    assert await client.eval(script, 2, *keys, "a") == "b"  # type: ignore[misc]
    assert await client.get(keys[0]) == "a"


def test_a_cluster_client_needs_the_prefix_and_its_hash_tag(cluster: RedisCluster) -> None:
    with pytest.raises(ValueError, match="queue prefix"):
        redis_client(settings_for(cluster), decode_responses=True)
    with pytest.raises(ValueError, match="hash tag"):
        redis_client(settings_for(cluster), decode_responses=True, prefix="app-main")


async def wait_for_port(read: Callable[[], Any], port: int, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while await read() != port:
            await asyncio.sleep(0.05)  # polling the cluster's view, bounded


async def test_a_migrated_slot_and_a_manual_failover_are_followed_without_an_error(
    new_cluster: Callable[..., RedisCluster], open_clients: list[Redis]
) -> None:
    """`MOVED` (the slot migrated, then its master demoted by `CLUSTER FAILOVER`) on
    both the pipelined link and a pool connection: each command is retried on the new
    master, and none raises."""
    cluster = new_cluster()
    client = redis_client(settings_for(cluster), decode_responses=True, prefix=PREFIX)
    open_clients.append(client)
    key = f"{PREFIX}:kept"
    await client.set(key, "1")
    before = cluster.master_of(PREFIX)
    assert await port_on_link(client) == before and await port_on_pool(client) == before

    target = next(port for port in cluster.masters() if port != before)
    cluster.move_slot(SLOT, target)
    # Both connections are still open to the old master, which now answers MOVED.
    assert await client.incr(key) == 2  # the link
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        assert await pipe.execute() == [3]  # a pool connection
    assert await port_on_link(client) == target and await port_on_pool(client) == target

    replica = cluster.replicas_of(target)[0]
    with cluster.client(replica) as admin:
        admin.execute_command("CLUSTER", "FAILOVER")
    await asyncio.to_thread(cluster.wait_ok)
    await asyncio.to_thread(lambda: cluster.wait_promotion(target, [replica]))
    assert await client.incr(key) == 4
    async with client.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        assert await pipe.execute() == [5]
    assert await port_on_link(client) == replica and await port_on_pool(client) == replica


def connections_received(cluster: RedisCluster) -> int:
    total = 0
    for port in cluster.ports:
        with cluster.client(port) as admin:
            total += int(admin.info("stats")["total_connections_received"])
    return total


async def test_a_blocking_wait_of_bullmqs_longest_is_never_cut(
    cluster: RedisCluster, open_clients: list[Redis]
) -> None:
    """bullmq's worker blocks in BZPOPMIN for up to 10 s; the pool's read timeout is that
    plus the command deadline, so the wait ends with its own timeout: no connection is
    dropped and opened again (nor any `CLUSTER SLOTS` asked) meanwhile, on any node."""
    client = redis_client(settings_for(cluster), decode_responses=True, prefix=PREFIX)
    open_clients.append(client)
    await client.ping()  # type: ignore[misc]  # the link is open; the wait takes the pool
    before = connections_received(cluster)
    started = time.monotonic()
    assert await client.bzpopmin(f"{PREFIX}:marker", 10) is None
    waited = time.monotonic() - started
    # The wait's own connection (and its master look-up) are the only ones opened, and
    # each probe of `connections_received` opens one per node.
    opened = connections_received(cluster) - before - len(cluster.ports)
    assert waited >= 9.9, waited
    assert opened == 2, opened


async def test_the_eviction_check_reads_every_master(
    cluster: RedisCluster, open_clients: list[Redis]
) -> None:
    client = redis_client(
        settings_for(cluster), decode_responses=True, retries=False, prefix=PREFIX
    )
    open_clients.append(client)
    assert await maxmemory_policy(client) == "noeviction"
    other = next(port for port in cluster.masters() if port != cluster.master_of(PREFIX))
    with cluster.client(other) as admin:
        admin.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert await maxmemory_policy(client) == "allkeys-lru"
    finally:
        with cluster.client(other) as admin:
            admin.config_set("maxmemory-policy", "noeviction")
    assert await maxmemory_policy(client) == "noeviction"


async def test_no_node_answering_is_a_retryable_error_naming_one_address() -> None:
    """What readiness shows while no start-up node answers: a ConnectionError (retried by
    the clients), with one node's address in it as for one Redis, not every node's."""
    ports = [free_port(), free_port()]
    pool = SlotMasterPool([("127.0.0.1", port) for port in ports], PREFIX, lookup_timeout=1)
    with pytest.raises(RedisConnectionError) as raised:
        await pool.get_master_address()
    message = str(raised.value)
    assert f"slot {SLOT}" in message and "2 asked" in message, message
    assert sum(str(port) in message for port in ports) == 1, message


async def test_a_frozen_start_up_node_does_not_hold_up_the_lookup(cluster: RedisCluster) -> None:
    """The first start-up node is a replica frozen with SIGSTOP (its host gone silent:
    connections open, nothing answers): the master is still found at once from the next
    node, instead of after the frozen one's whole timeout (3 s here)."""
    master = cluster.master_of(PREFIX)
    frozen = cluster.replicas_of(cluster.masters()[0])[0]
    others = [port for port in cluster.ports if port != frozen]
    pool = SlotMasterPool(
        [("127.0.0.1", port) for port in [frozen, *others]], PREFIX, lookup_timeout=3
    )
    process = cluster.node(frozen).process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        address = await pool.get_master_address()
        took = time.monotonic() - started
    finally:
        os.kill(process.pid, signal.SIGCONT)
    assert address == ("127.0.0.1", master)
    assert took < 1.0, f"the lookup took {took:.2f} s"
