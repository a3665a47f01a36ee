"""`python -m gateway`: run one pod until SIGTERM/SIGINT, then drain and exit 0."""

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from config import Settings, SettingsError, load_settings
from gateway.pod.app import build_app
from gateway.pod.lifecycle import drain
from gateway.pod.state import POD_STATE
from gateway.redis_clients.eviction import UnsafeRedis

logger = logging.getLogger("gateway")

EXIT_BAD_SETTINGS = 2
EXIT_FAILED = 1


async def serve(settings: Settings) -> None:
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, settings.server.host, settings.server.port, reuse_address=True)
        await site.start()
        logger.info("listening on %s:%d", settings.server.host, settings.server.port)
        state = app[POD_STATE]
        await _first_of(stop.wait(), state.failed.wait())
        if state.failure is not None:  # a start-up step in the background refused or gave up
            raise state.failure
        logger.info("shutdown signal received")
        await drain(app)
    finally:
        await runner.cleanup()
    logger.info("stopped")


async def _first_of(*waits: Coroutine[Any, Any, Any]) -> None:
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


def main() -> int:
    try:
        settings = load_settings(os.environ)
    except SettingsError as error:
        print(f"gateway: invalid setting {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        import uvloop
    except ImportError:
        run = asyncio.run
    else:
        run = uvloop.run
    try:
        run(serve(settings))
    except UnsafeRedis as error:
        print(f"gateway: refusing to start: {error}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return 0


if __name__ == "__main__":
    sys.exit(main())
