"""BullMQ on a Redis Cluster: the stock Python `bullmq` 3.4 worker on redis-py's
`redis.asyncio.cluster.RedisCluster` with a hash-tagged prefix, jobs from an npm `bullmq`
producer on an ioredis `Cluster`, every key in the prefix's slot, and no pick-up delay
after the worker sat idle past its blocking wait."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bullmq import Queue, Worker
from bullmq.custom_errors import UnrecoverableError
from redis.asyncio.cluster import RedisCluster as AsyncCluster

from roomcast import channel_slot
from tests.support.node import ROOT, require_node
from tests.support.redis_cluster import RedisCluster

PREFIX = "{app-main}"
QUEUE = "critical-events"
# What the gateway's clients set (gateway/redis_clients/): bullmq's longest blocking
# wait (10 s) plus the command deadline (3 s), so a blocking read is never cut.
SOCKET_TIMEOUT = 13.0
PRODUCE = Path(__file__).with_name("produce_cluster.mjs")


@pytest.fixture
async def cluster_client(cluster: RedisCluster) -> AsyncIterator[AsyncCluster]:
    client = AsyncCluster(
        host="127.0.0.1", port=cluster.ports[0], decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
    )
    await client.initialize()
    yield client
    await client.aclose()


class Processed:
    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def process(self, job: Any, token: str) -> dict[str, Any]:
        self.at[job.id] = time.monotonic()
        self.changed.set()
        if job.name == "bad":
            raise UnrecoverableError("invalid notification: rooms must be a non-empty list")
        return {"emitted": True, "echo": job.data}

    async def wait_for(self, job_id: str, timeout: float = 10.0) -> float:
        async with asyncio.timeout(timeout):
            while job_id not in self.at:
                self.changed.clear()
                await self.changed.wait()
        return self.at[job_id]


@pytest.fixture
async def worker(cluster_client: AsyncCluster) -> AsyncIterator[Processed]:
    processed = Processed()
    worker = Worker(QUEUE, processed.process, {
        "connection": cluster_client, "prefix": PREFIX, "concurrency": 4, "autorun": False,
    })
    running = asyncio.create_task(worker.run())
    yield processed
    await worker.close(force=True)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


async def node_produce_on_cluster(cluster: RedisCluster, jobs: list[dict[str, Any]]) -> list[
    dict[str, Any]
]:
    spec = {
        "nodes": [{"host": "127.0.0.1", "port": port} for port in cluster.ports[:3]],
        "prefix": PREFIX, "queue": QUEUE, "jobs": jobs, "timeout_ms": 15000,
    }
    process = await asyncio.create_subprocess_exec(
        require_node(), str(PRODUCE), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(json.dumps(spec).encode()), 30)
    assert process.returncode == 0, stderr.decode()
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


@pytest.mark.node
async def test_node_producer_on_an_ioredis_cluster_and_a_python_worker_interoperate(
    cluster: RedisCluster, worker: Processed,
) -> None:
    data = {"namespace": "/data_owner", "rooms": ["user:1"], "id": "r-1",
            "data": {"text": "é ✓", "big": 2**53 - 1, "none": None}}
    results = await node_produce_on_cluster(cluster, [
        {"name": "records:updated", "data": data, "opts": {"jobId": "records:r-1:1"}},
        {"name": "records:updated", "data": data, "opts": {"jobId": "records:r-1:1"}},
        {"name": "bad", "data": {}, "opts": {"attempts": 3}},
    ])
    assert [r["state"] for r in results] == ["completed", "completed", "failed"]
    assert results[0]["id"] == results[1]["id"] == "records:r-1:1"
    assert results[0]["returnvalue"] == {"emitted": True, "echo": data}
    assert results[2]["failedReason"].startswith("invalid notification:")
    assert results[2]["attemptsMade"] == 1  # unrecoverable: no retry
    assert len(worker.at) == 2  # one job per custom id
    # Every key BullMQ wrote is in the prefix's slot, on one master.
    slots = set()
    for port in cluster.masters():
        with cluster.client(port) as client:
            slots.update(channel_slot(key) for key in client.scan_iter(count=1000))
    assert slots == {channel_slot(PREFIX)}


def connections_made(admin: Any) -> int:
    """Connections the server has accepted so far (this probe's own is open already)."""
    return int(admin.info("stats")["total_connections_received"])


async def test_a_worker_idle_past_its_blocking_wait_is_never_cut_and_picks_up_at_once(
    cluster: RedisCluster, cluster_client: AsyncCluster, worker: Processed,
) -> None:
    """With a delayed job pending the worker blocks for bullmq's longest wait, 10 s; a
    socket timeout under it cuts the wait (redis-py drops the connection and retries
    after a backoff, during which a new job waits: the idle pick-up delay). With the
    gateway's 13 s the wait is never cut (no connection is opened again), and a job is
    taken at once."""
    queue = Queue(QUEUE, {"connection": cluster_client, "prefix": PREFIX})
    try:
        first = await queue.add("records:updated", {"n": 0})
        await worker.wait_for(first.id)
        await queue.add("records:updated", {"n": "later"}, {"delay": 60_000})
        with cluster.client(cluster.master_of(PREFIX)) as admin:
            made = connections_made(admin)
            await asyncio.sleep(11)  # the idle time under test (past a 10 s wait), not a sync
            assert connections_made(admin) == made
        added = time.monotonic()
        job = await queue.add("records:updated", {"n": 1})
        delay = await worker.wait_for(job.id) - added
    finally:
        await queue.close()
    assert delay < 0.5, delay
