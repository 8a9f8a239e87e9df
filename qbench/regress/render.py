"""A :class:`~qbench.regress.compare.Comparison` as Markdown, CSV or JSON text."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from typing import Any

from .compare import Comparison

FORMATS = ("md", "csv", "json")


def _num(x: float, digits: int = 4, sign: str = "") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:{sign}.{digits}f}"                  # an infinite value reads inf / +inf / -inf


def _p(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x:.3g}"


def _quality(q: float) -> str:
    return f"{q:g}" if math.isfinite(q) else "–"


def _n(r: dict) -> str:
    """Paired images, and those of the row present on one side only."""
    extra = [f"+{r[k]} {side} only" for k, side in (("only_a", "A"), ("only_b", "B")) if r[k]]
    return f"{r['n']} ({', '.join(extra)})" if extra else str(r["n"])


def summary_line(c: Comparison) -> str:
    """One line: rows compared, better, worse, unpaired, and the verdict."""
    rows = c.rows
    n_better = int((rows["status"] == "better").sum())
    verdict = f"{c.regressions} regression(s)" if c.regressions else "no regression"
    return (f"{len(rows)} series compared ({int(rows['n'].sum())} paired values): {len(c.worse)} worse, "
            f"{n_better} better beyond tolerance; {len(c.unpaired)} unpaired series, "
            f"{int(rows['only_a'].sum())}/{int(rows['only_b'].sum())} more values in A/B only; {verdict}")


def to_markdown(c: Comparison) -> str:
    from tabulate import tabulate

    from ..report.markdown import _text

    o = c.options
    lines = [f"# qbench compare: B = {_text(c.b)} against A = {_text(c.a)}", "",
             f"Tolerance: {o.tol_db:g} dB for dB metrics, {100 * o.tol_rel:g}% of A's mean for the others; "
             f"paired bootstrap 95% CI ({o.bootstrap} resamples, seed {o.seed}); p: exact sign test / "
             "Wilcoxon signed-rank (two-sided)." + (" Only differences whose CI excludes 0 count." if o.significant
                                                    else ""), "", summary_line(c), ""]
    for w in c.warnings:
        lines.append(f"- warning: {_text(w)}")
    if c.warnings:
        lines.append("")
    body = [[_text(r["dataset"]), _text(r["solver"]), _text(r["codec"]), _quality(r["quality"]), _text(r["metric"]),
             _n(r), _num(r["mean_a"]), _num(r["mean_b"]), _num(r["diff"], 4, "+"),
             f"[{_num(r['ci_low'], 4, '+')}, {_num(r['ci_high'], 4, '+')}]", _p(r["p_sign"]), _p(r["p_wilcoxon"]),
             _num(r["tolerance"]), r["status"].upper() if r["status"] == "worse" else r["status"]]
            for r in c.rows.to_dict(orient="records")]
    headers = ["dataset", "solver", "codec", "quality", "metric", "n", "mean A", "mean B", "B − A", "95% CI",
               "p sign", "p Wilcoxon", "tolerance", "status"]
    lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
    if len(c.unpaired):
        lines += ["", "## Unpaired series", ""]
        lines.append(tabulate([[_text(r["dataset"]), _text(r["solver"]), _text(r["codec"]), _quality(r["quality"]),
                                _text(r["metric"]),
                                f"{r['side']} only", r["images"]] for r in c.unpaired.to_dict(orient="records")],
                              ["dataset", "solver", "codec", "quality", "metric", "present in", "images"],
                              tablefmt="github", disable_numparse=True))
    return "\n".join(lines) + "\n"


def to_csv(c: Comparison) -> str:
    """The compared rows, then the unpaired series as rows with status ``only_a`` / ``only_b``."""
    import pandas as pd

    extra = c.unpaired.assign(n=0, status=c.unpaired["side"].map({"A": "only_a", "B": "only_b"}),
                              only_a=c.unpaired["images"].where(c.unpaired["side"] == "A", 0),
                              only_b=c.unpaired["images"].where(c.unpaired["side"] == "B", 0))
    frame = pd.concat([c.rows, extra.reindex(columns=c.rows.columns)], ignore_index=True) if len(extra) else c.rows
    return frame.to_csv(index=False, lineterminator="\n")


def payload(c: Comparison) -> dict[str, Any]:
    """The comparison as strict JSON data (RFC 8259, as ``results.json``): NaN and ±inf are null."""
    rows = json.loads(c.rows.to_json(orient="records", double_precision=15)) if len(c.rows) else []
    unpaired = json.loads(c.unpaired.to_json(orient="records")) if len(c.unpaired) else []
    options = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in asdict(c.options).items()}
    return {"a": c.a, "b": c.b, "options": options | {"metrics": list(c.options.metrics)},
            "summary": summary_line(c), "regressions": c.regressions, "warnings": c.warnings,
            "rows": rows, "unpaired": unpaired}


def render(c: Comparison, fmt: str = "md") -> str:
    """The comparison in ``fmt`` (md, csv or json)."""
    if fmt == "csv":
        return to_csv(c)
    if fmt == "json":
        return json.dumps(payload(c), indent=1, allow_nan=False) + "\n"
    return to_markdown(c)


__all__ = ["FORMATS", "payload", "render", "summary_line"]
