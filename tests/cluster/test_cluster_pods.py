"""`python -m gateway` pods on a real Redis Cluster (REDIS_CLUSTER_NODES): every client of
a pod talks to the master of the queue prefix's slot (gateway/redis_clients/slot_master.py).

Producers are npm `bullmq` on an ioredis `Cluster` and the Python producer API; clients are
python-socketio `AsyncClient`s on the other pod. The adapter routes by room (the default on
a cluster); the failover test runs with one channel too. The pods of the first tests share
the session's cluster
(one pair for the module); the failover test starts a cluster of its own and SIGKILLs
the slot's master."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from bullmq import Job, Queue
from redis.crc import key_slot

from config import RedisSettings, load_settings
from gateway.redis_clients.eviction import maxmemory_policy
from gateway.redis_clients.factory import redis_client
from notification_log.keys import room_channel
from producer import NotificationProducer
from tests.support.clients import RecordingClient
from tests.support.gateway import GatewayProcess, base_env, get_text, run_module, wait_ready
from tests.support.jobs import notification
from tests.support.node import ROOT, require_node
from tests.support.redis_cluster import RedisCluster
from tests.support.tokens import mint

pytestmark = pytest.mark.slow

PREFIX = "{cluster-pods}"
SLOT = key_slot(PREFIX.encode())
WINDOW = 2.0  # the throttle window of records:updated
PRODUCE = Path(__file__).with_name("produce_cluster.mjs")


def cluster_env(cluster: RedisCluster, **overrides: str) -> dict[str, str]:
    settings = {
        "REDIS_CLUSTER_NODES": cluster.startup_nodes,
        "QUEUE_PREFIX": PREFIX,
        "THROTTLE_RULES": f"records:updated={WINDOW:g}",
    }
    env = base_env("unused", **{**settings, **overrides})
    del env["REDIS_URL"]  # one Redis mode at a time
    return env


class ClusterJobs:
    """Job states (and jobs added directly), through a client of the slot's master as the
    gateway builds it. Not redis-py's `RedisCluster`: after the failover test's promotion
    its bullmq scripts (`getJobState`) failed with NOSCRIPT for good (producer/cluster.py)."""

    def __init__(self, cluster: RedisCluster) -> None:
        settings = RedisSettings(cluster_nodes=tuple(("127.0.0.1", p) for p in cluster.ports))
        self.client = redis_client(settings, decode_responses=True, prefix=PREFIX)
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, {"connection": self.client, "prefix": PREFIX})
        return self._queues[name]

    async def finished(self, queue: str, job_id: str, timeout: float = 15.0) -> Job:
        async with asyncio.timeout(timeout):
            while await self.queue(queue).getJobState(job_id) not in ("completed", "failed"):
                await asyncio.sleep(0.02)  # polling the job's state, bounded
        job = await Job.fromId(self.queue(queue), job_id)
        assert job is not None
        return job

    async def close(self) -> None:
        for queue in self._queues.values():
            await queue.close()
        await self.client.aclose()


async def node_produce(
    cluster: RedisCluster, queue: str, jobs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """npm bullmq on an ioredis Cluster adds `jobs` and reports each once finished."""
    spec = {
        "nodes": [{"host": "127.0.0.1", "port": port} for port in cluster.ports[:3]],
        "prefix": PREFIX,
        "queue": queue,
        "jobs": jobs,
        "timeout_ms": 15000,
    }
    process = await asyncio.create_subprocess_exec(
        require_node(),
        str(PRODUCE),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(json.dumps(spec).encode()), 30)
    assert process.returncode == 0, stderr.decode()
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


@dataclass
class Pods:
    cluster: RedisCluster
    a: GatewayProcess  # consumes critical-events and a-events
    b: GatewayProcess  # consumes critical-events and b-events
    client_a: RecordingClient  # on pod a: rooms user:1, department:A
    client_b: RecordingClient  # on pod b: rooms user:2, department:A
    jobs: ClusterJobs
    log_dir: Path


@pytest.fixture(scope="module")
async def pods(
    redis_cluster: RedisCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Pods]:
    """Two pods on the session's cluster (emptied first), a client on each."""
    redis_cluster.flushall()
    log_dir = tmp_path_factory.mktemp("cluster-pods")
    a = GatewayProcess(
        cluster_env(redis_cluster, GATEWAY_QUEUES="critical-events=4,a-events=2"), log_dir
    ).start()
    b = GatewayProcess(
        cluster_env(redis_cluster, GATEWAY_QUEUES="critical-events=4,b-events=2"), log_dir
    ).start()
    jobs = ClusterJobs(redis_cluster)
    clients: list[RecordingClient] = []
    try:
        await asyncio.gather(a.started(), b.started())
        clients.append(await RecordingClient(a.url, "/data_owner", mint("1", "A")).connect())
        clients.append(await RecordingClient(b.url, "/data_owner", mint("2", "A")).connect())
        yield Pods(redis_cluster, a, b, clients[0], clients[1], jobs, log_dir)
    finally:
        for client in clients:
            await client.close()
        await jobs.close()
        a.kill()
        b.kill()


def test_a_prefix_without_a_hash_tag_stops_start_up_with_one_line(
    redis_cluster: RedisCluster,
) -> None:
    result = run_module(cluster_env(redis_cluster, QUEUE_PREFIX="app-main"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "QUEUE_PREFIX" in lines[0] and "hash tag" in lines[0], lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.node
async def test_notifications_from_both_producers_reach_clients_on_the_other_pod(
    pods: Pods,
) -> None:
    # npm bullmq on an ioredis Cluster, into the queue only pod b consumes.
    [result] = await node_produce(
        pods.cluster,
        "b-events",
        [
            {"name": "resources:created", "data": notification(["user:1"], "from-node")},
        ],
    )
    assert (result["state"], result["returnvalue"]) == ("completed", {"emitted": True}), result
    event, payload = await pods.client_a.next_event(timeout=10)
    assert (event, payload["id"]) == ("resources:created", "from-node")

    # The Python producer with the gateway's own settings, into pod a's queue.
    settings = load_settings(cluster_env(pods.cluster))
    async with NotificationProducer.for_gateway(settings) as notifier:
        queued = await notifier.notify(
            "resources:created",
            namespace="/data_owner",
            rooms=["user:2"],
            id="from-python",
            queue="a-events",
        )
    finished = await pods.jobs.finished("a-events", queued.job_id)
    assert finished.returnvalue == {"emitted": True}
    event, payload = await pods.client_b.next_event(timeout=10)
    assert (event, payload["id"]) == ("resources:created", "from-python")
    assert payload["metadata"]["trace_id"] == queued.trace_id
    pods.client_a.assert_nothing_received()
    pods.client_b.assert_nothing_received()


def test_each_pod_subscribes_on_the_slots_master_to_the_rooms_it_holds_only(
    pods: Pods,
) -> None:
    """Routing by room: client a (user:1, department:A) on pod a, client b (user:2,
    department:A) on pod b; the room channels are in the prefix's slot, on its master."""
    with pods.cluster.client(pods.cluster.master_of(PREFIX)) as master:
        channels = [room_channel(PREFIX, "/data_owner", room)
                    for room in ("user:1", "user:2", "department:A", "user:3")]
        reply = master.execute_command("PUBSUB", "SHARDNUMSUB", *channels)
        assert dict(zip(reply[::2], reply[1::2], strict=True)) == {
            channel: count for channel, count in zip(channels, [1, 1, 2, 0], strict=True)
        }
        assert {key_slot(channel.encode()) for channel in channels} == {SLOT}


def test_the_python_producer_refuses_a_prefix_without_a_hash_tag(pods: Pods) -> None:
    settings = load_settings(cluster_env(pods.cluster))
    untagged = type(settings.consumers)(prefix="cluster-pods")
    with pytest.raises(ValueError, match="QUEUE_PREFIX: must contain a hash tag"):
        NotificationProducer.for_gateway(
            type(settings)(auth=settings.auth, redis=settings.redis, consumers=untagged)
        )
    with pytest.raises(ValueError, match="prefix: must contain a hash tag"):
        NotificationProducer(cluster_nodes=pods.cluster.startup_nodes, prefix="cluster-pods")


@pytest.mark.node
async def test_an_invalid_job_fails_without_retry_naming_the_field(pods: Pods) -> None:
    [result] = await node_produce(
        pods.cluster,
        "critical-events",
        [
            {
                "name": "records:updated",
                "data": {"namespace": "/data_owner", "rooms": [], "id": "bad"},
                "opts": {"attempts": 3, "backoff": {"type": "fixed", "delay": 10}},
            }
        ],
    )
    assert result["state"] == "failed", result
    assert result["failedReason"].startswith("invalid notification: "), result
    assert "rooms" in result["failedReason"], result
    assert result["attemptsMade"] == 1, "an invalid job must not be retried"


def update(resource: str, seq: int) -> dict[str, Any]:
    return notification(["department:A"], resource, data={"seq": seq})


async def received_seqs(client: RecordingClient, resource: str, count: int) -> list[int]:
    events = await client.events_until_quiet(count, timeout=WINDOW + 8)
    return [payload["data"]["seq"] for _, payload in events if payload["id"] == resource]


async def test_a_burst_throttled_across_the_two_pods_gives_one_leading_and_one_trailing(
    pods: Pods,
) -> None:
    """The leading update is decided by pod a (its own queue), the rest of the burst by
    pod b: one throttle state in the slot, so b holds them, and emits the newest."""
    leading = await pods.jobs.queue("a-events").add("records:updated", update("burst", 1))
    assert (await pods.jobs.finished("a-events", leading.id)).returnvalue == {"emitted": True}
    held = [
        await pods.jobs.queue("b-events").add("records:updated", update("burst", seq))
        for seq in range(2, 6)
    ]
    for job in held:
        assert (await pods.jobs.finished("b-events", job.id)).returnvalue == {"throttled": True}
    for client in (pods.client_a, pods.client_b):
        assert await received_seqs(client, "burst", 2) == [1, 5]
    _, metrics = await get_text(f"{pods.b.url}/metrics")
    assert (
        'gateway_notifications_total{event="records:updated",outcome="trailing",'
        'queue="b-events"} 1.0'
    ) in metrics


async def test_the_trailing_update_arrives_after_the_pod_that_held_it_is_sigkilled(
    pods: Pods,
) -> None:
    env = cluster_env(pods.cluster, GATEWAY_QUEUES="k-events=1", GATEWAY_ROLE="consumer")
    holder = await GatewayProcess(env, pods.log_dir).start().started()
    successor: GatewayProcess | None = None
    try:
        queue = pods.jobs.queue("k-events")
        first = await queue.add("records:updated", update("kept", 1))
        assert (await pods.jobs.finished("k-events", first.id)).returnvalue == {"emitted": True}
        for seq in (2, 3):
            job = await queue.add("records:updated", update("kept", seq))
            finished = await pods.jobs.finished("k-events", job.id)
            assert finished.returnvalue == {"throttled": True}
        holder.kill()  # SIGKILL: the trailing update lives in Redis only
        successor = await GatewayProcess(env, pods.log_dir).start().started()
        assert await received_seqs(pods.client_a, "kept", 2) == [1, 3]
    finally:
        holder.kill()
        if successor is not None:
            successor.kill()


def scan_all_masters(cluster: RedisCluster) -> list[str]:
    keys: list[str] = []
    for port in cluster.masters():
        with cluster.client(port) as client:
            keys += client.scan_iter(count=1000)
    return keys


def test_every_key_written_by_the_pods_is_in_the_prefix_slot(pods: Pods) -> None:
    """After the tests above (queues, jobs done and failed, throttle state, trailing jobs,
    the notification log): every key, on every master, in the prefix's slot."""
    keys = scan_all_masters(pods.cluster)
    assert any(":throttle:" in key for key in keys), keys
    assert any(":log:" in key for key in keys), keys
    assert any(key.endswith(":critical-events:failed") for key in keys), keys
    assert any(":k-events:" in key for key in keys), keys
    slots = {key: key_slot(key.encode()) for key in keys}
    assert set(slots.values()) == {SLOT}, {k: s for k, s in slots.items() if s != SLOT}


# --- the slot's master SIGKILLed ----------------------------------------------------------


class Stream:
    """The Python producer adding a job every `interval` (retrying an add that fails while
    the slot has no master, every 0.1 s, as a producer service would), and a watcher that
    records each job it sees completed."""

    def __init__(self, notifier: NotificationProducer, jobs: ClusterJobs) -> None:
        self.notifier = notifier
        self.jobs = jobs
        self.added: dict[str, str] = {}  # resource id -> job id
        self.added_at: list[float] = []
        self.completed: set[str] = set()
        self.done = False

    async def produce(self, count: int, room: str, interval: float) -> None:
        try:
            for n in range(count):
                resource = f"f-{n}"
                while True:
                    try:
                        queued = await self.notifier.notify(
                            "resources:created",
                            namespace="/data_owner",
                            rooms=[room],
                            id=resource,
                            job_id=f"stream-{n}",
                        )
                        break
                    except Exception:
                        await asyncio.sleep(0.1)  # no master yet: retry the add
                self.added[resource] = queued.job_id
                self.added_at.append(time.monotonic())
                await asyncio.sleep(interval)
        finally:
            self.done = True

    async def watch(self) -> None:
        queue = self.jobs.queue("critical-events")
        while not (self.done and len(self.completed) == len(self.added)):
            for resource, job_id in list(self.added.items()):
                if resource in self.completed:
                    continue
                try:
                    state = await queue.getJobState(job_id)
                except Exception:
                    await asyncio.sleep(0.1)  # no master: ask again
                    break
                if state == "completed":
                    self.completed.add(resource)
            await asyncio.sleep(0.05)  # polling job states, bounded by the caller


class Readiness:
    """/readyz of a pod, polled every 50 ms: (time, status, reasons)."""

    def __init__(self, pod: GatewayProcess) -> None:
        self.pod = pod
        self.seen: list[tuple[float, int, str]] = []

    async def poll(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.get(f"{self.pod.url}/readyz") as response:
                        self.seen.append((time.monotonic(), response.status, await response.text()))
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)  # sampling readiness, cancelled by the caller

    def not_ready_between(self, start: float) -> list[tuple[float, str]]:
        return [(at, text) for at, status, text in self.seen if at > start and status == 503]

    def ready_again_after(self, start: float) -> float:
        """When /readyz answered 200 again after its last 503 following `start`."""
        down = self.not_ready_between(start)
        assert down, f"/readyz never 503 after the kill: {self.seen[-5:]}"
        last_down = down[-1][0]
        return next(at for at, status, _ in self.seen if at > last_down and status == 200)


def delivered(clients: list[RecordingClient]) -> set[str]:
    return {payload["id"] for client in clients for _, _, payload in client.arrivals}


async def all_delivered(
    stream: Stream, clients: list[RecordingClient], pods: list[GatewayProcess]
) -> None:
    """Until every job seen completed has reached a client (at least once)."""
    try:
        async with asyncio.timeout(30):
            while not stream.completed <= delivered(clients):
                await asyncio.sleep(0.05)  # polling what arrived, bounded
    except TimeoutError:
        missing = sorted(stream.completed - delivered(clients))
        logs = "\n".join(pod.log() for pod in pods)
        raise AssertionError(
            f"{len(missing)} completed, not delivered: {missing[:20]}\n{logs}"
        ) from None


@pytest.mark.parametrize("routing", ["room", "channel"])
async def test_the_slot_masters_sigkill_is_followed_and_loses_no_completed_notification(
    new_cluster: Callable[..., RedisCluster],
    tmp_path: Path,
    routing: str,
) -> None:
    """Jobs stream in from the Python producer; the master of the prefix's slot is
    SIGKILLed and its replica promoted. Both pods say 503 while the slot has no master
    and 200 once they work on the new one, and every job seen completed (on the old
    master or the new) reaches the clients."""
    cluster = new_cluster()
    env = cluster_env(cluster, GATEWAY_QUEUES="critical-events=4", GATEWAY_ADAPTER_ROUTING=routing)
    pods = [GatewayProcess(env, tmp_path).start(), GatewayProcess(env, tmp_path).start()]
    jobs = ClusterJobs(cluster)
    notifier = NotificationProducer.for_gateway(load_settings(env))
    health = redis_client(
        load_settings(env).redis, decode_responses=True, retries=False, prefix=PREFIX
    )
    clients: list[RecordingClient] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.gather(*(pod.started() for pod in pods))
        for pod in pods:
            clients.append(await RecordingClient(pod.url, "/data_owner", mint("7", None)).connect())
        old = cluster.master_of(PREFIX)
        replicas = cluster.replicas_of(old)
        # The replica to be promoted evicts: the eviction check reads the masters as
        # CLUSTER SLOTS names them at each check, so it is seen once promoted.
        for replica in replicas:
            with cluster.client(replica) as admin:
                admin.config_set("maxmemory-policy", "volatile-lru")
        assert await maxmemory_policy(health) == "noeviction"

        stream = Stream(notifier, jobs)
        readiness = [Readiness(pod) for pod in pods]
        tasks = [
            asyncio.create_task(stream.produce(300, "user:7", interval=0.02)),
            asyncio.create_task(stream.watch()),
            *(asyncio.create_task(probe.poll()) for probe in readiness),
        ]
        async with asyncio.timeout(20):
            while len(stream.completed) < 80:
                await asyncio.sleep(0.01)  # the stream under way, bounded
        before_kill = delivered(clients)
        cluster.kill(old)
        killed_at = time.monotonic()
        new = await asyncio.to_thread(cluster.wait_promotion, old, replicas)
        promoted = time.monotonic() - killed_at
        for pod in pods:
            await wait_ready(pod.url, timeout=30)
        async with asyncio.timeout(90):
            await asyncio.gather(tasks[0], tasks[1])
        await all_delivered(stream, clients, pods)

        first_after = (
            min(
                at
                for client in clients
                for at, _, payload in client.arrivals
                if at > killed_at and payload["id"] not in before_kill
            )
            - killed_at
        )
        ready_after = [probe.ready_again_after(killed_at) - killed_at for probe in readiness]
        reasons = {text for probe in readiness for _, text in probe.not_ready_between(killed_at)}
        first_add = next(at for at in stream.added_at if at > killed_at) - killed_at
        print(
            f"cluster failover: master {old} -> {new} promoted {promoted:.2f} s after the kill;"
            f" producer's first add {first_add:.2f} s, first new delivery {first_after:.2f} s,"
            f" pods ready {', '.join(f'{t:.2f}' for t in ready_after)} s after it;"
            f" {len(stream.added)} added, {len(stream.completed)} seen completed, all"
            f" delivered; /readyz said: {sorted(reasons)}"
        )
        assert any("redis: " in reason for reason in reasons), reasons
        assert first_after < promoted + 2.0, (first_after, promoted)
        assert await maxmemory_policy(health) == "volatile-lru"  # the promoted replica's
        for pod in pods:
            assert pod.process is not None and pod.process.poll() is None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()
        await health.aclose()
        await notifier.close()
        await jobs.close()
        for pod in pods:
            pod.kill()
