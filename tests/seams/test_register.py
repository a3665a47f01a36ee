"""The seam register (seams/register.py) holds every override of, copy of, or reliance on
a library's non-public code, each pinned to the upstream source it was audited against.

An upgrade that changes any of those sources fails here, listing every entry to
re-audit; an override added without an entry fails here too."""

import ast
import dataclasses
import re

from seams import SEAMS, Kind, Seam
from seams.scan import module_path, modules, overrides
from seams.upstream import LIBRARIES, digest, drifted


def test_every_seam_matches_the_installed_upstream_source() -> None:
    drift = drifted(SEAMS)
    assert not drift, (
        f"{len(drift)} upstream sources changed under the register: re-audit each of these,"
        " then set its sha256 to the installed one (docs/architecture.md, Seams):\n\n"
        + "\n\n".join(map(str, drift))
    )


def test_a_changed_upstream_source_is_reported_with_what_to_re_audit() -> None:
    """The check itself: a wrong hash, and an upstream piece that no longer exists."""
    seam = SEAMS[0]
    stale = dataclasses.replace(seam, sha256="0" * 64)
    gone = dataclasses.replace(seam, upstream=seam.upstream + "_renamed_upstream")
    drift = drifted([seam, stale, gone])
    assert [item.seam for item in drift] == [stale, gone]
    assert drift[0].installed == digest(seam.upstream)
    assert drift[1].installed.startswith("<unreadable: AttributeError")
    report = str(drift[0])
    assert seam.module in report and seam.upstream in report and seam.breaks in report


def test_every_override_of_a_library_method_is_registered() -> None:
    """Any method of ours that replaces a library's (abstract ones and constructors
    aside) has its entry, as an override or a copy, named after the library class that
    defines it."""
    registered = {
        (seam.module, seam.upstream) for seam in SEAMS if seam.kind in (Kind.OVERRIDE, Kind.COPY)
    }
    missing = sorted(
        (module, upstream)
        for module in modules()
        for upstream in overrides(module)
        if (module, upstream) not in registered
    )
    assert not missing, f"overrides without an entry in seams/register.py: {missing}"


def test_every_override_entry_is_an_override_in_its_module() -> None:
    """No stale entries: an override listed is still there, under that name."""
    stale = [
        (seam.module, seam.upstream)
        for seam in SEAMS
        if seam.kind is Kind.OVERRIDE and seam.upstream not in overrides(seam.module)
    ]
    assert not stale, f"entries whose override is gone: {stale}"


def test_entries_are_complete_and_one_per_module_and_upstream_piece() -> None:
    ours = set(modules())
    keys = [(seam.module, seam.upstream) for seam in SEAMS]
    assert len(keys) == len(set(keys)), "an entry is listed twice"
    for seam in SEAMS:
        assert isinstance(seam, Seam) and isinstance(seam.kind, Kind)
        assert seam.module in ours, f"{seam.module}: not a module of ours"
        assert seam.upstream.partition(".")[0] in LIBRARIES, seam.upstream
        assert seam.why.strip() and seam.breaks.strip(), seam.upstream
        assert re.fullmatch(r"[0-9a-f]{64}", seam.sha256), seam.upstream


def test_every_module_of_the_register_says_so_in_its_docstring() -> None:
    """Whoever reads a module that depends on a library's internals is sent to its
    entries."""
    silent = [
        seam.module
        for seam in SEAMS
        if "seams/register.py" not in (ast.get_docstring(ast.parse(
            module_path(seam.module).read_text()
        )) or "")
    ]
    assert not silent, f"module docstrings that do not name seams/register.py: {set(silent)}"
