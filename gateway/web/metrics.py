"""The Prometheus metrics of the contract's section 5, in a registry of the app's own (one
per app, so several apps in one test process don't collide).

The one module of the gateway that knows Prometheus: the other packages report through
observer protocols they own (`consumers.ConsumerObserver`,
`gateway.realtime.observer.RealtimeObserver`, which includes the transport's
`TransportObserver`, and `gateway.redis_clients.eviction.PolicyObserver`), and
`GatewayMetrics` implements them all."""

from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from consumers import Outcome
from gateway.transport.observer import Delivery, DropReason

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connected_clients = Gauge(
            "gateway_connected_clients",
            "Socket.IO clients connected to this pod",
            ["namespace"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "gateway_notifications",
            "Notification jobs handled, by what happened to them",
            ["queue", "event", "outcome"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "gateway_notification_lag_seconds",
            "Time from job creation to emit",
            ["queue"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.coalesced = Counter(
            "gateway_throttle_coalesced",
            "Held notifications replaced by a newer one before their trailing emit",
            ["queue", "event"],
            registry=self.registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures",
            "Refused Socket.IO connections, by reason",
            ["reason"],
            registry=self.registry,
        )

        self.client_messages = Counter(
            "gateway_client_messages",
            "Socket.IO packets from clients that were not acted on, by why",
            ["outcome"],
            registry=self.registry,
        )
        self.clients_dropped = Counter(
            "gateway_clients_dropped",
            "Client connections the pod closed for misbehaving, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            "gateway_connections_refused",
            "Engine.IO handshakes refused, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.recoveries = Counter(
            "gateway_recoveries",
            "Socket.IO connects by what connection state recovery did: recovered (replayed"
            " from the log), new (a first connect), or why it could not (the client was"
            " told recovered=false and reloads)",
            ["outcome"],
            registry=self.registry,
        )
        self.queue_jobs = Gauge(
            "gateway_queue_jobs",
            "Jobs in each queue this pod consumes, by BullMQ state (wait, prioritized, active,"
            " delayed), read from Redis at scrape time: the queue's own numbers, the same on"
            " every pod consuming it (aggregate with max, not sum)",
            ["queue", "state"],
            registry=self.registry,
        )
        self.redis_policy = Gauge(
            "gateway_redis_maxmemory_policy",
            "1 for Redis' current maxmemory-policy; anything but noeviction can lose jobs",
            ["policy"],
            registry=self.registry,
        )

        self.slow_clients_dropped = Counter(
            "gateway_slow_clients_dropped",
            "Clients dropped because they stopped reading: too much output pending for them"
            " (buffer_full) or a write to them blocked too long (send_timeout)",
            ["reason"],
            registry=self.registry,
        )
        for reason in DropReason:  # exported at 0 from the start, for rate() and alerts
            self.slow_clients_dropped.labels(reason.value)
        self.fastpath_frames = Counter(
            "gateway_fastpath_frames",
            "Broadcast deliveries to local sockets by the fast path"
            " (gateway/transport/fastpath.py): prebuilt frame written to the transport"
            " (written), queued behind the socket's pending packets (queued), queued for the"
            " normal path of a long-polling, upgrading or deflate socket (normal), client"
            " dropped over the bound (dropped)",
            ["outcome"],
            registry=self.registry,
        )
        self._fastpath_outcomes = {
            outcome: self.fastpath_frames.labels(outcome)
            for outcome in ("written", "queued", "normal", "dropped")
        }
        # The children of the per-job metrics, looked up once per label set rather than
        # per job (`labels()` validates and locks each time). As many entries as series.
        self._finished: dict[tuple[str, str, Outcome], Any] = {}
        self._lag_by_queue: dict[str, Any] = {}

    def set_queue_jobs(self, counts: Mapping[str, Mapping[str, int]] | None) -> None:
        """The counts just read, or None when they could not be: then no series at all,
        rather than stale numbers an autoscaler would act on."""
        self.queue_jobs.clear()
        for queue, states in (counts or {}).items():
            for state, jobs in states.items():
                self.queue_jobs.labels(queue, state).set(jobs)

    def exposition(self) -> tuple[bytes, str]:
        """The /metrics page (gateway/web/endpoints.py): body and content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # RealtimeObserver (gateway/realtime/observer.py)
    def client_connected(self, namespace: str) -> None:
        self.connected_clients.labels(namespace).inc()

    def client_disconnected(self, namespace: str) -> None:
        self.connected_clients.labels(namespace).dec()

    def auth_failed(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    def connection_refused(self, reason: str) -> None:
        self.connections_refused.labels(reason).inc()

    def client_message_ignored(self, outcome: str) -> None:
        self.client_messages.labels(outcome).inc()

    def client_dropped(self, reason: str) -> None:
        self.clients_dropped.labels(reason).inc()

    # eviction.PolicyObserver
    def set_redis_policy(self, policy: str) -> None:
        self.redis_policy.clear()
        self.redis_policy.labels(policy).set(1)

    # recovery.RecoveryObserver
    def recovery_finished(self, outcome: str) -> None:
        self.recoveries.labels(outcome).inc()

    # TransportObserver (gateway/transport/observer.py)
    def slow_client_dropped(self, reason: str) -> None:
        self.slow_clients_dropped.labels(reason).inc()

    # ... once per broadcast, not per recipient
    def broadcast_delivered(self, delivery: Delivery) -> None:
        outcomes = self._fastpath_outcomes
        if delivery.written:
            outcomes["written"].inc(delivery.written)
        if delivery.queued:
            outcomes["queued"].inc(delivery.queued)
        if delivery.normal:
            outcomes["normal"].inc(delivery.normal)
        if delivery.dropped:
            outcomes["dropped"].inc(delivery.dropped)

    # ConsumerObserver
    def job_finished(self, queue: str, event: str, outcome: Outcome) -> None:
        key = (queue, event, outcome)
        counter = self._finished.get(key)
        if counter is None:
            counter = self._finished[key] = self.notifications.labels(queue, event, outcome.value)
        counter.inc()

    def notification_emitted(self, queue: str, lag_seconds: float) -> None:
        histogram = self._lag_by_queue.get(queue)
        if histogram is None:
            histogram = self._lag_by_queue[queue] = self.lag.labels(queue)
        histogram.observe(lag_seconds)

    def notification_coalesced(self, queue: str, event: str) -> None:
        self.coalesced.labels(queue, event).inc()
