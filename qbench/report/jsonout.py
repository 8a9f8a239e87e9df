"""``results.json``: the suite, the run, the components and every aggregate, machine-readable."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from .aggregate import P_SUFFIX, Aggregates, ci_records
from .model import ReportModel


def records(df) -> list[dict[str, Any]]:
    """A frame as JSON records (empty for None or an empty frame)."""
    return json.loads(df.to_json(orient="records", double_precision=15)) if df is not None and len(df) else []


def _gain_records(agg: Aggregates, gains: list[str]) -> list[dict[str, Any]]:
    """Gain rows with their ``ci95`` and ``p`` (the paired sign-test p-value) per gain."""
    out = []
    for rec in ci_records(agg.gains, agg.gains_ci, gains):
        p = {g: rec.pop(g + P_SUFFIX) for g in gains if g + P_SUFFIX in rec}
        out.append(rec | ({"p": p} if p else {}))
    return out


def results_payload(model: ReportModel) -> dict[str, Any]:
    """The JSON document: summary rows carry their ``ci95`` per metric, as do gain rows (and a ``p``)."""
    data, agg = model.data, model.agg
    run = {k: v for k, v in data.run.items() if k not in ("suite_json", "env_json", "counts_json")}
    run["env"] = data.env
    run["counts"] = json.loads(data.run["counts_json"]) if data.run.get("counts_json") else None
    gains = [g for g in agg.gains.columns if g.endswith("_gain")]
    refs = {"references": [r.record() for r in data.references.values()]} if data.references else {}
    return {
        "suite": data.suite, "suite_hash": data.suite_hash, "run": run,
        "metrics": {m: asdict(info) for m, info in data.metrics.items()},
        "solvers": {s: asdict(info) for s, info in data.solvers.items()},
        "codecs": {c: asdict(info) for c, info in data.codecs.items()},
        "skipped_metrics": data.skipped_metrics,
        "summary": ci_records(agg.summary, agg.ci, data.all_metric_names),
        "gains": _gain_records(agg, gains),
        "bd": records(agg.bd),
        "primary": model.primary,
        "ranks": records(model.point_ranks),
        "overall_ranks": records(model.overall_ranks),
        "set_values": records(data.set_values),
        "fid_triangle": records(model.triangle),
        "role_means": records(model.role_means),
        "costs": records(data.costs),
        "branches": records(model.branches),
        "failures": records(data.failures),
    } | refs


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) as None, so that the text is strict JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    return obj


def results_json(model: ReportModel) -> str:
    """``results.json`` as strict JSON (RFC 8259): NaN and ±inf (no CI, PSNR of an exact image) are null."""
    return json.dumps(strict(results_payload(model)), indent=1, default=str, allow_nan=False)
