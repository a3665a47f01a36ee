"""The Helm chart rendered by real Helm (v4's engine, through helm-python-sdk), linted, and
every rendered manifest validated against the Kubernetes API schemas (kubernetes-validate,
strict: an unknown or misplaced field is an error), for the default values and each
variant the chart's README documents. Then what the objects must do together: the
Service finds the pods, the probes hit the gateway's endpoints, secrets stay in Secrets,
affinity follows `stickySessions.mode`, a pod outlives its drain."""

import base64
import json
import re
from pathlib import Path
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.deploy.paths import CHART, TEMPLATES, default_values, load_yaml
from tests.deploy.render import EXISTING_SECRET, NAMESPACE, Rendered, merged, render

# The newest Kubernetes release whose schemas kubernetes-validate ships.
KUBERNETES = kubernetes_validate.latest_version()
# Prometheus Operator kinds: custom resources, for which kubernetes-validate has no schema.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}
FULLNAME = "gw-notification-gateway"
PUBLIC_KEY = (
    ec.generate_private_key(ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode()
)
SENTINELS = [f"redis-node-{i}.redis-headless:26379" for i in range(3)]
TLS = [{"secretName": "gateway-tls", "hosts": ["gateway.example.com"]}]

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": EXISTING_SECRET,
    "created-secret": {
        "secrets": {"create": True, "jwtSecret": "j" * 40, "redisPassword": "redis-pw",
                    "recoverySecret": "r" * 32},
    },
    "public-key-only": {"jwt": {"algorithms": ["ES256"], "publicKey": PUBLIC_KEY}},
    "sentinel": merged(EXISTING_SECRET, {
        "redis": {"sentinel": {"enabled": True, "sentinels": SENTINELS, "masterName": "gw"}},
    }),
    "websocket-only-ingress": merged(EXISTING_SECRET, {
        "stickySessions": {"mode": "none"}, "ingress": {"enabled": True},
    }),
    "cookie-affinity-tls": merged(EXISTING_SECRET, {
        "stickySessions": {"mode": "cookie"}, "ingress": {"enabled": True, "tls": TLS},
    }),
    "client-ip-affinity": merged(EXISTING_SECRET, {
        "stickySessions": {"mode": "clientIP"},
        "service": {"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
    }),
    "service-monitor": merged(EXISTING_SECRET, {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
    }),
    "prometheus-rule": merged(EXISTING_SECRET, {
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
    }),
    "grafana-dashboard": merged(EXISTING_SECRET, {"grafanaDashboard": {"enabled": True}}),
    "fixed-replicas": merged(EXISTING_SECRET, {
        "replicaCount": 3, "autoscaling": {"enabled": False},
        "podDisruptionBudget": {"enabled": False}, "serviceAccount": {"create": False},
    }),
    "everything": merged(EXISTING_SECRET, {
        "redis": {"sentinel": {"enabled": True, "sentinels": SENTINELS}},
        "stickySessions": {"mode": "cookie"}, "ingress": {"enabled": True, "tls": TLS},
        "serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True},
        "grafanaDashboard": {"enabled": True},
        "autoscaling": {"targetMemoryUtilizationPercentage": 80},
        "podAnnotations": {"example.com/team": "notifications"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gw",
                         "effect": "NoSchedule"}],
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "notification-gateway"}},
        }],
    }),
}
BASE_KINDS = {
    "ConfigMap", "Deployment", "Service", "ServiceAccount", "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
}
EXPECTED_KINDS = {
    "defaults": BASE_KINDS,
    "created-secret": BASE_KINDS | {"Secret"},
    "public-key-only": BASE_KINDS,
    "sentinel": BASE_KINDS,
    "websocket-only-ingress": BASE_KINDS | {"Ingress"},
    "cookie-affinity-tls": BASE_KINDS | {"Ingress"},
    "client-ip-affinity": BASE_KINDS,
    "service-monitor": BASE_KINDS | {"ServiceMonitor"},
    "prometheus-rule": BASE_KINDS | {"PrometheusRule"},
    "grafana-dashboard": BASE_KINDS,
    "fixed-replicas": {"ConfigMap", "Deployment", "Service"},
    "everything": BASE_KINDS | {"Ingress", "ServiceMonitor", "PrometheusRule"},
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def rendered() -> dict[str, Rendered]:
    return {name: render(values) for name, values in VARIANTS.items()}


def test_every_variant_is_listed() -> None:
    assert EXPECTED_KINDS.keys() == VARIANTS.keys()


def test_lint_passes(variant: str) -> None:
    report = helm_python.lint(str(CHART), VARIANTS[variant], strict=True, namespace=NAMESPACE)
    assert report["total_charts_linted"] == 1
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not problems, report


def test_every_manifest_is_valid_kubernetes(variant: str, rendered: dict[str, Rendered]) -> None:
    validated = set()
    for manifest in rendered[variant]:
        kind = manifest["kind"]
        if manifest["apiVersion"] == "monitoring.coreos.com/v1":
            assert kind in CUSTOM_KINDS, kind
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            raise AssertionError(f"{kind} {where}: {error.message}") from None
        validated.add(kind)
    assert validated == rendered[variant].kinds() - CUSTOM_KINDS


def test_the_objects_each_variant_creates(variant: str, rendered: dict[str, Rendered]) -> None:
    chart = rendered[variant]
    assert chart.kinds() == EXPECTED_KINDS[variant]
    names = [(m["kind"], m["metadata"]["name"]) for m in chart]
    assert len(names) == len(set(names))
    for manifest in chart:
        assert manifest["metadata"]["name"].startswith(FULLNAME)
        labels = manifest["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "gw"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
    dashboards = [m for m in chart.all("ConfigMap") if m is not chart.configmap()]
    assert len(dashboards) == (variant in {"grafana-dashboard", "everything"})


def test_the_objects_find_each_other(rendered: dict[str, Rendered]) -> None:
    chart = rendered["everything"]
    deployment, service = chart.one("Deployment"), chart.one("Service")
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    assert service["spec"]["selector"] == selector
    assert chart.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == selector
    assert chart.one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"],
    }
    (port,) = service["spec"]["ports"]
    container = chart.container()
    assert {p["name"] for p in container["ports"]} == {port["targetPort"]} == {"http"}
    (rule,) = chart.one("Ingress")["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/socket.io", "only Socket.IO is exposed"
    assert path["backend"]["service"] == {
        "name": service["metadata"]["name"], "port": {"name": port["name"]},
    }
    monitor = chart.one("ServiceMonitor")["spec"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["endpoints"][0]["port"] == port["name"]
    assert monitor["endpoints"][0]["path"] == "/metrics"
    assert container["envFrom"] == [
        {"configMapRef": {"name": chart.configmap()["metadata"]["name"]}}
    ]
    assert pod["spec"]["serviceAccountName"] == chart.one("ServiceAccount")["metadata"]["name"]


def test_deployment_probes_shutdown_and_storage(rendered: dict[str, Rendered]) -> None:
    chart = rendered["defaults"]
    deployment = chart.one("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = chart.container()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"]
    assert pod["terminationGracePeriodSeconds"] == 10 + 25 + 10
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    values = default_values()
    assert container["resources"] == values["resources"]
    assert "cpu" not in container["resources"]["limits"], "no CPU limit: no CFS throttling"
    app_version = load_yaml(CHART / "Chart.yaml")["appVersion"]
    assert container["image"] == f"notification-gateway:{app_version}"
    assert rendered["fixed-replicas"].one("Deployment")["spec"]["replicas"] == 3


def test_pods_run_restricted(rendered: dict[str, Rendered]) -> None:
    pod = rendered["defaults"].one("Deployment")["spec"]["template"]["spec"]
    container = rendered["defaults"].container()
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_grace_period_follows_prestop_and_drain() -> None:
    def pod(values: dict[str, Any]) -> dict[str, Any]:
        spec = render(merged(EXISTING_SECRET, values)).one("Deployment")["spec"]
        return dict(spec["template"]["spec"])

    no_hook = pod({"lifecycle": {"preStopSleepSeconds": 0}})
    assert "lifecycle" not in no_hook["containers"][0]
    assert no_hook["terminationGracePeriodSeconds"] == 25 + 10
    assert pod({"gateway": {"drainSeconds": 50}})["terminationGracePeriodSeconds"] == 70
    assert pod({"terminationGracePeriodSeconds": 36})["terminationGracePeriodSeconds"] == 36
    with pytest.raises(helm_python.HelmRenderError, match="must exceed"):
        pod({"terminationGracePeriodSeconds": 35})


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        pytest.param({}, helm_python.HelmRenderError, "JWT_SECRET has no source", id="no secret"),
        pytest.param({"secrets": {"create": True}}, helm_python.HelmRenderError,
                     "set secrets.jwtSecret", id="created secret without a JWT secret"),
        pytest.param(merged(EXISTING_SECRET, {"gateway": {"port": "8080"}}),
                     helm_python.HelmValuesError, "gateway/port", id="schema: port as string"),
    ],
)
def test_render_refuses_unusable_values(
    values: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        render(values)


def test_secrets_stay_in_secrets(rendered: dict[str, Rendered]) -> None:
    secret_names = {
        "JWT_SECRET", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "GATEWAY_RECOVERY_SECRET",
    }
    for chart in rendered.values():
        assert not secret_names & chart.configmap()["data"].keys()
        for entry in chart.container().get("env", []):
            assert entry.keys() == {"name", "valueFrom"}, "no plain env values"
    existing = rendered["defaults"]
    assert "Secret" not in existing.kinds()
    assert {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in existing.container()["env"]
    } == {
        "JWT_SECRET": {"name": "gateway-secrets", "key": "jwt-secret", "optional": True},
        "REDIS_PASSWORD": {"name": "gateway-secrets", "key": "redis-password", "optional": True},
        "REDIS_SENTINEL_PASSWORD": {
            "name": "gateway-secrets", "key": "redis-sentinel-password", "optional": True,
        },
        # Optional: without it the pid key is derived from JWT_SECRET.
        "GATEWAY_RECOVERY_SECRET": {
            "name": "gateway-secrets", "key": "gateway-recovery-secret", "optional": True,
        },
    }
    created = rendered["created-secret"]
    secret = created.one("Secret")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"jwt-secret": "j" * 40, "redis-password": "redis-pw",
                       "gateway-recovery-secret": "r" * 32}
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in created.container()["env"]}
    assert refs == {secret["metadata"]["name"]}
    annotations = created.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" in annotations, "a changed secret rolls the pods"
    public = rendered["public-key-only"]
    assert "env" not in public.container()
    assert public.configmap()["data"]["JWT_PUBLIC_KEY"] == PUBLIC_KEY


def test_notes_warn_when_recovery_pids_would_be_signed_with_the_public_key(
    rendered: dict[str, Rendered],
) -> None:
    """With only a public key and no Secret, the pid key is derived from the public key:
    the pods warn in their log, and the install says so too."""
    assert "WARNING: no GATEWAY_RECOVERY_SECRET" in rendered["public-key-only"].notes
    public_key = VARIANTS["public-key-only"]
    with_secret = merged(public_key, {"secrets": {"create": True, "recoverySecret": "r" * 32}})
    assert "Recovery:" not in render(with_secret).notes
    recovery_off = merged(public_key, {"gateway": {"recoverySeconds": 0}})
    assert "Recovery:" not in render(recovery_off).notes
    existing = render(merged(public_key, EXISTING_SECRET)).notes
    assert "key gateway-recovery-secret should hold GATEWAY_RECOVERY_SECRET" in " ".join(
        existing.split())
    for name in ("defaults", "created-secret"):
        assert "Recovery:" not in rendered[name].notes


def test_a_config_change_rolls_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        pod = render(merged(EXISTING_SECRET, values)).one("Deployment")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/config"])

    assert checksum({}) == checksum({})
    assert checksum({}) != checksum({"gateway": {"logLevel": "DEBUG"}})


def test_affinity_follows_sticky_session_mode(rendered: dict[str, Rendered]) -> None:
    websocket = rendered["websocket-only-ingress"]
    annotations = websocket.one("Ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "3600"
    assert not any("affinity" in key for key in annotations)
    assert "sessionAffinity" not in websocket.one("Service")["spec"]
    assert 'transports: ["websocket"]' in websocket.notes

    cookie = rendered["cookie-affinity-tls"]
    annotations = cookie.one("Ingress")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert {k.removeprefix(prefix): v for k, v in annotations.items() if "session" in k
            or "affinity" in k} == {
        "affinity": "cookie", "affinity-mode": "persistent",
        "session-cookie-name": "gateway-affinity", "session-cookie-max-age": "86400",
        "session-cookie-samesite": "None", "session-cookie-secure": "true",
    }
    assert cookie.one("Ingress")["spec"]["tls"] == TLS
    assert "long-polling is supported through cookie affinity" in cookie.notes

    month = render(merged(VARIANTS["cookie-affinity-tls"], {
        "stickySessions": {"cookieMaxAgeSeconds": 30 * 86400},
    })).one("Ingress")["metadata"]["annotations"]
    assert month[prefix + "session-cookie-max-age"] == "2592000", "not 2.592e+06"

    client_ip = rendered["client-ip-affinity"].one("Service")["spec"]
    assert client_ip["sessionAffinity"] == "ClientIP"
    assert client_ip["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert (client_ip["type"], client_ip["externalTrafficPolicy"]) == ("LoadBalancer", "Local")


def test_monitoring_objects_carry_the_files(rendered: dict[str, Rendered]) -> None:
    rules = rendered["prometheus-rule"].one("PrometheusRule")
    assert rules["spec"] == load_yaml(CHART / "files" / "prometheus-rules.yaml")
    assert rules["metadata"]["labels"]["release"] == "prometheus"
    monitor = rendered["service-monitor"].one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    (dashboard,) = [
        m for m in rendered["grafana-dashboard"].all("ConfigMap")
        if m["metadata"]["name"].endswith("-dashboard")
    ]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    embedded = json.loads(dashboard["data"]["notification-gateway.json"])
    assert embedded == json.loads((CHART / "dashboards" / "gateway-dashboard.json").read_text())


# Helm renders a reference to a value that values.yaml lacks as empty, without an error
# (lint too), so this stays a check of the template text.
VALUE_REFS = re.compile(r"\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _has_path(values: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


@pytest.mark.parametrize(
    "path", sorted(p for p in TEMPLATES.iterdir() if p.is_file()), ids=lambda p: p.name
)
def test_values_referenced_by_templates_exist(path: Path) -> None:
    values = default_values()
    refs = {m.group(1).lstrip(".") for m in VALUE_REFS.finditer(path.read_text(encoding="utf-8"))}
    missing = sorted(ref for ref in refs if not _has_path(values, ref.split(".")))
    assert not missing, f"{path.name} uses values that values.yaml does not define: {missing}"
