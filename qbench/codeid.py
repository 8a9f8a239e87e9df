"""The code identity of a component: a hash of its source, so results of edited code are never reused.

A component's identity (:func:`code_identity`) is the sha256 of the source text of every module its
class is built from: the module defining the class and those of its base classes, each with the
modules of the same top-level package it imports (directly or through another such module,
imports inside functions included; found in the source text, nothing is executed). A third-party
component also carries the version of the installed distribution that provides its package.

For qbench's own components the closure stays inside qbench's computing code: modules of the
harness (the runner, the store, reports, the CLI, suite parsing, the registries, error types) and
the ``__init__`` modules of the component packages (which only register and re-export) are not followed, so editing a
report or adding a codec does not recompute every result, while editing a codec, a metric, a
solver, the image helpers or the weights loader does.

Keys are stable across processes and machines: module names and source text (line endings
normalised) are hashed, never paths or modification times. Each module is hashed once per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
from functools import lru_cache
from importlib import metadata
from typing import Any

#: top-level packages of qbench itself (the distribution version is not part of their identity:
#: their source is)
OWN = ("qbench", "qbench_baselines")

#: qbench modules (and packages) whose code does not determine a result: never followed
HARNESS = ("qbench.cli", "qbench.runner", "qbench.report", "qbench.regress", "qbench.store",
           "qbench.suite", "qbench.registry", "qbench.errors", "qbench.frames", "qbench.leaderboards",
           "qbench.catalogue", "qbench.codeid", "qbench.lru", "qbench.datasets", "qbench.stats", "qbench.rd")


#: qbench packages whose ``__init__`` only registers and re-exports components: not followed (a new
#: codec must not recompute every other codec's results)
REGISTRIES = ("qbench", "qbench.codecs", "qbench.solvers", "qbench.metrics", "qbench.diagnostics",
              "qbench.pipelines", "qbench_baselines")


def _is_harness(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HARNESS)


@lru_cache(maxsize=None)
def _module_file(name: str) -> str | None:
    """The source file of module ``name``, found without importing anything: the loaded module's
    ``__file__``, else a path under its top-level package's folder."""
    mod = sys.modules.get(name)
    if mod is not None:
        f = getattr(mod, "__file__", None)
        return f if f and os.path.isfile(f) else None
    top, _, rest = name.partition(".")
    top_mod = sys.modules.get(top)
    if not rest or top_mod is None:
        return None
    for folder in getattr(top_mod, "__path__", ()):
        base = os.path.join(folder, *rest.split("."))
        for candidate in (base + ".py", os.path.join(base, "__init__.py")):
            if os.path.isfile(candidate):
                return candidate
    return None


@lru_cache(maxsize=None)
def _source(name: str) -> bytes | None:
    """The module's source bytes (line endings normalised), or None when it has no file."""
    path = _module_file(name)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.replace(b"\r\n", b"\n")


def _is_module(name: str) -> bool:
    return _module_file(name) is not None


def _is_package(name: str) -> bool:
    path = _module_file(name)
    return path is not None and os.path.basename(path) == "__init__.py"


#: an import statement at the start of a line (at any indentation: imports inside functions count);
#: ``from x import (a, b)`` may span lines. A match inside a docstring only widens the closure.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]+))",
                     re.MULTILINE)


def _names(clause: str) -> list[str]:
    """``a as b, c`` / ``(a,\n b)`` -> ``["a", "c"]``."""
    parts = clause.strip().strip("()").replace("\\\n", " ").split(",")
    return [p.split()[0] for p in parts if p.split()]


@lru_cache(maxsize=None)
def _imports(name: str) -> tuple[str, ...]:
    """Modules of ``name``'s own top-level package that its source imports (anywhere in the file).
    Import statements are found by a pattern, not by parsing: several times faster at start-up."""
    src = _source(name)
    if src is None:
        return ()
    text = src.decode("utf-8", errors="replace")
    top = name.split(".")[0]
    package = name if _is_package(name) else name.rpartition(".")[0]
    found: set[str] = set()
    for m in _IMPORT.finditer(text):
        if m.group(3) is not None:                    # import a.b, c as d
            found.update(_names(m.group(3)))
            continue
        module = m.group(1)
        try:
            base = importlib.util.resolve_name(module, package) if module.startswith(".") else module
        except (ImportError, ValueError):
            continue
        if not base:
            continue
        found.add(base)
        for attr in _names(m.group(2)):               # ``from pkg import submodule``
            sub = f"{base}.{attr}"
            if attr != "*" and sub.split(".")[0] == top and _is_module(sub):
                found.add(sub)
    return tuple(sorted(m for m in found if m.split(".")[0] == top and m != name))


@lru_cache(maxsize=None)
def _closure(name: str) -> tuple[str, ...]:
    """``name`` and every module of its top-level package it reaches through imports."""
    own = name.split(".")[0] in OWN
    seen = {name}
    todo = [name]
    while todo:
        for dep in _imports(todo.pop()):
            if dep in seen or (own and (_is_harness(dep) or dep in REGISTRIES)):
                continue
            seen.add(dep)
            todo.append(dep)
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def module_hash(name: str) -> str:
    """sha256 of the source of one module (``"nosource"`` for a module without a source file)."""
    src = _source(name)
    return hashlib.sha256(src).hexdigest() if src is not None else "nosource"


@lru_cache(maxsize=None)
def _distributions() -> dict[str, list[str]]:
    try:
        return metadata.packages_distributions()
    except Exception:  # a broken installed distribution must not stop a run
        return {}


@lru_cache(maxsize=None)
def distribution(top: str) -> str | None:
    """``"name==version"`` of the installed distribution providing top-level package ``top``: the
    distribution of that name (``my_pkg`` -> ``my-pkg``), else, for a package installed in a
    site-packages folder under another name, the one whose files list it (a slower scan)."""
    if top in OWN:
        return None
    try:
        dist = metadata.distribution(top)
        return f"{dist.metadata['Name']}=={dist.version}"
    except metadata.PackageNotFoundError:
        pass
    path = _module_file(top) or ""
    if "site-packages" in path or "dist-packages" in path:
        for name in _distributions().get(top, ()):
            try:
                return f"{name}=={metadata.version(name)}"
            except metadata.PackageNotFoundError:
                continue
    return None


@lru_cache(maxsize=None)
def versions_of(names: tuple[str, ...]) -> tuple[str, ...]:
    """``"name==version"`` of each installed distribution in ``names`` (``name==absent`` if not installed)."""
    out = []
    for name in names:
        try:
            out.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name}==absent")
    return tuple(out)


def _modules_of(cls: type) -> list[str]:
    mods = []
    for klass in getattr(cls, "__mro__", (cls,)):
        name = getattr(klass, "__module__", None)
        if name and name not in ("builtins", "abc") and name not in mods:
            mods.append(name)
    return mods


@lru_cache(maxsize=None)
def _class_identity(cls: type) -> tuple[str, tuple[str, ...]]:
    modules: set[str] = set()
    for name in _modules_of(cls):
        modules.update(_closure(name))
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(f"{name}\0{module_hash(name)}\n".encode())
    dists = tuple(sorted({d for m in modules if (d := distribution(m.split(".")[0]))}))
    return h.hexdigest()[:16], dists


def code_identity(obj: Any) -> dict[str, Any]:
    """``{"code": <16 hex>, "dist": ["name==version", ...]}`` of a component (instance or class):
    what its cache keys need to know about its implementation."""
    cls = obj if isinstance(obj, type) else type(obj)
    code, dists = _class_identity(cls)
    return {"code": code, "dist": list(dists)}


def code_modules(obj: Any) -> list[str]:
    """The modules whose source enters ``obj``'s code identity (for diagnostics and tests)."""
    cls = obj if isinstance(obj, type) else type(obj)
    return sorted({m for name in _modules_of(cls) for m in _closure(name)})


def clear_cache() -> None:
    """Forget every module hash (for a long-lived process that reloads edited modules)."""
    for fn in (_module_file, _source, _imports, _closure, module_hash, distribution, _class_identity, versions_of):
        fn.cache_clear()
