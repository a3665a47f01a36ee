"""Where the project's code touches a library's non-public parts, found without the
register's help, so the register can be checked against it.

- `overrides(module)`: the methods a module's classes override on a library class
  (found by importing the module: every override must have an entry).
- `private_access(source)`: a static scan of one module's source for private names of
  the libraries: imports of private modules (`redis._parsers`) or names, engineio's
  driver modules, `obj._name` where `_name` is private to a library and not defined in
  our code, and a swapped `__class__`. Only modules of the register may do any of that.

The libraries and our packages are looked up by name at call time (`importlib`)."""

import ast
import importlib
import importlib.util
import inspect
import pkgutil
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from seams.upstream import LIBRARIES

# The project's packages whose code is checked: those it installs (pyproject.toml), so a
# new package is checked from its first commit. Tests and benchmarks are not.
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
PACKAGES = tuple(
    pattern.rstrip("*")
    for pattern in tomllib.loads(_PYPROJECT.read_text())["tool"]["setuptools"]["packages"][
        "find"
    ]["include"]
)
# Library modules that are not public API although no part of their name is private.
PRIVATE_MODULES = ("engineio.async_drivers",)
# Class attributes that typing and the class machinery add, not overrides of ours.
_NOT_OVERRIDES = frozenset({
    "__init__", "__new__", "__init_subclass__", "__module__", "__qualname__", "__doc__",
    "__dict__", "__weakref__", "__annotations__", "__slots__", "__orig_bases__",
    "__parameters__", "__abstractmethods__", "__subclasshook__", "__class_getitem__",
    "__protocol_attrs__", "__non_callable_proto_members__", "__firstlineno__",
    "__static_attributes__", "_is_protocol", "_is_runtime_protocol", "_abc_impl",
})


def is_library(name: str) -> bool:
    return name.partition(".")[0] in LIBRARIES


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def modules(packages: Iterable[str] = PACKAGES) -> list[str]:
    """Every module of `packages` (imports the packages, not their submodules)."""
    found = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations is not None, package
        found.append(package)
        found += sorted(
            info.name
            for info in pkgutil.walk_packages(spec.submodule_search_locations, f"{package}.")
        )
    return found


def module_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin)


# --- overrides, by import -----------------------------------------------------------------


def overrides(module: str) -> set[str]:
    """The upstream qualified names that classes defined in `module` override: attributes
    of a class that a library class further up its MRO defines too, callables and
    properties only, constructors and abstract methods (extension points) left out."""
    found = set()
    loaded = importlib.import_module(module)
    for cls in vars(loaded).values():
        if not inspect.isclass(cls) or cls.__module__ != module:
            continue
        for name, value in vars(cls).items():
            if name in _NOT_OVERRIDES or not _callable_or_property(value):
                continue
            for base in cls.__mro__[1:]:
                if name in vars(base):
                    upstream = vars(base)[name]
                    if is_library(base.__module__) and not getattr(
                        upstream, "__isabstractmethod__", False
                    ):
                        found.add(f"{base.__module__}.{base.__qualname__}.{name}")
                    break
    return found


def _callable_or_property(value: Any) -> bool:
    return callable(value) or isinstance(value, (property, classmethod, staticmethod))


# --- private access, by reading the source ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


def _defined_names(tree: ast.AST) -> Iterator[str]:
    """Names a module defines: functions, classes, assigned names, attributes assigned on
    `self` or `cls`, arguments, and `__slots__` entries. (An attribute assigned on another
    object, `server._async = ...`, is not a definition: it is someone else's.)"""
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                yield node.attr
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            yield node.id
        elif isinstance(node, ast.arg):
            yield node.arg
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            for constant in ast.walk(node.value):
                if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                    yield constant.value


def _private_names_of(paths: Iterable[Path]) -> frozenset[str]:
    names: set[str] = set()
    for path in paths:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        names.update(name for name in _defined_names(tree) if _private(name))
    return frozenset(names)


@cache
def library_private_names() -> frozenset[str]:
    """Every private name the installed libraries define in their Python source."""
    paths: list[Path] = []
    for library in LIBRARIES:
        spec = importlib.util.find_spec(library)
        assert spec is not None and spec.submodule_search_locations is not None, library
        for location in spec.submodule_search_locations:
            paths += Path(location).rglob("*.py")
    return _private_names_of(paths)


@cache
def our_private_names() -> frozenset[str]:
    """Every private name the project's packages define."""
    return _private_names_of(module_path(module) for module in modules())


def private_access(
    source: str,
    library_names: frozenset[str] | None = None,
    our_names: frozenset[str] | None = None,
) -> list[Finding]:
    """What in `source` (one module) reaches into a library's private parts."""
    library_names = library_private_names() if library_names is None else library_names
    our_names = our_private_names() if our_names is None else our_names
    tree = ast.parse(source)
    own = frozenset(name for name in _defined_names(tree) if _private(name))
    findings = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            findings += _import_findings(node)
        elif isinstance(node, ast.Attribute):
            finding = _attribute_finding(node, node.attr, library_names, our_names, own)
            if finding is not None:
                findings.append(finding)
        elif isinstance(node, ast.Call):
            finding = _getattr_finding(node, library_names, our_names, own)
            if finding is not None:
                findings.append(finding)
    return sorted(findings, key=lambda finding: finding.line)


def _import_findings(node: ast.Import | ast.ImportFrom) -> list[Finding]:
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    elif node.module is None or node.level:
        return []  # a relative import: our own package
    else:
        targets = [node.module]
        targets += [f"{node.module}.{alias.name}" for alias in node.names]
    findings = []
    for target in targets:
        if not is_library(target):
            continue
        parts = target.split(".")
        if any(_private(part) for part in parts) or target.startswith(PRIVATE_MODULES):
            findings.append(Finding(node.lineno, f"imports {target}"))
    return findings


def _attribute_finding(
    node: ast.Attribute | ast.Call,
    name: str,
    library_names: frozenset[str],
    our_names: frozenset[str],
    own: frozenset[str],
) -> Finding | None:
    target = node.args[0] if isinstance(node, ast.Call) else node.value
    if name == "__class__" and isinstance(node, ast.Attribute) and isinstance(
        node.ctx, ast.Store
    ):
        return Finding(node.lineno, f"swaps the class of {ast.unparse(target)}")
    if not _private(name) or name not in library_names:
        return None
    on_self = (isinstance(target, ast.Name) and target.id in ("self", "cls")) or (
        isinstance(target, ast.Call)
        and isinstance(target.func, ast.Name)
        and target.func.id == "super"
    )
    # On self: private to us if this module defines it. Elsewhere: if any of ours does.
    if name in (own if on_self else our_names):
        return None
    return Finding(node.lineno, f"uses {ast.unparse(target)}.{name}, a library's private name")


def _getattr_finding(
    node: ast.Call,
    library_names: frozenset[str],
    our_names: frozenset[str],
    own: frozenset[str],
) -> Finding | None:
    if not (
        isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    ):
        return None
    return _attribute_finding(node, node.args[1].value, library_names, our_names, own)
