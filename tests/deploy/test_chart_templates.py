"""The Helm chart's files, checked as text: no `helm` binary exists on this machine, so the
templates are not rendered (see helm/notification-gateway/README.md). What can be checked
without rendering is checked: structure, references to values, helpers and files, and the
settings that matter for running many pods."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.paths import CHART, TEMPLATES, default_values, load_yaml

TEMPLATE_FILES = sorted(p for p in TEMPLATES.iterdir() if p.is_file())
OPENERS = re.compile(r"\{\{-?\s*(?:if|range|with|define)\b")
ENDS = re.compile(r"\{\{-?\s*end\b")
COMMENTS = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.DOTALL)
VALUE_REFS = re.compile(r"\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def _text(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def test_chart_metadata() -> None:
    chart = load_yaml(CHART / "Chart.yaml")
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART.name
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    assert chart["appVersion"]


def test_every_kind_is_templated() -> None:
    kinds = {
        m.group(1)
        for path in TEMPLATE_FILES
        for m in re.finditer(r"^kind: (\w+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    }
    assert kinds >= {
        "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget",
        "ServiceMonitor", "ConfigMap", "Secret", "PrometheusRule", "ServiceAccount",
    }
    assert {"_helpers.tpl", "NOTES.txt"} <= {p.name for p in TEMPLATE_FILES}


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_template_reads_as_text_with_balanced_actions(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.strip()
    assert "\t" not in text, "YAML must be indented with spaces"
    assert text.count("{{") == text.count("}}")
    code = COMMENTS.sub("", text)
    assert len(OPENERS.findall(code)) == len(ENDS.findall(code)), "if/range/with/define vs end"


def _has_path(values: Any, path: list[str]) -> bool:
    for key in path:
        if not isinstance(values, dict) or key not in values:
            return False
        values = values[key]
    return True


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda p: p.name)
def test_values_referenced_by_templates_exist(path: Path) -> None:
    values = default_values()
    refs = {m.group(1).lstrip(".") for m in VALUE_REFS.finditer(path.read_text(encoding="utf-8"))}
    missing = sorted(ref for ref in refs if not _has_path(values, ref.split(".")))
    assert not missing, f"{path.name} uses values that values.yaml does not define: {missing}"


def test_included_helpers_and_files_exist() -> None:
    defined = set(re.findall(r'\{\{-?\s*define "([^"]+)"', _text("_helpers.tpl")))
    for path in TEMPLATE_FILES:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r'include "([^"]+)"', text):
            assert name in defined, f"{path.name} includes undefined {name}"
        for name in re.findall(r'\.Files\.Get "([^"]+)"', text):
            assert (CHART / name).is_file(), f"{path.name} reads missing chart file {name}"


def test_deployment_probes_shutdown_and_storage() -> None:
    text = _text("deployment.yaml")
    assert re.search(r"livenessProbe:\s+httpGet:\s+path: /healthz", text)
    assert re.search(r"readinessProbe:\s+httpGet:\s+path: /readyz", text)
    assert re.search(r"preStop:\s+exec:\s+command: \[\"sleep\"", text)
    assert 'include "notification-gateway.terminationGracePeriodSeconds"' in text
    assert re.search(r"mountPath: /tmp", text) and "emptyDir:" in text
    assert re.search(r"envFrom:\s+- configMapRef:", text)
    assert "{{- toYaml .Values.securityContext" in text
    assert "{{- toYaml .Values.resources" in text
    assert not re.search(r"^\s*value:", text, re.MULTILINE), "no plain env values"


def test_grace_period_exceeds_prestop_plus_drain() -> None:
    helper = _text("_helpers.tpl")
    guard = re.search(
        r'define "notification-gateway.terminationGracePeriodSeconds".*?'
        r"preStopSleepSeconds.*?drainSeconds.*?if le \(int \$grace\) \(int \$needed\).*?fail",
        helper, re.DOTALL,
    )
    assert guard, "the helper must refuse a grace period not above preStop + drain"
    values = default_values()
    assert values["terminationGracePeriodSeconds"] is None  # computed: preStop + drain + 10
    assert values["lifecycle"]["preStopSleepSeconds"] > 0


def test_default_security_context_is_restrictive() -> None:
    values = default_values()
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    assert values["resources"]["requests"] and values["resources"]["limits"]


def test_sticky_session_options() -> None:
    assert default_values()["stickySessions"]["mode"] == "none"  # websocket-only, recommended
    ingress, service = _text("ingress.yaml"), _text("service.yaml")
    assert '"nginx.ingress.kubernetes.io/affinity" "cookie"' in ingress
    assert '"nginx.ingress.kubernetes.io/proxy-read-timeout"' in ingress
    assert re.search(r'eq \.Values\.stickySessions\.mode "clientIP".*sessionAffinity: ClientIP',
                     service, re.DOTALL)
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    assert 'transports: ["websocket"]' in readme


def test_secrets_come_only_from_a_secret() -> None:
    values = default_values()
    assert values["secrets"]["existingSecret"] == "" and values["secrets"]["create"] is False
    secret = _text("secret.yaml")
    assert "kind: Secret" in secret and "b64enc" in secret
    assert "JWT_SECRET" not in _text("configmap.yaml")
    assert "REDIS_PASSWORD" not in _text("configmap.yaml")
