"""What one entry of the seam register says."""

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How our code depends on the upstream piece an entry names."""

    OVERRIDE = "override"
    """A method of our subclass replaces upstream's (calling it through `super()` or not)."""
    COPY = "copy"
    """Our code is a modified copy of upstream's: a fix upstream is not ours until ported."""
    REPLACE = "replace"
    """We swap a library object for ours: a class, a driver-table entry, a factory."""
    RELY = "rely"
    """We call or read it, and it is not public API: a private name, or a public name
    whose behaviour the library does not document (an attribute set by a constructor, the
    order in which it calls its own methods)."""
    OWN = "own"
    """Our own code does this function's job instead (an owned layer): upstream's is never
    called, and is pinned so that an upgrade shows which fixes to port."""


@dataclass(frozen=True, slots=True)
class Seam:
    """One place where a module of ours depends on a library's non-public code.

    `upstream` is the qualified name of the upstream piece (module, class, function,
    attribute). `sha256` is the SHA-256 of `inspect.getsource` of `pinned` (by default
    `upstream` itself; an attribute with no source of its own names the function that
    sets it) as installed when the entry was audited."""

    module: str
    upstream: str
    kind: Kind
    why: str
    breaks: str
    sha256: str
    pinned: str | None = None

    @property
    def source_name(self) -> str:
        """The qualified name whose source is hashed."""
        return self.pinned or self.upstream
