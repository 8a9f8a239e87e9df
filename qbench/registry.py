"""A generic registry of named components.

Entries are classes or factories, registered by decorator, as lazy ``"module:attr"`` strings
(imported on first use), or discovered from an entry-point group. A name that is not registered
but looks like an import string (``my_pkg.mod:MySolver``) is imported directly: from the Python
path, else from the folder of the suite file that names it, else from the working directory (the
folder found is then added to ``sys.path``). Unknown names raise :class:`~qbench.errors.RegistryError`
with did-you-mean suggestions.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Generic, Iterator, TypeVar

from .errors import RegistryError

T = TypeVar("T")

#: folders of the suite files loaded in this process, most recent first (see :func:`add_import_root`)
_SUITE_FOLDERS: list[Path] = []


def add_import_root(folder: str | Path) -> None:
    """Let import strings whose top-level module is not on the Python path resolve against
    ``folder`` (the folder of a suite file), before the working directory."""
    folder = Path(folder).resolve()
    if folder in _SUITE_FOLDERS:
        _SUITE_FOLDERS.remove(folder)
    _SUITE_FOLDERS.insert(0, folder)


def _import_roots() -> list[tuple[str, Path]]:
    roots = [("the suite's folder", f) for f in _SUITE_FOLDERS]
    cwd = Path.cwd().resolve()
    return roots + ([("the working directory", cwd)] if cwd not in _SUITE_FOLDERS else [])


def _holds(folder: Path, top: str) -> bool:
    """Whether ``folder`` holds the top-level module ``top`` (a package folder or a ``.py`` file)."""
    return (folder / top).is_dir() or (folder / f"{top}.py").is_file()


def import_string(spec: str) -> Any:
    """Import ``"package.module:attr"`` (attr may be dotted) and return the attribute."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise RegistryError(f"not an import string (expected 'module:attr'): {spec!r}")
    obj: Any = _import_module(module_name, spec)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise RegistryError(f"module {module_name!r} has no attribute {attr!r}") from exc
    return obj


def _import_module(module_name: str, spec: str) -> Any:
    """``importlib.import_module``, with any failure of the module's own code (a SyntaxError, an
    exception raised at import) turned into a :class:`RegistryError` naming its file and line."""
    top = module_name.split(".")[0]
    try:
        try:
            return importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != top:
                raise
            roots = _import_roots()
            found = next((folder for _, folder in roots if _holds(folder, top)), None)
            if found is None:
                looked = ", ".join(f"{what} {folder}" for what, folder in roots)
                raise ModuleNotFoundError(f"No module named {top!r} (looked on the Python path, in {looked})",
                                          name=top) from None
            if str(found) not in sys.path:
                sys.path.append(str(found))
                importlib.invalidate_caches()
            return importlib.import_module(module_name)
    except Exception as exc:         # not found, or the module's own code failed (SyntaxError, a raise)
        from .frames import where

        at = where(exc, strict=isinstance(exc, ImportError))
        if isinstance(exc, ImportError):
            raise RegistryError(f"cannot import module {module_name!r} for {spec!r}: {exc}"
                                f"{' (at ' + at + ')' if at else ''}") from exc
        raise RegistryError(f"cannot import module {module_name!r} for {spec!r}: {type(exc).__name__}"
                            f"{' at ' + at if at else ''}: {getattr(exc, 'msg', None) or exc}") from exc


class Registry(Generic[T]):
    """Name -> component mapping with lazy loading and entry-point discovery."""

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group
        self._entries: dict[str, T | str] = {}
        self._origin: dict[str, str] = {}
        self._entry_points_loaded = False

    # -- registration -------------------------------------------------------------------
    def register(self, name: str, obj: T | str | None = None, *, origin: str = "builtin",
                 replace: bool = False) -> Callable[[T], T] | T | str:
        """Register ``obj`` under ``name``; without ``obj`` return a decorator."""
        if obj is None:
            def decorator(target: T) -> T:
                self.register(name, target, origin=origin, replace=replace)
                return target
            return decorator
        if name in self._entries and not replace and self._entries[name] is not obj:
            existing = self._entries[name]
            if not (isinstance(existing, str) and isinstance(obj, str) and existing == obj):
                raise RegistryError(f"{self.kind} {name!r} is already registered ({self._origin[name]})")
        self._entries[name] = obj
        self._origin[name] = origin
        return obj

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or self.group is None:
            return
        self._entry_points_loaded = True
        for ep in metadata.entry_points(group=self.group):
            if ep.name in self._entries:
                continue  # explicit registration wins over discovery
            dist = getattr(ep, "dist", None)
            origin = f"entry point {self.group} ({dist.name if dist else '?'})"
            self._entries[ep.name] = ep.value
            self._origin[ep.name] = origin

    # -- lookup -------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Every registered name (entry points included), sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def origin(self, name: str) -> str:
        """Where ``name`` was registered: qbench itself, an entry point, or an import string."""
        self._load_entry_points()
        return self._origin.get(name, "import string")

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def suggest(self, name: str) -> list[str]:
        """Up to three registered names close to ``name``."""
        return difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)

    def get(self, name: str) -> T:
        """Return the component for ``name`` (importing it if it is lazy)."""
        self._load_entry_points()
        if name not in self._entries:
            if ":" in name:
                return import_string(name)
            hint = self.suggest(name)
            msg = f"unknown {self.kind} {name!r}"
            if hint:
                msg += f"; did you mean {', '.join(repr(h) for h in hint)}?"
            else:
                msg += f"; known: {', '.join(self.names()) or '(none)'}"
            raise RegistryError(msg)
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_string(entry)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]
