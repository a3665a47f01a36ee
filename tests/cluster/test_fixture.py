"""The cluster fixture itself: a real cluster, ready when it says so, and a master's
SIGKILL followed by its replica's promotion."""

import time
from collections.abc import Callable

from redis.cluster import RedisCluster as SyncCluster

from tests.support.redis_cluster import RedisCluster


def test_the_cluster_serves_every_slot_from_three_masters(cluster: RedisCluster) -> None:
    shards = cluster.shards()
    assert len(shards) == 3
    assert all(len(shard.replicas) == 1 for shard in shards)
    client = SyncCluster(host="127.0.0.1", port=cluster.ports[0], decode_responses=True)
    try:
        for n in range(30):
            client.set(f"k{n}", n)
        assert [client.get(f"k{n}") for n in range(30)] == [str(n) for n in range(30)]
        assert {cluster.master_of(f"k{n}") for n in range(30)} == set(cluster.masters())
    finally:
        client.close()


def test_a_killed_master_is_replaced_by_its_replica(
    new_cluster: Callable[..., RedisCluster],
) -> None:
    started = time.monotonic()
    cluster = new_cluster()
    start_seconds = time.monotonic() - started
    victim = cluster.master_of("key")
    replicas = cluster.replicas_of(victim)
    with cluster.client(victim) as client:
        client.set("key", "kept")
        client.wait(1, 1000)
    killed = time.monotonic()
    promoted = cluster.kill_master(victim)
    failover_seconds = time.monotonic() - killed
    assert promoted in replicas
    assert cluster.master_of("key") == promoted
    with cluster.client(promoted) as client:
        assert client.get("key") == "kept"
    print(f"cluster start {start_seconds:.2f} s, failover {failover_seconds:.2f} s")
    cluster.restart(victim)
    assert victim in cluster.replicas_of(promoted)
