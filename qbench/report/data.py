"""Everything a report shows, read from the results store only (never from the registries).

:func:`load_report_data` reads one run's suite (a given run, else the latest run of a given suite
hash, else the latest run; a results folder may hold several suites): its plan (one row
per image x codec point x solver), the bitstreams' rates, the metric values of each sample's
output and of its compressed input, the components table (metric directions and versions,
solver cards, codecs), set-level values, costs, failures of that run and skipped metrics;
per sample also the branch a codec chose (side_info ``branch``), what a solver reported through
``ctx.report`` (the output artefact's ``info["report"]``) and the measured codec and solver seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, StoreError
from ..store import Store
from ..vocabulary import (  # noqa: F401  (KEYS, LEADERBOARD_PAIR, STORE_NAME: re-exported to reports)
    COMPRESSED, ENHANCED, KEYS, LEADERBOARD_PAIR, ORIGINAL, ROLE_KEY_COLUMN, STORE_NAME)
from .costs import load_costs
from .diagnostics_data import load_diagnostics

GAIN_SUFFIX = "_gain"


@dataclass(frozen=True)
class MetricInfo:
    """A metric as the components table describes it."""

    label: str
    name: str
    higher_is_better: bool
    kind: str                      # full_reference | distribution | no_reference
    version: str
    unit: str = ""
    description: str = ""

    @property
    def is_set(self) -> bool:
        """Whether the metric is set-level (FID/KID), measured per group, not per image."""
        return self.kind == "distribution"


@dataclass(frozen=True)
class SolverInfo:
    """A solver's card as the components table describes it."""

    label: str
    name: str
    task: str
    blind: bool
    pipeline: str
    passthrough: bool
    spec_hash: str


@dataclass(frozen=True)
class CodecInfo:
    """A codec as the components table describes it: label, ladder and whether it is learned or targeted."""

    label: str
    name: str
    learned: bool
    target: bool
    points: tuple[float, ...]
    spec_hash: str = ""
    knob: str = ""                 # what the quality setting is: q, ratio, distance, ... ("" in older stores)


@dataclass
class ReportData:
    """The store's content for one suite, as pandas tables and component records."""

    suite: dict[str, Any]
    suite_hash: str
    run: dict[str, Any]
    env: dict[str, Any]
    metrics: dict[str, MetricInfo]          # suite order: per-image metrics, then set-level ones
    solvers: dict[str, SolverInfo]
    codecs: dict[str, CodecInfo]
    per_image: Any          # DataFrame: one row per sample present in the store
    set_values: Any         # DataFrame: KEYS, ref_role, test_role, metric, value, n_images, n_features
    costs: Any              # DataFrame: qbench.report.costs.COST_COLUMNS (probe rows, codec encode/decode rows)
    failures: Any                           # DataFrame: stage, detail, error, run_id (of the run reported)
    skipped_metrics: dict[str, str] = field(default_factory=dict)
    role_values: Any = None  # DataFrame: KEYS, image, role (original|compressed|enhanced), metric, value (no-reference)
    timings: Any = None      # DataFrame: ordinal, encode_seconds (encode + decode), solve_seconds (per image)
    diagnostics: Any = None  # DiagnosticData (qbench.report.diagnostics_data): triplet diagnostic values, images
    out_dir: Path | None = None   # the results folder the data was read from
    planned: Any = None      # DataFrame: KEYS, n_planned, first_ordinal (every planned sample, failed ones too)
    references: dict[str, Any] = field(default_factory=dict)   # label -> qbench.references.Reference (published curves)

    @property
    def metric_names(self) -> list[str]:
        """Per-image metrics (full-reference or no-reference), suite order."""
        return [m for m, info in self.metrics.items() if not info.is_set]

    @property
    def set_metric_names(self) -> list[str]:
        """The set-level metrics (FID/KID), in suite order."""
        return [m for m, info in self.metrics.items() if info.is_set]

    @property
    def all_metric_names(self) -> list[str]:
        """Per-image metrics, then set-level ones."""
        return self.metric_names + self.set_metric_names

    @property
    def higher_is_better(self) -> dict[str, bool]:
        """Metric -> whether higher is better."""
        return {m: info.higher_is_better for m, info in self.metrics.items()}

    @property
    def gain_names(self) -> list[str]:
        """``<metric>_gain`` columns present in :attr:`per_image`."""
        return [m + GAIN_SUFFIX for m in self.metric_names if m + GAIN_SUFFIX in self.per_image.columns]


def _frame(store: Store, sql: str, params: tuple = ()):
    import pandas as pd

    cols, rows = store.query(sql, params)
    return pd.DataFrame(rows, columns=cols)


def _components(store: Store, suite_hash: str):
    comps = store.components(suite_hash)
    metrics = {label: MetricInfo(label, i.get("name", label), bool(i.get("higher_is_better", True)),
                                 i.get("kind", "full_reference"), str(i.get("version", "")),
                                 i.get("unit") or "", i.get("description") or "")
               for label, i in comps.get("metric", {}).items()}
    per_image = {k: v for k, v in metrics.items() if not v.is_set}
    metrics = per_image | {k: v for k, v in metrics.items() if v.is_set}
    solvers = {label: SolverInfo(label, i.get("name", label), i.get("task", ""), bool(i.get("blind", True)),
                                 i.get("pipeline", ""), bool(i.get("passthrough", False)), i.get("spec_hash", ""))
               for label, i in comps.get("solver", {}).items()}
    codecs = {label: CodecInfo(label, i.get("name", label), bool(i.get("learned", False)),
                               bool(i.get("target", False)), tuple(float(p) for p in i.get("points", ())),
                               i.get("spec_hash", ""), str(i.get("knob") or ""))
              for label, i in comps.get("codec", {}).items()}
    return metrics, solvers, codecs


def _select_run(store: Store, db: Path, suite_hash: str | None, run_id: int | None = None) -> dict[str, Any]:
    if run_id is not None:
        _, rows = store.query("SELECT run_id FROM runs WHERE run_id = ?", (int(run_id),))
        if not rows:
            raise ConfigError(f"{db} has no run {run_id}; {_runs_hint(store)}")
        run = store.run(int(run_id))
        if suite_hash and run["suite_hash"] != suite_hash:
            raise ConfigError(f"run {run_id} of {db} is of suite {run['suite_name']} ({run['suite_hash']}), "
                              f"not {suite_hash}")
        return run
    run = store.latest_run(suite_hash)
    if run is None:
        raise StoreError(f"{db} has no run of suite {suite_hash}" if suite_hash else f"{db} holds no runs")
    return run


@dataclass(frozen=True)
class SuiteRuns:
    """A suite (by name) with results in a store: its latest run and suite hash, and its run count."""

    name: str
    latest_run: int
    suite_hash: str
    runs: int


def suites_in(out_dir: str | Path) -> list[SuiteRuns]:
    """The suites with runs in the store of ``out_dir``, by name, latest run first."""
    db = Path(out_dir) / STORE_NAME
    if not db.is_file():
        raise StoreError(f"no results store at {db}; run 'qbench run SUITE --out {out_dir}' first")
    with Store(db, readonly=True) as store:
        _, rows = store.query("SELECT suite_name, run_id, suite_hash FROM runs ORDER BY run_id DESC")
    out: dict[str, SuiteRuns] = {}
    for name, run_id, h in rows:
        if name in out:
            out[name] = SuiteRuns(name, out[name].latest_run, out[name].suite_hash, out[name].runs + 1)
        else:
            out[name] = SuiteRuns(name, int(run_id), h, 1)
    return list(out.values())


def select_run(out_dir: str | Path, run_id: int | None = None, suite: str | None = None) -> int:
    """The run a report of ``out_dir`` is for: run ``run_id``; else the latest run of ``suite`` (a
    suite name, or a prefix of at least 6 characters of a suite hash); else the latest run."""
    db = Path(out_dir) / STORE_NAME
    known = suites_in(out_dir)
    if not known:
        raise StoreError(f"{db} holds no runs")
    if suite is None:
        if run_id is not None:
            with Store(db, readonly=True) as store:
                _select_run(store, db, None, run_id)
            return int(run_id)
        return known[0].latest_run
    with Store(db, readonly=True) as store:
        _, rows = store.query("SELECT run_id, suite_name, suite_hash FROM runs ORDER BY run_id DESC")
        hits = [r for r in rows if r[1] == suite or (len(suite) >= 6 and r[2].startswith(suite))]
        if not hits:
            raise ConfigError(f"{db} has no run of suite {suite!r}; {_runs_hint(store)}")
        if run_id is not None:
            if int(run_id) not in {r[0] for r in hits}:
                raise ConfigError(f"run {run_id} of {db} is not a run of suite {suite!r}; {_runs_hint(store)}")
            return int(run_id)
        return int(hits[0][0])


def _runs_hint(store: Store) -> str:
    _, rows = store.query("SELECT suite_name, GROUP_CONCAT(run_id) FROM runs GROUP BY suite_name ORDER BY suite_name")
    return "runs held: " + ("; ".join(f"{name}: {ids}" for name, ids in rows) or "none")


def _values(store: Store, suite_hash: str, key_col: str, role_sql: str, metrics: dict[str, MetricInfo]):
    """Long table (ordinal, metric, value) of the plan's samples at (``key_col``, role)."""
    df = _frame(store, f'SELECT p.ordinal, v.metric, v.version, v.value FROM plan p JOIN "values" v '
                       f"ON v.key = p.{key_col} AND v.role = {role_sql} WHERE p.suite_hash = ?", (suite_hash,))
    versions = {m: info.version for m, info in metrics.items() if not info.is_set}
    keep = df["metric"].map(versions).eq(df["version"])
    return df[keep]


def _per_image(store: Store, suite_hash: str, metrics: dict[str, MetricInfo]):
    import pandas as pd

    base = _frame(store, "SELECT p.ordinal, p.dataset, p.image, p.solver, p.codec, p.quality, p.task, "
                         "p.out_role, e.bpp, e.nbytes, CASE WHEN p.target = 1 THEN e.side_info END AS side_info, "
                         """CASE WHEN e.side_info LIKE '%"branch"%' THEN e.side_info END AS codec_info, """
                         """CASE WHEN a.info LIKE '%"report"%' THEN a.info END AS out_info, """
                         "e.seconds AS encode_seconds, a.seconds AS solve_seconds "
                         "FROM plan p JOIN encodings e ON e.enc_key = p.enc_key LEFT JOIN artefacts a "
                         "ON a.key = p.out_key AND a.role = p.out_role AND p.out_role = 'enhanced' "
                         "WHERE p.suite_hash = ? ORDER BY p.ordinal", (suite_hash,))
    names = [m for m, info in metrics.items() if not info.is_set]
    out_vals = _values(store, suite_hash, "out_key", "p.out_role", metrics)
    enc_vals = _values(store, suite_hash, "enc_key", "'compressed'", metrics)
    made = set(_frame(store, "SELECT p.ordinal FROM plan p JOIN artefacts a ON a.key = p.out_key "
                             "AND a.role = p.out_role WHERE p.suite_hash = ?", (suite_hash,))["ordinal"])
    made |= set(out_vals["ordinal"])
    # a sample is present when its output is: the compressed image itself (pass-through), a stored
    # artefact, or measured values; failed samples have none of these and are left out
    present = base["out_role"].eq(COMPRESSED) | base["ordinal"].isin(made)
    base = base[present].drop(columns=["out_role"])
    index = ["dataset", "image", "solver", "codec", "quality", "task", "ordinal", "bpp", "nbytes"]
    side = base.pop("side_info").dropna().map(json.loads)
    if len(side) and side.map(lambda d: d.get("chosen_quality") is not None).any():
        base["target_bpp"] = side.map(lambda d: d.get("target_bpp"))
        base["chosen_quality"] = side.map(lambda d: d.get("chosen_quality"))
        index += ["target_bpp", "chosen_quality"]
    index += _branch_columns(base)
    timings = base[["ordinal", "encode_seconds", "solve_seconds"]].reset_index(drop=True)
    base = base.drop(columns=["encode_seconds", "solve_seconds"]).set_index("ordinal")

    def wide(long):
        if long.empty:
            return pd.DataFrame(index=base.index, columns=names, dtype=np.float64)
        w = long.pivot_table(index="ordinal", columns="metric", values="value", aggfunc="first")
        return w.reindex(index=base.index, columns=names).astype(np.float64)

    out_w, enc_w = wide(out_vals), wide(enc_vals)
    sign = np.array([1.0 if metrics[m].higher_is_better else -1.0 for m in names])
    gains = (out_w - enc_w).where(out_w != enc_w, 0.0) * sign    # equal values (+inf == +inf) gain 0
    gains.columns = [m + GAIN_SUFFIX for m in names]
    gains = gains.loc[:, gains.notna().any(axis=0)]
    per_image = base.join(out_w).join(gains).reset_index()
    per_image = per_image[index + names + list(gains.columns)].reset_index(drop=True)
    per_image["quality"] = per_image["quality"].astype(np.float64)
    per_image.columns.name = None
    return per_image, timings


def _branch_columns(base) -> list[str]:
    """Move the branch a codec chose (its side_info ``branch``, ``pre_psnr``) and what a solver
    reported per image (the artefact's ``info["report"]``, as ``solver_<key>``) into columns of
    ``base``, in place; returns the new column names (none when nothing was reported)."""
    added = []
    codec = base.pop("codec_info").dropna().map(json.loads)
    if len(codec):
        base["codec_branch"] = codec.map(lambda d: d.get("branch"))
        base["pre_psnr"] = codec.map(lambda d: d.get("pre_psnr")).astype(np.float64)
        added += ["codec_branch", "pre_psnr"]
    reports = base.pop("out_info").dropna().map(lambda s: json.loads(s).get("report") or {})
    keys = list(dict.fromkeys(k for r in reports for k in r))
    for key in sorted(keys, key=lambda k: (k not in ("exit", "branch", "flops", "seconds"), k)):
        base[f"solver_{key}"] = reports.map(lambda r, key=key: r.get(key))
        added.append(f"solver_{key}")
    return added


def _role_values(store: Store, suite_hash: str, metrics: dict[str, MetricInfo], per_image):
    """Long table of no-reference values of each present sample's original, compressed and enhanced image."""
    import pandas as pd

    noref = {m: i for m, i in metrics.items() if i.kind == "no_reference"}
    cols = KEYS + ["image", "role", "metric", "value"]
    if not noref:
        return pd.DataFrame(columns=cols)
    parts = [_values(store, suite_hash, key_col, role_sql, noref).assign(role=role)
             for role, key_col, role_sql in ((ORIGINAL, ROLE_KEY_COLUMN[ORIGINAL], f"'{ORIGINAL}'"),
                                             (COMPRESSED, ROLE_KEY_COLUMN[COMPRESSED], f"'{COMPRESSED}'"),
                                             (ENHANCED, ROLE_KEY_COLUMN[ENHANCED], "p.out_role"))]
    rows = per_image[["ordinal"] + KEYS + ["image"]]
    return pd.concat(parts).merge(rows, on="ordinal")[cols].reset_index(drop=True)


def load_report_data(out_dir: str | Path, suite_hash: str | None = None, run_id: int | None = None) -> ReportData:
    """Read a run's suite and its samples' results from the store: run ``run_id``, else the latest
    run of ``suite_hash``, else the latest run."""
    db = Path(out_dir) / STORE_NAME
    if not db.is_file():
        raise StoreError(f"no results store at {db}; run 'qbench run SUITE --out {out_dir}' first")
    with Store(db, readonly=True) as store:
        run = _select_run(store, db, suite_hash, run_id)
        h = run["suite_hash"]
        metrics, solvers, codecs = _components(store, h)
        per_image, timings = _per_image(store, h, metrics)
        roles = _role_values(store, h, metrics, per_image)
        diags = load_diagnostics(store, h, per_image)
        sets = _frame(store, "SELECT dataset, solver, codec, quality, ref_role, test_role, metric, version, value, "
                             "n_images, n_features FROM set_values WHERE suite_hash = ? ORDER BY rowid", (h,))
        sets = sets[sets["metric"].map({m: i.version for m, i in metrics.items()}).eq(sets["version"])]
        sets = sets.drop(columns=["version"]).reset_index(drop=True)
        sets["quality"] = sets["quality"].astype(np.float64)
        device = json.loads(run["env_json"]).get("device") if run.get("env_json") else None
        costs = load_costs(store, h, solvers, codecs, device)
        failures = _frame(store, "SELECT stage, detail, error, run_id FROM failures WHERE run_id = ? "
                                 "ORDER BY created", (run["run_id"],))
        skipped = dict(store.query("SELECT metric, reason FROM skipped_metrics WHERE suite_hash = ? "
                                   "ORDER BY rowid", (h,))[1])
        planned = _frame(store, "SELECT dataset, solver, codec, quality, COUNT(*) AS n_planned, "
                                "MIN(ordinal) AS first_ordinal FROM plan WHERE suite_hash = ? "
                                "GROUP BY dataset, solver, codec, quality", (h,))
        planned["quality"] = planned["quality"].astype(np.float64)
        references = _references(store, h)
    env = json.loads(run["env_json"]) if run.get("env_json") else {}
    return ReportData(json.loads(run["suite_json"]), h, run, env, metrics, solvers, codecs, per_image, sets,
                      costs, failures, skipped, roles, timings,
                      diagnostics=diags, out_dir=Path(out_dir), planned=planned, references=references)


def _references(store: Store, suite_hash: str) -> dict[str, Any]:
    """The published curves the run recorded (``reference`` components), suite order."""
    from ..references import Reference

    return {label: Reference.from_record(info) for label, info in store.components(suite_hash).get("reference", {}).items()}


