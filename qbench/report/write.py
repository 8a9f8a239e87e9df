"""``write_reports``: rebuild every report file of a results folder from its store.

The aggregates (bootstrap CIs, BD table) are cached under ``cache/report/`` by a fingerprint of
their inputs, and figures are redrawn only when what they show changed; the text reports are
rendered every time (cheap), so their header always names the run they are for (the run that
wrote them, or the one ``qbench report`` was asked for). In the process of a run with a local
worker pool the figures are drawn in child processes while the tables are written
(:mod:`qbench.report.figure_pass`); elsewhere in this process.
"""

from __future__ import annotations

from pathlib import Path

from . import aggregate
from .cache import ReportCache, fingerprint
from .data import load_report_data
from .figure_pass import FigurePass
from .files import write_csv, write_text

FORMATS = ("md", "csv", "json", "html", "plots")
#: formats written only when asked for
EXTRA_FORMATS = ("compressai", "latex")


def write_reports(out_dir: str | Path, formats: tuple[str, ...] = FORMATS, run_id: int | None = None,
                  dest: str | Path | None = None, diagnostics: tuple[str, ...] = ()) -> list[Path]:
    """Rebuild the reports of ``out_dir``'s store (opened read-only) for run ``run_id`` (default:
    the latest run) in ``dest`` (default ``out_dir``); returns the files written (``compressai``:
    one CompressAI-format JSON per curve, :mod:`qbench.report.compressai_export`). ``diagnostics``:
    the formats of the diagnostics document (:mod:`qbench.report.diagnose`) to write as well, from
    the same report model."""
    from .html import render_html
    from .jsonout import results_json
    from .markdown import render_markdown
    from .model import build_model, draw_figures
    from .sections import leaderboard

    text = "md" in formats or "html" in formats
    parts: dict[str, list[Path]] = {}
    # the one figure pass: after a pool run its drawings go to child processes while the tables
    # are written; leaving the block waits for them, and the model then lists the figure files present
    with FigurePass.for_report() if text or "plots" in formats else FigurePass() as drawer:
        data = load_report_data(out_dir, run_id=run_id)
        results_dir = Path(out_dir)
        out_dir = Path(dest if dest is not None else out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        options = aggregate.ReportOptions.of(data.suite)
        cache = ReportCache(out_dir)
        key = fingerprint(data, options)
        agg = cache.aggregates(key)
        if agg is None:
            agg = aggregate.compute_aggregates(data, options)
            cache.put_aggregates(key, agg)
        model = build_model(data, agg)
        draw_figures(model, out_dir, draw="plots" in formats, residuals=text,
                     triangles=text and bool({"md", "html"} & set(diagnostics)), drawer=drawer)
        if "csv" in formats:
            parts["csv"] = _write_tables(results_dir, data, agg, out_dir)
        if "json" in formats:
            write_text(out_dir / "results.json", results_json(model))
            parts["json"] = [out_dir / "results.json"]
        if "latex" in formats:
            from .latex import render_latex

            write_text(out_dir / "leaderboard.tex", render_latex(model))
            parts["latex"] = [out_dir / "leaderboard.tex"]
        if "compressai" in formats:
            from .compressai_export import write_compressai

            parts["compressai"] = write_compressai(data, agg.summary, out_dir)
    if "plots" in formats:
        parts["plots"] = [f for s in model.rd_specs for f in s.files(out_dir)]
    if text:
        doc = leaderboard(model)
        parts["text"] = []
        if "md" in formats:
            write_text(out_dir / "leaderboard.md", render_markdown(doc))
            parts["text"].append(out_dir / "leaderboard.md")
        if "html" in formats:
            write_text(out_dir / "leaderboard.html", render_html(doc))
            parts["text"].append(out_dir / "leaderboard.html")
    if diagnostics:
        from .diagnose import write_diagnostics

        parts["diagnostics"] = write_diagnostics(results_dir, out_dir, diagnostics, model=model)
    order = ("csv", "plots", "text", "json", "latex", "compressai", "diagnostics")
    return [f for part in order for f in parts.get(part, [])]


def _write_tables(results_dir: Path, data, agg, out_dir: Path) -> list[Path]:
    """summary.csv, per_image.csv (with the output files' paths) and, when there is one, bd.csv."""
    from .outputs import with_output_paths

    write_csv(agg.summary, out_dir / "summary.csv")
    write_csv(with_output_paths(results_dir, data).drop(columns=["ordinal", "task"]), out_dir / "per_image.csv")
    written = [out_dir / "summary.csv", out_dir / "per_image.csv"]
    if not agg.bd.empty:
        write_csv(agg.bd, out_dir / "bd.csv")
        written.append(out_dir / "bd.csv")
    return written
