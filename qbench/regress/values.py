"""Per-image values in long form, from a results folder's store or from a committed baseline.

A :class:`Values` holds one row per (dataset, image pixel hash, codec, quality, solver, metric)
with its value, plus what each metric is (direction, unit, version). The rate ``bpp`` is included
as a quantity of its own (lower is better), so a codec change shows up too.

A committed baseline is two deterministic text files in a folder (``leaderboards/<name>/``):

* ``baseline.csv``: ``dataset,image,image_hash,solver,codec,quality,metric,value`` sorted by
  every key, values written as the shortest text that reads back to the same float;
* ``baseline.json``: format, suite name and hash, and per metric its version, direction, unit
  and kind, plus the library versions that determine the values (qbench, libjpeg, Pillow).

Neither file holds a time, a run id or a path, so regenerating unchanged results rewrites them
byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataNotFoundError, StoreError

BASELINE_CSV = "baseline.csv"
BASELINE_JSON = "baseline.json"
BASELINE_FORMAT = 1
KEY = ["dataset", "image_hash", "codec", "quality", "solver", "metric"]
#: appended to the codec of rows whose ``quality`` holds a ``target_bpp``, so that a target of
#: 1 bpp never pairs with quality setting 1 of a ladder run under the same codec label
TARGET_SUFFIX = " @target_bpp"
COLUMNS = ["dataset", "image", "image_hash", "solver", "codec", "quality", "metric", "value"]
RATE = "bpp"
#: environment entries recorded in a baseline (they decide codec output and metric values)
ENV_KEYS = ("qbench", "libjpeg", "pillow")


@dataclass(frozen=True)
class Quantity:
    """What a compared column is: direction, unit, version, kind."""

    higher_is_better: bool
    unit: str = ""
    version: str = ""
    kind: str = "full_reference"

    @property
    def is_db(self) -> bool:
        """Whether the quantity is in dB."""
        return self.unit.strip().lower() == "db"


@dataclass
class Values:
    """Long per-image values of one side of a comparison."""

    name: str                       # the suite name
    suite_hash: str
    frame: Any                      # DataFrame with COLUMNS
    quantities: dict[str, Quantity]
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""                # the folder read


def from_run(out_dir: str | Path, suite_hash: str | None = None) -> Values:
    """The per-image values of a results folder's latest run (or of ``suite_hash``)."""
    import pandas as pd

    from ..report.data import STORE_NAME, load_report_data
    from ..store import Store

    data = load_report_data(out_dir, suite_hash)
    with Store(Path(out_dir) / STORE_NAME, readonly=True) as store:
        _, rows = store.query("SELECT ordinal, image_hash FROM plan WHERE suite_hash = ?", (data.suite_hash,))
    hashes = dict(rows)
    df = data.per_image
    names = data.metric_names
    quantities = {m: Quantity(i.higher_is_better, i.unit, i.version, i.kind) for m, i in data.metrics.items()
                  if m in names}
    quantities[RATE] = Quantity(False, "bpp", "", "rate")
    if df.empty:
        frame = pd.DataFrame(columns=COLUMNS)
    else:
        df = df.assign(image_hash=df["ordinal"].map(hashes))
        if "target_bpp" in df.columns:   # a rate target is not a quality setting of the same number
            targeted = df["target_bpp"].notna()
            df = df.assign(codec=df["codec"].where(~targeted, df["codec"] + TARGET_SUFFIX))
        frame = df.melt(id_vars=["dataset", "image", "image_hash", "solver", "codec", "quality"],
                        value_vars=names + [RATE], var_name="metric", value_name="value")
        frame = frame.dropna(subset=["value"])[COLUMNS]
    env = {k: str(data.env[k]) for k in ENV_KEYS if data.env.get(k)}
    return Values(str(data.suite.get("name", "")), data.suite_hash, _sorted(frame), quantities, env, str(out_dir))


def _sorted(frame):
    frame = frame.copy()
    frame["quality"] = frame["quality"].astype("float64")
    frame["value"] = frame["value"].astype("float64")
    frame = frame.sort_values(["dataset", "solver", "codec", "quality", "metric", "image_hash", "image"],
                              kind="stable")
    return frame.drop_duplicates(subset=KEY, keep="first").reset_index(drop=True)


def baseline_files(folder: str | Path) -> tuple[Path, Path]:
    """The baseline CSV and JSON paths in ``folder``."""
    folder = Path(folder)
    return folder / BASELINE_CSV, folder / BASELINE_JSON


def write_baseline(values: Values, folder: str | Path) -> list[Path]:
    """Write ``values`` as a committed baseline in ``folder`` (deterministic text)."""
    csv_path, json_path = baseline_files(folder)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame = _sorted(values.frame)[COLUMNS]
    text = frame.to_csv(index=False, lineterminator="\n", float_format=None)
    csv_path.write_text(text, encoding="utf-8")
    meta = {"format": BASELINE_FORMAT, "suite": values.name, "suite_hash": values.suite_hash,
            "quantities": {m: {"higher_is_better": q.higher_is_better, "unit": q.unit, "version": q.version,
                               "kind": q.kind} for m, q in values.quantities.items()},
            "env": {k: values.env[k] for k in ENV_KEYS if k in values.env}}
    json_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return [csv_path, json_path]


def from_baseline(folder: str | Path) -> Values:
    """Read a committed baseline folder (``baseline.csv`` + ``baseline.json``)."""
    import pandas as pd

    csv_path, json_path = baseline_files(folder)
    for p in (csv_path, json_path):
        if not p.is_file():
            raise DataNotFoundError(f"{folder} is not a baseline: {p.name} is missing; write it with "
                                    f"'qbench leaderboards regenerate {Path(folder).name}'")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
        if meta.get("format") != BASELINE_FORMAT:
            raise StoreError(f"{json_path} has baseline format {meta.get('format')!r}, this qbench reads "
                             f"{BASELINE_FORMAT}; regenerate it")
        quantities = {m: Quantity(bool(q["higher_is_better"]), str(q.get("unit", "")), str(q.get("version", "")),
                                  str(q.get("kind", ""))) for m, q in meta["quantities"].items()}
        frame = pd.read_csv(csv_path, dtype={"dataset": str, "image": str, "image_hash": str, "solver": str,
                                             "codec": str, "metric": str}, keep_default_na=False,
                            na_values={"value": ["", "nan", "NaN"], "quality": ["", "nan", "NaN"]})
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read baseline {folder}: {exc}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise StoreError(f"{csv_path} lacks column(s) {missing}; regenerate it")
    return Values(str(meta.get("suite", "")), str(meta.get("suite_hash", "")), _sorted(frame[COLUMNS]),
                  quantities, {k: str(v) for k, v in (meta.get("env") or {}).items()}, str(folder))


__all__ = ["BASELINE_CSV", "BASELINE_JSON", "Quantity", "Values", "baseline_files", "from_baseline", "from_run",
           "write_baseline"]
