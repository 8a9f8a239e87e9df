"""Quick runs: a suite narrowed to fewer images, solvers or codecs without editing its file.

``qbench run SUITE --limit 2 --solvers identity,fbcnn_color --codecs jpeg`` runs
:func:`narrow_suite`'s result. The narrowed suite records what was narrowed (its ``narrowed``
field, stored with the run) and its hash ends in ``-narrowed``, so its plan and reports never
pass for the full suite's. Cache keys do not depend on the suite hash, so a later full run
reuses every sample the quick run computed.
"""

from __future__ import annotations

import difflib
from typing import Any

from .errors import ConfigError
from .suite import Suite

#: suffix of a narrowed suite's hash
SUFFIX = "-narrowed"


class NarrowedSuite(Suite):
    """A suite with images, solvers or codecs left out; ``narrowed`` says what was asked."""

    narrowed: dict[str, Any]

    def hash(self) -> str:
        """The canonical hash of the narrowed content (``narrowed`` included) plus ``-narrowed``."""
        return super().hash() + SUFFIX


def _pick(kind: str, entries: list, wanted: list[str]) -> list:
    """The entries whose key (label or name) is in ``wanted``, in the suite's order; an unknown
    name raises :class:`ConfigError` with the suite's names and the nearest one."""
    keys = [e.key for e in entries]
    unknown = [w for w in wanted if w not in keys]
    if unknown:
        hints = []
        for u in unknown:
            near = difflib.get_close_matches(u, keys, n=1)
            hints.append(f"{u!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise ConfigError(f"--{kind}: not in the suite: {', '.join(hints)}; the suite's {kind}: {', '.join(keys)}")
    return [e for e in entries if e.key in wanted]


def _names(value: str | list[str] | tuple[str, ...] | None) -> list[str] | None:
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [v.strip() for v in items if v.strip()]
    if not names:
        raise ConfigError("give at least one name (comma-separated)")
    return names


def narrow_suite(suite: Suite, limit: int | None = None, solvers: str | list[str] | None = None,
                 codecs: str | list[str] | None = None) -> Suite:
    """``suite`` with at most ``limit`` images per dataset and only the named solvers and codecs
    (suite labels, else names; comma-separated or a list). Nothing asked: ``suite`` itself.

    An anchor codec left out is dropped from ``anchor`` (BD-rate is then measured against the
    anchors that remain, or not at all)."""
    solver_names, codec_names = _names(solvers), _names(codecs)
    if limit is None and solver_names is None and codec_names is None:
        return suite
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {limit}")
    data = suite.model_dump()
    asked: dict[str, Any] = {}
    if limit is not None:
        data["datasets"] = [{**d, "limit": min(limit, d["limit"] or limit)} for d in data["datasets"]]
        asked["limit"] = limit
    if solver_names is not None:
        keep = {s.key for s in _pick("solvers", suite.solvers, solver_names)}
        data["solvers"] = [d for s, d in zip(suite.solvers, data["solvers"]) if s.key in keep]
        asked["solvers"] = [s.key for s in suite.solvers if s.key in keep]
    if codec_names is not None:
        keep = {c.key for c in _pick("codecs", suite.codecs, codec_names)}
        data["codecs"] = [d for c, d in zip(suite.codecs, data["codecs"]) if c.key in keep]
        asked["codecs"] = [c.key for c in suite.codecs if c.key in keep]
        anchors = [suite.anchor] if isinstance(suite.anchor, str) else list(suite.anchor or [])
        kept = [a for a in anchors if a in keep or a in {r.key for r in suite.references}]   # published: kept
        data["anchor"] = None if not kept else kept[0] if isinstance(suite.anchor, str) else kept
    narrowed = NarrowedSuite.model_validate({**data, "narrowed": asked})
    narrowed._source_dir = suite.source_dir       # reference paths stay relative to the suite's folder
    return narrowed
