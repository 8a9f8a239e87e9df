"""Component parameters checked against their defaults: unknown names (with a did-you-mean) and
types, so a suite's ``sigma: "abc"`` fails ``qbench validate`` instead of every sample of a run.

A parameter's type is its default's (``bool``; ``int``; ``float``, which takes an int too;
``str``; a list/tuple; a dict); a default of ``None`` takes anything unless the component
declares the type in ``param_types`` (a type or a tuple of types, ``type(None)`` for optional).
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

from .errors import ConfigError

_NAMES = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string",
          list: "a list", tuple: "a list", dict: "a mapping", type(None): "null"}


def _expected(default: Any) -> tuple[type, ...] | None:
    if default is None:
        return None
    if isinstance(default, bool):
        return (bool,)
    if isinstance(default, int):
        return (int,)
    if isinstance(default, float):
        return (int, float)
    if isinstance(default, str):
        return (str,)
    if isinstance(default, (list, tuple)):
        return (list, tuple)
    if isinstance(default, dict):
        return (dict,)
    return None                         # an object default: the component checks it itself


def _matches(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:      # True is an int to Python, not to a suite
        return False
    return isinstance(value, types)


def check_names(what: str, valid: Iterable[str], params: Iterable[str]) -> None:
    """Raise :class:`ConfigError` (with a did-you-mean, its ``key`` the first unknown name) when
    ``params`` holds a name not in ``valid``."""
    valid = [str(k) for k in valid]
    unknown = sorted(set(params) - set(valid), key=str)
    if unknown:
        name = unknown[0]
        near = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"{what}: unknown parameter(s) {unknown}{hint} (valid: "
                          f"{', '.join(sorted(valid)) or '(none)'})", key=str(name))


def check_params(what: str, defaults: Mapping[str, Any], params: Mapping[str, Any],
                 types: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``{**defaults, **params}`` after checking names and types; raises :class:`ConfigError`
    (its ``key`` names the offending parameter) on the first problem."""
    check_names(what, defaults, params)
    for name, value in params.items():
        declared = (types or {}).get(name)
        expected = (declared if isinstance(declared, tuple) else (declared,)) if declared else _expected(defaults[name])
        if expected is None or (value is None and defaults[name] is None and not declared):
            continue
        if not _matches(value, expected):
            want = ("a number" if set(expected) == {int, float} else
                    " or ".join(dict.fromkeys(_NAMES.get(t, t.__name__) for t in expected)))
            raise ConfigError(f"{what}: parameter {name!r} must be {want} (default {defaults[name]!r}), "
                              f"got {type(value).__name__} {value!r}", key=str(name))
    return {**defaults, **params}
