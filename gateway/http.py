"""`/healthz`, `/readyz` and `/metrics` (CONTRACT §5)."""

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from gateway.state import ADAPTER, CONSUMERS, HEALTH_REDIS, METRICS, POD_STATE, SETTINGS

PING_TIMEOUT_SECONDS = 1.0


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    problems = await readiness_problems(request.app)
    if problems:
        return web.json_response({"status": "unavailable", "problems": problems}, status=503)
    return web.json_response({"status": "ready"})


async def readiness_problems(app: web.Application) -> list[str]:
    state = app[POD_STATE]
    if state.draining:
        return ["draining"]
    if not state.started:
        return ["starting"]
    problems = []
    role = app[SETTINGS].role  # each role is ready when what it runs is
    if role.consumes and (CONSUMERS not in app or not app[CONSUMERS].running):
        problems.append("queue consumers not running")
    if role.holds_clients and not app[ADAPTER].subscribed.is_set():
        problems.append("adapter not subscribed")
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            await app[HEALTH_REDIS].ping()  # type: ignore[misc]
    except TimeoutError:
        problems.append(f"redis: no answer within {PING_TIMEOUT_SECONDS:g} s")
    except (RedisError, OSError) as error:
        # The reason, as the client saw it: "cannot connect to Redis at host:port: ..."
        problems.append(f"redis: {type(error).__name__}: {error}")
    return problems


async def metrics(request: web.Request) -> web.Response:
    await _read_queue_jobs(request.app)
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def no_clients(request: web.Request) -> web.Response:
    """/socket.io/ on a pod that holds no client connections (GATEWAY_ROLE=consumer)."""
    request.app[METRICS].connections_refused.labels("role").inc()
    role = request.app[SETTINGS].role
    message = f"this pod holds no client connections (GATEWAY_ROLE={role})"
    return web.json_response({"message": message}, status=404)


async def _read_queue_jobs(app: web.Application) -> None:
    """`gateway_queue_jobs`, fresh for this scrape, on pods that consume queues."""
    consumers = app.get(CONSUMERS)
    if consumers is None:
        return
    counts: dict[str, dict[str, int]] | None
    try:
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            counts = await consumers.job_counts()
    except (TimeoutError, RedisError, OSError):
        counts = None  # Redis away: no numbers rather than old ones
    app[METRICS].set_queue_jobs(counts)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if not app[SETTINGS].role.holds_clients:
        app.router.add_route("*", "/socket.io/", no_clients)
        app.router.add_route("*", "/socket.io/{tail:.*}", no_clients)
