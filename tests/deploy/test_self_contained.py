"""The repository stands on its own: a clone has everything its files refer to.

The contract is `docs/contract.md`; the design is `docs/architecture.md`; what we measured
about the dependencies is `docs/dependencies.md`. No tracked file may send a reader to
notes kept beside the checkout (a sibling `shared` directory, the notes' upper-case file
names, an absolute path on the development machine) or to an issue tracker's numbers,
which mean nothing to someone reading a clone.
"""

import re
import subprocess
from pathlib import Path

from tests.deploy.paths import ROOT

# Spelled in pieces so this file does not match its own patterns.
_OUTSIDE = [
    re.compile(re.escape(".." + "/shared")),
    re.compile(r"\b" + "FACTS" + r"\.md\b"),
    re.compile(r"\b" + "DESIGN" + r"\.md\b"),
    re.compile(r"\b" + "CONTRACT" + r"\.md\b"),
    re.compile(re.escape("/" + "work/")),
    re.compile(r"\b[Ii]" + r"ssues? #?\d+"),
]
# Markdown link targets: [text](target) and ![alt](target).
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    paths = [ROOT / name for name in listed.split("\0") if name]
    return [p for p in paths if "node_modules" not in p.parts and p.is_file()]


def _text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None  # images and other binary files


def test_the_walk_sees_the_repository() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in _tracked()}
    assert {"README.md", "docs/contract.md", "pyproject.toml", "gateway/pod/app.py"} <= names


def test_no_file_points_outside_the_repository() -> None:
    found = []
    for path in _tracked():
        text = _text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for pattern in _OUTSIDE:
                if match := pattern.search(line):
                    where = f"{path.relative_to(ROOT)}:{number}"
                    found.append(f"{where}: {match.group(0)!r} in {line.strip()[:120]!r}")
    assert not found, "files that refer to something a clone does not have:\n" + "\n".join(
        found
    )


def test_markdown_links_resolve_inside_the_repository() -> None:
    broken = []
    for path in _tracked():
        if path.suffix != ".md":
            continue
        text = _text(path) or ""
        for target in _LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # URLs, mailto:, anchors within the page
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "links to files outside the repository or missing:\n" + "\n".join(broken)
