"""The archiver's Prometheus metrics, served on ARCHIVE_METRICS_PORT (its own registry,
so nothing of the process's default collectors leaks in twice)."""

import threading
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from archiver.keys import FinishedState


class ArchiveMetrics:
    """Implements `ArchiveObserver`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._archived = Counter(
            "archive_jobs_archived_total",
            "Finished jobs committed to PostgreSQL and removed from Redis",
            ["queue", "state"], registry=self.registry,
        )
        self._left = Counter(
            "archive_jobs_left_total",
            "Finished jobs left in Redis: unreadable times, or refused by PostgreSQL",
            ["queue", "reason"], registry=self.registry,
        )
        self._in_redis = Gauge(
            "archive_finished_jobs_in_redis",
            "Finished jobs a queue holds in Redis after the last pass",
            ["queue", "state"], registry=self.registry,
        )
        self._duration = Histogram(
            "archive_pass_duration_seconds", "Time one pass took (successful or not)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )
        self._failures = Counter(
            "archive_pass_failures_total", "Passes a dependency failed",
            ["dependency"], registry=self.registry,
        )
        self._last_success = Gauge(
            "archive_last_success_timestamp_seconds",
            "When the last pass that went through every queue ended (Unix time)",
            registry=self.registry,
        )

    def archived(self, queue: str, state: FinishedState, count: int) -> None:
        self._archived.labels(queue, state).inc(count)

    def left(self, queue: str, reason: str, count: int) -> None:
        self._left.labels(queue, reason).inc(count)

    def finished_in_redis(self, queue: str, state: FinishedState, count: int) -> None:
        self._in_redis.labels(queue, state).set(count)

    def pass_finished(self, seconds: float, succeeded: bool, dependency: str | None) -> None:
        self._duration.observe(seconds)
        if succeeded:
            self._last_success.set_to_current_time()
        else:
            self._failures.labels(dependency or "unknown").inc()


class MetricsServer:
    """prometheus_client's HTTP server (a daemon thread), stopped on `close`."""

    def __init__(self, metrics: ArchiveMetrics, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, host, metrics.registry)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
