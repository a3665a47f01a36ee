"""Typed keys for what the aiohttp app holds."""

import asyncio
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis

from config import Settings
from consumers import QueueConsumers
from gateway.realtime.adapter import RedisAdapter
from gateway.realtime.server import GatewayServer
from gateway.web.metrics import GatewayMetrics


@dataclass(slots=True)
class PodState:
    """Set by the lifecycle: `started` when the last cleanup context is up,
    `draining` from the first moment of shutdown. Start-up steps that wait for Redis
    run in the background: `redis_checked` once Redis has answered the start-up check,
    and `fail()` when one of them found that the pod must not run on."""

    started: bool = False
    draining: bool = False
    redis_checked: asyncio.Event = field(default_factory=asyncio.Event)
    failure: BaseException | None = None
    failed: asyncio.Event = field(default_factory=asyncio.Event)

    def fail(self, error: BaseException) -> None:
        """Stop the pod (`python -m gateway` exits and reports `error`)."""
        if self.failure is None:
            self.failure = error
        self.failed.set()


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", GatewayMetrics)
POD_STATE = web.AppKey("pod_state", PodState)
SOCKETIO = web.AppKey("socketio", GatewayServer)
ADAPTER = web.AppKey("adapter", RedisAdapter)
HEALTH_REDIS = web.AppKey("health_redis", Redis)
CONSUMERS = web.AppKey("consumers", QueueConsumers)
