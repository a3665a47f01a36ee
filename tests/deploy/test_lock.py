"""What CI tests is what ships: `requirements.lock` against `pyproject.toml` and `.venv`.

The image installs exactly the lock (`--require-hashes --no-deps`); scripts/setup installs
the lock the same way and then the project's dev tools with the lock as constraints
(scripts/lock-constraints). These tests fail when the three drift apart: a dependency
added to pyproject.toml but not locked (or locked outside its range), a locked package
nothing needs any more or a needed one missing (`--no-deps` would leave it out of the
image), or a development environment running other versions than the image.
"""

import importlib.metadata
import re
import subprocess
import tomllib
from dataclasses import dataclass

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from tests.deploy.paths import LOCK, ROOT

# Libraries whose internals the gateway overrides (see the comments in pyproject.toml):
# an upgrade to another minor release must be a deliberate change, so each is pinned
# `>=X.Y.Z,<X.(Y+1)`.
PINNED_TO_A_MINOR_RELEASE = ["aiohttp", "python-socketio", "python-engineio", "bullmq"]


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None
    hashes: int

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def _lock() -> dict[NormalizedName, Pin]:
    """The lock's entries: `name==version [; marker] \\` then indented `--hash=` lines."""
    entries = re.sub(r"\\\n", " ", LOCK.read_text(encoding="utf-8"))
    pins: dict[NormalizedName, Pin] = {}
    for line in entries.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        hashes = re.findall(r"--hash=sha256:[0-9a-f]{64}", line)
        requirement = Requirement(re.sub(r"\s*--hash=\S+", "", line))
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"not an exact pin: {line[:80]}"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{name} is locked twice"
        pins[name] = Pin(Version(spec.version), requirement.marker, len(hashes))
    return pins


def _runtime_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [Requirement(spec) for spec in pyproject["project"]["dependencies"]]


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": e}) for e in extras or {""})


def _needed() -> dict[NormalizedName, list[str]]:
    """Every package the runtime dependencies need here, with who needs it, read from
    the installed packages' metadata (the locked versions: see the test below)."""
    needed: dict[NormalizedName, list[str]] = {}
    todo = [(r, "pyproject.toml") for r in _runtime_requirements() if _applies(r, frozenset())]
    seen: set[tuple[NormalizedName, frozenset[str]]] = set()
    while todo:
        requirement, wanted_by = todo.pop()
        name = canonicalize_name(requirement.name)
        needed.setdefault(name, []).append(wanted_by)
        extras = frozenset(requirement.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        assert _installed(name), f"{name} (wanted by {wanted_by}) is not installed"
        for spec in importlib.metadata.requires(name) or []:
            child = Requirement(spec)
            if _applies(child, extras):
                todo.append((child, name))
    return needed


def test_the_lock_pins_every_package_exactly_with_hashes() -> None:
    pins = _lock()
    assert len(pins) > 10
    assert all(pin.hashes > 0 for pin in pins.values()), "every pin needs its hashes"


def test_every_runtime_dependency_is_locked_within_its_range() -> None:
    pins = _lock()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock"
        version = pins[name].version
        assert requirement.specifier.contains(version), f"{name}=={version} vs {requirement}"


def test_the_environment_runs_the_locked_versions() -> None:
    wrong = {
        name: (str(pin.version), importlib.metadata.version(name) if _installed(name) else None)
        for name, pin in _lock().items()
        if pin.applies()
        and (not _installed(name) or Version(importlib.metadata.version(name)) != pin.version)
    }
    assert not wrong, f"(locked, installed) differ; run scripts/setup: {wrong}"


def test_the_lock_holds_exactly_what_the_runtime_needs() -> None:
    pins = _lock()
    locked = {name for name, pin in pins.items() if pin.applies()}
    needed = _needed()
    missing = {name: by for name, by in needed.items() if name not in locked}
    assert not missing, f"needed but not locked (--no-deps leaves them out): {missing}"
    assert locked <= needed.keys(), f"locked but needed by nothing: {locked - needed.keys()}"
    for name in needed:
        for spec in importlib.metadata.requires(name) or []:
            child = Requirement(spec)
            child_name = canonicalize_name(child.name)
            if child_name in pins and not child.specifier.contains(
                pins[child_name].version, prereleases=True
            ):
                raise AssertionError(f"{name} needs {child}, the lock has {pins[child_name]}")


def test_libraries_we_override_are_pinned_to_one_minor_release() -> None:
    by_name = {canonicalize_name(r.name): r for r in _runtime_requirements()}
    for name in PINNED_TO_A_MINOR_RELEASE:
        specs = {(s.operator, s.version) for s in by_name[canonicalize_name(name)].specifier}
        lower = next((v for op, v in specs if op == ">="), None)
        assert lower is not None and len(specs) == 2, f"{name}: {specs}"
        major, minor, *_ = Version(lower).release
        assert ("<", f"{major}.{minor + 1}") in specs, f"{name}: {specs}"


def test_the_constraints_view_is_the_lock_without_hashes() -> None:
    view = subprocess.run(
        ["bash", str(ROOT / "scripts" / "lock-constraints")],
        check=True, capture_output=True, text=True,
    ).stdout
    constraints = {}
    for line in view.splitlines():
        requirement = Requirement(line)
        constraints[canonicalize_name(requirement.name)] = (
            str(requirement.specifier), requirement.marker
        )
    expected = {name: (f"=={pin.version}", pin.marker) for name, pin in _lock().items()}
    assert constraints == expected


def test_setup_installs_the_lock_then_the_project_with_it_as_constraints() -> None:
    setup = (ROOT / "scripts" / "setup").read_text(encoding="utf-8")
    installs = [
        line.strip()
        for line in setup.splitlines()
        if re.match(r"\s*\S*pip install ", line) and "--upgrade pip" not in line
    ]
    assert len(installs) == 2, installs
    assert "--require-hashes --no-deps -r requirements.lock" in installs[0]
    assert "-c .venv/lock-constraints.txt -e '.[dev]'" in installs[1]
    assert "scripts/lock-constraints > .venv/lock-constraints.txt" in setup
    assert "-nt requirements.lock" in setup, "a changed lock must trigger a reinstall"


def _installed(name: str) -> bool:
    try:
        importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
