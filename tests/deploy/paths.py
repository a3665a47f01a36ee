"""Where the deployment files live, and small readers shared by the tests/deploy modules."""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "notification-gateway"
TEMPLATES = CHART / "templates"
DOCKERFILE = ROOT / "Dockerfile"
LOCK = ROOT / "requirements.lock"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def default_values() -> dict[str, Any]:
    values = load_yaml(CHART / "values.yaml")
    assert isinstance(values, dict)
    return values
