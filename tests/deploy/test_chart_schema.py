"""values.schema.json: Helm validates values against it at install; it must accept the
defaults and reject wrong types and malformed settings."""

import copy
import json
from typing import Any

import jsonschema
import pytest

from config.load import HMAC_ALGORITHMS, PUBLIC_KEY_ALGORITHMS
from tests.deploy.paths import CHART, default_values


def _validator() -> jsonschema.Draft7Validator:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _with(path: str, value: Any) -> dict[str, Any]:
    """The default values with the dotted `path` set to `value`."""
    values = copy.deepcopy(default_values())
    *parents, last = path.split(".")
    node: Any = values
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return values


def _errors(values: dict[str, Any]) -> list[str]:
    return [error.message for error in _validator().iter_errors(values)]


def test_default_values_pass() -> None:
    assert _errors(default_values()) == []


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(_with("gateway.port", 70000), id="port out of range"),
        pytest.param(_with("gateway.port", "8080"), id="port as string"),
        pytest.param(_with("replicaCount", "2"), id="replicas as string"),
        pytest.param(_with("image.tag", 1.0), id="tag as number"),
        pytest.param(_with("gateway.namespaces", "/data_owner"), id="namespaces not a list"),
        pytest.param(_with("gateway.namespaces", ["data_owner"]), id="namespace without slash"),
        pytest.param(_with("gateway.namespaces", []), id="no namespace"),
        pytest.param(_with("gateway.queues.0.concurrency", "32"), id="concurrency as string"),
        pytest.param(_with("gateway.queues.0.concurrency", 1001), id="concurrency above 1000"),
        pytest.param(_with("gateway.queues", "critical-events=32"), id="queues as string"),
        pytest.param(_with("gateway.queuePrefix", "bull:x"), id="prefix with colon"),
        pytest.param(_with("gateway.throttleRules.0.seconds", 0), id="zero throttle window"),
        pytest.param(_with("gateway.drainSeconds", "25"), id="drain as string"),
        pytest.param(_with("gateway.websocketCompression", "false"), id="bool as string"),
        pytest.param(_with("gateway.corsAllowedOrigins", ["example.com"]), id="origin w/o scheme"),
        pytest.param(_with("gateway.logLevel", "TRACE"), id="unknown log level"),
        pytest.param(_with("gateway.recoverySeconds", -1), id="negative retention"),
        pytest.param(_with("gateway.recoveryMaxEntries", 0), id="no entries kept"),
        pytest.param(_with("gateway.recoveryMaxEntries", 1.5), id="fractional entries"),
        pytest.param(_with("secrets.recoverySecret", "short"), id="recovery secret < 16"),
        pytest.param(_with("redis.commandTimeoutSeconds", 0), id="no command deadline"),
        pytest.param(_with("gateway.jwtSecret", "plain"), id="unknown setting"),
        pytest.param(_with("redis.url", "http://redis:6379"), id="not a redis url"),
        pytest.param(_with("redis.password", "plain"), id="plain redis password"),
        pytest.param(_with("redis.sentinel.enabled", True), id="sentinel without sentinels"),
        pytest.param(_with("redis.sentinel.sentinels", ["redis-sentinel"]), id="sentinel w/o port"),
        pytest.param(_with("redis.cluster.enabled", True), id="cluster without nodes"),
        pytest.param(_with("redis.cluster.nodes", ["redis-cluster"]), id="cluster node w/o port"),
        pytest.param(_with("redis.adapterRouting", "broadcast"), id="unknown routing"),
        pytest.param(_with("jwt.algorithms", ["none"]), id="alg none"),
        pytest.param(_with("jwt.secret", "plain"), id="plain jwt secret"),
        pytest.param(_with("secrets.create", "yes"), id="create as string"),
        pytest.param(_with("stickySessions.mode", "sticky"), id="unknown affinity mode"),
        pytest.param(_with("terminationGracePeriodSeconds", "45"), id="grace as string"),
        pytest.param(_with("lifecycle.preStopSleepSeconds", -1), id="negative preStop"),
        pytest.param(_with("service.port", 0), id="service port 0"),
        pytest.param(_with("autoscaling.minReplicas", 0), id="hpa min 0"),
        pytest.param(_with("podDisruptionBudget.maxUnavailable", "one"), id="pdb not int or %"),
        pytest.param(_with("serviceMonitor.interval", 30), id="interval as number"),
        pytest.param(_with("ingress.hosts.0.paths.0.pathType", "Glob"), id="unknown pathType"),
    ],
)
def test_broken_values_fail(values: dict[str, Any]) -> None:
    assert _errors(values), "the schema accepted broken values"


def test_sentinel_values_pass() -> None:
    values = _with("redis.sentinel", {
        "enabled": True, "sentinels": ["s-0.sentinel:26379", "s-1.sentinel:26379"],
        "masterName": "gateway",
    })
    assert _errors(values) == []


def test_as_a_subchart_global_values_pass() -> None:
    assert _errors(_with("global", {"imageRegistry": "registry.example.com"})) == []


def test_algorithms_are_the_ones_config_accepts() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    allowed = schema["properties"]["jwt"]["properties"]["algorithms"]["items"]["enum"]
    assert set(allowed) == HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS
