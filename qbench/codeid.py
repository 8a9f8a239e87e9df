"""The code identity of a component: a hash of its source, so results of edited code are never reused.

A component's identity (:func:`code_identity`) is the sha256 of the source text of every module its
class is built from: the module defining the class and those of its base classes, each with the
modules of the same top-level package it imports (directly or through another such module,
imports inside functions included; found in the source text, nothing is executed). A plugin kept
in the user's folder (not installed) also follows the imports of other modules of that folder
(``my_sharpen.py`` importing ``my_helpers.py``). An installed third-party component also carries
the version of the distribution that provides its package.

For qbench's own components the closure stays inside qbench's computing code: modules of the
harness (the runner, the store, reports, the CLI, suite parsing, the registries, error types) and
the ``__init__`` modules of the component packages (which only register and re-export) are not followed, so editing a
report or adding a codec does not recompute every result, while editing a codec, a metric, a
solver, the image helpers or the weights loader does.

Keys are stable across processes and machines: module names and code (the token stream without
comments, docstrings and layout, :func:`code_text`) are hashed, never paths or modification times. Each module is hashed once per process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import re
import sys
import sysconfig
import tokenize
from functools import lru_cache
from importlib import metadata
from typing import Any

#: top-level packages of qbench itself (the distribution version is not part of their identity:
#: their source is)
OWN = ("qbench", "qbench_baselines")

#: qbench modules (and packages) whose code does not determine a result: never followed
HARNESS = ("qbench.cli", "qbench.runner", "qbench.report", "qbench.regress", "qbench.store",
           "qbench.suite", "qbench.registry", "qbench.errors", "qbench.frames", "qbench.leaderboards",
           "qbench.catalogue", "qbench.codeid", "qbench.lru", "qbench.datasets", "qbench.stats", "qbench.rd",
           "qbench.cachefile", "qbench.folders", "qbench.narrow", "qbench.measure", "qbench.references",
           "qbench.paths", "qbench.download", "qbench.vocabulary")


#: qbench packages whose ``__init__`` only registers and re-exports components: not followed (a new
#: codec must not recompute every other codec's results)
REGISTRIES = ("qbench", "qbench.codecs", "qbench.solvers", "qbench.metrics", "qbench.diagnostics",
              "qbench.pipelines", "qbench_baselines")


def _is_harness(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HARNESS)


def _find(base: str) -> str | None:
    for candidate in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


@lru_cache(maxsize=None)
def _module_file(name: str, root: str | None = None) -> str | None:
    """The source file of module ``name``, found without importing anything: the loaded module's
    ``__file__``, else a path under its top-level package's folder, else under ``root`` (the
    user's folder holding the component's own top-level module)."""
    mod = sys.modules.get(name)
    if mod is not None:
        f = getattr(mod, "__file__", None)
        return f if f and os.path.isfile(f) else None
    top, _, rest = name.partition(".")
    top_mod = sys.modules.get(top)
    if rest and top_mod is not None:
        for folder in getattr(top_mod, "__path__", ()):
            if found := _find(os.path.join(folder, *rest.split("."))):
                return found
        return None
    return _find(os.path.join(root, *name.split("."))) if root and top_mod is None else None


def _installed(path: str) -> bool:
    """Whether ``path`` lies in an installation (site-packages, the standard library)."""
    parts = os.path.abspath(path).split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return True
    stdlib = sysconfig.get_paths().get("stdlib")
    return bool(stdlib) and os.path.abspath(path).startswith(os.path.abspath(stdlib) + os.sep)


def _folder_holding(path: str) -> str:
    """The folder a top-level module or package file ``path`` is imported from."""
    d = os.path.dirname(os.path.abspath(path))
    return os.path.dirname(d) if os.path.basename(path) == "__init__.py" else d


@lru_cache(maxsize=None)
def _local_root(top: str) -> str | None:
    """The user's folder holding top-level module ``top`` (a plugin not installed), else None."""
    if top in OWN:
        return None
    path = _module_file(top)
    return None if path is None or _installed(path) else _folder_holding(path)


def _sibling(top: str, root: str | None) -> bool:
    """Whether top-level module ``top`` is one of the user's modules in ``root``."""
    if root is None:
        return False
    path = _module_file(top, root)
    return path is not None and not _installed(path) and _folder_holding(path) == root


@lru_cache(maxsize=None)
def _source(name: str, root: str | None = None) -> bytes | None:
    """The module's source bytes (line endings normalised), or None when it has no file."""
    path = _module_file(name, root)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data.replace(b"\r\n", b"\n")


def _is_module(name: str, root: str | None = None) -> bool:
    return _module_file(name, root) is not None


def _is_package(name: str, root: str | None = None) -> bool:
    path = _module_file(name, root)
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
def _imports(name: str, root: str | None = None) -> tuple[str, ...]:
    """Modules of ``name``'s own top-level package, or of the user's folder ``root``, that its
    source imports (anywhere in the file). Import statements are found by a pattern, not by
    parsing: several times faster at start-up."""
    src = _source(name, root)
    if src is None:
        return ()
    text = src.decode("utf-8", errors="replace")
    top = name.split(".")[0]
    package = name if _is_package(name, root) else name.rpartition(".")[0]

    def ours(module: str) -> bool:
        first = module.split(".")[0]
        return first == top or _sibling(first, root)

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
            if attr != "*" and ours(sub) and _is_module(sub, root):
                found.add(sub)
    return tuple(sorted(m for m in found if m != name and ours(m)))


@lru_cache(maxsize=None)
def _closure(name: str) -> tuple[tuple[str, str | None], ...]:
    """``name`` and every module of its top-level package (or, for a plugin in the user's folder,
    of that folder) it reaches through imports, each with the folder to find it in."""
    top = name.split(".")[0]
    own = top in OWN
    root = _local_root(top)
    seen = {name}
    todo = [name]
    while todo:
        for dep in _imports(todo.pop(), root):
            if dep in seen or (own and (_is_harness(dep) or dep in REGISTRIES)):
                continue
            seen.add(dep)
            todo.append(dep)
    return tuple((m, root) for m in sorted(seen))


_DROP = (tokenize.COMMENT, tokenize.NL)
_STATEMENT_START = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)


def code_text(src: bytes) -> bytes:
    """The code of a module without what cannot change a result: comments, docstrings (and every
    other statement that is a bare string literal), blank lines and layout inside a statement.
    What remains is the token stream (indentation kept as INDENT/DEDENT, statements as NEWLINE), so
    rewording a docstring or re-wrapping a call leaves the identity alone while any change to an
    operator, name, number or string used by the code changes it. Source that does not tokenize is
    returned unchanged."""
    try:
        tokens = [t for t in tokenize.tokenize(io.BytesIO(src).readline) if t.type not in _DROP]
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        return src
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == tokenize.STRING and (i == 0 or tokens[i - 1].type in _STATEMENT_START):
            j = i
            while j < len(tokens) and tokens[j].type == tokenize.STRING:
                j += 1
            if j == len(tokens) or tokens[j].type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                i = j + 1 if j < len(tokens) and tokens[j].type == tokenize.NEWLINE else j
                continue                               # a bare string statement: a docstring
        if tok.type != tokenize.ENCODING:
            out.append(tokenize.tok_name[tok.type] if tok.type in (tokenize.INDENT, tokenize.DEDENT) else tok.string)
        i += 1
    return "\0".join(out).encode("utf-8")


@lru_cache(maxsize=None)
def module_hash(name: str, root: str | None = None) -> str:
    """sha256 of the code of one module (:func:`code_text`; ``"nosource"`` for a module without a
    source file)."""
    src = _source(name, root)
    return hashlib.sha256(code_text(src)).hexdigest() if src is not None else "nosource"


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
    if top in OWN or _local_root(top) is not None:      # not installed: no distribution
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
    modules: set[tuple[str, str | None]] = set()
    for name in _modules_of(cls):
        modules.update(_closure(name))
    h = hashlib.sha256()
    for name in sorted({m for m, _ in modules}):         # names and source only: no paths
        root = next(r for m, r in sorted(modules, key=str) if m == name)
        h.update(f"{name}\0{module_hash(name, root)}\n".encode())
    dists = tuple(sorted({d for m, _ in modules if (d := distribution(m.split(".")[0]))}))
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
    return sorted({m for name in _modules_of(cls) for m, _ in _closure(name)})


def clear_cache() -> None:
    """Forget every module hash (for a long-lived process that reloads edited modules)."""
    for fn in (_module_file, _source, _imports, _closure, module_hash, distribution, _class_identity, versions_of,
               _local_root):
        fn.cache_clear()
