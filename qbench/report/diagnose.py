"""The diagnostics document (``qbench diagnose``): where a codec moves images and where a solver
takes them, read from a results store only.

``diagnostics.md`` / ``diagnostics.html`` / ``diagnostics.json`` hold, in this order: the
no-reference values by role (the discriminator probe: mean scores of the original, compressed and
enhanced images and their differences to the original), the conditional discriminator's scores
``D(O|C)``, ``D(C|C)``, ``D(E|C)`` (the ``disc_conditional`` triplet diagnostic), the set-level
values between image sets, the FID triangle (:mod:`qbench.report.triangle`), the residual analysis
(:mod:`qbench.report.residuals`), the region-stratified gains (:mod:`qbench.report.regions`), the
visual comparison panels (crops beside their residual and error maps and the region class maps, as
in the leaderboard), the skipped metrics (a probe whose weights are absent is listed there with
the reason) and the failures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .data import KEYS, ReportData, load_report_data
from .document import Document, Paragraph, Section, Table
from .files import write_text
from .formatting import quality_text
from .jsonout import records, strict
from .regions import region_sections
from .residuals import residual_figures, residual_sections
from .roles import roles_section
from .sections import failures_section, header, set_section, skipped_section
from .tables import ci_cell, mean_table
from .triangle import triangle_sections, write_triangle_plots

if TYPE_CHECKING:
    from .model import ReportModel

FORMATS = ("md", "html", "json")
STEM = "diagnostics"
#: the values a conditional-discriminator diagnostic gives (:class:`ConditionalDiscriminatorDiagnostic`)
CONDITIONAL_VALUES = ("original", "compressed", "enhanced", "enhanced_minus_original")


def conditional_labels(data: ReportData) -> list[str]:
    """Labels of the stored diagnostics that give conditional-discriminator scores."""
    diag = data.diagnostics
    if diag is None:
        return []
    return [label for label, info in diag.info.items() if set(CONDITIONAL_VALUES) <= set(info.get("values", ()))]


def conditional_table(data: ReportData, label: str) -> list[dict]:
    """Per dataset x solver x codec point: images, and the mean with a bootstrap CI of each score
    and of ``compressed_minus_original`` (the rows of :func:`qbench.report.residuals.mean_table`)."""
    wide = data.diagnostics.of(label)
    if wide.empty or not set(CONDITIONAL_VALUES) <= set(wide.columns):
        return []
    wide = wide.assign(compressed_minus_original=wide["compressed"] - wide["original"])
    return mean_table(data, wide, [*CONDITIONAL_VALUES, "compressed_minus_original"], KEYS)


def conditional_sections(data: ReportData, tables: dict[str, list[dict]]) -> list[Section]:
    """One section per conditional-discriminator diagnostic in the store (``tables``: label -> the
    rows of :func:`conditional_table`)."""
    sections = []
    for label, table in tables.items():
        rows = [[r["dataset"], r["solver"], r["codec"], quality_text(data, r["codec"], r["quality"]), str(r["n_images"])]
                + [ci_cell(r, c, 4) for c in ("original", "compressed", "enhanced")]
                + [ci_cell(r, c, 4, "+") for c in ("enhanced_minus_original", "compressed_minus_original")]
                for r in table]
        if not rows:
            continue
        text = ("Mean over images, with a bootstrap 95% CI, of a conditional discriminator's score "
                "(mean sigmoid over pixels, higher = judged more real) of the original O, the compressed "
                "image C and the enhanced image E, each given the compressed image C as its condition. "
                "D(C|C) close to or above D(O|C) is the bias towards the compression domain; E − O near 0 "
                "means the output looks as real as the original to the discriminator.")
        headers = ["dataset", "solver", "codec", "quality", "images", "D(O|C)", "D(C|C)", "D(E|C)",
                   "E − O", "C − O"]
        title = "Conditional discriminator" + ("" if label == "disc_conditional" else f" ({label})")
        sections.append(Section(title, [Paragraph.of(text), Table.of(headers, rows, 4, "conditional")],
                                f"conditional-{label}"))
    return sections


def diagnostic_sections(model: ReportModel, out_dir: str | Path | None = None) -> list[Section]:
    """Every diagnostic section of ``model`` that has something to show; figures are drawn into
    ``out_dir`` (the residual figures only when the model's figure pass drew them elsewhere)."""
    data, triangle = model.data, model.triangle
    drawn_there = out_dir is not None and model.figures_dir is not None and Path(model.figures_dir) == Path(out_dir)
    if out_dir is None or not len(triangle):
        drawn = []
    elif drawn_there and model.triangle_figures is not None:
        drawn = model.triangle_figures
    else:
        drawn = write_triangle_plots(data, triangle, out_dir)
    if out_dir is None:
        residual_figs = {}
    elif drawn_there:
        residual_figs = model.residual_figures
    else:
        residual_figs = residual_figures(data, out_dir)
    out: list[Section] = []
    for part in (roles_section(data, model.role_means), conditional_sections(data, model.conditional),
                 set_section(data), triangle_sections(data, triangle, drawn),
                 residual_sections(data, residual_figs, model.residuals), region_sections(data, model.regions),
                 panel_section(model, out_dir)):
        out += part
    return out


def panel_section(model: ReportModel, out_dir: str | Path | None) -> list[Section]:
    """The visual comparison panels (:mod:`qbench.report.panels`) of the run: the crops beside their
    residual and error maps and each region diagnostic's class map (none without ``out_dir``)."""
    if out_dir is None:
        return []
    if model.figures_dir is not None and Path(model.figures_dir) == Path(out_dir):
        panels = model.panels
    else:
        from .panels import panel_figures

        panels = panel_figures(model.data, model.primary, out_dir)
    figures = [f for figs in panels.values() for f in figs]
    if not figures:
        return []
    from .panel_draw import ERROR_SCALE, RESIDUAL_SCALE

    text = (f"Per dataset, the crop where the outputs differ most, of the original, the compressed image and "
            f"each output (a rescaler's decoded low-res input before its output), with each region "
            f"diagnostic's class map; below, E − C (output minus the compressed image it was given, mean over "
            f"channels, ±{RESIDUAL_SCALE:g} grey levels, red = brighter) and |X − O| (RMS over channels, "
            f"0-{ERROR_SCALE:g} grey levels) on the same fixed scales in every panel.")
    return [Section("Visual comparisons", [Paragraph.of(text), *figures], "panels")]


def diagnostics_document(model: ReportModel, out_dir: str | Path | None = None) -> Document:
    """The diagnostics document of ``model``; with ``out_dir`` its figures are drawn there."""
    data = model.data
    doc = Document(f"Diagnostics: {data.suite['name']}", header(data))
    sections = diagnostic_sections(model, out_dir)
    if all(sec.title == "Visual comparisons" for sec in sections):
        doc.intro.append(Paragraph.of(
            "No diagnostic values in this store: add no-reference metrics (e.g. disc_realesrgan, bef_y), "
            "set-level metrics (fid, kid) with diagnostics.set_pairs, or diagnostics.per_image to the suite."))
    doc.sections += sections + skipped_section(data) + failures_section(data)
    return doc


def diagnostics_payload(model: ReportModel) -> dict[str, Any]:
    """The JSON document: the run's identity and every diagnostic table."""
    data = model.data
    return {
        "suite": data.suite.get("name"), "suite_hash": data.suite_hash, "run_id": data.run.get("run_id"),
        "metrics": {m: {"kind": i.kind, "version": i.version, "higher_is_better": i.higher_is_better}
                    for m, i in data.metrics.items()},
        "skipped_metrics": data.skipped_metrics,
        "role_means": records(model.role_means),
        "set_values": records(data.set_values),
        "fid_triangle": records(model.triangle),
        "conditional_discriminator": {label: [{k: v for k, v in r.items() if k != "ci"} | {"ci95": r["ci"]}
                                              for r in rows]
                                      for label, rows in model.conditional.items()},
        "failures": records(data.failures),
    }


def write_diagnostics(results_dir: str | Path, dest: str | Path | None = None,
                      formats: tuple[str, ...] = FORMATS, run_id: int | None = None,
                      model: ReportModel | None = None) -> list[Path]:
    """Write ``diagnostics.{md,html,json}`` (and the triangle figures) of run ``run_id`` (default:
    the latest run) of the store in ``results_dir`` into ``dest`` (default ``results_dir``);
    returns the files written. ``model``: the report model of that run, when the leaderboard was
    just written from it (its tables are not derived again)."""
    from .html import render_html
    from .markdown import render_markdown
    from .model import build_model

    if model is None:
        model = build_model(load_report_data(results_dir, run_id=run_id), None)
    dest = Path(dest) if dest is not None else Path(results_dir)
    dest.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "md" in formats or "html" in formats:
        doc = diagnostics_document(model, dest)
        written += [dest / f.src for s in doc.sections for f in s.blocks if hasattr(f, "src")]
        if "md" in formats:
            write_text(dest / f"{STEM}.md", render_markdown(doc))
            written.append(dest / f"{STEM}.md")
        if "html" in formats:
            write_text(dest / f"{STEM}.html", render_html(doc))
            written.append(dest / f"{STEM}.html")
    if "json" in formats:
        text = json.dumps(strict(diagnostics_payload(model)), indent=1, default=str, allow_nan=False)
        write_text(dest / f"{STEM}.json", text)
        written.append(dest / f"{STEM}.json")
    return written
