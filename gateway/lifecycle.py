"""Graceful shutdown (CONTRACT §7): readiness off, stop taking jobs, finish the held
ones, close client connections so they reconnect elsewhere."""

import asyncio
import logging
import time

import socketio
from aiohttp import web

from gateway.state import CONSUMERS, POD_STATE, SETTINGS, SOCKETIO

logger = logging.getLogger(__name__)


async def drain(app: web.Application) -> None:
    """Everything before the web server stops; bounded by GATEWAY_DRAIN_SECONDS.

    Connections stay open at least GATEWAY_SHUTDOWN_DELAY after the signal, so load
    balancers see the 503 and stop routing before clients are sent away.
    """
    settings = app[SETTINGS].server
    started = time.monotonic()
    deadline = started + settings.drain_seconds
    app[POD_STATE].draining = True
    logger.info("draining: /readyz is 503, no new jobs are taken")
    finished = await app[CONSUMERS].stop(grace_seconds=max(0.0, deadline - time.monotonic() - 1.0))
    if not finished:
        logger.warning("jobs still held at the drain deadline; another pod will retry them")
    keep_serving_until = min(started + settings.shutdown_delay_seconds, deadline - 1.0)
    if keep_serving_until > time.monotonic():
        await asyncio.sleep(keep_serving_until - time.monotonic())
    await disconnect_all_clients(app[SOCKETIO])


async def disconnect_all_clients(server: socketio.AsyncServer) -> None:
    """Close every Engine.IO session; clients see a transport close and reconnect."""
    if server.eio.sockets:
        logger.info("closing %d client connections", len(server.eio.sockets))
        await server.eio.disconnect()
