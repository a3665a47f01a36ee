"""The chart sets exactly the environment variables that config/ reads, no more, no less,
so a setting added to config/ (or renamed) cannot be forgotten in the chart."""

import ast
import re
from collections.abc import Iterator, Mapping
from typing import Any

from config import Settings, load_settings
from config.settings import ConsumerSettings, RedisSettings, ServerSettings
from tests.deploy.paths import ROOT, default_values
from tests.deploy.render import EXISTING_SECRET, merged, render

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
    """(ConfigMap data keys, Deployment env names) of the chart rendered by Helm, with a
    Secret so the Deployment's secret variables are rendered too."""
    chart = render(EXISTING_SECRET)
    env_names = {entry["name"] for entry in chart.container().get("env", [])}
    return set(chart.configmap()["data"]), env_names


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
    for entry in render(EXISTING_SECRET).container()["env"]:
        assert entry["valueFrom"]["secretKeyRef"]["name"] == "gateway-secrets", entry


def chart_environment(values: dict[str, Any]) -> dict[str, str]:
    """The ConfigMap Helm renders for `values`: the environment a pod starts with."""
    data = render(merged(EXISTING_SECRET, values)).configmap()["data"]
    assert all(isinstance(value, str) for value in data.values())
    return dict(data)


def test_chart_defaults_are_the_gateway_defaults() -> None:
    environment = chart_environment({})
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
    sentinel = {"enabled": True, "sentinels": ["s-0:26379", "s-1:26379"], "masterName": "gw"}
    environment = chart_environment({"redis": {"sentinel": sentinel}})
    settings = load_settings({**environment, "JWT_SECRET": "s" * 40})
    assert settings.redis.sentinels == (("s-0", 26379), ("s-1", 26379))
    assert settings.redis.sentinel_master == "gw"


def test_chart_numbers_reach_the_settings_unchanged() -> None:
    """Helm reads YAML numbers as floats; large ones must still render as the gateway
    parses them (`toString` gives "1.048576e+06", which no integer setting accepts)."""
    environment = chart_environment({"gateway": {
        "maxConnections": 5_000_000, "clientMessageBurst": 2_000_000,
        "maxPendingBytes": 67_108_864, "clientMessageRate": 1_500_000,
        "sendTimeoutSeconds": 0.25,
    }})
    server = load_settings({**environment, "JWT_SECRET": "s" * 40}).server
    assert server.max_connections == 5_000_000
    assert server.client_message_burst == 2_000_000
    assert server.max_pending_bytes == 67_108_864
    assert server.client_message_rate == 1_500_000
    assert server.send_timeout_seconds == 0.25
