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


def verdict_text(c: Comparison) -> str:
    """The verdict in words: regressions, values missing from B, or none."""
    parts = [f"{len(c.missing)} series of A missing from B"] if len(c.missing) else []
    parts += [f"{len(c.partial)} compared series lacking images of A"] if len(c.partial) else []
    missing = ", ".join(parts)
    if c.verdict == "regression":
        return f"{c.regressions} regression(s)" + (f"; {missing}" if c.n_missing else "")
    if c.verdict == "missing":
        return f"incomplete: {missing} (--allow-missing compares only what both have)"
    if c.n_missing:
        return f"no regression in what both have; {missing}, allowed by --allow-missing"
    return "no regression"


def summary_line(c: Comparison) -> str:
    """One line: rows compared, better, worse, unpaired, and the verdict."""
    rows = c.rows
    n_better = int((rows["status"] == "better").sum())
    n_image = int((rows["image_drop"] & (rows["status"] == "worse")).sum())
    image = f" ({n_image} by a single image beyond its limit)" if n_image else ""
    return (f"{len(rows)} series compared ({int(rows['n'].sum())} paired values): {len(c.worse)} worse{image}, "
            f"{n_better} better beyond tolerance; {len(c.unpaired)} unpaired series, "
            f"{int(rows['only_a'].sum())}/{int(rows['only_b'].sum())} more values in A/B only; {verdict_text(c)}")


def missing_lines(c: Comparison, limit: int | None = None) -> list[str]:
    """One line per series of A missing from B (and per compared series lacking images of A)."""
    lines = [f"{r['dataset']} · {r['solver']} · {r['codec']} {_quality(r['quality'])} · {r['metric']}: "
             f"{r['images']} image(s) of A, none in B" for r in c.missing.to_dict(orient="records")]
    lines += [f"{r['dataset']} · {r['solver']} · {r['codec']} {_quality(r['quality'])} · {r['metric']}: "
              f"{r['only_a']} of {r['n'] + r['only_a']} image(s) of A not in B" for r in c.partial.to_dict(orient="records")]
    return lines if limit is None or len(lines) <= limit else lines[:limit] + [f"… {len(lines) - limit} more"]


def to_markdown(c: Comparison) -> str:
    """The comparison as Markdown: settings, a summary and the table of differences."""
    from tabulate import tabulate

    from ..report.markdown import _text

    o = c.options
    limits = [f"{o.max_drop_db:g} dB in every dB metric"] if o.max_drop_db is not None else []
    limits += [f"{v:g} in {m}" for m, v in o.max_drop]
    per_image = (f" Per-image limit: no single image may lose more than {', '.join(limits)} (a loss is a drop of a "
                 "higher-is-better metric, a rise of a lower-is-better one)." if limits else "")
    lines = [f"# qbench compare: B = {_text(c.b)} against A = {_text(c.a)}", "",
             f"Tolerance: {o.tol_db:g} dB for dB metrics, {100 * o.tol_rel:g}% of A's mean for the others; "
             f"paired bootstrap 95% CI ({o.bootstrap} resamples, seed {o.seed}); p: exact sign test / "
             "Wilcoxon signed-rank (two-sided)." + (" Only differences whose CI excludes 0 count." if o.significant
                                                    else "") + per_image, "", summary_line(c), ""]
    for w in c.warnings:
        lines.append(f"- warning: {_text(w)}")
    if c.warnings:
        lines.append("")
    body = [[_text(r["dataset"]), _text(r["solver"]), _text(r["codec"]), _quality(r["quality"]), _text(r["metric"]),
             _n(r), _num(r["mean_a"]), _num(r["mean_b"]), _num(r["diff"], 4, "+"),
             f"[{_num(r['ci_low'], 4, '+')}, {_num(r['ci_high'], 4, '+')}]", _p(r["p_sign"]), _p(r["p_wilcoxon"]),
             _num(r["tolerance"]), r["status"].upper() if r["status"] == "worse" else r["status"]]
            + ([f"{_text(r['worst_image'])} {_num(r['worst'], 4, '+')}", _num(r["max_drop"]),
                "OVER" if r["image_drop"] else ""] if limits else [])
            for r in c.rows.to_dict(orient="records")]
    headers = ["dataset", "solver", "codec", "quality", "metric", "n", "mean A", "mean B", "B − A", "95% CI",
               "p sign", "p Wilcoxon", "tolerance", "status"] + (["worst image", "limit", "image"] if limits else [])
    lines.append(tabulate(body, headers, tablefmt="github", disable_numparse=True))
    if len(c.unpaired):
        lines += ["", "## Unpaired series", "",
                  "Present on one side only. Series of A missing from B fail the comparison unless "
                  "`--allow-missing`; series of B only are not compared.", ""]
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
            "summary": summary_line(c), "verdict": c.verdict, "regressions": c.regressions,
            "missing": c.n_missing, "warnings": c.warnings,
            "rows": rows, "unpaired": unpaired}


def render(c: Comparison, fmt: str = "md") -> str:
    """The comparison in ``fmt`` (md, csv or json)."""
    if fmt == "csv":
        return to_csv(c)
    if fmt == "json":
        return json.dumps(payload(c), indent=1, allow_nan=False) + "\n"
    return to_markdown(c)


__all__ = ["FORMATS", "missing_lines", "payload", "render", "summary_line", "verdict_text"]
