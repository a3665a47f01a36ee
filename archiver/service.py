"""The archiver as a service: passes every ARCHIVE_INTERVAL_SECONDS (or one, `--once`),
metrics on ARCHIVE_METRICS_PORT, SIGTERM/SIGINT honoured between batches.

A pass that Redis or PostgreSQL fails is logged in one line and tried again after a
back-off of 0.5 s doubling up to 60 s; the process never exits on it (nor does
`--once`: it ends after its one pass goes through, or on a signal).
"""

import asyncio
import logging
import signal
import time

from archiver.archive import Archiver, PassResult
from archiver.database import Database
from archiver.errors import DependencyUnavailable
from archiver.metrics import ArchiveMetrics, MetricsServer
from archiver.redis_client import redis_client
from archiver.source import FinishedJobs
from config.archive import ArchiveSettings
from config.errors import SettingsError

logger = logging.getLogger("archiver")

BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 60.0


def backoff(failures: int) -> float:
    return float(min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** max(failures - 1, 0)))


async def serve(settings: ArchiveSettings, *, once: bool) -> None:
    metrics = ArchiveMetrics()
    server = _metrics_server(metrics, settings) if settings.metrics_port else None
    redis = redis_client(settings.redis)
    database = Database(
        settings.database,
        apply_migrations=settings.apply_migrations,
        hold_after_commit_lock=settings.hold_after_commit_lock,
    )
    archiver = Archiver(
        source=FinishedJobs(redis, settings.prefix),
        database=database,
        prefix=settings.prefix,
        queues=settings.queues,
        min_age_seconds=settings.min_age_seconds,
        batch=settings.batch,
        observer=metrics,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    logger.info(
        "archiving %s (prefix %s) to %s: jobs finished %.0f s ago, %d per batch, %s",
        ", ".join(settings.queues), settings.prefix, settings.database.url,
        settings.min_age_seconds, settings.batch,
        "one pass" if once else f"every {settings.interval_seconds:g} s",
    )
    try:
        await run_passes(archiver, metrics, stop, settings.interval_seconds, once=once)
    finally:
        await database.close()
        await redis.aclose()
        if server is not None:
            server.close()
    logger.info("stopped")


def _metrics_server(metrics: ArchiveMetrics, settings: ArchiveSettings) -> MetricsServer:
    """Raises `SettingsError` when the port cannot be had: that is the setting's fault."""
    try:
        return MetricsServer(metrics, settings.metrics_host, settings.metrics_port)
    except OSError as error:
        raise SettingsError(
            "ARCHIVE_METRICS_PORT",
            f"cannot listen on {settings.metrics_host}:{settings.metrics_port} ({error.strerror})",
        ) from None


async def run_passes(
    archiver: Archiver,
    metrics: ArchiveMetrics,
    stop: asyncio.Event,
    interval_seconds: float,
    *,
    once: bool,
) -> None:
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            result = await archiver.run_pass(stop)
        except DependencyUnavailable as error:
            failures += 1
            metrics.pass_finished(time.monotonic() - started, False, error.dependency)
            delay = backoff(failures)
            logger.warning(
                "pass failed: %s unavailable (%s); next try in %.1f s",
                error.dependency, error, delay,
            )
            await _sleep(stop, delay)
            continue
        except Exception:
            failures += 1
            metrics.pass_finished(time.monotonic() - started, False, None)
            delay = backoff(failures)
            logger.exception("pass failed; next try in %.1f s", delay)
            await _sleep(stop, delay)
            continue
        failures = 0
        seconds = time.monotonic() - started
        if result.complete:
            metrics.pass_finished(seconds, True, None)
        _log_pass(result, seconds)
        if once:
            return
        await _sleep(stop, interval_seconds)


def _log_pass(result: PassResult, seconds: float) -> None:
    left = ", ".join(f"{count} left ({reason})" for reason, count in result.left.items())
    logger.info(
        "pass %s: %d jobs archived in %.2f s%s",
        "done" if result.complete else "stopped", result.archived, seconds,
        f"; {left}" if left else "",
    )


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake at once on a stop request."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
