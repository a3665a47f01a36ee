"""The Grafana dashboard and the Prometheus alert rules use metrics the gateway exports."""

import json
import re
from typing import Any

from prometheus_client import generate_latest

from consumers import Outcome
from gateway.web.metrics import GatewayMetrics
from tests.deploy.paths import CHART, load_yaml

DASHBOARD = CHART / "dashboards" / "gateway-dashboard.json"
RULES = CHART / "files" / "prometheus-rules.yaml"
GATEWAY_SERIES = re.compile(r"\bgateway_[a-z_]+\b")
CONTRACT_METRICS = {
    "gateway_connected_clients",
    "gateway_notifications_total",
    "gateway_notification_lag_seconds_bucket",
    "gateway_auth_failures_total",
    "gateway_throttle_coalesced_total",
}


def exported_series() -> set[str]:
    """Every series name a pod's /metrics shows once each metric has a sample."""
    metrics = GatewayMetrics()
    metrics.connected_clients.labels("/data_owner").set(1)
    metrics.job_finished("q", "e", Outcome.EMITTED)
    metrics.notification_emitted("q", 0.01)
    metrics.notification_coalesced("q", "e")
    metrics.auth_failures.labels("expired").inc()
    text = generate_latest(metrics.registry).decode()
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1].isalnum()}


def rules() -> list[dict[str, Any]]:
    groups = load_yaml(RULES)["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def test_the_contract_metrics_are_exported() -> None:
    assert exported_series() >= CONTRACT_METRICS


def test_rules_are_well_formed() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_use_only_exported_metrics() -> None:
    used = {name for rule in rules() for name in GATEWAY_SERIES.findall(rule["expr"])}
    assert used and used <= exported_series(), used - exported_series()


def test_rules_cover_lag_failures_and_readiness() -> None:
    exprs = {rule["alert"]: " ".join(rule["expr"].split()) for rule in rules()}
    joined = "\n".join(exprs.values())
    lag = r"histogram_quantile\(0\.99, .*gateway_notification_lag_seconds_bucket"
    assert re.search(lag, joined)
    assert 'gateway_notifications_total{outcome="failed"}' in joined
    assert "kube_pod_status_ready" in joined
    assert "absent(up{" in joined
    assert re.search(r"^up\{", joined, re.MULTILINE)


def test_dashboard_covers_every_gateway_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "namespace", "queue"} <= variables
    exprs = dashboard_exprs()
    used = {name for expr in exprs for name in GATEWAY_SERIES.findall(expr)}
    assert used <= exported_series(), used - exported_series()
    assert CONTRACT_METRICS <= used
    quantiles = {m for e in exprs for m in re.findall(r"histogram_quantile\((0\.\d+)", e)}
    assert quantiles >= {"0.5", "0.9", "0.99"}
    assert any('outcome="throttled"' in e for e in exprs)
    assert any('outcome="failed"' in e for e in exprs)
