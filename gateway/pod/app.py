"""Build the aiohttp app of one pod from `Settings`.

Resources open in cleanup contexts in dependency order (Redis health client, the
Socket.IO adapter, the queue consumers) and close in reverse (docs/architecture.md, Lifecycle).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import partial

from aiohttp import web
from redis.exceptions import RedisError

from auth import keys_from_settings
from config import AdapterRouting, QueueSettings, Settings
from consumers import (
    NotificationProcessor,
    QueueConsumers,
    Throttling,
    TrailingScheduler,
)
from gateway.pod.lifecycle import disconnect_all_clients
from gateway.pod.readiness import read_queue_jobs, readiness_problems
from gateway.pod.routing import room_subscriber_factory
from gateway.pod.state import (
    ADAPTER,
    CONSUMERS,
    HEALTH_REDIS,
    METRICS,
    POD_STATE,
    SETTINGS,
    SOCKETIO,
    PodState,
)
from gateway.realtime.adapter import RedisAdapter
from gateway.realtime.namespace import NotificationNamespace
from gateway.realtime.notifier import SocketIONotifier
from gateway.realtime.server import build_socketio_server
from gateway.redis_clients.eviction import EvictionPolicyCheck
from gateway.redis_clients.factory import redis_client
from gateway.web.demo import add_demo_routes
from gateway.web.endpoints import add_routes
from gateway.web.metrics import GatewayMetrics
from jobformat import NotificationDecoder
from notification_log import PidSigner
from throttling import Throttle

logger = logging.getLogger(__name__)

ADAPTER_SUBSCRIBE_WAIT_SECONDS = 5.0
# Between two attempts to start the queue consumers while Redis is away.
CONSUMERS_RETRY_SECONDS = 1.0
# How long start-up waits for Redis' first answer before serving without it.
REDIS_START_WAIT_SECONDS = 1.0


def build_app(settings: Settings) -> web.Application:
    app = web.Application()
    app[SETTINGS] = settings
    app[METRICS] = GatewayMetrics()
    app[POD_STATE] = PodState()
    adapter = RedisAdapter(
        partial(
            redis_client, settings.redis, decode_responses=False, prefix=settings.consumers.prefix
        ),
        settings.consumers.prefix,
        settings.recovery,
        subscriber_factory=partial(
            redis_client,
            settings.redis,
            decode_responses=False,
            retries=False,
            prefix=settings.consumers.prefix,
        ),
        by_room=settings.redis.routing is AdapterRouting.ROOM,
        room_subscriber_factory=(
            room_subscriber_factory(settings.redis)
            if settings.redis.routing is AdapterRouting.ROOM and settings.role.holds_clients
            else None
        ),
    )
    if not settings.role.holds_clients:
        return _without_clients(app, adapter)
    signer = (
        PidSigner(settings.recovery.secret.reveal().encode())
        if settings.recovery.enabled and settings.recovery.secret is not None
        else None
    )
    server = build_socketio_server(settings.server, adapter, app[METRICS], signer)
    if settings.recovery.secret_is_public:
        logger.warning(
            "GATEWAY_RECOVERY_SECRET is unset: recovery pids are signed with a key derived"
            " from JWT_PUBLIC_KEY; set it so clients cannot forge their replay position"
        )
    keys = keys_from_settings(settings.auth)
    for namespace in settings.server.namespaces:
        server.register_namespace(NotificationNamespace(namespace, keys, app[METRICS]))
    server.attach(app)
    app[ADAPTER] = adapter
    app[SOCKETIO] = server
    _add_routes(app)
    if settings.server.local_mode:
        add_demo_routes(app, settings)
    app.cleanup_ctx.append(_health_redis)
    app.cleanup_ctx.append(_socketio)
    if settings.role.consumes:
        app.cleanup_ctx.append(_consumers)
    app.cleanup_ctx.append(_ready)
    return app


def _without_clients(app: web.Application, adapter: RedisAdapter) -> web.Application:
    """A `consumer` pod (GATEWAY_ROLE): no Socket.IO server at all, so it holds no client
    connections (gateway/web/endpoints.py answers /socket.io/ with 404 and says why) and
    does not subscribe to the adapter channel; its consumers publish through the
    adapter's log."""
    app[ADAPTER] = adapter
    _add_routes(app)
    app.cleanup_ctx.extend([_health_redis, _publisher, _consumers, _ready])
    return app


async def _publisher(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[ADAPTER].close()


def _add_routes(app: web.Application) -> None:
    """/healthz, /readyz, /metrics (gateway/web/endpoints.py), with the pod's readiness;
    a pod that holds no clients answers /socket.io/ with 404 and says why."""
    role = app[SETTINGS].role
    add_routes(
        app,
        readiness=partial(readiness_problems, app),
        metrics_page=app[METRICS],
        before_scrape=partial(read_queue_jobs, app),
        no_clients_message=None
        if role.holds_clients
        else f"this pod holds no client connections (GATEWAY_ROLE={role})",
    )


async def _health_redis(app: web.Application) -> AsyncIterator[None]:
    """Readiness' client and the eviction-policy check. A Redis that answers at once is
    checked before the pod listens (a refusal stops start-up there); one that does not
    is waited for in the background while the pod serves /healthz, and /readyz says why
    it is not ready."""
    settings, state = app[SETTINGS].redis, app[POD_STATE]
    # No retries: a readiness probe is one attempt, answered at once with the reason.
    client = redis_client(
        settings, decode_responses=True, retries=False, prefix=app[SETTINGS].consumers.prefix
    )
    app[HEALTH_REDIS] = client
    check = EvictionPolicyCheck(client, app[METRICS], settings.require_noeviction)
    first = asyncio.create_task(check.when_reachable(), name="redis-start-check")
    try:
        await asyncio.wait([first], timeout=REDIS_START_WAIT_SECONDS)
        if first.done():
            first.result()
            state.redis_checked.set()
    except BaseException:
        first.cancel()
        await client.aclose()
        raise
    watching = asyncio.create_task(_watch_redis(first, check, state), name="redis-policy-check")
    yield
    watching.cancel()
    first.cancel()
    await asyncio.gather(watching, first, return_exceptions=True)
    await client.aclose()


async def _watch_redis(
    first: "asyncio.Task[str]", check: EvictionPolicyCheck, state: PodState
) -> None:
    """The start-up check's outcome (a refusal stops the pod), then the re-checks."""
    try:
        await first
    except Exception as error:  # UnsafeRedis, or a bug: either way the pod must stop
        state.fail(error)
        return
    state.redis_checked.set()
    await check.run()


async def _socketio(app: web.Application) -> AsyncIterator[None]:
    server, adapter = app[SOCKETIO], app[ADAPTER]
    server.start_manager()
    try:
        if app[POD_STATE].redis_checked.is_set():  # else it would only delay /healthz
            await asyncio.wait_for(adapter.subscribed.wait(), ADAPTER_SUBSCRIBE_WAIT_SECONDS)
    except TimeoutError:
        logger.warning("adapter not subscribed yet; /readyz stays 503 until it is")
    yield
    await disconnect_all_clients(server)
    await adapter.close()
    await server.shutdown()


async def _consumers(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    prefix = settings.consumers.prefix
    queue_client = partial(redis_client, settings.redis, decode_responses=True, prefix=prefix)
    decoder = NotificationDecoder(
        settings.server.namespaces,
        settings.consumers.max_payload_bytes,
        settings.consumers.prefix,
    )
    notifier = SocketIONotifier(app[ADAPTER])
    throttle_client = redis_client(settings.redis, decode_responses=False, prefix=prefix)
    throttling = Throttling(
        Throttle(throttle_client, settings.throttle_rules, settings.consumers.prefix),
        TrailingScheduler.for_queues(
            (queue.name for queue in settings.consumers.queues),
            queue_client,
            settings.consumers.prefix,
        ),
    )

    def processor(queue: QueueSettings) -> NotificationProcessor:
        return NotificationProcessor(queue.name, decoder, notifier, app[METRICS], throttling)

    consumers = QueueConsumers(settings.consumers, queue_client, processor)
    app[CONSUMERS] = consumers
    starting = asyncio.create_task(_start_consumers(app[POD_STATE], consumers))
    yield
    starting.cancel()
    await asyncio.gather(starting, return_exceptions=True)
    await consumers.stop(grace_seconds=settings.server.drain_seconds)
    await throttling.scheduler.close()
    await throttle_client.aclose()


async def _start_consumers(state: PodState, consumers: QueueConsumers) -> None:
    """Once Redis has answered the start-up check: the workers read its version first.
    If Redis goes away again meanwhile (for longer than the clients' retries), starting
    is tried again every `CONSUMERS_RETRY_SECONDS` until it succeeds or the pod drains;
    `/readyz` says the consumers are not running until then."""
    await state.redis_checked.wait()
    while not state.draining:
        try:
            await consumers.start()
            return
        except (RedisError, OSError) as error:
            logger.error(
                "queue consumers could not start (%s); retrying in %gs",
                error,
                CONSUMERS_RETRY_SECONDS,
            )
        await asyncio.sleep(CONSUMERS_RETRY_SECONDS)


async def _ready(app: web.Application) -> AsyncIterator[None]:
    app[POD_STATE].started = True
    logger.info("gateway started")
    yield
    app[POD_STATE].draining = True
