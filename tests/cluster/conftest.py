"""One Redis Cluster (3 masters, 3 replicas) for the session; tests that kill or migrate
start their own with `new_cluster`."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.redis_cluster import RedisCluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster(redis_cluster: RedisCluster) -> RedisCluster:
    """The session's cluster, emptied."""
    redis_cluster.flushall()
    return redis_cluster


@pytest.fixture
def new_cluster(tmp_path: Path) -> Iterator[Callable[..., RedisCluster]]:
    """Factory of private clusters (for tests that SIGKILL a master or move slots),
    stopped by PID at the end."""
    started: list[RedisCluster] = []

    def start(**options: object) -> RedisCluster:
        cluster = RedisCluster(tmp_path / f"cluster-{len(started)}", **options)  # type: ignore[arg-type]
        started.append(cluster)
        return cluster.start()

    yield start
    for cluster in started:
        cluster.stop()
