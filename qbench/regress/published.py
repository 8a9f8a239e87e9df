"""Published baselines: a paper's table (dataset means) checked against a run's means.

A committed leaderboard baseline (:mod:`qbench.regress.values`) holds per-image values of a
qbench run; a published table holds only the means a paper printed. A published baseline is one
file, ``published.json``, in a folder (``leaderboards/literature/<name>/``)::

    {"format": 1, "kind": "published", "suite": "sr_bicubic_x2",
     "source": "who printed the numbers, where (paper, table or figure)",
     "protocol": "how the numbers were measured, and how the suite reproduces it",
     "tolerance_why": "why the tolerances are what they are",
     "images": {"set5": 5, "set14": 14},
     "rows": [{"dataset": "set5", "solver": "matlab_bicubic_x2", "codec": "png", "quality": 9,
               "metric": "psnr_y_crop2", "value": 33.66, "tolerance": 0.05}, ...]}

:func:`check_published` compares each row with the run's mean over the measured images of the
same (dataset, solver, codec, quality) row and metric. A row passes (``ok``) when every image of
the dataset was measured (``images``) and ``|mean - value| <= tolerance``; it is ``differs``
beyond the tolerance (in either direction: a reproduction is not better or worse), ``missing``
when the run has no such row or metric, ``incomplete`` when images failed or are absent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataNotFoundError, StoreError

PUBLISHED_JSON = "published.json"
PUBLISHED_FORMAT = 1
COLUMNS = ["dataset", "solver", "codec", "quality", "metric", "n_images", "n_failed", "published", "measured",
           "diff", "tolerance", "status"]


@dataclass(frozen=True)
class PublishedRow:
    """One published value to reproduce, with its tolerance."""

    dataset: str
    solver: str
    codec: str
    quality: float
    metric: str
    value: float
    tolerance: float


@dataclass
class Published:
    """A published table: its rows and where they come from."""

    name: str
    suite: str
    source: str
    protocol: str
    tolerance_why: str
    images: dict[str, int]
    rows: list[PublishedRow]
    folder: str = ""


@dataclass
class PublishedCheck:
    """The rows of a check (DataFrame with :data:`COLUMNS`) and what went wrong."""

    published: Published
    run: str
    rows: Any
    warnings: list[str] = field(default_factory=list)
    allow_missing: bool = False

    @property
    def failed(self) -> int:
        """How many rows were not reproduced (differs, incomplete or missing)."""
        return int((self.rows["status"] != "ok").sum())

    @property
    def exit_code(self) -> int:
        """0 all reproduced; 1 a value differs beyond its tolerance; 3 values missing (rows or
        images of the table absent from the run; 0 with ``allow_missing``). Where both apply, 1
        wins, as for ``check``."""
        status = set(self.rows["status"])
        return 1 if "differs" in status else 3 if status - {"ok"} and not self.allow_missing else 0


def is_published(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``published.json``."""
    return (Path(folder) / PUBLISHED_JSON).is_file()


def load_published(folder: str | Path) -> Published:
    """Read ``folder/published.json``; raises when it is missing or malformed."""
    path = Path(folder) / PUBLISHED_JSON
    if not path.is_file():
        raise DataNotFoundError(f"{folder} is not a published baseline: {PUBLISHED_JSON} is missing")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        if meta.get("format") != PUBLISHED_FORMAT or meta.get("kind") != "published":
            raise ValueError(f"format {meta.get('format')!r} kind {meta.get('kind')!r}, expected "
                             f"{PUBLISHED_FORMAT} 'published'")
        rows = [PublishedRow(str(r["dataset"]), str(r["solver"]), str(r["codec"]), float(r["quality"]),
                             str(r["metric"]), float(r["value"]), float(r["tolerance"])) for r in meta["rows"]]
        for key in ("suite", "source", "protocol", "tolerance_why"):
            if not str(meta.get(key, "")).strip():
                raise ValueError(f"{key!r} is empty")
        images = {str(k): int(v) for k, v in meta["images"].items()}
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read published baseline {path}: {exc}") from exc
    missing = sorted({r.dataset for r in rows} - set(images))
    if missing:
        raise StoreError(f"{path}: no image count for dataset(s) {missing}")
    return Published(Path(folder).name, str(meta["suite"]), str(meta["source"]), str(meta["protocol"]),
                     str(meta["tolerance_why"]), images, rows, str(folder))


def check_published(published: Published, run_dir: str | Path, metrics: tuple[str, ...] = (),
                    allow_missing: bool = False) -> PublishedCheck:
    """Compare the latest run in ``run_dir`` with ``published`` (see the module docstring): only the
    rows of ``metrics`` when given; with ``allow_missing`` rows the run lacks are listed but do not
    fail the check."""
    import pandas as pd

    from ..report import load_report_data, summarize

    data = load_report_data(run_dir)
    summary, _ = summarize(data, n_boot=0)
    warnings = []
    if data.suite.get("name") != published.suite:
        warnings.append(f"{run_dir} holds suite {data.suite.get('name')!r}, the table is reproduced by "
                        f"suite {published.suite!r}")
    index = {(r["dataset"], r["solver"], r["codec"], float(r["quality"])): r for r in summary.to_dict("records")}
    rows = [p for p in published.rows if not metrics or p.metric in metrics]
    if metrics and not rows:
        raise ConfigError(f"{published.folder or published.name}: no published value of metric(s) "
                          f"{', '.join(metrics)}; the table has {', '.join(sorted({p.metric for p in published.rows}))}")
    out = []
    for p in rows:
        got = index.get((p.dataset, p.solver, p.codec, p.quality))
        row = {"dataset": p.dataset, "solver": p.solver, "codec": p.codec, "quality": p.quality,
               "metric": p.metric, "published": p.value, "tolerance": p.tolerance}
        if got is None or p.metric not in got:
            out.append(row | {"n_images": 0, "n_failed": 0, "measured": math.nan, "diff": math.nan,
                              "status": "missing"})
            continue
        measured = float(got[p.metric])
        diff = measured - p.value
        n, n_failed = int(got["n_images"]), int(got.get("n_failed", 0))
        if n != published.images[p.dataset] or n_failed:
            status = "incomplete"
        elif not math.isfinite(diff):
            status = "missing"
        else:
            status = "ok" if abs(diff) <= p.tolerance + 1e-12 else "differs"
        out.append(row | {"n_images": n, "n_failed": n_failed, "measured": measured, "diff": diff, "status": status})
    return PublishedCheck(published, str(run_dir), pd.DataFrame(out, columns=COLUMNS), warnings, allow_missing)


def render_published(check: PublishedCheck, fmt: str = "md") -> str:
    """The check as a markdown table (with the source and tolerance note), CSV or JSON."""
    rows = check.rows
    if fmt == "csv":
        return rows.to_csv(index=False, lineterminator="\n")
    if fmt == "json":
        return json.dumps({"table": check.published.name, "suite": check.published.suite,
                           "source": check.published.source, "run": check.run, "failed": check.failed,
                           "rows": json.loads(rows.to_json(orient="records"))}, indent=1) + "\n"
    p = check.published
    lines = [f"# {p.name}: published vs measured", "", f"Source: {p.source}", "", f"Tolerance: {p.tolerance_why}",
             "", "| dataset | solver | codec | quality | metric | images | failed | published | measured | "
             "diff | tolerance | status |", "|" + " --- |" * 12]
    for r in rows.to_dict("records"):
        cells = [r["dataset"], r["solver"], r["codec"], f"{r['quality']:g}", r["metric"], str(r["n_images"]),
                 str(r["n_failed"]), f"{r['published']:g}", _num(r["measured"]), _num(r["diff"], "+"),
                 f"{r['tolerance']:g}", r["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _num(v: float, sign: str = "") -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:{sign}.4f}"


def summary_line(check: PublishedCheck) -> str:
    """One line: all values reproduced, or how many differ, are incomplete or missing."""
    n = len(check.rows)
    if not check.failed:
        return f"{check.published.name}: all {n} published values reproduced within tolerance"
    counts = check.rows["status"].value_counts()
    parts = ", ".join(f"{int(counts[s])} {s}" for s in ("differs", "incomplete", "missing") if s in counts)
    return f"{check.published.name}: {check.failed} of {n} published values not reproduced ({parts})"


def literature_tables(root: str | Path = ".") -> list[str]:
    """Names of the published tables under ``root/leaderboards/literature/``."""
    folder = Path(root) / "leaderboards" / "literature"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if is_published(p))


__all__ = ["COLUMNS", "Published", "PublishedCheck", "PublishedRow", "check_published", "is_published",
           "literature_tables", "load_published", "render_published", "summary_line"]
