"""The Helm chart rendered by Helm's own engine, for the tests of tests/deploy.

helm-python-sdk (`helm_python`) binds Helm v4's Go SDK, so no `helm` binary is needed;
`Chart.render` is `helm template` (values coalesced with the chart's defaults, checked
against values.schema.json, `fail` in a template raising `HelmRenderError`).
"""

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import helm_python
import yaml

from tests.deploy.paths import CHART

RELEASE = "gw"
NAMESPACE = "notifications"
# The chart refuses to render without a source for JWT_SECRET; a Secret the operator
# manages is the recommended one (README), so "the defaults" means the defaults plus it.
EXISTING_SECRET = {"secrets": {"existingSecret": "gateway-secrets"}}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Values layered as `helm -f a -f b` layers them: later maps win, key by key."""
    result: dict[str, Any] = {}
    for layer in layers:
        _merge_into(result, copy.deepcopy(layer))
    return result


def _merge_into(target: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


@dataclass(frozen=True)
class Rendered:
    """One `helm template` of the chart: its manifests and its NOTES.txt."""

    manifests: tuple[dict[str, Any], ...]
    notes: str

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.manifests)

    def kinds(self) -> set[str]:
        return {m["kind"] for m in self.manifests}

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        (manifest,) = self.all(kind)
        return manifest

    def configmap(self) -> dict[str, Any]:
        """The settings ConfigMap (the dashboard's ConfigMap, when rendered, is another)."""
        (manifest,) = [m for m in self.all("ConfigMap") if not m["metadata"]["name"].endswith(
            "-dashboard"
        )]
        return manifest

    def container(self) -> dict[str, Any]:
        (container,) = self.one("Deployment")["spec"]["template"]["spec"]["containers"]
        assert isinstance(container, dict)
        return container


@cache
def _chart() -> helm_python.Chart:
    return helm_python.Chart.load(str(CHART))


def render(values: dict[str, Any]) -> Rendered:
    """`helm template gw helm/notification-gateway -n notifications` with `values`."""
    files = _chart().render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE,
                            is_install=True)
    manifests: list[dict[str, Any]] = []
    notes = ""
    for path, text in sorted(files.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return Rendered(tuple(manifests), notes)
