"""Typed keys for what the aiohttp app holds."""

from dataclasses import dataclass

from aiohttp import web
from redis.asyncio import Redis

from config import Settings
from consumers import QueueConsumers
from gateway.adapter import RedisAdapter
from gateway.metrics import GatewayMetrics
from gateway.server import GatewayServer


@dataclass(slots=True)
class PodState:
    """Set by the lifecycle: `started` when the last cleanup context is up,
    `draining` from the first moment of shutdown."""

    started: bool = False
    draining: bool = False


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", GatewayMetrics)
POD_STATE = web.AppKey("pod_state", PodState)
SOCKETIO = web.AppKey("socketio", GatewayServer)
ADAPTER = web.AppKey("adapter", RedisAdapter)
HEALTH_REDIS = web.AppKey("health_redis", Redis)
CONSUMERS = web.AppKey("consumers", QueueConsumers)
