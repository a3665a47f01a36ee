"""Build `Settings` from environment variables; the only reader of the environment.

Every parser raises `SettingsError` naming the variable, so `python -m gateway` can stop
with one line and exit status 2 (CONTRACT §1).
"""

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from config.errors import SettingsError
from config.secret import Secret
from config.settings import (
    DEFAULT_REDIS_URL,
    DEFAULT_THROTTLE_RULES,
    AdapterRouting,
    AuthSettings,
    ConsumerSettings,
    QueueSettings,
    RecoverySettings,
    RedisSettings,
    Role,
    ServerSettings,
    Settings,
    ThrottleRule,
)

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_NAMESPACE = re.compile(r"^/[A-Za-z0-9_\-]+$")
_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_\-.]+$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

T = TypeVar("T")
Choice = TypeVar("Choice", bound=StrEnum)


def load_settings(environ: Mapping[str, str]) -> Settings:
    env = _Env(environ)
    auth = _auth(env)
    redis = _redis(env)
    consumers = _consumers(env)
    if redis.routing is AdapterRouting.ROOM and redis.url.startswith(("unix://", "rediss://")):
        raise SettingsError(
            "GATEWAY_ADAPTER_ROUTING", "room needs Redis over plain TCP (not unix:// or rediss://)"
        )
    if redis.is_cluster and not _hash_tag(consumers.prefix):
        raise SettingsError(
            "QUEUE_PREFIX",
            "must contain a hash tag such as {app-main} with REDIS_CLUSTER_NODES "
            f"(every key of the queues, throttle and log in one slot), got {consumers.prefix!r}",
        )
    return Settings(
        auth=auth,
        redis=redis,
        server=_server(env),
        consumers=consumers,
        throttle_rules=_throttle_rules(env),
        recovery=_recovery(env, auth),
        log_level=env.get("LOG_LEVEL", "INFO", _log_level),
        role=env.get("GATEWAY_ROLE", Role.ALL, _one_of(Role)),
    )


class _Env:
    """Reads variables, treating an empty value as unset, and wraps parse errors."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def raw(self, name: str) -> str | None:
        value = self._environ.get(name, "").strip()
        return value or None

    def present(self, name: str) -> str | None:
        """The value even when empty: an empty THROTTLE_RULES means "no rules"."""
        return self._environ.get(name)

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except SettingsError:
            raise
        except ValueError as error:
            raise SettingsError(name, str(error)) from None


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"expected a positive integer, got {value!r}") from None
    if number <= 0:
        raise ValueError(f"expected a positive integer, got {value!r}")
    return number


def _non_negative_int(value: str) -> int:
    """0 or a positive integer (0 switches a limit off)."""
    return 0 if value.strip() == "0" else _positive_int(value)


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a positive number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise ValueError(f"expected a positive number of seconds, got {value!r}")
    return number


def _non_negative_float(value: str) -> float:
    if value.strip() in ("0", "0.0"):
        return 0.0
    return _positive_float(value)


def _share(value: str) -> float:
    """A fraction above 0 and at most 1."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number above 0 and at most 1, got {value!r}") from None
    if not 0 < number <= 1:
        raise ValueError(f"expected a number above 0 and at most 1, got {value!r}")
    return number


def _port(value: str) -> int:
    port = _positive_int(value)
    if port > 65535:
        raise ValueError(f"expected a port between 1 and 65535, got {value!r}")
    return port


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _log_level(value: str) -> str:
    if value.upper() not in _LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return value.upper()


def _one_of(kind: type[Choice]) -> Callable[[str], Choice]:
    """A parser for the values of a string enum, in any case."""

    def parse(value: str) -> Choice:
        try:
            return kind(value.lower())
        except ValueError:
            names = ", ".join(choice.value for choice in kind)
            raise ValueError(f"expected one of {names}, got {value!r}") from None

    return parse


def _redis_url(value: str) -> str:
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"expected a redis://, rediss:// or unix:// URL, got {value!r}")
    return value


def _host_port(item: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected host:port, got {item!r}")
    return host.strip("[]"), _port(port)


def _host_ports(value: str) -> tuple[tuple[str, int], ...]:
    return tuple(_host_port(item) for item in _split(value))


def _hash_tag(prefix: str) -> str:
    """The part of `prefix` Redis Cluster hashes (the text of its first non-empty `{...}`),
    or "" when it hashes the whole key."""
    start = prefix.find("{")
    end = prefix.find("}", start + 1)
    return prefix[start + 1 : end] if start >= 0 and end > start + 1 else ""


def _redis(env: _Env) -> RedisSettings:
    no_nodes: tuple[tuple[str, int], ...] = ()
    cluster_nodes = env.get("REDIS_CLUSTER_NODES", no_nodes, _host_ports)
    if cluster_nodes:
        for other in ("REDIS_SENTINELS", "REDIS_URL"):
            if env.raw(other) is not None:
                raise SettingsError(
                    other, "must not be set with REDIS_CLUSTER_NODES (one Redis mode at a time)"
                )
    password = env.raw("REDIS_PASSWORD")
    # Set but empty means "the Sentinels have no password" while the master has one.
    sentinel_password = env.present("REDIS_SENTINEL_PASSWORD")
    if sentinel_password is None:
        sentinel_password = password
    return RedisSettings(
        url=env.get("REDIS_URL", DEFAULT_REDIS_URL, _redis_url),
        sentinels=env.get("REDIS_SENTINELS", (), _host_ports),
        sentinel_master=env.get("REDIS_SENTINEL_MASTER", "mymaster", str),
        password=Secret(password) if password else None,
        password_for_sentinels=Secret(sentinel_password) if sentinel_password else None,
        require_noeviction=env.get("REDIS_REQUIRE_NOEVICTION", False, _boolean),
        command_timeout_seconds=env.get(
            "REDIS_COMMAND_TIMEOUT_SECONDS",
            RedisSettings().command_timeout_seconds,
            _positive_float,
        ),
        cluster_nodes=cluster_nodes,
        adapter_routing=env.get("GATEWAY_ADAPTER_ROUTING", None, _one_of(AdapterRouting)),
    )


def _namespaces(value: str) -> tuple[str, ...]:
    names = _split(value)
    if not names:
        raise ValueError("expected at least one namespace")
    for name in names:
        if not _NAMESPACE.match(name):
            raise ValueError(f"namespace {name!r} must look like /service_name")
    if len(set(names)) != len(names):
        raise ValueError("a namespace is listed twice")
    return tuple(names)


def _origins(value: str) -> tuple[str, ...]:
    origins = _split(value)
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(f"origin {origin!r} must be * or start with http:// or https://")
    return tuple(origins)


def _server(env: _Env) -> ServerSettings:
    defaults = ServerSettings()
    return ServerSettings(
        host=env.get("GATEWAY_HOST", defaults.host, str),
        port=env.get("GATEWAY_PORT", defaults.port, _port),
        namespaces=env.get("GATEWAY_NAMESPACES", defaults.namespaces, _namespaces),
        cors_allowed_origins=env.get("CORS_ALLOWED_ORIGINS", (), _origins),
        websocket_compression=env.get("GATEWAY_WEBSOCKET_COMPRESSION", False, _boolean),
        broadcast_fast_path=env.get(
            "GATEWAY_BROADCAST_FASTPATH", defaults.broadcast_fast_path, _boolean
        ),
        drain_seconds=env.get("GATEWAY_DRAIN_SECONDS", defaults.drain_seconds, _positive_float),
        shutdown_delay_seconds=env.get(
            "GATEWAY_SHUTDOWN_DELAY", defaults.shutdown_delay_seconds, _non_negative_float
        ),
        disconnect_spread_seconds=env.get(
            "GATEWAY_DISCONNECT_SPREAD_SECONDS",
            defaults.disconnect_spread_seconds,
            _non_negative_float,
        ),
        ping_interval_seconds=env.get(
            "GATEWAY_PING_INTERVAL", defaults.ping_interval_seconds, _positive_float
        ),
        ping_timeout_seconds=env.get(
            "GATEWAY_PING_TIMEOUT", defaults.ping_timeout_seconds, _positive_float
        ),
        max_connections=env.get(
            "GATEWAY_MAX_CONNECTIONS", defaults.max_connections, _non_negative_int
        ),
        client_message_rate=env.get(
            "GATEWAY_CLIENT_MESSAGE_RATE", defaults.client_message_rate, _positive_float
        ),
        client_message_burst=env.get(
            "GATEWAY_CLIENT_MESSAGE_BURST", defaults.client_message_burst, _positive_int
        ),
        handshake_timeout_seconds=env.get(
            "GATEWAY_HANDSHAKE_TIMEOUT", defaults.handshake_timeout_seconds, _positive_float
        ),
        max_pending_bytes=env.get(
            "GATEWAY_MAX_PENDING_BYTES", defaults.max_pending_bytes, _positive_int
        ),
        send_timeout_seconds=env.get(
            "GATEWAY_SEND_TIMEOUT_SECONDS", defaults.send_timeout_seconds, _positive_float
        ),
        local_mode=env.get("GATEWAY_LOCAL_MODE", defaults.local_mode, _boolean),
    )


def _queue(item: str) -> QueueSettings:
    name, sep, concurrency = item.partition("=")
    name = name.strip()
    if not sep or not _QUEUE_NAME.match(name):
        raise ValueError(f"expected queue=concurrency, got {item!r}")
    count = _positive_int(concurrency.strip())
    if count > 1000:
        raise ValueError(f"concurrency of {name!r} must be at most 1000")
    return QueueSettings(name, count)


def _queues(value: str) -> tuple[QueueSettings, ...]:
    queues = tuple(_queue(item) for item in _split(value))
    if not queues:
        raise ValueError("expected at least one queue=concurrency")
    if len({queue.name for queue in queues}) != len(queues):
        raise ValueError("a queue is listed twice")
    return queues


def _consumers(env: _Env) -> ConsumerSettings:
    defaults = ConsumerSettings()
    prefix = env.get("QUEUE_PREFIX", defaults.prefix, str)
    if ":" in prefix:
        raise SettingsError("QUEUE_PREFIX", f"must not contain ':', got {prefix!r}")
    return ConsumerSettings(
        queues=env.get("GATEWAY_QUEUES", defaults.queues, _queues),
        prefix=prefix,
        max_payload_bytes=env.get("MAX_PAYLOAD_BYTES", defaults.max_payload_bytes, _positive_int),
        lock_duration_ms=env.get(
            "QUEUE_LOCK_DURATION_MS", defaults.lock_duration_ms, _positive_int
        ),
        stalled_interval_ms=env.get(
            "QUEUE_STALLED_INTERVAL_MS", defaults.stalled_interval_ms, _positive_int
        ),
        min_share=env.get("GATEWAY_QUEUE_MIN_SHARE", defaults.min_share, _share),
        precedence_linger_ms=env.get(
            "GATEWAY_QUEUE_PRECEDENCE_LINGER_MS", defaults.precedence_linger_ms, _non_negative_int
        ),
    )


def _throttle_rule(item: str) -> ThrottleRule:
    event, sep, seconds = item.rpartition("=")
    if not sep or not event.strip():
        raise ValueError(f"expected event=seconds, got {item!r}")
    return ThrottleRule(event.strip(), _positive_float(seconds.strip()))


def _throttle_rules(env: _Env) -> tuple[ThrottleRule, ...]:
    value = env.present("THROTTLE_RULES")
    if value is None:
        return DEFAULT_THROTTLE_RULES
    try:
        rules = tuple(_throttle_rule(item) for item in _split(value))
    except ValueError as error:
        raise SettingsError("THROTTLE_RULES", str(error)) from None
    if len({rule.event for rule in rules}) != len(rules):
        raise SettingsError("THROTTLE_RULES", "an event is listed twice")
    return rules


def _algorithms(value: str) -> tuple[str, ...]:
    names = _split(value)
    if not names:
        raise ValueError("expected at least one algorithm")
    for name in names:
        if name.lower() == "none":
            raise ValueError("'none' is never accepted")
        if name not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS:
            raise ValueError(f"unknown algorithm {name!r}")
    return tuple(names)


def _public_key(value: str) -> str:
    if "-----BEGIN" in value:
        return value.replace("\\n", "\n")
    path = Path(value)
    try:
        text = path.read_text()
    except OSError as error:
        raise ValueError(f"not a PEM key and not a readable file: {error.strerror}") from None
    if "-----BEGIN" not in text:
        raise ValueError(f"{value} does not hold a PEM public key")
    return text


def _auth(env: _Env) -> AuthSettings:
    default_algorithms: tuple[str, ...] = ("HS256",)
    algorithms = env.get("JWT_ALGORITHMS", default_algorithms, _algorithms)
    secret = env.raw("JWT_SECRET")
    public_key = env.get("JWT_PUBLIC_KEY", None, _public_key)
    if secret is None and public_key is None:
        raise SettingsError("JWT_SECRET", "required (or set JWT_PUBLIC_KEY)")
    if secret is None and HMAC_ALGORITHMS.intersection(algorithms):
        raise SettingsError("JWT_SECRET", "required by the HS* algorithms in JWT_ALGORITHMS")
    if public_key is None and PUBLIC_KEY_ALGORITHMS.intersection(algorithms):
        raise SettingsError("JWT_PUBLIC_KEY", "required by the algorithms in JWT_ALGORITHMS")
    return AuthSettings(
        secret=Secret(secret) if secret else None,
        public_key=Secret(public_key) if public_key else None,
        algorithms=algorithms,
        audience=env.raw("JWT_AUDIENCE"),
        issuer=env.raw("JWT_ISSUER"),
        user_claim=env.get("JWT_USER_CLAIM", "sub", str),
        department_claim=env.get("JWT_DEPARTMENT_CLAIM", "department", str),
    )


# The pid signing key derived from JWT_SECRET when GATEWAY_RECOVERY_SECRET is unset: a
# key of its own (HMAC of a fixed label), so a pid's signature says nothing of the JWT key.
_PID_KEY_LABEL = b"notification-gateway recovery pid v1"


def _recovery(env: _Env, auth: AuthSettings) -> RecoverySettings:
    defaults = RecoverySettings()
    retention = env.get("GATEWAY_RECOVERY_SECONDS", defaults.retention_seconds, _non_negative_float)
    max_entries = env.get("GATEWAY_RECOVERY_MAX_ENTRIES", defaults.max_entries, _positive_int)
    secret = env.raw("GATEWAY_RECOVERY_SECRET")
    if retention == 0:
        return RecoverySettings(0.0, max_entries, None)
    if secret is not None and len(secret) < 16:
        raise SettingsError("GATEWAY_RECOVERY_SECRET", "must be at least 16 characters")
    derived_from_public_key = False
    if secret is None:
        # Derived: from JWT_SECRET, or (weaker, said at start-up) from JWT_PUBLIC_KEY,
        # which is public; a forged pid can only move a client's own replay.
        source = auth.secret or auth.public_key
        assert source is not None  # _auth requires one of them
        derived_from_public_key = auth.secret is None
        secret = hmac.new(source.reveal().encode(), _PID_KEY_LABEL, hashlib.sha256).hexdigest()
    return RecoverySettings(retention, max_entries, Secret(secret), derived_from_public_key)
