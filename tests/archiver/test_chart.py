"""The chart's archiver: off by default; as a CronJob or a Deployment it runs the same
image with the gateway's settings, its own ARCHIVE_* ones and the password from a Secret,
and every ARCHIVE_* variable it sets is one config/archive.py reads and accepts."""

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.archive import ArchiveSettings, load_archive_settings

helm_python = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHART = Path(__file__).resolve().parents[2] / "helm" / "notification-gateway"
SECRET = {"secrets": {"existingSecret": "gateway-secrets"}}
DB_URL = "postgresql://archiver@postgres.db:5432/audit?sslmode=verify-full"


def values(**archiver: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SECRET), "archiver": {
        "enabled": True, "database": {"url": DB_URL}, **archiver,
    }}


def render(overrides: dict[str, Any]) -> list[dict[str, Any]]:
    files = helm_python.Chart.load(str(CHART)).render(
        overrides, name="gw", namespace="notifications", is_install=True
    )
    return [
        doc for path, text in sorted(files.items()) if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text) if doc
    ]


def archiver_objects(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["metadata"]["name"] == "gw-notification-gateway-archiver"]


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "CronJob":
        spec: dict[str, Any] = manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    else:
        spec = manifest["spec"]["template"]["spec"]
    return spec


def environment(manifests: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """What the container starts with: the ConfigMap it loads, then its own values."""
    (source,) = container["envFrom"]
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap"
                     and m["metadata"]["name"] == source["configMapRef"]["name"])
    env = dict(configmap["data"])
    env.update({e["name"]: e["value"] for e in container["env"] if "value" in e})
    return env


def test_off_by_default() -> None:
    assert archiver_objects(render(SECRET)) == []


@pytest.mark.parametrize("mode", ["cronjob", "deployment"])
def test_the_archiver_is_valid_kubernetes_and_reads_as_its_settings(mode: str) -> None:
    manifests = render(values(mode=mode, minAgeSeconds=600, batch=500))
    (manifest,) = archiver_objects(manifests)
    assert manifest["kind"] == {"cronjob": "CronJob", "deployment": "Deployment"}[mode]
    kubernetes_validate.validate(manifest, kubernetes_validate.latest_version(), strict=True)
    (container,) = pod_spec(manifest)["containers"]
    once = ["--once"] if mode == "cronjob" else []
    assert container["command"] == ["python", "-m", "archiver", *once]

    settings = load_archive_settings(environment(manifests, container))
    assert settings.database.url == DB_URL
    assert (settings.min_age_seconds, settings.batch) == (600, 500)
    assert settings.queues == ArchiveSettings(database=settings.database).queues
    assert settings.metrics_port == (0 if mode == "cronjob" else 9464)
    assert settings.hold_after_commit_lock is None  # the test hook is never set


def test_the_passwords_come_from_secrets_only() -> None:
    manifests = render(values(database={"url": DB_URL, "existingSecret": "audit-db"}))
    (container,) = pod_spec(archiver_objects(manifests)[0])["containers"]
    secret_refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e
    }
    assert secret_refs["ARCHIVE_DATABASE_PASSWORD"] == {
        "name": "audit-db", "key": "archive-database-password", "optional": True,
    }
    assert secret_refs["REDIS_PASSWORD"]["name"] == "gateway-secrets"
    assert "PASSWORD" not in " ".join(
        e["name"] for e in container["env"] if "value" in e
    )
    default = render(values())
    (container,) = pod_spec(archiver_objects(default)[0])["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"]
            for e in container["env"] if "valueFrom" in e}
    assert refs["ARCHIVE_DATABASE_PASSWORD"] == "gateway-secrets"


def test_its_pods_are_not_the_gateways() -> None:
    manifests = render(values(mode="deployment"))
    (archiver,) = archiver_objects(manifests)
    labels = archiver["spec"]["template"]["metadata"]["labels"]
    for other in manifests:
        selector = other.get("spec", {}).get("selector")
        if other is archiver or not isinstance(selector, dict):
            continue
        wanted = selector.get("matchLabels", selector)
        assert not all(labels.get(key) == value for key, value in wanted.items()), other["kind"]


@pytest.mark.parametrize(
    ("archiver", "message"),
    [
        ({"database": {"url": ""}}, "set archiver.database.url"),
        ({"database": {"url": "postgresql://a:secret@db/x"}}, "keep the password out"),
    ],
)
def test_a_missing_or_leaky_database_url_fails_the_render(
    archiver: dict[str, Any], message: str
) -> None:
    with pytest.raises(helm_python.HelmError, match=message):
        render(values(**archiver))


def test_the_schema_refuses_a_batch_the_archiver_would_refuse() -> None:
    with pytest.raises(helm_python.HelmError, match="batch"):
        render(values(batch=0))


class RecordingEnviron(dict[str, str]):
    """An environment that remembers every name looked up in it."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(name)
        return super().get(name, default)


# Read by config/archive.py but deliberately not set by the chart: the test hook.
NOT_FROM_THE_CHART = {"ARCHIVE_HOLD_AFTER_COMMIT_LOCK"}


def test_the_chart_sets_every_setting_the_archiver_reads() -> None:
    """Its own settings and the shared ones (tests/deploy checks the gateway's side)."""
    environ = RecordingEnviron({"ARCHIVE_DATABASE_URL": DB_URL})
    load_archive_settings(environ)
    manifests = render(values(mode="deployment"))
    (container,) = pod_spec(archiver_objects(manifests)[0])["containers"]
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap"
                     and m["metadata"]["name"] == container["envFrom"][0]["configMapRef"]["name"])
    own = {entry["name"] for entry in container["env"]}
    # Its own settings and those it shares with the gateway; the gateway's other settings
    # (consumer tuning the archiver parses but does not use) are tests/deploy's concern.
    wanted = {name for name in environ.read - NOT_FROM_THE_CHART
              if name.startswith(("ARCHIVE_", "REDIS_"))
              or name in {"GATEWAY_QUEUES", "QUEUE_PREFIX", "LOG_LEVEL"}}
    assert len(wanted) > 12
    assert wanted <= own | set(configmap["data"]), wanted - own - set(configmap["data"])
    assert {name for name in own if name.startswith("ARCHIVE_")} <= environ.read
