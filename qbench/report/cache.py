"""The report cache: aggregates and figure signatures as JSON under ``<out>/cache/report/``.

Aggregates are keyed by a fingerprint of exactly what they are computed from (the per-image
table, the leaderboard's set-level values, the metric directions, the pass-through solvers, the
anchor) and the report options, so a rerun with unchanged results reuses them. JSON only (no
pickle); a damaged or foreign cache file is ignored and rewritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .aggregate import CI, Aggregates, ReportOptions
from .data import ReportData
from .files import write_text

if TYPE_CHECKING:
    from .figure_pass import FigurePass

CACHE_FORMAT = 2                # bump when what is cached or how it is computed changes
FOLDER = Path("cache") / "report"


def _frame_hash(df) -> str:
    import pandas as pd

    h = hashlib.sha256(json.dumps([list(map(str, df.columns)), [str(t) for t in df.dtypes]]).encode())
    if len(df):
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def fingerprint(data: ReportData, options: ReportOptions) -> str:
    """A key that changes whenever the aggregates of ``data`` under ``options`` could change."""
    meta = {
        "format": CACHE_FORMAT, "options": asdict(options), "anchor": data.suite.get("anchor"),
        "metrics": [[m, i.higher_is_better, i.kind, i.version] for m, i in data.metrics.items()],
        "solvers": [[s, i.passthrough] for s, i in data.solvers.items()],
        "per_image": _frame_hash(data.per_image), "set_values": _frame_hash(data.set_values),
    }
    if data.references:
        meta["references"] = [r.record() for r in data.references.values()]
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:24]


def _frame_to_json(df) -> dict[str, Any]:
    return {"columns": list(df.columns), "dtypes": [str(t) for t in df.dtypes],
            "data": [[v.item() if isinstance(v, np.generic) else v for v in row]
                     for row in df.itertuples(index=False, name=None)]}


def _frame_from_json(obj: dict[str, Any]):
    import pandas as pd

    df = pd.DataFrame(obj["data"], columns=obj["columns"])
    return df.astype(dict(zip(obj["columns"], obj["dtypes"])))


def _ci_to_json(ci: CI) -> list:
    return [[list(k), {m: list(v) for m, v in d.items()}] for k, d in ci.items()]


def _ci_from_json(obj: list) -> CI:
    return {tuple(k): {m: (float(v[0]), float(v[1])) for m, v in d.items()} for k, d in obj}


class ReportCache:
    """JSON files under ``out_dir/cache/report``."""

    def __init__(self, out_dir: str | Path):
        self.folder = Path(out_dir) / FOLDER

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            obj = json.loads((self.folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return obj if isinstance(obj, dict) and obj.get("format") == CACHE_FORMAT else None

    def _write(self, name: str, obj: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(self.folder / name, json.dumps({"format": CACHE_FORMAT, **obj}, allow_nan=True))

    def aggregates(self, key: str) -> Aggregates | None:
        """The cached aggregates stored under ``key``, else None."""
        obj = self._read("aggregates.json")
        if obj is None or obj.get("key") != key:
            return None
        try:
            return Aggregates(_frame_from_json(obj["summary"]), _ci_from_json(obj["ci"]),
                              _frame_from_json(obj["gains"]), _ci_from_json(obj["gains_ci"]),
                              _frame_from_json(obj["bd"]))
        except (KeyError, TypeError, ValueError):
            return None

    def put_aggregates(self, key: str, agg: Aggregates) -> None:
        """Store the aggregates under the fingerprint ``key`` of their inputs."""
        self._write("aggregates.json", {
            "key": key, "summary": _frame_to_json(agg.summary), "ci": _ci_to_json(agg.ci),
            "gains": _frame_to_json(agg.gains), "gains_ci": _ci_to_json(agg.gains_ci),
            "bd": _frame_to_json(agg.bd)})

    def figures(self, group: str = "rd") -> dict[str, str]:
        """name -> signature of the figures of ``group`` drawn last (``rd``: the RD plots)."""
        obj = self._read(_figures_file(group))
        return dict(obj.get("figures", {})) if obj else {}

    def put_figures(self, figures: dict[str, str], group: str = "rd") -> None:
        """Store the signatures of the figures of ``group`` now drawn."""
        self._write(_figures_file(group), {"figures": figures})

    def redraw_changed(self, group: str, figures: list[tuple[str, str, list[Path], Callable[[], Any]]],
                       drawer: FigurePass | None = None) -> None:
        """Call each figure's ``draw()`` (name, signature, files, draw) when its signature differs
        from the one stored for ``group`` or a file is missing; then store the signatures.
        ``drawer``: where the drawings run (default: here, now); the signatures are stored once
        they are done (a drawing that raises leaves them as they were)."""
        submit, then = (drawer.submit, drawer.after) if drawer is not None else (_call, _call)
        drawn, now = self.figures(group), {}
        for name, sig, files, draw in figures:
            if drawn.get(name) != sig or not all(Path(f).is_file() for f in files):
                submit(draw)
            now[name] = sig
        if now != drawn:
            then(partial(self.put_figures, now, group))


def _call(fn: Callable[[], Any]) -> None:
    fn()


def _figures_file(group: str) -> str:
    return "figures.json" if group == "rd" else f"figures_{group}.json"
