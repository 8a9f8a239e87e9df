"""Leaderboard tables from the results store.

Aggregation is the mean of per-image values (never pooled MSE) with a seeded bootstrap 95%
confidence interval over images.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import StoreError
from ..store import Store

KEYS = ["dataset", "solver", "codec", "quality"]


@dataclass
class ReportData:
    suite: dict[str, Any]
    suite_hash: str
    run: dict[str, Any]
    per_image: Any                      # pandas.DataFrame
    metric_names: list[str]
    higher_is_better: dict[str, bool]
    failures: Any                       # pandas.DataFrame
    skipped_metrics: dict[str, str] = field(default_factory=dict)
    set_metric_names: list[str] = field(default_factory=list)       # FID/KID: one value per group
    set_values: dict[tuple, tuple[float, int]] = field(default_factory=dict)  # (group..., metric) -> (value, n)

    costs: dict[str, tuple] = field(default_factory=dict)   # solver -> (params, flops/MP, s/MP, MB, device)

    @property
    def all_metric_names(self) -> list[str]:
        return self.metric_names + self.set_metric_names


def load_report_data(out_dir: Path, suite_hash: str | None = None) -> ReportData:
    """Read the latest run's suite (or ``suite_hash``) and its planned samples' results."""
    import pandas as pd

    from .. import metrics as metric_mod

    db = Path(out_dir) / "results.sqlite"
    if not db.is_file():
        raise StoreError(f"no results store at {db}; run 'qbench run SUITE --out {out_dir}' first")
    with Store(db) as store:
        run = store.latest_run()
        if run is None:
            raise StoreError(f"{db} holds no runs")
        if suite_hash:
            cols, rows = store.query("SELECT * FROM runs WHERE suite_hash=? ORDER BY run_id DESC LIMIT 1",
                                     (suite_hash,))
            if not rows:
                raise StoreError(f"{db} has no run of suite {suite_hash}")
            run = dict(zip(cols, rows[0]))
        suite = json.loads(run["suite_json"])
        h = run["suite_hash"]
        cols, rows = store.query(
            "SELECT p.dataset, p.image, p.solver, p.codec, p.quality, p.task, p.ordinal, e.bpp, e.nbytes, "
            "e.side_info, m.metric, m.value FROM plan p JOIN encodings e ON e.enc_key = p.enc_key "
            "JOIN outputs o ON o.out_key = p.out_key "
            "LEFT JOIN metrics m ON m.out_key = p.out_key WHERE p.suite_hash=?", (h,))
        long = pd.DataFrame(rows, columns=cols)
        fcols, frows = store.query(
            "SELECT f.stage, f.detail, f.error, f.run_id FROM failures f WHERE f.run_id = ? "
            "ORDER BY f.created", (run["run_id"],))
        failures = pd.DataFrame(frows, columns=fcols)
        _, srows = store.query("SELECT metric, reason FROM skipped_metrics WHERE suite_hash=?", (h,))
        _, costrows = store.query("SELECT solver, params, flops_per_mp, seconds_per_mp, peak_mem_mb, device "
                                  "FROM solver_costs ORDER BY run_id")
        _, setrows = store.query("SELECT dataset, solver, codec, quality, metric, value, n_features "
                                 "FROM set_metrics WHERE suite_hash=?", (h,))
    metric_specs = suite["metrics"]
    metric_names, set_names, hib = [], [], {}
    for m in metric_specs:
        try:
            key, higher, kind = metric_mod.describe(m["name"], m.get("crop_border"))
        except Exception:  # skipped at run time; the reason is in skipped_metrics
            continue
        if key in dict(srows):
            continue
        (set_names if kind == "distribution" else metric_names).append(key)
        hib[key] = higher
    index = ["dataset", "image", "solver", "codec", "quality", "task", "ordinal", "bpp", "nbytes"]
    if not long.empty:
        side = long.pop("side_info").map(lambda s: json.loads(s) if s else {})
        chosen = side.map(lambda d: d.get("chosen_quality"))
        if chosen.notna().any():       # rate-control mode: the target and the codec setting found per image
            long["target_bpp"] = side.map(lambda d: d.get("target_bpp"))
            long["chosen_quality"] = chosen
            index += ["target_bpp", "chosen_quality"]
    else:
        long = long.drop(columns=["side_info"])
    if long.empty:
        per_image = pd.DataFrame(columns=index + metric_names)
    else:
        base = long[index].drop_duplicates(subset=["ordinal"]).set_index("ordinal")
        vals = long.dropna(subset=["metric"])
        if len(vals):
            wide = vals.pivot(index="ordinal", columns="metric", values="value")
            base = base.join(wide, how="left")
        for name in metric_names:
            if name not in base.columns:
                base[name] = np.nan
        per_image = base.reset_index().sort_values("ordinal")[index + metric_names].reset_index(drop=True)
    per_image.columns.name = None
    set_values = {(r[0], r[1], r[2], float(r[3]), r[4]): (r[5], r[6]) for r in setrows}
    labels = {s.get("label") or s["name"] for s in suite["solvers"]}
    costs = {r[0]: r[1:] for r in costrows if r[0] in labels}
    return ReportData(suite, h, run, per_image, metric_names, hib, failures, dict(srows), set_names, set_values,
                      costs)


def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded); NaN when fewer than 2 values."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 2 or n <= 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n, len(values)))
    means = values[idx].mean(axis=1)
    a = (1 - level) / 2
    return float(np.quantile(means, a)), float(np.quantile(means, 1 - a))


def summarize(data: ReportData, n_boot: int | None = None, seed: int | None = None):
    """One row per dataset x solver x codec x quality: n_images, mean bpp, mean of each metric (+ CI)."""
    import pandas as pd

    df = data.per_image
    n_boot = data.suite.get("output", {}).get("bootstrap", 1000) if n_boot is None else n_boot
    seed = data.suite.get("seed", 0) if seed is None else seed
    rows = []
    if df.empty:
        return pd.DataFrame(columns=KEYS + ["n_images", "bpp"] + data.metric_names + data.set_metric_names), {}
    ci: dict[tuple, dict[str, tuple[float, float]]] = {}
    groups = df.groupby(KEYS, sort=False, dropna=False)
    first = groups["ordinal"].min().sort_values()
    for key in first.index:
        g = groups.get_group(key)
        row = dict(zip(KEYS, key))
        row["n_images"] = int(len(g))
        row["bpp"] = float(g["bpp"].astype(float).mean())
        ci[key] = {}
        for m in data.metric_names:
            vals = g[m].to_numpy(dtype=np.float64)
            row[m] = float(np.mean(vals)) if len(vals) else float("nan")
            ci[key][m] = bootstrap_ci(vals, n_boot, seed)
        for m in data.set_metric_names:
            row[m] = data.set_values.get((key[0], key[1], key[2], float(key[3]), m), (float("nan"), 0))[0]
            ci[key][m] = (float("nan"), float("nan"))
        rows.append(row)
    return pd.DataFrame(rows, columns=KEYS + ["n_images", "bpp"] + data.metric_names + data.set_metric_names), ci


def _fmt(v: float, digits: int) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _digits(metric: str) -> int:
    return 2 if metric.startswith("psnr") else 4


def leaderboard_markdown(data: ReportData, summary, ci) -> str:
    from tabulate import tabulate

    env = json.loads(data.run["env_json"])
    lines = [f"# Leaderboard: {data.suite['name']}", ""]
    if data.suite.get("description"):
        lines += [data.suite["description"], ""]
    lines += [f"Suite hash `{data.suite_hash}` · run {data.run['run_id']} · qbench {env.get('qbench')} · "
              f"torch {env.get('torch')} · Pillow {env.get('pillow')} (libjpeg {env.get('libjpeg')}) · "
              f"device {env.get('device')}" + (f" · commit `{env['git_commit'][:10]}`" if env.get("git_commit") else ""),
              "",
              "Values are means of per-image values with a bootstrap 95% confidence interval "
              f"[{data.suite.get('output', {}).get('bootstrap', 1000)} resamples over images]; "
              "↑ higher is better, ↓ lower is better. "
              + ("Outputs are clamped to [0, 1] and rounded to 8 bits before measurement."
                 if data.suite.get("output", {}).get("quantize", True) else
                 "Outputs are measured unquantised (suite output.quantize: false)."), ""]
    arrows = {m: "↑" if data.higher_is_better.get(m, True) else "↓" for m in data.all_metric_names}
    targeted = {c.get("label") or c["name"] for c in data.suite.get("codecs", []) if c.get("target_bpp")}
    for dataset in dict.fromkeys(summary["dataset"]) if len(summary) else []:
        sub = summary[summary["dataset"] == dataset]
        table = []
        for _, r in sub.iterrows():
            key = tuple(r[k] for k in KEYS)
            point = f"{r['quality']:g} bpp target" if r["codec"] in targeted else f"{r['quality']:g}"
            row = [r["solver"], r["codec"], point, int(r["n_images"]), f"{r['bpp']:.4f}"]
            for m in data.all_metric_names:
                lo, hi = ci[key][m]
                d = _digits(m)
                cell = _fmt(r[m], d)
                if not np.isnan(lo):
                    cell += f" [{_fmt(lo, d)}, {_fmt(hi, d)}]"
                row.append(cell)
            table.append(row)
        headers = ["solver", "codec", "quality", "images", "bpp ↓"] + [f"{m} {arrows[m]}" for m in data.all_metric_names]
        lines += [f"## {dataset}", "", tabulate(table, headers=headers, tablefmt="github",
                                                 disable_numparse=True), ""]
    lines += cost_markdown(data)
    if data.skipped_metrics:
        lines += ["## Skipped metrics", ""]
        lines += [f"- `{m}`: {reason}" for m, reason in sorted(data.skipped_metrics.items())] + [""]
    if len(data.failures):
        lines += [f"## Failures ({len(data.failures)})", ""]
        for _, f in data.failures.head(50).iterrows():
            first = str(f["error"]).splitlines()[0] if f["error"] else ""
            lines.append(f"- {f['stage']}: {f['detail']}: {first}")
        if len(data.failures) > 50:
            lines.append(f"- … and {len(data.failures) - 50} more (see the `failures` table)")
        lines.append("")
    return "\n".join(lines)


def cost_markdown(data: ReportData) -> list[str]:
    """The solver card and cost table: blind or not, parameters, FLOPs and latency per megapixel."""
    from tabulate import tabulate

    from .. import solvers as solver_mod

    rows = []
    for s in data.suite["solvers"]:
        label = s.get("label") or s["name"]
        try:
            card = solver_mod.resolve(s["name"]).card
            blind = "blind" if card.blind else "non-blind"
        except Exception:
            blind = "?"
        c = data.costs.get(label)
        if c is None:
            rows.append([label, blind, "–", "–", "–", "–"])
            continue
        params, flops, spm, mem, device = c
        rows.append([label, blind, f"{params / 1e6:.2f} M" if params else "0",
                     f"{flops / 1e9:.1f}" if flops else "–", f"{spm:.3f} ({device})",
                     f"{mem:.0f}" if mem else "–"])
    if not rows:
        return []
    return ["## Solvers and cost", "",
            "Non-blind methods use the codec setting (per-quality weights or the bitstream's tables). "
            "Cost measured on a 128x128 probe: FLOPs by torch's FLOP counter, latency per megapixel "
            "on the run's device.", "",
            tabulate(rows, headers=["solver", "blind", "params", "GFLOPs/MP", "s/MP", "peak MB"],
                     tablefmt="github", disable_numparse=True), ""]


def write_reports(out_dir: Path, formats: tuple[str, ...] = ("md", "csv", "json", "html", "plots")
                  ) -> list[Path]:
    """Rebuild the reports in ``out_dir`` from its store; returns the files written."""
    out_dir = Path(out_dir)
    data = load_report_data(out_dir)
    summary, ci = summarize(data)
    written = []
    if "csv" in formats:
        summary.to_csv(out_dir / "summary.csv", index=False)
        data.per_image.drop(columns=["ordinal", "task"]).to_csv(out_dir / "per_image.csv", index=False)
        written += [out_dir / "summary.csv", out_dir / "per_image.csv"]
    from .bd import bd_markdown, bd_table

    bd = bd_table(data)
    if "csv" in formats and not bd.empty:
        bd.to_csv(out_dir / "bd.csv", index=False)
        written.append(out_dir / "bd.csv")
    if "md" in formats:
        text = leaderboard_markdown(data, summary, ci)
        section = bd_markdown(data, bd)
        if section:
            marker = "\n## Skipped metrics" if "\n## Skipped metrics" in text else (
                "\n## Failures" if "\n## Failures" in text else None)
            text = (text.replace(marker, "\n" + "\n".join(section) + marker, 1) if marker
                    else text + "\n" + "\n".join(section))
        (out_dir / "leaderboard.md").write_text(text, encoding="utf-8")
        written.append(out_dir / "leaderboard.md")
    if "html" in formats:
        from .html import leaderboard_html

        (out_dir / "leaderboard.html").write_text(leaderboard_html(data, summary, ci), encoding="utf-8")
        written.append(out_dir / "leaderboard.html")
    if "plots" in formats:
        from .plots import write_rd_plots

        written += write_rd_plots(data, summary, out_dir)
    if "json" in formats:
        payload = {
            "suite": data.suite, "suite_hash": data.suite_hash, "run": {
                k: v for k, v in data.run.items() if k != "suite_json"} | {"env": json.loads(data.run["env_json"])},
            "metrics": {m: {"higher_is_better": data.higher_is_better[m]} for m in data.all_metric_names},
            "skipped_metrics": data.skipped_metrics,
            "summary": [
                {**{k: (v if not isinstance(v, (np.floating, np.integer)) else v.item()) for k, v in r.items()},
                 "ci95": {m: list(ci[tuple(r[k] for k in KEYS)][m]) for m in data.all_metric_names}}
                for r in summary.to_dict(orient="records")],
            "failures": data.failures.to_dict(orient="records"),
            "bd": bd.to_dict(orient="records"),
        }
        payload["run"].pop("env_json", None)
        (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=str, allow_nan=True))
        written.append(out_dir / "results.json")
    return written
