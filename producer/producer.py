"""`NotificationProducer`: add notification jobs (CONTRACT §2) from a Python service.

The payload is checked by the gateway's own decoder (`jobformat`) before anything
reaches Redis, so a job this API adds is one the gateway accepts: an invalid or fat
payload raises `InvalidNotification` here, naming the field, instead of failing later in
the gateway.

bullmq is imported when the first job is added, not with this module: its package
imports its Worker (and all that comes with it) as it loads, which a service that only
adds jobs has no use for at import (tests/producer/test_imports.py).

On a Redis Cluster (`cluster_nodes=`, or the gateway's settings with
REDIS_CLUSTER_NODES: `for_gateway`) it adds to the master of the queue prefix's slot, and
the prefix must carry a hash tag (`{app-main}`), as the gateway requires
(producer/cluster.py says why it is not redis-py's `RedisCluster`).

It reads whether a client handed in decodes responses from redis-py's pool
(`connection_kwargs`): listed, pinned by hash, in seams/register.py.
"""

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from config import ConsumerSettings, ServerSettings, Settings, SettingsError
from jobformat import (
    InvalidNotification,
    NotificationDecoder,
    PayloadTooLarge,
    check_job_id,
    iso_timestamp,
    trace_id_for,
)
from producer.cluster import MASTER_GONE, SlotMaster, hash_tag, parse_nodes, untagged_prefix
from roomcast.slot_map import Address

if TYPE_CHECKING:
    from bullmq import Queue

DEFAULT_QUEUE = "critical-events"
_GATEWAY_SERVER, _GATEWAY_CONSUMERS = ServerSettings(), ConsumerSettings()
# Retried with exponential backoff from 1 s (1 s, 2 s); finished jobs are kept for a
# while (and a deterministic job id stays taken while its job is kept).
DEFAULT_JOB_OPTIONS: Mapping[str, Any] = {
    "attempts": 3,
    "backoff": {"type": "exponential", "delay": 1000},
    "removeOnComplete": 1000,
    "removeOnFail": 5000,
}


@dataclass(frozen=True, slots=True)
class QueuedNotification:
    """What `notify` added: where, under which job id, with which trace id."""

    queue: str
    job_id: str
    trace_id: str
    timestamp: str


class NotificationProducer:
    """Adds thin notification jobs to the gateway's BullMQ queues.

    `redis` is a URL (the producer opens and closes its own pooled client) or a
    `redis.asyncio.Redis` made with `decode_responses=True` (left open on `close`). On a
    Redis Cluster, give `cluster_nodes` instead (`host:port,...` as REDIS_CLUSTER_NODES,
    or (host, port) pairs): the producer then adds to the master of the prefix's slot,
    looked up again, and the add tried once more, when that master is gone. `password`
    is REDIS_PASSWORD's, for a URL or the cluster's nodes.
    `namespaces`, `max_payload_bytes` and `prefix` must match the gateway's settings
    (`GATEWAY_NAMESPACES`, `MAX_PAYLOAD_BYTES`, `QUEUE_PREFIX`); the defaults are the
    gateway's defaults. On a cluster a prefix without a hash tag is refused
    (`ValueError`).
    """

    def __init__(
        self,
        redis: "str | Redis | None" = None,
        *,
        cluster_nodes: "str | Sequence[Address]" = (),
        password: str | None = None,
        prefix: str = _GATEWAY_CONSUMERS.prefix,
        namespaces: Iterable[str] = _GATEWAY_SERVER.namespaces,
        max_payload_bytes: int = _GATEWAY_CONSUMERS.max_payload_bytes,
        default_queue: str = DEFAULT_QUEUE,
        job_options: Mapping[str, Any] | None = None,
    ) -> None:
        nodes = parse_nodes(cluster_nodes)
        if (redis is None) == (not nodes):
            raise ValueError("give either redis (a URL or a client) or cluster_nodes")
        self._client: Redis | None = None
        self._slot_master: SlotMaster | None = None
        self._owns_client = True
        if nodes:
            self._slot_master = SlotMaster(nodes, prefix, password=password)
        elif isinstance(redis, str):
            self._client = Redis.from_url(redis, password=password, decode_responses=True)
        elif isinstance(redis, RedisCluster):
            raise ValueError(
                "on a Redis Cluster give cluster_nodes= instead of a RedisCluster client:"
                " redis-py 7.4's fails every add after a failover (producer/cluster.py)"
            )
        else:
            assert redis is not None
            if not redis.connection_pool.connection_kwargs.get("decode_responses"):
                raise ValueError("the Redis client must be made with decode_responses=True")
            self._client = redis
            self._owns_client = False
        self._prefix = prefix
        self._decoder = NotificationDecoder(namespaces, max_payload_bytes, prefix)
        self._default_queue = default_queue
        self._job_options = {**DEFAULT_JOB_OPTIONS, **(job_options or {})}
        _check_options(self._job_options)
        self._queues: dict[str, Queue] = {}

    @classmethod
    def for_gateway(cls, settings: Settings, redis: Redis | None = None) -> "NotificationProducer":
        """A producer that checks payloads exactly as the gateway with `settings` does.

        Without `redis` it connects as the gateway's settings say (REDIS_URL, or
        REDIS_CLUSTER_NODES; with REDIS_PASSWORD), on a client of its own; behind
        Sentinel, pass a client of the master. On a cluster a `QUEUE_PREFIX` without a
        hash tag raises the gateway's `SettingsError`, as the gateway refuses it."""
        prefix = settings.consumers.prefix
        options: dict[str, Any] = {
            "prefix": prefix,
            "namespaces": settings.server.namespaces,
            "max_payload_bytes": settings.consumers.max_payload_bytes,
            "default_queue": settings.consumers.queues[0].name,
        }
        if redis is not None:
            return cls(redis, **options)
        if settings.redis.is_cluster and not hash_tag(prefix):
            raise SettingsError("QUEUE_PREFIX", untagged_prefix(prefix))
        if settings.redis.sentinels:
            raise ValueError("behind Sentinel, pass a client of the master (Sentinel.master_for)")
        password = settings.redis.password.reveal() if settings.redis.password else None
        if settings.redis.is_cluster:
            return cls(cluster_nodes=settings.redis.cluster_nodes, password=password, **options)
        return cls(settings.redis.url, password=password, **options)

    async def notify(
        self,
        event: str,
        *,
        namespace: str,
        rooms: Sequence[str],
        id: str | int,
        data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        queue: str | None = None,
        job_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> QueuedNotification:
        """Validate, fill `metadata.trace_id`/`timestamp`, and add the job.

        `job_id` makes the job idempotent: adding it again while BullMQ keeps the first
        one (see `removeOnComplete`) adds nothing. `options` are BullMQ job options
        merged over the producer's (attempts 3, exponential backoff from 1 s, ...).
        Raises `InvalidNotification` (nothing is written to Redis) for a payload the
        gateway would reject.
        """
        queue_name = queue or self._default_queue
        if job_id is not None:
            check_job_id(job_id)
        filled = _filled_metadata(metadata, self._prefix, queue_name, job_id)
        body: dict[str, Any] = {
            "namespace": namespace,
            # A string is a Sequence too: left as it is, the decoder rejects it.
            "rooms": list(rooms) if isinstance(rooms, list | tuple) else rooms,
            "id": id,
            "data": {} if data is None else dict(data) if isinstance(data, Mapping) else data,
            "metadata": filled,
        }
        self.validate(event, body)
        job_options = {**self._job_options, **(options or {})}
        _check_options(job_options)
        if job_id is not None:
            job_options["jobId"] = job_id
        job = await self._add(queue_name, event, body, job_options)
        return QueuedNotification(queue_name, str(job.id), filled["trace_id"], filled["timestamp"])

    async def _add(
        self, queue_name: str, event: str, body: dict[str, Any], options: dict[str, Any]
    ) -> Any:
        """On a cluster, an add that finds the slot's master gone (a failover, a moved
        slot) is tried once more on the master looked up again; if that fails too, the
        error is raised, and the next add looks the master up again."""
        try:
            return await (await self._queue(queue_name)).add(event, body, options)
        except MASTER_GONE:
            if self._slot_master is None:
                raise
            await self._drop_client()
        try:
            return await (await self._queue(queue_name)).add(event, body, options)
        except MASTER_GONE:
            await self._drop_client()
            raise

    def validate(self, event: object, body: object) -> None:
        """The gateway's checks of a job (name and data); raises `InvalidNotification`."""
        try:
            json.dumps(body, allow_nan=False)  # as bullmq encodes it
        except (TypeError, ValueError) as error:
            raise InvalidNotification(f"job data cannot be encoded as JSON ({error})") from None
        try:
            self._decoder.validate(event, body)
        except PayloadTooLarge as error:
            assert isinstance(body, dict)
            raise PayloadTooLarge(error.size, error.limit, _largest_field(body)) from None

    async def close(self) -> None:
        if self._owns_client:
            await self._drop_client()
        self._queues.clear()

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._queues.clear()
        if client is not None:
            await client.aclose()

    async def __aenter__(self) -> "NotificationProducer":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _queue(self, name: str) -> "Queue":
        # Queue objects hold only the shared client (closed in `close`, never by them).
        if self._client is None:
            assert self._slot_master is not None  # a URL's or a given client is never dropped
            self._client = await self._slot_master.client()
        if name not in self._queues:
            from bullmq import Queue  # here, not at import: see the module's docstring

            self._queues[name] = Queue(name, {"connection": self._client, "prefix": self._prefix})
        return self._queues[name]


def _filled_metadata(
    metadata: object, prefix: str, queue: str, job_id: str | None
) -> Any:
    """`metadata` with `trace_id` and `timestamp` set where absent (a non-object is left
    for the decoder to reject)."""
    if metadata is not None and not isinstance(metadata, Mapping):
        return metadata
    filled = dict(metadata or {})
    if filled.get("trace_id") is None:
        filled["trace_id"] = trace_id_for(prefix, queue, job_id)
    if filled.get("timestamp") is None:
        filled["timestamp"] = iso_timestamp(int(time.time() * 1000))
    return filled


def _check_options(options: Mapping[str, Any]) -> None:
    if "jobId" in options:
        raise ValueError("pass the job id as job_id=, not in the job options")


def _largest_field(body: Mapping[str, Any]) -> str:
    """'; the largest field is data.blob (15000 bytes)': where a fat payload is fat."""
    path, value, size = "", body, 0
    while isinstance(value, Mapping) and value:
        sizes = {key: len(json.dumps(item)) for key, item in value.items()}
        key = max(sizes, key=sizes.__getitem__)
        path = f"{path}.{key}" if path else str(key)
        value = value[key]
        size = sizes[key]
        if path.count(".") >= 2:
            break
    return f"; the largest field is {path} ({size} bytes)" if path else ""
