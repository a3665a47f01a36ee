"""The chart sets exactly the environment variables that config/ reads, no more, no less,
so a setting added to config/ (or renamed) cannot be forgotten in the chart."""

import ast
import re
from collections.abc import Iterator, Mapping
from typing import Any

from config import Settings, load_settings
from config.settings import ConsumerSettings, RedisSettings, ServerSettings
from tests.deploy.paths import ROOT, TEMPLATES, default_values

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
SECRET_SETTINGS = {"JWT_SECRET", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"}


def names_in_config_source() -> set[str]:
    """Upper-case string literals passed first to a `get`, `raw` or `present` call
    (config.load's `_Env` readers, or a Mapping's `.get`) anywhere in config/."""
    names = set()
    for path in (ROOT / "config").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"get", "raw", "present", "getenv"}
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and ENV_NAME.match(node.args[0].value)
            ):
                names.add(node.args[0].value)
    return names


class RecordingEnviron(Mapping[str, str]):
    """An environment that records every name `load_settings` looks up."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return self._values.get(name, default)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("config must look settings up by name, not iterate the environment")

    def __len__(self) -> int:
        return len(self._values)


def names_read_by_config() -> set[str]:
    environ = RecordingEnviron({"JWT_SECRET": "s" * 40})
    load_settings(environ)
    return environ.read


def names_set_by_chart() -> tuple[set[str], set[str]]:
    """(ConfigMap data keys, Deployment env names)."""
    configmap = (TEMPLATES / "configmap.yaml").read_text(encoding="utf-8")
    data = configmap.split("\ndata:\n", 1)[1]
    configmap_names = set(re.findall(r"^  ([A-Z][A-Z0-9_]*):", data, re.MULTILINE))
    deployment = (TEMPLATES / "deployment.yaml").read_text(encoding="utf-8")
    env_names = set(re.findall(r"^\s*- name: ([A-Z][A-Z0-9_]*)\s*$", deployment, re.MULTILINE))
    return configmap_names, env_names


def test_the_source_scan_finds_every_name_config_reads() -> None:
    read = names_read_by_config()
    assert len(read) > 20
    assert read <= names_in_config_source(), read - names_in_config_source()


def test_chart_sets_exactly_the_settings_config_reads() -> None:
    wanted = names_in_config_source() | names_read_by_config()
    configmap_names, env_names = names_set_by_chart()
    chart = configmap_names | env_names
    assert not wanted - chart, f"read by config/ but not set by the chart: {wanted - chart}"
    assert not chart - wanted, f"set by the chart but not read by config/: {chart - wanted}"
    assert not configmap_names & env_names


def test_secrets_are_set_from_a_secret_and_nothing_else_is() -> None:
    configmap_names, env_names = names_set_by_chart()
    assert env_names == SECRET_SETTINGS
    assert not configmap_names & SECRET_SETTINGS
    deployment = (TEMPLATES / "deployment.yaml").read_text(encoding="utf-8")
    for name in SECRET_SETTINGS:
        assert re.search(rf"- name: {name}\s+valueFrom:\s+secretKeyRef:", deployment), name


def chart_default_environment(values: dict[str, Any]) -> dict[str, str]:
    """What templates/configmap.yaml makes of `values`, written again in Python.

    Not a template renderer (none exists here): a mirror of the ConfigMap's few joins, so
    the chart's default values can be fed to the real `load_settings`. Its keys are
    checked against the template's, so it cannot silently miss a setting.
    """
    g, redis, jwt = values["gateway"], values["redis"], values["jwt"]

    def number(value: float) -> str:  # Helm's toString of a YAML number
        return str(int(value)) if float(value).is_integer() else str(value)

    sentinel = redis["sentinel"]
    return {
        "GATEWAY_HOST": g["host"],
        "GATEWAY_PORT": str(g["port"]),
        "GATEWAY_NAMESPACES": ",".join(g["namespaces"]),
        "GATEWAY_QUEUES": ",".join(f"{q['name']}={q['concurrency']}" for q in g["queues"]),
        "QUEUE_PREFIX": g["queuePrefix"],
        "QUEUE_LOCK_DURATION_MS": str(g["queueLockDurationMs"]),
        "QUEUE_STALLED_INTERVAL_MS": str(g["queueStalledIntervalMs"]),
        "THROTTLE_RULES": ",".join(
            f"{r['event']}={number(r['seconds'])}" for r in g["throttleRules"]
        ),
        "MAX_PAYLOAD_BYTES": str(g["maxPayloadBytes"]),
        "CORS_ALLOWED_ORIGINS": ",".join(g["corsAllowedOrigins"]),
        "GATEWAY_DRAIN_SECONDS": number(g["drainSeconds"]),
        "GATEWAY_SHUTDOWN_DELAY": number(g["shutdownDelaySeconds"]),
        "GATEWAY_DISCONNECT_SPREAD_SECONDS": number(g["disconnectSpreadSeconds"]),
        "GATEWAY_MAX_CONNECTIONS": str(g["maxConnections"]),
        "GATEWAY_CLIENT_MESSAGE_RATE": number(g["clientMessageRate"]),
        "GATEWAY_CLIENT_MESSAGE_BURST": str(g["clientMessageBurst"]),
        "GATEWAY_HANDSHAKE_TIMEOUT": number(g["handshakeTimeoutSeconds"]),
        "GATEWAY_MAX_PENDING_BYTES": str(g["maxPendingBytes"]),
        "GATEWAY_SEND_TIMEOUT_SECONDS": number(g["sendTimeoutSeconds"]),
        "GATEWAY_WEBSOCKET_COMPRESSION": str(g["websocketCompression"]).lower(),
        "GATEWAY_BROADCAST_FASTPATH": str(g["broadcastFastPath"]).lower(),
        "GATEWAY_PING_INTERVAL": number(g["pingIntervalSeconds"]),
        "GATEWAY_PING_TIMEOUT": number(g["pingTimeoutSeconds"]),
        "LOG_LEVEL": g["logLevel"],
        "GATEWAY_LOCAL_MODE": str(g["localMode"]).lower(),
        "REDIS_URL": redis["url"],
        "REDIS_SENTINELS": ",".join(sentinel["sentinels"]) if sentinel["enabled"] else "",
        "REDIS_SENTINEL_MASTER": sentinel["masterName"],
        "REDIS_REQUIRE_NOEVICTION": str(redis["requireNoeviction"]).lower(),
        "JWT_ALGORITHMS": ",".join(jwt["algorithms"]),
        "JWT_PUBLIC_KEY": jwt["publicKey"],
        "JWT_AUDIENCE": jwt["audience"],
        "JWT_ISSUER": jwt["issuer"],
        "JWT_USER_CLAIM": jwt["userClaim"],
        "JWT_DEPARTMENT_CLAIM": jwt["departmentClaim"],
    }


def test_chart_defaults_are_the_gateway_defaults() -> None:
    environment = chart_default_environment(default_values())
    configmap_names, _ = names_set_by_chart()
    assert environment.keys() == configmap_names, "the mirror is out of date with configmap.yaml"
    settings = load_settings({**environment, "JWT_SECRET": "s" * 40})
    defaults = Settings(auth=settings.auth)
    assert settings.server == ServerSettings()
    assert settings.consumers == ConsumerSettings()
    assert settings.throttle_rules == defaults.throttle_rules
    assert settings.log_level == defaults.log_level
    assert settings.auth == load_settings({"JWT_SECRET": "s" * 40}).auth
    # Only the Redis address differs: 127.0.0.1 means nothing in a pod.
    assert settings.redis == RedisSettings(url=default_values()["redis"]["url"])


def test_chart_sentinel_values_reach_the_settings() -> None:
    values = default_values()
    values["redis"]["sentinel"] = {
        "enabled": True, "sentinels": ["s-0:26379", "s-1:26379"], "masterName": "gw",
    }
    settings = load_settings({**chart_default_environment(values), "JWT_SECRET": "s" * 40})
    assert settings.redis.sentinels == (("s-0", 26379), ("s-1", 26379))
    assert settings.redis.sentinel_master == "gw"
