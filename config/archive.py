"""Settings of the audit archiver (`python -m archiver`), read once from the environment.

The archiver shares the gateway's Redis and queue settings (`REDIS_*`, `GATEWAY_QUEUES`,
`QUEUE_PREFIX`, `LOG_LEVEL`, parsed by the same functions, so the two can never read one
value two ways) and adds its own `ARCHIVE_*` ones. The gateway's JWT settings are not
needed, so they are not required here. Every problem raises `SettingsError` naming the
variable, for the one-line exit 2 of CONTRACT §1.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from config.errors import SettingsError
from config.load import (
    _boolean,
    _consumers,
    _Env,
    _log_level,
    _non_negative_float,
    _positive_float,
    _positive_int,
    _redis,
)
from config.secret import Secret
from config.settings import ConsumerSettings, RedisSettings

_SCHEMES = ("postgresql", "postgres")
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the archive lives. `url` never holds the password: it is in `password`,
    whose repr is hidden, so these settings can be logged."""

    url: str
    password: Secret | None = None


@dataclass(frozen=True, slots=True)
class ArchiveSettings:
    database: DatabaseSettings
    redis: RedisSettings = field(default_factory=RedisSettings)
    prefix: str = ConsumerSettings().prefix
    queues: tuple[str, ...] = tuple(queue.name for queue in ConsumerSettings().queues)
    # A pass runs this often; jobs are archived once they finished this long ago.
    interval_seconds: float = 60.0
    min_age_seconds: float = 300.0
    # Jobs per PostgreSQL transaction (and per Redis removal).
    batch: int = 1000
    metrics_host: str = "0.0.0.0"
    # 0: no metrics server.
    metrics_port: int = 9464
    # False: the schema is applied by hand (archiver/migrations/*.sql); the archiver then
    # only checks that it is there.
    apply_migrations: bool = True
    # A PostgreSQL advisory lock key: after each batch commits, the archiver waits while
    # someone else holds this lock, before it removes the batch from Redis. Tests hold it
    # to stop an archiver at exactly that point; unset (None) in production.
    hold_after_commit_lock: int | None = None
    log_level: str = "INFO"


def load_archive_settings(environ: Mapping[str, str]) -> ArchiveSettings:
    env = _Env(environ)
    defaults = ArchiveSettings(database=DatabaseSettings(url=""))
    consumers = _consumers(env)
    redis = _redis(env)
    if redis.is_cluster:
        # Its scan and removal script expect one Redis; on a cluster it would read the
        # default REDIS_URL instead of the prefix's master, so it refuses.
        raise SettingsError(
            "REDIS_CLUSTER_NODES", "the archiver does not run on a Redis Cluster yet (unset it)"
        )
    return ArchiveSettings(
        database=_database(env),
        redis=redis,
        prefix=consumers.prefix,
        queues=tuple(queue.name for queue in consumers.queues),
        interval_seconds=env.get(
            "ARCHIVE_INTERVAL_SECONDS", defaults.interval_seconds, _positive_float
        ),
        min_age_seconds=env.get(
            "ARCHIVE_MIN_AGE_SECONDS", defaults.min_age_seconds, _non_negative_float
        ),
        batch=env.get("ARCHIVE_BATCH", defaults.batch, _batch),
        metrics_host=env.get("ARCHIVE_METRICS_HOST", defaults.metrics_host, str),
        metrics_port=env.get("ARCHIVE_METRICS_PORT", defaults.metrics_port, _port_or_off),
        apply_migrations=env.get(
            "ARCHIVE_APPLY_MIGRATIONS", defaults.apply_migrations, _boolean
        ),
        hold_after_commit_lock=env.get("ARCHIVE_HOLD_AFTER_COMMIT_LOCK", None, _lock_key),
        log_level=env.get("LOG_LEVEL", defaults.log_level, _log_level),
    )


def _batch(value: str) -> int:
    size = _positive_int(value)
    if size > MAX_BATCH:
        raise ValueError(f"expected at most {MAX_BATCH}, got {value!r}")
    return size


def _port_or_off(value: str) -> int:
    if value.strip() == "0":
        return 0
    port = _positive_int(value)
    if port > 65535:
        raise ValueError(f"expected a port between 1 and 65535 (or 0 for none), got {value!r}")
    return port


def _lock_key(value: str) -> int:
    try:
        key = int(value)
    except ValueError:
        raise ValueError(f"expected an integer advisory lock key, got {value!r}") from None
    if not -(2**63) <= key < 2**63:
        raise ValueError("expected a 64-bit advisory lock key")
    return key


def _database(env: _Env) -> DatabaseSettings:
    name = "ARCHIVE_DATABASE_URL"
    raw = env.raw(name)
    if raw is None:
        raise SettingsError(name, "required (a postgresql:// URL)")
    try:
        url, url_password = _split_password(raw)
    except ValueError as error:
        raise SettingsError(name, str(error)) from None
    password = env.raw("ARCHIVE_DATABASE_PASSWORD")
    if password is not None and url_password is not None:
        raise SettingsError(
            "ARCHIVE_DATABASE_PASSWORD", f"the password is also in {name}: give it once"
        )
    secret = password if password is not None else url_password
    return DatabaseSettings(url=url, password=Secret(secret) if secret else None)


def _split_password(raw: str) -> tuple[str, str | None]:
    """The URL without its password, and the password. Checked here, not at the first
    connection, so a typo stops start-up (exit 2) instead of looping on retries."""
    parts = urlsplit(raw)
    if parts.scheme not in _SCHEMES:
        raise ValueError("expected a postgresql:// URL")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port is not a number between 0 and 65535") from None
    if not parts.hostname and "host" not in query:
        raise ValueError("expected a host, as in postgresql://user@host:5432/database")
    if not parts.path.strip("/") and "dbname" not in query:
        raise ValueError("expected a database name, as in postgresql://user@host/database")
    if query.get("sslmode", "prefer") not in _SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(_SSL_MODES)}")
    if "password" in query:
        raise ValueError("put the password in ARCHIVE_DATABASE_PASSWORD, not in the query")
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if port is not None:
        netloc = f"{netloc}:{port}"
    if parts.username:
        netloc = f"{quote(unquote(parts.username), safe='')}@{netloc}"
    password = unquote(parts.password) if parts.password else None
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), password
