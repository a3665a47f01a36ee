"""No module outside the seam register reaches into a library's private parts: no private
module or name imported (`redis._parsers`, engineio's drivers), no private attribute of a
library object, no class swapped. The register's own modules may: that is what it lists."""

from seams import SEAMS
from seams.scan import module_path, modules, private_access


def test_no_module_outside_the_register_uses_private_library_names() -> None:
    registered = {seam.module for seam in SEAMS}
    found = {
        module: [str(finding) for finding in private_access(module_path(module).read_text())]
        for module in modules()
        if module not in registered
    }
    found = {module: findings for module, findings in found.items() if findings}
    assert not found, f"private library access outside seams/register.py's modules: {found}"


LIBRARY_NAMES = frozenset({"_event_dispatcher", "_async", "_sock", "_handle_emit"})
OUR_NAMES = frozenset({"_set_yielding"})


def _scan(source: str) -> list[str]:
    return [finding.what for finding in private_access(source, LIBRARY_NAMES, OUR_NAMES)]


def test_the_scan_finds_private_imports_attributes_and_swapped_classes() -> None:
    assert _scan("from redis._parsers import BaseParser") == [
        "imports redis._parsers", "imports redis._parsers.BaseParser"
    ]
    assert _scan("import engineio.async_drivers.aiohttp") == [
        "imports engineio.async_drivers.aiohttp"
    ]
    assert _scan("from engineio.async_drivers import aiohttp") == [
        "imports engineio.async_drivers", "imports engineio.async_drivers.aiohttp"
    ]
    assert _scan("from socketio.async_server import _hidden") == [
        "imports socketio.async_server._hidden"
    ]
    assert _scan("client._event_dispatcher.dispatch()") == [
        "uses client._event_dispatcher, a library's private name"
    ]
    assert _scan("x = getattr(server, '_async')") == [
        "uses server._async, a library's private name"
    ]
    assert _scan("socket.__class__ = Lean") == ["swaps the class of socket"]
    # On self: a library's private name this module does not define is inherited.
    assert _scan("class A(Base):\n    def f(self):\n        return self._sock") == [
        "uses self._sock, a library's private name"
    ]
    assert _scan("async def f():\n    await super()._handle_emit(m)") == [
        "uses super()._handle_emit, a library's private name"
    ]


def test_the_scan_leaves_our_own_private_names_and_public_imports_alone() -> None:
    assert _scan("from redis.asyncio import Redis\nimport socketio\nimport aiohttp.web") == []
    assert _scan("gate._set_yielding(True)") == []  # defined in our code
    assert _scan("class A:\n    def __init__(self):\n        self._sock = 1\n"
                 "    def f(self):\n        return self._sock") == []
    assert _scan("from ._private import x\nfrom jobformat._x import y") == []
    assert _scan("getattr(handler, '__self__', None)\nobj.__class__") == []
