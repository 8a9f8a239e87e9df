"""``leaderboard.tex``: the report's tables as papers print them (booktabs), from the report model.

Per dataset and per-image metric one table: a row per codec point, a column per solver, the mean
with the metric's precision (2 decimals for dB, else 4); in each row the best value is bold and
the second underlined, and a value whose 95% CI overlaps the best one's marked ``=`` (a tie). Then the BD-rate table.
The file holds table environments only, to be ``\\input`` into a document that loads ``booktabs``.
"""

from __future__ import annotations

import re

from .data import KEYS
from .formatting import NA, digits_of, fmt, is_nan, quality_text
from .model import ReportModel
from .ranks import marks, ranks

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex(text: object) -> str:
    """``text`` as LaTeX that prints it literally."""
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _SPECIAL[m.group(0)], str(text))


def _mark(text: str, emphasis: str) -> str:
    return rf"\textbf{{{text}}}" if emphasis == "best" else rf"\underline{{{text}}}" if emphasis == "second" else text


def _metric_table(model: ReportModel, dataset: str, metric: str) -> list[str]:
    data, agg = model.data, model.agg
    sub = agg.summary[agg.summary["dataset"] == dataset]
    solvers = list(dict.fromkeys(sub["solver"]))
    higher = data.higher_is_better.get(metric, True)
    d = digits_of(data, metric)
    arrow = r"$\uparrow$" if higher else r"$\downarrow$"
    lines = [r"\begin{table}[t]", r"\centering",
             rf"\caption{{{tex(metric)} {arrow} on {tex(dataset)} (mean over images; best \textbf{{bold}}, "
             r"second \underline{underlined}; $^{=}$: within the 95\% CI of the best)}",
             rf"\label{{tab:{_label(dataset)}-{_label(metric)}}}",
             r"\begin{tabular}{ll" + "r" * len(solvers) + "}", r"\toprule",
             "codec & setting & " + " & ".join(tex(s) for s in solvers) + r" \\", r"\midrule"]
    for (codec, quality), point in sub.groupby(["codec", "quality"], sort=False):
        by_solver = {r["solver"]: r for r in point.to_dict(orient="records")}
        values, cis = [], []
        for s in solvers:
            r = by_solver.get(s)
            values.append(r[metric] if r is not None else float("nan"))
            cis.append(agg.ci.get(tuple(r[k] for k in KEYS), {}).get(metric, (float("nan"),) * 2)
                       if r is not None else (float("nan"),) * 2)
        tied = ranks(values, cis, higher)
        emphasis = marks(values, higher) if len(solvers) > 1 else [""] * len(solvers)
        cells = [NA if is_nan(v) else _mark(fmt(v, d), e) + ("$^{=}$" if t == 1 and e != "best" else "")
                 for v, e, t in zip(values, emphasis, tied)]
        lines.append(f"{tex(codec)} & {tex(quality_text(data, codec, quality))} & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return lines


def _bd_table(model: ReportModel) -> list[str]:
    bd = model.agg.bd
    if bd is None or bd.empty:
        return []
    lines = [r"\begin{table}[t]", r"\centering",
             r"\caption{BD-rate (pchip, \%; negative = fewer bits at equal quality) and BD-metric against the "
             r"anchor}", r"\label{tab:bd-rate}", r"\begin{tabular}{lllllrr}", r"\toprule",
             r"dataset & anchor & solver & codec & metric & BD-rate (\%) & BD-metric \\", r"\midrule"]
    for r in bd.to_dict(orient="records"):
        rate = NA if is_nan(r["bd_rate"]) else f"{r['bd_rate']:+.2f}"
        lines.append(" & ".join(tex(r[k]) for k in ("dataset", "anchor", "solver", "codec", "metric"))
                     + f" & {rate} & {fmt(r['bd_metric'], 4, '+')}" + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return lines


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", str(text)).strip("-") or "x"


def render_latex(model: ReportModel) -> str:
    """Every table of ``model`` as booktabs LaTeX (needs ``\\usepackage{booktabs}``)."""
    data = model.data
    lines = [f"% qbench leaderboard tables: {data.suite.get('name', '')} (suite {data.suite_hash}, "
             f"run {data.run.get('run_id')})", r"% requires \usepackage{booktabs}", ""]
    summary = model.agg.summary
    for dataset in dict.fromkeys(summary["dataset"]) if len(summary) else []:
        for metric in data.metric_names:
            if metric in summary.columns and summary.loc[summary["dataset"] == dataset, metric].notna().any():
                lines += _metric_table(model, str(dataset), metric)
    lines += _bd_table(model)
    return "\n".join(lines)
