"""Find the upstream piece an entry names and hash its installed source.

Libraries are imported by name (`importlib`), so this package has no static import of
any of them, nor of the project's own packages."""

import hashlib
import importlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from seams.entry import Seam

LIBRARIES = ("engineio", "socketio", "bullmq", "redis", "aiohttp")


def resolve(qualified_name: str) -> Any:
    """The object `qualified_name` names: the longest importable module prefix, then
    attributes looked up statically (a property is the property, not its value)."""
    parts = qualified_name.split(".")
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is not None and module_name.startswith(error.name):
                continue  # not a module: try a shorter prefix
            raise
        for attribute in parts[split:]:
            target = inspect.getattr_static(target, attribute)
        return target
    raise LookupError(f"nothing importable in {qualified_name!r}")


def source_of(qualified_name: str) -> str:
    target = resolve(qualified_name)
    if isinstance(target, (classmethod, staticmethod)):
        target = target.__func__
    elif isinstance(target, property):
        target = target.fget
    return inspect.getsource(inspect.unwrap(target))


def digest(qualified_name: str) -> str:
    return hashlib.sha256(source_of(qualified_name).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Drift:
    """An entry whose upstream source is no longer the one it was audited against."""

    seam: Seam
    installed: str  # the installed source's hash, or why it could not be read

    def __str__(self) -> str:
        seam = self.seam
        return (
            f"{seam.module}: {seam.kind} {seam.upstream}\n"
            f"    audited {seam.sha256}, installed {self.installed}\n"
            f"    why: {seam.why}\n"
            f"    breaks: {seam.breaks}"
        )


def drifted(seams: Iterable[Seam]) -> list[Drift]:
    """Every entry whose pinned upstream source changed (or vanished)."""
    found = []
    for seam in seams:
        try:
            installed = digest(seam.source_name)
        except (LookupError, AttributeError, ImportError, OSError, TypeError) as error:
            installed = f"<unreadable: {type(error).__name__}: {error}>"
        if installed != seam.sha256:
            found.append(Drift(seam, installed))
    return found
