"""When the pod is ready (`/readyz`), and what a `/metrics` scrape reads fresh.

Each role is ready when what it runs is: the queue consumers on a pod that consumes, the
adapter's subscription on one that holds clients, and Redis answering a PING within a
second. Draining and starting are reasons of their own."""

import asyncio

from aiohttp import web
from redis.exceptions import RedisError

from gateway.pod.state import ADAPTER, CONSUMERS, HEALTH_REDIS, METRICS, POD_STATE, SETTINGS

PING_TIMEOUT_SECONDS = 1.0


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
    if role.holds_clients and not app[ADAPTER].delivering:
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


async def read_queue_jobs(app: web.Application) -> None:
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
