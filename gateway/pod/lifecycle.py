"""Graceful shutdown (CONTRACT §7): readiness off, stop taking jobs, finish the held
ones, close client connections so they reconnect elsewhere."""

import asyncio
import logging
import random
import time

import socketio
from aiohttp import web

from gateway.pod.state import CONSUMERS, POD_STATE, SETTINGS, SOCKETIO
from gateway.transport.closing import close_transport, open_sessions

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
    if CONSUMERS in app:  # not on an edge pod (GATEWAY_ROLE)
        grace = max(0.0, deadline - time.monotonic() - 1.0)
        if not await app[CONSUMERS].stop(grace_seconds=grace):
            logger.warning("jobs still held at the drain deadline; another pod will retry them")
    if SOCKETIO not in app:  # a consumer pod holds no client connections
        return
    keep_serving_until = min(started + settings.shutdown_delay_seconds, deadline - 1.0)
    if keep_serving_until > time.monotonic():
        await asyncio.sleep(keep_serving_until - time.monotonic())
    spread = min(settings.disconnect_spread_seconds, max(0.0, deadline - time.monotonic() - 0.5))
    await disconnect_all_clients(app[SOCKETIO], spread)


# A spread is cut into this many slices at most: one slice every 50 ms for a 2 s spread.
_SLICES = 40


async def disconnect_all_clients(server: socketio.AsyncServer, spread_seconds: float = 0) -> None:
    """Close every Engine.IO session; clients see a transport close and reconnect.

    The closes are spread in random order over `spread_seconds`, so the clients of a
    pod that leaves (a rolling deploy) don't all reconnect to the remaining pods in the
    same instant; socket.io clients add their own randomised delay on top.
    """
    sids = open_sessions(server.eio)
    if not sids:
        return
    logger.info("closing %d client connections over %.1f s", len(sids), spread_seconds)
    random.shuffle(sids)
    slices = max(1, min(_SLICES, len(sids))) if spread_seconds > 0 else 1
    began = time.monotonic()
    for index in range(slices):
        due = began + spread_seconds * index / slices
        if due > time.monotonic():
            await asyncio.sleep(due - time.monotonic())
        await asyncio.gather(
            *(close_transport(server.eio, sid) for sid in sids[index::slices]),
            return_exceptions=True,
        )
    # Whoever connected meanwhile (a load balancer that was slow to stop routing).
    for sid in open_sessions(server.eio):
        await close_transport(server.eio, sid)
