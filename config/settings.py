"""The typed, frozen settings of a pod. `config.load` builds them from the environment."""

from dataclasses import dataclass, field
from enum import StrEnum

from config.secret import Secret

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class AdapterRouting(StrEnum):
    """How notifications travel between pods (GATEWAY_ADAPTER_ROUTING)."""

    # One pub/sub channel: every pod receives every notification and picks its sockets.
    CHANNEL = "channel"
    # A sharded channel per (namespace, room) (`SPUBLISH`/`SSUBSCRIBE`): a pod subscribes
    # to a room's channel while it holds a socket in it, and receives nothing else.
    ROOM = "room"


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = DEFAULT_REDIS_URL
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = "mymaster"
    password: Secret | None = None
    # What the Sentinels are asked with: `password` unless REDIS_SENTINEL_PASSWORD says
    # otherwise (resolved by config.load; None: the Sentinels have no password).
    password_for_sentinels: Secret | None = None
    # Refuse to start unless Redis' maxmemory-policy is noeviction (else only warn).
    require_noeviction: bool = False
    # A reply that takes longer fails its command and the connection, which is opened
    # again: a frozen Redis or a silently dropped connection would otherwise hold jobs
    # until TCP gives up, minutes later. Below the job lock's renewal period (half of
    # QUEUE_LOCK_DURATION_MS), so a renewal can be retried before the lock lapses.
    command_timeout_seconds: float = 3.0
    # REDIS_CLUSTER_NODES: a Redis Cluster's start-up nodes (empty: no cluster).
    cluster_nodes: tuple[tuple[str, int], ...] = ()
    # None: ROOM on a cluster, CHANNEL otherwise (see `routing`).
    adapter_routing: AdapterRouting | None = None

    @property
    def is_cluster(self) -> bool:
        return bool(self.cluster_nodes)

    @property
    def routing(self) -> AdapterRouting:
        """The adapter's routing: as set, else by room on a cluster and by one channel on
        one Redis (standalone or Sentinel)."""
        if self.adapter_routing is not None:
            return self.adapter_routing
        return AdapterRouting.ROOM if self.is_cluster else AdapterRouting.CHANNEL


@dataclass(frozen=True, slots=True)
class QueueSettings:
    name: str
    concurrency: int


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    event: str
    window_seconds: float


DEFAULT_THROTTLE_RULES = (ThrottleRule("records:updated", 5.0),)


@dataclass(frozen=True, slots=True)
class AuthSettings:
    secret: Secret | None
    public_key: Secret | None
    algorithms: tuple[str, ...] = ("HS256",)
    audience: str | None = None
    issuer: str | None = None
    user_claim: str = "sub"
    department_claim: str = "department"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    namespaces: tuple[str, ...] = ("/data_owner",)
    cors_allowed_origins: tuple[str, ...] = ()
    websocket_compression: bool = False
    # A broadcast's websocket frame is built once and written to every idle websocket
    # client directly (gateway/transport/fastpath.py); off: python-socketio's own emit path.
    broadcast_fast_path: bool = True
    drain_seconds: float = 25.0
    shutdown_delay_seconds: float = 0.0
    # Client connections are closed over this long when draining (random order).
    disconnect_spread_seconds: float = 2.0
    ping_interval_seconds: float = 25.0
    ping_timeout_seconds: float = 20.0
    # Connections per pod; more are refused at the Engine.IO handshake (0: no cap).
    max_connections: int = 20000
    # Socket.IO packets a client may send: a rate per second and a burst.
    client_message_rate: float = 5.0
    client_message_burst: int = 20
    # An Engine.IO connection that joins no namespace within this long is closed.
    handshake_timeout_seconds: float = 10.0
    # A client with more than this queued for it, or whose socket write has been blocked
    # this long, stopped reading: it is dropped (gateway/transport/backpressure.py).
    max_pending_bytes: int = 1024 * 1024
    send_timeout_seconds: float = 10.0
    # Local development only (scripts/run): serves the demo page at /demo and its
    # dev-token and test-job endpoints (gateway/web/demo.py). Never on in a deployment.
    local_mode: bool = False


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    queues: tuple[QueueSettings, ...] = (
        QueueSettings("critical-events", 32),
        QueueSettings("general-events", 8),
    )
    prefix: str = "bull"
    max_payload_bytes: int = 16384
    # A dead pod's jobs are taken over after the lock lapses and the next stalled check
    # runs: at most lock + interval = 15 s, inside CONTRACT §2's 30 s.
    lock_duration_ms: int = 10000
    stalled_interval_ms: int = 5000
    # The order of `queues` is precedence (consumers/precedence.py): while a queue is
    # busy in the pod (jobs waiting or running, or its last one finished less than
    # `precedence_linger_ms` ago), each later queue works on at most this share of its
    # concurrency (rounded down, at least one job), so it never starves. 1: no precedence.
    min_share: float = 0.125
    # Bridges the gaps of a steady stream: at 50 critical jobs/s the queue is idle 20 ms
    # between jobs, long enough for a batch queue to fill the event loop again.
    precedence_linger_ms: int = 100


@dataclass(frozen=True, slots=True)
class RecoverySettings:
    """The notification log and Socket.IO connection state recovery (docs/recovery.md)."""

    # How long emitted notifications are kept for reconnecting clients; 0: no log, no
    # recovery, no offsets on events.
    retention_seconds: float = 120.0
    # At most this many notifications are kept per namespace, whatever their age: the
    # memory bound (a burst beyond it makes older positions unrecoverable, never wrong).
    max_entries: int = 100_000
    # Signs the `pid` handed to clients (GATEWAY_RECOVERY_SECRET, else derived from
    # JWT_SECRET by config.load). None only when recovery is off.
    secret: Secret | None = None
    # True when `secret` was derived from JWT_PUBLIC_KEY (no GATEWAY_RECOVERY_SECRET):
    # anyone with the public key could sign pids; the pod warns at start.
    secret_is_public: bool = False

    @property
    def enabled(self) -> bool:
        return self.retention_seconds > 0


class Role(StrEnum):
    """What a pod does (GATEWAY_ROLE)."""

    # Holds client connections and consumes the queues: one kind of pod for everything.
    ALL = "all"
    # Consumes the queues and publishes to the adapter channel; serves no clients.
    CONSUMER = "consumer"
    # Holds client connections and delivers from the adapter channel; consumes nothing.
    EDGE = "edge"

    @property
    def consumes(self) -> bool:
        return self is not Role.EDGE

    @property
    def holds_clients(self) -> bool:
        return self is not Role.CONSUMER


@dataclass(frozen=True, slots=True)
class Settings:
    auth: AuthSettings
    redis: RedisSettings = field(default_factory=RedisSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    consumers: ConsumerSettings = field(default_factory=ConsumerSettings)
    throttle_rules: tuple[ThrottleRule, ...] = DEFAULT_THROTTLE_RULES
    recovery: RecoverySettings = field(default_factory=RecoverySettings)
    log_level: str = "INFO"
    role: Role = Role.ALL
