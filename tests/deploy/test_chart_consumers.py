"""The chart's consumer pods (values `consumers`): Deployments of GATEWAY_ROLE=consumer
pods with their own queues, replicas, resources and HPA, beside the connection pods;
rendered by Helm's engine, linted, validated against the Kubernetes schemas, wired so
that no client traffic reaches them and Prometheus still scrapes them, and started with
the environment the gateway's own config/ reads as intended."""

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from config import Role, load_settings
from tests.deploy.paths import CHART, default_values
from tests.deploy.render import EXISTING_SECRET, NAMESPACE, Rendered, merged, render

KUBERNETES = kubernetes_validate.latest_version()
FULLNAME = "gw-notification-gateway"
QUEUE_METRIC = {
    "type": "External",
    "external": {
        "metric": {
            "name": "gateway_queue_jobs",
            "selector": {"matchLabels": {"queue": "general-events", "state": "wait"}},
        },
        "target": {"type": "AverageValue", "averageValue": "1000"},
    },
}
# The split of docs/operations.md: connection pods consume nothing, critical consumers
# x 3, one batch consumer that an HPA scales on the queue's waiting jobs.
SPLIT = merged(EXISTING_SECRET, {
    "gateway": {"role": "edge"},
    "serviceMonitor": {"enabled": True},
    "consumers": [
        {"name": "critical", "queues": [{"name": "critical-events", "concurrency": 32}],
         "replicaCount": 3},
        {"name": "batch",
         "queues": [{"name": "general-events", "concurrency": 32},
                    {"name": "reports", "concurrency": 2}],
         "resources": {"requests": {"cpu": "500m", "memory": "256Mi"},
                       "limits": {"memory": "512Mi"}},
         "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 6,
                         "targetCPUUtilizationPercentage": None, "metrics": [QUEUE_METRIC]},
         "podLabels": {"team": "batch"}},
    ],
})


@pytest.fixture(scope="module")
def split() -> Rendered:
    return render(SPLIT)


def deployments(chart: Rendered) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in chart.all("Deployment")}


def consumer(chart: Rendered, name: str) -> dict[str, Any]:
    return deployments(chart)[f"{FULLNAME}-consumer-{name}"]


def container_of(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def pod_environment(chart: Rendered, deployment: dict[str, Any]) -> dict[str, str]:
    """What the pod's process sees: the ConfigMap, then its plain `env` entries over it
    (Kubernetes' order), plus a stand-in for the secret JWT_SECRET."""
    env = dict(chart.configmap()["data"])
    for entry in container_of(deployment).get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
    return {**env, "JWT_SECRET": "s" * 40}


def test_no_consumer_pods_by_default() -> None:
    assert default_values()["consumers"] == []
    assert list(deployments(render(EXISTING_SECRET))) == [FULLNAME]


def test_lint_passes() -> None:
    report = helm_python.lint(str(CHART), SPLIT, strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_every_manifest_is_valid_kubernetes(split: Rendered) -> None:
    for manifest in split:
        if manifest["apiVersion"] == "monitoring.coreos.com/v1":
            assert manifest["kind"] in {"ServiceMonitor", "PodMonitor"}
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            raise AssertionError(f"{manifest['kind']} {where}: {error.message}") from None
    assert sorted(deployments(split)) == [
        FULLNAME, f"{FULLNAME}-consumer-batch", f"{FULLNAME}-consumer-critical"
    ]


def test_no_client_traffic_reaches_consumer_pods_and_prometheus_scrapes_them(
    split: Rendered,
) -> None:
    pods = {name: d["spec"]["template"]["metadata"]["labels"]
            for name, d in deployments(split).items()}
    for name, deployment in deployments(split).items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        # Each Deployment's selector finds its own pods and no other Deployment's.
        assert [other for other, labels in pods.items() if selects(selector, labels)] == [name]
    service = split.one("Service")["spec"]["selector"]
    pdb = split.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    monitor = split.one("PodMonitor")["spec"]
    for name, labels in pods.items():
        is_consumer = name != FULLNAME
        assert selects(service, labels) is not is_consumer
        assert selects(pdb, labels) is not is_consumer
        assert selects(monitor["selector"]["matchLabels"], labels) is is_consumer
    assert monitor["podMetricsEndpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert {p["name"] for p in container_of(consumer(split, "batch"))["ports"]} == {"http"}
    assert "PodMonitor" not in render(merged(SPLIT, {"serviceMonitor": {"enabled": False}})
                                      ).kinds()


def test_each_consumer_deployment_has_its_replicas_resources_and_autoscaler(
    split: Rendered,
) -> None:
    critical, batch = consumer(split, "critical"), consumer(split, "batch")
    assert critical["spec"]["replicas"] == 3
    assert "replicas" not in batch["spec"], "the HPA owns the replica count"
    assert container_of(critical)["resources"] == default_values()["resources"]
    assert container_of(batch)["resources"] == SPLIT["consumers"][1]["resources"]
    assert batch["spec"]["template"]["metadata"]["labels"]["team"] == "batch"
    (hpa,) = [h for h in split.all("HorizontalPodAutoscaler")
              if h["metadata"]["name"] == f"{FULLNAME}-consumer-batch"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": batch["metadata"]["name"],
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 6)
    assert hpa["spec"]["metrics"] == [QUEUE_METRIC], "no CPU target when it is null"
    cpu_only = render(merged(EXISTING_SECRET, {"consumers": [
        {"name": "batch", "queues": [{"name": "general-events", "concurrency": 8}],
         "autoscaling": {"enabled": True}},
    ]}))
    (hpa,) = [h for h in cpu_only.all("HorizontalPodAutoscaler") if "consumer" in
              h["metadata"]["name"]]
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    for deployment in (critical, batch):
        pod = deployment["spec"]["template"]["spec"]
        assert "lifecycle" not in container_of(deployment), "no clients: no preStop sleep"
        assert pod["terminationGracePeriodSeconds"] == 25 + 10
        assert container_of(deployment)["readinessProbe"]["httpGet"] == {
            "path": "/readyz", "port": "http"
        }
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert "checksum/config" in deployment["spec"]["template"]["metadata"]["annotations"]


def test_the_pods_start_with_their_role_and_queues(split: Rendered) -> None:
    connection = load_settings(pod_environment(split, deployments(split)[FULLNAME]))
    assert connection.role is Role.EDGE
    critical = load_settings(pod_environment(split, consumer(split, "critical")))
    batch = load_settings(pod_environment(split, consumer(split, "batch")))
    assert critical.role is batch.role is Role.CONSUMER
    assert [(q.name, q.concurrency) for q in critical.consumers.queues] == [
        ("critical-events", 32)
    ]
    assert [(q.name, q.concurrency) for q in batch.consumers.queues] == [
        ("general-events", 32), ("reports", 2)
    ]
    # Everything else is the gateway's own setting.
    assert batch.redis == connection.redis and batch.server == connection.server
    assert batch.consumers.prefix == connection.consumers.prefix
    # The archiver and the connection pods still see every queue.
    assert split.configmap()["data"]["GATEWAY_QUEUES"] == (
        "critical-events=32,general-events=8"
    )


def test_consumer_pods_take_secrets_from_the_secret_only(split: Rendered) -> None:
    connection = container_of(deployments(split)[FULLNAME])
    for name in ("critical", "batch"):
        env = container_of(consumer(split, name))["env"]
        plain = {e["name"] for e in env if "value" in e}
        assert plain == {"GATEWAY_ROLE", "GATEWAY_QUEUES"}
        from_secret = [e for e in env if "valueFrom" in e]
        assert from_secret == connection["env"]


def test_precedence_settings_reach_the_pods() -> None:
    chart = render(merged(EXISTING_SECRET, {
        "gateway": {"queueMinShare": 0.25, "queuePrecedenceLingerMs": 250},
    }))
    settings = load_settings(pod_environment(chart, chart.one("Deployment")))
    assert settings.consumers.min_share == 0.25
    assert settings.consumers.precedence_linger_ms == 250
    assert settings.role is Role.ALL


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        pytest.param({"gateway": {"role": "edge"}}, helm_python.HelmRenderError,
                     "gateway.role=edge", id="edge pods and nobody consuming"),
        pytest.param({"consumers": [
            {"name": "a", "queues": [{"name": "q", "concurrency": 1}]},
            {"name": "a", "queues": [{"name": "r", "concurrency": 1}]},
        ]}, helm_python.HelmRenderError, "used twice", id="a consumer name twice"),
        pytest.param({"consumers": [{"name": "a", "queues": [{"name": "q", "concurrency": 1}],
                                     "autoscaling": {"enabled": True,
                                                     "targetCPUUtilizationPercentage": None}}]},
                     helm_python.HelmRenderError, "autoscaling needs", id="an HPA on nothing"),
        pytest.param({"gateway": {"role": "consumer"}}, helm_python.HelmValuesError,
                     "role", id="schema: connection pods as consumers"),
        pytest.param({"gateway": {"queueMinShare": 0}}, helm_python.HelmValuesError,
                     "queueMinShare", id="schema: a share of nothing"),
        pytest.param({"consumers": [{"name": "Batch_1", "queues": []}]},
                     helm_python.HelmValuesError, "consumers", id="schema: bad name, no queue"),
    ],
)
def test_render_refuses_unusable_consumer_values(
    values: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        render(merged(EXISTING_SECRET, values))
