"""The chart sets exactly the environment variables that config/ reads, no more, no less,
so a setting added to config/ (or renamed) cannot be forgotten in the chart: the gateway's
(config.load_settings) in its ConfigMap and Secret, the archiver's
(config.archive.load_archive_settings, which shares the gateway's Redis and queue
settings) in the archiver's pods."""

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from config.archive import load_archive_settings
from config.settings import ConsumerSettings, RecoverySettings, RedisSettings, ServerSettings
from tests.deploy.paths import ROOT, default_values
from tests.deploy.render import EXISTING_SECRET, Rendered, merged, render

ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
SECRET_SETTINGS = {
    "JWT_SECRET", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "GATEWAY_RECOVERY_SECRET",
}
# The archiver's own loader; the rest of config/ is the gateway's (which the archiver
# also uses for REDIS_*, GATEWAY_QUEUES, QUEUE_PREFIX and LOG_LEVEL).
ARCHIVER_SOURCE = ROOT / "config" / "archive.py"
GATEWAY_SOURCES = tuple(
    path for path in sorted((ROOT / "config").glob("*.py")) if path != ARCHIVER_SOURCE
)
# Read by the archiver but never set by the chart: a hook for tests (an advisory lock
# the archiver waits on after each commit), unset in production.
ARCHIVER_TEST_HOOKS = {"ARCHIVE_HOLD_AFTER_COMMIT_LOCK"}
ARCHIVER_SECRETS = {"ARCHIVE_DATABASE_PASSWORD", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"}
DB_URL = "postgresql://archiver@postgres.db:5432/audit"


def names_in_config_source(paths: tuple[Path, ...] = GATEWAY_SOURCES) -> set[str]:
    """Upper-case string literals passed first to a `get`, `raw` or `present` call
    (config.load's `_Env` readers, or a Mapping's `.get`) in `paths` (by default the
    gateway's part of config/)."""
    names = set()
    for path in paths:
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


def names_read_by_archiver() -> set[str]:
    environ = RecordingEnviron({"ARCHIVE_DATABASE_URL": DB_URL})
    load_archive_settings(environ)
    return environ.read


def archiver_container(chart: Rendered) -> dict[str, Any]:
    (manifest,) = [m for m in chart if m["metadata"]["name"].endswith("-archiver")]
    spec = manifest["spec"]["jobTemplate"]["spec"] if manifest["kind"] == "CronJob" \
        else manifest["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


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
    archiver_scan = names_in_config_source((*GATEWAY_SOURCES, ARCHIVER_SOURCE))
    assert names_read_by_archiver() <= archiver_scan | {"ARCHIVE_DATABASE_URL"}
    # The gateway's loader reads none of the archiver's settings.
    assert not {name for name in read if name.startswith("ARCHIVE_")}


def test_chart_sets_exactly_the_settings_config_reads() -> None:
    wanted = names_in_config_source() | names_read_by_config()
    configmap_names, env_names = names_set_by_chart()
    chart = configmap_names | env_names
    assert not wanted - chart, f"read by config/ but not set by the chart: {wanted - chart}"
    assert not chart - wanted, f"set by the chart but not read by config/: {chart - wanted}"
    assert not configmap_names & env_names


@pytest.mark.parametrize("mode", ["cronjob", "deployment"])
def test_chart_sets_every_setting_the_archiver_reads(mode: str) -> None:
    """Its pods load the gateway's ConfigMap (for the settings the two share) and set
    their own ARCHIVE_* ones; every one they set is the archiver's, and the passwords
    come from Secrets."""
    chart = render(merged(EXISTING_SECRET, {
        "archiver": {"enabled": True, "mode": mode, "database": {"url": DB_URL}},
    }))
    container = archiver_container(chart)
    own = {entry["name"] for entry in container["env"]}
    wanted = (
        names_in_config_source((ARCHIVER_SOURCE,)) | names_read_by_archiver()
    ) - ARCHIVER_TEST_HOOKS
    from_configmap = set(chart.configmap()["data"])
    missing = wanted - own - from_configmap
    assert not missing, f"read by the archiver but not set by the chart: {missing}"
    assert not own - wanted, f"set for the archiver but not read by it: {own - wanted}"
    assert {e["name"] for e in container["env"] if "valueFrom" in e} == ARCHIVER_SECRETS


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
    assert (settings.recovery.retention_seconds, settings.recovery.max_entries) == (
        RecoverySettings().retention_seconds, RecoverySettings().max_entries)
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
        "sendTimeoutSeconds": 0.25, "recoverySeconds": 2_592_000,
        "recoveryMaxEntries": 20_000_000,
    }, "redis": {"commandTimeoutSeconds": 0.5}})
    settings = load_settings({**environment, "JWT_SECRET": "s" * 40})
    assert settings.recovery.retention_seconds == 2_592_000
    assert settings.recovery.max_entries == 20_000_000
    assert settings.redis.command_timeout_seconds == 0.5
    server = settings.server
    assert server.max_connections == 5_000_000
    assert server.client_message_burst == 2_000_000
    assert server.max_pending_bytes == 67_108_864
    assert server.client_message_rate == 1_500_000
    assert server.send_timeout_seconds == 0.25


def test_chart_recovery_off_reaches_the_settings() -> None:
    environment = chart_environment({"gateway": {"recoverySeconds": 0}})
    assert not load_settings({**environment, "JWT_SECRET": "s" * 40}).recovery.enabled


def test_chart_cluster_values_reach_the_settings() -> None:
    cluster = {"enabled": True, "nodes": ["rc-0.rc:6379", "rc-1.rc:6379"]}
    environment = chart_environment({
        "redis": {"cluster": cluster}, "gateway": {"queuePrefix": "{app-main}"},
    })
    settings = load_settings({**environment, "JWT_SECRET": "s" * 40})
    assert settings.redis.cluster_nodes == (("rc-0.rc", 6379), ("rc-1.rc", 6379))
    assert settings.redis.routing.value == "room"
    routed = chart_environment({"redis": {"adapterRouting": "room"}})
    assert load_settings({**routed, "JWT_SECRET": "s" * 40}).redis.routing.value == "room"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"redis": {"cluster": {"enabled": True, "nodes": ["rc:6379"]}}}, "hash tag"),
        ({"redis": {"cluster": {"enabled": True, "nodes": ["rc:6379"]},
                    "sentinel": {"enabled": True, "sentinels": ["s:26379"]}},
          "gateway": {"queuePrefix": "{app}"}}, "one Redis mode"),
        ({"redis": {"cluster": {"enabled": True, "nodes": ["rc:6379"]}},
          "gateway": {"queuePrefix": "{app}"},
          "archiver": {"enabled": True, "database": {"url": "postgresql://a@db:5432/audit"}}},
         "does not run on a Redis Cluster"),
    ],
    ids=["no hash tag", "cluster and sentinel", "archiver on a cluster"],
)
def test_chart_refuses_a_cluster_the_gateway_would_refuse(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception, match=message):
        render(merged(EXISTING_SECRET, values))
